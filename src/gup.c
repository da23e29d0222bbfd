/*
 * gup.c: get_user_pages and pin_user_pages (seed 003: reliable R/O
 * long-term pinning in COW mappings), and the public aspace_pin API.
 *
 *   __get_user_pages_locked  the slow path: for each page, find the VMA and
 *                        check it (check_vma_flags), look at the PTE under
 *                        its lock (follow_page_pte) and grab the page, or
 *                        fault it in (faultin_page: a write fault breaks
 *                        COW for FOLL_WRITE, an UNSHARE fault when
 *                        gup_must_unshare) and look again.
 *   gup_fast             the lock-free walk: RCU read lock, entries read
 *                        once, folio_try_get, the entry read again; backs
 *                        out on anything it cannot be sure of (a missing or
 *                        R/O entry for a write, a page that would need
 *                        unsharing, the zero page for a long-term pin, a
 *                        fork write-protecting meanwhile) and leaves the
 *                        rest to the slow path.
 *   unpin_user_page      drop a pin: _pincount and the reference.
 *
 * Locks: the slow path holds mmap_lock for read across the whole range
 * (VMAs cannot change under it) and each PTE table's lock while it reads an
 * entry and grabs the page it maps, so the page cannot be unmapped and
 * freed in between.  GUP-fast holds only the RCU read lock: tables and
 * unmapped frames are freed after a grace period (mmu_gather), and a frame
 * whose refcount already reached zero is not taken (folio_try_get).
 * mm->write_protect_seq (written by fork under mmap write lock) tells
 * GUP-fast that fork may have write-protected and shared a page after the
 * entry was read: a FOLL_PIN walk that overlaps a fork backs out entirely,
 * so a pinned anonymous page is never shared by fork.
 *
 * A struct aspace_pin owns its pages array; nothing else touches it.
 */
#include "gup.h"
#include "debug.h"
#include "memory.h"
#include "mm.h"
#include "mm_mem.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "rcu.h"
#include "shmem.h"
#include "vma.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct gup_stats gup_stats;

/* ------------------------------------------------------------ counting */

static inline bool page_is_zero(struct mm_mem *mem, struct page *page)
{
	return folio_test_reserved(page_folio(page)) ||
	       is_zero_pfn(mem->pool, page_to_pfn(page));
}

/* Grab a page found mapped under its PTE lock (refcount > 0 is certain). */
static void try_grab_page_locked(struct page *page, unsigned int flags)
{
	struct folio *folio = page_folio(page);

	if (folio_test_reserved(folio))
		return; /* the zero page is never counted */
	folio_get(folio);
	if (flags & FOLL_PIN)
		atomic_fetch_add_explicit(&folio->page._pincount, 1, memory_order_acq_rel);
}

/* Drop what try_grab_page_locked / gup_fast took. */
static void gup_put_page(struct page *page, unsigned int flags)
{
	struct folio *folio = page_folio(page);

	if (folio_test_reserved(folio))
		return;
	if (flags & FOLL_PIN) {
		int old = atomic_fetch_sub_explicit(&folio->page._pincount, 1,
						    memory_order_acq_rel);

		RULE_CHECK(old > 0, "unpin of an unpinned page", NULL,
			   "pfn %lu _pincount was %d", page_to_pfn(page), old);
	}
	folio_put(folio);
}

void unpin_user_page(struct page *page)
{
	gup_put_page(page, FOLL_PIN);
}

void put_user_page_ref(struct page *page)
{
	gup_put_page(page, FOLL_GET);
}

void unpin_user_pages_dirty_lock(struct page **pages, unsigned long npages, bool dirty)
{
	for (unsigned long i = 0; i < npages; i++) {
		if (dirty && !folio_test_reserved(page_folio(pages[i])))
			folio_mark_dirty(page_folio(pages[i]));
		unpin_user_page(pages[i]);
	}
}

static void gup_put_pages(struct page **pages, unsigned long n, unsigned int flags)
{
	for (unsigned long i = 0; i < n; i++)
		gup_put_page(pages[i], flags);
}

/* ---------------------------------------------------- fork's side */

