#!/usr/bin/env bash
# Sets this machine up to resolve <vm>.ZONE through CoreDNS with the plugin,
# installed by `make install` (PREFIX/bin/coredns-multipass):
#
#   scripts/install-service.sh [--zone vm.internal] [--port PORT] [--prefix /usr/local]
#                              [--reverse CIDR]... [--multipass PATH] [--user USER]
#                              [--server-address HOST:PORT] [--dry-run] [--uninstall]
#
# Linux (systemd + systemd-resolved): /etc/coredns-multipass/Corefile and the
#   system unit /etc/systemd/system/coredns-multipass.service, which runs
#   CoreDNS as USER (default: you, under sudo $SUDO_USER) on 127.0.0.153 port
#   53 (--port: another port below 1024: no other user can take it) and, once
#   CoreDNS listens there, routes only ~ZONE to it (a dummy link with a
#   per-link DNS server, default-route off, DNSSEC off and a negative trust
#   anchor for the zone).
# macOS: the LaunchDaemon /Library/LaunchDaemons/io.github.coredns-multipass.plist
#   (runs CoreDNS as USER from boot), its Corefile in
#   /Library/Application Support/coredns-multipass/, its log
#   /var/log/coredns-multipass.log and /etc/resolver/ZONE (nameserver
#   127.0.0.1, port PORT, default 1053). Nothing in any home folder.
# --reverse CIDR (an IPv4 /8, /16 or /24; repeatable) also serves and routes
#   that network's reverse zone, so that PTR questions for VM addresses reach
#   the plugin. Without it: the /24 networks of the VMs' first addresses, if
#   `multipass list` answers now, but for a network of this host's own
#   interfaces; --reverse none: no reverse zone.
# --user root runs CoreDNS as root: only when asked for (a run from a root
#   shell without --user stops). --server-address: the daemon the CLI asks
#   (the Corefile's server_address; an IP address, which the unit lets
#   CoreDNS's traffic reach, or unix:PATH).
#
# Refuses: a zone that is not a domain name of letters, digits and hyphens, a
# top-level domain other than internal, test and example, a public suffix
# (the system's public suffix list), a zone under .local (multicast DNS); a
# path with white space, %, $, quotes or backslashes; a systemd older than 246
# for a port other than 53 (no port in a DNS server address) and a kernel
# that can make no link for the route; warns on systemd 252.0-252.2; checks
# the unit with systemd-analyze. Root writes only into folders no other user
# controls. Needs root (re-runs itself through sudo). --dry-run prints every
# file and command and changes nothing; --uninstall undoes a real run (its
# manifest, beside the Corefile, names only files this script writes). On any
# failure what was written is removed.
# For tests: MULTIPASS_SERVICE_ROOT puts every system path under a folder,
# MULTIPASS_SERVICE_OS (Linux|Darwin) overrides uname -s.
set -euo pipefail
umask 022

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/service-files.sh
. "$root/scripts/service-files.sh"
# shellcheck source=scripts/safe-paths.sh
. "$root/scripts/safe-paths.sh"

args=("$@")
zone=vm.internal port= prefix=/usr/local multipass= dry=0 uninstall=0 reverse=() user= server=
while [ $# -gt 0 ]; do
  case "$1" in
    --zone) zone=${2?--zone needs a value}; shift 2 ;;
    --port) port=${2?--port needs a value}; shift 2 ;;
    --prefix) prefix=${2?--prefix needs a value}; shift 2 ;;
    --multipass) multipass=${2?--multipass needs a value}; shift 2 ;;
    --reverse) reverse+=("${2?--reverse needs a value}"); shift 2 ;;
    --user) user=${2?--user needs a value}; shift 2 ;;
    --server-address) server=${2?--server-address needs a value}; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-service.sh: unknown argument $(printf '%q' "$1") (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "install-service.sh: $*" >&2; exit 1; }
shown() { printf '%q' "$1"; }  # a value as the shell would take it back: a newline shows as $'\n'

sysroot=${MULTIPASS_SERVICE_ROOT:-}
os=${MULTIPASS_SERVICE_OS:-$(uname -s)}

# ------------------------------------------------------------------ inputs
# Every value is checked before it is used; each refusal names the flag.

psl=/usr/share/publicsuffix/public_suffix_list.dat  # Debian's publicsuffix package

