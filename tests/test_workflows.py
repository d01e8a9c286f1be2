"""The GitHub workflows (.github/workflows) and Dependabot's configuration: valid against GitHub's
schemas (check-jsonschema's vendored copies), free of zizmor findings of medium severity or more
(offline audits), and holding the properties docs/deploying.md promises: a fork-safe pull-request job with no
secret and no write permission; the real preview only where OIDC and secrets exist, in a `preview-<stack>`
environment whose identities cannot write (each role trusting one environment's subject,
tools/github_oidc_trust.py); production after
staging, the smoke test and an approval; OIDC and a never-cancelled concurrency group per stack for every
job that touches a stack; every action pinned by commit SHA with its version; an image flow that opens
a pull request and never pastes its input into a script; a scheduled drift check; a rollback of production
alone, behind its approval and policy pack, that records itself in a pull request."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.iam import trust_policy_findings
from tests.support.stacks import PROJECT_DIR, STACKS
from tools import github_oidc_trust
from tools.github_oidc_trust import ROLES, environment, trust_policy

GITHUB = PROJECT_DIR / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
PINNED_USES = re.compile(
    r"^\s*-?\s*uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # v(?P<version>\d+\.\d+\.\d+)\s*$"
)


@cache
def workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((GITHUB / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def jobs(name: str) -> dict[str, dict[str, Any]]:
    return workflow(name)["jobs"]


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOWS:
        for job_id, job in jobs(path.name).items():
            yield path.name, job_id, job


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).split("@")[0] == action]


def resolved(value: Any, name: str) -> str:
    """`${{ env.X }}` resolved against the workflow's env (the only expression the pins use)."""
    match = re.fullmatch(r"\$\{\{\s*env\.(\w+)\s*\}\}", str(value))
    return str(workflow(name)["env"][match.group(1)]) if match else str(value)


def pulumi_steps(name: str, job: dict[str, Any]) -> list[dict[str, Any]]:
    return steps_using(job, "pulumi/actions")


def test_there_are_the_workflows_the_readme_describes() -> None:
    assert {p.name for p in WORKFLOWS} == {
        "pull-request.yml",
        "deploy.yml",
        "drift.yml",
        "image-tag.yml",
        "rollback.yml",
    }


# --- schemas and audits --------------------------------------------------------------------------


def test_every_workflow_and_the_dependabot_config_are_valid_for_github() -> None:
    for schema, files in (
        ("vendor.github-workflows", [str(p) for p in WORKFLOWS]),
        ("vendor.dependabot", [str(GITHUB / "dependabot.yml")]),
    ):
        result = subprocess.run(
            [str(BIN / "check-jsonschema"), "--builtin-schema", schema, *files], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: true\n        bogus: 1\n"
    )
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "bogus" in result.stdout


