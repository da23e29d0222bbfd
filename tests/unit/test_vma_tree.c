/*
 * test_vma_tree: the copy-on-write range tree against a plain sorted array,
 * over 100k random inserts, erases and range updates; lookups, neighbours,
 * the top-down gap search and the tree's own invariants are checked as it
 * goes.  Nothing may leak: every node comes back after RCU frees it.
 */
#include "testutil.h"
#include "alloc.h"
#include "vma_tree.h"

#include <string.h>

#define SLOTS 4096 /* the model: slot i covers [i*P, (i+1)*P) at most */

struct model {
	unsigned long lo[SLOTS], hi[SLOTS];
	int used[SLOTS];
};

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;
static unsigned long rnd(unsigned long n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned long)(rng % n);
}

/* The model's entry containing or after addr (first with hi > addr). */
static int model_find(struct model *m, unsigned long addr)
{
	for (int i = (int)(addr / P); i < SLOTS; i++) {
		if (i >= 0 && m->used[i] && m->hi[i] > addr)
			return i;
	}
	return -1;
}

static unsigned long model_gap(struct model *m, unsigned long low, unsigned long high,
			       unsigned long len)
{
	/* Highest start s with [s, s+len) free inside [low, high). */
	for (unsigned long end = high; end >= low + len; end -= P) {
		unsigned long s = end - len;
		bool free = true;

		for (unsigned long a = s; a < end && free; a += P) {
			int i = (int)(a / P);
			if (m->used[i] && m->lo[i] <= a && a < m->hi[i])
				free = false;
		}
		if (free)
			return s;
	}
	return 0;
}

static void random_against_model(void **state)
{
	static struct model m;
	struct retire_list retired;
	struct vma_tree t;
	long live = alloc_live();

	assert_int_equal(retire_list_init(&retired), 0);
	memset(&m, 0, sizeof(m));
	vt_init(&t, &retired);
	for (int op = 0; op < 100000; op++) {
		int i = (int)rnd(SLOTS);
		unsigned long addr = i * P;

		assert_int_equal(vt_prealloc(&t, 1), 0);
		switch (rnd(4)) {
		case 0:
		case 1: /* insert a one-page or shorter-than-slot range */
			if (!m.used[i]) {
				unsigned long hi = addr + (rnd(2) ? P : P / 2);

				vt_insert(&t, addr, hi, (void *)(long)(i + 1));
				m.used[i] = 1;
				m.lo[i] = addr;
				m.hi[i] = hi;
			}
			break;
		case 2:
			if (m.used[i]) {
				vt_erase(&t, m.lo[i]);
				m.used[i] = 0;
			}
			break;
		case 3: /* move the range inside its slot */
			if (m.used[i]) {
				unsigned long lo = addr + (rnd(2) ? 0 : 1024);
				unsigned long hi = addr + P - (rnd(2) ? 0 : 1024);

				vt_update(&t, m.lo[i], lo, hi, (void *)(long)(i + 1));
				m.lo[i] = lo;
				m.hi[i] = hi;
			}
			break;
		}
		/* Spot checks every op, full checks now and then. */
		{
			unsigned long q = rnd(SLOTS * P);
			struct vt_cursor c;
			struct vt_entry *e = vt_seek(&t, &c, q);
			int want = model_find(&m, q);

			struct vt_entry f, pv;
			int wantp = -1;

			if (want < 0) {
				assert_null(e);
			} else {
				assert_non_null(e);
				assert_int_equal((long)e->ptr, want + 1);
				assert_int_equal(e->lo, m.lo[want]);
				assert_int_equal(e->hi, m.hi[want]);
			}
			/* The lock-free lookups agree with the model too. */
			assert_int_equal(vt_find(&t, q, &f), want >= 0);
			if (want >= 0)
				assert_int_equal((long)f.ptr, want + 1);
			for (int s2 = (int)(q / P); s2 >= 0; s2--) {
				if (s2 < SLOTS && m.used[s2] && m.hi[s2] <= q) {
					wantp = s2;
					break;
				}
			}
			assert_int_equal(vt_find_prev(&t, q, &pv), wantp >= 0);
			if (wantp >= 0)
				assert_int_equal((long)pv.ptr, wantp + 1);
		}
		if (op % 1000 == 0) {
			struct vt_cursor c;
			struct vt_entry *e = vt_seek(&t, &c, 0);
			int n = 0;

			assert_true(vt_validate(&t));
			for (int s = 0; s < SLOTS; s++) {
				if (!m.used[s])
					continue;
				assert_non_null(e);
				assert_int_equal((long)e->ptr, s + 1);
				e = vt_next(&c);
				n++;
			}
			assert_null(e);
			assert_int_equal(t.count, n);
			/* and backwards from the end */
			vt_seek(&t, &c, ~0UL);
			for (int s = SLOTS - 1; s >= 0; s--) {
				if (!m.used[s])
					continue;
				e = vt_prev(&c);
				assert_non_null(e);
				assert_int_equal((long)e->ptr, s + 1);
			}
			for (int g = 0; g < 20; g++) {
				unsigned long len = (1 + rnd(4)) * P;
				unsigned long low = P, high = (1 + rnd(SLOTS - 1)) * P;

				assert_int_equal(vt_gap_topdown(&t, low, high, len),
						 model_gap(&m, low, high, len));
			}
			retire_list_flush(&retired, true);
		}
	}
	/* The workload must have built a real tree, not a toy one. */
	assert_true(t.count > SLOTS / 4);
	assert_true(t.height >= 3);
	vt_destroy(&t);
	retire_list_destroy(&retired);
	test_rcu_barrier();
	assert_int_equal(alloc_live(), live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
