/*
 * test_vma_lock: per-VMA lock semantics (seed 002) and the locking rules of
 * seed 000, including rules broken on purpose: each of those runs in a child
 * process and must abort with the rule's message.
 */
#include "testutil.h"
#include "mm.h"

#include <pthread.h>
#include <sys/mman.h>

struct fixture {
	struct aspace_mm *amm;
	struct mm_struct *mm;
	unsigned long addr;
};

static struct fixture make(int per_vma_lock)
{
	struct aspace_config cfg = { .per_vma_lock = per_vma_lock };
	struct fixture f;

	assert_int_equal(aspace_mm_create(&cfg, &f.amm), 0);
	f.mm = to_mm(f.amm);
	f.addr = (unsigned long)aspace_mmap(f.amm, 0, 4 * P, PROT_READ | PROT_WRITE, ANON_PRIV, -1, 0);
	assert_true(f.addr < (unsigned long)-4096);
	return f;
}

static struct vm_area_struct *the_vma(struct fixture *f)
{
	struct vm_area_struct *vma;

	rcu_read_lock();
	vma = vma_lookup(f->mm, f->addr);
	rcu_read_unlock();
	assert_non_null(vma);
	return vma;
}

static void read_fails_while_write_marked(void **state)
{
	struct fixture f = make(ASPACE_VMA_LOCK_ON);
	struct vm_area_struct *vma = the_vma(&f);

	assert_true(vma_start_read(vma));
	vma_end_read(vma);

	mmap_write_lock(f.mm);
	vma_start_write(vma);
	assert_false(vma_start_read(vma));
	assert_null(lock_vma_under_rcu(f.mm, f.addr));
	mmap_write_unlock(f.mm);

	assert_true(vma_start_read(vma));
	vma_end_read(vma);

	mmap_write_lock(f.mm);
	vma_start_write(vma);
	mmap_write_downgrade(f.mm);
	/* Downgrading ends the VMA write locks too. */
	assert_true(vma_start_read(vma));
	vma_end_read(vma);
	mmap_read_unlock(f.mm);
	aspace_mm_destroy(f.amm);
}

static void start_write_is_idempotent(void **state)
{
	struct fixture f = make(ASPACE_VMA_LOCK_ON);
	struct vm_area_struct *vma = the_vma(&f);
	unsigned int seq;

	mmap_write_lock(f.mm);
	vma_start_write(vma);
	seq = vma->vm_lock_seq;
	vma_start_write(vma); /* must not deadlock on its own mark */
	assert_int_equal(vma->vm_lock_seq, seq);
	assert_true(vma_is_write_locked(vma));
	mmap_write_unlock(f.mm);
	assert_false(vma->vm_lock_seq == f.mm->mm_lock_seq);
	aspace_mm_destroy(f.amm);
}

static void *try_read_in_thread(void *arg)
{
	struct vm_area_struct *vma = arg;
	bool ok = vma_start_read(vma);

	if (ok)
		vma_end_read(vma);
	return (void *)(long)ok;
}

static void reader_blocks_nothing_but_writer_waits(void **state)
{
	struct fixture f = make(ASPACE_VMA_LOCK_ON);
	struct vm_area_struct *vma = the_vma(&f);
	pthread_t t;
	void *ret;

	/* Another thread can read-lock while we hold a read lock. */
	assert_true(vma_start_read(vma));
	pthread_create(&t, NULL, try_read_in_thread, vma);
	pthread_join(t, &ret);
	assert_true((long)ret);
	vma_end_read(vma);
	aspace_mm_destroy(f.amm);
}

