"""Every way a VM comes up or goes, as users type it (issue 18), end to end
through build/coredns, directly and through Unbound in front: `launch`,
`start`, `restart` (a new address), `resume`, `stop`, `delete`, `delete
--purge` and a relaunch under the same name, a boot on multipass main during
which full listings fail for 30 s, and a VM that never gets an address beside
one that does.

The stand-in plays each command as a timeline (tests/fake-multipass/README.md,
"Timeline"); the test asks at the moment the command would return, with the
default intervals (probe 5 s, refresh 10 min), so that the answer comes from
the look the question waits for, not from a background listing. Each test
asserts that the first answer is right and that a negative answer is never
cached for longer than the plugin remembers it. Time bounds are liveness
bounds with slack (the machine is shared), never speed assertions; waits are
on events of the stand-in's run log."""

import threading
import time

import pytest

from conftest import Timeline, dig, eventually, plugin_corefile, plugin_lines

PRIMARY = "0 primary Running 10.110.24.87"  # what conftest's `unbound` asks for
NEGATIVE_TTL = 5
PROBE = 5


DEFAULTS = plugin_corefile()


class User(Timeline):
    """Someone at the terminal: types multipass commands (the Timeline of
    the server's stand-in) and asks DNS, directly or through Unbound."""

    def __init__(self, server, port, lines):
        super().__init__(server.cli, lines, start=server.timeline_start)
        self.server, self.port = server, port

    def ask(self, vm, rrtype="A"):
        return dig(self.port, vm + ".vm.test", rrtype)

    def a(self, vm):
        """(status, [addresses]) of vm's A question."""
        reply = self.ask(vm)
        return reply.status, [r.rdata for r in reply.answer]

    def plugin_has_looked(self, since):
        """Waits until the plugin has loaded what the stand-in showed from
        `since` on: a probe interval at most."""
        self.looked(since, PROBE + 10)


@pytest.fixture(params=["direct", "unbound"])
def user(request, start_coredns, unbound):
    """user(*timeline lines) -> a User over a fresh CoreDNS with the
    defaults, asking it directly or through a fresh Unbound."""
    def make(*lines, corefile=DEFAULTS):
        text = "\n".join((PRIMARY,) + lines) + "\n"
        server = start_coredns(corefile=corefile, timeline=text)
        port = server.port if request.param == "direct" else unbound(server.port)
        time.sleep(1.1)  # past the rate limit of the listings so far
        return User(server, port, (PRIMARY,) + lines)
    return make


def soa_ttl(reply):
    soas = reply.records("authority", "SOA")
    assert len(soas) == 1, reply
    return soas[0].ttl


# --------------------------------------------------------------------------
# coming up: the first answer after the command is the address


def test_launch_then_dig(user):
    u = user()
    c = u.types((0, "foo Starting"), (1, "foo Running 10.110.24.50"))
    u.until(c + 1)
    assert u.a("foo") == ("NOERROR", ["10.110.24.50"])


def test_start_then_dig(user):
    u = user("0 foo Stopped")
    c = u.types((0, "foo Starting"), (0.5, "foo Running N/A"), (1, "foo Running 10.110.24.51"))
    u.until(c + 1)
    assert u.a("foo") == ("NOERROR", ["10.110.24.51"])


def test_resume_then_dig(user):
    u = user("0 foo Suspended")
    c = u.types((0.3, "foo Running 10.110.24.52"))
    u.until(c + 0.3)
    assert u.a("foo") == ("NOERROR", ["10.110.24.52"])


# A restart, and a delete --purge then a launch under the same name, take
# longer than a probe: the plugin sees the VM go before it comes back.
@pytest.mark.parametrize("going,coming,address", [
    (["Restarting"], ["Starting", "Running N/A", "Running 10.110.24.54"], "10.110.24.54"),
    (["Deleted", "purged"], ["Starting", "Running 10.110.24.57"], "10.110.24.57"),
], ids=["restart", "delete-purge-launch"])
def test_back_with_a_new_address_then_dig(user, going, coming, address):
    u = user("0 foo Running 10.110.24.53")
    c = u.types(*[(0.3 * i, "foo " + state) for i, state in enumerate(going)])
    u.plugin_has_looked(c + 0.3 * (len(going) - 1))
    c = u.types(*[(0.5 * i, "foo " + state) for i, state in enumerate(coming)])
    u.until(c + 0.5 * (len(coming) - 1))
    assert u.a("foo") == ("NOERROR", [address])


def test_a_question_during_a_restart_is_not_cached_past_the_restart(user):
    # Someone asks while the VM restarts: NODATA, remembered (and cacheable)
    # for what is left of the negative TTL; once it is up, the address comes
    # through the cache within that time and a probe.
    u = user("0 foo Running 10.110.24.58")
    c = u.types((0, "foo Restarting"))
    u.plugin_has_looked(c)
    first = u.ask("foo")
    asked = time.monotonic()
    assert first.status == "NOERROR" and first.answer == [], first
    assert soa_ttl(first) <= NEGATIVE_TTL
    u.types((0, "foo Running 10.110.24.59"))
    up = time.monotonic()
    eventually(lambda: u.a("foo") == ("NOERROR", ["10.110.24.59"]),
               NEGATIVE_TTL + PROBE + 3, "the address after the restart")
    print("NODATA asked %.1f s before the VM was up; address %.1f s after it" % (
        up - asked, time.monotonic() - up))


# --------------------------------------------------------------------------
# going: right once the plugin has looked (a VM with an address is answered
# from the inventory without a look; a probe brings the change)


@pytest.mark.parametrize("command,state,status", [("stop", "Stopped", "NOERROR"),
                                                  ("delete", "Deleted", "NXDOMAIN")])
