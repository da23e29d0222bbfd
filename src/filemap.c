/*
 * filemap.c: faults on file (shmem) VMAs where no page is mapped yet:
 *
 *   do_fault         dispatch; on a read, fault-around first (map up to 16
 *                    neighbours already in the page cache, never in a VMA
 *                    registered for userfaultfd minor or wp faults: seed
 *                    004); then userfaultfd (a cached page under minor
 *                    registration, a hole under missing registration:
 *                    handle_userfault)
 *   do_read_fault    the page itself, allocated zero-filled when absent.  A
 *                    shared writable VMA maps it writable (shmem has no
 *                    dirty tracking: the kernel's vm_page_prot is writable
 *                    there), a private one read-only (a write COWs later).
 *   do_cow_fault     a write in a private mapping: copy the cache page into
 *                    an anonymous page of our own (the cache page itself
 *                    is allocated when absent, as shmem_fault does).
 *   do_shared_fault  a write in a shared mapping: the cache page, writable
 *                    and dirty.
 * Write faults on a present cache page (COW, FAULT_FLAG_UNSHARE, making a
 * shared PTE writable) are do_wp_page's, in memory.c.
 *
 * Locks: entered from handle_pte_fault with the VMA read-locked or
 * mmap_lock read-held and no PTE lock.  Pages are looked up without locks
 * (find_get_folio) and allocated under i_lock (shmem_get_folio) before the
 * PTE lock is taken; under the PTE lock each page is re-checked against
 * truncation (shmem_folio_still_valid) before its entry is published.
 * Access beyond i_size is SIGBUS.
 *
 * shmem_install_pte is the same mapping step outside a fault (for
 * UFFDIO_CONTINUE / UFFDIO_COPY on shmem: seed 004).
 */
#include "anon_vma.h"
#include "debug.h"
#include "folio.h"
#include "memory.h"
#include "mm_mem.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "rcu.h"
#include "shmem.h"
#include "vma.h"

#include <errno.h>
#include <stddef.h>

#define FAULT_AROUND_PAGES 16UL

static inline void file_stat(struct vm_fault *vmf, long shmem, long anon, long cow)
{
	struct fault_stats st = { 0 };
	struct fault_stats *s = vmf->stats ? vmf->stats : &st;

	s->rss_shmem += shmem;
	s->rss_anon += anon;
	s->cow += cow;
	if (!vmf->stats)
		fault_stats_flush(vmf->vma->vm_mm, &st);
}

