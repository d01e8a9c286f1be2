"""SecurityBaseline: the app namespace's guard rails.

- the namespace itself, with Pod Security Admission `restricted` (enforce, audit, warn), which
  replaces the seed's PodSecurityPolicy (removed in Kubernetes 1.25);
- NetworkPolicies: deny everything, then allow only what the app needs;
- no Kubernetes API access for the app (the seed's Role listed every Secret in the namespace);
- a ResourceQuota and LimitRange sized from the app's replica bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import LimitRangeSpecArgsDict, ResourceQuotaSpecArgsDict
from pulumi_kubernetes.networking.v1 import NetworkPolicyPeerArgsDict, NetworkPolicySpecArgsDict
from pulumi_kubernetes.rbac.v1 import PolicyRuleArgsDict

from components.settings import (
    AppSettings,
    ClusterSettings,
    ResourceAmounts,
    SecuritySettings,
    scale_quantity,
)

# Kubernetes labels every namespace with its own name; unlike the seed's hand-set `name` label, it
# cannot be missing or forged by whoever creates the namespace.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def namespace_labels(namespace: str, environment: str, cluster: ClusterSettings) -> dict[str, str]:
    version = f"v{cluster.kubernetes_version}"
    labels = {
        "name": namespace,  # the seed's label, which other teams' NetworkPolicies may select on
        "environment": environment,
        "app.kubernetes.io/managed-by": "pulumi",
    }
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


# --- NetworkPolicies ---------------------------------------------------------------------------


def _namespace_peer(namespace: str) -> NetworkPolicyPeerArgsDict:
    return {"namespace_selector": {"match_labels": {NAMESPACE_NAME_LABEL: namespace}}}


def default_deny_spec() -> NetworkPolicySpecArgsDict:
    """Every pod in the namespace: no traffic in or out unless another policy allows it."""
    return {"pod_selector": {}, "policy_types": ["Ingress", "Egress"]}


def app_ingress_spec(
    app: AppSettings, pod_selector: dict[str, str], cluster: ClusterSettings
) -> NetworkPolicySpecArgsDict:
    """The app port, from the routing data plane and from Prometheus only."""
    return {
        "pod_selector": {"match_labels": pod_selector},
        "policy_types": ["Ingress"],
        "ingress": [
            {
                "from_": [_namespace_peer(cluster.ingress_namespace), _namespace_peer(cluster.monitoring_namespace)],
                "ports": [{"protocol": "TCP", "port": app.container_port}],
            }
        ],
    }


def app_egress_spec(
    pod_selector: dict[str, str], security: SecuritySettings, cluster: ClusterSettings
) -> NetworkPolicySpecArgsDict:
    """Cluster DNS, HTTPS anywhere but the cloud metadata endpoint, and the backend API."""
    return {
        "pod_selector": {"match_labels": pod_selector},
        "policy_types": ["Egress"],
        "egress": [
            {
                "to": [_namespace_peer(cluster.dns_namespace)],
                "ports": [
                    {"protocol": "UDP", "port": security.dns_port},
                    {"protocol": "TCP", "port": security.dns_port},
                ],
            },
            {
                "to": [{"ip_block": {"cidr": "0.0.0.0/0", "except_": list(security.egress_denied_cidrs)}}],
                "ports": [{"protocol": "TCP", "port": security.https_port}],
            },
            {
                "to": [_namespace_peer(security.backend_api.namespace)],
                "ports": [{"protocol": "TCP", "port": security.backend_api.port}],
            },
        ],
    }


# --- RBAC --------------------------------------------------------------------------------------


def read_own_config_rules(app: AppSettings) -> list[PolicyRuleArgsDict]:
    """The seed's Role, narrowed: `get` on the app's own ConfigMap and Secret, by name; no `list`."""
    return [
        {"api_groups": [""], "resources": ["configmaps"], "resource_names": [app.config_map_name], "verbs": ["get"]},
        {"api_groups": [""], "resources": ["secrets"], "resource_names": [app.secret_name], "verbs": ["get"]},
    ]


# --- quota -------------------------------------------------------------------------------------


def peak_pods(app: AppSettings) -> int:
    """The most pods the app ever runs: its ceiling plus the rollout's surge on top of it."""
    return app.max_replicas + app.max_surge


