"""Every option of the multipass block, as a user sees it through dig:
`addresses`, `networks`, `wildcard`, reverse zones (PTR), `fallthrough ZONES`,
the negative-caching TTL, and `timeout` of blocks sharing a daemon. The listing is list-mixed.json:

    primary        Running   10.110.24.87
    k8s-node-01    Running   10.110.24.141, 192.168.1.57, 172.17.0.1
    calm-squirrel  Stopped
    old-builder-2  Deleted

Most tests ask one CoreDNS (per module) whose server blocks each use other
options; the blocks share one CLI run per refresh."""

import pytest

from conftest import _finish, _starter, answered_by_whoami

# One zone per combination of options. {port}, {ready_port} and {binary} are
# filled in by the harness.
OPTION_BLOCKS = [
    ("first.test", ""),
    ("all.test", "addresses all"),
    ("net.test", "networks 192.168.0.0/16 172.16.0.0/12"),
    ("netall.test", "networks 192.168.0.0/16\nnetworks 172.16.0.0/12\naddresses all"),
    ("nowhere.test", "networks 192.0.2.0/24"),
    ("nowhereall.test", "networks 192.0.2.0/24\naddresses all"),
    ("wild.test", "wildcard"),
    ("ptr.test 24.110.10.in-addr.arpa", ""),
]


def options_corefile():
    blocks = []
    for i, (zones, options) in enumerate(OPTION_BLOCKS):
        lines = ["%s {{" % " ".join("%s:{port}" % z for z in zones.split()),
                 "    bind 127.0.0.1",
                 "    multipass {{",
                 "        binary {binary}"]
        lines += ["        " + o for o in options.splitlines()]
        lines += ["    }}"]
        lines += ["    ready 127.0.0.1:{ready_port}"] if i == 0 else []
        lines += ["}}", ""]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def options_server(coredns_binary, tmp_path_factory):
    started = []
    start = _starter(coredns_binary, lambda: tmp_path_factory.mktemp("options"), started)
    yield start(corefile=options_corefile())
    _finish(started)


def addresses(reply):
    return [r.rdata for r in reply.answer if r.type == "A"]


def assert_nodata(reply, zone):
    assert reply.status == "NOERROR" and reply.answer == [], reply
    assert [(r.owner, r.type) for r in reply.authority] == [(zone + ".", "SOA")], reply


def assert_nxdomain(reply, zone):
    assert reply.status == "NXDOMAIN" and reply.answer == [], reply
    assert "aa" in reply.flags, reply
    assert [(r.owner, r.type) for r in reply.authority] == [(zone + ".", "SOA")], reply


# --- addresses -------------------------------------------------------------


def test_addresses_first_answers_the_first_address(options_server):
    reply = options_server.dig("k8s-node-01.first.test")
    assert addresses(reply) == ["10.110.24.141"], reply


def test_addresses_all_answers_every_address_in_cli_order(options_server):
    reply = options_server.dig("k8s-node-01.all.test")
    assert reply.status == "NOERROR", reply
    # dig prints the records in the order of the message: the CLI's order.
    assert addresses(reply) == ["10.110.24.141", "192.168.1.57", "172.17.0.1"], reply
    assert {r.owner for r in reply.answer} == {"k8s-node-01.all.test."}, reply
    assert addresses(options_server.dig("primary.all.test")) == ["10.110.24.87"]


# --- networks --------------------------------------------------------------


def test_networks_pick_the_first_address_inside(options_server):
    reply = options_server.dig("k8s-node-01.net.test")
    assert addresses(reply) == ["192.168.1.57"], reply


def test_networks_with_addresses_all_keep_every_address_inside(options_server):
    reply = options_server.dig("k8s-node-01.netall.test")
    assert addresses(reply) == ["192.168.1.57", "172.17.0.1"], reply


@pytest.mark.parametrize("zone", ["net.test", "netall.test", "nowhere.test",
                                  "nowhereall.test"])
def test_networks_with_no_address_inside_give_nodata(options_server, zone):
    # primary's only address is outside every network of these blocks.
    assert_nodata(options_server.dig("primary." + zone), zone)


def test_networks_with_nothing_inside_for_any_vm_give_nodata(options_server):
    assert_nodata(options_server.dig("k8s-node-01.nowhere.test"), "nowhere.test")
    assert_nodata(options_server.dig("k8s-node-01.nowhereall.test"), "nowhereall.test")


# --- wildcard --------------------------------------------------------------


@pytest.mark.parametrize("name", ["anything.primary", "a.b.c.primary", "X.PrImArY"])
def test_wildcard_answers_names_below_a_vm_like_the_vm(options_server, name):
    reply = options_server.dig(name + ".wild.test")
    assert reply.status == "NOERROR", reply
    assert [(r.owner, r.rdata) for r in reply.answer] == [
        (name + ".wild.test.", "10.110.24.87")], reply


def test_wildcard_keeps_the_rest_of_the_table(options_server):
    assert_nodata(options_server.dig("anything.primary.wild.test", "AAAA"), "wild.test")
    assert_nodata(options_server.dig("anything.calm-squirrel.wild.test"), "wild.test")
    assert_nxdomain(options_server.dig("anything.no-such-vm.wild.test"), "wild.test")
    assert_nxdomain(options_server.dig("anything.old-builder-2.wild.test"), "wild.test")


def test_without_wildcard_names_below_a_vm_are_nxdomain(options_server):
    assert_nxdomain(options_server.dig("anything.primary.first.test"), "first.test")


# --- reverse zones (PTR) ---------------------------------------------------


def ptr_targets(reply):
    return [r.rdata for r in reply.answer if r.type == "PTR"]


