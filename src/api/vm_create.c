/* SPDX-License-Identifier: MIT */
/* vm.create bodies as command lines; see vm_create.h. */
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

/* Appends a copy of s to the argument vector. */
static int push(struct vm_create_config *c, const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s) + 1;
	if (c->argc >= VM_CREATE_MAX_ARGS - 1 || n > sizeof(c->arena) - c->used)
		return failf(err, errlen, "vm.create: the configuration is too large");
	memcpy(c->arena + c->used, s, n);
	c->argv[c->argc++] = c->arena + c->used;
	c->argv[c->argc] = NULL;
	c->used += n;
	return 0;
}

static int push2(struct vm_create_config *c, const char *opt, const char *val,
		 char *err, size_t errlen)
{
	return push(c, opt, err, errlen) ?: push(c, val, err, errlen);
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

/* {"k": v, ...} as "k=v,k=v" (true/false: on/off, numbers as integers). */
static int kv_list(const cJSON *o, const char *field, char *buf, size_t len,
		   char *err, size_t errlen)
{
	size_t used = 0;
	buf[0] = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, o) {
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
		int n = snprintf(buf + used, len - used, "%s%s=%s", used ? "," : "",
				 it->string ? it->string : "", v);
		if (n < 0 || (size_t)n >= len - used)
			return failf(err, errlen, "vm.create: '%s' is too long", field);
		used += (size_t)n;
	}
	return 0;
}

/*
 * A value that is a key=value list on the command line: a string (with
 * `key` prefixed when it has no '='), a whole number (`key`=N) or an
 * object.
 */
static int list_value(struct vm_create_config *c, const char *opt, const char *field,
		      const char *key, const cJSON *v, char *err, size_t errlen)
{
	char buf[4096], num[32];
	if (cJSON_IsString(v)) {
		if (key && !strchr(v->valuestring, '='))
			snprintf(buf, sizeof(buf), "%s=%s", key, v->valuestring);
		else
			snprintf(buf, sizeof(buf), "%s", v->valuestring);
	} else if (key && number_text(v, num, sizeof(num))) {
		snprintf(buf, sizeof(buf), "%s=%s", key, num);
	} else if (cJSON_IsObject(v)) {
		int r = kv_list(v, field, buf, sizeof(buf), err, errlen);
		if (r)
			return r;
	} else {
		return failf(err, errlen, "vm.create: '%s': expected %s", field,
			     key ? "a string, a whole number or an object"
				 : "a string or an object");
	}
	return push2(c, opt, buf, err, errlen);
}

/* serial/console: "tty" | "file=PATH" | ... | {"mode": M, "file": PATH}. */
static int output_value(struct vm_create_config *c, const char *opt, const char *field,
			const cJSON *v, char *err, size_t errlen)
{
	if (cJSON_IsString(v))
		return push2(c, opt, v->valuestring, err, errlen);
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(v, "mode");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(v, "file");
	if (!cJSON_IsObject(v) || !cJSON_IsString(mode) || (file && !cJSON_IsString(file)))
		return failf(err, errlen,
			     "vm.create: '%s': expected \"tty\", \"file=PATH\", \"null\", \"off\" or {\"mode\": ..., \"file\": ...}",
			     field);
	char buf[4096];
	if (file)
		snprintf(buf, sizeof(buf), "%s=%s", mode->valuestring, file->valuestring);
	else
		snprintf(buf, sizeof(buf), "%s", mode->valuestring);
	return push2(c, opt, buf, err, errlen);
}

static int string_value(struct vm_create_config *c, const char *opt, const char *field,
			const cJSON *v, char *err, size_t errlen)
{
	if (!cJSON_IsString(v))
		return failf(err, errlen, "vm.create: '%s': expected a string", field);
	return push2(c, opt, v->valuestring, err, errlen);
}

static int array_value(struct vm_create_config *c, const char *opt, const char *field,
		       const cJSON *v, char *err, size_t errlen)
{
	if (!cJSON_IsArray(v))
		return failf(err, errlen, "vm.create: '%s': expected an array", field);
	const cJSON *it;
	cJSON_ArrayForEach(it, v) {
		int r = list_value(c, opt, field, NULL, it, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

static int field(struct vm_create_config *c, const cJSON *v, char *err, size_t errlen)
{
	const char *f = v->string;
	if (!strcmp(f, "kernel"))
		return string_value(c, "--kernel", f, v, err, errlen);
	if (!strcmp(f, "initramfs"))
		return string_value(c, "--initramfs", f, v, err, errlen);
	if (!strcmp(f, "cmdline"))
		return string_value(c, "--cmdline", f, v, err, errlen);
	if (!strcmp(f, "cpus"))
		return list_value(c, "--cpus", f, "boot", v, err, errlen);
	if (!strcmp(f, "memory"))
		return list_value(c, "--memory", f, "size", v, err, errlen);
	if (!strcmp(f, "serial"))
		return output_value(c, "--serial", f, v, err, errlen);
	if (!strcmp(f, "console"))
		return output_value(c, "--console", f, v, err, errlen);
	if (!strcmp(f, "disks"))
		return array_value(c, "--disk", f, v, err, errlen);
	if (!strcmp(f, "nets"))
		return array_value(c, "--net", f, v, err, errlen);
	if (!strcmp(f, "rng")) {
		if (cJSON_IsNull(v) || cJSON_IsFalse(v))
			return 0;
		if (cJSON_IsTrue(v))
			return push(c, "--rng", err, errlen);
		return list_value(c, "--rng", f, NULL, v, err, errlen);
	}
	if (!strcmp(f, "debug_exit")) {
		if (!cJSON_IsBool(v))
			return failf(err, errlen, "vm.create: 'debug_exit': expected a boolean");
		return cJSON_IsTrue(v) ? push(c, "--debug-exit", err, errlen) : 0;
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
	int r = push(c, "vm.create", err, errlen);
	const cJSON *v;
	cJSON_ArrayForEach(v, body) {
		if (r)
			break;
		r = field(c, v, err, errlen);
	}
	/* The same checks, and messages, as the command line. */
	r = r ?: config_parse(&c->cfg, c->argc, c->argv, err, errlen);
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
