"""The stack's settings: one typed, validated model of everything in `Pulumi.<stack>.yaml`.

This is the only module that reads Pulumi config. Every key of the project's namespace maps to a
field of `StackSettings`; an unknown key, a wrong type or a broken cross-field rule stops the
program with one line naming the stack file, the key path, the value and the rule.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components import sdk_internals
from components.cloudflare_facts import CLOUDFLARE_RANGES
from components.k8s import ImageReference, quantity_value

PROJECT = "hft-frontend"


class SettingsError(pulumi.RunError):
    """A stack value is wrong. Pulumi prints a RunError's message alone, without a traceback."""


class RuleError(ValueError):
    """A broken cross-field rule, pointing at the key inside the model that carries the bad value."""

    def __init__(self, key: str, value: object, rule: str) -> None:
        super().__init__(rule)
        self.key = key
        self.value = value
        self.rule = rule


# --- value types -------------------------------------------------------------------------------


def _check_quantity(value: str) -> str:
    quantity_value(value)
    return value


Quantity = Annotated[str, AfterValidator(_check_quantity)]

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _check_dns_name(value: str) -> str:
    """A fully qualified DNS name (RFC 1123): lower-case labels of at most 63 characters."""
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValueError("not a valid DNS name (lower-case RFC 1123 labels, e.g. app.example.com)")
    return value


def _check_dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError("not a valid Kubernetes name (lower-case RFC 1123 label, at most 63 characters)")
    return value


DnsName = Annotated[str, AfterValidator(_check_dns_name)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]


def _url_checker(*schemes: str):
    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise ValueError(f"the URL must use {' or '.join(schemes)}")
        try:
            _check_dns_name(parts.hostname or "")
        except ValueError:
            raise ValueError(f"the URL's host {parts.hostname!r} is not a valid DNS name") from None
        return value

    return check


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        raise ValueError("not a CIDR block (e.g. 169.254.169.254/32)") from None
    return value


CidrBlock = Annotated[str, AfterValidator(_check_cidr)]
HttpsUrl = Annotated[str, AfterValidator(_url_checker("https"))]
WebSocketUrl = Annotated[str, AfterValidator(_url_checker("wss"))]


def _check_image(value: str) -> str:
    why = ImageReference.parse(value).floating
    if why is not None:
        raise ValueError(f"the image is not pinned ({why}): pin a version tag or a digest")
    return value


ImageRef = Annotated[str, AfterValidator(_check_image)]


# --- secrets ----------------------------------------------------------------------------------


