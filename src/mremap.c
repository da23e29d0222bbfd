/*
 * mremap.c: resizing and moving mappings (mmap write lock for the whole
 * call).
 *
 * What each flag combination does (old = [addr, addr+old_len)):
 *
 *   flags            new < old          new == old         new > old
 *   0                shrink in place    no-op              grow in place or ENOMEM
 *   MAYMOVE          shrink in place    no-op              grow in place, else move
 *   MAYMOVE|FIXED    unmap dst, shrink, move to new_addr (dst overlapping old: EINVAL)
 *   MAYMOVE|DONTUNMAP  new != old: EINVAL; move, old range stays mapped but empty
 *   FIXED or DONTUNMAP without MAYMOVE: EINVAL; unknown flag: EINVAL
 *
 * Errors checked before taking the lock (check_mremap_params) come first,
 * then those that need the VMA (no VMA at addr: EFAULT; growing or moving
 * past the VMA's end: EFAULT; VM_DONTEXPAND/VM_PFNMAP: EFAULT).
 */
#include "mm.h"
#include "anon_vma.h"
#include "mm_mem.h"

#include <errno.h>
#include <sys/mman.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

struct vma_remap_struct {
	unsigned long addr, old_len, new_len, new_addr;
	int flags;
	struct vm_area_struct *vma;
};

static bool vrm_implies_new_addr(const struct vma_remap_struct *vrm)
{
	return vrm->flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
}

static long check_mremap_params(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	if (vrm->flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP))
		return -EINVAL;
	if (vrm->addr & ~PAGE_MASK)
		return -EINVAL;
	if (!vrm->new_len)
		return -EINVAL;
	if (vrm->new_len > mm->task_size)
		return -EINVAL;
	if (!vrm_implies_new_addr(vrm))
		return 0;
	if (vrm->new_addr > mm->task_size - vrm->new_len)
		return -EINVAL;
	if (vrm->new_addr & ~PAGE_MASK)
		return -EINVAL;
	if (!(vrm->flags & MREMAP_MAYMOVE))
		return -EINVAL;
	if ((vrm->flags & MREMAP_DONTUNMAP) && vrm->old_len != vrm->new_len)
		return -EINVAL;
	if ((vrm->flags & MREMAP_FIXED) && vrm->addr < vrm->new_addr + vrm->new_len &&
	    vrm->new_addr < vrm->addr + vrm->old_len)
		return -EINVAL;
	if ((unsigned long)mm->map_count + 2 >= mm->max_map_count - 3)
		return -ENOMEM;
	return 0;
}

/*
 * Make a copy of vma's [addr, addr+len) at new_addr: merged into a
 * neighbour there when compatible, else a new VMA.  An anonymous VMA that
 * never faulted takes the pgoff of its new place, so it can merge there.
 */
static struct vm_area_struct *copy_vma(struct mm_struct *mm, struct vm_area_struct *vma,
				       unsigned long addr, unsigned long len,
				       unsigned long new_addr)
{
	unsigned long pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	struct vma_merge_struct vmg = { 0 };
	struct vm_area_struct *new, *prev, *next;

	if (vma_is_anonymous(vma) && !vma->anon_vma)
		pgoff = new_addr >> PAGE_SHIFT;
	next = find_vma_prev(mm, new_addr, &prev);
	vmg.mm = mm;
	vmg.prev = prev;
	vmg.next = next;
	vmg.start = new_addr;
	vmg.end = new_addr + len;
	vmg.pgoff = pgoff;
	vmg.flags = vma->vm_flags;
	vmg.file = vma->vm_file;
	vmg.anon_vma = vma->anon_vma;
	vmg.uffd_ctx = vma->vm_userfaultfd_ctx;
	new = vma_merge_new_range(&vmg);
	if (new) {
		if (!new->anon_vma && vma->anon_vma) {
			new->anon_vma = anon_vma_get(vma->anon_vma);
			new->anon_vma_chain = vma->anon_vma_chain;
		}
		return new;
	}
	if (vmg.state == VMA_MERGE_ERROR_NOMEM)
		return NULL;
	new = vm_area_dup(vma);
	if (!new)
		return NULL;
	new->vm_start = new_addr;
	new->vm_end = new_addr + len;
	new->vm_pgoff = pgoff;
	if (vma_link(mm, new)) {
		vm_area_free_unlinked(new);
		return NULL;
	}
	return new;
}

