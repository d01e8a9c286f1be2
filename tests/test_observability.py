"""Observability: the ServiceMonitor, the alert rules and the dashboard, as pure specs and as the
component registers them. promtool's checks of the rules are in test_observability_alerts.py."""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pulumi
import pytest

from components.frontend_app import CONTAINER_NAME, PORT_NAME, common_labels, selector_labels, service_spec
from components.observability import (
    GRAFANA_DASHBOARD_LABELS,
    MONITORING_API_VERSION,
    Observability,
    ObservabilityArgs,
    Scope,
    alert_rules,
    grafana_dashboard,
    prometheus_rule_spec,
    service_monitor_spec,
)
from components.settings import ObservabilitySettings, StackSettings, parse_settings
from offline_preview.engine import RecordingMonitor, reveal
from tests.conftest import STACKS
from tests.crd_schemas import validate
from tests.test_settings import MINIMAL_APP, from_stack_file

ALERTS = ("HighErrorRate", "HighResponseTime", "WebSocketConnectionDrop", "PodCrashLooping", "HighMemoryUsage")
# Series of the app's own metrics come through the ServiceMonitor; the others from kube-state-metrics
# and cAdvisor, which label them with the pod's namespace and container.
APP_METRICS = {"http_requests_total", "http_request_duration_seconds_bucket", "websocket_connections_active"}
CONTAINER_METRICS = {
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_waiting_reason",
    "container_memory_working_set_bytes",
    "kube_pod_container_resource_limits",
}


def stack_settings(**observability: Any) -> StackSettings:
    return parse_settings({"environment": "qa", "namespace": "qa", "app": MINIMAL_APP, "observability": observability})


def scope_of(settings: StackSettings) -> Scope:
    return Scope(namespace=settings.namespace, service=settings.app.service.name)


def rules_by_name(settings: StackSettings) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in alert_rules(settings.observability, scope_of(settings))}


# --- PromQL helpers ----------------------------------------------------------------------------


def nodes(expr: str) -> list[Any]:
    found: list[Any] = []
    promql_parser.walk(promql_parser.parse(expr), lambda node: found.append(node))
    return found


# MatchOp is neither hashable nor has a PromQL spelling; its name is.
_OPERATORS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def selectors(expr: str) -> dict[str, list[dict[str, str]]]:
    """Each metric the expression selects -> the matchers of each selector, as `label: op+value`."""
    found: dict[str, list[dict[str, str]]] = {}
    for node in nodes(expr):
        if isinstance(node, promql_parser.VectorSelector):
            matchers = {m.name: _OPERATORS[str(m.op)] + m.value for m in node.matchers.matchers}
            found.setdefault(node.name or "", []).append(matchers)
    return found


def grouping(aggregation: promql_parser.AggregateExpr) -> list[str]:
    assert aggregation.modifier is not None, f"{aggregation} has no by/without clause"
    return aggregation.modifier.labels


def functions(expr: str) -> set[str]:
    return {node.func.name for node in nodes(expr) if isinstance(node, promql_parser.Call)}


# --- ServiceMonitor ----------------------------------------------------------------------------


def test_the_service_monitor_selects_the_apps_service_and_port() -> None:
    settings = stack_settings()
    app = settings.app
    spec = service_monitor_spec(settings.observability, app, "qa")
    service: Any = service_spec(app, "qa")
    selector = spec["selector"]["matchLabels"]
    assert selector == selector_labels(app, "qa")
    # The Service carries these labels (common_labels), and its port has the endpoint's name.
    assert selector.items() <= common_labels(app, "qa").items()
    assert [port["name"] for port in service["ports"]] == [PORT_NAME]
    assert spec["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s", "honorLabels": True}]


def test_no_job_label_so_the_alerts_select_namespace_and_service() -> None:
    # With jobLabel unset, prometheus-operator names the job after the Service; the alerts do not
    # depend on it at all, they select on `namespace` and `service`.
    settings = stack_settings()
    assert "jobLabel" not in service_monitor_spec(settings.observability, settings.app, "qa")
    for rule in alert_rules(settings.observability, scope_of(settings)):
        for matchers in [m for found in selectors(rule["expr"]).values() for m in found]:
            assert "job" not in matchers, rule["alert"]


def test_the_scrape_interval_is_a_stack_value() -> None:
    settings = stack_settings(scrapeInterval="30s")
    spec = service_monitor_spec(settings.observability, settings.app, "qa")
    assert spec["endpoints"][0]["interval"] == "30s"


# --- alert rules -------------------------------------------------------------------------------


