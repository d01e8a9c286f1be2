"""Pods: every control of the Pod Security Standards' `restricted` profile (which includes `baseline`), as
https://kubernetes.io/docs/concepts/security/pod-security-standards/ lists them, plus what the platform
asks of every workload: resource requests and limits, probes, a pinned image and no service-account token.

Each control is its own policy, so one can be exempted or downgraded without the others (a CNI agent
needs NET_ADMIN, not a privileged container). A policy applies to every resource that carries a pod
spec, for its containers, init containers and ephemeral containers alike.

The controls judge as Pod Security Admission does at one Kubernetes version: each PSS policy's
`kubernetesVersion` config ("1.32", "v1.32" as the namespace label spells it, or "latest", the default:
the newest version here, 1.36; a newer one is judged as 1.36, as PSA clamps a version it does not know).
The offline preview and `make audit` set it from the `pod-security.kubernetes.io/enforce-version` label of
the workload's namespace when the pack config does not (offline_preview/policy_eval.py). The rules per
version follow k8s.io/pod-security-admission's `policy/check_*.go` (kubernetes/pod-security-admission
v0.36.2, commit 39b45cd167e1bd665aaeefc6e1acc1cc753259f2, and the tags v0.25.0-v0.35.0 for when each rule
changed), for a cluster that runs the version it pins:
- sysctls: the safe set grows at 1.27 (ip_local_reserved_ports), 1.29 (tcp_keepalive_time, tcp_fin_timeout,
  tcp_keepalive_intvl, tcp_keepalive_probes) and 1.32 (tcp_rmem, tcp_wmem);
- Windows pods (`spec.os.name: windows`) are exempt from allowPrivilegeEscalation, seccomp and capabilities
  from 1.25 (the API refuses those fields on Windows pods); runAsNonRoot, runAsUser, volumes and every
  baseline control still apply to them;
- user-namespace pods (`spec.hostUsers: false`) are exempt from runAsNonRoot and runAsUser from 1.35 (before,
  only behind the UserNamespacesPodSecurityStandards feature gate, off by default, which this assumes);
  procMount stays restricted for them under the restricted profile at every version;
- allowPrivilegeEscalation applies from 1.8, seccomp fields from 1.19 (before: the seccomp annotations,
  baseline values only), capabilities drop ALL from 1.22 (before: only the baseline's add list), runAsUser
  from 1.23;
- SELinux type container_engine_t is allowed from 1.31; AppArmor profile fields are checked from 1.30
  (annotations at every version); image volumes are allowed from 1.33; probe and lifecycle hosts are
  refused from 1.34.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy, Severity

from policies.common import NotChecked, get, items, kubernetes_kind, resource_policy, show

# --- the Pod Security Admission version --------------------------------------------------------

Version = tuple[int, int]
KUBERNETES_VERSION = "kubernetesVersion"
NEWEST_VERSION: Version = (1, 36)  # k8s.io/pod-security-admission v0.36.2
VERSION_PATTERN = r"^(latest|v?1\.(0|[1-9][0-9]*))$"
VERSION_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": VERSION_PATTERN,
    "default": "latest",
    "description": (
        "The Kubernetes version whose Pod Security Admission rules apply: 1.<minor>, v1.<minor> (as the "
        "namespace label pod-security.kubernetes.io/enforce-version spells it) or latest."
    ),
}


def parse_version(text: str) -> Version:
    """`latest`, `1.32` or `v1.32` as a version; one newer than the newest known is judged as that one."""
    match = re.fullmatch(VERSION_PATTERN, text)
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes version (1.<minor>, v1.<minor> or latest)")
    if text == "latest":
        return NEWEST_VERSION
    return min((1, int(match.group(2))), NEWEST_VERSION)


def show_version(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def pod_security_version(config: Mapping[str, Any]) -> Version:
    value = config.get(KUBERNETES_VERSION)
    return parse_version(value) if isinstance(value, str) else NEWEST_VERSION


# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
WORKLOAD_GROUPS = frozenset({"core", "apps", "batch", "extensions"})
# Pods that run to completion: a probe there only restarts or holds back a pod that is finishing.
RUN_TO_COMPLETION = frozenset({"Job", "CronJob"})

CONTAINER_FIELDS = {
    "containers": "container",
    "initContainers": "init container",
    "ephemeralContainers": "ephemeral container",
}


@dataclass(frozen=True)
class Pod:
    kind: str
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]  # the pod's, or the pod template's: AppArmor annotations live there
    path: str  # of the spec, for messages: "spec.template.spec"
    metadata_path: str
    containers_by_field: dict[str, tuple[Container, ...]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def subject(self) -> str:
        return f"pod spec ({self.path})"

    @property
    def is_windows(self) -> bool:
        return get(self.spec, "os", "name") == "windows"

    @property
    def in_user_namespace(self) -> bool:
        return get(self.spec, "hostUsers") is False


@dataclass(frozen=True)
class Container:
    spec: Mapping[str, Any]
    subject: str  # 'container "frontend" (spec.template.spec.containers[0])'


# The last resource's pod: the analyzer may hand every policy of one resource the same properties, and
# each of the twenty workload policies reads the same pod (kept alive here, so identity is safe to compare).
_last_pod: list[Any] = [None, None, None]


def pod_of(resource_type: str, props: Mapping[str, Any]) -> Pod | None:
    """The pod spec a workload carries, or None for anything else."""
    if _last_pod[0] is props and _last_pod[1] == resource_type:
        return _last_pod[2]
    pod = _pod_of(resource_type, props)
    _last_pod[:] = [props, resource_type, pod]
    return pod


def _pod_of(resource_type: str, props: Mapping[str, Any]) -> Pod | None:
    group_kind = kubernetes_kind(resource_type)
    if group_kind is None or group_kind[0] not in WORKLOAD_GROUPS or group_kind[1] not in POD_SPEC_PATHS:
        return None
    path = POD_SPEC_PATHS[group_kind[1]]
    spec = get(props, *path)
    if not isinstance(spec, Mapping):
        return None
    metadata_path = (*path[:-1], "metadata")
    metadata = get(props, *metadata_path)
    return Pod(
        kind=group_kind[1],
        spec=spec,
        metadata=metadata if isinstance(metadata, Mapping) else {},
        path=".".join(path),
        metadata_path=".".join(metadata_path),
    )


def get_path(props: Mapping[str, Any], dotted: str) -> Any:
    return get(props, *dotted.split("."))


def containers(pod: Pod, fields: Iterable[str] = tuple(CONTAINER_FIELDS)) -> Iterator[Container]:
    for field in fields:
        if field not in pod.containers_by_field:
            pod.containers_by_field[field] = tuple(
                Container(spec, f"{CONTAINER_FIELDS[field]} {show(get(spec, 'name'))} ({pod.path}.{field}[{index}])")
                for index, spec in enumerate(items(pod.spec, field))
            )
        yield from pod.containers_by_field[field]


PodCheck = Callable[[Pod, Version], Iterable[str]]
"""Yields one message per violation of a pod spec, judged at a Pod Security Admission version."""


def carries_pod_spec(kinds: frozenset[str]) -> Callable[[str], bool]:
    def reads(resource_type: str) -> bool:
        group_kind = kubernetes_kind(resource_type)
        return group_kind is not None and group_kind[0] in WORKLOAD_GROUPS and group_kind[1] in kinds

    return reads


def workload_policy(
    name: str,
    description: str,
    check: PodCheck,
    *,
    severity: Severity,
    kinds: frozenset[str] = frozenset(POD_SPEC_PATHS),
    versioned: bool = False,
) -> ResourceValidationPolicy:
    """A policy over pod specs; `versioned` ones take the `kubernetesVersion` config."""

    def check_resource(args: ResourceValidationArgs) -> Iterable[str | NotChecked]:
        pod = pod_of(args.resource_type, args.props)
        if pod is None:  # a kind that carries a pod spec (resource_types), without one this policy can read
            group_kind = kubernetes_kind(args.resource_type)
            path = ".".join(POD_SPEC_PATHS[group_kind[1]]) if group_kind else "its pod spec"
            return [NotChecked(f"{path} is {show(get_path(args.props, path))}, not a pod spec this policy can read")]
        if pod.kind not in kinds:
            return ()
        return check(pod, pod_security_version(args.get_config()))

    return resource_policy(
        name,
        description,
        check_resource,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=severity,
        config={KUBERNETES_VERSION: VERSION_SCHEMA} if versioned else None,
        resource_types=carries_pod_spec(kinds),
    )


# --- baseline ----------------------------------------------------------------------------------


def check_host_process(pod: Pod, _version: Version) -> Iterator[str]:
    fix = "Remove it: a HostProcess container runs on the Windows node with the node's privileges."
    if get(pod.spec, "securityContext", "windowsOptions", "hostProcess") is True:
        yield f"{pod.subject}: securityContext.windowsOptions.hostProcess is true. {fix}"
    for container in containers(pod):
        if get(container.spec, "securityContext", "windowsOptions", "hostProcess") is True:
            yield f"{container.subject}: securityContext.windowsOptions.hostProcess is true. {fix}"


HOST_NAMESPACES = {
    "hostNetwork": "the node's network stack",
    "hostPID": "the node's process table",
    "hostIPC": "the node's shared memory",
}


def check_host_namespaces(pod: Pod, _version: Version) -> Iterator[str]:
    for field, shared in HOST_NAMESPACES.items():
        if get(pod.spec, field) is True:
            yield f"{pod.subject}: {field} is true, so the pod shares {shared}. Remove it or set it to false."


def check_privileged(pod: Pod, _version: Version) -> Iterator[str]:
    for container in containers(pod):
        if get(container.spec, "securityContext", "privileged") is True:
            yield (
                f"{container.subject}: securityContext.privileged is true. Remove it or set it to false: a "
                "privileged container holds every capability and sees the node's devices."
            )


def check_host_path_volumes(pod: Pod, _version: Version) -> Iterator[str]:
    for index, volume in enumerate(items(pod.spec, "volumes")):
        if get(volume, "hostPath") is not None:
            yield (
                f"{pod.subject}: volumes[{index}] ({show(get(volume, 'name'))}) is a hostPath volume, which "
                "exposes the node's filesystem. Use an emptyDir, a ConfigMap or Secret, or a PersistentVolumeClaim."
            )


def check_host_ports(pod: Pod, _version: Version) -> Iterator[str]:
    for container in containers(pod):
        for index, port in enumerate(items(container.spec, "ports")):
            host_port = get(port, "hostPort")
            if host_port not in (None, 0):
                yield (
                    f"{container.subject}: ports[{index}].hostPort is {show(host_port)}. Remove it and reach "
                    "the pod through a Service: a host port binds the node's own interfaces."
                )


APPARMOR_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
APPARMOR_FIELDS_SINCE: Version = (1, 30)  # the appArmorProfile fields, and PSA's check of them


def check_apparmor(pod: Pod, version: Version) -> Iterator[str]:
    fix = "Use RuntimeDefault, or Localhost with a profile loaded on the nodes; Unconfined turns AppArmor off."
    if version >= APPARMOR_FIELDS_SINCE:
        profile = get(pod.spec, "securityContext", "appArmorProfile", "type")
        if profile is not None and profile not in APPARMOR_PROFILE_TYPES:
            yield f"{pod.subject}: securityContext.appArmorProfile.type is {show(profile)}. {fix}"
        for container in containers(pod):
            profile = get(container.spec, "securityContext", "appArmorProfile", "type")
            if profile is not None and profile not in APPARMOR_PROFILE_TYPES:
                yield f"{container.subject}: securityContext.appArmorProfile.type is {show(profile)}. {fix}"
    annotations = get(pod.metadata, "annotations")
    if isinstance(annotations, Mapping):
        # Only the AppArmor keys are read: another annotation's value may be unknown during preview.
        for key in annotations:
            if not key.startswith(APPARMOR_ANNOTATION):
                continue
            value = annotations[key]
            if value not in ("", "runtime/default") and not (isinstance(value, str) and value.startswith("localhost/")):
                yield (
                    f"pod metadata ({pod.metadata_path}): annotation {key} is {show(value)}. Set "
                    '"runtime/default" or "localhost/<profile>", or better securityContext.appArmorProfile.'
                )


SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_ENGINE_TYPE_SINCE: Version = (1, 31)  # container_engine_t


def selinux_types(version: Version) -> frozenset[str]:
    return SELINUX_TYPES | {"container_engine_t"} if version >= SELINUX_ENGINE_TYPE_SINCE else SELINUX_TYPES


def _selinux_violations(subject: str, options: Any, version: Version) -> Iterator[str]:
    allowed_types = selinux_types(version)
    selinux_type = get(options, "type")
    if selinux_type is not None and selinux_type not in allowed_types:
        allowed = ", ".join(sorted(allowed_types - {""}))
        yield (
            f"{subject}: securityContext.seLinuxOptions.type is {show(selinux_type)}. Use one of {allowed} "
            f"(Kubernetes {show_version(version)}), or leave it unset."
        )
    for field in ("user", "role"):
        value = get(options, field)
        if value not in (None, ""):
            yield (
                f"{subject}: securityContext.seLinuxOptions.{field} is {show(value)}. Remove it: a custom "
                f"SELinux {field} can lift the container's confinement."
            )


def check_selinux(pod: Pod, version: Version) -> Iterator[str]:
    yield from _selinux_violations(pod.subject, get(pod.spec, "securityContext", "seLinuxOptions"), version)
    for container in containers(pod):
        options = get(container.spec, "securityContext", "seLinuxOptions")
        yield from _selinux_violations(container.subject, options, version)


def check_proc_mount(pod: Pod, _version: Version) -> Iterator[str]:
    # Restricted keeps /proc masked at every version, in a user namespace too (procMount_restricted, 1.35+).
    for container in containers(pod):
        proc_mount = get(container.spec, "securityContext", "procMount")
        if proc_mount not in (None, "Default"):
            yield (
                f"{container.subject}: securityContext.procMount is {show(proc_mount)}. Remove it or set "
                "Default: an unmasked /proc shows the host kernel's state."
            )


# The namespaced sysctls the baseline profile allows, by the version that added them.
SAFE_SYSCTLS_SINCE: dict[Version, frozenset[str]] = {
    (1, 0): frozenset(
        {
            "kernel.shm_rmid_forced",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.tcp_syncookies",
            "net.ipv4.ping_group_range",
            "net.ipv4.ip_unprivileged_port_start",
        }
    ),
    (1, 27): frozenset({"net.ipv4.ip_local_reserved_ports"}),
    (1, 29): frozenset(
        {
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        }
    ),
    (1, 32): frozenset({"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}),
}


def safe_sysctls(version: Version) -> frozenset[str]:
    return frozenset().union(*(names for since, names in SAFE_SYSCTLS_SINCE.items() if since <= version))


def check_sysctls(pod: Pod, version: Version) -> Iterator[str]:
    allowed = safe_sysctls(version)
    for index, sysctl in enumerate(items(pod.spec, "securityContext", "sysctls")):
        name = get(sysctl, "name")
        if name not in allowed:
            yield (
                f"{pod.subject}: securityContext.sysctls[{index}] sets {show(name)}, which is not one of the "
                f"namespaced sysctls the baseline profile allows at Kubernetes {show_version(version)}. Remove it: "
                "an unsafe sysctl changes the node for every pod on it."
            )


HOST_CHECKED_SINCE: Version = (1, 34)
PROBES_WITH_HOST = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")


def check_host_probes(pod: Pod, version: Version) -> Iterator[str]:
    if version < HOST_CHECKED_SINCE:
        return
    places = [(probe,) for probe in PROBES_WITH_HOST] + [("lifecycle", hook) for hook in LIFECYCLE_HOOKS]
    for container in containers(pod):
        for place in places:
            for handler in ("httpGet", "tcpSocket"):
                host = get(container.spec, *place, handler, "host")
                if host not in (None, ""):
                    yield (
                        f"{container.subject}: {'.'.join((*place, handler))}.host is {show(host)}. Remove it: a "
                        "probe or hook sent to another host lets the kubelet reach addresses the pod cannot."
                    )


# --- restricted --------------------------------------------------------------------------------

RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
IMAGE_VOLUMES_SINCE: Version = (1, 33)


def restricted_volume_types(version: Version) -> frozenset[str]:
    return RESTRICTED_VOLUME_TYPES | {"image"} if version >= IMAGE_VOLUMES_SINCE else RESTRICTED_VOLUME_TYPES


def check_volume_types(pod: Pod, version: Version) -> Iterator[str]:
    allowed = restricted_volume_types(version)
    for index, volume in enumerate(items(pod.spec, "volumes")):
        if not isinstance(volume, Mapping):
            continue
        for source in volume:
            if source != "name" and source not in allowed:
                yield (
                    f"{pod.subject}: volumes[{index}] ({show(get(volume, 'name'))}) is a {source} volume; the "
                    f"restricted profile allows only {', '.join(sorted(allowed))} at Kubernetes "
                    f"{show_version(version)}. Reach the storage through a PersistentVolumeClaim instead."
                )


WINDOWS_EXEMPT_SINCE: Version = (1, 25)  # allowPrivilegeEscalation, seccomp, capabilities
USER_NAMESPACE_EXEMPT_SINCE: Version = (1, 35)  # runAsNonRoot, runAsUser
PRIVILEGE_ESCALATION_SINCE: Version = (1, 8)


def check_privilege_escalation(pod: Pod, version: Version) -> Iterator[str]:
    if version < PRIVILEGE_ESCALATION_SINCE or (version >= WINDOWS_EXEMPT_SINCE and pod.is_windows):
        return
    for container in containers(pod):
        allowed = get(container.spec, "securityContext", "allowPrivilegeEscalation")
        if allowed is not False:
            state = "is true" if allowed is True else "is not set (it defaults to true)"
            yield (
                f"{container.subject}: securityContext.allowPrivilegeEscalation {state}. Set it to false, so "
                "no setuid binary or file capability can raise the process's privileges."
            )


def check_run_as_non_root(pod: Pod, version: Version) -> Iterator[str]:
    if version >= USER_NAMESPACE_EXEMPT_SINCE and pod.in_user_namespace:
        return
    pod_level = get(pod.spec, "securityContext", "runAsNonRoot")
    if pod_level is False:
        yield f"{pod.subject}: securityContext.runAsNonRoot is false. Set it to true."
    for container in containers(pod):
        own = get(container.spec, "securityContext", "runAsNonRoot")
        if own is False:
            yield f"{container.subject}: securityContext.runAsNonRoot is false. Set it to true or remove it."
        elif own is None and pod_level is not True:
            yield (
                f"{container.subject}: runAsNonRoot is set neither here nor on the pod, so the image may run "
                "as root. Set securityContext.runAsNonRoot: true on the pod."
            )


def _is_root(user: Any) -> bool:
    return isinstance(user, int | float) and not isinstance(user, bool) and user == 0


RUN_AS_USER_SINCE: Version = (1, 23)


def check_run_as_user(pod: Pod, version: Version) -> Iterator[str]:
    if version < RUN_AS_USER_SINCE or (version >= USER_NAMESPACE_EXEMPT_SINCE and pod.in_user_namespace):
        return
    fix = "Run as a non-zero UID (the image's unprivileged user, e.g. 1001)."
    if _is_root(get(pod.spec, "securityContext", "runAsUser")):
        yield f"{pod.subject}: securityContext.runAsUser is 0 (root). {fix}"
    for container in containers(pod):
        if _is_root(get(container.spec, "securityContext", "runAsUser")):
            yield f"{container.subject}: securityContext.runAsUser is 0 (root). {fix}"


SECCOMP_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
SECCOMP_FIELDS_SINCE: Version = (1, 19)
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"


def _valid_seccomp_annotation(value: Any) -> bool:
    return value in ("runtime/default", "docker/default") or (isinstance(value, str) and value.startswith("localhost/"))


def _seccomp_annotations(pod: Pod) -> Iterator[str]:
    """Before 1.19 only the baseline's rule applies: the seccomp annotations, if set, name an allowed profile."""
    annotations = get(pod.metadata, "annotations")
    if not isinstance(annotations, Mapping):
        return
    keys = [SECCOMP_POD_ANNOTATION] + [
        SECCOMP_CONTAINER_ANNOTATION + str(get(container.spec, "name")) for container in containers(pod)
    ]
    for key in keys:
        if key in annotations and not _valid_seccomp_annotation(annotations[key]):
            yield (
                f"pod metadata ({pod.metadata_path}): annotation {key} is {show(annotations[key])}. Set "
                '"runtime/default" or "localhost/<profile>".'
            )


