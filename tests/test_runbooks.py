"""Every command line of the docs' shell blocks (```sh, bash, shell, console) in README.md and every
docs/**/*.md uses subcommands and flags its tool has: kubectl against the installed binary's `--help`;
pulumi, velero, aws, gh and terraform against the flag tables generated from their source at a pinned
release (tests/support/cli_flags, tests/support/gen_cli_flags.py); `make` against the Makefile's targets.
Other commands (curl, jq, git, python) are not checked. Placeholders (`<stack>`) and variables pass as
values; a subcommand or flag that does not exist fails with file:line. And docs/runbooks.md runs what the
workflows run: their stack names, the production deploy's policy pack, every CI variable that names
production's cluster, and the pinned pulumi-kubernetes SDK's `kubernetes:deleteUnreachable`."""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import gen_cli_flags
from tests.support.stacks import PROJECT_DIR

TABLES = Path(gen_cli_flags.__file__).parent / "cli_flags"
TABLE_TOOLS = ("pulumi", "velero", "aws", "gh", "terraform", "kubectl-argo-rollouts")
# kubectl runs a plugin's binary for its words: `kubectl argo rollouts promote` is `kubectl-argo-rollouts promote`.
KUBECTL_PLUGINS = {("argo", "rollouts"): "kubectl-argo-rollouts"}
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
KUBECTL_INSTALL = "apt-get install kubernetes-client  (Debian's kubectl; .ci/run installs it)"
PLACEHOLDER = "__PLACEHOLDER__"
SUBSTITUTION = "__SUBSTITUTION__"


def doc_files(root: Path) -> list[Path]:
    """README.md and every Markdown file under docs/: a doc added later is picked up."""
    return [p for p in [root / "README.md", *sorted((root / "docs").rglob("*.md"))] if p.is_file()]


# --- from Markdown to command lines ----------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    argv: tuple[str, ...]


FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


def shell_blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """(language, line number of the block's first line, its lines) for every fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        end = i + 1
        while end < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            end += 1
        body = [line[indent:] if line[:indent].strip() == "" else line.lstrip() for line in lines[i + 1 : end]]
        yield opening.group("lang").lower(), i + 2, body
        i = end + 1


def logical_lines(language: str, first: int, lines: list[str]) -> Iterator[tuple[int, str]]:
    """Each command with its line number: continuation lines joined, console output left out."""
    i = 0
    while i < len(lines):
        line, number = lines[i], first + i
        if language == "console":
            if not line.startswith("$ "):
                i += 1
                continue
            line = line[2:]
        while (line.endswith("\\") or _open_quote(line)) and i + 1 < len(lines):
            i += 1
            line = (line[:-1] if line.endswith("\\") else line + "\n") + lines[i]
        i += 1
        if line.strip():
            yield number, line


def _open_quote(line: str) -> bool:
    try:
        shlex.split(_scan(line)[0] if "$(" in line or "`" in line else line, comments=True)
    except ValueError:
        return True
    return False


# Placeholders such as <stack> or <latest Completed backup>: one word, never a redirection.
PLACEHOLDERS = re.compile(r"<[A-Za-z0-9][^<>\n]*>")
CONTROL = re.compile(r"&&|\|\||;;|[|;&]")
REDIRECTION = re.compile(r"\d*(?:>>|>&|<&|&>|>|<)")


def _scan(line: str) -> tuple[str, list[str]]:
    """The line without comments, with each `$(...)`, `<(...)` and backquoted part replaced by a word,
    and the commands those parts hold."""
    out, inner, i, quote = [], [], 0, ""
    while i < len(line):
        c = line[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\" and quote != "'":
            out.append(line[i : i + 2])
            i += 2
            continue
        elif c == '"':
            quote = "" if quote == '"' else '"'
        elif c == "'" and not quote:
            quote = "'"
        elif line.startswith(("$(", "<(", ">("), i):
            depth, j = 1, i + 2
            while j < len(line) and depth:
                depth += {"(": 1, ")": -1}.get(line[j], 0)
                j += 1
            inner.append(line[i + 2 : j - 1])
            out.append(SUBSTITUTION)
            i = j
            continue
        elif c == "`":
            j = line.find("`", i + 1)
            j = len(line) if j < 0 else j
            inner.append(line[i + 1 : j])
            out.append(SUBSTITUTION)
            i = j + 1
            continue
        elif c == "#" and not quote and (i == 0 or line[i - 1] in " \t\n;|&("):
            break
        out.append(c)
        i += 1
    return "".join(out), inner


def split_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line: split at `&&`, `||`, `|`, `;`, `&`, with command substitutions
    as commands of their own, without redirections, comments, leading variable assignments and keywords."""
    text, inner = _scan(PLACEHOLDERS.sub(PLACEHOLDER, line))
    commands = [c for part in inner for c in split_commands(part)]
    segments, current, quote, i = [], [], "", 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "\\":
            current.append(text[i : i + 2])
            i += 2
            continue
        elif match := CONTROL.match(text, i):
            if not (c == "&" and i > 0 and text[i - 1] in "<>"):
                segments.append("".join(current))
                current = []
                i = match.end()
                continue
        elif (match := REDIRECTION.match(text, i)) and (i == 0 or text[i - 1] in " \t\n"):
            target = re.match(r"\s*(?:'[^']*'|\"[^\"]*\"|[^\s;|&]+)", text[match.end() :])
            i = match.end() + (target.end() if target else 0)
            continue
        current.append(c)
        i += 1
    segments.append("".join(current))
    for segment in segments:
        words = shlex.split(segment)
        while words and (
            words[0] in {"do", "then", "else", "elif", "if", "while", "until", "!", "{", "time", "exec", "sudo", "env"}
            or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])
        ):
            words.pop(0)
        if words and words[0] not in {"for", "case", "select", "function", "done", "fi", "esac", "}", "export"}:
            commands.append(words)
    return commands


