"""Runs the program under Pulumi mocks and records every registration the way the engine sees it.

`RecordingMonitor` extends Pulumi's `MockMonitor`: besides answering the SDK it keeps the whole
`RegisterResourceRequest` (parent, protect, retainOnDelete, dependencies, aliases, secret markers),
which a plain `Mocks` never sees. `PreviewMocks` does what the providers would: it returns realistic
placeholder values for computed outputs and fills in names the Kubernetes provider would generate.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from offline_preview.stack_config import StackConfig

SIG = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig
RESOURCE_SIG = rpc._special_resource_sig
UNKNOWN = rpc.UNKNOWN


# --- values as the engine holds them -----------------------------------------------------------


def plain(value: Any) -> Any:
    """A protobuf Struct/Value as JSON-like Python, keeping Pulumi's secret and resource markers.

    Protobuf carries every number as a double; integral ones become ints again, as the providers
    marshal them. Keys come sorted: a protobuf map has no order, and the output must be stable.
    """
    if hasattr(value, "DESCRIPTOR"):
        value = json_format.MessageToDict(value)
    if isinstance(value, dict):
        return {k: plain(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG


def reveal(value: Any, secret: Callable[[Any], Any] = lambda v: v) -> Any:
    """`value` without secret markers; each secret's inner value is passed through `secret`."""
    if is_secret(value):
        return secret(reveal(value["value"]))
    if isinstance(value, dict):
        if value.get(SIG) == RESOURCE_SIG:
            return value.get("id") or value.get("urn")
        return {k: reveal(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v, secret) for v in value]
    return value


def contains_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


# --- what the providers would compute ----------------------------------------------------------


def kubernetes_autoname(urn: str, name: str) -> str:
    """The Kubernetes provider names an object `<logical name>-<8 random chars>` when the program
    sets no `metadata.name`; offline the suffix is derived from the URN so previews are stable."""
    return f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:8]}"


def _placeholder(kind: str, urn: str, length: int = 32) -> str:
    digest = hashlib.sha256(f"{kind}:{urn}".encode()).hexdigest()
    return (digest * (length // len(digest) + 1))[:length]


def _pem(label: str, urn: str) -> str:
    body = _placeholder(label, urn, 64)
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def computed_outputs(type_: str, urn: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs the provider computes that the program reads; realistic in shape, fake in value."""
    if type_ == "random:index/randomPassword:RandomPassword":
        length = int(inputs.get("length", 32))
        return {
            "result": _placeholder("password", urn, length),
            "bcryptHash": "$2a$10$" + _placeholder("bcrypt", urn, 53),
        }
    if type_ == "tls:index/privateKey:PrivateKey":
        return {
            "privateKeyPem": _pem("RSA PRIVATE KEY", urn),
            "privateKeyPemPkcs8": _pem("PRIVATE KEY", urn),
            "privateKeyOpenssh": _pem("OPENSSH PRIVATE KEY", urn),
            "publicKeyPem": _pem("PUBLIC KEY", urn),
            "publicKeyOpenssh": "ssh-rsa " + _placeholder("openssh", urn, 64),
            "publicKeyFingerprintMd5": _placeholder("md5", urn, 32),
            "publicKeyFingerprintSha256": "SHA256:" + _placeholder("sha256", urn, 43),
        }
    return {}


class PreviewMocks(pulumi_mocks.Mocks):
    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        urn = f"{args.typ}::{args.name}"
        if args.typ.startswith("kubernetes:") and isinstance(outputs.get("metadata"), dict):
            metadata = outputs["metadata"] = dict(outputs["metadata"])
            metadata.setdefault("name", kubernetes_autoname(urn, args.name))
            namespace = metadata.get("namespace")
            resource_id = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
            return resource_id, outputs
        # Seeded by the inputs too: a changed input (a rotation keeper) yields a new value, as a
        # replacement does for real.
        seed = f"{urn}:{json.dumps(args.inputs, sort_keys=True, default=str)}"
        outputs.update(computed_outputs(args.typ, seed, args.inputs))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


# --- recording ---------------------------------------------------------------------------------


@dataclass
class Registration:
    """One resource as the engine received it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]  # engine form: secrets as {SIG: SECRET_SIG, "value": ...}
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    version: str = ""
    provider: str = ""
    replacement_trigger: Any = None

    @property
    def package(self) -> str:
        return self.type.split(":", 1)[0]


STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """The URN the engine gives a resource (pulumi's `resource.NewURN`): the type is qualified by the
    parent's whole type chain, except that the root stack adds nothing. (Pulumi's MockMonitor
    qualifies by the last parent type only, stack included, which no real state contains.)"""
    if parent:
        parent_type = parent.split("::")[2]
        if parent_type != STACK_TYPE:
            type_ = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(settings.get_stack(), settings.get_project(), parent, type_, name)

    def _alias_urn(self, alias: Any, request: Any) -> str:
        if alias.urn:
            return alias.urn
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return engine_urn(
            spec.stack or settings.get_stack(),
            spec.project or settings.get_project(),
            parent,
            spec.type or request.type,
            spec.name or request.name,
        )

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        urn = response.urn
        inputs = plain(request.object)
        registration = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            inputs=inputs if request.custom else {},
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            # Sets to the engine; the SDK sends them in whatever order its tasks finished.
            dependencies=sorted(request.dependencies),
            property_dependencies={k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())},
            aliases=[self._alias_urn(a, request) for a in request.aliases] + list(request.aliasURNs),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            version=request.version,
            provider=request.provider,
            replacement_trigger=plain(request.replacement_trigger) if request.HasField("replacement_trigger") else None,
        )
        if request.type == STACK_TYPE:
            self.registrations[urn] = registration
            return response
        registration.id = response.id
        # The engine marks additionalSecretOutputs secret; the plain mock monitor does not.
        outputs = plain(response.object)
        for key in registration.additional_secret_outputs:
            if key in outputs and not is_secret(outputs[key]):
                outputs[key] = {SIG: SECRET_SIG, "value": outputs[key]}
        for key, value in inputs.items():
            if is_secret(value) and key in outputs and not is_secret(outputs[key]):
                outputs[key] = {SIG: SECRET_SIG, "value": outputs[key]}
        registration.outputs = outputs
        self.registrations[urn] = registration
        # serialize_properties passes the secret markers through, so the SDK sees secrets.
        obj = _sync_await(rpc.serialize_properties(outputs, {}))
        return type(response)(urn=urn, id=response.id, object=obj)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        registration = self.registrations.get(request.urn)
        if registration is not None:
            registration.outputs = plain(request.outputs)
        return super().RegisterResourceOutputs(request)


