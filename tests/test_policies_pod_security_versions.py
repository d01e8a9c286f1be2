"""The PSS policies judge as Pod Security Admission does at a Kubernetes version: each version-dependent rule of
k8s.io/pod-security-admission (policy/check_*.go, v0.25.0-v0.36.2) on both sides of the version that changed
it, the version taken from the pack config or, offline, from the namespace's enforce-version label; and the two
pods the issue names, which PSA accepts under restricted at 1.32."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from offline_preview.engine import Registration
from offline_preview.policy_eval import PolicyConfigError
from policies import kubernetes_workloads
from policies.kubernetes_workloads import NEWEST_VERSION, parse_version, safe_sysctls
from tests.support.policies import evaluate, rendered

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"
PSS = sorted(p.name for p in kubernetes_workloads.POLICIES if p.name.startswith("pss-"))


def at(version: str) -> dict[str, Any]:
    """The pack config judging every PSS policy at `version`."""
    return {name: {"kubernetesVersion": version} for name in PSS}


def compliant() -> Registration:
    """The program's Deployment, which passes restricted at every version."""
    return rendered(DEPLOYMENT, "hft-frontend-deployment")


def pod(deployment: Registration) -> dict[str, Any]:
    return deployment.inputs["spec"]["template"]["spec"]


def fired(deployment: Registration, version: str) -> set[str]:
    return {v.policy_name for v in evaluate(deployment, config=at(version)) if v.policy_name.startswith("pss-")}


def broken(change: Callable[[dict[str, Any]], None]) -> Registration:
    deployment = compliant()
    change(pod(deployment))
    return deployment


