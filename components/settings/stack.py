"""`StackSettings`: every area of the stack file under the project's namespace, and the rules that span
areas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from components.settings.app import AppSettings
from components.settings.backup import BackupSettings
from components.settings.base import DnsLabel, RuleError, SecretValue, _Model
from components.settings.cluster import ClusterSettings
from components.settings.delivery import DeliverySettings
from components.settings.edge import PROXY_READ_TIMEOUT, EdgeSettings, in_zone
from components.settings.observability import ObservabilitySettings
from components.settings.routing import RoutingSettings, duration_seconds
from components.settings.security import SecuritySettings


@dataclass(frozen=True)
class ZoneSibling:
    """What another stack file of the project says about the zone its edge is in (loader: read leniently)."""

    zone: str
    hostnames: tuple[str, ...]
    owns_zone: bool = False
    plan: str = "business"
    proxy_read_timeout: int | None = None


def _siblings(info: ValidationInfo) -> tuple[ZoneSibling, ...]:
    return tuple((info.context or {}).get("zone_siblings", ()))


class StackSettings(_Model):
    """Everything a stack file configures, under the `hft-frontend:` namespace."""

    environment: DnsLabel
    namespace: DnsLabel
    app: AppSettings
    cluster: ClusterSettings = ClusterSettings()
    security: SecuritySettings = SecuritySettings()
    routing: RoutingSettings = RoutingSettings()
    # Validated when left out too: a stack in another stack's zone must name the zone's id (EdgeSettings).
    edge: EdgeSettings = Field(default_factory=lambda: EdgeSettings.model_construct(), validate_default=True)
    backup: BackupSettings = BackupSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    delivery: DeliverySettings = DeliverySettings()
    # The Sentry DSN carries the project's key: a Pulumi secret only.
    sentry_dsn: SecretValue | None = None
    # The hosts the zone owner's rules are limited to: not a stack key; set while validating (below).
    _rule_hostnames: tuple[str, ...] = PrivateAttr(default=())

    @property
    def rule_hostnames(self) -> tuple[str, ...]:
        """The app's hostnames of every stack in this stack's zone (this one's and, from the project's
        other stack files, theirs): the hosts the owner's rate limiting rules cover, sorted."""
        return self._rule_hostnames

    @model_validator(mode="after")
    def _rules_name_only_the_apps_hosts(self, info: ValidationInfo) -> Self:
        # The zone's owner writes the rules for every stack in the zone; the loader passes the other stack
        # files' edges as the validation context "zone_siblings".
        from components.rule_expressions import hosts_named

        edge = self.edge
        hosts = set(self.app.hostnames) if edge.enabled else set()
        hosts |= {host for sibling in _siblings(info) if sibling.zone == edge.zone for host in sibling.hostnames}
        self._rule_hostnames = tuple(sorted(hosts))
        if edge.enabled and edge.owns_zone:
            for index, rule in enumerate(edge.rate_limits):
                named = hosts_named(rule.expression)
                foreign = sorted((named or set()) - hosts)
                if foreign:
                    raise RuleError(
                        f"edge.rateLimits[{index}].expression",
                        rule.expression,
                        f"names {', '.join(foreign)}, not a host of this app in any stack of the zone "
                        f"({', '.join(sorted(hosts))}): each rule applies to the app's hosts only",
                    )
        return self

    @model_validator(mode="after")
    def _hostnames_in_the_zone(self) -> Self:
        # The edge creates each hostname's DNS record in `edge.zone`: a name of another domain would
        # become a record of this zone that no resolver ever asks it for.
        edge = self.edge
        if edge.enabled:
            for index, hostname in enumerate(self.app.hostnames):
                if not in_zone(hostname, edge.zone):
                    raise RuleError(
                        f"app.hostnames[{index}]",
                        hostname,
                        f"is not in the zone {edge.zone} (edge.zone): its DNS record would be made in that zone",
                    )
        return self

    @property
    def origin_locked(self) -> bool:
        """The origin lock (routing.originLock.enabled): on in production unless the stack says otherwise."""
        lock = self.routing.origin_lock
        return lock.enabled if lock.enabled is not None else self.environment == "production"

    @model_validator(mode="after")
    def _origin_lock_coherent(self) -> Self:
        lock, edge, gateway = self.routing.origin_lock, self.edge, self.routing.gateway
        if not self.origin_locked:
            return self
        key = "routing.originLock.enabled"
        state = "on in production unless set to false" if lock.enabled is None else "true"
        if not edge.enabled:
            raise RuleError(
                key,
                lock.enabled,
                f"is {state}, but nothing locks the origin to Cloudflare without the edge (edge.enabled: false)",
            )
        if self.routing.mode != "gateway" or not gateway.create or gateway.implementation != "envoy-gateway":
            raise RuleError(
                key,
                lock.enabled,
                f"is {state}, and the program locks only a Gateway it creates with Envoy Gateway; elsewhere set the "
                "load balancer's source ranges on the controller's Service (docs/origin-lock.md) and "
                "originLock.enabled: false",
            )
        if lock.authenticated_origin_pulls:
            raise RuleError(
                "routing.originLock.authenticatedOriginPulls",
                True,
                "trusts Cloudflare's shared certificate, which every Cloudflare zone presents; the lock trusts the "
                "zone's own CA: leave it out",
            )
        if edge.owns_zone and edge.authenticated_origin_pulls:
            raise RuleError(
                "edge.authenticatedOriginPulls",
                True,
                "switches on the shared certificate (tls_client_auth); with the origin lock the zone presents its "
                "own (AuthenticatedOriginPullsSettings): leave it out",
            )
        if not edge.owns_zone and lock.trusted_ca_pem is None:
            raise RuleError(
                "routing.originLock.trustedCaPem",
                None,
                "is required where another stack owns the zone: its `originPullCa` output (pulumi stack output "
                "originPullCa --stack <owner>), or set routing.originLock.enabled: false",
            )
        return self

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

    @model_validator(mode="after")
    def _timeout_cloudflare_honours(self, info: ValidationInfo) -> Self:
        # Every record of the edge is proxied: a response silent for longer than the zone's proxy read
        # timeout gets Cloudflare's 524, whatever the origin's deadline. Only Enterprise can raise it, with
        # the zone setting the owner's stack sets (edge.proxyReadTimeout).
        edge = self.edge
        if not edge.enabled:
            return self
        if edge.owns_zone:
            ceiling = edge.read_timeout_ceiling
        else:
            owner = next((s for s in _siblings(info) if s.zone == edge.zone and s.owns_zone), None)
            raised = owner is not None and owner.plan == "enterprise" and owner.proxy_read_timeout
            ceiling = owner.proxy_read_timeout if raised and owner is not None else PROXY_READ_TIMEOUT
        timeout = self.routing.request_timeout
        if duration_seconds(timeout) > (ceiling or PROXY_READ_TIMEOUT):
            raise RuleError(
                "routing.requestTimeout",
                timeout,
                f"longer than the zone's proxy read timeout ({ceiling} s), after which Cloudflare answers 524 to a "
                f"silent response: at most {ceiling}s, or on Enterprise raise edge.proxyReadTimeout in the zone "
                "owner's stack (Cloudflare's connection limits)",
            )
        return self

    @model_validator(mode="after")
    def _canary_needs(self) -> Self:
        # The canary's weights are the Gateway API plugin's: ingress-nginx mode has no HTTPRoute to move.
        if not self.delivery.canary:
            return self
        if self.routing.mode != "gateway":
            raise RuleError(
                "delivery.strategy", "canary", "needs routing.mode: gateway (the canary's weights live in HTTPRoutes)"
            )
        # The analysis reads the canary's series, which only the ServiceMonitor's relabelling produces.
        if not self.observability.enabled:
            raise RuleError(
                "delivery.strategy", "canary", "needs observability.enabled: true (the analysis reads its series)"
            )
        # With workloadRef Argo scales the Deployment to 0, so the program stops setting its replicas. Under
        # server-side apply a field dropped from the inputs that no other manager owns is removed (reset to
        # its default, 1 replica) on that `up`; with the HPA on, the program never set it (docs/delivery.md).
        if not self.app.autoscaling.enabled:
            raise RuleError(
                "delivery.strategy",
                "canary",
                "needs app.autoscaling.enabled: true (the HPA owns the replica count the Rollout takes over)",
            )
        return self
