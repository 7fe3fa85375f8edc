"""How the plugin uses the CLI: how often it runs it, what it does when the CLI
fails or hangs, how fast changes show up. Runs are counted in the stand-in's
runs.log; each test starts its own CoreDNS."""

import math
import random
import time

from conftest import (DEFAULT_COREFILE, assert_resolves, edited_listing, eventually,
                      process_alive, running_vm, set_state)


def allowed_runs(elapsed, interval=1.0, slack=2):
    """Most CLI runs a refresher with this interval may start in `elapsed`
    seconds: one per interval, plus slack for the runs at the edges."""
    return math.floor(elapsed / interval) + slack


def test_queries_do_not_run_the_cli(start_coredns):
    server = start_coredns()
    names = ["primary", "k8s-node-01", "calm-squirrel", "dev-box"]
    questions = [("%s.vm.test" % n, t) for n in names for t in ("A", "AAAA")] * 50
    assert len(questions) == 400
    before, t0 = server.cli.run_count(), time.monotonic()
    replies = server.dig_batch(questions)
    elapsed, runs = time.monotonic() - t0, server.cli.run_count() - before
    assert sum(1 for r in replies if r.answer) == 100
    assert runs <= allowed_runs(elapsed), \
        "%d CLI runs for 400 queries in %.1f s with refresh 1s" % (runs, elapsed)


TWO_BLOCKS = DEFAULT_COREFILE + """
vm.internal:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        refresh 1s
    }}
}}
"""


def test_server_blocks_with_the_same_options_share_one_cli_run(start_coredns):
    server = start_coredns(corefile=TWO_BLOCKS)
    assert_resolves(server, "primary.vm.internal")
    before, t0 = server.cli.run_count(), time.monotonic()
    time.sleep(3.5)
    elapsed, runs = time.monotonic() - t0, server.cli.run_count() - before
    print("two blocks, refresh 1s: %d CLI runs in %.1f s" % (runs, elapsed))
    assert runs <= allowed_runs(elapsed), \
        "%d CLI runs in %.1f s for two blocks with refresh 1s" % (runs, elapsed)
    assert runs >= 1, "the refresher did not run at all"


TWO_DAEMONS = """\
vm.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        refresh 1s
        server_address 10.0.0.1:50051
    }}
    ready 127.0.0.1:{ready_port}
}}

vm.internal:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        refresh 1s
        server_address unix:/run/other/multipass_socket
    }}
}}
"""


def test_blocks_with_different_server_addresses_have_sources_of_their_own(start_coredns):
    server = start_coredns(corefile=TWO_DAEMONS)
    assert_resolves(server, "primary.vm.test")
    assert_resolves(server, "primary.vm.internal")
    before, t0 = len(server.cli.runs()), time.monotonic()
    time.sleep(2.5)
    elapsed, runs = time.monotonic() - t0, server.cli.runs()[before:]
    by_address = {}
    for run in runs:
        by_address[run["server_address"]] = by_address.get(run["server_address"], 0) + 1
    print("two server_address values, refresh 1s: %r in %.1f s" % (by_address, elapsed))
    # Each daemon is listed on its own, about once a second, with its own
    # address in the CLI's environment; never without one.
    assert set(by_address) == {"10.0.0.1:50051", "unix:/run/other/multipass_socket"}, \
        by_address
    for address, count in by_address.items():
        assert count <= allowed_runs(elapsed), \
            "%d CLI runs for %s in %.1f s with refresh 1s" % (count, address, elapsed)


ONE_MINUTE = DEFAULT_COREFILE.replace("refresh 1s", "refresh 60s")


