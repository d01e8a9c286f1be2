"""Kubernetes Secrets: `data` and `stringData` are Pulumi secrets, so the state only ever holds them
encrypted.

This is a remediation, not a validation, because only a remediation can see secretness. pulumi_policy
deserializes the properties it hands a validation with every secret unwrapped and unmarked, so a validation
cannot tell a secret from plaintext (pulumi/pulumi-policy#241). A remediation gets them with the markers
kept: each secret is a `pulumi_policy.Secret` inside a secrets-preserving proxy. So the policy runs at
enforcement level `remediate`: it marks any plaintext value secret before the engine writes the state, and
the preview lists the remediation. At `advisory` or `mandatory` the SDK reports it "not applicable".

pulumi-kubernetes' SDKs and provider mark these fields secret themselves; this backstops objects that
reach the engine another way (a raw CustomResource, a transformation that replaced the value).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy, Secret, Severity

from policies.common import config_schema, declare_resource_types, is_exempt, kubernetes_kind

SECRET_FIELDS = ("data", "stringData")
POLICY_NAME = "kubernetes-secret-data-secret"


def is_secret_type(resource_type: str) -> bool:
    return kubernetes_kind(resource_type) == ("core", "Secret")


def _unproxied(value: Any) -> Any:
    """The value behind pulumi_policy's secrets-preserving proxy, where the `Secret` markers are."""
    return value["__target"] if isinstance(value, Mapping) and "__target" in value else value


def is_secret(value: Any) -> bool:
    """Secret as a whole, or a map whose every value is secret."""
    if isinstance(value, Secret):
        return True
    target = _unproxied(value)
    return isinstance(target, Mapping) and all(isinstance(v, Secret) for v in target.values())


def plaintext_fields(props: Mapping[str, Any]) -> list[str]:
    raw = _unproxied(props)
    return [field for field in SECRET_FIELDS if raw.get(field) is not None and not is_secret(raw[field])]


async def remediate_secret_data(args: ResourceValidationArgs) -> Mapping[str, Any]:
    """The Secret's properties with plaintext `data`/`stringData` made secret; nothing ({}) if none is."""
    if not is_secret_type(args.resource_type) or is_exempt(args.get_config(), args.urn):
        return {}
    fields = plaintext_fields(args.props)
    if not fields:
        return {}
    raw = _unproxied(args.props)
    return {**raw, **{field: Secret(raw[field]) for field in fields}}


POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name=POLICY_NAME,
        description=(
            "Kubernetes Secret data and stringData are Pulumi secrets, encrypted in the state; this remediation "
            "marks plaintext values secret. Fix the program: build them with pulumi.Output.secret, "
            "Config.require_secret or a generated secret (pulumi_random, pulumi_tls). Effective only at "
            "enforcement level remediate: a validation cannot see whether a value is secret."
        ),
        remediate=remediate_secret_data,
        enforcement_level=EnforcementLevel.REMEDIATE,
        config_schema=config_schema(),
        severity=Severity.CRITICAL,
    ),
]
declare_resource_types(POLICY_NAME, is_secret_type)
