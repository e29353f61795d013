# fillrelay -- see README.md.
#
#   make setup               install the Debian packages the build and tests need
#   make                     build/x86_64/fillrelay (static, musl, fixed arena)
#   make demo                run it against a private PostgreSQL and Redis
#   make ARCH=aarch64        build/aarch64/fillrelay (static, aarch64 musl)
#   make test                every suite: product and sanitizer unit tests, CLI,
#                            fuzz corpora, integration against PostgreSQL and Redis
#   make fuzz FUZZ_SECONDS=N run every libFuzzer target N seconds
#   make image               build/image: the OCI image (amd64 + arm64), its archives
#   make test-image          make image, then run it (image/test-oci.sh)
#   make board               build/board/fillrelay-board-arm64.img: UEFI arm64 disk
#   make test-board          make it with a test config, boot it under qemu
#   make install PREFIX=/usr/local DESTDIR=
#   make pins-refresh        re-pin the third-party sources the archive serves now
#
# One Makefile, three flavours (DESIGN.md §1), chosen by FLAVOR:
#   product  musl static, FR_ARENA_MALLOC replaces the C library's allocator
#   asan     glibc with ASan/UBSan and the system allocator
#   fuzz     clang-14 libFuzzer targets
# `make test` calls this Makefile again for the asan and fuzz flavours.

VERSION := 0.1.0
ARCH ?= x86_64
FLAVOR ?= product
PREFIX ?= /usr/local
DESTDIR ?=
FUZZ_SECONDS ?= 60
REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
IMAGE_SOURCE ?= https://github.com/fillrelay/fillrelay

ifeq ($(FLAVOR),product)
VARIANT := $(ARCH)-musl
OUT := build/$(ARCH)
else ifeq ($(FLAVOR),asan)
VARIANT := x86_64-glibc
OUT := build/asan
else ifeq ($(FLAVOR),fuzz)
VARIANT := x86_64-glibc
OUT := build/fuzz
else
$(error FLAVOR must be product, asan or fuzz)
endif
DEPS := build/deps/$(VARIANT)

NO_DEPS_GOALS := clean distclean pins-refresh fetch help setup image test-image board board-init test-board
ifeq ($(filter $(NO_DEPS_GOALS),$(MAKECMDGOALS)),)
include $(DEPS)/env.mk
endif

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wvla
BASE_CFLAGS := -std=c11 -g $(WARN) -Isrc -I$(OUT)/gen $(DEP_CFLAGS)

ifeq ($(FLAVOR),product)
CC := $(DEP_CC)
CFLAGS := $(BASE_CFLAGS) -O2 -DFR_ARENA_MALLOC -ffunction-sections -fdata-sections
LDFLAGS := -static -Wl,--gc-sections
ifeq ($(ARCH),aarch64)
NM := aarch64-linux-gnu-nm
STRIP := aarch64-linux-gnu-strip
else
NM := nm
STRIP := strip
endif
else ifeq ($(FLAVOR),asan)
CC := gcc
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS := $(BASE_CFLAGS) -O1 $(SAN)
LDFLAGS := $(SAN)
NM := nm
else
CC := clang-14
CFLAGS := $(BASE_CFLAGS) -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
LDFLAGS := -fsanitize=fuzzer,address,undefined
endif

