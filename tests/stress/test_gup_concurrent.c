/*
 * test_gup_concurrent.c: GUP and long-term pins against concurrent fork,
 * munmap and other pinners (label "concurrency": also run under TSan).
 *
 *  - Pin (R/O and R/W long-term, GUP-fast and slow) while another thread
 *    forks and lets the child write: after the pin, every write of the
 *    process must reach the pin and no child write ever may (fork copies a
 *    pinned page, GUP-fast backs off while fork write-protects).
 *  - Pin while another thread unmaps and remaps the range: each pin either
 *    fails with EFAULT or holds pages that stay readable after the munmap;
 *    every frame comes back at the end.
 *  - Several threads pin and unpin the same pages: the pin count returns to
 *    zero and the reference count to what the mapping holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "folio.h"
#include "gup.h"
#include "mm.h"
#include "mm_mem.h"
#include "pgtable.h"
#include "rcu.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096UL
#ifdef ASPACE_TSAN
#define ITERS 300
#else
#define ITERS 3000
#endif

static unsigned long default_free(void)
{
	unsigned long f, t;

	aspace_pool_stats(NULL, &f, &t);
	return f;
}

static unsigned long map_anon(struct aspace_mm *mm, unsigned long len)
{
	long a = aspace_mmap(mm, 0, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(a > 0);
	return (unsigned long)a;
}

/* ------------------------------------------------- pins racing fork */

#define FPAGES 4

struct fork_race {
	struct aspace_mm *mm;
	unsigned long a;
	atomic_bool stop;
	atomic_long forks, pins;
};

static void *forker(void *arg)
{
	struct fork_race *r = arg;

	while (!atomic_load(&r->stop)) {
		struct aspace_mm *child;
		unsigned long marker = 0xdeadbeefUL;

		if (aspace_fork(r->mm, &child))
			continue;
		/* The child writes its copy of every page: COW there must never
		 * reach the parent's pinned pages. */
		for (unsigned long i = 0; i < FPAGES; i++)
			assert_int_equal(aspace_write(child, r->a + i * PG, &marker,
						      sizeof(marker), NULL), 0);
		aspace_mm_destroy(child);
		atomic_fetch_add(&r->forks, 1);
	}
	return NULL;
}

static void *fork_pinner(void *arg)
{
	static const int kinds[] = {
		ASPACE_PIN_LONGTERM,
		ASPACE_PIN_LONGTERM | ASPACE_PIN_FAST,
		ASPACE_PIN_LONGTERM | ASPACE_PIN_WRITE,
		ASPACE_PIN_LONGTERM | ASPACE_PIN_WRITE | ASPACE_PIN_FAST,
		ASPACE_PIN_FAST, /* short-term R/O FOLL_PIN: anon pages unshare too */
	};
	struct fork_race *r = arg;

	for (unsigned long it = 1; it <= ITERS; it++) {
		int kind = kinds[it % (sizeof(kinds) / sizeof(kinds[0]))];
		unsigned long page = it % FPAGES;
		unsigned long addr = r->a + page * PG, v = it, got = 0;
		struct aspace_pin *p;

		long forks = atomic_load(&r->forks);

		assert_int_equal(aspace_pin(r->mm, r->a, FPAGES * PG, kind, &p), 0);
		/* Every other time, hold the pin across a whole fork for sure;
		 * otherwise race it. */
		if (it & 1)
			while (atomic_load(&r->forks) < forks + 2)
				sched_yield();
		/* The process writes after the pin (a fork may have run in
		 * between): the write must land in the pinned page. */
		assert_int_equal(aspace_write(r->mm, addr, &v, sizeof(v), NULL), 0);
		assert_int_equal(aspace_pin_read(p, page * PG, &got, sizeof(got)), 0);
		assert_int_equal(got, v);
		if (kind & ASPACE_PIN_WRITE) {
			/* And the device's writes reach the process. */
			v = ~it;
			assert_int_equal(aspace_pin_write(p, page * PG + 8, &v, sizeof(v)), 0);
			assert_int_equal(aspace_read(r->mm, addr + 8, &got, sizeof(got), NULL), 0);
			assert_int_equal(got, v);
		}
		aspace_unpin(p);
		atomic_fetch_add(&r->pins, 1);
	}
	return NULL;
}

static void test_pins_racing_fork(void **s)
{
	unsigned long before = default_free();
	struct fork_race r = { 0 };
	pthread_t f, p;

	(void)s;
	assert_int_equal(aspace_mm_create(NULL, &r.mm), 0);
	r.a = map_anon(r.mm, FPAGES * PG);
	assert_int_equal(aspace_write(r.mm, r.a, "x", 1, NULL), 0);
	assert_int_equal(pthread_create(&f, NULL, forker, &r), 0);
	assert_int_equal(pthread_create(&p, NULL, fork_pinner, &r), 0);
	pthread_join(p, NULL);
	atomic_store(&r.stop, true);
	pthread_join(f, NULL);
	assert_int_equal(atomic_load(&r.pins), ITERS);
	assert_true(atomic_load(&r.forks) > 0);
	for (unsigned long i = 0; i < FPAGES; i++) {
		pte_t *ptep;
		struct page *pg;

		rcu_read_lock();
		ptep = pte_offset_lockless(mm_mem(to_mm(r.mm)), r.a + i * PG);
		assert_non_null(ptep);
		pg = pfn_to_page(mm_mem(to_mm(r.mm))->pool, pte_pfn(ptep_get(ptep)));
		assert_int_equal(atomic_load(&pg->_pincount), 0);
		rcu_read_unlock();
	}
	aspace_mm_destroy(r.mm);
	assert_int_equal(default_free(), before);
}

