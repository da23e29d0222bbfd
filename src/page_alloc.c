/*
 * page_alloc.c: the frame pool (layout and locks in page_alloc.h).
 *
 * Buddy allocator: free blocks of 2^order frames sit on free_area[order]
 * (doubly linked through the head frame's buddy_next/buddy_prev, flagged
 * PG_buddy with buddy_order), all under zone_lock.  Freeing merges a block
 * with its buddy (pfn ^ 2^order) while the buddy is free and of the same
 * order.
 *
 * Order-0 fast path: NR_PCP_SLOTS caches of free frames ("per-CPU pages").
 * A thread is given a slot on its first allocation, round robin, so with no
 * more threads than slots each thread has its own cache and its lock is
 * never contended; it costs an uncontended spin_lock, against a mutex and
 * free-list surgery for the buddy path.  Slots refill and drain in batches
 * of PCP_BATCH under zone_lock.  Caches live inside the pool, so destroying
 * the pool needs no cooperation from threads that may have exited.
 *
 * Deferred freeing (mmu_gather): see page_alloc.h.  A batch holds a pool
 * reference, so a pool outlives the grace periods of its last frames.
 */
#include "page_alloc.h"
#include "alloc.h"
#include "debug.h"
#include "rcu.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif
#include <unistd.h>
#include <sys/mman.h>

#define HUGE_ALIGN (1UL << 21)

/* ---------------------------------------------------------------- buddy */

static void buddy_list_add(struct page_pool *pool, unsigned long pfn, unsigned int order)
{
	struct free_area *area = &pool->free_area[order];
	struct page *page = &pool->pages[pfn];

	page->buddy_order = order;
	page->buddy_prev = PFN_NIL;
	page->buddy_next = area->head;
	if (area->head != PFN_NIL)
		pool->pages[area->head].buddy_prev = (uint32_t)pfn;
	area->head = (uint32_t)pfn;
	area->nr_free++;
	atomic_store_explicit(&page->flags, 1UL << PG_buddy, memory_order_relaxed);
}

static void buddy_list_del(struct page_pool *pool, unsigned long pfn, unsigned int order)
{
	struct free_area *area = &pool->free_area[order];
	struct page *page = &pool->pages[pfn];

	if (page->buddy_prev != PFN_NIL)
		pool->pages[page->buddy_prev].buddy_next = page->buddy_next;
	else
		area->head = page->buddy_next;
	if (page->buddy_next != PFN_NIL)
		pool->pages[page->buddy_next].buddy_prev = page->buddy_prev;
	area->nr_free--;
	atomic_store_explicit(&page->flags, 0, memory_order_relaxed);
}

/* zone_lock held.  Take one block of `order`, splitting a larger one. */
static long rmqueue(struct page_pool *pool, unsigned int order)
{
	unsigned int o;
	unsigned long pfn;

	for (o = order; o <= MAX_PAGE_ORDER; o++)
		if (pool->free_area[o].head != PFN_NIL)
			break;
	if (o > MAX_PAGE_ORDER)
		return -1;
	pfn = pool->free_area[o].head;
	buddy_list_del(pool, pfn, o);
	/* Give back the upper halves. */
	while (o > order) {
		o--;
		buddy_list_add(pool, pfn + (1UL << o), o);
	}
	pool->nr_free_buddy -= 1UL << order;
	return (long)pfn;
}

/* zone_lock held. */
static void free_one_block(struct page_pool *pool, unsigned long pfn, unsigned int order)
{
	pool->nr_free_buddy += 1UL << order;
	while (order < MAX_PAGE_ORDER) {
		unsigned long buddy = pfn ^ (1UL << order);
		struct page *bp;

		if (buddy + (1UL << order) > pool->nr_pages)
			break;
		bp = &pool->pages[buddy];
		if (!(atomic_load_explicit(&bp->flags, memory_order_relaxed) & (1UL << PG_buddy)) ||
		    bp->buddy_order != order)
			break;
		buddy_list_del(pool, buddy, order);
		pfn &= ~(1UL << order);
		order++;
	}
	buddy_list_add(pool, pfn, order);
}

