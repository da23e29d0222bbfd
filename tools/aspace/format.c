/*
 * format.c: the one result formatter both backends print through, and the
 * name table it canonicalises with (SCENARIO.md "Result lines").  It owns
 * the rules that keep raw addresses out of transcripts: NAME+N addresses,
 * data runs, errno names, and the filtering of /proc maps and smaps text to
 * the ranges the scenario mapped.  Backends hand it raw facts only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "scn.h"

struct nm_entry {
	char name[SCN_NAME_MAX];
	unsigned long addr;
	unsigned long seq;
};

struct nm_range {
	unsigned long start, end;
};

struct nm_file {
	char name[SCN_NAME_MAX];
	unsigned long ino;
	bool tmpfile;
};

struct names {
	struct nm_entry *e;
	size_t ne, cape;
	struct nm_range *r;
	size_t nr, capr;
	struct nm_file *f;
	size_t nf, capf;
	unsigned long seq;
};

static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	nv = realloc(*v, ncap * sz);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

struct names *names_new(void)
{
	return calloc(1, sizeof(struct names));
}

void names_free(struct names *nm)
{
	if (!nm)
		return;
	free(nm->e);
	free(nm->r);
	free(nm->f);
	free(nm);
}

int names_bind(struct names *nm, const char *name, unsigned long addr)
{
	size_t i;

	for (i = 0; i < nm->ne; i++)
		if (!strcmp(nm->e[i].name, name))
			break;
	if (i == nm->ne) {
		if (grow((void **)&nm->e, &nm->cape, nm->ne, sizeof(*nm->e)))
			return -ENOMEM;
		nm->ne++;
		snprintf(nm->e[i].name, SCN_NAME_MAX, "%s", name);
	}
	nm->e[i].addr = addr;
	nm->e[i].seq = ++nm->seq;
	return 0;
}

int names_lookup(const struct names *nm, const char *name, unsigned long *addr)
{
	for (size_t i = 0; i < nm->ne; i++) {
		if (!strcmp(nm->e[i].name, name)) {
			*addr = nm->e[i].addr;
			return 0;
		}
	}
	return -ENOENT;
}

int names_add_range(struct names *nm, unsigned long start, unsigned long len)
{
	unsigned long end = start + ((len + SCN_PAGE - 1) & ~(SCN_PAGE - 1));

	if (end < start)
		end = ~0UL;
	if (grow((void **)&nm->r, &nm->capr, nm->nr, sizeof(*nm->r)))
		return -ENOMEM;
	nm->r[nm->nr].start = start;
	nm->r[nm->nr].end = end;
	nm->nr++;
	return 0;
}

int names_add_file(struct names *nm, const char *name, unsigned long ino,
		   bool tmpfile)
{
	if (grow((void **)&nm->f, &nm->capf, nm->nf, sizeof(*nm->f)))
		return -ENOMEM;
	snprintf(nm->f[nm->nf].name, SCN_NAME_MAX, "%s", name);
	nm->f[nm->nf].ino = ino;
	nm->f[nm->nf].tmpfile = tmpfile;
	nm->nf++;
	return 0;
}

static bool names_in_ranges(const struct names *nm, unsigned long s,
			    unsigned long e)
{
	for (size_t i = 0; i < nm->nr; i++)
		if (s < nm->r[i].end && nm->r[i].start < e)
			return true;
	return false;
}

void fmt_size(unsigned long n, char *buf, size_t len)
{
	if (n && !(n & ((1UL << 20) - 1)))
		snprintf(buf, len, "%lum", n >> 20);
	else if (n && !(n & ((1UL << 10) - 1)))
		snprintf(buf, len, "%luk", n >> 10);
	else
		snprintf(buf, len, "%lu", n);
}

void fmt_addr(const struct names *nm, unsigned long addr, char *buf,
	      size_t len)
{
	const struct nm_entry *best = NULL;
	char sz[32];

	for (size_t i = 0; nm && i < nm->ne; i++) {
		const struct nm_entry *e = &nm->e[i];

		if (e->addr > addr)
			continue;
		if (!best || e->addr > best->addr ||
		    (e->addr == best->addr && e->seq > best->seq))
			best = e;
	}
	if (!best) {
		/* Below every name: a low absolute address (what a scenario
		 * writes as a number, like 0) prints as itself; anything else
		 * relative to the lowest name, so no raw address leaks. */
		const struct nm_entry *low = NULL;

		for (size_t i = 0; nm && i < nm->ne; i++)
			if (!low || nm->e[i].addr < low->addr ||
			    (nm->e[i].addr == low->addr &&
			     nm->e[i].seq > low->seq))
				low = &nm->e[i];
		if (!low || addr < 0x10000) {
			fmt_size(addr, sz, sizeof(sz));
			snprintf(buf, len, "%s", sz);
			return;
		}
		fmt_size(low->addr - addr, sz, sizeof(sz));
		snprintf(buf, len, "%s-%s", low->name, sz);
		return;
	}
	if (addr == best->addr) {
		snprintf(buf, len, "%s", best->name);
		return;
	}
	fmt_size(addr - best->addr, sz, sizeof(sz));
	snprintf(buf, len, "%s+%s", best->name, sz);
}

