/* SPDX-License-Identifier: MIT */
/* The kernel VFIO backend; see kernel.h. */
#include "vfio/kernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_io.h"
#include "log.h"
#include "vfio/host_irqs.h"

#define MAX_GROUPS 16
#define MAX_MAPS 16

struct container {
	int fd; /* -1: free */
	unsigned groups;
	struct {
		uint64_t iova, size;
		unsigned refs;
	} maps[MAX_MAPS];
	unsigned nmaps;
};

struct group {
	int fd; /* -1: free */
	int id;
	struct container *c;
	unsigned devices;
};

struct vfio_kernel {
	pthread_mutex_t lock; /* the tables below, DMA map counts */
	struct container containers[MAX_GROUPS];
	struct group groups[MAX_GROUPS];
	/* /proc/interrupts (host_irqs.h), opened at create; -1: none. */
	int irqs_fd;
	pthread_mutex_t irqs_lock; /* one reader of irqs_fd at a time */
	struct ratelimit irqs_rl;
};

struct region {
	uint64_t offset, size;
	uint32_t flags;
};

struct kdev {
	struct vfio_backend be; /* first: the core sees this */
	struct vfio_kernel *k;
	struct group *g;
	int fd;
	unsigned nregions;
	struct region regions[VFIO_PCI_NUM_REGIONS]; /* filled at open, then read-only */
	struct ratelimit rl; /* region accesses and SET_IRQS: the guest's doing */
};

static struct kdev *kd(struct vfio_backend *b)
{
	return (struct kdev *)b;
}

/* ---- sysfs ---- */

static int whyf(char *why, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int whyf(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}

/* The last component of the link dir/name points at. */
static int link_base(const char *dir, const char *name, char *out, size_t len)
{
	char p[PATH_MAX], target[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	const char *slash = strrchr(target, '/');
	const char *base = slash ? slash + 1 : target;
	size_t blen = strlen(base);
	if (blen >= len)
		return -ENAMETOOLONG;
	memcpy(out, base, blen + 1);
	return 0;
}

static bool is_bdf(const char *s)
{
	static const char pat[] = "xxxx:xx:xx.x";
	if (strlen(s) != sizeof(pat) - 1)
		return false;
	for (size_t i = 0; pat[i]; i++) {
		if (pat[i] != 'x' ? s[i] != pat[i] :
		    !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[11] <= '7';
}

/* The first device of the group bound to a driver other than vfio-pci. */
static bool group_culprit(int group, char *bdf, size_t bdflen, char *drv, size_t drvlen)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/sys/kernel/iommu_groups/%d/devices", group);
	DIR *dp = opendir(dir);
	if (!dp)
		return false;
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(dp))) {
		if (de->d_name[0] == '.')
			continue;
		char dev[PATH_MAX];
		snprintf(dev, sizeof(dev), "%s/%s", dir, de->d_name);
		if (link_base(dev, "driver", drv, drvlen) == 0 && strcmp(drv, "vfio-pci") != 0) {
			snprintf(bdf, bdflen, "%s", de->d_name);
			found = true;
		}
	}
	closedir(dp);
	return found;
}

/* What sysfs says: a PCI function bound to vfio-pci, in an IOMMU group. */
static int probe_sysfs(const char *sysfs_path, struct vfio_sysfs_info *info,
		       char *why, size_t whylen)
{
	char real[PATH_MAX], name[NAME_MAX + 1];
	memset(info, 0, sizeof(*info));
	if (!realpath(sysfs_path, real))
		return whyf(why, whylen, -errno, "%s", strerror(errno));
	struct stat st;
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    link_base(real, "subsystem", name, sizeof(name)) || strcmp(name, "pci") != 0)
		return whyf(why, whylen, -ENODEV,
			    "not a PCI device (expected /sys/bus/pci/devices/DDDD:BB:DD.F)");
	const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
	if (!is_bdf(base))
		return whyf(why, whylen, -ENODEV, "'%s' is not a PCI address (DDDD:BB:DD.F)",
			    base);
	/* is_bdf: 12 characters, they fit (memcpy: gcc -O1 cannot see it). */
	size_t blen = strnlen(base, sizeof(info->bdf) - 1);
	memcpy(info->bdf, base, blen);
	info->bdf[blen] = '\0';
	int ret = link_base(real, "driver", name, sizeof(name));
	if (ret == -ENOENT)
		return whyf(why, whylen, -ENODEV,
			    "%s is bound to no driver, not to vfio-pci", info->bdf);
	if (ret)
		return whyf(why, whylen, ret, "%s: driver: %s", info->bdf, strerror(-ret));
	if (strcmp(name, "vfio-pci") != 0)
		return whyf(why, whylen, -EBUSY, "%s is bound to %s, not to vfio-pci",
			    info->bdf, name);
	ret = link_base(real, "iommu_group", name, sizeof(name));
	char *end;
	long g = ret ? -1 : strtol(name, &end, 10);
	if (ret || *end || g < 0 || g > INT_MAX)
		return whyf(why, whylen, -ENODEV, "%s has no IOMMU group (is the IOMMU on?)",
			    info->bdf);
	info->group = (int)g;
	return 0;
}

