"""Canary releases (components/delivery.py): what production renders under `delivery.strategy: canary`,
what staging (rolling) does not, the settings' rules, the controller's chart values and the deploy's
guard (tools/rollout_guard.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import delivery as delivery_module
from components.k8s import ROLLOUT_HASH_LABEL, TRAFFIC_ROLE_LABEL
from components.settings import DeliverySettings, SettingsError, parse_settings
from offline_preview.engine import ProgramError
from tests.support.crd_schemas import CrdValidationError
from tests.support.crd_schemas import validate as validate_custom_resource
from tests.support.stacks import PROJECT_DIR, STACKS, find, manifests, render, stack_values
from tools import rollout_guard

PROD = "production"


def objects(stack: str = PROD) -> list[dict[str, Any]]:
    return manifests(stack)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def rollout() -> dict[str, Any]:
    return find(objects(), "Rollout")


def app_service() -> dict[str, Any]:
    return find(objects(), "Service", "hft-frontend-service")


def revision_pods() -> list[dict[str, str]]:
    """The labels of a stable and a canary pod: the Deployment's template labels (the Rollout takes its
    template) plus the revision hash Argo adds to each ReplicaSet's pods."""
    template = find(objects(), "Deployment")["spec"]["template"]["metadata"]["labels"]
    return [{**template, ROLLOUT_HASH_LABEL: "stable1234"}, {**template, ROLLOUT_HASH_LABEL: "canary5678"}]


# --- the Rollout ------------------------------------------------------------------------------------------