def doc_commands(root: Path) -> list[Command]:
    found = []
    for path in doc_files(root):
        for language, first, lines in shell_blocks(path.read_text()):
            if language not in SHELL_LANGUAGES:
                continue
            for number, line in logical_lines(language, first, lines):
                where = f"{path.relative_to(root)}:{number}"
                found += [Command(where, as_plugin(tuple(words))) for words in split_commands(line)]
    return found


def as_plugin(argv: tuple[str, ...]) -> tuple[str, ...]:
    """A kubectl plugin's command line as the plugin's binary gets it."""
    if argv and Path(argv[0]).name == "kubectl":
        for words, binary in KUBECTL_PLUGINS.items():
            if argv[1 : 1 + len(words)] == words:
                return (binary, *argv[1 + len(words) :])
    return argv


def tool_of(command: Command) -> str:
    return Path(command.argv[0]).name


# --- checking against the vendored tables ----------------------------------------------------------


@cache
def table(tool: str) -> dict[str, Any]:
    return json.loads((TABLES / f"{tool}.json").read_text())


def _unverifiable(word: str) -> bool:
    return PLACEHOLDER in word or SUBSTITUTION in word or "$" in word


def _optional_notation(word: str) -> str:
    """`[--stack` and `staging]` of the docs' `[--stack staging]`: the words without the brackets."""
    if word.startswith("[") and len(word) > 1:
        word = word[1:]
    if word.endswith("]") and "[" not in word:
        word = word[:-1]
    return word


