"""A real systemd-resolved for tests, kept off the machine: Debian's package,
unpacked by scripts/install-deps.sh into a cache (never installed: its package
scripts replace /etc/resolv.conf), runs with a system D-Bus of its own inside
private mount and network namespaces that this module makes and removes.

Inside, the namespace has its own /run (a tmpfs), and /etc is an overlay
private to it, so that resolved.conf, passwd and group (with a
`systemd-resolve` user) and resolv.conf (the stub, 127.0.0.53) are its own;
nothing outside changes. Only root can make the namespaces: elsewhere
`unavailable()` says why, for a skip.

    with ResolvedNamespace(tmp_path, dnssec="allow-downgrade") as ns:
        coredns = ns.popen([COREDNS, "-conf", corefile], stdout=log)  # a process inside
        ns.wait_listening(ADDRESS, 53)        # the installed unit's address (127.0.0.153)
        ns.route(["vm.test"], ADDRESS, 53, coredns)  # its route lines, for this zone and listener
        ns.stub("primary.vm.test")            # dig @127.0.0.53: an e2e Reply (.query_ms)
        ns.query("primary.vm.test")           # resolvectl query: a CompletedProcess (.ms)
        seen = ns.capture(ADDRESS, 53)        # every question sent to 127.0.0.153:53 from now on
Every process started inside is stopped when the block ends, also on failure.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from e2e_helpers import e2e
from unit import Unit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Where scripts/install-deps.sh unpacks the package (the same path there).
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "coredns-multipass"
RESOLVED_ROOT = CACHE / "systemd-resolved"
RESOLVED = RESOLVED_ROOT / "lib" / "systemd" / "systemd-resolved"
RESOLVECTL = RESOLVED_ROOT / "usr" / "bin" / "resolvectl"
# The cache's own libsystemd-shared, when the installed one is another version.
OWN_LIBS = ":".join(str(d) for d in RESOLVED_ROOT.glob("usr/lib/*/systemd"))
# Where the installed unit's CoreDNS listens on Linux (scripts/install-service.sh).
ADDRESS = "127.0.0.153"

DBUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

# Run once inside the new namespaces: its own /run, an /etc of its own.
SETUP = r"""
set -eu
work=$1 dnssec=$2
ip link set lo up
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/dbus /run/systemd
mount -t tmpfs tmpfs "$work/etc-layer"
mkdir "$work/etc-layer/upper" "$work/etc-layer/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/etc-layer/upper,workdir=$work/etc-layer/work" /etc
mkdir -p /etc/systemd
rm -rf /etc/systemd/resolved.conf.d /etc/dnssec-trust-anchors.d /etc/resolv.conf
printf '[Resolve]\nDNSSEC=%s\nFallbackDNS=\n' "$dnssec" > /etc/systemd/resolved.conf
printf 'nameserver 127.0.0.53\n' > /etc/resolv.conf
if ! grep -q '^systemd-resolve:' /etc/passwd; then
  uid=990
  while grep -q "^[^:]*:[^:]*:$uid:" /etc/passwd /etc/group; do uid=$((uid - 1)); done
  echo "systemd-resolve:x:$uid:$uid:systemd Resolver:/:/usr/sbin/nologin" >> /etc/passwd
  grep -q '^systemd-resolve:' /etc/group || echo "systemd-resolve:x:$uid:" >> /etc/group
fi
"""


def unavailable():
    """Why this machine cannot run the namespaces (a skip reason), or None."""
    if not sys.platform.startswith("linux"):
        return "systemd-resolved and namespaces are Linux-only (macOS: docs/service.md)"
    if os.geteuid() != 0:
        return "private mount and network namespaces (unshare) need root"
    out = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, text=True)
    if out.returncode != 0:
        return "namespaces are not permitted here: unshare said: %s" % out.stderr.strip()
    return None


def missing():
    """What the tests need and this machine lacks (a failure, not a skip), or None."""
    if not RESOLVED.exists() or not RESOLVECTL.exists():
        return "no unpacked systemd-resolved in %s: run scripts/install-deps.sh" % RESOLVED_ROOT
    for tool in ("nsenter", "dbus-daemon", "ip", "dig"):
        if shutil.which(tool) is None:
            return "no %s: run scripts/install-deps.sh" % tool
    return None


def resolved_version():
    """The unpacked systemd-resolved's version line ("systemd 252 (252.38-1~deb12u1)")."""
    out = subprocess.run([str(RESOLVED), "--version"], capture_output=True, text=True,
                         env=dict(os.environ, LD_LIBRARY_PATH=OWN_LIBS))
    return out.stdout.splitlines()[0] if out.stdout else out.stderr.strip()