int vfio_kernel_probe(const char *sysfs_path, struct vfio_sysfs_info *info,
		      char *why, size_t whylen)
{
	int ret = probe_sysfs(sysfs_path, info, why, whylen);
	if (ret)
		return ret;
	/* faccessat with AT_EACCESS, not access(): glibc makes it
	 * faccessat2, which an API process's VMM thread may call (a
	 * hot-plugged --device is probed under its seccomp filter). */
	if (faccessat(AT_FDCWD, "/dev/vfio/vfio", R_OK | W_OK, AT_EACCESS) < 0)
		return whyf(why, whylen, -errno, "%s: /dev/vfio/vfio: %s (is vfio-pci loaded?)",
			    info->bdf, strerror(errno));
	char gpath[32];
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", info->group);
	int fd = open(gpath, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return whyf(why, whylen, -errno, "%s: %s: %s", info->bdf, gpath,
			    errno == EBUSY ? "in use (by another VMM?)" : strerror(errno));
	struct vfio_group_status status = { .argsz = sizeof(status) };
	ret = ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0 ? -errno : 0;
	close(fd);
	if (ret)
		return whyf(why, whylen, ret, "%s: VFIO_GROUP_GET_STATUS: %s", info->bdf,
			    strerror(-ret));
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		char other[NAME_MAX + 1], drv[NAME_MAX + 1];
		if (group_culprit(info->group, other, sizeof(other), drv, sizeof(drv)))
			return whyf(why, whylen, -EPERM,
				    "%s: IOMMU group %d is not viable: %s in it is bound to %s "
				    "(bind every device of the group to vfio-pci)",
				    info->bdf, info->group, other, drv);
		return whyf(why, whylen, -EPERM,
			    "%s: IOMMU group %d is not viable (bind every device of the group "
			    "to vfio-pci)", info->bdf, info->group);
	}
	return 0;
}

/* ---- region info ---- */

