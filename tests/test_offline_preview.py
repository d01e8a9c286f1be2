"""The offline preview's own machinery and its promises: URNs as the engine makes them, what each
provider computes, stable output, the stack file as the engine passes it, no secret in plain text in
anything it prints or writes, and `protect`/`retainOnDelete` in the exported state."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_random as random
import pytest
import yaml

from offline_preview.__main__ import write_preview
from offline_preview.engine import RecordingMonitor, Registration, Rendering, dependency_order, plain, run_program
from offline_preview.providers import NewResource, compute, registered_types
from offline_preview.providers.kubernetes import autoname
from offline_preview.render import PLACEHOLDER_NOTE, REDACTED, stack_export, write_manifests
from offline_preview.stack_config import SECRET_PLACEHOLDER
from offline_preview.urns import STACK_TYPE, engine_urn, stack_urn
from tests.support.policies import program_under_mocks
from tests.support.stacks import (
    PROJECT,
    PROJECT_DIR,
    Secret,
    engine_config,
    render,
    run_preview,
    secret_plaintexts,
    stack_values,
)

# --- URNs --------------------------------------------------------------------------------------


def test_urns_are_the_engines() -> None:
    stack = stack_urn("prod", "proj")
    assert stack == "urn:pulumi:prod::proj::pulumi:pulumi:Stack::proj-prod"
    component = engine_urn("prod", "proj", stack, "hft:index:FrontendApp", "web")
    assert component == "urn:pulumi:prod::proj::hft:index:FrontendApp::web"
    child = engine_urn("prod", "proj", component, "kubernetes:apps/v1:Deployment", "web")
    assert child == "urn:pulumi:prod::proj::hft:index:FrontendApp$kubernetes:apps/v1:Deployment::web"
    grandchild = engine_urn("prod", "proj", child, "kubernetes:core/v1:Pod", "p")
    assert grandchild == (
        "urn:pulumi:prod::proj::hft:index:FrontendApp$kubernetes:apps/v1:Deployment$kubernetes:core/v1:Pod::p"
    )


def test_the_rendered_urns_follow_the_parents() -> None:
    rendering = render("production")
    assert rendering.stack_urn == stack_urn("production", PROJECT)
    assert rendering.stack_urn in {r.urn for r in rendering.registrations}
    for reg in rendering.registrations:
        parent_type = reg.parent.split("::")[2] if reg.parent else ""
        if parent_type and parent_type != STACK_TYPE:
            assert reg.urn.split("::")[2] == f"{parent_type}${reg.type}"
        elif reg.type != STACK_TYPE:
            assert reg.urn.split("::")[2] == reg.type


def _registration(urn: str, parent: str = "", dependencies: tuple[str, ...] = ()) -> Registration:
    return Registration(
        urn=urn, type="t", name=urn, custom=True, parent=parent, inputs={}, dependencies=[*dependencies]
    )


def test_dependency_order_is_stable_and_puts_what_comes_first_first() -> None:
    regs = {
        "c": _registration("c", dependencies=("b",)),
        "b": _registration("b", parent="a"),
        "a": _registration("a"),
        "d": _registration("d"),
    }
    order = [r.urn for r in dependency_order(regs)]
    assert order == [r.urn for r in dependency_order(dict(reversed(list(regs.items()))))]
    assert order.index("a") < order.index("b") < order.index("c")


def test_protobuf_numbers_come_back_as_the_program_wrote_them() -> None:
    assert plain({"replicas": 6.0, "ratio": 0.5, "items": [1.0, "x"]}) == {
        "replicas": 6,
        "ratio": 0.5,
        "items": [1, "x"],
    }


# --- what the providers compute ------------------------------------------------------------------


def _new(type_: str, name: str, inputs: dict[str, Any], identity: str | None = None) -> NewResource:
    urn = f"urn:pulumi:s::p::{type_}::{name}"
    return NewResource(type=type_, urn=urn, identity=identity or urn, inputs=inputs, custom=True)


def test_each_provider_module_registers_its_types() -> None:
    assert {"random:index/randomPassword:RandomPassword", "tls:index/privateKey:PrivateKey"} <= set(registered_types())


def test_kubernetes_names_an_unnamed_object_and_ids_it_by_namespace() -> None:
    unnamed = _new("kubernetes:core/v1:ConfigMap", "cfg", {"metadata": {"namespace": "ns"}})
    resource_id, outputs = compute(unnamed)
    assert outputs["metadata"]["name"] == autoname(unnamed.urn, "cfg")
    assert outputs["metadata"]["name"].startswith("cfg-")
    assert resource_id == f"ns/{outputs['metadata']['name']}"
    named = _new("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "prod"}})
    assert compute(named) == ("prod", {"metadata": {"name": "prod"}})
    assert autoname("urn:a", "web") != autoname("urn:b", "web")


def test_generated_values_are_stable_follow_the_inputs_and_survive_a_rename() -> None:
    password = "random:index/randomPassword:RandomPassword"
    first = compute(_new(password, "pw", {"length": 40}))[1]["result"]
    assert len(first) == 40
    assert compute(_new(password, "pw", {"length": 40}))[1]["result"] == first
    assert compute(_new(password, "pw", {"length": 40, "keepers": {"r": "2"}}))[1]["result"] != first
    # A renamed resource with an alias to its earlier URN keeps the value it had there.
    renamed = _new(password, "new-pw", {"length": 40}, identity=f"urn:pulumi:s::p::{password}::pw")
    assert compute(renamed)[1]["result"] == first


def test_an_unregistered_type_echoes_its_inputs() -> None:
    assert compute(_new("example:index:Thing", "t", {"a": 1})) == ("t-id", {})


# --- the stack file, as the engine passes it -------------------------------------------------------


def test_the_stack_file_reaches_the_program_as_the_engine_passes_it(tmp_path: Path) -> None:
    from offline_preview.stack_config import load_stack_config

    config = stack_values("staging")
    config["hft-frontend:sentryDsn"] = {"secure": "v1:ciphertext"}
    config["kubernetes:context"] = "staging"
    # `pulumi config set --secret --path routing.tls.clusterIssuer.cloudflareApiToken ...` writes this:
    config["hft-frontend:routing"] = {"tls": {"clusterIssuer": {"cloudflareApiToken": {"secure": "v1:abc"}}}}
    (tmp_path / "Pulumi.engine.yaml").write_text(yaml.safe_dump({"config": config}))
    loaded = load_stack_config(tmp_path, "engine", PROJECT)
    assert loaded.values["hft-frontend:sentryDsn"] == SECRET_PLACEHOLDER
    assert loaded.secret_keys == {"hft-frontend:sentryDsn", "hft-frontend:routing"}
    routing = json.loads(loaded.values["hft-frontend:routing"])
    assert routing["tls"]["clusterIssuer"]["cloudflareApiToken"] == SECRET_PLACEHOLDER
    assert loaded.values["kubernetes:context"] == "staging"
    assert json.loads(loaded.values["hft-frontend:app"])["replicas"] == 2
    assert loaded.values["hft-frontend:environment"] == "staging"


def test_the_preview_output_is_the_same_on_every_run() -> None:
    config = engine_config("again", stack_values("staging"))
    first, second = run_program(PROJECT_DIR, PROJECT, config), run_program(PROJECT_DIR, PROJECT, config)
    assert json.dumps(stack_export(first)["deployment"]["resources"]) == json.dumps(
        stack_export(second)["deployment"]["resources"]
    )


# --- the command and its files -------------------------------------------------------------------


def test_the_command_writes_the_tree_manifests_state_and_verdicts(tmp_path: Path) -> None:
    result = run_preview("--stack", "staging", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "pulumi:pulumi:Stack" in result.stdout
    assert "└─ kubernetes:" in result.stdout
    assert "to create" in result.stdout
    manifests = sorted(p.name for p in (tmp_path / "manifests").glob("*.yaml"))
    assert "deployment-staging-hft-frontend.yaml" in manifests
    for path in (tmp_path / "manifests").glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        assert {"apiVersion", "kind", "metadata"} <= set(obj)
    assert json.loads((tmp_path / "stack.json").read_text())["version"] == 3
    assert json.loads((tmp_path / "policy-report.json").read_text())["summary"]["mandatory"] == 0


SENTRY_DSN = "https://feedfacecafe1234@sentry.example.com/7"


def test_no_secret_appears_in_plain_text_in_anything_the_preview_prints_or_writes(
    render_stack: Callable[..., Rendering], tmp_path: Path
) -> None:
    rendering = render_stack("production", {"hft-frontend:sentryDsn": Secret(SENTRY_DSN)})
    secrets = secret_plaintexts(rendering)
    assert SENTRY_DSN in secrets
    assert len(secrets) >= 4  # the DSN, NEXTAUTH_SECRET, the private key's PEM lines
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        assert write_preview(rendering, tmp_path) == 0
    written = {path: path.read_text() for path in tmp_path.rglob("*") if path.is_file()}
    assert {p.name for p in written} >= {"stack.json", "policy-report.json", "secret-production-frontend-secrets.yaml"}
    for secret in secrets:
        assert secret not in printed.getvalue()
        for path, text in written.items():
            assert secret not in text, f"a secret value is in {path.name}"
    # The Secret's keys stay readable; only the values are hidden.
    secret_manifest = yaml.safe_load(written[tmp_path / "manifests" / "secret-production-frontend-secrets.yaml"])
    assert secret_manifest["stringData"] == {
        "JWT_SIGNING_PRIVATE_KEY": REDACTED,
        "NEXTAUTH_SECRET": REDACTED,
        "SENTRY_DSN": REDACTED,
    }


@pytest.mark.parametrize(("protect", "retain"), [(True, True), (True, False), (False, False)])
def test_the_export_carries_protect_and_retain_on_delete(
    pulumi_mocks: RecordingMonitor, protect: bool, retain: bool
) -> None:
    def program() -> None:
        random.RandomPassword("kept", length=16, opts=pulumi.ResourceOptions(protect=protect, retain_on_delete=retain))

    rendering = program_under_mocks(pulumi_mocks, program)
    (state,) = [r for r in stack_export(rendering)["deployment"]["resources"] if r["urn"].endswith("::kept")]
    assert state["protect"] is protect
    # `pulumi stack export` writes retainOnDelete only when it is set.
    assert state.get("retainOnDelete", False) is retain


def test_manifests_are_written_afresh(tmp_path: Path) -> None:
    (tmp_path / "stale.yaml").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "stale.yaml").write_text("kind: Stale\n")
    written = write_manifests(render("staging"), tmp_path)
    assert not (tmp_path / "stale.yaml").exists()
    assert len(written) == len(list(tmp_path.glob("*.yaml")))


def test_values_the_offline_providers_made_up_are_marked_on_their_line(tmp_path: Path) -> None:
    result = run_preview("--stack", "production", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    outputs = {
        line.split(":", 1)[0].strip(): line
        for line in result.stdout.splitlines()
        if line.startswith("    ") and " : " in line
    }
    made_up = {"nameServers", "originAddress", "veleroRoleArn", "zoneId"}
    from_the_stack_file = {"backupBucket", "deploymentName", "hostnames", "namespace", "serviceName", "servicePort"}
    assert made_up | from_the_stack_file <= set(outputs)
    for key in made_up:
        assert outputs[key].endswith(PLACEHOLDER_NOTE), outputs[key]
    for key in from_the_stack_file:
        assert PLACEHOLDER_NOTE not in outputs[key], outputs[key]
    # And the stack file's own placeholders, by their path.
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: Pulumi.production.yaml: hft-frontend:backup.oidcProviderArn holds a placeholder "
        "(the AWS documentation's example account, 123456789012): set the real value before a real `pulumi up`",
        "note: Pulumi.production.yaml: hft-frontend:edge.accountId holds a placeholder (a made-up Cloudflare id, "
        "0123456789abcdef0123456789abcdef): set the real value before a real `pulumi up`",
    ]
