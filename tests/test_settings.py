"""The settings model: the stack files' values, the defaults, and each rule with its message."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.settings import SettingsError, StackSettings, parse_settings, quantity_value
from offline_preview.engine import ProgramError, run_program
from offline_preview.stack_config import load_stack_config
from tests.conftest import PROJECT, run_preview, stack_values

MINIMAL_APP: dict[str, Any] = {
    "image": "ghcr.io/your-org/hft-trading-platform/frontend:v1.0.0",
    "hostnames": ["new.hft-platform.com"],
    "endpoints": {
        "apiBaseUrl": "https://api-new.hft-platform.com/api",
        "websocketUrl": "wss://ws-new.hft-platform.com/ws",
        "cppBackendUrl": "https://engine-new.hft-platform.com/api",
    },
}


def from_stack_file(stack: str) -> StackSettings:
    raw = {key.removeprefix(f"{PROJECT}:"): value for key, value in stack_values(stack).items()}
    return parse_settings(raw)


def test_staging_has_the_seed_values() -> None:
    app = from_stack_file("staging").app
    assert app.replicas == 2
    assert app.autoscaling.enabled is False
    assert (app.resources.requests.cpu, app.resources.requests.memory) == ("500m", "512Mi")
    assert (app.resources.limits.cpu, app.resources.limits.memory) == ("1000m", "1Gi")
    liveness, readiness = app.probes.liveness, app.probes.readiness
    assert (liveness.initial_delay_seconds, liveness.period_seconds, liveness.timeout_seconds) == (30, 10, 5)
    assert (readiness.initial_delay_seconds, readiness.period_seconds, readiness.failure_threshold) == (5, 5, 2)
    assert app.endpoints.api_base_url == "https://api-staging.hft-platform.com/api"
    assert app.endpoints.websocket_url == "wss://ws-staging.hft-platform.com/ws"
    assert app.features.analytics is True
    assert app.features.debug_panel is False


def test_production_has_the_seed_values() -> None:
    settings = from_stack_file("production")
    app = settings.app
    assert settings.namespace == "production"
    assert app.replicas == 6
    requests, limits = app.resources.requests, app.resources.limits
    assert (quantity_value(requests.cpu), requests.memory, requests.ephemeral_storage) == (1, "1Gi", "1Gi")
    assert (quantity_value(limits.cpu), limits.memory, limits.ephemeral_storage) == (2, "2Gi", "2Gi")
    for probe in (app.probes.liveness, app.probes.readiness):
        assert [(h.name, h.value) for h in probe.http_headers] == [("Host", "localhost")]
    assert (app.probes.liveness.initial_delay_seconds, app.probes.liveness.period_seconds) == (60, 30)
    assert app.probes.startup.failure_threshold == 30
    scaling = app.autoscaling
    assert scaling.enabled
    assert (scaling.min_replicas, scaling.max_replicas) == (6, 20)
    assert (scaling.target_cpu_utilization, scaling.target_memory_utilization) == (70, 80)
    assert (scaling.scale_up.stabilization_window_seconds, scaling.scale_up.percent) == (60, 50)
    assert (scaling.scale_down.stabilization_window_seconds, scaling.scale_down.percent) == (300, 10)
    # Production endpoints follow staging's pattern without the "-staging" suffix.
    assert app.endpoints.api_base_url == "https://api.hft-platform.com/api"
    assert app.endpoints.websocket_url == "wss://ws.hft-platform.com/ws"
    assert app.endpoints.cpp_backend_url == "https://engine.hft-platform.com/api"


def test_a_new_stack_needs_only_image_hostnames_and_endpoints() -> None:
    settings = parse_settings({"environment": "qa", "namespace": "qa", "app": MINIMAL_APP})
    app = settings.app
    assert app.replicas >= 2
    assert app.service.type == "ClusterIP"
    assert app.disruption_budget.max_unavailable == 1
    assert app.volumes.nextjs_cache_path == "/app/.next/cache"
    assert settings.observability.enabled


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    return mutate


BAD_VALUES = [
    pytest.param(_set("app.imgae", "x"), "hft-frontend:app.imgae: unknown key (did you mean 'image'?)", id="typo"),
    pytest.param(_set("replicaz", 3), "hft-frontend:replicaz: unknown key", id="unknown-top-level-key"),
    pytest.param(
        _set("app.probes", {"liveness": {"httpHeaders": [{"name": "Host", "valeu": "localhost"}]}}),
        "hft-frontend:app.probes.liveness.httpHeaders[0].valeu: unknown key (did you mean 'value'?)",
        id="typo-inside-a-list",
    ),
    pytest.param(
        _set("app.image", "ghcr.io/your-org/frontend:latest"),
        "hft-frontend:app.image = \"ghcr.io/your-org/frontend:latest\": the tag 'latest' is mutable",
        id="latest-tag",
    ),
    pytest.param(
        _set("app.image", "ghcr.io/your-org/frontend"),
        'hft-frontend:app.image = "ghcr.io/your-org/frontend": the image needs a tag or a digest',
        id="untagged-image",
    ),
    pytest.param(
        _set("app.autoscaling", {"enabled": True, "minReplicas": 8, "maxReplicas": 6}),
        "hft-frontend:app.autoscaling.minReplicas = 8: must not exceed maxReplicas (6)",
        id="min-above-max",
    ),
    pytest.param(
        _set("app.autoscaling", {"enabled": True, "minReplicas": 0, "maxReplicas": 6}),
        "hft-frontend:app.autoscaling.minReplicas = 0: must be at least 1",
        id="min-below-one",
    ),
    pytest.param(
        _set("app.autoscaling", {"enabled": True, "minReplicas": 3, "maxReplicas": 6}),
        "hft-frontend:app.replicas = 2: must lie within the autoscaling range 3..6",
        id="replicas-outside-hpa-range",
    ),
    pytest.param(
        _set("app.disruptionBudget", {"minAvailable": 2, "maxUnavailable": None}),
        "hft-frontend:app.disruptionBudget.minAvailable = 2: must be below the lowest replica count (2)",
        id="pdb-blocks-drains",
    ),
    pytest.param(
        _set("app.disruptionBudget", {"maxUnavailable": 0}),
        "hft-frontend:app.disruptionBudget.maxUnavailable = 0: must be at least 1",
        id="pdb-max-unavailable-zero",
    ),
    pytest.param(
        _set("app.resources", {"requests": {"cpu": "3", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}),
        'hft-frontend:app.resources.requests.cpu = "3": the request must not exceed the limit (2)',
        id="request-above-limit",
    ),
    pytest.param(
        _set("app.resources", {"requests": {"cpu": "1", "memory": "3Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}),
        'hft-frontend:app.resources.requests.memory = "3Gi": the request must not exceed the limit (2Gi)',
        id="memory-request-above-limit",
    ),
    pytest.param(
        _set(
            "app.resources", {"requests": {"cpu": "1 core", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
        ),
        'hft-frontend:app.resources.requests.cpu = "1 core": not a Kubernetes quantity',
        id="bad-quantity",
    ),
    pytest.param(
        _set("app.hostnames", ["hft_platform.com"]),
        'hft-frontend:app.hostnames[0] = "hft_platform.com": not a valid DNS name',
        id="bad-hostname",
    ),
    pytest.param(
        _set("app.endpoints.apiBaseUrl", "https://api..hft-platform.com/api"),
        'hft-frontend:app.endpoints.apiBaseUrl = "https://api..hft-platform.com/api": the URL\'s host',
        id="bad-endpoint-host",
    ),
    pytest.param(
        _set("app.endpoints.websocketUrl", "ws://ws.hft-platform.com/ws"),
        'hft-frontend:app.endpoints.websocketUrl = "ws://ws.hft-platform.com/ws": the URL must use wss',
        id="plaintext-websocket",
    ),
    pytest.param(
        _set("app.replicas", "two"), 'hft-frontend:app.replicas = "two": Input should be a valid integer', id="type"
    ),
    pytest.param(
        _set("app.probes", {"liveness": {"successThreshold": 2}}),
        "hft-frontend:app.probes.liveness.successThreshold = 2: must be 1",
        id="liveness-success-threshold",
    ),
    pytest.param(
        _set("security", {"egressDeniedCidrs": ["169.254.169.254/40"]}),
        'hft-frontend:security.egressDeniedCidrs[0] = "169.254.169.254/40": not a CIDR block',
        id="bad-cidr",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_VALUES)
def test_each_rule_names_the_key_the_value_and_the_rule(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    raw = {"environment": "staging", "namespace": "staging", "app": copy.deepcopy(MINIMAL_APP)}
    mutate(raw)
    with pytest.raises(SettingsError) as error:
        parse_settings(raw)
    text = str(error.value)
    assert message in text
    assert "\n" not in text


def test_the_program_stops_with_one_line_naming_the_stack_file(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:app"]["autoscaling"] = {"enabled": True, "minReplicas": 5, "maxReplicas": 3}
    project = project_with("broken", config)
    with pytest.raises(ProgramError) as error:
        run_program(project, PROJECT, load_stack_config(project, "broken", PROJECT))
    assert str(error.value) == (
        "Pulumi.broken.yaml: hft-frontend:app.autoscaling.minReplicas = 5: must not exceed maxReplicas (3)"
    )


def test_a_typo_in_the_namespace_is_not_ignored(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-fronted:replicas"] = 3
    config["kubernetes:context"] = "staging-cluster"  # a provider's setting is fine
    project = project_with("typo", config)
    with pytest.raises(ProgramError) as error:
        run_program(project, PROJECT, load_stack_config(project, "typo", PROJECT))
    assert str(error.value) == (
        "Pulumi.typo.yaml: hft-fronted:replicas: unknown config namespace 'hft-fronted' (did you mean 'hft-frontend'?)"
    )


def test_a_sentry_dsn_in_plain_config_is_refused(project_with: Callable[..., Path]) -> None:
    config = stack_values("staging")
    config["hft-frontend:sentryDsn"] = "https://key@sentry.example.com/1"
    project = project_with("plain", config)
    with pytest.raises(ProgramError) as error:
        run_program(project, PROJECT, load_stack_config(project, "plain", PROJECT))
    message = str(error.value)
    assert message.startswith("Pulumi.plain.yaml: hft-frontend:sentryDsn: must be a secret")
    assert "sentry.example.com" not in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("app", {**MINIMAL_APP, "imgae": "x"}, "hft-frontend:app.imgae: unknown key (did you mean 'image'?)"),
        ("app", {**MINIMAL_APP, "image": "ghcr.io/x/frontend:latest"}, "the tag 'latest' is mutable"),
        (
            "app",
            {**MINIMAL_APP, "autoscaling": {"enabled": True, "minReplicas": 9, "maxReplicas": 4}},
            "hft-frontend:app.autoscaling.minReplicas = 9: must not exceed maxReplicas (4)",
        ),
    ],
)
def test_the_preview_command_fails_with_one_clear_line(
    project_with: Callable[..., Path], key: str, value: Any, expected: str
) -> None:
    project = project_with("bad", {f"hft-frontend:{key}": value})
    result = run_preview("--stack", "bad", "--project-dir", str(project))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: Pulumi.bad.yaml: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not (project / "build").exists(), "nothing is written for an invalid stack"


def test_config_values_reach_the_model_as_the_engine_passes_them(project_with: Callable[..., Path]) -> None:
    # The engine hands structured values over as JSON text; scalars as plain text.
    project = project_with("qa", {"hft-frontend:environment": "qa", "hft-frontend:app": MINIMAL_APP})
    config = load_stack_config(project, "qa", PROJECT)
    assert config.values["hft-frontend:environment"] == "qa"
    assert json.loads(config.values["hft-frontend:app"]) == MINIMAL_APP
    rendering = run_program(project, PROJECT, config)
    namespaces = rendering.by_type("kubernetes:core/v1:Namespace")
    assert [n.inputs["metadata"]["name"] for n in namespaces] == ["qa"]
