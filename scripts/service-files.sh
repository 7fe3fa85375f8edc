# shellcheck shell=bash
# The text of the files that run CoreDNS with the plugin as a service, one
# function each, printed on stdout. Sourced by scripts/install-tree.sh (the
# examples in share/coredns-multipass/) and scripts/install-service.sh (the
# files it installs), so both write the same unit, plist and Corefile.
#
# Every function reads these variables:
#   svc_bin        the CoreDNS binary (PREFIX/bin/coredns-multipass)
#   svc_conf       the Corefile it runs
#   svc_zone       the zone (vm.internal)
#   svc_address    the loopback address it listens on (127.0.0.153 on Linux,
#                  127.0.0.1 on macOS)
#   svc_port       the port (53 on Linux, 1053 on macOS)
#   svc_multipass  the full path of the multipass CLI
#   svc_reverse    the reverse zones it also serves and routes (24.110.10.in-addr.arpa ...), or empty
#   svc_server     the Corefile's server_address (HOST:PORT, unix:PATH), or empty
# render_unit also: svc_user, svc_ip, svc_resolvectl, svc_ss, svc_setpriv, svc_link,
#   svc_link_type (dummy, or ifb on a kernel without the dummy driver), svc_groups
#   (setpriv's --clear-groups, or --groups=GID of the multipass socket), svc_snap (1
#   when the CLI is the snap), svc_systemd (systemd's major version, or empty),
#   svc_allow (addresses IPAddressAllow= adds to localhost, or empty);
# render_plist: svc_user, svc_home, svc_log, svc_init_groups (true or false).

svc_label=io.github.coredns-multipass
svc_unit=coredns-multipass.service

# The zones of the Corefile's server block, each with the port: the zone, then the reverse zones.
server_keys() {
  local z keys="$svc_zone:$svc_port"
  for z in ${svc_reverse:-}; do keys="$keys $z:$svc_port"; done
  printf '%s' "$keys"
}

render_corefile() {
  cat <<COREFILE
# CoreDNS with the multipass plugin: answers <vm>.$svc_zone on $svc_address:$svc_port${svc_reverse:+,
# and PTR for VM addresses in $svc_reverse}.
# Options: the plugin's manual page (go-shim/README.md).
$(server_keys) {
    bind $svc_address
    errors
    multipass {
        binary $svc_multipass${svc_server:+
        server_address $svc_server}
    }
    reload
}
COREFILE
}

# A system unit that runs CoreDNS as svc_user, on a port below 1024 of a
# loopback address of its own, which no unprivileged process can take. The
# "+" lines run as root: they give a link of its own (a dummy, with an
# address so that resolved counts it) CoreDNS as its DNS server for ~zone
# (and the reverse zones) only, so that systemd-resolved sends those names,
# and no others, to CoreDNS while the service runs. The routing domains,
# default-route off, DNSSEC off and the negative trust anchors are set
# before the server is named: no other name ever reaches CoreDNS, and an
# unsigned zone answers whatever the host's DNSSEC= setting. The server is
# named only once CoreDNS itself has bound its address.
render_unit() {
  local z domains="~$svc_zone" ntas="$svc_zone" server=$svc_address
  for z in ${svc_reverse:-}; do domains="$domains ~$z" ntas="$ntas $z"; done
  [ "$svc_port" = 53 ] || server=$svc_address:$svc_port
  cat <<UNIT
[Unit]
Description=CoreDNS with the multipass plugin for $svc_zone
Wants=network-online.target
After=network-online.target systemd-resolved.service snap.multipass.multipassd.service

[Service]
User=$svc_user
# setpriv drops the user's supplementary groups (docker, lxd, libvirt: as good
# as root) but for what the multipass socket needs, with the CAP_SETGID given
# here, and hands CoreDNS CAP_NET_BIND_SERVICE alone.
AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_SETGID
ExecStart=$svc_setpriv $svc_groups --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service -- $svc_bin -conf $svc_conf
ExecReload=/bin/kill -USR1 \$MAINPID
Restart=on-failure
ExecStartPre=-+$svc_ip link delete $svc_link
ExecStartPre=+$svc_ip link add $svc_link type ${svc_link_type:-dummy}
ExecStartPre=+$svc_ip address add 169.254.53.53/32 dev $svc_link
ExecStartPre=+$svc_ip link set $svc_link up
# CoreDNS binds TCP, then UDP: once its own process holds $svc_address:$svc_port
# for UDP it answers (root's ss sees any process's sockets). Should anything
# else hold the port, CoreDNS exits, systemd stops this line and the start,
# and the route below is never set.
ExecStartPost=+/bin/sh -c 'until $svc_ss -Hlnup "src $svc_address:$svc_port" | grep -q "pid=\$MAINPID,"; do sleep 0.2; done'
ExecStartPost=+$svc_resolvectl domain $svc_link $domains
ExecStartPost=+$svc_resolvectl default-route $svc_link false
ExecStartPost=+$svc_resolvectl dnssec $svc_link no
ExecStartPost=+$svc_resolvectl nta $svc_link $ntas
ExecStartPost=+$svc_resolvectl dns $svc_link $server
ExecStopPost=-+$svc_ip link delete $svc_link

$(render_hardening)

[Install]
WantedBy=multi-user.target
UNIT
}

