"""FrontendApp: the pure spec builders, and the component under fresh mocks."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.frontend_app import (
    FrontendApp,
    FrontendAppArgs,
    checksum,
    deployment_spec,
    image_version,
    pdb_spec,
    probe_spec,
    public_config,
    selector_labels,
)
from components.settings import AppSettings, Probe, parse_settings
from offline_preview.engine import RecordingMonitor, is_secret
from tests.test_settings import MINIMAL_APP


def app_settings(**overrides: Any) -> AppSettings:
    return parse_settings({"environment": "qa", "namespace": "qa", "app": {**MINIMAL_APP, **overrides}}).app


# --- pure spec builders ------------------------------------------------------------------------


def test_the_deployment_sets_replicas_only_without_autoscaling() -> None:
    fixed = deployment_spec(app_settings(replicas=3), "qa", "c", "s")
    scaled = deployment_spec(
        app_settings(replicas=3, autoscaling={"enabled": True, "minReplicas": 3, "maxReplicas": 9}), "qa", "c", "s"
    )
    assert fixed.get("replicas") == 3
    assert "replicas" not in scaled


def test_the_pod_template_carries_the_checksums() -> None:
    # Typed as Any: the specs are plain dicts, and the tests read them like YAML.
    spec: Any = deployment_spec(app_settings(), "qa", "config-digest", "secret-digest")
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"] == "config-digest"
    assert annotations["checksum/secret"] == "secret-digest"


def test_the_cache_path_is_configurable() -> None:
    spec: Any = deployment_spec(app_settings(volumes={"nextjsCachePath": "/srv/app/.next/cache"}), "qa", "c", "s")
    container = spec["template"]["spec"]["containers"][0]
    assert {"name": "nextjs-cache", "mount_path": "/srv/app/.next/cache"} in container["volume_mounts"]


def test_checksum_is_stable_and_sensitive() -> None:
    assert checksum({"a": "1", "b": "2"}) == checksum({"b": "2", "a": "1"})
    assert checksum({"a": "1"}) != checksum({"a": "2"})


def test_public_config_holds_urls_and_flags_only() -> None:
    data = public_config(app_settings(features={"analytics": False, "debugPanel": True}))
    assert data["NEXT_PUBLIC_ENABLE_ANALYTICS"] == "false"
    assert data["NEXT_PUBLIC_ENABLE_DEBUG_PANEL"] == "true"
    assert data["NEXTAUTH_URL"] == "https://new.hft-platform.com"
    assert data["NODE_ENV"] == "production"


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ghcr.io/org/frontend:v1.2.3", "v1.2.3"),
        ("registry:5000/org/frontend:2025.1", "2025.1"),
        ("ghcr.io/org/frontend@sha256:" + "ab" * 32, "abababababab"),
    ],
)
def test_image_version_label(image: str, version: str) -> None:
    assert image_version(image) == version


def test_probe_headers_are_rendered_only_when_set() -> None:
    plain_probe: Any = probe_spec(Probe(), "http")
    with_host: Any = probe_spec(Probe.model_validate({"httpHeaders": [{"name": "Host", "value": "localhost"}]}), "http")
    assert "http_headers" not in plain_probe["http_get"]
    assert with_host["http_get"]["http_headers"] == [{"name": "Host", "value": "localhost"}]


def test_pdb_uses_the_bound_the_stack_chose() -> None:
    app = app_settings(replicas=4, disruptionBudget={"minAvailable": 3, "maxUnavailable": None})
    spec: Any = pdb_spec(app, "qa")
    assert spec.get("min_available") == 3
    assert "max_unavailable" not in spec
    assert spec["selector"] == {"match_labels": selector_labels(app, "qa")}


# --- the component under mocks -----------------------------------------------------------------


@pulumi.runtime.test
def test_component_registers_children_under_itself(pulumi_mocks: RecordingMonitor) -> Any:
    app = app_settings()
    component = FrontendApp("frontend", FrontendAppArgs(app=app, environment="qa", namespace="qa"))

    def check(args: list[Any]) -> None:
        deployment_name, service_name, hpa = args
        assert deployment_name == "hft-frontend"
        assert service_name == "hft-frontend-service"
        assert hpa is None
        registrations = pulumi_mocks.registrations.values()
        (parent,) = [r for r in registrations if r.type == "hft:index:FrontendApp"]
        children = [r for r in registrations if r.parent == parent.urn]
        assert len(children) >= 7
        (secret,) = [r for r in children if r.type == "kubernetes:core/v1:Secret"]
        assert is_secret(secret.inputs["stringData"])
        assert set(secret.additional_secret_outputs) == {"data", "stringData"}

    # Wait for every child's registration, not just the values checked.
    children = [component.config_map, component.secret, component.service_account, component.pdb]
    return pulumi.Output.all(
        component.deployment.metadata.name,
        component.service_name,
        pulumi.Output.from_input(component.hpa),
        *[child.urn for child in children if child is not None],
    ).apply(lambda args: check(args[:3]))


@pulumi.runtime.test
def test_the_sentry_dsn_stays_secret(pulumi_mocks: RecordingMonitor) -> Any:
    dsn = pulumi.Output.secret("https://key@sentry.example.com/42")
    component = FrontendApp(
        "frontend", FrontendAppArgs(app=app_settings(), environment="qa", namespace="qa", sentry_dsn=dsn)
    )

    def check(_: Any) -> None:
        (secret,) = [r for r in pulumi_mocks.registrations.values() if r.type == "kubernetes:core/v1:Secret"]
        assert secret.inputs["stringData"]["value"]["SENTRY_DSN"] == "https://key@sentry.example.com/42"
        assert is_secret(secret.inputs["stringData"])
        (deployment,) = [r for r in pulumi_mocks.registrations.values() if r.type.endswith("Deployment")]
        assert "sentry.example.com" not in str(deployment.inputs)

    return pulumi.Output.all(component.secret.urn, component.deployment.urn).apply(check)
