/*
 * shmem.c: shmem inodes (memfd, O_TMPFILE-like files, MAP_SHARED|
 * MAP_ANONYMOUS), their page cache, seals, truncation and hole punching
 * (with the reverse map i_mmap used to unmap truncated pages from every
 * mapping), the per-mm fd table and the public file calls.
 *
 * Locks: see shmem.h (i_rwsem -> i_lock -> i_mmap_lock -> PTE locks).  The
 * fd table has its own mutex (files->lock), taken alone.
 *
 * The page cache is a radix tree of 64-slot nodes whose height grows with
 * the largest index stored; a lookup is a chain of acquire loads under the
 * RCU read lock and takes a reference with folio_try_get, then re-checks
 * the slot (a folio removed meanwhile is put again and the lookup says
 * "absent").  Removed folios lose the cache's reference through
 * folio_put_deferred, so their frame cannot be reused under a lookup.
 * Nodes are never freed before the inode: emptied nodes are cheap and this
 * keeps lookups free of node lifetime questions.
 *
 * Truncation order (against the fault path, filemap.c): i_size is lowered
 * first, the folios are taken out of the cache, a full fence, then every
 * PTE that maps one of them is zapped under its PTE lock.  A fault re-checks
 * under the PTE lock that its folio is still in the cache and inside
 * i_size (after a fence), so either it sees the removal and backs off, or
 * the zap that follows finds and removes its PTE.
 */
#include "shmem.h"
#include "alloc.h"
#include "debug.h"
#include "guestmem.h"
#include "mm.h"
#include "mm_mem.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "rcu.h"
#include "vma.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <unistd.h>

#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#define F_ALL_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | \
		     F_SEAL_FUTURE_WRITE | F_SEAL_EXEC)

#define MFD_CLOEXEC_ 0x0001U
#define MFD_ALLOW_SEALING_ 0x0002U
#define MFD_HUGETLB_ 0x0004U
#define MFD_NOEXEC_SEAL_ 0x0008U
#define MFD_EXEC_ 0x0010U
#define MFD_HUGE_SHIFT_ 26
#define MFD_HUGE_MASK_ 0x3fU
#define MFD_ALL_FLAGS_ (MFD_CLOEXEC_ | MFD_ALLOW_SEALING_ | MFD_HUGETLB_ | \
			MFD_NOEXEC_SEAL_ | MFD_EXEC_)
/* NAME_MAX minus "memfd:" */
#define MFD_NAME_MAX_LEN (255 - 6)

/* The kernel's MAX_LFS_FILESIZE on 64-bit: shmem's s_maxbytes. */
#define SHMEM_MAXBYTES ((long)LLONG_MAX)
#define MAX_RW_COUNT ((size_t)(INT_MAX & PAGE_MASK))
#define NR_OPEN_DEFAULT 1024 /* RLIMIT_NOFILE soft limit */

/* Page contents are copied as guest memory: see guestmem.h. */

/* ------------------------------------------------------------ i_rwsem */

/* i_rwsem with its owner recorded, so the rules can be asserted. */
static void inode_lock(struct shmem_inode *inode)
{
	pthread_mutex_lock(&inode->i_rwsem);
	atomic_store_explicit(&inode->i_rwsem_owner, current_tid(), memory_order_relaxed);
}

static void inode_unlock(struct shmem_inode *inode)
{
	atomic_store_explicit(&inode->i_rwsem_owner, 0, memory_order_relaxed);
	pthread_mutex_unlock(&inode->i_rwsem);
}

#define inode_assert_locked(inode)                                                 \
	RULE_CHECK(atomic_load_explicit(&(inode)->i_rwsem_owner, memory_order_relaxed) == \
			   current_tid(),                                          \
		   "inode_assert_locked", NULL, "i_rwsem of shmem inode %lu not held", \
		   (inode)->ino)

/* ------------------------------------------------------------ the cache */

#define CACHE_SHIFT 6
#define CACHE_SLOTS (1UL << CACHE_SHIFT)
#define CACHE_MASK (CACHE_SLOTS - 1)

struct cache_node {
	unsigned int shift;             /* index bits below this level */
	_Atomic(void *) slots[CACHE_SLOTS];
};

static inline unsigned long node_span_bits(const struct cache_node *n)
{
	return n->shift + CACHE_SHIFT;
}

static bool index_fits(const struct cache_node *root, unsigned long index)
{
	unsigned long bits = node_span_bits(root);

	return bits >= 64 || (index >> bits) == 0;
}

/* RCU read lock or i_lock held (shmem_cache_peek outside this file). */
static struct folio *cache_load(struct shmem_inode *inode, unsigned long index)
{
	struct cache_node *n = atomic_load_explicit(&inode->root, memory_order_acquire);

	if (!n || !index_fits(n, index))
		return NULL;
	for (;;) {
		void *p = atomic_load_explicit(&n->slots[(index >> n->shift) & CACHE_MASK],
					       memory_order_acquire);

		if (!p || n->shift == 0)
			return p;
		n = p;
	}
}

/* i_lock held: the slot for index, growing the tree and allocating nodes. */
static _Atomic(void *) *cache_slot_alloc(struct shmem_inode *inode, unsigned long index)
{
	struct cache_node *n = atomic_load_explicit(&inode->root, memory_order_relaxed);

	if (!n) {
		n = kzalloc(sizeof(*n));
		if (!n)
			return NULL;
		atomic_store_explicit(&inode->root, n, memory_order_release);
	}
	while (!index_fits(n, index)) {
		struct cache_node *top = kzalloc(sizeof(*top));

		if (!top)
			return NULL;
		top->shift = node_span_bits(n);
		atomic_store_explicit(&top->slots[0], n, memory_order_relaxed);
		/* Readers that still hold the old root see a correct subtree. */
		atomic_store_explicit(&inode->root, top, memory_order_release);
		n = top;
	}
	while (n->shift) {
		_Atomic(void *) *slot = &n->slots[(index >> n->shift) & CACHE_MASK];
		struct cache_node *child = atomic_load_explicit(slot, memory_order_relaxed);

		if (!child) {
			child = kzalloc(sizeof(*child));
			if (!child)
				return NULL;
			child->shift = n->shift - CACHE_SHIFT;
			atomic_store_explicit(slot, child, memory_order_release);
		}
		n = child;
	}
	return &n->slots[index & CACHE_MASK];
}