static void lock_vma_under_rcu_counts(void **state)
{
	struct fixture f = make(ASPACE_VMA_LOCK_ON);
	struct vm_area_struct *vma;
	struct aspace_stats st;

	vma = lock_vma_under_rcu(f.mm, f.addr + P);
	assert_non_null(vma);
	assert_int_equal(vma->vm_start, f.addr);
	vma_end_read(vma);
	assert_null(lock_vma_under_rcu(f.mm, f.addr + 4 * P)); /* miss */
	mmap_write_lock(f.mm);
	vma_start_write(the_vma(&f));
	assert_null(lock_vma_under_rcu(f.mm, f.addr)); /* abort */
	mmap_write_unlock(f.mm);
	aspace_mm_stats(f.amm, &st);
	assert_int_equal(st.vma_lock_success, 1);
	assert_int_equal(st.vma_lock_miss, 1);
	assert_int_equal(st.vma_lock_abort, 1);
	aspace_mm_destroy(f.amm);
}

static void per_vma_locks_off(void **state)
{
	struct fixture f = make(ASPACE_VMA_LOCK_OFF);
	struct vm_area_struct *vma = the_vma(&f);

	assert_false(vma_start_read(vma));
	/* Write-locked means mmap_lock held for write. */
	assert_false(vma_is_write_locked(vma));
	mmap_write_lock(f.mm);
	assert_true(vma_is_write_locked(vma));
	mmap_write_unlock(f.mm);
	aspace_mm_destroy(f.amm);
}

/* ---- rules broken on purpose ---- */

static void flags_reset_unlocked(void *arg)
{
	struct fixture f = make(ASPACE_VMA_LOCK_ON);
	struct vm_area_struct *vma = the_vma(&f);

	mmap_write_lock(f.mm);
	vm_flags_reset(vma, vma->vm_flags | VM_LOCKED); /* no vma_start_write */
}

static void start_write_without_mmap_lock(void *arg)
{
	struct fixture f = make(ASPACE_VMA_LOCK_ON);

	vma_start_write(the_vma(&f));
}

static void store_before_write_lock(void *arg)
{
	struct fixture f = make(ASPACE_VMA_LOCK_ON);
	struct vm_area_struct *vma = vm_area_alloc(f.mm);

	vma->vm_start = f.addr + 16 * P;
	vma->vm_end = f.addr + 17 * P;
	mmap_write_lock(f.mm);
	vma_prealloc(f.mm, 1);
	vma_iter_store_new(f.mm, vma); /* not write-locked yet */
}

static void assert_locked_without_lock(void *arg)
{
	struct fixture f = make(ASPACE_VMA_LOCK_ON);

	mmap_assert_locked(f.mm);
}

static void reset_unlocked_with_locks_off(void *arg)
{
	struct fixture f = make(ASPACE_VMA_LOCK_OFF);
	struct vm_area_struct *vma = the_vma(&f);

	vm_flags_reset(vma, vma->vm_flags); /* no mmap_lock at all */
}

static void broken_rules_abort(void **state)
{
	assert_true(expect_abort(flags_reset_unlocked, NULL, "vma_assert_write_locked broken"));
	assert_true(expect_abort(start_write_without_mmap_lock, NULL,
				 "vma_start_write needs mmap_lock held for write broken"));
	assert_true(expect_abort(store_before_write_lock, NULL,
				 "a new VMA is write-locked before it is stored in the tree broken"));
	assert_true(expect_abort(assert_locked_without_lock, NULL, "mmap_assert_locked broken"));
	assert_true(expect_abort(reset_unlocked_with_locks_off, NULL, "vma_assert_write_locked broken"));
}

static void message_names_vma_and_thread(void **state)
{
	/* The message carries the VMA range and the thread id. */
	assert_true(expect_abort(flags_reset_unlocked, NULL, "vma ["));
	assert_true(expect_abort(flags_reset_unlocked, NULL, "thread "));
}

/* ---- the VMAs an operation write-locks are exactly those it changes ---- */

struct three {
	struct aspace_mm *amm;
	struct mm_struct *mm;
	unsigned long base;
};

/* A [0,4) rw, B [4,8) r, C [8,12) rw-x: three VMAs that do not merge. */
static struct three make_three(void)
{
	struct three t;

