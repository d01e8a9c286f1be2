"""Where each provider replaces a resource instead of updating it: the one table `make diff` reads.

A provider decides in its `Diff` whether a change can be applied in place; the offline preview has no
provider, so this table says, per resource type, which input properties force a replacement, each row
with its source. Paths are in the engine's (camelCase) property names; `[*]` stands for every list item.
A rule with `unless` does not apply when it returns true for the new inputs and the provider's
configuration (explicit provider inputs, or the stack's `<package>:<key>` config for a default provider).

Sources, read at these versions (pulumi-kubernetes 4.x, pulumi-aws 7 and pulumi-cloudflare 6 bridge the
named Terraform providers, whose ForceNew / RequiresReplace markers become replacements):
- pulumi-kubernetes `provider/pkg/provider/provider.go` (Diff: `forceNewFields := []string{".metadata.name",
  ".metadata.namespace"}`, "Changing the identity of the resource always causes a replacement") and
  `provider/pkg/provider/diff.go` (`forceNewProperties`: immutable fields per group/version/kind), at
  commit 94977969d64112b04e19945818a7d5d5f38f631d (v4.32.0-27);
- terraform-provider-aws `internal/service/s3/bucket.go`, `bucket_public_access_block.go`,
  `bucket_versioning.go` (`ForceNew: true`);
- terraform-provider-cloudflare v5 `internal/services/{dns_record,ruleset,zone_setting}/schema.go`
  (`stringplanmodifier.RequiresReplace()` on the zone and account path parameters and the listed fields);
- terraform-provider-random `internal/provider/resource_password.go` (`passwordSchemaV3`: every argument
  `RequiresReplace`), terraform-provider-tls `internal/provider/resource_private_key.go` (`RequiresReplace`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Segment = str | int
PropertyPath = tuple[Segment, ...]
Unless = Callable[[Mapping[str, Any], Mapping[str, str]], bool]

_ABSENT = object()

K8S_PROVIDER = "pulumi-kubernetes provider/pkg/provider/provider.go Diff (forceNewFields) and diff.go"
K8S_DIFF = "pulumi-kubernetes provider/pkg/provider/diff.go forceNewProperties"
AWS_S3 = "terraform-provider-aws internal/service/s3/{file} (ForceNew), bridged by pulumi-aws"
CLOUDFLARE = "terraform-provider-cloudflare internal/services/{file} (RequiresReplace), bridged by pulumi-cloudflare"


@dataclass(frozen=True)
class ReplaceRule:
    types: tuple[str, ...]  # type tokens, fnmatch patterns (`kubernetes:*`)
    paths: tuple[str, ...]
    source: str
    unless: Unless | None = None
    note: str = ""


@dataclass(frozen=True)
class ReplaceReason:
    path: str  # the rule's path that differs
    source: str
    note: str = ""


def _flag(inputs: Mapping[str, Any], config: Mapping[str, str], key: str) -> bool:
    return str(config.get(key, "")).lower() == "true" and inputs.get("immutable") is not True


def _secret_mutable(inputs: Mapping[str, Any], config: Mapping[str, str]) -> bool:
    return _flag(inputs, config, "enableSecretMutable")


def _config_map_mutable(inputs: Mapping[str, Any], config: Mapping[str, str]) -> bool:
    return _flag(inputs, config, "enableConfigMapMutable")


def _fields(prefix: str, names: str) -> tuple[str, ...]:
    """`_fields("spec", "a b")` -> ("spec.a", "spec.b"): long lists of one object's fields, written as in diff.go."""
    return tuple(f"{prefix}.{name}" if prefix else name for name in names.split())


