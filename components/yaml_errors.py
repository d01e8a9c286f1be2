"""One line for a YAML syntax error in a file a person edits (a stack file): the preview, the settings' sibling
reads and the tools share it. Standard library only, so a tool or a renderer of another revision pays nothing
to import it."""

from __future__ import annotations


def yaml_error(file: str, exc: Exception) -> str:
    """One line for a YAML syntax error, the offending place first (`Pulumi.staging.yaml:6:4: expected <block
    end>, but found '<block mapping start>' (in the block mapping from line 2)`): PyYAML's own message leads
    with the enclosing block, which is rarely where the mistake is."""
    problem_mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem_mark is None or problem is None:
        return f"{file}: not valid YAML: {' '.join(str(exc).split())}"
    where = f"{file}:{problem_mark.line + 1}:{problem_mark.column + 1}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        inside = context.removeprefix("while ").replace("parsing a ", "the ").replace("scanning a ", "the ")
        return f"{where}: {problem} (in {inside} from line {context_mark.line + 1})"
    return f"{where}: {problem}"