static void cache_free_node(struct cache_node *n)
{
	if (!n)
		return;
	if (n->shift)
		for (unsigned long i = 0; i < CACHE_SLOTS; i++)
			cache_free_node(atomic_load_explicit(&n->slots[i], memory_order_relaxed));
	kfree(n);
}

/*
 * Call fn for every folio with index in [start, end) (i_lock held).  Walks
 * only populated nodes, so a punch of a huge sparse range stays cheap.
 */
static void cache_for_each(struct cache_node *n, unsigned long base, unsigned long start,
			   unsigned long end, void (*fn)(_Atomic(void *) *slot, void *arg),
			   void *arg)
{
	/* Indexes stay below 2^52 (file offsets below 2^63), so a node's
	 * range never wraps. */
	for (unsigned long i = 0; i < CACHE_SLOTS; i++) {
		unsigned long lo = base + (i << n->shift);
		unsigned long hi = lo + (1UL << n->shift); /* exclusive */
		void *p = atomic_load_explicit(&n->slots[i], memory_order_relaxed);

		if (!p || hi <= start || lo >= end)
			continue;
		if (n->shift)
			cache_for_each(p, lo, start, end, fn, arg);
		else
			fn(&n->slots[i], arg);
	}
}

struct folio *shmem_cache_peek(struct shmem_inode *inode, unsigned long index)
{
	return cache_load(inode, index);
}

struct folio *find_get_folio(struct shmem_inode *inode, unsigned long index)
{
	struct folio *folio;

	rcu_read_lock();
	for (;;) {
		folio = cache_load(inode, index);
		if (!folio)
			break;
		if (!folio_try_get(folio))
			continue; /* being freed: the slot is already empty */
		if (likely(cache_load(inode, index) == folio))
			break;
		folio_put_deferred(folio);
	}
	rcu_read_unlock();
	return folio;
}

