"""What every policy of the pack shares: the `exemptions` config, the two policy constructors, and reads of
the properties the analyzer hands a policy.

Policies see resources as the engine does: camelCase property names, numbers as floats (the wire format
is a protobuf Struct), secret values unwrapped, and unknown values (during preview) as proxies that raise
`UnknownValueError` when read. pulumi_policy then reports "can't run policy during preview" (advisory)
instead of a verdict; a policy never guesses about a value it cannot see.

Two things a policy declares besides its check, both optional and both for policies to come as much as for
these:
- `resource_types`: the resource types it reads. The policy itself ignores every other type, so the CLI
  and the in-process evaluation agree, and the evaluation (offline_preview/policy_eval.py) sends the
  policy only those types: on a large state that is most of the cost saved. Without it a policy sees all.
- "not checked": a check yields `NotChecked(why)` (or `NotChecked(why, urn)` in a stack policy) for a
  resource whose shape it does not know, instead of guessing a violation. The policy then reports itself
  not applicable to that resource with a reason `not checked (<urn>): <why>` per resource, which the CLI
  shows and the evaluation lists apart from the violations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.sdk_internals import UnknownValueError

# --- configuration -----------------------------------------------------------------------------

EXEMPTIONS = "exemptions"

EXEMPTIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "default": [],
    "description": (
        "Resources this policy skips: full URNs, or logical names (the last URN segment), which exempt "
        "every resource of that name."
    ),
}


def config_schema(extra: Mapping[str, dict[str, Any]] | None = None) -> PolicyConfigSchema:
    """Every policy takes `exemptions`; `enforcementLevel` the engine adds itself."""
    return PolicyConfigSchema(properties={EXEMPTIONS: EXEMPTIONS_SCHEMA, **(extra or {})})


def resource_name(urn: str) -> str:
    """The logical name: everything after `urn:pulumi:<stack>::<project>::<type>::`."""
    return urn.split("::", 3)[-1]


def is_exempt(config: Mapping[str, Any], urn: str) -> bool:
    exempt = config.get(EXEMPTIONS) or ()
    return urn in exempt or resource_name(urn) in exempt


# --- which resources a policy reads ------------------------------------------------------------

ResourceTypes = Callable[[str], bool]
"""Whether a policy reads resources of a type (a type token such as `kubernetes:apps/v1:Deployment`)."""

_RESOURCE_TYPES: dict[str, ResourceTypes] = {}


def _resource_types(types: ResourceTypes | Collection[str] | None) -> ResourceTypes | None:
    if types is None or callable(types):
        return types
    members = frozenset(types)
    return members.__contains__


def declare_resource_types(policy_name: str, types: ResourceTypes | Collection[str] | None) -> None:
    """Record which types `policy_name` reads (the constructors below do it; a policy built otherwise
    may call it). The policy must itself ignore every other type."""
    predicate = _resource_types(types)
    if predicate is None:
        _RESOURCE_TYPES.pop(policy_name, None)
    else:
        _RESOURCE_TYPES[policy_name] = predicate


def reads_resource_type(policy_name: str, resource_type: str) -> bool:
    """Whether the policy may report anything about a resource of this type (True if it did not say)."""
    predicate = _RESOURCE_TYPES.get(policy_name)
    return predicate is None or predicate(resource_type)


# --- "not checked" -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NotChecked:
    """What a check yields for a resource whose shape it does not know: it says so, and guesses nothing.
    `urn` is the resource's; a resource policy may leave it to the resource under validation."""

    why: str
    urn: str | None = None


NOT_CHECKED_PREFIX = "not checked"
_NOT_CHECKED_LINE = re.compile(rf"^{NOT_CHECKED_PREFIX} \((?P<urn>[^\n]*?)\): (?P<why>.*)$", re.MULTILINE)


def not_checked_reason(entries: Iterable[tuple[str, str]]) -> str:
    """The not-applicable reason for (URN, why) entries: one line each, `not checked (<urn>): <why>`."""
    return "\n".join(f"{NOT_CHECKED_PREFIX} ({urn}): {' '.join(why.split())}" for urn, why in entries)


def parse_not_checked(reason: str) -> list[tuple[str, str]]:
    """The (URN, why) entries of a reason `not_checked_reason` wrote; [] for any other reason."""
    return [(match["urn"], match["why"]) for match in _NOT_CHECKED_LINE.finditer(reason)]


