"""Helpers for the policy tests: resources as the program renders them, evaluated by the real pack.
A test gets a fresh copy of a rendered resource, breaks one property and looks at what fired:

    deployment = rendered("kubernetes:apps/v1:Deployment", "hft-frontend")  # a deep copy, safe to break
    assert fired(evaluate(deployment), "pss-baseline-privileged")
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import pulumi

from offline_preview.engine import RecordingMonitor, Registration, Rendering, dependency_order
from offline_preview.policy_eval import PolicyPackConfig, Violation, evaluate_rendering
from tests.support.stacks import PROJECT, render

STACK = "production"


def rendered(type_: str, name: str, overrides: dict[str, Any] | None = None) -> Registration:
    """A deep copy of the production program's `type_` named `name` (its logical name), rendered with
    the stack values `overrides` (see tests.support.stacks.render)."""
    matches = [r for r in render(STACK, overrides).registrations if r.type == type_ and r.name == name]
    assert len(matches) == 1, f"expected one {type_} {name} in the program, found {len(matches)}"
    return copy.deepcopy(matches[0])


def evaluate(*registrations: Registration, config: PolicyPackConfig = None) -> list[Violation]:
    """The pack's verdicts on a stack holding only these registrations."""
    return evaluate_rendering(Rendering(STACK, PROJECT, list(registrations)), config)


def fired(violations: Iterable[Violation], policy: str) -> list[Violation]:
    return [v for v in violations if v.policy_name == policy]


def messages(violations: Iterable[Violation], policy: str) -> str:
    """Every message of one policy, joined, for `in` assertions."""
    return "\n".join(v.message for v in fired(violations, policy))


def program_under_mocks(monitor: RecordingMonitor, program: Callable[[], object]) -> Rendering:
    """Runs `program` with the `pulumi_mocks` fixture's monitor and returns what it registered, in an
    order the engine could have seen. `pulumi.runtime.test` waits for every registration to finish."""
    pulumi.runtime.test(program)()
    return Rendering("test", PROJECT, dependency_order(monitor.registrations))
