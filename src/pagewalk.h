/*
 * pagewalk.h: walking the page tables of a range of VMAs (the kernel's
 * walk_page_range).  Every walker declares its walk_lock (seed 000):
 *   PGWALK_RDLOCK        mmap_lock held (read or write): asserted
 *   PGWALK_WRLOCK        mmap_lock held for write; each VMA walked is
 *                        write-locked by the walk (vma_start_write)
 *   PGWALK_WRLOCK_VERIFY mmap_lock held for write and each VMA already
 *                        write-locked by the caller: asserted
 * Each PTE table is walked with its split lock held; pte_entry sees the
 * entry under that lock.
 */
#ifndef ASPACE_PAGEWALK_H
#define ASPACE_PAGEWALK_H

#include "pgtable.h"
#include "vma.h"

enum page_walk_lock {
	PGWALK_RDLOCK,
	PGWALK_WRLOCK,
	PGWALK_WRLOCK_VERIFY,
};

struct mm_walk;

struct mm_walk_ops {
	/* One PTE of a VMA (its table's lock held). */
	int (*pte_entry)(pte_t *pte, unsigned long addr, unsigned long next,
			 struct mm_walk *walk);
	/* [addr, next) has no PTE table (depth 3), or no VMA (depth -1). */
	int (*pte_hole)(unsigned long addr, unsigned long next, int depth,
			struct mm_walk *walk);
	/* 0: walk this VMA; 1: skip it; < 0: stop with that error. */
	int (*test_walk)(unsigned long addr, unsigned long next, struct mm_walk *walk);
	enum page_walk_lock walk_lock;
};

struct mm_walk {
	const struct mm_walk_ops *ops;
	struct mm_struct *mm;
	struct vm_area_struct *vma;
	void *private;
};

/* Walk [start, end); returns the first non-zero callback result. */
int walk_page_range(struct mm_struct *mm, unsigned long start, unsigned long end,
		    const struct mm_walk_ops *ops, void *private);
int walk_page_vma(struct vm_area_struct *vma, const struct mm_walk_ops *ops,
		  void *private);

#endif
