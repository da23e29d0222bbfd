/*
 * vma.c: VMA objects and the VMA-layer operations on them: allocation,
 * lookup, linking into the tree, split, and merge (new range and existing
 * range) with Linux's compatibility rules.
 *
 * Locking (seed 000 "make vma locking more obvious"): everything here runs
 * with mmap_lock held for write.  Nothing here locks behind the caller's
 * back except the operations that change VMAs, and those write-lock exactly
 * the VMAs they change, before changing them:
 *   split:        the VMA split and the new VMA (new one before its store)
 *   merge new:    prev and/or next that grow
 *   merge existing: prev/middle/next that grow, shrink or go away
 * The tree store of a new VMA asserts it is already write-locked.  Retired
 * VMAs are detached (write-locked), removed from the tree and freed after an
 * RCU grace period (lock_vma_under_rcu may still be looking at them).
 */
#include "vma.h"
#include "alloc.h"
#include "anon_vma.h"
#include "mm_mem.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* ---- objects ---- */

#define VMA_CACHE_MAX 512

/*
 * VMAs whose grace period is over are kept for reuse by the mm's writer
 * (linked through their retire link), so the mmap/munmap hot path does not
 * allocate.  Only the mmap_lock writer touches the cache.
 */
static struct vm_area_struct *vma_cache_pop(struct mm_struct *mm)
{
	struct vm_area_struct *vma = mm->vma_cache;

	if (!vma || !mmap_is_write_locked_by_me(mm))
		return NULL;
	mm->vma_cache = vma->retire.obj;
	mm->nr_vma_cache--;
	return vma;
}

static void vma_cache_push(struct mm_struct *mm, struct vm_area_struct *vma)
{
	if (mm->nr_vma_cache >= VMA_CACHE_MAX) {
		kfree(vma);
		return;
	}
	vma->retire.obj = mm->vma_cache;
	mm->vma_cache = vma;
	mm->nr_vma_cache++;
}

/* Take back what RCU is done with (mmap write lock). */
void vma_reap_retired(struct mm_struct *mm)
{
	struct rcu_retire *r = retire_list_reap(&mm->retired), *next;

	for (; r; r = next) {
		next = r->next;
		if (r->kind == RETIRE_VT_NODE)
			vt_recycle_node(&mm->mm_mt, r->obj);
		else if (r->kind == RETIRE_VMA)
			vma_cache_push(mm, r->obj);
		else
			kfree(r->obj);
	}
}

/* Teardown: no thread uses the mm any more. */
void vma_cache_drain(struct mm_struct *mm)
{
	while (mm->vma_cache) {
		struct vm_area_struct *vma = mm->vma_cache;

		mm->vma_cache = vma->retire.obj;
		kfree(vma);
	}
	mm->nr_vma_cache = 0;
}

struct vm_area_struct *vm_area_alloc(struct mm_struct *mm)
{
	struct vm_area_struct *vma = vma_cache_pop(mm);

	if (!vma)
		vma = kmalloc_cacheline(sizeof(*vma));
	if (vma)
		memset(vma, 0, sizeof(*vma));

	if (!vma)
		return NULL;
	vma->vm_mm = mm;
	vma->detached = true;
	vma_lock_init(vma);
	return vma;
}

/* A copy that shares the original's backing (split, mremap, fork). */
struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig)
{
	struct vm_area_struct *vma = vma_cache_pop(orig->vm_mm);

	if (!vma)
		vma = kmalloc_cacheline(sizeof(*vma));
	if (!vma)
		return NULL;
	/* Not vm_lock: readers may be trying it on the original right now. */
	memcpy(vma, orig, offsetof(struct vm_area_struct, vm_lock));
	vma->detached = true;
	vma_lock_init(vma);
	anon_vma_get(vma->anon_vma);
	vma_file_get(vma);
	return vma;
}

/* Free a VMA that never became visible to readers. */
void vm_area_free_unlinked(struct vm_area_struct *vma)
{
	anon_vma_put(vma->anon_vma);
	vma_file_put(vma);
	kfree(vma);
}

/* Retire a VMA readers may still see: free it after a grace period. */
static void vm_area_retire(struct mm_struct *mm, struct vm_area_struct *vma)
{
	anon_vma_put(vma->anon_vma);
	vma->anon_vma = NULL;
	vma_file_put(vma);
	vma->vm_file = NULL;
	retire_rcu(&mm->retired, &vma->retire, vma, RETIRE_VMA);
}

/* ---- lookups: RCU read lock or mmap_lock held ---- */

struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr)
{
	struct vt_entry e;

	return vt_find(&mm->mm_mt, addr, &e) ? e.ptr : NULL;
}

