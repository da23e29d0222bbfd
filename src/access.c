/*
 * access.c: aspace_read / aspace_write / aspace_touch, the engine's CPU.
 *
 * Each access is cut at page boundaries.  For one page the fast path is a
 * TLB hit: under the RCU read lock, walk the four table levels with acquire
 * loads, and if the PTE is PRESENT (and RW for a write) copy the bytes
 * to/from the frame, setting ACCESSED/DIRTY by compare-and-swap when they
 * are not yet set.  It takes neither mmap_lock nor a VMA lock.  Otherwise
 * the access goes through do_user_addr_fault (per-VMA lock, then mmap_lock)
 * and tries the fast path again; a fault error stops the access there.
 *
 * Why no access that starts after munmap, mprotect or MADV_DONTNEED has
 * returned can see the old page or the old permission:
 *  - Those calls change the PTE (exchange to none, or compare-and-swap to
 *    the reduced permission) under the PTE lock before they return.  A
 *    later access reads the PTE with an acquire load after that store (it
 *    starts after the call returned, so the call's stores happen before it)
 *    and therefore sees the new entry: none (it faults: MAPERR after munmap,
 *    a fresh zero page after DONTNEED) or read-only (a write faults and gets
 *    ACCERR from the VMA's new flags, which the VMA layer set before).
 *  - Tables are reached only through entries: a table that munmap unhooked
 *    is unreachable from the top for a later walk.
 *  - An access that started before the change may still be copying to or
 *    from the old frame.  The frame is not reused until an RCU grace period
 *    has passed (mmu_gather: frames and tables unmapped are freed by
 *    call_rcu), so it never writes into another mapping's memory; and
 *    mprotect (and fork, which write-protects for COW) wait for a grace
 *    period before returning when they removed a permission, so such a
 *    write lands before the call returns, never after.
 */
#include "alloc.h"
#include "debug.h"
#include "memory.h"
#include "mm_mem.h"
#include "pgtable.h"
#include "rcu.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "guestmem.h"

enum access_op { ACC_READ, ACC_WRITE, ACC_TOUCH_READ, ACC_TOUCH_WRITE };


static inline bool op_writes(enum access_op op)
{
	return op == ACC_WRITE || op == ACC_TOUCH_WRITE;
}

/* One access inside one page; true when done without a fault. */
static inline bool access_fast(struct mm_mem *mem, unsigned long addr, void *buf,
			       size_t n, enum access_op op)
{
	const pte_t need_bits = op_writes(op) ? (_PAGE_PRESENT | _PAGE_RW) : _PAGE_PRESENT;
	const pte_t set_bits = op_writes(op) ? (_PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY)
					     : _PAGE_ACCESSED;
	pte_t *ptep, e;
	char *p;

	rcu_read_lock();
	ptep = pte_offset_lockless(mem, addr);
	if (unlikely(!ptep))
		goto miss;
	e = ptep_get(ptep);
	for (;;) {
		if (unlikely((e & need_bits) != need_bits))
			goto miss;
		if (likely((e & set_bits) == set_bits))
			break;
		/* Like the hardware: set A/D on the entry we use, atomically. */
		if (__atomic_compare_exchange_n(ptep, &e, e | set_bits, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
	}
	p = (char *)pfn_to_virt(mem->pool, pte_pfn(e)) + (addr & ~PAGE_MASK);
	switch (op) {
	case ACC_READ:
		guest_read(buf, p, n);
		break;
	case ACC_WRITE:
		guest_write(p, buf, n);
		break;
	case ACC_TOUCH_READ:
		(void)__atomic_load_n(p, __ATOMIC_RELAXED);
		break;
	case ACC_TOUCH_WRITE:
		/* A store of the byte's own value that cannot lose a concurrent one. */
		__atomic_fetch_or(p, 0, __ATOMIC_RELAXED);
		break;
	}
	rcu_read_unlock();
	return true;
miss:
	rcu_read_unlock();
	return false;
}

static int access_range(struct aspace_mm *amm, unsigned long addr, char *buf, size_t len,
			enum access_op op, struct aspace_fault *f)
{
	struct mm_struct *mm = (struct mm_struct *)amm;
	struct mm_mem *mem = mm_mem(mm);
	unsigned int flags = op_writes(op) ? FAULT_FLAG_WRITE : 0;
	struct fault_stats st = { 0 };
	int ret = 0;

	while (len) {
		size_t in_page = PAGE_SIZE - (addr & ~PAGE_MASK);
		size_t n = len < in_page ? len : in_page;

		while (!access_fast(mem, addr, buf, n, op)) {
			int code;

			if (addr >= (1UL << 47))
				code = ASPACE_FAULT_SEGV_MAPERR;
			else
				code = do_user_addr_fault(mm, addr, flags, &st);
			if (code) {
				if (f) {
					f->code = code;
					f->addr = addr;
				}
				ret = -EFAULT;
				goto out;
			}
		}
		if (addr + n < addr) /* wrapped past the top */
			break;
		addr += n;
		len -= n;
		buf += n;
	}
out:
	fault_stats_flush(mm, &st);
	return ret;
}

int aspace_read(struct aspace_mm *mm, unsigned long addr, void *buf, size_t len,
		struct aspace_fault *f)
{
	return access_range(mm, addr, buf, len, ACC_READ, f);
}

int aspace_write(struct aspace_mm *mm, unsigned long addr, const void *buf, size_t len,
		 struct aspace_fault *f)
{
	return access_range(mm, addr, (char *)buf, len, ACC_WRITE, f);
}

int aspace_touch(struct aspace_mm *mm, unsigned long addr, size_t len, int write,
		 struct aspace_fault *f)
{
	struct mm_struct *m = (struct mm_struct *)mm;
	struct mm_mem *mem = mm_mem(m);
	enum access_op op = write ? ACC_TOUCH_WRITE : ACC_TOUCH_READ;
	unsigned int flags = write ? FAULT_FLAG_WRITE : 0;
	unsigned long end = addr + len;
	struct fault_stats st = { 0 };
	int ret = 0;

	if (end < addr)
		end = ~0UL;
	/*
	 * One one-byte access per page: at addr, then at each page start.  A
	 * touch changes no byte, so once the fault handler has mapped the page
	 * with the needed permission the access itself is complete: it is
	 * linearized at the end of the fault, and the handler already set
	 * ACCESSED (and DIRTY for a write) as the access would have.
	 */
	while (addr < end) {
		if (!access_fast(mem, addr, NULL, 1, op)) {
			int code = addr >= (1UL << 47) ? ASPACE_FAULT_SEGV_MAPERR
						      : do_user_addr_fault(m, addr, flags, &st);

			if (code) {
				if (f) {
					f->code = code;
					f->addr = addr;
				}
				ret = -EFAULT;
				break;
			}
		}
		if ((addr & PAGE_MASK) + PAGE_SIZE < addr)
			break;
		addr = (addr & PAGE_MASK) + PAGE_SIZE;
	}
	fault_stats_flush(m, &st);
	return ret;
}
