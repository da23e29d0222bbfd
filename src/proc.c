/*
 * proc.c: the /proc views of an mm.  /proc/PID/maps is printed byte for byte
 * in the kernel's format (show_map_vma): the header columns, then, when the
 * VMA has a name, padding to column 73 and the name.  The VMA walk runs
 * under mmap_read_lock.
 */
#include "mm.h"

#include <stdio.h>
#include <stdlib.h>

static void show_map_vma(FILE *f, struct mm_struct *mm, struct vm_area_struct *vma)
{
	unsigned long flags = vma->vm_flags, ino = 0;
	unsigned major = 0, minor = 0;
	unsigned long long pgoff = 0;
	const char *name = NULL;
	int len;

	if (vma->vm_file) {
		pgoff = (unsigned long long)vma->vm_pgoff << PAGE_SHIFT;
		if (vma->vm_file->f_ops->maps_ident)
			vma->vm_file->f_ops->maps_ident(vma->vm_file, &major, &minor,
							&ino, &name);
	} else if (vma->vm_start <= mm->brk && vma->vm_end >= mm->start_brk) {
		name = "[heap]";
	}
	len = fprintf(f, "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ", vma->vm_start,
		      vma->vm_end, flags & VM_READ ? 'r' : '-', flags & VM_WRITE ? 'w' : '-',
		      flags & VM_EXEC ? 'x' : '-', flags & VM_MAYSHARE ? 's' : 'p', pgoff,
		      major, minor, ino);
	if (name) {
		/* The kernel pads the header to 25 + 6 * sizeof(void *) - 1 columns. */
		for (int col = len; col < 25 + 6 * 8 - 1; col++)
			fputc(' ', f);
		fputs(name, f);
	}
	fputc('\n', f);
}

char *aspace_proc_maps(struct aspace_mm *amm)
{
	struct mm_struct *mm = to_mm(amm);
	struct vm_area_struct *vma;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	mmap_read_lock(mm);
	for (vma = find_vma(mm, 0); vma; vma = vma_next(mm, vma))
		show_map_vma(f, mm, vma);
	mmap_read_unlock(mm);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
