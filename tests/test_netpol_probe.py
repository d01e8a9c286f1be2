"""tools/netpol_probe.py, offline: its verdict on what the probe pod prints, the pod's own script run by a
local shell against stand-ins for nslookup and nc, the pod spec (restricted, strict-schema valid), and the
kubectl calls in order against a stand-in kubectl (the namespace is removed whatever the verdict)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline_preview.engine import Registration
from tests.support.kube_schemas import validate as validate_builtin
from tests.support.policies import evaluate
from tools import netpol_probe
from tools.netpol_probe import IMAGE, SCRIPT, pod_overrides, probe_namespace_manifest, run_command, verdict

# --- the verdict ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "code", "says"),
    [
        ("probe dns=ok\nprobe connect=connected seconds=0 timeout=5\n", 1, "connected to the Service"),
        # a connection that succeeds fails the check whatever DNS said
        ("probe dns=fail\nprobe connect=connected seconds=0 timeout=5\n", 1, "connected to the Service"),
        ("probe dns=ok\nprobe connect=failed seconds=5 timeout=5\n", 0, "timed out after 5s"),
        ("probe dns=ok\nprobe connect=failed seconds=6 timeout=5\n", 0, "enforced"),
        ("probe dns=ok\nprobe connect=failed seconds=4 timeout=5\n", 0, "enforced"),  # date's second boundaries
        ("probe dns=ok\nprobe connect=failed seconds=0 timeout=5\n", 2, "before the 5s timeout"),
        ("probe dns=ok\nprobe connect=failed seconds=3 timeout=5\n", 2, "refused or unreachable"),
        ("probe dns=fail\nprobe connect=failed seconds=5 timeout=5\n", 2, "could not resolve"),
        ("", 2, "reported no result"),
        ("If you don't see a command prompt, try pressing enter.\n", 2, "reported no result"),
        ("probe dns=ok\n", 2, "reported no result"),
        ("probe dns=ok\nprobe connect=failed timeout=5\n", 2, "no duration"),
    ],
)
def test_the_verdict(output: str, code: int, says: str) -> None:
    result = verdict(output)
    assert (result.code, says in result.message) == (code, True), result.message


# --- the pod's script, by a real shell --------------------------------------------------------------------


def _stand_in(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run_script(tmp_path: Path, *, resolves: bool, nc: str, wait: int) -> str:
    """SCRIPT under /bin/sh with nslookup and nc replaced; `nc` is the stand-in's body."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "nslookup", "exit 0" if resolves else "exit 1")
    _stand_in(bin_dir, "nc", nc)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["/bin/sh", "-c", SCRIPT, "sh", "svc.ns.svc.cluster.local", "80", str(wait)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    return result.stdout


def test_the_script_reports_a_connection(tmp_path: Path) -> None:
    output = run_script(tmp_path, resolves=True, nc="exit 0", wait=3)
    assert verdict(output).code == 1


def test_the_script_reports_a_drop_as_a_timeout(tmp_path: Path) -> None:
    # nc -w 3 against a dropped SYN: nothing for 3 seconds, then failure
    output = run_script(tmp_path, resolves=True, nc='sleep "$3"; exit 1', wait=3)
    assert "timeout=3" in output
    assert verdict(output).code == 0, output


def test_the_script_reports_a_refusal_as_inconclusive(tmp_path: Path) -> None:
    output = run_script(tmp_path, resolves=True, nc="exit 1", wait=3)
    assert verdict(output).code == 2, output


def test_the_script_reports_dns_failing(tmp_path: Path) -> None:
    output = run_script(tmp_path, resolves=False, nc='sleep "$3"; exit 1', wait=3)
    assert "probe dns=fail" in output
    assert verdict(output).code == 2


def test_the_script_takes_its_inputs_as_arguments_not_text() -> None:
    command = run_command("p", "probe-ns", "svc.ns.svc.cluster.local", 80, IMAGE)
    script_at = command.index(SCRIPT)
    assert command[script_at - 2 : script_at] == ["sh", "-c"]
    assert command[script_at + 1 :] == ["sh", "svc.ns.svc.cluster.local", "80", str(netpol_probe.CONNECT_TIMEOUT)]
    assert "svc.ns" not in SCRIPT


# --- the pod ---------------------------------------------------------------------------------------------------


def the_pod(name: str = "netpol-probe-1a2b3c4d") -> dict[str, Any]:
    """The pod `kubectl run` creates: its generated object with the overrides merged over it (strategic
    merge: the container of the same name, field by field)."""
    overrides = pod_overrides(name, IMAGE)
    container = {
        **overrides["spec"]["containers"][0],
        "command": ["sh", "-c", SCRIPT, "sh", "svc.production.svc.cluster.local", "80", "5"],
        "stdin": True,
        "stdinOnce": True,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "netpol-probe-1a2b3c4d", **overrides["metadata"]},
        "spec": {**overrides["spec"], "restartPolicy": "Never", "containers": [container]},
    }


