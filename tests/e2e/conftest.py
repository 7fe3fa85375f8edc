"""End-to-end harness: the real build/coredns, the stand-in multipass CLI, real dig.

Fixtures:
  coredns_binary  the path of build/coredns; FAILS the test when it is missing.
  unbound         start(upstream_port) -> port: an Unbound forwarding vm.test.
  start_coredns   a factory: start_coredns(corefile=..., listing=..., mode=...)
                  returns a running CoreDNS (see class CoreDNS); teardown stops
                  it and asserts a clean exit with no CLI process left behind.
  mixed_server    one CoreDNS per module serving vm.test from list-mixed.json.
"""

import fcntl
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# E2E_COREDNS runs the suite against another CoreDNS build (for example one
# linked with the static core); the default is what `make coredns` builds.
COREDNS = Path(os.environ.get("E2E_COREDNS") or ROOT / "build" / "coredns")
FAKE_CLI = ROOT / "tests" / "fake-multipass" / "multipass"
FIXTURES = ROOT / "tests" / "fixtures"

sys.path.insert(0, str(FIXTURES))
import make_fleet  # noqa: E402
import unbound_front  # noqa: E402

# Generous bounds for liveness only; no test asserts how fast anything is.
START_TIMEOUT = 15.0
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0

# The default Corefile: the zone vm.test served by the plugin with a 1 s
# refresh, and the ready plugin. {port}, {ready_port} and {binary} are filled in.
DEFAULT_COREFILE = """\
vm.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        refresh 1s
    }}
    ready 127.0.0.1:{ready_port}
}}
"""


def plugin_corefile(options=""):
    """vm.test served by the plugin with the stand-in and `options` (one per
    line; nothing: the defaults, probe 5s and refresh 10m), and the ready
    plugin."""
    lines = "".join("        %s\n" % o for o in options.splitlines() if o.strip())
    return """\
vm.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
%s    }}
    ready 127.0.0.1:{ready_port}
}}
""" % lines


# --------------------------------------------------------------------------
# dig


class Reply:
    """One DNS reply as dig printed it."""

    def __init__(self, status, flags, answer, authority, additional, text):
        self.status = status          # "NOERROR", "NXDOMAIN", ...
        self.flags = flags            # {"qr", "aa", "rd", ...}
        self.answer = answer          # [Record, ...]
        self.authority = authority
        self.additional = additional  # without the OPT pseudo-record
        self.text = text              # dig's output, for failure messages

    def records(self, section, rrtype):
        return [r for r in getattr(self, section) if r.type == rrtype]

    def __repr__(self):
        return "Reply(%s)\n%s" % (self.status, self.text)


class Record:
    def __init__(self, line):
        fields = line.split(None, 4)
        if len(fields) < 4:
            raise ValueError("not a resource record: %r" % line)
        self.owner, ttl, self.cls, self.type = fields[:4]
        self.ttl = int(ttl)
        self.rdata = fields[4] if len(fields) > 4 else ""

    def __repr__(self):
        return "%s %d %s %s %s" % (self.owner, self.ttl, self.cls, self.type, self.rdata)


HEADER = re.compile(r"^;; ->>HEADER<<- opcode: (\S+), status: (\S+), id: \d+$")
FLAGS = re.compile(r"^;; flags:([^;]*);")
SECTION = re.compile(r"^;; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:$")


def parse_replies(text):
    """Parses dig output (+noall +comments +answer +authority +additional),
    one Reply per ->>HEADER<<- line."""
    replies = []
    for block in re.split(r"(?m)^(?=;; ->>HEADER<<-)", text):
        lines = block.splitlines()
        if not lines or not HEADER.match(lines[0]):
            continue
        status = HEADER.match(lines[0]).group(2)
        flags, sections, current = set(), {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}, None
        for line in lines[1:]:
            if FLAGS.match(line):
                flags = set(FLAGS.match(line).group(1).split())
            elif SECTION.match(line):
                current = SECTION.match(line).group(1)
            elif not line.strip():
                current = None
            elif line.startswith(";"):
                continue
            elif current:
                sections[current].append(Record(line))
        replies.append(Reply(status, flags, sections["ANSWER"], sections["AUTHORITY"],
                             sections["ADDITIONAL"], block))
    return replies


