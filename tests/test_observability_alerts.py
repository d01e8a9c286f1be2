"""The alert rules under promtool: `check rules` on the rendered rule file, and `test rules` unit
tests in which each alert fires on a synthetic incident once its `for` has elapsed, not before, and
stays silent on healthy traffic.

The input series carry the label sets the scrapes really produce (see `app_series`,
`kube_state_metrics_series`, `cadvisor_series`), so a selector on a label no scrape sets, or on the
wrong value, fails here instead of staying silent in production. Each scenario also holds decoys:
the same incident in another namespace, another Service or another container, which must not fire.

Time runs in minutes, one sample and one rule evaluation a minute. Every incident starts after
minute 30: its first sample is at minute 31 (FIRST), so an alert is pending from 31 and fires at
31 + its `for`.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.frontend_app import CONTAINER_NAME
from components.observability import Scope, prometheus_rule_spec
from components.settings import ObservabilitySettings
from tests.support.promql import APP_METRICS, CONTAINER_METRICS, selectors
from tests.support.stacks import find, from_stack_file, manifests

# The production stack's app and namespace with the default thresholds the issue specifies.
STACK = from_stack_file("production")
SETTINGS = ObservabilitySettings()
SCOPE = Scope(namespace=STACK.namespace, service="hft-frontend-service", container=CONTAINER_NAME)
NAMESPACE, SERVICE = SCOPE.namespace, SCOPE.service
RUNBOOKS = SETTINGS.runbook_base_url
FIRST = 31  # the minute of an incident's first sample
END = 60  # the minute of the last sample

POD_A, POD_B, POD_C = "hft-frontend-7f9c6d5b8-2xkqp", "hft-frontend-7f9c6d5b8-h7vzm", "hft-frontend-5d4b8c7f6-q9wtn"
POD_IPS = {POD_A: "10.42.1.17", POD_B: "10.42.2.23", POD_C: "10.42.3.9"}


# --- what the scrapes produce ------------------------------------------------------------------


def app_series(pod: str, namespace: str = NAMESPACE, service: str = SERVICE) -> dict[str, str]:
    """The target labels prometheus-operator gives a series scraped through the ServiceMonitor.

    Derived from the rendered ServiceMonitor: `endpoint` is its port's name; `job` is the Service's
    name because it sets no `jobLabel` (with one, `job` would be that label's value on the Service).
    """
    spec = find(manifests("production"), "ServiceMonitor")["spec"]
    assert "jobLabel" not in spec
    (endpoint,) = spec["endpoints"]
    return {
        "job": service,
        "namespace": namespace,
        "service": service,
        "endpoint": endpoint["port"],
        "pod": pod,
        "container": CONTAINER_NAME,
        "instance": f"{POD_IPS.get(pod, '10.42.9.9')}:{STACK.app.container_port}",
    }


def kube_state_metrics_series(pod: str, namespace: str = NAMESPACE, container: str = CONTAINER_NAME) -> dict[str, str]:
    """kube-state-metrics' series of a container, as kube-prometheus-stack scrapes them: its
    ServiceMonitor honours the metric's own namespace/pod/container over the target's."""
    return {
        "job": "kube-state-metrics",
        "namespace": namespace,
        "pod": pod,
        "container": container,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, pod)),
        "endpoint": "http",
        "instance": "10.42.0.5:8080",
        "service": "kube-prometheus-stack-kube-state-metrics",
    }


def cadvisor_series(pod: str, namespace: str = NAMESPACE, container: str = CONTAINER_NAME) -> dict[str, str]:
    """The kubelet's cAdvisor series of a container, as kube-prometheus-stack scrapes them."""
    return {
        "job": "kubelet",
        "metrics_path": "/metrics/cadvisor",
        "endpoint": "https-metrics",
        "service": "kube-prometheus-stack-kubelet",
        "instance": "10.0.3.21:10250",
        "node": "ip-10-0-3-21",
        "namespace": namespace,
        "pod": pod,
        "container": container,
        "image": STACK.app.image,
        "id": f"/kubepods/burstable/pod-{pod}/{container}",
        "name": f"{container}-{pod}",
    }


# Labels the exporters put on the series themselves (not the scrape's target labels).
SERIES_LABELS = {"method", "path", "status", "le", "reason", "resource", "unit"}


def test_app_selectors_match_the_scraped_labels() -> None:
    """Every matcher is on a label the series carry, and on a target label names the scrape's value."""
    spec = prometheus_rule_spec(SETTINGS, SCOPE)
    scraped, container = app_series(POD_A), kube_state_metrics_series(POD_A)
    assert cadvisor_series(POD_A).items() >= {k: container[k] for k in ("namespace", "pod", "container")}.items()
    for rule in spec["groups"][0]["rules"]:
        for metric, found in selectors(rule["expr"]).items():
            target = scraped if metric in APP_METRICS else container
            assert metric in APP_METRICS | CONTAINER_METRICS
            for matchers in found:
                for label, matcher in matchers.items():
                    if label in target:
                        assert matcher == f"={target[label]}", (rule["alert"], metric, label)
                    else:
                        assert label in SERIES_LABELS, (rule["alert"], metric, label)


# --- series values -----------------------------------------------------------------------------


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def counter(*phases: tuple[float, int], start: float = 1000) -> str:
    """A counter's samples, one a minute from minute 0: each phase adds `per_minute` for `minutes`."""
    values = [float(start)]
    for per_minute, minutes in phases:
        values += [values[-1] + per_minute * step for step in range(1, minutes + 1)]
    return " ".join(_number(value) for value in values)


def healthy_then(healthy: float, incident: float, start: float = 1000) -> str:
    """A counter growing at `healthy` a minute until minute 30, then at `incident`."""
    return counter((healthy, FIRST - 1), (incident, END - FIRST + 1), start=start)


def series(metric: str, labels: dict[str, str]) -> str:
    return metric + "{" + ", ".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


# --- scenarios ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    id: str
    input_series: list[tuple[str, dict[str, str], str]]
    # (minute, alert, the alerts expected to be firing then)
    checks: list[tuple[int, str, list[dict[str, Any]]]] = field(default_factory=list)
    interval: str = "1m"  # between two input samples

    def promtool_test(self, rule_file: Path) -> dict[str, Any]:
        return {
            "rule_files": [str(rule_file)],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": self.interval,
                    "input_series": [
                        {"series": series(metric, labels), "values": values}
                        for metric, labels, values in self.input_series
                    ],
                    "alert_rule_test": [
                        {"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": alerts}
                        for minute, alert, alerts in self.checks
                    ],
                }
            ],
        }


