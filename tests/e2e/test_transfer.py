"""Zone transfers from the plugin through CoreDNS's transfer plugin (issue
27): AXFR of the forward and reverse zones, the SOA alone for a current
IXFR, REFUSED without the transfer plugin or outside its `to`, TSIG, what
named-checkzone says of the zone, and every record of the transfer is what
a question gets."""

import base64
import subprocess

import pytest

from conftest import FIXTURES, dig, eventually, free_port, listing_with_primary_at, running_vm

KEY_NAME = "xfr.vm.test."
KEY = base64.b64encode(b"a secret of the test, 32 octets!").decode()

TRANSFER = """\
vm.test:{port} 24.110.10.in-addr.arpa:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        probe 1s
        refresh 2s
    }}
    transfer {{
        to %s
    }}
    ready 127.0.0.1:{ready_port}
}}
"""


def axfr(port, zone, options=()):
    """dig's AXFR of zone: (the records as text lines, dig's whole output)."""
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+nocmd", "+nostats",
                          "+tries=1", "+time=5", zone, "AXFR"] + list(options),
                         capture_output=True, text=True, timeout=60)
    lines = [line for line in out.stdout.splitlines()
             if line and not line.startswith(";") and line.split()[3] != "TSIG"]
    return lines, out.stdout + out.stderr


def records(lines):
    """{(owner, type): sorted rdata} of zone-file lines, SOA left out."""
    rrsets = {}
    for line in lines:
        owner, _ttl, _cls, rrtype, rdata = line.split(None, 4)
        if rrtype != "SOA":
            rrsets.setdefault((owner, rrtype), []).append(rdata)
    return {k: sorted(v) for k, v in rrsets.items()}


@pytest.fixture
def transferring(start_coredns):
    return start_coredns(corefile=TRANSFER % "*",
                         listing=listing_with_primary_at("10.110.24.87", [
                             running_vm("bridged", "192.168.1.7"),
                             running_vm("ns1", "10.110.24.53")]))


def test_axfr_is_the_soa_the_ns_its_address_every_vm_and_the_soa(transferring):
    lines, text = axfr(transferring.port, "vm.test")
    assert lines[0].split()[3] == "SOA" and lines[-1] == lines[0], text
    assert lines[0].split()[4:7] == ["ns1.vm.test.", "hostmaster.vm.test.",
                                     lines[0].split()[6]], text
    assert records(lines) == {
        ("vm.test.", "NS"): ["ns1.vm.test."],
        ("ns1.vm.test.", "A"): ["127.0.0.1"],  # the nameserver, not the VM ns1
        ("primary.vm.test.", "A"): ["10.110.24.87"],
        ("k8s-node-01.vm.test.", "A"): ["10.110.24.141"],
        ("bridged.vm.test.", "A"): ["192.168.1.7"],
    }, text
    lines, text = axfr(transferring.port, "24.110.10.in-addr.arpa")
    assert records(lines) == {
        ("24.110.10.in-addr.arpa.", "NS"): ["ns1.vm.test."],
        ("87.24.110.10.in-addr.arpa.", "PTR"): ["primary.vm.test."],
        ("141.24.110.10.in-addr.arpa.", "PTR"): ["k8s-node-01.vm.test."],
    }, text


def test_every_record_of_the_transfer_answers_the_same_and_nothing_else_does(transferring):
    for zone in ("vm.test", "24.110.10.in-addr.arpa"):
        lines, text = axfr(transferring.port, zone)
        zone_records = records(lines)
        soa_serial = lines[0].split()[6]
        for (owner, rrtype), data in zone_records.items():
            reply = transferring.dig(owner, rrtype)
            assert sorted(r.rdata for r in reply.answer) == data, reply
        # Names questions reach that the zone lacks: no records.
        for name in ("calm-squirrel.vm.test", "old-builder-2.vm.test", "ghost-vm.vm.test",
                     "x.primary.vm.test", "nosuch.vm.test", "53.24.110.10.in-addr.arpa"):
            reply = transferring.dig(name, "PTR" if "arpa" in name else "A")
            assert reply.answer == [], reply
        assert transferring.dig(zone, "SOA").answer[0].rdata.split()[2] == soa_serial


def test_named_checkzone_accepts_the_transferred_zones(transferring, tmp_path):
    for zone in ("vm.test", "24.110.10.in-addr.arpa"):
        lines, text = axfr(transferring.port, zone)
        path = tmp_path / (zone + ".zone")
        path.write_text("\n".join(lines) + "\n")
        check = subprocess.run(["named-checkzone", zone, str(path)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr + text
        assert "OK" in check.stdout, check.stdout


def test_an_ixfr_at_the_current_serial_gets_the_soa_alone(transferring):
    lines, _ = axfr(transferring.port, "vm.test")
    serial = int(lines[0].split()[6])
    for asked, whole in ((serial, False), (serial + 1, False), (serial - 1, True)):
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(transferring.port), "+nocmd",
                              "+nostats", "vm.test", "IXFR=%d" % asked],
                             capture_output=True, text=True, timeout=60)
        got = [l for l in out.stdout.splitlines() if l and not l.startswith(";")]
        assert (len(got) > 1) == whole, out.stdout


