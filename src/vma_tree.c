/*
 * vma_tree.c: the copy-on-write B+tree of VMAs (see vma_tree.h for the
 * locking: readers RCU, one writer under the owner's lock).
 *
 * Every modification rebuilds the nodes on the path from the changed leaf to
 * the root in fresh nodes taken from the preallocated spares, and publishes
 * the new root last.  A reader therefore sees either the whole old tree or
 * the whole new one.  Nodes that were never published (a discarded root,
 * spares) go straight back to the spare list; published ones are retired
 * through RCU.
 */
#include "vma_tree.h"
#include "alloc.h"
#include "debug.h"
#include "rcu.h"

#include <errno.h>
#include <string.h>

#define VT_MIN (VT_SLOTS / 4)

void vt_init(struct vma_tree *t, struct retire_list *retired)
{
	memset(t, 0, sizeof(*t));
	t->retired = retired;
}

static void free_subtree(struct vt_node *n)
{
	if (!n)
		return;
	if (!n->leaf)
		for (int i = 0; i < n->nr; i++)
			free_subtree(n->e[i].ptr);
	kfree(n);
}

void vt_destroy(struct vma_tree *t)
{
	free_subtree(t->root);
	t->root = NULL;
	while (t->spare) {
		struct vt_node *n = t->spare;

		t->spare = n->e[0].ptr;
		kfree(n);
	}
	t->nr_spare = 0;
	t->count = 0;
	t->height = 0;
}

int vt_prealloc(struct vma_tree *t, int ops)
{
	int need = ops * (2 * t->height + 3);

	while (t->nr_spare < need) {
		struct vt_node *n = kmalloc(sizeof(*n));

		if (!n)
			return -ENOMEM;
		n->e[0].ptr = t->spare;
		t->spare = n;
		t->nr_spare++;
	}
	return 0;
}

static struct vt_node *node_get(struct vma_tree *t, bool leaf)
{
	struct vt_node *n = t->spare;

	/* Running out here means a caller skipped vt_prealloc: a bug. */
	RULE_CHECK(n, "prepare before commit", NULL,
		   "VMA tree modified without vt_prealloc()");
	t->spare = n->e[0].ptr;
	t->nr_spare--;
	n->leaf = leaf;
	n->nr = 0;
	return n;
}

static void node_unget(struct vma_tree *t, struct vt_node *n)
{
	n->e[0].ptr = t->spare;
	t->spare = n;
	t->nr_spare++;
}

/* A retired node whose grace period is over: keep it as a spare. */
void vt_recycle_node(struct vma_tree *t, struct vt_node *n)
{
	if (t->nr_spare >= VT_SPARE_MAX) {
		kfree(n);
		return;
	}
	node_unget(t, n);
}

static void node_retire(struct vma_tree *t, struct vt_node *n)
{
	retire_rcu(t->retired, &n->retire, n, RETIRE_VT_NODE);
}

static unsigned long node_gap(const struct vt_node *n)
{
	unsigned long g = 0;

	for (int i = 0; i < n->nr; i++) {
		if (!n->leaf && n->e[i].gap > g)
			g = n->e[i].gap;
		if (i > 0 && n->e[i].lo - n->e[i - 1].hi > g)
			g = n->e[i].lo - n->e[i - 1].hi;
	}
	return g;
}

static void summarize(struct vt_node *n, struct vt_entry *out)
{
	out->lo = n->e[0].lo;
	out->hi = n->e[n->nr - 1].hi;
	out->ptr = n;
	out->gap = node_gap(n);
}

/* Pack buf[0..n) into 0, 1 or 2 fresh nodes; their summaries go to out. */
static int emit(struct vma_tree *t, bool leaf, const struct vt_entry *buf, int n,
		struct vt_entry out[2])
{
	int parts = n > VT_SLOTS ? 2 : (n ? 1 : 0);
	int first = parts == 2 ? (n + 1) / 2 : n;

