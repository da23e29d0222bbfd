/*
 * testutil.h: helpers shared by the unit tests.
 */
#ifndef ASPACE_TESTUTIL_H
#define ASPACE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

/*
 * Run fn(arg) in a forked child; return true when the child died of SIGABRT
 * and its stderr contains `needle` (the rule's message).  The child's stderr
 * is echoed when it does not match, to explain the failure.
 */
int expect_abort(void (*fn)(void *), void *arg, const char *needle);

/* Wait until every RCU callback queued so far has run (for leak counts). */
void test_rcu_barrier(void);

#endif

#include <aspace/aspace.h>

/* One line of a maps view, parsed. */
struct map_line {
	unsigned long start, end, offset;
	char perms[5];
};

/* Parse the engine's maps; returns the number of lines (at most max). */
int engine_maps(struct aspace_mm *mm, struct map_line *out, int max);
/* "S-E perms" list relative to base, in pages, e.g. "0-4 rw-p,4-8 r--p". */
void maps_summary(struct aspace_mm *mm, unsigned long base, char *buf, size_t len);

#define P 4096UL
#define ANON_PRIV (MAP_PRIVATE | MAP_ANONYMOUS)

/*
 * A PROT_NONE arena of `pages` pages in this process, far below where
 * mmap places things (so no allocation of the process's lands in the holes
 * a test punches into it).  Returns its address.
 */
unsigned long kernel_arena_alloc(unsigned long pages);
