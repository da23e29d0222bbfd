/*
 * pgtable.c: allocating, walking and freeing the 4-level page tables
 * (entry format and locks in pgtable.h).
 *
 * Upper levels (PGD/PUD/PMD entries) are populated under
 * mem->page_table_lock with a re-check, so two faults racing to populate
 * the same slot install one table and the loser frees its own (never
 * published, so freed at once).  A PTE table is locked through the ptl in
 * its frame's struct page; after taking it we re-check that the PMD entry
 * still points at the table, so a lock taken on a table that
 * free_pgd_range has just unhooked is dropped and the walk retried.
 *
 * free_pgd_range unhooks empty tables under page_table_lock, then takes and
 * drops the table's ptl (waiting out anyone who locked it before the
 * unhook), then queues the frame on the mmu_gather: it is reused only
 * after an RCU grace period, so a lock-free walker that read the old PMD
 * entry still reads a valid (empty) table.
 */
#include "pgtable.h"
#include "mm_mem.h"
#include "debug.h"
#include "rcu.h"

#include <errno.h>

static const unsigned int level_shift[4] = { 12, PMD_SHIFT, PUD_SHIFT, PGDIR_SHIFT };

static inline uint64_t *entry_table(struct mm_mem *mem, uint64_t e)
{
	return pfn_to_virt(mem->pool, pte_pfn(e));
}

static inline struct page *table_page(struct mm_mem *mem, const void *table)
{
	unsigned long pfn = (unsigned long)((const char *)table - mem->pool->base) >> 12;

	return pfn_to_page(mem->pool, pfn);
}

spinlock_t *pte_lockptr(struct mm_mem *mem, pte_t *ptep)
{
	return &table_page(mem, ptep)->ptl;
}

static struct page *table_alloc(struct mm_mem *mem)
{
	struct page *page = alloc_zeroed_page(mem->pool);

	if (page)
		set_page_flag(page, PG_pgtable);
	return page;
}

/* A table that was never published (or no walker can reach any more). */
static void table_free_now(struct page *page)
{
	clear_page_flag(page, PG_pgtable);
	atomic_store_explicit(&page->_refcount, 0, memory_order_relaxed);
	__free_pages(page, 0);
}

int pgd_alloc(struct mm_mem *mem)
{
	mem->pgd_page = table_alloc(mem);
	if (!mem->pgd_page)
		return -ENOMEM;
	mem->pgd = page_address(mem->pgd_page);
	return 0;
}

/* ------------------------------------------------------------- walking */

pte_t *pte_offset_lockless(struct mm_mem *mem, unsigned long addr)
{
	uint64_t e, *t;

	e = __atomic_load_n(&mem->pgd[pgd_index(addr)], __ATOMIC_ACQUIRE);
	if (unlikely(!(e & _PAGE_PRESENT)))
		return NULL;
	t = entry_table(mem, e);
	e = __atomic_load_n(&t[pud_index(addr)], __ATOMIC_ACQUIRE);
	if (unlikely(!(e & _PAGE_PRESENT)))
		return NULL;
	t = entry_table(mem, e);
	e = __atomic_load_n(&t[pmd_index(addr)], __ATOMIC_ACQUIRE);
	if (unlikely(!(e & _PAGE_PRESENT)))
		return NULL;
	t = entry_table(mem, e);
	return &t[pte_index(addr)];
}

/* The slot of the PMD entry for addr, allocating PUD/PMD tables when
 * `alloc`; NULL if missing (or out of frames). */
static pmd_t *pmd_slot(struct mm_mem *mem, unsigned long addr, bool alloc)
{
	uint64_t *slot = &mem->pgd[pgd_index(addr)];

	for (int level = 3; level >= 2; level--) {
		uint64_t e = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		unsigned int idx;

		if (unlikely(!(e & _PAGE_PRESENT))) {
			struct page *new;

			if (!alloc)
				return NULL;
			new = table_alloc(mem);
			if (!new)
				return NULL;
			spin_lock(&mem->page_table_lock);
			e = __atomic_load_n(slot, __ATOMIC_RELAXED);
			if (!(e & _PAGE_PRESENT)) {
				e = pfn_pte(page_to_pfn(new), _PAGE_TABLE);
				/* Release: the zeroed table is seen before the entry. */
				__atomic_store_n(slot, e, __ATOMIC_RELEASE);
				atomic_fetch_add(level == 3 ? &mem->nr_puds : &mem->nr_pmds, 1);
				new = NULL;
			}
			spin_unlock(&mem->page_table_lock);
			if (new)
				table_free_now(new);
		}
		idx = level == 3 ? pud_index(addr) : pmd_index(addr);
		slot = &entry_table(mem, e)[idx];
	}
	return slot;
}

