#!/usr/bin/env bash
# Soak: build/coredns with the plugin under steady dnsperf load on loopback
# while the stand-in multipass CLI changes its behaviour every 100 ms (works,
# fails in every way it can, hangs, floods) and CoreDNS is reloaded with
# SIGUSR1 every few seconds. Passes when every query for the stable VMs was
# answered NOERROR (no SERVFAIL, none lost) and the CoreDNS process did not
# grow: resident memory, threads and open descriptors sampled every second
# (first / middle / last / max printed; memory must not grow over the second
# half), no zombie child ever, at most one CLI child at a time.
#
# Usage: tests/soak/soak.sh            (not part of `make test`; `make soak`)
# Environment:
#   SOAK_SECONDS  how long the load runs (default 60)
#   SOAK_QPS      dnsperf's query rate (default 10000)
#   SOAK_RELOAD   seconds between SIGUSR1 reloads (default 3)
#   SOAK_KEEP=1   keep the work directory (logs, samples) for a look
#   COREDNS       the CoreDNS binary (default build/coredns)
# Everything stays on 127.0.0.1 and stops by itself.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${SOAK_SECONDS:-60}
qps=${SOAK_QPS:-10000}
reload_every=${SOAK_RELOAD:-3}
coredns=${COREDNS:-$root/build/coredns}
cli=$root/tests/fake-multipass/multipass

for tool in dnsperf dig python3; do
  command -v "$tool" > /dev/null || { echo "soak: $tool is missing" >&2; exit 2; }
done
[ -x "$coredns" ] || { echo "soak: $coredns is missing: make coredns" >&2; exit 2; }
[ -r /proc/self/status ] || { echo "soak: needs Linux /proc" >&2; exit 2; }

