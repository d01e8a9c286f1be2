"""`routing`: how traffic reaches the app (Routing): Gateway API or ingress-nginx, TLS, HSTS and the
origin lock."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from components.cloudflare_facts import CLOUDFLARE_RANGES
from components.settings.base import CidrBlock, DnsLabel, HttpsUrl, RuleError, SecretValue, _Model

# Gateway API implementations the program knows (docs/routing.md): which Extended features each
# supports, its own policy resource for the WebSocket idle timeout, and where its proxies run.
GatewayImplementation = Literal["envoy-gateway", "istio", "cilium", "nginx-gateway-fabric", "other"]
# Where each implementation runs the proxies that connect to the app's pods, by default; None: in
# the Gateway's own namespace.
PROXY_NAMESPACES: dict[str, str | None] = {
    "envoy-gateway": "envoy-gateway-system",  # the controller's namespace (its default deployment mode)
    "istio": None,  # a Deployment per Gateway, in the Gateway's namespace
    "nginx-gateway-fabric": None,  # 2.x: a data plane per Gateway, in the Gateway's namespace
    "cilium": "kube-system",  # the per-node Envoy (see docs/routing.md: match by namespace is not enough)
    "other": None,
}

_DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"  # Gateway API's duration (GEP-2257)


def duration_seconds(duration: str) -> float:
    """A Gateway API duration ("100s", "1m30s", "500ms") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", duration))


_VERSION = r"^v[0-9]+\.[0-9]+\.[0-9]+$"
# The first Envoy Gateway release whose CRDs have a field the program renders, per field: with older CRDs
# installed the API server drops the field with only a warning (and Helm never upgrades a chart's CRDs).
# BackendTrafficPolicy `spec.timeout.http.streamIdleTimeout`: absent from the CRD at v1.7.5
# (envoyproxy/gateway c038192c), present from v1.8.0 (f7306b38), in
# charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_backendtrafficpolicies.yaml.
ENVOY_GATEWAY_FIELDS: dict[str, str] = {"BackendTrafficPolicy spec.timeout.http.streamIdleTimeout": "v1.8.0"}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.removeprefix("v").split("."))


class GatewaySettings(_Model):
    """The Gateway the app's HTTPRoutes attach to: one the program creates, or one that exists."""

    create: bool = True
    # Default: the app's name and environment (created), required when attaching.
    name: DnsLabel | None = None
    # Default: the app's namespace (created); required when attaching to an existing Gateway.
    namespace: DnsLabel | None = None
    # The GatewayClass of a created Gateway (Envoy Gateway's conventional name).
    class_name: DnsLabel = "eg"
    implementation: GatewayImplementation = "envoy-gateway"
    # Where the implementation's proxies run (the app's NetworkPolicy admits them); default per
    # implementation, see PROXY_NAMESPACES.
    proxy_namespace: DnsLabel | None = None
    # Attaching to an existing Gateway: the listeners (sectionName) the routes attach to. Empty:
    # the routes attach to the Gateway as a whole and its owner decides.
    https_listeners: tuple[DnsLabel, ...] = Field(default=(), strict=False)
    # Its plain-HTTP listener, if the program should attach the HTTP-to-HTTPS redirect route to it.
    http_listener: DnsLabel | None = None
    # The Envoy Gateway release whose CRDs the cluster has installed (docs/prerequisites.md says how to
    # read it); the default is the release the vendored CRDs come from (schemas/README.md).
    envoy_gateway_version: Annotated[str, Field(pattern=_VERSION)] = "v1.9.0"

    @model_validator(mode="after")
    def _crds_new_enough(self) -> Self:
        if self.implementation == "envoy-gateway":
            for field, since in ENVOY_GATEWAY_FIELDS.items():
                if version_tuple(self.envoy_gateway_version) < version_tuple(since):
                    raise RuleError(
                        "envoyGatewayVersion",
                        self.envoy_gateway_version,
                        f"too old: the program renders {field}, which Envoy Gateway's CRDs have from {since} "
                        "(older CRDs drop it with only a warning): upgrade the CRDs first",
                    )
        return self

    @model_validator(mode="after")
    def _existing_needs_a_reference(self) -> Self:
        if not self.create:
            if self.name is None:
                raise RuleError("name", None, "is required to attach to an existing Gateway (create: false)")
            if self.namespace is None:
                raise RuleError(
                    "namespace", None, "is required to attach to an existing Gateway: routes name its namespace"
                )
        else:
            # Named listeners are another owner's Gateway's: the program names its own after the hostnames.
            for key, value in (("httpsListeners", self.https_listeners), ("httpListener", self.http_listener)):
                if value:
                    raise RuleError(key, None, "only for an existing Gateway (create: false)")
        return self


class IngressNginxSettings(_Model):
    """ingress-nginx: the IngressClass and the controller's namespace; the seed's limits."""

    class_name: DnsLabel = "nginx"
    controller_namespace: DnsLabel = "ingress-nginx"
    body_size: Annotated[str, Field(pattern=r"^[0-9]+[kKmMgG]?$")] = "50m"
    # Per client IP and minute (the seed's nginx.conf zones), per controller replica.
    api_requests_per_minute: int = Field(default=100, ge=1)
    requests_per_minute: int = Field(default=1000, ge=1)
    # The seed's bursts (nginx.conf `burst=`); ingress-nginx takes a whole multiple of the rate.
    api_burst: int = Field(default=20, ge=0)
    burst: int = Field(default=50, ge=0)


