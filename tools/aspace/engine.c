/*
 * engine.c: the engine backend — every command as a call into the public
 * API of include/aspace/aspace.h, in this process.  A scenario process is an
 * aspace_mm (a fork is aspace_fork); a scenario thread is a real thread
 * calling into the same mm.
 *
 * The engine grows feature by feature.  Each group of commands is compiled
 * only when aspace.h announces it (ASPACE_HAVE_FAULTS, _PROC_VIEWS, _SHMEM,
 * _GUP); until then, and for what has no API at all yet (userfaultfd),
 * the command's result is `err ENOSYS`, so `aspace diff` shows the gap.
 * Every API function is also referenced weakly, so the tool links (and says
 * ENOSYS) while a function is declared but not yet implemented.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <aspace/aspace.h>

#include "scn.h"

#define WEAK(fn) extern __typeof__(fn) fn __attribute__((weak))
#define HAVE(fn) (&(fn) != NULL)

WEAK(aspace_mm_create);
WEAK(aspace_mm_destroy);
WEAK(aspace_mmap);
WEAK(aspace_munmap);
WEAK(aspace_mprotect);
WEAK(aspace_mremap);
WEAK(aspace_proc_maps);
#ifdef ASPACE_HAVE_FAULTS
WEAK(aspace_read);
WEAK(aspace_write);
WEAK(aspace_touch);
WEAK(aspace_fork);
WEAK(aspace_madvise);
WEAK(aspace_mlock2);
WEAK(aspace_munlock);
WEAK(aspace_mlockall);
WEAK(aspace_munlockall);
#endif
#ifdef ASPACE_HAVE_PROC_VIEWS
WEAK(aspace_proc_smaps);
WEAK(aspace_pagemap_read);
WEAK(aspace_mincore);
WEAK(aspace_clear_refs);
#endif
#ifdef ASPACE_HAVE_SHMEM
WEAK(aspace_memfd_create);
WEAK(aspace_tmpfile);
WEAK(aspace_close);
WEAK(aspace_ftruncate);
WEAK(aspace_fallocate);
WEAK(aspace_pread);
WEAK(aspace_pwrite);
WEAK(aspace_fstat_ino);
#endif
#ifdef ASPACE_HAVE_GUP
WEAK(aspace_pin);
WEAK(aspace_pin_read);
WEAK(aspace_pin_write);
WEAK(aspace_unpin);
#endif
#ifdef ASPACE_HAVE_UFFD
WEAK(aspace_uffd_create);
WEAK(aspace_uffd_release);
WEAK(aspace_uffd_register);
WEAK(aspace_uffd_unregister);
WEAK(aspace_uffd_read);
WEAK(aspace_uffd_copy);
WEAK(aspace_uffd_zeropage);
WEAK(aspace_uffd_continue);
WEAK(aspace_uffd_writeprotect);
WEAK(aspace_uffd_wake);
WEAK(aspace_uffd_move);
#endif

#define NPROCS 64
#define NTHREADS 64
#define NFILES 32
#define NPINS 32

/* A pin handle: pin is NULL when the command printed SKIP (as the linux
 * backend does for what io_uring cannot express). */
struct epin {
	char name[SCN_NAME_MAX];
	bool used;
	struct aspace_pin *pin;
};

struct efile {
	char name[SCN_NAME_MAX];
	int fd;
	bool used;
};

struct euffd {
	char name[SCN_NAME_MAX];
	struct aspace_uffd *u;
	bool owned; /* created or bound here (a fork copies it unowned) */
};

struct eproc {
	char name[SCN_NAME_MAX];
	struct aspace_mm *mm;
	bool alive;
	struct efile files[NFILES];
	struct epin pins[NPINS]; /* not inherited by a fork child */
	struct euffd uffds[NFILES];
	bool forking; /* slot taken by a fork in progress (b->lock) */
};

struct ethread {
	char proc[SCN_NAME_MAX];
	char name[SCN_NAME_MAX];
	bool running;
	pthread_t tid;
	struct backend *b;
	struct eproc *p;
	struct xcmd x;
	struct result res;
};

struct backend {
	struct eproc procs[NPROCS];
	struct ethread th[NTHREADS];
	pthread_mutex_t lock; /* procs[] changes (fork, exit) */
	struct aspace_config cfg;
	bool all_pins; /* ASPACE_ENGINE_PINS=all: no linux-backend SKIPs */
};

static void enosys(struct result *r)
{
	r->kind = RES_ERR;
	r->err = ENOSYS;
}

static void set_ret(struct result *r, long ret)
{
	if (ret < 0) {
		r->kind = RES_ERR;
		r->err = (int)-ret;
	} else {
		r->kind = RES_OK;
	}
}