	for (int p = 0, off = 0; p < parts; p++) {
		struct vt_node *node = node_get(t, leaf);
		int cnt = p == 0 ? first : n - first;

		memcpy(node->e, buf + off, cnt * sizeof(*buf));
		node->nr = cnt;
		summarize(node, &out[p]);
		off += cnt;
	}
	return parts;
}

/*
 * A freshly built child came out small: fold a neighbour into it (the fresh
 * node is not yet visible, so it can be changed in place).  buf holds the
 * parent's entries, j the fresh child's slot.  Returns the new count.
 */
static int absorb_neighbour(struct vma_tree *t, struct vt_entry *buf, int n, int j)
{
	struct vt_node *fresh = buf[j].ptr;
	int k = j > 0 ? j - 1 : j + 1;
	struct vt_node *nb;

	if (fresh->nr >= VT_MIN || k >= n)
		return n;
	nb = buf[k].ptr;
	if (fresh->nr + nb->nr > VT_SLOTS)
		return n;
	if (k < j) {
		memmove(fresh->e + nb->nr, fresh->e, fresh->nr * sizeof(fresh->e[0]));
		memcpy(fresh->e, nb->e, nb->nr * sizeof(nb->e[0]));
	} else {
		memcpy(fresh->e + fresh->nr, nb->e, nb->nr * sizeof(nb->e[0]));
	}
	fresh->nr += nb->nr;
	node_retire(t, nb);
	summarize(fresh, &buf[j]);
	memmove(buf + k, buf + k + 1, (n - k - 1) * sizeof(*buf));
	return n - 1;
}

/* Writer-side descent: the path to the leaf slot for key `lo`. */
static void descend(struct vma_tree *t, struct vt_cursor *c, unsigned long lo)
{
	struct vt_node *n = t->root;

	c->depth = 0;
	for (;;) {
		int i = 0;

		while (i < n->nr && n->e[i].hi <= lo)
			i++;
		if (!n->leaf && i == n->nr)
			i = n->nr - 1;
		c->node[c->depth] = n;
		c->idx[c->depth] = i;
		c->depth++;
		if (n->leaf)
			return;
		n = n->e[i].ptr;
	}
}

/*
 * Replace the leaf at the end of path c by the entries in leafbuf, then
 * rebuild every ancestor and publish the new root.
 */
static void commit_path(struct vma_tree *t, struct vt_cursor *c,
			struct vt_entry *leafbuf, int n)
{
	struct vt_entry buf[VT_SLOTS + 2];
	struct vt_entry repl[2];
	struct vt_node *root;
	int nrepl;

	nrepl = emit(t, true, leafbuf, n, repl);
	node_retire(t, c->node[c->depth - 1]);
	for (int lvl = c->depth - 2; lvl >= 0; lvl--) {
		struct vt_node *parent = c->node[lvl];
		int pi = c->idx[lvl], m = 0;

		for (int i = 0; i < parent->nr; i++) {
			if (i != pi) {
				buf[m++] = parent->e[i];
				continue;
			}
			for (int r = 0; r < nrepl; r++)
				buf[m++] = repl[r];
		}
		if (nrepl == 1)
			m = absorb_neighbour(t, buf, m, pi);
		nrepl = emit(t, false, buf, m, repl);
		node_retire(t, parent);
	}

	if (nrepl == 0) {
		root = NULL;
		t->height = 0;
	} else if (nrepl == 1) {
		root = repl[0].ptr;
		t->height = c->depth;
	} else {
		root = node_get(t, false);
		root->e[0] = repl[0];
		root->e[1] = repl[1];
		root->nr = 2;
		t->height = c->depth + 1;
	}
	/* An internal root with one child is a level too many. */
	while (root && !root->leaf && root->nr == 1) {
		struct vt_node *child = root->e[0].ptr;

		node_unget(t, root);
		root = child;
		t->height--;
	}
	BUG_ON(t->height >= VT_MAX_HEIGHT);
	rcu_assign_pointer(t->root, root);
}

