"""Proves the app's NetworkPolicies are enforced: a short-lived pod in a namespace the policies do not
admit must fail to connect to the app's Service, while it can resolve the Service's name (the control
that makes the failure mean something).

    python3 tools/netpol_probe.py --namespace production --service hft-frontend-service --port 80

It creates a throwaway namespace (`netpol-probe-<random>`, Pod Security `restricted`, no NetworkPolicy of
its own, so its egress is open), runs one pod there with `kubectl run --rm -i --restart=Never` (image
pinned by digest, a pod spec that passes the restricted profile, given with `--overrides`), and deletes
the namespace. The pod prints what it saw; the verdict:

- connected to the Service                       -> exit 1: the policies admitted it (or are not enforced:
                                                    on EKS, the VPC CNI's network policy agent is off)
- DNS resolved, connection timed out             -> exit 0: dropped, as an enforced policy drops it
- DNS resolved, connection refused or unreachable
  before the timeout                              -> exit 2: inconclusive (no endpoint, a wrong port: a
                                                    refusal is an answer, not a drop)
- DNS did not resolve, or the pod did not report -> exit 2: inconclusive (the probe itself is broken)

Standard library and kubectl only (the deploy runner's python3 runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

# busybox (nslookup, nc, date in 1 MB): the smallest image with a resolver and a TCP connect with a
# timeout, and a shell. docker.io/library/busybox:1.37.0 by the digest three unrelated public
# repositories pin it at (one pulling it through mirror.gcr.io); not checked against the registry here:
# `crane digest docker.io/library/busybox:1.37.0` (docs/production-hardening.md).
IMAGE = "docker.io/library/busybox:1.37.0@sha256:bdf57e528e45e4433820e045b29b4597825a1c9e38353532d90a01445013f82e"
CONNECT_TIMEOUT = 5  # seconds nc waits for the TCP handshake
KUBECTL_TIMEOUT = 180  # seconds for the whole `kubectl run` (image pull, scheduling, the probe)
NOBODY = 65534
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# The pod's script: its arguments are positional ($1..$3), never pasted into the text.
SCRIPT = """host="$1"; port="$2"; wait="$3"
if nslookup "$host" >/dev/null 2>&1; then echo "probe dns=ok"; else echo "probe dns=fail"; fi
start=$(date +%s)
if nc -z -w "$wait" "$host" "$port" >/dev/null 2>&1; then result=connected; else result=failed; fi
end=$(date +%s)
echo "probe connect=$result seconds=$((end - start)) timeout=$wait"
"""


class ProbeError(Exception):
    """The probe could not run or its result means nothing (exit 2)."""


@dataclass(frozen=True)
class Verdict:
    code: int  # 0 enforced, 1 admitted, 2 inconclusive
    message: str


def verdict(output: str) -> Verdict:
    """The decision, from what the pod printed (lines `probe dns=...` and `probe connect=... seconds=...
    timeout=...`). A drop shows as a connection that failed only when nc gave up waiting."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("probe "):
            for item in line.split()[1:]:
                key, _, value = item.partition("=")
                fields[key] = value
    if fields.get("connect") == "connected":
        return Verdict(1, "the probe pod connected to the Service: the NetworkPolicies did not stop it")
    if "dns" not in fields or "connect" not in fields:
        return Verdict(2, f"inconclusive: the probe pod reported no result ({' '.join(output.split())[:200]!r})")
    if fields["dns"] != "ok":
        return Verdict(
            2,
            "inconclusive: the probe pod could not resolve the Service's name, so its failed connection proves nothing",
        )
    if fields["connect"] != "failed":
        return Verdict(2, f"inconclusive: unexpected connect={fields['connect']!r}")
    try:
        seconds, connect_timeout = int(fields.get("seconds", "")), int(fields.get("timeout", ""))
    except ValueError:
        return Verdict(2, f"inconclusive: no duration or timeout in {fields!r}")
    if seconds < connect_timeout - 1:
        return Verdict(
            2,
            f"inconclusive: the connection failed after {seconds}s, before the {connect_timeout}s "
            "timeout: refused or unreachable (no endpoint?), which an enforced policy would not answer",
        )
    return Verdict(0, f"enforced: the name resolved, and the connection timed out after {seconds}s")


