"""Backups: the S3 bucket and its configuration, the KMS key and Velero's IAM role (policies linted with
parliament), Velero's chart values (pods that pass the restricted profile), the location and schedule
against Velero's CRDs, the pack's S3 policies, the missing-backup alert, and one line for bad values."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from components.backup_store import trust_policy, velero_policy
from components.settings import BackupSettings, SettingsError
from components.velero import CLUSTER_ROLE, HOOK_POD_LABELS, POD_LABELS, chart_values
from offline_preview.engine import ProgramError, Registration, Rendering
from offline_preview.policy_eval import Violation, evaluate_rendering
from offline_preview.render import stack_export
from tests.support.crd_schemas import problems
from tests.support.iam import findings, trust_policy_findings
from tests.support.network_policies import allowed
from tests.support.policies import evaluate
from tests.support.stacks import find, from_stack_file, manifests, render, settings
from tests.support.velero_chart import cluster_role_binding, pod_labels

STACK = "production"
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def registration(type_: str, rendering: Rendering | None = None, name: str | None = None) -> Registration:
    (found,) = [r for r in (rendering or render(STACK)).by_type(type_) if name is None or r.name == name]
    return found


def of(kind: str) -> dict[str, Any]:
    """The inputs of the production stack's only resource of an aws:s3 kind (e.g. "bucketVersioning")."""
    name = kind[0].upper() + kind[1:]
    return registration(f"aws:s3/{kind}:{name}").inputs


def state(type_: str, name: str | None = None) -> dict[str, Any]:
    resources = stack_export(render(STACK))["deployment"]["resources"]
    (found,) = [r for r in resources if r["type"] == type_ and (name is None or r["urn"].endswith(f"::{name}"))]
    return found


# --- the bucket ------------------------------------------------------------------------------------------


def test_the_bucket_is_the_seeds_protected_and_kept_if_ever_removed() -> None:
    bucket = registration("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == "hft-platform-backups"
    assert bucket.inputs["forceDestroy"] is False
    assert "objectLockEnabled" not in bucket.inputs  # set only at creation: it would replace the live bucket
    exported = state("aws:s3/bucket:Bucket")
    assert exported["protect"] is True
    assert exported["retainOnDelete"] is True


def test_every_configuration_of_the_bucket_names_it() -> None:
    bucket = registration("aws:s3/bucket:Bucket")
    configurations = [r for r in render(STACK).registrations if r.type.startswith("aws:s3/bucket") and r is not bucket]
    assert len(configurations) == 6
    for configuration in configurations:
        assert configuration.property_dependencies["bucket"] == [bucket.urn], configuration.type


def test_acls_are_off_and_every_public_access_is_blocked() -> None:
    assert of("bucketOwnershipControls")["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    block = of("bucketPublicAccessBlock")
    assert all(
        block[flag] is True
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )


def test_objects_are_encrypted_with_the_customer_managed_key() -> None:
    key = registration("aws:kms/key:Key")
    (rule,) = of("bucketServerSideEncryptionConfiguration")["rules"]
    assert rule == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]},
        "bucketKeyEnabled": True,
    }
    assert (key.inputs["enableKeyRotation"], key.inputs["deletionWindowInDays"]) == (True, 30)
    assert state("aws:kms/key:Key")["protect"] is True


def test_versions_are_kept_and_the_lifecycle_sweeps_after_the_retention() -> None:
    assert of("bucketVersioning")["versioningConfiguration"] == {"status": "Enabled"}
    (rule,) = of("bucketLifecycleConfiguration")["rules"]
    retention = from_stack_file(STACK).backup.retention_days
    assert rule["status"] == "Enabled"
    location = registration("kubernetes:velero.io/v1:BackupStorageLocation").inputs["spec"]["objectStorage"]
    assert rule["filter"] == {"prefix": location["prefix"] + "/"}  # Velero's objects only, never the guide's
    assert rule["expiration"]["days"] > retention  # Velero expires its own; the lifecycle sweeps later
    assert rule["expiration"]["days"] == retention + 7
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}


