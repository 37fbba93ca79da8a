/* SPDX-License-Identifier: MIT */
/*
 * What the bench/ timing tools (firstout, rounds) share: a monotonic clock
 * in milliseconds, and starting a command the same way for each.
 */
#ifndef CVMM_BENCH_SPAWN_H
#define CVMM_BENCH_SPAWN_H

#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static inline double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * fork + execvp(argv): stdin and stderr on /dev/null, stdout on out_fd
 * (-1: /dev/null too), no other fd. The pid, or -1 after perror.
 */
static inline pid_t spawn(char *const argv[], int out_fd)
{
	pid_t pid = fork();

	if (pid < 0)
		perror("fork");
	if (pid != 0)
		return pid;
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 2) < 0 ||
	    dup2(out_fd >= 0 ? out_fd : null, 1) < 0 || close_range(3, ~0U, 0) < 0)
		_exit(127);
	execvp(argv[0], argv);
	_exit(127);
}

#endif
