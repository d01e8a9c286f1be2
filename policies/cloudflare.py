"""The Cloudflare edge (pulumi-cloudflare 6): the zone encrypts to the origin and verifies its certificate
(SSL mode strict), accepts TLS 1.2 or newer only, and redirects plain HTTP to HTTPS; every rule of a
Ruleset parses as Cloudflare's Rules language (with Cloudflare's own engine, wirefilter), and no rate
limiting rule merely logs on a production host.

Each `cloudflare.ZoneSetting` is checked on its own; a stack policy also requires every zone this stack
owns to declare all three, since Cloudflare's defaults for a missing one (TLS 1.0 accepted, HTTP served,
origin certificate unchecked) are each a real weakness for a trading platform. A zone owned by another
stack is that stack's to configure: zone settings are singletons per zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.common import get, items, known, resource_policy, show, stack_policy

ZONE = "cloudflare:index/zone:Zone"
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
RULESET = "cloudflare:index/ruleset:Ruleset"


def tls_version_at_least(minimum: tuple[int, ...]) -> Callable[[Any], bool]:
    def satisfied(value: Any) -> bool:
        try:
            return isinstance(value, str) and tuple(int(part) for part in value.split(".")) >= minimum
        except ValueError:
            return False

    return satisfied


@dataclass(frozen=True)
class Requirement:
    setting_id: str
    satisfied: Callable[[Any], bool]
    expected: str
    why: str


SSL_STRICT = Requirement(
    "ssl",
    lambda value: value == "strict",
    'value "strict" (Full (strict))',
    "in any weaker mode the edge reaches the origin unencrypted or without verifying its certificate",
)
MIN_TLS_1_2 = Requirement(
    "min_tls_version",
    tls_version_at_least((1, 2)),
    'value "1.2" (or "1.3")',
    "TLS 1.0 and 1.1 are deprecated (RFC 8996) and fail PCI DSS",
)
ALWAYS_USE_HTTPS = Requirement(
    "always_use_https",
    lambda value: value == "on",
    'value "on"',
    "otherwise plain-HTTP requests are served instead of redirected to HTTPS",
)
REQUIREMENTS = (SSL_STRICT, MIN_TLS_1_2, ALWAYS_USE_HTTPS)


def setting_check(requirement: Requirement) -> Callable[[ResourceValidationArgs], Iterator[str]]:
    def check(args: ResourceValidationArgs) -> Iterator[str]:
        if args.resource_type != ZONE_SETTING or get(args.props, "settingId") != requirement.setting_id:
            return
        value = get(args.props, "value")
        if not requirement.satisfied(value):
            yield (
                f"ZoneSetting {show(args.name)} ({requirement.setting_id}): value is {show(value)}. Set "
                f"{requirement.expected}: {requirement.why}."
            )

    return check


def _belongs_to(setting: PolicyResource, zone: PolicyResource) -> bool:
    if any(dependency.urn == zone.urn for dependency in setting.property_dependencies.get("zoneId", [])):
        return True
    zone_id = known(setting.props, "zoneId")
    return zone_id is not None and zone_id == known(zone.props, "id")


def check_zone_settings_declared(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    settings = [r for r in args.resources if r.resource_type == ZONE_SETTING]
    for zone in (r for r in args.resources if r.resource_type == ZONE):
        declared = {known(s.props, "settingId") for s in settings if _belongs_to(s, zone)}
        missing = [r for r in REQUIREMENTS if r.setting_id not in declared]
        if missing:
            wanted = "; ".join(f"{r.setting_id} with {r.expected}" for r in missing)
            yield (
                zone.urn,
                f"Zone {show(zone.name)}: no ZoneSetting for {', '.join(r.setting_id for r in missing)}, so "
                f"Cloudflare's default applies. Declare a cloudflare.ZoneSetting for each: {wanted}.",
            )


# --- rulesets ------------------------------------------------------------------------------------


def parse_error(expression: str) -> str | None:
    """What Cloudflare's engine (wirefilter, HTTP scheme) says is wrong with the expression, or None."""
    from octorules_wirefilter import parse_expression  # a compiled extension, loaded when a Ruleset is checked

    parsed = parse_expression(expression)
    return " ".join(str(parsed["error"]).split()) if "error" in parsed else None


