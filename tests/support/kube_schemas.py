"""Built-in Kubernetes kinds against Kubernetes' own schemas, as the API server checks them.

`kubernetes-validate --strict` checks types and unknown fields, but not what its schemas (the API server's
OpenAPI documents) say about lists: a list of `x-kubernetes-list-type: map` must not repeat an item's key
(`x-kubernetes-list-map-keys`, a key the item leaves out taking its default: a container port's
`protocol` is TCP), and one of type `set` must not repeat an item. The API server refuses both (a
Deployment with two containers named `frontend`, a container with two `PORT` variables: "Duplicate value").
`validate` runs both checks, the list rules with the same code as the CRDs' (`tests/support/crd_schemas.py`).

    from tests.support.kube_schemas import validate
    validate(deployment, "1.32.0")     # raises kubernetes_validate.ValidationError or ListTypeError
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import kubernetes_validate
from kubernetes_validate import utils

from tests.support.crd_schemas import list_type_problems

# Map-list keys the API server defaults in Go, not in its published schema: every port's `protocol` is TCP
# when left out (kubernetes/kubernetes pkg/apis/core/v1/defaults.go, SetDefaults_ContainerPort,
# SetDefaults_ServicePort, SetDefaults_EndpointPort; pkg/apis/networking/v1/defaults.go for NetworkPolicyPort).
GO_DEFAULTS = {"protocol": "TCP"}


class ListTypeError(AssertionError):
    """A map list repeats a key, or a set list an item: the message lists every one."""


def _schema_version(desired: str) -> str:
    # As kubernetes_validate.validate picks it: the newest version of its schemas not newer than `desired`.
    return [v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(desired)][-1]


@cache
def _schemas(version: str, kind: str, api_version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    directory = f"kubernetes-json-schema/v{version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    top = utils.schema_contents(f"{directory}/{kind.lower()}-{group_version}.json", version)
    definitions = utils.schema_contents(f"{directory}/_definitions.json", version)["$defs"]
    return top, definitions


def _resolve(schema: Mapping[str, Any], definitions: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = definitions[str(schema["$ref"]).rsplit("/", 1)[-1]]
    return schema


def _walk(schema: Mapping[str, Any], value: Any, path: str, definitions: Mapping[str, Any]) -> Iterator[str]:
    schema = _resolve(schema, definitions)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, ()):
            yield from _walk(sub, value, path, definitions)
    if isinstance(value, list):
        items = _resolve(schema.get("items", {}), definitions)
        defaults = {
            name: sub.get("default", GO_DEFAULTS.get(name)) for name, sub in items.get("properties", {}).items()
        }
        for problem in list_type_problems(schema, value, defaults):
            yield f"{path or '(object)'}: {problem}"
        for index, item in enumerate(value):
            yield from _walk(items, item, f"{path}[{index}]", definitions)
    elif isinstance(value, dict):
        properties = schema.get("properties", {})
        for name, item in value.items():
            sub = properties.get(name)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                yield from _walk(sub, item, f"{path}.{name}" if path else name, definitions)


def list_problems(obj: Mapping[str, Any], version: str) -> list[str]:
    top, definitions = _schemas(_schema_version(version), str(obj["kind"]), str(obj["apiVersion"]))
    return list(_walk(top, obj, "", definitions))


def validate(obj: Mapping[str, Any], version: str) -> None:
    """`kubernetes-validate --strict`, then the list rules it leaves out."""
    kubernetes_validate.validate(dict(obj), version, strict=True)
    found = list_problems(obj, version)
    if found:
        meta = obj.get("metadata") or {}
        raise ListTypeError(f"{obj['kind']} {meta.get('name')}: " + "; ".join(found))
