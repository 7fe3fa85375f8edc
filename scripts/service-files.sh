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
# render_unit also: svc_user, svc_ip, svc_resolvectl, svc_link; render_plist: svc_log.

svc_label=io.github.coredns-multipass
svc_unit=coredns-multipass.service

render_corefile() {
  cat <<COREFILE
# CoreDNS with the multipass plugin: answers <vm>.$svc_zone on 127.0.0.1:$svc_port.
# Options: the plugin's manual page (go-shim/README.md).
$svc_zone:$svc_port {
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
# give a dummy link CoreDNS as its DNS server for ~zone only, with default-route
# off, so systemd-resolved sends that zone's names (and no others) to CoreDNS
# while the service runs. The link needs an address to count for resolved.
render_unit() {
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
ExecStartPre=+$svc_ip link add $svc_link type dummy
ExecStartPre=+$svc_ip address add 169.254.53.53/32 dev $svc_link
ExecStartPre=+$svc_ip link set $svc_link up
ExecStartPost=+$svc_resolvectl dns $svc_link 127.0.0.1:$svc_port
ExecStartPost=+$svc_resolvectl domain $svc_link ~$svc_zone
ExecStartPost=+$svc_resolvectl default-route $svc_link false
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
