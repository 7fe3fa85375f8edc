#!/usr/bin/env bash
# Builds build/coredns: CoreDNS v1.14.7 with the multipass plugin, compiled in
# the way CoreDNS documents for external plugins (plugin.cfg, go generate,
# go build), against the core installed in build/prefix (make core).
#
#   scripts/build-coredns.sh             links libcoredns-multipass.so (rpath to build/prefix/lib)
#   STATIC=1 scripts/build-coredns.sh    links the static archive (-tags multipass_static)
#   COREDNS_OUT=PATH                      where the binary goes (default build/coredns)
#   COREDNS_CHECK=0                       skip running it (make install: the library is not in place yet)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=v1.14.7
module=github.com/coredns/coredns
shim=github.com/coredns-multipass/coredns-multipass/go-shim
line="multipass:$shim"
src=$root/build/coredns-src
out=${COREDNS_OUT:-$root/build/coredns}

eval "$("$root/scripts/go-env.sh")"
tags=()
if [ "${STATIC:-0}" = 1 ]; then
  tags=(-tags multipass_static)
fi

# 1. CoreDNS's source as `go mod download` gives it to any user.
if [ ! -f "$src/coredns.go" ]; then
  dir=$(cd "$root" && go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "build-coredns.sh: go mod download found no source for $module@$version" >&2
    exit 1
  fi
  echo "==> copying CoreDNS $version from $dir to $src"
  rm -rf "$src.tmp"
  mkdir -p "$(dirname "$src")"
  cp -R "$dir" "$src.tmp"
  chmod -R u+w "$src.tmp"
  mv "$src.tmp" "$src"
fi
cd "$src"

# 2. The plugin's line in plugin.cfg, right after hosts (its place in the chain).
if ! grep -qxF "$line" plugin.cfg; then
  echo "==> plugin.cfg: adding $line after hosts:hosts"
  awk -v line="$line" '{ print } $0 == "hosts:hosts" { print line }' plugin.cfg > plugin.cfg.tmp
  mv plugin.cfg.tmp plugin.cfg
  grep -qxF "$line" plugin.cfg || { echo "build-coredns.sh: no hosts:hosts line in plugin.cfg" >&2; exit 1; }
fi

# 3. The module points at this checkout's go-shim; regenerate the directives.
echo "==> go.mod: $shim => $root/go-shim; go generate"
go mod edit -require="$shim@v0.0.0" -replace="$shim=$root/go-shim"
go generate coredns.go
if ! go list -deps . > /dev/null 2>&1; then
  echo "==> go mod tidy"
  go mod tidy
fi

# 4. Build with cgo (CoreDNS's Makefile would build with CGO_ENABLED=0).
echo "==> go build ${tags[*]:-} -> $out (CGO_CFLAGS=$CGO_CFLAGS)"
go build ${tags[@]+"${tags[@]}"} -o "$out" .

if [ "${COREDNS_CHECK:-1}" = 0 ]; then
  exit 0
fi
if ! "$out" -plugins | grep -qx multipass; then
  echo "build-coredns.sh: $out -plugins does not list multipass" >&2
  exit 1
fi
echo "==> $out: $("$out" -version | head -n 1) with the multipass plugin"