int vfio_kernel_parse_region(const struct vfio_region_info *info, size_t len,
			     struct vfio_region_desc *out)
{
	memset(out, 0, sizeof(*out));
	if (len < sizeof(*info))
		return -EINVAL;
	out->flags = info->flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
				    VFIO_REGION_INFO_FLAG_MMAP);
	out->size = info->size;
	bool sparse = false;
	if (info->flags & VFIO_REGION_INFO_FLAG_CAPS) {
		uint32_t off = info->cap_offset;
		for (unsigned n = 0; off; n++) {
			const struct vfio_info_cap_header *h;
			if (n == 64 || off < sizeof(*info) || off > len || len - off < sizeof(*h) ||
			    (off & 3))
				return -EINVAL;
			h = (const void *)((const char *)info + off);
			if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
				const struct vfio_region_info_cap_sparse_mmap *s = (const void *)h;
				if (len - off < sizeof(*s) ||
				    (len - off - sizeof(*s)) / sizeof(s->areas[0]) < s->nr_areas)
					return -EINVAL;
				sparse = true;
				for (uint32_t a = 0; a < s->nr_areas; a++) {
					if (!s->areas[a].size || out->nareas == VFIO_MAX_AREAS)
						continue;
					out->areas[out->nareas++] = (struct vfio_area){
						s->areas[a].offset, s->areas[a].size,
					};
				}
			} else if (h->id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) {
				out->msix_mappable = true;
			}
			if (h->next && h->next <= off)
				return -EINVAL; /* chains go forward */
			off = h->next;
		}
	}
	if (!(out->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		out->nareas = 0;
	} else if (!sparse && out->size) {
		out->nareas = 1;
		out->areas[0] = (struct vfio_area){ 0, out->size };
	}
	return 0;
}

/* GET_REGION_INFO with room for its capabilities; *out malloc'ed. */
static int get_region_info(struct kdev *d, unsigned index, struct vfio_region_info **out,
			   size_t *len)
{
	size_t sz = sizeof(struct vfio_region_info);
	for (int tries = 0; tries < 3; tries++) {
		struct vfio_region_info *ri = calloc(1, sz);
		if (!ri)
			return -ENOMEM;
		ri->argsz = (uint32_t)sz;
		ri->index = index;
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0) {
			int err = errno;
			free(ri);
			log_error("vfio %s: VFIO_DEVICE_GET_REGION_INFO %u: %s", d->be.name, index,
				  strerror(err));
			return -err;
		}
		if (ri->argsz <= sz) {
			*out = ri;
			*len = sz;
			return 0;
		}
		sz = ri->argsz; /* the capabilities need more room */
		free(ri);
	}
	log_error("vfio %s: VFIO_DEVICE_GET_REGION_INFO %u: its size keeps growing",
		  d->be.name, index);
	return -EIO;
}

static int k_region_info(struct vfio_backend *b, unsigned index, struct vfio_region_desc *out)
{
	struct kdev *d = kd(b);
	memset(out, 0, sizeof(*out));
	if (index >= d->nregions || !d->regions[index].size)
		return 0; /* does not exist: size 0 */
	struct vfio_region_info *ri = NULL;
	size_t len = 0;
	int ret = get_region_info(d, index, &ri, &len);
	if (ret)
		return ret;
	ret = vfio_kernel_parse_region(ri, len, out);
	free(ri);
	if (ret)
		log_error("vfio %s: region %u: malformed capability chain", d->be.name, index);
	return ret;
}

/* ---- device operations ---- */

static int k_device_info(struct vfio_backend *b, struct vfio_device_info *info)
{
	struct kdev *d = kd(b);
	*info = (struct vfio_device_info){ .argsz = sizeof(*info) };
	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, info) < 0) {
		int err = errno;
		log_error("vfio %s: VFIO_DEVICE_GET_INFO: %s", d->be.name, strerror(err));
		return -err;
	}
	return 0;
}

/* Where [off, off+len) of region `index` is in the device fd. */
static int region_at(struct kdev *d, unsigned index, uint64_t off, size_t len,
		     uint32_t need, off_t *pos)
{
	if (index >= d->nregions || !(d->regions[index].flags & need) ||
	    off > d->regions[index].size || len > d->regions[index].size - off)
		return -EINVAL;
	*pos = (off_t)(d->regions[index].offset + off);
	return 0;
}

