/*
 * mprotect.c: changing the protection of a range (mmap write lock for the
 * whole call).
 *
 * Like the kernel, the range is processed VMA by VMA and a hole found part
 * way through returns -ENOMEM after the VMAs before it were changed; a VMA
 * that may not get the new access (VM_MAYx clear) returns -EACCES the same
 * way.  Each changed piece is merged with its neighbours when compatible,
 * else split out (vma_modify), then write-locked before vm_flags change.
 */
#include "mm.h"
#include "mm_mem.h"

#include <errno.h>
#include <sys/mman.h>

#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif

static unsigned long prot_to_vm(int prot)
{
	return ((prot & PROT_READ) ? VM_READ : 0) | ((prot & PROT_WRITE) ? VM_WRITE : 0) |
	       ((prot & PROT_EXEC) ? VM_EXEC : 0);
}

/*
 * Ranges to fault in once mmap_lock is released: a locked private VMA that
 * becomes writable has its COW broken at once (no major faults later), as
 * the kernel does inside mprotect.
 */
struct populate_list {
	int nr;
	unsigned long start[16], end[16];
};

static int mprotect_fixup(struct mm_struct *mm, struct vm_area_struct *vma,
			  struct vm_area_struct **pprev, unsigned long start,
			  unsigned long end, unsigned long newflags,
			  struct populate_list *pop)
{
	unsigned long oldflags = vma->vm_flags;
	struct vma_merge_struct vmg;

	if (newflags == oldflags) {
		*pprev = vma;
		return 0;
	}
	/*
	 * Private memory becoming writable is charged (VM_ACCOUNT); it is only
	 * uncharged again while no anonymous page exists (no anon_vma).
	 */
	if (newflags & VM_WRITE) {
		if (!(oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE)))
			newflags |= VM_ACCOUNT;
	} else if ((oldflags & VM_ACCOUNT) && vma_is_anonymous(vma) && !vma->anon_vma) {
		newflags &= ~VM_ACCOUNT;
	}
	vmg_init_modify(&vmg, *pprev, vma, start, end, newflags);
	vma = vma_modify(&vmg);
	if (IS_ERR(vma))
		return (int)PTR_ERR(vma);
	*pprev = vma;
	vma_start_write(vma);
	vm_flags_reset_once(vma, newflags);
	change_protection(vma, start, end, newflags);
	if ((oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED | VM_LOCKONFAULT)) == VM_LOCKED &&
	    (newflags & VM_WRITE) && pop->nr < 16) {
		pop->start[pop->nr] = start;
		pop->end[pop->nr++] = end;
	}
	return 0;
}

int aspace_mprotect(struct aspace_mm *amm, unsigned long start, unsigned long len,
		    int prot)
{
	struct mm_struct *mm = to_mm(amm);
	struct populate_list pop = { 0 };
	struct vm_area_struct *vma, *prev;
	const int grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
	unsigned long end, tmp, nstart;
	int error;

	prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
	if (grows == (PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (!len)
		return 0;
	len = PAGE_ALIGN(len);
	end = start + len;
	if (end <= start)
		return -ENOMEM;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM))
		return -EINVAL;

	mmap_write_lock(mm);
	error = -ENOMEM;
	vma = find_vma_intersection(mm, start, end);
	if (!vma)
		goto out;
	if (grows & PROT_GROWSDOWN) {
		start = vma->vm_start;
		error = -EINVAL;
		if (!(vma->vm_flags & VM_GROWSDOWN))
			goto out;
	} else if (vma->vm_start > start) {
		goto out;
	}
	prev = start > vma->vm_start ? vma : vma_prev(mm, vma);
	nstart = start;
	tmp = vma->vm_start;
	error = 0;
	for (; vma && vma->vm_start < end; vma = find_vma(mm, nstart)) {
		unsigned long newflags;

		if (vma->vm_start != tmp) {
			error = -ENOMEM;
			break;
		}
		newflags = prot_to_vm(prot) | (vma->vm_flags & ~VM_ACCESS_FLAGS);
		/* VM_MAYx sit four bits above VM_x. */
		if ((newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS) {
			error = -EACCES;
			break;
		}
		tmp = vma->vm_end < end ? vma->vm_end : end;
		error = mprotect_fixup(mm, vma, &prev, nstart, tmp, newflags, &pop);
		if (error)
			break;
		/* A merge may have carried the VMA past tmp: go on from its end. */
		tmp = prev->vm_end;
		nstart = tmp;
	}
	if (!error && tmp < end)
		error = -ENOMEM;
out:
	mmap_write_unlock(mm);
	for (int i = 0; i < pop.nr; i++)
		mm_populate_range(mm, pop.start[i], pop.end[i] - pop.start[i], true);
	return error;
}
