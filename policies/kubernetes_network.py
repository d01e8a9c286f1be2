"""Traffic into the cluster: no object carries a configuration snippet, an Ingress serves its hosts
over TLS only, a Gateway's plain-HTTP listener only redirects to HTTPS, no Gateway listener admits
routes from every namespace, a production origin admits only Cloudflare's addresses, and a LoadBalancer
Service (which bypasses the ingress layer: its TLS, WAF and rate limits) is flagged for review."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.common import NotChecked, get, items, known, kubernetes_kind, resource_policy, show, stack_policy

INGRESS_GROUPS = frozenset({"networking.k8s.io", "extensions"})
INGRESS_NGINX = "nginx.ingress.kubernetes.io"
# ingress-nginx's `*-snippet` (configuration-, server-, auth-, stream-, modsecurity-snippet) and NGINX
# Inc.'s `*-snippets` annotations paste raw nginx configuration into the controller, which holds every
# Secret the controller can read (CVE-2021-25742, CVE-2025-1974).
SNIPPET_ANNOTATION = re.compile(r"-snippets?$")


def is_kubernetes(resource_type: str) -> bool:
    return kubernetes_kind(resource_type) is not None


def check_snippet_annotations(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_kubernetes(args.resource_type):
        return
    annotations = get(args.props, "metadata", "annotations")
    if not isinstance(annotations, Mapping):
        return
    subject = f"{get(args.props, 'kind')} {show(get(args.props, 'metadata', 'name'))}"
    for key in annotations:  # keys only: a value may be unknown during preview
        if SNIPPET_ANNOTATION.search(key):
            yield (
                f"{subject}: annotation {key} injects raw configuration into the ingress controller. "
                "Remove it; express the behaviour with the controller's dedicated annotations, or move the route "
                "to a Gateway API HTTPRoute filter."
            )


def _is_ingress(resource_type: str) -> bool:
    group_kind = kubernetes_kind(resource_type)
    return group_kind is not None and group_kind[1] == "Ingress" and group_kind[0] in INGRESS_GROUPS


def check_ingress_tls(args: ResourceValidationArgs) -> Iterator[str]:
    """Every host the Ingress serves is in its `tls`; the controller then redirects plain HTTP (unless
    told not to)."""
    if not _is_ingress(args.resource_type):
        return
    name = show(get(args.props, "metadata", "name"))
    hosts = {get(rule, "host") for rule in items(args.props, "spec", "rules")}
    covered = {host for entry in items(args.props, "spec", "tls") for host in items(entry, "hosts")}
    fix = "List every host in spec.tls with the Secret of a certificate that names it (cert-manager's Certificate)."
    if not items(args.props, "spec", "tls"):
        yield f"Ingress {name}: no spec.tls, so it serves plain HTTP. {fix}"
    else:
        for host in sorted(str(h) for h in hosts - covered):
            yield f"Ingress {name}: host {host} is not in spec.tls, so it is served over plain HTTP. {fix}"
    annotations = get(args.props, "metadata", "annotations")
    if isinstance(annotations, Mapping):
        for key in (f"{INGRESS_NGINX}/ssl-redirect", f"{INGRESS_NGINX}/force-ssl-redirect"):
            if key in annotations and str(annotations[key]).lower() == "false":
                yield f"Ingress {name}: {key} is false, so plain HTTP is served instead of redirected. Remove it."


# --- Gateway API -------------------------------------------------------------------------------

GATEWAY_API = "gateway.networking.k8s.io"


def _gateway_api_type(resource_type: str) -> str | None:
    group_kind = kubernetes_kind(resource_type)
    return group_kind[1] if group_kind is not None and group_kind[0] == GATEWAY_API else None


def _gateway_api_kind(resource: PolicyResource) -> str | None:
    return _gateway_api_type(resource.resource_type)


def _redirects_to_https(rule: Any) -> bool:
    """Only a redirect to HTTPS: a RequestRedirect with scheme https, and no backend to serve from."""
    if items(rule, "backendRefs"):
        return False
    redirects = [f for f in items(rule, "filters") if get(f, "type") == "RequestRedirect"]
    return any(get(f, "requestRedirect", "scheme") == "https" for f in redirects)


def check_plain_http_listeners(args: StackValidationArgs) -> Iterator[tuple[str, str] | NotChecked]:
    """An HTTPRoute attached to a Gateway's plain-HTTP listener (of this stack) may only redirect to HTTPS.

    Matching a route to a Gateway reads names another resource may compute (a namespace's name, a
    generated Gateway name), unknown during a preview. An unknown there must not read as "another
    stack's Gateway" (a pass): the Gateway, or the route, is reported not checked instead."""
    plain: dict[tuple[Any, Any], set[Any]] = {}
    unresolved: list[str] = []  # Gateways of this stack whose name or plain-HTTP listeners are not known
    for gateway in args.resources:
        if _gateway_api_kind(gateway) != "Gateway":
            continue
        key = (known(gateway.props, "metadata", "namespace"), known(gateway.props, "metadata", "name"))
        listeners = items(gateway.props, "spec", "listeners")
        names = [known(listener, "name") for listener in listeners]
        protocols = [known(listener, "protocol") for listener in listeners]
        if None in key or None in names or None in protocols:
            unresolved.append(gateway.urn)
            yield NotChecked(
                f"Gateway {show(gateway.name)}: its namespace, name or listeners are not known yet, so the routes "
                "attached to its plain-HTTP listeners cannot be told",
                gateway.urn,
            )
            continue
        plain[key] = {name for name, protocol in zip(names, protocols, strict=True) if protocol == "HTTP"}
    for route in args.resources:
        if _gateway_api_kind(route) != "HTTPRoute":
            continue
        namespace = known(route.props, "metadata", "namespace")
        name = show(known(route.props, "metadata", "name"))
        for parent in items(route.props, "spec", "parentRefs"):
            if (get(parent, "group") or GATEWAY_API) != GATEWAY_API or (get(parent, "kind") or "Gateway") != "Gateway":
                continue
            parent_key = (get(parent, "namespace") or namespace, get(parent, "name"))
            listeners = plain.get(parent_key)
            if listeners is None and unresolved and None not in parent_key:
                # Possibly one of this stack's Gateways whose name is not known yet.
                yield NotChecked(
                    f"HTTPRoute {name}: its parent Gateway {show(parent_key[1])} may be one of this stack's whose "
                    "name or listeners are not known yet",
                    route.urn,
                )
                continue
            if parent_key[0] is None:
                yield NotChecked(f"HTTPRoute {name}: its namespace is not known yet", route.urn)
                continue
            if not listeners:
                continue  # a Gateway of another stack, or one with no plain-HTTP listener
            section = get(parent, "sectionName")
            attached = listeners if section is None else listeners & {section}
            if not attached:
                continue
            for index, rule in enumerate(items(route.props, "spec", "rules")):
                if not _redirects_to_https(rule):
                    yield (
                        route.urn,
                        f"HTTPRoute {name}: rules[{index}] serves the app on the plain-HTTP listener "
                        f"{', '.join(sorted(map(str, attached)))} of Gateway {show(get(parent, 'name'))}. Attach it "
                        "to the HTTPS listeners (parentRefs sectionName), and leave plain HTTP one rule: a "
                        "RequestRedirect with scheme https and statusCode 301.",
                    )


