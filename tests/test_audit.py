"""`make audit`: every state format it reads and every input it refuses (one line naming the source, exit 2,
never a traceback), its exit codes, its report and summary line, failing closed, pending resources apart,
and the Makefile target. Every state is built in the test (tests/support/states.py)."""

from __future__ import annotations

import codecs
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline_preview import policy_eval
from offline_preview.bench import generated_state
from offline_preview.engine import SECRET_SIG, SIG, UNKNOWN
from offline_preview.policy_eval import audit, main
from offline_preview.state import EXPECTED, KNOWN_FEATURES
from tests.support.policies import evaluate, rendered
from tests.support.stacks import PROJECT_DIR
from tests.support.states import (
    STACK_RESOURCE,
    checkpoint,
    export,
    of_type,
    program_resources,
    resource,
    urn,
)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PRIVILEGED = "pss-baseline-privileged"


def write(path: Path, document: Any, encoding: str = "utf-8", bom: bytes = b"") -> Path:
    path.write_bytes(bom + json.dumps(document, indent=1).encode(encoding))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def privileged_program() -> list[dict[str, Any]]:
    """The program's state with its Deployment privileged, as deployed: in the inputs and the outputs."""
    resources = program_resources()
    for side in ("inputs", "outputs"):
        container = of_type(resources, DEPLOYMENT)[side]["spec"]["template"]["spec"]["containers"][0]
        container["securityContext"]["privileged"] = True
    return resources


def judged_counts(resources: list[dict[str, Any]]) -> tuple[int, int]:
    """How many of a state's resources an audit judges on their outputs (custom, not providers, with outputs)
    and on their inputs: counted from the state, apart from the audit's own rule."""
    on_outputs = sum(
        r.get("custom") is not False and not r["type"].startswith("pulumi:providers:") and bool(r.get("outputs"))
        for r in resources
    )
    return on_outputs, len(resources) - on_outputs


# --- what it reads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("export-v3", export(program_resources())),
        ("export-v4", export(program_resources(), version=4, features=["refreshBeforeUpdate", "taint", "hooks"])),
        ("export-v4-every-feature", export(program_resources(), version=4, features=sorted(KNOWN_FEATURES))),
        ("checkpoint-v3", checkpoint(program_resources())),
        ("checkpoint-v4", checkpoint(program_resources(), version=4, features=["views"])),
        # The CLI looks at features only from version 4.
        ("export-v3-ignores-features", export(program_resources(), features=["from-the-future"])),
    ],
)
def test_every_format_is_read_with_the_previews_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, document: dict[str, Any]
) -> None:
    report = tmp_path / "report.json"
    code, out, err = run(capsys, str(write(tmp_path / f"{name}.json", document)), "--report", str(report))
    assert (code, err) == (0, "")
    resources = len(program_resources())
    on_outputs, on_inputs = judged_counts(program_resources())
    assert out.splitlines()[-1] == (
        f"Audit of {tmp_path / f'{name}.json'} (stack production, project hft-frontend): {resources} resources "
        f"checked ({on_outputs} on their outputs, {on_inputs} on their inputs); violations: 0 mandatory, 0 "
        f"advisory (0 drift, 0 declared); 0 not checked; 0 pending deletes and 0 pending operations reported "
        f"apart; report: {report}"
    )


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),  # PowerShell 5: `pulumi stack export > x.json`
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16-le", b""),
        ("utf-16-be", b""),
        ("utf-32-le", codecs.BOM_UTF32_LE),
    ],
)
def test_utf16_and_byte_order_marks_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str, bom: bytes
) -> None:
    path = write(tmp_path / "state.json", export(privileged_program()), encoding, bom)
    code, out, err = run(capsys, str(path), "--report", str(tmp_path / "r.json"))
    assert (code, err) == (1, "")
    assert f"[mandatory]  {PRIVILEGED}" in out


def test_standard_input_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.dumps(export(privileged_program())).encode("utf-16")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    report = tmp_path / "report.json"
    code, out, _ = run(capsys, "-", "--report", str(report))
    assert code == 1
    assert out.splitlines()[-1].startswith("Audit of standard input (stack production, project hft-frontend): ")
    assert json.loads(report.read_text())["source"] == "standard input"


