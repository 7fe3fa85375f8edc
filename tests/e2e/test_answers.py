"""What a user's resolver gets back for names in the zone (README.md, "What
it answers"), from one CoreDNS serving vm.test from list-mixed.json:

    primary        Running   10.110.24.87
    k8s-node-01    Running   10.110.24.141, 192.168.1.57, 172.17.0.1
    calm-squirrel  Stopped
    dev-box        Suspended
    web-2          Starting
    old-builder-2  Deleted
"""

import pytest


def assert_soa_of_zone(reply, section="authority"):
    soas = reply.records(section, "SOA")
    assert len(soas) == 1, reply
    assert soas[0].owner == "vm.test.", reply
    mname, rname = soas[0].rdata.split()[:2]
    assert (mname, rname) == ("ns1.vm.test.", "hostmaster.vm.test."), reply


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_running_vm_answers_its_address(mixed_server, tcp):
    reply = mixed_server.dig("primary.vm.test", "A", tcp=tcp)
    assert reply.status == "NOERROR", reply
    assert "aa" in reply.flags, reply
    assert [(r.owner, r.type, r.rdata) for r in reply.answer] == [
        ("primary.vm.test.", "A", "10.110.24.87")], reply


def test_owner_name_echoes_the_case_asked(mixed_server):
    reply = mixed_server.dig("PrImArY.Vm.TeSt", "A")
    assert reply.status == "NOERROR", reply
    assert [(r.owner, r.rdata) for r in reply.answer] == [
        ("PrImArY.Vm.TeSt.", "10.110.24.87")], reply


def test_vm_with_several_addresses_answers_its_first(mixed_server):
    reply = mixed_server.dig("k8s-node-01.vm.test", "A")
    assert reply.status == "NOERROR", reply
    assert [r.rdata for r in reply.answer] == ["10.110.24.141"], reply


@pytest.mark.parametrize("rrtype", ["AAAA", "MX", "TXT"])
def test_other_types_of_a_running_vm_are_nodata(mixed_server, rrtype):
    # NOT SERVFAIL: resolvers ask A and AAAA together and give up on SERVFAIL.
    reply = mixed_server.dig("primary.vm.test", rrtype)
    assert reply.status == "NOERROR", reply
    assert "aa" in reply.flags, reply
    assert reply.answer == [], reply
    assert_soa_of_zone(reply)


@pytest.mark.parametrize("name", ["calm-squirrel", "dev-box", "web-2"])
def test_vm_that_is_not_running_is_nodata(mixed_server, name):
    reply = mixed_server.dig(name + ".vm.test", "A")
    assert reply.status == "NOERROR", reply
    assert reply.answer == [], reply
    assert_soa_of_zone(reply)


@pytest.mark.parametrize("name", ["no-such-vm.vm.test", "old-builder-2.vm.test",
                                  "x.primary.vm.test"],
                         ids=["unknown", "deleted", "below-a-vm"])
def test_names_without_a_vm_are_nxdomain(mixed_server, name):
    reply = mixed_server.dig(name, "A")
    assert reply.status == "NXDOMAIN", reply
    assert "aa" in reply.flags, reply
    assert reply.answer == [], reply
    assert_soa_of_zone(reply)


def test_apex_soa(mixed_server):
    reply = mixed_server.dig("vm.test", "SOA")
    assert reply.status == "NOERROR", reply
    assert "aa" in reply.flags, reply
    assert_soa_of_zone(reply, "answer")


def test_apex_ns(mixed_server):
    reply = mixed_server.dig("vm.test", "NS")
    assert reply.status == "NOERROR", reply
    assert [(r.owner, r.type) for r in reply.answer] == [("vm.test.", "NS")], reply


def test_apex_a_is_nodata(mixed_server):
    reply = mixed_server.dig("vm.test", "A")
    assert reply.status == "NOERROR", reply
    assert reply.answer == [], reply
    assert_soa_of_zone(reply)


def test_name_outside_the_zone_is_refused(mixed_server):
    # Nothing in this server serves example.com: CoreDNS refuses, the plugin
    # must not claim it.
    reply = mixed_server.dig("example.com", "A")
    assert reply.status == "REFUSED", reply
    assert reply.answer == [] and reply.authority == [], reply


@pytest.mark.parametrize("rrtype", ["AXFR", "IXFR=1"])
def test_zone_transfers_are_refused(mixed_server, rrtype):
    # The plugin has no zone to transfer: REFUSED, as CoreDNS's file and
    # kubernetes plugins answer without a transfer block (dig asks over TCP).
    reply = mixed_server.dig("vm.test", rrtype, tcp=True)
    assert reply.status == "REFUSED", reply
    assert reply.answer == [] and reply.authority == [], reply
    assert "; Transfer failed." in reply.text, reply
    # An ordinary question still answers, over either transport.
    for tcp in (True, False):
        reply = mixed_server.dig("primary.vm.test", "A", tcp=tcp)
        assert [r.rdata for r in reply.answer] == ["10.110.24.87"], reply


def test_many_queries_in_one_batch_all_answer(mixed_server):
    questions = [("primary.vm.test", "A"), ("primary.vm.test", "AAAA"),
                 ("calm-squirrel.vm.test", "A"), ("x.primary.vm.test", "A")] * 25
    replies = mixed_server.dig_batch(questions)
    assert [r.status for r in replies] == ["NOERROR", "NOERROR", "NOERROR", "NXDOMAIN"] * 25
    assert [len(r.answer) for r in replies] == [1, 0, 0, 0] * 25


# Other listings, each in a CoreDNS of its own.


def test_demo_fleet_upper_case_vm_answers_any_case(start_coredns):
    server = start_coredns(listing=None)  # the stand-in's demo fleet
    for name in ("build-box.vm.test", "Build-Box.vm.test", "BUILD-BOX.VM.TEST"):
        reply = server.dig(name, "A")
        assert [(r.owner, r.rdata) for r in reply.answer] == [
            (name + ".", "10.110.24.203")], reply


def test_vm_without_a_known_address_is_nodata(start_coredns):
    # list-edge-cases.json: ghost-vm is Running with "ipv4": ["N/A"].
    server = start_coredns(listing="list-edge-cases.json")
    reply = server.dig("ghost-vm.vm.test", "A")
    assert reply.status == "NOERROR" and reply.answer == [], reply
    assert [r.type for r in reply.authority] == ["SOA"], reply

