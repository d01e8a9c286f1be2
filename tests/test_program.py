"""The whole program per stack file, as the offline preview renders it."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from offline_preview.engine import SECRET_SIG, SIG, ProgramError, Registration, Rendering, is_secret
from offline_preview.render import stack_export
from tests.support.crd_schemas import served_kinds
from tests.support.crd_schemas import validate as validate_custom_resource
from tests.support.kube_schemas import ListTypeError
from tests.support.kube_schemas import validate as validate_builtin
from tests.support.pulumi_schemas import deployment_validator
from tests.support.stacks import STACKS, Secret, find, manifests, render, secret_plaintexts

SENTRY_DSN = "https://0123456789abcdef@sentry.example.com/42"

# Every resource of the stacks as the last landed version registered it (its URN without the
# `urn:pulumi:<stack>::hft-frontend::` prefix; {env} is the stack). Each must be the URN, or an
# alias, of a resource the program registers now, or `pulumi up` would replace it.
EARLIER_URNS = [
    "hft:index:FrontendApp::hft-frontend",
    "hft:index:FrontendApp$random:index/randomPassword:RandomPassword::nextauth-secret",
    "hft:index:FrontendApp$tls:index/privateKey:PrivateKey::jwt-signing-key",
    "hft:index:Observability::observability",
    "hft:index:SecurityBaseline::security-baseline",
    "hft:index:SecurityBaseline$kubernetes:core/v1:Namespace::namespace",
    "kubernetes:core/v1:Namespace::namespace",
    "hft:index:FrontendApp$kubernetes:core/v1:ConfigMap::frontend-config",
    "hft:index:FrontendApp$kubernetes:core/v1:Secret::frontend-secrets",
    "hft:index:FrontendApp$kubernetes:core/v1:Service::hft-frontend-service",
    "hft:index:FrontendApp$kubernetes:core/v1:ServiceAccount::hft-frontend-sa",
    "hft:index:FrontendApp$kubernetes:apps/v1:Deployment::hft-frontend",
    "hft:index:FrontendApp$kubernetes:policy/v1:PodDisruptionBudget::hft-frontend-pdb",
    "hft:index:Observability$kubernetes:core/v1:ConfigMap::hft-frontend-{env}-dashboard",
    "hft:index:Observability$kubernetes:monitoring.coreos.com/v1:PrometheusRule::hft-frontend-alerts",
    "hft:index:Observability$kubernetes:monitoring.coreos.com/v1:ServiceMonitor::hft-frontend-metrics",
    "hft:index:SecurityBaseline$kubernetes:core/v1:LimitRange::hft-frontend-limits",
    "hft:index:SecurityBaseline$kubernetes:core/v1:ResourceQuota::hft-frontend-quota",
    "hft:index:SecurityBaseline$kubernetes:networking.k8s.io/v1:NetworkPolicy::default-deny-all",
    "hft:index:SecurityBaseline$kubernetes:networking.k8s.io/v1:NetworkPolicy::hft-frontend-egress",
    "hft:index:SecurityBaseline$kubernetes:networking.k8s.io/v1:NetworkPolicy::hft-frontend-ingress",
]


def pod_template(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objects, "Deployment")["spec"]["template"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# --- what each stack contains ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "kinds"),
    [
        (
            "staging",
            {"Namespace", "ConfigMap", "Secret", "ServiceAccount", "Deployment", "Service", "PodDisruptionBudget"},
        ),
        (
            "production",
            {
                "Namespace",
                "ConfigMap",
                "Secret",
                "ServiceAccount",
                "Deployment",
                "Service",
                "PodDisruptionBudget",
                "HorizontalPodAutoscaler",
            },
        ),
    ],
)
def test_each_stack_renders_its_workload(stack: str, kinds: set[str]) -> None:
    objects = manifests(stack)
    assert kinds <= {o["kind"] for o in objects}
    namespaced = [o for o in objects if o["kind"] != "Namespace" and o["metadata"].get("namespace") == stack]
    assert len(namespaced) >= len(kinds) - 1
    assert stack in {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}


def test_frontend_children_are_parented_to_the_component() -> None:
    rendering = render("production")
    component = rendering.by_type("hft:index:FrontendApp")[0]
    assert component.parent == rendering.stack_urn
    children = [r for r in rendering.registrations if r.parent == component.urn]
    assert {r.type for r in children} >= {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Secret",
        "random:index/randomPassword:RandomPassword",
        "tls:index/privateKey:PrivateKey",
    }
    assert component.outputs["deploymentName"] == "hft-frontend"


# --- the Deployment ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_pods_run_restricted(stack: str) -> None:
    pod = pod_template(manifests(stack))["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1001,
        "runAsGroup": 1001,
        "fsGroup": 1001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_writable_paths_are_emptydir_volumes_and_the_cache_sits_in_the_app(stack: str) -> None:
    pod = pod_template(manifests(stack))["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {"/tmp": "tmp-volume", "/app/.next/cache": "nextjs-cache"}
    for name in mounts.values():
        assert "emptyDir" in volumes[name]
        assert "sizeLimit" in volumes[name]["emptyDir"]


def test_production_resources_and_probes_follow_the_seed() -> None:
    container = pod_template(manifests("production"))["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "2Gi"},
    }
    liveness, readiness, startup = container["livenessProbe"], container["readinessProbe"], container["startupProbe"]
    assert liveness["httpGet"]["path"] == "/api/health"
    assert liveness["httpGet"]["httpHeaders"] == [{"name": "Host", "value": "localhost"}]
    assert readiness["httpGet"]["httpHeaders"] == [{"name": "Host", "value": "localhost"}]
    assert (liveness["initialDelaySeconds"], liveness["periodSeconds"], liveness["timeoutSeconds"]) == (60, 30, 10)
    assert (readiness["initialDelaySeconds"], readiness["periodSeconds"], readiness["timeoutSeconds"]) == (10, 10, 5)
    assert (startup["periodSeconds"], startup["failureThreshold"]) == (10, 30)
    # The probes point at the container's named port, which exists.
    port_names = {p["name"] for p in container["ports"]}
    assert {liveness["httpGet"]["port"], readiness["httpGet"]["port"], startup["httpGet"]["port"]} <= port_names


def test_staging_resources_follow_the_seed() -> None:
    container = pod_template(manifests("staging"))["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "1000m", "memory": "1Gi"},
    }
    assert container["readinessProbe"]["failureThreshold"] == 2


def test_replicas_belong_to_the_hpa_when_it_scales() -> None:
    production = find(manifests("production"), "Deployment")["spec"]
    staging = find(manifests("staging"), "Deployment")["spec"]
    assert "replicas" not in production, "a spec.replicas would reset the HPA's count on every pulumi up"
    assert staging["replicas"] == 2


@pytest.mark.parametrize("stack", STACKS)
def test_rollouts_never_drop_below_desired_capacity(stack: str) -> None:
    strategy = find(manifests(stack), "Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1


@pytest.mark.parametrize("stack", STACKS)
def test_pods_spread_over_zones_and_nodes(stack: str) -> None:
    template = pod_template(manifests(stack))
    constraints = template["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in constraints:
        assert matches(constraint["labelSelector"]["matchLabels"], template["metadata"]["labels"])
    anti = template["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert matches(anti["podAffinityTerm"]["labelSelector"]["matchLabels"], template["metadata"]["labels"])


def test_production_keeps_the_seed_scrape_annotations_and_dns_config() -> None:
    template = pod_template(manifests("production"))
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "3000"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert template["spec"]["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}


# --- references between objects ----------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_reference_points_at_a_rendered_object(stack: str) -> None:
    objects = manifests(stack)
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    pod = pod_template(objects)["spec"]
    assert ("ServiceAccount", pod["serviceAccountName"]) in names
    for source in pod["containers"][0]["envFrom"]:
        if "configMapRef" in source:
            assert ("ConfigMap", source["configMapRef"]["name"]) in names
        if "secretRef" in source:
            assert ("Secret", source["secretRef"]["name"]) in names


@pytest.mark.parametrize("stack", STACKS)
def test_service_and_pdb_select_the_pods(stack: str) -> None:
    objects = manifests(stack)
    labels = pod_template(objects)["metadata"]["labels"]
    deployment = find(objects, "Deployment")
    assert matches(deployment["spec"]["selector"]["matchLabels"], labels)
    service = find(objects, "Service", "hft-frontend-service")
    assert matches(service["spec"]["selector"], labels)
    assert service["spec"]["ports"][0]["targetPort"] in {
        p["name"] for p in pod_template(objects)["spec"]["containers"][0]["ports"]
    }
    pdb = find(objects, "PodDisruptionBudget")
    assert matches(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["maxUnavailable"] == 1


def test_the_hpa_targets_the_deployment_with_the_seed_behaviour() -> None:
    objects = manifests("production")
    hpa = find(objects, "HorizontalPodAutoscaler")["spec"]
    deployment = find(objects, "Deployment")
    # Production releases as a canary: the HPA scales the Rollout that took the Deployment over (its name).
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (6, 20)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["behavior"]["scaleDown"]["policies"] == [{"type": "Percent", "value": 10, "periodSeconds": 60}]
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 60
    assert hpa["behavior"]["scaleUp"]["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 60}]


def test_the_service_is_cluster_internal_unless_the_stack_asks(render_stack: Callable[..., Rendering]) -> None:
    service = find(manifests("production"), "Service", "hft-frontend-service")
    assert service["spec"]["type"] == "ClusterIP"
    assert not service["metadata"].get("annotations")

    rendering = render_stack("staging", {"hft-frontend:app": {"service": {"type": "LoadBalancer"}}})
    (registration,) = rendering.by_type("kubernetes:core/v1:Service")
    assert registration.inputs["spec"]["type"] == "LoadBalancer"
    assert registration.inputs["metadata"]["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
    }


# --- config and secrets ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_configmap_holds_the_public_settings_and_no_secret(stack: str) -> None:
    objects = manifests(stack)
    data = find(objects, "ConfigMap", "frontend-config")["data"]
    assert set(data) >= {
        "NEXT_PUBLIC_API_BASE_URL",
        "NEXT_PUBLIC_WEBSOCKET_URL",
        "NEXT_PUBLIC_CPP_BACKEND_URL",
        "NEXT_PUBLIC_ENABLE_ANALYTICS",
        "NEXT_PUBLIC_ENABLE_DEBUG_PANEL",
        "NODE_ENV",
        "NEXT_TELEMETRY_DISABLED",
    }
    assert not {"NEXTAUTH_SECRET", "JWT_SIGNING_PRIVATE_KEY", "SENTRY_DSN"} & set(data)
    secrets = secret_plaintexts(render(stack))
    assert secrets, "the recorded state holds secret values to look for"
    assert not any(secret in value for secret in secrets for value in data.values())


@pytest.mark.parametrize("stack", STACKS)
def test_generated_secrets_are_pulumi_secrets(stack: str) -> None:
    rendering = render(stack)
    (secret,) = rendering.by_type("kubernetes:core/v1:Secret")
    assert is_secret(secret.inputs["stringData"])
    values = secret.inputs["stringData"]["value"]
    assert set(values) == {"NEXTAUTH_SECRET", "JWT_SIGNING_PRIVATE_KEY"}
    assert len(values["NEXTAUTH_SECRET"]) >= 32
    assert "PRIVATE KEY" in values["JWT_SIGNING_PRIVATE_KEY"]
    (password,) = rendering.by_type("random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] >= 32
    (key,) = [k for k in rendering.by_type("tls:index/privateKey:PrivateKey") if "FrontendApp$" in k.urn]
    assert key.inputs["algorithm"] == "RSA"
    assert is_secret(key.outputs["privateKeyPemPkcs8"])
    # The origin lock's keys (production) are secrets too.
    for other in rendering.by_type("tls:index/privateKey:PrivateKey"):
        assert is_secret(other.outputs["privateKeyPem"])


def test_a_sentry_dsn_secret_reaches_the_secret_and_stays_secret(render_stack: Callable[..., Rendering]) -> None:
    rendering = render_stack("staging", {"hft-frontend:sentryDsn": Secret(SENTRY_DSN)})
    (secret,) = rendering.by_type("kubernetes:core/v1:Secret")
    assert is_secret(secret.inputs["stringData"])
    assert secret.inputs["stringData"]["value"]["SENTRY_DSN"] == SENTRY_DSN
    assert SENTRY_DSN not in json.dumps(stack_export(rendering))
    assert SENTRY_DSN not in json.dumps(manifests(rendering))


def test_rotation_replaces_the_generated_secrets_and_rolls_the_pods(render_stack: Callable[..., Rendering]) -> None:
    rotated = render_stack("staging", {"hft-frontend:app": {"secretRotation": 2}})
    original = render("staging")

    def first(rendering: Any, type_: str) -> Registration:
        return rendering.by_type(type_)[0]

    password_type = "random:index/randomPassword:RandomPassword"
    assert first(original, password_type).inputs["keepers"] == {"rotation": "1"}
    assert first(rotated, password_type).inputs["keepers"] == {"rotation": "2"}
    key_type = "tls:index/privateKey:PrivateKey"
    assert first(original, key_type).replacement_trigger != first(rotated, key_type).replacement_trigger

    def checksum(rendering: Any) -> str:
        deployment = first(rendering, "kubernetes:apps/v1:Deployment")
        return deployment.inputs["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]

    assert checksum(original) != checksum(rotated)


def test_a_configmap_change_rolls_the_pods(render_stack: Callable[..., Rendering]) -> None:
    changed = render_stack("staging", {"hft-frontend:app": {"features": {"debugPanel": True}}})

    def annotations(rendering: Any) -> dict[str, str]:
        deployment = rendering.by_type("kubernetes:apps/v1:Deployment")[0]
        return deployment.inputs["spec"]["template"]["metadata"]["annotations"]

    assert annotations(changed)["checksum/config"] != annotations(render("staging"))["checksum/config"]
    assert annotations(changed)["checksum/secret"] == annotations(render("staging"))["checksum/secret"]


# --- renames keep state -----------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_earlier_resource_is_carried_over_by_its_urn_or_an_alias(stack: str) -> None:
    resources = stack_export(render(stack))["deployment"]["resources"]
    known = {r["urn"] for r in resources} | {alias for r in resources for alias in r.get("aliases", [])}
    earlier = {f"urn:pulumi:{stack}::hft-frontend::{urn.format(env=stack)}" for urn in EARLIER_URNS}
    if stack == "production":
        earlier.add(
            "urn:pulumi:production::hft-frontend::"
            "hft:index:FrontendApp$kubernetes:autoscaling/v2:HorizontalPodAutoscaler::hft-frontend-hpa"
        )
    assert sorted(earlier - known) == []


@pytest.mark.parametrize("stack", STACKS)
def test_children_are_named_from_their_component(stack: str) -> None:
    rendering = render(stack)
    components = {r.urn: r.name for r in rendering.registrations if r.type.startswith("hft:index:")}
    children = [r for r in rendering.registrations if r.parent in components]
    assert len(children) >= 14
    for child in children:
        assert child.name.startswith(f"{components[child.parent]}-"), child.urn


@pytest.mark.parametrize("stack", STACKS)
def test_the_live_objects_keep_their_kubernetes_names(stack: str) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in manifests(stack)}
    assert {
        ("ConfigMap", "frontend-config"),
        ("Secret", "frontend-secrets"),
        ("ServiceAccount", "hft-frontend-sa"),
        ("Deployment", "hft-frontend"),
        ("Service", "hft-frontend-service"),
        ("PodDisruptionBudget", "hft-frontend-pdb"),
        ("ResourceQuota", "hft-frontend-quota"),
        ("LimitRange", "hft-frontend-limits"),
        ("NetworkPolicy", "default-deny-all"),
        ("NetworkPolicy", "hft-frontend-ingress"),
        ("NetworkPolicy", "hft-frontend-egress"),
        ("ServiceMonitor", "hft-frontend-metrics"),
        ("PrometheusRule", "hft-frontend-alerts"),
        ("ConfigMap", f"hft-frontend-{stack}-dashboard"),
        ("Namespace", stack),
    } <= names


# --- secrets in the stack's config ---------------------------------------------------------------


def test_a_secret_inside_a_key_whose_fields_may_not_hold_one_fails_with_one_line(
    render_stack: Callable[..., Rendering],
) -> None:
    header = {"name": "Authorization", "value": Secret("Bearer s3cr3t-probe-token")}
    overrides = {"hft-frontend:app": {"probes": {"liveness": {"httpHeaders": [header]}}}}
    with pytest.raises(ProgramError) as error:
        render_stack("staging", overrides)
    message = str(error.value)
    assert message.startswith("Pulumi.staging.yaml: hft-frontend:app: is a secret")
    assert "s3cr3t" not in message
    assert "\n" not in message


# --- the state export --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_stack_export_is_valid_pulumi_state(stack: str) -> None:
    export = stack_export(render(stack))
    errors = sorted(deployment_validator().iter_errors(export), key=lambda e: list(e.path))
    assert not errors, errors[0].message
    assert export["version"] == 3
    resources = export["deployment"]["resources"]
    urns = {r["urn"] for r in resources}
    for resource in resources:
        assert "protect" in resource
        assert "dependencies" in resource
        assert set(resource["dependencies"]) <= urns
        # Default providers, like the stack, have no parent.
        if resource["type"] != "pulumi:pulumi:Stack" and not resource["type"].startswith("pulumi:providers:"):
            assert resource["parent"] in urns
        if resource["custom"] and not resource["type"].startswith("pulumi:providers:"):
            assert resource["provider"].rsplit("::", 1)[0] in urns


def test_the_schema_validator_rejects_a_broken_export() -> None:
    export = stack_export(render("staging"))
    export["deployment"]["resources"][1]["protect"] = "yes"
    assert list(deployment_validator().iter_errors(export))


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_is_plaintext_in_the_export(stack: str) -> None:
    rendering = render(stack)
    text = json.dumps(stack_export(rendering))
    secrets = secret_plaintexts(rendering)
    assert len(secrets) >= 3  # NEXTAUTH_SECRET, the private key PEMs
    for secret in secrets:
        assert secret not in text
    (secret_state,) = [
        r for r in stack_export(rendering)["deployment"]["resources"] if r["type"] == "kubernetes:core/v1:Secret"
    ]
    assert secret_state["inputs"]["stringData"][SIG] == SECRET_SIG
    assert "ciphertext" in secret_state["inputs"]["stringData"]


# --- the rendered manifests against Kubernetes' own schemas ------------------------------------


def is_custom_resource(obj: dict[str, Any]) -> bool:
    return f"{obj['apiVersion']} {obj['kind']}" in served_kinds()


@pytest.mark.parametrize("version", ["1.32.0", kubernetes_validate.latest_version()])
@pytest.mark.parametrize("stack", STACKS)
def test_manifests_are_valid_kubernetes(stack: str, version: str) -> None:
    built_in = [obj for obj in manifests(stack) if not is_custom_resource(obj)]
    assert len(built_in) >= 12
    for obj in built_in:
        validate_builtin(obj, version)


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_are_valid_against_their_crds(stack: str) -> None:
    custom = [obj for obj in manifests(stack) if is_custom_resource(obj)]
    assert {obj["kind"] for obj in custom} >= {"ServiceMonitor", "PrometheusRule"}
    for obj in custom:
        validate_custom_resource(obj)


def test_kubernetes_validate_is_strict() -> None:
    deployment = json.loads(json.dumps(find(manifests("staging"), "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.32.0", strict=True)


def _duplicate_container(pod: dict[str, Any]) -> None:
    pod["containers"].append(copy.deepcopy(pod["containers"][0]))


def _duplicate_env(pod: dict[str, Any]) -> None:
    env = pod["containers"][0].setdefault("env", [])
    env += [{"name": "PORT", "value": "3000"}, {"name": "PORT", "value": "3001"}]


def _duplicate_port(pod: dict[str, Any]) -> None:
    # `protocol` left out is TCP: the same key as the rendered port's.
    port = pod["containers"][0]["ports"][0]
    pod["containers"][0]["ports"].append({"containerPort": port["containerPort"], "name": "other"})


def _duplicate_volume_mount(pod: dict[str, Any]) -> None:
    mounts = pod["containers"][0]["volumeMounts"]
    mounts.append({**mounts[0], "name": mounts[-1]["name"]})


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (_duplicate_container, "spec.template.spec.containers: duplicate entry for key {'name': 'frontend'}"),
        (_duplicate_env, "containers[0].env: duplicate entry for key {'name': 'PORT'}"),
        (_duplicate_port, "containers[0].ports: duplicate entry for key {'containerPort': 3000, 'protocol': 'TCP'}"),
        (_duplicate_volume_mount, "containers[0].volumeMounts: duplicate entry for key {'mountPath':"),
    ],
)
def test_map_lists_repeating_a_key_are_refused_as_the_api_server_refuses_them(
    break_it: Callable[[dict[str, Any]], None], expected: str
) -> None:
    deployment = copy.deepcopy(find(manifests("production"), "Deployment"))
    validate_builtin(deployment, "1.32.0")
    break_it(deployment["spec"]["template"]["spec"])
    kubernetes_validate.validate(deployment, "1.32.0", strict=True)  # which kubernetes-validate alone accepts
    with pytest.raises(ListTypeError, match=re.escape(expected)):
        validate_builtin(deployment, "1.32.0")


# --- observability, as wired into the program --------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_service_monitor_and_rules_point_at_the_rendered_service(stack: str) -> None:
    objects = manifests(stack)
    service = find(objects, "Service", "hft-frontend-service")
    monitor = find(objects, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    # The app's series carry service=<the Service's name> (no jobLabel), which every app alert selects.
    rules = find(objects, "PrometheusRule")["spec"]["groups"][0]["rules"]
    app_alerts = [r for r in rules if r["alert"] in {"HighErrorRate", "HighResponseTime", "WebSocketConnectionDrop"}]
    assert len(app_alerts) == 3
    for rule in app_alerts:
        assert f'service="{service["metadata"]["name"]}"' in rule["expr"]
        assert f'namespace="{stack}"' in rule["expr"]
    dashboard = find(objects, "ConfigMap", f"hft-frontend-{stack}-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_observability_can_be_turned_off(render_stack: Callable[..., Rendering]) -> None:
    rendering = render_stack("staging", {"hft-frontend:observability": {"enabled": False}})
    types = {r.type for r in rendering.registrations}
    assert "hft:index:Observability" not in types
    assert not {t for t in types if "monitoring.coreos.com" in t}
    assert "kubernetes:apps/v1:Deployment" in types
