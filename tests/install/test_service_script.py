"""scripts/install-service.sh against stand-in systemctl, resolvectl and
launchctl (they record their calls) with every system path under a folder.

The tests run as root (the namespaces of test_real_resolved.py need it): the
service's user is given by name (--user), as the script asks of a root shell.
The attacks of issue 28 run as an unprivileged user (nobody) against the
stand-in macOS layout."""

import getpass
import os
import plistlib
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, calls, e2e, files_under, have

SCRIPT = ROOT / "scripts" / "install-service.sh"
UNIT = "etc/systemd/system/coredns-multipass.service"
CONF = "etc/coredns-multipass/Corefile"
MANIFEST = "etc/coredns-multipass/service-manifest"
MAC_CONF = "Library/Application Support/coredns-multipass/Corefile"
MAC_MANIFEST = "Library/Application Support/coredns-multipass/service-manifest"
MAC_PLIST = "Library/LaunchDaemons/io.github.coredns-multipass.plist"
MAC_LOG = "var/log/coredns-multipass.log"
NOBODY = 65534  # the unprivileged user the attacks run as
PSL = Path("/usr/share/publicsuffix/public_suffix_list.dat")


def run(env, root, *args, os_name="Linux", user=getpass.getuser()):
    """The script with MULTIPASS_SERVICE_ROOT=root; --user USER unless user is None."""
    env = dict(env, MULTIPASS_SERVICE_ROOT=str(root), MULTIPASS_SERVICE_OS=os_name)
    env.pop("SUDO_USER", None)
    extra = ["--user", user] if user is not None and "--user" not in args else []
    return subprocess.run([str(SCRIPT), *args, *extra], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def root(tmp_path):
    """A system with systemd running (its /run marker) and an empty unit folder."""
    r = tmp_path / "root"
    (r / "run" / "systemd" / "system").mkdir(parents=True)
    (r / "etc" / "systemd" / "system").mkdir(parents=True)
    return r


def written(root):
    return [f for f in files_under(root) if (root / f).is_file()]


def unit_of(out):
    """The unit a (dry) run printed."""
    text = out.stdout.split("--- /etc/systemd/system/coredns-multipass.service (mode 644)\n")[1]
    return text.split("\n+ systemctl ")[0]


def route_of(unit):
    return [l.split(" ", 1)[1] for l in unit.splitlines()
            if l.startswith("ExecStartPost=+") and "resolvectl " in l]


def test_linux_run_installs_unit_and_route_then_uninstall_removes_them(installed, standin, root):
    env, log = standin
    out = run(env, root, "--prefix", str(installed), "--zone", "vm.test")
    assert out.returncode == 0, out.stderr
    assert written(root) == sorted([CONF, MANIFEST, UNIT])
    assert calls(log) == ["resolvectl status", "resolvectl --version", "systemctl daemon-reload",
                          "systemctl enable coredns-multipass.service",
                          "systemctl restart coredns-multipass.service"]
    unit = (root / UNIT).read_text()
    assert "User=%s\n" % getpass.getuser() in unit
    assert re.search(r"^ExecStart=\S+/setpriv --clear-groups .* -- %s/bin/coredns-multipass -conf /%s$"
                     % (installed, CONF), unit, re.M), unit
    # The stand-in's fleet has its VMs' first addresses in 10.110.24.0/24.
    assert "==> reverse zones: 24.110.10.in-addr.arpa (the /24 networks" in out.stdout
    # The route waits for CoreDNS itself on 127.0.0.153:53, then names it.
    assert re.search(r'^ExecStartPost=\+/bin/sh -c .*"src 127\.0\.0\.153:53".*"pid=\$MAINPID,"',
                     unit, re.M), unit
    assert route_of(unit) == ["domain mp-dns0 ~vm.test ~24.110.10.in-addr.arpa",
                              "default-route mp-dns0 false", "dnssec mp-dns0 no",
                              "nta mp-dns0 vm.test 24.110.10.in-addr.arpa",
                              "dns mp-dns0 127.0.0.153"], unit
    link = re.search(r"^ExecStartPre=\+\S+ link add mp-dns0 type (dummy|ifb)$", unit, re.M)
    assert link, unit
    if link.group(1) == "ifb":  # a kernel without the dummy driver (as this machine's)
        assert "this kernel has no dummy link driver: mp-dns0 will be an ifb link" in out.stdout
    corefile = (root / CONF).read_text()
    assert "vm.test:53 24.110.10.in-addr.arpa:53 {\n    bind 127.0.0.153\n" in corefile
    assert "binary %s\n" % shutil.which("multipass", path=env["PATH"]) in corefile
    for path in written(root):  # root's (the tests' user's), writable by it alone
        info = (root / path).stat()
        assert info.st_uid == os.geteuid() and info.st_mode & 0o022 == 0, (path, oct(info.st_mode))
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
    out = run(env, root, "--prefix", str(installed))
    assert out.returncode != 0
    assert "failed" in out.stderr
    assert written(root) == []
    assert calls(log)[-2:] == ["systemctl disable --now coredns-multipass.service",
                               "systemctl daemon-reload"]


SQUAT = r"""
import socket, subprocess, sys
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.153", 53))
sys.exit(subprocess.run(sys.argv[1:]).returncode)
"""


def test_refuses_a_taken_port_and_writes_nothing(installed, standin, root):
    """Something holds 127.0.0.153:53 (in a network namespace of the test's own)."""
    env, log = standin
    if os.geteuid() != 0 or subprocess.run(["unshare", "--net", "true"]).returncode != 0:
        pytest.skip("a network namespace of its own needs root")
    env = dict(env, MULTIPASS_SERVICE_ROOT=str(root), MULTIPASS_SERVICE_OS="Linux")
    out = subprocess.run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                          shutil.which("python3"), "-c", SQUAT, str(SCRIPT), "--prefix",
                          str(installed), "--user", getpass.getuser()],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "127.0.0.153 port 53 on this machine is taken" in out.stderr, out.stderr
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
    no_cli = dict(env, PATH="%s:/usr/bin:/bin:/usr/sbin" % bare)
    out = run(no_cli, tmp_path / "no-cli", "--prefix", str(installed))
    assert out.returncode != 0 and "no multipass CLI" in out.stderr
    assert not (tmp_path / "no-cli").exists() and calls(log) == []