def test_object_lock_is_off_by_default_and_governance_when_chosen() -> None:
    assert not render(STACK).by_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    locked = render(STACK, {"hft-frontend:backup": {"objectLock": {"enabled": True, "retentionDays": 14}}})
    # Never through the bucket's objectLockEnabled, which would replace a live bucket (the backups with it).
    assert "objectLockEnabled" not in registration("aws:s3/bucket:Bucket", locked).inputs
    assert "objectLockEnabled" not in registration("aws:s3/bucket:Bucket").inputs
    lock = registration("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", locked)
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "GOVERNANCE", "days": 14}}
    versioning = registration("aws:s3/bucketVersioning:BucketVersioning", locked)
    assert versioning.urn in lock.dependencies  # S3 needs versioning on before Object Lock


def test_the_lifecycle_and_velero_share_one_prefix_the_stack_may_name() -> None:
    named = render(STACK, {"hft-frontend:backup": {"prefix": "frontend-velero"}})
    (rule,) = registration("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", named).inputs["rules"]
    location = registration("kubernetes:velero.io/v1:BackupStorageLocation", named).inputs["spec"]["objectStorage"]
    assert location["prefix"] == "frontend-velero"
    assert rule["filter"] == {"prefix": "frontend-velero/"}


def bucket_policy_document() -> dict[str, Any]:
    return json.loads(of("bucketPolicy")["policy"])


def test_the_bucket_refuses_requests_without_tls_and_principals_outside_the_account() -> None:
    arn = registration("aws:s3/bucket:Bucket").outputs["arn"]
    insecure, outsider = bucket_policy_document()["Statement"]
    for statement in (insecure, outsider):
        assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
        assert statement["Resource"] == [arn, f"{arn}/*"]
    assert insecure["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert outsider["Condition"] == {"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}}


# --- Velero's role -------------------------------------------------------------------------------------------


def role_policy() -> dict[str, Any]:
    return json.loads(registration("aws:iam/rolePolicy:RolePolicy").inputs["policy"])


def test_the_role_allows_only_the_plugins_actions_on_this_bucket_its_objects_and_the_key() -> None:
    bucket = registration("aws:s3/bucket:Bucket").outputs["arn"]
    key = registration("aws:kms/key:Key").outputs["arn"]
    allowed = {}
    for statement in role_policy()["Statement"]:
        assert statement["Effect"] == "Allow"
        for resource in statement["Resource"]:
            allowed.setdefault(resource, set()).update(statement["Action"])
    assert allowed == {
        f"{bucket}/*": {
            "s3:GetObject",
            "s3:DeleteObject",
            "s3:PutObject",
            "s3:PutObjectTagging",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
        },
        bucket: {"s3:ListBucket"},
        key: {"kms:GenerateDataKey", "kms:Decrypt"},
    }
    actions = {action for actions in allowed.values() for action in actions}
    assert not any(a.endswith("*") or a.startswith("ec2:") for a in actions), "no wildcard, no snapshot action"


def test_only_veleros_service_account_of_this_cluster_can_assume_the_role() -> None:
    trust = json.loads(registration("aws:iam/role:Role").inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Federated": OIDC}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:velero:velero", f"{ISSUER}:aud": "sts.amazonaws.com"}
    }


def test_every_policy_document_is_clean_under_parliament() -> None:
    assert findings(role_policy()) == []
    assert findings(bucket_policy_document()) == []
    assert trust_policy_findings(json.loads(registration("aws:iam/role:Role").inputs["assumeRolePolicy"])) == []


@pytest.mark.parametrize(
    ("break_it", "issue"),
    [
        (lambda d: d["Statement"][0]["Action"].append("s3:PutObjekt"), "UNKNOWN_ACTION"),
        (lambda d: d["Statement"][1].update(Resource=["arn:aws:s3:::b/*"]), "RESOURCE_MISMATCH"),
        (lambda d: d["Statement"][2].update(Resource=["arn:aws:s3:::b"]), "RESOURCE_MISMATCH"),
    ],
)
def test_parliament_catches_a_broken_policy(break_it: Callable[[dict[str, Any]], None], issue: str) -> None:
    document = velero_policy("arn:aws:s3:::b", "arn:aws:kms:us-east-1:123456789012:key/k")
    break_it(document)
    assert issue in {found_issue for _, found_issue, _ in findings(document)}