class ConfigSecret:
    """A stack value set with `pulumi config set --secret`: never shown, and handed to resources only
    as a Pulumi secret (`as_input`), so the engine keeps it encrypted in the state."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def as_input(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self._value)

    def __repr__(self) -> str:
        return "ConfigSecret([secret])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigSecret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _SecretRequiredError(ValueError):
    """A field that takes only a secret got plain text (the message never holds the value)."""


def _must_be_secret(value: object) -> ConfigSecret:
    if isinstance(value, ConfigSecret):
        return value
    raise _SecretRequiredError("must be a secret: set it with `pulumi config set --secret [--path] <key> <value>`")


def _may_be_secret(value: object) -> ConfigSecret | str:
    if isinstance(value, ConfigSecret | str):
        return value
    raise ValueError("must be a string")


# A field whose value must be a Pulumi secret (an API token, a DSN with a key in it).
SecretValue = Annotated[ConfigSecret, BeforeValidator(_must_be_secret)]
# A field that may hold a secret or plain text (an account id): whichever it was set as, it stays.
MaybeSecretValue = Annotated[ConfigSecret | str, BeforeValidator(_may_be_secret)]
_SECRET_TYPES = (ConfigSecret,)


def secret_input(value: ConfigSecret | str | None) -> pulumi.Input[str] | None:
    """What a resource gets for a field that may hold a secret: a secret Output, or the plain text."""
    return value.as_input() if isinstance(value, ConfigSecret) else value


# --- the model ---------------------------------------------------------------------------------


class _Model(BaseModel):
    # Stack files use camelCase keys, like every Pulumi config; unknown keys are errors.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        arbitrary_types_allowed=True,  # ConfigSecret
    )


class ResourceAmounts(_Model):
    cpu: Quantity
    memory: Quantity
    ephemeral_storage: Quantity | None = None

    def as_resource_list(self) -> dict[str, str]:
        """As a Kubernetes ResourceList (`{"cpu": ..., "memory": ..., "ephemeral-storage": ...}`)."""
        values = {"cpu": self.cpu, "memory": self.memory}
        if self.ephemeral_storage is not None:
            values["ephemeral-storage"] = self.ephemeral_storage
        return values


class Resources(_Model):
    requests: ResourceAmounts = ResourceAmounts(cpu="500m", memory="512Mi")
    limits: ResourceAmounts = ResourceAmounts(cpu="1000m", memory="1Gi")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Self:
        for field in ("cpu", "memory", "ephemeral_storage"):
            request = getattr(self.requests, field)
            limit = getattr(self.limits, field)
            key = to_camel(field)
            if (request is None) != (limit is None):
                missing = "limits" if limit is None else "requests"
                raise RuleError(f"{missing}.{key}", None, f"set both requests.{key} and limits.{key}, or neither")
            if request is not None and quantity_value(request) > quantity_value(limit):
                raise RuleError(f"requests.{key}", request, f"the request must not exceed the limit ({limit})")
        return self


class HttpHeader(_Model):
    name: str
    value: str


class Probe(_Model):
    path: str = "/api/health"
    initial_delay_seconds: int = Field(default=0, ge=0)
    period_seconds: int = Field(default=10, ge=1)
    timeout_seconds: int = Field(default=1, ge=1)
    failure_threshold: int = Field(default=3, ge=1)
    success_threshold: int = Field(default=1, ge=1)
    # Lists in the stack file become tuples (frozen); strict mode would refuse the list.
    http_headers: tuple[HttpHeader, ...] = Field(default=(), strict=False)


class Probes(_Model):
    # The seed's staging probes; the startup probe lets a slow first start pass without
    # loosening the liveness probe.
    liveness: Probe = Probe(initial_delay_seconds=30, period_seconds=10, timeout_seconds=5, failure_threshold=3)
    readiness: Probe = Probe(initial_delay_seconds=5, period_seconds=5, timeout_seconds=3, failure_threshold=2)
    startup: Probe = Probe(initial_delay_seconds=30, period_seconds=10, timeout_seconds=5, failure_threshold=30)

    @model_validator(mode="after")
    def _liveness_succeeds_once(self) -> Self:
        # Kubernetes rejects a liveness or startup probe with successThreshold other than 1.
        for key in ("liveness", "startup"):
            probe: Probe = getattr(self, key)
            if probe.success_threshold != 1:
                raise RuleError(
                    f"{key}.successThreshold", probe.success_threshold, "must be 1 for a liveness or startup probe"
                )
        return self


class ScalingRule(_Model):
    stabilization_window_seconds: int = Field(ge=0, le=3600)
    percent: int = Field(ge=1)
    period_seconds: int = Field(ge=1, le=1800)


class Autoscaling(_Model):
    enabled: bool = False
    min_replicas: int = 2
    max_replicas: int = 6
    target_cpu_utilization: int = Field(default=70, ge=1, le=100)
    target_memory_utilization: int = Field(default=80, ge=1, le=100)
    scale_up: ScalingRule = ScalingRule(stabilization_window_seconds=60, percent=50, period_seconds=60)
    scale_down: ScalingRule = ScalingRule(stabilization_window_seconds=300, percent=10, period_seconds=60)

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_replicas < 1:
            raise RuleError("minReplicas", self.min_replicas, "must be at least 1")
        if self.min_replicas > self.max_replicas:
            raise RuleError("minReplicas", self.min_replicas, f"must not exceed maxReplicas ({self.max_replicas})")
        return self


class DisruptionBudget(_Model):
    enabled: bool = True
    max_unavailable: int | None = 1
    min_available: int | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Self:
        if self.enabled and (self.max_unavailable is None) == (self.min_available is None):
            raise RuleError(
                "maxUnavailable", self.max_unavailable, "set exactly one of maxUnavailable and minAvailable"
            )
        return self


# The seed's NLB annotations, used only when the stack asks for a LoadBalancer Service.
_NLB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
}


class ServiceSettings(_Model):
    # Default: <app name>-service.
    name: DnsLabel | None = None
    type: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    port: int = Field(default=80, ge=1, le=65535)
    load_balancer_annotations: dict[str, str] = Field(default_factory=lambda: dict(_NLB_ANNOTATIONS))


class Endpoints(_Model):
    """The backend addresses the browser talks to (the seed's NEXT_PUBLIC_* URLs)."""

    api_base_url: HttpsUrl
    websocket_url: WebSocketUrl
    cpp_backend_url: HttpsUrl


class Features(_Model):
    analytics: bool = True
    debug_panel: bool = False


class Volumes(_Model):
    # The Next.js standalone server writes its image/ISR cache under <workdir>/.next/cache; the
    # image's workdir is /app (see the seed's Dockerfile), not the filesystem root.
    nextjs_cache_path: str = "/app/.next/cache"
    nextjs_cache_size: Quantity = "512Mi"
    tmp_size: Quantity = "256Mi"

    @model_validator(mode="after")
    def _absolute(self) -> Self:
        if not self.nextjs_cache_path.startswith("/"):
            raise RuleError("nextjsCachePath", self.nextjs_cache_path, "must be an absolute path")
        return self


class AppSettings(_Model):
    name: DnsLabel = "hft-frontend"
    image: ImageRef
    image_pull_policy: Literal["Always", "IfNotPresent"] = "Always"
    hostnames: tuple[DnsName, ...] = Field(min_length=1, strict=False)
    container_port: int = Field(default=3000, ge=1, le=65535)
    run_as_user: int = Field(default=1001, ge=1)
    replicas: int = Field(default=2, ge=1)
    max_surge: int = Field(default=1, ge=1)
    resources: Resources = Resources()
    probes: Probes = Probes()
    autoscaling: Autoscaling = Autoscaling()
    disruption_budget: DisruptionBudget = DisruptionBudget()
    service: ServiceSettings = ServiceSettings()
    endpoints: Endpoints
    features: Features = Features()
    volumes: Volumes = Volumes()
    # Object names, by default derived from `name` (<name>-config, <name>-secrets, <name>-sa); a stack
    # whose live objects carry other names pins them here, so they are not replaced.
    config_map_name: DnsLabel | None = None
    secret_name: DnsLabel | None = None
    service_account_name: DnsLabel | None = None
    # Bump to regenerate NEXTAUTH_SECRET and the JWT signing key (and roll the pods).
    secret_rotation: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _capacity_rules(self) -> Self:
        scaling = self.autoscaling
        if scaling.enabled and not scaling.min_replicas <= self.replicas <= scaling.max_replicas:
            raise RuleError(
                "replicas",
                self.replicas,
                f"must lie within the autoscaling range {scaling.min_replicas}..{scaling.max_replicas}",
            )
        budget = self.disruption_budget
        floor = self.min_replicas
        if budget.enabled:
            if budget.min_available is not None and budget.min_available >= floor:
                raise RuleError(
                    "disruptionBudget.minAvailable",
                    budget.min_available,
                    f"must be below the lowest replica count ({floor}), or no node could ever be drained",
                )
            if budget.max_unavailable is not None and not 1 <= budget.max_unavailable < floor:
                raise RuleError(
                    "disruptionBudget.maxUnavailable",
                    budget.max_unavailable,
                    f"must be at least 1 and below the lowest replica count ({floor}); "
                    "a single-replica app needs disruptionBudget.enabled: false",
                )
        return self

    @property
    def min_replicas(self) -> int:
        """The fewest pods the app runs with: the HPA's floor when it scales, else `replicas`."""
        return self.autoscaling.min_replicas if self.autoscaling.enabled else self.replicas

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling.enabled else self.replicas


class ClusterSettings(_Model):
    """Facts about the cluster the stack deploys into, shared by every component."""

    # The cluster the stack deploys into, as the stacks call it: two stacks naming the same cluster
    # must not both own a cluster-wide object (a ClusterIssuer, the Velero installation). None: this
    # stack shares its cluster with no other.
    name: DnsLabel | None = None
    # The Kubernetes minor version the stack targets: pins the Pod Security Standards version.
    kubernetes_version: Annotated[str, Field(pattern=r"^1\.[0-9]{2}$")] = "1.32"
    monitoring_namespace: DnsLabel = "monitoring"
    dns_namespace: DnsLabel = "kube-system"
    # The labels the cluster's Prometheus selects ServiceMonitors and PrometheusRules by
    # (kube-prometheus-stack: its Helm release name).
    prometheus_selector_labels: dict[str, str] = Field(default_factory=lambda: {"release": "kube-prometheus-stack"})


# --- routing ----------------------------------------------------------------------------------

# Gateway API implementations the program knows (README, "Routing"): which Extended features each
# supports, its own policy resource for the WebSocket idle timeout, and where its proxies run.
GatewayImplementation = Literal["envoy-gateway", "istio", "cilium", "nginx-gateway-fabric", "other"]
# Where each implementation runs the proxies that connect to the app's pods, by default; None: in
# the Gateway's own namespace.
PROXY_NAMESPACES: dict[str, str | None] = {
    "envoy-gateway": "envoy-gateway-system",  # the controller's namespace (its default deployment mode)
    "istio": None,  # a Deployment per Gateway, in the Gateway's namespace
    "nginx-gateway-fabric": None,  # 2.x: a data plane per Gateway, in the Gateway's namespace
    "cilium": "kube-system",  # the per-node Envoy (see the README: match by namespace is not enough)
    "other": None,
}

_DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"  # Gateway API's duration (GEP-2257)


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

    @model_validator(mode="after")
    def _existing_needs_a_reference(self) -> Self:
        if not self.create:
            if self.name is None:
                raise RuleError("name", None, "is required to attach to an existing Gateway (create: false)")
            if self.namespace is None:
                raise RuleError(
                    "namespace", None, "is required to attach to an existing Gateway: routes name its namespace"
                )
        elif self.https_listeners or self.http_listener:
            raise RuleError("httpsListeners", None, "only for an existing Gateway (create: false)")
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


class TlsSettings(_Model):
    cluster_issuer: ClusterIssuerSettings = ClusterIssuerSettings()
    # The Secret cert-manager writes the certificate to (default: <app name>-tls), in the app's namespace.
    secret_name: DnsLabel | None = None


class HstsSettings(_Model):
    max_age_seconds: int = Field(default=31536000, ge=0)  # one year
    include_sub_domains: bool = True
    # The seed's Ingress sent `preload`: once on the browsers' preload list, HTTPS-only for months.
    preload: bool = True


class OriginLockSettings(_Model):
    """Only Cloudflare may reach the origin (README, "The origin only behind Cloudflare")."""

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
    # The seed's 600 s proxy timeouts, as a total deadline per request.
    request_timeout: Annotated[str, Field(pattern=_DURATION)] = "600s"
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


# --- the Cloudflare edge ------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudflarePlan:
    """What a Cloudflare plan allows in rate limiting rules. Cloudflare's docs ("Rate limiting rules:
    availability", developers.cloudflare.com/waf/rate-limiting-rules/#availability, and its
    `parameters` page) have said more than one thing over 2025-2026; these are the values every
    version allows, so a rule accepted here is accepted by the API."""

    max_rules: int
    periods: frozenset[int]  # counting periods, seconds
    timeouts: frozenset[int]  # mitigation timeouts, seconds
    fields: frozenset[str] | None  # usable in a rule's expression; None: every field of the scheme
    characteristics: frozenset[str]  # besides cf.colo.id, which every rule must count by
    actions: frozenset[str]


_PATH_FIELDS = frozenset({"http.request.uri.path", "cf.client.bot"})
_URI_FIELDS = _PATH_FIELDS | {"http.host", "http.request.uri", "http.request.full_uri", "http.request.uri.query"}
_CHALLENGES = frozenset({"challenge", "js_challenge", "managed_challenge"})
CLOUDFLARE_PLANS: dict[str, CloudflarePlan] = {
    "free": CloudflarePlan(
        1, frozenset({10}), frozenset({10}), _PATH_FIELDS, frozenset({"ip.src"}), _CHALLENGES | {"block"}
    ),
    "pro": CloudflarePlan(
        2, frozenset({10, 60}), frozenset({10, 60, 3600}), _URI_FIELDS, frozenset({"ip.src"}), _CHALLENGES | {"block"}
    ),
    "business": CloudflarePlan(
        5,
        frozenset({10, 60, 600}),
        frozenset({10, 60, 3600, 86400}),
        _URI_FIELDS | {"http.request.method", "ip.src", "http.user_agent"},
        frozenset({"ip.src"}),
        _CHALLENGES | {"block"},
    ),
    "enterprise": CloudflarePlan(
        100,
        frozenset({10, 60, 120, 300, 600}),
        frozenset({10, 60, 120, 300, 600, 3600, 86400}),
        None,
        frozenset({"ip.src", "cf.unique_visitor_id"}),
        _CHALLENGES | {"block", "log"},  # log (the seed's "simulate"): Enterprise only
    ),
}


def expression_fields(expression: str) -> list[str]:
    """The fields of a Cloudflare Rules language expression, as Cloudflare's own engine (wirefilter)
    parses it against the HTTP scheme; ValueError with the parser's message if it does not."""
    from octorules_wirefilter import parse_expression  # a compiled extension: loaded when rules are checked

    parsed = parse_expression(expression)
    if "error" in parsed:
        raise ValueError(" ".join(str(parsed["error"]).split()))
    return list(parsed["fields"])


class RateLimitRule(_Model):
    """A rate limiting rule (phase http_ratelimit): requests matching `expression`, counted per
    `characteristics` over `period` seconds; above `requestsPerPeriod`, `action` for `mitigationTimeout`."""

    ref: DnsLabel  # stable id: reordering the list does not recreate the rule
    description: str
    expression: str
    characteristics: tuple[str, ...] = Field(default=("ip.src", "cf.colo.id"), strict=False)
    period: int = Field(ge=1)
    requests_per_period: int = Field(ge=1)
    mitigation_timeout: int = Field(ge=0)
    action: Literal["block", "challenge", "js_challenge", "managed_challenge", "log"] = "block"

    @model_validator(mode="after")
    def _parses(self) -> Self:
        try:
            expression_fields(self.expression)
        except ValueError as exc:
            raise RuleError("expression", self.expression, f"not a valid Cloudflare rule expression: {exc}") from None
        if "cf.colo.id" not in self.characteristics:
            raise RuleError(
                "characteristics", list(self.characteristics), "must include cf.colo.id (Cloudflare requires it)"
            )
        return self


# The seed's per-client limits, at the edge where the client's address is known: the Cloudflare
# Terraform's /api/ limit, and the two nginx.conf zones (which keyed on Cloudflare's addresses).
SEED_RATE_LIMITS = (
    RateLimitRule(
        ref="api-write-methods",
        description="The seed's Cloudflare limit: /api/ with GET, POST, PUT or DELETE, 1000 per minute",
        expression=(
            'starts_with(http.request.uri.path, "/api/") and http.request.method in {"GET" "POST" "PUT" "DELETE"}'
        ),
        period=60,
        requests_per_period=1000,
        mitigation_timeout=60,
    ),
    RateLimitRule(
        ref="api",
        description="The seed's nginx zone 'api': /api/, 100 per minute per client",
        expression='starts_with(http.request.uri.path, "/api/")',
        period=60,
        requests_per_period=100,
        mitigation_timeout=60,
    ),
    RateLimitRule(
        ref="general",
        description="The seed's nginx zone 'general': everything else, 1000 per minute per client",
        expression='not starts_with(http.request.uri.path, "/api/")',
        period=60,
        requests_per_period=1000,
        mitigation_timeout=60,
    ),
)


def _plan_problem(plan_name: str, rule: RateLimitRule) -> tuple[str, object, str, Sequence[object]] | None:
    """(field, value, what, allowed) of the first thing in `rule` the plan does not allow, or None."""
    plan = CLOUDFLARE_PLANS[plan_name]
    if rule.action not in plan.actions:
        return "action", rule.action, "the action", sorted(plan.actions)
    if rule.period not in plan.periods:
        return "period", rule.period, "the period", sorted(plan.periods)
    # Below Enterprise, a challenge action throttles: Cloudflare requires a timeout of 0 then.
    timeouts = {0} if rule.action in _CHALLENGES and plan_name != "enterprise" else plan.timeouts
    if rule.mitigation_timeout not in timeouts:
        return "mitigationTimeout", rule.mitigation_timeout, "the timeout", sorted(timeouts)
    for characteristic in rule.characteristics:
        if characteristic != "cf.colo.id" and characteristic not in plan.characteristics:
            return "characteristics", characteristic, "counting by", sorted(plan.characteristics | {"cf.colo.id"})
    for field in expression_fields(rule.expression) if plan.fields is not None else ():
        if field not in (plan.fields or ()):
            return "expression", rule.expression, f"the field {field} is", sorted(plan.fields or ())
    return None


class EdgeSettings(_Model):
    """The Cloudflare edge (EdgeCDN). Zone settings and each phase's entrypoint ruleset are singletons
    per zone: exactly one stack owns them (`ownsZone`), and its rules cover every host of the zone."""

    enabled: bool = True
    zone: DnsName = "hft-platform.com"
    owns_zone: bool = False
    # The Cloudflare account the zone belongs to (needed to create it). It may be given as a secret.
    account_id: MaybeSecretValue | None = None
    plan: Literal["free", "pro", "business", "enterprise"] = "business"
    # Cloudflare presents its client certificate to the origin (the routing's origin lock checks it).
    authenticated_origin_pulls: bool = False
    # The origin the DNS records point at, when routing cannot tell (an existing Gateway): an IPv4 or
    # IPv6 address, or a hostname (a load balancer's).
    origin: str | None = None
    static_cache_ttl_seconds: int = Field(default=31536000, ge=1)
    rate_limits: tuple[RateLimitRule, ...] = Field(default=SEED_RATE_LIMITS, strict=False)

    @model_validator(mode="after")
    def _ownership_and_plan(self) -> Self:
        if self.owns_zone and self.account_id is None:
            raise RuleError("accountId", None, "is required to create the zone (ownsZone: true)")
        if isinstance(self.account_id, str) and not re.fullmatch(r"[0-9a-f]{32}", self.account_id):
            raise RuleError("accountId", self.account_id, "not a Cloudflare account id (32 hexadecimal digits)")
        if self.origin is not None:
            try:
                ipaddress.ip_address(self.origin)
            except ValueError:
                try:
                    _check_dns_name(self.origin)
                except ValueError:
                    raise RuleError("origin", self.origin, "not an IP address or a DNS name") from None
        plan = CLOUDFLARE_PLANS[self.plan]
        if len(self.rate_limits) > plan.max_rules:
            raise RuleError(
                "rateLimits",
                None,
                f"{len(self.rate_limits)} rules; the {self.plan} plan allows {plan.max_rules}",
            )
        refs = [rule.ref for rule in self.rate_limits]
        if len(set(refs)) != len(refs):
            raise RuleError("rateLimits", None, "two rules share a ref")
        for index, rule in enumerate(self.rate_limits):
            problem = _plan_problem(self.plan, rule)
            if problem is not None:
                field, value, what, allowed = problem
                raise RuleError(
                    f"rateLimits[{index}].{field}",
                    value,
                    f"{what} not available on the {self.plan} plan (allowed: {', '.join(map(str, allowed))})",
                )
        return self


# --- backups ------------------------------------------------------------------------------------

# S3's bucket naming rules: 3-63 characters, lower-case letters, digits, dots and hyphens, starting
# and ending with a letter or digit, not an IP address, no reserved prefix or suffix.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def _check_bucket(value: str) -> str:
    problems = []
    if not _BUCKET.match(value):
        problems.append("3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit")
    if ".." in value or ".-" in value or "-." in value:
        problems.append("no two dots, and no dot next to a hyphen")
    try:
        ipaddress.ip_address(value)
        problems.append("not an IP address")
    except ValueError:
        pass
    if value.startswith(_BUCKET_RESERVED) or value.endswith(_BUCKET_RESERVED_SUFFIXES):
        problems.append("no reserved prefix (xn--, sthree-) or suffix (-s3alias, --ol-s3)")
    if problems:
        raise ValueError(f"not a name S3 accepts ({'; '.join(problems)})")
    return value


BucketName = Annotated[str, AfterValidator(_check_bucket)]
_OIDC_PROVIDER = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(?P<account>[0-9]{12}):oidc-provider/(?P<issuer>[^\s]+)$")


def _check_oidc_provider(value: str) -> str:
    if not _OIDC_PROVIDER.match(value):
        raise ValueError(
            "not an IAM OIDC provider ARN "
            "(arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>.amazonaws.com/id/<id>)"
        )
    return value


OidcProviderArn = Annotated[str, AfterValidator(_check_oidc_provider)]
AwsRegion = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
# The Velero cron: five fields (minute hour day month weekday) or a descriptor.
CronSchedule = Annotated[
    str, Field(pattern=r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$")
]
SEED_RETENTION_DAYS = 7  # the seed's backup script kept seven days


class ObjectLockSettings(_Model):
    """S3 Object Lock, governance mode. Only when the bucket is created: turning it on later replaces
    the bucket (which its protection refuses), so decide before the first `pulumi up`."""

    enabled: bool = False
    retention_days: int = Field(default=30, ge=1)


class VeleroSettings(_Model):
    """Velero, from its Helm chart. Cluster-wide: one stack per cluster installs it (`install`), every
    stack with backups owns its own BackupStorageLocation and Schedule in its namespace."""

    install: bool = True
    namespace: DnsLabel = "velero"
    chart_version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = "12.1.0"  # Velero 1.18.1
    chart_repository: HttpsUrl = "https://vmware-tanzu.github.io/helm-charts"
    image: ImageRef = "docker.io/velero/velero:v1.18.1"
    # The plugin release that goes with Velero 1.18 (its compatibility matrix: v1.14.x).
    aws_plugin_image: ImageRef = "docker.io/velero/velero-plugin-for-aws:v1.14.0"
    service_account: DnsLabel = "velero"
    # The Velero image's user (Paketo's `cnb`: uid 1002, gid 1000); restricted pods need it numeric.
    run_as_user: int = Field(default=1002, ge=1)
    run_as_group: int = Field(default=1000, ge=1)


class BackupSettings(_Model):
    """The S3 backup bucket (BackupStore) and Velero's scheduled backups of the app's namespace."""

    enabled: bool = False
    bucket_name: BucketName | None = None
    region: AwsRegion = "us-east-1"
    # The cluster's IAM OIDC provider (IRSA): Velero's service account assumes its role through it.
    oidc_provider_arn: OidcProviderArn | None = None
    schedule: CronSchedule = "0 2 * * *"  # daily, at 02:00 UTC
    retention_days: int = Field(default=30, ge=SEED_RETENTION_DAYS)
    # The bucket's lifecycle only sweeps what Velero missed: later than the retention. Default: +7 days.
    expire_after_days: int | None = Field(default=None, ge=1)
    noncurrent_version_expiration_days: int = Field(default=30, ge=1)
    abort_incomplete_upload_days: int = Field(default=7, ge=1)
    # Where this stack's backups go in the bucket (default: the environment's name).
    prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9/_-]*$")] | None = None
    object_lock: ObjectLockSettings = ObjectLockSettings()
    velero: VeleroSettings = VeleroSettings()

    @model_validator(mode="after")
    def _complete_and_ordered(self) -> Self:
        if self.enabled:
            for key, value in (("bucketName", self.bucket_name), ("oidcProviderArn", self.oidc_provider_arn)):
                if value is None:
                    raise RuleError(key, None, "is required with backup.enabled: true")
        if self.expire_after_days is not None and self.expire_after_days <= self.retention_days:
            raise RuleError(
                "expireAfterDays",
                self.expire_after_days,
                f"must be later than the backups' retention ({self.retention_days} days): Velero deletes its "
                "own expired backups, the lifecycle only sweeps what it missed",
            )
        if self.object_lock.enabled and self.object_lock.retention_days > self.retention_days:
            raise RuleError(
                "objectLock.retentionDays",
                self.object_lock.retention_days,
                f"must not outlast the backups' retention ({self.retention_days} days), or Velero cannot delete "
                "its expired backups",
            )
        return self

    @property
    def sweep_after_days(self) -> int:
        return self.expire_after_days or self.retention_days + 7

    @property
    def account_id(self) -> str:
        """The AWS account: the OIDC provider's (IRSA needs the role in the provider's account)."""
        match = _OIDC_PROVIDER.match(self.oidc_provider_arn or "")
        return match.group("account") if match else ""

    @property
    def oidc_issuer(self) -> str:
        """The issuer's host and path, as IAM condition keys name it (no https://)."""
        match = _OIDC_PROVIDER.match(self.oidc_provider_arn or "")
        return match.group("issuer") if match else ""


class BackendApi(_Model):
    namespace: DnsLabel = "api-backend"
    port: int = Field(default=8080, ge=1, le=65535)


class SecuritySettings(_Model):
    """The namespace's baseline: NetworkPolicies, RBAC and quotas."""

    dns_port: int = Field(default=53, ge=1, le=65535)
    https_port: int = Field(default=443, ge=1, le=65535)
    # Egress to HTTPS goes anywhere but these (the cloud metadata endpoint hands out credentials).
    egress_denied_cidrs: tuple[CidrBlock, ...] = Field(default=("169.254.169.254/32",), strict=False)
    backend_api: BackendApi = BackendApi()
    # The app needs no Kubernetes API access. True keeps the seed's Role, narrowed to `get` on the
    # app's own ConfigMap and Secret.
    api_read_own_config: bool = False
    # Kubernetes names of the namespace's ResourceQuota and LimitRange (default: from the
    # SecurityBaseline's name); a stack whose live objects carry other names pins them here.
    resource_quota_name: DnsLabel | None = None
    limit_range_name: DnsLabel | None = None


PromDuration = Annotated[str, Field(pattern=r"^[0-9]+[smh]$")]


class AlertRule(_Model):
    threshold: float
    # How long the condition must hold before the alert fires (the rule's `for`).
    duration: PromDuration
    # How far back the expression looks (its range selector).
    window: PromDuration = "5m"


class Alerts(_Model):
    # Share of 5xx responses among all responses.
    high_error_rate: AlertRule = AlertRule(threshold=0.05, duration="2m")
    # p95 latency in seconds.
    high_response_time: AlertRule = AlertRule(threshold=1.0, duration="5m")
    # Fall in active WebSocket connections within the window.
    websocket_connection_drop: AlertRule = AlertRule(threshold=100, duration="1m")
    # Container restarts within the window (the seed's 15 minutes), beyond the threshold.
    pod_crash_looping: AlertRule = AlertRule(threshold=0, duration="5m", window="15m")
    # Working-set memory as a share of the container's limit.
    high_memory_usage: AlertRule = AlertRule(threshold=0.9, duration="10m")
    # Hours since the last successful backup of the stack's schedule (a daily one: a day plus slack).
    backup_missing: AlertRule = AlertRule(threshold=26, duration="15m")


class ObservabilitySettings(_Model):
    """ServiceMonitor, alert rules and the Grafana dashboard (needs the prometheus-operator CRDs)."""

    enabled: bool = True
    scrape_interval: PromDuration = "15s"
    runbook_base_url: HttpsUrl = "https://runbooks.hft-platform.com/frontend"
    alerts: Alerts = Alerts()


class StackSettings(_Model):
    """Everything a stack file configures, under the `hft-frontend:` namespace."""

    environment: DnsLabel
    namespace: DnsLabel
    app: AppSettings
    cluster: ClusterSettings = ClusterSettings()
    security: SecuritySettings = SecuritySettings()
    routing: RoutingSettings = RoutingSettings()
    edge: EdgeSettings = EdgeSettings()
    backup: BackupSettings = BackupSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    # The Sentry DSN carries the project's key: a Pulumi secret only.
    sentry_dsn: SecretValue | None = None

    @model_validator(mode="after")
    def _origin_pulls_from_the_edge(self) -> Self:
        # Validating Cloudflare's client certificate at the origin before the zone sends it would
        # refuse Cloudflare too. Where another stack owns the zone, its stack file is the place to look.
        lock, edge = self.routing.origin_lock, self.edge
        if lock.authenticated_origin_pulls and edge.enabled and edge.owns_zone and not edge.authenticated_origin_pulls:
            raise RuleError(
                "routing.originLock.authenticatedOriginPulls",
                True,
                "the zone does not send Cloudflare's certificate: set edge.authenticatedOriginPulls: true first",
            )
        return self


# --- secrets in the stack's values -------------------------------------------------------------
#
# `pulumi config set --secret --path app.x.y v` marks the whole top-level key (`app`) secret: the
# engine says which keys are secret, never which leaf. So every field that may hold a secret is
# declared by its type (SecretValue, MaybeSecretValue); in a secret key each such field becomes a
# ConfigSecret, and a secret key in which no such field is set must hold its secret somewhere else
# (a probe header, a hostname), which is refused. No value of a secret key is ever shown in an error.


def _holds_secret(annotation: Any) -> bool:
    if annotation in _SECRET_TYPES:
        return True
    return any(_holds_secret(arg) for arg in typing.get_args(annotation))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or as the items of a tuple (`tuple[HttpHeader, ...]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, typing.get_args(annotation)) if m is not None), None)


def secret_fields(model: type[BaseModel] = StackSettings, prefix: str = "") -> list[str]:
    """The key paths (camelCase, as in the stack file) of every field that may hold a secret."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        if _holds_secret(info.annotation):
            found.append(path)
        elif (inner := _model_in(info.annotation)) is not None:
            found += secret_fields(inner, f"{path}.")
    return found


def _as_secret(value: Any) -> Any:
    if isinstance(value, str):
        return ConfigSecret(value)
    if isinstance(value, bool | int | float):
        return ConfigSecret(json.dumps(value))
    return value  # not a scalar: the model refuses its type (without showing it)


def mark_secrets(model: type[BaseModel], raw: Any) -> tuple[Any, int]:
    """`raw` (the values of one model) with every field that may hold a secret wrapped as a
    ConfigSecret, and how many were set."""
    if not isinstance(raw, dict):
        return raw, 0
    marked, count = dict(raw), 0
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in marked or marked[key] is None:
            continue
        if _holds_secret(info.annotation):
            marked[key], count = _as_secret(marked[key]), count + 1
        elif (inner := _model_in(info.annotation)) is not None:
            if isinstance(marked[key], list):
                items = [mark_secrets(inner, item) for item in marked[key]]
                marked[key] = [item for item, _ in items]
                count += sum(n for _, n in items)
            else:
                marked[key], n = mark_secrets(inner, marked[key])
                count += n
    return marked, count


# --- errors -----------------------------------------------------------------------------------


def stack_file() -> str:
    return f"Pulumi.{pulumi.get_stack()}.yaml"


def _fail(key: str, value: object, rule: str) -> SettingsError:
    shown = "" if value is None else f" = {json.dumps(value, default=str)}"
    return SettingsError(f"{stack_file()}: {PROJECT}:{key}{shown}: {rule}")


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The camelCase keys allowed where `loc` points (for the hint on an unknown key)."""
    model: type[BaseModel] | None = StackSettings
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:  # an item of a tuple: same model as the tuple's
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        model = _model_in(field.annotation) if field is not None else None
    return [f.alias or name for name, f in model.model_fields.items()] if model is not None else []


def _describe(error: Any, secret_keys: frozenset[str]) -> SettingsError:
    loc = tuple(error["loc"])
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    cause = error.get("ctx", {}).get("error")
    hidden = (bool(loc) and loc[0] in secret_keys) or isinstance(cause, _SecretRequiredError)
    if isinstance(cause, RuleError):
        return _fail(f"{key}.{cause.key}" if key else cause.key, None if hidden else cause.value, cause.rule)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})" if allowed else ""
        return _fail(key, None, f"unknown key{hint}")
    if error["type"] == "missing":
        return _fail(key, None, "is required")
    message = str(error["msg"]).removeprefix("Value error, ")
    if hidden:
        message = message.replace(str(error.get("input")), "[secret]")
    return _fail(key, None if hidden else error.get("input"), message)


def _secret_elsewhere(key: str, secret_capable: list[str]) -> SettingsError:
    inside = [path for path in secret_capable if path == key or path.startswith(f"{key}.")]
    where = (
        f"none of its fields that may hold one ({', '.join(inside)}) is set"
        if inside
        else f"no field of {key} may hold a secret (those that may: {', '.join(secret_capable) or 'none'})"
    )
    return _fail(
        key,
        None,
        f"is a secret (set with --secret, perhaps with --path on one of its fields), but {where}; "
        "set the other values in plain text",
    )


# --- parsing and loading ----------------------------------------------------------------------


def parse_settings(raw: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> StackSettings:
    """Validate raw stack values (camelCase keys, as in the stack file) into `StackSettings`.

    `secret_keys` are the top-level keys set as secrets: their secret-capable fields become
    ConfigSecrets; a secret key with none of them set is refused; their values are never shown.
    """
    capable = secret_fields()
    values = dict(raw)
    for key in sorted(secret_keys & values.keys()):
        field = next((f for name, f in StackSettings.model_fields.items() if (f.alias or name) == key), None)
        if field is None:
            continue  # the model reports the unknown key
        if _holds_secret(field.annotation):
            values[key], count = _as_secret(values[key]), 1
        elif (model := _model_in(field.annotation)) is not None:
            values[key], count = mark_secrets(model, values[key])
        else:
            count = 0
        if count == 0:
            raise _secret_elsewhere(key, capable)
    try:
        return StackSettings.model_validate(values)
    except ValidationError as exc:
        # An unknown key first: a typo is usually also why a required key is "missing".
        errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
        first = _describe(errors[0], secret_keys)
        if len(errors) > 1:
            first = SettingsError(f"{first} (and {len(errors) - 1} more problem(s) in the stack file)")
        raise first from None


# Config namespaces besides the project's: the providers' own settings (e.g. kubernetes:context).
PROVIDER_NAMESPACES = frozenset({"pulumi", "kubernetes", "aws", "cloudflare", "random", "tls"})


def _project_keys() -> list[str]:
    """Every config key of this project's namespace. A key in any other namespace must belong to a
    provider: `hft-fronted:app` is a typo, not a setting to ignore."""
    keys = []
    for full_key in sdk_internals.config_items():
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT:
            keys.append(key)
        elif namespace not in PROVIDER_NAMESPACES:
            close = difflib.get_close_matches(namespace, [PROJECT, *PROVIDER_NAMESPACES], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SettingsError(f"{stack_file()}: {full_key}: unknown config namespace '{namespace}'{hint}")
    return keys


def _structured(key: str) -> bool:
    field = next((f for name, f in StackSettings.model_fields.items() if (f.alias or name) == key), None)
    return field is not None and _model_in(field.annotation) is not None


# --- one owner for each singleton ---------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """Something only one stack may own: a zone's singletons, a cluster-wide object."""

    scope: str  # "zone hft-platform.com", "cluster hft-production"
    thing: str  # "its zone settings and entrypoint rulesets", "the ClusterIssuer letsencrypt-prod"
    key: str  # the stack value that claims it


def claims(settings: StackSettings) -> list[Claim]:
    found: list[Claim] = []
    if settings.edge.enabled and settings.edge.owns_zone:
        found.append(Claim(f"zone {settings.edge.zone}", "its zone settings and entrypoint rulesets", "edge.ownsZone"))
    cluster = settings.cluster.name
    issuer = settings.routing.tls.cluster_issuer
    if cluster is not None and issuer.create:
        found.append(
            Claim(f"cluster {cluster}", f"the ClusterIssuer {issuer.name}", "routing.tls.clusterIssuer.create")
        )
    backup = settings.backup
    if cluster is not None and backup.enabled and backup.velero.install:
        found.append(Claim(f"cluster {cluster}", "the Velero installation", "backup.velero.install"))
    return found


def _sibling_claims(raw: dict[str, Any]) -> list[Claim]:
    """Another stack file's claims, read leniently: a value it gets wrong is its own stack's error."""
    sections = {
        name: raw.get(info.alias or name, {})
        for name, info in StackSettings.model_fields.items()
        if _model_in(info.annotation) is not None
    }
    try:
        partial = StackSettings.model_construct(
            edge=EdgeSettings.model_validate(sections["edge"]),
            cluster=ClusterSettings.model_validate(sections["cluster"]),
            routing=RoutingSettings.model_validate(_without_secrets(sections["routing"])),
            backup=BackupSettings.model_validate(sections["backup"]),
        )
    except (ValidationError, TypeError, ValueError):
        return []
    return claims(partial)


def _without_secrets(value: Any) -> Any:
    """A sibling's `secure:` values as marked secrets, so secret-only fields validate."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return ConfigSecret("[encrypted]")
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def check_claims(settings: StackSettings, stack: str, root: Path) -> None:
    """Refuse to own what another stack file of the project owns (its stack file says so)."""
    import yaml  # only here: the only stack values the program reads from files are other stacks' claims

    mine = {(c.scope, c.thing): c for c in claims(settings)}
    if not mine:
        return
    for path in sorted(root.glob("Pulumi.*.yaml")):
        other = path.name[len("Pulumi.") : -len(".yaml")]
        if other == stack:
            continue
        try:
            config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        prefix = f"{PROJECT}:"
        raw = {
            key.removeprefix(prefix): value
            for key, value in config.items()
            if not (":" in key and not key.startswith(prefix))
        }
        for claim in _sibling_claims(raw):
            if (claim.scope, claim.thing) in mine:
                raise _fail(
                    mine[(claim.scope, claim.thing)].key,
                    None,
                    f"{claim.scope}: {claim.thing} is owned by the stack '{other}' ({path.name}: {claim.key}); "
                    "exactly one stack may own it",
                )


def load_settings() -> StackSettings:
    """Read and validate this stack's configuration. Raises SettingsError with one line."""
    config = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key in _project_keys():
        if sdk_internals.is_config_secret(f"{PROJECT}:{key}"):
            secret_keys.add(key)
        if _structured(key):
            try:
                raw[key] = config.get_object(key)
            except pulumi.ConfigTypeError:
                raw[key] = config.get(key)  # not JSON: the model reports the wrong type
        else:
            raw[key] = config.get(key)
    raw.setdefault("environment", pulumi.get_stack())
    raw.setdefault("namespace", raw["environment"])
    settings = parse_settings(raw, frozenset(secret_keys))
    root = pulumi.get_root_directory()
    if root:
        check_claims(settings, pulumi.get_stack(), Path(root))
    return settings
