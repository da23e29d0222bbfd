/*
 * gup.h: get_user_pages / pin_user_pages (FOLL_GET / FOLL_PIN), the slow
 * path under mmap_lock and GUP-fast under RCU (seed 003), and unpinning.
 *
 * Locks: the slow path holds mmap_lock for read across the whole range and
 * takes each PTE lock while it looks at an entry and grabs the page; the
 * fast path holds only the RCU read lock and mm->write_protect_seq (read
 * side) and backs out whenever it cannot be sure.  A grabbed page holds one
 * reference, and with FOLL_PIN also one _pincount, until unpin_user_page /
 * put_page; the shared zero page is never counted.
 */
#ifndef ASPACE_GUP_H
#define ASPACE_GUP_H

#include "folio.h"
#include "mm_types.h"

#include <stdatomic.h>
#include <stdbool.h>

/* GUP flags (the kernel's names; values are ours). */
enum foll_flag {
	FOLL_WRITE = 1 << 0,     /* the caller will write the pages */
	FOLL_GET = 1 << 1,       /* take a page reference */
	FOLL_PIN = 1 << 2,       /* take a pin (reference + _pincount) */
	FOLL_LONGTERM = 1 << 3,  /* the pin lives on (DMA buffer) */
	FOLL_FAST_ONLY = 1 << 4, /* GUP-fast only, never the slow path */
};

/* GUP statistics (tests look at them): pages grabbed by GUP-fast and by
 * the slow path, and GUP-fast walks that backed out before the end. */
struct gup_stats {
	atomic_ulong fast_pages, slow_pages, fast_fallbacks;
};
extern struct gup_stats gup_stats;

/*
 * gup_must_unshare: a R/O pin of this page would not stay coherent with
 * what the process sees after a later write fault, so the page must be
 * unshared first (FAULT_FLAG_UNSHARE).  vma NULL: GUP-fast (no VMA known).
 */
bool gup_must_unshare(struct vm_area_struct *vma, unsigned int flags,
		      struct page *page);

/*
 * The slow path: fault in and grab nr_pages pages from start (page
 * aligned).  mmap_lock must be held for read.  Returns the number grabbed,
 * or a negative errno when none was: -EFAULT (no VMA, wrong permission,
 * SIGSEGV/SIGBUS), -ENOMEM (pool empty).
 */
long __get_user_pages_locked(struct mm_struct *mm, unsigned long start,
			     unsigned long nr_pages, unsigned int gup_flags,
			     struct page **pages);

/* GUP-fast: no lock but RCU; grabs what it can be sure of, in order, and
 * returns how many (0..nr_pages). */
unsigned long gup_fast(struct mm_struct *mm, unsigned long start,
		       unsigned long nr_pages, unsigned int gup_flags,
		       struct page **pages);

/* The callers' entries (take mmap_lock themselves): count or -errno. */
long get_user_pages(struct mm_struct *mm, unsigned long start, unsigned long nr_pages,
		    unsigned int gup_flags, struct page **pages);
long pin_user_pages(struct mm_struct *mm, unsigned long start, unsigned long nr_pages,
		    unsigned int gup_flags, struct page **pages);
long pin_user_pages_fast(struct mm_struct *mm, unsigned long start,
			 unsigned long nr_pages, unsigned int gup_flags,
			 struct page **pages);
long get_user_pages_fast(struct mm_struct *mm, unsigned long start,
			 unsigned long nr_pages, unsigned int gup_flags,
			 struct page **pages);

/* Drop a FOLL_PIN / FOLL_GET grab (dirty: the device wrote the page). */
void unpin_user_page(struct page *page);
void unpin_user_pages_dirty_lock(struct page **pages, unsigned long npages, bool dirty);
void put_user_page_ref(struct page *page);

/* fork's side of GUP-fast (mm->write_protect_seq): begin before the page
 * tables of a COW mapping are write-protected, end after. */
void mm_write_protect_begin(struct mm_struct *mm);
void mm_write_protect_end(struct mm_struct *mm);

/* fork's copy of a pinned anon page (copy_present_page): the page stays
 * writable in the parent, whose threads may write it meanwhile, as CPUs
 * may during a kernel fork; under TSan that is a guest-level race, so the
 * source is read with relaxed atomics (see access.c). */
void copy_pinned_page(void *to, const void *from);

struct aspace_pin;
/* Tests: the page a pin holds at index idx (NULL past the end). */
struct page *pin_page(const struct aspace_pin *p, unsigned long idx);

#endif
