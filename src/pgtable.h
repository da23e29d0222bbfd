/*
 * pgtable.h: 4-level page tables of 64-bit entries (x86-64 layout: 512
 * entries per 4 KiB table, 48-bit addresses; PGD -> PUD -> PMD -> PTE).
 * Tables are frames of the mm's pool.
 *
 * Entry format (our own, x86-like):
 *   bit 0  PRESENT    hardware-visible mapping: the access fast path uses it
 *   bit 1  WRITE
 *   bit 2  USER
 *   bit 5  ACCESSED
 *   bit 6  DIRTY
 *   bit 8  PROTNONE   a PROT_NONE mapping: frame kept, PRESENT clear
 *   bit 9  SPECIAL    no struct page refcounting (the shared zero page)
 *   bit 10 UFFD_WP
 *   bit 11 SOFT_DIRTY
 *   bits 12..51 PFN (of a data frame, or of the next-level table)
 *   bit 63 NX
 * A non-present, non-PROTNONE, non-zero PTE is a swap entry: bits 1..5 the
 * type (SWP_PTE_MARKER for markers such as uffd-wp on an empty slot),
 * bits 12..51 the offset; UFFD_WP and SOFT_DIRTY keep their positions.
 *
 * Locks:
 *   mem->page_table_lock  populating or clearing PGD/PUD/PMD entries
 *   table page->ptl       every PTE of that PTE table (split PTE lock):
 *                         taken with pte_offset_map_lock/pte_alloc_map_lock
 *   RCU read lock         lock-free walkers (pte_offset_lockless): tables
 *                         and unmapped frames are freed only after a grace
 *                         period (mmu_gather)
 * Entries are read and written with atomics, so a lock-free walker never
 * sees a torn entry and the access path can set ACCESSED/DIRTY by
 * compare-and-swap while a lock holder changes the entry.
 */
#ifndef ASPACE_PGTABLE_H
#define ASPACE_PGTABLE_H

#include "folio.h"
#include "page_alloc.h"
#include "spinlock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t pte_t;
typedef uint64_t pmd_t;
typedef uint64_t pud_t;
typedef uint64_t pgd_t;

#define PTRS_PER_TABLE 512
#define PMD_SHIFT 21
#define PUD_SHIFT 30
#define PGDIR_SHIFT 39
#define PMD_SIZE (1UL << 21)
#define PUD_SIZE (1UL << PUD_SHIFT)
#define PGDIR_SIZE (1UL << PGDIR_SHIFT)
#define PMD_MASK (~(PMD_SIZE - 1))
#define PUD_MASK (~(PUD_SIZE - 1))
#define PGDIR_MASK (~(PGDIR_SIZE - 1))
#define ADDR_LIMIT (1UL << 48)

#define _PAGE_PRESENT (1UL << 0)
#define _PAGE_RW (1UL << 1)
#define _PAGE_USER (1UL << 2)
#define _PAGE_ACCESSED (1UL << 5)
#define _PAGE_DIRTY (1UL << 6)
#define _PAGE_PROTNONE (1UL << 8)
#define _PAGE_SPECIAL (1UL << 9)
#define _PAGE_UFFD_WP (1UL << 10)
#define _PAGE_SOFT_DIRTY (1UL << 11)
#define _PAGE_NX (1UL << 63)
#define PTE_PFN_MASK 0x000ffffffffff000UL
#define _PAGE_TABLE (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED)

#define SWP_TYPE_SHIFT 1
#define SWP_TYPE_MASK 0x1fUL
#define SWP_PTE_MARKER 31UL
#define PTE_MARKER_UFFD_WP (1UL << 0)
#define PTE_MARKER_POISONED (1UL << 1)
#define PTE_MARKER_GUARD (1UL << 2)

static inline unsigned pgd_index(unsigned long a) { return (a >> PGDIR_SHIFT) & 511; }
static inline unsigned pud_index(unsigned long a) { return (a >> PUD_SHIFT) & 511; }
static inline unsigned pmd_index(unsigned long a) { return (a >> PMD_SHIFT) & 511; }
static inline unsigned pte_index(unsigned long a) { return (a >> 12) & 511; }

