"""BackupStore: the S3 bucket Velero writes the app's backups to, and Velero's IAM role (pulumi-aws 7,
with the bucket's configuration in the separate resources, not the deprecated inline arguments).

The seed's script tarred `kubectl get` output, Secrets included, into an unencrypted upload kept
seven days. Here: a bucket the program owns (protected, and kept if ever deleted from the program),
no ACLs and no public access, encrypted by default with a customer-managed KMS key, versioned, swept by
a lifecycle later than Velero's own expiry, reachable only over TLS and only by principals of the
account; and a role only Velero's service account can assume, allowed only what Velero's AWS plugin
needs on this bucket and this key.

The policy documents are pure functions (tests lint them with parliament); the component builds the
resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_aws.s3 import (
    BucketLifecycleConfigurationRuleArgsDict,
    BucketObjectLockConfigurationRuleArgsDict,
    BucketServerSideEncryptionConfigurationRuleArgsDict,
)

from components import naming
from components.settings import BackupSettings

POLICY_VERSION = "2012-10-17"
KEY_DELETION_WINDOW_DAYS = 30

# What velero-plugin-for-aws needs on the bucket's objects (its README's policy, without the EC2
# snapshot actions: no volumes are snapshotted, and those need Resource "*").
OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:DeleteObject",
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
BUCKET_ACTIONS = ("s3:ListBucket",)
# Writing and reading SSE-KMS objects (multipart uploads need Decrypt too).
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


def bucket_policy(bucket_arn: str, account_id: str) -> dict[str, Any]:
    """No request without TLS, and no principal from outside the account, whatever else allows it."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyOutsideTheAccount",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"StringNotEquals": {"aws:PrincipalAccount": account_id}},
            },
        ],
    }


def trust_policy(oidc_provider_arn: str, issuer: str, namespace: str, service_account: str) -> dict[str, Any]:
    """IRSA: only this service account of this cluster, with the token meant for STS."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def velero_policy(bucket_arn: str, key_arn: str) -> dict[str, Any]:
    """What Velero's AWS plugin needs, on this bucket, its objects and its key only."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "BackupObjects",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": [f"{bucket_arn}/*"],
            },
            {"Sid": "BackupBucket", "Effect": "Allow", "Action": list(BUCKET_ACTIONS), "Resource": [bucket_arn]},
            {"Sid": "BackupKey", "Effect": "Allow", "Action": list(KEY_ACTIONS), "Resource": [key_arn]},
        ],
    }


def lifecycle_rules(backup: BackupSettings, prefix: str) -> list[BucketLifecycleConfigurationRuleArgsDict]:
    return [
        {
            "id": "sweep-what-velero-missed",
            "status": "Enabled",
            # Velero's own prefix only, with its slash (so `production/` never matches `production-old/`): the
            # bucket may hold other things (the guide's tarballs under frontend/), which no rule here expires.
            "filter": {"prefix": f"{prefix}/"},
            "expiration": {"days": backup.sweep_after_days},
            "noncurrent_version_expiration": {"noncurrent_days": backup.noncurrent_version_expiration_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": backup.abort_incomplete_upload_days},
        }
    ]


def encryption_rules(key_arn: pulumi.Input[str]) -> list[BucketServerSideEncryptionConfigurationRuleArgsDict]:
    # A bucket key: fewer KMS requests (and costs) for the many objects of a backup.
    return [
        {
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key_arn},
            "bucket_key_enabled": True,
        }
    ]


def object_lock_rule(backup: BackupSettings) -> BucketObjectLockConfigurationRuleArgsDict:
    return {"default_retention": {"mode": "GOVERNANCE", "days": backup.object_lock.retention_days}}


@dataclass(frozen=True)
class BackupStoreArgs:
    settings: BackupSettings
    prefix: str  # Velero's prefix in the bucket (BackupSettings.storage_prefix): the lifecycle's scope
    # Velero's service account, which alone may assume the role.
    velero_namespace: str
    velero_service_account: str


