"""Routing: how traffic reaches the app, with TLS from cert-manager, in one of two modes.

- `gateway` (default): Gateway API v1. HTTPRoutes attach to a Gateway the program creates (HTTPS
  listeners per host, an HTTP listener per host whose only route redirects to HTTPS) or to one that
  exists (its owner provides listeners and certificates; the program checks nothing it cannot see).
  The seed's nginx semantics live in the routes: the security headers on every rule of every route
  (ResponseHeaderModifier), the request timeout, `/ws` without a total deadline and with the seed's
  idle timeout through the implementation's own policy resource, immutable caching of static assets.
- `ingress-nginx` (retired upstream in March 2026; for stacks that still run it): Ingress objects
  with the seed's behaviour and no snippet annotation; the security headers through the controller's
  `custom-headers` ConfigMaps.

The seed keyed its nginx rate limits on the peer address, which behind Cloudflare is Cloudflare's:
per-client limits belong at the edge (EdgeCDN's rate limiting rules). ingress-nginx keeps the seed's
per-client limits only because the controller restores the client address from Cloudflare's ranges
(docs/routing.md, the controller settings this mode needs).

The spec builders are pure functions of the settings; the component turns them into resources.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.networking.v1 import IngressBackendArgsDict, IngressRuleArgsDict, IngressSpecArgsDict

from components import naming
from components.cloudflare_facts import ORIGIN_PULL_CA_PEM
from components.k8s import NAMESPACE_NAME_LABEL, AppIdentity, ServiceTarget, metadata
from components.settings import ClusterIssuerSettings, ConfigSecret, Endpoints, PrivateKeySettings, RoutingSettings

GATEWAY_API = "gateway.networking.k8s.io"
GATEWAY_API_VERSION = f"{GATEWAY_API}/v1"
REFERENCE_GRANT_API_VERSION = f"{GATEWAY_API}/v1beta1"  # v1.4.1 serves ReferenceGrant as v1beta1 only
CERT_MANAGER_API_VERSION = "cert-manager.io/v1"
ENVOY_GATEWAY_API_VERSION = "gateway.envoyproxy.io/v1alpha1"
NGINX_GATEWAY_FABRIC_API_VERSION = "gateway.nginx.org/v1alpha1"
INGRESS_NGINX = "nginx.ingress.kubernetes.io"

STATIC_CACHE_CONTROL = "public, max-age=31536000, immutable"  # one year; Next.js hashes these file names
NO_TIMEOUT = "0s"  # Gateway API: a zero duration disables the timeout


# --- the response headers -------------------------------------------------------------------------


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(endpoints: Endpoints) -> str:
    """The seed's policy, with `connect-src` naming the stack's API, WebSocket and engine origins instead
    of every https: and wss: host."""
    connect = " ".join(
        dict.fromkeys(_origin(u) for u in (endpoints.api_base_url, endpoints.websocket_url, endpoints.cpp_backend_url))
    )
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: https:; connect-src 'self' {connect}; font-src 'self' data:"
    )


def strict_transport_security(routing: RoutingSettings) -> str:
    hsts = routing.hsts
    value = f"max-age={hsts.max_age_seconds}"
    if hsts.include_sub_domains:
        value += "; includeSubDomains"
    if hsts.preload:
        value += "; preload"
    return value


def security_headers(routing: RoutingSettings, endpoints: Endpoints) -> dict[str, str]:
    """On every response. (The seed's X-XSS-Protection is left out: browsers dropped the filter it
    controlled, and in old ones it opened cross-site leaks; the Content-Security-Policy covers it.)"""
    return {
        "Strict-Transport-Security": strict_transport_security(routing),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Content-Security-Policy": content_security_policy(endpoints),
    }


def static_headers(routing: RoutingSettings, endpoints: Endpoints) -> dict[str, str]:
    return {**security_headers(routing, endpoints), "Cache-Control": STATIC_CACHE_CONTROL}


# --- Gateway API ------------------------------------------------------------------------------------


def listener_name(protocol: str, hostname: str) -> str:
    return f"{protocol}-{hostname.replace('.', '-')}"


@dataclass(frozen=True)
class GatewayRef:
    name: str
    namespace: str
    https_listeners: tuple[str, ...]  # sectionNames; empty: the whole Gateway
    http_listeners: tuple[str, ...]  # where the redirect route attaches; empty: no redirect route


def parent_refs(gateway: GatewayRef, listeners: Sequence[str]) -> list[dict[str, Any]]:
    base = {"group": GATEWAY_API, "kind": "Gateway", "name": gateway.name, "namespace": gateway.namespace}
    if not listeners:
        return [base]
    return [{**base, "sectionName": listener} for listener in listeners]


def _allowed_routes(route_namespace: str, gateway_namespace: str) -> dict[str, Any]:
    """Only HTTPRoutes, and only from the app's namespace."""
    if route_namespace == gateway_namespace:
        namespaces: dict[str, Any] = {"from": "Same"}
    else:
        namespaces = {"from": "Selector", "selector": {"matchLabels": {NAMESPACE_NAME_LABEL: route_namespace}}}
    return {"kinds": [{"group": GATEWAY_API, "kind": "HTTPRoute"}], "namespaces": namespaces}


