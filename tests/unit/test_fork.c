/*
 * test_fork.c: aspace_fork: COW in both directions, three generations,
 * PageAnonExclusive and reuse, RSS, MADV_DONTFORK / MADV_WIPEONFORK, shared
 * anonymous memory, teardown in any order returning every frame.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "folio.h"
#include "memory.h"
#include "mm.h"
#include "mm_mem.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "rcu.h"
#include "vma.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096UL

static struct aspace_mm *new_mm(void)
{
	struct aspace_mm *mm = NULL;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	return mm;
}

static unsigned long map_anon(struct aspace_mm *mm, unsigned long len)
{
	long a = aspace_mmap(mm, 0, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(a > 0);
	return (unsigned long)a;
}

static void put_long(struct aspace_mm *mm, unsigned long addr, long v)
{
	struct aspace_fault f;

	assert_int_equal(aspace_write(mm, addr, &v, sizeof(v), &f), 0);
}

static long get_long(struct aspace_mm *mm, unsigned long addr)
{
	struct aspace_fault f;
	long v = -1;

	assert_int_equal(aspace_read(mm, addr, &v, sizeof(v), &f), 0);
	return v;
}

static unsigned long default_free(void)
{
	unsigned long f, t;

	aspace_pool_stats(NULL, &f, &t);
	return f;
}

/* The PTE of addr in mm (0 when none). */
static pte_t pte_of(struct aspace_mm *amm, unsigned long addr)
{
	struct mm_mem *mem = mm_mem(to_mm(amm));
	pte_t *ptep, e = 0;

	rcu_read_lock();
	ptep = pte_offset_lockless(mem, addr);
	if (ptep)
		e = ptep_get(ptep);
	rcu_read_unlock();
	return e;
}

static struct page *page_of(struct aspace_mm *amm, unsigned long addr)
{
	pte_t e = pte_of(amm, addr);

	assert_true(pte_present(e));
	return pfn_to_page(mm_mem(to_mm(amm))->pool, pte_pfn(e));
}

static void test_cow_both_directions(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *parent = new_mm(), *child = NULL;
	unsigned long a = map_anon(parent, 4 * PG);
	struct aspace_stats st;

	for (int i = 0; i < 4; i++)
		put_long(parent, a + i * PG, 100 + i);
	assert_true(PageAnonExclusive(page_of(parent, a)));
	assert_int_equal(aspace_fork(parent, &child), 0);

	/* Shared, write-protected, no longer exclusive. */
	assert_ptr_equal(page_of(parent, a), page_of(child, a));
	assert_false(pte_write(pte_of(parent, a)));
	assert_false(pte_write(pte_of(child, a)));
	assert_false(PageAnonExclusive(page_of(parent, a)));
	assert_int_equal(folio_mapcount(page_folio(page_of(parent, a))), 2);
	aspace_mm_stats(child, &st);
	assert_int_equal(st.rss_anon, 4);
	assert_int_equal(st.nr_vmas, 1);

	/* Child writes: parent unaffected. */
	put_long(child, a, 7);
	assert_int_equal(get_long(child, a), 7);
	assert_int_equal(get_long(parent, a), 100);
	/* Parent writes: child unaffected. */
	put_long(parent, a + PG, 8);
	assert_int_equal(get_long(parent, a + PG), 8);
	assert_int_equal(get_long(child, a + PG), 101);
	aspace_mm_stats(child, &st);
	assert_int_equal(st.cow_faults, 1);
	aspace_mm_stats(parent, &st);
	assert_int_equal(st.cow_faults, 1);

	/* Once the child is gone the parent reuses its pages: no copy. */
	aspace_mm_destroy(child);
	put_long(parent, a + 2 * PG, 9);
	put_long(parent, a + 3 * PG, 10);
	aspace_mm_stats(parent, &st);
	assert_int_equal(st.cow_faults, 1);
	assert_true(PageAnonExclusive(page_of(parent, a + 2 * PG)));
	assert_int_equal(get_long(parent, a + 2 * PG), 9);
	aspace_mm_destroy(parent);
	assert_int_equal(default_free(), free0);
}