def test_the_rollout_takes_over_the_deployment_progressively() -> None:
    spec = rollout()["spec"]
    deployment = find(objects(), "Deployment")
    assert rollout()["metadata"]["name"] == deployment["metadata"]["name"]
    assert spec["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
        "scaleDown": "progressively",
    }
    # The Deployment keeps its selector, labels and template; the program no longer sets its replicas.
    assert spec["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert "replicas" not in deployment["spec"]
    assert "template" not in spec


def test_the_rollout_starts_at_the_stacks_baseline_and_the_hpa_owns_it_after() -> None:
    values = stack_values(PROD)["hft-frontend:app"]
    assert rollout()["spec"]["replicas"] == values["replicas"]
    (registration,) = [r for r in render(PROD).registrations if r.type == "kubernetes:argoproj.io/v1alpha1:Rollout"]
    assert registration.ignore_changes == ["spec.replicas"]


def test_the_steps_are_the_stack_values_with_their_pauses() -> None:
    configured = stack_values(PROD)["hft-frontend:delivery"]["steps"]
    steps = rollout()["spec"]["strategy"]["canary"]["steps"]
    expected: list[dict[str, Any]] = []
    for step in configured:
        expected += [{"setWeight": step["setWeight"]}, {"pause": {"duration": step["pause"]}}]
    assert steps == expected
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [5, 25, 50, 100]


def test_a_step_without_a_pause_waits_for_a_promotion() -> None:
    steps = render(PROD, {"hft-frontend:delivery": {"steps": [{"setWeight": 10}, {"setWeight": 100, "pause": "1m"}]}})
    canary = find(manifests(steps), "Rollout")["spec"]["strategy"]["canary"]
    assert canary["steps"] == [
        {"setWeight": 10},
        {"pause": {}},
        {"setWeight": 100},
        {"pause": {"duration": "1m"}},
    ]


def test_the_analysis_starts_with_the_first_step_on_the_canarys_hash() -> None:
    canary = rollout()["spec"]["strategy"]["canary"]
    template = find(objects(), "AnalysisTemplate")
    assert canary["analysis"] == {
        "templates": [{"templateName": template["metadata"]["name"]}],
        # Step 0 is the first setWeight; the analysis runs from the pause after it on.
        "startingStep": 1,
        "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
    }
    assert canary["steps"][0] == {"setWeight": 5}
    assert template["spec"]["args"] == [{"name": "canary-hash"}]


def test_the_plugin_moves_every_route_that_serves_the_app() -> None:
    plugin = rollout()["spec"]["strategy"]["canary"]["trafficRouting"]["plugins"]["argoproj-labs/gatewayAPI"]
    routes = {o["metadata"]["name"] for o in objects() if o["kind"] == "HTTPRoute"}
    serving = {
        o["metadata"]["name"]
        for o in objects()
        if o["kind"] == "HTTPRoute" and any(r.get("backendRefs") for r in o["spec"]["rules"])
    }
    assert {r["name"] for r in plugin["httpRoutes"]} == serving == {"hft-frontend", "hft-frontend-websocket"}
    assert serving < routes  # the redirect route serves nothing
    assert "namespace" not in plugin  # the routes are in the Rollout's namespace, the plugin's default


# --- the Services and the routes ----------------------------------------------------------------------------


def test_the_stable_and_canary_services_select_as_the_apps_service_does() -> None:
    canary = rollout()["spec"]["strategy"]["canary"]
    stable = find(objects(), "Service", canary["stableService"])
    canary_service = find(objects(), "Service", canary["canaryService"])
    assert stable["metadata"]["name"] != canary_service["metadata"]["name"]
    for service in (stable, canary_service):
        assert service["spec"]["selector"] == app_service()["spec"]["selector"]
        assert (
            service["spec"]["ports"] == [{**port, "protocol": "TCP"} for port in app_service()["spec"]["ports"]]
            or service["spec"]["ports"] == app_service()["spec"]["ports"]
        )
    assert stable["metadata"]["labels"][TRAFFIC_ROLE_LABEL] == "stable"
    assert canary_service["metadata"]["labels"][TRAFFIC_ROLE_LABEL] == "canary"


def test_every_rule_serving_the_app_lists_stable_at_100_and_canary_at_0() -> None:
    canary = rollout()["spec"]["strategy"]["canary"]
    port = app_service()["spec"]["ports"][0]["port"]
    rules = [
        (route["metadata"]["name"], rule)
        for route in objects()
        if route["kind"] == "HTTPRoute"
        for rule in route["spec"]["rules"]
        if rule.get("backendRefs")
    ]
    assert {name for name, _ in rules} == {"hft-frontend", "hft-frontend-websocket"}
    for _, rule in rules:
        assert rule["backendRefs"] == [
            {"group": "", "kind": "Service", "name": canary["stableService"], "port": port, "weight": 100},
            {"group": "", "kind": "Service", "name": canary["canaryService"], "port": port, "weight": 0},
        ]


# --- what keeps selecting every pod ---------------------------------------------------------------------


def test_the_hpa_scales_the_rollout() -> None:
    target = find(objects(), "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": rollout()["metadata"]["name"]}


def test_the_pdb_and_the_network_policies_select_stable_and_canary_pods() -> None:
    pdb = find(objects(), "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    app_policies = [
        o["spec"]["podSelector"]["matchLabels"]
        for o in objects()
        if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == PROD and o["spec"]["podSelector"]
    ]
    assert len(app_policies) == 2  # ingress and egress
    for pod in revision_pods():
        assert matches(pdb, pod)
        assert all(matches(selector, pod) for selector in app_policies)


def test_the_service_monitor_scrapes_every_pod_once_labelled_by_revision() -> None:
    monitor = find(objects(), "ServiceMonitor")["spec"]
    services = [o for o in objects() if o["kind"] == "Service" and o["metadata"]["namespace"] == PROD]

    def selected(service: dict[str, Any]) -> bool:
        labels = service["metadata"]["labels"]
        expressions_hold = all(
            e["operator"] == "DoesNotExist" and e["key"] not in labels
            for e in monitor["selector"].get("matchExpressions", [])
        )
        return matches(monitor["selector"]["matchLabels"], labels) and expressions_hold

    # Only the app's Service, which selects every pod: the traffic Services would scrape each pod twice.
    assert [s["metadata"]["name"] for s in services if selected(s)] == ["hft-frontend-service"]
    assert all(matches(app_service()["spec"]["selector"], pod) for pod in revision_pods())
    (endpoint,) = monitor["endpoints"]
    assert endpoint["relabelings"] == [
        {
            "action": "replace",
            "sourceLabels": ["__meta_kubernetes_pod_label_rollouts_pod_template_hash"],
            "targetLabel": "rollouts_pod_template_hash",
        }
    ]


def test_the_quota_holds_a_whole_canary_beside_the_stable_set_at_its_maximum() -> None:
    app = stack_values(PROD)["hft-frontend:app"]
    most = app["autoscaling"]["maxReplicas"] + app["maxSurge"] + app["autoscaling"]["maxReplicas"]
    quota = find(objects(), "ResourceQuota", "hft-frontend-quota")["spec"]["hard"]
    assert quota["pods"] == str(most)
    assert quota["requests.cpu"] == str(most * int(app["resources"]["requests"]["cpu"]))


# --- validity ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Rollout", "AnalysisTemplate"])
def test_the_custom_resources_validate_strictly(kind: str) -> None:
    obj = copy.deepcopy(find(objects(), kind))
    validate_custom_resource(obj)
    obj["spec"]["strategyy"] = {}
    with pytest.raises(CrdValidationError):
        validate_custom_resource(obj)


def test_a_rollout_with_a_weight_as_a_percentage_string_is_refused() -> None:
    obj = copy.deepcopy(rollout())
    obj["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "5%"
    with pytest.raises(CrdValidationError):
        validate_custom_resource(obj)


def test_patch_force_stays_off() -> None:
    # With patch force, a `pulumi up` mid-canary would silently take the routes' weights back from Argo.
    for stack in STACKS:
        config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert not any(key.lower().startswith("kubernetes:enablepatchforce") for key in config)
        for obj in manifests(stack):
            assert "pulumi.com/patchForce" not in (obj["metadata"].get("annotations") or {})
    providers = [r for r in render(PROD).registrations if r.type.startswith("pulumi:providers:kubernetes")]
    assert all(not r.inputs.get("enablePatchForce") for r in providers)


# --- staging stays rolling -----------------------------------------------------------------------------------


def test_a_rolling_stack_renders_nothing_of_argo_rollouts() -> None:
    staging = objects("staging")
    kinds = {o["kind"] for o in staging}
    assert not kinds & {"Rollout", "AnalysisTemplate"}
    assert not any(TRAFFIC_ROLE_LABEL in o["metadata"].get("labels", {}) for o in staging)
    assert not any(r.type == "hft:index:Delivery" for r in render("staging").registrations)
    assert "replicas" in find(staging, "Deployment")["spec"]
    monitor = find(staging, "ServiceMonitor")["spec"]
    assert "matchExpressions" not in monitor["selector"]
    assert "relabelings" not in monitor["endpoints"][0]
    assert stack_values("staging")["hft-frontend:delivery"] == {"strategy": "rolling"}


def test_production_as_rolling_has_the_hpa_on_the_deployment() -> None:
    rolling = render(PROD, {"hft-frontend:delivery": {"strategy": "rolling"}})
    target = find(manifests(rolling), "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    assert not [o for o in manifests(rolling) if o["kind"] == "Rollout"]


# --- settings ------------------------------------------------------------------------------------------------

MINIMAL = stack_values(PROD)


def settings_of(delivery: dict[str, Any], **more: Any) -> Any:
    raw = {
        key.removeprefix("hft-frontend:"): value for key, value in MINIMAL.items() if key.startswith("hft-frontend:")
    }
    raw = {**raw, "environment": "production", "delivery": delivery, **more}
    return parse_settings(raw)


def test_the_default_is_rolling() -> None:
    assert DeliverySettings().strategy == "rolling"
    assert not DeliverySettings().canary


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([{"setWeight": 50}, {"setWeight": 25}, {"setWeight": 100}], "delivery.steps[1].setWeight = 25: must be above"),
        ([{"setWeight": 5}, {"setWeight": 50}], "delivery.steps[1].setWeight = 50: the last step must send 100 %"),
        ([], "delivery.steps = []: needs at least one step"),
        ([{"setWeight": 5, "pause": "5 minutes"}, {"setWeight": 100}], "delivery.steps[0].pause"),
    ],
)
def test_the_steps_climb_to_100(steps: list[dict[str, Any]], expected: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings_of({"strategy": "canary", "steps": steps})
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("more", "needs"),
    [
        ({"routing": {"mode": "ingress-nginx", "originLock": {"enabled": False}}}, "needs routing.mode: gateway"),
        ({"observability": {"enabled": False}}, "needs observability.enabled: true"),
    ],
)
def test_a_canary_needs_the_gateway_and_the_scrapes(more: dict[str, Any], needs: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings_of({"strategy": "canary"}, **more)
    assert f'delivery.strategy = "canary": {needs}' in str(error.value)


def test_a_canary_needs_the_hpa_to_own_the_replicas() -> None:
    app = {**MINIMAL["hft-frontend:app"], "autoscaling": {"enabled": False}}
    with pytest.raises(SettingsError) as error:
        settings_of({"strategy": "canary"}, app=app)
    assert "needs app.autoscaling.enabled: true" in str(error.value)


def test_two_stacks_of_one_cluster_may_not_both_install_the_controller(tmp_path: Path) -> None:
    with pytest.raises(ProgramError) as error:
        render(
            "staging",
            {
                "hft-frontend:cluster": {"name": "hft-production"},
                "hft-frontend:delivery": {"strategy": "canary"},
                "hft-frontend:app": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4}},
            },
        )
    assert "the Argo Rollouts controller is owned by the stack 'production'" in str(error.value)