static struct eproc *proc_find(struct backend *b, const char *name)
{
	for (int i = 0; i < NPROCS; i++)
		if (b->procs[i].alive && !strcmp(b->procs[i].name, name))
			return &b->procs[i];
	return NULL;
}

static struct efile *file_find(struct eproc *p, const char *name)
{
	for (int i = 0; i < NFILES; i++)
		if (p->files[i].used && !strcmp(p->files[i].name, name))
			return &p->files[i];
	return NULL;
}

static int file_fd(struct eproc *p, const char *name)
{
	struct efile *f = file_find(p, name);

	return f ? f->fd : -1;
}

#if defined(ASPACE_HAVE_SHMEM)
static struct efile *file_new(struct eproc *p, const char *name)
{
	struct efile *f = file_find(p, name);

	if (f)
		return f;
	for (int i = 0; i < NFILES; i++) {
		if (!p->files[i].used) {
			f = &p->files[i];
			snprintf(f->name, SCN_NAME_MAX, "%s", name);
			f->used = true;
			f->fd = -1;
			return f;
		}
	}
	return NULL;
}
#endif

static __attribute__((unused)) int payload_alloc(struct result *r, size_t len)
{
	r->payload = malloc(len ? len : 1);
	if (!r->payload) {
		result_set_error(r, "out of memory");
		return -ENOMEM;
	}
	r->payload_owned = true;
	r->len = len;
	return 0;
}

static void take_text(struct result *r, char *txt, enum res_kind kind)
{
	if (!txt) {
		result_set_error(r, "out of memory");
		return;
	}
	r->kind = kind;
	r->payload = (unsigned char *)txt;
	r->payload_owned = true;
	r->len = strlen(txt);
}

#ifdef ASPACE_HAVE_FAULTS
static void fault_result(struct result *r, int ret, const struct aspace_fault *f)
{
	if (ret != -EFAULT) {
		set_ret(r, ret);
		return;
	}
	r->addr = f->addr;
	switch (f->code) {
	case ASPACE_FAULT_SEGV_MAPERR:
		r->kind = RES_MAPERR;
		break;
	case ASPACE_FAULT_SEGV_ACCERR:
		r->kind = RES_ACCERR;
		break;
	case ASPACE_FAULT_SIGBUS:
		r->kind = RES_SIGBUS;
		break;
	case ASPACE_FAULT_OOM:
		result_set_error(r, "out of memory (the kernel would OOM-kill)");
		break;
	default:
		set_ret(r, ret);
	}
}

static void do_fork(struct backend *b, struct eproc *p, const struct xcmd *x,
		    struct result *r)
{
	struct aspace_mm *child;
	struct eproc *c = NULL;
	int ret;

	if (!HAVE(aspace_fork)) {
		enosys(r);
		return;
	}
	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < NPROCS; i++)
		if (!b->procs[i].alive && !b->procs[i].forking) {
			c = &b->procs[i];
			break;
		}
	if (!c) {
		pthread_mutex_unlock(&b->lock);
		result_set_error(r, "too many processes");
		return;
	}
	/* Not under b->lock: with EVENT_FORK the fork waits until another
	 * command (which looks its process up under b->lock) read the event. */
	c->forking = true;
	pthread_mutex_unlock(&b->lock);
	ret = aspace_fork(p->mm, &child);
	pthread_mutex_lock(&b->lock);
	if (ret) {
		c->forking = false;
		pthread_mutex_unlock(&b->lock);
		set_ret(r, ret);
		return;
	}
#ifdef ASPACE_HAVE_UFFD
	/* The slot's last process may have left userfaultfds of its own. */
	for (int i = 0; i < NFILES; i++)
		if (c->uffds[i].u && c->uffds[i].owned && HAVE(aspace_uffd_release))
			aspace_uffd_release(c->uffds[i].u);
#endif
	memset(c, 0, sizeof(*c));
	snprintf(c->name, SCN_NAME_MAX, "%s", x->name);
	c->mm = child;
	memcpy(c->files, p->files, sizeof(c->files)); /* fds are inherited */
	memcpy(c->uffds, p->uffds, sizeof(c->uffds)); /* so are userfaultfds */
	for (int i = 0; i < NFILES; i++)
		c->uffds[i].owned = false;
	c->alive = true;
	pthread_mutex_unlock(&b->lock);
	r->kind = RES_OK;
}
#endif

static void pins_release(struct eproc *p)
{
	for (int i = 0; i < NPINS; i++) {
		struct epin *e = &p->pins[i];

#ifdef ASPACE_HAVE_GUP
		if (e->used && e->pin && HAVE(aspace_unpin))
			aspace_unpin(e->pin);
#endif
		e->used = false;
		e->pin = NULL;
	}
}

