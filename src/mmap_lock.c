/*
 * mmap_lock.c: the mm's mmap_lock (a rw_semaphore) with the kernel's API.
 *
 * Releasing or downgrading the write lock ends every VMA write lock taken
 * under it (vma_end_write_all), and hands the VMAs and tree nodes retired
 * meanwhile to RCU in one batch.
 *
 * Debug builds remember, per thread, which mms the thread holds for read, so
 * mmap_assert_locked() means "held by this thread", not "held by someone".
 */
#include "vma.h"

#define MAX_READ_HELD 8

struct read_hold {
	const struct mm_struct *mm;
	int count;
};
static __thread struct read_hold read_held[MAX_READ_HELD];

static void note_read(const struct mm_struct *mm, int delta)
{
	if (!ASPACE_DEBUG)
		return;
	for (int i = 0; i < MAX_READ_HELD; i++) {
		if (read_held[i].mm == mm) {
			read_held[i].count += delta;
			if (!read_held[i].count)
				read_held[i].mm = NULL;
			return;
		}
	}
	if (delta < 0)
		return;
	for (int i = 0; i < MAX_READ_HELD; i++) {
		if (!read_held[i].mm) {
			read_held[i].mm = mm;
			read_held[i].count = delta;
			return;
		}
	}
}

bool mmap_is_write_locked_by_me(const struct mm_struct *mm)
{
	return rwsem_is_write_locked_by_me(&mm->mmap_lock);
}

bool mmap_is_locked_by_me(const struct mm_struct *mm)
{
	if (mmap_is_write_locked_by_me(mm))
		return true;
	if (!ASPACE_DEBUG)
		return rwsem_is_locked(&mm->mmap_lock);
	for (int i = 0; i < MAX_READ_HELD; i++)
		if (read_held[i].mm == mm)
			return true;
	return false;
}

void mmap_read_lock(struct mm_struct *mm)
{
	down_read(&mm->mmap_lock);
	note_read(mm, 1);
}

bool mmap_read_trylock(struct mm_struct *mm)
{
	if (!down_read_trylock(&mm->mmap_lock))
		return false;
	note_read(mm, 1);
	return true;
}

void mmap_read_unlock(struct mm_struct *mm)
{
	RULE_CHECK(mmap_is_locked_by_me(mm) && !mmap_is_write_locked_by_me(mm),
		   "mmap_read_unlock of a lock not read-held", NULL,
		   "mm %p", (void *)mm);
	note_read(mm, -1);
	up_read(&mm->mmap_lock);
}

void mmap_write_lock(struct mm_struct *mm)
{
	down_write(&mm->mmap_lock);
}

bool mmap_write_trylock(struct mm_struct *mm)
{
	return down_write_trylock(&mm->mmap_lock);
}

static void mmap_write_release_prep(struct mm_struct *mm)
{
	mmap_assert_write_locked(mm);
	vma_end_write_all(mm);
	retire_list_flush(&mm->retired, false);
	vma_reap_retired(mm);
}

void mmap_write_unlock(struct mm_struct *mm)
{
	mmap_write_release_prep(mm);
	up_write(&mm->mmap_lock);
}

void mmap_write_downgrade(struct mm_struct *mm)
{
	mmap_write_release_prep(mm);
	downgrade_write(&mm->mmap_lock);
	note_read(mm, 1);
}