def test_parliament_still_reads_the_trust_policy() -> None:
    document = trust_policy(OIDC, ISSUER, "velero", "velero")
    document["Statement"][0]["Action"] = "sts:AssumeRoleWithWebIdentityy"
    assert "UNKNOWN_ACTION" in {issue for _, issue, _ in trust_policy_findings(document)}


# --- the pack's S3 policies on the bucket ---------------------------------------------------------------------

S3 = ("s3-public-access-blocked", "s3-default-encryption", "s3-versioning-enabled", "s3-tls-only")


def s3_verdicts(registrations: list[Registration]) -> list[Violation]:
    return [v for v in evaluate(*registrations) if v.policy_name in S3]


def backup_store_registrations() -> list[Registration]:
    return [copy.deepcopy(r) for r in render(STACK).registrations if r.type.startswith("aws:s3/")]


def test_the_bucket_passes_the_packs_s3_policies() -> None:
    assert s3_verdicts(backup_store_registrations()) == []


def _without(type_suffix: str) -> list[Registration]:
    return [r for r in backup_store_registrations() if not r.type.endswith(type_suffix)]


def _changed(type_suffix: str, change: Callable[[dict[str, Any]], None]) -> list[Registration]:
    registrations = backup_store_registrations()
    for r in registrations:
        if r.type.endswith(type_suffix):
            change(r.inputs)
            change(r.outputs)
    return registrations


@pytest.mark.parametrize(
    ("broken", "policy"),
    [
        (lambda: _without(":BucketServerSideEncryptionConfiguration"), "s3-default-encryption"),
        (
            lambda: _changed(":BucketPublicAccessBlock", lambda p: p.update(blockPublicPolicy=False)),
            "s3-public-access-blocked",
        ),
        (
            lambda: _changed(":BucketVersioning", lambda p: p.update(versioningConfiguration={"status": "Suspended"})),
            "s3-versioning-enabled",
        ),
        (
            lambda: _changed(
                ":BucketPolicy",
                lambda p: p.update(
                    policy=json.dumps(
                        {**bucket_policy_document(), "Statement": bucket_policy_document()["Statement"][1:]}
                    )
                ),
            ),
            "s3-tls-only",
        ),
    ],
)
def test_each_s3_policy_fires_on_the_bucket_with_one_property_broken(
    broken: Callable[[], list[Registration]], policy: str
) -> None:
    verdicts = s3_verdicts(broken())
    assert [(v.policy_name, v.enforcement_level) for v in verdicts] == [(policy, "mandatory")]


# --- Velero ---------------------------------------------------------------------------------------------------


def test_the_location_and_schedule_are_valid_and_name_the_bucket_prefix_region_and_retention() -> None:
    objects = manifests(STACK)
    location = find(objects, "BackupStorageLocation")
    schedule = find(objects, "Schedule")
    assert problems(location) == []
    assert problems(schedule) == []
    key = registration("aws:kms/key:Key").outputs["arn"]
    assert location["metadata"]["namespace"] == schedule["metadata"]["namespace"] == "velero"
    assert location["spec"] == {
        "provider": "aws",
        "accessMode": "ReadWrite",
        "objectStorage": {"bucket": "hft-platform-backups", "prefix": "production"},
        "config": {"region": "us-east-1", "kmsKeyId": key},
    }
    spec = schedule["spec"]
    assert spec["schedule"] == "0 2 * * *"
    assert spec["useOwnerReferencesInBackup"] is False
    assert spec["template"] == {
        "includedNamespaces": ["production"],
        "includeClusterResources": False,
        "ttl": "720h0m0s",  # 30 days
        "storageLocation": location["metadata"]["name"],
        "snapshotVolumes": False,
        "defaultVolumesToFsBackup": False,
    }


def release() -> Registration:
    return registration("kubernetes:helm.sh/v3:Release", name="velero-release")  # Argo Rollouts' is the other


