/*
 * memory.c: the fault path and PTE zapping.
 *
 *   do_user_addr_fault   the "CPU trap" of seed 002: lock_vma_under_rcu, and
 *                        when that fails or the handler asks for RETRY,
 *                        mmap_read_lock + find_vma.  Counts vma_lock
 *                        RETRY (lock_vma_under_rcu counts SUCCESS, ABORT
 *                        and MISS itself).
 *   handle_mm_fault      -> handle_pte_fault -> do_anonymous_page (zero page
 *                        on read, zeroed frame on write), do_wp_page (reuse
 *                        an anon-exclusive page, else copy: wp_page_copy),
 *                        FAULT_FLAG_UNSHARE (copy without write access)
 *                        A guard marker (MADV_GUARD_INSTALL) is SIGSEGV.
 *   unmap_page_range     zap PTEs; frames freed after a grace period
 *                        (zap_page_range_keep_markers for MADV_DONTNEED)
 *   guard_install_range  MADV_GUARD_INSTALL / _REMOVE
 *   mm_populate_range    MAP_POPULATE / mlock
 *
 * Locks: a fault runs under the VMA read lock or mmap_lock read-held; each
 * PTE is read and changed under its table's ptl, and every decision taken
 * before the ptl was held is re-checked against the entry under it
 * (orig_pte).  Frames are allocated and filled before the ptl is taken (no
 * allocation under a spinlock), and a frame is published by the release
 * store of set_pte, after its contents and metadata.
 *
 * PageAnonExclusive (seed 003): an anon page is exclusive when exactly this
 * mm's one PTE may write it.  A fresh anon page is exclusive; fork clears
 * the bit when it shares the page; do_wp_page reuses an exclusive page
 * without copying, and makes a non-exclusive page exclusive again only when
 * no other reference exists (refcount 1: our PTE).  A pinned page is never
 * shared by fork (fork copies it), so a pin always sees the page the PTE
 * maps.
 */
#include "memory.h"
#include "alloc.h"
#include "anon_vma.h"
#include "debug.h"
#include "folio.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "rcu.h"
#include "shmem.h"
#include "userfaultfd.h" /* uffd issue */
#include "vma.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <stddef.h>

/*
 * vmf_anon_prepare: give the VMA an anon_vma before its first anonymous
 * page.  anon_vma_prepare looks at the neighbouring VMAs for an anon_vma to
 * share, and only mmap_lock keeps the neighbours still: under the VMA lock
 * we try to take mmap_lock for read as well, and when that fails we drop
 * the VMA lock and ask for the fault to be retried under mmap_lock (as the
 * kernel does).  Under mmap_lock alone, anon_vma_prepare wants the VMA lock
 * too (vma_assert_locked); no VMA can be write-locked while we hold
 * mmap_lock for read, so it is always available.  Only the first
 * anonymous fault of a VMA gets past the first test.
 */
static vm_fault_t vmf_anon_prepare(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	int err;

	if (likely(__atomic_load_n(&vma->anon_vma, __ATOMIC_ACQUIRE)))
		return 0;
	if (vmf->flags & FAULT_FLAG_VMA_LOCK) {
		if (!mmap_read_trylock(mm)) {
			vma_end_read(vma);
			return VM_FAULT_RETRY;
		}
		err = anon_vma_prepare(vma);
		mmap_read_unlock(mm);
	} else if (vma_start_read(vma)) {
		err = anon_vma_prepare(vma);
		vma_end_read(vma);
	} else {
		err = anon_vma_prepare(vma); /* per-VMA locks off */
	}
	return err ? VM_FAULT_OOM : 0;
}

static atomic_long retry_inject;

void fault_inject_retry(long n)
{
	atomic_store(&retry_inject, n);
}

static inline unsigned long linear_page_index(const struct vm_area_struct *vma,
					      unsigned long address)
{
	return ((address - vma->vm_start) >> PAGE_SHIFT) + vma->vm_pgoff;
}

/*
 * Counters: with vmf->stats the fault adds to the caller's batch (flushed
 * with fault_stats_flush when its access call ends); without, straight to
 * the mm's atomics.  Batching keeps two threads faulting in one mm from
 * bouncing the counters' cache line on every fault, as the kernel's
 * per-task RSS cache does.
 */