#ifdef ASPACE_HAVE_GUP
static struct epin *pin_find(struct eproc *p, const char *name)
{
	for (int i = 0; i < NPINS; i++)
		if (p->pins[i].used && !strcmp(p->pins[i].name, name))
			return &p->pins[i];
	return NULL;
}

static struct epin *pin_new(struct eproc *p, const char *name)
{
	struct epin *e = pin_find(p, name);

	if (e)
		return e; /* rebinding a name: linux.c reuses the slot too */
	for (int i = 0; i < NPINS; i++) {
		if (!p->pins[i].used) {
			e = &p->pins[i];
			snprintf(e->name, SCN_NAME_MAX, "%s", name);
			e->used = true;
			e->pin = NULL;
			return e;
		}
	}
	return NULL;
}

/*
 * The pin commands.  The linux backend expresses only R/W long-term pins
 * (io_uring fixed buffers, pinned with pin_user_pages_fast) and prints SKIP
 * for the rest; the engine prints the same SKIP text so the transcripts
 * compare, unless ASPACE_ENGINE_PINS=all asks for every kind of pin.
 */
static void do_pin(struct backend *b, struct eproc *p, const struct xcmd *x,
		   struct result *r)
{
	const struct scn_cmd *c = x->src;
	struct epin *e;
	int ret;

	if (!HAVE(aspace_pin) || !HAVE(aspace_unpin) || !HAVE(aspace_pin_read) ||
	    !HAVE(aspace_pin_write)) {
		enosys(r);
		return;
	}
	if (x->op == OP_PIN) {
		int flags = 0;

		if (!b->all_pins) {
			const char *why = NULL;

			if (!(x->flags & SF_RW))
				why = "R/O pins need the kernel's gup_test (CONFIG_GUP_TEST is not set)";
			else if (!(x->flags & SF_LONGTERM))
				why = "short-term R/W pins have no user-space handle";
			else if (x->flags & SF_FAST)
				why = "io_uring pins take the slow GUP path";
			if (why) {
				result_set_skip(r, "%s", why);
				e = pin_new(p, x->name);
				if (e) {
					if (e->pin)
						aspace_unpin(e->pin);
					e->pin = NULL;
				}
				return;
			}
			/* io_uring's buffer checks (io_buffer_validate). */
			if (!x->addr || !x->n1 || x->n1 > (1UL << 30)) {
				set_ret(r, -EFAULT);
				return;
			}
			flags = ASPACE_PIN_FAST; /* io_uring: pin_user_pages_fast */
		} else if (x->flags & SF_FAST) {
			flags = ASPACE_PIN_FAST;
		}
		if (x->flags & SF_RW)
			flags |= ASPACE_PIN_WRITE;
		if (x->flags & SF_LONGTERM)
			flags |= ASPACE_PIN_LONGTERM;
		e = pin_new(p, x->name);
		if (!e) {
			result_set_error(r, "too many pins");
			return;
		}
		if (e->pin) {
			aspace_unpin(e->pin);
			e->pin = NULL;
		}
		ret = aspace_pin(p->mm, x->addr, x->n1, flags, &e->pin);
		if (ret) {
			e->used = false;
			e->pin = NULL;
			set_ret(r, ret);
			return;
		}
		r->kind = RES_OK;
		return;
	}
	e = pin_find(p, x->name);
	if (!e) {
		result_set_error(r, "no pin '%s' in this process", x->name);
		return;
	}
	if (!e->pin) {
		result_set_skip(r, "pin %s was skipped", x->name);
		if (x->op == OP_UNPIN)
			e->used = false;
		return;
	}
	switch (x->op) {
	case OP_PINREAD:
		if (x->n2 > SCN_DATA_MAX) {
			set_ret(r, -EINVAL);
			return;
		}
		if (payload_alloc(r, x->n2))
			return;
		ret = aspace_pin_read(e->pin, x->n1, r->payload, x->n2);
		if (ret) {
			result_release(r);
			set_ret(r, ret);
			return;
		}
		r->kind = RES_DATA;
		return;
	case OP_PINWRITE:
		set_ret(r, aspace_pin_write(e->pin, x->n1, c->data, c->dlen));
		return;
	case OP_UNPIN:
		aspace_unpin(e->pin);
		e->pin = NULL;
		e->used = false;
		r->kind = RES_OK;
		return;
	default:
		result_set_error(r, "not a pin command");
	}
}
#endif

#ifdef ASPACE_HAVE_UFFD
static struct euffd *uffd_find(struct eproc *p, const char *name)
{
	for (int i = 0; i < NFILES; i++)
		if (p->uffds[i].u && !strcmp(p->uffds[i].name, name))
			return &p->uffds[i];
	return NULL;
}

