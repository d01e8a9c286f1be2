"""Delivery: canary releases with Argo Rollouts through the Gateway API's route weights (docs/delivery.md).

Under `delivery.strategy: canary` it renders
- a Rollout that takes over the FrontendApp's Deployment (`workloadRef`, `scaleDown: progressively`): the
  Deployment keeps its name, labels, selector and pod template, a release still changes that template,
  and Argo runs the new revision as a canary beside the stable one;
- the stable and the canary Services, with the app's Service's own selector (Argo adds each revision's
  `rollouts-pod-template-hash` to them at run time), which every route rule serving the app lists;
- the AnalysisTemplate that judges the canary's pods alone by the SLOs' SLIs;
- where this stack owns it (`delivery.controller.install`, one stack per cluster), the Argo Rollouts
  controller from its Helm chart, with the Gateway API traffic-router plugin, under a SecurityBaseline of
  its own namespace as Velero is.

What the upstream sources say, at the pinned releases:
- argoproj/argo-helm, chart argo-rollouts 2.41.0 (tag argo-rollouts-2.41.0, commit
  8796aeaa82428f96c3a20293f75a1a805f99d32b; appVersion v1.9.0): values `controller.trafficRouterPlugins`
  become the `argo-rollouts-config` ConfigMap's `trafficRouterPlugins` (templates/controller/configmap.yaml);
  `providerRBAC.providers.gatewayAPI` grants get/list/watch/update on httproutes (and create/update on
  configmaps) in the controller's ClusterRole (templates/_helpers.tpl); pods carry
  app.kubernetes.io/name and /instance (`argo-rollouts`, the release) plus `controller.podLabels`; the
  plugin binary goes into the `plugin-bin` emptyDir (templates/controller/deployment.yaml); no hook Jobs.
- argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi v0.15.0 (commit
  96c63fd7666a7cc9ab1fe19477cd0751550230ab), docs/installation.md, "Permissions": the plugin needs `get`
  on services and get/list/update/patch on httproutes and grpcroutes; the chart grants no `patch`, so the
  values add it (`providerRBAC.additionalRules`).
- argoproj/argo-rollouts v1.9.1 (commit b6bd3bcf8f60d717a98763d26acc983db7f97cb0): a plugin entry takes
  `sha256` (utils/plugin/types/types.go, PluginItem.Sha256); `workloadRef.scaleDown: progressively`
  (pkg/apis/rollouts/v1alpha1/types.go); docs/migrating.md, "Reference Deployment From Rollout".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import ServiceSpecArgsDict

from components import naming
from components.k8s import (
    ROLLOUT_HASH_SERIES_LABEL,
    TRAFFIC_ROLE_LABEL,
    AppIdentity,
    ImageReference,
    ServiceTarget,
    WorkloadProfile,
    metadata,
)
from components.security_baseline import Egress, SecurityBaseline, SecurityBaselineArgs
from components.settings import DeliverySettings
from components.settings.observability import SloSettings
from components.slo import error_budget, error_ratio

ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"
PLUGIN_NAME = "argoproj-labs/gatewayAPI"  # the name the plugin looks its configuration up by
PLUGIN_URL = (
    "https://github.com/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi/releases/download/"
    "{version}/gatewayapi-plugin-linux-amd64"
)
RELEASE = "argo-rollouts"  # the Helm release; the chart names its objects and labels after it
POD_LABELS = {"app.kubernetes.io/name": "argo-rollouts", "app.kubernetes.io/instance": RELEASE}
CONTROLLER_REPLICAS = 2  # the chart's default: one leader, one standby
RUN_AS_USER = 999  # the argo-rollouts image's USER
RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
# The plugin's permissions beyond the chart's gatewayAPI rules (its docs/installation.md, "Permissions").
PLUGIN_RULES = [
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get"]},
    {
        "apiGroups": ["gateway.networking.k8s.io"],
        "resources": ["httproutes", "grpcroutes"],
        "verbs": ["get", "list", "update", "patch"],
    },
]
ANALYSIS_ARG = "canary-hash"


# --- the controller -------------------------------------------------------------------------------


def plugin_entry(delivery: DeliverySettings) -> dict[str, Any]:
    plugin = delivery.controller.plugin
    entry = {"name": PLUGIN_NAME, "location": PLUGIN_URL.format(version=plugin.version)}
    if plugin.sha256 is not None:
        entry["sha256"] = plugin.sha256  # the controller refuses a download with another checksum
    return entry


def _restricted_container() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def chart_values(delivery: DeliverySettings) -> dict[str, Any]:
    """The argo-rollouts chart's values: the pinned image, the Gateway API plugin (downloaded at start
    from github.com, which the namespace's HTTPS egress allows), pods that pass the restricted Pod Security
    Standard, and the RBAC of the Gateway API provider only."""
    image = ImageReference.parse(delivery.controller.image)
    registry, _, repository = image.repository.partition("/")
    return {
        "installCRDs": True,
        "keepCRDs": True,  # deleting the CRDs would delete every Rollout with them
        "controller": {
            "replicas": CONTROLLER_REPLICAS,
            "image": {"registry": registry, "repository": repository, "tag": image.tag, "pullPolicy": "IfNotPresent"},
            "resources": RESOURCES,
            "trafficRouterPlugins": [plugin_entry(delivery)],
            "metrics": {"enabled": False},
        },
        "dashboard": {"enabled": False},
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": _restricted_container(),
        "providerRBAC": {
            "enabled": True,
            "providers": {
                "istio": False,
                "smi": False,
                "ambassador": False,
                "awsLoadBalancerController": False,
                "awsAppMesh": False,
                "traefik": False,
                "apisix": False,
                "contour": False,
                "glooPlatform": False,
                "gatewayAPI": True,
            },
            "additionalRules": PLUGIN_RULES,
        },
    }


def workload_profiles(delivery: DeliverySettings) -> list[WorkloadProfile]:
    """The controller in its namespace: two pods (three during its own rolling update), serving nothing
    the namespace must admit (the kubelet's probes are not NetworkPolicy traffic; metrics are off)."""
    return [
        WorkloadProfile(
            name="argo-rollouts",
            pod_labels=POD_LABELS,
            ports=(),
            peak_pods=CONTROLLER_REPLICAS + 1,
            pod_requests=RESOURCES["requests"],
            pod_limits=RESOURCES["limits"],
            load_balancers=0,
            service_account=RELEASE,
        )
    ]


def prometheus_egress(delivery: DeliverySettings, monitoring_namespace: str) -> tuple[str, int]:
    """The analysis queries Prometheus from the controller's pods: its namespace and port."""
    address = urlsplit(delivery.analysis.prometheus_address)
    return monitoring_namespace, address.port or (443 if address.scheme == "https" else 80)


# --- the app's side -------------------------------------------------------------------------------


def traffic_service_spec(selector: Mapping[str, str], target: ServiceTarget) -> ServiceSpecArgsDict:
    """The stable or canary Service: the app's Service's selector and port (Argo narrows the selector to
    one revision at run time)."""
    return {
        "type": "ClusterIP",
        "selector": dict(selector),
        "ports": [{"name": target.port_name, "port": target.port, "target_port": target.port_name, "protocol": "TCP"}],
    }


def canary_steps(delivery: DeliverySettings) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for step in delivery.steps:
        steps.append({"setWeight": step.set_weight})
        # A pause without a duration waits for `kubectl argo rollouts promote`.
        steps.append({"pause": {"duration": step.pause} if step.pause else {}})
    return steps


def rollout_spec(
    delivery: DeliverySettings,
    deployment: str,
    selector: Mapping[str, str],
    stable: str,
    canary: str,
    routes: Sequence[str],
    analysis_template: str,
    replicas: int,
) -> dict[str, Any]:
    """`replicas` sizes the Rollout when it is created: with `scaleDown: progressively` Argo scales the
    Deployment to `replicas` minus the Rollout's ready pods, and without it to 0 once the Rollout is
    Healthy, which a default of 1 pod would reach at once (rollout/replicaset.go, v1.9.1,
    reconcileNewReplicaSet). After that the HPA owns it: the component ignores its changes."""
    return {
        "replicas": replicas,
        "selector": {"matchLabels": dict(selector)},
        "workloadRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment,
            # As the Rollout's pods become available, Argo scales the Deployment down (docs/migrating.md).
            "scaleDown": "progressively",
        },
        "strategy": {
            "canary": {
                "stableService": stable,
                "canaryService": canary,
                # The routes live in the Rollout's namespace, the plugin's default (its docs, "Using Multiple
                # Routes": `namespace` is optional and defaults to the rollout's).
                "trafficRouting": {"plugins": {PLUGIN_NAME: {"httpRoutes": [{"name": r} for r in routes]}}},
                "steps": canary_steps(delivery),
                # Background analysis from the first pause on: the first setWeight has sent the canary its
                # share, so its pods have requests to judge.
                "analysis": {
                    "templates": [{"templateName": analysis_template}],
                    "startingStep": 1,
                    "args": [{"name": ANALYSIS_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}],
                },
            }
        },
    }


