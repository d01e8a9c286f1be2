"""Observability: the frontend's ServiceMonitor, alert rules and Grafana dashboard.

Needs the prometheus-operator CRDs (ServiceMonitor, PrometheusRule) and a Grafana whose dashboard
sidecar watches the monitoring namespace (kube-prometheus-stack's defaults).

Every query selects the labels that the scrapes really produce, so no alert is silent by mistake:
- the app's own metrics come through this ServiceMonitor; prometheus-operator labels each series
  with `namespace`, `service` (the Service's name), `pod`, `container`, `endpoint` and `job`
  (the Service's name too, as no `jobLabel` is set). The queries select `namespace` + `service`;
- kube-state-metrics and cAdvisor (the kubelet) label container series with the pod's
  `namespace`, `pod` and `container` (their ServiceMonitors honour those labels); the queries
  select `namespace` + `container` and leave out `job`, whose value differs between installs.

The spec builders are pure functions of the settings and plain strings; the component resolves
the namespace and the Service's name and turns the specs into resources parented to itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import naming
from components.k8s import ROLLOUT_HASH_SERIES_LABEL, TRAFFIC_ROLE_LABEL, AppIdentity, ServiceTarget, metadata
from components.settings import AlertRule, ObservabilitySettings
from components.settings.observability import SloSettings
from components.slo import dashboard_targets, slo_rule_groups

MONITORING_API_VERSION = "monitoring.coreos.com/v1"
METRICS_PATH = "/metrics"

# The Grafana sidecar loads every ConfigMap with this label as dashboards.
GRAFANA_DASHBOARD_LABELS = {"grafana_dashboard": "1"}

RULE_GROUP = "hft-frontend.rules"  # the seed's group name
# The dashboard's rate window; the alerts' windows are stack values.
RATE_WINDOW = "5m"
# A container is in back-off between restarts: look over a few scrapes for the waiting reason.
CRASH_LOOP_BACKOFF_WINDOW = "5m"


# --- scope -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Where this app's series live: its namespace, its Service and its container."""

    namespace: str
    service: str
    container: str

    @property
    def scraped(self) -> str:
        """Matchers for the app's own metrics, as scraped through the ServiceMonitor."""
        return f'namespace="{self.namespace}", service="{self.service}"'

    @property
    def workload(self) -> str:
        """Matchers for kube-state-metrics' and cAdvisor's series of the app's container."""
        return f'namespace="{self.namespace}", container="{self.container}"'


def _number(value: float) -> str:
    """A threshold as PromQL reads it: 100 rather than 100.0."""
    return str(int(value)) if value.is_integer() else repr(value)


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


# --- ServiceMonitor ----------------------------------------------------------------------------


def service_monitor_spec(
    settings: ObservabilitySettings, service_labels: dict[str, str], port_name: str, canary: bool = False
) -> dict[str, Any]:
    """The seed's ServiceMonitor, selecting the Service by the labels only that Service has. Under canary
    releases it leaves out the traffic Services (each selects one revision's pods; the app's Service
    selects them all, so every pod is scraped once) and labels each series with the pod's revision."""
    selector: dict[str, Any] = {"matchLabels": service_labels}
    if canary:
        selector["matchExpressions"] = [{"key": TRAFFIC_ROLE_LABEL, "operator": "DoesNotExist"}]
    endpoint: dict[str, Any] = {
        "port": port_name,
        "path": METRICS_PATH,
        "interval": settings.scrape_interval,
        # As in the seed: labels the app sets on its own series win over the target's. So
        # the app must not export `namespace` or `service` labels: the alerts select on them.
        "honorLabels": True,
    }
    if canary:
        # The canary analysis selects the canary's pods by their revision (Prometheus' kubernetes_sd
        # exposes each pod label as __meta_kubernetes_pod_label_<name, sanitised>).
        endpoint["relabelings"] = [
            {
                "action": "replace",
                "sourceLabels": [f"__meta_kubernetes_pod_label_{ROLLOUT_HASH_SERIES_LABEL}"],
                "targetLabel": ROLLOUT_HASH_SERIES_LABEL,
            }
        ]
    return {"selector": selector, "endpoints": [endpoint]}


# --- alert rules -------------------------------------------------------------------------------


