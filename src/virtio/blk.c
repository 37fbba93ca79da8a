/* SPDX-License-Identifier: MIT */
/* virtio-blk device: see blk.h. Requests are executed by blk_request.c. */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/blk_request.h"
#include "virtio/common.h"

/* Chains served per wakeup before other work (and a stop) gets a turn. */
#define BLK_BUDGET 1024u

struct virtio_blk {
	struct virtio_common common;
	struct blk_backend be;
	struct virtio_blk_config config; /* little-endian, built at create */
	char *path;
	char name[48];
	struct vq_chain chain; /* the request being served */
	bool flush_failed_once; /* a flush failed before a reset */
};

/* ---- request queue ---- */

/* One request: executed, counted, its status byte written. */
static int blk_serve(void *opaque, struct vq_chain *chain, uint32_t *written)
{
	struct virtio_blk *b = opaque;
	struct virtio_dev *vd = &b->common.vd;
	struct blk_req_result res;
	if (blk_request_execute(&b->be, chain, &res) < 0) {
		/* No status byte: give the buffers back untouched. */
		atomic_fetch_add(&vd->errors, 1);
	} else {
		*written = res.used_len;
		atomic_fetch_add(&vd->bytes, res.data_len);
		if (res.status != VIRTIO_BLK_S_OK)
			atomic_fetch_add(&vd->errors, 1);
	}
	atomic_fetch_add(&vd->requests, 1);
	return 0;
}

/* Device thread: the request queue was kicked. */
static void blk_kicked(void *opaque, unsigned q)
{
	struct virtio_blk *b = opaque;
	virtio_common_serve(&b->common, q, &b->chain, BLK_BUDGET, blk_serve);
}

/* ---- activate and reset (common.h does the rest) ---- */

static int blk_activate(void *opaque)
{
	struct virtio_blk *b = opaque;
	if (!b->common.vd.vqs[0].ready) {
		log_ratelimited(&b->common.vd.rl, LOG_WARN,
				"%s: the driver did not enable the request queue",
				b->name);
		return VIRTIO_COMMON_IDLE;
	}
	return 0;
}

static void blk_reset(void *opaque)
{
	struct virtio_blk *b = opaque;
	vq_reset(&b->common.vd.vqs[0]);
	/* The guest may go on; that data was lost stays known (destroy). */
	if (b->be.flush_failed)
		b->flush_failed_once = true;
	blk_backend_reset_error(&b->be);
}

/* ---- lifecycle ---- */

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* O_DIRECT alignments of the file (statx DIOALIGN where the kernel has it). */
static int probe_direct(struct virtio_blk *b)
{
	struct blk_backend *be = &b->be;
	uint32_t mem = 512, off = 512;
#ifdef STATX_DIOALIGN
	struct statx stx;
	if (statx(be->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_offset_align) {
			log_error("disk %s: the file system does not support "
				  "direct=on", b->path);
			return -EINVAL;
		}
		mem = stx.stx_dio_mem_align;
		off = stx.stx_dio_offset_align;
	}
#endif
	if (off < BLK_SECTOR_SIZE)
		off = BLK_SECTOR_SIZE;
	if (!is_pow2(mem) || !is_pow2(off) || off > 65536 || mem > 65536) {
		log_error("disk %s: unusable direct I/O alignment (%u/%u)",
			  b->path, mem, off);
		return -EINVAL;
	}
	be->direct = true;
	be->dio_mem_align = mem;
	be->dio_offset_align = off;
	size_t balign = mem > 4096 ? mem : 4096;
	be->bounce = aligned_alloc(balign, BLK_BOUNCE_SIZE);
	return be->bounce ? 0 : -ENOMEM;
}

static int open_image(struct virtio_blk *b, const struct disk_config *cfg,
		      uint64_t *size)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (cfg->direct)
		flags |= O_DIRECT;
	int fd = open(cfg->path, flags);
	if (fd < 0) {
		int e = errno;
		if (e == EINVAL && cfg->direct)
			log_error("disk %s: the file system does not support "
				  "direct=on", cfg->path);
		else
			log_error("disk %s: %s", cfg->path, strerror(e));
		return -e;
	}
	b->be.fd = fd;

	struct flock fl = {
		.l_type = cfg->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0, /* the whole file, however long */
	};
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;
		if (e == EAGAIN || e == EACCES) {
			log_error("disk %s is in use by another process", cfg->path);
			return -EBUSY;
		}
		log_warn("disk %s: cannot lock (%s); not protected against "
			 "concurrent use", cfg->path, strerror(e));
	}

	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		log_error("disk %s: %s", cfg->path, strerror(e));
		return -e;
	}
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0) {
			int e = errno;
			log_error("disk %s: cannot get the size: %s", cfg->path,
				  strerror(e));
			return -e;
		}
	} else {
		log_error("disk %s: not a regular file or a block device",
			  cfg->path);
		return -EINVAL;
	}
	return 0;
}