static void test_three_generations(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *g1 = new_mm(), *g2, *g3, *g2b;
	unsigned long a = map_anon(g1, 2 * PG);

	put_long(g1, a, 1);
	put_long(g1, a + PG, 11);
	assert_int_equal(aspace_fork(g1, &g2), 0);
	put_long(g2, a, 2);
	assert_int_equal(aspace_fork(g2, &g3), 0);
	assert_int_equal(aspace_fork(g2, &g2b), 0);
	put_long(g3, a, 3);
	assert_int_equal(get_long(g1, a), 1);
	assert_int_equal(get_long(g2, a), 2);
	assert_int_equal(get_long(g3, a), 3);
	assert_int_equal(get_long(g2b, a), 2);
	/* The untouched page is shared by all four. */
	assert_int_equal(folio_mapcount(page_folio(page_of(g1, a + PG))), 4);
	put_long(g1, a + PG, 12);
	assert_int_equal(get_long(g3, a + PG), 11);
	/* Tear down in mixed order. */
	aspace_mm_destroy(g2);
	assert_int_equal(get_long(g3, a), 3);
	assert_int_equal(get_long(g2b, a), 2);
	aspace_mm_destroy(g1);
	put_long(g3, a + PG, 13);
	assert_int_equal(get_long(g2b, a + PG), 11);
	aspace_mm_destroy(g3);
	aspace_mm_destroy(g2b);
	assert_int_equal(default_free(), free0);
}

