"""A Pulumi state as `make audit` reads it: what `pulumi stack export` prints, or the checkpoint a file or S3
backend stores, from a file or standard input.

Accepted, as the Pulumi CLI reads them (pulumi/pulumi pkg/resource/stack/deployment.go and checkpoint.go,
commit 1b5949891b3cefcb9974752b24a5ecef0acc86c8):
- `{"version": 3|4, "features": [...], "deployment": {...}}`: `pulumi stack export`. The CLI writes version
  4 when the stack uses a newer resource option (a feature) and lists it in `features`; a version-4 state
  naming a feature this reader does not know is refused, as the CLI refuses it.
- `{"version": 3|4, "features": [...], "checkpoint": {"stack": ..., "latest": {...}}}`: a checkpoint. A
  checkpoint without `latest` is a stack that was never updated: no resources.
- UTF-8, with or without a byte-order mark, and UTF-16 or UTF-32 (what PowerShell 5 writes for
  `pulumi stack export > x.json`), with or without a byte-order mark.
Anything else (older versions, other JSON, not JSON) is refused with one line naming the source and what was
expected: `StateError`.

The deployment's resources split three ways: live resources; resources pending deletion (`delete: true`, the
old copy a create-before-delete replacement leaves under the same URN, or `pendingReplacement: true`, deleted
by a delete-before-replace and not yet re-created); and `pending_operations`, the operations an interrupted
update left in flight. Only the live ones are audited; the other two are reported apart.

Property values stay as the state holds them (secret objects with their ciphertext or plaintext, resource
references, assets, byte strings); offline_preview/policy_eval.py turns them into what the engine sends a
policy pack, and a malformed one is a `StateError` there.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offline_preview.urns import urn_stack_project

EXPECTED = (
    'expected a `pulumi stack export` ({"version": 3 or 4, "deployment": {...}}) or a checkpoint '
    '({"version": 3 or 4, "checkpoint": {"latest": {...}}})'
)
READ_VERSIONS = (3, 4)
# The features the CLI accepts in a version-4 state (deployment.go: supportedFeatures); none changes what a
# policy sees of a resource, and byte strings are decoded (policy_eval.py).
KNOWN_FEATURES = frozenset(
    {
        "refreshBeforeUpdate",
        "views",
        "hooks",
        "taint",
        "replaceWith",
        "snippets-prototype",
        "extensionParameterization",
        "byteString",
    }
)
# apitype.OperationType, and `importing`, which the engine also writes (pkg/resource/operation.go).
OPERATION_TYPES = frozenset({"creating", "updating", "deleting", "reading", "importing"})
STDIN_NAMES = frozenset({"-", "/dev/stdin"})


class StateError(ValueError):
    """The input is not a state the audit reads; the message is one line naming the source."""


@dataclass(frozen=True)
class PendingResource:
    """A resource of the state that is not live: pending deletion or replacement, or in a pending operation."""

    urn: str
    type: str
    state: str  # "pending deletion", "pending replacement", or the operation: "creating", "updating", ...


@dataclass(frozen=True)
class State:
    source: str  # the file's path as given, or "standard input"
    version: int
    features: tuple[str, ...]
    stack: str
    project: str
    resources: list[dict[str, Any]]  # the live resources, as the state holds them
    pending: list[PendingResource]
    note: str = ""  # something the reader should know (an empty checkpoint)


def source_name(path: str | Path) -> str:
    return "standard input" if str(path) in STDIN_NAMES else str(path)


def read_state(path: str | Path) -> State:
    """The state in a file (`-` or /dev/stdin: standard input)."""
    source = source_name(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    except FileNotFoundError:
        raise StateError(f"{source}: no such file; {EXPECTED}") from None
    except IsADirectoryError:
        raise StateError(f"{source}: a directory, not a file; {EXPECTED}") from None
    except OSError as exc:
        raise StateError(f"{source}: cannot be read ({exc.strerror or exc}); {EXPECTED}") from None
    return load_state(data, source)


def load_state(data: bytes, source: str) -> State:
    text = decode_text(data, source)
    if not text.strip():
        raise StateError(f"{source}: empty; {EXPECTED}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(f"{source}: not JSON ({exc.msg}: line {exc.lineno} column {exc.colno}); {EXPECTED}") from None
    except RecursionError:
        raise StateError(f"{source}: JSON nested too deeply to read; {EXPECTED}") from None
    return parse_state(document, source)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _encoding_without_bom(data: bytes) -> str:
    """RFC 4627's rule: JSON text starts with an ASCII character, so the zero bytes around it give the encoding."""
    head = data[:4]
    if len(head) == 4 and head[:3] == b"\0\0\0" and head[3]:
        return "utf-32-be"
    if len(head) == 4 and head[0] and head[1:] == b"\0\0\0":
        return "utf-32-le"
    if len(head) >= 2 and head[0] == 0 and head[1]:
        return "utf-16-be"
    if len(head) >= 2 and head[0] and head[1] == 0:
        return "utf-16-le"
    return "utf-8"


