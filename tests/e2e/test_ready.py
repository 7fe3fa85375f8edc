"""Readiness: the ready plugin's /ready says 503 until the first listing has
loaded, then 200; DNS answers SERVFAIL meanwhile (never a false NXDOMAIN)."""

from conftest import eventually


def test_ready_only_after_the_first_successful_listing(start_coredns):
    server = start_coredns(mode="no-daemon", wait_ready=False)
    server.cli.wait_for_runs(1)
    status, body = server.ready()
    assert status == 503, (status, body)
    assert "multipass" in body, body  # the ready plugin names who is not ready

    reply = server.dig("primary.vm.test", "A")
    assert reply.status == "SERVFAIL", reply
    reply = server.dig("no-such-vm.vm.test", "A")
    assert reply.status == "SERVFAIL", reply

    server.cli.set_mode("ok")
    eventually(lambda: server.ready()[0] == 200, 10, "/ready 200 once the CLI works")
    reply = server.dig("primary.vm.test", "A")
    assert [r.rdata for r in reply.answer] == ["10.110.24.87"], reply


def test_not_ready_while_the_first_listing_hangs(start_coredns):
    server = start_coredns(mode="hang", wait_ready=False)
    server.cli.wait_for_runs(1)
    assert server.ready()[0] == 503
    reply = server.dig("primary.vm.test", "A")  # answered, not stuck behind the CLI
    assert reply.status == "SERVFAIL", reply
