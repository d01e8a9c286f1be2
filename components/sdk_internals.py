"""Every private Pulumi SDK internal the repository relies on, and nothing else.

The SDKs offer no public API for these needs, so they are reached here and only here; the rest of
the repository imports them from this module. `tests/test_sdk_internals.py` exercises each one
against the installed SDKs, so an SDK upgrade that moves or changes one fails there, by name,
instead of somewhere downstream. `requirements.in` pins the SDK versions this module is tested with.

Uses:
- the program (components/settings.py): every config key of the stack, and which keys are secret.
  `pulumi.Config` reads one known key; nothing public lists them all (needed to refuse a typo'd key)
  or says whether a key was set with `--secret`.
- the offline preview: the engine's wire format (secret, resource and unknown markers), running a
  program in-process the way the language host does, Pulumi's mock monitor, and pulumi_policy's
  analyzer servicer (the object `PolicyPack` serves over gRPC), which evaluates the pack in-process.
- the policy pack: the error pulumi_policy raises when a policy reads a value unknown during preview.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pulumi.runtime import config as _config
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import proto as _proto
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime import stack as _stack
from pulumi.runtime import sync_await as _sync_await
from pulumi_policy import policy as _policy
from pulumi_policy import proxy as _proxy

T = TypeVar("T")

# --- config -----------------------------------------------------------------------------------


def config_items() -> dict[str, str]:
    """Every config value the engine handed the program, by full key (`project:key`), as text."""
    # The language host passes config in PULUMI_CONFIG; set_all_config (mocks, tests) overrides it.
    return {**_config.get_config_env(), **_config.CONFIG.get()}


def is_config_secret(full_key: str) -> bool:
    """Whether the key was set with `--secret` (for `--path` secrets: the whole top-level key)."""
    return _config.is_config_secret(full_key)


def set_config(values: dict[str, str], secret_keys: list[str]) -> None:
    """Replace the config the program sees, as the engine would hand it over."""
    _config.set_all_config(values, secret_keys)


# --- the engine's wire format -----------------------------------------------------------------

# A property value that is a secret, a resource reference or an asset carries this key, with one of
# the signatures below as its value.
SIG = _rpc._special_sig_key
SECRET_SIG = _rpc._special_secret_sig
RESOURCE_SIG = _rpc._special_resource_sig
# What the engine sends for a value not known until the resource is created.
UNKNOWN = _rpc.UNKNOWN

serialize_properties = _rpc.serialize_properties
proto = _proto  # the engine's gRPC messages (analyzer, resource monitor)


# --- running a program in-process -------------------------------------------------------------

MockMonitor = _mocks.MockMonitor


def sync_await(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion on the current event loop, as the SDK does internally."""
    return _sync_await._sync_await(awaitable)


def current_stack() -> str:
    return _settings.get_stack()


def current_project() -> str:
    return _settings.get_project()


def reset_runtime(project: str | None = None, stack: str | None = None, preview: bool = True) -> None:
    """Forget every runtime setting of an earlier run (root stack, monitor, options)."""
    if project is None and stack is None:
        _settings.reset_options()
    else:
        _settings.reset_options(project=project, stack=stack, preview=preview)


def set_root_directory(path: str) -> None:
    """What `pulumi.get_root_directory()` answers (the language host passes it; set_mocks does not)."""
    _settings.SETTINGS.root_directory = path  # pyright: ignore[reportAttributeAccessIssue] - a context property


def forget_root_stack() -> None:
    """`set_mocks` registers a root stack of its own; the language host instead lets `run_in_stack`
    register it when the program runs. Clearing it makes the program's run register it."""
    _settings.ROOT.set(None)


def run_in_stack(program: Callable[[], Any]) -> Awaitable[None]:
    """Run `program` inside a root stack resource, which registers the stack's outputs at the end."""
    return _stack.run_in_stack(program)


# --- pulumi_policy ----------------------------------------------------------------------------

# The servicer `PolicyPack` serves over gRPC: Analyze, AnalyzeStack, Remediate, GetAnalyzerInfo, ...
PolicyAnalyzerServicer = _policy._PolicyAnalyzerServicer
# Raised when a policy reads a property whose value is unknown during preview.
UnknownValueError = _proxy.UnknownValueError
