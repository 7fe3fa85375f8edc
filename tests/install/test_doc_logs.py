"""Every log line the docs quote is one the code prints, at the level the docs
give (issue 29).

A quoted line is `[LEVEL] plugin/multipass: TEXT`, in a code span or on a
line of a fenced block. TEXT is the start of a line (what follows it is left
out); in it `...` (or `…`) stands for a value the line fills in, and so does
`N` for a number. The lines the code prints are its format strings: the
core's spdlog calls (src/*.cc: `log_->info("loaded {} instances from {}",
...)`, whose `{}` take what the arguments hold, below) and the shim's own
(go-shim/*.go: `log.Warningf("...: %d ...", ...)`); the shim prints the
core's lines at the core's level (DEBUG, INFO, WARNING, ERROR)."""

import re
from dataclasses import dataclass

import pytest

import doc_text

ROOT = doc_text.ROOT
QUOTE = re.compile(r"\[(DEBUG|INFO|WARNING|ERROR)\] plugin/multipass: (.*)")
SPDLOG_LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR"}
GO_LEVELS = {"Debug": "DEBUG", "Info": "INFO", "Warning": "WARNING", "Error": "ERROR"}

# In a quote: a value left out, and a number.
GAP, NUMBER_GAP = "\x00", "\x01"


@dataclass
class Slot:
    """Where a line holds a value: `pattern` matches every value (and every
    start of one), `number` says a quote's N fits it."""
    pattern: str
    number: bool = False

    def takes(self, value):
        """Whether a quote's `value` fits: a value of the pattern, or a gap
        of the quote (any text takes gaps within it)."""
        if value == GAP or (value == NUMBER_GAP and self.number) or self.pattern == ANY_TEXT:
            return True
        return GAP not in value and NUMBER_GAP not in value and re.fullmatch(self.pattern, value) is not None


@dataclass
class Alt:
    """One of several sequences of literal text and slots."""
    options: list


ANY_TEXT = r".*"
ANY = Slot(ANY_TEXT)
NUMBER = Slot(r"\d*(\.\d*)?", number=True)
WORD = Slot(r"\S*")  # a path or a name: no blank


def source(path):
    return (ROOT / path).read_text()


def failure_text():
    """What `text` holds in the core's failure lines (src/source.cc): a
    command (`read_listing(run, "multipass list", ...)`) and what befell it
    (`std::string(command) + " failed"`), then anything."""
    code = source("src/source.cc")
    commands = re.findall(r'read_listing\(\s*run,\s*"([^"]+)"', code)
    verbs = re.findall(r'std::string\(command\)\s*\+\s*"([^"]+)"', code)
    assert commands and verbs, "src/source.cc no longer reads as this test expects: mend failure_text()"
    return Alt([[c + v, ANY] for c in commands for v in verbs])


def since_text():
    """What `since` holds (src/listing_log.cc): nothing, or how many times a
    failure was not reported."""
    m = re.search(r'since = "([^"]*)" \+\s*std::to_string\([^)]*\)\s*\+\s*"([^"]*)"', source("src/listing_log.cc"))
    assert m, "src/listing_log.cc no longer builds `since` as this test expects: mend since_text()"
    return Alt([[], [m.group(1), NUMBER, m.group(2)]])


def concatenation(expr):
    """The parts of a C++ string built with + (literals; std::to_string and
    grouped give numbers, anything else any text)."""
    parts = []
    for term in split_top(expr, "+"):
        literal = string_literals(term)
        if literal is not None:
            parts.append(literal)
        else:
            parts.append(NUMBER if re.match(r"(std::to_string|grouped)\(", term) else ANY)
    return parts


def warning_text():
    """What `warning` holds: one of the parser's warnings (src/listing_parser.cc:
    `warnings_->add(kind, [&] { return "skipped instance " + ...; })`, and
    the summary of those past the cap)."""
    code = source("src/listing_parser.cc")
    made = [concatenation(m.group(1)) for m in re.finditer(r"\badd\(warning_kind::\w+,\s*\[&\]\s*\{\s*return (.*?);\s*\}\)",
                                                           code, re.S)]
    summary = re.search(r"std::string line = (.*?);", code, re.S)
    assert made and summary, "src/listing_parser.cc no longer reads as this test expects: mend warning_text()"
    return Alt(made + [concatenation(summary.group(1)) + [ANY]])