def _scaled(prefix: str, amounts: ResourceAmounts, pods: int) -> dict[str, str]:
    return {f"{prefix}.{name}": scale_quantity(value, pods) for name, value in amounts.as_resource_list().items()}


def quota_spec(app: AppSettings) -> ResourceQuotaSpecArgsDict:
    """Room for exactly the app at its peak: the HPA at its maximum, mid-rollout."""
    pods = peak_pods(app)
    hard = {
        "pods": str(pods),
        **_scaled("requests", app.resources.requests, pods),
        **_scaled("limits", app.resources.limits, pods),
        "services.loadbalancers": "1" if app.service.type == "LoadBalancer" else "0",
        "services.nodeports": "0",
    }
    return {"hard": hard}


def limit_range_spec(app: AppSettings) -> LimitRangeSpecArgsDict:
    """Defaults for a container that sets no resources (the quota would refuse it otherwise), and a
    ceiling at the app's own limits."""
    limits = app.resources.limits.as_resource_list()
    requests = app.resources.requests.as_resource_list()
    return {"limits": [{"type": "Container", "default": limits, "default_request": requests, "max": limits}]}


# --- the component -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityBaselineArgs:
    namespace: str
    environment: str
    app: AppSettings
    # The labels of the app's pods (FrontendApp's selector), which the app's policies select.
    pod_selector: dict[str, str]
    security: SecuritySettings
    cluster: ClusterSettings


class SecurityBaseline(pulumi.ComponentResource):
    """The namespace and its guard rails; everything namespaced goes into `self.namespace`."""

    namespace: k8s.core.v1.Namespace

    def __init__(self, name: str, args: SecurityBaselineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:SecurityBaseline", name, None, opts)
        app = args.app

        # The foundation created the namespace at the stack's top level. The alias moves it under
        # this component without a replacement: replacing a namespace deletes everything in it.
        self.namespace = k8s.core.v1.Namespace(
            "namespace",
            metadata={
                "name": args.namespace,
                "labels": namespace_labels(args.namespace, args.environment, args.cluster),
            },
            opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]),
        )
        namespace = self.namespace.metadata.name
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "hft-platform"}

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgsDict:
            return {"name": object_name, "namespace": namespace, "labels": labels}

        policies = {
            "default-deny-all": default_deny_spec(),
            f"{app.name}-ingress": app_ingress_spec(app, args.pod_selector, args.cluster),
            f"{app.name}-egress": app_egress_spec(args.pod_selector, args.security, args.cluster),
        }
        self.network_policies = [
            k8s.networking.v1.NetworkPolicy(policy_name, metadata=meta(policy_name), spec=spec, opts=child)
            for policy_name, spec in policies.items()
        ]

        self.role: k8s.rbac.v1.Role | None = None
        if args.security.api_read_own_config:
            self.role = k8s.rbac.v1.Role(
                f"{app.name}-role", metadata=meta(f"{app.name}-role"), rules=read_own_config_rules(app), opts=child
            )
            k8s.rbac.v1.RoleBinding(
                f"{app.name}-rolebinding",
                metadata=meta(f"{app.name}-rolebinding"),
                role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": self.role.metadata.name},
                subjects=[{"kind": "ServiceAccount", "name": app.service_account_name, "namespace": namespace}],
                opts=child,
            )

        self.quota = k8s.core.v1.ResourceQuota(
            f"{app.name}-quota", metadata=meta(f"{app.name}-quota"), spec=quota_spec(app), opts=child
        )
        self.limit_range = k8s.core.v1.LimitRange(
            f"{app.name}-limits", metadata=meta(f"{app.name}-limits"), spec=limit_range_spec(app), opts=child
        )

        self.register_outputs({"namespace": namespace})