/* ------------------------------------------------------ per-thread caches */

static atomic_uint next_slot;
/* initial-exec: no __tls_get_addr call on the allocation fast path. */
static __thread int my_slot __attribute__((tls_model("initial-exec"))) = -1;

static inline struct pcp_slot *this_slot(struct page_pool *pool)
{
	if (unlikely(my_slot < 0))
		my_slot = (int)(atomic_fetch_add(&next_slot, 1) % NR_PCP_SLOTS);
	return &pool->pcp[my_slot];
}

/* slot lock held: move up to PCP_BATCH frames from the buddy lists. */
static void pcp_refill(struct page_pool *pool, struct pcp_slot *pcp)
{
	int first = pcp->count;

	pthread_mutex_lock(&pool->zone_lock);
	while (pcp->count < PCP_BATCH) {
		long pfn = rmqueue(pool, 0);

		if (pfn < 0)
			break;
		pool->pages[pfn].flags = 1UL << PG_pcp;
		pcp->pfn[pcp->count++] = (uint32_t)pfn;
	}
	pthread_mutex_unlock(&pool->zone_lock);
	/* Splitting hands out ascending pfns; the cache pops from the end, so
	 * store them reversed: consecutive faults then get consecutive frames
	 * (and struct pages), which the hardware prefetchers follow. */
	for (int i = first, j = pcp->count - 1; i < j; i++, j--) {
		uint32_t t = pcp->pfn[i];

		pcp->pfn[i] = pcp->pfn[j];
		pcp->pfn[j] = t;
	}
}

/* slot lock held: give the oldest PCP_BATCH frames back. */
static void pcp_drain(struct page_pool *pool, struct pcp_slot *pcp, int nr)
{
	pthread_mutex_lock(&pool->zone_lock);
	for (int i = 0; i < nr; i++)
		free_one_block(pool, pcp->pfn[i], 0);
	pthread_mutex_unlock(&pool->zone_lock);
	memmove(pcp->pfn, pcp->pfn + nr, (size_t)(pcp->count - nr) * sizeof(pcp->pfn[0]));
	pcp->count -= nr;
}

/* ------------------------------------------------------------ alloc/free */

static void prep_new_page(struct page_pool *pool, struct page *page, unsigned int order)
{
	atomic_store_explicit(&page->flags, order ? 1UL << PG_head : 0, memory_order_relaxed);
	atomic_store_explicit(&page->_refcount, 1, memory_order_relaxed);
	atomic_store_explicit(&page->_mapcount, 0, memory_order_relaxed);
	atomic_store_explicit(&page->_pincount, 0, memory_order_relaxed);
	page->buddy_order = order;
	page->mapping = NULL;
	page->index = 0;
	page->pool = pool;
	spin_lock_init(&page->ptl);
	for (unsigned long i = 1; i < (1UL << order); i++) {
		atomic_store_explicit(&page[i].flags, 0, memory_order_relaxed);
		page[i].pool = pool;
	}
}

struct page *alloc_pages(struct page_pool *pool, unsigned int order)
{
	struct page *page;
	long pfn;

