#!/usr/bin/env bash
# Installs what building, installing and testing coredns-multipass need, and
# only what is missing. Debian/Ubuntu: apt-get (as root, or through sudo).
# macOS: prints the Homebrew command.
#
#   scripts/install-deps.sh [build|test|bench] [--list]
#
# build (make install): the compiler, CMake, pkg-config, Boost's headers,
#   spdlog, nlohmann_json, Go, and publicsuffix (scripts/install-service.sh
#   refuses a zone that is a public suffix). Nothing else goes onto the machine.
# test (the default: make test, make run): build, plus GoogleTest,
#   pytest-xdist (the suites run in parallel), dig and dnssec-keygen, ip
#   netns, the libFuzzer smoke, a venv, llvm-nm/llvm-objdump and Debian's
#   archive key for scripts/check-macos.sh (which fetches its own Zig, CMake
#   and Debian unstable's Boost headers into build/), systemd-analyze and
#   readelf (tests/install), unbound (tests/e2e/test_probe.py runs its own)
#   and bind9 (tests/e2e/test_secondary.py runs named as a secondary; both
#   packages' services are kept from starting and disabled), dbus-daemon and
#   systemd-resolved for tests/install/test_real_resolved.py: resolved is only
#   unpacked, into ~/.cache/coredns-multipass/systemd-resolved, never
#   installed (its package replaces /etc/resolv.conf).
# bench: test, plus dnsperf and Google Benchmark.
# --list: prints the mode's Debian packages, one a line, and installs nothing.
set -euo pipefail

what=${1:-test}
list=0
[ "${2:-}" != --list ] || list=1
case "$what" in
  build|test|bench) ;;
  *) echo "usage: install-deps.sh [build|test|bench] [--list]" >&2; exit 2 ;;
esac

# Debian package=a file that shows it is installed (bash 3 has no maps).
debian=(
  cmake=/usr/bin/cmake
  g++=/usr/bin/g++
  make=/usr/bin/make
  pkg-config=/usr/bin/pkg-config
  libboost-dev=/usr/include/boost/process.hpp
  libspdlog-dev=/usr/include/spdlog/spdlog.h
  nlohmann-json3-dev=/usr/include/nlohmann/json.hpp
  publicsuffix=/usr/share/publicsuffix/public_suffix_list.dat
)
if [ "$what" != build ]; then
  debian+=(
    libgtest-dev=/usr/include/gtest/gtest.h
    dnsutils=/usr/bin/dig
    python3-pytest=pytest
    python3-pytest-xdist=xdist
    curl=/usr/bin/curl
    bind9-utils=/usr/bin/dnssec-keygen
    iproute2=/usr/sbin/ip
    clang=/usr/bin/clang++
    libclang-rt-14-dev=/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a
    llvm=/usr/bin/llvm-objdump
    debian-archive-keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    python3-venv=venv
    systemd=/usr/bin/systemd-analyze
    binutils=/usr/bin/readelf
    unbound=/usr/sbin/unbound
    bind9=/usr/sbin/named
    dbus-daemon=/usr/bin/dbus-daemon
  )
fi
if [ "$what" = bench ]; then
  debian+=(dnsperf=/usr/bin/dnsperf libbenchmark-dev=/usr/include/benchmark/benchmark.h)
fi
if [ "$list" = 1 ]; then
  printf '%s\n' "${debian[@]%%=*}"
  exit 0
fi

