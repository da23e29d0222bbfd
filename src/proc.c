/*
 * proc.c: the /proc views of an mm, in the kernel's formats: maps, smaps
 * (page-table walk per VMA), pagemap entries, mincore, clear_refs.  Every
 * view runs under mmap_read_lock (clear_refs: mmap_read_lock too, as the
 * kernel; it changes PTEs under their table locks only).
 *
 * This engine is configured like the host kernel here, which is built
 * without CONFIG_MEM_SOFT_DIRTY: no soft-dirty bit is ever reported and
 * clear_refs 4 succeeds without effect.
 */
#include "mm.h"
#include "folio.h"
#include "memory.h"
#include "mm_mem.h"
#include "pagewalk.h"

#include <errno.h>
#include <string.h>

#include <stdio.h>
#include <stdlib.h>

#define PSS_SHIFT 12

/* The page a present PTE maps, or NULL for the zero page (special). */
static struct page *vm_normal_page(struct vm_area_struct *vma, pte_t pte)
{
	if (!pte_present(pte) || pte_special(pte))
		return NULL;
	return pfn_to_page(mm_mem(vma->vm_mm)->pool, pte_pfn(pte));
}

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

/* A per-VMA /proc file of the mm, as one malloc()ed string. */
static char *proc_show(struct aspace_mm *amm,
		       void (*show)(FILE *f, struct mm_struct *mm, struct vm_area_struct *vma))
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
		show(f, mm, vma);
	mmap_read_unlock(mm);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *aspace_proc_maps(struct aspace_mm *amm)
{
	return proc_show(amm, show_map_vma);
}

/* ---- smaps ---- */

struct mem_size_stats {
	unsigned long resident, shared_clean, shared_dirty, private_clean,
		private_dirty, referenced, anonymous, swap;
	unsigned long long pss, pss_dirty, pss_locked;
};

static void smaps_account(struct mem_size_stats *mss, struct page *page, bool young,
			  bool dirty, bool locked)
{
	struct folio *folio = page_folio(page);
	unsigned long long pss = PAGE_SIZE << PSS_SHIFT;
	int mapcount = folio_mapcount(folio);
	bool private;

	if (folio_test_anon(folio))
		mss->anonymous += PAGE_SIZE;
	mss->resident += PAGE_SIZE;
	if (young)
		mss->referenced += PAGE_SIZE;
	/* A page only we reference is private whatever its mapcount says. */
	private = folio_ref_count(folio) == 1 || mapcount < 2;
	if (folio_ref_count(folio) != 1 && mapcount >= 2)
		pss /= (unsigned long long)mapcount;
	mss->pss += pss;
	if (locked)
		mss->pss_locked += pss;
	if (dirty || folio_test_dirty(folio)) {
		mss->pss_dirty += pss;
		if (private)
			mss->private_dirty += PAGE_SIZE;
		else
			mss->shared_dirty += PAGE_SIZE;
	} else if (private) {
		mss->private_clean += PAGE_SIZE;
	} else {
		mss->shared_clean += PAGE_SIZE;
	}
}

static int smaps_pte_entry(pte_t *ptep, unsigned long addr, unsigned long next,
			   struct mm_walk *walk)
{
	pte_t pte = ptep_get(ptep);
	struct page *page = vm_normal_page(walk->vma, pte);

	if (page)
		smaps_account(walk->private, page, pte_young(pte), pte_dirty(pte),
			      walk->vma->vm_flags & VM_LOCKED);
	return 0;
}

static const struct mm_walk_ops smaps_walk_ops = {
	.pte_entry = smaps_pte_entry,
	.walk_lock = PGWALK_RDLOCK,
};

/* The kernel's VmFlags mnemonics, by bit. */
static const char *const vmflag_names[64] = {
	[0] = "rd", [1] = "wr", [2] = "ex", [3] = "sh", [4] = "mr", [5] = "mw",
	[6] = "me", [7] = "ms", [8] = "gd", [9] = "um", [10] = "pf", [12] = "uw",
	[13] = "lo", [14] = "io", [15] = "sr", [16] = "rr", [17] = "dc", [18] = "de",
	[19] = "lf", [20] = "ac", [21] = "nr", [22] = "ht", [23] = "sf", [24] = "ar",
	[25] = "wf", [26] = "dd", [28] = "mm", [29] = "hg", [30] = "nh", [31] = "mg",
	[41] = "ui",
};

static void show_smap_line(FILE *f, const char *key, unsigned long bytes)
{
	fprintf(f, "%-16s%8lu kB\n", key, bytes >> 10);
}

static bool thp_eligible(const struct vm_area_struct *vma)
{
	unsigned long start = (vma->vm_start + PMD_SIZE - 1) & PMD_MASK;

	/* THP is "madvise" here: only VM_HUGEPAGE anonymous memory with room
	 * for one aligned 2 MiB extent. */
	return vma_is_anonymous(vma) && (vma->vm_flags & VM_HUGEPAGE) &&
	       !(vma->vm_flags & VM_NOHUGEPAGE) && start + PMD_SIZE <= vma->vm_end;
}

