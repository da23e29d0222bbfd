/*
 * test_mlock: mlock2/munlock/mlockall/munlockall: argument errors as Linux,
 * VM_LOCKED splits and merges like mprotect (visible in the maps view as
 * separate VMAs), holes give ENOMEM, and MCL_FUTURE locks later mappings.
 */
#include "testutil.h"
#include "mm.h"

#include <errno.h>
#include <sys/mman.h>

static unsigned long vm_flags_at(struct aspace_mm *amm, unsigned long addr)
{
	struct mm_struct *mm = to_mm(amm);
	struct vm_area_struct *vma;
	unsigned long f;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	f = vma ? vma->vm_flags : 0;
	mmap_read_unlock(mm);
	return f;
}

static void mlock_split_merge_and_errors(void **state)
{
	struct aspace_mm *mm;
	unsigned long a;
	char got[512];

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	a = (unsigned long)aspace_mmap(mm, 0, 8 * P, PROT_READ | PROT_WRITE, ANON_PRIV, -1, 0);
	assert_int_equal(aspace_mlock2(mm, a, P, 2), -EINVAL);
	assert_int_equal(aspace_mlock2(mm, a + 2 * P, 2 * P, 0), 0);
	maps_summary(mm, a, got, sizeof(got));
	assert_string_equal(got, "0-2 rw-p,2-4 rw-p,4-8 rw-p");
	assert_true(vm_flags_at(mm, a + 2 * P) & VM_LOCKED);
	assert_false(vm_flags_at(mm, a) & VM_LOCKED);
	/* Unaligned start and length round out to whole pages. */
	assert_int_equal(aspace_munlock(mm, a + 2 * P + 100, 2 * P - 200), 0);
	maps_summary(mm, a, got, sizeof(got));
	assert_string_equal(got, "0-8 rw-p");
	/* A hole is ENOMEM, after the part before it was done. */
	assert_int_equal(aspace_munmap(mm, a + 6 * P, P), 0);
	assert_int_equal(aspace_mlock2(mm, a + 4 * P, 4 * P, 1), -ENOMEM);
	assert_int_equal(vm_flags_at(mm, a + 4 * P) & VM_LOCKED_MASK, VM_LOCKED | VM_LOCKONFAULT);
	assert_int_equal(aspace_mlock2(mm, a + 6 * P, P, 0), -ENOMEM);
	aspace_mm_destroy(mm);
}

static void mlockall_current_and_future(void **state)
{
	struct aspace_mm *mm;
	unsigned long a, b;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	assert_int_equal(aspace_mlockall(mm, 0), -EINVAL);
	assert_int_equal(aspace_mlockall(mm, MCL_ONFAULT), -EINVAL);
	assert_int_equal(aspace_mlockall(mm, 0x100), -EINVAL);
	a = (unsigned long)aspace_mmap(mm, 0, 4 * P, PROT_READ, ANON_PRIV, -1, 0);
	assert_int_equal(aspace_mlockall(mm, MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT), 0);
	assert_int_equal(vm_flags_at(mm, a) & VM_LOCKED_MASK, VM_LOCKED | VM_LOCKONFAULT);
	b = (unsigned long)aspace_mmap(mm, 0, 4 * P, PROT_READ | PROT_WRITE, ANON_PRIV, -1, 0);
	assert_int_equal(vm_flags_at(mm, b) & VM_LOCKED_MASK, VM_LOCKED | VM_LOCKONFAULT);
	assert_int_equal(aspace_munlockall(mm), 0);
	assert_int_equal(vm_flags_at(mm, a) & VM_LOCKED_MASK, 0);
	assert_int_equal(vm_flags_at(mm, b) & VM_LOCKED_MASK, 0);
	b = (unsigned long)aspace_mmap(mm, 0, 4 * P, PROT_READ, ANON_PRIV, -1, 0);
	assert_int_equal(vm_flags_at(mm, b) & VM_LOCKED_MASK, 0);
	aspace_mm_destroy(mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mlock_split_merge_and_errors),
		cmocka_unit_test(mlockall_current_and_future),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
