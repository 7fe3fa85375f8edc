"""A misbehaving multipass CLI, end to end: every way the CLI can fail, hang or
print nonsense, against the real build/coredns.

Each fault scenario starts its own CoreDNS (refresh 1s), lets the first
listing load, breaks the CLI for a few seconds, then gives it a listing in
which `primary` has a CHANGED address. A user must see:

  - the last good inventory served all along (never SERVFAIL, /ready 200),
  - exactly one `[ERROR] plugin/multipass: ...` line for the fault, with the
    CLI's stderr text and exit code, however many refreshes failed,
  - the recovery picked up and logged once, with how long the failure lasted,
  - no leak in the CoreDNS process: no zombie child ever, at most one CLI
    child at a time and none at the end, the same open files and about the
    same number of threads as before the fault (read from /proc).

The scenarios run concurrently (one thread each, one CoreDNS each) so that the
whole file takes about as long as the slowest scenario; each test then checks
what its scenario recorded.

The last good inventory is served for as long as the CLI keeps failing: there
is no `max_stale`. A VM's address outlives a broken daemon (the VMs usually
keep running when multipassd is restarted, upgraded or unreachable), and the
alternative, SERVFAIL or NXDOMAIN for every VM after some age, breaks ssh and
curl for exactly the VMs that still work; the failure stays visible in the
log and the metrics instead.
"""

import json
import os
import re
import socket
import stat
import struct
import threading
import time
from pathlib import Path

import pytest

import conftest
from conftest import (DEFAULT_COREFILE, FAKE_CLI, FIXTURES, CoreDNS,
                      eventually, listing_with_primary_at, make_fleet, plugin_lines,
                      process_alive, udp_burst)

OLD = "10.110.24.87"   # primary in list-mixed.json
NEW = "10.110.24.200"  # primary after the recovery

PROC = Path("/proc")
HAVE_PROC = (PROC / "self" / "stat").exists()

# Slack for the resource checks: Go may start a thread or open a descriptor
# now and then (a leak per CLI run or per refresh shows up far above these).
FD_SLACK = 3
THREAD_SLACK = 4


# --------------------------------------------------------------------------
# /proc: what a user would check with ps and ls /proc/PID/fd


def children(pid):
    """{child pid: state letter} of the processes whose parent is pid."""
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found[int(entry.name)] = fields[0]
    return found


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def status_value(pid, field):
    """The number of a /proc/PID/status line ("Threads", "VmRSS" in KiB)."""
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError("no %s: line in /proc/%d/status" % (field, pid))


def thread_count(pid):
    return status_value(pid, "Threads")


class ProcWatch:
    """Samples the children of a process: the most alive at once, and the
    zombies that stayed zombies for ZOMBIE_GRACE seconds or more. A child
    that has just exited is a zombie until the runner's next waitpid, a few
    milliseconds later, or longer when a loaded 2-core machine does not
    schedule the refresher thread at once; a leaked zombie stays forever.
    Safe to call from several threads (the load thread samples too)."""

    ZOMBIE_GRACE = 1.0

    def __init__(self, pid):
        self.pid = pid
        self.max_children = 0
        self.lasting_zombies = set()
        self.samples = 0
        self._first_seen = {}  # zombie pid -> monotonic time first seen
        self._lock = threading.Lock()

    def sample(self):
        if not HAVE_PROC:
            return
        kids = children(self.pid)
        now = time.monotonic()
        zombies = {p for p, state in kids.items() if state == "Z"}
        with self._lock:
            self._first_seen = {p: self._first_seen.get(p, now) for p in zombies}
            self.lasting_zombies |= {
                p for p, seen in self._first_seen.items() if now - seen >= self.ZOMBIE_GRACE}
            self.max_children = max(self.max_children, len(kids) - len(zombies))
            self.samples += 1


def usage(pid):
    """(fds, threads) of pid, or None without /proc."""
    if not HAVE_PROC:
        return None
    return fd_count(pid), thread_count(pid)


# --------------------------------------------------------------------------
# DNS without a dig process per question (the scenarios ask many, concurrently)