static long move_vma(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	struct vm_area_struct *vma = vrm->vma, *new_vma;
	unsigned long old_addr = vrm->addr, len = vrm->old_len;
	unsigned long new_len = vrm->new_len;
	unsigned long vm_flags = vma->vm_flags;
	unsigned long acct_start = 0, acct_end = 0;
	int err;

	if ((unsigned long)mm->map_count >= mm->max_map_count - 3)
		return -ENOMEM;
	new_vma = copy_vma(mm, vma, old_addr, new_len, vrm->new_addr);
	if (!new_vma)
		return -ENOMEM;
	/* copy_vma may have merged into or next to vma: look it up again. */
	vma = vma_lookup(mm, old_addr);
	move_page_tables(vma, old_addr, new_vma, vrm->new_addr, len);
	mm->total_vm += new_len >> PAGE_SHIFT;
	if (vm_flags & VM_LOCKED)
		mm->locked_vm += new_len >> PAGE_SHIFT;

	if (vrm->flags & MREMAP_DONTUNMAP) {
		/* The old range stays, unlocked and (its pages moved) empty. */
		vm_flags_clear(vma, VM_LOCKED_MASK);
		if (vm_flags & VM_LOCKED)
			mm->locked_vm -= len >> PAGE_SHIFT;
		if (new_vma != vma && vma->vm_start == old_addr &&
		    vma->vm_end == old_addr + len && vma->anon_vma) {
			anon_vma_put(vma->anon_vma);
			vma->anon_vma = NULL;
			vma->anon_vma_chain = 0;
		}
		return (long)vrm->new_addr;
	}
	/* The unmap must not uncharge what moved: hide VM_ACCOUNT meanwhile. */
	if (vm_flags & VM_ACCOUNT) {
		vm_flags_clear(vma, VM_ACCOUNT);
		if (vma->vm_start < old_addr)
			acct_start = vma->vm_start;
		if (vma->vm_end > old_addr + len)
			acct_end = vma->vm_end;
	}
	err = do_munmap(mm, old_addr, len);
	if (vm_flags & VM_ACCOUNT) {
		if (acct_start) {
			vma = vma_lookup(mm, acct_start);
			if (vma)
				vm_flags_set(vma, VM_ACCOUNT);
		}
		if (acct_end) {
			vma = vma_lookup(mm, acct_end - 1);
			if (vma)
				vm_flags_set(vma, VM_ACCOUNT);
		}
	}
	if (err)
		return err;
	return (long)vrm->new_addr;
}

static long shrink_vma(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	return do_munmap(mm, vrm->addr + vrm->new_len, vrm->old_len - vrm->new_len);
}

/* Room right after the VMA for it to grow by delta? */
static bool vma_expandable(struct mm_struct *mm, struct vm_area_struct *vma,
			   unsigned long delta)
{
	unsigned long end = vma->vm_end + delta;

	if (end < vma->vm_end)
		return false;
	if (find_vma_intersection(mm, vma->vm_end, end))
		return false;
	return !IS_ERR_VALUE(get_unmapped_area(mm, NULL, vma->vm_start,
					       end - vma->vm_start, 0, MAP_FIXED));
}