static void set_id(struct blk_backend *be, const struct disk_config *cfg)
{
	const char *id = cfg->id;
	if (!id) {
		const char *slash = strrchr(cfg->path, '/');
		id = slash ? slash + 1 : cfg->path;
	}
	memset(be->id, 0, sizeof(be->id));
	memcpy(be->id, id, strnlen(id, sizeof(be->id)));
}

/* The configuration space and the feature bits it goes with. */
static uint64_t build_config(struct virtio_blk *b)
{
	struct blk_backend *be = &b->be;
	struct virtio_blk_config *c = &b->config;
	uint32_t blk_size = be->direct ? be->dio_offset_align : BLK_SECTOR_SIZE;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(be->capacity_sectors);
	c->seg_max = htole32(VIRTIO_BLK_QUEUE_SIZE - 2);
	c->blk_size = htole32(blk_size);
	uint64_t features = (1ULL << VIRTIO_BLK_F_SEG_MAX) |
			    (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			    (1ULL << VIRTIO_BLK_F_FLUSH);
	if (be->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	if (be->discard_ok) {
		features |= 1ULL << VIRTIO_BLK_F_DISCARD;
		c->max_discard_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
		c->max_discard_seg = htole32(BLK_MAX_DISCARD_SEG);
		c->discard_sector_alignment = htole32(blk_size / BLK_SECTOR_SIZE);
	}
	if (be->write_zeroes_ok) {
		features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
		c->max_write_zeroes_sectors = htole32(BLK_MAX_WRITE_ZEROES_SECTORS);
		c->max_write_zeroes_seg = htole32(BLK_MAX_WRITE_ZEROES_SEG);
		c->write_zeroes_may_unmap = be->punch_hole_works;
	}
	return features;
}

int virtio_blk_create(struct virtio_blk **out, const struct disk_config *cfg,
		      const struct guest_mem *mem)
{
	*out = NULL;
	if (!cfg || !cfg->path || !mem)
		return -EINVAL;
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->be.fd = -1;
	int r = -ENOMEM;
	b->path = strdup(cfg->path);
	if (!b->path)
		goto fail;
	b->be.readonly = cfg->readonly;
	set_id(&b->be, cfg);
	snprintf(b->name, sizeof(b->name), "virtio-blk(%.20s)", b->be.id);
	char thread_name[16];
	snprintf(thread_name, sizeof(thread_name), "blk-%.11s", b->be.id);
	b->be.name = b->name;

	uint64_t size = 0;
	r = open_image(b, cfg, &size);
	if (r < 0)
		goto fail;
	if (size % BLK_SECTOR_SIZE)
		log_warn("disk %s: size %llu is not a multiple of 512; the last "
			 "%llu bytes are not visible to the guest",
			 cfg->path, (unsigned long long)size,
			 (unsigned long long)(size % BLK_SECTOR_SIZE));
	b->be.capacity_sectors = size >> BLK_SECTOR_SHIFT;
	if (cfg->direct) {
		r = probe_direct(b);
		if (r < 0)
			goto fail;
	}
	blk_backend_probe(&b->be);
	uint64_t features = build_config(b);
	r = virtio_common_init(&b->common, &(struct virtio_common_params){
		.name = b->name,
		.thread_name = thread_name,
		.device_id = VIRTIO_ID_BLOCK,
		.nqueues = 1,
		.queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
		.queue_names = { b->name },
		.features = features,
		.config = &b->config,
		.config_size = sizeof(b->config),
		.queue_kicked = blk_kicked,
		.activate = blk_activate,
		.reset = blk_reset,
		.mem = mem,
		.dev = b,
	});
	if (r < 0)
		goto fail;
	log_debug("%s: %s, %llu sectors%s%s%s", b->name, cfg->path,
		  (unsigned long long)b->be.capacity_sectors,
		  cfg->readonly ? ", read-only" : "",
		  cfg->direct ? ", direct" : "",
		  b->be.discard_ok ? ", discard" : "");
	*out = b;
	return 0;
fail:
	if (b->be.fd >= 0)
		close(b->be.fd);
	free(b->be.bounce);
	free(b->path);
	free(b);
	return r;
}

struct virtio_dev *virtio_blk_vdev(struct virtio_blk *b)
{
	return &b->common.vd;
}

int virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return 0;
	virtio_common_destroy(&b->common);
	int ret = 0;
	if (!b->be.readonly) {
		/* Even after a failure: what came since may still be saved. */
		if (fdatasync(b->be.fd) < 0) {
			ret = -errno;
			log_error("disk %s: flush at exit: %s; data written by the "
				  "guest may be lost", b->path, strerror(-ret));
		} else if (b->flush_failed_once || b->be.flush_failed) {
			ret = -EIO;
			log_error("disk %s: a flush failed while the VM ran; data "
				  "written by the guest may be lost", b->path);
		} else {
			log_debug("disk %s: flushed (fdatasync) at exit", b->path);
		}
	}
	close(b->be.fd);
	free(b->be.bounce);
	free(b->path);
	free(b);
	return ret;
}
