"""`edge`: the Cloudflare edge (EdgeCDN), and what each Cloudflare plan allows in rate limiting rules."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import Field, model_validator

from components.settings.base import DnsLabel, DnsName, MaybeSecretValue, RuleError, _check_dns_name, _Model


@dataclass(frozen=True)
class CloudflarePlan:
    """What a Cloudflare plan allows in rate limiting rules. Cloudflare's docs ("Rate limiting rules:
    availability", developers.cloudflare.com/waf/rate-limiting-rules/#availability, and its
    `parameters` page) have said more than one thing over 2025-2026; these are the values every
    version allows, so a rule accepted here is accepted by the API."""

    max_rules: int
    periods: frozenset[int]  # counting periods, seconds
    timeouts: frozenset[int]  # mitigation timeouts, seconds
    fields: frozenset[str] | None  # usable in a rule's expression; None: every field of the scheme
    characteristics: frozenset[str]  # besides cf.colo.id, which every rule must count by
    actions: frozenset[str]


_PATH_FIELDS = frozenset({"http.request.uri.path", "cf.client.bot"})
_URI_FIELDS = _PATH_FIELDS | {"http.host", "http.request.uri", "http.request.full_uri", "http.request.uri.query"}
_CHALLENGES = frozenset({"challenge", "js_challenge", "managed_challenge"})
CLOUDFLARE_PLANS: dict[str, CloudflarePlan] = {
    "free": CloudflarePlan(
        1, frozenset({10}), frozenset({10}), _PATH_FIELDS, frozenset({"ip.src"}), _CHALLENGES | {"block"}
    ),
    "pro": CloudflarePlan(
        2, frozenset({10, 60}), frozenset({10, 60, 3600}), _URI_FIELDS, frozenset({"ip.src"}), _CHALLENGES | {"block"}
    ),
    "business": CloudflarePlan(
        5,
        frozenset({10, 60, 600}),
        frozenset({10, 60, 3600, 86400}),
        _URI_FIELDS | {"http.request.method", "ip.src", "http.user_agent"},
        # "IP with NAT support" (cf.unique_visitor_id) from Business up: the availability table's
        # "Counting characteristics" row (developers.cloudflare.com/waf/rate-limiting-rules/#availability).
        frozenset({"ip.src", "cf.unique_visitor_id"}),
        _CHALLENGES | {"block"},
    ),
    "enterprise": CloudflarePlan(
        100,
        frozenset({10, 60, 120, 300, 600}),
        frozenset({10, 60, 120, 300, 600, 3600, 86400}),
        None,
        frozenset({"ip.src", "cf.unique_visitor_id"}),
        _CHALLENGES | {"block", "log"},  # log (the seed's "simulate"): Enterprise only
    ),
}


def expression_fields(expression: str) -> list[str]:
    """The fields of a Cloudflare Rules language expression, as Cloudflare's own engine (wirefilter)
    parses it against the HTTP scheme; ValueError with the parser's message if it does not."""
    from octorules_wirefilter import parse_expression  # a compiled extension: loaded when rules are checked

    parsed = parse_expression(expression)
    if "error" in parsed:
        raise ValueError(" ".join(str(parsed["error"]).split()))
    return list(parsed["fields"])


class RateLimitRule(_Model):
    """A rate limiting rule (phase http_ratelimit): requests matching `expression`, counted per
    `characteristics` over `period` seconds; above `requestsPerPeriod`, `action` for `mitigationTimeout`."""

    ref: DnsLabel  # stable id: reordering the list does not recreate the rule
    description: str
    expression: str
    characteristics: tuple[str, ...] = Field(default=("ip.src", "cf.colo.id"), strict=False)
    period: int = Field(ge=1)
    requests_per_period: int = Field(ge=1)
    mitigation_timeout: int = Field(ge=0)
    action: Literal["block", "challenge", "js_challenge", "managed_challenge", "log"] = "block"
    # Count only the requests that reach the origin, not what the edge serves from its cache (the API's
    # `requests_to_origin: true` is the dashboard's "Also apply rate limiting to cached assets" off;
    # Cloudflare's "Rate limiting parameters" page). No plan restriction is documented for it.
    requests_to_origin: bool = False

    @model_validator(mode="after")
    def _parses(self) -> Self:
        try:
            expression_fields(self.expression)
        except ValueError as exc:
            raise RuleError("expression", self.expression, f"not a valid Cloudflare rule expression: {exc}") from None
        if "cf.colo.id" not in self.characteristics:
            raise RuleError(
                "characteristics", list(self.characteristics), "must include cf.colo.id (Cloudflare requires it)"
            )
        if {"ip.src", "cf.unique_visitor_id"} <= set(self.characteristics):
            # "IP" and "IP with NAT support" exclude each other ("Rate limiting parameters": characteristics).
            raise RuleError(
                "characteristics",
                list(self.characteristics),
                "ip.src and cf.unique_visitor_id (IP with NAT support) cannot be combined: choose one",
            )
        return self


