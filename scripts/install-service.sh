#!/usr/bin/env bash
# Sets this machine up to resolve <vm>.ZONE through CoreDNS with the plugin,
# installed by `make install` (PREFIX/bin/coredns-multipass):
#
#   scripts/install-service.sh [--zone vm.internal] [--port 1053] [--prefix /usr/local]
#                              [--reverse CIDR]... [--multipass PATH] [--dry-run] [--uninstall]
#
# Linux (systemd + systemd-resolved): /etc/coredns-multipass/Corefile and the
#   system unit /etc/systemd/system/coredns-multipass.service, which runs
#   CoreDNS as you (under sudo: $SUDO_USER) and, while it runs, routes only
#   ~ZONE to it (a dummy link with a per-link DNS server, default-route off,
#   DNSSEC off and a negative trust anchor for the zone).
# macOS: ~/Library/Application Support/coredns-multipass/Corefile, the
#   LaunchAgent ~/Library/LaunchAgents/io.github.coredns-multipass.plist and
#   /etc/resolver/ZONE (nameserver 127.0.0.1, port PORT).
# --reverse CIDR (an IPv4 /8, /16 or /24; repeatable) also serves and routes
#   that network's reverse zone, so that PTR questions for VM addresses reach
#   the plugin. Without it: the /24 networks of the VMs' first addresses, if
#   `multipass list` answers now; --reverse none: no reverse zone.
#
# Refuses a zone under .local (multicast DNS), a systemd older than 246 (no
# port in a DNS server address) and a kernel that can make no link for the
# route; warns on systemd 252.0-252.2; checks the unit with systemd-analyze.
# Needs root (re-runs itself through sudo). --dry-run prints every file and
# command and changes nothing; --uninstall undoes a real run (its manifest,
# in the Corefile's folder). On any failure what was written is removed.
# For tests: MULTIPASS_SERVICE_ROOT puts every system path under a folder,
# MULTIPASS_SERVICE_OS (Linux|Darwin) overrides uname -s.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/service-files.sh
. "$root/scripts/service-files.sh"

args=("$@")
zone=vm.internal port=1053 prefix=/usr/local multipass= dry=0 uninstall=0 reverse=()
while [ $# -gt 0 ]; do
  case "$1" in
    --zone) zone=${2:?--zone needs a value}; shift 2 ;;
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
    --multipass) multipass=${2:?--multipass needs a value}; shift 2 ;;
    --reverse) reverse+=("${2:?--reverse needs a value}"); shift 2 ;;
    --dry-run) dry=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-service.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "install-service.sh: $*" >&2; exit 1; }
case "$zone" in *[!A-Za-z0-9.-]*|.*|*.|"") die "--zone '$zone' is not a domain name (e.g. vm.internal)" ;; esac
case "$port" in *[!0-9]*|"") die "--port '$port' is not a number" ;; esac
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port $port is out of range"
case "$(printf '%s' "$zone" | tr '[:upper:]' '[:lower:]')" in
  local|*.local) die "--zone '$zone' is under .local, which resolvers send to multicast DNS: choose a zone under .internal (e.g. vm.internal)" ;;
esac

# reverse_zone A.B.C.D/N: the in-addr.arpa zone of an IPv4 network with N = 8, 16 or 24.
reverse_zone() {
  local o1 o2 o3
  [[ "$1" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/(8|16|24)$ ]] &&
    [ "${BASH_REMATCH[1]}" -le 255 ] && [ "${BASH_REMATCH[2]}" -le 255 ] &&
    [ "${BASH_REMATCH[3]}" -le 255 ] && [ "${BASH_REMATCH[4]}" -le 255 ] ||
    die "--reverse '$1' is not an IPv4 network ending at an octet (/8, /16 or /24, e.g. 10.110.24.0/24)"
  o1=${BASH_REMATCH[1]} o2=${BASH_REMATCH[2]} o3=${BASH_REMATCH[3]}
  case "${BASH_REMATCH[5]}" in
    8) echo "$o1.in-addr.arpa" ;;
    16) echo "$o2.$o1.in-addr.arpa" ;;
    24) echo "$o3.$o2.$o1.in-addr.arpa" ;;
  esac
}
svc_reverse=
for cidr in ${reverse[@]+"${reverse[@]}"}; do
  [ "$cidr" = none ] || svc_reverse="${svc_reverse:+$svc_reverse }$(reverse_zone "$cidr")"