def check_seccomp(pod: Pod, version: Version) -> Iterator[str]:
    if version < SECCOMP_FIELDS_SINCE:
        yield from _seccomp_annotations(pod)
        return
    if version >= WINDOWS_EXEMPT_SINCE and pod.is_windows:
        return
    pod_level = get(pod.spec, "securityContext", "seccompProfile", "type")
    if pod_level is not None and pod_level not in SECCOMP_PROFILE_TYPES:
        yield (
            f"{pod.subject}: securityContext.seccompProfile.type is {show(pod_level)}. Set RuntimeDefault (or "
            "Localhost): without a seccomp profile the container may make every syscall."
        )
    for container in containers(pod):
        own = get(container.spec, "securityContext", "seccompProfile", "type")
        if own is None and pod_level is None:
            yield (
                f"{container.subject}: no seccompProfile is set here or on the pod. Set "
                "securityContext.seccompProfile.type: RuntimeDefault on the pod; every container inherits it."
            )
        elif own is not None and own not in SECCOMP_PROFILE_TYPES:
            yield (
                f"{container.subject}: securityContext.seccompProfile.type is {show(own)}. Set RuntimeDefault "
                "or Localhost, or remove it to inherit the pod's profile."
            )


# Capabilities the baseline profile lets a container add; restricted allows only NET_BIND_SERVICE.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
DROP_ALL_SINCE: Version = (1, 22)


