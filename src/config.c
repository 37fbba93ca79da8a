/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfio/kernel.h"

static const char usage_text[] =
	"Usage: cvmm --kernel PATH [options]\n"
	"\n"
	"Boot a Linux guest (bzImage or ELF vmlinux, PVH entry if present) on KVM.\n"
	"\n"
	"  --kernel PATH              guest kernel: bzImage or ELF vmlinux\n"
	"  --initramfs PATH           initial ramdisk\n"
	"  --cmdline STR              kernel command line\n"
	"  --cpus boot=N[,max=M]      number of vCPUs (1-254, default 1); max:\n"
	"                             reported only (no CPU hotplug)\n"
	"  --memory size=SIZE[,shared=on|off][,hugepages=on|off]\n"
	"                             guest RAM, K/M/G suffix (default 512M);\n"
	"                             shared=on: a memory file that device\n"
	"                             servers (--user-device, --fs, vhost-user\n"
	"                             disks) may map;\n"
	"                             hugepages=on: backed by huge pages\n"
	"  --serial tty|file=PATH|null|off\n"
	"                             COM1 8250 UART backend (default tty)\n"
	"  --console tty|file=PATH|null|off\n"
	"                             virtio-console (hvc0) backend (default off)\n"
	"  --disk path=PATH[,readonly=on|off][,direct=on|off][,id=NAME][,num_queues=N][,queue_size=M][,engine=uring|sync][,fixed_buffers=on|off]\n"
	"                             virtio-blk disk (repeatable, up to 8);\n"
	"                             N request queues (1-8, default 1) of M\n"
	"                             entries (a power of two, 4-1024, default\n"
	"                             256); engine: io_uring (default when the\n"
	"                             kernel allows it) or synchronous I/O;\n"
	"                             fixed_buffers=on: io_uring with guest RAM\n"
	"                             registered (pinned) for direct=on\n"
	"  --disk vhost_user=on,socket=PATH[,num_queues=N][,queue_size=N][,id=NAME]\n"
	"                             a disk served by a vhost-user-blk backend\n"
	"                             (needs --memory shared=on)\n"
	"  --fs tag=TAG,socket=PATH[,num_queues=N][,queue_size=N][,id=NAME]\n"
	"                             virtio-fs served by a vhost-user backend\n"
	"                             (virtiofsd) at PATH (repeatable, up to 4;\n"
	"                             needs --memory shared=on)\n"
	"  --net [tap=NAME][,mac=MAC][,ip=IPv4,mask=MASK][,id=NAME]\n"
	"                             virtio-net on a tap (repeatable, up to 4);\n"
	"                             without tap= cvmm creates one; ip/mask\n"
	"                             configure and bring up the host side\n"
	"  --rng [src=PATH][,id=NAME]\n"
	"                             virtio-rng (default source: getrandom)\n"
	"  --device path=PATH[,id=NAME][,mmap=off]\n"
	"                             PCI passthrough (repeatable, up to 8) of a\n"
	"                             host device bound to vfio-pci, PATH its\n"
	"                             /sys/bus/pci/devices/DDDD:BB:DD.F;\n"
	"                             mmap=off traps every BAR access\n"
	"  --log-level error|warn|info|debug  (default warn); -v: one level\n"
	"                             more each (-v: info, -vv: debug)\n"
	"  --log-file PATH            append the log to PATH instead of stderr\n"
	"  --seccomp on|off           per-thread syscall filters (default on)\n"
	"  --platform pit=on|off      in-kernel i8254 PIT (default on); a guest\n"
	"                             with a TSC-deadline LAPIC timer and a known\n"
	"                             TSC frequency (Linux on KVM) does not need it\n"
	"  --virtio-transport pci|mmio[,cmdline=on|off]\n"
	"                             the virtio devices' transport (default pci);\n"
	"                             cmdline=on adds virtio_mmio.device= to the\n"
	"                             kernel command line (guests without ACPI)\n"
	"  --user-device socket=PATH[,id=NAME]\n"
	"                             a PCI device served by a vfio-user server\n"
	"                             listening at PATH (repeatable, up to 8);\n"
	"                             with --memory shared=on the server maps\n"
	"                             guest RAM, else it asks cvmm for each access\n"
	"  --vsock cid=N,socket=PATH[,id=NAME]\n"
	"                             virtio-vsock, guest CID N (>= 3); host\n"
	"                             processes connect to PATH and send\n"
	"                             \"CONNECT <port>\\n\"; a guest connection to\n"
	"                             host port P reaches the socket PATH_P\n"
	"  id=NAME: the device's id (vm.info, vm.remove-device); default\n"
	"                             _net0, _fs1, _vsock2, _rng3 and the like\n"
	"  --restore source_url=file:///DIR[,prefault=on][,resume=false]\n"
	"                             the VM of a snapshot (vm.snapshot) in DIR,\n"
	"                             running (resume=false: paused); prefault=on\n"
	"                             reads its RAM in at once, not page by page\n"
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

static int cpus_kv(struct vm_config *cfg, const char *opt, const char *key,
		   const char *val, char *err, size_t errlen)
{
	unsigned long n;
	if (strcmp(key, "boot") != 0 && strcmp(key, "max") != 0)
		return fail(err, errlen, "--%s: unknown key '%s' (expected boot=N, max=N)",
			    opt, key);
	if (parse_uint(val, CVMM_MAX_CPUS, &n) || n == 0)
		return fail(err, errlen, "--%s: %s=%s: expected 1-%d", opt, key, val,
			    CVMM_MAX_CPUS);
	if (key[0] == 'b')
		cfg->cpus = (unsigned)n;
	else
		cfg->max_vcpus = (unsigned)n;
	return 0;
}

static int parse_onoff(const char *opt, const char *key, const char *val,
		       bool *out, char *err, size_t errlen);

