"""Only class IN QUERY messages are answered. CoreDNS's server refuses other
classes itself, unless a plugin of the listener takes them (chaos, forward):
then the plugin hands them on like names outside its zones, to the next
plugin, or, being the last, REFUSED. A NOTIFY (or any opcode but QUERY) for a
VM's name is not answered like a question: the next plugin, or NOTIMP."""

# The upstream `forward` sends to: chaos opens the listener to every class,
# template answers whatever reaches it with a TXT record (one of class IN:
# dig cannot read every type in every class, and template none of class ANY).
UPSTREAM = """\
.:{port} {{
    bind 127.0.0.1
    chaos upstream
    template ANY ANY {{
        answer "{{{{ .Name }}}} 60 IN TXT \\"from upstream\\""
    }}
    ready 127.0.0.1:{ready_port}
}}
"""

# %d: the upstream's port; then formatted as every Corefile of the suite.
FORWARDING = """\
.:{port} {{
    bind 127.0.0.1
    multipass vm.test {{
        binary {binary}
    }}
    forward . 127.0.0.1:%d
    ready 127.0.0.1:{ready_port}
}}
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


def answered_upstream(reply):
    return reply.status == "NOERROR" and [(r.type, r.rdata) for r in reply.answer] == [
        ("TXT", '"from upstream"')]


def assert_answers_in_class_in(server):
    reply = server.dig("primary.vm.test", "A")
    assert [(r.cls, r.type, r.rdata) for r in reply.answer] == [
        ("IN", "A", "10.110.24.87")], reply


def test_other_classes_and_opcodes_go_to_forward(start_coredns):
    upstream = start_coredns(corefile=UPSTREAM)
    server = start_coredns(corefile=FORWARDING % upstream.port)
    for options in (["CH"], ["HS"], ["-c", "ANY"], ["+opcode=notify"]):  # ANY alone: a type
        # Not an IN A record for the VM: the upstream's reply.
        reply = server.dig("primary.vm.test", "A", options=options)
        assert answered_upstream(reply), (options, reply)
    reply = server.dig("vm.test", "SOA", options=["+opcode=notify"])
    assert answered_upstream(reply), reply
    assert_answers_in_class_in(server)


def test_the_last_plugin_refuses_other_classes_and_opcodes(start_coredns):
    server = start_coredns(corefile=LAST_PLUGIN)
    for options in (["CH"], ["HS"], ["-c", "ANY"]):  # ANY alone would be a type
        reply = server.dig("primary.vm.test", "A", options=options)
        assert reply.status == "REFUSED" and reply.answer == [], (options, reply)
    for name, rrtype in (("primary.vm.test", "A"), ("vm.test", "SOA")):
        reply = server.dig(name, rrtype, options=["+opcode=notify"])
        assert reply.status == "NOTIMP" and reply.answer == [], reply
    assert_answers_in_class_in(server)
