"""A burst of first questions (issue 25): a user launches a batch of VMs and
connects to all of them at once (a shell loop with `&`, pssh, Ansible), so A
and AAAA for each arrive together, all for names the inventory lacks. Every
question waits for the same look and gets the truth: every A its address on
the first try, every AAAA NODATA, no NXDOMAIN (with a cap of 16 waiting
questions, 32 of 40 VMs got NXDOMAIN, remembered for 5 s)."""

import time

import pytest

from conftest import edited_listing, plugin_corefile, running_vm, udp_questions

A, AAAA = 1, 28


@pytest.mark.parametrize("count", [9, 40])
def test_a_burst_of_first_questions_all_get_the_truth(start_coredns, count):
    server = start_coredns(corefile=plugin_corefile())  # the defaults
    time.sleep(1.1)  # past the demand rate limit of the first listing
    vms = {"batch-%02d" % i: "10.110.25.%d" % (i + 1) for i in range(count)}
    server.cli.set_listing(edited_listing(
        "list-mixed.json", lambda listed: listed.extend(
            running_vm(name, address) for name, address in vms.items())))
    questions = [(name + ".vm.test", qtype) for name in vms for qtype in (A, AAAA)]
    mark, t0 = server.cli.run_count(), time.monotonic()
    replies = udp_questions(server.port, questions)
    print("%d VMs, %d questions at once: answered in %.2f s, runs %r" % (
        count, len(questions), time.monotonic() - t0,
        [r["kind"] for r in server.cli.runs()[mark:]]))
    assert len(replies) == len(questions), "%d of %d unanswered\n%s" % (
        len(questions) - len(replies), len(questions), server.logs())
    wrong = {q: r for q, r in replies.items()
             if r != ((0, [vms[q[0].split(".")[0]]]) if q[1] == A else (0, []))}
    assert not wrong, "wrong first answers (rcode, addresses): %r" % sorted(wrong.items())