# --- the controller ------------------------------------------------------------------------------------------


def test_the_controller_runs_restricted_with_the_pinned_plugin() -> None:
    values = delivery_module.chart_values(DeliverySettings(strategy="canary"))
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = values["containerSecurityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["readOnlyRootFilesystem"] is True
    (plugin,) = values["controller"]["trafficRouterPlugins"]
    assert plugin == {
        "name": "argoproj-labs/gatewayAPI",
        "location": "https://github.com/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi/releases/download/"
        "v0.15.0/gatewayapi-plugin-linux-amd64",
    }
    assert values["controller"]["image"] == {
        "registry": "quay.io",
        "repository": "argoproj/argo-rollouts",
        "tag": "v1.9.1",
        "pullPolicy": "IfNotPresent",
    }


def test_the_plugin_checksum_is_checked_when_the_stack_records_it() -> None:
    sha = "a" * 64
    settings = DeliverySettings.model_validate({"controller": {"plugin": {"sha256": sha}}})
    assert delivery_module.chart_values(settings)["controller"]["trafficRouterPlugins"][0]["sha256"] == sha


def test_the_plugin_may_patch_routes_and_read_services() -> None:
    rbac = delivery_module.chart_values(DeliverySettings())["providerRBAC"]
    assert rbac["providers"]["gatewayAPI"] is True
    assert not any(on for name, on in rbac["providers"].items() if name != "gatewayAPI")
    rules = rbac["additionalRules"]
    assert {"apiGroups": [""], "resources": ["services"], "verbs": ["get"]} in rules
    routes = next(r for r in rules if "httproutes" in r["resources"])
    assert {"get", "list", "update", "patch"} <= set(routes["verbs"])


def test_the_controllers_namespace_is_guarded_and_reaches_prometheus() -> None:
    namespace = [o for o in objects() if o["metadata"].get("namespace") == "argo-rollouts"]
    kinds = {o["kind"] for o in namespace}
    assert {"NetworkPolicy", "ResourceQuota", "LimitRange"} <= kinds
    labels = find(objects(), "Namespace", "argo-rollouts")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    egress = find(namespace, "NetworkPolicy", "argo-rollouts-egress")["spec"]["egress"]
    assert {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"protocol": "TCP", "port": 9090}],
    } in egress
    # HTTPS anywhere but the metadata endpoint: the API server and github.com (the plugin's download).
    assert any(r["ports"] == [{"protocol": "TCP", "port": 443}] for r in egress)
    release = next(
        r
        for r in render(PROD).registrations
        if r.type == "kubernetes:helm.sh/v3:Release" and r.name == "delivery-controller"
    )
    assert release.inputs["chart"] == "argo-rollouts"
    assert release.inputs["version"] == "2.41.0"
    assert release.inputs["namespace"] == "argo-rollouts"


