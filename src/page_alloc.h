/*
 * page_alloc.h: the pool of page frames (the engine's "physical memory").
 *
 * A pool is one host mapping (MAP_NORESERVE: only touched frames cost host
 * memory) cut into 4 KiB frames, each described by a struct page in a
 * parallel array.  Blocks of 2^order frames, order 0..MAX_PAGE_ORDER, come
 * from a buddy allocator; order-0 frames go through per-thread caches first
 * (see page_alloc.c).  Running out returns NULL, never crashes.
 *
 * Locks:
 *   pool->zone_lock     the buddy free lists, nr_free_buddy, every free
 *                       frame's buddy fields
 *   pool->pcp[i].lock   cache slot i's array and count
 *   pool->refcount      atomic; mms sharing the pool (a fork child shares
 *                       its parent's) and pending deferred frees hold one
 *
 * A frame that a lock-free walker may still see (it was mapped by a page
 * table, or is a page table) is freed only after an RCU grace period: unmap
 * paths collect such frames in an mmu_gather and hand them to call_rcu.
 */
#ifndef ASPACE_PAGE_ALLOC_H
#define ASPACE_PAGE_ALLOC_H

#include "folio.h"
#include "spinlock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_SHIFT 12
#define FRAME_SIZE (1UL << FRAME_SHIFT)
#define MAX_PAGE_ORDER 9
#define NR_PCP_SLOTS 32
#define PCP_HIGH 128
#define PCP_BATCH 32
#define PFN_NIL UINT32_MAX
/* Default size of the library-wide pool (struct aspace_config.pool_bytes 0). */
#define DEFAULT_POOL_BYTES (1UL << 30)

/* Padded to whole cache lines (not aligned: the pool comes from calloc),
 * so two slots in use share at most one line at their boundary. */
struct pcp_slot {
	spinlock_t lock;
	int count;
	uint32_t pfn[PCP_HIGH];
	char pad[64 - (8 + 4 * PCP_HIGH) % 64];
};

struct free_area {
	uint32_t head;
	unsigned long nr_free;
};

struct page_pool {
	char *base;               /* frame 0 */
	struct page *pages;       /* metadata, one per frame, 64-byte aligned */
	void *pages_mem;          /* the allocation pages lies in */
	unsigned long nr_pages;
	void *map_addr;           /* the host mapping, for munmap */
	size_t map_len;
	atomic_long refcount;
	atomic_long deferred;     /* frames waiting for a grace period */
	struct page *zero_page;   /* PG_reserved, never freed */

	pthread_mutex_t zone_lock;
	struct free_area free_area[MAX_PAGE_ORDER + 1];
	unsigned long nr_free_buddy;

	struct pcp_slot pcp[NR_PCP_SLOTS];
};

/* Create a pool of `bytes` (rounded down to whole frames; at least a few
 * frames).  Returns NULL when the host refuses the mapping. */
struct page_pool *pool_create(size_t bytes);
/* The library-wide default pool (created on first use, never destroyed);
 * returns it with a reference taken. */
struct page_pool *pool_default(void);
void pool_get(struct page_pool *pool);
void pool_put(struct page_pool *pool);
/* Free frames (buddy + caches) and all frames; waits for deferred frees
 * first so the count is exact.  Not inside an RCU read-side section. */
void pool_stats(struct page_pool *pool, unsigned long *free_pages,
		unsigned long *total_pages);

/* A block of 2^order frames with refcount 1 and clean metadata, contents
 * undefined; NULL when the pool has none. */
struct page *alloc_pages(struct page_pool *pool, unsigned int order);
/* An order-0 frame filled with zeroes. */
struct page *alloc_zeroed_page(struct page_pool *pool);
/* Return a block whose refcount reached zero. */
void __free_pages(struct page *page, unsigned int order);

static inline unsigned long page_to_pfn(const struct page *page)
{
	return (unsigned long)(page - page->pool->pages);
}
static inline struct page *pfn_to_page(struct page_pool *pool, unsigned long pfn)
{
	return &pool->pages[pfn];
}
static inline void *pfn_to_virt(struct page_pool *pool, unsigned long pfn)
{
	return pool->base + (pfn << FRAME_SHIFT);
}
static inline void *page_address(const struct page *page)
{
	return pfn_to_virt(page->pool, page_to_pfn(page));
}
static inline bool is_zero_pfn(struct page_pool *pool, unsigned long pfn)
{
	return pfn == page_to_pfn(pool->zero_page);
}

void clear_page(void *addr);
void copy_page(void *to, const void *from);

/*
 * mmu_gather: frames unmapped from page tables (and freed page tables) are
 * gathered while the unmapping runs and freed after a grace period, so a
 * lock-free walker (aspace_read/write's fast path, GUP-fast) that found the
 * old entry can finish with the frame before it is reused.
 */
struct frame_batch;
struct mmu_gather {
	struct page_pool *pool;
	struct frame_batch *batch;
	unsigned long freed;      /* frames queued */
};

void tlb_gather_mmu(struct mmu_gather *tlb, struct page_pool *pool);
/* Drop the page table's reference on folio; when it was the last, queue
 * the frame for freeing after a grace period. */
void tlb_remove_folio(struct mmu_gather *tlb, struct folio *folio);
/* Queue a page-table frame (refcount already dropped to zero by the caller
 * or never used as a reference). */
void tlb_remove_table(struct mmu_gather *tlb, struct page *table);
/* Hand everything gathered to call_rcu.  Not inside an RCU read-side
 * critical section (it may wait for a grace period when out of memory). */
void tlb_finish_mmu(struct mmu_gather *tlb);

/*
 * A present PTE mapping folio was just cleared (PTE lock held): carry its
 * dirty bit over, count the page off the mm's RSS (anon or shmem), and drop
 * the mapping and the reference the PTE held.
 */
static inline void zap_folio_pte(struct mmu_gather *tlb, struct folio *folio, bool dirty,
				 long *anon, long *shmem)
{
	if (dirty)
		folio_mark_dirty(folio);
	if (folio_test_anon(folio))
		(*anon)++;
	else
		(*shmem)++;
	folio_add_mapcount(folio, -1);
	tlb_remove_folio(tlb, folio);
}

/* Put a reference that a page table held, outside any mmu_gather (the COW
 * path replaces one PTE): deferred the same way when it was the last. */
void folio_put_deferred(struct folio *folio);

#endif
