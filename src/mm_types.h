/*
 * mm_types.h: struct mm_struct and struct vm_area_struct.
 *
 * Which lock protects what (the rules of ../shared/DESIGN.md):
 *   mm->mmap_lock (rwsem)   the VMA tree's shape, map_count, total_vm, brk,
 *                           every VMA's vm_start/vm_end/vm_pgoff/vm_flags
 *                           (written only with mmap_lock held for write AND
 *                           the VMA write-locked: vma_start_write)
 *   mm->mm_lock_seq         written only under mmap write lock
 *                           (vma_end_write_all); read locklessly by
 *                           vma_start_read
 *   vma->vm_lock            the per-VMA lock: read-held by a fault handled
 *                           under the VMA lock, write-held only for the
 *                           instant vma_start_write sets vm_lock_seq
 *   vma->vm_lock_seq        written under vm_lock held for write
 *   vma->detached           written under mmap write lock with the VMA
 *                           write-locked; checked by lock_vma_under_rcu
 *   the VMA tree            readers: RCU; writers: mmap write lock
 *   mm->retired             mmap write lock
 */
#ifndef ASPACE_MM_TYPES_H
#define ASPACE_MM_TYPES_H

#include "rcu.h"
#include "rwsem.h"
#include "vma_tree.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & PAGE_MASK)
#define PAGE_ALIGNED(x) (((x) & (PAGE_SIZE - 1)) == 0)

/* vm_flags bits (values are the kernel's where /proc shows them). */
#define VM_NONE 0x00000000UL
#define VM_READ 0x00000001UL
#define VM_WRITE 0x00000002UL
#define VM_EXEC 0x00000004UL
#define VM_SHARED 0x00000008UL
#define VM_MAYREAD 0x00000010UL
#define VM_MAYWRITE 0x00000020UL
#define VM_MAYEXEC 0x00000040UL
#define VM_MAYSHARE 0x00000080UL
#define VM_GROWSDOWN 0x00000100UL
#define VM_UFFD_MISSING 0x00000200UL
#define VM_PFNMAP 0x00000400UL
#define VM_UFFD_WP 0x00001000UL
#define VM_LOCKED 0x00002000UL
#define VM_IO 0x00004000UL
#define VM_DONTCOPY 0x00020000UL
#define VM_DONTEXPAND 0x00040000UL
#define VM_LOCKONFAULT 0x00080000UL
#define VM_ACCOUNT 0x00100000UL
#define VM_NORESERVE 0x00200000UL
#define VM_HUGETLB 0x00400000UL
#define VM_WIPEONFORK 0x02000000UL
#define VM_DONTDUMP 0x04000000UL
#define VM_SOFTDIRTY 0x08000000UL
#define VM_HUGEPAGE 0x20000000UL
#define VM_NOHUGEPAGE 0x40000000UL
#define VM_UFFD_MINOR (1UL << 41)
#define VM_POPULATE_ON_MMAP (1UL << 50) /* internal: MAP_POPULATE seen */

#define VM_ACCESS_FLAGS (VM_READ | VM_WRITE | VM_EXEC)
#define VM_UFFD_FLAGS (VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR)
#define VM_LOCKED_MASK (VM_LOCKED | VM_LOCKONFAULT)

#define VMA_LOCK_STAT_SHARDS 8

struct mm_struct;
struct file;
struct anon_vma;

struct vm_area_struct {
	/* First cache line: what lookups and lock_vma_under_rcu read. */
	unsigned long vm_start;
	unsigned long vm_end;
	struct mm_struct *vm_mm;
	unsigned long vm_flags;
	unsigned int vm_lock_seq;
	bool detached;

	unsigned long vm_pgoff;        /* in pages */
	struct file *vm_file;          /* NULL for anonymous (private or not yet backed) */
	struct anon_vma *anon_vma;     /* set by the first anonymous fault */
	int anon_vma_chain;            /* anon_vmas chained (fork adds one) */
	void *vm_userfaultfd_ctx;      /* for the userfaultfd issue */

	/* On its own cache line: readers bounce it, the fields above are
	 * read-mostly (and VMAs are allocated cache-line aligned). */
	struct rw_semaphore vm_lock __attribute__((aligned(64)));
	struct rcu_retire retire;      /* freed after a grace period */
};

struct mm_struct {
	struct rw_semaphore mmap_lock;
	unsigned int mm_lock_seq;
	bool per_vma_lock;

	struct vma_tree mm_mt;
	int map_count;
	unsigned long total_vm;        /* pages */
	unsigned long locked_vm;
	unsigned long max_map_count;

	unsigned long mmap_base;
	unsigned long task_size;
	unsigned long mmap_min_addr;
	unsigned long start_brk, brk;
	unsigned long def_flags;       /* mlockall(MCL_FUTURE) */

	struct retire_list retired;    /* retired VMAs and tree nodes */
	struct vm_area_struct *vma_cache; /* reusable VMAs (mmap write lock) */
	int nr_vma_cache;
	pthread_mutex_t anon_vma_lock; /* first-fault anon_vma assignment */
	/* GUP issue: odd while fork write-protects COW page tables; read
	 * locklessly by GUP-fast (gup.c), written under mmap write lock. */
	atomic_uint write_protect_seq;

	/* Counters: atomics, written by faulting threads without locks. */
	/* Like /proc/vmstat's vma_lock_*: sharded by thread so that faulting
	 * threads do not share one cache line (summed when read). */
	struct vma_lock_stat {
		atomic_ulong success, abort, retry, miss;
		char pad[64 - 4 * sizeof(atomic_ulong)]; /* a line each */
	} vma_lock_stat[VMA_LOCK_STAT_SHARDS];
	atomic_ulong stat_faults, stat_cow_faults, stat_zero_faults;
	atomic_long rss_anon, rss_file, rss_shmem;

	/* The memory layer (page frames, page tables) hangs off here. */
	void *mem;
	/* shmem: the fd table (shmem.c: struct files_struct) */
	void *files;
};

#endif
