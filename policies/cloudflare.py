"""The Cloudflare edge: the zone encrypts to the origin and verifies its certificate (SSL mode strict), accepts
TLS 1.2 or newer only, and redirects plain HTTP to HTTPS; every rule of a Ruleset parses as Cloudflare's Rules
language (with Cloudflare's own engine, wirefilter), no rate limiting rule merely logs on a production host,
and no rate limiting or cache rule is disabled on a production host.

Zone settings come in two shapes, and `declared_zone_settings` reads both for any policy that needs them:
- pulumi-cloudflare 6: one `cloudflare.ZoneSetting` per setting (`settingId`, `value`);
- pulumi-cloudflare 5 (and 4): one `cloudflare.ZoneSettingsOverride` per zone, its `settings` object holding
  each setting under the camelCase of its id (`minTlsVersion` for `min_tls_version`).
A value of a shape the policy does not know (an object where a string is expected) is reported "not
checked", never guessed into a violation.

Each setting is checked on the resource that declares it; a stack policy also requires every zone this stack
owns to declare all three, since Cloudflare's defaults for a missing one (TLS 1.0 accepted, HTTP served,
origin certificate unchecked) are each a real weakness for a trading platform. A zone owned by another
stack is that stack's to configure: zone settings are singletons per zone. The stack policy reads what the
state holds: for a ZoneSettingsOverride the provider reports every setting of the zone once applied, so
there it asks only that the override exists for the zone and reads no values.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
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

from components.sdk_internals import UnknownValueError
from policies.common import NotChecked, get, is_list, items, known, resource_policy, show, stack_policy

ZONE = "cloudflare:index/zone:Zone"
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"  # pulumi-cloudflare 6
ZONE_SETTINGS_OVERRIDE = "cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride"  # pulumi-cloudflare 4 and 5
ZONE_SETTING_TYPES = frozenset({ZONE_SETTING, ZONE_SETTINGS_OVERRIDE})
RULESET = "cloudflare:index/ruleset:Ruleset"

# Setting ids whose ZoneSettingsOverride key is not their plain camelCase.
_OVERRIDE_KEYS = {"0rtt": "zeroRtt"}
_SETTING_IDS = {key: setting_id for setting_id, key in _OVERRIDE_KEYS.items()}


def override_key(setting_id: str) -> str:
    """The key of a setting in a ZoneSettingsOverride's `settings`: `min_tls_version` -> `minTlsVersion`."""
    if setting_id in _OVERRIDE_KEYS:
        return _OVERRIDE_KEYS[setting_id]
    head, *rest = setting_id.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _setting_id(key: str) -> str:
    """The setting id of a ZoneSettingsOverride key: `minTlsVersion` -> `min_tls_version`."""
    return _SETTING_IDS.get(key) or re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), key)


@dataclass(frozen=True)
class DeclaredSettings:
    """The zone settings one resource declares: their ids, and each one's value, read only when asked for (an
    override's other settings may be unknown during a preview)."""

    container: Any
    keys: Mapping[str, str]  # setting id -> its key in `container`

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.keys)

    def value(self, setting_id: str) -> Any:
        """The declared value (None when the resource does not declare this setting)."""
        return get(self.container, self.keys[setting_id]) if setting_id in self.keys else None


NO_SETTINGS = DeclaredSettings({}, {})


def declared_zone_settings(resource_type: str, props: Any) -> DeclaredSettings | NotChecked:
    """The zone settings a resource declares, by Cloudflare setting id: a ZoneSetting's one, a
    ZoneSettingsOverride's several; none for any other resource."""
    if resource_type == ZONE_SETTING:
        setting_id = get(props, "settingId")
        if not isinstance(setting_id, str):
            return NotChecked(f"its settingId is {show(setting_id)}, not a setting id")
        return DeclaredSettings(props, {setting_id: "value"})
    if resource_type == ZONE_SETTINGS_OVERRIDE:
        settings = get(props, "settings")
        if is_list(settings) and len(settings) == 1:  # a single block kept as a list
            settings = settings[0]
        if settings is None:
            return NO_SETTINGS
        if not isinstance(settings, Mapping):
            return NotChecked(f"its settings are {show(settings)}, a shape this policy does not know")
        return DeclaredSettings(settings, {_setting_id(key): key for key in settings})
    return NO_SETTINGS


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