def test_dry_run_prints_everything_and_writes_nothing(tmp_path, standin):
    env, log = standin
    env = dict(env, PATH="/usr/bin:/bin:/usr/sbin")  # no systemctl, no multipass
    out = run(env, tmp_path / "root", "--dry-run", "--zone", "vm.test")
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "root").exists() and calls(log) == []
    for text in ["--- /etc/systemd/system/coredns-multipass.service", "--- /" + CONF,
                 "resolvectl domain mp-dns0 ~vm.test", "resolvectl dns mp-dns0 127.0.0.153\n",
                 "+ systemctl enable coredns-multipass.service", "systemd is not running"]:
        assert text in out.stdout
    mac = run(env, tmp_path / "root", "--dry-run", "--zone", "vm.test", "--port", "1054",
              os_name="Darwin")
    assert mac.returncode == 0, mac.stderr
    assert "--- /etc/resolver/vm.test (mode 644)\nnameserver 127.0.0.1\nport 1054\n" in mac.stdout
    assert "+ launchctl bootstrap system /" + MAC_PLIST in mac.stdout
    assert not (tmp_path / "root").exists()


def test_macos_run_writes_a_daemon_and_resolver_then_uninstall_removes_them(installed, standin,
                                                                           tmp_path):
    env, log = standin
    root = tmp_path / "root"
    port = e2e.free_port()
    out = run(env, root, "--prefix", str(installed), "--zone", "vm.test", "--port", str(port),
              os_name="Darwin")
    assert out.returncode == 0, out.stderr
    assert sorted(written(root)) == sorted([MAC_CONF, MAC_MANIFEST, MAC_PLIST, MAC_LOG,
                                            "etc/resolver/vm.test",
                                            "etc/resolver/24.110.10.in-addr.arpa"])
    plist = plistlib.loads((root / MAC_PLIST).read_bytes())
    assert plist["ProgramArguments"] == ["%s/bin/coredns-multipass" % installed, "-conf",
                                         "/" + MAC_CONF]
    assert plist["UserName"] == getpass.getuser() and plist["InitGroups"] is False
    assert plist["EnvironmentVariables"] == {"HOME": os.path.expanduser("~" + getpass.getuser())}
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is True
    assert plist["StandardOutPath"] == "/" + MAC_LOG
    assert (root / "etc/resolver/vm.test").read_text() == "nameserver 127.0.0.1\nport %d\n" % port
    assert "bind 127.0.0.1\n" in (root / MAC_CONF).read_text()
    assert calls(log)[-1] == "launchctl bootstrap system /" + MAC_PLIST
    out = run(env, root, "--uninstall", "--zone", "vm.test", os_name="Darwin")
    assert out.returncode == 0, out.stderr
    assert written(root) == []
    assert "launchctl bootout system/io.github.coredns-multipass" in calls(log)


