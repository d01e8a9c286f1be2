"""What every area of the settings shares: the errors, the base model (frozen, strict, camelCase keys,
unknown keys refused), the checked value types and the field types that may hold a secret."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

import pulumi
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

from components.k8s import ImageReference, quantity_value

PROJECT = "hft-frontend"


class SettingsError(pulumi.RunError):
    """A stack value is wrong. Pulumi prints a RunError's message alone, without a traceback."""


class RuleError(ValueError):
    """A broken cross-field rule, pointing at the key inside the model that carries the bad value."""

    def __init__(self, key: str, value: object, rule: str) -> None:
        super().__init__(rule)
        self.key = key
        self.value = value
        self.rule = rule


# --- value types -------------------------------------------------------------------------------


def _check_quantity(value: str) -> str:
    quantity_value(value)
    return value


Quantity = Annotated[str, AfterValidator(_check_quantity)]

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _check_dns_name(value: str) -> str:
    """A fully qualified DNS name (RFC 1123): lower-case labels of at most 63 characters."""
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValueError("not a valid DNS name (lower-case RFC 1123 labels, e.g. app.example.com)")
    return value


def _check_dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError("not a valid Kubernetes name (lower-case RFC 1123 label, at most 63 characters)")
    return value


DnsName = Annotated[str, AfterValidator(_check_dns_name)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]

# Kubernetes label syntax (k8s.io/apimachinery pkg/util/validation: IsQualifiedName, IsValidLabelValue).
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _check_label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if not _LABEL_NAME.match(name) or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))):
        raise ValueError("not a valid label key ([prefix/]name: a name of at most 63 letters, digits, '-', '_', '.')")
    return value


def _check_label_value(value: str) -> str:
    if value and not _LABEL_NAME.match(value):
        raise ValueError(
            "not a valid label value (at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends)"
        )
    return value


LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]


def _url_checker(*schemes: str):
    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise ValueError(f"the URL must use {' or '.join(schemes)}")
        try:
            _check_dns_name(parts.hostname or "")
        except ValueError:
            raise ValueError(f"the URL's host {parts.hostname!r} is not a valid DNS name") from None
        return value

    return check


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        raise ValueError("not a CIDR block (e.g. 169.254.169.254/32)") from None
    return value


CidrBlock = Annotated[str, AfterValidator(_check_cidr)]
HttpsUrl = Annotated[str, AfterValidator(_url_checker("https"))]
WebSocketUrl = Annotated[str, AfterValidator(_url_checker("wss"))]


def _check_image(value: str) -> str:
    why = ImageReference.parse(value).floating
    if why is not None:
        raise ValueError(f"the image is not pinned ({why}): pin a version tag or a digest")
    return value


ImageRef = Annotated[str, AfterValidator(_check_image)]


# --- secrets ----------------------------------------------------------------------------------


class ConfigSecret:
    """A stack value set with `pulumi config set --secret`: never shown, and handed to resources only
    as a Pulumi secret (`as_input`), so the engine keeps it encrypted in the state."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def as_input(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self._value)

    def __repr__(self) -> str:
        return "ConfigSecret([secret])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigSecret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _SecretRequiredError(ValueError):
    """A field that takes only a secret got plain text (the message never holds the value)."""


def _must_be_secret(value: object) -> ConfigSecret:
    if isinstance(value, ConfigSecret):
        return value
    raise _SecretRequiredError("must be a secret: set it with `pulumi config set --secret [--path] <key> <value>`")


def _may_be_secret(value: object) -> ConfigSecret | str:
    if isinstance(value, ConfigSecret | str):
        return value
    raise ValueError("must be a string")


# A field whose value must be a Pulumi secret (an API token, a DSN with a key in it).
SecretValue = Annotated[ConfigSecret, BeforeValidator(_must_be_secret)]
# A field that may hold a secret or plain text (an account id): whichever it was set as, it stays.
MaybeSecretValue = Annotated[ConfigSecret | str, BeforeValidator(_may_be_secret)]
_SECRET_TYPES = (ConfigSecret,)


def secret_input(value: ConfigSecret | str | None) -> pulumi.Input[str] | None:
    """What a resource gets for a field that may hold a secret: a secret Output, or the plain text."""
    return value.as_input() if isinstance(value, ConfigSecret) else value


# --- the base of every area's model ----------------------------------------------------------


class _Model(BaseModel):
    # Stack files use camelCase keys, like every Pulumi config; unknown keys are errors.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        arbitrary_types_allowed=True,  # ConfigSecret
    )