def pod_overrides(pod: str, image: str) -> dict[str, Any]:
    """The probe pod's spec, merged (strategic) over what `kubectl run` generates: the restricted profile
    (non-root numeric user, no privilege escalation, no capabilities, RuntimeDefault seccomp), a
    read-only root filesystem, no service account token, bounded resources."""
    return {
        "apiVersion": "v1",
        "metadata": {"labels": {"app.kubernetes.io/name": "netpol-probe"}},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": NOBODY,
                "runAsGroup": NOBODY,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": pod,
                    "image": image,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "100m", "memory": "32Mi"},
                    },
                }
            ],
        },
    }


def probe_namespace_manifest(name: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "netpol-probe"}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def run_command(pod: str, probe_namespace: str, host: str, port: int, image: str) -> list[str]:
    return [
        "kubectl", "run", pod,
        "--namespace", probe_namespace,
        "--rm", "-i", "--restart=Never",
        f"--image={image}",
        "--pod-running-timeout=2m",
        "--override-type=strategic",
        f"--overrides={json.dumps(pod_overrides(pod, image))}",
        "--command", "--",
        "sh", "-c", SCRIPT, "sh", host, str(port), str(CONNECT_TIMEOUT),
    ]  # fmt: skip


def _kubectl(args: list[str], stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"inconclusive: `{' '.join(args[:3])}` did not finish in {timeout:.0f}s") from None
    except OSError as exc:
        raise ProbeError(f"inconclusive: cannot run kubectl ({exc})") from None


def probe(namespace: str, service: str, port: int, image: str = IMAGE) -> Verdict:
    for value, what in ((namespace, "--namespace"), (service, "--service")):
        if not _LABEL.match(value):
            raise ProbeError(f"{what} {value!r} is not a Kubernetes name")
    if not 0 < port < 65536:
        raise ProbeError(f"--port {port} is not a port")
    suffix = secrets.token_hex(4)
    probe_namespace, pod = f"netpol-probe-{suffix}", f"netpol-probe-{suffix}"
    host = f"{service}.{namespace}.svc.cluster.local"
    created = _kubectl(["kubectl", "create", "-f", "-"], json.dumps(probe_namespace_manifest(probe_namespace)))
    if created.returncode != 0:
        raise ProbeError(f"inconclusive: could not create namespace {probe_namespace}: {created.stderr.strip()}")
    try:
        ran = _kubectl(run_command(pod, probe_namespace, host, port, image), timeout=KUBECTL_TIMEOUT)
        result = verdict(ran.stdout)
        if result.code == 2 and ran.returncode != 0:
            result = Verdict(2, f"{result.message}; kubectl: {' '.join(ran.stderr.split())[:300]}")
        return result
    finally:
        _kubectl(["kubectl", "delete", "namespace", probe_namespace, "--wait=false", "--ignore-not-found"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netpol_probe", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--namespace", required=True, help="the app's namespace")
    parser.add_argument("--service", required=True, help="the app's Service")
    parser.add_argument("--port", type=int, required=True, help="the Service's port")
    parser.add_argument("--image", default=IMAGE, help="the probe's image (by digest)")
    args = parser.parse_args(argv)
    if "@sha256:" not in args.image:
        print(f"error: --image {args.image} is not pinned by digest", file=sys.stderr)
        return 2
    try:
        result = probe(args.namespace, args.service, args.port, args.image)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stream = sys.stdout if result.code == 0 else sys.stderr
    label = {0: "ok", 1: "error", 2: "error"}[result.code]
    print(f"{label}: {args.service}.{args.namespace}:{args.port} from another namespace: {result.message}", file=stream)
    return result.code


if __name__ == "__main__":
    sys.exit(main())
