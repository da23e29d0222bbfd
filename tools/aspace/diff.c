/*
 * diff.c: `aspace diff` — runs each scenario on both backends and compares
 * the transcripts byte for byte.  The linux transcript is the reference
 * ("---"), the engine's is "+++"; a difference is printed as a unified diff
 * with three lines of context.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "scn.h"

struct lines {
	char **v;
	size_t n;
};

static int split_lines(char *s, struct lines *l)
{
	size_t cap = 0;

	l->v = NULL;
	l->n = 0;
	while (s && *s) {
		char *nl = strchr(s, '\n');

		if (l->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nv = realloc(l->v, ncap * sizeof(*nv));

			if (!nv)
				return -ENOMEM;
			l->v = nv;
			cap = ncap;
		}
		l->v[l->n++] = s;
		if (!nl)
			break;
		*nl = 0;
		s = nl + 1;
	}
	return 0;
}

enum { E_SAME, E_DEL, E_ADD };

struct edit {
	int type;
	size_t a, b; /* line index in a (SAME, DEL) and b (SAME, ADD) */
};

/* Longest common subsequence; transcripts are small (hundreds of lines). */
static int diff_edits(const struct lines *a, const struct lines *b,
		      struct edit **out, size_t *nout)
{
	size_t n = a->n, m = b->n, i = 0, j = 0, k = 0;
	unsigned int *t;
	struct edit *e;

	if ((n + 1) > (64UL << 20) / sizeof(unsigned int) / (m + 1))
		return -E2BIG;
	t = calloc((n + 1) * (m + 1), sizeof(*t));
	e = malloc((n + m + 1) * sizeof(*e));
	if (!t || !e) {
		free(t);
		free(e);
		return -ENOMEM;
	}
#define T(i, j) t[(i) * (m + 1) + (j)]
	for (size_t x = n; x-- > 0;)
		for (size_t y = m; y-- > 0;)
			T(x, y) = !strcmp(a->v[x], b->v[y])
					  ? T(x + 1, y + 1) + 1
					  : (T(x + 1, y) >= T(x, y + 1)
						     ? T(x + 1, y)
						     : T(x, y + 1));
	while (i < n || j < m) {
		if (i < n && j < m && !strcmp(a->v[i], b->v[j])) {
			e[k++] = (struct edit){ E_SAME, i++, j++ };
		} else if (j >= m || (i < n && T(i + 1, j) >= T(i, j + 1))) {
			e[k++] = (struct edit){ E_DEL, i++, j };
		} else {
			e[k++] = (struct edit){ E_ADD, i, j++ };
		}
	}
#undef T
	free(t);
	*out = e;
	*nout = k;
	return 0;
}

static void print_unified(FILE *f, const char *path, const struct lines *a,
			  const struct lines *b, const struct edit *e,
			  size_t ne)
{
	const size_t ctx = 3;
	size_t i = 0;

	fprintf(f, "--- %s (linux)\n+++ %s (engine)\n", path, path);
	while (i < ne) {
		size_t start, end, last_change, as = 0, bs = 0, al = 0, bl = 0;

		while (i < ne && e[i].type == E_SAME)
			i++;
		if (i == ne)
			break;
		start = i > ctx ? i - ctx : 0;
		last_change = i;
		end = i;
		while (end < ne) {
			if (e[end].type != E_SAME)
				last_change = end;
			else if (end - last_change > 2 * ctx)
				break;
			end++;
		}
		if (end > last_change + ctx + 1)
			end = last_change + ctx + 1;
		as = e[start].a;
		bs = e[start].b;
		for (size_t k = start; k < end; k++) {
			if (e[k].type != E_ADD)
				al++;
			if (e[k].type != E_DEL)
				bl++;
		}
		fprintf(f, "@@ -%zu,%zu +%zu,%zu @@\n", al ? as + 1 : as, al,
			bl ? bs + 1 : bs, bl);
		for (size_t k = start; k < end; k++) {
			if (e[k].type == E_SAME)
				fprintf(f, " %s\n", a->v[e[k].a]);
			else if (e[k].type == E_DEL)
				fprintf(f, "-%s\n", a->v[e[k].a]);
			else
				fprintf(f, "+%s\n", b->v[e[k].b]);
		}
		i = end;
	}
}

