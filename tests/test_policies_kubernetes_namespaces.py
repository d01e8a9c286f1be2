"""Namespaces enforce the restricted Pod Security Standard; nothing lands in `default`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline_preview.engine import UNKNOWN, Registration, Rendering
from offline_preview.policy_eval import evaluate_export
from offline_preview.render import stack_export
from tests.support.policies import STACK, evaluate, fired, messages, rendered
from tests.support.stacks import PROJECT

PSA = "pod-security.kubernetes.io/enforce"
# The app's objects, by their logical names.
NAMESPACED = [
    ("kubernetes:core/v1:ConfigMap", "hft-frontend-config"),
    ("kubernetes:apps/v1:Deployment", "hft-frontend-deployment"),
    ("kubernetes:core/v1:Service", "hft-frontend-service"),
]


def restricted_namespace() -> Registration:
    namespace = rendered("kubernetes:core/v1:Namespace", "security-baseline-namespace")
    namespace.inputs["metadata"].setdefault("labels", {})[PSA] = "restricted"
    return namespace


def test_a_namespace_enforcing_restricted_passes() -> None:
    assert evaluate(restricted_namespace()) == []


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (None, f"label {PSA} is missing"),
        ("baseline", f'label {PSA} is "baseline"'),
        ("privileged", f'label {PSA} is "privileged"'),
    ],
)
def test_a_namespace_not_enforcing_restricted_fails(level: str | None, expected: str) -> None:
    namespace = restricted_namespace()
    labels = namespace.inputs["metadata"]["labels"]
    if level is None:
        del labels[PSA]
    else:
        labels[PSA] = level
    violations = evaluate(namespace)
    assert [v.policy_name for v in violations] == ["namespace-psa-restricted"]
    assert f'Namespace "{STACK}": {expected}. Set it to restricted' in violations[0].message
    assert violations[0].enforcement_level == "mandatory"


@pytest.mark.parametrize(("type_", "name"), NAMESPACED)
def test_an_object_in_the_apps_namespace_passes(type_: str, name: str) -> None:
    assert fired(evaluate(rendered(type_, name)), "no-default-namespace") == []


@pytest.mark.parametrize(("type_", "name"), NAMESPACED)
def test_an_object_in_default_fails(type_: str, name: str) -> None:
    resource = rendered(type_, name)
    resource.inputs["metadata"]["namespace"] = "default"
    violations = evaluate(resource)
    assert [v.policy_name for v in violations] == ["no-default-namespace"]
    assert "metadata.namespace is default. Set metadata.namespace to the app's namespace" in violations[0].message


@pytest.mark.parametrize(("type_", "name"), NAMESPACED)
def test_an_object_without_a_namespace_fails(type_: str, name: str) -> None:
    resource = rendered(type_, name)
    del resource.inputs["metadata"]["namespace"]
    kind, object_name = resource.inputs["kind"], resource.inputs["metadata"]["name"]
    assert f'{kind} "{object_name}": no metadata.namespace, so it lands in default.' in messages(
        evaluate(resource), "no-default-namespace"
    )


def test_cluster_scoped_objects_need_no_namespace() -> None:
    assert fired(evaluate(restricted_namespace()), "no-default-namespace") == []


def _custom_resource(kind: str) -> Registration:
    resource = rendered("kubernetes:core/v1:ConfigMap", "hft-frontend-config")
    resource.type = f"kubernetes:external-secrets.io/v1:{kind}"
    resource.urn = resource.urn.replace("kubernetes:core/v1:ConfigMap", resource.type)
    resource.inputs = {"apiVersion": "external-secrets.io/v1", "kind": kind, "metadata": {"name": "vault"}, "spec": {}}
    return resource


def test_more_cluster_scoped_kinds_come_from_the_policy_config() -> None:
    store = _custom_resource("ClusterSecretStore")
    assert fired(evaluate(store), "no-default-namespace"), "unknown kinds count as namespaced"
    config = {"no-default-namespace": {"clusterScopedKinds": ["ClusterSecretStore"]}}
    assert fired(evaluate(store, config=config), "no-default-namespace") == []


def _export_with_provider_namespace(resource: Registration, namespace: str) -> dict[str, Any]:
    """The stack export of `resource` with its default provider configured with a namespace."""
    export = copy.deepcopy(stack_export(Rendering(STACK, PROJECT, [resource])))
    for state in export["deployment"]["resources"]:
        if state["type"] == "pulumi:providers:kubernetes":
            state["inputs"]["namespace"] = namespace
    return export


def test_an_object_without_a_namespace_lands_in_its_providers_namespace() -> None:
    config_map = rendered("kubernetes:core/v1:ConfigMap", "hft-frontend-config")
    del config_map.inputs["metadata"]["namespace"]
    assert fired(evaluate_export(_export_with_provider_namespace(config_map, STACK)), "no-default-namespace") == []
    assert fired(evaluate_export(_export_with_provider_namespace(config_map, "default")), "no-default-namespace")


# Values another resource computes are unknown during a preview: the namespace a Namespace resource
# names, the provider's namespace from a config another resource outputs. Neither may read as a pass.


def test_a_namespace_computed_by_another_resource_is_not_checked_rather_than_passed() -> None:
    config_map = rendered("kubernetes:core/v1:ConfigMap", "hft-frontend-config")
    config_map.inputs["metadata"]["namespace"] = UNKNOWN  # the Namespace's output, before it exists
    violations = fired(evaluate(config_map), "no-default-namespace")
    assert [v.enforcement_level for v in violations] == ["advisory"]
    assert "can't run policy 'no-default-namespace'" in violations[0].message


def test_a_provider_namespace_that_is_not_known_fails_closed_in_an_audit() -> None:
    config_map = rendered("kubernetes:core/v1:ConfigMap", "hft-frontend-config")
    del config_map.inputs["metadata"]["namespace"]
    violations = fired(evaluate_export(_export_with_provider_namespace(config_map, UNKNOWN)), "no-default-namespace")
    assert [v.enforcement_level for v in violations] == ["mandatory"]
    assert "unknown value at .namespace" in violations[0].message
    assert "the audit fails closed" in violations[0].message
