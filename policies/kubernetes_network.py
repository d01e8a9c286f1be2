"""Traffic into the cluster: Ingresses carry no configuration snippets, and a LoadBalancer Service (which
bypasses the ingress layer: its TLS, WAF and rate limits) is flagged for review."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy, Severity

from policies.common import get, kubernetes_kind, resource_policy, show

INGRESS_GROUPS = frozenset({"networking.k8s.io", "extensions"})
# ingress-nginx's `*-snippet` (configuration-, server-, auth-, stream-, modsecurity-snippet) and NGINX
# Inc.'s `*-snippets` annotations paste raw nginx configuration into the controller, which holds every
# Secret the controller can read (CVE-2021-25742, CVE-2025-1974).
SNIPPET_ANNOTATION = re.compile(r"-snippets?$")


def is_ingress(resource_type: str) -> bool:
    group_kind = kubernetes_kind(resource_type)
    return group_kind is not None and group_kind[1] == "Ingress" and group_kind[0] in INGRESS_GROUPS


def check_ingress_snippets(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_ingress(args.resource_type):
        return
    annotations = get(args.props, "metadata", "annotations")
    if not isinstance(annotations, Mapping):
        return
    name = show(get(args.props, "metadata", "name"))
    for key in annotations:  # keys only: a value may be unknown during preview
        if SNIPPET_ANNOTATION.search(key):
            yield (
                f"Ingress {name}: annotation {key} injects raw configuration into the ingress controller. "
                "Remove it; express the behaviour with the controller's dedicated annotations, or move the route "
                "to a Gateway API HTTPRoute filter."
            )


def check_load_balancer_service(args: ResourceValidationArgs) -> Iterator[str]:
    if kubernetes_kind(args.resource_type) != ("core", "Service"):
        return
    if get(args.props, "spec", "type") == "LoadBalancer":
        name = show(get(args.props, "metadata", "name"))
        yield (
            f"Service {name}: spec.type is LoadBalancer, which gives the pods their own cloud load balancer "
            "outside the ingress layer's TLS, WAF and rate limits. Use ClusterIP behind the ingress; if the "
            "exposure is intended, restrict spec.loadBalancerSourceRanges and exempt this Service."
        )


POLICIES: list[ResourceValidationPolicy] = [
    resource_policy(
        "ingress-no-snippet-annotations",
        "Ingresses carry no *-snippet annotations (raw nginx configuration).",
        check_ingress_snippets,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.CRITICAL,
        resource_types=is_ingress,
    ),
    resource_policy(
        "service-load-balancer-review",
        "Services of type LoadBalancer expose pods outside the ingress layer and need a review.",
        check_load_balancer_service,
        enforcement_level=EnforcementLevel.ADVISORY,
        severity=Severity.MEDIUM,
        resource_types=lambda resource_type: kubernetes_kind(resource_type) == ("core", "Service"),
    ),
]
