"""The two kinds of listing (issue 9): the cheap listing (`list --format=json
--no-ipv4`, names and states, every `probe`) looks for changes; the full
listing (addresses, one guest session per running VM) runs only when the
cheap one saw a change, for a miss on a name the cheap one shows, and every
`refresh`. Runs and their kind are read from the stand-in's runs.log; each
test starts its own CoreDNS. Time bounds are liveness bounds with slack
(the machine is shared), never speed assertions."""

import math
import random
import time
import urllib.request

import pytest

from conftest import (assert_resolves, dig, edited_listing, eventually, free_port,
                      is_stand_in, listing_with_primary_at, plugin_corefile, plugin_lines,
                      process_alive, running_vm, set_state)
from test_ecosystem import parse_metrics, values


DEFAULTS = plugin_corefile()
FAST_PROBE = plugin_corefile("probe 1s")

NEW_VM, NEW_ADDRESS = "fresh-vm", "10.110.24.99"


def with_new_vm(vms):
    vms.insert(0, running_vm(NEW_VM, NEW_ADDRESS))


def kinds_since(server, mark):
    """The kinds ("probe"/"full") of the CLI runs after the first `mark`."""
    return [r["kind"] for r in server.cli.runs()[mark:]]


def serial(server):
    """The zone's SOA serial: asking the apex is no miss and starts no listing."""
    return int(server.dig("vm.test", "SOA").answer[0].rdata.split()[2])


def soa_timers(reply):
    """(SOA TTL, SOA minimum) of a negative reply's authority section."""
    soas = reply.records("authority", "SOA")
    assert len(soas) == 1, reply
    return soas[0].ttl, int(soas[0].rdata.split()[6])


# --------------------------------------------------------------------------
# idle, changes, misses


@pytest.mark.slow
def test_idle_with_defaults_runs_cheap_listings_and_almost_no_full_ones(start_coredns):
    server = start_coredns(corefile=DEFAULTS)
    t0 = time.monotonic()
    time.sleep(16)  # three probe intervals
    elapsed = time.monotonic() - t0
    cheap, full = server.cli.run_count("probe"), server.cli.run_count("full")
    print("idle %.0f s with defaults: %d cheap listings, %d full listings, %d guest "
          "sessions" % (elapsed, cheap, full, server.cli.guest_sessions()))
    # A cheap listing every 5 s (~3), the first load the only full listing
    # (refresh 10m): no question, no change, so nothing else.
    assert math.floor(elapsed / 5) - 1 <= cheap <= math.ceil(elapsed / 5) + 2, server.cli.runs()
    assert 1 <= full <= 2, server.cli.runs()
    assert server.cli.run_count() == cheap + full, server.cli.runs()