# --- the deploy's guard ----------------------------------------------------------------------------------------


def live(current: str, stable: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "hft-frontend", "namespace": "production"},
        "status": {"currentPodHash": current, "stableRS": stable, **status},
    }


@pytest.mark.parametrize(
    ("rollout_status", "blocks"),
    [
        (live("abc", "abc", phase="Healthy"), False),
        (live("def", "abc", phase="Paused", currentStepIndex=1), True),
        (live("def", "abc", phase="Progressing"), True),
        (live("def", "abc", phase="Degraded", abort=True), False),  # aborted: weights back on stable
        ({"metadata": {"name": "new"}, "status": {}}, False),  # not reconciled yet
    ],
)
def test_the_guard_blocks_only_a_release_in_progress(rollout_status: dict[str, Any], blocks: bool) -> None:
    lines = rollout_guard.blocking([rollout_status])
    assert bool(lines) is blocks
    if blocks:
        assert "kubectl argo rollouts abort hft-frontend -n production" in lines[0]
        assert "kubectl argo rollouts promote hft-frontend -n production --full" in lines[0]


def test_the_guard_reads_the_stack_file_and_fails_with_a_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen: list[str] = []

    def fake(namespace: str) -> list[dict[str, Any]]:
        seen.append(namespace)
        return [live("def", "abc", phase="Paused")]

    monkeypatch.setattr(rollout_guard, "live_rollouts", fake)
    out = tmp_path / "out"
    assert rollout_guard.main(["--stack", PROD, "--github-output", str(out)]) == 1
    assert seen == ["production"]
    assert "Rollout production/hft-frontend is mid-release" in capsys.readouterr().err
    assert out.read_text() == "canary=true\nnamespace=production\ntimeout=60m\n"
    monkeypatch.setattr(rollout_guard, "live_rollouts", lambda namespace: [live("abc", "abc")])
    assert rollout_guard.main(["--stack", "staging", "--github-output", str(out)]) == 0
    assert out.read_text().endswith("canary=false\nnamespace=staging\ntimeout=60m\n")


