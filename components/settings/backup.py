"""`backup`: the S3 backup bucket (BackupStore) and Velero's scheduled backups."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from components.settings.base import DnsLabel, HttpsUrl, ImageRef, RuleError, _Model

# S3's bucket naming rules: 3-63 characters, lower-case letters, digits, dots and hyphens, starting
# and ending with a letter or digit, not an IP address, no reserved prefix or suffix.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def _check_bucket(value: str) -> str:
    problems = []
    if not _BUCKET.match(value):
        problems.append("3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit")
    if ".." in value or ".-" in value or "-." in value:
        problems.append("no two dots, and no dot next to a hyphen")
    try:
        ipaddress.ip_address(value)
        problems.append("not an IP address")
    except ValueError:
        pass
    if value.startswith(_BUCKET_RESERVED) or value.endswith(_BUCKET_RESERVED_SUFFIXES):
        problems.append("no reserved prefix (xn--, sthree-) or suffix (-s3alias, --ol-s3)")
    if problems:
        raise ValueError(f"not a name S3 accepts ({'; '.join(problems)})")
    return value


BucketName = Annotated[str, AfterValidator(_check_bucket)]
_OIDC_PROVIDER = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(?P<account>[0-9]{12}):oidc-provider/(?P<issuer>[^\s]+)$")


def _check_oidc_provider(value: str) -> str:
    if not _OIDC_PROVIDER.match(value):
        raise ValueError(
            "not an IAM OIDC provider ARN "
            "(arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>.amazonaws.com/id/<id>)"
        )
    return value


OidcProviderArn = Annotated[str, AfterValidator(_check_oidc_provider)]
AwsRegion = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
# The Velero cron: five fields (minute hour day month weekday) or a descriptor.
CronSchedule = Annotated[
    str, Field(pattern=r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$")
]
SEED_RETENTION_DAYS = 7  # the seed's backup script kept seven days


class ObjectLockSettings(_Model):
    """S3 Object Lock, governance mode. Only when the bucket is created: turning it on later replaces
    the bucket (which its protection refuses), so decide before the first `pulumi up`."""

    enabled: bool = False
    retention_days: int = Field(default=30, ge=1)


class VeleroSettings(_Model):
    """Velero, from its Helm chart. Cluster-wide: one stack per cluster installs it (`install`), every
    stack with backups owns its own BackupStorageLocation and Schedule in its namespace."""

    install: bool = True
    namespace: DnsLabel = "velero"
    chart_version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = "12.1.0"  # Velero 1.18.1
    chart_repository: HttpsUrl = "https://vmware-tanzu.github.io/helm-charts"
    image: ImageRef = "docker.io/velero/velero:v1.18.1"
    # The plugin release that goes with Velero 1.18 (its compatibility matrix: v1.14.x).
    aws_plugin_image: ImageRef = "docker.io/velero/velero-plugin-for-aws:v1.14.0"
    service_account: DnsLabel = "velero"
    # The Velero image's user (Paketo's `cnb`: uid 1002, gid 1000); restricted pods need it numeric.
    run_as_user: int = Field(default=1002, ge=1)
    run_as_group: int = Field(default=1000, ge=1)


class BackupSettings(_Model):
    """The S3 backup bucket (BackupStore) and Velero's scheduled backups of the app's namespace."""

    enabled: bool = False
    bucket_name: BucketName | None = None
    region: AwsRegion = "us-east-1"
    # The cluster's IAM OIDC provider (IRSA): Velero's service account assumes its role through it.
    oidc_provider_arn: OidcProviderArn | None = None
    schedule: CronSchedule = "0 2 * * *"  # daily, at 02:00 UTC
    retention_days: int = Field(default=30, ge=SEED_RETENTION_DAYS)
    # The bucket's lifecycle only sweeps what Velero missed: later than the retention. Default: +7 days.
    expire_after_days: int | None = Field(default=None, ge=1)
    noncurrent_version_expiration_days: int = Field(default=30, ge=1)
    abort_incomplete_upload_days: int = Field(default=7, ge=1)
    # Where this stack's backups go in the bucket (default: the environment's name).
    prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9/_-]*$")] | None = None
    object_lock: ObjectLockSettings = ObjectLockSettings()
    velero: VeleroSettings = VeleroSettings()

    def storage_prefix(self, environment: str) -> str:
        """The one prefix of the bucket this stack's backups live under: Velero's BackupStorageLocation writes
        there and the bucket's lifecycle sweeps only there, so nothing else in the bucket (the guide's
        `frontend/` tarballs) is ever expired."""
        return (self.prefix or environment).strip("/")

    @model_validator(mode="after")
    def _complete_and_ordered(self) -> Self:
        if self.enabled:
            for key, value in (("bucketName", self.bucket_name), ("oidcProviderArn", self.oidc_provider_arn)):
                if value is None:
                    raise RuleError(key, None, "is required with backup.enabled: true")
        if self.expire_after_days is not None and self.expire_after_days <= self.retention_days:
            raise RuleError(
                "expireAfterDays",
                self.expire_after_days,
                f"must be later than the backups' retention ({self.retention_days} days): Velero deletes its "
                "own expired backups, the lifecycle only sweeps what it missed",
            )
        if self.object_lock.enabled and self.object_lock.retention_days > self.retention_days:
            raise RuleError(
                "objectLock.retentionDays",
                self.object_lock.retention_days,
                f"must not outlast the backups' retention ({self.retention_days} days), or Velero cannot delete "
                "its expired backups",
            )
        return self

    @property
    def sweep_after_days(self) -> int:
        return self.expire_after_days or self.retention_days + 7

    @property
    def account_id(self) -> str:
        """The AWS account: the OIDC provider's (IRSA needs the role in the provider's account)."""
        match = _OIDC_PROVIDER.match(self.oidc_provider_arn or "")
        return match.group("account") if match else ""

    @property
    def oidc_issuer(self) -> str:
        """The issuer's host and path, as IAM condition keys name it (no https://)."""
        match = _OIDC_PROVIDER.match(self.oidc_provider_arn or "")
        return match.group("issuer") if match else ""