static int memory_kv(struct vm_config *cfg, const char *opt, const char *key,
		     const char *val, char *err, size_t errlen)
{
	uint64_t size;
	if (strcmp(key, "shared") == 0)
		return parse_onoff(opt, key, val, &cfg->mem_shared, err, errlen);
	if (strcmp(key, "hugepages") == 0)
		return parse_onoff(opt, key, val, &cfg->mem_hugepages, err, errlen);
	if (strcmp(key, "hotplug_size") == 0) {
		if (config_parse_size(val, &size) || size > CVMM_MAX_MEM)
			return fail(err, errlen, "--%s: hotplug_size=%s: expected a size up to 1T",
				    opt, val);
		cfg->mem_hotplug_size = size;
		return 0;
	}
	if (strcmp(key, "size") != 0)
		return fail(err, errlen,
			    "--%s: unknown key '%s' (expected size, shared, hugepages, hotplug_size)",
			    opt, key);
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

/* id=NAME of a net, fs, rng, vsock or passthrough device: 1 to CVMM_DEVICE_ID_MAX
 * characters, kept in cfg. */
static int id_kv(struct vm_config *cfg, const char *opt, const char *val, const char **out,
		 char *err, size_t errlen)
{
	if (!*val || strlen(val) > CVMM_DEVICE_ID_MAX)
		return fail(err, errlen, "--%s: id=%s: 1 to %d characters", opt, val,
			    CVMM_DEVICE_ID_MAX);
	if (!(*out = keep(cfg, val)))
		return fail(err, errlen, "--%s: option values too long", opt);
	return 0;
}

/* A vhost-user device's socket path (a UNIX socket address). */
static int socket_kv(const char *opt, const char *val, char *err, size_t errlen)
{
	if (!*val)
		return fail(err, errlen, "--%s: socket= is empty", opt);
	if (strlen(val) >= 108)
		return fail(err, errlen, "--%s: socket=%s: longer than 107 bytes", opt, val);
	return 0;
}

/* num_queues= (1..max) and queue_size= (a power of two, 2..1024). */
static int queues_kv(const char *opt, const char *key, const char *val, unsigned max,
		     unsigned *num_queues, unsigned *queue_size, char *err, size_t errlen)
{
	unsigned long n;
	if (strcmp(key, "num_queues") == 0) {
		if (parse_uint(val, max, &n) || n == 0)
			return fail(err, errlen, "--%s: num_queues=%s: expected 1-%u", opt, val, max);
		*num_queues = (unsigned)n;
		return 0;
	}
	if (parse_uint(val, CVMM_VHOST_MAX_QUEUE_SIZE, &n) || n < 2 || (n & (n - 1)))
		return fail(err, errlen, "--%s: queue_size=%s: expected a power of two, 2-%d",
			    opt, val, CVMM_VHOST_MAX_QUEUE_SIZE);
	*queue_size = (unsigned)n;
	return 0;
}

static int disk_kv(struct vm_config *cfg, const char *opt, const char *key,
		   const char *val, char *err, size_t errlen)
{
	struct disk_config *d = &cfg->disks[cfg->ndisks];
	if (strcmp(key, "vhost_user") == 0)
		return parse_onoff(opt, key, val, &d->vhost_user, err, errlen);
	if (strcmp(key, "socket") == 0) {
		int r = socket_kv(opt, val, err, errlen);
		if (!r && !(d->socket = keep(cfg, val)))
			r = fail(err, errlen, "--%s: option values too long", opt);
		return r;
	}
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
	} else if (strcmp(key, "num_queues") == 0) {
		unsigned long n;
		if (parse_uint(val, CVMM_MAX_DISK_QUEUES, &n) || n == 0)
			return fail(err, errlen, "--%s: num_queues=%s: expected 1-%d",
				    opt, val, CVMM_MAX_DISK_QUEUES);
		d->num_queues = (unsigned)n;
	} else if (strcmp(key, "queue_size") == 0) {
		unsigned long n;
		if (parse_uint(val, CVMM_MAX_DISK_QUEUE_SIZE, &n) ||
		    n < CVMM_MIN_DISK_QUEUE_SIZE || (n & (n - 1)))
			return fail(err, errlen,
				    "--%s: queue_size=%s: expected a power of two, %d-%d",
				    opt, val, CVMM_MIN_DISK_QUEUE_SIZE,
				    CVMM_MAX_DISK_QUEUE_SIZE);
		d->queue_size = (unsigned)n;
	} else if (strcmp(key, "fixed_buffers") == 0) {
		return parse_onoff(opt, key, val, &d->fixed_buffers, err, errlen);
	} else if (strcmp(key, "engine") == 0) {
		if (strcmp(val, "auto") == 0) /* vm.info's, given back */
			d->engine = DISK_ENGINE_AUTO;
		else if (strcmp(val, "uring") == 0)
			d->engine = DISK_ENGINE_URING;
		else if (strcmp(val, "sync") == 0)
			d->engine = DISK_ENGINE_SYNC;
		else
			return fail(err, errlen, "--%s: engine=%s: expected uring or sync",
				    opt, val);
	} else {
		return fail(err, errlen,
			    "--%s: unknown key '%s' (expected path, readonly, direct, id, "
			    "num_queues, queue_size, engine, fixed_buffers, vhost_user, socket)",
			    opt, key);
	}
	if ((strcmp(key, "path") == 0 && !d->path) || (strcmp(key, "id") == 0 && !d->id))
		return fail(err, errlen, "--%s: option values too long", opt);
	return 0;
}

static int device_kv(struct vm_config *cfg, const char *opt, const char *key,
		     const char *val, char *err, size_t errlen)
{
	struct device_config *d = &cfg->devices[cfg->ndevices];
	const char **slot;
	if (strcmp(key, "path") == 0) {
		if (!*val)
			return fail(err, errlen, "--%s: path= is empty", opt);
		slot = &d->path;
	} else if (strcmp(key, "id") == 0) {
		return id_kv(cfg, opt, val, &d->id, err, errlen);
	} else if (strcmp(key, "mmap") == 0) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return fail(err, errlen, "--%s: mmap=%s: on or off", opt, val);
		d->no_mmap = strcmp(val, "off") == 0;
		return 0;
	} else {
		return fail(err, errlen, "--%s: unknown key '%s' (expected path, id, mmap)", opt,
			    key);
	}
	*slot = keep(cfg, val);
	if (!*slot)
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
	} else if (strcmp(key, "id") == 0) {
		return id_kv(cfg, opt, val, &n->id, err, errlen);
	} else {
		return fail(err, errlen,
			    "--%s: unknown key '%s' (expected tap, mac, ip, mask, id)", opt, key);
	}
	return 0;
}

static int rng_kv(struct vm_config *cfg, const char *opt, const char *key,
		  const char *val, char *err, size_t errlen)
{
	if (strcmp(key, "id") == 0)
		return id_kv(cfg, opt, val, &cfg->rng.id, err, errlen);
	if (strcmp(key, "src") != 0)
		return fail(err, errlen, "--%s: unknown key '%s' (expected src=PATH, id)", opt, key);
	if (!*val)
		return fail(err, errlen, "--%s: src= is empty", opt);
	cfg->rng.src = keep(cfg, val);
	if (!cfg->rng.src)
		return fail(err, errlen, "--%s: option values too long", opt);
	return 0;
}

static int platform_kv(struct vm_config *cfg, const char *opt, const char *key,
		       const char *val, char *err, size_t errlen)
{
	if (strcmp(key, "pit") != 0)
		return fail(err, errlen, "--%s: unknown key '%s' (expected pit=on|off)", opt, key);
	return parse_onoff(opt, key, val, &cfg->pit, err, errlen);
}