def _alert(
    name: str,
    expr: str,
    rule: AlertRule,
    *,
    severity: str,
    summary: str,
    description: str,
    runbook_base_url: str,
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": rule.duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            # kubernetes-mixin's convention: one runbook page per alert, named after it.
            "runbook_url": f"{runbook_base_url.rstrip('/')}/{name.lower()}",
        },
    }


def alert_rules(settings: ObservabilitySettings, scope: Scope) -> list[dict[str, Any]]:
    """The seed's five alerts, corrected; each expression scoped to the app's namespace."""
    alerts, runbooks = settings.alerts, settings.runbook_base_url
    errors, latency, websocket = alerts.high_error_rate, alerts.high_response_time, alerts.websocket_connection_drop
    crash, memory = alerts.pod_crash_looping, alerts.high_memory_usage

    # Go templates in the annotations are kept out of f-strings, where their braces would need doubling.
    app_labels = "{{ $labels.namespace }}/{{ $labels.service }}"
    container_labels = "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }}"
    value_percent, value_duration, value = (
        "{{ $value | humanizePercentage }}",
        "{{ $value | humanizeDuration }}",
        "{{ $value | humanize }}",
    )

    requests = f"http_requests_total{{{scope.scraped}}}"
    server_errors = f'http_requests_total{{{scope.scraped}, status=~"5.."}}'
    latency_buckets = f"http_request_duration_seconds_bucket{{{scope.scraped}}}"
    connections = f"websocket_connections_active{{{scope.scraped}}}"
    restart_count = f"kube_pod_container_status_restarts_total{{{scope.workload}}}"
    back_off = f'kube_pod_container_status_waiting_reason{{{scope.workload}, reason="CrashLoopBackOff"}}'
    working_set = f"container_memory_working_set_bytes{{{scope.workload}}}"
    memory_limit = f'kube_pod_container_resource_limits{{{scope.workload}, resource="memory", unit="byte"}}'

    restarted = f"restarted in the last {crash.window}"
    if crash.threshold > 0:
        restarted = f"restarted more than {_number(crash.threshold)} times in the last {crash.window}"

    return [
        # A share, not an absolute rate: 0.1 errors/s is noise on a busy day, and a full outage
        # at low traffic never reaches it.
        _alert(
            "HighErrorRate",
            f"sum by (namespace, service) (rate({server_errors}[{errors.window}]))\n"
            "/\n"
            f"sum by (namespace, service) (rate({requests}[{errors.window}]))\n"
            f"> {_number(errors.threshold)}",
            errors,
            severity="critical",
            summary="High error rate on HFT Frontend",
            description=f"{value_percent} of the responses of {app_labels} were 5xx over the last {errors.window} "
            f"(threshold {_percent(errors.threshold)}).",
            runbook_base_url=runbooks,
        ),
        # Buckets summed over pods, methods and paths first: a quantile per series says nothing
        # about the app's latency.
        _alert(
            "HighResponseTime",
            "histogram_quantile(0.95,\n"
            f"  sum by (namespace, service, le) (rate({latency_buckets}[{latency.window}]))\n"
            f") > {_number(latency.threshold)}",
            latency,
            severity="warning",
            summary="High response time on HFT Frontend",
            description=f"The 95th percentile response time of {app_labels} is {value_duration} "
            f"(threshold {latency.threshold:g}s).",
            runbook_base_url=runbooks,
        ),
        # A gauge, so `delta`. Of the total, not per pod: when a pod dies its series ends, and a
        # per-pod delta never sees its connections go; when its clients reconnect to other pods,
        # the total stays level and nothing fires.
        _alert(
            "WebSocketConnectionDrop",
            f"-delta(sum by (namespace, service) ({connections})[{websocket.window}:{settings.scrape_interval}])\n"
            f"> {_number(websocket.threshold)}",
            websocket,
            severity="warning",
            summary="Large drop in WebSocket connections",
            description=f"Active WebSocket connections of {app_labels} fell by {value} in {websocket.window} "
            f"(threshold {_number(websocket.threshold)}).",
            runbook_base_url=runbooks,
        ),
        # Restarts, or the back-off between them. `max by` leaves one series per container on
        # each side, so `or` never alerts twice for the same container.
        _alert(
            "PodCrashLooping",
            f"max by (namespace, pod, container) (increase({restart_count}[{crash.window}]))\n"
            f"> {_number(crash.threshold)}\n"
            "or\n"
            f"max by (namespace, pod, container) (max_over_time({back_off}[{CRASH_LOOP_BACKOFF_WINDOW}]))\n"
            ">= 1",
            crash,
            severity="critical",
            summary="Pod {{ $labels.pod }} is crash looping",
            description=f"{container_labels} {restarted} or is waiting in CrashLoopBackOff.",
            runbook_base_url=runbooks,
        ),
        # The working set is what the OOM killer measures against the limit. `max by`, because
        # cAdvisor briefly reports a restarted container twice (the old and the new cgroup).
        _alert(
            "HighMemoryUsage",
            f"max by (namespace, pod, container) ({working_set})\n"
            "/\n"
            f"max by (namespace, pod, container) ({memory_limit})\n"
            f"> {_number(memory.threshold)}",
            memory,
            severity="warning",
            summary="High memory usage on pod {{ $labels.pod }}",
            description=f"{container_labels} uses {value_percent} of its memory limit "
            f"(threshold {_percent(memory.threshold)}).",
            runbook_base_url=runbooks,
        ),
    ]


