/*
 * mm_mem.h: what the VMA layer asks of the memory layer (page frames and
 * page tables).  The VMA layer calls these with mmap_lock held as stated.
 */
#ifndef ASPACE_MM_MEM_H
#define ASPACE_MM_MEM_H

#include "mm_types.h"

struct aspace_config;

/* Pool and page tables for a new mm (parent != NULL: fork, share the pool). */
int mm_mem_init(struct mm_struct *mm, const struct aspace_config *cfg,
		struct mm_struct *parent);
/* After every VMA is gone: free the tables, drop the pool. */
void mm_mem_destroy(struct mm_struct *mm);
/* Zap the PTEs of [start, end) inside vma (mmap_lock held). */
void unmap_page_range(struct mm_struct *mm, struct vm_area_struct *vma,
		      unsigned long start, unsigned long end);
/* Free page tables that only [start, end) used, keeping those shared with
 * floor..start and end..ceiling (mmap write lock). */
void free_pgtables(struct mm_struct *mm, unsigned long floor, unsigned long start,
		   unsigned long end, unsigned long ceiling);
/* mprotect: bring the PTEs of [start, end) in line with newflags. */
void change_protection(struct vm_area_struct *vma, unsigned long start,
		       unsigned long end, unsigned long newflags);
/* mremap: move the PTEs; returns the bytes moved. */
unsigned long move_page_tables(struct vm_area_struct *vma, unsigned long old_addr,
			       struct vm_area_struct *new_vma,
			       unsigned long new_addr, unsigned long len);
/* MAP_POPULATE, MAP_LOCKED, mlock: fault the range in (takes mmap_read_lock). */
int mm_populate_range(struct mm_struct *mm, unsigned long start,
		      unsigned long len, bool write);

#endif
