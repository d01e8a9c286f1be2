"""The strict CRD validator itself: it must reject what the API server rejects, or it proves nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.crd_schemas import CRD_DIR, CrdValidationError, problems, served_kinds, strict_validator, validate
from tests.support.stacks import manifests

SERVICE_MONITOR: dict[str, Any] = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "web", "namespace": "apps", "labels": {"release": "kube-prometheus-stack"}},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s", "honorLabels": True}],
    },
}

PROMETHEUS_RULE: dict[str, Any] = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "web-alerts", "namespace": "apps"},
    "spec": {
        "groups": [
            {
                "name": "web.rules",
                "partial_response_strategy": "WARN",
                "rules": [{"alert": "Down", "expr": "up == 0", "for": "5m", "labels": {"severity": "critical"}}],
            }
        ]
    },
}


def changed(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `obj` with the dotted `path` (list indices as numbers) set to `value`."""
    result = copy.deepcopy(obj)
    *parents, leaf = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[leaf] = value
    return result


def test_every_crd_schema_compiles() -> None:
    # Compiling closes each schema and compiles its patterns: a pattern Python cannot read fails here.
    kinds = served_kinds()
    assert "monitoring.coreos.com/v1 ServiceMonitor" in kinds
    assert len({kind.split()[1] for kind in kinds}) == len(list(CRD_DIR.glob("*.yaml")))  # one kind a file
    for entry in kinds:
        api_version, kind = entry.split()
        strict_validator(api_version, kind)


@pytest.mark.parametrize("obj", [SERVICE_MONITOR, PROMETHEUS_RULE], ids=["ServiceMonitor", "PrometheusRule"])
def test_a_valid_object_passes(obj: dict[str, Any]) -> None:
    validate(obj)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # Unknown fields, at every depth: what the plain CRD schema would let through.
        ("spec.endpoint", [], "'endpoint' was unexpected"),
        ("spec.endpoints.0.honorLabel", True, "'honorLabel' was unexpected"),
        ("spec.selector.matchLabel", {}, "'matchLabel' was unexpected"),
        ("colour", "blue", "'colour' was unexpected"),
        # Types, patterns and enums from the schema.
        ("spec.endpoints.0.interval", "15 seconds", "does not match"),
        ("spec.endpoints.0.honorLabels", "true", "is not of type 'boolean'"),
        ("spec.endpoints.0.scheme", "ftp", "is not one of"),
        # ObjectMeta, which the CRD leaves open.
        ("metadata.name", "Web_Metrics", "DNS-1123"),
        ("metadata.namespace", None, "namespaced"),
        ("metadata.labels", {"release": "kube prometheus"}, "not a valid label value"),
        ("metadata.labels", {"-bad": "x"}, "not a valid label key"),
        ("metadata.generatedName", "web-", "not an ObjectMeta field"),
    ],
)
def test_the_service_monitor_is_checked_strictly(path: str, value: Any, expected: str) -> None:
    found = problems(changed(SERVICE_MONITOR, path, value))
    assert any(expected in problem for problem in found), found


def test_validate_raises_with_every_problem() -> None:
    broken = changed(changed(SERVICE_MONITOR, "spec.endpoint", []), "metadata.name", "UPPER")
    with pytest.raises(CrdValidationError) as raised:
        validate(broken)
    assert "'endpoint' was unexpected" in str(raised.value)
    assert "metadata.name" in str(raised.value)


def test_int_or_string_and_go_inline_flags() -> None:
    # `expr` is int-or-string; `partial_response_strategy`'s pattern is `^(?i)(abort|warn)?$`,
    # which Python's `re` refuses as written.
    assert problems(changed(PROMETHEUS_RULE, "spec.groups.0.rules.0.expr", 1)) == []
    assert problems(changed(PROMETHEUS_RULE, "spec.groups.0.partial_response_strategy", "Abort")) == []
    found = problems(changed(PROMETHEUS_RULE, "spec.groups.0.partial_response_strategy", "retry"))
    assert any("does not match" in problem for problem in found), found
    found = problems(changed(PROMETHEUS_RULE, "spec.groups.0.rules.0.expr", 1.5))
    assert found, "a float is neither an integer nor a string"


def test_map_lists_must_not_repeat_a_key() -> None:
    group = PROMETHEUS_RULE["spec"]["groups"][0]
    found = problems(changed(PROMETHEUS_RULE, "spec.groups", [group, group]))
    assert any("duplicate entry for key {'name': 'web.rules'}" in problem for problem in found), found


def test_a_gateway_listing_a_hostname_twice_repeats_a_listener_name() -> None:
    # What `hostnames: [hft-platform.com, hft-platform.com]` rendered before the settings refused it.
    gateway = next(o for o in manifests("production") if o["kind"] == "Gateway")
    assert problems(gateway) == []
    listeners = gateway["spec"]["listeners"]
    found = problems(changed(gateway, "spec.listeners", [*listeners, listeners[0]]))
    assert any(f"duplicate entry for key {{'name': '{listeners[0]['name']}'}}" in p for p in found), found


def test_unknown_kinds_and_versions_are_refused() -> None:
    assert "no served version" in problems({**SERVICE_MONITOR, "apiVersion": "monitoring.coreos.com/v2"})[0]
    with pytest.raises(CrdValidationError, match="no CRD"):
        strict_validator("example.com/v1", "Widget")