	if (order > MAX_PAGE_ORDER)
		return NULL;
	if (likely(order == 0)) {
		struct pcp_slot *pcp = this_slot(pool);

		spin_lock(&pcp->lock);
		if (unlikely(!pcp->count))
			pcp_refill(pool, pcp);
		pfn = pcp->count ? (long)pcp->pfn[--pcp->count] : -1;
		spin_unlock(&pcp->lock);
		if (pfn < 0) {
			/* Other slots may still hold frames: drain them all and try once more. */
			for (int i = 0; i < NR_PCP_SLOTS; i++) {
				struct pcp_slot *o = &pool->pcp[i];

				spin_lock(&o->lock);
				if (o->count)
					pcp_drain(pool, o, o->count);
				spin_unlock(&o->lock);
			}
			pthread_mutex_lock(&pool->zone_lock);
			pfn = rmqueue(pool, 0);
			pthread_mutex_unlock(&pool->zone_lock);
			if (pfn < 0)
				return NULL;
		}
	} else {
		pthread_mutex_lock(&pool->zone_lock);
		pfn = rmqueue(pool, order);
		pthread_mutex_unlock(&pool->zone_lock);
		if (pfn < 0)
			return NULL;
	}
	page = &pool->pages[pfn];
	prep_new_page(pool, page, order);
	return page;
}

void clear_page(void *addr)
{
#if defined(__x86_64__)
	/*
	 * Non-temporal stores: a frame from the pool is cache-cold, and normal
	 * stores would first read every line of it (read-for-ownership) only
	 * to overwrite it.  The access that caused the fault then misses on
	 * its one line instead.  About 1.5x faster than memset here.
	 */
	__m128i z = _mm_setzero_si128();
	for (char *p = addr, *e = p + FRAME_SIZE; p < e; p += 64) {
		_mm_stream_si128((__m128i *)p, z);
		_mm_stream_si128((__m128i *)(p + 16), z);
		_mm_stream_si128((__m128i *)(p + 32), z);
		_mm_stream_si128((__m128i *)(p + 48), z);
	}
	_mm_sfence();
#else
	memset(addr, 0, FRAME_SIZE);
#endif
}

void copy_page(void *to, const void *from)
{
#if defined(__x86_64__)
	/* Same reasoning for the destination of a COW copy. */
	const __m128i *s = from;
	__m128i *d = to;

	for (unsigned i = 0; i < FRAME_SIZE / 16; i += 4) {
		__m128i a = _mm_loadu_si128(s + i), b = _mm_loadu_si128(s + i + 1);
		__m128i c = _mm_loadu_si128(s + i + 2), e = _mm_loadu_si128(s + i + 3);

		_mm_stream_si128(d + i, a);
		_mm_stream_si128(d + i + 1, b);
		_mm_stream_si128(d + i + 2, c);
		_mm_stream_si128(d + i + 3, e);
	}
	_mm_sfence();
#else
	memcpy(to, from, FRAME_SIZE);
#endif
}

struct page *alloc_zeroed_page(struct page_pool *pool)
{
	struct page *page = alloc_pages(pool, 0);

	if (page)
		clear_page(page_address(page));
	return page;
}

void __free_pages(struct page *page, unsigned int order)
{
	struct page_pool *pool = page->pool;
	unsigned long pfn = page_to_pfn(page);

	BUG_ON(test_page_flag(page, PG_reserved));
	BUG_ON(atomic_load_explicit(&page->_mapcount, memory_order_relaxed) != 0);
	BUG_ON(atomic_load_explicit(&page->_pincount, memory_order_relaxed) != 0);
	if (likely(order == 0)) {
		struct pcp_slot *pcp = this_slot(pool);

		spin_lock(&pcp->lock);
		if (pcp->count == PCP_HIGH)
			pcp_drain(pool, pcp, PCP_BATCH);
		atomic_store_explicit(&page->flags, 1UL << PG_pcp, memory_order_relaxed);
		pcp->pfn[pcp->count++] = (uint32_t)pfn;
		spin_unlock(&pcp->lock);
		return;
	}
	pthread_mutex_lock(&pool->zone_lock);
	free_one_block(pool, pfn, order);
	pthread_mutex_unlock(&pool->zone_lock);
}

void folio_put(struct folio *folio)
{
	if (atomic_fetch_sub_explicit(&folio->page._refcount, 1, memory_order_acq_rel) == 1)
		__free_pages(&folio->page, folio->page.buddy_order);
}

