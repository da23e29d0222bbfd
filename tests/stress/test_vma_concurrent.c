/*
 * test_vma_concurrent: lock-free VMA lookups while the tree changes.
 *
 * One writer thread runs random mmap/munmap/mprotect/mremap calls in an
 * arena; reader threads look addresses up without any lock (RCU only) and
 * through lock_vma_under_rcu.  Every RCU lookup must return an entry whose
 * range covers the address (or nothing), and the VMA it points to must be
 * readable memory (ASan/TSan runs check that); every successful
 * lock_vma_under_rcu must hand back an attached VMA that covers the address
 * and stays stable while read-locked.
 */
#include "testutil.h"
#include "mm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#define ARENA 512
#ifdef ASPACE_TSAN
#define WRITER_OPS 4000
#else
#define WRITER_OPS 40000
#endif

struct shared {
	struct aspace_mm *amm;
	struct mm_struct *mm;
	unsigned long base;
	atomic_int done;
	atomic_long lookups, locked, bad;
};

static unsigned long xorshift(unsigned long long *s, unsigned long n)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (unsigned long)(*s % n);
}

static void *writer(void *arg)
{
	struct shared *sh = arg;
	unsigned long long s = 12345;

	for (int i = 0; i < WRITER_OPS; i++) {
		unsigned long a = sh->base + (16 + xorshift(&s, ARENA - 32)) * P;
		unsigned long n = (1 + xorshift(&s, 8)) * P;

		switch (xorshift(&s, 4)) {
		case 0:
			aspace_mmap(sh->amm, a, n, (int)xorshift(&s, 4),
				    ANON_PRIV | MAP_FIXED, -1, 0);
			break;
		case 1:
			aspace_munmap(sh->amm, a, n);
			break;
		case 2:
			aspace_mprotect(sh->amm, a, n, (int)xorshift(&s, 4));
			break;
		case 3:
			aspace_mremap(sh->amm, a, n, n, MREMAP_MAYMOVE | MREMAP_FIXED,
				      sh->base + (16 + xorshift(&s, ARENA - 32)) * P);
			break;
		}
	}
	atomic_store(&sh->done, 1);
	return NULL;
}

static void *reader(void *arg)
{
	struct shared *sh = arg;
	unsigned long long s = (unsigned long long)pthread_self() | 1;

	while (!atomic_load(&sh->done)) {
		unsigned long addr = sh->base + xorshift(&s, ARENA * P);
		struct vm_area_struct *vma;
		struct vt_entry e, p;

		rcu_read_lock();
		if (vt_find(&sh->mm->mm_mt, addr, &e)) {
			vma = e.ptr;
			/* The entry is a snapshot: it must be self-consistent. */
			if (e.hi <= addr || e.lo >= e.hi)
				atomic_fetch_add(&sh->bad, 1);
			/* The VMA is alive until we leave the critical section. */
			(void)READ_ONCE(vma->vm_flags);
		}
		if (vt_find_prev(&sh->mm->mm_mt, addr, &p) && (p.hi > addr || p.lo >= p.hi))
			atomic_fetch_add(&sh->bad, 1);
		rcu_read_unlock();
		atomic_fetch_add(&sh->lookups, 1);

		vma = lock_vma_under_rcu(sh->mm, addr);
		if (vma) {
			unsigned long start = vma->vm_start, end = vma->vm_end;

			if (addr < start || addr >= end || READ_ONCE(vma->detached))
				atomic_fetch_add(&sh->bad, 1);
			/* Read-locked: the range cannot change under us. */
			if (vma->vm_start != start || vma->vm_end != end)
				atomic_fetch_add(&sh->bad, 1);
			vma_end_read(vma);
			atomic_fetch_add(&sh->locked, 1);
		}
	}
	return NULL;
}

static void lookups_during_changes(void **state)
{
	struct shared sh = { 0 };
	pthread_t w, r[2];

	assert_int_equal(aspace_mm_create(NULL, &sh.amm), 0);
	sh.mm = to_mm(sh.amm);
	sh.base = (unsigned long)aspace_mmap(sh.amm, 0, ARENA * P, PROT_READ,
					     ANON_PRIV | MAP_NORESERVE, -1, 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, reader, &sh);
	pthread_create(&w, NULL, writer, &sh);
	pthread_join(w, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	assert_int_equal(atomic_load(&sh.bad), 0);
	assert_true(atomic_load(&sh.lookups) > 0);
	assert_true(vt_validate(&sh.mm->mm_mt));
	aspace_mm_destroy(sh.amm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookups_during_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