struct vm_area_struct *vma_lookup(struct mm_struct *mm, unsigned long addr)
{
	struct vt_entry e;

	return vt_find(&mm->mm_mt, addr, &e) && e.lo <= addr ? e.ptr : NULL;
}

struct vm_area_struct *find_vma_prev(struct mm_struct *mm, unsigned long addr,
				     struct vm_area_struct **pprev)
{
	struct vt_entry e, p;
	bool found = vt_find(&mm->mm_mt, addr, &e);

	/* The entry before the one found: the last one ending at or below
	 * its start (or below addr when nothing was found). */
	*pprev = vt_find_prev(&mm->mm_mt, found ? e.lo : addr, &p) ? p.ptr : NULL;
	return found ? e.ptr : NULL;
}

struct vm_area_struct *vma_next(struct mm_struct *mm, struct vm_area_struct *vma)
{
	return find_vma(mm, vma->vm_end);
}

struct vm_area_struct *vma_prev(struct mm_struct *mm, struct vm_area_struct *vma)
{
	struct vt_entry p;

	return vt_find_prev(&mm->mm_mt, vma->vm_start, &p) ? p.ptr : NULL;
}

/* First VMA intersecting [start, end), or NULL. */
struct vm_area_struct *find_vma_intersection(struct mm_struct *mm,
					     unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma = find_vma(mm, start);

	return vma && vma->vm_start < end ? vma : NULL;
}

/* ---- tree updates: mmap write lock, VMAs write-locked ---- */

int vma_prealloc(struct mm_struct *mm, int ops)
{
	return vt_prealloc(&mm->mm_mt, ops);
}

/* Store a new VMA: seed 000 wants it write-locked before the store. */
void vma_iter_store_new(struct mm_struct *mm, struct vm_area_struct *vma)
{
	RULE_CHECK(vma_is_write_locked(vma),
		   "a new VMA is write-locked before it is stored in the tree", vma,
		   "vma_start_write() was not called before the store");
	vma_file_link(vma); /* shmem: into the file's i_mmap */
	vt_insert(&mm->mm_mt, vma->vm_start, vma->vm_end, vma);
	WRITE_ONCE(vma->detached, false);
	mm->map_count++;
}

/* Change a linked VMA's range (it must be write-locked). */
void vma_set_range(struct vm_area_struct *vma, unsigned long start,
		   unsigned long end, unsigned long pgoff)
{
	unsigned long old = vma->vm_start;
	struct file *file = vma->vm_file;

	vma_assert_write_locked(vma);
	/* shmem: truncation reads file VMAs' ranges under the i_mmap lock */
	if (file && file->f_ops->i_mmap_lock_write)
		file->f_ops->i_mmap_lock_write(file);
	vma->vm_start = start;
	vma->vm_end = end;
	vma->vm_pgoff = pgoff;
	if (file && file->f_ops->i_mmap_unlock_write)
		file->f_ops->i_mmap_unlock_write(file);
	vt_update(&vma->vm_mm->mm_mt, old, start, end, vma);
}

/* Unlink a write-locked VMA from the tree and retire it. */
void vma_remove(struct mm_struct *mm, struct vm_area_struct *vma)
{
	vma_mark_detached(vma, true);
	vt_erase(&mm->mm_mt, vma->vm_start);
	mm->map_count--;
	vm_area_retire(mm, vma);
}

int vma_link(struct mm_struct *mm, struct vm_area_struct *vma)
{
	if (vma_prealloc(mm, 1))
		return -ENOMEM;
	vma_start_write(vma);
	vma_iter_store_new(mm, vma);
	return 0;
}

/* ---- split ---- */

/*
 * Split vma at addr.  With new_below the new VMA takes [vm_start, addr) and
 * vma keeps the rest; otherwise the new VMA takes [addr, vm_end).  No
 * map_count check (munmap does its own).
 */
int __split_vma(struct mm_struct *mm, struct vm_area_struct *vma,
		unsigned long addr, int new_below)
{
	struct vm_area_struct *new;
	unsigned long delta = (addr - vma->vm_start) >> PAGE_SHIFT;

	VM_BUG_ON_VMA(addr <= vma->vm_start || addr >= vma->vm_end, vma);
	if (vma_prealloc(mm, 2))
		return -ENOMEM;
	new = vm_area_dup(vma);
	if (!new)
		return -ENOMEM;
	if (new_below) {
		new->vm_end = addr;
	} else {
		new->vm_start = addr;
		new->vm_pgoff += delta;
	}
	vma_start_write(vma);
	vma_start_write(new);
	/* Shrink first so that the tree never holds overlapping ranges. */
	if (new_below)
		vma_set_range(vma, addr, vma->vm_end, vma->vm_pgoff + delta);
	else
		vma_set_range(vma, vma->vm_start, addr, vma->vm_pgoff);
	vma_iter_store_new(mm, new);
	return 0;
}

