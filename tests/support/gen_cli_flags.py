"""Generates tests/support/cli_flags/<tool>.json: the subcommands the docs use and the flags each accepts,
read from the tool's own source at a pinned release. tests/test_runbooks.py checks every command line of
the docs' shell blocks against them.

    python -m tests.support.gen_cli_flags --mirror pulumi/pulumi=<git dir> --mirror vmware-tanzu/velero=<git dir> \\
        --mirror kubernetes/klog=<git dir> --mirror cli/cli=<git dir> --mirror aws/aws-cli=<git dir> \\
        --mirror hashicorp/terraform=<git dir> --mirror argoproj/argo-rollouts=<git dir> \\
        --mirror kubernetes/cli-runtime=<git dir> [--tool pulumi ...]

A mirror is any clone of the repository (a bare one will do) holding the release's tag. Nothing is run or
built: the Go tools' flags are read from their pflag/flag definitions (`cmd.Flags().StringVarP(&x, "stack",
"s", ...)`), their argument counts from cobra's `Args` or Pulumi's constrictor, the AWS CLI's from the
botocore service models it ships and the argument tables of its customizations. Only the subcommands listed
below are vendored (the ones the docs use), each with every flag its own code, its parents' persistent flags
and the root's give it. kubectl is not here: the tests ask the real binary's `--help`; its plugin
`kubectl argo rollouts` is (`kubectl-argo-rollouts`, the binary kubectl runs for it).

To add a subcommand a doc needs: add it to COMMANDS of its tool (the function that builds it, its parents),
run this, and commit the regenerated table.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline_preview.live import S3_CALLS

OUT_DIR = Path(__file__).resolve().parent / "cli_flags"

# --- the pinned releases and what is read from them ------------------------------------------------


@dataclass(frozen=True)
class Src:
    """A Go function whose flag definitions count: `name` is `NewUpCmd` or `(*CreateOptions) BindFlags`."""

    path: str
    name: str
    repo: str = ""  # another mirror than the tool's own (klog for velero)
    tag: str = ""  # that mirror's release, when it is not the tool's (cli-runtime for kubectl-argo-rollouts)
    persistent: bool = False  # every flag it defines is inherited (a root's flag set bound to PersistentFlags)


@dataclass(frozen=True)
class Cmd:
    own: tuple[Src, ...]  # the constructor first (its Use, Aliases and Args are read)
    parents: tuple[Src, ...] = ()  # only their persistent flags count


@dataclass(frozen=True)
class GoTool:
    repo: str
    tag: str
    style: str  # "cobra" (pflag: --long, -s) or "goflag" (Go's flag package: -name or --name)
    root: tuple[Src, ...]
    commands: dict[str, Cmd]
    # Helpers called from a command's code that define flags: name -> where they are.
    helpers: dict[str, Src] = field(default_factory=dict)
    # Helpers that define one flag named by the call: name -> (index of the name, of the shorthand, bool?).
    named_helpers: dict[str, tuple[int, int | None, bool]] = field(default_factory=dict)
    note: str = ""


P = "pkg/cmd/pulumi/"
PULUMI = GoTool(
    repo="pulumi/pulumi",
    # The workflows pin the CLI at 3.272.0; the newest release tag of the repository snapshot this was generated
    # from is v3.259.0. The flags the docs use are older than both.
    tag="v3.259.0",
    style="cobra",
    root=(Src(P + "pulumi.go", "NewPulumiCmd"),),
    helpers={
        "config.OverrideEnvFlag": Src(P + "config/io.go", "OverrideEnvFlag"),
        "cmdConfig.OverrideEnvFlag": Src(P + "config/io.go", "OverrideEnvFlag"),
        "remoteArgs.ApplyFlags": Src(P + "deployment/remote.go", "(*RemoteArgs) ApplyFlags"),
        "outputflag.Var": Src("pkg/util/outputflag/outputflag.go", "Var"),
        "outputflag.VarP": Src("pkg/util/outputflag/outputflag.go", "VarP"),
        "outputflag.VarWithJSONAlias": Src("pkg/util/outputflag/outputflag.go", "VarWithJSONAlias"),
    },
    commands={
        "up": Cmd((Src(P + "operations/up.go", "NewUpCmd"),)),
        "preview": Cmd((Src(P + "operations/preview.go", "NewPreviewCmd"),)),
        "refresh": Cmd((Src(P + "operations/refresh.go", "NewRefreshCmd"),)),
        "import": Cmd((Src(P + "operations/import.go", "NewImportCmd"),)),
        "login": Cmd((Src(P + "auth/login.go", "NewLoginCmd"),)),
        "config set": Cmd(
            (Src(P + "config/config.go", "newConfigSetCmd"),), (Src(P + "config/config.go", "NewConfigCmd"),)
        ),
        "config rm": Cmd(
            (Src(P + "config/config.go", "newConfigRemoveCmd"),), (Src(P + "config/config.go", "NewConfigCmd"),)
        ),
        "stack export": Cmd(
            (Src(P + "stack/stack_export.go", "newStackExportCmd"),), (Src(P + "stack/stack.go", "NewStackCmd"),)
        ),
        "stack history": Cmd(
            (Src(P + "stack/stack_history.go", "newStackHistoryCmd"),), (Src(P + "stack/stack.go", "NewStackCmd"),)
        ),
        "stack select": Cmd(
            (Src(P + "stack/stack_select.go", "newStackSelectCmd"),), (Src(P + "stack/stack.go", "NewStackCmd"),)
        ),
    },
)

V = "pkg/cmd/cli/"
VELERO = GoTool(
    repo="vmware-tanzu/velero",
    tag="v1.18.1",  # Velero 1.18.1: the chart 12.1.0 the stacks install (README, "Backups")
    style="cobra",
    root=(
        Src("pkg/cmd/velero/velero.go", "NewCommand"),
        Src("pkg/client/factory.go", "NewFactory", persistent=True),  # f.BindFlags(c.PersistentFlags())
        # klog.InitFlags(flag.CommandLine) copies the flags klog's init() defines; then
        # c.PersistentFlags().AddGoFlagSet(flag.CommandLine). klog v2.130.1 (velero's go.mod).
        Src("klog.go", "init", repo="kubernetes/klog", persistent=True),
    ),
    helpers={"output.BindFlags": Src("pkg/cmd/util/output/output.go", "BindFlags")},
    commands={
        "backup create": Cmd(
            (
                Src(V + "backup/create.go", "NewCreateCommand"),
                Src(V + "backup/create.go", "(*CreateOptions) BindFlags"),
                Src(V + "backup/create.go", "(*CreateOptions) BindWait"),
                Src(V + "backup/create.go", "(*CreateOptions) BindFromSchedule"),
            )
        ),
        "backup get": Cmd((Src(V + "backup/get.go", "NewGetCommand"),)),
        "backup describe": Cmd((Src(V + "backup/describe.go", "NewDescribeCommand"),)),
        "backup logs": Cmd(
            (Src(V + "backup/logs.go", "NewLogsCommand"), Src(V + "backup/logs.go", "(*LogsOptions) BindFlags"))
        ),
        "backup-location get": Cmd((Src(V + "backuplocation/get.go", "NewGetCommand"),)),
        "restore create": Cmd(
            (
                Src(V + "restore/create.go", "NewCreateCommand"),
                Src(V + "restore/create.go", "(*CreateOptions) BindFlags"),
            )
        ),
        "restore describe": Cmd((Src(V + "restore/describe.go", "NewDescribeCommand"),)),
        "restore logs": Cmd((Src(V + "restore/logs.go", "NewLogsCommand"),)),
    },
)

GH = GoTool(
    repo="cli/cli",
    tag="v2.60.0",  # the newest release in the repository snapshot this was generated from
    style="cobra",
    root=(Src("pkg/cmd/root/root.go", "NewCmdRoot"),),
    helpers={
        "cmdutil.EnableRepoOverride": Src("pkg/cmdutil/repo_override.go", "EnableRepoOverride"),
        "cmdutil.AddJSONFlags": Src("pkg/cmdutil/json_flags.go", "AddJSONFlags"),
    },
    named_helpers={"cmdutil.StringEnumFlag": (2, 3, False)},
    commands={
        "workflow run": Cmd(
            (Src("pkg/cmd/workflow/run/run.go", "NewCmdRun"),), (Src("pkg/cmd/workflow/workflow.go", "NewCmdWorkflow"),)
        ),
        "run list": Cmd((Src("pkg/cmd/run/list/list.go", "NewCmdList"),), (Src("pkg/cmd/run/run.go", "NewCmdRun"),)),
        "run watch": Cmd(
            (Src("pkg/cmd/run/watch/watch.go", "NewCmdWatch"),), (Src("pkg/cmd/run/run.go", "NewCmdRun"),)
        ),
        "variable set": Cmd(
            (Src("pkg/cmd/variable/set/set.go", "NewCmdSet"),), (Src("pkg/cmd/variable/variable.go", "NewCmdVariable"),)
        ),
    },
)

TERRAFORM = GoTool(
    repo="hashicorp/terraform",
    tag="v1.15.9",  # the newest release (not a pre-release) in the repository snapshot
    style="goflag",
    root=(),  # main.go parses its global options by hand: read apart (_terraform_globals)
    helpers={"extendedFlagSet": Src("internal/command/arguments/extended.go", "extendedFlagSet")},
    commands={
        # The adoption's hand-over of the seed's Cloudflare state (docs/adoption.md): `state pull` to export it,
        # `state rm` of what Pulumi takes (never a destroy), a targeted `destroy` of what the rulesets supersede.
        "state rm": Cmd((Src("internal/command/arguments/state_rm.go", "ParseStateRm"),)),
        "state pull": Cmd((Src("internal/command/arguments/state_pull.go", "ParseStatePull"),)),
        # ParseApplyDestroy is ParseApply's flags with the plan mode set to destroy.
        "destroy": Cmd((Src("internal/command/arguments/apply.go", "ParseApply"),)),
        "state list": Cmd((Src("internal/command/arguments/state_list.go", "ParseStateList"),)),
    },
)

A = "pkg/kubectl-argo-rollouts/cmd/"
CLI_RUNTIME_TAG = "v0.34.1"  # argo-rollouts v1.9.1's go.mod (require and replace)
ARGO_ROLLOUTS = GoTool(
    repo="argoproj/argo-rollouts",
    tag="v1.9.1",  # the controller the canary stacks install (docs/delivery.md)
    style="cobra",
    root=(
        Src(A + "cmd.go", "NewCmdArgoRollouts"),
        # o.AddKubectlFlags(cmd): cmd.PersistentFlags(), kubectl's ConfigFlags (cli-runtime) plus two of its own.
        Src("pkg/kubectl-argo-rollouts/options/options.go", "(*ArgoRolloutsOptions) AddKubectlFlags", persistent=True),
        Src(
            "pkg/genericclioptions/config_flags.go",
            "(*ConfigFlags) AddFlags",
            repo="kubernetes/cli-runtime",
            tag=CLI_RUNTIME_TAG,
            persistent=True,
        ),
    ),
    commands={
        "status": Cmd((Src(A + "status/status.go", "NewCmdStatus"),)),
        "promote": Cmd((Src(A + "promote/promote.go", "NewCmdPromote"),)),
        "abort": Cmd((Src(A + "abort/abort.go", "NewCmdAbort"),)),
        "retry rollout": Cmd(
            (Src(A + "retry/retry.go", "NewCmdRetryRollout"),), (Src(A + "retry/retry.go", "NewCmdRetry"),)
        ),
        "get rollout": Cmd((Src(A + "get/get_rollout.go", "NewCmdGetRollout"),), (Src(A + "get/get.go", "NewCmdGet"),)),
    },
)

GO_TOOLS = {
    "pulumi": PULUMI,
    "velero": VELERO,
    "gh": GH,
    "terraform": TERRAFORM,
    "kubectl-argo-rollouts": ARGO_ROLLOUTS,
}

AWS_REPO, AWS_TAG = "aws/aws-cli", "2.36.7"  # AWS CLI v2: the newest 2.x release tag in the snapshot
AWS_OPERATIONS = {
    "sts": ["assume-role", "get-caller-identity"],
    "cloudtrail": ["lookup-events"],
    "iam": ["update-assume-role-policy"],
    "eks": ["create-access-entry", "describe-addon", "update-addon"],
    # The adoption's export of the backup bucket (docs/adoption.md): the calls make adopt reads.
    "s3api": list(S3_CALLS),
}
AWS_MODEL_DIRS = {"s3api": "s3"}  # the CLI's command name where it differs from the botocore model's folder
AWS_CUSTOM = {  # commands the CLI adds in Python, not from a service model: (file, class, argument-table name)
    "s3 ls": ("awscli/customizations/s3/subcommands.py", "ListCommand"),
    "eks update-kubeconfig": ("awscli/customizations/eks/update_kubeconfig.py", "UpdateKubeconfigCommand"),
}


# --- git ---------------------------------------------------------------------------------------------


class Mirror:
    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir

    def _git(self, *args: str) -> str:
        result = subprocess.run(["git", "--git-dir", str(self.git_dir), *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"git {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def commit(self, tag: str) -> str:
        return self._git("rev-parse", f"{tag}^{{commit}}").strip()

    def show(self, tag: str, path: str) -> str:
        return self._git("show", f"{tag}:{path}")

    def ls(self, tag: str, path: str) -> list[str]:
        return self._git("ls-tree", "--name-only", f"{tag}:{path}").split()


# --- reading Go ----------------------------------------------------------------------------------------


def _skip_literal(src: str, i: int) -> int:
    """The index after the string, rune or comment starting at src[i], or i when there is none."""
    c = src[i]
    if c == "/" and src.startswith("//", i):
        end = src.find("\n", i)
        return len(src) if end < 0 else end
    if c == "/" and src.startswith("/*", i):
        return src.index("*/", i + 2) + 2
    if c == "`":
        return src.index("`", i + 1) + 1
    if c in "\"'":
        j = i + 1
        while src[j] != c:
            j += 2 if src[j] == "\\" else 1
        return j + 1
    return i


def _matching(src: str, i: int) -> int:
    """The index of the bracket closing the one at src[i]."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = [pairs[src[i]]]
    j = i + 1
    while stack:
        k = _skip_literal(src, j)
        if k != j:
            j = k
            continue
        if src[j] in pairs:
            stack.append(pairs[src[j]])
        elif src[j] == stack[-1]:
            stack.pop()
        j += 1
    return j - 1


