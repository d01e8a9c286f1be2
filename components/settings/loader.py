"""Reading the stack's config into `StackSettings`: the only code that reads Pulumi config.

Fields that may hold a secret become ConfigSecrets in secret keys; a bad value stops the program with
one line naming the stack file, the key path, the value and the rule; a singleton (a zone's settings,
a cluster-wide object) has one owner among the project's stack files.
"""

from __future__ import annotations

import difflib
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pydantic import BaseModel, ValidationError

from components import sdk_internals
from components.settings.backup import BackupSettings
from components.settings.base import (
    _SECRET_TYPES,
    PROJECT,
    ConfigSecret,
    RuleError,
    SettingsError,
    _SecretRequiredError,
)
from components.settings.cluster import ClusterSettings
from components.settings.delivery import DeliverySettings
from components.settings.edge import EdgeSettings
from components.settings.routing import RoutingSettings
from components.settings.stack import StackSettings, ZoneSibling

# --- secrets in the stack's values -------------------------------------------------------------
#
# `pulumi config set --secret --path app.x.y v` marks the whole top-level key (`app`) secret: the
# engine says which keys are secret, never which leaf. So every field that may hold a secret is
# declared by its type (SecretValue, MaybeSecretValue); in a secret key each such field becomes a
# ConfigSecret, and a secret key in which no such field is set must hold its secret somewhere else
# (a probe header, a hostname), which is refused. No value of a secret key is ever shown in an error.


