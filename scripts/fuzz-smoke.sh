#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build/fuzz and runs
# each for a while from its seed corpus, then Go's FuzzResolve (go-shim,
# through cgo and the real core): a smoke test that the fuzzers build, start
# and find nothing quickly. Any crash, sanitizer report or broken invariant
# fails the script and leaves the reproducer: libFuzzer's in
# build/fuzz/artifacts/, Go's in go-shim/testdata/fuzz/FuzzResolve/.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS]     (default 30 per target)
# Environment: JOBS (default 2); FUZZ_TARGETS to pick among
# "listing_parser_fuzz resolver_fuzz FuzzResolve".
# Needs: clang, libclang-rt-*-dev (libFuzzer), Go, and the core installed in
# build/prefix for FuzzResolve (make core).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-30}
jobs=${JOBS:-2}
targets=${FUZZ_TARGETS:-listing_parser_fuzz resolver_fuzz FuzzResolve}
build=build/fuzz
artifacts=$root/$build/artifacts

symbolizer=$(command -v llvm-symbolizer || true)
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1${symbolizer:+:external_symbolizer_path=$symbolizer}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

wants() { case " $targets " in *" $1 "*) return 0 ;; esac; return 1; }

if wants listing_parser_fuzz || wants resolver_fuzz; then
  cc=${CC:-clang}
  cxx=${CXX:-clang++}
  echo "==> $build: libFuzzer targets ($cxx, ASan + UBSan)"
  CC=$cc CXX=$cxx cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMULTIPASS_BUILD_FUZZERS=ON -DMULTIPASS_SANITIZE=address \
    -DMULTIPASS_TEST=OFF -DMULTIPASS_INSTALL=OFF -DMULTIPASS_WERROR=ON > "$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
  cmake --build "$build" -j"$jobs" --target fuzzers
  mkdir -p "$artifacts"
  for target in listing_parser_fuzz resolver_fuzz; do
    wants "$target" || continue
    # New inputs go to a scratch corpus; the seeds in fuzz/corpus stay as
    # they are (merge finds with -merge=1 by hand when they are worth keeping).
    work=$build/corpus/$target
    mkdir -p "$work"
    log=$build/$target.log
    echo "==> $target: ${seconds} s (log: $log)"
    if ! "$build/fuzz/$target" "$work" "fuzz/corpus/$target" \
        -dict="fuzz/$target.dict" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$target-" > "$log" 2>&1; then
      tail -n 60 "$log" >&2
      echo "==> $target FAILED: reproducer in $artifacts/" >&2
      exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)' "$log"
  done
fi

if wants FuzzResolve; then
  echo "==> go-shim FuzzResolve: ${seconds} s"
  (cd go-shim && eval "$(../scripts/go-env.sh)" &&
    go test -count=1 -run='^$' -fuzz='^FuzzResolve$' -fuzztime="${seconds}s" \
      -parallel="$jobs" .)
fi
echo "==> fuzz smoke: nothing found"