def test_the_deploy_guards_then_waits_for_the_release() -> None:
    workflow = yaml.safe_load((PROJECT_DIR / ".github/workflows/deploy.yml").read_text())
    steps = workflow["jobs"]["production"]["steps"]
    names = [s.get("name", "") for s in steps]
    guard = names.index("No canary release in progress")
    up = names.index("pulumi up --stack production --policy-pack policies")
    wait = names.index("The release finishes (fails on an aborted, Degraded, rollout)")
    assert guard < up < wait
    assert "tools.rollout_guard --stack production" in steps[guard]["run"]
    assert steps[wait]["run"] == 'kubectl argo rollouts status "$ROLLOUT" --namespace "$NAMESPACE" --timeout "$TIMEOUT"'
    assert steps[wait]["env"]["ROLLOUT"] == "${{ steps.up.outputs.rolloutName }}"
    install = steps[wait - 1]["run"]
    assert "sha256sum --check --strict" in install
    assert workflow["env"]["ARGO_ROLLOUTS_VERSION"] == DeliverySettings().controller.image.rsplit(":", 1)[1]
    rollback = yaml.safe_load((PROJECT_DIR / ".github/workflows/rollback.yml").read_text())
    rollback_steps = [s.get("run", "") for job in rollback["jobs"].values() for s in job.get("steps", [])]
    assert any("tools.rollout_guard --stack production" in run for run in rollback_steps)


def test_the_rollout_name_is_a_stack_output() -> None:
    outputs = json.dumps(render(PROD).registrations[0].outputs)
    assert '"rolloutName": "hft-frontend"' in outputs