# What the arguments of the core's log calls hold. A call with an argument
# this does not name fails the test: say here what it prints.
def core_arguments():
    return {
        "now.vms.size()": NUMBER, "now.serial": NUMBER, "instances": NUMBER, "lasted": NUMBER,
        "seconds_between(seen->at, now)": NUMBER,
        "binary": WORD, "run.err_line": ANY, "err_line": ANY,
        "text": failure_text(), "since": since_text(), "warning": warning_text(),
    }


def split_top(expr, separator):
    """expr split at the separators outside brackets and strings."""
    out, depth, begin, i = [], 0, 0, 0
    while i < len(expr):
        c = expr[i]
        if c == '"':
            i += 1
            while expr[i] != '"':
                i += 2 if expr[i] == "\\" else 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == separator and depth == 0:
            out.append(expr[begin:i].strip())
            begin = i + 1
        i += 1
    return out + [expr[begin:].strip()]


def call_arguments(code, start):
    """The arguments of the call whose "(" is at code[start - 1], split at
    the top level, and where the call ends."""
    args, depth, i, begin = [], 0, start, start
    while True:
        c = code[i]
        if c in "\"'`":
            end = i + 1
            while code[end] != c:
                end += 2 if code[end] == "\\" and c != "`" else 1
            i = end + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append(code[begin:i].strip())
                return args, i
            depth -= 1
        elif c == "," and depth == 0:
            args.append(code[begin:i].strip())
            begin = i + 1
        i += 1


