/*
 * test_errno: every bad argument of mmap, munmap, mprotect, mremap and brk
 * gets Linux's errno.  Each case states the errno it expects and runs on
 * both the engine and the host kernel (inside an arena of this process), so
 * a kernel that disagrees with the table shows up too.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 3
#endif

enum call { MMAP, MUNMAP, MPROTECT, MREMAP };

struct errcase {
	const char *what;
	enum call call;
	long off;        /* address: arena + off pages (or raw when raw) */
	int raw;
	unsigned long len, len2;
	int prot, flags;
	long off2;       /* mremap new address, arena-relative pages */
	int expect;      /* errno, or 0 for success */
};

#define PG(n) ((n) * 4096L)

static const struct errcase cases[] = {
	{ "mmap len 0", MMAP, 0, 1, 0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, EINVAL },
	{ "mmap neither shared nor private", MMAP, 0, 1, PG(1), 0, PROT_READ, MAP_ANONYMOUS, 0, EINVAL },
	{ "mmap shared|private anonymous", MMAP, 0, 1, PG(1), 0, PROT_READ, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS, 0, EINVAL },
	{ "mmap fixed unaligned", MMAP, 0, 1, PG(1), 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0, EINVAL },
	{ "mmap length overflows", MMAP, 0, 1, -1UL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, ENOMEM },
	{ "mmap length beyond task size", MMAP, 0, 1, 1UL << 48, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, ENOMEM },
	{ "mmap fixed beyond task size", MMAP, 0, 1, PG(1), 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0, ENOMEM },
	{ "mmap fixed_noreplace over mapping", MMAP, 4, 0, PG(2), 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, 0, EEXIST },
	{ "mmap file without fd", MMAP, 0, 1, PG(1), 0, PROT_READ, MAP_PRIVATE, 0, EBADF },
	{ "munmap unaligned", MUNMAP, 0, 1, PG(1), 0, 0, 0, 0, EINVAL },
	{ "munmap len 0", MUNMAP, 4, 0, 0, 0, 0, 0, 0, EINVAL },
	{ "munmap beyond task size", MUNMAP, 0, 1, PG(4), 0, 0, 0, 0, EINVAL },
	{ "munmap nothing mapped", MUNMAP, 40, 0, PG(2), 0, 0, 0, 0, 0 },
	{ "mprotect unaligned", MPROTECT, 0, 1, PG(1), 0, PROT_READ, 0, 0, EINVAL },
	{ "mprotect len 0", MPROTECT, 4, 0, 0, 0, PROT_READ, 0, 0, 0 },
	{ "mprotect bad prot", MPROTECT, 4, 0, PG(1), 0, 0x100, 0, 0, EINVAL },
	{ "mprotect growsdown|growsup", MPROTECT, 4, 0, PG(1), 0, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP, 0, 0, EINVAL },
	{ "mprotect unmapped", MPROTECT, 40, 0, PG(1), 0, PROT_READ, 0, 0, ENOMEM },
	{ "mprotect into a hole", MPROTECT, 4, 0, PG(40), 0, PROT_READ, 0, 0, ENOMEM },
	{ "mprotect wraps", MPROTECT, 4, 0, -PG(1), 0, PROT_READ, 0, 0, ENOMEM },
	{ "mremap unknown flag", MREMAP, 4, 0, PG(1), PG(1), 0, 8, 0, EINVAL },
	{ "mremap unaligned", MREMAP, 0, 1, PG(1), PG(1), 0, 0, 0, EINVAL },
	{ "mremap new_len 0", MREMAP, 4, 0, PG(1), 0, 0, 0, 0, EINVAL },
	{ "mremap fixed without maymove", MREMAP, 4, 0, PG(1), PG(1), 0, MREMAP_FIXED, 20, EINVAL },
	{ "mremap dontunmap without maymove", MREMAP, 4, 0, PG(1), PG(1), 0, MREMAP_DONTUNMAP, 20, EINVAL },
	{ "mremap dontunmap resize", MREMAP, 4, 0, PG(1), PG(2), 0, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, 20, EINVAL },
	{ "mremap fixed overlapping", MREMAP, 4, 0, PG(2), PG(2), 0, MREMAP_FIXED | MREMAP_MAYMOVE, 5, EINVAL },
	{ "mremap fixed unaligned target", MREMAP, 4, 0, PG(1), PG(1), 0, MREMAP_FIXED | MREMAP_MAYMOVE, -1, EINVAL },
	{ "mremap unmapped", MREMAP, 40, 0, PG(1), PG(2), 0, 0, 0, EFAULT },
	{ "mremap grow past the VMA", MREMAP, 4, 0, PG(8), PG(9), 0, MREMAP_MAYMOVE, 0, EFAULT },
	{ "mremap grow in place blocked", MREMAP, 4, 0, PG(2), PG(8), 0, 0, 0, ENOMEM },
	{ "mremap private old_len 0", MREMAP, 4, 0, 0, PG(1), 0, MREMAP_MAYMOVE, 0, EINVAL },
	{ "mremap same size", MREMAP, 4, 0, PG(2), PG(2), 0, 0, 0, 0 },
	{ "mremap shrink across a hole", MREMAP, 4, 0, PG(40), PG(1), 0, 0, 0, 0 },
};

