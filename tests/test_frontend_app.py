"""FrontendApp: the pure spec builders, read against an app whose every field has a distinct value,
and the component under fresh mocks (names from the component, two instances side by side)."""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pytest

from components.frontend_app import (
    FrontendApp,
    FrontendAppArgs,
    checkov_annotations,
    checksum,
    deployment_spec,
    hpa_spec,
    identity,
    object_names,
    pdb_spec,
    public_config,
    service_annotations,
    service_spec,
    workload_profile,
)
from components.settings import AppSettings, ConfigSecret, SettingsError
from offline_preview.engine import ProgramError, RecordingMonitor, Registration, is_secret
from tests.support.stacks import DISTINCT_APP, MINIMAL_APP, Secret, find, manifests, render, settings

APP: AppSettings = settings(DISTINCT_APP).app
APP_ID = identity("trading-ui", "qa")
NAMES = object_names("trading-ui", APP)


def deployment() -> Any:
    # Typed as Any: the specs are plain dicts, and the tests read them like YAML.
    return deployment_spec(APP, APP_ID, NAMES, "config-digest", "secret-digest")


def container() -> Any:
    return deployment()["template"]["spec"]["containers"][0]


# --- names and labels --------------------------------------------------------------------------


def test_object_names_derive_from_the_component_unless_the_stack_pins_them() -> None:
    assert NAMES.deployment == "trading-ui"
    assert (NAMES.config_map, NAMES.secret, NAMES.service_account) == (
        "trading-ui-config",
        "trading-ui-secrets",
        "trading-ui-sa",
    )
    assert (NAMES.service, NAMES.hpa, NAMES.pdb) == ("trading-ui-service", "trading-ui-hpa", "trading-ui-pdb")
    pinned = settings({**DISTINCT_APP, "configMapName": "legacy-config", "service": {"name": "legacy-svc"}}).app
    pinned_names = object_names("trading-ui", pinned)
    assert (pinned_names.config_map, pinned_names.service, pinned_names.secret) == (
        "legacy-config",
        "legacy-svc",
        "trading-ui-secrets",
    )


def test_labels_carry_the_components_name_and_environment() -> None:
    assert APP_ID.selector_labels == {
        "app.kubernetes.io/name": "trading-ui",
        "app.kubernetes.io/instance": "trading-ui-qa",
    }
    assert APP_ID.labels == {
        "app.kubernetes.io/name": "trading-ui",
        "app.kubernetes.io/instance": "trading-ui-qa",
        "app.kubernetes.io/component": "frontend",
        "app.kubernetes.io/part-of": "hft-platform",
        "app.kubernetes.io/managed-by": "pulumi",
        "app": "trading-ui",
        "environment": "qa",
    }


# --- the Deployment ----------------------------------------------------------------------------


def test_the_deployment_reads_each_setting_from_its_own_field() -> None:
    spec = deployment()
    assert "replicas" not in spec, "the HPA owns the count when it scales"
    assert spec["strategy"] == {"type": "RollingUpdate", "rolling_update": {"max_surge": 3, "max_unavailable": 0}}
    assert spec["selector"] == {"match_labels": APP_ID.selector_labels}
    labels = spec["template"]["metadata"]["labels"]
    assert labels == {**APP_ID.labels, "app.kubernetes.io/version": "2026.11.3"}
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "3107",
        "prometheus.io/path": "/metrics",
        "checksum/config": "config-digest",
        "checksum/secret": "secret-digest",
    }


def test_without_autoscaling_the_deployment_sets_the_replicas() -> None:
    fixed = settings({**DISTINCT_APP, "autoscaling": {"enabled": False}}).app
    spec: Any = deployment_spec(fixed, APP_ID, NAMES, "c", "s")
    assert spec["replicas"] == 7


