# cvmm — build, test and run. `make` builds $(BUILD)/cvmm; `make check` runs
# every test; `make run` boots the demo guest. See README.md.
#
# Dependencies (Debian packages; scripts/install-deps.sh installs them): gcc,
# make, libcjson-dev (the API), liburing-dev (virtio-blk's io_uring engine),
# libseccomp-dev (build time only: compiles the
# seccomp filters to BPF, see below), libcmocka-dev (unit tests), clang and
# libclang-rt-14-dev (fuzzing).

BUILD ?= build
CC ?= gcc
HOSTCC ?= gcc
SAN ?=
OPT ?= -O2
# make check-linux LOAD=1: boot beside one busy loop per CPU
LOAD ?= 0

# The release version; the source revision comes from scripts/revision.sh
# (git describe in a git tree) through $(BUILD)/gen/revision.h, which is
# rewritten only when it changes.
VERSION := $(shell cat VERSION)

CFLAGS_COMMON := -std=gnu11 -g $(OPT) -Wall -Wextra -Werror -D_GNU_SOURCE \
	-fno-strict-aliasing -Isrc -MMD -MP -DCVMM_VERSION='"$(VERSION)"'
ifneq ($(SAN),)
# CVMM_SANITIZED: the seccomp lists also allow what the sanitizer runtimes
# call on their own (src/seccomp_filter.c); never in a production build.
CFLAGS_COMMON += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all \
	-DCVMM_SANITIZED=1
LDFLAGS += -fsanitize=$(SAN)
endif
ifeq ($(SAN),thread)
# TSan does not model standalone fences; ours order guest-shared rings
# (virtio used/avail), which the guest, not another host thread, reads.
CFLAGS_COMMON += -Wno-tsan
endif
CFLAGS += $(CFLAGS_COMMON)
LDLIBS += -lpthread -lcjson -luring -lz

