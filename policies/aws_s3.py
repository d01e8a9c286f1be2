"""S3 buckets (pulumi-aws 7): public access fully blocked, default encryption, versioning, and a bucket
policy that refuses requests without TLS.

pulumi-aws 7 configures a bucket through separate resources that name it in their `bucket` property, so
these are stack policies: they see every resource at once and match each configuration to its bucket.
During preview a new bucket's name and id are unknown, but the SDK records which resource each input came
from (propertyDependencies), so a configuration whose `bucket` was built from the Bucket matches it either
way; a literal bucket name matches the Bucket's `bucket` or `id` output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs, StackValidationPolicy

from policies.common import get, is_list, items, known, show, stack_policy

BUCKETS = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
PUBLIC_ACCESS_BLOCKS = frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"})
ENCRYPTION_CONFIGURATIONS = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
VERSIONINGS = frozenset({"aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2"})
BUCKET_POLICIES = frozenset({"aws:s3/bucketPolicy:BucketPolicy"})


def configures(configuration: PolicyResource, bucket: PolicyResource) -> bool:
    if any(dependency.urn == bucket.urn for dependency in configuration.property_dependencies.get("bucket", [])):
        return True
    name = known(configuration.props, "bucket")
    return name is not None and name in (known(bucket.props, "bucket"), known(bucket.props, "id"))


def buckets_with(
    resources: Iterable[PolicyResource], types: frozenset[str]
) -> Iterator[tuple[PolicyResource, list[PolicyResource]]]:
    """Each bucket of the stack, with its configuration resources of the given types."""
    resources = list(resources)
    configurations = [r for r in resources if r.resource_type in types]
    for bucket in resources:
        if bucket.resource_type in BUCKETS:
            yield bucket, [c for c in configurations if configures(c, bucket)]


# --- public access -----------------------------------------------------------------------------

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def check_public_access_blocked(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    fix = f"Set {', '.join(PUBLIC_ACCESS_FLAGS)} all to true: then no ACL or bucket policy can make it public."
    for bucket, blocks in buckets_with(args.resources, PUBLIC_ACCESS_BLOCKS):
        if not blocks:
            yield bucket.urn, f"Bucket {show(bucket.name)}: no BucketPublicAccessBlock. Add one. {fix}"
        for block in blocks:
            open_flags = [flag for flag in PUBLIC_ACCESS_FLAGS if get(block.props, flag) is not True]
            if open_flags:
                yield (
                    bucket.urn,
                    f"Bucket {show(bucket.name)}: BucketPublicAccessBlock {show(block.name)} leaves "
                    f"{', '.join(open_flags)} unset or false. {fix}",
                )


# --- encryption --------------------------------------------------------------------------------

SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})


def check_default_encryption(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    fix = "Set rules[].applyServerSideEncryptionByDefault.sseAlgorithm to aws:kms (or AES256)."
    for bucket, configurations in buckets_with(args.resources, ENCRYPTION_CONFIGURATIONS):
        if not configurations:
            yield (
                bucket.urn,
                f"Bucket {show(bucket.name)}: no BucketServerSideEncryptionConfiguration. Add one. {fix}",
            )
        for configuration in configurations:
            algorithms = [
                get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                for rule in items(configuration.props, "rules")
            ]
            if not any(algorithm in SSE_ALGORITHMS for algorithm in algorithms):
                yield (
                    bucket.urn,
                    f"Bucket {show(bucket.name)}: BucketServerSideEncryptionConfiguration {show(configuration.name)} "
                    f"sets no default encryption (sseAlgorithm: {show(algorithms)}). {fix}",
                )


# --- versioning --------------------------------------------------------------------------------


def check_versioning_enabled(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    fix = "Set versioningConfiguration.status to Enabled, so an overwrite or delete can be undone."
    for bucket, versionings in buckets_with(args.resources, VERSIONINGS):
        if not versionings:
            yield bucket.urn, f"Bucket {show(bucket.name)}: no BucketVersioning. Add one. {fix}"
        for versioning in versionings:
            status = get(versioning.props, "versioningConfiguration", "status")
            if status != "Enabled":
                yield (
                    bucket.urn,
                    f"Bucket {show(bucket.name)}: BucketVersioning {show(versioning.name)} has "
                    f"versioningConfiguration.status {show(status)}. {fix}",
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


def check_tls_only(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    statement = (
        'a statement {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [<bucket ARN>, '
        '<bucket ARN>/*], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}'
    )
    for bucket, policies in buckets_with(args.resources, BUCKET_POLICIES):
        if not policies:
            yield bucket.urn, f"Bucket {show(bucket.name)}: no BucketPolicy. Add one with {statement}."
        for policy in policies:
            if not denies_insecure_transport(_document(get(policy.props, "policy"))):
                yield (
                    bucket.urn,
                    f"Bucket {show(bucket.name)}: BucketPolicy {show(policy.name)} does not deny requests "
                    f"without TLS. Add {statement}.",
                )


POLICIES: list[StackValidationPolicy] = [
    stack_policy(
        "s3-public-access-blocked",
        "S3 buckets block all public access (a BucketPublicAccessBlock with all four flags true).",
        check_public_access_blocked,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.CRITICAL,
    ),
    stack_policy(
        "s3-default-encryption",
        "S3 buckets encrypt objects by default (a BucketServerSideEncryptionConfiguration).",
        check_default_encryption,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
    stack_policy(
        "s3-versioning-enabled",
        "S3 buckets keep object versions (a BucketVersioning with status Enabled).",
        check_versioning_enabled,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
    stack_policy(
        "s3-tls-only",
        "S3 buckets refuse requests without TLS (a BucketPolicy denying aws:SecureTransport false).",
        check_tls_only,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
]
