/*
 * bench.c: `aspace bench SUITE...`: runs the named suites (vma, fault,
 * file; all by default) and prints one row per case, engine and host kernel
 * side by side from the same run.
 */
#include "bench.h"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Suites written in other files; absent until their issue lands. */
__attribute__((weak)) int bench_fault(int argc, char **argv, int json);
__attribute__((weak)) int bench_file(int argc, char **argv, int json);

double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_measure(const struct bench_opts *o, double (*fn)(void *), void *arg)
{
	double v[64];
	int n = o->reps < 1 ? 1 : o->reps > 64 ? 64 : o->reps;

	fn(arg);
	for (int i = 0; i < n; i++)
		v[i] = fn(arg);
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

void bench_row(const struct bench_opts *o, const char *bench, const char *cs,
	       double engine_ns, double kernel_ns, const char *note)
{
	char e[32], k[32], r[32];

	if (o->json) {
		snprintf(e, sizeof(e), engine_ns < 0 ? "null" : "%.1f", engine_ns);
		snprintf(k, sizeof(k), kernel_ns < 0 ? "null" : "%.1f", kernel_ns);
		snprintf(r, sizeof(r), engine_ns < 0 || kernel_ns <= 0 ? "null" : "%.3f",
			 engine_ns / kernel_ns);
		printf("{\"bench\":\"%s\",\"case\":\"%s\",\"engine_ns\":%s,\"kernel_ns\":%s,"
		       "\"ratio\":%s,\"note\":\"%s\"}\n", bench, cs, e, k, r, note ? note : "");
	} else {
		snprintf(e, sizeof(e), engine_ns < 0 ? "n/a" : "%.1f", engine_ns);
		snprintf(k, sizeof(k), kernel_ns < 0 ? "n/a" : "%.1f", kernel_ns);
		snprintf(r, sizeof(r), engine_ns < 0 || kernel_ns <= 0 ? "n/a" : "%.3f",
			 engine_ns / kernel_ns);
		printf("%-6s %-36s engine_ns %9s  kernel_ns %9s  ratio %7s  %s\n", bench, cs, e,
		       k, r, note ? note : "");
	}
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: aspace bench [--json] [--reps N] [--quick] [SUITE...]\n"
		"\n"
		"Runs each workload on the engine and, live in the same run, with the same\n"
		"system calls on the host kernel, and prints both and their ratio\n"
		"(engine_ns / kernel_ns: below 1 the engine is faster).  Build with\n"
		"scripts/build.sh release for meaningful figures.\n"
		"\n"
		"Suites: vma (find_vma, mmap+munmap with 0/1000/10000 other VMAs, 1 and 2\n"
		"threads), fault (page faults), file (memfd page cache).  Default: all.\n"
		"\n"
		"  --json     one JSON object per row: bench, case, engine_ns, kernel_ns, ratio, note\n"
		"  --reps N   timed repetitions per case, median reported (default 5)\n"
		"  --quick    fewer iterations (for smoke tests; figures are noisier)\n");
}

int cmd_bench(int argc, char **argv)
{
	struct bench_opts o = { .json = 0, .reps = 5, .scale = 1.0 };
	const char *suites[8];
	int nsuites = 0, status = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			o.json = 1;
		} else if (!strcmp(argv[i], "--quick")) {
			o.scale = 0.1;
			o.reps = 3;
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			o.reps = atoi(argv[++i]);
			if (o.reps < 1 || o.reps > 64) {
				fprintf(stderr, "aspace bench: --reps takes 1..64\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "aspace bench: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (nsuites < 8) {
			suites[nsuites++] = argv[i];
		}
	}
	if (!nsuites) {
		suites[nsuites++] = "vma";
		suites[nsuites++] = "fault";
		suites[nsuites++] = "file";
	}
	for (int i = 0; i < nsuites; i++) {
		char reps[16];
		char *sub[] = { (char *)suites[i], "--reps", reps, NULL };

		snprintf(reps, sizeof(reps), "%d", o.reps);
		if (!strcmp(suites[i], "vma")) {
			status |= bench_vma(&o);
		} else if (!strcmp(suites[i], "fault") || !strcmp(suites[i], "file")) {
			int (*fn)(int, char **, int) =
				!strcmp(suites[i], "fault") ? bench_fault : bench_file;

			if (!fn) {
				fprintf(stderr, "aspace bench: suite '%s' is not built yet\n", suites[i]);
				status |= 1;
				continue;
			}
			status |= fn(3, sub, o.json);
		} else {
			fprintf(stderr, "aspace bench: unknown suite '%s' (vma, fault, file)\n",
				suites[i]);
			return 2;
		}
	}
	return status;
}
