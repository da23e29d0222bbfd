/*
 * bench.h: what the `aspace bench` suites share: a monotonic clock, the
 * median-of-repetitions measurement (one discarded warm-up pass) and the
 * row printer (text, or one JSON object per row with the keys bench, case,
 * engine_ns, kernel_ns, ratio, note).  ratio = engine_ns / kernel_ns, so
 * below 1 the engine is faster; a side that does not apply prints n/a
 * (JSON null).
 */
#ifndef ASPACE_TOOL_BENCH_H
#define ASPACE_TOOL_BENCH_H

struct bench_opts {
	int json;
	int reps;      /* timed repetitions per case (median is reported) */
	double scale;  /* multiplies iteration counts (--quick: 0.1) */
};

double bench_now_ns(void);
/* Run fn(arg) once to warm up, then opts->reps times; median of the
 * returned ns/op values. */
double bench_measure(const struct bench_opts *o, double (*fn)(void *), void *arg);
/* engine or kernel < 0: n/a. */
void bench_row(const struct bench_opts *o, const char *bench, const char *cs,
	       double engine_ns, double kernel_ns, const char *note);

int bench_vma(const struct bench_opts *o);
int bench_fault(int argc, char **argv, int json);
int bench_file(int argc, char **argv, int json);

#endif