static void show_smap(FILE *f, struct mm_struct *mm, struct vm_area_struct *vma)
{
	struct mem_size_stats mss = { 0 };

	walk_page_vma(vma, &smaps_walk_ops, &mss);
	show_map_vma(f, mm, vma);
	show_smap_line(f, "Size:", vma->vm_end - vma->vm_start);
	show_smap_line(f, "KernelPageSize:", PAGE_SIZE);
	show_smap_line(f, "MMUPageSize:", PAGE_SIZE);
	show_smap_line(f, "Rss:", mss.resident);
	show_smap_line(f, "Pss:", (unsigned long)(mss.pss >> PSS_SHIFT));
	show_smap_line(f, "Pss_Dirty:", (unsigned long)(mss.pss_dirty >> PSS_SHIFT));
	show_smap_line(f, "Shared_Clean:", mss.shared_clean);
	show_smap_line(f, "Shared_Dirty:", mss.shared_dirty);
	show_smap_line(f, "Private_Clean:", mss.private_clean);
	show_smap_line(f, "Private_Dirty:", mss.private_dirty);
	show_smap_line(f, "Referenced:", mss.referenced);
	show_smap_line(f, "Anonymous:", mss.anonymous);
	show_smap_line(f, "KSM:", 0);
	show_smap_line(f, "LazyFree:", 0);
	show_smap_line(f, "AnonHugePages:", 0);
	show_smap_line(f, "ShmemPmdMapped:", 0);
	show_smap_line(f, "FilePmdMapped:", 0);
	show_smap_line(f, "Shared_Hugetlb:", 0);
	show_smap_line(f, "Private_Hugetlb:", 0);
	show_smap_line(f, "Swap:", mss.swap);
	show_smap_line(f, "SwapPss:", 0);
	show_smap_line(f, "Locked:", (unsigned long)(mss.pss_locked >> PSS_SHIFT));
	fprintf(f, "THPeligible:    %8u\n", thp_eligible(vma) ? 1 : 0);
	fputs("VmFlags:", f);
	for (int bit = 0; bit < 64; bit++)
		if ((vma->vm_flags & (1UL << bit)) && vmflag_names[bit])
			fprintf(f, " %s", vmflag_names[bit]);
	fputs(" \n", f);
}

char *aspace_proc_smaps(struct aspace_mm *amm)
{
	return proc_show(amm, show_smap);
}

/* ---- pagemap ---- */

#define PM_PFRAME_MASK ((1ULL << 55) - 1)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_MMAP_EXCLUSIVE (1ULL << 56)
#define PM_UFFD_WP (1ULL << 57)
#define PM_FILE (1ULL << 61)
#define PM_SWAP (1ULL << 62)
#define PM_PRESENT (1ULL << 63)

struct pagemap_state {
	unsigned long start;
	uint64_t *out;
};

static uint64_t pte_to_pagemap_entry(struct vm_area_struct *vma, pte_t pte)
{
	uint64_t flags = 0, frame = 0;
	struct page *page = NULL;

	if (pte_present(pte)) {
		frame = pte_pfn(pte);
		flags |= PM_PRESENT;
		page = vm_normal_page(vma, pte);
		if (pte_uffd_wp(pte))
			flags |= PM_UFFD_WP;
	} else if (is_pte_marker(pte)) {
		/* A marker is no page: only its uffd-wp bit shows (a uffd-wp
		 * marker as a swap entry, as the kernel reports it: uffd issue). */
		if (pte_marker_get(pte) & PTE_MARKER_UFFD_WP)
			flags |= PM_UFFD_WP | PM_SWAP;
	} else if (is_swap_pte(pte)) {
		flags |= PM_SWAP;
		if (pte_uffd_wp(pte))
			flags |= PM_UFFD_WP;
	}
	if (page && !folio_test_anon(page_folio(page)))
		flags |= PM_FILE;
	if (page && folio_mapcount(page_folio(page)) == 1)
		flags |= PM_MMAP_EXCLUSIVE;
	return (frame & PM_PFRAME_MASK) | flags;
}

static int pagemap_pte_entry(pte_t *ptep, unsigned long addr, unsigned long next,
			     struct mm_walk *walk)
{
	struct pagemap_state *pm = walk->private;

	pm->out[(addr - pm->start) >> PAGE_SHIFT] = pte_to_pagemap_entry(walk->vma, ptep_get(ptep));
	return 0;
}

static const struct mm_walk_ops pagemap_walk_ops = {
	.pte_entry = pagemap_pte_entry,
	.walk_lock = PGWALK_RDLOCK,
};

