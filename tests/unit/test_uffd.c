/*
 * test_uffd.c: userfaultfd through the public calls: the API handshake,
 * register/unregister (advertised ioctls, errors, VMA split and merge),
 * each resolving ioctl's success, errno and partial-progress cases (COPY,
 * ZEROPAGE, CONTINUE, WRITEPROTECT, WAKE, MOVE), faults that block a thread
 * until another resolves them (missing, wp, minor, dontwake), SIGBUS mode,
 * the non-cooperative events (fork, remap, remove, unmap) blocking their
 * caller until read, release waking sleepers, and that frames come back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "testutil.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL
#define MODE_MISSING ASPACE_UFFDIO_REGISTER_MODE_MISSING
#define MODE_WP ASPACE_UFFDIO_REGISTER_MODE_WP
#define MODE_MINOR ASPACE_UFFDIO_REGISTER_MODE_MINOR
#define IOC(b) (1UL << ASPACE_UFFDIO_##b##_BIT)
#define BASIC_IOCTLS (IOC(COPY) | IOC(MOVE) | IOC(POISON) | IOC(WAKE) | IOC(ZEROPAGE))
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_EXCL (1ULL << 56)
#define PM_WP (1ULL << 57)

static struct aspace_mm *new_mm(void)
{
	struct aspace_config cfg = { .pool_bytes = 64UL << 20 };
	struct aspace_mm *mm = NULL;

	assert_int_equal(aspace_mm_create(&cfg, &mm), 0);
	return mm;
}

static unsigned long map_anon(struct aspace_mm *mm, unsigned long len)
{
	long a = aspace_mmap(mm, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(a > 0);
	return (unsigned long)a;
}

static uint64_t pagemap1(struct aspace_mm *mm, unsigned long addr)
{
	uint64_t e = 0;

	assert_int_equal(aspace_pagemap_read(mm, addr, 1, &e), 0);
	return e;
}

static int nr_vmas(struct aspace_mm *mm)
{
	struct aspace_stats st;

	aspace_mm_stats(mm, &st);
	return (int)st.nr_vmas;
}

/* ---- an access in another thread (it may block on the userfaultfd) ---- */

struct acc {
	pthread_t tid;
	struct aspace_mm *mm;
	unsigned long addr;
	char buf[16];
	size_t len;
	bool write;
	int ret;
	struct aspace_fault f;
	atomic_bool done;
};

static void *acc_main(void *arg)
{
	struct acc *a = arg;

	if (a->write)
		a->ret = aspace_write(a->mm, a->addr, a->buf, a->len, &a->f);
	else
		a->ret = aspace_read(a->mm, a->addr, a->buf, a->len, &a->f);
	atomic_store(&a->done, true);
	return NULL;
}

static void acc_start(struct acc *a, struct aspace_mm *mm, unsigned long addr, const char *data,
		      size_t len)
{
	memset(a, 0, sizeof(*a));
	a->mm = mm;
	a->addr = addr;
	a->len = len;
	a->write = data != NULL;
	if (data)
		memcpy(a->buf, data, len);
	assert_int_equal(pthread_create(&a->tid, NULL, acc_main, a), 0);
}

static void acc_join(struct acc *a)
{
	pthread_join(a->tid, NULL);
}

/* The next message must be a page fault at addr with flags. */
static void expect_fault(struct aspace_uffd *u, unsigned long addr, unsigned long flags)
{
	struct aspace_uffd_msg m;

	assert_int_equal(aspace_uffd_read(u, &m, 5000), 0);
	assert_int_equal(m.event, ASPACE_UFFD_EVENT_PAGEFAULT);
	assert_int_equal(m.address, addr);
	assert_int_equal(m.flags, flags);
}

static void expect_none(struct aspace_uffd *u)
{
	struct aspace_uffd_msg m;

	assert_int_equal(aspace_uffd_read(u, &m, 50), -EAGAIN);
}

/* ------------------------------------------------------------------ tests */

static void test_api(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u = NULL;

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, 1UL << 40, &u), -EINVAL);
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_PAGEFAULT_FLAG_WP |
							ASPACE_UFFD_FEATURE_MINOR_SHMEM |
							ASPACE_UFFD_FEATURE_MOVE,
					    &u),
			 0);
	/* A fresh context has nothing to say. */
	expect_none(u);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

