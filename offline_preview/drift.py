"""Where a resource's live values and its inputs part, as far as one policy cares: the property paths an audit
names for a drift (the outputs violate a policy the inputs pass) or a declared finding (the other way round).

The two sides are the outputs and what the inputs declare (offline_preview/policy_eval.py, `_Resource.declared`),
in the form the analyzer gets them (marshaled first: secrets whose ciphertext the state holds are alike on both
sides, "__" keys are gone). A path is
relevant when putting the other side's value there, and nowhere else, makes the policy fire: `isolate`
descends from the resource's top-level properties into each one that does, and names the deepest ones. A
difference that fires only together with another (neither alone does) is named by the property holding both.
Differences no policy reacts to (a status, managedFields, a default the API server filled in) are never named.

The search evaluates one policy once per differing property on the way down (17 evaluations for a privileged
container of the program's Deployment, as its live object holds it), and stops when its `Budget` is spent: the
finding is then reported without paths, saying so, and the search costs at most a constant per finding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from components.sdk_internals import SIG

Path = tuple[str | int, ...]


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()
"""What `value_at` gives for a path one side does not hold."""


class BudgetSpentError(Exception):
    """The isolation's evaluations ran out."""


class Budget:
    """How many evaluations a search may still spend (a stack policy's evaluation counts once per resource it
    reads)."""

    def __init__(self, evaluations: int) -> None:
        self.remaining = evaluations

    def spend(self, evaluations: int = 1) -> None:
        if evaluations > self.remaining:
            self.remaining = 0
            raise BudgetSpentError
        self.remaining -= evaluations


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_path(path: Path) -> str:
    """`spec.template.spec.containers[0].securityContext.privileged`; other keys quoted:
    `metadata.annotations["checkov.io/skip1"]`. The empty path (the resource as a whole) is ""."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif _SIMPLE_KEY.match(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment)}]"
    return out


def _is_leaf(value: Any) -> bool:
    # A secret, asset or archive is one value: what it wraps is not a property of its own.
    return not isinstance(value, Mapping | list) or (isinstance(value, Mapping) and SIG in value)


def differing_children(base: Any, target: Any) -> list[str | int]:
    """The keys (of two objects) or indexes (of two lists) at which `base` and `target` differ, in order; none
    when they are equal or are not two objects or two lists (then they differ, if at all, as a whole)."""
    if base == target or _is_leaf(base) or _is_leaf(target):
        return []
    if isinstance(base, Mapping) and isinstance(target, Mapping):
        keys = list(base) + [key for key in target if key not in base]
        return [key for key in keys if base.get(key, ABSENT) != target.get(key, ABSENT)]
    if isinstance(base, list) and isinstance(target, list):
        length = max(len(base), len(target))
        return [i for i in range(length) if (base[i] if i < len(base) else ABSENT) != _item(target, i)]
    return []


def _item(values: Sequence[Any], index: int) -> Any:
    return values[index] if index < len(values) else ABSENT


def value_at(value: Any, path: Path) -> Any:
    """The value at `path`, or ABSENT."""
    for segment in path:
        if isinstance(segment, int):
            if not isinstance(value, list) or segment >= len(value):
                return ABSENT
            value = value[segment]
        else:
            if not isinstance(value, Mapping) or segment not in value:
                return ABSENT
            value = value[segment]
    return value


def with_value(base: Any, path: Path, value: Any) -> Any:
    """A copy of `base` with `value` at `path` (ABSENT removes it), copying only the objects on the way. An
    index past the end of a list appends."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(base) if isinstance(base, list) else []
        inner = with_value(items[head] if head < len(items) else ABSENT, rest, value)
        if head < len(items):
            if inner is ABSENT:
                del items[head]
            else:
                items[head] = inner
        elif inner is not ABSENT:
            items.append(inner)
        return items
    fields = dict(base) if isinstance(base, Mapping) else {}
    inner = with_value(fields.get(head, ABSENT), rest, value)
    if inner is ABSENT:
        fields.pop(head, None)
    else:
        fields[head] = inner
    return fields


def isolate(base: Any, target: Any, fires: Callable[[Any], bool], budget: Budget) -> list[Path]:
    """The paths at which `target` differs from `base` such that `base` with `target`'s value there alone makes
    `fires` true; where no single child of a differing property does, that property (the empty path: the
    resource as a whole). `fires(target)` is assumed true and `fires(base)` false. Raises BudgetSpentError."""

    def search(path: Path) -> list[Path]:
        found: list[Path] = []
        for child in differing_children(value_at(base, path), value_at(target, path)):
            child_path = (*path, child)
            budget.spend()
            if fires(with_value(base, child_path, value_at(target, child_path))):
                found += search(child_path)
        return found or [path]

    return search(())


def isolate_resources(
    candidates: Sequence[str],
    fires_with: Callable[[Sequence[str]], bool],
    reported: str,
    related: Sequence[str] = (),
) -> list[str]:
    """Which resources' other side makes a stack policy fire at `reported`: the first that does alone of the
    reported resource and the `related` ones (those it depends on or that depend on it: a bucket's
    configurations), else one set found by halving the candidates (`fires_with(subset)` puts the other side of
    those resources in, and of no other). The budget is `fires_with`'s to spend."""
    for urn in dict.fromkeys([reported, *related]):
        if urn in candidates and fires_with([urn]):
            return [urn]

    def search(subset: Sequence[str]) -> list[str]:
        if len(subset) <= 1:
            return list(subset)
        middle = len(subset) // 2
        for half in (subset[:middle], subset[middle:]):
            if fires_with(half):
                return search(half)
        return list(subset)  # only resources from both halves together

    return search(list(candidates))
