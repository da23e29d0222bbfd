/*
 * test_gup.c: GUP and long-term pinning (seed 003's selftest matrix on the
 * engine): R/O long-term pins stay coherent with the process across fork,
 * COW and writes in both orders; write pins break COW; the zero page and
 * page cache pages in private mappings are unshared; GUP-fast backs out to
 * the slow path where it cannot be sure; unpin restores the counts; every
 * frame comes back after teardown, pins outliving their mm included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "folio.h"
#include "gup.h"
#include "memory.h"
#include "mm.h"
#include "mm_mem.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "rcu.h"
#include "vma.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096UL
#define RO_LT (ASPACE_PIN_LONGTERM)
#define RW_LT (ASPACE_PIN_LONGTERM | ASPACE_PIN_WRITE)

static struct aspace_mm *new_mm(void)
{
	struct aspace_mm *mm = NULL;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	return mm;
}

static unsigned long map(struct aspace_mm *mm, unsigned long len, int prot, int flags,
			 int fd)
{
	long a = aspace_mmap(mm, 0, len, prot, flags, fd, 0);

	assert_true(a > 0);
	return (unsigned long)a;
}

static unsigned long map_anon(struct aspace_mm *mm, unsigned long len)
{
	return map(mm, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
}

static void put_byte(struct aspace_mm *mm, unsigned long addr, char c)
{
	assert_int_equal(aspace_write(mm, addr, &c, 1, NULL), 0);
}

static char get_byte(struct aspace_mm *mm, unsigned long addr)
{
	char c = 0;

	assert_int_equal(aspace_read(mm, addr, &c, 1, NULL), 0);
	return c;
}

static char pin_byte(struct aspace_pin *p, unsigned long off)
{
	char c = 0;

	assert_int_equal(aspace_pin_read(p, off, &c, 1), 0);
	return c;
}

static unsigned long default_free(void)
{
	unsigned long f, t;

	aspace_pool_stats(NULL, &f, &t);
	return f;
}

static pte_t pte_of(struct aspace_mm *amm, unsigned long addr)
{
	struct mm_mem *mem = mm_mem(to_mm(amm));
	pte_t *ptep, e = 0;

	rcu_read_lock();
	ptep = pte_offset_lockless(mem, addr);
	if (ptep)
		e = ptep_get(ptep);
	rcu_read_unlock();
	return e;
}

static struct page *page_of(struct aspace_mm *amm, unsigned long addr)
{
	pte_t e = pte_of(amm, addr);

	assert_true(pte_present(e));
	return pfn_to_page(mm_mem(to_mm(amm))->pool, pte_pfn(e));
}

static int pincount(struct page *p)
{
	return atomic_load(&p->_pincount);
}

/* ------------------------------------------------ seed 003's matrix */

/* Pin R/O long-term first, then fork: the parent keeps the pinned page
 * (fork copies it for the child), so the parent's writes reach the pin and
 * the child's never do. */
static void pin_then_fork(int pin_flags)
{
	struct aspace_mm *mm = new_mm(), *child;
	unsigned long a = map_anon(mm, PG);
	struct aspace_pin *p;
	struct page *pg;

	put_byte(mm, a, 'A');
	assert_int_equal(aspace_pin(mm, a, PG, pin_flags, &p), 0);
	pg = page_of(mm, a);
	assert_ptr_equal(pin_page(p, 0), pg);
	assert_int_equal(pincount(pg), 1);
	assert_true(PageAnonExclusive(pg));

	assert_int_equal(aspace_fork(mm, &child), 0);
	/* The child got its own copy at once; the parent kept the pinned one. */
	assert_ptr_equal(page_of(mm, a), pg);
	assert_ptr_not_equal(page_of(child, a), pg);
	assert_true(PageAnonExclusive(pg));
	assert_int_equal(get_byte(child, a), 'A');

	put_byte(mm, a, 'B');
	assert_ptr_equal(page_of(mm, a), pg); /* reused, not copied */
	assert_int_equal(pin_byte(p, 0), 'B');
	put_byte(child, a, 'C');
	assert_int_equal(pin_byte(p, 0), 'B');
	assert_int_equal(get_byte(mm, a), 'B');
	assert_int_equal(get_byte(child, a), 'C');

	aspace_unpin(p);
	assert_int_equal(pincount(pg), 0);
	aspace_mm_destroy(child);
	aspace_mm_destroy(mm);
}

