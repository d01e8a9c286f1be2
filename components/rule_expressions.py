"""What the program needs to know about the Cloudflare Rules language expressions it writes: scoping a
rule to hosts, and whether one expression matches every request another matches.

Cloudflare's engine (wirefilter, through octorules-wirefilter) says whether an expression parses and
which fields it reads, but cannot run one. `implies` decides "every request B matches, A matches too"
for the subset the rules use: `and`, `or`, `not`, parentheses, `starts_with(f, "s")`,
`ends_with(f, "s")`, `f eq "s"`, `f ne "s"` and `f in {"a" "b"}` over string fields. Anything else makes
it answer None (cannot tell), never a guess.

Why a finite set of requests decides it: each condition on a string field depends only on which
literals equal the value, which prefix literals start it and which suffix literals end it. Every value
behaves like one of: a literal itself, or `p + X + s` where `p` is its longest matching prefix literal
(or ""), `s` its longest matching suffix literal (or ""), and X a character no literal holds. So
evaluating both expressions on every combination of those values, field by field, is exhaustive.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<punct>[(){},])|(?P<op>==|!=|&&|\|\||!)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))'
)
_FILLER = "\x01"  # in no literal: a value that equals none and extends every prefix


class UnsupportedError(ValueError):
    """The expression uses something outside the subset this module evaluates."""


def _tokens(expression: str) -> list[str]:
    tokens, position = [], 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise UnsupportedError(f"cannot read {text[position:]!r}")
        tokens.append(match.group(match.lastgroup or ""))
        position = match.end()
    return tokens


def _unquote(token: str) -> str:
    if not token.startswith('"'):
        raise UnsupportedError(f"expected a string, got {token!r}")
    return re.sub(r"\\(.)", r"\1", token[1:-1])


# An expression as a tree: ("and"|"or", left, right), ("not", inner), or (kind, field, literals) with
# kind one of "prefix", "suffix", "eq", "ne", "in".
Node = tuple


class _Parser:
    def __init__(self, expression: str) -> None:
        self.tokens = _tokens(expression)
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise UnsupportedError(f"expected {expected or 'more'}, got {token!r}")
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.disjunction()
        if self.peek() is not None:
            raise UnsupportedError(f"unexpected {self.peek()!r}")
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.peek() in ("or", "||"):
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.peek() in ("and", "&&"):
            self.take()
            node = ("and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.peek() in ("not", "!"):
            self.take()
            return ("not", self.negation())
        if self.peek() == "(":
            self.take("(")
            node = self.disjunction()
            self.take(")")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        word = self.take()
        if word in ("starts_with", "ends_with"):
            self.take("(")
            field = self.take()
            self.take(",")
            literal = _unquote(self.take())
            self.take(")")
            return ("prefix" if word == "starts_with" else "suffix", field, (literal,))
        operator = self.take()
        if operator in ("eq", "=="):
            return ("eq", word, (_unquote(self.take()),))
        if operator in ("ne", "!="):
            return ("ne", word, (_unquote(self.take()),))
        if operator == "in":
            self.take("{")
            literals = []
            while self.peek() != "}":
                literals.append(_unquote(self.take()))
            self.take("}")
            return ("in", word, tuple(literals))
        raise UnsupportedError(f"operator {operator!r}")


def parse(expression: str) -> Node:
    return _Parser(expression).parse()


def _conditions(node: Node) -> Iterable[Node]:
    if node[0] in ("and", "or"):
        yield from _conditions(node[1])
        yield from _conditions(node[2])
    elif node[0] == "not":
        yield from _conditions(node[1])
    else:
        yield node


def evaluate(node: Node, request: Mapping[str, str]) -> bool:
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], request) and evaluate(node[2], request)
    if kind == "or":
        return evaluate(node[1], request) or evaluate(node[2], request)
    if kind == "not":
        return not evaluate(node[1], request)
    value = request[node[1]]
    literals = node[2]
    if kind == "prefix":
        return value.startswith(literals[0])
    if kind == "suffix":
        return value.endswith(literals[0])
    if kind == "ne":
        return value != literals[0]
    return value in literals  # eq, in


def _values(conditions: Sequence[Node]) -> list[str]:
    """One value of each class a field's conditions can tell apart (see the module's docstring)."""
    prefixes = {""} | {c[2][0] for c in conditions if c[0] == "prefix"}
    suffixes = {""} | {c[2][0] for c in conditions if c[0] == "suffix"}
    literals = {literal for c in conditions for literal in c[2]}
    return sorted(literals | {p + _FILLER + s for p in prefixes for s in suffixes})


def implies(narrow: str, broad: str) -> bool | None:
    """Whether every request `narrow` matches, `broad` matches too; None when either expression uses
    something this module does not evaluate."""
    try:
        trees = parse(narrow), parse(broad)
    except UnsupportedError:
        return None
    conditions = [c for tree in trees for c in _conditions(tree)]
    fields = sorted({c[1] for c in conditions})
    per_field = [_values([c for c in conditions if c[1] == field]) for field in fields]
    for combination in itertools.product(*per_field):
        request = dict(zip(fields, combination, strict=True))
        if evaluate(trees[0], request) and not evaluate(trees[1], request):
            return False
    return True


def hosts_named(expression: str) -> set[str] | None:
    """Every host the expression compares `http.host` with; None when it cannot be read."""
    try:
        tree = parse(expression)
    except UnsupportedError:
        return None
    return {literal for c in _conditions(tree) if c[1] == "http.host" for literal in c[2]}


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scoped(expression: str, hosts: Sequence[str]) -> str:
    """`expression`, for requests to `hosts` only: a zone's rules otherwise apply to every host in it."""
    return f"http.host in {{{' '.join(quoted(h) for h in sorted(set(hosts)))}}} and ({expression})"
