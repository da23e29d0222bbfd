/*
 * userfaultfd.h: the engine's userfaultfd (userfaultfd.c) as the rest of
 * the engine sees it: the VMA predicates the fault path tests, the fault
 * entry (handle_userfault, declared in shmem.h for the file fault path
 * too) and the non-cooperative events (fork, remap, remove, unmap).
 *
 * A VMA's vm_userfaultfd_ctx and its VM_UFFD_* flags change together, only
 * under the mmap write lock and after vma_start_write; the fault path reads
 * them under the VMA read lock or mmap_lock.
 */
#ifndef ASPACE_USERFAULTFD_H
#define ASPACE_USERFAULTFD_H

#include "memory.h"
#include "mm_types.h"

struct userfaultfd_ctx;

static inline bool userfaultfd_missing(const struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_UFFD_MISSING;
}

static inline bool userfaultfd_wp(const struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_UFFD_WP;
}

static inline bool userfaultfd_minor(const struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_UFFD_MINOR;
}

/* Block the faulting thread (fault lock dropped) until woken; returns
 * VM_FAULT_RETRY, or VM_FAULT_SIGBUS (FEATURE_SIGBUS, or no retry allowed). */
vm_fault_t handle_userfault(struct vm_fault *vmf, unsigned long reason);

/* mm is being torn down: its userfaultfds stop referring to it. */
void userfaultfd_mm_exit(struct mm_struct *mm);

/*
 * fork: dup_userfaultfd for each child VMA (mmap write locks held) decides
 * whether the child keeps the registration (EVENT_FORK: under a new context
 * for the child) or drops it; dup_userfaultfd_complete (no locks held)
 * sends the FORK events and waits until the monitor read them.
 */
struct uffd_fork_list {
	struct uffd_fork_entry *head;
};
void dup_userfaultfd(struct vm_area_struct *child_vma, struct uffd_fork_list *fl);
void dup_userfaultfd_complete(struct uffd_fork_list *fl);
void dup_userfaultfd_fail(struct uffd_fork_list *fl);

/* REMOVE (MADV_DONTNEED/REMOVE) and UNMAP/REMAP events: prepared under
 * mmap_lock (the ctx is referenced), sent and waited for after it is
 * dropped.  A list collects them for one call. */
struct uffd_event_list {
	struct uffd_event_entry *head;
};
/* mremap moved [from, from + len) to `to` (new_vma): REMAP event, or
 * without EVENT_REMAP the new VMA loses its registration. */
void mremap_userfaultfd_prep(struct vm_area_struct *new_vma, unsigned long from,
			     unsigned long to, unsigned long len, struct uffd_event_list *el);
/* MADV_DONTNEED/REMOVE zapped [start, end): REMOVE events, and anonymous
 * memory's uffd-wp markers go with the pages. */
void userfaultfd_madvise_zapped(struct mm_struct *mm, unsigned long start, unsigned long end,
				struct uffd_event_list *el);
void userfaultfd_unmap_prep(struct mm_struct *mm, unsigned long start, unsigned long end,
			    struct uffd_event_list *el);
void userfaultfd_events_complete(struct uffd_event_list *el);
/* The call failed before it changed anything: drop the prepared events. */
void userfaultfd_events_discard(struct uffd_event_list *el);

#endif
