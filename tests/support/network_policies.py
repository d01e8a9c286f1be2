"""What a set of NetworkPolicies lets through: a small evaluator of networking.k8s.io/v1 semantics
(matchLabels selectors, namespace and ipBlock peers, ports), enough for the program's policies."""

from __future__ import annotations

import ipaddress
from typing import Any


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], namespace: str | None, ip: str | None) -> bool:
    if "ipBlock" in peer:
        if ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(ip)
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(c) for c in block.get("except", []))
    if "namespaceSelector" in peer:
        # Namespaces carry kubernetes.io/metadata.name = their name, set by the API server.
        return namespace is not None and _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
    return False


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    return not ports or any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports)


def allowed(
    objects: list[dict[str, Any]],
    direction: str,
    pod_labels: dict[str, str],
    port: int,
    protocol: str = "TCP",
    namespace: str | None = None,
    ip: str | None = None,
) -> bool:
    """Whether the app's pod may send (Egress) or receive (Ingress) this traffic."""
    policies = [
        o["spec"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and _selects(o["spec"]["podSelector"], pod_labels)
        and direction in o["spec"]["policyTypes"]
    ]
    if not policies:
        return True  # no policy isolates the pod in this direction
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    return any(
        (not rule.get(peers_key) or any(_peer_matches(p, namespace, ip) for p in rule[peers_key]))
        and _port_matches(rule.get("ports"), port, protocol)
        for policy in policies
        for rule in policy.get(rules_key, [])
    )
