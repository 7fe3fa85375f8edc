"""The docs as the doc tests read them (test_doc_*.py): which files they are,
their fenced blocks, and their code spans, each with its line and section.

A fence is ``` or ~~~ (indented or not, in a list too); its info string is
what follows the fence on the opening line (`corefile`, `corefile fails`,
`sh`)."""

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "go-shim" / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

FENCE = re.compile(r"^( *)(`{3,}|~{3,})[ \t]*([^`\n]*?)[ \t]*$")


@dataclass
class Block:
    """A fenced block: its info string, its text (the fence's indentation
    taken off), and where it is."""
    doc: str     # the doc's path, relative to the repository
    line: int    # the line of the opening fence, from 1
    info: str
    text: str
    section: str  # the heading above it ("" before the first)
    before: str   # the paragraph above it


@dataclass
class Span:
    """An inline code span (`...`, maybe over several lines of a
    paragraph), outside fenced blocks."""
    doc: str
    line: int
    text: str
    section: str


def relative(doc):
    return str(Path(doc).relative_to(ROOT)) if Path(doc).is_absolute() else str(doc)


def parse(text, doc="doc.md"):
    """(blocks, spans, lines outside the blocks) of a markdown text."""
    lines = text.split("\n")
    blocks, outside = [], []
    section, i = "", 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].startswith("#"):
                section = lines[i].lstrip("#").strip()
            outside.append(lines[i])
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3)
        end = i + 1
        closing = re.compile(r"^ *%s{%d,}\s*$" % (re.escape(fence[0]), len(fence)))
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [line[indent:] if line[:indent].strip() == "" else line for line in lines[i + 1:end]]
        before = "\n".join(lines[:i]).rstrip().rsplit("\n\n", 1)[-1]
        blocks.append(Block(doc, i + 1, info, "\n".join(body) + "\n", section, before))
        outside.extend([""] * (end + 1 - i))  # keeps the line numbers of what follows
        i = end + 1
    spans = []
    prose = "\n".join(outside)
    headings = [(prose.count("\n", 0, m.start()) + 1, m.group(1).strip())
                for m in re.finditer(r"^#+ (.*)$", prose, re.M)]
    for m in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", prose, re.S):
        if "\n\n" in m.group(2):
            continue
        line = prose.count("\n", 0, m.start()) + 1
        under = [h for at, h in headings if at <= line]
        spans.append(Span(doc, line, " ".join(m.group(2).split()), under[-1] if under else ""))
    return blocks, spans, outside


def docs():
    """(doc path relative to the repository, its text) for every doc."""
    for path in DOCS:
        yield relative(path), path.read_text()


def all_blocks():
    for doc, text in docs():
        yield from parse(text, doc)[0]


def all_spans():
    for doc, text in docs():
        yield from parse(text, doc)[1]


# A server block's opening line: its keys (zones, with a scheme or a port,
# or a bare port) and `{`.
SERVER_KEY = r"(?:[a-z]+://)?(?:\.|[\w*-]+(?:\.[\w-]+)*\.?)?(?::\d+)?"
SERVER_LINE = re.compile(r"^(%s)(?: +%s)* *\{$" % (SERVER_KEY, SERVER_KEY))


def looks_like_corefile(text):
    """True when a block's first line (comments aside) opens a server block
    whose keys look like zones or ports (`vm.internal {`, `.:53 {`), and its
    last closes it: a Corefile, whatever its fence says."""
    lines = [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) < 2 or lines[-1].strip() != "}":
        return False
    m = SERVER_LINE.match(lines[0].strip())
    return bool(m) and any(c in lines[0] for c in ".:")
