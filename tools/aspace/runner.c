/*
 * runner.c: runs a parsed scenario on one backend and prints its transcript
 * (`aspace run`).  It owns what happens between commands: resolving names
 * into numbers, binding the names a result creates (mmap NAME, mremap as=,
 * files, a forked uffd), remembering what each async thread is running, and
 * checking `=> EXPECTED`.  Backends never see a name they must resolve.
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

struct pending {
	char proc[SCN_NAME_MAX];
	char thread[SCN_NAME_MAX];
	const struct scn_cmd *cmd;
	struct xcmd x;
	bool used;
};

struct run {
	const struct run_opts *o;
	struct backend *b;
	struct names *nm;
	struct pending pend[64];
	unsigned long uffd_forks;
};

static int resolve_addr(struct run *rn, const struct scn_addr *a,
			unsigned long *out, struct result *r)
{
	unsigned long base = 0;

	if (a->name[0] && names_lookup(rn->nm, a->name, &base)) {
		result_set_error(r, "name '%s' is not bound (the command that binds it failed)",
				 a->name);
		return -ENOENT;
	}
	*out = base + (unsigned long)a->off;
	return 0;
}

static int resolve(struct run *rn, const struct scn_cmd *c, struct xcmd *x,
		   struct result *r)
{
	memset(x, 0, sizeof(*x));
	x->src = c;
	x->op = c->op;
	x->n1 = c->n1;
	x->n2 = c->n2;
	x->off = c->off;
	x->flags = c->flags;
	memcpy(x->name, c->name, sizeof(x->name));
	memcpy(x->name2, c->name2, sizeof(x->name2));
	if (c->addr.set && resolve_addr(rn, &c->addr, &x->addr, r))
		return -ENOENT;
	if (c->addr2.set) {
		if (resolve_addr(rn, &c->addr2, &x->addr2, r))
			return -ENOENT;
		x->has_addr2 = true;
	}
	if (c->op == OP_UFFD_READ && !x->name2[0]) {
		/* The name a forked child's uffd gets: U_1, U_2, ... */
		char n[SCN_NAME_MAX + 24];

		snprintf(n, sizeof(n), "%s_%lu", c->name, rn->uffd_forks + 1);
		snprintf(x->name2, sizeof(x->name2), "%.*s", SCN_NAME_MAX - 1,
			 n);
	}
	return 0;
}

/* Binds what a finished command created. */
static void apply(struct run *rn, const struct xcmd *x, struct result *r)
{
	int ret = 0;

	switch (x->op) {
	case OP_MMAP:
		if (r->kind != RES_OK_ADDR)
			break;
		ret = names_bind(rn->nm, x->name, r->addr);
		if (!ret)
			ret = names_add_range(rn->nm, r->addr, x->n1);
		break;
	case OP_MREMAP:
		if (r->kind != RES_OK_ADDR)
			break;
		ret = names_add_range(rn->nm, r->addr, x->n2);
		if (!ret && x->name2[0])
			ret = names_bind(rn->nm, x->name2, r->addr);
		break;
	case OP_MEMFD:
	case OP_TMPFILE:
		if (r->kind == RES_FILE)
			ret = names_add_file(rn->nm, x->name, r->n,
					     x->op == OP_TMPFILE);
		break;
	case OP_UFFD_READ:
		if (r->kind == RES_UFFDMSG && r->umsg == UMSG_FORK)
			rn->uffd_forks++;
		break;
	default:
		break;
	}
	if (ret)
		result_set_error(r, "out of memory");
}

static struct pending *pending_find(struct run *rn, const char *proc,
				    const char *thread, bool create)
{
	struct pending *free_slot = NULL;

	for (size_t i = 0; i < sizeof(rn->pend) / sizeof(rn->pend[0]); i++) {
		struct pending *p = &rn->pend[i];

		if (!p->used) {
			if (!free_slot)
				free_slot = p;
			continue;
		}
		if (!strcmp(p->proc, proc) && !strcmp(p->thread, thread))
			return p;
	}
	if (!create || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->proc, SCN_NAME_MAX, "%s", proc);
	snprintf(free_slot->thread, SCN_NAME_MAX, "%s", thread);
	free_slot->used = true;
	return free_slot;
}

