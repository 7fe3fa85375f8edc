#!/usr/bin/env bash
# Runs build/coredns with the plugin on 127.0.0.1:1053 for the zone vm.internal.
# With a `multipass` on PATH it serves your VMs; without one it serves the demo
# fleet (tests/fixtures/demo-fleet.json) through the stand-in CLI and says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-1053}
binary=$(command -v multipass || true)
if [ -z "$binary" ]; then
  binary=$root/tests/fake-multipass/multipass
  echo "[INFO] plugin/multipass: no multipass on PATH: serving the demo fleet ($root/tests/fixtures/demo-fleet.json) through the stand-in CLI $binary"
fi
conf=$root/build/Corefile.demo
cat > "$conf" <<COREFILE
vm.internal:$port {
    bind 127.0.0.1
    log
    errors
    multipass {
        binary $binary
    }
}
COREFILE
echo "[INFO] try: dig @127.0.0.1 -p $port primary.vm.internal"
exec "$root/build/coredns" -conf "$conf"