have() {  # have PATH-or-python-module
  case "$1" in
    /*) compgen -G "$1" >/dev/null ;;
    pytest) python3 -c 'import pytest' 2>/dev/null ;;
    # the Makefile runs the suites with the first of these that has both
    xdist) python3 -c 'import pytest, xdist' 2>/dev/null || /usr/bin/python3 -c 'import pytest, xdist' 2>/dev/null ;;
    venv) python3 -c 'import ensurepip' 2>/dev/null ;;
  esac
}

# systemd-resolved of the installed systemd's version (else the archive's,
# with its own libsystemd-shared), unpacked where the tests look for it
# (tests/install/resolved_ns.py); fetched again only when systemd changes.
unpack_resolved() {
  local cache=${XDG_CACHE_HOME:-$HOME/.cache}/coredns-multipass/systemd-resolved
  local version candidate tmp sudo=""
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 0
  version=$(dpkg-query -W -f='${Version}' libsystemd-shared 2>/dev/null) || return 0
  [ "$(cat "$cache/version" 2>/dev/null)" != "$version" ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "unpacking systemd-resolved $version into $cache (for tests/install; not installed)"
  tmp=$(mktemp -d)
  [ "$(id -u)" -ne 0 ] || chown _apt "$tmp" 2>/dev/null || true  # apt-get download writes as _apt
  fetch() { (cd "$tmp" && apt-get download -qq "$@" >/dev/null 2>&1); }
  if ! fetch "systemd-resolved=$version"; then
    $sudo apt-get update -qq
    if ! fetch "systemd-resolved=$version"; then
      candidate=$(apt-cache policy systemd-resolved | sed -n 's/^ *Candidate: //p')
      fetch "systemd-resolved=$candidate" "libsystemd-shared=$candidate" || {
        echo "could not fetch systemd-resolved: tests/install/test_real_resolved.py will fail" >&2
        rm -rf "$tmp"
        return 0
      }
    fi
  fi
  rm -rf "$cache.new"
  mkdir -p "$cache.new"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$cache.new"; done
  echo "$version" > "$cache.new/version"
  rm -rf "$cache" "$tmp"
  mv "$cache.new" "$cache"
}

case "$(uname -s)" in
  Darwin)
    missing=()
    brew_prefix=$(brew --prefix 2>/dev/null || echo /opt/homebrew)
    for tool in cmake pkg-config go; do
      command -v "$tool" >/dev/null || missing+=("$tool")
    done
    for h in boost/process.hpp spdlog/spdlog.h nlohmann/json.hpp; do
      [ -e "$brew_prefix/include/$h" ] || missing+=("$h")
    done
    formulas="cmake pkg-config go boost spdlog nlohmann-json"
    if [ "$what" != build ]; then
      for tool in python3 dig; do
        command -v "$tool" >/dev/null || missing+=("$tool")
      done
      python3 -c 'import pytest, xdist' 2>/dev/null || missing+=(pytest-xdist)
      [ -e "$brew_prefix/include/gtest/gtest.h" ] || missing+=(gtest/gtest.h)
      [ -x "$brew_prefix/sbin/unbound" ] || missing+=(unbound)
      [ -x "$brew_prefix/sbin/named" ] || missing+=(named)
      formulas="$formulas googletest bind unbound python"
    fi
    if [ ${#missing[@]} -gt 0 ]; then
      echo "missing: ${missing[*]}" >&2
      echo "install them with:" >&2
      echo "  brew install $formulas" >&2
      [ "$what" = build ] || echo "  pip3 install pytest pytest-xdist" >&2
      exit 1
    fi
    ;;
  *)
    missing=()
    for entry in "${debian[@]}"; do
      have "${entry#*=}" || missing+=("${entry%%=*}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      if ! command -v apt-get >/dev/null; then
        echo "missing packages (Debian names): ${missing[*]}; install them with your package manager" >&2
        exit 1
      fi
      sudo=""
      [ "$(id -u)" -eq 0 ] || sudo=sudo
      echo "installing: ${missing[*]}"
      # The unbound and bind9 packages come for their binaries only (the
      # tests run their own): their servers must not start on port 53, now
      # or at boot.
      services=()
      for pkg in unbound bind9; do
        [[ " ${missing[*]} " != *" $pkg "* ]] || services+=("$pkg")
      done
      policy=""
      if [ ${#services[@]} -gt 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        trap '$sudo rm -f "$policy"' EXIT
      fi
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      if [ ${#services[@]} -gt 0 ] && [ -d /run/systemd/system ]; then
        $sudo systemctl disable --now unbound.service unbound-resolvconf.service named.service >/dev/null 2>&1 || true
      fi
    fi
    [ "$what" = build ] || unpack_resolved
    ;;
esac

if ! command -v go >/dev/null; then
  echo "Go is missing: install Go 1.25 or newer (https://go.dev/doc/install); Debian's golang package is too old for CoreDNS v1.14" >&2
  exit 1
fi
