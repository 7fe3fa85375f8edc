#!/usr/bin/env bash
# make install / make uninstall.
#
#   PREFIX=/usr/local DESTDIR= scripts/install-tree.sh install
#   PREFIX=/usr/local DESTDIR= scripts/install-tree.sh uninstall
#
# install builds the core for PREFIX and CoreDNS with the plugin against it in
# build/install/ (as the calling user), then copies into DESTDIR/PREFIX:
#   bin/coredns-multipass                    CoreDNS with the plugin (RUNPATH PREFIX/lib)
#   lib/libcoredns-multipass.*, include/multipass/, lib/pkgconfig/, lib/cmake/coredns-multipass/
#   share/coredns-multipass/Corefile.example, coredns-multipass.service, io.github.coredns-multipass.plist
#   share/coredns-multipass/install-manifest.txt   what install wrote, for uninstall
# Each file is copied next to its place and renamed over it (atomic: a running
# CoreDNS keeps its old library), then files of an earlier install that this
# one no longer has are removed, and an installed service is restarted. When
# the destination is not writable, the copy runs through sudo.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/service-files.sh
. "$root/scripts/service-files.sh"
action=${1:-install}
prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
dest=$destdir$prefix
manifest_rel=share/coredns-multipass/install-manifest.txt
manifest=$dest/$manifest_rel