def as_nobody(script, *args):
    """Runs a shell script as the unprivileged user, as their own processes would."""
    return subprocess.run(["sh", "-c", script, "attacker", *map(str, args)], user=NOBODY,
                          group=NOBODY, extra_groups=[], capture_output=True, text=True,
                          timeout=30, cwd="/")


# What the user's own processes do before and after the install (issue 28):
# make the Corefile's old folder in their home a link to a folder of root's,
# then add a root-owned file to every manifest they can write.
PLANT = """
home=$1 target=$2
mkdir -p "$home/Library/LaunchAgents" "$home/Library/Application Support" "$home/Library/Logs"
ln -s "$target" "$home/Library/Application Support/coredns-multipass"
ln -s "$target/victim" "$home/Library/Logs/coredns-multipass.log"
ln -s "$target/victim" "$home/Library/LaunchAgents/io.github.coredns-multipass.plist"
"""
TAMPER = """
sysroot=$1 home=$2 victim=$3
for m in "$home/Library/Application Support/coredns-multipass/service-manifest" \\
         "$sysroot/Library/Application Support/coredns-multipass/service-manifest"; do
  if printf '%s\\n' "$victim" >> "$m" 2> /dev/null; then echo "appended to $m"; fi
done
"""


@pytest.fixture
def attack_root():
    """A stand-in macOS layout the unprivileged user can traverse (pytest's
    own folders are root's alone): nobody's home (/nonexistent in the
    password database) is theirs; a folder and a file of root's are the
    targets."""
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root")
    sysroot = Path(tempfile.mkdtemp(prefix="mp-attack-", dir="/tmp"))
    try:
        sysroot.chmod(0o755)
        home = sysroot / "nonexistent"
        home.mkdir()
        os.chown(home, NOBODY, NOBODY)
        target = sysroot / "private"
        target.mkdir()
        (target / "victim").write_text("root's\n")
        yield sysroot, home, target
    finally:
        shutil.rmtree(sysroot)


def owners(path):
    return {str(p.relative_to(path)): p.lstat().st_uid for p in Path(path).rglob("*")}


