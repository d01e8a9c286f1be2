"""S3 buckets: public access fully blocked, default encryption, versioning, and a bucket policy that refuses
requests without TLS.

pulumi-aws 7 configures a bucket through separate resources that name it in their `bucket` property, so
these are stack policies: they see every resource at once and match each configuration to its bucket.
During preview a new bucket's name and id are unknown, but the SDK records which resource each input came
from (propertyDependencies), so a configuration whose `bucket` was built from the Bucket matches it either
way; a literal bucket name matches the Bucket's `bucket` or `id` output. The matching is indexed once per
stack (`BucketIndex`), so a state with thousands of buckets costs no more per bucket than one.

Buckets written by older providers keep encryption, versioning and the bucket policy on the bucket itself,
and the policies read those too (`inline_encryption`, `inline_versioning`, `inline_policy`):
- pulumi-aws 5 (and 6's deprecated `Bucket`, and 7's `Bucket` where still set): objects
  `serverSideEncryptionConfiguration.rule.applyServerSideEncryptionByDefault` and `versioning.enabled`;
- pulumi-aws 6's `BucketV2`: lists `serverSideEncryptionConfigurations[].rules[]
  .applyServerSideEncryptionByDefaults[]` and `versionings[].enabled`;
- all of them: `policy`, the bucket policy document.
A separate configuration resource wins over the inline value: providers 6 and 7 report the inline value as
last read (a state not refreshed since the separate resource changed it shows the old one). An inline value
of a shape these readers do not know is reported "not checked", never guessed into a violation.

Encryption: since January 2023 S3 encrypts every new object with SSE-S3 (AES256, keys Amazon manages) when
the bucket declares nothing. A bucket without a declared default encryption is therefore reported as what it
is, encrypted but with no customer-managed key declared, not as unencrypted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs, StackValidationPolicy

from policies.common import NotChecked, get, is_list, items, known, show, stack_policy

T = TypeVar("T")

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
BUCKETS = frozenset({BUCKET, BUCKET_V2})
PUBLIC_ACCESS_BLOCKS = frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"})
ENCRYPTION_CONFIGURATIONS = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
VERSIONINGS = frozenset({"aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2"})
BUCKET_POLICIES = frozenset({"aws:s3/bucketPolicy:BucketPolicy"})


# --- matching configurations to buckets --------------------------------------------------------


class BucketIndex:
    """The stack's buckets, each with the configuration resources (of the given types) that name it, matched
    once: by the URN their `bucket` input came from, or by a literal name equal to the bucket's `bucket` or
    `id` output.

    Several buckets may share a name (a state holding copies of one program, or a bucket and its imported
    twin), and every configuration naming it then belongs to each of them. So that such a state costs no
    more than one with distinct names, a check runs once per configuration and the configurations it finds
    wrong are listed once per name, not once per bucket (`problems`)."""

    def __init__(self, resources: Iterable[PolicyResource], configuration_types: frozenset[str]) -> None:
        self.buckets: list[PolicyResource] = []
        self._groups: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        self._configurations: list[PolicyResource] = []
        self._found: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        for resource in resources:
            if resource.resource_type in BUCKETS:
                self.buckets.append(resource)
            elif resource.resource_type in configuration_types:
                position = len(self._configurations)
                self._configurations.append(resource)
                for urn in {dependency.urn for dependency in resource.property_dependencies.get("bucket", [])}:
                    self._groups["urn", urn].append(position)
                name = known(resource.props, "bucket")
                if isinstance(name, str) and name:
                    self._groups["name", name].append(position)

    def _keys(self, bucket: PolicyResource) -> list[tuple[str, str]]:
        keys = [("urn", bucket.urn)]
        for key in ("bucket", "id"):
            name = known(bucket.props, key)
            if isinstance(name, str) and name and ("name", name) not in keys:
                keys.append(("name", name))
        return keys

    def configured(self, bucket: PolicyResource) -> bool:
        """Whether any configuration names the bucket."""
        return any(self._groups.get(key) for key in self._keys(bucket))

    def problems(
        self, bucket: PolicyResource, check: Callable[[PolicyResource], T | None]
    ) -> list[tuple[PolicyResource, T]]:
        """The bucket's configurations `check` finds wrong (it returns what is wrong, or None), in the stack's
        order, each with what is wrong. One index serves one check."""
        found: dict[int, T] = {}
        for key in self._keys(bucket):
            if key not in self._found:
                results = ((position, check(self._configurations[position])) for position in self._groups.get(key, ()))
                self._found[key] = [(position, result) for position, result in results if result is not None]
            found.update(self._found[key])
        return [(self._configurations[position], found[position]) for position in sorted(found)]


def buckets_with(
    resources: Iterable[PolicyResource], types: frozenset[str], check: Callable[[PolicyResource], T | None]
) -> Iterator[tuple[PolicyResource, bool, list[tuple[PolicyResource, T]]]]:
    """Each bucket of the stack; whether a configuration of the given types names it; and the ones `check`
    finds wrong, with what is wrong."""
    index = BucketIndex(resources, types)
    for bucket in index.buckets:
        yield bucket, index.configured(bucket), index.problems(bucket, check)


# --- what a bucket declares on itself (pulumi-aws 5 and 6) -------------------------------------


def _one_or_many(value: Any) -> list[Any] | None:
    """A nested block as a list: providers 5 and 7 flatten single blocks to objects, 6's BucketV2 keeps
    lists. None when it is neither."""
    if isinstance(value, Mapping):
        return [value]
    if is_list(value):
        return list(value)
    return None


def _declared(value: Any) -> bool:
    """Set, and not to an empty string, object or list (what a provider reports for a block nobody declared)."""
    return value is not None and not ((isinstance(value, str | Mapping) or is_list(value)) and len(value) == 0)


def inline_encryption(bucket: PolicyResource) -> list[Any] | NotChecked | None:
    """The sseAlgorithm of each default-encryption rule the bucket declares on itself; None when it declares
    none (an unknown value counts as none: a value the stack set would be known)."""
    for key in ("serverSideEncryptionConfiguration", "serverSideEncryptionConfigurations"):
        configuration = known(bucket.props, key)
        if not _declared(configuration):
            continue
        configurations = _one_or_many(configuration)
        if configurations is None:
            return NotChecked(f"its {key} is {show(configuration)}, a shape this policy does not know")
        algorithms: list[Any] = []
        for block in configurations:
            rule_block = known(block, "rule")
            rules = _one_or_many(rule_block if rule_block is not None else known(block, "rules"))
            if rules is None:
                return NotChecked(f"its {key} has no rule this policy can read ({show(block)})")
            for rule in rules:
                default = known(rule, "applyServerSideEncryptionByDefault")
                if default is None:
                    default = known(rule, "applyServerSideEncryptionByDefaults")
                defaults = _one_or_many(default) if default is not None else []
                if defaults is None:
                    return NotChecked(f"its {key} has a rule of a shape this policy does not know ({show(rule)})")
                algorithms += [known(entry, "sseAlgorithm") for entry in defaults]
        return algorithms
    return None


def inline_versioning(bucket: PolicyResource) -> bool | NotChecked | None:
    """Whether the versioning the bucket declares on itself is enabled; None when it declares none."""
    for key in ("versioning", "versionings"):
        versioning = known(bucket.props, key)
        if not _declared(versioning):
            continue
        blocks = _one_or_many(versioning)
        enabled = [known(block, "enabled") for block in blocks or []]
        if not blocks or not all(isinstance(value, bool) for value in enabled):
            return NotChecked(f"its {key} is {show(versioning)}, a shape this policy does not know")
        return all(enabled)
    return None


def inline_policy(bucket: PolicyResource) -> Any:
    """The bucket policy document the bucket declares on itself, or None."""
    policy = known(bucket.props, "policy")
    return policy if _declared(policy) else None


# --- public access -----------------------------------------------------------------------------

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _open_flags(block: PolicyResource) -> list[str] | None:
    """The public access flags a BucketPublicAccessBlock leaves unset or false; None when none."""
    return [flag for flag in PUBLIC_ACCESS_FLAGS if get(block.props, flag) is not True] or None


def check_public_access_blocked(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    fix = f"Set {', '.join(PUBLIC_ACCESS_FLAGS)} all to true: then no ACL or bucket policy can make it public."
    for bucket, configured, problems in buckets_with(args.resources, PUBLIC_ACCESS_BLOCKS, _open_flags):
        if not configured:
            yield bucket.urn, f"Bucket {show(bucket.name)}: no BucketPublicAccessBlock. Add one. {fix}"
        for block, open_flags in problems:
            yield (
                bucket.urn,
                f"Bucket {show(bucket.name)}: BucketPublicAccessBlock {show(block.name)} leaves "
                f"{', '.join(open_flags)} unset or false. {fix}",
            )


# --- encryption --------------------------------------------------------------------------------

SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
SSE_S3_DEFAULT = (
    "S3 still encrypts new objects with SSE-S3 (AES256, keys Amazon manages), as it does for every bucket since "
    "January 2023, but no customer-managed key is declared"
)


def _no_default_encryption(configuration: PolicyResource) -> list[Any] | None:
    """The sseAlgorithm of each rule of a BucketServerSideEncryptionConfiguration that sets no default
    encryption; None when it sets one."""
    algorithms = [
        get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") for rule in items(configuration.props, "rules")
    ]
    return None if any(algorithm in SSE_ALGORITHMS for algorithm in algorithms) else algorithms


def check_default_encryption(args: StackValidationArgs) -> Iterator[tuple[str, str] | NotChecked]:
    fix = (
        "Declare it: rules[].applyServerSideEncryptionByDefault.sseAlgorithm aws:kms with a customer-managed key "
        "(kmsMasterKeyId), or AES256 to declare the default."
    )
    for bucket, configured, problems in buckets_with(args.resources, ENCRYPTION_CONFIGURATIONS, _no_default_encryption):
        subject = f"Bucket {show(bucket.name)}"
        for configuration, algorithms in problems:
            yield (
                bucket.urn,
                f"{subject}: BucketServerSideEncryptionConfiguration {show(configuration.name)} sets no default "
                f"encryption (sseAlgorithm: {show(algorithms)}), so {SSE_S3_DEFAULT}. {fix}",
            )
        if configured:
            continue
        inline = inline_encryption(bucket)
        if isinstance(inline, NotChecked):
            yield NotChecked(inline.why, bucket.urn)
        elif inline is None:
            yield (
                bucket.urn,
                f"{subject}: no customer-managed key declared: neither a BucketServerSideEncryptionConfiguration "
                f"nor an inline serverSideEncryptionConfiguration, so {SSE_S3_DEFAULT}. {fix}",
            )
        elif not any(algorithm in SSE_ALGORITHMS for algorithm in inline):
            yield (
                bucket.urn,
                f"{subject}: its inline serverSideEncryptionConfiguration sets no default encryption "
                f"(sseAlgorithm: {show(inline)}), so {SSE_S3_DEFAULT}. {fix}",
            )


# --- versioning --------------------------------------------------------------------------------


def _versioning_not_enabled(versioning: PolicyResource) -> tuple[Any] | None:
    """(versioningConfiguration.status,) of a BucketVersioning that does not enable versioning; None when it does."""
    status = get(versioning.props, "versioningConfiguration", "status")
    return None if status == "Enabled" else (status,)


def check_versioning_enabled(args: StackValidationArgs) -> Iterator[tuple[str, str] | NotChecked]:
    fix = "Set versioningConfiguration.status to Enabled, so an overwrite or delete can be undone."
    for bucket, configured, problems in buckets_with(args.resources, VERSIONINGS, _versioning_not_enabled):
        subject = f"Bucket {show(bucket.name)}"
        for versioning, (status,) in problems:
            yield (
                bucket.urn,
                f"{subject}: BucketVersioning {show(versioning.name)} has "
                f"versioningConfiguration.status {show(status)}. {fix}",
            )
        if configured:
            continue
        inline = inline_versioning(bucket)
        if isinstance(inline, NotChecked):
            yield NotChecked(inline.why, bucket.urn)
        elif inline is None:
            yield bucket.urn, f"{subject}: no BucketVersioning. Add one. {fix}"
        elif not inline:
            yield (
                bucket.urn,
                f"{subject}: its inline versioning is not enabled. Add a BucketVersioning (the inline block is "
                f"deprecated). {fix}",
            )


# --- TLS only ----------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return list(value) if is_list(value) else [value]


def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS"))


def denies_insecure_transport(document: Any) -> bool:
    """Whether the policy document denies every principal all of S3 on the bucket's objects when
    aws:SecureTransport is false."""
    for statement in _as_list(get(document, "Statement")):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        actions = _as_list(statement.get("Action"))
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        secure_transport = _as_list(get(statement, "Condition", "Bool", "aws:SecureTransport"))
        if (
            _is_everyone(statement.get("Principal"))
            and ("s3:*" in actions or "*" in actions)
            and any(r == "*" or r.endswith("/*") for r in resources)
            and any(str(v).lower() == "false" for v in secure_transport)
        ):
            return True
    return False


def _document(policy: Any) -> Any:
    if isinstance(policy, str):
        try:
            return json.loads(policy)
        except json.JSONDecodeError:
            return None
    return policy


def _allows_insecure_transport(policy: PolicyResource) -> bool | None:
    """True for a BucketPolicy whose document does not deny requests without TLS; None when it does."""
    return None if denies_insecure_transport(_document(get(policy.props, "policy"))) else True


def check_tls_only(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    statement = (
        'a statement {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [<bucket ARN>, '
        '<bucket ARN>/*], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}'
    )
    for bucket, configured, problems in buckets_with(args.resources, BUCKET_POLICIES, _allows_insecure_transport):
        subject = f"Bucket {show(bucket.name)}"
        for policy, _ in problems:
            yield (
                bucket.urn,
                f"{subject}: BucketPolicy {show(policy.name)} does not deny requests without TLS. Add {statement}.",
            )
        if configured:
            continue
        inline = inline_policy(bucket)
        if inline is None:
            yield bucket.urn, f"{subject}: no BucketPolicy. Add one with {statement}."
        elif not denies_insecure_transport(_document(inline)):
            yield (
                bucket.urn,
                f"{subject}: its inline bucket policy does not deny requests without TLS. Add {statement}, in a "
                "BucketPolicy (the inline policy is deprecated).",
            )


POLICIES: list[StackValidationPolicy] = [
    stack_policy(
        "s3-public-access-blocked",
        "S3 buckets block all public access (a BucketPublicAccessBlock with all four flags true).",
        check_public_access_blocked,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.CRITICAL,
        resource_types=BUCKETS | PUBLIC_ACCESS_BLOCKS,
    ),
    stack_policy(
        "s3-default-encryption",
        "S3 buckets declare their default encryption (a BucketServerSideEncryptionConfiguration, or the "
        "bucket's own serverSideEncryptionConfiguration with an older provider).",
        check_default_encryption,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=BUCKETS | ENCRYPTION_CONFIGURATIONS,
    ),
    stack_policy(
        "s3-versioning-enabled",
        "S3 buckets keep object versions (a BucketVersioning with status Enabled, or the bucket's own versioning "
        "enabled with an older provider).",
        check_versioning_enabled,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=BUCKETS | VERSIONINGS,
    ),
    stack_policy(
        "s3-tls-only",
        "S3 buckets refuse requests without TLS (a bucket policy denying aws:SecureTransport false).",
        check_tls_only,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        resource_types=BUCKETS | BUCKET_POLICIES,
    ),
]
