"""`make audit` on refreshed states: it judges the live values (outputs) where the state holds them and the inputs
otherwise, says which, reports a policy only the outputs violate as drift with the paths that make it, and one
only the inputs violate as a declared finding; stack policies judge the same properties. The states are the
production program's as `pulumi refresh` leaves them with the pinned providers (offline_preview/refreshed.py):
pulumi-kubernetes' live objects (defaults, status, managedFields, `__inputs`) and the bridged providers' outputs.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline_preview import policy_eval
from offline_preview.bench import generated_state
from offline_preview.drift import ABSENT, Budget, BudgetSpentError, format_path, isolate, with_value
from offline_preview.engine import SECRET_SIG, SIG
from offline_preview.policy_eval import NO_OUTPUTS, DriftPath, audit, main
from offline_preview.refreshed import FIELD_MANAGER, refresh
from tests.support.stacks import PROJECT_DIR
from tests.support.states import STACK_RESOURCE, export, named, program_resources, refreshed_program, resource, urn

DEPLOYMENT = "hft-frontend-deployment"
MIN_TLS = "edge-setting-min-tls-version"
PRIVILEGED = "pss-baseline-privileged"
PRIVILEGED_PATH = "spec.template.spec.containers[0].securityContext.privileged"
TLS_POLICY = "cloudflare-min-tls-1-2"


def container(obj: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]["containers"][index]


def privileged(live: dict[str, Any]) -> None:
    container(live)["securityContext"]["privileged"] = True


def tls_1_0(outputs: dict[str, Any]) -> None:
    outputs["value"] = "1.0"


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], resources: list[dict[str, Any]]) -> tuple[int, str, Any]:
    report = tmp_path / "report.json"
    code = main([str(write(tmp_path / "state.json", export(resources))), "--report", str(report)])
    return code, capsys.readouterr().out, json.loads(report.read_text())


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def findings(result: policy_eval.AuditResult) -> list[tuple[str, str, str, list[str]]]:
    return [
        (v.policy_name, v.finding, v.judged, [p.path for p in v.paths] if v.paths is not None else ["<none>"])
        for v in result.violations
    ]


# --- the fixtures are what a refresh writes --------------------------------------------------------


def test_a_refreshed_deployment_holds_the_live_object_and_the_providers_bookkeeping() -> None:
    deployment = named(refreshed_program(), DEPLOYMENT)
    outputs, inputs = deployment["outputs"], deployment["inputs"]
    assert outputs["status"]["availableReplicas"] == outputs["spec"]["replicas"]
    assert outputs["metadata"]["managedFields"][0]["manager"] == FIELD_MANAGER
    assert outputs["metadata"]["uid"]
    assert outputs["metadata"]["resourceVersion"]
    assert container(outputs)["terminationMessagePath"] == "/dev/termination-log"  # an API server default
    assert outputs["__inputs"] == inputs
    assert outputs["__fieldManager"] == FIELD_MANAGER
    # The inputs are the live object cut to what the program declared (pulumi-kubernetes' Read).
    assert "status" not in inputs
    assert "uid" not in inputs["metadata"]
    assert "terminationMessagePath" not in container(inputs)
    assert "replicas" not in inputs["spec"]  # the program leaves the count to the autoscaler


def test_a_refreshed_secret_keeps_its_data_secret() -> None:
    secret = named(refreshed_program(), "hft-frontend-secret")
    assert "stringData" not in secret["outputs"]
    assert secret["outputs"]["data"][SIG] == SECRET_SIG


def test_a_refresh_with_nothing_changed_audits_clean_on_the_live_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = refreshed_program()
    code, out, report = run(tmp_path, capsys, resources)
    assert code == 0
    assert report["violations"] == []
    assert report["notChecked"] == []
    on_outputs = [r for r in resources if r.get("custom") and not r["type"].startswith("pulumi:providers:")]
    assert report["summary"]["judgedOnOutputs"] == len(on_outputs)
    assert report["summary"]["judgedOnInputs"] == len(resources) - len(on_outputs)
    reasons = {entry["urn"]: entry["reason"] for entry in report["judgedOnInputs"]}
    assert reasons[STACK_RESOURCE["urn"]] == policy_eval.COMPONENT
    assert NO_OUTPUTS not in reasons.values()
    assert f"({len(on_outputs)} on their outputs, {len(resources) - len(on_outputs)} on their inputs)" in out


# --- drift: the outputs violate, the inputs pass ---------------------------------------------------


def test_privileged_only_in_the_outputs_is_drift_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = refreshed_program({DEPLOYMENT: privileged}, rewrite_inputs=False)
    assert container(named(resources, DEPLOYMENT)["inputs"])["securityContext"]["privileged"] is False
    code, out, report = run(tmp_path, capsys, resources)
    assert code == 1
    (violation,) = report["violations"]
    deployment_urn = named(resources, DEPLOYMENT)["urn"]
    assert violation | {"message": ""} == {
        "policyName": PRIVILEGED,
        "enforcementLevel": "mandatory",
        "urn": deployment_urn,
        "resourceType": "kubernetes:apps/v1:Deployment",
        "finding": "drift",
        "judged": "outputs",
        "paths": [{"urn": deployment_urn, "path": PRIVILEGED_PATH}],
        "message": "",
    }
    assert (
        "DRIFT: the outputs (live values) violate this policy; the inputs pass. They differ at: "
        f"{PRIVILEGED_PATH}." in out
    )
    assert (report["summary"]["mandatory"], report["summary"]["drift"], report["summary"]["declared"]) == (1, 1, 0)
    assert "advisory (1 drift, 0 declared)" in out.splitlines()[-1]


def test_a_privileged_container_added_live_is_drift_in_the_outputs_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `kubectl edit` adds a debugging container; pulumi-kubernetes' refresh cuts it from the inputs (the program
    # declares one container), so only the outputs hold it.
    def debug_container(live: dict[str, Any]) -> None:
        debug: dict[str, Any] = {**copy.deepcopy(container(live)), "name": "debug"}
        debug["securityContext"]["privileged"] = True
        live["spec"]["template"]["spec"]["containers"].append(debug)

    resources = refreshed_program({DEPLOYMENT: debug_container})
    deployment = named(resources, DEPLOYMENT)
    assert len(deployment["inputs"]["spec"]["template"]["spec"]["containers"]) == 1
    result = audit(export(resources))
    assert findings(result) == [(PRIVILEGED, "drift", "outputs", ["spec.template.spec.containers[1]"])]


def test_a_field_the_program_leaves_unset_set_live_is_drift_naming_it() -> None:
    resources = refreshed_program({DEPLOYMENT: lambda live: live["spec"]["template"]["spec"].update(hostNetwork=True)})
    assert "hostNetwork" not in named(resources, DEPLOYMENT)["inputs"]["spec"]["template"]["spec"]
    result = audit(export(resources))
    assert ("pss-baseline-host-namespaces", "drift", "outputs", ["spec.template.spec.hostNetwork"]) in findings(result)


def test_a_live_change_to_a_declared_field_is_refreshed_into_the_inputs_too_a_violation_not_drift() -> None:
    # The program declares privileged: false, so the refresh writes the live true into the inputs as well.
    resources = refreshed_program({DEPLOYMENT: privileged})
    assert container(named(resources, DEPLOYMENT)["inputs"])["securityContext"]["privileged"] is True
    assert findings(audit(export(resources))) == [(PRIVILEGED, "violation", "outputs", [])]


def test_min_tls_1_0_only_in_the_outputs_is_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resources = refreshed_program({MIN_TLS: tls_1_0}, rewrite_inputs=False)
    code, out, report = run(tmp_path, capsys, resources)
    assert code == 1
    (violation,) = report["violations"]
    setting_urn = named(resources, MIN_TLS)["urn"]
    assert (violation["policyName"], violation["finding"], violation["judged"]) == (TLS_POLICY, "drift", "outputs")
    assert violation["paths"] == [{"urn": setting_urn, "path": "value"}]
    assert 'value is "1.0"' in violation["message"]
    assert "DRIFT: the outputs (live values) violate this policy; the inputs pass. They differ at: value." in out


def test_min_tls_1_0_refreshed_by_the_bridge_into_the_inputs_is_a_violation() -> None:
    resources = refreshed_program({MIN_TLS: tls_1_0})
    assert named(resources, MIN_TLS)["inputs"]["value"] == "1.0"
    assert findings(audit(export(resources))) == [(TLS_POLICY, "violation", "outputs", [])]


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        # The autoscaler's count, a rollout restart, a label someone added.
        (DEPLOYMENT, lambda live: live["spec"].update(replicas=11)),
        (DEPLOYMENT, lambda live: live["spec"]["template"]["metadata"]["annotations"].update(restartedAt="now")),
        ("security-baseline-namespace", lambda live: live["metadata"]["labels"].update(team="frontend")),
        ("edge-setting-brotli", lambda outputs: outputs.update(value="off")),
        (DEPLOYMENT, lambda live: container(live)["resources"]["limits"].update(cpu="3")),
    ],
)
def test_drift_in_a_field_no_policy_guards_is_no_violation(name: str, edit: Any) -> None:
    for rewrite_inputs in (True, False):
        resources = refreshed_program({name: edit}, rewrite_inputs=rewrite_inputs)
        result = audit(export(resources))
        assert result.violations == []
        assert result.evaluation.not_checked == []


# --- declared: the inputs violate, the outputs pass ------------------------------------------------


def hand_fixed(name: str, break_inputs: Any, fix_live: Any) -> list[dict[str, Any]]:
    """The program deployed with a violation that someone then fixed by hand, refreshed by a provider that
    does not rewrite the inputs."""
    resources = program_resources()
    for r in resources:
        if r["urn"].endswith(f"::{name}"):
            break_inputs(r["inputs"])
            break_inputs(r["outputs"])
    return [
        refresh(r, fix_live, rewrite_inputs=False) if r["urn"].endswith(f"::{name}") else refresh(r) for r in resources
    ]


def test_a_violation_fixed_by_hand_is_a_declared_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def unprivileged(live: dict[str, Any]) -> None:
        container(live)["securityContext"]["privileged"] = False

    resources = hand_fixed(DEPLOYMENT, privileged, unprivileged)
    code, out, report = run(tmp_path, capsys, resources)
    assert code == 1  # the program still declares it: `pulumi preview --policy-pack` would fail on it too
    (violation,) = report["violations"]
    deployment_urn = named(resources, DEPLOYMENT)["urn"]
    assert (violation["policyName"], violation["finding"], violation["judged"]) == (PRIVILEGED, "declared", "outputs")
    assert violation["paths"] == [{"urn": deployment_urn, "path": PRIVILEGED_PATH}]
    assert (
        f"DECLARED: the inputs violate this policy; the outputs (live values) pass. They differ at: {PRIVILEGED_PATH}."
        in out
    )
    assert "advisory (0 drift, 1 declared)" in out.splitlines()[-1]


def test_a_tls_setting_fixed_in_the_dashboard_is_a_declared_finding() -> None:
    resources = hand_fixed(MIN_TLS, tls_1_0, lambda outputs: outputs.update(value="1.2"))
    assert findings(audit(export(resources))) == [(TLS_POLICY, "declared", "outputs", ["value"])]


# --- no outputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("outputs", [{}, None, {"__inputs": {}, "__fieldManager": FIELD_MANAGER}])
def test_a_resource_without_outputs_is_judged_on_its_inputs_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], outputs: Any
) -> None:
    resources = refreshed_program()
    deployment = named(resources, DEPLOYMENT)
    deployment["outputs"] = outputs
    privileged(deployment["inputs"])
    code, out, report = run(tmp_path, capsys, resources)
    assert code == 1
    (violation,) = report["violations"]
    assert (violation["policyName"], violation["finding"], violation["judged"], violation["paths"]) == (
        PRIVILEGED,
        "violation",
        "inputs",
        [],
    )
    assert {"urn": deployment["urn"], "resourceType": deployment["type"], "reason": NO_OUTPUTS} in report[
        "judgedOnInputs"
    ]
    assert f"so their live values are unknown:\n    - kubernetes:apps/v1:Deployment: {DEPLOYMENT}\n" in out
    assert "Judged: the inputs." in out


# --- stack policies judge the same properties ------------------------------------------------------

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"


def bucket_state(versioning_outputs: Any, *, bucket_outputs: Any = None) -> list[dict[str, Any]]:
    flags = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
    bucket = resource(BUCKET, "logs", {"bucket": "logs"}, bucket_outputs or {"bucket": "logs", "id": "logs"})
    by_bucket = {"propertyDependencies": {"bucket": [bucket["urn"]]}}
    enabled = {"bucket": "logs", "versioningConfiguration": {"status": "Enabled"}}
    return [
        STACK_RESOURCE,
        bucket,
        resource(VERSIONING, "logs-versioning", enabled, versioning_outputs, **by_bucket),
        resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "logs-pab", {"bucket": "logs", **flags}),
    ]


def test_a_stack_policy_reports_drift_naming_the_resource_and_path_that_make_it() -> None:
    suspended = {
        "bucket": "logs",
        "id": "logs",
        "versioningConfiguration": {"status": "Suspended", "mfaDelete": "Disabled"},
    }
    result = audit(export(bucket_state(suspended)))
    (violation,) = [v for v in result.violations if v.policy_name == "s3-versioning-enabled"]
    assert (violation.urn, violation.finding, violation.judged) == (urn(BUCKET, "logs"), "drift", "outputs")
    # The reported resource is the bucket; the value that drifted is its BucketVersioning's.
    assert violation.paths == (DriftPath(urn(VERSIONING, "logs-versioning"), "versioningConfiguration.status"),)
    text = policy_eval.format_violations(
        result.violations, audit=True, types={urn(VERSIONING, "logs-versioning"): VERSIONING}
    )
    assert f"They differ at: versioningConfiguration.status of {VERSIONING}: logs-versioning." in text


def test_a_stack_policy_judges_each_resource_on_the_properties_its_resource_policies_judge() -> None:
    # The bucket has no outputs: judged on its inputs, which name it; its versioning on the outputs, matched to
    # the bucket by that name alone.
    resources = bucket_state({"bucket": "logs", "versioningConfiguration": {"status": "Enabled"}}, bucket_outputs={})
    resources[1]["outputs"] = {}
    resources[2]["propertyDependencies"] = {}
    result = audit(export(resources))
    assert [v for v in result.violations if v.policy_name == "s3-versioning-enabled"] == []
    on_inputs = {entry.urn: entry.reason for entry in result.evaluation.judged_on_inputs}
    assert on_inputs[urn(BUCKET, "logs")] == NO_OUTPUTS


def test_a_computed_id_is_nobodys_declaration_so_it_matches_resources_on_both_sides() -> None:
    # The zone's id is computed (its inputs hold none); its settings name it by that literal id. Judged on what
    # the inputs declare, the zone keeps the id its outputs hold, so its settings are still its own.
    resources = refreshed_program()
    zone = named(resources, "edge-zone")
    assert "id" not in zone["inputs"]
    assert zone["outputs"]["id"]
    for r in resources:
        if r["type"] == "cloudflare:index/zoneSetting:ZoneSetting":
            r["propertyDependencies"] = {}
    result = audit(export(resources))
    assert result.violations == []


def test_the_namespace_version_the_pss_policies_use_is_the_live_label() -> None:
    # net.ipv4.ip_local_reserved_ports is a safe sysctl from Kubernetes 1.27: the program's namespace pins 1.32,
    # the live one was set back to 1.26, and the API server's admission judges at the live label.
    label = "pod-security.kubernetes.io/enforce-version"
    resources = refreshed_program(
        {"security-baseline-namespace": lambda live: live["metadata"]["labels"].update({label: "v1.26"})},
        rewrite_inputs=False,
    )
    namespace = named(resources, "security-baseline-namespace")
    assert namespace["inputs"]["metadata"]["labels"][label] == "v1.32"
    deployment = named(resources, DEPLOYMENT)
    for props in (deployment["inputs"], deployment["outputs"]):
        sysctls = [{"name": "net.ipv4.ip_local_reserved_ports", "value": "30000-30100"}]
        props["spec"]["template"]["spec"]["securityContext"]["sysctls"] = sysctls
    assert findings(audit(export(resources))) == [("pss-baseline-sysctls", "violation", "outputs", [])]
    namespace["outputs"]["metadata"]["labels"][label] = "v1.32"
    assert findings(audit(export(resources))) == []


# --- fails closed -----------------------------------------------------------------------------------


def test_an_outputs_shape_a_policy_does_not_know_is_not_checked_on_the_outputs() -> None:
    resources = refreshed_program(
        {MIN_TLS: lambda outputs: outputs.update(value={"value": "1.0"})}, rewrite_inputs=False
    )
    result = audit(export(resources))
    assert result.violations == []
    entries = [(n.policy_name, n.judged) for n in result.evaluation.not_checked]
    assert entries == [(TLS_POLICY, "outputs")]


def test_a_live_workload_of_a_shape_the_policies_do_not_know_is_not_checked_on_its_outputs() -> None:
    resources = refreshed_program({DEPLOYMENT: lambda live: live["spec"]["template"].update(spec=[])})
    result = audit(export(resources))
    assert result.violations == []
    entries = {(n.policy_name, n.judged, n.reason) for n in result.evaluation.not_checked}
    assert (PRIVILEGED, "outputs", "spec.template.spec is [], not a pod spec this policy can read") in entries
    assert {judged for _, judged, _ in entries} == {"outputs"}


def test_inputs_of_a_shape_a_policy_does_not_know_are_not_checked_on_the_inputs_though_the_outputs_pass() -> None:
    # Nothing is hidden: the live value passes, and the declared one is listed as not checked, saying so.
    resources = refreshed_program()
    named(resources, MIN_TLS)["inputs"]["value"] = {"value": "1.2"}
    result = audit(export(resources))
    assert result.violations == []
    assert [(n.policy_name, n.judged) for n in result.evaluation.not_checked] == [(TLS_POLICY, "inputs")]


def test_a_malformed_secret_in_the_outputs_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = refreshed_program()
    named(resources, MIN_TLS)["outputs"]["value"] = {SIG: SECRET_SIG}
    path = write(tmp_path / "state.json", export(resources))
    assert main([str(path), "--report", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "a secret needs exactly one of `ciphertext` or `plaintext`" in err


def test_an_encrypted_secret_in_the_outputs_a_policy_reads_is_not_checked() -> None:
    resources = refreshed_program(
        {DEPLOYMENT: lambda live: container(live).update(image={SIG: SECRET_SIG, "ciphertext": "v1:abc"})},
        rewrite_inputs=False,
    )
    result = audit(export(resources))
    assert [v.policy_name for v in result.violations] == []
    assert [(n.policy_name, n.judged) for n in result.evaluation.not_checked] == [("workload-image-pinned", "outputs")]


def test_past_the_budget_a_drift_is_reported_without_paths_saying_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(policy_eval, "PATH_SEARCH_LIMIT", 3)
    code, out, report = run(tmp_path, capsys, refreshed_program({DEPLOYMENT: privileged}, rewrite_inputs=False))
    assert code == 1
    (violation,) = report["violations"]
    assert (violation["finding"], violation["paths"]) == ("drift", None)
    assert "They differ at: (not named: the search for them reached its limit)." in out


def test_past_the_stack_policies_budget_a_drift_is_reported_without_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    suspended = {"bucket": "logs", "id": "logs", "versioningConfiguration": {"status": "Suspended"}}
    monkeypatch.setattr(policy_eval, "STACK_PATH_BUDGET", 3)  # fewer than the 4 resources one evaluation reads
    (violation,) = [v for v in audit(export(bucket_state(suspended))).violations if v.policy_name.startswith("s3-v")]
    assert (violation.finding, violation.paths) == ("drift", None)


# --- workers, and make audit ------------------------------------------------------------------------


def test_workers_give_the_drift_one_process_gives() -> None:
    base = export(refreshed_program())
    state = generated_state(base, policy_eval.PARALLEL_FROM + 50)
    resources = state["deployment"]["resources"]
    deployments = [r for r in resources if r["type"] == "kubernetes:apps/v1:Deployment"]
    for index in (0, len(deployments) // 2, -1):
        container(deployments[index]["outputs"])["securityContext"]["privileged"] = True
    alone, together = audit(state, workers=1), audit(state, workers=2)
    assert together.evaluation == alone.evaluation
    assert [(v.urn, v.finding) for v in alone.violations] == [
        (deployments[i]["urn"], "drift") for i in (0, len(deployments) // 2, -1)
    ]


def test_make_audit_fails_on_drift(tmp_path: Path) -> None:
    state = write(tmp_path / "refreshed.json", export(refreshed_program({MIN_TLS: tls_1_0}, rewrite_inputs=False)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(PROJECT_DIR),
            "audit",
            f"FILE={state}",
            f"REPORT={tmp_path / 'r.json'}",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "make audit: mandatory policy violations (the audit exited 1)" in done.stderr
    assert (
        "DRIFT: the outputs (live values) violate this policy; the inputs pass. They differ at: value." in done.stdout
    )


def test_outputs_that_violate_where_the_inputs_cannot_be_checked_are_a_violation_not_drift() -> None:
    # The inputs hold the image as a secret the state keeps encrypted: nobody can say they pass, so the live
    # `latest` is a violation, not a drift.
    resources = refreshed_program(
        {DEPLOYMENT: lambda live: container(live).update(image="ghcr.io/org/frontend:latest")}, rewrite_inputs=False
    )
    container(named(resources, DEPLOYMENT)["inputs"])["image"] = {SIG: SECRET_SIG, "ciphertext": "v1:abc"}
    result = audit(export(resources))
    assert findings(result) == [("workload-image-pinned", "violation", "outputs", [])]


# --- naming the paths (offline_preview/drift.py) ------------------------------------------------------


def test_each_difference_that_fires_alone_is_named_and_none_that_does_not() -> None:
    base = {"spec": {"containers": [{"privileged": False, "image": "a"}, {"privileged": False}]}, "status": {}}
    target = {"spec": {"containers": [{"privileged": True, "image": "b"}, {"privileged": True}]}, "status": {"x": 1}}

    def fires(props: Any) -> bool:
        return any(c.get("privileged") for c in props["spec"]["containers"])

    assert [format_path(p) for p in isolate(base, target, fires, Budget(100))] == [
        "spec.containers[0].privileged",
        "spec.containers[1].privileged",
    ]


def test_differences_that_fire_only_together_are_named_by_the_property_holding_them() -> None:
    base = {"securityContext": {"runAsUser": 1001, "runAsNonRoot": True}, "name": "app"}
    target = {"securityContext": {"runAsUser": 0, "runAsNonRoot": False}, "name": "other"}

    def fires(props: Any) -> bool:  # root only when both say so
        context = props["securityContext"]
        return context.get("runAsUser") == 0 and context.get("runAsNonRoot") is False

    assert isolate(base, target, fires, Budget(100)) == [("securityContext",)]
    assert isolate({"a": 0, "b": 0}, {"a": 1, "b": 1}, lambda p: p["a"] + p["b"] == 2, Budget(100)) == [()]


def test_added_removed_and_appended_properties_are_put_in_as_the_other_side_has_them() -> None:
    base = {"drop": ["ALL"], "containers": [{"name": "app"}]}
    target = {"containers": [{"name": "app"}, {"name": "debug", "privileged": True}], "hostNetwork": True}
    assert with_value(base, ("drop",), ABSENT) == {"containers": [{"name": "app"}]}
    assert with_value(base, ("containers", 1), target["containers"][1])["containers"][1]["name"] == "debug"
    assert with_value(base, ("hostNetwork",), True)["hostNetwork"] is True
    assert base == {"drop": ["ALL"], "containers": [{"name": "app"}]}  # copied, never changed
    assert [format_path(p) for p in isolate(base, target, lambda p: "drop" not in p, Budget(100))] == ["drop"]
    assert [format_path(p) for p in isolate(base, target, lambda p: "hostNetwork" in p, Budget(100))] == ["hostNetwork"]
    assert [
        format_path(p)
        for p in isolate(base, target, lambda p: any(c.get("privileged") for c in p["containers"]), Budget(100))
    ] == ["containers[1]"]


def test_paths_are_written_as_pulumi_writes_them() -> None:
    assert format_path(("metadata", "annotations", "checkov.io/skip1")) == 'metadata.annotations["checkov.io/skip1"]'
    assert format_path(("spec", "containers", 0, "securityContext")) == "spec.containers[0].securityContext"
    assert format_path(()) == ""


def test_a_search_stops_when_its_budget_is_spent() -> None:
    budget = Budget(2)
    with pytest.raises(BudgetSpentError):
        isolate({"a": {"b": {"c": 0}}}, {"a": {"b": {"c": 1}}}, lambda p: p["a"]["b"]["c"] == 1, budget)
    assert budget.remaining == 0
