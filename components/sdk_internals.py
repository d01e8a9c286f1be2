"""Every private Pulumi SDK internal the repository relies on, and nothing else.

The SDKs offer no public API for these needs, so they are reached here and only here; the rest of
the repository imports them from this module. `tests/test_sdk_internals.py` exercises each one
against the installed SDKs, so an SDK upgrade that moves or changes one fails there, by name,
instead of somewhere downstream. `requirements.in` pins the SDK versions this module is tested with.

Uses:
- the program (components/settings/loader.py): every config key of the stack, and which keys are secret.
  `pulumi.Config` reads one known key; nothing public lists them all (needed to refuse a typo'd key)
  or says whether a key was set with `--secret`.
- the offline preview: the engine's wire format (secret, resource and unknown markers), running a
  program in-process the way the language host does, Pulumi's mock monitor, and pulumi_policy's
  analyzer servicer (the object `PolicyPack` serves over gRPC), which evaluates the pack in-process:
  the message it gives when a policy reads an unknown value, and a cache of the one conversion it
  repeats for every policy of a request.
- the policy pack: the error pulumi_policy raises when a policy reads a value unknown during preview.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator
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


# The diagnostic the servicer gives when a policy (or a remediation) read a value unknown during
# preview (policy.py: Analyze, AnalyzeStack, Remediate; proxy.py: UnknownValueError.message). The path
# is the property path the policy read, joined with dots.
_UNKNOWN_DIAGNOSTIC = re.compile(
    r"^can't run (?:policy|remediation) '(?P<policy>[^']+)' from policy pack '[^']*' during preview: "
    r"(?P<kind>\w+) value at (?P<path>.*) can't be known during preview$",
    re.DOTALL,
)


def unknown_value_read(message: str) -> tuple[str, str] | None:
    """(policy name, property path such as `.spec.replicas`) when a diagnostic says the policy could not run
    because it read an unknown value; None for any other message."""
    match = _UNKNOWN_DIAGNOSTIC.match(message)
    return (match["policy"], match["path"]) if match else None


class _Recent:
    """The results of a pure function for its last few arguments, by identity (each argument is kept alive
    while cached, so its identity stays its own)."""

    def __init__(self, function: Callable[..., Any], size: int = 4) -> None:
        self.function = function
        self.size = size
        self.entries: list[tuple[Any, tuple[Any, ...], Any]] = []

    def __call__(self, argument: Any, *rest: Any) -> Any:
        for seen, seen_rest, result in self.entries:
            if seen is argument and seen_rest == rest:
                return result
        result = self.function(argument, *rest)
        self.entries.insert(0, (argument, rest, result))
        del self.entries[self.size :]
        return result


@contextlib.contextmanager
def each_request_decoded_once() -> Iterator[None]:
    """The servicer reads a request's properties once per policy it runs (policy.py, Analyze: for each
    policy, `unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(request.properties)))`,
    and the same for the provider's), which is most of its cost on a large resource. Within this context the
    three steps run once per request and every policy of the request gets the same read-only view, as the
    Node.js SDK gives its policies. Validations only read their properties, so the verdicts are the same
    (tests/test_sdk_internals.py compares the pack's with and without); a policy that wrote to `args.props`
    would be seen by the ones after it. Remediations get their own copy as before (their deserialization
    keeps the secrets, and they replace the properties they change)."""
    # The servicer's module-level names for the three steps (policy.py imports them).
    originals = {
        name: getattr(_policy, name) for name in ("json_format", "deserialize_properties", "unknown_checking_proxy")
    }
    json_format = originals["json_format"]
    message_to_dict = _Recent(json_format.MessageToDict)

    class _DecodeOnce:
        def __getattr__(self, name: str) -> Any:
            return getattr(json_format, name)

        @staticmethod
        def MessageToDict(message: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 (the module's name)
            if args or kwargs:
                return json_format.MessageToDict(message, *args, **kwargs)
            return message_to_dict(message)

    setattr(_policy, "json_format", _DecodeOnce())  # noqa: B010 (not a public name of the module)
    setattr(_policy, "deserialize_properties", _Recent(originals["deserialize_properties"]))  # noqa: B010
    setattr(_policy, "unknown_checking_proxy", _Recent(originals["unknown_checking_proxy"]))  # noqa: B010
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(_policy, name, original)
