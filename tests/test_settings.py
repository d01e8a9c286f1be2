"""The settings model: the stack files' values, each rule on both sides of its boundary with its
one-line message, and secrets: kept secret where a field may hold one, refused anywhere else, never
shown in an error."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from components.k8s import quantity_value
from components.settings import (
    ConfigSecret,
    MaybeSecretValue,
    SecretValue,
    SettingsError,
    mark_secrets,
    parse_settings,
    secret_fields,
)
from components.settings.loader import check_claims
from offline_preview.engine import ProgramError, Rendering
from tests.support.stacks import (
    DELETE,
    MINIMAL_APP,
    ZONE_ID,
    Secret,
    from_stack_file,
    run_preview,
    stack_values,
    write_project,
)


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
    assert (app.features.analytics, app.features.debug_panel) == (True, False)


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
    assert (scaling.enabled, scaling.min_replicas, scaling.max_replicas) == (True, 6, 20)
    assert (scaling.target_cpu_utilization, scaling.target_memory_utilization) == (70, 80)
    assert (scaling.scale_up.stabilization_window_seconds, scaling.scale_up.percent) == (60, 50)
    assert (scaling.scale_down.stabilization_window_seconds, scaling.scale_down.percent) == (300, 10)
    assert app.endpoints.api_base_url == "https://api.hft-platform.com/api"
    assert app.endpoints.cpp_backend_url == "https://engine.hft-platform.com/api"


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_live_stacks_pin_their_objects_seed_names(stack: str) -> None:
    settings = from_stack_file(stack)
    assert (settings.app.config_map_name, settings.app.secret_name) == ("frontend-config", "frontend-secrets")
    assert settings.security.resource_quota_name == "hft-frontend-quota"
    assert settings.security.limit_range_name == "hft-frontend-limits"


def test_a_new_stack_needs_only_image_hostnames_and_endpoints() -> None:
    settings = parse_settings({"environment": "qa", "namespace": "qa", "app": MINIMAL_APP, "edge": {"zoneId": ZONE_ID}})
    app = settings.app
    assert (app.replicas, app.max_surge, app.service.type) == (2, 1, "ClusterIP")
    assert app.disruption_budget.max_unavailable == 1
    assert app.volumes.nextjs_cache_path == "/app/.next/cache"
    assert app.config_map_name is None, "derived from the app's name unless pinned"
    assert settings.observability.enabled
    assert settings.sentry_dsn is None


# --- each rule, on both sides of its boundary ----------------------------------------------------


def _with(path: str, value: Any) -> dict[str, Any]:
    """The minimal stack with one value set (`app.autoscaling.minReplicas`), as raw stack values."""
    raw: dict[str, Any] = {
        "environment": "qa",
        "namespace": "qa",
        "app": copy.deepcopy(MINIMAL_APP),
        "edge": {"zoneId": ZONE_ID},
    }
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return raw


def _app(**values: Any) -> dict[str, Any]:
    return {
        "environment": "qa",
        "namespace": "qa",
        "app": {**copy.deepcopy(MINIMAL_APP), **values},
        "edge": {"zoneId": ZONE_ID},
    }


SCALING = {"enabled": True, "minReplicas": 3, "maxReplicas": 6}
PDB_MAX = "hft-frontend:app.disruptionBudget.maxUnavailable"


def _resources(requests: dict[str, str], limits: dict[str, str]) -> dict[str, Any]:
    return _with("app.resources", {"requests": requests, "limits": limits})


def _scale_down(window: int, period: int) -> dict[str, Any]:
    return _with(
        "app.autoscaling", {"scaleDown": {"stabilizationWindowSeconds": window, "percent": 1, "periodSeconds": period}}
    )


# (raw values just inside the boundary, raw values just outside, the message the outside one gives)
BOUNDARIES = [
    pytest.param(
        _app(replicas=3, autoscaling=SCALING),
        _app(replicas=2, autoscaling=SCALING),
        "hft-frontend:app.replicas = 2: must lie within the autoscaling range 3..6",
        id="replicas-at-hpa-min",
    ),
    pytest.param(
        _app(replicas=6, autoscaling=SCALING),
        _app(replicas=7, autoscaling=SCALING),
        "hft-frontend:app.replicas = 7: must lie within the autoscaling range 3..6",
        id="replicas-at-hpa-max",
    ),
    pytest.param(
        _app(replicas=4, autoscaling={**SCALING, "minReplicas": 4, "maxReplicas": 4}),
        _app(replicas=4, autoscaling={**SCALING, "minReplicas": 5, "maxReplicas": 4}),
        "hft-frontend:app.autoscaling.minReplicas = 5: must not exceed maxReplicas (4)",
        id="hpa-min-equal-max",
    ),
    pytest.param(
        _app(replicas=2, autoscaling={**SCALING, "minReplicas": 2}, disruptionBudget={"enabled": False}),
        _with("app.autoscaling", {**SCALING, "minReplicas": 0}),
        "hft-frontend:app.autoscaling.minReplicas = 0: must be at least 1",
        id="hpa-min-at-least-one",
    ),
    pytest.param(
        _app(replicas=3, disruptionBudget={"maxUnavailable": 2}),
        _app(replicas=3, disruptionBudget={"maxUnavailable": 3}),
        f"{PDB_MAX} = 3: must be at least 1 and below the lowest replica count (3)",
        id="pdb-max-unavailable-below-replicas",
    ),
    pytest.param(
        _app(disruptionBudget={"maxUnavailable": 1}),
        _app(disruptionBudget={"maxUnavailable": 0}),
        "hft-frontend:app.disruptionBudget.maxUnavailable = 0: must be at least 1",
        id="pdb-max-unavailable-at-least-one",
    ),
    pytest.param(
        _app(replicas=3, disruptionBudget={"minAvailable": 2, "maxUnavailable": None}),
        _app(replicas=3, disruptionBudget={"minAvailable": 3, "maxUnavailable": None}),
        "hft-frontend:app.disruptionBudget.minAvailable = 3: must be below the lowest replica count (3)",
        id="pdb-min-available-below-replicas",
    ),
    pytest.param(
        _app(replicas=6, autoscaling=SCALING, disruptionBudget={"maxUnavailable": 2}),
        _app(replicas=6, autoscaling=SCALING, disruptionBudget={"maxUnavailable": 3}),
        f"{PDB_MAX} = 3: must be at least 1 and below the lowest replica count (3)",
        id="pdb-counts-from-the-hpa-floor",
    ),
    pytest.param(
        _with("app.resources", {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}),
        _with(
            "app.resources", {"requests": {"cpu": "2001m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
        ),
        'hft-frontend:app.resources.requests.cpu = "2001m": the request must not exceed the limit (2)',
        id="cpu-request-equal-limit",
    ),
    pytest.param(
        _resources({"cpu": "1", "memory": "1024Mi"}, {"cpu": "2", "memory": "1Gi"}),
        _resources({"cpu": "1", "memory": "1025Mi"}, {"cpu": "2", "memory": "1Gi"}),
        'hft-frontend:app.resources.requests.memory = "1025Mi": the request must not exceed the limit (1Gi)',
        id="memory-request-equal-limit-in-other-units",
    ),
    pytest.param(
        _with(
            "app.resources",
            {
                "requests": {"cpu": "1", "memory": "1Gi", "ephemeralStorage": "1Gi"},
                "limits": {"cpu": "2", "memory": "2Gi", "ephemeralStorage": "1Gi"},
            },
        ),
        _with(
            "app.resources",
            {
                "requests": {"cpu": "1", "memory": "1Gi", "ephemeralStorage": "1Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            },
        ),
        "hft-frontend:app.resources.limits.ephemeralStorage: set both requests.ephemeralStorage and "
        "limits.ephemeralStorage, or neither",
        id="ephemeral-storage-both-or-neither",
    ),
    pytest.param(
        _app(runAsUser=1),
        _app(runAsUser=0),
        "hft-frontend:app.runAsUser = 0: Input should be greater than or equal to 1",
        id="uid-not-root",
    ),
    pytest.param(
        _app(image="ghcr.io/org/frontend:latest@sha256:" + "ab" * 32),
        _app(image="ghcr.io/org/frontend:latest"),
        'hft-frontend:app.image = "ghcr.io/org/frontend:latest": the image is not pinned (the tag latest moves',
        id="latest-pinned-by-digest",
    ),
    pytest.param(
        _app(image="ghcr.io/org/frontend@sha256:" + "ab" * 32),
        _app(image="ghcr.io/org/frontend"),
        'hft-frontend:app.image = "ghcr.io/org/frontend": the image is not pinned (no tag',
        id="untagged-pinned-by-digest",
    ),
    pytest.param(
        _app(image="registry:5000/org/frontend:1.2"),
        _app(image="registry:5000/org/frontend"),
        'hft-frontend:app.image = "registry:5000/org/frontend": the image is not pinned (no tag',
        id="a-registry-port-is-not-a-tag",
    ),
    pytest.param(
        _with("app.probes", {"liveness": {"successThreshold": 1}, "readiness": {"successThreshold": 2}}),
        _with("app.probes", {"liveness": {"successThreshold": 2}}),
        "hft-frontend:app.probes.liveness.successThreshold = 2: must be 1 for a liveness or startup probe",
        id="liveness-success-threshold",
    ),
    pytest.param(
        _with("app.probes", {"startup": {"successThreshold": 1}}),
        _with("app.probes", {"startup": {"successThreshold": 2}}),
        "hft-frontend:app.probes.startup.successThreshold = 2: must be 1",
        id="startup-success-threshold",
    ),
    pytest.param(
        _with("app.autoscaling", {"targetCpuUtilization": 100}),
        _with("app.autoscaling", {"targetCpuUtilization": 101}),
        "hft-frontend:app.autoscaling.targetCpuUtilization = 101: Input should be less than or equal to 100",
        id="cpu-target-at-most-100",
    ),
    pytest.param(
        _with(
            "app.autoscaling", {"scaleDown": {"stabilizationWindowSeconds": 3600, "percent": 1, "periodSeconds": 1800}}
        ),
        _with(
            "app.autoscaling", {"scaleDown": {"stabilizationWindowSeconds": 3601, "percent": 1, "periodSeconds": 60}}
        ),
        "hft-frontend:app.autoscaling.scaleDown.stabilizationWindowSeconds = 3601: Input should be less than",
        id="stabilization-window-at-most-an-hour",
    ),
    pytest.param(
        _scale_down(60, 1800),
        _scale_down(60, 1801),
        "hft-frontend:app.autoscaling.scaleDown.periodSeconds = 1801: Input should be less than or equal to 1800",
        id="scaling-period-at-most-half-an-hour",
    ),
    pytest.param(
        _app(containerPort=65535),
        _app(containerPort=65536),
        "hft-frontend:app.containerPort = 65536: Input should be less than or equal to 65535",
        id="port-range",
    ),
    pytest.param(
        _with("app.volumes", {"nextjsCachePath": "/cache"}),
        _with("app.volumes", {"nextjsCachePath": "cache"}),
        'hft-frontend:app.volumes.nextjsCachePath = "cache": must be an absolute path',
        id="cache-path-absolute",
    ),
    pytest.param(
        _app(hostnames=["a.hft-platform.com"]),
        _app(hostnames=["a_b.c"]),
        'hft-frontend:app.hostnames[0] = "a_b.c": not a valid DNS name',
        id="hostname",
    ),
    pytest.param(
        _app(hostnames=["new.hft-platform.com"]),
        _app(hostnames=[]),
        "hft-frontend:app.hostnames = []: Tuple should have at least 1 item",
        id="at-least-one-hostname",
    ),
    pytest.param(
        _with("app.endpoints.websocketUrl", "wss://ws.hft-platform.com/ws"),
        _with("app.endpoints.websocketUrl", "ws://ws.hft-platform.com/ws"),
        'hft-frontend:app.endpoints.websocketUrl = "ws://ws.hft-platform.com/ws": the URL must use wss',
        id="websocket-over-tls",
    ),
    pytest.param(
        _with("security", {"egressDeniedCidrs": ["169.254.169.254/32"]}),
        _with("security", {"egressDeniedCidrs": ["169.254.169.254/33"]}),
        'hft-frontend:security.egressDeniedCidrs[0] = "169.254.169.254/33": not a CIDR block',
        id="cidr",
    ),
    pytest.param(
        _with("routing", {"originLock": {"cloudflareRanges": ["173.245.48.0/20", "2400:cb00::/32"]}}),
        _with("routing", {"originLock": {"cloudflareRanges": ["173.245.48.0/20", "2400:cb00::/129"]}}),
        'hft-frontend:routing.originLock.cloudflareRanges[1] = "2400:cb00::/129": not a CIDR block',
        id="cloudflare-range",
    ),
    pytest.param(
        _with("cluster", {"kubernetesVersion": "1.35"}),
        _with("cluster", {"kubernetesVersion": "1.35.1"}),
        'hft-frontend:cluster.kubernetesVersion = "1.35.1": String should match pattern',
        id="kubernetes-minor-version",
    ),
    pytest.param(
        _with("observability", {"alerts": {"highErrorRate": {"threshold": 0.05, "duration": "90s"}}}),
        _with("observability", {"alerts": {"highErrorRate": {"threshold": 0.05, "duration": "90"}}}),
        'hft-frontend:observability.alerts.highErrorRate.duration = "90": String should match pattern',
        id="prometheus-duration",
    ),
    # A hostname is a listener's name, a SAN and a DNS record: twice collides in each.
    pytest.param(
        _app(hostnames=["new.hft-platform.com", "www.new.hft-platform.com"]),
        _app(hostnames=["new.hft-platform.com", "www.new.hft-platform.com", "new.hft-platform.com"]),
        'hft-frontend:app.hostnames[2] = "new.hft-platform.com": is listed twice (also hostnames[0])',
        id="hostname-twice",
    ),
    # The edge makes each hostname's record in edge.zone: the apex and names under it only.
    pytest.param(
        _app(hostnames=["hft-platform.com", "a.b.hft-platform.com"]),
        _app(hostnames=["hft-platform.com", "new.xhft-platform.com"]),
        'hft-frontend:app.hostnames[1] = "new.xhft-platform.com": is not in the zone hft-platform.com (edge.zone)',
        id="hostname-outside-the-zone",
    ),
    pytest.param(
        {**_app(hostnames=["new.example.com"]), "edge": {"enabled": False}},
        {**_app(hostnames=["new.example.com"]), "edge": {"enabled": True, "zoneId": ZONE_ID}},
        'hft-frontend:app.hostnames[0] = "new.example.com": is not in the zone hft-platform.com',
        id="hostname-outside-the-zone-only-with-the-edge",
    ),
    pytest.param(
        _with("edge", {"ownsZone": True, "accountId": "0" * 32, "rateLimits": []}),
        _with("edge", {"ownsZone": False, "rateLimits": []}),
        "hft-frontend:edge.rateLimits: only the stack that owns the zone (ownsZone: true) applies it; "
        "this stack would ignore it",
        id="owner-only-rate-limits",
    ),
    pytest.param(
        _with("edge", {"ownsZone": True, "accountId": "0" * 32, "staticCacheTtlSeconds": 60}),
        _with("edge", {"staticCacheTtlSeconds": 60}),
        "hft-frontend:edge.staticCacheTtlSeconds: only the stack that owns the zone",
        id="owner-only-cache-ttl",
    ),
    pytest.param(
        _with("edge", {"enabled": False, "accountId": "0" * 32}),
        _with("edge", {"accountId": "0" * 32}),
        "hft-frontend:edge.accountId: only the stack that owns the zone",
        id="owner-only-account",
    ),
    pytest.param(
        _with("routing", {"gateway": {"create": False, "name": "shared", "namespace": "gw", "httpListener": "http"}}),
        _with("routing", {"gateway": {"create": True, "httpListener": "http"}}),
        "hft-frontend:routing.gateway.httpListener: only for an existing Gateway (create: false)",
        id="http-listener-on-a-created-gateway",
    ),
    pytest.param(
        _with("routing", {"gateway": {"create": False, "name": "shared", "namespace": "gw", "httpsListeners": ["a"]}}),
        _with("routing", {"gateway": {"create": True, "httpsListeners": ["a"]}}),
        "hft-frontend:routing.gateway.httpsListeners: only for an existing Gateway (create: false)",
        id="https-listeners-on-a-created-gateway",
    ),
]


@pytest.mark.parametrize(("inside", "outside", "message"), BOUNDARIES)
def test_each_rule_holds_at_its_boundary_and_names_key_value_and_rule(
    inside: dict[str, Any], outside: dict[str, Any], message: str
) -> None:
    parse_settings(inside)
    with pytest.raises(SettingsError) as error:
        parse_settings(outside)
    text = str(error.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(_with("app.imgae", "x"), "hft-frontend:app.imgae: unknown key (did you mean 'image'?)", id="typo"),
        pytest.param(_with("replicaz", 3), "hft-frontend:replicaz: unknown key", id="unknown-top-level-key"),
        pytest.param(
            _with("app.probes", {"liveness": {"httpHeaders": [{"name": "Host", "valeu": "localhost"}]}}),
            "hft-frontend:app.probes.liveness.httpHeaders[0].valeu: unknown key (did you mean 'value'?)",
            id="typo-inside-a-list",
        ),
        pytest.param(
            _with("app.hostnames", "new.hft-platform.com"),
            'hft-frontend:app.hostnames = "new.hft-platform.com": should be a list (YAML `- item` lines or [a, b])',
            id="a-string-where-a-list-goes",
        ),
        pytest.param(
            _with("app.replicas", "two"),
            'hft-frontend:app.replicas = "two": Input should be a valid integer',
            id="type",
        ),
    ],
)
def test_unknown_keys_and_wrong_types_are_named(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        parse_settings(raw)
    assert message in str(error.value)


def test_an_unknown_key_is_reported_before_the_missing_key_it_explains() -> None:
    raw = _with("app.imgae", "ghcr.io/org/frontend:v1")
    del raw["app"]["image"]
    with pytest.raises(SettingsError) as error:
        parse_settings(raw)
    assert "app.imgae: unknown key (did you mean 'image'?) (and 1 more problem(s)" in str(error.value)


# --- through the program: one line naming the stack file --------------------------------------------


def test_the_program_stops_with_one_line_naming_the_stack_file(render_stack: Callable[..., Rendering]) -> None:
    overrides = {"hft-frontend:app": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}}
    with pytest.raises(ProgramError) as error:
        render_stack("broken", overrides, base="staging")
    assert str(error.value) == (
        "Pulumi.broken.yaml: hft-frontend:app.autoscaling.minReplicas = 5: must not exceed maxReplicas (3)"
    )


def test_a_typo_in_the_namespace_is_not_ignored(render_stack: Callable[..., Rendering]) -> None:
    # A provider's own setting is fine; a misspelled project namespace is not.
    overrides = {"hft-fronted:replicas": 3, "kubernetes:context": "staging-cluster"}
    with pytest.raises(ProgramError) as error:
        render_stack("typo", overrides, base="staging")
    assert str(error.value) == (
        "Pulumi.typo.yaml: hft-fronted:replicas: unknown config namespace 'hft-fronted' (did you mean 'hft-frontend'?)"
    )


def test_config_values_reach_the_model_as_the_engine_passes_them(render_stack: Callable[..., Rendering]) -> None:
    # The engine hands structured values over as JSON text and scalars as text; a stack that sets
    # no namespace gets one named after the environment, which defaults to the stack's name.
    rendering = render_stack(
        "qa", {"hft-frontend:environment": DELETE, "hft-frontend:namespace": DELETE}, base="staging"
    )
    namespaces = rendering.by_type("kubernetes:core/v1:Namespace")
    assert [n.inputs["metadata"]["name"] for n in namespaces] == ["qa"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("app", {**MINIMAL_APP, "imgae": "x"}, "hft-frontend:app.imgae: unknown key (did you mean 'image'?)"),
        ("app", {**MINIMAL_APP, "image": "ghcr.io/x/frontend:latest"}, "the image is not pinned"),
        (
            "app",
            {**MINIMAL_APP, "autoscaling": {"enabled": True, "minReplicas": 9, "maxReplicas": 4}},
            "hft-frontend:app.autoscaling.minReplicas = 9: must not exceed maxReplicas (4)",
        ),
    ],
)
def test_the_preview_command_fails_with_one_clear_line(tmp_path: Path, key: str, value: Any, expected: str) -> None:
    project = write_project(tmp_path, "bad", {f"hft-frontend:{key}": value})
    result = run_preview("--stack", "bad", "--project-dir", str(project))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: Pulumi.bad.yaml: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not (project / "build").exists(), "nothing is written for an invalid stack"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A key indented one space less than its siblings: the mistake is on line 6, not the block of line 2.
        (
            "config:\n  hft-frontend:app:\n    image: x\n    hostnames:\n    - a.hft-platform.com\n   replicas: 2\n",
            "error: Pulumi.bad.yaml:6:4: expected <block end>, but found '<block mapping start>' "
            "(in the block mapping from line 2)",
        ),
        ("config:\n  hft-frontend:app: {image: x\n", "error: Pulumi.bad.yaml:3:1: expected ',' or '}', but got"),
        ("config:\n  a: 'unclosed\n", "error: Pulumi.bad.yaml:3:1: found unexpected end of stream"),
    ],
)
def test_a_yaml_error_points_at_the_offending_line_first(tmp_path: Path, text: str, expected: str) -> None:
    project = write_project(tmp_path, "bad", {})
    (project / "Pulumi.bad.yaml").write_text(text)
    result = run_preview("--stack", "bad", "--project-dir", str(project))
    assert result.returncode == 1
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1


def test_a_mistyped_stack_gets_a_did_you_mean() -> None:
    result = run_preview("--stack", "prod")
    assert result.returncode == 1
    assert result.stderr == "error: Pulumi.prod.yaml: no such stack file (did you mean 'production'?)\n"


# --- secrets ---------------------------------------------------------------------------------------


def test_the_model_declares_which_fields_may_hold_a_secret() -> None:
    # These must be secrets (edge.accountId may be one); no other field may hold one.
    assert secret_fields() == [
        "app.secretValues",
        "routing.tls.clusterIssuer.cloudflareApiToken",
        "edge.accountId",
        "sentryDsn",
    ]


def test_a_secret_sentry_dsn_becomes_a_config_secret() -> None:
    raw = {**_app(), "sentryDsn": "https://key@sentry.example.com/42"}
    settings = parse_settings(raw, frozenset({"sentryDsn"}))
    assert isinstance(settings.sentry_dsn, ConfigSecret)
    assert "sentry.example.com" not in repr(settings.sentry_dsn)
    assert "sentry.example.com" not in repr(settings)


def test_a_sentry_dsn_in_plain_text_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError) as error:
        parse_settings({**_app(), "sentryDsn": "https://key@sentry.example.com/42"})
    message = str(error.value)
    assert "hft-frontend:sentryDsn: must be a secret" in message
    assert "sentry.example.com" not in message


def test_a_secret_where_no_field_may_hold_one_is_refused_naming_the_key_not_the_value() -> None:
    # `pulumi config set --secret --path app.probes.liveness.httpHeaders[0].value s3cr3t`
    raw = _with("app.probes", {"liveness": {"httpHeaders": [{"name": "Authorization", "value": "s3cr3t-token"}]}})
    with pytest.raises(SettingsError) as error:
        parse_settings(raw, frozenset({"app"}))
    message = str(error.value)
    assert "hft-frontend:app: is a secret" in message
    assert "but none of its fields that may hold one (app.secretValues) is set" in message
    assert "s3cr3t" not in message
    assert "\n" not in message


def test_no_value_of_a_secret_key_appears_in_an_error() -> None:
    # The key is secret, so any of its values may be the secret: a rule's message shows none.
    raw = {**_app(), "sentryDsn": ["not", "a", "string", "s3cr3t-list"]}
    with pytest.raises(SettingsError) as error:
        parse_settings(raw, frozenset({"sentryDsn"}))
    assert "s3cr3t" not in str(error.value)
    assert "hft-frontend:sentryDsn" in str(error.value)


@pytest.mark.parametrize(
    ("issuer", "named"),
    [
        # A field's own check (pydantic's message quotes the input).
        ({"email": "s3cr3t-not-an-email"}, "hft-frontend:routing.tls.clusterIssuer.email: "),
        # A field of another type than declared.
        ({"solver": "s3cr3t-solver"}, "hft-frontend:routing.tls.clusterIssuer.solver: "),
    ],
)
def test_no_value_of_a_secret_key_with_its_secret_field_set_appears_in_an_error(
    issuer: dict[str, str], named: str
) -> None:
    # `routing` is secret because its token is: any other value in it may be the secret mistyped.
    raw = {**_app(), "routing": {"tls": {"clusterIssuer": {"create": True, "cloudflareApiToken": "tok", **issuer}}}}
    with pytest.raises(SettingsError) as error:
        parse_settings(raw, frozenset({"routing"}))
    message = str(error.value)
    assert named in message
    assert "s3cr3t" not in message


class _Token(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    token: SecretValue
    account: MaybeSecretValue | None = None
    region: str = "eu"


class _Edge(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    zone: str
    credentials: tuple[_Token, ...] = ()


def test_secret_fields_are_found_inside_structured_keys_and_lists() -> None:
    assert secret_fields(_Edge) == ["credentials.token", "credentials.account"]
    marked, count = mark_secrets(
        _Edge, {"zone": "example.com", "credentials": [{"token": "t-1", "account": "a-1"}, {"token": "t-2"}]}
    )
    assert count == 3
    edge = _Edge.model_validate(marked)
    assert edge.zone == "example.com", "a field that may not hold a secret is left as it is"
    assert [type(c.token) for c in edge.credentials] == [ConfigSecret, ConfigSecret]
    assert edge.credentials[0].account == ConfigSecret("a-1")
    assert edge.credentials[1].account is None


def test_a_field_that_may_hold_a_secret_also_takes_plain_text_and_one_that_must_does_not() -> None:
    token = _Token.model_validate({"token": ConfigSecret("t"), "account": "1234"})
    assert token.account == "1234"
    with pytest.raises(ValueError, match="must be a secret"):
        _Token.model_validate({"token": "plain"})


def test_a_secret_config_value_is_handed_to_resources_as_a_pulumi_secret() -> None:
    assert "[secret]" in repr(ConfigSecret("x"))
    assert ConfigSecret("x") == ConfigSecret("x")
    assert ConfigSecret("x") != ConfigSecret("y")


def test_the_stack_files_hold_no_plaintext_secret() -> None:
    for stack in ("staging", "production"):
        values = stack_values(stack)
        assert "hft-frontend:sentryDsn" not in values or "secure" in values["hft-frontend:sentryDsn"]


def test_secret_marker_is_a_string() -> None:
    assert isinstance(Secret("x"), str)


# --- one owner for each singleton ----------------------------------------------------------------


def test_a_sibling_stack_owns_the_cluster_issuer_even_with_its_token_set_as_a_secret(tmp_path: Path) -> None:
    # `pulumi config set --secret --path routing.tls.clusterIssuer.cloudflareApiToken` writes the leaf as
    # `secure: <ciphertext>` (the stack files quoted in pulumi/pulumi#3911 and #11954); the sibling's claim
    # must still be read, not dropped as an invalid value.
    issuer = {"tls": {"clusterIssuer": {"create": True, "cloudflareApiToken": "t0ken"}}}
    sibling = {"tls": {"clusterIssuer": {"create": True, "cloudflareApiToken": {"secure": "v1:AAAA"}}}}
    config = {"hft-frontend:cluster": {"name": "hft-shared"}, "hft-frontend:routing": sibling}
    (tmp_path / "Pulumi.production.yaml").write_text(yaml.safe_dump({"config": config}))
    raw = {
        "environment": "qa",
        "namespace": "qa",
        "app": MINIMAL_APP,
        "edge": {"zoneId": ZONE_ID},
        "cluster": {"name": "hft-shared"},
        "routing": issuer,
    }
    settings = parse_settings(raw, frozenset({"routing"}))
    with pytest.raises(SettingsError) as error:
        check_claims(settings, "qa", tmp_path)
    assert str(error.value).endswith(
        "hft-frontend:routing.tls.clusterIssuer.create: cluster hft-shared: the ClusterIssuer letsencrypt-prod is "
        "owned by the stack 'production' (Pulumi.production.yaml: routing.tls.clusterIssuer.create); exactly one "
        "stack may own it"
    )
    check_claims(settings, "production", tmp_path)  # a stack's own file is no sibling