#define fault_stat(vmf, field, n)                                                   \
	do {                                                                        \
		if ((vmf)->stats)                                                   \
			(vmf)->stats->field += (n);                                 \
		else                                                                \
			fault_stat_mm((vmf)->vma->vm_mm, offsetof(struct fault_stats, field), (n)); \
	} while (0)

static void fault_stat_mm(struct mm_struct *mm, size_t field, long n)
{
	struct fault_stats st = { 0 };

	*(long *)((char *)&st + field) = n;
	fault_stats_flush(mm, &st);
}

/* Drop the lock the fault was entered with (before returning RETRY). */
static void release_fault_lock(struct vm_fault *vmf)
{
	if (vmf->flags & FAULT_FLAG_VMA_LOCK)
		vma_end_read(vmf->vma);
	else
		mmap_read_unlock(vmf->vma->vm_mm);
}

static inline struct mm_mem *vma_mem(const struct vm_area_struct *vma)
{
	return mm_mem(vma->vm_mm);
}

/* Only ACCESSED/DIRTY may change under us without the ptl (the lock-free
 * access path sets them): compare entries without those bits. */
static inline bool pte_same_locked(pte_t a, pte_t b)
{
	const pte_t ad = _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;

	return (a & ~ad) == (b & ~ad);
}

/* ptl held: set `bits` in the entry, racing only with A/D setters. */
static inline void ptep_set_bits(pte_t *ptep, pte_t bits)
{
	__atomic_fetch_or(ptep, bits, __ATOMIC_RELEASE);
}

static inline pte_t mk_anon_pte(unsigned long pfn, struct vm_area_struct *vma, bool write)
{
	pte_t e = pfn_pte(pfn, _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED);

	if (write) {
		e = pte_mkdirty(e);
		if (vma->vm_flags & VM_WRITE)
			e = pte_mkwrite(e);
	}
	return e;
}

static void folio_prep_anon(struct folio *folio, struct vm_area_struct *vma,
			    unsigned long address)
{
	struct page *page = &folio->page;

	atomic_fetch_or_explicit(&page->flags,
				 (1UL << PG_anon) | (1UL << PG_anon_exclusive) |
				 (1UL << PG_swapbacked) | (1UL << PG_uptodate),
				 memory_order_relaxed);
	page->mapping = vma->anon_vma;
	page->index = linear_page_index(vma, address);
	atomic_store_explicit(&page->_mapcount, 1, memory_order_relaxed);
}

/* A frame we allocated and never published: free it at once. */
static void folio_discard_new(struct folio *folio)
{
	atomic_store_explicit(&folio->page._mapcount, 0, memory_order_relaxed);
	clear_page_flag(&folio->page, PG_anon_exclusive);
	folio_put(folio);
}

/* ------------------------------------------------------------- anonymous */

