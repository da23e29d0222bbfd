/*
 * spinlock.h: a small test-and-test-and-set spinlock for short critical
 * sections that must not sleep: the split PTE-table locks and the upper
 * page-table lock.  Acquire/release atomics, so ThreadSanitizer sees the
 * ordering.  A waiter that spins too long yields the CPU: callers' threads
 * may outnumber the machine's CPUs and the holder may be preempted.
 */
#ifndef ASPACE_SPINLOCK_H
#define ASPACE_SPINLOCK_H

#include <sched.h>
#include <stdbool.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

typedef struct {
	int locked;
} spinlock_t;

#define SPIN_LOCK_UNLOCKED { 0 }

static inline void spin_lock_init(spinlock_t *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELAXED);
}

static inline bool spin_trylock(spinlock_t *l)
{
	return !__atomic_load_n(&l->locked, __ATOMIC_RELAXED) &&
	       !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_lock(spinlock_t *l)
{
	unsigned spins = 0;

	while (!spin_trylock(l)) {
		if (++spins > 64) {
			sched_yield();
			spins = 0;
		} else {
			cpu_relax();
		}
	}
}

static inline void spin_unlock(spinlock_t *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

static inline bool spin_is_locked(const spinlock_t *l)
{
	return __atomic_load_n(&l->locked, __ATOMIC_RELAXED);
}

#endif
