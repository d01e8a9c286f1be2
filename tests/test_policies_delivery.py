"""The canary policies (policies/delivery.py): each fires on the way it breaks and passes what production
renders."""

from __future__ import annotations

from typing import Any

from offline_preview.engine import Registration
from tests.support.policies import evaluate, fired, messages, rendered
from tests.support.stacks import render

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"


def canary_parts() -> dict[str, Registration]:
    return {
        "rollout": rendered(ROLLOUT, "delivery-rollout"),
        "route": rendered(ROUTE, "routing-route"),
        "websocket": rendered(ROUTE, "routing-websocket-route"),
        "hpa": rendered(HPA, "hft-frontend-hpa"),
        "template": rendered(TEMPLATE, "delivery-analysis-template"),
        "monitor": rendered(MONITOR, "observability-service-monitor"),
    }


def spec(registration: Registration) -> dict[str, Any]:
    return registration.inputs["spec"]


def test_production_passes_every_canary_policy() -> None:
    violations = evaluate(*render("production").registrations)
    for policy in ("canary-routes-list-canary-service", "hpa-targets-rollout", "analysis-selects-scraped-labels"):
        assert fired(violations, policy) == []


# --- canary-routes-list-canary-service --------------------------------------------------------------------


def test_a_rule_without_the_canary_service_fires() -> None:
    parts = canary_parts()
    assert (
        fired(evaluate(parts["rollout"], parts["route"], parts["websocket"]), "canary-routes-list-canary-service") == []
    )
    rule = spec(parts["websocket"])["rules"][0]
    rule["backendRefs"] = rule["backendRefs"][:1]  # the canary's backend dropped
    violations = evaluate(parts["rollout"], parts["route"], parts["websocket"])
    assert len(fired(violations, "canary-routes-list-canary-service")) == 1
    assert 'HTTPRoute "hft-frontend-websocket": rules[0] serves the app from the stable Service' in messages(
        violations, "canary-routes-list-canary-service"
    )
    assert 'does not list its canary Service "hft-frontend-canary"' in messages(
        violations, "canary-routes-list-canary-service"
    )


def test_a_route_the_rollout_does_not_name_fires() -> None:
    parts = canary_parts()
    plugin = spec(parts["rollout"])["strategy"]["canary"]["trafficRouting"]["plugins"]["argoproj-labs/gatewayAPI"]
    plugin["httpRoutes"] = [r for r in plugin["httpRoutes"] if r["name"] != "hft-frontend-websocket"]
    violations = evaluate(parts["rollout"], parts["route"], parts["websocket"])
    assert [v.urn.rsplit("::", 1)[1] for v in fired(violations, "canary-routes-list-canary-service")] == [
        "routing-websocket-route"
    ]
    assert "does not name the route" in messages(violations, "canary-routes-list-canary-service")


def test_routes_of_a_rolling_stack_are_not_judged() -> None:
    parts = canary_parts()
    spec(parts["route"])["rules"][0]["backendRefs"] = spec(parts["route"])["rules"][0]["backendRefs"][:1]
    assert fired(evaluate(parts["route"]), "canary-routes-list-canary-service") == []


# --- hpa-targets-rollout ------------------------------------------------------------------------------------


def test_an_hpa_on_the_taken_over_deployment_fires() -> None:
    parts = canary_parts()
    assert fired(evaluate(parts["rollout"], parts["hpa"]), "hpa-targets-rollout") == []
    spec(parts["hpa"])["scaleTargetRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hft-frontend"}
    violations = evaluate(parts["rollout"], parts["hpa"])
    assert len(fired(violations, "hpa-targets-rollout")) == 1
    assert 'which Rollout "hft-frontend" has taken over' in messages(violations, "hpa-targets-rollout")
    # Without the Rollout, the same HPA is the rolling stack's own.
    assert fired(evaluate(parts["hpa"]), "hpa-targets-rollout") == []


def test_an_hpa_on_another_deployment_passes() -> None:
    parts = canary_parts()
    spec(parts["hpa"])["scaleTargetRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "other"}
    assert fired(evaluate(parts["rollout"], parts["hpa"]), "hpa-targets-rollout") == []


# --- analysis-selects-scraped-labels ---------------------------------------------------------------------------


def _query_of(template: Registration) -> dict[str, Any]:
    return spec(template)["metrics"][0]["provider"]["prometheus"]


def test_the_revision_label_needs_the_service_monitors_relabelling() -> None:
    parts = canary_parts()
    assert spec(parts["template"])["metrics"], "the analysis has metrics"
    assert fired(evaluate(parts["template"], parts["monitor"]), "analysis-selects-scraped-labels") == []
    violations = evaluate(parts["template"])  # no ServiceMonitor relabels the revision
    assert fired(violations, "analysis-selects-scraped-labels")
    assert "rollouts_pod_template_hash" in messages(violations, "analysis-selects-scraped-labels")


def test_a_misspelt_label_fires() -> None:
    parts = canary_parts()
    prometheus = _query_of(parts["template"])
    prometheus["query"] = prometheus["query"].replace("service=", "svc=", 1)
    violations = evaluate(parts["template"], parts["monitor"])
    assert "svc=…" in messages(violations, "analysis-selects-scraped-labels")


def test_a_query_that_does_not_parse_fires() -> None:
    parts = canary_parts()
    _query_of(parts["template"])["query"] = "sum(rate(http_requests_total[5m]"
    violations = evaluate(parts["template"], parts["monitor"])
    assert fired(violations, "analysis-selects-scraped-labels")


def test_an_slo_rule_selecting_a_label_the_scrapes_do_not_produce_fires() -> None:
    rule = rendered("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "observability-rules")
    monitor = rendered("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "observability-service-monitor")
    assert fired(evaluate(rule, monitor), "analysis-selects-scraped-labels") == []
    for group in rule.inputs["spec"]["groups"]:
        for entry in group["rules"]:
            if entry.get("record") == "slo:sli_error:ratio_rate1h":
                entry["expr"] = entry["expr"].replace('status=~"5.."', 'code=~"5.."')
    violations = evaluate(rule, monitor)
    text = messages(violations, "analysis-selects-scraped-labels")
    assert 'rule "slo:sli_error:ratio_rate1h" selects http_requests_total{code=…}' in text
    assert all(v.enforcement_level == "mandatory" for v in fired(violations, "analysis-selects-scraped-labels"))
