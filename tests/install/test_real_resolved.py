"""The installed service against a real systemd-resolved (Debian's package,
unpacked, in namespaces of the test's own: resolved_ns.py).

scripts/install-service.sh runs inside the namespaces (its preflight meets
the real resolved) and installs into a sysroot; the test then plays systemd,
as the installer's `systemctl` calls ask: it runs the unit file's own
ExecStartPre, ExecStart (CoreDNS with the rendered Corefile and the stand-in
CLI), ExecStartPost and ExecStopPost lines in order (unit.py), and asks
through the stub (127.0.0.53) and `resolvectl query`, as a user's programs
do. A capture on the loopback shows every question sent to CoreDNS's port.

Each check of the route also runs against the unit with its route lines
taken out (or in the old order), where it must fail.

The lifecycle scenarios of tests/e2e/test_lifecycle.py (launch, start,
restart, resume, delete --purge and a relaunch, a VM that never gets an
address) run here too, played by the stand-in's timeline (e2e.Timeline)."""

import contextlib
import getpass
import os
import subprocess
import sys
import time

import pytest

from conftest import FAKE_CLI, ROOT, STANDIN, e2e, files_under
import resolved_ns
from resolved_ns import ResolvedNamespace
from unit import Unit, UnitFailed

SCRIPT = ROOT / "scripts" / "install-service.sh"
UNIT = "etc/systemd/system/coredns-multipass.service"
ADDRESS, PORT = resolved_ns.ADDRESS, 53  # the installer's default on Linux
PRIMARY = "10.110.24.87"  # primary in list-mixed.json
REVERSE = "24.110.10.in-addr.arpa"  # the /24 of the VMs' first addresses there
FOREIGN = "example.com"
RECOVERY_BOUND = 20.0  # liveness, not speed


@pytest.fixture(scope="module", autouse=True)
def real_resolved():
    reason = resolved_ns.unavailable()
    if reason:
        pytest.skip(reason)
    problem = resolved_ns.missing()
    assert problem is None, problem
    assert e2e.COREDNS.exists(), "no %s: run make coredns" % e2e.COREDNS


class Service:
    """The installed unit in a ResolvedNamespace, with the test as its systemd."""

    def __init__(self, tmp_path, zone, dnssec, timeline=None):
        self.zone = zone
        self.root = tmp_path / "root"
        (self.root / "run" / "systemd" / "system").mkdir(parents=True)
        prefix = tmp_path / "prefix"
        (prefix / "bin").mkdir(parents=True)
        os.symlink(e2e.COREDNS, prefix / "bin" / "coredns-multipass")
        self.fake = fake = e2e.FakeCLI(tmp_path / "fake")
        fake.set_listing("list-mixed.json")
        # Timeline lines the stand-in plays instead, if any (its clock starts now).
        self.timeline = e2e.Timeline(fake, timeline) if timeline else None
        fake.set_mode("ok")
        bindir = tmp_path / "standin-bin"
        bindir.mkdir()
        os.symlink(STANDIN / "tool", bindir / "systemctl")
        self.calls_log = tmp_path / "calls.log"
        self.calls_log.touch()
        self.calls_done = 0
        # The tests run as root: the unit runs CoreDNS as root when asked by name.
        self.install_args = ["--prefix", str(prefix), "--zone", zone, "--multipass", str(FAKE_CLI),
                             "--user", getpass.getuser()]
        self.unit = None
        self.main = None
        self.output = tmp_path / "coredns.log"
        self.ns = ResolvedNamespace(tmp_path / "ns", dnssec=dnssec)
        try:
            self.capture = self.ns.capture(ADDRESS, PORT)
        except BaseException:
            self.ns.close()
            raise
        self.env = dict(self.ns.env, MULTIPASS_FAKE_DIR=str(fake.dir))
        self.install_env = dict(self.env, PATH="%s:%s" % (bindir, self.env["PATH"]),
                                STANDIN_LOG=str(self.calls_log),
                                MULTIPASS_SERVICE_ROOT=str(self.root), MULTIPASS_SERVICE_OS="Linux")

    def install(self):
        out = self.ns.run([str(SCRIPT)] + self.install_args, env=self.install_env)
        assert out.returncode == 0, out.stdout + out.stderr
        # The unit names /etc/coredns-multipass/Corefile: inside, /etc is the namespace's own.
        linked = self.ns.run(["ln", "-sfn", str(self.root / "etc/coredns-multipass"),
                              "/etc/coredns-multipass"])
        assert linked.returncode == 0, linked.stderr
        self.unit = Unit((self.root / UNIT).read_text())
        self.follow()
        return out

    def uninstall(self):
        out = self.ns.run([str(SCRIPT), "--uninstall"], env=self.install_env)
        assert out.returncode == 0, out.stdout + out.stderr
        self.follow()
        return out

    def follow(self):
        """Does what the installer's systemctl calls since the last time ask."""
        calls = self.calls_log.read_text().splitlines()
        for call in calls[self.calls_done:]:
            if call == "systemctl restart coredns-multipass.service":
                self.stop()
                self.start()
            elif call == "systemctl disable --now coredns-multipass.service":
                self.stop()
        self.calls_done = len(calls)

    def start(self, restart=False):
        """The unit's start, a foreign name asked through the stub after each
        of its lines (not on a restart after a crash, which is timed); then
        waits until CoreDNS has loaded the VM list (before that the plugin
        answers SERVFAIL)."""
        loaded = self.loaded()
        with open(self.output, "a") as output:
            if restart:
                self.main = self.unit.crash(self.ns, self.main, self.env, output)
            else:
                self.main = self.unit.start(self.ns, self.env, output, self.ask_foreign)
        e2e.eventually(lambda: self.loaded() > loaded, 15, "CoreDNS's first VM list")
        self.ns.wait_listening(ADDRESS, PORT, proc=self.main)

    def loaded(self):
        assert self.main is None or self.main.poll() is None, "CoreDNS exited"
        text = self.output.read_text() if self.output.exists() else ""
        return text.count("plugin/multipass: loaded")

    def ask_foreign(self, argv):
        """Asked after each of the unit's lines: check_foreign looks for it at CoreDNS's port."""
        self.ns.stub(FOREIGN)

    def stop(self):
        if self.main is not None:
            self.unit.stop(self.ns, self.main)
            self.main = None

    def close(self):
        self.ns.close()

    def logs(self):
        return "%s\n--- coredns ---\n%s\n--- unit lines run ---\n%s" % (
            self.ns.logs(), self.output.read_text(errors="replace")[-4000:] if self.output.exists()
            else "", "\n".join("%s=%s -> %s" % r for r in (self.unit.ran if self.unit else [])))


