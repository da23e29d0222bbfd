/*
 * test_shmem_cache.c: the shmem page cache under concurrency (label
 * "concurrency": also run under TSan).
 *
 *  - Lock-free lookups (find_get_folio) race with insertion (fallocate,
 *    faults) and removal (ftruncate down, punch): every folio a lookup
 *    returns is the page of that file at that index, and stays valid
 *    while referenced.
 *  - Threads fault and write through two shared mappings while the file
 *    shrinks, grows and gets holes punched: each access completes or
 *    raises SIGBUS, never anything else (pread/pwrite race them too); pages read back what the last
 *    write through a mapping put there, or zero.
 *  - Truncation while other threads split and merge the mapping's VMAs
 *    (mprotect), fork the mm and touch the pages: once ftruncate returns,
 *    every page past the end faults SIGBUS (no PTE escaped the reverse-map
 *    walk).
 *  - Teardown returns every frame.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mm.h"
#include "rcu.h"
#include "shmem.h"
#include "testutil.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096UL
#ifdef ASPACE_TSAN
#define ITERS 3000
#else
#define ITERS 30000
#endif
#define NPAGES 96UL

struct ctx {
	struct aspace_mm *mm;
	int fd;
	struct shmem_inode *inode;
	unsigned long map[2];
	atomic_int stop;
	atomic_long lookups, hits, reads, sigbus, bad, bad_lookup, bad_code, bad_data;
};

static unsigned long rnd(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *resizer(void *arg)
{
	struct ctx *c = arg;
	unsigned long seed = 0x9e3779b97f4a7c15UL;

	for (int i = 0; i < ITERS; i++) {
		unsigned long a = rnd(&seed) % NPAGES, n = 1 + rnd(&seed) % 8;

		switch (i % 4) {
		case 0:
			aspace_fallocate(c->mm, c->fd, 0, 0, (off_t)(NPAGES * PG));
			break;
		case 1:
			aspace_fallocate(c->mm, c->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					 (off_t)(a * PG), (off_t)(n * PG));
			break;
		case 2:
			aspace_ftruncate(c->mm, c->fd, (off_t)(a * PG));
			break;
		case 3:
			aspace_ftruncate(c->mm, c->fd, (off_t)(NPAGES * PG));
			break;
		}
	}
	atomic_store(&c->stop, 1);
	return NULL;
}

static void *looker(void *arg)
{
	struct ctx *c = arg;
	unsigned long seed = (unsigned long)pthread_self() | 1;

	while (!atomic_load(&c->stop)) {
		unsigned long idx = rnd(&seed) % NPAGES;
		struct folio *folio = find_get_folio(c->inode, idx);

		atomic_fetch_add_explicit(&c->lookups, 1, memory_order_relaxed);
		if (!folio)
			continue;
		atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
		if (folio->page.mapping != c->inode || folio->page.index != idx ||
		    folio_ref_count(folio) < 1 || folio_test_anon(folio)) {
			atomic_fetch_add(&c->bad, 1);
			atomic_fetch_add(&c->bad_lookup, 1);
		}
		folio_put_deferred(folio);
	}
	return NULL;
}

static void *accessor(void *arg)
{
	struct ctx *c = arg;
	unsigned long seed = ((unsigned long)pthread_self() << 1) | 1;

	while (!atomic_load(&c->stop)) {
		unsigned long idx = rnd(&seed) % NPAGES;
		unsigned long base = c->map[rnd(&seed) & 1];
		struct aspace_fault f = { 0 };
		uint64_t v = 0, tag = 0x5a5a000000000000UL | idx;
		int r;

		switch (rnd(&seed) % 4) {
		case 0:
			r = aspace_write(c->mm, base + idx * PG, &tag, sizeof(tag), &f);
			break;
		case 1:
			r = aspace_read(c->mm, base + idx * PG, &v, sizeof(v), &f);
			break;
		case 2: /* through the file, racing the mappings' users */
			if (aspace_pwrite(c->mm, c->fd, &tag, sizeof(tag), (off_t)(idx * PG)) !=
			    (ssize_t)sizeof(tag))
				atomic_fetch_add(&c->bad, 1);
			continue;
		default:
			if (aspace_pread(c->mm, c->fd, &v, sizeof(v), (off_t)(idx * PG)) < 0)
				atomic_fetch_add(&c->bad, 1);
			r = 0;
			break;
		}
		atomic_fetch_add_explicit(&c->reads, 1, memory_order_relaxed);
		if (r) {
			if (f.code == ASPACE_FAULT_SIGBUS)
				atomic_fetch_add_explicit(&c->sigbus, 1, memory_order_relaxed);
			else {
				atomic_fetch_add(&c->bad, 1);
				atomic_fetch_add(&c->bad_code, 1);
				if (getenv("SHMEM_STRESS_VERBOSE"))
					fprintf(stderr, "code %d\n", f.code);
			}
			continue;
		}
		/* Only ever zero (fresh page) or this page's own tag. */
		if (v && v != tag) {
			atomic_fetch_add(&c->bad, 1);
			atomic_fetch_add(&c->bad_data, 1);
			if (getenv("SHMEM_STRESS_VERBOSE"))
				fprintf(stderr, "idx %lu read %#lx\n", idx, (unsigned long)v);
		}
	}
	return NULL;
}

