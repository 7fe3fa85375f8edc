#!/usr/bin/env bash
# What Linux can prove about the macOS build (run in .ci/run's checks lane).
# For aarch64-macos and x86_64-macos (macOS 13 or later) it proves, and prints:
#
#   compile  CMake >= 3.30 configures the project for macOS without a warning,
#            and its compile commands for the core (the project's flags,
#            -Wall -Wextra -Werror; dependencies' headers as -isystem) pass
#            with Zig's clang against macOS's libc headers and libc++: with a
#            Boost >= 1.88 in Homebrew's layout (Boost.Process v1 under
#            boost/process/v1/) and, for the sources that include Boost, with
#            Debian's 1.74. include/multipass/multipass.h compiles as C99 and
#            C++17. A Linux-only call outside a guard (pipe2, malloc_trim,
#            prctl, ...) fails here, and the macOS side of every guard compiles.
#   link     the objects link into the dylib, named as CMake's install step
#            names it (an absolute install name), against macOS's libSystem
#            (Zig's stub of it): every symbol binds to libSystem except the C++
#            runtime's, left to the loader (macOS's libc++, which no package
#            here has); no Boost library is needed. (Which symbols it exports
#            is CMake's -exported_symbol, on a Mac only: Zig's linker has none.)
#   go       with the dylib, the header and CMake's coredns-multipass.pc in a
#            prefix, go-shim builds for GOOS=darwin with cgo through pkg-config,
#            and a probe program that references every function of the header
#            links through the same .pc file (a darwin executable): its load
#            command names the installed file by its absolute path (no @rpath),
#            which is what a user's `go build` of CoreDNS finds. (The probe is
#            the link proof: `go build` of a package that is not main lets the
#            link of its cgo part fail silently.)
#
# Everything it fetches goes into build/; nothing is installed on the machine:
# Zig (the `ziglang` package from PyPI: clang, libc++ and macOS's libc headers
# and libSystem stub) into build/zig-venv, CMake into build/cmake-venv, and the
# newest libboost1.N-dev (N >= 88) of Debian's unstable suite, through a private
# apt list in build/macos/apt (only the machine's mirror address is read; its
# own apt lists are neither used nor changed), unpacked with dpkg -x into
# build/macos/boost-new, once (remove that folder to take a newer Boost).
#
# Stubs for this check only, in build/macos/stubs (never in what users build):
# <mach/mach_vm.h>, which prometheus/client_golang's process collector includes
# and Zig's macOS headers lack, declares the one function it calls (libSystem
# has it); and an empty CoreFoundation.framework, which runtime/cgo links on
# darwin (the probe needs none of its symbols).
#
# The Go builds use the machine's Go build cache, and Zig its own cache
# (~/.cache/zig): a second run compiles only what changed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=$root/build/macos
macos_min=13.0
mkdir -p "$out"

# --- Tools, into build/ ------------------------------------------------------

