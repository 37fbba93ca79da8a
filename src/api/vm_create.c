/* SPDX-License-Identifier: MIT */
/* vm.create bodies as configurations; see vm_create.h. */
#include "api/vm_create.h"
#include "net/tap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static int failf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * A copy of s that lives as long as the configuration (the body is freed
 * after parsing; the configuration keeps paths by pointer).
 */
static int hold(struct vm_create_config *c, const char *s, const char **out,
		char *err, size_t errlen)
{
	size_t n = strlen(s) + 1;
	if (n > sizeof(c->arena) - c->used)
		return failf(err, errlen, "vm.create: the configuration is too large");
	char *p = c->arena + c->used;
	memcpy(p, s, n);
	c->used += n;
	*out = p;
	return 0;
}

/* An integral JSON number as text; false when it is not one. */
static bool number_text(const cJSON *n, char *buf, size_t len)
{
	double v = n->valuedouble;
	if (!cJSON_IsNumber(n) || v < 0 || v > 1e19 || (double)(uint64_t)v != v)
		return false;
	snprintf(buf, len, "%.0f", v);
	return true;
}

/*
 * cloud-hypervisor's VmConfig, section by section: keys with another name
 * in cvmm's options, and keys cvmm has no counterpart for, which are taken
 * at their default (what cloud-hypervisor's generated clients always send,
 * e.g. Kata's) and refused with a message naming them otherwise. Every
 * other key goes to the option's own parser (config.c), which refuses the
 * ones it does not know. When cvmm comes to implement a key, its row here
 * goes and config.c takes it.
 */
struct ch_key {
	const char *key;
	const char *as;   /* cvmm's key; NULL: not implemented, see dflt */
	const char *dflt; /* printed JSON the value may be; '|' between choices */
	const char *why;  /* what cvmm does instead (the refusal's end) */
};

struct ch_section {
	const struct ch_key *keys;
};

#define ONLY(k, d) { k, NULL, d, NULL }

