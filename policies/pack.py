"""The pack: its name, every policy, and how it is configured.

Configuration is the JSON file `pulumi preview --policy-pack policies --policy-pack-config <file>` reads
(the offline preview's evaluation takes the same). Each key is a policy name, or `all` for every policy;
each value is an enforcement level (advisory, mandatory, remediate, disabled) or an object with an optional
`enforcementLevel` and the policy's properties. Every policy takes `exemptions`: the URNs, or logical
names, of resources it skips. For example:

    {
      "service-load-balancer-review": "disabled",
      "workload-probes": {"enforcementLevel": "advisory", "exemptions": ["db-migrate"]},
      "pss-restricted-capabilities": {
        "exemptions": ["urn:pulumi:production::hft-frontend::kubernetes:apps/v1:DaemonSet::cni-agent"]
      },
      "no-default-namespace": {"clusterScopedKinds": ["ClusterSecretStore"]},
      "pss-baseline-sysctls": {"kubernetesVersion": "1.32"}
    }

Every `pss-*` policy takes `kubernetesVersion`, the Kubernetes version whose Pod Security Admission rules it
applies (default `latest`; the offline preview and `make audit` take it from the namespace's enforce-version
label when this file does not set it: policies/kubernetes_workloads.py). `all` sets levels only, as in the
CLI. `kubernetes-secret-data-secret` works only at `remediate` (see policies/kubernetes_secrets.py); mind that
`"all": "mandatory"` would switch it to a level where it cannot act (`make audit` reports what it would
remediate as mandatory anyway).
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy

from policies import (
    aws_s3,
    cloudflare,
    delivery,
    kubernetes_namespaces,
    kubernetes_network,
    kubernetes_secrets,
    kubernetes_workloads,
)

NAME = "hft-frontend-security"
DESCRIPTION = (
    "Security baseline of the hft-frontend stacks: Pod Security Standards (restricted) and workload hygiene, "
    "namespaces, ingress, Kubernetes Secrets, S3 buckets, the Cloudflare edge and canary releases."
)
# For a policy that sets no level of its own; every policy here sets one.
ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY

POLICIES: list[Policy] = [
    *kubernetes_workloads.POLICIES,
    *kubernetes_namespaces.POLICIES,
    *kubernetes_network.POLICIES,
    *kubernetes_secrets.POLICIES,
    *aws_s3.POLICIES,
    *cloudflare.POLICIES,
    *delivery.POLICIES,
]
