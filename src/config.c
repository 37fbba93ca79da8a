/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
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
	"  --console tty|file=PATH|null|off\n"
	"                             virtio-console (hvc0) backend (default off)\n"
	"  --disk path=PATH[,readonly=on|off][,direct=on|off][,id=NAME]\n"
	"                             virtio-blk disk (repeatable, up to 8)\n"
	"  --net [tap=NAME][,mac=MAC][,ip=IPv4,mask=MASK]\n"
	"                             virtio-net on a tap (repeatable, up to 4);\n"
	"                             without tap= cvmm creates one; ip/mask\n"
	"                             configure and bring up the host side\n"
	"  --rng [src=PATH]           virtio-rng (default source: getrandom)\n"
	"  --log-level error|warn|info|debug  (default warn)\n"
	"  --seccomp on|off           per-thread syscall filters (default on)\n"
	"  --api-socket PATH          HTTP/JSON control API on a UNIX socket;\n"
	"                             without --kernel, cvmm waits for the VM's\n"
	"                             configuration (vm.create) and vm.boot\n"
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

static int parse_onoff(const char *opt, const char *key, const char *val,
		       bool *out, char *err, size_t errlen)
{
	if (strcmp(val, "on") == 0 || strcmp(val, "true") == 0)
		*out = true;
	else if (strcmp(val, "off") == 0 || strcmp(val, "false") == 0)
		*out = false;
	else
		return fail(err, errlen, "--%s: %s=%s: expected on or off", opt, key, val);
	return 0;
}

/* Values of key=value lists are copied here so that they outlive parsing. */
static const char *keep(struct vm_config *cfg, const char *val)
{
	size_t n = strlen(val) + 1;
	if (cfg->strings_used + n > sizeof(cfg->strings))
		return NULL;
	char *p = cfg->strings + cfg->strings_used;
	memcpy(p, val, n);
	cfg->strings_used += n;
	return p;
}

static int disk_kv(struct vm_config *cfg, const char *opt, const char *key,
		   const char *val, char *err, size_t errlen)
{
	struct disk_config *d = &cfg->disks[cfg->ndisks];
	if (strcmp(key, "path") == 0) {
		if (!*val)
			return fail(err, errlen, "--%s: path= is empty", opt);
		d->path = keep(cfg, val);
	} else if (strcmp(key, "readonly") == 0) {
		return parse_onoff(opt, key, val, &d->readonly, err, errlen);
	} else if (strcmp(key, "direct") == 0) {
		return parse_onoff(opt, key, val, &d->direct, err, errlen);
	} else if (strcmp(key, "id") == 0) {
		if (!*val || strlen(val) > 20)
			return fail(err, errlen, "--%s: id=%s: 1 to 20 characters", opt, val);
		d->id = keep(cfg, val);
	} else {
		return fail(err, errlen,
			    "--%s: unknown key '%s' (expected path, readonly, direct, id)",
			    opt, key);
	}
	if ((strcmp(key, "path") == 0 && !d->path) || (strcmp(key, "id") == 0 && !d->id))
		return fail(err, errlen, "--%s: option values too long", opt);
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &tail) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	/* A multicast address cannot be a NIC's. */
	if (mac[0] & 1)
		return -EINVAL;
	return 0;
}

static int parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

static int net_kv(struct vm_config *cfg, const char *opt, const char *key,
		  const char *val, char *err, size_t errlen)
{
	struct net_config *n = &cfg->nets[cfg->nnets];
	if (strcmp(key, "tap") == 0) {
		if (!*val || strlen(val) >= 16)
			return fail(err, errlen, "--%s: tap=%s: 1 to 15 characters", opt, val);
		n->tap = keep(cfg, val);
		if (!n->tap)
			return fail(err, errlen, "--%s: option values too long", opt);
	} else if (strcmp(key, "mac") == 0) {
		if (parse_mac(val, n->mac))
			return fail(err, errlen,
				    "--%s: mac=%s: expected a unicast xx:xx:xx:xx:xx:xx", opt, val);
		n->has_mac = true;
	} else if (strcmp(key, "ip") == 0) {
		if (parse_ipv4(val, &n->ip))
			return fail(err, errlen, "--%s: ip=%s: not an IPv4 address", opt, val);
		n->has_ip = true;
	} else if (strcmp(key, "mask") == 0) {
		uint32_t m;
		if (parse_ipv4(val, &m))
			return fail(err, errlen, "--%s: mask=%s: not an IPv4 netmask", opt, val);
		uint32_t h = ntohl(m);
		if (h & (~h >> 1))
			return fail(err, errlen, "--%s: mask=%s: not a contiguous netmask", opt, val);
		n->mask = m;
		n->has_mask = true;
	} else {
		return fail(err, errlen,
			    "--%s: unknown key '%s' (expected tap, mac, ip, mask)", opt, key);
	}
	return 0;
}

