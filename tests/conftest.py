"""Shared fixtures.

Two ways to run Pulumi code under mocks, both isolated per use:
- `pulumi_mocks`: a fresh event loop and fresh mocks for one test that builds components itself
  (with `@pulumi.runtime.test`, so the returned Output is awaited and its assertions really run);
- `render(stack)`: the whole real `__main__.py` under the offline preview's engine for a stack file.
  Each call runs in a fresh context with its own loop and mocks; results are cached per stack for the
  session because the program is deterministic and tests only read them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import settings

from offline_preview.engine import PreviewMocks, RecordingMonitor, Rendering, run_program
from offline_preview.render import kubernetes_objects
from offline_preview.stack_config import load_stack_config

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "hft-frontend"
STACKS = ("staging", "production")


@pytest.fixture
def pulumi_mocks() -> Iterator[RecordingMonitor]:
    """Fresh mocks and a fresh event loop for one test; the monitor records every registration."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor(PreviewMocks())
    settings.reset_options(project=PROJECT, stack="test", preview=True)
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack="test", preview=True, monitor=monitor)
    yield monitor
    # Leave no state for the next test: a root stack or settings from this one would leak into it.
    settings.reset_options()
    loop.close()
    asyncio.set_event_loop(None)


@cache
def _render(project_dir: Path, stack: str) -> Rendering:
    return run_program(project_dir, PROJECT, load_stack_config(project_dir, stack, PROJECT))


def render(stack: str) -> Rendering:
    """The whole program for `Pulumi.<stack>.yaml` (cached: tests must not mutate the result)."""
    return _render(PROJECT_DIR, stack)


def manifests(stack: str) -> list[dict[str, Any]]:
    """Every Kubernetes object of the stack as the provider would send it."""
    return [obj for _, obj in kubernetes_objects(render(stack))]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def run_preview(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m offline_preview <args>`, as `make preview` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "offline_preview", *args], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )


def stack_values(stack: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]


@pytest.fixture
def project_with(tmp_path: Path) -> Callable[[str, dict[str, Any]], Path]:
    """A copy of the project whose stack file `Pulumi.<stack>.yaml` holds the given config."""

    def make(stack: str, config: dict[str, Any]) -> Path:
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(PROJECT_DIR / name, tmp_path / name)
        (tmp_path / "components").symlink_to(PROJECT_DIR / "components")
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
        return tmp_path

    return make