static int transport_kv(struct vm_config *cfg, const char *opt, const char *key,
			const char *val, char *err, size_t errlen)
{
	if (strcmp(key, "type") == 0) {
		if (strcmp(val, "pci") == 0)
			cfg->virtio_mmio = false;
		else if (strcmp(val, "mmio") == 0)
			cfg->virtio_mmio = true;
		else
			return fail(err, errlen, "--%s: '%s': expected pci or mmio", opt, val);
		return 0;
	}
	if (strcmp(key, "cmdline") == 0)
		return parse_onoff(opt, key, val, &cfg->virtio_mmio_cmdline, err, errlen);
	return fail(err, errlen, "--%s: unknown key '%s' (expected pci|mmio, cmdline=on|off)",
		    opt, key);
}

static int user_device_kv(struct vm_config *cfg, const char *opt, const char *key,
			  const char *val, char *err, size_t errlen)
{
	struct user_device_config *u = &cfg->user_devices[cfg->nuser_devices];
	if (strcmp(key, "socket") == 0) {
		if (!*val)
			return fail(err, errlen, "--%s: socket= is empty", opt);
		if (strlen(val) >= 108)
			return fail(err, errlen, "--%s: socket=%s: longer than 107 bytes", opt, val);
		u->socket = keep(cfg, val);
		if (!u->socket)
			return fail(err, errlen, "--%s: option values too long", opt);
	} else if (strcmp(key, "id") == 0) {
		if (!*val || strlen(val) > 31)
			return fail(err, errlen, "--%s: id=%s: 1 to 31 characters", opt, val);
		u->id = keep(cfg, val);
		if (!u->id)
			return fail(err, errlen, "--%s: option values too long", opt);
	} else {
		return fail(err, errlen, "--%s: unknown key '%s' (expected socket, id)", opt, key);
	}
	return 0;
}

static int vsock_kv(struct vm_config *cfg, const char *opt, const char *key,
		    const char *val, char *err, size_t errlen)
{
	struct vsock_config *v = &cfg->vsock;
	if (strcmp(key, "cid") == 0) {
		unsigned long n;
		/* 0-2 are the hypervisor's, the local and the host's; -1 is ANY. */
		if (parse_uint(val, 0xfffffffeUL, &n) || n < 3)
			return fail(err, errlen, "--%s: cid=%s: expected 3-4294967294", opt, val);
		v->cid = (uint32_t)n;
	} else if (strcmp(key, "socket") == 0) {
		if (!*val)
			return fail(err, errlen, "--%s: socket= is empty", opt);
		if (strlen(val) > CVMM_VSOCK_PATH_MAX)
			return fail(err, errlen,
				    "--%s: socket=%s: longer than %d bytes (PATH_PORT must fit a UNIX socket address)",
				    opt, val, CVMM_VSOCK_PATH_MAX);
		v->socket = keep(cfg, val);
		if (!v->socket)
			return fail(err, errlen, "--%s: option values too long", opt);
	} else if (strcmp(key, "id") == 0) {
		return id_kv(cfg, opt, val, &v->id, err, errlen);
	} else {
		return fail(err, errlen, "--%s: unknown key '%s' (expected cid, socket, id)", opt,
			    key);
	}
	return 0;
}

static int fs_kv(struct vm_config *cfg, const char *opt, const char *key,
		 const char *val, char *err, size_t errlen)
{
	struct fs_config *f = &cfg->fs[cfg->nfs];
	if (strcmp(key, "tag") == 0) {
		if (!*val || strlen(val) > CVMM_FS_TAG_MAX)
			return fail(err, errlen, "--%s: tag=%s: 1 to %d bytes", opt, val,
				    CVMM_FS_TAG_MAX);
		if (!(f->tag = keep(cfg, val)))
			return fail(err, errlen, "--%s: option values too long", opt);
		return 0;
	}
	if (strcmp(key, "socket") == 0) {
		int r = socket_kv(opt, val, err, errlen);
		if (!r && !(f->socket = keep(cfg, val)))
			r = fail(err, errlen, "--%s: option values too long", opt);
		return r;
	}
	if (strcmp(key, "id") == 0)
		return id_kv(cfg, opt, val, &f->id, err, errlen);
	/* The hiprio queue comes on top of the request queues. */
	if (strcmp(key, "num_queues") == 0 || strcmp(key, "queue_size") == 0)
		return queues_kv(opt, key, val, CVMM_VHOST_MAX_QUEUES - 1, &f->num_queues,
				 &f->queue_size, err, errlen);
	return fail(err, errlen,
		    "--%s: unknown key '%s' (expected tag, socket, num_queues, queue_size, id)",
		    opt, key);
}

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
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "virtio-transport", required_argument, NULL, OPT_VIRTIO_TRANSPORT },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "user-device", required_argument, NULL, OPT_USER_DEVICE },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "fs", required_argument, NULL, OPT_FS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ NULL, 0, NULL, 0 },
};

/* The option's name without "--" ("" for a value that is not one). */
static const char *opt_name(enum config_opt opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == (int)opt)
			return o->name;
	return "";
}

/*
 * Walks "k1=v1,k2=v2": each pair goes to config_list_key() as
 * NUL-terminated copies. A value may not contain ','.
 */
static int parse_kv_list(struct vm_config *cfg, enum config_opt opt, const char *arg,
			 char *err, size_t errlen)
{
	const char *name = opt_name(opt);
	if (!*arg)
		return fail(err, errlen, "--%s: empty value", name);
	const char *p = arg;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char item[4096];
		if (n == 0 || n >= sizeof(item))
			return fail(err, errlen, "--%s: malformed value '%s'", name, arg);
		memcpy(item, p, n);
		item[n] = '\0';
		char *eq = strchr(item, '=');
		const char *key = item, *val = item;
		if (!eq && opt == OPT_VIRTIO_TRANSPORT) {
			key = "type"; /* "mmio" stands for type=mmio */
		} else if (!eq || eq == item) {
			return fail(err, errlen,
				    "--%s: expected key=value, got '%s'", name, item);
		} else {
			*eq = '\0';
			val = eq + 1;
		}
		int ret = config_list_key(cfg, opt, key, val, err, errlen);
		if (ret)
			return ret;
		p += n;
		if (*p == ',') {
			p++;
			if (!*p)
				return fail(err, errlen, "--%s: trailing ','", name);
		}
	}
	return 0;
}

void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cmdline = "";
	cfg->cpus = 1;
	cfg->mem_size = 512ULL << 20;
	cfg->serial = OUTPUT_TTY;
	cfg->log_level = LOG_WARN;
	cfg->console = OUTPUT_OFF;
	cfg->seccomp = true;
	cfg->pit = true;
}

