"""The plugin as the system resolver: glibc's getaddrinfo (`getent ahosts`)
asks CoreDNS on port 53, as every program on the machine would.

The test makes a network namespace of its own (root and Linux only) so that
CoreDNS can own 127.0.0.1:53 and resolv.conf without touching the host:
/etc/netns/<ns>/resolv.conf says `nameserver 127.0.0.1` and
/etc/netns/<ns>/nsswitch.conf says `hosts: dns` (so /etc/hosts plays no part);
`ip netns exec` puts both over /etc for the programs it runs. Where namespaces
are not available the test is skipped, saying why."""

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAKE_CLI, CoreDNS, eventually

NETNS_COREFILE = """\
vm.test:53 {{
    bind 127.0.0.1
    log
    multipass {{
        binary {binary}
        refresh 1s
    }}
    ready 127.0.0.1:8181
}}
"""


def run(cmd, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def netns():
    """A fresh network namespace with lo up and the resolver files; deleted,
    with its /etc/netns directory, whatever happens."""
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces are Linux-only; on macOS see docs/macos-resolver.md")
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace (ip netns add) needs root")
    ip, getent = shutil.which("ip"), shutil.which("getent")
    if ip is None or getent is None:
        pytest.skip("needs `ip` (iproute2) and `getent` (libc-bin) to test the system resolver")

    name = "mp-e2e-%s" % secrets.token_hex(4)
    added = run([ip, "netns", "add", name])
    if added.returncode != 0:
        pytest.skip("network namespaces are not permitted here: `ip netns add` said: %s"
                    % added.stderr.strip())
    etc = Path("/etc/netns") / name
    try:
        up = run([ip, "-n", name, "link", "set", "lo", "up"])
        assert up.returncode == 0, up.stderr
        etc.mkdir(parents=True)
        # search: a short name ("primary") resolves in the VM zone too.
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\nsearch vm.test\n")
        nsswitch = Path("/etc/nsswitch.conf")
        lines = nsswitch.read_text().splitlines() if nsswitch.exists() else []
        lines = [l for l in lines if not l.startswith("hosts:")] + ["hosts: dns"]
        (etc / "nsswitch.conf").write_text("\n".join(lines) + "\n")
        yield name
    finally:
        deleted = run([ip, "netns", "delete", name])
        shutil.rmtree(etc, ignore_errors=True)
        assert deleted.returncode == 0, deleted.stderr


@pytest.fixture
def coredns_in(netns, coredns_binary, tmp_path):
    """build/coredns on 127.0.0.1:53 inside the namespace, ready; stopped and
    checked for a clean exit afterwards."""
    wrapper = tmp_path / "coredns-in-netns"
    # `ip netns exec` execs CoreDNS: the pid the harness signals is CoreDNS's.
    wrapper.write_text('#!/bin/sh\nexec ip netns exec %s %s "$@"\n' % (netns, coredns_binary))
    wrapper.chmod(0o755)
    server = CoreDNS(wrapper, tmp_path / "coredns", NETNS_COREFILE, "list-mixed.json", "ok")
    try:
        ready = [sys.executable, "-c", "import urllib.request; urllib.request.urlopen("
                 "'http://127.0.0.1:8181/ready', timeout=2)"]

        def is_ready():
            if server.proc.poll() is not None:
                pytest.fail("coredns exited with %d\n%s" % (server.proc.returncode, server.logs()))
            return run(["ip", "netns", "exec", netns] + ready).returncode == 0
        eventually(is_ready, 15, "/ready 200 inside the namespace", interval=0.2)
        yield server
    finally:
        server.check_clean_exit()
        print(server.logs())


def getent(netns, name):
    return run(["ip", "netns", "exec", netns, "getent", "ahosts", name])


def queries(server, since):
    """(type, name, rcode) of every query the log plugin printed after
    offset `since` of CoreDNS's stdout."""
    out = server.stdout_path.read_text(errors="replace")[since:]
    return re.findall(r'^\[INFO\] \S+ - \d+ "(\S+) IN (\S+) \S+ \d+ \S+ \d+" (\S+) ', out, re.M)


def test_getaddrinfo_resolves_a_vm_at_once(netns, coredns_in):
    since = len(coredns_in.stdout_path.read_text())
    out = getent(netns, "primary.vm.test")
    assert out.returncode == 0, (out.returncode, out.stderr, coredns_in.logs())
    addresses = {line.split()[0] for line in out.stdout.splitlines()}
    assert addresses == {"10.110.24.87"}, out.stdout

    # glibc asked A and AAAA together, once each, and both were answered:
    # AAAA is NODATA, never SERVFAIL (which tells a stub resolver to retry or
    # to try its next server; the original plugin sent it).
    asked = eventually(lambda: sorted(queries(coredns_in, since)) if len(
        queries(coredns_in, since)) >= 2 else None, 10, "the log lines of glibc's queries")
    assert asked == [("A", "primary.vm.test.", "NOERROR"),
                     ("AAAA", "primary.vm.test.", "NOERROR")], asked


def test_getaddrinfo_reports_an_unknown_vm_as_not_found(netns, coredns_in):
    out = getent(netns, "nosuch.vm.test")
    # getent's exit status 2: "One or more supplied key could not be found".
    assert out.returncode == 2 and out.stdout == "", (out.returncode, out.stdout, out.stderr)


def test_getaddrinfo_resolves_a_short_name_through_the_search_list(netns, coredns_in):
    out = getent(netns, "primary")
    assert out.returncode == 0, (out.returncode, out.stderr)
    assert {line.split()[0] for line in out.stdout.splitlines()} == {"10.110.24.87"}, out.stdout