@contextlib.contextmanager
def installed_service(tmp_path, zone="vm.internal", dnssec="allow-downgrade", timeline=None):
    """A Service, installed (and so started); stopped and removed afterwards."""
    svc = Service(tmp_path, zone, dnssec, timeline)
    try:
        svc.install_output = svc.install()
        yield svc
    except BaseException:
        print(svc.logs())
        raise
    finally:
        svc.close()


# -------------------------------------------------------------------- checks
# Each raises AssertionError when what a user would see is wrong.

def check_a(svc):
    """A for a VM through the stub and resolvectl; returns their times (ms)."""
    name = "primary." + svc.zone
    reply = svc.ns.stub(name)
    assert reply.status == "NOERROR" and [r.rdata for r in reply.answer] == [PRIMARY], reply
    out = svc.ns.query(name)
    assert out.returncode == 0 and "%s: %s" % (name, PRIMARY) in out.stdout, out.stdout + out.stderr
    return reply.query_ms, out.ms


def check_nodata(svc):
    name = "primary." + svc.zone
    reply = svc.ns.stub(name, "AAAA")
    assert reply.status == "NOERROR" and reply.answer == [], reply
    out = svc.ns.query(name, "AAAA")
    assert out.returncode != 0 and "does not have any RR of the requested type" in out.stderr, \
        out.stdout + out.stderr


def check_nxdomain(svc):
    name = "nosuch." + svc.zone
    reply = svc.ns.stub(name)
    assert reply.status == "NXDOMAIN", reply
    out = svc.ns.query(name)
    assert out.returncode != 0 and "'%s' not found" % name in out.stderr, out.stdout + out.stderr


def check_ptr(svc):
    target = "primary.%s." % svc.zone
    reply = svc.ns.stub(PRIMARY, "PTR")
    assert reply.status == "NOERROR" and [r.rdata for r in reply.answer] == [target], reply
    out = svc.ns.query(PRIMARY)
    assert out.returncode == 0 and "%s: primary.%s" % (PRIMARY, svc.zone) in out.stdout, \
        out.stdout + out.stderr