static inline unsigned long size_to_pages(long size)
{
	return (unsigned long)((size + (long)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

struct page *alloc_page_wait_deferred(struct page_pool *pool, bool zero)
{
	struct page *page = zero ? alloc_zeroed_page(pool) : alloc_pages(pool, 0);

	/*
	 * Out of frames while some wait for a grace period (truncation and
	 * unmapping free after one): give the RCU thread up to ~100 ms, as
	 * the kernel's allocator would reclaim before failing.  Bounded, so
	 * a caller inside an RCU read-side section gets -ENOMEM, not a hang.
	 */
	for (int i = 0; !page && i < 2000 &&
			atomic_load_explicit(&pool->deferred, memory_order_acquire); i++) {
		usleep(50);
		page = zero ? alloc_zeroed_page(pool) : alloc_pages(pool, 0);
	}
	return page;
}

struct folio *shmem_get_folio(struct shmem_inode *inode, unsigned long index,
			      bool past_eof, int *err)
{
	struct folio *folio = find_get_folio(inode, index);
	_Atomic(void *) *slot;
	struct page *page;

	if (folio)
		return folio;
	/* Allocate and zero outside the lock; insert under it. */
	page = alloc_page_wait_deferred(inode->pool, true);
	if (!page) {
		*err = -ENOMEM;
		return NULL;
	}
	atomic_fetch_or_explicit(&page->flags, (1UL << PG_uptodate) | (1UL << PG_swapbacked),
				 memory_order_relaxed);
	page->mapping = inode;
	page->index = index;
	folio = page_folio(page);

	pthread_mutex_lock(&inode->i_lock);
	if (!past_eof && index >= size_to_pages(atomic_load(&inode->i_size))) {
		pthread_mutex_unlock(&inode->i_lock);
		folio_put(folio);
		*err = -EINVAL;
		return NULL;
	}
	slot = cache_slot_alloc(inode, index);
	if (!slot) {
		pthread_mutex_unlock(&inode->i_lock);
		folio_put(folio);
		*err = -ENOMEM;
		return NULL;
	}
	if (atomic_load_explicit(slot, memory_order_relaxed)) {
		/* Someone else inserted it first: use theirs. */
		pthread_mutex_unlock(&inode->i_lock);
		folio_put(folio);
		return shmem_get_folio(inode, index, past_eof, err);
	}
	folio_get(folio); /* the caller's reference; the cache keeps the first */
	atomic_store_explicit(slot, folio, memory_order_release);
	atomic_fetch_add(&inode->nrpages, 1);
	pthread_mutex_unlock(&inode->i_lock);
	return folio;
}

int shmem_add_to_page_cache(struct shmem_inode *inode, struct folio *folio,
			    unsigned long index)
{
	_Atomic(void *) *slot;
	int err = 0;

	pthread_mutex_lock(&inode->i_lock);
	if (index >= size_to_pages(atomic_load(&inode->i_size))) {
		err = -EFAULT;
		goto out;
	}
	slot = cache_slot_alloc(inode, index);
	if (!slot) {
		err = -ENOMEM;
		goto out;
	}
	if (atomic_load_explicit(slot, memory_order_relaxed)) {
		err = -EEXIST;
		goto out;
	}
	atomic_fetch_or_explicit(&folio->page.flags,
				 (1UL << PG_uptodate) | (1UL << PG_swapbacked),
				 memory_order_relaxed);
	folio->page.mapping = inode;
	folio->page.index = index;
	folio_get(folio); /* the cache's reference */
	atomic_store_explicit(slot, folio, memory_order_release);
	atomic_fetch_add(&inode->nrpages, 1);
out:
	pthread_mutex_unlock(&inode->i_lock);
	return err;
}

bool shmem_folio_still_valid(struct shmem_inode *inode, struct folio *folio)
{
	unsigned long index = folio->page.index;

	/* Pairs with the fence in shmem_truncate_range (see top of file). */
	smp_mb();
	return index < size_to_pages(atomic_load(&inode->i_size)) &&
	       cache_load(inode, index) == folio;
}

/* -------------------------------------------------------------- i_mmap */

static bool vma_maywrite_shared(const struct vm_area_struct *vma)
{
	/* Stable while linked: VM_SHARED never changes, and VM_MAYWRITE is
	 * taken away (seals) only before the VMA exists. */
	return (vma->vm_flags & (VM_SHARED | VM_MAYWRITE)) == (VM_SHARED | VM_MAYWRITE);
}

/* i_mmap_lock held: room for `more` entries.  0 or -ENOMEM. */
static int i_mmap_reserve(struct shmem_inode *inode, int more)
{
	struct vm_area_struct **n;
	int cap = inode->i_mmap_cap ? inode->i_mmap_cap : 8;

	while (cap < inode->i_mmap_nr + more)
		cap *= 2;
	if (cap <= inode->i_mmap_cap)
		return 0;
	n = kmalloc(sizeof(*n) * (size_t)cap);
	if (!n)
		return -ENOMEM;
	if (inode->i_mmap_nr)
		memcpy(n, inode->i_mmap, sizeof(*n) * (size_t)inode->i_mmap_nr);
	kfree(inode->i_mmap);
	inode->i_mmap = n;
	inode->i_mmap_cap = cap;
	return 0;
}

/* 0, or -ENOMEM when the array cannot grow (the VMA is then not tracked). */
static int i_mmap_insert(struct shmem_inode *inode, struct vm_area_struct *vma)
{
	int err;

	pthread_mutex_lock(&inode->i_mmap_lock);
	err = i_mmap_reserve(inode, 1);
	if (!err) {
		inode->i_mmap[inode->i_mmap_nr++] = vma;
		if (vma_maywrite_shared(vma))
			inode->i_mmap_writable++;
	}
	pthread_mutex_unlock(&inode->i_mmap_lock);
	return err;
}

/* Tolerates a VMA that was never inserted (mmap failed before f_ops->mmap). */
static void i_mmap_remove(struct shmem_inode *inode, struct vm_area_struct *vma)
{
	pthread_mutex_lock(&inode->i_mmap_lock);
	for (int i = inode->i_mmap_nr - 1; i >= 0; i--) {
		if (inode->i_mmap[i] == vma) {
			inode->i_mmap[i] = inode->i_mmap[--inode->i_mmap_nr];
			if (vma_maywrite_shared(vma))
				inode->i_mmap_writable--;
			break;
		}
	}
	pthread_mutex_unlock(&inode->i_mmap_lock);
}

/*
 * Zap, in one VMA, every PTE in file pages [start, end) that maps a page of
 * this file being removed (its index in the range and no longer in the
 * cache), and with even_cows also private copies of those pages (truncation
 * beyond EOF: a private COW page past EOF must fault SIGBUS too).
 * i_mmap_lock held, which keeps the VMA's range, pgoff and mm still (they
 * are set before vma_open and changed under it: vma_set_range); no
 * mmap_lock: page tables are walked under RCU (tables are freed after a
 * grace period) and every entry is re-read under its PTE lock.  PTEs that
 * move meanwhile (mremap, fork copying) are caught by the caller's
 * mapcount re-check.
 */
static void zap_vma_file_range(struct shmem_inode *inode, struct vm_area_struct *vma,
			       unsigned long start, unsigned long end, bool even_cows)
{
	struct mm_struct *mm = vma->vm_mm;
	struct mm_mem *mem = mm_mem(mm);
	unsigned long vstart = vma->vm_start, vend = vma->vm_end;
	unsigned long pgoff = vma->vm_pgoff;
	unsigned long vpages = (vend - vstart) >> PAGE_SHIFT;
	unsigned long first = start > pgoff ? start : pgoff;
	unsigned long last = end < pgoff + vpages ? end : pgoff + vpages;
	unsigned long addr, stop;
	long anon = 0, shmem = 0;
	struct mmu_gather tlb;

	if (!mem || first >= last)
		return;
	addr = vstart + ((first - pgoff) << PAGE_SHIFT);
	stop = vstart + ((last - pgoff) << PAGE_SHIFT);
	tlb_gather_mmu(&tlb, mem->pool);
	while (addr < stop) {
		unsigned long tend = (addr & PMD_MASK) + PMD_SIZE;
		spinlock_t *ptl;
		pte_t *ptep;

		if (tend > stop || tend < addr)
			tend = stop;
		rcu_read_lock();
		ptep = pte_offset_map_lock(mem, addr, &ptl);
		if (!ptep) {
			rcu_read_unlock();
			addr = tend;
			continue;
		}
		for (; addr < tend; addr += PAGE_SIZE, ptep++) {
			pte_t e = ptep_get(ptep);
			unsigned long idx = pgoff + ((addr - vstart) >> PAGE_SHIFT);
			struct folio *folio;

			if (!pte_present(e) || pte_special(e) || is_zero_pfn(mem->pool, pte_pfn(e)))
				continue;
			folio = page_folio(pfn_to_page(mem->pool, pte_pfn(e)));
			if (folio_test_anon(folio)) {
				if (!even_cows || folio->page.index != idx)
					continue;
			} else if (folio->page.mapping != inode || folio->page.index < start ||
				   folio->page.index >= end ||
				   cache_load(inode, folio->page.index) == folio) {
				continue;
			}
			e = ptep_get_and_clear(ptep);
			zap_folio_pte(&tlb, folio, pte_dirty(e), &anon, &shmem);
		}
		spin_unlock(ptl);
		rcu_read_unlock();
	}
	tlb_finish_mmu(&tlb);
	if (anon)
		atomic_fetch_sub_explicit(&mm->rss_anon, anon, memory_order_relaxed);
	if (shmem)
		atomic_fetch_sub_explicit(&mm->rss_shmem, shmem, memory_order_relaxed);
}

static void unmap_mapping_pages(struct shmem_inode *inode, unsigned long start,
				unsigned long end, bool even_cows)
{
	pthread_mutex_lock(&inode->i_mmap_lock);
	for (int i = 0; i < inode->i_mmap_nr; i++)
		zap_vma_file_range(inode, inode->i_mmap[i], start, end, even_cows);
	pthread_mutex_unlock(&inode->i_mmap_lock);
}

/* ----------------------------------------------------- truncate / punch */

struct removed {
	struct folio **v;
	size_t n, cap;
	bool nomem;
};

static void remove_one(_Atomic(void *) *slot, void *arg)
{
	struct removed *r = arg;
	struct folio *folio = atomic_load_explicit(slot, memory_order_relaxed);

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct folio **v = kmalloc(sizeof(*v) * cap);

		if (!v) {
			r->nomem = true; /* leave it in the cache; caller retries */
			return;
		}
		if (r->n)
			memcpy(v, r->v, sizeof(*v) * r->n);
		kfree(r->v);
		r->v = v;
		r->cap = cap;
	}
	atomic_store_explicit(slot, NULL, memory_order_release);
	r->v[r->n++] = folio;
}

static bool removed_mapped(const struct removed *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (folio_mapcount(r->v[i]) > 0)
			return true;
	return false;
}

/* Zero bytes [from, to) of page index if it is cached (i_rwsem held). */
static void zero_partial(struct shmem_inode *inode, unsigned long index, size_t from,
			 size_t to)
{
	struct folio *folio = find_get_folio(inode, index);

	if (!folio)
		return;
	guest_zero((char *)page_address(&folio->page) + from, to - from);
	folio_mark_dirty(folio);
	folio_put_deferred(folio);
}

/*
 * Remove cache pages [start, end) and unmap them from every mapping.
 * i_rwsem held.  even_cows: also private COW copies (truncation).
 */
static void shmem_truncate_range(struct shmem_inode *inode, unsigned long start,
				 unsigned long end, bool even_cows)
{
	struct removed r = { 0 };
	struct cache_node *root;

	inode_assert_locked(inode);
	if (start >= end)
		return;
	do {
		r.nomem = false;
		pthread_mutex_lock(&inode->i_lock);
		root = atomic_load_explicit(&inode->root, memory_order_relaxed);
		if (root)
			cache_for_each(root, 0, start, end, remove_one, &r);
		atomic_fetch_sub(&inode->nrpages, (long)r.n);
		pthread_mutex_unlock(&inode->i_lock);
		/* Pairs with shmem_folio_still_valid (see top of file). */
		smp_mb();
		unmap_mapping_pages(inode, start, end, even_cows);
		/*
		 * A removed page can only lose mappings now (faults re-check the
		 * cache under the PTE lock), but a PTE can escape one pass: fork
		 * copying it into a child VMA this pass had already zapped, or a
		 * split or mremap changing a VMA while its bounds were read
		 * (i_mmap_lock does not freeze them).  We still hold the cache's
		 * references, so the mapcounts are safe to read: pass again while
		 * any is mapped (bounded: a VMA i_mmap failed to track would
		 * keep its PTE; its page stays valid, only the SIGBUS is lost).
		 */
		for (int pass = 0; pass < 50000 && removed_mapped(&r); pass++) {
			/*
			 * A split or merge of a mapping may be half done (its
			 * range between VMAs), and its thread preempted in the
			 * middle: sleep a little so it can finish, rather than
			 * spin through the passes while it is off the CPU.
			 * Bounded (about a second) for the untracked-VMA case.
			 */
			if (pass < 8)
				sched_yield();
			else
				nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
			unmap_mapping_pages(inode, start, end, even_cows);
		}
		for (size_t i = 0; i < r.n; i++)
			folio_put_deferred(r.v[i]);
		r.n = 0;
	} while (r.nomem);
	kfree(r.v);
}

/* i_rwsem held. */
static int shmem_setsize(struct shmem_inode *inode, long newsize)
{
	long oldsize = atomic_load(&inode->i_size);
	int seals = atomic_load(&inode->seals);

	inode_assert_locked(inode);
	if (newsize < oldsize && (seals & F_SEAL_SHRINK))
		return -EPERM;
	if (newsize > oldsize && (seals & F_SEAL_GROW))
		return -EPERM;
	pthread_mutex_lock(&inode->i_lock);
	atomic_store(&inode->i_size, newsize);
	pthread_mutex_unlock(&inode->i_lock);
	if (newsize < oldsize) {
		unsigned long first = size_to_pages(newsize);

		if (newsize & ~PAGE_MASK)
			zero_partial(inode, (unsigned long)newsize >> PAGE_SHIFT,
				     newsize & ~PAGE_MASK, PAGE_SIZE);
		shmem_truncate_range(inode, first, ~0UL, true);
	}
	return 0;
}

/* ------------------------------------------------------- file and inode */

static atomic_ulong next_ino = 12000;
#ifdef ASPACE_TSAN
atomic_long shmem_mb_word;
#endif

static void shmem_release(struct file *file)
{
	struct shmem_inode *inode = SHMEM_I(file);
	struct cache_node *root = atomic_load(&inode->root);

	/* No fd and no VMA any more: nothing can reach the cache. */
	inode_lock(inode);
	shmem_truncate_range(inode, 0, ~0UL, true);
	inode_unlock(inode);
	cache_free_node(root);
	kfree(inode->i_mmap);
	pool_put(inode->pool);
	pthread_mutex_destroy(&inode->i_rwsem);
	pthread_mutex_destroy(&inode->i_lock);
	pthread_mutex_destroy(&inode->i_mmap_lock);
	kfree(inode);
	kfree(file);
}

/* A new VMA, before it is linked (vma_open follows from the link). */
static int shmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct shmem_inode *inode = SHMEM_I(file);
	int err;

	mmap_assert_write_locked(vma->vm_mm);
	/* PTEs name frames by pfn in their mm's pool: the file's pages must
	 * come from it (fds only travel by fork, which shares the pool). */
	if (inode->pool != mm_mem(vma->vm_mm)->pool)
		return -EINVAL;
	/* Room for this VMA and a split of it, while mmap can still fail:
	 * vma_open cannot. */
	pthread_mutex_lock(&inode->i_mmap_lock);
	err = i_mmap_reserve(inode, 2);
	pthread_mutex_unlock(&inode->i_mmap_lock);
	return err;
}

static void shmem_i_mmap_lock_write(struct file *file)
{
	pthread_mutex_lock(&SHMEM_I(file)->i_mmap_lock);
}

static void shmem_i_mmap_unlock_write(struct file *file)
{
	pthread_mutex_unlock(&SHMEM_I(file)->i_mmap_lock);
}

static void shmem_vma_open(struct vm_area_struct *vma)
{
	/* Out of memory for the array (shmem_mmap reserved room, so only
	 * after many splits): the VMA is not tracked, and a later truncation
	 * leaves its PTEs (they keep their own page references, so nothing is
	 * freed under them; only the SIGBUS is lost). */
	(void)i_mmap_insert(SHMEM_I(vma->vm_file), vma);
}

static void shmem_vma_close(struct vm_area_struct *vma)
{
	i_mmap_remove(SHMEM_I(vma->vm_file), vma);
}

/* memfd_check_seals_mmap: a write-sealed file cannot be mapped shared and
 * writable, and a read-only shared mapping of it can never become one. */
static int shmem_mmap_check(struct file *file, unsigned long *vm_flags)
{
	int seals = atomic_load(&SHMEM_I(file)->seals);

	if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) && (*vm_flags & VM_SHARED)) {
		if (*vm_flags & VM_WRITE)
			return -EPERM;
		*vm_flags &= ~VM_MAYWRITE;
	}
	return 0;
}

