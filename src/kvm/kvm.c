/* SPDX-License-Identifier: MIT */
#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "file_io.h"
#include "log.h"

struct required_cap {
	long cap;
	const char *name;
};

/* Everything cvmm relies on; a missing one is reported by name. */
static const struct required_cap required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
};

int kvm_check_cap(struct kvm *kvm, long cap)
{
	int fd = kvm->vm_fd >= 0 ? kvm->vm_fd : kvm->sys_fd;
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int kvm_open(struct kvm *kvm)
{
	memset(kvm, 0, sizeof(*kvm));
	kvm->vm_fd = -1;
	kvm->teardown_fd = -1;
	kvm->ram_fd = -1;
	kvm->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm->sys_fd < 0) {
		int err = errno;
		log_error("cannot open /dev/kvm: %s%s", strerror(err),
			  err == ENOENT ? " (is the kvm module loaded?)" :
			  err == EACCES ? " (no permission: join the kvm group)" : "");
		return -err;
	}
	int version = ioctl(kvm->sys_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_error("KVM API version %d, cvmm needs %d", version, KVM_API_VERSION);
		close(kvm->sys_fd);
		kvm->sys_fd = -1;
		return -ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (!kvm_check_cap(kvm, required_caps[i].cap)) {
			log_error("KVM lacks %s, which cvmm needs", required_caps[i].name);
			close(kvm->sys_fd);
			kvm->sys_fd = -1;
			return -ENOTSUP;
		}
	}
	kvm->vcpu_mmap_size = ioctl(kvm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		close(kvm->sys_fd);
		kvm->sys_fd = -1;
		return -ENOTSUP;
	}
	/* KVM's slot count (KVM_USER_MEM_SLOTS: 509 or 32764 today); a kernel
	 * that does not say has at least 32. */
	int slots = kvm_check_cap(kvm, KVM_CAP_NR_MEMSLOTS);
	kvm->nr_slots = slots <= 0 ? 32 : slots > KVM_MAX_SLOTS ? KVM_MAX_SLOTS :
		       (unsigned)slots;
	kvm->max_vcpus = kvm_check_cap(kvm, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = kvm_check_cap(kvm, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = 4;
	return 0;
}

int kvm_create_vm(struct kvm *kvm)
{
	kvm->vm_fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, 0);
	if (kvm->vm_fd < 0) {
		int err = errno;
		log_error("KVM_CREATE_VM: %s", strerror(err));
		return -err;
	}
	return 0;
}

/*
 * The helper's whole life, in the child of fork(): raw system calls only
 * (no sanitizer or libc wrapper that might want more than strict seccomp
 * allows), never returns.
 */
static void teardown_helper(int wait_fd, int vm_fd) __attribute__((noreturn));
static void teardown_helper(int wait_fd, int vm_fd)
{
	/* Terminal and kill(-pgid) signals are for cvmm; EOF ends this. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	prctl(PR_SET_NAME, "cvmm-teardown", 0, 0, 0);
	/* SCHED_BATCH never preempts on wakeup: its EOF while cvmm exits
	 * does not push cvmm, not yet a zombie, off its CPU. */
	struct sched_param sp = { 0 };
	sched_setscheduler(0, SCHED_BATCH, &sp);
	/* Nothing but the pipe (fd 0) and the VM (fd 1): no stdout or
	 * stderr kept open for whoever reads cvmm's output, no disk. */
	if (dup2(wait_fd, 0) < 0 || dup2(vm_fd, 1) < 0 ||
	    syscall(SYS_close_range, 2U, ~0U, 0U) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) < 0)
		syscall(SYS_exit, 0);
	char c;
	while (syscall(SYS_read, 0, &c, 1) > 0)
		;
	/* Exit closes fd 1: the kernel tears the VM down here. */
	syscall(SYS_exit, 0);
	__builtin_unreachable();
}

void kvm_defer_teardown(struct kvm *kvm)
{
	int p[2];
	if (kvm->vm_fd < 0 || kvm->teardown_fd >= 0)
		return;
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_debug("teardown helper: pipe: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		teardown_helper(p[0], kvm->vm_fd);
	close(p[0]);
	if (pid < 0) {
		log_debug("teardown helper: fork: %s", strerror(errno));
		close(p[1]);
		return;
	}
	kvm->teardown_fd = p[1];
	log_debug("teardown helper: pid %d holds the VM", (int)pid);
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->sys_fd >= 0)
		close(kvm->sys_fd);
	if (kvm->ram)
		munmap(kvm->ram, kvm->ram_size);
	if (kvm->ram_fd >= 0)
		close(kvm->ram_fd);
	/* The helper's EOF: it exits, and with it goes the VM. */
	if (kvm->teardown_fd >= 0)
		close(kvm->teardown_fd);
	kvm->vm_fd = kvm->sys_fd = kvm->teardown_fd = kvm->ram_fd = -1;
	kvm->ram = NULL;
}