def _flag_error(tool: str, where: str, flag: str, known: dict[str, str], context: str) -> str:
    close = difflib.get_close_matches(flag, list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{where}: {tool} {context}: unknown flag {flag}{hint}"


def check_with_table(tool: str, command: Command) -> list[str]:
    spec = table(tool)
    go_style = spec["dash_style"] == "go"
    words = [_optional_notation(w) for w in command.argv[1:]]
    names = {}
    for path, entry in spec["commands"].items():
        names[tuple(path.split())] = path
        for alias in entry.get("aliases", []):
            names[(*path.split()[:-1], alias)] = path

    def normal(word: str) -> str:
        return "-" + word.lstrip("-") if go_style and word.startswith("-") else word

    # The leading words that name the subcommand (flags may come between them in cobra tools).
    leading: list[str] = []
    i = 0
    while i < len(words) and len(leading) < max(len(k) for k in names):
        word = normal(words[i])
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            if "=" not in word and spec["global"].get(name) == "value":
                i += 1
            i += 1
            continue
        leading.append(words[i])
        i += 1
    for size in range(len(leading), 0, -1):
        if tuple(leading[:size]) in names:
            path = names[tuple(leading[:size])]
            break
    else:
        if leading and _unverifiable(leading[0]):
            return []
        shown = " ".join(leading[:2]) or "(none)"
        return [
            f"{command.where}: {tool} {shown}: not a subcommand of the vendored {tool} table "
            f"({', '.join(spec['commands'])}); if it is real, add it to tests/support/gen_cli_flags.py"
        ]
    entry = spec["commands"][path]
    known = {**spec["global"], **entry["flags"]}
    arguments, skip_path, only_arguments = 0, len(path.split()), False
    i = 0
    while i < len(words):
        word = normal(words[i])
        i += 1
        if only_arguments or not word.startswith("-") or word == "-":
            if skip_path and words[i - 1] in (path.split() + entry.get("aliases", [])):
                skip_path -= 1
                continue
            arguments += 1
            only_arguments = only_arguments or (go_style and skip_path == 0)
            continue
        if word == "--":
            only_arguments = True
            continue
        name, has_value = word.split("=", 1)[0], "=" in word
        if not go_style and not name.startswith("--") and len(name) > 2:  # a cluster of shorthands: -abc
            for k, short in enumerate(name[1:]):
                kind = known.get(f"-{short}")
                if kind is None:
                    # The first error only: what follows an unknown flag cannot be read.
                    return [_flag_error(tool, command.where, f"-{short}", known, path)]
                if kind != "bool":
                    if k == len(name) - 2 and not has_value:
                        i += 1
                    break
            continue
        kind = known.get(name)
        if kind is None:
            return [_flag_error(tool, command.where, name, known, path)]
        # Its value is the next word: always for a value flag, unless it is an option for argparse's nargs='?'.
        maybe_next = i < len(words) and not words[i].startswith("-")
        if not has_value and (kind == "value" or (kind == "maybe" and maybe_next)):
            i += 1
    if entry["max_args"] is not None and arguments > entry["max_args"]:
        return [
            f"{command.where}: {tool} {path}: takes at most {entry['max_args']} argument(s), got {arguments} "
            "(a subcommand that does not exist, or a flag's value without its flag?)"
        ]
    return []


# --- make ----------------------------------------------------------------------------------------


def make_targets(makefile: Path) -> set[str]:
    targets = set()
    for line in makefile.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_./-]+(?:[ \t]+[A-Za-z0-9_./-]+)*)[ \t]*:(?!=)", line)
        if match and not line.startswith("\t"):
            targets.update(t for t in match.group(1).split() if not t.startswith("."))
    return targets