static void shmem_maps_ident(struct file *file, unsigned *major, unsigned *minor,
			     unsigned long *ino, const char **name)
{
	struct shmem_inode *inode = SHMEM_I(file);

	/* As this host's kernel prints them: the internal shm mount is 00:01,
	 * /dev/shm (where O_TMPFILE files live) is another tmpfs, 00:1b. */
	*major = 0;
	*minor = inode->kind == SHMEM_TMPFILE ? 0x1b : 1;
	*ino = inode->ino;
	*name = inode->name;
}

/* mincore: a page of the file is resident when it is in the cache. */
static int shmem_page_cached(struct file *file, unsigned long index)
{
	bool cached;

	rcu_read_lock();
	cached = cache_load(SHMEM_I(file), index) != NULL;
	rcu_read_unlock();
	return cached;
}

static const struct file_operations shmem_file_operations = {
	.release = shmem_release,
	.mmap = shmem_mmap,
	.mmap_check = shmem_mmap_check,
	.vma_open = shmem_vma_open,
	.vma_close = shmem_vma_close,
	.i_mmap_lock_write = shmem_i_mmap_lock_write,
	.i_mmap_unlock_write = shmem_i_mmap_unlock_write,
	.maps_ident = shmem_maps_ident,
	.page_cached = shmem_page_cached,
};

