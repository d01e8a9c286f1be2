"""hft-frontend: composition only (stack settings -> components -> stack outputs)."""

import pulumi

from components.frontend_app import FrontendApp, FrontendAppArgs
from components.namespace import app_namespace
from components.settings import load_settings

settings = load_settings()

namespace = app_namespace(settings.namespace, settings.environment)

frontend = FrontendApp(
    settings.app.name,
    FrontendAppArgs(
        app=settings.app,
        environment=settings.environment,
        namespace=namespace.metadata.name,
        sentry_dsn=settings.sentry_dsn,
    ),
)

pulumi.export("namespace", namespace.metadata.name)
pulumi.export("deploymentName", frontend.deployment.metadata.name)
pulumi.export("serviceName", frontend.service_name)
