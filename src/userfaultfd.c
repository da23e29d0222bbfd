/*
 * userfaultfd.c: userfaultfd for the engine — the context (one per
 * aspace_uffd_create, one more per child at fork with EVENT_FORK), range
 * registration, the fault side (handle_userfault), reading messages, the
 * resolving ioctls (COPY, ZEROPAGE, CONTINUE, WRITEPROTECT, WAKE, MOVE:
 * mfill_atomic, mwriteprotect_range, move_pages) and the non-cooperative
 * events (fork, remap, remove, unmap).
 *
 * Which lock protects what:
 *   ctx->lock     (mutex) the queue of waiters (faults and events, in
 *                 arrival order), each waiter's read/woken state, released,
 *                 ctx->mm.  Never held while taking mmap_lock or a VMA
 *                 lock; a fault takes a PTE lock under it (its last check
 *                 before queueing), never the other way round.  Nobody
 *                 sleeps on anything else under it (ctx->cond waits
 *                 release it).
 *   mmap_lock     register/unregister hold it for write and change a VMA's
 *                 vm_userfaultfd_ctx and VM_UFFD_* flags only after
 *                 vma_start_write (seed 000); the ioctls hold it for read.
 *   PTE lock      every PTE the ioctls install or change, re-checked under
 *                 it (EEXIST when something is there).
 *   refcount      (atomic) the owner's handle, each sleeping faulter and
 *                 each queued event hold a reference: a faulter keeps the
 *                 context alive after it dropped every mm lock.
 *   mmap_changing (atomic) non-cooperative events prepared and not yet
 *                 completed: the layout is changing under the monitor, so
 *                 COPY/ZEROPAGE/CONTINUE/WRITEPROTECT/MOVE say EAGAIN (read
 *                 under mmap_lock; raised under the mmap write lock).
 *   uffd_all_lock (mutex) the list of all contexts, for userfaultfd_mm_exit.
 *
 * A fault that must wait checks its PTE once more and queues its message,
 * both under ctx->lock (userfaultfd_must_wait: a resolution changes the PTE
 * before its wake takes ctx->lock, so either the check sees the change or
 * the wake sees the message), then drops the lock it was entered with (VMA
 * read lock or mmap_lock), sleeps on ctx->cond until a WAKE (or a resolving
 * ioctl) covers its address, and returns VM_FAULT_RETRY: the access faults
 * again from the top.  A message the monitor reads always belongs to a
 * thread that sleeps until woken.
 *
 * Differences from the kernel, on purpose or not yet done:
 *  - Events are prepared under mmap_lock and sent after the call dropped
 *    it (fork, mremap, munmap, mmap MAP_FIXED, madvise).  The kernel sends
 *    MADV_DONTNEED/REMOVE's REMOVE before it zaps; here it comes after the
 *    zap (the caller still blocks until it was read).
 *  - A fault that may not drop its lock (GUP: no FAULT_FLAG_ALLOW_RETRY)
 *    gets SIGBUS instead of waiting.
 *  - UFFDIO_POISON is advertised (as the kernel does) but has no call;
 *    hugetlb does not exist here.
 */
#include "userfaultfd.h"
#include "alloc.h"
#include "anon_vma.h"
#include "debug.h"
#include "folio.h"
#include "mm.h"
#include "mm_mem.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "rcu.h"
#include "shmem.h"
#include "vma.h"

#include <aspace/aspace.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define UFFD_API_FEATURES ((1UL << 17) - 1)
#define UFFD_API_RANGE_IOCTLS                                                      \
	((1UL << ASPACE_UFFDIO_WAKE_BIT) | (1UL << ASPACE_UFFDIO_COPY_BIT) |        \
	 (1UL << ASPACE_UFFDIO_ZEROPAGE_BIT) | (1UL << ASPACE_UFFDIO_MOVE_BIT) |    \
	 (1UL << ASPACE_UFFDIO_WRITEPROTECT_BIT) | (1UL << ASPACE_UFFDIO_CONTINUE_BIT) | \
	 (1UL << ASPACE_UFFDIO_POISON_BIT))

struct uffd_waiter {
	struct uffd_waiter *next, *prev;
	struct aspace_uffd_msg msg;
	bool is_event;
	bool read;  /* handed to the monitor */
	bool woken; /* fault: may retry; event: read, the caller goes on */
};

struct userfaultfd_ctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct uffd_waiter queue; /* list head */
	struct mm_struct *mm;
	unsigned long features;
	atomic_int refcount;
	atomic_int mmap_changing; /* events prepared, not yet read: ioctls EAGAIN */
	bool released;
	struct userfaultfd_ctx *all_next;
};

static pthread_mutex_t uffd_all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct userfaultfd_ctx *uffd_all;

static inline struct userfaultfd_ctx *U(struct aspace_uffd *u)
{
	return (struct userfaultfd_ctx *)u;
}

/* ------------------------------------------------------------ contexts */

static struct userfaultfd_ctx *ctx_alloc(struct mm_struct *mm, unsigned long features)
{
	struct userfaultfd_ctx *ctx = kzalloc(sizeof(*ctx));

	if (!ctx)
		return NULL;
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_cond_init(&ctx->cond, NULL);
	ctx->queue.next = ctx->queue.prev = &ctx->queue;
	ctx->mm = mm;
	ctx->features = features;
	atomic_init(&ctx->refcount, 1);
	atomic_init(&ctx->mmap_changing, 0);
	pthread_mutex_lock(&uffd_all_lock);
	ctx->all_next = uffd_all;
	uffd_all = ctx;
	pthread_mutex_unlock(&uffd_all_lock);
	return ctx;
}

static void userfaultfd_ctx_get(struct userfaultfd_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->refcount, 1, memory_order_relaxed);
}

