/* SPDX-License-Identifier: MIT */
/*
 * The files a guest is booted from (kernel, initramfs), read with pread()
 * into a buffer or straight into guest memory, never mapped: a mapped file
 * that another process truncates while cvmm copies it kills cvmm with
 * SIGBUS. A file that reads shorter than fstat() said (it shrank under us)
 * is one error line, "WHAT PATH: the file shrank while being read (N of M
 * bytes)", and -EIO, which fails the build (exit status 1, as for any
 * other kernel or initramfs that cannot be used: the file was fine when
 * named, so it is no usage error; a reboot through the API that meets it
 * stops the VM with status 1 too). A file that grows is read up to the
 * size fstat() gave.
 */
#ifndef CVMM_IMAGE_FILE_H
#define CVMM_IMAGE_FILE_H

#include <stdint.h>

struct image_file {
	int fd;
	uint64_t size; /* from fstat() at open */
	const char *what; /* "kernel", "initramfs": for messages */
	const char *path;
};

/*
 * Opens `path` read-only and records its size: 0, or -errno after one
 * error line naming it (-EINVAL: not a regular file, -ENODATA: empty).
 */
int image_file_open(struct image_file *f, const char *what, const char *path);
/* Reads the whole file (f->size bytes) into dst: 0, or -errno, logged. */
int image_file_read(const struct image_file *f, void *dst);
/* Closes (idempotent; a zeroed or failed-to-open struct is fine too). */
void image_file_close(struct image_file *f);

#endif