def gateway_spec(
    class_name: str,
    hostnames: Sequence[str],
    tls_secret: str,
    tls_namespace: str,
    gateway_namespace: str,
    envoy_proxy: str | None = None,
) -> dict[str, Any]:
    """An HTTPS listener per host, terminating TLS with the host's certificate, and an HTTP listener per
    host, to which only the redirect route attaches; with `envoy_proxy`, the Gateway's own Envoy Gateway
    configuration (its load balancer's source ranges: the origin lock)."""
    allowed = _allowed_routes(tls_namespace, gateway_namespace)
    certificate: dict[str, Any] = {"group": "", "kind": "Secret", "name": tls_secret}
    if tls_namespace != gateway_namespace:
        certificate["namespace"] = tls_namespace
    listeners: list[dict[str, Any]] = []
    for hostname in hostnames:
        listeners.append(
            {
                "name": listener_name("https", hostname),
                "protocol": "HTTPS",
                "port": 443,
                "hostname": hostname,
                "tls": {"mode": "Terminate", "certificateRefs": [certificate]},
                "allowedRoutes": allowed,
            }
        )
        listeners.append(
            {
                "name": listener_name("http", hostname),
                "protocol": "HTTP",
                "port": 80,
                "hostname": hostname,
                "allowedRoutes": allowed,
            }
        )
    spec: dict[str, Any] = {"gatewayClassName": class_name, "listeners": listeners}
    if envoy_proxy is not None:
        # A LocalParametersReference: an EnvoyProxy in the Gateway's namespace (Gateway API v1
        # spec.infrastructure.parametersRef; Envoy Gateway applies it to this Gateway's proxies and Service).
        spec["infrastructure"] = {
            "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": envoy_proxy}
        }
    return spec


def envoy_proxy_spec(source_ranges: Sequence[str]) -> dict[str, Any]:
    """The Gateway's proxies behind a load balancer that admits only `source_ranges` (Cloudflare's): the
    Service's loadBalancerSourceRanges, which the cloud's load balancer enforces (on EKS the AWS Load Balancer
    Controller or the in-tree controller turns them into the security group's inbound rules)."""
    return {
        "provider": {
            "type": "Kubernetes",
            "kubernetes": {"envoyService": {"type": "LoadBalancer", "loadBalancerSourceRanges": list(source_ranges)}},
        }
    }


def _header_filter(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"set": [{"name": name, "value": value} for name, value in headers.items()]},
    }


def _backend(target: ServiceTarget, service_name: str) -> list[dict[str, Any]]:
    # The route lives in the Service's namespace: the reference does not cross namespaces.
    return [{"group": "", "kind": "Service", "name": service_name, "port": target.port}]


def canary_backends(port: int, stable: str, canary: str) -> list[dict[str, Any]]:
    """A canary stack's backends: the stable Service with every request and the canary's with none. Argo
    Rollouts' Gateway API plugin moves the weights during a release (and puts them back after it); a
    weight picks the backend of each new request, so an open WebSocket stays where it was until it
    reconnects."""
    return [
        {"group": "", "kind": "Service", "name": stable, "port": port, "weight": 100},
        {"group": "", "kind": "Service", "name": canary, "port": port, "weight": 0},
    ]


