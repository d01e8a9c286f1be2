"""The edge's limits as the settings enforce them: rate limiting rules scoped to the app's hosts, a rule
another rule shadows refused, what each plan counts by; each rule on both sides of its boundary."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.rule_expressions import hosts_named, implies, scoped
from components.settings import SettingsError, parse_settings
from components.settings.edge import SEED_RATE_LIMITS, RateLimitRule, shadowing_rule
from components.settings.loader import zone_siblings
from components.settings.stack import ZoneSibling
from tests.support.cloudflare_rules import Request, matches
from tests.support.stacks import MINIMAL_APP

API = 'starts_with(http.request.uri.path, "/api/")'
WRITES = f'{API} and http.request.method in {{"GET" "POST" "PUT" "DELETE"}}'
RULE = {
    "ref": "r",
    "description": "d",
    "expression": API,
    "period": 60,
    "requestsPerPeriod": 100,
    "mitigationTimeout": 60,
}


def _owner(rules: list[dict[str, Any]], **edge: Any) -> dict[str, Any]:
    return {
        "environment": "qa",
        "namespace": "qa",
        "app": copy.deepcopy(MINIMAL_APP),
        "edge": {"ownsZone": True, "accountId": "0" * 32, "rateLimits": rules, **edge},
    }


def _rule(ref: str, **changes: Any) -> dict[str, Any]:
    return {**RULE, "ref": ref, **changes}


def _refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        parse_settings(raw)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


# --- what implies what ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("narrow", "broad", "expected"),
    [
        (WRITES, API, True),
        (API, WRITES, False),  # a PATCH to /api/ is not a write of the list
        (API, API, True),
        ('starts_with(http.request.uri.path, "/api/v1/")', API, True),
        (API, 'starts_with(http.request.uri.path, "/api/v1/")', False),
        ('http.request.uri.path eq "/api/"', API, True),
        ('not starts_with(http.request.uri.path, "/api/")', API, False),
        (f"not ({API})", f"not ({API}) or {API}", True),
        ('ends_with(http.request.uri.path, ".js")', 'starts_with(http.request.uri.path, "/_next/")', False),
        (
            'starts_with(http.request.uri.path, "/a") and ends_with(http.request.uri.path, ".js")',
            'ends_with(http.request.uri.path, "s")',
            True,
        ),
        ('http.request.method ne "GET"', 'http.request.method in {"POST"}', False),
        # Outside what the evaluator reads: never a guess.
        ("cf.client.bot", API, None),
        ("ip.src in {192.0.2.0/24}", API, None),
    ],
)
def test_implies_decides_inclusion_of_what_the_rules_use(narrow: str, broad: str, expected: bool | None) -> None:
    assert implies(narrow, broad) is expected


def test_scoping_limits_an_expression_to_the_hosts_whatever_its_own_operators() -> None:
    expression = scoped(f'{API} or http.request.uri.path eq "/login"', ["b.example.com", "a.example.com"])
    assert expression.startswith('http.host in {"a.example.com" "b.example.com"} and (')
    assert matches(expression, Request("/login", host="a.example.com"))
    assert not matches(expression, Request("/login", host="c.example.com"))  # the `or` stays inside
    assert hosts_named(expression) == {"a.example.com", "b.example.com"}


# --- shadowed rules -----------------------------------------------------------------------------------------


def test_the_seeds_terraform_limit_is_shadowed_by_the_api_rule() -> None:
    terraform = _rule("api-write-methods", expression=WRITES, requestsPerPeriod=1000)
    _refused(
        _owner([terraform, _rule("api")]),
        'hft-frontend:edge.rateLimits[0] = "api-write-methods": never acts: rateLimits[1] (api) matches every '
        "request it matches, counts them the same way and acts at 100 per 60 s, no later than this rule's 1000",
    )
    _refused(_owner([_rule("api"), terraform]), 'hft-frontend:edge.rateLimits[1] = "api-write-methods": never acts')


def test_the_defaults_shadow_nothing() -> None:
    assert [shadowing_rule(SEED_RATE_LIMITS, i) for i in range(len(SEED_RATE_LIMITS))] == [None, None]


@pytest.mark.parametrize(
    "narrow",
    [
        pytest.param({"requestsPerPeriod": 99}, id="a-lower-limit-acts-first"),
        pytest.param({"period": 10, "mitigationTimeout": 60}, id="another-period"),
        pytest.param({"mitigationTimeout": 3600}, id="a-longer-timeout"),
        pytest.param({"characteristics": ["cf.unique_visitor_id", "cf.colo.id"]}, id="other-characteristics"),
        pytest.param({"action": "managed_challenge", "mitigationTimeout": 0}, id="another-action"),
        pytest.param(
            {"expression": 'starts_with(http.request.uri.path, "/")', "requestsPerPeriod": 1000},
            id="a-broader-expression",
        ),
    ],
)
def test_a_rule_that_can_act_first_is_not_shadowed(narrow: dict[str, Any]) -> None:
    parse_settings(_owner([_rule("api"), _rule("narrow", **{"expression": WRITES, **narrow})]))


def test_a_broad_rule_counting_only_the_origin_does_not_shadow_one_counting_the_cache() -> None:
    origin_only = _rule("api", requestsToOrigin=True)
    parse_settings(_owner([origin_only, _rule("all", expression=WRITES, requestsPerPeriod=1000)]))
    _refused(
        _owner([_rule("api"), _rule("origin", expression=WRITES, requestsPerPeriod=1000, requestsToOrigin=True)]),
        'rateLimits[1] = "origin": never acts',
    )


def test_of_two_identical_rules_the_second_is_refused() -> None:
    _refused(_owner([_rule("one"), _rule("two")]), 'hft-frontend:edge.rateLimits[1] = "two": never acts')


# --- counting -------------------------------------------------------------------------------------------------


def test_ip_with_nat_support_is_a_business_characteristic() -> None:
    nat = _rule("nat", characteristics=["cf.unique_visitor_id", "cf.colo.id"])
    parse_settings(_owner([nat]))
    _refused(
        _owner([nat], plan="pro"),
        'hft-frontend:edge.rateLimits[0].characteristics = "cf.unique_visitor_id": counting by not available on '
        "the pro plan",
    )
    _refused(
        _owner([_rule("both", characteristics=["ip.src", "cf.unique_visitor_id", "cf.colo.id"])]),
        "cannot be combined",
    )


def test_the_general_rule_counts_only_what_reaches_the_origin() -> None:
    general = next(rule for rule in SEED_RATE_LIMITS if rule.ref == "general")
    assert general.requests_to_origin is True
    assert RateLimitRule.model_validate(RULE).requests_to_origin is False  # Cloudflare's default: cached too


# --- the app's hosts ------------------------------------------------------------------------------------------


def test_a_plan_whose_rules_cannot_name_a_host_gets_no_rules() -> None:
    free = _rule("f", period=10, mitigationTimeout=10)
    _refused(_owner([free], plan="free"), "hft-frontend:edge.rateLimits: the free plan's rules cannot name a host")
    parse_settings(_owner([], plan="free"))


def test_a_rule_may_name_only_the_apps_hosts() -> None:
    mine = _rule("mine", expression=f'http.host eq "new.hft-platform.com" and {API}')
    settings = parse_settings(_owner([mine]))
    assert settings.rule_hostnames == ("new.hft-platform.com",)
    _refused(
        _owner(
            [_rule("theirs", expression=f'http.host in {{"new.hft-platform.com" "api.hft-platform.com"}} and {API}')]
        ),
        "hft-frontend:edge.rateLimits[0].expression = ",
    )
    _refused(
        _owner([_rule("theirs", expression=f'http.host eq "api.hft-platform.com" and {API}')]),
        "names api.hft-platform.com, not a host of this app in any stack of the zone (new.hft-platform.com)",
    )
    # A sibling stack's host in the same zone is the app's too.
    siblings = (ZoneSibling("hft-platform.com", ("api.hft-platform.com",)),)
    theirs = _owner([_rule("theirs", expression=f'http.host eq "api.hft-platform.com" and {API}')])
    assert parse_settings(theirs, zone_siblings=siblings).rule_hostnames == (
        "api.hft-platform.com",
        "new.hft-platform.com",
    )
    assert parse_settings(
        theirs | {"edge": {**theirs["edge"], "rateLimits": []}},
        zone_siblings=(ZoneSibling("example.com", ("a.example.com",)),),
    ).rule_hostnames == ("new.hft-platform.com",)


def test_the_sibling_stacks_hosts_come_from_their_files_in_the_same_zone(tmp_path: Path) -> None:
    def stack_file(name: str, config: dict[str, Any]) -> None:
        (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))

    stack_file("qa", {"hft-frontend:app": {"hostnames": ["mine.hft-platform.com"]}})
    stack_file("staging", {"hft-frontend:app": {"hostnames": ["staging.hft-platform.com"]}})
    owner = {"ownsZone": True, "plan": "enterprise", "proxyReadTimeout": 300}
    stack_file("production", {"hft-frontend:app": {"hostnames": ["hft-platform.com"]}, "hft-frontend:edge": owner})
    stack_file(
        "other",
        {"hft-frontend:app": {"hostnames": ["a.example.com"]}, "hft-frontend:edge": {"zone": "example.com"}},
    )
    stack_file(
        "off", {"hft-frontend:app": {"hostnames": ["off.hft-platform.com"]}, "hft-frontend:edge": {"enabled": False}}
    )
    stack_file("broken", {"hft-frontend:app": "not a mapping"})
    (tmp_path / "Pulumi.bad.yaml").write_text("config: [")
    assert sorted(zone_siblings("qa", tmp_path), key=lambda s: s.hostnames) == [
        ZoneSibling("example.com", ("a.example.com",)),
        ZoneSibling(
            "hft-platform.com", ("hft-platform.com",), owns_zone=True, plan="enterprise", proxy_read_timeout=300
        ),
        ZoneSibling("hft-platform.com", ("staging.hft-platform.com",)),
    ]


# --- timeouts Cloudflare honours ------------------------------------------------------------------------------


def _timeout(timeout: str, **edge: Any) -> dict[str, Any]:
    return _owner([], **edge) | {"routing": {"requestTimeout": timeout}}


def test_a_request_timeout_above_cloudflares_proxy_read_timeout_is_refused() -> None:
    parse_settings(_timeout("100s"))
    parse_settings(_timeout("1m40s"))
    _refused(
        _timeout("101s"),
        'hft-frontend:routing.requestTimeout = "101s": longer than the zone\'s proxy read timeout (100 s), after '
        "which Cloudflare answers 524 to a silent response",
    )
    _refused(_timeout("600s", plan="enterprise"), "(100 s)")  # Enterprise, but the zone setting left at 100


def test_enterprise_raises_the_ceiling_with_the_zone_setting() -> None:
    parse_settings(_timeout("600s", plan="enterprise", proxyReadTimeout=600))
    _refused(_timeout("601s", plan="enterprise", proxyReadTimeout=600), "(600 s)")
    _refused(
        _timeout("100s", proxyReadTimeout=600),
        "hft-frontend:edge.proxyReadTimeout = 600: only Enterprise zones can change the proxy read timeout",
    )


def test_a_stack_in_the_owners_zone_gets_the_owners_ceiling() -> None:
    raw = {
        "environment": "qa",
        "namespace": "qa",
        "app": copy.deepcopy(MINIMAL_APP),
        "edge": {"zoneId": "0" * 32},
        "routing": {"requestTimeout": "300s"},
    }
    _refused(raw, "(100 s)")
    owner = ZoneSibling("hft-platform.com", ("hft-platform.com",), owns_zone=True, plan="enterprise")
    with pytest.raises(SettingsError):
        parse_settings(raw, zone_siblings=(owner,))  # Enterprise, but no proxyReadTimeout
    raised = ZoneSibling("hft-platform.com", (), owns_zone=True, plan="enterprise", proxy_read_timeout=300)
    parse_settings(raw, zone_siblings=(raised,))
    business = ZoneSibling("hft-platform.com", (), owns_zone=True, plan="business", proxy_read_timeout=300)
    with pytest.raises(SettingsError):
        parse_settings(raw, zone_siblings=(business,))  # below Enterprise Cloudflare keeps 100 s
    not_owner = ZoneSibling("hft-platform.com", (), owns_zone=False, plan="enterprise", proxy_read_timeout=300)
    with pytest.raises(SettingsError):
        parse_settings(raw, zone_siblings=(not_owner,))  # only the owner's zone settings apply
    elsewhere = ZoneSibling("example.com", (), owns_zone=True, plan="enterprise", proxy_read_timeout=300)
    with pytest.raises(SettingsError):
        parse_settings(raw, zone_siblings=(elsewhere,))
    parse_settings(raw | {"edge": {"enabled": False}})  # no edge in front: no Cloudflare ceiling


# --- the zone by its id ------------------------------------------------------------------------------------


def test_a_stack_in_anothers_zone_names_it_by_id() -> None:
    raw = {"environment": "qa", "namespace": "qa", "app": copy.deepcopy(MINIMAL_APP)}
    _refused(raw, "hft-frontend:edge.zoneId: is required where another stack owns the zone hft-platform.com")
    assert parse_settings(raw | {"edge": {"zoneId": "a" * 32}}).edge.zone_id == "a" * 32
    _refused(raw | {"edge": {"zoneId": "A" * 32}}, "not a Cloudflare zone id")
    _refused(_owner([], zoneId="a" * 32), "the owner creates the zone (ownsZone: true): its id is an output")
    parse_settings(raw | {"edge": {"enabled": False}})


# --- prerequisites -------------------------------------------------------------------------------------------


def _gateway(**gateway: Any) -> dict[str, Any]:
    return _owner([]) | {"routing": {"gateway": gateway}}


def test_envoy_gateway_crds_older_than_a_rendered_field_are_refused() -> None:
    parse_settings(_gateway(envoyGatewayVersion="v1.8.0"))
    _refused(
        _gateway(envoyGatewayVersion="v1.7.5"),
        'hft-frontend:routing.gateway.envoyGatewayVersion = "v1.7.5": too old: the program renders '
        "BackendTrafficPolicy spec.timeout.http.streamIdleTimeout, which Envoy Gateway's CRDs have from v1.8.0",
    )
    _refused(_gateway(envoyGatewayVersion="1.9.0"), "String should match pattern")
    # Another implementation renders no Envoy Gateway resource.
    parse_settings(_gateway(envoyGatewayVersion="v1.7.5", implementation="istio"))
