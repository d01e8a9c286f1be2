"""`observability`: the ServiceMonitor, alert rules and Grafana dashboard (Observability)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from components.settings.base import HttpsUrl, _Model

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
