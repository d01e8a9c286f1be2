"""`StackSettings`: every area of the stack file under the project's namespace, and the rules that span
areas."""

from __future__ import annotations

from typing import Self

from pydantic import model_validator

from components.settings.app import AppSettings
from components.settings.backup import BackupSettings
from components.settings.base import DnsLabel, RuleError, SecretValue, _Model
from components.settings.cluster import ClusterSettings
from components.settings.delivery import DeliverySettings
from components.settings.edge import EdgeSettings, in_zone
from components.settings.observability import ObservabilitySettings
from components.settings.routing import RoutingSettings
from components.settings.security import SecuritySettings


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
    delivery: DeliverySettings = DeliverySettings()
    # The Sentry DSN carries the project's key: a Pulumi secret only.
    sentry_dsn: SecretValue | None = None

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