case "$prefix" in
  /*) ;;
  *) echo "install-tree.sh: PREFIX must be an absolute path, not '$prefix'" >&2; exit 2 ;;
esac

sudo=()
probe=$dest
while [ ! -e "$probe" ]; do probe=$(dirname "$probe"); done
if [ ! -w "$probe" ] && [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
  echo "==> $dest is not writable by $(id -un): copying with sudo"
fi
as_owner() { ${sudo[@]+"${sudo[@]}"} "$@"; }

# One build at a time in build/install (two make installs at once, such as
# the parallel install tests, would share it): flock(1) where there is one
# (Linux), else a lock folder (macOS). Held until the script exits.
lock_build() {
  local lock=$root/build/install.lock
  mkdir -p "$root/build"
  if command -v flock > /dev/null; then
    exec 9> "$lock"
    flock 9
  else
    until mkdir "$lock.d" 2> /dev/null; do sleep 1; done
    trap 'rmdir "$lock.d"' EXIT
  fi
}

build() {
  local build_dir=$root/build/install stage
  stage=$build_dir/stage
  lock_build
  echo "==> core for $prefix in $build_dir/core"
  cmake -S "$root" -B "$build_dir/core" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_INSTALL_LIBDIR=lib -DMULTIPASS_TEST=OFF ${CMAKE_ARGS:-} > /dev/null
  cmake --build "$build_dir/core" -j"${JOBS:-2}"
  rm -rf "$stage"
  DESTDIR=$stage cmake --install "$build_dir/core" > /dev/null
  staged=$stage$prefix

  # Build against the staged copy, but with the .pc Libs' rpath naming PREFIX/lib.
  mkdir -p "$build_dir/pkgconfig"
  sed -e "s|^prefix=.*|prefix=$staged|" -e "s|-Wl,-rpath,\${libdir}|-Wl,-rpath,$prefix/lib|" \
    "$staged/lib/pkgconfig/coredns-multipass.pc" > "$build_dir/pkgconfig/coredns-multipass.pc"
  # The binary is kept per prefix outside the stage, so that installing the
  # same tree again relinks nothing (go build leaves an up-to-date output be).
  local out
  out=$build_dir/bin/$(printf '%s' "$prefix" | cksum | cut -d' ' -f1)/coredns-multipass
  MULTIPASS_PREFIX=$staged MULTIPASS_PC_DIR=$build_dir/pkgconfig \
    COREDNS_OUT=$out COREDNS_CHECK=0 "$root/scripts/build-coredns.sh"
  mkdir -p "$staged/bin"
  cp -p "$out" "$staged/bin/coredns-multipass"

  # Examples with the paths filled in: what scripts/install-service.sh writes.
  local share=$staged/share/coredns-multipass user
  user=${SUDO_USER:-$(id -un)}
  mkdir -p "$share"
  svc_bin=$prefix/bin/coredns-multipass svc_zone=vm.internal svc_port=1053
  svc_conf=$prefix/etc/coredns-multipass/Corefile svc_user=$user svc_link=mp-dns0
  svc_multipass=$(command -v multipass || echo /snap/bin/multipass)
  svc_ip=$(command -v ip || echo /usr/sbin/ip)
  svc_resolvectl=$(command -v resolvectl || echo /usr/bin/resolvectl)
  svc_log=$(eval echo "~$user")/Library/Logs/coredns-multipass.log
  render_corefile > "$share/Corefile.example"
  render_unit > "$share/$svc_unit"
  render_plist > "$share/$svc_label.plist"
}

# place REL: staged/REL onto dest/REL by a rename in the same folder.
place() {
  local tmp=$dest/$1.new.$$
  as_owner cp -P "$staged/$1" "$tmp"
  as_owner mv -f "$tmp" "$dest/$1"
}

restart_service() {
  [ -z "$destdir" ] || return 0
  local unit=${MULTIPASS_SERVICE_ROOT:-}/etc/systemd/system/$svc_unit
  if [ -f "$unit" ] && command -v systemctl > /dev/null; then
    echo "==> restarting $svc_unit"
    as_owner systemctl try-restart "$svc_unit"
  fi
  local user=${SUDO_USER:-$(id -un)} plist
  plist=${MULTIPASS_SERVICE_ROOT:-}$(eval echo "~$user")/Library/LaunchAgents/$svc_label.plist
  if [ -f "$plist" ] && command -v launchctl > /dev/null; then
    echo "==> restarting $svc_label"
    launchctl kickstart -k "gui/$(id -u "$user")/$svc_label" || true
  fi
}

install_tree() {
  build
  local old=() new=() dirs=() rel
  if [ -f "$manifest" ]; then
    while IFS= read -r rel; do old+=("$rel"); done < "$manifest"
  fi
  as_owner mkdir -p "$dest"
  while IFS= read -r rel; do  # folders this install creates, kept from an earlier one
    if [ ! -d "$dest/$rel" ] || printf '%s\n' ${old[@]+"${old[@]}"} | grep -qxF "d $rel"; then
      dirs+=("d $rel")
    fi
    as_owner mkdir -p "$dest/$rel"
  done < <(cd "$staged" && find . -mindepth 1 -type d | sed 's|^\./||' | sort)
  while IFS= read -r rel; do
    place "$rel"
    new+=("f $rel")
  done < <(cd "$staged" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort)
  for rel in ${old[@]+"${old[@]}"}; do  # files of an earlier install this one lacks
    case "$rel" in
      "f "*) printf '%s\n' "${new[@]}" | grep -qxF "$rel" || as_owner rm -f "$dest/${rel#f }" ;;
    esac
  done
  printf '%s\n' "${dirs[@]}" "${new[@]}" "f $manifest_rel" | as_owner tee "$manifest.new.$$" > /dev/null
  as_owner mv -f "$manifest.new.$$" "$manifest"
  if [ -n "$destdir" ]; then
    LD_LIBRARY_PATH=$dest/lib DYLD_LIBRARY_PATH=$dest/lib "$dest/bin/coredns-multipass" -plugins | grep -qx multipass
  else
    "$dest/bin/coredns-multipass" -plugins | grep -qx multipass
  fi
  echo "==> installed $prefix/bin/coredns-multipass ($(wc -l < "$manifest" | tr -d ' ') entries in $prefix/$manifest_rel)"
  restart_service
}

uninstall_tree() {
  if [ ! -f "$manifest" ]; then
    echo "install-tree.sh: no $manifest: nothing installed in $dest" >&2
    exit 1
  fi
  local dirs entry
  dirs=$(sed -n 's/^d //p' "$manifest" | sort -r)
  while IFS= read -r entry; do
    case "$entry" in "f "*) as_owner rm -f "$dest/${entry#f }" ;; esac
  done < "$manifest"
  while IFS= read -r entry; do  # a folder stays when something else lives in it
    [ -z "$entry" ] || as_owner rmdir "$dest/$entry" 2> /dev/null || true
  done <<< "$dirs"
  echo "==> removed what make install wrote to $dest"
}

case "$action" in
  install) install_tree ;;
  uninstall) uninstall_tree ;;
  *) echo "usage: install-tree.sh install|uninstall" >&2; exit 2 ;;
esac
