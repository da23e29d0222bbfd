/*
 * test_vma_limit: vm.max_map_count (65530) is enforced where Linux enforces
 * it: mmap refuses once map_count exceeds the limit (so the last mmap may
 * reach 65531, as on the kernel), a split that would add a VMA at the limit
 * fails (munmap of a middle part, mprotect of part of a VMA), while an
 * munmap that splits nothing still works.  Also: destroying an mm returns
 * every allocation.
 */
#include "testutil.h"
#include "alloc.h"

#include <errno.h>
#include <sys/mman.h>

static void at_the_limit(void **state)
{
	struct aspace_mm *mm;
	struct aspace_stats st;
	unsigned long base;
	long live = alloc_live();
	long i, r = 0;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	base = (unsigned long)aspace_mmap(mm, 0, 140000 * P, PROT_NONE,
					  ANON_PRIV | MAP_NORESERVE, -1, 0);
	assert_true(base < (unsigned long)-4096);
	for (i = 0; i < 70000; i++) {
		r = aspace_mmap(mm, base + 2 * i * P, P, PROT_READ, ANON_PRIV | MAP_FIXED, -1, 0);
		if (r < 0)
			break;
	}
	/* Each mmap splits the PROT_NONE tail in its middle: refused at 65530. */
	assert_int_equal(r, -ENOMEM);
	aspace_mm_stats(mm, &st);
	assert_int_equal(st.nr_vmas, 65530);

	/* Splitting the big PROT_NONE tail in its middle: ENOMEM. */
	assert_int_equal(aspace_munmap(mm, base + 2 * (i + 5) * P, P), -ENOMEM);
	assert_int_equal(aspace_mprotect(mm, base + 2 * (i + 10) * P, P, PROT_READ), -ENOMEM);
	/* Unmapping a whole VMA needs no split. */
	assert_int_equal(aspace_munmap(mm, base, P), 0);
	aspace_mm_stats(mm, &st);
	assert_int_equal(st.nr_vmas, 65529);
	/*
	 * do_mmap refuses only once map_count is *above* the limit, so at
	 * exactly 65530 one more mapping that splits nothing is allowed, as on
	 * the kernel (which reaches 65531 the same way).
	 */
	assert_true(aspace_mmap(mm, 0, P, PROT_READ | PROT_EXEC, ANON_PRIV, -1, 0) > 0);
	assert_true(aspace_mmap(mm, 0, P, PROT_EXEC, ANON_PRIV, -1, 0) > 0);
	aspace_mm_stats(mm, &st);
	assert_int_equal(st.nr_vmas, 65531);
	assert_int_equal(aspace_mmap(mm, 0, P, PROT_WRITE, ANON_PRIV, -1, 0), -ENOMEM);
	aspace_mm_destroy(mm);
	test_rcu_barrier();
	assert_int_equal(alloc_live(), live);
}

static void destroy_returns_everything(void **state)
{
	long live = alloc_live();
	struct aspace_mm *mm;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	for (int i = 0; i < 1000; i++) {
		unsigned long a = (unsigned long)aspace_mmap(mm, 0, (1 + i % 7) * P,
							     i % 3 ? PROT_READ : PROT_NONE,
							     ANON_PRIV, -1, 0);
		if (i % 5 == 0)
			aspace_munmap(mm, a, P);
		if (i % 4 == 0)
			aspace_mprotect(mm, a, P, PROT_READ | PROT_WRITE);
	}
	aspace_brk(mm, aspace_brk(mm, 0) + 10 * P);
	aspace_mm_destroy(mm);
	test_rcu_barrier();
	assert_int_equal(alloc_live(), live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(at_the_limit),
		cmocka_unit_test(destroy_returns_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
