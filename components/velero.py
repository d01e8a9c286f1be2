"""Velero: scheduled backups of the app's namespace into the BackupStore's bucket.

Velero is cluster-wide: the stack that owns the installation (`backup.velero.install`; one per
cluster, the settings refuse a second) installs it from its Helm chart into its own namespace, under
the same guard rails as the app's (a SecurityBaseline: Pod Security `restricted`, default-deny
NetworkPolicies, a quota). Every stack with backups owns its own BackupStorageLocation (the bucket, a
prefix of its own, the region, the bucket's KMS key) and Schedule (its namespace, daily, the stack's
retention as TTL) as custom resources, so they are rendered and checked like every other object.

The chart values and the custom resources' specs are pure functions of the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.rbac.v1 import PolicyRuleArgsDict

from components import naming
from components.k8s import AppIdentity, ImageReference, WorkloadProfile, metadata
from components.security_baseline import Egress, SecurityBaseline, SecurityBaselineArgs
from components.settings import BackupSettings

# What the chart renders, read at its tag velero-12.1.0 (vmware-tanzu/helm-charts, commit
# 73466ca986bbfe34dbd5c30bbf7d62d545d634a2, charts/velero/templates/):
# - deployment.yaml: the server pod carries `name: velero`, app.kubernetes.io/name (the chart) and
#   /instance (the release), plus `podLabels`; node-agent-daemonset.yaml the same name/instance pair.
# - upgrade-crds/upgrade-crds.yaml: a pre-install/pre-upgrade/pre-rollback hook Job that runs the
#   Velero image (`/velero install --crds-only --apply`) with the server's security contexts; its pod
#   carries `kubectl.labels` and nothing else (empty by default), so default deny would cut it off
#   from the API server, the hook would fail and `atomic` would roll the release back.
# - cleanup-crds.yaml (`cleanUpCRDs`, off here): the kubectl image, pod labels `kubectl.labels`,
#   container security context `kubectl.containerSecurityContext`.
# - label-namespace/labelnamespace.yaml: a post-install hook whose pod carries no label at all; it
#   renders only when `namespace.labels` is set, which these values never do.
# - clusterrolebinding.yaml: binds the server's service account to `rbac.clusterAdministratorName`
#   (`cluster-admin` by default) when `rbac.clusterAdministrator`; role.yaml: every verb in the
#   release's own namespace.
# The image pins (settings' defaults), checked against the upstream tags:
# - velero v1.18.1 (the chart's appVersion and default image.tag): vmware-tanzu/velero tag v1.18.1 =
#   commit 26ef8fa7df68dfa9ab8aa4669b8ac47340b0c510.
# - velero-plugin-for-aws v1.14.0: its README's compatibility matrix pairs v1.14.x with Velero
#   v1.18.x (release-1.14 at v1.14.0-rc.1, commit 673d828cb86dd868d181550fd4d226e696f9782f), and
#   Velero's own upgrade-to-1.18 guide installs velero-plugin-for-aws:v1.14.0 (vmware-tanzu/velero
#   site/content/docs/v1.18/upgrade-to-1.18.md, main at d30d389b56068eebd675d9953492183cb7b58a78).
#   The snapshot of the plugin's repository available here ends before the v1.14.0 tag: its commit
#   is not recorded here (docs/production-hardening.md, "Velero").
VELERO_API_VERSION = "velero.io/v1"
METRICS_PORT = 8085  # the Velero server's --metrics-address
RELEASE = "velero"  # the Helm release; the chart names its objects and labels after it
# The chart's labels on the Velero server pod (app.kubernetes.io/name: the chart, instance: the release).
POD_LABELS = {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": RELEASE}
# The labels the chart's hook Jobs get through `kubectl.labels`: a name of their own, so neither the
# server's policies nor its metrics Service (selector: name, app.kubernetes.io/name and /instance)
# select them.
HOOK_POD_LABELS = {"app.kubernetes.io/name": "velero-chart-hook", "app.kubernetes.io/instance": RELEASE}
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
# The server's cluster-wide permissions instead of `cluster-admin`: the ClusterRole Velero documents for
# restrictive RBAC ("Run Velero more securely with restrictive RBAC settings", site/content/docs/v1.18/
# rbac.md): every verb on PersistentVolumes and Namespaces (a restore creates the namespace), `list` on
# every resource (a backup reads them all: "If you just enable list permissions for the resources you
# want to back up and restore, it's possible that backup or restore end with failure"), and `get` on
# CRDs (a backup carries its custom resources' CRDs).
CLUSTER_ROLE = "velero-server"
CLUSTER_RULES: list[PolicyRuleArgsDict] = [
    {"api_groups": [""], "resources": ["persistentvolumes", "namespaces"], "verbs": ["*"]},
    {"api_groups": ["*"], "resources": ["*"], "verbs": ["list"]},
    {"api_groups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get"]},
]
# In the namespace it backs up, what a restore does there ("You can add more permissions into the Role
# setting according to the need"): read and create or patch any object, never delete one, and not
# `bind`, `escalate` or `impersonate`.
RESTORE_ROLE = "velero-restore"
RESTORE_RULES: list[PolicyRuleArgsDict] = [
    {"api_groups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch", "create", "update", "patch"]}
]
# checkov's findings on these roles are what Velero's RBAC model is (docs/production-hardening.md,
# "Velero"): a backup lists every kind, a restore creates any of them in the namespace.
CHECKOV_SKIP_WILDCARD = (
    "CKV_K8S_49",
    "Velero lists every resource to back it up and restores any kind: Velero's documented ClusterRole",
)
CHECKOV_SKIPS_RESTORE = (
    ("CKV2_K8S_2", "a restore recreates any object of the namespace, Pods included (create on all resources)"),
    ("CKV2_K8S_4", "a restore patches any object of the namespace, Services included (patch on all resources)"),
    ("CKV2_K8S_5", "Velero backs up and restores the namespace's Secrets (encrypted with the bucket's KMS key)"),
)


def _restricted_container() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}


def chart_values(
    backup: BackupSettings, role_arn: pulumi.Input[str], prometheus_labels: Mapping[str, str]
) -> dict[str, Any]:
    """The Velero chart's values: the pinned images, the AWS plugin, IRSA, pods that pass the restricted
    Pod Security Standard, metrics for Prometheus; and no location, snapshot or schedule of the chart's
    own (the program owns those)."""
    velero = backup.velero
    image = ImageReference.parse(velero.image)
    return {
        "image": {"repository": image.repository, "tag": image.tag, "pullPolicy": "IfNotPresent"},
        # The plugin's init container copies it into the shared volume; the chart passes this entry
        # as written, so it carries its own security context (it does not get containerSecurityContext).
        "initContainers": [
            {
                "name": "velero-plugin-for-aws",
                "image": velero.aws_plugin_image,
                "imagePullPolicy": "IfNotPresent",
                "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
                "securityContext": _restricted_container(),
                "resources": RESOURCES,
            }
        ],
        "podSecurityContext": {
            "runAsNonRoot": True,
            # The image's user is named (cnb): the kubelet can only verify non-root by a number.
            "runAsUser": velero.run_as_user,
            "runAsGroup": velero.run_as_group,
            "fsGroup": velero.run_as_group,  # the projected IRSA token readable by that group
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": _restricted_container(),
        "resources": RESOURCES,
        # The pre-upgrade hook that keeps the CRDs current (the Velero image, same security contexts).
        "upgradeCRDs": True,
        "upgradeJobResources": RESOURCES,
        "cleanUpCRDs": False,
        # The hook Jobs' pods (upgrade-crds; cleanup-crds if ever on) carry only these labels: the
        # namespace's hook egress policy selects them, or default deny cuts them off the API server.
        "kubectl": {
            "labels": dict(HOOK_POD_LABELS),
            "containerSecurityContext": _restricted_container(),
            "resources": RESOURCES,
        },
        # The label-namespace hook's pod can carry no label at all: never render it (the baseline
        # labels the namespace).
        "namespace": {"labels": {}},
        # The server's ClusterRoleBinding names the program's narrower ClusterRole, not cluster-admin.
        "rbac": {"create": True, "clusterAdministrator": True, "clusterAdministratorName": CLUSTER_ROLE},
        "backupsEnabled": False,  # no BackupStorageLocation of the chart's
        "snapshotsEnabled": False,  # no volume snapshots: the app has no persistent volumes
        "deployNodeAgent": False,
        "configuration": {"backupStorageLocation": [], "volumeSnapshotLocation": [], "logFormat": "json"},
        "credentials": {"useSecret": False},  # IRSA: no access keys anywhere
        "serviceAccount": {
            "server": {
                "create": True,
                "name": velero.service_account,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn},
            }
        },
        "metrics": {
            "enabled": True,
            "serviceMonitor": {"enabled": True, "additionalLabels": dict(prometheus_labels)},
        },
        "schedules": {},
    }


def workload_profiles(backup: BackupSettings) -> list[WorkloadProfile]:
    """Velero in its namespace: the server (one pod, one more during a rollout), scraped on its metrics
    port; and the chart's hook Jobs (one pod at a time), which serve nothing and only call the API server.
    Both reach DNS and HTTPS (the API server, S3, STS and KMS) and nothing else."""
    server = WorkloadProfile(
        name="velero",
        pod_labels=POD_LABELS,
        ports=(METRICS_PORT,),
        peak_pods=2,
        pod_requests=RESOURCES["requests"],
        pod_limits=RESOURCES["limits"],
        load_balancers=0,
        service_account=backup.velero.service_account,
    )
    hooks = WorkloadProfile(
        name="velero-chart-hooks",
        pod_labels=HOOK_POD_LABELS,
        ports=(),
        peak_pods=1,
        pod_requests=RESOURCES["requests"],
        pod_limits=RESOURCES["limits"],
        load_balancers=0,
        service_account=f"{backup.velero.service_account}-upgrade-crds",
    )
    return [server, hooks]


def checkov_skips(*skips: tuple[str, str]) -> dict[str, str]:
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(skips, 1)}


def ttl(days: int) -> str:
    """A Go duration, as Velero writes it."""
    return f"{days * 24}h0m0s"


def storage_location_spec(backup: BackupSettings, bucket: str, prefix: str, key_arn: str) -> dict[str, Any]:
    return {
        "provider": "aws",
        "accessMode": "ReadWrite",
        "objectStorage": {"bucket": bucket, "prefix": prefix},
        # With kmsKeyId the plugin writes every object with SSE-KMS under this key: Secrets in the
        # backups are encrypted at rest with the bucket's own key, never only S3's.
        "config": {"region": backup.region, "kmsKeyId": key_arn},
    }


def schedule_spec(backup: BackupSettings, namespace: str, location: str) -> dict[str, Any]:
    return {
        "schedule": backup.schedule,
        # The Backups must outlive a replaced Schedule: no owner references to it.
        "useOwnerReferencesInBackup": False,
        "template": {
            "includedNamespaces": [namespace],
            # Cluster-scoped objects are the program's to recreate (docs/runbooks.md).
            "includeClusterResources": False,
            "ttl": ttl(backup.retention_days),
            "storageLocation": location,
            "snapshotVolumes": False,
            "defaultVolumesToFsBackup": False,
        },
    }


@dataclass(frozen=True)
class VeleroArgs:
    settings: BackupSettings
    app: AppIdentity  # names the location and the schedule
    namespace: str  # the app's, which the schedule backs up
    bucket: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    role_arn: pulumi.Input[str]
    prometheus_labels: Mapping[str, str]
    monitoring_namespace: str
    egress: Egress  # the stack's DNS and HTTPS rules (S3, STS, KMS and the Kubernetes API are HTTPS)
    pod_security_version: str


class Velero(pulumi.ComponentResource):
    """Velero's installation (where this stack owns it), this stack's location and schedule."""

    schedule_name: str

    def __init__(self, name: str, args: VeleroArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:Velero", name, None, opts)
        backup, velero = args.settings, args.settings.velero
        labels = {**args.app.labels, "app.kubernetes.io/component": "backup"}
        installed: list[pulumi.Resource] = []

        if velero.install:
            guard = SecurityBaseline(
                f"{name}-baseline",
                SecurityBaselineArgs(
                    namespace=velero.namespace,
                    environment=args.app.environment,
                    pod_security_version=args.pod_security_version,
                    workloads=workload_profiles(backup),
                    ingress_namespaces=[args.monitoring_namespace],  # Prometheus scrapes the metrics port
                    egress=args.egress,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            child_name, child_opts = naming.child(self, name, "cluster-role")
            cluster_role = k8s.rbac.v1.ClusterRole(
                child_name,
                metadata=metadata(CLUSTER_ROLE, None, labels, checkov_skips(CHECKOV_SKIP_WILDCARD)),
                rules=CLUSTER_RULES,
                opts=child_opts,
            )
            child_name, child_opts = naming.child(self, name, "release", depends_on=[guard, cluster_role])
            release = k8s.helm.v3.Release(
                child_name,
                name=RELEASE,
                chart="velero",
                version=velero.chart_version,
                repository_opts={"repo": velero.chart_repository},
                namespace=velero.namespace,
                create_namespace=False,  # the baseline creates it, labelled for Pod Security
                values=chart_values(backup, args.role_arn, args.prometheus_labels),
                atomic=True,
                opts=child_opts,
            )
            installed.append(release)

        # Restores into the app's namespace, by the installation's service account (this stack's or
        # the one the owning stack installed).
        child_name, child_opts = naming.child(self, name, "restore-role")
        restore_role = k8s.rbac.v1.Role(
            child_name,
            metadata=metadata(RESTORE_ROLE, args.namespace, labels, checkov_skips(CHECKOV_SKIP_WILDCARD)),
            rules=RESTORE_RULES,
            opts=child_opts,
        )
        child_name, child_opts = naming.child(self, name, "restore-rolebinding")
        k8s.rbac.v1.RoleBinding(
            child_name,
            metadata=metadata(RESTORE_ROLE, args.namespace, labels, checkov_skips(*CHECKOV_SKIPS_RESTORE)),
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": restore_role.metadata.name},
            subjects=[{"kind": "ServiceAccount", "name": velero.service_account, "namespace": velero.namespace}],
            opts=child_opts,
        )

        location = args.app.instance
        self.schedule_name = f"{args.app.instance}-daily"
        child_name, child_opts = naming.child(self, name, "storage-location", depends_on=installed)
        k8s.apiextensions.CustomResource(
            child_name,
            api_version=VELERO_API_VERSION,
            kind="BackupStorageLocation",
            metadata=metadata(location, velero.namespace, labels),
            spec=pulumi.Output.all(args.bucket, args.key_arn).apply(
                lambda values: storage_location_spec(
                    backup, values[0], backup.storage_prefix(args.app.environment), values[1]
                )
            ),
            opts=child_opts,
        )
        child_name, child_opts = naming.child(self, name, "schedule", depends_on=installed)
        k8s.apiextensions.CustomResource(
            child_name,
            api_version=VELERO_API_VERSION,
            kind="Schedule",
            metadata=metadata(self.schedule_name, velero.namespace, labels),
            spec=schedule_spec(backup, args.namespace, location),
            opts=child_opts,
        )
        self.register_outputs({"scheduleName": self.schedule_name, "storageLocation": location})
