"""The vendored schemas are the upstream files their provenance table names: each file's git blob
hash is the upstream blob's (or, for the one changed file, the recorded hash of the change)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.stacks import PROJECT_DIR

SCHEMAS = PROJECT_DIR / "schemas"
ROW = re.compile(
    r"^\| `(?P<file>[^`]+)` \| (?P<repository>[\w.-]+/[\w.-]+) \| `(?P<path>[^`]+)` \| (?P<release>[^|]+) \| "
    r"(?P<commit>[0-9a-f]{40}) \| (?P<blob>[0-9a-f]{40})(?: \(changed: (?P<changed>[0-9a-f]{40})\))? \|$"
)


@dataclass(frozen=True)
class Source:
    file: str
    repository: str
    path: str
    release: str
    commit: str
    blob: str
    changed: str | None


def sources() -> list[Source]:
    rows = [ROW.match(line) for line in (SCHEMAS / "README.md").read_text().splitlines() if line.startswith("| `")]
    assert all(rows), "a row of schemas/README.md does not have the provenance columns"
    return [Source(**{k: (v.strip() if v else v) for k, v in m.groupdict().items()}) for m in rows if m]


def git_blob_hash(data: bytes) -> str:
    """What `git hash-object` prints for a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_every_vendored_file_has_a_row_and_every_row_a_file() -> None:
    files = {str(p.relative_to(SCHEMAS)) for p in SCHEMAS.rglob("*") if p.is_file() and p.name != "README.md"}
    assert files == {source.file for source in sources()}


@pytest.mark.parametrize("source", sources(), ids=lambda source: source.file)
def test_each_file_is_the_upstream_blob_it_names(source: Source) -> None:
    assert source.path.endswith(source.file.split("/")[-1])
    actual = git_blob_hash((SCHEMAS / source.file).read_bytes())
    assert actual == (source.changed or source.blob), f"{source.file} is not the file its row names"


def test_the_one_changed_file_says_what_changed_and_holds_it() -> None:
    changed = [source for source in sources() if source.changed]
    assert [source.file for source in changed] == ["pulumi/resources.json"]
    readme = (SCHEMAS / "README.md").read_text()
    assert "**Changed from upstream: `pulumi/resources.json`.**" in readme
    resource = json.loads((SCHEMAS / "pulumi" / "resources.json").read_text())
    added = {"retainOnDelete", "deletedWith", "created", "modified", "sourcePosition", "ignoreChanges", "owner"}
    assert added <= set(resource["$defs"]["resourceV3"]["properties"]), "the fields the CLI writes are in the schema"


def test_git_blob_hash_is_gits() -> None:
    # `printf 'hello\n' | git hash-object --stdin`
    assert git_blob_hash(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_nothing_in_the_repository_reads_a_sibling_shared_folder() -> None:
    pattern = re.compile(r"\.\./shared|parent / \"shared\"")
    offenders = []
    for directory, subdirectories, files in os.walk(PROJECT_DIR):
        # Not the virtualenvs, the build output or git's own files.
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".") and d not in {"build", "__pycache__"}]
        for name in files:
            path = Path(directory) / name
            readable = path.suffix in {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".in", ""}
            if readable and path != Path(__file__) and pattern.search(path.read_text(errors="replace")):
                offenders.append(str(path.relative_to(PROJECT_DIR)))
    assert offenders == []
