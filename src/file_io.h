/* SPDX-License-Identifier: MIT */
/*
 * Whole reads and writes at a file offset: pread/pwrite again until all
 * n bytes are done (a signal, a short transfer). Library-like: nothing
 * here logs; the caller, which knows the file, writes the one line.
 */
#ifndef CVMM_FILE_IO_H
#define CVMM_FILE_IO_H

#include <stddef.h>
#include <sys/types.h>

/* 0, -EIO when the file ends before n bytes, or pread's -errno. */
int pread_full(int fd, void *buf, size_t n, off_t at);
/* 0, -EIO when nothing more can be written, or pwrite's -errno. */
int pwrite_full(int fd, const void *buf, size_t n, off_t at);

#endif
