"""Sets `app.image` in stack files: what the image-tag workflow runs before it opens its pull request.

    python -m tools.set_image --image v1.4.2                      # a tag of the stack files' repository
    python -m tools.set_image --image sha256:<64 hex> --stack staging
    python -m tools.set_image --image ghcr.io/org/app/frontend:v1.4.2@sha256:<64 hex>
    python -m tools.set_image --from-ref v1.4.1 --stack production   # the image the file had at a git ref

The input is a tag, a digest, tag@digest, or a whole reference, which must name the repository the stack
file already deploys (so a typo or a foreign image is refused, not proposed). The value is edited where
it stands in the file, found through the YAML parser's own position marks, so comments, order and
layout stay as they are; the result is parsed again and must differ from the original in `app.image`
only. With `--from-ref`, each stack file gets the `app.image` its own file held at that git commit, tag
or branch (the rollback workflow's "return to this ref"), validated the same way. One line and exit 1
on bad input, with nothing written.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as `python3 tools/set_image.py`: the project's packages sit beside tools/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import yaml

    from components.k8s import ImageReference
    from components.yaml_errors import yaml_error
except ModuleNotFoundError as exc:  # an interpreter without the project's dependencies
    sys.exit(f"error: {exc.name} is not installed here: run `make setup`, then .venv/bin/python -m tools.set_image")

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_KEY = "hft-frontend:app"
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


class ImageError(ValueError):
    """Bad input; the message is one line naming what is wrong."""


def resolve_image(given: str, repository: str) -> ImageReference:
    """The full reference for `given` (tag, digest, tag@digest or whole reference) in `repository`."""
    text = given.strip()
    if not text or any(c.isspace() for c in text):
        raise ImageError(f"image {given!r}: empty or contains whitespace")
    name = text.split("@", 1)[0]
    if _DIGEST.match(text):
        full = f"{repository}@{text}"
    elif "/" in name:
        full = text
    elif ":" in name and not name.startswith("sha256:"):
        # `nginx:1.27` is a whole reference (Docker Hub's library/nginx at tag 1.27): another repository.
        other = name.rsplit(":", 1)[0]
        raise ImageError(
            f"image {given!r}: names the repository {other} (Docker Hub's docker.io/library/{other}), "
            f"not the one the stacks deploy ({repository}); give a tag or digest of that repository"
        )
    else:
        full = f"{repository}:{text}"
    try:
        reference = ImageReference.parse(full)
    except ValueError:
        raise ImageError(f"image {given!r}: not a tag, a sha256 digest or an image reference") from None
    if reference.repository != repository:
        raise ImageError(f"image {given!r}: not of the repository the stacks deploy ({repository})")
    if reference.floating is not None:
        raise ImageError(f"image {given!r}: {reference.floating}; give a version tag or a digest")
    return reference


@dataclass(frozen=True)
class Edit:
    path: Path
    old: str
    new: str
    text: str  # the file's new content


def _image_node(document: yaml.Node, path: Path) -> yaml.ScalarNode:
    def child(node: yaml.Node | None, key: str) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                    return value_node
        return None

    node = child(child(child(document, "config"), APP_KEY), "image")
    if not isinstance(node, yaml.ScalarNode):
        raise ImageError(f"{path.name}: no config.{APP_KEY}.image value to set")
    return node


def set_image(path: Path, given: str) -> Edit:
    """The stack file with its app.image set to `given` (validated against the image it has now)."""
    text = path.read_text()
    try:
        document = yaml.compose(text)
        before = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ImageError(yaml_error(path.name, exc)) from None
    node = _image_node(document, path)
    try:
        repository = ImageReference.parse(node.value).repository
    except ValueError:
        raise ImageError(f"{path.name}: {APP_KEY}.image {node.value!r} is not an image reference") from None
    reference = resolve_image(given, repository)
    # The scalar's own span in the file, quotes included; keep the quoting it had.
    quote = node.style if node.style in ("'", '"') else ""
    replaced = text[: node.start_mark.index] + f"{quote}{reference.text}{quote}" + text[node.end_mark.index :]
    after = yaml.safe_load(replaced)
    before["config"][APP_KEY]["image"] = reference.text
    if after != before:
        raise ImageError(f"{path.name}: the edit would change more than {APP_KEY}.image; set it by hand")
    return Edit(path, node.value, reference.text, replaced)


def resolve_ref(project_dir: Path, ref: str) -> str:
    """The commit `ref` names in the project's git repository (a ref that looks like an option is refused)."""
    if not ref or ref.startswith("-") or any(c.isspace() or ord(c) < 32 for c in ref):
        raise ImageError(f"ref {ref!r}: not a git ref")
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        cwd=project_dir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ImageError(f"ref {ref!r}: no such commit in this repository (a shallow clone has no history)")
    return result.stdout.strip()


def image_at(project_dir: Path, commit: str, stack: str) -> str:
    """`app.image` as Pulumi.<stack>.yaml held it at `commit`."""
    name = f"Pulumi.{stack}.yaml"
    result = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=project_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise ImageError(f"{name}: not in commit {commit[:12]}")
    try:
        return str(_image_node(yaml.compose(result.stdout), Path(name)).value)
    except yaml.YAMLError:
        raise ImageError(f"{name} at {commit[:12]}: not valid YAML") from None


def _outputs(reference: ImageReference, stacks: list[str], commit: str | None) -> dict[str, str]:
    version = reference.version
    return {
        "image": reference.text,
        "version": version,
        "branch": "image/" + re.sub(r"[^A-Za-z0-9._-]", "-", version),
        "stacks": " ".join(stacks),
        **({"commit": commit} if commit else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="set_image", description=(__doc__ or "").split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="a tag, sha256 digest, tag@digest or whole reference")
    source.add_argument("--from-ref", help="a git commit, tag or branch: the image each stack file had there")
    parser.add_argument("--stack", action="append", help="a stack whose file to edit (repeatable; default: all)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--github-output", type=Path, help="append image, version, branch, stacks (commit) here")
    args = parser.parse_args(argv)

    project_dir: Path = args.project_dir
    available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
    stacks: list[str] = args.stack or available
    try:
        unknown = [s for s in stacks if s not in available]
        if unknown:
            raise ImageError(f"no stack file for {', '.join(unknown)} (stacks: {', '.join(available)})")
        commit = resolve_ref(project_dir, args.from_ref) if args.from_ref is not None else None
        edits = [
            set_image(
                project_dir / f"Pulumi.{stack}.yaml",
                args.image if commit is None else image_at(project_dir, commit, stack),
            )
            for stack in stacks
        ]
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for edit in edits:  # written only once every file has passed
        edit.path.write_text(edit.text)
        print(f"{edit.path.name}: {APP_KEY}.image {edit.old} -> {edit.new}")
    if args.github_output:
        reference = ImageReference.parse(edits[0].new)
        with args.github_output.open("a") as out:
            out.writelines(f"{k}={v}\n" for k, v in _outputs(reference, stacks, commit).items())
    return 0


if __name__ == "__main__":
    sys.exit(main())