bool file_is_shmem(const struct file *file)
{
	return file && file->f_ops == &shmem_file_operations;
}

static struct file *shmem_file_setup(struct mm_struct *mm, enum shmem_kind kind,
				     const char *name, long size)
{
	struct shmem_inode *inode = kzalloc(sizeof(*inode));
	struct file *file = kzalloc(sizeof(*file));

	if (!inode || !file)
		goto err;
	pthread_mutex_init(&inode->i_rwsem, NULL);
	pthread_mutex_init(&inode->i_lock, NULL);
	pthread_mutex_init(&inode->i_mmap_lock, NULL);
	inode->kind = kind;
	inode->ino = atomic_fetch_add(&next_ino, 1);
	atomic_store(&inode->i_size, size);
	atomic_store(&inode->seals, F_SEAL_SEAL);
	inode->exec_mode = true;
	inode->pool = mm_mem(mm)->pool;
	pool_get(inode->pool);
	switch (kind) {
	case SHMEM_MEMFD:
		snprintf(inode->name, sizeof(inode->name), "/memfd:%s (deleted)", name);
		break;
	case SHMEM_TMPFILE:
		snprintf(inode->name, sizeof(inode->name), "/dev/shm/#%lu (deleted)", inode->ino);
		break;
	case SHMEM_ZERO:
		snprintf(inode->name, sizeof(inode->name), "/dev/zero (deleted)");
		break;
	}
	atomic_store(&file->f_count, 1);
	file->f_ops = &shmem_file_operations;
	file->private_data = inode;
	return file;
err:
	kfree(inode);
	kfree(file);
	return NULL;
}

/* MAP_SHARED|MAP_ANONYMOUS: an unnamed shmem file of the mapping's size
 * (mmap.c calls it and drops our reference after mmap_region). */
