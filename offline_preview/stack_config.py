"""Reads `Pulumi.<stack>.yaml` into the config map the Pulumi engine hands a program."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.yaml_errors import yaml_error

# What a config secret becomes offline: the ciphertext cannot be decrypted without the stack's
# secrets provider, so the program sees this marked placeholder (still as a Pulumi secret).
SECRET_PLACEHOLDER = "[offline-preview: encrypted config value not decrypted]"


class StackConfigError(Exception):
    """The stack file itself cannot be read (missing, not YAML, not a mapping)."""


@dataclass(frozen=True)
class StackConfig:
    stack: str
    path: Path
    values: dict[str, str]  # "project:key" -> the string the engine passes (JSON for objects)
    secret_keys: frozenset[str]


def _engine_string(value: Any) -> str:
    # The engine passes every config value as a string: scalars as text, objects and lists as JSON.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def _contains_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secure(v) for v in value)
    return False


def _strip_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _strip_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secure(v) for v in value]
    return value


def load_stack_config(project_dir: Path, stack: str, project: str) -> StackConfig:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackConfigError(f"{path.name}: no such stack file{did_you_mean(stack, stack_names(project_dir))}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackConfigError(yaml_error(path.name, exc)) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackConfigError(f"{path.name}: expected a mapping with a 'config' mapping")
    return stack_config(stack, document.get("config") or {}, project, path)


def stack_config(stack: str, config: Mapping[str, Any], project: str, path: Path | None = None) -> StackConfig:
    """What the engine hands the program for a stack file's `config` mapping: every value as a string,
    `secure` values as a marked placeholder, and the keys holding one listed as secret."""
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in config.items():
        # A key without a namespace belongs to the project, as the CLI reads it.
        full_key = key if ":" in key else f"{project}:{key}"
        if _contains_secure(value):
            secret_keys.add(full_key)
        values[full_key] = _engine_string(_strip_secure(value))
    return StackConfig(
        stack=stack, path=path or Path(f"Pulumi.{stack}.yaml"), values=values, secret_keys=frozenset(secret_keys)
    )


# Values the stack files hold until an operator knows the real ones: each is valid, so it renders, and each
# would fail (or point at someone else's account) in a real `pulumi up`.
PLACEHOLDERS = {
    "0123456789abcdef0123456789abcdef": "a made-up Cloudflare id",
    "123456789012": "the AWS documentation's example account",
    "EXAMPLE": "an example value",
}


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def placeholder_notes(config: StackConfig) -> list[str]:
    """One line per stack value that still holds a placeholder, naming its path (secrets are not read)."""
    notes = []
    for key, text in sorted(config.values.items()):
        if key in config.secret_keys:
            continue
        try:
            value = json.loads(text) if text[:1] in "[{" else text
        except json.JSONDecodeError:
            value = text
        for path, leaf in _leaves(value, key):
            found = next((f"{what}, {marker}" for marker, what in PLACEHOLDERS.items() if marker in leaf), None)
            if found:
                notes.append(
                    f"note: {config.path.name}: {path} holds a placeholder ({found}): "
                    "set the real value before a real `pulumi up`"
                )
    return notes


def did_you_mean(stack: str, stacks: Sequence[str]) -> str:
    """` (did you mean 'production'?)` for a stack name close to one that exists, else the list of stacks."""
    close = difflib.get_close_matches(stack, stacks, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (stacks: {', '.join(stacks)})" if stacks else " (no Pulumi.<stack>.yaml here)"


def stack_names(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
