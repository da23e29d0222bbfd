/*
 * mm.c: creating and destroying an address space, and its counters.
 *
 * An mm is used by any number of threads at once; creation and destruction
 * are the caller's to order (no thread may use an mm being destroyed).
 * Counters are atomics written locklessly by faulting threads; map_count and
 * total_vm are read under mmap_lock.
 */
#include "mm.h"
#include "userfaultfd.h" /* uffd issue */
#include "alloc.h"
#include "mm_mem.h"
#include "shmem.h"

#include <errno.h>
#include <string.h>

struct mm_struct *mm_alloc(const struct aspace_config *cfg, struct mm_struct *parent)
{
	static const struct aspace_config defaults;
	struct mm_struct *mm;

	if (!cfg)
		cfg = &defaults;
	mm = kzalloc(sizeof(*mm));
	if (!mm)
		return NULL;
	init_rwsem(&mm->mmap_lock);
	pthread_mutex_init(&mm->anon_vma_lock, NULL);
	if (retire_list_init(&mm->retired)) {
		kfree(mm);
		return NULL;
	}
	vt_init(&mm->mm_mt, &mm->retired);
	if (parent) {
		mm->per_vma_lock = parent->per_vma_lock;
		mm->max_map_count = parent->max_map_count;
		mm->task_size = parent->task_size;
		mm->mmap_base = parent->mmap_base;
		mm->mmap_min_addr = parent->mmap_min_addr;
		mm->start_brk = parent->start_brk;
		mm->brk = parent->brk;
		mm->def_flags = parent->def_flags;
	} else {
		mm->per_vma_lock = cfg->per_vma_lock != ASPACE_VMA_LOCK_OFF;
		mm->max_map_count = cfg->max_map_count ? cfg->max_map_count
						       : DEFAULT_MAX_MAP_COUNT;
		mm->task_size = DEFAULT_TASK_SIZE;
		mm->mmap_base = cfg->mmap_base ? cfg->mmap_base : DEFAULT_MMAP_BASE;
		mm->mmap_min_addr = DEFAULT_MMAP_MIN_ADDR;
		mm->start_brk = mm->brk = cfg->start_brk ? PAGE_ALIGN(cfg->start_brk)
							 : DEFAULT_START_BRK;
	}
	if (mm_mem_init(mm, cfg, parent)) {
		retire_list_destroy(&mm->retired);
		pthread_mutex_destroy(&mm->anon_vma_lock);
		kfree(mm);
		return NULL;
	}
	return mm;
}

/*
 * Tear down every VMA, page and table, then the mm itself.  No other thread
 * may use the mm any more, so VMAs and tree nodes are freed at once.
 */
void mm_free(struct mm_struct *mm)
{
	struct vm_area_struct *vma, *next;

	exit_fd_table(mm); /* shmem: close the fds */
	mmap_write_lock(mm);
	for (vma = find_vma(mm, 0); vma; vma = next) {
		next = vma_next(mm, vma);
		unmap_page_range(mm, vma, vma->vm_start, vma->vm_end);
	}
	free_pgtables(mm, 0, 0, mm->task_size, mm->task_size);
	for (vma = find_vma(mm, 0); vma; vma = next) {
		next = vma_next(mm, vma);
		vm_area_free_unlinked(vma);
	}
	mm->map_count = 0;
	mm->total_vm = mm->locked_vm = 0;
	mmap_write_unlock(mm);
	/* Nodes and VMAs still waiting for RCU stay with the list's sink. */
	vt_destroy(&mm->mm_mt);
	retire_list_destroy(&mm->retired);
	vma_cache_drain(mm);
	mm_mem_destroy(mm);
	pthread_mutex_destroy(&mm->anon_vma_lock);
	kfree(mm);
}

int aspace_mm_create(const struct aspace_config *cfg, struct aspace_mm **out)
{
	struct mm_struct *mm;

	if (cfg && (cfg->per_vma_lock < 0 || cfg->per_vma_lock > ASPACE_VMA_LOCK_OFF))
		return -EINVAL;
	mm = mm_alloc(cfg, NULL);
	if (!mm)
		return -ENOMEM;
	*out = to_aspace(mm);
	return 0;
}

void aspace_mm_destroy(struct aspace_mm *amm)
{
	if (amm) {
		userfaultfd_mm_exit(to_mm(amm)); /* uffd issue */
		mm_free(to_mm(amm));
	}
}

void aspace_mm_stats(struct aspace_mm *amm, struct aspace_stats *st)
{
	struct mm_struct *mm = to_mm(amm);

	memset(st, 0, sizeof(*st));
	mmap_read_lock(mm);
	st->nr_vmas = mm->map_count;
	st->total_vm = mm->total_vm;
	mmap_read_unlock(mm);
	st->rss_anon = atomic_load(&mm->rss_anon);
	st->rss_file = atomic_load(&mm->rss_file);
	st->rss_shmem = atomic_load(&mm->rss_shmem);
	st->faults = atomic_load(&mm->stat_faults);
	st->cow_faults = atomic_load(&mm->stat_cow_faults);
	st->zero_faults = atomic_load(&mm->stat_zero_faults);
	for (int i = 0; i < VMA_LOCK_STAT_SHARDS; i++) {
		st->vma_lock_success += atomic_load(&mm->vma_lock_stat[i].success);
		st->vma_lock_abort += atomic_load(&mm->vma_lock_stat[i].abort);
		st->vma_lock_retry += atomic_load(&mm->vma_lock_stat[i].retry);
		st->vma_lock_miss += atomic_load(&mm->vma_lock_stat[i].miss);
	}
}
