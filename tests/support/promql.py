"""Reading PromQL with promql_parser: which metrics an expression selects and with what matchers,
which functions it calls, how it aggregates."""

from __future__ import annotations

from typing import Any

import promql_parser

# Series of the app's own metrics come through the ServiceMonitor; the others from kube-state-metrics
# and cAdvisor, which label them with the pod's namespace and container.
APP_METRICS = frozenset({"http_requests_total", "http_request_duration_seconds_bucket", "websocket_connections_active"})
CONTAINER_METRICS = frozenset(
    {
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_status_waiting_reason",
        "container_memory_working_set_bytes",
        "kube_pod_container_resource_limits",
    }
)


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
