"""`make diff BASE=<git ref> [STACK=<stack>]`: what `pulumi preview --diff` would show between the stack
as BASE renders it and as the working tree renders it, offline.

Both sides render with the offline preview's engine (offline_preview/revisions.py: BASE from a temporary
worktree with its own code and its own lock's dependencies); their states, in `pulumi stack export` form,
are compared as the engine would: resources matched by URN or by an alias to their old URN, inputs diffed
property by property, the replacements decided by each provider's rules (offline_preview/replace_rules.py),
plus the policy verdicts that appear or disappear and the stack outputs. A secret is shown as `[secret]`
with whether it changed, never its value: each side carries only a keyed digest of it.

Prints the plan as text; `--markdown <file>` writes the same for a pull-request comment. Exit 0 with or
without changes; 1 with one line when a side does not render.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from components.k8s import quantity_value
from offline_preview import identity, plan_worker, revisions
from offline_preview.replace_rules import ReplaceReason, parse_path, replace_reasons
from offline_preview.revisions import Job, RevisionError
from offline_preview.stack_config import did_you_mean, stack_names
from offline_preview.urns import STACK_TYPE, urn_name

PROJECT_DIR = Path(__file__).resolve().parent.parent
SIG, SECRET_SIG = plan_worker.SIG, plan_worker.SECRET_SIG
REDACTED = "[secret]"
HEAD_LABEL = "the working tree"

Op = Literal["create", "update", "replace", "delete", "same"]
SYMBOLS: dict[str, str] = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": "="}
MISSING: Any = object()  # a property absent on one side


# --- the states ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackState:
    """One side of the diff: a rendered stack (see plan_worker.render)."""

    stack: str
    resources: list[dict[str, Any]]  # `pulumi stack export` resources, dependency order
    violations: list[dict[str, Any]] = field(default_factory=list)
    provider_config: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_worker(cls, result: Mapping[str, Any]) -> StackState:
        return cls(
            stack=result["stack"],
            resources=list(result["export"]["deployment"]["resources"]),
            violations=list(result["violations"]),
            provider_config=dict(result["providerConfig"]),
        )


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG


def _is_default_provider(resource: Mapping[str, Any]) -> bool:
    return resource["type"].startswith("pulumi:providers:") and urn_name(resource["urn"]).startswith("default")


# --- the diff ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyChange:
    path: str
    old: Any = MISSING
    new: Any = MISSING

    @property
    def symbol(self) -> str:
        return "+" if self.old is MISSING else "-" if self.new is MISSING else "~"

    @property
    def secret(self) -> bool:
        return is_secret(self.old) or is_secret(self.new)


@dataclass(frozen=True)
class ResourceChange:
    op: Op
    urn: str  # the new URN; the old one for a delete
    type: str
    changes: tuple[PropertyChange, ...] = ()
    reasons: tuple[ReplaceReason, ...] = ()
    renamed_from: str = ""

    @property
    def name(self) -> str:
        return urn_name(self.urn)


@dataclass(frozen=True)
class VerdictChange:
    appeared: bool
    policy: str
    level: str
    urn: str
    resource_type: str
    message: str


@dataclass(frozen=True)
class StackDiff:
    stack: str
    base_label: str
    head_label: str
    resources: tuple[ResourceChange, ...]  # every matched, created and deleted resource
    verdicts: tuple[VerdictChange, ...]
    outputs: tuple[PropertyChange, ...]
    notes: tuple[str, ...] = ()

    def count(self, op: Op) -> int:
        return sum(r.op == op for r in self.resources)

    @property
    def changed(self) -> list[ResourceChange]:
        return [r for r in self.resources if r.op != "same"]

    @property
    def renamed(self) -> list[ResourceChange]:
        return [r for r in self.resources if r.op == "same" and r.renamed_from]

    @property
    def has_changes(self) -> bool:
        return bool(self.changed or self.verdicts or self.outputs)


class SecretComparer:
    """Tells whether two values differ where either holds a secret, by digests only (the key is the run's)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def digest(self, value: Any) -> str:
        if is_secret(value):
            return str(value.get("ciphertext"))
        return plan_worker.secret_digest(value, self.key)

    def equal(self, old: Any, new: Any) -> bool:
        return self.digest(old) == self.digest(new)


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_path(path: Sequence[str | int]) -> str:
    """A property path as Pulumi writes it: `spec.template.metadata.labels["app.kubernetes.io/name"]`."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif _SIMPLE_KEY.match(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment)}]"
    return out


def property_changes(
    old: Any, new: Any, secrets: SecretComparer, path: tuple[str | int, ...] = ()
) -> list[PropertyChange]:
    """Leaf-level differences between two property values (added, removed, changed paths)."""
    if is_secret(old) or is_secret(new):
        if old is MISSING or new is MISSING or not secrets.equal(old, new):
            return [PropertyChange(format_path(path), old, new)]
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[PropertyChange] = []
        for key in sorted(old.keys() | new.keys()):
            if path == () and key.startswith("__"):
                continue  # engine bookkeeping, not an input the provider diffs
            changes += property_changes(old.get(key, MISSING), new.get(key, MISSING), secrets, (*path, key))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            before = old[index] if index < len(old) else MISSING
            after = new[index] if index < len(new) else MISSING
            changes += property_changes(before, after, secrets, (*path, index))
        return changes
    if old is MISSING and new is MISSING:
        return []
    # Numbers compare as the engine does (a JSON 2 and 2.0 are one number).
    if (old == new and type(old) is type(new)) or _same_number(old, new):
        return []
    where = format_path(path)
    if is_quantity_path(where) and _same_quantity(old, new):
        return []  # "1" and "1000m" are one CPU: the API server stores them alike, so nothing changes
    return [PropertyChange(where, old, new)]


# Where Kubernetes' schemas hold a resource.Quantity (io.k8s.apimachinery.pkg.api.resource.Quantity): container
# and PVC resources, ResourceQuota `hard`, LimitRange limits, emptyDir `sizeLimit`, an HPA metric's target.
_QUANTITY_PATH = re.compile(
    r"(\.resources\.(requests|limits)|^spec\.hard|\.limits\[\d+\]\.(default|defaultRequest|max|min|maxLimitRequestRatio)"
    r"|\.overhead)(\.[A-Za-z0-9]+|\[\"[^\"]+\"\])$"
    r"|\.emptyDir\.sizeLimit$|\.target\.(averageValue|value)$"
)


def is_quantity_path(path: str) -> bool:
    return bool(_QUANTITY_PATH.search(path))


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        return quantity_value(str(value))
    except ValueError:
        return None


def _same_quantity(old: Any, new: Any) -> bool:
    before, after = _quantity(old), _quantity(new)
    return before is not None and before == after


def _same_number(old: Any, new: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(old, numbers)
        and isinstance(new, numbers)
        and not isinstance(old, bool)
        and not isinstance(new, bool)
        and old == new
    )


def _provider_config(resource: Mapping[str, Any], state: StackState, by_urn: Mapping[str, Any]) -> dict[str, str]:
    """The configuration of the resource's provider: an explicit provider's inputs, or the stack's
    `<package>:<key>` config for the default provider."""
    reference = str(resource.get("provider") or "")
    provider_urn = reference.rsplit("::", 1)[0]
    provider = by_urn.get(provider_urn)
    if provider is not None and not _is_default_provider(provider):
        return {k: str(v) for k, v in provider.get("inputs", {}).items() if not is_secret(v)}
    package = resource["type"].split(":", 1)[0]
    return {k.split(":", 1)[1]: v for k, v in state.provider_config.items() if k.startswith(f"{package}:")}


def _options(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {"[protect]": bool(resource.get("protect")), "[retainOnDelete]": bool(resource.get("retainOnDelete"))}


def _provider_versions(state: StackState | None) -> dict[str, str]:
    if state is None:
        return {}
    return {
        r["type"].removeprefix("pulumi:providers:"): str(r.get("inputs", {}).get("version", ""))
        for r in state.resources
        if _is_default_provider(r)
    }


def with_ignored_changes(old: Mapping[str, Any], new: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """`new` with the old value at each ignoreChanges path, as the engine plans it ("use the old value of
    the property": pulumi's ignoreChanges resource option); a path absent on the old side is left as new."""
    result: dict[str, Any] = copy.deepcopy(dict(new))
    for path in paths:
        segments = [s for s in parse_path(path) if isinstance(s, str) and s != "*"]
        source: Any = old
        for segment in segments:
            if isinstance(source, dict) and segment in source:
                source = source[segment]
            else:
                source = MISSING
                break
        if source is MISSING or not segments:
            continue
        target: Any = result
        for segment in segments[:-1]:
            target = target.get(segment) if isinstance(target, dict) else None
            if target is None:
                break
        if isinstance(target, dict):
            target[segments[-1]] = copy.deepcopy(source)
    return result


def diff_states(
    base: StackState | None, head: StackState, key: bytes, base_label: str = "BASE", head_label: str = HEAD_LABEL
) -> StackDiff:
    """What the engine would plan to take the stack from `base` to `head` (`None`: a new stack)."""
    secrets = SecretComparer(key)
    old_resources = [r for r in (base.resources if base else []) if not _is_default_provider(r)]
    old_by_urn = {r["urn"]: r for r in old_resources}
    head_by_urn = {r["urn"]: r for r in head.resources}
    claimed: dict[str, str] = {}  # old URN -> new URN
    results: list[ResourceChange] = []
    outputs: list[PropertyChange] = []

    for new in head.resources:
        if _is_default_provider(new):
            continue
        old_urn = next((u for u in [new["urn"], *new.get("aliases", [])] if u in old_by_urn and u not in claimed), "")
        if new["type"] == STACK_TYPE:
            old_stack = old_by_urn.get(old_urn, {})
            outputs = property_changes(old_stack.get("outputs", {}), new.get("outputs", {}), secrets)
            claimed[old_urn or new["urn"]] = new["urn"]
            continue
        if not old_urn:
            results.append(ResourceChange("create", new["urn"], new["type"]))
            continue
        claimed[old_urn] = new["urn"]
        old = old_by_urn[old_urn]
        new_inputs = with_ignored_changes(old.get("inputs", {}), new.get("inputs", {}), new.get("ignoreChanges", ()))
        changes = property_changes(old.get("inputs", {}), new_inputs, secrets)
        changes += property_changes(_options(old), _options(new), secrets)
        reasons = replace_reasons(
            new["type"], old.get("inputs", {}), new_inputs, _provider_config(new, head, head_by_urn)
        )
        trigger = property_changes(old.get("replacementTrigger"), new.get("replacementTrigger"), secrets)
        if trigger:
            changes += [PropertyChange("[replacementTrigger]", c.old, c.new) for c in trigger]
            reasons.append(ReplaceReason("[replacementTrigger]", "the replacement_trigger resource option (engine)"))
        op: Op = "replace" if reasons else "update" if changes else "same"
        renamed = old_urn if old_urn != new["urn"] else ""
        results.append(ResourceChange(op, new["urn"], new["type"], tuple(changes), tuple(reasons), renamed))

    for old in old_resources:
        if old["urn"] not in claimed and old["type"] != STACK_TYPE:
            results.append(ResourceChange("delete", old["urn"], old["type"]))

    verdicts = _verdict_changes(base.violations if base else [], head.violations, claimed)
    notes = []
    if base is None:
        notes.append(f"stack {head.stack} has no stack file at {base_label}: every resource is a create")
    old_versions, new_versions = _provider_versions(base), _provider_versions(head)
    for package in sorted(old_versions.keys() & new_versions.keys()):
        if old_versions[package] != new_versions[package]:
            notes.append(f"provider {package}: {old_versions[package]} => {new_versions[package]}")
    return StackDiff(head.stack, base_label, head_label, tuple(results), verdicts, tuple(outputs), tuple(notes))


def _verdict_changes(
    old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]], renamed: Mapping[str, str]
) -> tuple[VerdictChange, ...]:
    def keyed(violations: Iterable[Mapping[str, Any]], urn_map: Mapping[str, str]) -> dict[tuple[str, ...], Any]:
        return {
            (v["policy_name"], v["enforcement_level"], urn_map.get(v["urn"], v["urn"]), v["message"]): v
            for v in violations
        }

    before, after = keyed(old, renamed), keyed(new, {})
    changes = [
        VerdictChange(appeared, k[0], k[1], k[2], str(v.get("resource_type", "")), k[3])
        for appeared, side, other in ((False, before, after), (True, after, before))
        for k, v in side.items()
        if k not in other
    ]
    return tuple(sorted(changes, key=lambda c: (not c.appeared, c.level != "mandatory", c.policy, c.urn)))