void copy_pinned_page(void *to, const void *from)
{
#ifdef ASPACE_TSAN
	const uint64_t *s = from;
	uint64_t *d = to;

	for (unsigned long i = 0; i < PAGE_SIZE / 8; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
#else
	copy_page(to, from);
#endif
}


void mm_write_protect_begin(struct mm_struct *mm)
{
	mmap_assert_write_locked(mm);
	atomic_fetch_add_explicit(&mm->write_protect_seq, 1, memory_order_relaxed);
	/* Pairs with the fence in gup_fast: either fork sees the new pin
	 * (and copies the page), or GUP-fast sees the odd count. */
	atomic_thread_fence(memory_order_seq_cst);
}

void mm_write_protect_end(struct mm_struct *mm)
{
	atomic_fetch_add_explicit(&mm->write_protect_seq, 1, memory_order_release);
}

/* ------------------------------------------------------ unshare rule */

bool gup_must_unshare(struct vm_area_struct *vma, unsigned int flags, struct page *page)
{
	struct folio *folio = page_folio(page);

	/* Only R/O pins: a write pin breaks COW anyway, and FOLL_GET
	 * references make no promise of coherency. */
	if ((flags & (FOLL_WRITE | FOLL_PIN)) != FOLL_PIN)
		return false;
	if (!folio_test_anon(folio)) {
		/* Page cache pages and the zero page in a private mapping: a
		 * later write fault would replace them by an anon copy, so a
		 * long-term pin takes the anon copy now. */
		if (!(flags & FOLL_LONGTERM))
			return false;
		if (!vma)
			return true; /* GUP-fast cannot tell: slow path */
		return is_cow_mapping(vma->vm_flags);
	}
	/* An anon page not exclusive to this PTE may be copied away from
	 * under the pin by the next write fault. */
	return !PageAnonExclusive(&folio->page);
}

/* --------------------------------------------------------- slow path */

static int check_vma_flags(struct vm_area_struct *vma, unsigned int gup_flags)
{
	unsigned long vm_flags = vma->vm_flags;

	if (vm_flags & (VM_IO | VM_PFNMAP))
		return -EFAULT;
	if (gup_flags & FOLL_WRITE) {
		if (!(vm_flags & VM_WRITE))
			return -EFAULT; /* no FOLL_FORCE here */
	} else if (!(vm_flags & VM_READ)) {
		return -EFAULT;
	}
	return 0;
}

/*
 * follow_page_pte: grab the page mapped at addr if the entry allows it.
 * Returns the page, NULL when a fault is needed (*fault_flags says which),
 * or an ERR_PTR.
 */
static struct page *follow_page_pte(struct vm_area_struct *vma, unsigned long addr,
				    unsigned int gup_flags, unsigned int *fault_flags)
{
	struct mm_mem *mem = mm_mem(vma->vm_mm);
	spinlock_t *ptl;
	struct page *page;
	pte_t *ptep, e;

	*fault_flags = (gup_flags & FOLL_WRITE) ? FAULT_FLAG_WRITE : 0;
	ptep = pte_offset_map_lock(mem, addr, &ptl);
	if (!ptep)
		return NULL;
	e = ptep_get(ptep);
	if (!(e & _PAGE_PRESENT))
		goto no_page; /* none, swap/marker, or PROT_NONE: fault */
	if ((gup_flags & FOLL_WRITE) && !pte_write(e))
		goto no_page;
	page = pfn_to_page(mem->pool, pte_pfn(e));
	if (!pte_write(e) && gup_must_unshare(vma, gup_flags, page)) {
		*fault_flags = FAULT_FLAG_UNSHARE;
		goto no_page;
	}
	RULE_CHECK(!(gup_flags & FOLL_PIN) || !folio_test_anon(page_folio(page)) ||
			   PageAnonExclusive(page),
		   "a pinned anon page is exclusive (seed 003)", vma,
		   "addr %#lx pfn %lu", addr, pte_pfn(e));
	try_grab_page_locked(page, gup_flags);
	/* FOLL_TOUCH: as the access that the caller will make would. */
	if (!pte_young(e) || ((gup_flags & FOLL_WRITE) && !pte_dirty(e)))
		__atomic_fetch_or(ptep,
				  _PAGE_ACCESSED | ((gup_flags & FOLL_WRITE)
							    ? (_PAGE_DIRTY | _PAGE_SOFT_DIRTY)
							    : 0),
				  __ATOMIC_ACQ_REL);
	if ((gup_flags & FOLL_WRITE) && !page_is_zero(mem, page))
		folio_mark_dirty(page_folio(page));
	pte_unmap_unlock(ptep, ptl);
	return page;
no_page:
	pte_unmap_unlock(ptep, ptl);
	return NULL;
}

static int faultin_page(struct vm_area_struct *vma, unsigned long addr,
			unsigned int fault_flags)
{
	vm_fault_t ret = handle_mm_fault(vma, addr, fault_flags, NULL);

	/* No FAULT_FLAG_ALLOW_RETRY: the lock is still held. */
	BUG_ON(ret & (VM_FAULT_RETRY | VM_FAULT_COMPLETED));
	if (ret & VM_FAULT_OOM)
		return -ENOMEM;
	if (ret & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON))
		return -EFAULT;
	return 0;
}