def setting_check(requirement: Requirement) -> Callable[[ResourceValidationArgs], Iterator[str | NotChecked]]:
    def check(args: ResourceValidationArgs) -> Iterator[str | NotChecked]:
        settings = declared_zone_settings(args.resource_type, args.props)
        if isinstance(settings, NotChecked):
            yield settings
            return
        if requirement.setting_id not in settings.ids:
            return
        value = settings.value(requirement.setting_id)
        if args.resource_type == ZONE_SETTING:
            subject = f"ZoneSetting {show(args.name)} ({requirement.setting_id})"
        else:
            subject = f"ZoneSettingsOverride {show(args.name)} (settings.{override_key(requirement.setting_id)})"
        if not isinstance(value, str):
            yield NotChecked(f"{subject}: value is {show(value)}, a shape this policy does not know")
        elif not requirement.satisfied(value):
            yield f"{subject}: value is {show(value)}. Set {requirement.expected}: {requirement.why}."

    return check


class ZoneIndex:
    """The zone-setting resources of a stack by the zone they configure, indexed once: by the URN their
    `zoneId` input came from, or by a literal zone id equal to the zone's `id`.

    What the settings of one key declare is read once per key, not once per zone: zones sharing an id (a state
    holding copies of one program) then cost no more than zones with ids of their own."""

    def __init__(self, resources: Iterable[PolicyResource]) -> None:
        self._groups: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        self._settings: list[PolicyResource] = []
        self._read: dict[int, DeclaredSettings | NotChecked] = {}
        self._declared: dict[tuple[str, str], tuple[frozenset[str], tuple[int, ...]]] = {}
        for resource in resources:
            if resource.resource_type not in ZONE_SETTING_TYPES:
                continue
            position = len(self._settings)
            self._settings.append(resource)
            for urn in {dependency.urn for dependency in resource.property_dependencies.get("zoneId", [])}:
                self._groups["urn", urn].append(position)
            zone_id = known(resource.props, "zoneId")
            if isinstance(zone_id, str) and zone_id:
                self._groups["id", zone_id].append(position)

    def _keys(self, zone: PolicyResource) -> list[tuple[str, str]]:
        keys = [("urn", zone.urn)]
        zone_id = known(zone.props, "id")
        if isinstance(zone_id, str) and zone_id:
            keys.append(("id", zone_id))
        return keys

    def read(self, position: int) -> DeclaredSettings | NotChecked:
        """What the setting resource at `position` declares (read once)."""
        if position not in self._read:
            setting = self._settings[position]
            try:
                self._read[position] = declared_zone_settings(setting.resource_type, setting.props)
            except UnknownValueError:  # during a preview: the setting counts neither way
                self._read[position] = NotChecked("its settingId is not known yet")
        return self._read[position]

    def declared(self, zone: PolicyResource) -> tuple[set[str], list[str]]:
        """The setting ids the zone's settings declare, and a line for each setting that cannot be read."""
        ids: set[str] = set()
        unreadable: set[int] = set()
        for key in self._keys(zone):
            if key not in self._declared:
                read = [(position, self.read(position)) for position in self._groups.get(key, ())]
                self._declared[key] = (
                    frozenset().union(*(found.ids for _, found in read if not isinstance(found, NotChecked))),
                    tuple(position for position, found in read if isinstance(found, NotChecked)),
                )
            group_ids, group_unreadable = self._declared[key]
            ids.update(group_ids)
            unreadable.update(group_unreadable)
        lines = []
        for position in sorted(unreadable):
            setting, found = self._settings[position], self.read(position)
            assert isinstance(found, NotChecked)
            lines.append(f"{setting.resource_type.rsplit(':', 1)[-1]} {show(setting.name)}: {found.why}")
        return ids, lines


