"""pulumi-cloudflare: ids as Cloudflare issues them (32 hex digits), a zone's assigned name servers,
and the zone a lookup by name finds."""

from __future__ import annotations

from typing import Any

from offline_preview.providers import Computed, NewResource, computes, computes_call, hex_placeholder

# Cloudflare assigns each zone a pair of its name servers.
_NAME_SERVERS = ("ada", "bob", "cruz", "dana", "ezra", "fay", "gus", "hal")


def _id(seed: str) -> str:
    return hex_placeholder(seed, 32)


def zone_name_servers(zone_id: str) -> list[str]:
    first = int(zone_id[:2], 16) % len(_NAME_SERVERS)
    return [
        f"{_NAME_SERVERS[first]}.ns.cloudflare.com",
        f"{_NAME_SERVERS[(first + 1) % len(_NAME_SERVERS)]}.ns.cloudflare.com",
    ]


def zone_id_for(name: str) -> str:
    return _id(f"zone:{name}")


@computes("cloudflare:index/zone:Zone")
def zone(resource: NewResource) -> Computed:
    zone_id = zone_id_for(str(resource.inputs.get("name")))
    return zone_id, {"id": zone_id, "nameServers": zone_name_servers(zone_id), "status": "pending"}


@computes(
    "cloudflare:index/ruleset:Ruleset",
    "cloudflare:index/dnsRecord:DnsRecord",
)
def with_id(resource: NewResource) -> Computed:
    return _id(resource.identity), {}


@computes("cloudflare:index/zoneSetting:ZoneSetting")
def zone_setting(resource: NewResource) -> Computed:
    # The provider's id for a setting is the setting's own id.
    return str(resource.inputs.get("settingId")), {}


@computes_call("cloudflare:index/getZone:getZone")
def get_zone(args: dict[str, Any]) -> dict[str, Any]:
    """The zone found by name (its owner stack created or imported it)."""
    name = str((args.get("filter") or {}).get("name"))
    zone_id = zone_id_for(name)
    return {"id": zone_id, "zoneId": zone_id, "name": name, "nameServers": zone_name_servers(zone_id)}
