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
#   svc_port       the port on 127.0.0.1 (1053)
#   svc_multipass  the full path of the multipass CLI
#   svc_reverse    the reverse zones it also serves and routes (24.110.10.in-addr.arpa ...), or empty
# render_unit also: svc_user, svc_ip, svc_resolvectl, svc_link, svc_link_type (dummy, or
# ifb on a kernel without the dummy driver); render_plist: svc_log.

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
# CoreDNS with the multipass plugin: answers <vm>.$svc_zone on 127.0.0.1:$svc_port${svc_reverse:+,
# and PTR for VM addresses in $svc_reverse}.
# Options: the plugin's manual page (go-shim/README.md).
$(server_keys) {
    bind 127.0.0.1
    errors
    multipass {
        binary $svc_multipass
    }
    reload
}
COREFILE
}

# A system unit that runs CoreDNS as svc_user. The "+" lines run as root: they
# give a link of its own (a dummy, with an address so that resolved counts it)
# CoreDNS as its DNS server for ~zone (and the reverse zones) only, so that
# systemd-resolved sends those names, and no others, to CoreDNS while the
# service runs. The routing domains, default-route off, DNSSEC off and the
# negative trust anchors are set before the server is named: no other name
# ever reaches CoreDNS, and an unsigned zone answers whatever the host's
# DNSSEC= setting.
render_unit() {
  local z domains="~$svc_zone" ntas="$svc_zone"
  for z in ${svc_reverse:-}; do domains="$domains ~$z" ntas="$ntas $z"; done
  cat <<UNIT
[Unit]
Description=CoreDNS with the multipass plugin for $svc_zone
Wants=network-online.target
After=network-online.target systemd-resolved.service snap.multipass.multipassd.service

[Service]
User=$svc_user
ExecStart=$svc_bin -conf $svc_conf
ExecReload=/bin/kill -USR1 \$MAINPID
Restart=on-failure
ExecStartPre=-+$svc_ip link delete $svc_link
ExecStartPre=+$svc_ip link add $svc_link type ${svc_link_type:-dummy}
ExecStartPre=+$svc_ip address add 169.254.53.53/32 dev $svc_link
ExecStartPre=+$svc_ip link set $svc_link up
ExecStartPost=+$svc_resolvectl domain $svc_link $domains
ExecStartPost=+$svc_resolvectl default-route $svc_link false
ExecStartPost=+$svc_resolvectl dnssec $svc_link no
ExecStartPost=+$svc_resolvectl nta $svc_link $ntas
ExecStartPost=+$svc_resolvectl dns $svc_link 127.0.0.1:$svc_port
ExecStopPost=-+$svc_ip link delete $svc_link

[Install]
WantedBy=multi-user.target
UNIT
}

xml_escape() {
  local s=${1//&/&amp;}
  s=${s//</&lt;}
  printf '%s' "${s//>/&gt;}"
}

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
  printf 'nameserver 127.0.0.1\nport %s\n' "$svc_port"
}