int config_list_begin(struct vm_config *cfg, enum config_opt opt, char *err,
		      size_t errlen)
{
	switch (opt) {
	case OPT_CPUS:
	case OPT_MEMORY:
	case OPT_PLATFORM:
	case OPT_VIRTIO_TRANSPORT:
		return 0;
	case OPT_DISK:
		if (cfg->ndisks == CVMM_MAX_DISKS)
			return fail(err, errlen, "--disk: at most %d disks", CVMM_MAX_DISKS);
		return 0;
	case OPT_NET:
		if (cfg->nnets == CVMM_MAX_NETS)
			return fail(err, errlen, "--net: at most %d interfaces", CVMM_MAX_NETS);
		cfg->nets[cfg->nnets] = (struct net_config){ 0 };
		return 0;
	case OPT_DEVICE:
		if (cfg->ndevices == CVMM_MAX_DEVICES)
			return fail(err, errlen, "--device: at most %d devices", CVMM_MAX_DEVICES);
		cfg->devices[cfg->ndevices] = (struct device_config){ 0 };
		return 0;
	case OPT_RNG:
		cfg->rng.enabled = true;
		return 0;
	case OPT_USER_DEVICE:
		if (cfg->nuser_devices == CVMM_MAX_USER_DEVICES)
			return fail(err, errlen, "--user-device: at most %d devices",
				    CVMM_MAX_USER_DEVICES);
		cfg->user_devices[cfg->nuser_devices] = (struct user_device_config){ 0 };
		return 0;
	case OPT_VSOCK:
		if (cfg->vsock.enabled)
			return fail(err, errlen, "--vsock: given twice (one vsock device)");
		cfg->vsock = (struct vsock_config){ 0 };
		return 0;
	case OPT_FS:
		if (cfg->nfs == CVMM_MAX_FS)
			return fail(err, errlen, "--fs: at most %d devices", CVMM_MAX_FS);
		cfg->fs[cfg->nfs] = (struct fs_config){ 0 };
		return 0;
	default:
		return fail(err, errlen, "--%s: takes no key=value list", opt_name(opt));
	}
}

int config_list_key(struct vm_config *cfg, enum config_opt opt, const char *key,
		    const char *val, char *err, size_t errlen)
{
	const char *name = opt_name(opt);
	switch (opt) {
	case OPT_CPUS:
		return cpus_kv(cfg, name, key, val, err, errlen);
	case OPT_MEMORY:
		return memory_kv(cfg, name, key, val, err, errlen);
	case OPT_DISK:
		if (cfg->ndisks == CVMM_MAX_DISKS)
			return fail(err, errlen, "--disk: at most %d disks", CVMM_MAX_DISKS);
		return disk_kv(cfg, name, key, val, err, errlen);
	case OPT_NET:
		if (cfg->nnets == CVMM_MAX_NETS)
			return fail(err, errlen, "--net: at most %d interfaces", CVMM_MAX_NETS);
		return net_kv(cfg, name, key, val, err, errlen);
	case OPT_DEVICE:
		if (cfg->ndevices == CVMM_MAX_DEVICES)
			return fail(err, errlen, "--device: at most %d devices", CVMM_MAX_DEVICES);
		return device_kv(cfg, name, key, val, err, errlen);
	case OPT_RNG:
		return rng_kv(cfg, name, key, val, err, errlen);
	case OPT_PLATFORM:
		return platform_kv(cfg, name, key, val, err, errlen);
	case OPT_VIRTIO_TRANSPORT:
		return transport_kv(cfg, name, key, val, err, errlen);
	case OPT_USER_DEVICE:
		if (cfg->nuser_devices == CVMM_MAX_USER_DEVICES)
			return fail(err, errlen, "--user-device: at most %d devices",
				    CVMM_MAX_USER_DEVICES);
		return user_device_kv(cfg, name, key, val, err, errlen);
	case OPT_VSOCK:
		return vsock_kv(cfg, name, key, val, err, errlen);
	case OPT_FS:
		if (cfg->nfs == CVMM_MAX_FS)
			return fail(err, errlen, "--fs: at most %d devices", CVMM_MAX_FS);
		return fs_kv(cfg, name, key, val, err, errlen);
	default:
		return fail(err, errlen, "--%s: takes no key=value list", name);
	}
}

#define CVMM_MAX_IDS (CVMM_MAX_DISKS + CVMM_MAX_NETS + CVMM_MAX_FS + CVMM_MAX_DEVICES + \
		      CVMM_MAX_USER_DEVICES + 2)

/* Every id of cfg's devices, with its member and index (n of them, at most max). */
static unsigned all_ids(const struct vm_config *cfg, struct config_id *ids, unsigned max)
{
	unsigned n = 0;
#define ID(m, i, x)                                                            \
	do {                                                                   \
		if ((x) && n < max)                                            \
			ids[n++] = (struct config_id){ .id = (x), .member = (m), .idx = (i) }; \
	} while (0)
	for (unsigned i = 0; i < cfg->ndisks; i++)
		ID("disks", i, cfg->disks[i].id);
	for (unsigned i = 0; i < cfg->nnets; i++)
		ID("net", i, cfg->nets[i].id);
	for (unsigned i = 0; i < cfg->nfs; i++)
		ID("fs", i, cfg->fs[i].id);
	for (unsigned i = 0; i < cfg->ndevices; i++)
		ID("devices", i, cfg->devices[i].id);
	for (unsigned i = 0; i < cfg->nuser_devices; i++)
		ID("user_devices", i, cfg->user_devices[i].id);
	if (cfg->rng.enabled)
		ID("rng", 0, cfg->rng.id);
	if (cfg->vsock.enabled)
		ID("vsock", 0, cfg->vsock.id);
#undef ID
	return n;
}

int config_find_id(const struct vm_config *cfg, const char *id, struct config_id *where)
{
	struct config_id ids[CVMM_MAX_IDS];
	unsigned n = all_ids(cfg, ids, CVMM_MAX_IDS);
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(ids[i].id, id)) {
			if (where)
				*where = ids[i];
			return 0;
		}
	return -ENOENT;
}

/*
 * The id of a device given without one: prefix and the configuration's
 * next number, as cloud-hypervisor names devices ("_net0", "_fs1"), one
 * not in use. 0, or -ENOSPC when the strings are full.
 */
static int default_id(struct vm_config *cfg, const char *prefix, const char **id)
{
	if (*id)
		return 0;
	char name[24];
	do
		snprintf(name, sizeof(name), "%s%u", prefix, cfg->next_id++);
	while (config_find_id(cfg, name, NULL) == 0);
	*id = keep(cfg, name);
	return *id ? 0 : -ENOSPC;
}

