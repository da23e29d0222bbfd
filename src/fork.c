/*
 * fork.c: aspace_fork, the memory side of fork(2): dup_mmap and
 * copy_page_range.
 *
 * Locks: the parent's mmap_lock for write for the whole copy, each parent
 * VMA write-locked before its PTEs are copied (so no fault runs in it under
 * its VMA lock), and the child's mmap_lock for write (nobody can reach the
 * child yet, but vma_link checks it).  PTEs: the child's table lock, then
 * the parent's (two different mms: no other path takes both).
 *
 * COW: a private anonymous page becomes shared by both mms: its
 * PageAnonExclusive is cleared, both PTEs lose write access, refcount and
 * mapcount go up by one.  A page that is anon-exclusive and maybe pinned
 * (the GUP issue) is copied for the child at once instead, so the pin keeps
 * seeing the page the parent maps (seed 003).  Write-protecting a PTE that
 * a lock-free accessor of the parent may be writing through is completed by
 * one grace period before fork returns (see access.c).
 */
#include "gup.h" /* GUP issue: mm_write_protect_begin/end */
#include "userfaultfd.h" /* uffd issue */
#include "alloc.h"
#include "anon_vma.h"
#include "debug.h"
#include "memory.h"
#include "mm.h"
#include "mm_mem.h"
#include "rcu.h"
#include "shmem.h"
#include "vma.h"

#include <errno.h>

struct copy_stats {
	long anon, shmem;
};

/* Both ptls held.  0, or -ENOMEM when a pinned page could not be copied. */
static int copy_one_pte(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma,
			pte_t *dst_ptep, pte_t *src_ptep, unsigned long addr,
			struct copy_stats *st, bool *wrprotected)
{
	struct mm_mem *mem = mm_mem(src_vma->vm_mm);
	pte_t e = ptep_get(src_ptep);
	struct folio *folio;

	if (pte_none(e))
		return 0;
	if (is_swap_pte(e)) {
		/* Guard markers always go to the child; uffd-wp markers only
		 * to a VMA that keeps uffd-wp (copy_pte_marker). */
		if (is_pte_marker(e)) {
			unsigned long m = pte_marker_get(e) & PTE_MARKER_GUARD;

			if (dst_vma->vm_flags & VM_UFFD_WP)
				m |= pte_marker_get(e) & PTE_MARKER_UFFD_WP;
			if (m)
				set_pte(dst_ptep, make_pte_marker(m));
		}
		return 0;
	}
	if (pte_special(e) || is_zero_pfn(mem->pool, pte_pfn(e))) {
		set_pte(dst_ptep, pte_mkold(e));
		return 0;
	}
	folio = page_folio(pfn_to_page(mem->pool, pte_pfn(e)));

	if (folio_test_anon(folio) && PageAnonExclusive(&folio->page) &&
	    folio_maybe_dma_pinned(folio)) {
		/* copy_present_page: the child gets its own copy now. */
		struct page *page = alloc_pages(mem->pool, 0);
		pte_t ne;

		if (!page)
			return -ENOMEM;
		copy_pinned_page(page_address(page), page_address(&folio->page)); /* GUP issue */
		atomic_fetch_or_explicit(&page->flags,
					 (1UL << PG_anon) | (1UL << PG_anon_exclusive) |
					 (1UL << PG_swapbacked) | (1UL << PG_uptodate),
					 memory_order_relaxed);
		page->mapping = dst_vma->anon_vma;
		page->index = folio->page.index;
		atomic_store_explicit(&page->_mapcount, 1, memory_order_relaxed);
		ne = pfn_pte(page_to_pfn(page), _PAGE_USER | _PAGE_DIRTY | _PAGE_SOFT_DIRTY |
				 (e & (_PAGE_PRESENT | _PAGE_PROTNONE)));
		if (dst_vma->vm_flags & VM_WRITE && (e & _PAGE_PRESENT))
			ne = pte_mkwrite(ne);
		set_pte(dst_ptep, ne);
		st->anon++;
		return 0;
	}

	folio_get(folio);
	folio_add_mapcount(folio, 1);
	if (folio_test_anon(folio)) {
		ClearPageAnonExclusive(&folio->page);
		st->anon++;
	} else {
		st->shmem++;
	}
	if (is_cow_mapping(src_vma->vm_flags) && pte_write(e)) {
		e = pte_wrprotect(ptep_set_wrprotect(src_ptep));
		*wrprotected = true;
	}
	if (src_vma->vm_flags & VM_SHARED)
		e = pte_mkclean(e);
	e = pte_mkold(e);
	if (!(dst_vma->vm_flags & VM_UFFD_WP))
		e = pte_clear_uffd_wp(e);
	set_pte(dst_ptep, e);
	(void)addr;
	return 0;
}

