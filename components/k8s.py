"""Kubernetes conventions every component shares: labels and selectors, object metadata, resource
quantities and image references.

Pure functions and values only: the settings model, the components, the policy pack and the tests
all use them, so a label or a quantity means the same thing everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pulumi
    from pulumi_kubernetes.meta.v1 import ObjectMetaArgsDict
    from pulumi_kubernetes.networking.v1 import NetworkPolicyPeerArgsDict

PART_OF = "hft-platform"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi"}
PLATFORM_LABELS = {**MANAGED_BY, "app.kubernetes.io/part-of": PART_OF}

# The API server labels every namespace with its own name; unlike a hand-set label, it cannot be
# missing or forged by whoever creates the namespace.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


# --- identity and labels ----------------------------------------------------------------------


@dataclass(frozen=True)
class AppIdentity:
    """Who a set of objects belongs to: the app's name, its environment and its role in the platform.

    The name comes from the component that owns the objects (a component's Pulumi name), so two
    instances of a component never share labels, selectors or object names.
    """

    name: str
    environment: str
    component: str
    # A selector the stack pins (a live Deployment's, which is immutable); empty: the recommended one.
    pinned_selector: tuple[tuple[str, str], ...] = ()

    @property
    def instance(self) -> str:
        return f"{self.name}-{self.environment}"

    @property
    def recommended_selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/instance": self.instance}

    @property
    def selector_labels(self) -> dict[str, str]:
        """The labels that pick out this app's pods (and its Service): the pinned selector, else the recommended
        name and instance."""
        return dict(self.pinned_selector) if self.pinned_selector else self.recommended_selector

    @property
    def labels(self) -> dict[str, str]:
        """Every object of the app: the recommended app.kubernetes.io set plus the seed's two labels (and a
        pinned selector's labels, so the pods match it)."""
        return {
            **self.recommended_selector,
            **dict(self.pinned_selector),
            "app.kubernetes.io/component": self.component,
            **PLATFORM_LABELS,
            "app": self.name,  # the seed's label: the runbooks' `kubectl -l app=hft-frontend`
            "environment": self.environment,
        }


def metadata(
    name: str,
    namespace: pulumi.Input[str] | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> ObjectMetaArgsDict:
    """An object's metadata: always an explicit name (the provider would add a random suffix) and,
    unless the kind is cluster-scoped (namespace None), its namespace."""
    meta: ObjectMetaArgsDict = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    return meta


def namespace_peer(namespace: str) -> NetworkPolicyPeerArgsDict:
    """A NetworkPolicy peer: every pod of one namespace."""
    return {"namespace_selector": {"match_labels": {NAMESPACE_NAME_LABEL: namespace}}}


# The label that marks a canary stack's traffic Services (stable, canary): Argo Rollouts adds its
# `rollouts-pod-template-hash` to their selectors, so each reaches one revision's pods; the monitoring
# leaves them out and scrapes every pod through the app's own Service.
TRAFFIC_ROLE_LABEL = "hft-platform.com/traffic-role"
# The label Argo Rollouts puts on each revision's pods, and the name a scrape gives it on their series.
ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"
ROLLOUT_HASH_SERIES_LABEL = "rollouts_pod_template_hash"


# --- what one component tells another ---------------------------------------------------------


@dataclass(frozen=True)
class ServiceTarget:
    """A workload's Service as other components reach it: routing sends traffic to it, monitoring
    scrapes it. `name` is the Service's Output, so whoever uses it depends on the Service."""

    app: AppIdentity  # the Service carries app.labels; app.selector_labels pick it out
    namespace: pulumi.Input[str]
    name: pulumi.Input[str]
    port: int  # the Service's port
    port_name: str
    container: str  # the container behind it, as kube-state-metrics and cAdvisor label its series


@dataclass(frozen=True)
class WorkloadProfile:
    """What a namespace's guard rails need to know of one workload in it."""

    name: str
    pod_labels: Mapping[str, str]
    ports: tuple[int, ...]  # the TCP ports its pods serve
    peak_pods: int  # the most pods it ever runs (autoscaling ceiling plus a rollout's surge)
    pod_requests: Mapping[str, str]  # per pod, as a ResourceList
    pod_limits: Mapping[str, str]
    load_balancers: int  # Services of type LoadBalancer
    service_account: str
    config_maps: tuple[str, ...] = ()  # its own, which an optional Role lets it read
    secrets: tuple[str, ...] = ()
    # A canary's pods on top of the peak: a canary at 100 % runs beside the whole stable set (Argo
    # Rollouts scales the stable set down only after the promotion).
    canary_pods: int = 0

    @property
    def most_pods(self) -> int:
        """What the quota must admit: the peak plus a canary's pods."""
        return self.peak_pods + self.canary_pods


# --- quantities -------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX: dict[str | None, Decimal] = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
QUANTITY_HINT = "not a Kubernetes quantity (examples: 500m, 1, 512Mi, 2Gi)"


def _parse_quantity(quantity: str) -> tuple[Decimal, str | None]:
    match = _QUANTITY.match(quantity)
    if match is None:
        raise ValueError(QUANTITY_HINT)
    return Decimal(match.group(1)), match.group(2)


def quantity_value(quantity: str) -> Decimal:
    """The numeric value of a Kubernetes quantity ("500m" -> 0.5, "1Gi" -> 1073741824)."""
    number, suffix = _parse_quantity(quantity)
    return number * _SUFFIX[suffix]


def _format(number: Decimal, suffix: str | None) -> str:
    return f"{number.normalize():f}{suffix or ''}"


def scale_quantity(quantity: str, factor: int) -> str:
    """`quantity` times `factor`, in the same unit ("512Mi" x 3 -> "1536Mi")."""
    number, suffix = _parse_quantity(quantity)
    return _format(number * factor, suffix)


def sum_quantities(quantities: Iterable[str]) -> str:
    """The exact sum: in the unit the quantities share ("1Gi" + "2Gi" -> "3Gi"), else in the smallest
    unit among them ("1Gi" + "512Mi" -> "1536Mi")."""
    parsed = [_parse_quantity(q) for q in quantities]
    if not parsed:
        return "0"
    suffixes = {suffix for _, suffix in parsed}
    if len(suffixes) == 1:
        return _format(sum((n for n, _ in parsed), Decimal(0)), parsed[0][1])
    # Mixed units: express the total in the smallest unit used, exactly.
    smallest = min(suffixes, key=lambda s: _SUFFIX[s])
    total = sum((n * _SUFFIX[s] for n, s in parsed), Decimal(0)) / _SUFFIX[smallest]
    return _format(total, smallest)


def max_quantity(quantities: Iterable[str]) -> str:
    """The largest of the quantities, as written."""
    return max(quantities, key=quantity_value)


# --- image references -------------------------------------------------------------------------

# registry[:port]/path[:tag][@sha256:digest], as the distribution reference grammar has it.
_IMAGE = re.compile(
    r"^(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


@dataclass(frozen=True)
class ImageReference:
    """A container image reference: repository, optional tag, optional sha256 digest."""

    repository: str
    tag: str | None = None
    digest: str | None = None
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        match = _IMAGE.match(text)
        if match is None:
            raise ValueError("not an image reference (registry/repository:tag or registry/repository@sha256:digest)")
        return cls(match.group("repository"), match.group("tag"), match.group("digest"), text)

    @property
    def pinned_by_digest(self) -> bool:
        return self.digest is not None

    @property
    def floating(self) -> str | None:
        """Why the reference can move under the same text (None when it cannot): no tag means
        `latest`, and `latest` is rewritten by every push. A digest pins it whatever the tag says."""
        if self.digest is not None:
            return None
        if self.tag is None:
            return "no tag, so it pulls whatever latest is"
        if self.tag == "latest":
            return "the tag latest moves with every push"
        return None

    @property
    def version(self) -> str:
        """The tag, or the digest's first 12 hex digits: a valid label value for app.kubernetes.io/version."""
        if self.tag is not None:
            return self.tag
        return (self.digest or "").removeprefix("sha256:")[:12]
