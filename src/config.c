/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: cvmm --kernel PATH [options]\n"
	"\n"
	"Boot a Linux guest (bzImage or ELF vmlinux, PVH entry if present) on KVM.\n"
	"\n"
	"  --kernel PATH              guest kernel: bzImage or ELF vmlinux\n"
	"  --initramfs PATH           initial ramdisk\n"
	"  --cmdline STR              kernel command line\n"
	"  --cpus boot=N              number of vCPUs (1-254, default 1)\n"
	"  --memory size=SIZE         guest RAM, K/M/G suffix (default 512M)\n"
	"  --serial tty|file=PATH|null|off\n"
	"                             COM1 8250 UART backend (default tty)\n"
	"  --log-level error|warn|info|debug  (default warn)\n"
	"  --debug-exit               a guest write of V to port 0xf4 exits with V\n"
	"  --help, --version\n"
	"\n"
	"With --serial tty on a terminal, type Ctrl-A x to quit, Ctrl-A Ctrl-A\n"
	"to send Ctrl-A to the guest.\n";

const char *config_usage(void)
{
	return usage_text;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int config_parse_size(const char *s, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return -EINVAL;
	}
	if (*end == 'i' || *end == 'B' || *end == 'b') {
		/* allow "512MiB" / "512MB" spellings */
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end != '\0')
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * Walks "k1=v1,k2=v2": for each pair calls `fn` with NUL-terminated copies.
 * A value may not contain ','.
 */
typedef int (*kv_fn)(struct vm_config *cfg, const char *opt, const char *key,
		     const char *val, char *err, size_t errlen);

static int parse_kv_list(struct vm_config *cfg, const char *opt,
			 const char *arg, kv_fn fn, char *err, size_t errlen)
{
	if (!*arg)
		return fail(err, errlen, "--%s: empty value", opt);
	const char *p = arg;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char item[4096];
		if (n == 0 || n >= sizeof(item))
			return fail(err, errlen, "--%s: malformed value '%s'", opt, arg);
		memcpy(item, p, n);
		item[n] = '\0';
		char *eq = strchr(item, '=');
		if (!eq || eq == item)
			return fail(err, errlen,
				    "--%s: expected key=value, got '%s'", opt, item);
		*eq = '\0';
		int ret = fn(cfg, opt, item, eq + 1, err, errlen);
		if (ret)
			return ret;
		p += n;
		if (*p == ',') {
			p++;
			if (!*p)
				return fail(err, errlen, "--%s: trailing ','", opt);
		}
	}
	return 0;
}

static int cpus_kv(struct vm_config *cfg, const char *opt, const char *key,
		   const char *val, char *err, size_t errlen)
{
	unsigned long n;
	if (strcmp(key, "boot") != 0)
		return fail(err, errlen, "--%s: unknown key '%s' (expected boot=N)", opt, key);
	if (parse_uint(val, CVMM_MAX_CPUS, &n) || n == 0)
		return fail(err, errlen, "--%s: boot=%s: expected 1-%d", opt, val,
			    CVMM_MAX_CPUS);
	cfg->cpus = (unsigned)n;
	return 0;
}

static int memory_kv(struct vm_config *cfg, const char *opt, const char *key,
		     const char *val, char *err, size_t errlen)
{
	uint64_t size;
	if (strcmp(key, "size") != 0)
		return fail(err, errlen, "--%s: unknown key '%s' (expected size=SIZE)", opt, key);
	if (config_parse_size(val, &size))
		return fail(err, errlen, "--%s: size=%s: not a size (e.g. 512M, 2G)", opt, val);
	if (size < CVMM_MIN_MEM || size > CVMM_MAX_MEM)
		return fail(err, errlen, "--%s: size=%s: must be between 16M and 1T", opt, val);
	if (size & 0xfff)
		return fail(err, errlen, "--%s: size=%s: must be a multiple of 4K", opt, val);
	cfg->mem_size = size;
	return 0;
}

static int parse_output(const char *opt, const char *arg, enum output_mode *mode,
			const char **path, char *err, size_t errlen)
{
	if (strcmp(arg, "tty") == 0) {
		*mode = OUTPUT_TTY;
	} else if (strcmp(arg, "null") == 0) {
		*mode = OUTPUT_NULL;
	} else if (strcmp(arg, "off") == 0) {
		*mode = OUTPUT_OFF;
	} else if (strncmp(arg, "file=", 5) == 0) {
		if (!arg[5])
			return fail(err, errlen, "--%s: file= needs a path", opt);
		*mode = OUTPUT_FILE;
		*path = arg + 5;
	} else {
		return fail(err, errlen,
			    "--%s: '%s': expected tty, file=PATH, null or off", opt, arg);
	}
	return 0;
}

enum opt_id {
	OPT_KERNEL = 1,
	OPT_INITRAMFS,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_SERIAL,
	OPT_LOG_LEVEL,
	OPT_DEBUG_EXIT,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initramfs", required_argument, NULL, OPT_INITRAMFS },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cmdline = "";
	cfg->cpus = 1;
	cfg->mem_size = 512ULL << 20;
	cfg->serial = OUTPUT_TTY;
	cfg->log_level = LOG_WARN;
}

int config_parse(struct vm_config *cfg, int argc, char *const argv[],
		 char *err, size_t errlen)
{
	config_defaults(cfg);
	/* getopt keeps its position in globals: start it afresh for each parse. */
	optind = 0;
	opterr = 0;
	int ret = 0;
	for (;;) {
		int longidx = -1;
		int c = getopt_long(argc, argv, "+h", long_opts, &longidx);
		if (c == -1)
			break;
		const char *name = longidx >= 0 ? long_opts[longidx].name : "";
		switch (c) {
		case OPT_KERNEL:
			if (!*optarg)
				return fail(err, errlen, "--kernel: empty path");
			cfg->kernel = optarg;
			break;
		case OPT_INITRAMFS:
			if (!*optarg)
				return fail(err, errlen, "--initramfs: empty path");
			cfg->initramfs = optarg;
			break;
		case OPT_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case OPT_CPUS:
			ret = parse_kv_list(cfg, name, optarg, cpus_kv, err, errlen);
			break;
		case OPT_MEMORY:
			ret = parse_kv_list(cfg, name, optarg, memory_kv, err, errlen);
			break;
		case OPT_SERIAL:
			ret = parse_output(name, optarg, &cfg->serial,
					   &cfg->serial_path, err, errlen);
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &cfg->log_level))
				return fail(err, errlen,
					    "--log-level: '%s': expected error, warn, info or debug",
					    optarg);
			break;
		case OPT_DEBUG_EXIT:
			cfg->debug_exit = true;
			break;
		case 'h':
		case OPT_HELP:
			cfg->show_help = true;
			break;
		case OPT_VERSION:
			cfg->show_version = true;
			break;
		case ':':
			return fail(err, errlen, "%s: missing value", argv[optind - 1]);
		default:
			if (optopt && optopt < OPT_KERNEL)
				return fail(err, errlen, "unknown option '-%c'", optopt);
			/* getopt_long sets optopt to the option's value when an
			 * argument is missing; unknown long options leave it 0. */
			if (optopt >= OPT_KERNEL)
				return fail(err, errlen, "--%s: missing value",
					    long_opts[optopt - OPT_KERNEL].name);
			return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
		if (ret)
			return ret;
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (cfg->show_help || cfg->show_version)
		return 0;
	if (!cfg->kernel)
		return fail(err, errlen, "--kernel: required (see --help)");
	if (strlen(cfg->cmdline) >= 65535)
		return fail(err, errlen, "--cmdline: longer than 65534 bytes");
	return 0;
}