class ResolvedNamespace:
    """systemd-resolved, its D-Bus, and whatever a test starts, in namespaces of their own."""

    def __init__(self, workdir, dnssec="allow-downgrade"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("LD_LIBRARY_PATH", "MULTIPASS_SERVICE_ROOT")}
        # resolvectl on PATH: the installer writes its full path into the unit.
        self.env["PATH"] = "%s:%s" % (RESOLVECTL.parent, os.environ["PATH"])
        if OWN_LIBS:
            self.env["LD_LIBRARY_PATH"] = OWN_LIBS
        self.procs = []
        self.holder = None
        try:
            self._start(dnssec)
        except BaseException:
            self.close()
            raise

    def _start(self, dnssec):
        (self.dir / "etc-layer").mkdir(exist_ok=True)
        # The holder keeps the namespaces alive; it says "in" once it is inside them.
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private",
             "sh", "-c", "echo in; exec sleep infinity"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        assert self.holder.stdout.readline() == "in\n", "unshare did not start"
        self.netns = os.readlink("/proc/%d/ns/net" % self.holder.pid)
        setup = self.run(["sh", "-c", SETUP, "setup", str(self.dir), dnssec])
        assert setup.returncode == 0, "namespace setup failed:\n" + setup.stderr
        (self.dir / "dbus.conf").write_text(DBUS_CONFIG)
        dbus = self.popen(["dbus-daemon", "--config-file=%s" % (self.dir / "dbus.conf"),
                           "--nofork", "--nopidfile", "--print-address"],
                          stdout=subprocess.PIPE, stderr=open(self.dir / "dbus.log", "w"))
        assert dbus.stdout.readline().startswith("unix:"), "dbus-daemon did not start"
        self.resolved_log = self.dir / "resolved.log"
        self.resolved = self.popen([str(RESOLVED)], stdout=open(self.resolved_log, "w"),
                                   stderr=subprocess.STDOUT,
                                   env=dict(self.env, SYSTEMD_LOG_LEVEL="debug"))
        e2e.eventually(lambda: self._resolved_answers(), 15, "systemd-resolved on the bus")

    def _resolved_answers(self):
        assert self.resolved.poll() is None, "systemd-resolved exited:\n" + self.logs()
        return self.run([str(RESOLVECTL), "status"]).returncode == 0

    # ---------------------------------------------------------------- processes

    def command(self, argv):
        """argv, run inside the namespaces."""
        return ["nsenter", "--target", str(self.holder.pid), "--mount", "--net", "--"] + list(argv)

    def run(self, argv, timeout=60, **kw):
        kw.setdefault("env", self.env)
        return subprocess.run(self.command(argv), capture_output=True, text=True,
                              timeout=timeout, **kw)

    def popen(self, argv, **kw):
        """A process inside, stopped by close() (nsenter execs it: the pid is its own)."""
        kw.setdefault("env", self.env)
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(self.command(argv), text=True, **kw)
        self.procs.append(proc)
        return proc

    def wait_listening(self, address, port, timeout=15, proc=None):
        """Waits until something inside listens on TCP address:port."""
        def listening():
            assert proc is None or proc.poll() is None, "the process exited (%s)" % proc.returncode
            out = self.run(["ss", "-Hltn", "src %s:%d" % (address, port)])
            return bool(out.stdout.strip())
        e2e.eventually(listening, timeout, "a listener on %s:%d" % (address, port))

    def close(self):
        """Stops every process inside the namespaces, then the namespaces."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.holder is None:
            return
        for pid in self._pids_inside():  # what a test left (a CLI run, a line that hung)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.holder.kill()
        self.holder.wait()
        self.holder = None

    def _pids_inside(self):
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != self.holder.pid:
                try:
                    if os.readlink("/proc/%s/ns/net" % entry) == self.netns:
                        pids.append(int(entry))
                except OSError:
                    pass
        return pids

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def logs(self):
        """resolved's log, less its D-Bus traffic: the end of it."""
        lines = [l for l in self.resolved_log.read_text(errors="replace").splitlines()
                 if not l.startswith(("Sent message ", "Got message "))]
        return "--- systemd-resolved ---\n" + "\n".join(lines[-80:])

    # ---------------------------------------------------------------- questions

    def stub(self, name, rrtype="A"):
        """Asks the stub (127.0.0.53) with dig: an e2e Reply, with .query_ms."""
        args = ["dig", "@127.0.0.53"] + e2e.DIG_OPTIONS + ["+stats"]
        args += ["-x", name] if rrtype == "PTR" else [name, rrtype]
        out = self.run(args, timeout=30)
        replies = e2e.parse_replies(out.stdout)
        assert len(replies) == 1, "dig %s %s through the stub: no reply\n%s%s" % (
            name, rrtype, out.stdout, out.stderr)
        reply = replies[0]
        time_ms = re.search(r"^;; Query time: (\d+) msec", out.stdout, re.M)
        reply.query_ms = int(time_ms.group(1)) if time_ms else None
        return reply

    def query(self, name, rrtype=None):
        """resolvectl query [-t TYPE] NAME (an address: its PTR); .ms is the time it reports."""
        args = [str(RESOLVECTL), "query", "--legend=yes"]
        args += ["-t", rrtype] if rrtype else []
        out = self.run(args + [name], timeout=30)
        took = re.search(r"acquired via protocol DNS in ([\d.]+)(ms|us|s)", out.stdout)
        scale = {"us": 0.001, "ms": 1, "s": 1000}
        out.ms = float(took.group(1)) * scale[took.group(2)] if took else None
        return out

    def capture(self, address, port):
        """A Capture of the questions sent to address:port from now on."""
        return Capture(self, address, port)

    def link(self, name):
        """`ip link show NAME` inside: a CompletedProcess (non-zero when there is no such link)."""
        return self.run(["ip", "link", "show", name])

    # ---------------------------------------------------------------- the route

    def route(self, zones, address, port, main, link="mp-dns0"):
        """Routes zones (the first a forward zone, then reverse zones) to
        address:port as the installed unit does, once main (the server, a
        process inside) listens there: the unit is rendered by
        scripts/service-files.sh and its ExecStartPre and ExecStartPost lines
        run here, in order, with main as $MAINPID; its ExecStart is not run.
        Returns the Unit; run_lines(ns, "ExecStopPost") removes the route."""
        text = render_unit(zones[0], zones[1:], address, port, link, link_type(self))
        unit = Unit(text)
        unit.run_lines(self, "ExecStartPre")
        unit.run_lines(self, "ExecStartPost", main=main)
        return unit


