/*
 * file.h: an open file as the MM sees it (the kernel's struct file, reduced
 * to what mappings need).  f_count is atomic: a mapping holds a reference
 * for as long as it maps the file, an fd holds one while open.  What the
 * file is (a shmem inode, ...) is behind f_ops; the shmem issue fills it in.
 */
#ifndef ASPACE_FILE_H
#define ASPACE_FILE_H

#include <stdatomic.h>

struct file;
struct vm_area_struct;

struct file_operations {
	void (*release)(struct file *file);
	/* Called by mmap for a new VMA of this file; may refuse with -errno. */
	int (*mmap)(struct file *file, struct vm_area_struct *vma);
	/* mincore: is page `index` of the file in its page cache? */
	int (*page_cached)(struct file *file, unsigned long index);
	/* Called by do_mmap before any VMA is created or merged: refuse the
	 * mapping (-errno) or adjust its flags (seals: F_SEAL_FUTURE_WRITE
	 * clears VM_MAYWRITE of a read-only shared mapping). */
	int (*mmap_check)(struct file *file, unsigned long *vm_flags);
	/* A VMA of this file is stored in a tree (mmap, split, fork, mremap)
	 * / is going away: the reverse map (i_mmap) follows. */
	void (*vma_open)(struct vm_area_struct *vma);
	void (*vma_close)(struct vm_area_struct *vma);
	/* Around changes of a linked VMA's range (vma_set_range): whoever
	 * walks the reverse map sees each VMA's range whole (the kernel's
	 * i_mmap_lock_write in vma_prepare). */
	void (*i_mmap_lock_write)(struct file *file);
	void (*i_mmap_unlock_write)(struct file *file);
	/* What /proc/PID/maps prints after the offset. */
	void (*maps_ident)(struct file *file, unsigned *major, unsigned *minor,
			   unsigned long *ino, const char **name);
};

struct file {
	atomic_long f_count;
	const struct file_operations *f_ops;
	void *private_data;
};

static inline struct file *get_file(struct file *f)
{
	atomic_fetch_add(&f->f_count, 1);
	return f;
}

void fput(struct file *f);

#endif
