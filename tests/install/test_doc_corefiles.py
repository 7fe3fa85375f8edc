"""Every Corefile of the docs is safe to copy, and starts (issue 28).

Each `~~~ corefile` snippet of README.md, go-shim/README.md and docs/*.md
runs with build/coredns (its paths pointed at the stand-in CLI and the test's
files) in a network namespace of its own (as root, or in a user namespace of
its own), where port 53 and any address are free. What it listens on must be
the loopback alone, unless the paragraph before the snippet says it "listens
on every interface on purpose" (and then it does) or "listens on the LAN
address on purpose" (then the addresses it binds are given to the namespace's
loopback device, and it listens on those alone); *ready* and *prometheus*
listen on the loopback in every snippet. A snippet that serves vm.internal
answers primary.vm.internal."""

import os
import re
import subprocess
import time

import pytest

from conftest import FAKE_CLI, ROOT, e2e

DOCS = [ROOT / "README.md", ROOT / "go-shim" / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
ON_PURPOSE = "every interface on purpose"
LAN_ON_PURPOSE = "listens on the LAN address on purpose"


def snippets():
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(r"^~~~ corefile\n(.*?)^~~~$", text, re.S | re.M):
            before = text[:m.start()].rstrip().rsplit("\n\n", 1)[-1]
            line = text.count("\n", 0, m.start()) + 1
            yield pytest.param(m.group(1), before, id="%s:%d" % (doc.relative_to(ROOT), line))


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


@pytest.mark.parametrize("corefile,before", list(snippets()))
def test_every_doc_corefile_listens_on_the_loopback_and_starts(tmp_path, corefile, before):
    ns = namespace()
    if ns is None:
        pytest.skip("no network namespace of its own: not root, and no user namespace permitted")
    make_namespace, enter = ns
    assert e2e.COREDNS.exists(), "no %s: run make coredns" % e2e.COREDNS
    for plugin, args in re.findall(r"^\s*(ready|prometheus)\b(.*)$", corefile, re.M):
        assert args.strip() and loopback(args.strip()), \
            "%s listens on every interface: give it 127.0.0.1:PORT\n%s" % (plugin, corefile)
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
    log = open(tmp_path / "coredns.log", "w")
    setup = "ip link set lo up" + "".join(" && ip addr add %s/32 dev lo" % a for a in lan)
    proc = subprocess.Popen(make_namespace + ["sh", "-c", setup + ' && exec "$@"', "sh",
                                              str(e2e.COREDNS), "-conf", str(path)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    inside = enter(proc.pid)
    dns_port = int((re.search(r"^\S*?:(\d+)", corefile, re.M) or [None, 53])[1])
    try:
        def listeners():
            assert proc.poll() is None, "CoreDNS exited:\n" + (tmp_path / "coredns.log").read_text()
            out = subprocess.run(inside + ["ss", "-Hlntu"], capture_output=True, text=True)
            return sorted({line.split()[4] for line in out.stdout.splitlines()})
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