long __get_user_pages_locked(struct mm_struct *mm, unsigned long start,
			     unsigned long nr_pages, unsigned int gup_flags,
			     struct page **pages)
{
	struct vm_area_struct *vma = NULL;
	unsigned long i;
	int err = 0;

	mmap_assert_locked(mm);
	RULE_CHECK(!!(gup_flags & FOLL_PIN) != !!(gup_flags & FOLL_GET),
		   "GUP takes FOLL_PIN or FOLL_GET, exactly one", NULL,
		   "gup_flags %#x", gup_flags);
	for (i = 0; i < nr_pages; i++) {
		unsigned long addr = start + i * PAGE_SIZE;
		struct page *page;
		unsigned int fault_flags;

		if (!vma || addr >= vma->vm_end) {
			vma = vma_lookup(mm, addr);
			if (!vma) {
				err = -EFAULT;
				break;
			}
			err = check_vma_flags(vma, gup_flags);
			if (err)
				break;
		}
		for (;;) {
			page = follow_page_pte(vma, addr, gup_flags, &fault_flags);
			if (page)
				break;
			err = faultin_page(vma, addr, fault_flags);
			if (err)
				goto out;
		}
		pages[i] = page;
		atomic_fetch_add_explicit(&gup_stats.slow_pages, 1, memory_order_relaxed);
	}
out:
	return i ? (long)i : err;
}

/* ---------------------------------------------------------- GUP-fast */

unsigned long gup_fast(struct mm_struct *mm, unsigned long start,
		       unsigned long nr_pages, unsigned int gup_flags,
		       struct page **pages)
{
	struct mm_mem *mem = mm_mem(mm);
	unsigned int seq = 0;
	unsigned long i;

	if (gup_flags & FOLL_PIN) {
		seq = atomic_load_explicit(&mm->write_protect_seq, memory_order_acquire);
		if (seq & 1)
			goto fallback_all; /* fork is write-protecting now */
	}
	rcu_read_lock();
	for (i = 0; i < nr_pages; i++) {
		unsigned long addr = start + i * PAGE_SIZE;
		struct folio *folio;
		struct page *page;
		pte_t *ptep, e;

		ptep = pte_offset_lockless(mem, addr);
		if (!ptep)
			break;
		e = ptep_get(ptep);
		/* PRESENT and USER: PROT_NONE and non-present entries (and
		 * with them every VMA check) are the slow path's. */
		if ((e & (_PAGE_PRESENT | _PAGE_USER)) != (_PAGE_PRESENT | _PAGE_USER))
			break;
		if ((gup_flags & FOLL_WRITE) && !pte_write(e))
			break;
		page = pfn_to_page(mem->pool, pte_pfn(e));
		folio = page_folio(page);
		if (pte_special(e) || page_is_zero(mem, page)) {
			/* The zero page: fine for a short-term R/O grab,
			 * but a long-term pin must unshare it. */
			if (gup_must_unshare(NULL, gup_flags, page))
				break;
			pages[i] = page;
			continue;
		}
		if (!folio_try_get(folio))
			break;
		if (gup_flags & FOLL_PIN)
			atomic_fetch_add_explicit(&folio->page._pincount, 1,
						  memory_order_relaxed);
		/* Pairs with mm_write_protect_begin and with zap/COW: after
		 * the grab, the entry must still be the one we read. */
		atomic_thread_fence(memory_order_seq_cst);
		if (ptep_get(ptep) != e) {
			gup_put_page(page, gup_flags);
			break;
		}
		if (!pte_write(e) && gup_must_unshare(NULL, gup_flags, page)) {
			gup_put_page(page, gup_flags);
			break;
		}
		if (gup_flags & FOLL_WRITE)
			folio_mark_dirty(folio);
		pages[i] = page;
	}
	rcu_read_unlock();
	if ((gup_flags & FOLL_PIN) && i &&
	    atomic_load_explicit(&mm->write_protect_seq, memory_order_acquire) != seq) {
		/* A fork ran meanwhile and may have shared what we pinned. */
		for (unsigned long j = 0; j < i; j++)
			if (!page_is_zero(mem, pages[j]))
				gup_put_page(pages[j], gup_flags);
		i = 0;
	}
	atomic_fetch_add_explicit(&gup_stats.fast_pages, i, memory_order_relaxed);
	if (i < nr_pages)
		atomic_fetch_add_explicit(&gup_stats.fast_fallbacks, 1, memory_order_relaxed);
	return i;
fallback_all:
	atomic_fetch_add_explicit(&gup_stats.fast_fallbacks, 1, memory_order_relaxed);
	return 0;
}

