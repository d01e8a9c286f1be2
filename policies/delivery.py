"""Canary releases (Argo Rollouts): what breaks silently when the pieces stop matching.

- `canary-routes-list-canary-service`: Argo's Gateway API plugin moves weight between the two backends
  of each rule of the routes the Rollout names; a rule that serves the app from the stable Service
  without listing the canary Service keeps every request on the old pods, and a route the Rollout does
  not name is never moved at all: the canary is judged on no traffic.
- `hpa-targets-rollout`: a Rollout with `workloadRef` scales the Deployment to 0; an HPA still aimed at
  that Deployment scales it back up, and the old revision serves beside the Rollout's pods.
- `analysis-selects-scraped-labels`: an analysis query that selects a label no scrape produces
  (a misspelt label, or the revision label without the ServiceMonitor's relabelling) matches no series:
  every measurement is inconclusive, or a `len(result) == 0` that reads as success.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import promql_parser
from pulumi_policy import EnforcementLevel, Policy, PolicyResource, Severity, StackValidationArgs

from policies.common import NotChecked, get, items, known, kubernetes_kind, show, stack_policy

ARGO = "argoproj.io"
GATEWAY_API = "gateway.networking.k8s.io"
MONITORING = "monitoring.coreos.com"
PLUGIN = "argoproj-labs/gatewayAPI"

# The labels prometheus-operator gives every series scraped through a ServiceMonitor (its generated
# scrape config: namespace, service, pod, container, endpoint, job; Prometheus adds instance).
TARGET_LABELS = frozenset({"namespace", "service", "pod", "container", "endpoint", "job", "instance"})
# The labels the app puts on its own series (the seed's queries: `status` on http_requests_total; a
# histogram's buckets carry `le`), and the metric name itself.
APP_SERIES_LABELS = frozenset({"status", "le", "__name__"})


def _kind(resource: PolicyResource) -> tuple[str, str] | None:
    return kubernetes_kind(resource.resource_type)


def _is(resource_type: str, *kinds: tuple[str, str]) -> bool:
    return kubernetes_kind(resource_type) in kinds


def _namespace(resource: PolicyResource) -> Any:
    return known(resource.props, "metadata", "namespace")


def _rollouts(args: StackValidationArgs) -> Iterator[PolicyResource]:
    return (r for r in args.resources if _kind(r) == (ARGO, "Rollout"))


# --- canary-routes-list-canary-service ------------------------------------------------------------------


def _service_refs(rule: Any, namespace: Any) -> set[tuple[Any, Any]]:
    return {
        (get(ref, "namespace") or namespace, get(ref, "name"))
        for ref in items(rule, "backendRefs")
        if (get(ref, "group") or "") == "" and (get(ref, "kind") or "Service") == "Service"
    }


def check_canary_routes(args: StackValidationArgs) -> Iterator[tuple[str, str] | NotChecked]:
    """Every HTTPRoute rule that sends requests to a canary Rollout's stable Service also lists its canary
    Service, and the Rollout's plugin names every such route."""
    # Each route rule indexed once by the Services it sends to: a Rollout then looks up its stable Service's
    # rules, so the check stays linear in the stack's size (`make bench`'s 50,000-resource audit).
    by_service: dict[tuple[Any, Any], list[tuple[PolicyResource, Any, Any, int, set[tuple[Any, Any]]]]] = {}
    for route in args.resources:
        if _kind(route) != (GATEWAY_API, "HTTPRoute"):
            continue
        route_ns = _namespace(route)
        route_name = known(route.props, "metadata", "name")
        if route_ns is None or route_name is None:
            yield NotChecked("HTTPRoute: its namespace or name is not known yet", route.urn)
            continue
        for index, rule in enumerate(items(route.props, "spec", "rules")):
            refs = _service_refs(rule, route_ns)
            for ref in refs:
                by_service.setdefault(ref, []).append((route, route_ns, route_name, index, refs))
    for rollout in _rollouts(args):
        canary = get(rollout.props, "spec", "strategy", "canary")
        if canary is None:
            continue
        rollout_name, namespace = show(known(rollout.props, "metadata", "name")), _namespace(rollout)
        stable, canary_service = known(canary, "stableService"), known(canary, "canaryService")
        if stable is None or canary_service is None or namespace is None:
            yield NotChecked(f"Rollout {rollout_name}: its namespace or Services are not known yet", rollout.urn)
            continue
        plugin = get(canary, "trafficRouting", "plugins", PLUGIN)
        route_namespace = get(plugin, "namespace") or namespace
        named = {get(route, "name") for route in items(plugin, "httpRoutes")}
        for route, route_ns, route_name, index, refs in by_service.get((namespace, stable), []):
            if (namespace, canary_service) not in refs:
                yield (
                    route.urn,
                    f"HTTPRoute {show(route_name)}: rules[{index}] serves the app from the stable Service "
                    f"{show(stable)} of Rollout {rollout_name} but does not list its canary Service "
                    f"{show(canary_service)}: a canary would get none of these requests. List both backends "
                    "(stable weight 100, canary weight 0); Argo Rollouts moves the weights.",
                )
            if route_ns != route_namespace or route_name not in named:
                yield (
                    route.urn,
                    f"HTTPRoute {show(route_name)}: rules[{index}] serves the app from the stable Service "
                    f"{show(stable)}, but Rollout {rollout_name} does not name the route in "
                    f"trafficRouting.plugins[{PLUGIN}].httpRoutes: its weights would never move. Name it there.",
                )


