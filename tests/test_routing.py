"""Routing: Gateway API by default, ingress-nginx as the alternative, TLS from cert-manager; tested on
what each stack renders in each mode, against the CRDs (schemas and CEL rules) and Kubernetes' schemas,
and for the seed's semantics: TLS for every host, plain HTTP that only redirects, the backends, the
headers and timeouts, no snippets, and a NetworkPolicy that admits only routing and monitoring."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from components.cloudflare_facts import CLOUDFLARE_RANGES, ORIGIN_PULL_CA_PEM
from components.k8s import TRAFFIC_ROLE_LABEL
from components.routing import burst_multiplier, content_security_policy, dns_zones, listener_name
from offline_preview.engine import ProgramError, Rendering, is_secret
from offline_preview.policy_eval import evaluate_rendering
from offline_preview.render import stack_export
from tests.support.crd_schemas import problems, rule_coverage, served_kinds
from tests.support.kube_schemas import validate as validate_builtin
from tests.support.network_policies import allowed
from tests.support.stacks import (
    PROJECT_DIR,
    STACKS,
    Secret,
    find,
    from_stack_file,
    manifests,
    render,
    secret_plaintexts,
)

# The origin lock (on in production) is for a Gateway the program creates with Envoy Gateway: every other way
# in states it is off (docs/origin-lock.md says how to lock them by hand).
UNLOCKED = {"originLock": {"enabled": False}}
# A canary moves HTTPRoute weights: in ingress-nginx mode a stack releases rolling (docs/delivery.md).
ROLLING = {"hft-frontend:delivery": {"strategy": "rolling"}}
INGRESS_NGINX = {"hft-frontend:routing": {"mode": "ingress-nginx", **UNLOCKED}, **ROLLING}
# The variants a stack can take beyond its defaults, each rendered once.
VARIANTS: dict[str, dict[str, Any]] = {
    "gateway": {},
    "ingress-nginx": INGRESS_NGINX,
    "gateway-in-its-own-namespace": {"hft-frontend:routing": {"gateway": {"namespace": "edge-gateways"}}},
    "existing-gateway": {
        "hft-frontend:routing": {
            "gateway": {
                "create": False,
                "name": "shared",
                "namespace": "infra",
                "httpsListeners": ["https"],
                "httpListener": "http",
            },
            **UNLOCKED,
        }
    },
    "nginx-gateway-fabric": {
        "hft-frontend:routing": {"gateway": {"implementation": "nginx-gateway-fabric"}, **UNLOCKED}
    },
    "istio": {
        "hft-frontend:routing": {"gateway": {"implementation": "istio", "namespace": "istio-gateways"}, **UNLOCKED}
    },
    # (The zone must send Cloudflare's certificate where this stack owns it.)
    "origin-pulls": {
        "hft-frontend:routing": {"originLock": {"enabled": False, "authenticatedOriginPulls": True}},
        "hft-frontend:edge": {"authenticatedOriginPulls": True},
    },
    "origin-pulls-ingress-nginx": {
        "hft-frontend:routing": {
            "mode": "ingress-nginx",
            "originLock": {"enabled": False, "authenticatedOriginPulls": True},
        },
        "hft-frontend:edge": {"authenticatedOriginPulls": True},
        **ROLLING,
    },
    "cluster-issuer-dns01": {
        "hft-frontend:routing": {"tls": {"clusterIssuer": {"create": True, "cloudflareApiToken": Secret("cf-t0ken")}}}
    },
    "cluster-issuer-http01": {"hft-frontend:routing": {"tls": {"clusterIssuer": {"create": True, "solver": "http01"}}}},
}


def variant(stack: str, name: str) -> Rendering:
    overrides = VARIANTS[name]
    if stack != "production":  # only the zone's owner sets the zone's origin pulls
        overrides = {key: value for key, value in overrides.items() if key != "hft-frontend:edge"}
    return render(stack, overrides)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def is_custom(obj: dict[str, Any]) -> bool:
    return f"{obj['apiVersion']} {obj['kind']}" in served_kinds()


# --- what is rendered, valid ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_both_stacks_route_through_a_gateway_by_default(stack: str) -> None:
    assert from_stack_file(stack).routing.mode == "gateway"
    kinds = {o["kind"] for o in manifests(stack)}
    assert {"Gateway", "HTTPRoute", "Certificate"} <= kinds
    assert "Ingress" not in kinds


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_passes_its_crds_schema_and_cel_rules(stack: str, name: str) -> None:
    custom = [o for o in manifests(variant(stack, name)) if is_custom(o)]
    assert {"Certificate", "ServiceMonitor"} <= {o["kind"] for o in custom}
    for obj in custom:
        assert problems(obj) == [], f"{obj['kind']} {obj['metadata']['name']}"


@pytest.mark.parametrize("version", ["1.32.0", "1.37.0"])
@pytest.mark.parametrize("stack", STACKS)
def test_every_ingress_is_valid_kubernetes(stack: str, version: str) -> None:
    ingresses = by_kind(manifests(variant(stack, "ingress-nginx")), "Ingress")
    assert len(ingresses) == 4
    for ingress in ingresses:
        validate_builtin(ingress, version)


def test_cel_rules_are_evaluated_and_the_rest_are_counted() -> None:
    # Every rule of the vendored CRDs compiles; the three transition rules (oldSelf: two of Gateway API's, the
    # Rollout's immutable selector) run only on update. More evaluated since the origin lock's EnvoyProxy and the
    # canary's objects render in production.
    assert rule_coverage() == {"evaluated": 476, "transition": 3}


def test_the_cel_evaluation_can_fail() -> None:
    route = find(manifests("production"), "HTTPRoute", "hft-frontend-redirect")
    broken = {
        **route,
        "spec": {
            **route["spec"],
            "rules": [{**route["spec"]["rules"][0], "backendRefs": [{"name": "hft-frontend-service", "port": 80}]}],
        },
    }
    assert problems(broken) == ["spec.rules[0]: RequestRedirect filter must not be used together with backendRefs"]


# --- TLS for every host -----------------------------------------------------------------------------------


def certificates(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Certificate specs by the (namespace, Secret) they write."""
    return {(c["metadata"]["namespace"], c["spec"]["secretName"]): c["spec"] for c in by_kind(objects, "Certificate")}