def gateway_route_names(app: AppIdentity) -> dict[str, str]:
    """The HTTPRoutes' Kubernetes names in gateway mode."""
    return {"redirect": f"{app.name}-redirect", "app": app.name, "websocket": f"{app.name}-websocket"}


def app_routes(app: AppIdentity) -> tuple[str, ...]:
    """The HTTPRoutes that serve the app (not the redirect): those whose weights a canary moves."""
    names = gateway_route_names(app)
    return (names["app"], names["websocket"])


def redirect_route_spec(gateway: GatewayRef, hostnames: Sequence[str], headers: dict[str, str]) -> dict[str, Any]:
    """Plain HTTP: the only rule redirects to HTTPS, permanently (301, not the default 302)."""
    return {
        "parentRefs": parent_refs(gateway, gateway.http_listeners),
        "hostnames": list(hostnames),
        "rules": [
            {
                "filters": [
                    {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}},
                    _header_filter(headers),
                ]
            }
        ],
    }


def _prefix(path: str) -> list[dict[str, Any]]:
    return [{"path": {"type": "PathPrefix", "value": path.rstrip("/") or "/"}}]


def app_route_spec(
    gateway: GatewayRef,
    hostnames: Sequence[str],
    backend: list[dict[str, Any]],
    routing: RoutingSettings,
    endpoints: Endpoints,
    with_timeouts: bool,
) -> dict[str, Any]:
    """Static assets cached for a year; everything else with the request timeout. Each rule carries the
    security headers: a ResponseHeaderModifier applies to the rule it is on, and may not repeat."""
    timeouts = {"timeouts": {"request": routing.request_timeout}} if with_timeouts else {}
    return {
        "parentRefs": parent_refs(gateway, gateway.https_listeners),
        "hostnames": list(hostnames),
        "rules": [
            {
                "matches": _prefix(routing.static_path),
                "filters": [_header_filter(static_headers(routing, endpoints))],
                "backendRefs": backend,
                **timeouts,
            },
            {
                "matches": _prefix("/"),
                "filters": [_header_filter(security_headers(routing, endpoints))],
                "backendRefs": backend,
                **timeouts,
            },
        ],
    }


def websocket_route_spec(
    gateway: GatewayRef,
    hostnames: Sequence[str],
    backend: list[dict[str, Any]],
    routing: RoutingSettings,
    endpoints: Endpoints,
    with_timeouts: bool,
) -> dict[str, Any]:
    """`/ws` in a route of its own, so an implementation's policy can target it: no total deadline (a
    WebSocket lives for hours and `timeouts.request` bounds the whole exchange)."""
    timeouts = {"timeouts": {"request": NO_TIMEOUT}} if with_timeouts else {}
    return {
        "parentRefs": parent_refs(gateway, gateway.https_listeners),
        "hostnames": list(hostnames),
        "rules": [
            {
                "matches": _prefix(routing.websocket_path),
                "filters": [_header_filter(security_headers(routing, endpoints))],
                "backendRefs": backend,
                **timeouts,
            }
        ],
    }


def websocket_idle_policy(
    implementation: str, route_name: str, routing: RoutingSettings
) -> tuple[str, str, dict[str, Any]] | None:
    """(apiVersion, kind, spec) of the implementation's own resource for the seed's WebSocket idle timeout,
    or None where the implementation has none (Istio, Cilium: docs/routing.md)."""
    target = {"group": GATEWAY_API, "kind": "HTTPRoute", "name": route_name}
    idle = routing.websocket_idle_timeout
    if implementation == "envoy-gateway":
        # Envoy Gateway 1.8+: a stream idle timeout per route.
        spec = {"targetRefs": [target], "timeout": {"http": {"streamIdleTimeout": idle}}}
        return ENVOY_GATEWAY_API_VERSION, "BackendTrafficPolicy", spec
    if implementation == "nginx-gateway-fabric":
        # nginx's own proxy_read/send_timeout, as the seed set them.
        spec = {"targetRefs": [target], "timeout": {"read": idle, "send": idle}}
        return NGINX_GATEWAY_FABRIC_API_VERSION, "ProxySettingsPolicy", spec
    return None


