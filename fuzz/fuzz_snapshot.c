/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the snapshot reader (src/snap/snap.c) and what a restore
 * decodes before it builds anything: snap_parse() on the input as a whole
 * state.bin, then for each section it accepts, the decoder a restore would
 * give it (machine and vCPU state: arch_vcpu_state_decode and
 * arch_vm_state_decode; the configuration: cJSON and vm_create_config_parse;
 * anything else: the cursor getters read to the end).
 *
 * Checked besides memory safety: an error comes with a non-empty message
 * and no index; an accepted file's sections lie inside the input, in
 * order, with distinct printable names; a cursor never reads past its
 * section (bad set, zeroes returned); a decoder either fails with -EBADMSG
 * or returns a state.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/vm_create.h"
#include "arch/arch.h"
#include "config.h"
#include "fuzz_common.h"
#include "snap/snap.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	return 0;
}

static void decode(struct snap_section *s)
{
	struct snap_cur c = { .p = s->data, .len = s->len };
	if (!strncmp(s->name, "vcpu.", 5)) {
		struct arch_vcpu_state *st = NULL;
		int r = arch_vcpu_state_decode(&c, &st);
		FUZZ_CHECK(r == 0 ? st != NULL : (r == -EBADMSG || r == -ENOMEM));
		arch_vcpu_state_free(st);
	} else if (!strcmp(s->name, "machine")) {
		snap_get_u32(&c);
		struct arch_vm_state *st = NULL;
		int r = arch_vm_state_decode(&c, &st);
		FUZZ_CHECK(r == 0 ? st != NULL : (r == -EBADMSG || r == -ENOMEM));
		arch_vm_state_free(st);
	} else if (!strcmp(s->name, "config")) {
		cJSON *body = cJSON_ParseWithLength((const char *)c.p, c.len);
		if (body) {
			struct vm_config cli;
			config_defaults(&cli);
			struct vm_create_config *cfg = NULL;
			char err[512];
			int r = vm_create_config_parse(body, &cli, &cfg, err, sizeof(err));
			FUZZ_CHECK(r == 0 ? cfg != NULL : err[0] != 0);
			vm_create_config_free(cfg);
			cJSON_Delete(body);
		}
	} else {
		char name[256];
		snap_get_str(&c, name, sizeof(name));
		while (!c.bad && c.pos < c.len)
			snap_get_u64(&c);
		FUZZ_CHECK(c.pos <= c.len);
		if (c.bad)
			FUZZ_CHECK(snap_get_u64(&c) == 0 && snap_cur_end(&c) == -EBADMSG);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_index idx;
	char err[256] = "";
	int r = snap_parse(data, size, &idx, err, sizeof(err));
	if (r) {
		FUZZ_CHECK(err[0] != 0 && idx.n == 0 && idx.s == NULL);
		return 0;
	}
	const uint8_t *prev = data;
	for (unsigned i = 0; i < idx.n; i++) {
		struct snap_section *s = &idx.s[i];
		FUZZ_CHECK(s->data >= prev && s->data + s->len <= data + size);
		FUZZ_CHECK(s->name[0] && strnlen(s->name, SNAP_NAME_MAX) < SNAP_NAME_MAX);
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(idx.s[j].name, s->name) != 0);
		prev = s->data + s->len;
		decode(s);
	}
	struct snap_cur c;
	FUZZ_CHECK(snap_find(&idx, "no such section", &c) == -ENOENT && c.bad);
	snap_index_free(&idx);
	return 0;
}
