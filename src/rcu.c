/*
 * rcu.c: call_rcu wrapper and batched deferred kfree (see rcu.h).  A
 * kfree_batch belongs to whoever holds the lock that serializes its owner
 * (the mm's mmap write lock for the VMA tree); the callback runs on
 * liburcu's call_rcu thread and touches only the batch.
 */
#include "rcu.h"
#include "alloc.h"

#include <stddef.h>

#ifdef ASPACE_TSAN
char rcu_tsan_sync;
#endif

#define KFREE_BATCH_MAX 60

struct kfree_batch {
	struct aspace_rcu_head rcu;
	int nr;
	void *ptr[KFREE_BATCH_MAX];
};

static void rcu_trampoline(struct rcu_head *head)
{
	struct aspace_rcu_head *h = caa_container_of(head, struct aspace_rcu_head, head);

	rcu_tsan_reclaim();
	h->fn(h);
}

void call_rcu_aspace(struct aspace_rcu_head *h, void (*fn)(struct aspace_rcu_head *))
{
	h->fn = fn;
#ifdef ASPACE_TSAN
	__tsan_release(h);
#endif
	urcu_bp_call_rcu(&h->head, rcu_trampoline);
}

void rcu_barrier_aspace(void)
{
	urcu_bp_barrier();
	rcu_tsan_reclaim();
}

static void kfree_batch_free(struct aspace_rcu_head *h)
{
	struct kfree_batch *b = caa_container_of(h, struct kfree_batch, rcu);

#ifdef ASPACE_TSAN
	__tsan_acquire(h);
#endif
	for (int i = 0; i < b->nr; i++)
		kfree(b->ptr[i]);
	kfree(b);
}

void kfree_rcu_batched(struct kfree_batch **batch, void *p)
{
	struct kfree_batch *b = *batch;

	if (!p)
		return;
	if (b && b->nr == KFREE_BATCH_MAX) {
		kfree_batch_flush(batch);
		b = NULL;
	}
	if (!b) {
		b = kmalloc(sizeof(*b));
		if (!b) {
			synchronize_rcu();
			kfree(p);
			return;
		}
		b->nr = 0;
		*batch = b;
	}
	b->ptr[b->nr++] = p;
}

void kfree_batch_flush(struct kfree_batch **batch)
{
	struct kfree_batch *b = *batch;

	if (!b)
		return;
	*batch = NULL;
	call_rcu_aspace(&b->rcu, kfree_batch_free);
}