SRCS := $(sort $(wildcard src/*.c))
OBJS := $(SRCS:src/%.c=$(OUT)/obj/%.o)
LIB := $(OUT)/libfillrelay.a
UNIT_SRCS := tests/t.c $(sort $(wildcard tests/test_*.c))
IT_SRCS := tests/t.c tests/itpeer.c $(sort $(wildcard tests/it_*.c))
UNIT_OBJS := $(UNIT_SRCS:tests/%.c=$(OUT)/tobj/%.o)
IT_OBJS := $(IT_SRCS:tests/%.c=$(OUT)/tobj/%.o)
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build/fuzz/%)
TEST_DEFS := -DFR_OBJ_DIR='"$(OUT)/obj"' -DFR_TEST_OBJ_DIR='"$(OUT)/tobj"' -DFR_NM='"$(NM)"'

.PHONY: all test tests-bin fuzz fuzz-bin clean distclean install pins-refresh fetch help setup demo test-faults bench \
	image test-image board board-init test-board
.DEFAULT_GOAL := all

ifeq ($(FLAVOR),fuzz)
all: fuzz-bin
else
all: $(OUT)/fillrelay
endif

$(DEPS)/env.mk: third_party/pins third_party/deps.sh third_party/fetch.sh third_party/lib.sh \
		$(wildcard third_party/patches/*/*.patch)
	sh third_party/deps.sh $(VARIANT)

# The version header is rewritten only when its content changes.
$(OUT)/gen/fr_version.h: FORCE
	@mkdir -p $(@D)
	@printf '#define FR_VERSION "%s"\n#define FR_REVISION "%s"\n#define FR_ARCH "%s"\n#define FR_FLAVOR "%s"\n' \
		'$(VERSION)' '$(REVISION)' '$(ARCH)' '$(FLAVOR)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
FORCE:

$(OUT)/obj/%.o: src/%.c $(OUT)/gen/fr_version.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(OUT)/tobj/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(TEST_DEFS) -Itests -MMD -MP -c $< -o $@

$(LIB): $(filter-out $(OUT)/obj/main.o,$(OBJS))
	rm -f $@
	ar rcs $@ $^

$(OUT)/fillrelay: $(OUT)/obj/main.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(DEP_LIBS) -o $@.debug
	$(STRIP) -o $@ $@.debug
	@echo "fillrelay $(ARCH): $$(stat -c %s $@) bytes stripped ($$(file -b $@ | cut -d, -f1-6))"

$(OUT)/test_unit: $(UNIT_OBJS) $(LIB)
	$(CC) $(LDFLAGS) $^ $(DEP_LIBS) -o $@

$(OUT)/test_it: $(IT_OBJS) $(LIB)
	$(CC) $(LDFLAGS) $^ $(DEP_LIBS) -o $@

tests-bin: $(OUT)/test_unit $(OUT)/test_it $(if $(filter product,$(FLAVOR)),$(OUT)/fillrelay)

build/fuzz/fuzz_%: fuzz/fuzz_%.c $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(DEP_LIBS) -o $@

fuzz-bin: $(FUZZ_BINS)

test:
	$(MAKE) ARCH=x86_64 FLAVOR=product tests-bin
	$(MAKE) FLAVOR=asan tests-bin
	$(MAKE) FLAVOR=fuzz fuzz-bin
	bash tests/run_all.sh

# Installs the Debian packages the build and the tests need (apt-get; root or sudo).
setup:
	bash tests/deps.sh

# The fault suite (issue #5): every fault with exactly-once verification.
# CI runs the reduced sizes; FULL=1 the full ones (10,000 fills with PostgreSQL
# down 60 s, 20 kills during 50,000 fills, 500 gap fills).
test-faults:
	$(MAKE) ARCH=x86_64 FLAVOR=product tests-bin
	bash tests/faults/run.sh $(if $(FULL),--full)

# Speed and memory figures, printed side by side with their ceilings.
bench:
	$(MAKE) ARCH=x86_64 FLAVOR=product tests-bin
	bash tests/bench/run.sh

demo:
	$(MAKE) ARCH=x86_64 FLAVOR=product all
	bash tests/demo.sh

fuzz:
	$(MAKE) FLAVOR=fuzz fuzz-bin
	bash fuzz/run.sh $(FUZZ_SECONDS)

# The FROM-scratch OCI image (image/oci.sh): both architectures in one index.
image:
	$(MAKE) ARCH=x86_64 FLAVOR=product all
	$(MAKE) ARCH=aarch64 FLAVOR=product all
	sh image/oci.sh build/image $(VERSION) $(REVISION) $(IMAGE_SOURCE) \
		build/x86_64/fillrelay build/aarch64/fillrelay

test-image: image
	bash image/test-oci.sh build/image

# The arm64 board (image/board/): init is built with the aarch64 musl and the
# cross toolchain's Linux UAPI headers (linux/, asm/ only: not its glibc).
BOARD_CC := build/deps/aarch64-musl/musl/bin/musl-gcc
BOARD_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
board-init:
	$(MAKE) ARCH=aarch64 FLAVOR=product all
	mkdir -p build/board/uapi
	for d in linux asm asm-generic; do ln -sfn /usr/aarch64-linux-gnu/include/$$d build/board/uapi/$$d; done
	$(BOARD_CC) -std=c11 -static -Os -g0 $(WARN) -isystem build/board/uapi \
		-DINIT_BUILD_EPOCH=$(BOARD_EPOCH) -o build/board/init image/board/init.c
	aarch64-linux-gnu-strip build/board/init

board: board-init
	sh image/board/build.sh build/board/fillrelay-board-arm64.img build/board/init \
		build/aarch64/fillrelay image/board/data

test-board: board-init
	$(MAKE) ARCH=x86_64 FLAVOR=product all
	bash image/test-board.sh

install: $(OUT)/fillrelay
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/fillrelay
	install -m 0755 $(OUT)/fillrelay $(DESTDIR)$(PREFIX)/bin/fillrelay
	install -m 0644 tests/cfg/example.conf $(DESTDIR)$(PREFIX)/share/fillrelay/fillrelay.conf.example

pins-refresh:
	sh third_party/pins-refresh.sh
	sh image/board/fetch.sh --refresh

fetch:
	sh third_party/fetch.sh

# Removes every build output; the downloaded tarballs in third_party/cache stay,
# so a rebuild needs no network.
clean:
	rm -rf build

distclean: clean
	rm -rf third_party/cache

help:
	@sed -n '2,19p' Makefile

-include $(OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(IT_OBJS:.o=.d)