def test_new_vm_answers_on_its_first_query(start_coredns):
    server = start_coredns(corefile=ONE_MINUTE)
    assert_resolves(server)
    server.cli.set_listing(edited_listing(
        "list-mixed.json", lambda vms: vms.insert(0, running_vm("fresh-vm", "10.110.24.99"))))
    t0 = time.monotonic()
    reply = server.dig("fresh-vm.vm.test", "A")
    elapsed = time.monotonic() - t0
    print("new VM, refresh 60s: first query answered in %.3f s" % elapsed)
    assert reply.status == "NOERROR", "%s\n%s" % (reply, server.logs())
    assert [r.rdata for r in reply.answer] == ["10.110.24.99"], reply
    # Liveness: the on-demand refresh starts within 1 s (its rate limit) and
    # a query waits at most 2 s for it; not a speed assertion.
    assert elapsed < 2.0, "the first query for a new VM took %.1f s" % elapsed


def test_changes_show_up_after_a_refresh(start_coredns):
    server = start_coredns()
    assert_resolves(server)
    serial = int(server.dig("vm.test", "SOA").answer[0].rdata.split()[2])
    server.cli.set_listing(edited_listing(
        "list-mixed.json", lambda vms: set_state(vms, "primary", "Stopped")))
    eventually(lambda: server.dig("primary.vm.test", "A").answer == [], 10,
               "primary stops answering once it is stopped")
    reply = server.dig("primary.vm.test", "A")
    assert reply.status == "NOERROR", reply
    new_serial = int(server.dig("vm.test", "SOA").answer[0].rdata.split()[2])
    # Grows (RFC 1982: within 2^31 ahead), as secondaries and caches expect.
    assert 0 < (new_serial - serial) % 2**32 < 2**31, \
        "the SOA serial did not grow with the inventory: %d -> %d" % (serial, new_serial)


def test_known_vms_keep_resolving_while_the_cli_fails(start_coredns):
    server = start_coredns()
    assert_resolves(server)
    for mode in ("no-daemon", "garbage", "truncated", "empty"):
        server.cli.set_mode(mode)
        # Two more runs: the first one surely ran in this mode and finished.
        server.cli.wait_for_runs(server.cli.run_count() + 2)
        assert_resolves(server)
        assert server.ready()[0] == 200, "not ready any more in mode " + mode


def test_cli_failure_is_logged_with_its_reason(start_coredns):
    server = start_coredns()
    server.cli.set_mode("no-daemon")
    server.cli.wait_for_runs(server.cli.run_count() + 2)
    eventually(lambda: "cannot connect to the multipass socket" in server.logs(), 10,
               "the CLI's error text in CoreDNS's log")
    line = next(l for l in server.logs().splitlines()
                if "cannot connect to the multipass socket" in l)
    assert "plugin/multipass" in line, line


TIMEOUT = DEFAULT_COREFILE.replace("refresh 1s", "refresh 1s\n        timeout 500ms")


def test_a_hung_cli_is_killed_with_its_children_and_dns_keeps_answering(start_coredns):
    server = start_coredns(corefile=TIMEOUT)
    assert_resolves(server)
    server.cli.set_mode("hang-child")
    child = eventually(server.cli.child_pid, 10, "a hung CLI with a child")
    assert_resolves(server)  # while the CLI hangs
    eventually(lambda: not process_alive(child), 10,
               "the hung CLI's child killed after the timeout")
    # The refresher is not wedged: once the CLI works again, changes load.
    server.cli.set_listing(edited_listing(
        "list-mixed.json", lambda vms: set_state(vms, "primary", "Stopped")))
    server.cli.set_mode("ok")
    eventually(lambda: server.dig("primary.vm.test", "A").answer == [], 10,
               "a change loaded after the CLI recovered")


def test_shutdown_while_the_cli_hangs(start_coredns):
    server = start_coredns(corefile=TIMEOUT.replace("timeout 500ms", "timeout 5m"),
                           mode="hang-child", wait_ready=False)
    eventually(server.cli.child_pid, 10, "a hung CLI with a child")
    # The fixture's teardown stops CoreDNS and fails unless it exits with 0
    # and no CLI process (the child included) is left.


