"""`delivery`: how a new pod template reaches production (Delivery): a rolling update of the Deployment,
or an Argo Rollouts canary through the Gateway's route weights, judged by the SLOs.

`strategy: rolling` (the default) renders nothing of Argo Rollouts; `canary` renders a Rollout that takes
over the Deployment's pods (`workloadRef`), a stable and a canary Service, the AnalysisTemplate and, where
this stack owns it (`controller.install`; one stack per cluster), the Argo Rollouts controller.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from components.settings.base import DnsLabel, HttpsUrl, ImageRef, RuleError, _Model

# A Go duration as Argo Rollouts reads a pause or an analysis interval ("30s", "5m", "1h").
Duration = Annotated[str, Field(pattern=r"^[0-9]+(s|m|h)$")]
Sha256 = Annotated[str, Field(pattern=r"^[a-f0-9]{64}$")]


class CanaryStep(_Model):
    """One step: send `setWeight` percent of new requests to the canary, then pause (`pause`: a duration;
    unset: until someone promotes the rollout)."""

    set_weight: int = Field(ge=1, le=100)
    pause: Duration | None = None


def _default_steps() -> tuple[CanaryStep, ...]:
    return (
        CanaryStep(set_weight=5, pause="5m"),
        CanaryStep(set_weight=25, pause="10m"),
        CanaryStep(set_weight=50, pause="10m"),
        CanaryStep(set_weight=100, pause="5m"),
    )


class AnalysisSettings(_Model):
    """The background analysis of the canary's pods by the SLOs' SLIs (Argo Rollouts' AnalysisTemplate)."""

    # The Prometheus the analysis queries (kube-prometheus-stack's Service in the monitoring namespace).
    prometheus_address: Annotated[str, Field(pattern=r"^https?://[^\s]+$")] = (
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    )
    interval: Duration = "1m"
    # The window each measurement looks back over: the page alert's short window.
    window: Duration = "5m"
    # Measurements above the page threshold tolerated before the rollout aborts.
    failure_limit: int = Field(default=1, ge=0)
    # Measurements without data (no canary request yet) tolerated before the rollout pauses for a human.
    inconclusive_limit: int = Field(default=3, ge=0)
    # The burn rate that fails a measurement: the page threshold (SRE workbook: 14.4x over 1h/5m).
    burn_rate_factor: float = Field(default=14.4, gt=1)


class PluginSettings(_Model):
    """argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi, downloaded by the controller at start."""

    version: Annotated[str, Field(pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+$")] = "v0.15.0"
    # The release binary's SHA-256 (the release assets' page; docs/delivery.md, "The plugin's checksum").
    # Unset, the controller downloads it unverified (over HTTPS, from github.com).
    sha256: Sha256 | None = None


class ControllerSettings(_Model):
    """Argo Rollouts' controller, from the argo-helm chart. Cluster-wide: one stack per cluster installs it."""

    install: bool = True
    namespace: DnsLabel = "argo-rollouts"
    chart_version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = "2.41.0"  # appVersion v1.9.0
    chart_repository: HttpsUrl = "https://argoproj.github.io/argo-helm"
    # The chart's appVersion is v1.9.0; v1.9.1 is the patch release whose CRDs schemas/ vendors.
    image: ImageRef = "quay.io/argoproj/argo-rollouts:v1.9.1"
    plugin: PluginSettings = PluginSettings()


class DeliverySettings(_Model):
    """How a release reaches the pods: `rolling` (the Deployment's rolling update) or `canary`."""

    strategy: Literal["rolling", "canary"] = "rolling"
    steps: tuple[CanaryStep, ...] = Field(default_factory=_default_steps, strict=False)
    analysis: AnalysisSettings = AnalysisSettings()
    controller: ControllerSettings = ControllerSettings()
    # How long the deploy job waits for a release to finish (`kubectl argo rollouts status --timeout`).
    status_timeout: Duration = "60m"

    @model_validator(mode="after")
    def _steps_climb_to_all(self) -> Self:
        if not self.steps:
            raise RuleError("steps", [], "needs at least one step")
        previous = 0
        for index, step in enumerate(self.steps):
            if step.set_weight <= previous:
                raise RuleError(
                    f"steps[{index}].setWeight",
                    step.set_weight,
                    f"must be above the step before it ({previous}): the canary's share only grows",
                )
            previous = step.set_weight
        if previous != 100:
            raise RuleError(
                f"steps[{len(self.steps) - 1}].setWeight", previous, "the last step must send 100 % to the canary"
            )
        return self

    @property
    def canary(self) -> bool:
        return self.strategy == "canary"