@pytest.mark.parametrize("name", ["gateway", "gateway-in-its-own-namespace"])
@pytest.mark.parametrize("stack", STACKS)
def test_each_https_listener_serves_a_certificate_that_names_its_host(stack: str, name: str) -> None:
    objects = manifests(variant(stack, name))
    (gateway,) = by_kind(objects, "Gateway")
    gateway_namespace = gateway["metadata"]["namespace"]
    https = [listener for listener in gateway["spec"]["listeners"] if listener["protocol"] == "HTTPS"]
    assert sorted(listener["hostname"] for listener in https) == sorted(from_stack_file(stack).app.hostnames)
    for listener in https:
        assert listener["tls"]["mode"] == "Terminate"
        (ref,) = listener["tls"]["certificateRefs"]
        namespace = ref.get("namespace", gateway_namespace)
        certificate = certificates(objects)[(namespace, ref["name"])]
        assert listener["hostname"] in certificate["dnsNames"]
        assert certificate["issuerRef"] == {
            "group": "cert-manager.io",
            "kind": "ClusterIssuer",
            "name": "letsencrypt-prod",
        }
        if namespace != gateway_namespace:
            # The reference crosses namespaces: a ReferenceGrant in the Secret's namespace allows exactly it.
            grants = [g for g in by_kind(objects, "ReferenceGrant") if g["metadata"]["namespace"] == namespace]
            assert [g["spec"] for g in grants] == [
                {
                    "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": gateway_namespace}],
                    "to": [{"group": "", "kind": "Secret", "name": ref["name"]}],
                }
            ]
    if name == "gateway":
        assert by_kind(objects, "ReferenceGrant") == [], "nothing crosses a namespace"


@pytest.mark.parametrize("stack", STACKS)
def test_each_ingress_serves_its_hosts_with_a_certificate_that_names_them(stack: str) -> None:
    objects = manifests(variant(stack, "ingress-nginx"))
    for ingress in by_kind(objects, "Ingress"):
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        (tls,) = ingress["spec"]["tls"]
        assert set(tls["hosts"]) == hosts
        certificate = certificates(objects)[(ingress["metadata"]["namespace"], tls["secretName"])]
        assert hosts <= set(certificate["dnsNames"])


def test_production_keeps_the_seeds_certificate_secret() -> None:
    assert ("production", "hft-platform-tls") in certificates(manifests("production"))


