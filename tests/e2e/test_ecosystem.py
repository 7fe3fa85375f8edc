"""The plugin among the CoreDNS plugins a real Corefile uses: log, errors,
prometheus, cache, dnssec (with a key made by dnssec-keygen), ready, health,
reload, debug. Each test shows what a user of the other plugin would check:
signed answers and signed denial, cache hits over /metrics, query lines in
CoreDNS's log, the plugin's own metrics, /ready and /health.

plugin.cfg runs cache and dnssec before multipass (as in CoreDNS's own
plugin.cfg), whatever the order of the lines in the server block."""

import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import (DIG_OPTIONS, _finish, _starter, eventually, free_port,
                      parse_replies, tcp_listening)

ECOSYSTEM_COREFILE = """\
vm.test:{port} {{
    bind 127.0.0.1
    log
    errors
    prometheus 127.0.0.1:METRICS_PORT
    cache 30
    dnssec {{
        key file KEY_FILE
    }}
    multipass {{
        binary {binary}
        refresh 1s
    }}
    ready 127.0.0.1:{ready_port}
    health 127.0.0.1:HEALTH_PORT
    reload
}}
"""

# The VM states of list-mixed.json, as the metrics name them.
MIXED_STATES = {"running": 2, "stopped": 1, "suspended": 1, "starting": 1, "deleted": 1}
ALL_STATES = ["running", "stopped", "deleted", "starting", "restarting", "delayed_shutdown",
              "suspending", "suspended", "unknown", "unavailable"]


# --------------------------------------------------------------------------
# helpers