static void test_ro_longterm_pin_then_fork(void **s)
{
	(void)s;
	pin_then_fork(RO_LT);
	pin_then_fork(RO_LT | ASPACE_PIN_FAST);
	pin_then_fork(RW_LT);
}

/* Fork first, then pin R/O long-term in the parent: the shared page must
 * be unshared (FAULT_FLAG_UNSHARE) so the parent's later write reuses the
 * pinned page instead of copying away from it. */
static void fork_then_pin(bool pin_in_child, int pin_flags)
{
	struct aspace_mm *mm = new_mm(), *child, *pinner, *other;
	unsigned long a = map_anon(mm, PG);
	struct aspace_pin *p;
	struct page *shared, *pg;

	put_byte(mm, a, 'A');
	assert_int_equal(aspace_fork(mm, &child), 0);
	pinner = pin_in_child ? child : mm;
	other = pin_in_child ? mm : child;
	shared = page_of(mm, a);
	assert_ptr_equal(page_of(child, a), shared);
	assert_false(PageAnonExclusive(shared));

	assert_int_equal(aspace_pin(pinner, a, PG, pin_flags, &p), 0);
	pg = page_of(pinner, a);
	assert_ptr_equal(pin_page(p, 0), pg);
	assert_ptr_not_equal(pg, shared); /* unshared: a private copy */
	assert_true(PageAnonExclusive(pg));
	assert_false(pte_write(pte_of(pinner, a))); /* unshare grants no write */
	assert_int_equal(pincount(pg), 1);
	assert_int_equal(pincount(shared), 0);

	put_byte(pinner, a, 'B');
	assert_ptr_equal(page_of(pinner, a), pg);
	assert_int_equal(pin_byte(p, 0), 'B');
	assert_int_equal(get_byte(other, a), 'A');
	put_byte(other, a, 'C');
	assert_int_equal(pin_byte(p, 0), 'B');
	assert_int_equal(get_byte(pinner, a), 'B');

	aspace_unpin(p);
	aspace_mm_destroy(child);
	aspace_mm_destroy(mm);
}

static void test_fork_then_ro_longterm_pin(void **s)
{
	(void)s;
	fork_then_pin(false, RO_LT);
	fork_then_pin(true, RO_LT);
	fork_then_pin(false, RO_LT | ASPACE_PIN_FAST);
	fork_then_pin(true, RO_LT | ASPACE_PIN_FAST);
	/* Anon pages are unshared for any R/O FOLL_PIN, long-term or not. */
	fork_then_pin(false, 0);
	fork_then_pin(true, ASPACE_PIN_FAST);
}

/* FOLL_GET (get_user_pages) makes no promise: the page stays shared, and
 * the parent's write copies away from the reference (the behaviour seed
 * 003 leaves to FOLL_GET users). */
static void test_foll_get_is_not_coherent(void **s)
{
	struct aspace_mm *mm = new_mm(), *child;
	unsigned long a = map_anon(mm, PG);
	struct aspace_pin *p;
	struct page *shared;
	int ref;

	(void)s;
	put_byte(mm, a, 'A');
	assert_int_equal(aspace_fork(mm, &child), 0);
	shared = page_of(mm, a);
	ref = folio_ref_count(page_folio(shared));
	assert_int_equal(aspace_pin(mm, a, PG, ASPACE_PIN_GET, &p), 0);
	assert_ptr_equal(pin_page(p, 0), shared);
	assert_int_equal(folio_ref_count(page_folio(shared)), ref + 1);
	assert_int_equal(pincount(shared), 0);
	put_byte(mm, a, 'B');
	assert_ptr_not_equal(page_of(mm, a), shared);
	assert_int_equal(pin_byte(p, 0), 'A');
	/* Now only the child's PTE and the reference hold the old page. */
	assert_ptr_equal(page_of(child, a), shared);
	assert_int_equal(folio_ref_count(page_folio(shared)), ref);
	aspace_unpin(p);
	assert_int_equal(folio_ref_count(page_folio(shared)), ref - 1);
	assert_int_equal(aspace_pin(mm, a, PG, ASPACE_PIN_GET | ASPACE_PIN_LONGTERM, &p),
			 -EINVAL);
	aspace_mm_destroy(child);
	aspace_mm_destroy(mm);
}