# --- text ----------------------------------------------------------------------------------------

WIDTH = 120  # a line's length before a value wraps onto the next (whole: never cut)
MAX_DIFF_LINES = 40


def display(value: Any) -> str:
    """A value as the plan shows it: JSON, secrets as [secret] (their contents are never walked)."""

    def redacted(v: Any) -> Any:
        if is_secret(v):
            return REDACTED
        if isinstance(v, dict):
            return {k: redacted(x) for k, x in v.items()}
        if isinstance(v, list):
            return [redacted(x) for x in v]
        return v

    return json.dumps(redacted(value), sort_keys=True).replace(json.dumps(REDACTED), REDACTED)


def _wrapped(head: str, text: str, indent: str) -> list[str]:
    """`head` + `text`, the text whole: what does not fit in WIDTH continues on lines starting with `indent`."""
    first = max(WIDTH - len(head), 20)
    room = max(WIDTH - len(indent), 40)
    rest = text[first:]
    return [head + text[:first]] + [indent + rest[i : i + room] for i in range(0, len(rest), room)]


def _quantity_note(change: PropertyChange) -> str:
    """` (44 => 47)` where a quantity changes and either side is written with a unit ("44" => "47000m")."""
    if not is_quantity_path(change.path):
        return ""
    before, after = _quantity(change.old), _quantity(change.new)
    if before is None or after is None:
        return ""
    if _unit(change.old) == _unit(change.new):
        return ""  # "1Gi" => "2Gi" reads as it is
    return f" ({before.normalize():f} => {after.normalize():f})"