def container_context(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["containers"][0].setdefault("securityContext", {})


def windows_without_linux_fields(spec: dict[str, Any]) -> None:
    """A Windows pod: the API refuses allowPrivilegeEscalation, seccomp and capabilities on one."""
    spec["os"] = {"name": "windows"}
    spec["securityContext"].pop("seccompProfile", None)
    for field in ("allowPrivilegeEscalation", "capabilities", "seccompProfile"):
        container_context(spec).pop(field, None)


def sysctl(name: str) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        spec["securityContext"]["sysctls"] = [{"name": name, "value": "4096 87380 6291456"}]

    return change


def user_namespace_root(spec: dict[str, Any]) -> None:
    spec["hostUsers"] = False
    spec["securityContext"]["runAsNonRoot"] = False
    spec["securityContext"]["runAsUser"] = 0
    container_context(spec).pop("runAsNonRoot", None)
    container_context(spec).pop("runAsUser", None)


def set_field(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    """Sets `path` in the pod spec, or, when it starts with "container", in the container's securityContext."""

    def change(spec: dict[str, Any]) -> None:
        target, keys = (container_context(spec), path[1:]) if path[0] == "container" else (spec, path)
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value

    return change


def image_volume(spec: dict[str, Any]) -> None:
    spec["volumes"].append({"name": "models", "image": {"reference": "ghcr.io/org/models:v1"}})


def probe_host(spec: dict[str, Any]) -> None:
    spec["containers"][0]["readinessProbe"]["httpGet"]["host"] = "169.254.169.254"


def seccomp_annotation(spec: dict[str, Any]) -> None:
    spec["securityContext"].pop("seccompProfile", None)
    container_context(spec).pop("seccompProfile", None)


# (name, what breaks, the version it still fails at, the version it passes at, the policies that fire)
CHANGES: list[tuple[str, Callable[[dict[str, Any]], None], str, str, set[str]]] = [
    ("tcp_rmem is safe from 1.32", sysctl("net.ipv4.tcp_rmem"), "1.31", "1.32", {"pss-baseline-sysctls"}),
    ("tcp_wmem is safe from 1.32", sysctl("net.ipv4.tcp_wmem"), "1.31", "1.32", {"pss-baseline-sysctls"}),
    ("keepalive is safe from 1.29", sysctl("net.ipv4.tcp_keepalive_time"), "1.28", "1.29", {"pss-baseline-sysctls"}),
    (
        "reserved ports are safe from 1.27",
        sysctl("net.ipv4.ip_local_reserved_ports"),
        "1.26",
        "1.27",
        {"pss-baseline-sysctls"},
    ),
    (
        "Windows pods need no Linux fields from 1.25",
        windows_without_linux_fields,
        "1.24",
        "1.25",
        {"pss-restricted-privilege-escalation", "pss-restricted-seccomp", "pss-restricted-capabilities"},
    ),
    (
        "user-namespace pods may run as root from 1.35",
        user_namespace_root,
        "1.34",
        "1.35",
        {"pss-restricted-run-as-non-root", "pss-restricted-run-as-user"},
    ),
    (
        "container_engine_t is allowed from 1.31",
        set_field(("container", "seLinuxOptions", "type"), "container_engine_t"),
        "1.30",
        "1.31",
        {"pss-baseline-selinux"},
    ),
    ("image volumes are allowed from 1.33", image_volume, "1.32", "1.33", {"pss-restricted-volume-types"}),
]


@pytest.mark.parametrize(("name", "change", "fails_at", "passes_at", "policies"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_rule_relaxed_at_a_version_passes_from_it_and_fails_before(
    name: str, change: Callable[[dict[str, Any]], None], fails_at: str, passes_at: str, policies: set[str]
) -> None:
    deployment = broken(change)
    assert fired(deployment, fails_at) == policies
    assert fired(deployment, passes_at) == set()
    assert fired(deployment, "latest") == set()


# (name, what breaks, the version it passes at, the version it fails from, the policies that fire)
ADDED: list[tuple[str, Callable[[dict[str, Any]], None], str, str, set[str]]] = [
    ("probe hosts are refused from 1.34", probe_host, "1.33", "1.34", {"pss-baseline-host-probes"}),
    (
        "AppArmor profile fields are checked from 1.30",
        set_field(("container", "appArmorProfile", "type"), "Unconfined"),
        "1.29",
        "1.30",
        {"pss-baseline-apparmor"},
    ),
    (
        "runAsUser 0 is refused from 1.23",
        set_field(("securityContext", "runAsUser"), 0),
        "1.22",
        "1.23",
        {"pss-restricted-run-as-user"},
    ),
    (
        "drop ALL is required from 1.22",
        set_field(("container", "capabilities"), {"add": ["CHOWN"]}),
        "1.21",
        "1.22",
        {"pss-restricted-capabilities"},
    ),
    (
        "the seccomp profile field is required from 1.19",
        seccomp_annotation,
        "1.18",
        "1.19",
        {"pss-restricted-seccomp"},
    ),
    (
        "allowPrivilegeEscalation false is required from 1.8",
        set_field(("container", "allowPrivilegeEscalation"), True),
        "1.7",
        "1.8",
        {"pss-restricted-privilege-escalation"},
    ),
]


@pytest.mark.parametrize(("name", "change", "passes_at", "fails_from", "policies"), ADDED, ids=[c[0] for c in ADDED])
def test_a_rule_added_at_a_version_applies_from_it(
    name: str, change: Callable[[dict[str, Any]], None], passes_at: str, fails_from: str, policies: set[str]
) -> None:
    deployment = broken(change)
    assert fired(deployment, passes_at) == set()
    assert fired(deployment, fails_from) == policies
    assert fired(deployment, "latest") == policies


VERSIONS = ("1.24", "1.25", "1.32", "1.35", "latest")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_windows_pod_still_runs_as_non_root_and_never_as_a_host_process(version: str) -> None:
    def windows_root(spec: dict[str, Any]) -> None:
        windows_without_linux_fields(spec)
        spec["securityContext"]["runAsNonRoot"] = False

    assert "pss-restricted-run-as-non-root" in fired(broken(windows_root), version)
    host_process = broken(windows_without_linux_fields)
    container_context(pod(host_process))["windowsOptions"] = {"hostProcess": True}
    assert "pss-baseline-host-process" in fired(host_process, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_proc_mount_stays_masked_in_a_user_namespace_under_restricted(version: str) -> None:
    def unmasked(spec: dict[str, Any]) -> None:
        spec["hostUsers"] = False
        container_context(spec)["procMount"] = "Unmasked"

    assert fired(broken(unmasked), version) == {"pss-baseline-proc-mount"}


def test_before_1_19_the_seccomp_annotations_are_what_is_checked() -> None:
    deployment = broken(seccomp_annotation)
    annotations = deployment.inputs["spec"]["template"]["metadata"].setdefault("annotations", {})
    annotations["seccomp.security.alpha.kubernetes.io/pod"] = "unconfined"
    assert fired(deployment, "1.18") == {"pss-restricted-seccomp"}
    annotations["seccomp.security.alpha.kubernetes.io/pod"] = "runtime/default"
    assert fired(deployment, "1.18") == set()


def test_before_1_22_a_baseline_capability_may_be_added_but_not_more() -> None:
    deployment = broken(set_field(("container", "capabilities"), {"drop": [], "add": ["CHOWN", "SYS_ADMIN"]}))
    (violation,) = [v for v in evaluate(deployment, config=at("1.21")) if v.policy_name.startswith("pss-")]
    assert 'capabilities.add has "SYS_ADMIN"; not even the baseline profile allows it' in violation.message
    assert "CHOWN" not in violation.message


def test_the_safe_sysctls_per_version_are_upstreams() -> None:
    # k8s.io/pod-security-admission policy/check_sysctls.go: sysctlsAllowedV1Dot0 ... V1Dot32.
    v1_0 = {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
    v1_29 = v1_0 | {
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
    assert safe_sysctls((1, 26)) == v1_0
    assert safe_sysctls((1, 29)) == safe_sysctls((1, 31)) == v1_29
    assert safe_sysctls((1, 32)) == safe_sysctls(NEWEST_VERSION) == v1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}


@pytest.mark.parametrize(
    ("text", "version"), [("latest", NEWEST_VERSION), ("1.32", (1, 32)), ("v1.25", (1, 25)), ("v1.99", NEWEST_VERSION)]
)
def test_versions_are_read_as_the_label_spells_them_and_clamped_as_psa_does(
    text: str, version: tuple[int, int]
) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize("bad", ["1.x", "2.0", "v1", "newest", "1.032"])
def test_a_version_that_is_not_one_is_refused_by_the_config_schema(bad: str) -> None:
    with pytest.raises(PolicyConfigError, match=f"pss-baseline-sysctls: kubernetesVersion: '{bad}' does not match"):
        evaluate(compliant(), config={"pss-baseline-sysctls": {"kubernetesVersion": bad}})


# --- the version the stack pins ----------------------------------------------------------------


def namespace(enforce_version: str | None) -> Registration:
    registration = rendered(NAMESPACE, "security-baseline-namespace")
    labels = registration.inputs["metadata"]["labels"]
    labels.pop("pod-security.kubernetes.io/enforce-version")
    if enforce_version is not None:
        labels["pod-security.kubernetes.io/enforce-version"] = enforce_version
    return registration


def test_offline_a_workload_is_judged_at_its_namespaces_enforce_version() -> None:
    deployment = broken(sysctl("net.ipv4.tcp_rmem"))
    assert deployment.inputs["metadata"]["namespace"] == "production"

    def sysctl_verdicts(*registrations: Registration, config: dict[str, Any] | None = None) -> list[str]:
        return [
            v.policy_name for v in evaluate(*registrations, config=config) if v.policy_name == "pss-baseline-sysctls"
        ]

    assert sysctl_verdicts(namespace("v1.31"), deployment) == ["pss-baseline-sysctls"]
    assert sysctl_verdicts(namespace("v1.32"), deployment) == []
    assert sysctl_verdicts(namespace(None), deployment) == []  # no label: PSA's latest
    # The pack config, when it sets the version, wins (it is all the CLI has).
    assert sysctl_verdicts(namespace("v1.32"), deployment, config=at("1.31")) == ["pss-baseline-sysctls"]
    # A namespace elsewhere does not count.
    other = copy.deepcopy(namespace("v1.31"))
    other.inputs["metadata"]["name"] = "elsewhere"
    assert sysctl_verdicts(other, deployment) == []


@pytest.mark.parametrize("change", [windows_without_linux_fields, sysctl("net.ipv4.tcp_wmem")])
def test_the_issues_two_pods_pass_restricted_in_the_stacks_namespace_at_1_32(
    change: Callable[[dict[str, Any]], None],
) -> None:
    production_namespace = rendered(NAMESPACE, "security-baseline-namespace")
    assert production_namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.32"
    deployment = broken(change)
    assert [v for v in evaluate(production_namespace, deployment) if v.policy_name.startswith("pss-")] == []
