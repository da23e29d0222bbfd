/*
 * test_uffd_concurrent.c: userfaultfd under concurrency.  Several threads
 * fault on a range registered MISSING|WP and block in handle_userfault
 * (outside every mm lock) while a monitor thread reads their messages and
 * resolves them with COPY (or WAKE when another fault's COPY won: EEXIST),
 * and a protector thread write-protects random pages so that writers block
 * with the wp flag until the monitor un-protects.  Each writer owns one
 * byte per page: at the end every page holds the copied pattern and each
 * writer's last value, i.e. no write was lost and no page copied twice.
 * A second phase releases the userfaultfd while threads sleep in faults:
 * they must all wake and finish.  Run under TSan by the concurrency label.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096UL
#define NPAGES 64
#define NWRITERS 4
#define ROUNDS 300

struct shared {
	struct aspace_mm *mm;
	struct aspace_uffd *u;
	unsigned long base;
	atomic_int writers_left;
	atomic_long faults, wp_faults, eexist;
	unsigned char last[NWRITERS][NPAGES];
	atomic_int failed;
};

struct writer {
	struct shared *sh;
	int id;
	pthread_t tid;
};

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct shared *sh = w->sh;
	static _Atomic unsigned int gen;
	unsigned int seed = 77u + (unsigned int)w->id + 1000u * atomic_fetch_add(&gen, 1);

	for (int i = 0; i < ROUNDS; i++) {
		unsigned long pg = rnd(&seed) % NPAGES;
		unsigned long addr = sh->base + pg * PG;
		unsigned char v = (unsigned char)(rnd(&seed) | 1), got[2];

		/* The copied pattern is visible before our own byte. */
		if (aspace_read(sh->mm, addr + 100, got, 2, NULL) ||
		    got[0] != (unsigned char)pg || got[1] != 0xa5)
			atomic_store(&sh->failed, 1);
		if (aspace_write(sh->mm, addr + (unsigned long)w->id, &v, 1, NULL))
			atomic_store(&sh->failed, 2);
		sh->last[w->id][pg] = v;
	}
	atomic_fetch_sub(&sh->writers_left, 1);
	return NULL;
}

static void *monitor_main(void *arg)
{
	struct shared *sh = arg;
	static unsigned char page[PG];

	while (atomic_load(&sh->writers_left) > 0) {
		struct aspace_uffd_msg m;
		unsigned long pgaddr, done;
		int ret;

		if (aspace_uffd_read(sh->u, &m, 20))
			continue;
		if (m.event != ASPACE_UFFD_EVENT_PAGEFAULT) {
			atomic_store(&sh->failed, 3);
			continue;
		}
		pgaddr = m.address & ~(PG - 1);
		if (m.flags & ASPACE_UFFD_PAGEFAULT_FLAG_WP) {
			atomic_fetch_add(&sh->wp_faults, 1);
			if (aspace_uffd_writeprotect(sh->u, pgaddr, PG, 0))
				atomic_store(&sh->failed, 4);
			continue;
		}
		atomic_fetch_add(&sh->faults, 1);
		memset(page, 0, sizeof(page));
		page[100] = (unsigned char)((pgaddr - sh->base) / PG);
		page[101] = 0xa5;
		ret = aspace_uffd_copy(sh->u, pgaddr, page, PG, 0, &done);
		if (ret == -EEXIST) {
			/* Another fault on this page was resolved first. */
			atomic_fetch_add(&sh->eexist, 1);
			if (aspace_uffd_wake(sh->u, pgaddr, PG))
				atomic_store(&sh->failed, 5);
		} else if (ret) {
			atomic_store(&sh->failed, 6);
		}
	}
	return NULL;
}

static void *protector_main(void *arg)
{
	struct shared *sh = arg;
	unsigned int seed = 4242;

	while (atomic_load(&sh->writers_left) > 0) {
		unsigned long pg = rnd(&seed) % NPAGES;

		/* ENOENT never: the whole range is registered WP. */
		if (aspace_uffd_writeprotect(sh->u, sh->base + pg * PG, PG,
					     ASPACE_UFFDIO_WRITEPROTECT_MODE_WP))
			atomic_store(&sh->failed, 7);
		sched_yield();
	}
	return NULL;
}