def check_make(command: Command, root: Path) -> list[str]:
    targets = make_targets(root / "Makefile")
    errors, words, i = [], [_optional_notation(w) for w in command.argv[1:]], 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.startswith("-"):
            i += word in ("-C", "-f", "-I", "-o", "-W", "-l")  # make's options that take the next word
            continue
        if "=" in word or _unverifiable(word):
            continue
        if word not in targets:
            close = difflib.get_close_matches(word, sorted(targets), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            errors.append(f"{command.where}: make {word}: no such target in the Makefile{hint}")
    return errors


# --- kubectl: the real binary ---------------------------------------------------------------------


@cache
def kubectl_help(path: tuple[str, ...]) -> tuple[frozenset[str], dict[str, str]]:
    """The subcommands and the options `kubectl <path> --help` lists (`kubectl options` for the global ones)."""
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    argv = [kubectl, "options"] if path == ("options",) else [kubectl, *path, "--help"]
    env = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": os.devnull}  # help reads no cluster config
    text = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
    subcommands, options, section = set(), {}, ""
    for line in text.splitlines():
        if re.match(r"^\S.*:\s*$", line):
            section = line
            continue
        if "Commands" in section and (match := re.match(r"^  ([a-z][\w-]*)\s{2,}\S", line)):
            subcommands.add(match.group(1))
        # `    -n, --namespace='':` (kubectl 1.2x: the description on the next line) or, in older releases,
        # `  -n, --namespace='': The namespace...` (on the same line).
        if match := re.match(r"^\s+(?:-(\w), )?--([\w-]+)=(.*?):(?:\s|$)", line):
            kind = "bool" if match.group(3) in ("true", "false") else "value"
            options[f"--{match.group(2)}"] = kind
            if match.group(1):
                options[f"-{match.group(1)}"] = kind
    return frozenset(subcommands), options


def check_kubectl(command: Command) -> list[str]:
    global_options = kubectl_help(("options",))[1] | {"--help": "bool", "-h": "bool"}
    path: list[str] = []
    subcommands, options = kubectl_help(())
    words, i = list(command.argv[1:]), 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            known = {**global_options, **options} if path else global_options
            kind = known.get(name)
            if kind is None and not name.startswith("--") and len(name) > 2:
                kind = known.get(name[:2])  # -oyaml, -nproduction: a shorthand with its value attached
                if kind is not None:
                    continue
            if kind is None:
                return [_flag_error("kubectl", command.where, name, known, " ".join(path) or "(root)")]
            if kind == "value" and "=" not in word:
                i += 1
            continue
        if subcommands:
            if _unverifiable(word):
                return []
            if word not in subcommands:
                close = difflib.get_close_matches(word, sorted(subcommands), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                return [f"{command.where}: kubectl {' '.join([*path, word])}: unknown subcommand{hint}"]
            path.append(word)
            subcommands, options = kubectl_help(tuple(path))
    return []


# --- all of it -------------------------------------------------------------------------------------


def check(command: Command, root: Path) -> list[str]:
    tool = tool_of(command)
    if tool in TABLE_TOOLS:
        return check_with_table(tool, command)
    if tool == "make":
        return check_make(command, root)
    if tool == "kubectl":
        if shutil.which("kubectl") is None:
            pytest.skip(f"kubectl is not installed: {KUBECTL_INSTALL}")
        return check_kubectl(command)
    return []


@pytest.mark.parametrize("tool", [*TABLE_TOOLS, "make", "kubectl"])
def test_every_command_in_the_docs_uses_subcommands_and_flags_its_tool_has(tool: str) -> None:
    commands = [c for c in doc_commands(PROJECT_DIR) if tool_of(c) == tool]
    if tool == "kubectl" and shutil.which("kubectl") is None:
        pytest.skip(f"kubectl is not installed: {KUBECTL_INSTALL}")
    errors = [e for c in commands for e in check(c, PROJECT_DIR)]
    assert errors == [], "\n".join(errors)


def test_the_docs_hold_commands_of_every_checked_tool() -> None:
    # An extraction that found nothing would pass everything.
    tools = {tool_of(c) for c in doc_commands(PROJECT_DIR)}
    assert {"pulumi", "velero", "aws", "gh", "kubectl", "kubectl-argo-rollouts", "make"} <= tools
    runbook = [c for c in doc_commands(PROJECT_DIR) if c.where.startswith("docs/runbooks.md")]
    assert any(c.argv[:3] == ("gh", "workflow", "run") and "rollback.yml" in c.argv for c in runbook)
    assert any(c.argv[:2] == ("pulumi", "up") and "--policy-pack" in c.argv for c in runbook)


# --- the extraction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("pulumi up --stack production  # a comment", [["pulumi", "up", "--stack", "production"]]),
        ("FOO=1 BAR='a b' velero backup get -n velero", [["velero", "backup", "get", "-n", "velero"]]),
        (
            "kubectl get pods | grep -i error && make test; echo done",
            [["kubectl", "get", "pods"], ["grep", "-i", "error"], ["make", "test"], ["echo", "done"]],
        ),
        (
            "velero backup create hft-$(date -u +%Y%m%d) --wait 2>/dev/null",
            [["date", "-u", "+%Y%m%d"], ["velero", "backup", "create", f"hft-{SUBSTITUTION}", "--wait"]],
        ),
        (
            "velero restore create --from-backup <latest Completed backup> -n velero",
            [["velero", "restore", "create", "--from-backup", PLACEHOLDER, "-n", "velero"]],
        ),
        ("echo ${phase##*:} # not a comment before", [["echo", "${phase##*:}"]]),
        ('[ -n "$ID" ] && pulumi import a b "$ID"', [["[", "-n", "$ID", "]"], ["pulumi", "import", "a", "b", "$ID"]]),
        ("for phase in a b; do", []),
        ("done", []),
        ("aws s3 ls 's3://bucket/#not-a-comment'", [["aws", "s3", "ls", "s3://bucket/#not-a-comment"]]),
    ],
)
def test_command_lines_are_split_as_the_shell_would(line: str, expected: list[list[str]]) -> None:
    assert split_commands(line) == expected


