/*
 * mlock.c: mlock, mlock2, munlock, mlockall, munlockall (mmap write lock
 * while VMA flags change; population afterwards under mmap_lock for read).
 *
 * As in the kernel, the range is walked VMA by VMA: a hole is -ENOMEM
 * (after the VMAs before it were changed), VM_LOCKED / VM_LOCKONFAULT are
 * set or cleared with the same merge-or-split as mprotect (vma_modify), and
 * VM_IO/VM_PFNMAP/VM_DONTEXPAND VMAs are skipped silently.  mm->locked_vm
 * counts locked pages.  A failure to fault a locked range in is reported
 * the way POSIX wants it (EFAULT -> ENOMEM, ENOMEM -> EAGAIN).  The caller
 * is taken to have CAP_IPC_LOCK (no RLIMIT_MEMLOCK check), like root.
 */
#include "mm.h"
#include "alloc.h"
#include "mm_mem.h"

#include <errno.h>
#include <sys/mman.h>

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

#define VM_SPECIAL_MASK (VM_IO | VM_DONTEXPAND | VM_PFNMAP)

static int mlock_fixup(struct mm_struct *mm, struct vm_area_struct *vma,
		       struct vm_area_struct **pprev, unsigned long start,
		       unsigned long end, unsigned long newflags)
{
	unsigned long oldflags = vma->vm_flags;
	struct vma_merge_struct vmg;
	long nr_pages;

	if (newflags == oldflags || (oldflags & (VM_SPECIAL_MASK | VM_HUGETLB)))
		goto out;
	vmg_init_modify(&vmg, *pprev, vma, start, end, newflags);
	vma = vma_modify(&vmg);
	if (IS_ERR(vma))
		return (int)PTR_ERR(vma);
	nr_pages = (long)((end - start) >> PAGE_SHIFT);
	if (!(newflags & VM_LOCKED))
		nr_pages = -nr_pages;
	else if (oldflags & VM_LOCKED)
		nr_pages = 0;
	mm->locked_vm += nr_pages;
	vma_start_write(vma);
	vm_flags_reset(vma, newflags);
out:
	*pprev = vma;
	return 0;
}

/* Set the lock flags of every VMA in [start, start+len) (page aligned). */
static int apply_vma_lock_flags(struct mm_struct *mm, unsigned long start,
				unsigned long len, unsigned long flags)
{
	unsigned long end = start + len, nstart = start, tmp;
	struct vm_area_struct *vma, *prev;
	int error;

	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;
	vma = vma_lookup(mm, start);
	if (!vma)
		return -ENOMEM;
	prev = start > vma->vm_start ? vma : vma_prev(mm, vma);
	tmp = vma->vm_start;
	for (; vma && vma->vm_start < end; vma = find_vma(mm, nstart)) {
		unsigned long newflags = (vma->vm_flags & ~VM_LOCKED_MASK) | flags;

		if (vma->vm_start != tmp)
			return -ENOMEM;
		tmp = vma->vm_end < end ? vma->vm_end : end;
		error = mlock_fixup(mm, vma, &prev, nstart, tmp, newflags);
		if (error)
			return error;
		/* A merge may have carried the VMA past tmp: go on from its end. */
		tmp = prev->vm_end;
		nstart = tmp;
		if (nstart >= end)
			break;
	}
	return tmp < end ? -ENOMEM : 0;
}

/*
 * Fault [start, end) in after mlock, the way __mm_populate does: VMA by
 * VMA, skipping VM_IO/VM_PFNMAP and on-fault VMAs; a PROT_NONE VMA cannot
 * be faulted in (GUP refuses it), which is an error unless ignore_errors
 * (mlockall).
 */