done

sysroot=${MULTIPASS_SERVICE_ROOT:-}
os=${MULTIPASS_SERVICE_OS:-$(uname -s)}
if [ "$dry" = 0 ] && [ -z "$sysroot" ] && [ "$(id -u)" -ne 0 ]; then
  echo "==> root is needed for the resolver route: running through sudo"
  exec sudo "$0" ${args[@]+"${args[@]}"}
fi
user=${SUDO_USER:-$(id -un)}
home=$(eval echo "~$user")

say() { printf '%s\n' "$*"; }
warn() { printf 'install-service.sh: warning: %s\n' "$*" >&2; }
run() {  # run CMD...: prints it; runs it unless --dry-run
  say "+ $*"
  [ "$dry" = 1 ] || "$@"
}

# Paths, as the service sees them; files go under $sysroot.
svc_bin=$prefix/bin/coredns-multipass svc_zone=$zone svc_port=$port svc_user=$user
svc_link=mp-dns0 svc_log=$home/Library/Logs/coredns-multipass.log
if [ "$os" = Darwin ]; then
  confdir="$home/Library/Application Support/coredns-multipass"
  service_file=$home/Library/LaunchAgents/$svc_label.plist
  resolver_file=/etc/resolver/$zone
  domain=gui/$(id -u "$user")
else
  confdir=/etc/coredns-multipass
  service_file=/etc/systemd/system/$svc_unit
fi
svc_conf=$confdir/Corefile
manifest=$confdir/service-manifest