SRCS := $(shell find src -name '*.c' | sort)
# seccomp_rules.c is the generator's (below), not cvmm's.
LIB_SRCS := $(filter-out src/main.c src/seccomp_rules.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/seccomp_bpf.o
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

.PHONY: all check check-unit check-cli check-guest check-api check-snapshot check-linux check-nested check-vfio check-asan check-tsan run clean guests \
	fuzz fuzz-list fuzz-build fuzz-seeds install uninstall check-install FORCE
all: $(BUILD)/cvmm $(BUILD)/cvmm-remote

# Every object depends on VERSION: a new version rebuilds them all.
$(BUILD)/%.o: %.c VERSION
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/revision.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define CVMM_REVISION "%s"\n' "$$(scripts/revision.sh)" >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

# Only the two programs' main files see the revision.
$(BUILD)/src/main.o: $(BUILD)/gen/revision.h
$(BUILD)/src/main.o: CFLAGS += -I$(BUILD)/gen

# The seccomp filters are compiled to BPF at build time, as Firecracker does
# (src/seccomp_bpf.h): tools/seccomp-gen.c runs the allowlists of
# src/seccomp_rules.c through libseccomp and writes the programs as C into
# the build folder; cvmm loads them as they are and does not link libseccomp.
SECCOMP_GEN_SRCS := tools/seccomp-gen.c src/seccomp_rules.c src/seccomp_rules.h \
	src/seccomp_bpf.h src/seccomp_filter.h
%/tools/seccomp-gen: $(SECCOMP_GEN_SRCS)
	@mkdir -p $(dir $@)
	$(HOSTCC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -o $@ \
		tools/seccomp-gen.c src/seccomp_rules.c -lseccomp

%/gen/seccomp_bpf.c: %/tools/seccomp-gen
	@mkdir -p $(dir $@)
	$< $@

.PRECIOUS: %/tools/seccomp-gen %/gen/seccomp_bpf.c

$(BUILD)/gen/seccomp_bpf.o: $(BUILD)/gen/seccomp_bpf.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libcvmm.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cvmm: $(BUILD)/src/main.o $(BUILD)/libcvmm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The API client: plain C, no library of cvmm's.
$(BUILD)/cvmm-remote: tools/cvmm-remote.c $(BUILD)/gen/revision.h VERSION
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -I$(BUILD)/gen $(LDFLAGS) -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libcvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(UNIT_CFLAGS_$*) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libcvmm.a $(LDLIBS) -lcmocka

# The vfio-user test server (tests/vfio-user/edu-server.c): test-only, and
# nothing of cvmm's sources in it. The unit tests of the vfio-user client
# run it.
EDU_SERVER := $(BUILD)/tests/vfio-user/edu-server
$(EDU_SERVER): tests/vfio-user/edu-server.c VERSION
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<
$(BUILD)/tests/unit/test_vfio_user: $(EDU_SERVER)
UNIT_CFLAGS_test_vfio_user := -DEDU_SERVER='"$(abspath $(EDU_SERVER))"'

# Test guests (freestanding, built by the host gcc): rules in tests/guest/guest.mk.
include tests/guest/guest.mk

check: check-unit check-cli check-guest check-api check-snapshot check-linux check-nested

check-cli: $(BUILD)/cvmm $(BUILD)/cvmm-remote
	@tests/cli-test.sh $(BUILD)/cvmm
	@tests/man-test.sh $(BUILD)/cvmm $(BUILD)/cvmm-remote

check-unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

check-guest: $(BUILD)/cvmm $(BUILD)/cvmm-remote guests $(EDU_SERVER)
	@tests/guest/run-tests.sh $(BUILD)/cvmm $(BUILD)/guest

check-api: $(BUILD)/cvmm $(BUILD)/cvmm-remote guests
	@tests/api-test.sh $(BUILD)/cvmm $(BUILD)/cvmm-remote $(BUILD)/guest

# Snapshot and restore end to end (tests/snapshot-test.sh, docs/snapshot.md).
check-snapshot: $(BUILD)/cvmm $(BUILD)/cvmm-remote guests $(EDU_SERVER)
	@tests/snapshot-test.sh $(BUILD)/cvmm $(BUILD)/cvmm-remote $(BUILD)/guest

# Boots the tiny Linux test kernel (built and cached on first use) with every
# device; about 4 minutes on an emulating host once the kernel is cached
# (first build ~10-25 min, cached in /var/cache/cvmm; see tests/linux/README.md).
# LOAD=1: the same boots beside one busy loop per host CPU (a contended host).
check-linux: $(BUILD)/cvmm $(BUILD)/cvmm-remote $(EDU_SERVER)
	@LINUX_LOAD=$(LOAD) tests/linux/run-linux-test.sh $(BUILD)/cvmm

# cvmm on an ordinary (SVM) KVM: QEMU+TCG boots Debian's stock kernel with
# kvm-amd, and cvmm runs the guest suite's device cases, the tiny Linux and
# the stock kernel to user space inside it, and VFIO passthrough of QEMU's
# edu and virtio-rng behind an emulated intel-iommu (tests/nested/README.md;
# the rig is cached in /var/cache/cvmm; ~35 s once cached, ~70 s more the
# first time: apt-get download of the kernel and busybox-static).
# check-vfio: the rig's vfio part alone (~40 s); check-nested runs it too,
# in the same boot of the rig, so `make check` does not depend on it.
check-nested: $(BUILD)/cvmm $(BUILD)/cvmm-remote guests
	@tests/nested/run-nested-test.sh $(BUILD)/cvmm $(BUILD)/guest

check-vfio: $(BUILD)/cvmm $(BUILD)/cvmm-remote guests
	@NESTED_PARTS=vfio tests/nested/run-nested-test.sh $(BUILD)/cvmm $(BUILD)/guest

# The same suites under sanitizers, each in its own build folder.
check-asan:
	$(MAKE) BUILD=build-asan SAN=address,undefined OPT=-O1 check-unit check-cli check-guest check-api check-snapshot

check-tsan:
	$(MAKE) BUILD=build-tsan SAN=thread OPT=-O1 check-unit check-cli check-guest check-api check-snapshot

run: $(BUILD)/cvmm guests
	$(BUILD)/cvmm --kernel $(BUILD)/guest/demo.bzImage --cpus boot=2 \
		--memory size=256M --cmdline "console=ttyS0 demo=1" --serial tty

# ---- Installing: `make install [PREFIX=/usr/local] [DESTDIR=]` puts the
# programs, their man pages (@VERSION@, @DATADIR@, @DOCDIR@ filled in here),
# bash completions, the README and the API reference and the demo guest
# (cvmm --kernel $(DATADIR)/cvmm/demo.bzImage) in place; `make uninstall`
# takes them away. tests/install-test.sh checks the list; debian/ packages it.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/cvmm
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
INSTALL ?= install
MAN_SUBST := -e 's|@VERSION@|$(VERSION)|g' -e 's|@DATADIR@|$(DATADIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g'

install: all $(BUILD)/guest/demo.bzImage
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(DATADIR)/cvmm $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 0755 $(BUILD)/cvmm $(BUILD)/cvmm-remote $(DESTDIR)$(BINDIR)/
	sed $(MAN_SUBST) man/cvmm.1.in >$(DESTDIR)$(MANDIR)/man1/cvmm.1
	sed $(MAN_SUBST) man/cvmm-remote.1.in >$(DESTDIR)$(MANDIR)/man1/cvmm-remote.1
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/cvmm.1 $(DESTDIR)$(MANDIR)/man1/cvmm-remote.1
	$(INSTALL) -m 0644 README.md docs/openapi.yaml $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 $(BUILD)/guest/demo.bzImage $(DESTDIR)$(DATADIR)/cvmm/
	$(INSTALL) -m 0644 completion/cvmm.bash $(DESTDIR)$(BASHCOMPDIR)/cvmm
	ln -sf cvmm $(DESTDIR)$(BASHCOMPDIR)/cvmm-remote

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cvmm $(DESTDIR)$(BINDIR)/cvmm-remote \
		$(DESTDIR)$(MANDIR)/man1/cvmm.1 $(DESTDIR)$(MANDIR)/man1/cvmm-remote.1 \
		$(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/openapi.yaml \
		$(DESTDIR)$(DATADIR)/cvmm/demo.bzImage \
		$(DESTDIR)$(BASHCOMPDIR)/cvmm $(DESTDIR)$(BASHCOMPDIR)/cvmm-remote
	-rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)/cvmm 2>/dev/null

# The install file list, and the Debian package when PACKAGE=1 (CI).
check-install: all $(BUILD)/guest/demo.bzImage
	@BUILD=$(BUILD) tests/install-test.sh $(if $(PACKAGE),--package)

# ---- Benchmarks (BENCHMARKS.md): `make bench` builds what they need and
# runs bench/run.sh, which prints a table and asserts nothing. QEMU, for the
# side-by-side columns, comes from bench/setup.sh (the tests do not need it).
.PHONY: bench bench-blk bench-vfio bench-vsock bench-vhost-root bench-snapshot
BENCH_TOOLS := $(BUILD)/bench/floor $(BUILD)/bench/nullimg $(BUILD)/bench/firstout $(BUILD)/bench/rounds

$(BENCH_TOOLS): $(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/bench/null.bzImage: $(BUILD)/bench/nullimg
	$(BUILD)/bench/nullimg $@

$(BUILD)/bench/first.bzImage: $(BUILD)/bench/nullimg
	$(BUILD)/bench/nullimg -s $@

$(BUILD)/bench/blk_bench: bench/blk_bench.c $(BUILD)/libcvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libcvmm.a $(LDLIBS)

bench: $(BUILD)/cvmm guests $(BENCH_TOOLS) $(BUILD)/bench/null.bzImage $(BUILD)/bench/first.bzImage \
		$(BUILD)/bench/blk_bench
	@bench/run.sh $(BUILD)
bench-linux: $(BUILD)/cvmm ; @bench/linux-boot.sh $(BUILD)
# virtio-blk IOPS, both engines, against fio (bench/blk-iops.sh, BENCHMARKS.md).
$(BUILD)/bench/blk_iops: bench/blk_iops.c $(BUILD)/libcvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libcvmm.a $(LDLIBS)
bench-blk: $(BUILD)/bench/blk_iops
	@bench/blk-iops.sh $(BUILD)
# Device passthrough (bench/vfio.sh): vfio-user here; kernel VFIO in the rig.
bench-vfio: $(BUILD)/cvmm guests $(EDU_SERVER) ; @bench/vfio.sh $(BUILD)
# virtio-vsock throughput and CPU per MiB, both ways (bench/vsock.sh).
bench-vsock: $(BUILD)/cvmm guests ; @bench/vsock.sh $(BUILD)
# Linux root on virtio-fs vs vhost-user-blk, the vfs and vub boots (bench/vhost-root.sh).
bench-vhost-root: $(BUILD)/cvmm ; @bench/vhost-root.sh $(BUILD)
# Snapshot time and size, restore to the first guest instruction (bench/snapshot.sh).
bench-snapshot: $(BUILD)/cvmm $(BUILD)/cvmm-remote $(BUILD)/bench/firstout guests ; @bench/snapshot.sh $(BUILD)

# ---- Fuzzing: libFuzzer targets built by clang (fuzz/README.md) ----
# `make fuzz-list` names the targets, `make fuzz-build` builds them into
# $(FUZZ_BUILD), `make fuzz FUZZ_TIME=20` runs each for FUZZ_TIME seconds on
# a scratch copy of its seed corpus fuzz/corpus/NAME/ and fails if any
# target crashes (the input is saved in $(FUZZ_BUILD)/crashes/).
FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 20
FUZZ_TARGETS := $(sort $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c)))
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
# -Wno-gnu-...: clang's name for a GNU extension gcc accepts silently (cpu.c).
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror \
	-Wno-gnu-variable-sized-type-not-at-end -D_GNU_SOURCE -fno-strict-aliasing \
	-Isrc -Ifuzz -MMD -MP -fsanitize=address,undefined -fno-sanitize-recover=all \
	-DCVMM_VERSION='"$(VERSION)"'
# Every module goes into the archive; each target links only what it uses.
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/gen/seccomp_bpf.o

$(FUZZ_BUILD)/src/%.o: src/%.c VERSION
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/gen/seccomp_bpf.o: $(FUZZ_BUILD)/gen/seccomp_bpf.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libcvmm.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_BUILD)/libcvmm.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libcvmm.a $(LDLIBS)

fuzz-list:
	@printf '%s\n' $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_TARGETS)

# Regenerates the committed seed corpora (fuzz/corpus/NAME/) from fuzz/gen_seeds.c.
fuzz-seeds:
	@mkdir -p $(FUZZ_BUILD)
	$(CC) -std=gnu11 -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -Ifuzz \
		-o $(FUZZ_BUILD)/gen_seeds fuzz/gen_seeds.c
	$(FUZZ_BUILD)/gen_seeds fuzz/corpus

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
