/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory: a few contiguous regions of host memory, each at a
 * guest-physical address. Every translation is bounds-checked, so device
 * code that follows guest-provided addresses can never step outside guest
 * RAM. No KVM dependency: unit tests and fuzzers build it on plain buffers.
 */
#ifndef CVMM_GUEST_MEM_H
#define CVMM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 4

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	/* The file the region is a MAP_SHARED mapping of (--memory
	 * shared=on: a memfd) and where in it the region starts; -1 for
	 * private memory. Device backends that run in another process
	 * (vfio-user, vhost-user) map guest RAM through it. Not owned. */
	int fd;
	uint64_t fd_offset;
};

struct guest_mem {
	struct guest_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned count;
};

/* Adds a region (sorted, non-overlapping): 0, -EINVAL or -ENOSPC. */
int guest_mem_add(struct guest_mem *mem, uint64_t gpa, uint64_t size,
		  void *hva);
/* The same for a region that maps [fd_offset, fd_offset+size) of file fd
 * (fd >= 0, kept by number, not owned). */
int guest_mem_add_fd(struct guest_mem *mem, uint64_t gpa, uint64_t size,
		     void *hva, int fd, uint64_t fd_offset);

/*
 * Host pointer for [gpa, gpa+len) when that range lies wholly inside one
 * region, else NULL. len 0 is treated as 1 (the address itself must exist).
 */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copies to/from guest memory: 0 or -EFAULT (nothing copied). */
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst,
		   size_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa,
		    const void *src, size_t len);

/*
 * The file behind [gpa, gpa+len) (len 0 is treated as 1): 0 with *fd and
 * the range's offset in it in *offset; -EFAULT when the range is not
 * wholly inside one region; -ENOENT when that region is private memory
 * (no file another process could map).
 */
int guest_mem_fd(const struct guest_mem *mem, uint64_t gpa, uint64_t len,
		 int *fd, uint64_t *offset);

/* Total bytes of RAM. */
uint64_t guest_mem_size(const struct guest_mem *mem);

#endif