/* Bind name to u in p (replacing, and releasing, an owned old binding). */
static int uffd_bind(struct eproc *p, const char *name, struct aspace_uffd *u)
{
	struct euffd *e = uffd_find(p, name);

	if (!e)
		for (int i = 0; i < NFILES && !e; i++)
			if (!p->uffds[i].u)
				e = &p->uffds[i];
	if (!e)
		return -EMFILE;
	if (e->u && e->owned)
		aspace_uffd_release(e->u);
	snprintf(e->name, SCN_NAME_MAX, "%s", name);
	e->u = u;
	e->owned = true;
	return 0;
}

static void uffd_progress(struct result *r, int ret, unsigned long done)
{
	set_ret(r, ret);
	if (ret && done) {
		r->has_done = true;
		r->done = done;
	}
}

static void do_uffd(struct eproc *p, const struct xcmd *x, struct result *r)
{
	const struct scn_cmd *c = x->src;
	struct euffd *e;
	unsigned long done = 0;
	int ret;

	if (x->op == OP_UFFD) {
		struct aspace_uffd *u;

		ret = aspace_uffd_create(p->mm, c->features, &u);
		if (ret) {
			set_ret(r, ret);
			return;
		}
		if (uffd_bind(p, x->name, u)) {
			aspace_uffd_release(u);
			result_set_error(r, "too many userfaultfds");
			return;
		}
		r->kind = RES_OK;
		return;
	}
	e = uffd_find(p, x->name);
	if (!e) {
		result_set_error(r, "no userfaultfd '%s' in this process", x->name);
		return;
	}
	switch (x->op) {
	case OP_UFFD_READ: {
		struct aspace_uffd_msg m;

		ret = aspace_uffd_read(e->u, &m, 2000);
		if (ret == -EAGAIN) {
			r->kind = RES_NONE;
			return;
		}
		if (ret) {
			set_ret(r, ret);
			return;
		}
		r->kind = RES_UFFDMSG;
		switch (m.event) {
		case ASPACE_UFFD_EVENT_PAGEFAULT:
			r->umsg = UMSG_PAGEFAULT;
			r->ua = m.address;
			if (m.flags & ASPACE_UFFD_PAGEFAULT_FLAG_WRITE)
				r->uflags |= SF_WRITE;
			if (m.flags & ASPACE_UFFD_PAGEFAULT_FLAG_WP)
				r->uflags |= SF_WP;
			if (m.flags & ASPACE_UFFD_PAGEFAULT_FLAG_MINOR)
				r->uflags |= SF_MINOR;
			break;
		case ASPACE_UFFD_EVENT_FORK:
			r->umsg = UMSG_FORK;
			if (uffd_bind(p, x->name2, m.child)) {
				aspace_uffd_release(m.child);
				result_set_error(r, "too many userfaultfds");
			}
			break;
		case ASPACE_UFFD_EVENT_REMAP:
			r->umsg = UMSG_REMAP;
			r->ua = m.address;
			r->ub = m.to;
			r->ulen = m.len;
			break;
		case ASPACE_UFFD_EVENT_REMOVE:
		case ASPACE_UFFD_EVENT_UNMAP:
			r->umsg = m.event == ASPACE_UFFD_EVENT_REMOVE ? UMSG_REMOVE : UMSG_UNMAP;
			r->ua = m.address;
			r->ulen = m.to - m.address;
			break;
		default:
			r->umsg = m.event;
		}
		return;
	}
	case OP_UFFD_REGISTER: {
		unsigned int mode = 0;
		unsigned long ioctls = 0;

		if (x->flags & SF_MISSING)
			mode |= ASPACE_UFFDIO_REGISTER_MODE_MISSING;
		if (x->flags & SF_WP)
			mode |= ASPACE_UFFDIO_REGISTER_MODE_WP;
		if (x->flags & SF_MINOR)
			mode |= ASPACE_UFFDIO_REGISTER_MODE_MINOR;
		ret = aspace_uffd_register(e->u, x->addr, x->n1, mode, &ioctls);
		if (ret) {
			set_ret(r, ret);
			return;
		}
		r->kind = RES_OK_IOCTLS;
		r->n = ioctls;
		return;
	}
	case OP_UFFD_UNREGISTER:
		set_ret(r, aspace_uffd_unregister(e->u, x->addr, x->n1));
		return;
	case OP_UFFD_WAKE:
		set_ret(r, aspace_uffd_wake(e->u, x->addr, x->n1));
		return;
	case OP_UFFD_COPY:
		ret = aspace_uffd_copy(e->u, x->addr, c->data, x->n1,
				       ((x->flags & SF_WP) ? ASPACE_UFFDIO_MODE_WP : 0) |
				       ((x->flags & SF_DONTWAKE) ? ASPACE_UFFDIO_MODE_DONTWAKE : 0),
				       &done);
		uffd_progress(r, ret, done);
		return;
	case OP_UFFD_ZEROPAGE:
		ret = aspace_uffd_zeropage(e->u, x->addr, x->n1,
					   (x->flags & SF_DONTWAKE) ? ASPACE_UFFDIO_MODE_DONTWAKE : 0,
					   &done);
		uffd_progress(r, ret, done);
		return;
	case OP_UFFD_CONTINUE:
		ret = aspace_uffd_continue(e->u, x->addr, x->n1,
					   ((x->flags & SF_WP) ? ASPACE_UFFDIO_MODE_WP : 0) |
					   ((x->flags & SF_DONTWAKE) ? ASPACE_UFFDIO_MODE_DONTWAKE : 0),
					   &done);
		uffd_progress(r, ret, done);
		return;
	case OP_UFFD_WP:
		set_ret(r, aspace_uffd_writeprotect(
				   e->u, x->addr, x->n1,
				   ((x->flags & SF_ON) ? ASPACE_UFFDIO_WRITEPROTECT_MODE_WP : 0) |
				   ((x->flags & SF_DONTWAKE) ? ASPACE_UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0)));
		return;
	case OP_UFFD_MOVE:
		ret = aspace_uffd_move(e->u, x->addr, x->addr2, x->n1,
				       (x->flags & SF_ALLOW_SRC_HOLES) ? ASPACE_UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0,
				       &done);
		uffd_progress(r, ret, done);
		return;
	default:
		result_set_error(r, "not a userfaultfd command");
	}
}
#endif

