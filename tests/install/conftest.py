"""Harness for the install tests: make install into temporary prefixes, the
service script against stand-in systemctl/resolvectl/launchctl.

The DNS helpers (dig, free_port) are the end-to-end suite's (e2e_helpers.py)."""

import fcntl
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from e2e_helpers import e2e

ROOT = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "standin"
FAKE_CLI = ROOT / "tests" / "fake-multipass" / "multipass"

# Tests marked slow (the builds) start first, as in tests/e2e.
pytest_collection_modifyitems = e2e.pytest_collection_modifyitems


def clean_env(**extra):
    """The environment without anything that would help a binary find its library."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "PKG_CONFIG_PATH",
                        "CGO_CFLAGS", "CGO_LDFLAGS", "MULTIPASS_SERVICE_ROOT")}
    env.update(extra)
    return env


def sh(cmd, env=None, check=True, cwd=ROOT, timeout=1800):
    out = subprocess.run(cmd, cwd=cwd, env=env or clean_env(), capture_output=True,
                         text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, "%s: exit %d\n%s\n%s" % (cmd, out.returncode, out.stdout[-4000:],
                                                             out.stderr[-4000:])
    return out


def make_install(prefix, destdir=None, target="install", **env):
    args = ["make", "-s", target, "PREFIX=%s" % prefix]
    if destdir:
        args.append("DESTDIR=%s" % destdir)
    return sh(args, env=clean_env(**env))


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


def serve(binary, corefile, tmp_path):
    """Starts binary -conf corefile with the stand-in fleet; returns the process."""
    env = clean_env(MULTIPASS_FAKE_DIR=str(tmp_path / "fake"))
    (tmp_path / "fake").mkdir(exist_ok=True)
    return subprocess.Popen([str(binary), "-conf", str(corefile)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def answer_of(port, name, proc, timeout=20):
    """The A records dig gets for name once the server answers (it may take a first listing)."""
    deadline = time.monotonic() + timeout
    while not e2e.tcp_listening(port):
        assert proc.poll() is None, "CoreDNS exited:\n" + proc.stdout.read()
        assert time.monotonic() < deadline, "CoreDNS does not listen on %d" % port
        time.sleep(0.1)
    while True:
        assert proc.poll() is None, "CoreDNS exited:\n" + proc.stdout.read()
        reply = e2e.dig(port, name)
        if reply.status != "SERVFAIL" or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def example_corefile(share, port, tmp_path):
    """The installed example Corefile (this system's listener: 127.0.0.153:53
    on Linux), on 127.0.0.1 and a free port, with the stand-in CLI."""
    text = (share / "Corefile.example").read_text()
    listener = re.search(r"^vm\.internal:(\d+) \{$", text, re.M)
    assert listener, text
    text = text.replace(listener.group(0), "vm.internal:%d {" % port)
    text = re.sub(r"^    bind \S+$", "    bind 127.0.0.1", text, flags=re.M)
    text = "\n".join("        binary %s" % FAKE_CLI if l.strip().startswith("binary ") else l
                     for l in text.splitlines())
    path = tmp_path / "Corefile"
    path.write_text(text + "\n")
    return path


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """make install PREFIX=<tmp> (as a user runs it), once for the whole run:
    the prefix. Under pytest-xdist the first worker to ask installs, in the
    folder the run's workers share, and the others wait for it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    prefix = base / "installed-prefix"
    with open(base / "installed-prefix.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (prefix / "share" / "coredns-multipass" / "install-manifest.txt").exists():
            make_install(prefix)
    return prefix


@pytest.fixture
def standin(tmp_path):
    """PATH with stand-in systemctl/resolvectl/launchctl and the fake multipass; their call log."""
    bindir = tmp_path / "standin-bin"
    bindir.mkdir()
    for tool in ("systemctl", "resolvectl", "launchctl"):
        os.symlink(STANDIN / "tool", bindir / tool)
    os.symlink(FAKE_CLI, bindir / "multipass")
    log = tmp_path / "calls.log"
    log.touch()
    env = clean_env(PATH="%s:%s" % (bindir, os.environ["PATH"]), STANDIN_LOG=str(log))
    return env, log


def calls(log):
    return Path(log).read_text().splitlines()


def have(tool):
    return shutil.which(tool) is not None


def pytest_terminal_summary(terminalreporter):
    """Prints what the tests measured (record_property("figure", text)), also under xdist."""
    figures = [value for reports in terminalreporter.stats.values() for r in reports
               if getattr(r, "when", None) == "call"
               for key, value in getattr(r, "user_properties", ()) if key == "figure"]
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.line(line)