/* Calls fn for every string pointer cfg keeps. */
static void each_string(struct vm_config *cfg, void (*fn)(struct vm_config *, const char **, void *),
			void *arg)
{
	const char **p[] = {
		&cfg->kernel, &cfg->initramfs, &cfg->cmdline, &cfg->serial_path,
		&cfg->console_path, &cfg->api_socket, &cfg->log_file, &cfg->restore_url,
		&cfg->rng.src, &cfg->rng.id, &cfg->vsock.socket, &cfg->vsock.id,
	};
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		fn(cfg, p[i], arg);
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		fn(cfg, &cfg->disks[i].path, arg);
		fn(cfg, &cfg->disks[i].id, arg);
		fn(cfg, &cfg->disks[i].socket, arg);
	}
	for (unsigned i = 0; i < cfg->nnets; i++) {
		fn(cfg, &cfg->nets[i].tap, arg);
		fn(cfg, &cfg->nets[i].id, arg);
	}
	for (unsigned i = 0; i < cfg->nfs; i++) {
		fn(cfg, &cfg->fs[i].tag, arg);
		fn(cfg, &cfg->fs[i].socket, arg);
		fn(cfg, &cfg->fs[i].id, arg);
	}
	for (unsigned i = 0; i < cfg->ndevices; i++) {
		fn(cfg, &cfg->devices[i].path, arg);
		fn(cfg, &cfg->devices[i].id, arg);
	}
	for (unsigned i = 0; i < cfg->nuser_devices; i++) {
		fn(cfg, &cfg->user_devices[i].socket, arg);
		fn(cfg, &cfg->user_devices[i].id, arg);
	}
}

struct compact {
	char buf[sizeof(((struct vm_config *)0)->strings)];
	size_t used;
};

/* A string in cfg->strings moves to the next place of the new store. */
static void compact_one(struct vm_config *cfg, const char **s, void *arg)
{
	struct compact *c = arg;
	uintptr_t p = (uintptr_t)*s, base = (uintptr_t)cfg->strings;
	if (!*s || p < base || p >= base + cfg->strings_used)
		return;
	size_t n = strnlen(*s, base + cfg->strings_used - p) + 1;
	memcpy(c->buf + c->used, *s, n);
	*s = cfg->strings + c->used;
	c->used += n;
}

void config_compact_strings(struct vm_config *cfg)
{
	struct compact *c = malloc(sizeof(*c));
	if (!c)
		return; /* the garbage stays until the next try */
	c->used = 0;
	each_string(cfg, compact_one, c);
	memcpy(cfg->strings, c->buf, c->used);
	memset(cfg->strings + c->used, 0, cfg->strings_used - c->used);
	cfg->strings_used = c->used;
	free(c);
}

int config_list_end(struct vm_config *cfg, enum config_opt opt, char *err,
		    size_t errlen)
{
	switch (opt) {
	case OPT_DISK: {
		const struct disk_config *d = &cfg->disks[cfg->ndisks];
		if (d->vhost_user) {
			if (!d->socket)
				return fail(err, errlen, "--disk: vhost_user=on needs socket=PATH");
			if (d->path || d->readonly || d->direct || d->engine != DISK_ENGINE_AUTO ||
			    d->fixed_buffers)
				return fail(err, errlen,
					    "--disk: vhost_user=on takes no path, readonly, direct, engine or fixed_buffers (the backend has the image)");
		} else {
			if (d->socket)
				return fail(err, errlen, "--disk: socket= needs vhost_user=on");
			if (d->fixed_buffers && d->engine == DISK_ENGINE_SYNC)
				return fail(err, errlen, "--disk: fixed_buffers=on needs the io_uring engine, not engine=sync");
			if (!d->path)
				return fail(err, errlen, "--disk: path= is required");
		}
		cfg->ndisks++;
		return 0;
	}
	case OPT_FS:
		if (!cfg->fs[cfg->nfs].tag)
			return fail(err, errlen, "--fs: tag= is required");
		if (!cfg->fs[cfg->nfs].socket)
			return fail(err, errlen, "--fs: socket= is required");
		if (default_id(cfg, "_fs", &cfg->fs[cfg->nfs].id))
			return fail(err, errlen, "--fs: option values too long");
		cfg->nfs++;
		return 0;
	case OPT_NET:
		if (cfg->nets[cfg->nnets].has_ip != cfg->nets[cfg->nnets].has_mask)
			return fail(err, errlen, "--net: ip= and mask= go together");
		if (default_id(cfg, "_net", &cfg->nets[cfg->nnets].id))
			return fail(err, errlen, "--net: option values too long");
		cfg->nnets++;
		return 0;
	case OPT_DEVICE:
		if (!cfg->devices[cfg->ndevices].path)
			return fail(err, errlen, "--device: path= is required");
		cfg->ndevices++;
		return 0;
	case OPT_USER_DEVICE:
		if (!cfg->user_devices[cfg->nuser_devices].socket)
			return fail(err, errlen, "--user-device: socket= is required");
		cfg->nuser_devices++;
		return 0;
	case OPT_VSOCK:
		if (!cfg->vsock.cid)
			return fail(err, errlen, "--vsock: cid= is required");
		if (!cfg->vsock.socket)
			return fail(err, errlen, "--vsock: socket= is required");
		if (default_id(cfg, "_vsock", &cfg->vsock.id))
			return fail(err, errlen, "--vsock: option values too long");
		cfg->vsock.enabled = true;
		return 0;
	case OPT_RNG:
		if (default_id(cfg, "_rng", &cfg->rng.id))
			return fail(err, errlen, "--rng: option values too long");
		return 0;
	case OPT_CPUS:
	case OPT_MEMORY:
	case OPT_PLATFORM:
	case OPT_VIRTIO_TRANSPORT:
		return 0;
	default:
		return fail(err, errlen, "--%s: takes no key=value list", opt_name(opt));
	}
}

/* A key=value-list option from its command-line value (NULL: none given). */
static int set_list(struct vm_config *cfg, enum config_opt opt, const char *arg,
		    char *err, size_t errlen)
{
	int ret = config_list_begin(cfg, opt, err, errlen);
	if (!ret && arg)
		ret = parse_kv_list(cfg, opt, arg, err, errlen);
	return ret ?: config_list_end(cfg, opt, err, errlen);
}

int config_set_output(struct vm_config *cfg, enum config_opt opt, const char *mode,
		      const char *path, char *err, size_t errlen)
{
	const char *name = opt_name(opt);
	enum output_mode m;
	if (opt != OPT_SERIAL && opt != OPT_CONSOLE)
		return fail(err, errlen, "--%s: not an output option", name);
	if (strcmp(mode, "tty") == 0) {
		m = OUTPUT_TTY;
	} else if (strcmp(mode, "null") == 0) {
		m = OUTPUT_NULL;
	} else if (strcmp(mode, "off") == 0) {
		m = OUTPUT_OFF;
	} else if (strcmp(mode, "file") == 0) {
		if (!path || !*path)
			return fail(err, errlen, "--%s: file= needs a path", name);
		m = OUTPUT_FILE;
	} else {
		return fail(err, errlen,
			    "--%s: '%s': expected tty, file=PATH, null or off", name, mode);
	}
	if (m != OUTPUT_FILE && path)
		return fail(err, errlen, "--%s: %s takes no file", name, mode);
	if (opt == OPT_SERIAL) {
		cfg->serial = m;
		cfg->serial_path = path;
	} else {
		cfg->console = m;
		cfg->console_path = path;
	}
	return 0;
}

