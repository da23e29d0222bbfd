/*
 * shmem.h: shmem (tmpfs) inodes and their page cache, the per-mm file
 * table, and the file fault path (filemap.c).
 *
 * struct shmem_inode (one per memfd, tmpfile or MAP_SHARED|MAP_ANONYMOUS
 * region).  Which lock protects what:
 *   i_rwsem          (mutex) serialises every change of the file: i_size
 *                    changes, writes (pwrite), fallocate, seals.  Taken
 *                    before i_lock and before any PTE lock.
 *   i_lock           (mutex) the page cache's structure (inserting and
 *                    removing folios, growing the tree) and nrpages.  A
 *                    fault that allocates a page takes only this lock.
 *   i_size           written under i_rwsem (and i_lock), read locklessly
 *                    (atomic): faults check it twice, before and after they
 *                    took the PTE lock.
 *   cache slots      written under i_lock with release stores; read under
 *                    the RCU read lock (find_get_folio): a reader takes a
 *                    reference with folio_try_get and re-checks the slot.
 *                    A removed folio's cache reference is dropped with
 *                    folio_put_deferred, so the frame is not reused before
 *                    a grace period.  Tree nodes are freed with the inode.
 *   i_mmap_lock      (mutex) i_mmap and i_mmap_writable, the VMAs that map
 *                    the file (the kernel's i_mmap tree): a VMA joins when
 *                    it is stored in its mm's tree (vma_open: mmap, split,
 *                    fork, mremap) and leaves when retired (vma_close);
 *                    also held while a linked VMA's range changes
 *                    (vma_set_range), so truncation reads ranges whole.
 *                    Lock order: mmap_lock -> i_rwsem -> i_lock ->
 *                    i_mmap_lock -> ptl.
 *   seals            i_rwsem for writers; read locklessly (atomic).
 *   i_count          atomic: struct file references (fds, VMAs) hold the
 *                    file, the file holds the inode.
 */
#ifndef ASPACE_SHMEM_H
#define ASPACE_SHMEM_H

#include "file.h"
#include "folio.h"
#include "memory.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#define SHMEM_NAME_MAX 256

enum shmem_kind {
	SHMEM_MEMFD,
	SHMEM_TMPFILE,
	SHMEM_ZERO, /* MAP_SHARED|MAP_ANONYMOUS: /dev/zero (deleted) */
};

struct cache_node;

struct shmem_inode {
	pthread_mutex_t i_rwsem;
	atomic_int i_rwsem_owner; /* current_tid() of the holder, 0: none */
	pthread_mutex_t i_lock;
	pthread_mutex_t i_mmap_lock;
	_Atomic(struct cache_node *) root;
	atomic_long i_size;
	atomic_long nrpages;
	atomic_int seals;
	bool allow_sealing;
	bool exec_mode;       /* mode has x bits (not MFD_NOEXEC_SEAL) */
	enum shmem_kind kind;
	unsigned long ino;
	struct page_pool *pool;
	struct vm_area_struct **i_mmap;
	int i_mmap_nr, i_mmap_cap;
	int i_mmap_writable;  /* shared VM_MAYWRITE VMAs in i_mmap (F_SEAL_WRITE) */
	char name[SHMEM_NAME_MAX + 8];
};

/*
 * Full barrier between truncation (take pages out, then zap) and a fault
 * (publish under the PTE lock, then re-check the cache).  TSan does not
 * model fences: there, a seq_cst read-modify-write of one shared word, which
 * is a full barrier on x86 too and which TSan sees both sides touch.
 */
#ifdef ASPACE_TSAN
extern atomic_long shmem_mb_word;
#define smp_mb() atomic_fetch_add_explicit(&shmem_mb_word, 0, memory_order_seq_cst)
#else
#define smp_mb() atomic_thread_fence(memory_order_seq_cst)
#endif

static inline struct shmem_inode *SHMEM_I(struct file *file)
{
	return (struct shmem_inode *)file->private_data;
}

bool file_is_shmem(const struct file *file);

/* The folio at index without a reference (NULL: none); RCU read lock held,
 * for batched lookups that take references themselves (fault-around). */
struct folio *shmem_cache_peek(struct shmem_inode *inode, unsigned long index);
/* Look a page up without locks: a referenced folio or NULL.  Caller may be
 * inside an RCU read-side section or not. */
struct folio *find_get_folio(struct shmem_inode *inode, unsigned long index);
/* The folio at index, allocated (zero-filled) and inserted when absent.
 * Fails with NULL and *err: -ENOMEM (pool empty), -EFBIG (beyond the page
 * cache's reach), -EINVAL (index at or beyond i_size when !past_eof). */
struct folio *shmem_get_folio(struct shmem_inode *inode, unsigned long index,
			      bool past_eof, int *err);
/* A frame (zeroed when zero), waiting a little for frames that are freed
 * after a grace period when the pool is empty.  NULL: out of memory. */
struct page *alloc_page_wait_deferred(struct page_pool *pool, bool zero);
/* Insert a frame the caller filled (UFFDIO_COPY into shmem) at index; the
 * cache takes its own reference.  0, -EEXIST (a page is there), -EFAULT
 * (index at or beyond i_size), -ENOMEM. */
int shmem_add_to_page_cache(struct shmem_inode *inode, struct folio *folio,
			    unsigned long index);
/* Under the PTE lock: is folio still the cache page at its index, inside
 * i_size?  (The fault's re-check against truncation.) */
bool shmem_folio_still_valid(struct shmem_inode *inode, struct folio *folio);
/* Punch [start, end) pages out of the cache and out of every mapping. */
int shmem_punch(struct file *file, off_t off, off_t len);

/* filemap.c: map folio (a referenced page of vma's file cache) at addr
 * outside a fault, as UFFDIO_CONTINUE does: read-only in a private mapping
 * (a write COWs later), writable in a shared writable one; wp: uffd-wp and
 * read-only.  mmap_lock or the VMA lock held.  The reference becomes the
 * PTE's on success (else stays the caller's).  0, -EEXIST (something is
 * mapped there), -EFAULT (beyond i_size, or no longer in the cache),
 * -ENOMEM (no page table). */
int shmem_install_pte(struct vm_area_struct *vma, unsigned long addr, struct folio *folio,
		      bool wp);
/* The userfaultfd issue's entry: block the faulting thread until the range
 * is resolved.  The default (weak) says SIGBUS: nothing registers yet. */
vm_fault_t handle_userfault(struct vm_fault *vmf, unsigned long reason);

/* filemap.c: the fault on a file VMA with no page mapped at the address
 * (ptl not held).  Called from handle_pte_fault. */
vm_fault_t do_fault(struct vm_fault *vmf);

/* Per-mm fd table (fork copies it, mm teardown closes it).  fget_mm: a
 * referenced file for fd, or NULL (mmap.c's weak hook). */
struct file *fget_mm(struct mm_struct *mm, int fd);
struct file *shmem_zero_setup_file(struct mm_struct *mm, unsigned long len);
int dup_fd_table(struct mm_struct *parent, struct mm_struct *child);
void exit_fd_table(struct mm_struct *mm);

#endif
