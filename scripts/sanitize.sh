#!/usr/bin/env bash
# Builds the C++ core and its tests with sanitizers and runs CTest in each
# build, stopping at the first report:
#
#   build/asan  -DMULTIPASS_SANITIZE=address   AddressSanitizer + UBSan (+ LeakSanitizer)
#   build/tsan  -DMULTIPASS_SANITIZE=thread    ThreadSanitizer
#
# Usage: scripts/sanitize.sh [address|thread ...]    (default: both)
# Environment: JOBS (build parallelism, default 2), TEST_WORKERS (tests at
# once, default 8: most wait on timers), SANITIZE_BUILD_TYPE (default Debug:
# it compiles faster than an optimised build and gives exact stacks).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${JOBS:-2}
tests=${TEST_WORKERS:-8}
build_type=${SANITIZE_BUILD_TYPE:-Debug}
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(address thread)

# Every report is fatal and printed with a symbolised stack.
symbolizer=$(command -v llvm-symbolizer || true)
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1${symbolizer:+:external_symbolizer_path=$symbolizer}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4${symbolizer:+:external_symbolizer_path=$symbolizer}"

# ThreadSanitizer (GCC 12's runtime) cannot map its shadow memory with the
# address-space randomisation of recent kernels (vm.mmap_rnd_bits > 28): run
# the tests with randomisation off for this process tree when it is too high.
tsan_wrapper=()
if [ -r /proc/sys/vm/mmap_rnd_bits ] && [ "$(cat /proc/sys/vm/mmap_rnd_bits)" -gt 28 ] &&
   command -v setarch > /dev/null; then
  tsan_wrapper=(setarch "$(uname -m)" -R)
fi

for kind in "${kinds[@]}"; do
  case "$kind" in
    address) dir=build/asan ;;
    thread) dir=build/tsan ;;
    *) echo "sanitize.sh: unknown sanitizer '$kind' (address or thread)" >&2; exit 2 ;;
  esac
  echo "==> $dir: MULTIPASS_SANITIZE=$kind, $build_type"
  start=$SECONDS
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$build_type" -DMULTIPASS_SANITIZE="$kind" \
    -DMULTIPASS_INSTALL=OFF -DMULTIPASS_TEST=ON -DMULTIPASS_WERROR=ON > "$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j"$jobs"
  runner=()
  [ "$kind" = thread ] && runner=("${tsan_wrapper[@]}")
  "${runner[@]}" ctest --test-dir "$dir" --output-on-failure -j"$tests"
  echo "==> $dir: clean ($((SECONDS - start)) s)"
done
