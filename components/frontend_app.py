"""FrontendApp: the Next.js frontend's workload (ConfigMap, Secret, ServiceAccount, Deployment,
Service, HPA, PodDisruptionBudget).

The spec builders are pure functions of the settings, so tests read them like the seed's YAML; the
component only turns them into resources parented to itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumi_tls as tls
from pulumi_kubernetes.apps.v1 import DeploymentSpecArgsDict
from pulumi_kubernetes.autoscaling.v2 import HorizontalPodAutoscalerSpecArgsDict
from pulumi_kubernetes.core.v1 import (
    ContainerArgsDict,
    HTTPGetActionArgsDict,
    PodSpecArgsDict,
    ProbeArgsDict,
    ServiceSpecArgsDict,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgsDict
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgsDict

from components.settings import AppSettings, Probe

CONTAINER_NAME = "frontend"  # the seed's name; alerts and runbooks select on it
PORT_NAME = "http"
CACHE_VOLUME = "nextjs-cache"
TMP_VOLUME = "tmp-volume"


# --- labels ------------------------------------------------------------------------------------


def selector_labels(app: AppSettings, environment: str) -> dict[str, str]:
    """The labels that identify this app's pods: the Deployment, Service, PDB and policies select on them."""
    return {
        "app.kubernetes.io/name": app.name,
        "app.kubernetes.io/instance": f"{app.name}-{environment}",
    }


def common_labels(app: AppSettings, environment: str) -> dict[str, str]:
    """Labels on every object of the app: the recommended app.kubernetes.io set plus the seed's."""
    return {
        **selector_labels(app, environment),
        "app.kubernetes.io/component": "frontend",
        "app.kubernetes.io/part-of": "hft-platform",
        "app.kubernetes.io/managed-by": "pulumi",
        "app": app.name,  # the seed's label, used by the runbooks' `kubectl -l app=hft-frontend`
        "environment": environment,
    }


def image_version(image: str) -> str:
    """The image tag (or the short digest), for the app.kubernetes.io/version label."""
    name, _, digest = image.partition("@")
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    return tag or digest.removeprefix("sha256:")[:12]


def metadata(name: str, namespace: pulumi.Input[str], labels: dict[str, str]) -> ObjectMetaArgsDict:
    return {"name": name, "namespace": namespace, "labels": labels}


# checkov findings the Deployment accepts, each with its reason (README, "checkov suppressions").
CHECKOV_SKIPS = {
    "CKV_K8S_35": "the Next.js server and next-auth read NEXTAUTH_SECRET and the signing key from the environment",
    "CKV_K8S_40": "UID 1001 is the image's own nextjs user (see the Dockerfile), which owns the app's files",
}
# Only while the stack pins a tag: an image pinned by digest needs no exception.
CHECKOV_SKIP_DIGEST = (
    "CKV_K8S_43",
    "the stack pins an immutable release tag that CI sets; app.image also takes tag@sha256:digest",
)


def checkov_annotations(app: AppSettings) -> dict[str, str]:
    skips = dict(CHECKOV_SKIPS)
    if "@sha256:" not in app.image:
        skips[CHECKOV_SKIP_DIGEST[0]] = CHECKOV_SKIP_DIGEST[1]
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(sorted(skips.items()), 1)}


# --- ConfigMap and Secret ----------------------------------------------------------------------


def public_config(app: AppSettings) -> dict[str, str]:
    """The seed's `frontend-config` keys: settings the browser may see, never a secret."""
    return {
        "NEXT_PUBLIC_API_BASE_URL": app.endpoints.api_base_url,
        "NEXT_PUBLIC_WEBSOCKET_URL": app.endpoints.websocket_url,
        "NEXT_PUBLIC_CPP_BACKEND_URL": app.endpoints.cpp_backend_url,
        "NEXT_PUBLIC_ENABLE_ANALYTICS": json.dumps(app.features.analytics),
        "NEXT_PUBLIC_ENABLE_DEBUG_PANEL": json.dumps(app.features.debug_panel),
        # next-auth needs its canonical URL in production (the seed sets it only for local dev).
        "NEXTAUTH_URL": f"https://{app.hostnames[0]}",
        "NODE_ENV": "production",
        "NEXT_TELEMETRY_DISABLED": "1",
    }


