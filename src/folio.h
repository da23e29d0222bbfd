/*
 * folio.h: page-frame metadata (struct page / struct folio) and the shared
 * zero page.
 *
 * One struct page describes each 4 KiB frame of a page_pool.  A folio is the
 * head page of a block of 2^order frames (order 0 for everything today; THP
 * and hugetlb will use larger ones), so folio metadata lives in the head's
 * struct page and `struct folio` is that struct seen as the whole block.
 *
 * Who writes what:
 *   _refcount, _mapcount, _pincount   atomics, no lock.  A mapping from a
 *                    page table holds one reference and one mapcount; a GUP
 *                    pin (the GUP issue) holds a reference and one _pincount,
 *                    so folio_maybe_dma_pinned() is exact.
 *   flags            atomic bit operations.  PG_anon_exclusive is changed
 *                    only under the PTE-table lock of the (single) PTE that
 *                    maps the page, or under mmap write lock in fork.
 *   mapping, index   set once when an anonymous page is first mapped (fault
 *                    path, before the PTE is published), stable afterwards.
 *   buddy fields     (buddy_order, next/prev) only while PG_buddy is set,
 *                    under the pool's zone lock.
 *   ptl              only for frames used as PTE tables: the split
 *                    page-table lock.
 */
#ifndef ASPACE_FOLIO_H
#define ASPACE_FOLIO_H

#include "spinlock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct page_pool;

enum pageflags {
	PG_locked,
	PG_uptodate,
	PG_dirty,
	PG_lru,
	PG_head,
	PG_swapbacked,
	PG_anon,           /* mapping is an anon_vma */
	PG_anon_exclusive, /* exactly one mm/PTE may write it (seed 003) */
	PG_reserved,       /* the zero page: never freed, never counted */
	PG_buddy,          /* free, on a buddy free list */
	PG_pgtable,        /* a page-table frame */
	PG_pcp,            /* free, in a per-thread cache */
};

struct page {
	atomic_ulong flags;
	atomic_int _refcount;
	atomic_int _mapcount; /* number of PTEs mapping it (0 based) */
	atomic_int _pincount; /* FOLL_PIN pins (the GUP issue) */
	unsigned int buddy_order;
	uint32_t buddy_next, buddy_prev; /* free list links (pfns) */
	void *mapping;        /* anon_vma for anon pages */
	unsigned long index;  /* page offset in the mapping */
	struct page_pool *pool;
	spinlock_t ptl;       /* PTE tables only: the split PTE lock */
} __attribute__((aligned(64))); /* one cache line each */

/* The head page of a block, seen as the whole block. */
struct folio {
	struct page page;
};

static inline struct folio *page_folio(struct page *page)
{
	return (struct folio *)page; /* every folio is order 0 today */
}

static inline struct page *folio_page(struct folio *folio, unsigned long n)
{
	return &folio->page + n;
}

/* ---- flags ---- */
static inline bool test_page_flag(const struct page *p, int nr)
{
	return atomic_load_explicit((atomic_ulong *)&p->flags,
				    memory_order_acquire) & (1UL << nr);
}
static inline void set_page_flag(struct page *p, int nr)
{
	atomic_fetch_or_explicit(&p->flags, 1UL << nr, memory_order_release);
}
static inline void clear_page_flag(struct page *p, int nr)
{
	atomic_fetch_and_explicit(&p->flags, ~(1UL << nr), memory_order_release);
}

static inline bool folio_test_anon(const struct folio *f) { return test_page_flag(&f->page, PG_anon); }
static inline bool folio_test_dirty(const struct folio *f) { return test_page_flag(&f->page, PG_dirty); }
static inline void folio_mark_dirty(struct folio *f) { set_page_flag(&f->page, PG_dirty); }
static inline bool folio_test_reserved(const struct folio *f) { return test_page_flag(&f->page, PG_reserved); }
static inline bool PageAnonExclusive(const struct page *p) { return test_page_flag(p, PG_anon_exclusive); }
static inline void SetPageAnonExclusive(struct page *p) { set_page_flag(p, PG_anon_exclusive); }
static inline void ClearPageAnonExclusive(struct page *p) { clear_page_flag(p, PG_anon_exclusive); }

/* ---- counts ---- */
static inline int folio_ref_count(const struct folio *f)
{
	return atomic_load_explicit((atomic_int *)&f->page._refcount, memory_order_acquire);
}
static inline void folio_get(struct folio *f)
{
	atomic_fetch_add_explicit(&f->page._refcount, 1, memory_order_relaxed);
}
/* Take a reference unless the count is zero (the frame is being freed):
 * the way a lock-free walker (GUP-fast) pins what it found. */
static inline bool folio_try_get(struct folio *f)
{
	int c = atomic_load_explicit(&f->page._refcount, memory_order_relaxed);

	while (c > 0)
		if (atomic_compare_exchange_weak_explicit(&f->page._refcount, &c, c + 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return true;
	return false;
}
static inline int folio_mapcount(const struct folio *f)
{
	return atomic_load_explicit((atomic_int *)&f->page._mapcount, memory_order_relaxed);
}
static inline void folio_add_mapcount(struct folio *f, int n)
{
	atomic_fetch_add_explicit(&f->page._mapcount, n, memory_order_relaxed);
}
static inline bool folio_maybe_dma_pinned(const struct folio *f)
{
	return atomic_load_explicit((atomic_int *)&f->page._pincount, memory_order_acquire) > 0;
}

/* Drop a reference; the last one frees the frame to its pool.  Use it only
 * for a frame no lock-free walker can still reach (never mapped, or unmapped
 * and a grace period passed): unmapping goes through mmu_gather instead. */
void folio_put(struct folio *folio);

#endif