def test_stop_or_delete_then_dig(user, command, state, status):
    u = user("0 foo Running 10.110.24.55")
    c = u.types((0, "foo " + state))
    u.plugin_has_looked(c)
    reply = u.ask("foo")
    assert reply.status == status and reply.answer == [], reply
    assert soa_ttl(reply) == NEGATIVE_TTL
    # Asked again: the same, from the inventory.
    assert u.a("foo") == (status, [])


# --------------------------------------------------------------------------
# multipass main: full listings fail while a VM boots


FLEET = ["0 vm-%02d Running 10.110.25.%d" % (i, i) for i in range(1, 21)]


@pytest.mark.slow
def test_a_boot_during_which_full_listings_fail_for_30_s(start_coredns, unbound):
    server = start_coredns(corefile=DEFAULTS, timeline="\n".join(
        ["cli main", "banner", PRIMARY] + FLEET + ["0 boot Stopped"]) + "\n")
    front = unbound(server.port)
    u = User(server, server.port, ["cli main", "banner", PRIMARY] + FLEET + ["0 boot Stopped"])
    time.sleep(1.1)
    # `multipass start boot` on main: Running without an address for 30 s,
    # every full listing fails meanwhile; two VMs stop or go meanwhile.
    c = u.types((0, "boot Starting"), (1, "boot Running N/A"), (8, "vm-05 Stopped"),
                (12, "vm-06 Deleted"), (16, "vm-07 purged"), (31, "boot Running 10.110.24.99"))
    u.until(c + 1)
    fulls = server.cli.run_count("full")
    # A query load meanwhile: unknown names, 5 a second, and the booting VM.
    stop = threading.Event()

    def load():
        i = 0
        while not stop.is_set():
            dig(server.port, "nosuch-%d.vm.test" % i)
            i += 1
            stop.wait(0.2)
    flood = threading.Thread(target=load)
    flood.start()
    try:
        # The stopped and deleted VMs answer right within a probe.
        for at, vm, status in ((8, "vm-05", "NOERROR"), (12, "vm-06", "NXDOMAIN"),
                               (16, "vm-07", "NXDOMAIN")):
            u.until(c + at)
            eventually(lambda: u.a(vm) == (status, []), PROBE + 3, "%s gone" % vm)
        # Through Unbound, the booting VM: NODATA, never cached longer than
        # the plugin remembers it.
        reply = dig(front, "boot.vm.test")
        assert reply.status == "NOERROR" and reply.answer == [], reply
        assert soa_ttl(reply) <= NEGATIVE_TTL
        u.until(c + 31)
        failing = server.cli.run_count("full") - fulls
    finally:
        stop.set()
        flood.join()
    # At most one full listing a probe interval whatever the load.
    print("30 s of failing full listings: %d full listings, %d cheap ones" % (
        failing, server.cli.run_count("probe")))
    assert failing <= 30 // PROBE + 1, server.cli.runs()
    # Booted: the address, directly and through Unbound, within the negative
    # TTL and a probe (a question brings a full listing forward).
    eventually(lambda: u.a("boot") == ("NOERROR", ["10.110.24.99"]),
               NEGATIVE_TTL + PROBE + 3, "boot's address")
    eventually(lambda: [r.rdata for r in dig(front, "boot.vm.test").answer] == ["10.110.24.99"],
               NEGATIVE_TTL + 3, "boot's address through Unbound")
    # Two log lines for the outage: the error (not the banner), the end.
    warnings = plugin_lines(server, "WARNING")
    assert len(warnings) == 1 and "list failed: IP not available" in warnings[0], server.logs()
    assert plugin_lines(server, "ERROR") == [], server.logs()
    assert len([l for l in plugin_lines(server, "INFO") if "works again" in l]) == 1, \
        server.logs()
    assert "deprecated" not in server.logs()
    assert server.ready()[0] == 200


# --------------------------------------------------------------------------
# one VM never gets an address


@pytest.mark.slow
def test_a_vm_that_never_gets_an_address_delays_no_other(start_coredns, unbound):
    # refresh 10s: `never` counts as new to lacking an address for 10 s.
    fast = plugin_corefile("probe 1s\nrefresh 10s")
    lines = [PRIMARY, "0 never Running N/A", "0 late Stopped"]
    server = start_coredns(corefile=fast, timeline="\n".join(lines) + "\n")
    front = unbound(server.port)
    u = User(server, server.port, lines)
    u.until(12)  # `never` is old now: its looks are refresh apart
    def serial():  # the apex: asking it is never a wait, never a look
        return int(server.dig("vm.test", "SOA").answer[0].rdata.split()[2])
    # `multipass start late` (nobody asks): Running, its address known 3 s on.
    c = u.types((0, "late Starting"), (0.5, "late Running N/A"), (3, "late Running 10.110.24.98"))
    u.until(c + 3)
    before = serial()  # late Running without an address, seen by now
    # The address seen within a probe and a listing (with one backoff for
    # every VM it took up to refresh): the next change of the inventory.
    eventually(lambda: serial() != before, 1 + 1 + 2, "late's address without a question")
    print("late's address loaded %.2f s after it appeared" % (u.clock() - (c + 3)))
    assert [r.rdata for r in server.dig("late.vm.test").answer] == ["10.110.24.98"]
    assert [r.rdata for r in dig(front, "late.vm.test").answer] == ["10.110.24.98"]
    # `never` still answers NODATA, through Unbound with a countdown.
    reply = dig(front, "never.vm.test")
    assert reply.status == "NOERROR" and reply.answer == [] and soa_ttl(reply) <= NEGATIVE_TTL
