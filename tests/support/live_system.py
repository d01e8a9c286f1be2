"""The deployment guide's live system as an operator exports it (docs/adoption.md, "Export"), for `make adopt`.

Objects are shaped as the API server, Terraform and the Cloudflare and S3 APIs return them: uid, resourceVersion,
managedFields, status, the fields the API server defaults, a clusterIP, the last-applied annotation of
`kubectl apply`; a Terraform state of format 4 from the guide's cloudflare.tf; a DNS list response with
result_info. Secret values are made-up fixture strings (the tests check none of them leaves `make adopt`).
`write(tmp_path, stack, **variant)` writes the export and returns its folder.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

ZONE = "hft-platform.com"
ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
INGRESS_LB = "a1b2c3d4e5f6-ingress-nginx.elb.us-east-1.amazonaws.com"  # ingress-nginx's NLB: where DNS points
SERVICE_LB = "k8s-producti-hftfront-0a1b2c3d4e.elb.us-east-1.amazonaws.com"  # the guide's own Service NLB
BUCKET = "hft-platform-backups"
# Fixture secret values: long and distinctive, so a test can grep every output for them.
SECRET_VALUES = {
    "NEXTAUTH_SECRET": "fixture-nextauth-3b8f0c1e9a7d4f2b8e6c5a1d0f9e8d7c",
    "JWT_SIGNING_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nfixture-jwt-key-7e1c2a9b\n-----END PRIVATE KEY-----\n",
    "SENTRY_DSN": "https://fixture0a1b2c3d@o12345.ingest.sentry.io/678",
}
HOSTS = {"production": ["hft-platform.com", "www.hft-platform.com"], "staging": ["staging.hft-platform.com"]}

_serial = iter(range(1000, 100000))


def _meta(
    kind: str, name: str, namespace: str | None, labels: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    number = next(_serial)
    metadata: dict[str, Any] = {
        "name": name,
        "uid": f"6f1c{number:04d}-1c2d-4e5f-8a9b-0c1d2e3f{number:04d}",
        "resourceVersion": str(number * 7),
        "creationTimestamp": "2025-03-14T09:26:53Z",
        "managedFields": [
            {
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {".": {}}}},
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "time": "2025-03-14T09:26:53Z",
            }
        ],
        **extra,
    }
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    return metadata


def _applied(obj: dict[str, Any]) -> dict[str, Any]:
    """`kubectl apply` leaves what it applied in an annotation: the object as written, before defaults."""
    written = {k: v for k, v in obj.items() if k != "status"}
    written["metadata"] = {k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "labels")}
    annotations = obj["metadata"].setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(written, sort_keys=True) + "\n"
    return obj


def kubernetes_objects(stack: str) -> list[dict[str, Any]]:
    ns = stack
    hosts = HOSTS[stack]
    app = {"app": "hft-frontend"}
    objects: list[dict[str, Any]] = []
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": _meta("Namespace", ns, None, {"kubernetes.io/metadata.name": ns, "name": ns}),
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
    )
    suffix = "" if stack == "production" else "-staging"
    objects.append(
        _applied(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta("ConfigMap", "frontend-config", ns),
                "data": {
                    "NEXT_PUBLIC_API_BASE_URL": f"https://api{suffix}.hft-platform.com/api",
                    "NEXT_PUBLIC_WEBSOCKET_URL": f"wss://ws{suffix}.hft-platform.com/ws",
                    "NEXT_PUBLIC_CPP_BACKEND_URL": f"https://engine{suffix}.hft-platform.com/api",
                    "NEXT_PUBLIC_ENABLE_ANALYTICS": "true",
                    "NEXT_PUBLIC_ENABLE_DEBUG_PANEL": "false",
                    "NODE_ENV": "production",
                    "NEXT_TELEMETRY_DISABLED": "1",
                },
            }
        )
    )
    objects.append(
        _applied(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _meta("Secret", "frontend-secrets", ns),
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in SECRET_VALUES.items()},
            }
        )
    )
    container = {
        "name": "frontend",
        "image": "ghcr.io/your-org/hft-trading-platform/frontend:v1.0.0",
        "ports": [{"containerPort": 3000, "name": "http", "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": "frontend-config"}}, {"secretRef": {"name": "frontend-secrets"}}],
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    deployment = _applied(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(
                "Deployment",
                "hft-frontend",
                ns,
                {**app, "environment": stack, "version": "v1.0.0"},
                generation=4,
                annotations={"deployment.kubernetes.io/revision": "4"},
            ),
            "spec": {
                "replicas": 6 if stack == "production" else 2,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 1}},
                "selector": {"matchLabels": dict(app)},
                "template": {
                    "metadata": {"labels": dict(app), "annotations": {"prometheus.io/scrape": "true"}},
                    "spec": {
                        "containers": [container],
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "serviceAccountName": "hft-frontend-sa",
                        "serviceAccount": "hft-frontend-sa",
                    },
                },
            },
            "status": {"replicas": 6, "readyReplicas": 6, "availableReplicas": 6, "observedGeneration": 4},
        }
    )
    objects.append(deployment)
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": _meta(
            "ReplicaSet",
            "hft-frontend-7d9f8b6c5d",
            ns,
            {**app, "pod-template-hash": "7d9f8b6c5d"},
            ownerReferences=[
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "hft-frontend",
                    "uid": deployment["metadata"]["uid"],
                    "controller": True,
                }
            ],
        ),
        "spec": {"replicas": 6},
    }
    objects.append(replica_set)
    objects.append(
        _applied(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta(
                    "Service",
                    "hft-frontend-service",
                    ns,
                    dict(app),
                    annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
                ),
                "spec": {
                    "type": "LoadBalancer",
                    "selector": dict(app),
                    "ports": [{"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP", "nodePort": 31380}],
                    "clusterIP": "172.20.118.42",
                    "clusterIPs": ["172.20.118.42"],
                    "sessionAffinity": "None",
                    "externalTrafficPolicy": "Cluster",
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "internalTrafficPolicy": "Cluster",
                },
                "status": {"loadBalancer": {"ingress": [{"hostname": SERVICE_LB}]}},
            }
        )
    )
    ingress = _applied(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _meta(
                "Ingress",
                "hft-frontend-ingress",
                ns,
                annotations={
                    "kubernetes.io/ingress.class": "nginx",
                    "cert-manager.io/cluster-issuer": "letsencrypt-prod",
                },
            ),
            "spec": {
                "tls": [{"hosts": hosts, "secretName": "hft-platform-tls"}],
                "rules": [
                    {
                        "host": h,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "hft-frontend-service", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                    for h in hosts
                ],
            },
            "status": {"loadBalancer": {"ingress": [{"hostname": INGRESS_LB}]}},
        }
    )
    objects.append(ingress)
    objects.append(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": _meta(
                "Certificate",
                "hft-platform-tls",
                ns,
                ownerReferences=[
                    {
                        "apiVersion": "networking.k8s.io/v1",
                        "kind": "Ingress",
                        "name": "hft-frontend-ingress",
                        "uid": ingress["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            ),
            "spec": {
                "dnsNames": hosts,
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-prod"},
                "secretName": "hft-platform-tls",
                "usages": ["digital signature", "key encipherment"],
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "notAfter": "2027-01-12T08:00:00Z"},
        }
    )
    objects.append(
        _applied(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": _meta("HorizontalPodAutoscaler", "hft-frontend-hpa", ns),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hft-frontend"},
                    "minReplicas": 6,
                    "maxReplicas": 20,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                        }
                    ],
                },
                "status": {"currentReplicas": 6, "desiredReplicas": 6},
            }
        )
    )
    objects.append(
        _applied(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": _meta("ServiceMonitor", "hft-frontend-metrics", ns, dict(app)),
                "spec": {
                    "selector": {"matchLabels": dict(app)},
                    "endpoints": [{"port": "http", "interval": "15s", "path": "/metrics", "honorLabels": True}],
                },
            }
        )
    )
    objects.append(
        _applied(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": _meta("PrometheusRule", "hft-frontend-alerts", ns, dict(app)),
                "spec": {
                    "groups": [{"name": "hft-frontend", "rules": [{"alert": "HighErrorRate", "expr": "vector(0)"}]}]
                },
            }
        )
    )
    objects.append(
        _applied(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": _meta("NetworkPolicy", "hft-frontend-netpol", ns),
                "spec": {
                    "podSelector": {"matchLabels": dict(app)},
                    "policyTypes": ["Ingress", "Egress"],
                    "egress": [{"ports": [{"port": 443, "protocol": "TCP"}]}],
                },
            }
        )
    )
    objects.append(
        _applied(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("ServiceAccount", "hft-frontend-sa", ns)}
        )
    )
    objects.append(
        _applied(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _meta("Role", "hft-frontend-role", ns),
                "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get", "list"]}],
            }
        )
    )
    objects.append(
        _applied(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta("RoleBinding", "hft-frontend-rolebinding", ns),
                "subjects": [{"kind": "ServiceAccount", "name": "hft-frontend-sa", "namespace": ns}],
                "roleRef": {"kind": "Role", "name": "hft-frontend-role", "apiGroup": "rbac.authorization.k8s.io"},
            }
        )
    )
    if stack != "production":
        # The guide's staging has only k8s/staging/{namespace,configmap,secrets,deployment}.yaml; the Service,
        # Ingress, HPA, monitoring and security objects are production's.
        kept = {"Namespace", "ConfigMap", "Secret", "Deployment", "ReplicaSet"}
        objects = [o for o in objects if o["kind"] in kept]
        for obj in objects:
            if obj["kind"] == "Deployment":
                obj["spec"]["template"]["spec"].pop("serviceAccountName")
                obj["spec"]["template"]["spec"]["serviceAccount"] = "default"
    return objects


def cluster_issuer() -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": _meta("ClusterIssuer", "letsencrypt-prod", None),
        "spec": {
            "acme": {
                "server": "https://acme-v02.api.letsencrypt.org/directory",
                "email": "ops@hft-platform.com",
                "privateKeySecretRef": {"name": "letsencrypt-prod"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
            }
        },
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def terraform_state() -> dict[str, Any]:
    """`terraform state pull` of the guide's terraform/cloudflare.tf (cloudflare provider 4.x)."""

    def resource(type_: str, name: str, attributes: dict[str, Any]) -> dict[str, Any]:
        return {
            "mode": "managed",
            "type": type_,
            "name": name,
            "provider": 'provider["registry.terraform.io/cloudflare/cloudflare"]',
            "instances": [{"schema_version": 0, "attributes": attributes, "sensitive_attributes": []}],
        }

    settings = {"ssl": "full", "always_use_https": "on", "min_tls_version": "1.2", "tls_1_3": "zrt",
                "automatic_https_rewrites": "on", "brotli": "on", "http3": "on", "zero_rtt": "on"}  # fmt: skip
    return {
        "version": 4,
        "terraform_version": "1.9.8",
        "serial": 42,
        "lineage": "8b1f6d0e-2c3a-4b5c-9d8e-7f6a5b4c3d2e",
        "outputs": {},
        "resources": [
            resource(
                "cloudflare_zone",
                "hft_platform",
                {"id": ZONE_ID, "zone": ZONE, "account_id": ACCOUNT_ID, "plan": "business", "type": "full"},
            ),
            resource(
                "cloudflare_zone_settings_override",
                "hft_platform",
                {"id": ZONE_ID, "zone_id": ZONE_ID, "settings": [settings], "initial_settings": [{"ssl": "flexible"}]},
            ),
            resource(
                "cloudflare_page_rule",
                "cache_static_assets",
                {
                    "id": "9a7806061c88ada191ed06f989cc3dac",
                    "zone_id": ZONE_ID,
                    "target": "hft-platform.com/_next/static/*",
                },
            ),
            resource(
                "cloudflare_page_rule",
                "api_no_cache",
                {"id": "1b2c3d4e5f60718293a4b5c6d7e8f901", "zone_id": ZONE_ID, "target": "hft-platform.com/api/*"},
            ),
            resource(
                "cloudflare_rate_limit",
                "api_rate_limit",
                {"id": "372e67954025e0ba6aaa6d586b9e0b59", "zone_id": ZONE_ID, "threshold": 100, "period": 60},
            ),
        ],
    }


