#!/usr/bin/env bash
# Prints the environment that builds and tests go-shim against the core
# installed in build/prefix (by `make core`), as shell `export` lines:
#
#   cd go-shim && eval "$(../scripts/go-env.sh)" && go test ./...
#
# CGO_CFLAGS carries -DMULTIPASS_CORE_HASH=<hash of the installed library and
# headers>: Go's build cache does not notice a rebuilt C/C++ library, but it
# keys on CGO_CFLAGS, so a changed core makes cgo rebuild instead of linking
# stale objects. The hash covers the .pc files too: Go keys the cgo package on
# pkg-config's --cflags, not on the --libs it links with (-L, the rpath), so
# another prefix must also change CGO_CFLAGS. The rpath comes from the .pc Libs.
# MULTIPASS_PREFIX overrides the install prefix; MULTIPASS_PC_DIR the folder of
# the .pc files (make install builds against a staged copy whose .pc files name
# the final prefix).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${MULTIPASS_PREFIX:-$root/build/prefix}
pc_dir=${MULTIPASS_PC_DIR:-$prefix/lib/pkgconfig}

shopt -s nullglob
files=("$prefix"/lib/libcoredns-multipass.* "$prefix"/include/multipass/*.h "$pc_dir"/coredns-multipass*.pc)
shopt -u nullglob
if [ ! -f "$pc_dir/coredns-multipass.pc" ] || [ ${#files[@]} -eq 0 ]; then
  echo "go-env.sh: no core installed in $prefix: build it first (make core)" >&2
  exit 1
fi

if command -v sha256sum > /dev/null; then
  sha256() { sha256sum; }
else
  sha256() { shasum -a 256; }  # macOS
fi
hash=$(cat "${files[@]}" | sha256 | cut -c1-16)

printf 'export PKG_CONFIG_PATH=%q\n' "$pc_dir"
printf 'export CGO_ENABLED=1\n'
printf 'export CGO_LDFLAGS=\n'
printf 'export CGO_CFLAGS=%q\n' "-O2 -g -DMULTIPASS_CORE_HASH=$hash"
