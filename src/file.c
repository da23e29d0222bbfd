/*
 * file.c: struct file reference counting (see file.h).  No lock: f_count is
 * atomic and the last reference calls the release operation.
 */
#include "file.h"

void fput(struct file *f)
{
	if (f && atomic_fetch_sub(&f->f_count, 1) == 1 && f->f_ops->release)
		f->f_ops->release(f);
}