def test_the_users_links_and_manifest_lines_never_reach_root(installed, standin, attack_root):
    """Against the old layout (a LaunchAgent, its Corefile and manifest in the
    home, written as root) root created files in a folder of its own through
    the user's link, chowned them to the user, and deleted what the user
    appended to the manifest. Now root writes nothing in the home, its
    manifest is root's, and the victim survives install and uninstall."""
    env, log = standin
    sysroot, home, target = attack_root
    planted = as_nobody(PLANT, home, target)
    assert planted.returncode == 0, planted.stderr
    home_before = owners(home)
    args = ("--prefix", str(installed), "--zone", "vm.test", "--port", str(e2e.free_port()),
            "--reverse", "none")
    out = run(env, sysroot, *args, os_name="Darwin", user="nobody")
    assert out.returncode == 0, out.stdout + out.stderr
    assert owners(home) == home_before  # nothing written, chowned or replaced in the home
    assert sorted(os.listdir(target)) == ["victim"]
    assert (target / "victim").read_text() == "root's\n" and (target / "victim").stat().st_uid == 0
    for path, uid in owners(sysroot).items():  # the installer's files are root's but the log
        if not path.startswith(("nonexistent", "private")):
            assert uid == (NOBODY if path == MAC_LOG else 0), path
    tampered = as_nobody(TAMPER, sysroot, home, "/private/victim")
    assert tampered.stdout == "", tampered.stdout  # no manifest of root's is the user's to write
    out = run(env, sysroot, "--uninstall", os_name="Darwin", user="nobody")
    assert out.returncode == 0, out.stderr
    assert (target / "victim").read_text() == "root's\n"
    assert owners(home) == home_before


def test_refuses_folders_another_user_controls(installed, standin, root, attack_root):
    """A folder root would write into belongs to another user (a misconfigured
    system, or one the user took): nothing is written, on Linux or macOS."""
    env, log = standin
    os.chown(root / "etc" / "systemd" / "system", NOBODY, NOBODY)
    out = run(env, root, "--prefix", str(installed))
    assert out.returncode != 0
    assert "%s/etc/systemd/system is owned by nobody: root writes nothing through it" % root \
        in out.stderr, out.stderr
    assert written(root) == [] and not [c for c in calls(log) if c.startswith("systemctl")]
    sysroot, home, target = attack_root
    daemons = sysroot / "Library" / "LaunchDaemons"
    daemons.mkdir(parents=True)
    os.chown(daemons, NOBODY, NOBODY)
    planted = as_nobody('ln -s "$1/victim" "$2/io.github.coredns-multipass.plist"',
                        target, daemons)
    assert planted.returncode == 0, planted.stderr
    out = run(env, sysroot, "--prefix", str(installed), "--reverse", "none", "--port",
              str(e2e.free_port()), os_name="Darwin", user="nobody")
    assert out.returncode != 0 and "%s is owned by nobody" % daemons in out.stderr, out.stderr
    assert (target / "victim").read_text() == "root's\n"
    assert not (sysroot / "Library" / "Application Support").exists()


def test_the_manifest_removes_only_what_the_script_writes(installed, standin, root):
    env, log = standin
    out = run(env, root, "--prefix", str(installed), "--reverse", "none")
    assert out.returncode == 0, out.stderr
    (root / "etc" / "victim").write_text("root's\n")
    manifest = root / MANIFEST
    original = manifest.read_text()
    for line in ["/etc/victim", "/etc/coredns-multipass/../victim", "/etc/coredns-multipass"]:
        manifest.write_text(original + line + "\n")
        out = run(env, root, "--uninstall")
        assert out.returncode != 0
        assert "line 4 of /%s names %s, which this script never writes: nothing removed" % (
            MANIFEST, line) in out.stderr, out.stderr
        assert sorted(written(root)) == sorted([CONF, MANIFEST, UNIT, "etc/victim"])
    manifest.write_text(original)
    os.chown(manifest, NOBODY, NOBODY)
    out = run(env, root, "--uninstall")
    assert out.returncode != 0 and "%s is owned by nobody" % manifest in out.stderr, out.stderr
    os.chown(manifest, 0, 0)
    out = run(env, root, "--uninstall")
    assert out.returncode == 0, out.stderr
    assert written(root) == ["etc/victim"]