class DnssecKey:
    """A key made by dnssec-keygen for vm.test: its file base name and the
    public key as the DNSKEY rdata shows it."""

    def __init__(self, directory):
        keygen = shutil.which("dnssec-keygen")
        if keygen is None:
            pytest.fail("dnssec-keygen is missing: install bind9-utils (Debian) or bind (macOS)",
                        pytrace=False)
        out = subprocess.run([keygen, "-q", "-a", "ECDSAP256SHA256", "-K", str(directory),
                              "vm.test"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        self.base = directory / out.stdout.strip()
        record = [l for l in self.base.with_name(self.base.name + ".key").read_text().splitlines()
                  if not l.startswith(";")][0]
        # "vm.test. IN DNSKEY 256 3 13 <base64 in two words>"
        self.public_key = "".join(record.split()[6:])
        self.tag = int(self.base.name.rsplit("+", 1)[1])


class Ecosystem:
    """A running CoreDNS with ECOSYSTEM_COREFILE and its HTTP endpoints."""

    def __init__(self, start, key, mode="ok", wait_ready=True, corefile=ECOSYSTEM_COREFILE):
        self.metrics_port, self.health_port = free_port(), free_port()
        text = (corefile.replace("METRICS_PORT", str(self.metrics_port))
                .replace("HEALTH_PORT", str(self.health_port))
                .replace("KEY_FILE", str(key.base)))
        self.corefile = text  # with the harness's {port}, {ready_port}, {binary}
        self.server = start(corefile=text, mode=mode, wait_ready=wait_ready)
        eventually(lambda: tcp_listening(self.metrics_port) and tcp_listening(self.health_port),
                   15, "prometheus and health listen")

    def get(self, port, path):
        """(HTTP status, body) of GET path."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        """The samples of /metrics: [(name, {label: value}, value)]."""
        status, body = self.get(self.metrics_port, "/metrics")
        assert status == 200, (status, body)
        return parse_metrics(body)

    def dig_dnssec(self, name, rrtype="A"):
        """dig +dnssec (the DO bit set): the Reply."""
        cmd = ["dig", "@127.0.0.1", "-p", str(self.server.port), "+dnssec"] + DIG_OPTIONS
        out = subprocess.run(cmd + [name, rrtype], capture_output=True, text=True, timeout=30)
        replies = parse_replies(out.stdout)
        assert len(replies) == 1, "dig +dnssec %s %s: no reply\n%s%s" % (
            name, rrtype, out.stdout, out.stderr)
        return replies[0]


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a Prometheus sample: %r" % line
        labels = dict(LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def values(samples, name, **labels):
    """The values of the samples called name whose labels include labels."""
    return [v for n, l, v in samples
            if n == name and all(l.get(k) == w for k, w in labels.items())]


def one(samples, name, **labels):
    found = values(samples, name, **labels)
    assert len(found) == 1, "expected one %s%s in /metrics, found %r" % (name, labels, found)
    return found[0]


def total(samples, name, **labels):
    return sum(values(samples, name, **labels))


def rrsig_covers(reply, section, rrtype, tag):
    """True when section holds an RRSIG over rrtype made with the key tag."""
    for r in reply.records(section, "RRSIG"):
        fields = r.rdata.split()
        # type-covered algorithm labels original-ttl expiration inception key-tag signer sig
        if fields[0] == rrtype and fields[1] == "13" and int(fields[6]) == tag \
                and fields[7] == "vm.test.":
            return True
    return False


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return DnssecKey(tmp_path_factory.mktemp("key"))


@pytest.fixture(scope="module")
def eco(coredns_binary, tmp_path_factory, key):
    """One CoreDNS for the module over list-mixed.json. Tests must not change
    its stand-in's mode or listing."""
    started = []
    start = _starter(coredns_binary, lambda: tmp_path_factory.mktemp("eco"), started)
    yield Ecosystem(start, key)
    _finish(started)


# --------------------------------------------------------------------------
# dnssec


def test_dnssec_signs_the_answers(eco, key):
    reply = eco.dig_dnssec("primary.vm.test", "A")
    assert reply.status == "NOERROR", reply
    assert [r.rdata for r in reply.records("answer", "A")] == ["10.110.24.87"], reply
    assert rrsig_covers(reply, "answer", "A", key.tag), reply

    # The zone's key, as the dnssec plugin serves it at the apex.
    reply = eco.server.dig("vm.test", "DNSKEY")
    keys = ["".join(r.rdata.split()[3:]) for r in reply.records("answer", "DNSKEY")]
    assert keys == [key.public_key], reply


def test_dnssec_signs_the_denial_of_an_unknown_name(eco, key):
    # Without DO the plugin's NXDOMAIN passes unchanged.
    assert eco.server.dig("no-such-vm.vm.test", "A").status == "NXDOMAIN"

    # With DO the dnssec plugin proves the denial with an NSEC "black lie"
    # (which turns the rcode into NOERROR, as its README says) and signs the
    # plugin's SOA.
    reply = eco.dig_dnssec("no-such-vm.vm.test", "A")
    assert reply.answer == [], reply
    assert [r.owner for r in reply.records("authority", "SOA")] == ["vm.test."], reply
    assert rrsig_covers(reply, "authority", "SOA", key.tag), reply
    nsec = reply.records("authority", "NSEC")
    assert [(r.owner, r.rdata.split()[0]) for r in nsec] == [
        ("no-such-vm.vm.test.", "\\000.no-such-vm.vm.test.")], reply
    assert "A" not in nsec[0].rdata.split()[1:], reply
    assert rrsig_covers(reply, "authority", "NSEC", key.tag), reply


def test_dnssec_signs_nodata(eco, key):
    reply = eco.dig_dnssec("primary.vm.test", "AAAA")
    assert reply.status == "NOERROR" and reply.answer == [], reply
    assert rrsig_covers(reply, "authority", "SOA", key.tag), reply
    nsec = reply.records("authority", "NSEC")
    assert [r.owner for r in nsec] == ["primary.vm.test."], reply
    types = nsec[0].rdata.split()[1:]
    assert "A" in types and "AAAA" not in types, reply  # the name has an A, no AAAA
    assert rrsig_covers(reply, "authority", "NSEC", key.tag), reply


# --------------------------------------------------------------------------
# cache


def test_cache_serves_repeated_questions(eco, key):
    hits = lambda: total(eco.metrics(), "coredns_cache_hits_total")  # noqa: E731
    before = hits()
    for _ in range(3):
        reply = eco.server.dig("k8s-node-01.vm.test", "A")
        assert [r.rdata for r in reply.answer] == ["10.110.24.141"], reply
    assert hits() >= before + 2  # the first may miss, the next two hit

    # A signed answer is cached signed.
    before = hits()
    for _ in range(2):
        reply = eco.dig_dnssec("k8s-node-01.vm.test", "A")
        assert rrsig_covers(reply, "answer", "A", key.tag), reply
    assert hits() >= before + 1


# --------------------------------------------------------------------------
# log and the plugin's own log lines


def test_log_prints_each_query_with_its_rcode(eco):
    eco.server.dig("primary.vm.test", "A")
    eco.server.dig("nosuch.vm.test", "A")

    def logged():
        out = eco.server.stdout_path.read_text(errors="replace")
        found = re.search(r'^\[INFO\] 127\.0\.0\.1:\d+ - \d+ "A IN primary\.vm\.test\. udp \d+ '
                          r'false \d+" NOERROR qr,aa', out, re.M) and \
            re.search(r'^\[INFO\] 127\.0\.0\.1:\d+ - \d+ "A IN nosuch\.vm\.test\. udp \d+ '
                      r'false \d+" NXDOMAIN qr,aa', out, re.M)
        return found
    eventually(logged, 10, "the log plugin's lines for the two queries on CoreDNS's stdout")

    # The plugin's own lines come out through CoreDNS's log, in its format.
    out = eco.server.stdout_path.read_text(errors="replace")
    assert re.search(r"^\[INFO\] plugin/multipass: loaded 6 instances", out, re.M), out
    assert "[DEBUG]" not in out, out  # no debug plugin, no debug lines


DEBUG_COREFILE = """\
vm.test:{port} {{
    bind 127.0.0.1
    DEBUG
    multipass {{
        binary {binary}
        refresh 1s
    }}
    ready 127.0.0.1:{ready_port}
}}
"""


def test_debug_lines_only_with_the_debug_plugin(start_coredns):
    # In mode ok-warning the CLI prints a warning on stderr, which the core
    # logs at debug level.
    quiet = start_coredns(corefile=DEBUG_COREFILE.replace("DEBUG", ""), mode="ok-warning")
    loud = start_coredns(corefile=DEBUG_COREFILE.replace("DEBUG", "debug"), mode="ok-warning")
    eventually(lambda: "[DEBUG] plugin/multipass: " in loud.stdout_path.read_text(), 10,
               "a [DEBUG] plugin/multipass line with the debug plugin")
    line = [l for l in loud.stdout_path.read_text().splitlines()
            if l.startswith("[DEBUG] plugin/multipass: ")][0]
    assert "lxd driver is deprecated" in line, loud.logs()

    quiet.cli.wait_for_runs(3)  # as many refreshes as made the debug line
    assert "[DEBUG]" not in quiet.logs(), quiet.logs()
    assert "[INFO] plugin/multipass: loaded 6 instances" in quiet.stdout_path.read_text()


# --------------------------------------------------------------------------
# the plugin's metrics


def test_metrics_show_the_inventory(eco):
    def loaded():
        s = eco.metrics()
        return s if values(s, "coredns_multipass_last_success_timestamp_seconds") else None
    samples = eventually(loaded, 10, "coredns_multipass_last_success_timestamp_seconds")

    for state in ALL_STATES:
        assert one(samples, "coredns_multipass_instances", source="local", state=state) == \
            MIXED_STATES.get(state, 0), state
    assert one(samples, "coredns_multipass_refreshes_total", source="local", kind="full",
               result="success") >= 1
    for kind in ("full", "probe"):
        assert one(samples, "coredns_multipass_refreshes_total", source="local", kind=kind,
                   result="failure") == 0
    last = one(samples, "coredns_multipass_last_success_timestamp_seconds", source="local")
    assert abs(last - time.time()) < 120, "not a Unix time in seconds: %r" % last
    # One duration per listing, of each kind; the stand-in takes a few
    # milliseconds at least.
    for kind in ("full", "probe"):
        count = one(samples, "coredns_multipass_refresh_duration_seconds_count", source="local",
                    kind=kind)
        assert count == total(samples, "coredns_multipass_refreshes_total", source="local",
                              kind=kind)
        assert one(samples, "coredns_multipass_refresh_duration_seconds_bucket", source="local",
                   kind=kind, le="+Inf") == count
    assert one(samples, "coredns_multipass_refresh_duration_seconds_sum", source="local",
               kind="full") > 0


def test_ready_health_and_refresh_metrics_follow_the_cli(start_coredns, key):
    eco = Ecosystem(start_coredns, key, mode="no-daemon", wait_ready=False)
    server = eco.server
    # total(): the series appear a moment after CoreDNS listens.
    refreshes = lambda result: total(eco.metrics(), "coredns_multipass_refreshes_total",  # noqa: E731
                                     source="local", result=result)

    # No listing yet: not ready, but healthy (the process runs).
    eventually(lambda: refreshes("failure") >= 1, 10, "refreshes_total{result=failure} >= 1")
    status, body = server.ready()
    assert status == 503 and "multipass" in body, (status, body)
    assert eco.get(eco.health_port, "/health") == (200, "OK")
    samples = eco.metrics()
    assert refreshes("success") == 0
    assert values(samples, "coredns_multipass_last_success_timestamp_seconds") == []
    assert values(samples, "coredns_multipass_instances") == []

    server.cli.set_mode("ok")
    eventually(lambda: server.ready()[0] == 200, 10, "/ready 200 once the CLI works")
    eventually(lambda: refreshes("success") >= 1, 10, "refreshes_total{result=success} >= 1")
    assert eco.get(eco.health_port, "/health") == (200, "OK")

    # The daemon goes away: failures count again, the last VM list stays.
    failures = refreshes("failure")
    server.cli.set_mode("no-daemon")
    eventually(lambda: refreshes("failure") > failures, 10, "refreshes_total{result=failure} grows")
    samples = eco.metrics()
    assert one(samples, "coredns_multipass_instances", source="local", state="running") == 2
    assert server.ready()[0] == 200  # the last good VM list keeps serving
    assert [r.rdata for r in server.dig("primary.vm.test").answer] == ["10.110.24.87"]


def test_metrics_carry_on_through_a_reload_that_changes_the_source(start_coredns, key):
    # A new `refresh` makes a new source; the reload starts it before it
    # stops the old one. Both ask the same daemon: one `source` label whose
    # counters keep counting and whose gauges never go missing.
    eco = Ecosystem(start_coredns, key)
    success = lambda: total(eco.metrics(), "coredns_multipass_refreshes_total",  # noqa: E731
                            source="local", result="success")
    eventually(lambda: success() >= 2, 10, "two successful refreshes")
    before = success()

    eco.server.reload(eco.corefile.replace("refresh 1s", "refresh 2s"))  # old source stopped
    samples = eco.metrics()
    assert total(samples, "coredns_multipass_refreshes_total", source="local",
                 result="success") >= before, samples
    assert one(samples, "coredns_multipass_instances", source="local", state="running") == 2
    assert values(samples, "coredns_multipass_last_success_timestamp_seconds", source="local")
    eventually(lambda: success() > before, 10, "the new source's refreshes counted")
    assert [r.rdata for r in eco.server.dig("primary.vm.test").answer] == ["10.110.24.87"]