# --- policy constructors -----------------------------------------------------------------------

ResourceCheck = Callable[[ResourceValidationArgs], Iterable[str | NotChecked]]
"""Yields one message per violation (what is wrong, and how to fix it), or NotChecked."""

StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str] | NotChecked]]
"""Yields (URN of the offending resource, message) per violation, or NotChecked naming the resource."""


def resource_policy(
    name: str,
    description: str,
    check: ResourceCheck,
    *,
    enforcement_level: EnforcementLevel,
    severity: Severity,
    config: Mapping[str, dict[str, Any]] | None = None,
    resource_types: ResourceTypes | Collection[str] | None = None,
) -> ResourceValidationPolicy:
    """A policy that validates one resource at a time (its inputs). With `resource_types`, it reads only
    those types (see the module's docstring)."""
    reads = _resource_types(resource_types)
    declare_resource_types(name, reads)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if (reads is not None and not reads(args.resource_type)) or is_exempt(args.get_config(), args.urn):
            return
        unchecked: list[tuple[str, str]] = []
        for outcome in check(args):
            if isinstance(outcome, NotChecked):
                unchecked.append((outcome.urn or args.urn, outcome.why))
            else:
                report_violation(outcome, None)
        if unchecked:
            args.not_applicable(not_checked_reason(unchecked))

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=config_schema(config),
        severity=severity,
    )


def stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    *,
    enforcement_level: EnforcementLevel,
    severity: Severity,
    resource_types: ResourceTypes | Collection[str] | None = None,
) -> StackValidationPolicy:
    """A policy over every resource of the stack at once (their outputs). With `resource_types`, the check
    sees only resources of those types (see the module's docstring)."""
    reads = _resource_types(resource_types)
    declare_resource_types(name, reads)

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        if reads is not None:
            args.resources = [r for r in args.resources if reads(r.resource_type)]
        unchecked: list[tuple[str, str]] = []
        for outcome in check(args):
            if isinstance(outcome, NotChecked):
                if outcome.urn is not None and not is_exempt(config, outcome.urn):
                    unchecked.append((outcome.urn, outcome.why))
                continue
            urn, message = outcome
            if not is_exempt(config, urn):
                report_violation(message, urn)
        if unchecked:
            args.not_applicable(not_checked_reason(unchecked))

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=config_schema(),
        severity=severity,
    )


# --- reading properties ------------------------------------------------------------------------


def is_list(value: Any) -> TypeGuard[Sequence[Any]]:
    # The analyzer's proxies are Mappings and Sequences, not dicts and lists.
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def get(value: Any, *path: str | int) -> Any:
    """`value[path[0]][path[1]]...`, or None where the data ends before the path does."""
    for key in path:
        if isinstance(key, int):
            if not is_list(value) or not -len(value) <= key < len(value):
                return None
            value = value[key]
        else:
            if not isinstance(value, Mapping):
                return None
            try:  # one lookup: `key in value` on the analyzer's proxy would read the value twice
                value = value[key]
            except KeyError:
                return None
    return value


def items(value: Any, *path: str | int) -> list[Any]:
    """The list at `path`, or an empty one."""
    found = get(value, *path)
    return list(found) if is_list(found) else []


def known(value: Any, *path: str | int) -> Any:
    """Like `get`, but None where the value is unknown during preview: for reads that only match resources
    to each other, where an unknown must not stop the whole policy."""
    try:
        return get(value, *path)
    except UnknownValueError:
        return None


def show(value: Any) -> str:
    """A property value as the manifest would spell it: `true`, `0`, `"latest"`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if is_list(value):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return json.dumps(value)


def kubernetes_kind(resource_type: str) -> tuple[str, str] | None:
    """(API group, kind) of a Kubernetes resource type: `kubernetes:apps/v1:Deployment` -> ("apps",
    "Deployment"); the core group is "core". None for other packages and for the provider's
    non-object types (`kubernetes:yaml:ConfigFile`)."""
    package, _, rest = resource_type.partition(":")
    module, _, kind = rest.partition(":")
    if package != "kubernetes" or "/" not in module:
        return None
    return module.split("/", 1)[0], kind