# Every container field diff.go lists (containerForceNewProperties), for containers and init containers.
_CONTAINER_FIELDS = (
    "args command env image imagePullPolicy lifecycle livenessProbe ports readinessProbe resources securityContext "
    "stdin stdinOnce terminationMessagePath terminationMessagePolicy tty volumeDevices volumeMounts workingDir"
)
_POD_FIELDS = (
    *_fields(
        "spec",
        "affinity automountServiceAccountToken dnsConfig dnsPolicy enableServiceLinks hostAliases hostIPC "
        "hostNetwork hostPID hostname imagePullSecrets nodeName nodeSelector overhead preemptionPolicy priority "
        "priorityClassName readinessGates restartPolicy runtimeClassName schedulerName securityContext "
        "serviceAccount serviceAccountName shareProcessNamespace subdomain terminationGracePeriodSeconds volumes",
    ),
    *_fields("spec.containers[*]", _CONTAINER_FIELDS),
    *_fields("spec.initContainers[*]", _CONTAINER_FIELDS),
)
_PV_SOURCES = _fields(
    "spec",
    "awsElasticBlockStore azureDisk azureFile cephfs cinder csi fc flexVolume flocker gcePersistentDisk glusterfs "
    "hostPath iscsi local nfs photonPersistentDisk portworxVolume quobyte rbd scaleIO storageos vsphereVolume",
)

RULES: tuple[ReplaceRule, ...] = (
    # --- pulumi-kubernetes ----------------------------------------------------------------------
    ReplaceRule(("kubernetes:*",), ("metadata.name", "metadata.namespace"), K8S_PROVIDER),
    ReplaceRule(("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:DaemonSet"), ("spec.selector",), K8S_DIFF),
    ReplaceRule(
        ("kubernetes:apps/v1:StatefulSet",),
        _fields("spec", "podManagementPolicy revisionHistoryLimit selector serviceName volumeClaimTemplates"),
        K8S_DIFF,
    ),
    ReplaceRule(
        ("kubernetes:batch/v1:Job",),
        _fields("spec", "completions parallelism selector template"),
        K8S_DIFF,
    ),
    ReplaceRule(("kubernetes:core/v1:Secret",), ("type",), K8S_DIFF),
    ReplaceRule(
        ("kubernetes:core/v1:Secret",),
        ("data", "stringData"),
        K8S_DIFF,
        unless=_secret_mutable,
        note="unless the provider sets enableSecretMutable and the Secret is not immutable",
    ),
    ReplaceRule(
        ("kubernetes:core/v1:ConfigMap",),
        ("data", "binaryData"),
        K8S_DIFF,
        unless=_config_map_mutable,
        note="unless the provider sets enableConfigMapMutable and the ConfigMap is not immutable",
    ),
    ReplaceRule(("kubernetes:core/v1:Service",), ("spec.clusterIP",), K8S_DIFF),
    ReplaceRule(
        ("kubernetes:core/v1:PersistentVolumeClaim",),
        _fields("spec", "accessModes selector storageClassName volumeName"),
        K8S_DIFF,
    ),
    ReplaceRule(("kubernetes:core/v1:PersistentVolume",), _PV_SOURCES, K8S_DIFF),
    ReplaceRule(("kubernetes:core/v1:Pod",), _POD_FIELDS, K8S_DIFF),
    ReplaceRule(("kubernetes:core/v1:ResourceQuota",), ("spec.scopes",), K8S_DIFF),
    ReplaceRule(("kubernetes:policy/v1beta1:PodDisruptionBudget",), ("spec",), K8S_DIFF),
    ReplaceRule(
        (
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        ),
        ("roleRef",),
        K8S_DIFF,
    ),
    ReplaceRule(("kubernetes:storage.k8s.io/v1:StorageClass",), ("parameters", "provisioner"), K8S_DIFF),
    # --- pulumi-aws -----------------------------------------------------------------------------
    ReplaceRule(
        ("aws:s3/bucket:Bucket",),
        # object_lock_enabled: `ForceNew: true` too (S3 sets it only at CreateBucket; an existing bucket gets
        # Object Lock through PutObjectLockConfiguration, i.e. aws.s3.BucketObjectLockConfiguration).
        ("bucket", "bucketPrefix", "objectLockEnabled"),
        AWS_S3.format(file="bucket.go"),
    ),
    ReplaceRule(
        ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",),
        ("bucket",),
        AWS_S3.format(file="bucket_public_access_block.go"),
    ),
    ReplaceRule(
        ("aws:s3/bucketVersioning:BucketVersioning",),
        ("bucket", "expectedBucketOwner"),
        AWS_S3.format(file="bucket_versioning.go"),
    ),
    # --- pulumi-cloudflare ----------------------------------------------------------------------
    ReplaceRule(
        ("cloudflare:*",),
        ("zoneId", "accountId"),
        CLOUDFLARE.format(file="{dns_record,ruleset,zone_setting}/schema.go"),
    ),
    ReplaceRule(
        ("cloudflare:index/ruleset:Ruleset",), ("kind", "name", "phase"), CLOUDFLARE.format(file="ruleset/schema.go")
    ),
    ReplaceRule(
        ("cloudflare:index/zoneSetting:ZoneSetting",), ("settingId",), CLOUDFLARE.format(file="zone_setting/schema.go")
    ),
    # --- pulumi-random, pulumi-tls --------------------------------------------------------------
    ReplaceRule(
        ("random:index/randomPassword:RandomPassword",),
        _fields(
            "",
            "keepers length special upper lower number numeric minNumeric minUpper minLower minSpecial overrideSpecial",
        ),
        "terraform-provider-random internal/provider/resource_password.go (RequiresReplace), bridged by pulumi-random",
    ),
    ReplaceRule(
        ("tls:index/privateKey:PrivateKey",),
        ("algorithm", "rsaBits", "ecdsaCurve", "opensshComment"),
        "terraform-provider-tls internal/provider/resource_private_key.go (RequiresReplace), bridged by pulumi-tls",
    ),
)


