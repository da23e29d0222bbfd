/*
 * mmap.c: mmap and munmap, and the placement of new mappings.
 *
 * Both take mmap_lock for write for the whole call: they change the VMA
 * tree.  MAP_POPULATE / MAP_LOCKED population happens after the write lock
 * is released, under mmap_read_lock, as in the kernel.
 *
 * Argument checks follow the kernel's order (ksys_mmap_pgoff -> do_mmap ->
 * __get_unmapped_area -> mmap_region), because the first failing check
 * decides the errno a caller sees:
 *   offset not page aligned                       EINVAL
 *   len == 0                                      EINVAL
 *   PAGE_ALIGN(len) overflows                     ENOMEM
 *   pgoff + pages overflows                       EOVERFLOW
 *   map_count > max_map_count                     ENOMEM
 *   len > TASK_SIZE / no room / fixed beyond it   ENOMEM
 *   MAP_FIXED address not page aligned            EINVAL
 *   MAP_FIXED_NOREPLACE over a mapping            EEXIST
 *   anonymous: type neither SHARED nor PRIVATE    EINVAL
 *   file: bad fd                                  EBADF
 *   file: MAP_SHARED_VALIDATE with unknown flags  EOPNOTSUPP
 */
#include "userfaultfd.h" /* uffd issue */
#include "mm.h"
#include "alloc.h"
#include "mm_mem.h"
#include "shmem.h"

#include <errno.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED 0x4000000
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#define MAP_TYPE_MASK 0x0f

/* Flags MAP_SHARED_VALIDATE accepts (the kernel's LEGACY_MAP_MASK + SYNC). */
#define LEGACY_MAP_MASK                                                        \
	(MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | \
	 MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED |      \
	 MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB)

/* ---- placement ---- */

static unsigned long unmapped_area_topdown(struct mm_struct *mm, unsigned long len)
{
	unsigned long addr = vt_gap_topdown(&mm->mm_mt, PAGE_SIZE, mm->mmap_base, len);

	if (!addr) /* the kernel falls back to a bottom-up search above the base */
		addr = vt_gap_topdown(&mm->mm_mt, mm->mmap_base, mm->task_size, len);
	return addr ? addr : (unsigned long)-ENOMEM;
}

/*
 * Anonymous private mappings whose length is a multiple of 2 MiB are placed
 * on a 2 MiB boundary (THP alignment, as this kernel does), by asking for
 * 2 MiB more and trimming.
 */
static unsigned long thp_unmapped_area(struct mm_struct *mm, unsigned long len)
{
	unsigned long pad = len + PMD_SIZE, ret, off_sub;

	if (pad < len)
		return 0;
	ret = unmapped_area_topdown(mm, pad);
	if (IS_ERR_VALUE(ret))
		return 0;
	off_sub = (0 - ret) & (PMD_SIZE - 1);
	if (!off_sub)
		return ret + PMD_SIZE;
	return ret + off_sub;
}

long get_unmapped_area(struct mm_struct *mm, struct file *file, unsigned long addr,
		       unsigned long len, unsigned long pgoff, unsigned long flags)
{
	struct vm_area_struct *vma;

	if (len > mm->task_size)
		return -ENOMEM;
	if (flags & MAP_FIXED)
		goto check;
	if (addr) {
		addr &= PAGE_MASK;
		if (mm->task_size - len >= addr) {
			vma = find_vma(mm, addr);
			if (!vma || addr + len <= vma->vm_start)
				goto check;
		}
	}
	addr = 0;
	if (!file && !(flags & MAP_SHARED) && !(len & (PMD_SIZE - 1)))
		addr = thp_unmapped_area(mm, len);
	if (!addr)
		addr = unmapped_area_topdown(mm, len);
	if (IS_ERR_VALUE(addr))
		return (long)addr;
check:
	if (addr > mm->task_size - len)
		return -ENOMEM;
	if (addr & ~PAGE_MASK)
		return -EINVAL;
	return (long)addr;
}

/* ---- munmap ---- */

/*
 * Remove [start, end) (page aligned, vma the first VMA intersecting it).
 * Splits come first, so a failure leaves nothing unmapped; a split in the
 * middle of one VMA must not take map_count over its limit.
 */
