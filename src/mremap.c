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
 * then the map_count headroom (ENOMEM), then those that need the VMA
 * (check_prep_vma: no VMA at addr: EFAULT; growing or moving past the VMA's
 * end: EFAULT; VM_DONTEXPAND/VM_PFNMAP: EFAULT; old_len 0 on a private
 * mapping: EINVAL).
 *
 * MAYMOVE|FIXED with old_len == new_len is a pure move and, as in Linux 6.17
 * and later, may span several VMAs (remap_move): each is moved keeping the
 * gaps between them; a gap at the start is EFAULT.
 */
#include "userfaultfd.h" /* uffd issue */
#include "mm.h"
#include "anon_vma.h"
#include "mm_mem.h"

#include <errno.h>
#include <sys/mman.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

struct vma_remap_struct {
	unsigned long addr, old_len, new_len, new_addr, delta;
	int flags;
	bool populate_expand; /* a locked VMA grew: fault the new part in */
	enum { MREMAP_NO_RESIZE, MREMAP_SHRINK, MREMAP_EXPAND } type;
	struct vm_area_struct *vma;
	struct uffd_event_list uf; /* uffd issue: REMAP, then UNMAP events */
};

static bool vrm_implies_new_addr(const struct vma_remap_struct *vrm)
{
	return vrm->flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
}

static long check_mremap_params(struct mm_struct *mm, const struct vma_remap_struct *vrm)
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
	if (vrm->addr < vrm->new_addr + vrm->new_len &&
	    vrm->new_addr < vrm->addr + vrm->old_len)
		return -EINVAL;
	return 0;
}

/* Worst case, a move adds two VMAs; the unmaps before it two more. */
static bool map_count_headroom(struct mm_struct *mm, int extra)
{
	return (unsigned long)mm->map_count + extra + 2 <= mm->max_map_count;
}

static long check_prep_vma(struct vma_remap_struct *vrm)
{
	struct vm_area_struct *vma = vrm->vma;
	unsigned long old_len = vrm->old_len, pgoff;

	if (!vma)
		return -EFAULT;
	vrm->delta = vrm->new_len > vrm->old_len ? vrm->new_len - vrm->old_len
						 : vrm->old_len - vrm->new_len;
	vrm->type = vrm->new_len == vrm->old_len ? MREMAP_NO_RESIZE
		    : vrm->new_len < vrm->old_len ? MREMAP_SHRINK : MREMAP_EXPAND;
	if (!vrm_implies_new_addr(vrm))
		vrm->new_addr = vrm->addr;
	if (vrm->type != MREMAP_EXPAND && !vrm_implies_new_addr(vrm))
		return 0;
	/* old_len 0 "duplicates" a shared mapping; private ones refuse. */
	if (!old_len && !(vma->vm_flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;
	if ((vrm->flags & MREMAP_DONTUNMAP) && (vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP)))
		return -EINVAL;
	if (vrm->type == MREMAP_SHRINK)
		old_len = vrm->new_len; /* only what stays must fit the VMA */
	if (old_len > vma->vm_end - vrm->addr)
		return -EFAULT;
	if (vrm->new_len == old_len)
		return 0;
	if (vma->vm_flags & VM_LOCKED)
		vrm->populate_expand = true;
	pgoff = vma->vm_pgoff + ((vrm->addr - vma->vm_start) >> PAGE_SHIFT);
	if (pgoff + (vrm->new_len >> PAGE_SHIFT) < pgoff)
		return -EINVAL;
	if (vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP))
		return -EFAULT;
	return 0;
}

/*
 * Make vma's [addr, addr+len) appear at new_addr: merged into a neighbour
 * there when compatible, else a new VMA.  An anonymous VMA that never
 * faulted takes the pgoff of its new place, so it can merge there (even
 * with itself, when the destination touches the source).
 */
