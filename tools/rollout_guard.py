"""Refuse a deploy while a canary release is in progress (the deploy workflow's step before `pulumi up`).

During a canary, Argo Rollouts' Gateway API plugin rewrites the app's HTTPRoutes (their backend weights).
pulumi-kubernetes applies routes with server-side apply and cannot ignore a path inside an array, so a
`pulumi up` that touches a route then conflicts with the plugin's writes, or (with patch force, which
stays off) would take the canary's traffic back. So the deploy waits until no Rollout of the stack's
namespace is mid-release: promoted to the end, or aborted (an aborted canary's weights are back on the
stable Service, and the next release is exactly how it gets fixed).

    python -m tools.rollout_guard --stack production [--github-output "$GITHUB_OUTPUT"]

Exit 0 with a line saying why it may go on; 1 with one line per Rollout in progress and what to run.
With --github-output it writes `canary=true|false`, `namespace=` and `timeout=` for the later steps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]


def in_progress(rollout: dict[str, Any]) -> str | None:
    """Why this Rollout is mid-release, or None. A release is in progress from the moment the pod
    template's hash (`status.currentPodHash`) differs from the stable ReplicaSet's (`status.stableRS`)
    until the rollout is promoted (they are equal again) or aborted (`status.abort`)."""
    status = rollout.get("status") or {}
    current, stable = status.get("currentPodHash"), status.get("stableRS")
    if status.get("abort"):
        return None
    if current is None or stable is None or current == stable:
        return None
    step = status.get("currentStepIndex")
    phase = status.get("phase") or "Progressing"
    where = f" at step {step}" if step is not None else ""
    return f"{phase}{where}: revision {current} is being released over {stable}"


def blocking(rollouts: list[dict[str, Any]]) -> list[str]:
    """One line for each Rollout in progress, with the commands that end it."""
    lines = []
    for rollout in rollouts:
        why = in_progress(rollout)
        if why is None:
            continue
        meta = rollout.get("metadata") or {}
        name, namespace = meta.get("name", "?"), meta.get("namespace", "?")
        lines.append(
            f"Rollout {namespace}/{name} is mid-release ({why}); a deploy now would fight Argo Rollouts over the "
            f"routes' weights. Wait for it (kubectl argo rollouts status {name} -n {namespace}), or end it: "
            f"kubectl argo rollouts promote {name} -n {namespace} --full, or kubectl argo rollouts abort {name} "
            f"-n {namespace} (docs/runbooks.md, 'Releases (canary)')"
        )
    return lines


def stack_delivery(stack: str) -> tuple[str, bool, str]:
    """(namespace, canary?, status timeout) from the stack file, through the settings model."""
    import yaml  # the program's virtualenv: the settings model validates the stack file as the program does

    from components.settings import parse_settings

    config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw = {key.removeprefix("hft-frontend:"): value for key, value in config.items() if key.startswith("hft-frontend:")}
    raw.setdefault("environment", stack)
    raw.setdefault("namespace", raw["environment"])
    settings = parse_settings(raw)
    return settings.namespace, settings.delivery.canary, settings.delivery.status_timeout


def live_rollouts(namespace: str) -> list[dict[str, Any]]:
    """The namespace's Rollouts; none where the Rollout CRD is not installed yet (the first canary deploy)."""
    result = subprocess.run(
        ["kubectl", "get", "rollouts.argoproj.io", "--namespace", namespace, "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if "the server doesn't have a resource type" in result.stderr:
            return []
        raise RuntimeError(f"kubectl get rollouts failed: {result.stderr.strip()}")
    return list(json.loads(result.stdout).get("items") or [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rollout_guard", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the stack whose namespace to check, e.g. production")
    parser.add_argument("--github-output", type=Path, help="append canary=, namespace= and timeout= here")
    args = parser.parse_args(argv)
    namespace, canary, timeout = stack_delivery(args.stack)
    if args.github_output is not None:
        with args.github_output.open("a") as out:
            out.write(f"canary={'true' if canary else 'false'}\nnamespace={namespace}\ntimeout={timeout}\n")
    # A rolling stack may still hold a Rollout from before it switched: checked all the same.
    try:
        lines = blocking(live_rollouts(namespace))
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    if lines:
        return 1
    print(f"No release in progress in namespace {namespace}: the deploy may go on.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