# Why ZONE (lower case) cannot be routed to the plugin, or nothing.
zone_problem() {
  local z=$1 label labels parent
  [ -n "$z" ] || { echo "is empty"; return; }
  [ "${#z}" -le 253 ] || { echo "is longer than 253 characters"; return; }
  case "$z" in *[!a-z0-9.-]*) echo "has characters other than letters, digits, '-' and '.'"; return ;; esac
  case "$z" in .*|*.|*..*) echo "has an empty label"; return ;; esac
  IFS=. read -ra labels <<< "$z"
  for label in "${labels[@]}"; do
    case "$label" in
      -*|*-) echo "has a label that starts or ends with '-' ($label)"; return ;;
    esac
    [ "${#label}" -le 63 ] || { echo "has a label longer than 63 characters"; return; }
  done
  case "$z" in
    local|*.local) echo "is under .local, which resolvers send to multicast DNS: choose a zone under .internal (e.g. vm.internal)"; return ;;
    localhost|*.localhost|invalid|*.invalid) echo "is special-use (RFC 6761): resolvers answer it themselves"; return ;;
    home.arpa|*.home.arpa) ;;
    arpa|*.arpa) echo "is under .arpa: reverse zones come from --reverse CIDR"; return ;;
    *.*) ;;
    internal|test|example) ;;
    *) echo "is a top-level domain (delegated, or delegable at ICANN's next round): every name under it would reach the plugin; choose a zone under .internal (e.g. vm.internal)"; return ;;
  esac
  # A public suffix (co.uk, github.io): names under it belong to others.
  if [ -r "$psl" ]; then
    parent=${z#*.}
    if grep -qxF -- "$z" "$psl" ||
       { [ "$parent" != "$z" ] && grep -qxF -- "*.$parent" "$psl" && ! grep -qxF -- "!$z" "$psl"; }; then
      echo "is a public suffix ($psl): names under it belong to others; choose a zone under .internal or under a domain of your own"
    fi
  fi
}

zone=$(printf '%s' "$zone" | tr '[:upper:]' '[:lower:]')
problem=$(zone_problem "$zone")
[ -z "$problem" ] || die "--zone $(shown "$zone") $problem"
for flag in prefix multipass; do
  value=${!flag}
  [ -n "$value" ] || continue
  problem=$(path_problem "$value")
  [ -z "$problem" ] || die "--$flag $(shown "$value") $problem (it goes into the service's files)"
done

# The IPv4 blocks whose addresses the plugin never serves by default (the
# core's host-only blocks): 0/8, 127/8, 169.254/16, 224/4, 240/4.
host_only() {  # host_only A.B.C.D
  local o1=${1%%.*} rest=${1#*.}
  local o2=${rest%%.*}
  [ "$o1" -eq 0 ] || [ "$o1" -eq 127 ] || [ "$o1" -ge 224 ] || { [ "$o1" -eq 169 ] && [ "$o2" -eq 254 ]; }
}

# reverse_zone A.B.C.D/N: the in-addr.arpa zone of an IPv4 network with N =
# 8, 16 or 24, its host bits zero (a zone wider than the network asked for
# would take the reverse names of others), outside the host-only blocks.
reverse_zone() {
  local o1 o2 o3 o4 bits
  [[ "$1" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/(8|16|24)$ ]] &&
    [ "${BASH_REMATCH[1]}" -le 255 ] && [ "${BASH_REMATCH[2]}" -le 255 ] &&
    [ "${BASH_REMATCH[3]}" -le 255 ] && [ "${BASH_REMATCH[4]}" -le 255 ] ||
    die "--reverse $(shown "$1") is not an IPv4 network ending at an octet (/8, /16 or /24, e.g. 10.110.24.0/24)"
  o1=$((10#${BASH_REMATCH[1]})) o2=$((10#${BASH_REMATCH[2]})) o3=$((10#${BASH_REMATCH[3]}))
  o4=$((10#${BASH_REMATCH[4]})) bits=${BASH_REMATCH[5]}
  case "$bits" in
    8) [ "$o2.$o3.$o4" = 0.0.0 ] || die "--reverse $1 has host bits set: its zone would be $o1.in-addr.arpa, all of $o1.0.0.0/8" ;;
    16) [ "$o3.$o4" = 0.0 ] || die "--reverse $1 has host bits set: its zone would be $o2.$o1.in-addr.arpa, all of $o1.$o2.0.0/16" ;;
    24) [ "$o4" = 0 ] || die "--reverse $1 has host bits set: its zone would be $o3.$o2.$o1.in-addr.arpa, all of $o1.$o2.$o3.0/24" ;;
  esac
  ! host_only "$o1.$o2.$o3.$o4" ||
    die "--reverse $1 lies in a block the plugin never serves (0/8, 127/8, 169.254/16, 224/4, 240/4): it would only take those reverse names from the host"
  case "$bits" in
    8) echo "$o1.in-addr.arpa" ;;
    16) echo "$o2.$o1.in-addr.arpa" ;;
    24) echo "$o3.$o2.$o1.in-addr.arpa" ;;
  esac
}
svc_reverse=
for cidr in ${reverse[@]+"${reverse[@]}"}; do
  [ "$cidr" = none ] || svc_reverse="${svc_reverse:+$svc_reverse }$(reverse_zone "$cidr")"
