"""pulumi-kubernetes: object names and ids.

The provider names an object `<logical name>-<8 random characters>` when the program sets no
`metadata.name`; offline the suffix derives from the URN, so previews are stable. The id of a
namespaced object is `<namespace>/<name>`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from offline_preview.providers import Computed, NewResource, computes_package


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
