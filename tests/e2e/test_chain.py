"""The plugin in CoreDNS's plugin chain: names outside its zones, and
`fallthrough`, go to the next plugin (here whoami, which answers every name
with the client's address in the additional section)."""

from conftest import answered_by_whoami

ROOT_BLOCK = """\
.:{port} {{
    bind 127.0.0.1
    multipass vm.test {{
        binary {binary}
        refresh 1s
        FALLTHROUGH
    }}
    whoami
    ready 127.0.0.1:{ready_port}
}}
"""


def test_names_outside_the_plugins_zones_go_to_the_next_plugin(start_coredns):
    server = start_coredns(corefile=ROOT_BLOCK.replace("FALLTHROUGH", ""))
    reply = server.dig("example.com", "A")
    assert answered_by_whoami(reply), reply
    reply = server.dig("primary.vm.test", "A")
    assert [r.rdata for r in reply.answer] == ["10.110.24.87"], reply
    reply = server.dig("no-such-vm.vm.test", "A")
    assert reply.status == "NXDOMAIN", reply


def test_fallthrough_hands_unknown_names_to_the_next_plugin(start_coredns):
    server = start_coredns(corefile=ROOT_BLOCK.replace("FALLTHROUGH", "fallthrough"))
    reply = server.dig("no-such-vm.vm.test", "A")
    assert answered_by_whoami(reply), reply
    reply = server.dig("primary.vm.test", "A")
    assert [r.rdata for r in reply.answer] == ["10.110.24.87"], reply
    reply = server.dig("calm-squirrel.vm.test", "A")  # known VM: NODATA, no fallthrough
    assert reply.status == "NOERROR" and reply.answer == [], reply
    assert [r.type for r in reply.authority] == ["SOA"], reply



def test_names_that_only_look_like_the_zone_go_to_the_next_plugin(start_coredns):
    # The shim skips names outside the zones before it asks the core: the
    # match is by whole labels, so neither the parent, nor a name that ends
    # in the zone's text, nor one that starts with the zone belongs to it,
    # whatever the type or case.
    server = start_coredns(corefile=ROOT_BLOCK.replace("FALLTHROUGH", ""))
    for name, rrtype in [("test", "SOA"), ("notvm.test", "A"), ("primary.notvm.test", "A"),
                         ("vm.test.example", "A"), ("PRIMARY.VM.TEST.example", "AAAA"),
                         ("example.com", "TXT")]:
        reply = server.dig(name, rrtype)
        assert answered_by_whoami(reply), (name, rrtype, reply)
    reply = server.dig("PRIMARY.VM.TEST", "A")
    assert [r.rdata for r in reply.answer] == ["10.110.24.87"], reply
