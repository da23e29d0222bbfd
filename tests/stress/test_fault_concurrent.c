/*
 * test_fault_concurrent.c: faults, accesses and fork against concurrent
 * mmap/munmap/mprotect (label "concurrency": also run under TSan).
 *
 *  - N threads fault in their own VMAs while another thread maps, unmaps
 *    and mprotects other VMAs: data stays exact, most faults are handled
 *    under the VMA lock.
 *  - A thread writes a VMA while another unmaps it: each access either
 *    completes or fails with MAPERR; never a crash or a freed frame.
 *  - Threads write the same fresh page / the same COW page at once: every
 *    write survives, one page results.
 *  - fork while threads write: the child's snapshot never changes.
 *  - Teardown returns every frame.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mm.h"
#include "rcu.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096UL
#ifdef ASPACE_TSAN
#define SCALE 1
#else
#define SCALE 8
#endif

static unsigned long default_free(void)
{
	unsigned long f, t;

	aspace_pool_stats(NULL, &f, &t);
	return f;
}

static unsigned long map_anon(struct aspace_mm *mm, unsigned long len, int prot)
{
	long a = aspace_mmap(mm, 0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(a > 0);
	return (unsigned long)a;
}

/* ------------------------------------------------ faulters + hammer */

#define NFAULTERS 3
#define FPAGES 64

struct faulter {
	struct aspace_mm *mm;
	unsigned long base;
	int id, rounds, errors;
};

static atomic_int stop_hammer;

static void *faulter_fn(void *p)
{
	struct faulter *ft = p;
	struct aspace_fault f;

	for (int r = 0; r < ft->rounds; r++) {
		for (unsigned long i = 0; i < FPAGES; i++) {
			unsigned long v = ((unsigned long)ft->id << 40) | ((unsigned long)r << 20) | i;

			if (aspace_write(ft->mm, ft->base + i * PG + (i % 512) * 8, &v, sizeof(v), &f))
				ft->errors++;
		}
		for (unsigned long i = 0; i < FPAGES; i++) {
			unsigned long v = 0, want = ((unsigned long)ft->id << 40) | ((unsigned long)r << 20) | i;

			if (aspace_read(ft->mm, ft->base + i * PG + (i % 512) * 8, &v, sizeof(v), &f) ||
			    v != want)
				ft->errors++;
		}
		/* Drop the pages so the next round faults again. */
		if (aspace_madvise(ft->mm, ft->base, FPAGES * PG, MADV_DONTNEED))
			ft->errors++;
	}
	return NULL;
}

