"""The in-process evaluation: a rendering and its stack export get the same verdicts (except where an audit
fails closed), secrets and config behave as under the CLI, and the report and the preview-style output say
what fired. The audit command's inputs, exit codes and fail-closed cases: tests/test_audit.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from offline_preview.__main__ import main as offline_preview_main
from offline_preview.engine import SECRET_SIG, SIG, Registration, Rendering
from offline_preview.policy_eval import (
    NO_OUTPUTS,
    DriftPath,
    PolicyConfigError,
    Violation,
    audit,
    evaluate_export,
    evaluate_rendering,
    evaluate_rendering_in_full,
    format_violations,
    main,
    pack_version,
    report_document,
    write_report,
)
from offline_preview.render import stack_export
from policies import pack
from tests.support.policies import STACK, evaluate, fired, rendered
from tests.support.stacks import PROJECT, STACKS, render

PRIVILEGED = "pss-baseline-privileged"


def verdicts(violations: list[Violation]) -> list[tuple[str, str, str, str, str]]:
    """What the CLI would report of each: an audit adds what it judged, which a preview does not."""
    return [v.verdict for v in violations]


def broken_production() -> Rendering:
    """The production program with one fault per concern the rendering has, in its inputs and in the outputs
    the mocks returned for them (as a program that declared the faults would have them)."""
    registrations = copy.deepcopy(render(STACK).registrations)
    for registration in registrations:
        for props in (registration.inputs, registration.outputs):
            if registration.type == "kubernetes:core/v1:Namespace" and props["metadata"]["name"] == STACK:
                props["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"
            elif registration.type == "kubernetes:apps/v1:Deployment":
                props["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
            elif registration.type == "kubernetes:core/v1:Secret":
                props["stringData"] = props["stringData"]["value"]
            elif registration.type == "kubernetes:core/v1:Service" and registration.name == "hft-frontend-service":
                props["spec"]["type"] = "LoadBalancer"  # advisory: reviewed, as it admits only Cloudflare
                props["spec"]["loadBalancerSourceRanges"] = ["173.245.48.0/20"]
    return Rendering(STACK, PROJECT, registrations)


def privileged_deployment() -> Registration:
    deployment = rendered("kubernetes:apps/v1:Deployment", "hft-frontend-deployment")
    deployment.inputs["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    return deployment


# --- a rendering and its export ----------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_programs_export_gets_the_renderings_verdicts(stack: str) -> None:
    rendering = render(stack)
    audited = evaluate_export(stack_export(rendering))
    assert verdicts(audited) == verdicts(evaluate_rendering(rendering))
    assert {(v.finding, v.judged) for v in audited} <= {("violation", "outputs")}


def test_a_broken_programs_export_gets_the_renderings_verdicts_but_cannot_remediate() -> None:
    rendering = broken_production()
    violations = evaluate_rendering(rendering)
    assert {(v.policy_name, v.enforcement_level) for v in violations} == {
        ("namespace-psa-restricted", "mandatory"),
        (PRIVILEGED, "mandatory"),
        ("kubernetes-secret-data-secret", "remediate"),
        ("service-load-balancer-review", "advisory"),
    }
    # The plaintext Secret is in the state already: the audit reports the remediation it cannot apply as a
    # mandatory violation; every other verdict is the preview's.
    audited = evaluate_export(stack_export(rendering))
    secret_data = [v for v in audited if v.policy_name == "kubernetes-secret-data-secret"]
    assert [v.enforcement_level for v in secret_data] == ["mandatory"]
    assert "an audit cannot remediate what the state already holds" in secret_data[0].message
    assert verdicts([v for v in audited if v not in secret_data]) == verdicts(
        [v for v in violations if v.policy_name != "kubernetes-secret-data-secret"]
    )
    # The export's outputs are what the mocks returned (the inputs, and what a provider computes): the audit
    # judges them, and they violate what the inputs do, so nothing is a drift.
    assert {(v.finding, v.judged) for v in audited} == {("violation", "outputs")}


def test_the_audit_of_the_offline_previews_state_file_reproduces_the_preview(tmp_path: Path) -> None:
    assert offline_preview_main(["--stack", STACK, "--out", str(tmp_path)]) == 0
    audited = audit(tmp_path / "stack.json")
    assert verdicts(audited.violations) == verdicts(evaluate_rendering(render(STACK)))
    assert audited.evaluation.not_checked == []
    # Every resource of the program with outputs is judged on them; the stack and components on their inputs.
    judged_on_inputs = {entry.reason for entry in audited.evaluation.judged_on_inputs}
    assert NO_OUTPUTS not in judged_on_inputs
    assert audited.evaluation.judged_on_outputs > 0


def test_an_export_is_read_from_a_file(tmp_path: Path) -> None:
    export = stack_export(broken_production())
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(export))
    assert evaluate_export(path) == evaluate_export(str(path)) == evaluate_export(export)


# --- secrets -----------------------------------------------------------------------------------


def secret_image(image: str) -> Registration:
    deployment = rendered("kubernetes:apps/v1:Deployment", "hft-frontend-deployment")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    container["image"] = {SIG: SECRET_SIG, "value": image}
    return deployment


def test_a_validation_sees_a_secrets_plaintext() -> None:
    assert fired(evaluate(secret_image("ghcr.io/org/frontend:v1")), "workload-image-pinned") == []
    assert fired(evaluate(secret_image("ghcr.io/org/frontend:latest")), "workload-image-pinned")


def test_from_an_export_an_encrypted_secret_a_policy_reads_is_not_checked_nor_a_violation() -> None:
    export = stack_export(Rendering(STACK, PROJECT, [secret_image("ghcr.io/org/frontend:v1")]))
    result = audit(export)
    assert fired(result.violations, "workload-image-pinned") == []
    (entry,) = [n for n in result.evaluation.not_checked if n.policy_name == "workload-image-pinned"]
    assert entry.urn.endswith("::hft-frontend-deployment")
    assert entry.reason.startswith("the value at .spec.template.spec.containers.0.image is a secret the state holds")


def test_an_export_with_shown_secrets_is_evaluated_on_the_plaintext() -> None:
    export = stack_export(Rendering(STACK, PROJECT, [secret_image("ghcr.io/org/frontend:latest")]))
    for state in export["deployment"]["resources"]:
        if state["type"] == "kubernetes:apps/v1:Deployment":
            container = state["inputs"]["spec"]["template"]["spec"]["containers"][0]
            container["image"] = {SIG: SECRET_SIG, "plaintext": json.dumps("ghcr.io/org/frontend:latest")}
    assert [v.enforcement_level for v in fired(evaluate_export(export), "workload-image-pinned")] == ["mandatory"]


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["urn", "name"])
def test_an_exemption_skips_the_resource(by: str) -> None:
    deployment = privileged_deployment()
    exemption = deployment.urn if by == "urn" else deployment.name
    assert fired(evaluate(deployment), PRIVILEGED)
    assert fired(evaluate(deployment, config={PRIVILEGED: {"exemptions": [exemption]}}), PRIVILEGED) == []


def test_an_exemption_skips_only_its_resource_and_policy() -> None:
    deployment = privileged_deployment()
    deployment.inputs["spec"]["template"]["spec"]["hostNetwork"] = True
    config = {
        PRIVILEGED: {"exemptions": ["someone-else"]},
        "pss-baseline-host-namespaces": {"exemptions": ["hft-frontend-deployment"]},
    }
    assert [v.policy_name for v in evaluate(deployment, config=config)] == [PRIVILEGED]


@pytest.mark.parametrize(
    ("config", "level"),
    [
        ({PRIVILEGED: "advisory"}, "advisory"),
        ({PRIVILEGED: {"enforcementLevel": "advisory"}}, "advisory"),
        ({"all": "advisory"}, "advisory"),
        ({"all": "advisory", PRIVILEGED: "mandatory"}, "mandatory"),
        ({PRIVILEGED: "remediate"}, "mandatory"),  # a violation a remediation did not fix blocks
    ],
)
def test_the_config_sets_the_enforcement_level(config: dict[str, Any], level: str) -> None:
    assert [v.enforcement_level for v in evaluate(privileged_deployment(), config=config)] == [level]


@pytest.mark.parametrize("config", [{PRIVILEGED: "disabled"}, {"all": "disabled"}])
def test_a_disabled_policy_does_not_run(config: dict[str, Any]) -> None:
    assert evaluate(privileged_deployment(), config=config) == []


def test_the_config_is_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps({PRIVILEGED: "advisory"}))
    assert [v.enforcement_level for v in evaluate(privileged_deployment(), config=path)] == ["advisory"]
    path.write_text("")
    assert [v.enforcement_level for v in evaluate(privileged_deployment(), config=path)] == ["mandatory"]


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({PRIVILEGED: "warning"}, f'{PRIVILEGED}: "warning" is not an enforcement level'),
        ({PRIVILEGED: {"enforcementLevel": "block"}}, f'{PRIVILEGED}: "block" is not an enforcement level'),
        ({PRIVILEGED: 3}, f"{PRIVILEGED}: 3 is neither an enforcement level nor an object"),
        (
            {PRIVILEGED: {"exemptions": "hft-frontend"}},
            f"{PRIVILEGED}: exemptions: 'hft-frontend' is not of type 'array'",
        ),
        ({PRIVILEGED: {"exemptions": [""]}}, f"{PRIVILEGED}: exemptions.0: '' should be non-empty"),
        ({"pss-privileged": "advisory"}, "pss-privileged: the policy pack hft-frontend-security has no such policy"),
    ],
)
def test_an_invalid_config_is_refused_with_the_policy_and_property(config: dict[str, Any], error: str) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        evaluate(privileged_deployment(), config=config)
    assert error in str(raised.value)


# --- output ------------------------------------------------------------------------------------


def test_format_violations_looks_like_the_preview() -> None:
    violations = evaluate_rendering(broken_production())
    text = format_violations(violations)
    lines = text.splitlines()
    assert lines[:2] == ["Policies:", f"    ❌ {pack.NAME}@v{pack_version()} (local: policies)"]
    assert f"        - [mandatory]  {PRIVILEGED}  (kubernetes:apps/v1:Deployment: hft-frontend-deployment)" in lines
    first_line_of_message = violations[0].message.splitlines()[0]
    assert f"          {first_line_of_message}" in lines
    assert format_violations([]).splitlines()[1] == f"    ✅ {pack.NAME}@v{pack_version()} (local: policies)"


def test_write_report(tmp_path: Path) -> None:
    evaluation = evaluate_rendering_in_full(broken_production())
    path = tmp_path / "report" / "policy-report.json"
    write_report(report_document(evaluation, source="here", stack=STACK, project=PROJECT), path)
    report = json.loads(path.read_text())
    assert report["reportFormat"] == 2
    assert (report["source"], report["stack"], report["project"]) == ("here", STACK, PROJECT)
    assert report["summary"] == {
        "resources": evaluation.resources,
        "judgedOnOutputs": 0,  # a preview judges the program's inputs
        "judgedOnInputs": evaluation.resources,
        "mandatory": 2,
        "advisory": 1,
        "remediate": 1,
        "drift": 0,
        "declared": 0,
        "notChecked": 0,
        "pendingDeletes": 0,
        "pendingOperations": 0,
    }
    assert [
        Violation(
            v["policyName"],
            v["enforcementLevel"],
            v["urn"],
            v["message"],
            v["resourceType"],
            v["finding"],
            v["judged"],
            tuple(DriftPath(p["urn"], p["path"]) for p in v["paths"]),
        )
        for v in report["violations"]
    ] == evaluation.violations
    assert report["policyPack"] == {"name": pack.NAME, "version": pack_version()}
    assert (report["notChecked"], report["judgedOnInputs"], report["pending"]) == ([], [], [])


def test_the_command_line_audits_an_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export, report = tmp_path / "stack.json", tmp_path / "report.json"
    export.write_text(json.dumps(stack_export(broken_production())))
    assert main([str(export), "--report", str(report)]) == 1
    assert f"[mandatory]  {PRIVILEGED}" in capsys.readouterr().out
    assert json.loads(report.read_text())["summary"]["mandatory"] == 3  # the plaintext Secret too

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"all": "advisory"}))
    assert main([str(export), "--policy-pack-config", str(config), "--report", str(report)]) == 0

    config.write_text(json.dumps({"all": "loud"}))
    assert main([str(export), "--policy-pack-config", str(config), "--report", str(report)]) == 2
    assert '"loud" is not an enforcement level' in capsys.readouterr().err