/* "tty", "null", "off" or "file=PATH". */
static int parse_output(struct vm_config *cfg, enum config_opt opt, const char *arg,
			char *err, size_t errlen)
{
	if (strncmp(arg, "file=", 5) == 0)
		return config_set_output(cfg, opt, "file", arg + 5, err, errlen);
	return config_set_output(cfg, opt, arg, NULL, err, errlen);
}

/* --restore source_url=file:///DIR[,prefault=on|off][,resume=true|false]
 * (cloud-hypervisor's spelling; on/off and true/false both). */
static int restore_opt(struct vm_config *cfg, const char *arg, char *err, size_t errlen)
{
	char buf[4200];
	if (strlen(arg) >= sizeof(buf))
		return fail(err, errlen, "--restore: value too long");
	strcpy(buf, arg);
	cfg->restore_resume = true;
	cfg->restore_prefault = false;
	cfg->restore_url = NULL;
	char *save = NULL;
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return fail(err, errlen, "--restore: '%s': expected key=value", kv);
		*eq = 0;
		const char *v = eq + 1;
		bool on = !strcmp(v, "on") || !strcmp(v, "true");
		bool off = !strcmp(v, "off") || !strcmp(v, "false");
		if (!strcmp(kv, "source_url")) {
			if (strncmp(v, "file:///", 8))
				return fail(err, errlen,
					    "--restore: source_url=%s: expected file:///DIR", v);
			cfg->restore_url = keep(cfg, v);
			if (!cfg->restore_url)
				return fail(err, errlen, "--restore: option values too long");
		} else if (!strcmp(kv, "prefault") && (on || off)) {
			cfg->restore_prefault = on;
		} else if (!strcmp(kv, "resume") && (on || off)) {
			cfg->restore_resume = on;
		} else {
			return fail(err, errlen,
				    "--restore: '%s=%s': expected source_url=file:///DIR, prefault=on|off, resume=true|false",
				    kv, v);
		}
	}
	if (!cfg->restore_url)
		return fail(err, errlen, "--restore: source_url=file:///DIR is required");
	return 0;
}

int config_set(struct vm_config *cfg, enum config_opt opt, const char *arg,
	       char *err, size_t errlen)
{
	const char *name = opt_name(opt);
	bool takes_value = opt == OPT_KERNEL || opt == OPT_INITRAMFS || opt == OPT_CMDLINE ||
			   opt == OPT_CPUS || opt == OPT_MEMORY || opt == OPT_SERIAL ||
			   opt == OPT_LOG_LEVEL || opt == OPT_CONSOLE || opt == OPT_DISK ||
			   opt == OPT_SECCOMP || opt == OPT_API_SOCKET || opt == OPT_PLATFORM ||
			   opt == OPT_VIRTIO_TRANSPORT || opt == OPT_DEVICE ||
			   opt == OPT_USER_DEVICE || opt == OPT_VSOCK || opt == OPT_LOG_FILE ||
			   opt == OPT_FS || opt == OPT_RESTORE;
	if (takes_value && !arg)
		return fail(err, errlen, "--%s: missing value", name);
	switch (opt) {
	case OPT_KERNEL:
		if (!*arg)
			return fail(err, errlen, "--kernel: empty path");
		cfg->kernel = arg;
		return 0;
	case OPT_INITRAMFS:
		if (!*arg)
			return fail(err, errlen, "--initramfs: empty path");
		cfg->initramfs = arg;
		return 0;
	case OPT_CMDLINE:
		cfg->cmdline = arg;
		return 0;
	case OPT_CPUS:
	case OPT_MEMORY:
	case OPT_DISK:
	case OPT_NET:
	case OPT_RNG:
	case OPT_PLATFORM:
	case OPT_VIRTIO_TRANSPORT:
	case OPT_DEVICE:
	case OPT_USER_DEVICE:
	case OPT_VSOCK:
	case OPT_FS:
		return set_list(cfg, opt, arg, err, errlen);
	case OPT_SERIAL:
	case OPT_CONSOLE:
		return parse_output(cfg, opt, arg, err, errlen);
	case OPT_LOG_LEVEL:
		if (log_level_parse(arg, &cfg->log_level))
			return fail(err, errlen,
				    "--log-level: '%s': expected error, warn, info or debug", arg);
		return 0;
	case OPT_DEBUG_EXIT:
		cfg->debug_exit = true;
		return 0;
	case OPT_SECCOMP:
		return parse_onoff(name, "value", arg, &cfg->seccomp, err, errlen);
	case OPT_API_SOCKET:
		if (!*arg)
			return fail(err, errlen, "--api-socket: empty path");
		if (strlen(arg) >= 108)
			return fail(err, errlen, "--api-socket: path longer than 107 bytes");
		cfg->api_socket = arg;
		return 0;
	case OPT_LOG_FILE:
		if (!*arg)
			return fail(err, errlen, "--log-file: empty path");
		cfg->log_file = arg;
		return 0;
	case OPT_RESTORE:
		return restore_opt(cfg, arg, err, errlen);
	case OPT_VERBOSE:
		if (cfg->log_level < LOG_DEBUG)
			cfg->log_level++;
		return 0;
	case OPT_HELP:
		cfg->show_help = true;
		return 0;
	case OPT_VERSION:
		cfg->show_version = true;
		return 0;
	}
	return fail(err, errlen, "unknown option %d", (int)opt);
}

/* The vhost-user devices: distinct tags and sockets, shared guest RAM. */
static int check_vhost_user(const struct vm_config *cfg, char *err, size_t errlen)
{
	for (unsigned i = 0; i < cfg->nfs; i++) {
		const struct fs_config *a = &cfg->fs[i];
		for (unsigned j = i + 1; j < cfg->nfs; j++) {
			if (strcmp(a->tag, cfg->fs[j].tag) == 0)
				return fail(err, errlen, "--fs: tag %s given twice", a->tag);
			if (strcmp(a->socket, cfg->fs[j].socket) == 0)
				return fail(err, errlen, "--fs: socket %s given twice", a->socket);
		}
		for (unsigned j = 0; j < cfg->ndisks; j++)
			if (cfg->disks[j].socket && strcmp(a->socket, cfg->disks[j].socket) == 0)
				return fail(err, errlen, "--fs: socket %s is also a --disk's", a->socket);
		if (!cfg->mem_shared)
			return fail(err, errlen,
				    "--fs tag=%s: vhost-user devices need --memory shared=on (the backend maps guest RAM)",
				    a->tag);
	}
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if (cfg->disks[i].vhost_user && !cfg->mem_shared)
			return fail(err, errlen,
				    "--disk socket=%s: vhost-user devices need --memory shared=on (the backend maps guest RAM)",
				    cfg->disks[i].socket);
	return 0;
}