def backup_alert(settings: ObservabilitySettings, schedule: str) -> dict[str, Any]:
    """No successful backup of the schedule for too long, from Velero's own metric. The metric appears
    with the first success (and Velero runs a new schedule at once), so its absence alerts too."""
    rule = settings.alerts.backup_missing
    last_success = f'velero_backup_last_successful_timestamp{{schedule="{schedule}"}}'
    hours = _number(rule.threshold)
    return _alert(
        "VeleroBackupMissing",
        # Both sides carry exactly the label schedule, so `or` never alerts twice.
        f"(time() - max by (schedule) ({last_success})) > {hours} * 3600\nor\nabsent({last_success})",
        rule,
        severity="critical",
        summary="No successful backup of the frontend's namespace",
        description=f"The Velero schedule {schedule} has had no successful backup for more than {hours} hours "
        "(or none at all). Check `velero schedule describe` and `velero backup logs`.",
        runbook_base_url=settings.runbook_base_url,
    )


def prometheus_rule_spec(
    settings: ObservabilitySettings, scope: Scope, backup_schedule: str | None = None, probe_job: str | None = None
) -> dict[str, Any]:
    """The PrometheusRule's spec, which is also a valid Prometheus rule file."""
    rules = alert_rules(settings, scope)
    if backup_schedule is not None:
        rules.append(backup_alert(settings, backup_schedule))
    # The seed's five alerts stay as operators know them; the SLOs' burn-rate alerts come beside them.
    slo_groups = slo_rule_groups(settings.slos, scope.scraped, settings.runbook_base_url)
    groups = [{"name": RULE_GROUP, "rules": rules}, *slo_groups]
    if probe_job is not None:
        groups.append({"name": PROBE_RULE_GROUP, "rules": probe_alerts(settings, scope.namespace, probe_job)})
    return {"groups": groups}


# --- the outside-in probe --------------------------------------------------------------------------

PROBE_RULE_GROUP = "hft-frontend-probe"
CERT_EXPIRY_DAYS = 14


def probe_job(app: AppIdentity) -> str:
    """The Probe's `jobName`, the `job` label of its series (prometheus-operator v0.93.0
    pkg/prometheus/promcfg.go: a Probe's jobName replaces the default `probe/<namespace>/<name>`)."""
    return f"{app.name}-probe"


def probe_spec(settings: ObservabilitySettings, job: str, hostnames: Sequence[str]) -> dict[str, Any]:
    """Each public hostname's health path over HTTPS, through the edge, via the blackbox exporter. The
    operator labels each series with the target as `instance` and the Probe's namespace as `namespace`."""
    probe = settings.probe
    return {
        "jobName": job,
        "interval": probe.interval,
        "module": probe.module,
        "prober": {"url": probe.prober_url},
        "targets": {"staticConfig": {"static": [f"https://{host}{probe.path}" for host in hostnames]}},
    }