def go_function(src: str, name: str) -> str:
    """The body of `func Name(` or, for "(*T) Name", of the method `func (x *T) Name(`."""
    if name.startswith("("):
        receiver, _, method = name.partition(") ")
        head = rf"func\s*\(\s*\w+\s+{re.escape(receiver[1:])}\s*\)\s*{re.escape(method)}\s*\("
    else:
        head = rf"func\s+{re.escape(name)}\s*[\[(]"
    match = re.search(head, src)
    if match is None:
        raise SystemExit(f"no function {name}")
    params_end = _matching(src, match.end() - 1)
    body = src.index("{", params_end)
    # Skip a result type with braces (`struct{...}`): the body's brace is the one the line ends with.
    while src[body + 1 : src.find("\n", body)].strip():
        body = src.index("{", _matching(src, body) + 1)
    return src[body : _matching(src, body) + 1]


def go_args(call: str) -> list[str]:
    """The top-level arguments of the call text `(a, f(b, c), "d")`."""
    args, depth, start, i = [], 0, 1, 1
    while i < len(call) - 1:
        k = _skip_literal(call, i)
        if k != i:
            i = k
            continue
        if call[i] in "([{":
            depth += 1
        elif call[i] in ")]}":
            depth -= 1
        elif call[i] == "," and depth == 0:
            args.append(call[start:i].strip())
            start = i + 1
        i += 1
    last = call[start : len(call) - 1].strip()
    return [*args, last] if last else args


