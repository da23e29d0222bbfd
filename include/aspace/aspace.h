/*
 * aspace: the Linux memory-management subsystem as a user-space library.
 *
 * This is the whole public API.  Every call takes its arguments the way the
 * matching Linux system call does (PROT_*, MAP_*, MREMAP_* and MADV_* are
 * <sys/mman.h>'s values) and returns what the system call returns, with
 * errors as negative errno values (-EINVAL, -ENOMEM, ...), never through
 * errno.  Addresses are addresses in the engine's address space (an
 * x86-64-like 47-bit user space), not host pointers.
 *
 * Threads: any thread may call any function at any time; no registration is
 * needed (the library uses liburcu's "bulletproof" flavour, which registers
 * a thread on its first read-side critical section by itself).
 */
#ifndef ASPACE_ASPACE_H
#define ASPACE_ASPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ASPACE_PAGE_SIZE 4096UL

/* One address space (a process's mm_struct). */
struct aspace_mm;

/*
 * Creation-time settings.  Zero means "the default" for every field, so
 * `struct aspace_config cfg = {0}` is a valid configuration and NULL is the
 * same as a zeroed one.
 */
struct aspace_config {
	/* Bytes of host memory for page frames (default 1 GiB, reserved with
	 * MAP_NORESERVE, so only what is used costs memory).  A forked child
	 * shares its parent's pool. */
	size_t pool_bytes;
	/* Per-VMA locks: ASPACE_VMA_LOCK_DEFAULT (on), _ON or _OFF.  Off makes
	 * every fault take mmap_lock (for comparison, as without
	 * CONFIG_PER_VMA_LOCK). */
	int per_vma_lock;
	/* vm.max_map_count (default 65530). */
	unsigned long max_map_count;
	/* Top of the top-down mmap area (default: 47-bit task size minus a
	 * stack gap, like x86-64). */
	unsigned long mmap_base;
	/* Where the heap starts (default 0x555555a00000). */
	unsigned long start_brk;
};

enum {
	ASPACE_VMA_LOCK_DEFAULT = 0,
	ASPACE_VMA_LOCK_ON = 1,
	ASPACE_VMA_LOCK_OFF = 2,
};

/* Returns 0 and the new mm in *out, or -ENOMEM/-EINVAL. */
int aspace_mm_create(const struct aspace_config *cfg, struct aspace_mm **out);
/* Tears the address space down (like the last mmput()). */
void aspace_mm_destroy(struct aspace_mm *mm);

/* The system calls.  mmap and mremap return the address or -errno; brk
 * returns the new break (or the old one when the request fails, as brk(2)
 * does). */
long aspace_mmap(struct aspace_mm *mm, unsigned long addr, unsigned long len,
		 int prot, int flags, int fd, off_t offset);
int aspace_munmap(struct aspace_mm *mm, unsigned long addr, unsigned long len);
int aspace_mprotect(struct aspace_mm *mm, unsigned long addr,
		    unsigned long len, int prot);
long aspace_mremap(struct aspace_mm *mm, unsigned long old_addr,
		   unsigned long old_len, unsigned long new_len, int flags,
		   unsigned long new_addr);
unsigned long aspace_brk(struct aspace_mm *mm, unsigned long brk);

/* mlock2(2) (flags: MLOCK_ONFAULT = 1), munlock(2), mlockall(2) (MCL_*),
 * munlockall(2).  The caller counts as having CAP_IPC_LOCK. */
int aspace_mlock2(struct aspace_mm *mm, unsigned long addr, size_t len, unsigned int flags);
int aspace_munlock(struct aspace_mm *mm, unsigned long addr, size_t len);
int aspace_mlockall(struct aspace_mm *mm, int flags);
int aspace_munlockall(struct aspace_mm *mm);

/*
 * /proc/PID/maps of the engine's mm, byte for byte in the kernel's format.
 * Returns a malloc()ed NUL-terminated string (free() it), or NULL on
 * allocation failure.
 */
char *aspace_proc_maps(struct aspace_mm *mm);

#define ASPACE_HAVE_PROC_VIEWS 1
/* /proc/PID/smaps text, in the kernel's format (free() it); NULL: ENOMEM. */
char *aspace_proc_smaps(struct aspace_mm *mm);
/* /proc/PID/pagemap entries (64 bits each, the kernel's layout) of npages
 * pages from addr; 0 or -errno. */
int aspace_pagemap_read(struct aspace_mm *mm, unsigned long addr, unsigned long npages,
			uint64_t *out);
/* mincore(2): one byte per page; 0 or -errno (EINVAL, ENOMEM). */
int aspace_mincore(struct aspace_mm *mm, unsigned long addr, unsigned long len,
		   unsigned char *vec);
