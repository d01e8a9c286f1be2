"""The Pulumi project and stack files: valid for the CLI, values only, no secret in plain text."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.support.pulumi_schemas import project_validator
from tests.support.stacks import PROJECT_DIR, STACKS


def test_pulumi_yaml_is_a_valid_project_that_runs_in_the_locked_virtualenv() -> None:
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    errors = list(project_validator().iter_errors(project))
    assert not errors, errors[0].message
    assert project["name"] == "hft-frontend"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert "config" not in project, "values belong in the stack files"
    # The virtualenv the CLI uses is the one the Makefile builds from the lock file.
    assert re.search(r"^VENV\s*:=\s*\.venv$", (PROJECT_DIR / "Makefile").read_text(), re.MULTILINE)


def test_the_schema_check_can_fail() -> None:
    assert list(project_validator().iter_errors({"runtime": "python"}))  # no name
    assert list(project_validator().iter_errors({"name": "hft-frontend", "runtime": 5}))


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_hold_values_only(stack: str) -> None:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())
    assert set(document) == {"config"}
    for key, value in document["config"].items():
        assert key.startswith("hft-frontend:") or key.split(":")[0] in {"kubernetes", "pulumi"}, key
        text = json.dumps(value).lower()
        # A secret goes in as {"secure": ...}; plain text such as a DSN or key must never be here.
        assert "private key" not in text
        assert not re.search(r"https://[^@\s]+@", text), f"{key} looks like a credential-bearing URL"