const char *errno_name(int err)
{
	static __thread char buf[16];
	const char *n = strerrorname_np(err);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

void sb_init(struct sbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void sb_free(struct sbuf *b)
{
	free(b->s);
	sb_init(b);
}

static bool sb_reserve(struct sbuf *b, size_t n)
{
	size_t ncap;
	char *ns;

	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + n + 1)
		ncap *= 2;
	ns = realloc(b->s, ncap);
	if (!ns) {
		b->oom = true;
		return false;
	}
	b->s = ns;
	b->cap = ncap;
	return true;
}

void sb_putc(struct sbuf *b, char c)
{
	if (!sb_reserve(b, 1))
		return;
	b->s[b->len++] = c;
	b->s[b->len] = 0;
}

void sb_puts(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (!sb_reserve(b, n))
		return;
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sb_reserve(b, n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

/* SCENARIO.md: runs of 8+ equal bytes, "..." for printable, hex: else. */
void fmt_data(struct sbuf *b, const unsigned char *p, size_t len)
{
	size_t i = 0;
	int seg = 0; /* 0 none, 1 string, 2 hex */
	bool first = true;

	if (!len) {
		sb_puts(b, "\"\"");
		return;
	}
	while (i < len) {
		size_t run = 1;

		while (i + run < len && p[i + run] == p[i])
			run++;
		if (run >= 8) {
			if (seg == 1)
				sb_putc(b, '"');
			if (!first)
				sb_putc(b, '+');
			sb_printf(b, "0x%02x*%zu", p[i], run);
			first = false;
			seg = 0;
			i += run;
			continue;
		}
		if (p[i] >= 0x20 && p[i] <= 0x7e) {
			if (seg != 1) {
				if (!first)
					sb_putc(b, '+');
				sb_putc(b, '"');
				seg = 1;
			}
			if (p[i] == '"' || p[i] == '\\')
				sb_putc(b, '\\');
			sb_putc(b, (char)p[i]);
		} else {
			if (seg != 2) {
				if (seg == 1)
					sb_putc(b, '"');
				if (!first)
					sb_putc(b, '+');
				sb_puts(b, "hex:");
				seg = 2;
			}
			sb_printf(b, "%02x", p[i]);
		}
		first = false;
		i++;
	}
	if (seg == 1)
		sb_putc(b, '"');
}

/* The text of /proc maps/smaps comes from a backend: parse defensively. */
struct maps_line {
	unsigned long start, end, off, ino;
	char perms[8];
	char offs[24];
	const char *path; /* not NUL-terminated; pathlen bytes */
	size_t pathlen;
};

static bool parse_maps_line(const char *s, size_t len, struct maps_line *m)
{
	char line[512];
	int n = 0;
	unsigned int maj, min;

	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	memcpy(line, s, len);
	line[len] = 0;
	if (sscanf(line, "%lx-%lx %7s %23s %x:%x %lu %n", &m->start, &m->end,
		   m->perms, m->offs, &maj, &min, &m->ino, &n) < 7)
		return false;
	if (n <= 0 || (size_t)n > len)
		n = (int)len;
	m->path = s + n;
	m->pathlen = len - n;
	while (m->pathlen && isspace((unsigned char)m->path[m->pathlen - 1]))
		m->pathlen--;
	return m->start < m->end;
}

static bool path_starts(const struct maps_line *m, const char *pfx)
{
	size_t n = strlen(pfx);

	return m->pathlen >= n && !memcmp(m->path, pfx, n);
}

static void fmt_backing(struct sbuf *b, const struct names *nm,
			const struct maps_line *m)
{
	if (!m->pathlen) {
		sb_puts(b, "anon");
		return;
	}
	if (m->ino) {
		for (size_t i = nm->nf; i-- > 0;) {
			if (nm->f[i].ino == m->ino) {
				sb_printf(b, "%s:%s",
					  nm->f[i].tmpfile ? "tmpfile" : "memfd",
					  nm->f[i].name);
				return;
			}
		}
	}
	if (path_starts(m, "/dev/zero") || path_starts(m, "/SYSV")) {
		sb_puts(b, "shmem");
		return;
	}
	for (size_t i = 0; i < m->pathlen; i++)
		sb_putc(b, isprint((unsigned char)m->path[i]) ? m->path[i]
							      : '?');
}

static void fmt_maps(struct sbuf *b, const struct names *nm, const char *txt,
		     size_t len)
{
	size_t pos = 0;
	int n = 0;

	while (pos < len) {
		const char *nl = memchr(txt + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - txt - pos) : len - pos;
		struct maps_line m;
		char a[64];

		if (parse_maps_line(txt + pos, ll, &m) &&
		    names_in_ranges(nm, m.start, m.end)) {
			if (n++)
				sb_puts(b, " | ");
			fmt_addr(nm, m.start, a, sizeof(a));
			sb_printf(b, "%s ", a);
			fmt_addr(nm, m.end, a, sizeof(a));
			sb_printf(b, "%s %s %s ", a, m.perms, m.offs);
			fmt_backing(b, nm, &m);
		}
		pos += ll + 1;
	}
	if (!n)
		sb_puts(b, "none");
}

static const char *const smaps_keys[] = {
	"Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
	"Private_Dirty", "Anonymous", "Swap", "Locked",
};

static void fmt_smaps(struct sbuf *b, const char *txt, size_t len,
		      unsigned long addr)
{
	size_t pos = 0;
	bool in = false, found = false;
	long vals[9];

	for (int i = 0; i < 9; i++)
		vals[i] = -1;
	while (pos < len) {
		const char *nl = memchr(txt + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - txt - pos) : len - pos;
		struct maps_line m;
		char line[128];

		if (parse_maps_line(txt + pos, ll, &m)) {
			if (found)
				break;
			in = m.start <= addr && addr < m.end;
			found = in;
		} else if (in) {
			size_t n = ll < sizeof(line) - 1 ? ll : sizeof(line) - 1;
			char *colon;

			memcpy(line, txt + pos, n);
			line[n] = 0;
			colon = strchr(line, ':');
			if (colon) {
				*colon = 0;
				for (int i = 0; i < 9; i++)
					if (!strcmp(line, smaps_keys[i]))
						vals[i] = strtol(colon + 1,
								 NULL, 10);
			}
		}
		pos += ll + 1;
	}
	if (!found) {
		sb_puts(b, "none");
		return;
	}
	for (int i = 0; i < 9; i++) {
		if (i)
			sb_puts(b, " | ");
		if (vals[i] < 0)
			sb_printf(b, "%s: ? kB", smaps_keys[i]);
		else
			sb_printf(b, "%s: %ld kB", smaps_keys[i], vals[i]);
	}
}

static void fmt_pagemap(struct sbuf *b, const uint64_t *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = e[i];

		if (i)
			sb_putc(b, ' ');
		if (v & (1ULL << 63))
			sb_putc(b, 'P');
		else if (v & (1ULL << 62))
			sb_putc(b, 'S');
		else
			sb_putc(b, '-');
		if (v & (1ULL << 56))
			sb_putc(b, 'x');
		if (v & (1ULL << 55))
			sb_putc(b, 'd');
		if (v & (1ULL << 61))
			sb_putc(b, 'f');
		if (v & (1ULL << 57))
			sb_putc(b, 'w');
	}
	if (!n)
		sb_puts(b, "none");
}

static const struct {
	int bit;
	const char *name;
} ioctl_names[] = {
	/* Sorted by name, as the transcript prints them. */
	{ 7, "continue" }, { 3, "copy" },	  { 5, "move" },
	{ 8, "poison" },   { 0, "register" },	  { 1, "unregister" },
	{ 2, "wake" },	   { 6, "writeprotect" }, { 4, "zeropage" },
};

static void fmt_ioctls(struct sbuf *b, unsigned long mask)
{
	bool first = true;

	sb_puts(b, "ok ioctls=");
	for (size_t i = 0; i < sizeof(ioctl_names) / sizeof(ioctl_names[0]);
	     i++) {
		if (!(mask & (1UL << ioctl_names[i].bit)))
			continue;
		sb_printf(b, "%s%s", first ? "" : ",", ioctl_names[i].name);
		first = false;
		mask &= ~(1UL << ioctl_names[i].bit);
	}
	for (int bit = 0; bit < 64; bit++) {
		if (!(mask & (1UL << bit)))
			continue;
		sb_printf(b, "%sbit%d", first ? "" : ",", bit);
		first = false;
	}
	if (first)
		sb_puts(b, "none");
}

void fmt_result(struct sbuf *b, const struct names *nm, const struct xcmd *x,
		const struct result *r)
{
	char a[64], c[64], sz[32];

	switch (r->kind) {
	case RES_OK:
	case RES_OK_ADDR:
	case RES_FILE:
		sb_puts(b, "ok");
		break;
	case RES_OK_IOCTLS:
		fmt_ioctls(b, r->n);
		break;
	case RES_ERR:
		sb_printf(b, "err %s", errno_name(r->err));
		if (r->has_done) {
			fmt_size(r->done, sz, sizeof(sz));
			sb_printf(b, " done %s", sz);
		}
		break;
	case RES_MAPERR:
	case RES_ACCERR:
	case RES_SIGBUS:
		fmt_addr(nm, r->addr, a, sizeof(a));
		sb_printf(b, "%s at %s",
			  r->kind == RES_MAPERR	  ? "SIGSEGV maperr"
			  : r->kind == RES_ACCERR ? "SIGSEGV accerr"
						: "SIGBUS",
			  a);
		break;
	case RES_DATA:
		fmt_data(b, r->payload, r->len);
		break;
	case RES_MAPS:
		fmt_maps(b, nm, (const char *)r->payload, r->len);
		break;
	case RES_SMAPS:
		fmt_smaps(b, (const char *)r->payload, r->len, r->addr);
		break;
	case RES_PAGEMAP:
		fmt_pagemap(b, (const uint64_t *)r->payload,
			    r->len / sizeof(uint64_t));
		break;
	case RES_MINCORE:
		for (size_t i = 0; i < r->len; i++)
			sb_putc(b, r->payload[i] & 1 ? '1' : '0');
		if (!r->len)
			sb_puts(b, "none");
		break;
	case RES_STARTED:
		sb_puts(b, "started");
		break;
	case RES_SKIP:
		sb_printf(b, "SKIP %s", r->text);
		break;
	case RES_NONE:
		sb_puts(b, "none");
		break;
	case RES_WROTE:
		sb_printf(b, "short %lu", r->n);
		break;
	case RES_UFFDMSG:
		switch (r->umsg) {
		case UMSG_PAGEFAULT:
			fmt_addr(nm, r->ua, a, sizeof(a));
			sb_printf(b, "pagefault %s%s%s%s", a,
				  r->uflags & SF_WRITE ? " write" : "",
				  r->uflags & SF_WP ? " wp" : "",
				  r->uflags & SF_MINOR ? " minor" : "");
			break;
		case UMSG_FORK:
			sb_printf(b, "fork %s", x ? x->name2 : "?");
			break;
		case UMSG_REMAP:
			fmt_addr(nm, r->ua, a, sizeof(a));
			fmt_addr(nm, r->ub, c, sizeof(c));
			fmt_size(r->ulen, sz, sizeof(sz));
			sb_printf(b, "remap %s %s %s", a, c, sz);
			break;
		case UMSG_REMOVE:
		case UMSG_UNMAP:
			fmt_addr(nm, r->ua, a, sizeof(a));
			fmt_size(r->ulen, sz, sizeof(sz));
			sb_printf(b, "%s %s %s",
				  r->umsg == UMSG_REMOVE ? "remove" : "unmap",
				  a, sz);
			break;
		default:
			sb_printf(b, "event %d", r->umsg);
		}
		break;
	case RES_ERROR:
		sb_printf(b, "error: %s", r->text);
		break;
	}
}

void result_release(struct result *r)
{
	if (r->payload_owned)
		free(r->payload);
	r->payload = NULL;
	r->payload_owned = false;
	r->len = 0;
}

void result_set_error(struct result *r, const char *fmt, ...)
{
	va_list ap;

	r->kind = RES_ERROR;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

void result_set_skip(struct result *r, const char *fmt, ...)
{
	va_list ap;

	r->kind = RES_SKIP;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}