def go_string(arg: str) -> str | None:
    match = re.fullmatch(r'"((?:[^"\\]|\\.)*)"|`([^`]*)`', arg.strip())
    return None if match is None else (match.group(1) if match.group(1) is not None else match.group(2))


_TYPES = (
    "Bool|String|Int|Int8|Int16|Int32|Int64|Uint|Uint8|Uint16|Uint32|Uint64|Float32|Float64|Duration|Count|IP|IPMask|"
    "IPNet|BytesHex|BytesBase64|StringArray|StringSlice|StringToString|StringToInt|StringToInt64|BoolSlice|IntSlice|"
    "Int32Slice|Int64Slice|UintSlice|Float32Slice|Float64Slice|DurationSlice|IPSlice|Func|BoolFunc|TextVar"
)
FLAG_CALL = re.compile(rf"(?P<recv>[\w.]+(?:\(\))?)\.(?P<method>(?:{_TYPES})(?:Var)?P?|Var|VarP|VarPF)\(")


@dataclass
class Flag:
    name: str
    short: str | None
    kind: str  # "bool" (takes no value), "value", or "optional" (a value only as --name=value)
    persistent: bool | None  # None: the flag set is a parameter; the caller's argument decides


def go_constants(src: str) -> dict[str, str]:
    """The file's string constants (`flagNamespace = "namespace"`), for flags named by a constant."""
    return {name: value for name, value in re.findall(r'^\s*(\w+)\s*=\s*"([^"\\]*)"\s*$', src, re.MULTILINE)}