int split_vma(struct mm_struct *mm, struct vm_area_struct *vma,
	      unsigned long addr, int new_below)
{
	if ((unsigned long)mm->map_count >= mm->max_map_count)
		return -ENOMEM;
	return __split_vma(mm, vma, addr, new_below);
}

/* ---- merge ---- */

#define VM_SPECIAL (VM_IO | VM_DONTEXPAND | VM_PFNMAP)
#define VM_IGNORE_MERGE VM_SOFTDIRTY

static bool had_uncowed_parents(const struct vm_area_struct *vma)
{
	return vma && vma->anon_vma && vma->anon_vma_chain > 1;
}

/* Can tgt absorb memory whose anon_vma is src_anon (from VMA src)? */
static bool anon_mergeable(const struct vm_area_struct *tgt,
			   const struct anon_vma *src_anon,
			   const struct vm_area_struct *src)
{
	if (!tgt->anon_vma && src_anon)
		return !had_uncowed_parents(src);
	if (tgt->anon_vma && !src_anon)
		return !had_uncowed_parents(tgt);
	return tgt->anon_vma == src_anon;
}

static bool is_mergeable_vma(const struct vma_merge_struct *vmg,
			     const struct vm_area_struct *vma)
{
	return !((vma->vm_flags ^ vmg->flags) & ~VM_IGNORE_MERGE) &&
	       vma->vm_file == vmg->file &&
	       vma->vm_userfaultfd_ctx == vmg->uffd_ctx;
}

static bool can_vma_merge_after(const struct vma_merge_struct *vmg)
{
	const struct vm_area_struct *prev = vmg->prev;

	return is_mergeable_vma(vmg, prev) &&
	       anon_mergeable(prev, vmg->anon_vma, vmg->middle) &&
	       prev->vm_pgoff + vma_pages(prev) == vmg->pgoff;
}

static bool can_vma_merge_before(const struct vma_merge_struct *vmg)
{
	const struct vm_area_struct *next = vmg->next;

	return is_mergeable_vma(vmg, next) &&
	       anon_mergeable(next, vmg->anon_vma, vmg->middle) &&
	       next->vm_pgoff == vmg->pgoff + ((vmg->end - vmg->start) >> PAGE_SHIFT);
}

static bool anon_vmas_compatible(const struct vm_area_struct *a,
				 const struct vm_area_struct *b)
{
	return !a->anon_vma || !b->anon_vma || a->anon_vma == b->anon_vma;
}

static bool can_merge_left(const struct vma_merge_struct *vmg)
{
	return vmg->prev && vmg->prev->vm_end == vmg->start &&
	       can_vma_merge_after(vmg);
}

static bool can_merge_right(const struct vma_merge_struct *vmg, bool left)
{
	if (!vmg->next || vmg->next->vm_start != vmg->end || !can_vma_merge_before(vmg))
		return false;
	/* Merging both ways makes prev and next one VMA too. */
	return !left || anon_vmas_compatible(vmg->prev, vmg->next);
}

/*
 * A new range [start, end) that no VMA covers (mmap, brk, mremap's
 * destination, an mremap expansion): extend prev and/or next over it instead
 * of creating a VMA.  Returns the VMA that now covers the range, or NULL
 * (vmg->state says whether that was a failure).
 */
struct vm_area_struct *vma_merge_new_range(struct vma_merge_struct *vmg)
{
	struct mm_struct *mm = vmg->mm;
	struct vm_area_struct *prev = vmg->prev, *next = vmg->next;
	bool left, right;

	vmg->state = VMA_MERGE_NOMERGE;
	if (vmg->flags & VM_SPECIAL)
		return NULL;
	left = can_merge_left(vmg);
	right = can_merge_right(vmg, left);
	if (!left && !right)
		return NULL;
	if (vma_prealloc(mm, 2)) {
		vmg->state = VMA_MERGE_ERROR_NOMEM;
		return NULL;
	}
	vmg->state = VMA_MERGE_SUCCESS;
	if (left && right) {
		/* prev swallows the range and next. */
		unsigned long end = next->vm_end;

		vma_start_write(prev);
		vma_start_write(next);
		dup_anon_vma(prev, next);
		vma_remove(mm, next);
		vma_set_range(prev, prev->vm_start, end, prev->vm_pgoff);
		return prev;
	}
	if (left) {
		vma_start_write(prev);
		vma_set_range(prev, prev->vm_start, vmg->end, prev->vm_pgoff);
		return prev;
	}
	vma_start_write(next);
	vma_set_range(next, vmg->start, next->vm_end, vmg->pgoff);
	return next;
}

