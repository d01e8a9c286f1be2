"""`app`: the workload (FrontendApp): image, hostnames, endpoints, replicas, resources, probes,
autoscaling, disruption budget, Service, volumes and object names."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from components.k8s import quantity_value
from components.settings.base import (
    DnsLabel,
    DnsName,
    HttpsUrl,
    ImageRef,
    LabelKey,
    LabelValue,
    Quantity,
    RuleError,
    SecretValue,
    WebSocketUrl,
    _Model,
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
    # Values for the app Secret's generated keys, as config secrets (`pulumi config set --secret --path
    # app.secretValues.NEXTAUTH_SECRET`, the value on stdin): a key given here is not generated, so adopting a live
    # Secret keeps its sessions and signed tokens valid.
    secret_values: dict[Literal["NEXTAUTH_SECRET", "JWT_SIGNING_PRIVATE_KEY"], SecretValue] = Field(
        default_factory=dict
    )
    # The Deployment's selector (immutable: a live Deployment with another one is replaced, zero pods
    # between the delete and the create). Default: the recommended app.kubernetes.io/name and instance; a
    # stack over a live Deployment pins its selector here. Pods carry these labels and the recommended ones.
    selector_labels: dict[LabelKey, LabelValue] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _hostnames_once(self) -> Self:
        # Each hostname is a Gateway listener's name and hostname (a list-map key the API server
        # enforces), a certificate SAN and a DNS record: twice would collide in each.
        seen: dict[str, int] = {}
        for index, hostname in enumerate(self.hostnames):
            if hostname.lower() in seen:
                raise RuleError(
                    f"hostnames[{index}]", hostname, f"is listed twice (also hostnames[{seen[hostname.lower()]}])"
                )
            seen[hostname.lower()] = index
        return self

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
