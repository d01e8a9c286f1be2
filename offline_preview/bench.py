"""`make bench`: wall time and peak memory of the offline preview, next to the bare import time of
the Pulumi SDKs it imports, measured in the same run (each in a fresh interpreter, median of runs).

Budgets (the foundation issue): preview wall time <= 3x the SDK import floor, peak memory < 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
WALL_RATIO_BUDGET = 3.0
PEAK_MB_BUDGET = 400.0

# Runs the preview as `python -m offline_preview` would, then reports which Pulumi SDK modules it
# loaded. pulumi_kubernetes loads its API groups lazily, so the floor is those modules, not the
# bare package.
_PREVIEW = """
import contextlib, io, json, sys
from offline_preview.__main__ import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
modules = sorted(m for m in sys.modules if m.split(".")[0].startswith("pulumi"))
print(json.dumps({"code": code, "modules": modules}))
"""


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mb: float
    stdout: str


def _run(code: str, *args: str) -> Sample:
    """One fresh interpreter; its peak RSS comes from wait4's rusage (kilobytes on Linux)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", code, *args], cwd=PROJECT_DIR, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark run failed:\n{stderr}")
    return Sample(seconds=seconds, peak_mb=usage.ru_maxrss / 1024, stdout=stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offline_preview.bench", description=__doc__)
    parser.add_argument("--stack", default="production")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as out:
        preview_args = ("--stack", args.stack, "--out", out)
        first = _run(_PREVIEW, *preview_args)  # also warms the filesystem cache for both measurements
        report = json.loads(first.stdout.strip().splitlines()[-1])
        if report["code"] != 0:
            raise SystemExit(f"the {args.stack} preview failed (exit {report['code']})")
        modules: list[str] = report["modules"]
        sdks = sorted({m.split(".")[0] for m in modules})
        import_code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)"
        previews, imports = [], []
        for _ in range(args.runs):  # interleaved, so load on the machine hits both alike
            imports.append(_run(import_code))
            previews.append(_run(_PREVIEW, *preview_args))

    import_s = statistics.median(s.seconds for s in imports)
    preview_s = statistics.median(s.seconds for s in previews)
    preview_mb = max(s.peak_mb for s in previews)
    import_mb = max(s.peak_mb for s in imports)
    ratio = preview_s / import_s
    print(f"offline preview of {args.stack!r}, median of {args.runs} runs, each in a fresh interpreter")
    print(f"  SDKs it imports        : {', '.join(sdks)} ({len(modules)} modules)")
    print(f"  bare SDK import (floor): {import_s:6.2f} s   peak {import_mb:6.1f} MB")
    print(f"  whole preview          : {preview_s:6.2f} s   peak {preview_mb:6.1f} MB")
    print(f"  preview / import floor : {ratio:6.2f} x   (budget {WALL_RATIO_BUDGET:.1f} x)")
    print(f"  peak memory            : {preview_mb:6.1f} MB  (budget {PEAK_MB_BUDGET:.0f} MB)")
    over = []
    if ratio > WALL_RATIO_BUDGET:
        over.append(f"wall time {ratio:.2f}x the import floor exceeds {WALL_RATIO_BUDGET}x")
    if preview_mb >= PEAK_MB_BUDGET:
        over.append(f"peak memory {preview_mb:.0f} MB exceeds {PEAK_MB_BUDGET:.0f} MB")
    for problem in over:
        print(f"OVER BUDGET: {problem}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
