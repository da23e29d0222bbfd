/*
 * rwsem.c: the reader/writer semaphore (layout and rules in rwsem.h).
 *
 * Sleeping: a waiter sets RWSEM_WAITERS and futex-waits on the word with the
 * value it saw; a releaser that finds RWSEM_WAITERS clears it and wakes every
 * sleeper, and each retries.  A waiter whose value went stale returns from
 * futex_wait at once, so no wakeup is lost.  Wake-all is simple and cheap at
 * our thread counts; there is no hand-off.
 */
#include "rwsem.h"
#include "debug.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static void futex_wait(uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline bool cas(uint32_t *word, uint32_t *old, uint32_t new)
{
	return __atomic_compare_exchange_n(word, old, new, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/*
 * Before sleeping, a writer spins a little: the holders of mmap_lock and of
 * VMA locks keep them for a few hundred nanoseconds, far less than a futex
 * sleep and wake-up cost.  Readers do not spin (as in the kernel, whose
 * rwsem dropped reader spinning): a reader behind a writer sleeps.  Returns
 * once the word no longer has `busy` bits set, or after the spin budget.
 */
static void rwsem_spin(struct rw_semaphore *sem, uint32_t busy)
{
	for (int i = 0; i < 200; i++) {
		if (!(__atomic_load_n(&sem->count, __ATOMIC_RELAXED) & busy))
			return;
		__builtin_ia32_pause();
	}
}

/* Sleep until the word changes from c, having announced ourselves. */
static void rwsem_sleep(struct rw_semaphore *sem, uint32_t c, uint32_t flags)
{
	uint32_t want = c | RWSEM_WAITERS | flags;

	if (want != c &&
	    !__atomic_compare_exchange_n(&sem->count, &c, want, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return; /* changed under us: retry */
	futex_wait(&sem->count, want);
}

static void rwsem_wake(struct rw_semaphore *sem)
{
	__atomic_fetch_and(&sem->count, ~RWSEM_WAITERS, __ATOMIC_RELAXED);
	futex_wake_all(&sem->count);
}

bool down_read_trylock(struct rw_semaphore *sem)
{
	uint32_t c = __atomic_load_n(&sem->count, __ATOMIC_RELAXED);

	while (!(c & (RWSEM_WRITER | RWSEM_WRITER_WAITING))) {
		if (cas(&sem->count, &c, c + 1))
			return true;
	}
	return false;
}

void down_read(struct rw_semaphore *sem)
{
	for (;;) {
		uint32_t c;

		if (down_read_trylock(sem))
			return;
		c = __atomic_load_n(&sem->count, __ATOMIC_RELAXED);
		if (c & (RWSEM_WRITER | RWSEM_WRITER_WAITING))
			rwsem_sleep(sem, c, 0);
	}
}

void up_read(struct rw_semaphore *sem)
{
	uint32_t c = __atomic_sub_fetch(&sem->count, 1, __ATOMIC_RELEASE);

	BUG_ON((c & RWSEM_READER_MASK) == RWSEM_READER_MASK);
	if (!(c & RWSEM_READER_MASK) && (c & RWSEM_WAITERS))
		rwsem_wake(sem);
}

bool down_write_trylock(struct rw_semaphore *sem)
{
	uint32_t c = __atomic_load_n(&sem->count, __ATOMIC_RELAXED);

	while (!(c & (RWSEM_WRITER | RWSEM_READER_MASK))) {
		if (cas(&sem->count, &c, (c | RWSEM_WRITER) & ~RWSEM_WRITER_WAITING)) {
			__atomic_store_n(&sem->owner, current_tid(), __ATOMIC_RELAXED);
			return true;
		}
	}
	return false;
}

void down_write(struct rw_semaphore *sem)
{
	for (;;) {
		uint32_t c;

		if (down_write_trylock(sem))
			return;
		rwsem_spin(sem, RWSEM_WRITER | RWSEM_READER_MASK);
		if (down_write_trylock(sem))
			return;
		c = __atomic_load_n(&sem->count, __ATOMIC_RELAXED);
		if (c & (RWSEM_WRITER | RWSEM_READER_MASK))
			rwsem_sleep(sem, c, RWSEM_WRITER_WAITING);
	}
}

void up_write(struct rw_semaphore *sem)
{
	uint32_t c;

	__atomic_store_n(&sem->owner, 0, __ATOMIC_RELAXED);
	c = __atomic_fetch_and(&sem->count, ~RWSEM_WRITER, __ATOMIC_RELEASE);
	if (c & RWSEM_WAITERS)
		rwsem_wake(sem);
}

void downgrade_write(struct rw_semaphore *sem)
{
	uint32_t c;

	__atomic_store_n(&sem->owner, 0, __ATOMIC_RELAXED);
	/* Clearing WRITER and adding one reader is a single add. */
	c = __atomic_add_fetch(&sem->count, 1 - RWSEM_WRITER, __ATOMIC_RELEASE);
	if (c & RWSEM_WAITERS)
		rwsem_wake(sem);
}

bool rwsem_is_write_locked_by_me(const struct rw_semaphore *sem)
{
	return (__atomic_load_n(&sem->count, __ATOMIC_RELAXED) & RWSEM_WRITER) &&
	       __atomic_load_n(&sem->owner, __ATOMIC_RELAXED) == current_tid();
}