/* A write pin after fork breaks COW: the device and the parent share one
 * page, the child keeps the old data. */
static void test_write_pin_breaks_cow(void **s)
{
	struct aspace_mm *mm = new_mm(), *child;
	unsigned long a = map_anon(mm, 2 * PG);
	struct aspace_pin *p;
	struct page *shared;

	(void)s;
	put_byte(mm, a, 'A');
	put_byte(mm, a + PG, 'a');
	assert_int_equal(aspace_fork(mm, &child), 0);
	shared = page_of(mm, a);
	assert_int_equal(aspace_pin(mm, a, 2 * PG, RW_LT | ASPACE_PIN_FAST, &p), 0);
	assert_ptr_not_equal(page_of(mm, a), shared);
	assert_ptr_equal(pin_page(p, 0), page_of(mm, a));
	assert_true(pte_write(pte_of(mm, a)));
	assert_true(PageAnonExclusive(pin_page(p, 1)));
	assert_int_equal(aspace_pin_write(p, 0, "D", 1), 0);
	assert_int_equal(aspace_pin_write(p, PG, "d", 1), 0);
	assert_int_equal(get_byte(mm, a), 'D');
	assert_int_equal(get_byte(mm, a + PG), 'd');
	assert_int_equal(get_byte(child, a), 'A');
	assert_int_equal(get_byte(child, a + PG), 'a');
	put_byte(mm, a, 'E');
	assert_int_equal(pin_byte(p, 0), 'E');
	aspace_unpin(p);
	aspace_mm_destroy(child);
	aspace_mm_destroy(mm);
}

/* The shared zero page: a R/O long-term pin unshares it into an anon page
 * (later writes reuse it); a short-term R/O pin takes the zero page itself
 * without counting it. */
static void test_zero_page(void **s)
{
	struct aspace_mm *mm = new_mm();
	struct mm_mem *mem = mm_mem(to_mm(mm));
	unsigned long a = map_anon(mm, 2 * PG);
	struct aspace_pin *p, *q;
	struct page *zero, *pg;
	int zref;

	(void)s;
	assert_int_equal(get_byte(mm, a), 0);
	assert_int_equal(get_byte(mm, a + PG), 0);
	zero = page_of(mm, a);
	assert_true(is_zero_pfn(mem->pool, page_to_pfn(zero)));
	zref = folio_ref_count(page_folio(zero));

	/* Short-term R/O: the zero page, uncounted. */
	assert_int_equal(aspace_pin(mm, a + PG, PG, 0, &q), 0);
	assert_ptr_equal(pin_page(q, 0), zero);
	assert_int_equal(folio_ref_count(page_folio(zero)), zref);
	assert_int_equal(pincount(zero), 0);
	assert_int_equal(aspace_pin_write(q, 0, "x", 1), -EPERM);
	aspace_unpin(q);

	/* Long-term R/O: unshared (GUP-fast backs off, the slow path unshares). */
	assert_int_equal(aspace_pin(mm, a, PG, RO_LT | ASPACE_PIN_FAST, &p), 0);
	pg = page_of(mm, a);
	assert_ptr_not_equal(pg, zero);
	assert_ptr_equal(pin_page(p, 0), pg);
	assert_true(folio_test_anon(page_folio(pg)));
	assert_true(PageAnonExclusive(pg));
	assert_false(pte_write(pte_of(mm, a)));
	assert_int_equal(pin_byte(p, 0), 0);
	put_byte(mm, a, 'Z');
	assert_ptr_equal(page_of(mm, a), pg);
	assert_int_equal(pin_byte(p, 0), 'Z');
	/* The second page is still the zero page. */
	assert_ptr_equal(page_of(mm, a + PG), zero);
	assert_int_equal(folio_ref_count(page_folio(zero)), zref);
	aspace_unpin(p);
	aspace_mm_destroy(mm);
}

