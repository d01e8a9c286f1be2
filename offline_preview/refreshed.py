"""A state as `pulumi refresh` leaves it with the pinned providers, grown from one the offline preview wrote
(its outputs are what the mocks return): the bench audits such states, and the tests build their drift
fixtures on them. Values are realistic in shape and fake in content (uids, times, addresses, ciphertexts).

What a refresh writes, per provider:
- The engine keeps the inputs a provider's Read returns beside the outputs (pulumi/pulumi
  pkg/resource/deploy/step.go, RefreshStep.Apply: "If the provider specified new inputs for this resource,
  pick them up now"; commit 1b5949891b3cefcb9974752b24a5ecef0acc86c8).
- pulumi-kubernetes (provider/pkg/provider/provider.go, Read and checkpointObject; util.go, pruneMap and
  pruneSlice; commit 94977969d64112b04e19945818a7d5d5f38f631d, after 4.32.0: the mirror holds no tag for the
  pinned 4.34.2): the outputs are the live object as the API server returns it, with `__inputs`,
  `__initialApiVersion` and `__fieldManager` beside it, and secret where the inputs are; the inputs become the
  live object pruned to the fields the old inputs held. So a live value of a field the program declares
  replaces it in the inputs too, and a field the program does not declare (a container someone added, a
  securityContext field the program leaves unset) shows in the outputs only.
- Bridged providers, pulumi-cloudflare 6 and pulumi-aws 7 (pulumi/pulumi-terraform-bridge
  pkg/tfbridge/schema.go ExtractInputsFromOutputs with isRefresh, called from pkg/pf/tfbridge/provider_read.go
  and pkg/tfbridge/provider.go; commit 59de6c661df1e7561e6ece7ad7f1c835c63010c4): the outputs hold every
  input and the computed attributes; each input the old inputs held takes the value just read.
- The API server's defaults, which the live object carries: kubernetes/kubernetes pkg/apis/core/v1/defaults.go
  (commit 023f88a32c95647b94e47df54948a0af9517dd0c) and pkg/apis/apps/v1/defaults.go (commit
  04791b4906602ffda5ccf9bc4c84d3329f1d7080).

`refresh(resource, edit)` applies `edit` to the live values first: what someone changed outside the program.
With `rewrite_inputs=False` the inputs stay as the program last deployed them, as in a state whose provider
does not rewrite them (or before this provider behaviour, or edited by hand): a change then shows in the
outputs only.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from components.sdk_internals import SECRET_SIG, SIG

TIME = "2026-03-02T09:14:27Z"
# The provider names its field manager `pulumi-kubernetes-<random suffix>` in server-side apply mode, its
# default (provider.go, fieldManagerName).
FIELD_MANAGER = "pulumi-kubernetes-6d1f0a3c"
INTERNAL_KEYS = ("__inputs", "__initialApiVersion", "__fieldManager")

Edit = Callable[[dict[str, Any]], None]


def _secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIG) == SECRET_SIG


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# --- pulumi-kubernetes -------------------------------------------------------------------------


def _image_tag(image: str) -> str:
    """The tag of an image reference, "" when it has a digest; "latest" when it has neither."""
    if "@" in image:
        return ""
    name = image.rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else "latest"


def _container_defaults(container: dict[str, Any]) -> None:
    image = container.get("image")
    if "imagePullPolicy" not in container and isinstance(image, str):
        container["imagePullPolicy"] = "Always" if _image_tag(image) == "latest" else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1)):
                container[probe].setdefault(key, value)
            container[probe].setdefault("failureThreshold", 3)
            if isinstance(container[probe].get("httpGet"), dict):
                container[probe]["httpGet"].setdefault("path", "/")
                container[probe]["httpGet"].setdefault("scheme", "HTTP")
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def _pod_spec_defaults(spec: dict[str, Any]) -> None:
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _container_defaults(container)
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        for source in ("configMap", "secret", "projected", "downwardAPI"):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)
        if set(volume) == {"name"}:
            volume["emptyDir"] = {}


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return template.get("spec") if isinstance(template, dict) and isinstance(template.get("spec"), dict) else None


def _fields(value: Any) -> dict[str, Any]:
    """managedFields' fieldsV1 for a value: `f:<key>` per object key, `k:{"name":...}` per named list item."""
    if isinstance(value, dict) and not _secret(value):
        return {f"f:{key}": _fields(item) for key, item in value.items()}
    if isinstance(value, list) and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value):
        return {f'k:{{"name":"{item["name"]}"}}': {".": {}, **_fields(item)} for item in value}
    return {}