static void test_dontfork_wipeonfork(void **state)
{
	struct aspace_mm *p = new_mm(), *c;
	unsigned long a = map_anon(p, 3 * PG);
	struct aspace_fault f;
	struct aspace_stats st;
	long v;

	for (int i = 0; i < 3; i++)
		put_long(p, a + i * PG, 50 + i);
	assert_int_equal(aspace_madvise(p, a, PG, MADV_DONTFORK), 0);
	assert_int_equal(aspace_madvise(p, a + 2 * PG, PG, MADV_WIPEONFORK), 0);
	assert_int_equal(aspace_fork(p, &c), 0);
	aspace_mm_stats(c, &st);
	assert_int_equal(st.nr_vmas, 2);
	assert_int_equal(aspace_read(c, a, &v, sizeof(v), &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_MAPERR);
	assert_int_equal(get_long(c, a + PG), 51);
	assert_int_equal(get_long(c, a + 2 * PG), 0);
	assert_int_equal(get_long(p, a + 2 * PG), 52);
	/* The parent's DONTFORK page was never write-protected. */
	assert_true(pte_write(pte_of(p, a)));
	aspace_mm_destroy(c);
	aspace_mm_destroy(p);
}

static void test_shared_anon_fork(void **state)
{
	struct aspace_mm *p = new_mm(), *c;
	long a = aspace_mmap(p, 0, 2 * PG, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(a > 0);
	put_long(p, (unsigned long)a, 5);
	assert_int_equal(aspace_fork(p, &c), 0);
	put_long(c, (unsigned long)a, 6);
	assert_int_equal(get_long(p, (unsigned long)a), 6);
	put_long(p, (unsigned long)a + 8, 7);
	assert_int_equal(get_long(c, (unsigned long)a + 8), 7);
	aspace_mm_destroy(p);
	assert_int_equal(get_long(c, (unsigned long)a), 6);
	aspace_mm_destroy(c);
}

static void test_fork_zero_page_and_readonly(void **state)
{
	struct aspace_mm *p = new_mm(), *c;
	unsigned long a = map_anon(p, 2 * PG);
	struct aspace_fault f;
	struct aspace_stats st;
	long v;

	/* Zero page mapped in the parent: child reads zero, writes its own. */
	assert_int_equal(aspace_read(p, a, &v, sizeof(v), &f), 0);
	assert_int_equal(aspace_fork(p, &c), 0);
	assert_int_equal(get_long(c, a), 0);
	put_long(c, a, 77);
	assert_int_equal(get_long(p, a), 0);
	aspace_mm_stats(c, &st);
	assert_int_equal(st.rss_anon, 1);
	/* mprotect of a COW page to RW keeps it write-protected. */
	put_long(p, a + PG, 1);
	aspace_mm_destroy(c);
	assert_int_equal(aspace_fork(p, &c), 0);
	assert_int_equal(aspace_mprotect(c, a, 2 * PG, PROT_READ), 0);
	assert_int_equal(aspace_mprotect(c, a, 2 * PG, PROT_READ | PROT_WRITE), 0);
	assert_false(pte_write(pte_of(c, a + PG)));
	put_long(c, a + PG, 2);
	assert_int_equal(get_long(p, a + PG), 1);
	aspace_mm_destroy(c);
	aspace_mm_destroy(p);
}

/* A fault as GUP would raise it: under mmap_lock, no retry. */
static vm_fault_t gup_fault(struct aspace_mm *amm, unsigned long addr, unsigned int flags)
{
	struct mm_struct *mm = to_mm(amm);
	struct vm_area_struct *vma;
	vm_fault_t ret;

	mmap_read_lock(mm);
	vma = find_vma(mm, addr);
	assert_non_null(vma);
	ret = handle_mm_fault(vma, addr, flags, NULL);
	mmap_read_unlock(mm);
	return ret;
}

static void test_unshare(void **state)
{
	struct aspace_mm *p = new_mm(), *c;
	unsigned long a = map_anon(p, 3 * PG);
	long ro;
	struct page *before, *after;
	struct aspace_stats st;

	put_long(p, a, 31);
	assert_int_equal(aspace_fork(p, &c), 0);

	/* FAULT_FLAG_UNSHARE on a COW page: a private copy, still read-only. */
	before = page_of(c, a);
	assert_int_equal(gup_fault(c, a, FAULT_FLAG_UNSHARE), 0);
	after = page_of(c, a);
	assert_ptr_not_equal(before, after);
	assert_true(PageAnonExclusive(after));
	assert_false(pte_write(pte_of(c, a)));
	assert_int_equal(get_long(c, a), 31);
	assert_int_equal(folio_mapcount(page_folio(before)), 1);
	/* A second unshare finds it exclusive: nothing to do. */
	assert_int_equal(gup_fault(c, a, FAULT_FLAG_UNSHARE), 0);
	assert_ptr_equal(page_of(c, a), after);
	/* The write fault that follows reuses it without copying. */
	aspace_mm_stats(c, &st);
	put_long(c, a, 32);
	assert_ptr_equal(page_of(c, a), after);
	assert_true(pte_write(pte_of(c, a)));
	assert_int_equal(get_long(p, a), 31);

	/* The shared zero page in a private writable mapping is unshared too. */
	assert_int_equal(aspace_read(c, a + PG, &ro, sizeof(ro), NULL), 0);
	assert_true(pte_special(pte_of(c, a + PG)));
	assert_int_equal(gup_fault(c, a + PG, FAULT_FLAG_UNSHARE), 0);
	assert_false(pte_special(pte_of(c, a + PG)));
	assert_false(pte_write(pte_of(c, a + PG)));
	assert_true(PageAnonExclusive(page_of(c, a + PG)));
	assert_int_equal(get_long(c, a + PG), 0);

	/* Nothing mapped: nothing to unshare. */
	assert_int_equal(gup_fault(c, a + 2 * PG, FAULT_FLAG_UNSHARE), 0);
	assert_int_equal(pte_of(c, a + 2 * PG), 0);
	/* UNSHARE with WRITE, or on a shared mapping, is a bug: SIGSEGV. */
	assert_int_equal(gup_fault(c, a, FAULT_FLAG_UNSHARE | FAULT_FLAG_WRITE), VM_FAULT_SIGSEGV);
	{
		long s = aspace_mmap(c, 0, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		assert_int_equal(gup_fault(c, (unsigned long)s, FAULT_FLAG_UNSHARE), VM_FAULT_SIGSEGV);
	}
	aspace_mm_destroy(c);
	aspace_mm_destroy(p);
}

static void test_fork_copies_pinned_page(void **state)
{
	struct aspace_mm *p = new_mm(), *c;
	unsigned long a = map_anon(p, PG);
	struct page *pg;

	put_long(p, a, 41);
	pg = page_of(p, a);
	/* What a FOLL_PIN would leave behind (the GUP issue). */
	folio_get(page_folio(pg));
	atomic_fetch_add(&pg->_pincount, 1);
	assert_int_equal(aspace_fork(p, &c), 0);
	/* The child got its own copy; the parent's mapping is untouched. */
	assert_ptr_not_equal(page_of(c, a), pg);
	assert_ptr_equal(page_of(p, a), pg);
	assert_true(PageAnonExclusive(pg));
	assert_true(pte_write(pte_of(p, a)));
	assert_int_equal(get_long(c, a), 41);
	put_long(p, a, 42); /* the pin sees what the parent writes */
	assert_int_equal(get_long(c, a), 41);
	assert_int_equal(((long *)page_address(pg))[0], 42);
	atomic_fetch_sub(&pg->_pincount, 1);
	folio_put(page_folio(pg));
	aspace_mm_destroy(c);
	aspace_mm_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cow_both_directions),
		cmocka_unit_test(test_three_generations),
		cmocka_unit_test(test_dontfork_wipeonfork),
		cmocka_unit_test(test_shared_anon_fork),
		cmocka_unit_test(test_fork_zero_page_and_readonly),
		cmocka_unit_test(test_unshare),
		cmocka_unit_test(test_fork_copies_pinned_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
