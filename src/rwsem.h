/*
 * rwsem.h: a reader/writer semaphore with trylock, downgrade and owner
 * tracking, the primitive under mmap_lock and the per-VMA locks.
 *
 * One 32-bit atomic word holds everything, so the uncontended paths are a
 * single compare-and-swap and a sleeper waits on the word with futex(2):
 *   bits 0..28  number of readers holding it
 *   bit  29     a writer is waiting (new readers back off: writers are not
 *               starved by a stream of readers, as in the kernel)
 *   bit  30     someone sleeps on the futex (the releaser must wake)
 *   bit  31     held for write
 * `owner` is the writer's thread id (0 when not write-held), so assertions
 * can check "held for write by me".
 */
#ifndef ASPACE_RWSEM_H
#define ASPACE_RWSEM_H

#include <stdbool.h>
#include <stdint.h>

struct rw_semaphore {
	uint32_t count;
	int owner;
};

#define RWSEM_READER_MASK 0x1fffffffu
#define RWSEM_WRITER_WAITING (1u << 29)
#define RWSEM_WAITERS (1u << 30)
#define RWSEM_WRITER (1u << 31)

static inline void init_rwsem(struct rw_semaphore *sem)
{
	sem->count = 0;
	sem->owner = 0;
}

void down_read(struct rw_semaphore *sem);
bool down_read_trylock(struct rw_semaphore *sem);
void up_read(struct rw_semaphore *sem);
void down_write(struct rw_semaphore *sem);
bool down_write_trylock(struct rw_semaphore *sem);
void up_write(struct rw_semaphore *sem);
/* Write-held -> read-held without letting a writer in between. */
void downgrade_write(struct rw_semaphore *sem);

bool rwsem_is_write_locked_by_me(const struct rw_semaphore *sem);
static inline bool rwsem_is_locked(const struct rw_semaphore *sem)
{
	return __atomic_load_n(&sem->count, __ATOMIC_RELAXED) &
	       (RWSEM_WRITER | RWSEM_READER_MASK);
}
static inline unsigned rwsem_readers(const struct rw_semaphore *sem)
{
	return __atomic_load_n(&sem->count, __ATOMIC_RELAXED) & RWSEM_READER_MASK;
}

#endif