struct file *shmem_zero_setup_file(struct mm_struct *mm, unsigned long len)
{
	return shmem_file_setup(mm, SHMEM_ZERO, NULL, (long)PAGE_ALIGN(len));
}

/* ------------------------------------------------------------ fd table */

struct files_struct {
	pthread_mutex_t lock;
	int max;
	struct file **fd;
	bool *cloexec;
};

static struct files_struct *files_alloc(void)
{
	struct files_struct *f = kzalloc(sizeof(*f));

	if (f)
		pthread_mutex_init(&f->lock, NULL);
	return f;
}

/* The mm's table, created on first use.  mm->files is set once (CAS). */
static struct files_struct *mm_files(struct mm_struct *mm)
{
	struct files_struct *f = __atomic_load_n((struct files_struct **)&mm->files,
						 __ATOMIC_ACQUIRE);
	struct files_struct *expected = NULL;

	if (f)
		return f;
	f = files_alloc();
	if (!f)
		return NULL;
	if (!__atomic_compare_exchange_n((struct files_struct **)&mm->files, &expected, f,
					 false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		pthread_mutex_destroy(&f->lock);
		kfree(f);
		return expected;
	}
	return f;
}

/* files->lock held: room for fd numbers below want. */
static int files_expand(struct files_struct *f, int want)
{
	int max = f->max ? f->max : 16;
	struct file **fd;
	bool *ce;

	while (max < want)
		max *= 2;
	if (max <= f->max)
		return 0;
	fd = kzalloc(sizeof(*fd) * (size_t)max);
	ce = kzalloc(sizeof(*ce) * (size_t)max);
	if (!fd || !ce) {
		kfree(fd);
		kfree(ce);
		return -ENOMEM;
	}
	if (f->max) {
		memcpy(fd, f->fd, sizeof(*fd) * (size_t)f->max);
		memcpy(ce, f->cloexec, sizeof(*ce) * (size_t)f->max);
	}
	kfree(f->fd);
	kfree(f->cloexec);
	f->fd = fd;
	f->cloexec = ce;
	f->max = max;
	return 0;
}

/* Install file (taking over the caller's reference) at the lowest free fd
 * from 3 up (0-2 are the standard streams of a process). */
static int fd_install_new(struct mm_struct *mm, struct file *file, bool cloexec)
{
	struct files_struct *f = mm_files(mm);
	int fd, err;

	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&f->lock);
	for (fd = 3; fd < f->max && f->fd[fd]; fd++)
		;
	if (fd >= NR_OPEN_DEFAULT) {
		err = -EMFILE;
		goto out;
	}
	err = files_expand(f, fd + 1);
	if (err)
		goto out;
	f->fd[fd] = file;
	f->cloexec[fd] = cloexec;
	err = fd;
out:
	pthread_mutex_unlock(&f->lock);
	return err;
}

struct file *fget_mm(struct mm_struct *mm, int fd)
{
	struct files_struct *f = __atomic_load_n((struct files_struct **)&mm->files,
						 __ATOMIC_ACQUIRE);
	struct file *file = NULL;

	if (!f || fd < 0)
		return NULL;
	pthread_mutex_lock(&f->lock);
	if (fd < f->max && f->fd[fd])
		file = get_file(f->fd[fd]);
	pthread_mutex_unlock(&f->lock);
	return file;
}

int dup_fd_table(struct mm_struct *parent, struct mm_struct *child)
{
	struct files_struct *pf = __atomic_load_n((struct files_struct **)&parent->files,
						  __ATOMIC_ACQUIRE);
	struct files_struct *cf;
	int err = 0;

	if (!pf)
		return 0;
	cf = mm_files(child);
	if (!cf)
		return -ENOMEM;
	pthread_mutex_lock(&pf->lock);
	err = files_expand(cf, pf->max);
	for (int i = 0; !err && i < pf->max; i++) {
		if (pf->fd[i])
			cf->fd[i] = get_file(pf->fd[i]);
		cf->cloexec[i] = pf->cloexec[i];
	}
	pthread_mutex_unlock(&pf->lock);
	return err;
}

void exit_fd_table(struct mm_struct *mm)
{
	struct files_struct *f = mm->files;

	if (!f)
		return;
	mm->files = NULL;
	for (int i = 0; i < f->max; i++)
		fput(f->fd[i]);
	kfree(f->fd);
	kfree(f->cloexec);
	pthread_mutex_destroy(&f->lock);
	kfree(f);
}

/* A referenced shmem file for fd, or NULL (-EBADF). */
static struct file *fget_shmem(struct aspace_mm *amm, int fd)
{
	struct file *file = amm ? fget_mm(to_mm(amm), fd) : NULL;

	if (file && !file_is_shmem(file)) {
		fput(file);
		return NULL;
	}
	return file;
}

/* ------------------------------------------------------- the public API */

int aspace_memfd_create(struct aspace_mm *amm, const char *name, unsigned int flags)
{
	struct mm_struct *mm = to_mm(amm);
	struct file *file;
	int fd;

	if (!amm)
		return -EINVAL;
	if (!(flags & MFD_HUGETLB_)) {
		if (flags & ~MFD_ALL_FLAGS_)
			return -EINVAL;
	} else if (flags & ~(MFD_ALL_FLAGS_ | (MFD_HUGE_MASK_ << MFD_HUGE_SHIFT_))) {
		return -EINVAL;
	}
	if ((flags & MFD_EXEC_) && (flags & MFD_NOEXEC_SEAL_))
		return -EINVAL;
	if (!name)
		return -EFAULT;
	if (strnlen(name, MFD_NAME_MAX_LEN + 1) > MFD_NAME_MAX_LEN)
		return -EINVAL;
	if (flags & MFD_HUGETLB_)
		return -ENOSYS; /* no hugetlb pool in the engine (yet) */
	file = shmem_file_setup(mm, SHMEM_MEMFD, name, 0);
	if (!file)
		return -ENOMEM;
	if (flags & (MFD_ALLOW_SEALING_ | MFD_NOEXEC_SEAL_)) {
		SHMEM_I(file)->allow_sealing = true;
		SHMEM_I(file)->exec_mode = !(flags & MFD_NOEXEC_SEAL_);
		atomic_store(&SHMEM_I(file)->seals,
			     (flags & MFD_NOEXEC_SEAL_) ? F_SEAL_EXEC : 0);
	}
	fd = fd_install_new(mm, file, flags & MFD_CLOEXEC_);
	if (fd < 0)
		fput(file);
	return fd;
}

