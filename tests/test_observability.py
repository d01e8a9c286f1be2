"""Observability: the ServiceMonitor, the alert rules and the dashboard, as pure specs and as the
component registers them. promtool's checks of the rules are in test_observability_alerts.py."""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pulumi
import pytest

from components.frontend_app import CONTAINER_NAME, identity
from components.k8s import ServiceTarget
from components.observability import (
    GRAFANA_DASHBOARD_LABELS,
    Observability,
    ObservabilityArgs,
    Scope,
    alert_rules,
    grafana_dashboard,
    prometheus_rule_spec,
    service_monitor_spec,
)
from components.settings import ObservabilitySettings, StackSettings
from offline_preview.engine import RecordingMonitor, reveal
from tests.support.crd_schemas import validate
from tests.support.promql import APP_METRICS, CONTAINER_METRICS, functions, grouping, nodes, selectors
from tests.support.stacks import STACKS, from_stack_file, settings

ALERTS = ("HighErrorRate", "HighResponseTime", "WebSocketConnectionDrop", "PodCrashLooping", "HighMemoryUsage")
SCOPE = Scope(namespace="qa-ns", service="ui-svc", container="ui-container")


def stack_settings(**observability: Any) -> StackSettings:
    return settings(observability=observability)


def rules_by_name(observability: ObservabilitySettings, scope: Scope = SCOPE) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in alert_rules(observability, scope)}


# --- ServiceMonitor ----------------------------------------------------------------------------


def test_the_service_monitor_selects_the_given_service_labels_and_port() -> None:
    labels = {"app.kubernetes.io/name": "ui", "app.kubernetes.io/instance": "ui-qa"}
    spec = service_monitor_spec(ObservabilitySettings(scrape_interval="30s"), labels, "metrics-port")
    assert spec["selector"] == {"matchLabels": labels}
    assert spec["endpoints"] == [{"port": "metrics-port", "path": "/metrics", "interval": "30s", "honorLabels": True}]
    # With jobLabel unset, prometheus-operator names the job after the Service; the alerts do not
    # depend on it at all, they select on `namespace` and `service`.
    assert "jobLabel" not in spec
    for rule in alert_rules(ObservabilitySettings(), SCOPE):
        for matchers in [m for found in selectors(rule["expr"]).values() for m in found]:
            assert "job" not in matchers, rule["alert"]


# --- alert rules -------------------------------------------------------------------------------


def test_the_seed_alerts_with_their_severities_and_durations() -> None:
    rules = rules_by_name(ObservabilitySettings())
    assert tuple(rules) == ALERTS
    assert {name: (rule["labels"]["severity"], rule["for"]) for name, rule in rules.items()} == {
        "HighErrorRate": ("critical", "2m"),
        "HighResponseTime": ("warning", "5m"),
        "WebSocketConnectionDrop": ("warning", "1m"),
        "PodCrashLooping": ("critical", "5m"),
        "HighMemoryUsage": ("warning", "10m"),
    }


def test_every_alert_says_what_and_where_to_look() -> None:
    for name, rule in rules_by_name(ObservabilitySettings()).items():
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}
        assert annotations["runbook_url"] == f"https://runbooks.hft-platform.com/frontend/{name.lower()}"
        assert "{{ $labels.namespace }}" in annotations["description"]


@pytest.mark.parametrize("name", ALERTS)
def test_every_expression_parses_as_promql(name: str) -> None:
    expr = rules_by_name(ObservabilitySettings())[name]["expr"]
    assert isinstance(promql_parser.parse(expr), promql_parser.BinaryExpr)  # a comparison or `or`


def test_every_selector_is_scoped_to_the_apps_namespace_service_and_container() -> None:
    for name, rule in rules_by_name(ObservabilitySettings()).items():
        for metric, found in selectors(rule["expr"]).items():
            for matchers in found:
                assert matchers["namespace"] == "=qa-ns", (name, metric)
                if metric in APP_METRICS:
                    assert matchers["service"] == "=ui-svc", (name, metric)
                else:
                    assert metric in CONTAINER_METRICS, (name, metric)
                    assert matchers["container"] == "=ui-container", (name, metric)


def test_high_error_rate_is_a_share_of_all_responses() -> None:
    expr = rules_by_name(ObservabilitySettings())["HighErrorRate"]["expr"]
    tree = promql_parser.parse(expr)
    assert isinstance(tree, promql_parser.BinaryExpr)
    assert str(tree.op) == ">"
    assert str(tree.rhs) == "0.05"
    ratio = tree.lhs
    assert isinstance(ratio, promql_parser.BinaryExpr)
    assert str(ratio.op) == "/"
    (errors,) = selectors(str(ratio.lhs))["http_requests_total"]
    (everything,) = selectors(str(ratio.rhs))["http_requests_total"]
    assert errors["status"] == "=~5.."
    assert "status" not in everything


