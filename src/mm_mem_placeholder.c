/*
 * mm_mem_placeholder.c: the memory layer's entry points while the memory
 * layer (issue 3) is being written.  Until then no VMA ever has a page or a
 * page table behind it, so each of these has nothing to do; the memory
 * layer replaces this file.
 */
#include "mm_mem.h"

int mm_mem_init(struct mm_struct *mm, const struct aspace_config *cfg,
		struct mm_struct *parent)
{
	return 0;
}

void mm_mem_destroy(struct mm_struct *mm)
{
}

void unmap_page_range(struct mm_struct *mm, struct vm_area_struct *vma,
		      unsigned long start, unsigned long end)
{
}

void free_pgtables(struct mm_struct *mm, unsigned long floor, unsigned long start,
		   unsigned long end, unsigned long ceiling)
{
}

void change_protection(struct vm_area_struct *vma, unsigned long start,
		       unsigned long end, unsigned long newflags)
{
}

unsigned long move_page_tables(struct vm_area_struct *vma, unsigned long old_addr,
			       struct vm_area_struct *new_vma,
			       unsigned long new_addr, unsigned long len)
{
	return len;
}

int mm_populate_range(struct mm_struct *mm, unsigned long start,
		      unsigned long len, bool write)
{
	return 0;
}
