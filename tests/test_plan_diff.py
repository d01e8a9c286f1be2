"""`make diff`: the offline plan between two revisions.

Real revision pairs: the project's files are copied into a temporary git repository, committed, and
changed one way per branch (a replica count, the namespace, a component switched off, a rotated secret,
a comment). Every revision renders once, all in one renderer process (a module fixture), and the tests
diff the pairs; one test runs the command end to end. The diff's own rules (aliases, secrets, the
replace table, the choice of interpreter) are tested on hand-made states, which cost nothing to render.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import sdk_internals
from offline_preview import plan_diff, plan_worker, revisions
from offline_preview.plan_diff import (
    MISSING,
    PropertyChange,
    ResourceChange,
    StackDiff,
    StackState,
    diff_states,
    format_markdown,
    format_text,
)
from offline_preview.replace_rules import RULES, parse_path, replace_reasons
from offline_preview.revisions import Job, Revision
from tests.support.stacks import PROJECT_DIR, render, secret_plaintexts

# One xdist worker builds the revisions once (the Makefile runs pytest with --dist loadgroup).
pytestmark = pytest.mark.xdist_group("plan-diff")

KEY = bytes(range(32))
STACK = "staging"
# The project's files, as a clone has them, less what a revision does not need to render.
NOT_COPIED = ("tests/", ".github/")


# --- real revisions ------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _copy_project(repo: Path) -> None:
    listed = _git(PROJECT_DIR, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in listed:
        source = PROJECT_DIR / name
        if not name.startswith(NOT_COPIED) and source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)


def _edit_stack(repo: Path, change: Callable[[dict[str, Any]], object]) -> None:
    path = repo / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _app(config: dict[str, Any]) -> dict[str, Any]:
    return config["hft-frontend:app"]


VARIANTS: dict[str, Callable[[Path], object]] = {
    "replicas": lambda repo: _edit_stack(repo, lambda c: _app(c).update(replicas=3)),
    "namespace": lambda repo: _edit_stack(repo, lambda c: c.update({"hft-frontend:namespace": "staging-blue"})),
    "no-observability": lambda repo: _edit_stack(
        repo, lambda c: c.update({"hft-frontend:observability": {"enabled": False}})
    ),
    "rotation": lambda repo: _edit_stack(repo, lambda c: _app(c).update(secretRotation=2)),
    "comment": lambda repo: (repo / f"Pulumi.{STACK}.yaml").write_text(
        (repo / f"Pulumi.{STACK}.yaml").read_text() + "# a reviewer's note, nothing else\n"
    ),
    "bad-image": lambda repo: _edit_stack(repo, lambda c: _app(c).update(image="ghcr.io/org/frontend:latest")),
    "bad-yaml": lambda repo: (repo / f"Pulumi.{STACK}.yaml").write_text("config: [unclosed\n"),
}


@dataclass
class Revisions:
    repo: Path
    results: dict[str, dict[str, Any]]  # revision name -> the renderer's result for the stack
    trees: dict[str, Path]

    def state(self, name: str) -> StackState:
        assert "error" not in self.results[name], self.results[name]
        return StackState.from_worker(self.results[name])

    def diff(self, name: str) -> StackDiff:
        return diff_states(self.state("base"), self.state(name), KEY, "base", name)


@pytest.fixture(scope="module")
def revs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Revisions]:
    repo = tmp_path_factory.mktemp("plan-diff-repo")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _copy_project(repo)
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--message", "base")
    _git(repo, "tag", "base")
    for name, change in VARIANTS.items():
        _git(repo, "checkout", "--quiet", "-b", name, "base")
        change(repo)
        _git(repo, "commit", "--quiet", "--all", "--message", name)
    _git(repo, "checkout", "--quiet", "replicas")  # the working tree the command-line test diffs
    names = ["base", *[n for n in VARIANTS if n != "bad-yaml"]]
    shas = {name: _git(repo, "rev-parse", name) for name in names}
    with revisions.checkout(repo, [Revision(n, s) for n, s in shas.items()]) as by_sha:
        trees = {name: by_sha[sha] for name, sha in shas.items()}
        # One renderer for every revision: the SDKs load once.
        results = revisions.render([Job(trees[n], STACK, Path(sys.executable)) for n in names], KEY)
        yield Revisions(repo, dict(zip(names, results, strict=True)), trees)


def _one(diff: StackDiff, type_suffix: str, name: str | None = None) -> ResourceChange:
    found = [r for r in diff.resources if r.type.endswith(type_suffix) and (name is None or r.name == name)]
    assert len(found) == 1, [(r.type, r.name) for r in found]
    return found[0]


def test_a_changed_replica_count_is_an_update_of_that_path(revs: Revisions) -> None:
    diff = revs.diff("replicas")
    deployment = _one(diff, ":Deployment")
    assert deployment.op == "update"
    assert PropertyChange("spec.replicas", 2, 3) in deployment.changes
    assert not deployment.reasons
    assert "~ spec.replicas: 2 => 3" in format_text(diff)
    assert {r.op for r in diff.changed} == {"update"}  # the quota grows with the peak pods; nothing is replaced


def test_a_renamed_namespace_replaces_the_namespace_and_everything_in_it(revs: Revisions) -> None:
    diff = revs.diff("namespace")
    namespace = _one(diff, ":Namespace")
    assert namespace.op == "replace"
    assert "metadata.name" in [r.path for r in namespace.reasons]
    assert PropertyChange("metadata.name", "staging", "staging-blue") in namespace.changes
    deployment = _one(diff, ":Deployment")
    assert deployment.op == "replace"
    assert [r.path for r in deployment.reasons] == ["metadata.namespace"]
    assert "pulumi-kubernetes" in deployment.reasons[0].source
    assert diff.count("create") == diff.count("delete") == 0
    assert PropertyChange("namespace", "staging", "staging-blue") in diff.outputs


def test_a_removed_component_is_deleted_with_its_children(revs: Revisions) -> None:
    diff = revs.diff("no-observability")
    deleted = {(r.type, r.name) for r in diff.resources if r.op == "delete"}
    assert ("hft:index:Observability", "observability") in deleted
    assert {t.rsplit(":", 1)[1] for t, _ in deleted} >= {"Observability", "ServiceMonitor", "PrometheusRule"}
    assert diff.count("create") == 0
    text = format_text(diff)
    assert "-  delete   hft:index:Observability  observability" in text


def test_a_rotated_secret_shows_as_a_changed_secret_and_never_its_value(revs: Revisions) -> None:
    diff = revs.diff("rotation")
    secret = _one(diff, ":Secret")
    [data] = [c for c in secret.changes if c.path == "stringData"]
    assert data.secret
    assert data.symbol == "~"
    password = _one(diff, ":RandomPassword")
    assert password.op == "replace"
    assert [r.path for r in password.reasons] == ["keepers"]
    text, markdown = format_text(diff), format_markdown([diff])
    assert "~ stringData: [secret] (changed)" in text
    assert "~ stringData: [secret] (changed)" in markdown
    # Neither the old nor the new secret values, nor the digests that stood for them, appear anywhere.
    plaintexts = secret_plaintexts(render(STACK)) | secret_plaintexts(
        render(STACK, {"hft-frontend:app": {"secretRotation": 2}})
    )
    assert plaintexts
    shown = text + markdown
    assert not [p for p in plaintexts if p in shown]
    assert "hmac-sha256" not in shown
    carried = json.dumps([revs.results["base"], revs.results["rotation"]])
    assert not [p for p in plaintexts if p in carried], "the renderer's result carries only digests"


def test_an_unchanged_tree_has_no_changes(revs: Revisions) -> None:
    diff = revs.diff("comment")
    assert not diff.has_changes
    assert not diff.renamed
    assert diff.count("same") == len(diff.resources) > 10
    assert "no changes" in format_text(diff)
    assert "`staging`: no changes" in format_markdown([diff])


def test_a_revision_that_does_not_render_says_why(revs: Revisions) -> None:
    error = revs.results["bad-image"]["error"]
    assert "latest" in error
    assert "\n" not in error


def test_each_revision_renders_with_its_own_code(revs: Revisions) -> None:
    for name in ("base", "replicas"):
        modules = revs.results[name]["modules"]
        for package in ("components", "policies", "offline_preview"):
            assert Path(modules[package]).is_relative_to(revs.trees[name]), (name, package, modules[package])


def test_the_command_diffs_base_against_the_working_tree(
    revs: Revisions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command's own path (git, the worktree, the interpreter, which result is which side), with the
    # renderer answering from the fixture's renders of the same revisions: BASE is `base`, and the
    # repository's working tree is the `replicas` branch.
    def render(jobs: list[Job], key: bytes, stop_on_error: bool = False) -> list[dict[str, Any]]:
        assert stop_on_error
        assert [job.python for job in jobs] == [Path(sys.executable)] * 2  # BASE locks what the tree locks
        base, head = jobs
        assert base.tree != revs.repo
        assert _git(base.tree, "rev-parse", "HEAD") == _git(revs.repo, "rev-parse", "base")
        assert head.tree == revs.repo
        return [revs.results["base"], revs.results["replicas"]]

    monkeypatch.setattr(revisions, "render", render)
    markdown = tmp_path / "plan.md"
    args = ["--project-dir", str(revs.repo), "--base", "base", "--stack", STACK, "--markdown", str(markdown)]
    worktrees = _git(revs.repo, "worktree", "list")
    assert plan_diff.main(args) == 0
    assert _git(revs.repo, "worktree", "list") == worktrees, "the temporary worktree is gone"
    out = capsys.readouterr().out
    assert out.startswith(f"Stack {STACK}: base (")
    assert "~ spec.replicas: 2 => 3" in out
    text = markdown.read_text()
    assert "```diff" in text
    assert "~ spec.replicas: 2 => 3" in text
    assert f"### `{STACK}`:" in text


@pytest.mark.parametrize("side", ["base", "head"])
def test_a_revision_with_two_resources_managing_one_object_is_one_line_and_exit_1(
    revs: Revisions, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], side: str
) -> None:
    # The second app added the obvious way, reduced to what matters: another resource with the same ConfigMap.
    def render(jobs: list[Job], key: bytes, stop_on_error: bool = False) -> list[dict[str, Any]]:
        results = [copy.deepcopy(revs.results["base"]), copy.deepcopy(revs.results["replicas"])]
        resources = results[0 if side == "base" else 1]["export"]["deployment"]["resources"]
        config_map = next(r for r in resources if r["type"] == "kubernetes:core/v1:ConfigMap")
        resources.append({**config_map, "urn": config_map["urn"].replace("::hft-frontend-config", "::second-config")})
        return results

    monkeypatch.setattr(revisions, "render", render)
    assert plan_diff.main(["--project-dir", str(revs.repo), "--base", "base", "--stack", STACK]) == 1
    out, err = capsys.readouterr()
    where = "BASE base (" if side == "base" else "the working tree, stack staging: "
    assert err.startswith(f"error: {where}"), err
    assert "kubernetes:core/v1:ConfigMap hft-frontend-config and kubernetes:core/v1:ConfigMap second-config" in err
    assert "would both manage ConfigMap staging/frontend-config" in err
    assert err.count("\n") == 1
    assert out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--base", "no-such-ref"), "error: BASE 'no-such-ref' is not a commit in "),
        (("--base=--output=x",), "error: BASE '--output=x' is not a commit in "),
        # A typo in STACK is the working tree's to report, with the stack it meant; not BASE's fault.
        (
            ("--base", "base", "--stack", "stagin"),
            "error: the working tree has no Pulumi.stagin.yaml (did you mean 'staging'?)",
        ),
        (
            ("--base", "base", "--stack", "qa"),
            "error: the working tree has no Pulumi.qa.yaml (stacks: production, staging)",
        ),
        (("--base", "bad-yaml", "--stack", STACK), "error: BASE bad-yaml ("),
    ],
)
def test_a_base_that_does_not_render_is_one_line_and_exit_1(
    revs: Revisions, args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan_diff.main(["--project-dir", str(revs.repo), *args]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(message), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert out == ""


def test_make_diff_needs_a_base() -> None:
    result = subprocess.run(["make", "-s", "diff"], cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "usage: make diff BASE=<git ref>" in result.stdout


# --- the diff's rules, on hand-made states -------------------------------------------------------

SECRET = {plan_worker.SIG: plan_worker.SECRET_SIG}


def _secret(plaintext: Any) -> dict[str, str]:
    return {**SECRET, "ciphertext": plan_worker.secret_digest(plaintext, KEY)}


def _urn(type_: str, name: str) -> str:
    return f"urn:pulumi:qa::proj::{type_}::{name}"


def _res(type_: str, name: str, inputs: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"urn": _urn(type_, name), "type": type_, "custom": True, "inputs": inputs or {}, **extra}


def _state(
    *resources: dict[str, Any], violations: list[dict[str, Any]] | None = None, config: dict[str, str] | None = None
) -> StackState:
    stack = {"urn": _urn("pulumi:pulumi:Stack", "proj-qa"), "type": "pulumi:pulumi:Stack", "outputs": {}}
    return StackState("qa", [stack, *resources], violations or [], config or {})


CM = "kubernetes:core/v1:ConfigMap"


def test_a_resource_renamed_with_an_alias_is_not_a_delete_and_create() -> None:
    old = _res(CM, "old-name", {"data": {"a": "1"}})
    same = _res(CM, "new-name", {"data": {"a": "1"}}, aliases=[old["urn"]])
    diff = diff_states(_state(old), _state(same), KEY)
    assert [(r.op, r.name, r.renamed_from) for r in diff.resources] == [("same", "new-name", old["urn"])]
    assert not diff.has_changes
    assert "=  rename" in format_text(diff)

    changed = _res(CM, "new-name", {"data": {"a": "1"}, "metadata": {"labels": {"x": "y"}}}, aliases=[old["urn"]])
    [update] = diff_states(_state(old), _state(changed), KEY).resources
    assert (update.op, update.renamed_from) == ("update", old["urn"])
    # An added subtree shows where it starts, as the engine's diff does.
    assert update.changes == (PropertyChange("metadata", MISSING, {"labels": {"x": "y"}}),)

    # Without the alias the engine sees another resource.
    unaliased = _res(CM, "new-name", {"data": {"a": "1"}})
    assert [r.op for r in diff_states(_state(old), _state(unaliased), KEY).resources] == ["create", "delete"]


def test_secrets_show_only_whether_they_changed() -> None:
    type_ = "example:index:Thing"
    old = _res(type_, "t", {"token": _secret("s3cr3t-old"), "was_plain": "hunter22", "kept": _secret("same")})
    new = _res(
        type_, "t", {"token": _secret("s3cr3t-new"), "was_plain": _secret("hunter22-new"), "kept": _secret("same")}
    )
    diff = diff_states(_state(old), _state(new), KEY)
    [thing] = diff.resources
    assert [c.path for c in thing.changes] == ["token", "was_plain"]
    text = format_text(diff) + format_markdown([diff])
    assert "~ token: [secret] (changed)" in text
    assert "~ was_plain: [secret] (changed)" in text
    for leaked in ("s3cr3t", "hunter22", "hmac-sha256", "ciphertext"):
        assert leaked not in text
    # A plain value that became secret with the same value is no change; a removed secret shows as one.
    same_value = _res(type_, "t", {"was_plain": _secret("hunter22")})
    assert diff_states(_state(_res(type_, "t", {"was_plain": "hunter22"})), _state(same_value), KEY).changed == []
    removed = diff_states(_state(old), _state(_res(type_, "t", {})), KEY)
    assert "- token: [secret]" in format_text(removed)


def test_the_worker_spells_secrets_as_the_sdk_does() -> None:
    # The worker cannot import the SDK internals module of the tree it runs in; it writes the wire format.
    assert (plan_worker.SIG, plan_worker.SECRET_SIG) == (sdk_internals.SIG, sdk_internals.SECRET_SIG)


def test_a_secret_digest_is_keyed_and_canonical() -> None:
    assert plan_worker.secret_digest({"b": 1, "a": 2}, KEY) == plan_worker.secret_digest({"a": 2, "b": 1}, KEY)
    assert plan_worker.secret_digest("x", KEY) != plan_worker.secret_digest("x", bytes(32))
    nested = {plan_worker.SIG: plan_worker.SECRET_SIG, "value": {"k": "v"}}
    assert plan_worker.digested({"outer": nested}, KEY) == {"outer": _secret({"k": "v"})}


def test_the_replace_table_names_a_source_for_every_rule() -> None:
    for rule in RULES:
        assert rule.types
        assert rule.paths
        assert rule.source
        for path in rule.paths:
            assert parse_path(path)
    assert parse_path("spec.containers[*].image") == ("spec", "containers", "*", "image")
    assert parse_path("a[2].b") == ("a", 2, "b")


@pytest.mark.parametrize(
    ("type_", "old", "new", "config", "reasons"),
    [
        ("kubernetes:apps/v1:Deployment", {"spec": {"replicas": 2}}, {"spec": {"replicas": 3}}, {}, []),
        (
            "kubernetes:apps/v1:Deployment",
            {"spec": {"selector": {"matchLabels": {"app": "a"}}}},
            {"spec": {"selector": {"matchLabels": {"app": "b"}}}},
            {},
            ["spec.selector"],
        ),
        (
            "kubernetes:core/v1:Namespace",
            {"metadata": {"name": "a"}},
            {"metadata": {"name": "b"}},
            {},
            ["metadata.name"],
        ),
        ("kubernetes:core/v1:Service", {}, {"metadata": {"namespace": "b"}}, {}, ["metadata.namespace"]),
        ("kubernetes:core/v1:Secret", {"stringData": _secret("a")}, {"stringData": _secret("b")}, {}, ["stringData"]),
        (
            "kubernetes:core/v1:Secret",
            {"stringData": _secret("a")},
            {"stringData": _secret("b")},
            {"enableSecretMutable": "true"},
            [],
        ),
        (CM, {"data": {"a": "1"}}, {"data": {"a": "2"}}, {"enableConfigMapMutable": "true"}, []),
        (
            CM,
            {"data": {"a": "1"}},
            {"data": {"a": "2"}, "immutable": True},
            {"enableConfigMapMutable": "true"},
            ["data"],
        ),
        (
            "kubernetes:core/v1:Pod",
            {"spec": {"containers": [{"image": "a:1"}]}},
            {"spec": {"containers": [{"image": "a:2"}]}},
            {},
            ["spec.containers[*].image"],
        ),
        ("aws:s3/bucket:Bucket", {"bucket": "backups-a"}, {"bucket": "backups-b"}, {}, ["bucket"]),
        ("aws:s3/bucket:Bucket", {"tags": {"a": "1"}}, {"tags": {"a": "2"}}, {}, []),
        ("cloudflare:index/dnsRecord:DnsRecord", {"zoneId": "z1"}, {"zoneId": "z2"}, {}, ["zoneId"]),
        ("cloudflare:index/dnsRecord:DnsRecord", {"zoneId": "z1", "ttl": 1}, {"zoneId": "z1", "ttl": 60}, {}, []),
        ("cloudflare:index/ruleset:Ruleset", {"phase": "a"}, {"phase": "b"}, {}, ["phase"]),
    ],
)
def test_the_provider_replaces_on_its_immutable_properties(
    type_: str, old: dict[str, Any], new: dict[str, Any], config: dict[str, str], reasons: list[str]
) -> None:
    assert [r.path for r in replace_reasons(type_, old, new, config)] == reasons


def test_the_default_providers_config_comes_from_the_stack_file() -> None:
    old = _res(CM, "c", {"data": {"a": "1"}})
    new = _res(CM, "c", {"data": {"a": "2"}})
    assert [r.op for r in diff_states(_state(old), _state(new), KEY).resources] == ["replace"]
    mutable = _state(new, config={"kubernetes:enableConfigMapMutable": "true"})
    assert [r.op for r in diff_states(_state(old), mutable, KEY).resources] == ["update"]


def test_policy_verdicts_that_appear_or_disappear_follow_renames() -> None:
    def violation(policy: str, urn: str, level: str = "mandatory") -> dict[str, str]:
        return {"policy_name": policy, "enforcement_level": level, "urn": urn, "message": "m", "resource_type": CM}

    old = _res(CM, "old")
    new = _res(CM, "new", aliases=[old["urn"]])
    base = _state(old, violations=[violation("kept", old["urn"]), violation("fixed", old["urn"], "advisory")])
    head = _state(new, violations=[violation("kept", new["urn"]), violation("introduced", new["urn"])])
    verdicts = diff_states(base, head, KEY).verdicts
    assert [(v.appeared, v.policy) for v in verdicts] == [(True, "introduced"), (False, "fixed")]
    assert "1 new mandatory policy violation" in format_markdown([diff_states(base, head, KEY)])


def test_list_and_number_changes() -> None:
    changes = plan_diff.property_changes({"a": [1, 2], "n": 2}, {"a": [1], "n": 2.0}, plan_diff.SecretComparer(KEY))
    assert changes == [PropertyChange("a[1]", 2, MISSING)]
    assert plan_diff.format_path(("metadata", "labels", "app.kubernetes.io/name")) == (
        'metadata.labels["app.kubernetes.io/name"]'
    )


def _quota(cpu: str, memory: str) -> dict[str, Any]:
    return {"spec": {"hard": {"requests.cpu": cpu, "limits.memory": memory}}, "data": {"note": cpu}}


def test_quantities_compare_as_quantities_where_the_schema_holds_one() -> None:
    compare = plan_diff.SecretComparer(KEY)
    # One CPU and 1000 millicores, 1Gi and 1024Mi: the same quantity, so no change; a ConfigMap's "1" is text.
    changes = plan_diff.property_changes(_quota("1", "1Gi"), _quota("1000m", "1024Mi"), compare)
    assert changes == [PropertyChange("data.note", "1", "1000m")]
    changed = plan_diff.property_changes(_quota("44", "1Gi"), _quota("47000m", "1Gi"), compare)
    [line] = plan_diff.change_lines(changed[1], "")
    assert line == '~ spec.hard["requests.cpu"]: "44" => "47000m" (44 => 47)'
    [same_unit] = plan_diff.change_lines(PropertyChange('spec.hard["limits.memory"]', "1Gi", "2Gi"), "")
    assert same_unit == '~ spec.hard["limits.memory"]: "1Gi" => "2Gi"'


@pytest.mark.parametrize("symbol", ["+", "-", "~"])
def test_a_long_value_is_shown_whole_wrapped_never_cut(symbol: str) -> None:
    old = "x" * 300 + "-the-end"
    new = "y" * 310 + "-the-end"
    change = PropertyChange(
        "metadata.annotations.long", MISSING if symbol == "+" else old, MISSING if symbol == "-" else new
    )
    lines = plan_diff.change_lines(change, "      ")
    assert all(len(line) <= plan_diff.WIDTH for line in lines), lines
    assert "..." not in "".join(lines)
    shown = "".join(line.strip() for line in lines)
    if symbol != "+":
        assert f'"{old}"' in shown
    if symbol != "-":
        assert f'"{new}"' in shown


def test_a_new_stack_is_all_creates() -> None:
    diff = diff_states(None, _state(_res(CM, "c")), KEY)
    assert [r.op for r in diff.resources] == ["create"]
    assert any("no stack file" in note for note in diff.notes)


# --- which interpreter renders BASE --------------------------------------------------------------


def test_base_renders_with_its_own_locked_dependencies_when_they_differ(tmp_path: Path) -> None:
    head, base, cache = tmp_path / "head", tmp_path / "base", tmp_path / "cache"
    head.mkdir()
    base.mkdir()
    (head / "requirements.txt").write_text("pulumi==3.272.0\n")
    (base / "requirements.txt").write_text("pulumi==3.272.0\n")
    built: list[tuple[Path, Path]] = []

    def build(lock: Path, venv: Path) -> None:
        built.append((lock, venv))
        (venv / "bin").mkdir(parents=True, exist_ok=True)
        (venv / ".installed").touch()

    assert revisions.interpreter_for(base, head, cache, build) == Path(sys.executable)
    assert built == []

    (base / "requirements.txt").write_text("pulumi==3.271.0\n")
    python = revisions.interpreter_for(base, head, cache, build)
    [(lock, venv)] = built
    assert lock == base / "requirements.txt"
    assert python == venv / "bin" / "python"
    assert venv.parent == cache
    assert revisions.interpreter_for(base, head, cache, build) == python
    assert len(built) == 1

    (venv / ".installed").unlink()  # a build that did not finish is not trusted
    revisions.interpreter_for(base, head, cache, build)
    assert len(built) == 2

    # A revision from before the lock was renamed still has one.
    old = tmp_path / "old"
    old.mkdir()
    (old / "requirements.lock").write_text("pulumi==3.272.0\n")
    assert revisions.interpreter_for(old, head, cache, build) == Path(sys.executable)