# The unit's sandbox. The multipass CLI runs in the service's cgroup, and the
# snap's CLI goes through snap-confine, which is setuid root and makes mount
# namespaces: NoNewPrivileges= (which SystemCallFilter=, RestrictNamespaces=,
# ProtectKernel*=, ProtectClock=, ... imply for a user's service), a
# capability bounding set and the mount namespaces of ProtectSystem=,
# ProtectHome=, PrivateTmp= and the like break it. With the snap only what
# works from outside the process; the rest where the CLI is not the snap.
render_hardening() {
  cat <<HARDENING
# The snap's CLI survives these: limits, the file mode, and IP traffic and
# port binding (cgroup filters) for CoreDNS's loopback address alone.
UMask=0077
MemoryMax=256M
TasksMax=128
LimitNOFILE=1024
RemoveIPC=yes
IPAddressDeny=any
IPAddressAllow=localhost${svc_allow:+ $svc_allow}
HARDENING
  if [ "${svc_systemd:-0}" -ge 249 ]; then
    cat <<BIND
SocketBindAllow=ipv4:tcp:$svc_port
SocketBindAllow=ipv4:udp:$svc_port
SocketBindDeny=any
BIND
  fi
  if [ "${svc_snap:-1}" = 1 ]; then
    cat <<SNAP
# The CLI is the snap ($svc_multipass): no NoNewPrivileges, capability
# bounding set, system call filter or mount namespace, which break snap-confine.
SNAP
    return
  fi
  cat <<SANDBOX
# The CLI is not the snap: the sandbox snap-confine could not run in.
CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETGID
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
PrivateMounts=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SANDBOX
  [ "${svc_systemd:-0}" -lt 247 ] || echo "ProtectProc=invisible"
}

xml_escape() {
  local s=${1//&/&amp;}
  s=${s//</&lt;}
  printf '%s' "${s//>/&gt;}"
}

# A LaunchDaemon (root's, in /Library/LaunchDaemons) that runs CoreDNS as
# svc_user from boot, whoever is logged in: the resolver file points at it
# whenever the file exists. InitGroups false: none of the user's
# supplementary groups (admin: sudo) unless the multipass socket needs them.
render_plist() {
  cat <<PLIST
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>Label</key>
    <string>$svc_label</string>
    <key>ProgramArguments</key>
    <array>
        <string>$(xml_escape "$svc_bin")</string>
        <string>-conf</string>
        <string>$(xml_escape "$svc_conf")</string>
    </array>
    <key>UserName</key>
    <string>$(xml_escape "$svc_user")</string>
    <key>InitGroups</key>
    <${svc_init_groups:-false}/>
    <key>EnvironmentVariables</key>
    <dict>
        <key>HOME</key>
        <string>$(xml_escape "$svc_home")</string>
    </dict>
    <key>Umask</key>
    <integer>63</integer>
    <key>SoftResourceLimits</key>
    <dict>
        <key>NumberOfFiles</key>
        <integer>1024</integer>
    </dict>
    <key>RunAtLoad</key>
    <true/>
    <key>KeepAlive</key>
    <true/>
    <key>StandardOutPath</key>
    <string>$(xml_escape "$svc_log")</string>
    <key>StandardErrorPath</key>
    <string>$(xml_escape "$svc_log")</string>
</dict>
</plist>
PLIST
}

render_resolver() {
  printf 'nameserver %s\nport %s\n' "$svc_address" "$svc_port"
}
