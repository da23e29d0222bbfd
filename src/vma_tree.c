/*
 * vma_tree.c: the VMA tree (see vma_tree.h for the reader/writer rules:
 * readers RCU only, one writer under the owner's lock; internal nodes
 * copy-on-write, leaves changed in place under a sequence count).
 */
#include "vma_tree.h"
#include "alloc.h"
#include "debug.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ---- leaf sequence counts ---- */

static unsigned int leaf_read_begin(const struct vt_node *n)
{
	unsigned int s;
	int spins = 0;

	while ((s = __atomic_load_n(&n->seq, __ATOMIC_ACQUIRE)) & 1) {
		if (++spins > 100)
			sched_yield(); /* the writer was preempted mid-update */
	}
	return s;
}

static bool leaf_read_retry(const struct vt_node *n, unsigned int s)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&n->seq, __ATOMIC_RELAXED) != s;
}

static void leaf_write_begin(struct vt_node *n)
{
	__atomic_store_n(&n->seq, n->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void leaf_write_end(struct vt_node *n)
{
	__atomic_store_n(&n->seq, n->seq + 1, __ATOMIC_RELEASE);
}

/* ---- nodes ---- */

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
			free_subtree(n->s[i].ptr);
	kfree(n);
}

void vt_destroy(struct vma_tree *t)
{
	free_subtree(t->root);
	t->root = NULL;
	while (t->spare) {
		struct vt_node *n = t->spare;

		t->spare = n->s[0].ptr;
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
		n->s[0].ptr = t->spare;
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
	t->spare = n->s[0].ptr;
	t->nr_spare--;
	n->seq = 0;
	n->leaf = leaf;
	n->nr = 0;
	return n;
}

static void node_unget(struct vma_tree *t, struct vt_node *n)
{
	n->s[0].ptr = t->spare;
	t->spare = n;
	t->nr_spare++;
}

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

/* ---- writer-only summaries ---- */

static unsigned long slot_lo(const struct vt_node *n, int i)
{
	return n->s[i].lo;
}

static unsigned long slot_hi(const struct vt_node *n, int i)
{
	return n->leaf ? n->s[i].key : n->s[i].hi;
}

static unsigned long node_gap(const struct vt_node *n)
{
	unsigned long g = 0;

	for (int i = 0; i < n->nr; i++) {
		if (!n->leaf && n->s[i].gap > g)
			g = n->s[i].gap;
		if (i > 0 && slot_lo(n, i) - slot_hi(n, i - 1) > g)
			g = slot_lo(n, i) - slot_hi(n, i - 1);
	}
	return g;
}

/* Fill the writer-only summary of slot `s` describing child n. */
static void summarize(const struct vt_node *n, struct vt_slot *s)
{
	s->lo = slot_lo(n, 0);
	s->hi = slot_hi(n, n->nr - 1);
	s->gap = node_gap(n);
}

/* After an in-place leaf change: refresh the summaries up the path. */
static void resummarize_path(struct vt_cursor *c)
{
	for (int lvl = c->depth - 2; lvl >= 0; lvl--)
		summarize(c->node[lvl + 1], &c->node[lvl]->s[c->idx[lvl]]);
}

/* ---- readers ---- */

/*
 * Copy out of a leaf, consistently: the first entry with hi > addr, or
 * (last) the last entry with hi <= addr.
 */
static bool leaf_find(const struct vt_node *n, unsigned long addr, bool last,
		      struct vt_entry *out)
{
	for (;;) {
		unsigned int s = leaf_read_begin(n);
		int nr = LD(n->nr), found = -1;

		if (nr > VT_SLOTS)
			nr = VT_SLOTS; /* torn read: the retry below catches it */
		for (int k = 0; k < nr; k++) {
			int i = last ? nr - 1 - k : k;
			unsigned long hi = LD(n->s[i].key);

			if (last ? hi <= addr : hi > addr) {
				found = i;
				break;
			}
		}
		if (found >= 0) {
			out->lo = LD(n->s[found].lo);
			out->hi = LD(n->s[found].key);
			out->ptr = LD(n->s[found].ptr);
		}
		if (!leaf_read_retry(n, s))
			return found >= 0;
	}
}

static bool find_first(const struct vt_node *n, unsigned long addr, struct vt_entry *out)
{
	int i = 0;

	if (n->leaf)
		return leaf_find(n, addr, false, out);
	while (i < n->nr - 1 && n->s[i].key <= addr)
		i++;
	/* A stale-high key can send us one slot too early: go on then. */
	for (; i < n->nr; i++)
		if (find_first(n->s[i].ptr, addr, out))
			return true;
	return false;
}

static bool find_last(const struct vt_node *n, unsigned long addr, struct vt_entry *out)
{
	int j = 0;

	if (n->leaf)
		return leaf_find(n, addr, true, out);
	while (j < n->nr - 1 && n->s[j].key < addr)
		j++;
	for (; j >= 0; j--)
		if (find_last(n->s[j].ptr, addr, out))
			return true;
	return false;
}

bool vt_find(struct vma_tree *t, unsigned long addr, struct vt_entry *out)
{
	struct vt_node *root = rcu_dereference(t->root);

	return root && find_first(root, addr, out);
}

bool vt_find_prev(struct vma_tree *t, unsigned long addr, struct vt_entry *out)
{
	struct vt_node *root = rcu_dereference(t->root);

	return root && find_last(root, addr, out);
}

/* ---- writer-side positions ---- */

static void load_cur(struct vt_cursor *c)
{
	struct vt_node *leaf = c->node[c->depth - 1];
	int i = c->idx[c->depth - 1];

	c->cur.lo = leaf->s[i].lo;
	c->cur.hi = leaf->s[i].key;
	c->cur.ptr = leaf->s[i].ptr;
}

/* Position c at the first entry with hi > addr; with `cont`, a leaf that
 * has none (stale key) hands over to the next leaf.  Returns whether an
 * entry is there (else c is at the end of its leaf). */
static bool descend(struct vma_tree *t, struct vt_cursor *c, unsigned long addr, bool cont)
{
	struct vt_node *n = t->root;
	int i;

	c->depth = 0;
	if (!n)
		return false;
	for (;;) {
		i = 0;
		if (n->leaf) {
			while (i < n->nr && n->s[i].key <= addr)
				i++;
		} else {
			while (i < n->nr - 1 && n->s[i].key <= addr)
				i++;
		}
		c->node[c->depth] = n;
		c->idx[c->depth] = i;
		c->depth++;
		if (n->leaf)
			break;
		n = n->s[i].ptr;
	}
	if (i < n->nr)
		return true;
	if (!cont)
		return false;
	return vt_next(c) != NULL;
}

struct vt_entry *vt_seek(struct vma_tree *t, struct vt_cursor *c, unsigned long addr)
{
	if (!descend(t, c, addr, true))
		return NULL;
	load_cur(c);
	return &c->cur;
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
		goto found;
	for (int lvl = d - 1; lvl >= 0; lvl--) {
		if (c->idx[lvl] + 1 >= c->node[lvl]->nr)
			continue;
		c->idx[lvl]++;
		n = c->node[lvl]->s[c->idx[lvl]].ptr;
		for (int l = lvl + 1; l <= d; l++) {
			c->node[l] = n;
			c->idx[l] = 0;
			if (!n->leaf)
				n = n->s[0].ptr;
		}
		goto found;
	}
	return NULL;
found:
	load_cur(c);
	return &c->cur;
}

struct vt_entry *vt_prev(struct vt_cursor *c)
{
	int d = c->depth - 1;
	struct vt_node *n;

	if (d < 0)
		return NULL;
	if (c->idx[d] > 0) {
		c->idx[d]--;
		goto found;
	}
	for (int lvl = d - 1; lvl >= 0; lvl--) {
		if (c->idx[lvl] == 0)
			continue;
		c->idx[lvl]--;
		n = c->node[lvl]->s[c->idx[lvl]].ptr;
		for (int l = lvl + 1; l <= d; l++) {
			c->node[l] = n;
			c->idx[l] = n->nr - 1;
			if (!n->leaf)
				n = n->s[n->nr - 1].ptr;
		}
		goto found;
	}
	return NULL;
found:
	load_cur(c);
	return &c->cur;
}

/* ---- changes of shape: copy the path ---- */

/* Pack buf[0..n) into 0, 1 or 2 fresh nodes; their slots go to out (keys
 * set to the parts' highest hi: the caller adjusts). */
static int emit(struct vma_tree *t, bool leaf, const struct vt_slot *buf, int n,
		struct vt_slot out[2])
{
	int parts = n > VT_SLOTS ? 2 : (n ? 1 : 0);
	int first = parts == 2 ? (n + 1) / 2 : n;

	for (int p = 0, off = 0; p < parts; p++) {
		struct vt_node *node = node_get(t, leaf);
		int cnt = p == 0 ? first : n - first;

		memcpy(node->s, buf + off, cnt * sizeof(*buf));
		node->nr = cnt;
		out[p].ptr = node;
		summarize(node, &out[p]);
		out[p].key = out[p].hi;
		off += cnt;
	}
	return parts;
}

/*
 * Replace the leaf at the end of path c by the entries in leafbuf (which
 * may need 0, 1 or 2 leaves), rebuild every ancestor and publish the new
 * root.  Every rebuilt node gets exact routing keys (each slot's highest
 * hi), which also repairs keys left stale-high by in-place erases.
 */
static void commit_path(struct vma_tree *t, struct vt_cursor *c,
			struct vt_slot *leafbuf, int n)
{
	struct vt_slot buf[VT_SLOTS + 2];
	struct vt_slot repl[2];
	struct vt_node *root;
	int nrepl;

	nrepl = emit(t, true, leafbuf, n, repl);
	node_retire(t, c->node[c->depth - 1]);
	for (int lvl = c->depth - 2; lvl >= 0; lvl--) {
		struct vt_node *parent = c->node[lvl];
		int pi = c->idx[lvl], m = 0;

		for (int i = 0; i < parent->nr; i++) {
			if (i != pi) {
				buf[m] = parent->s[i];
				buf[m].key = buf[m].hi;
				m++;
				continue;
			}
			for (int r = 0; r < nrepl; r++)
				buf[m++] = repl[r];
		}
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
		root->s[0] = repl[0];
		root->s[1] = repl[1];
		root->nr = 2;
		t->height = c->depth + 1;
	}
	/* An internal root with one child is a level too many. */
	while (root && !root->leaf && root->nr == 1) {
		struct vt_node *child = root->s[0].ptr;

		node_unget(t, root);
		root = child;
		t->height--;
	}
	BUG_ON(t->height >= VT_MAX_HEIGHT);
	rcu_assign_pointer(t->root, root);
}

/*
 * May an entry ending at hi live in the leaf at the end of path c?  Its hi
 * must stay within the routing range: above the key of the slot to its left
 * and at most the key of its own slot, at the lowest level where such a
 * slot exists (the leftmost and rightmost paths are open-ended).
 */
static bool routing_ok(const struct vt_cursor *c, unsigned long hi)
{
	bool upper = false, lower = false;

	for (int lvl = c->depth - 2; lvl >= 0 && !(upper && lower); lvl--) {
		const struct vt_node *n = c->node[lvl];
		int i = c->idx[lvl];

		if (!upper && i < n->nr - 1) {
			if (hi > n->s[i].key)
				return false;
			upper = true;
		}
		if (!lower && i > 0) {
			if (hi <= n->s[i - 1].key)
				return false;
			lower = true;
		}
	}
	return true;
}

static void leaf_copy_out(const struct vt_node *leaf, struct vt_slot *buf)
{
	memcpy(buf, leaf->s, leaf->nr * sizeof(*buf));
}

void vt_insert(struct vma_tree *t, unsigned long lo, unsigned long hi, void *ptr)
{
	struct vt_slot buf[VT_SLOTS + 2], e = { .key = hi, .ptr = ptr, .lo = lo };
	struct vt_cursor c;
	struct vt_node *leaf;
	int i;

	BUG_ON(lo >= hi);
	t->count++;
	if (!t->root) {
		leaf = node_get(t, true);
		leaf->s[0] = e;
		leaf->nr = 1;
		t->height = 1;
		rcu_assign_pointer(t->root, leaf);
		return;
	}
	descend(t, &c, lo, false);
	leaf = c.node[c.depth - 1];
	i = c.idx[c.depth - 1];
	BUG_ON(i < leaf->nr && leaf->s[i].lo < hi); /* overlap */
	BUG_ON(i > 0 && leaf->s[i - 1].key > lo);
	if (leaf->nr < VT_SLOTS && routing_ok(&c, hi)) {
		leaf_write_begin(leaf);
		for (int k = leaf->nr; k > i; k--) {
			ST(leaf->s[k].key, leaf->s[k - 1].key);
			ST(leaf->s[k].ptr, leaf->s[k - 1].ptr);
			ST(leaf->s[k].lo, leaf->s[k - 1].lo);
		}
		ST(leaf->s[i].key, hi);
		ST(leaf->s[i].ptr, ptr);
		ST(leaf->s[i].lo, lo);
		ST(leaf->nr, leaf->nr + 1);
		leaf_write_end(leaf);
		resummarize_path(&c);
		return;
	}
	memcpy(buf, leaf->s, i * sizeof(buf[0]));
	buf[i] = e;
	memcpy(buf + i + 1, leaf->s + i, (leaf->nr - i) * sizeof(buf[0]));
	commit_path(t, &c, buf, leaf->nr + 1);
}

void vt_erase(struct vma_tree *t, unsigned long lo)
{
	struct vt_cursor c;
	struct vt_node *leaf;
	int i;

	descend(t, &c, lo, true);
	leaf = c.node[c.depth - 1];
	i = c.idx[c.depth - 1];
	BUG_ON(i >= leaf->nr || leaf->s[i].lo != lo);
	t->count--;
	if (leaf->nr > 1) {
		leaf_write_begin(leaf);
		for (int k = i; k + 1 < leaf->nr; k++) {
			ST(leaf->s[k].key, leaf->s[k + 1].key);
			ST(leaf->s[k].ptr, leaf->s[k + 1].ptr);
			ST(leaf->s[k].lo, leaf->s[k + 1].lo);
		}
		ST(leaf->nr, leaf->nr - 1);
		leaf_write_end(leaf);
		resummarize_path(&c);
		return;
	}
	commit_path(t, &c, NULL, 0);
}

void vt_update(struct vma_tree *t, unsigned long old_lo, unsigned long lo,
	       unsigned long hi, void *ptr)
{
	struct vt_slot buf[VT_SLOTS + 2];
	struct vt_cursor c;
	struct vt_node *leaf;
	int i;

	descend(t, &c, old_lo, true);
	leaf = c.node[c.depth - 1];
	i = c.idx[c.depth - 1];
	BUG_ON(i >= leaf->nr || leaf->s[i].lo != old_lo);
	BUG_ON(lo >= hi);
	BUG_ON(i > 0 && leaf->s[i - 1].key > lo);
	BUG_ON(i + 1 < leaf->nr && leaf->s[i + 1].lo < hi);
	if (routing_ok(&c, hi)) {
		leaf_write_begin(leaf);
		ST(leaf->s[i].key, hi);
		ST(leaf->s[i].ptr, ptr);
		ST(leaf->s[i].lo, lo);
		leaf_write_end(leaf);
		resummarize_path(&c);
		return;
	}
	leaf_copy_out(leaf, buf);
	buf[i].key = hi;
	buf[i].ptr = ptr;
	buf[i].lo = lo;
	commit_path(t, &c, buf, leaf->nr);
}

/* ---- free-area search (writer) ---- */

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
		if (slot_hi(n, i) <= low)
			return false;
		if (i + 1 < n->nr && fit(slot_hi(n, i), slot_lo(n, i + 1), low, high, len, out))
			return true;
		if (!n->leaf && n->s[i].gap >= len && n->s[i].lo < high &&
		    gap_search(n->s[i].ptr, low, high, len, out))
			return true;
	}
	return false;
}