@dataclass(frozen=True)
class AnalysisMetric:
    """One measurement of the canary: a query returning one value, and the value above which it fails."""

    name: str
    query: str
    threshold: float


def canary_metrics(delivery: DeliverySettings, slos: Sequence[SloSettings], app_matchers: str) -> list[AnalysisMetric]:
    """One metric per SLO: its own SLI (components/slo.py `error_ratio`, the definition the burn-rate alerts
    use) restricted to the canary's pods by their revision, failing above `burnRateFactor` x the SLO's error
    budget (the page threshold). Argo substitutes `{{args.canary-hash}}` with the canary's pod-template hash."""
    canary = f'{app_matchers}, {ROLLOUT_HASH_SERIES_LABEL}="{{{{args.{ANALYSIS_ARG}}}}}"'
    factor = Decimal(str(delivery.analysis.burn_rate_factor))
    return [
        AnalysisMetric(
            name=f"{slo.name}-burn",
            query=error_ratio(slo, canary, delivery.analysis.window),
            threshold=float(error_budget(slo) * factor),
        )
        for slo in slos
    ]


def analysis_template_spec(delivery: DeliverySettings, metrics: Sequence[AnalysisMetric]) -> dict[str, Any]:
    """Each metric fails above its threshold and succeeds at or below it; no data (no series: `len(result)
    == 0`, or no request in the window: NaN) meets neither condition, which Argo counts as Inconclusive
    (docs/features/analysis.md, "Inconclusive Runs"), never as a success."""
    analysis = delivery.analysis
    has_value = "len(result) > 0 && !isNaN(result[0])"
    return {
        "args": [{"name": ANALYSIS_ARG}],
        "metrics": [
            {
                "name": metric.name,
                "interval": analysis.interval,
                "failureLimit": analysis.failure_limit,
                "inconclusiveLimit": analysis.inconclusive_limit,
                "successCondition": f"{has_value} && result[0] <= {metric.threshold!r}",
                "failureCondition": f"{has_value} && result[0] > {metric.threshold!r}",
                "provider": {"prometheus": {"address": analysis.prometheus_address, "query": metric.query}},
            }
            for metric in metrics
        ],
    }


