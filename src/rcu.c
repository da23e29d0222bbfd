/*
 * rcu.c: call_rcu wrapper and batched deferred kfree (see rcu.h).  A
 * kfree_batch belongs to whoever holds the lock that serializes its owner
 * (the mm's mmap write lock for the VMA tree); the callback runs on
 * liburcu's call_rcu thread and touches only the batch.
 */
#include "rcu.h"
#include "alloc.h"

#include <errno.h>
#include <stddef.h>

#ifdef ASPACE_TSAN
char rcu_tsan_sync;
#endif

#define RETIRE_BATCH 64

struct retire_batch {
	struct aspace_rcu_head rcu;
	struct retire_sink *sink;
	struct rcu_retire *head, *tail;
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

void retire_free_chain(struct rcu_retire *r)
{
	while (r) {
		struct rcu_retire *next = r->next;

		kfree(r->obj);
		r = next;
	}
}

static void sink_put(struct retire_sink *sink)
{
	if (__atomic_sub_fetch(&sink->refs, 1, __ATOMIC_ACQ_REL))
		return;
	retire_free_chain(__atomic_exchange_n(&sink->ready, NULL, __ATOMIC_ACQUIRE));
	kfree(sink);
}

/* A grace period is over: hand the chain back to its owner. */
static void retire_batch_done(struct aspace_rcu_head *h)
{
	struct retire_batch *b = caa_container_of(h, struct retire_batch, rcu);
	struct retire_sink *sink = b->sink;
	struct rcu_retire *old = __atomic_load_n(&sink->ready, __ATOMIC_RELAXED);

	do {
		b->tail->next = old;
	} while (!__atomic_compare_exchange_n(&sink->ready, &old, b->head, true,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	kfree(b);
	sink_put(sink);
}

int retire_list_init(struct retire_list *l)
{
	l->head = l->tail = NULL;
	l->count = 0;
	l->sink = kzalloc(sizeof(*l->sink));
	if (!l->sink)
		return -ENOMEM;
	l->sink->refs = 1;
	return 0;
}

void retire_list_flush(struct retire_list *l, bool force)
{
	struct retire_batch *b;

	if (!l->head || (!force && l->count < RETIRE_BATCH))
		return;
	b = kmalloc(sizeof(*b));
	if (!b) {
		synchronize_rcu();
		retire_free_chain(l->head);
	} else {
		b->sink = l->sink;
		b->head = l->head;
		b->tail = l->tail;
		__atomic_add_fetch(&l->sink->refs, 1, __ATOMIC_RELAXED);
		call_rcu_aspace(&b->rcu, retire_batch_done);
	}
	l->head = l->tail = NULL;
	l->count = 0;
}

struct rcu_retire *retire_list_reap(struct retire_list *l)
{
	if (!__atomic_load_n(&l->sink->ready, __ATOMIC_RELAXED))
		return NULL;
	return __atomic_exchange_n(&l->sink->ready, NULL, __ATOMIC_ACQUIRE);
}

void retire_list_destroy(struct retire_list *l)
{
	if (!l->sink)
		return;
	retire_list_flush(l, true);
	retire_free_chain(retire_list_reap(l));
	sink_put(l->sink);
	l->sink = NULL;
}
