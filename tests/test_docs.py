"""The README and docs/: every relative link reaches a file that exists and, where it names an
`#anchor`, a heading (GitHub's slugs) or an explicit `<a id=...>` there; the README stays short
enough to use under pressure, holds the two commands and indexes every file of docs/."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
README = PROJECT_DIR / "README.md"
DOCS = sorted((PROJECT_DIR / "docs").glob("*.md"))
README_MAX_LINES = 320

# --- GitHub's heading anchors ---------------------------------------------------------------------
# github-slugger 2.0.0 (what GitHub's renderer matches; Flet/github-slugger, index.js and
# script/generate-regex.mjs): lowercase, drop every character of these Unicode general categories
# unless it is alphabetic (but keep "-" and " "), then each " " becomes "-". A repeated slug gets
# "-1", "-2", ... in order of appearance. `isalpha()` is Unicode's letters; github-slugger also keeps
# the few other Alphabetic characters (circled letters), which these documents do not use.
_DROPPED = {"No", "Pe", "Pf", "Pi", "Ps", "Po", "Pd", "Sm", "Sc", "Sk", "So", "Cc", "Co", "Cf", "Cn", "Zs", "Zl", "Zp"}


def slug(text: str) -> str:
    kept = (ch for ch in text.lower() if ch in " -" or ch.isalpha() or unicodedata.category(ch) not in _DROPPED)
    return "".join(kept).replace(" ", "-")


class Slugger:
    """Unique slugs within one document, as github-slugger's `BananaSlug.slug` hands them out."""

    def __init__(self) -> None:
        self.occurrences: dict[str, int] = {}

    def slug(self, text: str) -> str:
        original = result = slug(text)
        while result in self.occurrences:
            self.occurrences[original] += 1
            result = f"{original}-{self.occurrences[original]}"
        self.occurrences[result] = 0
        return result


# --- reading Markdown -----------------------------------------------------------------------------

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# A code span may run over a line break, not over a blank line (a new paragraph).
CODE_SPAN_IN_PARAGRAPH = re.compile(r"(`+)((?:(?!\n[ \t]*\n).)+?)\1", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
EXPLICIT_ANCHOR = re.compile(r"<a\s+[^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
HTML_TAG = re.compile(r"<[^>]+>")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            fence = None
        elif fence is None:
            lines.append((number, line))
    return lines


def heading_text(markdown: str) -> str:
    """What the heading renders as: code spans' content as written, and elsewhere links' text, no
    emphasis marks and no HTML tags."""

    def prose(text: str) -> str:
        text = INLINE_LINK.sub(lambda m: m.group(1), text)
        return re.sub(r"\*+", "", HTML_TAG.sub("", text))

    parts, end = [], 0
    for span in CODE_SPAN.finditer(markdown):
        parts += [prose(markdown[end : span.start()]), span.group(2).strip()]
        end = span.end()
    return "".join([*parts, prose(markdown[end:])]).strip()


def anchors(text: str) -> set[str]:
    slugger = Slugger()
    found: set[str] = set()
    for _, line in prose_lines(text):
        heading = HEADING.match(line)
        if heading:
            found.add(slugger.slug(heading_text(heading.group(2))))
        found.update(EXPLICIT_ANCHOR.findall(line))
    return found


@dataclass(frozen=True)
class Link:
    line: int
    target: str


def links(text: str) -> list[Link]:
    """Every link target outside code: inline links and images, and reference definitions."""
    found, prose = [], ["" for _ in text.splitlines()]
    for number, line in prose_lines(text):
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            found.append(Link(number, definition.group(1)))
        else:
            prose[number - 1] = line
    # A link's text may wrap onto the next line: search the prose whole, fenced code blanked out, and
    # code spans (literal text: a `[x](y)` in one is no link) blanked with their line breaks kept.
    joined = CODE_SPAN_IN_PARAGRAPH.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), "\n".join(prose))
    for match in INLINE_LINK.finditer(joined):
        found.append(Link(joined.count("\n", 0, match.start()) + 1, match.group(2)))
    return sorted(found, key=lambda link: link.line)


def broken_links(document: Path) -> list[str]:
    """One line per relative link that reaches no file, or no anchor in the file it reaches."""
    problems = []
    for link in links(document.read_text()):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link.target) or link.target.startswith("//"):
            continue  # an absolute URL (https:, mailto:): not the repository's to check
        path_part, _, fragment = link.target.partition("#")
        target = (document.parent / unquote(path_part)).resolve() if path_part else document
        where = f"{document.name}:{link.line}: {link.target}"
        if not target.exists():
            problems.append(f"{where}: no such file")
        elif fragment and target.suffix == ".md" and unquote(fragment) not in anchors(target.read_text()):
            problems.append(f"{where}: no heading or anchor #{fragment} in {target.name}")
    return problems