static int k_region_read(struct vfio_backend *b, unsigned index, uint64_t off, void *buf,
			 size_t len)
{
	struct kdev *d = kd(b);
	off_t pos;
	int ret = region_at(d, index, off, len, VFIO_REGION_INFO_FLAG_READ, &pos);
	if (!ret)
		ret = pread_full(d->fd, buf, len, pos);
	if (ret)
		log_ratelimited(&d->rl, LOG_WARN, "vfio %s: region %u read at 0x%llx (%zu bytes): %s",
				d->be.name, index, (unsigned long long)off, len, strerror(-ret));
	return ret;
}

static int k_region_write(struct vfio_backend *b, unsigned index, uint64_t off,
			  const void *buf, size_t len)
{
	struct kdev *d = kd(b);
	off_t pos;
	int ret = region_at(d, index, off, len, VFIO_REGION_INFO_FLAG_WRITE, &pos);
	if (!ret)
		ret = pwrite_full(d->fd, buf, len, pos);
	if (ret)
		log_ratelimited(&d->rl, LOG_WARN, "vfio %s: region %u write at 0x%llx (%zu bytes): %s",
				d->be.name, index, (unsigned long long)off, len, strerror(-ret));
	return ret;
}

static int k_region_mmap(struct vfio_backend *b, unsigned index, uint64_t off, uint64_t size,
			 int prot, void **out)
{
	struct kdev *d = kd(b);
	off_t pos;
	int ret = region_at(d, index, off, size, VFIO_REGION_INFO_FLAG_MMAP, &pos);
	if (ret)
		return ret;
	void *p = mmap(NULL, size, prot, MAP_SHARED, d->fd, pos);
	if (p == MAP_FAILED)
		return -errno;
	/* Not in the teardown helper (kvm.h): it would hold the device. */
	madvise(p, size, MADV_DONTFORK);
	*out = p;
	return 0;
}

static int k_irq_info(struct vfio_backend *b, unsigned index, struct vfio_irq_info *info)
{
	struct kdev *d = kd(b);
	*info = (struct vfio_irq_info){ .argsz = sizeof(*info), .index = index };
	if (ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, info) < 0) {
		int err = errno;
		log_error("vfio %s: VFIO_DEVICE_GET_IRQ_INFO %u: %s", d->be.name, index,
			  strerror(err));
		return -err;
	}
	return 0;
}

static const char *irq_name(unsigned index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX: return "INTx";
	case VFIO_PCI_MSI_IRQ_INDEX: return "MSI";
	case VFIO_PCI_MSIX_IRQ_INDEX: return "MSI-X";
	case VFIO_PCI_ERR_IRQ_INDEX: return "ERR";
	case VFIO_PCI_REQ_IRQ_INDEX: return "REQ";
	default: return "?";
	}
}

static int k_set_irqs(struct vfio_backend *b, unsigned index, unsigned start, unsigned count,
		      uint32_t flags, const int32_t *fds, const uint8_t *bools)
{
	struct kdev *d = kd(b);
	size_t data = flags & VFIO_IRQ_SET_DATA_EVENTFD ? count * sizeof(int32_t) :
		      flags & VFIO_IRQ_SET_DATA_BOOL ? count : 0;
	struct vfio_irq_set *s = calloc(1, sizeof(*s) + data);
	if (!s)
		return -ENOMEM;
	*s = (struct vfio_irq_set){
		.argsz = (uint32_t)(sizeof(*s) + data), .flags = flags, .index = index,
		.start = start, .count = count,
	};
	if (data)
		memcpy(s->data, flags & VFIO_IRQ_SET_DATA_EVENTFD ? (const void *)fds :
			       (const void *)bools, data);
	int ret = ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s) < 0 ? -errno : 0;
	free(s);
	if (ret)
		log_ratelimited(&d->rl, LOG_WARN,
				"vfio %s: VFIO_DEVICE_SET_IRQS %s %u+%u flags 0x%x: %s",
				d->be.name, irq_name(index), start, count, flags, strerror(-ret));
	return ret;
}