static int rng_kv(struct vm_config *cfg, const char *opt, const char *key,
		  const char *val, char *err, size_t errlen)
{
	if (strcmp(key, "src") != 0)
		return fail(err, errlen, "--%s: unknown key '%s' (expected src=PATH)", opt, key);
	if (!*val)
		return fail(err, errlen, "--%s: src= is empty", opt);
	cfg->rng.src = keep(cfg, val);
	if (!cfg->rng.src)
		return fail(err, errlen, "--%s: option values too long", opt);
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
	OPT_CONSOLE,
	OPT_DISK,
	OPT_NET,
	OPT_RNG,
	OPT_DEBUG_EXIT,
	OPT_SECCOMP,
	OPT_API_SOCKET,
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
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", optional_argument, NULL, OPT_NET },
	{ "rng", optional_argument, NULL, OPT_RNG },
	{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "api-socket", required_argument, NULL, OPT_API_SOCKET },
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
	cfg->console = OUTPUT_OFF;
	cfg->seccomp = true;
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
		/* "--net tap=x" as well as "--net=tap=x": an optional value may
		 * follow as the next word when it does not look like an option. */
		if ((c == OPT_NET || c == OPT_RNG) && !optarg && optind < argc &&
		    argv[optind][0] != '-')
			optarg = argv[optind++];
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
		case OPT_CONSOLE:
			ret = parse_output(name, optarg, &cfg->console,
					   &cfg->console_path, err, errlen);
			break;
		case OPT_DISK:
			if (cfg->ndisks == CVMM_MAX_DISKS)
				return fail(err, errlen, "--disk: at most %d disks", CVMM_MAX_DISKS);
			ret = parse_kv_list(cfg, name, optarg, disk_kv, err, errlen);
			if (!ret && !cfg->disks[cfg->ndisks].path)
				return fail(err, errlen, "--disk: path= is required");
			cfg->ndisks++;
			break;
		case OPT_NET:
			if (cfg->nnets == CVMM_MAX_NETS)
				return fail(err, errlen, "--net: at most %d interfaces", CVMM_MAX_NETS);
			if (optarg)
				ret = parse_kv_list(cfg, name, optarg, net_kv, err, errlen);
			if (!ret && cfg->nets[cfg->nnets].has_ip != cfg->nets[cfg->nnets].has_mask)
				return fail(err, errlen, "--net: ip= and mask= go together");
			cfg->nnets++;
			break;
		case OPT_RNG:
			cfg->rng.enabled = true;
			if (optarg)
				ret = parse_kv_list(cfg, name, optarg, rng_kv, err, errlen);
			break;
		case OPT_DEBUG_EXIT:
			cfg->debug_exit = true;
			break;
		case OPT_SECCOMP:
			ret = parse_onoff(name, "value", optarg, &cfg->seccomp, err, errlen);
			break;
		case OPT_API_SOCKET:
			if (!*optarg)
				return fail(err, errlen, "--api-socket: empty path");
			if (strlen(optarg) >= 108)
				return fail(err, errlen, "--api-socket: path longer than 107 bytes");
			cfg->api_socket = optarg;
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
			/* getopt_long sets optopt to the option's value when an
			 * argument is missing, to the character for an unknown
			 * short option, and to 0 for an unknown long option. */
			for (const struct option *o = long_opts; o->name; o++)
				if (optopt == o->val)
					return fail(err, errlen, "--%s: missing value", o->name);
			if (optopt > 0)
				return fail(err, errlen, "unknown option '-%c'", optopt);
			return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
		if (ret)
			return ret;
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (cfg->show_help || cfg->show_version)
		return 0;
	/* With the API, the configuration may come later (vm.create). */
	if (!cfg->kernel && !cfg->api_socket)
		return fail(err, errlen, "--kernel: required (see --help)");
	if (cfg->serial == OUTPUT_TTY && cfg->console == OUTPUT_TTY)
		return fail(err, errlen,
			    "--console tty: the tty already belongs to --serial (use --serial off or another backend)");
	for (unsigned i = 0; i < cfg->ndisks; i++)
		for (unsigned j = i + 1; j < cfg->ndisks; j++)
			if (strcmp(cfg->disks[i].path, cfg->disks[j].path) == 0)
				return fail(err, errlen, "--disk: %s given twice", cfg->disks[i].path);
	for (unsigned i = 0; i < cfg->nnets; i++)
		for (unsigned j = i + 1; j < cfg->nnets; j++)
			if (cfg->nets[i].tap && cfg->nets[j].tap &&
			    strcmp(cfg->nets[i].tap, cfg->nets[j].tap) == 0)
				return fail(err, errlen, "--net: tap %s given twice", cfg->nets[i].tap);
	if (strlen(cfg->cmdline) >= 65535)
		return fail(err, errlen, "--cmdline: longer than 65534 bytes");
	return 0;
}
