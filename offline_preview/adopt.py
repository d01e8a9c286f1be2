"""`make adopt STACK=<stack> LIVE=<dir>`: what the first `pulumi up` does to the live system, offline.

The program is rendered as the offline preview renders it; each live object the export holds (offline_preview/live.py)
is matched to the resource that would manage it by the same identities the collision check uses
(offline_preview/identity.py), so "the program manages this object" means one thing everywhere. Matched objects are
imported (`import.json`, `pulumi import --file`), and the first `up` is planned against their live values with the
plan diff's own engine and replace rules (offline_preview/plan_diff.py): a replace or anything that resets what
the live system holds is a blocker; what changes in place and matters is a warning; the guide's objects the program
supersedes are retired, in the runbook's order (docs/adoption.md).

How the live values stand in for the old inputs: `pulumi import` of a Kubernetes object records the whole live
object (but its status and the server's bookkeeping) as its inputs (pulumi-kubernetes provider/pkg/provider/
provider.go, Read, at commit 94977969d64112b04e19945818a7d5d5f38f631d), and the first up's Diff compares those with
the program's inputs as a JSON merge patch: a field the program leaves out shows as a delete, and on a replacing
path (a Service's `spec.clusterIP`, a Deployment's `spec.selector`) it is a replace. Server-side apply then leaves
the fields other managers own in place, so most deletes change nothing on the object; the replaces are real.
The bridged providers (Cloudflare, AWS) diff only what the program sets: there the live values are compared on
the program's paths.

Exit codes: 0 adoptable, 1 blockers, 2 unusable input (one line naming the file), 3 internal error.
"""

from __future__ import annotations

import argparse
import base64
import copy
import fnmatch
import json
import secrets
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from offline_preview import identity
from offline_preview.engine import ProgramError, Registration, run_program
from offline_preview.live import ExportError, LiveExport, TerraformResource, read_export
from offline_preview.plan_diff import StackDiff, StackState, change_lines, diff_states
from offline_preview.plan_worker import SECRET_SIG, SIG, rendered_state, secret_digest
from offline_preview.stack_config import SECRET_PLACEHOLDER, StackConfigError, load_stack_config
from offline_preview.urns import STACK_TYPE, urn_name

EXIT_OK, EXIT_BLOCKED, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
PROJECT_DIR = Path(__file__).resolve().parent.parent

# Objects controllers make from the ones people write: they come and go with their owners, nothing adopts them.
CONTROLLER_MADE = frozenset(
    {"Pod", "ReplicaSet", "ControllerRevision", "Endpoints", "EndpointSlice", "Event", "Lease", "CertificateRequest",
     "Order", "Challenge"}
)  # fmt: skip
# The guide's objects the program supersedes (Gateway routes, the baseline's policies, the program's own RBAC):
# removed after the cutover, in the runbook's order.
RETIRED_KINDS = frozenset({"Ingress", "NetworkPolicy", "Role", "RoleBinding", "PodSecurityPolicy"})
# What each retirement runs; `--cascade=orphan` keeps what the Ingress owns (cert-manager's Certificate).
ORPHANING_RETIREMENT = {"Ingress"}
# Terraform's objects the rulesets replace: deleted once the rulesets are live. Everything else Terraform holds
# that the program imports leaves Terraform's state with `terraform state rm`, never a destroy (destroying
# cloudflare_zone deletes the zone; destroying cloudflare_zone_settings_override restores the settings it found).
TERRAFORM_RETIRED = ("cloudflare_page_rule", "cloudflare_rate_limit")
# Terraform's zone setting attribute names that differ from the API's setting ids.
TERRAFORM_SETTING_IDS = {"zero_rtt": "0rtt"}
# S3 configuration resources and the `aws s3api` call that shows each one live.
S3_CONFIG_CALLS = {
    "BucketVersioning": "get-bucket-versioning",
    "BucketServerSideEncryptionConfiguration": "get-bucket-encryption",
    "BucketLifecycleConfiguration": "get-bucket-lifecycle-configuration",
    "BucketPolicy": "get-bucket-policy",
    "BucketPublicAccessBlock": "get-public-access-block",
    "BucketOwnershipControls": "get-bucket-ownership-controls",
    "BucketObjectLockConfiguration": "get-object-lock-configuration",
}
# Where a replace comes from and the stack value that answers it (type pattern, replacing path) -> hint.
REPLACE_HINTS: tuple[tuple[str, str, str], ...] = (
    ("kubernetes:apps/v1:Deployment", "spec.selector", "pin the live selector with app.selectorLabels"),
    ("kubernetes:core/v1:ConfigMap", "data", 'set kubernetes:enableConfigMapMutable: "true" in the stack file'),
    ("kubernetes:core/v1:Secret", "stringData", 'set kubernetes:enableSecretMutable: "true" in the stack file'),
    ("kubernetes:core/v1:Secret", "data", 'set kubernetes:enableSecretMutable: "true" in the stack file'),
    ("aws:s3/bucket:Bucket", "objectLockEnabled", "set backup.objectLock.enabled: false for a bucket made without it"),
    ("kubernetes:core/v1:Service", "spec.clusterIP", "ignore the server-assigned spec.clusterIP (ignore_changes)"),
    ("cloudflare:*", "zoneId", "the zone id differs: check edge.zone and edge.zoneId"),
)


