"""SecurityBaseline: the namespace's PSA labels, NetworkPolicies (evaluated, not just read), RBAC,
quota and limits: as pure specs over several workloads, and as the whole program renders them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from components.k8s import WorkloadProfile, quantity_value, scale_quantity, sum_quantities
from components.security_baseline import Egress, egress_spec, ingress_spec, limit_range_spec, quota_spec
from offline_preview.engine import Rendering
from offline_preview.render import kubernetes_objects
from tests.support.network_policies import allowed
from tests.support.stacks import STACKS, find, manifests, render


def app_namespace_objects(stack: str) -> list[dict[str, Any]]:
    """The stack's objects in the app's namespace, and that namespace itself (not Velero's)."""
    return [
        o
        for o in manifests(stack)
        if o["metadata"].get("namespace") == stack or (o["kind"] == "Namespace" and o["metadata"]["name"] == stack)
    ]


def pod_labels(objects: list[dict[str, Any]]) -> dict[str, str]:
    return find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]


# --- the namespace -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_namespace_enforces_restricted_pod_security(stack: str) -> None:
    labels = find(manifests(stack), "Namespace", stack)["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.32"
    assert labels["name"] == stack
    assert labels["environment"] == stack


def test_the_pss_version_is_a_stack_value(render_stack: Callable[..., Rendering]) -> None:
    rendering = render_stack("staging", {"hft-frontend:cluster": {"kubernetesVersion": "1.34"}})
    (namespace,) = rendering.by_type("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.34"


@pytest.mark.parametrize("stack", STACKS)
def test_the_baseline_keeps_the_namespace_through_both_of_its_earlier_urns(stack: str) -> None:
    rendering = render(stack)
    (namespace,) = [
        r for r in rendering.by_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == stack
    ]
    (baseline,) = [r for r in rendering.by_type("hft:index:SecurityBaseline") if r.name == "security-baseline"]
    assert namespace.parent == baseline.urn
    assert namespace.name == "security-baseline-namespace"
    # The foundation created it at the stack's top level, then the baseline took it over under the
    # same name: replacing a namespace deletes everything in it.
    assert set(namespace.aliases) == {
        f"urn:pulumi:{stack}::hft-frontend::kubernetes:core/v1:Namespace::namespace",
        f"urn:pulumi:{stack}::hft-frontend::hft:index:SecurityBaseline$kubernetes:core/v1:Namespace::namespace",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespaced_object_lives_in_the_stack_namespace(stack: str) -> None:
    rendering = render(stack)
    for registration, obj in kubernetes_objects(rendering):
        if obj["kind"] == "Namespace":
            continue
        # The exceptions: Grafana's sidecar loads dashboards from the monitoring namespace, and Velero's
        # objects (its installation, this stack's location and schedule) live in Velero's namespace, but
        # for its restore Role and binding in the namespace it restores into.
        if obj["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            expected = "monitoring"
        elif obj["kind"] == "ClusterRole":
            assert "namespace" not in obj["metadata"]
            continue
        elif "hft:index:Velero" in registration.urn and obj["kind"] not in ("Role", "RoleBinding"):
            expected = "velero"
        elif "hft:index:Delivery$hft:index:SecurityBaseline" in registration.urn:
            expected = "argo-rollouts"  # the Argo Rollouts controller's namespace (docs/delivery.md)
        else:
            expected = stack
        assert obj["metadata"]["namespace"] == expected, obj["metadata"]["name"]


# --- NetworkPolicies ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_everything_is_denied_by_default(stack: str) -> None:
    deny = find(app_namespace_objects(stack), "NetworkPolicy", "default-deny-all")["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    # A pod of any other workload in the namespace gets nothing.
    objects = app_namespace_objects(stack)
    assert not allowed(objects, "Ingress", {"app": "something-else"}, 3000, namespace="envoy-gateway-system")
    assert not allowed(objects, "Egress", {"app": "something-else"}, 443, ip="93.184.216.34")


@pytest.mark.parametrize("stack", STACKS)
def test_the_app_accepts_traffic_only_from_routing_and_monitoring(stack: str) -> None:
    objects = manifests(stack)
    labels = pod_labels(objects)
    # Envoy Gateway's proxies (the default routing) and Prometheus.
    assert allowed(objects, "Ingress", labels, 3000, namespace="envoy-gateway-system")
    assert allowed(objects, "Ingress", labels, 3000, namespace="monitoring")
    assert not allowed(objects, "Ingress", labels, 3000, namespace="default")
    assert not allowed(objects, "Ingress", labels, 3000, namespace=stack)
    assert not allowed(objects, "Ingress", labels, 22, namespace="envoy-gateway-system")


@pytest.mark.parametrize("stack", STACKS)
def test_the_app_reaches_dns_https_and_the_backend_but_not_the_metadata_endpoint(stack: str) -> None:
    objects = manifests(stack)
    labels = pod_labels(objects)
    assert allowed(objects, "Egress", labels, 53, "UDP", namespace="kube-system")
    assert allowed(objects, "Egress", labels, 53, "TCP", namespace="kube-system")
    assert allowed(objects, "Egress", labels, 443, ip="93.184.216.34")
    assert allowed(objects, "Egress", labels, 8080, namespace="api-backend")
    assert not allowed(objects, "Egress", labels, 443, ip="169.254.169.254")
    assert not allowed(objects, "Egress", labels, 80, ip="93.184.216.34")
    assert not allowed(objects, "Egress", labels, 8080, namespace="default")
    assert not allowed(objects, "Egress", labels, 5432, namespace="api-backend")


def test_the_evaluator_sees_a_missing_deny() -> None:
    # Without the default deny and the app's own policies, everything is open: the evaluator can fail.
    objects = [o for o in manifests("staging") if o["kind"] != "NetworkPolicy"]
    assert allowed(objects, "Egress", pod_labels(objects), 443, ip="169.254.169.254")


def test_namespaces_and_ports_are_stack_values(render_stack: Callable[..., Rendering]) -> None:
    rendering = render_stack(
        "staging",
        {
            "hft-frontend:routing": {"gateway": {"proxyNamespace": "gateway-system"}},
            "hft-frontend:security": {"backendApi": {"namespace": "trading-api", "port": 9443}},
        },
    )
    objects = manifests(rendering)
    labels = pod_labels(objects)
    assert allowed(objects, "Ingress", labels, 3000, namespace="gateway-system")
    assert not allowed(objects, "Ingress", labels, 3000, namespace="envoy-gateway-system")
    assert allowed(objects, "Egress", labels, 9443, namespace="trading-api")
    assert not allowed(objects, "Egress", labels, 8080, namespace="api-backend")


# --- RBAC --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_app_gets_no_kubernetes_api_access(stack: str) -> None:
    objects = manifests(stack)
    # The only RBAC objects are Velero's (production backs up): none binds the app's service account.
    bindings = [o for o in objects if o["kind"] in {"RoleBinding", "ClusterRoleBinding"}]
    assert all(s["namespace"] == "velero" for b in bindings for s in b["subjects"]), bindings
    rbac = {o["metadata"]["name"] for o in objects if o["kind"] in {"Role", "ClusterRole"}}
    assert rbac == ({"velero-restore", "velero-server"} if stack == "production" else set())
    assert find(objects, "ServiceAccount")["automountServiceAccountToken"] is False


def test_the_optional_role_reads_only_the_apps_own_config(render_stack: Callable[..., Rendering]) -> None:
    rendering = render_stack("staging", {"hft-frontend:security": {"apiReadOwnConfig": True}})
    (role,) = rendering.by_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
    assert role.inputs["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["frontend-config"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["frontend-secrets"], "verbs": ["get"]},
    ]
    (binding,) = rendering.by_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert binding.inputs["roleRef"]["name"] == role.inputs["metadata"]["name"]
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "hft-frontend-sa", "namespace": "staging"}]


# --- quota and limits --------------------------------------------------------------------------


def _peak_pods(objects: list[dict[str, Any]]) -> int:
    deployment = find(objects, "Deployment")["spec"]
    hpa = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    ceiling = hpa[0]["spec"]["maxReplicas"] if hpa else deployment["replicas"]
    # A canary stack's Rollout runs a whole canary beside the stable set at its ceiling (docs/delivery.md).
    canary = ceiling if any(o["kind"] == "Rollout" for o in objects) else 0
    return ceiling + deployment["strategy"]["rollingUpdate"]["maxSurge"] + canary


@pytest.mark.parametrize("stack", STACKS)
def test_the_quota_admits_the_hpa_maximum_during_a_rollout(stack: str) -> None:
    objects = app_namespace_objects(stack)
    hard = find(objects, "ResourceQuota")["spec"]["hard"]
    resources = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["resources"]
    pods = _peak_pods(objects)
    assert int(hard["pods"]) >= pods
    for kind in ("requests", "limits"):
        for resource, amount in resources[kind].items():
            assert quantity_value(hard[f"{kind}.{resource}"]) >= quantity_value(amount) * pods, (kind, resource)
    # And no more than that: the quota is the app's budget, not a blank cheque.
    assert int(hard["pods"]) == pods


def test_production_quota_numbers() -> None:
    hard = find(app_namespace_objects("production"), "ResourceQuota")["spec"]["hard"]
    # 20 (HPA max) + 2 (maxSurge) + 20 (a canary at 100 %) pods at 1 CPU / 1Gi requests and 2 CPU / 2Gi limits.
    assert (hard["pods"], hard["requests.cpu"], hard["limits.memory"]) == ("42", "42", "84Gi")
    assert hard["services.loadbalancers"] == "0"


@pytest.mark.parametrize("stack", STACKS)
def test_the_limit_range_defaults_match_the_app(stack: str) -> None:
    objects = app_namespace_objects(stack)
    (limits,) = find(objects, "LimitRange")["spec"]["limits"]
    resources = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert limits["type"] == "Container"
    assert limits["default"] == resources["limits"]
    assert limits["defaultRequest"] == resources["requests"]
    assert limits["max"] == resources["limits"]


@pytest.mark.parametrize(
    ("quantity", "factor", "expected"),
    [("512Mi", 3, "1536Mi"), ("500m", 22, "11000m"), ("1", 22, "22"), ("0.5", 3, "1.5"), ("2Gi", 22, "44Gi")],
)
def test_scale_quantity(quantity: str, factor: int, expected: str) -> None:
    assert scale_quantity(quantity, factor) == expected


@pytest.mark.parametrize(
    ("quantities", "expected"),
    [(["1Gi", "2Gi"], "3Gi"), (["1Gi", "512Mi"], "1536Mi"), (["1", "500m"], "1500m"), (["22"], "22"), ([], "0")],
)
def test_sum_quantities_is_exact(quantities: list[str], expected: str) -> None:
    assert sum_quantities(quantities) == expected
    assert quantity_value(expected) == sum((quantity_value(q) for q in quantities), quantity_value("0"))


def _workload(name: str, peak: int, requests: dict[str, str], limits: dict[str, str], lbs: int = 0) -> WorkloadProfile:
    return WorkloadProfile(
        name=name,
        pod_labels={"app.kubernetes.io/name": name},
        ports=(3000,),
        peak_pods=peak,
        pod_requests=requests,
        pod_limits=limits,
        load_balancers=lbs,
        service_account=f"{name}-sa",
    )


WEB = _workload("web", 5, {"cpu": "500m", "memory": "1Gi"}, {"cpu": "1", "memory": "2Gi"}, lbs=1)
WORKER = _workload(
    "worker", 3, {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "1Gi"}, {"cpu": "2", "memory": "512Mi"}
)


def test_the_quota_is_the_sum_of_the_workloads_peaks() -> None:
    spec: Any = quota_spec([WEB, WORKER])
    assert spec["hard"] == {
        "pods": "8",
        "requests.cpu": "3250m",  # 5 x 500m + 3 x 250m
        "requests.memory": "5888Mi",  # 5 x 1Gi + 3 x 256Mi
        "requests.ephemeral-storage": "3Gi",
        "limits.cpu": "11",  # 5 x 1 + 3 x 2
        "limits.memory": "11776Mi",  # 5 x 2Gi + 3 x 512Mi
        "services.loadbalancers": "1",
        "services.nodeports": "0",
    }


def test_the_limit_range_admits_the_largest_workloads_containers() -> None:
    spec: Any = limit_range_spec([WEB, WORKER])
    (limits,) = spec["limits"]
    assert limits["default"] == {"cpu": "2", "memory": "2Gi"}
    assert limits["default_request"] == {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"}
    assert limits["max"] == {"cpu": "2", "memory": "2Gi"}


def test_each_workload_gets_its_own_ingress_and_egress_rules() -> None:
    egress = Egress(
        dns_namespace="dns", dns_port=5353, https_port=8443, denied_cidrs=("10.0.0.0/8",), services=(("db", 5432),)
    )
    ingress: Any = ingress_spec(WORKER, ["gateway", "monitoring"])
    assert ingress["pod_selector"] == {"match_labels": {"app.kubernetes.io/name": "worker"}}
    assert [p["namespace_selector"]["match_labels"] for p in ingress["ingress"][0]["from_"]] == [
        {"kubernetes.io/metadata.name": "gateway"},
        {"kubernetes.io/metadata.name": "monitoring"},
    ]
    spec: Any = egress_spec(WORKER, egress)
    rules = spec["egress"]
    assert rules[0]["ports"] == [{"protocol": "UDP", "port": 5353}, {"protocol": "TCP", "port": 5353}]
    assert rules[1] == {
        "to": [{"ip_block": {"cidr": "0.0.0.0/0", "except_": ["10.0.0.0/8"]}}],
        "ports": [{"protocol": "TCP", "port": 8443}],
    }
    assert rules[2] == {
        "to": [{"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": "db"}}}],
        "ports": [{"protocol": "TCP", "port": 5432}],
    }


def test_a_workload_that_serves_no_port_gets_no_ingress_rule() -> None:
    # An ingress rule with an empty `ports` list admits every port: the spec refuses to build one, and
    # the component builds none (Velero's hook Jobs: test_backup.py).
    with pytest.raises(ValueError, match="serves no port"):
        ingress_spec(replace(WORKER, ports=()), ["monitoring"])
    objects = [o for o in manifests("production") if o["metadata"].get("namespace") == "velero"]
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    assert "velero-chart-hooks-egress" in names
    assert "velero-chart-hooks-ingress" not in names