# The seed's per-client limits, at the edge where the client's address is known: the two nginx.conf zones
# (which keyed on Cloudflare's addresses). The seed's Cloudflare Terraform limit (/api/ with GET, POST,
# PUT or DELETE, 1000 per minute) is not carried: the `api` rule (100 per minute on every /api/ request,
# counted by the same IP and period) blocks first, so it would never act and only spend a rule.
SEED_RATE_LIMITS = (
    RateLimitRule(
        ref="api",
        description="The seed's nginx zone 'api': /api/, 100 per minute per client",
        expression='starts_with(http.request.uri.path, "/api/")',
        period=60,
        requests_per_period=100,
        mitigation_timeout=60,
    ),
    RateLimitRule(
        ref="general",
        description="The seed's nginx zone 'general': everything else that reaches the origin, 1000 per minute",
        expression='not starts_with(http.request.uri.path, "/api/")',
        period=60,
        requests_per_period=1000,
        mitigation_timeout=60,
        # What the edge serves from its cache (the app's static assets) costs the origin nothing: counted,
        # a desk behind one NAT address would reach 1000 a minute just loading the app.
        requests_to_origin=True,
    ),
)


def shadowing_rule(rules: Sequence[RateLimitRule], index: int) -> int | None:
    """The index of a rule that acts whenever `rules[index]` would, so that rule never decides a
    response; None if there is none.

    Cloudflare evaluates a zone's rate limiting rules in order; each rule that matches a request counts
    it, in a counter of its own per value of its characteristics, and applies its action once its count
    passes its limit; a Block stops the evaluation of the rules after it ("Rate limiting rules",
    "Important remarks"; "Request rate calculation": separate counters per rule and characteristics).
    So rule A shadows rule B, in either order, when A has B's action and it is not `log`, counts by the
    same characteristics over the same period, counts at least the requests B counts (A matches every
    request B matches, and A counts cached responses if B does), has a limit no higher and a timeout no
    shorter: A's counter passes its limit no later than B's, and A's action lasts at least as long.
    An expression outside what `rule_expressions.implies` evaluates is never called shadowed."""
    from components.rule_expressions import implies

    narrow = rules[index]
    for position, broad in enumerate(rules):
        if position == index or broad.action != narrow.action or broad.action == "log":
            continue
        if set(broad.characteristics) != set(narrow.characteristics) or broad.period != narrow.period:
            continue
        if broad.requests_to_origin and not narrow.requests_to_origin:
            continue
        if broad.requests_per_period > narrow.requests_per_period:
            continue
        if broad.mitigation_timeout < narrow.mitigation_timeout:
            continue
        if not implies(narrow.expression, broad.expression):
            continue
        if (
            implies(broad.expression, narrow.expression)
            and (broad.requests_per_period, broad.mitigation_timeout, broad.requests_to_origin)
            == (narrow.requests_per_period, narrow.mitigation_timeout, narrow.requests_to_origin)
            and position > index
        ):
            continue  # two identical rules: the later one is the one refused
        return position
    return None


