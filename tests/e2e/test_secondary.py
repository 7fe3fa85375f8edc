"""A real secondary: Debian's BIND 9 (`named`, installed by
scripts/install-deps.sh with its service kept from starting) runs on the
loopback as a secondary of the plugin's zones, with its own port, config and
folder (issue 27). It loads the zones; a launch, a stop and a delete reach
it through NOTIFY (its own refresh is 5 minutes: nothing else would bring
them within the bounds below); a restart and a reload of CoreDNS do not
make it miss the next change; with TSIG required it still loads the zone
with its key and an unsigned transfer is refused. The bounds are generous
liveness bounds: the test prints how long each change took."""

import base64
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (FIXTURES, STOP_TIMEOUT, dig, eventually, free_port,
                      listing_with_primary_at, running_vm, set_state, edited_listing)

NAMED = shutil.which("named") or "/usr/sbin/named"
# What a change may take to reach the secondary: a probe (1 s) and a full
# listing, the NOTIFY, BIND's SOA query and transfer; a bound for liveness
# only, far below the 300 s a secondary without NOTIFY would take.
CHANGE_BOUND = 20
KEY_NAME = "xfr.vm.test."
KEY = base64.b64encode(b"a secret of the test, 32 octets!").decode()

PRIMARY = """\
vm.test:{port} 24.110.10.in-addr.arpa:{port} {{
    bind 127.0.0.1
%(tsig)s    multipass {{
        binary {binary}
        probe 1s
        refresh 10s
        state %(state)s
    }}
    transfer {{
        to 127.0.0.1:%(secondary)d
    }}
    ready 127.0.0.1:{ready_port}
}}
"""

TSIG = """\
    tsig {{
        secret %s %s
        require AXFR IXFR
    }}
""" % (KEY_NAME, KEY)