def silent(alert: str, *minutes: int) -> list[tuple[int, str, list[dict[str, Any]]]]:
    return [(minute, alert, []) for minute in minutes]


def app_alert(alert: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": severity, "namespace": NAMESPACE, "service": SERVICE},
        "exp_annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOKS}/{alert.lower()}",
        },
    }


def container_alert(alert: str, severity: str, pod: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": severity, "namespace": NAMESPACE, "pod": pod, "container": CONTAINER_NAME},
        "exp_annotations": {
            "summary": summary,
            "description": f"Container {CONTAINER_NAME} of pod {NAMESPACE}/{pod} {description}",
            "runbook_url": f"{RUNBOOKS}/{alert.lower()}",
        },
    }


def requests(pod: str, status: str, values: str, **where: str) -> tuple[str, dict[str, str], str]:
    labels = {**app_series(pod, **where), "method": "GET", "path": "/api/market-data", "status": status}
    return ("http_requests_total", labels, values)


def error_rate(share: str) -> dict[str, Any]:
    return app_alert(
        "HighErrorRate",
        "critical",
        "High error rate on HFT Frontend",
        f"{share} of the responses of {NAMESPACE}/{SERVICE} were 5xx over the last 5m (threshold 5%).",
    )


# HighErrorRate, 5 % for 2m. A 5m window at minute 31 + k holds k + 1 minutes of the incident.
LOW_TRAFFIC_OUTAGE = Scenario(
    # Two pods, 2 requests a minute each (0.07/s together): the seed's absolute 0.1/s never fires.
    "HighErrorRate: a low-traffic outage fires after 2m",
    [
        *(requests(pod, "200", healthy_then(2, 0)) for pod in (POD_A, POD_B)),
        *(requests(pod, "503", healthy_then(0, 2, start=7)) for pod in (POD_A, POD_B)),
    ],
    [
        *silent("HighErrorRate", FIRST - 1, FIRST, FIRST + 1),
        (FIRST + 2, "HighErrorRate", [error_rate("60%")]),  # 3 of the window's 5 minutes
        (FIRST + 10, "HighErrorRate", [error_rate("100%")]),
    ],
)