# --- hpa-targets-rollout --------------------------------------------------------------------------------


def check_hpa_targets(args: StackValidationArgs) -> Iterator[tuple[str, str] | NotChecked]:
    """No HPA scales a Deployment that a Rollout has taken over (workloadRef)."""
    owned: dict[tuple[Any, Any], str] = {}
    for rollout in _rollouts(args):
        ref = get(rollout.props, "spec", "workloadRef")
        if ref is None or get(ref, "kind") != "Deployment":
            continue
        key = (_namespace(rollout), known(ref, "name"))
        if None in key:
            yield NotChecked("Rollout: its namespace or workloadRef is not known yet", rollout.urn)
            continue
        owned[key] = show(known(rollout.props, "metadata", "name"))
    for hpa in args.resources:
        if _kind(hpa) != ("autoscaling", "HorizontalPodAutoscaler"):
            continue
        target = get(hpa.props, "spec", "scaleTargetRef")
        if get(target, "kind") != "Deployment":
            continue
        key = (_namespace(hpa), known(target, "name"))
        if None in key:
            if owned:
                yield NotChecked("HorizontalPodAutoscaler: its namespace or target is not known yet", hpa.urn)
            continue
        if key in owned:
            yield (
                hpa.urn,
                f"HorizontalPodAutoscaler {show(known(hpa.props, 'metadata', 'name'))} scales Deployment "
                f"{show(key[1])}, which Rollout {owned[key]} has taken over (workloadRef): Argo scales that "
                "Deployment to 0 and the HPA would scale it back. Target the Rollout instead (scaleTargetRef "
                "apiVersion argoproj.io/v1alpha1, kind Rollout).",
            )


