"""scripts/install-service.sh against stand-in systemctl, resolvectl and
launchctl (they record their calls) with every system path under a folder."""

import getpass
import os
import plistlib
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, calls, e2e, files_under, have

SCRIPT = ROOT / "scripts" / "install-service.sh"
UNIT = "etc/systemd/system/coredns-multipass.service"
CONF = "etc/coredns-multipass/Corefile"


def run(env, root, *args, os_name="Linux"):
    env = dict(env, MULTIPASS_SERVICE_ROOT=str(root), MULTIPASS_SERVICE_OS=os_name)
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def root(tmp_path):
    """A system with systemd running (its /run marker) and an empty unit folder."""
    r = tmp_path / "root"
    (r / "run" / "systemd" / "system").mkdir(parents=True)
    (r / "etc" / "systemd" / "system").mkdir(parents=True)
    return r


def written(root):
    return [f for f in files_under(root) if (root / f).is_file()]


def test_linux_run_installs_unit_and_route_then_uninstall_removes_them(installed, standin, root):
    env, log = standin
    port = e2e.free_port()
    out = run(env, root, "--prefix", str(installed), "--zone", "vm.test", "--port", str(port))
    assert out.returncode == 0, out.stderr
    assert written(root) == sorted([CONF, "etc/coredns-multipass/service-manifest", UNIT])
    assert calls(log) == ["resolvectl status", "resolvectl --version", "systemctl daemon-reload",
                          "systemctl enable coredns-multipass.service",
                          "systemctl restart coredns-multipass.service"]
    unit = (root / UNIT).read_text()
    assert "User=%s\n" % getpass.getuser() in unit
    assert "ExecStart=%s/bin/coredns-multipass -conf /%s\n" % (installed, CONF) in unit
    # The stand-in's fleet has its VMs' first addresses in 10.110.24.0/24.
    assert "==> reverse zones: 24.110.10.in-addr.arpa (the /24 networks" in out.stdout
    route = [l.split(" ", 1)[1] for l in unit.splitlines() if l.startswith("ExecStartPost=")]
    assert route == ["domain mp-dns0 ~vm.test ~24.110.10.in-addr.arpa",
                     "default-route mp-dns0 false", "dnssec mp-dns0 no",
                     "nta mp-dns0 vm.test 24.110.10.in-addr.arpa",
                     "dns mp-dns0 127.0.0.1:%d" % port], unit
    link = re.search(r"^ExecStartPre=\+\S+ link add mp-dns0 type (dummy|ifb)$", unit, re.M)
    assert link, unit
    if link.group(1) == "ifb":  # a kernel without the dummy driver (as this machine's)
        assert "this kernel has no dummy link driver: mp-dns0 will be an ifb link" in out.stdout
    corefile = (root / CONF).read_text()
    assert "vm.test:%d 24.110.10.in-addr.arpa:%d {" % (port, port) in corefile
    assert "binary %s\n" % shutil.which("multipass", path=env["PATH"]) in corefile
    if have("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(root / UNIT)],
                                capture_output=True, text=True, env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr

    out = run(env, root, "--uninstall")
    assert out.returncode == 0, out.stderr
    assert written(root) == []
    assert calls(log)[-2:] == ["systemctl disable --now coredns-multipass.service",
                               "systemctl daemon-reload"]


def test_failure_half_way_leaves_nothing_behind(installed, standin, root):
    env, log = standin
    env = dict(env, STANDIN_FAIL="systemctl enable")
    out = run(env, root, "--prefix", str(installed), "--port", str(e2e.free_port()))
    assert out.returncode != 0
    assert "failed" in out.stderr
    assert written(root) == []
    assert calls(log)[-2:] == ["systemctl disable --now coredns-multipass.service",
                               "systemctl daemon-reload"]


def test_refuses_a_taken_port_and_writes_nothing(installed, standin, root):
    env, log = standin
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run(env, root, "--prefix", str(installed), "--port", str(port))
    assert out.returncode != 0
    assert "port %d" % port in out.stderr
    assert written(root) == []
    assert not [c for c in calls(log) if c.startswith("systemctl")]


def test_refuses_without_systemd_or_multipass(installed, standin, tmp_path):
    env, log = standin
    out = run(env, tmp_path / "no-systemd", "--prefix", str(installed))
    assert out.returncode != 0 and "systemd is not running" in out.stderr
    assert not (tmp_path / "no-systemd").exists()
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    for tool in ("systemctl", "resolvectl"):
        os.symlink(Path(env["PATH"].split(":")[0]) / tool, bare / tool)
    no_cli = dict(env, PATH="%s:/usr/bin:/bin" % bare)
    out = run(no_cli, tmp_path / "no-cli", "--prefix", str(installed))
    assert out.returncode != 0 and "no multipass CLI" in out.stderr
    assert not (tmp_path / "no-cli").exists() and calls(log) == []


def test_dry_run_prints_everything_and_writes_nothing(tmp_path, standin):
    env, log = standin
    env = dict(env, PATH="/usr/bin:/bin")  # no systemctl, no multipass
    out = run(env, tmp_path / "root", "--dry-run", "--zone", "vm.test", "--port", "1054")
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "root").exists() and calls(log) == []
    for text in ["--- /etc/systemd/system/coredns-multipass.service", "--- /" + CONF,
                 "resolvectl domain mp-dns0 ~vm.test", "resolvectl dns mp-dns0 127.0.0.1:1054",
                 "+ systemctl enable coredns-multipass.service", "systemd is not running"]:
        assert text in out.stdout
    mac = run(env, tmp_path / "root", "--dry-run", "--zone", "vm.test", "--port", "1054",
              os_name="Darwin")
    assert mac.returncode == 0, mac.stderr
    assert "--- /etc/resolver/vm.test (mode 644)\nnameserver 127.0.0.1\nport 1054\n" in mac.stdout
    assert "+ launchctl bootstrap gui/" in mac.stdout
    assert not (tmp_path / "root").exists()


