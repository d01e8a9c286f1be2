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

from components import naming
from components.k8s import AppIdentity, ImageReference, WorkloadProfile, metadata
from components.security_baseline import Egress, SecurityBaseline, SecurityBaselineArgs
from components.settings import BackupSettings

VELERO_API_VERSION = "velero.io/v1"
METRICS_PORT = 8085  # the Velero server's --metrics-address
RELEASE = "velero"  # the Helm release; the chart names its objects and labels after it
# The chart's labels on the Velero pods (app.kubernetes.io/name: the chart, instance: the release).
POD_LABELS = {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": RELEASE}
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}


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


def workload_profile(backup: BackupSettings) -> WorkloadProfile:
    """Velero in its namespace: one server pod, one more during a rollout, and the CRD upgrade job."""
    return WorkloadProfile(
        name="velero",
        pod_labels=POD_LABELS,
        ports=(METRICS_PORT,),
        peak_pods=3,
        pod_requests=RESOURCES["requests"],
        pod_limits=RESOURCES["limits"],
        load_balancers=0,
        service_account=backup.velero.service_account,
    )


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
                    workloads=[workload_profile(backup)],
                    ingress_namespaces=[args.monitoring_namespace],  # Prometheus scrapes the metrics port
                    egress=args.egress,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            child_name, child_opts = naming.child(self, name, "release", depends_on=[guard])
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
                    backup, values[0], backup.prefix or args.app.environment, values[1]
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
