#!/usr/bin/env python3
"""End-to-end DNS measures of build/coredns: the multipass plugin against
CoreDNS's built-in hosts plugin holding the same names.

    dns_bench.py --root REPO --work DIR --out results.json

Measures (see bench/README.md for how to read them):
  throughput  dnsperf at full speed, multipass and hosts alternated (A, B, A,
              B, ...) for several rounds, per fleet size and query mix
  latency     dnsperf -v at a fixed rate; p50/p90/p99/max from every response
  memory      VmRSS/VmHWM of CoreDNS serving 0 and 10,000 VMs
  cli_runs    lines of the stand-in CLI's runs.log during 100,000 queries
  foreign     names outside the plugin's zones: `. { multipass { probe off };
              whoami }` and `. { any; whoami }` against `. { whoami }`,
              alternated like throughput
  probe_cost  CPU seconds per hour of idle CoreDNS processes and, apart,
              of their CLI children: default intervals, probe off, whoami
  unpinned    the throughput A/B against hosts as a user runs it: no CPU
              pinning, default GOMAXPROCS, dnsperf with several threads
  idle        context switches per second of idle CoreDNS processes (all
              threads) with and without the plugin
  daemon_cost full listings, cheap listings and guest sessions from the
              stand-in's run log, idle and in a flood of unknown names, and
              how soon a launch is seen: defaults against probe off +
              refresh 5s (two servers at once)
  lifecycle   from each way a VM comes up or goes (start, restart, ...; the
              stand-in plays a timeline) to the first right answer,
              directly and through Unbound, with the listings it costs;
              against a baseline build of CoreDNS when one is given

Unless a measure says otherwise, every CoreDNS runs with GOMAXPROCS=1 pinned
to CPU 0 and dnsperf runs with one thread pinned to CPU 1 (on a 2-core machine
each side gets one core; the server is the bottleneck, which is what we
measure). Standard library only.
"""

import argparse
import importlib.util
import json
import math
import os
import random
import re
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

ZONE = "vm.test"
SECOND_ZONE = "lab.test"
TYPE_CODES = {"A": 1, "NS": 2, "SOA": 6, "AAAA": 28}


# --------------------------------------------------------------------------
# Small DNS client (readiness checks only).