DIG_OPTIONS = ["+noall", "+comments", "+answer", "+authority", "+additional",
               "+tries=1", "+time=5"]


def dig(port, name, rrtype="A", tcp=False, options=()):
    """Asks 127.0.0.1:port one question with dig; returns the Reply.
    options: more of dig's after the question, such as ["CH"] (a class) or
    ["+opcode=notify"]."""
    cmd = ["dig", "@127.0.0.1", "-p", str(port)] + DIG_OPTIONS
    cmd += ["+tcp"] if tcp else []
    cmd += [name, rrtype] + list(options)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    replies = parse_replies(out.stdout)
    assert len(replies) == 1, "dig %s %s: no reply (exit %d)\n%s%s" % (
        name, rrtype, out.returncode, out.stdout, out.stderr)
    return replies[0]


def answered_by_whoami(reply):
    """True for the reply of the whoami plugin (the next plugin in the
    chain tests): NOERROR, no answer, the client's address in additional."""
    return reply.status == "NOERROR" and reply.answer == [] and any(
        r.type == "A" and r.rdata == "127.0.0.1" for r in reply.additional)


def dig_batch(port, questions):
    """Asks many (name, type) questions over UDP with one dig process (-f);
    returns their Replies in order."""
    batch = "".join("%s %s\n" % q for q in questions)
    cmd = ["dig", "@127.0.0.1", "-p", str(port)] + DIG_OPTIONS
    out = subprocess.run(cmd + ["-f", "-"], input=batch, capture_output=True,
                         text=True, timeout=120)
    replies = parse_replies(out.stdout)
    assert len(replies) == len(questions), "dig -f: %d replies to %d questions\n%s" % (
        len(replies), len(questions), out.stderr)
    return replies


def udp_burst(port, names, qtype=1, timeout=15.0):
    """Sends one UDP query per name all at once (a burst no sequential dig
    run can make) and returns {name: rcode} of the replies that came back
    within timeout seconds."""
    replies = udp_questions(port, [(name, qtype) for name in names], timeout)
    return {name: rcode for (name, _), (rcode, _) in replies.items()}


def _skip_name(msg, at):
    """The offset just past the (possibly compressed) domain name at `at`."""
    while True:
        length = msg[at]
        if length == 0:
            return at + 1
        if length & 0xC0 == 0xC0:
            return at + 2
        at += 1 + length


def receive_buffer(sock, size):
    """Asks for a receive buffer of size bytes: past net.core.rmem_max as root
    (SO_RCVBUFFORCE), up to it otherwise."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def udp_questions(port, questions, timeout=15.0, wave=0):
    """Sends one UDP query per (name, qtype) all at once (or, with wave > 0,
    in waves of that many, 20 ms apart: a socket's default receive buffer
    holds about 200 queries, fewer on a busy machine), then reads the
    replies: {(name, qtype):
    (rcode, [IPv4 addresses in the answer])} of those that came back within
    timeout seconds."""
    replies = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # Room for every reply at once: questions that wait for one look are
        # all answered when it ends, faster than a busy machine's reader
        # empties a default buffer (about 200 replies).
        receive_buffer(sock, 4 << 20)
        sock.connect(("127.0.0.1", port))
        for qid, (name, qtype) in enumerate(questions):
            if wave and qid and qid % wave == 0:
                time.sleep(0.02)
            labels = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split("."))
            sock.send(struct.pack("!6H", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0"
                      + struct.pack("!2H", qtype, 1))
        deadline = time.monotonic() + timeout
        while len(replies) < len(questions) and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = sock.recv(4096)
            except socket.timeout:
                break
            qid, flags, qdcount, ancount = struct.unpack("!4H", msg[:8])
            if qid >= len(questions):
                continue
            at = 12
            for _ in range(qdcount):
                at = _skip_name(msg, at) + 4
            addresses = []
            for _ in range(ancount):
                at = _skip_name(msg, at)
                rrtype, _cls, _ttl, length = struct.unpack("!2HIH", msg[at:at + 10])
                at += 10
                if rrtype == 1 and length == 4:
                    addresses.append(socket.inet_ntoa(msg[at:at + 4]))
                at += length
            replies[questions[qid]] = (flags & 0xF, addresses)
    return replies


def assert_resolves(server, name="primary.vm.test", address="10.110.24.87"):
    """server answers name A with exactly address (primary in list-mixed.json)."""
    reply = server.dig(name, "A")
    assert reply.status == "NOERROR" and [r.rdata for r in reply.answer] == [address], \
        "%s\n%s" % (reply, server.logs())


def plugin_lines(server, level):
    """CoreDNS's `[LEVEL] plugin/multipass: ...` lines, in order."""
    prefix = "[%s] plugin/multipass: " % level
    return [l for l in server.logs().splitlines() if l.startswith(prefix)]


