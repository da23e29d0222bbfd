/*
 * madvise.c: aspace_madvise.
 *
 * Arguments are checked in the order and with the errno of Linux's
 * do_madvise for every advice value.  What each advice does here:
 *   DONTNEED, DONTNEED_LOCKED  zap the range (mmap_lock read-held); the next
 *                              access sees zeroes (private anon)
 *   FREE                       valid on private anon; pages kept (there is
 *                              no memory pressure to reclaim them under)
 *   REMOVE                     shared anon: zap (drops the data, like a hole
 *                              punch); others EINVAL/EACCES as Linux
 *   NORMAL, RANDOM, SEQUENTIAL, DONTFORK, DOFORK, WIPEONFORK, KEEPONFORK,
 *   DONTDUMP, DODUMP, HUGEPAGE, NOHUGEPAGE, MERGEABLE, UNMERGEABLE
 *                              change vm_flags (mmap_lock write-held; split
 *                              and merge through the VMA layer's vma_modify)
 *   WILLNEED, COLD, PAGEOUT    checks only (no swap or LRU yet)
 *   POPULATE_READ/WRITE        fault the range in
 *   COLLAPSE                   EINVAL (no THP yet)
 *   GUARD_INSTALL/REMOVE       PTE_MARKER_GUARD on each page (mapped pages
 *                              are zapped first); an access there is
 *                              SIGSEGV; DONTNEED keeps the markers, munmap
 *                              drops them, fork copies them
 *   HWPOISON, SOFT_OFFLINE     EPERM (not allowed to an engine caller)
 * Unmapped gaps inside the range give ENOMEM after the mapped parts were
 * handled, as Linux does.
 */
#include "userfaultfd.h" /* uffd issue */
#include "memory.h"
#include "mm.h"
#include "mm_mem.h"
#include "shmem.h"
#include "vma.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <sys/mman.h>

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif

#ifndef VM_SEQ_READ
#define VM_SEQ_READ 0x00008000UL
#endif
#ifndef VM_RAND_READ
#define VM_RAND_READ 0x00010000UL
#endif
#ifndef VM_MERGEABLE
#define VM_MERGEABLE 0x80000000UL
#endif
#ifndef VM_MIXEDMAP
#define VM_MIXEDMAP 0x10000000UL
#endif
#define VM_SPECIAL_FLAGS (VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP)

static bool madvise_behavior_valid(int behavior)
{
	switch (behavior) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED:
	case MADV_DONTNEED: case MADV_DONTNEED_LOCKED: case MADV_FREE: case MADV_COLD:
	case MADV_PAGEOUT: case MADV_POPULATE_READ: case MADV_POPULATE_WRITE:
	case MADV_REMOVE: case MADV_DONTFORK: case MADV_DOFORK: case MADV_DONTDUMP:
	case MADV_DODUMP: case MADV_WIPEONFORK: case MADV_KEEPONFORK:
	case MADV_MERGEABLE: case MADV_UNMERGEABLE: case MADV_HUGEPAGE:
	case MADV_NOHUGEPAGE: case MADV_COLLAPSE: case MADV_GUARD_INSTALL:
	case MADV_GUARD_REMOVE: case MADV_HWPOISON: case MADV_SOFT_OFFLINE:
		return true;
	default:
		return false;
	}
}

/* Advice that changes vm_flags needs mmap_lock for write. */
static bool madvise_need_mmap_write(int behavior)
{
	switch (behavior) {
	case MADV_REMOVE: case MADV_WILLNEED: case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED: case MADV_COLD: case MADV_PAGEOUT: case MADV_FREE:
	case MADV_POPULATE_READ: case MADV_POPULATE_WRITE: case MADV_COLLAPSE:
	case MADV_GUARD_INSTALL: case MADV_GUARD_REMOVE:
		return false;
	default:
		return true;
	}
}