/* Page cache pages: a R/O long-term pin in a private mapping unshares
 * (the pin sees the process's later writes, the file never changes); in
 * a shared mapping it pins the page cache page itself. */
static void test_page_cache_private_and_shared(void **s)
{
	struct aspace_mm *mm = new_mm();
	struct aspace_pin *p, *q, *r;
	unsigned long priv, ro, shared;
	struct page *cache;
	char buf[8] = { 0 };
	int fd;

	(void)s;
	fd = aspace_memfd_create(mm, "gup", 0);
	assert_true(fd >= 0);
	assert_int_equal(aspace_ftruncate(mm, fd, PG), 0);
	assert_int_equal(aspace_pwrite(mm, fd, "file", 4, 0), 4);
	priv = map(mm, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
	ro = map(mm, PG, PROT_READ, MAP_PRIVATE, fd);
	shared = map(mm, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);

	/* Map the page cache page read-only in all three. */
	assert_int_equal(get_byte(mm, priv), 'f');
	assert_int_equal(get_byte(mm, ro), 'f');
	assert_int_equal(get_byte(mm, shared), 'f');
	cache = page_of(mm, shared);
	assert_ptr_equal(page_of(mm, priv), cache);
	assert_false(folio_test_anon(page_folio(cache)));

	/* Private R/W mapping: unshare into an anon copy. */
	assert_int_equal(aspace_pin(mm, priv, PG, RO_LT, &p), 0);
	assert_ptr_not_equal(pin_page(p, 0), cache);
	assert_ptr_equal(pin_page(p, 0), page_of(mm, priv));
	assert_true(folio_test_anon(page_folio(pin_page(p, 0))));
	assert_int_equal(pin_byte(p, 0), 'f');
	put_byte(mm, priv, 'P');
	assert_int_equal(pin_byte(p, 0), 'P');
	assert_int_equal(aspace_pread(mm, fd, buf, 4, 0), 4);
	assert_memory_equal(buf, "file", 4);

	/* Private R/O mapping is a COW mapping too (VM_MAYWRITE). */
	assert_int_equal(aspace_pin(mm, ro, PG, RO_LT | ASPACE_PIN_FAST, &q), 0);
	assert_ptr_not_equal(pin_page(q, 0), cache);
	assert_ptr_equal(pin_page(q, 0), page_of(mm, ro));
	/* ...and a write pin of it is EFAULT (no FOLL_FORCE). */
	assert_int_equal(aspace_pin(mm, ro, PG, RW_LT, &r), -EFAULT);

	/* Shared mapping: the page cache page itself. */
	assert_int_equal(aspace_pin(mm, shared, PG, RO_LT | ASPACE_PIN_FAST, &r), 0);
	assert_ptr_equal(pin_page(r, 0), cache);
	assert_int_equal(pincount(cache), 1);
	assert_int_equal(aspace_pwrite(mm, fd, "new!", 4, 0), 4);
	assert_int_equal(pin_byte(r, 0), 'n');
	aspace_unpin(r);
	assert_int_equal(pincount(cache), 0);

	/* A short-term R/O pin in a private mapping does not unshare page
	 * cache pages (only long-term pins must). */
	{
		unsigned long priv2 = map(mm, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);

		assert_int_equal(get_byte(mm, priv2), 'n');
		assert_int_equal(aspace_pin(mm, priv2, PG, 0, &r), 0);
		assert_ptr_equal(pin_page(r, 0), cache);
		aspace_unpin(r);
	}

	aspace_unpin(p);
	aspace_unpin(q);
	assert_int_equal(aspace_close(mm, fd), 0);
	aspace_mm_destroy(mm);
}

/* ---------------------------------------------------------- GUP-fast */

static void test_gup_fast_backs_out(void **s)
{
	struct aspace_mm *amm = new_mm(), *child;
	struct mm_struct *mm = to_mm(amm);
	unsigned long a = map_anon(amm, 4 * PG);
	struct page *pages[4];
	struct aspace_pin *p;
	unsigned long fb;

	(void)s;
	/* Nothing mapped: nothing grabbed. */
	assert_int_equal(gup_fast(mm, a, 4, FOLL_PIN, pages), 0);

	/* Two written pages, then a hole: the walk stops at the hole. */
	put_byte(amm, a, 1);
	put_byte(amm, a + PG, 2);
	assert_int_equal(gup_fast(mm, a, 4, FOLL_PIN | FOLL_WRITE | FOLL_LONGTERM, pages), 2);
	assert_int_equal(pincount(pages[0]), 1);
	assert_int_equal(pincount(pages[1]), 1);
	unpin_user_page(pages[0]);
	unpin_user_page(pages[1]);
	assert_int_equal(pincount(pages[0]), 0);

	/* The zero page: short-term R/O yes, long-term no. */
	assert_int_equal(get_byte(amm, a + 2 * PG), 0);
	assert_int_equal(gup_fast(mm, a + 2 * PG, 1, FOLL_PIN, pages), 1);
	assert_int_equal(gup_fast(mm, a + 2 * PG, 1, FOLL_PIN | FOLL_LONGTERM, pages), 0);

	/* Shared after fork: R/O pin must unshare, write pin needs a
	 * writable entry: both back out; FOLL_GET does not care. */
	assert_int_equal(aspace_fork(amm, &child), 0);
	assert_false(pte_write(pte_of(amm, a)));
	assert_int_equal(gup_fast(mm, a, 1, FOLL_PIN, pages), 0);
	assert_int_equal(gup_fast(mm, a, 1, FOLL_PIN | FOLL_WRITE, pages), 0);
	assert_int_equal(gup_fast(mm, a, 2, FOLL_GET, pages), 2);
	assert_int_equal(pincount(pages[0]), 0);
	put_user_page_ref(pages[0]);
	put_user_page_ref(pages[1]);

	/* The public call falls back to the slow path and succeeds. */
	fb = atomic_load(&gup_stats.fast_fallbacks);
	assert_int_equal(aspace_pin(amm, a, 2 * PG, RO_LT | ASPACE_PIN_FAST, &p), 0);
	assert_true(atomic_load(&gup_stats.fast_fallbacks) > fb);
	assert_true(PageAnonExclusive(pin_page(p, 0)));
	assert_true(PageAnonExclusive(pin_page(p, 1)));
	aspace_unpin(p);

	/* Now exclusive: GUP-fast can take them. */
	assert_int_equal(gup_fast(mm, a, 2, FOLL_PIN | FOLL_LONGTERM, pages), 2);
	unpin_user_page(pages[0]);
	unpin_user_page(pages[1]);

	/* While fork write-protects (write_protect_seq odd) FOLL_PIN backs
	 * out entirely; FOLL_GET needs no such care. */
	mmap_write_lock(mm);
	mm_write_protect_begin(mm);
	assert_int_equal(gup_fast(mm, a, 2, FOLL_PIN | FOLL_LONGTERM, pages), 0);
	assert_int_equal(gup_fast(mm, a, 1, FOLL_GET, pages), 1);
	put_user_page_ref(pages[0]);
	mm_write_protect_end(mm);
	mmap_write_unlock(mm);

	/* PROT_NONE: GUP-fast backs out, the slow path says EFAULT. */
	assert_int_equal(aspace_mprotect(amm, a, PG, PROT_NONE), 0);
	assert_int_equal(gup_fast(mm, a, 1, FOLL_GET, pages), 0);
	assert_int_equal(aspace_pin(amm, a, PG, ASPACE_PIN_FAST, &p), -EFAULT);

	aspace_mm_destroy(child);
	aspace_mm_destroy(amm);
}

/* ----------------------------------------------- errors and counting */

static void test_errors(void **s)
{
	struct aspace_mm *mm = new_mm();
	unsigned long a = map_anon(mm, 4 * PG);
	struct aspace_pin *p;
	struct page *pg;
	char buf[8];

	(void)s;
	put_byte(mm, a, 1);
	pg = page_of(mm, a);
	assert_int_equal(aspace_munmap(mm, a + 2 * PG, PG), 0);
	/* A hole in the range: EFAULT, and nothing stays pinned. */
	assert_int_equal(aspace_pin(mm, a, 4 * PG, RW_LT, &p), -EFAULT);
	assert_int_equal(pincount(pg), 0);
	assert_int_equal(aspace_pin(mm, a + 2 * PG, PG, RW_LT | ASPACE_PIN_FAST, &p), -EFAULT);
	assert_int_equal(aspace_pin(mm, a, 0, RW_LT, &p), -EINVAL);
	assert_int_equal(aspace_pin(mm, a, PG, 0x100, &p), -EINVAL);
	assert_int_equal(aspace_pin(mm, ~0UL - PG, 2 * PG, 0, &p), -EOVERFLOW);
	/* Beyond the user address space: EFAULT, GUP-fast never walks there. */
	assert_int_equal(aspace_pin(mm, 1UL << 47, PG, ASPACE_PIN_FAST, &p), -EFAULT);
	assert_int_equal(aspace_pin(mm, 1UL << 50, PG, ASPACE_PIN_FAST | RW_LT, &p), -EFAULT);
	/* Permissions: write pin of R/O, any pin of PROT_NONE. */
	assert_int_equal(aspace_mprotect(mm, a + PG, PG, PROT_READ), 0);
	assert_int_equal(aspace_pin(mm, a + PG, PG, RW_LT, &p), -EFAULT);
	assert_int_equal(aspace_pin(mm, a + PG, PG, RO_LT, &p), 0);
	assert_int_equal(aspace_pin_write(p, 0, "x", 1), -EPERM);
	assert_int_equal(aspace_pin_read(p, PG - 4, buf, 8), -EINVAL);
	assert_int_equal(aspace_pin_read(p, PG + 1, buf, 0), -EINVAL);
	assert_int_equal(aspace_pin_read(p, PG - 4, buf, 4), 0);
	aspace_unpin(p);
	assert_int_equal(aspace_mprotect(mm, a + 3 * PG, PG, PROT_NONE), 0);
	assert_int_equal(aspace_pin(mm, a + 3 * PG, PG, 0, &p), -EFAULT);
	aspace_mm_destroy(mm);
}

/* An unaligned range: offsets are from addr, pages cover it. */
static void test_unaligned_range(void **s)
{
	struct aspace_mm *mm = new_mm();
	unsigned long a = map_anon(mm, 3 * PG);
	struct aspace_pin *p;
	char buf[10];

	(void)s;
	assert_int_equal(aspace_write(mm, a + PG - 5, "0123456789", 10, NULL), 0);
	assert_int_equal(aspace_pin(mm, a + PG - 5, 10, RW_LT, &p), 0);
	assert_ptr_equal(pin_page(p, 0), page_of(mm, a));
	assert_ptr_equal(pin_page(p, 1), page_of(mm, a + PG));
	assert_null(pin_page(p, 2));
	assert_int_equal(aspace_pin_read(p, 0, buf, 10), 0);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(aspace_pin_write(p, 3, "abcd", 4), 0);
	assert_int_equal(aspace_read(mm, a + PG - 5, buf, 10, NULL), 0);
	assert_memory_equal(buf, "012abcd789", 10);
	aspace_unpin(p);
	aspace_mm_destroy(mm);
}

/* unpin restores refcount and pincount exactly; two pins stack. */
static void test_unpin_restores_counts(void **s)
{
	struct aspace_mm *mm = new_mm();
	unsigned long a = map_anon(mm, PG);
	struct aspace_pin *p, *q;
	struct page *pg;
	int ref;

	(void)s;
	put_byte(mm, a, 1);
	pg = page_of(mm, a);
	ref = folio_ref_count(page_folio(pg));
	assert_false(folio_maybe_dma_pinned(page_folio(pg)));
	assert_int_equal(aspace_pin(mm, a, PG, RW_LT, &p), 0);
	assert_int_equal(aspace_pin(mm, a, PG, RO_LT | ASPACE_PIN_FAST, &q), 0);
	assert_int_equal(pincount(pg), 2);
	assert_int_equal(folio_ref_count(page_folio(pg)), ref + 2);
	assert_true(folio_maybe_dma_pinned(page_folio(pg)));
	aspace_unpin(q);
	assert_int_equal(pincount(pg), 1);
	aspace_unpin(p);
	assert_int_equal(pincount(pg), 0);
	assert_int_equal(folio_ref_count(page_folio(pg)), ref);
	aspace_unpin(NULL);
	aspace_mm_destroy(mm);
}

/* mprotect(R), mprotect(RW) and a write reuse the pinned page; a
 * MADV_DONTNEED leaves the pin its page and gives the process a new one. */
static void test_mprotect_and_dontneed(void **s)
{
	struct aspace_mm *mm = new_mm();
	unsigned long a = map_anon(mm, PG);
	struct aspace_pin *p;
	struct page *pg;

	(void)s;
	put_byte(mm, a, 1);
	assert_int_equal(aspace_pin(mm, a, PG, RW_LT, &p), 0);
	pg = pin_page(p, 0);
	assert_int_equal(aspace_mprotect(mm, a, PG, PROT_READ), 0);
	assert_int_equal(aspace_mprotect(mm, a, PG, PROT_READ | PROT_WRITE), 0);
	put_byte(mm, a, 7);
	assert_ptr_equal(page_of(mm, a), pg);
	assert_int_equal(pin_byte(p, 0), 7);
	assert_int_equal(aspace_madvise(mm, a, PG, MADV_DONTNEED), 0);
	assert_int_equal(get_byte(mm, a), 0);
	assert_int_equal(pin_byte(p, 0), 7);
	aspace_unpin(p);
	aspace_mm_destroy(mm);
}

/* Every frame comes back: pins released before teardown, and a pin that
 * outlives munmap and its mm (the device still holds the frame). */
static void test_pool_balance(void **s)
{
	unsigned long before;
	struct aspace_mm *mm, *child;
	struct aspace_pin *p, *q;
	unsigned long a;

	(void)s;
	before = default_free();
	mm = new_mm();
	a = map_anon(mm, 8 * PG);
	assert_int_equal(aspace_write(mm, a, "pinned", 6, NULL), 0);
	assert_int_equal(aspace_pin(mm, a, 8 * PG, RW_LT | ASPACE_PIN_FAST, &p), 0);
	assert_int_equal(aspace_pin(mm, a, 2 * PG, RO_LT, &q), 0);
	assert_int_equal(aspace_fork(mm, &child), 0);
	aspace_unpin(q);
	assert_int_equal(aspace_munmap(mm, a, 8 * PG), 0);
	/* The device still sees the data after munmap... */
	assert_int_equal(pin_byte(p, 0), 'p');
	aspace_mm_destroy(child);
	aspace_mm_destroy(mm);
	/* ...and after the mm is gone. */
	assert_int_equal(pin_byte(p, 5), 'd');
	assert_true(default_free() < before);
	aspace_unpin(p);
	assert_int_equal(default_free(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ro_longterm_pin_then_fork),
		cmocka_unit_test(test_fork_then_ro_longterm_pin),
		cmocka_unit_test(test_foll_get_is_not_coherent),
		cmocka_unit_test(test_write_pin_breaks_cow),
		cmocka_unit_test(test_zero_page),
		cmocka_unit_test(test_page_cache_private_and_shared),
		cmocka_unit_test(test_gup_fast_backs_out),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_unaligned_range),
		cmocka_unit_test(test_unpin_restores_counts),
		cmocka_unit_test(test_mprotect_and_dontneed),
		cmocka_unit_test(test_pool_balance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
