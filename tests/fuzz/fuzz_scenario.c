/*
 * fuzz_scenario.c: libFuzzer target for what reads untrusted text in the
 * aspace command: the scenario parser, and the formatter that parses
 * /proc maps and smaps text.  No input may crash either (scripts/fuzz.sh
 * builds it with ASan and UBSan and runs it for a bounded time).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scn.h"

static void fuzz_parse(const uint8_t *data, size_t size)
{
	struct scn *s;
	char err[512];
	struct sbuf b;

	if (scn_parse_buf("fuzz.scn", (const char *)data, size, &s, err,
			  sizeof(err)))
		return;
	sb_init(&b);
	for (size_t i = 0; i < s->ncmds; i++) {
		const struct scn_cmd *c = s->cmds[i].sub ? s->cmds[i].sub
							 : &s->cmds[i];

		if (c->data)
			fmt_data(&b, c->data, c->dlen);
	}
	sb_free(&b);
	scn_free(s);
}

/* /proc text as a backend returns it, canonicalised against a few names. */
static void fuzz_format(const uint8_t *data, size_t size)
{
	struct names *nm = names_new();
	struct result r;
	struct sbuf b;
	unsigned char *copy;

	if (!nm)
		return;
	copy = malloc(size ? size : 1);
	if (!copy)
		goto out;
	memcpy(copy, data, size);
	names_bind(nm, "a", 0x10000);
	names_bind(nm, "b", 0x7f0000000000);
	names_add_range(nm, 0, ~0UL >> 1);
	names_add_file(nm, "F", 1234, false);
	sb_init(&b);
	memset(&r, 0, sizeof(r));
	r.payload = copy;
	r.len = size;
	for (int kind = RES_DATA; kind <= RES_MINCORE; kind++) {
		r.kind = kind;
		r.addr = 0x10000;
		fmt_result(&b, nm, NULL, &r);
		sb_free(&b);
	}
	free(copy);
out:
	names_free(nm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte picks the target, so one corpus serves both. */
	if (size && data[0] == 0x01)
		fuzz_format(data + 1, size - 1);
	else
		fuzz_parse(data, size);
	return 0;
}