/* The new vm_flags for a flag-changing advice, or -errno. */
static long madvise_new_flags(struct vm_area_struct *vma, int behavior)
{
	unsigned long f = vma->vm_flags;

	switch (behavior) {
	case MADV_NORMAL:
		return (long)(f & ~(VM_RAND_READ | VM_SEQ_READ));
	case MADV_SEQUENTIAL:
		return (long)((f & ~VM_RAND_READ) | VM_SEQ_READ);
	case MADV_RANDOM:
		return (long)((f & ~VM_SEQ_READ) | VM_RAND_READ);
	case MADV_DONTFORK:
		if (f & VM_IO)
			return -EINVAL;
		return (long)(f | VM_DONTCOPY);
	case MADV_DOFORK:
		if (f & VM_IO)
			return -EINVAL;
		return (long)(f & ~VM_DONTCOPY);
	case MADV_WIPEONFORK:
		if (vma->vm_file || (f & VM_SHARED))
			return -EINVAL;
		return (long)(f | VM_WIPEONFORK);
	case MADV_KEEPONFORK:
		return (long)(f & ~VM_WIPEONFORK);
	case MADV_DONTDUMP:
		return (long)(f | VM_DONTDUMP);
	case MADV_DODUMP:
		if (f & VM_SPECIAL_FLAGS)
			return -EINVAL;
		return (long)(f & ~VM_DONTDUMP);
	case MADV_HUGEPAGE:
		return (long)((f & ~VM_NOHUGEPAGE) | VM_HUGEPAGE);
	case MADV_NOHUGEPAGE:
		return (long)((f & ~VM_HUGEPAGE) | VM_NOHUGEPAGE);
	case MADV_MERGEABLE:
		if (f & (VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND |
			 VM_HUGETLB | VM_MIXEDMAP))
			return (long)f; /* KSM ignores these VMAs */
		return (long)(f | VM_MERGEABLE);
	case MADV_UNMERGEABLE:
		return (long)(f & ~VM_MERGEABLE);
	}
	return -EINVAL;
}

static int madvise_update_vma(struct mm_struct *mm, struct vm_area_struct *vma,
			      struct vm_area_struct **pprev, unsigned long start,
			      unsigned long end, int behavior)
{
	struct vma_merge_struct vmg;
	long newflags = madvise_new_flags(vma, behavior);

	if (newflags < 0)
		return (int)newflags;
	if ((unsigned long)newflags == vma->vm_flags) {
		*pprev = vma;
		return 0;
	}
	vmg_init_modify(&vmg, *pprev, vma, start, end, (unsigned long)newflags);
	vma = vma_modify(&vmg);
	if (IS_ERR(vma))
		return (int)PTR_ERR(vma);
	*pprev = vma;
	vma_start_write(vma);
	vm_flags_reset(vma, (unsigned long)newflags);
	return 0;
}

static int madvise_dontneed(struct mm_struct *mm, struct vm_area_struct *vma,
			    unsigned long start, unsigned long end, int behavior)
{
	unsigned long forbidden = VM_PFNMAP | VM_HUGETLB;

	if (behavior != MADV_DONTNEED_LOCKED)
		forbidden |= VM_LOCKED;
	if (vma->vm_flags & forbidden)
		return -EINVAL;
	if (behavior == MADV_FREE) {
		/* Lazy free: only private anonymous memory. */
		if (!vma_is_anonymous(vma) || (vma->vm_flags & VM_SHARED))
			return -EINVAL;
		return 0;
	}
	zap_page_range_keep_markers(mm, start, end);
	return 0;
}

/* Guard regions (6.13+): not on VM_SPECIAL/hugetlb VMAs, nor (install
 * only) on mlocked ones. */
static int madvise_guard(struct mm_struct *mm, struct vm_area_struct *vma,
			 unsigned long start, unsigned long end, int behavior)
{
	unsigned long disallowed = VM_SPECIAL_FLAGS | VM_HUGETLB;

	if (behavior == MADV_GUARD_INSTALL)
		disallowed |= VM_LOCKED;
	if (vma->vm_flags & disallowed)
		return -EINVAL;
	if (behavior == MADV_GUARD_REMOVE) {
		guard_remove_range(mm, start, end);
		return 0;
	}
	return guard_install_range(mm, start, end);
}

static int madvise_remove(struct mm_struct *mm, struct vm_area_struct *vma,
			  unsigned long start, unsigned long end)
{
	if (vma->vm_flags & VM_LOCKED)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED) && !vma->vm_file)
		return -EINVAL;
	if ((vma->vm_flags & (VM_SHARED | VM_MAYWRITE)) != (VM_SHARED | VM_MAYWRITE))
		return -EACCES;
	if (vma->vm_file) /* shmem: punch the file range */
		return shmem_punch(vma->vm_file,
				   (off_t)((start - vma->vm_start) + (vma->vm_pgoff << PAGE_SHIFT)),
				   (off_t)(end - start));
	unmap_page_range(mm, vma, start, end);
	return 0;
}