def _plan_problem(plan_name: str, rule: RateLimitRule) -> tuple[str, object, str, Sequence[object]] | None:
    """(field, value, what, allowed) of the first thing in `rule` the plan does not allow, or None."""
    plan = CLOUDFLARE_PLANS[plan_name]
    if rule.action not in plan.actions:
        return "action", rule.action, "the action", sorted(plan.actions)
    if rule.period not in plan.periods:
        return "period", rule.period, "the period", sorted(plan.periods)
    # Below Enterprise, a challenge action throttles: Cloudflare requires a timeout of 0 then.
    timeouts = {0} if rule.action in _CHALLENGES and plan_name != "enterprise" else plan.timeouts
    if rule.mitigation_timeout not in timeouts:
        return "mitigationTimeout", rule.mitigation_timeout, "the timeout", sorted(timeouts)
    for characteristic in rule.characteristics:
        if characteristic != "cf.colo.id" and characteristic not in plan.characteristics:
            return "characteristics", characteristic, "counting by", sorted(plan.characteristics | {"cf.colo.id"})
    for field in expression_fields(rule.expression) if plan.fields is not None else ():
        if field not in (plan.fields or ()):
            return "expression", rule.expression, f"the field {field} is", sorted(plan.fields or ())
    return None


# Cloudflare's proxy read timeout (seconds between two reads from the origin, then 524): 100 s, configurable
# for Enterprise only (developers.cloudflare.com/fundamentals/reference/connection-limits/, "Between
# Cloudflare and origin server"; the zone setting `proxy_read_timeout`).
PROXY_READ_TIMEOUT = 100


def in_zone(hostname: str, zone: str) -> bool:
    """Whether `hostname` is the zone's apex or a name under it (DNS names compare case-insensitively)."""
    hostname, zone = hostname.lower().rstrip("."), zone.lower().rstrip(".")
    return hostname == zone or hostname.endswith(f".{zone}")


# The keys only the zone's owner reads: its zone (accountId), the zone settings (authenticatedOriginPulls) and
# the entrypoint rulesets (staticCacheTtlSeconds, rateLimits). A stack that does not own the zone would
# ignore them, so it is refused them: a key that changes nothing must not look as if it did.
OWNER_ONLY_KEYS: dict[str, str] = {
    "account_id": "accountId",
    "proxy_read_timeout": "proxyReadTimeout",
    "authenticated_origin_pulls": "authenticatedOriginPulls",
    "static_cache_ttl_seconds": "staticCacheTtlSeconds",
    "rate_limits": "rateLimits",
}


class DnsSettings(_Model):
    # `gateway`: the app's records point at the routing's origin address (or `edge.origin`). `live`: each record
    # keeps the content it has (an adopted record's live origin: its `content` is ignored), so an `up` never
    # moves traffic before the new origin has been checked on its own address; then flip to `gateway`.
    point_at: Literal["gateway", "live"] = "gateway"


