"""The policy pack inside the offline preview: both stacks pass it, and the command fails on a
mandatory violation, with the verdicts in build/<stack>/policy-report.json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from offline_preview.policy_eval import evaluate_rendering
from tests.support.stacks import STACKS, render, run_preview, stack_values, write_project


@pytest.mark.parametrize("stack", STACKS)
def test_both_stacks_pass_the_pack(stack: str) -> None:
    violations = evaluate_rendering(render(stack))
    assert not [v for v in violations if v.enforcement_level == "mandatory"], violations
    assert not [v for v in violations if v.policy_name.startswith("pss-")], violations


def _preview(project: Path, stack: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_preview("--stack", stack, "--project-dir", str(project), *extra)


def test_the_preview_writes_the_verdicts_and_fails_on_a_mandatory_one(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = stack_values("staging")
    config["hft-frontend:app"]["service"] = {"type": "LoadBalancer"}
    project = write_project(tmp_path, "public", config)

    advisory = _preview(project, "public")
    assert advisory.returncode == 0, advisory.stderr
    assert "[advisory]  service-load-balancer-review" in advisory.stdout
    report = json.loads((project / "build" / "public" / "policy-report.json").read_text())
    summary = report["summary"]
    assert {level: summary[level] for level in ("mandatory", "advisory", "remediate")} == {
        "mandatory": 0,
        "advisory": 1,
        "remediate": 0,
    }
    assert summary["resources"] == len(
        json.loads((project / "build" / "public" / "stack.json").read_text())["deployment"]["resources"]
    )

    policy_config = tmp_path_factory.mktemp("policy") / "config.json"
    policy_config.write_text(json.dumps({"service-load-balancer-review": "mandatory"}))
    mandatory = _preview(project, "public", "--policy-pack-config", str(policy_config))
    assert mandatory.returncode == 1
    assert "[mandatory]  service-load-balancer-review" in mandatory.stdout
    assert mandatory.stderr.strip() == "error: 1 mandatory policy violation(s)"
    report = json.loads((project / "build" / "public" / "policy-report.json").read_text())
    assert report["summary"]["mandatory"] == 1
    (violation,) = report["violations"]
    assert violation["urn"].endswith("kubernetes:core/v1:Service::hft-frontend-service")