int aspace_tmpfile(struct aspace_mm *amm)
{
	struct file *file;
	int fd;

	if (!amm)
		return -EINVAL;
	file = shmem_file_setup(to_mm(amm), SHMEM_TMPFILE, NULL, 0);
	if (!file)
		return -ENOMEM;
	fd = fd_install_new(to_mm(amm), file, false);
	if (fd < 0)
		fput(file);
	return fd;
}

int aspace_close(struct aspace_mm *amm, int fd)
{
	struct files_struct *f;
	struct file *file = NULL;

	if (!amm)
		return -EBADF;
	f = __atomic_load_n((struct files_struct **)&to_mm(amm)->files, __ATOMIC_ACQUIRE);
	if (!f || fd < 0)
		return -EBADF;
	pthread_mutex_lock(&f->lock);
	if (fd < f->max) {
		file = f->fd[fd];
		f->fd[fd] = NULL;
		f->cloexec[fd] = false;
	}
	pthread_mutex_unlock(&f->lock);
	if (!file)
		return -EBADF;
	fput(file);
	return 0;
}

int aspace_ftruncate(struct aspace_mm *amm, int fd, off_t len)
{
	struct file *file = fget_shmem(amm, fd);
	struct shmem_inode *inode;
	int err;

	if (!file)
		return -EBADF;
	if (len < 0) {
		fput(file);
		return -EINVAL;
	}
	inode = SHMEM_I(file);
	inode_lock(inode);
	err = shmem_setsize(inode, (long)len);
	inode_unlock(inode);
	fput(file);
	return err;
}

/* i_rwsem held: zero the partial pages and drop the whole ones. */
static void shmem_punch_locked(struct shmem_inode *inode, long off, long len)
{
	long end = off + len; /* exclusive, no overflow: checked by callers */

	inode_assert_locked(inode);
	unsigned long first = (unsigned long)PAGE_ALIGN((unsigned long)off) >> PAGE_SHIFT;
	unsigned long last = (unsigned long)end >> PAGE_SHIFT; /* whole pages < last */

	if ((off >> PAGE_SHIFT) == ((end - 1) >> PAGE_SHIFT) &&
	    ((off & ~PAGE_MASK) || (end & ~PAGE_MASK))) {
		/* Inside one page, not all of it. */
		zero_partial(inode, (unsigned long)off >> PAGE_SHIFT, off & ~PAGE_MASK,
			     ((end - 1) & ~PAGE_MASK) + 1);
		return;
	}
	if (off & ~PAGE_MASK)
		zero_partial(inode, (unsigned long)off >> PAGE_SHIFT, off & ~PAGE_MASK,
			     PAGE_SIZE);
	if (end & ~PAGE_MASK)
		zero_partial(inode, (unsigned long)end >> PAGE_SHIFT, 0, end & ~PAGE_MASK);
	/* A punch keeps private COW copies (even_cows = false), as Linux. */
	shmem_truncate_range(inode, first, last, false);
}

int shmem_punch(struct file *file, off_t off, off_t len)
{
	struct shmem_inode *inode;
	int err = 0;

	if (!file_is_shmem(file))
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0 || off > SHMEM_MAXBYTES - len)
		return -EINVAL;
	inode = SHMEM_I(file);
	inode_lock(inode);
	if (atomic_load(&inode->seals) & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		err = -EPERM;
	else
		shmem_punch_locked(inode, (long)off, (long)len);
	inode_unlock(inode);
	return err;
}

int aspace_fallocate(struct aspace_mm *amm, int fd, int mode, off_t off, off_t len)
{
	struct file *file;
	struct shmem_inode *inode;
	long end;
	int err = 0;

	/* vfs_fallocate's order of checks. */
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	file = fget_shmem(amm, fd);
	if (!file)
		return -EBADF;
	if (off > SHMEM_MAXBYTES - len) {
		fput(file);
		return -EFBIG;
	}
	end = (long)off + (long)len;
	inode = SHMEM_I(file);
	inode_lock(inode);
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		if (atomic_load(&inode->seals) & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
			err = -EPERM;
		else
			shmem_punch_locked(inode, (long)off, (long)len);
		goto out;
	}
	if ((atomic_load(&inode->seals) & F_SEAL_GROW) && end > atomic_load(&inode->i_size)) {
		err = -EPERM;
		goto out;
	}
	for (unsigned long i = (unsigned long)off >> PAGE_SHIFT;
	     i < size_to_pages(end); i++) {
		struct folio *folio = shmem_get_folio(inode, i, true, &err);

		if (!folio) {
			/* Out of frames: -ENOMEM, as shmem on an unlimited
			 * mount (memfd's).  Pages allocated so far stay (the
			 * kernel undoes them; here they are just data). */
			goto out;
		}
		folio_put_deferred(folio);
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > atomic_load(&inode->i_size)) {
		pthread_mutex_lock(&inode->i_lock);
		atomic_store(&inode->i_size, end);
		pthread_mutex_unlock(&inode->i_lock);
	}
out:
	inode_unlock(inode);
	fput(file);
	return err;
}