def _zizmor(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--format", "json-v1", "--no-exit-codes", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _serious(findings: list[dict[str, Any]]) -> list[str]:
    return [
        f"{f['ident']}: {f['desc']} ({f['locations'][0]['symbolic']['key']})"
        for f in findings
        if not f["ignored"] and f["determinations"]["severity"] in ("Medium", "High")
    ]


def test_zizmor_finds_nothing_of_medium_severity_or_more() -> None:
    assert _serious(_zizmor(GITHUB)) == []


def test_zizmor_does_find_the_classic_mistakes(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    found = {s.split(":")[0] for s in _serious(_zizmor(tmp_path))}
    assert {"dangerous-triggers", "template-injection", "unpinned-uses", "artipacked"} <= found


def test_any_zizmor_exception_says_why() -> None:
    # An ignore or a disabled audit in zizmor's config must carry its reason as a comment on its line.
    for config in [GITHUB / "zizmor.yml", GITHUB / "zizmor.yaml", PROJECT_DIR / "zizmor.yml"]:
        if config.exists():
            for line in config.read_text().splitlines():
                if re.match(r"^\s*(-\s|disable:)", line):
                    assert "#" in line, f"{config.name}: {line.strip()} has no reason"
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "zizmor: ignore" in line:
                assert re.search(r"zizmor: ignore\[[\w,-]+\]\s+\S", line), f"{path.name}: {line.strip()}"


# --- pins ----------------------------------------------------------------------------------------


def test_every_action_is_pinned_by_commit_sha_with_its_version() -> None:
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if re.match(r"^\s*-?\s*uses:", line):
                assert PINNED_USES.match(line), f"{path.name}: {line.strip()}"


def test_the_pulumi_cli_is_pinned_and_not_older_than_the_sdk() -> None:
    sdk = re.search(r"^pulumi==(\d+\.\d+\.\d+)", (PROJECT_DIR / "requirements.txt").read_text(), re.MULTILINE)
    assert sdk is not None
    for name, _, job in all_jobs():
        for step in pulumi_steps(name, job):
            cli = resolved(step["with"]["pulumi-version"], name)
            assert SEMVER.match(cli), f"{name}: pulumi-version {cli} is not one exact version"
            assert tuple(map(int, cli.split("."))) >= tuple(map(int, sdk.group(1).split("."))), (name, cli)


def test_pulumi_actions_is_v6_or_later() -> None:
    for path in WORKFLOWS:
        for match in filter(None, map(PINNED_USES.match, path.read_text().splitlines())):
            if match.group("action") == "pulumi/actions":
                assert int(match.group("version").split(".")[0]) >= 6


# --- the pull-request checks ---------------------------------------------------------------------


def test_nothing_runs_on_pull_request_target() -> None:
    for path in WORKFLOWS:
        assert "pull_request_target" not in workflow(path.name)["on"], path.name
        assert "workflow_run" not in workflow(path.name)["on"], path.name


def test_the_fork_safe_checks_hold_no_secret_and_no_write_permission() -> None:
    pr = workflow("pull-request.yml")
    assert "pull_request" in pr["on"]
    assert pr["permissions"] == {}
    checks = jobs("pull-request.yml")["checks"]
    assert checks["permissions"] == {"contents": "read"}
    assert "if" not in checks
    assert "environment" not in checks
    text = json.dumps(checks)
    assert "secrets." not in text
    assert "id-token" not in text
    assert "github.token" not in text
    runs = "\n".join(s.get("run", "") for s in checks["steps"])
    assert "make test" in runs
    assert "make preview" in runs
    assert "make diff BASE=" in runs
    assert "$GITHUB_STEP_SUMMARY" in runs
    [upload] = steps_using(checks, "actions/upload-artifact")
    assert upload["with"]["path"] == "build/plan-diff.md"


def test_the_real_preview_runs_only_where_secrets_exist() -> None:
    preview = jobs("pull-request.yml")["preview"]
    condition = preview["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition  # not a fork
    assert "!= 'dependabot[bot]'" in condition  # Dependabot's runs get a fork's permissions
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    [step] = pulumi_steps("pull-request.yml", preview)
    assert step["with"]["command"] == "preview"
    assert step["with"]["diff"] is True
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policies"
    assert set(preview["strategy"]["matrix"]["stack"]) == set(STACKS)
    assert "secrets." not in json.dumps(preview)


# --- pull-request previews hold no deploy power (docs/production-hardening.md) ---------------------


def matrix_stacks(job: dict[str, Any]) -> list[str | None]:
    matrix = job.get("strategy", {}).get("matrix", {})
    return list(matrix.get("stack", [])) or [entry["stack"] for entry in matrix.get("include", [])] or [None]


def environments(job: dict[str, Any]) -> dict[str | None, str | None]:
    """The job's environment name for each stack of its matrix (None: no environment)."""
    declared = job.get("environment")
    name = declared["name"] if isinstance(declared, dict) else declared
    return {
        stack: None if name is None else str(name).replace("${{ matrix.stack }}", str(stack))
        for stack in matrix_stacks(job)
    }


def variable(value: str) -> str:
    match = re.fullmatch(r"\$\{\{\s*vars\.(\w+)\s*\}\}(\s*#.*)?", value.strip())
    assert match, value
    return match.group(1)


def assumed_roles() -> Iterator[tuple[str, str, str | None, str]]:
    """(workflow, job, environment, variable holding the role ARN) for every role a job assumes."""
    for name, job_id, job in all_jobs():
        for step in steps_using(job, "aws-actions/configure-aws-credentials"):
            for env in environments(job).values():
                yield name, job_id, env, variable(step["with"]["role-to-assume"])


def test_each_stack_previews_in_its_own_preview_environment() -> None:
    preview = jobs("pull-request.yml")["preview"]
    assert environments(preview) == {stack: f"preview-{stack}" for stack in STACKS}
    # The preview never borrows a deploy or drift environment (their secrets, their roles' subjects).
    for stack in STACKS:
        assert environments(preview)[stack] not in {stack, f"drift-{stack}"}


def test_every_assumed_role_is_the_one_its_environment_s_trust_policy_admits() -> None:
    # A role trusts exactly one environment's subject (tools/github_oidc_trust.py): each job reads the
    # role ARN from the variable of the role kind that trusts the job's own environment.
    kinds = {(kind.variable, environment(kind.name, stack)): kind for kind in ROLES.values() for stack in STACKS}
    found = list(assumed_roles())
    assert {job for _, job, _, _ in found} == {
        "preview",
        "staging",
        "staging-network-policies",
        "production",
        "drift",
        "rollback",
    }
    for name, job_id, env, var in found:
        assert env is not None, f"{name} {job_id}: a role assumed outside an environment"
        assert (var, env) in kinds, f"{name} {job_id}: {var} in environment {env} is no role's"
        if name == "pull-request.yml":
            assert not kinds[(var, env)].writes, f"{job_id}: a pull request assumes a role that writes"


def test_no_pull_request_job_names_a_deploy_identity() -> None:
    text = json.dumps(jobs("pull-request.yml"))  # what runs, not the comments
    for deploy_only in ("vars.AWS_ROLE_ARN", "vars.PULUMI_TEAM ", "vars.PULUMI_TEAM}", "secrets."):
        assert deploy_only not in text, deploy_only
    for job_id, job in jobs("pull-request.yml").items():
        for step in pulumi_steps("pull-request.yml", job):
            assert step["with"]["command"] == "preview", job_id
            assert "refresh" not in step["with"], job_id  # a refresh writes the state
        for auth in steps_using(job, "pulumi/auth-actions"):
            assert auth["with"]["scope"].split("#")[0].strip() == "team:${{ vars.PULUMI_PREVIEW_TEAM }}", job_id
        assert set(environments(job).values()) <= {None} | {f"preview-{stack}" for stack in STACKS}, job_id


def test_the_deploy_and_preview_subjects_never_coincide() -> None:
    repository = "octo-org/hft-frontend-infra"
    subjects: dict[str, str] = {}
    for kind in ROLES.values():
        for stack in STACKS:
            document = trust_policy("123456789012", repository, kind.name, stack)
            (statement,) = document["Statement"]
            condition = statement["Condition"]["StringEquals"]
            expected = f"repo:{repository}:environment:{environment(kind.name, stack)}"
            assert condition == {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": expected,
            }
            assert "StringLike" not in statement["Condition"]  # no wildcard subject
            assert trust_policy_findings(document) == []
            subjects[f"{kind.name}:{stack}"] = condition["token.actions.githubusercontent.com:sub"]
    assert len(set(subjects.values())) == len(subjects), subjects
    assert subjects["preview:production"].endswith(":environment:preview-production")
    assert subjects["deploy:production"].endswith(":environment:production")


def test_the_trust_policy_tool_refuses_bad_input_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--account", "123456789012", "--role", "deploy", "--stack", "production"]
    assert github_oidc_trust.main(["--repository", "octo-org/hft", *args]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == trust_policy("123456789012", "octo-org/hft", "deploy", "production")
    assert github_oidc_trust.main(["--repository", "octo-org/*", *args]) == 2
    assert capsys.readouterr().err.strip() == "error: 'octo-org/*' is not <owner>/<repo>"


# --- jobs that touch a stack ---------------------------------------------------------------------


def stack_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, job_id, job in all_jobs():
        if name != "pull-request.yml" and pulumi_steps(name, job):
            yield name, job_id, job


def test_every_deploy_and_drift_job_uses_oidc_and_a_never_cancelled_group_per_stack() -> None:
    found = list(stack_jobs())
    assert {(n, j) for n, j, _ in found} == {
        ("deploy.yml", "staging"),
        ("deploy.yml", "production"),
        ("drift.yml", "drift"),
        ("rollback.yml", "rollback"),
    }
    for name, job_id, job in found:
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, (name, job_id)
        [aws] = steps_using(job, "aws-actions/configure-aws-credentials")
        assert aws["with"]["role-to-assume"].startswith("${{ vars."), (name, job_id)
        assert not {"aws-access-key-id", "aws-secret-access-key"} & aws["with"].keys()
        [pulumi_auth] = steps_using(job, "pulumi/auth-actions")
        assert pulumi_auth["with"]["requested-token-type"].startswith("urn:pulumi:token-type:access_token:")
        concurrency = job["concurrency"]
        assert concurrency["cancel-in-progress"] is False, (name, job_id)
        assert concurrency["queue"] == "max", (name, job_id)  # a pending update is queued, not replaced
        [step] = pulumi_steps(name, job)
        stack = step["with"]["stack-name"].rsplit("/", 1)[1]
        assert concurrency["group"] == f"pulumi-{stack}", (name, job_id)
        assert step["with"]["stack-name"] == f"${{{{ vars.PULUMI_ORG }}}}/hft-frontend/{stack}"
        assert job["timeout-minutes"] >= 30  # long enough that a timeout does not kill an update midway


def test_no_long_lived_cloud_keys_and_secrets_only_in_environments() -> None:
    for name, job_id, job in all_jobs():
        text = json.dumps(job)
        assert "AWS_ACCESS_KEY_ID" not in text
        assert "aws-access-key-id" not in text
        secrets = set(re.findall(r"secrets\.(\w+)", text))
        if secrets:
            assert "environment" in job, f"{name} {job_id} uses {secrets} outside an environment"
            assert secrets == {"CLOUDFLARE_API_TOKEN"}, (name, job_id, secrets)


def test_deploys_go_staging_then_smoke_test_then_production_behind_its_environment() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    staging, smoke, production = (jobs("deploy.yml")[j] for j in ("staging", "smoke-test", "production"))
    assert staging["if"] == "github.ref == 'refs/heads/main'"  # a dispatch from another branch deploys nothing
    assert staging["environment"]["name"] == "staging"
    assert [s["with"]["command"] for s in pulumi_steps("deploy.yml", staging)] == ["up"]
    assert smoke["needs"] == "staging"
    [check] = [s["run"] for s in smoke["steps"] if "run" in s]
    assert 'tools/smoke_test.py --url "https://$HOST"' in check
    assert [s["env"]["HOST"] for s in smoke["steps"] if "run" in s] == ["${{ needs.staging.outputs.host }}"]
    assert set(production["needs"]) == {"staging", "smoke-test", "staging-network-policies"}
    assert production["environment"]["name"] == "production"
    assert [s["with"]["command"] for s in pulumi_steps("deploy.yml", production)] == ["up"]
    assert all(s["with"]["policyPacks"] == "policies" for s in pulumi_steps("deploy.yml", production))


def test_each_stack_proves_its_network_policies_after_its_smoke_test() -> None:
    deploy = jobs("deploy.yml")
    staging, probe, production = deploy["staging"], deploy["staging-network-policies"], deploy["production"]
    # staging: its own job, after the smoke test job, in the staging environment (its role, its cluster)
    assert set(probe["needs"]) == {"staging", "smoke-test"}
    assert probe["environment"] == "staging"
    assert probe["permissions"] == {"contents": "read", "id-token": "write"}
    [run] = [s for s in probe["steps"] if "netpol_probe" in s.get("run", "")]
    assert run["env"] == {
        "NAMESPACE": "${{ needs.staging.outputs.namespace }}",
        "SERVICE": "${{ needs.staging.outputs.service }}",
        "PORT": "${{ needs.staging.outputs.port }}",
    }
    # The staging job hands on the stack's outputs, as pulumi/actions sets them on its step.
    [up] = pulumi_steps("deploy.yml", staging)
    assert staging["outputs"]["namespace"] == f"${{{{ steps.{up['id']}.outputs.namespace }}}}"
    assert staging["outputs"]["service"] == f"${{{{ steps.{up['id']}.outputs.serviceName }}}}"
    assert staging["outputs"]["port"] == f"${{{{ steps.{up['id']}.outputs.servicePort }}}}"
    # production: after its update, a smoke test of its host, then the probe, in that order
    steps = production["steps"]
    [up] = pulumi_steps("deploy.yml", production)
    order = [
        i
        for i, s in enumerate(steps)
        if s is up or "smoke_test.py" in s.get("run", "") or "netpol_probe" in s.get("run", "")
    ]
    assert [("up" if steps[i] is up else steps[i]["run"].split()[1]) for i in order] == [
        "up",
        "tools/smoke_test.py",
        "tools/netpol_probe.py",
    ]
    assert steps[order[1]]["env"]["HOST"] == "${{ steps.host.outputs.host }}"
    assert steps[order[2]]["env"]["SERVICE"] == f"${{{{ steps.{up['id']}.outputs.serviceName }}}}"
    for step in (run, steps[order[2]]):
        assert (
            step["run"] == 'python3 tools/netpol_probe.py --namespace "$NAMESPACE" --service "$SERVICE" --port "$PORT"'
        )
    # the outputs the steps read are the program's stack outputs
    main = (PROJECT_DIR / "__main__.py").read_text()
    for output in ("namespace", "serviceName", "servicePort"):
        assert f'pulumi.export("{output}",' in main


def test_the_smoke_test_targets_the_staging_host_of_the_stack_file() -> None:
    staging = jobs("deploy.yml")["staging"]
    [host] = [s for s in staging["steps"] if s.get("id") == "host"]
    assert "tools.smoke_test --stack staging --print-host" in host["run"]
    assert staging["outputs"]["host"] == "${{ steps.host.outputs.host }}"
    hostnames = yaml.safe_load((PROJECT_DIR / "Pulumi.staging.yaml").read_text())["config"]["hft-frontend:app"]
    assert hostnames["hostnames"][0] == "staging.hft-platform.com"


def test_the_drift_check_runs_on_a_schedule_for_every_stack() -> None:
    drift = workflow("drift.yml")
    [schedule] = drift["on"]["schedule"]
    assert len(schedule["cron"].split()) == 5
    job = jobs("drift.yml")["drift"]
    assert set(job["strategy"]["matrix"]["stack"]) == set(STACKS)
    [step] = pulumi_steps("drift.yml", job)
    assert step["with"]["command"] == "preview"
    assert step["with"]["refresh"] is True
    assert step["with"]["expect-no-changes"] is True
    assert step["with"]["comment-on-summary"] is True  # says what drifted
    assert job["environment"] == "drift-${{ matrix.stack }}"


# --- the image tag -------------------------------------------------------------------------------


def test_the_image_flow_validates_through_env_and_opens_a_pull_request() -> None:
    image = workflow("image-tag.yml")
    inputs = image["on"]["workflow_dispatch"]["inputs"]
    assert inputs["image"]["required"] is True
    job = jobs("image-tag.yml")["propose"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    [validate] = [s for s in job["steps"] if s.get("id") == "set"]
    assert validate["env"]["IMAGE"] == "${{ inputs.image }}"
    assert 'tools.set_image --image "$IMAGE"' in validate["run"]
    [create] = steps_using(job, "peter-evans/create-pull-request")
    assert create["with"]["add-paths"] == "Pulumi.*.yaml"
    assert "${{ steps.set.outputs.image }}" in create["with"]["body"]  # the validated value, not the input
    assert "inputs." not in json.dumps(create)


def test_no_script_has_an_expression_pasted_into_it_and_none_edits_yaml_with_sed() -> None:
    for name, job_id, job in all_jobs():
        for step in job.get("steps", []):
            script = step.get("run", "")
            assert "${{" not in script, f"{name} {job_id}: {script.splitlines()[0]}"
            assert not re.search(r"\bsed\b", script), f"{name} {job_id}: {script.splitlines()[0]}"


def test_every_checkout_drops_its_credentials() -> None:
    for name, job_id, job in all_jobs():
        for step in steps_using(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False, (name, job_id)


# --- the rollback --------------------------------------------------------------------------------


def _step(job: dict[str, Any], step_id: str) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if s.get("id") == step_id]
    return step


def test_the_rollback_is_dispatched_by_hand_and_runs_in_the_production_environment() -> None:
    rollback = workflow("rollback.yml")
    assert set(rollback["on"]) == {"workflow_dispatch"}
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"image", "ref"}
    job = jobs("rollback.yml")["rollback"]
    assert job["if"] == "github.ref == 'refs/heads/main'"
    # The environment holds the approval, the deploy role's OIDC subject and the Cloudflare token.
    assert job["environment"]["name"] == "production"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    # The input is validated first, by a job that can reach nothing but the repository, so a bad input fails
    # before anyone is asked to approve.
    validate = jobs("rollback.yml")["validate"]
    assert job["needs"] == "validate"
    assert validate["if"] == job["if"]
    assert validate["permissions"] == {"contents": "read"}
    assert "environment" not in validate


def test_the_rollback_changes_the_production_stack_only() -> None:
    stack_steps = [
        (job_id, step) for job_id, job in jobs("rollback.yml").items() for step in pulumi_steps("rollback.yml", job)
    ]
    assert [(j, s["with"]["command"], s["with"]["stack-name"]) for j, s in stack_steps] == [
        ("rollback", "up", "${{ vars.PULUMI_ORG }}/hft-frontend/production")
    ]
    # Every stack file the workflow's scripts edit or read is production's.
    for job_id, job in jobs("rollback.yml").items():
        for step in job["steps"]:
            for stack in re.findall(r"--stack[ =](\S+)", step.get("run", "")):
                assert stack == "production", (job_id, step.get("name"))
    for job_id in ("validate", "rollback", "record"):
        assert "--stack production" in _step(jobs("rollback.yml")[job_id], "set")["run"], job_id


def test_the_rollback_gets_the_access_and_applies_the_policy_pack_as_the_production_deploy_does() -> None:
    rollback, deploy = jobs("rollback.yml")["rollback"], jobs("deploy.yml")["production"]
    for action in ("aws-actions/configure-aws-credentials", "pulumi/auth-actions"):
        [mine], [theirs] = steps_using(rollback, action), steps_using(deploy, action)
        assert {k: v for k, v in mine["with"].items() if k != "role-session-name"} == {
            k: v for k, v in theirs["with"].items() if k != "role-session-name"
        }, action
    [kube] = [s for s in rollback["steps"] if "update-kubeconfig" in s.get("run", "")]
    [deploy_kube] = [s for s in deploy["steps"] if "update-kubeconfig" in s.get("run", "")]
    assert (kube["run"], kube["env"]) == (deploy_kube["run"], deploy_kube["env"])  # the cluster deploy.yml names
    [mine] = pulumi_steps("rollback.yml", rollback)
    [theirs] = pulumi_steps("deploy.yml", deploy)
    assert mine["with"]["policyPacks"] == "policies"
    policy = {k: v for k, v in mine["with"].items() if k.startswith("policyPack")}
    assert policy == {k: v for k, v in theirs["with"].items() if k.startswith("policyPack")}
    assert mine["with"]["pulumi-version"] == theirs["with"]["pulumi-version"]
    assert mine["env"] == theirs["env"] == {"CLOUDFLARE_API_TOKEN": "${{ secrets.CLOUDFLARE_API_TOKEN }}"}


def test_the_rollback_waits_in_the_production_deploys_concurrency_group() -> None:
    rollback, deploy = jobs("rollback.yml")["rollback"], jobs("deploy.yml")["production"]
    assert rollback["concurrency"] == deploy["concurrency"]
    assert rollback["concurrency"]["cancel-in-progress"] is False
    assert "concurrency" not in workflow("rollback.yml")  # a workflow-level group would not be the deploy's


def test_the_rollback_inputs_reach_the_tool_only_through_env() -> None:
    validate = _step(jobs("rollback.yml")["validate"], "set")
    assert validate["env"] == {"IMAGE": "${{ inputs.image }}", "REF": "${{ inputs.ref }}"}
    assert '"--image=$IMAGE"' in validate["run"]
    assert '"--from-ref=$REF"' in validate["run"]
    assert "tools.set_image" in validate["run"]
    # No other place of the workflow reads an input.
    for job_id, other in jobs("rollback.yml").items():
        for step in other["steps"]:
            if step is not validate:
                assert "inputs." not in json.dumps(step), (job_id, step.get("name"))
        assert "inputs." not in json.dumps({k: v for k, v in other.items() if k != "steps"}), job_id
    # The update applies the validated value, set before it runs.
    job = jobs("rollback.yml")["rollback"]
    assert _step(job, "set")["env"] == {"IMAGE": "${{ needs.validate.outputs.image }}"}
    assert jobs("rollback.yml")["validate"]["outputs"]["image"] == "${{ steps.set.outputs.image }}"
    assert 'tools.set_image --image "$IMAGE"' in _step(job, "set")["run"]
    names = [s.get("id") or str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
    assert names.index("set") < names.index("pulumi/actions")


def test_the_rollback_smoke_tests_production() -> None:
    rollback, smoke = jobs("rollback.yml")["rollback"], jobs("rollback.yml")["smoke-test"]
    assert "tools.smoke_test --stack production --print-host" in _step(rollback, "host")["run"]
    assert rollback["outputs"]["host"] == "${{ steps.host.outputs.host }}"
    assert smoke["needs"] == "rollback"
    assert smoke["permissions"] == {"contents": "read"}
    [check] = [s for s in smoke["steps"] if "run" in s]
    assert 'tools/smoke_test.py --url "https://$HOST"' in check["run"]
    assert check["env"]["HOST"] == "${{ needs.rollback.outputs.host }}"


def test_the_rollback_opens_the_pull_request_that_records_it() -> None:
    record = jobs("rollback.yml")["record"]
    assert set(record["needs"]) == {"validate", "rollback", "smoke-test"}
    # Recorded whenever production was changed, whatever the smoke test said.
    assert "needs.rollback.result == 'success'" in record["if"]
    assert "!cancelled()" in record["if"]
    assert record["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert "environment" not in record  # no stack access, no secret
    validate = _step(record, "set")
    assert validate["env"] == {"IMAGE": "${{ needs.rollback.outputs.image }}"}  # the value the rollback applied
    assert jobs("rollback.yml")["rollback"]["outputs"]["image"] == "${{ steps.set.outputs.image }}"
    [create] = steps_using(record, "peter-evans/create-pull-request")
    assert create["with"]["add-paths"] == "Pulumi.production.yaml"
    body = create["with"]["body"]
    assert "${{ steps.set.outputs.image }}" in body
    assert "the next deploy from main re-applies" in body


def _run_validate_step(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The rollback's validation script, run by bash in a git clone of the stack files and the tools."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for stack_file in PROJECT_DIR.glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, repo / stack_file.name)
    for package in ("tools", "components"):
        shutil.copytree(PROJECT_DIR / package, repo / package, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to(sys.executable)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "Pulumi.staging.yaml", "Pulumi.production.yaml"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "stack files", "--no-verify"], cwd=repo, check=True)
    subprocess.run([*git, "tag", "before"], cwd=repo, check=True)
    for stack_file in repo.glob("Pulumi.*.yaml"):
        text = stack_file.read_text()
        stack_file.write_text(text.replace("frontend:v1.0.0", "frontend:v1.1.0"))
    subprocess.run([*git, "commit", "-q", "-am", "v1.1.0"], cwd=repo, check=True)
    output = tmp_path / "github-output"
    output.touch()
    script = _step(jobs("rollback.yml")["validate"], "set")["run"]
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=repo,
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **env},
        capture_output=True,
        text=True,
    )
    return result, repo


def _app_image(path: Path) -> str:
    return yaml.safe_load(path.read_text())["config"]["hft-frontend:app"]["image"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"IMAGE": "v0.9.0", "REF": ""}, "v0.9.0"), ({"IMAGE": "", "REF": "before"}, "v1.0.0")],
)
def test_the_rollback_step_sets_production_alone_from_an_image_or_a_ref(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result, repo = _run_validate_step(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert _app_image(repo / "Pulumi.production.yaml").endswith(f"/frontend:{expected}")
    assert _app_image(repo / "Pulumi.staging.yaml").endswith("/frontend:v1.1.0")
    assert f"version={expected}" in (tmp_path / "github-output").read_text().splitlines()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IMAGE": "v0.9.0", "REF": "before"}, "exactly one of the inputs"),
        ({"IMAGE": "", "REF": ""}, "exactly one of the inputs"),
        ({"IMAGE": "latest", "REF": ""}, "the tag latest moves"),
        ({"IMAGE": "", "REF": "--upload-pack=touch pwned"}, "not a git ref"),
        ({"IMAGE": "-h", "REF": ""}, "not a tag, a sha256 digest or an image reference"),
    ],
)
def test_the_rollback_step_refuses_bad_inputs_before_anything_changes(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result, repo = _run_validate_step(tmp_path, env)
    assert result.returncode != 0
    assert message in result.stderr
    assert _app_image(repo / "Pulumi.production.yaml").endswith("/frontend:v1.1.0")
    assert not (repo / "pwned").exists()


# --- Dependabot ----------------------------------------------------------------------------------


def test_dependabot_keeps_the_action_pins_and_the_lock_current() -> None:
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(updates) == {"github-actions", "uv"}
    assert all(u["directory"] == "/" and u["cooldown"]["default-days"] >= 1 for u in updates.values())
    # The uv updater reads only .txt and .in files: the locks must be named so, beside their .in.
    for lock in ("requirements.txt", "requirements-checkov.txt"):
        header = (PROJECT_DIR / lock).read_text().splitlines()[:2]
        assert (PROJECT_DIR / lock.replace(".txt", ".in")).is_file()
        assert "uv pip compile --generate-hashes" in header[1]
    assert not list(PROJECT_DIR.glob("requirements*.lock"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_permissions_start_from_nothing(path: Path) -> None:
    assert workflow(path.name)["permissions"] == {}, "each job asks for what it needs"
    for job_id, job in jobs(path.name).items():
        assert "permissions" in job, f"{path.name} {job_id}"