def _holds_secret(annotation: Any) -> bool:
    if annotation in _SECRET_TYPES:
        return True
    return any(_holds_secret(arg) for arg in typing.get_args(annotation))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or as the items of a tuple (`tuple[HttpHeader, ...]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, typing.get_args(annotation)) if m is not None), None)


def secret_fields(model: type[BaseModel] = StackSettings, prefix: str = "") -> list[str]:
    """The key paths (camelCase, as in the stack file) of every field that may hold a secret."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        if _holds_secret(info.annotation):
            found.append(path)
        elif (inner := _model_in(info.annotation)) is not None:
            found += secret_fields(inner, f"{path}.")
    return found


def _as_secret(value: Any) -> Any:
    if isinstance(value, dict):  # a map of secrets (app.secretValues): each value is one
        return {k: _as_secret(v) for k, v in value.items()}
    if isinstance(value, str):
        return ConfigSecret(value)
    if isinstance(value, bool | int | float):
        return ConfigSecret(json.dumps(value))
    return value  # not a scalar: the model refuses its type (without showing it)


def mark_secrets(model: type[BaseModel], raw: Any) -> tuple[Any, int]:
    """`raw` (the values of one model) with every field that may hold a secret wrapped as a
    ConfigSecret, and how many were set."""
    if not isinstance(raw, dict):
        return raw, 0
    marked, count = dict(raw), 0
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in marked or marked[key] is None:
            continue
        if _holds_secret(info.annotation):
            marked[key], count = _as_secret(marked[key]), count + 1
        elif (inner := _model_in(info.annotation)) is not None:
            if isinstance(marked[key], list):
                items = [mark_secrets(inner, item) for item in marked[key]]
                marked[key] = [item for item, _ in items]
                count += sum(n for _, n in items)
            else:
                marked[key], n = mark_secrets(inner, marked[key])
                count += n
    return marked, count


# --- errors -----------------------------------------------------------------------------------


def stack_file() -> str:
    return f"Pulumi.{pulumi.get_stack()}.yaml"


def _fail(key: str, value: object, rule: str) -> SettingsError:
    shown = "" if value is None else f" = {json.dumps(value, default=str)}"
    return SettingsError(f"{stack_file()}: {PROJECT}:{key}{shown}: {rule}")


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The camelCase keys allowed where `loc` points (for the hint on an unknown key)."""
    model: type[BaseModel] | None = StackSettings
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:  # an item of a tuple: same model as the tuple's
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        model = _model_in(field.annotation) if field is not None else None
    return [f.alias or name for name, f in model.model_fields.items()] if model is not None else []


def _describe(error: Any, secret_keys: frozenset[str]) -> SettingsError:
    loc = tuple(error["loc"])
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    cause = error.get("ctx", {}).get("error")
    hidden = (bool(loc) and loc[0] in secret_keys) or isinstance(cause, _SecretRequiredError)
    if isinstance(cause, RuleError):
        return _fail(f"{key}.{cause.key}" if key else cause.key, None if hidden else cause.value, cause.rule)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})" if allowed else ""
        return _fail(key, None, f"unknown key{hint}")
    if error["type"] == "missing":
        return _fail(key, None, "is required")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] in ("tuple_type", "list_type"):
        # A list in the stack file; the model holds it as a tuple only to stay immutable.
        message = "should be a list (YAML `- item` lines or [a, b])"
    if hidden:
        message = message.replace(str(error.get("input")), "[secret]")
    return _fail(key, None if hidden else error.get("input"), message)


def _secret_elsewhere(key: str, secret_capable: list[str]) -> SettingsError:
    inside = [path for path in secret_capable if path == key or path.startswith(f"{key}.")]
    where = (
        f"none of its fields that may hold one ({', '.join(inside)}) is set"
        if inside
        else f"no field of {key} may hold a secret (those that may: {', '.join(secret_capable) or 'none'})"
    )
    return _fail(
        key,
        None,
        f"is a secret (set with --secret, perhaps with --path on one of its fields), but {where}; "
        "set the other values in plain text",
    )


# --- parsing and loading ----------------------------------------------------------------------


def parse_settings(
    raw: dict[str, Any],
    secret_keys: frozenset[str] = frozenset(),
    zone_siblings: tuple[ZoneSibling, ...] = (),
) -> StackSettings:
    """Validate raw stack values (camelCase keys, as in the stack file) into `StackSettings`.

    `secret_keys` are the top-level keys set as secrets: their secret-capable fields become
    ConfigSecrets; a secret key with none of them set is refused; their values are never shown.
    `zone_siblings` are the other stack files' edges (`zone_siblings`): the hosts and zone settings of
    the stacks that share this stack's zone.
    """
    capable = secret_fields()
    values = dict(raw)
    for key in sorted(secret_keys & values.keys()):
        field = next((f for name, f in StackSettings.model_fields.items() if (f.alias or name) == key), None)
        if field is None:
            continue  # the model reports the unknown key
        if _holds_secret(field.annotation):
            values[key], count = _as_secret(values[key]), 1
        elif (model := _model_in(field.annotation)) is not None:
            values[key], count = mark_secrets(model, values[key])
        else:
            count = 0
        if count == 0:
            raise _secret_elsewhere(key, capable)
    try:
        return StackSettings.model_validate(values, context={"zone_siblings": zone_siblings})
    except ValidationError as exc:
        # An unknown key first: a typo is usually also why a required key is "missing".
        errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
        first = _describe(errors[0], secret_keys)
        if len(errors) > 1:
            first = SettingsError(f"{first} (and {len(errors) - 1} more problem(s) in the stack file)")
        raise first from None


# Config namespaces besides the project's: the providers' own settings (e.g. kubernetes:context).
PROVIDER_NAMESPACES = frozenset({"pulumi", "kubernetes", "aws", "cloudflare", "random", "tls"})


def _project_keys() -> list[str]:
    """Every config key of this project's namespace. A key in any other namespace must belong to a
    provider: `hft-fronted:app` is a typo, not a setting to ignore."""
    keys = []
    for full_key in sdk_internals.config_items():
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT:
            keys.append(key)
        elif namespace not in PROVIDER_NAMESPACES:
            close = difflib.get_close_matches(namespace, [PROJECT, *PROVIDER_NAMESPACES], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SettingsError(f"{stack_file()}: {full_key}: unknown config namespace '{namespace}'{hint}")
    return keys


def _structured(key: str) -> bool:
    field = next((f for name, f in StackSettings.model_fields.items() if (f.alias or name) == key), None)
    return field is not None and _model_in(field.annotation) is not None


# --- one owner for each singleton ---------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """Something only one stack may own: a zone's singletons, a cluster-wide object."""

    scope: str  # "zone hft-platform.com", "cluster hft-production"
    thing: str  # "its zone settings and entrypoint rulesets", "the ClusterIssuer letsencrypt-prod"
    key: str  # the stack value that claims it


def claims(settings: StackSettings) -> list[Claim]:
    found: list[Claim] = []
    if settings.edge.enabled and settings.edge.owns_zone:
        found.append(Claim(f"zone {settings.edge.zone}", "its zone settings and entrypoint rulesets", "edge.ownsZone"))
    cluster = settings.cluster.name
    issuer = settings.routing.tls.cluster_issuer
    if cluster is not None and issuer.create:
        found.append(
            Claim(f"cluster {cluster}", f"the ClusterIssuer {issuer.name}", "routing.tls.clusterIssuer.create")
        )
    backup = settings.backup
    if cluster is not None and backup.enabled and backup.velero.install:
        found.append(Claim(f"cluster {cluster}", "the Velero installation", "backup.velero.install"))
    delivery = settings.delivery
    if cluster is not None and delivery.canary and delivery.controller.install:
        found.append(Claim(f"cluster {cluster}", "the Argo Rollouts controller", "delivery.controller.install"))
    return found


def _sibling_claims(raw: dict[str, Any]) -> list[Claim]:
    """Another stack file's claims, read leniently: a value it gets wrong is its own stack's error."""
    sections = {
        name: raw.get(info.alias or name, {})
        for name, info in StackSettings.model_fields.items()
        if _model_in(info.annotation) is not None
    }
    try:
        edge = EdgeSettings.model_validate(sections["edge"])
    except (ValidationError, TypeError, ValueError):
        # Its edge's own error (a missing zoneId, say) must not hide its cluster-wide claims.
        edge = EdgeSettings.model_construct(enabled=False)
    try:
        partial = StackSettings.model_construct(
            edge=edge,
            cluster=ClusterSettings.model_validate(sections["cluster"]),
            routing=RoutingSettings.model_validate(_without_secrets(sections["routing"])),
            backup=BackupSettings.model_validate(sections["backup"]),
            delivery=DeliverySettings.model_validate(sections["delivery"]),
        )
    except (ValidationError, TypeError, ValueError):
        return []
    return claims(partial)


def _without_secrets(value: Any) -> Any:
    """A sibling's `secure:` values as marked secrets, so secret-only fields validate."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return ConfigSecret("[encrypted]")
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _sibling_configs(stack: str, root: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(stack, file name, project values) of every other stack file of the project; a file that does not
    read is skipped (it is its own stack's error)."""
    import yaml  # only here: the only stack values the program reads from files are other stacks'

    found = []
    for path in sorted(root.glob("Pulumi.*.yaml")):
        other = path.name[len("Pulumi.") : -len(".yaml")]
        if other == stack:
            continue
        try:
            config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        prefix = f"{PROJECT}:"
        raw = {
            key.removeprefix(prefix): value
            for key, value in config.items()
            if not (":" in key and not key.startswith(prefix))
        }
        found.append((other, path.name, raw))
    return found


def zone_siblings(stack: str, root: Path) -> tuple[ZoneSibling, ...]:
    """The edge of every other stack file that has one on: its zone, the app's hostnames there (the hosts
    the zone owner's rules cover) and, for the owner, what its zone settings depend on. Read leniently
    (the model's defaults for what a file leaves out); a value of the wrong shape is that stack's own
    error and contributes nothing here."""
    defaults = EdgeSettings.model_construct()
    found = []
    for _, _, raw in _sibling_configs(stack, root):
        edge, app = raw.get("edge") or {}, raw.get("app") or {}
        if not isinstance(edge, dict) or not isinstance(app, dict) or edge.get("enabled", defaults.enabled) is False:
            continue
        zone, hostnames = edge.get("zone", defaults.zone), app.get("hostnames") or []
        timeout = edge.get("proxyReadTimeout")
        if isinstance(zone, str) and isinstance(hostnames, list):
            found.append(
                ZoneSibling(
                    zone=zone,
                    hostnames=tuple(h for h in hostnames if isinstance(h, str)),
                    owns_zone=edge.get("ownsZone") is True,
                    plan=str(edge.get("plan", defaults.plan)),
                    proxy_read_timeout=timeout if isinstance(timeout, int) else None,
                )
            )
    return tuple(found)


def check_claims(settings: StackSettings, stack: str, root: Path) -> None:
    """Refuse to own what another stack file of the project owns (its stack file says so)."""
    mine = {(c.scope, c.thing): c for c in claims(settings)}
    if not mine:
        return
    for other, file_name, raw in _sibling_configs(stack, root):
        for claim in _sibling_claims(raw):
            if (claim.scope, claim.thing) in mine:
                raise _fail(
                    mine[(claim.scope, claim.thing)].key,
                    None,
                    f"{claim.scope}: {claim.thing} is owned by the stack '{other}' ({file_name}: {claim.key}); "
                    "exactly one stack may own it",
                )


def load_settings() -> StackSettings:
    """Read and validate this stack's configuration. Raises SettingsError with one line."""
    config = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key in _project_keys():
        if sdk_internals.is_config_secret(f"{PROJECT}:{key}"):
            secret_keys.add(key)
        if _structured(key):
            try:
                raw[key] = config.get_object(key)
            except pulumi.ConfigTypeError:
                raw[key] = config.get(key)  # not JSON: the model reports the wrong type
        else:
            raw[key] = config.get(key)
    raw.setdefault("environment", pulumi.get_stack())
    raw.setdefault("namespace", raw["environment"])
    root = pulumi.get_root_directory()
    siblings = zone_siblings(pulumi.get_stack(), Path(root)) if root else ()
    settings = parse_settings(raw, frozenset(secret_keys), siblings)
    if root:
        check_claims(settings, pulumi.get_stack(), Path(root))
    return settings
