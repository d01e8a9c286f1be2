"""FrontendApp: the Next.js frontend's workload (ConfigMap, Secret, ServiceAccount, Deployment,
Service, HPA, PodDisruptionBudget).

The spec builders are pure functions of the settings, so tests read them like the seed's YAML; the
component only turns them into resources parented to itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

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
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgsDict

from components import naming
from components.k8s import AppIdentity, ImageReference, ServiceTarget, WorkloadProfile, metadata
from components.settings import AppSettings, ConfigSecret, Probe, secret_input

CONTAINER_NAME = "frontend"  # the seed's name; alerts and runbooks select on it
PORT_NAME = "http"
CACHE_VOLUME = "nextjs-cache"
TMP_VOLUME = "tmp-volume"
COMPONENT = "frontend"  # app.kubernetes.io/component


# --- names -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontendNames:
    """The Kubernetes names of one FrontendApp's objects."""

    deployment: str
    config_map: str
    secret: str
    service_account: str
    service: str
    hpa: str
    pdb: str


def object_names(name: str, app: AppSettings) -> FrontendNames:
    """Derived from the component's name, unless the stack pins one (a live object keeps its name)."""
    return FrontendNames(
        deployment=name,
        config_map=app.config_map_name or f"{name}-config",
        secret=app.secret_name or f"{name}-secrets",
        service_account=app.service_account_name or f"{name}-sa",
        service=app.service.name or f"{name}-service",
        hpa=f"{name}-hpa",
        pdb=f"{name}-pdb",
    )


# A Service's fields the API server fills in and the program never sets.
SERVICE_SERVER_FIELDS = ("spec.clusterIP", "spec.clusterIPs")


def identity(name: str, environment: str, app: AppSettings | None = None) -> AppIdentity:
    pinned = tuple(sorted(((app.selector_labels if app else None) or {}).items()))
    return AppIdentity(name=name, environment=environment, component=COMPONENT, pinned_selector=pinned)


def workload_profile(name: str, environment: str, app: AppSettings, canary: bool = False) -> WorkloadProfile:
    """What the namespace's guard rails (SecurityBaseline) need to know of this app; `canary`: releases go
    out as canaries, whose pods run beside the stable set."""
    names = object_names(name, app)
    return WorkloadProfile(
        name=name,
        pod_labels=identity(name, environment, app).selector_labels,
        ports=(app.container_port,),
        # Its ceiling plus the rollout's surge on top of it.
        peak_pods=app.max_replicas + app.max_surge,
        pod_requests=app.resources.requests.as_resource_list(),
        pod_limits=app.resources.limits.as_resource_list(),
        load_balancers=1 if app.service.type == "LoadBalancer" else 0,
        service_account=names.service_account,
        config_maps=(names.config_map,),
        secrets=(names.secret,),
        canary_pods=app.max_replicas if canary else 0,
    )


# checkov findings the Deployment accepts, each with its reason (docs/testing.md, "checkov suppressions").
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
    if not ImageReference.parse(app.image).pinned_by_digest:
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


