"""EdgeCDN: the Cloudflare zone in front of the app, on current Cloudflare APIs (pulumi-cloudflare 6).

The seed's Terraform used what Cloudflare has retired: Page Rules (now Cache Rules in the
`http_request_cache_settings` phase), the legacy rate limit resource (now rate limiting rules in the
`http_ratelimit` phase) and Auto Minify (end of life August 2024, gone); its SSL mode `full` accepted
any origin certificate, where `strict` validates it.

Zone settings and each phase's entrypoint ruleset are singletons per zone, so exactly one stack owns
them (`edge.ownsZone`: the zone, protected against deletion, its settings and rulesets, whose rules
cover every host of the zone); every stack manages the DNS records of its own hosts.

The spec builders are pure functions of the settings; the component turns them into resources.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
from pulumi_cloudflare import RulesetRuleArgsDict

from components import naming
from components.rule_expressions import scoped
from components.settings import EdgeSettings, RateLimitRule, secret_input

CACHE_PHASE = "http_request_cache_settings"
RATE_LIMIT_PHASE = "http_ratelimit"
AUTOMATIC_TTL = 1  # Cloudflare's "automatic" DNS TTL (proxied records always use it)


def zone_settings(edge: EdgeSettings) -> dict[str, str | int]:
    """Setting id -> value: the seed's intent, and better (SSL strict, HTTP/3, no minify)."""
    settings: dict[str, str | int] = {
        "ssl": "strict",  # encrypted to the origin, and its certificate validated (the seed's `full` was not)
        # Automatic SSL/TLS ("auto") may change the `ssl` mode on its own after a scan; "custom" keeps the
        # mode set here. PATCH /zones/{zone_id}/settings/ssl_automatic_mode, value "auto" or "custom"
        # (Cloudflare API: SSL, Automatic Upgrader). pulumi-cloudflare 6.23.1's ZoneSetting table does not
        # list this id, but its setting_id is free text: terraform-provider-cloudflare v5.22.0
        # (internal/services/zone_setting/schema.go, resource.go: Zones.Settings.Edit(setting_id)) sends
        # it to that same path.
        "ssl_automatic_mode": "custom",
        "always_use_https": "on",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "automatic_https_rewrites": "on",
        "opportunistic_encryption": "on",
        "security_level": "medium",
        "browser_check": "on",
        "challenge_ttl": 1800,
        "development_mode": "off",
        "sort_query_string_for_cache": "off",
        "always_online": "off",
        "brotli": "on",
        "websockets": "on",
        "http3": "on",
        # Cloudflare presents its client certificate to the origin (Authenticated Origin Pulls).
        "tls_client_auth": "on" if edge.authenticated_origin_pulls else "off",
    }
    if edge.proxy_read_timeout is not None:
        # Enterprise only (the settings refuse it below): the longest silence Cloudflare waits for.
        settings["proxy_read_timeout"] = edge.proxy_read_timeout
    return settings


def _starts_with(path: str) -> str:
    return f'starts_with(http.request.uri.path, "{path}")'


def cache_rules(edge: EdgeSettings, static_path: str) -> list[RulesetRuleArgsDict]:
    """The seed's page rules as cache rules. Cache rules stack and the last match wins (page rules
    stopped at the first): the broad rule first, the API's bypass last, so nothing can override it."""
    ttl = edge.static_cache_ttl_seconds
    return [
        {
            "ref": "static-assets",
            "description": "Next.js static assets (hashed names): cached at the edge and in the browser",
            "expression": _starts_with(static_path),
            "action": "set_cache_settings",
            "action_parameters": {
                "cache": True,
                "edge_ttl": {"mode": "override_origin", "default": ttl},
                "browser_ttl": {"mode": "override_origin", "default": ttl},
            },
            "enabled": True,
        },
        {
            "ref": "api-bypass",
            "description": "The API is never cached",
            "expression": _starts_with("/api/"),
            "action": "set_cache_settings",
            "action_parameters": {"cache": False},
            "enabled": True,
        },
    ]


def rate_limit_rule(rule: RateLimitRule, hosts: Sequence[str]) -> RulesetRuleArgsDict:
    """The rule, limited to `hosts`: a zone's rate limiting rules otherwise count every host of the zone
    (the trading API's hosts too, where the app's limits are not theirs)."""
    return {
        "ref": rule.ref,
        "description": rule.description,
        "expression": scoped(rule.expression, hosts),
        "action": rule.action,
        "ratelimit": {
            "characteristics": list(rule.characteristics),
            "period": rule.period,
            "requests_per_period": rule.requests_per_period,
            "mitigation_timeout": rule.mitigation_timeout,
            "requests_to_origin": rule.requests_to_origin,
        },
        "enabled": True,
    }


