"""Cloudflare zone settings: SSL strict, TLS 1.2 or newer, HTTPS always; and a zone declares all three.

The program renders no Cloudflare resources yet: the zone here is built with pulumi-cloudflare 6 under
mocks, so the properties are what the SDK sends the engine; a zone of pulumi-cloudflare 5 (settings in one
ZoneSettingsOverride) as its state holds it.
"""

from __future__ import annotations

import warnings
from typing import Any

import pulumi
import pytest

from offline_preview.engine import RecordingMonitor, Rendering
from offline_preview.policy_eval import Violation, audit, evaluate_rendering
from tests.support.policies import program_under_mocks
from tests.support.states import STACK_RESOURCE, export, resource

with warnings.catch_warnings():
    # pulumi-cloudflare imports all its resources at once, and warns about each deprecated one.
    warnings.simplefilter("ignore", DeprecationWarning)
    import pulumi_cloudflare as cloudflare

SETTINGS = {"ssl": "strict", "min_tls_version": "1.2", "always_use_https": "on"}
CLOUDFLARE_POLICIES = {
    "cloudflare-ssl-strict",
    "cloudflare-min-tls-1-2",
    "cloudflare-always-use-https",
    "cloudflare-zone-tls-settings",
}
POLICY_OF_SETTING = {
    "ssl": "cloudflare-ssl-strict",
    "min_tls_version": "cloudflare-min-tls-1-2",
    "always_use_https": "cloudflare-always-use-https",
}


def render_zone(monitor: RecordingMonitor, settings: dict[str, str]) -> Rendering:
    def program() -> None:
        zone = cloudflare.Zone(
            "zone",
            account={"id": "0123456789abcdef0123456789abcdef"},
            name="hft-platform.com",
            opts=pulumi.ResourceOptions(protect=True),
        )
        for setting_id, value in settings.items():
            cloudflare.ZoneSetting(setting_id.replace("_", "-"), zone_id=zone.id, setting_id=setting_id, value=value)

    return program_under_mocks(monitor, program)


def cloudflare_violations(rendering: Rendering) -> list[Violation]:
    return [v for v in evaluate_rendering(rendering) if v.policy_name in CLOUDFLARE_POLICIES]


def test_a_zone_with_the_three_settings_passes(pulumi_mocks: RecordingMonitor) -> None:
    rendering = render_zone(pulumi_mocks, SETTINGS)
    setting = rendering.by_type("cloudflare:index/zoneSetting:ZoneSetting")[0]
    assert set(setting.inputs) == {"zoneId", "settingId", "value"}, "engine form: camelCase"
    assert cloudflare_violations(rendering) == []


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_tls_1_2_and_newer_pass(pulumi_mocks: RecordingMonitor, version: str) -> None:
    assert cloudflare_violations(render_zone(pulumi_mocks, {**SETTINGS, "min_tls_version": version})) == []


@pytest.mark.parametrize(
    ("setting_id", "value", "expected"),
    [
        ("ssl", "full", 'value is "full". Set value "strict" (Full (strict))'),
        ("ssl", "flexible", 'value is "flexible"'),
        ("ssl", "off", 'value is "off"'),
        ("min_tls_version", "1.0", 'value is "1.0". Set value "1.2" (or "1.3")'),
        ("min_tls_version", "1.1", 'value is "1.1"'),
        ("always_use_https", "off", 'value is "off". Set value "on"'),
    ],
)
def test_a_weak_setting_fails(pulumi_mocks: RecordingMonitor, setting_id: str, value: str, expected: str) -> None:
    violations = cloudflare_violations(render_zone(pulumi_mocks, {**SETTINGS, setting_id: value}))
    assert [(v.policy_name, v.enforcement_level) for v in violations] == [(POLICY_OF_SETTING[setting_id], "mandatory")]
    assert violations[0].resource_type == "cloudflare:index/zoneSetting:ZoneSetting"
    assert f"({setting_id}): {expected}" in violations[0].message


@pytest.mark.parametrize("setting_id", SETTINGS)
def test_a_zone_missing_a_setting_fails(pulumi_mocks: RecordingMonitor, setting_id: str) -> None:
    settings = {k: v for k, v in SETTINGS.items() if k != setting_id}
    violations = cloudflare_violations(render_zone(pulumi_mocks, settings))
    assert [(v.policy_name, v.resource_type) for v in violations] == [
        ("cloudflare-zone-tls-settings", "cloudflare:index/zone:Zone")
    ]
    assert f'Zone "zone": no ZoneSetting for {setting_id}, so Cloudflare\'s default applies' in violations[0].message


def test_settings_of_another_zone_do_not_count(pulumi_mocks: RecordingMonitor) -> None:
    def program() -> None:
        cloudflare.Zone("zone", account={"id": "0123456789abcdef0123456789abcdef"}, name="hft-platform.com")
        other = cloudflare.Zone("other", account={"id": "0123456789abcdef0123456789abcdef"}, name="hft-status.com")
        for setting_id, value in SETTINGS.items():
            cloudflare.ZoneSetting(f"other-{setting_id}", zone_id=other.id, setting_id=setting_id, value=value)

    violations = cloudflare_violations(program_under_mocks(pulumi_mocks, program))
    assert [v.urn.rsplit("::", 1)[-1] for v in violations] == ["zone"]
    assert "no ZoneSetting for ssl, min_tls_version, always_use_https" in violations[0].message