def test_macos_run_writes_agent_and_resolver_then_uninstall_removes_them(installed, standin, tmp_path):
    env, log = standin
    root = tmp_path / "root"
    home = os.path.expanduser("~" + getpass.getuser())
    out = run(env, root, "--prefix", str(installed), "--zone", "vm.test", "--port", "1054",
              os_name="Darwin")
    assert out.returncode == 0, out.stderr
    agent = root / home.lstrip("/") / "Library/LaunchAgents/io.github.coredns-multipass.plist"
    plist = plistlib.loads(agent.read_bytes())
    conf = home + "/Library/Application Support/coredns-multipass/Corefile"
    assert plist["ProgramArguments"] == ["%s/bin/coredns-multipass" % installed, "-conf", conf]
    assert (root / "etc/resolver/vm.test").read_text() == "nameserver 127.0.0.1\nport 1054\n"
    assert calls(log)[-1] == "launchctl bootstrap gui/%d %s" % (os.getuid(), "/" + str(agent.relative_to(root)))
    out = run(env, root, "--uninstall", "--zone", "vm.test", os_name="Darwin")
    assert out.returncode == 0, out.stderr
    assert written(root) == []
    assert "launchctl bootout gui/%d/io.github.coredns-multipass" % os.getuid() in calls(log)


def test_preflight_refuses_old_systemd_local_zones_and_bad_networks(installed, standin, root):
    env, log = standin
    args = ("--prefix", str(installed), "--port", str(e2e.free_port()))
    old = run(dict(env, STANDIN_SYSTEMD="245 (245.4-4ubuntu3.24)"), root, *args)
    assert old.returncode != 0 and "systemd 245 is older than 246" in old.stderr, old.stderr
    local = run(env, root, *args, "--zone", "vms.Local")
    assert local.returncode != 0 and "is under .local" in local.stderr, local.stderr
    for bad in ("10.0.0.0/20", "10.0.0.256/24", "fd00::/64", "10.0.0.0"):
        out = run(env, root, *args, "--reverse", bad)
        assert out.returncode != 0 and "--reverse '%s' is not an IPv4 network" % bad in out.stderr
    assert written(root) == []
    assert not [c for c in calls(log) if c.startswith("systemctl")]


