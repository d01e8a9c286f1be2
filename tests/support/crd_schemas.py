"""Strict validation of custom resources against the vendored CRDs (`schemas/crds`).

The API server, with strict field validation (`kubectl apply --validate=strict`, server-side apply),
rejects what the CRD's schema does not declare; a plain JSON-schema check would accept it, because
CRD schemas leave `additionalProperties` unset. So the schemas are closed here the way the API
server reads them:
- an object schema listing `properties`, with neither `additionalProperties` nor
  `x-kubernetes-preserve-unknown-fields`, admits no other keys;
- `nullable: true` admits null, `x-kubernetes-int-or-string` an integer or a string;
- `x-kubernetes-list-type: map` / `set` lists must not repeat a key / an item;
- Go's inline `(?i)` flag in the middle of a pattern, which Python's `re` refuses, becomes global
  (a little more permissive than Go);
- `metadata`, which CRDs leave open, is checked as ObjectMeta: a DNS-1123 name, a namespace exactly
  when the CRD is namespaced, valid label keys and values, string annotations.
`x-kubernetes-validations` (CEL rules) are not evaluated.

    from tests.support.crd_schemas import validate
    validate(service_monitor)          # raises CrdValidationError listing every problem
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cel
import yaml
from cel import stdlib as cel_stdlib
from jsonschema import Draft4Validator, ValidationError, validators

CRD_DIR = Path(__file__).resolve().parents[2] / "schemas" / "crds"

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_OBJECT_META_FIELDS = frozenset(
    {"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences"}
)


class CrdValidationError(AssertionError):
    """The object is not what the API server would accept; the message lists every problem."""


@dataclass(frozen=True)
class Crd:
    group: str
    kind: str
    namespaced: bool
    path: Path


# --- reading the schemas the way the API server does -------------------------------------------


def _close(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI v3 (structural) schema with the API server's rules made explicit."""
    closed = dict(schema)
    # Recurse only where schemas sit: a property may well be named `type` or `pattern`.
    if "properties" in schema:
        closed["properties"] = {name: _close(sub) for name, sub in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            closed["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        closed["additionalProperties"] = _close(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        closed["items"] = _close(schema["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            closed[key] = [_close(sub) for sub in schema[key]]
    if "not" in schema:
        closed["not"] = _close(schema["not"])
    if schema.get("nullable") and "type" in schema:
        closed["type"] = [schema["type"], "null"]
    if schema.get("x-kubernetes-int-or-string") and "type" not in schema and "anyOf" not in schema:
        closed["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "pattern" in schema:
        closed["pattern"] = _python_pattern(schema["pattern"])
    return closed


def _python_pattern(pattern: str) -> str:
    """Go's regexp allows `(?i)` anywhere; Python only at the start."""
    if "(?i)" in pattern[1:]:
        pattern = "(?i)" + pattern.replace("(?i)", "")
    re.compile(pattern)  # fail here, naming the pattern, rather than mid-validation
    return pattern


def list_type_problems(
    schema: Mapping[str, Any], instance: Any, defaults: Mapping[str, Any] | None = None
) -> list[str]:
    """The API server refuses a `map` list repeating a key, and a `set` list repeating an item. A key an item
    leaves out counts as its schema `default` (`defaults`), as the API server defaults before it validates."""
    list_type = schema.get("x-kubernetes-list-type")
    if not isinstance(instance, list) or list_type not in ("map", "set"):
        return []
    found: list[str] = []
    if list_type == "set":
        seen: list[Any] = []
        for item in instance:
            if item in seen:
                found.append(f"duplicate item {item!r} in a list of type set")
            seen.append(item)
        return found
    keys = schema.get("x-kubernetes-list-map-keys", [])
    defaults = defaults or {}
    entries: set[tuple[str, ...]] = set()
    for item in instance:
        if not isinstance(item, dict):
            continue
        shown = {name: item.get(name, defaults.get(name)) for name in keys}
        key = tuple(repr(value) for value in shown.values())
        if key in entries:
            found.append(f"duplicate entry for key {shown} in a list of type map")
        entries.add(key)
    return found


def _list_type(validator: Any, list_type: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
    defaults = {name: sub.get("default") for name, sub in (items or {}).get("properties", {}).items()}
    for problem in list_type_problems(schema, instance, defaults):
        yield ValidationError(problem)


_KubernetesValidator = validators.extend(Draft4Validator, {"x-kubernetes-list-type": _list_type})


@cache
def _crds() -> dict[tuple[str, str, str], tuple[Crd, dict[str, Any]]]:
    """(group, version, kind) -> the CRD and the raw schema of each served version."""
    found: dict[tuple[str, str, str], tuple[Crd, dict[str, Any]]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        if document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        crd = Crd(spec["group"], spec["names"]["kind"], spec["scope"] == "Namespaced", path)
        for version in spec["versions"]:
            if version.get("served"):
                found[(crd.group, version["name"], crd.kind)] = (crd, version["schema"]["openAPIV3Schema"])
    return found


def served_kinds() -> list[str]:
    """Every `group/version Kind` the CRDs serve."""
    return sorted(f"{group}/{version} {kind}" for group, version, kind in _crds())


@cache
def strict_validator(api_version: str, kind: str) -> Any:
    """A jsonschema validator for one served version of one CRD, closed against unknown fields."""
    group, _, version = api_version.rpartition("/")
    try:
        _, schema = _crds()[(group, version, kind)]
    except KeyError:
        raise CrdValidationError(
            f"no CRD in {CRD_DIR} serves {api_version} {kind} (served: {', '.join(served_kinds())})"
        ) from None
    closed = _close(schema)
    _KubernetesValidator.check_schema(closed)
    return _KubernetesValidator(closed)


# --- CEL rules (x-kubernetes-validations) ------------------------------------------------------------


def _defaulted(schema: Mapping[str, Any], value: Any) -> Any:
    """`value` with the schema's defaults filled in where a property is absent (structural defaulting,
    which the API server applies before it validates)."""
    if isinstance(value, dict):
        result = dict(value)
        for name, sub in (schema.get("properties") or {}).items():
            if name not in result and "default" in sub:
                result[name] = copy.deepcopy(sub["default"])
            if name in result:
                result[name] = _defaulted(sub, result[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in set(result) - set(schema.get("properties") or {}):
                result[name] = _defaulted(extra, result[name])
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_defaulted(schema["items"], item) for item in value]
    return value


@cache
def _program(rule: str) -> Any:
    return cel.compile(rule)


def _context(value: Any) -> cel.Context:
    context = cel.Context(variables={"self": value})
    cel_stdlib.add_stdlib_to_context(context)  # split, join, ...: Kubernetes' CEL libraries have them
    return context


def _cel_problems(schema: Mapping[str, Any], value: Any, path: str) -> Iterator[str]:
    for validation in schema.get("x-kubernetes-validations") or []:
        rule = validation["rule"]
        if "oldSelf" in rule:
            continue  # a transition rule: evaluated on update only
        try:
            passed = _program(rule).execute(_context(value))
        except (RuntimeError, TypeError, ValueError) as exc:
            yield f"{path or '(object)'}: CEL rule could not be evaluated ({exc}): {rule}"
            continue
        if passed is not True:
            yield f"{path or '(object)'}: {validation.get('message') or 'failed rule: ' + rule}"
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                yield from _cel_problems(sub, value[name], f"{path}.{name}".lstrip("."))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in set(value) - set(schema.get("properties") or {}):
                yield from _cel_problems(extra, value[name], f"{path}.{name}".lstrip("."))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _cel_problems(schema["items"], item, f"{path}[{index}]")


def _rules(schema: Mapping[str, Any]) -> Iterator[str]:
    for validation in schema.get("x-kubernetes-validations") or []:
        yield validation["rule"]
    for sub in (schema.get("properties") or {}).values():
        yield from _rules(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _rules(schema[key])


def rule_coverage() -> Counter[str]:
    """Every CEL rule of every served CRD version, by how it is handled: `evaluated`, `transition`
    (reads oldSelf: update only, skipped), `does not compile` (what cel-rust cannot parse)."""
    counts: Counter[str] = Counter()
    for _, schema in _crds().values():
        for rule in _rules(schema):
            if "oldSelf" in rule:
                counts["transition"] += 1
                continue
            try:
                _program(rule)
            except (RuntimeError, TypeError, ValueError):
                counts["does not compile"] += 1
            else:
                counts["evaluated"] += 1
    return counts


# --- validating --------------------------------------------------------------------------------


def _metadata_problems(metadata: Any, namespaced: bool) -> Iterator[str]:
    if not isinstance(metadata, dict):
        yield "metadata: required, and must be an object"
        return
    for key in sorted(set(metadata) - _OBJECT_META_FIELDS):
        yield f"metadata.{key}: not an ObjectMeta field the program may set"
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        yield f"metadata.name: {name!r} is not a DNS-1123 subdomain (and auto-naming is not used here)"
    namespace = metadata.get("namespace")
    if namespaced and (not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
        yield f"metadata.namespace: {namespace!r} is not a namespace name, and the kind is namespaced"
    if not namespaced and namespace is not None:
        yield "metadata.namespace: set on a cluster-scoped kind"
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, label = key.rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.match(prefix)) or len(label) > 63 or not _LABEL_NAME.match(label):
            yield f"metadata.labels: {key!r} is not a valid label key"
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            yield f"metadata.labels[{key!r}]: {value!r} is not a valid label value"
    for key, value in (metadata.get("annotations") or {}).items():
        if not isinstance(value, str):
            yield f"metadata.annotations[{key!r}]: {value!r} is not a string"


def problems(obj: Mapping[str, Any]) -> list[str]:
    """Every reason the API server would reject `obj`, as `path: message` lines (empty if none)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return ["apiVersion and kind: required strings"]
    group, _, version = api_version.rpartition("/")
    entry = _crds().get((group, version, kind))
    if entry is None:
        return [f"{api_version} {kind}: no served version of a CRD in {CRD_DIR} (served: {', '.join(served_kinds())})"]
    crd, schema = entry
    found = list(_metadata_problems(obj.get("metadata"), crd.namespaced))
    for error in sorted(
        strict_validator(api_version, kind).iter_errors(dict(obj)),
        key=lambda e: [str(part) for part in e.absolute_path],
    ):
        path = ".".join(str(part) for part in error.absolute_path) or "(object)"
        found.append(f"{path}: {error.message}")
    if not found:  # the API server runs the CEL rules on an object that passed the schema, defaulted
        found += _cel_problems(schema, _defaulted(schema, dict(obj)), "")
    return found


def validate(obj: Mapping[str, Any]) -> None:
    """Raise CrdValidationError naming the object and every problem, unless the API server would accept it."""
    found = problems(obj)
    if found:
        name = (obj.get("metadata") or {}).get("name", "?")
        lines = "\n  ".join(found)
        raise CrdValidationError(f"{obj.get('kind')} {name} is not valid against its CRD:\n  {lines}")