int config_check(const struct vm_config *cfg, char *err, size_t errlen)
{
	/* A restored VM's configuration is the snapshot's. */
	if (cfg->restore_url && (cfg->kernel || cfg->initramfs || cfg->ndisks || cfg->nnets ||
				 cfg->nfs || cfg->ndevices || cfg->nuser_devices ||
				 cfg->rng.enabled || cfg->vsock.enabled))
		return fail(err, errlen,
			    "--restore: the VM's configuration comes from the snapshot (no --kernel, --initramfs or device options with it)");
	if (cfg->restore_url)
		return 0;
	/* With the API, the configuration may come later (vm.create). */
	if (!cfg->kernel && !cfg->api_socket)
		return fail(err, errlen, "--kernel: required (see --help)");
	if (cfg->serial == OUTPUT_TTY && cfg->console == OUTPUT_TTY)
		return fail(err, errlen,
			    "--console tty: the tty already belongs to --serial (use --serial off or another backend)");
	for (unsigned i = 0; i < cfg->ndisks; i++)
		for (unsigned j = i + 1; j < cfg->ndisks; j++) {
			const struct disk_config *a = &cfg->disks[i], *b = &cfg->disks[j];
			if (a->path && b->path && strcmp(a->path, b->path) == 0)
				return fail(err, errlen, "--disk: %s given twice", a->path);
			if (a->socket && b->socket && strcmp(a->socket, b->socket) == 0)
				return fail(err, errlen, "--disk: socket %s given twice", a->socket);
		}
	int ret = check_vhost_user(cfg, err, errlen);
	if (ret)
		return ret;
	for (unsigned i = 0; i < cfg->nnets; i++)
		for (unsigned j = i + 1; j < cfg->nnets; j++)
			if (cfg->nets[i].tap && cfg->nets[j].tap &&
			    strcmp(cfg->nets[i].tap, cfg->nets[j].tap) == 0)
				return fail(err, errlen, "--net: tap %s given twice", cfg->nets[i].tap);
	for (unsigned i = 0; i < cfg->ndevices; i++) {
		for (unsigned j = i + 1; j < cfg->ndevices; j++) {
			const struct device_config *a = &cfg->devices[i], *b = &cfg->devices[j];
			if (strcmp(a->path, b->path) == 0)
				return fail(err, errlen, "--device: %s given twice", a->path);
			if (a->id && b->id && strcmp(a->id, b->id) == 0)
				return fail(err, errlen, "--device: id=%s given twice", a->id);
		}
	}
	for (unsigned i = 0; i < cfg->nuser_devices; i++) {
		const struct user_device_config *a = &cfg->user_devices[i];
		for (unsigned j = i + 1; j < cfg->nuser_devices; j++) {
			const struct user_device_config *b = &cfg->user_devices[j];
			if (strcmp(a->socket, b->socket) == 0)
				return fail(err, errlen, "--user-device: socket %s given twice",
					    a->socket);
			if (a->id && b->id && strcmp(a->id, b->id) == 0)
				return fail(err, errlen, "--user-device: id %s given twice", a->id);
		}
	}
	struct config_id ids[CVMM_MAX_IDS];
	unsigned nids = all_ids(cfg, ids, CVMM_MAX_IDS);
	for (unsigned i = 0; i < nids; i++)
		for (unsigned j = i + 1; j < nids; j++)
			if (!strcmp(ids[i].id, ids[j].id))
				return fail(err, errlen, "id %s: given to two devices", ids[i].id);
	if (strlen(cfg->cmdline) >= 65535)
		return fail(err, errlen, "--cmdline: longer than 65534 bytes");
	if (cfg->max_vcpus && cfg->max_vcpus < cfg->cpus)
		return fail(err, errlen, "--cpus: max=%u is below boot=%u", cfg->max_vcpus,
			    cfg->cpus);
	if (cfg->virtio_mmio_cmdline && !cfg->virtio_mmio)
		return fail(err, errlen,
			    "--virtio-transport: cmdline=on needs mmio (virtio-pci devices are found on the PCI bus)");
	return 0;
}

int config_parse(struct vm_config *cfg, int argc, char *const argv[],
		 char *err, size_t errlen)
{
	config_defaults(cfg);
	/* getopt keeps its position in globals: start it afresh for each parse. */
	optind = 0;
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, "+hv", long_opts, NULL);
		if (c == -1)
			break;
		if (c == 'h')
			c = OPT_HELP;
		if (c == 'v')
			c = OPT_VERBOSE;
		if (c == '?' || c == ':') {
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
		/* "--net tap=x" as well as "--net=tap=x": an optional value may
		 * follow as the next word when it does not look like an option. */
		if ((c == OPT_NET || c == OPT_RNG) && !optarg && optind < argc &&
		    argv[optind][0] != '-')
			optarg = argv[optind++];
		int ret = config_set(cfg, (enum config_opt)c, optarg, err, errlen);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (cfg->show_help || cfg->show_version)
		return 0;
	return config_check(cfg, err, errlen);
}

enum file_kind {
	FILE_REGULAR, /* kernel, initramfs */
	FILE_DISK,    /* a regular file or a block device */
	FILE_ANY,     /* anything but a directory */
};

/*
 * NULL, or why `path` cannot be used: opened as the VM build will (never
 * blocking: a FIFO without a writer or reader is not waited for), then
 * its type.
 */
static const char *file_problem(const char *path, int flags, enum file_kind kind)
{
	/*
	 * A FIFO is not opened here: an open and close would complete the
	 * other end's waiting open and then hand it EOF (a reader of the
	 * console's FIFO gets nothing) or EPIPE. Its permissions are checked;
	 * the VM build opens it for real.
	 */
	struct stat pst;
	if (stat(path, &pst) == 0 && S_ISFIFO(pst.st_mode)) {
		if (kind != FILE_ANY)
			return kind == FILE_REGULAR ? "not a regular file"
						    : "not a regular file or a block device";
		int mode = (flags & O_ACCMODE) == O_RDONLY ? R_OK
			 : (flags & O_ACCMODE) == O_WRONLY ? W_OK : R_OK | W_OK;
		return faccessat(AT_FDCWD, path, mode, AT_EACCESS) < 0 ? strerror(errno) : NULL;
	}
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (fd < 0) {
		/* Output to a FIFO nobody reads yet: the build waits for one. */
		if (errno == ENXIO && (flags & O_ACCMODE) == O_WRONLY)
			return NULL;
		return strerror(errno);
	}
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (kind == FILE_REGULAR && !S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (kind == FILE_DISK && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		why = "not a regular file or a block device";
	else if (kind == FILE_ANY && S_ISDIR(st.st_mode))
		why = strerror(EISDIR);
	close(fd);
	return why;
}

/* One file: cli_name is the option as typed before the path ("--disk
 * path="), field the vm.create field. */
static int check_file(const char *path, int flags, enum file_kind kind,
		      enum config_names names, const char *cli_name,
		      const char *field, char *err, size_t errlen)
{
	if (!path)
		return 0;
	const char *why = file_problem(path, flags, kind);
	if (!why)
		return 0;
	if (names == CONFIG_NAMES_CLI)
		return fail(err, errlen, "%s%s: %s", cli_name, path, why);
	return fail(err, errlen, "'%s': %s: %s", field, path, why);
}

/* The value of "Name:  N [kB]" in /proc/meminfo's text, or -1. */
static long long meminfo_value(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			char *end;
			errno = 0;
			long long v = strtoll(p + n + 1, &end, 10);
			return errno || end == p + n + 1 || v < 0 ? -1 : v;
		}
	}
	return -1;
}