def request_timeout_policy(implementation: str, route_name: str, routing: RoutingSettings) -> dict[str, Any] | None:
    """NGINX Gateway Fabric does not implement HTTPRoute timeouts: its ProxySettingsPolicy instead."""
    if implementation != "nginx-gateway-fabric":
        return None
    target = {"group": GATEWAY_API, "kind": "HTTPRoute", "name": route_name}
    return {"targetRefs": [target], "timeout": {"read": routing.request_timeout, "send": routing.request_timeout}}


def client_traffic_policy_spec(
    gateway: GatewayRef,
    https_listeners: Sequence[str],
    routing: RoutingSettings,
    ca_secret: str | None,
    ca_kind: str = "Secret",
) -> dict[str, Any]:
    """Envoy Gateway, on the HTTPS listeners: the client address from X-Forwarded-For, trusted only from
    Cloudflare's ranges; with Authenticated Origin Pulls, only clients with Cloudflare's certificate."""
    spec: dict[str, Any] = {
        "targetRefs": [
            {"group": GATEWAY_API, "kind": "Gateway", "name": gateway.name, "sectionName": listener}
            for listener in https_listeners
        ],
        "clientIPDetection": {"xForwardedFor": {"trustedCIDRs": list(routing.origin_lock.cloudflare_ranges)}},
    }
    if ca_secret is not None:
        spec["tls"] = {"clientValidation": {"caCertificateRefs": [{"group": "", "kind": ca_kind, "name": ca_secret}]}}
    return spec


def reference_grant_spec(from_kind: str, from_namespace: str, to_kind: str, to_name: str) -> dict[str, Any]:
    """Lets `from_kind`s in `from_namespace` refer to one object of this namespace."""
    return {
        "from": [{"group": GATEWAY_API, "kind": from_kind, "namespace": from_namespace}],
        "to": [{"group": "", "kind": to_kind, "name": to_name}],
    }


# --- cert-manager -------------------------------------------------------------------------------------


def certificate_spec(
    secret_name: str, hostnames: Sequence[str], issuer: str, key: PrivateKeySettings | None = None
) -> dict[str, Any]:
    key = key or PrivateKeySettings()
    return {
        "secretName": secret_name,
        "dnsNames": list(hostnames),
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer},
        # A fresh key on every renewal (cert-manager's default since 1.18, stated).
        "privateKey": {"algorithm": key.algorithm, "size": key.size, "rotationPolicy": "Always"},
    }


CLOUDFLARE_TOKEN_KEY = "api-token"


def dns_zones(hostnames: Sequence[str]) -> list[str]:
    """The zones the hosts live in (their last two labels), for the DNS-01 solver's selector."""
    return sorted({".".join(hostname.split(".")[-2:]) for hostname in hostnames})


def cluster_issuer_spec(
    issuer: ClusterIssuerSettings, hostnames: Sequence[str], token_secret: str, http01: dict[str, Any]
) -> dict[str, Any]:
    """Let's Encrypt over ACME. `http01` is the HTTP-01 solver for the routing mode (a temporary
    HTTPRoute on the Gateway's HTTP listeners, or an Ingress of the class)."""
    if issuer.solver == "dns01-cloudflare":
        solver: dict[str, Any] = {
            "selector": {"dnsZones": dns_zones(hostnames)},
            "dns01": {"cloudflare": {"apiTokenSecretRef": {"name": token_secret, "key": CLOUDFLARE_TOKEN_KEY}}},
        }
    else:
        solver = {"http01": http01}
    return {
        "acme": {
            "server": issuer.server,
            "email": issuer.email,
            "privateKeySecretRef": {"name": f"{issuer.name}-account-key"},
            "solvers": [solver],
        }
    }


# --- ingress-nginx ---------------------------------------------------------------------------------------


def burst_multiplier(burst: int, per_minute: int) -> int:
    """ingress-nginx allows a burst of rpm x a whole multiplier: the nearest to the seed's, at least 1
    (so the smallest burst is one minute's worth, looser than the seed's nginx.conf)."""
    return max(1, round(burst / per_minute))