def decode_text(data: bytes, source: str) -> str:
    """The text of a state file: UTF-8, UTF-16 or UTF-32, with or without a byte-order mark."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            data, name = data[len(bom) :], encoding
            break
    else:
        name = _encoding_without_bom(data)
    try:
        return data.decode(name)
    except UnicodeDecodeError as exc:
        what = (
            "UTF-8" if name == "utf-8" else name.upper().replace("-LE", " little-endian").replace("-BE", " big-endian")
        )
        raise StateError(
            f"{source}: not {what} text (byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded); "
            f"{EXPECTED}"
        ) from None


def _json_kind(value: Any) -> str:
    """`a JSON array`, `null`, ...: what a value is, for a message."""
    return "null" if value is None else f"a JSON {_kind(value)}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_state(document: Any, source: str) -> State:
    """A parsed JSON document as a state (see the module docstring)."""
    if not isinstance(document, Mapping):
        raise StateError(f"{source}: {_json_kind(document)}, not a Pulumi state; {EXPECTED}")
    if ("deployment" in document) == ("checkpoint" in document):
        which = (
            "both `deployment` and `checkpoint`"
            if "deployment" in document
            else "neither `deployment` nor `checkpoint`"
        )
        raise StateError(f"{source}: a JSON object with {which}; {EXPECTED}")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise StateError(f"{source}: `version` is {json.dumps(version)}; {EXPECTED}")
    if version < min(READ_VERSIONS):
        raise StateError(
            f"{source}: deployment version {version} is too old for this audit (it reads 3 and 4); export the "
            "stack again with a current Pulumi CLI (`pulumi stack export`), which upgrades it"
        )
    if version > max(READ_VERSIONS):
        raise StateError(
            f"{source}: deployment version {version} is newer than this audit reads (3 and 4); update the audit"
        )
    features = document.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise StateError(f"{source}: `features` is {json.dumps(features)}, not a list of feature names")
    if version >= 4:  # the CLI looks at features only from version 4
        unknown = [feature for feature in features if feature not in KNOWN_FEATURES]
        if unknown:
            raise StateError(
                f"{source}: the state needs features this audit does not know: {', '.join(unknown)} (it knows "
                f"{', '.join(sorted(KNOWN_FEATURES))}); the Pulumi CLI refuses such a state the same way"
            )

    note = ""
    if "checkpoint" in document:
        checkpoint = document["checkpoint"]
        if not isinstance(checkpoint, Mapping):
            raise StateError(f"{source}: `checkpoint` is {_json_kind(checkpoint)}, not an object; {EXPECTED}")
        deployment = checkpoint.get("latest")
        where = "checkpoint.latest"
        if deployment is None:
            deployment, note = {}, "the checkpoint holds no deployment: the stack was never updated"
    else:
        deployment = document["deployment"]
        where = "deployment"
    if not isinstance(deployment, Mapping):
        raise StateError(f"{source}: `{where}` is {_json_kind(deployment)}, not an object; {EXPECTED}")

    resources = _list(deployment.get("resources"), f"{where}.resources", source)
    live: list[dict[str, Any]] = []
    pending: list[PendingResource] = []
    for index, resource in enumerate(resources):
        _check_resource(resource, f"{where}.resources[{index}]", source)
        if resource.get("delete") is True:
            pending.append(PendingResource(resource["urn"], resource["type"], "pending deletion"))
        elif resource.get("pendingReplacement") is True:
            pending.append(PendingResource(resource["urn"], resource["type"], "pending replacement"))
        else:
            live.append(resource)
    operations = _list(deployment.get("pending_operations"), f"{where}.pending_operations", source)
    for index, operation in enumerate(operations):
        place = f"{where}.pending_operations[{index}]"
        if not isinstance(operation, Mapping):
            raise StateError(f"{source}: {place} is {_json_kind(operation)}, not an operation")
        _check_resource(operation.get("resource"), f"{place}.resource", source)
        kind = operation.get("type")
        if not isinstance(kind, str) or not kind:
            raise StateError(
                f"{source}: {place} has no operation type (expected one of {', '.join(sorted(OPERATION_TYPES))})"
            )
        resource = operation["resource"]
        pending.append(PendingResource(resource["urn"], resource["type"], kind))

    urns = [r["urn"] for r in live] + [p.urn for p in pending]
    stack, project = urn_stack_project(urns[0]) if urns else ("", "")
    if not stack and "checkpoint" in document and isinstance(document["checkpoint"].get("stack"), str):
        stack = document["checkpoint"]["stack"]
    return State(source, version, tuple(features), stack, project, live, pending, note)


def _list(value: Any, where: str, source: str) -> Sequence[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise StateError(f"{source}: `{where}` is {_json_kind(value)}, not an array")
    return value


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Fields of a resource the audit reads: what each may hold besides null, and how to say it.
_FIELDS: dict[str, tuple[Any, str]] = {
    "inputs": (lambda v: isinstance(v, Mapping), "an object"),
    "outputs": (lambda v: isinstance(v, Mapping), "an object"),
    "custom": (lambda v: isinstance(v, bool), "true or false"),  # decides whether an audit judges the outputs
    "parent": (lambda v: isinstance(v, str), "a URN"),
    "provider": (lambda v: isinstance(v, str), "a provider reference"),
    "protect": (lambda v: isinstance(v, bool), "true or false"),
    "delete": (lambda v: isinstance(v, bool), "true or false"),
    "pendingReplacement": (lambda v: isinstance(v, bool), "true or false"),
    "dependencies": (_strings, "a list of URNs"),
    "aliases": (_strings, "a list of URNs"),
    "additionalSecretOutputs": (_strings, "a list of property names"),
    "propertyDependencies": (
        lambda v: isinstance(v, Mapping) and all(d is None or _strings(d) for d in v.values()),
        "an object of URN lists",
    ),
    "customTimeouts": (
        lambda v: isinstance(v, Mapping) and all(_number(t) for t in v.values()),
        "an object of seconds",
    ),
}


def _check_resource(resource: Any, where: str, source: str) -> None:
    if not isinstance(resource, Mapping):
        raise StateError(f"{source}: {where} is {_json_kind(resource)}, not a resource")
    urn = resource.get("urn")
    parts = urn.split("::", 3) if isinstance(urn, str) else []
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:") or not parts[2]:
        raise StateError(
            f"{source}: {where} has {'no urn' if urn is None else f'urn {json.dumps(urn)}'}; expected "
            "urn:pulumi:<stack>::<project>::<type>::<name>"
        )
    resource_type = resource.get("type")
    if not isinstance(resource_type, str) or not resource_type:
        raise StateError(f"{source}: {where} ({urn}) has no type")
    for field, (valid, expected) in _FIELDS.items():
        value = resource.get(field)
        if value is not None and not valid(value):
            shown = json.dumps(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise StateError(f"{source}: {where} ({urn}): `{field}` is {shown}; expected {expected}")