def test_the_service_runs_as_root_only_when_asked(installed, standin, root):
    env, log = standin
    if os.geteuid() != 0:
        pytest.skip("a root shell's default user is root")
    refused = run(env, root, "--prefix", str(installed), "--dry-run", user=None)
    assert refused.returncode != 0
    assert "the service would run as root" in refused.stderr and "--user root" in refused.stderr
    asked = run(env, root, "--prefix", str(installed), "--dry-run", user="root")
    assert asked.returncode == 0 and "User=root\n" in asked.stdout, asked.stderr
    nobody = run(env, root, "--prefix", str(installed), "--dry-run", user="nobody")
    assert nobody.returncode == 0 and "User=nobody\n" in nobody.stdout, nobody.stderr


NEWLINE = "/usr/bin/multipass\n    }\n}\n.:53 {\n    forward . 8.8.8.8\n    multipass {"
REFUSED = [
    (("--zone", "-ilo"), "--zone -ilo has a label that starts or ends with '-'"),
    (("--zone", "vm..test"), "--zone vm..test has an empty label"),
    (("--zone", ".vm.test"), "--zone .vm.test has an empty label"),
    (("--zone", "com"), "--zone com is a top-level domain"),
    (("--zone", "multipass"), "--zone multipass is a top-level domain"),
    (("--zone", "vms.Local"), "--zone vms.local is under .local"),
    (("--zone", "vm_1.test"), "--zone vm_1.test has characters other than"),
    (("--zone", "24.110.10.in-addr.arpa"), "reverse zones come from --reverse"),
    (("--multipass", NEWLINE), "--multipass $'/usr/bin/multipass\\n    }\\n}\\n.:53 {"),
    (("--prefix", "/opt/%h"), "--prefix /opt/%h holds a control character, white space, %"),
    (("--prefix", "/opt/$USER"), "--prefix /opt/\\$USER holds"),
    (("--prefix", "/opt/it's"), "--prefix /opt/it\\'s holds"),
    (("--prefix", "/opt/a b"), "--prefix /opt/a\\ b holds"),
    (("--prefix", "opt"), "--prefix opt is not an absolute path"),
    (("--prefix", "/opt/../etc"), "--prefix /opt/../etc has a '.' or '..' component"),
    (("--port", "1053"), "--port 1053: any user may bind ports from 1024 up"),
    (("--port", "53x"), "--port 53x is not a number"),
    (("--reverse", "10.110.24.5/24"), "--reverse 10.110.24.5/24 has host bits set"),
    (("--reverse", "10.110.0.0/8"), "--reverse 10.110.0.0/8 has host bits set"),
    (("--reverse", "127.0.0.0/8"), "--reverse 127.0.0.0/8 lies in a block the plugin never serves"),
    (("--reverse", "169.254.0.0/16"), "lies in a block the plugin never serves"),
    (("--server-address", "host:50051"), "--server-address host:50051 is not IP:PORT"),
    (("--user", "a b"), "--user a\\ b is not a user name"),
    (("--user", "no-such-user-here"), "--user no-such-user-here: no such user"),
]