SERVER_ADDRESS = DEFAULT_COREFILE.replace("refresh 1s", "refresh 1s\n        server_address 10.11.12.13:50051")


def test_server_address_reaches_the_cli(start_coredns):
    server = start_coredns(corefile=SERVER_ADDRESS)
    assert {r["server_address"] for r in server.cli.runs()} == {"10.11.12.13:50051"}
    assert {r["args"] for r in server.cli.runs()} == {"list --format=json"}


def test_a_burst_of_unknown_names_runs_the_cli_at_most_once_a_second(start_coredns):
    # A scanner or a typo loop must not turn into a fork storm: misses wait
    # for on-demand refreshes, and those start at most once per second.
    server = start_coredns(corefile=ONE_MINUTE)
    rng = random.Random()
    names = ["%s-%03d.vm.test" % ("".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                                          for _ in range(10)), i) for i in range(200)]
    before, t0 = server.cli.run_count(), time.monotonic()
    rcodes = server.udp_burst(names)
    elapsed, runs = time.monotonic() - t0, server.cli.run_count() - before
    print("burst of 200 unknown names: %d CLI runs, answered in %.2f s" % (runs, elapsed))
    assert len(rcodes) == len(names), "%d of %d queries unanswered\n%s" % (
        len(names) - len(rcodes), len(names), server.logs())
    assert set(rcodes.values()) == {3}, "not all NXDOMAIN: %r" % set(rcodes.values())
    # The queries arrive together: they share the on-demand refreshes, so a
    # couple of runs at most, and never more than one a second.
    assert runs <= min(3, allowed_runs(elapsed)), \
        "%d CLI runs for 200 unknown names in %.1f s" % (runs, elapsed)


def test_the_same_missing_name_asked_again_does_not_wait_again(start_coredns):
    # A resolver's search list or a retrying client asks for the same missing
    # name over and over: the first question waits for an on-demand refresh;
    # the plugin then remembers the name as missing for the negative TTL
    # (5 s), as the client's own negative cache would, so the repeats answer
    # NXDOMAIN at once and run no CLI.
    server = start_coredns(corefile=ONE_MINUTE)
    time.sleep(1)  # past the first refresh's rate-limit window
    before, t0 = server.cli.run_count(), time.monotonic()
    replies = server.dig_batch([("not-launched-yet.vm.test", "A")] * 10)
    elapsed, runs = time.monotonic() - t0, server.cli.run_count() - before
    print("10 queries for one missing name: %d CLI runs in %.2f s" % (runs, elapsed))
    assert [r.status for r in replies] == ["NXDOMAIN"] * 10, replies
    assert runs <= 2, "%d CLI runs for 10 queries of one missing name" % runs
    assert elapsed < 5.0, "10 queries for one missing name took %.1f s" % elapsed
    # (That the name resolves once the memory lapses is tested in
    # tests/resolver_test.cc; waiting 5 s for it here would slow the suite.)


def test_reload_keeps_answering_and_leaks_no_refresher(start_coredns):
    server = start_coredns()
    # Same options: the new instance shares the running source.
    server.reload(DEFAULT_COREFILE + "# reloaded\n")
    assert_resolves(server)
    assert server.ready()[0] == 200
    # New options: a new source; the old one (refresh 1s) must stop.
    server.reload(ONE_MINUTE)
    assert_resolves(server)
    time.sleep(1)  # let the new source's first refresh (at start) pass
    before = server.cli.run_count()
    time.sleep(3)
    runs = server.cli.run_count() - before
    assert runs == 0, "%d CLI runs in 3 s after reloading with refresh 60s: the " \
        "old refresher still runs\n%s" % (runs, server.logs())


def test_warnings_on_stderr_do_not_spoil_the_listing(start_coredns):
    # multipass 1.16 with the lxd driver warns on stderr on every run.
    server = start_coredns(mode="ok-warning")
    assert_resolves(server)