static pte_t *lock_pte_table(struct mm_mem *mem, pmd_t *pmdp, unsigned long addr,
			     spinlock_t **ptlp, bool *retry)
{
	pmd_t e;
	pte_t *table;
	spinlock_t *ptl;

	*retry = false;
	rcu_read_lock();
	e = __atomic_load_n(pmdp, __ATOMIC_ACQUIRE);
	if (!(e & _PAGE_PRESENT)) {
		rcu_read_unlock();
		return NULL;
	}
	table = entry_table(mem, e);
	ptl = &table_page(mem, table)->ptl;
	spin_lock(ptl);
	if (unlikely(__atomic_load_n(pmdp, __ATOMIC_RELAXED) != e)) {
		/* Unhooked (or replaced) while we were taking the lock. */
		spin_unlock(ptl);
		rcu_read_unlock();
		*retry = true;
		return NULL;
	}
	rcu_read_unlock();
	*ptlp = ptl;
	return &table[pte_index(addr)];
}

pte_t *pte_offset_map_lock(struct mm_mem *mem, unsigned long addr, spinlock_t **ptlp)
{
	for (;;) {
		pmd_t *pmdp = pmd_slot(mem, addr, false);
		pte_t *ptep;
		bool retry;

		if (!pmdp)
			return NULL;
		ptep = lock_pte_table(mem, pmdp, addr, ptlp, &retry);
		if (ptep || !retry)
			return ptep;
	}
}

pte_t *pte_alloc_map_lock(struct mm_mem *mem, unsigned long addr, spinlock_t **ptlp)
{
	for (;;) {
		pmd_t *pmdp = pmd_slot(mem, addr, true);
		pte_t *ptep;
		bool retry;

		if (!pmdp)
			return NULL;
		if (unlikely(!(__atomic_load_n(pmdp, __ATOMIC_ACQUIRE) & _PAGE_PRESENT))) {
			struct page *new = table_alloc(mem);

			if (!new)
				return NULL;
			spin_lock(&mem->page_table_lock);
			if (!(__atomic_load_n(pmdp, __ATOMIC_RELAXED) & _PAGE_PRESENT)) {
				__atomic_store_n(pmdp, pfn_pte(page_to_pfn(new), _PAGE_TABLE),
						 __ATOMIC_RELEASE);
				atomic_fetch_add(&mem->nr_ptes, 1);
				new = NULL;
			}
			spin_unlock(&mem->page_table_lock);
			if (new)
				table_free_now(new);
		}
		ptep = lock_pte_table(mem, pmdp, addr, ptlp, &retry);
		if (ptep)
			return ptep;
		/* Unhooked under us (or never there): populate again. */
	}
}

pte_t *pte_table_lookup(struct mm_mem *mem, unsigned long addr, unsigned long *next)
{
	uint64_t *t = mem->pgd;

	for (int level = 3; level >= 1; level--) {
		unsigned int shift = level_shift[level];
		uint64_t e = __atomic_load_n(&t[(addr >> shift) & 511], __ATOMIC_ACQUIRE);

		if (!(e & _PAGE_PRESENT)) {
			*next = (addr & ~((1UL << shift) - 1)) + (1UL << shift);
			return NULL;
		}
		t = entry_table(mem, e);
	}
	*next = (addr & PMD_MASK) + PMD_SIZE;
	return t;
}

/* ------------------------------------------------------------- freeing */

static bool table_empty(const uint64_t *t)
{
	for (int i = 0; i < PTRS_PER_TABLE; i++)
		if (__atomic_load_n(&t[i], __ATOMIC_RELAXED))
			return false;
	return true;
}