def test_high_response_time_is_p95_of_the_aggregated_histogram() -> None:
    expr = rules_by_name(ObservabilitySettings())["HighResponseTime"]["expr"]
    (quantile,) = [n for n in nodes(expr) if isinstance(n, promql_parser.Call) and n.func.name == "histogram_quantile"]
    assert str(quantile.args[0]) == "0.95"
    aggregation = quantile.args[1]
    assert isinstance(aggregation, promql_parser.AggregateExpr)
    assert "le" in grouping(aggregation)
    assert "pod" not in grouping(aggregation)


def test_websocket_drop_uses_delta_on_the_gauge() -> None:
    expr = rules_by_name(ObservabilitySettings())["WebSocketConnectionDrop"]["expr"]
    assert "delta" in functions(expr)
    assert not functions(expr) & {"rate", "irate", "increase", "resets"}  # counter functions on a gauge


def test_crash_looping_sees_restarts_and_back_off() -> None:
    expr = rules_by_name(ObservabilitySettings())["PodCrashLooping"]["expr"]
    found = selectors(expr)
    assert "kube_pod_container_status_restarts_total" in found
    assert found["kube_pod_container_status_waiting_reason"][0]["reason"] == "=CrashLoopBackOff"


def test_memory_compares_the_working_set_with_the_limit() -> None:
    found = selectors(rules_by_name(ObservabilitySettings())["HighMemoryUsage"]["expr"])
    assert set(found) == {"container_memory_working_set_bytes", "kube_pod_container_resource_limits"}
    (limit,) = found["kube_pod_container_resource_limits"]
    assert (limit["resource"], limit["unit"]) == ("=memory", "=byte")


def test_thresholds_durations_and_windows_are_stack_values() -> None:
    # Every value distinct, so an alert that reads another alert's setting shows it.
    rules = rules_by_name(
        stack_settings(
            alerts={
                "highErrorRate": {"threshold": 0.11, "duration": "3m", "window": "7m"},
                "highResponseTime": {"threshold": 0.25, "duration": "11m", "window": "8m"},
                "websocketConnectionDrop": {"threshold": 500, "duration": "2m", "window": "9m"},
                "podCrashLooping": {"threshold": 3, "duration": "15m", "window": "21m"},
                "highMemoryUsage": {"threshold": 0.8, "duration": "1h", "window": "12m"},
            }
        ).observability
    )
    assert rules["HighErrorRate"]["expr"].endswith("> 0.11")
    assert "[7m]" in rules["HighErrorRate"]["expr"]
    assert "(threshold 11%)" in rules["HighErrorRate"]["annotations"]["description"]
    assert rules["HighResponseTime"]["expr"].endswith("> 0.25")
    assert "[8m]" in rules["HighResponseTime"]["expr"]
    assert rules["WebSocketConnectionDrop"]["expr"].endswith("> 500")
    assert "[9m:15s]" in rules["WebSocketConnectionDrop"]["expr"]
    assert "> 3\nor" in rules["PodCrashLooping"]["expr"]
    assert "[21m]" in rules["PodCrashLooping"]["expr"]
    assert "more than 3 times in the last 21m" in rules["PodCrashLooping"]["annotations"]["description"]
    assert rules["HighMemoryUsage"]["expr"].endswith("> 0.8")
    assert [rule["for"] for rule in rules.values()] == ["3m", "11m", "2m", "15m", "1h"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_specs_are_valid_custom_resources(stack: str) -> None:
    observability = from_stack_file(stack).observability
    metadata = {"namespace": "qa-ns", "labels": {"app": "ui"}}
    validate(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "ui-metrics", **metadata},
            "spec": service_monitor_spec(observability, {"app": "ui"}, "http"),
        }
    )
    validate(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "ui-alerts", **metadata},
            "spec": prometheus_rule_spec(observability, SCOPE),
        }
    )


# --- dashboard ---------------------------------------------------------------------------------


def dashboard_for(_: Any = None) -> dict[str, Any]:
    return grafana_dashboard(identity("ui", "qa"), SCOPE)


def targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in board["panels"] for target in panel["targets"]]


def test_the_dashboard_keeps_the_seeds_panels_in_current_types() -> None:
    board = dashboard_for()
    assert [(panel["title"], panel["type"]) for panel in board["panels"]] == [
        ("Request Rate", "timeseries"),
        ("Response Time", "timeseries"),
        ("WebSocket Connections", "stat"),
        ("Error Rate", "timeseries"),
    ]
    assert (board["title"], board["tags"], board["refresh"]) == (
        "HFT Frontend Monitoring",
        ["hft", "frontend", "trading"],
        "10s",
    )
    assert board["time"] == {"from": "now-1h", "to": "now"}
    legends = [target["legendFormat"] for target in targets(board)]
    assert legends == ["{{method}} {{path}}", "95th percentile", "50th percentile", "Active Connections", "{{status}}"]


