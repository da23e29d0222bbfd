/*
 * vma_tree.h: the ordered range tree that holds an mm's VMAs.
 *
 * A copy-on-write B+tree keyed by non-overlapping ranges [lo, hi).  Readers
 * walk it without locks under RCU (rcu_read_lock) or under the owner's lock;
 * writers (serialized by the mm's mmap write lock) never change a node that a
 * reader may see: they copy the path from the leaf to the root and publish
 * the new root with one rcu_assign_pointer.  Replaced nodes are retired to
 * the owner's retire_list and freed after a grace period.
 *
 * Each internal slot also records the largest gap between two consecutive
 * ranges inside its subtree, so the top-down search for a free area
 * (get_unmapped_area) is O(log n) however many VMAs there are.
 *
 * Prepare, then commit: vt_prealloc() reserves every node the next
 * modifications can need; vt_insert/vt_erase/vt_update cannot fail.
 */
#ifndef ASPACE_VMA_TREE_H
#define ASPACE_VMA_TREE_H

#include <stdbool.h>
#include <stddef.h>

#define VT_SLOTS 16
#define VT_MAX_HEIGHT 16

#include "rcu.h"

struct vt_entry {
	unsigned long lo, hi; /* leaf: the range; internal: the child's span */
	void *ptr;            /* leaf: the value; internal: the child */
	unsigned long gap;    /* internal: largest inner gap of the child */
};

struct vt_node {
	struct rcu_retire retire;
	unsigned char leaf;
	unsigned char nr;
	struct vt_entry e[VT_SLOTS];
};

struct vma_tree {
	struct vt_node *root;         /* RCU-published */
	int height;                   /* writer only */
	unsigned long count;          /* entries; writer only */
	struct vt_node *spare;        /* preallocated nodes, linked via e[0].ptr */
	int nr_spare;
	struct retire_list *retired;  /* where replaced nodes go */
};

/* A position in one snapshot of the tree. */
struct vt_cursor {
	struct vt_node *node[VT_MAX_HEIGHT];
	int idx[VT_MAX_HEIGHT];
	int depth; /* node[depth-1] is the leaf */
};

void vt_init(struct vma_tree *t, struct retire_list *retired);
/* Free every node at once (no readers may remain). */
void vt_destroy(struct vma_tree *t);

/* Spares kept beyond what vt_prealloc asked for (recycled nodes). */
#define VT_SPARE_MAX 2048

/* Reserve nodes for `ops` later modifications.  0 or -ENOMEM. */
int vt_prealloc(struct vma_tree *t, int ops);

/* A node retired by this tree whose grace period is over (writer lock). */
void vt_recycle_node(struct vma_tree *t, struct vt_node *n);

/* Modifications (writer lock held, after vt_prealloc). */
void vt_insert(struct vma_tree *t, unsigned long lo, unsigned long hi, void *ptr);
void vt_erase(struct vma_tree *t, unsigned long lo);
void vt_update(struct vma_tree *t, unsigned long old_lo, unsigned long lo,
	       unsigned long hi, void *ptr);

/*
 * Lookups: the caller holds the RCU read lock or the writer lock.
 * vt_seek positions the cursor at the first entry with hi > addr and returns
 * it (NULL: past the end; vt_prev from there gives the last entry).
 */
struct vt_entry *vt_seek(struct vma_tree *t, struct vt_cursor *c, unsigned long addr);
struct vt_entry *vt_next(struct vt_cursor *c);
struct vt_entry *vt_prev(struct vt_cursor *c);

/* Highest page-aligned start s with [s, s+len) inside [low, high) and free,
 * or 0 if none. */
unsigned long vt_gap_topdown(struct vma_tree *t, unsigned long low,
			     unsigned long high, unsigned long len);

/* Check ordering, spans and gaps of the whole tree (tests). */
bool vt_validate(struct vma_tree *t);

#endif