/*
 * The memfd behind guest RAM, sized and mapped MAP_SHARED (also without
 * KVM_RAM_SHARED: the file is then cvmm's alone, and a reboot clears it
 * the same way). Huge pages are mapped without MAP_NORESERVE, so that the
 * kernel reserves every one now: too few free huge pages fail the mmap
 * with ENOMEM instead of a SIGBUS at the guest's first touch of a page
 * that is not there.
 */
static int alloc_memfd(struct kvm *kvm, uint64_t size, unsigned flags, void **out)
{
	bool huge = flags & KVM_RAM_HUGEPAGES;
	bool shared = flags & KVM_RAM_SHARED;
	const char *what = huge ? " in huge pages" : " (shared)";
	int fd = memfd_create("cvmm-guest-ram", MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0));
	if (fd < 0) {
		int err = errno;
		log_error("cannot create the memory file for guest RAM%s: %s%s", what,
			  strerror(err), huge && err == EINVAL ?
			  " (no huge page support in this kernel)" : "");
		return -err;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = errno;
		log_error("cannot size the memory file for %llu MiB of guest RAM%s: %s",
			  (unsigned long long)(size >> 20), what, strerror(err));
		close(fd);
		return -err;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (huge ? 0 : MAP_NORESERVE),
		       fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;
		log_error("cannot map %llu MiB of guest RAM%s: %s%s",
			  (unsigned long long)(size >> 20), what, strerror(err),
			  huge && err == ENOMEM ?
			  " (not enough free huge pages: see HugePages_Free in /proc/meminfo)" : "");
		close(fd);
		return -err;
	}
	kvm->ram_fd = fd;
	kvm->ram_shared = shared;
	kvm->ram_huge = huge;
	*out = p;
	return 0;
}

/*
 * Calls fn for each data extent [data, hole) of fd below size (SEEK_DATA,
 * SEEK_HOLE: a sparse file's holes are skipped), stopping at the first
 * error: 0 or -errno.
 */
static int for_each_extent(int fd, uint64_t size,
			   int (*fn)(uint64_t data, uint64_t hole, void *opaque), void *opaque)
{
	off_t pos = 0;
	while ((uint64_t)pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if ((uint64_t)hole > size)
			hole = (off_t)size;
		int ret = fn((uint64_t)data, (uint64_t)hole, opaque);
		if (ret)
			return ret;
		pos = hole;
	}
	return 0;
}

struct ram_copy {
	int fd;
	uint8_t *p;
};

static int copy_extent(uint64_t data, uint64_t hole, void *opaque)
{
	const struct ram_copy *c = opaque;
	return pread_full(c->fd, c->p + data, (size_t)(hole - data), (off_t)data);
}

/* The data extents of the snapshot's RAM file into memfd RAM at p. */
static int copy_ram_file(int fd, uint8_t *p, uint64_t size)
{
	struct ram_copy c = { fd, p };
	return for_each_extent(fd, size, copy_extent, &c);
}

#define RAM_PAGE 4096u

struct ram_populate {
	uint8_t *p;
	uint64_t size;
	bool madv;     /* MADV_POPULATE_WRITE works */
	uint64_t done; /* bytes populated */
};

static int populate_extent(uint64_t data, uint64_t hole, void *opaque)
{
	struct ram_populate *r = opaque;
	/* Extents are page-aligned on the file systems that have holes;
	 * align anyway (madvise wants it). */
	uint64_t lo = data & ~(uint64_t)(RAM_PAGE - 1);
	uint64_t hi = (hole + RAM_PAGE - 1) & ~(uint64_t)(RAM_PAGE - 1);
	if (hi > r->size)
		hi = r->size;
	if (r->madv && madvise(r->p + lo, hi - lo, MADV_POPULATE_WRITE) < 0) {
		if (errno != EINVAL)
			return -errno;
		r->madv = false; /* an older kernel: touch instead */
	}
	if (!r->madv)
		for (uint64_t at = lo; at < hi; at += RAM_PAGE) {
			volatile uint8_t *b = r->p + at;
			*b = *b;
		}
	r->done += hi - lo;
	return 0;
}

/*
 * prefault=on: the data extents of the snapshot's RAM file (SEEK_DATA,
 * SEEK_HOLE), mapped privately at p, populated writable now
 * (MADV_POPULATE_WRITE, Linux 5.14: each page read from the file and
 * made the process's own), so the guest takes no fault on them; holes
 * (RAM the guest never touched) stay unpopulated, so the cost follows
 * the data, not the RAM size. Without MADV_POPULATE_WRITE (EINVAL), each
 * page is touched instead. Returns the bytes populated in *done.
 */
