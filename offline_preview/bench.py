"""`make bench`: wall time and peak memory of the offline preview, next to the bare import time of
the Pulumi SDKs it imports, measured in the same run (each in a fresh interpreter, median of runs); and
of `make audit` on two generated 5,000-resource states and one of 50,000.

Budgets: preview wall time <= 3x the SDK import floor, peak memory < 400 MB (the foundation issue);
the audit of 5,000 resources in under 10 s wall (issue 12), for each state:
- "mixed": the production stack's own resources repeated, each copy in a namespace of its own, with S3
  buckets as pulumi-aws 5, 6 and 7 write them and Cloudflare zones as providers 5 and 6 write them;
- "deployments": 5,000 copies of the production Deployment, the resource that costs the pack most;
and of 50,000 in under 30 s wall on two cores (issue 17):
- "refreshed": the mixed state grown to 50,000 resources, every one as `pulumi refresh` leaves it
  (offline_preview/refreshed.py): live Kubernetes objects, whose outputs and inputs differ, so the audit
  judges each one on both; its copies share bucket names and zone ids, which the stack policies must match
  in linear time.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offline_preview.refreshed import refreshed_resources

PROJECT_DIR = Path(__file__).resolve().parent.parent
WALL_RATIO_BUDGET = 3.0
PEAK_MB_BUDGET = 400.0
AUDIT_RESOURCES = 5000
AUDIT_WALL_BUDGET = 10.0
LARGE_AUDIT_RESOURCES = 50_000
LARGE_AUDIT_WALL_BUDGET = 30.0

# Runs the preview as `python -m offline_preview` would, then reports which Pulumi SDK modules it
# loaded. pulumi_kubernetes loads its API groups lazily, so the floor is those modules, not the
# bare package.
_PREVIEW = """
import contextlib, io, json, sys
from offline_preview.__main__ import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
modules = sorted(m for m in sys.modules if m.split(".")[0].startswith("pulumi"))
print(json.dumps({"code": code, "modules": modules}))
"""


@dataclass(frozen=True)
class Sample:
    seconds: float
    cpu_seconds: float
    peak_mb: float  # the largest single process among the run and the workers it waited for
    stdout: str


def _run(code: str, *args: str, ok: tuple[int, ...] = (0,)) -> Sample:
    """One fresh interpreter; its peak RSS comes from wait4's rusage (kilobytes on Linux)."""
    return _run_command([sys.executable, "-c", code, *args], ok=ok)


def _run_command(command: list[str], ok: tuple[int, ...] = (0,)) -> Sample:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) not in ok:
        raise SystemExit(f"benchmark run failed (exit {os.waitstatus_to_exitcode(status)}):\n{stderr}")
    return Sample(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout)


# --- generated states for the audit ------------------------------------------------------------

_URN_FIELDS = ("urn", "parent")


def _renamed(resource: dict[str, Any], rename: Callable[[str], str], namespace: str, to: str) -> dict[str, Any]:
    """A copy of a state resource under other URNs, its Kubernetes namespace `namespace` moved to `to`."""
    resource = copy.deepcopy(resource)
    for key in _URN_FIELDS:
        if resource.get(key):
            resource[key] = rename(resource[key])
    resource["dependencies"] = [rename(urn) for urn in resource.get("dependencies") or []]
    dependencies = resource.get("propertyDependencies") or {}
    resource["propertyDependencies"] = {k: [rename(urn) for urn in v or []] for k, v in dependencies.items()}
    for side in ("inputs", "outputs"):
        metadata = (resource.get(side) or {}).get("metadata")
        if isinstance(metadata, dict):
            if metadata.get("namespace") == namespace:
                metadata["namespace"] = to
            if resource["type"] == "kubernetes:core/v1:Namespace" and metadata.get("name") == namespace:
                metadata["name"] = to
    return resource


def _state_resource(stack: str, project: str, type_: str, name: str, props: dict[str, Any], **extra: Any) -> dict:
    urn = f"urn:pulumi:{stack}::{project}::{type_}::{name}"
    return {"urn": urn, "custom": True, "id": name, "type": type_, "inputs": props, "outputs": props, **extra}