static void test_cache_concurrent(void **state)
{
	struct aspace_config cfg = { .pool_bytes = 64UL << 20 };
	struct ctx c = { 0 };
	pthread_t t[5];
	unsigned long free0, free1, total;
	struct file *file;

	(void)state;
	assert_int_equal(aspace_mm_create(&cfg, &c.mm), 0);
	aspace_pool_stats(c.mm, &free0, &total);
	c.fd = aspace_memfd_create(c.mm, "stress", 0);
	assert_true(c.fd >= 0);
	assert_int_equal(aspace_ftruncate(c.mm, c.fd, (off_t)(NPAGES * PG)), 0);
	for (int i = 0; i < 2; i++) {
		long a = aspace_mmap(c.mm, 0, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
				     c.fd, 0);

		assert_true(a > 0);
		c.map[i] = (unsigned long)a;
	}
	file = fget_mm(to_mm(c.mm), c.fd);
	assert_non_null(file);
	c.inode = SHMEM_I(file);

	pthread_create(&t[0], NULL, resizer, &c);
	pthread_create(&t[1], NULL, looker, &c);
	pthread_create(&t[2], NULL, looker, &c);
	pthread_create(&t[3], NULL, accessor, &c);
	pthread_create(&t[4], NULL, accessor, &c);
	for (int i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	print_message("lookups %ld hits %ld accesses %ld sigbus %ld bad: lookup %ld code %ld data %ld\n",
		      atomic_load(&c.lookups), atomic_load(&c.hits), atomic_load(&c.reads),
		      atomic_load(&c.sigbus), atomic_load(&c.bad_lookup), atomic_load(&c.bad_code),
		      atomic_load(&c.bad_data));
	assert_int_equal(atomic_load(&c.bad), 0);

	fput(file);
	assert_int_equal(aspace_close(c.mm, c.fd), 0);
	assert_int_equal(aspace_munmap(c.mm, c.map[0], NPAGES * PG), 0);
	assert_int_equal(aspace_munmap(c.mm, c.map[1], NPAGES * PG), 0);
	aspace_pool_stats(c.mm, &free1, &total);
	assert_true(free1 + 8 >= free0); /* page tables may stay */
	aspace_mm_destroy(c.mm);
}

/* ---------------------------------- truncation vs VMA churn and fork */

struct churn {
	struct aspace_mm *mm;
	int fd;
	unsigned long s;
	atomic_int stop;
	atomic_long forks, splits, bad;
};

static void *churner(void *arg)
{
	struct churn *c = arg;
	unsigned long seed = 0x2545f4914f6cdd1dUL;

	while (!atomic_load(&c->stop)) {
		unsigned long a = rnd(&seed) % NPAGES, n = 1 + rnd(&seed) % 4;

		if (a + n > NPAGES)
			n = NPAGES - a;
		/* Split off a read-only piece, then merge it back. */
		aspace_mprotect(c->mm, c->s + a * PG, n * PG, PROT_READ);
		aspace_mprotect(c->mm, c->s + a * PG, n * PG, PROT_READ | PROT_WRITE);
		atomic_fetch_add_explicit(&c->splits, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *forker(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		struct aspace_mm *child;
		uint64_t v;

		if (aspace_fork(c->mm, &child))
			continue;
		for (unsigned long i = 0; i < NPAGES; i += 8)
			aspace_read(child, c->s + i * PG, &v, sizeof(v), NULL);
		aspace_mm_destroy(child);
		atomic_fetch_add_explicit(&c->forks, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *toucher(void *arg)
{
	struct churn *c = arg;
	unsigned long seed = 0xdeadbeefcafef00dUL;

	while (!atomic_load(&c->stop)) {
		unsigned long i = rnd(&seed) % NPAGES;
		uint64_t v = i;

		if (rnd(&seed) & 1)
			aspace_write(c->mm, c->s + i * PG, &v, sizeof(v), NULL);
		else
			aspace_read(c->mm, c->s + i * PG, &v, sizeof(v), NULL);
	}
	return NULL;
}

/* After ftruncate returns, no mapping anywhere still maps a page past the
 * end, however the VMAs are being split, merged and forked meanwhile. */
static void test_truncate_vs_vma_churn(void **state)
{
	struct aspace_config cfg = { .pool_bytes = 64UL << 20 };
	struct churn c = { 0 };
	unsigned long seed = 12345;
	pthread_t t[3];
	long a;

	(void)state;
	assert_int_equal(aspace_mm_create(&cfg, &c.mm), 0);
	c.fd = aspace_memfd_create(c.mm, "churn", 0);
	assert_int_equal(aspace_ftruncate(c.mm, c.fd, (off_t)(NPAGES * PG)), 0);
	a = aspace_mmap(c.mm, 0, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, c.fd, 0);
	assert_true(a > 0);
	c.s = (unsigned long)a;
	pthread_create(&t[0], NULL, churner, &c);
	pthread_create(&t[1], NULL, forker, &c);
	pthread_create(&t[2], NULL, toucher, &c);
	for (int it = 0; it < ITERS / 10; it++) {
		unsigned long k = rnd(&seed) % NPAGES;

		/* Populate, shrink, and check that every page past k is gone. */
		aspace_touch(c.mm, c.s, NPAGES * PG, 0, NULL);
		assert_int_equal(aspace_ftruncate(c.mm, c.fd, (off_t)(k * PG)), 0);
		for (unsigned long j = k; j < NPAGES; j++) {
			struct aspace_fault f = { 0 };
			uint64_t v;

			int rr = aspace_read(c.mm, c.s + j * PG, &v, sizeof(v), &f);

			if (!rr || f.code != ASPACE_FAULT_SIGBUS) {
				/* Remember what the first bad read saw. */
				if (!atomic_fetch_add(&c.bad, 1))
					print_message("bad: page %lu of %lu (size %lu): read %d code %d\n",
						      j, (unsigned long)NPAGES, k, rr, f.code);
			}
		}
		assert_int_equal(aspace_ftruncate(c.mm, c.fd, (off_t)(NPAGES * PG)), 0);
	}
	atomic_store(&c.stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	print_message("forks %ld splits %ld\n", atomic_load(&c.forks), atomic_load(&c.splits));
	assert_int_equal(atomic_load(&c.bad), 0);
	assert_int_equal(aspace_close(c.mm, c.fd), 0);
	aspace_mm_destroy(c.mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_concurrent),
		cmocka_unit_test(test_truncate_vs_vma_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