def kubernetes_live(inputs: Mapping[str, Any], urn: str, replicas: int = 6) -> dict[str, Any]:
    """The object as the API server returns it after the provider applied `inputs` (`replicas`: what the
    Deployment runs when the program leaves the count to an autoscaler)."""
    live = copy.deepcopy(dict(inputs))
    kind = live.get("kind")
    metadata = live.setdefault("metadata", {})
    name = str(metadata.get("name") or urn.rsplit("::", 1)[-1])
    applied = {key: value for key, value in live.items() if key not in ("apiVersion", "kind")}
    metadata.update(
        {
            "creationTimestamp": TIME,
            "resourceVersion": str(int(_digest(urn, "rv")[:7], 16)),
            "uid": str(uuid.UUID(_digest(urn, "uid")[:32])),
        }
    )
    managed = [
        {
            "apiVersion": live.get("apiVersion"),
            "fieldsType": "FieldsV1",
            "fieldsV1": _fields(applied),
            "manager": FIELD_MANAGER,
            "operation": "Apply",
            "time": TIME,
        }
    ]
    if isinstance(live.get("spec"), dict):
        metadata["generation"] = 1
    pod_spec = _pod_spec(live)
    if pod_spec is not None:
        _pod_spec_defaults(pod_spec)
    if kind == "Deployment":
        spec = live["spec"]
        spec.setdefault("replicas", replicas)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        template_metadata = spec.get("template", {}).setdefault("metadata", {})
        template_metadata.setdefault("creationTimestamp", None)
        metadata.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
        count = spec["replicas"]
        live["status"] = {
            "availableReplicas": count,
            "conditions": [
                {
                    "lastTransitionTime": TIME,
                    "lastUpdateTime": TIME,
                    "message": "Deployment has minimum availability.",
                    "reason": "MinimumReplicasAvailable",
                    "status": "True",
                    "type": "Available",
                },
                {
                    "lastTransitionTime": TIME,
                    "lastUpdateTime": TIME,
                    "message": f'ReplicaSet "{name}-{_digest(urn, "rs")[:10]}" has successfully progressed.',
                    "reason": "NewReplicaSetAvailable",
                    "status": "True",
                    "type": "Progressing",
                },
            ],
            "observedGeneration": 1,
            "readyReplicas": count,
            "replicas": count,
            "updatedReplicas": count,
        }
        managed.append(
            {
                "apiVersion": "apps/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
                    "f:status": _fields(live["status"]),
                },
                "manager": "kube-controller-manager",
                "operation": "Update",
                "subresource": "status",
                "time": TIME,
            }
        )
    elif kind == "Service":
        spec = live.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
        if spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer"):
            spec.setdefault("internalTrafficPolicy", "Cluster")
        # What the Service registry assigns.
        address = f"10.100.{int(_digest(urn, 'ip')[:2], 16)}.{int(_digest(urn, 'ip')[2:4], 16)}"
        spec.setdefault("clusterIP", address)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        live["status"] = {"loadBalancer": {}}
    elif kind == "Namespace":
        metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        live["spec"] = {"finalizers": ["kubernetes"]}
        live["status"] = {"phase": "Active"}
    elif kind == "Secret":
        live.setdefault("type", "Opaque")
        # The API server folds stringData into data (base64) and never returns stringData; the provider marks
        # data secret where stringData was (checkpointObject).
        string_data = live.pop("stringData", None)
        if string_data is not None:
            live["data"] = string_data if _secret(string_data) else dict(string_data)
    elif kind == "ConfigMap":
        live.setdefault("data", {})
    metadata["managedFields"] = managed
    return live