@pytest.mark.parametrize("args,message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_every_input_is_checked_before_use(installed, standin, root, args, message):
    env, log = standin
    out = run(env, root, "--prefix", str(installed), *args)
    assert out.returncode != 0, out.stdout
    assert message in out.stderr, out.stderr
    assert written(root) == [] and calls(log) == []
    dry = run(env, root, "--prefix", str(installed), "--dry-run", *args)
    assert dry.returncode != 0 and "forward" not in dry.stdout and "---" not in dry.stdout


@pytest.mark.skipif(not PSL.exists(), reason="no public suffix list (Debian's publicsuffix)")
def test_a_public_suffix_is_no_zone(installed, standin, root):
    env, log = standin
    for zone in ("co.uk", "github.io"):
        out = run(env, root, "--prefix", str(installed), "--zone", zone)
        assert out.returncode != 0 and "--zone %s is a public suffix" % zone in out.stderr
    out = run(env, root, "--prefix", str(installed), "--dry-run", "--zone", "vm.example.co.uk")
    assert out.returncode == 0, out.stderr


def test_preflight_refuses_old_systemd_for_another_port_and_warns_on_252(installed, standin, root):
    env, log = standin
    args = ("--prefix", str(installed))
    old = run(dict(env, STANDIN_SYSTEMD="245 (245.4-4ubuntu3.24)"), root, *args, "--port", "953")
    assert old.returncode != 0 and "systemd 245 is older than 246" in old.stderr, old.stderr
    assert written(root) == []
    # Port 53 needs no port in the server's address: 245 is fine.
    fine = run(dict(env, STANDIN_SYSTEMD="245 (245.4-4ubuntu3.24)"), root, *args, "--dry-run")
    assert fine.returncode == 0 and "older than 246" not in fine.stdout, fine.stdout
    for bad in ("10.0.0.0/20", "10.0.0.256/24", "fd00::/64", "10.0.0.0"):
        out = run(env, root, *args, "--reverse", bad)
        assert out.returncode != 0 and "--reverse %s is not an IPv4 network" % bad in out.stderr
    warned = run(dict(env, STANDIN_SYSTEMD="252 (252.2-1)"), root, *args)
    assert warned.returncode == 0, warned.stderr
    assert "warning: systemd 252.2's resolved ignores a per-link DNS server on the loopback" \
        in warned.stderr


def test_refuses_a_kernel_that_makes_no_link(installed, standin, root, tmp_path):
    env, log = standin
    bindir = tmp_path / "no-link-bin"
    bindir.mkdir()
    (bindir / "ip").write_text('#!/bin/sh\necho "Error: Unknown device type." >&2\nexit 2\n')
    (bindir / "ip").chmod(0o755)
    out = run(dict(env, PATH="%s:%s" % (bindir, env["PATH"])), root, "--prefix", str(installed))
    assert out.returncode != 0
    assert "this kernel makes neither a dummy nor an ifb link" in out.stderr, out.stderr
    assert written(root) == []


def test_refuses_a_unit_systemd_analyze_rejects(installed, standin, root, tmp_path):
    env, log = standin
    os.symlink(Path(env["PATH"].split(":")[0]) / "systemctl",
               Path(env["PATH"].split(":")[0]) / "systemd-analyze")
    env = dict(env, STANDIN_FAIL="systemd-analyze verify")
    out = run(env, root, "--prefix", str(installed))
    assert out.returncode != 0
    assert "systemd-analyze verify rejects the unit: systemd-analyze: failing on purpose" in out.stderr
    assert written(root) == []


def test_reverse_zones_chosen_given_or_none(installed, standin, root, tmp_path):
    env, log = standin
    args = ("--dry-run", "--prefix", str(installed))
    given = run(env, root, *args, "--reverse", "192.168.64.0/24", "--reverse", "172.16.0.0/16")
    assert given.returncode == 0, given.stderr
    assert "==> reverse zones: 64.168.192.in-addr.arpa 16.172.in-addr.arpa (--reverse " in given.stdout
    assert "vm.internal:53 64.168.192.in-addr.arpa:53 16.172.in-addr.arpa:53 {" in given.stdout
    assert "domain mp-dns0 ~vm.internal ~64.168.192.in-addr.arpa ~16.172.in-addr.arpa\n" in given.stdout
    none = run(env, root, *args, "--reverse", "none")
    assert "==> reverse zones: none (--reverse none)" in none.stdout
    assert "vm.internal:53 {" in none.stdout
    assert "domain mp-dns0 ~vm.internal\n" in none.stdout and "nta mp-dns0 vm.internal\n" in none.stdout
    fake = e2e.FakeCLI(tmp_path / "fake")
    fake.set_mode("no-daemon")
    silent = run(dict(env, MULTIPASS_FAKE_DIR=str(fake.dir)), root, *args)
    assert silent.returncode == 0, silent.stderr
    assert "==> no reverse zone: 'multipass list' gave no VM address" in silent.stdout
    assert "vm.internal:53 {" in silent.stdout
    mac = run(env, root, *args, "--reverse", "192.168.64.0/24", "--port", "1054", os_name="Darwin")
    assert "--- /etc/resolver/64.168.192.in-addr.arpa (mode 644)\nnameserver 127.0.0.1\nport 1054\n" \
        in mac.stdout
    assert not root.joinpath("etc/coredns-multipass").exists()


def test_a_remote_daemon_is_the_one_other_address_the_unit_reaches(installed, standin, root):
    env, log = standin
    args = ("--dry-run", "--prefix", str(installed), "--reverse", "none")
    remote = run(env, root, *args, "--server-address", "192.168.64.1:50051")
    assert remote.returncode == 0, remote.stderr
    assert "        server_address 192.168.64.1:50051\n" in remote.stdout
    assert "IPAddressAllow=localhost 192.168.64.1\n" in unit_of(remote)
    local = run(env, root, *args, "--server-address", "unix:/run/multipass_socket")
    assert "        server_address unix:/run/multipass_socket\n" in local.stdout
    assert "IPAddressAllow=localhost\n" in unit_of(local)


HOST_ADDRESSES = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.168.1.5/24 brd 192.168.1.255 scope global eth0\\       valid_lft forever
3: mpqemubr0    inet 10.110.24.1/24 brd 10.110.24.255 scope global mpqemubr0\\       valid_lft forever
"""


def test_auto_detected_reverse_zones_leave_the_hosts_own_networks_alone(installed, standin, root,
                                                                        tmp_path):
    """A guest chooses its first address: one in the host's LAN, or 127.0.0.1,
    would take the LAN's or the loopback's reverse names from every program.
    multipass's own bridge (mpqemubr0) holds the VMs' network and stays."""
    env, log = standin
    bindir = tmp_path / "ip-bin"
    bindir.mkdir()
    (tmp_path / "addresses").write_text(HOST_ADDRESSES)
    (bindir / "ip").write_text('#!/bin/sh\nif [ "$*" = "-4 -o addr show" ]; then cat %s; exit; fi\n'
                               'exec %s "$@"\n' % (tmp_path / "addresses", shutil.which("ip")))
    (bindir / "ip").chmod(0o755)
    fake = e2e.FakeCLI(tmp_path / "fake")

    def edit(vms):
        vms += [e2e.running_vm("lan", "192.168.1.77"), e2e.running_vm("sly", "127.0.0.1"),
                e2e.running_vm("other", "10.200.0.5")]
    fake.set_listing(e2e.edited_listing("list-mixed.json", edit))
    env = dict(env, PATH="%s:%s" % (bindir, env["PATH"]), MULTIPASS_FAKE_DIR=str(fake.dir))
    out = run(env, root, "--dry-run", "--prefix", str(installed))
    assert out.returncode == 0, out.stderr
    assert "==> reverse zones: 24.110.10.in-addr.arpa 0.200.10.in-addr.arpa (" in out.stdout
    assert ("not routing the reverse zone of 192.168.1.0/24: it overlaps this host's network "
            "192.168.1.5/24 (eth0)") in out.stdout
    assert "not routing the reverse zone of 127.0.0.0/24: a VM reports an address there" in out.stdout
    assert "~1.168.192.in-addr.arpa" not in out.stdout and "0.0.127" not in out.stdout


def security_score(unit_text, tmp_path):
    """systemd-analyze security's overall exposure of a unit file (0 to 10, lower is better)."""
    path = tmp_path / "score" / "coredns-multipass.service"
    path.parent.mkdir(exist_ok=True)
    path.write_text(unit_text)
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(path)],
                         capture_output=True, text=True)
    score = re.search(r"Overall exposure level for coredns-multipass\.service: (\d+\.\d+)",
                      out.stdout)
    assert score, out.stdout + out.stderr
    return float(score.group(1))