static int populate_extents(int fd, uint8_t *p, uint64_t size, uint64_t *done)
{
	struct ram_populate r = { .p = p, .size = size, .madv = true };
	int ret = for_each_extent(fd, size, populate_extent, &r);
	*done = r.done;
	return ret;
}

int kvm_alloc_ram(struct kvm *kvm, uint64_t size, unsigned flags)
{
	void *p = NULL;
	if (flags & (KVM_RAM_SHARED | KVM_RAM_HUGEPAGES)) {
		int ret = alloc_memfd(kvm, size, flags, &p);
		if (!ret && kvm->ram_restore) {
			ret = copy_ram_file(kvm->ram_src_fd, p, size);
			if (ret) {
				log_error("restore: cannot read guest RAM from the snapshot: %s",
					  strerror(-ret));
				munmap(p, size);
				close(kvm->ram_fd);
				kvm->ram_fd = -1;
			}
		}
		if (ret)
			return ret;
	} else if (kvm->ram_restore) {
		/* Lazy: each page is read from the file on the guest's first
		 * touch; prefault=on reads the file's data extents now. */
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE,
			 kvm->ram_src_fd, 0);
		if (p == MAP_FAILED) {
			int err = errno;
			log_error("restore: cannot map %llu MiB of guest RAM from the snapshot: %s",
				  (unsigned long long)(size >> 20), strerror(err));
			return -err;
		}
		if (kvm->ram_prefault) {
			uint64_t done;
			int ret = populate_extents(kvm->ram_src_fd, p, size, &done);
			if (ret) {
				log_error("restore: cannot prefault guest RAM from the snapshot: %s",
					  strerror(-ret));
				munmap(p, size);
				return ret;
			}
			log_debug("restore: prefaulted %llu KiB of guest RAM (the snapshot's data)",
				  (unsigned long long)(done >> 10));
		}
		kvm->ram_file = true;
	} else {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			int err = errno;
			log_error("cannot allocate %llu MiB of guest RAM: %s",
				  (unsigned long long)(size >> 20), strerror(err));
			return -err;
		}
	}
	/* Guest RAM is never part of a core dump of cvmm, nor of a child's
	 * address space (the teardown helper is forked after it exists). */
	madvise(p, size, MADV_DONTDUMP);
	madvise(p, size, MADV_DONTFORK);
	kvm->ram = p;
	kvm->ram_size = size;
	return 0;
}

int kvm_clear_ram(struct kvm *kvm)
{
	/* Huge pages: written over, so that they stay reserved (a punched
	 * hole would give them back to the pool, and a later fault could
	 * find none). Other memfd RAM keeps its contents in the file
	 * (MADV_DONTNEED would only drop this mapping of them): its pages are
	 * punched out, which every mapping, a device server's too, then
	 * reads as zeroes. Anonymous memory gets fresh zero pages. RAM a
	 * device pinned for DMA is written over too: dropped pages would
	 * leave the device with the old ones, which the guest no longer sees. */
	int r = 0;
	if (kvm->ram_file && !kvm->ram_pinned) {
		/* A restored VM's RAM maps its snapshot: dropped pages would
		 * read as the snapshot's again. Fresh anonymous memory in its
		 * place (KVM follows the mapping). */
		void *p = mmap(kvm->ram, kvm->ram_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
		r = p == MAP_FAILED ? -1 : 0;
		if (!r) {
			kvm->ram_file = false;
			madvise(kvm->ram, kvm->ram_size, MADV_DONTDUMP);
			madvise(kvm->ram, kvm->ram_size, MADV_DONTFORK);
		}
	} else if (kvm->ram_huge || kvm->ram_pinned)
		memset(kvm->ram, 0, kvm->ram_size);
	else if (kvm->ram_fd >= 0)
		r = fallocate(kvm->ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			      (off_t)kvm->ram_size);
	else
		r = madvise(kvm->ram, kvm->ram_size, MADV_DONTNEED);
	if (r < 0) {
		int err = errno;
		log_error("cannot clear guest RAM: %s", strerror(err));
		return -err;
	}
	return 0;
}

static bool page_is_zero(const uint8_t *p, size_t n)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < n / 8; i++)
		if (w[i])
			return false;
	return true;
}

