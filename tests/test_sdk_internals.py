"""Each private SDK internal that components/sdk_internals.py reaches, against the installed SDKs.

When an upgrade of pulumi or pulumi-policy moves or changes one of them, a test here fails and
names it; requirements.in pins the versions these pass with.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import re
from collections.abc import Iterator

import pulumi
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi_policy.proxy import unknown_checking_proxy

from components import sdk_internals
from offline_preview.engine import plain
from tests.support.stacks import PROJECT_DIR


@pytest.fixture
def event_loop_for_sdk() -> Iterator[None]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()
    asyncio.set_event_loop(None)


def test_the_pinned_sdk_versions_are_installed() -> None:
    # requirements.in narrows both to the minor versions this module is tested with.
    text = (PROJECT_DIR / "requirements.in").read_text()
    pins = dict(re.findall(r"^(pulumi|pulumi-policy)~=([0-9.]+)$", text, re.MULTILINE))
    for package, pin in pins.items():
        installed = importlib.metadata.version(package)
        assert installed.split(".")[:2] == pin.split(".")[:2], f"{package} {installed} is not the pinned {pin}"
    assert set(pins) == {"pulumi", "pulumi-policy"}


def test_config_is_listed_and_secret_keys_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"proj:fromEnv": "1"}))
    sdk_internals.set_config({"proj:a": "x", "proj:b": '{"k": 1}'}, ["proj:b"])
    try:
        assert sdk_internals.config_items() == {"proj:fromEnv": "1", "proj:a": "x", "proj:b": '{"k": 1}'}
        assert sdk_internals.is_config_secret("proj:b")
        assert not sdk_internals.is_config_secret("proj:a")
    finally:
        sdk_internals.set_config({}, [])


def test_the_wire_format_markers_are_the_engines() -> None:
    # The engine's constants (sdk/go/common/resource/properties.go, sdk/go/common/resource/plugin).
    assert sdk_internals.SIG == "4dabf18193072939515e22adb298388d"
    assert sdk_internals.SECRET_SIG == "1b47061264138c4ac30d75fd1eb44270"
    assert sdk_internals.RESOURCE_SIG == "5cf8f73096256a8f31e491e813e4eb8e"
    assert sdk_internals.UNKNOWN == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@pytest.mark.usefixtures("event_loop_for_sdk")
def test_serialize_properties_keeps_secret_markers() -> None:
    secret = {sdk_internals.SIG: sdk_internals.SECRET_SIG, "value": "s"}
    struct = sdk_internals.sync_await(sdk_internals.serialize_properties({"a": secret, "n": 2}, {}))
    assert isinstance(struct, struct_pb2.Struct)
    assert plain(struct) == {"a": secret, "n": 2}


@pytest.mark.usefixtures("event_loop_for_sdk")
def test_the_runtime_can_be_reset_and_run_a_program_in_a_root_stack() -> None:
    monitor = sdk_internals.MockMonitor(object())  # type: ignore[arg-type]
    assert callable(monitor.RegisterResource)
    assert callable(monitor.make_urn)
    sdk_internals.reset_runtime(project="proj", stack="dev", preview=True)
    try:
        assert (sdk_internals.current_project(), sdk_internals.current_stack()) == ("proj", "dev")
        sdk_internals.set_root_directory("/srv/project")
        assert pulumi.get_root_directory() == "/srv/project"  # the public API the program reads it with
        sdk_internals.forget_root_stack()
        coroutine = sdk_internals.run_in_stack(lambda: None)
        assert asyncio.iscoroutine(coroutine)
        coroutine.close()
    finally:
        sdk_internals.reset_runtime()


def test_the_policy_analyzer_servicer_answers_like_the_served_pack() -> None:
    def deny(args, report) -> None:
        report("no", None)

    policy = ResourceValidationPolicy(
        name="deny-all", description="d", validate=deny, enforcement_level=EnforcementLevel.MANDATORY
    )
    analyzer = sdk_internals.PolicyAnalyzerServicer(
        name="pack", version="1.0.0", policies=[policy], enforcement_level=EnforcementLevel.MANDATORY
    )
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    assert [p.name for p in info.policies] == ["deny-all"]
    analyzer.ConfigureStack(sdk_internals.proto.AnalyzerStackConfigureRequest(stack="s", project="p"), None)
    request = sdk_internals.proto.AnalyzeRequest(type="t:index:T", urn="urn:pulumi:s::p::t:index:T::x", name="x")
    (diagnostic,) = analyzer.Analyze(request, None).diagnostics
    assert (diagnostic.policyName, diagnostic.message) == ("deny-all", "d\nno")


def test_reading_an_unknown_value_raises_the_error_the_policies_catch() -> None:
    props = unknown_checking_proxy({"known": 1, "later": sdk_internals.UNKNOWN})
    assert props["known"] == 1
    with pytest.raises(sdk_internals.UnknownValueError):
        _ = props["later"]


def _unknown_reader() -> ResourceValidationPolicy:
    def read(args, report) -> None:
        if args.props["spec"]["replicas"] > 3:
            report("too many", None)

    return ResourceValidationPolicy(
        name="reads-replicas", description="d", validate=read, enforcement_level=EnforcementLevel.MANDATORY
    )


def test_the_servicers_message_for_an_unknown_value_is_recognized() -> None:
    analyzer = sdk_internals.PolicyAnalyzerServicer(
        name="pack", version="1.0.0", policies=[_unknown_reader()], enforcement_level=EnforcementLevel.MANDATORY
    )
    properties = struct_pb2.Struct()
    properties.update({"spec": {"replicas": sdk_internals.UNKNOWN}})
    request = sdk_internals.proto.AnalyzeRequest(type="t:index:T", urn="u", name="x", properties=properties)
    (diagnostic,) = analyzer.Analyze(request, None).diagnostics
    assert sdk_internals.unknown_value_read(diagnostic.message) == ("reads-replicas", ".spec.replicas")
    assert sdk_internals.unknown_value_read("d\ntoo many") is None


def test_decoding_each_request_once_gives_the_same_verdicts_and_restores_the_servicer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pulumi_policy import policy as servicer_module

    from policies import pack

    def requests() -> list[sdk_internals.proto.AnalyzeRequest]:
        built = []
        for replicas, privileged, image in [
            (2, False, "a:v1"),
            (9, True, "a:latest"),
            (sdk_internals.UNKNOWN, True, "a"),
        ]:
            properties = struct_pb2.Struct()
            properties.update(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {
                        "replicas": replicas,
                        "template": {
                            "spec": {
                                "containers": [
                                    {"name": "c", "image": image, "securityContext": {"privileged": privileged}}
                                ]
                            }
                        },
                    },
                }
            )
            provider = sdk_internals.proto.AnalyzerProviderResource(
                type="pulumi:providers:kubernetes", urn="p", name="p"
            )
            built.append(
                sdk_internals.proto.AnalyzeRequest(
                    type="kubernetes:apps/v1:Deployment", urn="u", name="web", properties=properties, provider=provider
                )
            )
        return built

    def verdicts() -> list[tuple[str, str]]:
        analyzer = sdk_internals.PolicyAnalyzerServicer(
            name="pack",
            version="1.0.0",
            policies=[*pack.POLICIES, _unknown_reader()],
            enforcement_level=EnforcementLevel.MANDATORY,
        )
        return [(d.policyName, d.message) for r in requests() for d in analyzer.Analyze(r, None).diagnostics]

    plain_verdicts = verdicts()
    fired = {policy for policy, _ in plain_verdicts}
    assert {"pss-baseline-privileged", "workload-image-pinned", "reads-replicas"} <= fired
    assert any("can't run policy 'reads-replicas'" in message for _, message in plain_verdicts)

    calls: list[int] = []
    deserialize = getattr(servicer_module, "deserialize_properties")  # noqa: B009 (not exported)

    def counted(*args: object) -> object:
        calls.append(1)
        return deserialize(*args)

    monkeypatch.setattr(servicer_module, "deserialize_properties", counted)
    with sdk_internals.each_request_decoded_once():
        shared_verdicts = verdicts()
    assert shared_verdicts == plain_verdicts
    assert len(calls) == 2 * 3, "once per request for its properties and once for its provider's"
    assert getattr(servicer_module, "deserialize_properties") is counted, "restored"  # noqa: B009
    restored = getattr(servicer_module, "json_format")  # noqa: B009
    assert restored.MessageToDict.__module__ == "google.protobuf.json_format"