def test_the_release_pins_the_chart_the_images_and_wires_the_role() -> None:
    inputs = release().inputs
    assert (inputs["chart"], inputs["version"], inputs["name"], inputs["namespace"]) == (
        "velero",
        "12.1.0",
        "velero",
        "velero",
    )
    assert inputs["repositoryOpts"] == {"repo": "https://vmware-tanzu.github.io/helm-charts"}
    values = inputs["values"]
    assert values["image"] == {"repository": "docker.io/velero/velero", "tag": "v1.18.1", "pullPolicy": "IfNotPresent"}
    (plugin,) = values["initContainers"]
    assert plugin["image"] == "docker.io/velero/velero-plugin-for-aws:v1.14.0"
    role = registration("aws:iam/role:Role").outputs["arn"]
    assert values["serviceAccount"]["server"] == {
        "create": True,
        "name": "velero",
        "annotations": {"eks.amazonaws.com/role-arn": role},
    }
    assert values["credentials"] == {"useSecret": False}, "IRSA: no access keys"
    assert (values["backupsEnabled"], values["snapshotsEnabled"], values["deployNodeAgent"]) == (False, False, False)
    assert values["schedules"] == {}


def test_the_release_is_recorded_in_the_state_with_its_chart_and_values() -> None:
    exported = state("kubernetes:helm.sh/v3:Release", "velero-release")
    assert exported["inputs"]["chart"] == "velero"
    assert exported["inputs"]["version"] == "12.1.0"
    assert exported["inputs"]["values"]["initContainers"][0]["name"] == "velero-plugin-for-aws"