def probe_alerts(settings: ObservabilitySettings, namespace: str, job: str) -> list[dict[str, Any]]:
    selector = f'job="{job}", namespace="{namespace}"'
    runbooks = settings.runbook_base_url.rstrip("/")
    target = "{{ $labels.instance }}"

    def alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": duration,
            "labels": {"severity": severity},
            "annotations": {
                "summary": summary,
                "description": description,
                "runbook_url": f"{runbooks}/{name.lower()}",
            },
        }

    return [
        alert(
            "FrontendProbeFailing",
            f"probe_success{{{selector}}} == 0",
            "2m",
            "critical",
            "The frontend fails from the outside",
            f"{target} has failed the blackbox probe for 2 minutes.",
        ),
        alert(
            "FrontendCertificateExpiring",
            f"probe_ssl_earliest_cert_expiry{{{selector}}} - time() < {CERT_EXPIRY_DAYS} * 86400",
            "10m",
            "warning",
            "The frontend's certificate expires soon",
            f"The certificate {target} presents expires within {CERT_EXPIRY_DAYS} days.",
        ),
        alert(
            "FrontendProbeNoData",
            f"absent_over_time(probe_success{{{selector}}}[10m])",
            "5m",
            "warning",
            "The outside-in probe has no data",
            "No probe_success series of the frontend's Probe for 10 minutes: check the blackbox exporter and "
            "the Probe's target in Prometheus.",
        ),
    ]


# --- Grafana dashboard -------------------------------------------------------------------------

DASHBOARD_TITLE = "HFT Frontend Monitoring"
DASHBOARD_TAGS = ["hft", "frontend", "trading"]
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _panel(
    panel_id: int,
    title: str,
    panel_type: str,
    unit: str,
    targets: list[tuple[str, str]],
    grid: tuple[int, int, int, int],
) -> dict[str, Any]:
    x, y, w, h = grid
    panel: dict[str, Any] = {
        "id": panel_id,
        "title": title,
        "type": panel_type,
        "datasource": _DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": _DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if panel_type == "stat":
        panel["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "graphMode": "area",
            "colorMode": "value",
        }
    else:
        panel["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    return panel


def grafana_dashboard(app: AppIdentity, scope: Scope, slos: Sequence[SloSettings] = ()) -> dict[str, Any]:
    """The seed's dashboard in current panel types, its queries scoped like the alerts.

    The data source is a variable, so the same JSON works with whatever Prometheus data source
    the Grafana has; the queries use no other variable, so each parses as plain PromQL.
    """
    requests = f"http_requests_total{{{scope.scraped}}}"
    buckets = f"http_request_duration_seconds_bucket{{{scope.scraped}}}"

    def quantile(q: str) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({buckets}[{RATE_WINDOW}])))"

    return {
        "uid": app.instance,
        "title": DASHBOARD_TITLE,
        "tags": DASHBOARD_TAGS,
        "timezone": "browser",
        "schemaVersion": 39,
        "editable": False,  # provisioned: a change belongs in this file, not in the UI
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "10s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "regex": "",
                    "includeAll": False,
                    "multi": False,
                    "options": [],
                }
            ]
        },
        "panels": [
            _panel(
                1,
                "Request Rate",
                "timeseries",
                "reqps",
                [(f"sum by (method, path) (rate({requests}[{RATE_WINDOW}]))", "{{method}} {{path}}")],
                (0, 0, 12, 8),
            ),
            _panel(
                2,
                "Response Time",
                "timeseries",
                "s",
                [(quantile("0.95"), "95th percentile"), (quantile("0.50"), "50th percentile")],
                (12, 0, 12, 8),
            ),
            _panel(
                3,
                "WebSocket Connections",
                "stat",
                "short",
                [(f"sum(websocket_connections_active{{{scope.scraped}}})", "Active Connections")],
                (0, 8, 12, 8),
            ),
            _panel(
                4,
                "Error Rate",
                "timeseries",
                "reqps",
                [
                    (
                        f'sum by (status) (rate(http_requests_total{{{scope.scraped}, status=~"4..|5.."}}'
                        f"[{RATE_WINDOW}]))",
                        "{{status}}",
                    )
                ],
                (12, 8, 12, 8),
            ),
            *_slo_panels(slos),
        ],
    }


def _slo_panels(slos: Sequence[SloSettings]) -> list[dict[str, Any]]:
    """The SLOs' error budget left over the period and their burn rate now (1 = exactly sustainable), from
    the Sloth-named recording rules (components/slo.py)."""
    if not slos:
        return []
    targets = dashboard_targets(slos)
    return [
        _panel(5, "Error budget remaining (30 days)", "stat", "percentunit", targets["remaining"], (0, 16, 12, 8)),
        _panel(6, "Error budget burn rate", "timeseries", "short", targets["burn"], (12, 16, 12, 8)),
    ]


