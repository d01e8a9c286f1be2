"""The stack's namespace, which every namespaced object of the program lives in."""

from __future__ import annotations

import pulumi_kubernetes as k8s


def namespace_labels(namespace: str, environment: str) -> dict[str, str]:
    # The seed's `name` label is what NetworkPolicies in other namespaces select this one by.
    return {
        "name": namespace,
        "environment": environment,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def app_namespace(namespace: str, environment: str) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        "namespace",
        metadata={"name": namespace, "labels": namespace_labels(namespace, environment)},
    )