def check_zone_settings_declared(args: StackValidationArgs) -> Iterator[tuple[str, str] | NotChecked]:
    index = ZoneIndex(args.resources)
    for zone in (r for r in args.resources if r.resource_type == ZONE):
        declared, unreadable = index.declared(zone)
        missing = [r for r in REQUIREMENTS if r.setting_id not in declared]
        if missing and unreadable:
            yield NotChecked(f"Zone {show(zone.name)}: {'; '.join(unreadable)}", zone.urn)
        elif missing:
            wanted = "; ".join(f"{r.setting_id} with {r.expected}" for r in missing)
            yield (
                zone.urn,
                f"Zone {show(zone.name)}: no ZoneSetting for {', '.join(r.setting_id for r in missing)}, so "
                f"Cloudflare's default applies. Declare a cloudflare.ZoneSetting for each (with pulumi-cloudflare "
                f"5, set them in the zone's ZoneSettingsOverride): {wanted}.",
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


EDGE_RULE_PHASES = {"http_ratelimit": "rate limiting", "http_request_cache_settings": "cache"}


def check_edge_rules_enabled(args: ResourceValidationArgs) -> Iterator[str | NotChecked]:
    """A disabled rate limiting rule limits nothing, and a disabled cache rule (the API's bypass) lets
    Cloudflare's default caching apply: on a production host either is a silent hole. Cloudflare runs a rule
    whose `enabled` is left out (the Rulesets API's default is true). Hosts in the config's
    `nonProductionHosts` may have one (production is every host not listed there, as for log-only rules)."""
    if args.resource_type != RULESET:
        return
    what = EDGE_RULE_PHASES.get(str(get(args.props, "phase")))
    if what is None:
        return
    allowed = {str(host) for host in items(args.get_config(), NON_PRODUCTION_HOSTS)}
    for index, rule in enumerate(items(args.props, "rules")):
        try:
            enabled = get(rule, "enabled")
        except UnknownValueError:
            yield NotChecked(f"{_rule_name(rule, index)}: enabled is not known until the update")
            continue
        if enabled is None or enabled is True:
            continue
        if enabled is not False:
            yield NotChecked(
                f"{_rule_name(rule, index)}: enabled is {show(enabled)}, a shape this policy does not know"
            )
            continue
        expression = get(rule, "expression")
        hosts = scoped_hosts(expression) if isinstance(expression, str) else None
        if hosts is not None and hosts <= allowed:
            continue
        where = "every host of the zone" if hosts is None else ", ".join(sorted(hosts - allowed))
        yield (
            f"Ruleset {show(args.name)}: {_rule_name(rule, index)} is a {what} rule with enabled: false, on {where}. "
            "Enable it, remove it, or limit it to hosts listed in the policy's nonProductionHosts."
        )


POLICIES: list[Policy] = [
    resource_policy(
        "cloudflare-ssl-strict",
        "Cloudflare zones use SSL mode strict: encrypted to the origin, its certificate verified.",
        setting_check(SSL_STRICT),
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.CRITICAL,
        resource_types=ZONE_SETTING_TYPES,
    ),
    resource_policy(
        "cloudflare-min-tls-1-2",
        "Cloudflare zones accept TLS 1.2 or newer only (min_tls_version).",
        setting_check(MIN_TLS_1_2),
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=ZONE_SETTING_TYPES,
    ),
    resource_policy(
        "cloudflare-always-use-https",
        "Cloudflare zones redirect plain HTTP to HTTPS (always_use_https on).",
        setting_check(ALWAYS_USE_HTTPS),
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=ZONE_SETTING_TYPES,
    ),
    stack_policy(
        "cloudflare-zone-tls-settings",
        "Every Cloudflare zone of the stack declares its ssl, min_tls_version and always_use_https settings.",
        check_zone_settings_declared,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=ZONE_SETTING_TYPES | {ZONE},
    ),
    resource_policy(
        "cloudflare-ruleset-expressions-parse",
        "Every rule of a Cloudflare Ruleset has an expression Cloudflare's Rules language engine parses.",
        check_ruleset_expressions,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types={RULESET},
    ),
    resource_policy(
        "cloudflare-rate-limit-not-log-only",
        "No Cloudflare rate limiting rule only logs on a production host (it would block nothing).",
        check_rate_limits_not_log_only,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types={RULESET},
        config={
            NON_PRODUCTION_HOSTS: {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": [],
                "description": "Hosts on which a log-only rate limiting rule is allowed (e.g. to try a rule out).",
            }
        },
    ),
    resource_policy(
        "cloudflare-edge-rules-enabled",
        "No Cloudflare rate limiting or cache rule is disabled on a production host.",
        check_edge_rules_enabled,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types={RULESET},
        config={
            NON_PRODUCTION_HOSTS: {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": [],
                "description": "Hosts on which a disabled rate limiting or cache rule is allowed.",
            }
        },
    ),
]
