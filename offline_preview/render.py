"""Turns a recorded run into what operators read: the `pulumi preview`-style resource tree, the
Kubernetes manifests, and the state in `pulumi stack export` format (deployment version 3)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from offline_preview.engine import SECRET_SIG, SIG, Registration, Rendering, contains_unknown, is_secret, reveal
from offline_preview.urns import STACK_TYPE

# A real export holds each secret encrypted by the stack's secrets provider; offline there is no
# provider, so the value is withheld and this stands in for the ciphertext.
CIPHERTEXT_PLACEHOLDER = "[offline-preview: secret withheld, not encrypted]"
# In rendered manifests, each secret string is replaced by this; the keys stay.
REDACTED = "[secret]"


# --- state export ------------------------------------------------------------------------------


def _exported(value: Any) -> Any:
    """A property value as `pulumi stack export` writes it: secrets as encrypted secret objects."""
    if is_secret(value):
        return {SIG: SECRET_SIG, "ciphertext": CIPHERTEXT_PLACEHOLDER}
    if isinstance(value, dict):
        return {k: _exported(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exported(v) for v in value]
    return value


def _provider_urn(rendering: Rendering, package: str, version: str) -> str:
    name = "default" + (f"_{version.replace('.', '_')}" if version else "")
    return f"urn:pulumi:{rendering.stack}::{rendering.project}::pulumi:providers:{package}::{name}"


def _provider_id(urn: str) -> str:
    digest = hashlib.sha256(urn.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _resource(reg: Registration, provider_ref: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"urn": reg.urn, "custom": reg.custom, "type": reg.type}
    if reg.custom:
        resource["id"] = reg.id
    resource["inputs"] = _exported(reg.inputs)
    resource["outputs"] = _exported(reg.outputs)
    if reg.parent:
        resource["parent"] = reg.parent
    resource["protect"] = reg.protect
    # `pulumi stack export` omits retainOnDelete when false (and the published schema predates it).
    if reg.retain_on_delete:
        resource["retainOnDelete"] = True
    resource["dependencies"] = list(reg.dependencies)
    if provider_ref:
        resource["provider"] = provider_ref
    if reg.property_dependencies:
        resource["propertyDependencies"] = reg.property_dependencies
    if reg.additional_secret_outputs:
        resource["additionalSecretOutputs"] = reg.additional_secret_outputs
    if reg.aliases:
        resource["aliases"] = reg.aliases
    return resource


def stack_export(rendering: Rendering, now: datetime | None = None) -> dict[str, Any]:
    version = f"v{metadata.version('pulumi')}"
    resources: list[dict[str, Any]] = []
    providers: dict[tuple[str, str], str] = {}
    for reg in rendering.registrations:
        provider_ref = None
        if reg.custom:
            key = (reg.package, reg.version)
            if key not in providers:
                urn = _provider_urn(rendering, *key)
                providers[key] = f"{urn}::{_provider_id(urn)}"
                provider_state = {"version": reg.version} if reg.version else {}
                resources.append(
                    {
                        "urn": urn,
                        "custom": True,
                        "id": _provider_id(urn),
                        "type": f"pulumi:providers:{reg.package}",
                        "inputs": provider_state,
                        "outputs": provider_state,
                        "protect": False,
                        "dependencies": [],
                    }
                )
            provider_ref = reg.provider or providers[key]
        resources.append(_resource(reg, provider_ref))
    plugins = [
        {"name": package, "path": "", "type": "resource", "version": plugin_version}
        for package, plugin_version in sorted(providers)
    ]
    return {
        "version": 3,
        "deployment": {
            "manifest": {
                "time": (now or datetime.now(UTC)).isoformat(),
                # The engine's manifest magic: the SHA-256 of the engine version string.
                "magic": hashlib.sha256(version.encode()).hexdigest(),
                "version": version,
                "plugins": plugins,
            },
            "resources": resources,
        },
    }


# --- Kubernetes manifests ----------------------------------------------------------------------


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return REDACTED


def kubernetes_objects(rendering: Rendering) -> list[tuple[Registration, dict[str, Any]]]:
    """Each Kubernetes object as the provider sends it to the API server (secret values redacted).

    The name is taken from the registered outputs, where the provider's auto-naming shows.
    """
    objects = []
    for reg in rendering.registrations:
        # Objects only: not a Helm release or a YAML group of the provider (no apiVersion and kind).
        if not reg.custom or not reg.type.startswith("kubernetes:") or "kind" not in reg.inputs:
            continue
        obj = reveal({k: v for k, v in reg.inputs.items() if not k.startswith("__")}, _redact)
        object_meta = obj.setdefault("metadata", {})
        output_meta = reveal(reg.outputs.get("metadata", {}))
        if "name" not in object_meta and "name" in output_meta:
            object_meta["name"] = output_meta["name"]
        objects.append((reg, obj))
    return objects


def manifest_filename(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    parts = [obj.get("kind", "object"), meta.get("namespace"), meta.get("name", "unnamed")]
    return "-".join(str(p) for p in parts if p).lower().replace(":", "_") + ".yaml"


class _ManifestDumper(yaml.SafeDumper):
    """Multi-line strings (alert expressions, embedded JSON) as `|` blocks, as a person writes them."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _str_representer)


