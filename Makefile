# cpipe: the native core (hiredis + csrc/) and the Deno/Bun test suites.
# `make` builds the library for this machine; `make test` installs what is
# missing, builds, and runs every check; `make demo` runs the seed's examples.

HIREDIS_VERSION := 1.2.0
HIREDIS_SHA256  := 82ad632d31ee05da13b537c124f819eb88e18851d9cb0c30ae0552084811588c
HIREDIS_URL     := https://github.com/redis/hiredis/archive/refs/tags/v$(HIREDIS_VERSION).tar.gz
HIREDIS_TARBALL := build/hiredis-$(HIREDIS_VERSION).tar.gz
HIREDIS_SRC     := build/hiredis-$(HIREDIS_VERSION)
HIREDIS_OBJ     := alloc net hiredis sds async read sockcompat

# Mbed TLS 3.6 LTS for the TLS transport (csrc/transport_tls.c), built from the
# sources its configuration (csrc/tls_config.h: a TLS 1.2/1.3 client) uses.
# Debian's orig tarball is upstream's release asset as published, not
# repacked (no +dfsg, debian/watch takes mbedtls-X.tar.bz2 from the GitHub
# release as is): one sha256 pins both.
MBEDTLS_VERSION := 3.6.6
MBEDTLS_SHA256  := 8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
MBEDTLS_URL     := https://github.com/Mbed-TLS/mbedtls/releases/download/mbedtls-$(MBEDTLS_VERSION)/mbedtls-$(MBEDTLS_VERSION).tar.bz2
MBEDTLS_TARBALL := build/mbedtls-$(MBEDTLS_VERSION).tar.bz2
MBEDTLS_SRC     := build/mbedtls-$(MBEDTLS_VERSION)
MBEDTLS_OBJ     := aes aesni aesce asn1parse asn1write base64 bignum bignum_core chacha20 chachapoly cipher cipher_wrap \
  constant_time ctr_drbg ecdh ecdsa ecp ecp_curves entropy entropy_poll error gcm hkdf md oid pem pk pk_ecc pk_wrap \
  pkparse pkwrite platform platform_util poly1305 psa_crypto psa_crypto_aead psa_crypto_cipher psa_crypto_client \
  psa_crypto_driver_wrappers_no_static psa_crypto_ecp psa_crypto_hash psa_crypto_mac psa_crypto_random psa_crypto_rsa \
  psa_crypto_slot_management psa_util rsa rsa_alt_helpers sha1 sha256 sha512 ssl_ciphersuites ssl_client ssl_msg \
  ssl_tls ssl_tls12_client ssl_tls13_client ssl_tls13_generic ssl_tls13_keys threading x509 x509_crt
MBEDTLS_DEFS    := '-DMBEDTLS_CONFIG_FILE="tls_config.h"'

# Command specs (src/commands/*.json) of the servers, for `make commands`.
# Redis' GitHub archive is the tarball Debian ships as its orig; Valkey's
# Debian orig is repacked (+dfsg1, xz), so it has a pin of its own. Upstream
# Valkey's sha256 is the one valkey-io/valkey-hashes publishes.
REDIS_VERSION      := 8.0.2
REDIS_SHA256       := caf3c0069f06fc84c5153bd2a348b204c578de80490c73857bee01d9b5d7401f
REDIS_URL          := https://github.com/redis/redis/archive/refs/tags/$(REDIS_VERSION).tar.gz
VALKEY_VERSION     := 8.1.1
VALKEY_SHA256      := 3355fbd5458d853ab201d2c046ffca9f078000587ccbe9a6c585110f146ad2c5
VALKEY_URL         := https://github.com/valkey-io/valkey/archive/refs/tags/$(VALKEY_VERSION).tar.gz
VALKEY_DEB_ORIG    := valkey_$(VALKEY_VERSION)+dfsg1.orig.tar.xz
VALKEY_DEB_SHA256  := d9bbd82eecb82f359e649a0007ad3dc1b47cc15afa626348ca86b73c4ae2c7ee
# Gzip from upstream, xz from Debian: tar tells them apart when unpacking.
REDIS_TARBALL      := build/redis-$(REDIS_VERSION).tarball
VALKEY_TARBALL     := build/valkey-$(VALKEY_VERSION).tarball
SPECS              := build/command-specs

# Host target, named as zig names targets: <arch>-<os>-<abi>.
UNAME_S := $(shell uname -s)
UNAME_M := $(shell uname -m | sed -e 's/^arm64$$/aarch64/')
ifeq ($(UNAME_S),Darwin)
  TARGET := $(UNAME_M)-macos
  LIBNAME := libcpipe.dylib
  # Apple's linker: everything but CPIPE_API is hidden already by -fvisibility.
  HOST_LDFLAGS := -Wl,-dead_strip -Wl,-install_name,@rpath/libcpipe.dylib