def check_capabilities(pod: Pod, version: Version) -> Iterator[str]:
    if version >= WINDOWS_EXEMPT_SINCE and pod.is_windows:
        return
    restricted = version >= DROP_ALL_SINCE  # before 1.22 only the baseline's list of additions applies
    for container in containers(pod):
        capabilities = get(container.spec, "securityContext", "capabilities")
        if restricted and "ALL" not in items(capabilities, "drop"):
            yield (
                f'{container.subject}: securityContext.capabilities.drop does not include "ALL". Drop ALL, and '
                "add back only NET_BIND_SERVICE if the process binds a port below 1024."
            )
        for capability in items(capabilities, "add"):
            if capability in (RESTRICTED_CAPABILITIES if restricted else BASELINE_CAPABILITIES):
                continue
            why = (
                "the restricted profile allows adding only NET_BIND_SERVICE"
                if capability in BASELINE_CAPABILITIES
                else "not even the baseline profile allows it"
            )
            yield f"{container.subject}: securityContext.capabilities.add has {show(capability)}; {why}. Remove it."


# --- the platform's own requirements -----------------------------------------------------------

REQUIRED_AMOUNTS = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))


def check_resources(pod: Pod, _version: Version) -> Iterator[str]:
    # Ephemeral containers cannot have resources; init containers count towards the pod's request.
    for container in containers(pod, ("containers", "initContainers")):
        missing = [
            f"{kind}.{name}" for kind, name in REQUIRED_AMOUNTS if get(container.spec, "resources", kind, name) is None
        ]
        if missing:
            yield (
                f"{container.subject}: resources has no {', '.join(missing)}. Set cpu and memory requests (the "
                "scheduler places the pod by them) and limits (so a runaway process cannot starve its neighbours)."
            )