# --- the repository's documents -------------------------------------------------------------------


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_every_relative_link_reaches_a_file_and_its_anchor(document: Path) -> None:
    assert broken_links(document) == []


def test_the_readme_stays_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move reference material to docs/"


def test_the_readme_holds_the_two_commands() -> None:
    text = README.read_text()
    assert "make preview STACK=production" in text
    assert re.search(r"^make test\b", text, re.MULTILINE)


def test_the_readmes_reference_section_links_every_doc() -> None:
    section = re.search(r"^## Reference\n(.*?)(?=^## |\Z)", README.read_text(), re.MULTILINE | re.DOTALL)
    assert section, "README.md has a '## Reference' section: the index of docs/"
    linked = {
        (README.parent / link.target.partition("#")[0]).resolve()
        for link in links(section.group(1))
        if link.target.startswith("docs/")
    }
    assert DOCS, "docs/ holds the reference"
    assert sorted(str(p.relative_to(PROJECT_DIR)) for p in set(DOCS) - linked) == []


# --- the checker itself ---------------------------------------------------------------------------

# github-slugger 2.0.0's own fixtures (test/fixtures.json), fed to one slugger in this order.
SLUGGER_FIXTURES = [
    ("alpha", "alpha"),
    ("alpha", "alpha-1"),
    ("bravoCharlieDelta", "bravocharliedelta"),
    ("echo", "echo"),
    ("echo", "echo-1"),
    ("echo 1", "echo-1-1"),
    ("echo-1", "echo-1-2"),
    ("echo", "echo-2"),
    ("heading with a - dash", "heading-with-a---dash"),
    ("heading with an _ underscore", "heading-with-an-_-underscore"),
    ("heading with a period.txt", "heading-with-a-periodtxt"),
    ("exchange.bind_headers(exchange, routing [, bindCallback])", "exchangebind_headersexchange-routing--bindcallback"),
    ("apostrophe\u2019s should be trimmed", "apostrophes-should-be-trimmed"),
    ("I \u2665 unicode", "i--unicode"),
    ("en\u2013dash", "endash"),
    (":ok_hand: Single", "ok_hand-single"),
    ("Привет non-latin 你好", "привет-non-latin-你好"),
]


def test_slugs_match_github_slugger() -> None:
    slugger = Slugger()
    assert [slugger.slug(text) for text, _ in SLUGGER_FIXTURES] == [expected for _, expected in SLUGGER_FIXTURES]


def test_heading_anchors_as_github_renders_them() -> None:
    text = "\n".join(
        [
            "# The plan diff: `make diff BASE=<git ref>`",
            "## Pull requests, deploys and drift (GitHub Actions)",
            "### **Bold** and [a link](x.md)",
            "## Rollback",
            "## Rollback",
            "```sh",
            "# a comment in code, not a heading",
            "```",
            'Text with <a id="explicit-one"></a> an anchor.',
        ]
    )
    assert anchors(text) == {
        "the-plan-diff-make-diff-basegit-ref",
        "pull-requests-deploys-and-drift-github-actions",
        "bold-and-a-link",
        "rollback",
        "rollback-1",
        "explicit-one",
    }


def test_broken_links_are_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "topic.md").write_text('# Topic\n\n## A section\n\n<a name="kept"></a>\n')
    readme = tmp_path / "README.md"
    readme.write_text(
        "\n".join(
            [
                "# Title",
                "[ok](docs/topic.md) [ok](docs/topic.md#a-section) [ok](docs/topic.md#kept) [ok](#title)",
                "[ok](https://example.com/missing.md#nowhere) `[code](docs/missing.md)`",
                "```",
                "[fenced](docs/missing.md)",
                "```",
                "[file](docs/missing.md)",
                "| [in a table](docs/topic.md#no-such-section) |",
                "[here](#no-such-heading)",
                "[ref]: docs/also-missing.md",
                "[a wrapped",
                "link](docs/topic.md#wrapped) and `a code span",
                "[wrapped](docs/missing.md)` over a line break",
            ]
        )
    )
    assert broken_links(readme) == [
        "README.md:7: docs/missing.md: no such file",
        "README.md:8: docs/topic.md#no-such-section: no heading or anchor #no-such-section in topic.md",
        "README.md:9: #no-such-heading: no heading or anchor #no-such-heading in README.md",
        "README.md:10: docs/also-missing.md: no such file",
        "README.md:11: docs/topic.md#wrapped: no heading or anchor #wrapped in topic.md",
    ]