# --- the component --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryArgs:
    settings: DeliverySettings
    app: AppIdentity
    # The app's Service (FrontendApp's output): its port; and its selector, which the traffic Services copy.
    target: ServiceTarget
    selector: pulumi.Input[Mapping[str, str]]
    deployment: str  # the Deployment the Rollout takes over (and is named after)
    replicas: int  # the Rollout's size when it is created; the HPA owns it from then on
    namespace: str
    routes: Sequence[str]  # the HTTPRoutes that serve the app (Routing's output)
    metrics: Sequence[AnalysisMetric]  # the canary's SLIs, with the thresholds that fail it
    monitoring_namespace: str
    egress: Egress
    pod_security_version: str


def traffic_service_names(app: AppIdentity) -> tuple[str, str]:
    return f"{app.name}-stable", f"{app.name}-canary"


class Delivery(pulumi.ComponentResource):
    """A canary stack's Rollout, traffic Services and analysis; the controller where this stack owns it."""

    stable_service: pulumi.Output[str]
    canary_service: pulumi.Output[str]

    def __init__(self, name: str, args: DeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:Delivery", name, None, opts)
        delivery, app, target = args.settings, args.app, args.target
        labels = {**app.labels, "app.kubernetes.io/component": "delivery"}
        installed: list[pulumi.Resource] = []

        controller = delivery.controller
        if controller.install:
            egress = Egress(
                dns_namespace=args.egress.dns_namespace,
                dns_port=args.egress.dns_port,
                https_port=args.egress.https_port,
                denied_cidrs=args.egress.denied_cidrs,
                services=(*args.egress.services, prometheus_egress(delivery, args.monitoring_namespace)),
            )
            guard = SecurityBaseline(
                f"{name}-baseline",
                SecurityBaselineArgs(
                    namespace=controller.namespace,
                    environment=app.environment,
                    pod_security_version=args.pod_security_version,
                    workloads=workload_profiles(delivery),
                    ingress_namespaces=[],
                    egress=egress,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            child_name, child_opts = naming.child(self, name, "controller", depends_on=[guard])
            installed.append(
                k8s.helm.v3.Release(
                    child_name,
                    name=RELEASE,
                    chart="argo-rollouts",
                    version=controller.chart_version,
                    repository_opts={"repo": controller.chart_repository},
                    namespace=controller.namespace,
                    create_namespace=False,  # the baseline creates it, labelled for Pod Security
                    values=chart_values(delivery),
                    atomic=True,
                    opts=child_opts,
                )
            )

        stable_name, canary_name = traffic_service_names(app)
        services: list[k8s.core.v1.Service] = []
        for role, object_name in (("stable", stable_name), ("canary", canary_name)):
            child_name, child_opts = naming.child(self, name, f"{role}-service")
            services.append(
                k8s.core.v1.Service(
                    child_name,
                    metadata=metadata(object_name, args.namespace, {**labels, TRAFFIC_ROLE_LABEL: role}),
                    spec=pulumi.Output.from_input(args.selector).apply(
                        lambda selector: traffic_service_spec(selector, target)
                    ),
                    opts=child_opts,
                )
            )
        self.stable_service = services[0].metadata.name
        self.canary_service = services[1].metadata.name

        template_name = f"{app.name}-canary-slo"
        child_name, child_opts = naming.child(self, name, "analysis-template", depends_on=installed)
        template = k8s.apiextensions.CustomResource(
            child_name,
            api_version=ROLLOUT_API_VERSION,
            kind="AnalysisTemplate",
            metadata=metadata(template_name, args.namespace, labels),
            spec=analysis_template_spec(delivery, args.metrics),
            opts=child_opts,
        )
        # The HPA scales the Rollout through its scale subresource, and owns spec.replicas from then on.
        # Under server-side apply, pulumi-kubernetes drops an ignored field that another field manager
        # owns from its apply request (no conflict, no reset), and otherwise sends the live value
        # (pulumi/pulumi-kubernetes provider/pkg/await/await.go, handleSSAIgnoreFields). A scalar path:
        # ignoreChanges cannot name a path inside an array under SSA ("TODO: ... nested arrays").
        child_name, child_opts = naming.child(
            self, name, "rollout", depends_on=[*installed, template, *services], ignore_changes=["spec.replicas"]
        )
        self.rollout = k8s.apiextensions.CustomResource(
            child_name,
            api_version=ROLLOUT_API_VERSION,
            kind="Rollout",
            metadata=metadata(args.deployment, args.namespace, labels),
            spec=pulumi.Output.all(args.selector, self.stable_service, self.canary_service).apply(
                lambda values: rollout_spec(
                    delivery,
                    args.deployment,
                    values[0],
                    values[1],
                    values[2],
                    args.routes,
                    template_name,
                    args.replicas,
                )
            ),
            opts=child_opts,
        )
        self.rollout_name = args.deployment
        self.register_outputs(
            {
                "rolloutName": self.rollout_name,
                "stableService": self.stable_service,
                "canaryService": self.canary_service,
                "analysisTemplate": template_name,
            }
        )