def link_type(ns):
    """dummy where this kernel has the driver, else ifb (as the installer decides)."""
    probe = ns.run(["sh", "-c", "ip link add mp-probe type dummy && ip link delete mp-probe"])
    return "dummy" if probe.returncode == 0 else "ifb"


def render_unit(zone, reverse, address, port, link, link_type):
    """The unit text scripts/service-files.sh renders for these values."""
    values = {"svc_zone": zone, "svc_reverse": " ".join(reverse), "svc_address": address,
              "svc_port": str(port), "svc_link": link, "svc_link_type": link_type,
              "svc_user": "root", "svc_bin": "/bin/false", "svc_conf": "/dev/null",
              "svc_multipass": "/bin/false", "svc_ip": shutil.which("ip"),
              "svc_resolvectl": str(RESOLVECTL), "svc_ss": shutil.which("ss"),
              "svc_setpriv": shutil.which("setpriv"), "svc_groups": "--clear-groups"}
    script = ". %s/scripts/service-files.sh; %s render_unit" % (
        ROOT, " ".join("%s='%s'" % kv for kv in values.items()))
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return out.stdout


class Capture:
    """dns_capture.py inside the namespace: the questions sent to address:port."""

    def __init__(self, ns, address, port):
        self.ns, self.address, self.port, self.marks = ns, address, port, 0
        self.path = ns.dir / ("capture-%d-%d.log" % (port, len(ns.procs)))
        self.proc = ns.popen([sys.executable, str(HERE / "dns_capture.py"), address, str(port)],
                             stdout=open(self.path, "w"), stderr=subprocess.STDOUT)
        e2e.eventually(lambda: self._lines()[:1] == ["ready"], 10, "dns_capture.py listening")

    def _lines(self):
        assert self.proc.poll() is None, "dns_capture.py exited:\n" + self.path.read_text()
        return self.path.read_text().splitlines()

    def questions(self):
        """Every question so far, as (protocol, name, type). It first sends a
        question of its own and waits until that shows: whatever was sent
        before it has been seen by then."""
        self.marks += 1
        mark = "mark-%d.capture.invalid." % self.marks
        self.ns.run(["dig", "@" + self.address, "-p", str(self.port), "+tries=1", "+time=1", mark])
        e2e.eventually(lambda: any(mark in l for l in self._lines()), 10, "the capture's mark")
        return [tuple(l.split()) for l in self._lines()[1:] if ".capture.invalid. " not in l]

    def names(self):
        """The names asked so far, lower case, sorted, each once."""
        return sorted({q[1] for q in self.questions()})