class ClusterIssuerSettings(_Model):
    """cert-manager's ACME ClusterIssuer: cluster-wide, so exactly one stack per cluster creates it."""

    create: bool = False
    name: DnsLabel = "letsencrypt-prod"  # the seed's issuer
    server: HttpsUrl = "https://acme-v02.api.letsencrypt.org/directory"
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = "ops@hft-platform.com"
    # DNS-01 through Cloudflare: HTTP-01 behind a proxied, always-HTTPS record is fragile.
    solver: Literal["dns01-cloudflare", "http01"] = "dns01-cloudflare"
    # The Cloudflare API token cert-manager uses for DNS-01 (Zone:DNS:Edit, Zone:Zone:Read): a secret.
    cloudflare_api_token: SecretValue | None = None
    # cert-manager's cluster resource namespace, where a ClusterIssuer's Secrets live.
    cert_manager_namespace: DnsLabel = "cert-manager"

    @model_validator(mode="after")
    def _token_for_dns01(self) -> Self:
        if self.create and self.solver == "dns01-cloudflare" and self.cloudflare_api_token is None:
            raise RuleError(
                "cloudflareApiToken",
                None,
                "is required for the dns01-cloudflare solver: pulumi config set --secret --path "
                "routing.tls.clusterIssuer.cloudflareApiToken <token>",
            )
        return self


# cert-manager's Certificate.spec.privateKey.size (its CRD, v1.21.1, vendored in schemas/crds): RSA 2048, 4096 or
# 8192; ECDSA 256, 384 or 521; "No other values are allowed".
KEY_SIZES = {"RSA": (2048, 4096, 8192), "ECDSA": (256, 384, 521)}


class PrivateKeySettings(_Model):
    """The certificate's key. Default ECDSA P-256; a stack over a live certificate keeps its key's algorithm
    and size, or cert-manager reissues it with a new key on the first `up`."""

    algorithm: Literal["RSA", "ECDSA"] = "ECDSA"
    size: int = 256

    @model_validator(mode="after")
    def _size_for_algorithm(self) -> Self:
        if self.size not in KEY_SIZES[self.algorithm]:
            allowed = ", ".join(map(str, KEY_SIZES[self.algorithm]))
            raise RuleError("size", self.size, f"is not a size cert-manager allows for {self.algorithm} ({allowed})")
        return self


class TlsSettings(_Model):
    cluster_issuer: ClusterIssuerSettings = ClusterIssuerSettings()
    private_key: PrivateKeySettings = PrivateKeySettings()
    # The Secret cert-manager writes the certificate to (default: <app name>-tls), in the app's namespace.
    secret_name: DnsLabel | None = None


class HstsSettings(_Model):
    max_age_seconds: int = Field(default=31536000, ge=0)  # one year
    include_sub_domains: bool = True
    # The seed's Ingress sent `preload`: once on the browsers' preload list, HTTPS-only for months.
    preload: bool = True


class OriginLockSettings(_Model):
    """Only Cloudflare may reach the origin (docs/routing.md, "The origin only behind Cloudflare")."""

    # Require Cloudflare's client certificate (Authenticated Origin Pulls). Turn the zone's
    # Authenticated Origin Pulls on first, or the origin refuses Cloudflare too.
    authenticated_origin_pulls: bool = False
    # Cloudflare's published ranges (https://www.cloudflare.com/ips/), trusted for the client address.
    cloudflare_ranges: tuple[CidrBlock, ...] = Field(default_factory=lambda: CLOUDFLARE_RANGES, strict=False)


class RoutingSettings(_Model):
    """How traffic reaches the app: Gateway API (default) or ingress-nginx (retired, for migration)."""

    mode: Literal["gateway", "ingress-nginx"] = "gateway"
    gateway: GatewaySettings = GatewaySettings()
    ingress_nginx: IngressNginxSettings = IngressNginxSettings()
    tls: TlsSettings = TlsSettings()
    hsts: HstsSettings = HstsSettings()
    # A total deadline per request. The seed's 600 s cannot be honoured behind Cloudflare, which answers
    # 524 once its proxy read timeout (100 s below Enterprise) passes without a read from the origin: the
    # stack refuses more than that ceiling (StackSettings; docs/edge-limits.md).
    request_timeout: Annotated[str, Field(pattern=_DURATION)] = "100s"
    websocket_path: str = "/ws"
    # The seed's `proxy_read_timeout 3600s` for /ws: an idle timeout, set where the implementation can.
    websocket_idle_timeout: Annotated[str, Field(pattern=_DURATION)] = "3600s"
    static_path: str = "/_next/static/"
    origin_lock: OriginLockSettings = OriginLockSettings()

    @model_validator(mode="after")
    def _paths(self) -> Self:
        for key, path in (("websocketPath", self.websocket_path), ("staticPath", self.static_path)):
            if not path.startswith("/") or "//" in path:
                raise RuleError(key, path, "must be an absolute URL path")
        return self

    @property
    def proxy_namespace(self) -> str | None:
        """Where the proxies that connect to the app run; None: the Gateway's namespace (unknown here
        when the Gateway's namespace defaults to the app's)."""
        if self.mode == "ingress-nginx":
            return self.ingress_nginx.controller_namespace
        return self.gateway.proxy_namespace or PROXY_NAMESPACES[self.gateway.implementation] or self.gateway.namespace
