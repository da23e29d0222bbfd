/*
 * mm_mem.c: an mm's memory layer from birth to death, and the page-table
 * operations the VMA layer's system calls use: free_pgtables (munmap),
 * change_protection (mprotect), move_page_tables (mremap).
 *
 * Locks (see mm_mem.h for the fields): these run with mmap_lock held for
 * write and the VMAs concerned write-locked, so no fault runs in their
 * range; the only concurrent users of these PTEs are lock-free accessors
 * (access.c), which is why PTEs change by atomic exchange/compare-and-swap
 * and why losing write permission waits for a grace period.
 */
#include "mm_mem.h"
#include "alloc.h"
#include "debug.h"
#include "folio.h"
#include "memory.h"
#include "rcu.h"
#include "vma.h"

#include <aspace/aspace.h>
#include <errno.h>

int mm_mem_init(struct mm_struct *mm, const struct aspace_config *cfg,
		struct mm_struct *parent)
{
	struct mm_mem *mem = kzalloc(sizeof(*mem));
	int err = -ENOMEM;

	if (!mem)
		return -ENOMEM;
	if (parent) {
		mem->pool = mm_mem(parent)->pool;
		pool_get(mem->pool);
	} else if (cfg && cfg->pool_bytes) {
		mem->pool = pool_create(cfg->pool_bytes);
	} else {
		mem->pool = pool_default();
	}
	if (!mem->pool)
		goto err_free_mem;
	spin_lock_init(&mem->page_table_lock);
	err = pgd_alloc(mem);
	if (err)
		goto err_put_pool;
	mm->mem = mem;
	return 0;

err_put_pool:
	pool_put(mem->pool);
err_free_mem:
	kfree(mem);
	return err;
}

void mm_mem_destroy(struct mm_struct *mm)
{
	struct mm_mem *mem = mm_mem(mm);
	long anon, shmem;

	if (!mem)
		return;
	/* Anything the VMA layer left (it should have zapped every VMA). */
	pgd_free_all(mem, &anon, &shmem);
	atomic_fetch_sub(&mm->rss_anon, anon);
	atomic_fetch_sub(&mm->rss_shmem, shmem);
	pool_put(mem->pool);
	kfree(mem);
	mm->mem = NULL;
}

void free_pgtables(struct mm_struct *mm, unsigned long floor, unsigned long start,
		   unsigned long end, unsigned long ceiling)
{
	struct mm_mem *mem = mm_mem(mm);
	struct mmu_gather tlb;

	mmap_assert_write_locked(mm);
	if (!mem || !mem->pgd)
		return;
	tlb_gather_mmu(&tlb, mem->pool);
	free_pgd_range(mem, &tlb, floor, start, end, ceiling);
	tlb_finish_mmu(&tlb);
}

/* ------------------------------------------------------------- mprotect */

struct prot_change {
	unsigned long newflags;
	struct mm_mem *mem;
	bool lost_write;
};

/* The entry a present PTE gets under newflags.  Write access is granted
 * only where no COW is pending: shared mappings, and anon pages that are
 * exclusive (PageAnonExclusive); never the zero page. */
static pte_t prot_change_pte(pte_t old, void *arg)
{
	struct prot_change *pc = arg;
	pte_t e = old;

	if (!(pc->newflags & (VM_READ | VM_WRITE | VM_EXEC)))
		return (e & ~(_PAGE_PRESENT | _PAGE_RW)) | _PAGE_PROTNONE;
	e = (e & ~_PAGE_PROTNONE) | _PAGE_PRESENT;
	e &= ~_PAGE_RW;
	if ((pc->newflags & VM_WRITE) && !pte_special(e) && !pte_uffd_wp(e) &&
	    !is_zero_pfn(pc->mem->pool, pte_pfn(e))) {
		struct page *page = pfn_to_page(pc->mem->pool, pte_pfn(e));

		if ((pc->newflags & VM_SHARED) ||
		    (test_page_flag(page, PG_anon) && PageAnonExclusive(page)))
			e |= _PAGE_RW;
	}
	return e;
}