/* ---- entry predicates and builders ---- */
static inline bool pte_none(pte_t p) { return p == 0; }
/* Maps a frame (possibly PROT_NONE): what the kernel calls pte_present. */
static inline bool pte_present(pte_t p) { return p & (_PAGE_PRESENT | _PAGE_PROTNONE); }
static inline bool pte_protnone(pte_t p) { return (p & (_PAGE_PRESENT | _PAGE_PROTNONE)) == _PAGE_PROTNONE; }
static inline bool pte_write(pte_t p) { return p & _PAGE_RW; }
static inline bool pte_dirty(pte_t p) { return p & _PAGE_DIRTY; }
static inline bool pte_young(pte_t p) { return p & _PAGE_ACCESSED; }
static inline bool pte_special(pte_t p) { return p & _PAGE_SPECIAL; }
static inline bool pte_uffd_wp(pte_t p) { return p & _PAGE_UFFD_WP; }
static inline bool pte_soft_dirty(pte_t p) { return p & _PAGE_SOFT_DIRTY; }
static inline unsigned long pte_pfn(pte_t p) { return (p & PTE_PFN_MASK) >> 12; }
static inline pte_t pfn_pte(unsigned long pfn, pte_t prot) { return (pfn << 12) | prot; }
static inline pte_t pte_mkwrite(pte_t p) { return p | _PAGE_RW; }
static inline pte_t pte_wrprotect(pte_t p) { return p & ~_PAGE_RW; }
static inline pte_t pte_mkdirty(pte_t p) { return p | _PAGE_DIRTY | _PAGE_SOFT_DIRTY; }
static inline pte_t pte_mkclean(pte_t p) { return p & ~_PAGE_DIRTY; }
static inline pte_t pte_mkyoung(pte_t p) { return p | _PAGE_ACCESSED; }
static inline pte_t pte_mkold(pte_t p) { return p & ~_PAGE_ACCESSED; }
static inline pte_t pte_mkspecial(pte_t p) { return p | _PAGE_SPECIAL; }
static inline pte_t pte_mkuffd_wp(pte_t p) { return p | _PAGE_UFFD_WP; }
static inline pte_t pte_clear_uffd_wp(pte_t p) { return p & ~_PAGE_UFFD_WP; }

/* ---- non-present entries: swap entries and markers ---- */
static inline bool is_swap_pte(pte_t p) { return !pte_none(p) && !pte_present(p); }
static inline unsigned long swp_type(pte_t p) { return (p >> SWP_TYPE_SHIFT) & SWP_TYPE_MASK; }
static inline unsigned long swp_offset(pte_t p) { return (p & PTE_PFN_MASK) >> 12; }
static inline pte_t swp_entry_to_pte(unsigned long type, unsigned long offset)
{
	return (type << SWP_TYPE_SHIFT) | (offset << 12);
}
static inline bool is_pte_marker(pte_t p) { return is_swap_pte(p) && swp_type(p) == SWP_PTE_MARKER; }
static inline pte_t make_pte_marker(unsigned long marker) { return swp_entry_to_pte(SWP_PTE_MARKER, marker); }
static inline unsigned long pte_marker_get(pte_t p) { return swp_offset(p); }

/* ---- atomic entry access ---- */
static inline pte_t ptep_get(pte_t *ptep)
{
	return __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
}
/* Publish an entry (PTE lock held): the frame's contents and metadata
 * written before are visible to whoever reads the entry. */
static inline void set_pte(pte_t *ptep, pte_t pte)
{
	__atomic_store_n(ptep, pte, __ATOMIC_RELEASE);
}
static inline pte_t ptep_get_and_clear(pte_t *ptep)
{
	return __atomic_exchange_n(ptep, 0, __ATOMIC_ACQ_REL);
}
/* Replace an entry, keeping ACCESSED/DIRTY that a lock-free accessor may
 * have set meanwhile (PTE lock held).  Returns the old entry. */
static inline pte_t ptep_modify(pte_t *ptep, pte_t (*fn)(pte_t, void *), void *arg)
{
	pte_t old = __atomic_load_n(ptep, __ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n(ptep, &old, fn(old, arg), false,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		;
	return old;
}
/* Clear the write bit (PTE lock held); returns the entry before. */
static inline pte_t ptep_set_wrprotect(pte_t *ptep)
{
	return __atomic_fetch_and(ptep, ~_PAGE_RW, __ATOMIC_ACQ_REL);
}

struct mm_mem;

/* Lock-free walk: the PTE slot for addr, or NULL when a level is missing.
 * Caller holds the RCU read lock and keeps it while using the slot and the
 * frame it maps. */
pte_t *pte_offset_lockless(struct mm_mem *mem, unsigned long addr);
/* The PTE slot for addr with its table's lock held, or NULL (no table). */
pte_t *pte_offset_map_lock(struct mm_mem *mem, unsigned long addr, spinlock_t **ptlp);
/* Same, allocating missing tables; NULL only when the pool is empty.
 * Caller holds mmap_lock or the VMA lock of a VMA covering addr. */
pte_t *pte_alloc_map_lock(struct mm_mem *mem, unsigned long addr, spinlock_t **ptlp);
static inline void pte_unmap_unlock(pte_t *ptep, spinlock_t *ptl)
{
	(void)ptep;
	spin_unlock(ptl);
}
/* For range walks: the PTE table covering addr (NULL if none) and, in
 * *next, where the next table's range starts (skipping empty upper levels). */
pte_t *pte_table_lookup(struct mm_mem *mem, unsigned long addr, unsigned long *next);
spinlock_t *pte_lockptr(struct mm_mem *mem, pte_t *ptep);

/* Allocate the PGD (mm_mem_init). */
int pgd_alloc(struct mm_mem *mem);
/* Free tables emptied below [start, end), keeping any whose range reaches
 * below floor or at/above ceiling (0: the top). */
void free_pgd_range(struct mm_mem *mem, struct mmu_gather *tlb, unsigned long floor,
		    unsigned long start, unsigned long end, unsigned long ceiling);
/* Teardown: drop every mapping still present and free every table now (no
 * walker can exist any more). */
void pgd_free_all(struct mm_mem *mem, long *rss_anon, long *rss_shmem);

#endif