def _unit(quantity: Any) -> str:
    return re.sub(r"^[+-]?[0-9.]+", "", str(quantity))


def change_lines(change: PropertyChange, indent: str) -> list[str]:
    if change.secret:
        # Neither side's value is shown once either is secret: a value that just became secret is the secret.
        what = {"+": REDACTED, "-": REDACTED, "~": f"{REDACTED} (changed)"}[change.symbol]
        return [f"{indent}{change.symbol} {change.path}: {what}"]
    more = indent + "      "
    if change.symbol == "+":
        return _wrapped(f"{indent}+ {change.path}: ", display(change.new), more)
    if change.symbol == "-":
        return _wrapped(f"{indent}- {change.path}: ", display(change.old), more)
    if isinstance(change.old, str) and isinstance(change.new, str) and "\n" in change.old + change.new:
        diff = list(difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), lineterm="", n=1))[2:]
        shown = diff[:MAX_DIFF_LINES] + (
            [f"... {len(diff) - MAX_DIFF_LINES} more lines"] if len(diff) > MAX_DIFF_LINES else []
        )
        return [f"{indent}~ {change.path}: (text)"] + [f"{indent}    {line}" for line in shown]
    head = f"{indent}~ {change.path}: "
    text = f"{display(change.old)} => {display(change.new)}{_quantity_note(change)}"
    if len(head) + len(text) <= WIDTH:
        return [head + text]
    # Too long for one line: each side whole, on its own lines.
    return [
        head.rstrip(),
        *_wrapped(f"{more}- ", display(change.old), more + "  "),
        *_wrapped(f"{more}+ ", display(change.new), more + "  "),
    ]