/* ------------------------------------------------------------- the pool */

/*
 * zalloc: kzalloc for pools that belong to mms (counted, so leak checks see
 * them), plain calloc for the library-wide default pool, which lives as
 * long as the process and belongs to no mm.
 */
static struct page_pool *__pool_create(size_t bytes, void *(*zalloc)(size_t),
				       void (*zfree)(void *))
{
	struct page_pool *pool;
	unsigned long nr, pfn;
	size_t len;
	char *map;

	nr = bytes / FRAME_SIZE;
	if (nr < 8)
		nr = 8;
	if (nr > PFN_NIL - 1)
		return NULL;
	pool = zalloc(sizeof(*pool));
	if (!pool)
		return NULL;
	/* One struct page per cache line: over-allocate and align, so that
	 * touching a frame's metadata costs one line, not two. */
	pool->pages_mem = zalloc(nr * sizeof(struct page) + 64);
	if (!pool->pages_mem)
		goto err_free_pool;
	pool->pages = (struct page *)(((unsigned long)pool->pages_mem + 63) & ~63UL);
	len = nr * FRAME_SIZE + HUGE_ALIGN;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		goto err_free_pages;
	pool->map_addr = map;
	pool->map_len = len;
	pool->base = (char *)(((unsigned long)map + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1));
	pool->nr_pages = nr;
	atomic_init(&pool->refcount, 1);
	atomic_init(&pool->deferred, 0);
	pthread_mutex_init(&pool->zone_lock, NULL);
	for (int o = 0; o <= MAX_PAGE_ORDER; o++)
		pool->free_area[o].head = PFN_NIL;
	for (int i = 0; i < NR_PCP_SLOTS; i++)
		spin_lock_init(&pool->pcp[i].lock);

	/* Carve the frames into the largest aligned blocks that fit. */
	for (pfn = 0; pfn < nr;) {
		unsigned int order = MAX_PAGE_ORDER;

		while (order && ((pfn & ((1UL << order) - 1)) || pfn + (1UL << order) > nr))
			order--;
		buddy_list_add(pool, pfn, order);
		pool->nr_free_buddy += 1UL << order;
		pfn += 1UL << order;
	}

	/* The shared zero page: never freed, never counted as free. */
	pool->zero_page = alloc_zeroed_page(pool);
	set_page_flag(pool->zero_page, PG_reserved);
	return pool;

err_free_pages:
	zfree(pool->pages_mem);
err_free_pool:
	zfree(pool);
	return NULL;
}

struct page_pool *pool_create(size_t bytes)
{
	return __pool_create(bytes, kzalloc, kfree);
}

static void *calloc1(size_t size)
{
	return calloc(1, size);
}

static struct page_pool *default_pool;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_pool_init(void)
{
	/* Never freed: the global reference taken here is never dropped. */
	default_pool = __pool_create(DEFAULT_POOL_BYTES, calloc1, free);
}

struct page_pool *pool_default(void)
{
	pthread_once(&default_once, default_pool_init);
	if (default_pool)
		pool_get(default_pool);
	return default_pool;
}

void pool_get(struct page_pool *pool)
{
	atomic_fetch_add_explicit(&pool->refcount, 1, memory_order_relaxed);
}

void pool_put(struct page_pool *pool)
{
	if (atomic_fetch_sub_explicit(&pool->refcount, 1, memory_order_acq_rel) != 1)
		return;
	munmap(pool->map_addr, pool->map_len);
	pthread_mutex_destroy(&pool->zone_lock);
	kfree(pool->pages_mem);
	kfree(pool);
}

