/* SPDX-License-Identifier: MIT */
/*
 * image_file: the kernel/initramfs reader. A file that another process
 * truncates between open (fstat) and the read must give one error line and
 * -EIO, not SIGBUS (as a mapping of it would).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_file.h"

#define FILE_BYTES (3u << 20) /* more than one page, not a chunk multiple */

struct fx {
	char path[64];
	int fd; /* the test's own, read-write */
	uint8_t *want;
	uint8_t *got;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/cvmm-image-XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	f->want = malloc(FILE_BYTES);
	f->got = malloc(FILE_BYTES);
	assert_non_null(f->want);
	assert_non_null(f->got);
	for (uint32_t i = 0; i < FILE_BYTES; i++)
		f->want[i] = (uint8_t)(i * 7 + (i >> 12));
	assert_int_equal(pwrite(f->fd, f->want, FILE_BYTES, 0), FILE_BYTES);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	close(f->fd);
	unlink(f->path);
	free(f->want);
	free(f->got);
	free(f);
	return 0;
}

/* Runs fn with stderr going to a file; returns what was written there. */
static char *capture_stderr(void (*fn)(struct fx *), struct fx *f)
{
	char path[] = "/tmp/cvmm-image-err-XXXXXX";
	int cap = mkstemp(path);
	assert_true(cap >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(cap, STDERR_FILENO), STDERR_FILENO);
	fn(f);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	static char text[4096];
	ssize_t n = pread(cap, text, sizeof(text) - 1, 0);
	close(cap);
	assert_true(n >= 0);
	text[n] = 0;
	return text;
}

static void test_read_whole(void **state)
{
	struct fx *f = *state;
	struct image_file im;
	assert_int_equal(image_file_open(&im, "kernel", f->path), 0);
	assert_int_equal(im.size, FILE_BYTES);
	assert_int_equal(image_file_read(&im, f->got), 0);
	assert_memory_equal(f->got, f->want, FILE_BYTES);
	image_file_close(&im);
	image_file_close(&im); /* idempotent */
}

static int shrunk_ret;

static void open_shrink_read(struct fx *f)
{
	struct image_file im;
	assert_int_equal(image_file_open(&im, "initramfs", f->path), 0);
	assert_int_equal(im.size, FILE_BYTES);
	/* Another process truncates it now, between fstat and the copy. */
	assert_int_equal(ftruncate(f->fd, 5000), 0);
	shrunk_ret = image_file_read(&im, f->got);
	image_file_close(&im);
}

static void test_shrinks_while_read(void **state)
{
	struct fx *f = *state;
	char *err = capture_stderr(open_shrink_read, f);
	assert_int_equal(shrunk_ret, -EIO);
	/* What was there is what was read. */
	assert_memory_equal(f->got, f->want, 5000);
	char want[200];
	snprintf(want, sizeof(want),
		 "cvmm: error: initramfs %s: the file shrank while being read (5000 of %u bytes)\r\n",
		 f->path, FILE_BYTES);
	assert_non_null(strstr(err, want));
	/* That line only. */
	assert_string_equal(err, want);
}

static void test_grows_while_read(void **state)
{
	struct fx *f = *state;
	struct image_file im;
	assert_int_equal(image_file_open(&im, "kernel", f->path), 0);
	uint8_t more[4096] = { 1 };
	assert_int_equal(pwrite(f->fd, more, sizeof(more), FILE_BYTES), sizeof(more));
	/* Read up to the size at open; the buffer is no larger. */
	assert_int_equal(image_file_read(&im, f->got), 0);
	assert_memory_equal(f->got, f->want, FILE_BYTES);
	image_file_close(&im);
}

static int bad_ret[3];

static void open_bad(struct fx *f)
{
	struct image_file im;
	assert_int_equal(ftruncate(f->fd, 0), 0);
	bad_ret[0] = image_file_open(&im, "kernel", f->path);
	bad_ret[1] = image_file_open(&im, "kernel", "/tmp");
	bad_ret[2] = image_file_open(&im, "kernel", "/nonexistent/cvmm-kernel");
	image_file_close(&im);
}

static void test_unusable(void **state)
{
	struct fx *f = *state;
	char *err = capture_stderr(open_bad, f);
	assert_int_equal(bad_ret[0], -ENODATA);
	assert_int_equal(bad_ret[1], -EINVAL);
	assert_int_equal(bad_ret[2], -ENOENT);
	char want[160];
	snprintf(want, sizeof(want), "cvmm: error: kernel %s: empty file\r\n", f->path);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "cvmm: error: kernel /tmp: not a regular file\r\n"));
	assert_non_null(strstr(err, "cvmm: error: kernel /nonexistent/cvmm-kernel: "
				    "No such file or directory\r\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrinks_while_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grows_while_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