def checksum(data: dict[str, str]) -> str:
    """A stable digest of a ConfigMap's or Secret's data, for the pod template's annotations."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# --- the pod -----------------------------------------------------------------------------------


def probe_spec(probe: Probe, port: str) -> ProbeArgsDict:
    http_get: HTTPGetActionArgsDict = {"path": probe.path, "port": port, "scheme": "HTTP"}
    if probe.http_headers:
        http_get["http_headers"] = [{"name": h.name, "value": h.value} for h in probe.http_headers]
    return {
        "http_get": http_get,
        "initial_delay_seconds": probe.initial_delay_seconds,
        "period_seconds": probe.period_seconds,
        "timeout_seconds": probe.timeout_seconds,
        "failure_threshold": probe.failure_threshold,
        "success_threshold": probe.success_threshold,
    }


def container_spec(app: AppSettings) -> ContainerArgsDict:
    return {
        "name": CONTAINER_NAME,
        "image": app.image,
        "image_pull_policy": app.image_pull_policy,
        "ports": [{"container_port": app.container_port, "name": PORT_NAME, "protocol": "TCP"}],
        "env_from": [
            {"config_map_ref": {"name": app.config_map_name}},
            {"secret_ref": {"name": app.secret_name}},
        ],
        # Next.js' standalone server listens on $HOSTNAME:$PORT; Kubernetes sets HOSTNAME to the pod
        # name, so pin it to all interfaces.
        "env": [
            {"name": "PORT", "value": str(app.container_port)},
            {"name": "HOSTNAME", "value": "0.0.0.0"},
        ],
        "resources": {
            "requests": app.resources.requests.as_resource_list(),
            "limits": app.resources.limits.as_resource_list(),
        },
        "liveness_probe": probe_spec(app.probes.liveness, PORT_NAME),
        "readiness_probe": probe_spec(app.probes.readiness, PORT_NAME),
        "startup_probe": probe_spec(app.probes.startup, PORT_NAME),
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": app.run_as_user,
            "run_as_group": app.run_as_user,
            "read_only_root_filesystem": True,
            "allow_privilege_escalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "volume_mounts": [
            {"name": TMP_VOLUME, "mount_path": "/tmp"},
            {"name": CACHE_VOLUME, "mount_path": app.volumes.nextjs_cache_path},
        ],
    }


def pod_spec(app: AppSettings, environment: str) -> PodSpecArgsDict:
    selector = selector_labels(app, environment)
    return {
        "service_account_name": app.service_account_name,
        # The app never calls the Kubernetes API: no token in the pod.
        "automount_service_account_token": False,
        "enable_service_links": False,
        "containers": [container_spec(app)],
        "volumes": [
            {"name": TMP_VOLUME, "empty_dir": {"size_limit": app.volumes.tmp_size}},
            {"name": CACHE_VOLUME, "empty_dir": {"size_limit": app.volumes.nextjs_cache_size}},
        ],
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": app.run_as_user,
            "run_as_group": app.run_as_user,
            "fs_group": app.run_as_user,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "affinity": {
            "pod_anti_affinity": {
                "preferred_during_scheduling_ignored_during_execution": [
                    {
                        "weight": 100,
                        "pod_affinity_term": {
                            "label_selector": {"match_labels": selector},
                            "topology_key": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
        # Spread each revision's pods evenly over zones (hard) and nodes (soft): losing a zone or
        # a node takes out at most its share. pod-template-hash keeps a rollout's surge pods from
        # skewing the count.
        "topology_spread_constraints": [
            {
                "max_skew": 1,
                "topology_key": "topology.kubernetes.io/zone",
                "when_unsatisfiable": "DoNotSchedule",
                "label_selector": {"match_labels": selector},
                "match_label_keys": ["pod-template-hash"],
            },
            {
                "max_skew": 1,
                "topology_key": "kubernetes.io/hostname",
                "when_unsatisfiable": "ScheduleAnyway",
                "label_selector": {"match_labels": selector},
                "match_label_keys": ["pod-template-hash"],
            },
        ],
        "dns_config": {"options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]},
    }


def deployment_spec(
    app: AppSettings,
    environment: str,
    config_checksum: pulumi.Input[str],
    secret_checksum: pulumi.Input[str],
) -> DeploymentSpecArgsDict:
    spec: DeploymentSpecArgsDict = {
        "selector": {"match_labels": selector_labels(app, environment)},
        # Never below desired capacity during a rollout: add new pods first, remove old ones after.
        "strategy": {
            "type": "RollingUpdate",
            "rolling_update": {"max_surge": app.max_surge, "max_unavailable": 0},
        },
        "revision_history_limit": 10,
        "template": {
            "metadata": {
                "labels": {**common_labels(app, environment), "app.kubernetes.io/version": image_version(app.image)},
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(app.container_port),
                    "prometheus.io/path": "/metrics",
                    # A changed ConfigMap or Secret changes the template, so the pods roll.
                    "checksum/config": config_checksum,
                    "checksum/secret": secret_checksum,
                },
            },
            "spec": pod_spec(app, environment),
        },
    }
    # With autoscaling the HPA alone owns the replica count: a spec.replicas here would reset it on
    # every `pulumi up`.
    if not app.autoscaling.enabled:
        spec["replicas"] = app.replicas
    return spec


# --- Service, HPA, PDB -------------------------------------------------------------------------


def service_spec(app: AppSettings, environment: str) -> ServiceSpecArgsDict:
    return {
        "type": app.service.type,
        "selector": selector_labels(app, environment),
        "ports": [{"name": PORT_NAME, "port": app.service.port, "target_port": PORT_NAME, "protocol": "TCP"}],
        "session_affinity": "None",
    }


def service_annotations(app: AppSettings) -> dict[str, str]:
    return dict(app.service.load_balancer_annotations) if app.service.type == "LoadBalancer" else {}


def hpa_spec(app: AppSettings, deployment_name: pulumi.Input[str]) -> HorizontalPodAutoscalerSpecArgsDict:
    scaling = app.autoscaling
    return {
        "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": deployment_name},
        "min_replicas": scaling.min_replicas,
        "max_replicas": scaling.max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "average_utilization": scaling.target_cpu_utilization},
                },
            },
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {"type": "Utilization", "average_utilization": scaling.target_memory_utilization},
                },
            },
        ],
        "behavior": {
            "scale_up": {
                "stabilization_window_seconds": scaling.scale_up.stabilization_window_seconds,
                "policies": [
                    {
                        "type": "Percent",
                        "value": scaling.scale_up.percent,
                        "period_seconds": scaling.scale_up.period_seconds,
                    }
                ],
            },
            "scale_down": {
                "stabilization_window_seconds": scaling.scale_down.stabilization_window_seconds,
                "policies": [
                    {
                        "type": "Percent",
                        "value": scaling.scale_down.percent,
                        "period_seconds": scaling.scale_down.period_seconds,
                    }
                ],
            },
        },
    }


def pdb_spec(app: AppSettings, environment: str) -> PodDisruptionBudgetSpecArgsDict:
    budget = app.disruption_budget
    spec: PodDisruptionBudgetSpecArgsDict = {
        "selector": {"match_labels": selector_labels(app, environment)},
        # Pods that never became ready may be evicted anyway, so a broken rollout cannot block drains.
        "unhealthy_pod_eviction_policy": "AlwaysAllow",
    }
    if budget.min_available is not None:
        spec["min_available"] = budget.min_available
    else:
        spec["max_unavailable"] = budget.max_unavailable
    return spec


# --- the component -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontendAppArgs:
    app: AppSettings
    environment: str
    namespace: pulumi.Input[str]
    # A Pulumi secret (from the stack's config), or None when the stack sets no Sentry DSN.
    sentry_dsn: pulumi.Output[str] | None = None


class FrontendApp(pulumi.ComponentResource):
    """The frontend's Kubernetes workload in the app's namespace."""

    config_map: k8s.core.v1.ConfigMap
    secret: k8s.core.v1.Secret
    service_account: k8s.core.v1.ServiceAccount
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    hpa: k8s.autoscaling.v2.HorizontalPodAutoscaler | None
    pdb: k8s.policy.v1.PodDisruptionBudget | None

    def __init__(self, name: str, args: FrontendAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:FrontendApp", name, None, opts)
        app, env, namespace = args.app, args.environment, args.namespace
        labels = common_labels(app, env)
        child = pulumi.ResourceOptions(parent=self)

        data = public_config(app)
        self.config_map = k8s.core.v1.ConfigMap(
            app.config_map_name,
            metadata=metadata(app.config_map_name, namespace, labels),
            data=data,
            opts=child,
        )

        # Bumping app.secretRotation replaces both generated secrets; the new checksum rolls the pods.
        rotation = str(app.secret_rotation)
        nextauth_secret = random.RandomPassword(
            "nextauth-secret", length=64, special=False, keepers={"rotation": rotation}, opts=child
        )
        jwt_key = tls.PrivateKey(
            "jwt-signing-key",
            algorithm="RSA",
            rsa_bits=3072,
            opts=pulumi.ResourceOptions(parent=self, replacement_trigger=rotation),
        )
        secret_values: dict[str, pulumi.Input[str]] = {
            "NEXTAUTH_SECRET": nextauth_secret.result,
            "JWT_SIGNING_PRIVATE_KEY": jwt_key.private_key_pem_pkcs8,
        }
        if args.sentry_dsn is not None:
            secret_values["SENTRY_DSN"] = args.sentry_dsn
        secret_data = pulumi.Output.secret(pulumi.Output.all(**secret_values))
        self.secret = k8s.core.v1.Secret(
            app.secret_name,
            metadata=metadata(app.secret_name, namespace, labels),
            type="Opaque",
            string_data=secret_data,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["data", "stringData"]),
        )
        # The digest of the values, not the values: a one-way hash of high-entropy secrets reveals
        # nothing, and keeping it plain keeps the Deployment's diff readable.
        secret_checksum = pulumi.Output.unsecret(secret_data.apply(checksum))

        self.service_account = k8s.core.v1.ServiceAccount(
            app.service_account_name,
            metadata=metadata(app.service_account_name, namespace, labels),
            automount_service_account_token=False,
            opts=child,
        )

        self.deployment = k8s.apps.v1.Deployment(
            app.name,
            metadata={
                **metadata(app.name, namespace, {**labels, "app.kubernetes.io/version": image_version(app.image)}),
                "annotations": checkov_annotations(app),
            },
            spec=deployment_spec(app, env, checksum(data), secret_checksum),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.config_map, self.secret, self.service_account]),
        )

        self.service = k8s.core.v1.Service(
            app.service.name,
            metadata={**metadata(app.service.name, namespace, labels), "annotations": service_annotations(app)},
            spec=service_spec(app, env),
            opts=child,
        )

        self.hpa = None
        if app.autoscaling.enabled:
            self.hpa = k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{app.name}-hpa",
                metadata=metadata(f"{app.name}-hpa", namespace, labels),
                spec=hpa_spec(app, self.deployment.metadata.name),
                opts=child,
            )

        self.pdb = None
        if app.disruption_budget.enabled:
            self.pdb = k8s.policy.v1.PodDisruptionBudget(
                f"{app.name}-pdb",
                metadata=metadata(f"{app.name}-pdb", namespace, labels),
                spec=pdb_spec(app, env),
                opts=child,
            )

        self.service_name = self.service.metadata.name
        self.register_outputs(
            {
                "deploymentName": self.deployment.metadata.name,
                "serviceName": self.service_name,
                "configMapName": self.config_map.metadata.name,
                "secretName": self.secret.metadata.name,
            }
        )
