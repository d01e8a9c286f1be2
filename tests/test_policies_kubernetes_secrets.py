"""Kubernetes Secret data are Pulumi secrets: a remediation marks plaintext values secret."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.deserialize import deserialize_properties, serialize_properties

from offline_preview.engine import SECRET_SIG, SIG, Registration, Rendering
from offline_preview.policy_eval import evaluate_export
from offline_preview.render import stack_export
from policies.kubernetes_secrets import remediate_secret_data
from tests.support.policies import STACK, evaluate, fired, rendered
from tests.support.stacks import PROJECT

POLICY = "kubernetes-secret-data-secret"


def secret() -> Registration:
    return rendered("kubernetes:core/v1:Secret", "hft-frontend-secret")


def plaintext(value: dict[str, Any]) -> Any:
    assert value[SIG] == SECRET_SIG, "the program makes the Secret's data a Pulumi secret"
    return value["value"]


def test_the_programs_secret_passes() -> None:
    assert fired(evaluate(secret()), POLICY) == []


def test_plaintext_string_data_is_remediated() -> None:
    resource = secret()
    resource.inputs["stringData"] = plaintext(resource.inputs["stringData"])
    violations = evaluate(resource)
    assert [(v.policy_name, v.enforcement_level) for v in violations] == [(POLICY, "remediate")]
    assert violations[0].message.endswith("Remediated: stringData.")
    assert "Fix the program: build them with pulumi.Output.secret" in violations[0].message


def test_plaintext_data_is_remediated() -> None:
    resource = secret()
    values = plaintext(resource.inputs.pop("stringData"))
    resource.inputs["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    violations = evaluate(resource)
    assert [(v.policy_name, v.message.splitlines()[-1]) for v in violations] == [(POLICY, "Remediated: data.")]


def test_data_secret_key_by_key_passes() -> None:
    resource = secret()
    values = plaintext(resource.inputs["stringData"])
    resource.inputs["stringData"] = {k: {SIG: SECRET_SIG, "value": v} for k, v in values.items()}
    assert fired(evaluate(resource), POLICY) == []


def test_a_half_secret_map_is_remediated() -> None:
    resource = secret()
    values = plaintext(resource.inputs["stringData"])
    first, *rest = values
    resource.inputs["stringData"] = {first: values[first], **{k: {SIG: SECRET_SIG, "value": values[k]} for k in rest}}
    assert fired(evaluate(resource), POLICY)


def _remediation_args(props: dict[str, Any]) -> ResourceValidationArgs:
    """Arguments as pulumi_policy builds them for a remediation: secrets kept as `Secret` markers."""
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    urn = f"urn:pulumi:{STACK}::{PROJECT}::kubernetes:core/v1:Secret::s"
    return ResourceValidationArgs(
        "kubernetes:core/v1:Secret", deserialize_properties(props, proxy_secrets=True), urn, "s", options, None
    )


def test_the_remediation_makes_the_plaintext_secret_and_keeps_the_rest() -> None:
    props = {"kind": "Secret", "type": "Opaque", "stringData": {"TOKEN": "hunter2"}, "metadata": {"name": "s"}}
    remediated = serialize_properties(asyncio.run(remediate_secret_data(_remediation_args(props))))
    assert remediated == {**props, "stringData": {SIG: SECRET_SIG, "value": {"TOKEN": "hunter2"}}}


def test_the_remediation_leaves_a_secret_alone() -> None:
    props = {"kind": "Secret", "stringData": {SIG: SECRET_SIG, "value": {"TOKEN": "hunter2"}}}
    assert asyncio.run(remediate_secret_data(_remediation_args(props))) == {}


@pytest.mark.parametrize("level", ["advisory", "mandatory"])
def test_below_remediate_the_policy_cannot_see_secretness(level: str) -> None:
    # pulumi_policy hands validations plaintext without markers, so the policy reports "not applicable".
    resource = secret()
    resource.inputs["stringData"] = plaintext(resource.inputs["stringData"])
    assert fired(evaluate(resource, config={POLICY: level}), POLICY) == []


def test_an_exempt_secret_is_left_alone() -> None:
    resource = secret()
    resource.inputs["stringData"] = plaintext(resource.inputs["stringData"])
    assert fired(evaluate(resource, config={POLICY: {"exemptions": [resource.urn]}}), POLICY) == []


def test_a_secret_in_an_export_is_ciphertext_and_stays_secret() -> None:
    export = stack_export(Rendering(STACK, PROJECT, [secret()]))
    [state] = [s for s in export["deployment"]["resources"] if s["type"] == "kubernetes:core/v1:Secret"]
    assert set(state["inputs"]["stringData"]) == {SIG, "ciphertext"}
    assert fired(evaluate_export(export), POLICY) == []