static inline unsigned long i_size_pages(struct shmem_inode *inode)
{
	return (unsigned long)((atomic_load_explicit(&inode->i_size, memory_order_acquire) +
				(long)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/* The PTE for a cache page in this VMA (not the faulting access's bits). */
static inline pte_t mk_file_pte(struct folio *folio, struct vm_area_struct *vma, bool write)
{
	pte_t e = pfn_pte(page_to_pfn(&folio->page), _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED);

	if ((vma->vm_flags & (VM_SHARED | VM_WRITE)) == (VM_SHARED | VM_WRITE))
		e = pte_mkwrite(e);
	if (write)
		e = pte_mkdirty(e);
	return e;
}

/* An empty slot we may fill: none, or a marker other than a guard. */
static inline bool pte_fillable(pte_t e)
{
	return pte_none(e) || (is_pte_marker(e) && !(pte_marker_get(e) & PTE_MARKER_GUARD));
}

/*
 * Map the cache pages around the fault that are already cached, in the
 * kernel's window (do_fault_around: 16 pages aligned, clipped to the VMA,
 * the PTE table and i_size).  Returns true when the faulting address got
 * mapped too.
 */
static bool do_fault_around(struct vm_fault *vmf, struct shmem_inode *inode)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_mem *mem = mm_mem(vma->vm_mm);
	unsigned long pte_off = pte_index(vmf->address);
	unsigned long vma_off = vmf->pgoff - vma->vm_pgoff;
	unsigned long vma_pages = (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;
	unsigned long from = pte_off & ~(FAULT_AROUND_PAGES - 1), to, file_end;
	unsigned long start_pgoff, end_pgoff, addr;
	struct folio *stale[FAULT_AROUND_PAGES];
	int nstale = 0;
	long mapped = 0;
	bool hit = false;
	pte_t *ptep;

	if (pte_off - (pte_off < vma_off ? pte_off : vma_off) > from)
		from = pte_off - (pte_off < vma_off ? pte_off : vma_off);
	to = from + FAULT_AROUND_PAGES;
	if (to > PTRS_PER_TABLE)
		to = PTRS_PER_TABLE;
	if (to > pte_off + vma_pages - vma_off)
		to = pte_off + vma_pages - vma_off;
	start_pgoff = vmf->pgoff - (pte_off - from);
	end_pgoff = start_pgoff + (to - from); /* exclusive */
	file_end = i_size_pages(inode);
	if (end_pgoff > file_end)
		end_pgoff = file_end;
	if (start_pgoff >= end_pgoff)
		return false;

	addr = vmf->address - ((vmf->pgoff - start_pgoff) << PAGE_SHIFT);
	ptep = pte_offset_map_lock(mem, addr, &vmf->ptl);
	if (!ptep)
		return false;
	/*
	 * One fence and one RCU section for the batch: what
	 * shmem_folio_still_valid does per page (pairs with truncation's
	 * fence between taking pages out and zapping, see shmem.c).
	 */
	smp_mb();
	file_end = i_size_pages(inode);
	if (end_pgoff > file_end)
		end_pgoff = file_end;
	rcu_read_lock();
	for (unsigned long idx = start_pgoff; idx < end_pgoff; idx++, addr += PAGE_SIZE, ptep++) {
		struct folio *folio;

		if (!pte_none(ptep_get(ptep)))
			continue;
		folio = shmem_cache_peek(inode, idx);
		if (!folio || !folio_try_get(folio))
			continue;
		if (unlikely(shmem_cache_peek(inode, idx) != folio)) {
			/* Removed meanwhile: put it once out of the locks. */
			stale[nstale++] = folio;
			continue;
		}
		/* The reference just taken becomes the PTE's. */
		folio_add_mapcount(folio, 1);
		set_pte(ptep, mk_file_pte(folio, vma, false));
		mapped++;
		if (idx == vmf->pgoff)
			hit = true;
	}
	rcu_read_unlock();
	spin_unlock(vmf->ptl);
	while (nstale)
		folio_put_deferred(stale[--nstale]);
	if (mapped)
		file_stat(vmf, mapped, 0, 0);
	return hit;
}

/* Map folio (a referenced cache page) at the fault address: the reference
 * becomes the PTE's, or is dropped when the slot was filled meanwhile or
 * the page was truncated (the access is retried and sees why). */
static vm_fault_t finish_fault(struct vm_fault *vmf, struct shmem_inode *inode,
			       struct folio *folio, bool write)
{
	struct vm_area_struct *vma = vmf->vma;
	pte_t *ptep, cur, e;

	ptep = pte_offset_map_lock(mm_mem(vma->vm_mm), vmf->address, &vmf->ptl);
	if (unlikely(!ptep)) {
		folio_put_deferred(folio);
		return 0;
	}
	cur = ptep_get(ptep);
	if (unlikely(!pte_fillable(cur) || !shmem_folio_still_valid(inode, folio))) {
		spin_unlock(vmf->ptl);
		folio_put_deferred(folio);
		return 0;
	}
	if (write)
		folio_mark_dirty(folio);
	e = mk_file_pte(folio, vma, write);
	if (pte_uffd_wp(cur) || (is_pte_marker(cur) && (pte_marker_get(cur) & PTE_MARKER_UFFD_WP)))
		e = pte_mkuffd_wp(pte_wrprotect(e));
	folio_add_mapcount(folio, 1);
	set_pte(ptep, e);
	spin_unlock(vmf->ptl);
	file_stat(vmf, 1, 0, 0);
	return 0;
}

int shmem_install_pte(struct vm_area_struct *vma, unsigned long addr, struct folio *folio,
		      bool wp)
{
	struct shmem_inode *inode;
	spinlock_t *ptl;
	pte_t *ptep, e;

	if (!file_is_shmem(vma->vm_file) || addr < vma->vm_start || addr >= vma->vm_end)
		return -EFAULT;
	inode = SHMEM_I(vma->vm_file);
	ptep = pte_alloc_map_lock(mm_mem(vma->vm_mm), addr, &ptl);
	if (!ptep)
		return -ENOMEM;
	if (!pte_none(ptep_get(ptep))) {
		spin_unlock(ptl);
		return -EEXIST;
	}
	if (!shmem_folio_still_valid(inode, folio)) {
		spin_unlock(ptl);
		return -EFAULT;
	}
	e = mk_file_pte(folio, vma, false);
	if (wp)
		e = pte_mkuffd_wp(pte_wrprotect(e));
	folio_add_mapcount(folio, 1);
	set_pte(ptep, e);
	spin_unlock(ptl);
	atomic_fetch_add_explicit(&vma->vm_mm->rss_shmem, 1, memory_order_relaxed);
	return 0;
}

/* Until the userfaultfd issue lands nothing sets VM_UFFD_MISSING/MINOR. */
__attribute__((weak)) vm_fault_t handle_userfault(struct vm_fault *vmf, unsigned long reason)
{
	(void)vmf;
	(void)reason;
	return VM_FAULT_SIGBUS;
}

/*
 * shmem_fault's userfaultfd checks: a page in the cache of a VMA
 * registered for minor faults, or a hole in one registered for missing
 * faults, goes to userspace.  Returns 0 when the fault proceeds.
 */
static vm_fault_t shmem_fault_uffd(struct vm_fault *vmf, struct shmem_inode *inode)
{
	unsigned long f = vmf->vma->vm_flags;
	struct folio *folio;

	if (likely(!(f & (VM_UFFD_MINOR | VM_UFFD_MISSING))))
		return 0;
	folio = find_get_folio(inode, vmf->pgoff);
	if (folio) {
		folio_put_deferred(folio);
		if (f & VM_UFFD_MINOR)
			return handle_userfault(vmf, VM_UFFD_MINOR);
		return 0;
	}
	if (f & VM_UFFD_MISSING)
		return handle_userfault(vmf, VM_UFFD_MISSING);
	return 0;
}

static vm_fault_t folio_error(int err)
{
	return err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

static vm_fault_t do_read_fault(struct vm_fault *vmf, struct shmem_inode *inode)
{
	struct folio *folio;
	int err = 0;

	folio = shmem_get_folio(inode, vmf->pgoff, false, &err);
	if (!folio)
		return folio_error(err);
	return finish_fault(vmf, inode, folio, false);
}

static vm_fault_t do_shared_fault(struct vm_fault *vmf, struct shmem_inode *inode)
{
	struct folio *folio;
	int err = 0;

	folio = shmem_get_folio(inode, vmf->pgoff, false, &err);
	if (!folio)
		return folio_error(err);
	return finish_fault(vmf, inode, folio, true);
}

/* Like memory.c's fault_anon_vma_prepare: under mmap_lock read-held no VMA
 * is write-locked, so its read lock is free to take for the call. */
static int cow_anon_vma_prepare(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	int err;

	if (likely(__atomic_load_n(&vma->anon_vma, __ATOMIC_ACQUIRE)))
		return 0;
	if ((vmf->flags & FAULT_FLAG_VMA_LOCK) || !vma_start_read(vma))
		return anon_vma_prepare(vma);
	err = anon_vma_prepare(vma);
	vma_end_read(vma);
	return err;
}

static vm_fault_t do_cow_fault(struct vm_fault *vmf, struct shmem_inode *inode)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_mem *mem = mm_mem(vma->vm_mm);
	struct folio *folio;
	struct page *page;
	pte_t *ptep, cur, e;
	int err = 0;

	if (unlikely(cow_anon_vma_prepare(vmf)))
		return VM_FAULT_OOM;
	folio = shmem_get_folio(inode, vmf->pgoff, false, &err);
	if (!folio)
		return folio_error(err);
	page = alloc_page_wait_deferred(mem->pool, false);
	if (unlikely(!page)) {
		folio_put_deferred(folio);
		return VM_FAULT_OOM;
	}
	copy_page(page_address(page), page_address(&folio->page));
	atomic_fetch_or_explicit(&page->flags,
				 (1UL << PG_anon) | (1UL << PG_anon_exclusive) |
				 (1UL << PG_swapbacked) | (1UL << PG_uptodate),
				 memory_order_relaxed);
	page->mapping = vma->anon_vma;
	page->index = vmf->pgoff;
	atomic_store_explicit(&page->_mapcount, 1, memory_order_relaxed);
	e = pfn_pte(page_to_pfn(page), _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED);
	e = pte_mkdirty(e);
	if (vma->vm_flags & VM_WRITE)
		e = pte_mkwrite(e);

	ptep = pte_offset_map_lock(mem, vmf->address, &vmf->ptl);
	if (unlikely(!ptep))
		goto discard;
	cur = ptep_get(ptep);
	/* The copy is of a page still in the file, at an offset inside it. */
	if (unlikely(!pte_fillable(cur) || !shmem_folio_still_valid(inode, folio))) {
		spin_unlock(vmf->ptl);
		goto discard;
	}
	/* A uffd-wp marker keeps protecting the page it now holds. */
	if (is_pte_marker(cur) && (pte_marker_get(cur) & PTE_MARKER_UFFD_WP))
		e = pte_mkuffd_wp(pte_wrprotect(e));
	set_pte(ptep, e);
	spin_unlock(vmf->ptl);
	folio_put_deferred(folio);
	file_stat(vmf, 0, 1, 1);
	return 0;
discard:
	atomic_store_explicit(&page->_mapcount, 0, memory_order_relaxed);
	clear_page_flag(page, PG_anon_exclusive);
	folio_put(page_folio(page));
	folio_put_deferred(folio);
	return 0;
}

vm_fault_t do_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct shmem_inode *inode;
	vm_fault_t ret;

	if (vmf->flags & FAULT_FLAG_VMA_LOCK)
		vma_assert_locked(vma);
	else
		mmap_assert_locked(vma->vm_mm);
	if (unlikely(!file_is_shmem(vma->vm_file)))
		return VM_FAULT_SIGBUS;
	inode = SHMEM_I(vma->vm_file);
	if (vmf->pgoff >= i_size_pages(inode))
		return VM_FAULT_SIGBUS;
	/* Read faults map cached neighbours first (do_read_fault).  Seed
	 * 004: never under minor (or wp) registration, so that every page
	 * still raises its own userfault. */
	if (!(vmf->flags & FAULT_FLAG_WRITE) &&
	    !(vmf->vma->vm_flags & (VM_UFFD_MINOR | VM_UFFD_WP)) &&
	    do_fault_around(vmf, inode))
		return 0;
	ret = shmem_fault_uffd(vmf, inode);
	if (ret)
		return ret;
	if (!(vmf->flags & FAULT_FLAG_WRITE))
		return do_read_fault(vmf, inode);
	if (!(vma->vm_flags & VM_SHARED))
		return do_cow_fault(vmf, inode);
	return do_shared_fault(vmf, inode);
}
