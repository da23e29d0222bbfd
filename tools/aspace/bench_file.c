/*
 * bench_file.c: `aspace bench file`: shmem (memfd) page-cache costs on the
 * engine and, live in the same run, on the host kernel.
 *
 * Setup: one memfd of --pages pages (default 32768 = 128 MiB) on each side,
 * every page already in the page cache (written once with pwrite).  Each
 * workload: one discarded warm-up pass on both sides, then the median of
 * --reps passes; mmap/munmap are outside the timed region.
 *   read-cached-per-page   fresh MAP_SHARED mapping, read 1 byte per page
 *                          (minor faults; both sides map up to 16 cached
 *                          neighbours per fault: fault-around)
 *   read-cached-per-fault  the same pass divided by the faults it took
 *                          (engine: aspace_mm_stats; kernel: ru_minflt)
 *   shared-write-fault     fresh MAP_SHARED mapping, write 1 byte per page
 *                          (one page per fault: do_shared_fault)
 *   pread-4k / pwrite-4k   one 4 KiB pread/pwrite per page of the file
 *   cow-cache-page         fresh MAP_PRIVATE mapping, write 1 byte per page
 *                          (copy of the cache page into an anon page)
 * Rows (bench.h's bench_row): bench, case, engine_ns, kernel_ns, ratio
 * (= engine_ns / kernel_ns: below 1 the engine is faster), note.  --json
 * prints one object per row.  bench.c calls bench_file for `aspace bench
 * file`.
 */

#include "bench.h"

#include <aspace/aspace.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL

static unsigned long npages = 32768;
static int reps = 5;

struct side {
	/* engine */
	struct aspace_mm *mm;
	int efd;
	/* kernel */
	int kfd;
	/* what the last pass measured besides time */
	double faults;
};

typedef double (*pass_fn)(struct side *s);

/* Run fn reps+1 times, drop the first; the median ns/op, and in *faults
 * the fault count of the median pass. */
static double measure(pass_fn fn, struct side *s, double *faults)
{
	double v[64], f[64];
	int n = reps < 64 ? reps : 64, idx[64];

	fn(s); /* warm-up */
	for (int i = 0; i < n; i++) {
		v[i] = fn(s);
		f[i] = s->faults;
		idx[i] = i;
	}
	/* Sort indexes by time to keep the fault count of the median pass. */
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (v[idx[j]] < v[idx[i]]) {
				int t = idx[i];

				idx[i] = idx[j];
				idx[j] = t;
			}
	if (faults)
		*faults = f[idx[n / 2]];
	return v[idx[n / 2]];
}

static void print_row(int json, const char *cs, double engine, double kernel, const char *note)
{
	struct bench_opts o = { .json = json, .reps = reps, .scale = 1.0 };

	bench_row(&o, "file", cs, engine, kernel, note);
}

/* ------------------------------------------------------------- engine */

static void settle_pool(void)
{
	unsigned long f, t;

	aspace_pool_stats(NULL, &f, &t); /* deferred frees done: frames reused */
}

static unsigned long eng_faults(struct aspace_mm *mm)
{
	struct aspace_stats st;

	aspace_mm_stats(mm, &st);
	return st.faults;
}

/* Map the file, touch one byte per page (read or write), unmap. */
static double eng_touch(struct side *s, int flags, int write)
{
	long a = aspace_mmap(s->mm, 0, npages * PG, PROT_READ | PROT_WRITE, flags, s->efd, 0);
	struct aspace_fault f;
	unsigned long f0;
	double t0, t1;

	if (a < 0) {
		fprintf(stderr, "bench file: engine mmap: %s\n", strerror((int)-a));
		exit(1);
	}
	settle_pool();
	f0 = eng_faults(s->mm);
	t0 = bench_now_ns();
	if (aspace_touch(s->mm, (unsigned long)a, npages * PG, write, &f))
		fprintf(stderr, "bench file: engine fault %d at %#lx\n", f.code, f.addr);
	t1 = bench_now_ns();
	s->faults = (double)(eng_faults(s->mm) - f0);
	aspace_munmap(s->mm, (unsigned long)a, npages * PG);
	return (t1 - t0) / (double)npages;
}

static double eng_read_shared(struct side *s) { return eng_touch(s, MAP_SHARED, 0); }
static double eng_write_shared(struct side *s) { return eng_touch(s, MAP_SHARED, 1); }
static double eng_cow(struct side *s) { return eng_touch(s, MAP_PRIVATE, 1); }

static double eng_rw(struct side *s, int write)
{
	static char buf[PG];
	double t0 = bench_now_ns(), t1;

	for (unsigned long i = 0; i < npages; i++) {
		ssize_t r = write ? aspace_pwrite(s->mm, s->efd, buf, PG, (off_t)(i * PG))
				  : aspace_pread(s->mm, s->efd, buf, PG, (off_t)(i * PG));

		if (r != (ssize_t)PG) {
			fprintf(stderr, "bench file: engine p%s: %zd\n", write ? "write" : "read", r);
			exit(1);
		}
	}
	t1 = bench_now_ns();
	s->faults = 0;
	return (t1 - t0) / (double)npages;
}