def go_flags(
    body: str, tool: GoTool, *, persistent: bool | None = None, constants: dict[str, str] | None = None
) -> list[Flag]:
    """Every flag `body` defines, with the helpers it calls; a flag named by one of `constants` counts."""
    flags: list[Flag] = []
    for match in FLAG_CALL.finditer(body):
        method, recv = match.group("method"), match.group("recv")
        args = go_args(body[match.end() - 1 : _matching(body, match.end() - 1) + 1])
        var = "Var" in method and method not in ("BoolFunc",)
        at = 1 if var or method in ("Func", "BoolFunc", "TextVar") else 0
        if len(args) <= at or (name := go_string(args[at]) or (constants or {}).get(args[at].strip())) is None:
            continue  # not a flag definition (strconv.Int(...), a name that is not a literal)
        short = go_string(args[at + 1]) if method.endswith(("P", "PF")) and len(args) > at + 1 else None
        kind = "bool" if re.match(r"Bool(Var)?P?$|Count|BoolFunc", method) else "value"
        # `f := flags.VarPF(...)` then `f.NoOptDefVal = ...`: a value only with `=`.
        before = body[: match.start()].rstrip()
        target = re.search(r"(\w+)\s*:?=\s*$", before)
        if target and re.search(rf"\b{target.group(1)}\.NoOptDefVal\b", body[match.end() :]):
            kind = "optional"
        where = True if "PersistentFlags()" in recv else False if "Flags()" in recv else persistent
        flags.append(Flag(name, short or None, kind, where))
    for name in re.findall(r'(?:Lookup|Flag)\("([\w-]+)"\)\.NoOptDefVal', body):
        for flag in flags:
            if flag.name == name:
                flag.kind = "optional"
    for helper, (name_at, short_at, is_bool) in tool.named_helpers.items():
        for match in re.finditer(rf"\b{re.escape(helper)}\(", body):
            args = go_args(body[match.end() - 1 : _matching(body, match.end() - 1) + 1])
            name, short = go_string(args[name_at]), go_string(args[short_at]) if short_at is not None else None
            if name:
                flags.append(Flag(name, short or None, "bool" if is_bool else "value", False))
    return flags


