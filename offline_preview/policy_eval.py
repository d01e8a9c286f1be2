"""Evaluates the policy pack in-process, as `pulumi preview --policy-pack policies` would, without the CLI.

Two halves, kept apart on purpose:
- The engine's half is reproduced here, after pulumi/pulumi's step generator, analyzer plugin and policy
  config code: which resources reach the analyzer and when, how their properties are marshaled, how a
  `--policy-pack-config` file is reconciled with the policies' defaults, how diagnostics become violations.
- The analyzer's half is not reproduced but run: every request goes to pulumi_policy's own analyzer
  servicer, the object `PolicyPack` serves over gRPC. Deserialization, enforcement levels, config,
  unknown values and messages are therefore exactly the SDK's.

What a policy sees:
- Resource policies (`Analyze`) get each resource's inputs, after the remediations have run on them;
  stack policies (`AnalyzeStack`) get every resource's outputs at the end, with parent, dependencies and
  propertyDependencies. Every registered resource goes to both, as in the engine: the stack, components
  (whose inputs are empty), custom resources and provider resources.
- Secrets: the engine sends them marked, and pulumi_policy unwraps them for validations, which see the
  plaintext with no sign it was secret; only a remediation gets the marker (`pulumi_policy.Secret`). A
  rendering has the plaintext. A stack export has only ciphertext, so each secret there is passed on as a
  secret whose value is unknown: a validation that reads one reports "can't run policy ... during preview"
  (advisory), as for any unknown, and a remediation still sees that it is secret. No policy of the pack
  reads a secret's value, so a rendering and its export give the same verdicts.
- Numbers arrive as floats (the wire is a protobuf Struct), a resource reference as its id (a
  component's as its URN), and validations get no "__"-prefixed keys.

Where this differs from the CLI: there are no providers, so the inputs are the program's rather than the
provider's `Check`ed ones (pulumi-kubernetes, for one, marks Secret data secret in Check); and a config
entry naming no policy of the pack is an error here, where the CLI silently ignores it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2

# The servicer `PolicyPack` serves is private API (see components/sdk_internals.py);
# tests/test_policies_pack.py checks that the served pack and this evaluation agree.
from components.sdk_internals import (
    RESOURCE_SIG,
    SECRET_SIG,
    SIG,
    UNKNOWN,
    PolicyAnalyzerServicer,
    proto,
)
from offline_preview.engine import Registration, Rendering
from offline_preview.render import stack_export
from offline_preview.urns import STACK_TYPE, stack_urn, urn_stack_project
from policies import pack
from policies.common import resource_name

POLICY_PACK_DIR = Path(pack.__file__).resolve().parent
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_NAMES = {
    proto.ADVISORY: "advisory",
    proto.MANDATORY: "mandatory",
    proto.REMEDIATE: "remediate",
    proto.DISABLED: "disabled",
}
_PROTO_LEVELS = {name: level for level, name in _LEVEL_NAMES.items()}

PolicyPackConfig = Mapping[str, Any] | str | Path | None
"""The `--policy-pack-config` JSON: a mapping, or the path of the file (format: policies/pack.py)."""


@dataclass(frozen=True)
class Violation:
    policy_name: str
    enforcement_level: str  # advisory, mandatory or remediate (a remediation that changed the resource)
    urn: str
    message: str  # as the CLI prints it: the policy's description, then what is wrong and how to fix it
    resource_type: str


class PolicyConfigError(ValueError):
    """The policy pack config is invalid; the message names the policy and the property."""


def pack_version() -> str:
    """The version the CLI reports: PulumiPolicy.yaml's, not the SDK's placeholder."""
    return str(yaml.safe_load((POLICY_PACK_DIR / "PulumiPolicy.yaml").read_text())["version"])


# --- the entry points --------------------------------------------------------------------------


def evaluate_rendering(rendering: Rendering, config: PolicyPackConfig = None) -> list[Violation]:
    """The verdicts `pulumi preview --policy-pack policies` would give the rendered program."""
    # The export adds the provider resources and references the engine would have; the registrations
    # keep the secrets' plaintext, which the engine has too.
    plaintext = {reg.urn: reg for reg in rendering.registrations}
    resources = _resources(stack_export(rendering)["deployment"], plaintext)
    return _evaluate(resources, rendering.stack, rendering.project, config)


def evaluate_export(export: Mapping[str, Any] | str | Path, config: PolicyPackConfig = None) -> list[Violation]:
    """The verdicts for a state in `pulumi stack export` format (deployment version 3), file or parsed."""
    state = json.loads(Path(export).read_text()) if isinstance(export, str | Path) else export
    if state.get("version") != 3:
        raise ValueError(
            f"expected a `pulumi stack export` of deployment version 3, got version {state.get('version')}"
        )
    resources = _resources(state["deployment"])
    if not resources:
        return []
    stack, project = urn_stack_project(resources[0].urn)
    return _evaluate(resources, stack, project, config)


# --- resources as the engine holds them --------------------------------------------------------


@dataclass(frozen=True)
class _Provider:
    urn: str
    type: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class _Resource:
    """One resource's state; properties in engine form (secret, unknown and resource markers kept)."""

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


