"""The Cloudflare edge (pulumi-cloudflare 6): the zone encrypts to the origin and verifies its certificate
(SSL mode strict), accepts TLS 1.2 or newer only, and redirects plain HTTP to HTTPS.

Each `cloudflare.ZoneSetting` is checked on its own; a stack policy also requires every zone this stack
owns to declare all three, since Cloudflare's defaults for a missing one (TLS 1.0 accepted, HTTP served,
origin certificate unchecked) are each a real weakness for a trading platform. A zone owned by another
stack is that stack's to configure: zone settings are singletons per zone.
"""

from __future__ import annotations

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

from policies.common import get, known, resource_policy, show, stack_policy

ZONE = "cloudflare:index/zone:Zone"
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"


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
]