def ready_status(ready_port):
    """(HTTP status, body) of GET /ready on the ready plugin's port."""
    url = "http://127.0.0.1:%d/ready" % ready_port
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def eventually(check, timeout, what, interval=0.1):
    """Polls check() until it returns a true value (returned) or fails after
    timeout seconds with `what`. A liveness bound, not a speed assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("%s: not within %.0f s (last: %r)" % (what, timeout, value))
        time.sleep(interval)


# --------------------------------------------------------------------------
# the stand-in CLI


def edited_listing(fixture, edit):
    """The JSON text of fixture after edit(vms) changed its list of VMs
    (dicts with ipv4, name, release, state), in the real CLI's layout."""
    vms = json.loads((FIXTURES / fixture).read_text())["list"]
    edit(vms)
    return make_fleet.render(vms)


def running_vm(name, address):
    """A Running VM with one address, for edited_listing."""
    return {"ipv4": [address], "name": name, "release": "Ubuntu 24.04 LTS",
            "state": "Running"}


def set_state(vms, name, state):
    """Puts VM `name` in `state` (any but Running loses its addresses)."""
    for vm in vms:
        if vm["name"] == name:
            vm["state"] = state
            if state != "Running":
                vm["ipv4"] = []


def listing_with_primary_at(address, extra=()):
    """list-mixed.json with primary at `address`, plus the VMs in `extra`."""
    def edit(vms):
        for vm in vms:
            if vm["name"] == "primary":
                vm["ipv4"] = [address]
        vms.extend(extra)
    return edited_listing("list-mixed.json", edit)


