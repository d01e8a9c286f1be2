"""SecurityBaseline: a namespace's guard rails, sized from the workloads it protects.

- the namespace itself, with Pod Security Admission `restricted` (enforce, audit, warn), which
  replaces the seed's PodSecurityPolicy (removed in Kubernetes 1.25);
- NetworkPolicies: deny everything, then allow each workload only what it needs;
- no Kubernetes API access for the workloads (the seed's Role listed every Secret in the namespace),
  unless the stack asks for read access to each workload's own config;
- a ResourceQuota and LimitRange sized from the workloads' peaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import LimitRangeSpecArgsDict, ResourceQuotaSpecArgsDict
from pulumi_kubernetes.networking.v1 import NetworkPolicySpecArgsDict
from pulumi_kubernetes.rbac.v1 import PolicyRuleArgsDict

from components import naming
from components.k8s import (
    MANAGED_BY,
    PLATFORM_LABELS,
    WorkloadProfile,
    max_quantity,
    metadata,
    namespace_peer,
    scale_quantity,
    sum_quantities,
)
from components.settings import ClusterSettings, SecuritySettings

PSA_MODES = ("enforce", "audit", "warn")


def namespace_labels(namespace: str, environment: str, pod_security_version: str) -> dict[str, str]:
    labels = {
        "name": namespace,  # the seed's label, which other teams' NetworkPolicies may select on
        "environment": environment,
        **MANAGED_BY,
    }
    for mode in PSA_MODES:
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{pod_security_version}"
    return labels


# --- NetworkPolicies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Egress:
    """Where the namespace's workloads may connect: cluster DNS, HTTPS anywhere except the denied
    blocks, and named in-cluster services (namespace, port)."""

    dns_namespace: str
    dns_port: int
    https_port: int
    denied_cidrs: tuple[str, ...]
    services: tuple[tuple[str, int], ...] = ()

    @classmethod
    def for_stack(cls, security: SecuritySettings, cluster: ClusterSettings) -> Egress:
        """The stack's DNS and HTTPS rules, for any namespace it guards (the app's, Velero's)."""
        return cls(
            dns_namespace=cluster.dns_namespace,
            dns_port=security.dns_port,
            https_port=security.https_port,
            denied_cidrs=security.egress_denied_cidrs,
        )

    @classmethod
    def for_app(cls, security: SecuritySettings, cluster: ClusterSettings) -> Egress:
        """The app's: the stack's rules plus its backend API."""
        backend = (security.backend_api.namespace, security.backend_api.port)
        return replace(cls.for_stack(security, cluster), services=(backend,))


def default_deny_spec() -> NetworkPolicySpecArgsDict:
    """Every pod in the namespace: no traffic in or out unless another policy allows it."""
    return {"pod_selector": {}, "policy_types": ["Ingress", "Egress"]}


def ingress_spec(workload: WorkloadProfile, from_namespaces: Sequence[str]) -> NetworkPolicySpecArgsDict:
    """The workload's ports, from the given namespaces only (routing, monitoring)."""
    if not workload.ports:
        # An empty `ports` list admits every port: a workload that serves none gets no ingress rule.
        raise ValueError(f"workload {workload.name} serves no port: it needs no ingress policy")
    return {
        "pod_selector": {"match_labels": dict(workload.pod_labels)},
        "policy_types": ["Ingress"],
        "ingress": [
            {
                "from_": [namespace_peer(namespace) for namespace in from_namespaces],
                "ports": [{"protocol": "TCP", "port": port} for port in workload.ports],
            }
        ],
    }


def egress_spec(workload: WorkloadProfile, egress: Egress) -> NetworkPolicySpecArgsDict:
    """Cluster DNS, HTTPS anywhere but the denied blocks (the cloud metadata endpoint), and the services."""
    return {
        "pod_selector": {"match_labels": dict(workload.pod_labels)},
        "policy_types": ["Egress"],
        "egress": [
            {
                "to": [namespace_peer(egress.dns_namespace)],
                "ports": [{"protocol": "UDP", "port": egress.dns_port}, {"protocol": "TCP", "port": egress.dns_port}],
            },
            {
                "to": [{"ip_block": {"cidr": "0.0.0.0/0", "except_": list(egress.denied_cidrs)}}],
                "ports": [{"protocol": "TCP", "port": egress.https_port}],
            },
            *(
                {"to": [namespace_peer(namespace)], "ports": [{"protocol": "TCP", "port": port}]}
                for namespace, port in egress.services
            ),
        ],
    }


# --- RBAC --------------------------------------------------------------------------------------


def read_own_config_rules(workload: WorkloadProfile) -> list[PolicyRuleArgsDict]:
    """The seed's Role, narrowed: `get` on the workload's own ConfigMaps and Secrets, by name; no `list`."""
    rules: list[PolicyRuleArgsDict] = []
    for resource, names in (("configmaps", workload.config_maps), ("secrets", workload.secrets)):
        if names:
            rules.append({"api_groups": [""], "resources": [resource], "resource_names": list(names), "verbs": ["get"]})
    return rules


# --- quota -------------------------------------------------------------------------------------


_RESOURCE_ORDER = {"cpu": 0, "memory": 1, "ephemeral-storage": 2}


def _resource_order(resource: str) -> tuple[int, str]:
    return _RESOURCE_ORDER.get(resource, len(_RESOURCE_ORDER)), resource


def _totals(kind: str, workloads: Sequence[WorkloadProfile]) -> dict[str, str]:
    per_pod = {w.name: (w.pod_requests if kind == "requests" else w.pod_limits) for w in workloads}
    resources = sorted({resource for amounts in per_pod.values() for resource in amounts}, key=_resource_order)
    return {
        f"{kind}.{resource}": sum_quantities(
            scale_quantity(per_pod[w.name][resource], w.most_pods) for w in workloads if resource in per_pod[w.name]
        )
        for resource in resources
    }


