"""Only class IN QUERY messages are answered. CoreDNS's server refuses other
classes itself, unless a plugin of the listener takes them (chaos, forward):
then the plugin hands them on like names outside its zones, to the next
plugin, or, being the last, REFUSED. A NOTIFY (or any opcode but QUERY) for a
VM's name is not answered like a question: the next plugin, or NOTIMP."""

from conftest import answered_by_whoami

# The upstream `forward` sends to: chaos opens the listener to every class,
# whoami answers whatever reaches it (the client's address in additional).
UPSTREAM = """\
.:{port} {{
    bind 127.0.0.1
    chaos upstream
    whoami
    ready 127.0.0.1:{ready_port}
}}
"""

FORWARDING = """\
.:{{port}} {{{{
    bind 127.0.0.1
    multipass vm.test {{{{
        binary {{binary}}
    }}}}
    forward . 127.0.0.1:%d
    ready 127.0.0.1:{{ready_port}}
}}}}
"""

# The plugin last in its block; the chaos block on the same listener opens
# it to other classes.
LAST_PLUGIN = """\
vm.test:{port} {{
    bind 127.0.0.1
    multipass {{
        binary {binary}
    }}
    ready 127.0.0.1:{ready_port}
}}
version.test:{port} {{
    bind 127.0.0.1
    chaos
}}
"""


def assert_answers_in_class_in(server):
    reply = server.dig("primary.vm.test", "A")
    assert [(r.cls, r.type, r.rdata) for r in reply.answer] == [
        ("IN", "A", "10.110.24.87")], reply


def test_other_classes_and_opcodes_go_to_forward(start_coredns):
    upstream = start_coredns(corefile=UPSTREAM)
    server = start_coredns(corefile=FORWARDING % upstream.port)
    for options in (["-c", "CH"], ["-c", "HS"], ["-c", "ANY"], ["+opcode=notify"]):
        reply = server.dig("primary.vm.test", "A", options=options)
        # Not NOERROR, AA and an IN A record for the VM: the upstream's reply.
        assert answered_by_whoami(reply), (options, reply)
        assert "aa" not in reply.flags, (options, reply)
    reply = server.dig("primary.vm.test", "SOA", options=["+opcode=notify"])
    assert answered_by_whoami(reply), reply
    assert_answers_in_class_in(server)


def test_the_last_plugin_refuses_other_classes_and_opcodes(start_coredns):
    server = start_coredns(corefile=LAST_PLUGIN)
    for cls in ("CH", "HS", "ANY"):
        reply = server.dig("primary.vm.test", "A", options=["-c", cls])
        assert reply.status == "REFUSED" and reply.answer == [], (cls, reply)
    for name, rrtype in (("primary.vm.test", "A"), ("vm.test", "SOA")):
        reply = server.dig(name, rrtype, options=["+opcode=notify"])
        assert reply.status == "NOTIMP" and reply.answer == [], reply
    assert_answers_in_class_in(server)