/*
 * `table` is at `level` (1 = PMD table whose entries point to PTE tables)
 * and covers [base, base + 512 * entry size).  Free the child tables that
 * meet [start, end), are empty, and lie wholly inside [floor, ceiling).
 */
static void free_level(struct mm_mem *mem, struct mmu_gather *tlb, uint64_t *table,
		       int level, unsigned long base, unsigned long start,
		       unsigned long end, unsigned long floor, unsigned long ceiling)
{
	unsigned int shift = level_shift[level];
	unsigned long size = 1UL << shift;
	unsigned int first = (unsigned int)((start - base) >> shift);
	unsigned int last = (unsigned int)((end - 1 - base) >> shift);

	for (unsigned int i = first; i <= last && i < PTRS_PER_TABLE; i++) {
		unsigned long cstart = base + i * size, cend = cstart + size;
		uint64_t e = __atomic_load_n(&table[i], __ATOMIC_ACQUIRE);
		uint64_t *child;
		struct page *cpage;

		if (!(e & _PAGE_PRESENT))
			continue;
		child = entry_table(mem, e);
		if (level > 1)
			free_level(mem, tlb, child, level - 1, cstart,
				   start > cstart ? start : cstart,
				   end < cend ? end : cend, floor, ceiling);
		if (cstart < floor || cend > ceiling)
			continue; /* a neighbour may still use part of it */
		if (!table_empty(child))
			continue;
		spin_lock(&mem->page_table_lock);
		__atomic_store_n(&table[i], 0, __ATOMIC_RELEASE);
		spin_unlock(&mem->page_table_lock);
		cpage = table_page(mem, child);
		if (level == 1) {
			/* Wait out a holder that locked it before the unhook. */
			spin_lock(&cpage->ptl);
			spin_unlock(&cpage->ptl);
			atomic_fetch_sub(&mem->nr_ptes, 1);
		} else {
			atomic_fetch_sub(level == 2 ? &mem->nr_pmds : &mem->nr_puds, 1);
		}
		clear_page_flag(cpage, PG_pgtable);
		atomic_store_explicit(&cpage->_refcount, 0, memory_order_relaxed);
		tlb_remove_table(tlb, cpage);
	}
}

void free_pgd_range(struct mm_mem *mem, struct mmu_gather *tlb, unsigned long floor,
		    unsigned long start, unsigned long end, unsigned long ceiling)
{
	if (!ceiling || ceiling > ADDR_LIMIT)
		ceiling = ADDR_LIMIT;
	if (end > ADDR_LIMIT)
		end = ADDR_LIMIT;
	if (start >= end)
		return;
	free_level(mem, tlb, mem->pgd, 3, 0, start, end, floor, ceiling);
}

/* Teardown of one table and everything below it, freeing at once. */
static void free_all_level(struct mm_mem *mem, uint64_t *table, int level,
			   long *rss_anon, long *rss_shmem)
{
	for (int i = 0; i < PTRS_PER_TABLE; i++) {
		uint64_t e = table[i];

		if (!e)
			continue;
		table[i] = 0;
		if (level == 0) {
			struct folio *folio;

			if (!pte_present(e) || pte_special(e))
				continue; /* swap/marker entries hold no frame yet */
			folio = page_folio(pfn_to_page(mem->pool, pte_pfn(e)));
			if (folio_test_anon(folio))
				(*rss_anon)++;
			else
				(*rss_shmem)++;
			folio_add_mapcount(folio, -1);
			folio_put(folio);
			continue;
		}
		free_all_level(mem, entry_table(mem, e), level - 1, rss_anon, rss_shmem);
		table_free_now(table_page(mem, entry_table(mem, e)));
	}
}

void pgd_free_all(struct mm_mem *mem, long *rss_anon, long *rss_shmem)
{
	*rss_anon = *rss_shmem = 0;
	if (!mem->pgd)
		return;
	free_all_level(mem, mem->pgd, 3, rss_anon, rss_shmem);
	table_free_now(mem->pgd_page);
	mem->pgd = NULL;
	mem->pgd_page = NULL;
	atomic_store(&mem->nr_ptes, 0);
	atomic_store(&mem->nr_pmds, 0);
	atomic_store(&mem->nr_puds, 0);
}