# --- the component -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservabilityArgs:
    settings: ObservabilitySettings
    # The Service to scrape (a workload component's declared output): the ServiceMonitor and the
    # PrometheusRule go into its namespace, and every query is scoped to it.
    target: ServiceTarget
    # The labels the cluster's Prometheus selects ServiceMonitors and PrometheusRules by.
    prometheus_selector_labels: dict[str, str]
    # Where Grafana's dashboard sidecar looks for ConfigMaps.
    dashboard_namespace: str
    # The Velero schedule that backs the app's namespace up (Velero's component), if the stack has one.
    backup_schedule: str | None = None
    # Releases go out as canaries: scrape past the traffic Services and label series by revision.
    canary: bool = False
    # The public hostnames the outside-in probe checks (observability.probe).
    probe_hostnames: Sequence[str] = ()


def object_names(app: AppIdentity) -> dict[str, str]:
    """Kubernetes names, from the monitored app. The dashboard carries the environment too: two stacks
    sharing a cluster must not own the same ConfigMap, and the sidecar writes every ConfigMap's keys
    into one directory."""
    return {
        "service_monitor": f"{app.name}-metrics",
        "prometheus_rule": f"{app.name}-alerts",
        "dashboard": f"{app.instance}-dashboard",
    }


class Observability(pulumi.ComponentResource):
    """Scraping, alerting and a dashboard for one Service (needs the prometheus-operator CRDs)."""

    service_monitor: k8s.apiextensions.CustomResource
    prometheus_rule: k8s.apiextensions.CustomResource
    dashboard: k8s.core.v1.ConfigMap

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:Observability", name, None, opts)
        settings, target, app = args.settings, args.target, args.target.app
        names = object_names(app)
        operator_labels = {**app.labels, **args.prometheus_selector_labels}
        scope = pulumi.Output.all(target.namespace, target.name).apply(
            lambda values: Scope(namespace=values[0], service=values[1], container=target.container)
        )

        def child(suffix: str, old_name: str) -> tuple[str, pulumi.ResourceOptions]:
            return naming.child(self, name, suffix, old_name)

        job = probe_job(app) if settings.probe.enabled and args.probe_hostnames else None

        child_name, child_opts = child("service-monitor", names["service_monitor"])
        self.service_monitor = k8s.apiextensions.CustomResource(
            child_name,
            api_version=MONITORING_API_VERSION,
            kind="ServiceMonitor",
            metadata=metadata(names["service_monitor"], target.namespace, operator_labels),
            spec=service_monitor_spec(settings, app.selector_labels, target.port_name, args.canary),
            opts=child_opts,
        )
        child_name, child_opts = child("rules", names["prometheus_rule"])
        self.prometheus_rule = k8s.apiextensions.CustomResource(
            child_name,
            api_version=MONITORING_API_VERSION,
            kind="PrometheusRule",
            metadata=metadata(names["prometheus_rule"], target.namespace, operator_labels),
            spec=scope.apply(lambda s: prometheus_rule_spec(settings, s, args.backup_schedule, job)),
            opts=child_opts,
        )
        if job is not None:
            child_name, child_opts = child("probe", f"{app.name}-probe")
            k8s.apiextensions.CustomResource(
                child_name,
                api_version=MONITORING_API_VERSION,
                kind="Probe",
                metadata=metadata(f"{app.name}-probe", target.namespace, operator_labels),
                spec=probe_spec(settings, job, args.probe_hostnames),
                opts=child_opts,
            )
        child_name, child_opts = child("dashboard", names["dashboard"])
        self.dashboard = k8s.core.v1.ConfigMap(
            child_name,
            metadata=metadata(names["dashboard"], args.dashboard_namespace, {**app.labels, **GRAFANA_DASHBOARD_LABELS}),
            data=scope.apply(
                lambda s: {f"{app.instance}.json": json.dumps(grafana_dashboard(app, s, settings.slos), indent=2)}
            ),
            opts=child_opts,
        )

        self.register_outputs(
            {
                # CustomResource has no typed outputs; the names are the ones set above.
                "serviceMonitorName": names["service_monitor"],
                "prometheusRuleName": names["prometheus_rule"],
                "dashboardConfigMapName": self.dashboard.metadata.name,
            }
        )
