"""Renders stacks of git revisions and of the working tree for `make diff`, each with its own code and
dependencies.

- A revision is checked out into a temporary `git worktree` (removed afterwards).
- It renders with the virtualenv of its own lock file: the current one when the lock is byte-for-byte
  the working tree's, else one built from the revision's lock, cached by the lock's hash under
  `build/plan-diff-venvs/` (a half-built one is never reused: it counts only once `.installed` exists).
- All jobs of one interpreter run in one `plan_worker.py` subprocess, which imports the SDKs once and each
  tree's own `components`, `policies` and `offline_preview` in turn; two interpreters run side by side.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKER = Path(__file__).resolve().parent / "plan_worker.py"
# The lock's name: requirements.txt (what Dependabot reads); requirements.lock before it was renamed.
LOCK_NAMES = ("requirements.txt", "requirements.lock")
VENV_CACHE = Path("build") / "plan-diff-venvs"


class RevisionError(Exception):
    """A revision cannot be rendered; the message is one line for the user."""


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RevisionError(" ".join((result.stderr or result.stdout).split()) or f"git {args[0]} failed")
    return result.stdout.strip()


@dataclass(frozen=True)
class Revision:
    ref: str  # as the user named it
    sha: str

    @property
    def label(self) -> str:
        return f"{self.ref} ({self.sha[:12]})" if not self.sha.startswith(self.ref) else self.sha[:12]


def resolve(repo: Path, ref: str) -> Revision:
    """The commit `ref` names in `repo`, or RevisionError."""
    try:
        sha = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except RevisionError:
        sha = ""
    if not sha:
        raise RevisionError(f"BASE {ref!r} is not a commit in {repo}")
    return Revision(ref, sha)


def repo_layout(project_dir: Path) -> tuple[Path, str]:
    """(the git work tree's root, the project's folder inside it: '' or 'sub/dir/')."""
    root = Path(git(project_dir, "rev-parse", "--show-toplevel"))
    return root, git(project_dir, "rev-parse", "--show-prefix")


def stack_files(repo: Path, revision: Revision, prefix: str) -> list[str]:
    """The stack names with a `Pulumi.<stack>.yaml` in the project folder at that revision."""
    listing = git(repo, "ls-tree", "--name-only", revision.sha, "--", prefix or ".")
    names = [Path(line).name for line in listing.splitlines()]
    return sorted(n[len("Pulumi.") : -len(".yaml")] for n in names if n.startswith("Pulumi.") and n.count(".") == 2)


@contextlib.contextmanager
def checkout(repo: Path, revisions: Sequence[Revision]) -> Iterator[dict[str, Path]]:
    """Each revision in a temporary detached worktree of `repo`: {sha: worktree root}."""
    parent = Path(tempfile.mkdtemp(prefix="plan-diff-"))
    trees: dict[str, Path] = {}
    try:
        for revision in revisions:
            if revision.sha not in trees:
                tree = parent / revision.sha[:12]
                git(repo, "worktree", "add", "--quiet", "--detach", str(tree), revision.sha)
                trees[revision.sha] = tree
        yield trees
    finally:
        for tree in trees.values():
            with contextlib.suppress(RevisionError):
                git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        with contextlib.suppress(RevisionError):
            git(repo, "worktree", "prune")


# --- interpreters ------------------------------------------------------------------------------


def lock_file(tree: Path) -> Path | None:
    return next((tree / name for name in LOCK_NAMES if (tree / name).is_file()), None)


def build_venv(lock: Path, venv: Path) -> None:
    """A virtualenv at `venv` with exactly the lock's packages (hashes required)."""
    if venv.exists():
        shutil.rmtree(venv)
    print(f"building a virtualenv from {lock.name} of BASE in {venv} (cached for the next run)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "-r",
            str(lock),
        ],
        check=True,
    )
    (venv / ".installed").touch()


def interpreter_for(
    tree: Path,
    head_tree: Path,
    cache: Path,
    build: Callable[[Path, Path], None] = build_venv,
) -> Path:
    """The Python to render `tree` with: this one when its lock equals the working tree's, else a
    virtualenv built from its lock (cached by the lock's content)."""
    lock, head_lock = lock_file(tree), lock_file(head_tree)
    if lock is None:
        raise RevisionError(f"no {' or '.join(LOCK_NAMES)} in {tree.name}")
    content = lock.read_bytes()
    if head_lock is not None and head_lock.read_bytes() == content:
        return Path(sys.executable)
    venv = cache / hashlib.sha256(content).hexdigest()[:16]
    if not (venv / ".installed").is_file():
        try:
            build(lock, venv)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise RevisionError(f"cannot build a virtualenv from BASE's {lock.name}: {exc}") from None
    return venv / "bin" / "python"


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    tree: Path
    stack: str
    python: Path


def _run_worker(python: Path, jobs: Sequence[Job], key: bytes, stop_on_error: bool) -> list[dict[str, Any]]:
    request = {
        "key": key.hex(),
        "jobs": [{"tree": str(job.tree), "stack": job.stack} for job in jobs],
        "stopOnError": stop_on_error,
    }
    with tempfile.TemporaryDirectory(prefix="plan-diff-") as scratch:
        out = Path(scratch) / "result.json"
        # -I: neither PYTHONPATH nor the current folder leaks a working tree's module into the run.
        result = subprocess.run(
            [str(python), "-I", "-B", str(WORKER), str(out)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not out.is_file():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise RevisionError(f"the renderer failed ({python}): {last}")
        return json.loads(out.read_text())


def render(jobs: Sequence[Job], key: bytes, stop_on_error: bool = False) -> list[dict[str, Any]]:
    """Every job's result (see plan_worker.py), in order: one worker per interpreter, run side by side.
    With `stop_on_error`, a worker renders nothing after its first failing job (fail fast)."""
    by_python: dict[Path, list[int]] = {}
    for index, job in enumerate(jobs):
        by_python.setdefault(job.python, []).append(index)
    results: list[dict[str, Any]] = [{} for _ in jobs]
    with ThreadPoolExecutor(max_workers=len(by_python) or 1) as pool:
        futures = {
            python: pool.submit(_run_worker, python, [jobs[i] for i in indices], key, stop_on_error)
            for python, indices in by_python.items()
        }
        for python, future in futures.items():
            for index, result in zip(by_python[python], future.result(), strict=True):
                results[index] = result
    return results