def _secrets_withheld(value: Any) -> Any:
    """A state value with each encrypted secret as a secret of unknown value (the plaintext of
    `pulumi stack export --show-secrets` is kept)."""
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG and "value" not in value:
            plaintext = value.get("plaintext")
            return {SIG: SECRET_SIG, "value": UNKNOWN if plaintext is None else json.loads(plaintext)}
        return {k: _secrets_withheld(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_secrets_withheld(v) for v in value]
    return value


def _resources(deployment: Mapping[str, Any], plaintext: Mapping[str, Registration] | None = None) -> list[_Resource]:
    states: list[dict[str, Any]] = list(deployment.get("resources") or [])
    plaintext = plaintext or {}

    def properties(state: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        registration = plaintext.get(state["urn"])
        if registration is not None:
            return registration.inputs if key == "inputs" else registration.outputs
        return _secrets_withheld(state.get(key) or {})

    providers = {
        state["urn"]: _Provider(state["urn"], state["type"], properties(state, "inputs"))
        for state in states
        if state["type"].startswith("pulumi:providers:")
    }
    return [
        _Resource(
            urn=state["urn"],
            type=state["type"],
            inputs=properties(state, "inputs"),
            outputs=properties(state, "outputs"),
            parent=state.get("parent", ""),
            dependencies=state.get("dependencies") or [],
            property_dependencies=state.get("propertyDependencies") or {},
            protect=bool(state.get("protect")),
            aliases=state.get("aliases") or [],
            additional_secret_outputs=state.get("additionalSecretOutputs") or [],
            custom_timeouts=state.get("customTimeouts") or {},
            # A provider reference is "<provider URN>::<provider id>".
            provider=providers.get(state.get("provider", "").rsplit("::", 1)[0]),
        )
        for state in states
    ]


# --- marshaling, as the engine does for an analyzer --------------------------------------------


def _marshaled(value: Any, skip_internal_keys: bool) -> Any:
    """MarshalProperties with KeepUnknowns and KeepSecrets, without KeepResources."""
    if isinstance(value, dict):
        if value.get(SIG) == RESOURCE_SIG:
            return value.get("id") or value["urn"]
        if value.get(SIG) == SECRET_SIG:
            return {SIG: SECRET_SIG, "value": _marshaled(value["value"], skip_internal_keys)}
        return {
            k: _marshaled(v, skip_internal_keys)
            for k, v in value.items()
            if not (skip_internal_keys and k.startswith("__"))
        }
    if isinstance(value, list):
        return [_marshaled(v, skip_internal_keys) for v in value]
    return value


def _struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(properties)
    return struct


def _wire(properties: Mapping[str, Any], skip_internal_keys: bool) -> struct_pb2.Struct:
    return _struct(_marshaled(properties, skip_internal_keys))


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


def _provider(resource: _Resource) -> proto.AnalyzerProviderResource | None:
    provider = resource.provider
    if provider is None:
        return None
    return proto.AnalyzerProviderResource(
        type=provider.type,
        properties=_wire(provider.inputs, skip_internal_keys=True),
        urn=provider.urn,
        name=resource_name(provider.urn),
    )


def _analyze_request(resource: _Resource, *, skip_internal_keys: bool) -> proto.AnalyzeRequest:
    return proto.AnalyzeRequest(
        type=resource.type,
        properties=_wire(resource.inputs, skip_internal_keys),
        urn=resource.urn,
        name=resource_name(resource.urn),
        options=_options(resource),
        provider=_provider(resource),
    )


def _stack_resource(resource: _Resource) -> proto.AnalyzerResource:
    return proto.AnalyzerResource(
        type=resource.type,
        properties=_wire(resource.outputs, skip_internal_keys=True),
        urn=resource.urn,
        name=resource_name(resource.urn),
        options=_options(resource),
        provider=_provider(resource),
        parent=resource.parent,
        dependencies=list(resource.dependencies),
        propertyDependencies={
            key: proto.AnalyzerPropertyDependencies(urns=list(urns))
            for key, urns in resource.property_dependencies.items()
            if urns
        },
    )


# --- the pack's configuration, reconciled as the engine does -----------------------------------


def _user_config(config: PolicyPackConfig) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """Policy name -> (enforcement level or None, properties)."""
    entries: Mapping[str, Any]
    if isinstance(config, str | Path):
        text = Path(config).read_text()
        entries = json.loads(text) if text.strip() else {}
    else:
        entries = config or {}
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


def _policy_config(analyzer: PolicyAnalyzerServicer, config: PolicyPackConfig) -> dict[str, proto.PolicyConfig]:
    """Each policy's default level and schema defaults, then `all`, then the policy's own entry, validated
    against its config schema (pkg/resource/analyzer/config.go: ReconcilePolicyPackConfig)."""
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    schemas: dict[str, dict[str, Any]] = {}
    resolved: dict[str, tuple[str, dict[str, Any]]] = {}
    for policy in info.policies:
        properties = json_format.MessageToDict(policy.configSchema.properties)
        schemas[policy.name] = {
            "type": "object",
            "properties": properties,
            "required": list(policy.configSchema.required),
        }
        defaults = {k: v["default"] for k, v in properties.items() if "default" in v}
        resolved[policy.name] = (_LEVEL_NAMES[policy.enforcementLevel], defaults)

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
        raise PolicyConfigError("invalid policy pack config:\n  " + "\n  ".join(errors))
    return {
        name: proto.PolicyConfig(enforcementLevel=_PROTO_LEVELS[level], properties=_struct(properties))
        for name, (level, properties) in resolved.items()
    }


# --- one preview -------------------------------------------------------------------------------


def _violation(diagnostic: Any, urn: str, resource_type: str) -> Violation:
    level = _LEVEL_NAMES[diagnostic.enforcementLevel]
    # The engine reports a violation of a remediating policy as mandatory: the remediation did not fix it.
    return Violation(
        policy_name=diagnostic.policyName,
        enforcement_level="mandatory" if level == "remediate" else level,
        urn=urn,
        message=diagnostic.message,
        resource_type=resource_type,
    )


def _remediate(analyzer: PolicyAnalyzerServicer, resource: _Resource) -> tuple[_Resource, list[Violation]]:
    """The resource with its inputs as the remediations leave them, and one violation per remediation."""
    violations: list[Violation] = []
    response = analyzer.Remediate(_analyze_request(resource, skip_internal_keys=False), None)
    for remediation in response.remediations:
        if remediation.diagnostic:  # the remediation could not run (an unknown value during preview)
            violations.append(
                Violation(remediation.policyName, "advisory", resource.urn, remediation.diagnostic, resource.type)
            )
            continue
        if not remediation.HasField("properties"):
            continue
        before = json_format.MessageToDict(_wire(resource.inputs, skip_internal_keys=False))
        after = json_format.MessageToDict(remediation.properties)
        changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
        if changed:  # the CLI shows a remediation only if it changed something
            message = f"{remediation.description}\nRemediated: {', '.join(changed)}."
            violations.append(Violation(remediation.policyName, "remediate", resource.urn, message, resource.type))
            resource = dataclasses.replace(resource, inputs=after)
    return resource, violations


def _evaluate(resources: list[_Resource], stack: str, project: str, config: PolicyPackConfig) -> list[Violation]:
    analyzer = PolicyAnalyzerServicer(
        name=pack.NAME,
        version=pack_version(),
        policies=pack.POLICIES,
        enforcement_level=pack.ENFORCEMENT_LEVEL,
        description=pack.DESCRIPTION,
    )
    analyzer.Configure(proto.ConfigureAnalyzerRequest(policyConfig=_policy_config(analyzer, config)), None)
    analyzer.ConfigureStack(proto.AnalyzerStackConfigureRequest(stack=stack, project=project, dry_run=True), None)

    # Each resource as it registers: remediations first, then the resource policies on the result.
    violations: list[Violation] = []
    analyzed: list[_Resource] = []
    for resource in resources:
        resource, remediations = _remediate(analyzer, resource)
        violations += remediations
        response = analyzer.Analyze(_analyze_request(resource, skip_internal_keys=True), None)
        violations += [_violation(d, resource.urn, resource.type) for d in response.diagnostics]
        analyzed.append(resource)

    # Then the stack policies, once, over every resource's outputs.
    types = {resource.urn: resource.type for resource in analyzed}
    response = analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[_stack_resource(r) for r in analyzed]), None)
    for diagnostic in response.diagnostics:
        urn = diagnostic.urn if diagnostic.urn in types else stack_urn(stack, project)
        violations.append(_violation(diagnostic, urn, types.get(urn, STACK_TYPE)))
    return violations