@dataclass
class Reader:
    mirrors: dict[str, Mirror]
    files: set[str] = field(default_factory=set)

    def file(self, tool: GoTool, src: Src) -> str:
        repo = src.repo or tool.repo
        tag = src.tag or (KLOG_TAG if repo == "kubernetes/klog" else tool.tag)
        self.files.add(f"{repo}@{tag}:{src.path}")
        return self.mirrors[repo].show(tag, src.path)

    def body(self, tool: GoTool, src: Src) -> str:
        return go_function(self.file(tool, src), src.name)

    def flags(self, tool: GoTool, src: Src) -> list[Flag]:
        text = self.file(tool, src)
        body = go_function(text, src.name)
        found = go_flags(body, tool, persistent=True if src.persistent else None, constants=go_constants(text))
        for call, helper in tool.helpers.items():
            for match in re.finditer(rf"(?<![\w.]){re.escape(call)}\(", body):
                call_text = body[match.end() - 1 : _matching(body, match.end() - 1) + 1]
                persistent = "PersistentFlags()" in call_text
                for flag in self.flags(tool, helper):
                    if flag.persistent is None:
                        flag.persistent = persistent
                    found.append(flag)
        if src.persistent:
            for flag in found:
                flag.persistent = True
        return found


KLOG_TAG = "v2.130.1"  # velero v1.18.1's go.mod