/* ---------------------------------------------------- caller entries */

long get_user_pages(struct mm_struct *mm, unsigned long start, unsigned long nr_pages,
		    unsigned int gup_flags, struct page **pages)
{
	long ret;

	gup_flags = (gup_flags & ~FOLL_PIN) | FOLL_GET;
	mmap_read_lock(mm);
	ret = __get_user_pages_locked(mm, start, nr_pages, gup_flags, pages);
	mmap_read_unlock(mm);
	return ret;
}

long pin_user_pages(struct mm_struct *mm, unsigned long start, unsigned long nr_pages,
		    unsigned int gup_flags, struct page **pages)
{
	long ret;

	gup_flags = (gup_flags & ~FOLL_GET) | FOLL_PIN;
	mmap_read_lock(mm);
	ret = __get_user_pages_locked(mm, start, nr_pages, gup_flags, pages);
	mmap_read_unlock(mm);
	return ret;
}

static long internal_get_user_pages_fast(struct mm_struct *mm, unsigned long start,
					 unsigned long nr_pages, unsigned int gup_flags,
					 struct page **pages)
{
	unsigned long nr;
	long ret;

	nr = gup_fast(mm, start, nr_pages, gup_flags, pages);
	if (nr == nr_pages || (gup_flags & FOLL_FAST_ONLY))
		return (long)nr;
	mmap_read_lock(mm);
	ret = __get_user_pages_locked(mm, start + nr * PAGE_SIZE, nr_pages - nr,
				      gup_flags, pages + nr);
	mmap_read_unlock(mm);
	if (ret < 0)
		return nr ? (long)nr : ret;
	return (long)nr + ret;
}

long pin_user_pages_fast(struct mm_struct *mm, unsigned long start,
			 unsigned long nr_pages, unsigned int gup_flags,
			 struct page **pages)
{
	return internal_get_user_pages_fast(mm, start, nr_pages,
					    (gup_flags & ~FOLL_GET) | FOLL_PIN, pages);
}

long get_user_pages_fast(struct mm_struct *mm, unsigned long start,
			 unsigned long nr_pages, unsigned int gup_flags,
			 struct page **pages)
{
	return internal_get_user_pages_fast(mm, start, nr_pages,
					    (gup_flags & ~FOLL_PIN) | FOLL_GET, pages);
}

/* -------------------------------------------------------- public API */

struct aspace_pin {
	struct page_pool *pool; /* keeps the frames' pool alive */
	unsigned long addr, len;
	unsigned long nr_pages;
	unsigned int gup_flags;
	struct page *pages[];
};

#ifdef ASPACE_TSAN
/* Device accesses race with CPU accesses like two CPUs do (see access.c). */
static void dev_copy(char *to, const char *from, size_t n, bool to_guest)
{
	for (; n; n--, to++, from++) {
		if (to_guest)
			__atomic_store_n(to, *from, __ATOMIC_RELAXED);
		else
			*to = __atomic_load_n(from, __ATOMIC_RELAXED);
	}
}
#else
static void dev_copy(char *to, const char *from, size_t n, bool to_guest)
{
	(void)to_guest;
	memcpy(to, from, n);
}
#endif