/* Runs s on one backend into a string. */
static char *transcript(struct scn *s, const struct backend_ops *be,
			bool verbose, int *status)
{
	struct run_opts o = { .backend = be, .verbose = verbose };
	char *buf = NULL;
	size_t len = 0;

	o.out = open_memstream(&buf, &len);
	if (!o.out)
		return NULL;
	*status = scn_run(s, &o);
	if (fclose(o.out))
		return NULL;
	return buf;
}

/* 0 identical, 1 differ, 3 skipped. */
static int diff_one(const char *path, bool verbose)
{
	struct scn *s;
	char err[512], *lt = NULL, *et = NULL;
	int ls = 0, es = 0, ret = 1;
	struct lines a = { 0 }, b = { 0 };
	struct edit *e = NULL;
	size_t ne = 0;

	if (scn_parse_file(path, &s, err, sizeof(err))) {
		fprintf(stdout, "%s\n", err);
		return 1;
	}
	if (s->requires[0] ||
	    (linux_backend.cannot_run && linux_backend.cannot_run(s)) ||
	    (engine_backend.cannot_run && engine_backend.cannot_run(s))) {
		scn_free(s);
		return 3;
	}
	lt = transcript(s, &linux_backend, verbose, &ls);
	et = transcript(s, &engine_backend, verbose, &es);
	if (!lt || !et) {
		fprintf(stdout, "%s: could not run both backends\n", path);
		goto out;
	}
	if (!strcmp(lt, et)) {
		ret = 0;
		goto out;
	}
	if (split_lines(lt, &a) || split_lines(et, &b) ||
	    diff_edits(&a, &b, &e, &ne)) {
		fprintf(stdout, "%s: transcripts differ (too large to diff)\n",
			path);
		goto out;
	}
	print_unified(stdout, path, &a, &b, e, ne);
out:
	fflush(stdout);
	free(e);
	free(a.v);
	free(b.v);
	free(lt);
	free(et);
	scn_free(s);
	return ret;
}

static void diff_usage(FILE *f)
{
	fprintf(f,
		"usage: aspace diff [--verbose] FILE...\n"
		"\n"
		"Runs each scenario on the linux backend and on the engine and compares\n"
		"the transcripts.  Prints a unified diff (--- linux, +++ engine) for each\n"
		"file that differs, then a summary: N identical, M differ, K skipped.\n"
		"Files marked '# requires: linux|engine' are skipped.\n"
		"  --skip-status=N  exit with N when every file was skipped (for test\n"
		"                   harnesses: ctest's SKIP_RETURN_CODE)\n"
		"Exit status: 0 when no file differs, 1 otherwise, 2 on usage errors.\n");
}

int cmd_diff(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "skip-status", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, same = 0, differ = 0, skipped = 0, nfiles;
	bool verbose = false;
	int skip_status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = true;
			break;
		case 's':
			skip_status = atoi(optarg);
			break;
		case 'h':
			diff_usage(stdout);
			return 0;
		default:
			diff_usage(stderr);
			return 2;
		}
	}
	nfiles = argc - optind;
	if (!nfiles) {
		diff_usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		int ret;

		if (nfiles > 1)
			fprintf(stderr, "aspace diff: [%d/%d] %s\n",
				i - optind + 1, nfiles, argv[i]);
		ret = diff_one(argv[i], verbose);
		if (ret == 0)
			same++;
		else if (ret == 3)
			skipped++;
		else
			differ++;
	}
	printf("%d identical, %d differ, %d skipped\n", same, differ,
	       skipped);
	if (!differ && !same && skip_status)
		return skip_status;
	return differ ? 1 : 0;
}