def container_spec(app: AppSettings, names: FrontendNames) -> ContainerArgsDict:
    return {
        "name": CONTAINER_NAME,
        "image": app.image,
        "image_pull_policy": app.image_pull_policy,
        "ports": [{"container_port": app.container_port, "name": PORT_NAME, "protocol": "TCP"}],
        "env_from": [
            {"config_map_ref": {"name": names.config_map}},
            {"secret_ref": {"name": names.secret}},
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


def pod_spec(app: AppSettings, app_id: AppIdentity, names: FrontendNames) -> PodSpecArgsDict:
    selector = app_id.selector_labels
    return {
        "service_account_name": names.service_account,
        # The app never calls the Kubernetes API: no token in the pod.
        "automount_service_account_token": False,
        "enable_service_links": False,
        "containers": [container_spec(app, names)],
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


def pod_labels(app: AppSettings, app_id: AppIdentity) -> dict[str, str]:
    return {**app_id.labels, "app.kubernetes.io/version": ImageReference.parse(app.image).version}


def deployment_spec(
    app: AppSettings,
    app_id: AppIdentity,
    names: FrontendNames,
    config_checksum: pulumi.Input[str],
    secret_checksum: pulumi.Input[str],
    rollout: bool = False,
) -> DeploymentSpecArgsDict:
    spec: DeploymentSpecArgsDict = {
        "selector": {"match_labels": app_id.selector_labels},
        # Never below desired capacity during a rollout: add new pods first, remove old ones after.
        "strategy": {
            "type": "RollingUpdate",
            "rolling_update": {"max_surge": app.max_surge, "max_unavailable": 0},
        },
        "revision_history_limit": 10,
        "template": {
            "metadata": {
                "labels": pod_labels(app, app_id),
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(app.container_port),
                    "prometheus.io/path": "/metrics",
                    # A changed ConfigMap or Secret changes the template, so the pods roll.
                    "checksum/config": config_checksum,
                    "checksum/secret": secret_checksum,
                },
            },
            "spec": pod_spec(app, app_id, names),
        },
    }
    # With autoscaling the HPA alone owns the replica count: a spec.replicas here would reset it on
    # every `pulumi up`. Under a Rollout (workloadRef) Argo scales the Deployment to 0 and owns it too.
    if not app.autoscaling.enabled and not rollout:
        spec["replicas"] = app.replicas
    return spec


# --- Service, HPA, PDB -------------------------------------------------------------------------


def service_spec(app: AppSettings, app_id: AppIdentity) -> ServiceSpecArgsDict:
    return {
        "type": app.service.type,
        "selector": app_id.selector_labels,
        "ports": [{"name": PORT_NAME, "port": app.service.port, "target_port": PORT_NAME, "protocol": "TCP"}],
        "session_affinity": "None",
    }


def service_annotations(app: AppSettings) -> dict[str, str]:
    return dict(app.service.load_balancer_annotations) if app.service.type == "LoadBalancer" else {}


# What the HPA scales under a canary: the Rollout (its scale subresource), not the Deployment it took over
# (Argo Rollouts docs, "HorizontalPodAutoscaler": scaleTargetRef apiVersion argoproj.io/v1alpha1, kind Rollout).
ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"


def hpa_spec(
    app: AppSettings, deployment_name: pulumi.Input[str], rollout: bool = False
) -> HorizontalPodAutoscalerSpecArgsDict:
    scaling = app.autoscaling
    target = (ROLLOUT_API_VERSION, "Rollout") if rollout else ("apps/v1", "Deployment")
    return {
        # The Rollout is named as the Deployment it takes over (components/delivery.py).
        "scale_target_ref": {"api_version": target[0], "kind": target[1], "name": deployment_name},
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


def pdb_spec(app: AppSettings, app_id: AppIdentity) -> PodDisruptionBudgetSpecArgsDict:
    budget = app.disruption_budget
    spec: PodDisruptionBudgetSpecArgsDict = {
        "selector": {"match_labels": app_id.selector_labels},
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
    # A secret from the stack's config, or None when the stack sets no Sentry DSN.
    sentry_dsn: ConfigSecret | None = None
    # Releases go out as Argo Rollouts canaries: a Rollout of the Deployment's name owns its pods
    # (workloadRef), so the HPA scales the Rollout and the Deployment's replicas are left to Argo.
    rollout: bool = False


class FrontendApp(pulumi.ComponentResource):
    """The frontend's Kubernetes workload in the app's namespace.

    Every child is named from the component's name; so are the Kubernetes objects, unless the stack
    pins their names. The aliases carry each child over from the name it had before children were
    named that way (the Kubernetes name, or a fixed one for the generated secrets).
    """

    config_map: k8s.core.v1.ConfigMap
    secret: k8s.core.v1.Secret
    service_account: k8s.core.v1.ServiceAccount
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    hpa: k8s.autoscaling.v2.HorizontalPodAutoscaler | None
    pdb: k8s.policy.v1.PodDisruptionBudget | None
    # Declared outputs for the other components:
    app_id: AppIdentity  # labels and selector of the pods and the Service
    service_target: ServiceTarget  # what routing and monitoring reach
    profile: WorkloadProfile  # what the namespace's guard rails size and allow

    def __init__(self, name: str, args: FrontendAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:FrontendApp", name, None, opts)
        app, namespace = args.app, args.namespace
        self.app_id = app_id = identity(name, args.environment, app)
        self.profile = workload_profile(name, args.environment, app, canary=args.rollout)
        names = object_names(name, app)
        labels = app_id.labels

        def child(suffix: str, old_name: str, **options: Any) -> tuple[str, pulumi.ResourceOptions]:
            return naming.child(self, name, suffix, old_name, **options)

        data = public_config(app)
        child_name, child_opts = child("config", names.config_map)
        self.config_map = k8s.core.v1.ConfigMap(
            child_name, metadata=metadata(names.config_map, namespace, labels), data=data, opts=child_opts
        )

        # Bumping app.secretRotation replaces both generated secrets; the new checksum rolls the pods. A key the
        # stack gives (app.secretValues, a live Secret's value) is used as it is and not generated.
        rotation = str(app.secret_rotation)
        given = {key: secret_input(value) for key, value in app.secret_values.items()}
        secret_values: dict[str, pulumi.Input[str]] = {}
        if "NEXTAUTH_SECRET" in given:
            secret_values["NEXTAUTH_SECRET"] = cast(pulumi.Input[str], given["NEXTAUTH_SECRET"])
        else:
            child_name, child_opts = child("nextauth-secret", "nextauth-secret")
            nextauth_secret = random.RandomPassword(
                child_name, length=64, special=False, keepers={"rotation": rotation}, opts=child_opts
            )
            secret_values["NEXTAUTH_SECRET"] = nextauth_secret.result
        if "JWT_SIGNING_PRIVATE_KEY" in given:
            secret_values["JWT_SIGNING_PRIVATE_KEY"] = cast(pulumi.Input[str], given["JWT_SIGNING_PRIVATE_KEY"])
        else:
            child_name, child_opts = child("jwt-signing-key", "jwt-signing-key", replacement_trigger=rotation)
            jwt_key = tls.PrivateKey(child_name, algorithm="RSA", rsa_bits=3072, opts=child_opts)
            secret_values["JWT_SIGNING_PRIVATE_KEY"] = jwt_key.private_key_pem_pkcs8
        sentry_dsn = secret_input(args.sentry_dsn)
        if sentry_dsn is not None:
            secret_values["SENTRY_DSN"] = sentry_dsn
        secret_data = pulumi.Output.secret(pulumi.Output.all(**secret_values))
        child_name, child_opts = child("secret", names.secret, additional_secret_outputs=["data", "stringData"])
        self.secret = k8s.core.v1.Secret(
            child_name,
            metadata=metadata(names.secret, namespace, labels),
            type="Opaque",
            string_data=secret_data,
            opts=child_opts,
        )
        # The digest of the values, not the values: a one-way hash of high-entropy secrets reveals
        # nothing, and keeping it plain keeps the Deployment's diff readable.
        secret_checksum = pulumi.Output.unsecret(secret_data.apply(checksum))

        child_name, child_opts = child("service-account", names.service_account)
        self.service_account = k8s.core.v1.ServiceAccount(
            child_name,
            metadata=metadata(names.service_account, namespace, labels),
            automount_service_account_token=False,
            opts=child_opts,
        )

        child_name, child_opts = child(
            "deployment", names.deployment, depends_on=[self.config_map, self.secret, self.service_account]
        )
        self.deployment = k8s.apps.v1.Deployment(
            child_name,
            metadata=metadata(names.deployment, namespace, pod_labels(app, app_id), checkov_annotations(app)),
            spec=deployment_spec(app, app_id, names, checksum(data), secret_checksum, rollout=args.rollout),
            opts=child_opts,
        )

        # The API server assigns clusterIP; pulumi-kubernetes replaces a Service whose spec.clusterIP changes
        # (diff.go forceNewProperties), and an imported Service records the live one, which the program never
        # gives: the engine keeps the old value of an ignored property, so adopting it is no replace.
        child_name, child_opts = child("service", names.service, ignore_changes=list(SERVICE_SERVER_FIELDS))
        self.service = k8s.core.v1.Service(
            child_name,
            metadata=metadata(names.service, namespace, labels, service_annotations(app)),
            spec=service_spec(app, app_id),
            opts=child_opts,
        )

        self.hpa = None
        if app.autoscaling.enabled:
            child_name, child_opts = child("hpa", names.hpa)
            self.hpa = k8s.autoscaling.v2.HorizontalPodAutoscaler(
                child_name,
                metadata=metadata(names.hpa, namespace, labels),
                spec=hpa_spec(app, self.deployment.metadata.name, rollout=args.rollout),
                opts=child_opts,
            )

        self.pdb = None
        if app.disruption_budget.enabled:
            child_name, child_opts = child("pdb", names.pdb)
            self.pdb = k8s.policy.v1.PodDisruptionBudget(
                child_name,
                metadata=metadata(names.pdb, namespace, labels),
                spec=pdb_spec(app, app_id),
                opts=child_opts,
            )

        self.deployment_name = names.deployment  # a Rollout that takes the Deployment over names it so
        self.service_name = self.service.metadata.name
        self.service_target = ServiceTarget(
            app=app_id,
            namespace=namespace,
            name=self.service_name,
            port=app.service.port,
            port_name=PORT_NAME,
            container=CONTAINER_NAME,
        )
        self.register_outputs(
            {
                "deploymentName": self.deployment.metadata.name,
                "serviceName": self.service_name,
                "configMapName": self.config_map.metadata.name,
                "secretName": self.secret.metadata.name,
            }
        )
