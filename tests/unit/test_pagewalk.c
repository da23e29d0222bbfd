/*
 * test_pagewalk: walk_page_range visits what is mapped and reports holes,
 * and each walk_lock mode enforces its rule (seed 000): RDLOCK needs
 * mmap_lock, WRLOCK needs it for write and write-locks every VMA walked,
 * WRLOCK_VERIFY needs every VMA already write-locked.  Broken rules abort
 * with the rule's message.
 */
#include "testutil.h"
#include "mm.h"
#include "pagewalk.h"

#include <sys/mman.h>

struct counts {
	int present, none, holes_vma, holes_table;
};

static int count_pte(pte_t *ptep, unsigned long addr, unsigned long next, struct mm_walk *walk)
{
	struct counts *c = walk->private;

	if (pte_present(ptep_get(ptep)))
		c->present++;
	else
		c->none++;
	return 0;
}

static int count_hole(unsigned long addr, unsigned long next, int depth, struct mm_walk *walk)
{
	struct counts *c = walk->private;
	int pages = (int)((next - addr) / P);

	if (depth < 0)
		c->holes_vma += pages;
	else
		c->holes_table += pages;
	return 0;
}

static const struct mm_walk_ops rd_ops = {
	.pte_entry = count_pte, .pte_hole = count_hole, .walk_lock = PGWALK_RDLOCK,
};
static const struct mm_walk_ops wr_ops = {
	.pte_entry = count_pte, .pte_hole = count_hole, .walk_lock = PGWALK_WRLOCK,
};
static const struct mm_walk_ops verify_ops = {
	.pte_entry = count_pte, .walk_lock = PGWALK_WRLOCK_VERIFY,
};

struct fx {
	struct aspace_mm *amm;
	struct mm_struct *mm;
	unsigned long a;
};

/* 8 pages: 0-3 mapped rw (pages 0 and 2 touched), 4-5 unmapped, 6-7 mapped. */
static struct fx make(void)
{
	struct aspace_fault f;
	struct fx x;

	assert_int_equal(aspace_mm_create(NULL, &x.amm), 0);
	x.mm = to_mm(x.amm);
	x.a = (unsigned long)aspace_mmap(x.amm, 0, 8 * P, PROT_READ | PROT_WRITE, ANON_PRIV, -1, 0);
	assert_int_equal(aspace_munmap(x.amm, x.a + 4 * P, 2 * P), 0);
	assert_int_equal(aspace_write(x.amm, x.a, "x", 1, &f), 0);
	assert_int_equal(aspace_write(x.amm, x.a + 2 * P, "y", 1, &f), 0);
	return x;
}

static void walks_what_is_mapped(void **state)
{
	struct fx x = make();
	struct counts c = { 0 };

	mmap_read_lock(x.mm);
	assert_int_equal(walk_page_range(x.mm, x.a, x.a + 8 * P, &rd_ops, &c), 0);
	mmap_read_unlock(x.mm);
	assert_int_equal(c.present, 2);
	assert_int_equal(c.holes_vma, 2);
	/* The rest are empty PTE slots or pages without a table. */
	assert_int_equal(c.none + c.holes_table, 4);
	aspace_mm_destroy(x.amm);
}

static void wrlock_write_locks_each_vma(void **state)
{
	struct fx x = make();
	struct counts c = { 0 };

	mmap_write_lock(x.mm);
	assert_int_equal(walk_page_range(x.mm, x.a, x.a + 8 * P, &wr_ops, &c), 0);
	assert_true(vma_is_write_locked(vma_lookup(x.mm, x.a)));
	assert_true(vma_is_write_locked(vma_lookup(x.mm, x.a + 6 * P)));
	/* Now every VMA is write-locked: the VERIFY mode is content. */
	assert_int_equal(walk_page_range(x.mm, x.a, x.a + 8 * P, &verify_ops, &c), 0);
	mmap_write_unlock(x.mm);
	aspace_mm_destroy(x.amm);
}

static void rdlock_without_mmap_lock(void *arg)
{
	struct fx x = make();
	struct counts c = { 0 };

	walk_page_range(x.mm, x.a, x.a + 8 * P, &rd_ops, &c);
}

static void wrlock_under_read_lock(void *arg)
{
	struct fx x = make();
	struct counts c = { 0 };

	mmap_read_lock(x.mm);
	walk_page_range(x.mm, x.a, x.a + 8 * P, &wr_ops, &c);
}

static void verify_without_vma_locks(void *arg)
{
	struct fx x = make();
	struct counts c = { 0 };

	mmap_write_lock(x.mm);
	walk_page_range(x.mm, x.a, x.a + 8 * P, &verify_ops, &c);
}

static void broken_walk_rules_abort(void **state)
{
	assert_true(expect_abort(rdlock_without_mmap_lock, NULL, "mmap_assert_locked broken"));
	assert_true(expect_abort(wrlock_under_read_lock, NULL, "mmap_assert_write_locked broken"));
	assert_true(expect_abort(verify_without_vma_locks, NULL, "vma_assert_write_locked broken"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(walks_what_is_mapped),
		cmocka_unit_test(wrlock_write_locks_each_vma),
		cmocka_unit_test(broken_walk_rules_abort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