def without_hardening(unit):
    """The unit with its sandbox taken out: the lines between ExecStopPost and [Install]."""
    head, _, rest = unit.partition("ExecStopPost=")
    stop, _, tail = rest.partition("\n")
    return head + "ExecStopPost=" + stop + "\n\n[Install]" + tail.split("[Install]", 1)[1]


SNAP_BREAKERS = ("NoNewPrivileges=", "CapabilityBoundingSet=", "SystemCallFilter=",
                 "RestrictNamespaces=", "ProtectSystem=", "ProtectHome=", "PrivateTmp=",
                 "PrivateDevices=", "ProtectKernelTunables=", "MemoryDenyWriteExecute=",
                 "RestrictAddressFamilies=", "ProtectClock=", "LockPersonality=")
SNAP_SAFE = ("UMask=0077", "MemoryMax=", "TasksMax=", "LimitNOFILE=", "IPAddressDeny=any",
             "IPAddressAllow=localhost", "SocketBindDeny=any", "SocketBindAllow=ipv4:udp:53")


@pytest.mark.skipif(not have("systemd-analyze"), reason="no systemd-analyze")
def test_the_unit_is_sandboxed_as_far_as_its_cli_allows(installed, standin, root, record_property):
    """systemd-analyze security on the unit the script writes (as nobody, a
    non-root user that exists everywhere): the whole sandbox where the CLI is
    not the snap, what snap-confine survives where it is."""
    env, log = standin
    args = ("--dry-run", "--prefix", str(installed), "--reverse", "none")
    plain = unit_of(run(env, root, *args, user="nobody"))
    snap = unit_of(run(env, root, *args, "--multipass", "/snap/bin/multipass", user="nobody"))
    assert all(k in plain for k in SNAP_BREAKERS + SNAP_SAFE), plain
    assert all(k in snap for k in SNAP_SAFE) and not [k for k in SNAP_BREAKERS if k in snap], snap
    scores = {"no sandbox": security_score(without_hardening(plain), tmp_path=root.parent),
              "the CLI not the snap": security_score(plain, tmp_path=root.parent),
              "the snap's CLI": security_score(snap, tmp_path=root.parent)}
    assert scores["the CLI not the snap"] <= 3.0, scores
    assert scores["the snap's CLI"] < scores["no sandbox"], scores
    for unit in (plain, snap):
        path = root.parent / "verify" / "coredns-multipass.service"
        path.parent.mkdir(exist_ok=True)
        path.write_text(unit)
        verify = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                                text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    # SocketBindAllow= and SocketBindDeny= only where systemd has them (249).
    old = unit_of(run(dict(env, STANDIN_SYSTEMD="248 (248.3-1)"), root, *args, user="nobody"))
    assert "SocketBind" not in old and "IPAddressDeny=any" in old
    figure = "systemd-analyze security (User=nobody): " + ", ".join(
        "%s %.1f" % kv for kv in scores.items())
    print(figure)
    record_property("figure", figure)