	assert_int_equal(aspace_mm_create(NULL, &t.amm), 0);
	t.mm = to_mm(t.amm);
	t.base = (unsigned long)aspace_mmap(t.amm, 0, 16 * P, PROT_NONE,
					    ANON_PRIV | MAP_NORESERVE, -1, 0);
	aspace_mmap(t.amm, t.base, 4 * P, PROT_READ | PROT_WRITE, ANON_PRIV | MAP_FIXED, -1, 0);
	aspace_mmap(t.amm, t.base + 4 * P, 4 * P, PROT_READ, ANON_PRIV | MAP_FIXED, -1, 0);
	aspace_mmap(t.amm, t.base + 8 * P, 4 * P, PROT_READ | PROT_WRITE | PROT_EXEC,
		    ANON_PRIV | MAP_FIXED, -1, 0);
	return t;
}

static bool locked_at(struct three *t, unsigned long page)
{
	return vma_is_write_locked(vma_lookup(t->mm, t->base + page * P));
}

static void split_locks_only_the_split_vma(void **state)
{
	struct three t = make_three();
	struct vma_merge_struct vmg;
	struct vm_area_struct *b, *got;

	mmap_write_lock(t.mm);
	b = vma_lookup(t.mm, t.base + 4 * P);
	/* B's middle page becomes rw-: no merge, two splits. */
	vmg_init_modify(&vmg, vma_prev(t.mm, b), b, t.base + 5 * P, t.base + 6 * P,
			b->vm_flags | VM_WRITE);
	got = vma_modify(&vmg);
	assert_false(IS_ERR(got));
	assert_true(locked_at(&t, 4) && locked_at(&t, 5) && locked_at(&t, 6));
	assert_false(locked_at(&t, 0)); /* A untouched */
	assert_false(locked_at(&t, 8)); /* C untouched */
	mmap_write_unlock(t.mm);
	aspace_mm_destroy(t.amm);
}

static void merge_locks_the_merged_vmas(void **state)
{
	struct three t = make_three();
	struct vma_merge_struct vmg;
	struct vm_area_struct *a, *b, *got;

	mmap_write_lock(t.mm);
	a = vma_lookup(t.mm, t.base);
	b = vma_lookup(t.mm, t.base + 4 * P);
	/* All of B takes A's flags: A grows over B, B goes. */
	vmg_init_modify(&vmg, a, b, b->vm_start, b->vm_end, a->vm_flags);
	got = vma_modify(&vmg);
	assert_ptr_equal(got, a);
	assert_true(vma_is_write_locked(a));
	assert_true(b->detached && b->vm_lock_seq == t.mm->mm_lock_seq);
	assert_false(locked_at(&t, 8)); /* C untouched */
	mmap_write_unlock(t.mm);
	aspace_mm_destroy(t.amm);
}

static void munmap_locks_nothing_outside(void **state)
{
	struct three t = make_three();
	struct vm_area_struct *a, *c;

	mmap_write_lock(t.mm);
	a = vma_lookup(t.mm, t.base);
	c = vma_lookup(t.mm, t.base + 8 * P);
	assert_int_equal(do_munmap(t.mm, t.base + 4 * P, 4 * P), 0);
	assert_false(vma_is_write_locked(a));
	assert_false(vma_is_write_locked(c));
	mmap_write_unlock(t.mm);
	aspace_mm_destroy(t.amm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_fails_while_write_marked),
		cmocka_unit_test(start_write_is_idempotent),
		cmocka_unit_test(reader_blocks_nothing_but_writer_waits),
		cmocka_unit_test(lock_vma_under_rcu_counts),
		cmocka_unit_test(per_vma_locks_off),
		cmocka_unit_test(broken_rules_abort),
		cmocka_unit_test(message_names_vma_and_thread),
		cmocka_unit_test(split_locks_only_the_split_vma),
		cmocka_unit_test(merge_locks_the_merged_vmas),
		cmocka_unit_test(munmap_locks_nothing_outside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
