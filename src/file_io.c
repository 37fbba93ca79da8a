/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "file_io.h"

int pread_full(int fd, void *buf, size_t n, off_t at)
{
	uint8_t *p = buf;
	for (size_t done = 0; done < n;) {
		ssize_t r = pread(fd, p + done, n - done, at + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

int pwrite_full(int fd, const void *buf, size_t n, off_t at)
{
	const uint8_t *p = buf;
	for (size_t done = 0; done < n;) {
		ssize_t w = pwrite(fd, p + done, n - done, at + (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}
