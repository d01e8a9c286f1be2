"""One identity, one owner: which live object each resource manages, and two resources that would
manage the same one.

A real `pulumi up` finds such a pair the hard way: the second Kubernetes create fails with AlreadyExists
(pulumi-kubernetes creates client-side) or, with `upsertExistingObjects`, both resources fight over one
object on every update; Cloudflare refuses a second zone of the same name and a second entrypoint ruleset
of a phase, and two ZoneSettings of one setting overwrite each other; S3 refuses a second bucket of one
name (BucketAlreadyOwnedByYou), and two configuration resources of one bucket (its versioning, its
lifecycle) overwrite each other. The offline preview, the plan diff and the adoption check each rendering
here before anything is written.

`identities(resource)` is the list of keys of what a resource manages (most have one; none for components,
providers and reads); `collisions(resources)` pairs the resources that share a key. A key that depends on a
value not known at preview time is not guessed: such resources are returned apart as `undetermined`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.sdk_internals import SECRET_SIG, SIG, UNKNOWN

# Kinds the API server serves cluster-scoped (no metadata.namespace). A kind not listed whose object names no
# namespace goes to the provider's default namespace, as pulumi-kubernetes sends it.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterAnalysisTemplate",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterTrustBundle",
        "CustomResourceDefinition",
        "FlowSchema",
        "GatewayClass",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)
# What pulumi-kubernetes sends a namespaced object without one to: the provider's `namespace`, else the
# kubeconfig context's, else "default". The program's objects all name theirs; this stands for "unnamed".
DEFAULT_NAMESPACE = "<provider default>"

# Cloudflare resources of which a zone holds at most one (per the key's other fields).
CLOUDFLARE_ZONE_SINGLETONS: dict[str, tuple[str, ...]] = {
    "cloudflare:index/zoneSetting:ZoneSetting": ("settingId",),
    "cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride": (),
    "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings": (),
    "cloudflare:index/zoneDnssec:ZoneDnssec": (),
    "cloudflare:index/argoSmartRouting:ArgoSmartRouting": (),
    "cloudflare:index/tieredCache:TieredCache": (),
}
CLOUDFLARE_ZONES = ("cloudflare:index/zone:Zone",)
CLOUDFLARE_RECORDS = ("cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/record:Record")
CLOUDFLARE_RULESET = "cloudflare:index/ruleset:Ruleset"
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
# S3 types keyed by bucket that are not one-per-bucket configurations (objects, access points, notifications
# of their own id, ...): they are not checked.
S3_NOT_SINGLETONS = frozenset({"BucketObject", "BucketObjectv2", "Object", "ObjectCopy", "DirectoryBucket"})


class _UnknownFieldError(Exception):
    """A field of the identity is not known at preview time (or is a secret the caller cannot read)."""


@dataclass(frozen=True, order=True)
class Identity:
    key: tuple[str, ...]
    description: str  # what a person calls it: "Certificate production/hft-platform-tls"


@dataclass(frozen=True)
class Resource:
    """What the checks read of a resource: the same from a rendering's registrations and a state's resources."""

    urn: str
    type: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    custom: bool = True


@dataclass(frozen=True, order=True)
class Collision:
    identity: Identity
    first: str  # URNs
    second: str

    def line(self) -> str:
        return (
            f"{_short(self.first)} and {_short(self.second)} would both manage {self.identity.description}: "
            "give one of them another name, or leave it to the other"
        )


def _short(urn: str) -> str:
    """`<type> <name>` of a URN (`kubernetes:cert-manager.io/v1:Certificate routing-certificate`)."""
    qualified, name = urn.rsplit("::", 2)[-2:]
    return f"{qualified.rsplit('$', 1)[-1]} {name}"


def _value(properties: Mapping[str, Any], *path: str) -> Any:
    value: Any = properties
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    if isinstance(value, Mapping) and value.get(SIG) == SECRET_SIG:
        value = value.get("value")
    if value == UNKNOWN:
        raise _UnknownFieldError
    return value


def _text(properties: Mapping[str, Any], *path: str) -> str:
    value = _value(properties, *path)
    if not isinstance(value, str) or not value:
        raise _UnknownFieldError  # absent, a digest standing for a secret, or another shape: not a name to compare
    return value


def _kubernetes(resource: Resource) -> list[Identity]:
    _, module, kind = resource.type.split(":", 2)
    if "/" not in module or kind.endswith(("Patch", "List")):
        return []  # the provider's Helm charts, YAML groups and kustomizations (components), patches, lists
    group = module.split("/", 1)[0]
    if group == "helm.sh":
        name = _value(resource.inputs, "name") or _value(resource.outputs, "name")
        namespace = _value(resource.inputs, "namespace") or DEFAULT_NAMESPACE
        if not isinstance(name, str) or not name:
            raise _UnknownFieldError
        return [Identity(("helm-release", namespace, name), f"Helm release {namespace}/{name}")]
    name = _value(resource.inputs, "metadata", "name") or _value(resource.outputs, "metadata", "name")
    if not isinstance(name, str) or not name:
        raise _UnknownFieldError
    api_group = "" if group == "core" else group
    if kind in CLUSTER_SCOPED_KINDS:
        return [Identity(("kubernetes", api_group, kind, "", name), f"{kind} {name}")]
    namespace = _value(resource.inputs, "metadata", "namespace") or DEFAULT_NAMESPACE
    return [Identity(("kubernetes", api_group, kind, namespace, name), f"{kind} {namespace}/{name}")]


def _record_name(name: str) -> str:
    return name.lower().rstrip(".")


def _cloudflare(resource: Resource) -> list[Identity]:
    type_ = resource.type
    if type_ in CLOUDFLARE_ZONES:
        zone = _record_name(_text(resource.inputs, "name"))
        return [Identity(("cloudflare-zone", zone), f"the Cloudflare zone {zone}")]
    if type_ in CLOUDFLARE_ZONE_SINGLETONS:
        zone_id = _text(resource.inputs, "zoneId")
        fields = [_text(resource.inputs, field) for field in CLOUDFLARE_ZONE_SINGLETONS[type_]]
        what = type_.rsplit(":", 1)[-1] + "".join(f" {f}" for f in fields)
        return [Identity(("cloudflare-zone-singleton", type_, zone_id, *fields), f"the zone {zone_id}'s {what}")]
    if type_ == CLOUDFLARE_RULESET:
        zone_id, kind = _value(resource.inputs, "zoneId"), _value(resource.inputs, "kind")
        if not zone_id or kind != "zone":
            return []  # an account's ruleset, or a custom one a zone may hold several of
        phase = _text(resource.inputs, "phase")
        return [Identity(("cloudflare-entrypoint", str(zone_id), phase), f"the zone {zone_id}'s {phase} ruleset")]
    if type_ in CLOUDFLARE_RECORDS:
        zone_id = _text(resource.inputs, "zoneId")
        name = _record_name(_text(resource.inputs, "name"))
        record_type = _text(resource.inputs, "type").upper()
        # Cloudflare refuses an identical record; a CNAME excludes every other record of its name (RFC 1034
        # 3.6.2; Cloudflare's "A, AAAA, and CNAME records with the same name" error). Two resources making
        # records of one name and type are two owners of that name either way.
        keys = [Identity(("cloudflare-record", zone_id, name, record_type), f"the {record_type} record {name}")]
        keys.append(Identity(("cloudflare-record-name", zone_id, name, record_type), f"the DNS name {name}"))
        return keys
    return []


def _aws(resource: Resource) -> list[Identity]:
    module_type = resource.type.split(":", 1)[1]
    module, _, name = module_type.partition(":")
    if not module.startswith("s3/"):
        return []
    if resource.type in S3_BUCKETS:
        bucket = _value(resource.inputs, "bucket") or _value(resource.outputs, "bucket")
        if not isinstance(bucket, str) or not bucket:
            raise _UnknownFieldError
        return [Identity(("s3-bucket", bucket), f"the S3 bucket {bucket}")]
    if name.startswith("Bucket") and name not in S3_NOT_SINGLETONS and "bucket" in resource.inputs:
        bucket = _text(resource.inputs, "bucket")
        # pulumi-aws 6's BucketVersioningV2 and 7's BucketVersioning configure the same thing.
        what = name.removesuffix("V2")
        return [Identity(("s3-bucket-config", what, bucket), f"the S3 bucket {bucket}'s {what}")]
    return []


_BY_PACKAGE = {"kubernetes": _kubernetes, "cloudflare": _cloudflare, "aws": _aws}


def identities(resource: Resource) -> list[Identity]:
    """The keys of what `resource` manages; raises _UnknownFieldError where a field of one is not known."""
    if not resource.custom or resource.type.startswith("pulumi:providers:"):
        return []
    builder = _BY_PACKAGE.get(resource.type.split(":", 1)[0])
    return builder(resource) if builder else []


@dataclass(frozen=True)
class Check:
    collisions: list[Collision]
    undetermined: list[str]  # URNs whose identity depends on a value not known yet


def check(resources: Iterable[Resource]) -> Check:
    owners: dict[tuple[str, ...], str] = {}
    names: dict[tuple[str, ...], tuple[str, str]] = {}  # (zone, DNS name) -> (record type, URN)
    found: list[Collision] = []
    undetermined: list[str] = []
    for resource in resources:
        try:
            keys = identities(resource)
        except _UnknownFieldError:
            undetermined.append(resource.urn)
            continue
        for identity in keys:
            if identity.key[0] == "cloudflare-record-name":
                zone_id, name, record_type = identity.key[1:]
                other = names.setdefault((zone_id, name), (record_type, resource.urn))
                if "CNAME" in {record_type, other[0]} and record_type != other[0]:
                    found.append(Collision(identity, other[1], resource.urn))
                continue
            first = owners.setdefault(identity.key, resource.urn)
            if first != resource.urn:
                found.append(Collision(identity, first, resource.urn))
    # The engine registers in no fixed order: each pair, and the pairs, in URN order, so the lines are stable.
    pairs = sorted(Collision(c.identity, *sorted((c.first, c.second))) for c in found)
    return Check(pairs, undetermined)


def from_registrations(registrations: Iterable[Any]) -> list[Resource]:
    """A rendering's registrations (offline_preview.engine.Registration) as the checks read them."""
    return [Resource(r.urn, r.type, r.inputs, r.outputs, r.custom) for r in registrations]


def from_state(resources: Iterable[Mapping[str, Any]]) -> list[Resource]:
    """A state's resources (`pulumi stack export`'s `deployment.resources`) as the checks read them."""
    return [
        Resource(
            urn=str(r.get("urn", "")),
            type=str(r.get("type", "")),
            inputs=r.get("inputs") or {},
            outputs=r.get("outputs") or {},
            custom=bool(r.get("custom", False)),
        )
        for r in resources
        if not r.get("delete")  # the old copy a replacement leaves under the same URN
    ]
