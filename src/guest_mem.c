/* SPDX-License-Identifier: MIT */
#include "guest_mem.h"

#include <errno.h>
#include <string.h>

int guest_mem_add(struct guest_mem *mem, uint64_t gpa, uint64_t size,
		  void *hva)
{
	if (size == 0 || gpa + size < gpa || !hva)
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
	mem->regions[pos] = (struct guest_region){ gpa, size, hva };
	mem->count++;
	return 0;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	for (unsigned i = 0; i < mem->count; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
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