def summary_line(diff: StackDiff) -> str:
    parts = [f"{diff.count(op)} to {op}" for op in ("create", "update", "replace", "delete") if diff.count(op)]
    unchanged = diff.count("same")
    return ", ".join([*parts, f"{unchanged} unchanged"])


def format_text(diff: StackDiff) -> str:
    """The plan of one stack, as lines a terminal and a ```diff block both read well."""
    lines = [f"Stack {diff.stack}: {diff.base_label} -> {diff.head_label}"]
    if not diff.has_changes and not diff.renamed:
        lines.append("  no changes")
    sources: dict[str, int] = {}  # each rule's source once, as a numbered footnote
    for resource in diff.changed:
        symbol = SYMBOLS[resource.op]
        lines.append(f"{symbol:<3}{resource.op:<8} {resource.type}  {resource.name}")
        if resource.renamed_from:
            lines.append(f"      (renamed from {resource.renamed_from}, by its alias)")
        for change in resource.changes:
            lines += change_lines(change, "      ")
        if resource.reasons:
            marks = [f"{r.path} [{sources.setdefault(_source(r), len(sources) + 1)}]" for r in resource.reasons]
            lines.append(f"      replaced because these changed: {', '.join(marks)}")
    for resource in diff.renamed:
        lines.append(f"=  rename   {resource.type}  {resource.name}  (from {resource.renamed_from}: alias, no change)")
    if diff.verdicts:
        lines.append("Policy verdicts:")
        for verdict in diff.verdicts:
            state = "new" if verdict.appeared else "gone"
            lines.append(
                f"{'+' if verdict.appeared else '-'}  {state:<5} {verdict.level:<10} {verdict.policy}: "
                f"{verdict.resource_type} {urn_name(verdict.urn)}: {' '.join(verdict.message.split())}"
            )
    if diff.outputs:
        lines.append("Outputs:")
        for change in diff.outputs:
            lines += change_lines(change, "   ")
    lines += [f"Note: {note}" for note in diff.notes]
    lines.append(f"Resources: {summary_line(diff)}")
    lines += [f"[{number}] {source}" for source, number in sources.items()]
    return "\n".join(lines)