def check_foreign(svc):
    """A name outside the zones, asked now (and while the unit's lines ran), never reached CoreDNS's port."""
    svc.ns.stub(FOREIGN)
    outside = [n for n in svc.capture.names()
               if not n.endswith(("." + svc.zone + ".", "." + REVERSE + "."))]
    assert outside == [], "questions outside the zones reached %s:%d: %s" % (ADDRESS, PORT, outside)


def check_recovers(svc):
    """CoreDNS killed; the unit restarted as Restart=on-failure does; the
    route answers again. Returns the seconds from the kill, and from the new
    CoreDNS's start, to the answer."""
    killed = time.monotonic()
    svc.start(restart=True)
    deadline = killed + RECOVERY_BOUND
    while True:
        try:
            check_a(svc)
            now = time.monotonic()
            return now - killed, now - svc.unit.started
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def check_route_gone(svc):
    """No link, nothing about it in resolved, and the zone no longer answers."""
    assert svc.ns.link("mp-dns0").returncode != 0, "mp-dns0 is still there"
    status = svc.ns.run([str(resolved_ns.RESOLVECTL), "status"])
    assert "mp-dns0" not in status.stdout, status.stdout
    reply = svc.ns.stub("primary." + svc.zone)
    assert reply.answer == [], reply


def check_stop(svc):
    """The unit stopped (ExecStopPost) leaves no route."""
    svc.stop()
    check_route_gone(svc)


def check_uninstall(svc):
    """--uninstall (which stops the unit) leaves no file and no link."""
    if svc.main is None:
        svc.start()
    svc.uninstall()
    left = [f for f in files_under(svc.root) if (svc.root / f).is_file()]
    assert left == [], left
    check_route_gone(svc)


# -------------------------------------------------------------------- tests