class UnknownInManifestError(Exception):
    pass


class ManifestCollisionError(Exception):
    """Two objects would be written to one file: the second would silently replace the first."""


def write_manifests(rendering: Rendering, directory: Path) -> list[Path]:
    if directory.exists():
        shutil.rmtree(directory)  # a stale file from an earlier run would mislead
    directory.mkdir(parents=True)
    written = []
    for reg, obj in kubernetes_objects(rendering):
        if contains_unknown(obj):
            raise UnknownInManifestError(f"{reg.urn}: an input is unknown at preview time")
        path = directory / manifest_filename(obj)
        if path.exists():
            raise ManifestCollisionError(f"{reg.urn}: its manifest {path.name} was already written for another object")
        # Sorted keys: stable files, and apiVersion, kind, metadata come first.
        path.write_text(yaml.dump(obj, Dumper=_ManifestDumper, sort_keys=True, width=120))
        written.append(path)
    return written


# --- the preview display -----------------------------------------------------------------------


def display_type(type_: str) -> str:
    """`tls:index/privateKey:PrivateKey` -> `tls:index:PrivateKey`, as the CLI shows it."""
    package, _, rest = type_.partition(":")
    module, _, name = rest.rpartition(":")
    if module.startswith("index/"):
        module = "index"
    return f"{package}:{module}:{name}" if module else type_


def resource_tree(rendering: Rendering) -> str:
    children: dict[str, list[Registration]] = {}
    for reg in rendering.registrations:
        children.setdefault(reg.parent, []).append(reg)
    rows: list[tuple[str, str]] = []

    def walk(reg: Registration, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└─ " if last else "├─ ")
        rows.append((prefix + branch + display_type(reg.type), reg.name))
        kids = children.get(reg.urn, [])
        deeper = prefix if root else prefix + ("   " if last else "│  ")
        for i, kid in enumerate(kids):
            walk(kid, deeper, i == len(kids) - 1, False)

    for top in children.get("", []):
        walk(top, "", True, True)
    width = max(len(t) for t, _ in rows) + 2
    name_width = max(len(n) for _, n in rows) + 2
    lines = [f"     {'Type':<{width}}{'Name':<{name_width}}Plan"]
    lines += [f" +   {t:<{width}}{n:<{name_width}}create" for t, n in rows]
    return "\n".join(lines)


def summary(rendering: Rendering) -> str:
    counts = Counter(display_type(r.type) for r in rendering.registrations)
    lines = ["Resources:", f"    + {len(rendering.registrations)} to create", ""]
    lines += [f"    {count:>3}  {type_}" for type_, count in sorted(counts.items())]
    return "\n".join(lines)


PLACEHOLDER_NOTE = "(placeholder: made up offline; the provider gives the real value at deploy time)"


def _holds_placeholder(value: Any, placeholders: frozenset[str]) -> bool:
    if isinstance(value, str):
        return value in placeholders or any(p in value for p in placeholders if len(p) >= 8)
    if isinstance(value, dict):
        return any(_holds_placeholder(v, placeholders) for v in value.values())
    if isinstance(value, list):
        return any(_holds_placeholder(v, placeholders) for v in value)
    return False


def stack_outputs(rendering: Rendering) -> str:
    """The stack outputs as `pulumi preview` lists them; each that holds a value the offline providers made up
    says so on its line, so no name server, ARN or address is taken for the real one."""
    stack = next(r for r in rendering.registrations if r.type == STACK_TYPE)
    outputs = reveal(stack.outputs, lambda _: REDACTED)
    if not outputs:
        return ""
    width = max(len(k) for k in outputs) + 2
    lines = ["Outputs:"]
    for key, value in sorted(outputs.items()):
        note = f"  {PLACEHOLDER_NOTE}" if _holds_placeholder(value, rendering.placeholders) else ""
        lines.append(f"    {key:<{width}}: {json.dumps(value)}{note}")
    return "\n".join(lines)