def _seconds(duration: str) -> str:
    """A Gateway API duration ("600s", "1h", "10m") as the whole seconds ingress-nginx takes."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    total = sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", duration))
    return str(int(total))


@dataclass(frozen=True)
class IngressPart:
    """One Ingress object of the app: its paths share its annotations (ingress-nginx's unit)."""

    suffix: str
    path: str
    annotations: dict[str, str]


def ingress_parts(
    routing: RoutingSettings, namespace: str, header_maps: dict[str, str], origin_pull_secret: str | None
) -> list[IngressPart]:
    nginx = routing.ingress_nginx
    common = {
        f"{INGRESS_NGINX}/ssl-redirect": "true",
        f"{INGRESS_NGINX}/force-ssl-redirect": "true",
        # nginx cannot wait longer than about 75 s for a connection (proxy_connect_timeout).
        f"{INGRESS_NGINX}/proxy-connect-timeout": "60",
        f"{INGRESS_NGINX}/proxy-send-timeout": _seconds(routing.request_timeout),
        f"{INGRESS_NGINX}/proxy-read-timeout": _seconds(routing.request_timeout),
        f"{INGRESS_NGINX}/proxy-body-size": nginx.body_size,
        f"{INGRESS_NGINX}/custom-headers": f"{namespace}/{header_maps['security']}",
    }
    if origin_pull_secret is not None:
        common |= {
            f"{INGRESS_NGINX}/auth-tls-secret": f"{namespace}/{origin_pull_secret}",
            f"{INGRESS_NGINX}/auth-tls-verify-client": "on",
            f"{INGRESS_NGINX}/auth-tls-verify-depth": "1",
        }

    def limit(per_minute: int, burst: int) -> dict[str, str]:
        return {
            f"{INGRESS_NGINX}/limit-rpm": str(per_minute),
            f"{INGRESS_NGINX}/limit-burst-multiplier": str(burst_multiplier(burst, per_minute)),
        }

    idle = _seconds(routing.websocket_idle_timeout)
    return [
        IngressPart("ingress", "/", {**common, **limit(nginx.requests_per_minute, nginx.burst)}),
        IngressPart("api", "/api", {**common, **limit(nginx.api_requests_per_minute, nginx.api_burst)}),
        IngressPart(
            "websocket",
            routing.websocket_path,
            {**common, f"{INGRESS_NGINX}/proxy-read-timeout": idle, f"{INGRESS_NGINX}/proxy-send-timeout": idle},
        ),
        IngressPart(
            "static",
            routing.static_path,
            {**common, f"{INGRESS_NGINX}/custom-headers": f"{namespace}/{header_maps['static']}"},
        ),
    ]


def ingress_spec(
    routing: RoutingSettings, hostnames: Sequence[str], path: str, service_name: str, port: int, tls_secret: str
) -> IngressSpecArgsDict:
    backend: IngressBackendArgsDict = {"service": {"name": service_name, "port": {"number": port}}}
    rules: list[IngressRuleArgsDict] = [
        {"host": host, "http": {"paths": [{"path": path, "path_type": "Prefix", "backend": backend}]}}
        for host in hostnames
    ]
    return {
        "ingress_class_name": routing.ingress_nginx.class_name,
        "tls": [{"hosts": list(hostnames), "secret_name": tls_secret}],
        "rules": rules,
    }


# --- the component -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingArgs:
    settings: RoutingSettings
    hostnames: Sequence[str]
    # The app's Service (FrontendApp's declared output); the routes and the certificate go in its namespace.
    target: ServiceTarget
    # Its namespace as a plain name (the Gateway's allowedRoutes and ReferenceGrants name it).
    namespace: str
    endpoints: Endpoints  # the origins the Content-Security-Policy lets the browser connect to
    # The origin lock (docs/origin-lock.md): the CA whose client certificates the HTTPS listeners accept (the
    # zone's own origin-pull CA), and the load balancer admitting only Cloudflare's ranges. None: no lock.
    origin_pull_ca: pulumi.Input[str] | None = None
    # A canary stack's stable and canary Services (Delivery's): every rule serving the app lists both.
    canary: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None


class GatewayResource(pulumi.CustomResource):
    """A Gateway (a custom resource) whose `status`, where its controller writes the addresses it
    assigned, is an output. The provider waits for the Gateway to be Programmed."""

    status: pulumi.Output[Any]
    metadata: pulumi.Output[Any]

    def __init__(
        self, name: str, metadata: Any, spec: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {
            "apiVersion": GATEWAY_API_VERSION,
            "kind": "Gateway",
            "metadata": metadata,
            "spec": spec,
            "status": None,
        }
        version = importlib.metadata.version("pulumi-kubernetes")
        super().__init__(
            f"kubernetes:{GATEWAY_API_VERSION}:Gateway",
            name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=version)),
        )


