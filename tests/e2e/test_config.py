"""Corefile mistakes a user can make: CoreDNS refuses a malformed block and
says why; a CLI that cannot be started keeps the plugin not ready and says so."""

import subprocess

import pytest

from conftest import DEFAULT_COREFILE, FAKE_CLI, eventually, free_port


# Each names the Corefile and the line at fault: the property's (line 5,
# where `refresh 1s` stands), or the zone's (line 3, the directive's).
@pytest.mark.parametrize("old,new,message", [
    ("refresh 1s", "bogus 1", "5 - Error during parsing: unknown property 'bogus'"),
    ("refresh 1s", "refresh 10ms", "5 - Error during parsing: refresh must be a duration"),
    ("refresh 1s", "binary", "5 - Error during parsing: Wrong argument count"),
    # probe against refresh: the probe's line, not the closing brace's.
    ("refresh 1s", "probe 30s\n        refresh 10s", "5 - Error during parsing: probe (30s)"),
    # Zones the core refuses, found at start-up, not when the server starts.
    ("multipass {", "multipass 0-25.24.110.10.in-addr.arpa {",
     "3 - Error during parsing: invalid zone '0-25.24.110.10.in-addr.arpa.': reverse zone labels"),
])
def test_malformed_block_stops_coredns_with_a_reason(coredns_binary, tmp_path, old, new, message):
    corefile = tmp_path / "Corefile"
    corefile.write_text(DEFAULT_COREFILE.replace(old, new).format(
        port=free_port(), ready_port=free_port(), binary=FAKE_CLI))
    result = subprocess.run([str(coredns_binary), "-conf", str(corefile)],
                            capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "plugin/multipass: %s:%s" % (corefile, message) in output, output


def test_missing_cli_keeps_the_plugin_not_ready_and_is_logged(start_coredns, tmp_path):
    missing = tmp_path / "no-such-dir" / "multipass"
    server = start_coredns(corefile=DEFAULT_COREFILE.replace("{binary}", str(missing)),
                           wait_ready=False)
    reply = server.dig("primary.vm.test", "A")
    assert reply.status == "SERVFAIL", reply
    assert server.ready()[0] == 503
    eventually(lambda: str(missing) in server.logs(), 10, "the missing CLI's path in the log")
