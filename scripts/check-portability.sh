#!/usr/bin/env bash
# What Linux can prove about the macOS build (run by .ci/run):
#   1. every core source and the public header compile with clang++ and libc++
#      (Homebrew's toolchain) with -Werror;
#   2. CMake >= 3.30 (FindBoost removed, policy CMP0167) configures the project
#      through Boost's own CMake config without a warning. Debian's cmake is
#      older: a recent one comes from PyPI into build/cmake-venv.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

echo "==> clang++ -stdlib=libc++ -fsyntax-only -Werror: src/*.cc, include/multipass/multipass.h"
flags=(-std=c++17 -stdlib=libc++ -fsyntax-only -Wall -Wextra -Werror -Iinclude -Isrc
       -DSPDLOG_HEADER_ONLY -DFMT_HEADER_ONLY -DMULTIPASS_VERSION_STRING='"check"')
[ ! -e /usr/include/fmt/core.h ] || flags+=(-DSPDLOG_FMT_EXTERNAL)
for source in src/*.cc; do
  clang++ "${flags[@]}" "$source"
done
echo '#include "multipass/multipass.h"' | clang++ "${flags[@]}" -x c++ -
echo '#include "multipass/multipass.h"' | clang -std=c99 -fsyntax-only -Wall -Wextra -Werror -pedantic -Iinclude -x c -

echo "==> CMake >= 3.30: configure without a CMP0167 warning"
venv=$root/build/cmake-venv
if [ ! -x "$venv/bin/cmake" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'cmake>=3.30'
fi
"$venv/bin/cmake" --version | head -n 1
log=$root/build/cmake-new.configure.log
"$venv/bin/cmake" -S . -B build/cmake-new -DMULTIPASS_TEST=OFF -DMULTIPASS_WERROR=ON > "$log" 2>&1 ||
  { cat "$log"; exit 1; }
if grep -q 'CMP0167\|CMake Warning\|CMake Deprecation Warning' "$log"; then
  cat "$log"
  echo "check-portability.sh: CMake warned while configuring (above)" >&2
  exit 1
fi
echo "==> portable: clang/libc++ and CMake $("$venv/bin/cmake" --version | sed -n '1s/cmake version //p')"
