/* SPDX-License-Identifier: MIT */
/*
 * seccomp-gen: compiles cvmm's seccomp allowlists (src/seccomp_rules.c) to
 * BPF with libseccomp at build time and writes them as C
 * (src/seccomp_bpf.h says what cvmm does with them):
 *
 *   seccomp-gen OUT.c
 *
 * For each thread kind, production and sanitizer flavour: a filter whose
 * default action traps (SIGSYS, for the handler's line) and which kills the
 * process on a foreign architecture, exported as BPF twice, with two
 * different pid placeholders. The two programs must have the same length
 * and differ exactly where each holds its placeholder; those instructions
 * are listed for seccomp_install() to patch. Also writes the x86-64
 * syscall names. Exits non-zero (and writes nothing) on any failure.
 */
#include <errno.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seccomp_bpf.h"
#include "seccomp_rules.h"

#define OTHER_PID (SECCOMP_BPF_PID_PLACEHOLDER + 1)
#define MAX_INSNS 4096 /* BPF_MAXINSNS */

struct prog {
	struct sock_filter insn[MAX_INSNS];
	size_t len;
};

static const char *const kind_names[SECCOMP_BPF_KINDS] = { "main", "vcpu", "device", "vmm" };

static int build(enum seccomp_thread kind, bool sanitized, uint32_t pid, struct prog *p)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	r = r ?: seccomp_rules_add(ctx, kind, pid, sanitized);
	FILE *f = r ? NULL : tmpfile();
	if (!r && !f)
		r = -errno;
	r = r ?: seccomp_export_bpf(ctx, fileno(f));
	seccomp_release(ctx);
	if (!r) {
		rewind(f);
		p->len = fread(p->insn, sizeof(p->insn[0]), MAX_INSNS, f);
		if (p->len == 0 || p->len == MAX_INSNS || !feof(f))
			r = -E2BIG;
	}
	if (f)
		fclose(f);
	return r;
}

/* Writes one program and the instructions that hold the pid. */
static int emit(FILE *out, const char *name, enum seccomp_thread kind, bool sanitized)
{
	static struct prog a, b;
	int r = build(kind, sanitized, SECCOMP_BPF_PID_PLACEHOLDER, &a);
	r = r ?: build(kind, sanitized, OTHER_PID, &b);
	if (r) {
		fprintf(stderr, "seccomp-gen: %s: %s\n", name, strerror(-r));
		return -1;
	}
	if (a.len != b.len) {
		fprintf(stderr, "seccomp-gen: %s: the program's length depends on the pid\n", name);
		return -1;
	}
	size_t npid = 0;
	fprintf(out, "static const unsigned short %s_pid[] = {", name);
	for (size_t i = 0; i < a.len; i++) {
		bool differs = memcmp(&a.insn[i], &b.insn[i], sizeof(a.insn[i])) != 0;
		bool holds = a.insn[i].k == SECCOMP_BPF_PID_PLACEHOLDER;
		if (differs != holds || (differs && (b.insn[i].k != OTHER_PID ||
						     a.insn[i].code != b.insn[i].code ||
						     a.insn[i].jt != b.insn[i].jt ||
						     a.insn[i].jf != b.insn[i].jf))) {
			fprintf(stderr, "seccomp-gen: %s: instruction %zu: the pid placeholder "
				"is not the only thing that changes with the pid\n", name, i);
			return -1;
		}
		if (holds)
			fprintf(out, "%s%zu", npid++ ? ", " : " ", i);
	}
	if (npid == 0) {
		fprintf(stderr, "seccomp-gen: %s: no instruction holds the pid\n", name);
		return -1;
	}
	fprintf(out, " };\nstatic const struct sock_filter %s[%zu] = {\n", name, a.len);
	for (size_t i = 0; i < a.len; i++)
		fprintf(out, "\t{ 0x%04x, %u, %u, 0x%08x },\n", a.insn[i].code, a.insn[i].jt,
			a.insn[i].jf, a.insn[i].k);
	fprintf(out, "};\n\n");
	return (int)npid;
}

static int emit_flavour(FILE *out, const char *flavour, bool sanitized)
{
	int npid[SECCOMP_BPF_KINDS];
	char name[64];
	for (int k = 0; k < SECCOMP_BPF_KINDS; k++) {
		snprintf(name, sizeof(name), "%s_%s", flavour, kind_names[k]);
		npid[k] = emit(out, name, (enum seccomp_thread)k, sanitized);
		if (npid[k] < 0)
			return -1;
	}
	fprintf(out, "const struct seccomp_bpf_prog seccomp_bpf_%s[SECCOMP_BPF_KINDS] = {\n",
		flavour);
	for (int k = 0; k < SECCOMP_BPF_KINDS; k++)
		fprintf(out, "\t{ %s_%s, sizeof(%s_%s) / sizeof(struct sock_filter), "
			"%s_%s_pid, %d },\n", flavour, kind_names[k], flavour, kind_names[k],
			flavour, kind_names[k], npid[k]);
	fprintf(out, "};\n\n");
	return 0;
}

static void emit_names(FILE *out)
{
	fprintf(out, "const char seccomp_syscall_names[SECCOMP_SYSCALL_NAMES]"
		"[SECCOMP_SYSCALL_NAME_LEN] = {\n");
	for (int nr = 0; nr < SECCOMP_SYSCALL_NAMES; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
		if (name && strlen(name) < SECCOMP_SYSCALL_NAME_LEN &&
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name))
			fprintf(out, "\t[%d] = \"%s\",\n", nr, name);
		free(name);
	}
	fprintf(out, "};\n");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seccomp-gen OUT.c\n");
		return 2;
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	FILE *out = fopen(tmp, "w");
	if (!out) {
		perror(tmp);
		return 1;
	}
	const struct scmp_version *v = seccomp_version();
	fprintf(out, "/* Generated by tools/seccomp-gen.c from src/seccomp_rules.c with "
		"libseccomp %u.%u.%u: do not edit. */\n#include \"seccomp_bpf.h\"\n\n",
		v->major, v->minor, v->micro);
	int r = emit_flavour(out, "plain", false);
	r = r ?: emit_flavour(out, "sanitized", true);
	if (!r)
		emit_names(out);
	if (fclose(out) != 0)
		r = -1;
	if (r || rename(tmp, argv[1]) != 0) {
		if (!r)
			perror(argv[1]);
		unlink(tmp);
		return 1;
	}
	return 0;
}