static void eexec(struct backend *b, struct eproc *p, const struct xcmd *x,
		  struct result *r)
{
	const struct scn_cmd *c = x->src;
	struct aspace_mm *mm = p->mm;
	long ret;

	memset(r, 0, sizeof(*r));
	if (!mm) {
		enosys(r);
		return;
	}
	switch (x->op) {
	case OP_EXIT:
		pthread_mutex_lock(&b->lock);
		p->alive = false;
		pthread_mutex_unlock(&b->lock);
		pins_release(p);
		if (HAVE(aspace_mm_destroy))
			aspace_mm_destroy(mm);
		p->mm = NULL;
		r->kind = RES_OK;
		return;
	case OP_MMAP: {
		int fd = -1;

		if (!HAVE(aspace_mmap))
			break;
		if (x->name2[0]) {
			fd = file_fd(p, x->name2);
			if (fd < 0) {
				set_ret(r, -EBADF);
				return;
			}
		}
		ret = aspace_mmap(mm, x->has_addr2 ? x->addr2 : 0, x->n1,
				  c->prot, scn_mmap_flags(x->flags), fd,
				  (off_t)x->off);
		if (ret < 0 && ret > -4096) {
			set_ret(r, ret);
			return;
		}
		r->kind = RES_OK_ADDR;
		r->addr = (unsigned long)ret;
		return;
	}
	case OP_MUNMAP:
		if (!HAVE(aspace_munmap))
			break;
		set_ret(r, aspace_munmap(mm, x->addr, x->n1));
		return;
	case OP_MPROTECT:
		if (!HAVE(aspace_mprotect))
			break;
		set_ret(r, aspace_mprotect(mm, x->addr, x->n1, c->prot));
		return;
	case OP_MREMAP: {
		int fl = 0;

		if (!HAVE(aspace_mremap))
			break;
		if (x->flags & SF_MAYMOVE)
			fl |= MREMAP_MAYMOVE;
		if (x->flags & SF_DONTUNMAP)
			fl |= 4; /* MREMAP_DONTUNMAP */
		if (x->has_addr2)
			fl |= MREMAP_FIXED;
		ret = aspace_mremap(mm, x->addr, x->n1, x->n2, fl,
				    x->has_addr2 ? x->addr2 : 0);
		if (ret < 0 && ret > -4096) {
			set_ret(r, ret);
			return;
		}
		r->kind = RES_OK_ADDR;
		r->addr = (unsigned long)ret;
		return;
	}
	case OP_MAPS: {
		if (!HAVE(aspace_proc_maps))
			break;
		take_text(r, aspace_proc_maps(mm), RES_MAPS);
		return;
	}
#ifdef ASPACE_HAVE_FAULTS
	case OP_FORK:
		do_fork(b, p, x, r);
		return;
	case OP_MADVISE:
		if (!HAVE(aspace_madvise))
			break;
		set_ret(r, aspace_madvise(mm, x->addr, x->n1, c->advice));
		return;
	case OP_MLOCK:
		if (!HAVE(aspace_mlock2))
			break;
		set_ret(r, aspace_mlock2(mm, x->addr, x->n1,
					 x->flags & SF_ONFAULT ? 1 : 0));
		return;
	case OP_MUNLOCK:
		if (!HAVE(aspace_munlock))
			break;
		set_ret(r, aspace_munlock(mm, x->addr, x->n1));
		return;
	case OP_MLOCKALL: {
		int fl = 0;

		if (!HAVE(aspace_mlockall))
			break;
		if (x->flags & SF_CURRENT)
			fl |= MCL_CURRENT;
		if (x->flags & SF_FUTURE)
			fl |= MCL_FUTURE;
		if (x->flags & SF_ONFAULT)
			fl |= 4; /* MCL_ONFAULT */
		set_ret(r, aspace_mlockall(mm, fl));
		return;
	}
	case OP_MUNLOCKALL:
		if (!HAVE(aspace_munlockall))
			break;
		set_ret(r, aspace_munlockall(mm));
		return;
	case OP_READ: {
		struct aspace_fault f = { 0 };

		if (!HAVE(aspace_read))
			break;
		if (x->n1 > SCN_DATA_MAX) {
			set_ret(r, -E2BIG);
			return;
		}
		if (payload_alloc(r, x->n1))
			return;
		ret = aspace_read(mm, x->addr, r->payload, x->n1, &f);
		if (ret) {
			result_release(r);
			fault_result(r, (int)ret, &f);
			return;
		}
		r->kind = RES_DATA;
		return;
	}
	case OP_WRITE: {
		struct aspace_fault f = { 0 };

		if (!HAVE(aspace_write))
			break;
		ret = aspace_write(mm, x->addr, c->data, c->dlen, &f);
		fault_result(r, (int)ret, &f);
		return;
	}
	case OP_TOUCH: {
		struct aspace_fault f = { 0 };

		if (!HAVE(aspace_touch))
			break;
		ret = aspace_touch(mm, x->addr, x->n1,
				   x->flags & SF_WRITE ? 1 : 0, &f);
		fault_result(r, (int)ret, &f);
		return;
	}
#endif
#ifdef ASPACE_HAVE_PROC_VIEWS
	case OP_SMAPS:
		if (!HAVE(aspace_proc_smaps))
			break;
		take_text(r, aspace_proc_smaps(mm), RES_SMAPS);
		r->addr = x->addr;
		return;
	case OP_PAGEMAP: {
		unsigned long first = x->addr / SCN_PAGE;
		unsigned long last = (x->addr + x->n1 + SCN_PAGE - 1) / SCN_PAGE;
		unsigned long n = last > first ? last - first : 0;

		if (!HAVE(aspace_pagemap_read))
			break;
		if (n * 8 > SCN_DATA_MAX) {
			set_ret(r, -E2BIG);
			return;
		}
		if (payload_alloc(r, n * 8))
			return;
		ret = aspace_pagemap_read(mm, first * SCN_PAGE, n,
					  (uint64_t *)r->payload);
		if (ret < 0) {
			result_release(r);
			set_ret(r, ret);
			return;
		}
		r->kind = RES_PAGEMAP;
		return;
	}
	case OP_MINCORE: {
		unsigned long n = (x->n1 + SCN_PAGE - 1) / SCN_PAGE;

		if (!HAVE(aspace_mincore))
			break;
		if (n > SCN_DATA_MAX) {
			set_ret(r, -E2BIG);
			return;
		}
		if (payload_alloc(r, n))
			return;
		ret = aspace_mincore(mm, x->addr, x->n1, r->payload);
		if (ret < 0) {
			result_release(r);
			set_ret(r, ret);
			return;
		}
		r->kind = RES_MINCORE;
		return;
	}
	case OP_CLEAR_REFS:
		if (!HAVE(aspace_clear_refs))
			break;
		set_ret(r, aspace_clear_refs(mm, x->flags & SF_SOFT_DIRTY ? 4
									  : 1));
		return;
#endif
#ifdef ASPACE_HAVE_SHMEM
	case OP_MEMFD:
	case OP_TMPFILE: {
		struct efile *f;
		unsigned long ino = 0;
		int fd;

		if (!HAVE(aspace_memfd_create) || !HAVE(aspace_tmpfile) ||
		    !HAVE(aspace_fstat_ino))
			break;
		if (x->op == OP_MEMFD)
			fd = aspace_memfd_create(mm, x->name,
						 x->flags & SF_HUGETLB ? 4 : 0);
		else
			fd = aspace_tmpfile(mm);
		if (fd < 0) {
			set_ret(r, fd);
			return;
		}
		f = file_new(p, x->name);
		if (!f || aspace_fstat_ino(mm, fd, &ino) < 0) {
			if (HAVE(aspace_close))
				aspace_close(mm, fd);
			result_set_error(r, "cannot record file %s", x->name);
			return;
		}
		if (f->fd >= 0 && HAVE(aspace_close))
			aspace_close(mm, f->fd);
		f->fd = fd;
		r->kind = RES_FILE;
		r->n = ino;
		return;
	}
	case OP_CLOSE: {
		struct efile *f = file_find(p, x->name);

		if (!HAVE(aspace_close))
			break;
		if (!f) {
			set_ret(r, -EBADF);
			return;
		}
		set_ret(r, aspace_close(mm, f->fd));
		f->used = false;
		return;
	}
	case OP_FTRUNCATE:
		if (!HAVE(aspace_ftruncate))
			break;
		set_ret(r, aspace_ftruncate(mm, file_fd(p, x->name),
					    (off_t)x->n1));
		return;
	case OP_FALLOCATE:
		if (!HAVE(aspace_fallocate))
			break;
		/* FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE */
		set_ret(r, aspace_fallocate(mm, file_fd(p, x->name),
					    x->flags & SF_PUNCH ? 0x03 : 0,
					    (off_t)x->n1, (off_t)x->n2));
		return;
	case OP_PWRITE:
		if (!HAVE(aspace_pwrite))
			break;
		ret = aspace_pwrite(mm, file_fd(p, x->name), c->data, c->dlen,
				    (off_t)x->n1);
		if (ret < 0)
			set_ret(r, ret);
		else if ((size_t)ret != c->dlen) {
			r->kind = RES_WROTE;
			r->n = (unsigned long)ret;
		} else
			r->kind = RES_OK;
		return;
	case OP_PREAD:
		if (!HAVE(aspace_pread))
			break;
		if (x->n2 > SCN_DATA_MAX) {
			set_ret(r, -E2BIG);
			return;
		}
		if (payload_alloc(r, x->n2))
			return;
		ret = aspace_pread(mm, file_fd(p, x->name), r->payload, x->n2,
				   (off_t)x->n1);
		if (ret < 0) {
			result_release(r);
			set_ret(r, ret);
			return;
		}
		r->len = (size_t)ret;
		r->kind = RES_DATA;
		return;
#endif
#ifdef ASPACE_HAVE_GUP
	case OP_PIN:
	case OP_PINREAD:
	case OP_PINWRITE:
	case OP_UNPIN:
		do_pin(b, p, x, r);
		return;
#endif
#ifdef ASPACE_HAVE_UFFD
	case OP_UFFD:
	case OP_UFFD_REGISTER:
	case OP_UFFD_UNREGISTER:
	case OP_UFFD_READ:
	case OP_UFFD_COPY:
	case OP_UFFD_ZEROPAGE:
	case OP_UFFD_CONTINUE:
	case OP_UFFD_WP:
	case OP_UFFD_WAKE:
	case OP_UFFD_MOVE:
		if (!HAVE(aspace_uffd_create) || !HAVE(aspace_uffd_release) ||
		    !HAVE(aspace_uffd_register) || !HAVE(aspace_uffd_unregister) ||
		    !HAVE(aspace_uffd_read) || !HAVE(aspace_uffd_copy) ||
		    !HAVE(aspace_uffd_zeropage) || !HAVE(aspace_uffd_continue) ||
		    !HAVE(aspace_uffd_writeprotect) || !HAVE(aspace_uffd_wake) ||
		    !HAVE(aspace_uffd_move))
			break;
		do_uffd(p, x, r);
		return;
#endif
	default:
		break;
	}
	/* No engine feature (yet) for this command. */
	enosys(r);
}

