"""The stack's settings: one typed, validated model of everything in `Pulumi.<stack>.yaml`.

This package is the only place that reads Pulumi config (`loader`). Every key of the project's
namespace maps to a field of `StackSettings`; an unknown key, a wrong type or a broken cross-field
rule stops the program with one line naming the stack file, the key path, the value and the rule.

One module per top-level key (`app`, `cluster`, `security`, `routing`, `edge`, `backup`,
`observability`, `delivery`), each on what they all share (`base`); `stack` composes them and holds the rules
across areas; `loader` reads the config into it. Imports run one way: base <- areas <- stack <- loader.
Here: the names the rest of the program imports from `components.settings`.
"""

from components.settings.app import AppSettings, Endpoints, Probe
from components.settings.backup import BackupSettings
from components.settings.base import ConfigSecret, MaybeSecretValue, SecretValue, SettingsError, secret_input
from components.settings.cluster import ClusterSettings
from components.settings.delivery import AnalysisSettings, CanaryStep, DeliverySettings
from components.settings.edge import EdgeSettings, RateLimitRule
from components.settings.loader import load_settings, mark_secrets, parse_settings, secret_fields
from components.settings.observability import AlertRule, ObservabilitySettings
from components.settings.routing import ClusterIssuerSettings, PrivateKeySettings, RoutingSettings
from components.settings.security import SecuritySettings
from components.settings.stack import StackSettings

__all__ = [
    "AlertRule",
    "AnalysisSettings",
    "AppSettings",
    "BackupSettings",
    "CanaryStep",
    "ClusterIssuerSettings",
    "ClusterSettings",
    "ConfigSecret",
    "DeliverySettings",
    "EdgeSettings",
    "Endpoints",
    "MaybeSecretValue",
    "ObservabilitySettings",
    "PrivateKeySettings",
    "Probe",
    "RateLimitRule",
    "RoutingSettings",
    "SecretValue",
    "SecuritySettings",
    "SettingsError",
    "StackSettings",
    "load_settings",
    "mark_secrets",
    "parse_settings",
    "secret_fields",
    "secret_input",
]
