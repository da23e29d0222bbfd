/*
 * bench_fault.c: `aspace bench fault`: page-fault costs on the engine and,
 * live in the same run, on the host kernel.
 *
 * Workloads (each: one discarded warm-up pass on both sides, then the
 * median of --reps timed passes; mmap/munmap outside the timed region):
 *   write-1T        first-touch write, one byte per 4 KiB page, 1 thread
 *   write-2T        the same in 2 threads, each on its own VMA (aggregate
 *                   ns per fault; scaling = write-1T / write-2T)
 *   zero-read       first-touch read (maps the shared zero page), 1 and 2
 *                   threads (2 threads: the fault path's own scaling, with
 *                   no page to zero, i.e. no memory bandwidth to share)
 *   cow             after fork, the child writes one byte per page
 *   hammer-on/off   2 faulting threads while a third loops mmap+munmap of
 *                   4 KiB regions, with per-VMA locks on and off (the kernel
 *                   column runs the same workload, always with its per-VMA
 *                   locks)
 * Rows (bench.c's bench_row): bench, case, engine_ns, kernel_ns, ratio
 * (= engine_ns / kernel_ns: below 1 the engine is faster), note.  --json
 * prints one object per row.
 *
 * No state is shared between cases; the engine's mms use the default pool,
 * whose frames the warm-up pass has already touched.
 */
#include "bench.h"

#include <aspace/aspace.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL

static unsigned long npages = 32768; /* 128 MiB per region */
static int reps = 5;