def query_a(port, name, timeout=5.0):
    """Asks 127.0.0.1:port for name's A records over UDP; returns (rcode,
    [addresses]), or (None, []) when no reply came within timeout (a
    liveness bound)."""
    qid = int.from_bytes(os.urandom(2), "big")
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split("."))
    query = struct.pack("!6H", qid, 0x0100, 1, 0, 0, 0) + wire + b"\0" + struct.pack("!2H", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        sock.send(query)
        try:
            reply = sock.recv(4096)
            while struct.unpack("!H", reply[:2])[0] != qid:
                reply = sock.recv(4096)
        except socket.timeout:
            return None, []
    rcode = struct.unpack("!H", reply[2:4])[0] & 0xF
    ancount = struct.unpack("!H", reply[6:8])[0]
    pos = 12 + len(wire) + 1 + 4  # the question, echoed
    addresses = []
    for _ in range(ancount):
        while reply[pos] != 0 and reply[pos] < 0xC0:  # the owner name
            pos += reply[pos] + 1
        pos += 2 if reply[pos] >= 0xC0 else 1
        rtype, _, _, rdlength = struct.unpack("!HHIH", reply[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlength == 4:
            addresses.append(".".join(str(b) for b in reply[pos:pos + 4]))
        pos += rdlength
    return rcode, addresses


# --------------------------------------------------------------------------
# the scenarios


FAULT_COREFILE = """\
vm.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary %s
        refresh 1s
        timeout %s
    }}
    ready 127.0.0.1:{ready_port}
}}
"""

FAULT_SECONDS = 5.0  # how long each fault lasts: ~5 refreshes at refresh 1s


class Fault:
    """One way the CLI misbehaves.

    mode:     the stand-in's mode during the fault (None: keep `ok`)
    binary:   None, "missing" (the CLI's path disappears), "not-executable",
              or "ignores-sigterm" (a CLI that hangs and only dies of SIGKILL)
    errors:   substrings of the one ERROR line the fault must produce; None
              for faults that are no failure (nothing at ERROR)
    timeout:  the Corefile's `timeout`
    """

    def __init__(self, name, mode=None, binary=None, errors=None, timeout="5s",
                 seconds=FAULT_SECONDS):
        self.name, self.mode, self.binary = name, mode, binary
        self.errors, self.timeout, self.seconds = errors, timeout, seconds


FAULTS = [
    Fault("binary-missing", binary="missing", errors=["no such file"]),
    Fault("binary-not-executable", binary="not-executable",
          errors=["not an executable file"]),
    Fault("no-daemon", mode="no-daemon",
          errors=["(exit 2)", "list failed: cannot connect to the multipass socket"]),
    Fault("no-auth", mode="no-auth",
          errors=["(exit 2)", "The client is not authenticated with the Multipass service"]),
    Fault("bad-address", mode="bad-address",
          errors=["(exit 1)", "missing port number in address 'foo'"]),
    Fault("hang", mode="hang", timeout="1s",
          errors=["timed out after 1 s", "process group was killed"]),
    Fault("hang-child", mode="hang-child", timeout="1s",
          errors=["timed out after 1 s", "process group was killed"]),
    Fault("ignores-sigterm", binary="ignores-sigterm", timeout="1s",
          errors=["timed out after 1 s", "process group was killed"]),
    Fault("garbage", mode="garbage", errors=["unusable output", "JSON"]),
    Fault("truncated", mode="truncated", errors=["unusable output", "JSON"]),
    Fault("empty", mode="empty", errors=["unusable output", "empty"]),
    Fault("huge", mode="huge:64", errors=["more than 16777216 bytes", "process group was killed"]),
    Fault("flap", mode="flap", errors=["(exit 2)", "cannot connect to the multipass socket"]),
]


# Ignores SIGTERM (an ignored disposition survives exec) and sleeps: only the
# SIGKILL that follows the grace period ends it.
STUBBORN_CLI = """#!/bin/sh
trap '' TERM
echo $$ >> "$MULTIPASS_FAKE_DIR/stubborn.pids"
exec sleep 600
"""


class Scenario(threading.Thread):
    """Runs one fault against its own CoreDNS and records what a user would
    see; the tests assert on the record."""

    def __init__(self, fault, workdir):
        super().__init__(name="fault-" + fault.name, daemon=True)
        self.fault = fault
        self.dir = Path(workdir)
        self.error = None
        self.bad_answers = []     # replies during the fault that were not OLD
        self.not_ready = []       # /ready statuses other than 200 during the fault
        self.errors_at_fault_end = []
        self.runs_during_fault = 0
        self.before = self.after = None   # (fds, threads)
        self.rss_before = self.rss_after = None  # KiB
        self.children_at_end = None
        self.new_address_served = False
        self.child_pids = set()
        self.server = None
        self.watch = None

    # The CLI lives behind a symlink that the binary faults replace.
    def _link_cli(self):
        self.bin = self.dir / "bin" / "multipass"
        self.bin.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(FAKE_CLI, self.bin)

    def _break_binary(self):
        tmp = self.bin.with_name("multipass.tmp")
        if self.fault.binary == "missing":
            self.bin.unlink()
        elif self.fault.binary == "ignores-sigterm":
            tmp.write_text(STUBBORN_CLI)
            tmp.chmod(0o755)
            os.replace(tmp, self.bin)
        else:  # a regular file without the execute bit
            tmp.write_bytes(FAKE_CLI.read_bytes())
            tmp.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(tmp, self.bin)

    def _restore_binary(self):
        tmp = self.bin.with_name("multipass.tmp")
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        os.symlink(FAKE_CLI, tmp)
        os.replace(tmp, self.bin)

    def start_server(self):
        self._link_cli()
        corefile = FAULT_COREFILE % (self.bin, self.fault.timeout)
        self.server = CoreDNS(conftest.COREDNS, self.dir / "coredns", corefile,
                              "list-mixed.json", "ok")
        self.watch = ProcWatch(self.server.proc.pid)

    def run(self):
        try:
            self._run()
        except BaseException as e:  # reported by the tests
            self.error = e

    def _run(self):
        s, f = self.server, self.fault
        s.wait_listening()
        s.wait_ready()
        s.cli.wait_for_runs(s.cli.run_count() + 1)  # at least one refresh after the load
        self.before = usage(s.proc.pid)
        if HAVE_PROC:
            self.rss_before = status_value(s.proc.pid, "VmRSS")

        runs_before = s.cli.run_count()
        if f.binary:
            self._break_binary()
        if f.mode:
            s.cli.set_mode(f.mode)
        end = time.monotonic() + f.seconds
        while time.monotonic() < end:
            reply = query_a(s.port, "primary.vm.test")
            if reply != (0, [OLD]):
                self.bad_answers.append(reply)
            status = s.ready()[0]
            if status != 200:
                self.not_ready.append(status)
            self.watch.sample()
            child = s.cli.child_pid()
            if child:
                self.child_pids.add(child)
            time.sleep(0.2)
        self.runs_during_fault = s.cli.run_count() - runs_before
        stubborn = s.cli.dir / "stubborn.pids"
        if stubborn.exists():
            self.child_pids |= {int(p) for p in stubborn.read_text().split()}
        self.errors_at_fault_end = plugin_lines(s, "ERROR")

        # Recovery: a good listing in which primary moved.
        s.cli.set_listing(listing_with_primary_at(NEW))
        s.cli.set_mode("ok")
        if f.binary:
            self._restore_binary()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            self.watch.sample()
            if query_a(s.port, "primary.vm.test") == (0, [NEW]):
                self.new_address_served = True
                break
            time.sleep(0.2)
        s.cli.wait_for_runs(s.cli.run_count() + 1)  # one more refresh, for the log
        time.sleep(0.3)
        if HAVE_PROC:
            # A refresh may be running right now: wait for a moment without one.
            deadline = time.monotonic() + 5
            while children(s.proc.pid) and time.monotonic() < deadline:
                self.watch.sample()
                time.sleep(0.05)
            self.children_at_end = children(s.proc.pid)
        self.after = usage(s.proc.pid)
        if HAVE_PROC:
            self.rss_after = status_value(s.proc.pid, "VmRSS")


@pytest.fixture(scope="module")
def fault_runs(coredns_binary, tmp_path_factory):
    """Runs every fault scenario concurrently; {name: Scenario}."""
    base = tmp_path_factory.mktemp("faults")
    scenarios = [Scenario(f, base / f.name) for f in FAULTS]
    servers = []
    try:
        for sc in scenarios:
            sc.start_server()
            servers.append(sc.server)
        for sc in scenarios:
            sc.start()
        for sc in scenarios:
            sc.join(120)
        yield {sc.fault.name: sc for sc in scenarios}
    finally:
        conftest._finish(servers)


@pytest.fixture
def scenario(fault_runs, request):
    sc = fault_runs[request.param]
    if sc.error is not None:
        raise AssertionError("scenario %s failed: %r\n%s" % (
            sc.fault.name, sc.error, sc.server.logs() if sc.server else "")) from sc.error
    assert not sc.is_alive(), "scenario %s did not finish" % sc.fault.name
    return sc


NAMES = [f.name for f in FAULTS]


def in_fault_runs(test):
    """The tests of fault_runs share one worker under pytest-xdist (--dist
    loadgroup), so that its scenarios run once, and they start first."""
    return pytest.mark.slow(pytest.mark.xdist_group("fault_runs")(test))


@in_fault_runs
@pytest.mark.parametrize("scenario", NAMES, indirect=True)
def test_the_last_good_inventory_is_served_during_the_fault(scenario):
    s = scenario.server
    if not scenario.fault.binary:  # no CLI runs at all while the binary is broken
        assert scenario.runs_during_fault >= 2, \
            "the fault lasted %d CLI runs only\n%s" % (scenario.runs_during_fault, s.logs())
    assert not scenario.bad_answers, "answers other than %s during the fault:\n%s\n%s" % (
        OLD, "\n".join(map(repr, scenario.bad_answers[:3])), s.logs())
    assert not scenario.not_ready, "/ready said %r during the fault" % scenario.not_ready


@in_fault_runs
@pytest.mark.parametrize("scenario", NAMES, indirect=True)
def test_the_fault_is_logged_once_with_its_reason(scenario):
    s, f = scenario.server, scenario.fault
    errors = scenario.errors_at_fault_end
    assert len(errors) == 1, "%d ERROR lines for %d failing runs (want exactly one):\n%s" % (
        len(errors), scenario.runs_during_fault, "\n".join(errors) or s.logs())
    for text in f.errors:
        assert text in errors[0], "%r not in the ERROR line:\n%s" % (text, errors[0])
    assert "serving the last good inventory" in errors[0], errors[0]


@in_fault_runs
@pytest.mark.parametrize("scenario", NAMES, indirect=True)
def test_a_changed_listing_is_picked_up_after_the_fault(scenario):
    s = scenario.server
    assert scenario.new_address_served, \
        "primary never moved to %s after the CLI recovered\n%s" % (NEW, s.logs())
    works_again = [l for l in plugin_lines(s, "INFO") if "works again after" in l]
    assert len(works_again) == 1, "recovery logged %d times:\n%s" % (
        len(works_again), s.logs())
    assert re.search(r"works again after \d+(\.\d+)? s of failures", works_again[0]), \
        works_again[0]
    assert len(plugin_lines(s, "ERROR")) == 1, "more errors after the recovery\n" + s.logs()


@pytest.mark.skipif(not HAVE_PROC, reason="reads /proc (Linux)")
@in_fault_runs
@pytest.mark.parametrize("scenario", NAMES, indirect=True)
def test_the_fault_leaks_no_process_fd_or_thread(scenario):
    s = scenario.server
    w = scenario.watch
    assert w.samples > 10
    assert not w.lasting_zombies, "zombie children of coredns: %s" % w.lasting_zombies
    assert w.max_children <= 1, "%d CLI processes at once" % w.max_children
    assert scenario.children_at_end == {}, \
        "children of coredns after the recovery: %s" % scenario.children_at_end
    for child in scenario.child_pids:  # hang-child's child, the SIGTERM-proof CLIs
        assert not process_alive(child), "the hung CLI (child) %d survived" % child
    (fds0, threads0), (fds1, threads1) = scenario.before, scenario.after
    assert fds1 <= fds0 + FD_SLACK, "open fds %d -> %d over the fault" % (fds0, fds1)
    assert threads1 <= threads0 + THREAD_SLACK, \
        "threads %d -> %d over the fault" % (threads0, threads1)


@pytest.mark.skipif(not HAVE_PROC, reason="reads /proc (Linux)")
@in_fault_runs
@pytest.mark.parametrize("scenario", ["huge"], indirect=True)
def test_a_flood_of_output_leaves_no_memory_behind(scenario):
    # Each run of the fault fills the 16 MiB capture to its cap. Kept in the
    # C heap, that memory stayed resident for good (about 32 MiB more); the
    # runner's capture is unmapped after the run.
    grown = scenario.rss_after - scenario.rss_before
    assert grown < 16 * 1024, "resident memory %d -> %d KiB over %d floods of output" % (
        scenario.rss_before, scenario.rss_after, scenario.runs_during_fault)


@in_fault_runs
@pytest.mark.parametrize("name", ["hang-child", "ignores-sigterm"])
def test_the_hung_processes_were_seen(fault_runs, name):
    # The leak test above checks that they are dead; this one that it had some.
    assert fault_runs[name].child_pids, "no hung CLI process seen in %s" % name


# --------------------------------------------------------------------------
# Not failures: a slow CLI within the timeout, and odd listings.


def test_a_slow_cli_within_the_timeout_is_no_failure(start_coredns):
    corefile = DEFAULT_COREFILE.replace("refresh 1s", "refresh 1s\n        timeout 10s")
    server = start_coredns(corefile=corefile)
    server.cli.set_mode("slow:1.5")
    server.cli.set_listing(listing_with_primary_at(NEW))
    runs = server.cli.run_count()
    # Answers never wait for the slow run.
    while [r.rdata for r in server.dig("primary.vm.test").answer] != [NEW]:
        reply = server.dig("primary.vm.test")
        assert reply.status == "NOERROR" and len(reply.answer) == 1, reply
        assert server.cli.run_count() <= runs + 3, "no change loaded\n" + server.logs()
        time.sleep(0.2)
    assert server.ready()[0] == 200
    assert plugin_lines(server, "ERROR") == [], server.logs()
    assert not [l for l in plugin_lines(server, "INFO") if "works again" in l]


ODD_ENTRIES = [
    {"ipv4": ["N/A"], "name": "no-address", "release": "Ubuntu 24.04 LTS", "state": "Running"},
    {"ipv4": ["fd42::1", "10.1.2.300", "010.1.2.3", " 10.1.2.3", "not an address"],
     "name": "odd-addresses", "release": "Ubuntu 24.04 LTS", "state": "Running"},
    {"ipv4": ["10.110.24.77"], "name": "n" * 64, "release": "Ubuntu 24.04 LTS",
     "state": "Running"},
    {"ipv4": ["10.110.24.78"], "name": "PRIMARY", "release": "Ubuntu 24.04 LTS",
     "state": "Running"},
    {"ipv4": ["10.110.24.79"], "name": "under_score", "release": "Ubuntu 24.04 LTS",
     "state": "Running"},
]


def odd_listing():
    """list-mixed.json with primary moved, the odd entries appended, and
    unknown keys (as newer multipass versions add) at every level."""
    vms = json.loads((FIXTURES / "list-mixed.json").read_text())["list"]
    for vm in vms:
        if vm["name"] == "primary":
            vm["ipv4"] = [NEW]
            vm["zone"] = {"name": "zone1", "available": True}
        vm["snapshots"] = 0
    vms += ODD_ENTRIES
    return json.dumps({"list": vms, "errors": [], "future": {"key": [1, 2]}}, indent=4)


def test_odd_listing_entries_are_skipped_and_warned_about_once(start_coredns):
    server = start_coredns()
    server.cli.set_listing(odd_listing())
    eventually(lambda: [r.rdata for r in server.dig("primary.vm.test").answer] == [NEW], 10,
               "the listing with odd entries loaded")
    server.cli.wait_for_runs(server.cli.run_count() + 2)  # warnings are not repeated

    # The first of duplicate names wins; the unknown keys change nothing.
    assert [r.rdata for r in server.dig("PRIMARY.vm.test").answer] == [NEW]
    # "N/A" and strings that are no dotted quad are no address: NODATA.
    for name in ("no-address", "odd-addresses"):
        reply = server.dig(name + ".vm.test")
        assert reply.status == "NOERROR" and reply.answer == [], reply
    assert server.dig("k8s-node-01.vm.test").answer, "a regular VM stopped answering"
    assert server.dig("under_score.vm.test").status == "NXDOMAIN"
    assert server.ready()[0] == 200

    warnings = plugin_lines(server, "WARNING")
    for needle in ("n" * 20, "PRIMARY", "under_score"):
        hits = [w for w in warnings if needle in w]
        assert len(hits) == 1, "%d warnings about %r (want one):\n%s" % (
            len(hits), needle, server.logs())
    assert plugin_lines(server, "ERROR") == [], server.logs()


def own_cpu_seconds(pid):
    """utime + stime of pid itself (its threads, not its children)."""
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_lines(server):
    return server.logs().count("\n")


DUPLICATE_NAMES = 60000
MAX_OUTPUT = 16 << 20  # the core's cap on the CLI's output


def duplicate_case_listing():
    """120,000 entries: vm-00001 .. vm-60000, each followed by the same name
    in upper case with another address (~11.7 MB on one line, under the cap
    on the CLI's output). The first of duplicate names wins."""
    vms = []
    for vm in make_fleet.fleet(DUPLICATE_NAMES):
        vms += [vm, dict(vm, name=vm["name"].upper(), ipv4=["192.0.2.1"])]
    return json.dumps({"list": vms})


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_PROC, reason="reads CoreDNS's CPU time from /proc")
def test_a_listing_of_120000_duplicate_names_costs_little_cpu_and_few_log_lines(
        start_coredns):
    listing = duplicate_case_listing()
    assert 11 << 20 < len(listing) < MAX_OUTPUT
    corefile = DEFAULT_COREFILE.replace("refresh 1s", "refresh 2s\n        probe off")
    server = start_coredns(corefile=corefile, listing=listing, wait_ready=False)
    server.wait_ready(timeout=30)
    known = {"vm-00001.vm.test": "10.0.0.1", "VM-12345.vm.test": "10.0.48.57",
             "vm-60000.vm.test": "10.0.234.96"}

    def check_answers():
        for name, address in known.items():
            assert query_a(server.port, name, timeout=2.0) == (0, [address]), \
                "%s: no right answer within 2 s\n%s" % (name, server.logs())

    check_answers()
    server.cli.wait_for_runs(2, timeout=15)  # a refresh of the same listing
    pid = server.proc.pid
    runs, lines, cpu, t0 = (server.cli.run_count(), log_lines(server),
                            own_cpu_seconds(pid), time.monotonic())
    time.sleep(10)
    runs, lines, cpu, seconds = (server.cli.run_count() - runs, log_lines(server) - lines,
                                 own_cpu_seconds(pid) - cpu, time.monotonic() - t0)
    check_answers()

    logs = server.logs()
    warnings = plugin_lines(server, "WARNING")
    measured = "in %.0f s at refresh 2s: %d refreshes, CoreDNS's own CPU %.0f%% of a core, " \
        "%d log lines (%d warnings since start)\n%s" % (
            seconds, runs, 100 * cpu / seconds, lines, len(warnings), logs[-3000:])
    print(measured.split("\n")[0])  # the figures, with pytest -s or -rP
    assert runs >= 3, measured
    assert cpu / seconds < 0.33, measured
    assert lines <= 40 * runs, measured
    # Also the first refresh, which warns about the duplicates, says it in a
    # few dozen lines, none of them longer than the core's cut (1 KiB) plus
    # CoreDNS's prefix.
    assert len(warnings) <= 40, "%d warnings:\n%s" % (len(warnings), "\n".join(warnings[:50]))
    longest = max(len(l.encode()) for l in logs.splitlines())
    assert longest <= 1024 + 64, "a log line of %d bytes" % longest


def test_answers_do_not_wait_for_a_hanging_cli(start_coredns):
    # A CLI hanging for far longer than a client waits: known names answer
    # from the inventory, unknown ones after the bounded miss wait, SERVFAIL
    # (no look ended: nothing says they are missing).
    corefile = DEFAULT_COREFILE.replace("refresh 1s", "refresh 1s\n        timeout 1m")
    server = start_coredns(corefile=corefile)
    server.cli.set_mode("hang")
    server.cli.wait_for_runs(server.cli.run_count() + 1)
    time.sleep(0.5)  # the run that hangs has started
    rcodes = udp_burst(server.port, ["primary.vm.test", "k8s-node-01.vm.test"],
                       timeout=10)
    assert rcodes == {"primary.vm.test": 0, "k8s-node-01.vm.test": 0}, rcodes
    reply = server.dig("no-such-vm.vm.test")
    assert reply.status == "SERVFAIL", reply
    assert server.ready()[0] == 200


# --------------------------------------------------------------------------
# What reaches the CLI: a fixed argv, no shell, CoreDNS's own environment.


def test_readiness_never_runs_the_cli(start_coredns):
    server = start_coredns(corefile=DEFAULT_COREFILE.replace("refresh 1s", "refresh 1h"))
    runs = server.cli.run_count()
    for _ in range(30):
        assert server.ready()[0] == 200
    assert server.cli.run_count() == runs


def test_a_binary_path_with_shell_syntax_is_run_literally(start_coredns, tmp_path):
    odd_dir = tmp_path / "my tools; touch pwned-by-path && echo $(touch pwned-by-subst) |"
    odd_dir.mkdir()
    os.symlink(FAKE_CLI, odd_dir / "multi pass")
    binary = str(odd_dir / "multi pass")
    corefile = DEFAULT_COREFILE.replace("{binary}", '"%s"' % binary.replace('"', '\\"'))
    server = start_coredns(corefile=corefile)
    assert [r.rdata for r in server.dig("primary.vm.test").answer] == [OLD]
    assert {r["args"] for r in server.cli.runs()} == {"list --format=json"}
    planted = [p for d in (tmp_path, server.dir, odd_dir) for p in d.rglob("pwned*")]
    assert planted == [], "a shell ran: %s" % planted


def test_query_names_with_shell_syntax_never_reach_the_cli(start_coredns):
    server = start_coredns()
    names = ["$(touch pwned).vm.test", "a;touch pwned.vm.test", "`id`.vm.test",
             "x|id.vm.test", "--format=yaml.vm.test", "list.vm.test"]
    rcodes = server.udp_burst(names)
    assert set(rcodes.values()) == {3}, rcodes  # NXDOMAIN, none ran anything
    server.cli.wait_for_runs(server.cli.run_count() + 1)
    assert {r["args"] for r in server.cli.runs()} == {"list --format=json"}
    assert list(server.dir.rglob("pwned*")) == []


ENV_DUMPER = """#!/usr/bin/python3 -I
import json, os, sys
with open(os.path.join(os.environ["MULTIPASS_FAKE_DIR"], "env.json"), "w") as f:
    json.dump(dict(os.environ), f)
os.execv(%r, [%r] + sys.argv[1:])
"""


def environ_of(pid):
    raw = Path("/proc/%d/environ" % pid).read_bytes()
    return dict(e.split("=", 1) for e in raw.decode().split("\0") if "=" in e)


# What the CLI gets of CoreDNS's environment (src/process_runner.cc).
PASSED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
          "DBUS_SESSION_BUS_ADDRESS")
PASSED_PREFIXES = ("LC_", "XDG_", "MULTIPASS_", "SNAP_", "SNAPD_")


@pytest.mark.skipif(not HAVE_PROC, reason="reads /proc/PID/environ (Linux)")
@pytest.mark.parametrize("address", [None, "10.11.12.13:50051"])
def test_the_cli_gets_the_allowed_part_of_corednss_environment_plus_the_server_address(
        start_coredns, tmp_path, monkeypatch, address):
    monkeypatch.setenv("LC_E2E", "a b;$(c) 'd'")  # passed on verbatim
    monkeypatch.setenv("SNAP_E2E", "s")
    for kept_back in ("E2E_MARKER", "LD_PRELOAD", "https_proxy", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(kept_back, "")
    dumper = tmp_path / "multipass"
    dumper.write_text(ENV_DUMPER % (str(FAKE_CLI), str(FAKE_CLI)))
    dumper.chmod(0o755)
    corefile = DEFAULT_COREFILE.replace("{binary}", str(dumper))
    if address:
        corefile = corefile.replace("refresh 1s", "refresh 1s\n        server_address " + address)
    server = start_coredns(corefile=corefile)
    cli_env = json.loads((server.cli.dir / "env.json").read_text())
    coredns_env = environ_of(server.proc.pid)
    assert coredns_env["E2E_MARKER"] == "" and "LD_PRELOAD" in coredns_env
    expected = {k: v for k, v in coredns_env.items()
                if k in PASSED or k.startswith(PASSED_PREFIXES)}
    assert expected["LC_E2E"] == "a b;$(c) 'd'" and expected["SNAP_E2E"] == "s"
    if address:
        expected["MULTIPASS_SERVER_ADDRESS"] = address
    assert cli_env == expected