void vt_insert(struct vma_tree *t, unsigned long lo, unsigned long hi, void *ptr)
{
	struct vt_entry buf[VT_SLOTS + 2];
	struct vt_cursor c;
	struct vt_node *leaf;
	int i, n;

	BUG_ON(lo >= hi);
	t->count++;
	if (!t->root) {
		leaf = node_get(t, true);
		leaf->e[0] = (struct vt_entry){ .lo = lo, .hi = hi, .ptr = ptr };
		leaf->nr = 1;
		t->height = 1;
		rcu_assign_pointer(t->root, leaf);
		return;
	}
	descend(t, &c, lo);
	leaf = c.node[c.depth - 1];
	i = c.idx[c.depth - 1];
	BUG_ON(i < leaf->nr && leaf->e[i].lo < hi);  /* overlap */
	BUG_ON(i > 0 && leaf->e[i - 1].hi > lo);
	memcpy(buf, leaf->e, i * sizeof(buf[0]));
	buf[i] = (struct vt_entry){ .lo = lo, .hi = hi, .ptr = ptr };
	memcpy(buf + i + 1, leaf->e + i, (leaf->nr - i) * sizeof(buf[0]));
	n = leaf->nr + 1;
	commit_path(t, &c, buf, n);
}

void vt_erase(struct vma_tree *t, unsigned long lo)
{
	struct vt_entry buf[VT_SLOTS + 2];
	struct vt_cursor c;
	struct vt_node *leaf;
	int i;

	descend(t, &c, lo);
	leaf = c.node[c.depth - 1];
	i = c.idx[c.depth - 1];
	BUG_ON(i >= leaf->nr || leaf->e[i].lo != lo);
	t->count--;
	memcpy(buf, leaf->e, i * sizeof(buf[0]));
	memcpy(buf + i, leaf->e + i + 1, (leaf->nr - i - 1) * sizeof(buf[0]));
	commit_path(t, &c, buf, leaf->nr - 1);
}

void vt_update(struct vma_tree *t, unsigned long old_lo, unsigned long lo,
	       unsigned long hi, void *ptr)
{
	struct vt_entry buf[VT_SLOTS + 2];
	struct vt_cursor c;
	struct vt_node *leaf;
	int i;

	descend(t, &c, old_lo);
	leaf = c.node[c.depth - 1];
	i = c.idx[c.depth - 1];
	BUG_ON(i >= leaf->nr || leaf->e[i].lo != old_lo);
	BUG_ON(lo >= hi);
	memcpy(buf, leaf->e, leaf->nr * sizeof(buf[0]));
	buf[i].lo = lo;
	buf[i].hi = hi;
	buf[i].ptr = ptr;
	/* Neighbours in other leaves are checked by vt_validate in tests. */
	BUG_ON(i > 0 && buf[i - 1].hi > lo);
	BUG_ON(i + 1 < leaf->nr && buf[i + 1].lo < hi);
	commit_path(t, &c, buf, leaf->nr);
}

/* ---- readers ---- */

struct vt_entry *vt_seek(struct vma_tree *t, struct vt_cursor *c, unsigned long addr)
{
	struct vt_node *n = rcu_dereference(t->root);

	c->depth = 0;
	if (!n)
		return NULL;
	for (;;) {
		int i = 0;

		while (i < n->nr && n->e[i].hi <= addr)
			i++;
		if (!n->leaf && i == n->nr)
			i = n->nr - 1;
		c->node[c->depth] = n;
		c->idx[c->depth] = i;
		c->depth++;
		if (n->leaf)
			return i < n->nr ? &n->e[i] : NULL;
		n = n->e[i].ptr;
	}
}

struct vt_entry *vt_next(struct vt_cursor *c)
{
	int d = c->depth - 1;
	struct vt_node *n;

	if (d < 0)
		return NULL;
	if (c->idx[d] < c->node[d]->nr)
		c->idx[d]++;
	if (c->idx[d] < c->node[d]->nr)
		return &c->node[d]->e[c->idx[d]];
	for (int lvl = d - 1; lvl >= 0; lvl--) {
		if (c->idx[lvl] + 1 >= c->node[lvl]->nr)
			continue;
		c->idx[lvl]++;
		n = c->node[lvl]->e[c->idx[lvl]].ptr;
		for (int l = lvl + 1; l <= d; l++) {
			c->node[l] = n;
			c->idx[l] = 0;
			if (!n->leaf)
				n = n->e[0].ptr;
		}
		return &c->node[d]->e[0];
	}
	return NULL;
}