# pip_venv DIR REQUIREMENT: a venv in DIR holding REQUIREMENT (made once).
pip_venv() {
  if [ ! -e "$1/.installed" ]; then
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install -q "$2"
    touch "$1/.installed"
  fi
}
pip_venv build/zig-venv 'ziglang>=0.17,<0.18'
pip_venv build/cmake-venv 'cmake>=3.30'
zig=$(echo "$root"/build/zig-venv/lib/python3*/site-packages/ziglang/zig)
cmake=$root/build/cmake-venv/bin/cmake
for tool in llvm-nm llvm-objdump llvm-cxxfilt pkg-config go; do
  command -v "$tool" > /dev/null || { echo "check-macos.sh: $tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
done

# --- A Boost >= 1.88 in Homebrew's layout: Debian unstable's newest headers ---

boost_new=$out/boost-new
if [ ! -e "$boost_new/version" ]; then
  apt_dir=$out/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2> /dev/null | grep -m 1 '/debian/*$' || true)
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} sid main" \
    > "$apt_dir/sources.list"
  apt=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
  apt-get "${apt[@]}" -qq update
  package=$(apt-cache "${apt[@]}" search --names-only '^libboost1\.[0-9]+-dev$' |
            awk '{ print $1 }' | sort -V | tail -n 1)
  minor=$(echo "$package" | sed -n 's/^libboost1\.\([0-9]*\)-dev$/\1/p')
  if [ -z "$minor" ] || [ "$minor" -lt 88 ]; then
    echo "check-macos.sh: Debian's unstable suite has no libboost1.N-dev with N >= 88 (found '$package')" >&2
    exit 1
  fi
  [ "$(id -u)" -ne 0 ] || chown _apt "$apt_dir/debs" 2> /dev/null || true  # apt-get download writes as _apt
  (cd "$apt_dir/debs" && rm -f ./*.deb && apt-get "${apt[@]}" -qq download "$package")
  rm -rf "$boost_new.tmp"
  dpkg -x "$apt_dir"/debs/"$package"_*.deb "$boost_new.tmp"
  rm -rf "$boost_new"
  mv "$boost_new.tmp" "$boost_new"
  echo "$package" > "$boost_new/version"
fi
boost_version() { sed -n 's/^#define BOOST_LIB_VERSION "\(.*\)"/\1/p' "$1/boost/version.hpp" | tr _ .; }
boost_new_include=$boost_new/usr/include
boost_new_config=$(echo "$boost_new"/usr/lib/*/cmake/Boost-*/BoostConfig.cmake)

# Folders that hold only the dependencies' headers, for -isystem in place of
# /usr/include (which would bring Linux's libc headers in).
deps_include=$out/include-deps
boost_old_include=$out/include-boost-1.74
mkdir -p "$deps_include" "$boost_old_include"
for dir in nlohmann spdlog fmt; do
  [ ! -d "/usr/include/$dir" ] || ln -sfn "/usr/include/$dir" "$deps_include/$dir"
done
ln -sfn /usr/include/boost "$boost_old_include/boost"

# --- Stubs (see the top) ---------------------------------------------------------

mkdir -p "$out/stubs/include/mach" "$out/stubs/frameworks/CoreFoundation.framework"
cat > "$out/stubs/include/mach/mach_vm.h" << 'EOF'
/* check-macos.sh's stub: only what prometheus/client_golang's
   process_collector_mem_cgo_darwin.c uses (libSystem exports it). */
#include <mach/mach_types.h>
kern_return_t mach_vm_region(vm_map_read_t target_task, mach_vm_address_t *address,
                             mach_vm_size_t *size, vm_region_flavor_t flavor,
                             vm_region_info_t info, mach_msg_type_number_t *info_count,
                             mach_port_t *object_name);
EOF
cat > "$out/stubs/frameworks/CoreFoundation.framework/CoreFoundation.tbd" << 'EOF'
--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation'
...
EOF

# The probe: a darwin executable that links every function of the header
# through `#cgo pkg-config: coredns-multipass`, as go-shim does.
functions=$(grep -o 'MULTIPASS_API[^;(]*[ *]multipass_[a-z0-9_]*(' include/multipass/multipass.h |
            sed 's/.*[ *]\(multipass_[a-z0-9_]*\)($/\1/' | sort -u)
mkdir -p "$out/probe"
printf 'module probe\n\ngo 1.25\n' > "$out/probe/go.mod"
{
  printf 'package main\n\n/*\n#cgo pkg-config: coredns-multipass\n#include <multipass/multipass.h>\n'
  printf 'void *const probe_functions[] = {\n'
  printf '  (void *)%s,\n' $functions
  printf '};\n*/\nimport "C"\n\nfunc main() { println(C.probe_functions[0] != nil) }\n'
} > "$out/probe/main.go"

# The macOS side of every Linux guard in the core (printed as proved).
guards=$(grep -n -E '^#\s*(if|elif).*(__linux__|__GLIBC__|__APPLE__)' src/*.cc src/*.h |
         sed -E 's/^src\/([^:]*):([0-9]*):.*(__linux__|__GLIBC__|__APPLE__).*/\1:\2 (\3)/' | paste -sd ' ')

# The sources that include Boost, directly or through headers of src/.
boost_users=$(grep -l '#include <boost/' src/*.cc src/*.h || true)
while :; do
  more=$boost_users
  for header in $boost_users; do
    case "$header" in *.h) more+=" $(grep -l "#include \"$(basename "$header")\"" src/*.cc src/*.h || true)" ;; esac
  done
  more=$(echo $more | tr ' ' '\n' | sort -u | tr '\n' ' ')
  [ "$more" = "$boost_users" ] && break
  boost_users=$more
done
boost_sources=$(echo $boost_users | tr ' ' '\n' | grep '\.cc$' | paste -sd ' ')

# --- Per target -------------------------------------------------------------------

# compile_commands.json's commands for the core's sources, one line each:
# "SOURCE<tab>DIR<tab>OBJECT<tab>COMMAND", with /usr/include swapped for the
# dependencies' own folder. With OLD_BOOST_INCLUDE and OBJECT_DIR, the Boost
# >= 1.88 folder is swapped for OLD_BOOST_INCLUDE and objects go to OBJECT_DIR.
commands() {  # commands BUILD_DIR [OLD_BOOST_INCLUDE OBJECT_DIR]
  python3 - "$1/compile_commands.json" "$root/src/" "$deps_include" "$boost_new_include" "${2:-}" "${3:-}" << 'EOF'
import json, os, shlex, sys
path, src, deps, new, old, object_dir = sys.argv[1:7]
for entry in json.load(open(path)):
    if not entry["file"].startswith(src):
        continue
    args = shlex.split(entry["command"])
    args = [deps if a == "/usr/include" else a for a in args]
    # A depfile would keep Zig from caching the object.
    for flag, width in (("-MD", 1), ("-MT", 2), ("-MF", 2)):
        while flag in args:
            i = args.index(flag)
            del args[i:i + width]
    out = args.index("-o") + 1
    if old:
        args = [old if a == new else a for a in args]
        # Boost 1.74 uses std::unary_function, which a current libc++ removed.
        args.insert(1, "-D_LIBCPP_ENABLE_CXX17_REMOVED_UNARY_BINARY_FUNCTION")
        args[out + 1] = os.path.join(object_dir, os.path.basename(args[out + 1]))
        out += 1
    if any(a == "/usr/include" or a.startswith(("-I/usr/include", "-isystem/usr/include")) for a in args):
        sys.exit("check-macos.sh: a compile command still reads /usr/include: " + entry["command"])
    print(entry["file"], entry["directory"], os.path.join(entry["directory"], args[out]),
          shlex.join(args), sep="\t")
EOF
}

summary=()
for target in aarch64-macos x86_64-macos; do
  case "$target" in aarch64-*) arch=arm64 goarch=arm64 ;; x86_64-*) arch=x86_64 goarch=amd64 ;; esac
  dir=$out/$target
  prefix=$dir/prefix
  mkdir -p "$dir/bin"
  # Zig's compilers for the target. Zig turns UBSan on when no -O is given
  # (and builds its runtime for every link unless told with this very flag):
  # off, as in the project's own build. A C++ link (CMake's compiler
  # identification) gets no libc++, which Zig would first build from source.
  # Zig writes ./-.o for Go's probes of the compiler (`-### -c -`, and
  # `-c - -o /dev/null`, run in go-shim/): a file in build/ takes it.
  for tool in cc c++; do
    cat > "$dir/bin/$tool" << EOF
#!/bin/sh
no_libcxx=
[ $tool = cc ] || no_libcxx=-nostdlib++
previous=
for arg; do
  shift
  case \$arg in -c | -E | -S) no_libcxx= ;; esac
  [ "\$previous" = -o ] && [ "\$arg" = /dev/null ] && arg=$dir/null.o
  set -- "\$@" "\$arg"
  [ "\$arg" != '-###' ] || set -- "\$@" -o $dir/null.o
  previous=\$arg
done
exec "$zig" $tool -target $target.$macos_min -fno-sanitize=undefined \$no_libcxx "\$@"
EOF
  done
  chmod +x "$dir/bin/cc" "$dir/bin/c++"
  cat > "$dir/toolchain.cmake" << EOF
set(CMAKE_SYSTEM_NAME Darwin)
set(CMAKE_SYSTEM_PROCESSOR $arch)
set(CMAKE_C_COMPILER $dir/bin/cc)
set(CMAKE_CXX_COMPILER $dir/bin/c++)
# CMake's checks compile only (a link needs Zig's compiler-rt built first).
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
EOF

  echo "==> $target: CMake configures the project for macOS"
  # Build type None: no optimisation flags (the proofs do not depend on them;
  # -O0 compiles quickest and keeps every call).
  log=$dir/configure.log
  "$cmake" -S . -B "$dir/cmake" -DCMAKE_TOOLCHAIN_FILE="$dir/toolchain.cmake" \
    -DCMAKE_BUILD_TYPE=None -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DMULTIPASS_TEST=OFF \
    -DMULTIPASS_WERROR=ON -DCMAKE_INSTALL_PREFIX="$prefix" -DBoost_DIR="$(dirname "$boost_new_config")" \
    > "$log" 2>&1 || { cat "$log"; exit 1; }
  if grep -q 'CMP0167\|CMake Warning\|CMake Deprecation Warning' "$log"; then
    cat "$log"
    echo "check-macos.sh: CMake warned while configuring for $target (above)" >&2
    exit 1
  fi
  # The install name CMake's install step gives the dylib (INSTALL_NAME_DIR).
  install_name=$(sed -n 's/^ *-id "\(.*\)"$/\1/p' "$dir/cmake/cmake_install.cmake" | head -n 1)
  case "$install_name" in
    "$prefix"/lib/libcoredns-multipass.*.dylib) ;;
    *) echo "check-macos.sh: CMake installs the dylib with the install name '$install_name', not an absolute one in $prefix/lib" >&2; exit 1 ;;
  esac

  echo "==> $target: compile (Boost $(boost_version "$boost_new_include"); Boost $(boost_version /usr/include) for $boost_sources)"
  objects=()
  while IFS=$'\t' read -r source cdir object command; do
    (cd "$cdir" && eval "$command")
    objects+=("$object")
  done < <(commands "$dir/cmake")
  mkdir -p "$dir/boost-1.74"
  while IFS=$'\t' read -r source cdir object command; do
    case " $boost_users " in *" ${source#"$root"/} "*) (cd "$cdir" && eval "$command") ;; esac
  done < <(commands "$dir/cmake" "$boost_old_include" "$dir/boost-1.74")
  printf '#include "multipass/multipass.h"\n' > "$dir/header.c"
  "$dir/bin/cc" -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -c "$dir/header.c" -o "$dir/header-c.o"
  cp "$dir/header.c" "$dir/header.cc"
  "$dir/bin/c++" -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c "$dir/header.cc" -o "$dir/header-cc.o"

  echo "==> $target: link against libSystem"
  dylib=$dir/$(basename "$install_name")
  version=$(sed -n 's/^project(coredns-multipass VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
  # libSystem alone (-nostdlib: neither Zig's libc++ nor its compiler-rt,
  # which libSystem holds on macOS); what it lacks is left to the loader.
  "$dir/bin/c++" -dynamiclib -nostdlib -lSystem -Wl,-undefined,dynamic_lookup \
    -install_name "$install_name" -current_version "$version" -o "$dylib" "${objects[@]}"
  # Every undefined symbol binds to libSystem, or is the C++ runtime's.
  undefined=$(llvm-nm -m -u "$dylib")
  from_system=$(grep -c '(from libSystem)$' <<< "$undefined" || true)
  # Demangled (Mach-O adds an underscore to every name): std::, the ABI's
  # type information, operator new/delete, __cxa_*, the personality routine.
  cxx_runtime='^(([^(]* )?std::|(typeinfo|typeinfo name|vtable|VTT) for (std::|__cxxabiv1::)|operator (new|delete)|__cxa_|__gxx_personality_v0$|__dynamic_cast$)'
  others=$(grep -v '(from libSystem)$' <<< "$undefined" | awk '{ print $NF }' | sed 's/^_//' |
           llvm-cxxfilt | grep -Ev "$cxx_runtime" || true)
  if [ -n "$others" ]; then
    echo "check-macos.sh: the core for $target uses symbols that neither macOS's libSystem nor the C++ runtime has:" >&2
    echo "$others" | sed 's/^/  /' >&2
    exit 1
  fi
  left=$(grep -vc '(from libSystem)$' <<< "$undefined" || true)
  # Installed as CMake installs it: the file at its install name, the link
  # that -lcoredns-multipass finds, the header and CMake's .pc file.
  rm -rf "$prefix"
  mkdir -p "$prefix/lib/pkgconfig" "$prefix/include/multipass"
  cp "$dylib" "$install_name"
  ln -s "$(basename "$install_name")" "$prefix/lib/libcoredns-multipass.dylib"
  cp include/multipass/multipass.h "$prefix/include/multipass/"
  cp "$dir/cmake/coredns-multipass.pc" "$prefix/lib/pkgconfig/"

  echo "==> $target: go-shim and the probe for darwin/$goarch"
  eval "$(MULTIPASS_PREFIX="$prefix" scripts/go-env.sh)"
  export GOOS=darwin GOARCH=$goarch CC=$dir/bin/cc CXX=$dir/bin/c++
  export CGO_CFLAGS="$CGO_CFLAGS -isystem $out/stubs/include"
  export CGO_LDFLAGS="-F$out/stubs/frameworks"
  # Without optimisation (-N -l): the same compile proof for 28 % less CPU.
  (cd go-shim && go build -gcflags='all=-N -l' ./)
  rm -f "$dir/probe"
  # -w: no DWARF, which Go would otherwise merge with Apple's dsymutil.
  (cd "$out/probe" && go build -ldflags=-w -o "$dir/probe" .)
  loads=$(llvm-objdump --macho --dylibs-used "$dir/probe" | sed -n 's/^[[:space:]]*\([^ ]*libcoredns-multipass[^ ]*\) (.*/\1/p')
  if [ "$loads" != "$install_name" ] || [ ! -f "$loads" ]; then
    echo "check-macos.sh: a darwin binary linked through coredns-multipass.pc loads '$loads', not the installed $install_name" >&2
    exit 1
  fi
  unset GOOS GOARCH CC CXX CGO_CFLAGS CGO_LDFLAGS

  summary+=("$target (macOS $macos_min or later):"
    "  compile  ${#objects[@]} core sources with CMake's flags (-Werror) and Boost $(boost_version "$boost_new_include") (boost/process/v1); $boost_sources with Boost $(boost_version /usr/include) too; multipass.h as C99 and C++17"
    "  guards   the macOS side of: $guards"
    "  link     $(basename "$dylib"): $from_system symbols from libSystem, $left of the C++ runtime left to the loader, no Boost library"
    "  go       go-shim for darwin/$goarch with cgo through coredns-multipass.pc; a probe linking the header's $(echo $functions | wc -w) functions loads $install_name")
done

echo "==> check-macos.sh: CMake $("$cmake" --version | sed -n '1s/cmake version //p') (for Darwin, no warning), Zig $("$zig" version), $(cat "$boost_new/version") from Debian unstable"
printf '%s\n' "${summary[@]}"
