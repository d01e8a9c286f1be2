"""What every policy of the pack shares: the `exemptions` config, the two policy constructors, and reads of
the properties the analyzer hands a policy.

Policies see resources as the engine does: camelCase property names, numbers as floats (the wire format
is a protobuf Struct), secret values unwrapped, and unknown values (during preview) as proxies that raise
`UnknownValueError` when read. pulumi_policy then reports "can't run policy during preview" (advisory)
instead of a verdict; a policy never guesses about a value it cannot see.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
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


# --- policy constructors -----------------------------------------------------------------------

ResourceCheck = Callable[[ResourceValidationArgs], Iterable[str]]
"""Yields one message per violation: what is wrong, and how to fix it."""

StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str]]]
"""Yields (URN of the offending resource, message) per violation."""


def resource_policy(
    name: str,
    description: str,
    check: ResourceCheck,
    *,
    enforcement_level: EnforcementLevel,
    severity: Severity,
    config: Mapping[str, dict[str, Any]] | None = None,
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if is_exempt(args.get_config(), args.urn):
            return
        for message in check(args):
            report_violation(message, None)

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
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        for urn, message in check(args):
            if not is_exempt(config, urn):
                report_violation(message, urn)

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
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
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
