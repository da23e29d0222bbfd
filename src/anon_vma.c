/*
 * anon_vma.c: anon_vma lifetime, first-fault assignment and merge
 * compatibility (see anon_vma.h for what protects vma->anon_vma).
 */
#include "anon_vma.h"
#include "alloc.h"
#include "vma.h"

#include <errno.h>

struct anon_vma *anon_vma_get(struct anon_vma *av)
{
	if (av)
		atomic_fetch_add(&av->refcount, 1);
	return av;
}

void anon_vma_put(struct anon_vma *av)
{
	while (av && atomic_fetch_sub(&av->refcount, 1) == 1) {
		struct anon_vma *parent = av->parent;

		kfree(av);
		av = parent;
	}
}

static struct anon_vma *anon_vma_alloc(struct anon_vma *parent)
{
	struct anon_vma *av = kzalloc(sizeof(*av));

	if (!av)
		return NULL;
	atomic_init(&av->refcount, 1);
	av->parent = anon_vma_get(parent);
	return av;
}

/*
 * Two VMAs' anonymous memory may become one VMA when either has none (and
 * the one to be absorbed is not a fork child's, whose pages may be shared
 * with its parent's chain), or when it is the same anon_vma.
 */
bool is_mergeable_anon_vma(const struct anon_vma *a, const struct anon_vma *b,
			   const struct vm_area_struct *vma)
{
	if ((!a || !b) && (!vma || vma->anon_vma_chain <= 1))
		return true;
	return a == b;
}

/*
 * The kernel's anon_vma_compatible: a neighbour adjacent to vma whose
 * anon_vma vma could share, because an mprotect could later make the two
 * one VMA (same file, policy and flags except the access bits, contiguous
 * offsets).
 */
static bool anon_vma_compatible(const struct vm_area_struct *a,
				const struct vm_area_struct *b)
{
	return a->vm_end == b->vm_start && a->vm_file == b->vm_file &&
	       !((a->vm_flags ^ b->vm_flags) & ~(VM_ACCESS_FLAGS | VM_SOFTDIRTY)) &&
	       b->vm_pgoff == a->vm_pgoff + vma_pages(a);
}

static struct anon_vma *reusable(const struct vm_area_struct *a,
				 const struct vm_area_struct *b,
				 const struct vm_area_struct *old)
{
	if (!anon_vma_compatible(a, b))
		return NULL;
	/* Only an anon_vma no fork has chained yet (list_is_singular). */
	if (old->anon_vma && old->anon_vma_chain == 1)
		return old->anon_vma;
	return NULL;
}

/*
 * Give vma an anon_vma before its first anonymous page is mapped.  The
 * caller holds the VMA read lock (or mmap_lock): the assignment happens
 * under mm->anon_vma_lock so that two faulting threads agree.
 */
int anon_vma_prepare(struct vm_area_struct *vma)
{
	struct mm_struct *mm = vma->vm_mm;
	struct vm_area_struct *prev, *next;
	struct anon_vma *av = NULL;

	if (likely(__atomic_load_n(&vma->anon_vma, __ATOMIC_ACQUIRE)))
		return 0;
	vma_assert_locked(vma);
	rcu_read_lock();
	next = vma_next(mm, vma);
	prev = vma_prev(mm, vma);
	if (next)
		av = reusable(vma, next, next);
	if (!av && prev)
		av = reusable(prev, vma, prev);
	rcu_read_unlock();
	if (!av) {
		av = anon_vma_alloc(NULL);
		if (!av)
			return -ENOMEM;
	} else {
		anon_vma_get(av);
	}
	pthread_mutex_lock(&mm->anon_vma_lock);
	if (!vma->anon_vma) {
		__atomic_store_n(&vma->anon_vma, av, __ATOMIC_RELEASE);
		vma->anon_vma_chain = 1;
		av = NULL;
	}
	pthread_mutex_unlock(&mm->anon_vma_lock);
	if (av)
		anon_vma_put(av);
	return 0;
}

/* fork: the child's VMA gets its own anon_vma chained to the parent's. */
int anon_vma_fork(struct vm_area_struct *dst, struct vm_area_struct *src)
{
	dst->anon_vma = NULL;
	dst->anon_vma_chain = 0;
	if (!src->anon_vma)
		return 0;
	dst->anon_vma = anon_vma_alloc(src->anon_vma);
	if (!dst->anon_vma)
		return -ENOMEM;
	dst->anon_vma_chain = src->anon_vma_chain + 1;
	return 0;
}

/*
 * A merge absorbs src into dst: dst must take src's anon_vma if it has
 * none.  The caller has write-locked dst (seed 000: dup_anon_vma asserts,
 * it does not lock).
 */
int dup_anon_vma(struct vm_area_struct *dst, struct vm_area_struct *src)
{
	if (src->anon_vma && !dst->anon_vma) {
		vma_assert_write_locked(dst);
		dst->anon_vma = anon_vma_get(src->anon_vma);
		dst->anon_vma_chain = src->anon_vma_chain;
	}
	return 0;
}
