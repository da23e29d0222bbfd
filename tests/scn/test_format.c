/*
 * test_format.c: unit tests for the scenario runner's parser and result
 * formatter (tools/aspace/parse.c, format.c): the canonical forms that
 * make the engine's and the kernel's transcripts comparable.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scn.h"

static char *data_str(const void *p, size_t len)
{
	struct sbuf b;

	sb_init(&b);
	fmt_data(&b, p, len);
	return b.s;
}

static void check_data(const void *p, size_t len, const char *want)
{
	char *got = data_str(p, len);

	assert_string_equal(got, want);
	free(got);
}

static void test_data(void **state)
{
	unsigned char z[16] = { 0 };
	unsigned char mix[] = { 'a', 'b', 0, 0, 'c', '"', '\\', 0xff };
	unsigned char run[] = { 'x', 'A', 'A', 'A', 'A', 'A', 'A', 'A', 'A', 1 };

	(void)state;
	check_data("hello", 5, "\"hello\"");
	check_data(z, 8, "0x00*8");
	check_data(z, 7, "hex:00000000000000");
	check_data(mix, sizeof(mix), "\"ab\"+hex:0000+\"c\\\"\\\\\"+hex:ff");
	check_data(run, sizeof(run), "\"x\"+0x41*8+hex:01");
	check_data("", 0, "\"\"");
}

static void check_size(unsigned long n, const char *want)
{
	char buf[32];

	fmt_size(n, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_size_and_addr(void **state)
{
	struct names *nm = names_new();
	char buf[64];

	(void)state;
	check_size(65536, "64k");
	check_size(1 << 20, "1m");
	check_size(956 * 1024, "956k");
	check_size(100, "100");
	check_size(0, "0");
	assert_non_null(nm);
	assert_int_equal(names_bind(nm, "arena", 0x100000), 0);
	assert_int_equal(names_bind(nm, "a", 0x100000), 0);
	fmt_addr(nm, 0x100000, buf, sizeof(buf));
	assert_string_equal(buf, "a"); /* tie: the most recent binding */
	fmt_addr(nm, 0x101000, buf, sizeof(buf));
	assert_string_equal(buf, "a+4k");
	fmt_addr(nm, 0x200064, buf, sizeof(buf));
	assert_string_equal(buf, "a+1048676");
	fmt_addr(nm, 0xff000, buf, sizeof(buf));
	assert_string_equal(buf, "a-4k");
	fmt_addr(nm, 0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	names_free(nm);
}

