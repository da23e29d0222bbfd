/*
 * bench_vma.c: `aspace bench vma`: the VMA layer's costs on the engine and
 * the same system calls on the host kernel.
 *
 *   find_vma N         lookups of random addresses among N VMAs (engine only:
 *                      the kernel has no such call; kernel column n/a)
 *   mmap+munmap +N     mmap of 4 KiB anonymous memory then munmap, with N
 *                      other VMAs present (one region of alternating
 *                      PROT_READ / PROT_NONE pages, so none merge)
 *   ... 2T             the same in 2 threads of one mm at once (ns per pair,
 *                      aggregate: wall time / pairs done by both)
 */
#include "bench.h"
#include "mm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct vma_case {
	int others;
	int threads;
	long iters;
	struct aspace_mm *mm; /* engine side; NULL: kernel side */
};

/* N non-mergeable VMAs: alternating protections over 2N pages. */
static int make_others(struct aspace_mm *mm, int n)
{
	unsigned long len = (unsigned long)(2 * n + 1) * PAGE_SIZE;
	char *k;
	long base;

	if (!n)
		return 0;
	if (mm) {
		base = aspace_mmap(mm, 0, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base < 0)
			return -1;
		for (int i = 0; i < n; i++)
			if (aspace_mprotect(mm, (unsigned long)base + (2 * i + 1) * PAGE_SIZE,
					    PAGE_SIZE, PROT_NONE))
				return -1;
		return 0;
	}
	k = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (k == MAP_FAILED)
		return -1;
	for (int i = 0; i < n; i++)
		if (mprotect(k + (2 * i + 1) * PAGE_SIZE, PAGE_SIZE, PROT_NONE))
			return -1;
	return 0;
}

static void *pairs(void *arg)
{
	struct vma_case *c = arg;

	for (long i = 0; i < c->iters; i++) {
		if (c->mm) {
			long a = aspace_mmap(c->mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			aspace_munmap(c->mm, (unsigned long)a, PAGE_SIZE);
		} else {
			void *p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			munmap(p, PAGE_SIZE);
		}
	}
	return NULL;
}

static double run_pairs(void *arg)
{
	struct vma_case *c = arg;
	pthread_t t[2];
	double t0 = bench_now_ns();

	for (int i = 1; i < c->threads; i++)
		pthread_create(&t[i], NULL, pairs, c);
	pairs(c);
	for (int i = 1; i < c->threads; i++)
		pthread_join(t[i], NULL);
	return (bench_now_ns() - t0) / ((double)c->iters * c->threads);
}

struct find_case {
	struct mm_struct *mm;
	unsigned long base, span;
	long iters;
};

static double run_find(void *arg)
{
	struct find_case *f = arg;
	unsigned long long s = 88172645463325252ULL;
	unsigned long hits = 0;
	double t0 = bench_now_ns();

	rcu_read_lock();
	for (long i = 0; i < f->iters; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		hits += find_vma(f->mm, f->base + s % f->span) != NULL;
	}
	rcu_read_unlock();
	if (hits == 0)
		fprintf(stderr, "bench vma: find_vma found nothing\n");
	return (bench_now_ns() - t0) / (double)f->iters;
}

/* The kernel side runs in a child so its address space starts clean. */
static double kernel_pairs(const struct bench_opts *o, struct vma_case *c)
{
	int fd[2];
	double v = -1;
	pid_t pid;

	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(fd[0]);
		v = make_others(NULL, c->others) ? -1 : bench_measure(o, run_pairs, c);
		if (write(fd[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	if (pid < 0 || read(fd[0], &v, sizeof(v)) != sizeof(v))
		v = -1;
	close(fd[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return v;
}

int bench_vma(const struct bench_opts *o)
{
	static const int others[] = { 0, 1000, 10000 };
	char name[64];
	int status = 0;

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		struct aspace_mm *mm;
		struct find_case f;

		if (aspace_mm_create(NULL, &mm) || make_others(mm, others[i])) {
			fprintf(stderr, "bench vma: engine set-up failed\n");
			return 1;
		}
		if (others[i]) {
			struct vm_area_struct *first;

			f.mm = to_mm(mm);
			rcu_read_lock();
			first = find_vma(f.mm, 0);
			f.base = first->vm_start;
			rcu_read_unlock();
			f.span = (unsigned long)(2 * others[i]) * PAGE_SIZE;
			f.iters = (long)(1000000 * o->scale);
			snprintf(name, sizeof(name), "find_vma %d VMAs", others[i]);
			bench_row(o, "vma", name, bench_measure(o, run_find, &f), -1,
				  "kernel: no such call");
		}
		for (int threads = 1; threads <= 2; threads++) {
			struct vma_case c = {
				.others = others[i],
				.threads = threads,
				.iters = (long)(100000 * o->scale),
				.mm = mm,
			};
			double e = bench_measure(o, run_pairs, &c), k;

			c.mm = NULL;
			k = kernel_pairs(o, &c);
			snprintf(name, sizeof(name), "mmap+munmap 4K +%d VMAs %dT", others[i], threads);
			bench_row(o, "vma", name, e, k,
				  threads == 2 ? "aggregate ns per pair, 2 threads, one mm" : NULL);
		}
		aspace_mm_destroy(mm);
	}
	return status;
}