def test_coredns_starts_without_the_users_groups_or_capabilities(installed, standin, root):
    """The unit's ExecStart as systemd starts it (played by setpriv: the user,
    initgroups' supplementary groups, the ambient capabilities), CoreDNS
    replaced by a probe: no supplementary group, CAP_NET_BIND_SERVICE alone."""
    env, log = standin
    if os.geteuid() != 0:
        pytest.skip("changing user and groups needs root")
    unit = unit_of(run(env, root, "--dry-run", "--prefix", str(installed), "--reverse", "none",
                       user="nobody"))
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.M).group(1))
    assert re.search(r"^AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_SETGID$", unit, re.M), unit
    probe = ["sh", "-c", "id -G; grep -E '^Cap(Prm|Amb)' /proc/self/status"]
    systemd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--groups=27,100",
               "--inh-caps=+net_bind_service,+setgid", "--ambient-caps=+net_bind_service,+setgid"]
    before = subprocess.run(systemd + ["--"] + probe, capture_output=True, text=True)
    assert before.stdout.split("\n")[0] == "%d 27 100" % NOBODY, before.stdout + before.stderr
    out = subprocess.run(systemd + ["--"] + argv[:argv.index("--") + 1] + probe,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str(NOBODY), "CapPrm:\t0000000000000400",
                                       "CapAmb:\t0000000000000400"], out.stdout

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
