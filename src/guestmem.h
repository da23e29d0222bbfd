/*
 * guestmem.h: copying bytes in and out of guest memory (page frames).
 *
 * Guest memory is shared like a machine's RAM: two threads may read and
 * write the same bytes at once, as CPUs may (an access racing pread/pwrite
 * too), and that is no bug of ours.  Under TSan the copies are relaxed
 * atomic accesses, 8 bytes at a time where the guest address is aligned (an
 * aligned 8-byte access is never torn, as on x86), so guest-level races are
 * not reported, while a real engine bug (a frame reused while someone still
 * writes it) still races with the plain stores of clear_page/copy_page and
 * is.  Without TSan they are memcpy/memset.
 */
#ifndef ASPACE_GUESTMEM_H
#define ASPACE_GUESTMEM_H

#include "rcu.h" /* ASPACE_TSAN */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef ASPACE_TSAN
static inline void guest_read(void *buf, const char *p, size_t n)
{
	char *b = buf;

	for (; n && ((unsigned long)p & 7); n--)
		*b++ = __atomic_load_n(p++, __ATOMIC_RELAXED);
	for (; n >= 8; n -= 8, p += 8, b += 8) {
		uint64_t v = __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);

		memcpy(b, &v, 8);
	}
	for (; n; n--)
		*b++ = __atomic_load_n(p++, __ATOMIC_RELAXED);
}

static inline void guest_write(char *p, const void *buf, size_t n)
{
	const char *b = buf;

	for (; n && ((unsigned long)p & 7); n--)
		__atomic_store_n(p++, *b++, __ATOMIC_RELAXED);
	for (; n >= 8; n -= 8, p += 8, b += 8) {
		uint64_t v;

		memcpy(&v, b, 8);
		__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
	}
	for (; n; n--)
		__atomic_store_n(p++, *b++, __ATOMIC_RELAXED);
}

static inline void guest_zero(char *p, size_t n)
{
	for (; n; n--)
		__atomic_store_n(p++, 0, __ATOMIC_RELAXED);
}
#else
#define guest_read memcpy
#define guest_write memcpy
#define guest_zero(p, n) memset((p), 0, (n))
#endif

#endif
