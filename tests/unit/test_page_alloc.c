/*
 * test_page_alloc.c: the frame pool: exhaustion returns NULL and nothing is
 * lost, buddy splitting/merging and alignment, per-thread caches under
 * several threads, deferred (RCU) freeing, the zero page.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "page_alloc.h"
#include "rcu.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define NPAGES 1024

static void test_exhaust_and_refill(void **state)
{
	struct page_pool *pool = pool_create(NPAGES * FRAME_SIZE);
	static struct page *got[NPAGES];
	unsigned long free0, total, nfree;
	int n = 0;

	assert_non_null(pool);
	pool_stats(pool, &free0, &total);
	assert_int_equal(total, NPAGES);
	assert_int_equal(free0, NPAGES - 1); /* the zero page */
	while ((got[n] = alloc_pages(pool, 0)) != NULL) {
		/* Each frame is usable memory of its own. */
		memset(page_address(got[n]), n & 0xff, FRAME_SIZE);
		n++;
		assert_true(n <= NPAGES);
	}
	assert_int_equal(n, NPAGES - 1);
	pool_stats(pool, &nfree, &total);
	assert_int_equal(nfree, 0);
	assert_null(alloc_pages(pool, 0));
	assert_null(alloc_pages(pool, 3));
	for (int i = 0; i < n; i++) {
		assert_int_equal(((unsigned char *)page_address(got[i]))[100], i & 0xff);
		folio_put(page_folio(got[i]));
	}
	pool_stats(pool, &nfree, &total);
	assert_int_equal(nfree, free0);
	pool_put(pool);
}

static void test_orders(void **state)
{
	struct page_pool *pool = pool_create(NPAGES * FRAME_SIZE);
	struct page *big, *p3, *p0;
	unsigned long free0, nfree;

	pool_stats(pool, &free0, NULL);
	big = alloc_pages(pool, MAX_PAGE_ORDER);
	assert_non_null(big);
	assert_int_equal(page_to_pfn(big) % (1UL << MAX_PAGE_ORDER), 0);
	p3 = alloc_pages(pool, 3);
	assert_non_null(p3);
	assert_int_equal(page_to_pfn(p3) % 8, 0);
	p0 = alloc_pages(pool, 0);
	assert_non_null(p0);
	assert_null(alloc_pages(pool, MAX_PAGE_ORDER + 1));
	pool_stats(pool, &nfree, NULL);
	assert_int_equal(nfree, free0 - 512 - 8 - 1);
	__free_pages(big, MAX_PAGE_ORDER);
	atomic_store(&p3->_refcount, 0);
	__free_pages(p3, 3);
	folio_put(page_folio(p0));
	pool_stats(pool, &nfree, NULL);
	assert_int_equal(nfree, free0);
	/* Everything merged back: the big block is available again. */
	big = alloc_pages(pool, MAX_PAGE_ORDER);
	assert_non_null(big);
	__free_pages(big, MAX_PAGE_ORDER);
	pool_put(pool);
}

static void test_zero_page(void **state)
{
	struct page_pool *pool = pool_create(64 * FRAME_SIZE);
	const unsigned char *z = page_address(pool->zero_page);

	assert_true(test_page_flag(pool->zero_page, PG_reserved));
	for (unsigned i = 0; i < FRAME_SIZE; i++)
		assert_int_equal(z[i], 0);
	assert_true(is_zero_pfn(pool, page_to_pfn(pool->zero_page)));
	pool_put(pool);
}

struct churn_arg {
	struct page_pool *pool;
	int iters;
};

static void *churn(void *p)
{
	struct churn_arg *a = p;
	struct page *held[64];

	for (int it = 0; it < a->iters; it++) {
		int n = 0;

		for (int i = 0; i < 64; i++) {
			held[n] = alloc_pages(a->pool, (it + i) % 7 == 0 ? 1 : 0);
			if (held[n])
				n++;
		}
		for (int i = 0; i < n; i++) {
			if (held[i]->buddy_order)
				__free_pages(held[i], held[i]->buddy_order);
			else
				folio_put(page_folio(held[i]));
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct page_pool *pool = pool_create(512 * FRAME_SIZE);
	struct churn_arg arg = { pool, 2000 };
	pthread_t t[4];
	unsigned long free0, nfree;

	pool_stats(pool, &free0, NULL);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, &arg);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pool_stats(pool, &nfree, NULL);
	assert_int_equal(nfree, free0);
	pool_put(pool);
}

static void test_deferred_free(void **state)
{
	struct page_pool *pool = pool_create(256 * FRAME_SIZE);
	struct mmu_gather tlb;
	unsigned long free0, nfree;
	long live0 = alloc_live();

	pool_stats(pool, &free0, NULL);
	tlb_gather_mmu(&tlb, pool);
	for (int i = 0; i < 100; i++) {
		struct page *p = alloc_pages(pool, 0);

		tlb_remove_folio(&tlb, page_folio(p));
	}
	assert_int_equal(tlb.freed, 100);
	tlb_finish_mmu(&tlb);
	/* pool_stats waits for the grace period: exact count. */
	pool_stats(pool, &nfree, NULL);
	assert_int_equal(nfree, free0);
	/* The last pool reference may be a pending batch's: still safe. */
	tlb_gather_mmu(&tlb, pool);
	tlb_remove_folio(&tlb, page_folio(alloc_pages(pool, 0)));
	tlb_finish_mmu(&tlb);
	pool_put(pool);
	/* The callback frees the pool; wait for it (no rcu_barrier: its
	 * liburcu internals are invisible to TSan). */
	for (int i = 0; i < 200000 && alloc_live() != live0 - 2; i++)
		usleep(50);
	assert_int_equal(alloc_live(), live0 - 2); /* the pool and its page array */
}

static void test_pool_too_big(void **state)
{
	/* More frames than a 32-bit pfn: refused, not crashed. */
	assert_null(pool_create((size_t)1 << 46));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exhaust_and_refill),
		cmocka_unit_test(test_orders),
		cmocka_unit_test(test_zero_page),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_deferred_free),
		cmocka_unit_test(test_pool_too_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