def test_preflight_warns_on_systemd_252_before_252_3(installed, standin, root):
    env, log = standin
    out = run(dict(env, STANDIN_SYSTEMD="252 (252.2-1)"), root, "--prefix", str(installed),
              "--port", str(e2e.free_port()))
    assert out.returncode == 0, out.stderr
    assert "warning: systemd 252.2's resolved ignores a per-link DNS server on 127.0.0.1" in out.stderr


def test_refuses_a_kernel_that_makes_no_link(installed, standin, root, tmp_path):
    env, log = standin
    bindir = tmp_path / "no-link-bin"
    bindir.mkdir()
    (bindir / "ip").write_text('#!/bin/sh\necho "Error: Unknown device type." >&2\nexit 2\n')
    (bindir / "ip").chmod(0o755)
    out = run(dict(env, PATH="%s:%s" % (bindir, env["PATH"])), root, "--prefix", str(installed),
              "--port", str(e2e.free_port()))
    assert out.returncode != 0
    assert "this kernel makes neither a dummy nor an ifb link" in out.stderr, out.stderr
    assert written(root) == []


def test_refuses_a_unit_systemd_analyze_rejects(installed, standin, root, tmp_path):
    env, log = standin
    os.symlink(Path(env["PATH"].split(":")[0]) / "systemctl",
               Path(env["PATH"].split(":")[0]) / "systemd-analyze")
    env = dict(env, STANDIN_FAIL="systemd-analyze verify")
    out = run(env, root, "--prefix", str(installed), "--port", str(e2e.free_port()))
    assert out.returncode != 0
    assert "systemd-analyze verify rejects the unit: systemd-analyze: failing on purpose" in out.stderr
    assert written(root) == []


def test_reverse_zones_chosen_given_or_none(installed, standin, root, tmp_path):
    env, log = standin
    args = ("--dry-run", "--prefix", str(installed), "--port", "1054")
    given = run(env, root, *args, "--reverse", "192.168.64.0/24", "--reverse", "172.16.0.0/16")
    assert given.returncode == 0, given.stderr
    assert "==> reverse zones: 64.168.192.in-addr.arpa 16.172.in-addr.arpa (--reverse " in given.stdout
    assert ("vm.internal:1054 64.168.192.in-addr.arpa:1054 16.172.in-addr.arpa:1054 {"
            in given.stdout)
    assert "domain mp-dns0 ~vm.internal ~64.168.192.in-addr.arpa ~16.172.in-addr.arpa\n" in given.stdout
    none = run(env, root, *args, "--reverse", "none")
    assert "==> reverse zones: none (--reverse none)" in none.stdout
    assert "vm.internal:1054 {" in none.stdout
    assert "domain mp-dns0 ~vm.internal\n" in none.stdout and "nta mp-dns0 vm.internal\n" in none.stdout
    fake = e2e.FakeCLI(tmp_path / "fake")
    fake.set_mode("no-daemon")
    silent = run(dict(env, MULTIPASS_FAKE_DIR=str(fake.dir)), root, *args)
    assert silent.returncode == 0, silent.stderr
    assert "==> no reverse zone: 'multipass list' gave no VM address now" in silent.stdout
    assert "vm.internal:1054 {" in silent.stdout
    mac = run(env, root, *args, "--reverse", "192.168.64.0/24", os_name="Darwin")
    assert "--- /etc/resolver/64.168.192.in-addr.arpa (mode 644)\nnameserver 127.0.0.1\nport 1054\n" \
        in mac.stdout
    assert not root.joinpath("etc/coredns-multipass").exists()


def test_macos_resolver_files_have_no_search_line(installed, standin, tmp_path):
    # A `search` line puts the zone on the Mac's search list for every bare
    # name, and bare-name lookups hang once CoreDNS stops (apple/container#1917).
    env, log = standin
    root = tmp_path / "root"
    out = run(env, root, "--prefix", str(installed), "--zone", "vm.test", "--port", "1054",
              "--reverse", "192.168.64.0/24", os_name="Darwin")
    assert out.returncode == 0, out.stderr
    files = sorted((root / "etc/resolver").iterdir())
    assert [f.name for f in files] == ["64.168.192.in-addr.arpa", "vm.test"]
    for f in files:
        keys = [line.split()[0] for line in f.read_text().splitlines() if line.strip()]
        assert keys == ["nameserver", "port"], (f.name, f.read_text())
