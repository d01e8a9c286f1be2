"""Evaluates the policy pack in-process: over a rendering, as `pulumi preview --policy-pack policies` would,
and over a Pulumi state (`make audit`), without the CLI.

Two halves, kept apart on purpose:
- The engine's half is reproduced here, after pulumi/pulumi's step generator, analyzer plugin and policy
  config code: which resources reach the analyzer and when, how their properties are marshaled, how a
  `--policy-pack-config` file is reconciled with the policies' defaults, how diagnostics become violations.
- The analyzer's half is not reproduced but run: every request goes to pulumi_policy's own analyzer
  servicer, the object `PolicyPack` serves over gRPC. Deserialization, enforcement levels, config,
  unknown values and messages are therefore exactly the SDK's.

What a policy sees:
- In a preview, resource policies (`Analyze`) get each resource's inputs, after the remediations have run on
  them; stack policies (`AnalyzeStack`) get the resources' outputs at the end, with parent, dependencies and
  propertyDependencies, as the CLI sends them.
- In an audit, both judge the same properties of each resource (`_Resource.view`): its outputs, the live
  values as its provider last read them, when it is a custom resource whose state holds outputs; else its
  inputs (a component's outputs are what the program registered; a provider's are its configuration; a
  resource whose state holds no outputs has no live values to judge), and the report says which. Where the
  outputs differ from what the inputs declare (`_Resource.declared`: the outputs with each property the
  inputs hold taken from the inputs; computed ones stay), the policies run on that too, and the verdicts are
  compared per policy and resource: both violated, a violation; only the outputs, a drift; only the inputs, a
  declared finding. A drift or declared finding names the property paths whose difference makes the policy
  fire (offline_preview/drift.py). The PSS policies' namespace version is read from the same properties.
- A policy that declares the resource types it reads (policies/common.py) is sent
  only those, which is what keeps a state of thousands of resources fast; the policy ignores the others
  itself, so the verdicts are the CLI's.
- Secrets: the engine sends them marked, and pulumi_policy unwraps them for validations, which see the
  plaintext with no sign it was secret; only a remediation gets the marker (`pulumi_policy.Secret`). A
  rendering has the plaintext. A state has only ciphertext (or, from `pulumi stack export --show-secrets`,
  the plaintext), so each encrypted secret is passed on as a secret whose value the audit cannot read. No
  policy of the pack reads a secret's value, so a rendering and its state give the same verdicts.
- Numbers arrive as floats (the wire is a protobuf Struct), a resource reference as its id (a
  component's as its URN), and validations get no "__"-prefixed keys.
- The PSS policies' `kubernetesVersion`: unless the pack config sets it, each workload is judged at the
  `pod-security.kubernetes.io/enforce-version` label of its namespace when the namespace is in the same
  rendering or state (as Pod Security Admission judges it), else at the config's default (latest).

A preview and an audit differ where the state is already there:
- Preview: a remediation changes the resource before it is written (level remediate), and a value unknown
  until the resource exists makes a policy say "can't run during preview" (advisory), as the CLI does.
- Audit (fail closed): a remediation that would change a resource is a violation at the policy's level
  (remediate counts as mandatory: an audit cannot remediate what the state already holds), and a policy
  that reads the unknown sentinel a state holds is a violation at its level, attributed to that resource.
  A secret's ciphertext is a known value: a policy that needs its plaintext says "not checked".
Either way, a policy that does not know a resource's shape says "not checked" (listed apart, never a
violation), and pending deletes and pending operations of a state are listed apart, never audited as live.

Where this differs from the CLI: there are no providers, so a preview's inputs are the program's rather than
the provider's `Check`ed ones (pulumi-kubernetes, for one, marks Secret data secret in Check); a config entry
naming no policy of the pack is an error here, where the CLI silently ignores it; the CLI judges a
workload at the pack config's `kubernetesVersion` only (it cannot read the namespace's label); and the CLI has
no audit of a state: it runs resource policies on inputs only.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import dataclasses
import gc
import json
import math
import multiprocessing
import os
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from struct import unpack
from typing import Any, cast

import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi_policy import Policy, ResourceValidationPolicy, StackValidationPolicy

# The servicer `PolicyPack` serves is private API (see components/sdk_internals.py);
# tests/test_policies_pack.py checks that the served pack and this evaluation agree.
from components.sdk_internals import (
    RESOURCE_SIG,
    SECRET_SIG,
    SIG,
    UNKNOWN,
    PolicyAnalyzerServicer,
    each_request_decoded_once,
    proto,
    unknown_value_read,
)
from offline_preview.drift import Budget, BudgetSpentError, format_path, isolate, isolate_resources
from offline_preview.engine import Registration, Rendering
from offline_preview.render import stack_export
from offline_preview.state import PendingResource, State, StateError, parse_state, read_state, source_name
from offline_preview.urns import STACK_TYPE, stack_urn
from policies import pack
from policies.common import parse_not_checked, reads_resource_type, resource_name
from policies.kubernetes_workloads import parse_version

PROJECT_DIR = Path(__file__).resolve().parent.parent
POLICY_PACK_DIR = Path(pack.__file__).resolve().parent
DEFAULT_REPORT_DIR = PROJECT_DIR / "build" / "audit"
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_NAMES = {
    proto.ADVISORY: "advisory",
    proto.MANDATORY: "mandatory",
    proto.REMEDIATE: "remediate",
    proto.DISABLED: "disabled",
}
_PROTO_LEVELS = {name: level for level, name in _LEVEL_NAMES.items()}
KUBERNETES_VERSION = "kubernetesVersion"  # the PSS policies' config (policies/kubernetes_workloads.py)
ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"

# The signatures a state holds besides secrets and resource references (pulumi/pulumi
# sdk/go/common/resource/sig and pkg/resource/stack/deployment.go).
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
BYTE_STRING_SIG = "803fd3297a5875dc03ca845dda5d2a98"
FLOAT_SIG = "8ad145fe-0d11-4827-bfd7-1abcbf086f5c"

PolicyPackConfig = Mapping[str, Any] | str | Path | None
"""The `--policy-pack-config` JSON: a mapping, or the path of the file (format: policies/pack.py)."""


FINDINGS = ("violation", "drift", "declared")
"""What an audit found, for a resource judged on its outputs: a violation of the outputs and of the inputs alike
(or of the only properties it judged); a drift, of the outputs only; a declared one, of the inputs only."""


@dataclass(frozen=True)
class DriftPath:
    """A property path where a resource's outputs and inputs differ, relevant to a finding."""

    urn: str  # the resource holding it (a stack policy's finding may come from another resource than its own)
    path: str  # `spec.template.spec.containers[0].securityContext.privileged`; "" for the resource as a whole


@dataclass(frozen=True)
class Violation:
    policy_name: str
    enforcement_level: str  # advisory, mandatory or remediate (a remediation that changed the resource)
    urn: str
    message: str  # as the CLI prints it: the policy's description, then what is wrong and how to fix it
    resource_type: str
    finding: str = "violation"  # FINDINGS
    judged: str = "inputs"  # the properties judged for the resource: "outputs" (its live values) or "inputs"
    # For a drift or declared finding: the paths where outputs and inputs differ that make the policy fire
    # (offline_preview/drift.py); None when the search reached its limit (PATH_SEARCH_LIMIT, STACK_PATH_BUDGET).
    paths: tuple[DriftPath, ...] | None = ()

    @property
    def verdict(self) -> tuple[str, str, str, str, str]:
        """What the CLI would report: policy, level, resource, message, type."""
        return (self.policy_name, self.enforcement_level, self.urn, self.message, self.resource_type)