static vm_fault_t do_anonymous_page(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_mem *mem = vma_mem(vma);
	struct page *page;
	pte_t entry, cur;
	vm_fault_t ret;

	/* Shared anonymous memory is a shmem file (mmap gives it one). */
	if (vma->vm_flags & VM_SHARED)
		return VM_FAULT_SIGBUS;
	/* uffd issue: a missing page of a range registered MISSING goes to
	 * the userfaultfd (do_anonymous_page's userfaultfd_missing). */
	if (userfaultfd_missing(vma))
		return handle_userfault(vmf, VM_UFFD_MISSING);

	/* Read access: map the shared zero page. */
	if (!(vmf->flags & FAULT_FLAG_WRITE)) {
		entry = pfn_pte(page_to_pfn(mem->pool->zero_page),
				_PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_SPECIAL);
		vmf->pte = pte_offset_map_lock(mem, vmf->address, &vmf->ptl);
		if (!vmf->pte)
			return 0;
		cur = ptep_get(vmf->pte);
		if (pte_none(cur) || is_pte_marker(cur)) {
			if (pte_uffd_wp(cur) || (is_pte_marker(cur) &&
						 (pte_marker_get(cur) & PTE_MARKER_UFFD_WP)))
				entry = pte_mkuffd_wp(entry);
			set_pte(vmf->pte, entry);
			fault_stat(vmf, zero, 1);
		}
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return 0;
	}

	/* Write access: a zero-filled anon page of our own. */
	ret = vmf_anon_prepare(vmf);
	if (unlikely(ret))
		return ret;
	page = alloc_zeroed_page(mem->pool);
	if (unlikely(!page))
		return VM_FAULT_OOM;
	folio_prep_anon(page_folio(page), vma, vmf->address);
	entry = mk_anon_pte(page_to_pfn(page), vma, true);

	vmf->pte = pte_offset_map_lock(mem, vmf->address, &vmf->ptl);
	if (unlikely(!vmf->pte)) {
		folio_discard_new(page_folio(page));
		return 0;
	}
	cur = ptep_get(vmf->pte);
	if (unlikely(!pte_none(cur) && !is_pte_marker(cur))) {
		/* Another thread mapped it first. */
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		folio_discard_new(page_folio(page));
		return 0;
	}
	/* uffd issue: a uffd-wp marker protects the new page too. */
	if (is_pte_marker(cur) && (pte_marker_get(cur) & PTE_MARKER_UFFD_WP))
		entry = pte_mkuffd_wp(pte_wrprotect(entry));
	set_pte(vmf->pte, entry);
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	fault_stat(vmf, rss_anon, 1);
	return 0;
}

/* ---------------------------------------------------------- write-protect */

/*
 * Break COW: give this PTE a private copy of old (NULL: the zero page).
 * Entered without the ptl, holding a reference on old.  With
 * FAULT_FLAG_UNSHARE the copy is mapped read-only: unsharing only makes the
 * page exclusive for a pin, it grants no write access.
 */
static vm_fault_t wp_page_copy(struct vm_fault *vmf, struct folio *old)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_mem *mem = vma_mem(vma);
	bool unshare = vmf->flags & FAULT_FLAG_UNSHARE;
	struct page *page;
	pte_t entry, prev;
	vm_fault_t ret = 0;

	ret = vmf_anon_prepare(vmf);
	if (unlikely(ret))
		goto out_put_old;
	page = alloc_pages(mem->pool, 0);
	if (unlikely(!page)) {
		ret = VM_FAULT_OOM;
		goto out_put_old;
	}
	if (old)
		copy_page(page_address(page), page_address(&old->page));
	else
		clear_page(page_address(page));
	folio_prep_anon(page_folio(page), vma, vmf->address);

	entry = pfn_pte(page_to_pfn(page), _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED);
	if (unshare) {
		entry |= vmf->orig_pte & (_PAGE_SOFT_DIRTY | _PAGE_UFFD_WP);
	} else {
		entry = pte_mkdirty(entry);
		if (vma->vm_flags & VM_WRITE)
			entry = pte_mkwrite(entry);
	}

	vmf->pte = pte_offset_map_lock(mem, vmf->address, &vmf->ptl);
	if (unlikely(!vmf->pte)) {
		folio_discard_new(page_folio(page));
		goto out_put_old;
	}
	if (unlikely(!pte_same_locked(ptep_get(vmf->pte), vmf->orig_pte))) {
		/* Someone else broke COW (or unmapped) first. */
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		folio_discard_new(page_folio(page));
		goto out_put_old;
	}
	prev = __atomic_exchange_n(vmf->pte, entry, __ATOMIC_ACQ_REL);
	if (old) {
		if (pte_dirty(prev))
			folio_mark_dirty(old);
		folio_add_mapcount(old, -1);
	}
	pte_unmap_unlock(vmf->pte, vmf->ptl);

	if (old) {
		fault_stat(vmf, cow, 1);
		if (!folio_test_anon(old)) {
			fault_stat(vmf, rss_shmem, -1);
			fault_stat(vmf, rss_anon, 1);
		}
		/* The PTE's reference: a lock-free reader may still be in the
		 * old frame, so its last put waits for a grace period. */
		folio_put_deferred(old);
	} else {
		fault_stat(vmf, rss_anon, 1);
	}