static void test_register(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u, *v;
	unsigned long a = map_anon(mm, 8 * PG), ioctls = 0;
	int vmas = nr_vmas(mm);

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_create(mm, 0, &v), 0);
	/* Errors: misaligned, empty, no VMA, unknown mode, MINOR on anon. */
	assert_int_equal(aspace_uffd_register(u, a + 1, PG, MODE_MISSING, &ioctls), -EINVAL);
	assert_int_equal(aspace_uffd_register(u, a, 0, MODE_MISSING, &ioctls), -EINVAL);
	assert_int_equal(aspace_uffd_register(u, a, PG, 0, &ioctls), -EINVAL);
	assert_int_equal(aspace_uffd_register(u, a, PG, 8, &ioctls), -EINVAL);
	assert_int_equal(aspace_uffd_register(u, a + 64 * PG, PG, MODE_MISSING, &ioctls), -EINVAL);
	assert_int_equal(aspace_uffd_register(u, a, PG, MODE_MINOR, &ioctls), -EINVAL);

	/* The middle of the VMA: split into three. */
	assert_int_equal(aspace_uffd_register(u, a + 2 * PG, 2 * PG, MODE_MISSING, &ioctls), 0);
	assert_int_equal(ioctls, BASIC_IOCTLS);
	assert_int_equal(nr_vmas(mm), vmas + 2);
	assert_int_equal(aspace_uffd_register(u, a + 2 * PG, 2 * PG, MODE_MISSING | MODE_WP,
					      &ioctls),
			 0);
	assert_int_equal(ioctls, BASIC_IOCTLS | IOC(WRITEPROTECT));
	/* Owned by u: v may not take it. */
	assert_int_equal(aspace_uffd_register(v, a, 4 * PG, MODE_MISSING, &ioctls), -EBUSY);
	/* Unregistering merges the pieces back. */
	assert_int_equal(aspace_uffd_unregister(u, a + 1, PG), -EINVAL);
	assert_int_equal(aspace_uffd_unregister(u, a, 8 * PG), 0);
	assert_int_equal(nr_vmas(mm), vmas);
	assert_int_equal(aspace_uffd_register(v, a, 4 * PG, MODE_MISSING, &ioctls), 0);
	assert_int_equal(nr_vmas(mm), vmas + 1);
	/* Releasing v drops its registration too. */
	aspace_uffd_release(v);
	assert_int_equal(nr_vmas(mm), vmas);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

static void test_copy_errors(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 4 * PG), b = map_anon(mm, PG), done = 99;
	static char page[2 * PG];
	char got[2];

	(void)state;
	memset(page, 'a', sizeof(page));
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 4 * PG, MODE_MISSING, NULL), 0);
	assert_int_equal(aspace_uffd_copy(u, a + 1, page, PG, 0, &done), -EINVAL);
	assert_int_equal(done, 0);
	assert_int_equal(aspace_uffd_copy(u, a, page, 100, 0, &done), -EINVAL);
	assert_int_equal(aspace_uffd_copy(u, b, page, PG, 0, &done), -ENOENT);
	/* Beyond the registered VMA's end. */
	assert_int_equal(aspace_uffd_copy(u, a + 3 * PG, page, 2 * PG, 0, &done), -ENOENT);
	assert_int_equal(aspace_uffd_copy(u, a, page, PG, 7, &done), -EINVAL);
	assert_int_equal(aspace_uffd_copy(u, a, page, PG, 0, &done), 0);
	assert_int_equal(aspace_uffd_copy(u, a, page, PG, 0, &done), -EEXIST);
	assert_int_equal(done, 0);
	assert_int_equal(aspace_read(mm, a, got, 2, NULL), 0);
	assert_memory_equal(got, "aa", 2);
	/* A copy that stops at a present page: EAGAIN, with progress. */
	assert_int_equal(aspace_uffd_copy(u, a + 2 * PG, page, PG, 0, &done), 0);
	page[0] = 'd';
	assert_int_equal(aspace_uffd_copy(u, a + PG, page, 2 * PG, 0, &done), -EAGAIN);
	assert_int_equal(done, PG);
	assert_int_equal(aspace_read(mm, a + PG, got, 1, NULL), 0);
	assert_int_equal(got[0], 'd');
	/* WP mode needs WP registration. */
	assert_int_equal(aspace_uffd_copy(u, a + 3 * PG, page, PG, ASPACE_UFFDIO_MODE_WP, &done),
			 -EINVAL);
	/* The copied page is anonymous and exclusive. */
	assert_true(pagemap1(mm, a) & PM_PRESENT);
	assert_true(pagemap1(mm, a) & PM_EXCL);
	assert_int_equal(aspace_uffd_unregister(u, a, 4 * PG), 0);
	assert_int_equal(aspace_uffd_copy(u, a + 3 * PG, page, PG, 0, &done), -ENOENT);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

static void test_zeropage(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 2 * PG), done;
	char got[8];

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 2 * PG, MODE_MISSING, NULL), 0);
	assert_int_equal(aspace_uffd_zeropage(u, a, PG, ASPACE_UFFDIO_MODE_WP, &done), -EINVAL);
	assert_int_equal(aspace_uffd_zeropage(u, a, PG, 0, &done), 0);
	/* The shared zero page: present, not exclusive. */
	assert_true(pagemap1(mm, a) & PM_PRESENT);
	assert_false(pagemap1(mm, a) & PM_EXCL);
	assert_int_equal(aspace_uffd_zeropage(u, a, PG, 0, &done), -EEXIST);
	assert_int_equal(aspace_uffd_zeropage(u, a, 2 * PG, 0, &done), -EEXIST);
	assert_int_equal(aspace_read(mm, a, got, 8, NULL), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(got[i], 0);
	/* The first write COWs it into a private page. */
	assert_int_equal(aspace_write(mm, a, "w", 1, NULL), 0);
	assert_true(pagemap1(mm, a) & PM_EXCL);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* A read blocks until COPY resolves it; a write fault carries the write
 * flag and ZEROPAGE resolves it; the message address is page aligned
 * unless EXACT_ADDRESS. */
static void test_missing_blocks(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 4 * PG), done;
	static char page[PG];
	struct acc t;
	char got[2];

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 4 * PG, MODE_MISSING, NULL), 0);
	acc_start(&t, mm, a + PG + 10, NULL, 5);
	expect_fault(u, a + PG, 0);
	/* Still asleep: nothing resolved it yet. */
	usleep(20000);
	assert_false(atomic_load(&t.done));
	memcpy(page + 10, "hello", 5);
	assert_int_equal(aspace_uffd_copy(u, a + PG, page, PG, 0, &done), 0);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_memory_equal(t.buf, "hello", 5);
	/* Exactly one message per fault. */
	expect_none(u);

	acc_start(&t, mm, a + 2 * PG, "w", 1);
	expect_fault(u, a + 2 * PG, ASPACE_UFFD_PAGEFAULT_FLAG_WRITE);
	assert_int_equal(aspace_uffd_zeropage(u, a + 2 * PG, PG, 0, &done), 0);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_int_equal(aspace_read(mm, a + 2 * PG, got, 2, NULL), 0);
	assert_memory_equal(got, "w\0", 2);
	aspace_uffd_release(u);

	/* EXACT_ADDRESS: the faulting byte. */
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_EXACT_ADDRESS, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 4 * PG, MODE_MISSING, NULL), 0);
	acc_start(&t, mm, a + 3 * PG + 7, NULL, 1);
	expect_fault(u, a + 3 * PG + 7, 0);
	assert_int_equal(aspace_uffd_zeropage(u, a + 3 * PG, PG, 0, &done), 0);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* DONTWAKE leaves the faulter asleep until UFFDIO_WAKE covers it. */
static void test_dontwake_wake(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 2 * PG), done;
	static char page[PG];
	struct acc t;

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 2 * PG, MODE_MISSING, NULL), 0);
	acc_start(&t, mm, a + PG, NULL, 2);
	expect_fault(u, a + PG, 0);
	memcpy(page, "ok", 2);
	assert_int_equal(aspace_uffd_copy(u, a + PG, page, PG, ASPACE_UFFDIO_MODE_DONTWAKE, &done),
			 0);
	usleep(20000);
	assert_false(atomic_load(&t.done));
	/* A wake of another page does not wake it. */
	assert_int_equal(aspace_uffd_wake(u, a, PG), 0);
	usleep(20000);
	assert_false(atomic_load(&t.done));
	assert_int_equal(aspace_uffd_wake(u, a + 1, PG), -EINVAL);
	assert_int_equal(aspace_uffd_wake(u, a + PG, PG), 0);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_memory_equal(t.buf, "ok", 2);
	expect_none(u);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

static void test_sigbus(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 2 * PG), done;
	static char page[PG];
	struct aspace_fault f;
	char got[4];

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_SIGBUS, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 2 * PG, MODE_MISSING, NULL), 0);
	assert_int_equal(aspace_read(mm, a + 100, got, 4, &f), -EFAULT);
	assert_int_equal(f.code, ASPACE_FAULT_SIGBUS);
	assert_int_equal(f.addr, a + 100);
	expect_none(u);
	memcpy(page, "cpy", 3);
	assert_int_equal(aspace_uffd_copy(u, a, page, PG, 0, &done), 0);
	assert_int_equal(aspace_read(mm, a, got, 3, &f), 0);
	assert_memory_equal(got, "cpy", 3);
	assert_int_equal(aspace_touch(mm, a, 2 * PG, 0, &f), -EFAULT);
	assert_int_equal(f.addr, a + PG);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* WRITEPROTECT: reads go through, a write blocks with the wp flag until
 * the range is un-protected; ENOENT outside a WP registration; markers on
 * empty slots only with WP_UNPOPULATED; COPY in WP mode protects. */