@dataclass(frozen=True)
class NotChecked:
    """A resource a policy did not judge: a shape it does not know, or a secret it cannot read."""

    policy_name: str
    urn: str
    resource_type: str
    reason: str
    judged: str = "inputs"  # the properties that could not be checked: "outputs" or "inputs"


@dataclass(frozen=True)
class JudgedOnInputs:
    """A resource an audit judged on its inputs, and why (its outputs are not live values, or there are none)."""

    urn: str
    resource_type: str
    reason: str


@dataclass(frozen=True)
class Evaluation:
    violations: list[Violation]
    not_checked: list[NotChecked]
    resources: int  # how many resources the pack was run on
    judged_on_outputs: int = 0  # of them, judged on their outputs (an audit only)
    judged_on_inputs: tuple[JudgedOnInputs, ...] = ()  # the others, in an audit


@dataclass(frozen=True)
class AuditResult:
    state: State
    evaluation: Evaluation

    @property
    def violations(self) -> list[Violation]:
        return self.evaluation.violations


class PolicyConfigError(ValueError):
    """The policy pack config is invalid; the message names the policy and the property."""


def pack_version() -> str:
    """The version the CLI reports: PulumiPolicy.yaml's, not the SDK's placeholder."""
    return str(yaml.safe_load((POLICY_PACK_DIR / "PulumiPolicy.yaml").read_text())["version"])


# --- the entry points --------------------------------------------------------------------------


def evaluate_rendering_in_full(rendering: Rendering, config: PolicyPackConfig = None) -> Evaluation:
    """What `pulumi preview --policy-pack policies` would report for the rendered program."""
    # The export adds the provider resources and references the engine would have; the registrations
    # keep the secrets' plaintext, which the engine has too.
    plaintext = {reg.urn: reg for reg in rendering.registrations}
    resources = _resources(stack_export(rendering)["deployment"]["resources"], plaintext)
    return _Evaluator(resources, rendering.stack, rendering.project, config, audit=False, source="the rendering").run()


def evaluate_rendering(rendering: Rendering, config: PolicyPackConfig = None) -> list[Violation]:
    """The verdicts `pulumi preview --policy-pack policies` would give the rendered program."""
    return evaluate_rendering_in_full(rendering, config).violations


def audit(
    state: State | Mapping[str, Any] | str | Path, config: PolicyPackConfig = None, *, workers: int | None = None
) -> AuditResult:
    """The audit of a state: a `pulumi stack export` or checkpoint, as a file, parsed, or read (`State`).
    Raises StateError for a state it does not read and PolicyConfigError for an invalid config. `workers`:
    processes for a large state (default: one per CPU, at most 4)."""
    with _collector_spared():
        if isinstance(state, str | Path):
            state = read_state(state)
        elif not isinstance(state, State):
            state = parse_state(state, "the state")
    # The state is read once and only read afterwards: frozen, the collector no longer walks its objects on
    # each full collection, and the forked workers (which inherit it) do not write to its pages.
    gc.freeze()
    try:
        resources = _resources(state.resources, audit=True)
        evaluator = _Evaluator(resources, state.stack, state.project, config, audit=True, source=state.source)
        evaluation = evaluator.run(workers)
    finally:
        gc.unfreeze()
    return AuditResult(state, evaluation)


@contextlib.contextmanager
def _collector_spared() -> Iterator[None]:
    """The cyclic garbage collector paused while a state is parsed: JSON makes trees, no cycles, and a
    50,000-resource state is millions of objects the collector would otherwise walk again and again as they
    arrive (Python's gc docs, gc.freeze: disable early, freeze before fork)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def evaluate_export(export: Mapping[str, Any] | str | Path, config: PolicyPackConfig = None) -> list[Violation]:
    """The audit's verdicts for a state (see `audit`)."""
    return audit(export, config).violations


# --- resources as the engine holds them --------------------------------------------------------


@dataclass(frozen=True)
class _Provider:
    urn: str
    type: str
    inputs: Mapping[str, Any]


# Why an audit judges a resource on its inputs (the report's `judgedOnInputs`). The engine writes neither a create
# still in flight (a pending operation, listed apart) nor one a `--target`ed update skipped (pulumi/pulumi
# pkg/resource/deploy/step.go, NewSkippedCreateStep: "we will not write these into the checkpoint file"), so a
# live resource without outputs is rare: the rule is for whatever state holds one.
NO_OUTPUTS = (
    "the state holds no outputs for it (a state edited by hand or written by another tool, or a provider that "
    "recorded none), so its live values are unknown"
)
COMPONENT = "a component resource: its outputs are what the program registered, not values read from a provider"
PROVIDER = "a provider resource: its outputs are its configuration, which a refresh does not read"


@dataclass(frozen=True)
class _Resource:
    """One resource's state; properties as the state or the rendering holds them."""

    urn: str
    type: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    parent: str
    dependencies: Sequence[str]
    property_dependencies: Mapping[str, Sequence[str]]
    protect: bool
    aliases: Sequence[str]
    additional_secret_outputs: Sequence[str]
    custom_timeouts: Mapping[str, float]
    provider: _Provider | None
    # What the policies judge: "outputs" in an audit of a custom resource whose state holds outputs (its live
    # values as the provider last read them), else "inputs", for `judged_why`.
    judged: str = "inputs"
    judged_why: str = ""

    @property
    def view(self) -> Mapping[str, Any]:
        """The properties judged."""
        return self.outputs if self.judged == "outputs" else self.inputs

    @property
    def declared(self) -> Mapping[str, Any]:
        """What the inputs declare, set against the outputs judged: the outputs with each property the inputs
        hold taken from the inputs. A property only the provider computes (an id, an ARN, a block it reads back)
        is nobody's declaration and stays as the outputs hold it: taken away, a policy that matches resources by
        such an id would see a violation no input holds."""
        return {**self.outputs, **self.inputs} if self.judged == "outputs" else self.inputs


def _judged(state: Mapping[str, Any], outputs: Mapping[str, Any], audit: bool) -> tuple[str, str]:
    if not audit:  # a preview judges the program's inputs, as `pulumi preview` does
        return "inputs", ""
    if state.get("custom") is False:
        return "inputs", COMPONENT
    if state["type"].startswith("pulumi:providers:"):
        return "inputs", PROVIDER
    if not any(not key.startswith("__") for key in outputs):  # none, or only the provider's bookkeeping
        return "inputs", NO_OUTPUTS
    return "outputs", ""