out_put_old:
	if (old)
		folio_put_deferred(old);
	return ret;
}

/* A non-exclusive anon page that nobody else references can become ours. */
static bool wp_can_reuse_anon_folio(struct folio *folio)
{
	if (folio_ref_count(folio) != 1 || folio_mapcount(folio) != 1)
		return false;
	SetPageAnonExclusive(&folio->page);
	return true;
}

/* ptl held, entry present and either not writable or unshare requested. */
static vm_fault_t do_wp_page(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_mem *mem = vma_mem(vma);
	bool unshare = vmf->flags & FAULT_FLAG_UNSHARE;
	unsigned long pfn = pte_pfn(vmf->orig_pte);
	struct folio *folio;

	/* uffd issue: a write to a uffd-wp protected page goes to the
	 * userfaultfd (userfaultfd_pte_wp). */
	if (!unshare && userfaultfd_wp(vma) && pte_uffd_wp(vmf->orig_pte)) {
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return handle_userfault(vmf, VM_UFFD_WP);
	}
	if (pte_special(vmf->orig_pte) || is_zero_pfn(mem->pool, pfn)) {
		/* The shared zero page: replace it with a page of our own. */
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return wp_page_copy(vmf, NULL);
	}
	folio = page_folio(pfn_to_page(mem->pool, pfn));

	if (!folio_test_anon(folio)) {
		if (vma->vm_flags & VM_SHARED) {
			/* Shared page in a shared mapping: just make it writable. */
			if (!unshare && (vma->vm_flags & VM_WRITE))
				ptep_set_bits(vmf->pte, _PAGE_RW | _PAGE_DIRTY |
						      _PAGE_SOFT_DIRTY | _PAGE_ACCESSED);
			pte_unmap_unlock(vmf->pte, vmf->ptl);
			return 0;
		}
		/* A shared page in a private mapping: COW (and unshare). */
		folio_get(folio);
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return wp_page_copy(vmf, folio);
	}

	if (PageAnonExclusive(&folio->page) || wp_can_reuse_anon_folio(folio)) {
		if (!unshare)
			ptep_set_bits(vmf->pte,
				      ((vma->vm_flags & VM_WRITE) ? _PAGE_RW : 0) | _PAGE_DIRTY |
				      _PAGE_SOFT_DIRTY | _PAGE_ACCESSED);
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return 0;
	}
	folio_get(folio);
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	return wp_page_copy(vmf, folio);
}

/*
 * ptl held: a PROT_NONE entry in a VMA the access check found accessible.
 * change_protection keeps entries in step with vm_flags, so this is only
 * transient; make it present again (read-only: a write goes on to
 * do_wp_page, which grants write access only where no COW is pending).
 */
static void restore_protnone(struct vm_fault *vmf)
{
	pte_t e = (vmf->orig_pte & ~(_PAGE_PROTNONE | _PAGE_RW)) | _PAGE_PRESENT;

	vmf->orig_pte = e;
	__atomic_store_n(vmf->pte, e, __ATOMIC_RELEASE);
}

static vm_fault_t handle_pte_fault(struct vm_fault *vmf)
{
	struct mm_mem *mem = vma_mem(vmf->vma);
	pte_t entry;

	vmf->pte = pte_alloc_map_lock(mem, vmf->address, &vmf->ptl);
	if (unlikely(!vmf->pte))
		return VM_FAULT_OOM;
	entry = ptep_get(vmf->pte);
	vmf->orig_pte = entry;
	vmf->flags |= FAULT_FLAG_ORIG_PTE_VALID;

	if (is_pte_marker(entry) && (pte_marker_get(entry) & PTE_MARKER_GUARD)) {
		/* MADV_GUARD_INSTALL: any access is SIGSEGV. */
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return VM_FAULT_SIGSEGV;
	}
	if (pte_none(entry) || is_pte_marker(entry)) {
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		if (vmf->flags & FAULT_FLAG_UNSHARE)
			return 0; /* nothing mapped: nothing to unshare */
		if (!vma_is_anonymous(vmf->vma))
			return do_fault(vmf); /* shmem: file faults, filemap.c */
		return do_anonymous_page(vmf);
	}
	if (is_swap_pte(entry)) {
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		return VM_FAULT_SIGBUS; /* no swap yet */
	}
	if (pte_protnone(entry))
		restore_protnone(vmf);

	if (vmf->flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) {
		if (!pte_write(vmf->orig_pte))
			return do_wp_page(vmf);
		if (vmf->flags & FAULT_FLAG_WRITE)
			ptep_set_bits(vmf->pte, _PAGE_DIRTY | _PAGE_SOFT_DIRTY);
	}
	ptep_set_bits(vmf->pte, _PAGE_ACCESSED);
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	return 0;
}