def test_a_checkpoint_of_a_stack_never_updated_has_no_resources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {"version": 3, "checkpoint": {"stack": "production"}}
    code, out, _ = run(capsys, str(write(tmp_path / "new.json", document)), "--report", str(tmp_path / "r.json"))
    assert code == 0
    assert "Note: the checkpoint holds no deployment: the stack was never updated" in out
    assert ": 0 resources checked (0 on their outputs, 0 on their inputs);" in out.splitlines()[-1]


# --- what it refuses ---------------------------------------------------------------------------

GOOD = export([STACK_RESOURCE])


def _resources(*resources: Any) -> dict[str, Any]:
    return export(list(resources))


REFUSED: list[tuple[str, bytes | None, str]] = [
    ("empty", b"", "empty; " + EXPECTED),
    ("blank", b"  \n\t", "empty; " + EXPECTED),
    ("not-json", b"version: 3\ndeployment: {}\n", "not JSON (Expecting value: line 1 column 1); " + EXPECTED),
    ("truncated", json.dumps(GOOD).encode()[:-5], "not JSON (Unterminated string starting at: line 1 column"),
    (
        "not-utf8",
        b'{"version": 3, "deployment": {"x": "\xff"}}',
        "not UTF-8 text (byte 0xff at offset 36 cannot be decoded); " + EXPECTED,
    ),
    ("array", b"[]", "a JSON array, not a Pulumi state; " + EXPECTED),
    ("string", b'"state"', "a JSON string, not a Pulumi state; " + EXPECTED),
    ("other-object", b'{"name": "x"}', "a JSON object with neither `deployment` nor `checkpoint`; " + EXPECTED),
    ("both", json.dumps({**GOOD, "checkpoint": {}}).encode(), "a JSON object with both `deployment` and `checkpoint`"),
    ("no-version", json.dumps({"deployment": {}}).encode(), "`version` is null; " + EXPECTED),
    ("string-version", json.dumps({**GOOD, "version": "3"}).encode(), '`version` is "3"; ' + EXPECTED),
    (
        "version-2",
        json.dumps({"version": 2, "checkpoint": {"latest": {}}}).encode(),
        "deployment version 2 is too old for this audit (it reads 3 and 4)",
    ),
    ("version-5", json.dumps({**GOOD, "version": 5}).encode(), "deployment version 5 is newer than this audit reads"),
    (
        "unknown-feature",
        json.dumps(export([STACK_RESOURCE], version=4, features=["taint", "unsupported-feature"])).encode(),
        "the state needs features this audit does not know: unsupported-feature (it knows byteString,",
    ),
    (
        "unknown-feature-in-a-checkpoint",
        json.dumps(checkpoint([STACK_RESOURCE], version=4, features=["teleport"])).encode(),
        "the state needs features this audit does not know: teleport",
    ),
    ("features-not-a-list", json.dumps({**GOOD, "features": "taint"}).encode(), '`features` is "taint", not a list'),
    ("null-deployment", json.dumps({"version": 3, "deployment": None}).encode(), "`deployment` is null, not an object"),
    ("null-checkpoint", json.dumps({"version": 3, "checkpoint": None}).encode(), "`checkpoint` is null, not an object"),
    (
        "resources-not-a-list",
        json.dumps({"version": 3, "deployment": {"resources": {}}}).encode(),
        "`deployment.resources` is a JSON object, not an array",
    ),
    (
        "resource-not-an-object",
        json.dumps(_resources("urn:pulumi:a::b::c::d")).encode(),
        "deployment.resources[0] is a JSON string, not a resource",
    ),
    (
        "resource-without-type",
        json.dumps(_resources({"urn": urn("t:index:T", "x")})).encode(),
        f"deployment.resources[0] ({urn('t:index:T', 'x')}) has no type",
    ),
    (
        "resource-without-urn",
        json.dumps(_resources({"type": "t:index:T"})).encode(),
        "deployment.resources[0] has no urn; expected urn:pulumi:<stack>::<project>::<type>::<name>",
    ),
    (
        "not-a-urn",
        json.dumps(_resources({"urn": "urn-1", "type": "t:index:T"})).encode(),
        'deployment.resources[0] has urn "urn-1"; expected urn:pulumi:<stack>::<project>::<type>::<name>',
    ),
    (
        "inputs-not-an-object",
        json.dumps(_resources(resource("t:index:T", "x", {}) | {"inputs": [1]})).encode(),
        f"deployment.resources[0] ({urn('t:index:T', 'x')}): `inputs` is [1]; expected an object",
    ),
    (
        "custom-not-a-boolean",
        json.dumps(_resources(resource("t:index:T", "x", {}, custom="yes"))).encode(),
        '`custom` is "yes"; expected true or false',
    ),
    (
        "delete-not-a-boolean",
        json.dumps(_resources(resource("t:index:T", "x", {}, delete="yes"))).encode(),
        '`delete` is "yes"; expected true or false',
    ),
    (
        "operation-without-type",
        json.dumps(export([], pending_operations=[{"resource": resource("t:index:T", "x", {})}])).encode(),
        "deployment.pending_operations[0] has no operation type (expected one of creating, deleting,",
    ),
    (
        "malformed-secret",
        json.dumps(
            _resources(resource(CONFIG_MAP, "x", {"s": {SIG: SECRET_SIG, "ciphertext": "a", "plaintext": "b"}}))
        ).encode(),
        f"resource {urn(CONFIG_MAP, 'x')}: a secret needs exactly one of `ciphertext` or `plaintext`",
    ),
    (
        "unknown-signature",
        json.dumps(_resources(resource(CONFIG_MAP, "x", {"s": {SIG: "not-a-signature"}}))).encode(),
        f"resource {urn(CONFIG_MAP, 'x')}: unrecognized signature 'not-a-signature'",
    ),
    ("missing", None, "no such file; " + EXPECTED),
]


