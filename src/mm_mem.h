/*
 * mm_mem.h: the memory layer of an mm (frames, page tables, faults) and the
 * calls the VMA layer makes into it.
 *
 * struct mm_mem hangs off mm->mem for the mm's whole life:
 *   pool, pgd            set by mm_mem_init, constant until mm_mem_destroy
 *   page_table_lock      populating/clearing PGD, PUD and PMD entries
 *   nr_ptes, nr_pmds,    atomics (table counts, for VmPTE)
 *   nr_puds
 * Which lock each entry point needs is written above it.
 */
#ifndef ASPACE_MM_MEM_H
#define ASPACE_MM_MEM_H

#include "page_alloc.h"
#include "pgtable.h"
#include "spinlock.h"

#include <stdatomic.h>
#include <stdbool.h>

struct mm_struct;
struct vm_area_struct;
struct aspace_config;

struct mm_mem {
	struct page_pool *pool;
	pgd_t *pgd;
	struct page *pgd_page;
	spinlock_t page_table_lock;
	atomic_long nr_ptes, nr_pmds, nr_puds;
};

static inline struct mm_mem *mm_mem(const struct mm_struct *mm);

/* Pool + PGD.  cfg->pool_bytes 0: the library-wide default pool; parent
 * (fork): share the parent's pool.  0 or -ENOMEM. */
int mm_mem_init(struct mm_struct *mm, const struct aspace_config *cfg,
		struct mm_struct *parent);
/* After every VMA is gone (or to sweep what remains): free all tables and
 * frames still mapped, drop the pool reference. */
void mm_mem_destroy(struct mm_struct *mm);

/* Zap the PTEs of [start, end) inside vma.  mmap_lock held for write, or
 * for read (MADV_DONTNEED).  Frames are freed after a grace period. */
void unmap_page_range(struct mm_struct *mm, struct vm_area_struct *vma,
		      unsigned long start, unsigned long end);
/* MADV_DONTNEED: like unmap_page_range, but PTE markers (guard, uffd-wp)
 * stay.  mmap_lock held (read is enough). */
void zap_page_range_keep_markers(struct mm_struct *mm, unsigned long start,
				 unsigned long end);
/* MADV_GUARD_INSTALL / _REMOVE: put PTE_MARKER_GUARD on every page of the
 * range (zapping what is mapped there first) / take it off.  mmap_lock
 * held for read.  Install: 0 or -ENOMEM (no frame for a table). */
int guard_install_range(struct mm_struct *mm, unsigned long start, unsigned long end);
void guard_remove_range(struct mm_struct *mm, unsigned long start, unsigned long end);
/* Free the tables [start, end) emptied, keeping those that reach below floor
 * or at/above ceiling (0: top).  mmap_lock held for write. */
void free_pgtables(struct mm_struct *mm, unsigned long floor, unsigned long start,
		   unsigned long end, unsigned long ceiling);
/* mprotect: rewrite the PTEs of [start, end) for newflags; the VMA is
 * write-locked.  Never makes a COW page writable; when write permission
 * is removed from a mapped page, returns only after every lock-free access
 * that could still use it has finished. */
void change_protection(struct vm_area_struct *vma, unsigned long start,
		       unsigned long end, unsigned long newflags);
/* mremap: move the PTEs of [old_addr, old_addr+len) to new_addr; both VMAs
 * write-locked, mmap_lock held for write.  Returns bytes moved (less than
 * len only when a table could not be allocated). */
unsigned long move_page_tables(struct vm_area_struct *vma, unsigned long old_addr,
			       struct vm_area_struct *new_vma, unsigned long new_addr,
			       unsigned long len);
/* MAP_POPULATE / MAP_LOCKED / mlock: fault in [start, start+len).  Takes
 * mmap_read_lock itself.  0, -ENOMEM (pool empty) or -EFAULT. */
int mm_populate_range(struct mm_struct *mm, unsigned long start, unsigned long len,
		      bool write);

/* Copy the page tables of one VMA for fork (memory.c / fork.c).  Both mms'
 * mmap_lock held for write, src VMA write-locked.  0 or -ENOMEM. */
int copy_page_range(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma,
		    bool *wrprotected);

#include "mm_types.h"
static inline struct mm_mem *mm_mem(const struct mm_struct *mm)
{
	return (struct mm_mem *)mm->mem;
}

#endif
