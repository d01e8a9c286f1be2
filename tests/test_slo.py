"""The SLOs' rules under promtool: each burn-rate window pair fires under a sustained burn above its factor and stays
silent just under it, a spike that spends less than 2 % of the budget in an hour pages nobody, no traffic pages
nobody and no data says so; the settings refuse a latency threshold that is not a bucket boundary.

Traffic is 1,000 requests a minute; the availability SLO's budget is 0.1 % (99.9 %). A window pair's long window
must hold less than its factor for the other pairs to stay quiet, so each scenario starts with clean history long
enough to keep them below theirs (the numbers are in each scenario's comment).
"""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from components.observability import probe_alerts, prometheus_rule_spec
from components.settings import ObservabilitySettings
from components.settings.observability import SloSettings
from components.slo import ALERT, BURN_WINDOWS, NO_DATA_ALERT, burn_alerts, error_ratio, sloth_labels, threshold
from offline_preview.engine import ProgramError
from tests.support.stacks import find, manifests, render
from tests.test_observability_alerts import SCOPE, app_series, counter

SETTINGS = ObservabilitySettings()
AVAILABILITY, LATENCY = SETTINGS.slos
PER_MINUTE = 1000


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not found: apt-get install prometheus")
    return path


def traffic(phases: list[tuple[float, int]], step: int = 1) -> list[dict[str, Any]]:
    """Availability traffic: `phases` of (error share, minutes), 1,000 requests a minute, a sample every `step`
    minutes (the scenarios of long windows only take 5: a third of the samples, the same rates)."""
    labels = {**app_series("hft-frontend-7f9c6d5b8-2xkqp"), "method": "GET", "path": "/api/orders"}
    ok = counter(*[(PER_MINUTE * step * (1 - share), minutes // step) for share, minutes in phases], start=0)
    bad = counter(*[(PER_MINUTE * step * share, minutes // step) for share, minutes in phases], start=0)
    return [
        {"series": series("http_requests_total", {**labels, "status": "200"}), "values": ok},
        {"series": series("http_requests_total", {**labels, "status": "503"}), "values": bad},
    ]


def slow_traffic(phases: list[tuple[float, int]]) -> list[dict[str, Any]]:
    """Latency traffic: `phases` of (share slower than 0.5 s, minutes)."""
    labels = app_series("hft-frontend-7f9c6d5b8-2xkqp")
    count = counter(*[(PER_MINUTE, minutes) for _, minutes in phases], start=0)
    fast = counter(*[(PER_MINUTE * (1 - share), minutes) for share, minutes in phases], start=0)
    return [
        {"series": series("http_request_duration_seconds_count", labels), "values": count},
        {"series": series("http_request_duration_seconds_bucket", {**labels, "le": "0.5"}), "values": fast},
        # Every request is counted, so the availability SLI has data (and no errors).
        {"series": series("http_requests_total", {**labels, "status": "200"}), "values": count},
    ]


def series(metric: str, labels: dict[str, str]) -> str:
    return metric + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def burn(slo: SloSettings, severity: str) -> dict[str, Any]:
    (alert,) = [a for a in burn_alerts(slo, SETTINGS.runbook_base_url) if a["labels"]["severity"] == severity]
    return {"exp_labels": dict(alert["labels"]), "exp_annotations": dict(alert["annotations"])}


def run_scenario(
    tmp_path: Path, inputs: list[dict[str, Any]], checks: list[tuple[int, str, list[Any]]], step: int = 1
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(prometheus_rule_spec(SETTINGS, SCOPE), sort_keys=False, width=1000))
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": f"{step}m",
        "tests": [
            {
                "interval": f"{step}m",
                "input_series": inputs,
                "alert_rule_test": [
                    {"eval_time": f"{minute}m", "alertname": name, "exp_alerts": alerts}
                    for minute, name, alerts in checks
                ],
            }
        ],
    }
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(test, sort_keys=False, width=1000))
    result = subprocess.run(
        [promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Each: (name, traffic, [(minute, alert, expected alerts)]).
CLEAN = 1400  # minutes of clean history before a burn: keeps the 1d and 3d windows below their factors

SCENARIOS: list[tuple[str, list[dict[str, Any]], list[tuple[int, str, list[Any]]]]] = [
    (
        # 1h/5m at 14.4x (1.44 %): 2 % for an hour. 6h holds 0.33 % (< 0.6 %), 1d 0.08 % (< 0.3 %), 3d 0.08 % (< 0.1 %).
        "critical 1h/5m: a 2 % burn pages once the hour holds more than 1.44 %",
        traffic([(0, CLEAN), (0.02, 60)]),
        [(CLEAN + 40, ALERT, []), (CLEAN + 60, ALERT, [burn(AVAILABILITY, "critical")])],
    ),
    (
        "critical 1h/5m: a 1.4 % burn, just under 14.4x, stays silent",
        traffic([(0, CLEAN), (0.014, 60)]),
        [(CLEAN + 60, ALERT, [])],
    ),
    (
        # 10 % for 5 minutes is 0.5 error-minutes: the hour holds 0.83 % (< 1.44 %), under 2 % of the budget.
        "a spike that spends less than 2 % of the budget in an hour pages nobody",
        traffic([(0, CLEAN), (0.10, 5), (0, 30)]),
        [(CLEAN + 5, ALERT, []), (CLEAN + 10, ALERT, []), (CLEAN + 35, ALERT, [])],
    ),
    (
        # 6h/30m at 6x (0.6 %): 0.7 % for 6 hours; 1h holds 0.7 % (< 1.44 %). The 3d/6h ticket fires too.
        "critical 6h/30m: a 0.7 % burn pages once six hours hold more than 0.6 %",
        traffic([(0, 1000), (0.007, 360)]),
        [(1000 + 360, ALERT, [burn(AVAILABILITY, "critical"), burn(AVAILABILITY, "warning")])],
    ),
    (
        "critical 6h/30m: a 0.55 % burn, just under 6x, does not page (the 3d/6h ticket does)",
        traffic([(0, 1000), (0.0055, 360)]),
        [(1000 + 360, ALERT, [burn(AVAILABILITY, "warning")])],
    ),
    (
        # 1d/2h at 3x (0.3 %): 0.35 % for a day after two clean days; 6h holds 0.35 % (< 0.6 %).
        "warning 1d/2h: a 0.35 % burn for a day opens a ticket, no page",
        traffic([(0, 2880), (0.0035, 1440)], step=5),
        [(2880 + 1440, ALERT, [burn(AVAILABILITY, "warning")])],
    ),
    (
        # 0.28 % for a day: 1d holds 0.28 % (< 0.3 %); 3d holds 0.093 % (< 0.1 %).
        "warning 1d/2h: a 0.28 % burn, just under 3x, stays silent",
        traffic([(0, 2880), (0.0028, 1440)], step=5),
        [(2880 + 1440, ALERT, [])],
    ),
    (
        # 3d/6h at 1x (0.1 %): 0.15 % for three days; 1d holds 0.15 % (< 0.3 %).
        "warning 3d/6h: a 0.15 % burn for three days opens a ticket",
        traffic([(0.0015, 4320)], step=5),
        [(4320, ALERT, [burn(AVAILABILITY, "warning")])],
    ),
    (
        "warning 3d/6h: a 0.09 % burn, just under 1x, stays silent",
        traffic([(0.0009, 4320)], step=5),
        [(4320, ALERT, [])],
    ),
    (
        # The latency SLO's budget is 1 % (99 % under 0.5 s): 14.4x is 14.4 % slow requests.
        "latency: 20 % of requests slower than 0.5 s for an hour pages on the latency SLO",
        slow_traffic([(0, CLEAN), (0.20, 60)]),
        [(CLEAN + 60, ALERT, [burn(LATENCY, "critical")])],
    ),
    (
        "no traffic pages nobody",
        [
            {"series": series("http_requests_total", {**app_series("p"), "status": "200"}), "values": "100+0x120"},
            {"series": series("http_requests_total", {**app_series("p"), "status": "503"}), "values": "0+0x120"},
        ],
        [(60, ALERT, []), (120, ALERT, []), (120, NO_DATA_ALERT, [])],
    ),
]


def no_data() -> dict[str, Any]:
    rule = next(
        r
        for g in prometheus_rule_spec(SETTINGS, SCOPE)["groups"]
        for r in g["rules"]
        if r.get("alert") == NO_DATA_ALERT
    )
    # absent_over_time's result carries the selector's equality matchers as labels.
    labels = {**rule["labels"], "namespace": SCOPE.namespace, "service": SCOPE.service}
    return {"exp_labels": labels, "exp_annotations": dict(rule["annotations"])}


@pytest.mark.parametrize(("name", "inputs", "checks"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_burn_rate_alerts_under_promtool(name: str, inputs: list[Any], checks: list[Any], tmp_path: Path) -> None:
    step = 5 if name.startswith("warning") else 1
    run_scenario(tmp_path, inputs, checks, step)


def test_no_data_fires_when_the_series_are_gone(tmp_path: Path) -> None:
    other = [{"series": 'up{job="something-else"}', "values": "1+0x60"}]
    # Pending for its `for` (5m) first: nothing fires at minute 3.
    run_scenario(tmp_path, other, [(3, NO_DATA_ALERT, []), (30, NO_DATA_ALERT, [no_data()]), (30, ALERT, [])])


def test_thresholds_are_exact_decimal_literals() -> None:
    assert [threshold(AVAILABILITY, b.factor) for b in BURN_WINDOWS] == ["0.0144", "0.006", "0.003", "0.001"]
    assert [threshold(LATENCY, b.factor) for b in BURN_WINDOWS] == ["0.144", "0.06", "0.03", "0.01"]
    assert threshold(SloSettings(name="availability", objective=Decimal("0.9995")), Decimal("14.4")) == "0.0072"


def test_every_slo_query_parses_and_selects_the_apps_scrape() -> None:
    for slo in SETTINGS.slos:
        for window in ("5m", "30d"):
            query = error_ratio(slo, SCOPE.scraped, window)
            promql_parser.parse(query)
            assert f'namespace="{SCOPE.namespace}"' in query
            assert f'service="{SCOPE.service}"' in query
    spec = prometheus_rule_spec(SETTINGS, SCOPE)
    for group in spec["groups"]:
        for rule in group["rules"]:
            promql_parser.parse(rule["expr"])


def test_recording_rules_carry_sloths_names_and_labels() -> None:
    spec = prometheus_rule_spec(SETTINGS, SCOPE)
    recorded = {
        (r["record"], r["labels"].get("sloth_slo")) for g in spec["groups"] for r in g["rules"] if "record" in r
    }
    for slo in ("availability", "latency"):
        for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
            assert (f"slo:sli_error:ratio_rate{window}", slo) in recorded
        for name in ("slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days",
                     "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
                     "slo:period_error_budget_remaining:ratio", "sloth_slo_info"):  # fmt: skip
            assert (name, slo) in recorded
    window_rule = next(r for g in spec["groups"] for r in g["rules"] if r.get("record") == "slo:sli_error:ratio_rate1h")
    assert window_rule["labels"] == {**sloth_labels(AVAILABILITY), "sloth_window": "1h"}


def test_both_stacks_render_their_slos_and_staging_is_looser() -> None:
    objectives = {}
    for stack in ("staging", "production"):
        spec = find(manifests(stack), "PrometheusRule")["spec"]
        objectives[stack] = {
            r["labels"]["sloth_slo"]: r["expr"]
            for g in spec["groups"]
            for r in g["rules"]
            if r.get("record") == "slo:objective:ratio"
        }
    assert objectives["production"] == {"availability": "vector(0.999)", "latency": "vector(0.99)"}
    assert objectives["staging"] == {"availability": "vector(0.99)", "latency": "vector(0.95)"}


def test_a_latency_threshold_that_is_not_a_bucket_boundary_is_refused_with_one_line() -> None:
    slos = [{"name": "latency", "objective": 0.99, "thresholdSeconds": 0.3}]
    with pytest.raises(ProgramError) as error:
        render("production", {"hft-frontend:observability": {"slos": slos}})
    message = str(error.value)
    assert "observability.slos[0].thresholdSeconds = 0.3: is not a bucket boundary" in message
    assert "\n" not in message
    bucket = [{"name": "latency", "objective": 0.99, "thresholdSeconds": 0.25}]
    assert render("production", {"hft-frontend:observability": {"slos": bucket}})


def test_the_dashboard_shows_budget_left_and_burn_rate() -> None:
    import json

    config_map = find(manifests("production"), "ConfigMap", "hft-frontend-production-dashboard")
    (document,) = config_map["data"].values()
    panels = {p["title"]: p for p in json.loads(document)["panels"]}
    remaining = panels["Error budget remaining (30 days)"]["targets"]
    assert {t["expr"].split("{")[0] for t in remaining} == {"slo:period_error_budget_remaining:ratio"}
    assert len(remaining) == 2
    assert {t["expr"].split("{")[0] for t in panels["Error budget burn rate"]["targets"]} == {
        "slo:current_burn_rate:ratio"
    }


def test_the_canary_analysis_judges_the_canary_pods_with_the_slos_own_slis() -> None:
    template = find(manifests("production"), "AnalysisTemplate")
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert set(metrics) == {"availability-burn", "latency-burn"}
    for slo, budget in ((AVAILABILITY, "0.0144"), (LATENCY, "0.144")):
        metric = metrics[f"{slo.name}-burn"]
        canary = f'{SCOPE.scraped}, rollouts_pod_template_hash="{{{{args.canary-hash}}}}"'
        assert metric["provider"]["prometheus"]["query"] == error_ratio(slo, canary, "5m")
        assert metric["failureCondition"].endswith(f"result[0] > {budget}")
        promql_parser.parse(metric["provider"]["prometheus"]["query"])


# --- the outside-in probe ----------------------------------------------------------------------------------------

PROBE_SETTINGS = ObservabilitySettings.model_validate(
    {"probe": {"enabled": True, "proberUrl": "blackbox-prometheus-blackbox-exporter.monitoring.svc:9115"}}
)
PROBE_JOB = "hft-frontend-probe"
PROBE_TARGET = "https://hft-platform.com/api/health"


def probe_series(metric: str, values: str) -> dict[str, Any]:
    labels = {"job": PROBE_JOB, "namespace": SCOPE.namespace, "instance": PROBE_TARGET}
    return {"series": series(metric, labels), "values": values}


def probe_alert(name: str) -> dict[str, Any]:
    rule = next(r for r in probe_alerts(PROBE_SETTINGS, SCOPE.namespace, PROBE_JOB) if r["alert"] == name)
    labels = {**rule["labels"], "job": PROBE_JOB, "namespace": SCOPE.namespace}
    if name != "FrontendProbeNoData":
        labels["instance"] = PROBE_TARGET
    annotations = {k: v.replace("{{ $labels.instance }}", PROBE_TARGET) for k, v in rule["annotations"].items()}
    return {"exp_labels": labels, "exp_annotations": annotations}


def run_probe(tmp_path: Path, inputs: list[dict[str, Any]], checks: list[tuple[int, str, list[Any]]]) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    rules = tmp_path / "rules.yaml"
    spec = prometheus_rule_spec(PROBE_SETTINGS, SCOPE, None, PROBE_JOB)
    rules.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000))
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "alert_rule_test": [{"eval_time": f"{m}m", "alertname": a, "exp_alerts": e} for m, a, e in checks],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False, width=1000))
    result = subprocess.run(
        [promtool(), "test", "rules", str(tmp_path / "test.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_failing_probe_fires_after_two_minutes_and_a_passing_one_is_silent(tmp_path: Path) -> None:
    # Healthy for 10 minutes (certificate 60 days away), then failing.
    expiry = str(60 * 86400)
    inputs = [
        probe_series("probe_success", "1x10 0x10"),
        probe_series("probe_ssl_earliest_cert_expiry", f"{expiry}x20"),
    ]
    checks = [
        (10, "FrontendProbeFailing", []),
        (12, "FrontendProbeFailing", []),  # pending: failing since minute 11
        (14, "FrontendProbeFailing", [probe_alert("FrontendProbeFailing")]),
        (14, "FrontendCertificateExpiring", []),
        (14, "FrontendProbeNoData", []),
    ]
    run_probe(tmp_path, inputs, checks)


def test_a_certificate_within_fourteen_days_fires(tmp_path: Path) -> None:
    # Expiry as a timestamp: 13 days after the test's epoch start fires, 15 days does not.
    soon, later = str(13 * 86400), str(15 * 86400)
    run_probe(
        tmp_path / "soon",
        [probe_series("probe_success", "1x30"), probe_series("probe_ssl_earliest_cert_expiry", f"{soon}x30")],
        [
            (5, "FrontendCertificateExpiring", []),
            (20, "FrontendCertificateExpiring", [probe_alert("FrontendCertificateExpiring")]),
        ],
    )
    run_probe(
        tmp_path / "later",
        [probe_series("probe_success", "1x30"), probe_series("probe_ssl_earliest_cert_expiry", f"{later}x30")],
        [(20, "FrontendCertificateExpiring", [])],
    )


def test_no_probe_data_says_so(tmp_path: Path) -> None:
    run_probe(
        tmp_path,
        [{"series": 'up{job="something-else"}', "values": "1x30"}],
        [(3, "FrontendProbeNoData", []), (20, "FrontendProbeNoData", [probe_alert("FrontendProbeNoData")])],
    )


def test_production_probes_each_hostname_through_the_edge() -> None:
    probe = find(manifests("production"), "Probe")
    targets = probe["spec"]["targets"]["staticConfig"]["static"]
    assert targets == ["https://hft-platform.com/api/health", "https://www.hft-platform.com/api/health"]
    assert probe["spec"]["jobName"] == PROBE_JOB
    assert probe["spec"]["module"] == "http_2xx"
    assert not [o for o in manifests("staging") if o["kind"] == "Probe"], "staging has no probe"
    rules = find(manifests("production"), "PrometheusRule")["spec"]["groups"]
    probe_rules = next(g for g in rules if g["name"] == "hft-frontend-probe")["rules"]
    for rule in probe_rules:
        promql_parser.parse(rule["expr"])
        assert f'job="{PROBE_JOB}"' in rule["expr"]


def test_a_probe_without_its_exporter_is_refused_with_one_line() -> None:
    with pytest.raises(ProgramError) as error:
        render("production", {"hft-frontend:observability": {"probe": {"enabled": True, "proberUrl": None}}})
    assert "observability.probe.proberUrl" in str(error.value)
    assert "\n" not in str(error.value)