int kvm_save_ram(struct kvm *kvm, int fd, uint64_t *written)
{
	/* Pages never touched are not even resident (mincore): skipped
	 * without reading them; the others are compared with zero. Runs of
	 * data go out in one write. */
	const size_t page = 4096, chunk = 2u << 20;
	uint8_t *ram = kvm->ram;
	unsigned char vec[(2u << 20) / 4096];
	uint64_t total = 0;
	int ret = 0;
	if (ftruncate(fd, (off_t)kvm->ram_size) < 0)
		ret = -errno;
	for (uint64_t base = 0; !ret && base < kvm->ram_size; base += chunk) {
		size_t len = kvm->ram_size - base < chunk ? kvm->ram_size - base : chunk;
		bool have_vec = mincore(ram + base, len, vec) == 0;
		uint64_t run = 0, run_len = 0;
		for (size_t off = 0; off < len && !ret; off += page) {
			bool data = (!have_vec || (vec[off / page] & 1)) &&
				    !page_is_zero(ram + base + off, page);
			if (data) {
				if (!run_len)
					run = base + off;
				run_len += page;
			}
			if ((!data || off + page >= len) && run_len) {
				ret = pwrite_full(fd, ram + run, run_len, (off_t)run);
				total += run_len;
				run_len = 0;
			}
		}
	}
	if (ret) {
		log_error("snapshot: cannot write guest RAM: %s", strerror(-ret));
		return ret;
	}
	*written = total;
	return 0;
}

/* The lowest free slot number below KVM's limit, marked used. */
static int slot_alloc(struct kvm *kvm, uint32_t *out)
{
	for (unsigned w = 0; w * 64 < kvm->nr_slots; w++) {
		uint64_t cur = atomic_load(&kvm->slot_used[w]);
		while (~cur) {
			unsigned bit = (unsigned)__builtin_ctzll(~cur);
			if (w * 64 + bit >= kvm->nr_slots)
				break;
			if (atomic_compare_exchange_weak(&kvm->slot_used[w], &cur,
							 cur | 1ULL << bit)) {
				*out = w * 64 + bit;
				return 0;
			}
		}
	}
	return -ENOSPC;
}

static void slot_free(struct kvm *kvm, uint32_t slot)
{
	if (slot < KVM_MAX_SLOTS)
		atomic_fetch_and(&kvm->slot_used[slot / 64], ~(1ULL << (slot % 64)));
}

unsigned kvm_slots_used(struct kvm *kvm)
{
	unsigned n = 0;
	for (unsigned w = 0; w < KVM_MAX_SLOTS / 64; w++)
		n += (unsigned)__builtin_popcountll(atomic_load(&kvm->slot_used[w]));
	return n;
}

static int set_region(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size,
		      void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;
	return 0;
}

int kvm_map_region(struct kvm *kvm, uint64_t gpa, uint64_t size, void *hva)
{
	uint32_t slot;
	int ret = slot_alloc(kvm, &slot);
	if (ret) {
		log_error("guest RAM at 0x%llx: no free KVM memory slot (%u in use)",
			  (unsigned long long)gpa, kvm->nr_slots);
		return ret;
	}
	ret = set_region(kvm, slot, gpa, size, hva);
	if (ret) {
		log_error("KVM_SET_USER_MEMORY_REGION gpa 0x%llx size 0x%llx: %s",
			  (unsigned long long)gpa, (unsigned long long)size,
			  strerror(-ret));
		slot_free(kvm, slot);
		return ret;
	}
	/* A region inside shared RAM is that much into its memfd. */
	int fd = -1;
	uint64_t off = 0;
	uintptr_t base = (uintptr_t)kvm->ram, at = (uintptr_t)hva;
	if (kvm->ram_shared && at >= base && at - base < kvm->ram_size &&
	    size <= kvm->ram_size - (at - base)) {
		fd = kvm->ram_fd;
		off = at - base;
	}
	ret = guest_mem_add_fd(&kvm->mem, gpa, size, hva, fd, off);
	if (ret) {
		set_region(kvm, slot, gpa, 0, hva);
		slot_free(kvm, slot);
	}
	return ret;
}

int kvm_map_slot(struct kvm *kvm, uint64_t gpa, uint64_t size, void *hva,
		 uint32_t *slot)
{
	int ret = slot_alloc(kvm, slot);
	if (ret)
		return ret;
	ret = set_region(kvm, *slot, gpa, size, hva);
	if (ret)
		slot_free(kvm, *slot);
	return ret;
}

int kvm_unmap_slot(struct kvm *kvm, uint32_t slot)
{
	/* Size 0 deletes the slot; the address is not looked at. */
	int ret = set_region(kvm, slot, 0, 0, NULL);
	if (!ret)
		slot_free(kvm, slot);
	return ret;
}

int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };
	if (ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return -errno;
	return 0;
}

void kvm_irq_line_cb(void *opaque, uint32_t gsi, int level)
{
	struct kvm *kvm = opaque;
	int ret = kvm_irq_line(kvm, gsi, level);
	if (ret)
		log_ratelimited(&kvm->rl, LOG_WARN, "KVM_IRQ_LINE gsi %u level %d: %s",
				gsi, level, strerror(-ret));
}
