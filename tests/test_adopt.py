"""`make adopt`: the guide's live system (tests/support/live_system.py) adopted by each stack, offline.

Each test changes the export the way a real system drifts and checks the one line that names it; the import file's
entries are resolved to URNs as the Pulumi CLI resolves them (pkg/cmd/pulumi/operations/import.go, parseImportFile:
`resource.NewURN(stack, project, parentType, type, logicalName)`, the parent found by its `name` in the file).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from offline_preview import adopt as adopt_module
from offline_preview.adopt import Adoption, Program, adopt_rendered, render_program
from offline_preview.engine import ProgramError
from offline_preview.live import S3_CALLS, read_export
from offline_preview.plan_diff import StackState, diff_states, with_ignored_changes
from offline_preview.urns import engine_urn
from tests.support import live_system, stacks

pytestmark = pytest.mark.xdist_group("adopt")
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def programs() -> dict[str, Program]:
    key = secrets.token_bytes(32)
    return {stack: render_program(PROJECT, stack, key) for stack in ("production", "staging")}


def run(programs: dict[str, Program], tmp_path: Path, stack: str = "production", **variant: Any) -> Adoption:
    return adopt_rendered(programs[stack], read_export(live_system.write(tmp_path, stack, **variant)))


def lines_about(items: list[str], label: str) -> list[str]:
    return [line for line in items if line.startswith(label + ":")]


def edit(kind: str, change: Callable[[dict[str, Any]], None]) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    def apply(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for obj in objects:
            if obj["kind"] == kind:
                change(obj)
        return objects

    return apply


def no_generated_secrets(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A live Secret holding only what the stack gives from config (the Sentry DSN): nothing generated over it."""
    for obj in objects:
        if obj["kind"] == "Secret":
            obj["data"] = {"SENTRY_DSN": obj["data"]["SENTRY_DSN"]}
    return objects


# --- the import file --------------------------------------------------------------------------------------


def resolve(document: dict[str, Any], stack: str, project: str) -> dict[str, str]:
    """name -> URN, as `pulumi import --file` computes them."""
    entries = {entry["name"]: entry for entry in document["resources"]}
    assert len(entries) == len(document["resources"]), "names in an import file must be unique"
    urns: dict[str, str] = {}

    def urn_of(name: str) -> str:
        if name not in urns:
            entry = entries[name]
            parent = urn_of(entry["parent"]) if entry.get("parent") else ""
            urns[name] = engine_urn(stack, project, parent, entry["type"], entry.get("logicalName") or name)
        return urns[name]

    for name in entries:
        urn_of(name)
    return urns


@pytest.mark.parametrize("stack", ["production", "staging"])
def test_every_import_entry_lands_on_a_urn_the_program_declares(
    programs: dict[str, Program], tmp_path: Path, stack: str
) -> None:
    result = run(programs, tmp_path, stack)
    declared = {r["urn"]: r for r in programs[stack].state.resources}
    urns = resolve(result.imports, stack, programs[stack].project)
    assert urns, "nothing imported"
    for entry in result.imports["resources"]:
        urn = urns[entry["name"]]
        assert urn in declared, f"{entry['name']} resolves to {urn}, which the program does not declare"
        assert declared[urn]["type"] == entry["type"]
        custom = declared[urn].get("custom", False)
        assert entry.get("component", False) is (not custom)
        assert ("id" in entry) is custom
    imported = {row.urn for row in result.rows if row.action == "import"}
    assert imported == {urns[e["name"]] for e in result.imports["resources"] if "id" in e}