def test_the_seed_alerts_with_their_severities_and_durations() -> None:
    rules = rules_by_name(stack_settings())
    assert tuple(rules) == ALERTS
    assert {name: (rule["labels"]["severity"], rule["for"]) for name, rule in rules.items()} == {
        "HighErrorRate": ("critical", "2m"),
        "HighResponseTime": ("warning", "5m"),
        "WebSocketConnectionDrop": ("warning", "1m"),
        "PodCrashLooping": ("critical", "5m"),
        "HighMemoryUsage": ("warning", "10m"),
    }


def test_every_alert_says_what_and_where_to_look() -> None:
    for name, rule in rules_by_name(stack_settings()).items():
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}
        assert annotations["runbook_url"] == f"https://runbooks.hft-platform.com/frontend/{name.lower()}"
        assert "{{ $labels.namespace }}" in annotations["description"]


@pytest.mark.parametrize("name", ALERTS)
def test_every_expression_parses_as_promql(name: str) -> None:
    expr = rules_by_name(stack_settings())[name]["expr"]
    assert isinstance(promql_parser.parse(expr), promql_parser.BinaryExpr)  # a comparison or `or`


@pytest.mark.parametrize("stack", STACKS)
def test_every_selector_is_scoped_to_the_apps_namespace(stack: str) -> None:
    settings = from_stack_file(stack)
    for name, rule in rules_by_name(settings).items():
        for metric, found in selectors(rule["expr"]).items():
            for matchers in found:
                assert matchers["namespace"] == f"={settings.namespace}", (name, metric)
                if metric in APP_METRICS:
                    assert matchers["service"] == f"={settings.app.service.name}", (name, metric)
                else:
                    assert metric in CONTAINER_METRICS, (name, metric)
                    assert matchers["container"] == f"={CONTAINER_NAME}", (name, metric)


def test_high_error_rate_is_a_share_of_all_responses() -> None:
    expr = rules_by_name(stack_settings())["HighErrorRate"]["expr"]
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
    expr = rules_by_name(stack_settings())["HighResponseTime"]["expr"]
    (quantile,) = [n for n in nodes(expr) if isinstance(n, promql_parser.Call) and n.func.name == "histogram_quantile"]
    assert str(quantile.args[0]) == "0.95"
    aggregation = quantile.args[1]
    assert isinstance(aggregation, promql_parser.AggregateExpr)
    assert "le" in grouping(aggregation)
    assert "pod" not in grouping(aggregation)


def test_websocket_drop_uses_delta_on_the_gauge() -> None:
    expr = rules_by_name(stack_settings())["WebSocketConnectionDrop"]["expr"]
    assert "delta" in functions(expr)
    assert not functions(expr) & {"rate", "irate", "increase", "resets"}  # counter functions on a gauge


def test_crash_looping_sees_restarts_and_back_off() -> None:
    expr = rules_by_name(stack_settings())["PodCrashLooping"]["expr"]
    found = selectors(expr)
    assert "kube_pod_container_status_restarts_total" in found
    assert found["kube_pod_container_status_waiting_reason"][0]["reason"] == "=CrashLoopBackOff"


def test_memory_compares_the_working_set_with_the_limit() -> None:
    found = selectors(rules_by_name(stack_settings())["HighMemoryUsage"]["expr"])
    assert set(found) == {"container_memory_working_set_bytes", "kube_pod_container_resource_limits"}
    (limit,) = found["kube_pod_container_resource_limits"]
    assert (limit["resource"], limit["unit"]) == ("=memory", "=byte")


def test_thresholds_and_durations_are_stack_values() -> None:
    rules = rules_by_name(
        stack_settings(
            alerts={
                "highErrorRate": {"threshold": 0.1, "duration": "3m"},
                "highResponseTime": {"threshold": 0.25, "duration": "10m"},
                "websocketConnectionDrop": {"threshold": 500, "duration": "2m"},
                "podCrashLooping": {"threshold": 3, "duration": "15m"},
                "highMemoryUsage": {"threshold": 0.8, "duration": "1h"},
            }
        )
    )
    assert rules["HighErrorRate"]["expr"].endswith("> 0.1")
    assert "(threshold 10%)" in rules["HighErrorRate"]["annotations"]["description"]
    assert rules["HighResponseTime"]["expr"].endswith("> 0.25")
    assert rules["WebSocketConnectionDrop"]["expr"].endswith("> 500")
    assert "> 3\nor" in rules["PodCrashLooping"]["expr"]
    assert "more than 3 times" in rules["PodCrashLooping"]["annotations"]["description"]
    assert rules["HighMemoryUsage"]["expr"].endswith("> 0.8")
    assert [rule["for"] for rule in rules.values()] == ["3m", "10m", "2m", "15m", "1h"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_rendered_custom_resources_match_their_crds(stack: str) -> None:
    settings = from_stack_file(stack)
    metadata = {"namespace": settings.namespace, "labels": common_labels(settings.app, settings.environment)}
    validate(
        {
            "apiVersion": MONITORING_API_VERSION,
            "kind": "ServiceMonitor",
            "metadata": {"name": "hft-frontend-metrics", **metadata},
            "spec": service_monitor_spec(settings.observability, settings.app, settings.environment),
        }
    )
    validate(
        {
            "apiVersion": MONITORING_API_VERSION,
            "kind": "PrometheusRule",
            "metadata": {"name": "hft-frontend-alerts", **metadata},
            "spec": prometheus_rule_spec(settings.observability, scope_of(settings)),
        }
    )


# --- dashboard ---------------------------------------------------------------------------------


def dashboard_for(settings: StackSettings) -> dict[str, Any]:
    return grafana_dashboard(settings.app, settings.environment, scope_of(settings))


def targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in board["panels"] for target in panel["targets"]]