static void test_faults_resolved_concurrently(void **state)
{
	struct aspace_config cfg = { .pool_bytes = 64UL << 20 };
	static struct shared sh;
	struct writer w[NWRITERS];
	pthread_t mon, prot;

	(void)state;
	memset(&sh, 0, sizeof(sh));
	assert_int_equal(aspace_mm_create(&cfg, &sh.mm), 0);
	sh.base = (unsigned long)aspace_mmap(sh.mm, 0, NPAGES * PG, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true((long)sh.base > 0);
	assert_int_equal(aspace_uffd_create(sh.mm, ASPACE_UFFD_FEATURE_PAGEFAULT_FLAG_WP, &sh.u), 0);
	assert_int_equal(aspace_uffd_register(sh.u, sh.base, NPAGES * PG,
					      ASPACE_UFFDIO_REGISTER_MODE_MISSING |
						      ASPACE_UFFDIO_REGISTER_MODE_WP,
					      NULL),
			 0);
	/* Phase 0: missing faults (and wp on what got populated); phase 1:
	 * the whole range starts write-protected, so writes block in wp
	 * faults as well. */
	for (int phase = 0; phase < 2; phase++) {
		if (phase == 1)
			assert_int_equal(aspace_uffd_writeprotect(sh.u, sh.base, NPAGES * PG,
								  ASPACE_UFFDIO_WRITEPROTECT_MODE_WP),
					 0);
		atomic_store(&sh.writers_left, NWRITERS);
		assert_int_equal(pthread_create(&mon, NULL, monitor_main, &sh), 0);
		assert_int_equal(pthread_create(&prot, NULL, protector_main, &sh), 0);
		for (int i = 0; i < NWRITERS; i++) {
			w[i].sh = &sh;
			w[i].id = i;
			assert_int_equal(pthread_create(&w[i].tid, NULL, writer_main, &w[i]), 0);
		}
		for (int i = 0; i < NWRITERS; i++)
			pthread_join(w[i].tid, NULL);
		pthread_join(prot, NULL);
		pthread_join(mon, NULL);
		assert_int_equal(atomic_load(&sh.failed), 0);
	}
	assert_true(atomic_load(&sh.wp_faults) > 0);
	/* Each page was copied at most once: one missing message per page
	 * that was not already resolved when it faulted. */
	assert_true(atomic_load(&sh.faults) - atomic_load(&sh.eexist) <= NPAGES);
	assert_true(atomic_load(&sh.faults) > 0);

	/* Every writer's last byte landed. */
	aspace_uffd_release(sh.u);
	for (unsigned long pg = 0; pg < NPAGES; pg++) {
		unsigned char got[NWRITERS];

		assert_int_equal(aspace_read(sh.mm, sh.base + pg * PG, got, NWRITERS, NULL), 0);
		for (int i = 0; i < NWRITERS; i++)
			assert_int_equal(got[i], sh.last[i][pg]);
	}
	aspace_mm_destroy(sh.mm);
}

struct sleeper {
	struct aspace_mm *mm;
	unsigned long addr;
	pthread_t tid;
	int ret;
	unsigned char b;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	s->ret = aspace_read(s->mm, s->addr, &s->b, 1, NULL);
	return NULL;
}

/* Release while faulters sleep: they all wake and see plain memory. */
static void test_release_while_sleeping(void **state)
{
	struct aspace_config cfg = { .pool_bytes = 16UL << 20 };
	struct aspace_mm *mm;
	struct aspace_uffd *u;
	struct sleeper s[8];
	unsigned long base;
	int seen = 0;

	(void)state;
	assert_int_equal(aspace_mm_create(&cfg, &mm), 0);
	base = (unsigned long)aspace_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, base, 8 * PG, ASPACE_UFFDIO_REGISTER_MODE_MISSING,
					      NULL),
			 0);
	for (int i = 0; i < 8; i++) {
		s[i].mm = mm;
		s[i].addr = base + (unsigned long)i * PG;
		assert_int_equal(pthread_create(&s[i].tid, NULL, sleeper_main, &s[i]), 0);
	}
	/* Wait until all eight are asleep in their faults. */
	while (seen < 8) {
		struct aspace_uffd_msg m;

		assert_int_equal(aspace_uffd_read(u, &m, 5000), 0);
		assert_int_equal(m.event, ASPACE_UFFD_EVENT_PAGEFAULT);
		seen++;
	}
	aspace_uffd_release(u);
	for (int i = 0; i < 8; i++) {
		pthread_join(s[i].tid, NULL);
		assert_int_equal(s[i].ret, 0);
		assert_int_equal(s[i].b, 0);
	}
	aspace_mm_destroy(mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_faults_resolved_concurrently),
		cmocka_unit_test(test_release_while_sleeping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
