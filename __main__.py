"""hft-frontend: composition only (stack settings -> components -> stack outputs)."""

import pulumi

from components import frontend_app
from components.frontend_app import FrontendApp, FrontendAppArgs
from components.observability import Observability, ObservabilityArgs
from components.security_baseline import Egress, SecurityBaseline, SecurityBaselineArgs
from components.settings import load_settings

settings = load_settings()
app, cluster, security = settings.app, settings.cluster, settings.security

baseline = SecurityBaseline(
    "security-baseline",
    SecurityBaselineArgs(
        namespace=settings.namespace,
        environment=settings.environment,
        pod_security_version=cluster.kubernetes_version,
        workloads=[frontend_app.workload_profile(app.name, settings.environment, app)],
        ingress_namespaces=[cluster.ingress_namespace, cluster.monitoring_namespace],
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
    ),
)

# Needs the prometheus-operator CRDs in the cluster; a stack without them sets observability.enabled: false.
if settings.observability.enabled:
    Observability(
        "observability",
        ObservabilityArgs(
            settings=settings.observability,
            target=frontend.service_target,
            prometheus_selector_labels=cluster.prometheus_selector_labels,
            dashboard_namespace=cluster.monitoring_namespace,
        ),
    )

pulumi.export("namespace", baseline.namespace.metadata.name)
pulumi.export("deploymentName", frontend.deployment.metadata.name)
pulumi.export("serviceName", frontend.service_name)