def string_literals(arg):
    """The text of an argument made of adjacent string literals, else None."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|`([^`]*)`', arg)
    if not parts or re.sub(r'"((?:[^"\\]|\\.)*)"|`[^`]*`|\s', "", arg):
        return None
    return "".join(re.sub(r"\\(.)", r"\1", a) if a else b for a, b in parts)


@dataclass
class Template:
    level: str
    parts: list   # literal strings, Slots and Alts
    where: str


def core_templates():
    args_of = core_arguments()
    for path in sorted((ROOT / "src").glob("*.cc")):
        code = path.read_text()
        for m in re.finditer(r"\blog_->(debug|info|warn|error|log)\(", code):
            args, _ = call_arguments(code, m.end())
            where = "%s:%d" % (path.relative_to(ROOT), code.count("\n", 0, m.start()) + 1)
            if m.group(1) == "log":
                levels = [SPDLOG_LEVELS[x] for x in re.findall(r"spdlog::level::(\w+)", args.pop(0))]
            else:
                levels = [SPDLOG_LEVELS[m.group(1)]]
            fmt = string_literals(args[0])
            assert fmt is not None, "%s: a log call whose format is no string literal" % where
            pieces = re.split(r"\{[^}]*\}", fmt)
            assert len(pieces) - 1 == len(args) - 1, "%s: %d {} for %d arguments" % (where, len(pieces) - 1,
                                                                                   len(args) - 1)
            parts = [pieces[0]]
            for arg, piece in zip(args[1:], pieces[1:]):
                assert arg in args_of, "%s: test_doc_logs.py does not know what %r prints: add it to " \
                    "core_arguments()" % (where, arg)
                parts += [args_of[arg], piece]
            for level in levels:
                yield Template(level, parts, where)


def go_templates():
    for path in sorted((ROOT / "go-shim").glob("*.go")):
        if path.name.endswith("_test.go"):
            continue
        code = path.read_text()
        for m in re.finditer(r"\blog\.(Debug|Info|Warning|Error)(f?)\(", code):
            args, _ = call_arguments(code, m.end())
            fmt = string_literals(args[0])
            if fmt is None:
                continue  # a line of the core, printed at its level
            where = "%s:%d" % (path.relative_to(ROOT), code.count("\n", 0, m.start()) + 1)
            parts = [fmt]
            if m.group(2):
                pieces = re.split(r"%[-+# 0-9.]*([a-zA-Z])", fmt)
                parts = [pieces[0]]
                for verb, piece in zip(pieces[1::2], pieces[2::2]):
                    parts += [NUMBER if verb == "d" else ANY, piece]
            yield Template(GO_LEVELS[m.group(1)], parts, where)


def templates():
    return list(core_templates()) + list(go_templates())


def fits(parts, text, i=0):
    """True when text[i:] is the start of what `parts` print: a quote's GAP
    fills a slot, its NUMBER_GAP a number."""
    if i == len(text):
        return True
    if not parts:
        return False
    part, rest = parts[0], parts[1:]
    if isinstance(part, str):
        n = min(len(part), len(text) - i)
        if text[i:i + n] != part[:n]:
            return False
        return True if n < len(part) else fits(rest, text, i + n)
    if isinstance(part, Alt):
        return any(fits(list(option) + rest, text, i) for option in part.options)
    return any(part.takes(text[i:j]) and fits(rest, text, j) for j in range(i, len(text) + 1))


@dataclass
class Quote:
    level: str
    text: str
    where: str

    def __repr__(self):
        shown = self.text.replace(GAP, "...").replace(NUMBER_GAP, "N")
        return "%s: [%s] plugin/multipass: %s" % (self.where, self.level, shown)


def quotes_in(doc, text):
    blocks, spans, _ = doc_text.parse(text, doc)
    found = [(s.line, s.text) for s in spans]
    found += [(b.line + 1 + n, line) for b in blocks for n, line in enumerate(b.text.splitlines())]
    for line, t in found:
        m = QUOTE.search(t)
        if m:
            quoted = re.sub(r"\s*(\.\.\.|…)\s*$", "", m.group(2).rstrip("`").rstrip())
            quoted = re.sub(r"\.\.\.|…", GAP, quoted)
            quoted = re.sub(r"\bN\b", NUMBER_GAP, quoted)
            yield Quote(m.group(1), quoted, "%s:%d" % (doc, line))


def quotes():
    for doc, text in doc_text.docs():
        yield from quotes_in(doc, text)


def printed_by(quote, all_templates):
    return [t.where for t in all_templates if t.level == quote.level and fits(t.parts, quote.text)]


@pytest.fixture(scope="module")
def code_templates():
    return templates()


@pytest.mark.parametrize("quote", list(quotes()), ids=repr)
def test_every_log_line_the_docs_quote_is_printed_at_its_level(quote, code_templates):
    where = printed_by(quote, code_templates)
    assert where, "%r: no log call prints this at %s; the calls that print it at any level: %s" % (
        quote, quote.level, [t.where + " " + t.level for t in code_templates
                             if fits(t.parts, quote.text)] or "none")


def test_the_log_calls_are_read():
    """The core's and the shim's log calls are found, so a quote that
    matches none is a quote the code does not print."""
    found = templates()
    assert len([t for t in found if t.where.startswith("src/")]) >= 10, found
    assert len([t for t in found if t.where.startswith("go-shim/")]) >= 2, found


def test_a_quote_must_match_the_code():
    """The matcher on quotes of its own: a quote that drifts from the code
    (a word, a level) is refused."""
    code = templates()
    sample = "\n".join([
        "`[INFO] plugin/multipass: loaded 6 instances from multipass`",
        "`[INFO] plugin/multipass: loaded N instances`",
        "`[ERROR] plugin/multipass: multipass list failed: multipass: not found in PATH; ...`",
        "`[ERROR] plugin/multipass: multipass list --no-ipv4 failed (exit 2): ...; serving the last good`",
        "`[WARNING] plugin/multipass: the core's log queue was full: 12 log lines dropped`",
        "`[INFO] plugin/multipass: loaded six instances`",
        "`[WARNING] plugin/multipass: loaded 6 instances from multipass`",
        "`[ERROR] plugin/multipass: multipass list failing ...`",
    ])
    verdicts = [bool(printed_by(q, code)) for q in quotes_in("sample.md", sample)]
    assert verdicts == [True] * 5 + [False] * 3
