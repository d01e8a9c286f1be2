"""Namespaces: each enforces the `restricted` Pod Security Standard through Pod Security Admission, and no
namespaced object lands in `default`, where no such enforcement (nor NetworkPolicy) is set up."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy, Severity

from policies.common import get, items, kubernetes_kind, resource_policy, show

PSA_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

# Kinds that live outside any namespace. Custom resources' scope is in their CRD, which the pack cannot
# read: cert-manager's ClusterIssuer and Gateway API's GatewayClass are here; the policy's
# `clusterScopedKinds` config adds others.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterTrustBundle",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "DeviceClass",
        "FlowSchema",
        "IngressClass",
        "IPAddress",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "ResourceSlice",
        "RuntimeClass",
        "ServiceCIDR",
        "StorageClass",
        "StorageVersionMigration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "VolumeAttributesClass",
        # custom resources of the CRDs this platform installs
        "ClusterIssuer",
        "GatewayClass",
    }
)

CLUSTER_SCOPED_KINDS_CONFIG = "clusterScopedKinds"


def check_namespace_psa(args: ResourceValidationArgs) -> Iterator[str]:
    if kubernetes_kind(args.resource_type) != ("core", "Namespace"):
        return
    level = get(args.props, "metadata", "labels", PSA_ENFORCE_LABEL)
    name = show(get(args.props, "metadata", "name"))
    state = f"is {show(level)}" if level is not None else "is missing"
    if level != "restricted":
        yield (
            f"Namespace {name}: label {PSA_ENFORCE_LABEL} {state}. Set it to restricted, so the API server "
            "rejects any pod that breaks the restricted Pod Security Standard."
        )


def _is_namespaced_object(args: ResourceValidationArgs, extra_cluster_kinds: frozenset[str]) -> bool:
    # A Kubernetes object carries apiVersion and kind; the provider's own types (Helm releases, YAML
    # groups) and list kinds do not name a namespace of their own.
    kind = get(args.props, "kind")
    return (
        kubernetes_kind(args.resource_type) is not None
        and isinstance(kind, str)
        and get(args.props, "apiVersion") is not None
        and not kind.endswith("List")
        and kind not in CLUSTER_SCOPED_KINDS | extra_cluster_kinds
    )


def check_no_default_namespace(args: ResourceValidationArgs) -> Iterator[str]:
    extra = frozenset(str(kind) for kind in items(args.get_config(), CLUSTER_SCOPED_KINDS_CONFIG))
    if not _is_namespaced_object(args, extra):
        return
    namespace = get(args.props, "metadata", "namespace")
    subject = f"{get(args.props, 'kind')} {show(get(args.props, 'metadata', 'name'))}"
    fix = "Set metadata.namespace to the app's namespace (the stack's namespace output)."
    if namespace == "default":
        yield f"{subject}: metadata.namespace is default. {fix}"
    elif namespace in (None, ""):
        # Without one the object goes to the provider's namespace, which is `default` unless configured.
        provider_namespace = get(args.provider.props, "namespace") if args.provider else None
        if provider_namespace in (None, "", "default"):
            yield f"{subject}: no metadata.namespace, so it lands in default. {fix}"


POLICIES: list[ResourceValidationPolicy] = [
    resource_policy(
        "namespace-psa-restricted",
        f"Namespaces enforce the restricted Pod Security Standard (label {PSA_ENFORCE_LABEL}: restricted).",
        check_namespace_psa,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=lambda resource_type: kubernetes_kind(resource_type) == ("core", "Namespace"),
    ),
    resource_policy(
        "no-default-namespace",
        "Namespaced Kubernetes objects name their namespace, and it is not default.",
        check_no_default_namespace,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.MEDIUM,
        resource_types=lambda resource_type: kubernetes_kind(resource_type) is not None,
        config={
            CLUSTER_SCOPED_KINDS_CONFIG: {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": [],
                "description": "More cluster-scoped kinds (of custom resources) the policy skips.",
            }
        },
    ),
]