PROBES = {
    "readinessProbe": "the Service sends traffic to a pod before it can serve it",
    "livenessProbe": "a hung process is never restarted",
}


def check_probes(pod: Pod, _version: Version) -> Iterator[str]:
    for container in containers(pod, ("containers",)):
        for probe, risk in PROBES.items():
            if get(container.spec, probe) is None:
                yield f"{container.subject}: no {probe}. Add one: without it {risk}."


def image_reference(image: str) -> tuple[str | None, str | None]:
    """(tag, digest) of an image reference; a registry's port is not a tag (`registry:5000/app`)."""
    name, _, digest = image.partition("@")
    _, _, tag = name.rsplit("/", 1)[-1].partition(":")
    return tag or None, digest or None


def check_image_pinned(pod: Pod, _version: Version) -> Iterator[str]:
    fix = "Pin a version tag or a digest (@sha256:...), so every node runs the same build and a rollback is possible."
    for container in containers(pod):
        image = get(container.spec, "image")
        if not isinstance(image, str) or not image:
            yield f"{container.subject}: no image. Set one with a version tag or digest."
            continue
        tag, digest = image_reference(image)
        if digest is not None:
            continue
        if tag is None:
            yield f"{container.subject}: image {show(image)} has no tag, so it pulls whatever latest is. {fix}"
        elif tag == "latest":
            yield f"{container.subject}: image {show(image)} uses the tag latest. {fix}"


