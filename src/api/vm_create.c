/* SPDX-License-Identifier: MIT */
/* vm.create bodies as configurations; see vm_create.h. */
#include "api/vm_create.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* {"k": v, ...}: key by key (true/false: on/off, numbers as integers). */
static int object_list(struct vm_config *cfg, enum config_opt opt, const char *field,
		       const cJSON *o, char *err, size_t errlen)
{
	int r = config_list_begin(cfg, opt, err, errlen);
	const cJSON *it;
	cJSON_ArrayForEach(it, o) {
		if (r)
			return r;
		char num[32];
		const char *v;
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
		r = config_list_key(cfg, opt, it->string ? it->string : "", v, err, errlen);
	}
	return r ?: config_list_end(cfg, opt, err, errlen);
}

/*
 * A value that is a key=value list on the command line: a string (the
 * list as the command line has it, or, when `key` is given and there is no
 * '=', that key's value), a whole number (`key`'s value) or an object.
 */
static int list_value(struct vm_config *cfg, enum config_opt opt, const char *field,
		      const char *key, const cJSON *v, char *err, size_t errlen)
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
		return object_list(cfg, opt, field, v, err, errlen);
	return failf(err, errlen, "vm.create: '%s': expected %s", field,
		     key ? "a string, a whole number or an object"
			 : "a string or an object");
}

/* serial/console: "tty" | "file=PATH" | ... | {"mode": M, "file": PATH}. */
static int output_value(struct vm_create_config *c, enum config_opt opt,
			const char *field, const cJSON *v, char *err, size_t errlen)
{
	const char *s = NULL;
	if (cJSON_IsString(v))
		return hold(c, v->valuestring, &s, err, errlen) ?:
		       config_set(&c->cfg, opt, s, err, errlen);
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(v, "mode");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(v, "file");
	if (!cJSON_IsObject(v) || !cJSON_IsString(mode) || (file && !cJSON_IsString(file)))
		return failf(err, errlen,
			     "vm.create: '%s': expected \"tty\", \"file=PATH\", \"null\", \"off\" or {\"mode\": ..., \"file\": ...}",
			     field);
	if (file && hold(c, file->valuestring, &s, err, errlen))
		return -EINVAL;
	return config_set_output(&c->cfg, opt, mode->valuestring, s, err, errlen);
}

static int array_value(struct vm_config *cfg, enum config_opt opt, const char *field,
		       const cJSON *v, char *err, size_t errlen)
{
	if (!cJSON_IsArray(v))
		return failf(err, errlen, "vm.create: '%s': expected an array", field);
	const cJSON *it;
	cJSON_ArrayForEach(it, v) {
		int r = list_value(cfg, opt, field, NULL, it, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

static int field(struct vm_create_config *c, const cJSON *v, char *err, size_t errlen)
{
	struct vm_config *cfg = &c->cfg;
	const char *f = v->string;
	if (!strcmp(f, "kernel"))
		return string_value(c, OPT_KERNEL, f, v, err, errlen);
	if (!strcmp(f, "initramfs"))
		return string_value(c, OPT_INITRAMFS, f, v, err, errlen);
	if (!strcmp(f, "cmdline"))
		return string_value(c, OPT_CMDLINE, f, v, err, errlen);
	if (!strcmp(f, "cpus"))
		return list_value(cfg, OPT_CPUS, f, "boot", v, err, errlen);
	if (!strcmp(f, "memory"))
		return list_value(cfg, OPT_MEMORY, f, "size", v, err, errlen);
	if (!strcmp(f, "serial"))
		return output_value(c, OPT_SERIAL, f, v, err, errlen);
	if (!strcmp(f, "console"))
		return output_value(c, OPT_CONSOLE, f, v, err, errlen);
	if (!strcmp(f, "disks"))
		return array_value(cfg, OPT_DISK, f, v, err, errlen);
	if (!strcmp(f, "nets"))
		return array_value(cfg, OPT_NET, f, v, err, errlen);
	if (!strcmp(f, "devices"))
		return array_value(cfg, OPT_DEVICE, f, v, err, errlen);
	if (!strcmp(f, "user_devices"))
		return array_value(cfg, OPT_USER_DEVICE, f, v, err, errlen);
	if (!strcmp(f, "fs"))
		return array_value(cfg, OPT_FS, f, v, err, errlen);
	if (!strcmp(f, "rng")) {
		if (cJSON_IsNull(v) || cJSON_IsFalse(v))
			return 0;
		if (cJSON_IsTrue(v))
			return config_set(cfg, OPT_RNG, NULL, err, errlen);
		return list_value(cfg, OPT_RNG, f, NULL, v, err, errlen);
	}
	if (!strcmp(f, "vsock")) {
		if (cJSON_IsNull(v))
			return 0;
		return list_value(cfg, OPT_VSOCK, f, NULL, v, err, errlen);
	}
	if (!strcmp(f, "platform"))
		return list_value(cfg, OPT_PLATFORM, f, NULL, v, err, errlen);
	if (!strcmp(f, "virtio_transport"))
		return list_value(cfg, OPT_VIRTIO_TRANSPORT, f, "type", v, err, errlen);
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
