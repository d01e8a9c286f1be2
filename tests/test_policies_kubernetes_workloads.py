"""Pod Security Standards and workload policies, on the Deployment as the program renders it.

Each case breaks one property of a compliant Deployment and checks that exactly the controls guarding it
fire, with a message that names the place; container controls are checked for containers, init
containers and ephemeral containers alike.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from offline_preview.engine import Registration, Rendering
from offline_preview.policy_eval import evaluate_rendering_in_full
from policies.common import reads_resource_type
from policies.kubernetes_workloads import POLICIES, image_reference
from tests.support.policies import STACK, evaluate, messages, rendered
from tests.support.stacks import PROJECT

WORKLOAD_POLICIES = {policy.name for policy in POLICIES}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def workload_verdicts(*registrations: Registration) -> set[str]:
    return {v.policy_name for v in evaluate(*registrations) if v.policy_name in WORKLOAD_POLICIES}


def template(deployment: Registration) -> dict[str, Any]:
    return deployment.inputs["spec"]["template"]


def compliant_deployment() -> Registration:
    """The program's Deployment with every field these policies guard set to a compliant value.

    The rendered Deployment already complies; setting the fields here keeps each case below about the one
    property it breaks, whatever the program changes elsewhere.
    """
    deployment = rendered(DEPLOYMENT, "hft-frontend-deployment")
    pod = template(deployment)["spec"]
    pod["automountServiceAccountToken"] = False
    pod.setdefault("securityContext", {}).update(runAsNonRoot=True, seccompProfile={"type": "RuntimeDefault"})
    for container in pod["containers"]:
        context = container.setdefault("securityContext", {})
        context.update(allowPrivilegeEscalation=False, privileged=False, runAsNonRoot=True)
        context["capabilities"] = {"drop": ["ALL"]}
        assert ":" in container["image"].rsplit("/", 1)[-1], "the program's image carries a tag"
    return deployment


def test_the_programs_deployment_passes_every_workload_policy() -> None:
    assert workload_verdicts(compliant_deployment()) == set()


def add_sidecar(pod: dict[str, Any], field: str) -> dict[str, Any]:
    """A copy of the app container under `field`, as Kubernetes allows it there."""
    container = copy.deepcopy(pod["containers"][0])
    if field == "ephemeralContainers":  # no ports, probes or resources on an ephemeral container
        for key in ("ports", "livenessProbe", "readinessProbe", "startupProbe", "resources"):
            container.pop(key, None)
    if field == "initContainers":  # an init container has no probes
        for key in ("livenessProbe", "readinessProbe", "startupProbe"):
            container.pop(key, None)
    pod.setdefault(field, []).append(container)
    return container


# --- pod-level controls ------------------------------------------------------------------------


@dataclass(frozen=True)
class PodCase:
    policies: set[str]  # exactly the policies that must fire
    breaks: Callable[[dict[str, Any]], None]  # breaks spec.template (its spec and metadata)
    expected: str  # in the message

    def __str__(self) -> str:
        return self.expected


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Sets spec.template.<path> (dotted) to value."""

    def breaks(target: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value

    return breaks


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def breaks(target: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        for key in parents:
            target = target[key]
        del target[leaf]

    return breaks


def _delete_everywhere(field: str) -> Callable[[dict[str, Any]], None]:
    """Removes securityContext.<field> from the pod and every container."""

    def breaks(target: dict[str, Any]) -> None:
        pod = target["spec"]
        for holder in [pod, *pod["containers"]]:
            holder.get("securityContext", {}).pop(field, None)

    return breaks


POD_CASES = [
    PodCase(
        {"pss-baseline-host-process"},
        _set("spec.securityContext.windowsOptions", {"hostProcess": True}),
        "pod spec (spec.template.spec): securityContext.windowsOptions.hostProcess is true",
    ),
    PodCase(
        {"pss-baseline-host-namespaces"},
        _set("spec.hostNetwork", True),
        "pod spec (spec.template.spec): hostNetwork is true",
    ),
    PodCase({"pss-baseline-host-namespaces"}, _set("spec.hostPID", True), "hostPID is true"),
    PodCase({"pss-baseline-host-namespaces"}, _set("spec.hostIPC", True), "hostIPC is true"),
    PodCase(
        {"pss-baseline-host-path-volumes", "pss-restricted-volume-types"},
        _set("spec.volumes", [{"name": "docker-socket", "hostPath": {"path": "/var/run/docker.sock"}}]),
        'volumes[0] ("docker-socket") is a hostPath volume',
    ),
    PodCase(
        {"pss-baseline-apparmor"},
        _set("spec.securityContext.appArmorProfile", {"type": "Unconfined"}),
        'securityContext.appArmorProfile.type is "Unconfined"',
    ),
    PodCase(
        {"pss-baseline-apparmor"},
        _set("metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/frontend": "unconfined"}),
        "pod metadata (spec.template.metadata): annotation "
        'container.apparmor.security.beta.kubernetes.io/frontend is "unconfined"',
    ),
    PodCase(
        {"pss-baseline-selinux"},
        _set("spec.securityContext.seLinuxOptions", {"type": "spc_t"}),
        'securityContext.seLinuxOptions.type is "spc_t"',
    ),
    PodCase(
        {"pss-baseline-selinux"},
        _set("spec.securityContext.seLinuxOptions", {"user": "system_u"}),
        'securityContext.seLinuxOptions.user is "system_u"',
    ),
    PodCase(
        {"pss-baseline-selinux"},
        _set("spec.securityContext.seLinuxOptions", {"role": "sysadm_r"}),
        'securityContext.seLinuxOptions.role is "sysadm_r"',
    ),
    PodCase(
        {"pss-baseline-sysctls"},
        _set("spec.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "65536"}]),
        'securityContext.sysctls[0] sets "kernel.msgmax"',
    ),
    PodCase(
        {"pss-restricted-volume-types"},
        _set("spec.volumes", [{"name": "shared", "nfs": {"server": "nfs.internal", "path": "/exports"}}]),
        'volumes[0] ("shared") is a nfs volume',
    ),
    PodCase(
        {"pss-restricted-run-as-non-root"},
        _set("spec.securityContext.runAsNonRoot", False),
        "pod spec (spec.template.spec): securityContext.runAsNonRoot is false",
    ),
    PodCase(
        {"pss-restricted-run-as-non-root"},
        _delete_everywhere("runAsNonRoot"),
        "runAsNonRoot is set neither here nor on the pod",
    ),
    PodCase(
        {"pss-restricted-run-as-user"},
        _set("spec.securityContext.runAsUser", 0),
        "pod spec (spec.template.spec): securityContext.runAsUser is 0 (root)",
    ),
    PodCase(
        {"pss-restricted-seccomp"},
        _set("spec.securityContext.seccompProfile", {"type": "Unconfined"}),
        'pod spec (spec.template.spec): securityContext.seccompProfile.type is "Unconfined"',
    ),
    PodCase(
        {"pss-restricted-seccomp"},
        _delete_everywhere("seccompProfile"),
        "no seccompProfile is set here or on the pod",
    ),
    PodCase(
        {"workload-no-service-account-token"},
        _set("spec.automountServiceAccountToken", True),
        "automountServiceAccountToken is true",
    ),
    PodCase(
        {"workload-no-service-account-token"},
        _delete("spec.automountServiceAccountToken"),
        "automountServiceAccountToken is not set (it defaults to true)",
    ),
]


@pytest.mark.parametrize("case", POD_CASES, ids=str)
def test_a_broken_pod_spec_fires_exactly_its_controls(case: PodCase) -> None:
    deployment = compliant_deployment()
    case.breaks(template(deployment))
    violations = evaluate(deployment)
    assert {v.policy_name for v in violations} == case.policies
    assert all(v.enforcement_level == "mandatory" for v in violations)
    for policy in case.policies:
        assert case.expected in messages(violations, policy)


# --- container-level controls ------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerCase:
    policy: str
    breaks: Callable[[dict[str, Any]], None]  # breaks one container
    expected: str
    fields: tuple[str, ...] = ("containers", "initContainers", "ephemeralContainers")

    def __str__(self) -> str:
        return f"{self.policy}: {self.expected}"


def _context(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda container: container.setdefault("securityContext", {}).update(values)


def _without(*path: str) -> Callable[[dict[str, Any]], None]:
    def breaks(container: dict[str, Any]) -> None:
        for key in path[:-1]:
            container = container[key]
        del container[path[-1]]

    return breaks


def _image(image: str) -> Callable[[dict[str, Any]], None]:
    return lambda container: container.update(image=image)


CONTAINER_CASES = [
    ContainerCase(
        "pss-baseline-host-process",
        _context(windowsOptions={"hostProcess": True}),
        "securityContext.windowsOptions.hostProcess is true",
    ),
    ContainerCase("pss-baseline-privileged", _context(privileged=True), "securityContext.privileged is true"),
    ContainerCase(
        "pss-baseline-host-ports",
        lambda c: c.update(ports=[{"containerPort": 3000, "hostPort": 3000, "protocol": "TCP"}]),
        "ports[0].hostPort is 3000",
    ),
    ContainerCase(
        "pss-baseline-apparmor",
        _context(appArmorProfile={"type": "Unconfined"}),
        'securityContext.appArmorProfile.type is "Unconfined"',
    ),
    ContainerCase(
        "pss-baseline-selinux",
        _context(seLinuxOptions={"type": "spc_t"}),
        'securityContext.seLinuxOptions.type is "spc_t"',
    ),
    ContainerCase("pss-baseline-proc-mount", _context(procMount="Unmasked"), 'procMount is "Unmasked"'),
    ContainerCase(
        "pss-restricted-privilege-escalation",
        _context(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation is true",
    ),
    ContainerCase(
        "pss-restricted-privilege-escalation",
        _without("securityContext", "allowPrivilegeEscalation"),
        "allowPrivilegeEscalation is not set (it defaults to true)",
    ),
    ContainerCase("pss-restricted-run-as-non-root", _context(runAsNonRoot=False), "runAsNonRoot is false"),
    ContainerCase("pss-restricted-run-as-user", _context(runAsUser=0), "runAsUser is 0 (root)"),
    ContainerCase(
        "pss-restricted-seccomp",
        _context(seccompProfile={"type": "Unconfined"}),
        'securityContext.seccompProfile.type is "Unconfined"',
    ),
    ContainerCase(
        "pss-restricted-capabilities",
        _context(capabilities={"drop": ["NET_RAW"]}),
        'capabilities.drop does not include "ALL"',
    ),
    ContainerCase(
        "pss-restricted-capabilities",
        _context(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        'capabilities.add has "SYS_ADMIN"; not even the baseline profile allows it',
    ),
    ContainerCase(
        "pss-restricted-capabilities",
        _context(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}),
        'capabilities.add has "CHOWN"; the restricted profile allows adding only NET_BIND_SERVICE',
    ),
    ContainerCase("workload-image-pinned", _image("ghcr.io/your-org/frontend"), "has no tag"),
    ContainerCase("workload-image-pinned", _image("ghcr.io/your-org/frontend:latest"), "uses the tag latest"),
    ContainerCase(
        "workload-resources",
        _without("resources", "limits", "memory"),
        "resources has no limits.memory",
        fields=("containers", "initContainers"),
    ),
    ContainerCase(
        "workload-resources",
        _without("resources", "requests"),
        "resources has no requests.cpu, requests.memory",
        fields=("containers", "initContainers"),
    ),
    ContainerCase("workload-probes", _without("readinessProbe"), "no readinessProbe", fields=("containers",)),
    ContainerCase("workload-probes", _without("livenessProbe"), "no livenessProbe", fields=("containers",)),
]

NOUNS = {"containers": "container", "initContainers": "init container", "ephemeralContainers": "ephemeral container"}


@pytest.mark.parametrize(
    ("case", "field"),
    [pytest.param(case, field, id=f"{field}-{case}") for case in CONTAINER_CASES for field in case.fields],
)
def test_a_broken_container_fires_exactly_its_control(case: ContainerCase, field: str) -> None:
    deployment = compliant_deployment()
    pod = template(deployment)["spec"]
    container = pod["containers"][0] if field == "containers" else add_sidecar(pod, field)
    assert workload_verdicts(deployment) == set(), "the unbroken Deployment passes"

    case.breaks(container)
    violations = evaluate(deployment)
    assert {v.policy_name for v in violations} == {case.policy}
    message = messages(violations, case.policy)
    assert f'{NOUNS[field]} "{container["name"]}" (spec.template.spec.{field}[0])' in message
    assert case.expected in message


def test_net_bind_service_is_the_one_capability_a_container_may_add() -> None:
    deployment = compliant_deployment()
    template(deployment)["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert workload_verdicts(deployment) == set()


def test_a_container_inherits_the_pods_seccomp_profile_and_non_root() -> None:
    deployment = compliant_deployment()
    for container in template(deployment)["spec"]["containers"]:
        container["securityContext"].pop("seccompProfile", None)
        container["securityContext"].pop("runAsNonRoot", None)
    assert workload_verdicts(deployment) == set()


# --- every workload kind -----------------------------------------------------------------------

GROUP_OF_KIND = {
    "Pod": "core",
    "ReplicationController": "core",
    "Deployment": "apps",
    "StatefulSet": "apps",
    "DaemonSet": "apps",
    "ReplicaSet": "apps",
    "Job": "batch",
    "CronJob": "batch",
}


def as_kind(deployment: Registration, kind: str) -> tuple[Registration, str]:
    """The Deployment's pod template in a `kind` object, and the path of its pod spec."""
    pod_template = template(deployment)
    selector = deployment.inputs["spec"]["selector"]
    metadata = deployment.inputs["metadata"]
    api_version = {"core": "v1", "apps": "apps/v1", "batch": "batch/v1"}[GROUP_OF_KIND[kind]]
    job_template = {**pod_template, "spec": {**pod_template["spec"], "restartPolicy": "OnFailure"}}
    spec, path = {
        "Pod": (pod_template["spec"], "spec"),
        "ReplicationController": (
            {"selector": selector["matchLabels"], "template": pod_template},
            "spec.template.spec",
        ),
        "Deployment": ({"selector": selector, "template": pod_template}, "spec.template.spec"),
        "StatefulSet": (
            {"selector": selector, "serviceName": "frontend", "template": pod_template},
            "spec.template.spec",
        ),
        "DaemonSet": ({"selector": selector, "template": pod_template}, "spec.template.spec"),
        "ReplicaSet": ({"selector": selector, "template": pod_template}, "spec.template.spec"),
        "Job": ({"template": job_template}, "spec.template.spec"),
        "CronJob": (
            {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": job_template}}},
            "spec.jobTemplate.spec.template.spec",
        ),
    }[kind]
    if kind == "Pod":
        metadata = {**metadata, "annotations": pod_template["metadata"].get("annotations", {})}
    type_ = f"kubernetes:{GROUP_OF_KIND[kind]}/v1:{kind}"
    workload = copy.deepcopy(deployment)
    workload.type = type_
    workload.urn = deployment.urn.replace(DEPLOYMENT, type_)
    workload.inputs = copy.deepcopy({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec})
    return workload, path


@pytest.mark.parametrize("kind", GROUP_OF_KIND)
def test_every_kind_that_carries_a_pod_spec_is_checked(kind: str) -> None:
    workload, path = as_kind(compliant_deployment(), kind)
    assert workload_verdicts(workload) == set()

    spec = workload.inputs
    for key in path.split("."):
        spec = spec[key]
    spec["containers"][0]["securityContext"]["privileged"] = True
    violations = evaluate(workload)
    assert {v.policy_name for v in violations} == {"pss-baseline-privileged"}
    assert f'container "frontend" ({path}.containers[0])' in violations[0].message
    assert violations[0].resource_type == workload.type


@pytest.mark.parametrize("kind", GROUP_OF_KIND)
@pytest.mark.parametrize("pod_spec", [None, "containers", []])
def test_a_workload_without_a_pod_spec_the_policies_can_read_is_not_checked_never_passed(
    kind: str, pod_spec: Any
) -> None:
    # A live object, or an older provider's, of a shape the policies do not know: said, never waved through.
    workload, path = as_kind(compliant_deployment(), kind)
    *head, last = path.split(".")
    parent = workload.inputs
    for key in head:
        parent = parent[key]
    parent[last] = pod_spec
    evaluation = evaluate_rendering_in_full(Rendering(STACK, PROJECT, [workload]))
    assert [v for v in evaluation.violations if v.policy_name in WORKLOAD_POLICIES] == []
    unchecked = [n for n in evaluation.not_checked if n.policy_name in WORKLOAD_POLICIES]
    assert {n.policy_name for n in unchecked} == {
        name for name in WORKLOAD_POLICIES if reads_resource_type(name, workload.type)
    }
    assert all(n.reason.startswith(f"{path} is ") for n in unchecked)


@pytest.mark.parametrize("kind", ["Job", "CronJob"])
def test_pods_that_run_to_completion_need_no_probes(kind: str) -> None:
    workload, path = as_kind(compliant_deployment(), kind)
    spec = workload.inputs
    for key in path.split("."):
        spec = spec[key]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        spec["containers"][0].pop(probe, None)
    assert workload_verdicts(workload) == set()


@pytest.mark.parametrize(
    ("image", "tag", "digest"),
    [
        ("frontend", None, None),
        ("ghcr.io/org/frontend:v1.0.0", "v1.0.0", None),
        ("registry:5000/frontend", None, None),
        ("registry:5000/frontend:1.2", "1.2", None),
        ("frontend@sha256:abc", None, "sha256:abc"),
        ("frontend:latest@sha256:abc", "latest", "sha256:abc"),
    ],
)
def test_image_reference(image: str, tag: str | None, digest: str | None) -> None:
    assert image_reference(image) == (tag, digest)


@pytest.mark.parametrize("image", ["frontend@sha256:" + "a" * 64, "frontend:latest@sha256:" + "a" * 64])
def test_a_digest_pins_the_image_whatever_the_tag(image: str) -> None:
    deployment = compliant_deployment()
    template(deployment)["spec"]["containers"][0]["image"] = image
    assert workload_verdicts(deployment) == set()