unsigned long vt_gap_topdown(struct vma_tree *t, unsigned long low,
			     unsigned long high, unsigned long len)
{
	struct vt_node *root = t->root;
	unsigned long out;

	if (!root)
		return fit(low, high, low, high, len, &out) ? out : 0;
	if (fit(slot_hi(root, root->nr - 1), ~0UL, low, high, len, &out))
		return out;
	if (gap_search(root, low, high, len, &out))
		return out;
	if (fit(0, slot_lo(root, 0), low, high, len, &out))
		return out;
	return 0;
}

/* ---- validation ---- */

struct vstate {
	unsigned long prev_hi, count;
	bool ok;
};

static void validate_node(const struct vt_node *n, int depth, int height,
			  const struct vt_slot *summary, unsigned long key_lo,
			  unsigned long key_hi, struct vstate *st)
{
	if (!st->ok)
		return;
	if (n->nr == 0 || n->nr > VT_SLOTS || (n->leaf && (n->seq & 1))) {
		st->ok = false;
		return;
	}
	if (summary && (summary->lo != slot_lo(n, 0) || summary->hi != slot_hi(n, n->nr - 1) ||
			summary->gap != node_gap(n))) {
		st->ok = false;
		return;
	}
	if (n->leaf) {
		if (depth != height)
			st->ok = false;
		for (int i = 0; i < n->nr && st->ok; i++) {
			unsigned long lo = n->s[i].lo, hi = n->s[i].key;

			/* sorted, non-overlapping, inside the routing range */
			if (lo >= hi || lo < st->prev_hi || hi <= key_lo || hi > key_hi)
				st->ok = false;
			st->prev_hi = hi;
			st->count++;
		}
		return;
	}
	for (int i = 0; i < n->nr; i++) {
		unsigned long klo = i ? n->s[i - 1].key : key_lo;
		unsigned long khi = i + 1 < n->nr ? n->s[i].key : key_hi;

		if (i && n->s[i].key < n->s[i - 1].key)
			st->ok = false;
		validate_node(n->s[i].ptr, depth + 1, height, &n->s[i], klo, khi, st);
	}
}

bool vt_validate(struct vma_tree *t)
{
	struct vstate st = { .ok = true };

	if (!t->root)
		return t->count == 0 && t->height == 0;
	validate_node(t->root, 1, t->height, NULL, 0, ~0UL, &st);
	return st.ok && st.count == t->count;
}
