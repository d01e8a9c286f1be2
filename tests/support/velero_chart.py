"""The pods the Velero chart runs and the labels it gives them, from a set of values, as its templates at
tag velero-12.1.0 build them (vmware-tanzu/helm-charts, commit 73466ca986bbfe34dbd5c30bbf7d62d545d634a2,
charts/velero/templates/). There is no Helm here: each function transcribes one template's pod-label
block, and says which, so a chart upgrade means re-reading those lines.

Defaults are the chart's values.yaml at that tag: `upgradeCRDs: true`, `cleanUpCRDs: false`,
`deployNodeAgent: false`, `namespace.labels: {}`, `kubectl.labels: {}`, `podLabels: {}`."""

from __future__ import annotations

from typing import Any

CHART_VERSION = "12.1.0"
APP_VERSION = "1.18.1"  # Chart.yaml appVersion


def _chart_name(values: dict[str, Any]) -> str:
    # _helpers.tpl "velero.name": default .Chart.Name .Values.nameOverride
    return values.get("nameOverride") or "velero"


def _common(values: dict[str, Any], release: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": _chart_name(values),
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/version": APP_VERSION,
        "helm.sh/chart": f"velero-{CHART_VERSION}",
    }


def pod_labels(values: dict[str, Any], release: str = "velero") -> dict[str, dict[str, str]]:
    """Each pod the release runs (hooks included), by what it is, with the labels of its pod template."""
    pods: dict[str, dict[str, str]] = {}
    # deployment.yaml, spec.template.metadata.labels
    pods["server"] = {"name": "velero", **_common(values, release), **values.get("podLabels", {})}
    if values.get("deployNodeAgent", False):
        # node-agent-daemonset.yaml, spec.template.metadata.labels
        node_agent = values.get("nodeAgent", {}).get("podLabels", {})
        pods["node-agent"] = {"name": "node-agent", "role": "node-agent", **_common(values, release), **node_agent}
    hook_labels = dict(values.get("kubectl", {}).get("labels", {}))
    if values.get("upgradeCRDs", True):
        # upgrade-crds/upgrade-crds.yaml: the Job has the chart's labels, its pod only `kubectl.labels`
        pods["upgrade-crds"] = hook_labels
    if values.get("cleanUpCRDs", False):
        # cleanup-crds.yaml: likewise
        pods["cleanup-crds"] = dict(hook_labels)
    if values.get("namespace", {}).get("labels"):
        # label-namespace/labelnamespace.yaml: a pod template with no metadata at all
        pods["label-namespace"] = {}
    return pods


def cluster_role_binding(values: dict[str, Any]) -> str | None:
    """The ClusterRole clusterrolebinding.yaml binds the server's service account to, if any."""
    rbac = {"create": True, "clusterAdministrator": True, "clusterAdministratorName": "cluster-admin"}
    rbac |= values.get("rbac", {})
    return rbac["clusterAdministratorName"] if rbac["create"] and rbac["clusterAdministrator"] else None