def dns_exchange(port, qname, qtype, timeout=0.5):
    """Sends one query to 127.0.0.1:port; returns the reply's bytes or None."""
    qid = random.randrange(65536)
    wire = b"".join(bytes([len(label)]) + label.encode()
                    for label in qname.rstrip(".").split(".")) + b"\x00"
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + \
        struct.pack(">HH", TYPE_CODES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(packet, ("127.0.0.1", port))
            data, _ = s.recvfrom(65535)
        except OSError:
            return None
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    return data


def dns_query(port, qname, qtype, timeout=0.5):
    """Sends one query to 127.0.0.1:port; returns (rcode, ancount) or None."""
    data = dns_exchange(port, qname, qtype, timeout)
    if data is None:
        return None
    return data[3] & 0x0F, struct.unpack(">H", data[6:8])[0]


def a_answer(port, qname, timeout=3.0):
    """(rcode, [IPv4 addresses of the answer]) of qname A, or None."""
    data = dns_exchange(port, qname, "A", timeout)
    if data is None:
        return None
    pos, out = skip_name(data, 12) + 4, []
    for _ in range(struct.unpack(">H", data[6:8])[0]):
        pos = skip_name(data, pos)
        rtype, _, _, length = struct.unpack(">HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == TYPE_CODES["A"] and length == 4:
            out.append(socket.inet_ntoa(data[pos:pos + 4]))
        pos += length
    return data[3] & 0x0F, out


def skip_name(data, pos):
    """The offset just past the (possibly compressed) name at pos."""
    while data[pos] != 0:
        if data[pos] & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + data[pos]
    return pos + 1


def soa_serial(port, zone=ZONE):
    """The serial of the zone's SOA (asked at the apex, a name the plugin
    always knows: no miss, no listing), or None."""
    data = dns_exchange(port, zone, "SOA")
    if data is None or data[3] & 0x0F or struct.unpack(">H", data[6:8])[0] < 1:
        return None
    pos = skip_name(data, 12) + 4                 # the question
    pos = skip_name(data, pos)                    # the answer's owner
    rtype = struct.unpack(">H", data[pos:pos + 2])[0]
    if rtype != TYPE_CODES["SOA"]:
        return None
    pos = skip_name(data, skip_name(data, pos + 10))  # mname, rname
    return struct.unpack(">I", data[pos:pos + 4])[0]


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


# --------------------------------------------------------------------------
# CoreDNS processes.

class CoreDNS:
    """One build/coredns process with its own Corefile, log and environment."""

    started = []  # every instance, so that main() can stop them all on error

    def __init__(self, name, args, corefile, env_extra, pinned=True, binary=None):
        """pinned: GOMAXPROCS=args.server_procs on args.server_cpus (the
        throughput setting); False: as a user runs it. binary: another
        CoreDNS build than args.coredns (a baseline)."""
        self.name = name
        self.port = free_port()
        self.dir = os.path.join(args.work, "servers", name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "Corefile")
        with open(self.conf, "w") as f:
            f.write(corefile.replace("@PORT@", str(self.port)))
        env = dict(os.environ)
        if pinned:
            env["GOMAXPROCS"] = str(args.server_procs)
        env.update(env_extra)
        self.log = open(os.path.join(self.dir, "coredns.log"), "wb")
        cmd = ["taskset", "-c", args.server_cpus] if pinned else []
        cmd += [binary or args.coredns, "-conf", self.conf]
        self.proc = subprocess.Popen(cmd, cwd=self.dir, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        CoreDNS.started.append(self)

    def wait_answer(self, qname, qtype, rcode, min_answers, timeout=60):
        """Polls until qname/qtype gets rcode with at least min_answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (%s); see %s" % (
                    self.name, self.proc.returncode, self.log.name))
            got = dns_query(self.port, qname, qtype)
            if got and got[0] == rcode and got[1] >= min_answers:
                return
            time.sleep(0.05)
        raise RuntimeError("%s: no %s answer for %s %s within %ds; see %s" % (
            self.name, rcode, qname, qtype, timeout, self.log.name))

    def status(self):
        """VmRSS, its anonymous part RssAnon (the heaps and stacks, without
        the binary's and libraries' pages) and VmHWM in KiB, and the number
        of OS threads."""
        out = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "VmHWM", "Threads"):
                    out[key] = int(value.split()[0])
        return out

    def context_switches(self):
        """Voluntary plus involuntary context switches of all its threads
        so far (a thread that exited takes its count with it)."""
        total = 0
        task_dir = "/proc/%d/task" % self.proc.pid
        for tid in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, tid, "status")) as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches:",
                                            "nonvoluntary_ctxt_switches:")):
                            total += int(line.split()[1])
            except OSError:
                pass  # the thread exited meanwhile
        return total

    def stop(self):
        if self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Sampler:
    """Polls a server's /proc status while a load runs; keeps the peaks."""

    def __init__(self, server, interval=0.05):
        self.server, self.interval = server, interval
        self.peak = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.done.is_set():
            try:
                for key, value in self.server.status().items():
                    self.peak[key] = max(value, self.peak.get(key, 0))
            except OSError:
                return
            self.done.wait(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def cli_off_the_server_core(args):
    """The `binary` of the multipass servers: a wrapper that runs the stand-in
    CLI on the client's CPUs. The server's pinning would otherwise charge the
    stand-in's own CPU (Python start-up, 10-20 ms a run) to the core under
    test: that is the data source's cost, not the plugin's, and a real
    `multipass list` runs on whatever core is free. The fork stays on the
    server's core; the runs are counted in every table."""
    stand_in = os.path.join(args.root, "tests", "fake-multipass", "multipass")
    path = os.path.join(args.work, "multipass-cli")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nexec taskset -c %s %s "$@"\n' % (args.client_cpus, stand_in))
    os.chmod(path, 0o755)
    return path


def multipass_corefile(args, refresh, zones=(ZONE,), options=(), binary=None):
    """One server block per zone with the multipass plugin; refresh None
    leaves the default; options: further lines (such as `probe off`);
    binary: the CLI (default: the stand-in on the client's CPUs)."""
    lines = ["binary %s" % (binary or args.fake)] + \
        (["refresh %s" % refresh] if refresh else []) + ["ttl 10"] + list(options)
    body = "".join("        %s\n" % line for line in lines)
    return "".join("%s:@PORT@ {\n    bind 127.0.0.1\n    multipass {\n%s    }\n}\n" % (
        zone, body) for zone in zones)


def root_corefile(multipass_options=None, front=None):
    """A `.` server answering every name with whoami; with multipass_options
    (the lines of a `multipass vm.test { ... }` block), the plugin in front
    of it; with front, that line (another plugin) instead."""
    plugin = "    %s\n" % front if front else ""
    if multipass_options is not None:
        plugin = "    multipass %s {\n%s    }\n" % (ZONE, "".join(
            "        %s\n" % line for line in multipass_options))
    return ".:@PORT@ {\n    bind 127.0.0.1\n%s    whoami\n}\n" % plugin


def hosts_corefile(hosts_file):
    return """%s:@PORT@ {
    bind 127.0.0.1
    hosts %s %s {
        ttl 10
        reload 0
    }
}
""" % (ZONE, hosts_file, ZONE)


# --------------------------------------------------------------------------
# Fleets and query files.

class Fleet:
    """A fleet of `size` VMs: the stand-in's control dir, a hosts file with
    the same names and the query files."""

    def __init__(self, args, size):
        self.size = size
        self.dir = os.path.join(args.work, "fleet-%d" % size)
        os.makedirs(self.dir, exist_ok=True)
        listing = subprocess.run([sys.executable, args.make_fleet, str(size)],
                                 check=True, capture_output=True).stdout
        with open(os.path.join(self.dir, "list.json"), "wb") as f:
            f.write(listing)
        self.runs_log = os.path.join(self.dir, "runs.log")
        doc = json.loads(listing)
        self.vms = [(vm["name"], vm["ipv4"][0]) for vm in doc["list"]
                    if vm["state"] == "Running" and vm["ipv4"]]
        self.hosts = os.path.join(self.dir, "hosts")
        with open(self.hosts, "w") as f:
            for name, address in self.vms:
                f.write("%s %s.%s\n" % (address, name, ZONE))
        self.queries = {}

    def runs(self):
        return Fleet.count_lines(self.runs_log)

    @staticmethod
    def count_lines(path):
        """Lines of a stand-in's runs.log (one per CLI run); 0 before any."""
        try:
            with open(path) as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def runs_by_kind(self):
        return Fleet.count_kinds(self.runs_log)

    @staticmethod
    def count_kinds(path):
        """A stand-in's runs.log summed up: runs of each kind (`full`,
        `probe`: the cheap listing), all runs, and guest sessions (the
        last two fields of a line are ` kind=<k> sessions=<n>`)."""
        out = {"full": 0, "probe": 0, "runs": 0, "sessions": 0}
        try:
            with open(path) as f:
                for line in f:
                    fields = line.split()
                    out["runs"] += 1
                    if len(fields) >= 2 and fields[-2].startswith("kind=") and \
                            fields[-1].startswith("sessions="):
                        kind = fields[-2][len("kind="):]
                        if kind in out:
                            out[kind] += 1
                        out["sessions"] += int(fields[-1][len("sessions="):])
        except FileNotFoundError:
            pass
        return out

    @staticmethod
    def kinds_between(before, after):
        return {k: after[k] - before[k] for k in after}

    def query_file(self, mix, rng):
        """Writes (once) the query file of `mix`; returns (path, composition)."""
        if mix in self.queries:
            return self.queries[mix]
        names = [n for n, _ in self.vms]
        lines = []
        if mix == "hits":
            lines = ["%s.%s A" % (n, ZONE) for n in names]
            comp = {"A known": len(lines)}
        else:
            total = max(2000, len(names))
            n_a, n_aaaa = int(total * 0.70), int(total * 0.20)
            n_unknown = total - n_a - n_aaaa if mix == "hits+aaaa+unknown" else 0
            if mix == "hits+aaaa":
                n_a = total - n_aaaa
            lines += ["%s.%s A" % (names[i % len(names)], ZONE) for i in range(n_a)]
            lines += ["%s.%s AAAA" % (names[(i * 7) % len(names)], ZONE)
                      for i in range(n_aaaa)]
            # Unknown names: half single labels (a VM that might just have
            # been launched: the plugin may wait for an on-demand refresh),
            # half deeper names as search-domain expansion produces them
            # (NXDOMAIN at once).
            single = n_unknown // 2
            lines += ["nosuch-%05d.%s A" % (i, ZONE) for i in range(single)]
            lines += ["www.example%d.com.%s A" % (i, ZONE)
                      for i in range(n_unknown - single)]
            comp = {"A known": n_a, "AAAA known": n_aaaa,
                    "A unknown single label": single,
                    "A unknown deeper name": n_unknown - single}
        rng.shuffle(lines)
        path = os.path.join(self.dir, "queries-%s.txt" % mix.replace("+", "-"))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.queries[mix] = (path, comp)
        return self.queries[mix]


# --------------------------------------------------------------------------
# dnsperf.

FIELDS = {
    "sent": r"Queries sent:\s+(\d+)",
    "completed": r"Queries completed:\s+(\d+)",
    "lost": r"Queries lost:\s+(\d+)",
    "qps": r"Queries per second:\s+([\d.]+)",
    "avg_latency_s": r"Average Latency \(s\):\s+([\d.]+)",
    "run_time_s": r"Run time \(s\):\s+([\d.]+)",
}


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """(CPU seconds the whole machine was busy, CPU seconds of pid with its
    reaped children, CPU seconds of our reaped children)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # minus idle and iowait
    own = 0
    if pid:
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read().rsplit(")", 1)[1].split()
            own = sum(int(x) for x in stat[11:15])  # utime stime cutime cstime
        except OSError:
            pass
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy / TICK, own / TICK, ru.ru_utime + ru.ru_stime


def dnsperf(args, port, query_file, extra, verbose=False, server=None, pinned=True):
    """Runs dnsperf; with `server`, also measures the CPU that neither the
    server nor dnsperf used meanwhile (other processes: noise). pinned: one
    thread on args.client_cpus; False: args.unpinned_threads threads and
    args.unpinned_clients clients, anywhere."""
    if pinned:
        cmd = ["taskset", "-c", args.client_cpus, "dnsperf", "-T", "1", "-c", "1"]
    else:
        cmd = ["dnsperf", "-T", str(args.unpinned_threads), "-c", str(args.unpinned_clients)]
    cmd += ["-s", "127.0.0.1", "-p", str(port), "-d", query_file, "-t", "5"]
    cmd += extra
    if verbose:
        cmd.append("-v")
    before = cpu_seconds(server.proc.pid if server else None)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = cpu_seconds(server.proc.pid if server else None)
    out = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError("dnsperf failed: %s\n%s" % (proc.stderr, out[-2000:]))
    result = {}
    for key, pattern in FIELDS.items():
        m = re.search(pattern, out)
        result[key] = float(m.group(1)) if m else None
    m = re.search(r"Response codes:\s+(.*)", out)
    result["rcodes"] = dict((code, int(count)) for code, count in
                            re.findall(r"(\w+) (\d+) \(", m.group(1))) if m else {}
    if verbose:
        result["responses"] = [line for line in out.splitlines()
                               if line.startswith("> ")]
    deltas = [b - a for a, b in zip(before, after)]
    result["server_cpu_pct"] = 100 * deltas[1] / wall if server else None
    result["client_cpu_pct"] = 100 * deltas[2] / wall
    foreign = deltas[0] - deltas[2] - (deltas[1] if server else 0)
    result["foreign_cpu_pct"] = max(0.0, 100 * foreign / wall) if server else None
    return result


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def latency_summary(responses):
    """Percentiles (microseconds) per query category from dnsperf -v lines
    '> RCODE qname qtype seconds'."""
    groups = {}
    for line in responses:
        parts = line.split()
        if len(parts) < 5:
            continue
        rcode, qname, qtype, seconds = parts[1], parts[2], parts[3], float(parts[4])
        if qname.startswith(("nosuch-", "flood-")):
            cat = "A unknown single label"
        elif qname.startswith("www."):
            cat = "A unknown deeper name"
        else:
            cat = "%s known" % qtype
        for key in ("all", cat):
            groups.setdefault(key, []).append(seconds * 1e6)
        groups.setdefault("rcode " + rcode, [])
    out = {}
    for key, values in groups.items():
        if key.startswith("rcode "):
            continue
        values.sort()
        out[key] = {"n": len(values), "mean_us": sum(values) / len(values),
                    "p50_us": percentile(values, 50),
                    "p90_us": percentile(values, 90),
                    "p99_us": percentile(values, 99),
                    "max_us": values[-1]}
    return out


# --------------------------------------------------------------------------
# The measures.

def start_pair(args, fleet, refresh, pinned=True):
    """The multipass and the hosts server of a fleet; pinned False: as a
    user runs them, the stand-in CLI wherever the kernel puts it."""
    tag = "" if pinned else "unpinned-"
    mp = CoreDNS("%smultipass-%d" % (tag, fleet.size), args,
                 multipass_corefile(args, refresh, binary=None if pinned else args.stand_in),
                 {"MULTIPASS_FAKE_DIR": fleet.dir}, pinned=pinned)
    hs = CoreDNS("%shosts-%d" % (tag, fleet.size), args, hosts_corefile(fleet.hosts), {},
                 pinned=pinned)
    probe = "%s.%s" % (fleet.vms[0][0], ZONE)
    mp.wait_answer(probe, "A", 0, 1)
    hs.wait_answer(probe, "A", 0, 1)
    return mp, hs


def ab_rounds(args, pair, path, log, tag, pinned=True, rounds=None, outstanding=None):
    """The A/B machinery: after a 1 s warm-up of each server (not reported),
    `rounds` (default args.rounds) rounds of args.duration s per server, on one query file:
    A then B in odd rounds, B then A in even ones. pair: ((label_a,
    server_a), (label_b, server_b)), or more servers with the baseline
    last (the order is reversed in even rounds). Each round's ratio is A's
    QPS / the baseline's, `ratios` has every server's; alternating in one
    run cancels slow drifts of the machine, and swapping the order cancels
    what going first or second costs (an A/A run of one order gave 0.95).
    pinned: as dnsperf takes it. outstanding: dnsperf's -q (default
    args.outstanding). Returns the rounds."""
    a, b = pair[0][0], pair[-1][0]
    outstanding = outstanding or args.outstanding
    for _, server in pair:  # warm-up, not reported
        dnsperf(args, server.port, path, ["-l", "1", "-q", str(outstanding)],
                pinned=pinned)
    count = rounds or args.rounds
    rounds = []
    for r in range(count):
        row = {}
        for label, server in (pair if r % 2 == 0 else pair[::-1]):
            with Sampler(server) as sampler:
                res = dnsperf(args, server.port, path,
                              ["-l", str(args.duration), "-q", str(outstanding)],
                              server=server, pinned=pinned)
            res["peak_threads"] = sampler.peak.get("Threads")
            # qps: completed queries over the time limit, i.e. the rate
            # while dnsperf sends (after the limit at most `outstanding`
            # more complete). run_qps: dnsperf's own figure, whose run
            # time also counts the drain after the limit, that is, the
            # wait of the slowest questions still outstanding.
            res["run_qps"] = res["qps"]
            res["qps"] = res["completed"] / args.duration
            row[label] = res
            log("  %s round %d %-9s %8.0f qps (whole run %6.0f)  lost %d  "
                "cpu server %3.0f%% client %3.0f%% other %3.0f%%  %s" % (
                    tag, r + 1, label, res["qps"], res["run_qps"], res["lost"],
                    res["server_cpu_pct"], res["client_cpu_pct"],
                    res["foreign_cpu_pct"], res["rcodes"]))
        row["ratios"] = {k: row[k]["qps"] / row[b]["qps"] for k, _ in pair[:-1]}
        row["ratio"] = row["ratios"][a]
        row["run_ratio"] = row[a]["run_qps"] / row[b]["run_qps"]
        # Queries per CPU-second of the server (completed queries over the
        # CPU time of the whole run): robust against other processes
        # taking CPU from the server during a round.
        for k, _ in pair:
            cpu = row[k]["server_cpu_pct"] or 0
            row[k]["qps_per_cpu"] = row[k]["run_qps"] / (cpu / 100) if cpu else None
        if row[b]["qps_per_cpu"]:
            row["cpu_ratios"] = {k: row[k]["qps_per_cpu"] / row[b]["qps_per_cpu"]
                                 for k, _ in pair[:-1] if row[k]["qps_per_cpu"]}
            if a in row["cpu_ratios"]:
                row["cpu_ratio"] = row["cpu_ratios"][a]
        rounds.append(row)
    return rounds


def ab_summary(rounds, labels):
    """The medians of ab_rounds' rounds, and what says how far to trust them."""
    ratios = [row["ratio"] for row in rounds]
    cpu_ratios = [row["cpu_ratio"] for row in rounds if row.get("cpu_ratio")]
    cpu_by_label = {k: [row["cpu_ratios"][k] for row in rounds if k in row.get("cpu_ratios", {})]
                    for k in labels[:-1]}
    return {
        "rounds": rounds,
        "median_ratio": statistics.median(ratios),
        "ratio_spread": [min(ratios), max(ratios)],
        "median_ratios": {k: statistics.median(row["ratios"][k] for row in rounds)
                          for k in labels[:-1]},
        "median_run_ratio": statistics.median(row["run_ratio"] for row in rounds),
        "median_cpu_ratio": statistics.median(cpu_ratios) if cpu_ratios else None,
        "median_cpu_ratios": {k: statistics.median(v) for k, v in cpu_by_label.items() if v},
        "median_qps": {k: statistics.median(row[k]["qps"] for row in rounds)
                       for k in labels},
        "lost": {k: sum(row[k]["lost"] or 0 for row in rounds) for k in labels},
        "peak_threads": {k: max(row[k]["peak_threads"] or 0 for row in rounds)
                         for k in labels},
        "max_foreign_cpu_pct": max(row[k]["foreign_cpu_pct"] for row in rounds
                                   for k in labels),
    }


def measure_throughput(args, fleet, mp, hs, rng, log, mixes=None, pinned=True):
    """The A/B of multipass against hosts for each mix (default: the fleet's
    mixes); pinned False: the unpinned row, servers and dnsperf as a user
    runs them (its result says so under "unpinned")."""
    results = []
    for mix in mixes or args.mixes_for(fleet.size):
        path, comp = fleet.query_file(mix, rng)
        runs_before = fleet.runs_by_kind()
        # A question for an unknown single label waits for a look (up to a
        # second); with 100 outstanding, those waiting hold every slot and
        # the client stops sending (issue 25 removed the cap of 16 that
        # answered the rest NXDOMAIN at once): a mix with unknown names
        # keeps args.outstanding_unknown outstanding, for both servers.
        outstanding = args.outstanding_unknown if "unknown" in mix else args.outstanding
        rounds = ab_rounds(args, (("multipass", mp), ("hosts", hs)), path, log,
                           "%-6s %-18s" % (fleet.size, mix if pinned else mix + " unpinned"),
                           pinned=pinned, rounds=None if pinned else args.unpinned_rounds,
                           outstanding=outstanding)
        result = {"fleet": fleet.size, "mix": mix, "composition": comp,
                  "outstanding": outstanding}
        if not pinned:
            result["unpinned"] = "no taskset, default GOMAXPROCS; dnsperf -T %d -c %d" % (
                args.unpinned_threads, args.unpinned_clients)
        result.update(ab_summary(rounds, ("multipass", "hosts")))
        result["cli_runs_by_kind"] = Fleet.kinds_between(runs_before, fleet.runs_by_kind())
        result["cli_runs_during"] = result["cli_runs_by_kind"]["runs"]
        results.append(result)
    return results


def measure_foreign(args, fleet, log):
    """Names outside the plugin's zones: `. { multipass vm.test { probe off };
    whoami }` and CoreDNS's own `any` in the same place (`. { any; whoami }`:
    one type check, then the next plugin) against `. { whoami }`, all three
    answered by whoami, alternated by ab_rounds. The plugin's own cost per
    foreign question is the first against the second: the hop to the next
    plugin is any plugin's. `probe off` keeps the cheap listing (every 5 s by
    default: a fork and the stand-in's Python on the machine) out of it;
    measure_probe_cost measures that cost at rest, apart."""
    path = os.path.join(args.work, "queries-foreign.txt")
    with open(path, "w") as f:
        for i in range(args.foreign_names):
            f.write("host-%05d.example%d.com A\n" % (i, i % 7))
    labels = ("multipass probe off", "any", "whoami")
    corefiles = dict(zip(labels, (
        root_corefile(["binary %s" % args.fake, "probe off", "refresh 1h", "ttl 10"]),
        root_corefile(front="any"), root_corefile())))
    servers = [CoreDNS("foreign-" + k.split()[0], args, corefiles[k],
                       {"MULTIPASS_FAKE_DIR": fleet.dir} if k.startswith("multipass") else {})
               for k in labels]
    try:
        servers[0].wait_answer("%s.%s" % (fleet.vms[0][0], ZONE), "A", 0, 1)
        for server in servers:
            server.wait_answer("host-00000.example0.com", "A", 0, 0)
        runs_before = fleet.runs_by_kind()
        rounds = ab_rounds(args, tuple(zip(labels, servers)), path, log,
                           "%-6s %-18s" % ("", "foreign names"))
        result = {"fleet": fleet.size, "names": args.foreign_names,
                  "labels": list(labels), "corefiles": corefiles}
        result.update(ab_summary(rounds, labels))
        result["cli_runs_by_kind"] = Fleet.kinds_between(runs_before, fleet.runs_by_kind())
        result["cli_runs_during"] = result["cli_runs_by_kind"]["runs"]
        # The plugin against any, round by round (both over whoami's QPS).
        result["median_plugin_vs_control"] = statistics.median(
            row["ratios"][labels[0]] / row["ratios"][labels[1]] for row in rounds)
    finally:
        for server in servers:
            server.stop()
    return result


def process_cpu(pid):
    """(CPU seconds of pid itself, CPU seconds of its reaped children) from
    the kernel's per-process accounting: utime+stime and cutime+cstime of
    /proc/PID/stat, in clock ticks (10 ms)."""
    with open("/proc/%d/stat" % pid) as f:
        stat = [int(x) for x in f.read().rsplit(")", 1)[1].split()[11:15]]
    return (stat[0] + stat[1]) / TICK, (stat[2] + stat[3]) / TICK


# The plugin's default `refresh` (multipass_source_options_init), seconds.
DEFAULT_REFRESH_S = 600


def parse_seconds(text):
    """'60s', '10m', '1h' -> seconds."""
    return float(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]


def measure_probe_cost(args, log):
    """What the probe costs a host at rest: four CoreDNS processes, idle
    together as a user runs them (no pinning, default GOMAXPROCS), nothing
    asked after their first answer, each with its own stand-in directory
    holding args.probe_cost_vms Running VMs: the plugin at the default
    intervals (a cheap listing every 5 s, a full one at least every 10 min),
    the same with the old default `refresh 60s`, the plugin with `probe off`
    (full listings every 10 min only), and whoami alone. Over the same window
    (args.probe_cost_s), the CPU of each process and, apart, of its CLI
    children (the stand-in: Python, whose start-up is most of a run; the
    real CLI's costs otherwise), per hour, and the guest sessions its full
    listings opened (one per Running VM each), per hour: measured in the
    window, and by the schedule (a full listing every `refresh` at rest)."""
    make_fleet = load_fixture(args, "make_fleet")
    listing = make_fleet.render(make_fleet.fleet(args.probe_cost_vms))
    cases = [("multipass, default intervals", []),
             ("multipass, old default refresh 60s", ["refresh 60s"]),
             ("multipass, probe off", ["probe off"]),
             ("whoami only", None)]
    servers = []
    try:
        for i, (title, options) in enumerate(cases):
            fake_dir = os.path.join(args.work, "probe-cost-%d" % i)
            os.makedirs(fake_dir, exist_ok=True)
            write_atomically(os.path.join(fake_dir, "list.json"), listing)
            block = None if options is None else ["binary %s" % args.stand_in, "ttl 10"] + options
            server = CoreDNS("probe-cost-%d" % i, args, root_corefile(block),
                             {"MULTIPASS_FAKE_DIR": fake_dir}, pinned=False)
            server.runs_log = os.path.join(fake_dir, "runs.log")
            servers.append(server)
        for server, (_, options) in zip(servers, cases):
            name = "vm-00001.%s" % ZONE if options is not None else ZONE
            server.wait_answer(name, "A", 0, 1 if options is not None else 0)
        time.sleep(args.idle_settle_s)

        def snapshot():
            return [(process_cpu(s.proc.pid), Fleet.count_kinds(s.runs_log)) for s in servers]
        before, t0 = snapshot(), time.monotonic()
        time.sleep(args.probe_cost_s)
        after, seconds = snapshot(), time.monotonic() - t0
        per_hour = 3600.0 / seconds
        out = {"seconds": seconds, "vms": args.probe_cost_vms, "quick": args.quick, "cases": []}
        for server, (title, options), b, a in zip(servers, cases, before, after):
            kinds = Fleet.kinds_between(b[1], a[1])
            own, children = a[0][0] - b[0][0], a[0][1] - b[0][1]
            refresh = [o.split()[1] for o in options or [] if o.startswith("refresh ")]
            refresh_s = parse_seconds(refresh[0]) if refresh else DEFAULT_REFRESH_S
            case = {"title": title, "coredns_cpu_s": own, "cli_cpu_s": children,
                    "coredns_cpu_s_per_hour": own * per_hour,
                    "cli_cpu_s_per_hour": children * per_hour,
                    "cli_runs_by_kind": kinds, "cli_runs": kinds["runs"],
                    "sessions_per_hour": kinds["sessions"] * per_hour,
                    "sessions_per_hour_schedule": args.probe_cost_vms * 3600.0 / refresh_s
                    if options is not None else 0,
                    "corefile": open(server.conf).read()}
            out["cases"].append(case)
            log("  probe cost, at rest %5.1fs %-36s CoreDNS %6.1f CPU s/h  CLI children "
                "%6.1f CPU s/h  CLI runs %d (%d full, %d cheap)  guest sessions/h %.0f "
                "(schedule %.0f)" % (
                    seconds, title, case["coredns_cpu_s_per_hour"], case["cli_cpu_s_per_hour"],
                    kinds["runs"], kinds["full"], kinds["probe"], case["sessions_per_hour"],
                    case["sessions_per_hour_schedule"]))
    finally:
        for server in servers:
            server.stop()
    return out


def measure_idle(args, fleet, log):
    """Context switches per second of all threads of idle CoreDNS processes
    (/proc/PID/task/*/status), run as a user runs them (no pinning, default
    GOMAXPROCS), all three at once over the same window: the plugin at its
    default intervals, the plugin at `refresh 1h`, and whoami alone."""
    cases = [("multipass, default intervals", ["binary %s" % args.fake]),
             ("multipass, refresh 1h", ["binary %s" % args.fake, "refresh 1h"]),
             ("whoami only", None)]
    servers = []
    try:
        for i, (title, options) in enumerate(cases):
            fake_dir = os.path.join(args.work, "idle-%d" % i)
            os.makedirs(fake_dir, exist_ok=True)
            shutil.copy(os.path.join(fleet.dir, "list.json"), fake_dir)
            server = CoreDNS("idle-%d" % i, args, root_corefile(options),
                             {"MULTIPASS_FAKE_DIR": fake_dir}, pinned=False)
            server.runs_log = os.path.join(fake_dir, "runs.log")
            servers.append(server)
        for server, (_, options) in zip(servers, cases):
            if options is not None:
                server.wait_answer("%s.%s" % (fleet.vms[0][0], ZONE), "A", 0, 1)
            else:
                server.wait_answer(ZONE, "A", 0, 0)
        time.sleep(args.idle_settle_s)  # start-up work done, first listing loaded

        def snapshot():
            return [(s.context_switches(), Fleet.count_kinds(s.runs_log)) for s in servers]
        before, t0 = snapshot(), time.monotonic()
        time.sleep(args.idle_s)
        after, seconds = snapshot(), time.monotonic() - t0
        out = {"seconds": seconds, "cases": []}
        for server, (title, _), b, a in zip(servers, cases, before, after):
            kinds = Fleet.kinds_between(b[1], a[1])
            case = {"title": title, "context_switches": a[0] - b[0],
                    "per_second": (a[0] - b[0]) / seconds, "cli_runs": kinds["runs"],
                    "cli_runs_by_kind": kinds,
                    "threads": server.status().get("Threads")}
            out["cases"].append(case)
            log("  idle %4.1fs %-30s %6d context switches = %6.1f/s  CLI runs %d  "
                "threads %s" % (seconds, title, case["context_switches"], case["per_second"],
                               case["cli_runs"], case["threads"]))
    finally:
        for server in servers:
            server.stop()
    return out


def write_atomically(path, text):
    """Replaces path at once (the stand-in may be reading it)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def measure_daemon_cost(args, rng, log):
    """What the plugin costs multipassd and the guests: a fleet of
    args.daemon_vms Running VMs whose full listings open one guest session
    per VM (the stand-in's guest-delay-ms each), served by two CoreDNS at
    once (their windows overlap): the defaults (probe 5s, refresh 10m) and
    the old behaviour (probe off, refresh 5s). Per configuration, from the
    run logs: an idle window, a flood of distinct unknown names, then VMs
    launched into list.json with no question asked, each seen when the SOA
    serial at the apex changes (the serial grows with the inventory; a
    question at the apex never takes the miss path)."""
    make_fleet = load_fixture(args, "make_fleet")
    vms = make_fleet.fleet(args.daemon_vms)
    configs = [
        {"title": "defaults (probe 5s, refresh 10m)", "refresh": None, "options": [],
         "probe_s": 5, "refresh_s": DEFAULT_REFRESH_S},
        {"title": "old: probe off, refresh 5s", "refresh": "5s", "options": ["probe off"],
         "probe_s": None, "refresh_s": 5},
    ]
    flood = os.path.join(args.work, "queries-daemon-flood.txt")
    with open(flood, "w") as f:
        for i in range(args.daemon_flood_rate * args.daemon_flood_s):
            f.write("gone-%06d.%s A\n" % (i, ZONE))
    servers = []
    try:
        for i, c in enumerate(configs):
            c["dir"] = os.path.join(args.work, "daemon-cost-%d" % i)
            os.makedirs(c["dir"], exist_ok=True)
            write_atomically(os.path.join(c["dir"], "list.json"), make_fleet.render(vms))
            write_atomically(os.path.join(c["dir"], "guest-delay-ms"),
                             "%g\n" % args.daemon_guest_delay_ms)
            c["runs_log"] = os.path.join(c["dir"], "runs.log")
            open(c["runs_log"], "w").close()
            server = CoreDNS("daemon-cost-%d" % i, args,
                             multipass_corefile(args, c["refresh"], options=c["options"]),
                             {"MULTIPASS_FAKE_DIR": c["dir"]}, pinned=False)
            servers.append(server)
        for server in servers:
            server.wait_answer("%s.%s" % (vms[0]["name"], ZONE), "A", 0, 1)
        for c in configs:
            c["startup"] = Fleet.count_kinds(c["runs_log"])

        def window(seconds=None, load=None):
            """Run-log counts of every configuration over a sleep or a load."""
            before = [Fleet.count_kinds(c["runs_log"]) for c in configs]
            t0 = time.monotonic()
            if load:
                threads = [threading.Thread(target=load, args=(server, c))
                           for server, c in zip(servers, configs)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            else:
                time.sleep(seconds)
            elapsed = time.monotonic() - t0
            return elapsed, [Fleet.kinds_between(b, Fleet.count_kinds(c["runs_log"]))
                             for b, c in zip(before, configs)]

        # Idle: nothing asked.
        seconds, counts = window(args.daemon_idle_s)
        for c, n in zip(configs, counts):
            c["idle"] = dict(n, seconds=seconds,
                             per_30s={k: n[k] * 30.0 / seconds for k in n})
            log("  daemon cost, idle %5.1fs  %-34s full %3d  cheap %3d  guest sessions %4d" % (
                seconds, c["title"], n["full"], n["probe"], n["sessions"]))

        # A flood of distinct unknown names, to both servers at once.
        def flood_load(server, c):
            at_server = server_socket_drops(server.port)
            c["flood_dnsperf"] = dnsperf(args, server.port, flood,
                                         ["-n", "1", "-Q", str(args.daemon_flood_rate),
                                          "-q", "20000"])
            c["flood_dnsperf"]["server_socket_drops"] = \
                server_socket_drops(server.port) - at_server
        seconds, counts = window(load=flood_load)
        for c, n in zip(configs, counts):
            periodic = seconds / c["refresh_s"]
            c["flood"] = dict(n, seconds=seconds, rate_qps=args.daemon_flood_rate,
                              periodic=periodic,
                              beyond_periodic=max(0, n["full"] - math.ceil(periodic)),
                              dnsperf=c.pop("flood_dnsperf"))
            log("  daemon cost, flood %5.1fs %-34s full %3d (periodic %.1f, beyond %d)  "
                "cheap %3d  guest sessions %4d  lost %d (at the server's socket %d)" % (
                    seconds, c["title"], n["full"], periodic, c["flood"]["beyond_periodic"],
                    n["probe"], n["sessions"], c["flood"]["dnsperf"]["lost"] or 0,
                    c["flood"]["dnsperf"]["server_socket_drops"]))

        # Launches, seen with no question asked: both configurations at once.
        def launches(server, c):
            c["launches"] = []
            launched = []
            for k in range(args.daemon_launches):
                time.sleep(c["pause"][k])
                serial = soa_serial(server.port)
                name = "launched-%d" % (k + 1)
                launched.append({"ipv4": ["10.200.0.%d" % (k + 1)], "name": name,
                                 "release": vms[0]["release"], "state": "Running"})
                write_atomically(os.path.join(c["dir"], "list.json"),
                                 make_fleet.render(vms + launched))
                t0 = time.monotonic()
                deadline = t0 + c["refresh_s"] + 30
                seen = None
                while time.monotonic() < deadline:
                    now = soa_serial(server.port)
                    if now is not None and now != serial:
                        seen = time.monotonic() - t0
                        break
                    time.sleep(0.1)
                # The serial grows at the cheap listing that shows the VM
                # (its names and states are served at once); its address
                # comes with the full listing that follows: the question
                # waits for it (up to the wait bound, 2 s).
                answer = dns_query(server.port, "%s.%s" % (name, ZONE), "A", timeout=3)
                c["launches"].append({"name": name, "seen_s": seen,
                                      "answers": bool(answer and answer[0] == 0 and answer[1])})
        for c in configs:  # the same random phases for both
            c["pause"] = [rng.uniform(0, 5) for _ in range(args.daemon_launches)]
        seconds, counts = window(load=launches)
        out = {"vms": args.daemon_vms, "guest_delay_ms": args.daemon_guest_delay_ms,
               "quick": args.quick, "configs": []}
        for c, n in zip(configs, counts):
            seen = [x["seen_s"] for x in c["launches"]]
            c["launch_runs"] = n
            c["launch_bound_s"] = (c["probe_s"] or c["refresh_s"]) + 1.0
            log("  daemon cost, launches %-34s seen after %s s (bound %.1f s)  answered %s" % (
                c["title"], " / ".join("%.2f" % x if x is not None else "never" for x in seen),
                c["launch_bound_s"], [x["answers"] for x in c["launches"]]))
            c.pop("pause")
            out["configs"].append({k: v for k, v in c.items() if k not in ("dir", "runs_log")})
        for c, server in zip(out["configs"], servers):
            with open(server.conf) as f:
                c["corefile"] = f.read()
    finally:
        for server in servers:
            server.stop()
    return out


# --------------------------------------------------------------------------
# VM lifecycle (issue 18): the stand-in plays each command as a timeline
# (tests/fake-multipass/README.md); every server of a phase plays the same
# one, on the same clock.

# (title, the VM's line at 0 or None, steps (seconds from the command, state),
#  the step the answer is timed from, the right answer (rcode, addresses))
LIFECYCLE = [
    ("launch", None, [(0, "Starting"), (1, "Running 10.111.0.1")], 1, (0, ["10.111.0.1"])),
    ("start", "Stopped", [(0, "Starting"), (0.5, "Running N/A"), (1, "Running 10.111.0.2")],
     1, (0, ["10.111.0.2"])),
    ("restart (new address)", "Running 10.111.0.3",
     [(0, "Restarting"), (7, "Starting"), (7.5, "Running N/A"), (8, "Running 10.111.0.4")],
     8, (0, ["10.111.0.4"])),
    ("resume", "Suspended", [(0.3, "Running 10.111.0.5")], 0.3, (0, ["10.111.0.5"])),
    ("stop", "Running 10.111.0.6", [(0, "Stopped")], 0, (0, [])),
    ("delete", "Running 10.111.0.7", [(0, "Deleted")], 0, (3, [])),
    ("delete --purge, launch again", "Running 10.111.0.8",
     [(0, "Deleted"), (0.3, "purged"), (7, "Starting"), (8, "Running 10.111.0.9")],
     8, (0, ["10.111.0.9"])),
    ("address 15 s after Running", "Stopped",
     [(0, "Starting"), (1, "Running N/A"), (16, "Running 10.111.0.10")], 16, (0, ["10.111.0.10"])),
]
LIFECYCLE_FLEET = ["vm-%02d Running 10.110.25.%d" % (i, i) for i in range(1, 21)]


def load_fixture(args, name):
    """tests/fixtures/<name>.py as a module (make_fleet, unbound_front)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(args.root, "tests", "fixtures", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LifecycleServer:
    """One CoreDNS build over its own stand-in directory playing a timeline,
    asked directly or through an Unbound of its own (a caching resolver in
    front, as users run one)."""

    def __init__(self, args, name, build, binary, via):
        self.build, self.via = build, via
        self.dir = os.path.join(args.work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.runs_log = os.path.join(self.dir, "runs.log")
        self.name, self.binary, self.unbound = name, binary, None
        self.server = None

    def play(self, start, lines):
        write_atomically(os.path.join(self.dir, "timeline"),
                         "start %.6f\n%s\n" % (start, "\n".join(lines)))

    def start(self, args, check_name):
        self.server = CoreDNS(self.name, args, multipass_corefile(args, None),
                              {"MULTIPASS_FAKE_DIR": self.dir}, pinned=False,
                              binary=self.binary)
        self.server.wait_answer(check_name, "A", 0, 1)
        self.port = self.server.port
        if self.via == "unbound":
            self.port = free_port()
            self.unbound = args.unbound_front.start(
                os.path.join(self.dir, "unbound"), self.port, self.server.port)
            deadline = time.monotonic() + 15
            while not (a_answer(self.port, check_name, 1.0) or (None, []))[1]:
                if time.monotonic() > deadline or self.unbound[0].poll() is not None:
                    raise RuntimeError("%s: Unbound does not answer" % self.name)
                time.sleep(0.1)

    def log_lines(self, level):
        with open(self.server.log.name, errors="replace") as f:
            return [l for l in f if l.startswith("[%s] plugin/multipass" % level)]

    def stop(self):
        if self.server:
            self.server.stop()
        if self.unbound:
            self.unbound[0].terminate()
            self.unbound[0].wait()
            self.unbound[1].close()


def until_right(port, qname, expected, since, limit):
    """Asks qname A every 100 ms from Unix time `since` until the answer is
    `expected`; returns (whether the first answer was, seconds from `since`
    to the first right one or None)."""
    time.sleep(max(0.0, since - time.time()))
    first = None
    while time.time() < since + limit:
        right = a_answer(port, qname) == expected
        first = right if first is None else first
        if right:
            return first, time.time() - since
        time.sleep(0.1)
    return bool(first), None


def in_threads(calls):
    """Runs the callables at once; returns their results in order."""
    out = [None] * len(calls)

    def run(i):
        out[i] = calls[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def lifecycle_servers(args, phase):
    builds = [("now", args.coredns)]
    if args.baseline_coredns:
        builds.append(("today", args.baseline_coredns))
    return [LifecycleServer(args, "lifecycle-%s-%s-%s" % (phase, build, via), build, binary, via)
            for build, binary in builds for via in ("direct", "unbound")]


def measure_lifecycle(args, log):
    """Phase 1 (1.16: an address not known yet lists as "N/A"): a fleet of
    20 Running VMs and one that never gets an address; after a settle
    longer than the default refresh, each way a VM comes up or goes, timed
    from the moment the stand-in shows it to the first right answer, asked
    every 100 ms directly or through Unbound, with the listings meanwhile.
    Phase 2 (main: a full listing fails while a VM boots): 30 s of failing
    full listings under 5 unknown names a second, two VMs stopped or
    deleted meanwhile, then the booted VM's address."""
    args.unbound_front = load_fixture(args, "unbound_front")
    if args.unbound_front.binary() is None:
        sys.exit("dns_bench: unbound not found (scripts/install-deps.sh installs it)")
    out = {"quick": args.quick, "settle_s": args.lifecycle_settle_s,
           "baseline": args.baseline_coredns, "scenarios": []}
    servers = lifecycle_servers(args, "116")
    start = time.time()
    lines = ["0 %s" % l for l in LIFECYCLE_FLEET + ["never Running N/A"]]
    lines += ["0 lc-%d %s" % (i, s[1]) for i, s in enumerate(LIFECYCLE) if s[1]]
    try:
        for s in servers:
            s.play(start, lines)
            s.start(args, "vm-01.%s" % ZONE)
        time.sleep(max(0.0, start + args.lifecycle_settle_s - time.time()))
        for i, (title, _, steps, timed_from, expected) in enumerate(LIFECYCLE):
            vm = "lc-%d" % i
            command = time.time() - start + 0.5
            lines += ["%.3f %s %s" % (command + d, vm, state) for d, state in steps]
            before = [Fleet.count_kinds(s.runs_log) for s in servers]
            for s in servers:
                s.play(start, lines)
            since = start + command + timed_from
            got = in_threads([lambda s=s: until_right(s.port, "%s.%s" % (vm, ZONE), expected,
                                                      since, args.lifecycle_limit_s)
                              for s in servers])
            row = {"title": title, "servers": []}
            for s, b, (first, after) in zip(servers, before, got):
                row["servers"].append({
                    "build": s.build, "via": s.via, "first_right": first, "right_after_s": after,
                    "runs": Fleet.kinds_between(b, Fleet.count_kinds(s.runs_log))})
            out["scenarios"].append(row)
            log("  lifecycle %-30s %s" % (title, "  ".join(
                "%s/%s: %s %s" % (x["build"], x["via"], "first" if x["first_right"] else "later",
                                  "%.2f s" % x["right_after_s"] if x["right_after_s"] is not None
                                  else "never") for x in row["servers"])))
    finally:
        for s in servers:
            s.stop()
    out["boot"] = measure_failing_boot(args, log)
    return out


def measure_failing_boot(args, log):
    servers = lifecycle_servers(args, "main")
    start = time.time()
    lines = ["cli main", "banner"] + ["0 %s" % l for l in LIFECYCLE_FLEET] + ["0 boot Stopped"]
    out = {"unknown_qps": 5, "failing_s": 30, "servers": []}
    try:
        for s in servers:
            s.play(start, lines)
            s.start(args, "vm-01.%s" % ZONE)
        time.sleep(1.1)
        c = time.time() - start + 0.5
        lines += ["%.3f %s" % (c + d, step) for d, step in (
            (0, "boot Starting"), (1, "boot Running N/A"), (8, "vm-05 Stopped"),
            (12, "vm-06 Deleted"), (31, "boot Running 10.111.1.1"))]
        for s in servers:
            s.play(start, lines)
        stop = threading.Event()

        def unknown_names(port):  # sent, not awaited: 5 a second
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                i = 0
                while not stop.wait(1.0 / out["unknown_qps"]):
                    i += 1
                    wire = b"".join(bytes([len(p)]) + p.encode()
                                    for p in ("gone-%d" % i, "vm", "test")) + b"\0"
                    sock.sendto(struct.pack(">6H", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + wire +
                                struct.pack(">2H", 1, 1), ("127.0.0.1", port))
        load = [threading.Thread(target=unknown_names, args=(s.server.port,)) for s in servers]
        for t in load:
            t.start()
        checks = [("vm-05", 8, (0, [])), ("vm-06", 12, (3, [])), ("boot", 31, (0, ["10.111.1.1"]))]
        got = {}
        watch = threading.Thread(target=lambda: got.update(answers=in_threads([
            lambda s=s, vm=vm, at=at, want=want: until_right(
                s.port, "%s.%s" % (vm, ZONE), want, start + c + at, args.lifecycle_limit_s)
            for s in servers for vm, at, want in checks])))
        watch.start()
        # The listings while full ones fail: from the boot (c + 1) to its end.
        time.sleep(max(0.0, start + c + 1 - time.time()))
        failing_from = [Fleet.count_kinds(s.runs_log) for s in servers]
        time.sleep(max(0.0, start + c + 31 - time.time()))
        failing_to = [Fleet.count_kinds(s.runs_log) for s in servers]
        watch.join()
        stop.set()
        for t in load:
            t.join()
        for k, s in enumerate(servers):
            answers = got["answers"][k * len(checks):(k + 1) * len(checks)]
            out["servers"].append({
                "build": s.build, "via": s.via,
                "failing_runs": Fleet.kinds_between(failing_from[k], failing_to[k]),
                "answers": {vm: {"first_right": a[0], "right_after_s": a[1]}
                            for (vm, _, _), a in zip(checks, answers)},
                "warnings": len(s.log_lines("WARNING")), "errors": len(s.log_lines("ERROR")),
                "recovered": len([l for l in s.log_lines("INFO") if "works again" in l]),
                "error_lines": [l.strip() for l in s.log_lines("WARNING") + s.log_lines("ERROR")][:3]})
        for x in out["servers"]:
            log("  lifecycle main boot %s/%s: %s" % (x["build"], x["via"], x["answers"]))
    finally:
        for s in servers:
            s.stop()
    return out


def measure_latency(args, fleet, mp, hs, rng, mix, log):
    path, comp = fleet.query_file(mix, rng)
    out = {"fleet": fleet.size, "mix": mix, "rate_qps": args.latency_rate,
           "composition": comp}
    for label, server in (("multipass", mp), ("hosts", hs)):
        with Sampler(server) as sampler:
            res = dnsperf(args, server.port, path,
                          ["-l", str(args.latency_duration), "-Q", str(args.latency_rate),
                           "-q", "1000"], verbose=True, server=server)
        summary = latency_summary(res.pop("responses"))
        out[label] = {"dnsperf": res, "percentiles": summary,
                      "peak_threads": sampler.peak.get("Threads")}
        a = summary.get("all", {})
        log("  %-6s latency %-18s %-9s p50 %6.0f us  p99 %6.0f us  max %7.0f us  lost %d" % (
            fleet.size, mix, label, a.get("p50_us") or 0, a.get("p99_us") or 0,
            a.get("max_us") or 0, res["lost"]))
    return out


def udp_rcvbuf_errors():
    """The kernel's count of UDP datagrams dropped because a socket's receive
    buffer was full, all sockets together."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def server_socket_drops(port):
    """Datagrams the kernel dropped at the UDP socket listening on
    127.0.0.1:port (the server's), so far: /proc/net/udp's `drops`."""
    local = "0100007F:%04X" % port
    with open("/proc/net/udp") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[1] == local:
                return int(fields[-1])
    return 0


def measure_miss_flood(args, fleet, mp, hs, log):
    """Only distinct unknown single-label names, at each rate of
    args.flood_rates for args.flood_s: every such question waits for a look
    (a cheap listing, at most one a second), up to the wait bound (2 s),
    and is then answered NXDOMAIN. What that costs each server while the
    flood lasts: its OS threads and memory (VmRSS, RssAnon; sampled every
    20 ms), the listings it runs, the answer times and rcodes."""
    out = {"fleet": fleet.size, "seconds": args.flood_s, "rates": []}
    for rate in args.flood_rates:
        path = os.path.join(fleet.dir, "queries-unknown-%d.txt" % rate)
        with open(path, "w") as f:
            for i in range(rate * args.flood_s):
                f.write("flood-%d-%06d.%s A\n" % (rate, i, ZONE))
        row = {"rate_qps": rate}
        for label, server in (("multipass", mp), ("hosts", hs)):
            before = server.status()
            runs_before = fleet.runs_by_kind()
            dropped, at_server = udp_rcvbuf_errors(), server_socket_drops(server.port)
            with Sampler(server, 0.02) as sampler:
                res = dnsperf(args, server.port, path,
                              ["-n", "1", "-Q", str(rate), "-q", str(max(20000, 3 * rate))],
                              verbose=True, server=server)
            summary = latency_summary(res.pop("responses"))
            at_server = server_socket_drops(server.port) - at_server
            row[label] = {"before": before, "peak": dict(sampler.peak),
                          "rcvbuf_errors": udp_rcvbuf_errors() - dropped,
                          "server_socket_drops": at_server,
                          "after": server.status(), "dnsperf": res, "percentiles": summary,
                          "cli_runs_by_kind": Fleet.kinds_between(runs_before, fleet.runs_by_kind())
                          if label == "multipass" else None}
            row[label]["cli_runs"] = row[label]["cli_runs_by_kind"]["runs"] \
                if label == "multipass" else 0
            a = summary.get("all", {})
            log("  %-6s unknown-name flood %5d qps %-9s threads %s -> peak %s  RssAnon %s -> "
                "peak %s KiB  p50 %.0f us  max %.0f us  lost %d (socket drops %d, at the "
                "server's %d)  server CPU %.0f%%  rcodes %s" % (
                    fleet.size, rate, label, before.get("Threads"), sampler.peak.get("Threads"),
                    before.get("RssAnon"), sampler.peak.get("RssAnon"), a.get("p50_us") or 0,
                    a.get("max_us") or 0, res["lost"] or 0, row[label]["rcvbuf_errors"],
                    at_server, res["server_cpu_pct"] or 0, res["rcodes"]))
        out["rates"].append(row)
    return out


def measure_memory(args, fleets, rng, log):
    """RSS of CoreDNS with the plugin at 0 and 10,000 VMs (refresh 1s, so
    that refreshes run during the measure), after the same apex load."""
    apex = os.path.join(args.work, "queries-apex.txt")
    with open(apex, "w") as f:
        f.write("%s SOA\n%s NS\n" % (ZONE, ZONE))
    out = {}
    for size in (0, max(args.sizes)):
        fleet = fleets[size]
        open(fleet.runs_log, "w").close()
        server = CoreDNS("memory-%d" % size, args,
                         multipass_corefile(args, "1s"),
                         {"MULTIPASS_FAKE_DIR": fleet.dir})
        try:
            server.wait_answer(ZONE, "SOA", 0, 1)
            time.sleep(1.0)
            ready = server.status()
            dnsperf(args, server.port, apex, ["-l", str(args.memory_load_s), "-q", "100"])
            after = server.status()
            entry = {"ready": ready, "after_apex_load": after}
            if size > 0:
                path, _ = fleet.query_file("hits", rng)
                dnsperf(args, server.port, path, ["-l", str(args.memory_load_s), "-q", "100"])
                entry["after_hits_load"] = server.status()
            entry["cli_runs"] = fleet.runs()
            out[str(size)] = entry
            log("  memory %5d VMs: ready %s, after load %s" % (size, ready, after))
        finally:
            server.stop()
    return out


def measure_cli_runs(args, fleet, rng, log):
    """CLI runs during 100,000 queries with refresh 2s: one block; two blocks
    with the same options; and a time-limited run with unknown names."""
    refresh_s = 2
    out = {"refresh_s": refresh_s, "fleet": fleet.size, "cases": []}
    hits, _ = fleet.query_file("hits", rng)
    mixed, mixed_comp = fleet.query_file("hits+aaaa+unknown", rng)
    per_file = sum(1 for _ in open(hits))
    passes = max(1, 100000 // per_file)
    rate = ["-Q", str(args.cli_rate)]  # 100,000 queries over several refreshes
    out["rate_qps"] = args.cli_rate
    cases = [
        ("one server block, hits only", (ZONE,), hits, ["-n", str(passes)] + rate),
        ("two server blocks (vm.test, lab.test), same options, hits only",
         (ZONE, SECOND_ZONE), hits, ["-n", str(passes)] + rate),
        ("one server block, hits+aaaa+unknown, %ds" % args.cli_mixed_s, (ZONE,),
         mixed, ["-l", str(args.cli_mixed_s)]),
    ]
    for title, zones, path, limit in cases:
        open(fleet.runs_log, "w").close()
        server = CoreDNS("cli-runs", args,
                         multipass_corefile(args, "%ds" % refresh_s, zones),
                         {"MULTIPASS_FAKE_DIR": fleet.dir})
        try:
            server.wait_answer("%s.%s" % (fleet.vms[0][0], ZONE), "A", 0, 1)
            time.sleep(0.2)
            before = fleet.runs_by_kind()
            t0 = time.monotonic()
            res = dnsperf(args, server.port, path, limit + ["-q", str(args.outstanding)])
            elapsed = time.monotonic() - t0
            kinds = Fleet.kinds_between(before, fleet.runs_by_kind())
            during = kinds["runs"]
        finally:
            server.stop()
        # Blocks with the same options share one source: one CLI per refresh.
        background = elapsed / refresh_s
        case = {"title": title, "server_blocks": len(zones),
                "queries": res["completed"], "lost": res["lost"],
                "qps": res["qps"], "seconds": elapsed,
                "startup_runs": before["runs"], "runs_during": during,
                "runs_by_kind": kinds,
                "expected_background": background,
                "rcodes": res["rcodes"]}
        if "unknown" in title:
            case["composition"] = mixed_comp
            case["max_on_demand"] = elapsed / 1.0  # demand_interval 1 s
        out["cases"].append(case)
        log("  cli runs: %-62s %6d queries in %5.1fs: %d runs (%d full, %d cheap; startup "
            "%d; refresh explains ~%.1f)" % (title, res["completed"] or 0, elapsed, during,
                                             kinds["full"], kinds["probe"], before["runs"],
                                             background))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="10,1000,10000")
    ap.add_argument("--mixes", default="hits,hits+aaaa+unknown")
    ap.add_argument("--extra-mix-at-largest", default="hits+aaaa",
                    help="a further mix run only at the largest fleet ('' for none)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--outstanding", type=int, default=100)
    ap.add_argument("--outstanding-unknown", type=int, default=5000,
                    help="dnsperf -q of the A/B mixes with unknown names, whose questions "
                    "for unknown single labels wait for a look")
    ap.add_argument("--latency-rate", type=int, default=5000)
    ap.add_argument("--latency-duration", type=int, default=5)
    ap.add_argument("--memory-load-s", type=int, default=4)
    ap.add_argument("--cli-mixed-s", type=int, default=10)
    ap.add_argument("--cli-rate", type=int, default=10000,
                    help="qps of the 100,000 queries of the CLI-runs measure")
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--client-cpus", default="1")
    ap.add_argument("--server-procs", type=int, default=1)
    ap.add_argument("--flood-rates", type=lambda v: [int(x) for x in v.split(",")],
                    default=[2000, 20000],
                    help="distinct unknown names per second in the flood of §7, one row each")
    ap.add_argument("--flood-s", type=int, default=2)
    ap.add_argument("--foreign-names", type=int, default=2000,
                    help="distinct names outside the zones in the foreign-names A/B")
    ap.add_argument("--probe-cost-s", type=float, default=120,
                    help="the window of the probe-cost measure (two refreshes of the old default, 60 s)")
    ap.add_argument("--probe-cost-vms", type=int, default=12,
                    help="Running VMs of the probe-cost fleet")
    ap.add_argument("--unpinned-size", type=int, default=1000,
                    help="the fleet of the unpinned A/B against hosts")
    ap.add_argument("--unpinned-threads", type=int, default=2,
                    help="dnsperf threads (-T) of the unpinned A/B")
    ap.add_argument("--unpinned-clients", type=int, default=4,
                    help="dnsperf clients (-c) of the unpinned A/B")
    ap.add_argument("--unpinned-rounds", type=int, default=11,
                    help="rounds of the unpinned A/B (its rounds stray about twice as far "
                    "as the pinned ones')")
    ap.add_argument("--idle-s", type=float, default=10,
                    help="the idle window of the idle measure")
    ap.add_argument("--idle-settle-s", type=float, default=2,
                    help="the pause between the first answer and the idle window")
    ap.add_argument("--daemon-vms", type=int, default=10,
                    help="Running VMs of the daemon-cost fleet")
    ap.add_argument("--daemon-guest-delay-ms", type=float, default=20,
                    help="the stand-in's cost of one guest session in a full listing")
    ap.add_argument("--daemon-idle-s", type=float, default=120,
                    help="the idle window of the daemon-cost measure (two default refreshes)")
    ap.add_argument("--daemon-flood-s", type=int, default=30)
    ap.add_argument("--daemon-flood-rate", type=int, default=2000,
                    help="distinct unknown names per second in the daemon-cost flood")
    ap.add_argument("--daemon-launches", type=int, default=3,
                    help="VMs launched one after the other, each seen without a question")
    ap.add_argument("--baseline-coredns", default=os.environ.get("BENCH_BASELINE_COREDNS"),
                    help="another CoreDNS build (today's) measured beside build/coredns in "
                         "the lifecycle measure (default: $BENCH_BASELINE_COREDNS, or none)")
    ap.add_argument("--lifecycle-settle-s", type=float, default=65,
                    help="lifecycle: the pause after start-up, longer than a VM counts as "
                         "new to lacking an address (a minute), so that the VM without one "
                         "is no longer new")
    ap.add_argument("--lifecycle-limit-s", type=float, default=75,
                    help="lifecycle: how long a question is repeated for the right answer")
    ap.add_argument("--quick", action="store_true",
                    help="BENCH_QUICK: shortened windows, figures not quotable")
    ap.add_argument("--only",
                    default="throughput,unpinned,latency,flood,memory,cli_runs,foreign,probe_cost,"
                    "idle,daemon_cost,lifecycle")
    args = ap.parse_args()
    args.coredns = os.path.join(args.root, "build", "coredns")
    args.make_fleet = os.path.join(args.root, "tests", "fixtures", "make_fleet.py")
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    mixes = [m for m in args.mixes.split(",") if m]
    largest = max(args.sizes)

    def mixes_for(size):
        extra = [args.extra_mix_at_largest] if args.extra_mix_at_largest and \
            size == largest and args.extra_mix_at_largest not in mixes else []
        return mixes[:1] + extra + mixes[1:]
    args.mixes_for = mixes_for
    only = set(args.only.split(","))

    for tool in ("taskset", "dnsperf"):
        if not shutil.which(tool):
            sys.exit("dns_bench: %s not found" % tool)
    if not os.access(args.coredns, os.X_OK):
        sys.exit("dns_bench: %s missing: run `make coredns` first" % args.coredns)
    os.makedirs(args.work, exist_ok=True)
    args.fake = cli_off_the_server_core(args)
    args.stand_in = os.path.join(args.root, "tests", "fake-multipass", "multipass")

    def log(text):
        print(text, flush=True)

    rng = random.Random(20240611)
    fleets = {size: Fleet(args, size) for size in sorted(set(
        args.sizes + [0] + ([args.unpinned_size] if "unpinned" in only else [])))}
    results = {"settings": {
        "server": "GOMAXPROCS=%d, taskset -c %s" % (args.server_procs, args.server_cpus),
        "client": "dnsperf -T 1 -c 1, taskset -c %s" % args.client_cpus,
        "rounds": args.rounds, "unpinned_rounds": args.unpinned_rounds, "duration_s": args.duration,
        "outstanding": args.outstanding, "outstanding_unknown": args.outstanding_unknown,
        "latency_rate_qps": args.latency_rate,
        "latency_duration_s": args.latency_duration,
        "memory_load_s": args.memory_load_s,
        "multipass_refresh_throughput": "1h", "zone": ZONE, "quick": args.quick}}
    results["throughput"], results["latency"] = [], []
    for size in args.sizes:
        if not ({"throughput", "latency", "flood"} & only):
            break
        fleet = fleets[size]
        mp, hs = start_pair(args, fleet, "1h")
        try:
            if "throughput" in only:
                results["throughput"] += measure_throughput(args, fleet, mp, hs, rng, log)
            if "latency" in only:
                results["latency"].append(
                    measure_latency(args, fleet, mp, hs, rng, "hits", log))
                if size == largest:
                    results["latency"].append(measure_latency(
                        args, fleet, mp, hs, rng, "hits+aaaa+unknown", log))
            if "flood" in only and size == largest:
                results["miss_flood"] = measure_miss_flood(args, fleet, mp, hs, log)
            results.setdefault("rss_after_throughput", {})[str(size)] = {
                "multipass": mp.status(), "hosts": hs.status()}
        finally:
            mp.stop()
            hs.stop()
    if "unpinned" in only:
        fleet = fleets[args.unpinned_size]
        mp, hs = start_pair(args, fleet, "1h", pinned=False)
        try:
            results["throughput"] += measure_throughput(args, fleet, mp, hs, rng, log,
                                                        mixes=["hits"], pinned=False)
        finally:
            mp.stop()
            hs.stop()
    if "memory" in only:
        results["memory"] = measure_memory(args, fleets, rng, log)
    if "cli_runs" in only:
        results["cli_runs"] = measure_cli_runs(args, fleets[largest], rng, log)
    smallest = fleets[min(args.sizes)]
    if "foreign" in only:
        results["foreign"] = measure_foreign(args, smallest, log)
    if "probe_cost" in only:
        results["probe_cost"] = measure_probe_cost(args, log)
    if "idle" in only:
        results["idle"] = measure_idle(args, smallest, log)
    if "daemon_cost" in only:
        results["daemon_cost"] = measure_daemon_cost(args, rng, log)
    if "lifecycle" in only:
        results["lifecycle"] = measure_lifecycle(args, log)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    try:
        main()
    finally:
        for server in CoreDNS.started:
            server.stop()
