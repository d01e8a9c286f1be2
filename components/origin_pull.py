"""The zone's own Authenticated Origin Pulls certificates: a CA only this stack holds, and the client certificate it
signs, which Cloudflare presents to the origin for this zone alone (docs/origin-lock.md).

Cloudflare's shared origin-pull certificate is presented for every zone of every customer, so an origin that trusts
it admits anyone who points a Cloudflare zone at it; a zone-level certificate of our own CA does not. The keys never
leave the state (Pulumi secrets); the client key goes to Cloudflare (cloudflare.AuthenticatedOriginPullsCertificate,
EdgeCDN), the CA certificate to the Gateway's client validation (Routing).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_tls as tls

from components import naming

CA_VALIDITY_HOURS = 10 * 365 * 24
# The client certificate is renewed by the first `pulumi up` in its last 30 days (pulumi-tls early_renewal_hours:
# "the resource will consider the certificate to have expired" then): a deploy a month keeps it valid.
CLIENT_VALIDITY_HOURS = 365 * 24
CLIENT_EARLY_RENEWAL_HOURS = 30 * 24
CA_USES = ("cert_signing", "crl_signing", "digital_signature")
CLIENT_USES = ("client_auth", "digital_signature", "key_encipherment")


def subject(common_name: str) -> Any:
    """A certificate's subject (SelfSignedCertSubjectArgsDict and CertRequestSubjectArgsDict alike)."""
    return {"common_name": common_name, "organization": "hft-frontend origin pull"}


class OriginPullCertificates(pulumi.ComponentResource):
    """The CA and its client certificate for one zone."""

    ca_cert_pem: pulumi.Output[str]
    client_cert_pem: pulumi.Output[str]
    client_key_pem: pulumi.Output[str]

    def __init__(self, name: str, zone: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:OriginPullCertificates", name, None, opts)

        def child(suffix: str, **options: Any) -> tuple[str, pulumi.ResourceOptions]:
            return naming.child(self, name, suffix, **options)

        child_name, child_opts = child("ca-key")
        ca_key = tls.PrivateKey(child_name, algorithm="ECDSA", ecdsa_curve="P256", opts=child_opts)
        child_name, child_opts = child("ca")
        ca = tls.SelfSignedCert(
            child_name,
            private_key_pem=ca_key.private_key_pem,
            subject=subject(f"{zone} origin pull CA"),
            is_ca_certificate=True,
            validity_period_hours=CA_VALIDITY_HOURS,
            allowed_uses=list(CA_USES),
            opts=child_opts,
        )
        child_name, child_opts = child("client-key")
        client_key = tls.PrivateKey(child_name, algorithm="ECDSA", ecdsa_curve="P256", opts=child_opts)
        child_name, child_opts = child("client-request")
        request = tls.CertRequest(
            child_name,
            private_key_pem=client_key.private_key_pem,
            subject=subject(f"{zone} origin pull"),
            opts=child_opts,
        )
        child_name, child_opts = child("client")
        client = tls.LocallySignedCert(
            child_name,
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=CLIENT_VALIDITY_HOURS,
            early_renewal_hours=CLIENT_EARLY_RENEWAL_HOURS,
            allowed_uses=list(CLIENT_USES),
            opts=child_opts,
        )
        self.ca_cert_pem = ca.cert_pem
        self.client_cert_pem = client.cert_pem
        self.client_key_pem = pulumi.Output.secret(client_key.private_key_pem)
        self.register_outputs({"caCertPem": self.ca_cert_pem, "clientCertPem": self.client_cert_pem})
