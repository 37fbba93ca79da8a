/* SPDX-License-Identifier: MIT */
/* Kernel and initramfs files: see image_file.h. */
#include "image_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Bytes per pread(): bounded so that a signal never waits on a huge copy. */
#define IMAGE_READ_CHUNK (8u << 20)

int image_file_open(struct image_file *f, const char *what, const char *path)
{
	*f = (struct image_file){ .fd = -1, .what = what, .path = path };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("%s %s: %s", what, path, strerror(err));
		return -err;
	}
	struct stat st;
	int ret = 0;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if (st.st_size == 0)
		ret = -ENODATA;
	if (ret) {
		close(fd);
		log_error("%s %s: %s", what, path,
			  ret == -EINVAL ? "not a regular file" :
			  ret == -ENODATA ? "empty file" : strerror(-ret));
		return ret;
	}
	f->fd = fd;
	f->size = (uint64_t)st.st_size;
	return 0;
}

int image_file_read(const struct image_file *f, void *dst)
{
	uint8_t *p = dst;
	uint64_t done = 0;
	while (done < f->size) {
		uint64_t left = f->size - done;
		size_t want = left < IMAGE_READ_CHUNK ? (size_t)left : IMAGE_READ_CHUNK;
		ssize_t n = pread(f->fd, p + done, want, (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			log_error("%s %s: %s", f->what, f->path, strerror(err));
			return -err;
		}
		if (n == 0) {
			log_error("%s %s: the file shrank while being read (%llu of "
				  "%llu bytes)", f->what, f->path,
				  (unsigned long long)done,
				  (unsigned long long)f->size);
			return -EIO;
		}
		done += (uint64_t)n;
	}
	return 0;
}

void image_file_close(struct image_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}