def dns_records() -> list[dict[str, Any]]:
    def record(n: int, name: str, type_: str, content: str, proxied: bool) -> dict[str, Any]:
        return {"id": f"{n:032x}", "zone_id": ZONE_ID, "zone_name": ZONE, "name": name, "type": type_,
                "content": content, "proxied": proxied, "proxiable": True, "ttl": 1, "comment": None,
                "tags": [], "created_on": "2025-03-14T09:30:00Z", "modified_on": "2025-03-14T09:30:00Z"}  # fmt: skip

    return [
        record(1, "hft-platform.com", "CNAME", INGRESS_LB, True),
        record(2, "www.hft-platform.com", "CNAME", INGRESS_LB, True),
        record(3, "staging.hft-platform.com", "CNAME", INGRESS_LB, True),
        record(4, "api.hft-platform.com", "CNAME", "api-origin.hft-platform.net", True),
        record(5, "hft-platform.com", "MX", "mx1.mail.example.net", False),
        record(6, "hft-platform.com", "TXT", '"v=spf1 include:_spf.example.net ~all"', False),
    ]


def dns_response(
    records: list[dict[str, Any]], page: int = 1, per_page: int = 100, total: int | None = None
) -> dict[str, Any]:
    total = len(records) if total is None else total
    return {
        "success": True,
        "errors": [],
        "messages": [],
        "result": records,
        "result_info": {"page": page, "per_page": per_page, "count": len(records), "total_count": total,
                        "total_pages": -(-total // per_page)},
    }  # fmt: skip


def s3_calls(stack: str) -> dict[str, Any]:
    """`aws s3api` responses for the guide's bucket: made with `aws s3 mb` and versioning on, no Object Lock,
    default SSE-S3 encryption (S3's default since 2023), and the backup script's tarballs under frontend/."""
    return {
        "get-bucket-location": {"LocationConstraint": None},
        "get-bucket-versioning": {"Status": "Enabled"},
        "get-bucket-encryption": {
            "ServerSideEncryptionConfiguration": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]
            }
        },
        "get-public-access-block": {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            }
        },
        "get-bucket-ownership-controls": {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}},
        "list-objects-v2": {
            "Contents": [
                {
                    "Key": f"frontend/hft-frontend-backup-2025061{d}_020000.tar.gz",
                    "Size": 1048576 + d,
                    "LastModified": f"2025-06-1{d}T02:00:05+00:00",
                    "StorageClass": "STANDARD",
                }
                for d in range(5)
            ],
            "KeyCount": 5,
            "RequestCharged": None,
        },
    }