static struct vm_area_struct *copy_vma(struct mm_struct *mm, struct vm_area_struct *vma,
				       unsigned long addr, unsigned long len,
				       unsigned long new_addr)
{
	unsigned long pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	struct vma_merge_struct vmg = { 0 };
	struct vm_area_struct *new;

	if (vma_is_anonymous(vma) && !vma->anon_vma)
		pgoff = new_addr >> PAGE_SHIFT;
	vmg.mm = mm;
	vmg.next = find_vma_prev(mm, new_addr, &vmg.prev);
	vmg.middle = vma;
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

/* The source range is gone: unmap it without uncharging what moved. */
static long unmap_source(struct mm_struct *mm, struct vm_area_struct *vma,
			 unsigned long addr, unsigned long len)
{
	bool accountable = vma->vm_flags & VM_ACCOUNT;
	unsigned long vm_start = vma->vm_start, vm_end = vma->vm_end;
	struct vm_area_struct *rest;
	long err;

	if (accountable)
		vm_flags_clear(vma, VM_ACCOUNT);
	err = do_munmap(mm, addr, len);
	if (err || !accountable)
		return err;
	if (vm_start < addr && (rest = vma_lookup(mm, addr - 1)))
		vm_flags_set(rest, VM_ACCOUNT);
	if (vm_end > addr + len && (rest = vma_lookup(mm, addr + len)))
		vm_flags_set(rest, VM_ACCOUNT);
	return 0;
}

static long move_vma(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	struct vm_area_struct *vma = vrm->vma, *new_vma;
	unsigned long old_addr = vrm->addr, old_len = vrm->old_len;
	unsigned long vm_flags = vma->vm_flags, vm_start = vma->vm_start;
	unsigned long vm_end = vma->vm_end, moved;

	if (!map_count_headroom(mm, 0))
		return -ENOMEM;
	vma_start_write(vma);
	new_vma = copy_vma(mm, vma, old_addr, vrm->new_len, vrm->new_addr);
	if (!new_vma)
		return -ENOMEM;
	/* The copy may have merged into the source itself. */
	vma = vma_lookup(mm, old_addr);
	moved = move_page_tables(vma, old_addr, new_vma, vrm->new_addr, old_len);
	mm->total_vm += vrm->new_len >> PAGE_SHIFT;
	if (vm_flags & VM_LOCKED)
		mm->locked_vm += vrm->new_len >> PAGE_SHIFT;
	if (moved < old_len) {
		/*
		 * Out of frames for page tables part way: move what moved
		 * back (the old tables are still there) and undo the new
		 * mapping instead of the old one, as the kernel does.
		 */
		move_page_tables(new_vma, vrm->new_addr, vma, old_addr, moved);
		do_munmap(mm, vrm->new_addr, vrm->new_len);
		return -ENOMEM;
	}
	mremap_userfaultfd_prep(new_vma, old_addr, vrm->new_addr, old_len, &vrm->uf); /* uffd issue */

	if (vrm->flags & MREMAP_DONTUNMAP) {
		/* The old range stays, unlocked and (its pages gone) empty. */
		vm_flags_clear(vma, VM_LOCKED_MASK);
		if (new_vma != vma && vm_start == old_addr && vm_end == old_addr + old_len &&
		    vma->anon_vma) {
			anon_vma_put(vma->anon_vma);
			vma->anon_vma = NULL;
			vma->anon_vma_chain = 0;
		}
		return (long)vrm->new_addr;
	}
	userfaultfd_unmap_prep(mm, old_addr, old_addr + old_len, &vrm->uf); /* uffd issue */
	unmap_source(mm, vma, old_addr, old_len);
	return (long)vrm->new_addr;
}

static long shrink_vma(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	long err;

	userfaultfd_unmap_prep(mm, vrm->addr + vrm->new_len, vrm->addr + vrm->old_len,
			       &vrm->uf); /* uffd issue */
	err = do_munmap(mm, vrm->addr + vrm->new_len, vrm->delta);

	vrm->vma = NULL;
	if (err)
		return err;
	vrm->vma = vma_lookup(mm, vrm->addr);
	return vrm->vma ? 0 : -EFAULT;
}

static long vrm_set_new_addr(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	struct vm_area_struct *vma = vrm->vma;
	unsigned long pgoff = vma->vm_pgoff + ((vrm->addr - vma->vm_start) >> PAGE_SHIFT);
	unsigned long map_flags = 0;
	long res;

	if (vrm->flags & MREMAP_FIXED)
		map_flags |= MAP_FIXED;
	if (vma->vm_flags & VM_MAYSHARE)
		map_flags |= MAP_SHARED;
	res = get_unmapped_area(mm, vma->vm_file,
				vrm_implies_new_addr(vrm) ? vrm->new_addr : 0,
				vrm->new_len, pgoff, map_flags);
	if (IS_ERR_VALUE(res))
		return res;
	vrm->new_addr = (unsigned long)res;
	return 0;
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
	long err;

	if (vma->vm_end - vrm->addr == vrm->old_len && vma_expandable(mm, vma, vrm->delta)) {
		struct vma_merge_struct vmg = { 0 };

		/* The extension merges into vma, and into next if it touches. */
		vmg.mm = mm;
		vmg.prev = vma;
		vmg.next = vma_next(mm, vma);
		vmg.start = vma->vm_end;
		vmg.end = vma->vm_end + vrm->delta;
		vmg.pgoff = vma->vm_pgoff + vma_pages(vma);
		vmg.flags = vma->vm_flags;
		vmg.file = vma->vm_file;
		vmg.anon_vma = vma->anon_vma;
		vmg.uffd_ctx = vma->vm_userfaultfd_ctx;
		if (!vma_merge_new_range(&vmg))
			return -ENOMEM;
		mm->total_vm += vrm->delta >> PAGE_SHIFT;
		if (vmg.flags & VM_LOCKED)
			mm->locked_vm += vrm->delta >> PAGE_SHIFT;
		return (long)vrm->addr;
	}
	if (!(vrm->flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	err = vrm_set_new_addr(mm, vrm);
	if (err)
		return err;
	return move_vma(mm, vrm);
}

static long mremap_to(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	long err;

	if (vrm->flags & MREMAP_FIXED) {
		userfaultfd_unmap_prep(mm, vrm->new_addr, vrm->new_addr + vrm->new_len,
				       &vrm->uf); /* uffd issue */
		err = do_munmap(mm, vrm->new_addr, vrm->new_len);
		if (err)
			return err;
		vrm->vma = vma_lookup(mm, vrm->addr);
		if (!vrm->vma)
			return -EFAULT;
	}
	if (vrm->type == MREMAP_SHRINK) {
		err = shrink_vma(mm, vrm);
		if (err)
			return err;
		vrm->old_len = vrm->new_len;
	}
	err = vrm_set_new_addr(mm, vrm);
	if (err)
		return err;
	return move_vma(mm, vrm);
}

static long mremap_at(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	long err;

	switch (vrm->type) {
	case MREMAP_NO_RESIZE:
		return (long)vrm->addr;
	case MREMAP_SHRINK:
		err = shrink_vma(mm, vrm);
		return err == -EFAULT ? (long)vrm->addr : err ? err : (long)vrm->addr;
	case MREMAP_EXPAND:
		return expand_vma(mm, vrm);
	}
	return -EINVAL;
}

/* MAYMOVE|FIXED, same size: move every VMA of the range, keeping gaps. */
static long remap_move(struct mm_struct *mm, struct vma_remap_struct *vrm)
{
	unsigned long start = vrm->addr, end = vrm->addr + vrm->old_len;
	unsigned long target = vrm->new_addr, last_end = 0, pos = start;
	bool seen = false;
	long res = -EFAULT;
	struct vm_area_struct *vma;

	while (pos < end && (vma = find_vma(mm, pos)) && vma->vm_start < end) {
		unsigned long addr = vma->vm_start > start ? vma->vm_start : start;
		unsigned long len = (vma->vm_end < end ? vma->vm_end : end) - addr;
		unsigned long offset;
		long r;

		if (!seen && start < vma->vm_start)
			return -EFAULT;
		offset = seen ? vma->vm_start - last_end : 0;
		last_end = vma->vm_end;
		vrm->vma = vma;
		vrm->addr = addr;
		vrm->new_addr = target + offset;
		vrm->old_len = vrm->new_len = len;
		if (vma->vm_userfaultfd_ctx && (seen || vma->vm_end < end))
			return -EFAULT;
		r = check_prep_vma(vrm);
		if (!r)
			r = mremap_to(mm, vrm);
		if (IS_ERR_VALUE(r))
			return r;
		if (!seen)
			res = r;
		seen = true;
		target = (unsigned long)r + len;
		/* Go on after the VMA as it was: the move may have merged it. */
		pos = last_end;
	}
	return res;
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
	long ret;

	ret = check_mremap_params(mm, &vrm);
	if (ret)
		return ret;
	mmap_write_lock(mm);
	if (!map_count_headroom(mm, 2)) {
		ret = -ENOMEM;
	} else if ((flags & MREMAP_FIXED) && vrm.old_len == vrm.new_len) {
		ret = remap_move(mm, &vrm);
	} else {
		vrm.vma = vma_lookup(mm, addr);
		ret = check_prep_vma(&vrm);
		if (!ret)
			ret = vrm_implies_new_addr(&vrm) ? mremap_to(mm, &vrm)
							 : mremap_at(mm, &vrm);
	}
	mmap_write_unlock(mm);
	userfaultfd_events_complete(&vrm.uf); /* uffd issue */
	if (!IS_ERR_VALUE(ret) && vrm.populate_expand)
		mm_populate_range(mm, (unsigned long)ret + PAGE_ALIGN(old_len),
				  vrm.new_len - PAGE_ALIGN(old_len), false);
	return ret;
}
