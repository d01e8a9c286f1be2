"""The pack as the CLI runs it: PulumiPolicy.yaml, `policies/__main__.py`, and the served analyzer."""

from __future__ import annotations

import json
import os
import re
import runpy
import selectors
import subprocess
import sys
from typing import Any

import grpc
import pulumi_policy
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from offline_preview.engine import Registration
from policies import (
    aws_s3,
    cloudflare,
    delivery,
    kubernetes_namespaces,
    kubernetes_network,
    kubernetes_secrets,
    kubernetes_workloads,
    pack,
)
from policies.common import EXEMPTIONS
from tests.support.policies import STACK, evaluate
from tests.support.stacks import PROJECT, PROJECT_DIR

POLICY_DIR = PROJECT_DIR / "policies"
PROJECT_FILE = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())


def test_main_builds_the_pack_with_every_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(sys, "path", list(sys.path))  # __main__.py puts the project root first
    # PolicyPack serves forever; the stand-in records what it was given.
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.append(kwargs))
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    assert len(built) == 1
    assert built[0]["name"] == pack.NAME
    assert built[0]["policies"] is pack.POLICIES
    assert built[0]["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY


def test_importing_main_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **_: pytest.fail("PolicyPack was built on import"))
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="policies.__main__")


def test_the_pack_holds_every_policy_once() -> None:
    names = [policy.name for policy in pack.POLICIES]
    assert len(names) == len(set(names))
    modules = [
        kubernetes_workloads,
        kubernetes_namespaces,
        kubernetes_network,
        kubernetes_secrets,
        aws_s3,
        cloudflare,
        delivery,
    ]
    assert names == [policy.name for module in modules for policy in module.POLICIES]


@pytest.mark.parametrize("policy", pack.POLICIES, ids=lambda p: p.name)
def test_every_policy_is_named_described_and_exemptable(policy: pulumi_policy.Policy) -> None:
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", policy.name)
    assert policy.description.endswith(".")
    assert policy.enforcement_level is not None
    assert policy.config_schema is not None
    assert EXEMPTIONS in policy.config_schema.properties


def test_the_policy_project_file_runs_the_pack_in_the_projects_virtualenv() -> None:
    assert set(PROJECT_FILE) <= {"runtime", "version", "main", "description", "author", "website", "license"}
    assert PROJECT_FILE["runtime"]["name"] == "python"
    virtualenv = (POLICY_DIR / PROJECT_FILE["runtime"]["options"]["virtualenv"]).resolve()
    assert virtualenv == (PROJECT_DIR / ".venv").resolve()
    assert (virtualenv / "bin" / "python").exists()
    assert re.fullmatch(r"\d+\.\d+\.\d+", PROJECT_FILE["version"])
    assert "main" not in PROJECT_FILE, "the CLI runs policies/__main__.py"


def test_the_policies_import_no_provider_sdk() -> None:
    # pulumi_cloudflare alone takes seconds and 165 MB to import; the policies need only type tokens.
    code = "import json, sys, policies.pack; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert {"pulumi_aws", "pulumi_cloudflare", "pulumi_kubernetes"}.isdisjoint(json.loads(out.stdout))


def _served_pack_port(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """PolicyPack prints the port it serves on as its first line."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"the policy pack printed no port within {timeout} s")
    line = process.stdout.readline().decode().strip()
    assert line.isdigit(), f"expected a port, got {line!r}"
    return int(line)


def test_the_cli_launcher_serves_the_pack() -> None:
    """Runs the pack the way the CLI does (`python -m pulumi.policy <engine> <pack dir>`, from the pack
    directory, in PulumiPolicy.yaml's virtualenv) and asks the served analyzer for its policies and a
    verdict over gRPC."""
    python = POLICY_DIR / PROJECT_FILE["runtime"]["options"]["virtualenv"] / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PULUMI_")}
    process = subprocess.Popen(
        [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=POLICY_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = _served_pack_port(process)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
            assert info.name == pack.NAME
            assert [p.name for p in info.policies] == [p.name for p in pack.POLICIES]

            # The served analyzer and the in-process evaluation give the same verdicts.
            debug_pod = Registration(
                urn=f"urn:pulumi:{STACK}::{PROJECT}::kubernetes:core/v1:Pod::debug",
                type="kubernetes:core/v1:Pod",
                name="debug",
                custom=True,
                parent="",
                inputs={
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "debug", "namespace": STACK},
                    "spec": {
                        "containers": [{"name": "shell", "image": "busybox", "securityContext": {"privileged": True}}]
                    },
                },
            )
            properties = struct_pb2.Struct()
            properties.update(debug_pod.inputs)
            request = proto.AnalyzeRequest(
                type=debug_pod.type, urn=debug_pod.urn, name=debug_pod.name, properties=properties
            )
            served = {(d.policyName, d.message) for d in analyzer.Analyze(request, timeout=30).diagnostics}
            assert "pss-baseline-privileged" in {policy for policy, _ in served}
            assert served == {(v.policy_name, v.message) for v in evaluate(debug_pod)}
    finally:
        process.kill()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()
