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
# the destination is not writable, the copy runs through sudo. Root (sudo, or
# a root shell) writes and deletes only where no other user controls a folder
# on the way, and deletes only what the manifest names of the files install
# writes (no '..', no other name).
set -euo pipefail
umask 022

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/service-files.sh
. "$root/scripts/service-files.sh"
# shellcheck source=scripts/safe-paths.sh
. "$root/scripts/safe-paths.sh"
action=${1:-install}
prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
dest=$destdir$prefix
manifest_rel=share/coredns-multipass/install-manifest.txt
manifest=$dest/$manifest_rel

die() { echo "install-tree.sh: $*" >&2; exit 2; }
problem=$(path_problem "$prefix")
[ -z "$problem" ] || die "PREFIX $(printf '%q' "$prefix") $problem"
if [ -n "$destdir" ]; then
  problem=$(path_problem "$destdir")
  [ -z "$problem" ] || die "DESTDIR $(printf '%q' "$destdir") $problem"
fi

sudo=()
probe=$dest
while [ ! -e "$probe" ]; do probe=$(dirname "$probe"); done
if [ ! -w "$probe" ] && [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
  echo "==> $dest is not writable by $(id -un): copying with sudo"
fi
as_owner() { ${sudo[@]+"${sudo[@]}"} "$@"; }

# Root writes and deletes only through folders no other user controls.
if [ "$(id -u)" -eq 0 ] || [ ${#sudo[@]} -gt 0 ]; then
  problem=$(root_path_problem "$dest" 0)
  [ -z "$problem" ] || die "$problem: root writes and deletes nothing through it; install into $dest as its owner, without sudo"
fi

# Whether a manifest entry ("f REL" or "d REL") names a file or folder that
# install writes: nothing else is ever removed.
known_entry() {
  local rel=${1#? } name
  case "$rel" in ""|/*|*//*|*..*|*[!A-Za-z0-9._+/-]*) return 1 ;; esac
  case "$1" in
    "d bin"|"d lib"|"d include"|"d include/multipass"|"d lib/pkgconfig"|"d lib/cmake"|\
      "d lib/cmake/coredns-multipass"|"d share"|"d share/coredns-multipass") return 0 ;;
    "f bin/coredns-multipass") return 0 ;;
    "f lib/libcoredns-multipass."*) name=${rel#lib/} ;;
    "f include/multipass/"*) name=${rel#include/multipass/} ;;
    "f lib/pkgconfig/coredns-multipass"*.pc) name=${rel#lib/pkgconfig/} ;;
    "f lib/cmake/coredns-multipass/"*) name=${rel#lib/cmake/coredns-multipass/} ;;
    "f share/coredns-multipass/"*) name=${rel#share/coredns-multipass/} ;;
    *) return 1 ;;
  esac
  case "$name" in */*) return 1 ;; esac
}

# read_manifest: the entries of the manifest, one a line, each checked; dies
# naming the first entry install never writes. When root deletes, the
# manifest must be root's, in root's folders.
read_manifest() {
  local entry line=0 problem
  if [ "$(id -u)" -eq 0 ] || [ ${#sudo[@]} -gt 0 ]; then
    problem=$(root_path_problem "$manifest" 0)
    [ -z "$problem" ] || die "$problem: its list of files is not root's to trust; nothing removed"
  fi
  while IFS= read -r entry || [ -n "$entry" ]; do
    line=$((line + 1))
    known_entry "$entry" ||
      die "line $line of $manifest names $(printf '%q' "$entry"), which make install never writes: nothing removed"
    printf '%s\n' "$entry"
  done < "$manifest"
}

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

  # Examples with the paths filled in: what scripts/install-service.sh writes
  # on this system (the Corefile's listener is this system's).
  local share=$staged/share/coredns-multipass user
  user=${SUDO_USER:-$(id -un)}
  mkdir -p "$share"
  svc_bin=$prefix/bin/coredns-multipass svc_zone=vm.internal
  svc_address=127.0.0.153 svc_port=53
  [ "$(uname -s)" != Darwin ] || svc_address=127.0.0.1 svc_port=1053
  svc_conf=$prefix/etc/coredns-multipass/Corefile svc_user=$user svc_link=mp-dns0
  svc_multipass=$(command -v multipass || echo /snap/bin/multipass)
  svc_snap=0
  case "$svc_multipass" in /snap/*) svc_snap=1 ;; esac
  svc_ip=$(command -v ip || echo /usr/sbin/ip)
  svc_resolvectl=$(command -v resolvectl || echo /usr/bin/resolvectl)
  svc_ss=$(command -v ss || echo /usr/bin/ss)
  svc_setpriv=$(command -v setpriv || echo /usr/bin/setpriv)
  svc_groups=--clear-groups svc_init_groups=false
  svc_systemd=$(systemctl --version 2> /dev/null | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
  svc_home=$(perl -e 'my @p = getpwnam($ARGV[0]); print $p[7] // ""' "$user")
  svc_log=/var/log/coredns-multipass.log
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
  local plist=${MULTIPASS_SERVICE_ROOT:-}/Library/LaunchDaemons/$svc_label.plist launchd=()
  if [ -f "$plist" ] && command -v launchctl > /dev/null; then
    echo "==> restarting $svc_label"
    [ "$(id -u)" -eq 0 ] || launchd=(sudo)
    ${launchd[@]+"${launchd[@]}"} launchctl kickstart -k "system/$svc_label" || true
  fi
}

install_tree() {
  build
  local old=() new=() dirs=() rel entries
  if [ -f "$manifest" ]; then
    entries=$(read_manifest)
    while IFS= read -r rel; do old+=("$rel"); done <<< "$entries"
  fi
  while IFS= read -r rel; do  # uninstall removes only what known_entry lists
    known_entry "$rel" || die "make install would write $rel, which known_entry does not list: add it there"
  done < <(cd "$staged" && { find . -mindepth 1 -type d | sed 's|^\./|d |'; find . \( -type f -o -type l \) | sed 's|^\./|f |'; })
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
      "f "*) printf '%s\n' "${new[@]}" | grep -qxF -- "$rel" || as_owner rm -f -- "$dest/${rel#f }" ;;
    esac
  done
  printf '%s\n' "${dirs[@]}" "${new[@]}" "f $manifest_rel" | as_owner tee "$manifest.new.$$" > /dev/null
  as_owner mv -f -- "$manifest.new.$$" "$manifest"
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
  local dirs entry entries
  entries=$(read_manifest)
  dirs=$(sed -n 's/^d //p' <<< "$entries" | sort -r)
  while IFS= read -r entry; do
    case "$entry" in "f "*) as_owner rm -f -- "$dest/${entry#f }" ;; esac
  done <<< "$entries"
  while IFS= read -r entry; do  # a folder stays when something else lives in it
    [ -z "$entry" ] || as_owner rmdir -- "$dest/$entry" 2> /dev/null || true
  done <<< "$dirs"
  echo "==> removed what make install wrote to $dest"
}

case "$action" in
  install) install_tree ;;
  uninstall) uninstall_tree ;;
  *) echo "usage: install-tree.sh install|uninstall" >&2; exit 2 ;;
esac