# --- output ------------------------------------------------------------------------------------

REPORTED_LEVELS = ("mandatory", "advisory", "remediate")


def format_violations(violations: Sequence[Violation]) -> str:
    """The policy section of `pulumi preview`'s output."""
    levels = {v.enforcement_level for v in violations}
    mark = "❌" if "mandatory" in levels else "⚠️" if "advisory" in levels else "✅"
    lines = ["Policies:", f"    {mark} {pack.NAME}@v{pack_version()} (local: policies)"]
    for violation in violations:
        lines.append(
            f"        - [{violation.enforcement_level}]  {violation.policy_name}  "
            f"({violation.resource_type}: {resource_name(violation.urn)})"
        )
        lines += [f"          {line}" for line in violation.message.rstrip("\n").split("\n")]
    return "\n".join(lines)


def write_report(violations: Sequence[Violation], path: str | Path) -> None:
    counts = Counter(v.enforcement_level for v in violations)
    report = {
        "policyPack": {"name": pack.NAME, "version": pack_version()},
        "violations": [dataclasses.asdict(v) for v in violations],
        "summary": {level: counts[level] for level in REPORTED_LEVELS},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offline_preview.policy_eval",
        description="Check a `pulumi stack export` file (e.g. build/<stack>/stack.json) against the policy pack.",
    )
    parser.add_argument("export", type=Path, help="the stack export (deployment version 3)")
    parser.add_argument("--config", type=Path, help="policy pack config, as for --policy-pack-config")
    parser.add_argument("--report", type=Path, help="also write the violations to this JSON file")
    args = parser.parse_args(argv)
    try:
        violations = evaluate_export(args.export, args.config)
    except (OSError, ValueError) as exc:  # PolicyConfigError and JSON errors are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_violations(violations))
    if args.report:
        write_report(violations, args.report)
    return 1 if any(v.enforcement_level == "mandatory" for v in violations) else 0


if __name__ == "__main__":
    sys.exit(main())