static void test_numbers(void **state)
{
	unsigned long v;

	(void)state;
	assert_int_equal(scn_parse_number("16k", &v), 0);
	assert_int_equal(v, 16384);
	assert_int_equal(scn_parse_number("3p", &v), 0);
	assert_int_equal(v, 3 * 4096);
	assert_int_equal(scn_parse_number("2m", &v), 0);
	assert_int_equal(v, 2 << 20);
	assert_int_equal(scn_parse_number("0x1000", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(scn_parse_number("0x", &v), -EINVAL);
	assert_int_equal(scn_parse_number("k", &v), -EINVAL);
	assert_int_equal(scn_parse_number("12q", &v), -EINVAL);
	assert_int_equal(scn_parse_number("99999999999999999999", &v),
			 -ERANGE);
	assert_int_equal(scn_parse_number("0xffffffffffffffffk", &v), -ERANGE);
}

static void check_parse_error(const char *src, const char *want)
{
	struct scn *s = NULL;
	char err[512];

	assert_int_equal(scn_parse_buf("t.scn", src, strlen(src), &s, err,
				       sizeof(err)),
			 -EINVAL);
	assert_null(s);
	assert_string_equal(err, want);
}

static void test_parse(void **state)
{
	const char *src = "# a comment\n"
			  "mmap   a  4p rw private,anon   # trailing\n"
			  "@child.T read a+1p-4k 5   =>   \"a  b\"\n"
			  "write a \"x => #y\"+0x00*2\n";
	struct scn *s;
	char err[256];

	(void)state;
	/* @child needs a fork first. */
	check_parse_error(src, "t.scn:3: undefined process 'child' (no earlier 'fork child')");
	src = "mmap a 4p rw private,anon\n"
	      "fork child\n"
	      "@child.T read a+1p-4k 5   =>   \"a  b\"\n"
	      "write a \"x => #y\"+0x00*2\r\n"
	      "# requires: linux (needs io_uring)\n";
	assert_int_equal(scn_parse_buf("t.scn", src, strlen(src), &s, err,
				       sizeof(err)),
			 0);
	assert_int_equal(s->ncmds, 4);
	assert_string_equal(s->cmds[2].proc, "child");
	assert_string_equal(s->cmds[2].thread, "T");
	assert_int_equal(s->cmds[2].addr.off, 0);
	assert_string_equal(s->cmds[2].text, "@child.T read a+1p-4k 5");
	assert_string_equal(s->cmds[2].expect, "\"a b\"");
	assert_int_equal(s->cmds[3].dlen, 9);
	assert_memory_equal(s->cmds[3].data, "x => #y\0\0", 9);
	assert_string_equal(s->requires, "linux");
	assert_string_equal(s->requires_why, "needs io_uring");
	scn_free(s);

	check_parse_error("frob a\n", "t.scn:1: unknown command 'frob'");
	check_parse_error("read b 4\n",
			  "t.scn:1: undefined name 'b' (no earlier mmap or mremap as= binds it)");
	check_parse_error("mmap a 4z rw private\n",
			  "t.scn:1: bad number '4z' for LEN in 'mmap NAME LEN PROT FLAGS' (expected decimal or 0x-hex, optional k/m/g/p suffix)");
	check_parse_error("mmap a 4p\n",
			  "t.scn:1: expected PROT (none, or letters from rwx)");
}

static void test_maps(void **state)
{
	const char *txt =
		"00100000-00102000 rw-p 00000000 00:00 0 \n"
		"00102000-00103000 rw-s 00000000 00:01 77   /dev/zero (deleted)\n"
		"00103000-00104000 r--s 00002000 00:01 1234 /memfd:F (deleted)\n"
		"7f0000000000-7f0000001000 r-xp 00000000 08:01 99 /usr/lib/libc.so\n"
		"garbage line\n";
	struct names *nm = names_new();
	struct result r;
	struct sbuf b;

	(void)state;
	assert_non_null(nm);
	names_bind(nm, "a", 0x100000);
	names_add_range(nm, 0x100000, 0x4000);
	names_add_file(nm, "F", 1234, false);
	memset(&r, 0, sizeof(r));
	r.kind = RES_MAPS;
	r.payload = (unsigned char *)txt;
	r.len = strlen(txt);
	sb_init(&b);
	fmt_result(&b, nm, NULL, &r);
	assert_string_equal(b.s, "a a+8k rw-p 00000000 anon | a+8k a+12k rw-s 00000000 shmem | a+12k a+16k r--s 00002000 memfd:F");
	sb_free(&b);

	txt = "00100000-00102000 rw-p 00000000 00:00 0\n"
	      "Size:                  8 kB\n"
	      "Rss:                   4 kB\n"
	      "Pss:                   2 kB\n"
	      "Anonymous:             4 kB\n"
	      "Locked:                0 kB\n";
	r.kind = RES_SMAPS;
	r.payload = (unsigned char *)txt;
	r.len = strlen(txt);
	r.addr = 0x101000;
	fmt_result(&b, nm, NULL, &r);
	assert_string_equal(b.s, "Rss: 4 kB | Pss: 2 kB | Shared_Clean: ? kB | Shared_Dirty: ? kB | Private_Clean: ? kB | Private_Dirty: ? kB | Anonymous: 4 kB | Swap: ? kB | Locked: 0 kB");
	sb_free(&b);
	r.addr = 0x102000;
	fmt_result(&b, nm, NULL, &r);
	assert_string_equal(b.s, "none");
	sb_free(&b);
	names_free(nm);
}

static void test_pagemap_and_results(void **state)
{
	uint64_t pm[] = {
		0,
		1ULL << 63 | 1ULL << 56,
		1ULL << 63,
		1ULL << 63 | 1ULL << 61 | 1ULL << 56,
		1ULL << 62 | 1ULL << 57,
		1ULL << 63 | 1ULL << 55,
	};
	struct result r;
	struct sbuf b;
	struct names *nm = names_new();

	(void)state;
	assert_non_null(nm);
	names_bind(nm, "a", 0x100000);
	memset(&r, 0, sizeof(r));
	r.kind = RES_PAGEMAP;
	r.payload = (unsigned char *)pm;
	r.len = sizeof(pm);
	sb_init(&b);
	fmt_result(&b, nm, NULL, &r);
	assert_string_equal(b.s, "- Px P Pxf Sw Pd");
	sb_free(&b);

	memset(&r, 0, sizeof(r));
	r.kind = RES_ERR;
	r.err = EAGAIN;
	r.has_done = true;
	r.done = 4096;
	fmt_result(&b, nm, NULL, &r);
	assert_string_equal(b.s, "err EAGAIN done 4k");
	sb_free(&b);

	r.kind = RES_OK_IOCTLS;
	r.n = 0x13c;
	fmt_result(&b, nm, NULL, &r);
	assert_string_equal(b.s, "ok ioctls=copy,move,poison,wake,zeropage");
	sb_free(&b);

	r.kind = RES_ACCERR;
	r.addr = 0x101004;
	fmt_result(&b, nm, NULL, &r);
	assert_string_equal(b.s, "SIGSEGV accerr at a+4100");
	sb_free(&b);

	r.kind = RES_UFFDMSG;
	r.umsg = UMSG_PAGEFAULT;
	r.ua = 0x102000;
	r.uflags = SF_WRITE | SF_MINOR;
	fmt_result(&b, nm, NULL, &r);
	assert_string_equal(b.s, "pagefault a+8k write minor");
	sb_free(&b);
	names_free(nm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_size_and_addr),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_pagemap_and_results),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