int copy_page_range(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma,
		    bool *wrprotected)
{
	struct mm_mem *src = mm_mem(src_vma->vm_mm), *dst = mm_mem(dst_vma->vm_mm);
	struct copy_stats st = { 0, 0 };
	unsigned long addr, next, end = src_vma->vm_end;
	int err = 0;

	mmap_assert_write_locked(src_vma->vm_mm);
	vma_assert_write_locked(src_vma);
	for (addr = src_vma->vm_start; addr < end && !err; addr = next) {
		pte_t *stable = pte_table_lookup(src, addr, &next);
		unsigned long stop = next < end ? next : end;
		spinlock_t *sptl, *dptl;
		pte_t *dptep;

		if (!stable)
			continue;
		dptep = pte_alloc_map_lock(dst, addr, &dptl);
		if (!dptep) {
			err = -ENOMEM;
			break;
		}
		sptl = pte_lockptr(src, stable);
		spin_lock(sptl);
		for (; addr < stop; addr += PAGE_SIZE, dptep++) {
			err = copy_one_pte(dst_vma, src_vma, dptep, &stable[pte_index(addr)],
					   addr, &st, wrprotected);
			if (err)
				break;
		}
		spin_unlock(sptl);
		spin_unlock(dptl);
	}
	atomic_fetch_add(&dst_vma->vm_mm->rss_anon, st.anon);
	atomic_fetch_add(&dst_vma->vm_mm->rss_shmem, st.shmem);
	return err;
}

/*
 * Page tables are copied only where a fault could not fill them back the
 * same way: anonymous memory (anon_vma), raw PFN maps, and uffd-wp state
 * (which lives only in the PTEs).  Shared and never-written mappings are
 * refaulted by the child, as the kernel does (fork stays cheap, and the
 * parent's pages stay exclusively mapped).
 */
static bool vma_needs_copy(const struct vm_area_struct *dst, const struct vm_area_struct *src)
{
	if (dst->vm_flags & VM_UFFD_WP)
		return true;
	if (src->vm_flags & VM_PFNMAP)
		return true;
	return src->anon_vma != NULL;
}

/* One VMA of the parent into the child. */
static int dup_one_vma(struct mm_struct *child, struct vm_area_struct *vma,
		       bool *wrprotected, struct uffd_fork_list *uf /* uffd issue */)
{
	struct vm_area_struct *new;
	struct anon_vma *dup_ref;
	int err;

	vma_start_write(vma);
	new = vm_area_dup(vma);
	if (!new)
		return -ENOMEM;
	new->vm_mm = child;
	/* mlock is not inherited; userfaultfd registration only with
	 * EVENT_FORK, under a new context for the child (uffd issue). */
	new->vm_flags &= ~VM_LOCKED_MASK;
	dup_userfaultfd(new, uf);
	/* vm_area_dup took a reference on the parent's anon_vma; the child
	 * gets its own, chained (or none for VM_WIPEONFORK). */
	dup_ref = new->anon_vma;
	if (vma->vm_flags & VM_WIPEONFORK) {
		new->anon_vma = NULL;
		new->anon_vma_chain = 0;
		err = 0;
	} else {
		err = anon_vma_fork(new, vma);
	}
	anon_vma_put(dup_ref);
	if (err)
		goto err_free;
	err = vma_link(child, new);
	if (err)
		goto err_free;
	child->total_vm += vma_pages(vma);
	/* VM_WIPEONFORK: the child starts with empty (zero) memory. */
	if ((vma->vm_flags & VM_WIPEONFORK) || !vma_needs_copy(new, vma))
		return 0;
	return copy_page_range(new, vma, wrprotected);

err_free:
	vm_area_free_unlinked(new);
	return err;
}

int aspace_fork(struct aspace_mm *amm, struct aspace_mm **childp)
{
	struct mm_struct *mm = to_mm(amm), *child;
	struct vm_area_struct *vma;
	bool wrprotected = false;
	int err = 0;
	struct uffd_fork_list uf = { 0 }; /* uffd issue */

	mmap_write_lock(mm);
	child = mm_alloc(NULL, mm);
	if (!child) {
		mmap_write_unlock(mm);
		return -ENOMEM;
	}
	mmap_write_lock(child);
	mm_write_protect_begin(mm); /* GUP issue: GUP-fast backs off (gup.c) */
	for (vma = find_vma(mm, 0); vma; vma = vma_next(mm, vma)) {
		if (vma->vm_flags & VM_DONTCOPY)
			continue;
		err = dup_one_vma(child, vma, &wrprotected, &uf);
		if (err)
			break;
	}
	mm_write_protect_end(mm); /* GUP issue */
	mmap_write_unlock(child);
	/* Writes through the parent's old writable PTEs land before we return. */
	if (wrprotected)
		synchronize_rcu();
	mmap_write_unlock(mm);
	if (!err)
		err = dup_fd_table(mm, child); /* shmem: fds are inherited */
	if (err) {
		dup_userfaultfd_fail(&uf); /* uffd issue */
		mm_free(child);
		return err;
	}
	*childp = to_aspace(child);
	dup_userfaultfd_complete(&uf); /* uffd issue: FORK events, read before we return */
	return 0;
}
