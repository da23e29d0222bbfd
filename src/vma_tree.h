/*
 * vma_tree.h: the ordered range tree that holds an mm's VMAs.
 *
 * A B+tree keyed by non-overlapping ranges [lo, hi).  Readers walk it
 * without locks, under RCU only (lock_vma_under_rcu, find_vma); one writer
 * at a time (the mm's mmap write lock) changes it.
 *
 * How readers stay safe:
 *  - Internal nodes are immutable once published, as far as readers look at
 *    them (the routing key and child pointer of each slot).  A change of
 *    shape (a leaf splits or empties, a routing key must grow) copies the
 *    path from there to the root and publishes the new root with one
 *    rcu_assign_pointer; replaced nodes are retired and freed (or reused)
 *    after a grace period.
 *  - A leaf is changed in place when its shape allows (the common case:
 *    mmap/munmap of a VMA inside a leaf), under a per-leaf sequence count:
 *    a reader copies the entry it wants and retries if the count moved.
 *    So the hot path writes one cache line or two instead of a path of
 *    fresh nodes.
 *  - Routing: slot i of an internal node covers the entries whose hi is in
 *    (key[i-1], key[i]]; the last slot covers everything above.  Keys may be
 *    stale-high after erases: a search that finds nothing in slot i goes on
 *    to slot i+1.
 * Writer-only summaries (lo, hi and the largest inner gap of each subtree)
 * sit beside the routing keys and are updated in place; readers never read
 * them.  They make the top-down free-area search O(log n).
 *
 * Prepare, then commit: vt_prealloc() reserves every node the next
 * modifications can need; vt_insert/vt_erase/vt_update cannot fail.
 */
#ifndef ASPACE_VMA_TREE_H
#define ASPACE_VMA_TREE_H

#include "rcu.h"

#include <stdbool.h>
#include <stddef.h>

#define VT_SLOTS 16
#define VT_MAX_HEIGHT 16

/* What a lookup returns: a copy, valid at one instant during the lookup. */
struct vt_entry {
	unsigned long lo, hi;
	void *ptr;
};

struct vt_slot {
	/* Read by readers (immutable in internal nodes; seqcount in leaves). */
	unsigned long key;  /* leaf: the entry's hi; internal: routing key */
	void *ptr;          /* leaf: the value; internal: the child */
	/* Writer only. */
	unsigned long lo;   /* leaf: the entry's lo; internal: subtree min lo */
	unsigned long hi;   /* internal: subtree max hi */
	unsigned long gap;  /* internal: largest inner gap of the subtree */
};

struct vt_node {
	struct rcu_retire retire;
	unsigned int seq;   /* leaves: odd while being changed */
	unsigned char leaf;
	unsigned char nr;
	struct vt_slot s[VT_SLOTS];
};

struct vma_tree {
	struct vt_node *root;         /* RCU-published */
	int height;                   /* writer only */
	unsigned long count;          /* entries; writer only */
	struct vt_node *spare;        /* preallocated nodes, linked via s[0].ptr */
	int nr_spare;
	struct retire_list *retired;  /* where replaced nodes go */
};

/* A writer-side position (the writer lock held: nothing moves under it). */
struct vt_cursor {
	struct vt_node *node[VT_MAX_HEIGHT];
	int idx[VT_MAX_HEIGHT];
	int depth; /* node[depth-1] is the leaf */
	struct vt_entry cur;
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

/* Lookups for any context (RCU read lock, or the writer lock). */
/* The first entry with hi > addr. */
bool vt_find(struct vma_tree *t, unsigned long addr, struct vt_entry *out);
/* The last entry with hi <= addr. */
bool vt_find_prev(struct vma_tree *t, unsigned long addr, struct vt_entry *out);

/* Writer-side iteration (writer lock, or any lock that excludes it). */
struct vt_entry *vt_seek(struct vma_tree *t, struct vt_cursor *c, unsigned long addr);
struct vt_entry *vt_next(struct vt_cursor *c);
struct vt_entry *vt_prev(struct vt_cursor *c);

/* Highest page-aligned start s with [s, s+len) inside [low, high) and free,
 * or 0 if none (writer lock). */
unsigned long vt_gap_topdown(struct vma_tree *t, unsigned long low,
			     unsigned long high, unsigned long len);

/* Check ordering, routing, summaries and counts of the whole tree. */
bool vt_validate(struct vma_tree *t);

#endif