static int k_dma_map(struct vfio_backend *b, uint64_t iova, uint64_t size, void *hva,
		     int fd, uint64_t fd_offset)
{
	struct kdev *d = kd(b);
	(void)fd;
	(void)fd_offset;
	struct container *c = d->g->c;
	int ret = 0;
	pthread_mutex_lock(&d->k->lock);
	for (unsigned i = 0; i < c->nmaps; i++) {
		if (c->maps[i].iova == iova && c->maps[i].size == size) {
			c->maps[i].refs++; /* another device of the container */
			goto out;
		}
	}
	if (c->nmaps == MAX_MAPS) {
		log_error("vfio %s: more than %d DMA mappings", d->be.name, MAX_MAPS);
		ret = -ENOSPC;
		goto out;
	}
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)hva,
		.iova = iova,
		.size = size,
	};
	if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &map) < 0) {
		ret = -errno;
		log_error("vfio %s: VFIO_IOMMU_MAP_DMA of guest RAM 0x%llx (%llu MiB): %s%s",
			  d->be.name, (unsigned long long)iova, (unsigned long long)(size >> 20),
			  strerror(-ret), ret == -ENOMEM ?
			  " (the pinned RAM counts against RLIMIT_MEMLOCK: raise it, ulimit -l)" : "");
		goto out;
	}
	c->maps[c->nmaps].iova = iova;
	c->maps[c->nmaps].size = size;
	c->maps[c->nmaps++].refs = 1;
out:
	pthread_mutex_unlock(&d->k->lock);
	return ret;
}

static int k_dma_unmap(struct vfio_backend *b, uint64_t iova, uint64_t size)
{
	struct kdev *d = kd(b);
	struct container *c = d->g->c;
	int ret = -ENOENT;
	pthread_mutex_lock(&d->k->lock);
	for (unsigned i = 0; i < c->nmaps; i++) {
		if (c->maps[i].iova != iova || c->maps[i].size != size)
			continue;
		ret = 0;
		if (--c->maps[i].refs)
			break;
		struct vfio_iommu_type1_dma_unmap unmap = {
			.argsz = sizeof(unmap), .iova = iova, .size = size,
		};
		if (ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0) {
			ret = -errno;
			log_warn("vfio %s: VFIO_IOMMU_UNMAP_DMA 0x%llx: %s", d->be.name,
				 (unsigned long long)iova, strerror(-ret));
		}
		c->maps[i] = c->maps[--c->nmaps];
		break;
	}
	pthread_mutex_unlock(&d->k->lock);
	return ret;
}

static int k_reset(struct vfio_backend *b)
{
	struct kdev *d = kd(b);
	if (ioctl(d->fd, VFIO_DEVICE_RESET) < 0) {
		int err = errno;
		log_warn("vfio %s: VFIO_DEVICE_RESET: %s", d->be.name, strerror(err));
		return -err;
	}
	return 0;
}

/* A group's last device went: the group, then maybe its container. Lock held. */
static void group_put(struct group *g)
{
	if (!g || --g->devices)
		return;
	struct container *c = g->c;
	if (c)
		ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	close(g->fd);
	g->fd = -1;
	g->c = NULL;
	if (c && --c->groups == 0) {
		close(c->fd);
		c->fd = -1;
		c->nmaps = 0;
	}
}

static void k_destroy(struct vfio_backend *b)
{
	struct kdev *d = kd(b);
	if (d->fd >= 0)
		close(d->fd);
	pthread_mutex_lock(&d->k->lock);
	group_put(d->g);
	pthread_mutex_unlock(&d->k->lock);
	free(d);
}

