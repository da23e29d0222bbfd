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

struct retire_batch {
	struct aspace_rcu_head rcu;
	struct rcu_retire *head;
};

static void rcu_trampoline(struct rcu_head *head)
{
	struct aspace_rcu_head *h = caa_container_of(head, struct aspace_rcu_head, head);

#ifdef ASPACE_TSAN
	__tsan_acquire(h); /* pairs with the release in call_rcu_aspace */
#endif
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

static void free_chain(struct rcu_retire *r)
{
	while (r) {
		struct rcu_retire *next = r->next;

		kfree(r->obj);
		r = next;
	}
}

static void retire_batch_free(struct aspace_rcu_head *h)
{
	struct retire_batch *b = caa_container_of(h, struct retire_batch, rcu);

	free_chain(b->head);
	kfree(b);
}

void retire_list_flush(struct retire_list *l)
{
	struct rcu_retire *head = l->head;
	struct retire_batch *b;

	if (!head)
		return;
	l->head = NULL;
	b = kmalloc(sizeof(*b));
	if (!b) {
		synchronize_rcu();
		free_chain(head);
		return;
	}
	b->head = head;
	call_rcu_aspace(&b->rcu, retire_batch_free);
}
