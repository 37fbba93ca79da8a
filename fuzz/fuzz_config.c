/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the command-line parser (src/config.c): config_parse() on an
 * argv made by splitting the input at NUL bytes (argv[0] is "cvmm", at most
 * 64 words), and config_parse_size() on the first word.
 *
 * Checked besides memory safety: an error is -EINVAL with a non-empty,
 * NUL-terminated message; an accepted configuration satisfies everything
 * config.h promises the builder (a kernel unless there is an API socket, 1-254 CPUs, a 4K-aligned RAM
 * size in [16M, 1T], at most 8 disks each with a path and a 1-20 byte id,
 * at most 4 nets with 1-15 byte tap names, ip and mask together, unicast
 * MACs, a cmdline under 64 KiB, not both serial and console on the tty);
 * a parsed size is what its digits and suffix say.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	return 0;
}

static void check_size(const char *s)
{
	uint64_t v;
	if (config_parse_size(s, &v))
		return;
	/* Digits, then at most one of K/M/G/T, then optional "i" and "B". */
	FUZZ_CHECK(s[0] >= '0' && s[0] <= '9');
	char *end;
	unsigned long long digits = strtoull(s, &end, 10);
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	}
	FUZZ_CHECK(shift == 0 || digits <= (UINT64_MAX >> shift));
	FUZZ_CHECK(v == (uint64_t)digits << shift);
}

static void check_config(const struct vm_config *c)
{
	FUZZ_CHECK(c->strings_used <= sizeof(c->strings));
	FUZZ_CHECK(c->log_level >= LOG_ERROR && c->log_level <= LOG_DEBUG);
	FUZZ_CHECK(c->ndisks <= CVMM_MAX_DISKS && c->nnets <= CVMM_MAX_NETS);
	if (c->show_help || c->show_version)
		return;
	/* No kernel only with the API socket (create-then-boot). */
	FUZZ_CHECK(c->kernel ? c->kernel[0] != 0 : c->api_socket != NULL);
	FUZZ_CHECK(c->cmdline && strlen(c->cmdline) < 65535);
	FUZZ_CHECK(c->cpus >= 1 && c->cpus <= CVMM_MAX_CPUS);
	FUZZ_CHECK(c->mem_size >= CVMM_MIN_MEM && c->mem_size <= CVMM_MAX_MEM);
	FUZZ_CHECK((c->mem_size & 0xfff) == 0);
	FUZZ_CHECK(!(c->serial == OUTPUT_TTY && c->console == OUTPUT_TTY));
	if (c->serial == OUTPUT_FILE)
		FUZZ_CHECK(c->serial_path && c->serial_path[0]);
	if (c->console == OUTPUT_FILE)
		FUZZ_CHECK(c->console_path && c->console_path[0]);
	if (c->initramfs)
		FUZZ_CHECK(c->initramfs[0]);
	if (c->api_socket)
		FUZZ_CHECK(c->api_socket[0] && strlen(c->api_socket) < 108);
	for (unsigned i = 0; i < c->ndisks; i++) {
		const struct disk_config *d = &c->disks[i];
		FUZZ_CHECK(d->path && d->path[0]);
		if (d->id)
			FUZZ_CHECK(d->id[0] && strlen(d->id) <= 20);
		for (unsigned j = i + 1; j < c->ndisks; j++)
			FUZZ_CHECK(strcmp(d->path, c->disks[j].path) != 0);
	}
	for (unsigned i = 0; i < c->nnets; i++) {
		const struct net_config *n = &c->nets[i];
		if (n->tap)
			FUZZ_CHECK(n->tap[0] && strlen(n->tap) < 16);
		FUZZ_CHECK(n->has_ip == n->has_mask);
		if (n->has_mac)
			FUZZ_CHECK(!(n->mac[0] & 1));
		if (n->has_mask) {
			uint32_t h = __builtin_bswap32(n->mask);
			FUZZ_CHECK((h & (~h >> 1)) == 0); /* contiguous */
		}
	}
	if (c->rng.src)
		FUZZ_CHECK(c->rng.enabled && c->rng.src[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A NUL-terminated copy: every word, the last included, ends. */
	char *buf = malloc(size + 1);
	FUZZ_CHECK(buf);
	memcpy(buf, data, size);
	buf[size] = '\0';

	char *argv[MAX_ARGS + 2];
	int argc = 0;
	argv[argc++] = (char *)"cvmm";
	for (size_t i = 0; i < size && argc <= MAX_ARGS; i += strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	argv[argc] = NULL;

	check_size(argc > 1 ? argv[1] : "");

	static struct vm_config cfg;
	char err[256];
	err[0] = 'x';
	int r = config_parse(&cfg, argc, argv, err, sizeof(err));
	if (r) {
		FUZZ_CHECK(r == -EINVAL);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
	} else {
		check_config(&cfg);
	}
	free(buf);
	return 0;
}