def test_the_container_reads_each_setting_from_its_own_field() -> None:
    spec = container()
    assert (spec["name"], spec["image"], spec["image_pull_policy"]) == (
        "frontend",
        "registry.example.com:5000/org/trading-ui:2026.11.3",
        "IfNotPresent",
    )
    assert spec["ports"] == [{"container_port": 3107, "name": "http", "protocol": "TCP"}]
    assert spec["env"] == [{"name": "PORT", "value": "3107"}, {"name": "HOSTNAME", "value": "0.0.0.0"}]
    assert spec["env_from"] == [
        {"config_map_ref": {"name": "trading-ui-config"}},
        {"secret_ref": {"name": "trading-ui-secrets"}},
    ]
    assert spec["resources"] == {
        "requests": {"cpu": "251m", "memory": "301Mi", "ephemeral-storage": "1101Mi"},
        "limits": {"cpu": "751m", "memory": "901Mi", "ephemeral-storage": "2201Mi"},
    }
    assert spec["security_context"]["run_as_user"] == 1501
    assert spec["security_context"]["run_as_group"] == 1501
    assert spec["volume_mounts"] == [
        {"name": "tmp-volume", "mount_path": "/tmp"},
        {"name": "nextjs-cache", "mount_path": "/srv/ui/.next/cache"},
    ]


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        (
            "liveness_probe",
            {
                "http_get": {
                    "path": "/live",
                    "port": "http",
                    "scheme": "HTTP",
                    "http_headers": [{"name": "X-Probe", "value": "liveness"}],
                },
                "initial_delay_seconds": 11,
                "period_seconds": 12,
                "timeout_seconds": 13,
                "failure_threshold": 14,
                "success_threshold": 1,
            },
        ),
        (
            "readiness_probe",
            {
                "http_get": {"path": "/ready", "port": "http", "scheme": "HTTP"},
                "initial_delay_seconds": 15,
                "period_seconds": 16,
                "timeout_seconds": 17,
                "failure_threshold": 18,
                "success_threshold": 19,
            },
        ),
        (
            "startup_probe",
            {
                "http_get": {"path": "/start", "port": "http", "scheme": "HTTP"},
                "initial_delay_seconds": 20,
                "period_seconds": 21,
                "timeout_seconds": 22,
                "failure_threshold": 23,
                "success_threshold": 1,
            },
        ),
    ],
)
def test_each_probe_reads_its_own_settings(probe: str, expected: dict[str, Any]) -> None:
    assert container()[probe] == expected


def test_the_pod_reads_each_setting_from_its_own_field() -> None:
    pod = deployment()["template"]["spec"]
    assert pod["service_account_name"] == "trading-ui-sa"
    assert pod["security_context"] == {
        "run_as_non_root": True,
        "run_as_user": 1501,
        "run_as_group": 1501,
        "fs_group": 1501,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }
    assert pod["volumes"] == [
        {"name": "tmp-volume", "empty_dir": {"size_limit": "131Mi"}},
        {"name": "nextjs-cache", "empty_dir": {"size_limit": "701Mi"}},
    ]
    for constraint in pod["topology_spread_constraints"]:
        assert constraint["label_selector"] == {"match_labels": APP_ID.selector_labels}
    term = pod["affinity"]["pod_anti_affinity"]["preferred_during_scheduling_ignored_during_execution"][0]
    assert term["pod_affinity_term"]["label_selector"] == {"match_labels": APP_ID.selector_labels}


# --- Service, HPA, PDB, ConfigMap ----------------------------------------------------------------


def test_the_service_reads_its_port_and_selects_the_pods() -> None:
    spec: Any = service_spec(APP, APP_ID)
    assert spec["selector"] == APP_ID.selector_labels
    assert spec["ports"] == [{"name": "http", "port": 8081, "target_port": "http", "protocol": "TCP"}]
    assert spec["type"] == "ClusterIP"
    assert service_annotations(APP) == {}


def test_the_hpa_reads_each_setting_from_its_own_field() -> None:
    spec: Any = hpa_spec(APP, "trading-ui")
    assert spec["scale_target_ref"] == {"api_version": "apps/v1", "kind": "Deployment", "name": "trading-ui"}
    assert (spec["min_replicas"], spec["max_replicas"]) == (5, 24)
    targets = {m["resource"]["name"]: m["resource"]["target"]["average_utilization"] for m in spec["metrics"]}
    assert targets == {"cpu": 61, "memory": 62}
    assert spec["behavior"] == {
        "scale_up": {
            "stabilization_window_seconds": 63,
            "policies": [{"type": "Percent", "value": 64, "period_seconds": 65}],
        },
        "scale_down": {
            "stabilization_window_seconds": 66,
            "policies": [{"type": "Percent", "value": 67, "period_seconds": 68}],
        },
    }


def test_the_pdb_uses_the_bound_the_stack_chose() -> None:
    spec: Any = pdb_spec(APP, APP_ID)
    assert spec == {
        "selector": {"match_labels": APP_ID.selector_labels},
        "unhealthy_pod_eviction_policy": "AlwaysAllow",
        "max_unavailable": 4,
    }
    by_min = settings({**DISTINCT_APP, "disruptionBudget": {"minAvailable": 3, "maxUnavailable": None}}).app
    spec = pdb_spec(by_min, APP_ID)
    assert (spec.get("min_available"), "max_unavailable" in spec) == (3, False)


