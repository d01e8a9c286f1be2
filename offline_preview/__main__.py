"""`python -m offline_preview --stack production`: the offline preview (see docs/preview.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from offline_preview import identity
from offline_preview.engine import ProgramError, Rendering, run_program
from offline_preview.policy_eval import (
    PolicyConfigError,
    evaluate_rendering_in_full,
    format_not_checked,
    format_violations,
    report_document,
    write_report,
)
from offline_preview.render import (
    ManifestCollisionError,
    UnknownInManifestError,
    resource_tree,
    stack_export,
    stack_outputs,
    summary,
    write_manifests,
)
from offline_preview.stack_config import StackConfigError, load_stack_config, placeholder_notes

PROJECT_DIR = Path(__file__).resolve().parent.parent


def project_name(project_dir: Path) -> str:
    return str(yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offline_preview", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: build/<stack>)")
    parser.add_argument(
        "--policy-pack-config", type=Path, default=None, help="policy pack config, as for `pulumi preview`"
    )
    args = parser.parse_args(argv)

    project_dir: Path = args.project_dir.resolve()
    project = project_name(project_dir)
    out: Path = args.out or project_dir / "build" / args.stack
    try:
        config = load_stack_config(project_dir, args.stack, project)
        rendering = run_program(project_dir, project, config)
    except (StackConfigError, ProgramError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for note in placeholder_notes(config):
        print(note)

    return write_preview(rendering, out, args.policy_pack_config)


def write_preview(rendering: Rendering, out: Path, policy_pack_config: Path | None = None) -> int:
    """Print what `pulumi preview` would, write the manifests, the state and the policy verdicts
    under `out`, and return the exit code (1 on a mandatory violation)."""
    print(f"Previewing update ({rendering.stack}), offline under mocks:\n")
    print(resource_tree(rendering))
    print()
    outputs = stack_outputs(rendering)
    if outputs:
        print(outputs + "\n")
    print(summary(rendering))

    # Two resources managing one object: the real `up` would fail on the second (or let them fight).
    # Refused before anything is written, so no manifest stands for an object twice.
    owners = identity.check(identity.from_registrations(rendering.registrations))
    if owners.collisions:
        for collision in owners.collisions:
            print(f"error: {collision.line()}", file=sys.stderr)
        return 1

    out.mkdir(parents=True, exist_ok=True)
    try:
        manifests = write_manifests(rendering, out / "manifests")
    except (UnknownInManifestError, ManifestCollisionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    (out / "stack.json").write_text(json.dumps(stack_export(rendering), indent=2) + "\n")

    # The policy pack, as `pulumi preview --policy-pack policies` runs it.
    try:
        evaluation = evaluate_rendering_in_full(rendering, policy_pack_config)
    except PolicyConfigError as exc:  # an unreadable or invalid policy config
        print(f"error: {exc}", file=sys.stderr)
        return 1
    violations = evaluation.violations
    print("\n" + format_violations(violations))
    if evaluation.not_checked:
        print("\n" + format_not_checked(evaluation.not_checked))
    source = f"offline preview of {rendering.stack}"
    write_report(
        report_document(evaluation, source=source, stack=rendering.stack, project=rendering.project),
        out / "policy-report.json",
    )
    print(
        f"\nWrote {len(manifests)} manifests to {out / 'manifests'}, the state to {out / 'stack.json'}"
        f" and the policy verdicts to {out / 'policy-report.json'}"
    )
    mandatory = sum(v.enforcement_level == "mandatory" for v in violations)
    if mandatory:
        print(f"error: {mandatory} mandatory policy violation(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