def test_import_ids_are_in_each_providers_documented_format(programs: dict[str, Program], tmp_path: Path) -> None:
    result = run(programs, tmp_path)
    ids = {(e["type"], e["id"]) for e in result.imports["resources"] if "id" in e}
    zone = live_system.ZONE_ID
    assert ("kubernetes:core/v1:Namespace", "production") in ids  # cluster-scoped: <name>
    assert ("kubernetes:apps/v1:Deployment", "production/hft-frontend") in ids  # <namespace>/<name>
    assert ("kubernetes:cert-manager.io/v1:Certificate", "production/hft-platform-tls") in ids
    assert ("cloudflare:index/zone:Zone", zone) in ids
    assert ("cloudflare:index/zoneSetting:ZoneSetting", f"{zone}/ssl") in ids
    assert ("cloudflare:index/zoneSetting:ZoneSetting", f"{zone}/tls_1_3") in ids
    assert ("cloudflare:index/dnsRecord:DnsRecord", f"{zone}/{1:032x}") in ids
    assert ("aws:s3/bucket:Bucket", live_system.BUCKET) in ids
    assert ("aws:s3/bucketVersioning:BucketVersioning", live_system.BUCKET) in ids
    # A configuration the bucket does not have live is created, not imported (an import of nothing fails).
    assert not any(t == "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration" for t, _ in ids)


def test_every_live_object_is_accounted_for_once(programs: dict[str, Program], tmp_path: Path) -> None:
    result = run(programs, tmp_path)
    kube = [*live_system.kubernetes_objects("production"), live_system.cluster_issuer()]
    rows = {(r.kind, r.namespace, r.name) for r in result.rows if r.source == "kubernetes"}
    expected = {
        (
            o["kind"],
            "" if o["kind"] in ("Namespace", "ClusterIssuer") else o["metadata"]["namespace"],
            o["metadata"]["name"],
        )
        for o in kube
    }
    assert rows == expected
    assert len([r for r in result.rows if r.source == "kubernetes"]) == len(kube)
    assert {r.name for r in result.rows if r.source == "cloudflare"} == {r["name"] for r in live_system.dns_records()}
    assert len([r for r in result.rows if r.source == "cloudflare"]) == len(live_system.dns_records())
    terraform = {(r.kind, r.name.split(".")[0]) for r in result.rows if r.source == "terraform"}
    assert terraform == {(r["type"], r["name"]) for r in live_system.terraform_state()["resources"]}
    actions = {(r.kind, r.name): r.action for r in result.rows}
    assert actions[("Ingress", "hft-frontend-ingress")] == "retire"
    assert actions[("NetworkPolicy", "hft-frontend-netpol")] == "retire"
    assert actions[("Role", "hft-frontend-role")] == "retire"
    assert actions[("RoleBinding", "hft-frontend-rolebinding")] == "retire"
    assert actions[("ReplicaSet", "hft-frontend-7d9f8b6c5d")] == "unmanaged"
    assert actions[("cloudflare_page_rule", "cache_static_assets")] == "retire"
    assert actions[("cloudflare_rate_limit", "api_rate_limit")] == "retire"
    assert actions[("DnsRecord", "api.hft-platform.com")] == "unmanaged"


