"""CoreDNS reloads under query load: SIGUSR1 (what an operator or a service
manager sends) and the `reload` plugin (a changed Corefile). A reload starts
the new configuration's plugin instances before it stops the old ones; the
plugin must keep answering every query for known VMs through it, and leave no
refresher, thread, descriptor or zombie behind however many reloads happen."""

import socket
import threading
import time

import pytest

from conftest import (DEFAULT_COREFILE, answered_by_whoami, eventually, free_port,
                      udp_questions)
from test_faults import (FD_SLACK, HAVE_PROC, THREAD_SLACK, ProcWatch, children,
                         query_a, usage)

KNOWN = {"primary.vm.test": ["10.110.24.87"], "k8s-node-01.vm.test": ["10.110.24.141"]}

# Two configurations whose CLI options differ, so that every reload between
# them starts a new refresher and must stop the old one (equal options would
# share one refresher across the reload).
REFRESH_1S = DEFAULT_COREFILE
REFRESH_2S = DEFAULT_COREFILE.replace("refresh 1s", "refresh 2s")


class Load(threading.Thread):
    """Asks for the known VMs over UDP, one question after another, until
    stopped; counts what a client would notice."""

    def __init__(self, port, watch=None, known=None, pause=0.0):
        super().__init__(name="load", daemon=True)
        self.port, self.watch, self.pause = port, watch, pause
        self.known = KNOWN if known is None else known
        self.asked = 0
        self.lost = 0          # no reply within the (generous) client timeout
        self.servfail = 0
        self.wrong = []        # other replies: (name, rcode, addresses)
        self._halt = threading.Event()

    def run(self):
        names = list(self.known)
        while not self._halt.is_set():
            name = names[self.asked % len(names)]
            rcode, addresses = query_a(self.port, name, timeout=3.0)
            self.asked += 1
            if rcode is None:
                self.lost += 1
            elif rcode == 2:
                self.servfail += 1
            elif (rcode, addresses) != (0, self.known[name]):
                self.wrong.append((name, rcode, addresses))
            if self.watch and self.asked % 20 == 0:
                self.watch.sample()
            self._halt.wait(self.pause)

    def stop(self):
        self._halt.set()
        self.join(30)

    def check(self, what):
        assert self.asked > 0
        assert (self.lost, self.servfail, self.wrong[:5]) == (0, 0, []), \
            "%s: %d queries, %d lost, %d SERVFAIL, other answers %r" % (
                what, self.asked, self.lost, self.servfail, self.wrong[:5])


def runs_in(server, seconds):
    before = server.cli.run_count()
    time.sleep(seconds)
    return server.cli.run_count() - before


def test_twenty_sigusr1_reloads_under_load_lose_nothing_and_leak_nothing(start_coredns):
    server = start_coredns(corefile=REFRESH_1S)
    watch = ProcWatch(server.proc.pid)
    # Warm up: Go starts the threads a reload needs once, then reuses them.
    server.reload(REFRESH_2S)
    time.sleep(0.5)
    before = usage(server.proc.pid)

    load = Load(server.port, watch)
    load.start()
    try:
        for i in range(20):
            server.reload(REFRESH_1S if i % 2 == 0 else REFRESH_2S)
            watch.sample()
    finally:
        load.stop()
    load.check("20 reloads")
    assert load.asked >= 100, "only %d queries during 20 reloads" % load.asked

    # The last configuration has refresh 2s: one refresher, a run every 2 s.
    time.sleep(0.5)
    runs = runs_in(server, 3)
    assert 1 <= runs <= 1 + 2, "%d CLI runs in 3 s with refresh 2s after 20 reloads: " \
        "old refreshers still run\n%s" % (runs, server.logs())

    if HAVE_PROC:
        eventually(lambda: not children(server.proc.pid), 5, "no CLI child running")
        after = usage(server.proc.pid)
        assert after[0] <= before[0] + FD_SLACK, "open fds %d -> %d over 20 reloads" % (
            before[0], after[0])
        assert after[1] <= before[1] + THREAD_SLACK, "threads %d -> %d over 20 reloads" % (
            before[1], after[1])
        assert not watch.lasting_zombies, "zombie children: %s" % watch.lasting_zombies
        assert watch.max_children <= 2  # one refresher each, old and new, at most
    assert server.ready()[0] == 200
    reloads = server.logs().count("Reloading complete")
    assert reloads >= 21, "CoreDNS completed %d reloads" % reloads


RELOAD_PLUGIN = DEFAULT_COREFILE.replace("    ready", "    reload 2s 1s\n    ready")


def test_the_reload_plugin_reloads_a_changed_corefile_under_load(start_coredns):
    server = start_coredns(corefile=RELOAD_PLUGIN)
    load = Load(server.port)
    load.start()
    try:
        # New CLI options: the reload starts a new refresher, stops the old one.
        server._write_corefile(RELOAD_PLUGIN.replace("refresh 1s", "refresh 2s"))
        eventually(lambda: "Reloading complete" in server.logs(), 20,
                   "the reload plugin reloads the changed Corefile")
        time.sleep(0.5)
    finally:
        load.stop()
    load.check("a reload by the reload plugin")
    runs = runs_in(server, 3)
    assert 1 <= runs <= 1 + 2, "%d CLI runs in 3 s with refresh 2s: the old refresher " \
        "(refresh 1s) still runs\n%s" % (runs, server.logs())
    assert server.ready()[0] == 200