def _max_args(body: str) -> int | None:
    """How many positional arguments the command takes (None: any number), from cobra's Args or constrictor."""
    counts: list[int | None] = []
    for match in re.finditer(r"constrictor\.AttachArguments\(\s*\w+\s*,", body):
        rest = body[match.end() :].lstrip()
        if rest.startswith("constrictor.NoArgs"):
            counts.append(0)
        elif rest.startswith("constrictor.UnrestrictedArgs"):
            counts.append(None)
        elif rest.startswith("&constrictor.Arguments{"):
            spec = rest[: _matching(rest, rest.index("{")) + 1]
            if re.search(r"Variadic:\s*true", spec):
                counts.append(None)
            else:
                inner = spec[spec.index("[]constrictor.Argument{") + len("[]constrictor.Argument") :]
                inner = inner[: _matching(inner, 0) + 1]
                counts.append(len(re.findall(r"\bName:", inner)))
        else:
            counts.append(None)  # a variable: not read
    match = re.search(r"\bArgs:\s*(?:cobra|cmdutil)\.(\w+)(?:\(([^)]*)\))?", body)
    if match:
        kind, numbers = match.group(1), [int(n) for n in re.findall(r"\b\d+\b", match.group(2) or "")]
        if kind == "NoArgs":
            counts.append(0)
        elif kind in ("ExactArgs", "MaximumNArgs") and numbers:
            counts.append(numbers[0])
        elif kind == "RangeArgs" and len(numbers) == 2:
            counts.append(numbers[1])
        else:
            counts.append(None)  # MinimumNArgs, ArbitraryArgs: any number
    if not counts or None in counts:
        return None
    return max(c for c in counts if c is not None)