static double now_ns(void)
{
	return bench_now_ns();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Run fn(arg) reps+1 times, drop the first, return the median ns/op. */
static double measure(double (*fn)(void *), void *arg)
{
	double v[64];
	int n = reps < 64 ? reps : 64;

	fn(arg); /* warm-up */
	for (int i = 0; i < n; i++)
		v[i] = fn(arg);
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

static void print_row(int json, const char *cs, double engine, double kernel, const char *note)
{
	struct bench_opts o = { .json = json, .reps = reps, .scale = 1.0 };

	bench_row(&o, "fault", cs, engine, kernel, note);
}

/* ------------------------------------------------------------- engine */

/* Untimed: wait until frames unmapped by the last pass are back in the
 * pool (they are freed after an RCU grace period), so the next pass reuses
 * frames the host has already backed, as the kernel reuses freed pages. */
static void settle_pool(void)
{
	unsigned long f, t;

	aspace_pool_stats(NULL, &f, &t);
}

struct eng {
	int vma_lock;
	int write;
	int threads;
	int hammer;
};

/*
 * Each thread times itself; a pass lasts from the first thread's start to
 * the last one's end (the main thread may be scheduled after the workers
 * finished, so it cannot time them).
 */
struct eng_thread {
	struct aspace_mm *mm;
	unsigned long addr;
	int write;
	pthread_barrier_t *bar;
	double t0, t1;
};

static void *eng_toucher(void *p)
{
	struct eng_thread *t = p;
	struct aspace_fault f;

	pthread_barrier_wait(t->bar);
	t->t0 = now_ns();
	if (aspace_touch(t->mm, t->addr, npages * PG, t->write, &f))
		fprintf(stderr, "bench fault: engine fault %d at %#lx\n", f.code, f.addr);
	t->t1 = now_ns();
	return NULL;
}

static double span(double t0[], double t1[], int n)
{
	double lo = t0[0], hi = t1[0];

	for (int i = 1; i < n; i++) {
		if (t0[i] < lo)
			lo = t0[i];
		if (t1[i] > hi)
			hi = t1[i];
	}
	return hi - lo;
}

static atomic_int hammer_stop;
/* mmap+munmap pairs the hammer completed in the last pass, and that pass's
 * length: the hammer's own cost is reported too, since a mode that starves
 * the hammer (mmap_lock readers keeping the writer out) would otherwise look
 * good for the faulters. */
static atomic_long hammer_pairs;
static double hammer_span;

static void *eng_hammer(void *p)
{
	struct aspace_mm *mm = p;

	while (!atomic_load_explicit(&hammer_stop, memory_order_relaxed)) {
		long a = aspace_mmap(mm, 0, PG, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (a > 0)
			aspace_munmap(mm, (unsigned long)a, PG);
		atomic_fetch_add_explicit(&hammer_pairs, 1, memory_order_relaxed);
	}
	return NULL;
}

static unsigned long eng_map(struct aspace_mm *mm)
{
	long a = aspace_mmap(mm, 0, npages * PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (a < 0) {
		fprintf(stderr, "bench fault: engine mmap: %s\n", strerror((int)-a));
		exit(1);
	}
	/* A PROT_NONE page after it keeps the next region a separate VMA. */
	aspace_mmap(mm, 0, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return (unsigned long)a;
}

static double eng_faults(void *arg)
{
	struct eng *e = arg;
	struct aspace_config cfg = { .per_vma_lock = e->vma_lock };
	struct aspace_mm *mm;
	struct eng_thread t[4];
	pthread_t th[4], h;
	pthread_barrier_t bar;
	double t0[4], t1[4];

	if (aspace_mm_create(&cfg, &mm))
		exit(1);
	pthread_barrier_init(&bar, NULL, (unsigned)e->threads + 1);
	for (int i = 0; i < e->threads; i++) {
		t[i] = (struct eng_thread){ mm, eng_map(mm), e->write, &bar, 0, 0 };
		pthread_create(&th[i], NULL, eng_toucher, &t[i]);
	}
	atomic_store(&hammer_stop, 0);
	atomic_store(&hammer_pairs, 0);
	if (e->hammer)
		pthread_create(&h, NULL, eng_hammer, mm);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < e->threads; i++) {
		pthread_join(th[i], NULL);
		t0[i] = t[i].t0;
		t1[i] = t[i].t1;
	}
	atomic_store(&hammer_stop, 1);
	if (e->hammer)
		pthread_join(h, NULL);
	pthread_barrier_destroy(&bar);
	aspace_mm_destroy(mm);
	settle_pool();
	hammer_span = span(t0, t1, e->threads);
	return hammer_span / (double)(npages * (unsigned long)e->threads);
}

struct eng_cow {
	struct aspace_mm *parent;
	unsigned long addr;
};

static double eng_cow(void *arg)
{
	struct eng_cow *c = arg;
	struct aspace_mm *child;
	struct aspace_fault f;
	double t0, t1;

	if (aspace_fork(c->parent, &child))
		exit(1);
	t0 = now_ns();
	if (aspace_touch(child, c->addr, npages * PG, 1, &f))
		fprintf(stderr, "bench fault: engine COW fault %d at %#lx\n", f.code, f.addr);
	t1 = now_ns();
	aspace_mm_destroy(child);
	settle_pool();
	return (t1 - t0) / (double)npages;
}

/* ------------------------------------------------------------- kernel */

struct ker_thread {
	char *addr;
	int write;
	pthread_barrier_t *bar;
	double t0, t1;
};

static void touch_pages(char *p, int write)
{
	for (unsigned long i = 0; i < npages; i++) {
		if (write)
			((volatile char *)p)[i * PG] = 1;
		else
			(void)((volatile char *)p)[i * PG];
	}
}

static void *ker_toucher(void *p)
{
	struct ker_thread *t = p;

	pthread_barrier_wait(t->bar);
	t->t0 = now_ns();
	touch_pages(t->addr, t->write);
	t->t1 = now_ns();
	return NULL;
}

static void *ker_hammer(void *p)
{
	(void)p;
	while (!atomic_load_explicit(&hammer_stop, memory_order_relaxed)) {
		void *a = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (a != MAP_FAILED)
			munmap(a, PG);
		atomic_fetch_add_explicit(&hammer_pairs, 1, memory_order_relaxed);
	}
	return NULL;
}

static char *ker_map(void)
{
	/* One extra page, PROT_NONE: a guard that keeps the VMAs apart. */
	char *p = mmap(NULL, (npages + 1) * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("bench fault: mmap");
		exit(1);
	}
	mprotect(p + npages * PG, PG, PROT_NONE);
	madvise(p, npages * PG, MADV_NOHUGEPAGE);
	return p;
}

static double ker_faults(void *arg)
{
	struct eng *e = arg;
	struct ker_thread t[4];
	pthread_t th[4], h;
	pthread_barrier_t bar;
	double t0[4], t1[4];

	pthread_barrier_init(&bar, NULL, (unsigned)e->threads + 1);
	for (int i = 0; i < e->threads; i++) {
		t[i] = (struct ker_thread){ ker_map(), e->write, &bar, 0, 0 };
		pthread_create(&th[i], NULL, ker_toucher, &t[i]);
	}
	atomic_store(&hammer_stop, 0);
	atomic_store(&hammer_pairs, 0);
	if (e->hammer)
		pthread_create(&h, NULL, ker_hammer, NULL);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < e->threads; i++) {
		pthread_join(th[i], NULL);
		t0[i] = t[i].t0;
		t1[i] = t[i].t1;
	}
	atomic_store(&hammer_stop, 1);
	if (e->hammer)
		pthread_join(h, NULL);
	pthread_barrier_destroy(&bar);
	for (int i = 0; i < e->threads; i++)
		munmap(t[i].addr, (npages + 1) * PG);
	hammer_span = span(t0, t1, e->threads);
	return hammer_span / (double)(npages * (unsigned long)e->threads);
}

static double ker_cow(void *arg)
{
	char *p = arg;
	int fd[2];
	double ns = 0;
	pid_t pid;

	if (pipe(fd))
		exit(1);
	pid = fork();
	if (pid == 0) {
		double t0 = now_ns(), r;

		touch_pages(p, 1);
		r = (now_ns() - t0) / (double)npages;
		if (write(fd[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	if (read(fd[0], &ns, sizeof(ns)) != sizeof(ns))
		ns = 0;
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return ns;
}

/* -------------------------------------------------------------- driver */

/* The hammer's cost per mmap+munmap pair in the last pass (0: none done). */
static double hammer_pair_ns(void)
{
	long n = atomic_load(&hammer_pairs);

	return n ? hammer_span / (double)n : 0;
}

int bench_fault(int argc, char **argv, int json)
{
	struct eng w1 = { ASPACE_VMA_LOCK_ON, 1, 1, 0 }, w2 = { ASPACE_VMA_LOCK_ON, 1, 2, 0 };
	struct eng r1 = { ASPACE_VMA_LOCK_ON, 0, 1, 0 }, r2 = { ASPACE_VMA_LOCK_ON, 0, 2, 0 };
	struct eng hon = { ASPACE_VMA_LOCK_ON, 1, 2, 1 }, hoff = { ASPACE_VMA_LOCK_OFF, 1, 2, 1 };
	double e1, k1, e2, k2, e, k, eon, eoff, hon_pair, hoff_pair, k_pair;
	char note[128];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			npages = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--quick"))
			npages = 2048;
		else {
			fprintf(stderr, "usage: aspace bench fault [--pages N] [--quick] [--reps N] [--json]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;

	e1 = measure(eng_faults, &w1);
	k1 = measure(ker_faults, &w1);
	print_row(json, "write-1T", e1, k1, "first-touch write fault, 4K");

	e2 = measure(eng_faults, &w2);
	k2 = measure(ker_faults, &w2);
	snprintf(note, sizeof(note), "aggregate per fault; scaling engine %.2fx kernel %.2fx",
		 e1 / e2, k1 / k2);
	print_row(json, "write-2T-separate-VMAs", e2, k2, note);

	e1 = measure(eng_faults, &r1);
	k1 = measure(ker_faults, &r1);
	print_row(json, "zero-page-read", e1, k1, "read fault mapping the zero page");

	/* The same without zeroing: how the fault path itself scales. */
	e2 = measure(eng_faults, &r2);
	k2 = measure(ker_faults, &r2);
	snprintf(note, sizeof(note), "aggregate per fault; scaling engine %.2fx kernel %.2fx",
		 e1 / e2, k1 / k2);
	print_row(json, "zero-page-read-2T-separate-VMAs", e2, k2, note);

	{
		struct eng_cow c;
		struct aspace_fault f;
		char *kp = ker_map();

		if (aspace_mm_create(NULL, &c.parent))
			return 1;
		c.addr = eng_map(c.parent);
		aspace_touch(c.parent, c.addr, npages * PG, 1, &f);
		touch_pages(kp, 1);
		e = measure(eng_cow, &c);
		k = measure(ker_cow, kp);
		aspace_mm_destroy(c.parent);
		munmap(kp, (npages + 1) * PG);
		print_row(json, "cow-after-fork", e, k, "child writes 1 byte/page");
	}

	eon = measure(eng_faults, &hon);
	hon_pair = hammer_pair_ns();
	eoff = measure(eng_faults, &hoff);
	hoff_pair = hammer_pair_ns();
	k = measure(ker_faults, &hon);
	k_pair = hammer_pair_ns();
	snprintf(note, sizeof(note),
		 "2 faulters + hammer; faults on/off %.2fx; hammer ns/pair engine %.0f kernel %.0f",
		 eoff / eon, hon_pair, k_pair);
	print_row(json, "hammer-vma-lock-on", eon, k, note);
	snprintf(note, sizeof(note), "per-VMA locks off (kernel: on); hammer ns/pair engine %.0f",
		 hoff_pair);
	print_row(json, "hammer-vma-lock-off", eoff, k, note);
	return 0;
}