def _rule_name(rule: Any, index: int) -> str:
    ref = get(rule, "ref")
    return f"rules[{index}] ({show(ref)})" if ref is not None else f"rules[{index}]"


def check_ruleset_expressions(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != RULESET:
        return
    for index, rule in enumerate(items(args.props, "rules")):
        expression = get(rule, "expression")
        if not isinstance(expression, str):
            continue
        error = parse_error(expression)
        if error is not None:
            yield (
                f"Ruleset {show(args.name)}: {_rule_name(rule, index)}: the expression does not parse as Cloudflare's "
                f"Rules language ({error}). Cloudflare refuses the whole ruleset."
            )


NON_PRODUCTION_HOSTS = "nonProductionHosts"
_HOST_CONDITION = re.compile(r'http\.host\s+(?:eq|==)\s+"([^"]+)"|http\.host\s+in\s+\{([^}]*)\}')


def scoped_hosts(expression: str) -> set[str] | None:
    """The hosts a rule is limited to, when the expression is a conjunction naming `http.host`; None
    when it may match any host (an approximation on the text: it never narrows an `or`)."""
    if re.search(r"\bor\b|\|\|", expression):
        return None
    hosts: set[str] = set()
    for single, many in _HOST_CONDITION.findall(expression):
        hosts |= {single} if single else set(re.findall(r'"([^"]+)"', many))
    return hosts or None


def check_rate_limits_not_log_only(args: ResourceValidationArgs) -> Iterator[str]:
    """A rule that only logs (the seed's "simulate") protects nothing; on a production host it is a
    mistake. Hosts in the config's `nonProductionHosts` may have one (to try a rule out)."""
    if args.resource_type != RULESET or get(args.props, "phase") != "http_ratelimit":
        return
    allowed = {str(host) for host in items(args.get_config(), NON_PRODUCTION_HOSTS)}
    for index, rule in enumerate(items(args.props, "rules")):
        if get(rule, "action") != "log":
            continue
        expression = get(rule, "expression")
        hosts = scoped_hosts(expression) if isinstance(expression, str) else None
        if hosts is not None and hosts <= allowed:
            continue
        where = "every host of the zone" if hosts is None else ", ".join(sorted(hosts - allowed))
        yield (
            f"Ruleset {show(args.name)}: {_rule_name(rule, index)} only logs, on {where}. Use action block (or a "
            "challenge), or limit the rule to hosts listed in the policy's nonProductionHosts."
        )


POLICIES: list[Policy] = [
    resource_policy(
        "cloudflare-ssl-strict",
        "Cloudflare zones use SSL mode strict: encrypted to the origin, its certificate verified.",
        setting_check(SSL_STRICT),
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "cloudflare-min-tls-1-2",
        "Cloudflare zones accept TLS 1.2 or newer only (min_tls_version).",
        setting_check(MIN_TLS_1_2),
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
    resource_policy(
        "cloudflare-always-use-https",
        "Cloudflare zones redirect plain HTTP to HTTPS (always_use_https on).",
        setting_check(ALWAYS_USE_HTTPS),
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
    stack_policy(
        "cloudflare-zone-tls-settings",
        "Every Cloudflare zone of the stack declares its ssl, min_tls_version and always_use_https settings.",
        check_zone_settings_declared,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
    resource_policy(
        "cloudflare-ruleset-expressions-parse",
        "Every rule of a Cloudflare Ruleset has an expression Cloudflare's Rules language engine parses.",
        check_ruleset_expressions,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
    resource_policy(
        "cloudflare-rate-limit-not-log-only",
        "No Cloudflare rate limiting rule only logs on a production host (it would block nothing).",
        check_rate_limits_not_log_only,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        config={
            NON_PRODUCTION_HOSTS: {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": [],
                "description": "Hosts on which a log-only rate limiting rule is allowed (e.g. to try a rule out).",
            }
        },
    ),
]