static void *hammer_fn(void *p)
{
	struct aspace_mm *mm = p;
	struct aspace_fault f;
	unsigned long n = 0;

	while (!atomic_load(&stop_hammer)) {
		long a = aspace_mmap(mm, 0, 4 * PG, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char c = 1;

		if (a < 0)
			continue;
		aspace_write(mm, (unsigned long)a, &c, 1, &f);
		if (n++ % 3 == 0)
			aspace_mprotect(mm, (unsigned long)a + PG, PG, PROT_READ);
		aspace_munmap(mm, (unsigned long)a, 4 * PG);
	}
	return NULL;
}

static void run_faulters(int vma_lock, int rounds)
{
	struct aspace_config cfg = { .per_vma_lock = vma_lock };
	struct aspace_mm *mm;
	struct faulter ft[NFAULTERS];
	pthread_t t[NFAULTERS], h;
	struct aspace_stats st;
	unsigned long free0 = default_free();

	assert_int_equal(aspace_mm_create(&cfg, &mm), 0);
	for (int i = 0; i < NFAULTERS; i++) {
		ft[i] = (struct faulter){ mm, map_anon(mm, FPAGES * PG, PROT_READ | PROT_WRITE),
					  i + 1, rounds, 0 };
		/* A guard page between, so the faulters' VMAs never merge. */
		map_anon(mm, PG, PROT_NONE);
	}
	atomic_store(&stop_hammer, 0);
	pthread_create(&h, NULL, hammer_fn, mm);
	for (int i = 0; i < NFAULTERS; i++)
		pthread_create(&t[i], NULL, faulter_fn, &ft[i]);
	for (int i = 0; i < NFAULTERS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop_hammer, 1);
	pthread_join(h, NULL);
	for (int i = 0; i < NFAULTERS; i++)
		assert_int_equal(ft[i].errors, 0);
	aspace_mm_stats(mm, &st);
	if (vma_lock == ASPACE_VMA_LOCK_ON) {
		/* Most faults were handled under the VMA lock. */
		assert_true(st.vma_lock_success > st.vma_lock_abort + st.vma_lock_miss);
		assert_true(st.vma_lock_success >= (unsigned long)(NFAULTERS * FPAGES * rounds) / 2);
	} else {
		assert_int_equal(st.vma_lock_success, 0);
	}
	aspace_mm_destroy(mm);
	assert_int_equal(default_free(), free0);
}

static void test_faulters_vma_lock_on(void **state)
{
	run_faulters(ASPACE_VMA_LOCK_ON, 4 * SCALE);
}

static void test_faulters_vma_lock_off(void **state)
{
	run_faulters(ASPACE_VMA_LOCK_OFF, 2 * SCALE);
}

/* ------------------------------------------- write while unmapping */

/*
 * The writer stores base + i into page i of whatever mapping it last saw;
 * the main thread maps a new range (a different address: map first, then
 * unmap the old one), unmaps the old one, sometimes mprotects.  Each write
 * completes or fails with MAPERR/ACCERR.  A write through a stale PTE into a
 * frame that was freed and reused would plant a value naming another base
 * in a page of a later mapping: every page must read 0 or its own base + i.
 */
struct unmap_race {
	struct aspace_mm *mm;
	_Atomic unsigned long base;
	atomic_int done;
	int bad;
};

static void *race_writer(void *p)
{
	struct unmap_race *r = p;
	struct aspace_fault f;

	while (!atomic_load(&r->done)) {
		unsigned long base = atomic_load(&r->base);

		for (unsigned long i = 0; i < 16; i++) {
			unsigned long v = base + i;
			int err = aspace_write(r->mm, base + i * PG, &v, sizeof(v), &f);

			if (err && !(err == -EFAULT && (f.code == ASPACE_FAULT_SEGV_MAPERR ||
							f.code == ASPACE_FAULT_SEGV_ACCERR)))
				r->bad++;
		}
	}
	return NULL;
}

static void check_pages(struct unmap_race *r, unsigned long base)
{
	struct aspace_fault f;

	for (unsigned long i = 0; i < 16; i++) {
		unsigned long v = 0;

		assert_int_equal(aspace_read(r->mm, base + i * PG, &v, sizeof(v), &f), 0);
		if (v != 0 && v != base + i)
			fail_msg("page %lu of %#lx holds %#lx: a stale write", i, base, v);
	}
}

static void test_write_vs_munmap(void **state)
{
	bool old_guarded;
	struct unmap_race r = { 0 };
	pthread_t t;
	unsigned long free0 = default_free();

	assert_int_equal(aspace_mm_create(NULL, &r.mm), 0);
	{
		unsigned long a0 = map_anon(r.mm, 18 * PG, PROT_NONE);

		assert_int_equal(aspace_mprotect(r.mm, a0 + PG, 16 * PG, PROT_READ | PROT_WRITE), 0);
		atomic_store(&r.base, a0 + PG);
	}
	old_guarded = true;
	pthread_create(&t, NULL, race_writer, &r);
	for (int i = 0; i < 200 * SCALE; i++) {
		unsigned long old = atomic_load(&r.base);
		long a;

		for (int spin = 0; spin < 200; spin++)
			sched_yield();
		check_pages(&r, old);
		/*
		 * Odd rounds: 16 pages right next to the old ones (the VMAs
		 * merge, split again at munmap, and the first fault in the new
		 * range looks for a neighbour's anon_vma while the neighbour is
		 * unmapped).  Even rounds: between two PROT_NONE guard pages.
		 */
		if (i & 1) {
			a = aspace_mmap(r.mm, 0, 16 * PG, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			assert_true(a > 0);
		} else {
			a = aspace_mmap(r.mm, 0, 18 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
					-1, 0);
			assert_true(a > 0);
			assert_int_equal(aspace_mprotect(r.mm, (unsigned long)a + PG, 16 * PG,
							 PROT_READ | PROT_WRITE), 0);
			a += PG;
		}
		assert_true((unsigned long)a != old);
		atomic_store(&r.base, (unsigned long)a);
		if (i % 3 == 0) {
			/* Replace the old range in place instead of unmapping. */
			assert_int_equal(aspace_mmap(r.mm, old, 16 * PG, PROT_READ,
						     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
					 (long)old);
			check_pages(&r, old);
		}
		if (old_guarded)
			assert_int_equal(aspace_munmap(r.mm, old - PG, 18 * PG), 0);
		else
			assert_int_equal(aspace_munmap(r.mm, old, 16 * PG), 0);
		old_guarded = !(i & 1);
		if (i % 5 == 0)
			aspace_mprotect(r.mm, (unsigned long)a, 16 * PG, PROT_READ);
		if (i % 5 == 1)
			aspace_mprotect(r.mm, (unsigned long)a, 16 * PG, PROT_READ | PROT_WRITE);
	}
	atomic_store(&r.done, 1);
	pthread_join(t, NULL);
	assert_int_equal(r.bad, 0);
	aspace_mm_destroy(r.mm);
	assert_int_equal(default_free(), free0);
}

/* ----------------------------------------- same page, many writers */

struct same_page {
	struct aspace_mm *mm;
	unsigned long base;
	int slot;
	pthread_barrier_t *bar;
	int errors;
};

static void *same_page_writer(void *p)
{
	struct same_page *s = p;
	struct aspace_fault f;

	pthread_barrier_wait(s->bar);
	for (unsigned long pg = 0; pg < 32; pg++) {
		unsigned long v = 1000 + (unsigned long)s->slot;

		if (aspace_write(s->mm, s->base + pg * PG + (unsigned long)s->slot * 8,
				 &v, sizeof(v), &f))
			s->errors++;
	}
	return NULL;
}

static void test_same_page_races(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *mm, *child;
	pthread_barrier_t bar;
	struct same_page s[3];
	pthread_t t[3];
	struct aspace_fault f;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	for (int round = 0; round < 2 * SCALE; round++) {
		unsigned long a = map_anon(mm, 32 * PG, PROT_READ | PROT_WRITE);

		child = NULL;
		if (round & 1) {
			/* Make every page a COW page first. */
			unsigned long v = 5;

			for (unsigned long pg = 0; pg < 32; pg++)
				assert_int_equal(aspace_write(mm, a + pg * PG + 200, &v, sizeof(v), &f), 0);
			assert_int_equal(aspace_fork(mm, &child), 0);
		}
		pthread_barrier_init(&bar, NULL, 3);
		for (int i = 0; i < 3; i++) {
			s[i] = (struct same_page){ mm, a, i, &bar, 0 };
			pthread_create(&t[i], NULL, same_page_writer, &s[i]);
		}
		for (int i = 0; i < 3; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(s[i].errors, 0);
		}
		pthread_barrier_destroy(&bar);
		for (unsigned long pg = 0; pg < 32; pg++) {
			unsigned long v[3];

			assert_int_equal(aspace_read(mm, a + pg * PG, v, sizeof(v), &f), 0);
			for (int i = 0; i < 3; i++)
				assert_int_equal(v[i], 1000 + i);
			if (child) {
				assert_int_equal(aspace_read(child, a + pg * PG, v, sizeof(v), &f), 0);
				assert_int_equal(v[0] | v[1] | v[2], 0);
			}
		}
		if (child)
			aspace_mm_destroy(child);
		assert_int_equal(aspace_munmap(mm, a, 32 * PG), 0);
	}
	aspace_mm_destroy(mm);
	assert_int_equal(default_free(), free0);
}

/* -------------------------------------------------- fork vs writers */

struct fork_writer {
	struct aspace_mm *mm;
	unsigned long addr;
	atomic_int *stop;
};

static void *fork_writer_fn(void *p)
{
	struct fork_writer *w = p;
	struct aspace_fault f;
	unsigned long v = 0;

	while (!atomic_load(w->stop)) {
		v++;
		for (unsigned long pg = 0; pg < 8; pg++)
			aspace_write(w->mm, w->addr + pg * PG, &v, sizeof(v), &f);
	}
	return NULL;
}

static void test_fork_vs_writers(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *mm;
	atomic_int stop = 0;
	struct fork_writer w[2];
	pthread_t t[2];
	struct aspace_fault f;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct fork_writer){ mm, map_anon(mm, 8 * PG, PROT_READ | PROT_WRITE), &stop };
		pthread_create(&t[i], NULL, fork_writer_fn, &w[i]);
	}
	for (int round = 0; round < 10 * SCALE; round++) {
		struct aspace_mm *child;
		unsigned long snap[2][8], again;

		assert_int_equal(aspace_fork(mm, &child), 0);
		for (int i = 0; i < 2; i++)
			for (unsigned long pg = 0; pg < 8; pg++)
				assert_int_equal(aspace_read(child, w[i].addr + pg * PG, &snap[i][pg],
							     sizeof(unsigned long), &f), 0);
		for (int i = 0; i < 2; i++)
			for (unsigned long pg = 0; pg < 8; pg++) {
				assert_int_equal(aspace_read(child, w[i].addr + pg * PG, &again,
							     sizeof(again), &f), 0);
				assert_int_equal(again, snap[i][pg]);
			}
		aspace_mm_destroy(child);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	aspace_mm_destroy(mm);
	assert_int_equal(default_free(), free0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_faulters_vma_lock_on),
		cmocka_unit_test(test_faulters_vma_lock_off),
		cmocka_unit_test(test_write_vs_munmap),
		cmocka_unit_test(test_same_page_races),
		cmocka_unit_test(test_fork_vs_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
