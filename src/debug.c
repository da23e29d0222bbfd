/*
 * debug.c: the abort path of the rule assertions (see debug.h), and the
 * per-thread id they print.  No locks: it only formats and aborts.
 */
#include "debug.h"
#include "vma.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static __thread int cached_tid;

int current_tid(void)
{
	if (unlikely(!cached_tid))
		cached_tid = (int)gettid();
	return cached_tid;
}

void aspace_rule_broken(const char *rule, const struct vm_area_struct *vma,
			const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (vma)
		fprintf(stderr,
			"aspace: %s broken: %s: vma [%#lx-%#lx) flags %#lx, thread %d (%s:%d)\n",
			rule, msg, vma->vm_start, vma->vm_end, vma->vm_flags,
			current_tid(), file, line);
	else
		fprintf(stderr, "aspace: %s broken: %s: thread %d (%s:%d)\n",
			rule, msg, current_tid(), file, line);
	fflush(stderr);
	abort();
}