/* Writing TYPE to /proc/PID/clear_refs (1 all, 2 anon, 3 file, 4 soft-dirty,
 * 5 peak RSS); 0 or -EINVAL. */
int aspace_clear_refs(struct aspace_mm *mm, int type);

/* Counters (monotonic ones count since mm creation). */
struct aspace_stats {
	unsigned long nr_vmas;        /* map_count */
	unsigned long total_vm;       /* pages mapped */
	unsigned long rss_anon;       /* pages, like MM_ANONPAGES */
	unsigned long rss_file;       /* MM_FILEPAGES */
	unsigned long rss_shmem;      /* MM_SHMEMPAGES */
	unsigned long faults;         /* handle_mm_fault calls that mapped something */
	unsigned long cow_faults;     /* write faults that copied a page */
	unsigned long zero_faults;    /* read faults that mapped the zero page */
	/* Like /proc/vmstat's vma_lock_*: */
	unsigned long vma_lock_success;
	unsigned long vma_lock_abort;
	unsigned long vma_lock_retry;
	unsigned long vma_lock_miss;
};
void aspace_mm_stats(struct aspace_mm *mm, struct aspace_stats *st);

/* ---- Memory: faults, access, fork, madvise (the memory layer) ---- */
#define ASPACE_HAVE_FAULTS 1

/* Why an access stopped: the signal a CPU access would have raised. */
enum {
	ASPACE_FAULT_OK = 0,
	ASPACE_FAULT_SEGV_MAPERR, /* no mapping at the address */
	ASPACE_FAULT_SEGV_ACCERR, /* mapping without the needed permission */
	ASPACE_FAULT_SIGBUS,      /* mapping that cannot supply a page */
	ASPACE_FAULT_OOM,         /* the pool of page frames is exhausted */
};
struct aspace_fault {
	int code;
	unsigned long addr;
};

/*
 * Read/write the address space as a CPU would, faulting pages in on demand,
 * byte-exact across page and VMA boundaries.  Each returns 0, or -EFAULT
 * with *f filled (f may be NULL): f->addr is the first byte of the access
 * inside the page that faulted; every byte before it was transferred.
 * aspace_touch makes one access per page (at addr, then at each following
 * page start below addr + len); a write access leaves the byte unchanged.
 */
int aspace_read(struct aspace_mm *mm, unsigned long addr, void *buf, size_t len,
		struct aspace_fault *f);
int aspace_write(struct aspace_mm *mm, unsigned long addr, const void *buf,
		 size_t len, struct aspace_fault *f);
int aspace_touch(struct aspace_mm *mm, unsigned long addr, size_t len, int write,
		 struct aspace_fault *f);
/* fork(2)'s memory side: a copy-on-write duplicate of mm in *child (0 or
 * -ENOMEM).  The child shares mm's pool of frames. */
int aspace_fork(struct aspace_mm *mm, struct aspace_mm **child);
/* madvise(2): MADV_DONTNEED acts; the other advice values are checked as
 * Linux checks them. */
int aspace_madvise(struct aspace_mm *mm, unsigned long addr, unsigned long len,
		   int advice);
/* Frames free and in all in mm's pool (mm NULL: the library-wide default
 * pool that mms created with pool_bytes 0 share).  The free count includes
 * frames whose freeing waits for an RCU grace period (it waits for them). */
void aspace_pool_stats(struct aspace_mm *mm, unsigned long *free_pages,
		       unsigned long *total_pages);

/* ---- shmem files: memfd, tmpfile, their page cache (shmem.c) ---- */
#define ASPACE_HAVE_SHMEM 1
/*
 * Each mm has an fd table (fork copies it, as fork(2) does).  Every call
 * returns a negative errno exactly as Linux does for the same arguments.
 * memfd_create flags: MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL,
 * MFD_EXEC; MFD_HUGETLB is -ENOSYS (the engine has no hugetlb pool).
 * fallocate modes: 0, FALLOC_FL_KEEP_SIZE and
 * FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE.
 */
int aspace_memfd_create(struct aspace_mm *mm, const char *name, unsigned int flags); /* returns fd; MFD_CLOEXEC, MFD_ALLOW_SEALING; MFD_HUGETLB -> err as the kernel here does */
int aspace_tmpfile(struct aspace_mm *mm);
int aspace_close(struct aspace_mm *mm, int fd);
int aspace_ftruncate(struct aspace_mm *mm, int fd, off_t len);
int aspace_fallocate(struct aspace_mm *mm, int fd, int mode, off_t off, off_t len); /* 0 and FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE */
ssize_t aspace_pread(struct aspace_mm *mm, int fd, void *buf, size_t len, off_t off);
ssize_t aspace_pwrite(struct aspace_mm *mm, int fd, const void *buf, size_t len, off_t off);
int aspace_fstat_ino(struct aspace_mm *mm, int fd, unsigned long *ino);
/* fstat(2)'s st_size and st_blocks (512-byte units). */
int aspace_fstat(struct aspace_mm *mm, int fd, off_t *size, unsigned long *blocks);
/* fcntl(F_ADD_SEALS) / fcntl(F_GET_SEALS): F_SEAL_* bits. */
int aspace_fcntl_add_seals(struct aspace_mm *mm, int fd, int seals);
int aspace_fcntl_get_seals(struct aspace_mm *mm, int fd);