static void *ethread_main(void *arg)
{
	struct ethread *t = arg;

	eexec(t->b, t->p, &t->x, &t->res);
	return NULL;
}

static struct ethread *thread_find(struct backend *b, const char *proc,
				   const char *name)
{
	for (int i = 0; i < NTHREADS; i++)
		if (b->th[i].running && !strcmp(b->th[i].proc, proc) &&
		    !strcmp(b->th[i].name, name))
			return &b->th[i];
	return NULL;
}

static void engine_exec(struct backend *b, const char *proc,
			const char *thread, const struct xcmd *x,
			struct result *r)
{
	struct eproc *p;
	struct ethread *t;

	memset(r, 0, sizeof(*r));
	if (x->op == OP_WAIT) {
		t = thread_find(b, proc, x->name);
		if (!t) {
			result_set_error(r, "thread %s is not running", x->name);
			return;
		}
		pthread_join(t->tid, NULL);
		*r = t->res;
		t->running = false;
		return;
	}
	pthread_mutex_lock(&b->lock);
	p = proc_find(b, proc);
	pthread_mutex_unlock(&b->lock);
	if (!p) {
		result_set_error(r, "no process %s (it exited, or its fork failed)",
				 proc[0] ? proc : "main");
		return;
	}
	if (!x->async) {
		/* @P.T runs synchronously: the calling thread is as good. */
		eexec(b, p, x, r);
		return;
	}
	if (thread_find(b, proc, thread)) {
		result_set_error(r, "thread %s is busy", thread);
		return;
	}
	for (t = b->th; t < b->th + NTHREADS && t->running; t++)
		;
	if (t == b->th + NTHREADS) {
		result_set_error(r, "too many threads");
		return;
	}
	memset(t, 0, sizeof(*t));
	snprintf(t->proc, SCN_NAME_MAX, "%s", proc);
	snprintf(t->name, SCN_NAME_MAX, "%s", thread);
	t->b = b;
	t->p = p;
	t->x = *x;
	t->x.async = false;
	if (pthread_create(&t->tid, NULL, ethread_main, t)) {
		result_set_error(r, "cannot start a thread");
		return;
	}
	t->running = true;
	r->kind = RES_STARTED;
}

