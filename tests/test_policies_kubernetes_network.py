"""No object carries a configuration snippet; an Ingress serves its hosts over TLS only; a Gateway's
plain-HTTP listener only redirects; a LoadBalancer Service is flagged for review.

The snippet Ingress is built with pulumi_kubernetes under mocks (its properties are what the SDK sends
the engine); the others are what the program renders, in gateway and in ingress-nginx mode.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pytest

from offline_preview.engine import UNKNOWN, RecordingMonitor, Registration, Rendering
from offline_preview.policy_eval import evaluate_rendering_in_full
from tests.support.policies import STACK, evaluate, fired, messages, program_under_mocks, rendered
from tests.support.stacks import PROJECT

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def ingress(monitor: RecordingMonitor, annotations: dict[str, str]) -> Registration:
    def program() -> None:
        k8s.networking.v1.Ingress(
            "frontend",
            metadata={"name": "hft-frontend", "namespace": "production", "annotations": annotations},
            spec={
                "ingress_class_name": "nginx",
                "tls": [{"hosts": ["hft-platform.com"], "secret_name": "hft-frontend-tls"}],
                "rules": [
                    {
                        "host": "hft-platform.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "path_type": "Prefix",
                                    "backend": {"service": {"name": "hft-frontend-service", "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
        )

    registrations = program_under_mocks(monitor, program).by_type(INGRESS)
    assert len(registrations) == 1
    return registrations[0]


SAFE_ANNOTATIONS = {
    "cert-manager.io/cluster-issuer": "letsencrypt-prod",
    "nginx.ingress.kubernetes.io/ssl-redirect": "true",
    "nginx.ingress.kubernetes.io/limit-rps": "50",
}


def test_an_ingress_without_snippets_passes(pulumi_mocks: RecordingMonitor) -> None:
    resource = ingress(pulumi_mocks, SAFE_ANNOTATIONS)
    assert resource.inputs["spec"]["ingressClassName"] == "nginx", "engine form: camelCase"
    assert evaluate(resource) == []


@pytest.mark.parametrize(
    "annotation",
    [
        "nginx.ingress.kubernetes.io/configuration-snippet",
        "nginx.ingress.kubernetes.io/server-snippet",
        "nginx.ingress.kubernetes.io/auth-snippet",
        "nginx.ingress.kubernetes.io/stream-snippet",
        "nginx.org/location-snippets",
    ],
)
def test_a_snippet_annotation_fails(pulumi_mocks: RecordingMonitor, annotation: str) -> None:
    resource = ingress(pulumi_mocks, {**SAFE_ANNOTATIONS, annotation: "more_set_headers 'X-Debug: 1';"})
    violations = evaluate(resource)
    assert [v.policy_name for v in violations] == ["no-snippet-annotations"]
    assert violations[0].enforcement_level == "mandatory"
    assert f'Ingress "hft-frontend": annotation {annotation} injects raw configuration' in violations[0].message


def test_the_programs_service_passes() -> None:
    assert (
        fired(evaluate(rendered("kubernetes:core/v1:Service", "hft-frontend-service")), "service-load-balancer-review")
        == []
    )


def test_a_load_balancer_service_is_flagged_for_review() -> None:
    service = rendered("kubernetes:core/v1:Service", "hft-frontend-service")
    service.inputs["spec"]["type"] = "LoadBalancer"
    service.inputs["spec"]["loadBalancerSourceRanges"] = ["173.245.48.0/20"]
    violations = evaluate(service)
    assert [(v.policy_name, v.enforcement_level) for v in violations] == [("service-load-balancer-review", "advisory")]
    assert 'Service "hft-frontend-service": spec.type is LoadBalancer' in violations[0].message
    assert "restrict spec.loadBalancerSourceRanges and exempt this Service" in violations[0].message


def test_a_snippet_annotation_on_any_kind_fails() -> None:
    service = rendered("kubernetes:core/v1:Service", "hft-frontend-service")
    service.inputs["metadata"]["annotations"] = {"nginx.org/server-snippets": "return 200;"}
    assert 'Service "hft-frontend-service": annotation nginx.org/server-snippets' in messages(
        evaluate(service), "no-snippet-annotations"
    )


# --- Ingress: TLS only ---------------------------------------------------------------------------

# A canary needs gateway mode (docs/delivery.md): in ingress-nginx mode production releases rolling, unlocked.
INGRESS_NGINX = {
    "hft-frontend:routing": {"mode": "ingress-nginx", "originLock": {"enabled": False}},
    "hft-frontend:delivery": {"strategy": "rolling"},
}


def rendered_ingress(suffix: str = "ingress") -> Registration:
    return rendered(INGRESS, f"routing-{suffix}", INGRESS_NGINX)


@pytest.mark.parametrize("suffix", ["ingress", "api", "websocket", "static"])
def test_the_programs_ingresses_pass(suffix: str) -> None:
    assert evaluate(rendered_ingress(suffix)) == []


def test_an_ingress_without_tls_fails() -> None:
    resource = rendered_ingress()
    del resource.inputs["spec"]["tls"]
    assert 'Ingress "hft-frontend-ingress": no spec.tls, so it serves plain HTTP.' in messages(
        evaluate(resource), "ingress-tls-only"
    )


def test_a_host_outside_tls_fails() -> None:
    resource = rendered_ingress()
    resource.inputs["spec"]["tls"][0]["hosts"] = ["hft-platform.com"]
    violations = fired(evaluate(resource), "ingress-tls-only")
    assert [v.enforcement_level for v in violations] == ["mandatory"]
    assert "host www.hft-platform.com is not in spec.tls" in violations[0].message


@pytest.mark.parametrize("key", ["ssl-redirect", "force-ssl-redirect"])
def test_an_ingress_that_turns_the_redirect_off_fails(key: str) -> None:
    resource = rendered_ingress()
    resource.inputs["metadata"]["annotations"][f"nginx.ingress.kubernetes.io/{key}"] = "false"
    assert f"nginx.ingress.kubernetes.io/{key} is false" in messages(evaluate(resource), "ingress-tls-only")


# --- Gateway: plain HTTP only redirects ----------------------------------------------------------

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"


def test_the_http_to_https_redirect_listener_passes() -> None:
    gateway, redirect = rendered(GATEWAY, "routing-gateway"), rendered(ROUTE, "routing-redirect-route")
    assert any(listener["protocol"] == "HTTP" for listener in gateway.inputs["spec"]["listeners"])
    assert evaluate(gateway, redirect, rendered(ROUTE, "routing-route")) == []


def test_a_route_serving_the_app_on_the_plain_http_listener_fails() -> None:
    gateway, route = rendered(GATEWAY, "routing-gateway"), rendered(ROUTE, "routing-route")
    route.inputs["spec"]["parentRefs"][0]["sectionName"] = "http-hft-platform-com"
    violations = fired(evaluate(gateway, route), "gateway-plain-http-redirects-only")
    assert [(v.enforcement_level, v.urn) for v in violations] == [("mandatory", route.urn)] * 2  # both rules
    assert "serves the app on the plain-HTTP listener http-hft-platform-com" in violations[0].message


def test_a_route_on_the_whole_gateway_serves_its_plain_http_listeners_too() -> None:
    gateway, route = rendered(GATEWAY, "routing-gateway"), rendered(ROUTE, "routing-websocket-route")
    for parent in route.inputs["spec"]["parentRefs"]:
        del parent["sectionName"]
    assert fired(evaluate(gateway, route), "gateway-plain-http-redirects-only")


def test_a_redirect_that_keeps_http_fails() -> None:
    gateway, redirect = rendered(GATEWAY, "routing-gateway"), rendered(ROUTE, "routing-redirect-route")
    redirect.inputs["spec"]["rules"][0]["filters"][0]["requestRedirect"]["scheme"] = "http"
    assert fired(evaluate(gateway, redirect), "gateway-plain-http-redirects-only")


# An unknown name (computed by another resource: the Namespace's name, a generated one) must leave the
# Gateway and its routes "not checked", never read as "another stack's Gateway", which would pass.
def _unknown(registration: Registration, *path: str) -> None:
    for properties in (registration.inputs, registration.outputs):
        for key in path[:-1]:
            properties = properties[key]
        properties[path[-1]] = UNKNOWN


def plain_http_evaluation(*registrations: Registration) -> tuple[list[str], set[str]]:
    evaluation = evaluate_rendering_in_full(Rendering(STACK, PROJECT, list(registrations)))
    policy = "gateway-plain-http-redirects-only"
    return [v.urn for v in fired(evaluation.violations, policy)], {
        n.urn for n in evaluation.not_checked if n.policy_name == policy
    }


@pytest.mark.parametrize(
    "path",
    [("metadata", "namespace"), ("metadata", "name")],
    ids=["namespace", "name"],
)
def test_a_gateway_whose_name_is_not_known_yet_leaves_its_routes_not_checked(path: tuple[str, ...]) -> None:
    gateway, route = rendered(GATEWAY, "routing-gateway"), rendered(ROUTE, "routing-route")
    route.inputs["spec"]["parentRefs"][0]["sectionName"] = "http-hft-platform-com"
    assert plain_http_evaluation(gateway, route)[0] == [route.urn] * 2  # known: it fails
    _unknown(gateway, *path)
    violations, not_checked = plain_http_evaluation(gateway, route)
    assert violations == []
    assert not_checked == {gateway.urn, route.urn}


def test_a_listener_whose_protocol_is_not_known_yet_is_not_checked() -> None:
    gateway, route = rendered(GATEWAY, "routing-gateway"), rendered(ROUTE, "routing-route")
    route.inputs["spec"]["parentRefs"][0]["sectionName"] = "http-hft-platform-com"
    index = next(i for i, listener in enumerate(gateway.inputs["spec"]["listeners"]) if listener["protocol"] == "HTTP")
    for properties in (gateway.inputs, gateway.outputs):
        properties["spec"]["listeners"][index]["protocol"] = UNKNOWN
    violations, not_checked = plain_http_evaluation(gateway, route)
    assert violations == []
    assert not_checked == {gateway.urn, route.urn}


def test_a_route_whose_namespace_is_not_known_yet_is_not_checked() -> None:
    gateway, route = rendered(GATEWAY, "routing-gateway"), rendered(ROUTE, "routing-route")
    for parent in route.inputs["spec"]["parentRefs"]:
        parent["sectionName"] = "http-hft-platform-com"
        parent.pop("namespace", None)
    _unknown(route, "metadata", "namespace")
    violations, not_checked = plain_http_evaluation(gateway, route)
    assert violations == []
    assert not_checked == {route.urn}


# --- Gateway: routes only from named namespaces --------------------------------------------------

ALL_NAMESPACES = "gateway-routes-not-from-all-namespaces"


@pytest.mark.parametrize(
    "overrides",
    [{}, {"hft-frontend:routing": {"gateway": {"namespace": "edge-gateways"}}}],
    ids=["same-namespace", "own-namespace"],
)
def test_the_programs_gateway_listeners_admit_only_the_apps_namespace(overrides: dict[str, object]) -> None:
    gateway = rendered(GATEWAY, "routing-gateway", overrides)
    assert {listener["allowedRoutes"]["namespaces"]["from"] for listener in gateway.inputs["spec"]["listeners"]} <= {
        "Same",
        "Selector",
    }
    assert fired(evaluate(gateway), ALL_NAMESPACES) == []


def test_a_listener_admitting_routes_from_all_namespaces_fails() -> None:
    gateway = rendered(GATEWAY, "routing-gateway")
    gateway.inputs["spec"]["listeners"][1]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    violations = fired(evaluate(gateway), ALL_NAMESPACES)
    assert [(v.enforcement_level, v.urn) for v in violations] == [("mandatory", gateway.urn)]
    name = gateway.inputs["spec"]["listeners"][1]["name"]
    assert f'listener "{name}"' in violations[0].message
    assert "allowedRoutes.namespaces.from: All" in violations[0].message


@pytest.mark.parametrize("selector", [{}, {"matchLabels": {}}, {"matchLabels": {}, "matchExpressions": []}])
def test_a_selector_that_selects_every_namespace_fails(selector: dict[str, object]) -> None:
    gateway = rendered(GATEWAY, "routing-gateway", {"hft-frontend:routing": {"gateway": {"namespace": "edge"}}})
    gateway.inputs["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["selector"] = selector
    assert "empty selector" in messages(evaluate(gateway), ALL_NAMESPACES)


def test_a_listener_without_allowed_routes_gets_the_same_namespace_default_and_passes() -> None:
    gateway = rendered(GATEWAY, "routing-gateway")
    for listener in gateway.inputs["spec"]["listeners"]:
        del listener["allowedRoutes"]
    assert fired(evaluate(gateway), ALL_NAMESPACES) == []


def test_a_selector_with_expressions_passes() -> None:
    gateway = rendered(GATEWAY, "routing-gateway", {"hft-frontend:routing": {"gateway": {"namespace": "edge"}}})
    expression = {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["production"]}
    gateway.inputs["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["selector"] = {
        "matchExpressions": [expression]
    }
    assert fired(evaluate(gateway), ALL_NAMESPACES) == []


# --- a production origin admits only Cloudflare ---------------------------------------------------------------

ORIGIN = "production-origin-admits-only-cloudflare"


def test_the_locked_production_origin_passes() -> None:
    for type_, name in (
        ("kubernetes:gateway.networking.k8s.io/v1:Gateway", "routing-gateway"),
        ("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", "routing-envoy-proxy"),
    ):
        assert fired(evaluate(rendered(type_, name)), ORIGIN) == []


def test_a_production_gateway_without_its_envoy_proxy_fails() -> None:
    gateway = rendered("kubernetes:gateway.networking.k8s.io/v1:Gateway", "routing-gateway")
    del gateway.inputs["spec"]["infrastructure"]
    (violation,) = fired(evaluate(gateway), ORIGIN)
    assert violation.enforcement_level == "mandatory"
    assert "no spec.infrastructure.parametersRef to an EnvoyProxy" in violation.message
    gateway.inputs["metadata"]["labels"]["environment"] = "staging"
    assert fired(evaluate(gateway), ORIGIN) == [], "only production's origin must be locked"
    gateway.inputs["metadata"]["labels"]["environment"] = "prod-eu"
    config = {ORIGIN: {"productionEnvironments": ["prod-eu"]}}
    assert fired(evaluate(gateway, config=config), ORIGIN), "production is what the policy's config says"


@pytest.mark.parametrize(
    ("ranges", "why"),
    [(None, "no loadBalancerSourceRanges"), (["0.0.0.0/0"], "0.0.0.0/0"), (["::/0", "173.245.48.0/20"], "::/0")],
)
def test_a_production_load_balancer_open_to_the_internet_fails(ranges: list[str] | None, why: str) -> None:
    proxy = rendered("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", "routing-envoy-proxy")
    service_spec = proxy.inputs["spec"]["provider"]["kubernetes"]["envoyService"]
    service = rendered("kubernetes:core/v1:Service", "hft-frontend-service")
    service.inputs["spec"]["type"] = "LoadBalancer"
    if ranges is None:
        del service_spec["loadBalancerSourceRanges"]
    else:
        service_spec["loadBalancerSourceRanges"] = ranges
        service.inputs["spec"]["loadBalancerSourceRanges"] = ranges
    for resource in (proxy, service):
        (violation,) = fired(evaluate(resource), ORIGIN)
        assert why in violation.message
