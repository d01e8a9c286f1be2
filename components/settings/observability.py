"""`observability`: the ServiceMonitor, alert rules and Grafana dashboard (Observability)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from components.settings.base import HttpsUrl, RuleError, _Model

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


# prom-client's default histogram buckets (prom-client lib/histogram.js, `defaultBuckets`), which the app's
# http_request_duration_seconds uses unless it names its own: the boundaries a latency SLO may use.
DEFAULT_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SloSettings(_Model):
    """One service level objective over a 30-day window (components/slo.py turns it into Sloth-named rules)."""

    # availability: the share of responses that are not 5xx; latency: the share faster than `thresholdSeconds`.
    name: Literal["availability", "latency"]
    # The share of good requests the SLO promises, e.g. 0.999; given as a decimal, kept exact.
    objective: Annotated[Decimal, Field(gt=0, lt=1, strict=False)]
    threshold_seconds: float | None = None

    @model_validator(mode="after")
    def _threshold_for_latency(self) -> Self:
        if self.name == "latency" and self.threshold_seconds is None:
            raise RuleError("thresholdSeconds", None, "is required for a latency SLO (a bucket boundary)")
        if self.name == "availability" and self.threshold_seconds is not None:
            raise RuleError("thresholdSeconds", self.threshold_seconds, "applies to a latency SLO only")
        return self


def _default_slos() -> tuple[SloSettings, ...]:
    return (
        SloSettings(name="availability", objective=Decimal("0.999")),
        SloSettings(name="latency", objective=Decimal("0.99"), threshold_seconds=0.5),
    )


class ProbeSettings(_Model):
    """The outside-in probe: a prometheus-operator Probe through an existing blackbox exporter, on each public
    hostname's /api/health over HTTPS (through the edge, as a trader reaches it)."""

    enabled: bool = False
    # The blackbox exporter's address (host:port), e.g. the prometheus-community chart's Service.
    prober_url: Annotated[str, Field(pattern=r"^[a-z0-9.-]+:[0-9]+$")] | None = None
    # A module of the exporter's config that GETs over HTTPS and expects a 2xx (the chart's default `http_2xx`).
    module: str = "http_2xx"
    interval: PromDuration = "30s"
    path: Annotated[str, Field(pattern=r"^/")] = "/api/health"

    @model_validator(mode="after")
    def _prober_named(self) -> Self:
        if self.enabled and self.prober_url is None:
            raise RuleError(
                "proberUrl", None, "is required with probe.enabled: true (the blackbox exporter, host:port)"
            )
        return self


class ObservabilitySettings(_Model):
    """ServiceMonitor, alert rules and the Grafana dashboard (needs the prometheus-operator CRDs)."""

    enabled: bool = True
    scrape_interval: PromDuration = "15s"
    runbook_base_url: HttpsUrl = "https://runbooks.hft-platform.com/frontend"
    alerts: Alerts = Alerts()
    # The app's http_request_duration_seconds bucket boundaries (its `le` values), in seconds.
    latency_buckets: tuple[float, ...] = Field(default=DEFAULT_LATENCY_BUCKETS, strict=False, min_length=1)
    slos: tuple[SloSettings, ...] = Field(default_factory=_default_slos, strict=False)
    probe: ProbeSettings = ProbeSettings()

    @model_validator(mode="after")
    def _slos_measurable(self) -> Self:
        seen: set[str] = set()
        for index, slo in enumerate(self.slos):
            if slo.name in seen:
                raise RuleError(f"slos[{index}].name", slo.name, "is listed twice")
            seen.add(slo.name)
            if slo.threshold_seconds is not None and slo.threshold_seconds not in self.latency_buckets:
                raise RuleError(
                    f"slos[{index}].thresholdSeconds",
                    slo.threshold_seconds,
                    "is not a bucket boundary of the app's histogram (latencyBuckets: "
                    + ", ".join(f"{b:g}" for b in self.latency_buckets)
                    + "): the share below it cannot be measured",
                )
        return self