@pytest.mark.parametrize(("name", "content", "expected"), REFUSED, ids=[case[0] for case in REFUSED])
def test_an_input_it_cannot_read_is_refused_in_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / f"{name}.json"
    if content is not None:
        path.write_bytes(content)
    report = tmp_path / "report.json"
    code, out, err = run(capsys, str(path), "--report", str(report))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {path}: ")
    assert expected in err
    assert not report.exists(), "nothing half-written"


def test_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path), "--report", str(tmp_path / "r.json"))
    assert (code, err) == (2, f"error: {tmp_path}: a directory, not a file; {EXPECTED}\n")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("{", "not JSON (Expecting property name enclosed in double quotes: line 1 column 2)"),
        ("[]", "expected a JSON object of policy names, got list"),
        ('{"pss-privileged": "advisory"}', "pss-privileged: the policy pack hft-frontend-security has no such policy"),
        ('{"environments": ["prod"]}', "environments: the config names Pulumi ESC environments"),
        ('{"pss-baseline-sysctls": {"kubernetesVersion": "1.x"}}', "kubernetesVersion: '1.x' does not match"),
    ],
)
def test_an_unusable_policy_pack_config_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, expected: str
) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(config)
    state = write(tmp_path / "state.json", GOOD)
    code, out, err = run(capsys, str(state), "--policy-pack-config", str(config_file), "--report", str(tmp_path / "r"))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert expected in err


def test_a_usage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["state.json", "--reprot", "x"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: unrecognized arguments: --reprot x (see --help)\n"


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for code, meaning in policy_eval.EXIT_CODES.items():
        assert f"{code} {meaning}" in text
    assert "--policy-pack-config" in text
    assert "--report" in text


def test_an_internal_error_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, workers: int | None = None) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(policy_eval._Evaluator, "run", broken)
    state = write(tmp_path / "state.json", GOOD)
    code, out, err = run(capsys, str(state), "--report", str(tmp_path / "r.json"))
    assert (code, out) == (3, "")
    assert err == (f"internal error: KeyError: 'bug' (auditing {state}; run again with --traceback for the details)\n")


# --- exit codes, report, summary ---------------------------------------------------------------


