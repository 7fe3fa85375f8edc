"""Every `make` target and script flag the docs name exists (issue 29).

In the code spans and fenced blocks of README.md, go-shim/README.md and
docs/*.md: `make TARGET... [VAR=...]` names targets and variables of the
Makefile; `scripts/NAME ARGS` names a script that exists, and the flags
(`--dry-run`) and parts (`[tools|lint]`) in ARGS are words the script's
argument parsing knows (its `case` arms, or a comparison such as
`[ "$2" = --list ]`). A code span that is a flag alone (`--uninstall`) is a
flag of the script last named in its passage: its paragraph, with the list
that follows it (`scripts/install-service.sh ... sets up:` and its
bullets)."""

import re

import pytest

import doc_text

ROOT = doc_text.ROOT
MAKE = re.compile(r"(?<![\w./-])make((?: +(?:\[?[A-Z_]+=[^\s\]]*\]?|[a-z][\w-]*))+)")
SCRIPT = re.compile(r"(?<![\w.-])scripts/([\w.-]+)")


def makefile():
    """(targets, variables) of the Makefile."""
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*)\s*:(?!=)", text, re.M))
    variables = set(re.findall(r"^([A-Z_]+)\s*[:?]?=", text, re.M))
    return targets, variables


def script_words(path):
    """The words a script's argument parsing knows: its `case` arms and the
    flags it compares with."""
    code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    words = set()
    for arm in re.findall(r"^\s*([-\w*]+(?:\s*\|\s*[-\w*]+)*)\)", code, re.M):
        words.update(w.strip() for w in arm.split("|"))
    words.update(re.findall(r"[!=]=?\s*\"?(--[\w-]+)", code))
    return words


def passages(text):
    """The passage of each line (from 1): a blank line ends one, unless a
    list item follows it."""
    lines = text.split("\n")
    out, passage = [0], 0
    for i, line in enumerate(lines):
        if i > 0 and not lines[i - 1].strip() and line.strip() and not re.match(r"\s*([-*]|\d+\.) ", line):
            passage += 1
        out.append(passage)
    return out


def named():
    """(where, text, script its passage last named) for every code span and
    every line of a fenced block of the docs."""
    for doc, text in doc_text.docs():
        blocks, spans, _ = doc_text.parse(text, doc)
        passage = passages(text)
        items = [(s.line, s.text) for s in spans]
        items += [(b.line + 1 + n, line) for b in blocks for n, line in enumerate(b.text.splitlines())]
        last = {}
        for line, t in sorted(items, key=lambda i: i[0]):
            yield "%s:%d" % (doc, line), t, last.get(passage[line])
            for script in SCRIPT.findall(t):
                last[passage[line]] = script


def flags_after(text, script):
    """The flags and parts text gives `scripts/<script>` (up to a shell
    separator or a comment)."""
    args = re.split(r"[;&|#)]\s|\s#|$", text.split("scripts/" + script, 1)[1], maxsplit=1)[0]
    words = re.findall(r"(?<![\w-])(--[\w-]+)", args)
    for alternatives in re.findall(r"\[([\w-]+(?:\|[\w-]+)+)\]", args):
        words += alternatives.split("|")
    return words


def uses():
    """(where, what, problem or None) for every make target, make variable,
    script and script flag the docs name."""
    targets, variables = makefile()
    for where, text, last_script in named():
        for m in MAKE.finditer(text):
            for word in m.group(1).split():
                if "=" in word:
                    var = word.strip("[").split("=")[0]
                    yield where, "make " + word, None if var in variables else "no variable %s in the Makefile" % var
                else:
                    yield where, "make " + word, None if word in targets else "no target %s in the Makefile" % word
        for script in SCRIPT.findall(text):
            path = ROOT / "scripts" / script
            if not path.is_file():
                yield where, "scripts/" + script, "no such script"
                continue
            known = script_words(path)
            for flag in flags_after(text, script):
                yield where, "scripts/%s %s" % (script, flag), None if flag in known else \
                    "scripts/%s does not take %s" % (script, flag)
        alone = re.fullmatch(r"(--[\w-]+)(?: \S+)?", text)
        if alone and last_script and (ROOT / "scripts" / last_script).is_file():
            flag = alone.group(1)
            yield where, "%s (scripts/%s)" % (text, last_script), None if flag in script_words(
                ROOT / "scripts" / last_script) else "scripts/%s does not take %s" % (last_script, flag)


def test_every_make_target_and_script_flag_the_docs_name_exists():
    found = list(uses())
    problems = ["%s: `%s`: %s" % (where, what, problem) for where, what, problem in found if problem]
    assert problems == [], "\n".join(problems)
    # What the docs name is read: the README's targets, the service script's
    # flags (in the README and service.md), the CI scripts' parts in
    # docs/testing.md.
    for doc, expected in [
            ("README.md", ["make run", "make test", "make install", "make install-service", "make uninstall",
                           "--dry-run (scripts/install-service.sh)"]),
            ("docs/service.md", ["scripts/install-service.sh --zone", "--uninstall (scripts/install-service.sh)"]),
            ("docs/testing.md", ["scripts/check-go.sh nocgo", "make bench"])]:
        read = [what for where, what, _ in found if where.startswith(doc + ":")]
        for e in expected:
            assert any(what.startswith(e) or what.endswith(e) for what in read), "%r not read from %s: %s" % (e, doc, read)


@pytest.mark.parametrize("text,problem", [
    ("`make tests`", "no target tests"),
    ("`make install PREFIX=/opt BINDIR=/x`", "no variable BINDIR"),
    ("`scripts/install-service.sh --zones vm.internal`", "does not take --zones"),
    ("`scripts/check-go.sh [lint|vet]`", "does not take vet"),
    ("`scripts/install-servce.sh`", "no such script"),
    ("`scripts/install-service.sh` ... (`--dryrun` prints it)", "does not take --dryrun"),
])
def test_a_name_that_drifts_is_found(monkeypatch, text, problem):
    monkeypatch.setattr(doc_text, "docs", lambda: [("sample.md", "# S\n\n" + text + "\n")])
    problems = [p for _, _, p in uses() if p]
    assert len(problems) == 1 and problem in problems[0], problems