def test_the_dashboard_reads_from_a_datasource_variable() -> None:
    board = dashboard_for()
    (variable,) = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    expected = {"type": "prometheus", "uid": "${datasource}"}
    assert all(panel["datasource"] == expected for panel in board["panels"])
    assert all(target["datasource"] == expected for target in targets(board))


def test_every_panel_query_parses_and_is_scoped_to_the_app() -> None:
    board = dashboard_for()
    exprs = [target["expr"] for target in targets(board)]
    assert len(exprs) == 5
    for expr in exprs:
        assert "$" not in expr  # no template variable: what is parsed here is what Grafana sends
        promql_parser.parse(expr)
        for found in selectors(expr).values():
            for matchers in found:
                assert (matchers["namespace"], matchers["service"]) == ("=qa-ns", "=ui-svc"), expr
    latency = [n for e in exprs[1:3] for n in nodes(e) if isinstance(n, promql_parser.AggregateExpr)]
    assert [grouping(aggregation) for aggregation in latency] == [["le"], ["le"]]


def test_dashboard_panels_have_unique_ids_and_refs() -> None:
    board = dashboard_for()
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
    for panel in board["panels"]:
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
    assert board["uid"] == "ui-qa"
    assert len(board["uid"]) <= 40  # Grafana's limit


# --- the component under mocks -----------------------------------------------------------------


def manifest(registration: Any) -> dict[str, Any]:
    return reveal({key: value for key, value in registration.inputs.items() if not key.startswith("__")})


@pulumi.runtime.test
def test_the_component_registers_valid_resources_under_itself(pulumi_mocks: RecordingMonitor) -> Any:
    observability = ObservabilitySettings()
    app = identity("trading-ui", "qa")
    # Outputs, as __main__ passes them: the scope must come from the resolved values.
    target = ServiceTarget(
        app=app,
        namespace=pulumi.Output.from_input("qa-ns"),
        name=pulumi.Output.from_input("trading-ui-svc"),
        port=8081,
        port_name="web",
        container=CONTAINER_NAME,
    )
    component = Observability(
        "trading-ui-observability",
        ObservabilityArgs(
            settings=observability,
            target=target,
            prometheus_selector_labels={"release": "prom"},
            dashboard_namespace="grafana-ns",
        ),
    )

    def check(_: Any) -> None:
        registrations = list(pulumi_mocks.registrations.values())
        (parent,) = [r for r in registrations if r.type == "hft:index:Observability"]
        children = {r.type: r for r in registrations if r.parent == parent.urn}
        assert {r.name for r in children.values()} == {
            "trading-ui-observability-service-monitor",
            "trading-ui-observability-rules",
            "trading-ui-observability-dashboard",
        }
        service_monitor = manifest(children["kubernetes:monitoring.coreos.com/v1:ServiceMonitor"])
        prometheus_rule = manifest(children["kubernetes:monitoring.coreos.com/v1:PrometheusRule"])
        for obj in (service_monitor, prometheus_rule):
            validate(obj)
            assert obj["metadata"]["namespace"] == "qa-ns"
            assert obj["metadata"]["labels"]["release"] == "prom"
        assert service_monitor["metadata"]["name"] == "trading-ui-metrics"
        assert service_monitor["spec"]["selector"]["matchLabels"] == app.selector_labels
        assert service_monitor["spec"]["endpoints"][0]["port"] == "web"
        assert prometheus_rule["metadata"]["name"] == "trading-ui-alerts"
        scope = Scope(namespace="qa-ns", service="trading-ui-svc", container=CONTAINER_NAME)
        assert prometheus_rule["spec"] == prometheus_rule_spec(observability, scope)

        config_map = manifest(children["kubernetes:core/v1:ConfigMap"])
        assert config_map["metadata"]["namespace"] == "grafana-ns"
        assert config_map["metadata"]["name"] == "trading-ui-qa-dashboard"
        assert config_map["metadata"]["labels"].items() >= GRAFANA_DASHBOARD_LABELS.items()
        (document,) = config_map["data"].values()
        assert json.loads(document) == grafana_dashboard(app, scope, observability.slos)

    resources = [component.service_monitor, component.prometheus_rule, component.dashboard]
    return pulumi.Output.all(*[resource.urn for resource in resources]).apply(check)


def test_observability_is_on_by_default_and_can_be_turned_off() -> None:
    assert ObservabilitySettings().enabled
    assert all(from_stack_file(stack).observability.enabled for stack in STACKS)
    assert not stack_settings(enabled=False).observability.enabled