static const struct ch_key cpus_keys[] = {
	{ "boot_vcpus", "boot", NULL, NULL },
	{ "max_vcpus", "max", NULL, NULL },
	ONLY("kvm_hyperv", "false"), ONLY("nested", "true"), ONLY("max_phys_bits", "46"),
	ONLY("affinity", "[]"), ONLY("features", "{}|{\"amx\":false}"),
	ONLY("core_scheduling", "\"Vm\""),
	{ NULL, NULL, NULL, NULL },
};
static const struct ch_key memory_keys[] = {
	ONLY("hotplugged_size", "0"), ONLY("mergeable", "false"),
	ONLY("hotplug_method", "\"Acpi\""), ONLY("prefault", "false"), ONLY("reserve", "false"),
	ONLY("thp", "true"), ONLY("zones", "[]"),
	{ "hugepage_size", NULL, "", "huge pages of the host's default size only" },
	{ NULL, NULL, NULL, NULL },
};
static const struct ch_key disk_keys[] = {
	ONLY("iommu", "false"),
	{ "vhost_user", "vhost_user", NULL, NULL }, { "vhost_socket", "socket", NULL, NULL },
	ONLY("rate_limit_group", ""),
	ONLY("queue_affinity", "[]"), ONLY("backing_files", "false"), ONLY("sparse", "true"),
	ONLY("pci_segment", "0"), ONLY("lock_granularity", "\"ByteRange\""),
	{ "image_type", NULL, "\"Raw\"", "cvmm reads raw images only" },
	{ "rate_limiter_config", NULL, "", "cvmm has no I/O rate limits" },
	{ "pci_device_id", NULL, "", "cvmm places devices on bus 0 itself" },
	{ NULL, NULL, NULL, NULL },
};
static const struct ch_key net_keys[] = {
	ONLY("iommu", "false"), ONLY("num_queues", "2"), ONLY("queue_size", "256"),
	ONLY("vhost_user", "false"), ONLY("vhost_mode", "\"Client\""), ONLY("pci_segment", "0"),
	/* cvmm turns the tap's offloads off; the guest copes either way */
	ONLY("offload_tso", "true|false"), ONLY("offload_ufo", "true|false"),
	ONLY("offload_csum", "true|false"),
	{ "host_mac", NULL, "", "the tap keeps its own MAC" },
	{ "mtu", NULL, "", "the MTU is the tap's" },
	{ "rate_limiter_config", NULL, "", "cvmm has no I/O rate limits" },
	{ "vhost_socket", NULL, "", "cvmm has no vhost-user net" },
	{ "pci_device_id", NULL, "", "cvmm places devices on bus 0 itself" },
	{ NULL, NULL, NULL, NULL },
};
static const struct ch_key dev_keys[] = { /* rng, vsock, devices, user_devices */
	ONLY("iommu", "false"), ONLY("pci_segment", "0"),
	ONLY("x_nv_gpudirect_clique", ""),
	{ "pci_device_id", NULL, "", "cvmm places devices on bus 0 itself" },
	{ NULL, NULL, NULL, NULL },
};
static const struct ch_key platform_keys[] = {
	ONLY("num_pci_segments", "1"), ONLY("iommu_segments", "[]"),
	ONLY("iommu_address_width_bits", ""), ONLY("tdx", "false"), ONLY("sev_snp", "false"),
	ONLY("iommufd", "false"), ONLY("vfio_p2p_dma", "true"),
	ONLY("serial_number", ""), ONLY("system_serial_number", ""), ONLY("uuid", ""),
	ONLY("system_uuid", ""), ONLY("oem_strings", "[]"), ONLY("system_manufacturer", ""),
	ONLY("system_product_name", ""), ONLY("system_version", ""), ONLY("system_family", ""),
	ONLY("system_sku_number", ""), ONLY("chassis_asset_tag", ""),
	{ NULL, NULL, NULL, NULL },
};
/* VmConfig's own members cvmm has no counterpart for. */
static const struct ch_key top_keys[] = {
	ONLY("iommu", "false"), ONLY("watchdog", "false"), ONLY("pvpanic", "false"),
	ONLY("landlock_enable", "false"), ONLY("landlock_rules", "[]"),
	ONLY("rate_limit_groups", "[]"), ONLY("pci_segments", "[]"), ONLY("numa", "[]"),
	ONLY("sgx_epc", "[]"), ONLY("rtc", ""), ONLY("debug_console", "{\"mode\":\"Off\"}"),
	{ "balloon", NULL, "", "cvmm has no virtio-balloon" },
	{ "pmem", NULL, "[]", "cvmm has no virtio-pmem (give the image as a disk)" },
	{ "vdpa", NULL, "[]", "cvmm has no vDPA devices" },
	{ "generic_vhost_user", NULL, "[]", "cvmm has no vhost-user devices" },
	{ "tpm", NULL, "", "cvmm has no TPM" },
	{ NULL, NULL, NULL, NULL },
};
/* serial, console */
static const struct ch_key output_keys[] = {
	ONLY("iommu", "false"), ONLY("pci_segment", "0"), ONLY("id", ""),
	{ "socket", NULL, "", "cvmm has no socket backend" },
	{ "iobase", NULL, "", "the UART is at its usual port" },
	{ NULL, NULL, NULL, NULL },
};

static const struct ch_key *ch_find(const struct ch_key *keys, const char *name)
{
	for (; keys && keys->key; keys++)
		if (!strcmp(keys->key, name))
			return keys;
	return NULL;
}

/* Whether v, printed, is one of the '|'-separated choices in dflt ("" only
 * null, which is always fine: a client that sends null means "absent"). */
static bool is_default(const cJSON *v, const char *dflt)
{
	if (cJSON_IsNull(v))
		return true;
	char *t = cJSON_PrintUnformatted(v);
	bool ok = false;
	for (const char *p = dflt; t && *p && !ok; ) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		ok = strlen(t) == n && !strncmp(t, p, n);
		p += n + (bar ? 1 : 0);
	}
	free(t);
	return ok;
}

/*
 * A key cvmm does not implement: 0 when at its default, else the refusal
 * naming it ('field.key': value: why).
 */