def test_blocks_continuations_console_prompts_and_indented_fences(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "text\n\n```sh\npulumi up \\\n  --stack production \\\n  --yes\n```\n\n"
        "```console\n$ velero backup get\nNAME   STATUS\n$ make test\n```\n\n"
        "1. step\n\n   ```bash\n   gh run list\n   ```\n\n```yaml\nkubectl: not a command\n```\n"
    )
    assert [(c.where, c.argv) for c in doc_commands(tmp_path)] == [
        ("README.md:4", ("pulumi", "up", "--stack", "production", "--yes")),
        ("README.md:10", ("velero", "backup", "get")),
        ("README.md:12", ("make", "test")),
        ("README.md:18", ("gh", "run", "list")),
    ]


# --- it fails where it should ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("pulumi up --stak production", "pulumi up: unknown flag --stak (did you mean --stack?)"),
        ("pulumi stack histroy --stack production", "pulumi stack histroy: not a subcommand"),
        ("pulumi config set --path app.image v1 extra", "takes at most 2 argument(s), got 3"),
        ("pulumi refresh --run-progam", "unknown flag --run-progam (did you mean --run-program?)"),
        ("velero restore create --from-backupp b -n velero", "unknown flag --from-backupp"),
        ("velero backup descirbe b", "velero backup descirbe: not a subcommand"),
        ("aws sts assume-rol --role-arn x", "aws sts assume-rol: not a subcommand"),
        ("aws eks update-kubeconfig --nam prod --region us-east-1", "unknown flag --nam (did you mean --name?)"),
        ("gh workflow rn rollback.yml -f image=v1", "gh workflow rn: not a subcommand"),
        ("gh variable set X --environment production --body y", "unknown flag --environment"),
        ("terraform state rm -dryrun cloudflare_zone.x", "unknown flag -dryrun (did you mean -dry-run?)"),
        ("make previw STACK=production", "make previw: no such target in the Makefile (did you mean preview?)"),
    ],
)
def test_a_realistic_typo_fails_with_its_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    shutil.copy(PROJECT_DIR / "Makefile", tmp_path / "Makefile")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "new-runbook.md").write_text(f"# New\n\n```sh\n# a comment\n{line}\n```\n")
    errors = [e for c in doc_commands(tmp_path) for e in check(c, tmp_path)]
    assert len(errors) == 1, errors
    assert errors[0].startswith("docs/new-runbook.md:5: ")
    assert message in errors[0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "kubectl rollout undoo deployment/hft-frontend",
            "kubectl rollout undoo: unknown subcommand (did you mean undo?)",
        ),
        ("kubectl -n production get deploy --ouput yaml", "unknown flag --ouput"),
        ("kubectl scael deployment/x --replicas 3", "kubectl scael: unknown subcommand (did you mean scale?)"),
    ],
)
def test_a_kubectl_typo_fails_against_the_real_binary(tmp_path: Path, line: str, message: str) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip(f"kubectl is not installed: {KUBECTL_INSTALL}")
    (tmp_path / "README.md").write_text(f"```bash\n{line}\n```\n")
    errors = [e for c in doc_commands(tmp_path) for e in check(c, tmp_path)]
    assert len(errors) == 1, errors
    assert errors[0].startswith("README.md:2: ")
    assert message in errors[0]


def test_correct_lines_of_every_kind_pass(tmp_path: Path) -> None:
    shutil.copy(PROJECT_DIR / "Makefile", tmp_path / "Makefile")
    (tmp_path / "README.md").write_text(
        "```sh\n"
        "pulumi up -s production -y --refresh --policy-pack policies\n"  # --refresh takes no separate value
        "pulumi stack hist --stack production\n"  # an alias
        "pulumi -C infra preview --diff\n"  # a global flag before the subcommand
        "velero backup create b --from-schedule s --wait -n velero\n"
        "aws --region us-east-1 s3 ls s3://bucket/ --recursive --request-payer\n"
        "gh run list -w rollback.yml -L 3\n"
        "terraform -chdir=seed state rm --dry-run cloudflare_zone.main\n"
        "make audit FILE=<state> [REPORT=<file>]\n"
        "```\n"
    )
    assert [e for c in doc_commands(tmp_path) for e in check(c, tmp_path)] == []


