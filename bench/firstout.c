/* SPDX-License-Identifier: MIT */
/*
 * firstout: runs a command with its stdout on a pipe and prints, in
 * milliseconds from just before fork(), when the first byte came out of
 * the pipe and when the command ended, then its exit status:
 *
 *   firstout CMD [ARG...]   ->   "FIRST_MS EXIT_MS STATUS"
 *
 * With the null guest that writes one byte to COM1 as its first
 * instruction (nullimg -s) this is "VMM start -> first guest instruction"
 * as seen from outside, for any VMM that copies COM1 to stdout: the same
 * yardstick for cvmm, QEMU and the floor. FIRST_MS is -1 if nothing came
 * out. stdin and stderr go to /dev/null.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

int main(int argc, char **argv)
{
	int fds[2], status;
	char buf[4096];
	double t0, first = -1, end;
	ssize_t n;

	if (argc < 2) {
		fprintf(stderr, "usage: firstout CMD [ARG...]\n");
		return 2;
	}
	if (pipe(fds)) {
		perror("pipe");
		return 1;
	}
	t0 = now_ms();
	pid_t pid = spawn(argv + 1, fds[1]);
	if (pid < 0)
		return 1;
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
		if (n > 0 && first < 0)
			first = now_ms() - t0;
	}
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	end = now_ms() - t0;
	printf("%.3f %.3f %d\n", first, end,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