class BackupStore(pulumi.ComponentResource):
    """The bucket, its key and configuration, and Velero's role."""

    bucket: aws.s3.Bucket
    key: aws.kms.Key
    role: aws.iam.Role

    def __init__(self, name: str, args: BackupStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:BackupStore", name, None, opts)
        backup = args.settings
        assert backup.bucket_name is not None, "the settings require a bucket name with backups enabled"
        account, region = backup.account_id, backup.region

        def child(suffix: str, **options: Any) -> tuple[str, pulumi.ResourceOptions]:
            return naming.child(self, name, suffix, **options)

        child_name, child_opts = child("key", protect=True)
        self.key = aws.kms.Key(
            child_name,
            description=f"Encrypts the backups in s3://{backup.bucket_name}",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            # No policy of its own: KMS's default key policy lets the account manage and use the key
            # through IAM, and the role's policy grants Velero its two actions on it.
            region=region,
            opts=child_opts,
        )
        # Protected, and left in place if it ever leaves the program: losing it loses the backups.
        child_name, child_opts = child("bucket", protect=True, retain_on_delete=True)
        self.bucket = aws.s3.Bucket(
            child_name,
            bucket=backup.bucket_name,
            # Object Lock comes from BucketObjectLockConfiguration below, which enables it on new and existing
            # buckets alike (the pinned pulumi-aws docstring; S3 has allowed it on existing buckets since 2023),
            # never from `object_lock_enabled`, which forces a new bucket (terraform-provider-aws bucket.go ForceNew).
            force_destroy=False,
            region=region,
            opts=child_opts,
        )
        bucket_id = self.bucket.id

        child_name, child_opts = child("ownership")
        aws.s3.BucketOwnershipControls(
            child_name,
            bucket=bucket_id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            region=region,
            opts=child_opts,
        )
        child_name, child_opts = child("public-access-block")
        aws.s3.BucketPublicAccessBlock(
            child_name,
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            region=region,
            opts=child_opts,
        )
        child_name, child_opts = child("encryption")
        aws.s3.BucketServerSideEncryptionConfiguration(
            child_name, bucket=bucket_id, rules=encryption_rules(self.key.arn), region=region, opts=child_opts
        )
        child_name, child_opts = child("versioning")
        versioning = aws.s3.BucketVersioning(
            child_name, bucket=bucket_id, versioning_configuration={"status": "Enabled"}, region=region, opts=child_opts
        )
        if backup.object_lock.enabled:
            child_name, child_opts = child("object-lock", depends_on=[versioning])
            aws.s3.BucketObjectLockConfiguration(
                child_name, bucket=bucket_id, rule=object_lock_rule(backup), region=region, opts=child_opts
            )
        # After versioning: the noncurrent-version rule needs it on.
        child_name, child_opts = child("lifecycle", depends_on=[versioning])
        aws.s3.BucketLifecycleConfiguration(
            child_name, bucket=bucket_id, rules=lifecycle_rules(backup, args.prefix), region=region, opts=child_opts
        )
        child_name, child_opts = child("policy")
        aws.s3.BucketPolicy(
            child_name,
            bucket=bucket_id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(bucket_policy(arn, account))),
            region=region,
            opts=child_opts,
        )

        assert backup.oidc_provider_arn is not None, "the settings require the OIDC provider with backups enabled"
        child_name, child_opts = child("velero-role")
        self.role = aws.iam.Role(
            child_name,
            description="Velero's service account (IRSA): writes and reads the app's backups",
            assume_role_policy=json.dumps(
                trust_policy(
                    backup.oidc_provider_arn, backup.oidc_issuer, args.velero_namespace, args.velero_service_account
                )
            ),
            opts=child_opts,
        )
        child_name, child_opts = child("velero-policy")
        aws.iam.RolePolicy(
            child_name,
            role=self.role.id,
            policy=pulumi.Output.all(self.bucket.arn, self.key.arn).apply(
                lambda arns: json.dumps(velero_policy(arns[0], arns[1]))
            ),
            opts=child_opts,
        )

        self.register_outputs(
            {"bucket": self.bucket.bucket, "roleArn": self.role.arn, "keyArn": self.key.arn, "region": region}
        )