static int ch_default(const struct ch_key *k, const char *field, const cJSON *v,
		      char *err, size_t errlen)
{
	if (is_default(v, k->dflt))
		return 0;
	char *t = cJSON_PrintUnformatted(v);
	char only[96] = "";
	if (!k->why)
		snprintf(only, sizeof(only), "only %s", *k->dflt ? k->dflt : "null");
	int r = failf(err, errlen, "vm.create: '%s%s%s': %.64s%s: not supported by cvmm (%s)",
		      field ? field : "", field ? "." : "", k->key, t ? t : "?",
		      t && strlen(t) > 64 ? "..." : "", k->why ? k->why : only);
	free(t);
	return r;
}

/* kernel, initramfs, cmdline: a string, taken as it is. */
static int string_value(struct vm_create_config *c, enum config_opt opt,
			const char *field, const cJSON *v, char *err, size_t errlen)
{
	const char *s = NULL;
	if (!cJSON_IsString(v))
		return failf(err, errlen, "vm.create: '%s': expected a string", field);
	return hold(c, v->valuestring, &s, err, errlen) ?:
	       config_set(&c->cfg, opt, s, err, errlen);
}

/* A key=value-list option with a single key. */
static int one_key(struct vm_config *cfg, enum config_opt opt, const char *key,
		   const char *val, char *err, size_t errlen)
{
	return config_list_begin(cfg, opt, err, errlen) ?:
	       config_list_key(cfg, opt, key, val, err, errlen) ?:
	       config_list_end(cfg, opt, err, errlen);
}

/* o's member `key` is absent, null or the string `def`. */
static bool is_default_or_absent(const cJSON *o, const char *key, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && !strcmp(v->valuestring, def));
}

/*
 * {"k": v, ...}: key by key (true/false: on/off, numbers as integers),
 * cloud-hypervisor's names through `keys` (NULL: none); null is absent.
 */
static int object_list(struct vm_config *cfg, enum config_opt opt, const char *field,
		       const struct ch_key *keys, const cJSON *o, char *err, size_t errlen)
{
	int r = config_list_begin(cfg, opt, err, errlen);
	const cJSON *it;
	bool net_defaults = opt == OPT_NET && is_default_or_absent(o, "ip", "192.168.249.1") &&
			    is_default_or_absent(o, "mask", "255.255.255.0");
	cJSON_ArrayForEach(it, o) {
		if (r)
			return r;
		char num[32];
		const char *v;
		const char *key = it->string ? it->string : "";
		const struct ch_key *k = ch_find(keys, key);
		if (cJSON_IsNull(it))
			continue;
		if (k && !k->as) {
			r = ch_default(k, field, it, err, errlen);
			continue;
		}
		if (k)
			key = k->as;
		/* Kata's client always sends cloud-hypervisor's defaults for
		 * the tap's address: as good as none (the tap is given). A
		 * mask of 255.255.255.0 with another address is that
		 * address's (vm.info's config of --net ip=,mask=). */
		if (opt == OPT_NET && net_defaults &&
		    (!strcmp(key, "ip") || !strcmp(key, "mask")))
			continue;
		if (cJSON_IsString(it))
			v = it->valuestring;
		else if (cJSON_IsBool(it))
			v = cJSON_IsTrue(it) ? "on" : "off";
		else if (number_text(it, num, sizeof(num)))
			v = num;
		else
			return failf(err, errlen,
				     "vm.create: '%s.%s': expected a string, a boolean or a whole number",
				     field, it->string ? it->string : "?");
		r = config_list_key(cfg, opt, key, v, err, errlen);
	}
	return r ?: config_list_end(cfg, opt, err, errlen);
}

/*
 * A value that is a key=value list on the command line: a string (the
 * list as the command line has it, or, when `key` is given and there is no
 * '=', that key's value), a whole number (`key`'s value) or an object.
 */
