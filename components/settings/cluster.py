"""`cluster`: facts about the cluster the stack deploys into."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from components.settings.base import DnsLabel, _Model


class ClusterSettings(_Model):
    """Facts about the cluster the stack deploys into, shared by every component."""

    # The cluster the stack deploys into, as the stacks call it: two stacks naming the same cluster
    # must not both own a cluster-wide object (a ClusterIssuer, the Velero installation). None: this
    # stack shares its cluster with no other.
    name: DnsLabel | None = None
    # The Kubernetes minor version the stack targets: pins the Pod Security Standards version.
    kubernetes_version: Annotated[str, Field(pattern=r"^1\.[0-9]{2}$")] = "1.32"
    monitoring_namespace: DnsLabel = "monitoring"
    dns_namespace: DnsLabel = "kube-system"
    # The labels the cluster's Prometheus selects ServiceMonitors and PrometheusRules by
    # (kube-prometheus-stack: its Helm release name).
    prometheus_selector_labels: dict[str, str] = Field(default_factory=lambda: {"release": "kube-prometheus-stack"})