static int engine_start(struct backend **out, bool verbose)
{
	struct backend *b;
	const char *v = getenv("ASPACE_VMA_LOCK");
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	if (v && !strcmp(v, "off"))
		b->cfg.per_vma_lock = ASPACE_VMA_LOCK_OFF;
	else if (v && !strcmp(v, "on"))
		b->cfg.per_vma_lock = ASPACE_VMA_LOCK_ON;
	v = getenv("ASPACE_ENGINE_PINS");
	b->all_pins = v && !strcmp(v, "all");
	/* Without the engine linked in, every command says ENOSYS. */
	ret = HAVE(aspace_mm_create)
		      ? aspace_mm_create(&b->cfg, &b->procs[0].mm)
		      : 0;
	if (ret) {
		free(b);
		return ret;
	}
	b->procs[0].alive = true;
	if (verbose)
		fprintf(stderr,
			"aspace: engine backend: per-VMA locks %s (ASPACE_VMA_LOCK=on|off), "
			"soft-dirty off (as on this host kernel), pool %s, "
			"faults %s, proc views %s, shmem %s, pins %s, userfaultfd %s\n",
			b->cfg.per_vma_lock == ASPACE_VMA_LOCK_OFF ? "off" : "on",
			b->cfg.pool_bytes ? "custom" : "1 GiB (default)",
#ifdef ASPACE_HAVE_FAULTS
			"on",
#else
			"off",
#endif
#ifdef ASPACE_HAVE_PROC_VIEWS
			"on",
#else
			"off",
#endif
#ifdef ASPACE_HAVE_SHMEM
			"on",
#else
			"off",
#endif
#ifdef ASPACE_HAVE_GUP
			b->all_pins ? "all (ASPACE_ENGINE_PINS)" : "as the linux backend"
#else
			"off"
#endif
#ifdef ASPACE_HAVE_UFFD
			, "on"
#else
			, "off"
#endif
		);
	*out = b;
	return 0;
}