int config_hugepages_fit(const char *meminfo, uint64_t size, char *why, size_t len)
{
	long long kb = meminfo_value(meminfo, "Hugepagesize");
	long long free_pages = meminfo_value(meminfo, "HugePages_Free");
	long long rsvd = meminfo_value(meminfo, "HugePages_Rsvd");
	if (kb <= 0 || free_pages < 0)
		return fail(why, len, "the host has no huge pages (no Hugepagesize in /proc/meminfo)");
	uint64_t page = (uint64_t)kb << 10;
	if (size % page)
		return fail(why, len, "size %llu MiB is not a multiple of the %lld kB huge page size",
			    (unsigned long long)(size >> 20), kb);
	long long avail = free_pages - (rsvd > 0 ? rsvd : 0);
	uint64_t need = size / page;
	if (avail < 0 || (uint64_t)avail < need)
		return fail(why, len,
			    "%llu huge pages of %lld kB needed, %lld free (HugePages_Free, HugePages_Rsvd in /proc/meminfo; more: /proc/sys/vm/nr_hugepages)",
			    (unsigned long long)need, kb, avail < 0 ? 0 : avail);
	return 0;
}

/* A user device's socket: there, a socket, and cvmm may connect to it
 * (write permission). Whether a server listens shows at the build. */
static int check_socket(const char *path, const char *cli_name, const char *field,
			enum config_names names, char *err, size_t errlen)
{
	struct stat st;
	const char *why = NULL;
	if (stat(path, &st) < 0)
		why = strerror(errno);
	else if (!S_ISSOCK(st.st_mode))
		why = "not a socket";
	else if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) < 0)
		why = strerror(errno);
	if (!why)
		return 0;
	if (names == CONFIG_NAMES_CLI)
		return fail(err, errlen, "%s%s: %s", cli_name, path, why);
	return fail(err, errlen, "'%s': %s: %s", field, path, why);
}

/*
 * The vsock socket: its folder must exist, and the path must be free or a
 * socket (a stale one is replaced at the build; a live one refused there).
 */
static int check_vsock(const struct vm_config *cfg, enum config_names names,
		       char *err, size_t errlen)
{
	if (!cfg->vsock.enabled)
		return 0;
	const char *path = cfg->vsock.socket;
	char dir[CVMM_VSOCK_PATH_MAX + 2];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	struct stat st;
	const char *why = NULL;
	if (stat(dir, &st) < 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = strerror(ENOTDIR);
	else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
		why = strerror(errno);
	else if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		why = "exists and is not a socket";
	if (!why)
		return 0;
	if (names == CONFIG_NAMES_CLI)
		return fail(err, errlen, "--vsock socket=%s: %s", path, why);
	return fail(err, errlen, "'vsock.socket': %s: %s", path, why);
}

/* --memory hugepages=on against the host's /proc/meminfo. */
static int check_hugepages(const struct vm_config *cfg, enum config_names names,
			   char *err, size_t errlen)
{
	if (!cfg->mem_hugepages)
		return 0;
	char text[8192], why[256];
	ssize_t n = -1;
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	text[n > 0 ? n : 0] = '\0';
	if (!config_hugepages_fit(text, cfg->mem_size, why, sizeof(why)))
		return 0;
	if (names == CONFIG_NAMES_CLI)
		return fail(err, errlen, "--memory hugepages=on: %s", why);
	return fail(err, errlen, "'memory.hugepages': %s", why);
}

int config_check_files(const struct vm_config *cfg, enum config_names names,
		       char *err, size_t errlen)
{
	const int out = O_WRONLY | O_CREAT | O_APPEND;
	int ret = check_file(cfg->kernel, O_RDONLY, FILE_REGULAR, names,
			     "--kernel ", "kernel", err, errlen);
	ret = ret ?: check_file(cfg->initramfs, O_RDONLY, FILE_REGULAR, names,
				"--initramfs ", "initramfs", err, errlen);
	for (unsigned i = 0; i < cfg->ndisks && !ret; i++) {
		const struct disk_config *d = &cfg->disks[i];
		char field[32];
		if (d->vhost_user) {
			snprintf(field, sizeof(field), "disks[%u].socket", i);
			ret = check_socket(d->socket, "--disk socket=", field, names, err, errlen);
			continue;
		}
		snprintf(field, sizeof(field), "disks[%u].path", i);
		ret = check_file(d->path, d->readonly ? O_RDONLY : O_RDWR, FILE_DISK,
				 names, "--disk path=", field, err, errlen);
	}
	for (unsigned i = 0; i < cfg->nfs && !ret; i++) {
		char field[32];
		snprintf(field, sizeof(field), "fs[%u].socket", i);
		ret = check_socket(cfg->fs[i].socket, "--fs socket=", field, names, err, errlen);
	}
	if (cfg->rng.enabled)
		ret = ret ?: check_file(cfg->rng.src, O_RDONLY, FILE_ANY, names,
					"--rng src=", "rng.src", err, errlen);
	if (cfg->serial == OUTPUT_FILE)
		ret = ret ?: check_file(cfg->serial_path, out, FILE_ANY, names,
					"--serial file=", "serial.file", err, errlen);
	if (cfg->console == OUTPUT_FILE)
		ret = ret ?: check_file(cfg->console_path, out, FILE_ANY, names,
					"--console file=", "console.file", err, errlen);
	for (unsigned i = 0; i < cfg->ndevices && !ret; i++) {
		struct vfio_sysfs_info info;
		char why[256];
		const char *path = cfg->devices[i].path;
		if (vfio_kernel_probe(path, &info, why, sizeof(why)) == 0)
			continue;
		if (names == CONFIG_NAMES_CLI)
			ret = fail(err, errlen, "--device path=%s: %s", path, why);
		else
			ret = fail(err, errlen, "'devices[%u].path': %s: %s", i, path, why);
	}
	for (unsigned i = 0; i < cfg->nuser_devices && !ret; i++) {
		char field[40];
		snprintf(field, sizeof(field), "user_devices[%u].socket", i);
		ret = check_socket(cfg->user_devices[i].socket, "--user-device socket=", field,
				   names, err, errlen);
	}
	ret = ret ?: check_vsock(cfg, names, err, errlen);
	return ret ?: check_hugepages(cfg, names, err, errlen);
}
