"""A guest cannot aim a name at the host (issue 28): with `addresses all` the
addresses come from inside the guest, and one that reports 127.0.0.1 (or
0.0.0.0, a link-local, multicast or broadcast address) must not make
`<vm>.vm.test` point at the asking host's own services. Such addresses are
served only where `networks` names their block.

    sly    Running  127.0.0.1, 0.0.0.0, 169.254.7.7, 10.110.24.9, 224.0.0.251
    loopy  Running  127.0.0.1"""

from conftest import edited_listing, plugin_corefile, running_vm


def listing():
    def edit(vms):
        sly = running_vm("sly", "127.0.0.1")
        sly["ipv4"] += ["0.0.0.0", "169.254.7.7", "10.110.24.9", "224.0.0.251"]
        vms[:] = [sly, running_vm("loopy", "127.0.0.1")]
    return edited_listing("list-mixed.json", edit)


def addresses(reply):
    return [r.rdata for r in reply.answer if r.type == "A"]


def test_a_guest_reporting_loopback_gets_no_answer_with_it(start_coredns):
    for options in ("", "addresses all", "addresses all\nnetworks 0.0.0.0/0"):
        server = start_coredns(corefile=plugin_corefile(options), listing=listing())
        sly, loopy = server.dig("sly.vm.test"), server.dig("loopy.vm.test")
        assert sly.status == "NOERROR" and addresses(sly) == ["10.110.24.9"], (options, sly)
        assert loopy.status == "NOERROR" and addresses(loopy) == [], (options, loopy)
        server.stop()


def test_networks_naming_a_host_only_block_serve_it(start_coredns):
    server = start_coredns(corefile=plugin_corefile("addresses all\nnetworks 169.254.0.0/16"),
                           listing=listing())
    assert addresses(server.dig("sly.vm.test")) == ["169.254.7.7"]
    assert addresses(server.dig("loopy.vm.test")) == []
