"""What Cloudflare publishes that the program relies on: its address ranges (the only peers the origin
trusts) and the Authenticated Origin Pulls CA. The files and their sources: components/data/README.md."""

from __future__ import annotations

from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"


def _ranges() -> tuple[str, ...]:
    lines = (_DATA / "cloudflare-ips.txt").read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


CLOUDFLARE_RANGES: tuple[str, ...] = _ranges()
ORIGIN_PULL_CA_PEM: str = (_DATA / "cloudflare-origin-pull-ca.pem").read_text()