CHANGES = {  # what changes, and what primary.vm.test / fresh-vm.vm.test answers then
    "launch": (with_new_vm, NEW_VM, "NOERROR", [NEW_ADDRESS]),
    "stop": (lambda vms: set_state(vms, "primary", "Stopped"), "primary", "NOERROR", []),
    "delete": (lambda vms: set_state(vms, "primary", "Deleted"), "primary", "NXDOMAIN", []),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_is_seen_without_any_question(start_coredns, change):
    edit, name, status, addresses = CHANGES[change]
    server = start_coredns(corefile=FAST_PROBE)
    time.sleep(1.5)  # a cheap listing or two of the unchanged fleet
    before, mark = serial(server), server.cli.run_count()
    server.cli.set_listing(edited_listing("list-mixed.json", edit))
    t0 = time.monotonic()
    # Only the apex is asked (no miss, no known non-running name): the
    # change must come from the cheap listing alone, within probe (1 s) and
    # one listing of each kind; 5 s leaves room for a busy machine.
    eventually(lambda: serial(server) != before, 5, "the %s seen in the SOA serial" % change)
    print("%s seen after %.2f s with probe 1s" % (change, time.monotonic() - t0))
    # The cheap listing that saw it is served at once (the serial grows
    # then), and brings a full listing (the addresses).
    kinds = eventually(lambda: (lambda k: "probe" in k and "full" in k[k.index("probe"):] and k)(
        kinds_since(server, mark)), 5, "a full listing after the cheap one that saw the change")
    assert kinds[0] == "probe", "the change was not found by a cheap listing: %r" % kinds
    reply = server.dig(name + ".vm.test")
    assert reply.status == status and [r.rdata for r in reply.answer] == addresses, reply


# Issue 25: the cheap listing that shows a VM leave Running is served at
# once, before the full listing it brings (here one that takes a minute: a
# guest session into the VM still running). A deleted VM is NXDOMAIN, a
# stopped one serves no address (its address question waits for a look:
# it may be starting), and the VM counts show both.
def test_a_vm_that_leaves_running_stops_being_served_before_any_full_listing(start_coredns):
    metrics_port = free_port()
    server = start_coredns(corefile=plugin_corefile("probe 1s\ntimeout 2m").replace(
        "    ready", "    prometheus 127.0.0.1:%d\n    ready" % metrics_port))
    assert_resolves(server)
    server.cli.set_guest_delay_ms(60e3)

    def samples():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port,
                                    timeout=5) as r:
            return parse_metrics(r.read().decode())
    loaded = values(samples(), "coredns_multipass_refreshes_total", kind="full",
                    result="success")
    server.cli.set_listing(edited_listing("list-mixed.json", lambda vms: (
        set_state(vms, "primary", "Stopped"), set_state(vms, "k8s-node-01", "Deleted"),
        vms.append(running_vm("keeper", NEW_ADDRESS)))))
    t0 = time.monotonic()
    eventually(lambda: server.dig("k8s-node-01.vm.test").status == "NXDOMAIN", 5,
               "the deleted VM NXDOMAIN")
    print("deleted VM NXDOMAIN %.2f s after the change, with probe 1s" % (
        time.monotonic() - t0))
    now = samples()
    assert values(now, "coredns_multipass_instances", state="stopped") == [2.0], now
    assert values(now, "coredns_multipass_instances", state="deleted") == [2.0], now
    reply = server.dig("primary.vm.test")
    assert reply.answer == [] and reply.status != "NXDOMAIN", reply
    # No full listing has ended since: the one the change brought still runs.
    assert "full" in kinds_since(server, 0)[-2:], server.cli.runs()
    assert values(samples(), "coredns_multipass_refreshes_total", kind="full",
                  result="success") == loaded


def test_a_burst_of_unknown_names_runs_no_full_listing(start_coredns):
    server = start_coredns(corefile=DEFAULTS)
    time.sleep(1.1)  # past the demand rate limit of the first listing
    rng = random.Random()
    names = ["%s-%03d.vm.test" % ("".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                                          for _ in range(10)), i) for i in range(200)]
    full, mark, t0 = server.cli.run_count("full"), server.cli.run_count(), time.monotonic()
    rcodes = server.udp_burst(names)
    elapsed = time.monotonic() - t0
    kinds = kinds_since(server, mark)
    print("burst of 200 unknown names: runs %r in %.2f s" % (kinds, elapsed))
    assert len(rcodes) == len(names), "%d of %d queries unanswered\n%s" % (
        len(names) - len(rcodes), len(names), server.logs())
    assert set(rcodes.values()) == {3}, "not all NXDOMAIN: %r" % set(rcodes.values())
    # The misses share rate-limited cheap listings (at least one, at most
    # one a second); no name is an instance, so no full listing runs (the
    # periodic one is 10 minutes away).
    assert server.cli.run_count("full") == full, kinds
    assert 1 <= kinds.count("probe") <= math.floor(elapsed) + 2, kinds


def test_the_first_question_for_a_just_launched_vm_answers(start_coredns):
    server = start_coredns(corefile=DEFAULTS)
    mark = server.cli.run_count()
    server.cli.set_listing(edited_listing("list-mixed.json", with_new_vm))
    t0 = time.monotonic()
    reply = server.dig(NEW_VM + ".vm.test", "A")
    print("just launched, defaults: first answer after %.2f s, runs %r" % (
        time.monotonic() - t0, kinds_since(server, mark)))
    assert reply.status == "NOERROR" and [r.rdata for r in reply.answer] == [NEW_ADDRESS], \
        "%s\n%s" % (reply, server.logs())
    # The miss ran a cheap listing, which showed the name, then a full one.
    assert kinds_since(server, mark)[:2] == ["probe", "full"], server.cli.runs()


# --------------------------------------------------------------------------
# known non-running names


RARE_LISTINGS = plugin_corefile("probe 1h\nrefresh 2h")