def _source(reason: ReplaceReason) -> str:
    return reason.source + (f"; {reason.note}" if reason.note else "")


# --- Markdown ------------------------------------------------------------------------------------


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def format_markdown(diffs: Sequence[StackDiff]) -> str:
    """The plans for a pull-request comment or job summary."""
    out = ["## Offline plan diff", ""]
    if diffs:
        out += [f"`make diff`: {diffs[0].base_label} → {diffs[0].head_label}, rendered offline under mocks.", ""]
    for diff in diffs:
        headline = summary_line(diff) if diff.has_changes else "no changes"
        out += [f"### `{diff.stack}`: {headline}", ""]
        body = format_text(diff)
        fence = _fence(body)
        out += [f"{fence}diff", body, fence, ""]
        new_mandatory = [v for v in diff.verdicts if v.appeared and v.level == "mandatory"]
        if new_mandatory:
            out += [f"**{len(new_mandatory)} new mandatory policy violation(s)**: `pulumi up` would be refused.", ""]
        replaced = [r for r in diff.changed if r.op == "replace"]
        if replaced:
            out += ["<details><summary>Why each replacement</summary>", ""]
            out += ["| Resource | Property | Rule source |", "|---|---|---|"]
            for resource in replaced:
                for reason in resource.reasons:
                    out.append(f"| `{_cell(resource.name)}` | `{_cell(reason.path)}` | {_cell(_source(reason))} |")
            out += ["", "</details>", ""]
    return "\n".join(out).rstrip() + "\n"


# --- command line --------------------------------------------------------------------------------


def plan(project_dir: Path, base_ref: str, stacks: Sequence[str] | None, key: bytes) -> list[StackDiff]:
    """Render BASE and the working tree and diff every requested stack (all the working tree's by default).

    Raises RevisionError with one line when BASE or the working tree does not render."""
    root, prefix = revisions.repo_layout(project_dir)
    base = revisions.resolve(root, base_ref)
    head_stacks = stack_names(project_dir)
    base_stacks = set(revisions.stack_files(root, base, prefix))
    wanted = list(stacks) if stacks else head_stacks
    for stack in wanted:
        # The working tree first: a typo in STACK is not BASE's fault.
        if stack not in head_stacks:
            raise RevisionError(f"the working tree has no Pulumi.{stack}.yaml{did_you_mean(stack, head_stacks)}")
        if stacks and stack not in base_stacks:
            raise RevisionError(f"BASE {base.label} has no {prefix}Pulumi.{stack}.yaml")
    with revisions.checkout(root, [base]) as trees:
        base_tree = trees[base.sha] / prefix
        base_python = revisions.interpreter_for(base_tree, project_dir, project_dir / revisions.VENV_CACHE)
        jobs = [Job(base_tree, s, base_python) for s in wanted if s in base_stacks]
        jobs += [Job(project_dir, s, Path(sys.executable)) for s in wanted]
        results = revisions.render(jobs, key, stop_on_error=True)
    base_results = {r["stack"]: r for r in results[: len(results) - len(wanted)]}
    head_results = results[len(results) - len(wanted) :]
    diffs = []
    for stack, head in zip(wanted, head_results, strict=True):
        old = base_results.get(stack)
        if old is not None and "error" in old:
            raise RevisionError(f"BASE {base.label} does not render stack {stack}: {old['error']}")
        if "error" in head:
            raise RevisionError(f"the working tree does not render stack {stack}: {head['error']}")
        for label, result in ((f"BASE {base.label}", old), ("the working tree", head)):
            owners = identity.check(identity.from_state(result["export"]["deployment"]["resources"]) if result else [])
            if owners.collisions:
                raise RevisionError(f"{label}, stack {stack}: {owners.collisions[0].line()}")
        base_state = StackState.from_worker(old) if old is not None else None
        diffs.append(diff_states(base_state, StackState.from_worker(head), key, base.label, HEAD_LABEL))
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="plan_diff", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the git revision to compare against (a branch, tag or SHA)")
    parser.add_argument("--stack", action="append", help="a stack to diff (repeatable; default: every stack)")
    parser.add_argument("--markdown", type=Path, help="also write the plan as Markdown to this file")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    # A key for this run only: the digests that stand for secrets mean nothing outside it.
    key = os.urandom(32)
    try:
        diffs = plan(args.project_dir.resolve(), args.base, args.stack, key)
    except RevisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n\n".join(format_text(d) for d in diffs))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(format_markdown(diffs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
