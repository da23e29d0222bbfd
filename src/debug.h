/*
 * debug.h: assertions that name the broken rule.
 *
 * ASPACE_DEBUG builds (Debug, Asan, Tsan: what the tests use) check every
 * locking rule; a broken rule aborts with "aspace: RULE broken: ... vma
 * [start-end) thread TID", the way VM_BUG_ON_VMA dumps the VMA.  Release
 * builds compile the checks out but still type-check their expressions.
 */
#ifndef ASPACE_DEBUG_H
#define ASPACE_DEBUG_H

#include <stdbool.h>
#include <stdnoreturn.h>

struct vm_area_struct;

#ifndef ASPACE_DEBUG
#define ASPACE_DEBUG 0
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* The calling thread's kernel thread id (cached per thread). */
int current_tid(void);

noreturn void aspace_rule_broken(const char *rule, const struct vm_area_struct *vma,
				 const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * RULE_CHECK(cond, rule, vma, fmt, ...): when cond is false, the rule named
 * `rule` is broken.  `vma` may be NULL.
 */
#define RULE_CHECK(cond, rule, vma, ...)                                       \
	do {                                                                   \
		if (ASPACE_DEBUG && unlikely(!(cond)))                         \
			aspace_rule_broken(rule, vma, __FILE__, __LINE__,      \
					   __VA_ARGS__);                       \
	} while (0)

/* Internal consistency (not a caller-visible rule). */
#define BUG_ON(cond)                                                           \
	do {                                                                   \
		if (ASPACE_DEBUG && unlikely(cond))                            \
			aspace_rule_broken("internal consistency", NULL,       \
					   __FILE__, __LINE__, "%s", #cond);   \
	} while (0)

#define VM_BUG_ON_VMA(cond, vma)                                               \
	do {                                                                   \
		if (ASPACE_DEBUG && unlikely(cond))                            \
			aspace_rule_broken("internal consistency", vma,        \
					   __FILE__, __LINE__, "%s", #cond);   \
	} while (0)

#endif