static double eng_pread(struct side *s) { return eng_rw(s, 0); }
static double eng_pwrite(struct side *s) { return eng_rw(s, 1); }

/* ------------------------------------------------------------- kernel */

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static double ker_touch(struct side *s, int flags, int write)
{
	volatile char *p = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, flags, s->kfd, 0);
	long f0;
	double t0, t1;

	if (p == MAP_FAILED) {
		perror("bench file: mmap");
		exit(1);
	}
	f0 = minflt();
	t0 = bench_now_ns();
	if (write)
		for (unsigned long i = 0; i < npages; i++)
			p[i * PG] = 1;
	else
		for (unsigned long i = 0; i < npages; i++)
			(void)p[i * PG];
	t1 = bench_now_ns();
	s->faults = (double)(minflt() - f0);
	munmap((void *)p, npages * PG);
	return (t1 - t0) / (double)npages;
}

static double ker_read_shared(struct side *s) { return ker_touch(s, MAP_SHARED, 0); }
static double ker_write_shared(struct side *s) { return ker_touch(s, MAP_SHARED, 1); }
static double ker_cow(struct side *s) { return ker_touch(s, MAP_PRIVATE, 1); }

static double ker_rw(struct side *s, int write)
{
	static char buf[PG];
	double t0 = bench_now_ns(), t1;

	for (unsigned long i = 0; i < npages; i++) {
		ssize_t r = write ? pwrite(s->kfd, buf, PG, (off_t)(i * PG))
				  : pread(s->kfd, buf, PG, (off_t)(i * PG));

		if (r != (ssize_t)PG) {
			perror("bench file: pread/pwrite");
			exit(1);
		}
	}
	t1 = bench_now_ns();
	s->faults = 0;
	return (t1 - t0) / (double)npages;
}

static double ker_pread(struct side *s) { return ker_rw(s, 0); }
static double ker_pwrite(struct side *s) { return ker_rw(s, 1); }

/* -------------------------------------------------------------- driver */

static int setup(struct side *s)
{
	static char page[PG];

	memset(page, 0x5a, sizeof(page));
	if (aspace_mm_create(NULL, &s->mm))
		return -1;
	s->efd = aspace_memfd_create(s->mm, "bench", 0);
	s->kfd = memfd_create("aspace-bench", MFD_CLOEXEC);
	if (s->efd < 0 || s->kfd < 0)
		return -1;
	for (unsigned long i = 0; i < npages; i++) {
		if (aspace_pwrite(s->mm, s->efd, page, PG, (off_t)(i * PG)) != (ssize_t)PG ||
		    pwrite(s->kfd, page, PG, (off_t)(i * PG)) != (ssize_t)PG)
			return -1;
	}
	return 0;
}

int bench_file(int argc, char **argv, int json)
{
	struct side s = { 0 };
	double e, k, ef, kf;
	char note[160];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			npages = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else {
			fprintf(stderr, "usage: aspace bench file [--pages N] [--reps N] [--json]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	if (!npages)
		npages = 1;
	if (setup(&s)) {
		fprintf(stderr, "bench file: setup failed (pool too small for --pages?)\n");
		return 1;
	}

	e = measure(eng_read_shared, &s, &ef);
	k = measure(ker_read_shared, &s, &kf);
	snprintf(note, sizeof(note), "faults/page engine %.3f kernel %.3f (fault-around)",
		 ef / (double)npages, kf / (double)npages);
	print_row(json, "read-cached-per-page", e, k, note);
	print_row(json, "read-cached-per-fault", ef > 0 ? e * (double)npages / ef : 0,
		  kf > 0 ? k * (double)npages / kf : 0, "each fault maps up to 16 pages");

	e = measure(eng_write_shared, &s, &ef);
	k = measure(ker_write_shared, &s, &kf);
	snprintf(note, sizeof(note), "1 page/fault; faults/page engine %.2f kernel %.2f",
		 ef / (double)npages, kf / (double)npages);
	print_row(json, "shared-write-fault", e, k, note);

	e = measure(eng_pread, &s, NULL);
	k = measure(ker_pread, &s, NULL);
	print_row(json, "pread-4k", e, k, "cached pages");

	e = measure(eng_pwrite, &s, NULL);
	k = measure(ker_pwrite, &s, NULL);
	print_row(json, "pwrite-4k", e, k, "cached pages");

	e = measure(eng_cow, &s, &ef);
	k = measure(ker_cow, &s, &kf);
	snprintf(note, sizeof(note), "private write copies the cache page; faults/page %.2f/%.2f",
		 ef / (double)npages, kf / (double)npages);
	print_row(json, "cow-cache-page", e, k, note);

	aspace_close(s.mm, s.efd);
	aspace_mm_destroy(s.mm);
	close(s.kfd);
	return 0;
}