static void engine_stop(struct backend *b)
{
#ifdef ASPACE_HAVE_UFFD
	/* Closing the userfaultfds wakes threads still blocked in a fault. */
	for (int i = 0; i < NPROCS; i++)
		for (int j = 0; j < NFILES; j++)
			if (b->procs[i].uffds[j].u && b->procs[i].uffds[j].owned &&
			    HAVE(aspace_uffd_release)) {
				aspace_uffd_release(b->procs[i].uffds[j].u);
				b->procs[i].uffds[j].u = NULL;
			}
#endif
	/* Threads still blocked would use a destroyed mm: wait for them. */
	for (int i = 0; i < NTHREADS; i++) {
		if (b->th[i].running) {
			pthread_join(b->th[i].tid, NULL);
			result_release(&b->th[i].res);
		}
	}
	for (int i = 0; i < NPROCS; i++)
		if (b->procs[i].alive && b->procs[i].mm &&
		    HAVE(aspace_mm_destroy)) {
			pins_release(&b->procs[i]);
			aspace_mm_destroy(b->procs[i].mm);
		}
	pthread_mutex_destroy(&b->lock);
	free(b);
}

const struct backend_ops engine_backend = {
	.name = "engine",
	.start = engine_start,
	.exec = engine_exec,
	.stop = engine_stop,
};