def _resources(
    states: Sequence[Mapping[str, Any]], plaintext: Mapping[str, Registration] | None = None, *, audit: bool = False
) -> list[_Resource]:
    plaintext = plaintext or {}

    def properties(state: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        registration = plaintext.get(state["urn"])
        if registration is not None:
            return registration.inputs if key == "inputs" else registration.outputs
        return state.get(key) or {}

    providers = {
        state["urn"]: _Provider(state["urn"], state["type"], properties(state, "inputs"))
        for state in states
        if state["type"].startswith("pulumi:providers:")
    }
    resources = []
    for state in states:
        outputs = properties(state, "outputs")
        judged, why = _judged(state, outputs, audit)
        resources.append(
            _Resource(
                urn=state["urn"],
                type=state["type"],
                inputs=properties(state, "inputs"),
                outputs=outputs,
                parent=state.get("parent") or "",
                dependencies=state.get("dependencies") or [],
                property_dependencies={k: v for k, v in (state.get("propertyDependencies") or {}).items() if v},
                protect=bool(state.get("protect")),
                aliases=state.get("aliases") or [],
                additional_secret_outputs=state.get("additionalSecretOutputs") or [],
                custom_timeouts=state.get("customTimeouts") or {},
                # A provider reference is "<provider URN>::<provider id>".
                provider=providers.get((state.get("provider") or "").rsplit("::", 1)[0]),
                judged=judged,
                judged_why=why,
            )
        )
    return resources


# --- marshaling, as the engine does for an analyzer --------------------------------------------


class _MalformedValueError(ValueError):
    """A property value the engine would refuse to read; the evaluator adds the resource to the message."""


def _float(hex_bits: Any) -> Any:
    if not isinstance(hex_bits, str):
        raise _MalformedValueError("a float value without its hexadecimal bits")
    try:
        value = unpack(">d", bytes.fromhex(hex_bits.rjust(16, "0")))[0]
    except ValueError:
        raise _MalformedValueError(f"a float value with bits {hex_bits!r}") from None
    # NaN and the infinities have no protobuf Struct form that survives the servicer's JSON conversion.
    return value if math.isfinite(value) else str(value)


def _marshaled(value: Any, skip_internal_keys: bool) -> Any:
    """MarshalProperties with KeepUnknowns and KeepSecrets, without KeepResources, from the engine's form (a
    rendering: secrets as {sig, value}) or the state's (secrets as {sig, ciphertext|plaintext}, byte strings,
    special floats). An encrypted secret becomes a secret whose value is unknown."""
    if isinstance(value, dict):
        sig = value.get(SIG)
        if sig is None:
            return {
                k: _marshaled(v, skip_internal_keys)
                for k, v in value.items()
                if not (skip_internal_keys and k.startswith("__"))
            }
        if sig == SECRET_SIG:
            if "value" in value:
                return {SIG: SECRET_SIG, "value": _marshaled(value["value"], skip_internal_keys)}
            ciphertext, plaintext = value.get("ciphertext"), value.get("plaintext")
            if isinstance(ciphertext, str) == isinstance(plaintext, str):
                raise _MalformedValueError("a secret needs exactly one of `ciphertext` or `plaintext`")
            if isinstance(ciphertext, str):
                return {SIG: SECRET_SIG, "value": UNKNOWN}
            try:
                inner = json.loads(plaintext)  # pyright: ignore[reportArgumentType]
            except json.JSONDecodeError:
                raise _MalformedValueError("a secret whose plaintext is not JSON") from None
            return {SIG: SECRET_SIG, "value": _marshaled(inner, skip_internal_keys)}
        if sig == RESOURCE_SIG:
            reference = value.get("id") or value.get("urn")
            if not isinstance(reference, str):
                raise _MalformedValueError("a resource reference without a urn")
            return reference
        if sig == BYTE_STRING_SIG:
            try:
                raw = base64.b64decode(value.get("value", ""), validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise _MalformedValueError("a byte string whose value is not base64") from None
            return raw.decode("utf-8", errors="replace")  # a Struct carries only text: U+FFFD for the rest
        if sig == FLOAT_SIG:
            return _float(value.get("value"))
        if sig in (ASSET_SIG, ARCHIVE_SIG):
            if any(key in value for key in ("path", "text", "uri", "assets")):
                return value
            return UNKNOWN  # an asset whose content the state does not hold
        raise _MalformedValueError(f"unrecognized signature {sig!r}")
    if isinstance(value, list):
        return [_marshaled(v, skip_internal_keys) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # as for the float signature: a Struct cannot carry it through the servicer
    return value


def _wire_form(properties: Mapping[str, Any], skip_internal_keys: bool) -> Mapping[str, Any]:
    """`_marshaled(properties)`, skipping the walk when the properties hold no signature and no "__" key (most
    of a state: serializing in C to look is cheaper than walking in Python)."""
    if skip_internal_keys and any(key.startswith("__") for key in properties):
        # The usual place of a provider's bookkeeping (pulumi-kubernetes' `__inputs`, a copy of the inputs):
        # dropped before looking, the rest is often plain.
        properties = {key: value for key, value in properties.items() if not key.startswith("__")}
    text = json.dumps(properties, separators=(",", ":"))
    plain = SIG not in text and (not skip_internal_keys or '"__' not in text)
    if plain and "NaN" not in text and "Infinity" not in text:  # JSON reads 1e400 as inf, and NaN as NaN
        return properties
    return _marshaled(properties, skip_internal_keys)


def _struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    wire = struct_pb2.Struct()
    wire.update(properties)
    return wire


def _options(resource: _Resource) -> proto.AnalyzerResourceOptions:
    timeouts = resource.custom_timeouts
    return proto.AnalyzerResourceOptions(
        protect=resource.protect,
        additionalSecretOutputs=list(resource.additional_secret_outputs),
        aliases=list(resource.aliases),
        customTimeouts=proto.AnalyzerResourceOptions.CustomTimeouts(
            create=timeouts.get("create", 0), update=timeouts.get("update", 0), delete=timeouts.get("delete", 0)
        ),
        parent=resource.parent,
    )


def _unknown_paths(value: Any, path: str = "") -> dict[str, bool]:
    """Where a marshaled value holds the unknown sentinel, as the policy's proxy names the path (`.a.0.b`):
    path -> whether it is an encrypted secret (True) or a value not known (False)."""
    found: dict[str, bool] = {}
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            inner = value.get("value")
            return {path: True} if inner == UNKNOWN else _unknown_paths(inner, path)
        for key, item in value.items():
            found.update(_unknown_paths(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.update(_unknown_paths(item, f"{path}.{index}"))
    elif value == UNKNOWN:
        found[path] = False
    return found


# --- the pack's configuration, reconciled as the engine does -----------------------------------


def _user_config(config: PolicyPackConfig) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """Policy name -> (enforcement level or None, properties)."""
    entries: Any
    if isinstance(config, str | Path):
        try:
            text = Path(config).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise PolicyConfigError(f"{config}: cannot be read ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise PolicyConfigError(f"{config}: not UTF-8 text") from None
        try:
            entries = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise PolicyConfigError(f"{config}: not JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from None
        if not isinstance(entries, Mapping):
            raise PolicyConfigError(f"{config}: expected a JSON object of policy names, got {type(entries).__name__}")
    else:
        entries = config or {}
    if "environments" in entries:  # the CLI resolves these Pulumi ESC environments; offline there is no ESC
        raise PolicyConfigError(
            "environments: the config names Pulumi ESC environments, which only the Pulumi CLI can open; "
            "give the values in the file instead"
        )
    parsed: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in entries.items():
        if isinstance(value, str):
            level, properties = value, {}
        elif isinstance(value, Mapping):
            properties = {k: v for k, v in value.items() if k != "enforcementLevel"}
            level = value.get("enforcementLevel")
        else:
            raise PolicyConfigError(f"{name}: {json.dumps(value)} is neither an enforcement level nor an object")
        if level is not None and level not in LEVELS:
            raise PolicyConfigError(f"{name}: {json.dumps(level)} is not an enforcement level ({', '.join(LEVELS)})")
        parsed[name] = (level, properties)
    return parsed


@dataclass(frozen=True)
class _PackConfig:
    levels: dict[str, str]  # policy -> enforcement level
    properties: dict[str, dict[str, Any]]  # policy -> its config properties, defaults filled in
    versioned: frozenset[str]  # policies that take `kubernetesVersion`
    version_given: frozenset[str]  # ... and those whose config sets it


def _pack_config(info: Any, config: PolicyPackConfig) -> _PackConfig:
    """Each policy's default level and schema defaults, then `all`, then the policy's own entry, validated
    against its config schema (pkg/resource/analyzer/config.go: ReconcilePolicyPackConfig)."""
    schemas: dict[str, dict[str, Any]] = {}
    resolved: dict[str, tuple[str, dict[str, Any]]] = {}
    versioned: set[str] = set()
    for policy in info.policies:
        properties = json_format.MessageToDict(policy.configSchema.properties)
        schemas[policy.name] = {
            "type": "object",
            "properties": properties,
            "required": list(policy.configSchema.required),
        }
        defaults = {k: v["default"] for k, v in properties.items() if "default" in v}
        resolved[policy.name] = (_LEVEL_NAMES[policy.enforcementLevel], defaults)
        if KUBERNETES_VERSION in properties:
            versioned.add(policy.name)

    given = _user_config(config)
    all_level = given.pop("all", (None, {}))[0]
    if all_level is not None:
        resolved = {name: (all_level, properties) for name, (_, properties) in resolved.items()}
    for name, (level, properties) in given.items():
        if name not in resolved:
            raise PolicyConfigError(f"{name}: the policy pack {pack.NAME} has no such policy")
        default_level, default_properties = resolved[name]
        resolved[name] = (level or default_level, {**default_properties, **properties})

    errors = [
        f"{name}: {'.'.join(map(str, error.absolute_path)) + ': ' if error.absolute_path else ''}{error.message}"
        for name, (_, properties) in resolved.items()
        for error in jsonschema.Draft7Validator(schemas[name]).iter_errors(properties)
    ]
    if errors:
        raise PolicyConfigError("invalid policy pack config: " + "; ".join(errors))
    return _PackConfig(
        levels={name: level for name, (level, _) in resolved.items()},
        properties={name: properties for name, (_, properties) in resolved.items()},
        versioned=frozenset(versioned),
        version_given=frozenset(name for name, (_, props) in given.items() if KUBERNETES_VERSION in props),
    )


# --- one run of the pack -----------------------------------------------------------------------


def _is_version(label: str) -> bool:
    try:
        parse_version(label)
    except ValueError:  # PSA cannot use it either; the config's version applies
        return False
    return True


def _servicer(policies: list[Policy]) -> PolicyAnalyzerServicer:
    return PolicyAnalyzerServicer(
        name=pack.NAME,
        version=pack_version(),
        policies=policies,
        enforcement_level=pack.ENFORCEMENT_LEVEL,
        description=pack.DESCRIPTION,
    )


def _is_reported(level: str) -> bool:
    return level != "disabled"


@dataclass
class _Found:
    """What one run of policies over one set of properties found, before it is kept (or, in an audit of a
    resource whose outputs and inputs differ, classified against the run over the other set)."""

    violations: list[Violation] = dataclasses.field(default_factory=list)
    not_checked: list[NotChecked] = dataclasses.field(default_factory=list)


# Which properties of each resource a run hands the policies: those judged (`_Resource.view`), those declared
# (`_Resource.declared`), or one side.
JUDGED, DECLARED, INPUTS, OUTPUTS = "judged", "declared", "inputs", "outputs"

PATH_SEARCH_LIMIT = 100
"""Evaluations of the policy one finding's path search may spend (offline_preview/drift.py): a Kubernetes
object's drift takes about 20 (17 for a privileged container, 1 for a Cloudflare setting). Bounded per finding,
the searches cost at most a constant per resource, the same in one process or several; a finding whose search
runs out is reported without paths, saying so."""
STACK_PATH_BUDGET = 200_000
"""Resources that stack-policy evaluations may read, over the whole audit, searching the paths of stack
policies' findings: each such evaluation reads every resource the policy reads, so this bounds the searches
of a state with many drifted buckets or zones (in its one process, in order)."""
MAX_CULPRITS = 8  # resources whose differences a stack policy's finding needs together: past it, no paths


def _props(resource: _Resource, mode: str) -> Mapping[str, Any]:
    if mode == JUDGED:
        return resource.view
    if mode == DECLARED:
        return resource.declared
    return resource.inputs if mode == INPUTS else resource.outputs


class _Evaluator:
    """One preview's or audit's run of the pack over a list of resources."""

    def __init__(
        self,
        resources: list[_Resource],
        stack: str,
        project: str,
        config: PolicyPackConfig,
        *,
        audit: bool,
        source: str,
    ) -> None:
        self.resources = resources
        self.source = source
        self.stack, self.project = stack, project
        self.audit = audit
        self.policies: dict[str, Policy] = {policy.name: policy for policy in pack.POLICIES}
        self.config = _pack_config(_servicer(pack.POLICIES).GetAnalyzerInfo(empty_pb2.Empty(), None), config)
        self.types = {resource.urn: resource.type for resource in resources}
        self.judged = {resource.urn: resource.judged for resource in resources}
        self._servicers: dict[tuple[tuple[str, ...], str | None], PolicyAnalyzerServicer] = {}
        self._resource_policies: dict[str, tuple[str, ...]] = {}
        self._namespace_versions = self._enforce_versions()
        self._differs: dict[str, bool] = {}
        self._stack_wired: dict[tuple[str, str], proto.AnalyzerResource] = {}
        self.stack_budget = Budget(STACK_PATH_BUDGET)
        self.violations: list[Violation] = []
        self.not_checked: list[NotChecked] = []

    # --- which policies, configured how

    def level(self, policy_name: str) -> str:
        return self.config.levels[policy_name]

    def servicer(self, names: tuple[str, ...], version: str | None = None) -> PolicyAnalyzerServicer:
        """A servicer holding only these policies, configured as the whole pack is (with the PSS policies'
        version set to `version`, if given)."""
        key = (names, version)
        if key not in self._servicers:
            analyzer = _servicer([self.policies[name] for name in names])
            configs = {}
            for name in names:
                properties = dict(self.config.properties[name])
                if version is not None and name in self.config.versioned and name not in self.config.version_given:
                    properties[KUBERNETES_VERSION] = version
                configs[name] = proto.PolicyConfig(
                    enforcementLevel=_PROTO_LEVELS[self.level(name)], properties=_struct(properties)
                )
            analyzer.Configure(proto.ConfigureAnalyzerRequest(policyConfig=configs), None)
            analyzer.ConfigureStack(
                proto.AnalyzerStackConfigureRequest(stack=self.stack, project=self.project, dry_run=True), None
            )
            self._servicers[key] = analyzer
        return self._servicers[key]

    def resource_policies(self, resource_type: str) -> tuple[str, ...]:
        """The resource policies that read this type and run (not disabled)."""
        if resource_type not in self._resource_policies:
            self._resource_policies[resource_type] = tuple(
                name
                for name, policy in self.policies.items()
                if isinstance(policy, ResourceValidationPolicy)
                and _is_reported(self.level(name))
                and reads_resource_type(name, resource_type)
            )
        return self._resource_policies[resource_type]

    def _enforce_versions(self) -> dict[str, str]:
        """Namespace name -> the Pod Security Admission version it enforces (PSA's default: latest), read from
        the properties judged: in an audit, the label the live namespace carries."""
        versions: dict[str, str] = {}
        for resource in self.resources:
            if resource.type != NAMESPACE_TYPE:
                continue
            metadata = resource.view.get("metadata")
            name = metadata.get("name") if isinstance(metadata, Mapping) else None
            labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
            label = labels.get(ENFORCE_VERSION_LABEL) if isinstance(labels, Mapping) else None
            if not isinstance(name, str) or name == UNKNOWN:
                continue
            if label is None:
                versions[name] = "latest"
            elif isinstance(label, str) and _is_version(label):
                versions[name] = label
        return versions

    def pod_security_version(self, resource: _Resource) -> str | None:
        """The enforce-version of the workload's namespace, if the namespace is here."""
        metadata = resource.view.get("metadata")
        namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
        if not isinstance(namespace, str) or not namespace:
            provider_namespace = resource.provider.inputs.get("namespace") if resource.provider else None
            namespace = provider_namespace if isinstance(provider_namespace, str) and provider_namespace else "default"
        return self._namespace_versions.get(namespace)

    # --- requests

    def marshaled(self, resource: _Resource, properties: Mapping[str, Any]) -> Mapping[str, Any]:
        """The properties as a validation gets them (no "__" keys)."""
        try:
            return _wire_form(properties, skip_internal_keys=True)
        except _MalformedValueError as exc:
            raise StateError(f"{self.source}: resource {resource.urn}: {exc}") from None

    def wire(self, resource: _Resource, properties: Mapping[str, Any], skip_internal_keys: bool) -> struct_pb2.Struct:
        try:
            return _struct(_wire_form(properties, skip_internal_keys))
        except _MalformedValueError as exc:
            raise StateError(f"{self.source}: resource {resource.urn}: {exc}") from None

    def provider(self, resource: _Resource) -> proto.AnalyzerProviderResource | None:
        provider = resource.provider
        if provider is None:
            return None
        return proto.AnalyzerProviderResource(
            type=provider.type,
            properties=self.wire(resource, provider.inputs, skip_internal_keys=True),
            urn=provider.urn,
            name=resource_name(provider.urn),
        )

    def analyze_request(
        self, resource: _Resource, properties: Mapping[str, Any], *, skip_internal_keys: bool, marshaled: bool = False
    ) -> proto.AnalyzeRequest:
        return proto.AnalyzeRequest(
            type=resource.type,
            properties=_struct(properties) if marshaled else self.wire(resource, properties, skip_internal_keys),
            urn=resource.urn,
            name=resource_name(resource.urn),
            options=_options(resource),
            provider=self.provider(resource),
        )

    def stack_resource(self, resource: _Resource, properties: Mapping[str, Any]) -> proto.AnalyzerResource:
        return proto.AnalyzerResource(
            type=resource.type,
            properties=self.wire(resource, properties, skip_internal_keys=True),
            urn=resource.urn,
            name=resource_name(resource.urn),
            options=_options(resource),
            provider=self.provider(resource),
            parent=resource.parent,
            dependencies=list(resource.dependencies),
            propertyDependencies={
                key: proto.AnalyzerPropertyDependencies(urns=list(urns))
                for key, urns in resource.property_dependencies.items()
                if urns
            },
        )

    def wired(self, resource: _Resource, mode: str) -> proto.AnalyzerResource:
        """A stack policy's view of the resource, built once per set of properties."""
        same = mode == JUDGED or (mode == DECLARED and not self.differs(resource))
        side = resource.judged if same else mode
        key = (resource.urn, side)
        if key not in self._stack_wired:
            self._stack_wired[key] = self.stack_resource(resource, _props(resource, side))
        return self._stack_wired[key]

    def differs(self, resource: _Resource) -> bool:
        """Whether an audit judges the resource's outputs and they hold other values than its inputs declare (the
        providers' "__" bookkeeping aside): then what the inputs declare is judged too, and the verdicts compared."""
        if resource.judged != OUTPUTS:
            return False
        if resource.urn not in self._differs:
            differs = self.marshaled(resource, resource.outputs) != self.marshaled(resource, resource.declared)
            self._differs[resource.urn] = differs
        return self._differs[resource.urn]

    # --- verdicts

    def report(
        self, diagnostic: Any, urn: str, resource_type: str, suspects: Iterable[_Resource], mode: str, found: _Found
    ) -> None:
        """One diagnostic of the servicer, as the CLI reports it; in an audit, a policy that read an unknown
        value instead fails closed at the resource that holds it."""
        read = unknown_value_read(diagnostic.message) if self.audit else None
        if read is None:
            level = _LEVEL_NAMES[diagnostic.enforcementLevel]
            # The engine reports a violation of a remediating policy as mandatory: the remediation did not fix it.
            level = "mandatory" if level == "remediate" else level
            found.violations.append(Violation(diagnostic.policyName, level, urn, diagnostic.message, resource_type))
            return
        policy_name, path = read
        self.unknown_read(policy_name, path, urn, resource_type, suspects, mode, found)

    def unknown_read(
        self,
        policy_name: str,
        path: str,
        urn: str,
        resource_type: str,
        suspects: Iterable[_Resource],
        mode: str,
        found: _Found,
    ) -> None:
        """A policy read an unknown value at `path` of one of the suspects (a resource policy's resource; a
        stack policy's resources) in the properties `mode` names: fail closed there, or, for an encrypted
        secret, say it was not checked."""
        for suspect in suspects:
            try:
                paths = _unknown_paths(_marshaled(_props(suspect, mode), skip_internal_keys=False))
            except _MalformedValueError:
                continue
            if path in paths:
                urn, resource_type, secret = suspect.urn, suspect.type, paths[path]
                break
        else:
            secret = False
        if secret:
            found.not_checked.append(
                NotChecked(
                    policy_name,
                    urn,
                    resource_type,
                    f"the value at {path} is a secret the state holds encrypted; audit an export made with "
                    "`pulumi stack export --show-secrets` to check it",
                )
            )
            return
        policy = self.policies[policy_name]
        level = self.level(policy_name)
        found.violations.append(
            Violation(
                policy_name,
                "mandatory" if level == "remediate" else level,
                urn,
                f"{policy.description}\nThe state holds an unknown value at {path} (what the engine writes for a "
                "value not known yet, left by an interrupted or failed update), so the policy cannot verify this "
                "resource: the audit fails closed. Run `pulumi refresh` and audit the state again.",
                resource_type,
            )
        )

    def collect_not_checked(self, response: Any, default_urn: str, found: _Found) -> None:
        for entry in response.not_applicable:
            for urn, why in parse_not_checked(entry.reason):
                urn = urn or default_urn
                found.not_checked.append(NotChecked(entry.policy_name, urn, self.types.get(urn, STACK_TYPE), why))

    def remediate(
        self, analyzer: PolicyAnalyzerServicer, resource: _Resource, mode: str, found: _Found
    ) -> Mapping[str, Any]:
        """In a preview, the properties `mode` names as the remediations leave them, and one violation per
        remediation that changed them; in an audit, a violation per remediation that would (they stay)."""
        properties = _props(resource, mode)
        request = self.analyze_request(resource, properties, skip_internal_keys=False)
        response = analyzer.Remediate(request, None)
        for remediation in response.remediations:
            if remediation.diagnostic:  # the remediation could not run (an unknown value)
                read = unknown_value_read(remediation.diagnostic) if self.audit else None
                if read is None:
                    found.violations.append(
                        Violation(
                            remediation.policyName, "advisory", resource.urn, remediation.diagnostic, resource.type
                        )
                    )
                else:
                    self.unknown_read(read[0], read[1], resource.urn, resource.type, [resource], mode, found)
                continue
            if not remediation.HasField("properties"):
                continue
            before = json_format.MessageToDict(request.properties)
            after = json_format.MessageToDict(remediation.properties)
            changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
            if not changed:  # the CLI shows a remediation only if it changed something
                continue
            if self.audit:
                message = (
                    f"{remediation.description}\nThe state holds {', '.join(changed)} as this remediation would "
                    "not leave them: an audit cannot remediate what the state already holds. Fix the program and "
                    "run `pulumi up`; a secret that sat in the state in plain text is exposed: rotate it."
                )
                level = self.level(remediation.policyName)
                found.violations.append(
                    Violation(
                        remediation.policyName,
                        "mandatory" if level == "remediate" else level,
                        resource.urn,
                        message,
                        resource.type,
                    )
                )
            else:
                message = f"{remediation.description}\nRemediated: {', '.join(changed)}."
                found.violations.append(
                    Violation(remediation.policyName, "remediate", resource.urn, message, resource.type)
                )
                properties = after
        return properties

    def keep(self, found: _Found, mode: str) -> None:
        """A run's verdicts as they stand, each saying which properties were judged."""
        for violation in found.violations:
            judged = self.judged.get(violation.urn, INPUTS) if mode == JUDGED else mode
            self.violations.append(dataclasses.replace(violation, judged=judged))
        for entry in found.not_checked:
            judged = self.judged.get(entry.urn, INPUTS) if mode == JUDGED else mode
            self.not_checked.append(dataclasses.replace(entry, judged=judged))

    def classify(
        self, live: _Found, declared: _Found, paths_of: Callable[[str, str, str], tuple[DriftPath, ...] | None]
    ) -> None:
        """An audit's verdicts from a run over the judged properties (`live`) and one over the inputs
        (`declared`), per policy and resource: both violated, a violation; only the outputs, a drift; only the
        inputs, a declared finding. Inputs a policy could not check (a not-checked entry, which an unknown value
        is not: that fails closed) make no drift. `paths_of(policy, urn, finding)` names the paths."""
        live_keys = {(v.policy_name, v.urn) for v in live.violations}
        declared_keys = {(v.policy_name, v.urn) for v in declared.violations}
        inputs_unchecked = {(n.policy_name, n.urn) for n in declared.not_checked}
        live_unchecked = {(n.policy_name, n.urn) for n in live.not_checked}
        paths: dict[tuple[str, str, str], tuple[DriftPath, ...] | None] = {}

        def named(policy_name: str, urn: str, finding: str) -> tuple[DriftPath, ...] | None:
            key = (policy_name, urn, finding)
            if key not in paths:
                paths[key] = paths_of(policy_name, urn, finding)
            return paths[key]

        for violation in live.violations:
            key = (violation.policy_name, violation.urn)
            judged = self.judged.get(violation.urn, INPUTS)
            if key in declared_keys or key in inputs_unchecked:
                self.violations.append(dataclasses.replace(violation, judged=judged))
            else:
                self.violations.append(
                    dataclasses.replace(violation, finding="drift", judged=judged, paths=named(*key, "drift"))
                )
        for violation in declared.violations:
            key = (violation.policy_name, violation.urn)
            if key in live_keys:
                continue
            self.violations.append(
                dataclasses.replace(
                    violation,
                    finding="declared",
                    judged=self.judged.get(violation.urn, INPUTS),
                    paths=named(*key, "declared"),
                )
            )
        for entry in live.not_checked:
            self.not_checked.append(dataclasses.replace(entry, judged=self.judged.get(entry.urn, INPUTS)))
        for entry in declared.not_checked:
            key = (entry.policy_name, entry.urn)
            if key not in live_keys and key not in live_unchecked:
                self.not_checked.append(dataclasses.replace(entry, judged=INPUTS))

    # --- resource policies

    def run_policies(
        self,
        analyzer: PolicyAnalyzerServicer,
        names: tuple[str, ...],
        resource: _Resource,
        mode: str,
        marshaled: Mapping[str, Any] | None = None,
    ) -> _Found:
        """Remediations first, then the resource policies on the result, as the engine runs them for a
        resource as it registers, over the properties `mode` names (`marshaled`: those, marshaled already)."""
        found = _Found()
        policies = [cast(ResourceValidationPolicy, self.policies[name]) for name in names]
        properties = _props(resource, mode)
        if any(self.level(p.name) == "remediate" and p.has_remediation() for p in policies):
            remediated = self.remediate(analyzer, resource, mode, found)
            marshaled = None if remediated is not properties else marshaled
            properties = remediated
        if not any(p.has_validation() for p in policies):
            return found
        if marshaled is None:
            request = self.analyze_request(resource, properties, skip_internal_keys=True)
        else:
            request = self.analyze_request(resource, marshaled, skip_internal_keys=True, marshaled=True)
        response = analyzer.Analyze(request, None)
        for diagnostic in response.diagnostics:
            self.report(diagnostic, resource.urn, resource.type, [resource], mode, found)
        self.collect_not_checked(response, resource.urn, found)
        return found

    def analyze(self, resource: _Resource) -> None:
        """The resource policies on the judged properties; in an audit of outputs that differ from the inputs,
        on the inputs too, and the two compared."""
        names = self.resource_policies(resource.type)
        if not names:
            return
        version = self.pod_security_version(resource) if self.config.versioned.intersection(names) else None
        analyzer = self.servicer(names, version)
        view = self.marshaled(resource, resource.view)
        live = self.run_policies(analyzer, names, resource, JUDGED, view)
        if resource.judged != OUTPUTS:
            self.keep(live, JUDGED)
            return
        declared_view = self.marshaled(resource, resource.declared)
        self._differs[resource.urn] = view != declared_view
        if view == declared_view:
            self.keep(live, JUDGED)
            return
        declared = self.run_policies(analyzer, names, resource, DECLARED, declared_view)
        self.classify(live, declared, lambda name, _urn, finding: self.resource_paths(resource, name, version, finding))

    def fires(self, resource: _Resource, policy_name: str, version: str | None, properties: Any) -> bool:
        """Whether the policy reports anything (a violation, a remediation it would make, an unknown value it
        read) about the resource with these marshaled properties."""
        analyzer = self.servicer((policy_name,), version)
        policy = cast(ResourceValidationPolicy, self.policies[policy_name])
        request = self.analyze_request(resource, properties, skip_internal_keys=True)
        if self.level(policy_name) == "remediate" and policy.has_remediation():
            for remediation in analyzer.Remediate(request, None).remediations:
                if remediation.diagnostic:
                    return True
                if remediation.HasField("properties") and json_format.MessageToDict(
                    remediation.properties
                ) != json_format.MessageToDict(request.properties):
                    return True
        return policy.has_validation() and bool(analyzer.Analyze(request, None).diagnostics)

    def resource_paths(
        self, resource: _Resource, policy_name: str, version: str | None, finding: str
    ) -> tuple[DriftPath, ...] | None:
        """The paths where the resource's outputs and inputs differ that make the policy fire on the side it
        fires on (`finding`: drift, the outputs; declared, the inputs); None when the budget is spent."""
        outputs, declared = self.marshaled(resource, resource.outputs), self.marshaled(resource, resource.declared)
        base, target = (declared, outputs) if finding == "drift" else (outputs, declared)
        try:
            found = isolate(
                base, target, lambda props: self.fires(resource, policy_name, version, props), Budget(PATH_SEARCH_LIMIT)
            )
        except BudgetSpentError:
            return None
        return tuple(DriftPath(resource.urn, format_path(path)) for path in found)

    # --- stack policies

    def run_stack(
        self,
        name: str,
        resources: list[_Resource],
        mode: str,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> _Found:
        """One stack policy over the resources, each with the properties `mode` names (or its override)."""
        overrides = overrides or {}
        wired = [
            self.stack_resource(r, overrides[r.urn]) if r.urn in overrides else self.wired(r, mode) for r in resources
        ]
        response = self.servicer((name,)).AnalyzeStack(proto.AnalyzeStackRequest(resources=wired), None)
        default_urn = stack_urn(self.stack, self.project)
        found = _Found()
        for diagnostic in response.diagnostics:
            urn = diagnostic.urn if diagnostic.urn in self.types else default_urn
            self.report(diagnostic, urn, self.types.get(urn, STACK_TYPE), resources, mode, found)
        self.collect_not_checked(response, default_urn, found)
        return found

    def analyze_stack(self) -> None:
        """The stack policies, once each, over the resources they read: in a preview their outputs, as the
        engine sends them; in an audit the properties judged, and the inputs too where outputs differ."""
        for name, policy in self.policies.items():
            if not isinstance(policy, StackValidationPolicy) or not _is_reported(self.level(name)):
                continue
            resources = [r for r in self.resources if reads_resource_type(name, r.type)]
            if not resources:
                continue
            mode = JUDGED if self.audit else OUTPUTS
            live = self.run_stack(name, resources, mode)
            if not any(self.differs(r) for r in resources):
                self.keep(live, mode)
                continue
            declared = self.run_stack(name, resources, DECLARED)
            self.classify(
                live,
                declared,
                lambda _policy, urn, finding, name=name, resources=resources: self.stack_paths(
                    name, resources, urn, finding
                ),
            )

    def stack_paths(
        self, name: str, resources: list[_Resource], urn: str, finding: str
    ) -> tuple[DriftPath, ...] | None:
        """As `resource_paths`, for a stack policy's finding at `urn`: first which resources' differences make
        it fire there (the resource itself, else by halving), then the paths in each."""
        base_mode, target_mode = (DECLARED, JUDGED) if finding == "drift" else (JUDGED, DECLARED)
        by_urn = {r.urn: r for r in resources}

        def target(candidate: str) -> Mapping[str, Any]:
            return self.marshaled(by_urn[candidate], _props(by_urn[candidate], target_mode))

        search = Budget(PATH_SEARCH_LIMIT)

        def fires(overrides: Mapping[str, Mapping[str, Any]]) -> bool:
            self.stack_budget.spend(len(resources))
            found = self.run_stack(name, resources, base_mode, overrides)
            return any(v.urn == urn for v in found.violations)

        def fires_with(subset: Sequence[str]) -> bool:
            search.spend()
            return fires({u: target(u) for u in subset})

        try:
            candidates = [r.urn for r in resources if self.differs(r)]
            candidates_set = set(candidates)
            reported = by_urn.get(urn)
            related = [
                r.urn
                for r in resources
                if r.urn in candidates_set and (urn in r.dependencies or (reported and r.urn in reported.dependencies))
            ]
            culprits = isolate_resources(candidates, fires_with, urn, related)
            if not culprits or len(culprits) > MAX_CULPRITS:
                return None
            paths: list[DriftPath] = []
            for culprit in culprits:
                others = {u: target(u) for u in culprits if u != culprit}
                base = self.marshaled(by_urn[culprit], _props(by_urn[culprit], base_mode))
                found = isolate(
                    base, target(culprit), lambda props, c=culprit, o=others: fires({**o, c: props}), search
                )
                paths += [DriftPath(culprit, format_path(path)) for path in found]
        except BudgetSpentError:
            return None
        return tuple(paths)

    # --- the run

    def run(self, workers: int | None = None) -> Evaluation:
        workers = default_workers() if workers is None else workers
        with each_request_decoded_once():
            if workers > 1 and len(self.resources) >= PARALLEL_FROM:
                self.analyze_in_parallel(workers)
            else:
                for resource in self.resources:
                    self.analyze(resource)
            self.analyze_stack()
        on_inputs = (
            tuple(JudgedOnInputs(r.urn, r.type, r.judged_why) for r in self.resources if r.judged == INPUTS)
            if self.audit
            else ()
        )
        return Evaluation(
            self.violations,
            self.not_checked,
            len(self.resources),
            judged_on_outputs=sum(r.judged == OUTPUTS for r in self.resources),
            judged_on_inputs=on_inputs,
        )

    def analyze_in_parallel(self, workers: int) -> None:
        """The resources' own analyses in forked worker processes, each a slice of the resources in order,
        so the verdicts come back in the order one process gives them. Each worker runs the same servicer
        code on its copy of this evaluator."""
        global _FORKED
        _FORKED = self
        size = len(self.resources)
        slices = workers * 4  # smaller slices even out the workers' load
        bounds = [(size * i // slices, size * (i + 1) // slices) for i in range(slices)]
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for violations, not_checked in pool.imap(_analyze_slice, bounds):
                    self.violations += violations
                    self.not_checked += not_checked
        finally:
            _FORKED = None


PARALLEL_FROM = 400  # resources: below, forking costs more than it saves
_FORKED: _Evaluator | None = None


def default_workers() -> int:
    """One worker per CPU this process may use, at most 4."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _analyze_slice(bounds: tuple[int, int]) -> tuple[list[Violation], list[NotChecked]]:
    evaluator = _FORKED
    assert evaluator is not None, "a worker runs only in a process forked by analyze_in_parallel"
    evaluator.violations, evaluator.not_checked = [], []
    for resource in evaluator.resources[bounds[0] : bounds[1]]:
        evaluator.analyze(resource)
    return evaluator.violations, evaluator.not_checked


# --- output ------------------------------------------------------------------------------------

REPORTED_LEVELS = ("mandatory", "advisory", "remediate")
REPORT_FORMAT = 2


def _where(path: DriftPath, urn: str, types: Mapping[str, str]) -> str:
    shown = path.path or "the resource as a whole"
    if path.urn == urn:
        return shown
    return f"{shown} of {types.get(path.urn, 'resource')}: {resource_name(path.urn)}"


def finding_lines(violation: Violation, types: Mapping[str, str] | None = None) -> list[str]:
    """What an audit says about a finding besides the policy's message: which properties it judged, and for a
    drift or declared finding, where outputs and inputs differ."""
    types = types or {}
    if violation.finding == "violation":
        return [f"Judged: the {'outputs (live values)' if violation.judged == 'outputs' else 'inputs'}."]
    if violation.paths is None:
        where = "(not named: the search for them reached its limit)"
    else:
        where = ", ".join(_where(path, violation.urn, types) for path in violation.paths) or "(none found)"
    if violation.finding == "drift":
        return [f"DRIFT: the outputs (live values) violate this policy; the inputs pass. They differ at: {where}."]
    return [
        f"DECLARED: the inputs violate this policy; the outputs (live values) pass. They differ at: {where}.",
        "The inputs are what the program declared as last deployed (or refreshed): fix it there, or an update "
        "that sends them again can bring the violation back.",
    ]


def format_violations(
    violations: Sequence[Violation], *, audit: bool = False, types: Mapping[str, str] | None = None
) -> str:
    """The policy section of `pulumi preview`'s output; an audit adds what it judged, and drift."""
    levels = {v.enforcement_level for v in violations}
    mark = "❌" if "mandatory" in levels else "⚠️" if "advisory" in levels else "✅"
    lines = ["Policies:", f"    {mark} {pack.NAME}@v{pack_version()} (local: policies)"]
    for violation in violations:
        lines.append(
            f"        - [{violation.enforcement_level}]  {violation.policy_name}  "
            f"({violation.resource_type}: {resource_name(violation.urn)})"
        )
        if audit:
            lines += [f"          {line}" for line in finding_lines(violation, types)]
        lines += [f"          {line}" for line in violation.message.rstrip("\n").split("\n")]
    return "\n".join(lines)


def format_not_checked(entries: Sequence[NotChecked], *, audit: bool = False) -> str:
    lines = ["Not checked (a shape or a secret the policy cannot judge; not a violation):"]
    lines += [
        f"    - {entry.policy_name}  ({entry.resource_type}: {resource_name(entry.urn)})"
        f"{f' [{entry.judged}]' if audit else ''}: {entry.reason}"
        for entry in entries
    ]
    return "\n".join(lines)


def format_judged_on_inputs(entries: Sequence[JudgedOnInputs]) -> str:
    """The custom resources an audit judged on their inputs because the state holds no outputs for them."""
    lines = [
        "Judged on their inputs, as the state holds no outputs for them (a state edited by hand or written by "
        "another tool, or a provider that recorded none), so their live values are unknown:"
    ]
    lines += [
        f"    - {entry.resource_type}: {resource_name(entry.urn)}" for entry in entries if entry.reason == NO_OUTPUTS
    ]
    return "\n".join(lines)


def format_pending(pending: Sequence[PendingResource]) -> str:
    lines = ["Pending (not live, so not audited; `pulumi refresh` or the next `pulumi up` settles them):"]
    lines += [f"    - {entry.state}  ({entry.type}: {resource_name(entry.urn)})" for entry in pending]
    return "\n".join(lines)


def report_document(
    evaluation: Evaluation,
    *,
    source: str,
    stack: str,
    project: str,
    pending: Sequence[PendingResource] = (),
) -> dict[str, Any]:
    """The report's JSON (format: docs/audit.md, "The policy report")."""
    counts = Counter(v.enforcement_level for v in evaluation.violations)
    findings = Counter(v.finding for v in evaluation.violations)
    return {
        "reportFormat": REPORT_FORMAT,
        "policyPack": {"name": pack.NAME, "version": pack_version()},
        "source": source,
        "stack": stack,
        "project": project,
        "summary": {
            "resources": evaluation.resources,
            "judgedOnOutputs": evaluation.judged_on_outputs,
            "judgedOnInputs": evaluation.resources - evaluation.judged_on_outputs,
            **{level: counts[level] for level in REPORTED_LEVELS},
            "drift": findings["drift"],
            "declared": findings["declared"],
            "notChecked": len(evaluation.not_checked),
            "pendingDeletes": sum(p.state.startswith("pending ") for p in pending),
            "pendingOperations": sum(not p.state.startswith("pending ") for p in pending),
        },
        "violations": [
            {
                "policyName": v.policy_name,
                "enforcementLevel": v.enforcement_level,
                "urn": v.urn,
                "resourceType": v.resource_type,
                "finding": v.finding,
                "judged": v.judged,
                "paths": None if v.paths is None else [{"urn": p.urn, "path": p.path} for p in v.paths],
                "message": v.message,
            }
            for v in evaluation.violations
        ],
        "notChecked": [
            {
                "policyName": n.policy_name,
                "urn": n.urn,
                "resourceType": n.resource_type,
                "judged": n.judged,
                "reason": n.reason,
            }
            for n in evaluation.not_checked
        ],
        "judgedOnInputs": [
            {"urn": j.urn, "resourceType": j.resource_type, "reason": j.reason} for j in evaluation.judged_on_inputs
        ],
        "pending": [{"urn": p.urn, "resourceType": p.type, "state": p.state} for p in pending],
    }


def write_report(document: Mapping[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def summary_line(result: AuditResult, report: Path) -> str:
    state, evaluation = result.state, result.evaluation
    counts = Counter(v.enforcement_level for v in evaluation.violations)
    findings = Counter(v.finding for v in evaluation.violations)
    deletes = sum(p.state.startswith("pending ") for p in state.pending)
    operations = len(state.pending) - deletes
    where = f" (stack {state.stack}, project {state.project})" if state.stack else ""
    on_outputs = evaluation.judged_on_outputs
    return (
        f"Audit of {state.source}{where}: {evaluation.resources} resources checked ({on_outputs} on their outputs, "
        f"{evaluation.resources - on_outputs} on their inputs); violations: {counts['mandatory']} mandatory, "
        f"{counts['advisory']} advisory ({findings['drift']} drift, {findings['declared']} declared); "
        f"{len(evaluation.not_checked)} not checked; {deletes} pending deletes and {operations} pending operations "
        f"reported apart; report: {_shown(report)}"
    )


def default_report_path(export: str, stack: str = "") -> Path:
    """build/audit/<stack>.policy-report.json, for the stack the state holds; without one, the input's name
    (`stdin` for standard input)."""
    stem = stack or ("stdin" if export in ("-", "/dev/stdin") else Path(export).stem or "state")
    return DEFAULT_REPORT_DIR / f"{stem}.policy-report.json"


# --- the command -------------------------------------------------------------------------------

EXIT_CODES = {
    0: "no mandatory policy violation",
    1: "mandatory policy violations (drift and declared findings included)",
    2: "unusable input or usage error (the state, the config, an option)",
    3: "internal error of the audit",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, as argparse does, but naming the fix
        self.exit(2, f"error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m offline_preview.policy_eval",
        description=(
            "Audit a Pulumi state against the policy pack: a `pulumi stack export` (deployment version 3 or 4) "
            "or a checkpoint, e.g. build/<stack>/stack.json. Judges each resource's live values (its outputs) "
            "where the state holds them, else its inputs, and says which; a policy only the outputs violate is "
            "reported as drift, one only the inputs violate as a declared finding, each with the property paths "
            "that make it. Prints the violations as `pulumi preview` does, what was not checked, what was judged "
            "on inputs for want of outputs and what is pending, then a summary line; writes the report as JSON."
        ),
        epilog="exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
    )
    parser.add_argument("export", help="the state file; - or /dev/stdin reads standard input")
    parser.add_argument(
        "--policy-pack-config",
        metavar="FILE",
        help="the policy pack config, as `pulumi preview --policy-pack-config` takes it (format: policies/pack.py)",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="where to write the report (default: build/audit/<stack>.policy-report.json in the project)",
    )
    parser.add_argument("--traceback", action="store_true", help="on an internal error, print the traceback")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _audit_command(args)
    except (StateError, PolicyConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 3
    except Exception as exc:  # a bug of the audit, not of the input: say so in one line, exit 3
        if args.traceback:
            traceback.print_exc()
        print(
            f"internal error: {type(exc).__name__}: {exc} (auditing {source_name(args.export)}; run again with "
            "--traceback for the details)",
            file=sys.stderr,
        )
        return 3


def _audit_command(args: argparse.Namespace) -> int:
    if args.report and Path(args.report).is_dir():
        raise StateError(f"--report {args.report}: a directory; give the report's file name")
    result = audit(args.export, args.policy_pack_config)
    state, evaluation = result.state, result.evaluation
    report = Path(args.report) if args.report else default_report_path(args.export, state.stack)
    document = report_document(
        evaluation, source=state.source, stack=state.stack, project=state.project, pending=state.pending
    )
    try:
        write_report(document, report)
    except OSError as exc:
        raise StateError(f"--report {report}: cannot be written ({exc.strerror or exc})") from None
    code = 1 if any(v.enforcement_level == "mandatory" for v in evaluation.violations) else 0
    types = {r["urn"]: r["type"] for r in state.resources}
    sections = [format_violations(evaluation.violations, audit=True, types=types)]
    if evaluation.not_checked:
        sections.append(format_not_checked(evaluation.not_checked, audit=True))
    if any(entry.reason == NO_OUTPUTS for entry in evaluation.judged_on_inputs):
        sections.append(format_judged_on_inputs(evaluation.judged_on_inputs))
    if state.pending:
        sections.append(format_pending(state.pending))
    if state.note:
        sections.append(f"Note: {state.note}")
    sections.append(summary_line(result, report))
    try:
        print("\n\n".join(sections), flush=True)
    except BrokenPipeError:  # the reader went away (`... | head`): the verdict stands
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
