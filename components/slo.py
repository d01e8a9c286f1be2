"""SLOs as code: the SLIs, Sloth-named recording rules and the multiwindow, multi-burn-rate alerts.

Names and labels follow Sloth's generated rules (slok/sloth, `internal/prometheus/recording_rules.go` and
`alert_rules.go`, v0.11: `slo:sli_error:ratio_rate<window>`, `slo:objective:ratio`, `slo:error_budget:ratio`,
`slo:time_period:days`, `slo:current_burn_rate:ratio`, `slo:period_burn_rate:ratio`,
`slo:period_error_budget_remaining:ratio`, `sloth_slo_info`, labels `sloth_id`, `sloth_service`, `sloth_slo`,
and `sloth_window` on the SLI series), so Sloth's Grafana dashboards read them. One deliberate departure: every
window's error ratio is a ratio of summed rates over that window (weighted by requests), where Sloth averages
the 5-minute ratios over the long windows, which gives a quiet night's minutes the weight of the open's.

The alerts are the SRE workbook's ("Alerting on SLOs", table 5-8), as Sloth writes them: each pair of windows
ANDed, no `for` (the short window resets them):

    critical (page):   1h and 5m above 14.4 x the budget rate,  or  6h and 30m above 6 x
    warning (ticket):  1d and 2h above 3 x,                     or  3d and 6h above 1 x

14.4 x over an hour spends 2 % of a 30-day budget; a shorter spike spends less and pages nobody. No traffic
is a ratio of 0/0 (NaN), which compares false: it pages nobody, and `FrontendSLINoData` says the SLI is gone.
Thresholds are decimal literals computed exactly (objective and factor as decimals), so promtool and Prometheus
compare against the intended value, not against a product rounded in floating point.

Every query is a pure function of the SLO and the matchers of the series to judge, so the canary analysis
(components/delivery.py) judges the canary's pods with the same SLI definition (`error_ratio`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from components.settings.observability import SloSettings

SERVICE = "hft-frontend"  # sloth_service
PERIOD_DAYS = 30
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
ALERT = "FrontendErrorBudgetBurn"
NO_DATA_ALERT = "FrontendSLINoData"
NO_DATA_WINDOW = "15m"


@dataclass(frozen=True)
class BurnWindow:
    severity: str
    long: str
    short: str
    factor: Decimal


BURN_WINDOWS = (
    BurnWindow("critical", "1h", "5m", Decimal("14.4")),
    BurnWindow("critical", "6h", "30m", Decimal("6")),
    BurnWindow("warning", "1d", "2h", Decimal("3")),
    BurnWindow("warning", "3d", "6h", Decimal("1")),
)


def error_budget(slo: SloSettings) -> Decimal:
    return 1 - slo.objective


def threshold(slo: SloSettings, factor: Decimal) -> str:
    """The error ratio above which `factor` x the budget rate burns, as an exact decimal literal."""
    return format((error_budget(slo) * factor).normalize(), "f")


def sloth_id(slo: SloSettings) -> str:
    return f"{SERVICE}-{slo.name}"


def sloth_labels(slo: SloSettings) -> dict[str, str]:
    return {"sloth_id": sloth_id(slo), "sloth_service": SERVICE, "sloth_slo": slo.name}


def _le(seconds: float) -> str:
    """A bucket boundary as prom-client writes the `le` label (JavaScript's number formatting: 0.5, 1, 2.5)."""
    return f"{seconds:g}"


def error_ratio(slo: SloSettings, matchers: str, window: str) -> str:
    """The SLI's error ratio over `window` for the series `matchers` select: bad requests / all requests."""
    if slo.name == "availability":
        bad = f'sum(rate(http_requests_total{{{matchers}, status=~"5.."}}[{window}]))'
        total = f"sum(rate(http_requests_total{{{matchers}}}[{window}]))"
        return f"({bad}\n/\n{total})"
    assert slo.threshold_seconds is not None  # the settings require it
    total = f"sum(rate(http_request_duration_seconds_count{{{matchers}}}[{window}]))"
    fast = f'sum(rate(http_request_duration_seconds_bucket{{{matchers}, le="{_le(slo.threshold_seconds)}"}}[{window}]))'
    return f"(({total} - {fast})\n/\n{total})"


def _selector(slo: SloSettings) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in sloth_labels(slo).items())