int aspace_pagemap_read(struct aspace_mm *amm, unsigned long addr, unsigned long npages,
			uint64_t *out)
{
	struct mm_struct *mm = to_mm(amm);
	struct pagemap_state pm = { .start = addr & PAGE_MASK, .out = out };
	unsigned long end = pm.start + npages * PAGE_SIZE;

	if (!npages)
		return 0;
	if (end < pm.start || end > mm->task_size)
		return -EINVAL;
	/* Holes and unpopulated pages read as 0: only present entries write. */
	memset(out, 0, npages * sizeof(*out));
	mmap_read_lock(mm);
	walk_page_range(mm, pm.start, end, &pagemap_walk_ops, &pm);
	mmap_read_unlock(mm);
	return 0;
}

/* ---- mincore ---- */

struct mincore_state {
	unsigned long start;
	unsigned char *vec;
};

static int mincore_pte_entry(pte_t *ptep, unsigned long addr, unsigned long next,
			     struct mm_walk *walk)
{
	struct mincore_state *mc = walk->private;
	pte_t pte = ptep_get(ptep);
	struct file *file = walk->vma->vm_file;
	unsigned char present;

	if (pte_present(pte)) {
		present = 1;
	} else if (is_swap_pte(pte) && !is_pte_marker(pte)) {
		present = 1; /* migration-like entries count as resident */
	} else if (file && file->f_ops->page_cached) {
		unsigned long pgoff = walk->vma->vm_pgoff +
				      ((addr - walk->vma->vm_start) >> PAGE_SHIFT);

		present = file->f_ops->page_cached(file, pgoff);
	} else {
		present = 0;
	}
	mc->vec[(addr - mc->start) >> PAGE_SHIFT] = present;
	return 0;
}

static int mincore_pte_hole(unsigned long addr, unsigned long next, int depth,
			    struct mm_walk *walk)
{
	struct mincore_state *mc = walk->private;
	struct vm_area_struct *vma = walk->vma;

	for (; addr < next; addr += PAGE_SIZE) {
		unsigned char present = 0;

		if (vma && vma->vm_file && vma->vm_file->f_ops->page_cached)
			present = vma->vm_file->f_ops->page_cached(
				vma->vm_file,
				vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT));
		mc->vec[(addr - mc->start) >> PAGE_SHIFT] = present;
	}
	return 0;
}

static const struct mm_walk_ops mincore_walk_ops = {
	.pte_entry = mincore_pte_entry,
	.pte_hole = mincore_pte_hole,
	.walk_lock = PGWALK_RDLOCK,
};

int aspace_mincore(struct aspace_mm *amm, unsigned long start, unsigned long len,
		   unsigned char *vec)
{
	struct mm_struct *mm = to_mm(amm);
	struct mincore_state mc = { .start = start, .vec = vec };
	unsigned long pages, addr, end;
	int err = 0;

	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (len > mm->task_size || start > mm->task_size - len)
		return -ENOMEM;
	pages = (len >> PAGE_SHIFT) + ((len & ~PAGE_MASK) != 0);
	if (!pages)
		return 0;
	end = start + pages * PAGE_SIZE;
	mmap_read_lock(mm);
	/* Every page of the range must be mapped: a hole is ENOMEM (what
	 * comes before it has been filled in). */
	for (addr = start; addr < end;) {
		struct vm_area_struct *vma = vma_lookup(mm, addr);
		unsigned long next;

		if (!vma) {
			err = -ENOMEM;
			break;
		}
		next = vma->vm_end < end ? vma->vm_end : end;
		walk_page_range(mm, addr, next, &mincore_walk_ops, &mc);
		addr = next;
	}
	mmap_read_unlock(mm);
	return err;
}

/* ---- clear_refs ---- */

static int clear_refs_pte_entry(pte_t *ptep, unsigned long addr, unsigned long next,
				struct mm_walk *walk)
{
	pte_t pte = ptep_get(ptep);

	if (pte_present(pte) && pte_young(pte))
		__atomic_fetch_and(ptep, ~_PAGE_ACCESSED, __ATOMIC_ACQ_REL);
	return 0;
}

static const struct mm_walk_ops clear_refs_walk_ops = {
	.pte_entry = clear_refs_pte_entry,
	.walk_lock = PGWALK_RDLOCK,
};

int aspace_clear_refs(struct aspace_mm *amm, int type)
{
	struct mm_struct *mm = to_mm(amm);

	/* 1 all, 2 anon, 3 file, 4 soft-dirty (nothing to clear here), 5 peak RSS. */
	if (type < 1 || type > 5)
		return -EINVAL;
	if (type == 4 || type == 5)
		return 0;
	mmap_read_lock(mm);
	for (struct vm_area_struct *vma = find_vma(mm, 0); vma; vma = vma_next(mm, vma)) {
		if ((type == 2 && !vma_is_anonymous(vma)) || (type == 3 && vma_is_anonymous(vma)))
			continue;
		walk_page_vma(vma, &clear_refs_walk_ops, NULL);
	}
	mmap_read_unlock(mm);
	return 0;
}
