"""Every Corefile of the docs is safe to copy, and starts (issues 28, 29).

Every Corefile snippet of README.md, go-shim/README.md and docs/*.md runs
with build/coredns (its paths pointed at the stand-in CLI and the test's
files) in a network namespace of its own (as root, or in a user namespace of
its own), where port 53 and any address are free. A snippet is a block fenced
`~~~ corefile`, or any other fenced block that looks like a Corefile (a first
line such as `vm.internal {`, a last `}`): none is skipped for its fence.

What a snippet listens on must be the loopback alone, unless the paragraph
before the snippet says it "listens on every interface on purpose" (and then
it does) or "listens on the LAN address on purpose" (then the addresses it
binds are given to the namespace's loopback device, and it listens on those
alone); *ready* and *prometheus* listen on the loopback in every snippet.
A snippet that serves vm.internal answers primary.vm.internal.

A snippet meant to fail is fenced `~~~ corefile fails`; the next fenced block
in its section holds what CoreDNS prints (each of its lines a part of
CoreDNS's output, such as `Corefile:4 - Error during parsing: ...`). It must
exit with an error and print that."""

import os
import re
import subprocess
import time

import pytest

import doc_text
from conftest import FAKE_CLI, e2e

ON_PURPOSE = "every interface on purpose"
LAN_ON_PURPOSE = "listens on the LAN address on purpose"
FAILS = "corefile fails"


class Snippet:
    def __init__(self, block, error=None):
        self.corefile, self.before, self.where = block.text, block.before, "%s:%d" % (block.doc, block.line)
        self.fails = block.info == FAILS
        self.error = error  # what a failing snippet prints, line by line

    def __repr__(self):
        return self.where


def snippets_of(blocks):
    """The Corefile snippets among a doc's blocks, each failing one with the
    error of the block after it."""
    out = []
    for i, b in enumerate(blocks):
        if b.info == FAILS:
            after = blocks[i + 1] if i + 1 < len(blocks) else None
            assert after and after.section == b.section and after.doc == b.doc, \
                "%s:%d: a `~~~ %s` snippet needs the error it prints in the next block of its section" \
                % (b.doc, b.line, FAILS)
            out.append(Snippet(b, [line.strip() for line in after.text.splitlines() if line.strip()]))
        elif b.info == "corefile" or doc_text.looks_like_corefile(b.text):
            out.append(Snippet(b))
    return out


def snippets():
    for doc, text in doc_text.docs():
        for s in snippets_of(doc_text.parse(text, doc)[0]):
            yield pytest.param(s, id=s.where)


def runnable(corefile, tmp_path):
    """The snippet with its files the test's: the stand-in CLI, a DNSSEC key, a hosts file."""
    text = re.sub(r"^(\s*binary) \S+$", r"\1 %s" % FAKE_CLI, corefile, flags=re.M)
    if re.search(r"^\s*key file ", text, re.M):
        key = subprocess.run(["dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-K", str(tmp_path),
                              "vm.internal"], capture_output=True, text=True, check=True)
        text = re.sub(r"^(\s*key file) \S+$", r"\1 %s" % (tmp_path / key.stdout.strip()), text,
                      flags=re.M)
    if re.search(r"^\s*state /", text, re.M):
        (tmp_path / "state").mkdir()
        text = re.sub(r"^(\s*state) /\S+$", r"\1 %s" % (tmp_path / "state"), text, flags=re.M)
    if re.search(r"^\s*hosts /", text, re.M):
        (tmp_path / "hosts").write_text("10.0.0.1 printer.lab.vm.internal\n")
        text = re.sub(r"^(\s*hosts) /\S+", r"\1 %s" % (tmp_path / "hosts"), text, flags=re.M)
    return text


def loopback(address):
    return address.startswith(("127.", "[::1]", "localhost"))


def namespace():
    """(the command that makes a network namespace of the test's own, the
    command that enters that of a process): as root, or else inside a user
    namespace of its own (where port 53 is the test's too); None when
    neither is permitted."""
    if os.geteuid() == 0:
        make = ["unshare", "--net"]
        enter = lambda pid: ["nsenter", "--net=/proc/%d/ns/net" % pid, "--"]  # noqa: E731
    else:
        make = ["unshare", "--user", "--map-root-user", "--net"]
        enter = lambda pid: ["nsenter", "-t", str(pid), "--user", "--net",  # noqa: E731
                             "--preserve-credentials", "--"]
    return (make, enter) if subprocess.run(make + ["true"]).returncode == 0 else None


