/*
 * mm.h: the address space object behind the public struct aspace_mm, and
 * the system-call entry points the syscall files share.
 */
#ifndef ASPACE_MM_H
#define ASPACE_MM_H

#include "vma.h"

#include <aspace/aspace.h>

#define PMD_SIZE (1UL << 21)
#define DEFAULT_TASK_SIZE ((1UL << 47) - PAGE_SIZE)
#define DEFAULT_MMAP_BASE 0x7ffff7fff000UL
#define DEFAULT_START_BRK 0x555555a00000UL
#define DEFAULT_MMAP_MIN_ADDR 65536UL
#define DEFAULT_MAX_MAP_COUNT 65530UL

static inline struct mm_struct *to_mm(struct aspace_mm *a)
{
	return (struct mm_struct *)a;
}

static inline struct aspace_mm *to_aspace(struct mm_struct *mm)
{
	return (struct aspace_mm *)mm;
}

/* mm.c */
struct mm_struct *mm_alloc(const struct aspace_config *cfg, struct mm_struct *parent);
void mm_free(struct mm_struct *mm);

/* mmap.c: callers hold mmap_lock for write. */
long get_unmapped_area(struct mm_struct *mm, struct file *file, unsigned long addr,
		       unsigned long len, unsigned long pgoff, unsigned long flags);
long mmap_region(struct mm_struct *mm, struct file *file, unsigned long addr,
		 unsigned long len, unsigned long vm_flags, unsigned long pgoff);
int do_munmap(struct mm_struct *mm, unsigned long start, unsigned long len);
int do_vmi_align_munmap(struct mm_struct *mm, struct vm_area_struct *vma,
			unsigned long start, unsigned long end);

/* mprotect.c */
unsigned long vm_flags_for_write_access(struct vm_area_struct *vma, unsigned long newflags);

#endif