def test_ptr_names_the_vm_in_the_first_forward_zone(options_server):
    reply = options_server.dig("87.24.110.10.in-addr.arpa", "PTR")
    assert reply.status == "NOERROR" and "aa" in reply.flags, reply
    assert ptr_targets(reply) == ["primary.ptr.test."], reply
    reply = options_server.dig("141.24.110.10.in-addr.arpa", "PTR")
    assert ptr_targets(reply) == ["k8s-node-01.ptr.test."], reply
    # The forward name the PTR gives resolves back to the address.
    assert addresses(options_server.dig("primary.ptr.test")) == ["10.110.24.87"]


def test_ptr_for_an_unknown_address_is_nxdomain_with_the_reverse_soa(options_server):
    assert_nxdomain(options_server.dig("1.24.110.10.in-addr.arpa", "PTR"),
                    "24.110.10.in-addr.arpa")


def test_ptr_zone_apex_has_soa_and_ns(options_server):
    reply = options_server.dig("24.110.10.in-addr.arpa", "SOA")
    assert [(r.owner, r.type) for r in reply.answer] == [
        ("24.110.10.in-addr.arpa.", "SOA")], reply
    reply = options_server.dig("24.110.10.in-addr.arpa", "NS")
    # The block's forward zone's nameserver serves the reverse zone too.
    assert [r.rdata for r in reply.answer] == ["ns1.ptr.test."], reply


REVERSE_WITH_NETWORKS = """\
.:{port} {{
    bind 127.0.0.1
    multipass vm.test 10.in-addr.arpa {{
        binary {binary}
        networks 10.110.24.128/25
    }}
    ready 127.0.0.1:{ready_port}
}}
"""


def test_ptr_in_a_wider_reverse_zone_and_only_inside_networks(start_coredns):
    server = start_coredns(corefile=REVERSE_WITH_NETWORKS)
    # k8s-node-01's 10.110.24.141 is inside 10.110.24.128/25.
    reply = server.dig("141.24.110.10.in-addr.arpa", "PTR")
    assert ptr_targets(reply) == ["k8s-node-01.vm.test."], reply
    # primary's 10.110.24.87 is outside: no PTR, and no A either.
    assert_nxdomain(server.dig("87.24.110.10.in-addr.arpa", "PTR"), "10.in-addr.arpa")
    assert_nodata(server.dig("primary.vm.test"), "vm.test")
    # Unknown addresses get the reverse zone's SOA.
    assert_nxdomain(server.dig("9.9.9.10.in-addr.arpa", "PTR"), "10.in-addr.arpa")


# --- fallthrough ZONES -----------------------------------------------------

FALLTHROUGH_OTHER_ZONE = """\
.:{port} {{
    bind 127.0.0.1
    multipass vm.test other.test {{
        binary {binary}
        fallthrough other.test
    }}
    whoami
    ready 127.0.0.1:{ready_port}
}}
"""


def test_fallthrough_for_other_zones_keeps_nxdomain_in_this_one(start_coredns):
    server = start_coredns(corefile=FALLTHROUGH_OTHER_ZONE)
    # vm.test is not listed after fallthrough: its unknown names stay here.
    assert_nxdomain(server.dig("no-such-vm.vm.test"), "vm.test")
    assert_nxdomain(server.dig("x.primary.vm.test"), "vm.test")
    # other.test is: its unknown names go to whoami, its VMs still answer.
    reply = server.dig("no-such-vm.other.test")
    assert answered_by_whoami(reply), reply
    assert addresses(server.dig("primary.other.test")) == ["10.110.24.87"]
    assert addresses(server.dig("primary.vm.test")) == ["10.110.24.87"]


# --- negative caching ------------------------------------------------------


@pytest.mark.parametrize("name,rrtype,status", [
    ("no-such-vm.first.test", "A", "NXDOMAIN"),
    ("old-builder-2.first.test", "A", "NXDOMAIN"),
    ("primary.first.test", "AAAA", "NOERROR"),
    ("calm-squirrel.first.test", "A", "NOERROR"),
    ("first.test", "TXT", "NOERROR"),
], ids=["unknown", "deleted", "aaaa", "stopped", "apex"])
def test_negative_answers_are_cacheable_for_at_most_5_seconds(options_server, name,
                                                              rrtype, status):
    # A client caches NXDOMAIN and NODATA for min(SOA TTL, SOA minimum)
    # (RFC 2308): both stay short, so a VM asked for just before `multipass
    # launch` resolves within seconds after it.
    reply = options_server.dig(name, rrtype)
    assert reply.status == status and reply.answer == [], reply
    soas = reply.records("authority", "SOA")
    assert len(soas) == 1, reply
    minimum = int(soas[0].rdata.split()[6])
    assert 0 < soas[0].ttl <= 5 and 0 < minimum <= 5, reply


# --- timeout ---------------------------------------------------------------

# Two blocks on one daemon (one CLI run per listing for both): the first
# allows a slow daemon 3 s, the second keeps 1 s.
SHARED_TIMEOUT = """\
slow.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        probe off
        refresh 1s
        timeout 3s
    }}
    ready 127.0.0.1:{ready_port}
}}
fast.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        probe off
        refresh 1s
        timeout 1s
    }}
}}
"""


def test_blocks_sharing_a_daemon_give_it_the_longest_timeout(start_coredns):
    # Every listing takes 1.5 s: the longest timeout lets each finish. (The
    # shortest let the first run, started before the second block came, and
    # killed every later one.)
    server = start_coredns(corefile=SHARED_TIMEOUT, mode="slow:1.5")
    server.cli.wait_for_runs(3, timeout=20)  # the second run ended before the third began
    assert "timed out" not in server.logs(), server.logs()
    assert addresses(server.dig("primary.fast.test")) == ["10.110.24.87"]
    assert addresses(server.dig("primary.slow.test")) == ["10.110.24.87"]