# --- analysis-selects-scraped-labels --------------------------------------------------------------------


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def _selector_labels(query: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched) of each vector selector of the query. Which labels a query selects does
    not depend on the values it matches: those are blanked and the parse cached, so a stack's many rules that
    differ only in a namespace or a service name are parsed once."""
    return _parsed_selector_labels(_STRING.sub('""', query))


@functools.lru_cache(maxsize=4096)
def _parsed_selector_labels(query: str) -> list[tuple[str, set[str]]]:
    found: list[tuple[str, set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append((node.name or "", {m.name for m in node.matchers.matchers}))

    promql_parser.walk(promql_parser.parse(query), visit)
    return found


def _relabelled(monitor: PolicyResource) -> set[str]:
    labels: set[str] = set()
    for endpoint in items(monitor.props, "spec", "endpoints"):
        for relabel in items(endpoint, "relabelings") + items(endpoint, "metricRelabelings"):
            action = str(get(relabel, "action") or "replace").lower()
            target = get(relabel, "targetLabel")
            if action == "replace" and isinstance(target, str):
                labels.add(target)
    return labels


# The app's own metrics (what its ServiceMonitor scrapes): a rule selecting one of them with a label no scrape
# produces matches nothing, so an SLO's SLI reads no data and its burn-rate alerts can never fire.
APP_METRIC_PREFIXES = ("http_", "websocket_")


def _rule_labels(rule: PolicyResource, allowed: frozenset[str] | set[str]) -> Iterator[tuple[str, str]]:
    name = show(known(rule.props, "metadata", "name"))
    for group in items(rule.props, "spec", "groups"):
        for entry in items(group, "rules"):
            expr, what = get(entry, "expr"), get(entry, "record") or get(entry, "alert")
            if not isinstance(expr, str):
                continue
            try:
                selected = _selector_labels(expr)
            except (ValueError, RuntimeError) as error:
                yield (rule.urn, f"PrometheusRule {name}: rule {show(what)}: {error}")
                continue
            for series, labels in selected:
                if not series.startswith(APP_METRIC_PREFIXES):
                    continue  # recorded series, kube-state-metrics, cAdvisor, Velero: not the app's scrape
                for label in sorted(labels - allowed):
                    yield (
                        rule.urn,
                        f"PrometheusRule {name}: rule {show(what)} selects {series}{{{label}=…}}, a label the app's "
                        "scrapes do not produce: the rule matches no series (an SLO's SLI then has no data and its "
                        "alerts never fire). Select a label the scrapes have, or relabel it in the ServiceMonitor.",
                    )


def check_analysis_labels(args: StackValidationArgs) -> Iterator[tuple[str, str] | NotChecked]:
    """Each Prometheus query of an AnalysisTemplate selects only labels that the scrapes of its namespace
    produce: the target labels, the app's own and what the ServiceMonitors' relabellings add."""
    produced: dict[Any, set[str]] = {}
    for monitor in args.resources:
        if _kind(monitor) == (MONITORING, "ServiceMonitor"):
            produced.setdefault(_namespace(monitor), set()).update(_relabelled(monitor))
    for rule in args.resources:
        if _kind(rule) == (MONITORING, "PrometheusRule"):
            yield from _rule_labels(rule, TARGET_LABELS | APP_SERIES_LABELS | produced.get(_namespace(rule), set()))
    for template in args.resources:
        if _kind(template) != (ARGO, "AnalysisTemplate"):
            continue
        name, namespace = show(known(template.props, "metadata", "name")), _namespace(template)
        allowed = TARGET_LABELS | APP_SERIES_LABELS | produced.get(namespace, set())
        for metric in items(template.props, "spec", "metrics"):
            query = get(metric, "provider", "prometheus", "query")
            if not isinstance(query, str):
                continue
            try:
                selected = _selector_labels(query)
            except (ValueError, RuntimeError) as error:
                yield (template.urn, f"AnalysisTemplate {name}: metric {show(get(metric, 'name'))}: {error}")
                continue
            for series, labels in selected:
                for label in sorted(labels - allowed):
                    yield (
                        template.urn,
                        f"AnalysisTemplate {name}: metric {show(get(metric, 'name'))} selects {series}{{{label}=…}}, "
                        f"a label no scrape in namespace {show(namespace)} produces (a ServiceMonitor's relabelling "
                        "adds it, or the query misspells it): the query matches no series and every measurement "
                        "is inconclusive. Relabel it in the ServiceMonitor, or select a label the scrapes have.",
                    )


POLICIES: list[Policy] = [
    stack_policy(
        "canary-routes-list-canary-service",
        "Every HTTPRoute rule serving a canary Rollout's stable Service lists its canary Service, and the Rollout "
        "names the route.",
        check_canary_routes,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=lambda t: _is(t, (ARGO, "Rollout"), (GATEWAY_API, "HTTPRoute")),
    ),
    stack_policy(
        "hpa-targets-rollout",
        "No HorizontalPodAutoscaler scales a Deployment that a Rollout has taken over (workloadRef).",
        check_hpa_targets,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=lambda t: _is(t, (ARGO, "Rollout"), ("autoscaling", "HorizontalPodAutoscaler")),
    ),
    stack_policy(
        "analysis-selects-scraped-labels",
        "AnalysisTemplate queries and the rules on the app's metrics (its SLOs' SLIs) select only labels the "
        "scrapes produce.",
        check_analysis_labels,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=lambda t: _is(
            t, (ARGO, "AnalysisTemplate"), (MONITORING, "ServiceMonitor"), (MONITORING, "PrometheusRule")
        ),
    ),
]
