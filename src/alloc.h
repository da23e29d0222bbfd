/*
 * alloc.h: the library's own heap allocations, counted.
 *
 * Every object the library allocates goes through kzalloc/kfree so that a
 * test can check that destroying every mm returned every allocation
 * (alloc_live() back to its starting value).  The counter is atomic; no lock.
 * alloc_fail_after(n) makes the (n+1)-th next allocation fail, for the
 * error-path tests.
 */
#ifndef ASPACE_ALLOC_H
#define ASPACE_ALLOC_H

#include <stddef.h>

void *kzalloc(size_t size);
void *kmalloc(size_t size);
/* Cache-line aligned (for objects with a lock of their own line). */
void *kmalloc_cacheline(size_t size);
void kfree(void *p);
/* Allocations not yet freed. */
long alloc_live(void);
/* Fail the allocation after the next n that succeed (-1: never). */
void alloc_fail_after(long n);

#endif