def check_service_account_token(pod: Pod, _version: Version) -> Iterator[str]:
    automount = get(pod.spec, "automountServiceAccountToken")
    if automount is not False:
        state = "is true" if automount is True else "is not set (it defaults to true)"
        yield (
            f"{pod.subject}: automountServiceAccountToken {state}. Set it to false: a mounted token lets a "
            "compromised container call the Kubernetes API; mount a projected token only where one is needed."
        )


def _pss(profile: str, control: str, rule: str, check: PodCheck, severity: Severity) -> ResourceValidationPolicy:
    return workload_policy(
        f"pss-{profile}-{control}",
        f"Pod Security Standards, {profile} profile: {rule}",
        check,
        severity=severity,
        versioned=True,
    )


POLICIES: list[ResourceValidationPolicy] = [
    _pss("baseline", "host-process", "no Windows HostProcess containers.", check_host_process, Severity.CRITICAL),
    _pss(
        "baseline",
        "host-namespaces",
        "pods do not share the node's network, PID or IPC namespace.",
        check_host_namespaces,
        Severity.CRITICAL,
    ),
    _pss("baseline", "privileged", "no privileged containers.", check_privileged, Severity.CRITICAL),
    _pss("baseline", "host-path-volumes", "no hostPath volumes.", check_host_path_volumes, Severity.HIGH),
    _pss("baseline", "host-ports", "containers do not bind host ports.", check_host_ports, Severity.HIGH),
    _pss("baseline", "apparmor", "AppArmor is not turned off.", check_apparmor, Severity.HIGH),
    _pss("baseline", "selinux", "no custom SELinux type, user or role.", check_selinux, Severity.HIGH),
    _pss("baseline", "proc-mount", "/proc stays masked.", check_proc_mount, Severity.HIGH),
    _pss("baseline", "sysctls", "only the safe, namespaced sysctls.", check_sysctls, Severity.HIGH),
    _pss(
        "baseline",
        "host-probes",
        "probes and lifecycle hooks do not name a host (from Kubernetes 1.34).",
        check_host_probes,
        Severity.MEDIUM,
    ),
    _pss(
        "restricted",
        "volume-types",
        "only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and secret "
        "volumes (and image volumes from Kubernetes 1.33).",
        check_volume_types,
        Severity.MEDIUM,
    ),
    _pss(
        "restricted",
        "privilege-escalation",
        "every container sets allowPrivilegeEscalation: false.",
        check_privilege_escalation,
        Severity.HIGH,
    ),
    _pss("restricted", "run-as-non-root", "containers run as non-root.", check_run_as_non_root, Severity.HIGH),
    _pss("restricted", "run-as-user", "no container runs as UID 0.", check_run_as_user, Severity.HIGH),
    _pss(
        "restricted",
        "seccomp",
        "every container runs under the RuntimeDefault or a Localhost seccomp profile.",
        check_seccomp,
        Severity.HIGH,
    ),
    _pss(
        "restricted",
        "capabilities",
        "containers drop ALL capabilities and add back at most NET_BIND_SERVICE.",
        check_capabilities,
        Severity.HIGH,
    ),
    workload_policy(
        "workload-resources",
        "Every container requests and limits cpu and memory.",
        check_resources,
        severity=Severity.MEDIUM,
    ),
    workload_policy(
        "workload-probes",
        "Every long-running container has a liveness and a readiness probe.",
        check_probes,
        severity=Severity.MEDIUM,
        kinds=frozenset(POD_SPEC_PATHS) - RUN_TO_COMPLETION,
    ),
    workload_policy(
        "workload-image-pinned",
        "Every container image is pinned by a version tag or digest, never latest.",
        check_image_pinned,
        severity=Severity.MEDIUM,
    ),
    workload_policy(
        "workload-no-service-account-token",
        "Pods do not mount a service-account token (automountServiceAccountToken: false).",
        check_service_account_token,
        severity=Severity.HIGH,
    ),
]
