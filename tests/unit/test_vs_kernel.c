/*
 * test_vs_kernel: the engine against the host kernel, call for call.
 *
 * A random sequence of mmap (MAP_FIXED, MAP_FIXED_NOREPLACE, with and without
 * MAP_NORESERVE), munmap, mprotect and mremap (in place, MAYMOVE|FIXED,
 * DONTUNMAP) runs on the kernel, inside an arena of this very process, and on
 * the engine at the same addresses.  After every call the results (address or
 * errno) and the arena's lines of the maps views must be identical: that is
 * the merge/split behaviour of Linux, case by case.  Nothing touches the
 * memory, so no anon_vma exists on either side.
 */
#include "testutil.h"
#include "mm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define ARENA_PAGES 256
#define LO 16
#define HI 240

static char kbuf[1 << 20];

/* The kernel's maps lines inside [base, base+len), offsets relative. */
static void kernel_arena(unsigned long base, unsigned long len, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/maps", "r");
	size_t n = fread(kbuf, 1, sizeof(kbuf) - 1, f), off = 0;
	char *line, *save = NULL;

	fclose(f);
	kbuf[n] = 0;
	out[0] = 0;
	for (line = strtok_r(kbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e, o;
		char perms[5];

		if (sscanf(line, "%lx-%lx %4s %lx", &s, &e, perms, &o) != 4)
			continue;
		if (e <= base || s >= base + len)
			continue;
		off += (size_t)snprintf(out + off, outlen - off, "%ld-%ld %s %lx|",
					(long)(s - base) / 4096, (long)(e - base) / 4096,
					perms, o);
	}
}

static void engine_arena(struct aspace_mm *mm, unsigned long base, unsigned long len,
			 char *out, size_t outlen)
{
	struct map_line l[1024];
	int n = engine_maps(mm, l, 1024);
	size_t off = 0;

	out[0] = 0;
	for (int i = 0; i < n; i++) {
		if (l[i].end <= base || l[i].start >= base + len)
			continue;
		off += (size_t)snprintf(out + off, outlen - off, "%ld-%ld %s %lx|",
					(long)(l[i].start - base) / 4096,
					(long)(l[i].end - base) / 4096, l[i].perms, l[i].offset);
	}
}

static unsigned long long rng = 88172645463325252ULL;
static unsigned long rnd(unsigned long n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned long)(rng % n);
}

static long k_ret(long r)
{
	return r == -1 ? -errno : r;
}

static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
			     PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC };

static void random_calls(void **state)
{
	static char kmaps[1 << 16], emaps[1 << 16], what[256];
	struct aspace_mm *mm;
	unsigned long base, len = ARENA_PAGES * P;
	void *k;
	const char *env = getenv("ASPACE_VS_KERNEL_STEPS");
	int steps = env ? atoi(env) : 3000;

	assert_int_equal(aspace_mm_create(NULL, &mm), 0);
	base = kernel_arena_alloc(ARENA_PAGES);
	assert_true(base != 0);
	k = (void *)base;
	assert_int_equal(aspace_mmap(mm, base, len, PROT_NONE,
				     ANON_PRIV | MAP_NORESERVE | MAP_FIXED, -1, 0),
			 (long)base);

	if (getenv("ASPACE_VS_KERNEL_SEED"))
		rng = strtoull(getenv("ASPACE_VS_KERNEL_SEED"), NULL, 0);
	for (int step = 0; step < steps; step++) {
		unsigned long a = base + (LO + rnd(HI - LO - 8)) * P;
		unsigned long n = (1 + rnd(8)) * P, n2 = (1 + rnd(8)) * P;
		unsigned long to = base + (LO + rnd(HI - LO - 8)) * P;
		int pr = prots[rnd(5)];
		long kr = 0, er = 0;
		int flags;

		if (getenv("ASPACE_VS_KERNEL_DUMP_AT") &&
		    atoi(getenv("ASPACE_VS_KERNEL_DUMP_AT")) == step) {
			struct mm_struct *m = (struct mm_struct *)mm;

			for (struct vm_area_struct *v = find_vma(m, base); v && v->vm_start < base + len;
			     v = vma_next(m, v))
				fprintf(stderr, "  vma %ld-%ld pgoff-rel %ld flags %#lx\n",
					(long)(v->vm_start - base) / 4096, (long)(v->vm_end - base) / 4096,
					(long)(v->vm_pgoff - (v->vm_start >> 12)), v->vm_flags);
		}
		/*
		 * mlock faults pages in on the kernel side, which gives VMAs an
		 * anon_vma: only comparable once the engine faults too.
		 */
#ifdef ASPACE_HAVE_FAULTS
		switch (rnd(10)) {
#else
		switch (rnd(8)) {
#endif
		case 0:
		case 1:
			flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				(rnd(4) == 0 ? MAP_NORESERVE : 0);
			snprintf(what, sizeof(what), "mmap +%lu %lu prot %d flags %#x",
				 (a - base) / P, n / P, pr, flags);
			kr = k_ret((long)mmap((void *)a, n, pr, flags, -1, 0));
			er = aspace_mmap(mm, a, n, pr, flags, -1, 0);
			break;
		case 2:
			flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
			snprintf(what, sizeof(what), "mmap_noreplace +%lu %lu", (a - base) / P, n / P);
			kr = k_ret((long)mmap((void *)a, n, pr, flags, -1, 0));
			er = aspace_mmap(mm, a, n, pr, flags, -1, 0);
			break;
		case 3:
			snprintf(what, sizeof(what), "munmap +%lu %lu", (a - base) / P, n / P);
			kr = k_ret(munmap((void *)a, n));
			er = aspace_munmap(mm, a, n);
			break;
		case 4:
		case 5:
			snprintf(what, sizeof(what), "mprotect +%lu %lu %d", (a - base) / P, n / P, pr);
			kr = k_ret(mprotect((void *)a, n, pr));
			er = aspace_mprotect(mm, a, n, pr);
			break;
		case 6:
			snprintf(what, sizeof(what), "mremap +%lu %lu -> %lu", (a - base) / P, n / P, n2 / P);
			kr = k_ret((long)mremap((void *)a, n, n2, 0));
			er = aspace_mremap(mm, a, n, n2, 0, 0);
			break;
		case 7:
			flags = MREMAP_MAYMOVE | MREMAP_FIXED | (rnd(3) == 0 ? MREMAP_DONTUNMAP : 0);
			if (flags & MREMAP_DONTUNMAP)
				n2 = n;
			snprintf(what, sizeof(what), "mremap +%lu %lu -> %lu at +%lu flags %d",
				 (a - base) / P, n / P, n2 / P, (to - base) / P, flags);
			kr = k_ret((long)mremap((void *)a, n, n2, flags, (void *)to));
			er = aspace_mremap(mm, a, n, n2, flags, to);
			break;
		case 8:
			flags = rnd(2) ? 1 /* MLOCK_ONFAULT */ : 0;
			snprintf(what, sizeof(what), "mlock2 +%lu %lu %d", (a - base) / P, n / P, flags);
			kr = k_ret(syscall(SYS_mlock2, a, n, flags));
			er = aspace_mlock2(mm, a, n, (unsigned int)flags);
			break;
		case 9:
			snprintf(what, sizeof(what), "munlock +%lu %lu", (a - base) / P, n / P);
			/* Raw syscall: sanitizer runtimes turn munlock() into a no-op. */
			kr = k_ret(syscall(SYS_munlock, a, n));
			er = aspace_munlock(mm, a, n);
			break;
		}
		if (getenv("ASPACE_VS_KERNEL_TRACE"))
			fprintf(stderr, "step %d: %s => %ld\n", step, what, kr);
		kernel_arena(base, len, kmaps, sizeof(kmaps));
		engine_arena(mm, base, len, emaps, sizeof(emaps));
		if (!vt_validate(&((struct mm_struct *)mm)->mm_mt)) {
			fprintf(stderr, "step %d: %s: VMA tree invariants broken\n", step, what);
			fail();
		}
		if (kr != er || strcmp(kmaps, emaps)) {
			fprintf(stderr, "step %d: %s\n kernel %ld: %s\n engine %ld: %s\n", step,
				what, kr, kmaps, er, emaps);
			fail();
		}
	}
	munmap(k, len);
	aspace_mm_destroy(mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