static int populate_locked(struct mm_struct *mm, unsigned long start, unsigned long end,
			   bool ignore_errors)
{
	unsigned long addr = start;
	int err = 0;

	while (addr < end) {
		struct vm_area_struct *vma;
		unsigned long s, e, flags;

		mmap_read_lock(mm);
		vma = find_vma_intersection(mm, addr, end);
		if (vma) {
			flags = vma->vm_flags;
			s = vma->vm_start > addr ? vma->vm_start : addr;
			e = vma->vm_end < end ? vma->vm_end : end;
		}
		mmap_read_unlock(mm);
		if (!vma)
			break;
		addr = e;
		if ((flags & (VM_IO | VM_PFNMAP)) || (flags & VM_LOCKONFAULT))
			continue;
		err = (flags & VM_ACCESS_FLAGS) ? mm_populate_range(mm, s, e - s, false) : -EFAULT;
		if (err && !ignore_errors)
			break;
		err = 0;
	}
	if (err == -EFAULT)
		return -ENOMEM;
	if (err == -ENOMEM)
		return -EAGAIN;
	return err;
}

static int do_mlock(struct mm_struct *mm, unsigned long start, size_t len,
		    unsigned long flags)
{
	int error;

	len = PAGE_ALIGN(len + (start & ~PAGE_MASK));
	start &= PAGE_MASK;
	mmap_write_lock(mm);
	error = apply_vma_lock_flags(mm, start, len, flags);
	mmap_write_unlock(mm);
	if (error)
		return error;
	return populate_locked(mm, start, start + len, false);
}

int aspace_mlock2(struct aspace_mm *amm, unsigned long start, size_t len, unsigned int flags)
{
	if (flags & ~MLOCK_ONFAULT)
		return -EINVAL;
	return do_mlock(to_mm(amm), start, len,
			VM_LOCKED | ((flags & MLOCK_ONFAULT) ? VM_LOCKONFAULT : 0));
}

int aspace_munlock(struct aspace_mm *amm, unsigned long start, size_t len)
{
	struct mm_struct *mm = to_mm(amm);
	int ret;

	len = PAGE_ALIGN(len + (start & ~PAGE_MASK));
	start &= PAGE_MASK;
	mmap_write_lock(mm);
	ret = apply_vma_lock_flags(mm, start, len, 0);
	mmap_write_unlock(mm);
	return ret;
}

/* Set (or clear, flags 0) the lock flags of every VMA; errors are ignored,
 * as the kernel does. */
static void apply_mlockall_flags(struct mm_struct *mm, int flags)
{
	struct vm_area_struct *vma, *prev = NULL;
	unsigned long to_add = 0, addr = 0;

	mm->def_flags &= ~VM_LOCKED_MASK;
	if (flags & MCL_FUTURE) {
		mm->def_flags |= VM_LOCKED;
		if (flags & MCL_ONFAULT)
			mm->def_flags |= VM_LOCKONFAULT;
		if (!(flags & MCL_CURRENT))
			return;
	}
	if (flags & MCL_CURRENT) {
		to_add |= VM_LOCKED;
		if (flags & MCL_ONFAULT)
			to_add |= VM_LOCKONFAULT;
	}
	while ((vma = find_vma(mm, addr))) {
		unsigned long newflags = (vma->vm_flags & ~VM_LOCKED_MASK) | to_add;

		mlock_fixup(mm, vma, &prev, vma->vm_start, vma->vm_end, newflags);
		addr = prev->vm_end;
	}
}

int aspace_mlockall(struct aspace_mm *amm, int flags)
{
	struct mm_struct *mm = to_mm(amm);

	if (!flags || (flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) || flags == MCL_ONFAULT)
		return -EINVAL;
	mmap_write_lock(mm);
	apply_mlockall_flags(mm, flags);
	mmap_write_unlock(mm);
	if (flags & MCL_CURRENT)
		populate_locked(mm, 0, mm->task_size, true);
	return 0;
}

int aspace_munlockall(struct aspace_mm *amm)
{
	struct mm_struct *mm = to_mm(amm);

	mmap_write_lock(mm);
	apply_mlockall_flags(mm, 0);
	mmap_write_unlock(mm);
	return 0;
}