else
  TARGET := $(UNAME_M)-linux-$(shell (ldd --version 2>&1 | grep -qi musl) && echo musl || echo gnu)
  LIBNAME := libcpipe.so
  # hiredis' own symbols stay private to the library; every reference resolves.
  HOST_LDFLAGS := -Wl,--exclude-libs,ALL -Wl,-z,defs -lpthread
endif
LIB := ffi/lib/$(TARGET)/$(LIBNAME)

CC      ?= cc
WARN    := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS  := -O2 -fPIC -fvisibility=hidden -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN)
# -fwrapv: hiredis' reader adds 2 to a bulk string's length in a signed type
# (read.c, processBulkItem), which overflows for a hostile header such as
# "$9223372036854775807": wrapped, the sum makes the reader wait for more
# bytes and reply.c refuses the header by its length (fuzz_reply found it).
HIREDIS_CFLAGS := -O2 -fPIC -fvisibility=hidden -fwrapv -Wall -Wextra -Wno-missing-field-initializers
MBEDTLS_CFLAGS := -O2 -fPIC -fvisibility=hidden -std=c99 -Wall -Wextra -Wno-missing-field-initializers $(MBEDTLS_DEFS) \
  -I$(MBEDTLS_SRC)/include -I$(MBEDTLS_SRC)/library -Icsrc