/* ----------------------------------------------- pins racing munmap */

#define UPAGES 8

struct unmap_race {
	struct aspace_mm *mm;
	unsigned long a;
	atomic_bool stop;
	atomic_long ok, efault;
};

static void *remapper(void *arg)
{
	struct unmap_race *r = arg;
	unsigned long gen = 1;

	while (!atomic_load(&r->stop)) {
		long a;

		assert_int_equal(aspace_munmap(r->mm, r->a, UPAGES * PG), 0);
		a = aspace_mmap(r->mm, r->a, UPAGES * PG, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		assert_int_equal(a, (long)r->a);
		gen++;
		for (unsigned long i = 0; i < UPAGES; i += 2)
			assert_int_equal(aspace_write(r->mm, r->a + i * PG, &gen,
						      sizeof(gen), NULL), 0);
		if (gen & 1) {
			/* Let two pins complete: the second one started on a
			 * fully mapped range, so some pins surely succeed. */
			long done = atomic_load(&r->ok) + atomic_load(&r->efault);

			while (!atomic_load(&r->stop) &&
			       atomic_load(&r->ok) + atomic_load(&r->efault) < done + 2)
				sched_yield();
		}
	}
	return NULL;
}

static void *unmap_pinner(void *arg)
{
	struct unmap_race *r = arg;

	for (unsigned long it = 0; it < ITERS; it++) {
		int flags = ASPACE_PIN_LONGTERM | ((it & 1) ? ASPACE_PIN_FAST : 0) |
			    ((it & 2) ? ASPACE_PIN_WRITE : 0);
		struct aspace_pin *p;
		unsigned long v0, v;
		int ret;

		ret = aspace_pin(r->mm, r->a, UPAGES * PG, flags, &p);
		if (ret) {
			assert_int_equal(ret, -EFAULT);
			atomic_fetch_add(&r->efault, 1);
			continue;
		}
		/* Whatever generation the pages are, they stay readable (and
		 * writable for a write pin) after the range is unmapped. */
		assert_int_equal(aspace_pin_read(p, 0, &v0, sizeof(v0)), 0);
		for (unsigned long i = 1; i < UPAGES; i += 2) {
			assert_int_equal(aspace_pin_read(p, i * PG, &v, sizeof(v)), 0);
			assert_int_equal(v, 0); /* odd pages are never written */
		}
		if (flags & ASPACE_PIN_WRITE)
			assert_int_equal(aspace_pin_write(p, PG + 16, &v0, sizeof(v0)), 0);
		aspace_unpin(p);
		atomic_fetch_add(&r->ok, 1);
	}
	return NULL;
}

static void test_pins_racing_munmap(void **s)
{
	unsigned long before = default_free();
	struct unmap_race r = { 0 };
	pthread_t m, p;

	(void)s;
	assert_int_equal(aspace_mm_create(NULL, &r.mm), 0);
	r.a = map_anon(r.mm, UPAGES * PG);
	assert_int_equal(pthread_create(&m, NULL, remapper, &r), 0);
	assert_int_equal(pthread_create(&p, NULL, unmap_pinner, &r), 0);
	pthread_join(p, NULL);
	atomic_store(&r.stop, true);
	pthread_join(m, NULL);
	assert_int_equal(atomic_load(&r.ok) + atomic_load(&r.efault), ITERS);
	assert_true(atomic_load(&r.ok) > 0);
	aspace_mm_destroy(r.mm);
	assert_int_equal(default_free(), before);
}

/* ------------------------------------------- many pinners, one page */

#define NPINNERS 3

struct same_page {
	struct aspace_mm *mm;
	unsigned long a;
};

static void *same_pinner(void *arg)
{
	struct same_page *sp = arg;

	for (int it = 0; it < ITERS; it++) {
		struct aspace_pin *p;
		int flags = ASPACE_PIN_LONGTERM | ((it & 1) ? ASPACE_PIN_FAST : 0) |
			    ((it & 2) ? ASPACE_PIN_WRITE : 0);

		assert_int_equal(aspace_pin(sp->mm, sp->a, 2 * PG, flags, &p), 0);
		assert_true(folio_maybe_dma_pinned(page_folio(pin_page(p, 0))));
		aspace_unpin(p);
	}
	return NULL;
}

static void test_same_page_pinners(void **s)
{
	struct same_page sp;
	pthread_t t[NPINNERS];
	struct page *pg;
	pte_t *ptep;
	int ref;

	(void)s;
	assert_int_equal(aspace_mm_create(NULL, &sp.mm), 0);
	sp.a = map_anon(sp.mm, 2 * PG);
	assert_int_equal(aspace_write(sp.mm, sp.a, "ab", 2, NULL), 0);
	assert_int_equal(aspace_write(sp.mm, sp.a + PG, "cd", 2, NULL), 0);
	rcu_read_lock();
	ptep = pte_offset_lockless(mm_mem(to_mm(sp.mm)), sp.a);
	pg = pfn_to_page(mm_mem(to_mm(sp.mm))->pool, pte_pfn(ptep_get(ptep)));
	rcu_read_unlock();
	ref = folio_ref_count(page_folio(pg));
	for (int i = 0; i < NPINNERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, same_pinner, &sp), 0);
	for (int i = 0; i < NPINNERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&pg->_pincount), 0);
	assert_int_equal(folio_ref_count(page_folio(pg)), ref);
	aspace_mm_destroy(sp.mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pins_racing_fork),
		cmocka_unit_test(test_pins_racing_munmap),
		cmocka_unit_test(test_same_page_pinners),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
