"""Ingresses carry no configuration snippets; a LoadBalancer Service is flagged for review.

The program renders no Ingress yet: the one here is built with pulumi_kubernetes under mocks, so its
properties are what the SDK sends the engine.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pytest

from offline_preview.engine import RecordingMonitor, Registration
from tests.support.policies import evaluate, fired, program_under_mocks, rendered

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def ingress(monitor: RecordingMonitor, annotations: dict[str, str]) -> Registration:
    def program() -> None:
        k8s.networking.v1.Ingress(
            "frontend",
            metadata={"name": "hft-frontend", "namespace": "production", "annotations": annotations},
            spec={
                "ingress_class_name": "nginx",
                "tls": [{"hosts": ["hft-platform.com"], "secret_name": "hft-frontend-tls"}],
                "rules": [
                    {
                        "host": "hft-platform.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "path_type": "Prefix",
                                    "backend": {"service": {"name": "hft-frontend-service", "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
        )

    registrations = program_under_mocks(monitor, program).by_type(INGRESS)
    assert len(registrations) == 1
    return registrations[0]


SAFE_ANNOTATIONS = {
    "cert-manager.io/cluster-issuer": "letsencrypt-prod",
    "nginx.ingress.kubernetes.io/ssl-redirect": "true",
    "nginx.ingress.kubernetes.io/limit-rps": "50",
}


def test_an_ingress_without_snippets_passes(pulumi_mocks: RecordingMonitor) -> None:
    resource = ingress(pulumi_mocks, SAFE_ANNOTATIONS)
    assert resource.inputs["spec"]["ingressClassName"] == "nginx", "engine form: camelCase"
    assert evaluate(resource) == []


@pytest.mark.parametrize(
    "annotation",
    [
        "nginx.ingress.kubernetes.io/configuration-snippet",
        "nginx.ingress.kubernetes.io/server-snippet",
        "nginx.ingress.kubernetes.io/auth-snippet",
        "nginx.ingress.kubernetes.io/stream-snippet",
        "nginx.org/location-snippets",
    ],
)
def test_a_snippet_annotation_fails(pulumi_mocks: RecordingMonitor, annotation: str) -> None:
    resource = ingress(pulumi_mocks, {**SAFE_ANNOTATIONS, annotation: "more_set_headers 'X-Debug: 1';"})
    violations = evaluate(resource)
    assert [v.policy_name for v in violations] == ["ingress-no-snippet-annotations"]
    assert violations[0].enforcement_level == "mandatory"
    assert f'Ingress "hft-frontend": annotation {annotation} injects raw configuration' in violations[0].message


def test_the_programs_service_passes() -> None:
    assert (
        fired(evaluate(rendered("kubernetes:core/v1:Service", "hft-frontend-service")), "service-load-balancer-review")
        == []
    )


def test_a_load_balancer_service_is_flagged_for_review() -> None:
    service = rendered("kubernetes:core/v1:Service", "hft-frontend-service")
    service.inputs["spec"]["type"] = "LoadBalancer"
    violations = evaluate(service)
    assert [(v.policy_name, v.enforcement_level) for v in violations] == [("service-load-balancer-review", "advisory")]
    assert 'Service "hft-frontend-service": spec.type is LoadBalancer' in violations[0].message
    assert "restrict spec.loadBalancerSourceRanges and exempt this Service" in violations[0].message