static int list_value(struct vm_config *cfg, enum config_opt opt, const char *field,
		      const char *key, const struct ch_key *keys, const cJSON *v,
		      char *err, size_t errlen)
{
	char num[32];
	if (cJSON_IsString(v)) {
		if (key && !strchr(v->valuestring, '='))
			return one_key(cfg, opt, key, v->valuestring, err, errlen);
		return config_set(cfg, opt, v->valuestring, err, errlen);
	}
	if (key && number_text(v, num, sizeof(num)))
		return one_key(cfg, opt, key, num, err, errlen);
	if (cJSON_IsObject(v))
		return object_list(cfg, opt, field, keys, v, err, errlen);
	return failf(err, errlen, "vm.create: '%s': expected %s", field,
		     key ? "a string, a whole number or an object"
			 : "a string or an object");
}

/*
 * serial/console: "tty" | "file=PATH" | ... | {"mode": M, "file": PATH},
 * M cvmm's name or cloud-hypervisor's (Off, Tty, File, Null; Pty and
 * Socket are refused).
 */
static int output_value(struct vm_create_config *c, enum config_opt opt,
			const char *field, const cJSON *v, char *err, size_t errlen)
{
	static const char *const names[][2] = {
		{ "Off", "off" }, { "Tty", "tty" }, { "File", "file" }, { "Null", "null" },
	};
	const char *s = NULL;
	if (cJSON_IsString(v))
		return hold(c, v->valuestring, &s, err, errlen) ?:
		       config_set(&c->cfg, opt, s, err, errlen);
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(v, "mode");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(v, "file");
	if (cJSON_IsNull(file))
		file = NULL;
	if (!cJSON_IsObject(v) || !cJSON_IsString(mode) || (file && !cJSON_IsString(file)))
		return failf(err, errlen,
			     "vm.create: '%s': expected \"tty\", \"file=PATH\", \"null\", \"off\" or {\"mode\": ..., \"file\": ...}",
			     field);
	const cJSON *it;
	cJSON_ArrayForEach(it, v) {
		const struct ch_key *k = ch_find(output_keys, it->string);
		if (!strcmp(it->string, "mode") || !strcmp(it->string, "file"))
			continue;
		if (!k)
			return failf(err, errlen, "vm.create: '%s.%s': unknown key (expected mode, file)",
				     field, it->string);
		if (ch_default(k, field, it, err, errlen))
			return -EINVAL;
	}
	const char *m = mode->valuestring;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(m, names[i][0]))
			m = names[i][1];
	if (!strcmp(m, "Pty") || !strcmp(m, "Socket"))
		return failf(err, errlen,
			     "vm.create: '%s.mode': %s: not supported by cvmm (Off, Tty, File or Null)",
			     field, m);
	if (file && hold(c, file->valuestring, &s, err, errlen))
		return -EINVAL;
	return config_set_output(&c->cfg, opt, m, s, err, errlen);
}