def record_type(address: str) -> str:
    """A for an IPv4 address, AAAA for IPv6, CNAME for a hostname (a load balancer's)."""
    try:
        return "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
    except ValueError:
        return "CNAME"


@dataclass(frozen=True)
class EdgeCDNArgs:
    settings: EdgeSettings
    hostnames: Sequence[str]  # this stack's public hosts: proxied records for each
    # Where the records point: the routing's address, or the stack's `edge.origin`; None when neither
    # is known (the stack gets no records then, and docs/edge.md says how to give one).
    origin: pulumi.Input[str | None] | None
    static_path: str
    # The hosts the owner's rate limiting rules cover: the app's hosts in every stack of the zone
    # (`StackSettings.rule_hostnames`); empty: `hostnames`.
    rule_hostnames: Sequence[str] = ()


class EdgeCDN(pulumi.ComponentResource):
    """The zone, its settings and rulesets where this stack owns them, and this stack's DNS records."""

    zone_id: pulumi.Output[str]
    name_servers: pulumi.Output[Sequence[str]]

    def __init__(self, name: str, args: EdgeCDNArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hft:index:EdgeCDN", name, None, opts)
        edge = args.settings

        def child(suffix: str, **options: Any) -> tuple[str, pulumi.ResourceOptions]:
            return naming.child(self, name, suffix, **options)

        if edge.owns_zone:
            child_name, child_opts = child("zone", protect=True)
            # Created here, or adopted with `pulumi import` (docs/edge.md): never read with a resource `.get`.
            zone = cloudflare.Zone(
                child_name,
                account={"id": secret_input(edge.account_id)},
                name=edge.zone,
                type="full",
                opts=child_opts,
            )
            self.zone_id = zone.id
            self.name_servers = zone.name_servers
            for setting_id, value in zone_settings(edge).items():
                child_name, child_opts = child(f"setting-{setting_id.replace('_', '-')}")
                cloudflare.ZoneSetting(child_name, zone_id=zone.id, setting_id=setting_id, value=value, opts=child_opts)
            child_name, child_opts = child("cache-rules")
            cloudflare.Ruleset(
                child_name,
                zone_id=zone.id,
                kind="zone",
                phase=CACHE_PHASE,
                name="Cache rules (hft-frontend)",
                rules=cache_rules(edge, args.static_path),
                opts=child_opts,
            )
            child_name, child_opts = child("rate-limits")
            cloudflare.Ruleset(
                child_name,
                zone_id=zone.id,
                kind="zone",
                phase=RATE_LIMIT_PHASE,
                name="Rate limiting rules (hft-frontend)",
                rules=[rate_limit_rule(rule, args.rule_hostnames or args.hostnames) for rule in edge.rate_limits],
                opts=child_opts,
            )
        else:
            # The owner's zone, named by its id: no lookup (an invoke runs at preview time and would need a
            # Cloudflare token). Its name servers are the owner's output.
            self.zone_id = pulumi.Output.from_input(edge.zone_id or "")
            self.name_servers = pulumi.Output.from_input([])

        origin = args.origin if edge.origin is None else edge.origin
        # While `edge.dns.pointAt: live`, an adopted record keeps its live content: the engine uses the old value
        # of an ignored property (the ignoreChanges resource option), so no `up` moves traffic until the flip.
        keep_live = ["content"] if edge.dns.point_at == "live" else []
        if origin is not None:
            for hostname in args.hostnames:
                child_name, child_opts = child(f"record-{hostname.replace('.', '-')}", ignore_changes=keep_live)
                address = pulumi.Output.from_input(origin)
                cloudflare.DnsRecord(
                    child_name,
                    zone_id=self.zone_id,
                    name=hostname,
                    type=address.apply(lambda a: record_type(a or "")),
                    content=address.apply(lambda a: a or ""),
                    proxied=True,
                    ttl=AUTOMATIC_TTL,
                    comment="hft-frontend: proxied to the origin",
                    opts=child_opts,
                )

        self.register_outputs({"zoneId": self.zone_id, "nameServers": self.name_servers})