def _options(flags: list[Flag], style: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for flag in flags:
        if style == "goflag":
            options[f"-{flag.name}"] = flag.kind
        else:
            options[f"--{flag.name}"] = flag.kind
            if flag.short:
                options[f"-{flag.short}"] = flag.kind
            elif len(flag.name) == 1:  # a Go flag added to pflag with AddGoFlagSet: `-v` is its shorthand
                options[f"-{flag.name}"] = flag.kind
    return dict(sorted(options.items()))


def _terraform_globals(reader: Reader) -> list[Flag]:
    main = reader.mirrors[TERRAFORM.repo].show(TERRAFORM.tag, "main.go")
    meta = reader.mirrors[TERRAFORM.repo].show(TERRAFORM.tag, "internal/command/meta.go")
    reader.files.update(
        {f"{TERRAFORM.repo}@{TERRAFORM.tag}:main.go", f"{TERRAFORM.repo}@{TERRAFORM.tag}:internal/command/meta.go"}
    )
    names = re.findall(r'argName\s*=\s*"-([\w-]+)"', main)  # -chdir
    names += re.findall(r'arg == "--?([\w-]+)"', main)  # -v, -version
    names += re.findall(r'v == "-([\w-]+)"', go_function(meta, "(*Meta) process"))  # -no-color
    return [Flag(n, None, "value" if n == "chdir" else "bool", True) for n in dict.fromkeys(names)]


def go_table(name: str, tool: GoTool, reader: Reader) -> dict[str, Any]:
    globals_: list[Flag] = []
    for src in tool.root:
        globals_ += [f for f in reader.flags(tool, src) if f.persistent or src.persistent]
    if name == "terraform":
        globals_ += _terraform_globals(reader)
    if tool.style == "cobra":
        globals_.append(Flag("help", "h", "bool", True))  # cobra adds it to every command
    else:
        globals_ += [Flag("help", None, "bool", True), Flag("h", None, "bool", True)]  # Go's flag package: -h, -help
    commands: dict[str, Any] = {}
    for path, cmd in tool.commands.items():
        own: list[Flag] = []
        for src in cmd.own:
            own += reader.flags(tool, src)
        for src in cmd.parents:
            own += [f for f in reader.flags(tool, src) if f.persistent]
        constructor = reader.body(tool, cmd.own[0])
        # A command's literal: the first `Use:` of the constructor (later ones build its subcommands).
        use = re.search(r"\bUse:\s*([^,\n]+),", constructor)
        aliases = re.search(r"\bAliases:\s*\[\]string\{([^}]*)\}", constructor)
        entry: dict[str, Any] = {
            "max_args": _max_args(constructor) if tool.style == "cobra" else None,
            "flags": _options(own, tool.style),
        }
        if aliases:
            entry["aliases"] = [go_string(a) for a in go_args("(" + aliases.group(1) + ")")]
        if use:
            entry["use"] = use.group(1).strip()
        commands[path] = entry
    return {"global": _options(globals_, tool.style), "commands": commands}


# --- the AWS CLI ---------------------------------------------------------------------------------------

_FIRST_CAP = re.compile("(.)([A-Z][a-z]+)")
_END_CAP = re.compile("([a-z0-9])([A-Z])")
_SPECIAL = re.compile("[A-Z]{2,}s$")


def xform_name(name: str, sep: str = "-") -> str:
    """botocore's xform_name (awscli/botocore/__init__.py): CamelCase -> kebab-case, `ARNs` kept whole."""
    if sep in name:
        return name
    special = _SPECIAL.search(name)
    if special and not name[: special.start()].endswith(sep):
        name = name[: special.start()] + sep + special.group().lower()
    return _END_CAP.sub(rf"\1{sep}\2", _FIRST_CAP.sub(rf"\1{sep}\2", name)).lower()


_ARG_KEYS = ("name", "action", "nargs", "positional_arg")


def _arg_dicts(node: ast.AST) -> list[dict[str, Any]]:
    """Every dict literal with a 'name' key under `node`: the CLI's argument definitions."""
    found = []
    for item in ast.walk(node):
        if isinstance(item, ast.Dict):
            entry = {
                k.value: ast.literal_eval(v)
                for k, v in zip(item.keys, item.values, strict=True)
                if isinstance(k, ast.Constant) and k.value in _ARG_KEYS
            }
            if "name" in entry:
                found.append(entry)
    return found


def _aws_kind(entry: dict[str, Any]) -> str:
    """argparse's reading: store_true takes nothing; nargs '?' takes the next word unless it is an option."""
    if entry.get("action") in ("store_true", "store_false"):
        return "bool"
    return "maybe" if entry.get("nargs") == "?" else "value"


def _arg_table(source: str, class_name: str) -> list[dict[str, Any]]:
    """The entries (name, action, nargs, positional_arg) of a customization's ARG_TABLE, constants resolved."""
    module = ast.parse(source)
    constants = {
        t.id: node.value
        for node in module.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    [cls] = [n for n in module.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    [table] = [
        n.value
        for n in cls.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "ARG_TABLE" for t in n.targets)
    ]
    assert isinstance(table, ast.List)
    entries = []
    for item in table.elts:
        node = constants[item.id] if isinstance(item, ast.Name) else item
        assert isinstance(node, ast.Dict), ast.dump(item)
        [entry] = _arg_dicts(node)
        entries.append(entry)
    return entries


def aws_table(mirror: Mirror, files: set[str]) -> dict[str, Any]:
    def show(path: str) -> str:
        files.add(f"{AWS_REPO}@{AWS_TAG}:{path}")
        return mirror.show(AWS_TAG, path)

    cli = json.loads(show("awscli/data/cli.json"))
    global_ = {}
    for name, option in cli["options"].items():
        bool_ = option.get("action") in ("store_true", "store_false", "version")
        global_[f"--{name}"] = "bool" if bool_ else "value"
    # --cli-input-json, --cli-input-yaml, --generate-cli-skeleton: every operation has them.
    per_operation = {
        entry["name"]: _aws_kind(entry)
        for path in ("awscli/customizations/cliinput.py", "awscli/customizations/generatecliskeleton.py")
        for entry in _arg_dicts(ast.parse(show(path)))
    }
    paging = re.findall(r"PageArgument\(\s*'([\w-]+)'", show("awscli/customizations/paginate.py"))
    commands: dict[str, Any] = {}
    for service, operations in AWS_OPERATIONS.items():
        model_dir = AWS_MODEL_DIRS.get(service, service)
        [version] = mirror.ls(AWS_TAG, f"awscli/botocore/data/{model_dir}")
        base = f"awscli/botocore/data/{model_dir}/{version}"
        model = json.loads(show(f"{base}/service-2.json"))
        paginated = json.loads(show(f"{base}/paginators-1.json")).get("pagination", {})
        by_cli_name = {xform_name(op): op for op in model["operations"]}
        for cli_name in operations:
            op = model["operations"][by_cli_name[cli_name]]
            flags = {f"--{k}": v for k, v in per_operation.items()}
            shape = model["shapes"].get(op.get("input", {}).get("shape", ""), {"members": {}})
            for member, ref in shape["members"].items():
                kebab = xform_name(member)
                if model["shapes"][ref["shape"]]["type"] == "boolean":
                    flags[f"--{kebab}"] = flags[f"--no-{kebab}"] = "bool"
                else:
                    flags[f"--{kebab}"] = "value"
            if by_cli_name[cli_name] in paginated:
                flags.update({f"--{p}": "value" for p in paging})
            commands[f"{service} {cli_name}"] = {"max_args": 0, "flags": dict(sorted(flags.items()))}
    for command, (path, class_name) in AWS_CUSTOM.items():
        flags, positional = {}, 0
        for entry in _arg_table(show(path), class_name):
            if entry.get("positional_arg"):
                positional += 1
                continue
            flags[f"--{entry['name']}"] = _aws_kind(entry)
        commands[command] = {"max_args": positional, "flags": dict(sorted(flags.items()))}
    return {"global": dict(sorted(global_.items())), "commands": commands}


# --- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gen_cli_flags", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--mirror", action="append", default=[], help="owner/name=<git dir>, repeatable")
    parser.add_argument("--tool", action="append", help="only these tools (default: all)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    mirrors = {repo: Mirror(Path(path)) for repo, _, path in (m.partition("=") for m in args.mirror)}
    tools = args.tool or [*GO_TOOLS, "aws"]
    args.out.mkdir(parents=True, exist_ok=True)
    for name in tools:
        files: set[str] = set()
        if name == "aws":
            repo, tag = AWS_REPO, AWS_TAG
            table = aws_table(mirrors[repo], files)
            extra: dict[str, str] = {}
        else:
            tool = GO_TOOLS[name]
            repo, tag = tool.repo, tool.tag
            reader = Reader(mirrors)
            table = go_table(name, tool, reader)
            files = reader.files
            extra = (
                {"klog": f"kubernetes/klog {KLOG_TAG} {mirrors['kubernetes/klog'].commit(KLOG_TAG)}"}
                if name == "velero"
                else {
                    "cli-runtime": f"kubernetes/cli-runtime {CLI_RUNTIME_TAG} "
                    f"{mirrors['kubernetes/cli-runtime'].commit(CLI_RUNTIME_TAG)}"
                }
                if name == "kubectl-argo-rollouts"
                else {}
            )
        document = {
            "tool": name,
            "generated_by": "python -m tests.support.gen_cli_flags (do not edit by hand)",
            "provenance": {
                "repository": repo,
                "tag": tag,
                "commit": mirrors[repo].commit(tag),
                **extra,
                "files": sorted(files),
            },
            "dash_style": "go" if name == "terraform" else "gnu",
            **table,
        }
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(document, indent=1) + "\n")
        print(f"{path}: {len(table['commands'])} subcommands, {len(table['global'])} global options")
    return 0


if __name__ == "__main__":
    sys.exit(main())