static int array_value(struct vm_config *cfg, enum config_opt opt, const char *field,
		       const struct ch_key *keys, const cJSON *v, char *err, size_t errlen)
{
	if (!cJSON_IsArray(v))
		return failf(err, errlen, "vm.create: '%s': expected an array", field);
	const cJSON *it;
	unsigned i = 0;
	cJSON_ArrayForEach(it, v) {
		char name[48];
		snprintf(name, sizeof(name), "%s[%u]", field, i++);
		int r = list_value(cfg, opt, keys ? name : field, NULL, keys, it, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

/* payload: {kernel, cmdline, initramfs} (cloud-hypervisor's VmConfig). */
static int payload_value(struct vm_create_config *c, const cJSON *v, char *err,
			 size_t errlen)
{
	if (!cJSON_IsObject(v))
		return failf(err, errlen, "vm.create: 'payload': expected an object");
	const cJSON *it;
	cJSON_ArrayForEach(it, v) {
		const char *k = it->string;
		enum config_opt opt = !strcmp(k, "kernel") ? OPT_KERNEL :
				      !strcmp(k, "cmdline") ? OPT_CMDLINE :
				      !strcmp(k, "initramfs") ? OPT_INITRAMFS : 0;
		char name[48];
		snprintf(name, sizeof(name), "payload.%s", k);
		if (cJSON_IsNull(it))
			continue;
		if (!opt)
			return failf(err, errlen,
				     "vm.create: '%s': not supported by cvmm (it boots payload.kernel)",
				     name);
		int r = string_value(c, opt, name, it, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

/*
 * cpus.topology: cvmm presents one package of single-threaded cores, as
 * many as max_vcpus (checked once the whole body is read).
 */
static int topology_value(struct vm_create_config *c, const cJSON *v, char *err,
			  size_t errlen)
{
	if (cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return failf(err, errlen, "vm.create: 'cpus.topology': expected an object");
	const cJSON *it;
	cJSON_ArrayForEach(it, v) {
		char num[32];
		const char *k = it->string;
		bool cores = !strcmp(k, "cores_per_die");
		if (strcmp(k, "threads_per_core") && !cores && strcmp(k, "dies_per_package") &&
		    strcmp(k, "packages"))
			return failf(err, errlen, "vm.create: 'cpus.topology.%s': unknown key", k);
		if (!number_text(it, num, sizeof(num)) || (!cores && strcmp(num, "1")))
			return failf(err, errlen,
				     "vm.create: 'cpus.topology.%s': not supported by cvmm (one package, one die, one thread per core)",
				     k);
		if (cores)
			c->topo_cores = (unsigned)it->valuedouble;
	}
	return 0;
}

/* cpus: N | "boot=N" | {boot_vcpus, max_vcpus, topology, ...} ({boot, max}). */
static int cpus_value(struct vm_create_config *c, const cJSON *v, char *err, size_t errlen)
{
	const cJSON *topo = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "topology")
					      : NULL;
	if (!topo)
		return list_value(&c->cfg, OPT_CPUS, "cpus", "boot", cpus_keys, v, err, errlen);
	/* The rest without topology (a copy: the body is the caller's). */
	cJSON *rest = cJSON_Duplicate(v, true);
	if (!rest)
		return -ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(rest, "topology");
	int r = topology_value(c, topo, err, errlen) ?:
		list_value(&c->cfg, OPT_CPUS, "cpus", "boot", cpus_keys, rest, err, errlen);
	cJSON_Delete(rest);
	return r;
}

/*
 * One member of the body: cloud-hypervisor's VmConfig members, and cvmm's
 * own shorter forms where they do not clash (kernel, initramfs, cmdline at
 * the top, "nets", strings and numbers for key=value lists, "rng": true,
 * "platform": {"pit"}, "virtio_transport", "debug_exit").
 */
static int field(struct vm_create_config *c, const cJSON *v, char *err, size_t errlen)
{
	struct vm_config *cfg = &c->cfg;
	const char *f = v->string;
	const struct ch_key *k = ch_find(top_keys, f);
	if (k)
		return ch_default(k, NULL, v, err, errlen) ? -EINVAL : 0;
	if (!strcmp(f, "payload"))
		return payload_value(c, v, err, errlen);
	if (!strcmp(f, "kernel"))
		return string_value(c, OPT_KERNEL, f, v, err, errlen);
	if (!strcmp(f, "initramfs"))
		return string_value(c, OPT_INITRAMFS, f, v, err, errlen);
	if (!strcmp(f, "cmdline"))
		return string_value(c, OPT_CMDLINE, f, v, err, errlen);
	if (!strcmp(f, "cpus"))
		return cpus_value(c, v, err, errlen);
	if (!strcmp(f, "memory"))
		return list_value(cfg, OPT_MEMORY, f, "size", memory_keys, v, err, errlen);
	if (!strcmp(f, "serial"))
		return output_value(c, OPT_SERIAL, f, v, err, errlen);
	if (!strcmp(f, "console"))
		return output_value(c, OPT_CONSOLE, f, v, err, errlen);
	if (!strcmp(f, "disks"))
		return array_value(cfg, OPT_DISK, f, disk_keys, v, err, errlen);
	if (!strcmp(f, "net") || !strcmp(f, "nets"))
		return array_value(cfg, OPT_NET, f, net_keys, v, err, errlen);
	if (!strcmp(f, "devices"))
		return array_value(cfg, OPT_DEVICE, f, dev_keys, v, err, errlen);
	if (!strcmp(f, "user_devices"))
		return array_value(cfg, OPT_USER_DEVICE, f, dev_keys, v, err, errlen);
	if (!strcmp(f, "fs"))
		return array_value(cfg, OPT_FS, f, dev_keys, v, err, errlen);
	if (!strcmp(f, "rng")) {
		if (cJSON_IsNull(v) || cJSON_IsFalse(v))
			return 0;
		if (cJSON_IsTrue(v))
			return config_set(cfg, OPT_RNG, NULL, err, errlen);
		return list_value(cfg, OPT_RNG, f, NULL, dev_keys, v, err, errlen);
	}
	if (!strcmp(f, "vsock")) {
		if (cJSON_IsNull(v))
			return 0;
		return list_value(cfg, OPT_VSOCK, f, NULL, dev_keys, v, err, errlen);
	}
	if (!strcmp(f, "platform"))
		return list_value(cfg, OPT_PLATFORM, f, NULL, platform_keys, v, err, errlen);
	if (!strcmp(f, "virtio_transport"))
		return list_value(cfg, OPT_VIRTIO_TRANSPORT, f, "type", NULL, v, err, errlen);
	if (!strcmp(f, "debug_exit")) {
		if (!cJSON_IsBool(v))
			return failf(err, errlen, "vm.create: 'debug_exit': expected a boolean");
		return cJSON_IsTrue(v) ? config_set(cfg, OPT_DEBUG_EXIT, NULL, err, errlen) : 0;
	}
	return failf(err, errlen, "vm.create: unknown field '%s'", f);
}

int vm_create_config_parse(const cJSON *body, const struct vm_config *cli,
			   struct vm_create_config **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!cJSON_IsObject(body))
		return failf(err, errlen, "vm.create: the body must be a JSON object");
	struct vm_create_config *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	config_defaults(&c->cfg);
	int r = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, body) {
		r = field(c, v, err, errlen);
		if (r)
			break;
	}
	/* The same checks, and messages, as the command line. */
	r = r ?: config_check(&c->cfg, err, errlen);
	unsigned max = c->cfg.max_vcpus ? c->cfg.max_vcpus : c->cfg.cpus;
	if (!r && c->topo_cores && c->topo_cores != max)
		r = failf(err, errlen,
			  "vm.create: 'cpus.topology': %u cores for %u vCPUs (max_vcpus)",
			  c->topo_cores, max);
	if (r) {
		free(c);
		return r;
	}
	c->cfg.api_socket = cli->api_socket;
	c->cfg.seccomp = cli->seccomp;
	c->cfg.log_level = cli->log_level;
	*out = c;
	return 0;
}

void vm_create_config_free(struct vm_create_config *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->cfg.nnets; i++)
		if (c->cfg.nets[i].has_fd)
			close(c->cfg.nets[i].fd);
	free(c);
}

int vm_create_config_add(struct vm_create_config *c, const char *member,
			 const cJSON *item, const int *fds, unsigned nfds,
			 char *err, size_t errlen)
{
	bool net = !strcmp(member, "net");
	if (!cJSON_IsObject(item))
		return failf(err, errlen, "the body must be a JSON object");
	if (nfds && !net)
		return failf(err, errlen, "this request takes no file descriptors");
	if (nfds > 1)
		return failf(err, errlen,
			     "%u tap fds given: cvmm's virtio-net has one queue pair and takes one",
			     nfds);
	char why[160];
	if (nfds && tap_check_fd(fds[0], why, sizeof(why)))
		return failf(err, errlen, "the fd given: %s", why);
	if (nfds && cJSON_GetObjectItemCaseSensitive(item, "tap") &&
	    !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(item, "tap")))
		return failf(err, errlen, "a tap fd and a tap name: give one of them");
	/* The configuration as it was, to go back to: new strings go after
	 * the old ones, which stay where they are. */
	struct vm_config *old = malloc(sizeof(*old));
	cJSON *body = cJSON_CreateObject();
	cJSON *one = cJSON_Duplicate(item, true);
	if (!old || !body || !one) {
		free(old);
		cJSON_Delete(body);
		cJSON_Delete(one);
		return -ENOMEM;
	}
	memcpy(old, &c->cfg, sizeof(*old));
	size_t used = c->used;
	int r = 0;
	if (strcmp(member, "vsock")) {
		cJSON *arr = cJSON_AddArrayToObject(body, member);
		if (!arr || !cJSON_AddItemToArray(arr, one))
			r = -ENOMEM;
	} else if (c->cfg.vsock.enabled) {
		r = failf(err, errlen, "the VM has a vsock device already");
	} else {
		cJSON_AddItemToObject(body, member, one);
	}
	if (r)
		cJSON_Delete(one);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, member);
	r = r ?: field(c, v, err, errlen);
	r = r ?: config_check(&c->cfg, err, errlen);
	r = r ?: config_check_files(&c->cfg, CONFIG_NAMES_JSON, err, errlen);
	if (!r && nfds) {
		struct net_config *n = &c->cfg.nets[c->cfg.nnets - 1];
		n->fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
		if (n->fd < 0)
			r = failf(err, errlen, "cannot keep the tap fd: %s", strerror(errno));
		else
			n->has_fd = true;
	}
	if (r) {
		memcpy(&c->cfg, old, sizeof(*old));
		c->used = used;
	}
	free(old);
	cJSON_Delete(body);
	return r;
}

int vm_create_config_from(const struct vm_config *cfg, struct vm_create_config **out)
{
	struct vm_create_config *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	memcpy(&c->cfg, cfg, sizeof(c->cfg));
	*out = c;
	return 0;
}

/* Removes element idx of an array of n elements of size sz. */
static void array_remove(void *base, unsigned *n, size_t sz, unsigned idx)
{
	char *b = base;
	memmove(b + idx * sz, b + (idx + 1) * sz, (*n - idx - 1) * sz);
	(*n)--;
	memset(b + *n * sz, 0, sz);
}

int vm_create_config_remove(struct vm_create_config *c, const char *member, unsigned idx)
{
	struct vm_config *cfg = &c->cfg;
	if (!strcmp(member, "disks") && idx < cfg->ndisks) {
		array_remove(cfg->disks, &cfg->ndisks, sizeof(cfg->disks[0]), idx);
	} else if (!strcmp(member, "net") && idx < cfg->nnets) {
		if (cfg->nets[idx].has_fd)
			close(cfg->nets[idx].fd);
		array_remove(cfg->nets, &cfg->nnets, sizeof(cfg->nets[0]), idx);
	} else if (!strcmp(member, "fs") && idx < cfg->nfs) {
		array_remove(cfg->fs, &cfg->nfs, sizeof(cfg->fs[0]), idx);
	} else if (!strcmp(member, "devices") && idx < cfg->ndevices) {
		array_remove(cfg->devices, &cfg->ndevices, sizeof(cfg->devices[0]), idx);
	} else if (!strcmp(member, "user_devices") && idx < cfg->nuser_devices) {
		array_remove(cfg->user_devices, &cfg->nuser_devices,
			     sizeof(cfg->user_devices[0]), idx);
	} else if (!strcmp(member, "vsock") && idx == 0 && cfg->vsock.enabled) {
		memset(&cfg->vsock, 0, sizeof(cfg->vsock));
	} else if (!strcmp(member, "rng") && idx == 0 && cfg->rng.enabled) {
		memset(&cfg->rng, 0, sizeof(cfg->rng));
	} else {
		return -ENOENT;
	}
	/* Its strings go too (config.h): add/remove cycles do not fill them. */
	config_compact_strings(cfg);
	return 0;
}

int vm_create_config_find_id(const struct vm_create_config *c, const char *id,
			     const char **member, unsigned *idx)
{
	struct config_id w;
	int r = config_find_id(&c->cfg, id, &w);
	if (r == 0) {
		*member = w.member;
		*idx = w.idx;
	}
	return r;
}