struct vt_entry *vt_prev(struct vt_cursor *c)
{
	int d = c->depth - 1;
	struct vt_node *n;

	if (d < 0)
		return NULL;
	if (c->idx[d] > 0) {
		c->idx[d]--;
		return &c->node[d]->e[c->idx[d]];
	}
	for (int lvl = d - 1; lvl >= 0; lvl--) {
		if (c->idx[lvl] == 0)
			continue;
		c->idx[lvl]--;
		n = c->node[lvl]->e[c->idx[lvl]].ptr;
		for (int l = lvl + 1; l <= d; l++) {
			c->node[l] = n;
			c->idx[l] = n->nr - 1;
			if (!n->leaf)
				n = n->e[n->nr - 1].ptr;
		}
		return &c->node[d]->e[c->idx[d]];
	}
	return NULL;
}

/* ---- free-area search ---- */

static bool fit(unsigned long glo, unsigned long ghi, unsigned long low,
		unsigned long high, unsigned long len, unsigned long *out)
{
	if (glo < low)
		glo = low;
	if (ghi > high)
		ghi = high;
	if (ghi <= glo || ghi - glo < len)
		return false;
	*out = ghi - len;
	return true;
}

/* The inner gaps of n's subtree, highest first. */
static bool gap_search(const struct vt_node *n, unsigned long low,
		       unsigned long high, unsigned long len, unsigned long *out)
{
	for (int i = n->nr - 1; i >= 0; i--) {
		if (n->e[i].hi <= low)
			return false;
		if (i + 1 < n->nr &&
		    fit(n->e[i].hi, n->e[i + 1].lo, low, high, len, out))
			return true;
		if (!n->leaf && n->e[i].gap >= len && n->e[i].lo < high &&
		    gap_search(n->e[i].ptr, low, high, len, out))
			return true;
	}
	return false;
}

unsigned long vt_gap_topdown(struct vma_tree *t, unsigned long low,
			     unsigned long high, unsigned long len)
{
	struct vt_node *root = rcu_dereference(t->root);
	unsigned long out;

	if (!root)
		return fit(low, high, low, high, len, &out) ? out : 0;
	if (fit(root->nr ? root->e[root->nr - 1].hi : low, ~0UL, low, high, len, &out))
		return out;
	/* (the root's span end is the last entry's hi for either kind) */
	if (gap_search(root, low, high, len, &out))
		return out;
	if (fit(0, root->e[0].lo, low, high, len, &out))
		return out;
	return 0;
}

/* ---- validation ---- */

static bool validate_node(const struct vt_node *n, int depth, int height,
			  unsigned long *prev_hi, unsigned long *count,
			  const struct vt_entry *summary)
{
	if (n->nr == 0 || n->nr > VT_SLOTS)
		return false;
	if (summary && (summary->lo != n->e[0].lo || summary->hi != n->e[n->nr - 1].hi ||
			summary->gap != node_gap(n)))
		return false;
	if (n->leaf) {
		if (depth != height)
			return false;
		for (int i = 0; i < n->nr; i++) {
			if (n->e[i].lo >= n->e[i].hi || n->e[i].lo < *prev_hi)
				return false;
			*prev_hi = n->e[i].hi;
			(*count)++;
		}
		return true;
	}
	for (int i = 0; i < n->nr; i++)
		if (!validate_node(n->e[i].ptr, depth + 1, height, prev_hi, count, &n->e[i]))
			return false;
	return true;
}

bool vt_validate(struct vma_tree *t)
{
	unsigned long prev_hi = 0, count = 0;

	if (!t->root)
		return t->count == 0 && t->height == 0;
	if (!validate_node(t->root, 1, t->height, &prev_hi, &count, NULL))
		return false;
	return count == t->count;
}