done

# --server-address: the Corefile's server_address; an IP address (the unit
# lets IP traffic reach it alone) or unix:PATH.
svc_server= svc_allow=
if [ -n "$server" ]; then
  if [ "${server#unix:}" != "$server" ]; then
    problem=$(path_problem "${server#unix:}")
    [ -z "$problem" ] || die "--server-address $(shown "$server"): the path $problem"
  elif [[ "$server" =~ ^([0-9]{1,3}(\.[0-9]{1,3}){3}):([0-9]{1,5})$ ]] ||
       [[ "$server" =~ ^\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})$ ]]; then
    svc_allow=${BASH_REMATCH[1]}
  else
    die "--server-address $(shown "$server") is not IP:PORT, [IPv6]:PORT or unix:PATH (an IP address: the service may reach that address alone)"
  fi
  svc_server=$server
fi

case "$os" in
  Darwin) svc_address=127.0.0.1 default_port=1053 ;;
  *) svc_address=127.0.0.153 default_port=53 ;;
esac
port=${port:-$default_port}
case "$port" in *[!0-9]*|"") die "--port $(shown "$port") is not a number" ;; esac
port=$((10#$port))
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port $port is out of range"
if [ "$os" != Darwin ]; then
  # A port below net.ipv4.ip_unprivileged_port_start: only root, or a process
  # given CAP_NET_BIND_SERVICE (the unit's CoreDNS), can bind it.
  unprivileged=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2> /dev/null || echo 1024)
  [ "$port" -lt "$unprivileged" ] ||
    die "--port $port: any user may bind ports from $unprivileged up (net.ipv4.ip_unprivileged_port_start), and could answer the zone for every program: choose a port below $unprivileged (default 53, on $svc_address, an address of its own)"
fi

if [ "$dry" = 0 ] && [ -z "$sysroot" ] && [ "$(id -u)" -ne 0 ]; then
  echo "==> root is needed for the resolver route: running through sudo"
  exec sudo "$0" ${args[@]+"${args[@]}"}
fi

# The service's user: --user, else who ran sudo, else who runs this. root
# only when asked for by name.
explicit_user=$user
user=${user:-${SUDO_USER:-$(id -un)}}
[[ "$user" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "--user $(shown "$user") is not a user name"
# The home folder from the password database (never from the shell's ~).
home=$(perl -e 'my @p = getpwnam($ARGV[0]) or exit 1; print $p[7]' "$user") ||
  die "--user $user: no such user in the password database"
if [ "$uninstall" = 0 ] && [ "$user" = root ] && [ "$explicit_user" != root ]; then
  die "the service would run as root (this runs from a root shell, not through sudo): pass --user USER, the user whose VMs it lists, or --user root to run CoreDNS as root on purpose"
fi

say() { printf '%s\n' "$*"; }
warn() { printf 'install-service.sh: warning: %s\n' "$*" >&2; }
run() {  # run CMD...: prints it; runs it unless --dry-run
  say "+ $*"
  [ "$dry" = 1 ] || "$@"
}

# Paths, as the service sees them; files go under $sysroot. Root writes only
# in root's folders (checked before and while writing).
svc_bin=$prefix/bin/coredns-multipass svc_zone=$zone svc_port=$port svc_user=$user
svc_link=mp-dns0 svc_home=$home svc_log=/var/log/coredns-multipass.log
if [ "$os" = Darwin ]; then
  confdir="/Library/Application Support/coredns-multipass"
  service_file=/Library/LaunchDaemons/$svc_label.plist
  resolver_file=/etc/resolver/$zone
  domain=system
  folders=("$confdir" /Library/LaunchDaemons /etc/resolver /var/log)
else
  confdir=/etc/coredns-multipass
  service_file=/etc/systemd/system/$svc_unit
  folders=("$confdir" /etc/systemd/system)
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
  for ((i = ${#written[@]} - 1; i >= 0; i--)); do rm -f -- "$sysroot${written[i]}"; done
  rmdir -- "$sysroot$confdir" 2> /dev/null || true
}

# A root-owned folder, made if missing; dies when another user controls it.
root_folder() {
  local problem
  mkdir -p -- "$1"
  problem=$(root_path_problem "$1")
  [ -z "$problem" ] || die "$problem: root writes nothing through it"
}

write() {  # write PATH MODE TEXT: TEXT into PATH (under $sysroot), or printed with --dry-run
  local path=$1 mode=$2 text=$3 tmp
  written+=("$path")
  say "--- $path (mode $mode)"
  say "$text"
  [ "$dry" = 0 ] || return 0
  root_folder "$(dirname -- "$sysroot$path")"
  tmp=$(mktemp "$(dirname -- "$sysroot$path")/.${path##*/}.XXXXXX")  # O_EXCL
  printf '%s\n' "$text" > "$tmp"
  chmod "$mode" "$tmp"
  mv -f -- "$tmp" "$sysroot$path"
}

# The launchd job's log: the user's file (launchd may open it as the user)
# in root's /var/log, made once; root changes an existing one not at all.
write_log() {
  local tmp
  written+=("$svc_log")
  say "--- $svc_log (mode 640, owned by $user: CoreDNS's output)"
  [ "$dry" = 0 ] || return 0
  root_folder "$(dirname -- "$sysroot$svc_log")"
  [ ! -e "$sysroot$svc_log" ] || return 0
  tmp=$(mktemp "$(dirname -- "$sysroot$svc_log")/.${svc_log##*/}.XXXXXX")
  chown "$user" "$tmp"  # a new file of root's, in root's folder: no link to follow
  chmod 640 "$tmp"
  mv -f -- "$tmp" "$sysroot$svc_log"
}

port_taken() {  # something listens on svc_address:port, or on every address at that port
  if command -v ss > /dev/null; then
    ss -Hlntu "sport = :$port" 2> /dev/null | awk -v own="$svc_address:$port" -v p=":$port" '
      { sub(/%[^:]*:/, ":", $5) }
      $5 == own || $5 == "0.0.0.0" p || $5 == "*" p || $5 == "[::]" p { found = 1 }
      END { exit !found }'
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

# "NAME A.B.C.D/N" for each IPv4 address of this host's interfaces, but
# multipass's own bridges (Linux: mp*, such as mpqemubr0; macOS: vmnet's
# bridge100 and up), whose network is the VMs'.
host_networks() {
  if [ "$os" = Darwin ]; then
    { ifconfig 2> /dev/null || true; } | perl -ne '$n = $1 if /^(\S+):/;
      printf "%s %s/%d\n", $n, $1, unpack("%32b*", pack("N", hex $2))
        if /^\s+inet (\S+) netmask 0x([0-9a-f]+)/ && $n !~ /^bridge1\d\d$/'
  else
    { "$svc_ip" -4 -o addr show 2> /dev/null || true; } | awk '$2 !~ /^mp/ { print $2, $4 }'
  fi
}

ip_number() { local IFS=.; set -- $1; echo $((($1 << 24) | ($2 << 16) | ($3 << 8) | $4)); }
overlaps() {  # overlaps A.B.C.D/N E.F.G.H/M: the two networks share addresses
  local bits=$((${1#*/} < ${2#*/} ? ${1#*/} : ${2#*/})) mask
  mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  [ "$(($(ip_number "${1%/*}") & mask))" -eq "$(($(ip_number "${2%/*}") & mask))" ]
}

choose_reverse() {  # says which reverse zones the service serves and routes
  local nets cidr ours name net chosen=()
  if [ ${#reverse[@]} -gt 0 ]; then
    say "==> reverse zones: ${svc_reverse:-none} (--reverse ${reverse[*]})"
    return
  fi
  nets=$([ -z "$multipass" ] || vm_networks)
  ours=$(host_networks)
  for cidr in $nets; do
    if host_only "${cidr%/*}"; then
      say "==> not routing the reverse zone of $cidr: a VM reports an address there, a block the plugin never serves"
      continue
    fi
    while read -r name net; do
      [ -n "$net" ] && overlaps "$cidr" "$net" || continue
      say "==> not routing the reverse zone of $cidr: it overlaps this host's network $net ($name), whose reverse names are not the VMs' (--reverse $cidr to route it all the same)"
      continue 2
    done <<< "$ours"
    chosen+=("$cidr")
    svc_reverse="${svc_reverse:+$svc_reverse }$(reverse_zone "$cidr")"
  done
  if [ -z "$svc_reverse" ]; then
    say "==> no reverse zone: 'multipass list' gave no VM address to route now; add --reverse CIDR for PTR answers"
    return
  fi
  say "==> reverse zones: $svc_reverse (the /24 networks of the VMs' first addresses: ${chosen[*]}; choose with --reverse CIDR or --reverse none)"
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

# The multipass daemon's socket: once a first client has authenticated, it
# is open to every user (multipass's "Authentication"); until then only its
# group gets in. Sets svc_groups (Linux: setpriv's groups) and
# svc_init_groups (macOS): none of the user's supplementary groups, or the
# socket's group alone when the user needs it to reach the daemon.
socket_groups() {
  local socket=/run/multipass_socket gid
  svc_groups=--clear-groups svc_init_groups=false
  if [ "$os" = Darwin ]; then
    socket=/var/run/multipass_socket
  elif [ "$svc_snap" = 1 ]; then
    socket=/var/snap/multipass/common/multipass_socket
  fi
  [ -S "$sysroot$socket" ] || return 0
  perl -e 'exit(((stat $ARGV[0])[2] & 06) == 06 ? 0 : 1)' "$sysroot$socket" && return 0
  gid=$(perl -e 'print((stat $ARGV[0])[5])' "$sysroot$socket")
  [ "$gid" != "$(id -g "$user")" ] || return 0  # the primary group stays anyway
  if id -G "$user" | tr ' ' '\n' | grep -qx "$gid"; then
    say "==> $socket admits only its group (gid $gid) until a first client authenticates: the service keeps that group"
    svc_groups=--groups=$gid svc_init_groups=true
  else
    warn "$socket admits only its group (gid $gid), which $user is not in: run 'multipass list' once as a member of it, or CoreDNS will not reach the daemon"
  fi
}

preflight() {  # every check before anything is written; with --dry-run, notes
  local problems=() major minor verify folder problem
  [ -x "$svc_bin" ] || problems+=("no $svc_bin: run 'make install PREFIX=$prefix' first")
  if [ -z "$multipass" ]; then
    multipass=$(command -v multipass || true)
    for p in /snap/bin/multipass /usr/local/bin/multipass; do
      [ -n "$multipass" ] || [ ! -x "$p" ] || multipass=$p
    done
    [ -z "$multipass" ] || [ -z "$(path_problem "$multipass")" ] ||
      problems+=("the multipass CLI found, $(shown "$multipass"), $(path_problem "$multipass"): pass --multipass PATH")
  fi
  [ -n "$multipass" ] || problems+=("no multipass CLI found: install multipass, or pass --multipass PATH")
  svc_multipass=${multipass:-/snap/bin/multipass}
  # The snap's CLI (/snap/bin/multipass, a link to /usr/bin/snap) needs a looser sandbox.
  svc_snap=0
  case "$svc_multipass $(readlink -f -- "$svc_multipass" 2> /dev/null || true)" in
    /snap/*|*/snap) svc_snap=1 ;;
  esac
  socket_groups
  for folder in "${folders[@]}"; do
    problem=$(root_path_problem "$sysroot$folder")
    [ -z "$problem" ] || problems+=("$problem: root writes nothing through it (into $folder)")
  done
  if [ -f "$sysroot$manifest" ]; then
    : # our own service may hold the port: this run replaces it
  elif port_taken; then
    problems+=("$svc_address port $port on this machine is taken: choose another with --port")
  fi
  if [ "$os" != Darwin ]; then
    svc_ip=$(command -v ip || echo /usr/sbin/ip)
    svc_resolvectl=$(command -v resolvectl || echo /usr/bin/resolvectl)
    svc_ss=$(command -v ss || echo /usr/bin/ss)
    svc_setpriv=$(command -v setpriv || echo /usr/bin/setpriv)
    [ -x "$svc_setpriv" ] || problems+=("no setpriv (util-linux): the unit drops your supplementary groups with it")
    svc_systemd=
    if ! command -v systemctl > /dev/null || [ ! -d "$sysroot/run/systemd/system" ]; then
      problems+=("systemd is not running here: start CoreDNS yourself (docs/service.md)")
    elif ! resolvectl status > /dev/null 2>&1; then
      problems+=("systemd-resolved is not running, so no route for $zone alone can be set: with NetworkManager's dnsmasq add 'server=/$zone/$svc_address#$port' to /etc/NetworkManager/dnsmasq.d/$zone.conf; with a plain /etc/resolv.conf run CoreDNS on 127.0.0.1:53 with 'forward . <your DNS>' for every other name (docs/service.md)")
    else
      read -r major minor <<< "$(systemd_version)" || true
      svc_systemd=$major
      if [ -z "$major" ]; then
        warn "'resolvectl --version' names no systemd version: if it is older than 246 the route will not work"
      elif [ "$major" -lt 246 ] && [ "$port" != 53 ]; then
        problems+=("systemd $major is older than 246: its resolved takes no port in a DNS server's address ($svc_address:$port; systemd#17858): update systemd, or keep port 53")
      elif [ "$major" = 252 ] && [ "${minor:-0}" -lt 3 ]; then
        warn "systemd 252.${minor:-0}'s resolved ignores a per-link DNS server on the loopback (systemd#25397, fixed in 252.3): update systemd, or $zone will not resolve"
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
    write_log
    write "$service_file" 644 "$(render_plist)"
    write "$resolver_file" 644 "$(render_resolver)"
    for z in $svc_reverse; do write "/etc/resolver/$z" 644 "$(render_resolver)"; done
    [ "$dry" = 1 ] || launchctl bootout "$domain/$svc_label" > /dev/null 2>&1 || true  # an earlier run's
    undo+=("launchctl bootout $domain/$svc_label")
    run launchctl bootstrap "$domain" "$service_file"
    undo_text="sudo launchctl bootout $domain/$svc_label"
  else
    write "$service_file" 644 "$(render_unit)"
    undo+=("systemctl daemon-reload")
    run systemctl daemon-reload
    undo+=("systemctl disable --now $svc_unit")
    run systemctl enable "$svc_unit"
    run systemctl restart "$svc_unit"
    undo_text="sudo systemctl disable --now $svc_unit"
  fi
  write "$manifest" 644 "$(printf '%s\n' "${written[@]}" "$manifest")"
  trap - ERR
  [ "$dry" = 0 ] || say "==> dry run: nothing was written or run"
  [ "$dry" = 1 ] || say "==> ${zone} now resolves through CoreDNS on $svc_address:$port (undo: $0 --uninstall; stop: $undo_text)"
}

# Whether PATH is a file this script writes: its manifest may name nothing else.
ours() {
  case "$1" in
    "$svc_conf"|"$service_file"|"$manifest") return 0 ;;
  esac
  [ "$os" = Darwin ] || return 1
  [ "$1" = "$svc_log" ] && return 0
  case "$1" in
    /etc/resolver/*) [ -z "$(zone_problem "${1#/etc/resolver/}")" ] || [[ "${1#/etc/resolver/}" =~ ^([0-9]{1,3}\.){1,3}in-addr\.arpa$ ]] ;;
    *) return 1 ;;
  esac
}

uninstall_service() {
  local paths=() path line=0 problem
  if [ -f "$sysroot$manifest" ]; then
    # Only a manifest root owns in a folder root owns decides what root deletes.
    problem=$(root_path_problem "$sysroot$manifest")
    [ -z "$problem" ] || die "$problem: its list of files is not root's to trust; nothing removed"
    while IFS= read -r path || [ -n "$path" ]; do
      line=$((line + 1))
      ours "$path" || die "line $line of $manifest names $(shown "$path"), which this script never writes: nothing removed"
      paths+=("$path")
    done < "$sysroot$manifest"
  elif [ "$dry" = 1 ]; then
    paths=("$svc_conf" "$service_file" ${resolver_file:+"$resolver_file"} "$manifest")
  else
    die "no $manifest: no service installed by this script"
  fi
  if [ "$os" = Darwin ]; then
    run launchctl bootout "$domain/$svc_label" || true
  else
    run systemctl disable --now "$svc_unit" || true
  fi
  for path in "${paths[@]}"; do run rm -f -- "$sysroot$path"; done
  [ "$os" = Darwin ] || run systemctl daemon-reload
  run rmdir -- "$sysroot$confdir"
}

if [ "$uninstall" = 1 ]; then uninstall_service; else install_service; fi