ssize_t aspace_pread(struct aspace_mm *amm, int fd, void *buf, size_t len, off_t off)
{
	struct file *file = fget_shmem(amm, fd);
	struct shmem_inode *inode;
	size_t done = 0;
	long size;

	if (!file)
		return -EBADF;
	if (off < 0) {
		fput(file);
		return -EINVAL;
	}
	if (len > MAX_RW_COUNT)
		len = MAX_RW_COUNT;
	inode = SHMEM_I(file);
	size = atomic_load(&inode->i_size);
	if ((long)off >= size) {
		fput(file);
		return 0;
	}
	if (len > (size_t)(size - off))
		len = (size_t)(size - off);
	while (done < len) {
		unsigned long pos = (unsigned long)off + done;
		size_t in = pos & ~PAGE_MASK, n = PAGE_SIZE - in;
		struct folio *folio;

		if (n > len - done)
			n = len - done;
		folio = find_get_folio(inode, pos >> PAGE_SHIFT);
		if (folio) {
			guest_read((char *)buf + done, (char *)page_address(&folio->page) + in, n);
			folio_put_deferred(folio);
		} else {
			memset((char *)buf + done, 0, n); /* a hole */
		}
		done += n;
	}
	fput(file);
	return (ssize_t)done;
}

ssize_t aspace_pwrite(struct aspace_mm *amm, int fd, const void *buf, size_t len, off_t off)
{
	struct file *file = fget_shmem(amm, fd);
	struct shmem_inode *inode;
	size_t done = 0;
	ssize_t ret;
	int seals, err = 0;

	if (!file)
		return -EBADF;
	if (off < 0) {
		fput(file);
		return -EINVAL;
	}
	if (len > MAX_RW_COUNT)
		len = MAX_RW_COUNT;
	if (!len) {
		fput(file);
		return 0;
	}
	if ((long)off >= SHMEM_MAXBYTES) {
		fput(file);
		return -EFBIG;
	}
	if (len > (size_t)(SHMEM_MAXBYTES - off))
		len = (size_t)(SHMEM_MAXBYTES - off);
	inode = SHMEM_I(file);
	inode_lock(inode);
	seals = atomic_load(&inode->seals);
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) {
		err = -EPERM;
		goto out;
	}
	while (done < len) {
		unsigned long pos = (unsigned long)off + done;
		size_t in = pos & ~PAGE_MASK, n = PAGE_SIZE - in;
		struct folio *folio;

		if (n > len - done)
			n = len - done;
		/* shmem_write_begin, per page: nothing past the sealed size
		 * (what earlier pages took is still written). */
		if ((seals & F_SEAL_GROW) && (long)(pos + n) > atomic_load(&inode->i_size)) {
			err = -EPERM;
			break;
		}
		folio = shmem_get_folio(inode, pos >> PAGE_SHIFT, true, &err);
		if (!folio) {
			break;
		}
		guest_write((char *)page_address(&folio->page) + in, (const char *)buf + done, n);
		folio_mark_dirty(folio);
		folio_put_deferred(folio);
		done += n;
		if ((long)(pos + n) > atomic_load(&inode->i_size)) {
			pthread_mutex_lock(&inode->i_lock);
			atomic_store(&inode->i_size, (long)(pos + n));
			pthread_mutex_unlock(&inode->i_lock);
		}
	}
out:
	inode_unlock(inode);
	fput(file);
	ret = done ? (ssize_t)done : err;
	return ret;
}

int aspace_fstat_ino(struct aspace_mm *amm, int fd, unsigned long *ino)
{
	struct file *file = fget_shmem(amm, fd);

	if (!file)
		return -EBADF;
	if (ino)
		*ino = SHMEM_I(file)->ino;
	fput(file);
	return 0;
}

int aspace_fstat(struct aspace_mm *amm, int fd, off_t *size, unsigned long *blocks)
{
	struct file *file = fget_shmem(amm, fd);

	if (!file)
		return -EBADF;
	if (size)
		*size = (off_t)atomic_load(&SHMEM_I(file)->i_size);
	if (blocks) /* 512-byte blocks, one page each allocated page */
		*blocks = (unsigned long)atomic_load(&SHMEM_I(file)->nrpages) * (PAGE_SIZE / 512);
	fput(file);
	return 0;
}

int aspace_fcntl_get_seals(struct aspace_mm *amm, int fd)
{
	struct file *file = fget_shmem(amm, fd);
	int seals;

	if (!file)
		return -EBADF;
	seals = atomic_load(&SHMEM_I(file)->seals);
	fput(file);
	return seals;
}

int aspace_fcntl_add_seals(struct aspace_mm *amm, int fd, int seals)
{
	struct file *file = fget_shmem(amm, fd);
	struct shmem_inode *inode;
	int cur, err = 0;

	if (!file)
		return -EBADF;
	inode = SHMEM_I(file);
	if ((unsigned int)seals & ~(unsigned int)F_ALL_SEALS) {
		err = -EINVAL;
		goto out_put;
	}
	inode_lock(inode);
	cur = atomic_load(&inode->seals);
	if (cur & F_SEAL_SEAL) {
		err = -EPERM;
		goto out;
	}
	/* Sealing exec on a file with exec permission (every memfd but
	 * MFD_NOEXEC_SEAL ones) seals its contents too, as memfd_add_seals. */
	if ((seals & F_SEAL_EXEC) && inode->exec_mode)
		seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
	if ((seals & F_SEAL_WRITE) && !(cur & F_SEAL_WRITE)) {
		pthread_mutex_lock(&inode->i_mmap_lock);
		if (inode->i_mmap_writable)
			err = -EBUSY;
		pthread_mutex_unlock(&inode->i_mmap_lock);
		if (err)
			goto out;
	}
	atomic_store(&inode->seals, cur | seals);
out:
	inode_unlock(inode);
out_put:
	fput(file);
	return err;
}
