/*
 * memory.h: the fault layer's interface: fault flags, VM_FAULT_* results,
 * struct vm_fault, handle_mm_fault and the user-fault entry that the access
 * calls use.  No state of its own.
 */
#ifndef ASPACE_MEMORY_H
#define ASPACE_MEMORY_H

#include "mm_mem.h"
#include "mm_types.h"

#include <stdatomic.h>

/* Fault flags (the kernel's names and meanings). */
enum fault_flag {
	FAULT_FLAG_WRITE = 1 << 0,
	FAULT_FLAG_MKWRITE = 1 << 1,
	FAULT_FLAG_ALLOW_RETRY = 1 << 2,   /* the handler may drop the lock and return RETRY */
	FAULT_FLAG_RETRY_NOWAIT = 1 << 3,
	FAULT_FLAG_KILLABLE = 1 << 4,
	FAULT_FLAG_TRIED = 1 << 5,         /* second attempt after a RETRY */
	FAULT_FLAG_USER = 1 << 6,
	FAULT_FLAG_REMOTE = 1 << 7,        /* GUP on another mm */
	FAULT_FLAG_INSTRUCTION = 1 << 8,
	FAULT_FLAG_INTERRUPTIBLE = 1 << 9,
	FAULT_FLAG_UNSHARE = 1 << 10,      /* break COW, do not make writable (seed 003) */
	FAULT_FLAG_ORIG_PTE_VALID = 1 << 11,
	FAULT_FLAG_VMA_LOCK = 1 << 12,     /* entered under the per-VMA lock, not mmap_lock */
};
#define FAULT_FLAG_DEFAULT (FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_INTERRUPTIBLE)

typedef unsigned int vm_fault_t;
enum vm_fault_reason {
	VM_FAULT_OOM = 0x000001,
	VM_FAULT_SIGBUS = 0x000002,
	VM_FAULT_MAJOR = 0x000004,
	VM_FAULT_HWPOISON = 0x000010,
	VM_FAULT_SIGSEGV = 0x000040,
	VM_FAULT_NOPAGE = 0x000100,
	VM_FAULT_LOCKED = 0x000200,
	VM_FAULT_RETRY = 0x000400,     /* lock released; retry the fault */
	VM_FAULT_FALLBACK = 0x000800,
	VM_FAULT_DONE_COW = 0x001000,
	VM_FAULT_COMPLETED = 0x004000, /* done, and the lock already released */
};
#define VM_FAULT_ERROR (VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON)

/* Fault counters gathered by one access call (see memory.c). */
struct fault_stats {
	long rss_anon, rss_shmem, faults, cow, zero;
};
void fault_stats_flush(struct mm_struct *mm, struct fault_stats *st);

struct vm_fault {
	struct vm_area_struct *vma;
	unsigned long address;      /* page aligned */
	unsigned long real_address;
	unsigned int flags;
	unsigned long pgoff;
	pte_t *pte;                 /* the slot, while ptl is held */
	pte_t orig_pte;
	spinlock_t *ptl;
	struct fault_stats *stats; /* NULL: count on the mm directly */
};

/* Handle a fault at address in vma.  Enter with the VMA read-locked
 * (FAULT_FLAG_VMA_LOCK) or mmap_lock read-held, and the access already
 * checked against vm_flags.  Returns with the lock still held, except on
 * VM_FAULT_RETRY / VM_FAULT_COMPLETED (then it was released). */
vm_fault_t handle_mm_fault(struct vm_area_struct *vma, unsigned long address,
			   unsigned int flags, void *regs);

/* A CPU fault: seed 002's entry (lock_vma_under_rcu, then mmap_read_lock +
 * find_vma), access checks, handle_mm_fault, retries.  flags: WRITE,
 * UNSHARE.  Returns an ASPACE_FAULT_* code.  No lock held on entry.
 * Counters go to *stats (the caller flushes them before it returns). */
int do_user_addr_fault(struct mm_struct *mm, unsigned long address, unsigned int flags,
		       struct fault_stats *stats);

/* Test hook: the next n faults entered with ALLOW_RETRY (and not TRIED)
 * drop their lock and return VM_FAULT_RETRY, the way a userfaultfd wait
 * does. */
void fault_inject_retry(long n);

static inline bool is_cow_mapping(unsigned long flags)
{
	return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
}

#endif