HIGH_TRAFFIC_DAY = Scenario(
    # 100 requests/s a pod, 10 % 404s, 0.2 % 5xx: 0.4 errors/s, which the seed's 0.1/s called an alert.
    # Decoys: an outage of the same Service name in staging, and of another Service here.
    "HighErrorRate: silent on a high-traffic day with 0.2 % errors",
    [
        *(requests(pod, "200", counter((5388, END))) for pod in (POD_A, POD_B)),
        *(requests(pod, "404", counter((600, END))) for pod in (POD_A, POD_B)),
        *(requests(pod, "500", counter((12, END))) for pod in (POD_A, POD_B)),
        requests(POD_C, "500", counter((600, END)), namespace="staging"),
        requests(POD_C, "502", counter((600, END)), service="hft-admin-service"),
    ],
    silent("HighErrorRate", 10, FIRST, FIRST + 5, END),
)

HIGH_TRAFFIC_OUTAGE = Scenario(
    "HighErrorRate: half the responses of a busy day fail",
    [
        *(requests(pod, "200", healthy_then(5988, 3000)) for pod in (POD_A, POD_B)),
        *(requests(pod, "500", healthy_then(12, 3000)) for pod in (POD_A, POD_B)),
    ],
    [
        *silent("HighErrorRate", FIRST - 1, FIRST + 1),
        # (3 minutes at 50 % + 2 minutes at 0.2 %) / 5 minutes
        (FIRST + 2, "HighErrorRate", [error_rate("30.08%")]),
    ],
)

# HighResponseTime, p95 above 1s for 5m. Buckets per pod and minute: 600 requests.
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")
# 90 % within 50ms, 97 % within 250ms, a 3 % tail at 2s: the p95 is 100ms.
HEALTHY_LATENCY: dict[str, int] = dict(zip(BUCKETS, (540, 570, 582, 582, 582, 600, 600, 600), strict=True))
SLOW_LATENCY: dict[str, int] = dict(
    zip(BUCKETS, (0, 0, 0, 0, 0, 600, 600, 600), strict=True)
)  # all between 1s and 2.5s


def latency(pod: str, before: dict[str, int], after: dict[str, int], **where: str) -> list[Any]:
    return [
        (
            "http_request_duration_seconds_bucket",
            {**app_series(pod, **where), "le": le},
            healthy_then(before[le], after[le]),
        )
        for le in BUCKETS
    ]


def response_time(value: str) -> dict[str, Any]:
    return app_alert(
        "HighResponseTime",
        "warning",
        "High response time on HFT Frontend",
        f"The 95th percentile response time of {NAMESPACE}/{SERVICE} is {value} (threshold 1s).",
    )


SLOW_RESPONSES = Scenario(
    "HighResponseTime: every request slow fires after 5m",
    [*latency(POD_A, HEALTHY_LATENCY, SLOW_LATENCY), *latency(POD_B, HEALTHY_LATENCY, SLOW_LATENCY)],
    [
        *silent("HighResponseTime", FIRST - 1, FIRST, FIRST + 4),
        # p95 of a window wholly in the (1s, 2.5s] bucket: 1 + 1.5 * 0.95
        (FIRST + 5, "HighResponseTime", [response_time("2.425s")]),
    ],
)

HEALTHY_LATENCY_WITH_A_TAIL = Scenario(
    # A 3 % slow tail leaves the p95 at 100ms; slow responses in staging are not ours.
    "HighResponseTime: silent with a slow tail below the 95th percentile",
    [
        *latency(POD_A, HEALTHY_LATENCY, HEALTHY_LATENCY),
        *latency(POD_B, HEALTHY_LATENCY, HEALTHY_LATENCY),
        *latency(POD_C, SLOW_LATENCY, SLOW_LATENCY, namespace="staging"),
    ],
    silent("HighResponseTime", 10, FIRST + 5, END),
)

# WebSocketConnectionDrop, a fall of more than 100 within 5m, for 1m.
CONNECTIONS = "websocket_connections_active"