def test_without_the_transfer_plugin_a_transfer_is_refused(start_coredns):
    server = start_coredns()
    lines, text = axfr(server.port, "vm.test")
    assert lines == [] and "Transfer failed" in text, text
    reply = server.dig("vm.test", "AXFR", tcp=True)
    assert reply.status == "REFUSED", reply


def test_only_to_addresses_get_the_zone(start_coredns):
    server = start_coredns(corefile=TRANSFER % "127.0.0.2")
    lines, text = axfr(server.port, "vm.test")  # from 127.0.0.1
    assert lines == [] and "Transfer failed" in text, text
    lines, text = axfr(server.port, "vm.test", ["-b", "127.0.0.2"])
    assert len(lines) > 2, text


TSIG = """\
vm.test:{port} {{
    bind 127.0.0.1
    tsig {{
        secret %s %s
        require AXFR IXFR
    }}
    multipass {{
        binary {binary}
    }}
    transfer {{
        to *
    }}
    ready 127.0.0.1:{ready_port}
}}
""" % (KEY_NAME, KEY)


def test_tsig_signed_transfers_pass_and_unsigned_ones_are_refused(start_coredns):
    server = start_coredns(corefile=TSIG)
    lines, text = axfr(server.port, "vm.test")
    assert lines == [] and "Transfer failed" in text, text
    lines, text = axfr(server.port, "vm.test", ["-y", "hmac-sha256:%s:%s" % (KEY_NAME, KEY)])
    assert len(lines) > 2 and lines[0] == lines[-1] and "TSIG" in text, text
    lines, text = axfr(server.port, "vm.test", [
        "-y", "hmac-sha256:%s:%s" % (KEY_NAME, base64.b64encode(b"another secret").decode())])
    assert lines == [], text


TWO_DAEMONS = """\
host-a.vm.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        server_address 192.0.2.10:50051
    }}
    transfer {{
        to *
    }}
    ready 127.0.0.1:{ready_port}
}}
host-b.vm.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        server_address 192.0.2.11:50051
    }}
    transfer {{
        to *
    }}
}}
"""


def test_one_coredns_serves_two_daemons_in_two_blocks(coredns_binary, tmp_path):
    """The other route beyond one machine: each block lists the daemon of
    one host (server_address), and each zone is that host's VMs alone."""
    from conftest import CoreDNS, FakeCLI, edited_listing
    cli = FakeCLI(tmp_path / "fake")
    cli.daemon("192.0.2.10:50051").set_listing("list-mixed.json")
    cli.daemon("192.0.2.11:50051").set_listing(edited_listing(
        "list-mixed.json", lambda vms: vms.append(running_vm("builder", "10.110.25.7"))))
    server = CoreDNS(coredns_binary, tmp_path, TWO_DAEMONS, None, "ok")
    try:
        server.wait_listening()
        server.wait_ready()
        eventually(lambda: server.dig("builder.host-b.vm.test").answer, 10, "host b's builder")
        assert [r.rdata for r in server.dig("builder.host-b.vm.test").answer] == ["10.110.25.7"]
        assert server.dig("builder.host-a.vm.test").status == "NXDOMAIN"
        assert [r.rdata for r in server.dig("primary.host-a.vm.test").answer] == ["10.110.24.87"]
        a = records(axfr(server.port, "host-a.vm.test")[0])
        b = records(axfr(server.port, "host-b.vm.test")[0])
        assert ("builder.host-b.vm.test.", "A") in b and not any("builder" in o for o, _ in a), (a, b)
        assert {r["server_address"] for r in cli.daemon("192.0.2.10:50051").runs()} == {"192.0.2.10:50051"}
        assert {r["server_address"] for r in cli.daemon("192.0.2.11:50051").runs()} == {"192.0.2.11:50051"}
    finally:
        server.check_clean_exit()


NAMESERVER = """\
vm.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
        nameserver ns.vm.test 192.0.2.53
    }}
    transfer {{
        to *
    }}
    prometheus 127.0.0.1:%d
    ready 127.0.0.1:{ready_port}
}}
"""


def test_the_nameserver_option_names_the_ns_and_its_address_and_transfers_are_counted(
        start_coredns):
    import urllib.request
    metrics_port = free_port()
    server = start_coredns(corefile=NAMESERVER % metrics_port)
    assert [r.rdata for r in server.dig("vm.test", "NS").answer] == ["ns.vm.test."]
    assert server.dig("vm.test", "SOA").answer[0].rdata.split()[0] == "ns.vm.test."
    assert [r.rdata for r in server.dig("NS.vm.test", "A").answer] == ["192.0.2.53"]
    assert server.dig("ns1.vm.test", "A").status == "NXDOMAIN"
    lines, text = axfr(server.port, "vm.test")
    assert records(lines)[("ns.vm.test.", "A")] == ["192.0.2.53"], text
    axfr(server.port, "vm.test", ["+tries=1"])
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=10) as r:
        metrics = r.read().decode()
    assert 'coredns_multipass_transfers_total{type="full",zone="vm.test."} 2' in metrics, \
        [l for l in metrics.splitlines() if "multipass_transfers" in l]
