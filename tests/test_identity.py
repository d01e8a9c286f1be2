"""One identity, one owner: two resources that would manage the same live object are refused, by the
offline preview before it writes anything (and by the plan diff, tests/test_plan_diff.py), with one line
naming both; and what the identity of each kind of object is, as its API keys it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.sdk_internals import SECRET_SIG, SIG, UNKNOWN
from offline_preview.engine import Registration, Rendering
from offline_preview.identity import Resource, check
from offline_preview.render import ManifestCollisionError, write_manifests
from tests.support.stacks import PROJECT_DIR


def _k8s(type_: str, name: str, namespace: str | None = "prod", urn_name: str | None = None) -> Resource:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    urn = f"urn:pulumi:s::p::{type_}::{urn_name or name}"
    return Resource(urn, type_, {"metadata": metadata}, {})


def _res(type_: str, urn_name: str, **inputs: Any) -> Resource:
    return Resource(f"urn:pulumi:s::p::{type_}::{urn_name}", type_, inputs, {})


CERT = "kubernetes:cert-manager.io/v1:Certificate"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"


def _pairs(*resources: Resource) -> list[tuple[str, str]]:
    return [(c.first.rsplit("::", 1)[1], c.second.rsplit("::", 1)[1]) for c in check(resources).collisions]


@pytest.mark.parametrize(
    ("resources", "pairs"),
    [
        pytest.param(
            (_k8s(CERT, "tls", urn_name="a"), _k8s(CERT, "tls", urn_name="b")), [("a", "b")], id="same-object"
        ),
        # The same object under another API version is still the same object.
        pytest.param(
            (
                _k8s(CERT, "tls", urn_name="a"),
                _k8s("kubernetes:cert-manager.io/v1beta1:Certificate", "tls", urn_name="b"),
            ),
            [("a", "b")],
            id="another-version",
        ),
        pytest.param(
            (_k8s(CERT, "tls", "prod"), _k8s(CERT, "tls", "staging", urn_name="b")), [], id="another-namespace"
        ),
        pytest.param(
            (_k8s(CERT, "tls", urn_name="a"), _k8s("kubernetes:example.io/v1:Certificate", "tls", urn_name="b")),
            [],
            id="another-group",
        ),
        pytest.param(
            (_k8s("kubernetes:core/v1:ConfigMap", "c", urn_name="a"), _k8s("kubernetes:core/v1:Secret", "c")),
            [],
            id="another-kind",
        ),
        # Cluster-scoped: a namespace on the object does not make two of them different.
        pytest.param(
            (
                _k8s("kubernetes:core/v1:Namespace", "prod", None, urn_name="a"),
                _k8s("kubernetes:core/v1:Namespace", "prod", "ignored", urn_name="b"),
            ),
            [("a", "b")],
            id="cluster-scoped",
        ),
        # Without a namespace an object goes to the provider's default one: two such objects are one.
        pytest.param((_k8s(CERT, "t", None, "a"), _k8s(CERT, "t", None, "b")), [("a", "b")], id="default-namespace"),
        # A patch co-manages an object by design.
        pytest.param(
            (_k8s("kubernetes:core/v1:ConfigMap", "c", urn_name="a"), _k8s("kubernetes:core/v1:ConfigMapPatch", "c")),
            [],
            id="patch",
        ),
        pytest.param(
            (
                _res("cloudflare:index/zone:Zone", "a", name="hft-platform.com"),
                _res("cloudflare:index/zone:Zone", "b", name="HFT-platform.com."),
            ),
            [("a", "b")],
            id="zone",
        ),
        pytest.param(
            (
                _res("cloudflare:index/zoneSetting:ZoneSetting", "a", zoneId="z", settingId="ssl"),
                _res("cloudflare:index/zoneSetting:ZoneSetting", "b", zoneId="z", settingId="ssl"),
                _res("cloudflare:index/zoneSetting:ZoneSetting", "c", zoneId="z", settingId="tls_1_3"),
                _res("cloudflare:index/zoneSetting:ZoneSetting", "d", zoneId="other", settingId="ssl"),
            ),
            [("a", "b")],
            id="zone-setting",
        ),
        pytest.param(
            (
                _res("cloudflare:index/ruleset:Ruleset", "a", zoneId="z", kind="zone", phase="http_ratelimit"),
                _res("cloudflare:index/ruleset:Ruleset", "b", zoneId="z", kind="zone", phase="http_ratelimit"),
                _res("cloudflare:index/ruleset:Ruleset", "c", zoneId="z", kind="custom", phase="http_ratelimit"),
                _res(
                    "cloudflare:index/ruleset:Ruleset",
                    "d",
                    zoneId="z",
                    kind="zone",
                    phase="http_request_cache_settings",
                ),
            ),
            [("a", "b")],
            id="entrypoint-ruleset",
        ),
        pytest.param(
            (
                _res(RECORD, "a", zoneId="z", name="www.x.com", type="A"),
                _res(RECORD, "b", zoneId="z", name="www.x.com", type="AAAA"),
                _res(RECORD, "c", zoneId="z", name="api.x.com", type="A"),
            ),
            [],
            id="records-of-other-types-or-names",
        ),
        pytest.param(
            (
                _res(RECORD, "a", zoneId="z", name="www.x.com", type="A"),
                _res(RECORD, "b", zoneId="z", name="www.x.com.", type="a"),
            ),
            [("a", "b")],
            id="record-same-name-and-type",
        ),
        pytest.param(
            (
                _res(RECORD, "a", zoneId="z", name="www.x.com", type="A"),
                _res(RECORD, "b", zoneId="z", name="www.x.com", type="CNAME"),
            ),
            [("a", "b")],
            id="cname-excludes-other-types",
        ),
        pytest.param(
            (
                _res(RECORD, "a", zoneId="z", name="www.x.com", type="CNAME"),
                _res(RECORD, "b", zoneId="z", name="www.x.com", type="AAAA"),
            ),
            [("a", "b")],
            id="cname-first-excludes-other-types",
        ),
        pytest.param(
            (
                _res("aws:s3/bucket:Bucket", "a", bucket="backups"),
                _res("aws:s3/bucketV2:BucketV2", "b", bucket="backups"),
            ),
            [("a", "b")],
            id="bucket",
        ),
        # pulumi-aws 6's V2 configuration resources and 7's are the same configuration of the bucket.
        pytest.param(
            (
                _res("aws:s3/bucketVersioningV2:BucketVersioningV2", "a", bucket="backups"),
                _res("aws:s3/bucketVersioning:BucketVersioning", "b", bucket="backups"),
                _res("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "c", bucket="backups"),
                _res("aws:s3/bucketVersioning:BucketVersioning", "d", bucket="other"),
                _res("aws:s3/bucketObjectv2:BucketObjectv2", "e", bucket="backups", key="x"),
                _res("aws:s3/bucketObjectv2:BucketObjectv2", "f", bucket="backups", key="y"),
            ),
            [("b", "a")],  # in URN order
            id="bucket-configuration",
        ),
    ],
)
def test_two_resources_collide_where_their_api_keys_the_same_object(
    resources: tuple[Resource, ...], pairs: list[tuple[str, str]]
) -> None:
    assert _pairs(*resources) == pairs


def test_components_and_providers_manage_nothing() -> None:
    component = Resource("urn:pulumi:s::p::hft:index:Routing::r", "hft:index:Routing", {}, {}, custom=False)
    assert check([component, component]).collisions == []


def test_an_identity_not_known_yet_is_not_guessed() -> None:
    unknown = _k8s(CERT, UNKNOWN, urn_name="a")
    secret = Resource(
        "urn:pulumi:s::p::aws:s3/bucket:Bucket::b",
        "aws:s3/bucket:Bucket",
        {"bucket": {SIG: SECRET_SIG, "ciphertext": "x"}},
        {},
    )
    result = check([unknown, _k8s(CERT, "tls"), secret])
    assert result.collisions == []
    assert result.undetermined == [unknown.urn, secret.urn]


def test_an_auto_named_object_is_known_by_the_name_the_provider_gave_it() -> None:
    a = Resource(
        "urn:pulumi:s::p::kubernetes:core/v1:ConfigMap::a",
        "kubernetes:core/v1:ConfigMap",
        {"metadata": {"namespace": "n"}},
        {"metadata": {"name": "a-1x2y"}},
    )
    b = _k8s("kubernetes:core/v1:ConfigMap", "a-1x2y", "n", urn_name="b")
    assert _pairs(a, b) == [("a", "b")]


def test_the_line_names_both_resources_and_the_object() -> None:
    [collision] = check(
        [_k8s(CERT, "tls", urn_name="routing-certificate"), _k8s(CERT, "tls", urn_name="routing-2-certificate")]
    ).collisions
    assert collision.line().startswith(
        "kubernetes:cert-manager.io/v1:Certificate routing-2-certificate and "
        "kubernetes:cert-manager.io/v1:Certificate routing-certificate would both manage Certificate prod/tls"
    )


# --- the preview refuses a second app added the obvious way ---------------------------------------

SECOND_APP = """
frontend_2 = FrontendApp(
    "hft-frontend-2",
    FrontendAppArgs(app=app, environment=settings.environment, namespace=baseline.namespace.metadata.name),
)
routes_2 = Routing(
    "routing-2",
    RoutingArgs(
        settings=routing,
        hostnames=app.hostnames,
        target=frontend_2.service_target,
        namespace=settings.namespace,
        endpoints=app.endpoints,
    ),
)
from components.edge_cdn import EdgeCDN, EdgeCDNArgs