def chart_pod(values: dict[str, Any]) -> dict[str, Any]:
    """The Velero Deployment as the chart's template builds it from these values (templates/deployment.yaml:
    the pod security context as given, the server container with containerSecurityContext, the init
    containers as written, emptyDir volumes)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "velero", "namespace": "velero"},
        "spec": {
            "selector": {"matchLabels": POD_LABELS},
            "template": {
                "metadata": {"labels": POD_LABELS},
                "spec": {
                    "securityContext": values["podSecurityContext"],
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "velero",
                            "image": f"{values['image']['repository']}:{values['image']['tag']}",
                            "securityContext": values["containerSecurityContext"],
                            "resources": values["resources"],
                            "livenessProbe": {"httpGet": {"path": "/metrics", "port": "http-monitoring"}},
                            "readinessProbe": {"httpGet": {"path": "/metrics", "port": "http-monitoring"}},
                        }
                    ],
                    "initContainers": values["initContainers"],
                    "volumes": [{"name": "plugins", "emptyDir": {}}, {"name": "scratch", "emptyDir": {}}],
                },
            },
        },
    }


def pss_violations(values: dict[str, Any]) -> list[Violation]:
    pod = Registration(
        urn=f"urn:pulumi:{STACK}::hft-frontend::kubernetes:apps/v1:Deployment::velero",
        type="kubernetes:apps/v1:Deployment",
        name="velero",
        custom=True,
        parent="",
        inputs=chart_pod(values),
    )
    return [v for v in evaluate(pod) if v.policy_name.startswith("pss-")]


def test_the_chart_values_make_veleros_pods_pass_the_restricted_profile() -> None:
    assert pss_violations(release().inputs["values"]) == []


@pytest.mark.parametrize(
    ("break_it", "policy"),
    [
        (lambda v: v["initContainers"][0].pop("securityContext"), "pss-restricted-privilege-escalation"),
        (lambda v: v["podSecurityContext"].pop("seccompProfile"), "pss-restricted-seccomp"),
        (lambda v: v["containerSecurityContext"].update(capabilities={"drop": []}), "pss-restricted-capabilities"),
        (lambda v: v["podSecurityContext"].update(runAsUser=0), "pss-restricted-run-as-user"),
    ],
)
def test_the_values_check_can_fail(break_it: Callable[[dict[str, Any]], None], policy: str) -> None:
    values = copy.deepcopy(release().inputs["values"])
    break_it(values)
    assert policy in {v.policy_name for v in pss_violations(values)}


def test_veleros_namespace_is_under_the_apps_baseline() -> None:
    objects = manifests(STACK)
    namespace = find(objects, "Namespace", "velero")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policies = {
        p["metadata"]["name"]: p["spec"]
        for p in objects
        if p["kind"] == "NetworkPolicy" and p["metadata"]["namespace"] == "velero"
    }
    assert set(policies) == {"default-deny-all", "velero-ingress", "velero-egress", "velero-chart-hooks-egress"}
    assert policies["velero-ingress"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8085}]
    quota = find(objects, "ResourceQuota", "velero-baseline-quota")
    assert quota["metadata"]["namespace"] == "velero"
    assert quota["spec"]["hard"]["pods"] == "3"  # the server, one more during a rollout, one hook Job


# --- what the chart runs under the baseline's policies ------------------------------------------------------

# An EKS API server endpoint (its ENIs are in the cluster's VPC; the `kubernetes` Service forwards to them on
# 443), an S3/STS/KMS endpoint address, the instance metadata endpoint, and a database in the VPC.
API_SERVER, AWS_ENDPOINT, METADATA, DATABASE = "10.0.12.34", "52.216.8.1", "169.254.169.254", "10.0.40.5"


def velero_namespace_objects(values_overrides: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict]:
    objects = [o for o in manifests(STACK) if o["metadata"].get("namespace") == "velero"]
    values = copy.deepcopy(release().inputs["values"]) | (values_overrides or {})
    return objects, pod_labels(values)


# Every pod the chart can run with these values, and with the node agent and the CRD cleanup turned on.
@pytest.mark.parametrize("overrides", [{}, {"deployNodeAgent": True, "cleanUpCRDs": True}], ids=["as-set", "all-on"])
def test_every_pod_the_chart_runs_reaches_dns_and_https_and_nothing_else(overrides: dict[str, Any]) -> None:
    objects, pods = velero_namespace_objects(overrides)
    assert set(pods) == {"server", "upgrade-crds"} | ({"node-agent", "cleanup-crds"} if overrides else set())
    for pod, labels in pods.items():
        egress = [
            o["metadata"]["name"]
            for o in objects
            if o["kind"] == "NetworkPolicy"
            and o["spec"]["podSelector"]
            and all(labels.get(k) == v for k, v in o["spec"]["podSelector"]["matchLabels"].items())
            and "Egress" in o["spec"]["policyTypes"]
        ]
        assert egress, f"{pod}: no egress policy selects {labels}: default deny cuts it off the API server"
        for protocol in ("UDP", "TCP"):
            assert allowed(objects, "Egress", labels, 53, protocol, namespace="kube-system"), (pod, protocol)
        assert allowed(objects, "Egress", labels, 443, ip=API_SERVER), pod
        assert allowed(objects, "Egress", labels, 443, ip=AWS_ENDPOINT), pod
        assert not allowed(objects, "Egress", labels, 443, ip=METADATA), pod
        assert not allowed(objects, "Egress", labels, 80, ip=METADATA), pod
        assert not allowed(objects, "Egress", labels, 80, ip=AWS_ENDPOINT), pod
        assert not allowed(objects, "Egress", labels, 5432, ip=DATABASE), pod
        assert not allowed(objects, "Egress", labels, 53, "UDP", namespace="production"), pod
        assert not allowed(objects, "Egress", labels, 3000, namespace="production"), pod


def test_only_the_server_takes_traffic_and_only_its_metrics_from_monitoring() -> None:
    objects, pods = velero_namespace_objects({"deployNodeAgent": True, "cleanUpCRDs": True})
    assert allowed(objects, "Ingress", pods["server"], 8085, namespace="monitoring")
    assert not allowed(objects, "Ingress", pods["server"], 8085, namespace="production")
    assert not allowed(objects, "Ingress", pods["server"], 9090, namespace="monitoring")
    for hook in ("upgrade-crds", "cleanup-crds"):
        assert pods[hook] == HOOK_POD_LABELS
        for port in (8085, 443, 80):
            assert not allowed(objects, "Ingress", pods[hook], port, namespace="monitoring"), (hook, port)


def test_the_hooks_are_not_the_servers_metrics_endpoints() -> None:
    # The chart's Service (templates/service.yaml) selects name, app.kubernetes.io/name and /instance.
    selector = {"name": "velero", "app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": "velero"}
    _, pods = velero_namespace_objects({"cleanUpCRDs": True})
    assert all(pods["server"].get(k) == v for k, v in selector.items())
    for hook in ("upgrade-crds", "cleanup-crds"):
        assert not all(pods[hook].get(k) == v for k, v in selector.items()), hook


def test_the_chart_renders_no_pod_that_can_carry_no_label() -> None:
    values = release().inputs["values"]
    assert values["namespace"] == {"labels": {}}  # labelnamespace.yaml's pod would have no labels at all
    assert "label-namespace" not in pod_labels(values)
    assert "label-namespace" in pod_labels(values | {"namespace": {"labels": {"x": "y"}}})  # the mirror can see it


def test_the_hook_pods_pass_the_restricted_profile_too() -> None:
    values = release().inputs["values"]
    # upgrade-crds runs the Velero image with the server's contexts; cleanup-crds, the kubectl container's.
    assert values["kubectl"]["containerSecurityContext"] == values["containerSecurityContext"]
    assert pss_violations(values | {"initContainers": []}) == []


# --- RBAC: what Velero documents, not cluster-admin -----------------------------------------------------------


def test_the_server_is_bound_to_veleros_documented_cluster_role_not_cluster_admin() -> None:
    values = release().inputs["values"]
    assert cluster_role_binding(values) == CLUSTER_ROLE
    assert cluster_role_binding({}) == "cluster-admin"  # the chart's default, which these values replace
    role = find(manifests(STACK), "ClusterRole", CLUSTER_ROLE)
    # Velero's site/content/docs/v1.18/rbac.md, "velero-clusterrole", rule for rule.
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["persistentvolumes", "namespaces"], "verbs": ["*"]},
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get"]},
    ]
    cluster_role = registration("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    assert cluster_role.urn in release().dependencies  # the role exists before the binding names it


def test_restores_into_the_apps_namespace_create_and_patch_but_never_delete_or_escalate() -> None:
    objects = manifests(STACK)
    role = find(objects, "Role", "velero-restore")
    assert role["metadata"]["namespace"] == "production"
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert {"get", "list", "create", "patch"} <= verbs
    assert not verbs & {"*", "delete", "deletecollection", "bind", "escalate", "impersonate"}
    binding = find(objects, "RoleBinding", "velero-restore")
    assert binding["metadata"]["namespace"] == "production"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "velero-restore"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "velero", "namespace": "velero"}]
    # No Role or binding of the program's grants anything in the Velero namespace or cluster-wide but this.
    assert [o["metadata"]["name"] for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")] == [
        CLUSTER_ROLE
    ]


def test_veleros_egress_follows_the_stacks_dns_https_and_denied_blocks() -> None:
    security = {"dnsPort": 5353, "httpsPort": 8443, "egressDeniedCidrs": ["169.254.169.254/32", "10.9.0.0/16"]}
    rendering = render(STACK, {"hft-frontend:security": security, "hft-frontend:cluster": {"dnsNamespace": "dns"}})
    egress = find(manifests(rendering), "NetworkPolicy", "velero-egress")
    assert egress["metadata"]["namespace"] == "velero"
    rules = egress["spec"]["egress"]
    dns = next(rule for rule in rules if any("namespaceSelector" in peer for peer in rule["to"]))
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "dns"}
    assert {port["port"] for port in dns["ports"]} == {5353}
    https = next(rule for rule in rules if any("ipBlock" in peer for peer in rule["to"]))
    assert https["to"][0]["ipBlock"] == {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.9.0.0/16"]}
    assert https["ports"] == [{"protocol": "TCP", "port": 8443}]


def test_the_values_are_chart_values_not_the_programs_objects() -> None:
    values = chart_values(from_stack_file(STACK).backup, "arn:aws:iam::1:role/r", {"release": "prom"})
    assert values["metrics"]["serviceMonitor"] == {"enabled": True, "additionalLabels": {"release": "prom"}}


# --- the stack without backups, and bad values ---------------------------------------------------------------


def test_a_stack_without_backups_renders_no_aws_resource_and_no_velero_object() -> None:
    assert from_stack_file("staging").backup.enabled is False
    rendering = render("staging")
    assert not [r for r in rendering.registrations if r.type.startswith("aws:")]
    assert not [r for r in rendering.registrations if "velero" in r.type.lower() or "helm" in r.type]
    off = render(STACK, {"hft-frontend:backup": {"enabled": False}})
    assert not [r for r in off.registrations if r.type.startswith("aws:") or "velero" in r.type.lower()]
    rules = find(manifests(off), "PrometheusRule")["spec"]["groups"][0]["rules"]
    assert "VeleroBackupMissing" not in {rule["alert"] for rule in rules}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retentionDays": 6}, "hft-frontend:backup.retentionDays = 6: Input should be greater than or equal to 7"),
        ({"bucketName": "HFT_Backups"}, 'hft-frontend:backup.bucketName = "HFT_Backups": not a name S3 accepts'),
        ({"bucketName": "hft..backups"}, "no two dots"),
        (
            {"oidcProviderArn": "oidc.eks.us-east-1.amazonaws.com/id/X"},
            'hft-frontend:backup.oidcProviderArn = "oidc.eks',
        ),
        (
            {"expireAfterDays": 30},
            "hft-frontend:backup.expireAfterDays = 30: must be later than the backups' retention (30 days)",
        ),
        ({"schedule": "daily"}, 'hft-frontend:backup.schedule = "daily": String should match pattern'),
    ],
)
def test_bad_backup_values_fail_with_one_line(
    render_stack: Callable[..., Rendering], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProgramError) as error:
        render_stack(STACK, {"hft-frontend:backup": overrides})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_retention_seven_days_is_the_floor_and_accepted() -> None:
    settings = BackupSettings(enabled=True, bucket_name="b-bucket", oidc_provider_arn=OIDC, retention_days=7)
    assert settings.sweep_after_days == 14


def test_two_stacks_on_one_cluster_may_not_both_install_velero(render_stack: Callable[..., Rendering]) -> None:
    overrides = {
        "hft-frontend:cluster": {"name": "hft-production"},
        "hft-frontend:backup": {"enabled": True, "bucketName": "hft-platform-backups-staging", "oidcProviderArn": OIDC},
    }
    with pytest.raises(ProgramError) as error:
        render_stack("staging", overrides)
    assert str(error.value) == (
        "Pulumi.staging.yaml: hft-frontend:backup.velero.install: cluster hft-production: the Velero installation is "
        "owned by the stack 'production' (Pulumi.production.yaml: backup.velero.install); exactly one stack may own it"
    )
    # Sharing the installation: the second stack only adds its own location and schedule.
    shared = render_stack(
        "staging",
        {**overrides, "hft-frontend:backup": {**overrides["hft-frontend:backup"], "velero": {"install": False}}},
    )
    kinds = {r.type for r in shared.registrations}
    assert "kubernetes:helm.sh/v3:Release" not in kinds
    assert {"kubernetes:velero.io/v1:Schedule", "kubernetes:velero.io/v1:BackupStorageLocation"} <= kinds


def test_the_packs_verdicts_on_production_are_clean() -> None:
    assert [v for v in evaluate_rendering(render(STACK)) if v.enforcement_level == "mandatory"] == []


# --- Object Lock against the backups' retention, on both sides of the boundary -------------------------------


@pytest.mark.parametrize("retention", [7, 30, 90])
def test_object_lock_may_last_as_long_as_the_backups_retention_and_not_a_day_longer(retention: int) -> None:
    def backup(lock_days: int, enabled: bool = True) -> BackupSettings:
        return settings(
            backup={"retentionDays": retention, "objectLock": {"enabled": enabled, "retentionDays": lock_days}}
        ).backup

    assert backup(retention).object_lock.retention_days == retention
    assert backup(1).object_lock.retention_days == 1
    with pytest.raises(SettingsError) as error:
        backup(retention + 1)
    assert str(error.value) == (
        f"Pulumi.stack.yaml: hft-frontend:backup.objectLock.retentionDays = {retention + 1}: must not outlast the "
        f"backups' retention ({retention} days), or Velero cannot delete its expired backups"
    )
    # Off, the lock's retention binds nothing: Velero can delete whatever it expires.
    assert backup(retention + 1, enabled=False).object_lock.enabled is False