# A Stopped VM's A question waits for the look (it may be starting:
# test_lifecycle.py); its other questions answer at once, and nudge.
@pytest.mark.parametrize("name,qtype,status", [("old-builder-2", "A", "NXDOMAIN"),
                                               ("calm-squirrel", "AAAA", "NOERROR")],
                         ids=["deleted", "stopped"])
def test_a_known_non_running_name_answers_without_waiting_for_a_listing(start_coredns,
                                                                        name, qtype, status):
    # No periodic listing for an hour; every cheap listing from now on takes
    # 30 s, so an answer that waited for one would come after it finished.
    server = start_coredns(corefile=RARE_LISTINGS)
    server.cli.set_mode("slow:30")
    time.sleep(1.1)  # past the demand rate limit of the first listing
    mark, t0 = server.cli.run_count(), time.monotonic()
    reply = server.dig(name + ".vm.test", qtype)
    elapsed = time.monotonic() - t0
    new = server.cli.runs()[mark:]
    in_flight = [r for r in new if process_alive(r["pid"]) and is_stand_in(r["pid"])]
    print("%s: %s after %.3f s, runs started meanwhile %r" % (
        name, reply.status, elapsed, [r["kind"] for r in new]))
    assert reply.status == status and reply.answer == [], reply
    # The question nudges one cheap listing in the background. Either it
    # had started and was still running when the answer arrived, or it
    # started after the answer: the answer waited for no listing.
    assert [r["kind"] for r in new] in ([], ["probe"]), new
    assert in_flight == new, "the answer came after its listing ended: %r" % new
    eventually(lambda: kinds_since(server, mark) == ["probe"], 5,
               "one cheap listing nudged by the question")
    # Liveness: a miss that waited for the listing would sit out the 2 s
    # miss wait; a known name is answered from the inventory.
    assert elapsed < 2.0, "%s took %.1f s" % (name, elapsed)


# --------------------------------------------------------------------------
# options and old CLIs


@pytest.mark.slow
def test_an_old_cli_gets_full_listings_every_probe_interval_but_at_most_every_5_s(
        start_coredns):
    metrics_port = free_port()
    server = start_coredns(corefile=FAST_PROBE.replace(
        "    ready", "    prometheus 127.0.0.1:%d\n    ready" % metrics_port))
    server.cli.set_old_cli()
    eventually(lambda: [l for l in plugin_lines(server, "INFO") if "--no-ipv4" in l], 10,
               "an INFO line naming --no-ipv4")
    mark, t0 = server.cli.run_count(), time.monotonic()
    time.sleep(12)  # two floors of 5 s and slack, twelve probe intervals
    elapsed = time.monotonic() - t0
    kinds = kinds_since(server, mark)
    print("old CLI, probe 1s: %r in %.1f s" % (kinds, elapsed))
    # Full listings at the probe interval floored at 5 s (~2 in 12 s, not
    # 12), none at refresh only; the flag is not asked for again.
    assert "probe" not in kinds, kinds
    assert 2 <= kinds.count("full") <= math.floor(elapsed / 5) + 1, kinds
    # Issue 25: a state, not a failure: one INFO line saying full listings
    # are used instead, no warning or error, no failure counted, no failing
    # gauge (an alert on either would page for ever).
    lines = [l for l in plugin_lines(server, "INFO") if "--no-ipv4" in l]
    assert len(lines) == 1 and "full listings instead" in lines[0], "\n".join(lines)
    assert plugin_lines(server, "WARNING") == [] and plugin_lines(server, "ERROR") == [], \
        server.logs()
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=5) as r:
        samples = parse_metrics(r.read().decode())
    assert values(samples, "coredns_multipass_refreshes_total", kind="probe",
                  result="failure") == [0.0], samples
    assert values(samples, "coredns_multipass_failing_seconds", kind="probe") == [0.0]
    assert values(samples, "coredns_multipass_refreshes_total", kind="full",
                  result="success")[0] >= 3
    assert_resolves(server)
    assert server.dig("no-such-vm.vm.test").status == "NXDOMAIN"
    # A launch still shows up (at the next full listing, or the miss).
    server.cli.set_listing(edited_listing("list-mixed.json", with_new_vm))
    eventually(lambda: server.dig(NEW_VM + ".vm.test").answer, 10,
               "a launched VM resolves with an old CLI")