def test_mandatory_violations_exit_1_and_advisory_ones_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "state.json", export(privileged_program()))
    assert run(capsys, str(path), "--report", str(tmp_path / "r.json"))[0] == 1
    config = tmp_path / "config.json"
    config.write_text(json.dumps({PRIVILEGED: "advisory"}))
    code, out, _ = run(capsys, str(path), "--policy-pack-config", str(config), "--report", str(tmp_path / "r.json"))
    assert code == 0
    assert "violations: 0 mandatory, 1 advisory (0 drift, 0 declared);" in out.splitlines()[-1]


def test_the_report_goes_to_build_audit_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(policy_eval, "DEFAULT_REPORT_DIR", tmp_path / "build" / "audit")
    assert (
        policy_eval.default_report_path("/x/prod.json", "production")
        == tmp_path / "build/audit/production.policy-report.json"
    )
    assert policy_eval.default_report_path("/x/new.json") == tmp_path / "build/audit/new.policy-report.json"
    assert policy_eval.default_report_path("/dev/stdin") == tmp_path / "build/audit/stdin.policy-report.json"
    path = write(tmp_path / "prod.json", export(privileged_program()))
    code, out, _ = run(capsys, str(path))
    report = tmp_path / "build" / "audit" / "production.policy-report.json"
    assert code == 1
    assert out.splitlines()[-1].endswith(f"; report: {report}")
    document = json.loads(report.read_text())
    assert document["summary"]["mandatory"] == 1
    (violation,) = document["violations"]
    assert violation["policyName"] == PRIVILEGED
    assert violation["urn"] == of_type(program_resources(), DEPLOYMENT)["urn"]
    assert violation["resourceType"] == DEPLOYMENT


def test_a_report_path_that_is_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(write(tmp_path / "s.json", GOOD)), "--report", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"error: --report {tmp_path}: a directory; give the report's file name\n"


# --- failing closed ----------------------------------------------------------------------------


def test_a_plaintext_secret_in_the_state_is_a_mandatory_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = program_resources()
    secret = of_type(resources, SECRET)
    secret["inputs"]["stringData"] = {"NEXTAUTH_SECRET": "in plain text"}
    code, out, _ = run(capsys, str(write(tmp_path / "s.json", export(resources))), "--report", str(tmp_path / "r"))
    assert code == 1
    assert "- [mandatory]  kubernetes-secret-data-secret  (kubernetes:core/v1:Secret: hft-frontend-secret)" in out
    assert "The state holds stringData as this remediation would not leave them" in out


def test_the_previews_withheld_secrets_are_known_values() -> None:
    # build/<stack>/stack.json holds each secret as a ciphertext placeholder: secret, so not unknown.
    secret = of_type(program_resources(), SECRET)
    assert secret["inputs"]["stringData"][SIG] == SECRET_SIG
    assert audit(export(program_resources())).violations == []


def unknown_privileged(*sides: str) -> list[dict[str, Any]]:
    resources = program_resources()
    for side in sides or ("inputs", "outputs"):
        container = of_type(resources, DEPLOYMENT)[side]["spec"]["template"]["spec"]["containers"][0]
        container["securityContext"]["privileged"] = UNKNOWN
    return resources


@pytest.mark.parametrize(
    ("sides", "finding"),
    [(("inputs", "outputs"), "violation"), (("outputs",), "drift"), (("inputs",), "declared")],
)
def test_an_unknown_value_a_policy_reads_is_a_violation_at_the_resource(sides: tuple[str, ...], finding: str) -> None:
    # Fails closed on either side: judging the outputs, an unknown in the inputs alone is a declared finding.
    violations = audit(export(unknown_privileged(*sides))).violations
    assert [(v.policy_name, v.enforcement_level, v.resource_type, v.finding) for v in violations] == [
        (PRIVILEGED, "mandatory", DEPLOYMENT, finding)
    ]
    assert (
        "The state holds an unknown value at .spec.template.spec.containers.0.securityContext.privileged"
        in violations[0].message
    )
    assert "the audit fails closed" in violations[0].message