# --- zones as pulumi-cloudflare 5 writes them --------------------------------------------------

ZONE_ID = "0123456789abcdef0123456789abcdef"
OVERRIDE = "cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride"
# provider 5: all settings in one override per zone, camelCase keys; once applied, the state's outputs hold
# every setting of the zone.
V5_SETTINGS = {"ssl": "strict", "minTlsVersion": "1.2", "alwaysUseHttps": "on"}


def v5_zone(settings: Any, outputs: Any = None) -> list[dict[str, Any]]:
    zone = resource("cloudflare:index/zone:Zone", "zone", {"zone": "hft-platform.com"}, {"id": ZONE_ID})
    override = resource(
        OVERRIDE,
        "zone-settings",
        {"zoneId": ZONE_ID, "settings": settings},
        {"zoneId": ZONE_ID, "settings": settings if outputs is None else outputs},
        propertyDependencies={"zoneId": [zone["urn"]]},
    )
    return [STACK_RESOURCE, zone, override]


def audited(resources: list[dict[str, Any]]) -> tuple[list[Violation], list[Any]]:
    result = audit(export(resources))
    return (
        [v for v in result.violations if v.policy_name in CLOUDFLARE_POLICIES],
        [n for n in result.evaluation.not_checked if n.policy_name in CLOUDFLARE_POLICIES],
    )


def test_a_provider_5_zone_with_ssl_strict_in_its_override_passes() -> None:
    assert audited(v5_zone(V5_SETTINGS)) == ([], [])


def test_a_provider_5_override_is_matched_by_zone_id_too() -> None:
    resources = v5_zone(V5_SETTINGS)
    resources[2]["propertyDependencies"] = {}
    assert audited(resources) == ([], [])


@pytest.mark.parametrize(
    ("key", "value", "policy"),
    [("ssl", "full", "cloudflare-ssl-strict"), ("minTlsVersion", "1.0", "cloudflare-min-tls-1-2")],
)
def test_a_weak_setting_in_a_provider_5_override_fails(key: str, value: str, policy: str) -> None:
    violations, _ = audited(v5_zone({**V5_SETTINGS, key: value}))
    assert [(v.policy_name, v.resource_type) for v in violations] == [(policy, OVERRIDE)]
    assert f'ZoneSettingsOverride "zone-settings" (settings.{key}): value is "{value}"' in violations[0].message


def test_a_provider_5_zone_whose_override_lacks_a_setting_fails() -> None:
    settings = {k: v for k, v in V5_SETTINGS.items() if k != "alwaysUseHttps"}
    violations, _ = audited(v5_zone(settings))
    assert [v.policy_name for v in violations] == ["cloudflare-zone-tls-settings"]
    assert 'Zone "zone": no ZoneSetting for always_use_https' in violations[0].message


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ("strict", 'its settings are "strict", a shape this policy does not know'),
        ({**V5_SETTINGS, "ssl": {"value": "strict"}}, 'value is {value: "strict"}, a shape this policy does not know'),
    ],
)
def test_a_setting_of_a_shape_the_policy_does_not_know_is_not_checked_never_a_violation(
    settings: Any, why: str
) -> None:
    violations, not_checked = audited(v5_zone(settings))
    assert violations == []
    assert not_checked
    assert all(why in entry.reason for entry in not_checked if entry.policy_name == "cloudflare-ssl-strict")
    assert "cloudflare-ssl-strict" in {entry.policy_name for entry in not_checked}


def test_zones_sharing_an_id_read_each_setting_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Copies of one program in one state: 30 zones with one id and 90 settings naming it. Each setting is read
    # once for the stack policy, however many zones share its id.
    from policies import cloudflare as policy

    calls: list[Any] = []
    lookups: list[int] = []
    read, lookup = policy.declared_zone_settings, policy.ZoneIndex.read

    def counted(resource_type: str, props: Any) -> Any:
        calls.append(props)
        return read(resource_type, props)

    def counted_lookup(index: Any, position: int) -> Any:
        lookups.append(position)
        return lookup(index, position)

    monkeypatch.setattr(policy, "declared_zone_settings", counted)
    monkeypatch.setattr(policy.ZoneIndex, "read", counted_lookup)
    copies = 30
    resources: list[dict[str, Any]] = [STACK_RESOURCE]
    for index in range(copies):
        resources.append(
            resource("cloudflare:index/zone:Zone", f"zone-{index}", {"name": "z"}, {"name": "z", "id": ZONE_ID})
        )
        for setting_id, value in SETTINGS.items():
            if index == 3 and setting_id == "ssl":
                continue
            props = {"zoneId": ZONE_ID, "settingId": setting_id, "value": value}
            resources.append(resource("cloudflare:index/zoneSetting:ZoneSetting", f"s-{index}-{setting_id}", props))
    resource_policies = {name: "disabled" for name in CLOUDFLARE_POLICIES if name != "cloudflare-zone-tls-settings"}
    result = audit(export(resources), resource_policies)
    settings = len(resources) - 1 - copies
    assert len(calls) == settings
    assert len(lookups) == settings  # what the settings of one id declare is gathered once, not once per zone
    assert [v for v in result.violations if v.policy_name in CLOUDFLARE_POLICIES] == []  # zone 3's come from the others
