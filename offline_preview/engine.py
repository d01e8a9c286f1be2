"""Runs the program under Pulumi mocks and records every registration the way the engine sees it.

`RecordingMonitor` extends Pulumi's `MockMonitor`: besides answering the SDK it keeps the whole
`RegisterResourceRequest` (parent, protect, retainOnDelete, dependencies, aliases, secret markers),
which a plain `Mocks` never sees. `PreviewMocks` does what the providers would: it returns realistic
placeholder values for computed outputs and fills in names the Kubernetes provider would generate.
"""

from __future__ import annotations

import asyncio
import contextvars
import runpy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import resource_pb2

from components.sdk_internals import (
    RESOURCE_SIG,
    SECRET_SIG,
    SIG,
    UNKNOWN,
    MockMonitor,
    current_project,
    current_stack,
    forget_root_stack,
    reset_runtime,
    run_in_stack,
    serialize_properties,
    set_config,
    set_root_directory,
    sync_await,
)
from offline_preview import providers
from offline_preview.stack_config import StackConfig
from offline_preview.urns import STACK_TYPE, engine_urn, stack_urn

__all__ = ["RESOURCE_SIG", "SECRET_SIG", "SIG", "UNKNOWN"]


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


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def made_up(computed: Any, given: Any) -> set[str]:
    """The strings of what a provider computed that were not given to it: the values the offline providers
    make up (an id, an ARN, name servers, an address), which a real deployment replaces."""
    return {s for s in _strings(reveal(computed)) if s} - set(_strings(reveal(given)))


class PreviewMocks(pulumi_mocks.Mocks):
    """Answers invokes (data sources) with what the providers would find (`providers.call`). Resources go
    to `providers.compute`, from `RecordingMonitor`, which knows their URNs and aliases."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        raise NotImplementedError("RecordingMonitor registers resources itself")

    def __init__(self) -> None:
        super().__init__()
        self.placeholders: set[str] = set()

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        # A plain dict: the MockMonitor reads a tuple's second item as a list of check failures.
        result = providers.call(args.token, dict(args.args))
        self.placeholders |= made_up(result, dict(args.args))
        return result


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
    ignore_changes: list[str] = field(default_factory=list)  # the ignoreChanges option's property paths

    @property
    def package(self) -> str:
        return self.type.split(":", 1)[0]


class RecordingMonitor(MockMonitor):
    """Pulumi's mock resource monitor, recording every registration as the engine receives it, and
    answering with what the providers would compute (`offline_preview.providers`)."""

    def __init__(self, mocks: pulumi_mocks.Mocks | None = None) -> None:
        super().__init__(mocks or PreviewMocks())
        self.registrations: dict[str, Registration] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(current_stack(), current_project(), parent, type_, name)

    def _alias_urn(self, alias: Any, request: Any) -> str:
        if alias.urn:
            return alias.urn
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return engine_urn(
            spec.stack or current_stack(),
            spec.project or current_project(),
            parent,
            spec.type or request.type,
            spec.name or request.name,
        )

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = plain(request.object)
        registration = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            # A remote component's inputs are recorded too: a provider-side component (a Helm chart)
            # is known by what it was given.
            inputs=inputs if request.custom or request.remote else {},
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
            ignore_changes=list(request.ignoreChanges),
        )
        self.registrations[urn] = registration
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)

        resource = providers.NewResource(
            type=request.type,
            urn=urn,
            identity=registration.aliases[0] if registration.aliases else urn,
            inputs=reveal(inputs),
            custom=registration.custom,
        )
        registration.id, computed = providers.compute(resource)
        if isinstance(self.mocks, PreviewMocks):
            self.mocks.placeholders |= made_up({"id": registration.id, **computed}, inputs)
        outputs = {**inputs, **computed}
        # The engine marks additionalSecretOutputs secret, and an output computed from a secret input.
        for key in registration.additional_secret_outputs:
            if key in outputs and not is_secret(outputs[key]):
                outputs[key] = {SIG: SECRET_SIG, "value": outputs[key]}
        for key, value in inputs.items():
            if is_secret(value) and key in outputs and not is_secret(outputs[key]):
                outputs[key] = {SIG: SECRET_SIG, "value": outputs[key]}
        registration.outputs = outputs
        # serialize_properties passes the secret markers through, so the SDK sees secrets.
        obj = sync_await(serialize_properties(outputs, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=registration.id, object=obj)

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
    # Strings the offline providers made up (ids, ARNs, addresses, name servers): not what a deployment shows.
    placeholders: frozenset[str] = frozenset()

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    @property
    def stack_urn(self) -> str:
        return stack_urn(self.stack, self.project)


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
    monitor = RecordingMonitor()
    try:
        reset_runtime(project=project, stack=config.stack, preview=True)
        pulumi.runtime.set_mocks(
            monitor.mocks,
            project=project,
            stack=config.stack,
            preview=True,
            monitor=monitor,
            logger=log,  # type: ignore[arg-type]  # duck-typed logger
        )
        set_config(dict(config.values), list(config.secret_keys))
        set_root_directory(str(project_dir))
        # set_mocks made a root stack already; the language host instead runs the program inside
        # `run_in_stack`, which registers the stack's exports when the program ends. Do the same.
        forget_root_stack()
        main = project_dir / "__main__.py"
        sys.path.insert(0, str(project_dir))
        try:
            sync_await(run_in_stack(lambda: _run_main(main)))
        except pulumi.RunError as exc:
            raise ProgramError(str(exc)) from None
        finally:
            sys.path.remove(str(project_dir))
        if log.errors:
            raise ProgramError(log.errors[0])
        placeholders = frozenset(monitor.mocks.placeholders) if isinstance(monitor.mocks, PreviewMocks) else frozenset()
        return Rendering(
            stack=config.stack,
            project=project,
            registrations=dependency_order(monitor.registrations),
            placeholders=placeholders,
        )
    finally:
        loop.close()
        asyncio.set_event_loop(None)
