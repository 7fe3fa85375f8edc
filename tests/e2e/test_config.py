"""Corefile mistakes a user can make: CoreDNS refuses a malformed block and
says why; a CLI that cannot be started keeps the plugin not ready and says so."""

import subprocess

import pytest

from conftest import DEFAULT_COREFILE, FAKE_CLI, eventually, free_port


@pytest.mark.parametrize("line,message", [
    ("bogus 1", "unknown property 'bogus'"),
    ("refresh 10ms", "refresh must be a duration"),
    ("binary", "Wrong argument count"),
])
def test_malformed_block_stops_coredns_with_a_reason(coredns_binary, tmp_path, line, message):
    corefile = tmp_path / "Corefile"
    corefile.write_text(DEFAULT_COREFILE.replace("refresh 1s", line).format(
        port=free_port(), ready_port=free_port(), binary=FAKE_CLI))
    result = subprocess.run([str(coredns_binary), "-conf", str(corefile)],
                            capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "plugin/multipass" in output and message in output, output


def test_missing_cli_keeps_the_plugin_not_ready_and_is_logged(start_coredns, tmp_path):
    missing = tmp_path / "no-such-dir" / "multipass"
    server = start_coredns(corefile=DEFAULT_COREFILE.replace("{binary}", str(missing)),
                           wait_ready=False)
    reply = server.dig("primary.vm.test", "A")
    assert reply.status == "SERVFAIL", reply
    assert server.ready()[0] == 503
    eventually(lambda: str(missing) in server.logs(), 10, "the missing CLI's path in the log")
