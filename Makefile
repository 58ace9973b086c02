# mitmd: GNU make + pkg-config, no autotools.
#
#   make            build every executable into build/
#   make run        install what is missing, build, run on etc/mitmd.dev.conf
#   make check      install, build, run every suite, print one summary line
#   make bench      the side-by-side benchmark (not part of check)
#
# Variants share these rules and differ by BUILD (the output directory) and a
# few switches: TESTHOOKS=1 compiles the test-only triggers (never in a
# release build), SAN=1 adds ASan+UBSan, FUZZ=1 builds libFuzzer targets.

BUILD      ?= build
CC         ?= gcc
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
# master execs every child from this fixed directory; by default the build
# directory itself, so a checkout runs without installing anything.
LIBEXECDIR ?= $(abspath $(BUILD))

ROLES   := master acceptor tlsworker certd webui
PROGS   := mitmd mitmctl mitmd-acceptor mitmd-tlsworker mitmd-certd mitmd-webui

WARN    := -Wall -Wextra -Wformat=2 -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-missing-field-initializers
HARDEN  := -fstack-protector-strong -fPIE
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) -I. \
	   -DMITMD_LIBEXECDIR='"$(LIBEXECDIR)"'
LDFLAGS += -pie -Wl,-z,relro,-z,now -Wl,--as-needed

ifeq ($(SAN),1)
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(FUZZ),1)
CFLAGS  += -O1 -fno-omit-frame-pointer \
	   -fsanitize=fuzzer-no-link,address,undefined -DMITMD_FUZZ
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -D_FORTIFY_SOURCE=2
endif
ifeq ($(TESTHOOKS),1)
CFLAGS  += -DMITMD_TESTHOOKS
endif

# Libraries per role: each executable links only what it uses.
# the decoder chain (common/decode.c): zlib, brotli, zstd, msgpack-c
PC_decode    := zlib libbrotlidec libzstd msgpack
PC_common    := libevent openssl libseccomp libcap sqlite3 $(PC_decode)
PC_master    := libevent libseccomp
PC_mitmctl   := libevent libseccomp sqlite3 openssl
PC_acceptor  := libevent libseccomp libcap
PC_tlsworker := libevent libevent_openssl openssl libseccomp libcap libnghttp2 \
		$(PC_decode)
PC_certd     := libevent openssl libseccomp libcap
PC_webui     := libevent libevent_openssl openssl libseccomp libcap sqlite3 $(PC_decode)
pc_cflags = $(if $(1),$(shell $(PKG_CONFIG) --cflags $(1)))
pc_libs   = $(if $(1),$(shell $(PKG_CONFIG) --libs $(1)))

# Every .c of a role folder but its main file goes into lib<role>.a, which
# the role's executable, its unit tests and its fuzz targets link.
MAINS       := master/main.c master/mitmctl.c acceptor/main.c \
	       tlsworker/main.c certd/main.c webui/main.c
COMMON_SRCS := $(wildcard common/*.c)
role_srcs    = $(filter-out $(MAINS),$(wildcard $(1)/*.c))
obj          = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

all: $(addprefix $(BUILD)/,$(PROGS))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call pc_cflags,$(PC_common)) -MMD -MP -c -o $@ $<

$(BUILD)/libcommon.a: $(call obj,$(COMMON_SRCS))
	@rm -f $@; ar rcs $@ $^

define role_lib
$(BUILD)/lib$(1).a: $$(call obj,$$(call role_srcs,$(1))) | $(BUILD)/obj
	@rm -f $$@; ar rcs $$@ $$^
endef
$(foreach r,$(ROLES),$(eval $(call role_lib,$(r))))
$(BUILD)/obj:
	@mkdir -p $@

# link(output, main object, role lib, pkg list)
define link
	$(CC) $(CFLAGS) -o $(1) $(2) $(3) $(BUILD)/libcommon.a \
		$(LDFLAGS) $(call pc_libs,$(4)) $(LDLIBS)
endef

$(BUILD)/mitmd: $(call obj,master/main.c) $(BUILD)/libmaster.a $(BUILD)/libcommon.a
	$(call link,$@,$<,$(BUILD)/libmaster.a,$(PC_master))
$(BUILD)/mitmctl: $(call obj,master/mitmctl.c) $(BUILD)/libmaster.a $(BUILD)/libcommon.a
	$(call link,$@,$<,$(BUILD)/libmaster.a,$(PC_mitmctl))
$(BUILD)/mitmd-%: $(BUILD)/obj/%/main.o $(BUILD)/lib%.a $(BUILD)/libcommon.a
	$(call link,$@,$<,$(BUILD)/lib$*.a,$(PC_$*))

# Unit tests: tests/unit/<role>_<name>.c links lib<role>.a.
UNIT_SRCS := $(wildcard tests/unit/*_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
unit_role  = $(firstword $(subst _, ,$(notdir $(1))))
.SECONDEXPANSION:
$(BUILD)/unit/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libcommon.a \
		$$(BUILD)/lib$$(call unit_role,$$*).a
	@mkdir -p $(dir $@)
	$(call link,$@,$<,$(BUILD)/lib$(call unit_role,$*).a,$(PC_$(call unit_role,$*)))
unit-bins: $(UNIT_BINS)

# Fuzz targets: tests/fuzz/<role>_<name>.c, built with clang and libFuzzer.
FUZZ_SRCS := $(wildcard tests/fuzz/*_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/libcommon.a \
		$$(BUILD)/lib$$(call unit_role,$$*).a
	@mkdir -p $(dir $@)
	$(call link,$@,$< -fsanitize=fuzzer,$(BUILD)/lib$(call unit_role,$*).a,$(PC_$(call unit_role,$*)))
fuzz-bins: $(FUZZ_BINS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------------
# The user-facing targets.

deps:
	@tests/deps.sh

run: deps all
	@mkdir -p .state
	$(BUILD)/mitmd -d -f etc/mitmd.dev.conf

check: deps
	@tests/check.sh

bench: deps all
	@tests/bench/run.sh

bench-memory: deps all
	@tests/bench/memory.sh

bench-ws: deps all
	@/usr/bin/python3 tests/bench/ws.py

bench-admin: deps all
	@/usr/bin/python3 tests/bench/admin.py

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 -I. --inline-suppr \
		--suppress=missingIncludeSystem $(COMMON_SRCS) $(foreach r,$(ROLES),$(wildcard $(r)/*.c))

# clang-tidy with .clang-tidy, one file per job; any warning fails.
tidy:
	printf '%s\n' $(COMMON_SRCS) $(foreach r,$(ROLES),$(wildcard $(r)/*.c)) | \
		xargs -P$$(nproc) -I{} clang-tidy --quiet --warnings-as-errors='*' {} \
		-- -std=c11 -D_GNU_SOURCE -I. -DMITMD_LIBEXECDIR='"x"' -DMITMD_TESTHOOKS

format:
	clang-format -i $(wildcard */*.c */*.h tests/*/*.c tests/*/*.h)

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(BUILD)/mitmd $(BUILD)/mitmctl $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(addprefix $(BUILD)/,$(filter mitmd-%,$(PROGS))) $(DESTDIR)$(LIBEXECDIR)/

clean:
	rm -rf build

.PHONY: all deps run check bench bench-memory bench-ws bench-admin lint tidy format install clean unit-bins fuzz-bins
.DELETE_ON_ERROR:
.SECONDARY:
