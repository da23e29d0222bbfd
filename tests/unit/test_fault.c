/*
 * test_fault.c: fault semantics through the public access calls: zero page
 * then replaced on write, permissions (ACCERR/MAPERR), accesses stopping at
 * the right byte, DONTNEED, mprotect, munmap, MAP_POPULATE, pool
 * exhaustion, vma_lock counters, VM_FAULT_RETRY, and teardown balance.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "testutil.h"
#include "vma.h"
#include "memory.h"
#include "mm.h"
#include "mm_mem.h"
#include "page_alloc.h"
#include "pgtable.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif

#define PG 4096UL

static struct aspace_mm *new_mm(size_t pool_bytes, int vma_lock)
{
	struct aspace_config cfg = { .pool_bytes = pool_bytes, .per_vma_lock = vma_lock };
	struct aspace_mm *mm = NULL;

	assert_int_equal(aspace_mm_create(&cfg, &mm), 0);
	return mm;
}

static unsigned long map_anon(struct aspace_mm *mm, unsigned long len, int prot)
{
	long a = aspace_mmap(mm, 0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(a > 0);
	return (unsigned long)a;
}

static void stats(struct aspace_mm *mm, struct aspace_stats *st)
{
	aspace_mm_stats(mm, st);
}

/* Free frames of the default pool now (after pending RCU frees). */
static unsigned long default_free(void)
{
	unsigned long f, t;

	aspace_pool_stats(NULL, &f, &t);
	return f;
}

static void test_zero_page_then_write(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *mm = new_mm(0, 0);
	unsigned long a = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	struct aspace_stats st;
	char buf[PG];
	struct aspace_fault f;

	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(aspace_read(mm, a, buf, PG, &f), 0);
	for (unsigned i = 0; i < PG; i++)
		assert_int_equal(buf[i], 0);
	stats(mm, &st);
	assert_int_equal(st.zero_faults, 1);
	assert_int_equal(st.rss_anon, 0); /* the zero page is not RSS */

	assert_int_equal(aspace_write(mm, a + 10, "hello", 5, &f), 0);
	stats(mm, &st);
	assert_int_equal(st.rss_anon, 1);
	assert_int_equal(aspace_read(mm, a, buf, 16, &f), 0);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0\0\0hello\0", 16);
	/* The zero page itself stayed zero. */
	assert_int_equal(aspace_read(mm, a + PG, buf, PG, &f), 0);
	for (unsigned i = 0; i < PG; i++)
		assert_int_equal(buf[i], 0);

	aspace_mm_destroy(mm);
	assert_int_equal(default_free(), free0);
}