# What a failure undoes: files written (removed) and commands (run in reverse).
written=() undo=()
rollback() {
  local i
  [ "$dry" = 0 ] || return 0
  echo "install-service.sh: failed: undoing what this run did" >&2
  for ((i = ${#undo[@]} - 1; i >= 0; i--)); do eval "${undo[i]}" > /dev/null 2>&1 || true; done
  for ((i = ${#written[@]} - 1; i >= 0; i--)); do rm -f "$sysroot${written[i]}"; done
  rmdir "$sysroot$confdir" 2> /dev/null || true
}

write() {  # write PATH MODE TEXT: TEXT into PATH (under $sysroot), or printed with --dry-run
  local path=$1 mode=$2 text=$3
  written+=("$path")
  say "--- $path (mode $mode)"
  say "$text"
  [ "$dry" = 0 ] || return 0
  mkdir -p "$(dirname "$sysroot$path")"
  printf '%s\n' "$text" > "$sysroot$path.new.$$"
  chmod "$mode" "$sysroot$path.new.$$"
  mv -f "$sysroot$path.new.$$" "$sysroot$path"
  if [ "$os" = Darwin ] && [ "${path#"$home"}" != "$path" ] && [ -z "$sysroot" ]; then
    chown "$user" "$path"
  fi
}

port_taken() {
  if command -v ss > /dev/null; then
    [ -n "$(ss -Hlnut "sport = :$port" 2> /dev/null)" ]
  elif command -v lsof > /dev/null; then
    lsof -nP -iTCP:"$port" -sTCP:LISTEN > /dev/null 2>&1 || lsof -nP -iUDP:"$port" > /dev/null 2>&1
  else
    return 1
  fi
}

# The /24 networks of the VMs' first addresses, if `multipass list` answers
# within 10 s (asked as the service's user; perl's alarm: macOS has no timeout).
vm_networks() {
  local as=()
  [ "$(id -u)" -ne 0 ] || [ "$user" = root ] || as=(sudo -u "$user")
  { ${as[@]+"${as[@]}"} perl -e 'alarm shift; exec @ARGV' 10 "$multipass" list --format=json 2> /dev/null || true; } |
    tr -d ' \t\r\n' | { grep -o '"ipv4":\["[0-9][0-9.]*"' || true; } |
    sed 's/.*\["\([0-9]*\.[0-9]*\.[0-9]*\)\..*/\1.0\/24/' | sort -u
}

choose_reverse() {  # says which reverse zones the service serves and routes
  local nets
  if [ ${#reverse[@]} -gt 0 ]; then
    say "==> reverse zones: ${svc_reverse:-none} (--reverse ${reverse[*]})"
    return
  fi
  nets=$([ -z "$multipass" ] || vm_networks)
  if [ -z "$nets" ]; then
    say "==> no reverse zone: 'multipass list' gave no VM address now; add --reverse CIDR for PTR answers"
    return
  fi
  for cidr in $nets; do svc_reverse="${svc_reverse:+$svc_reverse }$(reverse_zone "$cidr")"; done
  say "==> reverse zones: $svc_reverse (the /24 networks of the VMs' first addresses:" $nets"; choose with --reverse CIDR or --reverse none)"
}

# "MAJOR MINOR" of the systemd that resolvectl comes from ("systemd 252 (252.38-1)": 252 38).
systemd_version() {
  resolvectl --version 2> /dev/null |
    sed -n '1s/^systemd \([0-9][0-9]*\) ([0-9]*\.\{0,1\}\([0-9]*\).*/\1 \2/p'
}

# The first of dummy and ifb that this kernel makes, tried in a network
# namespace of its own (some kernels lack the dummy driver); nothing if neither.
link_type() {
  local t ns=(unshare --net)
  [ "$(id -u)" -eq 0 ] || ns=(unshare --user --map-root-user --net)
  if ! "${ns[@]}" true 2> /dev/null; then
    echo dummy  # no namespace to try in: every distribution's kernel has the driver
    return
  fi
  for t in dummy ifb; do
    if "${ns[@]}" "$svc_ip" link add mp-dns-probe type "$t" 2> /dev/null; then
      echo "$t"
      return
    fi
  done
}

preflight() {  # every check before anything is written; with --dry-run, notes
  local problems=() major minor verify
  [ -x "$svc_bin" ] || problems+=("no $svc_bin: run 'make install PREFIX=$prefix' first")
  if [ -z "$multipass" ]; then
    multipass=$(command -v multipass || true)
    for p in /snap/bin/multipass /usr/local/bin/multipass; do
      [ -n "$multipass" ] || [ ! -x "$p" ] || multipass=$p
    done
  fi
  [ -n "$multipass" ] || problems+=("no multipass CLI found: install multipass, or pass --multipass PATH")
  svc_multipass=${multipass:-/snap/bin/multipass}
  if [ -f "$sysroot$manifest" ]; then
    : # our own service may hold the port: this run replaces it
  elif port_taken; then
    problems+=("port $port on this machine is taken: choose another with --port")
  fi
  if [ "$os" != Darwin ]; then
    svc_ip=$(command -v ip || echo /usr/sbin/ip)
    svc_resolvectl=$(command -v resolvectl || echo /usr/bin/resolvectl)
    if ! command -v systemctl > /dev/null || [ ! -d "$sysroot/run/systemd/system" ]; then
      problems+=("systemd is not running here: start CoreDNS yourself (docs/service.md)")
    elif ! resolvectl status > /dev/null 2>&1; then
      problems+=("systemd-resolved is not running, so no route for $zone alone can be set: with NetworkManager's dnsmasq add 'server=/$zone/127.0.0.1#$port' to /etc/NetworkManager/dnsmasq.d/$zone.conf; with a plain /etc/resolv.conf run CoreDNS on 127.0.0.1:53 with 'forward . <your DNS>' for every other name (docs/service.md)")
    else
      read -r major minor <<< "$(systemd_version)" || true
      if [ -z "$major" ]; then
        warn "'resolvectl --version' names no systemd version: if it is older than 246 the route will not work"
      elif [ "$major" -lt 246 ]; then
        problems+=("systemd $major is older than 246: its resolved takes no port in a DNS server's address (127.0.0.1:$port; systemd#17858): update systemd, or run CoreDNS on 127.0.0.1:53 as the machine's resolver (docs/service.md)")
      elif [ "$major" = 252 ] && [ "${minor:-0}" -lt 3 ]; then
        warn "systemd 252.${minor:-0}'s resolved ignores a per-link DNS server on 127.0.0.1 (systemd#25397, fixed in 252.3): update systemd, or $zone will not resolve"
      fi
    fi
    svc_link_type=$(link_type)
    case "$svc_link_type" in
      dummy) ;;
      ifb) say "==> this kernel has no dummy link driver: $svc_link will be an ifb link (it carries no traffic either)" ;;
      *) problems+=("this kernel makes neither a dummy nor an ifb link for the route ('ip link add $svc_link type dummy' fails): load the driver (modprobe dummy), or run CoreDNS on 127.0.0.1:53 as the machine's resolver (docs/service.md)") ;;
    esac
  fi
  choose_reverse
  if [ "$os" != Darwin ] && [ ${#problems[@]} -eq 0 ] && command -v systemd-analyze > /dev/null; then
    verify=$(mktemp -d)
    render_unit > "$verify/$svc_unit"
    if ! systemd-analyze verify "$verify/$svc_unit" > "$verify/out" 2>&1; then
      problems+=("systemd-analyze verify rejects the unit: $(cat "$verify/out")")
    fi
    rm -rf "$verify"
  fi
  [ ${#problems[@]} -gt 0 ] || return 0
  if [ "$dry" = 1 ]; then
    printf 'note (a real run would stop here): %s\n' "${problems[@]}"
  else
    printf 'install-service.sh: %s\n' "${problems[@]}" >&2
    exit 1
  fi
}

install_service() {
  preflight
  set -E
  trap rollback ERR
  write "$svc_conf" 644 "$(render_corefile)"
  if [ "$os" = Darwin ]; then
    write "$service_file" 644 "$(render_plist)"
    write "$resolver_file" 644 "$(render_resolver)"
    for z in $svc_reverse; do write "/etc/resolver/$z" 644 "$(render_resolver)"; done
    [ "$dry" = 1 ] || launchctl bootout "$domain/$svc_label" > /dev/null 2>&1 || true  # an earlier run's
    undo+=("launchctl bootout $domain/$svc_label")
    run launchctl bootstrap "$domain" "$service_file"
    undo_text="launchctl bootout $domain/$svc_label"
  else
    write "$service_file" 644 "$(render_unit)"
    undo+=("systemctl daemon-reload")
    run systemctl daemon-reload
    undo+=("systemctl disable --now $svc_unit")
    run systemctl enable "$svc_unit"
    run systemctl restart "$svc_unit"
    undo_text="systemctl disable --now $svc_unit"
  fi
  write "$manifest" 644 "$(printf '%s\n' "${written[@]}" "$manifest")"
  trap - ERR
  [ "$dry" = 0 ] || say "==> dry run: nothing was written or run"
  [ "$dry" = 1 ] || say "==> ${zone} now resolves through CoreDNS on 127.0.0.1:$port (undo: $0 --uninstall; stop: $undo_text)"
}

uninstall_service() {
  if [ ! -f "$sysroot$manifest" ]; then
    [ "$dry" = 1 ] || die "no $manifest: no service installed by this script"
  fi
  if [ "$os" = Darwin ]; then
    run launchctl bootout "$domain/$svc_label" || true
  else
    run systemctl disable --now "$svc_unit" || true
  fi
  local path
  while IFS= read -r path; do
    run rm -f "$sysroot$path"
  done < <(cat "$sysroot$manifest" 2> /dev/null || printf '%s\n' "$svc_conf" "$service_file" ${resolver_file:+"$resolver_file"} "$manifest")
  [ "$os" = Darwin ] || run systemctl daemon-reload
  run rmdir "$sysroot$confdir"
}

if [ "$uninstall" = 1 ]; then uninstall_service; else install_service; fi
