/*
 * test_vma_merge: the merge cases of the kernel's old vma_merge() diagram,
 * driven through mmap and mprotect, checked through the maps view.
 *
 *  new range (mmap):           PPPP____NNNN -> 1: PPPPPPPPPPPP (both)
 *                                              2: PPPPPPPPNNNN (prev only)
 *                                              3: PPPPNNNNNNNN (next only)
 *  changed range (mprotect):   4: PPPPPPNNNNNN, tail of P becomes N: PPNNNNNNNNNN
 *                              5: PPPPPPCCCCCC, head of C becomes P: PPPPPPPPPPCC
 *                              6: PPPPNNNNQQQQ, N becomes P = Q:     one VMA
 *                              7: N becomes P only:                  PPPPPPPPQQQQ
 *                              8: N becomes Q only:                  PPPPQQQQQQQQ
 */
#include "testutil.h"

#include <string.h>
#include <sys/mman.h>

struct ctx {
	struct aspace_mm *mm;
	unsigned long base;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_int_equal(aspace_mm_create(NULL, &c->mm), 0);
	c->base = (unsigned long)aspace_mmap(c->mm, 0, 64 * P, PROT_NONE,
					     ANON_PRIV | MAP_NORESERVE, -1, 0);
	assert_true(c->base < (unsigned long)-4096);
	/* Leave holes so the cases below sit in free space. */
	assert_int_equal(aspace_munmap(c->mm, c->base + 8 * P, 48 * P), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	aspace_mm_destroy(c->mm);
	free(c);
	return 0;
}

static void map(struct ctx *c, unsigned long pg, unsigned long n, int prot)
{
	long r = aspace_mmap(c->mm, c->base + pg * P, n * P, prot, ANON_PRIV | MAP_FIXED, -1, 0);

	assert_int_equal(r, (long)(c->base + pg * P));
}

static void prot(struct ctx *c, unsigned long pg, unsigned long n, int pr)
{
	assert_int_equal(aspace_mprotect(c->mm, c->base + pg * P, n * P, pr), 0);
}

static void expect(struct ctx *c, const char *want)
{
	char got[1024];

	maps_summary(c->mm, c->base, got, sizeof(got));
	assert_string_equal(got, want);
}

#define RW (PROT_READ | PROT_WRITE)
#define RO PROT_READ

static void case1_both(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 4, RW);
	map(c, 18, 4, RW);
	map(c, 14, 4, RW);
	expect(c, "0-8 ---p,10-22 rw-p,56-64 ---p");
}

static void case2_prev_only(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 4, RW);
	map(c, 18, 4, RO);
	map(c, 14, 4, RW);
	expect(c, "0-8 ---p,10-18 rw-p,18-22 r--p,56-64 ---p");
}

static void case3_next_only(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 4, RO);
	map(c, 18, 4, RW);
	map(c, 14, 4, RW);
	expect(c, "0-8 ---p,10-14 r--p,14-22 rw-p,56-64 ---p");
}

static void case4_tail_to_next(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 6, RW);
	map(c, 16, 6, RO);
	prot(c, 12, 4, RO);
	expect(c, "0-8 ---p,10-12 rw-p,12-22 r--p,56-64 ---p");
}

static void case5_head_to_prev(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 6, RW);
	map(c, 16, 6, RO);
	prot(c, 16, 4, RW);
	expect(c, "0-8 ---p,10-20 rw-p,20-22 r--p,56-64 ---p");
}

static void case6_all_three(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 4, RW);
	map(c, 14, 4, RO);
	map(c, 18, 4, RW);
	prot(c, 14, 4, RW);
	expect(c, "0-8 ---p,10-22 rw-p,56-64 ---p");
}

static void case7_into_prev(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 4, RW);
	map(c, 14, 4, RO);
	map(c, 18, 4, PROT_NONE);
	prot(c, 14, 4, RW);
	expect(c, "0-8 ---p,10-18 rw-p,18-22 ---p,56-64 ---p");
}

static void case8_into_next(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 4, PROT_NONE);
	map(c, 14, 4, RO);
	map(c, 18, 4, RW);
	prot(c, 14, 4, RW);
	expect(c, "0-8 ---p,10-14 ---p,14-22 rw-p,56-64 ---p");
}

static void noreserve_does_not_merge(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 4, RW);
	assert_int_equal(aspace_mmap(c->mm, c->base + 14 * P, 4 * P, RW,
				     ANON_PRIV | MAP_FIXED | MAP_NORESERVE, -1, 0),
			 (long)(c->base + 14 * P));
	expect(c, "0-8 ---p,10-14 rw-p,14-18 rw-p,56-64 ---p");
}

static void readonly_then_writable_gains_account(void **state)
{
	struct ctx *c = *state;

	/* r-- has no VM_ACCOUNT; turning it rw adds it, so it merges. */
	map(c, 10, 4, RW);
	map(c, 14, 4, RO);
	prot(c, 14, 4, RW);
	expect(c, "0-8 ---p,10-18 rw-p,56-64 ---p");
}

static void mremap_grow_merges_next(void **state)
{
	struct ctx *c = *state;

	map(c, 10, 4, RW);
	map(c, 18, 4, RW);
	assert_int_equal(aspace_mremap(c->mm, c->base + 10 * P, 4 * P, 8 * P, 0, 0),
			 (long)(c->base + 10 * P));
	expect(c, "0-8 ---p,10-22 rw-p,56-64 ---p");
}

static void mremap_move_unfaulted_takes_new_pgoff(void **state)
{
	struct ctx *c = *state;

	/* A never-faulted VMA moved next to a compatible one merges with it. */
	map(c, 10, 4, RW);
	map(c, 30, 4, RW);
	assert_int_equal(aspace_mremap(c->mm, c->base + 30 * P, 4 * P, 4 * P,
				       MREMAP_MAYMOVE | MREMAP_FIXED, c->base + 14 * P),
			 (long)(c->base + 14 * P));
	expect(c, "0-8 ---p,10-18 rw-p,56-64 ---p");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(case1_both, setup, teardown),
		cmocka_unit_test_setup_teardown(case2_prev_only, setup, teardown),
		cmocka_unit_test_setup_teardown(case3_next_only, setup, teardown),
		cmocka_unit_test_setup_teardown(case4_tail_to_next, setup, teardown),
		cmocka_unit_test_setup_teardown(case5_head_to_prev, setup, teardown),
		cmocka_unit_test_setup_teardown(case6_all_three, setup, teardown),
		cmocka_unit_test_setup_teardown(case7_into_prev, setup, teardown),
		cmocka_unit_test_setup_teardown(case8_into_next, setup, teardown),
		cmocka_unit_test_setup_teardown(noreserve_does_not_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(readonly_then_writable_gains_account, setup, teardown),
		cmocka_unit_test_setup_teardown(mremap_grow_merges_next, setup, teardown),
		cmocka_unit_test_setup_teardown(mremap_move_unfaulted_takes_new_pgoff, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
