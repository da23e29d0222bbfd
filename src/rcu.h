/*
 * rcu.h: RCU for the library, on liburcu's "bulletproof" flavour.
 *
 * Why urcu-bp: callers' threads are our CPUs and we cannot ask them to
 * register with RCU; urcu-bp registers a thread the first time it enters a
 * read-side critical section and cleans up when it exits.  Its read side is a
 * function call and a counter update (membarrier keeps it fence-free).
 *
 * Publication (rcu_dereference/rcu_assign_pointer) uses C11 acquire/release
 * atomics rather than liburcu's volatile accesses, so ThreadSanitizer sees
 * the ordering.  TSan cannot see liburcu's grace-period machinery at all (the
 * library is not instrumented), so under TSan every read-side unlock is a
 * release and every reclaim an acquire on one sync object: that orders each
 * reader before the frees that follow it, which is what a grace period
 * guarantees.
 *
 * Retiring: objects a writer unlinks under its lock (VMAs, tree nodes, page
 * tables) carry a struct rcu_retire and are chained on the owner's
 * retire_list without allocating.  The writer may keep using them until it
 * hands the chain to RCU (retire_list_flush, at mmap_write_unlock), so a
 * grace period can never end under a writer that still holds one.  Chains
 * go to RCU in batches; when a batch's grace period is over the callback
 * only moves it to the list's "ready" stack, and the owner takes it back
 * (retire_list_reap) to reuse the objects or free them in its own thread:
 * no malloc/free traffic between threads on the hot path.
 */
#ifndef ASPACE_RCU_H
#define ASPACE_RCU_H

#include <urcu-bp.h>

#include <stdbool.h>

#undef rcu_dereference
#undef rcu_assign_pointer

#define rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#if defined(__SANITIZE_THREAD__)
#define ASPACE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ASPACE_TSAN 1
#endif
#endif

#ifdef ASPACE_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char rcu_tsan_sync;
#define rcu_tsan_reader_done() __tsan_release(&rcu_tsan_sync)
#define rcu_tsan_reclaim() __tsan_acquire(&rcu_tsan_sync)
#else
#define rcu_tsan_reader_done() do { } while (0)
#define rcu_tsan_reclaim() do { } while (0)
#endif

#undef rcu_read_unlock
static inline void rcu_read_unlock(void)
{
	rcu_tsan_reader_done();
	urcu_bp_read_unlock();
}

#undef synchronize_rcu
static inline void synchronize_rcu(void)
{
	urcu_bp_synchronize_rcu();
	rcu_tsan_reclaim();
}

/* Call fn(head) after a grace period (wraps liburcu's call_rcu for TSan). */
struct aspace_rcu_head {
	struct rcu_head head;
	void (*fn)(struct aspace_rcu_head *);
};
void call_rcu_aspace(struct aspace_rcu_head *h, void (*fn)(struct aspace_rcu_head *));
/* Wait until every callback queued so far has run. */
void rcu_barrier_aspace(void);

enum retire_kind {
	RETIRE_KFREE,   /* nothing to reuse: kfree() it */
	RETIRE_VT_NODE, /* a VMA-tree node */
	RETIRE_VMA,     /* a VMA */
};

struct rcu_retire {
	struct rcu_retire *next;
	void *obj;
	enum retire_kind kind;
};

/* Where finished batches land; outlives its retire_list while batches are
 * in flight (refs: one for the list, one per batch). */
struct retire_sink {
	struct rcu_retire *ready; /* atomic stack */
	long refs;                /* atomic */
};

struct retire_list {
	struct rcu_retire *head, *tail; /* the owner's lock */
	unsigned int count;
	struct retire_sink *sink;
};

/* 0 or -ENOMEM. */
int retire_list_init(struct retire_list *l);
/* Owner teardown: everything retired, ready or still in flight is freed
 * (the last in-flight batch frees what arrives after). */
void retire_list_destroy(struct retire_list *l);

/* Queue obj (whose embedded link is r) for reuse or kfree() after a grace
 * period. */
static inline void retire_rcu(struct retire_list *l, struct rcu_retire *r, void *obj,
			      enum retire_kind kind)
{
	r->obj = obj;
	r->kind = kind;
	r->next = l->head;
	if (!l->head)
		l->tail = r;
	l->head = r;
	l->count++;
}

/* Hand what was retired to RCU: always when force, else once enough has
 * gathered.  Outside any RCU read-side critical section (it may wait for
 * a grace period when memory for the batch is short). */
void retire_list_flush(struct retire_list *l, bool force);
/* Objects whose grace period is over (a chain through ->next), or NULL. */
struct rcu_retire *retire_list_reap(struct retire_list *l);
void retire_free_chain(struct rcu_retire *r);

#endif