class FakeCLI:
    """The control directory of the stand-in multipass CLI (MULTIPASS_FAKE_DIR)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _replace(self, name, data):
        tmp = self.dir / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.dir / name)

    def set_mode(self, mode):
        self._replace("mode", (mode + "\n").encode())

    def set_listing(self, source):
        """source: a fixture file name, a Path, or the JSON text itself."""
        if isinstance(source, Path):
            data = source.read_bytes()
        elif source.lstrip().startswith("{"):
            data = source.encode()
        else:
            data = (FIXTURES / source).read_bytes()
        self._replace("list.json", data)

    def set_timeline(self, text, start=None):
        """Plays `text` (timeline lines, see tests/fake-multipass/README.md)
        instead of list.json, its clock starting at Unix time `start` (now
        when None); returns that start. Rewriting it with the same start
        keeps the clock."""
        start = time.time() if start is None else start
        self._replace("timeline", ("start %.6f\n%s" % (start, text)).encode())
        return start

    def set_old_cli(self, old=True):
        """Makes the stand-in a CLI older than --no-ipv4 (or a current one)."""
        if old:
            self._replace("old-cli", b"")
        elif (self.dir / "old-cli").exists():
            (self.dir / "old-cli").unlink()

    def set_guest_delay_ms(self, ms):
        """What each guest session of a full listing costs (0: nothing)."""
        self._replace("guest-delay-ms", ("%g\n" % ms).encode())

    def runs(self):
        """The CLI runs so far: one dict per runs.log line (pid, pgid,
        server_address, args, kind "full"|"probe"|"-", sessions)."""
        path = self.dir / "runs.log"
        if not path.exists():
            return []
        runs = []
        for line in path.read_text().splitlines():
            m = re.match(r"pid=(\d+) pgid=(\d+) server_address=(\S+) args=(.*?)"
                         r"(?: kind=(\S+) sessions=(\d+))?$", line)
            assert m, "malformed runs.log line: %r" % line
            runs.append({"pid": int(m.group(1)), "pgid": int(m.group(2)),
                         "server_address": m.group(3), "args": m.group(4),
                         "kind": m.group(5), "sessions": int(m.group(6) or 0)})
        return runs

    def run_count(self, kind=None):
        """CLI runs so far; with kind ("full" or "probe") only those."""
        return sum(1 for r in self.runs() if kind is None or r["kind"] == kind)

    def guest_sessions(self):
        """The guest sessions all full listings so far opened."""
        return sum(r["sessions"] for r in self.runs())

    def wait_for_runs(self, count, timeout=10.0):
        """Waits until at least `count` runs in total have started."""
        return eventually(lambda: self.run_count() >= count, timeout,
                          "%d CLI runs" % count)

    def child_pid(self):
        path = self.dir / "child.pid"
        return int(path.read_text()) if path.exists() else None

    def daemon(self, address):
        """The control directory of the stand-in daemon at server_address
        `address` (tests/fake-multipass/README.md), made on first use."""
        return FakeCLI(self.dir / "daemons" / re.sub(r"[^A-Za-z0-9._-]", "_", address))


class Timeline:
    """What a user types at the terminal, played by the stand-in: its timeline
    (tests/fake-multipass/README.md, "Timeline") rewritten as each command is
    typed, on one clock."""

    def __init__(self, cli, lines, start=None):
        """Writes `lines` (timeline lines) for the FakeCLI `cli`, the clock
        starting at Unix time `start` (now when None)."""
        self.cli, self.lines = cli, list(lines)
        self.start = cli.set_timeline(self._text(), start=start)

    def _text(self):
        return "".join(line + "\n" for line in self.lines)

    def clock(self):
        """The stand-in's clock: seconds since its timeline started."""
        return time.time() - self.start

    def types(self, *steps):
        """steps: (seconds from now, "NAME STATE [ADDRESS...]"). Returns
        the stand-in's clock now: the moment the command starts."""
        now = self.clock()
        self.lines += ["%.3f %s" % (now + delay, step) for delay, step in steps]
        self.cli.set_timeline(self._text(), start=self.start)
        return now

    def until(self, at):
        """Sleeps until the stand-in's clock reads `at` (the command returns)."""
        time.sleep(max(0.0, self.start + at - time.time()))

    def looked(self, since, timeout):
        """Waits until a full listing has started after the stand-in's clock
        read `since` (the plugin's cheap listing saw the change and loaded
        it): what a probe interval brings."""
        self.until(since + 0.05)
        mark = self.cli.run_count()
        eventually(lambda: "full" in [r["kind"] for r in self.cli.runs()[mark:]],
                   timeout, "a listing that sees the change")