/* ---- GUP: pinning pages for a device (gup.c, seed 003) ---- */
#define ASPACE_HAVE_GUP 1

/* A set of pinned pages (what a driver holds for DMA). */
struct aspace_pin;
enum {
	ASPACE_PIN_WRITE = 1 << 0,    /* FOLL_WRITE: the device will write */
	ASPACE_PIN_LONGTERM = 1 << 1, /* FOLL_LONGTERM: a lasting DMA buffer */
	ASPACE_PIN_FAST = 1 << 2,     /* try GUP-fast (lock-free) first */
	ASPACE_PIN_GET = 1 << 3,      /* get_user_pages (FOLL_GET), not a pin */
};
/*
 * pin_user_pages(_fast) on [addr, addr+len): 0 and the pin in *out, or
 * -EFAULT (a page not mapped, PROT_NONE, or without the permission asked
 * for: a write pin needs PROT_WRITE), -ENOMEM (pool empty), -EINVAL (len 0,
 * bad flags; ASPACE_PIN_GET with _LONGTERM).  All or nothing: when only a
 * part could be pinned, nothing stays pinned and the result is -EFAULT.
 * A R/O long-term pin of a private mapping unshares the pages first
 * (FAULT_FLAG_UNSHARE), so it keeps seeing what the process sees.
 */
int aspace_pin(struct aspace_mm *mm, unsigned long addr, unsigned long len, int flags,
	       struct aspace_pin **out);
/* What the device reads / writes through the pinned pages, at offset off
 * from addr: 0, -EINVAL (outside the pinned range), -EPERM (write through
 * a read-only pin). */
int aspace_pin_read(struct aspace_pin *p, unsigned long off, void *buf, size_t len);
int aspace_pin_write(struct aspace_pin *p, unsigned long off, const void *buf, size_t len);
/* unpin_user_pages(_dirty_lock); the pin may outlive its mm. */
void aspace_unpin(struct aspace_pin *p);

#ifdef __cplusplus
}
#endif

/* ---- userfaultfd (userfaultfd.c) ---- */
#define ASPACE_HAVE_UFFD 1
/*
 * A userfaultfd of one mm: faults in registered ranges are reported to the
 * monitor (aspace_uffd_read) and the faulting thread sleeps, outside every
 * lock, until an ioctl resolves and wakes it.  Feature bits, register modes,
 * ioctl numbers, message events and pagefault flags are Linux's
 * (linux/userfaultfd.h); every call returns 0 or -errno as the ioctl would.
 */
struct aspace_uffd;

#define ASPACE_UFFD_FEATURE_PAGEFAULT_FLAG_WP (1UL << 0)
#define ASPACE_UFFD_FEATURE_EVENT_FORK (1UL << 1)
#define ASPACE_UFFD_FEATURE_EVENT_REMAP (1UL << 2)
#define ASPACE_UFFD_FEATURE_EVENT_REMOVE (1UL << 3)
#define ASPACE_UFFD_FEATURE_MISSING_HUGETLBFS (1UL << 4)
#define ASPACE_UFFD_FEATURE_MISSING_SHMEM (1UL << 5)
#define ASPACE_UFFD_FEATURE_EVENT_UNMAP (1UL << 6)
#define ASPACE_UFFD_FEATURE_SIGBUS (1UL << 7)
#define ASPACE_UFFD_FEATURE_THREAD_ID (1UL << 8)
#define ASPACE_UFFD_FEATURE_MINOR_HUGETLBFS (1UL << 9)
#define ASPACE_UFFD_FEATURE_MINOR_SHMEM (1UL << 10)
#define ASPACE_UFFD_FEATURE_EXACT_ADDRESS (1UL << 11)
#define ASPACE_UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1UL << 12)
#define ASPACE_UFFD_FEATURE_WP_UNPOPULATED (1UL << 13)
#define ASPACE_UFFD_FEATURE_POISON (1UL << 14)
#define ASPACE_UFFD_FEATURE_WP_ASYNC (1UL << 15)
#define ASPACE_UFFD_FEATURE_MOVE (1UL << 16)

