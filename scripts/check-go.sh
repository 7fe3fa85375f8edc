#!/usr/bin/env bash
# The Go side's checks beyond `make test-go`, for CI: gofmt, go vet, staticcheck
# (installed from the Go module proxy at a pinned version), go test -race
# against the core in build/prefix, and a CGO_ENABLED=0 vet and test run in
# which setup must fail with the "rebuild with CGO_ENABLED=1" error.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
staticcheck_version=v0.7.0
cd "$root/go-shim"

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "check-go.sh: not gofmt-formatted: $unformatted" >&2
  exit 1
fi

gobin=$(go env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${staticcheck_version#v}"; then
  echo "==> go install honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
  go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi

eval "$("$root/scripts/go-env.sh")"
echo "==> go vet"
go vet ./...
echo "==> staticcheck"
"$gobin/staticcheck" ./...
echo "==> go test -race"
go test -race -count=1 ./...
echo "==> CGO_ENABLED=0 go vet, go test"
CGO_ENABLED=0 go vet ./...
CGO_ENABLED=0 go test -count=1 ./...