static vm_fault_t __handle_mm_fault(struct vm_area_struct *vma, unsigned long address,
				    unsigned int flags, struct fault_stats *stats)
{
	struct vm_fault vmf = {
		.vma = vma,
		.address = address & PAGE_MASK,
		.real_address = address,
		.flags = flags,
		.pgoff = linear_page_index(vma, address & PAGE_MASK),
		.stats = stats,
	};
	vm_fault_t ret;

	if (flags & FAULT_FLAG_VMA_LOCK)
		vma_assert_locked(vma);
	else
		mmap_assert_locked(vma->vm_mm);
	/* sanitize_fault_flags: UNSHARE is a read fault on a COW mapping. */
	if (flags & FAULT_FLAG_UNSHARE) {
		if ((flags & FAULT_FLAG_WRITE) || !is_cow_mapping(vma->vm_flags))
			return VM_FAULT_SIGSEGV;
	}

	/* A fault may always give up and ask to be retried (userfaultfd). */
	if ((flags & FAULT_FLAG_ALLOW_RETRY) && !(flags & FAULT_FLAG_TRIED) &&
	    unlikely(atomic_load_explicit(&retry_inject, memory_order_relaxed) > 0) &&
	    atomic_fetch_sub(&retry_inject, 1) > 0) {
		release_fault_lock(&vmf);
		return VM_FAULT_RETRY;
	}

	ret = handle_pte_fault(&vmf);
	if (!(ret & (VM_FAULT_ERROR | VM_FAULT_RETRY)))
		fault_stat(&vmf, faults, 1);
	return ret;
}

vm_fault_t handle_mm_fault(struct vm_area_struct *vma, unsigned long address,
			   unsigned int flags, void *regs)
{
	(void)regs;
	return __handle_mm_fault(vma, address, flags, NULL);
}

void fault_stats_flush(struct mm_struct *mm, struct fault_stats *st)
{
	if (st->rss_anon)
		atomic_fetch_add_explicit(&mm->rss_anon, st->rss_anon, memory_order_relaxed);
	if (st->rss_shmem)
		atomic_fetch_add_explicit(&mm->rss_shmem, st->rss_shmem, memory_order_relaxed);
	if (st->faults)
		atomic_fetch_add_explicit(&mm->stat_faults, (unsigned long)st->faults,
					  memory_order_relaxed);
	if (st->cow)
		atomic_fetch_add_explicit(&mm->stat_cow_faults, (unsigned long)st->cow,
					  memory_order_relaxed);
	if (st->zero)
		atomic_fetch_add_explicit(&mm->stat_zero_faults, (unsigned long)st->zero,
					  memory_order_relaxed);
	*st = (struct fault_stats){ 0 };
}

/* ------------------------------------------------------------ user entry */

static bool access_error(unsigned int flags, const struct vm_area_struct *vma)
{
	if (flags & FAULT_FLAG_WRITE)
		return !(vma->vm_flags & VM_WRITE);
	return !(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC));
}

static int fault_code(vm_fault_t fault)
{
	if (fault & VM_FAULT_OOM)
		return ASPACE_FAULT_OOM;
	if (fault & (VM_FAULT_SIGBUS | VM_FAULT_HWPOISON))
		return ASPACE_FAULT_SIGBUS;
	if (fault & VM_FAULT_SIGSEGV)
		return ASPACE_FAULT_SEGV_MAPERR; /* x86: bad_area_nosemaphore */
	return ASPACE_FAULT_OK;
}