class EdgeSettings(_Model):
    """The Cloudflare edge (EdgeCDN). Zone settings and each phase's entrypoint ruleset are singletons
    per zone: exactly one stack owns them (`ownsZone`), and its rules cover every host of the zone."""

    enabled: bool = True
    zone: DnsName = "hft-platform.com"
    owns_zone: bool = False
    # The Cloudflare account the zone belongs to (needed to create it). It may be given as a secret.
    account_id: MaybeSecretValue | None = None
    # The zone's id, where another stack owns the zone: named, not looked up, so a preview needs no
    # Cloudflare token (a lookup is an invoke, which runs at preview time).
    zone_id: str | None = None
    plan: Literal["free", "pro", "business", "enterprise"] = "business"
    # Cloudflare presents its client certificate to the origin (the routing's origin lock checks it).
    authenticated_origin_pulls: bool = False
    # The origin the DNS records point at, when routing cannot tell (an existing Gateway): an IPv4 or
    # IPv6 address, or a hostname (a load balancer's).
    origin: str | None = None
    dns: DnsSettings = DnsSettings()
    static_cache_ttl_seconds: int = Field(default=31536000, ge=1)
    # The zone's `proxy_read_timeout` setting, seconds (Enterprise only): how long Cloudflare waits between
    # two reads from the origin before it answers 524. Unset: Cloudflare's default (PROXY_READ_TIMEOUT).
    proxy_read_timeout: int | None = Field(default=None, ge=1)
    rate_limits: tuple[RateLimitRule, ...] = Field(default=SEED_RATE_LIMITS, strict=False)

    @model_validator(mode="after")
    def _owner_only_keys(self) -> Self:
        if self.enabled and not self.owns_zone:
            for field, key in OWNER_ONLY_KEYS.items():
                if field in self.model_fields_set:
                    raise RuleError(
                        key,
                        None,
                        "only the stack that owns the zone (ownsZone: true) applies it; this stack would ignore it: "
                        "set it in the owner's stack file",
                    )
        return self

    @model_validator(mode="after")
    def _zone_named_by_id(self) -> Self:
        if self.zone_id is not None and not re.fullmatch(r"[0-9a-f]{32}", self.zone_id):
            raise RuleError("zoneId", self.zone_id, "not a Cloudflare zone id (32 hexadecimal digits)")
        if self.enabled and not self.owns_zone and self.zone_id is None:
            raise RuleError(
                "zoneId",
                None,
                f"is required where another stack owns the zone {self.zone}: the stack names the zone by its id "
                "(the zone's Overview page, or the owner's zoneId output), so its preview looks nothing up",
            )
        if self.owns_zone and self.zone_id is not None:
            raise RuleError("zoneId", self.zone_id, "the owner creates the zone (ownsZone: true): its id is an output")
        if self.proxy_read_timeout is not None and self.plan != "enterprise":
            raise RuleError(
                "proxyReadTimeout",
                self.proxy_read_timeout,
                f"only Enterprise zones can change the proxy read timeout (this zone's plan: {self.plan})",
            )
        return self

    @property
    def read_timeout_ceiling(self) -> int:
        """Seconds Cloudflare waits between two reads from the origin in this stack's zone settings."""
        return self.proxy_read_timeout or PROXY_READ_TIMEOUT

    @model_validator(mode="after")
    def _ownership_and_plan(self) -> Self:
        if self.owns_zone and self.account_id is None:
            raise RuleError("accountId", None, "is required to create the zone (ownsZone: true)")
        if isinstance(self.account_id, str) and not re.fullmatch(r"[0-9a-f]{32}", self.account_id):
            raise RuleError("accountId", self.account_id, "not a Cloudflare account id (32 hexadecimal digits)")
        if self.origin is not None:
            try:
                ipaddress.ip_address(self.origin)
            except ValueError:
                try:
                    _check_dns_name(self.origin)
                except ValueError:
                    raise RuleError("origin", self.origin, "not an IP address or a DNS name") from None
        plan = CLOUDFLARE_PLANS[self.plan]
        if len(self.rate_limits) > plan.max_rules:
            raise RuleError(
                "rateLimits",
                None,
                f"{len(self.rate_limits)} rules; the {self.plan} plan allows {plan.max_rules}",
            )
        refs = [rule.ref for rule in self.rate_limits]
        if len(set(refs)) != len(refs):
            raise RuleError("rateLimits", None, "two rules share a ref")
        if self.rate_limits and plan.fields is not None and "http.host" not in plan.fields:
            # Every rule is limited to the app's hosts (`http.host in {...}`, EdgeCDN), which this plan's
            # rule expressions cannot name: its rules would limit every host of the zone.
            raise RuleError(
                "rateLimits",
                None,
                f"the {self.plan} plan's rules cannot name a host (http.host), so they would apply to every "
                "host of the zone, not only the app's: leave rateLimits empty or use a plan from pro up",
            )
        for index, rule in enumerate(self.rate_limits):
            problem = _plan_problem(self.plan, rule)
            if problem is not None:
                field, value, what, allowed = problem
                raise RuleError(
                    f"rateLimits[{index}].{field}",
                    value,
                    f"{what} not available on the {self.plan} plan (allowed: {', '.join(map(str, allowed))})",
                )
        for index, rule in enumerate(self.rate_limits):
            shadow = shadowing_rule(self.rate_limits, index)
            if shadow is not None:
                other = self.rate_limits[shadow]
                raise RuleError(
                    f"rateLimits[{index}]",
                    rule.ref,
                    f"never acts: rateLimits[{shadow}] ({other.ref}) matches every request it matches, counts them "
                    f"the same way and acts at {other.requests_per_period} per {other.period} s, no later than this "
                    f"rule's {rule.requests_per_period}: remove it, or narrow or loosen the other rule",
                )
        return self