static void test_writeprotect(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 3 * PG), b = map_anon(mm, PG), done;
	static char page[PG];
	struct acc t;
	char got[4];

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_PAGEFAULT_FLAG_WP |
							ASPACE_UFFD_FEATURE_WP_UNPOPULATED,
					    &u),
			 0);
	assert_int_equal(aspace_uffd_register(u, a, 3 * PG, MODE_WP | MODE_MISSING, NULL), 0);
	assert_int_equal(aspace_write(mm, b, "x", 1, NULL), 0);
	assert_int_equal(aspace_uffd_writeprotect(u, b, PG, ASPACE_UFFDIO_WRITEPROTECT_MODE_WP),
			 -ENOENT);
	assert_int_equal(aspace_uffd_writeprotect(u, a + 1, PG, ASPACE_UFFDIO_WRITEPROTECT_MODE_WP),
			 -EINVAL);
	assert_int_equal(aspace_uffd_writeprotect(u, a, PG,
						  ASPACE_UFFDIO_WRITEPROTECT_MODE_WP |
							  ASPACE_UFFDIO_WRITEPROTECT_MODE_DONTWAKE),
			 -EINVAL);

	memcpy(page, "data", 4);
	assert_int_equal(aspace_uffd_copy(u, a, page, PG, 0, &done), 0);
	assert_int_equal(aspace_uffd_writeprotect(u, a, PG, ASPACE_UFFDIO_WRITEPROTECT_MODE_WP), 0);
	assert_true(pagemap1(mm, a) & PM_WP);
	assert_int_equal(aspace_read(mm, a, got, 4, NULL), 0);
	assert_memory_equal(got, "data", 4);
	acc_start(&t, mm, a, "DATA", 4);
	expect_fault(u, a, ASPACE_UFFD_PAGEFAULT_FLAG_WRITE | ASPACE_UFFD_PAGEFAULT_FLAG_WP);
	usleep(20000);
	assert_false(atomic_load(&t.done));
	assert_int_equal(aspace_uffd_writeprotect(u, a, PG, 0), 0);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_int_equal(aspace_read(mm, a, got, 4, NULL), 0);
	assert_memory_equal(got, "DATA", 4);
	assert_false(pagemap1(mm, a) & PM_WP);

	/* WP_UNPOPULATED: a marker on an empty slot, gone again on "off". */
	assert_int_equal(aspace_uffd_writeprotect(u, a + PG, PG, ASPACE_UFFDIO_WRITEPROTECT_MODE_WP),
			 0);
	assert_int_equal(pagemap1(mm, a + PG) & (PM_PRESENT | PM_SWAP | PM_WP), PM_SWAP | PM_WP);
	assert_int_equal(aspace_uffd_writeprotect(u, a + PG, PG, 0), 0);
	assert_int_equal(pagemap1(mm, a + PG) & (PM_PRESENT | PM_SWAP | PM_WP), 0);

	/* COPY in WP mode: present and protected; the first write blocks. */
	memcpy(page, "snap", 4);
	assert_int_equal(aspace_uffd_copy(u, a + 2 * PG, page, PG, ASPACE_UFFDIO_MODE_WP, &done), 0);
	assert_true(pagemap1(mm, a + 2 * PG) & PM_WP);
	acc_start(&t, mm, a + 2 * PG, "S", 1);
	expect_fault(u, a + 2 * PG, ASPACE_UFFD_PAGEFAULT_FLAG_WRITE | ASPACE_UFFD_PAGEFAULT_FLAG_WP);
	assert_int_equal(aspace_uffd_writeprotect(u, a + 2 * PG, PG, 0), 0);
	acc_join(&t);
	assert_int_equal(aspace_read(mm, a + 2 * PG, got, 4, NULL), 0);
	assert_memory_equal(got, "Snap", 4);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* WP_ASYNC: a write to a protected page un-protects it itself, with no
 * message; empty slots get markers (WP_UNPOPULATED comes with it). */
static void test_wp_async(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 2 * PG);
	char got[2];

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_WP_ASYNC, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 2 * PG, MODE_WP, NULL), 0);
	assert_int_equal(aspace_write(mm, a, "a", 1, NULL), 0);
	assert_int_equal(aspace_uffd_writeprotect(u, a, 2 * PG, ASPACE_UFFDIO_WRITEPROTECT_MODE_WP),
			 0);
	assert_true(pagemap1(mm, a) & PM_WP);
	assert_int_equal(pagemap1(mm, a + PG) & (PM_SWAP | PM_WP), PM_SWAP | PM_WP);
	/* Neither write blocks: this thread would hang if one did. */
	assert_int_equal(aspace_write(mm, a, "b", 1, NULL), 0);
	assert_int_equal(aspace_write(mm, a + PG, "c", 1, NULL), 0);
	assert_false(pagemap1(mm, a) & PM_WP);
	assert_false(pagemap1(mm, a + PG) & PM_WP);
	assert_int_equal(aspace_read(mm, a, got, 1, NULL), 0);
	assert_int_equal(got[0], 'b');
	assert_int_equal(aspace_read(mm, a + PG, got, 1, NULL), 0);
	assert_int_equal(got[0], 'c');
	expect_none(u);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* MINOR on a shared memfd mapping: a cached page faults to the monitor,
 * CONTINUE maps it; CONTINUE's errno cases. */
static void test_minor_continue(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long s, a = map_anon(mm, PG), done, ioctls;
	int fd;
	struct acc t;
	char got[8];

	(void)state;
	fd = aspace_memfd_create(mm, "minor", 0);
	assert_true(fd >= 0);
	assert_int_equal(aspace_ftruncate(mm, fd, 3 * PG), 0);
	assert_int_equal(aspace_pwrite(mm, fd, "page0", 5, 0), 5);
	s = (unsigned long)aspace_mmap(mm, 0, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true((long)s > 0);
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_MINOR_SHMEM, &u), 0);
	assert_int_equal(aspace_uffd_register(u, s, 4 * PG, MODE_MINOR, &ioctls), 0);
	assert_int_equal(ioctls, BASIC_IOCTLS | IOC(CONTINUE));
	assert_int_equal(aspace_uffd_register(u, a, PG, MODE_MISSING, NULL), 0);
	/* CONTINUE is for memory with a page cache only. */
	assert_int_equal(aspace_uffd_continue(u, a, PG, 0, &done), -EINVAL);
	assert_int_equal(aspace_uffd_continue(u, s, PG, ASPACE_UFFDIO_MODE_WP, &done), -EINVAL);

	acc_start(&t, mm, s, NULL, 5);
	expect_fault(u, s, ASPACE_UFFD_PAGEFAULT_FLAG_MINOR);
	assert_int_equal(aspace_uffd_continue(u, s, PG, 0, &done), 0);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_memory_equal(t.buf, "page0", 5);
	assert_int_equal(aspace_uffd_continue(u, s, PG, 0, &done), -EEXIST);
	/* Not in the cache: EFAULT; beyond i_size: EINVAL. */
	assert_int_equal(aspace_uffd_continue(u, s + PG, PG, 0, &done), -EFAULT);
	assert_int_equal(aspace_uffd_continue(u, s + 3 * PG, PG, 0, &done), -EINVAL);
	/* A hole is filled without a fault under MINOR alone. */
	assert_int_equal(aspace_read(mm, s + 2 * PG, got, 1, NULL), 0);
	assert_int_equal(got[0], 0);
	expect_none(u);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* MINOR on a private mapping: CONTINUE maps the cache page read-only and a
 * write copies it: the file keeps its data. */
static void test_minor_private(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long p, done;
	int fd;
	struct acc t;
	char got[8];

	(void)state;
	fd = aspace_memfd_create(mm, "minorp", 0);
	assert_true(fd >= 0);
	assert_int_equal(aspace_ftruncate(mm, fd, PG), 0);
	assert_int_equal(aspace_pwrite(mm, fd, "shared", 6, 0), 6);
	p = (unsigned long)aspace_mmap(mm, 0, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	assert_true((long)p > 0);
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_MINOR_SHMEM, &u), 0);
	assert_int_equal(aspace_uffd_register(u, p, PG, MODE_MINOR, NULL), 0);
	acc_start(&t, mm, p, "X", 1);
	expect_fault(u, p, ASPACE_UFFD_PAGEFAULT_FLAG_WRITE | ASPACE_UFFD_PAGEFAULT_FLAG_MINOR);
	assert_int_equal(aspace_uffd_continue(u, p, PG, 0, &done), 0);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_int_equal(aspace_read(mm, p, got, 6, NULL), 0);
	assert_memory_equal(got, "Xhared", 6);
	assert_int_equal(aspace_pread(mm, fd, got, 6, 0), 6);
	assert_memory_equal(got, "shared", 6);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* COPY / ZEROPAGE into a shared memfd mapping fill the page cache. */
static void test_copy_shmem(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long s, s2, done;
	static char page[PG];
	char got[8];
	int fd;

	(void)state;
	fd = aspace_memfd_create(mm, "copy", 0);
	assert_true(fd >= 0);
	assert_int_equal(aspace_ftruncate(mm, fd, 2 * PG), 0);
	s = (unsigned long)aspace_mmap(mm, 0, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	s2 = (unsigned long)aspace_mmap(mm, 0, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, s, 3 * PG, MODE_MISSING, NULL), 0);
	assert_int_equal(aspace_uffd_register(u, s2, 2 * PG, MODE_MISSING, NULL), 0);
	memcpy(page, "cache", 5);
	assert_int_equal(aspace_uffd_copy(u, s, page, PG, 0, &done), 0);
	assert_int_equal(aspace_pread(mm, fd, got, 5, 0), 5);
	assert_memory_equal(got, "cache", 5);
	/* Beyond the file: EFAULT. */
	assert_int_equal(aspace_uffd_copy(u, s + 2 * PG, page, PG, 0, &done), -EFAULT);
	/* The page is in the cache: EEXIST through the other mapping too. */
	assert_int_equal(aspace_uffd_copy(u, s2, page, PG, 0, &done), -EEXIST);
	assert_int_equal(aspace_uffd_zeropage(u, s + PG, PG, 0, &done), 0);
	assert_int_equal(aspace_uffd_zeropage(u, s2 + PG, PG, 0, &done), -EEXIST);
	assert_int_equal(aspace_read(mm, s2, got, 5, NULL), 0);
	assert_memory_equal(got, "cache", 5);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

static void test_move(void **state)
{
	struct aspace_mm *mm = new_mm(), *child;
	struct aspace_uffd *u;
	unsigned long src = map_anon(mm, 4 * PG), dst = map_anon(mm, 4 * PG), done;
	char got[8];

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_MOVE, &u), 0);
	assert_int_equal(aspace_uffd_register(u, dst, 4 * PG, MODE_MISSING, NULL), 0);
	assert_int_equal(aspace_write(mm, src, "moving", 6, NULL), 0);
	assert_int_equal(aspace_uffd_move(u, dst, src, PG, 0, &done), 0);
	assert_int_equal(aspace_read(mm, dst, got, 6, NULL), 0);
	assert_memory_equal(got, "moving", 6);
	assert_false(pagemap1(mm, src) & PM_PRESENT);
	assert_true(pagemap1(mm, dst) & PM_EXCL);
	assert_int_equal(aspace_uffd_move(u, dst + PG, src + PG, PG, 0, &done), -ENOENT);
	assert_int_equal(aspace_uffd_move(u, dst + PG, src + PG, PG,
					  ASPACE_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, &done),
			 0);
	assert_int_equal(aspace_write(mm, src + 2 * PG, "x", 1, NULL), 0);
	assert_int_equal(aspace_uffd_move(u, dst, src + 2 * PG, PG, 0, &done), -EEXIST);
	assert_int_equal(aspace_uffd_move(u, dst + 2 * PG, src + 2 * PG + 1, PG, 0, &done), -EINVAL);
	/* Two pages where the second is a hole: partial progress. */
	assert_int_equal(aspace_uffd_move(u, dst + 2 * PG, src + 2 * PG, 2 * PG, 0, &done), -EAGAIN);
	assert_int_equal(done, PG);
	/* A page shared with a child is not ours to move. */
	assert_int_equal(aspace_write(mm, src + 3 * PG, "shared", 6, NULL), 0);
	assert_int_equal(aspace_fork(mm, &child), 0);
	assert_int_equal(aspace_uffd_move(u, dst + 3 * PG, src + 3 * PG, PG, 0, &done), -EBUSY);
	aspace_mm_destroy(child);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* ---- events: the caller blocks until the monitor read the event ---- */

struct call {
	pthread_t tid;
	struct aspace_mm *mm;
	int op; /* 0 munmap, 1 madvise dontneed, 2 fork, 3 mremap */
	unsigned long addr, len, to;
	struct aspace_mm *child;
	long ret;
	atomic_bool done;
};

static void *call_main(void *arg)
{
	struct call *c = arg;

	switch (c->op) {
	case 0:
		c->ret = aspace_munmap(c->mm, c->addr, c->len);
		break;
	case 1:
		c->ret = aspace_madvise(c->mm, c->addr, c->len, MADV_DONTNEED);
		break;
	case 2:
		c->ret = aspace_fork(c->mm, &c->child);
		break;
	case 3:
		c->ret = aspace_mremap(c->mm, c->addr, c->len, c->len, MREMAP_MAYMOVE | MREMAP_FIXED,
				       c->to);
		break;
	}
	atomic_store(&c->done, true);
	return NULL;
}

static void call_start(struct call *c, struct aspace_mm *mm, int op, unsigned long addr,
		       unsigned long len, unsigned long to)
{
	memset(c, 0, sizeof(*c));
	c->mm = mm;
	c->op = op;
	c->addr = addr;
	c->len = len;
	c->to = to;
	assert_int_equal(pthread_create(&c->tid, NULL, call_main, c), 0);
}

static void expect_event(struct aspace_uffd *u, struct call *c, int event, unsigned long addr,
			 unsigned long to, struct aspace_uffd_msg *out)
{
	struct aspace_uffd_msg m;

	assert_int_equal(aspace_uffd_read(u, &m, 5000), 0);
	assert_int_equal(m.event, event);
	if (event != ASPACE_UFFD_EVENT_FORK) {
		assert_int_equal(m.address, addr);
		assert_int_equal(m.to, to);
	}
	if (out)
		*out = m;
	(void)c;
}

static void test_events(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u, *cu;
	struct aspace_uffd_msg m;
	unsigned long a = map_anon(mm, 4 * PG), dest = map_anon(mm, 4 * PG), done;
	static char page[PG];
	struct call c;
	struct acc t;

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_EVENT_FORK |
							ASPACE_UFFD_FEATURE_EVENT_REMAP |
							ASPACE_UFFD_FEATURE_EVENT_REMOVE |
							ASPACE_UFFD_FEATURE_EVENT_UNMAP,
					    &u),
			 0);
	assert_int_equal(aspace_uffd_register(u, a, 4 * PG, MODE_MISSING, NULL), 0);

	/* fork: blocks until read; the child's faults go to the new uffd. */
	call_start(&c, mm, 2, 0, 0, 0);
	usleep(20000);
	assert_false(atomic_load(&c.done));
	expect_event(u, &c, ASPACE_UFFD_EVENT_FORK, 0, 0, &m);
	pthread_join(c.tid, NULL);
	assert_int_equal(c.ret, 0);
	cu = m.child;
	assert_non_null(cu);
	acc_start(&t, c.child, a, NULL, 3);
	expect_fault(cu, a, 0);
	memcpy(page, "kid", 3);
	assert_int_equal(aspace_uffd_copy(cu, a, page, PG, 0, &done), 0);
	acc_join(&t);
	assert_memory_equal(t.buf, "kid", 3);
	expect_none(u);
	aspace_mm_destroy(c.child);
	/* The child is gone: its uffd says ESRCH. */
	assert_int_equal(aspace_uffd_copy(cu, a, page, PG, 0, &done), -ESRCH);
	aspace_uffd_release(cu);

	/* mremap: REMAP, then UNMAP of the old range. */
	call_start(&c, mm, 3, a, 4 * PG, dest);
	expect_event(u, &c, ASPACE_UFFD_EVENT_REMAP, a, dest, &m);
	assert_int_equal(m.len, 4 * PG);
	expect_event(u, &c, ASPACE_UFFD_EVENT_UNMAP, a, a + 4 * PG, NULL);
	pthread_join(c.tid, NULL);
	assert_int_equal(c.ret, (long)dest);

	/* MADV_DONTNEED: REMOVE. */
	call_start(&c, mm, 1, dest, PG, 0);
	usleep(20000);
	assert_false(atomic_load(&c.done));
	expect_event(u, &c, ASPACE_UFFD_EVENT_REMOVE, dest, dest + PG, NULL);
	pthread_join(c.tid, NULL);
	assert_int_equal(c.ret, 0);

	/* munmap: UNMAP.  Until the monitor read it, the ioctls say EAGAIN
	 * (mmap_changing); before and after, this one says ENOENT (the range
	 * is not registered for WP). */
	assert_int_equal(aspace_uffd_writeprotect(u, dest + 2 * PG, PG, 0), -ENOENT);
	call_start(&c, mm, 0, dest + PG, PG, 0);
	{
		int r = -ENOENT;

		for (int i = 0; i < 5000 && r != -EAGAIN; i++) {
			r = aspace_uffd_writeprotect(u, dest + 2 * PG, PG, 0);
			if (r != -EAGAIN)
				usleep(1000);
		}
		assert_int_equal(r, -EAGAIN);
		assert_int_equal(aspace_uffd_zeropage(u, dest + 2 * PG, PG, 0, &done), -EAGAIN);
	}
	expect_event(u, &c, ASPACE_UFFD_EVENT_UNMAP, dest + PG, dest + 2 * PG, NULL);
	pthread_join(c.tid, NULL);
	assert_int_equal(c.ret, 0);
	assert_int_equal(aspace_uffd_writeprotect(u, dest + 2 * PG, PG, 0), -ENOENT);
	expect_none(u);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* A fork whose event is never read (the userfaultfd is closed while fork
 * waits) returns, and the child's registration goes with the context. */
static void test_fork_event_unread(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, PG);
	struct call c;
	struct acc t;

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_EVENT_FORK, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, PG, MODE_MISSING, NULL), 0);
	call_start(&c, mm, 2, 0, 0, 0);
	usleep(20000);
	assert_false(atomic_load(&c.done));
	aspace_uffd_release(u);
	pthread_join(c.tid, NULL);
	assert_int_equal(c.ret, 0);
	/* Neither process blocks on a missing page any more. */
	acc_start(&t, c.child, a, NULL, 1);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_int_equal(aspace_read(mm, a, t.buf, 1, NULL), 0);
	aspace_mm_destroy(c.child);
	aspace_mm_destroy(mm);
}

/* Without EVENT_FORK the child inherits neither registration nor wp bits;
 * without EVENT_REMAP a moved range loses its registration. */
static void test_no_event_features(void **state)
{
	struct aspace_mm *mm = new_mm(), *child;
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 2 * PG), dest = map_anon(mm, 2 * PG), done;
	static char page[PG];
	char got[1];

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, ASPACE_UFFD_FEATURE_PAGEFAULT_FLAG_WP, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 2 * PG, MODE_WP | MODE_MISSING, NULL), 0);
	assert_int_equal(aspace_uffd_copy(u, a, page, PG, ASPACE_UFFDIO_MODE_WP, &done), 0);
	assert_int_equal(aspace_fork(mm, &child), 0);
	assert_true(pagemap1(mm, a) & PM_WP);
	assert_false(pagemap1(child, a) & PM_WP);
	/* The child's missing page is no userfault: a zero page. */
	assert_int_equal(aspace_read(child, a + PG, got, 1, NULL), 0);
	aspace_mm_destroy(child);
	expect_none(u);
	assert_int_equal(aspace_mremap(mm, a, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dest),
			 (long)dest);
	assert_int_equal(aspace_uffd_copy(u, dest + PG, page, PG, 0, &done), -ENOENT);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

/* Closing the userfaultfd wakes a sleeping faulter, which then sees an
 * unregistered range (a zero page). */
static void test_release_wakes(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, PG);
	struct acc t;

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, PG, MODE_MISSING, NULL), 0);
	acc_start(&t, mm, a, NULL, 1);
	expect_fault(u, a, 0);
	aspace_uffd_release(u);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_int_equal(t.buf[0], 0);
	aspace_mm_destroy(mm);
}

/* UFFDIO_UNREGISTER wakes the faults waiting in the range: they retry
 * and find plain memory. */
static void test_unregister_wakes(void **state)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_uffd *u;
	unsigned long a = map_anon(mm, 2 * PG);
	struct acc t;

	(void)state;
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 2 * PG, MODE_MISSING, NULL), 0);
	acc_start(&t, mm, a + PG, "u", 1);
	expect_fault(u, a + PG, ASPACE_UFFD_PAGEFAULT_FLAG_WRITE);
	usleep(20000);
	assert_false(atomic_load(&t.done));
	assert_int_equal(aspace_uffd_unregister(u, a, 2 * PG), 0);
	acc_join(&t);
	assert_int_equal(t.ret, 0);
	assert_int_equal(aspace_read(mm, a + PG, t.buf, 1, NULL), 0);
	assert_int_equal(t.buf[0], 'u');
	expect_none(u);
	aspace_uffd_release(u);
	aspace_mm_destroy(mm);
}

static void test_no_leak(void **state)
{
	unsigned long free0, free1, total;
	struct aspace_mm *mm;
	struct aspace_uffd *u;
	unsigned long a, done;
	static char page[PG];
	long live0 = alloc_live();

	(void)state;
	mm = new_mm();
	aspace_pool_stats(mm, &free0, &total);
	a = map_anon(mm, 8 * PG);
	assert_int_equal(aspace_uffd_create(mm, 0, &u), 0);
	assert_int_equal(aspace_uffd_register(u, a, 8 * PG, MODE_MISSING, NULL), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(aspace_uffd_copy(u, a + i * PG, page, PG, 0, &done), 0);
	aspace_uffd_release(u);
	assert_int_equal(aspace_munmap(mm, a, 8 * PG), 0);
	test_rcu_barrier();
	aspace_pool_stats(mm, &free1, &total);
	/* The 8 copied frames are back (page tables may stay). */
	assert_true(free1 + 4 >= free0);
	aspace_mm_destroy(mm);
	test_rcu_barrier();
	/* Contexts and event records are freed (nothing more is live). */
	assert_true(alloc_live() <= live0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_copy_errors),
		cmocka_unit_test(test_zeropage),
		cmocka_unit_test(test_missing_blocks),
		cmocka_unit_test(test_dontwake_wake),
		cmocka_unit_test(test_sigbus),
		cmocka_unit_test(test_writeprotect),
		cmocka_unit_test(test_wp_async),
		cmocka_unit_test(test_minor_continue),
		cmocka_unit_test(test_minor_private),
		cmocka_unit_test(test_copy_shmem),
		cmocka_unit_test(test_move),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_fork_event_unread),
		cmocka_unit_test(test_no_event_features),
		cmocka_unit_test(test_release_wakes),
		cmocka_unit_test(test_unregister_wakes),
		cmocka_unit_test(test_no_leak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