@dataclass
class Row:
    """One live object and what the adoption does with it."""

    source: str  # kubernetes | terraform | cloudflare | aws
    kind: str
    namespace: str
    name: str
    id: str
    action: str  # import | retire | unmanaged
    urn: str = ""
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # a retirement's commands, in order

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "id": self.id,
            "action": self.action,
        }
        if self.urn:
            out["urn"] = self.urn
        out["blockers"], out["warnings"] = list(self.blockers), list(self.warnings)
        if self.commands:
            out["commands"] = list(self.commands)
        return out


@dataclass
class Adoption:
    stack: str
    rows: list[Row]
    imports: dict[str, Any]  # the `pulumi import --file` document
    diff: StackDiff
    notes: list[str] = field(default_factory=list)

    @property
    def blockers(self) -> list[str]:
        return [f"{row.label}: {b}" for row in self.rows for b in row.blockers]

    @property
    def warnings(self) -> list[str]:
        return [f"{row.label}: {w}" for row in self.rows for w in row.warnings]

    def document(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "objects": [row.document() for row in self.rows],
            "blockers": self.blockers,
            "warnings": self.warnings,
            "creates": [c.urn for c in self.diff.resources if c.op == "create"],
        }


# --- the program's side -----------------------------------------------------------------------------------


@dataclass
class Program:
    stack: str
    project: str
    config_values: Mapping[str, Any]
    state: StackState  # inputs with secrets as digests, as `make diff` sees them
    registrations: dict[str, Registration]  # raw (engine form): the Secret's values, read here only
    key: bytes
    placeholders: frozenset[str] = frozenset()  # what the offline providers made up (ids, addresses)

    def resources(self) -> list[dict[str, Any]]:
        return [r for r in self.state.resources if r.get("custom") and not r["type"].startswith("pulumi:providers:")]

    def setting(self, *path: str) -> Any:
        """A stack value by its path (`setting("app", "secretRotation")`); None when unset."""
        value: Any = self.config_values.get(f"{self.project}:{path[0]}")
        if isinstance(value, str) and value[:1] in "{[":
            value = json.loads(value)  # an object or list, as the engine passes structured config
        for part in path[1:]:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value


