"""What a Cloudflare Rules language expression matches, for the subset the program writes.

Cloudflare's engine (wirefilter, via octorules-wirefilter) decides whether an expression is valid;
it cannot run one. So `matches` first requires wirefilter to parse the expression, then evaluates it
against a request with a small interpreter of: `and`, `or`, `not`, parentheses, `starts_with(f, "s")`,
`ends_with`, `f eq "s"`, `f ne "s"`, `f in {"a" "b"}` over string fields. Anything else raises, so a
test can never pass on an expression this interpreter does not understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from octorules_wirefilter import parse_expression

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"[^"]*")|(?P<punct>[(){},])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<op>==|!=|&&|\|\|))'
)


@dataclass(frozen=True)
class Request:
    path: str
    method: str = "GET"
    host: str = "hft-platform.com"

    def field(self, name: str) -> str:
        fields = {"http.request.uri.path": self.path, "http.request.method": self.method, "http.host": self.host}
        if name not in fields:
            raise NotImplementedError(f"field {name} is not modelled here")
        return fields[name]


class _Parser:
    def __init__(self, expression: str, request: Request) -> None:
        self.tokens = [m.group(m.lastgroup or "") for m in _TOKEN.finditer(expression) if m.group(0).strip()]
        if "".join(self.tokens).replace(" ", "") != re.sub(r"\s+", "", expression):
            raise NotImplementedError(f"cannot tokenize {expression!r}")
        self.request = request
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise NotImplementedError(f"expected {expected!r}, got {token!r}")
        self.position += 1
        return token

    def parse(self) -> bool:
        value = self.disjunction()
        if self.peek() is not None:
            raise NotImplementedError(f"unexpected {self.peek()!r}")
        return value

    def disjunction(self) -> bool:
        value = self.conjunction()
        while self.peek() in ("or", "||"):
            self.take()
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.negation()
        while self.peek() in ("and", "&&"):
            self.take()
            value = self.negation() and value
        return value

    def negation(self) -> bool:
        if self.peek() in ("not", "!"):
            self.take()
            return not self.negation()
        if self.peek() == "(":
            self.take("(")
            value = self.disjunction()
            self.take(")")
            return value
        return self.comparison()

    def string(self) -> str:
        token = self.take()
        if not token.startswith('"'):
            raise NotImplementedError(f"expected a string, got {token!r}")
        return token[1:-1]

    def comparison(self) -> bool:
        word = self.take()
        if word in ("starts_with", "ends_with"):
            self.take("(")
            value = self.request.field(self.take())
            self.take(",")
            literal = self.string()
            self.take(")")
            return value.startswith(literal) if word == "starts_with" else value.endswith(literal)
        value = self.request.field(word)
        operator = self.take()
        if operator in ("eq", "=="):
            return value == self.string()
        if operator in ("ne", "!="):
            return value != self.string()
        if operator == "in":
            self.take("{")
            options: set[str] = set()
            while self.peek() != "}":
                options.add(self.string())
            self.take("}")
            return value in options
        raise NotImplementedError(f"operator {operator!r} is not modelled here")


def matches(expression: str, request: Request) -> bool:
    parsed = parse_expression(expression)
    assert "error" not in parsed, f"Cloudflare's engine refuses {expression!r}: {parsed['error']}"
    return _Parser(expression, request).parse()