def check(snippet, tmp_path):
    """Starts the snippet as the module docstring says, and asserts what it promises."""
    ns = namespace()
    if ns is None:
        pytest.skip("no network namespace of its own: not root, and no user namespace permitted")
    make_namespace, enter = ns
    tmp_path.mkdir(parents=True, exist_ok=True)
    assert e2e.COREDNS.exists(), "no %s: run make coredns" % e2e.COREDNS
    corefile = snippet.corefile
    for plugin, args in re.findall(r"^\s*(ready|prometheus)\b(.*)$", corefile, re.M):
        assert args.strip() and loopback(args.strip()), \
            "%s listens on every interface: give it 127.0.0.1:PORT\n%s" % (plugin, corefile)
    before = " ".join(snippet.before.split())  # the paragraph, however it is wrapped
    on_purpose = ON_PURPOSE in before
    lan = sorted(set(re.findall(r"^\s*bind (\d+\.\d+\.\d+\.\d+)$", corefile, re.M)) - {"127.0.0.1"})
    assert not lan or LAN_ON_PURPOSE in before, \
        "binds %s: say it %r in the paragraph before, or bind the loopback" % (lan, LAN_ON_PURPOSE)
    path = tmp_path / "Corefile"
    path.write_text(runnable(corefile, tmp_path))
    (tmp_path / "fake").mkdir()
    (tmp_path / "bin").mkdir()  # `binary` left out: multipass on PATH
    os.symlink(FAKE_CLI, tmp_path / "bin" / "multipass")
    env = dict(os.environ, MULTIPASS_FAKE_DIR=str(tmp_path / "fake"),
               PATH="%s:%s" % (tmp_path / "bin", os.environ["PATH"]))
    log_path = tmp_path / "coredns.log"
    log = open(log_path, "w")
    setup = "ip link set lo up" + "".join(" && ip addr add %s/32 dev lo" % a for a in lan)
    proc = subprocess.Popen(make_namespace + ["sh", "-c", setup + ' && exec "$@"', "sh",
                                              str(e2e.COREDNS), "-conf", str(path)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    inside = enter(proc.pid)
    dns_port = int((re.search(r"^\S*?:(\d+)", corefile, re.M) or [None, 53])[1])
    try:
        def listeners():
            if snippet.fails and proc.poll() is not None:
                return []
            assert proc.poll() is None, "CoreDNS exited:\n" + log_path.read_text()
            out = subprocess.run(inside + ["ss", "-Hlntu"], capture_output=True, text=True)
            return sorted({line.split()[4] for line in out.stdout.splitlines()})
        if snippet.fails:
            # It fails at setup, before it listens: it must not serve.
            e2e.eventually(lambda: proc.poll() is not None or any(
                a.endswith(":%d" % dns_port) for a in listeners()), 20, "CoreDNS exiting")
            assert proc.poll() is not None, \
                "%s is marked `%s`, but CoreDNS started and listens:\n%s" % (snippet, FAILS, corefile)
            printed = log_path.read_text()
            assert proc.returncode != 0, printed
            for line in snippet.error:
                assert line in printed, "%s: CoreDNS did not print %r; it printed:\n%s" % (snippet, line, printed)
            return
        e2e.eventually(lambda: any(a.endswith(":%d" % dns_port) for a in listeners()), 20,
                       "CoreDNS listening on port %d" % dns_port)
        listening = listeners()
        if on_purpose:
            assert [a for a in listening if not loopback(a) and a.endswith(":%d" % dns_port)], \
                "says it listens on every interface, but: %s" % listening
            assert [a for a in listening if not loopback(a)
                    and not a.endswith(":%d" % dns_port)] == [], listening
        else:
            assert [a for a in listening if not loopback(a)
                    and a.rsplit(":", 1)[0] not in lan] == [], \
                "listens beyond the loopback: %s\n%s" % (listening, corefile)
            for address in lan:
                assert "%s:%d" % (address, dns_port) in listening, listening
        if re.search(r"^(\S+ )*vm\.internal(:\d+)?[ {]|^\s*multipass vm\.internal\b", corefile, re.M):
            deadline = time.monotonic() + 20
            while True:
                out = subprocess.run(inside + ["dig", "@127.0.0.1", "-p", str(dns_port)]
                                     + e2e.DIG_OPTIONS + ["primary.vm.internal", "A"],
                                     capture_output=True, text=True, timeout=30)
                reply = e2e.parse_replies(out.stdout)
                if reply and reply[0].status == "NOERROR" and reply[0].answer:
                    break
                assert time.monotonic() < deadline, out.stdout + out.stderr
                time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("snippet", list(snippets()))
def test_every_doc_corefile_listens_on_the_loopback_and_starts(tmp_path, snippet):
    check(snippet, tmp_path)


# The rules above, on a doc of the test's own: a snippet in another fence is
# found; one marked to fail must fail, and with the error it documents.
SAMPLE = """\
# Sample

```
vm.internal:1053 {
    bind 127.0.0.1
    multipass
}
```

A probe must be shorter than refresh:

~~~ corefile fails
vm.internal:1053 {
    bind 127.0.0.1
    multipass {
        probe 1m
        refresh 30s
    }
}
~~~

CoreDNS stops at once:

~~~
Corefile:4 - Error during parsing: probe (1m0s) must be shorter than refresh (30s), or off
~~~
"""


def sample_snippets(text=SAMPLE):
    return snippets_of(doc_text.parse(text, "sample.md")[0])


def test_a_corefile_in_another_fence_is_found():
    plain, failing = sample_snippets()
    assert (plain.where, plain.fails) == ("sample.md:3", False)
    assert (failing.where, failing.fails) == ("sample.md:12", True)
    assert failing.error == ["Corefile:4 - Error during parsing: probe (1m0s) must be shorter than "
                             "refresh (30s), or off"]


def test_a_snippet_marked_to_fail_must_fail_with_its_error(tmp_path):
    _, failing = sample_snippets()
    check(failing, tmp_path / "documented")
    wrong = sample_snippets(SAMPLE.replace("(30s), or off", "(30s)!"))[1]
    with pytest.raises(AssertionError, match="CoreDNS did not print"):
        check(wrong, tmp_path / "wrong_error")
    starts = sample_snippets(SAMPLE.replace("probe 1m", "probe 10s"))[1]
    with pytest.raises(AssertionError, match="marked `corefile fails`, but CoreDNS started"):
        check(starts, tmp_path / "starts")
    with pytest.raises(AssertionError, match="needs the error it prints"):
        sample_snippets(SAMPLE.split("CoreDNS stops at once")[0])