def _selects_every_namespace(selector: Any) -> bool:
    """A label selector with neither matchLabels nor matchExpressions matches every namespace."""
    return not items(selector, "matchExpressions") and not get(selector, "matchLabels")


def check_gateway_allowed_routes(args: ResourceValidationArgs) -> Iterator[str]:
    """No listener lets routes attach from every namespace: any namespace's HTTPRoute could then take a
    host (and its certificate) of the Gateway. Unset, `from` is Same (the Gateway API default)."""
    if _gateway_api_type(args.resource_type) != "Gateway":
        return
    gateway = show(get(args.props, "metadata", "name"))
    for index, listener in enumerate(items(args.props, "spec", "listeners")):
        namespaces = get(listener, "allowedRoutes", "namespaces")
        source = get(namespaces, "from")
        subject = f"Gateway {gateway}: listener {show(get(listener, 'name'))} (spec.listeners[{index}])"
        fix = (
            "Set allowedRoutes.namespaces to from: Same (the routes in the Gateway's namespace), or from: Selector "
            "with a selector naming the app's namespace (kubernetes.io/metadata.name)."
        )
        if source == "All":
            yield f"{subject} admits routes from every namespace (allowedRoutes.namespaces.from: All). {fix}"
        elif source == "Selector" and _selects_every_namespace(get(namespaces, "selector")):
            yield f"{subject} admits routes from every namespace (from: Selector with an empty selector). {fix}"


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


PRODUCTION_ENVIRONMENTS = "productionEnvironments"
ENVOY_GATEWAY = "gateway.envoyproxy.io"
OPEN_RANGES = frozenset({"0.0.0.0/0", "::/0"})


