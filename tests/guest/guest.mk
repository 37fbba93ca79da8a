# SPDX-License-Identifier: MIT
# Test guests: freestanding x86-64 images built by the host gcc, included by
# the top Makefile (which defines BUILD). `make guests` builds, for every
# tests/guest/tests/NAME.c, $(BUILD)/guest/NAME.pvh.elf (ELF with a PVH note)
# and $(BUILD)/guest/NAME.bzImage (the same image wrapped by mkbzimage).

GUEST_SRC := tests/guest
GUEST_OUT := $(BUILD)/guest
GUEST_CC ?= gcc
GUEST_HOSTCC ?= gcc

GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -nostdlib \
	-fno-pic -fno-pie -mgeneral-regs-only -mno-red-zone -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none \
	-fno-tree-loop-distribute-patterns -fno-strict-aliasing \
	-I$(GUEST_SRC)/lib -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,$(GUEST_SRC)/guest.ld \
	-Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096

GUEST_LIB_SRCS := $(sort $(wildcard $(GUEST_SRC)/lib/*.c $(GUEST_SRC)/lib/*.S))
GUEST_LIB_OBJS := $(patsubst $(GUEST_SRC)/lib/%,$(GUEST_OUT)/lib/%.o,$(GUEST_LIB_SRCS))
GUEST_TESTS := $(sort $(basename $(notdir $(wildcard $(GUEST_SRC)/tests/*.c))))
GUEST_IMAGES := $(GUEST_TESTS:%=$(GUEST_OUT)/%.pvh.elf) \
	$(GUEST_TESTS:%=$(GUEST_OUT)/%.bzImage) \
	$(GUEST_OUT)/hello-setup0.bzImage

guests: $(GUEST_IMAGES) $(GUEST_OUT)/diskpat $(GUEST_OUT)/vsock-host

$(GUEST_OUT)/lib/%.c.o: $(GUEST_SRC)/lib/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/lib/%.S.o: $(GUEST_SRC)/lib/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/tests/%.o: $(GUEST_SRC)/tests/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/%.pvh.elf: $(GUEST_OUT)/tests/%.o $(GUEST_LIB_OBJS) $(GUEST_SRC)/guest.ld
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_LIB_OBJS)

$(GUEST_OUT)/mkbzimage: $(GUEST_SRC)/mkbzimage.c $(GUEST_SRC)/lib/bootparam.h
	@mkdir -p $(dir $@)
	$(GUEST_HOSTCC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

# Host tool: disk images in the pattern the virtio-blk guests check.
$(GUEST_OUT)/diskpat: $(GUEST_SRC)/tools/diskpat.c $(GUEST_SRC)/lib/diskpat.h
	@mkdir -p $(dir $@)
	$(GUEST_HOSTCC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

# Host tool: the host end of a virtio-vsock stream (the vsock guest tests).
$(GUEST_OUT)/vsock-host: $(GUEST_SRC)/tools/vsock-host.c
	@mkdir -p $(dir $@)
	$(GUEST_HOSTCC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

$(GUEST_OUT)/%.bzImage: $(GUEST_OUT)/%.pvh.elf $(GUEST_OUT)/mkbzimage
	$(GUEST_OUT)/mkbzimage $< $@

# The same hello image with setup_sects = 0 (the protocol reads it as 4).
$(GUEST_OUT)/hello-setup0.bzImage: $(GUEST_OUT)/hello.pvh.elf $(GUEST_OUT)/mkbzimage
	$(GUEST_OUT)/mkbzimage -s 0 $< $@

# Keep the objects (pattern-rule products would be deleted as intermediates).
.SECONDARY: $(GUEST_LIB_OBJS) $(GUEST_TESTS:%=$(GUEST_OUT)/tests/%.o)