def connection_drop(value: str) -> dict[str, Any]:
    return app_alert(
        "WebSocketConnectionDrop",
        "warning",
        "Large drop in WebSocket connections",
        f"Active WebSocket connections of {NAMESPACE}/{SERVICE} fell by {value} in 5m (threshold 100).",
    )


POD_LOST_WITH_ITS_CLIENTS = Scenario(
    # A pod dies at minute 31 and its 300 clients do not come back: its series goes stale.
    "WebSocketConnectionDrop: a pod's connections lost fires after 1m",
    [
        (CONNECTIONS, app_series(POD_A), f"300x{FIRST - 1} stale"),
        (CONNECTIONS, app_series(POD_B), f"300x{END}"),
    ],
    [
        *silent("WebSocketConnectionDrop", FIRST - 1, FIRST),
        (FIRST + 1, "WebSocketConnectionDrop", [connection_drop("300")]),
        *silent("WebSocketConnectionDrop", FIRST + 6),  # the window has moved past the fall
    ],
)

ROLLOUT_AND_DAILY_SWINGS = Scenario(
    # A rollout: pod A goes, pod C takes its 300 clients. Pod B loses 10 a minute (50 in 5m, an
    # evening) and then gains 500 (a market open). Staging losing 1000 is not ours.
    "WebSocketConnectionDrop: silent through a rollout and normal swings",
    [
        (CONNECTIONS, app_series(POD_A), f"300x{FIRST - 1} stale"),
        (CONNECTIONS, app_series(POD_C), f"_x{FIRST} 300x{END - FIRST}"),
        (CONNECTIONS, app_series(POD_B), f"800-10x{FIRST - 1} 600+100x4 1000x{END - FIRST - 5}"),
        (CONNECTIONS, app_series(POD_C, namespace="staging"), f"1200x{FIRST - 1} 200x{END - FIRST}"),
    ],
    silent("WebSocketConnectionDrop", 10, FIRST, FIRST + 1, FIRST + 3, END),
)

# PodCrashLooping: any restart within 15m, or CrashLoopBackOff, for 5m.
RESTARTS = "kube_pod_container_status_restarts_total"
WAITING = "kube_pod_container_status_waiting_reason"


def crash_looping(pod: str) -> dict[str, Any]:
    return container_alert(
        "PodCrashLooping",
        "critical",
        pod,
        f"Pod {pod} is crash looping",
        "restarted in the last 15m or is waiting in CrashLoopBackOff.",
    )


def back_off(pod: str, **where: str) -> tuple[str, dict[str, str], str]:
    # kube-state-metrics exports the waiting reason only while the container waits.
    return (
        WAITING,
        {**kube_state_metrics_series(pod, **where), "reason": "CrashLoopBackOff"},
        f"_x{FIRST} 1x{END - FIRST}",
    )


CRASH_LOOP = Scenario(
    # Pod A restarts every other minute from minute 31 and waits in back-off in between; pod B is fine.
    "PodCrashLooping: restarts and back-off fire once per container after 5m",
    [
        (RESTARTS, kube_state_metrics_series(POD_A), counter((0, FIRST - 1), *[(1, 1), (0, 1)] * 15, start=0)),
        back_off(POD_A),
        (RESTARTS, kube_state_metrics_series(POD_B), f"0x{END}"),
    ],
    [
        *silent("PodCrashLooping", FIRST - 1, FIRST, FIRST + 4),
        (FIRST + 5, "PodCrashLooping", [crash_looping(POD_A)]),
    ],
)

BACK_OFF_ONLY = Scenario(
    # The restart counter shows nothing new (its restarts were long ago), the back-off does.
    "PodCrashLooping: back-off alone fires after 5m",
    [(RESTARTS, kube_state_metrics_series(POD_A), f"4x{END}"), back_off(POD_A)],
    [*silent("PodCrashLooping", FIRST + 4), (FIRST + 5, "PodCrashLooping", [crash_looping(POD_A)])],
)

NO_CRASH_LOOP = Scenario(
    # Pod B restarted once at minute 5: by minute 30 that is history. A crash-looping sidecar and a
    # crash loop in staging are not this alert's.
    "PodCrashLooping: silent without restarts",
    [
        (RESTARTS, kube_state_metrics_series(POD_A), f"0x{END}"),
        (RESTARTS, kube_state_metrics_series(POD_B), f"0x4 1x{END - 5}"),
        (RESTARTS, kube_state_metrics_series(POD_A, container="log-shipper"), counter((1, END), start=0)),
        back_off(POD_A, container="log-shipper"),
        (RESTARTS, kube_state_metrics_series(POD_C, namespace="staging"), counter((1, END), start=0)),
        back_off(POD_C, namespace="staging"),
    ],
    silent("PodCrashLooping", FIRST - 1, FIRST + 5, END),
)