def process_alive(pid):
    """True while pid is a live (not zombie) process."""
    if os.path.isdir("/proc/self"):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def is_stand_in(pid):
    """True when pid still runs the stand-in CLI (guards against pid reuse)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return str(FAKE_CLI).encode() in f.read()
    except OSError:
        return process_alive(pid)


# --------------------------------------------------------------------------
# CoreDNS


# Ports the tests give to servers come from below every system's ephemeral
# range (Linux 32768-60999, macOS 49152-65535), so that no client socket (dig,
# CoreDNS's own) is given one by the kernel, and each is reserved by a lock file
# held until this process exits: parallel workers (pytest-xdist) and other
# test runs on the machine never hand out the same port.
PORT_RANGE = (20000, 32000)
PORT_LOCKS = Path(tempfile.gettempdir()) / "coredns-multipass-test-ports"
_reserved = []  # the open lock files of this process's ports


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            tcp.bind(("127.0.0.1", port))
            udp.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1, reserved for this
    process (see PORT_RANGE)."""
    PORT_LOCKS.mkdir(exist_ok=True)
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(*PORT_RANGE)
        lock = open(PORT_LOCKS / str(port), "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        if _bindable(port):
            _reserved.append(lock)
            return port
        lock.close()
    raise RuntimeError("no free port in %d-%d" % PORT_RANGE)


def tcp_listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class CoreDNS:
    """A running build/coredns with the stand-in CLI behind it."""

    def __init__(self, binary, workdir, corefile, listing, mode, timeline=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cli = FakeCLI(self.dir / "fake")
        if listing is not None:
            self.cli.set_listing(listing)
        # The stand-in's clock: when the timeline (if any) started.
        self.timeline_start = None if timeline is None else self.cli.set_timeline(timeline)
        self.cli.set_mode(mode)
        self.port = free_port()
        self.ready_port = free_port()
        self.corefile = self.dir / "Corefile"
        self._write_corefile(corefile)
        self.binary = binary
        self.stdout_path = self.dir / "coredns.stdout"
        self.stderr_path = self.dir / "coredns.stderr"
        self._start()

    def _start(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MULTIPASS_")}
        env["MULTIPASS_FAKE_DIR"] = str(self.cli.dir)
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [str(self.binary), "-conf", str(self.corefile)], cwd=self.dir, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.stopped = False

    def restart(self):
        """Stops CoreDNS cleanly (as check_clean_exit checks) and starts it
        again on the same ports with the same Corefile: a restart of the
        service. Waits until it listens and is ready."""
        self.check_clean_exit()
        self._start()
        self.wait_listening()
        self.wait_ready()

    def _write_corefile(self, corefile):
        self.corefile.write_text(corefile.format(
            port=self.port, ready_port=self.ready_port, binary=FAKE_CLI))

    def reload(self, corefile, expect="Reloading complete"):
        """Writes a new Corefile (same ports) and reloads CoreDNS with SIGUSR1,
        as an operator would; waits until CoreDNS logs `expect` once more (by
        default: the reload completed; "[ERROR] SIGUSR1:" for one that fails)."""
        done = self.logs().count(expect)
        self._write_corefile(corefile)
        self.proc.send_signal(signal.SIGUSR1)
        eventually(lambda: self.logs().count(expect) > done, START_TIMEOUT,
                   "CoreDNS says %r" % expect)

    def wait_listening(self):
        """Waits until CoreDNS accepts TCP connections on both ports."""
        deadline = time.monotonic() + START_TIMEOUT
        while not (tcp_listening(self.port) and tcp_listening(self.ready_port)):
            if self.proc.poll() is not None:
                pytest.fail("coredns exited with %d before it listened\n%s" % (
                    self.proc.returncode, self.logs()))
            if time.monotonic() > deadline:
                pytest.fail("coredns did not listen on 127.0.0.1:%d and :%d within "
                            "%.0f s\n%s" % (self.port, self.ready_port, START_TIMEOUT,
                                            self.logs()))
            time.sleep(0.05)

    def logs(self):
        """CoreDNS's stdout and stderr so far."""
        return "--- coredns stdout ---\n%s--- coredns stderr ---\n%s" % (
            self.stdout_path.read_text(errors="replace"),
            self.stderr_path.read_text(errors="replace"))

    def dig(self, name, rrtype="A", tcp=False, options=()):
        return dig(self.port, name, rrtype, tcp, options)

    def dig_batch(self, questions):
        return dig_batch(self.port, questions)

    def udp_burst(self, names, qtype=1):
        return udp_burst(self.port, names, qtype)

    def ready(self):
        return ready_status(self.ready_port)

    def wait_ready(self, timeout=READY_TIMEOUT):
        eventually(lambda: self.ready()[0] == 200, timeout, "/ready answers 200")

    def stop(self):
        """SIGTERM, then wait; returns the exit code (None if it had to be
        killed). Idempotent."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def leftover_cli_processes(self):
        """Stand-in processes (and hang-child children) still alive."""
        pids = [r["pid"] for r in self.cli.runs()]
        child = self.cli.child_pid()
        pids += [child] if child else []
        return [p for p in pids if process_alive(p) and is_stand_in(p)]

    def check_clean_exit(self):
        """Stops CoreDNS and asserts what a user would check after stopping
        it: exit code 0, no crash in its output, no CLI process left."""
        code = self.stop()
        logs = self.logs()
        problems = []
        if code is None:
            problems.append("coredns ignored SIGTERM for %.0f s and was killed" % STOP_TIMEOUT)
        elif code != 0:
            problems.append("coredns exited with %d after SIGTERM" % code)
        for marker in ("panic:", "fatal error:", "SIGSEGV", "SA_ONSTACK", "WARNING: DATA RACE"):
            if marker in logs:
                problems.append("coredns output contains %r" % marker)
        deadline = time.monotonic() + 5
        while self.leftover_cli_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = self.leftover_cli_processes()
        for pid in left:  # clean up after a failure: only the stand-in's own pids
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            problems.append("CLI processes still running after coredns exited: %s" % left)
        assert not problems, "\n".join(problems) + "\n" + logs


# --------------------------------------------------------------------------
# a caching resolver in front


@pytest.fixture
def unbound(tmp_path):
    """start(upstream_port) -> the port of an Unbound (a caching resolver, as
    users put in front) forwarding vm.test to 127.0.0.1@upstream_port, run
    by the test (no system service). Ready once it answers primary.vm.test
    with an address from CoreDNS."""
    if unbound_front.binary() is None:
        pytest.fail("unbound is missing: install it with scripts/install-deps.sh "
                    "(Debian: unbound)", pytrace=False)
    procs = []

    def start(upstream):
        port = free_port()
        directory = tmp_path / ("unbound-%d" % len(procs))
        procs.append(unbound_front.start(str(directory), port, upstream))
        eventually(lambda: procs[-1][0].poll() is not None or unbound_answers(port), 15,
                   "Unbound answers on 127.0.0.1:%d" % port)
        assert procs[-1][0].poll() is None, "unbound exited with %d:\n%s" % (
            procs[-1][0].returncode, (directory / "unbound.log").read_text())
        return port

    yield start
    for proc, log in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def unbound_answers(port):
    """True once Unbound answers primary.vm.test with an address (from CoreDNS)."""
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=1",
                          "+noall", "+comments", "+answer", "primary.vm.test", "A"],
                         capture_output=True, text=True, timeout=10)
    replies = parse_replies(out.stdout)
    return bool(replies) and replies[0].status == "NOERROR" and bool(replies[0].answer)


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def coredns_binary():
    if not (COREDNS.is_file() and os.access(COREDNS, os.X_OK)):
        pytest.fail("%s is missing: build it first with `make coredns` (or "
                    "scripts/build-coredns.sh); `make test` does both" % COREDNS,
                    pytrace=False)
    if shutil.which("dig") is None:
        pytest.fail("dig is missing: install bind9-dnsutils (Debian) or bind (macOS)",
                    pytrace=False)
    return COREDNS


def _starter(binary, make_dir, started):
    def start(corefile=DEFAULT_COREFILE, listing="list-mixed.json", mode="ok",
              wait_ready=True, timeline=None):
        server = CoreDNS(binary, make_dir(), corefile, listing, mode, timeline)
        started.append(server)  # stopped by _finish even when it never listened
        server.wait_listening()
        if wait_ready:
            server.wait_ready()
        return server
    return start


def _finish(started):
    errors = []
    for server in started:
        try:
            server.check_clean_exit()
        except AssertionError as e:
            errors.append(str(e))
        print(server.logs())  # shown by pytest when the test fails
    assert not errors, "\n".join(errors)


@pytest.fixture
def start_coredns(coredns_binary, tmp_path):
    """start_coredns(corefile=DEFAULT_COREFILE, listing="list-mixed.json",
    mode="ok", wait_ready=True, timeline=None) -> CoreDNS. listing: a fixture
    name, a Path, JSON text, or None for the stand-in's demo fleet; timeline:
    timeline lines the stand-in plays instead (its clock starts now, at
    server.timeline_start)."""
    started, counter = [], itertools.count()
    yield _starter(coredns_binary, lambda: tmp_path / ("coredns-%d" % next(counter)), started)
    _finish(started)


@pytest.fixture(scope="module")
def mixed_server(coredns_binary, tmp_path_factory):
    """One CoreDNS for the whole module: DEFAULT_COREFILE over list-mixed.json.
    Tests must not change its stand-in's mode or listing."""
    started = []
    start = _starter(coredns_binary, lambda: tmp_path_factory.mktemp("mixed"), started)
    yield start()
    _finish(started)


# --------------------------------------------------------------------------
# order


def pytest_collection_modifyitems(items):
    """Tests marked `slow` (those that sit out real intervals for 10 s or
    more) start first, so that under pytest-xdist (`-n`) no worker begins one
    near the end while the others wait."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