/*
 * [start, end) inside vmg->middle is about to get vmg->flags (mprotect,
 * madvise, mlock ...): merge the changed part into prev and/or next when
 * Linux would.  Returns the VMA now covering [start, end), or NULL.
 */
static struct vm_area_struct *vma_merge_existing_range(struct vma_merge_struct *vmg)
{
	struct mm_struct *mm = vmg->mm;
	struct vm_area_struct *middle = vmg->middle;
	struct vm_area_struct *prev = vmg->prev, *next = vmg->next;
	bool left_side = vmg->start == middle->vm_start;
	bool right_side = vmg->end == middle->vm_end;
	bool left, right;

	vmg->state = VMA_MERGE_NOMERGE;
	if ((vmg->flags & VM_SPECIAL) || (!left_side && !right_side))
		return NULL;
	left = left_side && can_merge_left(vmg);
	right = right_side && can_merge_right(vmg, left);
	if (!left && !right)
		return NULL;
	if (vma_prealloc(mm, 3)) {
		vmg->state = VMA_MERGE_ERROR_NOMEM;
		return NULL;
	}
	vmg->state = VMA_MERGE_SUCCESS;
	vma_start_write(middle);
	if (left && right) {
		unsigned long end = next->vm_end;

		vma_start_write(prev);
		vma_start_write(next);
		dup_anon_vma(prev, middle);
		dup_anon_vma(prev, next);
		vma_remove(mm, middle);
		vma_remove(mm, next);
		vma_set_range(prev, prev->vm_start, end, prev->vm_pgoff);
		return prev;
	}
	if (left) {
		vma_start_write(prev);
		dup_anon_vma(prev, middle);
		if (right_side) {
			vma_remove(mm, middle);
		} else {
			vma_set_range(middle, vmg->end, middle->vm_end,
				      middle->vm_pgoff +
					      ((vmg->end - middle->vm_start) >> PAGE_SHIFT));
		}
		vma_set_range(prev, prev->vm_start, vmg->end, prev->vm_pgoff);
		return prev;
	}
	vma_start_write(next);
	dup_anon_vma(next, middle);
	if (left_side)
		vma_remove(mm, middle);
	else
		vma_set_range(middle, middle->vm_start, vmg->start, middle->vm_pgoff);
	vma_set_range(next, vmg->start, next->vm_end, vmg->pgoff);
	return next;
}

/*
 * Give [start, end) of vma the attributes in vmg (flags for now): merge
 * when possible, else split so that a VMA covers exactly [start, end).
 * Returns that VMA, write-locked, or an ERR value (-ENOMEM).
 */
struct vm_area_struct *vma_modify(struct vma_merge_struct *vmg)
{
	struct vm_area_struct *vma = vmg->middle, *merged;
	int err;

	merged = vma_merge_existing_range(vmg);
	if (merged)
		return merged;
	if (vmg->state == VMA_MERGE_ERROR_NOMEM)
		return ERR_PTR(-ENOMEM);
	if (vma->vm_start < vmg->start) {
		err = split_vma(vmg->mm, vma, vmg->start, 1);
		if (err)
			return ERR_PTR(err);
	}
	if (vma->vm_end > vmg->end) {
		err = split_vma(vmg->mm, vma, vmg->end, 0);
		if (err)
			return ERR_PTR(err);
	}
	vma_start_write(vma);
	return vma;
}

/* Fill a merge request for [start, end) of vma with new flags. */
void vmg_init_modify(struct vma_merge_struct *vmg, struct vm_area_struct *prev,
		     struct vm_area_struct *vma, unsigned long start,
		     unsigned long end, unsigned long flags)
{
	struct mm_struct *mm = vma->vm_mm;

	memset(vmg, 0, sizeof(*vmg));
	vmg->mm = mm;
	vmg->prev = prev;
	vmg->middle = vma;
	vmg->next = vma_next(mm, vma);
	vmg->start = start;
	vmg->end = end;
	vmg->flags = flags;
	vmg->pgoff = vma->vm_pgoff + ((start - vma->vm_start) >> PAGE_SHIFT);
	vmg->file = vma->vm_file;
	vmg->anon_vma = vma->anon_vma;
	vmg->uffd_ctx = vma->vm_userfaultfd_ctx;
}