def test_an_unknown_value_takes_the_policys_configured_level() -> None:
    result = audit(export(unknown_privileged()), {PRIVILEGED: "advisory"})
    assert [(v.policy_name, v.enforcement_level) for v in result.violations] == [(PRIVILEGED, "advisory")]


def test_an_unknown_value_no_policy_reads_is_no_violation() -> None:
    resources = program_resources()
    of_type(resources, DEPLOYMENT)["inputs"]["metadata"]["annotations"] = {"deployed-by": UNKNOWN}
    (service,) = [r for r in resources if r["urn"].endswith("kubernetes:core/v1:Service::hft-frontend-service")]
    service["outputs"]["spec"]["clusterIP"] = UNKNOWN
    assert audit(export(resources)).violations == []


def test_in_a_preview_the_same_unknown_only_says_the_policy_cannot_run() -> None:
    deployment = rendered(DEPLOYMENT, "hft-frontend-deployment")
    deployment.inputs["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = UNKNOWN
    (violation,) = [v for v in evaluate(deployment) if v.policy_name == PRIVILEGED]
    assert violation.enforcement_level == "advisory"
    assert "can't run policy 'pss-baseline-privileged'" in violation.message
    assert "during preview" in violation.message


def test_an_unknown_value_a_stack_policy_reads_is_a_violation_at_the_resource_holding_it() -> None:
    bucket = resource("aws:s3/bucket:Bucket", "logs", {"bucket": "logs", "id": "logs"})
    flags = {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    block = resource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "logs-public-access",
        {"bucket": "logs", **flags},
        {"bucket": "logs", **flags, "restrictPublicBuckets": UNKNOWN},
    )
    violations = [
        v for v in audit(export([STACK_RESOURCE, bucket, block])).violations if v.policy_name.startswith("s3-public")
    ]
    assert [(v.enforcement_level, v.urn) for v in violations] == [("mandatory", block["urn"])]
    assert "unknown value at .restrictPublicBuckets" in violations[0].message


# --- pending resources -------------------------------------------------------------------------


def test_pending_deletes_and_operations_are_reported_apart_never_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = privileged_program()
    deployment = of_type(resources, DEPLOYMENT)
    old_copy = json.loads(json.dumps(deployment)) | {"delete": True}  # a create-before-delete replacement
    replaced = resource("kubernetes:core/v1:ConfigMap", "replaced", {"data": {}}, pendingReplacement=True)
    operation = {"resource": resource("kubernetes:core/v1:Pod", "debug", {"spec": {}}), "type": "creating"}
    importing = {"resource": resource("kubernetes:core/v1:ConfigMap", "adopted", {}), "type": "importing"}
    document = export([*resources, old_copy, replaced], pending_operations=[operation, importing])
    report = tmp_path / "report.json"
    code, out, _ = run(capsys, str(write(tmp_path / "s.json", document)), "--report", str(report))
    assert code == 1
    assert out.count(f"[mandatory]  {PRIVILEGED}") == 1
    assert (
        "Pending (not live, so not audited; `pulumi refresh` or the next `pulumi up` settles them):\n"
        "    - pending deletion  (kubernetes:apps/v1:Deployment: hft-frontend-deployment)\n"
        "    - pending replacement  (kubernetes:core/v1:ConfigMap: replaced)\n"
        "    - creating  (kubernetes:core/v1:Pod: debug)\n"
        "    - importing  (kubernetes:core/v1:ConfigMap: adopted)\n"
    ) in out
    assert f": {len(resources)} resources checked (" in out
    assert "2 pending deletes and 2 pending operations reported apart" in out.splitlines()[-1]
    document = json.loads(report.read_text())
    assert document["summary"]["resources"] == len(resources)
    assert (document["summary"]["pendingDeletes"], document["summary"]["pendingOperations"]) == (2, 2)
    assert [p["state"] for p in document["pending"]] == [
        "pending deletion",
        "pending replacement",
        "creating",
        "importing",
    ]


# --- values the state holds --------------------------------------------------------------------


def test_numbers_json_reads_as_infinite_are_no_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(export([STACK_RESOURCE, resource(CONFIG_MAP, "x", {"data": {}})])).replace(
        '"data": {}', '"n": 1e400, "m": NaN'
    )
    path = tmp_path / "inf.json"
    path.write_text(text)
    code, _, err = run(capsys, str(path), "--report", str(tmp_path / "r.json"))
    assert (code, err) == (0, "")  # a verdict, not a crash in the servicer


def test_byte_strings_floats_assets_and_resource_references_reach_the_policies_as_the_engine_sends_them() -> None:
    resources = program_resources()
    deployment = of_type(resources, DEPLOYMENT)
    container = deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = {SIG: "803fd3297a5875dc03ca845dda5d2a98", "value": "Z2hjci5pby9vcmcvYXBwOmxhdGVzdA=="}
    deployment["inputs"]["spec"]["minReadySeconds"] = {
        SIG: "8ad145fe-0d11-4827-bfd7-1abcbf086f5c",
        "value": "7ff8000000000001",
    }
    deployment["inputs"]["metadata"]["labels"]["ref"] = {
        SIG: "5cf8f73096256a8f31e491e813e4eb8e",
        "urn": "urn:x",
        "id": "abc",
    }
    deployment["inputs"]["asset"] = {SIG: "c44067f5952c0a294b673a41bacd8c17", "hash": "0f"}
    (violation,) = audit(export(resources, version=4, features=["byteString"])).violations
    assert violation.policy_name == "workload-image-pinned"
    assert 'image "ghcr.io/org/app:latest" uses the tag latest' in violation.message


def test_a_large_state_audited_by_workers_gets_one_process_verdicts_in_order() -> None:
    base = export(program_resources())
    state = generated_state(base, policy_eval.PARALLEL_FROM + 50)
    resources = state["deployment"]["resources"]
    assert len(resources) == policy_eval.PARALLEL_FROM + 50
    assert len({r["urn"] for r in resources}) == len(resources)
    deployments = [r for r in resources if r["type"] == DEPLOYMENT]
    for index in (0, len(deployments) // 2, -1):  # early, middle and late, so every worker has one
        container = deployments[index]["inputs"]["spec"]["template"]["spec"]["containers"][0]
        container["securityContext"]["privileged"] = True
    resources.append(json.loads(json.dumps(deployments[1])) | {"delete": True})
    alone = audit(state, workers=1)
    together = audit(state, workers=2)
    assert together.evaluation == alone.evaluation
    assert [v.urn for v in alone.violations if v.policy_name == PRIVILEGED] == [
        deployments[i]["urn"] for i in (0, len(deployments) // 2, -1)
    ]


# --- make audit --------------------------------------------------------------------------------


def make_audit(*variables: str, stdin: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    with open(stdin or os.devnull, "rb") as source:
        return subprocess.run(
            ["make", "--no-print-directory", "-C", str(PROJECT_DIR), "audit", *variables],
            stdin=source,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )


def test_make_audit_takes_paths_with_spaces_and_says_why_it_failed(tmp_path: Path) -> None:
    directory = tmp_path / "it's a state dir"
    directory.mkdir()
    state = write(directory / "prod state.json", export(privileged_program()))
    report = directory / "the report.json"
    done = make_audit(f"FILE={state}", f"REPORT={report}")
    assert done.returncode == 2, done.stderr  # make's own code when the recipe fails
    assert "make audit: mandatory policy violations (the audit exited 1)" in done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"Audit of {state} (stack production")
    assert json.loads(report.read_text())["summary"]["mandatory"] == 1


def test_make_audit_reads_standard_input_and_names_an_unusable_input(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", export(program_resources()))
    report = tmp_path / "report.json"
    done = make_audit("FILE=/dev/stdin", f"REPORT={report}", stdin=good)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("Audit of standard input (stack production")

    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    done = make_audit("FILE=/dev/stdin", f"REPORT={report}", stdin=bad)
    assert done.returncode == 2
    assert done.stderr.splitlines()[:2] == [
        f"error: standard input: a JSON array, not a Pulumi state; {EXPECTED}",
        "make audit: the state, the config or an option could not be used (the audit exited 2)",
    ]

    done = make_audit()
    assert done.returncode == 2
    assert done.stderr.startswith("usage: make audit FILE=<state file, or /dev/stdin>")