int do_user_addr_fault(struct mm_struct *mm, unsigned long address, unsigned int flags,
		       struct fault_stats *stats)
{
	struct vm_area_struct *vma;
	vm_fault_t fault;

	flags |= FAULT_FLAG_DEFAULT | FAULT_FLAG_USER;
	if (address >= mm->task_size && mm->task_size)
		return ASPACE_FAULT_SEGV_MAPERR;

	if (!mm->per_vma_lock)
		goto lock_mmap;
	vma = lock_vma_under_rcu(mm, address);
	if (!vma)
		goto lock_mmap;
	if (unlikely(access_error(flags, vma))) {
		vma_end_read(vma);
		return ASPACE_FAULT_SEGV_ACCERR;
	}
	fault = __handle_mm_fault(vma, address, flags | FAULT_FLAG_VMA_LOCK, stats);
	if (!(fault & (VM_FAULT_RETRY | VM_FAULT_COMPLETED)))
		vma_end_read(vma);
	/* lock_vma_under_rcu counted SUCCESS when it took the lock. */
	if (!(fault & VM_FAULT_RETRY))
		return fault_code(fault);
	count_vma_lock_event(mm, retry);
	flags |= FAULT_FLAG_TRIED;

lock_mmap:
	for (;;) {
		mmap_read_lock(mm);
		vma = find_vma(mm, address);
		if (!vma || vma->vm_start > address) {
			/* No stack expansion: VM_GROWSDOWN is the VMA layer's. */
			mmap_read_unlock(mm);
			return ASPACE_FAULT_SEGV_MAPERR;
		}
		if (unlikely(access_error(flags, vma))) {
			mmap_read_unlock(mm);
			return ASPACE_FAULT_SEGV_ACCERR;
		}
		fault = __handle_mm_fault(vma, address, flags, stats);
		if (!(fault & VM_FAULT_RETRY))
			break;
		flags |= FAULT_FLAG_TRIED; /* the lock was released for us */
	}
	if (!(fault & VM_FAULT_COMPLETED))
		mmap_read_unlock(mm);
	return fault_code(fault);
}

/* --------------------------------------------------------------- zapping */

/*
 * Zap [start, end): present entries are cleared and their frames go to the
 * mmu_gather; markers are dropped too unless keep_markers (MADV_DONTNEED
 * keeps guard and uffd-wp markers: only munmap and exit remove them).
 */
static void zap_range(struct mm_struct *mm, unsigned long start, unsigned long end,
		      bool keep_markers)
{
	struct mm_mem *mem = mm_mem(mm);
	struct mmu_gather tlb;
	long anon = 0, shmem = 0;
	unsigned long addr, next;

	mmap_assert_locked(mm);
	if (!mem || !mem->pgd)
		return;
	tlb_gather_mmu(&tlb, mem->pool);
	for (addr = start; addr < end; addr = next) {
		pte_t *table = pte_table_lookup(mem, addr, &next);
		unsigned long stop = next < end ? next : end;
		spinlock_t *ptl;

		if (!table)
			continue;
		ptl = pte_lockptr(mem, table);
		spin_lock(ptl);
		for (; addr < stop; addr += PAGE_SIZE) {
			pte_t *ptep = &table[pte_index(addr)];
			pte_t e = __atomic_load_n(ptep, __ATOMIC_RELAXED);
			struct folio *folio;

			if (pte_none(e) || (keep_markers && is_pte_marker(e)))
				continue;
			e = ptep_get_and_clear(ptep);
			if (!pte_present(e) || pte_special(e))
				continue; /* markers, swap entries (none yet), zero page */
			folio = page_folio(pfn_to_page(mem->pool, pte_pfn(e)));
			zap_folio_pte(&tlb, folio, pte_dirty(e), &anon, &shmem);
		}
		spin_unlock(ptl);
	}
	tlb_finish_mmu(&tlb);
	if (anon)
		atomic_fetch_sub_explicit(&mm->rss_anon, anon, memory_order_relaxed);
	if (shmem)
		atomic_fetch_sub_explicit(&mm->rss_shmem, shmem, memory_order_relaxed);
}

