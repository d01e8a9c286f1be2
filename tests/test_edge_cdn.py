"""EdgeCDN: the zone, its settings, cache and rate limiting rules and DNS records as each stack renders
them; what each rule's expression matches (Cloudflare's engine parses it, a small interpreter runs
it); the plan's limits and the zone's single owner enforced with one line; the Cloudflare policies."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.edge_cdn import record_type
from offline_preview import providers
from offline_preview.engine import ProgramError, Registration, Rendering, run_program
from offline_preview.render import stack_export
from tests.support.cloudflare_rules import Request, matches
from tests.support.policies import evaluate, fired, messages
from tests.support.stacks import (
    DELETE,
    PROJECT_DIR,
    STACKS,
    engine_config,
    from_stack_file,
    render,
    stack_values,
)

ZONE = "cloudflare:index/zone:Zone"
SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
RULESET = "cloudflare:index/ruleset:Ruleset"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"


def of_type(rendering: Rendering, type_: str) -> list[Registration]:
    return rendering.by_type(type_)


def ruleset(rendering: Rendering, phase: str) -> Registration:
    (found,) = [r for r in of_type(rendering, RULESET) if r.inputs["phase"] == phase]
    return found


def stack_outputs(rendering: Rendering) -> dict[str, Any]:
    return next(r for r in rendering.registrations if r.type == "pulumi:pulumi:Stack").outputs


# --- the zone and its settings -----------------------------------------------------------------------


def test_production_owns_the_zone_and_protects_it() -> None:
    rendering = render("production")
    (zone,) = of_type(rendering, ZONE)
    assert (zone.inputs["name"], zone.inputs["type"]) == ("hft-platform.com", "full")
    assert zone.inputs["account"] == {"id": from_stack_file("production").edge.account_id}
    (state,) = [r for r in stack_export(rendering)["deployment"]["resources"] if r["type"] == ZONE]
    assert state["protect"] is True
    outputs = stack_outputs(rendering)
    assert outputs["zoneId"] == zone.id
    assert outputs["nameServers"] == zone.outputs["nameServers"]
    assert all(server.endswith(".ns.cloudflare.com") for server in outputs["nameServers"])


def test_every_zone_setting_has_its_value() -> None:
    rendering = render("production")
    (zone,) = of_type(rendering, ZONE)
    settings = {s.inputs["settingId"]: s.inputs["value"] for s in of_type(rendering, SETTING)}
    assert settings == {
        "ssl": "strict",
        "ssl_automatic_mode": "custom",
        "always_use_https": "on",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "automatic_https_rewrites": "on",
        "opportunistic_encryption": "on",
        "security_level": "medium",
        "browser_check": "on",
        "challenge_ttl": 1800,
        "development_mode": "off",
        "sort_query_string_for_cache": "off",
        "always_online": "off",
        "brotli": "on",
        "websockets": "on",
        "http3": "on",
        "tls_client_auth": "off",
    }
    for setting in of_type(rendering, SETTING):
        assert setting.property_dependencies["zoneId"] == [zone.urn], "each setting belongs to this zone"


def test_authenticated_origin_pulls_is_a_stack_value() -> None:
    rendering = render("production", {"hft-frontend:edge": {"authenticatedOriginPulls": True}})
    assert {s.inputs["settingId"]: s.inputs["value"] for s in of_type(rendering, SETTING)}["tls_client_auth"] == "on"


@pytest.mark.parametrize("stack", STACKS)
def test_no_page_rule_legacy_rate_limit_or_minify_anywhere(stack: str) -> None:
    rendering = render(stack)
    types = {r.type for r in rendering.registrations}
    assert not {"cloudflare:index/pageRule:PageRule", "cloudflare:index/rateLimit:RateLimit"} & types
    assert "minify" not in {s.inputs["settingId"] for s in of_type(rendering, SETTING)}
    assert "minify" not in str(stack_export(rendering))


def test_staging_owns_no_zone_singleton_and_names_the_zone_by_its_id(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing is looked up: an invoke runs at preview time, and would need a Cloudflare token.
    invoked: list[str] = []
    real_call = providers.call
    monkeypatch.setattr(providers, "call", lambda token, args: invoked.append(token) or real_call(token, args))
    rendering = run_program(PROJECT_DIR, "hft-frontend", engine_config("staging", stack_values("staging")))
    assert invoked == []
    assert not of_type(rendering, ZONE)
    assert not of_type(rendering, SETTING)
    assert not of_type(rendering, RULESET)
    (record,) = of_type(rendering, RECORD)
    assert record.inputs["zoneId"] == from_stack_file("staging").edge.zone_id == stack_outputs(rendering)["zoneId"]


def test_a_stack_in_anothers_zone_without_its_id_is_refused(render_stack: Callable[..., Rendering]) -> None:
    with pytest.raises(ProgramError) as error:
        render_stack("staging", {"hft-frontend:edge": {"zoneId": DELETE, "zone": "hft-platform.com"}})
    assert str(error.value) == (
        "Pulumi.staging.yaml: hft-frontend:edge.zoneId: is required where another stack owns the zone "
        "hft-platform.com: the stack names the zone by its id (the zone's Overview page, or the owner's zoneId "
        "output), so its preview looks nothing up"
    )


# --- cache rules --------------------------------------------------------------------------------------


def test_cache_rules_cache_static_assets_a_year_and_never_the_api_in_this_order() -> None:
    static, bypass = ruleset(render("production"), "http_request_cache_settings").inputs["rules"]
    assert static["action"] == bypass["action"] == "set_cache_settings"
    assert static["actionParameters"] == {
        "cache": True,
        "edgeTtl": {"mode": "override_origin", "default": 31536000},
        "browserTtl": {"mode": "override_origin", "default": 31536000},
    }
    assert bypass["actionParameters"] == {"cache": False}
    for host in ("hft-platform.com", "www.hft-platform.com", "staging.hft-platform.com"):
        assert matches(static["expression"], Request("/_next/static/chunks/app.js", host=host))
        assert matches(bypass["expression"], Request("/api/orders", host=host))
    assert not matches(static["expression"], Request("/dashboard"))
    assert not matches(static["expression"], Request("/api/_next/static/x"))
    assert not matches(bypass["expression"], Request("/_next/static/app.js"))
    assert not matches(bypass["expression"], Request("/apiary"))


def test_the_last_matching_cache_rule_wins_so_the_api_bypass_comes_last() -> None:
    rules = ruleset(render("production"), "http_request_cache_settings").inputs["rules"]
    # Cache rules stack and the last match wins: a request both rules match is bypassed.
    both = Request("/api/x")
    winner = [rule for rule in rules if matches(rule["expression"], both)][-1]
    assert winner["actionParameters"] == {"cache": False}


@pytest.mark.parametrize("phase", ["http_request_cache_settings", "http_ratelimit"])
def test_every_edge_rule_is_rendered_enabled(phase: str) -> None:
    # A disabled rule is kept but never runs: the API bypass would cache the API, a rate limit would limit
    # nothing. Each rule says enabled: true itself, not through a default.
    rules = ruleset(render("production"), phase).inputs["rules"]
    assert rules
    assert [rule.get("enabled") for rule in rules] == [True] * len(rules), [rule["ref"] for rule in rules]


def test_only_enabled_cache_rules_decide_so_a_disabled_bypass_would_cache_the_api() -> None:
    rules = ruleset(render("production"), "http_request_cache_settings").inputs["rules"]

    def decision(rules: list[dict[str, Any]], request: Request) -> dict[str, Any] | None:
        applied = [r for r in rules if r.get("enabled") is True and matches(r["expression"], request)]
        return applied[-1]["actionParameters"] if applied else None

    assert decision(rules, Request("/api/x")) == {"cache": False}
    disabled = copy.deepcopy(rules)
    disabled[-1]["enabled"] = False
    assert decision(disabled, Request("/api/x")) is None  # the API would fall to Cloudflare's default caching


# --- rate limiting rules -----------------------------------------------------------------------------------


APP_HOSTS = ("hft-platform.com", "www.hft-platform.com", "staging.hft-platform.com")
# The zone's other hosts (the trading platform's own services): never the app's limits.
OTHER_HOSTS = ("api.hft-platform.com", "ws.hft-platform.com", "engine.hft-platform.com")


def test_the_rate_limits_carry_the_seeds_per_client_limits_on_the_apps_hosts_only() -> None:
    rules = {r["ref"]: r for r in ruleset(render("production"), "http_ratelimit").inputs["rules"]}
    assert list(rules) == ["api", "general"]
    for rule in rules.values():
        assert rule["action"] == "block"
        assert rule["ratelimit"]["characteristics"] == ["ip.src", "cf.colo.id"]  # per client IP and data centre
        assert (rule["ratelimit"]["period"], rule["ratelimit"]["mitigationTimeout"]) == (60, 60)
    assert rules["api"]["ratelimit"]["requestsPerPeriod"] == 100
    assert rules["general"]["ratelimit"]["requestsPerPeriod"] == 1000
    # What the edge serves from its cache is not counted by the general rule; every /api/ request is.
    assert rules["general"]["ratelimit"]["requestsToOrigin"] is True
    assert rules["api"]["ratelimit"]["requestsToOrigin"] is False

    api, general = rules["api"]["expression"], rules["general"]["expression"]
    for host in APP_HOSTS:  # production's hosts, and staging's from its stack file
        assert matches(api, Request("/api/orders", "PATCH", host=host))
        assert not matches(api, Request("/markets", host=host))
        assert matches(general, Request("/markets", host=host))
        assert matches(general, Request("/ws", host=host))
        assert not matches(general, Request("/api/orders", host=host))
    for host in OTHER_HOSTS:
        assert not matches(api, Request("/api/orders", "POST", host=host))
        assert not matches(general, Request("/ws", host=host))


def test_the_owner_covers_the_hosts_of_every_stack_in_its_zone(render_stack: Callable[..., Rendering]) -> None:
    # A third stack file in the zone: the owner's rules cover its hosts too.
    rendering = render_stack(
        "production",
        {"hft-frontend:app": {"hostnames": ["hft-platform.com", "trade.hft-platform.com"]}},
    )
    (rule, *_) = ruleset(rendering, "http_ratelimit").inputs["rules"]
    assert matches(rule["expression"], Request("/api/x", host="trade.hft-platform.com"))
    assert matches(rule["expression"], Request("/api/x", host="staging.hft-platform.com"))  # the sibling's
    assert not matches(rule["expression"], Request("/api/x", host="www.hft-platform.com"))  # no longer listed


# --- DNS ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_each_host_gets_a_proxied_record_pointing_at_the_routing_address(stack: str) -> None:
    rendering = render(stack)
    records = {r.inputs["name"]: r.inputs for r in of_type(rendering, RECORD)}
    assert sorted(records) == sorted(from_stack_file(stack).app.hostnames)
    origin = stack_outputs(rendering)["originAddress"]
    for record in records.values():
        assert (record["type"], record["content"], record["proxied"], record["ttl"]) == ("CNAME", origin, True, 1)


@pytest.mark.parametrize(
    ("origin", "kind"), [("203.0.113.10", "A"), ("2001:db8::10", "AAAA"), ("lb.example.net", "CNAME")]
)
def test_an_origin_the_stack_gives_sets_the_record_type(origin: str, kind: str) -> None:
    rendering = render("staging", {"hft-frontend:edge": {"origin": origin}})
    (record,) = of_type(rendering, RECORD)
    assert (record.inputs["type"], record.inputs["content"]) == (kind, origin)
    assert record_type(origin) == kind


# --- bad values -------------------------------------------------------------------------------------------------

RULE = {
    "ref": "probe",
    "description": "d",
    "expression": 'starts_with(http.request.uri.path, "/api/")',
    "period": 60,
    "requestsPerPeriod": 10,
    "mitigationTimeout": 60,
}


def _rule(**changes: Any) -> dict[str, Any]:
    return {"hft-frontend:edge": {"rateLimits": [{**RULE, **changes}]}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            _rule(expression='starts_with(http.request.uri.path, "/api/"'),
            "hft-frontend:edge.rateLimits[0].expression",
        ),
        (_rule(expression='http.request.nope eq "x"'), "unknown identifier"),
        (
            _rule(period=120),
            "hft-frontend:edge.rateLimits[0].period = 120: the period not available on the business plan "
            "(allowed: 10, 60, 600)",
        ),
        (
            _rule(mitigationTimeout=120),
            "hft-frontend:edge.rateLimits[0].mitigationTimeout = 120: the timeout not available",
        ),
        (
            _rule(action="log"),
            'hft-frontend:edge.rateLimits[0].action = "log": the action not available on the business plan',
        ),
        (
            _rule(action="managed_challenge"),
            "mitigationTimeout = 60: the timeout not available on the business plan (allowed: 0)",
        ),
        (_rule(characteristics=['http.request.headers["x"]', "cf.colo.id"]), "characteristics"),
        (_rule(characteristics=["ip.src"]), "must include cf.colo.id"),
        (
            {
                "hft-frontend:edge": {
                    "plan": "pro",
                    "rateLimits": [{**RULE, "ref": f"r{n}", "requestsPerPeriod": 10 * n} for n in (1, 2, 3)],
                }
            },
            "hft-frontend:edge.rateLimits: 3 rules; the pro plan allows 2",
        ),
        (
            {
                "hft-frontend:edge": {
                    "plan": "free",
                    "rateLimits": [
                        {**RULE, "period": 10, "mitigationTimeout": 10, "expression": 'http.request.method eq "GET"'}
                    ],
                }
            },
            "hft-frontend:edge.rateLimits: the free plan's rules cannot name a host (http.host), so they would "
            "apply to every host of the zone",
        ),
        (
            {"hft-frontend:edge": {"origin": "not an address"}},
            'hft-frontend:edge.origin = "not an address": not an IP address or a DNS name',
        ),
        ({"hft-frontend:edge": {"ownsZone": True, "accountId": "abc"}}, "not a Cloudflare account id"),
    ],
)
def test_bad_edge_values_fail_with_one_line(
    render_stack: Callable[..., Rendering], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProgramError) as error:
        render_stack("production", overrides)  # the zone's owner: the only stack its rules apply to
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_two_stacks_owning_the_zone_are_refused(render_stack: Callable[..., Rendering]) -> None:
    overrides = {
        "hft-frontend:edge": {"ownsZone": True, "accountId": "0123456789abcdef0123456789abcdef", "zoneId": DELETE}
    }
    with pytest.raises(ProgramError) as error:
        render_stack("staging", overrides)
    assert str(error.value) == (
        "Pulumi.staging.yaml: hft-frontend:edge.ownsZone: zone hft-platform.com: its zone settings and entrypoint "
        "rulesets is owned by the stack 'production' (Pulumi.production.yaml: edge.ownsZone); exactly one stack "
        "may own it"
    )


def test_origin_validation_needs_the_zone_to_send_cloudflares_certificate(
    render_stack: Callable[..., Rendering],
) -> None:
    overrides = {"hft-frontend:routing": {"originLock": {"authenticatedOriginPulls": True}}}
    with pytest.raises(ProgramError) as error:
        render_stack("production", overrides)
    assert "hft-frontend:routing.originLock.authenticatedOriginPulls" in str(error.value)
    both = {**overrides, "hft-frontend:edge": {"authenticatedOriginPulls": True}}
    assert render_stack("production", both).by_type(ZONE)


def test_the_account_id_may_be_a_secret(render_stack: Callable[..., Rendering]) -> None:
    from tests.support.stacks import Secret, secret_plaintexts

    account = "fedcba9876543210fedcba9876543210"
    rendering = render_stack("production", {"hft-frontend:edge": {"accountId": Secret(account)}})
    assert account in secret_plaintexts(rendering)
    assert account not in str(stack_export(rendering))


# --- the policies ---------------------------------------------------------------------------------------------


def rendered_ruleset(phase: str) -> Registration:
    return copy.deepcopy(ruleset(render("production"), phase))


def test_the_programs_rulesets_pass() -> None:
    assert evaluate(rendered_ruleset("http_ratelimit"), rendered_ruleset("http_request_cache_settings")) == []


def test_a_ruleset_whose_expression_does_not_parse_fails() -> None:
    broken = rendered_ruleset("http_request_cache_settings")
    broken.inputs["rules"][1]["expression"] = 'starts_with(http.request.uri.path, "/api/"'
    violations = fired(evaluate(broken), "cloudflare-ruleset-expressions-parse")
    assert [v.enforcement_level for v in violations] == ["mandatory"]
    assert 'rules[1] ("api-bypass"): the expression does not parse' in violations[0].message


@pytest.mark.parametrize(
    ("expression", "config", "fires"),
    [
        ('starts_with(http.request.uri.path, "/api/")', None, True),
        ('http.host eq "hft-platform.com" and starts_with(http.request.uri.path, "/api/")', None, True),
        ('http.host eq "staging.hft-platform.com" and starts_with(http.request.uri.path, "/api/")', None, True),
        (
            'http.host eq "staging.hft-platform.com" and starts_with(http.request.uri.path, "/api/")',
            {"cloudflare-rate-limit-not-log-only": {"nonProductionHosts": ["staging.hft-platform.com"]}},
            False,
        ),
        (
            'http.host eq "staging.hft-platform.com" or starts_with(http.request.uri.path, "/api/")',
            {"cloudflare-rate-limit-not-log-only": {"nonProductionHosts": ["staging.hft-platform.com"]}},
            True,
        ),
    ],
)
def test_a_log_only_rate_limit_on_a_production_host_fails(
    expression: str, config: dict[str, Any] | None, fires: bool
) -> None:
    rules = rendered_ruleset("http_ratelimit")
    rules.inputs["rules"][0]["action"] = "log"
    rules.inputs["rules"][0]["expression"] = expression
    found = fired(evaluate(rules, config=config), "cloudflare-rate-limit-not-log-only")
    assert bool(found) is fires
    if fires:
        assert found[0].enforcement_level == "mandatory"
        assert 'rules[0] ("api") only logs' in found[0].message


def test_a_blocking_rule_passes_whatever_its_hosts() -> None:
    assert "only logs" not in messages(
        evaluate(rendered_ruleset("http_ratelimit")), "cloudflare-rate-limit-not-log-only"
    )


LEFT_OUT = object()


@pytest.mark.parametrize("phase", ["http_ratelimit", "http_request_cache_settings"])
@pytest.mark.parametrize(
    ("enabled", "config", "fires"),
    [
        (False, None, True),
        (True, None, False),
        (LEFT_OUT, None, False),  # Cloudflare's default runs the rule
        (False, {"cloudflare-edge-rules-enabled": {"nonProductionHosts": ["staging.hft-platform.com"]}}, True),
    ],
)
def test_a_disabled_edge_rule_on_a_production_host_fails(
    phase: str, enabled: Any, config: dict[str, Any] | None, fires: bool
) -> None:
    rules = rendered_ruleset(phase)
    if enabled is LEFT_OUT:
        del rules.inputs["rules"][0]["enabled"]
    else:
        rules.inputs["rules"][0]["enabled"] = enabled
    found = fired(evaluate(rules, config=config), "cloudflare-edge-rules-enabled")
    assert bool(found) is fires
    if fires:
        assert found[0].enforcement_level == "mandatory"
        assert "rules[0]" in found[0].message
        assert "enabled: false" in found[0].message


def test_a_disabled_edge_rule_only_on_non_production_hosts_passes() -> None:
    rules = rendered_ruleset("http_ratelimit")
    rules.inputs["rules"][0]["enabled"] = False
    rules.inputs["rules"][0]["expression"] = 'http.host eq "staging.hft-platform.com" and http.request.uri.path eq "/"'
    config = {"cloudflare-edge-rules-enabled": {"nonProductionHosts": ["staging.hft-platform.com"]}}
    assert not fired(evaluate(rules, config=config), "cloudflare-edge-rules-enabled")
    rules.inputs["rules"][0]["expression"] = 'http.host eq "staging.hft-platform.com" or http.request.uri.path eq "/"'
    assert fired(evaluate(rules, config=config), "cloudflare-edge-rules-enabled")


def test_an_enterprise_owner_sets_the_proxy_read_timeout_its_routes_need(
    render_stack: Callable[..., Rendering],
) -> None:
    overrides = {
        "hft-frontend:edge": {"plan": "enterprise", "proxyReadTimeout": 600},
        "hft-frontend:routing": {"requestTimeout": "600s"},
    }
    settings = {
        s.inputs["settingId"]: s.inputs["value"] for s in of_type(render_stack("production", overrides), SETTING)
    }
    assert settings["proxy_read_timeout"] == 600
    assert "proxy_read_timeout" not in {s.inputs["settingId"] for s in of_type(render("production"), SETTING)}


# --- where DNS points while the live system is adopted ------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_while_adopting_the_records_keep_their_live_content(stack: str) -> None:
    records = render(stack).by_type("cloudflare:index/dnsRecord:DnsRecord")
    assert records, "the stack renders its hosts' records"
    assert all(r.ignore_changes == ["content"] for r in records)


def test_the_flip_points_the_records_at_the_gateway() -> None:
    flipped = render("production", {"hft-frontend:edge": {"dns": {"pointAt": "gateway"}}})
    records = flipped.by_type("cloudflare:index/dnsRecord:DnsRecord")
    assert records
    assert all(r.ignore_changes == [] for r in records)  # the routing's address applies on the next up


def test_an_unknown_dns_target_is_refused_with_one_line() -> None:
    with pytest.raises(ProgramError) as error:
        render("production", {"hft-frontend:edge": {"dns": {"pointAt": "origin"}}})
    assert "edge.dns.pointAt" in str(error.value)
    assert "\n" not in str(error.value)