def recording_rules(slo: SloSettings, matchers: str) -> list[dict[str, Any]]:
    labels = sloth_labels(slo)
    on = "on (sloth_id, sloth_service, sloth_slo) group_left ()"
    selector = _selector(slo)
    rules: list[dict[str, Any]] = [
        {
            "record": f"slo:sli_error:ratio_rate{window}",
            "expr": error_ratio(slo, matchers, window),
            "labels": {**labels, "sloth_window": window},
        }
        for window in WINDOWS
    ]
    rules += [
        {"record": "slo:objective:ratio", "expr": f"vector({format(slo.objective, 'f')})", "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector({format(error_budget(slo), 'f')})", "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({PERIOD_DAYS})", "labels": labels},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate5m{{{selector}}}\n/ {on}\nslo:error_budget:ratio{{{selector}}}",
            "labels": labels,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate30d{{{selector}}}\n/ {on}\nslo:error_budget:ratio{{{selector}}}",
            "labels": labels,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{{{selector}}}",
            "labels": labels,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {
                **labels,
                "sloth_mode": "cli-gen-prom",
                "sloth_objective": format(slo.objective * 100, "f"),
                "sloth_spec": "prometheus/v1",
                "sloth_version": "hft-frontend",
            },
        },
    ]
    return rules


def _pair(slo: SloSettings, burn: BurnWindow) -> str:
    selector, limit = _selector(slo), threshold(slo, burn.factor)
    # `max without (sloth_window)`, as Sloth writes it: the two windows' series then match for `and`, and the
    # pairs' for `or`, so one burn is one alert.
    return (
        f"(max without (sloth_window) (slo:sli_error:ratio_rate{burn.long}{{{selector}}} > {limit})\n"
        f"and\nmax without (sloth_window) (slo:sli_error:ratio_rate{burn.short}{{{selector}}} > {limit}))"
    )


def burn_alerts(slo: SloSettings, runbook_base_url: str) -> list[dict[str, Any]]:
    """`FrontendErrorBudgetBurn` at each severity: its window pairs ORed, no `for`."""
    alerts = []
    for severity in ("critical", "warning"):
        pairs = [b for b in BURN_WINDOWS if b.severity == severity]
        action = "pages" if severity == "critical" else "opens a ticket"
        factors = " or ".join(f"{b.long}/{b.short} above {b.factor}x" for b in pairs)
        alerts.append(
            {
                "alert": ALERT,
                "expr": "\nor\n".join(_pair(slo, b) for b in pairs),
                "labels": {"severity": severity, "slo": slo.name, **sloth_labels(slo)},
                "annotations": {
                    "summary": f"The {slo.name} SLO's error budget is burning fast ({severity})",
                    "description": f"The {slo.name} SLO ({format(slo.objective * 100, 'f')} % over {PERIOD_DAYS} "
                    f"days) burns its error budget at {factors} the sustainable rate; this {action}.",
                    "runbook_url": f"{runbook_base_url.rstrip('/')}/{ALERT.lower()}",
                },
            }
        )
    return alerts


def no_data_alert(matchers: str, runbook_base_url: str) -> dict[str, Any]:
    """The SLIs' requests series are gone (scrape broken, metrics renamed): the burn alerts cannot fire."""
    return {
        "alert": NO_DATA_ALERT,
        "expr": f"absent_over_time(http_requests_total{{{matchers}}}[{NO_DATA_WINDOW}])",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "The SLOs have no data",
            "description": f"No http_requests_total series of the app for {NO_DATA_WINDOW}: the error-budget alerts "
            "cannot fire. Check the ServiceMonitor's targets in Prometheus.",
            "runbook_url": f"{runbook_base_url.rstrip('/')}/{NO_DATA_ALERT.lower()}",
        },
    }


def slo_rule_groups(slos: Sequence[SloSettings], matchers: str, runbook_base_url: str) -> list[dict[str, Any]]:
    """A recording group per SLO (Sloth's layout) and one alerting group."""
    if not slos:
        return []
    groups: list[dict[str, Any]] = [
        {"name": f"sloth-slo-sli-recordings-{sloth_id(slo)}", "rules": recording_rules(slo, matchers)} for slo in slos
    ]
    alerts = [alert for slo in slos for alert in burn_alerts(slo, runbook_base_url)]
    alerts.append(no_data_alert(matchers, runbook_base_url))
    groups.append({"name": f"sloth-slo-alerts-{SERVICE}", "rules": alerts})
    return groups


def dashboard_targets(slos: Sequence[SloSettings]) -> dict[str, list[tuple[str, str]]]:
    """The dashboard's SLO panels: the budget left over the period, and the burn rate now."""
    remaining = [
        (f"slo:period_error_budget_remaining:ratio{{{_selector(slo)}}}", f"{slo.name} budget left") for slo in slos
    ]
    burn = [(f"slo:current_burn_rate:ratio{{{_selector(slo)}}}", f"{slo.name} burn rate") for slo in slos]
    return {"remaining": remaining, "burn": burn}
