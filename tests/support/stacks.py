"""The project, its stack files, and the whole program rendered under the offline preview's engine.

    rendering = render("staging")                                    # the stack file as it is
    rendering = render("staging", {"hft-frontend:app": {"replicas": 3}})   # deep-merged overrides
    rendering = render("staging", {"hft-frontend:sentryDsn": Secret("https://k@sentry.io/1")})

`Secret("...")` stands for a value set with `pulumi config set --secret [--path]`: the program gets
the plaintext, and the top-level key holding it is marked secret, exactly as the engine hands over
a decrypted config. `DELETE` removes a key. Renderings are cached per (stack, overrides): the
program is deterministic and tests only read them.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from components.settings import StackSettings, parse_settings
from offline_preview.engine import Rendering, is_secret, run_program
from offline_preview.render import kubernetes_objects
from offline_preview.stack_config import StackConfig, stack_config

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = "hft-frontend"
STACKS = ("staging", "production")


class Secret(str):
    """A config value given as a secret (the plaintext, as the engine decrypts it for the program)."""


DELETE = object()


def stack_values(stack: str) -> dict[str, Any]:
    """A fresh copy of the stack file's `config` mapping."""
    return yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]


def merged(base: Any, overrides: Any) -> Any:
    """`base` with `overrides` deep-merged into it (mappings merge, anything else replaces; DELETE removes)."""
    if not isinstance(base, dict) or not isinstance(overrides, dict) or isinstance(overrides, Secret):
        return copy.deepcopy(overrides)
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is DELETE:
            result.pop(key, None)
        else:
            result[key] = merged(result.get(key), value)
    return result


def _holds_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def engine_config(stack: str, config: dict[str, Any]) -> StackConfig:
    """The config the engine would hand the program for these stack values (secrets decrypted)."""
    loaded = stack_config(stack, config, PROJECT)
    secret_keys = {key if ":" in key else f"{PROJECT}:{key}" for key, value in config.items() if _holds_secret(value)}
    return StackConfig(
        stack=loaded.stack,
        path=loaded.path,
        values=loaded.values,
        secret_keys=loaded.secret_keys | secret_keys,
    )