def test_address_drift_is_picked_up_within_refresh(start_coredns):
    # Same names and states, a new address (a DHCP renewal): the cheap
    # listings see no change, the full listing every refresh does.
    server = start_coredns(corefile=plugin_corefile("probe 1s\nrefresh 3s"))
    assert_resolves(server)
    new = "10.110.24.200"
    server.cli.set_listing(listing_with_primary_at(new))
    t0 = time.monotonic()
    # refresh (3 s) plus one listing; the rest is slack for a busy machine.
    eventually(lambda: [r.rdata for r in server.dig("primary.vm.test").answer] == [new], 7,
               "primary's new address")
    print("address drift seen after %.2f s with refresh 3s" % (time.monotonic() - t0))


def test_probe_off_runs_only_full_listings(start_coredns):
    server = start_coredns(corefile=plugin_corefile("probe off\nrefresh 1s"))
    time.sleep(3)
    # Misses and known non-running names look again with full listings too.
    assert server.dig("no-such-vm.vm.test").status == "NXDOMAIN"
    assert server.dig("old-builder-2.vm.test").status == "NXDOMAIN"
    time.sleep(1)
    kinds = [r["kind"] for r in server.cli.runs()]
    print("probe off, refresh 1s: %r" % kinds)
    assert set(kinds) == {"full"} and len(kinds) >= 3, kinds


def test_a_failing_cheap_listing_serves_stale_with_one_error(start_coredns):
    server = start_coredns(corefile=FAST_PROBE)
    assert_resolves(server)
    mark = server.cli.run_count()
    server.cli.set_mode("no-daemon")
    eventually(lambda: server.cli.run_count() >= mark + 4, 15, "4 cheap listings failing")
    kinds = kinds_since(server, mark)
    assert set(kinds) == {"probe"}, kinds
    assert_resolves(server)
    assert server.ready()[0] == 200
    errors = plugin_lines(server, "ERROR")
    assert len(errors) == 1 and "cannot connect to the multipass socket" in errors[0], \
        server.logs()
    # Recovery: a full listing, logged once at INFO, loads what changed.
    server.cli.set_listing(listing_with_primary_at("10.110.24.200"))
    server.cli.set_mode("ok")
    eventually(lambda: [r.rdata for r in server.dig("primary.vm.test").answer]
               == ["10.110.24.200"], 10, "the fleet listed again after the recovery")
    assert len([l for l in plugin_lines(server, "INFO") if "works again" in l]) == 1, \
        server.logs()
    assert len(plugin_lines(server, "ERROR")) == 1, server.logs()


# --------------------------------------------------------------------------
# a caching resolver in front (conftest's `unbound` fixture)


def test_a_vm_asked_for_before_its_launch_resolves_through_unbound_within_the_negative_ttl(
        start_coredns, unbound):
    server = start_coredns(corefile=DEFAULTS)
    front = unbound(server.port)
    name = "late-vm.vm.test"
    first = dig(front, name)
    asked = time.monotonic()
    assert first.status == "NXDOMAIN", first
    ttl, minimum = soa_timers(first)
    assert ttl <= 5 and minimum <= 5, first
    # CoreDNS remembers the miss; asked again at +3 s it says how long it
    # still remembers it (a countdown), not a fresh 5 s that a cache in
    # front would hold again.
    time.sleep(max(0.0, asked + 3 - time.monotonic()))
    again = server.dig(name)
    assert again.status == "NXDOMAIN", again
    ttl, minimum = soa_timers(again)
    print("remembered miss %.1f s after the first question: SOA TTL %d, minimum %d" % (
        time.monotonic() - asked, ttl, minimum))
    assert 1 <= ttl <= 2 and 1 <= minimum <= 2, again
    # The launch.
    server.cli.set_listing(edited_listing(
        "list-mixed.json", lambda vms: vms.insert(0, running_vm("late-vm", NEW_ADDRESS))))
    launched = time.monotonic()
    # Through the cache: within the negative TTL (5 s) + 1 s of the launch.
    eventually(lambda: [r.rdata for r in dig(front, name).answer] == [NEW_ADDRESS], 6,
               "%s through Unbound" % name)
    print("through Unbound: resolves %.2f s after the launch" % (time.monotonic() - launched))