class Named:
    """BIND 9 as a secondary of vm.test and 24.110.10.in-addr.arpa on
    127.0.0.1, port `port`, pulling from CoreDNS at primary_port."""

    def __init__(self, directory, port, primary_port, key=False):
        self.dir, self.port = directory, port
        self.dir.mkdir(parents=True, exist_ok=True)
        via = " key %s" % KEY_NAME if key else ""
        keys = 'key "%s" { algorithm hmac-sha256; secret "%s"; };\n' % (KEY_NAME, KEY) if key else ""
        zones = "".join(
            'zone "%s" { type secondary; primaries port %d { 127.0.0.1%s; }; file "%s.db"; };\n'
            % (zone, primary_port, via, zone) for zone in ("vm.test", "24.110.10.in-addr.arpa"))
        (self.dir / "named.conf").write_text("""\
options {
    directory "%(dir)s";
    pid-file "%(dir)s/named.pid";
    session-keyfile "%(dir)s/session.key";
    listen-on port %(port)d { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
};
controls { };
%(keys)s%(zones)s""" % {"dir": self.dir, "port": port, "keys": keys, "zones": zones})
        self.log = open(self.dir / "named.log", "wb")
        self.proc = subprocess.Popen([NAMED, "-g", "-c", str(self.dir / "named.conf")],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def logs(self):
        return (self.dir / "named.log").read_text(errors="replace")

    def dig(self, name, rrtype="A"):
        assert self.proc.poll() is None, "named exited:\n" + self.logs()
        return dig(self.port, name, rrtype)

    def answers(self, name, rrtype, rdata, timeout=CHANGE_BOUND):
        """Waits until the secondary answers name/rrtype with exactly rdata
        (None: NXDOMAIN); returns the seconds it took."""
        began = time.monotonic()

        def check():
            try:
                reply = self.dig(name, rrtype)
            except AssertionError:  # no reply yet: named is still starting
                assert self.proc.poll() is None, "named exited:\n" + self.logs()
                return False
            if rdata is None:
                return reply.status == "NXDOMAIN"
            return reply.status == "NOERROR" and [r.rdata for r in reply.answer] == [rdata]
        eventually(check, timeout, "the secondary answers %s %s with %s" % (name, rrtype, rdata))
        took = time.monotonic() - began
        print("secondary: %s %s -> %s after %.2f s" % (name, rrtype, rdata, took))
        return took

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def named(tmp_path):
    if not shutil.which(NAMED) and not shutil.os.path.exists(NAMED):
        pytest.fail("named is missing: install it with scripts/install-deps.sh (Debian: bind9)",
                    pytrace=False)
    started = []

    def start(primary_port, port, key=False):
        started.append(Named(tmp_path / ("named-%d" % len(started)), port, primary_port, key))
        return started[-1]
    yield start
    for n in started:
        print(n.logs())
        n.stop()


def primary_corefile(state, secondary, tsig=False):
    return PRIMARY % {"state": state, "secondary": secondary, "tsig": TSIG if tsig else ""}


def test_launch_stop_and_delete_reach_the_secondary_through_notify(start_coredns, named, tmp_path):
    secondary_port = free_port()
    server = start_coredns(corefile=primary_corefile(tmp_path, secondary_port),
                           listing="list-mixed.json")
    secondary = named(server.port, secondary_port)
    secondary.answers("primary.vm.test", "A", "10.110.24.87")
    secondary.answers("87.24.110.10.in-addr.arpa", "PTR", "primary.vm.test.")
    # launch
    server.cli.set_listing(listing_with_primary_at("10.110.24.87", [running_vm("fresh", "10.110.24.9")]))
    secondary.answers("fresh.vm.test", "A", "10.110.24.9")
    secondary.answers("9.24.110.10.in-addr.arpa", "PTR", "fresh.vm.test.")
    # stop
    server.cli.set_listing(edited_listing("list-mixed.json", lambda vms: (
        vms.append(running_vm("fresh", "10.110.24.9")), set_state(vms, "fresh", "Stopped"))))
    secondary.answers("fresh.vm.test", "A", None)
    # delete
    server.cli.set_listing(edited_listing("list-mixed.json", lambda vms: set_state(vms, "primary", "Deleted")))
    secondary.answers("primary.vm.test", "A", None)
    secondary.answers("87.24.110.10.in-addr.arpa", "PTR", None)
    # The secondary's SOA is the primary's.
    assert secondary.dig("vm.test", "SOA").answer[0].rdata == server.dig("vm.test", "SOA").answer[0].rdata


def test_a_restart_and_a_reload_do_not_make_the_secondary_miss_the_next_change(
        start_coredns, named, tmp_path):
    secondary_port = free_port()
    corefile = primary_corefile(tmp_path, secondary_port)
    server = start_coredns(corefile=corefile, listing="list-mixed.json")
    secondary = named(server.port, secondary_port)
    secondary.answers("primary.vm.test", "A", "10.110.24.87")
    serial = server.dig("vm.test", "SOA").answer[0].rdata.split()[2]
    # A restart with the same VMs: the same serial (the state folder).
    server.restart()
    assert server.dig("vm.test", "SOA").answer[0].rdata.split()[2] == serial
    # Changes the cheap listing sees (a launch): an address that changes
    # with no change of state waits for the full listing every `refresh`.
    launched = [running_vm("one", "10.110.24.11")]
    server.cli.set_listing(listing_with_primary_at("10.110.24.87", launched))
    secondary.answers("one.vm.test", "A", "10.110.24.11")
    # A reload (SIGUSR1), then a change.
    server.reload(corefile.replace("refresh 10s", "refresh 20s"))
    launched.append(running_vm("two", "10.110.24.12"))
    server.cli.set_listing(listing_with_primary_at("10.110.24.87", launched))
    secondary.answers("two.vm.test", "A", "10.110.24.12")
    # A change while CoreDNS is down reaches it once CoreDNS is back.
    server.check_clean_exit()
    launched.append(running_vm("three", "10.110.24.13"))
    server.cli.set_listing(listing_with_primary_at("10.110.24.87", launched))
    server._start()
    server.wait_listening()
    secondary.answers("three.vm.test", "A", "10.110.24.13")
    assert int(server.dig("vm.test", "SOA").answer[0].rdata.split()[2]) > int(serial)


def test_with_tsig_required_the_secondary_transfers_with_its_key(start_coredns, named, tmp_path):
    secondary_port = free_port()
    server = start_coredns(corefile=primary_corefile(tmp_path, secondary_port, tsig=True),
                           listing="list-mixed.json")
    secondary = named(server.port, secondary_port, key=True)
    secondary.answers("primary.vm.test", "A", "10.110.24.87")
    server.cli.set_listing(listing_with_primary_at("10.110.24.87", [running_vm("fresh", "10.110.24.9")]))
    secondary.answers("fresh.vm.test", "A", "10.110.24.9")
    # Without the key: refused.
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(server.port), "+nocmd", "+nostats",
                          "vm.test", "AXFR"], capture_output=True, text=True, timeout=60)
    assert "Transfer failed" in out.stdout, out.stdout


def test_a_secondary_without_the_key_never_loads_the_zone(start_coredns, named, tmp_path):
    secondary_port = free_port()
    server = start_coredns(corefile=primary_corefile(tmp_path, secondary_port, tsig=True),
                           listing="list-mixed.json")
    secondary = named(server.port, secondary_port, key=False)
    eventually(lambda: "REFUSED" in secondary.logs() or "failed" in secondary.logs(), CHANGE_BOUND,
               "named says its transfer failed")
    assert secondary.dig("primary.vm.test").status == "SERVFAIL"
