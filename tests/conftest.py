"""Fixtures. Helpers the test modules share live in `tests/support/` (see its __init__).

Two ways to run Pulumi code under mocks, both isolated per use:
- `pulumi_mocks`: a fresh event loop and fresh mocks for one test that builds components itself
  (with `@pulumi.runtime.test`, so the returned Output is awaited and its assertions really run);
- `render_stack(stack, overrides)`: the whole real `__main__.py` under the offline preview's engine,
  in a fresh context with its own loop and mocks (tests.support.stacks.render).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pulumi
import pytest

from components.sdk_internals import reset_runtime
from offline_preview.engine import RecordingMonitor, Rendering
from tests.support.stacks import PROJECT, render


@pytest.fixture
def pulumi_mocks() -> Iterator[RecordingMonitor]:
    """Fresh mocks and a fresh event loop for one test; the monitor records every registration."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor()
    reset_runtime(project=PROJECT, stack="test", preview=True)
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack="test", preview=True, monitor=monitor)
    yield monitor
    # Leave no state for the next test: a root stack or settings from this one would leak into it.
    reset_runtime()
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def render_stack() -> Callable[..., Rendering]:
    """`render_stack(stack, overrides=None, base=None)`: the whole program for a stack file with
    overrides merged in (see tests.support.stacks)."""
    return render