# vm.example: a zone outside resolved's built-in negative trust anchors
# (internal, test, lan, home, ...), as a zone under a domain of one's own is.
@pytest.mark.parametrize("zone,dnssec", [
    ("vm.internal", "allow-downgrade"),
    ("vm.example", "allow-downgrade"),
    ("vm.example", "yes"),
    ("vm.internal", "yes"),
])
def test_the_installed_unit_routes_the_zone_through_real_resolved(tmp_path, record_property,
                                                                   zone, dnssec):
    with installed_service(tmp_path, zone, dnssec) as svc:
        # The unit, as the installer wrote it, passes systemd's own check.
        verify = subprocess.run(["systemd-analyze", "verify", str(svc.root / UNIT)],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "==> reverse zones: %s" % REVERSE in svc.install_output.stdout
        link = [l for l in svc.unit.service["ExecStartPre"] if " link add " in l][0].split()[-1]

        first = check_a(svc)  # dig waits 5 s at most: a stall like systemd#24000's 20 s fails
        check_nodata(svc)
        check_nxdomain(svc)
        check_ptr(svc)
        check_foreign(svc)
        recovery = check_recovers(svc)
        check_stop(svc)
        check_uninstall(svc)

        figures = ("%s, zone %s, DNSSEC=%s, link type %s%s: first lookup %s ms through the stub, "
                   "%.1f ms by resolvectl; answering again %.2f s after CoreDNS was killed "
                   "(ExecStopPost, RestartSec, the start lines), %.2f s after the new one "
                   "started" % (resolved_ns.resolved_version(), zone, dnssec, link,
                                " (this kernel has no dummy driver: the installer chose ifb)"
                                if link == "ifb" else "", first[0], first[1], *recovery))
        print(figures)
        record_property("figure", figures)


NEGATIVES = {
    # (zone, DNSSEC=, how the unit is changed, the checks that must then fail)
    "no-route-lines": ("vm.internal", "allow-downgrade",
                       lambda u: u.without("ExecStartPre", "ExecStartPost", "ExecStopPost"),
                       [check_a, check_nodata, check_nxdomain, check_ptr, check_recovers]),
    "no-routing-domain": ("vm.internal", "allow-downgrade",
                          lambda u: u.without("resolvectl domain", "resolvectl default-route"),
                          [check_foreign]),
    "dns-line-first": ("vm.internal", "allow-downgrade",
                       lambda u: u.moved_first("resolvectl dns "), [check_foreign]),
    "no-stop-line": ("vm.internal", "allow-downgrade", lambda u: u.without("ExecStopPost"),
                     [check_stop, check_uninstall]),
    "no-dnssec-lines": ("vm.example", "allow-downgrade",
                        lambda u: u.without("resolvectl dnssec", "resolvectl nta"),
                        [check_a, check_nodata, check_nxdomain]),
}


@pytest.mark.parametrize("variant", sorted(NEGATIVES))
def test_each_check_fails_without_the_units_route_lines(tmp_path, variant):
    zone, dnssec, edit, failing = NEGATIVES[variant]
    with installed_service(tmp_path, zone, dnssec) as svc:
        svc.stop()
        svc.unit = edit(svc.unit)
        svc.start()
        for check in failing:
            with pytest.raises(AssertionError) as failed:
                check(svc)
            print("%s without the lines: %s" % (check.__name__, str(failed.value).splitlines()[0]))


SQUATTER = r"""
import socket, sys, time
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((sys.argv[1], int(sys.argv[2])))
tcp = socket.socket()
tcp.bind((sys.argv[1], int(sys.argv[2])))
tcp.listen()
print("bound", flush=True)
time.sleep(3600)
"""


# (the server that runs, whether the unit keeps its wait line)
SQUATTED = {
    "coredns-exits": ("coredns", True),
    "never-listens": ("/bin/sleep 600", True),
    "never-listens-without-the-wait-line": ("/bin/sleep 600", False),
}


@pytest.mark.parametrize("case", list(SQUATTED))
def test_a_squatted_port_never_receives_the_route(tmp_path, case):
    """Another process holds CoreDNS's address and port when the unit starts
    (in production it would need root or CAP_NET_BIND_SERVICE: port 53).
    CoreDNS cannot bind and exits: the start fails (systemd stops the wait
    line), the route is never set, and no question for the zone reaches the
    squatter. A server that never listens: the wait line holds the route back
    until the start times out. Without the wait line the route is set at once
    and the squatter gets the zone's names."""
    server, wait_line = SQUATTED[case]
    with installed_service(tmp_path) as svc:
        svc.stop()
        squatter = svc.ns.popen([sys.executable, "-c", SQUATTER, ADDRESS, str(PORT)],
                                stdout=subprocess.PIPE)
        assert squatter.stdout.readline() == "bound\n"
        unit = svc.unit if server == "coredns" else svc.unit.with_main(server)
        unit = unit if wait_line else unit.without("ss -Hlnup")
        started, before = None, len(unit.ran)
        with open(svc.output, "a") as output:
            try:
                started = unit.start(svc.ns, svc.env, output, timeout=3)
            except UnitFailed as failed:
                print("the start failed: %s" % failed)
        name = "primary." + svc.zone
        # A squatter answers nothing: what matters is where the question went.
        svc.ns.run(["dig", "@127.0.0.53", "+tries=1", "+time=2", name])
        reached = [n for n in svc.capture.names() if n.endswith("." + svc.zone + ".")]
        routed = [r for r in unit.ran[before:] if "resolvectl dns " in r[1]]
        if wait_line:
            assert started is None, "the unit started although its server does not listen"
            assert routed == [], routed
            assert reached == [], "the squatter got %s" % reached
            assert svc.ns.link("mp-dns0").returncode != 0, "the route's link is left"
        else:
            assert routed and reached == [name + "."], (routed, reached)
            unit.stop(svc.ns, started)


def test_a_vm_launched_stopped_and_deleted_through_real_resolved(tmp_path, record_property):
    """resolved caches nothing from a server on localhost: what the plugin
    answers is what programs get, as the VM comes and goes."""
    with installed_service(tmp_path) as svc:
        name, address = "fresh." + svc.zone, "10.110.24.200"

        def answer():
            reply = svc.ns.stub(name)
            return reply.status, [r.rdata for r in reply.answer]

        def fleet(state=None):
            def edit(vms):
                if state:
                    vms.append(e2e.running_vm("fresh", address))
                    e2e.set_state(vms, "fresh", state)
            svc.fake.set_listing(e2e.edited_listing("list-mixed.json", edit))

        assert answer() == ("NXDOMAIN", [])
        fleet("Running")
        launched = time.monotonic()
        e2e.eventually(lambda: answer() == ("NOERROR", [address]), 15, "the launched VM's A")
        seen = time.monotonic() - launched
        out = svc.ns.query(address)
        assert out.returncode == 0 and "%s: %s" % (address, name) in out.stdout, out.stdout + out.stderr
        fleet("Stopped")
        e2e.eventually(lambda: answer() == ("NOERROR", []), 15, "NODATA for the stopped VM")
        fleet("Deleted")
        e2e.eventually(lambda: answer() == ("NXDOMAIN", []), 15, "NXDOMAIN for the deleted VM")
        figure = ("a VM launched after a miss answered through resolved's stub %.1f s after it "
                  "appeared in the list (the plugin remembers a miss for its 5 s negative TTL)" % seen)
        print(figure)
        record_property("figure", figure)


# -------------------------------------------------------------------- lifecycle
# What users type (issue 18, tests/e2e/test_lifecycle.py), played by the
# stand-in as a timeline and asked through the stub the moment the last
# command returns, with the installed Corefile's intervals (probe 5s). resolved
# caches nothing from a server on localhost: the first answer and a repeated
# one both come from the plugin.

PROBE = 5

# id: (the VMs at 0 besides primary, the commands (each its steps: seconds
# from the command, "NAME STATE [ADDRESS]"), {vm: (status, [A])} after the last)
LIFECYCLE = {
    "launch": ([], [[(0, "foo Starting"), (1, "foo Running 10.110.24.50")]],
               {"foo": ("NOERROR", ["10.110.24.50"])}),
    "start": (["foo Stopped"],
              [[(0, "foo Starting"), (0.5, "foo Running N/A"), (1, "foo Running 10.110.24.51")]],
              {"foo": ("NOERROR", ["10.110.24.51"])}),
    "resume": (["foo Suspended"], [[(0.3, "foo Running 10.110.24.52")]],
               {"foo": ("NOERROR", ["10.110.24.52"])}),
    # A restart, and a delete --purge then a launch under the same name, take
    # longer than a probe: the plugin sees the VM go before it comes back.
    "restart": (["foo Running 10.110.24.53"],
                [[(0, "foo Restarting")],
                 [(0, "foo Starting"), (0.5, "foo Running N/A"), (1, "foo Running 10.110.24.54")]],
                {"foo": ("NOERROR", ["10.110.24.54"])}),
    "delete-purge-launch": (["foo Running 10.110.24.53"],
                            [[(0, "foo Deleted"), (0.3, "foo purged")],
                             [(0, "foo Starting"), (1, "foo Running 10.110.24.57")]],
                            {"foo": ("NOERROR", ["10.110.24.57"])}),
    # `multipass start late` beside a VM that never gets an address.
    "start-beside-never": (["never Running N/A", "late Stopped"],
                           [[(0, "late Starting"), (0.5, "late Running N/A"),
                             (1, "late Running 10.110.24.58")]],
                           {"late": ("NOERROR", ["10.110.24.58"]), "never": ("NOERROR", [])}),
}


@pytest.mark.parametrize("scenario", list(LIFECYCLE))
def test_what_users_type_answers_right_the_first_time_through_real_resolved(
        tmp_path, record_property, scenario):
    before, commands, answers = LIFECYCLE[scenario]
    lines = ["0 primary Running " + PRIMARY] + ["0 " + vm for vm in before]
    with installed_service(tmp_path, timeline=lines) as svc:
        timeline = svc.timeline
        time.sleep(1.1)  # past the rate limit of the listings so far: a service up a while
        for steps in commands[:-1]:
            typed = timeline.types(*steps)
            timeline.looked(typed + steps[-1][0], PROBE + 10)
        runs = svc.fake.runs()
        typed = timeline.types(*commands[-1])
        timeline.until(typed + commands[-1][-1][0])
        replies = {vm: [svc.ns.stub(vm + "." + svc.zone) for _ in ("first", "repeated")]
                   for vm in answers}
        got = {vm: [(r.status, [a.rdata for a in r.answer]) for r in pair]
               for vm, pair in replies.items()}
        assert got == {vm: [right, right] for vm, right in answers.items()}, replies
        # Both reached CoreDNS: nothing in between keeps an answer.
        reached = [q[1] for q in svc.capture.questions() if q[2] == "1"]
        for vm in answers:
            assert reached.count("%s.%s." % (vm, svc.zone)) >= 2, reached
        cost = [r["kind"] for r in svc.fake.runs()[len(runs):]]
        figure = "%s through resolved's stub: %s; the last command cost %d full and %d cheap " \
                 "listings" % (scenario, ", ".join(
                     "%s %s in %d ms, again in %d ms" % (
                         vm, " ".join(got[vm][0][1]) or got[vm][0][0] + " (no address)",
                         pair[0].query_ms, pair[1].query_ms) for vm, pair in replies.items()),
                     cost.count("full"), cost.count("probe"))
        print(figure)
        record_property("figure", figure)