def _bucket_group(stack: str, project: str, index: int) -> list[dict[str, Any]]:
    """A bucket with its configuration, as pulumi-aws 7 (separate resources), 6 (BucketV2, inline lists) or 5
    (Bucket, inline objects) writes it."""
    name = f"bench-bucket-{index}"
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )
    flavour = index % 3
    bucket_type = "aws:s3/bucketV2:BucketV2" if flavour == 1 else "aws:s3/bucket:Bucket"
    bucket_props: dict[str, Any] = {"bucket": name, "id": name, "arn": f"arn:aws:s3:::{name}"}
    if flavour == 1:
        bucket_props |= {
            "serverSideEncryptionConfigurations": [
                {"rules": [{"applyServerSideEncryptionByDefaults": [{"sseAlgorithm": "aws:kms"}]}]}
            ],
            "versionings": [{"enabled": True, "mfaDelete": False}],
            "policy": policy,
        }
    elif flavour == 2:
        bucket_props |= {
            "serverSideEncryptionConfiguration": {
                "rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
            },
            "versioning": {"enabled": True, "mfaDelete": False},
            "policy": policy,
        }
    bucket = _state_resource(stack, project, bucket_type, name, bucket_props)
    by_bucket = {"propertyDependencies": {"bucket": [bucket["urn"]]}, "dependencies": [bucket["urn"]]}
    flags = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
    group = [
        bucket,
        _state_resource(
            stack,
            project,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-pab",
            {"bucket": name, **flags},
            **by_bucket,
        ),
    ]
    if flavour == 0:
        group += [
            _state_resource(
                stack,
                project,
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                f"{name}-sse",
                {"bucket": name, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
                **by_bucket,
            ),
            _state_resource(
                stack,
                project,
                "aws:s3/bucketVersioning:BucketVersioning",
                f"{name}-versioning",
                {"bucket": name, "versioningConfiguration": {"status": "Enabled"}},
                **by_bucket,
            ),
            _state_resource(
                stack,
                project,
                "aws:s3/bucketPolicy:BucketPolicy",
                f"{name}-tls",
                {"bucket": name, "policy": policy},
                **by_bucket,
            ),
        ]
    return group


def _zone_group(stack: str, project: str, index: int) -> list[dict[str, Any]]:
    """A Cloudflare zone with its TLS settings, as provider 6 (ZoneSetting each) or 5 (ZoneSettingsOverride)
    writes them."""
    zone_id = f"{index:032x}"
    zone = _state_resource(stack, project, "cloudflare:index/zone:Zone", f"bench-zone-{index}", {"id": zone_id})
    by_zone = {"propertyDependencies": {"zoneId": [zone["urn"]]}, "dependencies": [zone["urn"]]}
    settings = {"ssl": "strict", "min_tls_version": "1.2", "always_use_https": "on"}
    if index % 2:
        override = {"zoneId": zone_id, "settings": {"ssl": "strict", "minTlsVersion": "1.2", "alwaysUseHttps": "on"}}
        return [
            zone,
            _state_resource(
                stack,
                project,
                "cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride",
                f"bench-zone-{index}-settings",
                override,
                **by_zone,
            ),
        ]
    return [zone] + [
        _state_resource(
            stack,
            project,
            "cloudflare:index/zoneSetting:ZoneSetting",
            f"bench-zone-{index}-{setting}",
            {"zoneId": zone_id, "settingId": setting, "value": value},
            **by_zone,
        )
        for setting, value in settings.items()
    ]


def generated_state(
    base: dict[str, Any], size: int, *, deployments_only: bool = False, refreshed: bool = False
) -> dict[str, Any]:
    """A state of exactly `size` resources grown from `base` (the production preview's stack.json); with
    `refreshed`, every resource as `pulumi refresh` leaves it (offline_preview/refreshed.py: Kubernetes objects
    as the API server returns them, bridged resources with their computed attributes)."""
    state = copy.deepcopy(base)
    resources: list[dict[str, Any]] = state["deployment"]["resources"]
    if refreshed:
        resources[:] = refreshed_resources(resources)
    stack_resource = resources[0]
    stack, project = stack_resource["urn"].removeprefix("urn:pulumi:").split("::")[:2]
    providers = [r for r in resources if r["type"].startswith("pulumi:providers:")]
    unit = [r for r in resources[1:] if not r["type"].startswith("pulumi:providers:")]
    if deployments_only:
        unit = [r for r in unit if r["type"] == "kubernetes:apps/v1:Deployment"]
    namespace = next(
        (r["inputs"]["metadata"]["name"] for r in resources if r["type"] == "kubernetes:core/v1:Namespace"), stack
    )

    def groups() -> Iterator[list[dict[str, Any]]]:
        copies = 0
        while True:
            suffix = f"-{copies}"
            yield [
                _renamed(r, lambda urn, s=suffix: urn + s if urn in unit_urns else urn, namespace, namespace + suffix)
                for r in unit
            ]
            if not deployments_only:
                for group in (_bucket_group(stack, project, copies), _zone_group(stack, project, copies)):
                    yield refreshed_resources(group) if refreshed else group
            copies += 1

    unit_urns = {r["urn"] for r in unit}
    grown = [stack_resource, *providers]
    for group in groups():
        grown += group[: size - len(grown)]
        if len(grown) >= size:
            break
    state["deployment"]["resources"] = grown
    return state


def _bench_audits(base: dict[str, Any], runs: int, large_runs: int, out: Path) -> tuple[list[str], list[str]]:
    """Each generated state audited `runs` times (the 50,000-resource one `large_runs` times), each in a fresh
    interpreter: the report's lines, and the problems over budget."""
    lines = ["make audit of generated states, median of the runs, each in a fresh interpreter"]
    over = []
    cases = [
        ("mixed", AUDIT_RESOURCES, False, False, AUDIT_WALL_BUDGET, runs),
        ("deployments", AUDIT_RESOURCES, True, False, AUDIT_WALL_BUDGET, runs),
        ("refreshed", LARGE_AUDIT_RESOURCES, False, True, LARGE_AUDIT_WALL_BUDGET, large_runs),
    ]
    for case, size, deployments_only, refreshed, budget, count in cases:
        if count <= 0:
            continue
        path = out / f"audit-{case}.json"
        state = generated_state(base, size, deployments_only=deployments_only, refreshed=refreshed)
        path.write_text(json.dumps(state))
        del state
        report = out / f"{case}.report.json"
        command = [sys.executable, "-m", "offline_preview.policy_eval", str(path), "--report", str(report)]
        samples = [_run_command(command, ok=(0, 1)) for _ in range(count)]
        checked = json.loads(report.read_text())["summary"]["resources"]
        wall = statistics.median(s.seconds for s in samples)
        cpu = statistics.median(s.cpu_seconds for s in samples)
        peak = max(s.peak_mb for s in samples)
        lines.append(
            f"  {case:<12}: {checked:,} resources in {wall:6.2f} s wall ({cpu:5.2f} s CPU)   peak {peak:6.1f} MB"
            f"   (budget {budget:.0f} s, {count} runs)"
        )
        if checked != size:
            over.append(f"the {case} audit checked {checked} resources, not {size}")
        if wall > budget:
            over.append(f"the {case} audit took {wall:.1f} s, over {budget:.0f} s")
        path.unlink()
    return lines, over


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offline_preview.bench", description=__doc__)
    parser.add_argument("--stack", default="production")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--audit-runs", type=int, default=3)
    parser.add_argument("--large-audit-runs", type=int, default=3, help="runs of the 50,000-resource audit")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as out:
        preview_args = ("--stack", args.stack, "--out", out)
        first = _run(_PREVIEW, *preview_args)  # also warms the filesystem cache for both measurements
        report = json.loads(first.stdout.strip().splitlines()[-1])
        if report["code"] != 0:
            raise SystemExit(f"the {args.stack} preview failed (exit {report['code']})")
        modules: list[str] = report["modules"]
        sdks = sorted({m.split(".")[0] for m in modules})
        import_code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)"
        previews, imports = [], []
        for _ in range(args.runs):  # interleaved, so load on the machine hits both alike
            imports.append(_run(import_code))
            previews.append(_run(_PREVIEW, *preview_args))
        base = json.loads((Path(out) / "stack.json").read_text())
        audit_lines, audit_over = _bench_audits(base, args.audit_runs, args.large_audit_runs, Path(out))

    import_s = statistics.median(s.seconds for s in imports)
    preview_s = statistics.median(s.seconds for s in previews)
    preview_mb = max(s.peak_mb for s in previews)
    import_mb = max(s.peak_mb for s in imports)
    ratio = preview_s / import_s
    print(f"offline preview of {args.stack!r}, median of {args.runs} runs, each in a fresh interpreter")
    print(f"  SDKs it imports        : {', '.join(sdks)} ({len(modules)} modules)")
    print(f"  bare SDK import (floor): {import_s:6.2f} s   peak {import_mb:6.1f} MB")
    print(f"  whole preview          : {preview_s:6.2f} s   peak {preview_mb:6.1f} MB")
    print(f"  preview / import floor : {ratio:6.2f} x   (budget {WALL_RATIO_BUDGET:.1f} x)")
    print(f"  peak memory            : {preview_mb:6.1f} MB  (budget {PEAK_MB_BUDGET:.0f} MB)")
    for line in audit_lines:
        print(line)
    over = []
    if ratio > WALL_RATIO_BUDGET:
        over.append(f"wall time {ratio:.2f}x the import floor exceeds {WALL_RATIO_BUDGET}x")
    if preview_mb >= PEAK_MB_BUDGET:
        over.append(f"peak memory {preview_mb:.0f} MB exceeds {PEAK_MB_BUDGET:.0f} MB")
    over += audit_over
    for problem in over:
        print(f"OVER BUDGET: {problem}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