static void userfaultfd_ctx_put(struct userfaultfd_ctx *ctx)
{
	struct userfaultfd_ctx **pp;

	if (atomic_fetch_sub_explicit(&ctx->refcount, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&uffd_all_lock);
	for (pp = &uffd_all; *pp; pp = &(*pp)->all_next)
		if (*pp == ctx) {
			*pp = ctx->all_next;
			break;
		}
	pthread_mutex_unlock(&uffd_all_lock);
	RULE_CHECK(ctx->queue.next == &ctx->queue, "userfaultfd_ctx_put", NULL,
		   "userfaultfd context freed with waiters queued");
	pthread_cond_destroy(&ctx->cond);
	pthread_mutex_destroy(&ctx->lock);
	kfree(ctx);
}

static void queue_add(struct userfaultfd_ctx *ctx, struct uffd_waiter *w)
{
	w->prev = ctx->queue.prev;
	w->next = &ctx->queue;
	ctx->queue.prev->next = w;
	ctx->queue.prev = w;
}

static void queue_del(struct uffd_waiter *w)
{
	if (!w->next)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
}

/* Wake the faults whose address lies in [start, start + len) (len 0: all). */
static void wake_userfault(struct userfaultfd_ctx *ctx, unsigned long start, unsigned long len)
{
	struct uffd_waiter *w, *n;
	bool any = false;

	pthread_mutex_lock(&ctx->lock);
	for (w = ctx->queue.next; w != &ctx->queue; w = n) {
		n = w->next;
		if (w->is_event)
			continue;
		if (len && (w->msg.address < start || w->msg.address >= start + len))
			continue;
		w->woken = true;
		queue_del(w);
		any = true;
	}
	if (any)
		pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
}

int aspace_uffd_create(struct aspace_mm *amm, unsigned long features, struct aspace_uffd **out)
{
	struct userfaultfd_ctx *ctx;

	if (!amm || !out)
		return -EINVAL;
	if (features & ~UFFD_API_FEATURES)
		return -EINVAL;
	/* WP_ASYNC relies on markers for empty slots (as the kernel does). */
	if (features & ASPACE_UFFD_FEATURE_WP_ASYNC)
		features |= ASPACE_UFFD_FEATURE_WP_UNPOPULATED;
	ctx = ctx_alloc(to_mm(amm), features);
	if (!ctx)
		return -ENOMEM;
	*out = (struct aspace_uffd *)ctx;
	return 0;
}

static void uffd_wp_range(struct vm_area_struct *vma, unsigned long start, unsigned long end,
			  bool enable_wp);

/* Under the mmap write lock: drop ctx's registration from every VMA. */
static void userfaultfd_clear_all(struct mm_struct *mm, struct userfaultfd_ctx *ctx)
{
	struct vm_area_struct *vma, *prev = NULL;

	mmap_assert_write_locked(mm);
	for (vma = find_vma(mm, 0); vma; vma = vma_next(mm, vma)) {
		struct vma_merge_struct vmg;

		if (vma->vm_userfaultfd_ctx != ctx) {
			prev = vma;
			continue;
		}
		vmg_init_modify(&vmg, prev, vma, vma->vm_start, vma->vm_end,
				vma->vm_flags & ~VM_UFFD_FLAGS);
		vmg.uffd_ctx = NULL;
		if (userfaultfd_wp(vma))
			uffd_wp_range(vma, vma->vm_start, vma->vm_end, false);
		vma = vma_modify(&vmg);
		if (IS_ERR(vma))
			return; /* -ENOMEM: keep going is impossible; flags stay */
		vma_start_write(vma);
		vm_flags_reset(vma, vma->vm_flags & ~VM_UFFD_FLAGS);
		vma->vm_userfaultfd_ctx = NULL;
		prev = vma;
	}
}

void aspace_uffd_release(struct aspace_uffd *u)
{
	struct userfaultfd_ctx *ctx = U(u);
	struct uffd_waiter *w, *n;
	struct mm_struct *mm;

	if (!ctx)
		return;
	pthread_mutex_lock(&ctx->lock);
	ctx->released = true;
	mm = ctx->mm;
	pthread_mutex_unlock(&ctx->lock);
	if (mm) {
		mmap_write_lock(mm);
		userfaultfd_clear_all(mm, ctx);
		mmap_write_unlock(mm);
	}
	/* Everybody still asleep goes on: faults retry without us, events
	 * see that they were never read. */
	pthread_mutex_lock(&ctx->lock);
	for (w = ctx->queue.next; w != &ctx->queue; w = n) {
		n = w->next;
		if (!w->is_event)
			w->woken = true;
		queue_del(w);
	}
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
	userfaultfd_ctx_put(ctx);
}

void userfaultfd_mm_exit(struct mm_struct *mm)
{
	struct userfaultfd_ctx *ctx;

	pthread_mutex_lock(&uffd_all_lock);
	for (ctx = uffd_all; ctx; ctx = ctx->all_next) {
		pthread_mutex_lock(&ctx->lock);
		if (ctx->mm == mm)
			ctx->mm = NULL;
		pthread_mutex_unlock(&ctx->lock);
	}
	pthread_mutex_unlock(&uffd_all_lock);
}

/* The mm of ctx for an ioctl (NULL: the mm is gone: -ESRCH). */
static struct mm_struct *ctx_mm(struct userfaultfd_ctx *ctx)
{
	struct mm_struct *mm;

	pthread_mutex_lock(&ctx->lock);
	mm = ctx->mm;
	pthread_mutex_unlock(&ctx->lock);
	return mm;
}

/* ---------------------------------------------------------- fault side */

static void release_fault_lock(struct vm_fault *vmf)
{
	if (vmf->flags & FAULT_FLAG_VMA_LOCK)
		vma_end_read(vmf->vma);
	else
		mmap_read_unlock(vmf->vma->vm_mm);
}

/* Fault lock held: is the fault still unresolved?  (userfaultfd_must_wait) */
static bool userfaultfd_must_wait(struct vm_fault *vmf, unsigned long reason)
{
	struct mm_mem *mem = mm_mem(vmf->vma->vm_mm);
	spinlock_t *ptl;
	pte_t *ptep, e;
	bool wait;

	ptep = pte_offset_map_lock(mem, vmf->address, &ptl);
	if (!ptep)
		return true; /* no table: nothing is mapped */
	e = ptep_get(ptep);
	if (reason & VM_UFFD_WP)
		wait = pte_present(e) && pte_uffd_wp(e) && !pte_write(e);
	else
		wait = pte_none(e) || is_pte_marker(e);
	pte_unmap_unlock(ptep, ptl);
	return wait;
}

/* Fault lock held: drop the uffd-wp bit of the faulting PTE (WP_ASYNC). */
static void userfaultfd_wp_async_resolve(struct vm_fault *vmf)
{
	struct mm_mem *mem = mm_mem(vmf->vma->vm_mm);
	spinlock_t *ptl;
	pte_t *ptep, e;

	ptep = pte_offset_map_lock(mem, vmf->address, &ptl);
	if (!ptep)
		return;
	e = ptep_get(ptep);
	if (pte_present(e) && pte_uffd_wp(e))
		__atomic_fetch_and(ptep, ~_PAGE_UFFD_WP, __ATOMIC_ACQ_REL);
	pte_unmap_unlock(ptep, ptl);
}

vm_fault_t handle_userfault(struct vm_fault *vmf, unsigned long reason)
{
	struct vm_area_struct *vma = vmf->vma;
	struct userfaultfd_ctx *ctx = vma->vm_userfaultfd_ctx;
	struct uffd_waiter w;

	if (vmf->flags & FAULT_FLAG_VMA_LOCK)
		vma_assert_locked(vma);
	else
		mmap_assert_locked(vma->vm_mm);
	if (!ctx)
		return VM_FAULT_SIGBUS;
	/* WP_ASYNC: the fault resolves itself, keeping its lock (GUP faults
	 * may not drop it); the access faults again and writes as if never
	 * protected (do_wp_page's userfaultfd_wp_async branch). */
	if ((reason & VM_UFFD_WP) && (ctx->features & ASPACE_UFFD_FEATURE_WP_ASYNC)) {
		userfaultfd_wp_async_resolve(vmf);
		return 0;
	}
	if (ctx->features & ASPACE_UFFD_FEATURE_SIGBUS)
		return VM_FAULT_SIGBUS;
	/* Only a fault that may drop its lock may wait (GUP without retry). */
	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY))
		return VM_FAULT_SIGBUS;

	memset(&w, 0, sizeof(w));
	w.msg.event = ASPACE_UFFD_EVENT_PAGEFAULT;
	w.msg.address = (ctx->features & ASPACE_UFFD_FEATURE_EXACT_ADDRESS)
				? vmf->real_address
				: (vmf->real_address & PAGE_MASK);
	if (vmf->flags & FAULT_FLAG_WRITE)
		w.msg.flags |= ASPACE_UFFD_PAGEFAULT_FLAG_WRITE;
	if (reason & VM_UFFD_WP)
		w.msg.flags |= ASPACE_UFFD_PAGEFAULT_FLAG_WP;
	if (reason & VM_UFFD_MINOR)
		w.msg.flags |= ASPACE_UFFD_PAGEFAULT_FLAG_MINOR;
	if (ctx->features & ASPACE_UFFD_FEATURE_THREAD_ID)
		w.msg.ptid = current_tid();

	userfaultfd_ctx_get(ctx);
	pthread_mutex_lock(&ctx->lock);
	if (ctx->released) {
		/* Being closed: its registrations are about to go; retry
		 * (the kernel's VM_FAULT_NOPAGE) instead of waiting. */
		pthread_mutex_unlock(&ctx->lock);
		release_fault_lock(vmf);
		userfaultfd_ctx_put(ctx);
		return VM_FAULT_RETRY;
	}
	/* Resolved since the fault looked at the PTE?  Then no wake will
	 * come for us: retry at once.  Checked under ctx->lock, which every
	 * wake takes after its resolution changed the PTE: either we see the
	 * change here, or the wake finds us queued. */
	if (!userfaultfd_must_wait(vmf, reason)) {
		pthread_mutex_unlock(&ctx->lock);
		release_fault_lock(vmf);
		userfaultfd_ctx_put(ctx);
		return VM_FAULT_RETRY;
	}
	/* From here on the monitor may read the message: we will sleep
	 * until a wake covers us (DONTWAKE leaves us asleep). */
	queue_add(ctx, &w);
	pthread_cond_broadcast(&ctx->cond); /* a reader may be waiting */
	pthread_mutex_unlock(&ctx->lock);

	/* Sleep outside every mm lock. */
	release_fault_lock(vmf);
	pthread_mutex_lock(&ctx->lock);
	while (!w.woken && !ctx->released)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	queue_del(&w);
	pthread_mutex_unlock(&ctx->lock);
	userfaultfd_ctx_put(ctx);
	return VM_FAULT_RETRY;
}