static long expand_vma(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	struct vm_area_struct *vma = vrm->vma;
	unsigned long delta = vrm->new_len - vrm->old_len;

	if (vrm->old_len == vma->vm_end - vrm->addr && vma_expandable(mm, vma, delta)) {
		struct vma_merge_struct vmg = { 0 };
		struct vm_area_struct *merged;

		vmg.mm = mm;
		vmg.prev = vma;
		vmg.middle = NULL;
		vmg.next = vma_next(mm, vma);
		vmg.start = vma->vm_end;
		vmg.end = vma->vm_end + delta;
		vmg.pgoff = vma->vm_pgoff + vma_pages(vma);
		vmg.flags = vma->vm_flags;
		vmg.file = vma->vm_file;
		vmg.anon_vma = vma->anon_vma;
		vmg.uffd_ctx = vma->vm_userfaultfd_ctx;
		merged = vma_merge_new_range(&vmg);
		if (!merged)
			return -ENOMEM;
		mm->total_vm += delta >> PAGE_SHIFT;
		if (vma->vm_flags & VM_LOCKED)
			mm->locked_vm += delta >> PAGE_SHIFT;
		return (long)vrm->addr;
	}
	if (!(vrm->flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	return -EAGAIN; /* the caller moves it */
}

long aspace_mremap(struct aspace_mm *amm, unsigned long addr, unsigned long old_len,
		   unsigned long new_len, int flags, unsigned long new_addr)
{
	struct mm_struct *mm = to_mm(amm);
	struct vma_remap_struct vrm = {
		.addr = addr,
		.old_len = PAGE_ALIGN(old_len),
		.new_len = PAGE_ALIGN(new_len),
		.new_addr = new_addr,
		.flags = flags,
	};
	struct vm_area_struct *vma;
	unsigned long pgoff, map_flags;
	long ret;

	ret = check_mremap_params(mm, &vrm);
	if (ret)
		return ret;
	mmap_write_lock(mm);
	vma = vrm.vma = vma_lookup(mm, addr);
	ret = -EFAULT;
	if (!vma)
		goto out;
	if (!vrm_implies_new_addr(&vrm))
		vrm.new_addr = addr;
	if (vrm.new_len > vrm.old_len || vrm_implies_new_addr(&vrm)) {
		if (vrm.old_len > vma->vm_end - addr)
			goto out;
		if (vrm.new_len != vrm.old_len) {
			pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
			ret = -EINVAL;
			if (pgoff + (vrm.new_len >> PAGE_SHIFT) < pgoff)
				goto out;
			ret = -EFAULT;
			if (vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP))
				goto out;
		}
	}
	if ((flags & MREMAP_DONTUNMAP) && (vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP))) {
		ret = -EINVAL;
		goto out;
	}

	if (vrm_implies_new_addr(&vrm)) {
		if (flags & MREMAP_FIXED) {
			ret = do_munmap(mm, vrm.new_addr, vrm.new_len);
			if (ret)
				goto out;
			vrm.vma = vma_lookup(mm, addr);
			ret = -EFAULT;
			if (!vrm.vma)
				goto out;
		}
		if (vrm.new_len < vrm.old_len) {
			ret = shrink_vma(mm, &vrm);
			if (ret)
				goto out;
			vrm.old_len = vrm.new_len;
			vrm.vma = vma_lookup(mm, addr);
		}
		map_flags = MAP_FIXED | ((vrm.vma->vm_flags & VM_MAYSHARE) ? MAP_SHARED : 0);
		if (!(flags & MREMAP_FIXED)) {
			pgoff = vrm.vma->vm_pgoff + ((addr - vrm.vma->vm_start) >> PAGE_SHIFT);
			ret = get_unmapped_area(mm, vrm.vma->vm_file, 0, vrm.new_len, pgoff,
						map_flags & ~MAP_FIXED);
			if (IS_ERR_VALUE(ret))
				goto out;
			vrm.new_addr = (unsigned long)ret;
		}
		ret = move_vma(mm, &vrm);
		goto out;
	}
	if (vrm.new_len == vrm.old_len) {
		ret = (long)addr;
	} else if (vrm.new_len < vrm.old_len) {
		ret = shrink_vma(mm, &vrm);
		if (!ret)
			ret = (long)addr;
	} else {
		ret = expand_vma(mm, &vrm);
		if (ret == -EAGAIN) {
			/* Move [addr, addr+old_len) to a new place of new_len. */
			pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
			map_flags = (vma->vm_flags & VM_MAYSHARE) ? MAP_SHARED : 0;
			ret = get_unmapped_area(mm, vma->vm_file, 0, vrm.new_len, pgoff,
						map_flags);
			if (IS_ERR_VALUE(ret))
				goto out;
			vrm.new_addr = (unsigned long)ret;
			ret = move_vma(mm, &vrm);
		}
	}
out:
	mmap_write_unlock(mm);
	return ret;
}