void unmap_page_range(struct mm_struct *mm, struct vm_area_struct *vma,
		      unsigned long start, unsigned long end)
{
	(void)vma;
	zap_range(mm, start, end, false);
}

void zap_page_range_keep_markers(struct mm_struct *mm, unsigned long start,
				 unsigned long end)
{
	zap_range(mm, start, end, true);
}

/* --------------------------------------------------------- guard markers */

int guard_install_range(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	struct mm_mem *mem = mm_mem(mm);

	mmap_assert_locked(mm);
	for (unsigned long addr = start; addr < end;) {
		unsigned long stop = ((addr & PMD_MASK) + PMD_SIZE) < end ?
				     ((addr & PMD_MASK) + PMD_SIZE) : end;
		spinlock_t *ptl;
		pte_t *ptep = pte_alloc_map_lock(mem, addr, &ptl);
		bool mapped = false;

		if (!ptep)
			return -ENOMEM;
		for (unsigned long a = addr; a < stop; a += PAGE_SIZE, ptep++) {
			pte_t e = ptep_get(ptep);

			if (pte_none(e))
				set_pte(ptep, make_pte_marker(PTE_MARKER_GUARD));
			else if (is_pte_marker(e))
				set_pte(ptep, make_pte_marker(pte_marker_get(e) | PTE_MARKER_GUARD));
			else
				mapped = true;
		}
		spin_unlock(ptl);
		if (mapped) {
			/* Pages are mapped there: zap them and install again. */
			zap_page_range_keep_markers(mm, addr, stop);
			continue;
		}
		addr = stop;
	}
	return 0;
}

void guard_remove_range(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	struct mm_mem *mem = mm_mem(mm);
	unsigned long addr, next;

	mmap_assert_locked(mm);
	for (addr = start; addr < end; addr = next) {
		pte_t *table = pte_table_lookup(mem, addr, &next);
		unsigned long stop = next < end ? next : end;
		spinlock_t *ptl;

		if (!table)
			continue;
		ptl = pte_lockptr(mem, table);
		spin_lock(ptl);
		for (; addr < stop; addr += PAGE_SIZE) {
			pte_t *ptep = &table[pte_index(addr)];
			pte_t e = ptep_get(ptep);
			unsigned long m;

			if (!is_pte_marker(e) || !(pte_marker_get(e) & PTE_MARKER_GUARD))
				continue;
			m = pte_marker_get(e) & ~PTE_MARKER_GUARD;
			set_pte(ptep, m ? make_pte_marker(m) : 0);
		}
		spin_unlock(ptl);
	}
}

/* ------------------------------------------------------------- populate */

int mm_populate_range(struct mm_struct *mm, unsigned long start, unsigned long len,
		      bool write)
{
	int ret;

	mmap_read_lock(mm);
	ret = populate_range_locked(mm, start, len, write);
	mmap_read_unlock(mm);
	return ret;
}

int populate_range_locked(struct mm_struct *mm, unsigned long start, unsigned long len,
			  bool write)
{
	unsigned long end = start + len, addr = start;
	struct fault_stats st = { 0 };
	int ret = 0;

	mmap_assert_locked(mm);
	while (addr < end) {
		struct vm_area_struct *vma = find_vma(mm, addr);
		unsigned int flags = 0;
		unsigned long stop;

		if (!vma || vma->vm_start >= end)
			break;
		if (vma->vm_start > addr)
			addr = vma->vm_start;
		stop = vma->vm_end < end ? vma->vm_end : end;
		if (!(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
			addr = stop;
			continue;
		}
		/* Break COW now in private writable mappings, as GUP does. */
		if ((write && (vma->vm_flags & VM_WRITE)) ||
		    (vma->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE)
			flags |= FAULT_FLAG_WRITE;
		for (; addr < stop; addr += PAGE_SIZE) {
			vm_fault_t fault = __handle_mm_fault(vma, addr, flags, &st);

			if (fault & VM_FAULT_ERROR) {
				ret = (fault & VM_FAULT_OOM) ? -ENOMEM : -EFAULT;
				goto out;
			}
		}
	}
out:
	fault_stats_flush(mm, &st);
	return ret;
}