def _first_address(status: Any) -> str | None:
    addresses = (status or {}).get("addresses") or []
    return addresses[0].get("value") if addresses else None


class Routing(pulumi.ComponentResource):
    """The app's routes and certificates (see the module's docstring)."""

    # Declared outputs
    hostnames: list[str]
    # Where the edge's DNS records point: the created Gateway's or the Ingress's address (None when
    # the program cannot know it: an existing Gateway).
    address: pulumi.Output[str | None] | None
    # The HTTPRoutes that serve the app (gateway mode; empty with ingress-nginx).
    app_routes: tuple[str, ...]

    def __init__(self, name: str, args: RoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:Routing", name, None, opts)
        settings, app = args.settings, args.target.app
        self.hostnames = list(args.hostnames)
        self.address = None
        self.app_routes = ()
        labels = {**app.labels, "app.kubernetes.io/component": "routing"}

        def child(suffix: str, **options: Any) -> tuple[str, pulumi.ResourceOptions]:
            return naming.child(self, name, suffix, **options)

        def custom(
            suffix: str, api_version: str, kind: str, object_name: str, namespace: str | None, spec: Any, **options: Any
        ) -> k8s.apiextensions.CustomResource:
            child_name, child_opts = child(suffix, **options)
            return k8s.apiextensions.CustomResource(
                child_name,
                api_version=api_version,
                kind=kind,
                metadata=metadata(object_name, namespace, labels),
                spec=spec,
                opts=child_opts,
            )

        tls_secret = settings.tls.secret_name or f"{app.name}-tls"
        issuer = settings.tls.cluster_issuer
        custom(
            "certificate",
            CERT_MANAGER_API_VERSION,
            "Certificate",
            tls_secret,
            args.namespace,
            certificate_spec(tls_secret, args.hostnames, issuer.name, settings.tls.private_key),
        )

        gateway_ref: GatewayRef | None = None
        if settings.mode == "gateway":
            gateway_ref = self._gateway(name, args, labels, tls_secret, custom)
        else:
            self._ingresses(name, args, labels, tls_secret)

        if issuer.create:
            self._cluster_issuer(name, args, issuer, labels, gateway_ref)

        self.register_outputs({"hostnames": self.hostnames, "address": self.address})

    # --- gateway mode ---------------------------------------------------------------------------------------

    def _gateway(
        self, name: str, args: RoutingArgs, labels: dict[str, str], tls_secret: str, custom: Any
    ) -> GatewayRef:
        settings, target, app = args.settings, args.target, args.target.app
        gateway = settings.gateway
        implementation = gateway.implementation
        if gateway.create:
            gateway_name = gateway.name or app.instance
            gateway_namespace = gateway.namespace or args.namespace
            ref = GatewayRef(
                gateway_name,
                gateway_namespace,
                tuple(listener_name("https", h) for h in args.hostnames),
                tuple(listener_name("http", h) for h in args.hostnames),
            )
            locked = args.origin_pull_ca is not None and implementation == "envoy-gateway"
            envoy_proxy = f"{gateway_name}-origin-lock" if locked else None
            gateway_deps: list[pulumi.Resource] = []
            if envoy_proxy is not None:
                # Before the Gateway that refers to it: its load balancer never admits the internet, not even
                # while the Gateway is first programmed.
                gateway_deps.append(
                    custom(
                        "envoy-proxy",
                        ENVOY_GATEWAY_API_VERSION,
                        "EnvoyProxy",
                        envoy_proxy,
                        gateway_namespace,
                        envoy_proxy_spec(settings.origin_lock.cloudflare_ranges),
                    )
                )
            child_name, child_opts = naming.child(self, name, "gateway", depends_on=gateway_deps)
            resource = GatewayResource(
                child_name,
                # The provider waits until the implementation has programmed it (its addresses assigned).
                metadata(gateway_name, gateway_namespace, labels, {"pulumi.com/waitFor": "condition=Programmed"}),
                gateway_spec(
                    gateway.class_name, args.hostnames, tls_secret, args.namespace, gateway_namespace, envoy_proxy
                ),
                child_opts,
            )
            self.address = resource.status.apply(_first_address)
            if gateway_namespace != args.namespace:
                custom(
                    "certificate-grant",
                    REFERENCE_GRANT_API_VERSION,
                    "ReferenceGrant",
                    f"{gateway_name}-certificate",
                    args.namespace,
                    reference_grant_spec("Gateway", gateway_namespace, "Secret", tls_secret),
                )
            if implementation == "envoy-gateway":
                ca_secret = None
                ca_kind = "Secret"
                if locked and args.origin_pull_ca is not None and settings.origin_lock.require_client_certificate:
                    # The zone's own origin-pull CA: only Cloudflare, presenting this zone's client certificate. A
                    # certificate, not a secret: a ConfigMap (ClientTrafficPolicy's caCertificateRefs take a ConfigMap
                    # or a Secret "with the CA certificate in a key named ca.crt": its CRD, v1.9.0).
                    ca_secret, ca_kind = f"{gateway_name}-origin-pull-ca", "ConfigMap"
                    child_name, child_opts = naming.child(self, name, "origin-pull-ca")
                    k8s.core.v1.ConfigMap(
                        child_name,
                        metadata=metadata(ca_secret, gateway_namespace, labels),
                        data={"ca.crt": args.origin_pull_ca},
                        opts=child_opts,
                    )
                elif settings.origin_lock.authenticated_origin_pulls:
                    ca_secret = f"{gateway_name}-origin-pull-ca"
                    child_name, child_opts = naming.child(self, name, "origin-pull-ca")
                    k8s.core.v1.Secret(
                        child_name,
                        metadata=metadata(ca_secret, gateway_namespace, labels),
                        type="Opaque",
                        string_data={"ca.crt": ORIGIN_PULL_CA_PEM},
                        opts=child_opts,
                    )
                custom(
                    "client-traffic-policy",
                    ENVOY_GATEWAY_API_VERSION,
                    "ClientTrafficPolicy",
                    gateway_name,
                    gateway_namespace,
                    client_traffic_policy_spec(ref, ref.https_listeners, settings, ca_secret, ca_kind),
                )
        else:
            # The settings require both for an existing Gateway.
            assert gateway.name is not None
            assert gateway.namespace is not None
            ref = GatewayRef(
                gateway.name,
                gateway.namespace,
                gateway.https_listeners,
                (gateway.http_listener,) if gateway.http_listener else (),
            )

        headers = security_headers(settings, args.endpoints)
        with_timeouts = implementation != "nginx-gateway-fabric"
        route_names = gateway_route_names(app)
        self.app_routes = app_routes(app)

        def route(suffix: str, object_name: str, spec: pulumi.Input[dict[str, Any]]) -> None:
            custom(suffix, GATEWAY_API_VERSION, "HTTPRoute", object_name, args.namespace, spec)

        def with_backend(build: Any) -> pulumi.Output[dict[str, Any]]:
            if args.canary is not None:
                return pulumi.Output.all(*args.canary).apply(
                    lambda names: build(canary_backends(target.port, names[0], names[1]))
                )
            return pulumi.Output.from_input(target.name).apply(lambda service: build(_backend(target, service)))

        if ref.http_listeners:
            route("redirect-route", route_names["redirect"], redirect_route_spec(ref, args.hostnames, headers))
        route(
            "route",
            route_names["app"],
            with_backend(lambda b: app_route_spec(ref, args.hostnames, b, settings, args.endpoints, with_timeouts)),
        )
        route(
            "websocket-route",
            route_names["websocket"],
            with_backend(
                lambda b: websocket_route_spec(ref, args.hostnames, b, settings, args.endpoints, with_timeouts)
            ),
        )
        idle = websocket_idle_policy(implementation, route_names["websocket"], settings)
        if idle is not None:
            api_version, kind, spec = idle
            custom("websocket-policy", api_version, kind, route_names["websocket"], args.namespace, spec)
        timeout = request_timeout_policy(implementation, route_names["app"], settings)
        if timeout is not None:
            custom(
                "route-policy",
                NGINX_GATEWAY_FABRIC_API_VERSION,
                "ProxySettingsPolicy",
                app.name,
                args.namespace,
                timeout,
            )
        return ref

    # --- ingress-nginx mode -----------------------------------------------------------------------------------

    def _ingresses(self, name: str, args: RoutingArgs, labels: dict[str, str], tls_secret: str) -> None:
        settings, target, app = args.settings, args.target, args.target.app
        header_maps = {"security": f"{app.name}-security-headers", "static": f"{app.name}-static-headers"}
        for kind, headers in (
            ("security", security_headers(settings, args.endpoints)),
            ("static", static_headers(settings, args.endpoints)),
        ):
            child_name, child_opts = naming.child(self, name, f"{kind}-headers")
            k8s.core.v1.ConfigMap(
                child_name, metadata=metadata(header_maps[kind], args.namespace, labels), data=headers, opts=child_opts
            )
        origin_pull_secret = None
        if settings.origin_lock.authenticated_origin_pulls:
            origin_pull_secret = f"{app.name}-origin-pull-ca"
            child_name, child_opts = naming.child(self, name, "origin-pull-ca")
            k8s.core.v1.Secret(
                child_name,
                metadata=metadata(origin_pull_secret, args.namespace, labels),
                type="Opaque",
                string_data={"ca.crt": ORIGIN_PULL_CA_PEM},
                opts=child_opts,
            )
        main: k8s.networking.v1.Ingress | None = None
        for part in ingress_parts(settings, args.namespace, header_maps, origin_pull_secret):
            object_name = f"{app.name}-{part.suffix}"
            child_name, child_opts = naming.child(self, name, part.suffix)
            spec = pulumi.Output.from_input(target.name).apply(
                lambda service, path=part.path: ingress_spec(
                    settings, args.hostnames, path, service, target.port, tls_secret
                )
            )
            ingress = k8s.networking.v1.Ingress(
                child_name,
                metadata=metadata(object_name, args.namespace, labels, part.annotations),
                spec=spec,
                opts=child_opts,
            )
            main = main or ingress
        if main is not None:
            self.address = main.status.apply(_ingress_address)

    # --- cert-manager's ClusterIssuer -----------------------------------------------------------------------

    def _cluster_issuer(
        self,
        name: str,
        args: RoutingArgs,
        issuer: ClusterIssuerSettings,
        labels: dict[str, str],
        gateway: GatewayRef | None,
    ) -> None:
        token_secret = f"{issuer.name}-cloudflare-api-token"
        if issuer.solver == "dns01-cloudflare":
            assert isinstance(issuer.cloudflare_api_token, ConfigSecret)  # the settings require it
            child_name, child_opts = naming.child(
                self, name, "cloudflare-api-token", additional_secret_outputs=["data", "stringData"]
            )
            k8s.core.v1.Secret(
                child_name,
                metadata=metadata(token_secret, issuer.cert_manager_namespace, labels),
                type="Opaque",
                string_data={CLOUDFLARE_TOKEN_KEY: issuer.cloudflare_api_token.as_input()},
                opts=child_opts,
            )
        if gateway is not None:
            http01: dict[str, Any] = {"gatewayHTTPRoute": {"parentRefs": parent_refs(gateway, gateway.http_listeners)}}
        else:
            http01 = {"ingress": {"ingressClassName": args.settings.ingress_nginx.class_name}}
        child_name, child_opts = naming.child(self, name, "cluster-issuer")
        k8s.apiextensions.CustomResource(
            child_name,
            api_version=CERT_MANAGER_API_VERSION,
            kind="ClusterIssuer",
            metadata=metadata(issuer.name, None, labels),
            spec=cluster_issuer_spec(issuer, args.hostnames, token_secret, http01),
            opts=child_opts,
        )


def _ingress_address(status: Any) -> str | None:
    """The first load balancer address the controller published (a typed IngressStatus)."""
    entries = getattr(getattr(status, "load_balancer", None), "ingress", None) or []
    if not entries:
        return None
    return entries[0].hostname or entries[0].ip
