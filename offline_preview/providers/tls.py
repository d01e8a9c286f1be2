"""pulumi-tls: a generated private key's encodings (placeholders in the right PEM/OpenSSH shape)."""

from __future__ import annotations

from offline_preview.providers import Computed, NewResource, computes, hex_placeholder


def _pem(label: str, resource: NewResource) -> str:
    body = hex_placeholder(resource.seed(label), 64)
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


@computes("tls:index/privateKey:PrivateKey")
def private_key(resource: NewResource) -> Computed:
    return f"{resource.name}-id", {
        "privateKeyPem": _pem("RSA PRIVATE KEY", resource),
        "privateKeyPemPkcs8": _pem("PRIVATE KEY", resource),
        "privateKeyOpenssh": _pem("OPENSSH PRIVATE KEY", resource),
        "publicKeyPem": _pem("PUBLIC KEY", resource),
        "publicKeyOpenssh": "ssh-rsa " + hex_placeholder(resource.seed("openssh"), 64),
        "publicKeyFingerprintMd5": hex_placeholder(resource.seed("md5"), 32),
        "publicKeyFingerprintSha256": "SHA256:" + hex_placeholder(resource.seed("sha256"), 43),
    }


@computes("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert")
def certificate(resource: NewResource) -> Computed:
    return f"{resource.name}-id", {
        "certPem": _pem("CERTIFICATE", resource),
        "validityStartTime": "2026-01-01T00:00:00Z",
        "validityEndTime": "2027-01-01T00:00:00Z",
        "readyForRenewal": False,
    }


@computes("tls:index/certRequest:CertRequest")
def certificate_request(resource: NewResource) -> Computed:
    return f"{resource.name}-id", {"certRequestPem": _pem("CERTIFICATE REQUEST", resource)}
