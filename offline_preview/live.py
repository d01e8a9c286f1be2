"""What an operator exports of a live system, read for `make adopt` (docs/adoption.md lists the commands).

`<dir>/kubernetes/*.json`   `kubectl get <kinds> -n <namespace> -o json` and
                            `kubectl get namespaces,clusterissuers -o json` (v1 `List`s)
`<dir>/terraform.tfstate`   `terraform state pull` of the guide's Cloudflare Terraform (state format 4)
`<dir>/cloudflare/dns_records.json`   the list-DNS-records API response for the zone: one response, or a JSON
                            array of the responses of every page; `result_info.total_count` must match
`<dir>/aws/s3/<bucket>/<call>.json`   `aws s3api <call> --bucket <bucket>`; a missing file means that
                            configuration is not set

Everything unusable is an `ExportError` whose message is one line naming the file. Secret values are read
(they are compared by digest) and never kept in a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The calls the adoption reads, as `aws s3api` names them. get-object-lock-configuration is read too: without it a
# bucket made without Object Lock cannot be told from one with it, and `objectLockEnabled` forces a new bucket.
S3_CALLS = (
    "get-bucket-location",
    "get-bucket-versioning",
    "get-bucket-encryption",
    "get-bucket-lifecycle-configuration",
    "get-bucket-policy",
    "get-public-access-block",
    "get-bucket-ownership-controls",
    "get-object-lock-configuration",
    "list-objects-v2",
)


class ExportError(Exception):
    """The export cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class TerraformResource:
    type: str  # cloudflare_zone
    name: str  # hft_platform
    attributes: Mapping[str, Any]

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass
class LiveExport:
    kubernetes: list[dict[str, Any]] = field(default_factory=list)
    terraform: list[TerraformResource] = field(default_factory=list)
    dns_records: list[dict[str, Any]] = field(default_factory=list)
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)  # bucket -> call -> response


def _json(path: Path, root: Path) -> Any:
    shown = path.relative_to(root.parent) if path.is_relative_to(root.parent) else path
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{shown}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{shown}: cannot be read: {exc.__class__.__name__}") from None


def _kubernetes(path: Path, root: Path) -> list[dict[str, Any]]:
    document = _json(path, root)
    shown = path.relative_to(root.parent)
    if not isinstance(document, dict):
        raise ExportError(
            f"{shown}: expected a Kubernetes List (kubectl get ... -o json), found a JSON {_kind(document)}"
        )
    items = document.get("items") if str(document.get("kind", "")).endswith("List") else [document]
    if not isinstance(items, list):
        raise ExportError(f"{shown}: the List has no items array")
    objects: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(metadata, dict):
            raise ExportError(f"{shown}: items[{index}] is not a Kubernetes object (no metadata)")
        for key in ("apiVersion", "kind"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise ExportError(f"{shown}: items[{index}] has no {key}")
        if not isinstance(metadata.get("name"), str) or not metadata["name"]:
            raise ExportError(f"{shown}: items[{index}] ({item['kind']}) has no metadata.name")
        objects.append(item)
    return objects


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _terraform(path: Path, root: Path) -> list[TerraformResource]:
    state = _json(path, root)
    shown = path.relative_to(root.parent)
    if not isinstance(state, dict):
        raise ExportError(f"{shown}: expected a Terraform state object, found a JSON {_kind(state)}")
    version = state.get("version")
    if version != 4:
        raise ExportError(
            f"{shown}: state format {version}, expected 4: run `terraform state pull` with Terraform 0.12 or later"
        )
    resources: list[TerraformResource] = []
    for index, resource in enumerate(state.get("resources") or []):
        if not isinstance(resource, dict) or not isinstance(resource.get("type"), str):
            raise ExportError(f"{shown}: resources[{index}] has no type")
        if resource.get("mode", "managed") != "managed":
            continue  # a data source reads, it owns nothing
        for instance in resource.get("instances") or []:
            attributes = instance.get("attributes") if isinstance(instance, dict) else None
            if not isinstance(attributes, dict):
                raise ExportError(
                    f"{shown}: {resource['type']}.{resource.get('name')} has an instance without attributes"
                )
            resources.append(TerraformResource(resource["type"], str(resource.get("name", "")), attributes))
    return resources


def _dns_records(path: Path, root: Path) -> list[dict[str, Any]]:
    document = _json(path, root)
    shown = path.relative_to(root.parent)
    pages = document if isinstance(document, list) else [document]
    records: dict[str, dict[str, Any]] = {}
    total: int | None = None
    for number, page in enumerate(pages, 1):
        where = f"{shown} (page {number})" if isinstance(document, list) else str(shown)
        if not isinstance(page, dict) or not isinstance(page.get("result"), list):
            raise ExportError(f"{where}: expected a Cloudflare API response with a result array")
        if page.get("success") is False:
            raise ExportError(f"{where}: the API response says success: false")
        info = page.get("result_info")
        if isinstance(info, dict) and isinstance(info.get("total_count"), int):
            total = info["total_count"]
        for index, record in enumerate(page["result"]):
            if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("id", "name", "type")):
                raise ExportError(f"{where}: result[{index}] is not a DNS record (id, name, type)")
            records[record["id"]] = record
    if total is not None and total != len(records):
        raise ExportError(
            f"{shown}: holds {len(records)} of the zone's {total} records: export every page "
            "(one response per page, as a JSON array)"
        )
    return list(records.values())


def _buckets(directory: Path, root: Path) -> dict[str, dict[str, Any]]:
    buckets: dict[str, dict[str, Any]] = {}
    for bucket_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        calls: dict[str, Any] = {}
        for call in S3_CALLS:
            path = bucket_dir / f"{call}.json"
            if path.is_file():
                calls[call] = _json(path, root)
        unknown = sorted(p.name for p in bucket_dir.glob("*.json") if p.stem not in S3_CALLS)
        if unknown:
            raise ExportError(
                f"{bucket_dir.relative_to(root.parent)}/{unknown[0]}: not an `aws s3api` call the adoption reads "
                f"(expected one of: {', '.join(S3_CALLS)})"
            )
        buckets[bucket_dir.name] = calls
    return buckets


def read_export(root: Path) -> LiveExport:
    """The export under `root`; raises ExportError (one line naming the file) when it cannot be used."""
    if not root.is_dir():
        raise ExportError(f"{root}: no such directory (LIVE= names the folder of the export)")
    export = LiveExport()
    kube_dir = root / "kubernetes"
    files = sorted(kube_dir.glob("*.json")) if kube_dir.is_dir() else []
    if not files:
        raise ExportError(
            f"{root / 'kubernetes'}: no *.json: export the cluster's objects first (kubectl get ... -o json)"
        )
    for path in files:
        export.kubernetes += _kubernetes(path, root)
    if (root / "terraform.tfstate").is_file():
        export.terraform = _terraform(root / "terraform.tfstate", root)
    if (root / "cloudflare" / "dns_records.json").is_file():
        export.dns_records = _dns_records(root / "cloudflare" / "dns_records.json", root)
    if (root / "aws" / "s3").is_dir():
        export.buckets = _buckets(root / "aws" / "s3", root)
    return export