int do_vmi_align_munmap(struct mm_struct *mm, struct vm_area_struct *vma,
			unsigned long start, unsigned long end)
{
	struct vm_area_struct *prev, *next, *last;
	unsigned long floor, ceiling;
	int err;

	if (start > vma->vm_start) {
		if (end < vma->vm_end && (unsigned long)mm->map_count >= mm->max_map_count)
			return -ENOMEM;
		err = __split_vma(mm, vma, start, 1);
		if (err)
			return err;
	}
	last = find_vma(mm, end - 1);
	if (last && last->vm_start < end && last->vm_end > end) {
		err = __split_vma(mm, last, end, 0);
		if (err)
			return err;
	}
	prev = vma_prev(mm, vma);
	floor = prev ? prev->vm_end : 0;
	while ((next = find_vma(mm, start)) && next->vm_start < end) {
		vma_start_write(next);
		unmap_page_range(mm, next, next->vm_start, next->vm_end);
		mm->total_vm -= vma_pages(next);
		if (next->vm_flags & VM_LOCKED)
			mm->locked_vm -= vma_pages(next);
		if (vma_prealloc(mm, 1))
			return -ENOMEM;
		vma_remove(mm, next);
	}
	next = find_vma(mm, end);
	ceiling = next ? next->vm_start : 0; /* 0: up to the top, as the kernel */
	free_pgtables(mm, floor, start, end, ceiling);
	return 0;
}

int do_munmap(struct mm_struct *mm, unsigned long start, unsigned long len)
{
	struct vm_area_struct *vma;
	unsigned long end;

	mmap_assert_write_locked(mm);
	if ((start & ~PAGE_MASK) || start > mm->task_size || len > mm->task_size - start)
		return -EINVAL;
	end = start + PAGE_ALIGN(len);
	if (end == start)
		return -EINVAL;
	vma = find_vma_intersection(mm, start, end);
	if (!vma)
		return 0;
	return do_vmi_align_munmap(mm, vma, start, end);
}

int aspace_munmap(struct aspace_mm *amm, unsigned long addr, unsigned long len)
{
	struct mm_struct *mm = to_mm(amm);
	int ret;

	struct uffd_event_list uf = { 0 }; /* uffd issue */

	mmap_write_lock(mm);
	if (!(addr & ~PAGE_MASK) && addr <= mm->task_size && len <= mm->task_size - addr)
		userfaultfd_unmap_prep(mm, addr, addr + PAGE_ALIGN(len), &uf); /* uffd issue */
	ret = do_munmap(mm, addr, len);
	mmap_write_unlock(mm);
	userfaultfd_events_complete(&uf); /* uffd issue: UNMAP events, read before we return */
	return ret;
}

/* ---- mmap ---- */