# Mbed TLS' AES on x86_64 from its intrinsics rather than its inline assembly, whose byte loops around each block
# cost: AES-128-GCM 1.35x faster on this project's VM. aesni.c also gets SSSE3 (its byte swaps become shuffles): its
# code runs only after its CPUID check finds AES-NI, and every CPU with AES-NI has SSSE3. aes.c must see the same
# choice, since only then does it align the round keys the intrinsics load; it gets no SSSE3, so its software AES
# still runs on any x86_64 CPU. `make test-cpus` runs the TLS tests on emulated CPUs with and without AES-NI.
AES_CFLAGS.aes   := -maes -mpclmul
AES_CFLAGS.aesni := -mssse3 -maes -mpclmul
# The architecture a flavour builds for ($(1): its directory): a cross target's, else this machine's.
flavour_arch = $(if $(filter build/cross/%,$(1)),$(firstword $(subst -, ,$(notdir $(1)))),$(UNAME_M))
INCLUDES := -Ibuild/include -I$(MBEDTLS_SRC)/include -Icsrc $(MBEDTLS_DEFS)
CORE_SRC := $(wildcard csrc/*.c)
# What the core of a flavour ($(1): its directory) links: its objects, hiredis and Mbed TLS.
flavour_objects = $(patsubst csrc/%.c,$(1)/core/%.o,$(CORE_SRC)) $(1)/libhiredis.a $(1)/libmbedtls.a
CORE_HDR := $(wildcard csrc/*.h)
OBJDIR  := build/$(TARGET)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Installs Debian packages $(1), quietly; recipes run it when a tool they need is missing.
apt_install = { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; }
DENO := node_modules/.bin/deno
BUN  := node_modules/.bin/bun
TS_TESTS := tests

.PHONY: all install tools redis commands test test-status-before test-deno test-bun lint asan valgrind valgrind-tool demo clean cross cross-tools test-cross

all: $(LIB) ffi/lib/embedded.js

# ---- release tarballs, pinned sha256 -----------------------------------------
# The upstream release is tried first; where its host cannot be reached,
# Debian's source package of the same release is used instead. A tarball that
# arrives but does not match its pin stops the build.
# $(call fetch_release,URL,SHA256,DEBIAN_PACKAGE,DEBIAN_ORIG_FILE,DEBIAN_SHA256):
# the recipe of a rule whose target is the tarball.
define fetch_release
	@mkdir -p build
	@rm -f $@.tmp
	if curl -fsSL --connect-timeout 10 --max-time 120 -o $@.tmp $(1); then sum=$(2); else \
	  $(MAKE) --no-print-directory debian-orig PKG=$(3) ORIG=$(4) OUT=$@.tmp && sum=$(5); fi; \
	  echo "$$sum  $@.tmp" | sha256sum -c --quiet -
	mv $@.tmp $@
endef

$(HIREDIS_TARBALL):
	$(call fetch_release,$(HIREDIS_URL),$(HIREDIS_SHA256),hiredis,hiredis_$(HIREDIS_VERSION).orig.tar.gz,$(HIREDIS_SHA256))

# Debian's orig tarball $(ORIG) of source package $(PKG) from trixie, copied to $(OUT).
APT_SRC_FILE := /etc/apt/sources.list.d/cpipe-trixie-src.sources
.PHONY: debian-orig
debian-orig:
	@if [ ! -f $(APT_SRC_FILE) ]; then \
	  uri=$$(grep -hs -m1 '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | head -n1 | awk '{print $$2}'); \
	  [ -n "$$uri" ] || uri=$$(grep -hs -m1 '^deb ' /etc/apt/sources.list | awk '{print $$2}'); \
	  [ -n "$$uri" ] || { echo "no Debian mirror configured in apt; cannot fetch $(PKG)" >&2; exit 1; }; \
	  printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$$uri" \
	    | $(SUDO) tee $(APT_SRC_FILE) >/dev/null; \
	  $(SUDO) apt-get update -qq; \
	fi
	rm -rf build/apt-src/$(PKG) && mkdir -p build/apt-src/$(PKG)
	cd build/apt-src/$(PKG) && apt-get source --download-only -qq $(PKG)/trixie 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
	cp build/apt-src/$(PKG)/$(ORIG) $(OUT)

$(MBEDTLS_TARBALL):
	$(call fetch_release,$(MBEDTLS_URL),$(MBEDTLS_SHA256),mbedtls,mbedtls_$(MBEDTLS_VERSION).orig.tar.bz2,$(MBEDTLS_SHA256))

# Only the headers and the library's sources (the tarball also holds tests, programs, docs).
$(MBEDTLS_SRC)/.unpacked: $(MBEDTLS_TARBALL)
	rm -rf $(MBEDTLS_SRC) && tar -xjf $< -C build mbedtls-$(MBEDTLS_VERSION)/include mbedtls-$(MBEDTLS_VERSION)/library
	touch $@

$(HIREDIS_SRC)/.unpacked: $(HIREDIS_TARBALL)
	rm -rf $(HIREDIS_SRC) && tar -xzf $< -C build
	@mkdir -p build/include && ln -sfn ../hiredis-$(HIREDIS_VERSION) build/include/hiredis
	touch $@

# One set of rules per build flavour: the release library, the sanitizer
# and valgrind builds of the C tests, and one per cross target. $(1) is the
# directory, $(2) extra flags; optionally $(3) the compiler (default $(CC)),
# $(4) the archiver (default ar), $(5) what must exist before compiling.
define flavour
$(1)/hiredis/%.o: $$(HIREDIS_SRC)/.unpacked | $(5)
	@mkdir -p $$(dir $$@)
	$(or $(3),$$(CC)) $$(HIREDIS_CFLAGS) $(2) -c $$(HIREDIS_SRC)/$$*.c -o $$@

$(1)/libhiredis.a: $$(addprefix $(1)/hiredis/,$$(addsuffix .o,$$(HIREDIS_OBJ)))
	rm -f $$@ && $(or $(4),ar) rcs $$@ $$^

$(1)/mbedtls/%.o: $$(MBEDTLS_SRC)/.unpacked csrc/tls_config.h | $(5)
	@mkdir -p $$(dir $$@)
	$(or $(3),$$(CC)) $$(MBEDTLS_CFLAGS) $(2) $(if $(filter x86_64,$(call flavour_arch,$(1))),$$(AES_CFLAGS.$$*)) \
	  -c $$(MBEDTLS_SRC)/library/$$*.c -o $$@

# aes.o and aesni.o must agree on AES_CFLAGS (see there): both are rebuilt whenever the Makefile changes.
$(1)/mbedtls/aes.o $(1)/mbedtls/aesni.o: Makefile

$(1)/libmbedtls.a: $$(addprefix $(1)/mbedtls/,$$(addsuffix .o,$$(MBEDTLS_OBJ)))
	rm -f $$@ && $(or $(4),ar) rcs $$@ $$^

$(1)/core/%.o: csrc/%.c $$(CORE_HDR) $$(HIREDIS_SRC)/.unpacked $$(MBEDTLS_SRC)/.unpacked | $(5)
	@mkdir -p $$(dir $$@)
	$(or $(3),$$(CC)) $$(CFLAGS) $(2) $$(INCLUDES) -c $$< -o $$@

$(1)/test_core: tests/c/test_core.c $$(call flavour_objects,$(1))
	$$(CC) $$(CFLAGS) $(2) $$(INCLUDES) -Icsrc $$^ -o $$@ -lpthread
endef

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1 -DCPIPE_FAULT_INJECTION
$(eval $(call flavour,$(OBJDIR),))
$(eval $(call flavour,build/asan,$(SAN)))
VALGRIND_CFLAGS := -g -O1 -DCPIPE_FAULT_INJECTION
$(eval $(call flavour,build/valgrind,$(VALGRIND_CFLAGS)))

# ---- the core ---------------------------------------------------------------
$(LIB): $(call flavour_objects,$(OBJDIR))
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $^ $(HOST_LDFLAGS)
	@scripts/checksums.sh

# ---- the command table: src/command_table.ts from the servers' command specs ----
# `make commands` fetches the pinned Redis and Valkey releases, unpacks only
# their src/commands/*.json and regenerates the checked-in src/command_table.ts
# (what routing and reply accounting read) and src/command_docs.ts (summaries,
# arguments, reply schemas; loaded only when asked for).
$(REDIS_TARBALL):
	$(call fetch_release,$(REDIS_URL),$(REDIS_SHA256),redis,redis_$(REDIS_VERSION).orig.tar.gz,$(REDIS_SHA256))

$(VALKEY_TARBALL):
	$(call fetch_release,$(VALKEY_URL),$(VALKEY_SHA256),valkey,$(VALKEY_DEB_ORIG),$(VALKEY_DEB_SHA256))

$(SPECS)/%/.unpacked: build/%.tarball
	rm -rf $(SPECS)/$* && mkdir -p $(SPECS)/$*
	tar -xf $< -C $(SPECS)/$* --strip-components=1 --wildcards '*/src/commands/*.json'
	touch $@

commands: tools $(SPECS)/redis-$(REDIS_VERSION)/.unpacked $(SPECS)/valkey-$(VALKEY_VERSION)/.unpacked
	$(DENO) run --allow-read --allow-write=src/command_table.ts,src/command_docs.ts,src/command_methods.ts,src/command_lists.ts scripts/gen-commands.ts \
	  redis=$(REDIS_VERSION)=$(SPECS)/redis-$(REDIS_VERSION)/src/commands \
	  valkey=$(VALKEY_VERSION)=$(SPECS)/valkey-$(VALKEY_VERSION)/src/commands
	$(DENO) fmt -q src/command_table.ts src/command_docs.ts src/command_methods.ts src/command_lists.ts

# The loader's list of libraries for Bun's bundler; remade when a checkout built before it existed runs `make`.
ffi/lib/embedded.js: $(LIB) scripts/checksums.sh
	@scripts/checksums.sh

# ---- tools: deno and bun from npm, redis-server from Debian -------------------
install: tools redis

tools: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

redis:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null || \
	  $(call apt_install,redis-server redis-tools)

# ---- checks -----------------------------------------------------------------
test: test-status-before install $(LIB) lint asan-connection asan asan-tls asan-reply asan-pool tsan-pool valgrind test-cpus clang-tests fuzz-short test-deno test-bun
	@$(checkout_unchanged)

# `make test` leaves a git checkout as it found it: whatever a step writes goes under build/ or an ignored path, and
# a step that leaves something else (clang-tests' objects in the root, once) fails the run, which names it. The
# checkout's state is taken first (make runs prerequisites in order), compared last.
STATUS_BEFORE := build/status-before-test
STATUS_AFTER := build/status-after-test
git_status = git status --porcelain --untracked-files=all
test-status-before:
	@mkdir -p build && if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then $(git_status) > $(STATUS_BEFORE); \
	  else rm -f $(STATUS_BEFORE); fi
checkout_unchanged = if [ -f $(STATUS_BEFORE) ]; then $(git_status) > $(STATUS_AFTER); \
	  diff $(STATUS_BEFORE) $(STATUS_AFTER) || { echo "make test changed the checkout: lines with > are new"; exit 1; }; fi

lint: tools
	$(DENO) check mod.ts cluster.ts sentinel.ts $(TS_TESTS) $(wildcard bench)
	$(DENO) lint
	$(DENO) fmt --check

# C-level tests of the core (argument packing, reply encoding, settings,
# records, the sync client's error paths, a live server) under
# AddressSanitizer + UBSan, and under valgrind.
# A throwaway redis-server on a unix socket for the C tests: $(call with_redis,DIR,COMMAND).
# It is waited for on the way out: a server still exiting would unlink the
# socket of the next run's server, made at the same path.
define with_redis
	@rm -f $(1)/redis.sock $(1)/redis.pid
	redis-server --port 0 --unixsocket $(CURDIR)/$(1)/redis.sock --save '' --appendonly no --enable-debug-command yes \
	  --daemonize yes --pidfile $(CURDIR)/$(1)/redis.pid --dir $(CURDIR)/$(1) --logfile redis.log
	@for i in $$(seq 100); do [ -S $(1)/redis.sock ] && break; sleep 0.05; done
	CPIPE_TEST_SOCKET=$(CURDIR)/$(1)/redis.sock $(2); rc=$$?; pid=$$(cat $(1)/redis.pid); kill $$pid; \
	  for i in $$(seq 100); do kill -0 $$pid 2>/dev/null || break; sleep 0.05; done; exit $$rc
endef

asan: build/asan/test_core redis
	$(call with_redis,build/asan,ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/test_core)

# The connection state machine over a fake in-memory transport: no server.
.PHONY: asan-connection
build/asan/test_connection: tests/c/test_connection.c $(call flavour_objects,build/asan)
	$(CC) $(CFLAGS) $(SAN) $(INCLUDES) -Icsrc $^ -o $@ -lpthread

asan-connection: build/asan/test_connection
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/test_connection

# The TLS transport over a live TLS port (tests/c/test_tls.c) under ASan/UBSan:
# certificates made with openssl (scripts/test-certs.sh) into build/asan-tls/,
# a redis-server with only a TLS port on a free one.
.PHONY: asan-tls
build/asan/test_tls: tests/c/test_tls.c $(call flavour_objects,build/asan)
	$(CC) $(CFLAGS) $(SAN) $(INCLUDES) -Icsrc $^ -o $@ -lpthread

# $(call with_tls_redis,dir,command): runs command with CPIPE_TEST_CERTS and CPIPE_TEST_TLS_PORT set, against a
# redis-server (certificates made into dir/certs) that listens on that TLS port only, and stops it after.
define with_tls_redis
	@rm -rf $(1) && mkdir -p $(1)
	scripts/test-certs.sh $(1)/certs
	@port=$$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	  certs=$(CURDIR)/$(1)/certs; \
	  redis-server --port 0 --bind 127.0.0.1 --tls-port $$port --tls-cert-file $$certs/server.crt \
	    --tls-key-file $$certs/server.key --tls-ca-cert-file $$certs/ca.crt --tls-auth-clients optional \
	    --save '' --appendonly no --daemonize yes --pidfile $(CURDIR)/$(1)/redis.pid \
	    --dir $(CURDIR)/$(1) --logfile redis.log; \
	  for i in $$(seq 100); do redis-cli --tls --cacert $$certs/ca.crt -p $$port ping 2>/dev/null | grep -q PONG && break; \
	    sleep 0.05; done; \
	  CPIPE_TEST_CERTS=$$certs CPIPE_TEST_TLS_PORT=$$port $(2); rc=$$?; pid=$$(cat $(1)/redis.pid); kill $$pid; \
	  for i in $$(seq 100); do kill -0 $$pid 2>/dev/null || break; sleep 0.05; done; exit $$rc
endef

asan-tls: build/asan/test_tls redis
	$(call with_tls_redis,build/asan-tls,ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/test_tls)

# The core's C tests under valgrind (memcheck): what ASan cannot see (uninitialised reads), and every allocation
# freed by the end (test_pool and test_tls with their allocation failures injected, as under ASan).
VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all -q
build/valgrind/test_%: tests/c/test_%.c $(call flavour_objects,build/valgrind)
	$(CC) $(CFLAGS) $(VALGRIND_CFLAGS) $(INCLUDES) -Icsrc $^ -o $@ -lpthread

valgrind: build/valgrind/test_core build/valgrind/test_pool build/valgrind/test_tls redis valgrind-tool
	@mkdir -p build/valgrind
	$(call with_redis,build/valgrind,$(VALGRIND) build/valgrind/test_core)
	$(call with_redis,build/valgrind,$(VALGRIND) build/valgrind/test_pool)
	$(call with_tls_redis,build/valgrind-tls,$(VALGRIND) build/valgrind/test_tls)

valgrind-tool:
	@command -v valgrind >/dev/null || $(call apt_install,valgrind)

demo: install $(LIB)
	$(DENO) run -A bench/demo.ts

# ---- the reply reader: C tests and fuzzing -------------------------------------
# tests/c/test_reply.c: the reader's bounds (csrc/reply.h) with no server, under
# ASan/UBSan (`make asan-reply`, part of `make test`).
.PHONY: asan-reply
build/asan/test_reply: tests/c/test_reply.c $(call flavour_objects,build/asan)
	$(CC) $(CFLAGS) $(SAN) $(INCLUDES) -Icsrc $^ -o $@ -lpthread

asan-reply: build/asan/test_reply
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/test_reply

# libFuzzer harnesses (tests/fuzz/): fuzz_reply over hiredis' reader, the
# encoder and the bounds of csrc/reply.c; fuzz_commands over command.c's
# measure and write_resp, read back by hiredis. hiredis and the core are built
# with clang, -fsanitize=fuzzer-no-link,address,undefined, into build/fuzz/.
# Each harness starts from its checked-in seeds (tests/fuzz/corpus/<harness>/)
# and keeps what it finds in build/fuzz/corpus/<harness>/; a crash leaves its
# input in build/fuzz/ (replay: build/fuzz/<harness> <file>).
# `make fuzz` runs each for FUZZ_SECONDS (10 minutes); `make fuzz-short`, part
# of `make test`, for FUZZ_SHORT_SECONDS (20 s). clang and libFuzzer's runtime
# come from Debian when missing.
.PHONY: fuzz fuzz-short fuzz-tools
FUZZ_SECONDS ?= 600
FUZZ_SHORT_SECONDS ?= 20
FUZZ_HARNESSES := fuzz_reply fuzz_commands
FUZZ_CC := clang
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
$(eval $(call flavour,build/fuzz,$(FUZZ_SAN),$(FUZZ_CC),,fuzz-tools))

fuzz-tools:
	@command -v $(FUZZ_CC) >/dev/null || \
	  $(call apt_install,clang)
	@mkdir -p build/fuzz
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' > build/fuzz/probe.c
	@$(FUZZ_CC) -fsanitize=fuzzer build/fuzz/probe.c -o build/fuzz/probe 2>/dev/null || \
	  $(call apt_install,libclang-rt-$$($(FUZZ_CC) -dumpversion | cut -d. -f1)-dev)

build/fuzz/%: tests/fuzz/%.c $(call flavour_objects,build/fuzz) | fuzz-tools
	$(FUZZ_CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 $(INCLUDES) -Icsrc \
	  $^ -o $@ -lpthread

# $(call run_fuzzers,SECONDS): each harness in turn, its output in
# build/fuzz/<harness>.log; stops at the first failure, showing its end.
define run_fuzzers
	@for h in $(FUZZ_HARNESSES); do \
	  mkdir -p build/fuzz/corpus/$$h; echo "== $$h, $(1) s (log: build/fuzz/$$h.log)"; \
	  if (cd build/fuzz && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./$$h -max_total_time=$(1) \
	      -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 corpus/$$h ../../tests/fuzz/corpus/$$h >$$h.log 2>&1); \
	  then grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
	      build/fuzz/$$h.log; \
	  else tail -n 40 build/fuzz/$$h.log; exit 1; fi; \
	done
endef

fuzz: $(addprefix build/fuzz/,$(FUZZ_HARNESSES))
	$(call run_fuzzers,$(FUZZ_SECONDS))

fuzz-short: $(addprefix build/fuzz/,$(FUZZ_HARNESSES))
	$(call run_fuzzers,$(FUZZ_SHORT_SECONDS))

# ---- the pool: C tests and the stress run -------------------------------------
# tests/c/test_pool.c (the pool's settings, API and error paths, a live
# server: events, reply accounting, connections added and removed, exclusive
# connections, killed connections, close with calls in flight, many pools,
# allocation failures) under ASan/UBSan (`make asan-pool`) and
# ThreadSanitizer (`make tsan-pool`), both part of `make test`.
# `make stress` runs tests/stress/pool_stress.ts under Deno and then Bun:
# 10 million completions, 1,000 pools created and closed, pools closed with
# commands in flight, connections killed under load; native allocations, file
# descriptors and memory must come back. About a minute per runtime.
TSAN := -fsanitize=thread -fno-omit-frame-pointer -g -O1 -DCPIPE_FAULT_INJECTION
$(eval $(call flavour,build/tsan,$(TSAN)))
.PHONY: asan-pool tsan-pool stress

build/asan/test_pool: tests/c/test_pool.c $(call flavour_objects,build/asan)
	$(CC) $(CFLAGS) $(SAN) $(INCLUDES) -Icsrc $^ -o $@ -lpthread

build/tsan/test_pool: tests/c/test_pool.c $(call flavour_objects,build/tsan)
	$(CC) $(CFLAGS) $(TSAN) $(INCLUDES) -Icsrc $^ -o $@ -lpthread

asan-pool: build/asan/test_pool redis
	@mkdir -p build/asan-pool
	$(call with_redis,build/asan-pool,ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/test_pool)

tsan-pool: build/tsan/test_pool redis
	@mkdir -p build/tsan-pool
	$(call with_redis,build/tsan-pool,TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build/tsan/test_pool)

stress: tools redis $(LIB)
	$(DENO) run -A --v8-flags=--expose-gc tests/stress/pool_stress.ts
	$(BUN) tests/stress/pool_stress.ts

# ---- benchmark (bench/) --------------------------------------------------------
# W1–W5, the pool's W3/W3s/W6 and the latency of one call (L1/L2) for cpipe
# under Deno and Bun, for Bun's RedisClient, ioredis and node-redis under Node
# and Bun, and redis-benchmark, server pinned to CPU 0 and clients to CPU 1;
# then the two sweeps, then the shapes of issue 12 (H1/H2: an HTTP service; C1: a script run once). Writes
# bench/RESULTS.md and bench/*.svg, raw samples in bench/raw/. 28-41 minutes on the 2-core VM, then the
# Pub/Sub part (~3) and the cluster part (~8).
# BENCH_ARGS: e.g. --quick, --workloads W2,W4, --clients cpipe-deno,bun-redis, --no-sweeps, --no-shapes.
# ONLY: just these workloads and shapes, e.g. make bench ONLY=H1,C1,L2
.PHONY: bench
BENCH_ARGS ?=
ONLY ?=
bench: install $(LIB)
	$(DENO) run -A bench/run.ts $(if $(ONLY),--only $(ONLY)) $(BENCH_ARGS)
	$(if $(ONLY),,$(DENO) run -A bench/pubsub.ts)
	$(if $(ONLY),,$(DENO) run -A bench/cluster.ts $(CLUSTER_ARGS))

# Pub/Sub alone (P1 throughput, P2 latency): cpipe beside Bun RedisClient, node-redis and ioredis.
.PHONY: bench-pubsub
bench-pubsub: install $(LIB)
	$(DENO) run -A bench/pubsub.ts $(BENCH_ARGS)

# W2, W3, W6 and a 10,000-command pipeline against a local 3-master cluster: cpipe
# (Deno, Bun) beside ioredis' Cluster and node-redis' createCluster, in one run; the
# pipeline also against one node. Prints a markdown table. About 8 minutes. Servers
# on CPU 0 and each client on CPU 1, as `make bench` runs it (CLUSTER_ARGS= unpinned).
.PHONY: bench-cluster
CLUSTER_ARGS ?= --pinned
bench-cluster: install $(LIB)
	$(DENO) run -A bench/cluster.ts $(CLUSTER_ARGS)

# ---- cross builds: every shipped target, zig as the C compiler ---------------
# `make cross` installs zig (PyPI's ziglang wheel, sha256-pinned in
# scripts/zig-requirements.txt) into build/zig, builds hiredis and the core for
# each target into build/cross/<target>/ with release flags (stripped, unused
# sections dropped, oldest glibc / macOS named below), checks each library
# (scripts/check-lib.sh: format, architecture, dependencies, exports), then
# copies it to ffi/lib/<target>/, where both packages take it from, and records
# every sha256 in ffi/lib/checksums.json. For this machine's own target that
# replaces the output of `make`; editing csrc/ and running `make` puts a cc
# build back. `make test-cross` runs both suites against the zig build in
# build/cross/<target>/ through CPIPE_LIB. `make test` needs none of this.
ZIG_VERSION   := $(shell sed -n 's/^ziglang==\([0-9.]*\).*/\1/p' scripts/zig-requirements.txt)
ZIG_DIR       := build/zig
ZIG_STAMP     := $(ZIG_DIR)/.installed-$(ZIG_VERSION)
ZIG           := ZIG_GLOBAL_CACHE_DIR=$(CURDIR)/build/zig-cache PYTHONPATH=$(CURDIR)/$(ZIG_DIR) python3 -m ziglang
CROSS_TARGETS := x86_64-linux-gnu aarch64-linux-gnu x86_64-linux-musl x86_64-macos aarch64-macos x86_64-windows-gnu
ZIG_TARGET.x86_64-linux-gnu   := x86_64-linux-gnu.2.17
ZIG_TARGET.aarch64-linux-gnu  := aarch64-linux-gnu.2.17
ZIG_TARGET.x86_64-linux-musl  := x86_64-linux-musl
ZIG_TARGET.x86_64-macos       := x86_64-macos.10.15
ZIG_TARGET.aarch64-macos      := aarch64-macos.11.0
ZIG_TARGET.x86_64-windows-gnu := x86_64-windows-gnu
# Only CPIPE_API functions are visible (-fvisibility=hidden everywhere else),
# so no export list is needed. GNU ld's --exclude-libs is not in zig's linker.
CROSS_CFLAGS          := -ffunction-sections -fdata-sections
CROSS_LDFLAGS.linux   := -s -Wl,--gc-sections -Wl,-z,defs -lpthread
CROSS_LDFLAGS.macos   := -Wl,-x -Wl,-dead_strip -Wl,-install_name,@rpath/libcpipe.dylib
CROSS_LDFLAGS.windows := -s -Wl,--gc-sections -lws2_32 -Wl,--out-implib,$$(@D)/cpipe.lib
CROSS_LIBNAME.linux   := libcpipe.so
CROSS_LIBNAME.macos   := libcpipe.dylib
CROSS_LIBNAME.windows := cpipe.dll
cross_os   = $(word 2,$(subst -, ,$(1)))
cross_lib  = build/cross/$(1)/$(CROSS_LIBNAME.$(call cross_os,$(1)))
CROSS_LIBS := $(foreach t,$(CROSS_TARGETS),$(call cross_lib,$(t)))

$(ZIG_STAMP): scripts/zig-requirements.txt
	@python3 -m pip --version >/dev/null 2>&1 || \
	  $(call apt_install,python3-pip)
	rm -rf $(ZIG_DIR) && mkdir -p $(ZIG_DIR)
	PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --no-warn-script-location \
	  --require-hashes --target $(ZIG_DIR) -r scripts/zig-requirements.txt
	test "$$($(ZIG) version)" = "$(ZIG_VERSION)"
	touch $@

# file, readelf, objdump and nm for ELF and PE; llvm-nm and llvm-objdump for Mach-O.
cross-tools:
	@for t in file readelf objdump nm llvm-nm llvm-objdump; do command -v $$t >/dev/null || missing=1; done; \
	  [ -z "$$missing" ] || $(call apt_install,file binutils llvm)

define cross_target
$(call flavour,build/cross/$(1),$(CROSS_CFLAGS),$(ZIG) cc -target $(ZIG_TARGET.$(1)),$(ZIG) ar,$(ZIG_STAMP))
$(call cross_lib,$(1)): $(call flavour_objects,build/cross/$(1))
	$(ZIG) cc -target $(ZIG_TARGET.$(1)) -shared -o $$@ $$^ $(CROSS_LDFLAGS.$(call cross_os,$(1)))
endef
$(foreach t,$(CROSS_TARGETS),$(eval $(call cross_target,$(t))))

cross: $(CROSS_LIBS) | cross-tools
	@echo "== checks"
	@$(foreach t,$(CROSS_TARGETS),scripts/check-lib.sh $(t) $(call cross_lib,$(t)) &&) true
	@$(foreach t,$(CROSS_TARGETS),install -D -m 0755 $(call cross_lib,$(t)) ffi/lib/$(t)/$(notdir $(call cross_lib,$(t))) &&) true
	@scripts/checksums.sh

# The TLS tests (tests/c/test_tls.c) linked with the zig build of this machine's x86_64 target, the objects the
# package ships, run on emulated CPUs (qemu-user from Debian): qemu64 has neither SSSE3 nor AES-NI, so an
# instruction beyond the baseline on a path every x86_64 CPU takes stops the test (SIGILL); Westmere has AES-NI, so
# the intrinsics run with this build's alignment of the round keys. Part of `make test`.
CPU_MODELS := qemu64 Westmere
CPU_DIR    := build/cross/x86_64-linux-gnu
CPU_TEST   := $(CPU_DIR)/test_tls
.PHONY: test-cpus qemu-tool $(addprefix test-cpu-,$(CPU_MODELS))
$(CPU_TEST): tests/c/test_tls.c $(call flavour_objects,$(CPU_DIR))
	$(ZIG) cc -target $(ZIG_TARGET.x86_64-linux-gnu) $(CFLAGS) $(INCLUDES) $^ -o $@ -lpthread

qemu-tool:
	@command -v qemu-x86_64 >/dev/null || $(call apt_install,qemu-user)

ifeq ($(UNAME_M),x86_64)
test-cpus: $(addprefix test-cpu-,$(CPU_MODELS))
$(addprefix test-cpu-,$(CPU_MODELS)): test-cpu-%: $(CPU_TEST) redis qemu-tool
	$(call with_tls_redis,build/cpu-$*,qemu-x86_64 -cpu $* $(CPU_TEST))
else
test-cpus:
	@echo "test-cpus: emulated x86_64 CPUs are checked on x86_64 machines only"
endif

# The TypeScript suites of both runtimes run on the library the package ships for this machine, the zig build of its
# target (through CPIPE_LIB), where zig has one; elsewhere on the cc build. With zig for this machine's target,
# `clang-tests`, part of `make test`, compiles (only) the C tests and fuzzers with clang as well as gcc, warnings as
# errors: clang refuses what gcc let pass (a va_start after a promoted parameter, string literals joined where a comma
# may be missing). `test-cross` builds all six targets, then runs the suites as `make test` does.
.PHONY: clang-tests
ifneq ($(filter $(TARGET),$(CROSS_TARGETS)),)
SUITE_LIB := $(call cross_lib,$(TARGET))
test-cross: cross test-deno test-bun
clang-tests: $(HIREDIS_SRC)/.unpacked $(MBEDTLS_SRC)/.unpacked | $(ZIG_STAMP)
	@mkdir -p build/clang-tests && for f in $(wildcard tests/c/*.c tests/fuzz/*.c); do \
	  $(ZIG) cc -target $(ZIG_TARGET.$(TARGET)) $(CFLAGS) -DCPIPE_FAULT_INJECTION $(INCLUDES) -c $$f -o build/clang-tests/$$(basename $$f .c).o || exit 1; \
	done; echo "clang-tests: tests/c and tests/fuzz compile without a warning"
else
SUITE_LIB := $(LIB)
clang-tests:
	@echo "$@: no zig target for this machine ($(TARGET))"
test-cross:
	@echo "no cross target for this machine ($(TARGET))" >&2; false
endif

test-deno: tools redis $(SUITE_LIB)
	CPIPE_LIB=$(CURDIR)/$(SUITE_LIB) $(DENO) test -A --no-check=remote $(TS_TESTS)

test-bun: tools redis $(SUITE_LIB)
	CPIPE_LIB=$(CURDIR)/$(SUITE_LIB) $(BUN) test $(TS_TESTS)

clean:
	rm -rf build ffi/lib