/* The host's counts of the device's vectors (host_irqs.h). */
static int k_irq_counts(struct vfio_backend *b, uint64_t counts[VFIO_HOST_IRQ_KINDS])
{
	struct kdev *d = kd(b);
	struct vfio_kernel *k = d->k;
	if (k->irqs_fd < 0)
		return -ENOENT;
	struct vfio_host_irqs h;
	pthread_mutex_lock(&k->irqs_lock);
	int ret = vfio_host_irqs_read(k->irqs_fd, b->name, &h);
	pthread_mutex_unlock(&k->irqs_lock);
	if (ret) {
		log_ratelimited(&k->irqs_rl, LOG_WARN, "vfio %s: reading the host's interrupt counts: %s",
				b->name, strerror(-ret));
		return ret;
	}
	for (unsigned i = 0; i < VFIO_HOST_IRQ_KINDS; i++)
		counts[i] = h.count[i];
	return 0;
}

static const struct vfio_backend_ops kernel_ops = {
	.device_info = k_device_info,
	.region_info = k_region_info,
	.region_read = k_region_read,
	.region_write = k_region_write,
	.region_mmap = k_region_mmap,
	.irq_info = k_irq_info,
	.set_irqs = k_set_irqs,
	.dma_map = k_dma_map,
	.dma_unmap = k_dma_unmap,
	.irq_counts = k_irq_counts,
	.reset = k_reset,
	.destroy = k_destroy,
};

/* ---- containers and groups ---- */

int vfio_kernel_create(struct vfio_kernel **out, const char *proc_interrupts)
{
	struct vfio_kernel *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	pthread_mutex_init(&k->irqs_lock, NULL);
	for (unsigned i = 0; i < MAX_GROUPS; i++)
		k->containers[i].fd = k->groups[i].fd = -1;
	const char *path = proc_interrupts ? proc_interrupts : "/proc/interrupts";
	k->irqs_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (k->irqs_fd < 0)
		log_warn("vfio: %s: %s: passthrough interrupts are not counted", path,
			 strerror(errno));
	*out = k;
	return 0;
}

void vfio_kernel_destroy(struct vfio_kernel *k)
{
	if (!k)
		return;
	for (unsigned i = 0; i < MAX_GROUPS; i++) {
		if (k->groups[i].fd >= 0)
			close(k->groups[i].fd);
		if (k->containers[i].fd >= 0)
			close(k->containers[i].fd);
	}
	if (k->irqs_fd >= 0)
		close(k->irqs_fd);
	pthread_mutex_destroy(&k->irqs_lock);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* A new type1v2 container with group g in it. Lock held. */
static int container_new(struct vfio_kernel *k, struct group *g, const char *bdf)
{
	struct container *c = NULL;
	for (unsigned i = 0; i < MAX_GROUPS && !c; i++)
		if (k->containers[i].fd < 0)
			c = &k->containers[i];
	if (!c)
		return -ENOSPC;
	int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("vfio %s: /dev/vfio/vfio: %s", bdf, strerror(err));
		return -err;
	}
	const char *what = NULL;
	int ret = 0;
	if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		what = "VFIO_GET_API_VERSION";
		ret = -ENOTSUP;
	} else if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		what = "VFIO_CHECK_EXTENSION(TYPE1v2)";
		ret = -ENOTSUP;
	} else if (ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &fd) < 0) {
		what = "VFIO_GROUP_SET_CONTAINER";
		ret = -errno;
	} else if (ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		what = "VFIO_SET_IOMMU(TYPE1v2)";
		ret = -errno;
		ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	}
	if (ret) {
		log_error("vfio %s: %s: %s", bdf, what, strerror(-ret));
		close(fd);
		return ret;
	}
	c->fd = fd;
	c->groups = 1;
	c->nmaps = 0;
	g->c = c;
	return 0;
}