/* Private writable memory is charged against overcommit (VM_ACCOUNT). */
static bool accountable_mapping(unsigned long vm_flags)
{
	return (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE;
}

long mmap_region(struct mm_struct *mm, struct file *file, unsigned long addr,
		 unsigned long len, unsigned long vm_flags, unsigned long pgoff)
{
	struct vma_merge_struct vmg = { 0 };
	struct vm_area_struct *vma, *prev, *next;
	unsigned long end = addr + len;
	int err;

	if (find_vma_intersection(mm, addr, end)) {
		err = do_munmap(mm, addr, len);
		if (err)
			return err;
	}
	if (accountable_mapping(vm_flags))
		vm_flags |= VM_ACCOUNT;

	next = find_vma_prev(mm, addr, &prev);
	vmg.mm = mm;
	vmg.prev = prev;
	vmg.next = next;
	vmg.start = addr;
	vmg.end = end;
	vmg.pgoff = pgoff;
	vmg.flags = vm_flags;
	vmg.file = file;
	vma = NULL;
	/* shmem: files whose VMA copies are tracked (vma_open) may merge */
	if (!file || !file->f_ops->mmap || file->f_ops->vma_open)
		vma = vma_merge_new_range(&vmg);
	if (!vma && vmg.state == VMA_MERGE_ERROR_NOMEM)
		return -ENOMEM;
	if (!vma) {
		vma = vm_area_alloc(mm);
		if (!vma)
			return -ENOMEM;
		vma->vm_start = addr;
		vma->vm_end = end;
		vma->vm_flags = vm_flags;
		vma->vm_pgoff = pgoff;
		if (file) {
			vma->vm_file = get_file(file);
			if (file->f_ops->mmap) {
				err = file->f_ops->mmap(file, vma);
				if (err) {
					vm_area_free_unlinked(vma);
					return err;
				}
			}
		}
		err = vma_link(mm, vma);
		if (err) {
			vm_area_free_unlinked(vma);
			return err;
		}
	}
	mm->total_vm += len >> PAGE_SHIFT;
	if (vm_flags & VM_LOCKED)
		mm->locked_vm += len >> PAGE_SHIFT;
	return (long)addr;
}

static unsigned long calc_vm_prot_bits(int prot)
{
	return ((prot & PROT_READ) ? VM_READ : 0) | ((prot & PROT_WRITE) ? VM_WRITE : 0) |
	       ((prot & PROT_EXEC) ? VM_EXEC : 0);
}

static unsigned long calc_vm_flag_bits(int flags)
{
	return ((flags & MAP_GROWSDOWN) ? VM_GROWSDOWN : 0) |
	       ((flags & MAP_LOCKED) ? VM_LOCKED : 0) |
	       ((flags & MAP_STACK) ? VM_NOHUGEPAGE : 0);
}

static long do_mmap(struct mm_struct *mm, struct file *file, unsigned long addr,
		    unsigned long len, int prot, int flags, unsigned long pgoff,
		    bool *populate)
{
	unsigned long vm_flags;
	long ret;

	*populate = false;
	if (!len)
		return -EINVAL;
	if (flags & MAP_FIXED_NOREPLACE)
		flags |= MAP_FIXED;
	if (!(flags & MAP_FIXED)) {
		addr &= PAGE_MASK;
		if (addr && addr < mm->mmap_min_addr)
			addr = PAGE_ALIGN(mm->mmap_min_addr);
	}
	len = PAGE_ALIGN(len);
	if (!len)
		return -ENOMEM;
	if (pgoff + (len >> PAGE_SHIFT) < pgoff)
		return -EOVERFLOW;
	if ((unsigned long)mm->map_count > mm->max_map_count)
		return -ENOMEM;

	ret = get_unmapped_area(mm, file, addr, len, pgoff, flags);
	if (IS_ERR_VALUE(ret))
		return ret;
	addr = (unsigned long)ret;
	if ((flags & MAP_FIXED_NOREPLACE) && find_vma_intersection(mm, addr, addr + len))
		return -EEXIST;

	vm_flags = calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags) | mm->def_flags |
		   VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
	if (file) {
		switch (flags & MAP_TYPE_MASK) {
		case MAP_SHARED:
			flags &= LEGACY_MAP_MASK;
			/* fallthrough */
		case MAP_SHARED_VALIDATE:
			if (flags & ~(LEGACY_MAP_MASK | MAP_SYNC | MAP_FIXED_NOREPLACE))
				return -EOPNOTSUPP;
			if (flags & MAP_SYNC)
				return -EOPNOTSUPP; /* no DAX here */
			vm_flags |= VM_SHARED | VM_MAYSHARE;
			break;
		case MAP_PRIVATE:
			break;
		default:
			return -EINVAL;
		}
	} else {
		switch (flags & MAP_TYPE_MASK) {
		case MAP_SHARED:
			if (vm_flags & VM_GROWSDOWN)
				return -EINVAL;
			pgoff = 0;
			vm_flags |= VM_SHARED | VM_MAYSHARE;
			break;
		case MAP_PRIVATE:
			pgoff = addr >> PAGE_SHIFT;
			break;
		default:
			return -EINVAL;
		}
	}
	if (flags & MAP_NORESERVE)
		vm_flags |= VM_NORESERVE;
	/* shmem: seals may refuse the mapping or take VM_MAYWRITE away */
	if (file && file->f_ops->mmap_check) {
		int err = file->f_ops->mmap_check(file, &vm_flags);

		if (err)
			return err;
	}
	ret = mmap_region(mm, file, addr, len, vm_flags, pgoff);
	/* On-fault locking never populates, even with MAP_POPULATE
	 * (populate_vma_page_range skips such VMAs). */
	if (!IS_ERR_VALUE(ret) && !(vm_flags & VM_LOCKONFAULT) &&
	    ((vm_flags & VM_LOCKED) || (flags & (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE))
		*populate = true;
	return ret;
}

long aspace_mmap(struct aspace_mm *amm, unsigned long addr, unsigned long len,
		 int prot, int flags, int fd, off_t offset)
{
	struct mm_struct *mm = to_mm(amm);
	struct file *file = NULL;
	bool populate;
	long ret;

	if (offset & ~PAGE_MASK)
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS)) {
		file = fget_mm(mm, fd);
		if (!file)
			return -EBADF;
	} else if ((flags & MAP_TYPE_MASK) == MAP_SHARED) {
		/* Shared anonymous memory is an unnamed shmem file. */
		file = shmem_zero_setup_file(mm, len);
		if (!file)
			return -ENOMEM;
	}
	struct uffd_event_list uf = { 0 }; /* uffd issue */

	mmap_write_lock(mm);
	/* uffd issue: MAP_FIXED replacing a registered range is an UNMAP. */
	if ((flags & MAP_FIXED) && !(addr & ~PAGE_MASK) && len && addr + PAGE_ALIGN(len) > addr)
		userfaultfd_unmap_prep(mm, addr, addr + PAGE_ALIGN(len), &uf);
	ret = do_mmap(mm, file, addr, len, prot, flags, (unsigned long)offset >> PAGE_SHIFT,
		      &populate);
	mmap_write_unlock(mm);
	if (IS_ERR_VALUE(ret))
		userfaultfd_events_discard(&uf); /* uffd issue: nothing was unmapped */
	userfaultfd_events_complete(&uf); /* uffd issue */
	if (file)
		fput(file);
	if (populate)
		mm_populate_range(mm, (unsigned long)ret, PAGE_ALIGN(len), false);
	return ret;
}