# --- the tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", TABLE_TOOLS)
def test_each_table_names_its_source(tool: str) -> None:
    spec = table(tool)
    provenance = spec["provenance"]
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", provenance["repository"])
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", provenance["tag"])
    assert re.fullmatch(r"[0-9a-f]{40}", provenance["commit"])
    assert provenance["files"]
    assert all(f.startswith(provenance["repository"]) or "klog" in f or "cli-runtime" in f for f in provenance["files"])
    assert spec["commands"]
    for path, entry in spec["commands"].items():
        # `abort` and `retry rollout` define no flag of their own (argo-rollouts v1.9.1's source).
        assert entry["flags"] or (tool, path) in {
            ("kubectl-argo-rollouts", "abort"),
            ("kubectl-argo-rollouts", "retry rollout"),
        }, path
        assert set(entry["flags"].values()) <= {"bool", "value", "optional", "maybe"}


def test_velero_table_is_the_release_the_stacks_install() -> None:
    assert table("velero")["provenance"]["tag"] == "v1.18.1"  # README, "Backups": chart 12.1.0 = Velero 1.18.1


# --- the generator's readers, on source as the upstream repositories write it ---------------------

GO_SOURCE = """
func NewThingCmd() *cobra.Command {
	var stack string
	cmd := &cobra.Command{
		Use:     "thing",
		Aliases: []string{"th"},
		Args:    cobra.MaximumNArgs(1),
	}
	cmd.PersistentFlags().StringVarP(&stack, "stack", "s", "", "The stack {not a brace}")
	cmd.Flags().BoolVar(&yes, "yes", false, "Yes")
	f := cmd.Flags().VarPF(&opt, "refresh", "r", "Optional value")
	f.NoOptDefVal = "true"
	cmdutil.StringEnumFlag(cmd, &opts.Status, "status", "", "", []string{"a"}, "Status")
	n := strconv.Itoa(3) // not a flag
	return cmd
}

func (o *Options) BindFlags(flags *pflag.FlagSet) {
	flags.DurationVar(&o.TTL, "ttl", o.TTL, "TTL")
}
"""


def test_the_generator_reads_cobra_flags_arguments_and_aliases() -> None:
    tool = gen_cli_flags.GoTool(
        "x/y", "v1.0.0", "cobra", (), {}, named_helpers={"cmdutil.StringEnumFlag": (2, 3, False)}
    )
    body = gen_cli_flags.go_function(GO_SOURCE, "NewThingCmd")
    flags = {f.name: (f.short, f.kind, f.persistent) for f in gen_cli_flags.go_flags(body, tool)}
    assert flags == {
        "stack": ("s", "value", True),
        "yes": (None, "bool", False),
        "refresh": ("r", "optional", False),
        "status": (None, "value", False),
    }
    assert gen_cli_flags._max_args(body) == 1
    method = gen_cli_flags.go_function(GO_SOURCE, "(*Options) BindFlags")
    assert [(f.name, f.persistent) for f in gen_cli_flags.go_flags(method, tool)] == [("ttl", None)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AssumeRole", "assume-role"),
        ("RoleSessionName", "role-session-name"),
        ("PolicyArns", "policy-arns"),
        ("ListARNs", "list-arns"),
        ("LookupEvents", "lookup-events"),
    ],
)
def test_the_generator_names_aws_operations_as_the_cli_does(name: str, expected: str) -> None:
    assert gen_cli_flags.xform_name(name) == expected


# --- the runbook runs what the workflows run --------------------------------------------------------

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
RUNBOOK = "docs/runbooks.md"


@cache
def _workflow_jobs(name: str) -> dict[str, dict[str, Any]]:
    return yaml.safe_load((WORKFLOWS / name).read_text())["jobs"]


def _pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    return step


def _runbook(tool: str) -> list[Command]:
    return [c for c in doc_commands(PROJECT_DIR) if c.where.startswith(RUNBOOK + ":") and tool_of(c) == tool]


