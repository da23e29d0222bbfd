/*
 * vma_lock.c: per-VMA locks, the design of seed 002.
 *
 * A VMA is write-locked when vma->vm_lock_seq equals mm->mm_lock_seq.  Only
 * the mmap_lock writer sets that (vma_start_write), taking vm_lock for write
 * for an instant so that it waits out readers already inside; it stays
 * "locked" with no lock held until the writer bumps mm_lock_seq
 * (vma_end_write_all, from mmap_write_unlock/downgrade), which unlocks every
 * marked VMA at once.  Readers only ever try: vma_start_read fails whenever
 * the VMA is marked, is being marked, or the read lock is contended, and the
 * caller falls back to mmap_lock.  It may fail spuriously; it never succeeds
 * while the VMA is write-locked.
 *
 * vma_end_read drops the read lock inside an RCU read-side section: the
 * releasing thread may touch vm_lock after a writer could otherwise have
 * freed the VMA (seed 002's up_read hazard); VMAs are freed only after a
 * grace period, so the section keeps the memory alive.
 *
 * With per-VMA locks off for the mm, vma_start_read always fails, nothing is
 * marked, and "write-locked" means "mmap_lock held for write".
 */
#include "vma.h"

void vma_lock_init(struct vm_area_struct *vma)
{
	init_rwsem(&vma->vm_lock);
	vma->vm_lock_seq = ~0u;
}

bool vma_start_read(struct vm_area_struct *vma)
{
	struct mm_struct *mm = vma->vm_mm;

	if (!mm->per_vma_lock)
		return false;
	/* A racy early check: a false "locked" only costs a fallback. */
	if (READ_ONCE(vma->vm_lock_seq) ==
	    __atomic_load_n(&mm->mm_lock_seq, __ATOMIC_ACQUIRE))
		return false;
	if (!down_read_trylock(&vma->vm_lock))
		return false;
	/*
	 * vm_lock_seq is written under vm_lock held for write, so it is stable
	 * now; mm_lock_seq only grows, and an overflow can at worst make us
	 * fail, never succeed falsely.
	 */
	if (vma->vm_lock_seq == __atomic_load_n(&mm->mm_lock_seq, __ATOMIC_ACQUIRE)) {
		up_read(&vma->vm_lock);
		return false;
	}
	return true;
}

void vma_end_read(struct vm_area_struct *vma)
{
	rcu_read_lock();
	up_read(&vma->vm_lock);
	rcu_read_unlock();
}

void vma_start_write(struct vm_area_struct *vma)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned int seq;

	RULE_CHECK(mmap_is_write_locked_by_me(mm),
		   "vma_start_write needs mmap_lock held for write", vma,
		   "mm %p", (void *)mm);
	if (!mm->per_vma_lock)
		return;
	seq = mm->mm_lock_seq;
	if (vma->vm_lock_seq == seq)
		return;
	down_write(&vma->vm_lock);
	WRITE_ONCE(vma->vm_lock_seq, seq);
	up_write(&vma->vm_lock);
}

bool vma_is_write_locked(const struct vm_area_struct *vma)
{
	const struct mm_struct *mm = vma->vm_mm;

	if (!mmap_is_write_locked_by_me(mm))
		return false;
	return !mm->per_vma_lock || vma->vm_lock_seq == mm->mm_lock_seq;
}

void vma_end_write_all(struct mm_struct *mm)
{
	mmap_assert_write_locked(mm);
	__atomic_store_n(&mm->mm_lock_seq, mm->mm_lock_seq + 1, __ATOMIC_RELEASE);
}

void vma_mark_detached(struct vm_area_struct *vma, bool detached)
{
	vma_assert_write_locked(vma);
	WRITE_ONCE(vma->detached, detached);
}

struct vm_area_struct *lock_vma_under_rcu(struct mm_struct *mm, unsigned long address)
{
	struct vm_area_struct *vma;
	struct vt_entry e;

	rcu_read_lock();
	if (!vt_find(&mm->mm_mt, address, &e) || e.lo > address)
		goto miss;
	vma = e.ptr;
	if (!vma_start_read(vma))
		goto abort;
	/* The VMA may have changed or left the tree before we locked it. */
	if (READ_ONCE(vma->detached) || address < vma->vm_start ||
	    address >= vma->vm_end) {
		vma_end_read(vma);
		goto abort;
	}
	rcu_read_unlock();
	count_vma_lock_event(mm, success);
	return vma;
abort:
	rcu_read_unlock();
	count_vma_lock_event(mm, abort);
	return NULL;
miss:
	rcu_read_unlock();
	count_vma_lock_event(mm, miss);
	return NULL;
}
