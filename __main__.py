"""hft-frontend: composition only (stack settings -> components -> stack outputs)."""

import pulumi

from components.frontend_app import FrontendApp, FrontendAppArgs, selector_labels
from components.observability import Observability, ObservabilityArgs
from components.security_baseline import SecurityBaseline, SecurityBaselineArgs
from components.settings import load_settings

settings = load_settings()

baseline = SecurityBaseline(
    "security-baseline",
    SecurityBaselineArgs(
        namespace=settings.namespace,
        environment=settings.environment,
        app=settings.app,
        pod_selector=selector_labels(settings.app, settings.environment),
        security=settings.security,
        cluster=settings.cluster,
    ),
)

frontend = FrontendApp(
    settings.app.name,
    FrontendAppArgs(
        app=settings.app,
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
            app=settings.app,
            environment=settings.environment,
            namespace=baseline.namespace.metadata.name,
            service_name=frontend.service_name,
            cluster=settings.cluster,
        ),
    )

pulumi.export("namespace", baseline.namespace.metadata.name)
pulumi.export("deploymentName", frontend.deployment.metadata.name)
pulumi.export("serviceName", frontend.service_name)
