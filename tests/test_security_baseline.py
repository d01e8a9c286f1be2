"""SecurityBaseline: the namespace's PSA labels, NetworkPolicies (evaluated, not just read), RBAC,
quota and limits, as the whole program renders them."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.settings import quantity_value, scale_quantity
from offline_preview.engine import run_program
from offline_preview.render import kubernetes_objects
from offline_preview.stack_config import load_stack_config
from tests.conftest import PROJECT, STACKS, find, manifests, render, stack_values

# --- a small NetworkPolicy evaluator (the semantics of networking.k8s.io/v1) --------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], namespace: str | None, ip: str | None) -> bool:
    if "ipBlock" in peer:
        if ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(ip)
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(c) for c in block.get("except", []))
    if "namespaceSelector" in peer:
        # Namespaces carry kubernetes.io/metadata.name = their name, set by the API server.
        return namespace is not None and _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
    return False


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    return not ports or any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports)


def allowed(
    objects: list[dict[str, Any]],
    direction: str,
    pod_labels: dict[str, str],
    port: int,
    protocol: str = "TCP",
    namespace: str | None = None,
    ip: str | None = None,
) -> bool:
    """Whether the app's pod may send (Egress) or receive (Ingress) this traffic."""
    policies = [
        o["spec"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and _selects(o["spec"]["podSelector"], pod_labels)
        and direction in o["spec"]["policyTypes"]
    ]
    if not policies:
        return True  # no policy isolates the pod in this direction
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    return any(
        (not rule.get(peers_key) or any(_peer_matches(p, namespace, ip) for p in rule[peers_key]))
        and _port_matches(rule.get("ports"), port, protocol)
        for policy in policies
        for rule in policy.get(rules_key, [])
    )


def pod_labels(objects: list[dict[str, Any]]) -> dict[str, str]:
    return find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]


# --- the namespace -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_namespace_enforces_restricted_pod_security(stack: str) -> None:
    labels = find(manifests(stack), "Namespace")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.32"
    assert labels["name"] == stack
    assert labels["environment"] == stack


def test_the_pss_version_is_a_stack_value(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:cluster"] = {"kubernetesVersion": "1.34"}
    project = project_with("newer", config)
    rendering = run_program(project, PROJECT, load_stack_config(project, "newer", PROJECT))
    (namespace,) = rendering.by_type("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.34"


@pytest.mark.parametrize("stack", STACKS)
def test_the_baseline_takes_the_namespace_over_without_replacing_it(stack: str) -> None:
    rendering = render(stack)
    (namespace,) = rendering.by_type("kubernetes:core/v1:Namespace")
    (baseline,) = rendering.by_type("hft:index:SecurityBaseline")
    assert namespace.parent == baseline.urn
    # Where the foundation created it: at the stack's top level, logical name "namespace".
    foundation_urn = f"urn:pulumi:{stack}::hft-frontend::kubernetes:core/v1:Namespace::namespace"
    assert foundation_urn in namespace.aliases
    assert namespace.urn != foundation_urn


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespaced_object_lives_in_the_stack_namespace(stack: str) -> None:
    for obj in manifests(stack):
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] == "Namespace":
            continue
        # The one exception: Grafana's sidecar loads dashboards from the monitoring namespace.
        expected = "monitoring" if labels.get("grafana_dashboard") == "1" else stack
        assert obj["metadata"]["namespace"] == expected, obj["metadata"]["name"]


# --- NetworkPolicies ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_everything_is_denied_by_default(stack: str) -> None:
    deny = find(manifests(stack), "NetworkPolicy", "default-deny-all")["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    # A pod of any other workload in the namespace gets nothing.
    objects = manifests(stack)
    assert not allowed(objects, "Ingress", {"app": "something-else"}, 3000, namespace="ingress-nginx")
    assert not allowed(objects, "Egress", {"app": "something-else"}, 443, ip="93.184.216.34")


@pytest.mark.parametrize("stack", STACKS)
def test_the_app_accepts_traffic_only_from_routing_and_monitoring(stack: str) -> None:
    objects = manifests(stack)
    labels = pod_labels(objects)
    assert allowed(objects, "Ingress", labels, 3000, namespace="ingress-nginx")
    assert allowed(objects, "Ingress", labels, 3000, namespace="monitoring")
    assert not allowed(objects, "Ingress", labels, 3000, namespace="default")
    assert not allowed(objects, "Ingress", labels, 3000, namespace=stack)
    assert not allowed(objects, "Ingress", labels, 22, namespace="ingress-nginx")


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


def test_namespaces_and_ports_are_stack_values(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:cluster"] = {"ingressNamespace": "gateway-system"}
    config["hft-frontend:security"] = {"backendApi": {"namespace": "trading-api", "port": 9443}}
    project = project_with("custom", config)
    rendering = run_program(project, PROJECT, load_stack_config(project, "custom", PROJECT))
    objects = [obj for _, obj in kubernetes_objects(rendering)]
    labels = pod_labels(objects)
    assert allowed(objects, "Ingress", labels, 3000, namespace="gateway-system")
    assert not allowed(objects, "Ingress", labels, 3000, namespace="ingress-nginx")
    assert allowed(objects, "Egress", labels, 9443, namespace="trading-api")
    assert not allowed(objects, "Egress", labels, 8080, namespace="api-backend")


# --- RBAC --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_app_gets_no_kubernetes_api_access(stack: str) -> None:
    objects = manifests(stack)
    assert not [o for o in objects if o["kind"] in {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}]
    assert find(objects, "ServiceAccount")["automountServiceAccountToken"] is False


def test_the_optional_role_reads_only_the_apps_own_config(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:security"] = {"apiReadOwnConfig": True}
    project = project_with("rbac", config)
    rendering = run_program(project, PROJECT, load_stack_config(project, "rbac", PROJECT))
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
    return ceiling + deployment["strategy"]["rollingUpdate"]["maxSurge"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_quota_admits_the_hpa_maximum_during_a_rollout(stack: str) -> None:
    objects = manifests(stack)
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
    hard = find(manifests("production"), "ResourceQuota")["spec"]["hard"]
    # 20 (HPA max) + 2 (maxSurge) pods at 1 CPU / 1Gi requests and 2 CPU / 2Gi limits.
    assert (hard["pods"], hard["requests.cpu"], hard["limits.memory"]) == ("22", "22", "44Gi")
    assert hard["services.loadbalancers"] == "0"


@pytest.mark.parametrize("stack", STACKS)
def test_the_limit_range_defaults_match_the_app(stack: str) -> None:
    objects = manifests(stack)
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
