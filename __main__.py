"""hft-frontend: composition only (stack settings -> components -> stack outputs)."""

import pulumi

from components import frontend_app
from components.backup_store import BackupStore, BackupStoreArgs
from components.delivery import Delivery, DeliveryArgs, canary_metrics
from components.frontend_app import FrontendApp, FrontendAppArgs
from components.observability import Observability, ObservabilityArgs
from components.routing import Routing, RoutingArgs, app_routes
from components.security_baseline import Egress, SecurityBaseline, SecurityBaselineArgs
from components.settings import load_settings
from components.velero import Velero, VeleroArgs

settings = load_settings()
app, cluster, security, routing = settings.app, settings.cluster, settings.security, settings.routing
canary = settings.delivery.canary

baseline = SecurityBaseline(
    "security-baseline",
    SecurityBaselineArgs(
        namespace=settings.namespace,
        environment=settings.environment,
        pod_security_version=cluster.kubernetes_version,
        workloads=[frontend_app.workload_profile(app.name, settings.environment, app, canary=canary)],
        # The app port admits the routing proxies (the Gateway's or ingress-nginx's) and Prometheus only.
        ingress_namespaces=[routing.proxy_namespace or settings.namespace, cluster.monitoring_namespace],
        egress=Egress.for_app(security, cluster),
        api_read_own_config=security.api_read_own_config,
        quota_name=security.resource_quota_name,
        limit_range_name=security.limit_range_name,
    ),
)

frontend = FrontendApp(
    app.name,
    FrontendAppArgs(
        app=app,
        environment=settings.environment,
        namespace=baseline.namespace.metadata.name,
        sentry_dsn=settings.sentry_dsn,
        rollout=canary,
    ),
)

# The origin lock (docs/origin-lock.md): the zone's owner makes the origin-pull CA and its client certificate;
# another stack of the zone trusts the owner's CA, given in its stack file.
origin_pull = None
origin_pull_ca: pulumi.Input[str] | None = None
if settings.origin_locked:
    if settings.edge.owns_zone:
        from components.origin_pull import OriginPullCertificates

        origin_pull = OriginPullCertificates("origin-pull", settings.edge.zone)
        origin_pull_ca = origin_pull.ca_cert_pem
        pulumi.export("originPullCa", origin_pull.ca_cert_pem)
    else:
        origin_pull_ca = routing.origin_lock.trusted_ca_pem
# Canary releases: the Rollout, its traffic Services and analysis, and the controller where this stack owns it.
delivery = None
if canary:
    delivery = Delivery(
        "delivery",
        DeliveryArgs(
            settings=settings.delivery,
            app=frontend.app_id,
            target=frontend.service_target,
            selector=frontend.service.spec.apply(lambda spec: spec.selector or {}),
            deployment=frontend.deployment_name,
            replicas=app.replicas,
            namespace=settings.namespace,
            routes=app_routes(frontend.app_id),
            # The SLOs' own SLIs, on the canary's pods, as the app's ServiceMonitor scrapes them.
            metrics=canary_metrics(
                settings.delivery,
                settings.observability.slos,
                f'namespace="{settings.namespace}", service="{frontend_app.object_names(app.name, app).service}"',
            ),
            monitoring_namespace=cluster.monitoring_namespace,
            egress=Egress.for_stack(security, cluster),
            pod_security_version=cluster.kubernetes_version,
        ),
        opts=pulumi.ResourceOptions(depends_on=[baseline, frontend]),
    )

routes = Routing(
    "routing",
    RoutingArgs(
        settings=routing,
        hostnames=app.hostnames,
        target=frontend.service_target,
        namespace=settings.namespace,
        endpoints=app.endpoints,
        origin_pull_ca=origin_pull_ca,
        canary=(delivery.stable_service, delivery.canary_service) if delivery is not None else None,
    ),
    # The routes and the certificate go into the namespace, which must exist first.
    opts=pulumi.ResourceOptions(depends_on=[baseline]),
)

if settings.edge.enabled:
    # pulumi_cloudflare takes ~2 s and 165 MB to import (4,000 resources, eagerly): only when needed.
    from components.edge_cdn import EdgeCDN, EdgeCDNArgs

    edge = EdgeCDN(
        "edge",
        EdgeCDNArgs(
            settings=settings.edge,
            hostnames=app.hostnames,
            rule_hostnames=settings.rule_hostnames,
            origin=routes.address,
            static_path=routing.static_path,
            origin_pull=origin_pull,
        ),
    )
    pulumi.export("zoneId", edge.zone_id)
    pulumi.export("nameServers", edge.name_servers)

backup_schedule = None
if settings.backup.enabled:
    velero = settings.backup.velero
    store = BackupStore(
        "backup-store",
        BackupStoreArgs(
            settings=settings.backup,
            prefix=settings.backup.storage_prefix(settings.environment),
            velero_namespace=velero.namespace,
            velero_service_account=velero.service_account,
        ),
    )
    backups = Velero(
        "velero",
        VeleroArgs(
            settings=settings.backup,
            app=frontend.app_id,
            namespace=settings.namespace,
            bucket=store.bucket.bucket,
            key_arn=store.key.arn,
            role_arn=store.role.arn,
            prometheus_labels=cluster.prometheus_selector_labels,
            monitoring_namespace=cluster.monitoring_namespace,
            egress=Egress.for_stack(security, cluster),
            pod_security_version=cluster.kubernetes_version,
        ),
        opts=pulumi.ResourceOptions(depends_on=[baseline]),
    )
    backup_schedule = backups.schedule_name
    pulumi.export("backupBucket", store.bucket.bucket)
    pulumi.export("veleroRoleArn", store.role.arn)

# Needs the prometheus-operator CRDs in the cluster; a stack without them sets observability.enabled: false.
if settings.observability.enabled:
    Observability(
        "observability",
        ObservabilityArgs(
            settings=settings.observability,
            target=frontend.service_target,
            prometheus_selector_labels=cluster.prometheus_selector_labels,
            dashboard_namespace=cluster.monitoring_namespace,
            backup_schedule=backup_schedule,
            canary=canary,
            probe_hostnames=app.hostnames,
        ),
    )

pulumi.export("namespace", baseline.namespace.metadata.name)
pulumi.export("deploymentName", frontend.deployment.metadata.name)
pulumi.export("serviceName", frontend.service_name)
pulumi.export("servicePort", app.service.port)
if delivery is not None:
    pulumi.export(
        "rolloutName", delivery.rollout_name
    )  # the deploy waits for its release  # the deploy's NetworkPolicy probe connects to it
pulumi.export("hostnames", routes.hostnames)
if routes.address is not None:
    # What the edge's DNS records point at: the Gateway's (or Ingress's) load balancer.
    pulumi.export("originAddress", routes.address)
