# cvmm — build, test and run. `make` builds $(BUILD)/cvmm; `make check` runs
# every test; `make run` boots the demo guest. See README.md.
#
# Dependencies (Debian packages): gcc, make, libcmocka-dev (unit tests).

BUILD ?= build
CC ?= gcc
SAN ?=
OPT ?= -O2

CFLAGS_COMMON := -std=gnu11 -g $(OPT) -Wall -Wextra -Werror -D_GNU_SOURCE \
	-fno-strict-aliasing -Isrc -MMD -MP
ifneq ($(SAN),)
CFLAGS_COMMON += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
endif
ifeq ($(SAN),thread)
# TSan does not model standalone fences; ours order guest-shared rings
# (virtio used/avail), which the guest, not another host thread, reads.
CFLAGS_COMMON += -Wno-tsan
endif
CFLAGS += $(CFLAGS_COMMON)
LDLIBS += -lpthread

SRCS := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

.PHONY: all check check-unit check-cli check-guest check-asan check-tsan run clean guests
all: $(BUILD)/cvmm

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libcvmm.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cvmm: $(BUILD)/src/main.o $(BUILD)/libcvmm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libcvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libcvmm.a $(LDLIBS) -lcmocka

# Test guests (freestanding, built by the host gcc): rules in tests/guest/guest.mk.
include tests/guest/guest.mk

check: check-unit check-cli check-guest

check-cli: $(BUILD)/cvmm
	@tests/cli-test.sh $(BUILD)/cvmm

check-unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

check-guest: $(BUILD)/cvmm guests
	@tests/guest/run-tests.sh $(BUILD)/cvmm $(BUILD)/guest

# The same suites under sanitizers, each in its own build folder.
check-asan:
	$(MAKE) BUILD=build-asan SAN=address,undefined OPT=-O1 check-unit check-cli check-guest

check-tsan:
	$(MAKE) BUILD=build-tsan SAN=thread OPT=-O1 check-unit check-cli check-guest

run: $(BUILD)/cvmm guests
	$(BUILD)/cvmm --kernel $(BUILD)/guest/demo.bzImage --cpus boot=2 \
		--memory size=256M --cmdline "console=ttyS0 demo=1" --serial tty

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
