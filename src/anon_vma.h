/*
 * anon_vma.h: the identity of a VMA's anonymous memory.
 *
 * In this engine an anon_vma is what decides whether two anonymous VMAs may
 * merge (the kernel's is_mergeable_anon_vma and anon_vma_compatible): VMAs
 * split from one another share it; a VMA gets one at its first anonymous
 * fault, reusing a compatible neighbour's when it can; a forked child's VMA
 * gets a new one chained to its parent's (`chain` > 1).  Refcount: atomic.
 * vma->anon_vma is set once under the VMA lock + mm's anon_vma_lock (fault
 * side) or under the mmap write lock with the VMA write-locked (merge side).
 */
#ifndef ASPACE_ANON_VMA_H
#define ASPACE_ANON_VMA_H

#include "mm_types.h"

struct anon_vma {
	atomic_long refcount;
	struct anon_vma *parent; /* for fork chains */
};

struct anon_vma *anon_vma_get(struct anon_vma *av);
void anon_vma_put(struct anon_vma *av);
int anon_vma_prepare(struct vm_area_struct *vma);
int anon_vma_fork(struct vm_area_struct *dst, struct vm_area_struct *src);
int dup_anon_vma(struct vm_area_struct *dst, struct vm_area_struct *src);
bool is_mergeable_anon_vma(const struct anon_vma *a, const struct anon_vma *b,
			   const struct vm_area_struct *vma);

#endif