/* The group with this number, opened and in a container. Lock held. */
static int group_get(struct vfio_kernel *k, int id, const char *bdf, struct group **out)
{
	struct group *g = NULL;
	for (unsigned i = 0; i < MAX_GROUPS; i++) {
		if (k->groups[i].fd >= 0 && k->groups[i].id == id) {
			g = &k->groups[i];
			g->devices++;
			*out = g;
			return 0;
		}
		if (!g && k->groups[i].fd < 0)
			g = &k->groups[i];
	}
	if (!g) {
		log_error("vfio %s: more than %d IOMMU groups", bdf, MAX_GROUPS);
		return -ENOSPC;
	}
	char path[32];
	snprintf(path, sizeof(path), "/dev/vfio/%d", id);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("vfio %s: %s: %s", bdf, path, strerror(err));
		return -err;
	}
	struct vfio_group_status st = { .argsz = sizeof(st) };
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
		int err = errno;
		log_error("vfio %s: %s: VFIO_GROUP_GET_STATUS: %s", bdf, path, strerror(err));
		close(fd);
		return -err;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		log_error("vfio %s: IOMMU group %d is not viable (bind every device of the "
			  "group to vfio-pci)", bdf, id);
		close(fd);
		return -EPERM;
	}
	*g = (struct group){ .fd = fd, .id = id, .devices = 1 };
	/* An existing container if the IOMMU lets the group share it. */
	for (unsigned i = 0; i < MAX_GROUPS && !g->c; i++) {
		struct container *c = &k->containers[i];
		if (c->fd >= 0 && ioctl(fd, VFIO_GROUP_SET_CONTAINER, &c->fd) == 0) {
			c->groups++;
			g->c = c;
		}
	}
	int ret = g->c ? 0 : container_new(k, g, bdf);
	if (ret) {
		close(fd);
		g->fd = -1;
		return ret;
	}
	*out = g;
	return 0;
}

int vfio_kernel_open(struct vfio_kernel *k, const char *sysfs_path, struct vfio_backend **out)
{
	/* The group may be open already (another device of it): sysfs only,
	 * group_get checks the rest. */
	struct vfio_sysfs_info si;
	char why[256];
	int ret = probe_sysfs(sysfs_path, &si, why, sizeof(why));
	if (ret) {
		log_error("vfio %s: %s", sysfs_path, why);
		return ret;
	}
	struct kdev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->be.ops = &kernel_ops;
	d->be.kind = "vfio";
	d->be.unmask_eventfd = true;
	snprintf(d->be.name, sizeof(d->be.name), "%s", si.bdf);
	d->k = k;
	d->fd = -1;
	pthread_mutex_lock(&k->lock);
	ret = group_get(k, si.group, si.bdf, &d->g);
	pthread_mutex_unlock(&k->lock);
	if (ret) {
		free(d);
		return ret;
	}
	d->fd = ioctl(d->g->fd, VFIO_GROUP_GET_DEVICE_FD, si.bdf);
	if (d->fd < 0) {
		ret = -errno;
		log_error("vfio %s: VFIO_GROUP_GET_DEVICE_FD: %s", si.bdf, strerror(-ret));
		k_destroy(&d->be);
		return ret;
	}
	/* Where each region is in the device fd, once (read-only after). */
	struct vfio_device_info info;
	ret = k_device_info(&d->be, &info);
	d->nregions = info.num_regions < VFIO_PCI_NUM_REGIONS ? info.num_regions :
			VFIO_PCI_NUM_REGIONS;
	for (unsigned i = 0; !ret && i < d->nregions; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) {
			/* vfio-pci refuses the VGA region of a device that has
			 * none (-EINVAL): absent, like a BAR of size 0. */
			if (errno == EINVAL && i == VFIO_PCI_VGA_REGION_INDEX) {
				d->regions[i] = (struct region){ 0, 0, 0 };
				continue;
			}
			ret = -errno;
			log_error("vfio %s: VFIO_DEVICE_GET_REGION_INFO %u: %s", si.bdf, i,
				  strerror(-ret));
			break;
		}
		d->regions[i] = (struct region){ ri.offset, ri.size, ri.flags };
	}
	if (ret) {
		k_destroy(&d->be);
		return ret;
	}
	log_debug("vfio %s: opened (IOMMU group %d, %u regions, %u irq indexes)", si.bdf,
		  si.group, info.num_regions, info.num_irqs);
	*out = &d->be;
	return 0;
}
