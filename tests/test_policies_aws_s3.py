"""S3 buckets: public access blocked, default encryption, versioning, TLS only.

The program renders no bucket yet: the backup bucket here is built with pulumi-aws 7 under mocks, a
Bucket plus its separate configuration resources, so the properties and dependencies are what the SDK
sends the engine. Buckets as pulumi-aws 5 and 6 wrote them (configuration inline on the bucket) are built
with the same SDK's deprecated inline arguments, or as a state holds them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest

from offline_preview.engine import UNKNOWN, RecordingMonitor, Rendering
from offline_preview.policy_eval import Violation, audit, evaluate_rendering
from policies.aws_s3 import PUBLIC_ACCESS_FLAGS
from tests.support.policies import program_under_mocks
from tests.support.states import STACK_RESOURCE, export, resource, urn

with warnings.catch_warnings():
    # pulumi-aws 7 warns, as it imports the s3 module, about the V2 resources it keeps as aliases.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pulumi_aws.s3 import (  # pulumi_aws imports lazily: these names load the module here
        Bucket,
        BucketPolicy,
        BucketPublicAccessBlock,
        BucketServerSideEncryptionConfiguration,
        BucketServerSideEncryptionConfigurationRuleArgsDict,
        BucketVersioning,
    )

BUCKET_NAME = "hft-platform-backups"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET_NAME}"
DENY_INSECURE_TRANSPORT = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
S3_POLICIES = {"s3-public-access-blocked", "s3-default-encryption", "s3-versioning-enabled", "s3-tls-only"}
BUCKET_TYPE = "aws:s3/bucket:Bucket"
ALL_BLOCKED = {
    "block_public_acls": True,
    "block_public_policy": True,
    "ignore_public_acls": True,
    "restrict_public_buckets": True,
}


@dataclass
class BackupBucket:
    """The backup bucket as the program will declare it; each field is one configuration resource."""

    public_access: dict[str, bool] | None = field(default_factory=lambda: dict(ALL_BLOCKED))
    encryption_rules: list[BucketServerSideEncryptionConfigurationRuleArgsDict] | None = field(
        default_factory=lambda: [
            {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}, "bucket_key_enabled": True}
        ]
    )
    versioning: str | None = "Enabled"
    statements: list[dict[str, Any]] | None = field(default_factory=lambda: [DENY_INSECURE_TRANSPORT])
    # How the configurations name the bucket: by its id (as the program will), or by a literal name.
    by_literal_name: bool = False

    def declare(self) -> None:
        bucket = Bucket("backups", bucket=BUCKET_NAME, opts=pulumi.ResourceOptions(protect=True))
        name: pulumi.Input[str] = BUCKET_NAME if self.by_literal_name else bucket.id
        if self.public_access is not None:
            block_public_access(bucket=name, flags=self.public_access)
        if self.encryption_rules is not None:
            BucketServerSideEncryptionConfiguration(
                "backups-encryption",
                bucket=name,
                rules=self.encryption_rules,
            )
        if self.versioning is not None:
            BucketVersioning("backups-versioning", bucket=name, versioning_configuration={"status": self.versioning})
        if self.statements is not None:
            document = {"Version": "2012-10-17", "Statement": self.statements}
            BucketPolicy("backups-tls-only", bucket=name, policy=json.dumps(document))


def block_public_access(bucket: pulumi.Input[str], flags: dict[str, bool]) -> None:
    """A BucketPublicAccessBlock with the flags given; a flag left out of `flags` is not set at all."""
    BucketPublicAccessBlock(
        "backups-public-access",
        bucket=bucket,
        block_public_acls=flags.get("block_public_acls"),
        block_public_policy=flags.get("block_public_policy"),
        ignore_public_acls=flags.get("ignore_public_acls"),
        restrict_public_buckets=flags.get("restrict_public_buckets"),
    )


def render_bucket(monitor: RecordingMonitor, bucket: BackupBucket) -> Rendering:
    return program_under_mocks(monitor, bucket.declare)


def s3_violations(rendering: Rendering) -> list[Violation]:
    return [v for v in evaluate_rendering(rendering) if v.policy_name in S3_POLICIES]


def only(violations: list[Violation], policy: str) -> Violation:
    assert [v.policy_name for v in violations] == [policy]
    assert violations[0].resource_type == "aws:s3/bucket:Bucket", "the violation is the bucket's"
    assert violations[0].enforcement_level == "mandatory"
    return violations[0]


def test_the_fully_configured_bucket_passes(pulumi_mocks: RecordingMonitor) -> None:
    rendering = render_bucket(pulumi_mocks, BackupBucket())
    versioning = rendering.by_type("aws:s3/bucketVersioning:BucketVersioning")[0]
    assert versioning.property_dependencies["bucket"] == [rendering.by_type("aws:s3/bucket:Bucket")[0].urn]
    assert s3_violations(rendering) == []


def test_configurations_may_name_the_bucket_literally(pulumi_mocks: RecordingMonitor) -> None:
    assert s3_violations(render_bucket(pulumi_mocks, BackupBucket(by_literal_name=True))) == []


@pytest.mark.parametrize(
    ("missing", "policy", "expected"),
    [
        ("public_access", "s3-public-access-blocked", "no BucketPublicAccessBlock. Add one"),
        (
            "encryption_rules",
            "s3-default-encryption",
            "no customer-managed key declared: neither a BucketServerSideEncryptionConfiguration nor an inline "
            "serverSideEncryptionConfiguration, so S3 still encrypts new objects with SSE-S3",
        ),
        ("versioning", "s3-versioning-enabled", "no BucketVersioning. Add one"),
        ("statements", "s3-tls-only", "no BucketPolicy. Add one"),
    ],
)
def test_a_missing_configuration_fails(
    pulumi_mocks: RecordingMonitor, missing: str, policy: str, expected: str
) -> None:
    bucket = BackupBucket()
    setattr(bucket, missing, None)
    violation = only(s3_violations(render_bucket(pulumi_mocks, bucket)), policy)
    assert f'Bucket "backups": {expected}' in violation.message
    assert "unencrypted" not in violation.message


@pytest.mark.parametrize(
    "flag", ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
)
def test_public_access_not_fully_blocked_fails(pulumi_mocks: RecordingMonitor, flag: str) -> None:
    camel = "".join(word.capitalize() if i else word for i, word in enumerate(flag.split("_")))
    violation = only(
        s3_violations(render_bucket(pulumi_mocks, BackupBucket(public_access={**ALL_BLOCKED, flag: False}))),
        "s3-public-access-blocked",
    )
    assert f'BucketPublicAccessBlock "backups-public-access" leaves {camel} unset or false' in violation.message


@pytest.mark.parametrize(
    "flag", ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
)
def test_public_access_with_a_flag_left_out_fails(pulumi_mocks: RecordingMonitor, flag: str) -> None:
    # Left out, the provider applies its default (false): the flag is open as surely as one set false.
    camel = "".join(word.capitalize() if i else word for i, word in enumerate(flag.split("_")))
    flags = {name: value for name, value in ALL_BLOCKED.items() if name != flag}
    rendering = render_bucket(pulumi_mocks, BackupBucket(public_access=flags))
    (block,) = rendering.by_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert camel not in block.inputs
    assert camel not in block.outputs
    violation = only(s3_violations(rendering), "s3-public-access-blocked")
    assert f'BucketPublicAccessBlock "backups-public-access" leaves {camel} unset or false' in violation.message


def test_no_default_encryption_fails(pulumi_mocks: RecordingMonitor) -> None:
    bucket = BackupBucket(encryption_rules=[{"bucket_key_enabled": True}])
    violation = only(s3_violations(render_bucket(pulumi_mocks, bucket)), "s3-default-encryption")
    assert (
        'BucketServerSideEncryptionConfiguration "backups-encryption" sets no default encryption' in violation.message
    )


@pytest.mark.parametrize("status", ["Suspended", "Disabled"])
def test_versioning_not_enabled_fails(pulumi_mocks: RecordingMonitor, status: str) -> None:
    violation = only(
        s3_violations(render_bucket(pulumi_mocks, BackupBucket(versioning=status))), "s3-versioning-enabled"
    )
    assert (
        f'versioningConfiguration.status "{status}". Set versioningConfiguration.status to Enabled' in violation.message
    )


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param({**DENY_INSECURE_TRANSPORT, "Effect": "Allow"}, id="allow"),
        pytest.param({**DENY_INSECURE_TRANSPORT, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}, id="true"),
        pytest.param({**DENY_INSECURE_TRANSPORT, "Resource": BUCKET_ARN}, id="bucket-only-not-objects"),
        pytest.param({**DENY_INSECURE_TRANSPORT, "Action": "s3:GetObject"}, id="one-action"),
        pytest.param(
            {**DENY_INSECURE_TRANSPORT, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}, id="one-principal"
        ),
    ],
)
def test_a_policy_that_does_not_deny_plain_http_fails(
    pulumi_mocks: RecordingMonitor, statement: dict[str, Any]
) -> None:
    violation = only(s3_violations(render_bucket(pulumi_mocks, BackupBucket(statements=[statement]))), "s3-tls-only")
    assert 'BucketPolicy "backups-tls-only" does not deny requests without TLS' in violation.message


def test_a_principal_aws_star_and_a_boolean_false_also_deny_plain_http(pulumi_mocks: RecordingMonitor) -> None:
    statement = {
        **DENY_INSECURE_TRANSPORT,
        "Principal": {"AWS": ["*"]},
        "Condition": {"Bool": {"aws:SecureTransport": False}},
    }
    assert s3_violations(render_bucket(pulumi_mocks, BackupBucket(statements=[statement]))) == []


def test_an_exempt_bucket_is_skipped(pulumi_mocks: RecordingMonitor) -> None:
    rendering = render_bucket(pulumi_mocks, BackupBucket(versioning=None))
    config = {"s3-versioning-enabled": {"exemptions": ["backups"]}}
    assert [v for v in evaluate_rendering(rendering, config) if v.policy_name in S3_POLICIES] == []


def test_during_preview_an_unknown_bucket_id_still_matches_through_dependencies(
    pulumi_mocks: RecordingMonitor,
) -> None:
    # A new bucket's id is unknown in a real preview; only propertyDependencies tie a configuration to it.
    rendering = render_bucket(pulumi_mocks, BackupBucket())
    for registration in rendering.registrations:
        if registration.property_dependencies.get("bucket"):
            registration.inputs["bucket"] = registration.outputs["bucket"] = UNKNOWN
    assert s3_violations(rendering) == []


def test_an_unknown_policy_document_cannot_be_checked_during_preview(pulumi_mocks: RecordingMonitor) -> None:
    def program() -> None:
        bucket = Bucket("backups")  # auto-named: its ARN is unknown until it exists
        block_public_access(bucket=bucket.id, flags=ALL_BLOCKED)
        policy = bucket.arn.apply(
            lambda arn: json.dumps(
                {"Version": "2012-10-17", "Statement": [{**DENY_INSECURE_TRANSPORT, "Resource": [arn, f"{arn}/*"]}]}
            )
        )
        BucketPolicy("backups-tls-only", bucket=bucket.id, policy=policy)

    rendering = program_under_mocks(pulumi_mocks, program)
    # In a real preview the new bucket's ARN, and so the document built from it, is unknown (the
    # offline preview computes a placeholder ARN, so make it unknown as the engine would have it).
    for registration in rendering.by_type("aws:s3/bucketPolicy:BucketPolicy"):
        registration.inputs["policy"] = registration.outputs["policy"] = UNKNOWN
    violations = [v for v in evaluate_rendering(rendering) if v.policy_name == "s3-tls-only"]
    assert [v.enforcement_level for v in violations] == ["advisory"]
    assert "can't run policy 's3-tls-only'" in violations[0].message
    assert "string value at .policy can't be known during preview" in violations[0].message


def test_each_bucket_needs_its_own_configuration(pulumi_mocks: RecordingMonitor) -> None:
    def program() -> None:
        BackupBucket().declare()
        Bucket("logs", bucket="hft-platform-logs")

    violations = s3_violations(program_under_mocks(pulumi_mocks, program))
    assert {v.policy_name for v in violations} == S3_POLICIES
    assert {v.urn.rsplit("::", 1)[-1] for v in violations} == {"logs"}


# --- buckets as older providers write them -----------------------------------------------------

INLINE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [DENY_INSECURE_TRANSPORT]})


def inline_bucket(monitor: RecordingMonitor, **inline: Any) -> Rendering:
    """A pulumi-aws 5 style bucket (7's Bucket keeps the same inline arguments, deprecated): encryption,
    versioning and policy on the bucket itself, only the public access block separate."""

    def program() -> None:
        bucket = Bucket("backups", bucket=BUCKET_NAME, **inline)
        block_public_access(bucket=bucket.id, flags=ALL_BLOCKED)

    return program_under_mocks(monitor, program)


FULL_INLINE: dict[str, Any] = {
    "server_side_encryption_configuration": {
        "rule": {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}
    },
    "versioning": {"enabled": True},
    "policy": INLINE_POLICY,
}


def test_a_pulumi_aws_5_bucket_with_inline_configuration_passes(pulumi_mocks: RecordingMonitor) -> None:
    rendering = inline_bucket(pulumi_mocks, **FULL_INLINE)
    bucket = rendering.by_type("aws:s3/bucket:Bucket")[0]
    assert bucket.outputs["serverSideEncryptionConfiguration"]["rule"], "engine form: the inline object"
    assert s3_violations(rendering) == []


@pytest.mark.parametrize(
    ("inline", "policy", "expected"),
    [
        (
            {"versioning": {"enabled": False}},
            "s3-versioning-enabled",
            'Bucket "backups": its inline versioning is not enabled',
        ),
        (
            {"server_side_encryption_configuration": {"rule": {"bucket_key_enabled": True}}},
            "s3-default-encryption",
            'Bucket "backups": its inline serverSideEncryptionConfiguration sets no default encryption '
            "(sseAlgorithm: []), so S3 still encrypts new objects with SSE-S3",
        ),
        (
            {
                "policy": json.dumps(
                    {"Version": "2012-10-17", "Statement": [{**DENY_INSECURE_TRANSPORT, "Effect": "Allow"}]}
                )
            },
            "s3-tls-only",
            'Bucket "backups": its inline bucket policy does not deny requests without TLS',
        ),
    ],
)
def test_a_weak_inline_configuration_fails(
    pulumi_mocks: RecordingMonitor, inline: dict[str, Any], policy: str, expected: str
) -> None:
    violation = only(s3_violations(inline_bucket(pulumi_mocks, **{**FULL_INLINE, **inline})), policy)
    assert expected in violation.message


def test_a_pulumi_aws_6_bucket_v2_with_inline_lists_passes(pulumi_mocks: RecordingMonitor) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pulumi_aws.s3 import BucketV2

    def program() -> None:
        bucket = BucketV2(
            "backups",
            bucket=BUCKET_NAME,
            server_side_encryption_configurations=[
                {"rules": [{"apply_server_side_encryption_by_defaults": [{"sse_algorithm": "AES256"}]}]}
            ],
            versionings=[{"enabled": True}],
            policy=INLINE_POLICY,
        )
        block_public_access(bucket=bucket.id, flags=ALL_BLOCKED)

    rendering = program_under_mocks(pulumi_mocks, program)
    assert rendering.by_type("aws:s3/bucketV2:BucketV2")[0].outputs["versionings"] == [{"enabled": True}]
    assert s3_violations(rendering) == []


def state_bucket(type_: str, outputs: dict[str, Any]) -> list[dict[str, Any]]:
    bucket = resource(type_, "logs", {"bucket": "logs"}, {"bucket": "logs", "id": "logs", **outputs})
    block = resource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "logs-public-access",
        {"bucket": "logs", **{flag: True for flag in PUBLIC_ACCESS_FLAGS}},
    )
    return [STACK_RESOURCE, bucket, block]


def test_a_separate_configuration_wins_over_the_inline_value_a_provider_last_read() -> None:
    # pulumi-aws 6 reports BucketV2's inline versioning as last read: false, although a BucketVersioningV2 (made
    # after the bucket, the state not refreshed since) enabled it.
    resources = state_bucket(
        "aws:s3/bucketV2:BucketV2",
        {
            "versionings": [{"enabled": False, "mfaDelete": False}],
            "serverSideEncryptionConfigurations": [
                {"rules": [{"applyServerSideEncryptionByDefaults": [{"sseAlgorithm": "AES256"}]}]}
            ],
            "policy": INLINE_POLICY,
        },
    )
    versioning = resource(
        "aws:s3/bucketVersioningV2:BucketVersioningV2",
        "logs-versioning",
        {"bucket": "logs", "versioningConfiguration": {"status": "Enabled"}},
        propertyDependencies={"bucket": [resources[1]["urn"]]},
    )
    assert [v for v in audit(export([*resources, versioning])).violations if v.policy_name in S3_POLICIES] == []


@pytest.mark.parametrize(
    ("outputs", "policy", "why"),
    [
        (
            {"serverSideEncryptionConfiguration": "AES256"},
            "s3-default-encryption",
            'its serverSideEncryptionConfiguration is "AES256", a shape this policy does not know',
        ),
        (
            {"serverSideEncryptionConfigurations": [{"rules": "AES256"}]},
            "s3-default-encryption",
            'its serverSideEncryptionConfigurations has no rule this policy can read ({rules: "AES256"})',
        ),
        (
            {"versioning": {"status": "Enabled"}},
            "s3-versioning-enabled",
            'its versioning is {status: "Enabled"}, a shape this policy does not know',
        ),
    ],
)
def test_an_inline_shape_the_policy_does_not_know_is_not_checked_never_a_violation(
    outputs: dict[str, Any], policy: str, why: str
) -> None:
    result = audit(export(state_bucket("aws:s3/bucket:Bucket", outputs)))
    assert [v for v in result.violations if v.policy_name == policy] == []
    (entry,) = [n for n in result.evaluation.not_checked if n.policy_name == policy]
    assert (entry.urn, entry.resource_type, entry.reason) == (urn("aws:s3/bucket:Bucket", "logs"), BUCKET_TYPE, why)


def test_matching_is_indexed_by_dependency_and_by_name_not_by_position() -> None:
    # Many buckets, each configured by literal name or by dependency, in any order: each gets its own.
    resources: list[dict[str, Any]] = [STACK_RESOURCE]
    for index in range(30):
        name = f"bucket-{index}"
        bucket = resource(BUCKET_TYPE, name, {"bucket": name}, {"bucket": name, "id": name})
        versioning = resource(
            "aws:s3/bucketVersioning:BucketVersioning",
            f"{name}-versioning",
            {"bucket": name if index % 2 else "computed", "versioningConfiguration": {"status": "Enabled"}},
            propertyDependencies={} if index % 2 else {"bucket": [bucket["urn"]]},
        )
        resources = [*resources, versioning, bucket] if index % 3 else [*resources, bucket, versioning]
    unversioned = resource(BUCKET_TYPE, "unversioned", {"bucket": "x"}, {"bucket": "x", "id": "x"})
    violations = [
        v for v in audit(export([*resources, unversioned])).violations if v.policy_name == "s3-versioning-enabled"
    ]
    assert [v.urn for v in violations] == [unversioned["urn"]]


def test_buckets_sharing_a_name_check_each_configuration_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Copies of one program in one state: 40 buckets named alike, 40 BucketVersionings naming that name, so each
    # configuration belongs to every bucket. Checked once each, such a state costs what distinct names cost.
    from policies import aws_s3

    calls: list[str] = []
    check = aws_s3._versioning_not_enabled  # pyright: ignore[reportPrivateUsage]

    def counted(versioning: Any) -> Any:
        calls.append(versioning.urn)
        return check(versioning)

    monkeypatch.setattr(aws_s3, "_versioning_not_enabled", counted)
    copies = 40
    resources: list[dict[str, Any]] = [STACK_RESOURCE]
    for index in range(copies):
        resources.append(
            resource(BUCKET_TYPE, f"bucket-{index}", {"bucket": "shared"}, {"bucket": "shared", "id": "shared"})
        )
        status = "Suspended" if index == 7 else "Enabled"
        resources.append(
            resource(
                "aws:s3/bucketVersioning:BucketVersioning",
                f"versioning-{index}",
                {"bucket": "shared", "versioningConfiguration": {"status": status}},
            )
        )
    violations = [v for v in audit(export(resources)).violations if v.policy_name == "s3-versioning-enabled"]
    assert sorted(calls) == sorted({r["urn"] for r in resources if r["type"].endswith("BucketVersioning")})
    # The suspended one still belongs to every bucket of its name.
    assert len(violations) == copies
    assert all('BucketVersioning "versioning-7"' in v.message for v in violations)