def test_the_configmap_holds_the_public_settings() -> None:
    assert public_config(APP) == {
        "NEXT_PUBLIC_API_BASE_URL": "https://api.ui.example.com/v2",
        "NEXT_PUBLIC_WEBSOCKET_URL": "wss://stream.ui.example.com/socket",
        "NEXT_PUBLIC_CPP_BACKEND_URL": "https://engine.ui.example.com/core",
        "NEXT_PUBLIC_ENABLE_ANALYTICS": "false",
        "NEXT_PUBLIC_ENABLE_DEBUG_PANEL": "true",
        "NEXTAUTH_URL": "https://ui.example.com",
        "NODE_ENV": "production",
        "NEXT_TELEMETRY_DISABLED": "1",
    }


def test_checksum_is_stable_and_sensitive() -> None:
    assert checksum({"a": "1", "b": "2"}) == checksum({"b": "2", "a": "1"})
    assert checksum({"a": "1"}) != checksum({"a": "2"})


def test_the_digest_exception_goes_once_the_image_is_pinned_by_digest() -> None:
    by_tag = checkov_annotations(APP)
    by_digest = checkov_annotations(
        settings({**DISTINCT_APP, "image": f"{DISTINCT_APP['image']}@sha256:{'cd' * 32}"}).app
    )
    assert any(v.startswith("CKV_K8S_43=") for v in by_tag.values())
    assert not any(v.startswith("CKV_K8S_43=") for v in by_digest.values())


def test_the_workload_profile_describes_the_app_at_its_peak() -> None:
    profile = workload_profile("trading-ui", "qa", APP)
    assert profile.pod_labels == APP_ID.selector_labels
    assert profile.ports == (3107,)
    assert profile.peak_pods == 24 + 3  # the HPA's ceiling plus the rollout's surge
    assert profile.pod_requests == {"cpu": "251m", "memory": "301Mi", "ephemeral-storage": "1101Mi"}
    assert profile.pod_limits == {"cpu": "751m", "memory": "901Mi", "ephemeral-storage": "2201Mi"}
    assert (profile.load_balancers, profile.service_account) == (0, "trading-ui-sa")
    assert (profile.config_maps, profile.secrets) == (("trading-ui-config",), ("trading-ui-secrets",))
    fixed = settings({**DISTINCT_APP, "autoscaling": {"enabled": False}, "service": {"type": "LoadBalancer"}}).app
    assert workload_profile("trading-ui", "qa", fixed).peak_pods == 7 + 3
    assert workload_profile("trading-ui", "qa", fixed).load_balancers == 1


# --- the component under mocks -----------------------------------------------------------------


def _children(monitor: RecordingMonitor, component_name: str) -> dict[str, Registration]:
    registrations = monitor.registrations.values()
    (parent,) = [r for r in registrations if r.type == "hft:index:FrontendApp" and r.name == component_name]
    return {r.type.split(":")[-1]: r for r in registrations if r.parent == parent.urn}


def _all_registered(*components: FrontendApp) -> pulumi.Output[list[Any]]:
    """Waits for every child's registration (an Output only of the values checked would not)."""
    resources: list[pulumi.Resource] = []
    for component in components:
        resources += [component.config_map, component.secret, component.service_account, component.deployment]
        resources += [component.service, *(r for r in (component.hpa, component.pdb) if r is not None)]
    return pulumi.Output.all(*[resource.urn for resource in resources])


@pulumi.runtime.test
def test_two_instances_get_distinct_urns_and_kubernetes_names(pulumi_mocks: RecordingMonitor) -> Any:
    app = settings(MINIMAL_APP).app
    web = FrontendApp("web", FrontendAppArgs(app=app, environment="qa", namespace="qa"))
    admin = FrontendApp("admin", FrontendAppArgs(app=app, environment="qa", namespace="qa"))

    def check(_: Any) -> None:
        by_component = {name: _children(pulumi_mocks, name) for name in ("web", "admin")}
        assert len(by_component["web"]) == len(by_component["admin"]) == 8
        for kind, child in by_component["web"].items():
            other = by_component["admin"][kind]
            assert child.urn != other.urn
            assert child.name.startswith("web-")
            assert other.name.startswith("admin-")
            if "metadata" in child.inputs:
                assert child.inputs["metadata"]["name"] != other.inputs["metadata"]["name"], kind
        web_pods = by_component["web"]["Deployment"].inputs["spec"]["template"]["metadata"]["labels"]
        admin_service = by_component["admin"]["Service"].inputs["spec"]["selector"]
        assert not admin_service.items() <= web_pods.items(), "admin's Service must not select web's pods"
        assert web.service_target.app.selector_labels.items() <= web_pods.items()
        assert admin.app_id.name == "admin"

    return _all_registered(web, admin).apply(check)