def test_the_run_command_is_the_one_the_task_names() -> None:
    command = run_command("p", "probe-ns", "svc.ns.svc.cluster.local", 80, IMAGE)
    assert command[:3] == ["kubectl", "run", "p"]
    for flag in ("--rm", "-i", "--restart=Never", "--override-type=strategic", f"--image={IMAGE}"):
        assert flag in command
    [overrides] = [arg.split("=", 1)[1] for arg in command if arg.startswith("--overrides=")]
    assert json.loads(overrides) == pod_overrides("p", IMAGE)
    assert "@sha256:" in IMAGE


def pss_violations(pod: dict[str, Any]) -> set[str]:
    """The pack's Pod Security Standards policies that fire on the pod."""
    registration = Registration(
        urn="urn:pulumi:production::hft-frontend::kubernetes:core/v1:Pod::netpol-probe",
        type="kubernetes:core/v1:Pod",
        name="netpol-probe",
        custom=True,
        parent="",
        inputs=pod,
    )
    return {v.policy_name for v in evaluate(registration) if v.policy_name.startswith("pss-")}


def test_the_pod_is_valid_and_passes_the_restricted_profile() -> None:
    pod = the_pod()
    validate_builtin(pod, "1.33")
    assert pss_violations(pod) == set()


def test_the_restricted_check_would_see_a_broken_pod() -> None:
    pod = the_pod()
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    assert "pss-restricted-privilege-escalation" in pss_violations(pod)


def test_the_probe_namespace_enforces_restricted_and_holds_no_policy() -> None:
    namespace = probe_namespace_manifest("netpol-probe-x")
    validate_builtin(namespace, "1.33")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- the kubectl calls, against a stand-in kubectl -----------------------------------------------------------


def fake_kubectl(tmp_path: Path, run_output: str, run_exit: int = 0) -> Path:
    log, answer = tmp_path / "calls.log", tmp_path / "run-output.txt"
    answer.write_text(run_output)
    bin_dir = tmp_path / "kubectl-bin"
    bin_dir.mkdir()
    _stand_in(
        bin_dir,
        "kubectl",
        f'echo "$1 $2 $3" >> {log}\n'
        f'if [ "$1" = run ]; then cat {answer}; exit {run_exit}; fi\n'
        'if [ "$1" = create ]; then cat > /dev/null; fi\nexit 0',
    )
    return bin_dir


@pytest.mark.parametrize(
    ("run_output", "run_exit", "code"),
    [
        ("probe dns=ok\nprobe connect=connected seconds=0 timeout=5\n", 0, 1),
        ("probe dns=ok\nprobe connect=failed seconds=5 timeout=5\n", 0, 0),
        ("", 1, 2),  # the pod never ran
    ],
)
def test_the_probe_creates_runs_and_always_removes_its_namespace(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    run_output: str,
    run_exit: int,
    code: int,
) -> None:
    bin_dir = fake_kubectl(tmp_path, run_output, run_exit)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert netpol_probe.main(["--namespace", "production", "--service", "hft-frontend-service", "--port", "80"]) == code
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert [call.split()[0] for call in calls] == ["create", "run", "delete"]
    probe_namespace = calls[2].split()[2]
    assert probe_namespace.startswith("netpol-probe-")
    assert calls[1] == f"run {probe_namespace} --namespace"  # the pod, in that namespace
    out, err = capsys.readouterr()
    assert ("ok: " in out) == (code == 0)
    assert ("error: " in err) == (code != 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--namespace", "Production", "--service", "s", "--port", "80"],
        ["--namespace", "p", "--service", "s;rm", "--port", "80"],
        ["--namespace", "p", "--service", "s", "--port", "0"],
        ["--namespace", "p", "--service", "s", "--port", "80", "--image", "busybox:1.37.0"],
    ],
)
def test_bad_input_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    bin_dir = fake_kubectl(tmp_path, "")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert netpol_probe.main(argv) == 2
    assert not (tmp_path / "calls.log").exists()