/* Arena layout: pages 4..6 rw, 6..8 r (two VMAs), the rest unmapped. */
static unsigned long layout(struct aspace_mm *mm, int kernel, unsigned long base)
{
	if (kernel) {
		munmap((void *)base, PG(64));
		mmap((void *)(base + PG(4)), PG(2), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		mmap((void *)(base + PG(6)), PG(2), PROT_READ,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	} else {
		aspace_munmap(mm, base, PG(64));
		aspace_mmap(mm, base + PG(4), PG(2), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		aspace_mmap(mm, base + PG(6), PG(2), PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	}
	return base;
}

static unsigned long addr_of(const struct errcase *c, unsigned long base, long off)
{
	if (c->raw) {
		if (!strcmp(c->what, "mmap fixed beyond task size") ||
		    !strcmp(c->what, "munmap beyond task size"))
			return (1UL << 47) - PG(1);
		return c->call == MMAP && !(c->flags & MAP_FIXED) ? 0 : base + 123;
	}
	return base + off * 4096UL + (off < 0 ? 4096 * 64L + 1 : 0);
}

static long run_kernel(const struct errcase *c, unsigned long base)
{
	unsigned long a = addr_of(c, base, c->off), b = addr_of(c, base, c->off2);
	long r = 0;

	switch (c->call) {
	case MMAP:
		r = (long)mmap((void *)a, c->len, c->prot, c->flags, -1, 0);
		if (r != -1 && c->expect == 0)
			munmap((void *)r, c->len);
		break;
	case MUNMAP:
		r = munmap((void *)a, c->len);
		break;
	case MPROTECT:
		r = mprotect((void *)a, c->len, c->prot);
		break;
	case MREMAP:
		r = (long)mremap((void *)a, c->len, c->len2, c->flags, (void *)b);
		break;
	}
	return r == -1 ? -errno : 0;
}

static long run_engine(struct aspace_mm *mm, const struct errcase *c, unsigned long base)
{
	unsigned long a = addr_of(c, base, c->off), b = addr_of(c, base, c->off2);
	long r = 0;

	switch (c->call) {
	case MMAP:
		r = aspace_mmap(mm, a, c->len, c->prot, c->flags, -1, 0);
		break;
	case MUNMAP:
		r = aspace_munmap(mm, a, c->len);
		break;
	case MPROTECT:
		r = aspace_mprotect(mm, a, c->len, c->prot);
		break;
	case MREMAP:
		r = aspace_mremap(mm, a, c->len, c->len2, c->flags, b);
		break;
	}
	return r < 0 && r > -4096 ? r : 0;
}

static void each_case(void **state)
{
	struct aspace_mm *mm;
	unsigned long base = kernel_arena_alloc(64);
	void *k = (void *)base;
	int bad = 0;

	assert_true(base != 0);
	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct errcase *c = &cases[i];
		long kr, er;

		layout(mm, 1, base);
		layout(mm, 0, base);
		kr = run_kernel(c, base);
		er = run_engine(mm, c, base);
		if (kr != -c->expect || er != -c->expect) {
			fprintf(stderr, "%s: expected %s, kernel %s, engine %s\n", c->what,
				c->expect ? strerror(c->expect) : "success",
				kr ? strerror((int)-kr) : "success", er ? strerror((int)-er) : "success");
			bad++;
		}
	}
	aspace_mm_destroy(mm);
	munmap(k, PG(64));
	assert_int_equal(bad, 0);
}

static void brk_semantics(void **state)
{
	struct aspace_mm *mm;
	unsigned long start, cur;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	start = aspace_brk(mm, 0);
	/* Below start_brk: refused, the old break comes back. */
	assert_int_equal(aspace_brk(mm, start - 1), start);
	cur = aspace_brk(mm, start + 100);
	assert_int_equal(cur, start + 100);
	cur = aspace_brk(mm, start + PG(3));
	assert_int_equal(cur, start + PG(3));
	/* A mapping right above the heap stops it (a page must stay free). */
	assert_int_equal(aspace_mmap(mm, start + PG(5), PG(1), PROT_READ,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
			 (long)(start + PG(5)));
	assert_int_equal(aspace_brk(mm, start + PG(5)), start + PG(3));
	assert_int_equal(aspace_brk(mm, start + PG(4)), start + PG(4));
	/* Shrinking unmaps. */
	assert_int_equal(aspace_brk(mm, start + PG(1)), start + PG(1));
	{
		struct map_line l[8];
		int n = engine_maps(mm, l, 8);

		assert_int_equal(n, 2);
		assert_int_equal(l[0].start, start);
		assert_int_equal(l[0].end, start + PG(1));
	}
	aspace_mm_destroy(mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_case),
		cmocka_unit_test(brk_semantics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
