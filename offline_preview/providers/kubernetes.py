"""pulumi-kubernetes: object names and ids.

The provider names an object `<logical name>-<8 random characters>` when the program sets no
`metadata.name`; offline the suffix derives from the URN, so previews are stable. The id of a
namespaced object is `<namespace>/<name>`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from offline_preview.providers import Computed, NewResource, computes, computes_package


def autoname(urn: str, name: str) -> str:
    return f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:8]}"


@computes_package("kubernetes")
def kubernetes_object(resource: NewResource) -> Computed:
    metadata: Any = resource.inputs.get("metadata")
    if not isinstance(metadata, dict):  # a provider-side component (a Helm chart, a YAML group)
        return f"{resource.name}-id", {}
    metadata = {**metadata}
    metadata.setdefault("name", autoname(resource.urn, resource.name))
    namespace = metadata.get("namespace")
    resource_id = f"{namespace}/{metadata['name']}" if isinstance(namespace, str) and namespace else metadata["name"]
    return resource_id, {"metadata": metadata}


def _load_balancer_hostname(resource: NewResource) -> str:
    """What a cloud load balancer's DNS name looks like (AWS: <name>-<hash>.elb.<region>.amazonaws.com)."""
    return f"{hashlib.sha256(resource.identity.encode()).hexdigest()[:32]}.elb.us-east-1.amazonaws.com"


@computes("kubernetes:gateway.networking.k8s.io/v1:Gateway")
def gateway(resource: NewResource) -> Computed:
    """The Gateway's controller assigns it an address (its load balancer's) once it is Programmed."""
    resource_id, outputs = kubernetes_object(resource)
    outputs["status"] = {"addresses": [{"type": "Hostname", "value": _load_balancer_hostname(resource)}]}
    return resource_id, outputs


@computes("kubernetes:networking.k8s.io/v1:Ingress")
def ingress(resource: NewResource) -> Computed:
    """The ingress controller publishes its load balancer's address on the Ingress."""
    resource_id, outputs = kubernetes_object(resource)
    outputs["status"] = {"loadBalancer": {"ingress": [{"hostname": _load_balancer_hostname(resource)}]}}
    return resource_id, outputs


@computes("kubernetes:helm.sh/v3:Release")
def helm_release(resource: NewResource) -> Computed:
    """The provider installs the chart with Helm and reports the release it made."""
    name = str(resource.inputs.get("name") or resource.name)
    namespace = str(resource.inputs.get("namespace") or "default")
    return f"{namespace}/{name}", {
        "name": name,
        "status": {
            "name": name,
            "namespace": namespace,
            "chart": resource.inputs.get("chart"),
            "version": resource.inputs.get("version"),
            "status": "deployed",
            "revision": 1,
        },
    }
