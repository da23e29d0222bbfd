/*
 * pagewalk.c: walk_page_range and walk_page_vma (locking rules in
 * pagewalk.h).  PTE tables are found without locks (they are freed only
 * under mmap_lock for write, which a walker excludes or holds) and each is
 * walked under its split PTE lock.
 */
#include "pagewalk.h"
#include "mm_mem.h"

#include <errno.h>

static void walk_lock_vma(struct vm_area_struct *vma, enum page_walk_lock lock)
{
	switch (lock) {
	case PGWALK_WRLOCK:
		vma_start_write(vma);
		break;
	case PGWALK_WRLOCK_VERIFY:
		vma_assert_write_locked(vma);
		break;
	case PGWALK_RDLOCK:
		break;
	}
}

static void walk_assert_mm(struct mm_struct *mm, enum page_walk_lock lock)
{
	if (lock == PGWALK_RDLOCK)
		mmap_assert_locked(mm);
	else
		mmap_assert_write_locked(mm);
}

static int walk_pte_range(struct mm_walk *walk, unsigned long addr, unsigned long end)
{
	struct mm_mem *mem = mm_mem(walk->mm);
	const struct mm_walk_ops *ops = walk->ops;
	int err = 0;

	while (addr < end && !err) {
		unsigned long next = end, tnext;
		pte_t *table = pte_table_lookup(mem, addr, &tnext);
		spinlock_t *ptl;

		if (tnext > addr && tnext < end)
			next = tnext;
		if (!table) {
			if (ops->pte_hole)
				err = ops->pte_hole(addr, next, 3, walk);
			addr = next;
			continue;
		}
		/* The table covers up to the next 2 MiB boundary. */
		next = (addr & PMD_MASK) + PMD_SIZE;
		if (next > end || next < addr)
			next = end;
		ptl = pte_lockptr(mem, table);
		spin_lock(ptl);
		for (; addr < next && !err; addr += PAGE_SIZE)
			if (ops->pte_entry)
				err = ops->pte_entry(table + pte_index(addr), addr,
						     addr + PAGE_SIZE, walk);
		spin_unlock(ptl);
	}
	return err;
}

int walk_page_range(struct mm_struct *mm, unsigned long start, unsigned long end,
		    const struct mm_walk_ops *ops, void *private)
{
	struct mm_walk walk = { .ops = ops, .mm = mm, .private = private };
	struct vm_area_struct *vma;
	int err = 0;

	if (start >= end)
		return -EINVAL;
	walk_assert_mm(mm, ops->walk_lock);
	vma = find_vma(mm, start);
	while (start < end && !err) {
		unsigned long next;

		if (!vma || vma->vm_start >= end) {
			/* No VMA in the rest of the range. */
			walk.vma = NULL;
			if (ops->pte_hole)
				err = ops->pte_hole(start, end, -1, &walk);
			break;
		}
		if (start < vma->vm_start) {
			walk.vma = NULL;
			if (ops->pte_hole)
				err = ops->pte_hole(start, vma->vm_start, -1, &walk);
			start = vma->vm_start;
			continue;
		}
		next = vma->vm_end < end ? vma->vm_end : end;
		walk.vma = vma;
		walk_lock_vma(vma, ops->walk_lock);
		if (ops->test_walk) {
			err = ops->test_walk(start, next, &walk);
			if (err > 0) {
				err = 0;
				goto next_vma;
			}
			if (err < 0)
				break;
		}
		err = walk_pte_range(&walk, start, next);
next_vma:
		start = next;
		vma = vma_next(mm, vma);
	}
	return err;
}

int walk_page_vma(struct vm_area_struct *vma, const struct mm_walk_ops *ops,
		  void *private)
{
	return walk_page_range(vma->vm_mm, vma->vm_start, vma->vm_end, ops, private);
}