# HighMemoryUsage, working set above 90 % of the limit for 10m.
WORKING_SET = "container_memory_working_set_bytes"
LIMITS = "kube_pod_container_resource_limits"
MEMORY_LIMIT = 2 * 2**30  # the production stack's limit: 2Gi
SIDECAR_LIMIT = 128 * 2**20


def memory_limit(pod: str, limit: int, **where: str) -> tuple[str, dict[str, str], str]:
    labels = {**kube_state_metrics_series(pod, **where), "node": "ip-10-0-3-21", "resource": "memory", "unit": "byte"}
    return (LIMITS, labels, f"{limit}x{END}")


def memory_usage(pod: str) -> dict[str, Any]:
    return container_alert(
        "HighMemoryUsage",
        "warning",
        pod,
        f"High memory usage on pod {pod}",
        "uses 95% of its memory limit (threshold 90%).",
    )


MEMORY_PRESSURE = Scenario(
    # Pod A climbs from 50 % to 95 % of its limit at minute 31; pod B stays at half.
    "HighMemoryUsage: 95 % of the limit fires after 10m",
    [
        (WORKING_SET, cadvisor_series(POD_A), f"{MEMORY_LIMIT // 2}x{FIRST - 1} {MEMORY_LIMIT * 0.95!r}x{END - FIRST}"),
        (WORKING_SET, cadvisor_series(POD_B), f"{MEMORY_LIMIT // 2}x{END}"),
        memory_limit(POD_A, MEMORY_LIMIT),
        memory_limit(POD_B, MEMORY_LIMIT),
    ],
    [
        *silent("HighMemoryUsage", FIRST - 1, FIRST, FIRST + 9),
        (FIRST + 10, "HighMemoryUsage", [memory_usage(POD_A)]),
    ],
)

MEMORY_HEADROOM = Scenario(
    # 75 % of the limit is headroom; a sidecar near its own limit and staging's pod are not ours.
    "HighMemoryUsage: silent with headroom",
    [
        (WORKING_SET, cadvisor_series(POD_A), f"{MEMORY_LIMIT * 3 // 4}x{END}"),
        memory_limit(POD_A, MEMORY_LIMIT),
        (WORKING_SET, cadvisor_series(POD_A, container="log-shipper"), f"{SIDECAR_LIMIT * 99 // 100}x{END}"),
        memory_limit(POD_A, SIDECAR_LIMIT, container="log-shipper"),
        (WORKING_SET, cadvisor_series(POD_C, namespace="staging"), f"{MEMORY_LIMIT}x{END}"),
        memory_limit(POD_C, MEMORY_LIMIT, namespace="staging"),
    ],
    silent("HighMemoryUsage", FIRST + 10, END),
)

# --- backups: hours, not minutes --------------------------------------------------------------------

HOUR = 60  # minutes
SCHEDULE = "hft-frontend-production-daily"


def velero_series(schedule: str = SCHEDULE) -> dict[str, str]:
    """Velero's metric, as its chart's ServiceMonitor scrapes the server."""
    return {
        "job": "velero",
        "namespace": "velero",
        "service": "velero",
        "endpoint": "http-monitoring",
        "pod": "velero-6d9f7b8c5-x2k4q",
        "schedule": schedule,
    }


def backup_missing(summary_schedule: str = SCHEDULE) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": "critical", "schedule": summary_schedule},
        "exp_annotations": {
            "summary": "No successful backup of the frontend's namespace",
            "description": f"The Velero schedule {summary_schedule} has had no successful backup for more than 26 "
            "hours (or none at all). Check `velero schedule describe` and `velero backup logs`.",
            "runbook_url": f"{RUNBOOKS}/velerobackupmissing",
        },
    }