def _production(args: ResourceValidationArgs) -> bool:
    """An object of a production environment: its `environment` label (every object the program renders carries
    it) is one of the policy's `productionEnvironments` (default: production)."""
    environments = items(args.get_config(), PRODUCTION_ENVIRONMENTS) or ["production"]
    return get(args.props, "metadata", "labels", "environment") in environments


def _open_ranges(ranges: list[Any]) -> str | None:
    """Why a load balancer's source ranges admit the internet, or None when they do not."""
    listed = [str(r) for r in ranges]
    if not listed:
        return "no loadBalancerSourceRanges (every address)"
    opened = sorted(OPEN_RANGES & set(listed))
    return f"loadBalancerSourceRanges {', '.join(opened)} (every address)" if opened else None


def check_origin_admits_only_cloudflare(args: ResourceValidationArgs) -> Iterator[str]:
    """In production the origin's load balancer admits only the edge's addresses: anyone who finds an open origin
    bypasses the edge's WAF and rate limits (in gateway mode the only ones). A Gateway without its own EnvoyProxy
    gets Envoy Gateway's default Service, which admits every address."""
    if not _production(args):
        return
    group_kind = kubernetes_kind(args.resource_type)
    name = show(get(args.props, "metadata", "name"))
    fix = "Lock it to Cloudflare's ranges (routing.originLock.enabled: true; docs/origin-lock.md)."
    if group_kind == (GATEWAY_API, "Gateway"):
        ref = get(args.props, "spec", "infrastructure", "parametersRef")
        if not (isinstance(ref, Mapping) and ref.get("group") == ENVOY_GATEWAY and ref.get("kind") == "EnvoyProxy"):
            yield (
                f"Gateway {name}: no spec.infrastructure.parametersRef to an EnvoyProxy, so its proxies get the "
                f"default load balancer, which admits every address. {fix}"
            )
    elif group_kind == (ENVOY_GATEWAY, "EnvoyProxy"):
        service = get(args.props, "spec", "provider", "kubernetes", "envoyService")
        kind = get(service, "type") if isinstance(service, Mapping) else None
        if kind in (None, "LoadBalancer"):  # Envoy Gateway's default Service type is LoadBalancer
            why = _open_ranges(items(service, "loadBalancerSourceRanges"))
            if why:
                yield f"EnvoyProxy {name}: its load balancer has {why}. {fix}"
    elif group_kind == ("core", "Service") and get(args.props, "spec", "type") == "LoadBalancer":
        why = _open_ranges(items(args.props, "spec", "loadBalancerSourceRanges"))
        if why:
            yield f"Service {name}: a LoadBalancer with {why}. {fix}"


POLICIES: list[Policy] = [
    resource_policy(
        "no-snippet-annotations",
        "No Kubernetes object carries a *-snippet annotation (raw nginx configuration for the ingress controller).",
        check_snippet_annotations,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.CRITICAL,
        resource_types=is_kubernetes,
    ),
    resource_policy(
        "ingress-tls-only",
        "Ingresses serve every host over TLS (spec.tls), redirecting plain HTTP.",
        check_ingress_tls,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=_is_ingress,
    ),
    stack_policy(
        "gateway-plain-http-redirects-only",
        "HTTPRoutes on a Gateway's plain-HTTP listener only redirect to HTTPS.",
        check_plain_http_listeners,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=lambda resource_type: _gateway_api_type(resource_type) in {"Gateway", "HTTPRoute"},
    ),
    resource_policy(
        "gateway-routes-not-from-all-namespaces",
        "Gateway listeners admit routes only from named namespaces (allowedRoutes.namespaces.from is not All).",
        check_gateway_allowed_routes,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=lambda resource_type: _gateway_api_type(resource_type) == "Gateway",
    ),
    resource_policy(
        "production-origin-admits-only-cloudflare",
        "A production origin's load balancer admits only Cloudflare's addresses (a Gateway with its EnvoyProxy, "
        "source ranges that are not every address).",
        check_origin_admits_only_cloudflare,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=lambda resource_type: (
            kubernetes_kind(resource_type)
            in {(GATEWAY_API, "Gateway"), (ENVOY_GATEWAY, "EnvoyProxy"), ("core", "Service")}
        ),
        config={
            PRODUCTION_ENVIRONMENTS: {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": ["production"],
                "description": "The `environment` label values of production objects.",
            }
        },
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