def _canonical(value: Any) -> Any:
    """A JSON-able form that keeps Secret markers apart from plain strings (for the cache key)."""
    if isinstance(value, Secret):
        return {"__secret__": str(value)}
    if value is DELETE:
        return {"__delete__": True}
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _decanonical(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__secret__"}:
            return Secret(value["__secret__"])
        if set(value) == {"__delete__"}:
            return DELETE
        return {k: _decanonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decanonical(v) for v in value]
    return value


@cache
def _render(stack: str, base: str, overrides: str) -> Rendering:
    config = merged(stack_values(base), _decanonical(json.loads(overrides)))
    return run_program(PROJECT_DIR, PROJECT, engine_config(stack, config))


def render(stack: str, overrides: dict[str, Any] | None = None, *, base: str | None = None) -> Rendering:
    """The whole program for stack `stack` (its config from `Pulumi.<base or stack>.yaml`, with the
    overrides merged in). Raises ProgramError with the program's one-line message when it fails."""
    return _render(stack, base or stack, json.dumps(_canonical(overrides or {}), sort_keys=True))


def manifests(rendering: Rendering | str) -> list[dict[str, Any]]:
    """Every Kubernetes object as the provider would send it (secret values redacted)."""
    if isinstance(rendering, str):
        rendering = render(rendering)
    return [obj for _, obj in kubernetes_objects(rendering)]


def secret_plaintexts(rendering: Rendering) -> set[str]:
    """Every string that sits inside a secret marker in the recorded state."""
    found: set[str] = set()

    def collect(value: Any, inside: bool) -> None:
        if is_secret(value):
            collect(value["value"], True)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item, inside)
        elif isinstance(value, list):
            for item in value:
                collect(item, inside)
        elif inside and isinstance(value, str) and len(value) >= 8:
            found.add(value)
            found.update(line for line in value.splitlines() if len(line) >= 8)

    for reg in rendering.registrations:
        collect(reg.inputs, False)
        collect(reg.outputs, False)
    return found


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def run_preview(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m offline_preview <args>`, as `make preview` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "offline_preview", *args], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )


def write_project(directory: Path, stack: str, config: dict[str, Any]) -> Path:
    """A copy of the project in `directory` whose `Pulumi.<stack>.yaml` holds `config`: for the
    command-line tests, which read a stack file."""
    for name in ("Pulumi.yaml", "__main__.py"):
        (directory / name).write_text((PROJECT_DIR / name).read_text())
    for package in ("components", "policies"):
        (directory / package).symlink_to(PROJECT_DIR / package)
    (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


# --- settings ----------------------------------------------------------------------------------

# The least a new stack sets.
# A stack in a zone another stack owns names the zone by its id (edge.zoneId): a made-up one.
ZONE_ID = "0123456789abcdef0123456789abcdef"

MINIMAL_APP: dict[str, Any] = {
    "image": "ghcr.io/your-org/hft-trading-platform/frontend:v1.0.0",
    "hostnames": ["new.hft-platform.com"],
    "endpoints": {
        "apiBaseUrl": "https://api-new.hft-platform.com/api",
        "websocketUrl": "wss://ws-new.hft-platform.com/ws",
        "cppBackendUrl": "https://engine-new.hft-platform.com/api",
    },
}

# Every field of the app with a value no other field has: a builder that reads the wrong field
# renders a value the test does not expect.
DISTINCT_APP: dict[str, Any] = {
    "name": "trading-ui",
    "image": "registry.example.com:5000/org/trading-ui:2026.11.3",
    "imagePullPolicy": "IfNotPresent",
    "hostnames": ["ui.example.com", "www.ui.example.com"],
    "containerPort": 3107,
    "runAsUser": 1501,
    "replicas": 7,
    "maxSurge": 3,
    "resources": {
        "requests": {"cpu": "251m", "memory": "301Mi", "ephemeralStorage": "1101Mi"},
        "limits": {"cpu": "751m", "memory": "901Mi", "ephemeralStorage": "2201Mi"},
    },
    "probes": {
        "liveness": {
            "path": "/live",
            "initialDelaySeconds": 11,
            "periodSeconds": 12,
            "timeoutSeconds": 13,
            "failureThreshold": 14,
            "successThreshold": 1,
            "httpHeaders": [{"name": "X-Probe", "value": "liveness"}],
        },
        "readiness": {
            "path": "/ready",
            "initialDelaySeconds": 15,
            "periodSeconds": 16,
            "timeoutSeconds": 17,
            "failureThreshold": 18,
            "successThreshold": 19,
        },
        "startup": {
            "path": "/start",
            "initialDelaySeconds": 20,
            "periodSeconds": 21,
            "timeoutSeconds": 22,
            "failureThreshold": 23,
            "successThreshold": 1,
        },
    },
    "autoscaling": {
        "enabled": True,
        "minReplicas": 5,
        "maxReplicas": 24,
        "targetCpuUtilization": 61,
        "targetMemoryUtilization": 62,
        "scaleUp": {"stabilizationWindowSeconds": 63, "percent": 64, "periodSeconds": 65},
        "scaleDown": {"stabilizationWindowSeconds": 66, "percent": 67, "periodSeconds": 68},
    },
    "disruptionBudget": {"maxUnavailable": 4},
    "service": {"type": "ClusterIP", "port": 8081},
    "endpoints": {
        "apiBaseUrl": "https://api.ui.example.com/v2",
        "websocketUrl": "wss://stream.ui.example.com/socket",
        "cppBackendUrl": "https://engine.ui.example.com/core",
    },
    "features": {"analytics": False, "debugPanel": True},
    "volumes": {"nextjsCachePath": "/srv/ui/.next/cache", "nextjsCacheSize": "701Mi", "tmpSize": "131Mi"},
    "secretRotation": 9,
}


def settings(app: dict[str, Any] | None = None, **sections: Any) -> StackSettings:
    """Settings of a stack `qa` with this app (default: the minimal one) and other sections; unless given, the
    edge's zone is the registered domain of the app's first hostname (its hostnames must be in the zone)."""
    app = app or MINIMAL_APP
    sections.setdefault("edge", {"zone": ".".join(app["hostnames"][0].split(".")[-2:]), "zoneId": ZONE_ID})
    return parse_settings({"environment": "qa", "namespace": "qa-ns", "app": app, **sections})


def from_stack_file(stack: str) -> StackSettings:
    # The project's own keys: a provider's (kubernetes:...) are the provider's, as the engine passes them.
    raw = {
        key.removeprefix(f"{PROJECT}:"): value
        for key, value in stack_values(stack).items()
        if key.startswith(f"{PROJECT}:")
    }
    return parse_settings(raw)
