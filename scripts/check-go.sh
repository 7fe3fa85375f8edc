#!/usr/bin/env bash
# The Go side's checks beyond `make test-go`, for CI: gofmt, go vet, staticcheck
# (installed from the Go module proxy at a pinned version), go test -race
# against the core in build/prefix, and a CGO_ENABLED=0 vet and test run in
# which setup must fail with the "rebuild with CGO_ENABLED=1" error.
#
# Usage: scripts/check-go.sh [PART...]   PART: tools (installs staticcheck,
# which needs no core), lint (gofmt, go vet, staticcheck, installing it first
# when missing), race, nocgo; lint, race and nocgo when none is named. Each of
# tools, race and nocgo compiles a dependency graph of its own (staticcheck's;
# go-shim's with -race; go-shim's without cgo). CI (.ci/run) runs tools and
# nocgo in its checks' lane, race and lint in the product's lane after
# CoreDNS's build (which compiles the packages go vet reads).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
staticcheck_version=v0.7.0
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(lint race nocgo)
cd "$root/go-shim"
gobin=$(go env GOPATH)/bin

tools() {
  if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${staticcheck_version#v}"; then
    echo "==> go install honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
    go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
  fi
}

lint() {
  local unformatted
  unformatted=$(gofmt -l .)
  if [ -n "$unformatted" ]; then
    echo "check-go.sh: not gofmt-formatted: $unformatted" >&2
    exit 1
  fi
  tools
  eval "$("$root/scripts/go-env.sh")"
  echo "==> go vet"
  go vet ./...
  echo "==> staticcheck"
  "$gobin/staticcheck" ./...
}

race() {
  eval "$("$root/scripts/go-env.sh")"
  echo "==> go test -race"
  go test -race -count=1 ./...
}

nocgo() {
  eval "$("$root/scripts/go-env.sh")"
  echo "==> CGO_ENABLED=0 go vet, go test"
  CGO_ENABLED=0 go vet ./...
  CGO_ENABLED=0 go test -count=1 ./...
}

for part in "${parts[@]}"; do
  case "$part" in
    tools | lint | race | nocgo) "$part" ;;
    *) echo "check-go.sh: unknown part '$part' (tools, lint, race or nocgo)" >&2; exit 2 ;;
  esac
done