def write(root: Path, stack: str, **variant: Any) -> Path:
    """The export of `stack`'s live system under `root/live-<stack>`; `variant` changes it:
    objects=callable(list) -> list, terraform=dict|None, dns=list of responses|dict, s3=dict|None (calls),
    raw={relative path: text} written last (malformed files)."""
    live = root / f"live-{stack}"
    objects = kubernetes_objects(stack)
    if "objects" in variant:
        objects = variant["objects"](copy.deepcopy(objects))
    kube = live / "kubernetes"
    kube.mkdir(parents=True)
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    (kube / f"{stack}.json").write_text(
        json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": namespaced, "metadata": {"resourceVersion": ""}}, indent=2
        )
    )
    cluster = [o for o in objects if o["kind"] == "Namespace"] + [cluster_issuer()]
    (kube / "cluster.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": cluster}, indent=2))
    terraform = variant.get("terraform", terraform_state() if stack == "production" else None)
    if terraform is not None:
        (live / "terraform.tfstate").write_text(json.dumps(terraform, indent=2))
    dns = variant.get("dns", dns_response(dns_records()))
    (live / "cloudflare").mkdir()
    (live / "cloudflare" / "dns_records.json").write_text(json.dumps(dns, indent=2))
    calls = variant.get("s3", s3_calls(stack) if stack == "production" else None)
    if calls is not None:
        bucket = live / "aws" / "s3" / BUCKET
        bucket.mkdir(parents=True)
        for call, response in calls.items():
            (bucket / f"{call}.json").write_text(json.dumps(response, indent=2))
    for relative, text in variant.get("raw", {}).items():
        (live / relative).parent.mkdir(parents=True, exist_ok=True)
        (live / relative).write_text(text)
    return live
