/*
 * vma_tour: the bundled example.  Maps, splits, merges, moves and unmaps
 * regions of an engine address space and prints its /proc/PID/maps view
 * after each step, so you can watch the VMA layer work.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MREMAP_* */
#endif
#include <aspace/aspace.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define P 4096UL

static struct aspace_mm *mm;

static void show(const char *step, long ret)
{
	char *maps = aspace_proc_maps(mm);

	if (ret < 0 && ret > -4096)
		printf("\n== %s => error %s\n", step, strerror((int)-ret));
	else
		printf("\n== %s => %#lx\n", step, (unsigned long)ret);
	fputs(maps ? maps : "(out of memory)\n", stdout);
	free(maps);
}

int main(void)
{
	long arena, ret;
	int err = aspace_mm_create(NULL, &mm);

	if (err) {
		fprintf(stderr, "vma_tour: cannot create an address space: %s\n", strerror(-err));
		return 1;
	}
	printf("aspace VMA tour: each step is one system call on the engine,\n"
	       "followed by the address space's /proc/PID/maps.\n");

	arena = aspace_mmap(mm, 0, 64 * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	show("mmap a 64-page PROT_NONE arena", arena);
	ret = aspace_mmap(mm, arena, 8 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	show("mmap 8 rw pages at the arena's start (MAP_FIXED splits the arena)", ret);
	ret = aspace_mmap(mm, arena + 8 * P, 8 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	show("mmap 8 more rw pages right after (merges with the first)", ret);
	ret = aspace_mprotect(mm, arena + 4 * P, 4 * P, PROT_READ);
	show("mprotect pages 4-7 read-only (splits in three)", ret);
	ret = aspace_mprotect(mm, arena + 4 * P, 4 * P, PROT_READ | PROT_WRITE);
	show("mprotect them back to rw (merges into one again)", ret);
	ret = aspace_munmap(mm, arena + 16 * P, 16 * P);
	show("munmap the 16 arena pages above it (makes room)", ret);
	ret = aspace_mremap(mm, arena, 16 * P, 24 * P, 0, 0);
	show("mremap: grow in place from 16 to 24 pages", ret);
	ret = aspace_mremap(mm, arena, 24 * P, 24 * P, MREMAP_MAYMOVE | MREMAP_FIXED, arena + 32 * P);
	show("mremap MAYMOVE|FIXED: move it 32 pages up", ret);
	ret = aspace_munmap(mm, arena + 40 * P, 4 * P);
	show("munmap 4 pages in the middle (splits)", ret);
	ret = aspace_mmap(mm, arena + 40 * P, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	show("mmap MAP_FIXED_NOREPLACE into the hole (merges both sides)", ret);
	ret = aspace_mmap(mm, arena + 40 * P, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	show("the same again (already mapped: EEXIST)", ret);
	ret = (long)aspace_brk(mm, 0);
	ret = (long)aspace_brk(mm, (unsigned long)ret + 3 * P);
	show("brk: grow the heap by 3 pages", ret);
	ret = aspace_munmap(mm, arena, 64 * P);
	show("munmap the whole arena", ret);
	aspace_mm_destroy(mm);
	return 0;
}