@pulumi.runtime.test
def test_children_keep_their_state_through_aliases_to_their_earlier_names(pulumi_mocks: RecordingMonitor) -> Any:
    app = settings({**MINIMAL_APP, "configMapName": "frontend-config", "secretName": "frontend-secrets"}).app
    component = FrontendApp("hft-frontend", FrontendAppArgs(app=app, environment="qa", namespace="qa"))

    def check(_: Any) -> None:
        children = _children(pulumi_mocks, "hft-frontend")
        parent = "hft:index:FrontendApp"
        earlier = {
            "ConfigMap": f"{parent}$kubernetes:core/v1:ConfigMap::frontend-config",
            "Secret": f"{parent}$kubernetes:core/v1:Secret::frontend-secrets",
            "ServiceAccount": f"{parent}$kubernetes:core/v1:ServiceAccount::hft-frontend-sa",
            "Deployment": f"{parent}$kubernetes:apps/v1:Deployment::hft-frontend",
            "RandomPassword": f"{parent}$random:index/randomPassword:RandomPassword::nextauth-secret",
            "PrivateKey": f"{parent}$tls:index/privateKey:PrivateKey::jwt-signing-key",
        }
        for kind, urn in earlier.items():
            # (The SDK adds aliases of its own to a Deployment's earlier API versions, same name.)
            renamed = [a for a in children[kind].aliases if not a.endswith(f"::{children[kind].name}")]
            assert [alias.split("::", 2)[2] for alias in renamed] == [urn], kind
        # Unchanged names need no alias.
        assert children["Service"].aliases == []
        assert children["Service"].name == "hft-frontend-service"

    return _all_registered(component).apply(check)


@pulumi.runtime.test
def test_the_sentry_dsn_stays_secret(pulumi_mocks: RecordingMonitor) -> Any:
    dsn = ConfigSecret("https://key@sentry.example.com/42")
    component = FrontendApp(
        "frontend", FrontendAppArgs(app=settings(MINIMAL_APP).app, environment="qa", namespace="qa", sentry_dsn=dsn)
    )

    def check(_: Any) -> None:
        children = _children(pulumi_mocks, "frontend")
        secret = children["Secret"]
        assert is_secret(secret.inputs["stringData"])
        assert secret.inputs["stringData"]["value"]["SENTRY_DSN"] == "https://key@sentry.example.com/42"
        assert set(secret.additional_secret_outputs) == {"data", "stringData"}
        assert "sentry.example.com" not in str(children["Deployment"].inputs)

    return _all_registered(component).apply(check)


# --- a pinned selector (a live Deployment's, which is immutable) --------------------------------------------

PINNED: AppSettings = settings({**DISTINCT_APP, "selectorLabels": {"app": "trading-ui", "tier": "web"}}).app


def selectors_of(app: AppSettings) -> dict[str, Any]:
    app_id = identity("trading-ui", "qa", app)
    names = object_names("trading-ui", app)
    spec: Any = deployment_spec(app, app_id, names, "c", "s")
    pod: Any = spec["template"]["spec"]
    return {
        "deployment": spec["selector"]["match_labels"],
        "pods": spec["template"]["metadata"]["labels"],
        "service": cast(Any, service_spec(app, app_id))["selector"],
        "pdb": cast(Any, pdb_spec(app, app_id))["selector"]["match_labels"],
        "anti-affinity": pod["affinity"]["pod_anti_affinity"]["preferred_during_scheduling_ignored_during_execution"][
            0
        ]["pod_affinity_term"]["label_selector"]["match_labels"],
        "spread": [c["label_selector"]["match_labels"] for c in pod["topology_spread_constraints"]],
        "network policies": workload_profile("trading-ui", "qa", app).pod_labels,
    }


