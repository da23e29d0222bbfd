/*
 * vma.h: VMAs, their per-VMA locks and mmap_lock (the kernel's names).
 * The rules each function checks are in mm_types.h and DESIGN.md.
 */
#ifndef ASPACE_VMA_H
#define ASPACE_VMA_H

#include "debug.h"
#include "file.h"
#include "mm_types.h"

#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((unsigned long)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long err) { return (void *)err; }
static inline long PTR_ERR(const void *p) { return (long)p; }
static inline bool IS_ERR(const void *p) { return IS_ERR_VALUE((unsigned long)p); }

/* ---- mmap_lock (mmap_lock.c) ---- */
void mmap_read_lock(struct mm_struct *mm);
bool mmap_read_trylock(struct mm_struct *mm);
void mmap_read_unlock(struct mm_struct *mm);
void mmap_write_lock(struct mm_struct *mm);
bool mmap_write_trylock(struct mm_struct *mm);
void mmap_write_unlock(struct mm_struct *mm);
void mmap_write_downgrade(struct mm_struct *mm);
bool mmap_is_write_locked_by_me(const struct mm_struct *mm);
bool mmap_is_locked_by_me(const struct mm_struct *mm);

#define mmap_assert_locked(mm)                                                  \
	RULE_CHECK(mmap_is_locked_by_me(mm), "mmap_assert_locked", NULL,         \
		   "mmap_lock of mm %p not held by this thread", (void *)(mm))
#define mmap_assert_write_locked(mm)                                            \
	RULE_CHECK(mmap_is_write_locked_by_me(mm), "mmap_assert_write_locked",   \
		   NULL, "mmap_lock of mm %p not held for write by this thread",  \
		   (void *)(mm))

/* ---- per-VMA locks (vma_lock.c) ---- */
void vma_lock_init(struct vm_area_struct *vma);
bool vma_start_read(struct vm_area_struct *vma);
void vma_end_read(struct vm_area_struct *vma);
void vma_start_write(struct vm_area_struct *vma);
bool vma_is_write_locked(const struct vm_area_struct *vma);
void vma_end_write_all(struct mm_struct *mm);
void vma_mark_detached(struct vm_area_struct *vma, bool detached);

#define vma_assert_write_locked(vma)                                            \
	RULE_CHECK(vma_is_write_locked(vma), "vma_assert_write_locked", vma,     \
		   "VMA not write-locked (vma_start_write) by the mmap_lock writer")
#define vma_assert_locked(vma)                                                  \
	RULE_CHECK(vma_is_write_locked(vma) || rwsem_readers(&(vma)->vm_lock) || \
			   !(vma)->vm_mm->per_vma_lock,                          \
		   "vma_assert_locked", vma, "VMA neither read- nor write-locked")

/* The only ways to change vm_flags of a VMA that readers can see. */
/*
 * vm_flags is read without locks in a few places (GUP-fast, lockless
 * lookups), so every store is a single relaxed atomic store.
 */
static inline void vm_flags_reset(struct vm_area_struct *vma, unsigned long flags)
{
	vma_assert_write_locked(vma);
	WRITE_ONCE(vma->vm_flags, flags);
}

static inline void vm_flags_reset_once(struct vm_area_struct *vma,
				       unsigned long flags)
{
	vma_assert_write_locked(vma);
	WRITE_ONCE(vma->vm_flags, flags);
}

static inline void vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vma_start_write(vma);
	WRITE_ONCE(vma->vm_flags, vma->vm_flags | flags);
}

static inline void vm_flags_clear(struct vm_area_struct *vma, unsigned long flags)
{
	vma_start_write(vma);
	WRITE_ONCE(vma->vm_flags, vma->vm_flags & ~flags);
}

/* Count a lock_vma_under_rcu outcome (success, abort, retry, miss). */
#define count_vma_lock_event(mm, what)                                          \
	atomic_fetch_add_explicit(                                              \
		&(mm)->vma_lock_stat[current_tid() % VMA_LOCK_STAT_SHARDS].what, 1, \
		memory_order_relaxed)

