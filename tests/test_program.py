"""The whole program per stack file, as the offline preview renders it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from offline_preview.engine import SECRET_SIG, SIG, Registration, is_secret, run_program
from offline_preview.render import stack_export
from offline_preview.stack_config import load_stack_config
from tests.conftest import PROJECT, PROJECT_DIR, STACKS, find, manifests, render, stack_values
from tests.crd_schemas import served_kinds
from tests.crd_schemas import validate as validate_custom_resource

SCHEMAS = PROJECT_DIR.parent / "shared" / "schemas" / "pulumi"


def pod_template(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objects, "Deployment")["spec"]["template"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def secret_plaintexts(registrations: list[Registration]) -> set[str]:
    """Every string that sits inside a secret marker in the recorded state."""
    found: set[str] = set()

    def collect(value: Any, inside: bool) -> None:
        if is_secret(value):
            collect(value["value"], True)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item, inside)
        elif isinstance(value, list):
            for item in value:
                collect(item, inside)
        elif inside and isinstance(value, str) and len(value) >= 8:
            found.add(value)

    for reg in registrations:
        collect(reg.inputs, False)
        collect(reg.outputs, False)
    return found


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
    assert find(objects, "Namespace")["metadata"]["name"] == stack


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
    service = find(objects, "Service")
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
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (6, 20)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["behavior"]["scaleDown"]["policies"] == [{"type": "Percent", "value": 10, "periodSeconds": 60}]
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 60
    assert hpa["behavior"]["scaleUp"]["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 60}]


def test_the_service_is_cluster_internal_unless_the_stack_asks(project_with: Callable[..., Path]) -> None:
    service = find(manifests("production"), "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert not service["metadata"].get("annotations")

    config = stack_values("staging")
    config["hft-frontend:app"]["service"] = {"type": "LoadBalancer"}
    project = project_with("lb", config)
    rendering = run_program(project, PROJECT, load_stack_config(project, "lb", PROJECT))
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
    secrets = secret_plaintexts(render(stack).registrations)
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
    (key,) = rendering.by_type("tls:index/privateKey:PrivateKey")
    assert key.inputs["algorithm"] == "RSA"
    assert is_secret(key.outputs["privateKeyPemPkcs8"])


def test_a_sentry_dsn_secret_reaches_the_secret_and_stays_secret(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:sentryDsn"] = {"secure": "v1:AAAAbase64ciphertext"}
    project = project_with("sentry", config)
    rendering = run_program(project, PROJECT, load_stack_config(project, "sentry", PROJECT))
    (secret,) = rendering.by_type("kubernetes:core/v1:Secret")
    assert is_secret(secret.inputs["stringData"])
    assert secret.inputs["stringData"]["value"]["SENTRY_DSN"].startswith("[offline-preview:")


def test_rotation_replaces_the_generated_secrets_and_rolls_the_pods(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:app"]["secretRotation"] = 2
    project = project_with("rotated", config)
    rotated = run_program(project, PROJECT, load_stack_config(project, "rotated", PROJECT))
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


def test_a_configmap_change_rolls_the_pods(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:app"]["features"]["debugPanel"] = True
    project = project_with("debug", config)
    changed = run_program(project, PROJECT, load_stack_config(project, "debug", PROJECT))

    def annotations(rendering: Any) -> dict[str, str]:
        deployment = rendering.by_type("kubernetes:apps/v1:Deployment")[0]
        return deployment.inputs["spec"]["template"]["metadata"]["annotations"]

    assert annotations(changed)["checksum/config"] != annotations(render("staging"))["checksum/config"]
    assert annotations(changed)["checksum/secret"] == annotations(render("staging"))["checksum/secret"]


# --- the state export --------------------------------------------------------------------------


def _validator() -> Draft202012Validator:
    resources = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")]
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in resources
    )
    deployments = json.loads((SCHEMAS / "deployments.json").read_text())
    return Draft202012Validator(deployments, registry=registry)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_export_is_valid_pulumi_state(stack: str) -> None:
    export = stack_export(render(stack))
    errors = sorted(_validator().iter_errors(export), key=lambda e: list(e.path))
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
    assert list(_validator().iter_errors(export))


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_is_plaintext_in_the_export(stack: str) -> None:
    rendering = render(stack)
    text = json.dumps(stack_export(rendering))
    secrets = secret_plaintexts(rendering.registrations)
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
        kubernetes_validate.validate(obj, version, strict=True)


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


# --- observability, as wired into the program --------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_service_monitor_and_rules_point_at_the_rendered_service(stack: str) -> None:
    objects = manifests(stack)
    service = find(objects, "Service")
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


def test_observability_can_be_turned_off(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:observability"] = {"enabled": False}
    project = project_with("bare", config)
    rendering = run_program(project, PROJECT, load_stack_config(project, "bare", PROJECT))
    types = {r.type for r in rendering.registrations}
    assert "hft:index:Observability" not in types
    assert not {t for t in types if "monitoring.coreos.com" in t}
    assert "kubernetes:apps/v1:Deployment" in types
