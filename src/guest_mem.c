/* SPDX-License-Identifier: MIT */
#include "guest_mem.h"

#include <errno.h>
#include <string.h>

int guest_mem_add(struct guest_mem *mem, uint64_t gpa, uint64_t size,
		  void *hva)
{
	return guest_mem_add_fd(mem, gpa, size, hva, -1, 0);
}

int guest_mem_add_fd(struct guest_mem *mem, uint64_t gpa, uint64_t size,
		     void *hva, int fd, uint64_t fd_offset)
{
	if (size == 0 || gpa + size < gpa || !hva)
		return -EINVAL;
	if (fd >= 0 && fd_offset + size < fd_offset)
		return -EINVAL;
	if (mem->count == GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	unsigned pos = 0;
	while (pos < mem->count && mem->regions[pos].gpa < gpa)
		pos++;
	if (pos > 0) {
		const struct guest_region *p = &mem->regions[pos - 1];
		if (p->gpa + p->size > gpa)
			return -EINVAL;
	}
	if (pos < mem->count && gpa + size > mem->regions[pos].gpa)
		return -EINVAL;
	memmove(&mem->regions[pos + 1], &mem->regions[pos],
		(mem->count - pos) * sizeof(mem->regions[0]));
	mem->regions[pos] = (struct guest_region){
		.gpa = gpa, .size = size, .hva = hva,
		.fd = fd < 0 ? -1 : fd, .fd_offset = fd < 0 ? 0 : fd_offset,
	};
	mem->count++;
	return 0;
}

/* The region that holds all of [gpa, gpa+len), or NULL. */
static const struct guest_region *find_region(const struct guest_mem *mem,
					      uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	for (unsigned i = 0; i < mem->count; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct guest_region *r = find_region(mem, gpa, len);
	return r ? r->hva + (gpa - r->gpa) : NULL;
}

int guest_mem_fd(const struct guest_mem *mem, uint64_t gpa, uint64_t len,
		 int *fd, uint64_t *offset)
{
	const struct guest_region *r = find_region(mem, gpa, len);
	if (!r)
		return -EFAULT;
	if (r->fd < 0)
		return -ENOENT;
	*fd = r->fd;
	*offset = r->fd_offset + (gpa - r->gpa);
	return 0;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst,
		   size_t len)
{
	const void *p = guest_mem_ptr(mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa,
		    const void *src, size_t len)
{
	void *p = guest_mem_ptr(mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t guest_mem_size(const struct guest_mem *mem)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < mem->count; i++)
		total += mem->regions[i].size;
	return total;
}
