/*
 * test_pgtable.c: entry encoding (present/protnone/swap/marker bits), the
 * 4-level walk (locked and lock-free agree), on-demand table allocation,
 * and free_pgd_range freeing exactly the tables a range emptied while
 * keeping those a neighbour still covers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "mm_mem.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "rcu.h"

static void test_entry_bits(void **state)
{
	pte_t e = pfn_pte(0x12345, _PAGE_PRESENT | _PAGE_USER);
	pte_t s, m;

	assert_true(pte_present(e));
	assert_false(pte_write(e));
	assert_int_equal(pte_pfn(e), 0x12345);
	e = pte_mkdirty(pte_mkwrite(e));
	assert_true(pte_write(e) && pte_dirty(e) && pte_soft_dirty(e));
	assert_int_equal(pte_pfn(pte_wrprotect(e)), 0x12345);
	assert_false(pte_write(pte_wrprotect(e)));
	assert_false(pte_dirty(pte_mkclean(e)));

	/* PROT_NONE keeps the frame but is not hardware-present. */
	e = (e & ~_PAGE_PRESENT) | _PAGE_PROTNONE;
	assert_true(pte_present(e));
	assert_true(pte_protnone(e));
	assert_false(is_swap_pte(e));

	s = swp_entry_to_pte(3, 0xabcde);
	assert_false(pte_present(s));
	assert_true(is_swap_pte(s));
	assert_int_equal(swp_type(s), 3);
	assert_int_equal(swp_offset(s), 0xabcde);
	assert_false(is_pte_marker(s));
	m = make_pte_marker(PTE_MARKER_UFFD_WP);
	assert_true(is_pte_marker(m));
	assert_int_equal(pte_marker_get(m), PTE_MARKER_UFFD_WP);
	assert_false(pte_none(m));
	assert_true(pte_none(0));
}

struct fixture {
	struct mm_mem mem;
	unsigned long free0;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->mem.pool = pool_create(4096 * FRAME_SIZE);
	spin_lock_init(&fx->mem.page_table_lock);
	pool_stats(fx->mem.pool, &fx->free0, NULL);
	assert_int_equal(pgd_alloc(&fx->mem), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	long a, s;
	unsigned long nfree;

	pgd_free_all(&fx->mem, &a, &s);
	pool_stats(fx->mem.pool, &nfree, NULL);
	assert_int_equal(nfree, fx->free0);
	pool_put(fx->mem.pool);
	free(fx);
	return 0;
}

static void set_entry(struct mm_mem *mem, unsigned long addr, pte_t e)
{
	spinlock_t *ptl;
	pte_t *ptep = pte_alloc_map_lock(mem, addr, &ptl);

	assert_non_null(ptep);
	set_pte(ptep, e);
	pte_unmap_unlock(ptep, ptl);
}

static void test_walk(void **state)
{
	struct fixture *fx = *state;
	struct mm_mem *mem = &fx->mem;
	const unsigned long addrs[] = { 0x10000, 0x7ffffffff000, 0x555555554000,
					0x200000, 0x1ff000 };
	spinlock_t *ptl;

	for (unsigned i = 0; i < 5; i++)
		set_entry(mem, addrs[i], make_pte_marker(i + 1));
	/* 0x1ff000 and 0x200000 are in neighbouring PTE tables. */
	assert_int_equal(atomic_load(&mem->nr_ptes), 4);
	rcu_read_lock();
	for (unsigned i = 0; i < 5; i++) {
		pte_t *ptep = pte_offset_lockless(mem, addrs[i]);

		assert_non_null(ptep);
		assert_int_equal(pte_marker_get(ptep_get(ptep)), i + 1);
	}
	assert_null(pte_offset_lockless(mem, 0x400000000000UL));
	rcu_read_unlock();
	assert_null(pte_offset_map_lock(mem, 0x400000000000UL, &ptl));
	{
		pte_t *ptep = pte_offset_map_lock(mem, 0x10000, &ptl);

		assert_non_null(ptep);
		assert_true(spin_is_locked(ptl));
		assert_ptr_equal(ptl, pte_lockptr(mem, ptep));
		pte_unmap_unlock(ptep, ptl);
	}
}

static void free_range(struct mm_mem *mem, unsigned long floor, unsigned long start,
		       unsigned long end, unsigned long ceiling)
{
	struct mmu_gather tlb;

	tlb_gather_mmu(&tlb, mem->pool);
	free_pgd_range(mem, &tlb, floor, start, end, ceiling);
	tlb_finish_mmu(&tlb);
}

static void clear_entry(struct mm_mem *mem, unsigned long addr)
{
	spinlock_t *ptl;
	pte_t *ptep = pte_offset_map_lock(mem, addr, &ptl);

	assert_non_null(ptep);
	ptep_get_and_clear(ptep);
	pte_unmap_unlock(ptep, ptl);
}

static void test_free_range(void **state)
{
	struct fixture *fx = *state;
	struct mm_mem *mem = &fx->mem;
	unsigned long base = 0x40000000UL; /* 1 GiB: its own PMD table */
	unsigned long nfree, with_tables;

	pool_stats(mem->pool, &with_tables, NULL);
	/* Neighbour at base (first page of a PTE table), range in the same
	 * table and the next one. */
	set_entry(mem, base, make_pte_marker(1));
	set_entry(mem, base + 0x1000, make_pte_marker(1));
	set_entry(mem, base + PMD_SIZE + 0x5000, make_pte_marker(1));
	assert_int_equal(atomic_load(&mem->nr_ptes), 2);
	assert_int_equal(atomic_load(&mem->nr_pmds), 1);

	/* Unmap [base+4K, base+4M): the first table is shared with the
	 * neighbour [base, base+4K), the second one is freed. */
	clear_entry(mem, base + 0x1000);
	clear_entry(mem, base + PMD_SIZE + 0x5000);
	free_range(mem, base + 0x1000, base + 0x1000, base + 2 * PMD_SIZE, 0);
	assert_int_equal(atomic_load(&mem->nr_ptes), 1);
	assert_int_equal(atomic_load(&mem->nr_pmds), 1);
	rcu_read_lock();
	assert_non_null(pte_offset_lockless(mem, base));
	assert_null(pte_offset_lockless(mem, base + PMD_SIZE));
	rcu_read_unlock();

	/* Now the neighbour goes too: everything down to the PUD is freed. */
	clear_entry(mem, base);
	free_range(mem, 0, base, base + 0x1000, 0);
	assert_int_equal(atomic_load(&mem->nr_ptes), 0);
	assert_int_equal(atomic_load(&mem->nr_pmds), 0);
	assert_int_equal(atomic_load(&mem->nr_puds), 0);
	pool_stats(mem->pool, &nfree, NULL);
	assert_int_equal(nfree, with_tables);

	/* A non-empty table is never freed, even inside the range. */
	set_entry(mem, base + 0x3000, make_pte_marker(1));
	free_range(mem, 0, base, base + PMD_SIZE, 0);
	assert_int_equal(atomic_load(&mem->nr_ptes), 1);
	clear_entry(mem, base + 0x3000);
	free_range(mem, 0, base, base + PMD_SIZE, 0);
	assert_int_equal(atomic_load(&mem->nr_ptes), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_bits),
		cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_range, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
