/* SPDX-License-Identifier: MIT */
/*
 * rounds: runs several commands round-robin, N rounds after one warm-up
 * round, and prints for each the best and median wall time (fork to
 * wait4) and CPU time (user + system from wait4's rusage: the command and
 * the children it waited for). Round-robin, so that a shared host's load
 * falls on every command alike.
 *
 *   rounds N 'CMD ARG...' ['CMD ARG...' ...]
 *
 * Each command is split at spaces (no quoting); stdin, stdout and stderr
 * go to /dev/null. A command that exits non-zero is marked in its line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "spawn.h"

#define MAX_CMDS 16
#define MAX_ARGS 64
#define MAX_ROUNDS 1000

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v in place; writes the best and the median. */
static void stats(double *v, int n, double *best, double *median)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	*best = v[0];
	*median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static double wall[MAX_CMDS][MAX_ROUNDS], cpu[MAX_CMDS][MAX_ROUNDS];
	static char *av[MAX_CMDS][MAX_ARGS + 1];
	int failed[MAX_CMDS] = { 0 };
	int n = argc > 2 ? atoi(argv[1]) : 0, k = argc - 2;

	if (n < 1 || n > MAX_ROUNDS || k < 1 || k > MAX_CMDS) {
		fprintf(stderr, "usage: rounds N(1-%d) 'CMD ARG...' ... (up to %d commands)\n",
			MAX_ROUNDS, MAX_CMDS);
		return 2;
	}
	for (int j = 0; j < k; j++) {
		int a = 0;
		for (char *t = strtok(argv[j + 2], " "); t; t = strtok(NULL, " ")) {
			if (a == MAX_ARGS) {
				fprintf(stderr, "rounds: more than %d words in a command\n", MAX_ARGS);
				return 2;
			}
			av[j][a++] = t;
		}
		if (!a) {
			fprintf(stderr, "rounds: empty command\n");
			return 2;
		}
		av[j][a] = NULL;
	}
	for (int r = -1; r < n; r++) {
		for (int j = 0; j < k; j++) {
			struct rusage ru;
			int status;
			double t0 = now_ms();
			pid_t pid = spawn(av[j], -1);

			if (pid < 0)
				return 1;
			if (wait4(pid, &status, 0, &ru) < 0) {
				perror("wait4");
				return 1;
			}
			double t1 = now_ms();
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed[j]++;
			if (r < 0)
				continue;
			wall[j][r] = t1 - t0;
			cpu[j][r] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
				    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
		}
	}
	printf("%d rounds; ms: wall best, median | CPU best, median | command\n", n);
	for (int j = 0; j < k; j++) {
		double wb, wm, cb, cm;

		stats(wall[j], n, &wb, &wm);
		stats(cpu[j], n, &cb, &cm);
		printf("%8.2f %8.2f | %6.2f %6.2f |", wb, wm, cb, cm);
		for (char **a = av[j]; *a; a++)
			printf(" %s", *a);
		if (failed[j])
			printf("   (%d runs exited non-zero)", failed[j]);
		printf("\n");
	}
	return 0;
}
