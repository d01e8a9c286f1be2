"""What the providers would compute for each resource: its id and the outputs the engine returns
beyond the inputs (generated values, auto-names, ARNs, addresses).

One module per provider registers a function per resource type (or for a whole package) with
`@computes(...)`; `compute` looks the resource up by type, then by package, and otherwise returns the
inputs as outputs with a stable id. Values are realistic in shape and fake in content, and stable: they
derive from the resource's identity (the URN whose state it keeps, see `NewResource.identity`) and
inputs, so a rerun renders the same, and a changed input yields a new value as a replacement would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offline_preview.urns import urn_name


@dataclass(frozen=True)
class NewResource:
    type: str
    urn: str
    # The URN whose state the engine would give this resource: its first alias's when it has one
    # (a renamed resource keeps the values it had), else its own.
    identity: str
    inputs: dict[str, Any]  # plain values (secrets unwrapped)
    custom: bool

    @property
    def name(self) -> str:
        return urn_name(self.urn)

    @property
    def package(self) -> str:
        return self.type.split(":", 1)[0]

    def seed(self, kind: str) -> str:
        """A stable seed for a generated value of one kind: the identity's type and name and the inputs
        (the stack is left out, as a template's placeholder is the same in every stack)."""
        identity = f"{self.type}::{urn_name(self.identity)}"
        return f"{kind}:{identity}:{json.dumps(self.inputs, sort_keys=True, default=str)}"


Computed = tuple[str, dict[str, Any]]
"""(id, outputs the provider adds or overrides)"""
Compute = Callable[[NewResource], Computed]

_BY_TYPE: dict[str, Compute] = {}
_BY_PACKAGE: dict[str, Compute] = {}
Call = Callable[[dict[str, Any]], dict[str, Any]]
_CALLS: dict[str, Call] = {}


def computes(*types: str) -> Callable[[Compute], Compute]:
    """Register what a provider computes for these resource types (tokens as the engine spells them)."""

    def register(function: Compute) -> Compute:
        for type_ in types:
            assert type_ not in _BY_TYPE, f"{type_} is registered twice"
            _BY_TYPE[type_] = function
        return function

    return register


def computes_package(package: str) -> Callable[[Compute], Compute]:
    """Register a fallback for every type of one package without a registration of its own."""

    def register(function: Compute) -> Compute:
        _BY_PACKAGE[package] = function
        return function

    return register


def computes_call(*tokens: str) -> Callable[[Call], Call]:
    """Register what a provider answers to these invokes (data sources: `cloudflare.get_zone`)."""

    def register(function: Call) -> Call:
        for token in tokens:
            _CALLS[token] = function
        return function

    return register


def call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    """An invoke's result; an unregistered one answers nothing (every output unknown)."""
    function = _CALLS.get(token)
    return function(args) if function is not None else {}


def compute(resource: NewResource) -> Computed:
    function = _BY_TYPE.get(resource.type) or _BY_PACKAGE.get(resource.package)
    if function is None:
        return f"{resource.name}-id", {}
    return function(resource)


def registered_types() -> list[str]:
    return sorted(_BY_TYPE)


# --- value shapes ------------------------------------------------------------------------------


def placeholder(seed: str, length: int = 32, alphabet: str = "0123456789abcdef") -> str:
    """`length` characters from `alphabet`, derived from `seed`."""
    out: list[str] = []
    counter = 0
    while len(out) < length:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        out += [alphabet[b % len(alphabet)] for b in digest]
        counter += 1
    return "".join(out[:length])


def hex_placeholder(seed: str, length: int = 32) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return (digest * (length // len(digest) + 1))[:length]


# Registers every provider's computations (each module decorates its functions on import).
from offline_preview.providers import aws, cloudflare, kubernetes, random, tls  # noqa: E402

__all__ = [
    "NewResource",
    "aws",
    "call",
    "cloudflare",
    "compute",
    "computes",
    "computes_package",
    "kubernetes",
    "random",
    "tls",
]