/* Runs one command; returns 1 when the scenario must count as failed. */
static int run_cmd(struct run *rn, const struct scn_cmd *c)
{
	struct result r;
	struct xcmd x, *fx = &x;
	struct sbuf out, norm;
	int fail = 0;

	memset(&r, 0, sizeof(r));
	sb_init(&out);
	sb_init(&norm);
	if (c->op == OP_ASYNC) {
		struct pending *p;

		if (resolve(rn, c->sub, &x, &r))
			goto print;
		p = pending_find(rn, c->proc, c->name, true);
		if (!p) {
			result_set_error(&r, "too many threads");
			goto print;
		}
		if (p->cmd) {
			result_set_error(&r, "thread %s is still running line %d's command (wait for it first)",
					 c->name, p->cmd->line);
			goto print;
		}
		x.async = true;
		rn->o->backend->exec(rn->b, c->proc, c->name, &x, &r);
		if (r.kind == RES_STARTED) {
			p->cmd = c->sub;
			p->x = x;
		}
		goto print;
	}
	if (resolve(rn, c, &x, &r))
		goto print;
	if (c->op == OP_WAIT) {
		struct pending *p = pending_find(rn, c->proc, c->name, false);

		if (!p || !p->cmd) {
			result_set_error(&r, "thread %s is not running a command",
					 c->name);
			goto print;
		}
		rn->o->backend->exec(rn->b, c->proc, c->thread, &x, &r);
		fx = &p->x;
		p->cmd = NULL;
	} else {
		rn->o->backend->exec(rn->b, c->proc, c->thread, &x, &r);
	}
	apply(rn, fx, &r);
print:
	fmt_result(&out, rn->nm, fx, &r);
	if (out.oom) {
		fprintf(stderr, "aspace: out of memory\n");
		fail = 1;
	}
	if (r.kind == RES_ERROR)
		fail = 1;
	sb_puts(&norm, out.s ? out.s : "");
	if (norm.s)
		normalise_ws(norm.s);
	fprintf(rn->o->out, "%d: %s => %s", c->line, c->text,
		out.s ? out.s : "");
	if (c->expect && r.kind != RES_SKIP &&
	    strcmp(norm.s ? norm.s : "", c->expect)) {
		fprintf(rn->o->out, " FAIL expected %s", c->expect);
		fail = 1;
	}
	fputc('\n', rn->o->out);
	fflush(rn->o->out);
	result_release(&r);
	sb_free(&out);
	sb_free(&norm);
	return fail;
}

int scn_run(struct scn *s, const struct run_opts *o)
{
	struct run rn;
	int status = 0;

	if (s->requires[0] && strcmp(s->requires, o->backend->name)) {
		fprintf(o->out, "SKIP requires %s%s%s\n", s->requires,
			s->requires_why[0] ? ": " : "", s->requires_why);
		fflush(o->out);
		return 3;
	}
	if (o->backend->cannot_run && o->backend->cannot_run(s)) {
		fprintf(o->out, "SKIP %s\n", o->backend->cannot_run(s));
		fflush(o->out);
		return 3;
	}
	memset(&rn, 0, sizeof(rn));
	rn.o = o;
	rn.nm = names_new();
	if (!rn.nm) {
		fprintf(stderr, "aspace: out of memory\n");
		return 1;
	}
	fflush(o->out);
	fflush(stderr);
	if (o->backend->start(&rn.b, o->verbose)) {
		fprintf(stderr, "%s: cannot start the %s backend\n", s->path,
			o->backend->name);
		names_free(rn.nm);
		return 1;
	}
	for (size_t i = 0; i < s->ncmds; i++)
		status |= run_cmd(&rn, &s->cmds[i]);
	o->backend->stop(rn.b);
	names_free(rn.nm);
	return status;
}

int scn_run_file(const char *path, const struct run_opts *o)
{
	struct scn *s;
	char err[512];
	int ret;

	if (scn_parse_file(path, &s, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	ret = scn_run(s, o);
	scn_free(s);
	return ret;
}

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: aspace run [--backend=engine|linux] [--verbose] [FILE...]\n"
		"\n"
		"Runs scenario files and prints their transcripts, one line per command:\n"
		"  LINE: COMMAND => RESULT\n"
		"With no FILE, runs a bundled example (fork and copy-on-write).\n"
		"\n"
		"  --backend=engine  the aspace engine (default)\n"
		"  --backend=linux   real system calls in real processes on this kernel\n"
		"  --verbose         print the backend's configuration on stderr\n"
		"\n"
		"Exit status: 0 every expectation held, 1 one failed (or a command could\n"
		"not run), 2 syntax error.  The file format is docs/scenarios.md.\n");
}

static const struct backend_ops *backend_by_name(const char *name)
{
	if (!strcmp(name, "engine"))
		return &engine_backend;
	if (!strcmp(name, "linux"))
		return &linux_backend;
	return NULL;
}

int cmd_run(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_opts o = { .backend = &engine_backend, .out = stdout };
	int c, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "b:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.backend = backend_by_name(optarg);
			if (!o.backend) {
				fprintf(stderr, "aspace run: unknown backend '%s' (engine or linux)\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		struct scn *s;
		char err[512];

		if (scn_parse_buf(scn_example_name, scn_example,
				  strlen(scn_example), &s, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		fprintf(o.out, "# %s (bundled example; see docs/scenarios.md)\n",
			scn_example_name);
		status = scn_run(s, &o);
		scn_free(s);
		return status == 3 ? 0 : status;
	}
	for (int i = optind; i < argc; i++) {
		int ret;

		if (argc - optind > 1)
			fprintf(o.out, "== %s ==\n", argv[i]);
		ret = scn_run_file(argv[i], &o);
		if (ret == 3)
			ret = 0;
		if (ret > status)
			status = ret;
	}
	return status;
}
