"""checkov over each stack's rendered manifests: zero failed checks, and every suppression is an
annotation on the object, with its reason, that the README (or a page of docs/) lists."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline_preview.render import write_manifests
from tests.support.stacks import PROJECT_DIR, STACKS, render

# checkov pins an old `packaging` that clashes with pulumi, so it lives in its own virtualenv,
# which `make test` builds from requirements-checkov.txt.
CHECKOV = PROJECT_DIR / ".venv-checkov" / "bin" / "checkov"


def run_checkov(directory: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), "checkov is missing: `make test` installs it into .venv-checkov"
    # No network here: skip the platform's guideline mapping and policy download.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return report if isinstance(report, dict) else {"results": {"failed_checks": [], "skipped_checks": []}}


@pytest.fixture(scope="module", params=STACKS)
def checkov_report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp(request.param) / "manifests"
    write_manifests(render(request.param), directory)
    return run_checkov(directory)


def test_no_check_fails(checkov_report: dict[str, Any]) -> None:
    failed = checkov_report["results"]["failed_checks"]
    assert not failed, [(f["check_id"], f["resource"]) for f in failed]
    assert checkov_report["summary"]["passed"] > 50


def test_each_suppression_has_a_reason_that_the_readme_lists(checkov_report: dict[str, Any]) -> None:
    # The README, or the docs/ page of the component that carries the suppression.
    readme = "\n".join(p.read_text() for p in [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))])
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped, "the Deployment carries its suppressions as annotations"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} is suppressed without a reason"
        assert check["check_id"] in readme, f"neither README nor docs/ lists the suppression of {check['check_id']}"


def test_checkov_fails_a_broken_manifest(tmp_path: Path) -> None:
    # The same run over a privileged pod must fail: the scan really looks at the files.
    write_manifests(render("staging"), tmp_path)
    deployment = next(tmp_path.glob("deployment-*.yaml"))
    deployment.write_text(deployment.read_text().replace("privileged: false", "privileged: true"))
    failed = {f["check_id"] for f in run_checkov(tmp_path)["results"]["failed_checks"]}
    assert "CKV_K8S_16" in failed