/* ---------------------------------------------------------------- read */

int aspace_uffd_read(struct aspace_uffd *u, struct aspace_uffd_msg *msg, int timeout_ms)
{
	struct userfaultfd_ctx *ctx = U(u);
	struct uffd_waiter *w, *found;
	struct timespec deadline;
	int ret = 0;

	if (!ctx || !msg)
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&ctx->lock);
	for (;;) {
		found = NULL;
		/* Faults first, then events (userfaultfd_ctx_read). */
		for (w = ctx->queue.next; w != &ctx->queue; w = w->next)
			if (!w->read && !w->is_event) {
				found = w;
				break;
			}
		if (!found)
			for (w = ctx->queue.next; w != &ctx->queue; w = w->next)
				if (!w->read) {
					found = w;
					break;
				}
		if (found)
			break;
		if (timeout_ms == 0) {
			ret = -EAGAIN;
			break;
		}
		if (timeout_ms < 0) {
			pthread_cond_wait(&ctx->cond, &ctx->lock);
		} else if (pthread_cond_timedwait(&ctx->cond, &ctx->lock, &deadline) == ETIMEDOUT) {
			timeout_ms = 0; /* one last look */
		}
	}
	if (found) {
		*msg = found->msg;
		found->read = true;
		if (found->is_event) {
			/* The event's caller goes on once it was read. */
			found->woken = true;
			queue_del(found);
			pthread_cond_broadcast(&ctx->cond);
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	return ret;
}

/* ------------------------------------------------------------ register */

static int validate_range(struct mm_struct *mm, unsigned long start, unsigned long len)
{
	unsigned long task_size = mm->task_size ? mm->task_size : (1UL << 47);

	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (len & ~PAGE_MASK)
		return -EINVAL;
	if (!len)
		return -EINVAL;
	if (start < mm->mmap_min_addr)
		return -EINVAL;
	if (start >= task_size)
		return -EINVAL;
	if (len > task_size - start)
		return -EINVAL;
	return 0;
}

static bool vma_is_shmem(const struct vm_area_struct *vma)
{
	return vma->vm_file && file_is_shmem(vma->vm_file);
}

static bool vma_can_userfault(const struct vm_area_struct *vma, unsigned long vm_flags)
{
	vm_flags &= VM_UFFD_FLAGS;
	if ((vm_flags & VM_UFFD_MINOR) && !vma_is_shmem(vma))
		return false;
	return vma_is_anonymous(vma) || vma_is_shmem(vma);
}

/* Give [start, end) of vma the flags and ctx: split/merge as mprotect does,
 * then change them after vma_start_write. */
static int uffd_modify_range(struct mm_struct *mm, struct vm_area_struct **pprev,
			     struct vm_area_struct *vma, unsigned long start, unsigned long end,
			     unsigned long new_flags, struct userfaultfd_ctx *ctx)
{
	struct vma_merge_struct vmg;

	vmg_init_modify(&vmg, *pprev, vma, start, end, new_flags);
	vmg.uffd_ctx = ctx;
	vma = vma_modify(&vmg);
	if (IS_ERR(vma))
		return (int)PTR_ERR(vma);
	(void)mm;
	vma_start_write(vma);
	vm_flags_reset(vma, new_flags);
	vma->vm_userfaultfd_ctx = ctx;
	*pprev = vma;
	return 0;
}

int aspace_uffd_register(struct aspace_uffd *u, unsigned long start, unsigned long len,
			 unsigned int mode, unsigned long *ioctls)
{
	struct userfaultfd_ctx *ctx = U(u);
	struct vm_area_struct *vma, *cur, *prev;
	unsigned long vm_flags = 0, end, ioctls_out;
	struct mm_struct *mm;
	int ret;

	if (!ctx)
		return -EINVAL;
	mm = ctx_mm(ctx);
	if (!mm)
		return -ESRCH;
	if (!mode || (mode & ~(ASPACE_UFFDIO_REGISTER_MODE_MISSING | ASPACE_UFFDIO_REGISTER_MODE_WP |
			       ASPACE_UFFDIO_REGISTER_MODE_MINOR)))
		return -EINVAL;
	if (mode & ASPACE_UFFDIO_REGISTER_MODE_MISSING)
		vm_flags |= VM_UFFD_MISSING;
	if (mode & ASPACE_UFFDIO_REGISTER_MODE_WP)
		vm_flags |= VM_UFFD_WP;
	if (mode & ASPACE_UFFDIO_REGISTER_MODE_MINOR)
		vm_flags |= VM_UFFD_MINOR;
	ret = validate_range(mm, start, len);
	if (ret)
		return ret;
	end = start + len;

	mmap_write_lock(mm);
	ret = -EINVAL;
	vma = find_vma(mm, start);
	if (!vma || vma->vm_start >= end)
		goto out_unlock;
	/* Check every VMA of the range before changing any. */
	for (cur = vma; cur && cur->vm_start < end; cur = vma_next(mm, cur)) {
		RULE_CHECK(!cur->vm_userfaultfd_ctx == !(cur->vm_flags & VM_UFFD_FLAGS),
			   "userfaultfd_register", cur, "VM_UFFD_* flags without a context");
		ret = -EINVAL;
		if (!vma_can_userfault(cur, vm_flags))
			goto out_unlock;
		ret = -EPERM;
		if (!(cur->vm_flags & VM_MAYWRITE))
			goto out_unlock;
		ret = -EBUSY;
		if (cur->vm_userfaultfd_ctx && cur->vm_userfaultfd_ctx != ctx)
			goto out_unlock;
	}
	ret = 0;
	prev = start > vma->vm_start ? vma : vma_prev(mm, vma);
	while (vma && vma->vm_start < end) {
		unsigned long s = vma->vm_start > start ? vma->vm_start : start;
		unsigned long e = vma->vm_end < end ? vma->vm_end : end;
		unsigned long new_flags = (vma->vm_flags & ~VM_UFFD_FLAGS) | vm_flags;

		/* Already registered here with (at least) these modes. */
		if (vma->vm_userfaultfd_ctx == ctx && (vma->vm_flags & vm_flags) == vm_flags) {
			prev = vma;
		} else {
			ret = uffd_modify_range(mm, &prev, vma, s, e, new_flags, ctx);
			if (ret)
				break;
		}
		vma = vma_next(mm, prev);
	}
	if (!ret && ioctls) {
		ioctls_out = UFFD_API_RANGE_IOCTLS;
		if (!(mode & ASPACE_UFFDIO_REGISTER_MODE_WP))
			ioctls_out &= ~(1UL << ASPACE_UFFDIO_WRITEPROTECT_BIT);
		if (!(mode & ASPACE_UFFDIO_REGISTER_MODE_MINOR))
			ioctls_out &= ~(1UL << ASPACE_UFFDIO_CONTINUE_BIT);
		*ioctls = ioctls_out;
	}
out_unlock:
	mmap_write_unlock(mm);
	return ret;
}

/* The checks every range ioctl starts with, in the kernel's order: a live
 * context, its mm still there, then the range itself. */
static int uffd_ctx_range(struct userfaultfd_ctx *ctx, unsigned long start,
			  unsigned long len, struct mm_struct **mm)
{
	if (!ctx)
		return -EINVAL;
	*mm = ctx_mm(ctx);
	if (!*mm)
		return -ESRCH;
	return validate_range(*mm, start, len);
}

int aspace_uffd_unregister(struct aspace_uffd *u, unsigned long start, unsigned long len)
{
	struct userfaultfd_ctx *ctx = U(u);
	struct vm_area_struct *vma, *cur, *prev;
	struct mm_struct *mm;
	unsigned long end;
	int ret;

	ret = uffd_ctx_range(ctx, start, len, &mm);
	if (ret)
		return ret;
	end = start + len;

	mmap_write_lock(mm);
	ret = -EINVAL;
	vma = find_vma(mm, start);
	if (!vma || vma->vm_start >= end)
		goto out_unlock;
	for (cur = vma; cur && cur->vm_start < end; cur = vma_next(mm, cur))
		if (!vma_can_userfault(cur, cur->vm_flags))
			goto out_unlock;
	ret = 0;
	prev = start > vma->vm_start ? vma : vma_prev(mm, vma);
	while (vma && vma->vm_start < end) {
		unsigned long s = vma->vm_start > start ? vma->vm_start : start;
		unsigned long e = vma->vm_end < end ? vma->vm_end : end;
		struct userfaultfd_ctx *vctx = vma->vm_userfaultfd_ctx;

		if (!vctx) {
			prev = vma;
		} else {
			if (userfaultfd_wp(vma))
				uffd_wp_range(vma, s, e, false);
			ret = uffd_modify_range(mm, &prev, vma, s, e,
						vma->vm_flags & ~VM_UFFD_FLAGS, NULL);
			if (ret)
				break;
			/* Faults waiting in the range retry and find no
			 * registration any more. */
			wake_userfault(vctx, s, e - s);
		}
		vma = vma_next(mm, prev);
	}
out_unlock:
	mmap_write_unlock(mm);
	return ret;
}

/* ---------------------------------------------------------- mfill_atomic */

enum mfill_mode { MFILL_COPY, MFILL_ZEROPAGE, MFILL_CONTINUE };

/* mmap_lock read-held: an anon_vma for vma (anon_vma_prepare wants the VMA
 * lock as well; no writer can hold it while we hold mmap_lock). */
static int uffd_anon_vma_prepare(struct vm_area_struct *vma)
{
	int err;

	if (__atomic_load_n(&vma->anon_vma, __ATOMIC_ACQUIRE))
		return 0;
	if (!vma_start_read(vma))
		return anon_vma_prepare(vma); /* per-VMA locks off */
	err = anon_vma_prepare(vma);
	vma_end_read(vma);
	return err;
}

static unsigned long uffd_linear_index(const struct vm_area_struct *vma, unsigned long addr)
{
	return ((addr - vma->vm_start) >> PAGE_SHIFT) + vma->vm_pgoff;
}

static unsigned long shmem_size_pages(struct shmem_inode *inode)
{
	return (unsigned long)((atomic_load(&inode->i_size) + (long)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/* The slot is empty for a fill: none, or a marker that is no guard. */
static bool pte_none_mostly(pte_t e)
{
	return pte_none(e) || (is_pte_marker(e) && !(pte_marker_get(e) & PTE_MARKER_GUARD));
}

/* COPY / ZEROPAGE into a private mapping (anonymous, or a private file
 * mapping: the page is anonymous all the same). */
static int mfill_atomic_pte_anon(struct vm_area_struct *vma, unsigned long addr, const void *src,
				 enum mfill_mode mode, bool wp)
{
	struct mm_struct *mm = vma->vm_mm;
	struct mm_mem *mem = mm_mem(mm);
	struct page *page = NULL;
	spinlock_t *ptl;
	pte_t *ptep, e, cur;
	int ret;

	if (mode == MFILL_COPY) {
		ret = uffd_anon_vma_prepare(vma);
		if (ret)
			return -ENOMEM;
		page = alloc_pages(mem->pool, 0);
		if (!page)
			return -ENOMEM;
		memcpy(page_address(page), src, PAGE_SIZE);
		atomic_fetch_or_explicit(&page->flags,
					 (1UL << PG_anon) | (1UL << PG_anon_exclusive) |
						 (1UL << PG_swapbacked) | (1UL << PG_uptodate),
					 memory_order_relaxed);
		page->mapping = vma->anon_vma;
		page->index = uffd_linear_index(vma, addr);
		atomic_store_explicit(&page->_mapcount, 1, memory_order_relaxed);
		e = pfn_pte(page_to_pfn(page), _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED);
		e = pte_mkdirty(e);
		if (vma->vm_flags & VM_WRITE)
			e = pte_mkwrite(e);
	} else {
		e = pfn_pte(page_to_pfn(mem->pool->zero_page),
			    _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_SPECIAL);
	}
	if (wp)
		e = pte_mkuffd_wp(pte_wrprotect(e));

	ret = -ENOMEM;
	ptep = pte_alloc_map_lock(mem, addr, &ptl);
	if (!ptep)
		goto out_release;
	cur = ptep_get(ptep);
	ret = -EEXIST;
	if (mode == MFILL_COPY ? !pte_none_mostly(cur) : !pte_none(cur))
		goto out_unlock;
	if (!vma_is_anonymous(vma)) {
		/* A private file mapping: only inside the file. */
		ret = -EFAULT;
		if (uffd_linear_index(vma, addr) >= shmem_size_pages(SHMEM_I(vma->vm_file)))
			goto out_unlock;
	}
	set_pte(ptep, e);
	pte_unmap_unlock(ptep, ptl);
	if (page)
		atomic_fetch_add_explicit(&mm->rss_anon, 1, memory_order_relaxed);
	return 0;
out_unlock:
	pte_unmap_unlock(ptep, ptl);
out_release:
	if (page) {
		atomic_store_explicit(&page->_mapcount, 0, memory_order_relaxed);
		clear_page_flag(page, PG_anon_exclusive);
		folio_put(page_folio(page));
	}
	return ret;
}

/* COPY / ZEROPAGE into a shared shmem mapping: the page goes into the page
 * cache (EEXIST when one is there, even if this PTE is empty). */
static int shmem_mfill_atomic_pte(struct vm_area_struct *vma, unsigned long addr,
				  const void *src, enum mfill_mode mode, bool wp)
{
	struct shmem_inode *inode = SHMEM_I(vma->vm_file);
	unsigned long pgoff = uffd_linear_index(vma, addr);
	struct page *page;
	struct folio *folio;
	int ret;

	if (pgoff >= shmem_size_pages(inode))
		return -EFAULT;
	page = alloc_page_wait_deferred(mm_mem(vma->vm_mm)->pool, mode != MFILL_COPY);
	if (!page)
		return -ENOMEM;
	if (mode == MFILL_COPY)
		memcpy(page_address(page), src, PAGE_SIZE);
	folio = page_folio(page);
	ret = shmem_add_to_page_cache(inode, folio, pgoff);
	if (ret) {
		folio_put(folio);
		return ret;
	}
	folio_mark_dirty(folio);
	/* The allocation's reference becomes the PTE's on success. */
	ret = shmem_install_pte(vma, addr, folio, wp);
	if (ret)
		folio_put_deferred(folio); /* the page stays in the cache */
	return ret;
}

static int mfill_atomic_pte_continue(struct vm_area_struct *vma, unsigned long addr, bool wp)
{
	struct shmem_inode *inode = SHMEM_I(vma->vm_file);
	unsigned long pgoff = uffd_linear_index(vma, addr);
	struct folio *folio;
	int ret;

	/* shmem_get_folio(SGP_NOALLOC): EINVAL beyond i_size, and no page
	 * in the cache is EFAULT for CONTINUE. */
	if (pgoff >= shmem_size_pages(inode))
		return -EINVAL;
	folio = find_get_folio(inode, pgoff);
	if (!folio)
		return -EFAULT;
	ret = shmem_install_pte(vma, addr, folio, wp);
	if (ret)
		folio_put_deferred(folio);
	return ret;
}

/* Returns the bytes done, or -errno when none were. */
static long mfill_atomic(struct userfaultfd_ctx *ctx, struct mm_struct *mm, unsigned long dst_start,
			 const char *src, unsigned long len, enum mfill_mode mode, bool wp)
{
	struct vm_area_struct *dst_vma;
	unsigned long addr, done = 0;
	long err;

	mmap_read_lock(mm);
	err = -EAGAIN;
	if (atomic_load(&ctx->mmap_changing))
		goto out_unlock;
	err = -ENOENT;
	dst_vma = find_vma(mm, dst_start);
	if (!dst_vma || dst_vma->vm_start > dst_start)
		goto out_unlock;
	if (dst_start + len > dst_vma->vm_end)
		goto out_unlock;
	/* Registered (with any context of this mm, as the kernel allows). */
	if (!dst_vma->vm_userfaultfd_ctx)
		goto out_unlock;
	err = -EINVAL;
	if (wp && !(dst_vma->vm_flags & VM_UFFD_WP))
		goto out_unlock;
	if (!vma_is_anonymous(dst_vma) && !vma_is_shmem(dst_vma))
		goto out_unlock;
	if (!vma_is_shmem(dst_vma) && mode == MFILL_CONTINUE)
		goto out_unlock;
	if ((dst_vma->vm_flags & VM_SHARED) && !vma_is_shmem(dst_vma))
		goto out_unlock;

	for (addr = dst_start; addr < dst_start + len; addr += PAGE_SIZE) {
		if (mode == MFILL_CONTINUE)
			err = mfill_atomic_pte_continue(dst_vma, addr, wp);
		else if (!(dst_vma->vm_flags & VM_SHARED))
			err = mfill_atomic_pte_anon(dst_vma, addr, src ? src + done : NULL, mode, wp);
		else
			err = shmem_mfill_atomic_pte(dst_vma, addr, src ? src + done : NULL, mode, wp);
		if (err)
			break;
		done += PAGE_SIZE;
	}
out_unlock:
	mmap_read_unlock(mm);
	return done ? (long)done : err;
}

/* The ioctl's tail: progress, wake, EAGAIN for a partial result. */
static int mfill_finish(struct userfaultfd_ctx *ctx, long ret, unsigned long start,
			unsigned long len, bool dontwake, unsigned long *done)
{
	if (done)
		*done = ret > 0 ? (unsigned long)ret : 0;
	if (ret < 0)
		return (int)ret;
	if (!dontwake)
		wake_userfault(ctx, start, (unsigned long)ret);
	return (unsigned long)ret == len ? 0 : -EAGAIN;
}

/*
 * The three filling ioctls share their checks (in the kernel's order: the
 * context, the range, the source buffer for COPY, then the mode bits) and
 * their progress reporting.
 */
static int uffd_mfill_ioctl(struct aspace_uffd *u, unsigned long dst, const void *src,
			    unsigned long len, unsigned int mode, unsigned int allowed,
			    enum mfill_mode kind, unsigned long *done)
{
	struct userfaultfd_ctx *ctx = U(u);
	struct mm_struct *mm;
	long ret;

	if (done)
		*done = 0;
	ret = uffd_ctx_range(ctx, dst, len, &mm);
	if (ret)
		return (int)ret;
	if (kind == MFILL_COPY && !src)
		return -EFAULT;
	if (mode & ~allowed)
		return -EINVAL;
	ret = mfill_atomic(ctx, mm, dst, src, len, kind, mode & ASPACE_UFFDIO_MODE_WP);
	return mfill_finish(ctx, ret, dst, len, mode & ASPACE_UFFDIO_MODE_DONTWAKE, done);
}

int aspace_uffd_copy(struct aspace_uffd *u, unsigned long dst, const void *src,
		     unsigned long len, unsigned int mode, unsigned long *done)
{
	return uffd_mfill_ioctl(u, dst, src, len, mode,
				ASPACE_UFFDIO_MODE_DONTWAKE | ASPACE_UFFDIO_MODE_WP, MFILL_COPY,
				done);
}

int aspace_uffd_zeropage(struct aspace_uffd *u, unsigned long start, unsigned long len,
			 unsigned int mode, unsigned long *done)
{
	return uffd_mfill_ioctl(u, start, NULL, len, mode, ASPACE_UFFDIO_MODE_DONTWAKE,
				MFILL_ZEROPAGE, done);
}

int aspace_uffd_continue(struct aspace_uffd *u, unsigned long start, unsigned long len,
			 unsigned int mode, unsigned long *done)
{
	return uffd_mfill_ioctl(u, start, NULL, len, mode,
				ASPACE_UFFDIO_MODE_DONTWAKE | ASPACE_UFFDIO_MODE_WP, MFILL_CONTINUE,
				done);
}

int aspace_uffd_wake(struct aspace_uffd *u, unsigned long start, unsigned long len)
{
	struct userfaultfd_ctx *ctx = U(u);
	struct mm_struct *mm;
	int ret;

	ret = uffd_ctx_range(ctx, start, len, &mm);
	if (ret)
		return ret;
	wake_userfault(ctx, start, len);
	return 0;
}

/* -------------------------------------------------------- writeprotect */

/* Anonymous memory gets markers on empty slots only with WP_UNPOPULATED;
 * shmem always (userfaultfd_wp_use_markers). */
static bool userfaultfd_wp_use_markers(const struct vm_area_struct *vma)
{
	struct userfaultfd_ctx *ctx = vma->vm_userfaultfd_ctx;

	if (!userfaultfd_wp(vma))
		return false;
	if (!vma_is_anonymous(vma))
		return true;
	return ctx && (ctx->features & ASPACE_UFFD_FEATURE_WP_UNPOPULATED);
}

/* mmap_lock held: set or clear uffd-wp on [start, end) of vma. */
static void uffd_wp_range(struct vm_area_struct *vma, unsigned long start, unsigned long end,
			  bool enable_wp)
{
	struct mm_mem *mem = mm_mem(vma->vm_mm);
	bool markers = enable_wp && userfaultfd_wp_use_markers(vma);
	bool removed_write = false;
	unsigned long addr;

	mmap_assert_locked(vma->vm_mm);
	for (addr = start; addr < end; addr += PAGE_SIZE) {
		spinlock_t *ptl;
		pte_t *ptep, e;

		ptep = markers ? pte_alloc_map_lock(mem, addr, &ptl)
			       : pte_offset_map_lock(mem, addr, &ptl);
		if (!ptep)
			continue;
		e = ptep_get(ptep);
		if (pte_present(e)) {
			if (enable_wp) {
				if (pte_write(e))
					removed_write = true;
				/* Clear RW and set the bit in one step, racing
				 * only with A/D setters. */
				__atomic_fetch_and(ptep, ~_PAGE_RW, __ATOMIC_ACQ_REL);
				__atomic_fetch_or(ptep, _PAGE_UFFD_WP, __ATOMIC_ACQ_REL);
			} else if (pte_uffd_wp(e)) {
				/* Write access comes back through do_wp_page
				 * (reuse or COW) on the next write. */
				__atomic_fetch_and(ptep, ~_PAGE_UFFD_WP, __ATOMIC_ACQ_REL);
			}
		} else if (is_pte_marker(e)) {
			unsigned long m = pte_marker_get(e);

			if (enable_wp)
				m |= PTE_MARKER_UFFD_WP;
			else
				m &= ~PTE_MARKER_UFFD_WP;
			set_pte(ptep, m ? make_pte_marker(m) : 0);
		} else if (pte_none(e) && markers) {
			set_pte(ptep, make_pte_marker(PTE_MARKER_UFFD_WP));
		}
		pte_unmap_unlock(ptep, ptl);
	}
	/* A lock-free writer that saw RW before finishes before we return. */
	if (removed_write)
		synchronize_rcu();
}

int aspace_uffd_writeprotect(struct aspace_uffd *u, unsigned long start, unsigned long len,
			     unsigned int mode)
{
	struct userfaultfd_ctx *ctx = U(u);
	bool mode_wp = mode & ASPACE_UFFDIO_WRITEPROTECT_MODE_WP;
	bool mode_dontwake = mode & ASPACE_UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	unsigned long end;
	int ret;

	ret = uffd_ctx_range(ctx, start, len, &mm);
	if (ret)
		return ret;
	if (mode & ~(ASPACE_UFFDIO_WRITEPROTECT_MODE_WP | ASPACE_UFFDIO_WRITEPROTECT_MODE_DONTWAKE))
		return -EINVAL;
	if (mode_wp && mode_dontwake)
		return -EINVAL;
	end = start + len;

	mmap_read_lock(mm);
	ret = -EAGAIN;
	if (atomic_load(&ctx->mmap_changing))
		goto out_unlock;
	ret = -ENOENT;
	for (vma = find_vma(mm, start); vma && vma->vm_start < end; vma = vma_next(mm, vma)) {
		unsigned long s = vma->vm_start > start ? vma->vm_start : start;
		unsigned long e = vma->vm_end < end ? vma->vm_end : end;

		if (!userfaultfd_wp(vma)) {
			ret = -ENOENT;
			break;
		}
		uffd_wp_range(vma, s, e, mode_wp);
		ret = 0;
	}
out_unlock:
	mmap_read_unlock(mm);
	if (ret)
		return ret;
	if (!mode_wp && !mode_dontwake)
		wake_userfault(ctx, start, len);
	return 0;
}

/* ------------------------------------------------------------------ move */

static int move_pages_pte(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma,
			  unsigned long dst_addr, unsigned long src_addr, unsigned int mode)
{
	struct mm_struct *mm = dst_vma->vm_mm;
	struct mm_mem *mem = mm_mem(mm);
	spinlock_t *dst_ptl, *src_ptl;
	pte_t *dst_pte, *src_pte, src, dst;
	struct folio *folio;
	int ret = 0;

	dst_pte = pte_alloc_map_lock(mem, dst_addr, &dst_ptl);
	if (!dst_pte)
		return -ENOMEM;
	dst = ptep_get(dst_pte);
	pte_unmap_unlock(dst_pte, dst_ptl);
	if (!pte_none(dst))
		return -EEXIST;

	src_pte = pte_offset_map_lock(mem, src_addr, &src_ptl);
	src = src_pte ? ptep_get(src_pte) : 0;
	if (src_pte)
		pte_unmap_unlock(src_pte, src_ptl);
	if (pte_none(src))
		return (mode & ASPACE_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES) ? 0 : -ENOENT;
	if (!pte_present(src))
		return -EBUSY; /* a marker or swap entry: not movable here */
	if (!is_zero_pfn(mem->pool, pte_pfn(src)) && !pte_special(src)) {
		folio = page_folio(pfn_to_page(mem->pool, pte_pfn(src)));
		if (!folio_test_anon(folio) || !PageAnonExclusive(&folio->page) ||
		    folio_maybe_dma_pinned(folio))
			return -EBUSY;
	} else {
		folio = NULL;
	}

	/* The mmap write lock and both VMAs write-locked keep every fault
	 * out; lock-free accesses only read the slots.  Take the page out of
	 * src, then put it into dst, each under its own lock. */
	src_pte = pte_offset_map_lock(mem, src_addr, &src_ptl);
	if (!src_pte)
		return -EAGAIN;
	if (ptep_get(src_pte) != src) {
		pte_unmap_unlock(src_pte, src_ptl);
		return -EAGAIN;
	}
	src = ptep_get_and_clear(src_pte);
	pte_unmap_unlock(src_pte, src_ptl);
	if (folio) {
		folio->page.mapping = dst_vma->anon_vma;
		folio->page.index = uffd_linear_index(dst_vma, dst_addr);
		src = pte_mkdirty(src);
		if (dst_vma->vm_flags & VM_WRITE)
			src = pte_mkwrite(src);
	}
	src = pte_clear_uffd_wp(src);
	dst_pte = pte_offset_map_lock(mem, dst_addr, &dst_ptl);
	RULE_CHECK(dst_pte && pte_none(ptep_get(dst_pte)), "move_pages_pte", dst_vma,
		   "UFFDIO_MOVE destination changed under the mmap write lock");
	set_pte(dst_pte, src);
	pte_unmap_unlock(dst_pte, dst_ptl);
	return ret;
}

int aspace_uffd_move(struct aspace_uffd *u, unsigned long dst, unsigned long src,
		     unsigned long len, unsigned int mode, unsigned long *done)
{
	struct userfaultfd_ctx *ctx = U(u);
	struct vm_area_struct *dst_vma, *src_vma;
	unsigned long moved = 0;
	struct mm_struct *mm;
	long ret;

	if (done)
		*done = 0;
	ret = uffd_ctx_range(ctx, src, len, &mm);
	if (ret)
		return (int)ret;
	ret = validate_range(mm, dst, len);
	if (ret)
		return (int)ret;
	if (mode & ~(ASPACE_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES | ASPACE_UFFDIO_MODE_DONTWAKE))
		return -EINVAL;

	/* The mmap lock for write keeps both VMAs and every lock-free
	 * reader's view simple: a moved page is gone from src after a grace
	 * period, before we return. */
	mmap_write_lock(mm);
	ret = -EAGAIN;
	if (atomic_load(&ctx->mmap_changing))
		goto out_unlock;
	ret = -ENOENT;
	dst_vma = vma_lookup(mm, dst);
	src_vma = vma_lookup(mm, src);
	if (!dst_vma || !src_vma)
		goto out_unlock;
	ret = -EINVAL;
	if (dst + len > dst_vma->vm_end || src + len > src_vma->vm_end)
		goto out_unlock;
	if ((src_vma->vm_flags & VM_ACCESS_FLAGS) != (dst_vma->vm_flags & VM_ACCESS_FLAGS))
		goto out_unlock;
	if ((src_vma->vm_flags & VM_LOCKED) != (dst_vma->vm_flags & VM_LOCKED))
		goto out_unlock;
	if (!(src_vma->vm_flags & VM_WRITE))
		goto out_unlock;
	if (dst_vma->vm_userfaultfd_ctx != ctx)
		goto out_unlock;
	if (!vma_is_anonymous(src_vma) || !vma_is_anonymous(dst_vma) ||
	    (src_vma->vm_flags & VM_SHARED) || (dst_vma->vm_flags & VM_SHARED))
		goto out_unlock;
	vma_start_write(dst_vma);
	vma_start_write(src_vma);
	ret = -ENOMEM;
	if (anon_vma_prepare(dst_vma))
		goto out_unlock;
	ret = 0;
	while (moved < len) {
		ret = move_pages_pte(dst_vma, src_vma, dst + moved, src + moved, mode);
		if (ret == -EAGAIN)
			continue;
		if (ret)
			break;
		moved += PAGE_SIZE;
	}
	if (moved)
		synchronize_rcu();
out_unlock:
	mmap_write_unlock(mm);
	ret = moved ? (long)moved : ret;
	return mfill_finish(ctx, ret, dst, len, mode & ASPACE_UFFDIO_MODE_DONTWAKE, done);
}

/* mmap_lock held: clear the uffd-wp bit of the markers in [start, end). */
static void zap_uffd_wp_markers(struct vm_area_struct *vma, unsigned long start,
				unsigned long end)
{
	struct mm_mem *mem = mm_mem(vma->vm_mm);

	for (unsigned long addr = start; addr < end; addr += PAGE_SIZE) {
		spinlock_t *ptl;
		pte_t *ptep = pte_offset_map_lock(mem, addr, &ptl);
		pte_t e;

		if (!ptep)
			continue;
		e = ptep_get(ptep);
		if (is_pte_marker(e) && (pte_marker_get(e) & PTE_MARKER_UFFD_WP)) {
			unsigned long m = pte_marker_get(e) & ~PTE_MARKER_UFFD_WP;

			set_pte(ptep, m ? make_pte_marker(m) : 0);
		}
		pte_unmap_unlock(ptep, ptl);
	}
}

/* ---------------------------------------------------------------- events */

struct uffd_fork_entry {
	struct uffd_fork_entry *next;
	struct userfaultfd_ctx *parent, *child;
};

struct uffd_event_entry {
	struct uffd_event_entry *next;
	struct userfaultfd_ctx *ctx;
	struct aspace_uffd_msg msg;
};

/* Queue an event on ctx and sleep until the monitor read it; false when
 * the context was closed (or its mm is gone) before it was read. */
static bool userfaultfd_event_wait_completion(struct userfaultfd_ctx *ctx,
					      const struct aspace_uffd_msg *msg)
{
	struct uffd_waiter w;

	memset(&w, 0, sizeof(w));
	w.msg = *msg;
	w.is_event = true;
	pthread_mutex_lock(&ctx->lock);
	if (ctx->released || !ctx->mm) {
		pthread_mutex_unlock(&ctx->lock);
		return false;
	}
	queue_add(ctx, &w);
	pthread_cond_broadcast(&ctx->cond);
	while (!w.woken && !ctx->released)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	queue_del(&w);
	pthread_mutex_unlock(&ctx->lock);
	return w.woken;
}

void dup_userfaultfd(struct vm_area_struct *vma, struct uffd_fork_list *fl)
{
	struct userfaultfd_ctx *octx = vma->vm_userfaultfd_ctx, *nctx = NULL;
	struct uffd_fork_entry *fe;

	/* vma is the child's, not yet in its tree: nobody else sees it. */
	if (!octx)
		return;
	if (!(octx->features & ASPACE_UFFD_FEATURE_EVENT_FORK))
		goto not_inherited;
	for (fe = fl->head; fe; fe = fe->next)
		if (fe->parent == octx) {
			nctx = fe->child;
			break;
		}
	if (!nctx) {
		fe = kzalloc(sizeof(*fe));
		if (!fe)
			goto not_inherited; /* -ENOMEM: as if no EVENT_FORK */
		nctx = ctx_alloc(vma->vm_mm, octx->features);
		if (!nctx) {
			kfree(fe);
			goto not_inherited;
		}
		userfaultfd_ctx_get(octx);
		atomic_fetch_add(&octx->mmap_changing, 1);
		fe->parent = octx;
		fe->child = nctx;
		fe->next = fl->head;
		fl->head = fe;
	}
	vma->vm_userfaultfd_ctx = nctx;
	return;
not_inherited:
	/* The copy then drops the uffd-wp bits too (VM_UFFD_WP is gone). */
	vma->vm_flags &= ~VM_UFFD_FLAGS;
	vma->vm_userfaultfd_ctx = NULL;
}

void dup_userfaultfd_complete(struct uffd_fork_list *fl)
{
	struct uffd_fork_entry *fe;

	while ((fe = fl->head)) {
		struct aspace_uffd_msg msg = {
			.event = ASPACE_UFFD_EVENT_FORK,
			.child = (struct aspace_uffd *)fe->child,
		};

		fl->head = fe->next;
		/* Nobody will serve the child's context: drop it (and the
		 * child's registrations with it). */
		if (!userfaultfd_event_wait_completion(fe->parent, &msg))
			aspace_uffd_release((struct aspace_uffd *)fe->child);
		atomic_fetch_sub(&fe->parent->mmap_changing, 1);
		userfaultfd_ctx_put(fe->parent);
		kfree(fe);
	}
}

void dup_userfaultfd_fail(struct uffd_fork_list *fl)
{
	struct uffd_fork_entry *fe;

	while ((fe = fl->head)) {
		fl->head = fe->next;
		pthread_mutex_lock(&fe->child->lock); /* userfaultfd_mm_exit may look */
		fe->child->mm = NULL;
		pthread_mutex_unlock(&fe->child->lock);
		userfaultfd_ctx_put(fe->child);
		atomic_fetch_sub(&fe->parent->mmap_changing, 1);
		userfaultfd_ctx_put(fe->parent);
		kfree(fe);
	}
}

static void event_add(struct uffd_event_list *el, struct userfaultfd_ctx *ctx,
		      const struct aspace_uffd_msg *msg)
{
	struct uffd_event_entry *ee = kzalloc(sizeof(*ee)), **pp;

	if (!ee)
		return; /* the event is lost, as on the kernel's -ENOMEM */
	userfaultfd_ctx_get(ctx);
	atomic_fetch_add(&ctx->mmap_changing, 1);
	ee->ctx = ctx;
	ee->msg = *msg;
	/* Keep the order in which they happened. */
	for (pp = &el->head; *pp; pp = &(*pp)->next)
		;
	*pp = ee;
}

void mremap_userfaultfd_prep(struct vm_area_struct *new_vma, unsigned long from,
			     unsigned long to, unsigned long len, struct uffd_event_list *el)
{
	struct userfaultfd_ctx *ctx = new_vma->vm_userfaultfd_ctx;
	struct aspace_uffd_msg msg = {
		.event = ASPACE_UFFD_EVENT_REMAP, .address = from, .to = to, .len = len,
	};

	mmap_assert_write_locked(new_vma->vm_mm);
	if (!ctx)
		return;
	if (ctx->features & ASPACE_UFFD_FEATURE_EVENT_REMAP) {
		event_add(el, ctx, &msg);
		return;
	}
	/* The monitor would not know the new addresses: drop the
	 * registration of the moved range. */
	vma_start_write(new_vma);
	vm_flags_reset(new_vma, new_vma->vm_flags & ~VM_UFFD_FLAGS);
	new_vma->vm_userfaultfd_ctx = NULL;
}

void userfaultfd_madvise_zapped(struct mm_struct *mm, unsigned long start, unsigned long end,
				struct uffd_event_list *el)
{
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	for (vma = find_vma(mm, start); vma && vma->vm_start < end; vma = vma_next(mm, vma)) {
		struct userfaultfd_ctx *ctx = vma->vm_userfaultfd_ctx;
		unsigned long s = vma->vm_start > start ? vma->vm_start : start;
		unsigned long e = vma->vm_end < end ? vma->vm_end : end;
		struct aspace_uffd_msg msg = {
			.event = ASPACE_UFFD_EVENT_REMOVE, .address = s, .to = e,
		};

		/* A zap drops the uffd-wp markers of anonymous memory (a
		 * shmem mapping keeps them: the file may still hold data). */
		if (vma_is_anonymous(vma))
			zap_uffd_wp_markers(vma, s, e);
		if (ctx && (ctx->features & ASPACE_UFFD_FEATURE_EVENT_REMOVE))
			event_add(el, ctx, &msg);
	}
}

void userfaultfd_unmap_prep(struct mm_struct *mm, unsigned long start, unsigned long end,
			    struct uffd_event_list *el)
{
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	for (vma = find_vma(mm, start); vma && vma->vm_start < end; vma = vma_next(mm, vma)) {
		struct userfaultfd_ctx *ctx = vma->vm_userfaultfd_ctx;
		struct aspace_uffd_msg msg = {
			.event = ASPACE_UFFD_EVENT_UNMAP, .address = start, .to = end,
		};
		struct uffd_event_entry *ee;
		bool dup = false;

		if (!ctx || !(ctx->features & ASPACE_UFFD_FEATURE_EVENT_UNMAP))
			continue;
		/* One event per context for the whole range. */
		for (ee = el->head; ee; ee = ee->next)
			if (ee->ctx == ctx && ee->msg.event == ASPACE_UFFD_EVENT_UNMAP &&
			    ee->msg.address == start && ee->msg.to == end)
				dup = true;
		if (!dup)
			event_add(el, ctx, &msg);
	}
}

void userfaultfd_events_discard(struct uffd_event_list *el)
{
	struct uffd_event_entry *ee;

	while ((ee = el->head)) {
		el->head = ee->next;
		atomic_fetch_sub(&ee->ctx->mmap_changing, 1);
		userfaultfd_ctx_put(ee->ctx);
		kfree(ee);
	}
}

void userfaultfd_events_complete(struct uffd_event_list *el)
{
	struct uffd_event_entry *ee;

	while ((ee = el->head)) {
		el->head = ee->next;
		userfaultfd_event_wait_completion(ee->ctx, &ee->msg);
		atomic_fetch_sub(&ee->ctx->mmap_changing, 1);
		userfaultfd_ctx_put(ee->ctx);
		kfree(ee);
	}
}
