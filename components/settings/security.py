"""`security`: the namespace's baseline (SecurityBaseline): NetworkPolicies, RBAC and quotas."""

from __future__ import annotations

from pydantic import Field

from components.settings.base import CidrBlock, DnsLabel, _Model


class BackendApi(_Model):
    namespace: DnsLabel = "api-backend"
    port: int = Field(default=8080, ge=1, le=65535)


class SecuritySettings(_Model):
    """The namespace's baseline: NetworkPolicies, RBAC and quotas."""

    dns_port: int = Field(default=53, ge=1, le=65535)
    https_port: int = Field(default=443, ge=1, le=65535)
    # Egress to HTTPS goes anywhere but these (the cloud metadata endpoint hands out credentials).
    egress_denied_cidrs: tuple[CidrBlock, ...] = Field(default=("169.254.169.254/32",), strict=False)
    backend_api: BackendApi = BackendApi()
    # The app needs no Kubernetes API access. True keeps the seed's Role, narrowed to `get` on the
    # app's own ConfigMap and Secret.
    api_read_own_config: bool = False
    # Kubernetes names of the namespace's ResourceQuota and LimitRange (default: from the
    # SecurityBaseline's name); a stack whose live objects carry other names pins them here.
    resource_quota_name: DnsLabel | None = None
    limit_range_name: DnsLabel | None = None
