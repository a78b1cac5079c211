# skiff build. `make` builds build/skiff; `make test` runs every test under
# ASan+UBSan; `make guest` builds the default Linux guest into the cache.
O ?= build
SAN ?= 0
CC ?= gcc
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CFLAGS_BASE := -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-D_GNU_SOURCE -DSKIFF_VERSION='"$(VERSION)"' -Isrc -MMD -MP -g
ifeq ($(SAN),1)
CFLAGS_BASE += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
LDFLAGS_BASE := -fsanitize=address,undefined
else
CFLAGS_BASE += -O2
LDFLAGS_BASE :=
endif
CFLAGS_ALL := $(CFLAGS_BASE) $(CFLAGS)
# Compression libraries and liburing linked statically: fewer shared objects to load at
# every VM start (part of the start-up budget). libslirp (user-mode networking) is
# loaded with dlopen() only by VMs that use it: it brings glib along.
LIBS := -Wl,-Bstatic -lz -llz4 -lzstd -llzma -luring -ljansson -Wl,-Bdynamic -ldl -lpthread -lm

SRCS := $(sort $(shell find src -name '*.c'))
LIB_SRCS := $(filter-out src/cli/main.c,$(SRCS))
OBJS := $(SRCS:%.c=$(O)/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:%.c=$(O)/%)
UNIT_HELPERS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))

all: $(O)/skiff

$(O)/skiff: $(OBJS)
	$(CC) $(LDFLAGS_BASE) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# Device objects register through a linker section, so link objects, never
# an archive (which would drop unreferenced device files).
$(O)/tests/unit/%: tests/unit/%.c $(LIB_OBJS) $(UNIT_HELPERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(UNIT_HELPERS) $(LIB_OBJS) \
		$(LDFLAGS_BASE) $(LIBS) -lcmocka

unit: $(UNIT_BINS)

guests:
	$(MAKE) -C tests/guests O=$(abspath $(O))/guests

# The whole suite runs against a sanitizer build in build/san; the default
# Linux guest (cached after the first build) is what the e2e tests boot.
test:
	guest/build.sh
	$(MAKE) O=build/san SAN=1 all unit guests
	tests/run.sh build/san

guest:
	guest/build.sh

bench: all guests
	bench/run-all.sh $(O)

clean:
	rm -rf build

.PHONY: all unit guests test guest bench clean
-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)
