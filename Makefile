# coredns-multipass: build, test, run.
#   make run    CoreDNS with the plugin on 127.0.0.1:1053 (the demo fleet when no multipass is installed)
#   make test   every test: C++ (CTest), Go (go test), end to end and install (pytest, in
#               parallel) against build/coredns; each part prints its time as it ends
#   make bench  benchmarks (see bench/README.md)
#   make soak   60 s of dnsperf load while the CLI flaps and CoreDNS reloads
#   make sanitize, make fuzz-smoke   the C++ tests under ASan+UBSan and TSan; 30 s per fuzzer
#   make install [PREFIX=/usr/local] [DESTDIR=]   bin/coredns-multipass, the library, header,
#                pkg-config and CMake files, share/coredns-multipass/ (scripts/install-tree.sh);
#                installs only what building and installing need (install-deps.sh build)
#   make uninstall   removes what make install wrote (its manifest)
#   make install-service   make install, then scripts/install-service.sh (service + resolver route)

SHELL   := bash
BUILD   := $(CURDIR)/build
STAGE   := $(BUILD)/prefix
PREFIX  ?= /usr/local
DESTDIR ?=
JOBS    ?= 2
CMAKE_BUILD_TYPE ?= RelWithDebInfo
# Tests run at once by CTest and by pytest-xdist (e2e, install): most of them
# wait on the CLI's intervals and timers, so more than there are cores pay.
TEST_WORKERS ?= 8
# The first python3 with pytest and pytest-xdist (Debian's python3-pytest-xdist
# serves /usr/bin/python3, which need not be the python3 on PATH).
PYTHON = $(shell for p in python3 /usr/bin/python3; do $$p -c 'import pytest, xdist' 2>/dev/null && { echo $$p; break; }; done)
PYTEST = $(if $(PYTHON),$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadgroup,$(error no python3 with pytest and pytest-xdist: run scripts/install-deps.sh))
# $(call timed,PART,COMMAND): runs COMMAND, then prints how long PART took.
timed = start=$$(date +%s); $(2); rc=$$?; echo "==> $(1): $$(($$(date +%s) - start)) s"; exit $$rc

.PHONY: all deps deps-build core coredns test test-core test-go test-e2e test-install run bench soak sanitize fuzz-smoke \
        install uninstall install-service clean

all: coredns

# What make test needs (and make run, make core: the core's own tests build
# with it); deps-build: only what building and installing need.
deps:
	@scripts/install-deps.sh test

deps-build:
	@scripts/install-deps.sh build

# The C++ core: shared + static library, header and pkg-config files in build/prefix.
core: deps
	cmake -S . -B $(BUILD)/core -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(STAGE) $(CMAKE_ARGS)
	cmake --build $(BUILD)/core -j$(JOBS)
	cmake --install $(BUILD)/core > /dev/null

# CoreDNS v1.14.7 with the plugin, built through plugin.cfg as a user builds it.
coredns: core
	scripts/build-coredns.sh

test: test-core test-go test-e2e test-install

test-core: core
	@$(call timed,test-core,ctest --test-dir $(BUILD)/core --output-on-failure -j$(TEST_WORKERS))

# go vet, gofmt and staticcheck are CI's (scripts/check-go.sh).
test-go: core
	@$(call timed,test-go,cd go-shim && eval "$$(../scripts/go-env.sh)" && go test -count=1 ./...)

test-e2e: coredns
	@$(call timed,test-e2e,$(PYTEST) -q tests/e2e)

# make install into temporary prefixes, the service script against stand-in
# systemctl/resolvectl/launchctl and, with build/coredns, against a real
# systemd-resolved in namespaces of its own; the docs' build route and doc tests (tests/install).
test-install: coredns
	@$(call timed,test-install,$(PYTEST) -q tests/install)

install: deps-build
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" JOBS=$(JOBS) scripts/install-tree.sh install

uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install-tree.sh uninstall

install-service: install
	scripts/install-service.sh --prefix "$(PREFIX)"

run: coredns
	scripts/run-demo.sh

bench: coredns
	@scripts/install-deps.sh bench
	bench/run.sh

soak: coredns
	@scripts/install-deps.sh bench
	tests/soak/soak.sh

sanitize: deps
	scripts/sanitize.sh

fuzz-smoke: core
	scripts/fuzz-smoke.sh 30

clean:
	rm -rf $(BUILD)