# --- plain HTTP only redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gateway", "existing-gateway"])
@pytest.mark.parametrize("stack", STACKS)
def test_plain_http_only_redirects_to_https_with_a_301(stack: str, name: str) -> None:
    objects = manifests(variant(stack, name))
    routes = by_kind(objects, "HTTPRoute")
    gateways = by_kind(objects, "Gateway")
    plain = {
        listener["name"] for g in gateways for listener in g["spec"]["listeners"] if listener["protocol"] == "HTTP"
    }
    if name == "existing-gateway":
        plain = {"http"}
    on_plain = [r for r in routes if any(p.get("sectionName") in plain for p in r["spec"]["parentRefs"])]
    assert len(on_plain) == 1
    (rule,) = on_plain[0]["spec"]["rules"]
    assert "backendRefs" not in rule
    (redirect,) = [f for f in rule["filters"] if f["type"] == "RequestRedirect"]
    assert redirect["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    for route in routes:
        if route is not on_plain[0]:
            assert not any(p.get("sectionName") in plain for p in route["spec"]["parentRefs"])


# --- backends, headers, timeouts ------------------------------------------------------------------------------


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("name", ["gateway", "ingress-nginx"])
@pytest.mark.parametrize("stack", STACKS)
def test_every_route_sends_to_the_apps_service_which_selects_its_pods(stack: str, name: str) -> None:
    objects = manifests(variant(stack, name))
    # A canary stack's routes send to its stable and canary Services (docs/delivery.md), with the same selector.
    services = [s for s in by_kind(objects, "Service") if TRAFFIC_ROLE_LABEL in s["metadata"]["labels"]] or [
        find(objects, "Service")
    ]
    pods = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert all(matches(service["spec"]["selector"], pods) for service in services)
    port = services[0]["spec"]["ports"][0]["port"]
    backends = [
        (b["name"], b["port"], route["metadata"]["namespace"])
        for route in by_kind(objects, "HTTPRoute")
        for rule in route["spec"]["rules"]
        for b in rule.get("backendRefs", [])
    ] + [
        (
            path["backend"]["service"]["name"],
            path["backend"]["service"]["port"]["number"],
            ingress["metadata"]["namespace"],
        )
        for ingress in by_kind(objects, "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert len(backends) >= 3
    assert set(backends) == {(s["metadata"]["name"], port, s["metadata"]["namespace"]) for s in services}


def response_headers(rule: dict[str, Any]) -> dict[str, str]:
    (modifier,) = [f for f in rule["filters"] if f["type"] == "ResponseHeaderModifier"]
    return {h["name"]: h["value"] for h in modifier["responseHeaderModifier"]["set"]}


def expected_headers(stack: str) -> dict[str, str]:
    endpoints = from_stack_file(stack).app.endpoints
    return {
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Content-Security-Policy": content_security_policy(endpoints),
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_rule_of_every_route_sends_the_security_headers(stack: str) -> None:
    routes = by_kind(manifests(stack), "HTTPRoute")
    assert len(routes) == 3
    for route in routes:
        for rule in route["spec"]["rules"]:
            assert response_headers(rule).items() >= expected_headers(stack).items(), route["metadata"]["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_csp_lets_the_browser_connect_to_the_stacks_endpoints_only(stack: str) -> None:
    endpoints = from_stack_file(stack).app.endpoints
    policy = dict(
        directive.strip().split(" ", 1) for directive in content_security_policy(endpoints).split(";") if directive
    )
    sources = policy["connect-src"].split()
    env = "" if stack == "production" else "-staging"
    assert sources == [
        "'self'",
        f"https://api{env}.hft-platform.com",
        f"wss://ws{env}.hft-platform.com",
        f"https://engine{env}.hft-platform.com",
    ]
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self' 'unsafe-inline' 'unsafe-eval'"


@pytest.mark.parametrize("stack", STACKS)
def test_static_assets_are_cached_for_a_year_and_the_rest_times_out_after_100s(stack: str) -> None:
    route = find(manifests(stack), "HTTPRoute", "hft-frontend")
    static, default = route["spec"]["rules"]
    assert static["matches"] == [{"path": {"type": "PathPrefix", "value": "/_next/static"}}]
    assert response_headers(static)["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Cache-Control" not in response_headers(default)
    assert default["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    # Cloudflare's proxy read timeout (100 s below Enterprise) is the ceiling behind the edge.
    assert static["timeouts"] == default["timeouts"] == {"request": "100s"}


@pytest.mark.parametrize("stack", STACKS)
def test_websockets_have_no_total_deadline_and_the_seeds_idle_timeout(stack: str) -> None:
    objects = manifests(stack)
    route = find(objects, "HTTPRoute", "hft-frontend-websocket")
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/ws"}}]
    assert rule["timeouts"] == {"request": "0s"}
    (policy,) = by_kind(objects, "BackendTrafficPolicy")  # Envoy Gateway, the default implementation
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "hft-frontend-websocket"}
    ]
    assert policy["spec"]["timeout"] == {"http": {"streamIdleTimeout": "3600s"}}


def test_nginx_gateway_fabric_gets_its_proxy_settings_instead_of_route_timeouts() -> None:
    objects = manifests(variant("production", "nginx-gateway-fabric"))
    for route in by_kind(objects, "HTTPRoute"):
        assert all("timeouts" not in rule for rule in route["spec"]["rules"])
    policies = {
        p["spec"]["targetRefs"][0]["name"]: p["spec"]["timeout"] for p in by_kind(objects, "ProxySettingsPolicy")
    }
    assert policies == {
        "hft-frontend": {"read": "100s", "send": "100s"},
        "hft-frontend-websocket": {"read": "3600s", "send": "3600s"},
    }
    assert not by_kind(objects, "BackendTrafficPolicy")


def test_istio_has_no_idle_timeout_policy_and_admits_its_own_gateway_namespace() -> None:
    objects = manifests(variant("production", "istio"))
    assert not by_kind(objects, "BackendTrafficPolicy")
    assert not by_kind(objects, "ProxySettingsPolicy")
    pods = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert allowed(objects, "Ingress", pods, 3000, namespace="istio-gateways")
    assert not allowed(objects, "Ingress", pods, 3000, namespace="envoy-gateway-system")


@pytest.mark.parametrize("stack", STACKS)
def test_ingress_nginx_keeps_the_seeds_behaviour_without_snippets(stack: str) -> None:
    objects = manifests(variant(stack, "ingress-nginx"))
    ingresses = {i["metadata"]["name"]: i for i in by_kind(objects, "Ingress")}
    prefix = "nginx.ingress.kubernetes.io/"

    def annotations(name: str) -> dict[str, str]:
        return {k.removeprefix(prefix): v for k, v in ingresses[name]["metadata"]["annotations"].items()}

    for name, ingress in ingresses.items():
        assert ingress["spec"]["ingressClassName"] == "nginx"
        values = annotations(name)
        assert (values["force-ssl-redirect"], values["proxy-body-size"]) == ("true", "50m")
    assert {n: i["spec"]["rules"][0]["http"]["paths"][0]["path"] for n, i in ingresses.items()} == {
        "hft-frontend-ingress": "/",
        "hft-frontend-api": "/api",
        "hft-frontend-websocket": "/ws",
        "hft-frontend-static": "/_next/static/",
    }
    assert (
        annotations("hft-frontend-ingress")["proxy-read-timeout"],
        annotations("hft-frontend-ingress")["proxy-send-timeout"],
    ) == ("100", "100")
    assert (
        annotations("hft-frontend-websocket")["proxy-read-timeout"],
        annotations("hft-frontend-websocket")["proxy-send-timeout"],
    ) == ("3600", "3600")
    assert (
        annotations("hft-frontend-api")["limit-rpm"],
        annotations("hft-frontend-api")["limit-burst-multiplier"],
    ) == ("100", "1")
    assert annotations("hft-frontend-ingress")["limit-rpm"] == "1000"
    assert "limit-rpm" not in annotations("hft-frontend-websocket")
    # The headers through the controller's custom-headers ConfigMaps.
    namespace = next(iter(ingresses.values()))["metadata"]["namespace"]
    security = find(objects, "ConfigMap", "hft-frontend-security-headers")["data"]
    assert security == expected_headers(stack)
    static = find(objects, "ConfigMap", "hft-frontend-static-headers")["data"]
    assert static == {**expected_headers(stack), "Cache-Control": "public, max-age=31536000, immutable"}
    assert annotations("hft-frontend-static")["custom-headers"] == f"{namespace}/hft-frontend-static-headers"
    assert annotations("hft-frontend-api")["custom-headers"] == f"{namespace}/hft-frontend-security-headers"


@pytest.mark.parametrize(
    ("burst", "per_minute", "multiplier"), [(20, 100, 1), (50, 1000, 1), (250, 100, 2), (300, 100, 3)]
)
def test_the_burst_multiplier_is_the_nearest_whole_multiple_of_the_rate(
    burst: int, per_minute: int, multiplier: int
) -> None:
    assert burst_multiplier(burst, per_minute) == multiplier


@pytest.mark.parametrize("name", VARIANTS)
def test_no_rendered_object_carries_a_snippet_annotation(name: str) -> None:
    for obj in manifests(variant("production", name)):
        for key in obj["metadata"].get("annotations") or {}:
            assert not key.endswith(("-snippet", "-snippets")), (obj["kind"], key)


# --- the NetworkPolicy admits routing and monitoring only ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "routing_namespace"), [("gateway", "envoy-gateway-system"), ("ingress-nginx", "ingress-nginx")]
)
@pytest.mark.parametrize("stack", STACKS)
def test_the_app_port_admits_the_routing_proxies_and_prometheus_only(
    stack: str, name: str, routing_namespace: str
) -> None:
    objects = manifests(variant(stack, name))
    pods = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert allowed(objects, "Ingress", pods, 3000, namespace=routing_namespace)
    assert allowed(objects, "Ingress", pods, 3000, namespace="monitoring")
    for other in ("ingress-nginx", "envoy-gateway-system", "default", "kube-system", stack):
        if other != routing_namespace:
            assert not allowed(objects, "Ingress", pods, 3000, namespace=other), other
    assert not allowed(objects, "Ingress", pods, 22, namespace=routing_namespace)
    assert not allowed(objects, "Ingress", pods, 3000, ip="198.51.100.7")


# --- the origin only behind Cloudflare ----------------------------------------------------------------------


def test_the_gateway_trusts_the_client_address_only_from_cloudflare_and_can_require_its_certificate() -> None:
    plain = find(manifests("staging"), "ClientTrafficPolicy")["spec"]
    assert plain["clientIPDetection"] == {"xForwardedFor": {"trustedCIDRs": list(CLOUDFLARE_RANGES)}}
    assert "tls" not in plain, "staging is not locked: no client certificate asked for"
    objects = manifests(variant("production", "origin-pulls"))
    policy = find(objects, "ClientTrafficPolicy")["spec"]
    (ca,) = policy["tls"]["clientValidation"]["caCertificateRefs"]
    secret = find(objects, "Secret", ca["name"])
    assert secret["metadata"]["namespace"] == find(objects, "Gateway")["metadata"]["namespace"]
    https = {t["sectionName"] for t in policy["targetRefs"]}
    assert https == {listener_name("https", h) for h in from_stack_file("production").app.hostnames}


# --- the origin lock (docs/origin-lock.md) ----------------------------------------------------------------------


def test_production_locks_its_origin_in_both_layers() -> None:
    rendering = render("production")
    objects = manifests(rendering)
    gateway = find(objects, "Gateway")
    ref = gateway["spec"]["infrastructure"]["parametersRef"]
    assert ref == {
        "group": "gateway.envoyproxy.io",
        "kind": "EnvoyProxy",
        "name": f"{gateway['metadata']['name']}-origin-lock",
    }
    proxy = find(objects, "EnvoyProxy", ref["name"])
    assert proxy["metadata"]["namespace"] == gateway["metadata"]["namespace"]  # a local reference
    service = proxy["spec"]["provider"]["kubernetes"]["envoyService"]
    assert service["type"] == "LoadBalancer"
    assert service["loadBalancerSourceRanges"] == list(CLOUDFLARE_RANGES)
    # The listeners admit only this zone's own client certificate: the CA the stack made, not Cloudflare's shared one.
    policy = find(objects, "ClientTrafficPolicy")["spec"]
    (ca,) = policy["tls"]["clientValidation"]["caCertificateRefs"]
    assert ca["kind"] == "ConfigMap"
    bundle = find(objects, "ConfigMap", ca["name"])["data"]["ca.crt"]
    (authority,) = rendering.by_type("tls:index/selfSignedCert:SelfSignedCert")
    assert bundle == authority.outputs["certPem"]
    assert bundle != ORIGIN_PULL_CA_PEM
    assert authority.inputs["isCaCertificate"] is True
    # Cloudflare presents the client certificate that CA signed, for this zone (zone-level origin pulls).
    (client,) = rendering.by_type("tls:index/locallySignedCert:LocallySignedCert")
    assert client.inputs["caCertPem"] == authority.outputs["certPem"]
    assert "client_auth" in client.inputs["allowedUses"]
    (upload,) = rendering.by_type(
        "cloudflare:index/authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate"
    )
    assert upload.inputs["certificate"] == client.outputs["certPem"]
    assert is_secret(upload.inputs["privateKey"])
    (switch,) = rendering.by_type("cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings")
    assert switch.inputs["enabled"] is True
    assert upload.urn in switch.dependencies, "the certificate first, then the switch"
    # The EnvoyProxy exists before the Gateway refers to it.
    proxies = [r for r in rendering.registrations if r.type.endswith(":EnvoyProxy")]
    (gateway_reg,) = [r for r in rendering.registrations if r.type.endswith(":Gateway")]
    assert proxies[0].urn in gateway_reg.dependencies


def test_the_listeners_can_wait_for_the_zone_to_present_its_certificate() -> None:
    first = manifests(
        render("production", {"hft-frontend:routing": {"originLock": {"requireClientCertificate": False}}})
    )
    assert "tls" not in find(first, "ClientTrafficPolicy")["spec"]
    assert find(first, "Gateway")["spec"]["infrastructure"]["parametersRef"]["kind"] == "EnvoyProxy"


def test_staging_is_not_locked_unless_it_says_so() -> None:
    objects = manifests("staging")
    assert "infrastructure" not in find(objects, "Gateway")["spec"]
    assert not by_kind(objects, "EnvoyProxy")


def test_a_stack_in_anothers_zone_trusts_the_owners_ca_it_is_given() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    locked = render("staging", {"hft-frontend:routing": {"originLock": {"enabled": True, "trustedCaPem": pem}}})
    objects = manifests(locked)
    assert find(objects, "Gateway")["spec"]["infrastructure"]["parametersRef"]["kind"] == "EnvoyProxy"
    (ca,) = find(objects, "ClientTrafficPolicy")["spec"]["tls"]["clientValidation"]["caCertificateRefs"]
    assert find(objects, "ConfigMap", ca["name"])["data"]["ca.crt"] == pem
    assert not locked.by_type("tls:index/selfSignedCert:SelfSignedCert"), "the owner holds the CA"


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        ("staging", {"originLock": {"enabled": True}}, "routing.originLock.trustedCaPem: is required"),
        ("production", {"mode": "ingress-nginx"}, "routing.originLock.enabled: is on in production"),
        (
            "production",
            {"gateway": {"implementation": "istio", "namespace": "istio-gateways"}},
            "the program locks only a Gateway it creates with Envoy Gateway",
        ),
        ("production", {"originLock": {"authenticatedOriginPulls": True}}, "trusts Cloudflare's shared certificate"),
    ],
)
def test_an_origin_lock_the_program_cannot_build_is_refused_with_one_line(
    stack: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProgramError) as error:
        render(stack, {"hft-frontend:routing": overrides})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_the_vendored_ranges_are_cloudflares_published_lists() -> None:
    """components/data/cloudflare-ips.txt against the source documents (https://www.cloudflare.com/ips-v4/ and
    /ips-v6/, as mirrored by lord-alfred/ipranges at the commit components/data/README.md names, vendored unchanged
    in tests/data/cloudflare-ips with their blob hashes)."""
    source = PROJECT_DIR / "tests" / "data" / "cloudflare-ips"
    blobs = {
        "ipv4.txt": "c07acd300ca9d8d745b68cd40bbaf95b72fa54ed",
        "ipv6.txt": "ff5be1f0216f985b59c0f4e0fc153b294e61ce2a",
    }
    published: list[str] = []
    for name, blob in blobs.items():
        data = (source / name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob, f"{name} is not the mirror's file"
        published += [line.strip() for line in data.decode().splitlines() if line.strip()]
    assert sorted(CLOUDFLARE_RANGES) == sorted(published)


def test_ingress_nginx_can_require_cloudflares_certificate() -> None:
    for ingress in by_kind(manifests(variant("production", "origin-pulls-ingress-nginx")), "Ingress"):
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/auth-tls-verify-client"] == "on"
        assert annotations["nginx.ingress.kubernetes.io/auth-tls-secret"] == "production/hft-frontend-origin-pull-ca"


def test_the_origin_pull_ca_is_cloudflares() -> None:
    body = "".join(line for line in ORIGIN_PULL_CA_PEM.splitlines() if not line.startswith("-----"))
    fingerprint = hashlib.sha256(base64.b64decode(body)).hexdigest().upper()
    assert fingerprint == "9A1AC2B4BE15F9F27EEE20A734CBA4E9898F61001B3BD7C84B69B56A3E25A2B9"
    assert len(CLOUDFLARE_RANGES) == 22


# --- cert-manager's ClusterIssuer, and its secret -----------------------------------------------------------


def test_the_cluster_issuer_is_created_only_where_the_stack_asks() -> None:
    assert not by_kind(manifests("production"), "ClusterIssuer")
    objects = manifests(variant("production", "cluster-issuer-dns01"))
    issuer = find(objects, "ClusterIssuer", "letsencrypt-prod")["spec"]["acme"]
    assert issuer["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    (solver,) = issuer["solvers"]
    assert solver["selector"] == {"dnsZones": ["hft-platform.com"]}
    ref = solver["dns01"]["cloudflare"]["apiTokenSecretRef"]
    token = find(objects, "Secret", ref["name"])
    assert token["metadata"]["namespace"] == "cert-manager"  # the cluster resource namespace
    assert set(token["stringData"]) == {ref["key"]}
    http01 = find(manifests(variant("production", "cluster-issuer-http01")), "ClusterIssuer")["spec"]["acme"]
    (solver,) = http01["solvers"]
    assert {p["sectionName"] for p in solver["http01"]["gatewayHTTPRoute"]["parentRefs"]} == {
        "http-hft-platform-com",
        "http-www-hft-platform-com",
    }


def test_a_secret_in_a_field_that_may_hold_one_stays_secret_end_to_end(tmp_path: Any) -> None:
    rendering = variant("production", "cluster-issuer-dns01")
    (token,) = [r for r in rendering.by_type("kubernetes:core/v1:Secret") if r.name == "routing-cloudflare-api-token"]
    assert is_secret(token.inputs["stringData"])
    assert token.inputs["stringData"]["value"] == {"api-token": "cf-t0ken"}
    assert "cf-t0ken" in secret_plaintexts(rendering)
    assert "cf-t0ken" not in str(stack_export(rendering))
    assert "cf-t0ken" not in str(manifests(rendering))


def test_a_secret_elsewhere_in_the_routing_key_is_refused_naming_the_key(
    render_stack: Callable[..., Rendering],
) -> None:
    with pytest.raises(ProgramError) as error:
        render_stack("staging", {"hft-frontend:routing": {"gateway": {"className": Secret("s3cr3t-class")}}})
    message = str(error.value)
    assert message.startswith("Pulumi.staging.yaml: hft-frontend:routing: is a secret")
    assert "routing.tls.clusterIssuer.cloudflareApiToken" in message
    assert "s3cr3t" not in message


# --- bad values -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"hft-frontend:app": {"hostnames": ["hft_platform.com"]}},
            'Pulumi.staging.yaml: hft-frontend:app.hostnames[0] = "hft_platform.com": not a valid DNS name',
        ),
        (
            {"hft-frontend:routing": {"mode": "traefik"}},
            'Pulumi.staging.yaml: hft-frontend:routing.mode = "traefik": Input should be '
            "'gateway' or 'ingress-nginx'",
        ),
        (
            {"hft-frontend:routing": {"gateway": {"create": False, "name": "shared"}}},
            "Pulumi.staging.yaml: hft-frontend:routing.gateway.namespace: is required to attach to an existing Gateway",
        ),
        (
            {"hft-frontend:routing": {"tls": {"clusterIssuer": {"create": True}}}},
            "Pulumi.staging.yaml: hft-frontend:routing.tls.clusterIssuer.cloudflareApiToken: is required for the "
            "dns01-cloudflare solver",
        ),
        (
            {"hft-frontend:cluster": {"ingressNamespace": "ingress-nginx"}},
            "Pulumi.staging.yaml: hft-frontend:cluster.ingressNamespace: unknown key",
        ),
    ],
)
def test_bad_routing_values_fail_with_one_line_naming_the_key(
    render_stack: Callable[..., Rendering], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProgramError) as error:
        render_stack("staging", overrides)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_dns_zones_are_the_hosts_registrable_domains() -> None:
    assert dns_zones(["hft-platform.com", "www.hft-platform.com", "staging.hft-platform.com"]) == ["hft-platform.com"]


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("stack", STACKS)
def test_every_variant_passes_the_policy_pack(stack: str, name: str) -> None:
    """Every variant passes, but a production origin the lock does not cover: a Gateway the program renders
    without its EnvoyProxy admits the internet, and the pack refuses it, as it should."""
    violations = [v for v in evaluate_rendering(variant(stack, name)) if v.enforcement_level == "mandatory"]
    rendered_gateway = any(r.type.endswith(":Gateway") for r in variant(stack, name).registrations)
    if stack == "production" and "originLock" in VARIANTS[name].get("hft-frontend:routing", {}) and rendered_gateway:
        assert {(v.policy_name, v.resource_type) for v in violations} == {
            ("production-origin-admits-only-cloudflare", "kubernetes:gateway.networking.k8s.io/v1:Gateway")
        }
    else:
        assert violations == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_exports_its_hostnames_and_the_origin_address(stack: str) -> None:
    outputs = next(r for r in render(stack).registrations if r.type == "pulumi:pulumi:Stack").outputs
    assert outputs["hostnames"] == list(from_stack_file(stack).app.hostnames)
    assert outputs["originAddress"].endswith(".elb.us-east-1.amazonaws.com")
    existing = next(r for r in variant(stack, "existing-gateway").registrations if r.type == "pulumi:pulumi:Stack")
    assert "originAddress" not in existing.outputs, "an existing Gateway's address is its owner's to publish"


# --- route attachment: which routes each listener admits ----------------------------------------------------

# Route kinds a listener of each protocol admits when its allowedRoutes.kinds is empty (Gateway API: "the
# kinds of Routes selected are determined using the Listener protocol"): the HTTP-family routes.
DEFAULT_KINDS = {"HTTP": {"HTTPRoute", "GRPCRoute"}, "HTTPS": {"HTTPRoute", "GRPCRoute"}}
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute")
GATEWAY_GROUP = "gateway.networking.k8s.io"


def _label_selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics; an empty selector matches everything."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values):
            return False
        if (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


def listener_admits(listener: dict[str, Any], gateway_namespace: str, route_namespace: str, kind: str) -> bool:
    """Whether a route of `kind` in `route_namespace` may attach to the listener (Gateway API v1 semantics,
    the CRD's defaults: allowedRoutes.namespaces.from Same)."""
    allowed_routes = listener.get("allowedRoutes", {})
    kinds = {k["kind"] for k in allowed_routes.get("kinds", []) if k.get("group", GATEWAY_GROUP) == GATEWAY_GROUP}
    if kind not in (kinds or DEFAULT_KINDS[listener["protocol"]]):
        return False
    namespaces = allowed_routes.get("namespaces", {})
    source = namespaces.get("from", "Same")
    if source == "All":
        return True
    if source == "Same":
        return route_namespace == gateway_namespace
    return _label_selector_matches(namespaces.get("selector", {}), {"kubernetes.io/metadata.name": route_namespace})


OTHER_NAMESPACES = ("default", "kube-system", "monitoring", "edge-gateways", "staging", "production", "attacker")


@pytest.mark.parametrize("name", ["gateway", "gateway-in-its-own-namespace"])
@pytest.mark.parametrize("stack", STACKS)
def test_each_listener_admits_only_httproutes_from_the_apps_namespace(stack: str, name: str) -> None:
    objects = manifests(variant(stack, name))
    (gateway,) = by_kind(objects, "Gateway")
    gateway_namespace = gateway["metadata"]["namespace"]
    routes = by_kind(objects, "HTTPRoute")
    assert {r["metadata"]["namespace"] for r in routes} == {stack}
    for listener in gateway["spec"]["listeners"]:
        assert "allowedRoutes" in listener, listener["name"]  # explicit, not the protocol's defaults
        assert listener_admits(listener, gateway_namespace, stack, "HTTPRoute"), listener["name"]
        for kind in ROUTE_KINDS[1:]:
            assert not listener_admits(listener, gateway_namespace, stack, kind), (listener["name"], kind)
        for other in OTHER_NAMESPACES:
            if other != stack:
                assert not listener_admits(listener, gateway_namespace, other, "HTTPRoute"), (listener["name"], other)


def test_the_attachment_model_sees_a_dropped_or_widened_allowed_routes() -> None:
    (gateway,) = by_kind(manifests(variant("production", "gateway-in-its-own-namespace")), "Gateway")
    listener = gateway["spec"]["listeners"][0]
    dropped = {k: v for k, v in listener.items() if k != "allowedRoutes"}
    assert not listener_admits(dropped, "edge-gateways", "production", "HTTPRoute")  # the default: Same
    assert listener_admits(dropped, "production", "production", "GRPCRoute")  # and every HTTP-family kind
    widened = {**listener, "allowedRoutes": {**listener["allowedRoutes"], "namespaces": {"from": "All"}}}
    assert listener_admits(widened, "edge-gateways", "attacker", "HTTPRoute")
    everyone = {"from": "Selector", "selector": {}}
    empty = {**listener, "allowedRoutes": {**listener["allowedRoutes"], "namespaces": everyone}}
    assert listener_admits(empty, "edge-gateways", "kube-system", "HTTPRoute")


# --- the certificate's key ------------------------------------------------------------------------------------


def test_production_keeps_the_key_ingress_shim_made_and_new_stacks_get_ecdsa() -> None:
    certificate = find(manifests("production"), "Certificate", "hft-platform-tls")
    assert certificate["spec"]["privateKey"] == {"algorithm": "RSA", "size": 2048, "rotationPolicy": "Always"}
    default = find(manifests("staging"), "Certificate")  # staging had no live certificate: the default key
    assert default["spec"]["privateKey"] == {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}
    ecdsa = render("production", {"hft-frontend:routing": {"tls": {"privateKey": {"algorithm": "ECDSA", "size": 384}}}})
    assert find(manifests(ecdsa), "Certificate")["spec"]["privateKey"]["size"] == 384


@pytest.mark.parametrize(("key", "message"), [
    ({"algorithm": "RSA", "size": 3072}, "routing.tls.privateKey.size = 3072: is not a size cert-manager allows for RSA (2048, 4096, 8192)"),  # noqa: E501
    ({"algorithm": "ECDSA", "size": 2048}, "is not a size cert-manager allows for ECDSA (256, 384, 521)"),
])  # fmt: skip
def test_a_key_size_cert_manager_refuses_is_refused_with_one_line(key: dict[str, Any], message: str) -> None:
    with pytest.raises(ProgramError) as error:
        render("production", {"hft-frontend:routing": {"tls": {"privateKey": key}}})
    assert message in str(error.value)
    assert "\n" not in str(error.value)