def test_the_dashboard_keeps_the_seeds_panels_in_current_types() -> None:
    board = dashboard_for(stack_settings())
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
    board = dashboard_for(stack_settings())
    (variable,) = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    expected = {"type": "prometheus", "uid": "${datasource}"}
    assert all(panel["datasource"] == expected for panel in board["panels"])
    assert all(target["datasource"] == expected for target in targets(board))


def test_every_panel_query_parses_and_is_scoped_to_the_app() -> None:
    settings = stack_settings()
    board = dashboard_for(settings)
    exprs = [target["expr"] for target in targets(board)]
    assert len(exprs) == 5
    for expr in exprs:
        assert "$" not in expr  # no template variable: what is parsed here is what Grafana sends
        promql_parser.parse(expr)
        for found in selectors(expr).values():
            for matchers in found:
                assert (matchers["namespace"], matchers["service"]) == ("=qa", "=hft-frontend-service"), expr
    latency = [n for e in exprs[1:3] for n in nodes(e) if isinstance(n, promql_parser.AggregateExpr)]
    assert [grouping(aggregation) for aggregation in latency] == [["le"], ["le"]]


def test_dashboard_panels_have_unique_ids_and_refs() -> None:
    board = dashboard_for(stack_settings())
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
    for panel in board["panels"]:
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
    assert len(board["uid"]) <= 40  # Grafana's limit


# --- the component under mocks -----------------------------------------------------------------


def manifest(registration: Any) -> dict[str, Any]:
    return reveal({key: value for key, value in registration.inputs.items() if not key.startswith("__")})


@pulumi.runtime.test
def test_the_component_registers_valid_resources_under_itself(pulumi_mocks: RecordingMonitor) -> Any:
    settings = from_stack_file("production")
    # Outputs, as __main__ passes them: the scope must come from the resolved values.
    component = Observability(
        "observability",
        ObservabilityArgs(
            settings=settings.observability,
            app=settings.app,
            environment="production",
            namespace=pulumi.Output.from_input("production"),
            service_name=pulumi.Output.from_input("hft-frontend-service"),
            cluster=settings.cluster,
        ),
    )

    def check(_: Any) -> None:
        registrations = list(pulumi_mocks.registrations.values())
        (parent,) = [r for r in registrations if r.type == "hft:index:Observability"]
        children = {r.type: r for r in registrations if r.parent == parent.urn}
        assert set(children) == {
            "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
            "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
            "kubernetes:core/v1:ConfigMap",
        }
        service_monitor = manifest(children["kubernetes:monitoring.coreos.com/v1:ServiceMonitor"])
        prometheus_rule = manifest(children["kubernetes:monitoring.coreos.com/v1:PrometheusRule"])
        for obj in (service_monitor, prometheus_rule):
            validate(obj)
            assert obj["metadata"]["namespace"] == "production"
            assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert service_monitor["metadata"]["name"] == "hft-frontend-metrics"
        assert prometheus_rule["metadata"]["name"] == "hft-frontend-alerts"
        scope = Scope(namespace="production", service="hft-frontend-service")
        assert prometheus_rule["spec"] == prometheus_rule_spec(settings.observability, scope)

        config_map = manifest(children["kubernetes:core/v1:ConfigMap"])
        assert config_map["metadata"]["namespace"] == "monitoring"
        assert config_map["metadata"]["name"] == "hft-frontend-production-dashboard"
        assert config_map["metadata"]["labels"].items() >= GRAFANA_DASHBOARD_LABELS.items()
        (document,) = config_map["data"].values()
        assert json.loads(document) == grafana_dashboard(settings.app, "production", scope)

    resources = [component.service_monitor, component.prometheus_rule, component.dashboard]
    return pulumi.Output.all(*[resource.urn for resource in resources]).apply(check)


def test_observability_is_on_by_default_and_can_be_turned_off() -> None:
    assert ObservabilitySettings().enabled
    assert all(from_stack_file(stack).observability.enabled for stack in STACKS)
    assert not stack_settings(enabled=False).observability.enabled