def render_program(project_dir: Path, stack: str, key: bytes) -> Program:
    project = str(yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"])
    config = load_stack_config(project_dir, stack, project)
    rendering = run_program(project_dir, project, config)
    result = rendered_state(rendering, config, project, key)
    state = StackState.from_worker(result)
    registrations = {r.urn: r for r in rendering.registrations}
    return Program(stack, project, config.values, state, registrations, key, rendering.placeholders)


def _substitute(value: Any, ids: Mapping[str, str]) -> Any:
    """`value` with each made-up id the offline providers gave replaced by the live one it stands for."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    return value


# --- the live side: each object's key, in identity.py's terms, and its values as the program's inputs ----------


def _kube_key(obj: Mapping[str, Any]) -> tuple[str, ...]:
    group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else ""
    kind, metadata = obj["kind"], obj["metadata"]
    namespace = "" if kind in identity.CLUSTER_SCOPED_KINDS else str(metadata.get("namespace") or "")
    return ("kubernetes", group, kind, namespace, metadata["name"])


def _project(live: Any, shape: Any) -> Any:
    """`live` on the paths `shape` (the program's inputs) sets: what server-side apply compares. A path the
    live object lacks is left out, so it shows as added."""
    if isinstance(shape, dict) and shape.get(SIG) == SECRET_SIG:
        return live
    if isinstance(shape, dict) and isinstance(live, dict):
        return {k: _project(live[k], v) for k, v in shape.items() if k in live}
    if isinstance(shape, list) and isinstance(live, list):
        return [_project(item, shape[i]) if i < len(shape) else item for i, item in enumerate(live)]
    return live


def _secret(value: Any, key: bytes) -> dict[str, Any]:
    return {SIG: SECRET_SIG, "ciphertext": secret_digest(value, key)}


# What pulumi-kubernetes leaves out of the inputs it reads on import (provider.go Read, readFromCluster: every input
# property of the live object, then "Cleanup some obviously non-input-ty fields").
_IMPORT_DROPS = ("creationTimestamp", "generation", "managedFields", "resourceVersion", "uid")
_IMPORT_DROPPED_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")


def _kube_inputs(obj: Mapping[str, Any], new: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The inputs `pulumi import` records for a live object: the whole object but its status and the server's
    bookkeeping (pulumi-kubernetes provider.go Read at the pinned commit). The first up's Diff then compares them
    with the program's inputs (a JSON merge patch): a field the program leaves out is a delete, and on a
    replacing path (a Service's spec.clusterIP) a replace."""
    live = copy.deepcopy(dict(obj))
    live.pop("status", None)
    metadata = live.get("metadata", {})
    for field_name in _IMPORT_DROPS:
        metadata.pop(field_name, None)
    annotations = metadata.get("annotations") or {}
    for annotation in _IMPORT_DROPPED_ANNOTATIONS:
        annotations.pop(annotation, None)
    if "annotations" in metadata and not annotations:
        metadata.pop("annotations")
    if obj["kind"] == "Secret" and "stringData" in new:
        # The program writes stringData, which the provider normalizes into data: compared as the digest of the
        # decoded map, so values never leave memory.
        decoded = {k: _decode(v) for k, v in (obj.get("data") or {}).items()}
        live.pop("data", None)
        live["stringData"] = _secret(decoded, key)
    return live


def _decode(value: Any) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return str(value)  # binary: compared as given


def _pascal_to_camel(value: Any) -> Any:
    """An `aws s3api` response (PascalCase) in the Pulumi SDK's property names (camelCase)."""
    if isinstance(value, dict):
        return {_camel(k): _pascal_to_camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal_to_camel(v) for v in value]
    return value


def _camel(name: str) -> str:
    if name.isupper():
        return name.lower()  # ID
    return name[:1].lower() + name[1:]


def _s3_inputs(kind: str, response: Mapping[str, Any], bucket: str, new: Mapping[str, Any]) -> dict[str, Any]:
    live: dict[str, Any] = {"bucket": bucket}
    if "region" in new:
        live["region"] = new["region"]  # the region is checked on its own (get-bucket-location)
    body = _pascal_to_camel(response)
    if kind == "BucketVersioning":
        live["versioningConfiguration"] = {"status": body.get("status", "Suspended")}
    elif kind == "BucketServerSideEncryptionConfiguration":
        live["rules"] = body.get("serverSideEncryptionConfiguration", {}).get("rules", [])
    elif kind == "BucketLifecycleConfiguration":
        live["rules"] = body.get("rules", [])
    elif kind == "BucketPolicy":
        policy = body.get("policy", "")
        live["policy"] = policy
        try:  # compare policies as documents, not as strings
            if json.loads(policy) == json.loads(str(new.get("policy", ""))):
                live["policy"] = new.get("policy")
        except ValueError:
            pass
    elif kind == "BucketPublicAccessBlock":
        live.update(body.get("publicAccessBlockConfiguration", {}))
    elif kind == "BucketOwnershipControls":
        rules = body.get("ownershipControls", {}).get("rules", [])
        if rules:
            live["rule"] = rules[0]
    elif kind == "BucketObjectLockConfiguration":
        configuration = body.get("objectLockConfiguration", {})
        if "rule" in configuration:
            live["rule"] = configuration["rule"]
    return _project(live, new)


# --- the adoption ------------------------------------------------------------------------------------------


class _Adopter:
    def __init__(self, program: Program, export: LiveExport) -> None:
        self.program = program
        self.export = export
        self.rows: list[Row] = []
        self.base: dict[str, dict[str, Any]] = {}  # URN -> the live values as old inputs
        self.ids: dict[str, str] = {}  # URN -> import id
        self.notes: list[str] = []
        self.made_up: dict[str, str] = {}  # offline id -> live id

    # -- matching
    def _resolve_zone(self) -> None:
        """The live zone's id stands in for the one the offline providers made up (the Zone's, a lookup's); a zone
        id the stack gives (`edge.zoneId`) stays as it is, so a wrong one shows (see _dns)."""
        live_zone_ids = {str(r.get("zone_id")) for r in self.export.dns_records if r.get("zone_id")}
        live_zone_ids |= {str(tf.attributes.get("id")) for tf in self.export.terraform if tf.type == "cloudflare_zone"}
        if len(live_zone_ids) != 1:
            return
        live_id = next(iter(live_zone_ids))
        for resource in self.program.resources():
            if not resource["type"].startswith("cloudflare:"):
                continue
            reg = self.program.registrations.get(resource["urn"])
            for zone_id in (reg.id if reg and resource["type"] in identity.CLOUDFLARE_ZONES else None,
                            resource.get("inputs", {}).get("zoneId")):  # fmt: skip
                if isinstance(zone_id, str) and zone_id in self.program.placeholders:
                    self.made_up[zone_id] = live_id
        for resource in self.program.state.resources:
            resource["inputs"] = _substitute(resource.get("inputs", {}), self.made_up)

    def _index(self) -> dict[tuple[str, ...], dict[str, Any]]:
        index: dict[tuple[str, ...], dict[str, Any]] = {}
        for resource in self.program.resources():
            try:
                keys = identity.identities(identity.from_state([resource])[0])
            except Exception:  # an identity not known offline: nothing live can be matched to it
                continue
            for key in keys:
                index.setdefault(key.key, resource)
        return index

    def run(self) -> Adoption:
        self._resolve_zone()
        index = self._index()
        self._kubernetes(index)
        self._terraform(index)
        self._dns(index)
        self._s3(index)
        diff = self._plan()
        self._judge(diff)
        return Adoption(self.program.stack, self.rows, self._import_file(), diff, self.notes)

    def _import(self, row: Row, resource: dict[str, Any], base: dict[str, Any]) -> None:
        row.action, row.urn = "import", resource["urn"]
        self.base[resource["urn"]] = base
        self.ids[resource["urn"]] = row.id
        self.rows.append(row)

    def _kubernetes(self, index: Mapping[tuple[str, ...], dict[str, Any]]) -> None:
        retired = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in self._retirees()}
        namespaces = {str(r.get("inputs", {}).get("metadata", {}).get("name")) for r in self.program.resources()
                      if r["type"] == "kubernetes:core/v1:Namespace"}  # fmt: skip
        program_kinds = {
            r["type"].rsplit(":", 1)[-1] for r in self.program.resources() if r["type"].startswith("kubernetes:")
        }
        for obj in self.export.kubernetes:
            metadata = obj["metadata"]
            namespace = "" if obj["kind"] in identity.CLUSTER_SCOPED_KINDS else str(metadata.get("namespace") or "")
            import_id = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
            row = Row("kubernetes", obj["kind"], namespace, metadata["name"], import_id, "unmanaged")
            resource = index.get(_kube_key(obj))
            if resource is not None:
                self._import(row, resource, _kube_inputs(obj, resource.get("inputs", {}), self.program.key))
                self._owners(row, obj, retired)
                continue
            if (obj["kind"], namespace, metadata["name"]) in retired:
                row.action = "retire"
                cascade = " --cascade=orphan" if obj["kind"] in ORPHANING_RETIREMENT else ""
                row.commands.append(f"kubectl delete {obj['kind'].lower()} {metadata['name']} -n {namespace}{cascade}")
            elif obj["kind"] == "ClusterIssuer":
                self._issuer(row, obj)
            elif obj["kind"] not in CONTROLLER_MADE and obj["kind"] not in program_kinds and namespace in namespaces:
                row.warnings.append(f"a {obj['kind']} the program does not manage: it stays as it is")
            self.rows.append(row)

    def _retirees(self) -> list[dict[str, Any]]:
        """The guide's objects of a kind the program supersedes, in a namespace the program manages, that the
        program does not declare itself."""
        namespaces = {
            str(r.get("inputs", {}).get("metadata", {}).get("namespace"))
            for r in self.program.resources()
            if r["type"].startswith("kubernetes:")
        }
        declared = set(self._index())
        return [
            o
            for o in self.export.kubernetes
            if o["kind"] in RETIRED_KINDS
            and str(o["metadata"].get("namespace", "")) in namespaces
            and _kube_key(o) not in declared
        ]

    def _owners(self, row: Row, obj: Mapping[str, Any], retired: set[tuple[str, str, str]]) -> None:
        for owner in obj["metadata"].get("ownerReferences") or []:
            kind, name = str(owner.get("kind")), str(owner.get("name"))
            if (kind, row.namespace, name) not in retired:
                continue
            command = f"kubectl delete {kind.lower()} {name} -n {row.namespace}"
            if kind in ORPHANING_RETIREMENT:
                row.warnings.append(
                    f"owned by the {kind} {name}, which is retired: delete it with `{command} --cascade=orphan`, "
                    "or the garbage collector deletes this object with it"
                )
            else:
                row.blockers.append(
                    f"owned by the {kind} {name}, which is retired: its deletion would delete this object; "
                    f"remove the ownerReference first (kubectl patch {obj['kind'].lower()} {row.name} "
                    f"-n {row.namespace} "
                    '--type=json -p \'[{"op":"remove","path":"/metadata/ownerReferences"}]\')'
                )

    def _issuer(self, row: Row, obj: Mapping[str, Any]) -> None:
        solvers = (obj.get("spec") or {}).get("acme", {}).get("solvers") or []
        if any("http01" in (s or {}) for s in solvers):
            row.blockers.append(
                "solves HTTP-01 through the ingress class the cutover retires: every renewal fails once the Ingress "
                "is gone; adopt it with DNS-01 (routing.tls.clusterIssuer.create: true and its cloudflareApiToken, "
                "`pulumi config set --secret --path routing.tls.clusterIssuer.cloudflareApiToken <token>`)"
            )

    def _terraform(self, index: Mapping[tuple[str, ...], dict[str, Any]]) -> None:
        for tf in self.export.terraform:
            row = Row("terraform", tf.type, "", tf.name, str(tf.attributes.get("id", "")), "unmanaged")
            if tf.type == "cloudflare_zone":
                zone = str(tf.attributes.get("zone") or tf.attributes.get("name") or "")
                resource = index.get(("cloudflare-zone", zone.lower().rstrip(".")))
                if resource is not None:
                    base = {"name": zone, "type": tf.attributes.get("type", "full")}
                    account = tf.attributes.get("account_id")
                    if account:
                        base["account"] = {"id": account}
                    self._import(row, resource, _project(base, resource.get("inputs", {})))
                    row.commands.append(f"terraform state rm {tf.address}")
                    continue
            elif tf.type == "cloudflare_zone_settings_override":
                self._zone_settings(tf, index)
                row.action = "retire"
                row.commands.append(f"terraform state rm {tf.address}")
                row.warnings.append("never `terraform destroy` it: that restores the settings it found in 2025")
            elif tf.type in TERRAFORM_RETIRED:
                row.action = "retire"
                row.commands.append(f"terraform destroy -target={tf.address}")
            self.rows.append(row)

    def _zone_settings(self, tf: TerraformResource, index: Mapping[tuple[str, ...], dict[str, Any]]) -> None:
        zone_id = str(tf.attributes.get("zone_id", ""))
        blocks = tf.attributes.get("settings") or []
        settings = blocks[0] if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict) else {}
        for attribute, value in sorted(settings.items()):
            if value in (None, "", [], {}):
                continue
            setting_id = str(TERRAFORM_SETTING_IDS.get(attribute, attribute))
            key = ("cloudflare-zone-singleton", "cloudflare:index/zoneSetting:ZoneSetting", zone_id, setting_id)
            resource = index.get(key)
            if resource is None:
                continue  # a setting the program leaves alone keeps its value
            row = Row("terraform", tf.type, "", f"{tf.name}.{attribute}", f"{zone_id}/{setting_id}", "import")
            base = {"zoneId": zone_id, "settingId": setting_id, "value": value}
            self._import(row, resource, _project(base, resource.get("inputs", {})))

    def _dns(self, index: Mapping[tuple[str, ...], dict[str, Any]]) -> None:
        program_names: dict[str, str] = {}  # record name -> the program's record type
        program_zones: dict[str, str] = {}  # record name -> the zone id the program gives it
        for resource in self.program.resources():
            if resource["type"] in identity.CLOUDFLARE_RECORDS:
                inputs = resource.get("inputs", {})
                record_name = str(inputs.get("name", "")).lower().rstrip(".")
                program_names[record_name] = str(inputs.get("type", "")).upper()
                program_zones[record_name] = str(inputs.get("zoneId", ""))
        for record in self.export.dns_records:
            name = record["name"].lower().rstrip(".")
            zone_id = str(record.get("zone_id", ""))
            row = Row("cloudflare", "DnsRecord", "", record["name"], f"{zone_id}/{record['id']}", "unmanaged")
            row.kind = "DnsRecord"
            resource = index.get(("cloudflare-record", zone_id, name, record["type"].upper()))
            if resource is not None:
                base = {
                    k: record.get(k) for k in ("name", "type", "content", "proxied", "ttl", "comment") if k in record
                }
                base["zoneId"] = zone_id
                self._import(row, resource, _project(base, resource.get("inputs", {})))
                continue
            wanted = program_names.get(name)
            if wanted == record["type"].upper() and program_zones.get(name) not in ("", zone_id):
                row.blockers.append(
                    f"the stack puts its record in zone {program_zones[name]}, the live record is in zone {zone_id}: "
                    f"set edge.zoneId: {zone_id} (dash.cloudflare.com, the zone's Overview, Zone ID)"
                )
                self.rows.append(row)
                continue
            if (
                wanted
                and "CNAME" in {wanted, record["type"].upper()}
                and record["type"].upper() in {"A", "AAAA", "CNAME"}
            ):
                row.blockers.append(
                    f"a live {record['type']} record where the program makes a {wanted} record of the same name: "
                    "Cloudflare refuses a CNAME beside other records of its name; delete or convert the live record "
                    "in the cutover window, or keep the program's record type"
                )
            self.rows.append(row)

    def _s3(self, index: Mapping[tuple[str, ...], dict[str, Any]]) -> None:
        for bucket, calls in self.export.buckets.items():
            row = Row("aws", "Bucket", "", bucket, bucket, "unmanaged")
            resource = index.get(("s3-bucket", bucket))
            if resource is None:
                self.rows.append(row)
                continue
            lock = (calls.get("get-object-lock-configuration") or {}).get("ObjectLockConfiguration", {})
            base = {"bucket": bucket, "objectLockEnabled": lock.get("ObjectLockEnabled") == "Enabled"}
            for key in ("forceDestroy", "region"):
                if key in resource.get("inputs", {}):
                    base[key] = resource["inputs"][key]
            self._import(row, resource, _project(base, resource.get("inputs", {})))
            self._region(row, resource, calls)
            locks = ("s3-bucket-config", "BucketObjectLockConfiguration", bucket)
            if base["objectLockEnabled"] and locks not in index:
                row.warnings.append(
                    "has Object Lock, which cannot be turned off, and the stack says backup.objectLock.enabled: "
                    "false: its default retention keeps applying to Velero's objects; set backup.objectLock to match"
                )
            for kind, call in S3_CONFIG_CALLS.items():
                config = index.get(("s3-bucket-config", kind, bucket))
                if config is None or call not in calls:
                    continue  # not set live: the first up creates it
                config_row = Row("aws", kind, "", bucket, bucket, "import")
                self._import(config_row, config, _s3_inputs(kind, calls[call], bucket, config.get("inputs", {})))
                if kind == "BucketLifecycleConfiguration":
                    self._dropped_rules(config_row, calls[call], config.get("inputs", {}))
                if kind == "BucketPolicy":
                    config_row.warnings.append("the program's policy replaces the live one (PutBucketPolicy is whole)")
            self._expiry(row, index, bucket, calls)

    def _region(self, row: Row, resource: Mapping[str, Any], calls: Mapping[str, Any]) -> None:
        if "get-bucket-location" not in calls:
            return
        constraint = (calls["get-bucket-location"] or {}).get("LocationConstraint")
        # GetBucketLocation answers null for us-east-1 and "EU" for eu-west-1 (AWS S3 API reference).
        live_region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, str(constraint))
        wanted = resource.get("inputs", {}).get("region") or self.program.config_values.get("aws:region")
        if wanted and wanted != live_region:
            row.blockers.append(
                f"the bucket is in {live_region}, the stack says {wanted}: set backup.region: {live_region}"
            )

    def _dropped_rules(self, row: Row, response: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        kept = {str(r.get("id")) for r in new.get("rules", []) if isinstance(r, dict)}
        dropped = [str(r.get("ID")) for r in response.get("Rules", []) if str(r.get("ID")) not in kept]
        if dropped:
            row.warnings.append(
                "the program's lifecycle replaces the live one (PutBucketLifecycleConfiguration is whole): rules "
                + ", ".join(dropped)
                + " go"
            )

    def _expiry(
        self, row: Row, index: Mapping[tuple[str, ...], dict[str, Any]], bucket: str, calls: Mapping[str, Any]
    ) -> None:
        lifecycle = index.get(("s3-bucket-config", "BucketLifecycleConfiguration", bucket))
        if lifecycle is None:
            return
        keys = [str(o.get("Key")) for o in (calls.get("list-objects-v2") or {}).get("Contents", []) if o.get("Key")]
        velero = self._velero_prefix(bucket)
        for rule in lifecycle.get("inputs", {}).get("rules", []):
            if not isinstance(rule, dict) or rule.get("status") != "Enabled" or not rule.get("expiration"):
                continue
            prefix = str(((rule.get("filter") or {}).get("prefix")) or "")
            doomed = [k for k in keys if k.startswith(prefix) and not (velero and k.startswith(velero))]
            if doomed:
                scope = f"prefix {prefix!r}" if prefix else "the whole bucket"
                row.blockers.append(
                    f"lifecycle rule {rule.get('id')} expires {scope}: {len(doomed)} existing object(s) outside "
                    f"Velero's prefix would go (e.g. {doomed[0]}); scope the lifecycle to Velero's prefix "
                    "(backup.prefix)"
                )

    def _velero_prefix(self, bucket: str) -> str:
        for resource in self.program.resources():
            if resource["type"] == "kubernetes:velero.io/v1:BackupStorageLocation":
                storage = resource.get("inputs", {}).get("spec", {}).get("objectStorage", {})
                if storage.get("bucket") == bucket and storage.get("prefix"):
                    return str(storage["prefix"]).rstrip("/") + "/"
        return ""

    # -- the plan of the first up
    def _plan(self) -> StackDiff:
        head_by_urn = {r["urn"]: r for r in self.program.state.resources}
        base_resources = []
        for urn, inputs in self.base.items():
            new = head_by_urn[urn]
            # `pulumi import` protects each object; the first up then sets what the program declares. Compared
            # as equal here so the plan shows what changes in the objects, not in the state's flags.
            base_resources.append(
                {
                    "urn": urn,
                    "type": new["type"],
                    "custom": True,
                    "inputs": inputs,
                    "protect": new.get("protect", False),
                }
            )
        stack_resource = {"urn": f"urn:pulumi:{self.program.stack}::{self.program.project}::{STACK_TYPE}::"
                          f"{self.program.project}-{self.program.stack}", "type": STACK_TYPE, "custom": False,
                          "inputs": {}, "outputs": next((r.get("outputs", {}) for r in self.program.state.resources
                                                        if r["type"] == STACK_TYPE), {})}  # fmt: skip
        base = StackState(self.program.stack, [stack_resource, *base_resources], [], self.program.state.provider_config)
        return diff_states(base, self.program.state, self.program.key, "live", "first up")

    def _judge(self, diff: StackDiff) -> None:
        by_urn = {row.urn: row for row in self.rows if row.urn}
        registrations = self.program.registrations
        for change in diff.resources:
            row = by_urn.get(change.urn)
            if row is None:
                continue
            if change.op == "replace":
                for reason in change.reasons:
                    hint = next(
                        (h for t, p, h in REPLACE_HINTS if fnmatch.fnmatchcase(change.type, t) and p == reason.path),
                        "no stack value answers it: the program must change",
                    )
                    row.blockers.append(
                        f"the first up replaces it ({reason.path} differs; {reason.source}): "
                        f"a replace deletes the live object first; {hint}"
                    )
            if change.type == "cloudflare:index/dnsRecord:DnsRecord":
                moved = [c for c in change.changes if c.path == "content"]
                if moved:
                    row.blockers.append(
                        f"the first up points it at {moved[0].new} (from {moved[0].old}) before anyone has checked "
                        "the new origin: keep edge.dns.pointAt: live until the Gateway answers on its own address"
                    )
            if change.type == "cloudflare:index/zoneSetting:ZoneSetting":
                for c in change.changes:
                    if c.path == "value":
                        row.warnings.append(f"changes from {json.dumps(c.old)} to {json.dumps(c.new)}")
        live = {_kube_key(o): o for o in self.export.kubernetes}
        for row in self.rows:
            if row.action != "import" or row.source != "kubernetes":
                continue
            new = next(r for r in self.program.state.resources if r["urn"] == row.urn)
            obj = live.get(("kubernetes", *(_group_kind(new["type"])), row.namespace, row.name))
            if obj is None:
                continue
            if row.kind == "Secret":
                self._secret_values(row, obj, registrations.get(row.urn))
            elif row.kind == "Certificate":
                self._certificate(row, obj, new.get("inputs", {}))
            elif row.kind == "Service":
                self._service(row, obj, new.get("inputs", {}))

    def _secret_values(self, row: Row, obj: Mapping[str, Any], reg: Registration | None) -> None:
        if reg is None:
            return
        written = _revealed(reg.inputs.get("stringData")) or {}
        live = {k: _decode(v) for k, v in (obj.get("data") or {}).items()}
        rotate = int(self.program.setting("app", "secretRotation") or 1) > 1
        for name in sorted(live):
            if name not in written:
                row.warnings.append(f"key {name} is not the program's: it stays as it is (remove it by hand if unused)")
                continue
            value = written[name]
            if value == SECRET_PLACEHOLDER:
                continue  # from the stack's config secrets: the operator's own value
            same = secret_digest(value, self.program.key) == secret_digest(live[name], self.program.key)
            if same:
                continue
            message = (
                f"the first up writes a generated {name} over the live one (every session or signed token made "
                f"with it stops working): give the live value with `pulumi config set --secret --path "
                f"app.secretValues.{name} <value>`, or bump app.secretRotation to rotate on purpose"
            )
            (row.warnings if rotate else row.blockers).append(message)

    def _certificate(self, row: Row, obj: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        live_spec, spec = obj.get("spec") or {}, new.get("spec") or {}
        reasons = []
        if (live_spec.get("issuerRef") or {}).get("name") != (spec.get("issuerRef") or {}).get("name"):
            reasons.append("issuer")
        if _key(live_spec) != _key(spec):
            reasons.append(f"private key {'/'.join(map(str, _key(live_spec)))} => {'/'.join(map(str, _key(spec)))}")
        if sorted(live_spec.get("dnsNames") or []) != sorted(spec.get("dnsNames") or []):
            reasons.append("dnsNames")
        if reasons:
            row.warnings.append(f"cert-manager reissues it ({', '.join(reasons)} differ): a new key and certificate")
        for owner in obj["metadata"].get("ownerReferences") or []:
            if owner.get("kind") == "Ingress":
                row.warnings.append(
                    f"ingress-shim re-applies its dnsNames, issuerRef, secretName and usages while the Ingress "
                    f"{owner.get('name')} keeps its cert-manager.io annotations: remove them first "
                    f"(kubectl annotate ingress {owner.get('name')} -n {row.namespace} cert-manager.io/cluster-issuer- "
                    "cert-manager.io/issuer-)"
                )

    def _service(self, row: Row, obj: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        old_type = (obj.get("spec") or {}).get("type", "ClusterIP")
        new_type = (new.get("spec") or {}).get("type", "ClusterIP")
        if old_type != "LoadBalancer" or new_type == "LoadBalancer":
            return
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        addresses = {str(i.get("hostname") or i.get("ip")) for i in ingress if i.get("hostname") or i.get("ip")}
        pointing = sorted(r["name"] for r in self.export.dns_records if str(r.get("content")) in addresses)
        if pointing:
            row.blockers.append(
                f"becomes {new_type}, which deletes its load balancer, and DNS ({', '.join(pointing)}) still points at "
                "it: move the records first (edge.dns.pointAt), then let the type change"
            )
        else:
            shown = ", ".join(sorted(addresses)) or "its load balancer"
            row.warnings.append(
                f"becomes {new_type}: the cloud deletes {shown}; nothing in the DNS export points at it"
            )

    # -- import.json
    def _import_file(self) -> dict[str, Any]:
        parents = {r["urn"]: str(r.get("parent", "")) for r in self.program.state.resources}
        types = {r["urn"]: r["type"] for r in self.program.state.resources}
        wanted: list[str] = []
        for urn in self.ids:
            chain = []
            parent = parents.get(urn, "")
            while parent and types.get(parent) != STACK_TYPE:
                chain.append(parent)
                parent = parents.get(parent, "")
            for component in reversed(chain):
                if component not in wanted:
                    wanted.append(component)
            wanted.append(urn)
        # Names are the file's own keys (parents refer to them); the URN's name is the logicalName.
        counts: dict[str, int] = {}
        names: dict[str, str] = {}
        for urn in wanted:
            logical = urn_name(urn)
            counts[logical] = counts.get(logical, 0) + 1
            names[urn] = logical if counts[logical] == 1 else f"{logical}-{counts[logical]}"
        entries = []
        for urn in wanted:
            entry: dict[str, Any] = {"type": types[urn], "name": names[urn], "logicalName": urn_name(urn)}
            if urn in self.ids:
                entry["id"] = self.ids[urn]
            else:
                entry["component"] = True
            parent = parents.get(urn, "")
            if parent and types.get(parent) != STACK_TYPE:
                entry["parent"] = names[parent]
            entries.append(entry)
        return {"resources": entries}


def _group_kind(type_: str) -> tuple[str, str]:
    _, module, kind = type_.split(":", 2)
    group = module.split("/", 1)[0]
    return ("" if group == "core" else group, kind)


def _key(spec: Mapping[str, Any]) -> tuple[str, int]:
    """A Certificate's key as cert-manager makes it: RSA 2048 when the spec says nothing (cert-manager's default)."""
    key = spec.get("privateKey") or {}
    algorithm = str(key.get("algorithm") or "RSA")
    size = int(key.get("size") or (2048 if algorithm == "RSA" else 256))
    return algorithm, size


def _revealed(value: Any) -> Any:
    if isinstance(value, dict) and value.get(SIG) == SECRET_SIG:
        return _revealed(value.get("value"))
    return value


# --- output ------------------------------------------------------------------------------------------------


def format_markdown(adoption: Adoption) -> str:
    rows = adoption.rows
    imports = [r for r in rows if r.action == "import"]
    lines = [f"# Adopting the live system into stack {adoption.stack}", ""]
    verdict = (
        f"**{len(adoption.blockers)} blocker(s)**: the first `pulumi up` would destroy or reset what is live."
        if adoption.blockers
        else "**No blockers**: the first `pulumi up` replaces nothing and resets nothing that is live."
    )
    lines += [verdict, ""]
    lines.append(
        f"{len(imports)} object(s) imported, {sum(r.action == 'retire' for r in rows)} retired after the cutover, "
        f"{sum(r.action == 'unmanaged' for r in rows)} left alone; the first up creates "
        f"{sum(c.op == 'create' for c in adoption.diff.resources)} resource(s)."
    )
    for title, items in (("Blockers", adoption.blockers), ("Warnings", adoption.warnings)):
        if items:
            lines += ["", f"## {title}", ""] + [f"- {item}" for item in items]
    lines += ["", "## The first up, against the live values", ""]
    by_urn = {c.urn: c for c in adoption.diff.resources}
    for row in imports:
        change = by_urn.get(row.urn)
        op = change.op if change else "same"
        lines.append(f"- `{op}` {row.label} ({row.source}; import id `{row.id}`)")
        if change is not None and change.changes:
            lines += ["", "  ```diff"]
            for c in change.changes:
                lines += ["  " + line for line in change_lines(c, "")]
            lines += ["  ```", ""]
    retire = [r for r in rows if r.action == "retire"]
    if retire:
        lines += ["", "## Retired after the cutover (docs/adoption.md gives the order)", ""]
        lines += [f"- {r.label}: `{'`, then `'.join(r.commands)}`" for r in retire]
    handed = [r for r in imports if r.commands]
    if handed:
        lines += ["", "## Leaves Terraform's state (never a destroy)", ""]
        lines += [f"- {r.label}: `{'`; `'.join(r.commands)}`" for r in handed]
    unmanaged = [r for r in rows if r.action == "unmanaged"]
    if unmanaged:
        lines += ["", "## Left alone", ""] + [f"- {r.label} ({r.source})" for r in unmanaged]
    return "\n".join(lines) + "\n"


def write(adoption: Adoption, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "import.json").write_text(json.dumps(adoption.imports, indent=2) + "\n")
    (out / "adoption.json").write_text(json.dumps(adoption.document(), indent=2) + "\n")
    (out / "adoption.md").write_text(format_markdown(adoption))


def adopt(project_dir: Path, stack: str, live_dir: Path) -> Adoption:
    export = read_export(live_dir)  # the export first: an unusable one fails before the program runs
    return adopt_rendered(render_program(project_dir, stack, secrets.token_bytes(32)), export)


def adopt_rendered(program: Program, export: LiveExport) -> Adoption:
    """The adoption of `export` by a rendered program (left as it was: the adoption works on a copy)."""
    program = copy.deepcopy(program)
    collisions = identity.check(identity.from_state(program.state.resources)).collisions
    if collisions:  # two resources for one object: which would adopt it is not defined
        raise ProgramError(collisions[0].line())
    return _Adopter(program, export).run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offline_preview.adopt", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--live", required=True, type=Path, help="the export's folder (docs/adoption.md)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--out", type=Path, default=None, help="default: build/<stack>")
    args = parser.parse_args(argv)
    try:
        adoption = adopt(args.project_dir.resolve(), args.stack, args.live)
    except (ExportError, StackConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except ProgramError as exc:
        print(f"error: the program does not render: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except Exception:
        traceback.print_exc()
        return EXIT_INTERNAL
    out = args.out or args.project_dir.resolve() / "build" / args.stack
    write(adoption, out)
    for line in adoption.blockers:
        print(f"blocker: {line}", file=sys.stderr)
    for line in adoption.warnings:
        print(f"warning: {line}")
    imported = sum(r.action == "import" for r in adoption.rows)
    print(
        f"{imported} object(s) to import; wrote {out / 'import.json'}, {out / 'adoption.json'}, {out / 'adoption.md'}"
    )
    return EXIT_BLOCKED if adoption.blockers else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
