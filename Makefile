# cpipe: the native core (hiredis + csrc/) and the Deno/Bun test suites.
# `make` builds the library for this machine; `make test` installs what is
# missing, builds, and runs every check; `make demo` runs the seed's examples.

HIREDIS_VERSION := 1.2.0
HIREDIS_SHA256  := 82ad632d31ee05da13b537c124f819eb88e18851d9cb0c30ae0552084811588c
HIREDIS_URL     := https://github.com/redis/hiredis/archive/refs/tags/v$(HIREDIS_VERSION).tar.gz
HIREDIS_TARBALL := build/hiredis-$(HIREDIS_VERSION).tar.gz
HIREDIS_SRC     := build/hiredis-$(HIREDIS_VERSION)
HIREDIS_OBJ     := alloc net hiredis sds async read sockcompat

# Host target, named as zig names targets: <arch>-<os>-<abi>.
UNAME_S := $(shell uname -s)
UNAME_M := $(shell uname -m | sed -e 's/^arm64$$/aarch64/')
ifeq ($(UNAME_S),Darwin)
  TARGET := $(UNAME_M)-macos
  LIBNAME := libcpipe.dylib
else
  TARGET := $(UNAME_M)-linux-$(shell (ldd --version 2>&1 | grep -qi musl) && echo musl || echo gnu)
  LIBNAME := libcpipe.so
endif
LIB := ffi/lib/$(TARGET)/$(LIBNAME)

CC      ?= cc
WARN    := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS  := -O2 -fPIC -fvisibility=hidden -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN)
HIREDIS_CFLAGS := -O2 -fPIC -fvisibility=hidden -Wall -Wextra -Wno-missing-field-initializers
INCLUDES := -Ibuild/include
CORE_SRC := $(wildcard csrc/*.c)
CORE_HDR := $(wildcard csrc/*.h)
OBJDIR  := build/$(TARGET)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DENO := node_modules/.bin/deno
BUN  := node_modules/.bin/bun
TS_TESTS := tests

.PHONY: all install tools redis test test-deno test-bun lint asan valgrind demo clean

all: $(LIB)

# ---- hiredis: release tarball, pinned sha256 --------------------------------
# The upstream release is tried first; where its host cannot be reached,
# Debian's source package of the same release carries the identical tarball.
$(HIREDIS_TARBALL):
	@mkdir -p build
	@rm -f $@.tmp
	curl -fsSL --connect-timeout 10 --max-time 120 -o $@.tmp $(HIREDIS_URL) || $(MAKE) --no-print-directory debian-hiredis OUT=$@.tmp
	echo "$(HIREDIS_SHA256)  $@.tmp" | sha256sum -c --quiet -
	mv $@.tmp $@

APT_SRC_FILE := /etc/apt/sources.list.d/cpipe-trixie-src.sources
.PHONY: debian-hiredis
debian-hiredis:
	@if [ ! -f $(APT_SRC_FILE) ]; then \
	  uri=$$(grep -hs -m1 '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | head -n1 | awk '{print $$2}'); \
	  [ -n "$$uri" ] || uri=$$(grep -hs -m1 '^deb ' /etc/apt/sources.list | awk '{print $$2}'); \
	  [ -n "$$uri" ] || { echo "no Debian mirror configured in apt; cannot fetch hiredis" >&2; exit 1; }; \
	  printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$$uri" \
	    | $(SUDO) tee $(APT_SRC_FILE) >/dev/null; \
	  $(SUDO) apt-get update -qq; \
	fi
	rm -rf build/apt-src && mkdir -p build/apt-src
	cd build/apt-src && apt-get source --download-only -qq hiredis/trixie 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
	cp build/apt-src/hiredis_$(HIREDIS_VERSION).orig.tar.gz $(OUT)

$(HIREDIS_SRC)/.unpacked: $(HIREDIS_TARBALL)
	rm -rf $(HIREDIS_SRC) && tar -xzf $< -C build
	@mkdir -p build/include && ln -sfn ../hiredis-$(HIREDIS_VERSION) build/include/hiredis
	touch $@

# One set of rules per build flavour: the release library and the sanitizer
# and valgrind builds of the C tests. $(1) is the directory, $(2) extra flags.
define flavour
$(1)/hiredis/%.o: $$(HIREDIS_SRC)/.unpacked
	@mkdir -p $$(dir $$@)
	$$(CC) $$(HIREDIS_CFLAGS) $(2) -c $$(HIREDIS_SRC)/$$*.c -o $$@

$(1)/libhiredis.a: $$(addprefix $(1)/hiredis/,$$(addsuffix .o,$$(HIREDIS_OBJ)))
	rm -f $$@ && ar rcs $$@ $$^

$(1)/core/%.o: csrc/%.c $$(CORE_HDR) $$(HIREDIS_SRC)/.unpacked
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $(2) $$(INCLUDES) -c $$< -o $$@

$(1)/test_core: tests/c/test_core.c $$(patsubst csrc/%.c,$(1)/core/%.o,$$(CORE_SRC)) $(1)/libhiredis.a
	$$(CC) $$(CFLAGS) $(2) $$(INCLUDES) -Icsrc $$^ -o $$@ -lpthread
endef

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
$(eval $(call flavour,$(OBJDIR),))
$(eval $(call flavour,build/asan,$(SAN)))
$(eval $(call flavour,build/valgrind,-g -O1))

# ---- the core ---------------------------------------------------------------
$(LIB): $(patsubst csrc/%.c,$(OBJDIR)/core/%.o,$(CORE_SRC)) $(OBJDIR)/libhiredis.a
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $^ -Wl,--exclude-libs,ALL -Wl,-z,defs -lpthread

# ---- tools: deno and bun from npm, redis-server from Debian -------------------
install: tools redis

tools: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

redis:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null; }

# ---- checks -----------------------------------------------------------------
test: install $(LIB) lint asan test-deno test-bun

lint: tools
	$(DENO) check mod.ts $(TS_TESTS) bench
	$(DENO) lint
	$(DENO) fmt --check

test-deno: tools redis $(LIB)
	$(DENO) test -A --no-check=remote $(TS_TESTS)

test-bun: tools redis $(LIB)
	$(BUN) test $(TS_TESTS)

# C-level tests of the core (argument packing, reply encoding, error paths,
# a live server) under AddressSanitizer + UBSan, and under valgrind.
# A throwaway redis-server on a unix socket for the C tests: $(call with_redis,DIR,COMMAND).
define with_redis
	@rm -f $(1)/redis.sock $(1)/redis.pid
	redis-server --port 0 --unixsocket $(CURDIR)/$(1)/redis.sock --save '' --appendonly no --enable-debug-command yes \
	  --daemonize yes --pidfile $(CURDIR)/$(1)/redis.pid --dir $(CURDIR)/$(1) --logfile redis.log
	@for i in $$(seq 100); do [ -S $(1)/redis.sock ] && break; sleep 0.05; done
	CPIPE_TEST_SOCKET=$(CURDIR)/$(1)/redis.sock $(2); rc=$$?; kill $$(cat $(1)/redis.pid); exit $$rc
endef

asan: build/asan/test_core redis
	$(call with_redis,build/asan,ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/test_core)

valgrind: build/valgrind/test_core redis
	$(call with_redis,build/valgrind,valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all -q build/valgrind/test_core)

demo: install $(LIB)
	$(DENO) run -A bench/demo.ts

clean:
	rm -rf build ffi/lib