def test_a_reload_that_changes_cli_options_keeps_serving_while_the_cli_fails(start_coredns):
    server = start_coredns(corefile=REFRESH_1S)
    server.cli.set_mode("no-daemon")
    server.cli.wait_for_runs(server.cli.run_count() + 2)
    server.reload(REFRESH_2S)
    assert query_a(server.port, "primary.vm.test") == (0, KNOWN["primary.vm.test"])
    assert server.ready()[0] == 200


# A second server block on a port that something else holds: the reload runs
# the plugin's setup and OnStartup for the new instance, then fails to
# listen, and caddy drops the new instance without its OnShutdown.
TAKEN_PORT_BLOCK = """\
example.org:TAKEN {{
    bind 127.0.0.1
    whoami
}}
"""
WITHOUT_MULTIPASS = """\
vm.test:{port} {{
    bind 127.0.0.1
    whoami
    ready 127.0.0.1:{ready_port}
}}
"""


def hold_port():
    """Binds a UDP and a TCP socket (listening) on one free loopback port,
    without SO_REUSEPORT, so that CoreDNS cannot listen there; returns
    (port, [sockets])."""
    for _ in range(20):
        port = free_port()
        held = []
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                sock = socket.socket(socket.AF_INET, kind)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            held[1].listen(1)
            return port, held
        except OSError:  # taken meanwhile by someone else: try another
            for sock in held:
                sock.close()
    raise RuntimeError("no port to hold")


def test_a_failed_reload_keeps_the_old_instance_and_leaks_no_source(start_coredns):
    server = start_coredns(corefile=REFRESH_1S)
    port, held = hold_port()
    try:
        server.reload(REFRESH_1S + TAKEN_PORT_BLOCK.replace("TAKEN", str(port)),
                      expect="[ERROR] SIGUSR1:")
    finally:
        for sock in held:
            sock.close()
    assert "address already in use" in server.logs(), server.logs()

    # The instance that keeps running answers and keeps refreshing.
    assert query_a(server.port, "primary.vm.test") == (0, KNOWN["primary.vm.test"])
    assert server.ready()[0] == 200
    runs = runs_in(server, 3)
    assert runs >= 2, "%d CLI runs in 3 s with refresh 1s after the failed reload\n%s" % (
        runs, server.logs())

    # A reload to a Corefile without the plugin stops every source: the one
    # the old instance held and the one the failed instance acquired.
    server.reload(WITHOUT_MULTIPASS)
    assert answered_by_whoami(server.dig("primary.vm.test")), server.logs()
    time.sleep(1)  # a run started just before the reload may still log its line
    runs = runs_in(server, 3)
    assert runs == 0, "%d CLI runs in 3 s after a reload to a Corefile without " \
        "multipass: the failed reload's instance still refreshes\n%s" % (runs, server.logs())


# Ten server blocks on one port, one zone each, sharing one source (one
# daemon). The first block holds `ready`.
TEN_BLOCKS = "".join("""\
b%d.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        timeout 60s
        ttl TTL
    }}
%s}}
""" % (i, "    ready 127.0.0.1:{ready_port}\n" if i == 0 else "") for i in range(10))


# Issue 25: the old instance's OnShutdown destroys each block's resolver,
# which waited for every question parked on it (up to the core's 2 s wait
# bound each) before the reload could go on. Now a block's shutdown wakes
# its parked questions at once: they are answered from the newest snapshot
# (SERVFAIL here: their look never ended), and the reload does not wait.
def test_a_reload_does_not_wait_for_hundreds_of_parked_questions(start_coredns):
    server = start_coredns(corefile=TEN_BLOCKS.replace("TTL", "10"))
    known = {"primary.b%d.test" % i: ["10.110.24.87"] for i in range(10)}
    # A question a millisecond: the parked ones must not be lost in a
    # socket that a load at full speed fills on a busy machine.
    load = Load(server.port, known=known, pause=0.001)
    load.start()
    try:
        time.sleep(1.1)  # past the demand rate limit of the first listing
        # Every listing from now on takes 30 s: the look the questions wait
        # for does not end while the test runs.
        server.cli.set_mode("slow:30")
        questions = [("nosuch-%03d.b%d.test" % (i, i % 10), 1) for i in range(300)]
        parked = {}
        sender = threading.Thread(target=lambda: parked.update(
            udp_questions(server.port, questions, timeout=10, wave=25)))
        sent = time.monotonic()
        sender.start()
        time.sleep(0.5)  # they have arrived (in waves, 0.25 s) and wait
        assert not parked, "questions answered before the reload: %r" % list(parked.items())[:5]
        server.reload(TEN_BLOCKS.replace("TTL", "20"))
        reloaded = time.monotonic() - sent
        sender.join(30)
        time.sleep(0.5)  # known names keep answering after it too
    finally:
        load.stop()
    print("reload of 10 blocks with 300 questions parked: complete %.2f s after they were "
          "sent; %d answered: %r" % (reloaded, len(parked), sorted(set(r for r, _ in parked.values()))))
    load.check("a reload with 300 questions parked")
    # A reload that waited for them would complete only once their wait
    # bound (2 s from their arrival) had run out.
    assert reloaded < 2.0, "the reload completed %.2f s after the questions were sent: it " \
        "waited for them" % reloaded
    rcodes = [rcode for rcode, _ in parked.values()]
    assert len(rcodes) == len(questions), "%d of %d parked questions unanswered" % (
        len(questions) - len(rcodes), len(questions))
    # Their look never ended: not NXDOMAIN (nothing says the names are
    # missing), but SERVFAIL, which a client asks again.
    assert set(rcodes) == {2}, "rcodes of the parked questions: %r" % sorted(set(rcodes))
