/*
 * parse.c: the scenario-file parser (SCENARIO.md "Lexical" and "Commands").
 * It owns everything that can be decided without running a command: tokens,
 * numbers, data literals, the grammar of each command, and names that are
 * used before any line binds them.  Both backends run what it produces.
 *
 * Every input is untrusted (the fuzz target feeds it garbage): buffers are
 * bounded, every allocation is checked, and an error never leaves a
 * half-built scenario behind.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "scn.h"

#define MAX_TOKENS 64
#define MAX_LINE (SCN_DATA_MAX * 2)

struct ptok {
	const char *s;
	size_t len;
};

struct pstate {
	const char *path;
	int line;
	struct ptok tok[MAX_TOKENS];
	int ntok;
	int i;
	char *err;
	size_t errlen;
	struct scn *scn;
};

static const struct {
	const char *name;
	enum scn_op op;
} op_names[] = {
	{ "fork", OP_FORK },
	{ "exit", OP_EXIT },
	{ "async", OP_ASYNC },
	{ "wait", OP_WAIT },
	{ "mmap", OP_MMAP },
	{ "munmap", OP_MUNMAP },
	{ "mprotect", OP_MPROTECT },
	{ "madvise", OP_MADVISE },
	{ "mremap", OP_MREMAP },
	{ "mlock", OP_MLOCK },
	{ "munlock", OP_MUNLOCK },
	{ "mlockall", OP_MLOCKALL },
	{ "munlockall", OP_MUNLOCKALL },
	{ "memfd", OP_MEMFD },
	{ "tmpfile", OP_TMPFILE },
	{ "close", OP_CLOSE },
	{ "ftruncate", OP_FTRUNCATE },
	{ "fallocate", OP_FALLOCATE },
	{ "pwrite", OP_PWRITE },
	{ "pread", OP_PREAD },
	{ "write", OP_WRITE },
	{ "read", OP_READ },
	{ "touch", OP_TOUCH },
	{ "maps", OP_MAPS },
	{ "smaps", OP_SMAPS },
	{ "pagemap", OP_PAGEMAP },
	{ "mincore", OP_MINCORE },
	{ "clear_refs", OP_CLEAR_REFS },
	{ "pin", OP_PIN },
	{ "pinread", OP_PINREAD },
	{ "pinwrite", OP_PINWRITE },
	{ "unpin", OP_UNPIN },
	{ "uffd", OP_UFFD },
	{ "uffd-register", OP_UFFD_REGISTER },
	{ "uffd-unregister", OP_UFFD_UNREGISTER },
	{ "uffd-read", OP_UFFD_READ },
	{ "uffd-copy", OP_UFFD_COPY },
	{ "uffd-zeropage", OP_UFFD_ZEROPAGE },
	{ "uffd-continue", OP_UFFD_CONTINUE },
	{ "uffd-wp", OP_UFFD_WP },
	{ "uffd-wake", OP_UFFD_WAKE },
	{ "uffd-move", OP_UFFD_MOVE },
};

static const struct {
	const char *name;
	int advice;
} advice_names[] = {
	{ "normal", MADV_NORMAL },
	{ "random", MADV_RANDOM },
	{ "sequential", MADV_SEQUENTIAL },
	{ "dontneed", MADV_DONTNEED },
	{ "free", 8 },
	{ "cold", 20 },
	{ "pageout", 21 },
	{ "willneed", MADV_WILLNEED },
	{ "remove", MADV_REMOVE },
	{ "populate_read", 22 },
	{ "populate_write", 23 },
	{ "dontfork", MADV_DONTFORK },
	{ "dofork", MADV_DOFORK },
	{ "wipeonfork", 18 },
	{ "keeponfork", 19 },
	{ "hugepage", MADV_HUGEPAGE },
	{ "nohugepage", MADV_NOHUGEPAGE },
	{ "collapse", 25 },
	{ "dontdump", MADV_DONTDUMP },
	{ "dodump", MADV_DODUMP },
};

static const char *const uffd_feature_names[] = {
	"pagefault_flag_wp", "event_fork",	   "event_remap",
	"event_remove",	     "missing_hugetlbfs",  "missing_shmem",
	"event_unmap",	     "sigbus",		   "thread_id",
	"minor_hugetlbfs",   "minor_shmem",	   "exact_address",
	"wp_hugetlbfs_shmem", "wp_unpopulated",	   "poison",
	"wp_async",	     "move",
};

const char *scn_op_name(enum scn_op op)
{
	for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (op_names[i].op == op)
			return op_names[i].name;
	return "?";
}

static int perr(struct pstate *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int perr(struct pstate *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->errlen, "%s:%d: ", p->path, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool tok_is(const struct ptok *t, const char *s)
{
	return strlen(s) == t->len && !memcmp(t->s, s, t->len);
}

/* Copies a token for messages, truncated and made printable. */
static const char *tok_show(const struct ptok *t, char *buf, size_t len)
{
	size_t n = t->len < len - 1 ? t->len : len - 1;

	for (size_t i = 0; i < n; i++)
		buf[i] = isprint((unsigned char)t->s[i]) ? t->s[i] : '?';
	buf[n] = 0;
	return buf;
}