/* Fault entry (seed 002): RCU lookup + vma_start_read + rechecks.  Returns
 * the VMA read-locked, or NULL (then take mmap_lock and find_vma). */
struct vm_area_struct *lock_vma_under_rcu(struct mm_struct *mm, unsigned long address);

/* ---- lookups (vma.c); caller holds mmap_lock or the RCU read lock ---- */
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr);
struct vm_area_struct *find_vma_prev(struct mm_struct *mm, unsigned long addr,
				     struct vm_area_struct **pprev);
struct vm_area_struct *vma_lookup(struct mm_struct *mm, unsigned long addr);
struct vm_area_struct *vma_next(struct mm_struct *mm, struct vm_area_struct *vma);
struct vm_area_struct *vma_prev(struct mm_struct *mm, struct vm_area_struct *vma);

struct vm_area_struct *find_vma_intersection(struct mm_struct *mm,
					     unsigned long start, unsigned long end);

/* ---- objects and tree updates (vma.c); mmap write lock held ---- */
struct vm_area_struct *vm_area_alloc(struct mm_struct *mm);
struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig);
void vm_area_free_unlinked(struct vm_area_struct *vma);
int vma_prealloc(struct mm_struct *mm, int ops);
void vma_reap_retired(struct mm_struct *mm);
void vma_cache_drain(struct mm_struct *mm);
void vma_iter_store_new(struct mm_struct *mm, struct vm_area_struct *vma);
void vma_set_range(struct vm_area_struct *vma, unsigned long start,
		   unsigned long end, unsigned long pgoff);
void vma_remove(struct mm_struct *mm, struct vm_area_struct *vma);
int vma_link(struct mm_struct *mm, struct vm_area_struct *vma);
int __split_vma(struct mm_struct *mm, struct vm_area_struct *vma,
		unsigned long addr, int new_below);
int split_vma(struct mm_struct *mm, struct vm_area_struct *vma,
	      unsigned long addr, int new_below);

enum vma_merge_state {
	VMA_MERGE_NOMERGE,
	VMA_MERGE_SUCCESS,
	VMA_MERGE_ERROR_NOMEM,
};

/* A merge request (the kernel's vma_merge_struct). */
struct vma_merge_struct {
	struct mm_struct *mm;
	struct vm_area_struct *prev, *middle, *next;
	unsigned long start, end, pgoff, flags;
	struct file *file;
	struct anon_vma *anon_vma;
	void *uffd_ctx;
	enum vma_merge_state state;
};

struct vm_area_struct *vma_merge_new_range(struct vma_merge_struct *vmg);
struct vm_area_struct *vma_modify(struct vma_merge_struct *vmg);
void vmg_init_modify(struct vma_merge_struct *vmg, struct vm_area_struct *prev,
		     struct vm_area_struct *vma, unsigned long start,
		     unsigned long end, unsigned long flags);

static inline void vma_file_get(struct vm_area_struct *vma)
{
	if (vma->vm_file)
		get_file(vma->vm_file);
}

/* shmem: a VMA being stored in the tree joins its file's reverse map, with
 * its final range and mm. */
static inline void vma_file_link(struct vm_area_struct *vma)
{
	if (vma->vm_file && vma->vm_file->f_ops->vma_open)
		vma->vm_file->f_ops->vma_open(vma);
}

static inline void vma_file_put(struct vm_area_struct *vma)
{
	if (vma->vm_file) {
		/* shmem: out of the file's reverse map before the put */
		if (vma->vm_file->f_ops->vma_close)
			vma->vm_file->f_ops->vma_close(vma);
		fput(vma->vm_file);
	}
}

static inline bool vma_is_anonymous(const struct vm_area_struct *vma)
{
	return !vma->vm_file;
}

static inline unsigned long vma_pages(const struct vm_area_struct *vma)
{
	return (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;
}

#endif