def parse_path(path: str) -> PropertyPath:
    """`spec.containers[*].image` -> ("spec", "containers", "*", "image")."""
    segments: list[Segment] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            segments.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            segments.append("*" if index == "*" else int(index))
            rest = rest.removeprefix("[")
    return tuple(segments)


def _values(value: Any, path: PropertyPath, at: PropertyPath = ()) -> Iterator[tuple[PropertyPath, Any]]:
    """(concrete path, value) for every match of `path` in `value`, `_ABSENT` where nothing is there."""
    if not path:
        yield at, value
        return
    head, rest = path[0], path[1:]
    if head == "*":
        items = value if isinstance(value, list) else []
        for index, item in enumerate(items):
            yield from _values(item, rest, (*at, index))
        return
    child = value.get(head, _ABSENT) if isinstance(value, dict) else _ABSENT
    if child is _ABSENT:
        yield (*at, head, *rest), _ABSENT
    else:
        yield from _values(child, rest, (*at, head))


def _differs(old: Mapping[str, Any], new: Mapping[str, Any], path: PropertyPath) -> bool:
    old_values, new_values = dict(_values(old, path)), dict(_values(new, path))
    for concrete in old_values.keys() | new_values.keys():
        if old_values.get(concrete, _ABSENT) != new_values.get(concrete, _ABSENT):
            return True
    return False


def rules_for(type_: str) -> list[ReplaceRule]:
    return [rule for rule in RULES if any(fnmatch.fnmatchcase(type_, pattern) for pattern in rule.types)]


def replace_reasons(
    type_: str, old: Mapping[str, Any], new: Mapping[str, Any], provider_config: Mapping[str, str]
) -> list[ReplaceReason]:
    """The rule paths whose values differ between the old and new inputs of a resource of this type.

    Values compare as they are (a secret compares by the digest it carries), so a changed secret
    under a replacing path replaces too."""
    reasons: list[ReplaceReason] = []
    for rule in rules_for(type_):
        if rule.unless is not None and rule.unless(new, provider_config):
            continue
        reasons += [
            ReplaceReason(path, rule.source, rule.note) for path in rule.paths if _differs(old, new, parse_path(path))
        ]
    return reasons