def test_retirements_orphan_the_ingress_and_never_destroy_what_pulumi_takes(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    result = run(programs, tmp_path)
    commands = {(r.kind, r.name): r.commands for r in result.rows}
    assert commands[("Ingress", "hft-frontend-ingress")] == [
        "kubectl delete ingress hft-frontend-ingress -n production --cascade=orphan"
    ]
    assert commands[("cloudflare_zone", "hft_platform")] == ["terraform state rm cloudflare_zone.hft_platform"]
    assert commands[("cloudflare_zone_settings_override", "hft_platform")] == [
        "terraform state rm cloudflare_zone_settings_override.hft_platform"
    ]
    assert commands[("cloudflare_page_rule", "api_no_cache")] == [
        "terraform destroy -target=cloudflare_page_rule.api_no_cache"
    ]
    every = [c for cs in commands.values() for c in cs]
    assert not any("destroy" in c and ("cloudflare_zone." in c or "settings_override" in c) for c in every)


# --- what blocks, what warns ----------------------------------------------------------------------------


def test_the_guides_system_adopts_with_only_the_blockers_no_file_can_answer(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    """The stack files pin what the guide fixed; what is left are the live secret values (config secrets) and the
    ClusterIssuer's Cloudflare token, which only a person can give."""
    result = run(programs, tmp_path)
    assert sorted(result.blockers) == sorted(
        lines_about(result.blockers, "Secret production/frontend-secrets")
        + lines_about(result.blockers, "ClusterIssuer letsencrypt-prod")
    )
    secret_lines = lines_about(result.blockers, "Secret production/frontend-secrets")
    assert len(secret_lines) == 2
    assert any("app.secretValues.NEXTAUTH_SECRET" in line for line in secret_lines)
    assert any("app.secretValues.JWT_SIGNING_PRIVATE_KEY" in line for line in secret_lines)
    issuer = lines_about(result.blockers, "ClusterIssuer letsencrypt-prod")
    assert len(issuer) == 1
    assert "routing.tls.clusterIssuer.create" in issuer[0]
    ops = {c.urn: c.op for c in result.diff.resources}
    assert not [urn for urn, op in ops.items() if op in ("replace", "delete")]
    # What `pulumi import` leaves out of the inputs (status, the server's bookkeeping) is no change of the plan.
    paths = [c.path for change in result.diff.resources for c in change.changes]
    bookkeeping = (
        "status",
        "metadata.uid",
        "metadata.resourceVersion",
        "metadata.managedFields",
        "metadata.generation",
    )
    assert not [p for p in paths if p.startswith(bookkeeping)]
    assert not [p for p in paths if "last-applied-configuration" in p]


def test_a_system_whose_answers_are_given_adopts_with_exit_0(programs: dict[str, Program], tmp_path: Path) -> None:
    def answered(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        no_generated_secrets(objects)
        return objects

    live = live_system.write(tmp_path, "production", objects=answered)
    issuer = live_system.cluster_issuer()
    issuer["spec"]["acme"]["solvers"] = [{"dns01": {"cloudflare": {"apiTokenSecretRef": {"name": "t", "key": "k"}}}}]
    (live / "kubernetes" / "cluster.json").write_text(
        json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": [live_system.kubernetes_objects("production")[0], issuer]}
        )
    )
    result = adopt_rendered(programs["production"], read_export(live))
    assert result.blockers == []


def test_a_drifted_selector_is_a_blocker_naming_the_deployment_and_the_setting(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    def drift(obj: dict[str, Any]) -> None:
        obj["spec"]["selector"]["matchLabels"] = {"app": "hft-frontend", "tier": "web"}
        obj["spec"]["template"]["metadata"]["labels"]["tier"] = "web"

    result = run(programs, tmp_path, objects=edit("Deployment", drift))
    lines = lines_about(result.blockers, "Deployment production/hft-frontend")
    assert len(lines) == 1
    assert "replaces it (spec.selector differs" in lines[0]
    assert "app.selectorLabels" in lines[0]


def test_a_certificate_from_another_issuer_with_another_key_is_a_reissue_warning(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    def other(obj: dict[str, Any]) -> None:
        obj["spec"]["issuerRef"]["name"] = "letsencrypt-staging"
        obj["spec"]["privateKey"] = {"algorithm": "ECDSA", "size": 384}

    result = run(programs, tmp_path, objects=edit("Certificate", other))
    reissue = [w for w in lines_about(result.warnings, "Certificate production/hft-platform-tls") if "reissues" in w]
    assert len(reissue) == 1
    assert "issuer" in reissue[0]
    assert "ECDSA/384" in reissue[0]
    plain = run(programs, tmp_path / "plain")
    assert not [w for w in plain.warnings if "reissues" in w], "the guide's own certificate needs no reissue"


def test_the_certificate_owned_by_the_ingress_warns_with_the_orphaning_command(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    result = run(programs, tmp_path)
    lines = lines_about(result.warnings, "Certificate production/hft-platform-tls")
    assert any("--cascade=orphan" in w and "hft-frontend-ingress" in w for w in lines)
    assert any("cert-manager.io/cluster-issuer-" in w for w in lines)


def test_an_object_owned_by_a_retired_object_that_is_not_orphaned_blocks(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    def owned(obj: dict[str, Any]) -> None:
        obj["metadata"]["ownerReferences"] = [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "name": "hft-frontend-role", "uid": "x"}
        ]

    result = run(programs, tmp_path, objects=edit("ServiceAccount", owned))
    lines = lines_about(result.blockers, "ServiceAccount production/hft-frontend-sa")
    assert len(lines) == 1
    assert "ownerReference" in lines[0]


def test_a_bucket_with_its_own_lifecycle_warns_which_rules_go(programs: dict[str, Program], tmp_path: Path) -> None:
    calls = live_system.s3_calls("production")
    calls["get-bucket-lifecycle-configuration"] = {
        "Rules": [
            {
                "ID": "expire-old-tarballs",
                "Status": "Enabled",
                "Filter": {"Prefix": "frontend/"},
                "Expiration": {"Days": 90},
            }
        ]
    }
    result = run(programs, tmp_path, s3=calls)
    lines = lines_about(result.warnings, f"BucketLifecycleConfiguration {live_system.BUCKET}")
    assert len(lines) == 1
    assert "expire-old-tarballs" in lines[0]


def test_a_lifecycle_that_would_expire_existing_objects_blocks(programs: dict[str, Program], tmp_path: Path) -> None:
    program = programs["production"]
    lifecycle = next(r for r in program.state.resources if r["type"].endswith("BucketLifecycleConfiguration"))
    prefix = lifecycle["inputs"]["rules"][0]["filter"].get("prefix", "")
    assert prefix, "the lifecycle is scoped to Velero's prefix"
    assert prefix.endswith("/"), "a prefix without its slash also matches production-old/"
    calls = live_system.s3_calls("production")
    calls["list-objects-v2"]["Contents"].append({"Key": f"{prefix}backups/old/velero-backup.json", "Size": 1})
    calls["list-objects-v2"]["Contents"].append({"Key": f"{prefix.rstrip('/')}-archive/keep.tar.gz", "Size": 1})
    assert run(programs, tmp_path / "ok", s3=calls).blockers == run(programs, tmp_path / "plain").blockers
    # A lifecycle not scoped to Velero's prefix (the whole bucket) would expire the guide's tarballs: it blocks.
    unscoped = copy.deepcopy(program)
    rule = next(r for r in unscoped.state.resources if r["urn"] == lifecycle["urn"])["inputs"]["rules"][0]
    rule["filter"] = {}
    live = read_export(live_system.write(tmp_path / "unscoped", "production"))
    lines = lines_about(adopt_rendered(unscoped, live).blockers, f"Bucket {live_system.BUCKET}")
    assert len(lines) == 1
    assert "5 existing object(s)" in lines[0]
    assert "frontend/hft-frontend-backup" in lines[0]


def test_object_lock_is_never_a_bucket_replace_either_way(programs: dict[str, Program], tmp_path: Path) -> None:
    """The bucket's objectLockEnabled would replace it (terraform-provider-aws ForceNew): the program enables Object
    Lock through BucketObjectLockConfiguration instead, on a live bucket too."""
    calls = live_system.s3_calls("production")
    calls["get-object-lock-configuration"] = {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}
    live_lock = run(programs, tmp_path / "live", s3=calls)
    assert not [c for c in live_lock.diff.resources if c.op == "replace" and c.type == "aws:s3/bucket:Bucket"]
    lines = lines_about(live_lock.warnings, f"Bucket {live_system.BUCKET}")
    assert len(lines) == 1
    assert "backup.objectLock" in lines[0]
    plain = run(programs, tmp_path / "plain")
    assert not lines_about(plain.warnings, f"Bucket {live_system.BUCKET}")
    assert not [c for c in plain.diff.resources if c.op == "replace" and c.type == "aws:s3/bucket:Bucket"]


def test_a_bucket_in_another_region_blocks(programs: dict[str, Program], tmp_path: Path) -> None:
    calls = live_system.s3_calls("production")
    calls["get-bucket-location"] = {"LocationConstraint": "eu-west-1"}
    result = run(programs, tmp_path, s3=calls)
    lines = lines_about(result.blockers, f"Bucket {live_system.BUCKET}")
    assert len(lines) == 1
    assert "eu-west-1" in lines[0]
    assert "backup.region" in lines[0]


def test_dns_pointing_at_a_service_load_balancer_the_up_deletes_blocks(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    records = live_system.dns_records()
    records[0]["content"] = live_system.SERVICE_LB
    result = run(programs, tmp_path, dns=live_system.dns_response(records))
    lines = lines_about(result.blockers, "Service production/hft-frontend-service")
    assert len(lines) == 1
    assert "hft-platform.com" in lines[0]
    plain = run(programs, tmp_path / "plain")
    assert not lines_about(plain.blockers, "Service production/hft-frontend-service")
    assert any("becomes ClusterIP" in w for w in lines_about(plain.warnings, "Service production/hft-frontend-service"))


def test_a_live_record_of_another_type_on_an_app_host_blocks(programs: dict[str, Program], tmp_path: Path) -> None:
    records = live_system.dns_records()
    records[1] = {**records[1], "type": "A", "content": "203.0.113.10"}
    result = run(programs, tmp_path, dns=live_system.dns_response(records))
    lines = lines_about(result.blockers, "DnsRecord www.hft-platform.com")
    assert len(lines) == 1
    assert "CNAME" in lines[0]


def test_a_stack_naming_another_zone_than_the_live_records_blocks(programs: dict[str, Program], tmp_path: Path) -> None:
    """A stack that does not own the zone names it by edge.zoneId: a wrong id would make its records in no zone the
    live records are in (the import finds nothing, the create is refused)."""
    result = run(programs, tmp_path / "other", "staging")
    lines = lines_about(result.blockers, "DnsRecord staging.hft-platform.com")
    assert len(lines) == 1
    assert f"set edge.zoneId: {live_system.ZONE_ID}" in lines[0]
    stack_zone = programs["staging"].setting("edge", "zoneId")
    records = [{**r, "zone_id": stack_zone} for r in live_system.dns_records()]
    same = run(programs, tmp_path / "same", "staging", dns=live_system.dns_response(records))
    assert not [line for line in lines_about(same.blockers, "DnsRecord staging.hft-platform.com") if "zoneId" in line]
    ids = {(e["type"], e.get("id")) for e in same.imports["resources"]}
    assert ("cloudflare:index/dnsRecord:DnsRecord", f"{stack_zone}/{3:032x}") in ids


def test_extra_objects_of_unknown_kinds_are_left_alone_and_said(programs: dict[str, Program], tmp_path: Path) -> None:
    def extra(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        widget = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "production"},
        }
        return [*objects, widget]

    result = run(programs, tmp_path, objects=extra)
    row = next(r for r in result.rows if r.kind == "Widget")
    assert row.action == "unmanaged"
    assert row.warnings
    assert not row.blockers


def test_a_paginated_dns_export_reads_like_one_response(programs: dict[str, Program], tmp_path: Path) -> None:
    records = live_system.dns_records()
    pages = [
        live_system.dns_response(records[:3], page=1, per_page=3, total=len(records)),
        live_system.dns_response(records[3:], page=2, per_page=3, total=len(records)),
    ]
    paged = run(programs, tmp_path / "paged", dns=pages)
    whole = run(programs, tmp_path / "whole")
    assert paged.imports == whole.imports
    assert [r.document() for r in paged.rows] == [r.document() for r in whole.rows]


def test_the_plan_is_the_diff_engines_with_ignore_changes_honoured() -> None:
    old = {"content": "live.example.net", "proxied": True}
    new = {"content": "gateway.example.net", "proxied": True}
    assert with_ignored_changes(old, new, ["content"]) == old
    assert with_ignored_changes({}, new, ["content"]) == new  # nothing to keep: the new value stands
    urn = "urn:pulumi:s::p::cloudflare:index/dnsRecord:DnsRecord::r"
    stack = {"urn": "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", "type": "pulumi:pulumi:Stack", "inputs": {}}
    base = StackState("s", [stack, {"urn": urn, "type": "cloudflare:index/dnsRecord:DnsRecord", "inputs": old}])
    head = {"urn": urn, "type": "cloudflare:index/dnsRecord:DnsRecord", "inputs": new}
    ignoring = StackState("s", [stack, {**head, "ignoreChanges": ["content"]}])
    moving = StackState("s", [stack, head])
    assert [c.op for c in diff_states(base, ignoring, b"k").resources] == ["same"]
    assert [c.op for c in diff_states(base, moving, b"k").resources] == ["update"]


# --- input and output -----------------------------------------------------------------------------------


def test_no_secret_value_leaves_the_adoption(programs: dict[str, Program], tmp_path: Path) -> None:
    live = live_system.write(tmp_path, "production")
    out = tmp_path / "out"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "offline_preview.adopt",
            "--stack",
            "production",
            "--live",
            str(live),
            "--out",
            str(out),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    texts = [completed.stdout, completed.stderr] + [p.read_text() for p in sorted(out.iterdir())]
    assert len(texts) == 5
    for value in live_system.SECRET_VALUES.values():
        for form in (
            value,
            base64.b64encode(value.encode()).decode(),
            value.splitlines()[1] if "\n" in value else value,
        ):
            assert not any(form in text for text in texts), "a live secret value in the adoption's output"
    assert "blocker: Secret production/frontend-secrets" in completed.stderr


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ({"terraform": {"version": 3, "serial": 1, "modules": []}}, "terraform.tfstate: state format 3, expected 4"),
        (
            {"raw": {"kubernetes/production.json": '{"kind": "List", "items": [\n'}},
            "kubernetes/production.json:2:1: not valid JSON",
        ),
        (
            {"dns": live_system.dns_response(live_system.dns_records()[:2], total=6)},
            "dns_records.json: holds 2 of the zone's 6 records",
        ),
        (
            {"raw": {"aws/s3/hft-platform-backups/get-bucket-acl.json": "{}"}},
            "get-bucket-acl.json: not an `aws s3api` call",
        ),
    ],
)
def test_unusable_input_exits_2_with_one_line_naming_the_file(
    tmp_path: Path, variant: dict[str, Any], message: str
) -> None:
    live = live_system.write(tmp_path, "production", **variant)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "offline_preview.adopt",
            "--stack",
            "production",
            "--live",
            str(live),
            "--out",
            str(tmp_path / "o"),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    error_lines = completed.stderr.strip().splitlines()
    assert len(error_lines) == 1, completed.stderr
    assert message in error_lines[0]
    assert not (tmp_path / "o").exists(), "nothing is written from an unusable export"


# --- the runbook's export is what these tests read ------------------------------------------------------------


def export_block() -> str:
    text = (PROJECT / "docs" / "adoption.md").read_text()
    return text.split("**1. Export**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_documented_export_writes_the_files_make_adopt_reads(tmp_path: Path) -> None:
    block = export_block()
    written = set()
    for target in re.findall(r'> "([^"]+)"', block):
        path = target.replace("$S3", "$LIVE/aws/s3/$BUCKET").replace("$NS", "production")
        path = path.replace("$BUCKET", live_system.BUCKET)
        assert path.startswith("$LIVE/"), target
        written.add(path.removeprefix("$LIVE/"))
    fixture = live_system.write(tmp_path, "production")
    read = {str(p.relative_to(fixture)) for p in fixture.rglob("*.json")} | {"terraform.tfstate"}
    assert read <= written, f"the tests read files the documented export does not write: {sorted(read - written)}"
    s3 = {Path(p).stem for p in written if p.startswith("aws/s3/")}
    assert s3 == set(S3_CALLS)


def test_the_documented_export_covers_every_namespaced_kind_the_program_manages(programs: dict[str, Program]) -> None:
    """A live object of a kind the export leaves out is not seen, and the first up fails on it (AlreadyExists)."""
    command = next(line for line in export_block().splitlines() if line.startswith("kubectl get configmaps"))
    exported = {kind.split(".", 1)[0] for kind in command.split()[2].split(",")}
    plural = {"Ingress": "ingresses", "NetworkPolicy": "networkpolicies", "PodDisruptionBudget": "poddisruptionbudgets"}
    exportable = ("core", "apps", "autoscaling", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
                  "cert-manager.io", "monitoring.coreos.com")  # fmt: skip
    for resource in programs["production"].resources():
        _, module, kind = resource["type"].split(":", 2)
        namespace = resource.get("inputs", {}).get("metadata", {}).get("namespace")
        if namespace != "production" or module.split("/", 1)[0] not in exportable:
            continue
        name = plural.get(kind, kind.lower() + "s")
        assert name in exported, f"{kind} objects in production are not in the documented export"


def test_two_resources_for_one_live_object_are_refused_before_adopting(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    """The adoption shares the preview's collision check: which of two resources would import an object is not
    defined, so it is refused with the same one line."""
    program = copy.deepcopy(programs["production"])
    deployment = next(r for r in program.state.resources if r["type"] == "kubernetes:apps/v1:Deployment")
    program.state.resources.append({**copy.deepcopy(deployment), "urn": deployment["urn"] + "-twin"})
    with pytest.raises(ProgramError, match=r"would both manage Deployment production/hft-frontend"):
        adopt_rendered(program, read_export(live_system.write(tmp_path, "production")))


def test_an_internal_error_exits_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(*_: Any) -> Adoption:
        raise KeyError("spec")

    monkeypatch.setattr(adopt_module, "adopt", broken)
    live = live_system.write(tmp_path, "production")
    assert adopt_module.main(["--stack", "production", "--live", str(live), "--out", str(tmp_path / "o")]) == 3


def test_a_stack_that_says_to_rotate_turns_the_secret_blockers_into_warnings(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    program = copy.deepcopy(programs["production"])
    key = f"{program.project}:app"
    app = (
        json.loads(program.config_values[key])
        if isinstance(program.config_values[key], str)
        else program.config_values[key]
    )
    program.config_values = {**program.config_values, key: json.dumps({**app, "secretRotation": 2})}
    live = read_export(live_system.write(tmp_path, "production"))
    rotating = adopt_rendered(program, live)
    generated = [w for w in lines_about(rotating.warnings, "Secret production/frontend-secrets") if "generated" in w]
    assert len(generated) == 2
    assert not [b for b in lines_about(rotating.blockers, "Secret production/frontend-secrets") if "generated" in b]


def test_without_the_mutable_flags_the_guides_configmap_and_secret_would_be_replaced(
    programs: dict[str, Program], tmp_path: Path
) -> None:
    """The stack files' kubernetes:enableConfigMapMutable / enableSecretMutable turn the first up's data change
    into an update; without them pulumi-kubernetes replaces, and with a pinned name deletes first."""
    program = copy.deepcopy(programs["production"])
    assert program.state.provider_config["kubernetes:enableConfigMapMutable"] == "true"
    for key in ("kubernetes:enableConfigMapMutable", "kubernetes:enableSecretMutable"):
        program.state.provider_config.pop(key)
    result = adopt_rendered(program, read_export(live_system.write(tmp_path, "production")))
    (config_map,) = lines_about(result.blockers, "ConfigMap production/frontend-config")
    assert "replaces it (data differs" in config_map
    assert "kubernetes:enableConfigMapMutable" in config_map
    replaced = [b for b in lines_about(result.blockers, "Secret production/frontend-secrets") if "replaces it" in b]
    assert len(replaced) == 1
    assert "kubernetes:enableSecretMutable" in replaced[0]
    with_flags = run(programs, tmp_path / "flags")
    assert not lines_about(with_flags.blockers, "ConfigMap production/frontend-config")
    ops = {c.urn.rsplit("::", 1)[-1]: c.op for c in with_flags.diff.resources}
    assert ops["hft-frontend-config"] == "update"


def test_live_secret_values_given_as_config_secrets_answer_the_secret_blockers(tmp_path: Path) -> None:
    """Phase 2's `pulumi config set --secret --path app.secretValues.<KEY>`: the stack file then holds ciphertext,
    which the offline preview cannot read; the program no longer generates those keys."""
    config = stacks.stack_values("production")
    config["hft-frontend:app"]["secretValues"] = {
        "NEXTAUTH_SECRET": {"secure": "v1:ZmFrZS1jaXBoZXJ0ZXh0"},
        "JWT_SIGNING_PRIVATE_KEY": {"secure": "v1:YW5vdGhlci1vbmU="},
    }
    (tmp_path / "project").mkdir()
    project = stacks.write_project(tmp_path / "project", "production", config)
    program = render_program(project, "production", secrets.token_bytes(32))
    result = adopt_rendered(program, read_export(live_system.write(tmp_path, "production")))
    assert not lines_about(result.blockers, "Secret production/frontend-secrets")
    assert not [r for r in program.state.resources if r["type"] == "random:index/randomPassword:RandomPassword"]