EdgeCDN(
    "edge-2",
    EdgeCDNArgs(
        settings=settings.edge, hostnames=app.hostnames, origin=routes_2.address, static_path=routing.static_path
    ),
)
"""


def test_a_second_app_added_the_obvious_way_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.production.yaml", "Pulumi.staging.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    (tmp_path / "__main__.py").write_text((PROJECT_DIR / "__main__.py").read_text() + SECOND_APP)
    for package in ("components", "policies"):
        (tmp_path / package).symlink_to(PROJECT_DIR / package)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "offline_preview",
            "--stack",
            "production",
            "--project-dir",
            str(tmp_path),
            "--out",
            str(out),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert all(line.startswith("error: ") for line in errors), errors
    certificates = [line for line in errors if "would both manage Certificate production/hft-platform-tls" in line]
    assert len(certificates) == 1
    assert (
        "Certificate routing-2-certificate and kubernetes:cert-manager.io/v1:Certificate routing-certificate would"
        in certificates[0]
    )
    zones = [line for line in errors if "would both manage the Cloudflare zone hft-platform.com" in line]
    assert len(zones) == 1
    assert "Zone edge-2-zone and cloudflare:index/zone:Zone edge-zone would" in zones[0]
    assert any("ConfigMap production/frontend-config" in line for line in errors)
    assert not (out / "manifests").exists(), "refused before a manifest is written"


def test_the_manifest_writer_never_overwrites_a_manifest(tmp_path: Path) -> None:
    # Kinds of two API groups with one name and namespace share a file name: the second must not replace the first.
    def registration(type_: str, name: str) -> Registration:
        group_version = type_.split(":")[1]
        inputs = {"apiVersion": group_version, "kind": "Certificate", "metadata": {"name": "tls", "namespace": "prod"}}
        return Registration(
            urn=f"urn:pulumi:s::p::{type_}::{name}", type=type_, name=name, custom=True, parent="", inputs=inputs
        )

    rendering = Rendering(
        "s", "p", [registration(CERT, "a"), registration("kubernetes:example.io/v1:Certificate", "b")]
    )
    with pytest.raises(ManifestCollisionError, match=r"certificate-prod-tls.yaml was already written"):
        write_manifests(rendering, tmp_path / "manifests")
