"""The offline preview's own machinery: URNs as the engine makes them, stable output, the stack
file as the engine passes it, and the command's files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from offline_preview.engine import Registration, dependency_order, engine_urn, kubernetes_autoname, plain, run_program
from offline_preview.render import resource_tree, stack_export
from offline_preview.stack_config import SECRET_PLACEHOLDER, load_stack_config
from tests.conftest import PROJECT, render, run_preview, stack_values


def test_urns_are_the_engines() -> None:
    stack = "urn:pulumi:prod::proj::pulumi:pulumi:Stack::proj-prod"
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
    for reg in rendering.registrations:
        parent_type = reg.parent.split("::")[2] if reg.parent else ""
        if parent_type and parent_type != "pulumi:pulumi:Stack":
            assert reg.urn.split("::")[2] == f"{parent_type}${reg.type}"
        elif reg.type != "pulumi:pulumi:Stack":
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
    reversed_regs = dict(reversed(list(regs.items())))
    order = [r.urn for r in dependency_order(regs)]
    assert order == [r.urn for r in dependency_order(reversed_regs)]
    assert order.index("a") < order.index("b") < order.index("c")


def test_the_preview_output_is_the_same_on_every_run(project_with: Callable[..., Path]) -> None:
    project = project_with("again", stack_values("staging"))
    config = load_stack_config(project, "again", PROJECT)
    first, second = run_program(project, PROJECT, config), run_program(project, PROJECT, config)
    assert resource_tree(first) == resource_tree(second)
    assert json.dumps(stack_export(first)["deployment"]["resources"]) == json.dumps(
        stack_export(second)["deployment"]["resources"]
    )


def test_protobuf_numbers_come_back_as_the_program_wrote_them() -> None:
    assert plain({"replicas": 6.0, "ratio": 0.5, "items": [1.0, "x"]}) == {
        "replicas": 6,
        "ratio": 0.5,
        "items": [1, "x"],
    }


def test_autonames_are_stable_and_distinct() -> None:
    assert kubernetes_autoname("urn:a", "web") == kubernetes_autoname("urn:a", "web")
    assert kubernetes_autoname("urn:a", "web") != kubernetes_autoname("urn:b", "web")
    assert kubernetes_autoname("urn:a", "web").startswith("web-")


def test_the_stack_file_reaches_the_program_as_the_engine_passes_it(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:sentryDsn"] = {"secure": "v1:ciphertext"}
    config["kubernetes:context"] = "staging"
    project = project_with("engine", config)
    loaded = load_stack_config(project, "engine", PROJECT)
    assert loaded.values["hft-frontend:sentryDsn"] == SECRET_PLACEHOLDER
    assert loaded.secret_keys == {"hft-frontend:sentryDsn"}
    assert loaded.values["kubernetes:context"] == "staging"
    assert json.loads(loaded.values["hft-frontend:app"])["replicas"] == 2


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
    state = json.loads((tmp_path / "stack.json").read_text())
    assert state["version"] == 3
    report = json.loads((tmp_path / "policy-report.json").read_text())
    assert report["summary"]["mandatory"] == 0
