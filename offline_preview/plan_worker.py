"""Renders stacks of one or more source trees for `make diff` (offline_preview/plan_diff.py).

Run as a script, not as a module of this package, so that it imports nothing from the tree it sits in:
`python -I -B plan_worker.py <result.json>`, with `{"key": <hex>, "jobs": [{"tree": <dir>, "stack": <name>}],
"stopOnError": <bool>}` on stdin. It runs under BASE's own virtualenv when BASE locks other dependencies,
so it uses the standard library and, per job, only the job's tree: that tree's `offline_preview`,
`components` and `policies` are imported afresh (the previous tree's modules are dropped; the SDKs stay
loaded, which is what makes rendering several trees in one process cheap).

For each job the result is the stack's state in `pulumi stack export` form, each secret's ciphertext
replaced by a keyed digest of its plaintext (the key comes with the jobs and lives only as long as the
run: equal secrets compare equal, and nothing that leaves the run can be turned back into a value), the
policy verdicts, the stack's provider configuration and the files the tree's packages were loaded from;
or `{"error": <one line>}` when the tree does not render.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

# The engine's wire format for a secret (pulumi sdk/go/common/resource/sig): stable across releases,
# so written here rather than imported from a tree that might not have it.
SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
STACK_TYPE = "pulumi:pulumi:Stack"


def tree_packages(tree: Path) -> set[str]:
    """The top-level modules a tree provides (its packages and modules, not its program)."""
    names = {p.parent.name for p in tree.glob("*/__init__.py")}
    return names | {p.stem for p in tree.glob("*.py") if p.stem != "__main__"}


def forget(packages: set[str]) -> None:
    for name in [n for n in sys.modules if n.split(".", 1)[0] in packages]:
        del sys.modules[name]


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG


def _revealed(value: Any) -> Any:
    if _is_secret(value):
        return _revealed(value.get("value"))
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revealed(v) for v in value]
    return value


def secret_digest(plaintext: Any, key: bytes) -> str:
    """The digest that stands for a secret's value: HMAC-SHA256 of its canonical JSON."""
    canonical = json.dumps(plaintext, sort_keys=True, separators=(",", ":"))
    return "hmac-sha256:" + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def digested(value: Any, key: bytes) -> Any:
    """`value` (engine form) with each secret as a secret object whose ciphertext is its digest."""
    if _is_secret(value):
        return {SIG: SECRET_SIG, "ciphertext": secret_digest(_revealed(value.get("value")), key)}
    if isinstance(value, dict):
        return {k: digested(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [digested(v, key) for v in value]
    return value


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if text else type(exc).__name__


def render(tree: Path, stack: str, key: bytes) -> dict[str, Any]:
    """One stack of one tree, with the tree's own code."""
    import yaml  # the venv's PyYAML, which every revision of the project locks

    project = str(yaml.safe_load((tree / "Pulumi.yaml").read_text())["name"])
    # The stack file first: a broken one fails before the SDKs load.
    from offline_preview.stack_config import load_stack_config

    config = load_stack_config(tree, stack, project)
    from offline_preview.engine import run_program

    rendering = run_program(tree, project, config)
    result = rendered_state(rendering, config, project, key)
    modules = {
        name: str(getattr(sys.modules.get(name), "__file__", "") or "")
        for name in sorted(tree_packages(tree))
        if name in sys.modules
    }
    return {**result, "modules": modules}


def rendered_state(rendering: Any, config: Any, project: str, key: bytes) -> dict[str, Any]:
    """A rendering as one side of a diff: its `pulumi stack export` with secrets as digests, its policy
    verdicts and its stack's provider configuration (shared with `make adopt`)."""
    from offline_preview.policy_eval import evaluate_rendering
    from offline_preview.render import stack_export

    violations = evaluate_rendering(rendering)
    export = stack_export(rendering)
    registrations = {reg.urn: reg for reg in rendering.registrations}
    for resource in export["deployment"]["resources"]:
        reg = registrations.get(resource["urn"])
        if reg is None:  # a default provider: the export is all there is of it
            continue
        resource["inputs"] = digested(reg.inputs, key)
        if resource["type"] == STACK_TYPE:
            resource["outputs"] = digested(reg.outputs, key)  # the stack outputs
        else:
            resource.pop("outputs", None)  # the diff is of inputs, as the provider's Diff sees them
        trigger = getattr(reg, "replacement_trigger", None)
        if trigger is not None:
            resource["replacementTrigger"] = digested(trigger, key)
        ignored = getattr(reg, "ignore_changes", None)
        if ignored:  # the engine keeps the old value of each (the ignoreChanges resource option)
            resource["ignoreChanges"] = list(ignored)
    provider_config = {
        k: v for k, v in config.values.items() if not k.startswith(f"{project}:") and k not in config.secret_keys
    }
    return {
        "stack": rendering.stack,
        "export": export,
        "violations": [dataclasses.asdict(v) for v in violations],
        "providerConfig": provider_config,
    }


def run(jobs: list[dict[str, str]], key: bytes, stop_on_error: bool = False) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    loaded: set[str] = set()
    previous: Path | None = None
    for job in jobs:
        if stop_on_error and any("error" in r for r in results):
            results.append({"stack": job["stack"], "error": "not rendered: an earlier job failed"})
            continue
        tree = Path(job["tree"]).resolve()
        if tree != previous:  # another stack of the same tree reuses its modules
            packages = tree_packages(tree)
            forget(loaded | packages)
            loaded, previous = packages, tree
        sys.path.insert(0, str(tree))
        try:
            # The program may print; stdout is not ours to fill.
            with contextlib.redirect_stdout(sys.stderr):
                results.append(render(tree, job["stack"], key))
        except Exception as exc:  # the tree does not render: reported as data, per job
            results.append({"stack": job["stack"], "error": _one_line(exc)})
        finally:
            sys.path.remove(str(tree))
    return results


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: plan_worker.py <result.json> < jobs.json", file=sys.stderr)
        return 2
    request = json.load(sys.stdin)
    results = run(request["jobs"], bytes.fromhex(request["key"]), bool(request.get("stopOnError")))
    Path(argv[1]).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