# The last success at 01:00 and never again: silent at 27 h after it (26 h is the threshold, plus the
# 15 minutes `for`), firing at 28 h.
BACKUPS_STOPPED = Scenario(
    "backups-stopped",
    [("velero_backup_last_successful_timestamp", velero_series(), "3600+0x40")],
    [*silent("VeleroBackupMissing", 20 * HOUR, 27 * HOUR + 10), (28 * HOUR, "VeleroBackupMissing", [backup_missing()])],
    interval="1h",
)
# A success every day at 01:00: never older than a day.
DAILY_BACKUPS = Scenario(
    "daily-backups",
    [("velero_backup_last_successful_timestamp", velero_series(), "3600+0x23 90000+0x23 176400+0x10")],
    silent("VeleroBackupMissing", 12 * HOUR, 30 * HOUR, 55 * HOUR),
    interval="1h",
)
# Another schedule succeeds, this one never did: absent.
NEVER_BACKED_UP = Scenario(
    "never-backed-up",
    [("velero_backup_last_successful_timestamp", velero_series("staging-daily"), "3600+0x10")],
    [*silent("VeleroBackupMissing", 10), (2 * HOUR, "VeleroBackupMissing", [backup_missing()])],
    interval="1h",
)

SCENARIOS = [
    LOW_TRAFFIC_OUTAGE,
    HIGH_TRAFFIC_DAY,
    HIGH_TRAFFIC_OUTAGE,
    SLOW_RESPONSES,
    HEALTHY_LATENCY_WITH_A_TAIL,
    POD_LOST_WITH_ITS_CLIENTS,
    ROLLOUT_AND_DAILY_SWINGS,
    CRASH_LOOP,
    BACK_OFF_ONLY,
    NO_CRASH_LOOP,
    MEMORY_PRESSURE,
    MEMORY_HEADROOM,
    BACKUPS_STOPPED,
    DAILY_BACKUPS,
    NEVER_BACKED_UP,
]


def test_every_alert_has_an_incident_and_a_healthy_scenario() -> None:
    names = [rule["alert"] for rule in prometheus_rule_spec(SETTINGS, SCOPE, SCHEDULE)["groups"][0]["rules"]]
    for name in names:
        checks = [alerts for scenario in SCENARIOS for _, alert, alerts in scenario.checks if alert == name]
        assert any(checks), f"{name} needs a scenario in which it fires"
        assert not all(checks), f"{name} needs a scenario in which it stays silent"


# --- running promtool --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not found: apt-get install prometheus")
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def write_rule_file(directory: Path, settings: ObservabilitySettings, scope: Scope) -> Path:
    """The PrometheusRule's spec, which is the rule file Prometheus loads."""
    path = directory / "frontend-alerts.yaml"
    path.write_text(yaml.safe_dump(prometheus_rule_spec(settings, scope, SCHEDULE), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rule_file(tmp_path_factory.mktemp("rules"), SETTINGS, SCOPE)


# The seed's five alerts (production: and the backup alert), and per SLO 15 recording rules (8 windows and 7 of
# Sloth's) and 2 burn alerts, and the no-data alert: 35 for the two SLOs each stack has; production's probe adds 3.
@pytest.mark.parametrize(("stack", "rules"), [("staging", 5 + 35), ("production", 6 + 35 + 3)])
def test_promtool_accepts_each_stacks_rendered_rules(promtool: str, stack: str, rules: int, tmp_path: Path) -> None:
    # The PrometheusRule each stack renders (production's with the backup alert) is a rule file.
    spec = find(manifests(stack), "PrometheusRule")["spec"]
    path = tmp_path / f"{stack}-rules.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {rules} rules found" in result.stdout


def test_promtool_rejects_the_seeds_decrease(promtool: str, tmp_path: Path) -> None:
    # The check above is worth something: the seed's rule, as written, fails it.
    seed = {"groups": [{"name": "seed", "rules": [{"alert": "Drop", "expr": "decrease(x[5m]) > 100"}]}]}
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(seed))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode != 0
    assert "decrease" in result.stdout + result.stderr


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.id for scenario in SCENARIOS])
def test_promtool_unit_tests(promtool: str, rule_file: Path, scenario: Scenario, tmp_path: Path) -> None:
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(scenario.promtool_test(rule_file), sort_keys=False, width=1000))
    result = run(promtool, "test", "rules", str(test_file))
    assert result.returncode == 0, f"{scenario.id}\n{result.stdout}{result.stderr}"