void change_protection(struct vm_area_struct *vma, unsigned long start,
		       unsigned long end, unsigned long newflags)
{
	struct mm_struct *mm = vma->vm_mm;
	struct prot_change pc = { .newflags = newflags, .mem = mm_mem(mm) };
	unsigned long addr, next;

	mmap_assert_write_locked(mm);
	vma_assert_write_locked(vma);
	if (!pc.mem || !pc.mem->pgd)
		return;
	for (addr = start; addr < end; addr = next) {
		pte_t *table = pte_table_lookup(pc.mem, addr, &next);
		unsigned long stop = next < end ? next : end;
		spinlock_t *ptl;

		if (!table)
			continue;
		ptl = pte_lockptr(pc.mem, table);
		spin_lock(ptl);
		for (; addr < stop; addr += PAGE_SIZE) {
			pte_t *ptep = &table[pte_index(addr)];
			pte_t old;

			if (!pte_present(__atomic_load_n(ptep, __ATOMIC_RELAXED)))
				continue;
			old = ptep_modify(ptep, prot_change_pte, &pc);
			if ((old & _PAGE_PRESENT) && pte_write(old) &&
			    !pte_write(__atomic_load_n(ptep, __ATOMIC_RELAXED)))
				pc.lost_write = true;
			else if ((old & _PAGE_PRESENT) &&
				 !(__atomic_load_n(ptep, __ATOMIC_RELAXED) & _PAGE_PRESENT))
				pc.lost_write = true; /* lost read access too */
		}
		spin_unlock(ptl);
	}
	/*
	 * A lock-free access that checked the old entry may still be copying
	 * into the frame; wait for it, so no write through the old permission
	 * lands after mprotect returns (the TLB flush of the kernel).
	 */
	if (pc.lost_write)
		synchronize_rcu();
}

/* --------------------------------------------------------------- mremap */

unsigned long move_page_tables(struct vm_area_struct *vma, unsigned long old_addr,
			       struct vm_area_struct *new_vma, unsigned long new_addr,
			       unsigned long len)
{
	struct mm_struct *mm = vma->vm_mm;
	struct mm_mem *mem = mm_mem(mm);
	unsigned long done = 0;

	mmap_assert_write_locked(mm);
	if (!mem || !mem->pgd)
		return len;
	while (done < len) {
		unsigned long old = old_addr + done, new = new_addr + done, next, chunk;
		pte_t *otable = pte_table_lookup(mem, old, &next);
		spinlock_t *old_ptl, *new_ptl;
		pte_t *nptep;

		chunk = next - old;
		if (chunk > len - done)
			chunk = len - done;
		if (!otable) {
			done += chunk;
			continue;
		}
		/* Stay inside one destination table too. */
		if (((new & PMD_MASK) + PMD_SIZE) - new < chunk)
			chunk = ((new & PMD_MASK) + PMD_SIZE) - new;
		nptep = pte_alloc_map_lock(mem, new, &new_ptl);
		if (!nptep)
			break; /* out of frames: the caller moves back what moved */
		old_ptl = pte_lockptr(mem, otable);
		if (old_ptl != new_ptl)
			spin_lock(old_ptl);
		for (unsigned long off = 0; off < chunk; off += PAGE_SIZE) {
			pte_t *optep = &otable[pte_index(old + off)];
			pte_t e;

			if (pte_none(__atomic_load_n(optep, __ATOMIC_RELAXED)))
				continue;
			e = ptep_get_and_clear(optep);
			set_pte(&nptep[off >> PAGE_SHIFT], e);
		}
		if (old_ptl != new_ptl)
			spin_unlock(old_ptl);
		spin_unlock(new_ptl);
		done += chunk;
	}
	(void)new_vma;
	return done;
}

/* ---------------------------------------------------------- public stats */

void aspace_pool_stats(struct aspace_mm *amm, unsigned long *free_pages,
		       unsigned long *total_pages)
{
	struct mm_struct *mm = (struct mm_struct *)amm;
	struct page_pool *pool;

	if (mm) {
		pool_stats(mm_mem(mm)->pool, free_pages, total_pages);
		return;
	}
	pool = pool_default();
	if (!pool) {
		*free_pages = *total_pages = 0;
		return;
	}
	pool_stats(pool, free_pages, total_pages);
	pool_put(pool);
}