def _pruned(source: Any, target: Any) -> Any:
    """pulumi-kubernetes' pruneMap and pruneSlice: the live value cut to the fields the old inputs hold."""
    if isinstance(source, dict) and isinstance(target, dict) and not _secret(target):
        result = {}
        for key, value in source.items():
            if key not in target:
                continue
            old = target[key]
            if value is None or old is None or type(value) is not type(old) or _secret(old):
                result[key] = value
            else:
                result[key] = _pruned(value, old)
        return result
    if isinstance(source, list) and isinstance(target, list):
        if not source or not target:
            return []
        if type(source[0]) is not type(target[0]):
            return copy.deepcopy(source)
        result_list = []
        for index, old in enumerate(target):
            if index >= len(source):
                break
            value = source[index]
            result_list.append(value if value is None or old is None else _pruned(value, old))
        return result_list
    return source


def _refresh_kubernetes(resource: dict[str, Any], edit: Edit | None, rewrite_inputs: bool) -> None:
    old_inputs = resource.get("inputs") or {}
    live = kubernetes_live(old_inputs, resource["urn"])
    if edit is not None:
        edit(live)
    inputs = _pruned(live, old_inputs) if rewrite_inputs else old_inputs
    resource["inputs"] = inputs
    resource["outputs"] = {
        **live,
        "__inputs": copy.deepcopy(inputs),
        "__initialApiVersion": live.get("apiVersion"),
        "__fieldManager": FIELD_MANAGER,
    }


# --- bridged providers -------------------------------------------------------------------------


def _extracted(old: Any, new: Any) -> Any:
    """The bridge's extractInputs on a refresh: each property the old inputs hold, with the value just read
    (gone when the provider no longer reports it); lists by position."""
    if isinstance(old, dict) and isinstance(new, dict) and not _secret(old):
        return {key: _extracted(value, new[key]) for key, value in old.items() if key in new}
    if isinstance(old, list) and isinstance(new, list):
        return [_extracted(o, n) for o, n in zip(old, new, strict=False)]
    return new


def _computed(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Computed attributes a refresh reads that the offline preview's mocks do not return."""
    resource_type, outputs = resource["type"], resource.get("outputs") or {}
    extra: dict[str, Any] = {}
    if "id" not in outputs and resource.get("id"):
        extra["id"] = resource["id"]
    if resource_type == "cloudflare:index/zoneSetting:ZoneSetting":
        extra |= {"editable": True, "modifiedOn": TIME}
    elif resource_type == "cloudflare:index/zone:Zone":
        extra |= {"status": "active", "activatedOn": TIME, "createdOn": TIME, "modifiedOn": TIME, "paused": False}
    if resource_type.startswith("aws:") and isinstance(outputs.get("tags"), dict):
        extra["tagsAll"] = dict(outputs["tags"])
    return extra


def _refresh_bridged(resource: dict[str, Any], edit: Edit | None, rewrite_inputs: bool) -> None:
    outputs = {**copy.deepcopy(resource.get("outputs") or resource.get("inputs") or {}), **_computed(resource)}
    if edit is not None:
        edit(outputs)
    resource["outputs"] = outputs
    if rewrite_inputs:
        resource["inputs"] = _extracted(copy.deepcopy(resource.get("inputs") or {}), outputs)


# --- a state -----------------------------------------------------------------------------------


def refresh(resource: Mapping[str, Any], edit: Edit | None = None, *, rewrite_inputs: bool = True) -> dict[str, Any]:
    """A copy of a state resource as a refresh leaves it, `edit` applied to its live values first. Components,
    providers and resources of other packages (random, tls: nothing to read) come back unchanged."""
    refreshed = copy.deepcopy(dict(resource))
    resource_type = refreshed["type"]
    package = resource_type.split(":", 1)[0]
    if refreshed.get("custom") is False or resource_type.startswith("pulumi:"):
        return refreshed
    metadata = (refreshed.get("inputs") or {}).get("metadata")
    if package == "kubernetes" and isinstance(metadata, dict):
        _refresh_kubernetes(refreshed, edit, rewrite_inputs)
    elif package in ("cloudflare", "aws"):
        _refresh_bridged(refreshed, edit, rewrite_inputs)
    elif edit is not None:
        edit(refreshed.setdefault("outputs", {}))
    return refreshed


def refreshed_resources(resources: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every resource of a state as a refresh leaves it, nothing changed outside the program."""
    return [refresh(resource) for resource in resources]