# --- running the program -----------------------------------------------------------------------


def dependency_order(registrations: dict[str, Registration]) -> list[Registration]:
    """Parents before children and dependencies before dependents, ties by URN.

    The SDK registers resources from several threads, so arrival order varies between runs; this
    order is one the engine could have seen, and it is the same on every run.
    """
    edges: dict[str, set[str]] = {urn: set() for urn in registrations}
    for reg in registrations.values():
        for before in {reg.parent, *reg.dependencies} & edges.keys():
            edges[reg.urn].add(before)
    ordered: list[Registration] = []
    done: set[str] = set()
    while len(done) < len(edges):
        ready = sorted(urn for urn, before in edges.items() if urn not in done and before <= done)
        if not ready:  # a cycle cannot come from the SDK; keep the rest in URN order
            ready = sorted(edges.keys() - done)
        done.update(ready[:1])
        ordered.append(registrations[ready[0]])
    return ordered


class ProgramError(Exception):
    """The program failed; the message is what the Pulumi CLI would print."""


@dataclass
class Rendering:
    stack: str
    project: str
    registrations: list[Registration]

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    @property
    def stack_urn(self) -> str:
        return next(r.urn for r in self.registrations if r.type == STACK_TYPE)


class _ErrorLog:
    """Collects what the program logs at error level (an exception inside an apply lands here)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...

    def error(self, msg: str) -> None:
        self.errors.append(msg)


def _run_main(main: Path) -> None:
    runpy.run_path(str(main), run_name="__main__")


def run_program(project_dir: Path, project: str, config: StackConfig) -> Rendering:
    """Run `<project_dir>/__main__.py` under mocks, isolated from any earlier run in this process."""
    # A fresh context gives fresh Pulumi runtime state (root stack, config, settings).
    return contextvars.Context().run(_run_isolated, project_dir, project, config)


def _run_isolated(project_dir: Path, project: str, config: StackConfig) -> Rendering:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    log = _ErrorLog()
    monitor = RecordingMonitor(PreviewMocks())
    try:
        settings.reset_options(project=project, stack=config.stack, preview=True)
        pulumi.runtime.set_mocks(
            monitor.mocks,
            project=project,
            stack=config.stack,
            preview=True,
            monitor=monitor,
            logger=log,  # type: ignore[arg-type]  # duck-typed logger
        )
        set_all_config(dict(config.values), list(config.secret_keys))
        # set_mocks made a root stack already; the language host instead runs the program inside
        # `run_in_stack`, which registers the stack's exports when the program ends. Do the same.
        settings.ROOT.set(None)
        main = project_dir / "__main__.py"
        sys.path.insert(0, str(project_dir))
        try:
            _sync_await(run_in_stack(lambda: _run_main(main)))
        except pulumi.RunError as exc:
            raise ProgramError(str(exc)) from None
        finally:
            sys.path.remove(str(project_dir))
        if log.errors:
            raise ProgramError(log.errors[0])
        return Rendering(stack=config.stack, project=project, registrations=dependency_order(monitor.registrations))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
