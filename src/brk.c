/*
 * brk.c: the heap (mm->start_brk .. mm->brk), under the mmap write lock.
 *
 * As brk(2), the call returns the new break on success and the old one on
 * failure.  Growing extends the heap VMA (merging only with the VMA just
 * below, never above) or creates one; shrinking unmaps whole pages.
 */
#include "mm.h"
#include "mm_mem.h"

#include <errno.h>
#include <sys/mman.h>

static int do_brk_flags(struct mm_struct *mm, struct vm_area_struct *vma,
			unsigned long addr, unsigned long len)
{
	unsigned long flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE |
			      VM_MAYEXEC | VM_ACCOUNT | mm->def_flags;
	struct vma_merge_struct vmg = { 0 };

	if ((unsigned long)mm->map_count > mm->max_map_count)
		return -ENOMEM;
	if (vma && vma->vm_end == addr) {
		/* Only the heap VMA itself may grow: no merge with what is above. */
		vmg.mm = mm;
		vmg.prev = vma;
		vmg.start = addr;
		vmg.end = addr + len;
		vmg.pgoff = addr >> PAGE_SHIFT;
		vmg.flags = flags;
		if (vma_merge_new_range(&vmg))
			goto out;
		if (vmg.state == VMA_MERGE_ERROR_NOMEM)
			return -ENOMEM;
	}
	vma = vm_area_alloc(mm);
	if (!vma)
		return -ENOMEM;
	vma->vm_start = addr;
	vma->vm_end = addr + len;
	vma->vm_pgoff = addr >> PAGE_SHIFT;
	vma->vm_flags = flags;
	if (vma_link(mm, vma)) {
		vm_area_free_unlinked(vma);
		return -ENOMEM;
	}
out:
	mm->total_vm += len >> PAGE_SHIFT;
	if (flags & VM_LOCKED)
		mm->locked_vm += len >> PAGE_SHIFT;
	return 0;
}

unsigned long aspace_brk(struct aspace_mm *amm, unsigned long brk)
{
	struct mm_struct *mm = to_mm(amm);
	unsigned long origbrk, newbrk, oldbrk;
	struct vm_area_struct *vma, *next, *brkvma;
	bool populate = false;

	mmap_write_lock(mm);
	origbrk = mm->brk;
	if (brk < mm->start_brk)
		goto out;
	newbrk = PAGE_ALIGN(brk);
	oldbrk = PAGE_ALIGN(mm->brk);
	if (oldbrk == newbrk) {
		mm->brk = brk;
		goto success;
	}
	if (brk <= mm->brk) {
		/* Shrinking: unmap [newbrk, oldbrk). */
		vma = find_vma_intersection(mm, newbrk, oldbrk);
		if (!vma)
			goto out;
		mm->brk = brk;
		if (do_vmi_align_munmap(mm, vma, newbrk, oldbrk))
			goto out;
		goto success;
	}
	if (IS_ERR_VALUE(get_unmapped_area(mm, NULL, oldbrk, newbrk - oldbrk, 0, MAP_FIXED)))
		goto out;
	/* Leave a page (and the stack guard gap, none here) below the next VMA. */
	next = find_vma(mm, oldbrk);
	if (next && newbrk + PAGE_SIZE > next->vm_start)
		goto out;
	find_vma_prev(mm, oldbrk, &brkvma);
	if (brkvma && brkvma->vm_end <= mm->start_brk)
		brkvma = NULL;
	if (do_brk_flags(mm, brkvma, oldbrk, newbrk - oldbrk) < 0)
		goto out;
	mm->brk = brk;
	populate = mm->def_flags & VM_LOCKED;
success:
	mmap_write_unlock(mm);
	if (populate)
		mm_populate_range(mm, oldbrk, newbrk - oldbrk, false);
	return brk;
out:
	mm->brk = origbrk;
	mmap_write_unlock(mm);
	return origbrk;
}
