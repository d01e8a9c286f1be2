"""Smoke test of a deployed stack: the health route answers 200 and the WebSocket route upgrades.

    python3 tools/smoke_test.py --url https://staging.hft-platform.com     # standard library only
    python -m tools.smoke_test --stack staging                            # the stack file's first hostname

Checks `GET <url>/api/health` -> 200 and a WebSocket handshake on `<ws url>/ws` (wss for https) -> 101
Switching Protocols with the `Sec-WebSocket-Accept` RFC 6455 derives from the key sent, which only a
WebSocket server answering that request can produce. Retries until both pass or the attempts run out
(a rollout or an edge cache may lag the deploy); exit 1 with what failed on the last attempt.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import os
import socket
import ssl
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
TIMEOUT = 10.0


class SmokeError(Exception):
    """One failed check; the message says what was expected and what came back."""


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.netloc, timeout=TIMEOUT, context=ssl.create_default_context())
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT)
    raise SmokeError(f"{url}: only https (or http for a local test) URLs")


def check_health(base_url: str, path: str = "/api/health") -> str:
    connection = _connection(base_url)
    try:
        connection.request("GET", path, headers={"User-Agent": "hft-frontend-smoke-test"})
        response = connection.getresponse()
        body = response.read(200).decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        raise SmokeError(f"GET {path}: {exc}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise SmokeError(f"GET {path}: expected 200, got {response.status} {' '.join(body.split())[:80]}")
    return f"GET {path}: 200"


def websocket_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()


def check_websocket(base_url: str, path: str = "/ws") -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {parts.scheme}://{parts.netloc}\r\n"
        "User-Agent: hft-frontend-smoke-test\r\n\r\n"
    )
    host, port = parts.hostname or "", parts.port or (443 if scheme == "wss" else 80)
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as raw:
            sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host) if scheme == "wss" else raw
            sock.sendall(request.encode())
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
            # A masked close frame (RFC 6455 5.5.1): leave as a client should.
            sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))
    except OSError as exc:
        raise SmokeError(f"WebSocket {scheme}://{parts.netloc}{path}: {exc}") from None
    lines = head.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    status = lines[0] if lines else ""
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if status.split(" ")[1:2] != ["101"]:
        raise SmokeError(f"WebSocket {path}: expected 101 Switching Protocols, got {status or 'no answer'!r}")
    if headers.get("sec-websocket-accept") != websocket_accept(key):
        raise SmokeError(f"WebSocket {path}: 101 without the Sec-WebSocket-Accept for the key sent")
    return f"WebSocket {scheme}://{parts.netloc}{path}: 101 Switching Protocols"


def smoke_test(base_url: str, attempts: int, interval: float) -> list[str]:
    """The passing checks' lines, or SmokeError with the last attempt's failures."""
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        passed, failures = [], []
        for check in (check_health, check_websocket):
            try:
                passed.append(check(base_url))
            except SmokeError as exc:
                failures.append(str(exc))
        if not failures:
            return passed
        print(f"attempt {attempt}/{attempts}: {'; '.join(failures)}", file=sys.stderr)
        if attempt < attempts:
            time.sleep(interval)
    raise SmokeError("; ".join(failures))


def stack_host(project_dir: Path, stack: str) -> str:
    import yaml  # only for --stack: the workflow passes --url and runs with the standard library

    config = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text())["config"]
    return str(config["hft-frontend:app"]["hostnames"][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smoke_test", description=(__doc__ or "").split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the deployment's base URL, e.g. https://staging.hft-platform.com")
    target.add_argument("--stack", help="test https://<the stack file's first hostname>")
    parser.add_argument("--print-host", action="store_true", help="with --stack: print the host and stop")
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between attempts")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    try:
        url = args.url or f"https://{stack_host(args.project_dir, args.stack)}"
    except (OSError, KeyError, IndexError, TypeError) as exc:
        print(f"error: Pulumi.{args.stack}.yaml: no hft-frontend:app.hostnames[0] ({exc})", file=sys.stderr)
        return 1
    if args.print_host:
        print(urlsplit(url).netloc)
        return 0
    try:
        for line in smoke_test(url.rstrip("/"), max(1, args.attempts), args.interval):
            print(f"ok: {line}")
    except SmokeError as exc:
        print(f"error: smoke test of {url} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