def quota_spec(workloads: Sequence[WorkloadProfile]) -> ResourceQuotaSpecArgsDict:
    """Room for exactly the workloads at their peaks: each at its autoscaling maximum, mid-rollout, with a
    canary's pods on top where it has one."""
    hard = {
        "pods": str(sum(w.most_pods for w in workloads)),
        **_totals("requests", workloads),
        **_totals("limits", workloads),
        "services.loadbalancers": str(sum(w.load_balancers for w in workloads)),
        "services.nodeports": "0",
    }
    return {"hard": hard}


def limit_range_spec(workloads: Sequence[WorkloadProfile]) -> LimitRangeSpecArgsDict:
    """Defaults for a container that sets no resources (the quota would refuse it otherwise), and a
    ceiling: both the largest workload's per-pod amounts."""

    def largest(kind: str) -> dict[str, str]:
        amounts = [w.pod_requests if kind == "requests" else w.pod_limits for w in workloads]
        resources = sorted({r for a in amounts for r in a}, key=_resource_order)
        return {r: max_quantity(a[r] for a in amounts if r in a) for r in resources}

    limits, requests = largest("limits"), largest("requests")
    return {"limits": [{"type": "Container", "default": limits, "default_request": requests, "max": limits}]}


# --- the component -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityBaselineArgs:
    namespace: str
    environment: str
    # The Pod Security Standards version PSA enforces: the cluster's Kubernetes minor version.
    pod_security_version: str
    # The workloads that run in the namespace: the policies select them, the quota is their sum.
    workloads: Sequence[WorkloadProfile]
    # Namespaces whose pods may reach the workloads' ports (routing's data plane, monitoring).
    ingress_namespaces: Sequence[str]
    egress: Egress
    # Let each workload `get` its own ConfigMaps and Secrets (the seed's Role, narrowed).
    api_read_own_config: bool = False
    # Kubernetes names of the namespace-wide objects (default: from the component's name).
    quota_name: str | None = None
    limit_range_name: str | None = None


class SecurityBaseline(pulumi.ComponentResource):
    """The namespace and its guard rails; everything namespaced goes into `self.namespace`."""

    namespace: k8s.core.v1.Namespace

    def __init__(self, name: str, args: SecurityBaselineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:SecurityBaseline", name, None, opts)

        def child(suffix: str, *old_names: str, **options: Any) -> tuple[str, pulumi.ResourceOptions]:
            return naming.child(self, name, suffix, *old_names, **options)

        # The foundation created the namespace at the stack's top level as `namespace`, then this
        # component took it over under the same name: replacing a namespace deletes everything in it.
        child_name, child_opts = child(
            "namespace", "namespace", aliases=[pulumi.Alias(name="namespace", parent=pulumi.ROOT_STACK_RESOURCE)]
        )
        self.namespace = k8s.core.v1.Namespace(
            child_name,
            metadata=metadata(
                args.namespace, None, namespace_labels(args.namespace, args.environment, args.pod_security_version)
            ),
            opts=child_opts,
        )
        namespace = self.namespace.metadata.name
        labels = PLATFORM_LABELS

        child_name, child_opts = child("default-deny", "default-deny-all")
        policies = [
            k8s.networking.v1.NetworkPolicy(
                child_name,
                metadata=metadata("default-deny-all", namespace, labels),
                spec=default_deny_spec(),
                opts=child_opts,
            )
        ]
        for workload in args.workloads:
            # A workload that serves no port (a Helm hook Job) gets no ingress policy: default deny
            # keeps it closed. An ingress rule without ports would admit every port.
            directions = [("egress", egress_spec(workload, args.egress))]
            if workload.ports:
                directions.insert(0, ("ingress", ingress_spec(workload, args.ingress_namespaces)))
            for direction, spec in directions:
                object_name = f"{workload.name}-{direction}"
                child_name, child_opts = child(object_name, object_name)
                policies.append(
                    k8s.networking.v1.NetworkPolicy(
                        child_name, metadata=metadata(object_name, namespace, labels), spec=spec, opts=child_opts
                    )
                )
        self.network_policies = policies

        self.roles: list[k8s.rbac.v1.Role] = []
        for workload in args.workloads if args.api_read_own_config else ():
            role_name, binding_name = f"{workload.name}-role", f"{workload.name}-rolebinding"
            child_name, child_opts = child(role_name, role_name)
            role = k8s.rbac.v1.Role(
                child_name,
                metadata=metadata(role_name, namespace, labels),
                rules=read_own_config_rules(workload),
                opts=child_opts,
            )
            child_name, child_opts = child(binding_name, binding_name)
            k8s.rbac.v1.RoleBinding(
                child_name,
                metadata=metadata(binding_name, namespace, labels),
                role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
                subjects=[{"kind": "ServiceAccount", "name": workload.service_account, "namespace": namespace}],
                opts=child_opts,
            )
            self.roles.append(role)

        quota_name = args.quota_name or f"{name}-quota"
        child_name, child_opts = child("quota", quota_name)
        self.quota = k8s.core.v1.ResourceQuota(
            child_name,
            metadata=metadata(quota_name, namespace, labels),
            spec=quota_spec(args.workloads),
            opts=child_opts,
        )
        limit_range_name = args.limit_range_name or f"{name}-limits"
        child_name, child_opts = child("limits", limit_range_name)
        self.limit_range = k8s.core.v1.LimitRange(
            child_name,
            metadata=metadata(limit_range_name, namespace, labels),
            spec=limit_range_spec(args.workloads),
            opts=child_opts,
        )

        self.register_outputs({"namespace": namespace})