static int madvise_populate(struct mm_struct *mm, struct vm_area_struct *vma,
			    unsigned long start, unsigned long end, int behavior)
{
	bool write = behavior == MADV_POPULATE_WRITE;
	unsigned int flags = write ? FAULT_FLAG_WRITE : 0;

	/* Linux reports incompatible mappings and permissions as EINVAL
	 * here, not EFAULT (faultin_page_range). */
	if (vma->vm_flags & (VM_IO | VM_PFNMAP))
		return -EINVAL;
	if (!(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) ||
	    (write && !(vma->vm_flags & VM_WRITE)))
		return -EINVAL;
	for (unsigned long addr = start; addr < end; addr += PAGE_SIZE) {
		vm_fault_t fault = handle_mm_fault(vma, addr, flags, NULL);

		if (fault & VM_FAULT_OOM)
			return -ENOMEM;
		if (fault & VM_FAULT_ERROR)
			return -EFAULT;
	}
	return 0;
}

static int madvise_vma_behavior(struct mm_struct *mm, struct vm_area_struct *vma,
				struct vm_area_struct **pprev, unsigned long start,
				unsigned long end, int behavior)
{
	switch (behavior) {
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_FREE:
		*pprev = vma;
		return madvise_dontneed(mm, vma, start, end, behavior);
	case MADV_REMOVE:
		*pprev = vma;
		return madvise_remove(mm, vma, start, end);
	case MADV_WILLNEED:
		*pprev = vma;
		return 0;
	case MADV_COLD:
	case MADV_PAGEOUT:
		*pprev = vma;
		if (vma->vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB))
			return -EINVAL;
		return 0;
	case MADV_POPULATE_READ:
	case MADV_POPULATE_WRITE:
		*pprev = vma;
		return madvise_populate(mm, vma, start, end, behavior);
	case MADV_GUARD_INSTALL:
	case MADV_GUARD_REMOVE:
		*pprev = vma;
		return madvise_guard(mm, vma, start, end, behavior);
	case MADV_COLLAPSE:
		*pprev = vma;
		return -EINVAL;
	default:
		return madvise_update_vma(mm, vma, pprev, start, end, behavior);
	}
}

int aspace_madvise(struct aspace_mm *amm, unsigned long start, unsigned long len_in,
		   int behavior)
{
	struct mm_struct *mm = to_mm(amm);
	struct vm_area_struct *vma, *prev;
	unsigned long end, len;
	int unmapped_error = 0, error = 0;
	bool write;

	if (!madvise_behavior_valid(behavior))
		return -EINVAL;
	if (start & ~PAGE_MASK)
		return -EINVAL;
	len = PAGE_ALIGN(len_in);
	if (len_in && !len)
		return -EINVAL;
	end = start + len;
	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;
	if (behavior == MADV_HWPOISON || behavior == MADV_SOFT_OFFLINE)
		return -EPERM;

	struct uffd_event_list uf = { 0 }; /* uffd issue */
	const unsigned long uf_start = start; /* uffd issue */

	write = madvise_need_mmap_write(behavior);
	if (write)
		mmap_write_lock(mm);
	else
		mmap_read_lock(mm);

	/* madvise_walk_vmas: each VMA piece in turn; gaps are ENOMEM. */
	vma = find_vma_prev(mm, start, &prev);
	if (vma && start > vma->vm_start)
		prev = vma;
	for (;;) {
		unsigned long tmp;

		if (!vma) {
			unmapped_error = -ENOMEM;
			break;
		}
		if (start < vma->vm_start) {
			unmapped_error = -ENOMEM;
			start = vma->vm_start;
			if (start >= end)
				break;
		}
		tmp = vma->vm_end < end ? vma->vm_end : end;
		error = madvise_vma_behavior(mm, vma, &prev, start, tmp, behavior);
		if (error)
			break;
		start = prev && prev->vm_end > tmp ? prev->vm_end : tmp;
		if (start >= end)
			break;
		vma = find_vma(mm, start);
		if (vma && vma->vm_start < start)
			prev = vma;
	}

	/* uffd issue: REMOVE events for the zapped range (sent after the
	 * unlock), and anonymous uffd-wp markers go with the pages. */
	if (!error && (behavior == MADV_DONTNEED || behavior == MADV_DONTNEED_LOCKED ||
		       behavior == MADV_REMOVE))
		userfaultfd_madvise_zapped(mm, uf_start, end, &uf);
	if (write)
		mmap_write_unlock(mm);
	else
		mmap_read_unlock(mm);
	userfaultfd_events_complete(&uf); /* uffd issue */
	return error ? error : unmapped_error;
}