#define ASPACE_UFFDIO_REGISTER_MODE_MISSING (1U << 0)
#define ASPACE_UFFDIO_REGISTER_MODE_WP (1U << 1)
#define ASPACE_UFFDIO_REGISTER_MODE_MINOR (1U << 2)
/* Bits of the ioctls mask aspace_uffd_register reports (1 << _UFFDIO_x). */
#define ASPACE_UFFDIO_WAKE_BIT 2
#define ASPACE_UFFDIO_COPY_BIT 3
#define ASPACE_UFFDIO_ZEROPAGE_BIT 4
#define ASPACE_UFFDIO_MOVE_BIT 5
#define ASPACE_UFFDIO_WRITEPROTECT_BIT 6
#define ASPACE_UFFDIO_CONTINUE_BIT 7
#define ASPACE_UFFDIO_POISON_BIT 8
/* Modes of the resolving calls. */
#define ASPACE_UFFDIO_MODE_DONTWAKE (1U << 0) /* copy, zeropage, continue, wp, move */
#define ASPACE_UFFDIO_MODE_WP (1U << 1)       /* copy (COPY_MODE_WP), continue */
#define ASPACE_UFFDIO_WRITEPROTECT_MODE_WP (1U << 0)
#define ASPACE_UFFDIO_WRITEPROTECT_MODE_DONTWAKE (1U << 1)
#define ASPACE_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES (1U << 1)

enum {
	ASPACE_UFFD_EVENT_PAGEFAULT = 0x12,
	ASPACE_UFFD_EVENT_FORK = 0x13,
	ASPACE_UFFD_EVENT_REMAP = 0x14,
	ASPACE_UFFD_EVENT_REMOVE = 0x15,
	ASPACE_UFFD_EVENT_UNMAP = 0x16,
};
#define ASPACE_UFFD_PAGEFAULT_FLAG_WRITE (1UL << 0)
#define ASPACE_UFFD_PAGEFAULT_FLAG_WP (1UL << 1)
#define ASPACE_UFFD_PAGEFAULT_FLAG_MINOR (1UL << 2)

struct aspace_uffd_msg {
	int event;             /* ASPACE_UFFD_EVENT_* */
	unsigned long flags;   /* pagefault: ASPACE_UFFD_PAGEFAULT_FLAG_* */
	unsigned long address; /* pagefault; remap: from; remove/unmap: start */
	unsigned long to;      /* remap: to; remove/unmap: end */
	unsigned long len;     /* remap */
	long ptid;             /* pagefault with FEATURE_THREAD_ID */
	struct aspace_uffd *child; /* fork: the child's userfaultfd (now the caller's) */
};

/* userfaultfd(2) + UFFDIO_API: -EINVAL for an unknown feature bit. */
int aspace_uffd_create(struct aspace_mm *mm, unsigned long features, struct aspace_uffd **out);
/* close(2): unregisters every range and wakes every waiter. */
void aspace_uffd_release(struct aspace_uffd *u);
/* UFFDIO_REGISTER: *ioctls gets the mask the kernel reports for the range. */
int aspace_uffd_register(struct aspace_uffd *u, unsigned long start, unsigned long len,
			 unsigned int mode, unsigned long *ioctls);
int aspace_uffd_unregister(struct aspace_uffd *u, unsigned long start, unsigned long len);
/* read(2) after poll(2): the next message, waiting up to timeout_ms (< 0:
 * forever); -EAGAIN when none came. */
int aspace_uffd_read(struct aspace_uffd *u, struct aspace_uffd_msg *msg, int timeout_ms);
/* The resolving ioctls.  0 when the whole range was done; else -errno and
 * *done (may be NULL) the bytes done before the error, as the kernel writes
 * into the ioctl's copy/zeropage/mapped/move field (then the error is
 * -EAGAIN when some bytes were done). */
int aspace_uffd_copy(struct aspace_uffd *u, unsigned long dst, const void *src,
		     unsigned long len, unsigned int mode, unsigned long *done);
int aspace_uffd_zeropage(struct aspace_uffd *u, unsigned long start, unsigned long len,
			 unsigned int mode, unsigned long *done);
int aspace_uffd_continue(struct aspace_uffd *u, unsigned long start, unsigned long len,
			 unsigned int mode, unsigned long *done);
int aspace_uffd_writeprotect(struct aspace_uffd *u, unsigned long start, unsigned long len,
			     unsigned int mode);
int aspace_uffd_wake(struct aspace_uffd *u, unsigned long start, unsigned long len);
int aspace_uffd_move(struct aspace_uffd *u, unsigned long dst, unsigned long src,
		     unsigned long len, unsigned int mode, unsigned long *done);

#endif /* ASPACE_ASPACE_H */
