#!/usr/bin/env bash
# make bench: every benchmark of coredns-multipass, then bench/RESULTS.md.
#
#   bench/run.sh            the full run (about 20 minutes on 2 cores)
#   BENCH_QUICK=1 bench/run.sh   a short smoke run (1 round, 2 s, fewer repetitions)
#
# Needs build/coredns (make coredns), dnsperf, taskset, unbound, python3, go, cmake
# and Google Benchmark (libbenchmark-dev). See bench/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

jobs=${JOBS:-2}
quick=${BENCH_QUICK:-0}
work=$(mktemp -d /tmp/mpbench.XXXXXX)
results=${BENCH_RESULTS:-$root/bench/RESULTS.md}
echo "== coredns-multipass benchmarks (raw data in $work)"

if [ ! -x build/coredns ]; then
  echo "bench: build/coredns is missing: run 'make coredns' (or 'make bench') first" >&2
  exit 1
fi
for tool in dnsperf taskset python3 go cmake; do
  command -v "$tool" > /dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done

if [ "$quick" = 1 ]; then
  dns_args=(--rounds 1 --unpinned-rounds 1 --duration 2 --latency-duration 2 --memory-load-s 2 --cli-mixed-s 3 --cli-rate 50000 --idle-s 3
            --daemon-idle-s 15 --daemon-flood-s 5 --daemon-launches 1 --probe-cost-s 15
            --lifecycle-settle-s 5 --lifecycle-limit-s 20 --quick)
  core_args=(--benchmark_repetitions=2 --benchmark_min_time=0.05)
  go_args=(-count 1 -benchtime 2000x)
else
  dns_args=()
  core_args=(--benchmark_repetitions=5 --benchmark_min_time=0.2)
  go_args=(-count 3 -benchtime 0.5s)
fi

# 1. The core microbenchmarks: their own Release build of the core.
echo "== building core_bench (Release) in build/bench-core"
cmake -S . -B build/bench-core -DCMAKE_BUILD_TYPE=Release -DMULTIPASS_BUILD_BENCH=ON \
  -DMULTIPASS_TEST=OFF -DMULTIPASS_INSTALL=OFF > "$work/cmake.log"
cmake --build build/bench-core -j"$jobs" --target core_bench >> "$work/cmake.log"
coredns_core_build=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' build/core/CMakeCache.txt 2>/dev/null || true)
benchmark_version=$(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo unknown)
cat > "$work/build.json" <<JSON
{"core_bench_build": "Release (build/bench-core)",
 "coredns_core_build": "${coredns_core_build:-unknown} (build/core, linked by build/coredns and go test)",
 "benchmark_version": "$benchmark_version"}
JSON

echo "== core microbenchmarks"
build/bench-core/bench/core_bench "${core_args[@]}" \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$work/core_bench.json" --benchmark_out_format=json \
  | tee "$work/core_bench.txt"

# 2. Go: ServeDNS of multipass and hosts, same run.
echo "== go test -bench BenchmarkServeDNS"
(
  cd go-shim
  if [ -x ../scripts/go-env.sh ]; then
    eval "$(../scripts/go-env.sh)"
  else
    export PKG_CONFIG_PATH=$root/build/prefix/lib/pkgconfig CGO_ENABLED=1
    export CGO_LDFLAGS="-Wl,-rpath,$root/build/prefix/lib"
    export CGO_CFLAGS="-DMULTIPASS_CORE_HASH=$(cat "$root"/build/prefix/lib/libcoredns-multipass.so* \
      "$root"/build/prefix/include/multipass/*.h | sha256sum | cut -c1-16)"
  fi
  go test -run '^$' -bench '^BenchmarkServeDNS$' -benchmem -cpu 1 "${go_args[@]}" .
) 2>&1 | tee "$work/go_bench.txt"

# 3. End to end: throughput (pinned, and unpinned against hosts), latency, memory, CLI runs,
#    foreign names and the probe's cost at rest, idle wake-ups, daemon cost, VM lifecycle
#    (against $BENCH_BASELINE_COREDNS too when it is set).
echo "== dnsperf: multipass vs hosts (server GOMAXPROCS=1 on CPU 0, dnsperf on CPU 1)"
python3 bench/dns_bench.py --root "$root" --work "$work" --out "$work/dns.json" \
  ${dns_args[@]+"${dns_args[@]}"}

# 4. Zone transfers: AXFR of 1,000 and 10,000 VMs against the file plugin, and
#    the NOTIFYs of a VM that flaps every second for a minute.
echo "== zone transfers and NOTIFY"
transfer_args=()
[ "$quick" = 1 ] && transfer_args=(--repeats 3 --flap-seconds 10)
python3 bench/transfer_bench.py --root "$root" --work "$work" --out "$work/transfer.json" \
  --md "$work/transfer.md" ${transfer_args[@]+"${transfer_args[@]}"}

python3 bench/report.py --root "$root" --work "$work" --out "$results"
echo "== wrote $results"