int scn_parse_number(const char *s, unsigned long *out)
{
	unsigned long v = 0, mul = 1;
	size_t len = strlen(s), i = 0;
	int base = 10, digits = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (len > i) {
		switch (s[len - 1]) {
		case 'k': case 'K': mul = 1UL << 10; len--; break;
		case 'm': case 'M': mul = 1UL << 20; len--; break;
		case 'g': case 'G': mul = 1UL << 30; len--; break;
		case 'p': case 'P': mul = SCN_PAGE; len--; break;
		}
	}
	for (; i < len; i++, digits++) {
		int d;
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && isxdigit((unsigned char)c))
			d = tolower((unsigned char)c) - 'a' + 10;
		else
			return -EINVAL;
		if (v > (ULONG_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (!digits)
		return -EINVAL;
	if (v && mul > ULONG_MAX / v)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static int tok_number(struct pstate *p, const struct ptok *t, const char *what,
		      unsigned long *out)
{
	char buf[80], show[48];
	int ret;

	if (t->len >= sizeof(buf))
		return perr(p, "bad number '%s' for %s: too long",
			    tok_show(t, show, sizeof(show)), what);
	memcpy(buf, t->s, t->len);
	buf[t->len] = 0;
	ret = scn_parse_number(buf, out);
	if (ret == -ERANGE)
		return perr(p, "bad number '%s' for %s: out of range", buf,
			    what);
	if (ret)
		return perr(p,
			    "bad number '%s' for %s (expected decimal or 0x-hex, optional k/m/g/p suffix)",
			    buf, what);
	return 0;
}

static bool name_ok(const char *s, size_t len)
{
	if (!len || len >= SCN_NAME_MAX)
		return false;
	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static struct ptok *next_tok(struct pstate *p)
{
	return p->i < p->ntok ? &p->tok[p->i++] : NULL;
}

static int need_name(struct pstate *p, const char *what, char *out)
{
	struct ptok *t = next_tok(p);
	char show[48];

	if (!t)
		return perr(p, "expected %s", what);
	if (!name_ok(t->s, t->len))
		return perr(p, "expected %s, got '%s' (names are letters, digits and _)",
			    what, tok_show(t, show, sizeof(show)));
	memcpy(out, t->s, t->len);
	out[t->len] = 0;
	return 0;
}

static int need_number(struct pstate *p, const char *what, unsigned long *out)
{
	struct ptok *t = next_tok(p);

	if (!t)
		return perr(p, "expected %s", what);
	return tok_number(p, t, what, out);
}

static int parse_addr_str(struct pstate *p, const char *s, size_t len,
			  const char *what, struct scn_addr *a)
{
	size_t i = 0;
	char show[48];
	struct ptok t = { s, len };

	memset(a, 0, sizeof(*a));
	a->set = true;
	if (len && isdigit((unsigned char)s[0])) {
		unsigned long v;

		if (tok_number(p, &t, what, &v))
			return -EINVAL;
		a->off = (long)v;
		return 0;
	}
	while (i < len && s[i] != '+' && s[i] != '-')
		i++;
	if (!name_ok(s, i))
		return perr(p, "expected %s (NAME, NAME+N or NAME-N), got '%s'",
			    what, tok_show(&t, show, sizeof(show)));
	memcpy(a->name, s, i);
	a->name[i] = 0;
	/* NAME+N-M...: an extension; each term is a number. */
	while (i < len) {
		unsigned long v;
		size_t j = i + 1;
		struct ptok n;

		while (j < len && s[j] != '+' && s[j] != '-')
			j++;
		n.s = s + i + 1;
		n.len = j - i - 1;
		if (tok_number(p, &n, what, &v))
			return -EINVAL;
		if (v > (1UL << 62))
			return perr(p, "bad number in %s: out of range", what);
		if (s[i] == '-')
			a->off -= (long)v;
		else
			a->off += (long)v;
		if (a->off > (1L << 62) || a->off < -(1L << 62))
			return perr(p, "bad number in %s: out of range", what);
		i = j;
	}
	return 0;
}

static int need_addr(struct pstate *p, const char *what, struct scn_addr *a)
{
	struct ptok *t = next_tok(p);

	if (!t)
		return perr(p, "expected %s", what);
	return parse_addr_str(p, t->s, t->len, what, a);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Appends to a data buffer, enforcing SCN_DATA_MAX. */
static int data_put(struct pstate *p, unsigned char **buf, size_t *len,
		    size_t *cap, const void *src, int c, size_t n)
{
	if (!n)
		return 0;
	if (n > SCN_DATA_MAX - *len)
		return perr(p, "data longer than %lu bytes", SCN_DATA_MAX);
	if (*len + n > *cap) {
		size_t ncap = *cap ? *cap : 64;
		unsigned char *nb;

		while (ncap < *len + n)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (!nb)
			return perr(p, "out of memory");
		*buf = nb;
		*cap = ncap;
	}
	if (src)
		memcpy(*buf + *len, src, n);
	else
		memset(*buf + *len, c, n);
	*len += n;
	return 0;
}

static int parse_data(struct pstate *p, const struct ptok *t,
		      unsigned char **out, size_t *outlen)
{
	const char *s = t->s, *end = t->s + t->len;
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	const char *usage =
		"data (\"text\", 0xHH*N or hex:0011aabb, joined with +)";

	if (!t->len)
		goto bad;
	for (;;) {
		if (s >= end)
			goto bad;
		if (*s == '"') {
			s++;
			while (s < end && *s != '"') {
				unsigned char c = (unsigned char)*s++;

				if (c == '\\') {
					if (s >= end)
						goto bad;
					switch (*s++) {
					case 'n': c = '\n'; break;
					case 't': c = '\t'; break;
					case 'r': c = '\r'; break;
					case '0': c = 0; break;
					case '\\': c = '\\'; break;
					case '"': c = '"'; break;
					case 'x': {
						int h, l;

						if (end - s < 2)
							goto bad;
						h = hexval(s[0]);
						l = hexval(s[1]);
						if (h < 0 || l < 0)
							goto bad;
						c = (unsigned char)(h * 16 + l);
						s += 2;
						break;
					}
					default:
						goto bad;
					}
				}
				if (data_put(p, &buf, &len, &cap, &c, 0, 1))
					goto fail;
			}
			if (s >= end)
				goto bad;
			s++;
		} else if (end - s > 4 && !memcmp(s, "hex:", 4)) {
			s += 4;
			if (s >= end || *s == '+')
				goto bad;
			while (s < end && *s != '+') {
				int h, l;
				unsigned char c;

				if (end - s < 2)
					goto bad;
				h = hexval(s[0]);
				l = hexval(s[1]);
				if (h < 0 || l < 0)
					goto bad;
				c = (unsigned char)(h * 16 + l);
				if (data_put(p, &buf, &len, &cap, &c, 0, 1))
					goto fail;
				s += 2;
			}
		} else if (end - s >= 6 && s[0] == '0' &&
			   (s[1] == 'x' || s[1] == 'X') && s[4] == '*') {
			int h = hexval(s[2]), l = hexval(s[3]);
			const char *n = s + 5;
			unsigned long cnt;
			struct ptok nt;

			if (h < 0 || l < 0)
				goto bad;
			while (s < end && *s != '+')
				s++;
			nt.s = n;
			nt.len = s - n;
			if (tok_number(p, &nt, "a repeat count", &cnt))
				goto fail;
			if (cnt > SCN_DATA_MAX) {
				perr(p, "data longer than %lu bytes",
				     SCN_DATA_MAX);
				goto fail;
			}
			if (data_put(p, &buf, &len, &cap, NULL, h * 16 + l,
				     cnt))
				goto fail;
		} else {
			goto bad;
		}
		if (s == end)
			break;
		if (*s != '+')
			goto bad;
		s++;
	}
	if (!buf) {
		/* An empty string is valid data; keep a non-NULL buffer. */
		buf = malloc(1);
		if (!buf) {
			perr(p, "out of memory");
			goto fail;
		}
	}
	*out = buf;
	*outlen = len;
	return 0;
bad:
	{
		char show[48];

		perr(p, "expected %s, got '%s'", usage,
		     tok_show(t, show, sizeof(show)));
	}
fail:
	free(buf);
	return -EINVAL;
}

static int need_data(struct pstate *p, struct scn_cmd *c)
{
	struct ptok *t = next_tok(p);

	if (!t)
		return perr(p, "expected data (\"text\", 0xHH*N or hex:...)");
	return parse_data(p, t, &c->data, &c->dlen);
}

static int parse_prot(struct pstate *p, int *prot)
{
	struct ptok *t = next_tok(p);
	char show[48];

	*prot = 0;
	if (!t)
		return perr(p, "expected PROT (none, or letters from rwx)");
	if (tok_is(t, "none"))
		return 0;
	for (size_t i = 0; i < t->len; i++) {
		int bit;

		switch (t->s[i]) {
		case 'r': bit = PROT_READ; break;
		case 'w': bit = PROT_WRITE; break;
		case 'x': bit = PROT_EXEC; break;
		case '-': continue;
		default:
			return perr(p, "expected PROT (none, or letters from rwx), got '%s'",
				    tok_show(t, show, sizeof(show)));
		}
		if (*prot & bit)
			return perr(p, "expected PROT: '%s' repeats a letter",
				    tok_show(t, show, sizeof(show)));
		*prot |= bit;
	}
	if (!t->len)
		return perr(p, "expected PROT");
	return 0;
}

struct flagname {
	const char *name;
	unsigned int bit;
};

/* A comma list of flag names from a table. */
static int parse_flag_list(struct pstate *p, const struct ptok *t,
			   const struct flagname *tab, size_t n,
			   const char *what, unsigned int *flags)
{
	const char *s = t->s, *end = t->s + t->len;
	char show[48];

	if (!t->len)
		return perr(p, "expected %s", what);
	while (s <= end) {
		const char *e = memchr(s, ',', end - s);
		size_t i;
		struct ptok one;

		if (!e)
			e = end;
		one.s = s;
		one.len = e - s;
		for (i = 0; i < n; i++)
			if (tok_is(&one, tab[i].name))
				break;
		if (i == n)
			return perr(p, "expected %s, got '%s'", what,
				    tok_show(&one, show, sizeof(show)));
		*flags |= tab[i].bit;
		s = e + 1;
	}
	return 0;
}

static const struct flagname mmap_flags[] = {
	{ "private", SF_PRIVATE },   { "shared", SF_SHARED },
	{ "anon", SF_ANON },	     { "fixed", SF_FIXED },
	{ "fixed_noreplace", SF_FIXED_NOREPLACE },
	{ "populate", SF_POPULATE }, { "noreserve", SF_NORESERVE },
	{ "locked", SF_LOCKED },
};

/* The MAP_* flags of an mmap command's SF_* bits (both backends use it). */
int scn_mmap_flags(unsigned int f)
{
	static const struct {
		unsigned int sf;
		int map;
	} tab[] = {
		{ SF_PRIVATE, MAP_PRIVATE },	 { SF_SHARED, MAP_SHARED },
		{ SF_ANON, MAP_ANONYMOUS },	 { SF_FIXED, MAP_FIXED },
		{ SF_FIXED_NOREPLACE, MAP_FIXED_NOREPLACE },
		{ SF_POPULATE, MAP_POPULATE }, { SF_NORESERVE, MAP_NORESERVE },
		{ SF_LOCKED, MAP_LOCKED },
	};
	int fl = 0;

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (f & tab[i].sf)
			fl |= tab[i].map;
	return fl;
}

static const struct flagname mlockall_flags[] = {
	{ "current", SF_CURRENT },
	{ "future", SF_FUTURE },
	{ "onfault", SF_ONFAULT },
};

static const struct flagname uffd_modes[] = {
	{ "missing", SF_MISSING },
	{ "wp", SF_WP },
	{ "minor", SF_MINOR },
};

/* Optional trailing words and key=value pairs; each command lists its own. */
struct opt {
	const char *word; /* "maymove" or "fixed=" (ends with '=') */
	unsigned int bit; /* for plain words */
	int kind;         /* 0 word, 1 addr, 2 number, 3 name */
	void *dst;
};

static int parse_opts(struct pstate *p, struct scn_cmd *c,
		      const struct opt *opts, size_t nopts, const char *usage)
{
	struct ptok *t;
	char show[48];

	while ((t = next_tok(p))) {
		size_t i;

		for (i = 0; i < nopts; i++) {
			size_t wl = strlen(opts[i].word);

			if (opts[i].kind == 0 ? tok_is(t, opts[i].word)
					      : t->len > wl &&
							!memcmp(t->s, opts[i].word,
								wl))
				break;
		}
		if (i == nopts)
			return perr(p, "unexpected '%s'; usage: %s",
				    tok_show(t, show, sizeof(show)), usage);
		{
			size_t wl = strlen(opts[i].word);
			struct ptok v = { t->s + wl, t->len - wl };

			switch (opts[i].kind) {
			case 0:
				c->flags |= opts[i].bit;
				break;
			case 1:
				if (parse_addr_str(p, v.s, v.len, opts[i].word,
						   opts[i].dst))
					return -EINVAL;
				break;
			case 2:
				if (tok_number(p, &v, opts[i].word,
					       opts[i].dst))
					return -EINVAL;
				break;
			case 3:
				if (!name_ok(v.s, v.len))
					return perr(p, "expected a name after %s",
						    opts[i].word);
				memcpy(opts[i].dst, v.s, v.len);
				((char *)opts[i].dst)[v.len] = 0;
				break;
			}
		}
	}
	return 0;
}

static int no_more(struct pstate *p, const char *usage)
{
	char show[48];

	if (p->i < p->ntok)
		return perr(p, "unexpected '%s'; usage: %s",
			    tok_show(&p->tok[p->i], show, sizeof(show)), usage);
	return 0;
}

static int parse_uffd_features(struct pstate *p, const struct ptok *t,
			       unsigned long *features)
{
	const char *s = t->s, *end = t->s + t->len;
	char show[48];

	while (s < end) {
		const char *e = memchr(s, ',', end - s);
		struct ptok one;
		size_t i, n = sizeof(uffd_feature_names) /
			      sizeof(uffd_feature_names[0]);

		if (!e)
			e = end;
		one.s = s;
		one.len = e - s;
		for (i = 0; i < n; i++)
			if (tok_is(&one, uffd_feature_names[i]))
				break;
		if (i == n)
			return perr(p, "unknown uffd feature '%s'",
				    tok_show(&one, show, sizeof(show)));
		*features |= 1UL << i;
		s = e + 1;
	}
	return 0;
}

static int parse_cmd(struct pstate *p, struct scn_cmd *c);

static int parse_body(struct pstate *p, struct scn_cmd *c)
{
	struct ptok *t = next_tok(p);
	char show[48];
	size_t i;
	const char *u;

	if (!t)
		return perr(p, "expected a command");
	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (tok_is(t, op_names[i].name))
			break;
	if (i == sizeof(op_names) / sizeof(op_names[0]))
		return perr(p, "unknown command '%s'",
			    tok_show(t, show, sizeof(show)));
	c->op = op_names[i].op;

	switch (c->op) {
	case OP_FORK:
		u = "fork NAME";
		if (need_name(p, "NAME of the child process", c->name))
			return -EINVAL;
		return no_more(p, u);
	case OP_EXIT:
	case OP_MAPS:
	case OP_MUNLOCKALL:
		return no_more(p, scn_op_name(c->op));
	case OP_ASYNC: {
		struct scn_cmd *sub;

		if (need_name(p, "thread name T in 'async T COMMAND'", c->name))
			return -EINVAL;
		sub = calloc(1, sizeof(*sub));
		if (!sub)
			return perr(p, "out of memory");
		c->sub = sub;
		sub->line = c->line;
		memcpy(sub->proc, c->proc, sizeof(sub->proc));
		memcpy(sub->thread, c->name, sizeof(sub->thread));
		if (parse_body(p, sub))
			return -EINVAL;
		if (sub->op == OP_ASYNC || sub->op == OP_WAIT)
			return perr(p, "async cannot run '%s'",
				    scn_op_name(sub->op));
		return 0;
	}
	case OP_WAIT:
		if (need_name(p, "thread name T in 'wait T'", c->name))
			return -EINVAL;
		return no_more(p, "wait T");
	case OP_MMAP: {
		struct ptok *ft;
		struct opt o[] = {
			{ "fd=", 0, 3, c->name2 },
			{ "off=", 0, 2, &c->off },
			{ "at=", 0, 1, &c->addr2 },
		};

		u = "mmap NAME LEN PROT FLAGS [fd=F] [off=N] [at=ADDR]";
		if (need_name(p, "NAME in 'mmap NAME LEN PROT FLAGS'", c->name) ||
		    need_number(p, "LEN in 'mmap NAME LEN PROT FLAGS'", &c->n1) ||
		    parse_prot(p, &c->prot))
			return -EINVAL;
		ft = next_tok(p);
		if (!ft)
			return perr(p, "expected FLAGS (private, shared, anon, fixed, ...)");
		if (parse_flag_list(p, ft, mmap_flags,
				    sizeof(mmap_flags) / sizeof(mmap_flags[0]),
				    "mmap FLAGS (private shared anon fixed fixed_noreplace populate noreserve locked)",
				    &c->flags))
			return -EINVAL;
		return parse_opts(p, c, o, 3, u);
	}
	case OP_MUNMAP:
	case OP_MUNLOCK:
	case OP_MINCORE:
	case OP_PAGEMAP:
	case OP_READ: {
		char usage[64];

		snprintf(usage, sizeof(usage), "%s ADDR LEN",
			 scn_op_name(c->op));
		if (need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		return no_more(p, usage);
	}
	case OP_MPROTECT:
		u = "mprotect ADDR LEN PROT";
		if (need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1) || parse_prot(p, &c->prot))
			return -EINVAL;
		return no_more(p, u);
	case OP_MADVISE: {
		struct ptok *a;

		u = "madvise ADDR LEN ADVICE";
		if (need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		a = next_tok(p);
		if (!a)
			return perr(p, "expected ADVICE (dontneed, free, ...)");
		for (i = 0; i < sizeof(advice_names) / sizeof(advice_names[0]);
		     i++)
			if (tok_is(a, advice_names[i].name))
				break;
		if (i == sizeof(advice_names) / sizeof(advice_names[0]))
			return perr(p, "unknown advice '%s'",
				    tok_show(a, show, sizeof(show)));
		c->advice = advice_names[i].advice;
		return no_more(p, u);
	}
	case OP_MREMAP: {
		struct opt o[] = {
			{ "maymove", SF_MAYMOVE, 0, NULL },
			{ "dontunmap", SF_DONTUNMAP, 0, NULL },
			{ "fixed=", 0, 1, &c->addr2 },
			{ "as=", 0, 3, c->name2 },
		};

		u = "mremap ADDR OLDLEN NEWLEN [maymove] [fixed=ADDR] [dontunmap] [as=NAME]";
		if (need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "OLDLEN", &c->n1) ||
		    need_number(p, "NEWLEN", &c->n2))
			return -EINVAL;
		return parse_opts(p, c, o, 4, u);
	}
	case OP_MLOCK: {
		struct opt o[] = { { "onfault", SF_ONFAULT, 0, NULL } };

		if (need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		return parse_opts(p, c, o, 1, "mlock ADDR LEN [onfault]");
	}
	case OP_MLOCKALL: {
		struct ptok *f;
		int n = 0;

		while ((f = next_tok(p))) {
			if (parse_flag_list(p, f, mlockall_flags, 3,
					    "mlockall flags (current, future, onfault)",
					    &c->flags))
				return -EINVAL;
			n++;
		}
		if (!n)
			return perr(p, "expected mlockall flags (current, future, onfault)");
		return 0;
	}
	case OP_MEMFD: {
		struct opt o[] = { { "hugetlb", SF_HUGETLB, 0, NULL } };

		if (need_name(p, "file name F in 'memfd F'", c->name))
			return -EINVAL;
		return parse_opts(p, c, o, 1, "memfd F [hugetlb]");
	}
	case OP_TMPFILE:
	case OP_CLOSE: {
		char usage[32];

		snprintf(usage, sizeof(usage), "%s F", scn_op_name(c->op));
		if (need_name(p, "file name F", c->name))
			return -EINVAL;
		return no_more(p, usage);
	}
	case OP_FTRUNCATE:
		if (need_name(p, "file name F", c->name) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		return no_more(p, "ftruncate F LEN");
	case OP_FALLOCATE: {
		struct opt o[] = { { "punch", SF_PUNCH, 0, NULL } };

		if (need_name(p, "file name F", c->name) ||
		    need_number(p, "OFF", &c->n1) ||
		    need_number(p, "LEN", &c->n2))
			return -EINVAL;
		return parse_opts(p, c, o, 1, "fallocate F OFF LEN [punch]");
	}
	case OP_PWRITE:
		if (need_name(p, "file name F", c->name) ||
		    need_number(p, "OFF", &c->n1) || need_data(p, c))
			return -EINVAL;
		return no_more(p, "pwrite F OFF DATA");
	case OP_PREAD:
		if (need_name(p, "file name F", c->name) ||
		    need_number(p, "OFF", &c->n1) ||
		    need_number(p, "LEN", &c->n2))
			return -EINVAL;
		return no_more(p, "pread F OFF LEN");
	case OP_WRITE:
		if (need_addr(p, "ADDR", &c->addr) || need_data(p, c))
			return -EINVAL;
		return no_more(p, "write ADDR DATA");
	case OP_TOUCH: {
		struct ptok *m;

		u = "touch ADDR LEN read|write";
		if (need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		m = next_tok(p);
		if (!m || (!tok_is(m, "read") && !tok_is(m, "write")))
			return perr(p, "expected read or write; usage: %s", u);
		if (tok_is(m, "write"))
			c->flags |= SF_WRITE;
		return no_more(p, u);
	}
	case OP_SMAPS:
		if (need_addr(p, "ADDR", &c->addr))
			return -EINVAL;
		return no_more(p, "smaps ADDR");
	case OP_CLEAR_REFS: {
		struct ptok *m = next_tok(p);

		if (!m || (!tok_is(m, "all") && !tok_is(m, "soft-dirty")))
			return perr(p, "expected all or soft-dirty");
		if (tok_is(m, "soft-dirty"))
			c->flags |= SF_SOFT_DIRTY;
		return no_more(p, "clear_refs all|soft-dirty");
	}
	case OP_PIN: {
		struct ptok *m;
		struct opt o[] = {
			{ "longterm", SF_LONGTERM, 0, NULL },
			{ "fast", SF_FAST, 0, NULL },
		};

		u = "pin P ADDR LEN ro|rw [longterm] [fast]";
		if (need_name(p, "pin handle P", c->name) ||
		    need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		m = next_tok(p);
		if (!m || (!tok_is(m, "ro") && !tok_is(m, "rw")))
			return perr(p, "expected ro or rw; usage: %s", u);
		if (tok_is(m, "rw"))
			c->flags |= SF_RW;
		return parse_opts(p, c, o, 2, u);
	}
	case OP_PINREAD:
		if (need_name(p, "pin handle P", c->name) ||
		    need_number(p, "OFF", &c->n1) ||
		    need_number(p, "LEN", &c->n2))
			return -EINVAL;
		return no_more(p, "pinread P OFF LEN");
	case OP_PINWRITE:
		if (need_name(p, "pin handle P", c->name) ||
		    need_number(p, "OFF", &c->n1) || need_data(p, c))
			return -EINVAL;
		return no_more(p, "pinwrite P OFF DATA");
	case OP_UNPIN:
		if (need_name(p, "pin handle P", c->name))
			return -EINVAL;
		return no_more(p, "unpin P");
	case OP_UFFD: {
		struct ptok *f;

		if (need_name(p, "userfaultfd name U", c->name))
			return -EINVAL;
		while ((f = next_tok(p))) {
			struct ptok v;

			if (f->len < 9 || memcmp(f->s, "features=", 9))
				return perr(p, "unexpected '%s'; usage: uffd U [features=a,b,...]",
					    tok_show(f, show, sizeof(show)));
			v.s = f->s + 9;
			v.len = f->len - 9;
			if (parse_uffd_features(p, &v, &c->features))
				return -EINVAL;
		}
		return 0;
	}
	case OP_UFFD_REGISTER: {
		struct ptok *m;

		u = "uffd-register U ADDR LEN missing,wp,minor";
		if (need_name(p, "userfaultfd name U", c->name) ||
		    need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		m = next_tok(p);
		if (!m)
			return perr(p, "expected modes (missing,wp,minor); usage: %s",
				    u);
		if (parse_flag_list(p, m, uffd_modes, 3,
				    "modes (missing, wp, minor)", &c->flags))
			return -EINVAL;
		return no_more(p, u);
	}
	case OP_UFFD_UNREGISTER:
	case OP_UFFD_ZEROPAGE:
	case OP_UFFD_WAKE:
	case OP_UFFD_CONTINUE: {
		struct opt o[] = {
			{ "dontwake", SF_DONTWAKE, 0, NULL },
			{ "wp", SF_WP, 0, NULL },
		};
		size_t no = c->op == OP_UFFD_CONTINUE	? 2
			    : c->op == OP_UFFD_ZEROPAGE ? 1
							: 0;
		char usage[80];

		snprintf(usage, sizeof(usage), "%s U ADDR LEN%s",
			 scn_op_name(c->op),
			 no == 2 ? " [wp] [dontwake]"
				 : no == 1 ? " [dontwake]" : "");
		if (need_name(p, "userfaultfd name U", c->name) ||
		    need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		return parse_opts(p, c, o, no, usage);
	}
	case OP_UFFD_READ: {
		struct opt o[] = { { "as=", 0, 3, c->name2 } };

		if (need_name(p, "userfaultfd name U", c->name))
			return -EINVAL;
		return parse_opts(p, c, o, 1, "uffd-read U [as=NAME]");
	}
	case OP_UFFD_COPY: {
		struct opt o[] = {
			{ "wp", SF_WP, 0, NULL },
			{ "dontwake", SF_DONTWAKE, 0, NULL },
		};

		u = "uffd-copy U ADDR LEN DATA [wp] [dontwake]";
		if (need_name(p, "userfaultfd name U", c->name) ||
		    need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1) || need_data(p, c))
			return -EINVAL;
		if (c->dlen != c->n1)
			return perr(p, "expected exactly LEN (%lu) bytes of data, got %zu",
				    c->n1, c->dlen);
		return parse_opts(p, c, o, 2, u);
	}
	case OP_UFFD_WP: {
		struct ptok *m;
		struct opt o[] = { { "dontwake", SF_DONTWAKE, 0, NULL } };

		u = "uffd-wp U ADDR LEN on|off [dontwake]";
		if (need_name(p, "userfaultfd name U", c->name) ||
		    need_addr(p, "ADDR", &c->addr) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		m = next_tok(p);
		if (!m || (!tok_is(m, "on") && !tok_is(m, "off")))
			return perr(p, "expected on or off; usage: %s", u);
		if (tok_is(m, "on"))
			c->flags |= SF_ON;
		return parse_opts(p, c, o, 1, u);
	}
	case OP_UFFD_MOVE: {
		struct opt o[] = {
			{ "allow_src_holes", SF_ALLOW_SRC_HOLES, 0, NULL },
		};

		u = "uffd-move U DST SRC LEN [allow_src_holes]";
		if (need_name(p, "userfaultfd name U", c->name) ||
		    need_addr(p, "DST", &c->addr) ||
		    need_addr(p, "SRC", &c->addr2) ||
		    need_number(p, "LEN", &c->n1))
			return -EINVAL;
		return parse_opts(p, c, o, 1, u);
	}
	case OP_NONE:
	case OP__COUNT:
		break;
	}
	return perr(p, "unknown command");
}

static int parse_cmd(struct pstate *p, struct scn_cmd *c)
{
	struct ptok *t = &p->tok[0];

	if (t->len && t->s[0] == '@') {
		const char *dot = memchr(t->s, '.', t->len);
		size_t plen = dot ? (size_t)(dot - t->s - 1) : t->len - 1;

		if (!name_ok(t->s + 1, plen))
			return perr(p, "expected @NAME or @NAME.T before the command");
		memcpy(c->proc, t->s + 1, plen);
		c->proc[plen] = 0;
		if (dot) {
			size_t tlen = t->len - (dot - t->s) - 1;

			if (!name_ok(dot + 1, tlen))
				return perr(p, "expected a thread name after '.' in @NAME.T");
			memcpy(c->thread, dot + 1, tlen);
			c->thread[tlen] = 0;
		}
		if (!strcmp(c->proc, "main"))
			c->proc[0] = 0;
		p->i = 1;
	}
	return parse_body(p, c);
}

/* Splits a line into tokens; quotes keep white space inside a token. */
static int tokenize(struct pstate *p, const char *s, size_t len)
{
	size_t i = 0;

	p->ntok = 0;
	p->i = 0;
	while (i < len) {
		size_t start;
		bool q = false;

		while (i < len && isspace((unsigned char)s[i]))
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && (q || !isspace((unsigned char)s[i]))) {
			if (q && s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '"')
				q = !q;
			i++;
		}
		if (q)
			return perr(p, "expected a closing '\"'");
		if (p->ntok == MAX_TOKENS)
			return perr(p, "too many words on one line");
		p->tok[p->ntok].s = s + start;
		p->tok[p->ntok].len = i - start;
		p->ntok++;
	}
	return 0;
}

void normalise_ws(char *s)
{
	char *w = s;
	bool sp = false;

	while (*s && isspace((unsigned char)*s))
		s++;
	for (; *s; s++) {
		if (isspace((unsigned char)*s)) {
			sp = true;
			continue;
		}
		if (sp)
			*w++ = ' ';
		sp = false;
		*w++ = *s;
	}
	*w = 0;
}

static char *join_tokens(struct pstate *p)
{
	size_t n = 1;
	char *s, *w;

	for (int i = 0; i < p->ntok; i++)
		n += p->tok[i].len + 1;
	s = malloc(n);
	if (!s)
		return NULL;
	w = s;
	for (int i = 0; i < p->ntok; i++) {
		if (i)
			*w++ = ' ';
		memcpy(w, p->tok[i].s, p->tok[i].len);
		w += p->tok[i].len;
	}
	*w = 0;
	return s;
}

static void cmd_free(struct scn_cmd *c)
{
	if (c->sub) {
		cmd_free(c->sub);
		free(c->sub);
	}
	free(c->text);
	free(c->expect);
	free(c->data);
}

void scn_free(struct scn *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ncmds; i++)
		cmd_free(&s->cmds[i]);
	free(s->cmds);
	free(s->path);
	free(s);
}

/* Handles "# requires: linux|engine [why]" in a comment. */
static int parse_requires(struct pstate *p, const char *c, size_t len)
{
	const char *end = c + len;
	size_t wl;

	while (c < end && (*c == '#' || isspace((unsigned char)*c)))
		c++;
	if (end - c < 9 || memcmp(c, "requires:", 9))
		return 0;
	c += 9;
	while (c < end && isspace((unsigned char)*c))
		c++;
	if (end - c >= 5 && !memcmp(c, "linux", 5))
		wl = 5;
	else if (end - c >= 6 && !memcmp(c, "engine", 6))
		wl = 6;
	else
		return perr(p, "expected 'linux' or 'engine' after '# requires:'");
	memcpy(p->scn->requires, c, wl);
	p->scn->requires[wl] = 0;
	c += wl;
	while (c < end && (isspace((unsigned char)*c) || *c == ':' ||
			   *c == '-' || *c == '('))
		c++;
	while (end > c && (isspace((unsigned char)end[-1]) || end[-1] == ')'))
		end--;
	wl = (size_t)(end - c) < sizeof(p->scn->requires_why) - 1
		     ? (size_t)(end - c)
		     : sizeof(p->scn->requires_why) - 1;
	memcpy(p->scn->requires_why, c, wl);
	p->scn->requires_why[wl] = 0;
	for (size_t i = 0; i < wl; i++)
		if (!isprint((unsigned char)p->scn->requires_why[i]))
			p->scn->requires_why[i] = '?';
	return 0;
}

/* Names a line uses must have been bound by an earlier line. */
struct known {
	char (*v)[SCN_NAME_MAX];
	size_t n, cap;
};

static int known_add(struct known *k, const char *name)
{
	if (!name[0])
		return 0;
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->v[i], name))
			return 0;
	if (k->n == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 16;
		void *nv = realloc(k->v, ncap * SCN_NAME_MAX);

		if (!nv)
			return -ENOMEM;
		k->v = nv;
		k->cap = ncap;
	}
	memcpy(k->v[k->n++], name, SCN_NAME_MAX);
	return 0;
}

static bool known_has(const struct known *k, const char *name)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->v[i], name))
			return true;
	return false;
}

struct scope {
	struct known addrs, files, pins, uffds, procs, threads;
	bool uffd_read_seen;
};

static int check_addr(struct pstate *p, struct scope *sc,
		      const struct scn_addr *a)
{
	if (a->set && a->name[0] && !known_has(&sc->addrs, a->name))
		return perr(p, "undefined name '%s' (no earlier mmap or mremap as= binds it)",
			    a->name);
	return 0;
}

static int check_names(struct pstate *p, struct scope *sc, struct scn_cmd *c)
{
	if (c->proc[0] && !known_has(&sc->procs, c->proc))
		return perr(p, "undefined process '%s' (no earlier 'fork %s')",
			    c->proc, c->proc);
	if (check_addr(p, sc, &c->addr) || check_addr(p, sc, &c->addr2))
		return -EINVAL;
	switch (c->op) {
	case OP_ASYNC:
		if (known_add(&sc->threads, c->name))
			return perr(p, "out of memory");
		return check_names(p, sc, c->sub);
	case OP_WAIT:
		if (!known_has(&sc->threads, c->name))
			return perr(p, "undefined thread '%s' (no earlier 'async %s ...')",
				    c->name, c->name);
		break;
	case OP_FORK:
		if (known_add(&sc->procs, c->name))
			return perr(p, "out of memory");
		break;
	case OP_MMAP:
		if (c->name2[0] && !known_has(&sc->files, c->name2))
			return perr(p, "undefined file '%s' (no earlier memfd or tmpfile)",
				    c->name2);
		if (known_add(&sc->addrs, c->name))
			return perr(p, "out of memory");
		break;
	case OP_MREMAP:
		if (known_add(&sc->addrs, c->name2))
			return perr(p, "out of memory");
		break;
	case OP_MEMFD:
	case OP_TMPFILE:
		if (known_add(&sc->files, c->name))
			return perr(p, "out of memory");
		break;
	case OP_CLOSE:
	case OP_FTRUNCATE:
	case OP_FALLOCATE:
	case OP_PWRITE:
	case OP_PREAD:
		if (!known_has(&sc->files, c->name))
			return perr(p, "undefined file '%s' (no earlier memfd or tmpfile)",
				    c->name);
		break;
	case OP_PIN:
		if (known_add(&sc->pins, c->name))
			return perr(p, "out of memory");
		break;
	case OP_PINREAD:
	case OP_PINWRITE:
	case OP_UNPIN:
		if (!known_has(&sc->pins, c->name))
			return perr(p, "undefined pin '%s' (no earlier pin)",
				    c->name);
		break;
	case OP_UFFD:
		if (known_add(&sc->uffds, c->name))
			return perr(p, "out of memory");
		break;
	case OP_UFFD_READ:
		if (!known_has(&sc->uffds, c->name) && !sc->uffd_read_seen)
			return perr(p, "undefined userfaultfd '%s' (no earlier uffd)",
				    c->name);
		sc->uffd_read_seen = true;
		if (known_add(&sc->uffds, c->name2))
			return perr(p, "out of memory");
		break;
	case OP_UFFD_REGISTER:
	case OP_UFFD_UNREGISTER:
	case OP_UFFD_COPY:
	case OP_UFFD_ZEROPAGE:
	case OP_UFFD_CONTINUE:
	case OP_UFFD_WP:
	case OP_UFFD_WAKE:
	case OP_UFFD_MOVE:
		/* A child's uffd may get a generated name from uffd-read. */
		if (!known_has(&sc->uffds, c->name) && !sc->uffd_read_seen)
			return perr(p, "undefined userfaultfd '%s' (no earlier uffd)",
				    c->name);
		break;
	default:
		break;
	}
	return 0;
}

static void scope_free(struct scope *sc)
{
	free(sc->addrs.v);
	free(sc->files.v);
	free(sc->pins.v);
	free(sc->uffds.v);
	free(sc->procs.v);
	free(sc->threads.v);
}

static int parse_line(struct pstate *p, struct scope *sc, const char *line,
		      size_t len)
{
	const char *cmt = NULL, *arrow = NULL;
	bool q = false;
	struct scn_cmd *c;
	size_t cmdlen;

	for (size_t i = 0; i < len; i++) {
		if (q && line[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (line[i] == '"')
			q = !q;
		else if (!q && line[i] == '#') {
			cmt = line + i;
			break;
		} else if (!q && !arrow && line[i] == '=' && i + 1 < len &&
			   line[i + 1] == '>')
			arrow = line + i;
	}
	if (cmt) {
		if (parse_requires(p, cmt, len - (cmt - line)))
			return -EINVAL;
		len = cmt - line;
	}
	cmdlen = arrow ? (size_t)(arrow - line) : len;
	if (tokenize(p, line, cmdlen))
		return -EINVAL;
	if (!p->ntok) {
		if (arrow)
			return perr(p, "expected a command before '=>'");
		return 0;
	}
	if (p->scn->ncmds == p->scn->cap) {
		size_t ncap = p->scn->cap ? p->scn->cap * 2 : 32;
		struct scn_cmd *nc =
			realloc(p->scn->cmds, ncap * sizeof(*nc));

		if (!nc)
			return perr(p, "out of memory");
		p->scn->cmds = nc;
		p->scn->cap = ncap;
	}
	c = &p->scn->cmds[p->scn->ncmds++];
	memset(c, 0, sizeof(*c));
	c->line = p->line;
	c->text = join_tokens(p);
	if (!c->text)
		return perr(p, "out of memory");
	if (arrow) {
		size_t elen = len - (arrow + 2 - line);

		c->expect = malloc(elen + 1);
		if (!c->expect)
			return perr(p, "out of memory");
		memcpy(c->expect, arrow + 2, elen);
		c->expect[elen] = 0;
		normalise_ws(c->expect);
		if (!c->expect[0])
			return perr(p, "expected a result after '=>'");
	}
	if (parse_cmd(p, c))
		return -EINVAL;
	return check_names(p, sc, c);
}

int scn_parse_buf(const char *path, const char *buf, size_t len,
		  struct scn **out, char *err, size_t errlen)
{
	struct pstate p = { .path = path, .err = err, .errlen = errlen };
	struct scope sc;
	size_t pos = 0;
	int ret = 0;

	memset(&sc, 0, sizeof(sc));
	p.scn = calloc(1, sizeof(*p.scn));
	if (!p.scn || !(p.scn->path = strdup(path))) {
		snprintf(err, errlen, "%s: out of memory", path);
		scn_free(p.scn);
		return -ENOMEM;
	}
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (buf + pos)) : len - pos;

		p.line++;
		if (memchr(buf + pos, 0, ll)) {
			ret = perr(&p, "expected text, found a NUL byte");
			break;
		}
		size_t tl = ll;

		if (tl && buf[pos + tl - 1] == '\r')
			tl--;
		ret = parse_line(&p, &sc, buf + pos, tl);
		if (ret)
			break;
		pos += ll + (nl ? 1 : 0);
	}
	scope_free(&sc);
	if (ret) {
		scn_free(p.scn);
		return ret;
	}
	*out = p.scn;
	return 0;
}

int scn_parse_file(const char *path, struct scn **out, char *err,
		   size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int ret;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *nb;

			if (ncap > MAX_LINE * 4) {
				snprintf(err, errlen, "%s: file too large",
					 path);
				ret = -EFBIG;
				goto out;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				snprintf(err, errlen, "%s: out of memory",
					 path);
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		ret = -EIO;
		goto out;
	}
	ret = scn_parse_buf(path, buf, len, out, err, errlen);
out:
	free(buf);
	fclose(f);
	return ret;
}