static void test_permissions(void **state)
{
	struct aspace_mm *mm = new_mm(0, 0);
	unsigned long ro = map_anon(mm, 2 * PG, PROT_READ);
	unsigned long none = map_anon(mm, PG, PROT_NONE);
	struct aspace_fault f = { 0 };
	char c = 1;

	assert_int_equal(aspace_read(mm, ro + 5, &c, 1, &f), 0);
	assert_int_equal(c, 0);
	assert_int_equal(aspace_write(mm, ro + 5, &c, 1, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_ACCERR);
	assert_int_equal(f.addr, ro + 5);

	assert_int_equal(aspace_read(mm, none, &c, 1, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_ACCERR);
	assert_int_equal(aspace_touch(mm, none, 1, 0, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_ACCERR);

	/* Nothing mapped at all. */
	assert_int_equal(aspace_read(mm, 0x10000, &c, 1, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_MAPERR);
	assert_int_equal(f.addr, 0x10000);
	assert_int_equal(aspace_write(mm, 1UL << 47, &c, 1, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_MAPERR);
	aspace_mm_destroy(mm);
}

static void test_cross_into_unmapped(void **state)
{
	struct aspace_mm *mm = new_mm(0, 0);
	unsigned long a = map_anon(mm, 2 * PG, PROT_READ | PROT_WRITE);
	char src[300], back[300];
	struct aspace_fault f = { 0 };

	assert_int_equal(aspace_munmap(mm, a + PG, PG), 0);
	for (int i = 0; i < 300; i++)
		src[i] = (char)(i + 1);
	/* 100 bytes fit before the hole; the access stops at its first byte. */
	assert_int_equal(aspace_write(mm, a + PG - 100, src, 300, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_MAPERR);
	assert_int_equal(f.addr, a + PG);
	assert_int_equal(aspace_read(mm, a + PG - 100, back, 100, &f), 0);
	assert_memory_equal(back, src, 100);
	assert_int_equal(aspace_read(mm, a + PG - 1, back, 2, &f), -EFAULT);
	assert_int_equal(f.addr, a + PG);
	/* touch: one access per page; stops at the unmapped page's start. */
	assert_int_equal(aspace_touch(mm, a + 7, 2 * PG, 1, &f), -EFAULT);
	assert_int_equal(f.addr, a + PG);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_MAPERR);
	/* touch-write left the byte unchanged */
	assert_int_equal(aspace_read(mm, a + PG - 100, back, 1, &f), 0);
	assert_int_equal(back[0], src[0]);
	aspace_mm_destroy(mm);
}

static void test_across_vmas(void **state)
{
	struct aspace_mm *mm = new_mm(0, 0);
	unsigned long a = map_anon(mm, 3 * PG, PROT_READ | PROT_WRITE);
	char src[PG + 200], back[sizeof(src)];
	struct aspace_fault f;
	struct aspace_stats st;

	/* Middle page with other flags: three VMAs, one byte range. */
	assert_int_equal(aspace_mprotect(mm, a + PG, PG, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	stats(mm, &st);
	assert_int_equal(st.nr_vmas, 3);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)(i * 7);
	assert_int_equal(aspace_write(mm, a + PG - 100, src, sizeof(src), &f), 0);
	assert_int_equal(aspace_read(mm, a + PG - 100, back, sizeof(back), &f), 0);
	assert_memory_equal(src, back, sizeof(src));
	aspace_mm_destroy(mm);
}

static void test_dontneed(void **state)
{
	struct aspace_mm *mm = new_mm(0, 0);
	unsigned long a = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	struct aspace_fault f;
	struct aspace_stats st;
	char c = 'x';

	for (int i = 0; i < 4; i++)
		assert_int_equal(aspace_write(mm, a + i * PG + 1, &c, 1, &f), 0);
	stats(mm, &st);
	assert_int_equal(st.rss_anon, 4);
	assert_int_equal(aspace_madvise(mm, a + PG, 2 * PG, MADV_DONTNEED), 0);
	stats(mm, &st);
	assert_int_equal(st.rss_anon, 2);
	assert_int_equal(aspace_read(mm, a + PG + 1, &c, 1, &f), 0);
	assert_int_equal(c, 0);
	assert_int_equal(aspace_read(mm, a + 1, &c, 1, &f), 0);
	assert_int_equal(c, 'x');
	assert_int_equal(aspace_read(mm, a + 3 * PG + 1, &c, 1, &f), 0);
	assert_int_equal(c, 'x');

	/* Argument checks as Linux. */
	assert_int_equal(aspace_madvise(mm, a + 1, PG, MADV_DONTNEED), -EINVAL);
	assert_int_equal(aspace_madvise(mm, a, PG, 9999), -EINVAL);
	assert_int_equal(aspace_madvise(mm, a, 0, MADV_DONTNEED), 0);
	assert_int_equal(aspace_madvise(mm, a, -1UL, MADV_DONTNEED), -EINVAL);
	assert_int_equal(aspace_madvise(mm, a + 4 * PG, PG, MADV_DONTNEED), -ENOMEM);
	assert_int_equal(aspace_madvise(mm, a, PG, MADV_WIPEONFORK), 0);
	assert_int_equal(aspace_madvise(mm, a, PG, MADV_HWPOISON), -EPERM);
	aspace_mm_destroy(mm);
}

static void test_mprotect_and_munmap(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *mm = new_mm(0, 0);
	unsigned long a = map_anon(mm, 2 * PG, PROT_READ | PROT_WRITE);
	struct aspace_fault f;
	char c = 'q';

	assert_int_equal(aspace_write(mm, a, &c, 1, &f), 0);
	assert_int_equal(aspace_mprotect(mm, a, 2 * PG, PROT_READ), 0);
	assert_int_equal(aspace_write(mm, a, &c, 1, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_ACCERR);
	c = 0;
	assert_int_equal(aspace_read(mm, a, &c, 1, &f), 0);
	assert_int_equal(c, 'q');
	assert_int_equal(aspace_mprotect(mm, a, 2 * PG, PROT_NONE), 0);
	assert_int_equal(aspace_read(mm, a, &c, 1, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_ACCERR);
	assert_int_equal(aspace_mprotect(mm, a, 2 * PG, PROT_READ | PROT_WRITE), 0);
	c = 'r';
	assert_int_equal(aspace_write(mm, a + 1, &c, 1, &f), 0);
	assert_int_equal(aspace_read(mm, a, &c, 1, &f), 0);
	assert_int_equal(c, 'q'); /* the same page came back */

	assert_int_equal(aspace_munmap(mm, a, 2 * PG), 0);
	assert_int_equal(aspace_read(mm, a, &c, 1, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_MAPERR);
	/* Tables and frames of the unmapped range are back (after RCU). */
	assert_int_equal(atomic_load(&mm_mem(to_mm(mm))->nr_ptes), 0);
	aspace_mm_destroy(mm);
	assert_int_equal(default_free(), free0);
}

static void test_populate(void **state)
{
	struct aspace_mm *mm = new_mm(0, 0);
	long a = aspace_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	struct aspace_stats st;

	assert_true(a > 0);
	stats(mm, &st);
	assert_int_equal(st.rss_anon, 8);
	aspace_mm_destroy(mm);
}

static void test_pool_exhaustion(void **state)
{
	struct aspace_mm *mm = new_mm(64 * PG, 0);
	struct page_pool *pool = mm_mem(to_mm(mm))->pool;
	unsigned long free0, total, free1;
	unsigned long a = map_anon(mm, 256 * PG, PROT_READ | PROT_WRITE);
	struct aspace_fault f = { 0 };
	unsigned long i;
	int err = 0;

	pool_get(pool);
	pool_stats(pool, &free0, &total);
	assert_int_equal(total, 64);
	/* The PGD is in use; a fresh pool has all but the zero page free. */
	assert_int_equal(free0, total - 2);
	free0 = total - 1;
	for (i = 0; i < 256; i++) {
		unsigned long v = i + 1000;

		err = aspace_write(mm, a + i * PG, &v, sizeof(v), &f);
		if (err)
			break;
	}
	assert_int_equal(err, -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_OOM);
	assert_int_equal(f.addr, a + i * PG);
	assert_true(i > 40);
	/* Everything stored before is intact; reads still work (zero page). */
	for (unsigned long j = 0; j < i; j++) {
		unsigned long v = 0;

		assert_int_equal(aspace_read(mm, a + j * PG, &v, sizeof(v), &f), 0);
		assert_int_equal(v, j + 1000);
	}
	assert_int_equal(aspace_read(mm, a + 255 * PG, &free1, sizeof(free1), &f), 0);
	assert_int_equal(free1, 0);
	/* A fork cannot get tables either: -ENOMEM, and nothing leaks. */
	{
		struct aspace_mm *child = NULL;
		int r = aspace_fork(mm, &child);

		if (r == 0)
			aspace_mm_destroy(child);
		else
			assert_int_equal(r, -ENOMEM);
	}
	aspace_mm_destroy(mm);
	pool_stats(pool, &free1, &total);
	assert_int_equal(free1, free0);
	pool_put(pool);
}

static void test_vma_lock_counters(void **state)
{
	struct aspace_mm *mm = new_mm(0, ASPACE_VMA_LOCK_ON);
	unsigned long a = map_anon(mm, 16 * PG, PROT_READ | PROT_WRITE);
	struct aspace_fault f;
	struct aspace_stats st;

	assert_int_equal(aspace_touch(mm, a, 16 * PG, 1, &f), 0);
	stats(mm, &st);
	assert_true(st.vma_lock_success >= 16);
	assert_int_equal(st.faults, 16);
	aspace_mm_destroy(mm);

	mm = new_mm(0, ASPACE_VMA_LOCK_OFF);
	a = map_anon(mm, 16 * PG, PROT_READ | PROT_WRITE);
	assert_int_equal(aspace_touch(mm, a, 16 * PG, 1, &f), 0);
	stats(mm, &st);
	assert_int_equal(st.vma_lock_success, 0);
	assert_int_equal(st.faults, 16);
	aspace_mm_destroy(mm);
}

static void test_fault_retry(void **state)
{
	struct aspace_mm *mm = new_mm(0, ASPACE_VMA_LOCK_ON);
	unsigned long a = map_anon(mm, 2 * PG, PROT_READ | PROT_WRITE);
	struct aspace_fault f;
	struct aspace_stats st;
	int v = 42;

	fault_inject_retry(1);
	assert_int_equal(aspace_write(mm, a, &v, sizeof(v), &f), 0);
	stats(mm, &st);
	assert_int_equal(st.vma_lock_retry, 1);
	v = 0;
	assert_int_equal(aspace_read(mm, a, &v, sizeof(v), &f), 0);
	assert_int_equal(v, 42);
	/* Under mmap_lock too: the retried fault completes. */
	fault_inject_retry(1);
	assert_int_equal(aspace_write(to_aspace(to_mm(mm)), a + PG, &v, sizeof(v), &f), 0);
	fault_inject_retry(0);
	aspace_mm_destroy(mm);
}

static void test_shared_anon(void **state)
{
	struct aspace_mm *mm = new_mm(0, 0);
	long a = aspace_mmap(mm, 0, 2 * PG, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct aspace_fault f;
	struct aspace_stats st;
	char c = 's';

	assert_true(a > 0);
	assert_int_equal(aspace_write(mm, (unsigned long)a, &c, 1, &f), 0);
	stats(mm, &st);
	assert_int_equal(st.rss_shmem + st.rss_file, 1);
	aspace_mm_destroy(mm);
}

static void test_mremap_and_brk(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *mm = new_mm(0, 0);
	unsigned long a = map_anon(mm, 3 * PG, PROT_READ | PROT_WRITE);
	unsigned long blocker, b, brk0;
	struct aspace_fault f;
	long v, n;

	for (long i = 0; i < 3; i++)
		assert_int_equal(aspace_write(mm, a + i * PG + 8, &i, sizeof(i), &f), 0);
	/* Something right after it, so growing must move. */
	blocker = (unsigned long)aspace_mmap(mm, a + 3 * PG, PG, PROT_READ,
					     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	assert_int_equal(blocker, a + 3 * PG);
	n = aspace_mremap(mm, a, 3 * PG, 64 * PG, MREMAP_MAYMOVE, 0);
	assert_true(n > 0 && (unsigned long)n != a);
	b = (unsigned long)n;
	for (long i = 0; i < 3; i++) {
		assert_int_equal(aspace_read(mm, b + i * PG + 8, &v, sizeof(v), &f), 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(aspace_read(mm, a, &v, sizeof(v), &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_MAPERR);
	assert_int_equal(aspace_read(mm, b + 40 * PG, &v, sizeof(v), &f), 0);
	assert_int_equal(v, 0);
	/* Shrink in place drops the tail pages. */
	assert_int_equal(aspace_mremap(mm, b, 64 * PG, PG, 0, 0), (long)b);
	assert_int_equal(aspace_read(mm, b + PG, &v, sizeof(v), &f), -EFAULT);

	/* brk: shrinking frees the pages; growing again gives zeroes. */
	brk0 = aspace_brk(mm, 0);
	assert_int_equal(aspace_brk(mm, brk0 + 4 * PG), brk0 + 4 * PG);
	v = 99;
	assert_int_equal(aspace_write(mm, brk0 + 2 * PG, &v, sizeof(v), &f), 0);
	assert_int_equal(aspace_brk(mm, brk0), brk0);
	assert_int_equal(aspace_read(mm, brk0 + 2 * PG, &v, sizeof(v), &f), -EFAULT);
	assert_int_equal(aspace_brk(mm, brk0 + 4 * PG), brk0 + 4 * PG);
	assert_int_equal(aspace_read(mm, brk0 + 2 * PG, &v, sizeof(v), &f), 0);
	assert_int_equal(v, 0);
	aspace_mm_destroy(mm);
	assert_int_equal(default_free(), free0);
}

static void test_tables_shared_with_neighbours(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *mm = new_mm(0, 0);
	struct mm_mem *mem = mm_mem(to_mm(mm));
	/* Three single-page VMAs in one PTE table (different protections). */
	unsigned long a = map_anon(mm, 3 * PG, PROT_READ | PROT_WRITE);
	struct aspace_fault f;
	long v;

	assert_int_equal(aspace_mprotect(mm, a + PG, PG, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	for (long i = 0; i < 3; i++)
		assert_int_equal(aspace_write(mm, a + i * PG, &i, sizeof(i), &f), 0);
	assert_int_equal(atomic_load(&mem->nr_ptes), (a & ~(PMD_SIZE - 1)) ==
			 ((a + 3 * PG - 1) & ~(PMD_SIZE - 1)) ? 1 : 2);
	/* Unmapping the middle one keeps the table its neighbours use. */
	assert_int_equal(aspace_munmap(mm, a + PG, PG), 0);
	assert_true(atomic_load(&mem->nr_ptes) >= 1);
	assert_int_equal(aspace_read(mm, a, &v, sizeof(v), &f), 0);
	assert_int_equal(v, 0);
	assert_int_equal(aspace_read(mm, a + 2 * PG, &v, sizeof(v), &f), 0);
	assert_int_equal(v, 2);
	assert_int_equal(aspace_munmap(mm, a, PG), 0);
	assert_int_equal(aspace_read(mm, a + 2 * PG, &v, sizeof(v), &f), 0);
	assert_int_equal(v, 2);
	assert_int_equal(aspace_munmap(mm, a + 2 * PG, PG), 0);
	/* (The PMD/PUD tables at the top of the address space stay until
	 * exit: munmap passes task_size, not 0, as the ceiling.) */
	assert_int_equal(atomic_load(&mem->nr_ptes), 0);
	aspace_mm_destroy(mm);
	assert_int_equal(default_free(), free0);
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

static void test_guard_regions(void **state)
{
	unsigned long free0 = default_free();
	struct aspace_mm *mm = new_mm(0, 0), *child;
	unsigned long a = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	struct aspace_fault f = { 0 };
	struct aspace_stats st;
	long v = 7;

	assert_int_equal(aspace_write(mm, a + PG, &v, sizeof(v), &f), 0);
	assert_int_equal(aspace_write(mm, a + 2 * PG, &v, sizeof(v), &f), 0);
	/* Install over a mapped page: it is zapped, then guarded. */
	assert_int_equal(aspace_madvise(mm, a + PG, PG, MADV_GUARD_INSTALL), 0);
	aspace_mm_stats(mm, &st);
	assert_int_equal(st.rss_anon, 1);
	assert_int_equal(aspace_read(mm, a + PG + 8, &v, sizeof(v), &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SEGV_MAPERR);
	assert_int_equal(f.addr, a + PG + 8);
	assert_int_equal(aspace_touch(mm, a, 4 * PG, 1, &f), -EFAULT);
	assert_int_equal(f.addr, a + PG);
	/* DONTNEED keeps the guard; fork copies it. */
	assert_int_equal(aspace_madvise(mm, a, 4 * PG, MADV_DONTNEED), 0);
	assert_int_equal(aspace_write(mm, a + PG, &v, sizeof(v), &f), -EFAULT);
	assert_int_equal(aspace_fork(mm, &child), 0);
	assert_int_equal(aspace_read(child, a + PG, &v, sizeof(v), &f), -EFAULT);
	assert_int_equal(aspace_read(child, a, &v, sizeof(v), &f), 0);
	aspace_mm_destroy(child);
	/* Remove: the page reads zeroes again. */
	assert_int_equal(aspace_madvise(mm, a, 4 * PG, MADV_GUARD_REMOVE), 0);
	assert_int_equal(aspace_read(mm, a + PG, &v, sizeof(v), &f), 0);
	assert_int_equal(v, 0);
	/* munmap drops markers with the tables. */
	assert_int_equal(aspace_madvise(mm, a + 3 * PG, PG, MADV_GUARD_INSTALL), 0);
	assert_int_equal(aspace_munmap(mm, a, 4 * PG), 0);
	assert_int_equal(atomic_load(&mm_mem(to_mm(mm))->nr_ptes), 0);
	aspace_mm_destroy(mm);
	assert_int_equal(default_free(), free0);
}

/* ---- the lock rules are asserted (debug builds) ---- */

static struct aspace_mm *rule_mm;
static unsigned long rule_addr;

static void zap_without_lock(void *arg)
{
	struct mm_struct *mm = to_mm(rule_mm);

	unmap_page_range(mm, find_vma(mm, rule_addr), rule_addr, rule_addr + PG);
}

static void free_pgtables_read_locked(void *arg)
{
	struct mm_struct *mm = to_mm(rule_mm);

	mmap_read_lock(mm);
	free_pgtables(mm, 0, rule_addr, rule_addr + PG, 0);
}

static void fault_without_lock(void *arg)
{
	struct mm_struct *mm = to_mm(rule_mm);

	handle_mm_fault(find_vma(mm, rule_addr), rule_addr, FAULT_FLAG_WRITE, NULL);
}

static void test_lock_rules(void **state)
{
	rule_mm = new_mm(0, 0);
	rule_addr = map_anon(rule_mm, PG, PROT_READ | PROT_WRITE);
	assert_true(expect_abort(zap_without_lock, NULL, "mmap_assert_locked"));
	assert_true(expect_abort(free_pgtables_read_locked, NULL, "mmap_assert_write_locked"));
	assert_true(expect_abort(fault_without_lock, NULL, "mmap_assert_locked"));
	aspace_mm_destroy(rule_mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_page_then_write),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_cross_into_unmapped),
		cmocka_unit_test(test_across_vmas),
		cmocka_unit_test(test_dontneed),
		cmocka_unit_test(test_mprotect_and_munmap),
		cmocka_unit_test(test_populate),
		cmocka_unit_test(test_pool_exhaustion),
		cmocka_unit_test(test_vma_lock_counters),
		cmocka_unit_test(test_fault_retry),
		cmocka_unit_test(test_shared_anon),
		cmocka_unit_test(test_mremap_and_brk),
		cmocka_unit_test(test_tables_shared_with_neighbours),
		cmocka_unit_test(test_guard_regions),
		cmocka_unit_test(test_lock_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