def _option(argv: tuple[str, ...], *names: str) -> str | None:
    for i, word in enumerate(argv):
        for name in names:
            if word == name and i + 1 < len(argv):
                return argv[i + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def _pulumi_path(command: Command) -> str | None:
    positional = [w for w in command.argv[1:3] if not w.startswith("-")]
    for length in (2, 1):
        path = " ".join(positional[:length])
        for name, entry in table("pulumi")["commands"].items():
            if path == name or path in (" ".join([*name.split()[:-1], a]) for a in entry.get("aliases", [])):
                return name
    return None


def test_the_runbooks_pulumi_lines_name_the_stacks_as_the_workflows_do() -> None:
    # The workflows' stacks are `${{ vars.PULUMI_ORG }}/hft-frontend/<stack>`; a runbook line naming
    # `production` alone would act on another stack (or none) of the operator's Pulumi Cloud login.
    names = {
        re.sub(r"\$\{\{\s*vars\.PULUMI_ORG\s*\}\}", PLACEHOLDER, _pulumi_step(job)["with"]["stack-name"])
        for job_id, job in _workflow_jobs("deploy.yml").items()
        if job_id in ("staging", "production")
    }
    assert names == {f"{PLACEHOLDER}/hft-frontend/staging", f"{PLACEHOLDER}/hft-frontend/production"}
    checked = 0
    for command in _runbook("pulumi"):
        path = _pulumi_path(command)
        assert path is not None, f"{command.where}: {' '.join(command.argv)}"
        if "--stack" not in table("pulumi")["commands"][path]["flags"]:
            continue  # login
        stack = _option(command.argv, "--stack", "-s")
        assert stack in names, f"{command.where}: pulumi {path} --stack {stack}, not the workflows' stack name"
        checked += 1
    assert checked >= 5


def test_the_runbooks_updates_apply_the_policy_pack_as_the_production_deploy_does() -> None:
    deploy = _pulumi_step(_workflow_jobs("deploy.yml")["production"])["with"]
    updates = [c for c in _runbook("pulumi") if _pulumi_path(c) in ("up", "preview")]
    assert any(_pulumi_path(c) == "up" for c in updates)
    for command in updates:
        assert _option(command.argv, "--policy-pack") == deploy["policyPacks"], command.where
        # The same pack config as CI: none unless the deploy gives one.
        assert _option(command.argv, "--policy-pack-config") == deploy.get("policyPackConfigs"), command.where


def _production_cluster_variables() -> set[tuple[str, str | None]]:
    """(variable, environment or None for a repository variable) of every workflow job that reaches
    production's cluster: what it passes to `aws eks update-kubeconfig --name`."""
    found: set[tuple[str, str | None]] = set()
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in _workflow_jobs(path.name).values():
            steps = [s for s in job.get("steps", []) if "update-kubeconfig" in s.get("run", "")]
            if not steps:
                continue
            matrix = job.get("strategy", {}).get("matrix", {})
            rows = matrix.get("include") or [{"stack": s} for s in matrix.get("stack", [])] or [{}]
            for row in rows:
                environment = job.get("environment")
                environment = environment.get("name") if isinstance(environment, dict) else environment
                if environment is not None:
                    environment = re.sub(r"\$\{\{\s*matrix\.stack\s*\}\}", row.get("stack", ""), environment)
                stack = row.get("stack") or environment
                if stack is None or not stack.endswith("production"):
                    continue
                value = steps[0]["env"]["EKS_CLUSTER"]
                matrix_key = re.fullmatch(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", value)
                value = row[matrix_key.group(1)] if matrix_key else value
                variable = re.fullmatch(r"\$\{\{\s*vars\.(\w+)\s*\}\}", value)
                assert variable, f"{path.name}: the cluster comes from {value}"
                found.add((variable.group(1), environment))
    return found


def test_the_recovery_points_every_workflow_at_the_new_cluster() -> None:
    expected = _production_cluster_variables()
    assert ("EKS_CLUSTER_NAME", "production") in expected  # deploy.yml's production job, and the rollback
    set_in_runbook = {
        (c.argv[3], _option(c.argv, "--env", "-e"))
        for c in _runbook("gh")
        if c.argv[1:3] == ("variable", "set") and _option(c.argv, "--body", "-b") is not None
    }
    assert expected <= set_in_runbook, f"not set by the runbook: {sorted(expected - set_in_runbook, key=str)}"


def test_the_recovery_names_the_providers_delete_unreachable_key() -> None:
    import pulumi_kubernetes

    # The provider config key, as the pinned SDK names it (`@pulumi.getter(name="deleteUnreachable")`).
    getter = pulumi_kubernetes.ProviderArgs.delete_unreachable.fget
    key = "kubernetes:" + getattr(getter, "_pulumi_name", "")
    assert key == "kubernetes:deleteUnreachable"
    config = [c for c in _runbook("pulumi") if _pulumi_path(c) in ("config set", "config rm")]
    assert [c.argv[3] for c in config] == [key, key]  # set for the refresh, then removed
    assert config[0].argv[4] == "true"
