/*
 * alloc.c: counted heap allocation (see alloc.h).  The counters are atomics.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

static atomic_long live;
static atomic_long fail_countdown = -1;

static int should_fail(void)
{
	long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	if (n < 0)
		return 0;
	return atomic_fetch_sub(&fail_countdown, 1) == 0;
}

void *kmalloc(size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	p = malloc(size);
	if (p)
		atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	return p;
}

void *kmalloc_cacheline(size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	p = aligned_alloc(64, (size + 63) & ~(size_t)63);
	if (p)
		atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	return p;
}

void *kzalloc(size_t size)
{
	void *p;

	if (should_fail())
		return NULL;
	p = calloc(1, size);
	if (p)
		atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	return p;
}

void kfree(void *p)
{
	if (!p)
		return;
	atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
	free(p);
}

long alloc_live(void)
{
	return atomic_load(&live);
}

void alloc_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
}