void pool_stats(struct page_pool *pool, unsigned long *free_pages,
		unsigned long *total_pages)
{
	unsigned long nr;

	/* Frames waiting for a grace period are free, just not yet back:
	 * wait for them (the call_rcu thread runs without our help). */
	while (atomic_load_explicit(&pool->deferred, memory_order_acquire))
		usleep(50);
	pthread_mutex_lock(&pool->zone_lock);
	nr = pool->nr_free_buddy;
	pthread_mutex_unlock(&pool->zone_lock);
	for (int i = 0; i < NR_PCP_SLOTS; i++) {
		spin_lock(&pool->pcp[i].lock);
		nr += (unsigned long)pool->pcp[i].count;
		spin_unlock(&pool->pcp[i].lock);
	}
	if (free_pages)
		*free_pages = nr;
	if (total_pages)
		*total_pages = pool->nr_pages;
}

/* ---------------------------------------------------- deferred freeing */

#define FRAME_BATCH_MAX 500

/*
 * Our own call_rcu callback rather than call_rcu_aspace: under TSan the
 * callback must acquire the batch (released when it was queued) before it
 * reads anything in it.
 */
struct frame_batch {
	struct rcu_head head;
	struct page_pool *pool;
	int nr;
	struct page *frames[FRAME_BATCH_MAX];
};

static void frame_batch_free(struct rcu_head *head)
{
	struct frame_batch *b = caa_container_of(head, struct frame_batch, head);
	struct page_pool *pool;
	int nr;

#ifdef ASPACE_TSAN
	__tsan_acquire(b);
#endif
	rcu_tsan_reclaim();
	pool = b->pool;
	nr = b->nr;
	for (int i = 0; i < nr; i++)
		__free_pages(b->frames[i], b->frames[i]->buddy_order);
	kfree(b);
	atomic_fetch_sub_explicit(&pool->deferred, nr, memory_order_release);
	pool_put(pool);
}

static void frame_batch_submit(struct frame_batch *b)
{
	pool_get(b->pool);
#ifdef ASPACE_TSAN
	__tsan_release(b);
#endif
	urcu_bp_call_rcu(&b->head, frame_batch_free);
}

void tlb_gather_mmu(struct mmu_gather *tlb, struct page_pool *pool)
{
	tlb->pool = pool;
	tlb->batch = NULL;
	tlb->freed = 0;
}

static void tlb_queue_frame(struct mmu_gather *tlb, struct page *page)
{
	struct frame_batch *b = tlb->batch;

	atomic_fetch_add(&tlb->pool->deferred, 1);
	tlb->freed++;
	if (b && b->nr == FRAME_BATCH_MAX) {
		frame_batch_submit(b);
		tlb->batch = b = NULL;
	}
	if (!b) {
		b = kmalloc(sizeof(*b));
		if (!b) {
			/* No memory for a batch: wait for the readers instead. */
			synchronize_rcu();
			atomic_fetch_sub(&tlb->pool->deferred, 1);
			__free_pages(page, page->buddy_order);
			return;
		}
		b->pool = tlb->pool;
		b->nr = 0;
		tlb->batch = b;
	}
	b->frames[b->nr++] = page;
}

void tlb_remove_folio(struct mmu_gather *tlb, struct folio *folio)
{
	if (atomic_fetch_sub_explicit(&folio->page._refcount, 1, memory_order_acq_rel) == 1)
		tlb_queue_frame(tlb, &folio->page);
}

void tlb_remove_table(struct mmu_gather *tlb, struct page *table)
{
	tlb_queue_frame(tlb, table);
}

void tlb_finish_mmu(struct mmu_gather *tlb)
{
	if (tlb->batch) {
		frame_batch_submit(tlb->batch);
		tlb->batch = NULL;
	}
}

void folio_put_deferred(struct folio *folio)
{
	struct mmu_gather tlb;

	if (atomic_fetch_sub_explicit(&folio->page._refcount, 1, memory_order_acq_rel) != 1)
		return;
	tlb_gather_mmu(&tlb, folio->page.pool);
	tlb_queue_frame(&tlb, &folio->page);
	tlb_finish_mmu(&tlb);
}