int aspace_pin(struct aspace_mm *amm, unsigned long addr, unsigned long len, int flags,
	       struct aspace_pin **out)
{
	struct mm_struct *mm = to_mm(amm);
	unsigned int gup_flags = (flags & ASPACE_PIN_GET) ? FOLL_GET : FOLL_PIN;
	unsigned long start, end, nr;
	struct aspace_pin *p;
	long ret;

	if (!out || !len || (flags & ~(ASPACE_PIN_WRITE | ASPACE_PIN_LONGTERM |
				       ASPACE_PIN_FAST | ASPACE_PIN_GET)))
		return -EINVAL;
	if ((flags & ASPACE_PIN_GET) && (flags & ASPACE_PIN_LONGTERM))
		return -EINVAL; /* FOLL_LONGTERM needs FOLL_PIN */
	if (addr + len < addr)
		return -EOVERFLOW;
	start = addr & PAGE_MASK;
	end = PAGE_ALIGN(addr + len);
	if (end < start || (mm->task_size && end > mm->task_size))
		return -EFAULT;
	nr = (end - start) >> PAGE_SHIFT;
	if (flags & ASPACE_PIN_WRITE)
		gup_flags |= FOLL_WRITE;
	if (flags & ASPACE_PIN_LONGTERM)
		gup_flags |= FOLL_LONGTERM;

	p = calloc(1, sizeof(*p) + nr * sizeof(p->pages[0]));
	if (!p)
		return -ENOMEM;
	if (flags & ASPACE_PIN_FAST)
		ret = internal_get_user_pages_fast(mm, start, nr, gup_flags, p->pages);
	else if (gup_flags & FOLL_PIN)
		ret = pin_user_pages(mm, start, nr, gup_flags, p->pages);
	else
		ret = get_user_pages(mm, start, nr, gup_flags, p->pages);
	if (ret < 0)
		goto err_free;
	if ((unsigned long)ret != nr) {
		/* A partial pin is no pin (as io_uring treats it). */
		gup_put_pages(p->pages, (unsigned long)ret, gup_flags);
		ret = -EFAULT;
		goto err_free;
	}
	p->pool = mm_mem(mm)->pool;
	pool_get(p->pool);
	p->addr = addr;
	p->len = len;
	p->nr_pages = nr;
	p->gup_flags = gup_flags;
	*out = p;
	return 0;
err_free:
	free(p);
	return (int)ret;
}

static int pin_xfer(struct aspace_pin *p, unsigned long off, char *buf, size_t len,
		    bool to_guest)
{
	unsigned long pos;

	if (!p || off > p->len || len > p->len - off)
		return -EINVAL;
	pos = (p->addr & ~PAGE_MASK) + off;
	while (len) {
		struct page *page = p->pages[pos >> PAGE_SHIFT];
		size_t in_page = PAGE_SIZE - (pos & ~PAGE_MASK);
		size_t n = len < in_page ? len : in_page;
		char *kaddr = (char *)page_address(page) + (pos & ~PAGE_MASK);

		if (to_guest) {
			/* A device write through a R/O pin (or into the zero
			 * page) would corrupt what others see. */
			if (!(p->gup_flags & FOLL_WRITE) ||
			    folio_test_reserved(page_folio(page)))
				return -EPERM;
			dev_copy(kaddr, buf, n, true);
			folio_mark_dirty(page_folio(page));
		} else {
			dev_copy(buf, kaddr, n, false);
		}
		pos += n;
		len -= n;
		buf += n;
	}
	return 0;
}

int aspace_pin_read(struct aspace_pin *p, unsigned long off, void *buf, size_t len)
{
	return pin_xfer(p, off, buf, len, false);
}

int aspace_pin_write(struct aspace_pin *p, unsigned long off, const void *buf, size_t len)
{
	return pin_xfer(p, off, (char *)buf, len, true);
}

struct page *pin_page(const struct aspace_pin *p, unsigned long idx)
{
	return idx < p->nr_pages ? p->pages[idx] : NULL;
}

void aspace_unpin(struct aspace_pin *p)
{
	if (!p)
		return;
	if (p->gup_flags & FOLL_PIN)
		unpin_user_pages_dirty_lock(p->pages, p->nr_pages,
					    p->gup_flags & FOLL_WRITE);
	else
		gup_put_pages(p->pages, p->nr_pages, p->gup_flags);
	pool_put(p->pool);
	free(p);
}