work=$(mktemp -d /tmp/coredns-multipass-soak.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  if [ "${SOAK_KEEP:-0}" = 1 ]; then
    echo "soak: work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fake=$work/fake
mkdir -p "$fake"
cp "$root/tests/fixtures/list-mixed.json" "$fake/list.json"
echo ok > "$fake/mode"

# The same Corefile at every reload: the running refresher is shared across
# the reload, its inventory kept (see tests/e2e/test_reload.py for reloads
# that change the CLI options).
cat > "$work/Corefile" << EOF
vm.test:$port {
    bind 127.0.0.1
    multipass {
        binary $cli
        refresh 1s
        timeout 500ms
    }
}
EOF

# The stable VMs, in the case mixes clients use; every answer is NOERROR
# (A records, or NODATA for AAAA and a stopped VM).
cat > "$work/queries" << EOF
primary.vm.test A
PrImArY.vm.test A
k8s-node-01.vm.test A
K8S-NODE-01.VM.TEST A
primary.vm.test AAAA
calm-squirrel.vm.test A
vm.test SOA
EOF

echo "soak: CoreDNS on 127.0.0.1:$port for ${seconds} s, ${qps} q/s, SIGUSR1 every ${reload_every} s, CLI mode changes every 100 ms"
MULTIPASS_FAKE_DIR=$fake "$coredns" -conf "$work/Corefile" > "$work/coredns.log" 2>&1 &
coredns_pid=$!
pids+=("$coredns_pid")
for _ in $(seq 100); do
  if dig @127.0.0.1 -p "$port" +short +time=1 +tries=1 primary.vm.test A 2> /dev/null | grep -q .; then
    break
  fi
  sleep 0.1
done
dig @127.0.0.1 -p "$port" +short +time=1 +tries=1 primary.vm.test A | grep -qx 10.110.24.87 ||
  { echo "soak: CoreDNS did not answer" >&2; cat "$work/coredns.log" >&2; exit 1; }

# Every mode the stand-in knows, ok most often; rewritten atomically.
(
  modes=(ok no-daemon ok garbage ok hang ok truncated ok empty ok no-auth ok
         bad-address ok slow:0.2 ok hang-child ok huge:20 ok flap)
  end=$((SECONDS + seconds + 2))
  i=0
  while [ $SECONDS -lt $end ]; do
    echo "${modes[$((i % ${#modes[@]}))]}" > "$fake/mode.tmp"
    mv -f "$fake/mode.tmp" "$fake/mode"
    i=$((i + 1))
    sleep 0.1
  done
  echo ok > "$fake/mode.tmp"
  mv -f "$fake/mode.tmp" "$fake/mode"
) &
pids+=($!)

(
  end=$((SECONDS + seconds))
  while [ $SECONDS -lt $end ]; do
    sleep "$reload_every"
    kill -USR1 "$coredns_pid"
  done
) &
pids+=($!)

# Samples the CoreDNS process every second into samples.tsv.
python3 - "$coredns_pid" "$((seconds + 1))" "$work/samples.tsv" << 'EOF' &
import os, sys, time
pid, seconds, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def children():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids[int(entry)] = fields[0]
    return kids

zombies_before = set()
with open(out, "w") as f:
    f.write("second\trss_kib\tthreads\tfds\tchildren\tlasting_zombies\n")
    for second in range(seconds):
        status = dict(l.split(":", 1) for l in open("/proc/%d/status" % pid) if ":" in l)
        rss = int(status["VmRSS"].split()[0])
        threads = int(status["Threads"])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        kids = children()
        zombies = {p for p, s in kids.items() if s == "Z"}
        f.write("%d\t%d\t%d\t%d\t%d\t%d\n" % (second, rss, threads, fds,
                                             len(kids) - len(zombies),
                                             len(zombies & zombies_before)))
        f.flush()
        zombies_before = zombies
        time.sleep(1)
EOF
sampler=$!
pids+=("$sampler")

dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" -l "$seconds" -Q "$qps" \
  -c 4 -q 200 -t 5 > "$work/dnsperf.log" 2>&1 || true
wait "$sampler" || true

# Let the last refresh settle, then count what the log says.
sleep 1
runs=$(grep -c . "$fake/runs.log" || true)
errors=$(grep -c '^\[ERROR\] plugin/multipass' "$work/coredns.log" || true)
reloads=$(grep -c 'Reloading complete' "$work/coredns.log" || true)
kill -TERM "$coredns_pid"
wait "$coredns_pid" && coredns_exit=0 || coredns_exit=$?

python3 - "$work/dnsperf.log" "$work/samples.tsv" "$runs" "$errors" "$reloads" "$coredns_exit" "$work/coredns.log" << 'EOF'
import re, sys
dnsperf_log, samples, runs, errors, reloads, coredns_exit, coredns_log = sys.argv[1:]
text = open(dnsperf_log).read()

def number(label):
    m = re.search(r"%s:\s+(\d+)" % label, text)
    return int(m.group(1)) if m else None

sent, completed, lost = number("Queries sent"), number("Queries completed"), number("Queries lost")
codes = dict((k, int(v)) for k, v in re.findall(r"([A-Z]+) (\d+) \(", text.split("Response codes:")[-1].split("\n")[0]))
qps = re.search(r"Queries per second:\s+([\d.]+)", text)
rows = [list(map(int, l.split("\t"))) for l in open(samples).read().splitlines()[1:]]
warm = rows[5:] if len(rows) > 10 else rows  # after start-up

print("dnsperf: %s sent, %s completed, %s lost, %s q/s; response codes %s" % (
    sent, completed, lost, qps.group(1) if qps else "?", codes))
print("CLI runs %s, ERROR lines %s, reloads completed %s, CoreDNS exit %s" % (
    runs, errors, reloads, coredns_exit))
problems = []
print("%-10s %10s %10s %10s %10s" % ("", "first", "middle", "last", "max"))
for name, col in (("rss_kib", 1), ("threads", 2), ("fds", 3), ("children", 4)):
    values = [r[col] for r in warm]
    print("%-10s %10d %10d %10d %10d" % (name, values[0], values[len(values) // 2], values[-1],
                                         max(values)))
zombies = sum(r[5] for r in rows)
print("lasting zombies seen: %d" % zombies)

if sent is None or completed is None:
    problems.append("dnsperf printed no summary:\n" + text[-2000:])
else:
    if lost != 0:
        problems.append("%d queries lost" % lost)
    if codes.get("SERVFAIL", 0) != 0:
        problems.append("%d SERVFAIL" % codes["SERVFAIL"])
    if set(codes) != {"NOERROR"}:
        problems.append("response codes other than NOERROR: %s" % codes)
first, last = warm[0], warm[-1]
if last[3] > first[3] + 5:
    problems.append("open fds grew %d -> %d" % (first[3], last[3]))
if last[2] > max(first[2] + 8, first[2] * 1.25):
    problems.append("threads grew %d -> %d" % (first[2], last[2]))
# A leak keeps growing: compare the second half (the first holds the Go
# heap's growth to its working size). The 16 MiB floods of `huge` do not
# count: the runner captures stdout in a mapping it unmaps (capture_buffer).
middle = warm[len(warm) // 2]
if last[1] > middle[1] + 16 * 1024:
    problems.append("resident memory grew %d -> %d KiB over the second half" % (middle[1], last[1]))
if max(r[4] for r in rows) > 1:
    problems.append("more than one CLI child at once")
if zombies:
    problems.append("zombie children")
if coredns_exit != "0":
    problems.append("CoreDNS exited with %s after SIGTERM" % coredns_exit)
log = open(coredns_log).read()
for marker in ("panic:", "fatal error:", "SA_ONSTACK", "SIGSEGV"):
    if marker in log:
        problems.append("CoreDNS printed %r" % marker)
if int(reloads) < 3:
    problems.append("only %s reloads completed" % reloads)
if problems:
    print("soak: FAILED\n  " + "\n  ".join(problems))
    sys.exit(1)
print("soak: passed")
EOF