def test_a_pinned_selector_is_the_deployments_and_every_selector_of_its_pods_uses_it() -> None:
    found = selectors_of(PINNED)
    pin = {"app": "trading-ui", "tier": "web"}
    assert found["deployment"] == pin
    assert found["service"] == pin
    assert found["pdb"] == pin
    assert found["anti-affinity"] == pin
    assert found["spread"] == [pin, pin]
    assert dict(found["network policies"]) == pin
    # The pods carry the pin (so every selector matches them) and the recommended labels too.
    assert pin.items() <= found["pods"].items()
    assert found["pods"]["app.kubernetes.io/name"] == "trading-ui"
    assert found["pods"]["app.kubernetes.io/instance"] == "trading-ui-qa"


def test_without_a_pin_every_selector_is_the_recommended_name_and_instance() -> None:
    found = selectors_of(APP)
    recommended = {"app.kubernetes.io/name": "trading-ui", "app.kubernetes.io/instance": "trading-ui-qa"}
    assert found["deployment"] == found["service"] == found["pdb"] == found["anti-affinity"] == recommended
    assert found["spread"] == [recommended, recommended]
    assert dict(found["network policies"]) == recommended
    assert recommended.items() <= found["pods"].items()


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_both_stacks_keep_the_live_deployments_selector(stack: str) -> None:
    objects = manifests(stack)
    deployment = find(objects, "Deployment", "hft-frontend")
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "hft-frontend"}}
    assert find(objects, "Service", "hft-frontend-service")["spec"]["selector"] == {"app": "hft-frontend"}
    assert deployment["spec"]["template"]["metadata"]["labels"]["app"] == "hft-frontend"


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"bad key!": "x"}, "app.selectorLabels.bad key!.[key]"),
        ({"app": "two words"}, 'app.selectorLabels.app = "two words": not a valid label value'),
        ({}, "app.selectorLabels = {}"),
    ],
)
def test_a_selector_that_is_not_a_label_selector_is_refused_with_one_line(labels: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings({**MINIMAL_APP, "selectorLabels": labels})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_service_keeps_its_server_assigned_cluster_ip(stack: str) -> None:
    """An imported Service records its live clusterIP, which the program never sets; without ignoring it the first
    up would plan a replace (pulumi-kubernetes diff.go forceNewProperties: Service .spec.clusterIP)."""
    rendering = render(stack)
    service = next(r for r in rendering.registrations if r.type == "kubernetes:core/v1:Service")
    assert set(service.ignore_changes) == {"spec.clusterIP", "spec.clusterIPs"}
    assert "clusterIP" not in service.inputs["spec"]


# --- the live Secret's values, given by the stack ---------------------------------------------------------------


def app_keys(rendering: Any, type_: str) -> list[Any]:
    """The FrontendApp's own generated keys (the origin lock's keys belong to OriginPullCertificates)."""
    return [r for r in rendering.by_type(type_) if "FrontendApp$" in r.urn]


def secret_inputs(rendering: Any) -> dict[str, Any]:
    (secret,) = [r for r in rendering.registrations if r.type == "kubernetes:core/v1:Secret"]
    return secret.inputs["stringData"]["value"]


def test_a_given_secret_value_is_used_and_not_generated() -> None:
    given = render(
        "production", {"hft-frontend:app": {"secretValues": {"NEXTAUTH_SECRET": Secret("live-nextauth-value")}}}
    )
    assert secret_inputs(given)["NEXTAUTH_SECRET"] == "live-nextauth-value"
    assert not app_keys(given, "random:index/randomPassword:RandomPassword")
    assert app_keys(given, "tls:index/privateKey:PrivateKey"), "the other key is still generated"
    both = render(
        "production",
        {
            "hft-frontend:app": {
                "secretValues": {"NEXTAUTH_SECRET": Secret("a"), "JWT_SIGNING_PRIVATE_KEY": Secret("b")}
            }
        },
    )
    assert not app_keys(both, "tls:index/privateKey:PrivateKey")
    assert secret_inputs(both)["JWT_SIGNING_PRIVATE_KEY"] == "b"
    plain = render("production")
    assert app_keys(plain, "random:index/randomPassword:RandomPassword")
    assert app_keys(plain, "tls:index/privateKey:PrivateKey")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"NEXTAUTH_SECRET": "in-plain-text"}, "must be a secret"),
        ({"SESSION_KEY": Secret("x")}, "app.secretValues.SESSION_KEY"),
    ],
)
def test_a_secret_value_in_plain_text_or_for_another_key_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ProgramError) as error:
        render("production", {"hft-frontend:app": {"secretValues": values}})
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert "in-plain-text" not in str(error.value)
