"""pulumi-aws: bucket ARNs and names, KMS key ids and ARNs, IAM role names and ARNs, as AWS forms them.

The account is the one the resource names itself where it does (a role trusting an OIDC provider of
the account, a key whose policy names the account's root), else AWS's documentation account.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from offline_preview.providers import Computed, NewResource, computes, hex_placeholder

EXAMPLE_ACCOUNT = "123456789012"
_ACCOUNT = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):")


def _account(*documents: Any) -> str:
    for document in documents:
        found = _ACCOUNT.search(document if isinstance(document, str) else json.dumps(document))
        if found:
            return found.group(1)
    return EXAMPLE_ACCOUNT


def _region(resource: NewResource) -> str:
    return str(resource.inputs.get("region") or "us-east-1")


@computes("aws:s3/bucket:Bucket")
def bucket(resource: NewResource) -> Computed:
    name = str(resource.inputs.get("bucket") or f"{resource.name}-{hex_placeholder(resource.identity, 7)}")
    region = _region(resource)
    return name, {
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        "region": region,
    }


@computes("aws:kms/key:Key")
def kms_key(resource: NewResource) -> Computed:
    key_id = str(uuid.UUID(hex_placeholder(resource.seed("key"), 32)))
    account = _account(resource.inputs.get("policy") or "")
    return key_id, {"keyId": key_id, "arn": f"arn:aws:kms:{_region(resource)}:{account}:key/{key_id}"}


@computes("aws:iam/role:Role")
def iam_role(resource: NewResource) -> Computed:
    # Without a `name` the provider names the role after the resource, with a random suffix.
    name = str(resource.inputs.get("name") or f"{resource.name}-{hex_placeholder(resource.identity, 7)}")
    account = _account(resource.inputs.get("assumeRolePolicy") or "")
    return name, {
        "name": name,
        "arn": f"arn:aws:iam::{account}:role/{name}",
        "uniqueId": "AROA" + hex_placeholder(resource.seed("role"), 17).upper(),
    }


@computes("aws:iam/rolePolicy:RolePolicy")
def role_policy(resource: NewResource) -> Computed:
    name = str(resource.inputs.get("name") or f"{resource.name}-{hex_placeholder(resource.identity, 7)}")
    return f"{resource.inputs.get('role')}:{name}", {"name": name}
