"""Pulumi states built in a test, in the formats `pulumi stack export` and the backends write:

    doc = export([resource("kubernetes:core/v1:ConfigMap", "cm", {"data": {}})], version=4, features=["taint"])
    doc = checkpoint(program_resources())               # the production program's state, as a checkpoint

`program_resources()` is the production program's state as the offline preview exports it (a fresh copy);
`refreshed_program(...)` the same state as `pulumi refresh` leaves it with the pinned providers
(offline_preview/refreshed.py), with what someone changed outside the program:

    resources = refreshed_program({"hft-frontend-deployment": privileged}, rewrite_inputs=False)
"""

from __future__ import annotations

import copy
from typing import Any

from offline_preview.refreshed import Edit, refresh
from offline_preview.render import stack_export
from offline_preview.urns import stack_urn
from tests.support.policies import STACK
from tests.support.stacks import PROJECT, render

STACK_RESOURCE = {"urn": stack_urn(STACK, PROJECT), "custom": False, "type": "pulumi:pulumi:Stack"}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def resource(
    type_: str, name: str, inputs: dict[str, Any], outputs: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """A custom resource as the state holds it (outputs default to the inputs)."""
    return {
        "urn": urn(type_, name),
        "custom": True,
        "id": name,
        "type": type_,
        "inputs": inputs,
        "outputs": copy.deepcopy(inputs) if outputs is None else outputs,
        **fields,
    }


def deployment_body(resources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": "v3.272.0"},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}},
        "resources": resources,
        **extra,
    }


def export(
    resources: list[dict[str, Any]], *, version: int = 3, features: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """What `pulumi stack export` prints."""
    document: dict[str, Any] = {"version": version}
    if features is not None:
        document["features"] = features
    document["deployment"] = deployment_body(resources, **extra)
    return document


def checkpoint(
    resources: list[dict[str, Any]], *, version: int = 3, features: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """What a file or S3 backend stores for a stack."""
    document: dict[str, Any] = {"version": version}
    if features is not None:
        document["features"] = features
    document["checkpoint"] = {"stack": f"organization/{PROJECT}/{STACK}", "latest": deployment_body(resources, **extra)}
    return document


def program_resources() -> list[dict[str, Any]]:
    """The production program's resources as its state holds them (a fresh copy)."""
    return copy.deepcopy(stack_export(render(STACK))["deployment"]["resources"])


def refreshed_program(edits: dict[str, Edit] | None = None, *, rewrite_inputs: bool = True) -> list[dict[str, Any]]:
    """The production program's state as a refresh leaves it, each resource named in `edits` (by its logical
    name) changed live by its edit first. `rewrite_inputs=False`: the edited resources' inputs stay as
    deployed (see offline_preview/refreshed.py)."""
    edits = edits or {}
    unknown = set(edits) - {r["urn"].rsplit("::", 1)[-1] for r in program_resources()}
    assert not unknown, f"no such resource in the program: {unknown}"
    return [
        refresh(r, edits.get(name), rewrite_inputs=rewrite_inputs or name not in edits)
        for r in program_resources()
        for name in [r["urn"].rsplit("::", 1)[-1]]
    ]


def named(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["urn"].rsplit("::", 1)[-1] == name]
    return found


def of_type(resources: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["type"] == type_]
    return found
