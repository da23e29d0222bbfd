/*
 * linux.c: the linux backend — every command as real system calls, in real
 * processes, on the running kernel (the authority the engine is compared
 * with).
 *
 * Each scenario process is a worker process driven by the runner over a
 * unix socket: `main` is forked from the runner when the scenario starts and
 * `fork NAME` is a real fork() of the worker, whose new socket end travels
 * back to the runner with SCM_RIGHTS.  So the runner's own address space
 * never shows up in a result, and a child really shares pages with its
 * parent.  Threads (`async T`, `@P.T`) are real threads of the worker.
 *
 * A worker must not change its own address space once the scenario has
 * started, or it would show up in maps and take addresses the scenario
 * means to use: everything it needs (I/O buffers, thread stacks, the
 * io_uring ring, a scratch file) is mapped before the first command, and it
 * never calls malloc() afterwards.  A one-page shared fence mapped last
 * keeps the scenario's first mappings from merging with the worker's own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "scn.h"

/* The installed uapi headers predate these (see research notes). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define NTHREADS 16
#define THREAD_STACK (256UL << 10)
#define NSLOTS 32   /* files, uffds, pins per process */
#define NPROCS 64
#define TIMEOUT_MS 10000
#define PIN_SLOTS 16

/* ---- the protocol ---- */

enum { REQ_EXEC = 1, REQ_ASYNC, REQ_WAIT };

struct wreq {
	int kind;
	char thread[SCN_NAME_MAX];
	struct xcmd x;
};

struct wresp {
	struct result r; /* payload pointer is meaningless on the wire */
	size_t len;
	int hasfd;
	int exited;
};

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/* Reads exactly len bytes; timeout_ms < 0 waits forever. */
static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;

	while (len) {
		ssize_t n;

		if (timeout_ms >= 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int pr = poll(&pfd, 1, timeout_ms);

			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0)
				return -ETIMEDOUT;
			if (pr < 0)
				return -EIO;
		}
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/* ---- the worker: state (copied by fork, as a real child's would be) ---- */

struct wslot {
	char name[SCN_NAME_MAX];
	int fd;
	bool used;
	/* pins */
	unsigned long addr, len;
	int ring_slot;
};

struct wthread {
	char name[SCN_NAME_MAX];
	bool used, started;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state; /* 0 idle, 1 busy, 2 done */
	struct xcmd x;
	struct result res;
	int passfd;
	void *stack;
	unsigned char *buf;
};

static struct {
	int sock;
	unsigned char *mainbuf;
	struct wthread th[NTHREADS];
	struct wslot files[NSLOTS], uffds[NSLOTS], pins[NSLOTS];
	int scratch;
#ifdef HAVE_LIBURING
	struct io_uring ring;
	bool ring_ok;
	int ring_err;
#endif
	int pagemap_fd;
} W;

static __thread unsigned char *tls_buf;
static __thread size_t tls_bufmax;
static __thread sigjmp_buf *tls_jb;
static __thread int tls_signo, tls_code;
static __thread int tls_passfd = -1;

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!tls_jb) {
		/* A fault outside an access is a bug in the worker: die. */
		signal(sig, SIG_DFL);
		return;
	}
	tls_signo = sig;
	tls_code = si->si_code;
	siglongjmp(*tls_jb, 1);
}

static struct wslot *slot_find(struct wslot *tab, const char *name)
{
	for (int i = 0; i < NSLOTS; i++)
		if (tab[i].used && !strcmp(tab[i].name, name))
			return &tab[i];
	return NULL;
}

static struct wslot *slot_new(struct wslot *tab, const char *name)
{
	struct wslot *s = slot_find(tab, name);

	if (s)
		return s;
	for (int i = 0; i < NSLOTS; i++) {
		if (!tab[i].used) {
			memset(&tab[i], 0, sizeof(tab[i]));
			snprintf(tab[i].name, SCN_NAME_MAX, "%s", name);
			tab[i].used = true;
			tab[i].fd = -1;
			return &tab[i];
		}
	}
	return NULL;
}

static void set_err(struct result *r, int err)
{
	r->kind = RES_ERR;
	r->err = err;
}

static void set_ret(struct result *r, long ret)
{
	if (ret < 0)
		set_err(r, errno);
	else
		r->kind = RES_OK;
}

/* ---- accesses: page by page, faults caught ---- */

enum { ACC_READ, ACC_WRITE, ACC_TOUCH_R, ACC_TOUCH_W };

static void touch_write(volatile unsigned char *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("lock; addb $0, %0" : "+m"(*p) : : "memory");
#else
	__atomic_fetch_add(p, 0, __ATOMIC_SEQ_CST);
#endif
}

static int do_access(unsigned long addr, unsigned long len, int mode,
		     const unsigned char *src, unsigned char *dst,
		     struct result *r)
{
	volatile unsigned long p = addr;
	unsigned long end = addr + len;

	if (end < addr) {
		set_err(r, EINVAL);
		return -EINVAL;
	}
	while (p < end) {
		volatile unsigned long pe = (p & ~(SCN_PAGE - 1)) + SCN_PAGE;
		sigjmp_buf jb;

		if (pe > end || pe < p)
			pe = end;
		if (sigsetjmp(jb, 1)) {
			tls_jb = NULL;
			r->addr = p;
			if (tls_signo == SIGBUS)
				r->kind = RES_SIGBUS;
			else if (tls_code == SEGV_MAPERR)
				r->kind = RES_MAPERR;
			else
				r->kind = RES_ACCERR;
			return -EFAULT;
		}
		tls_jb = &jb;
		switch (mode) {
		case ACC_READ:
			memcpy(dst + (p - addr), (const void *)p, pe - p);
			break;
		case ACC_WRITE:
			memcpy((void *)p, src + (p - addr), pe - p);
			break;
		case ACC_TOUCH_R:
			(void)*(volatile unsigned char *)p;
			break;
		case ACC_TOUCH_W:
			touch_write((volatile unsigned char *)p);
			break;
		}
		tls_jb = NULL;
		p = pe;
	}
	r->kind = RES_OK;
	return 0;
}

static int read_proc(const char *path, struct result *r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0) {
		set_err(r, errno);
		return -1;
	}
	while (len < tls_bufmax) {
		ssize_t n = read(fd, tls_buf + len, tls_bufmax - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	r->payload = tls_buf;
	r->len = len;
	return 0;
}

static int file_fd(const char *name)
{
	struct wslot *s = slot_find(W.files, name);

	return s ? s->fd : -1;
}

static int uffd_fd(const char *name, struct result *r)
{
	struct wslot *s = slot_find(W.uffds, name);

	if (!s) {
		result_set_error(r, "no userfaultfd '%s' in this process",
				 name);
		return -1;
	}
	return s->fd;
}

/* uffd ioctls that report progress in a result field. */
static void uffd_progress(struct result *r, int ret, long long field)
{
	if (!ret) {
		r->kind = RES_OK;
		return;
	}
	set_err(r, errno);
	if (field > 0) {
		r->has_done = true;
		r->done = (unsigned long)field;
	}
}

static void do_uffd_read(const struct xcmd *x, struct result *r)
{
	int fd = uffd_fd(x->name, r);
	struct pollfd pfd;
	struct uffd_msg msg;
	ssize_t n;
	int pr;

	if (fd < 0)
		return;
	pfd.fd = fd;
	pfd.events = POLLIN;
	do
		pr = poll(&pfd, 1, 2000);
	while (pr < 0 && errno == EINTR);
	if (pr == 0) {
		r->kind = RES_NONE;
		return;
	}
	do
		n = read(fd, &msg, sizeof(msg));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		r->kind = RES_NONE;
		return;
	}
	if (n != sizeof(msg)) {
		set_err(r, n < 0 ? errno : EIO);
		return;
	}
	r->kind = RES_UFFDMSG;
	switch (msg.event) {
	case UFFD_EVENT_PAGEFAULT:
		r->umsg = UMSG_PAGEFAULT;
		r->ua = msg.arg.pagefault.address;
		if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE)
			r->uflags |= SF_WRITE;
		if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
			r->uflags |= SF_WP;
		if (msg.arg.pagefault.flags & 4 /* FLAG_MINOR */)
			r->uflags |= SF_MINOR;
		break;
	case UFFD_EVENT_FORK: {
		struct wslot *s = slot_new(W.uffds, x->name2);

		r->umsg = UMSG_FORK;
		if (!s) {
			close((int)msg.arg.fork.ufd);
			result_set_error(r, "too many userfaultfds");
			return;
		}
		if (s->fd >= 0)
			close(s->fd);
		s->fd = (int)msg.arg.fork.ufd;
		break;
	}
	case UFFD_EVENT_REMAP:
		r->umsg = UMSG_REMAP;
		r->ua = msg.arg.remap.from;
		r->ub = msg.arg.remap.to;
		r->ulen = msg.arg.remap.len;
		break;
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		r->umsg = msg.event == UFFD_EVENT_REMOVE ? UMSG_REMOVE
							 : UMSG_UNMAP;
		r->ua = msg.arg.remove.start;
		r->ulen = msg.arg.remove.end - msg.arg.remove.start;
		break;
	default:
		r->umsg = msg.event;
	}
}

static void do_uffd(const struct xcmd *x, struct result *r)
{
	const struct scn_cmd *c = x->src;
	int fd;

	if (x->op == OP_UFFD) {
		struct uffdio_api api = { .api = UFFD_API,
					  .features = c->features };
		struct wslot *s;

		fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			set_err(r, errno);
			return;
		}
		if (ioctl(fd, UFFDIO_API, &api)) {
			set_err(r, errno);
			close(fd);
			return;
		}
		s = slot_new(W.uffds, x->name);
		if (!s) {
			close(fd);
			result_set_error(r, "too many userfaultfds");
			return;
		}
		if (s->fd >= 0)
			close(s->fd);
		s->fd = fd;
		r->kind = RES_OK;
		return;
	}
	if (x->op == OP_UFFD_READ) {
		do_uffd_read(x, r);
		return;
	}
	fd = uffd_fd(x->name, r);
	if (fd < 0)
		return;
	switch (x->op) {
	case OP_UFFD_REGISTER: {
		struct uffdio_register reg = {
			.range = { .start = x->addr, .len = x->n1 },
		};

		if (x->flags & SF_MISSING)
			reg.mode |= UFFDIO_REGISTER_MODE_MISSING;
		if (x->flags & SF_WP)
			reg.mode |= UFFDIO_REGISTER_MODE_WP;
		if (x->flags & SF_MINOR)
			reg.mode |= UFFDIO_REGISTER_MODE_MINOR;
		if (ioctl(fd, UFFDIO_REGISTER, &reg)) {
			set_err(r, errno);
			return;
		}
		r->kind = RES_OK_IOCTLS;
		r->n = reg.ioctls;
		return;
	}
	case OP_UFFD_UNREGISTER: {
		struct uffdio_range rg = { .start = x->addr, .len = x->n1 };

		set_ret(r, ioctl(fd, UFFDIO_UNREGISTER, &rg));
		return;
	}
	case OP_UFFD_WAKE: {
		struct uffdio_range rg = { .start = x->addr, .len = x->n1 };

		set_ret(r, ioctl(fd, UFFDIO_WAKE, &rg));
		return;
	}
	case OP_UFFD_COPY: {
		struct uffdio_copy cp = {
			.dst = x->addr,
			.src = (unsigned long)c->data,
			.len = x->n1,
		};
		int ret;

		if (x->flags & SF_WP)
			cp.mode |= UFFDIO_COPY_MODE_WP;
		if (x->flags & SF_DONTWAKE)
			cp.mode |= UFFDIO_COPY_MODE_DONTWAKE;
		ret = ioctl(fd, UFFDIO_COPY, &cp);
		uffd_progress(r, ret, cp.copy);
		return;
	}
	case OP_UFFD_ZEROPAGE: {
		struct uffdio_zeropage zp = {
			.range = { .start = x->addr, .len = x->n1 },
		};
		int ret;

		if (x->flags & SF_DONTWAKE)
			zp.mode |= UFFDIO_ZEROPAGE_MODE_DONTWAKE;
		ret = ioctl(fd, UFFDIO_ZEROPAGE, &zp);
		uffd_progress(r, ret, zp.zeropage);
		return;
	}
	case OP_UFFD_CONTINUE: {
		struct uffdio_continue co = {
			.range = { .start = x->addr, .len = x->n1 },
		};
		int ret;

		if (x->flags & SF_DONTWAKE)
			co.mode |= UFFDIO_CONTINUE_MODE_DONTWAKE;
		if (x->flags & SF_WP)
			co.mode |= UFFDIO_CONTINUE_MODE_WP;
		ret = ioctl(fd, UFFDIO_CONTINUE, &co);
		uffd_progress(r, ret, co.mapped);
		return;
	}
	case OP_UFFD_WP: {
		struct uffdio_writeprotect wp = {
			.range = { .start = x->addr, .len = x->n1 },
		};

		if (x->flags & SF_ON)
			wp.mode |= UFFDIO_WRITEPROTECT_MODE_WP;
		if (x->flags & SF_DONTWAKE)
			wp.mode |= UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
		set_ret(r, ioctl(fd, UFFDIO_WRITEPROTECT, &wp));
		return;
	}
	case OP_UFFD_MOVE: {
		struct uffdio_move mv = {
			.dst = x->addr,
			.src = x->addr2,
			.len = x->n1,
		};
		int ret;

		if (x->flags & SF_ALLOW_SRC_HOLES)
			mv.mode |= UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES;
		ret = ioctl(fd, UFFDIO_MOVE, &mv);
		uffd_progress(r, ret, mv.move);
		return;
	}
	default:
		result_set_error(r, "not a userfaultfd command");
	}
}

/* ---- pins: io_uring fixed buffers are R/W long-term pins ---- */

#ifdef HAVE_LIBURING
static int ring_rw(bool write_to_file, unsigned long addr, unsigned long len,
		   int slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&W.ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	if (write_to_file)
		io_uring_prep_write_fixed(sqe, W.scratch, (void *)addr, len, 0,
					  slot);
	else
		io_uring_prep_read_fixed(sqe, W.scratch, (void *)addr, len, 0,
					 slot);
	ret = io_uring_submit_and_wait(&W.ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_wait_cqe(&W.ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&W.ring, cqe);
	return ret;
}
#endif

static void do_pin(const struct xcmd *x, struct result *r)
{
	struct wslot *p;

	if (x->op == OP_PIN) {
		if (!(x->flags & SF_RW)) {
			result_set_skip(r, "R/O pins need the kernel's gup_test (CONFIG_GUP_TEST is not set)");
			goto skip_bind;
		}
		if (!(x->flags & SF_LONGTERM)) {
			result_set_skip(r, "short-term R/W pins have no user-space handle");
			goto skip_bind;
		}
		if (x->flags & SF_FAST) {
			result_set_skip(r, "io_uring pins take the slow GUP path");
			goto skip_bind;
		}
#ifdef HAVE_LIBURING
		if (!W.ring_ok) {
			result_set_skip(r, "io_uring unavailable (%s)",
					errno_name(-W.ring_err));
			goto skip_bind;
		}
		{
			struct iovec iov = { (void *)x->addr, x->n1 };
			bool busy[PIN_SLOTS] = { false };
			int slot = -1, ret;

			p = slot_new(W.pins, x->name);
			if (!p) {
				result_set_error(r, "too many pins");
				return;
			}
			for (int i = 0; i < NSLOTS; i++)
				if (W.pins[i].used && &W.pins[i] != p &&
				    W.pins[i].ring_slot > 0)
					busy[W.pins[i].ring_slot - 1] = true;
			for (int i = 0; i < PIN_SLOTS && slot < 0; i++)
				if (!busy[i])
					slot = i;
			if (slot < 0) {
				p->used = false;
				result_set_error(r, "too many pins");
				return;
			}
			ret = io_uring_register_buffers_update_tag(
				&W.ring, slot, &iov, NULL, 1);
			if (ret < 0) {
				p->used = false;
				set_err(r, -ret);
				return;
			}
			p->addr = x->addr;
			p->len = x->n1;
			p->ring_slot = slot + 1;
			r->kind = RES_OK;
			return;
		}
#else
		result_set_skip(r, "built without liburing");
		goto skip_bind;
#endif
	}
	p = slot_find(W.pins, x->name);
	if (!p) {
		result_set_error(r, "no pin '%s' in this process", x->name);
		return;
	}
	if (!p->ring_slot) {
		result_set_skip(r, "pin %s was skipped", x->name);
		if (x->op == OP_UNPIN)
			p->used = false;
		return;
	}
#ifdef HAVE_LIBURING
	switch (x->op) {
	case OP_PINREAD: {
		unsigned long len = x->n2;
		ssize_t n;
		int ret;

		if (x->n1 > p->len || len > p->len - x->n1 ||
		    len > tls_bufmax) {
			set_err(r, EINVAL);
			return;
		}
		ret = ring_rw(true, p->addr + x->n1, len, p->ring_slot - 1);
		if (ret < 0) {
			set_err(r, -ret);
			return;
		}
		n = pread(W.scratch, tls_buf, (size_t)ret, 0);
		if (n < 0) {
			set_err(r, errno);
			return;
		}
		r->kind = RES_DATA;
		r->payload = tls_buf;
		r->len = (size_t)n;
		return;
	}
	case OP_PINWRITE: {
		const struct scn_cmd *c = x->src;
		int ret;

		if (x->n1 > p->len || c->dlen > p->len - x->n1) {
			set_err(r, EINVAL);
			return;
		}
		if (pwrite(W.scratch, c->data, c->dlen, 0) !=
		    (ssize_t)c->dlen) {
			set_err(r, errno ? errno : EIO);
			return;
		}
		ret = ring_rw(false, p->addr + x->n1, c->dlen,
			      p->ring_slot - 1);
		if (ret < 0)
			set_err(r, -ret);
		else if ((size_t)ret != c->dlen) {
			r->kind = RES_WROTE;
			r->n = (unsigned long)ret;
		} else
			r->kind = RES_OK;
		return;
	}
	case OP_UNPIN: {
		struct iovec iov = { NULL, 0 };
		int ret = io_uring_register_buffers_update_tag(
			&W.ring, p->ring_slot - 1, &iov, NULL, 1);

		p->used = false;
		if (ret < 0)
			set_err(r, -ret);
		else
			r->kind = RES_OK;
		return;
	}
	default:
		break;
	}
#endif
	result_set_error(r, "not a pin command");
	return;
skip_bind:
	p = slot_new(W.pins, x->name);
	if (p)
		p->ring_slot = 0;
}

/* ---- one command ---- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ASPACE_SANITIZED 1
#endif
#if __has_feature(thread_sanitizer)
#define ASPACE_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ASPACE_SANITIZED 1
#endif
#if defined(__SANITIZE_THREAD__)
#define ASPACE_TSAN 1
#endif

static bool running_under_sanitizer(void)
{
#ifdef ASPACE_SANITIZED
	return true;
#else
	return false;
#endif
}

static void worker_fork(const struct xcmd *x, struct result *r);

static void wexec(const struct xcmd *x, struct result *r)
{
	const struct scn_cmd *c = x->src;
	long ret;

	memset(r, 0, sizeof(*r));
	errno = 0;
	switch (x->op) {
	case OP_FORK:
		worker_fork(x, r);
		return;
	case OP_EXIT:
		r->kind = RES_OK; /* the main loop exits after replying */
		return;
	case OP_MMAP: {
		int fd = -1;
		void *p;

		if (x->name2[0]) {
			fd = file_fd(x->name2);
			if (fd < 0) {
				set_err(r, EBADF);
				return;
			}
		}
		p = mmap(x->has_addr2 ? (void *)x->addr2 : NULL, x->n1,
			 c->prot, scn_mmap_flags(x->flags), fd, (off_t)x->off);
		if (p == MAP_FAILED) {
			set_err(r, errno);
			return;
		}
		r->kind = RES_OK_ADDR;
		r->addr = (unsigned long)p;
		return;
	}
	case OP_MUNMAP:
		set_ret(r, munmap((void *)x->addr, x->n1));
		return;
	case OP_MPROTECT:
		set_ret(r, mprotect((void *)x->addr, x->n1, c->prot));
		return;
	case OP_MADVISE:
		set_ret(r, madvise((void *)x->addr, x->n1, c->advice));
		return;
	case OP_MREMAP: {
		int fl = 0;
		void *p;

		if (x->flags & SF_MAYMOVE)
			fl |= MREMAP_MAYMOVE;
		if (x->flags & SF_DONTUNMAP)
			fl |= 4; /* MREMAP_DONTUNMAP */
		if (x->has_addr2)
			fl |= MREMAP_FIXED;
		p = (void *)syscall(__NR_mremap, x->addr, x->n1, x->n2, fl,
				    x->has_addr2 ? x->addr2 : 0);
		if (p == MAP_FAILED) {
			set_err(r, errno);
			return;
		}
		r->kind = RES_OK_ADDR;
		r->addr = (unsigned long)p;
		return;
	}
	/* Raw system calls: sanitizer runtimes turn the libc wrappers of
	 * the mlock family into no-ops. */
	case OP_MLOCK:
		set_ret(r, syscall(__NR_mlock2, x->addr, x->n1,
				   x->flags & SF_ONFAULT ? MLOCK_ONFAULT : 0));
		return;
	case OP_MUNLOCK:
		set_ret(r, syscall(__NR_munlock, x->addr, x->n1));
		return;
	case OP_MLOCKALL: {
		int fl = 0;

		if (x->flags & SF_CURRENT)
			fl |= MCL_CURRENT;
		if (x->flags & SF_FUTURE)
			fl |= MCL_FUTURE;
		if (x->flags & SF_ONFAULT)
			fl |= MCL_ONFAULT;
		set_ret(r, syscall(__NR_mlockall, fl));
		return;
	}
	case OP_MUNLOCKALL:
		set_ret(r, syscall(__NR_munlockall));
		return;
	case OP_MEMFD:
	case OP_TMPFILE: {
		struct wslot *s;
		struct stat st;
		int fd;

		if (x->op == OP_MEMFD)
			fd = memfd_create(x->name, x->flags & SF_HUGETLB
							   ? MFD_HUGETLB
							   : 0);
		else
			fd = open("/dev/shm", O_TMPFILE | O_RDWR, 0600);
		if (fd < 0) {
			set_err(r, errno);
			return;
		}
		s = slot_new(W.files, x->name);
		if (!s || fstat(fd, &st)) {
			close(fd);
			result_set_error(r, "cannot record file %s", x->name);
			return;
		}
		if (s->fd >= 0)
			close(s->fd);
		s->fd = fd;
		r->kind = RES_FILE;
		r->n = st.st_ino;
		return;
	}
	case OP_CLOSE: {
		struct wslot *s = slot_find(W.files, x->name);

		if (!s) {
			set_err(r, EBADF);
			return;
		}
		set_ret(r, close(s->fd));
		s->used = false;
		return;
	}
	case OP_FTRUNCATE:
		set_ret(r, ftruncate(file_fd(x->name), (off_t)x->n1));
		return;
	case OP_FALLOCATE:
		set_ret(r, fallocate(file_fd(x->name),
				     x->flags & SF_PUNCH
					     ? FALLOC_FL_PUNCH_HOLE |
						       FALLOC_FL_KEEP_SIZE
					     : 0,
				     (off_t)x->n1, (off_t)x->n2));
		return;
	case OP_PWRITE:
		ret = pwrite(file_fd(x->name), c->data, c->dlen, (off_t)x->n1);
		if (ret < 0)
			set_err(r, errno);
		else if ((size_t)ret != c->dlen) {
			r->kind = RES_WROTE;
			r->n = (unsigned long)ret;
		} else
			r->kind = RES_OK;
		return;
	case OP_PREAD:
		if (x->n2 > tls_bufmax) {
			set_err(r, E2BIG);
			return;
		}
		ret = pread(file_fd(x->name), tls_buf, x->n2, (off_t)x->n1);
		if (ret < 0) {
			set_err(r, errno);
			return;
		}
		r->kind = RES_DATA;
		r->payload = tls_buf;
		r->len = (size_t)ret;
		return;
	case OP_WRITE:
		do_access(x->addr, c->dlen, ACC_WRITE, c->data, NULL, r);
		return;
	case OP_READ:
		if (x->n1 > tls_bufmax) {
			set_err(r, E2BIG);
			return;
		}
		if (!do_access(x->addr, x->n1, ACC_READ, NULL, tls_buf, r)) {
			r->kind = RES_DATA;
			r->payload = tls_buf;
			r->len = x->n1;
		}
		return;
	case OP_TOUCH:
		do_access(x->addr, x->n1,
			  x->flags & SF_WRITE ? ACC_TOUCH_W : ACC_TOUCH_R, NULL,
			  NULL, r);
		return;
	case OP_MAPS:
		if (!read_proc("/proc/self/maps", r))
			r->kind = RES_MAPS;
		return;
	case OP_SMAPS:
		if (!read_proc("/proc/self/smaps", r)) {
			r->kind = RES_SMAPS;
			r->addr = x->addr;
		}
		return;
	case OP_PAGEMAP: {
		unsigned long first = x->addr / SCN_PAGE;
		unsigned long last = (x->addr + x->n1 + SCN_PAGE - 1) / SCN_PAGE;
		unsigned long n = last > first ? last - first : 0;

		if (n * 8 > tls_bufmax) {
			set_err(r, E2BIG);
			return;
		}
		ret = pread(W.pagemap_fd, tls_buf, n * 8, (off_t)(first * 8));
		if (ret < 0) {
			set_err(r, errno);
			return;
		}
		r->kind = RES_PAGEMAP;
		r->payload = tls_buf;
		r->len = (size_t)ret;
		return;
	}
	case OP_MINCORE: {
		unsigned long n = (x->n1 + SCN_PAGE - 1) / SCN_PAGE;

		if (n > tls_bufmax) {
			set_err(r, E2BIG);
			return;
		}
		if (mincore((void *)x->addr, x->n1, tls_buf)) {
			set_err(r, errno);
			return;
		}
		r->kind = RES_MINCORE;
		r->payload = tls_buf;
		r->len = n;
		return;
	}
	case OP_CLEAR_REFS: {
		int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
		const char *v = x->flags & SF_SOFT_DIRTY ? "4" : "1";

		if (fd < 0) {
			set_err(r, errno);
			return;
		}
		ret = write(fd, v, 1);
		set_ret(r, ret < 0 ? -1 : 0);
		close(fd);
		return;
	}
	case OP_PIN:
	case OP_PINREAD:
	case OP_PINWRITE:
	case OP_UNPIN:
		do_pin(x, r);
		return;
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
		do_uffd(x, r);
		return;
	default:
		result_set_error(r, "command not supported by the linux backend");
	}
}

/* ---- threads ---- */

static void *wthread_main(void *arg)
{
	struct wthread *t = arg;

	tls_buf = t->buf;
	tls_bufmax = SCN_THREAD_DATA_MAX;
	pthread_mutex_lock(&t->mu);
	for (;;) {
		while (t->state != 1)
			pthread_cond_wait(&t->cv, &t->mu);
		pthread_mutex_unlock(&t->mu);
		tls_passfd = -1;
		wexec(&t->x, &t->res);
		pthread_mutex_lock(&t->mu);
		t->passfd = tls_passfd;
		t->state = 2;
		pthread_cond_broadcast(&t->cv);
	}
	return NULL;
}

static struct wthread *thread_get(const char *name, bool create)
{
	struct wthread *free_t = NULL;

	for (int i = 0; i < NTHREADS; i++) {
		if (W.th[i].used && !strcmp(W.th[i].name, name))
			return &W.th[i];
		if (!W.th[i].used && !free_t)
			free_t = &W.th[i];
	}
	if (!create || !free_t)
		return NULL;
	if (!free_t->started) {
		pthread_attr_t at;
		int ret;

		pthread_attr_init(&at);
		pthread_attr_setstack(&at, free_t->stack, THREAD_STACK);
		free_t->state = 0;
		ret = pthread_create(&free_t->tid, &at, wthread_main, free_t);
		pthread_attr_destroy(&at);
		if (ret)
			return NULL;
		free_t->started = true;
	}
	snprintf(free_t->name, SCN_NAME_MAX, "%s", name);
	free_t->used = true;
	return free_t;
}

static bool thread_busy(struct wthread *t)
{
	bool busy;

	pthread_mutex_lock(&t->mu);
	busy = t->state == 1;
	pthread_mutex_unlock(&t->mu);
	return busy;
}

/* Takes the finished command's result back: the thread is idle again. */
static void thread_reset(struct wthread *t)
{
	pthread_mutex_lock(&t->mu);
	t->passfd = -1;
	t->state = 0;
	pthread_mutex_unlock(&t->mu);
}

static void thread_post(struct wthread *t, const struct xcmd *x)
{
	pthread_mutex_lock(&t->mu);
	t->x = *x;
	t->state = 1;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void thread_wait(struct wthread *t)
{
	pthread_mutex_lock(&t->mu);
	while (t->state == 1)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

/* ---- the worker's loop ---- */

static void worker_send(const struct result *r, int passfd, int exited)
{
	struct wresp h;
	struct msghdr mh;
	struct iovec iov;
	char cbuf[CMSG_SPACE(sizeof(int))];
	ssize_t n;

	memset(&h, 0, sizeof(h));
	h.r = *r;
	h.r.payload = NULL;
	h.len = r->payload ? r->len : 0;
	h.hasfd = passfd >= 0;
	h.exited = exited;
	iov.iov_base = &h;
	iov.iov_len = sizeof(h);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (passfd >= 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	}
	do
		n = sendmsg(W.sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		_exit(1);
	if ((size_t)n < sizeof(h) &&
	    write_full(W.sock, (char *)&h + n, sizeof(h) - n))
		_exit(1);
	if (passfd >= 0)
		close(passfd);
	if (h.len && write_full(W.sock, r->payload, h.len))
		_exit(1);
}

static __attribute__((noreturn)) void worker_loop(void)
{
	for (;;) {
		struct wreq q;
		struct result r;
		struct wthread *t;

		if (read_full(W.sock, &q, sizeof(q), -1))
			_exit(0);
		memset(&r, 0, sizeof(r));
		if (q.x.op == OP_EXIT && q.kind != REQ_WAIT) {
			r.kind = RES_OK;
			worker_send(&r, -1, 1);
			_exit(0);
		}
		switch (q.kind) {
		case REQ_EXEC:
			if (!q.thread[0]) {
				tls_passfd = -1;
				wexec(&q.x, &r);
				worker_send(&r, tls_passfd, 0);
				break;
			}
			t = thread_get(q.thread, true);
			if (!t || thread_busy(t)) {
				result_set_error(&r, t ? "thread %s is busy"
						       : "cannot start thread %s",
						 q.thread);
				worker_send(&r, -1, 0);
				break;
			}
			thread_post(t, &q.x);
			thread_wait(t);
			worker_send(&t->res, t->passfd, 0);
			thread_reset(t);
			break;
		case REQ_ASYNC:
			t = thread_get(q.thread, true);
			if (!t || thread_busy(t)) {
				result_set_error(&r, t ? "thread %s is busy"
						       : "cannot start thread %s",
						 q.thread);
				worker_send(&r, -1, 0);
				break;
			}
			thread_post(t, &q.x);
			r.kind = RES_STARTED;
			worker_send(&r, -1, 0);
			break;
		case REQ_WAIT:
			t = thread_get(q.x.name, false);
			if (!t) {
				result_set_error(&r, "no thread %s", q.x.name);
				worker_send(&r, -1, 0);
				break;
			}
			thread_wait(t);
			worker_send(&t->res, t->passfd, 0);
			thread_reset(t);
			break;
		default:
			result_set_error(&r, "bad request");
			worker_send(&r, -1, 0);
		}
	}
}

#ifdef HAVE_LIBURING
static void ring_setup(void)
{
	int ret = io_uring_queue_init(8, &W.ring, 0);

	W.ring_ok = false;
	if (ret < 0) {
		W.ring_err = ret;
		return;
	}
	ret = io_uring_register_buffers_sparse(&W.ring, PIN_SLOTS);
	if (ret < 0) {
		io_uring_queue_exit(&W.ring);
		W.ring_err = ret;
		return;
	}
	W.ring_ok = true;
}
#endif

/* The main worker never outlives the runner (a runner killed while the
 * worker is blocked must not leave it behind).  Forked workers must be
 * able to outlive their parent, as real children do; the runner kills
 * them all when the scenario ends. */
static void die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

static void worker_fork(const struct xcmd *x, struct result *r)
{
	int sv[2];
	pid_t pid;
	struct wthread *self = NULL;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		set_err(r, errno);
		return;
	}
	for (int i = 0; i < NTHREADS; i++)
		if (W.th[i].started && pthread_equal(W.th[i].tid,
						     pthread_self()))
			self = &W.th[i];
	pid = fork();
	if (pid < 0) {
		set_err(r, errno);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		/* The child: only this thread survives; it becomes the
		 * child's main thread and serves the new socket. */
		close(sv[0]);
		close(W.sock);
		W.sock = sv[1];
		for (int i = 0; i < NTHREADS; i++) {
			struct wthread *t = &W.th[i];

			pthread_mutex_init(&t->mu, NULL);
			pthread_cond_init(&t->cv, NULL);
			t->used = t == self;
			t->started = t == self;
			t->state = 0;
		}
		tls_buf = W.mainbuf;
		tls_bufmax = SCN_DATA_MAX;
		/* /proc/self was resolved at open(): it is the parent's. */
		close(W.pagemap_fd);
		W.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
#ifdef HAVE_LIBURING
		if (W.ring_ok) {
			/* The parent's ring (and its pins) is not ours. */
			io_uring_queue_exit(&W.ring);
			for (int i = 0; i < NSLOTS; i++)
				W.pins[i].used = false;
			ring_setup();
		}
#endif
		r->kind = RES_OK;
		worker_send(r, -1, 0); /* hello: the child is ready */
		worker_loop();
	}
	close(sv[1]);
	r->kind = RES_OK;
	r->n = (unsigned long)pid;
	/* The runner names the child from this (a `wait` has no name). */
	snprintf(r->text, sizeof(r->text), "%s", x->name);
	tls_passfd = sv[0];
}

static __attribute__((noreturn)) void worker_main(int sock)
{
	struct sigaction sa;
	unsigned char *th_mem;
	size_t per = THREAD_STACK + SCN_THREAD_DATA_MAX;
	struct result r;

	memset(&W, 0, sizeof(W));
	W.sock = sock;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGCHLD, SIG_IGN); /* forked children reap themselves */
	signal(SIGPIPE, SIG_IGN);

	W.mainbuf = mmap(NULL, SCN_DATA_MAX, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	th_mem = mmap(NULL, per * NTHREADS, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (W.mainbuf == MAP_FAILED || th_mem == MAP_FAILED)
		_exit(1);
	for (int i = 0; i < NTHREADS; i++) {
		W.th[i].stack = th_mem + i * per;
		W.th[i].buf = th_mem + i * per + THREAD_STACK;
		W.th[i].passfd = -1;
		pthread_mutex_init(&W.th[i].mu, NULL);
		pthread_cond_init(&W.th[i].cv, NULL);
	}
	for (int i = 0; i < NSLOTS; i++) {
		W.files[i].fd = -1;
		W.uffds[i].fd = -1;
	}
	tls_buf = W.mainbuf;
	tls_bufmax = SCN_DATA_MAX;
	W.scratch = memfd_create("aspace-pin-scratch", MFD_CLOEXEC);
	W.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
#ifdef HAVE_LIBURING
	ring_setup();
#endif
	/* The fence: shared memory never merges with an anonymous mapping. */
	mmap(NULL, SCN_PAGE, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memset(&r, 0, sizeof(r));
	r.kind = RES_OK;
	r.n = (unsigned long)getpid();
	worker_send(&r, -1, 0);
	worker_loop();
}

/* ---- the runner's side ---- */

struct lproc {
	char name[SCN_NAME_MAX];
	int sock;
	pid_t pid;
	bool alive;
};

struct backend {
	struct lproc procs[NPROCS];
	bool verbose;
};

static int recv_resp(struct lproc *p, struct result *r, int *fd, int *exited)
{
	struct wresp h;
	struct msghdr mh;
	struct iovec iov;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct pollfd pfd = { .fd = p->sock, .events = POLLIN };
	ssize_t n;
	int pr, ret;

	*fd = -1;
	do
		pr = poll(&pfd, 1, TIMEOUT_MS);
	while (pr < 0 && errno == EINTR);
	if (pr == 0)
		return -ETIMEDOUT;
	iov.iov_base = &h;
	iov.iov_len = sizeof(h);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	do
		n = recvmsg(p->sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -EIO;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
	     cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if ((size_t)n < sizeof(h)) {
		ret = read_full(p->sock, (char *)&h + n, sizeof(h) - n,
				TIMEOUT_MS);
		if (ret)
			goto fail;
	}
	*r = h.r;
	r->payload = NULL;
	r->payload_owned = false;
	r->len = 0;
	*exited = h.exited;
	if (h.len > SCN_DATA_MAX) {
		ret = -EIO;
		goto fail;
	}
	if (h.len) {
		r->payload = malloc(h.len);
		if (!r->payload) {
			ret = -ENOMEM;
			goto fail;
		}
		r->payload_owned = true;
		ret = read_full(p->sock, r->payload, h.len, TIMEOUT_MS);
		if (ret)
			goto fail;
		r->len = h.len;
	}
	return 0;
fail:
	result_release(r);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return ret;
}

static void proc_kill(struct lproc *p)
{
	if (!p->alive)
		return;
	close(p->sock);
	if (p->pid > 0)
		kill(p->pid, SIGKILL);
	p->alive = false;
}

static struct lproc *proc_find(struct backend *b, const char *name)
{
	for (int i = 0; i < NPROCS; i++)
		if (b->procs[i].alive && !strcmp(b->procs[i].name, name))
			return &b->procs[i];
	return NULL;
}

static struct lproc *proc_slot(struct backend *b)
{
	for (int i = 0; i < NPROCS; i++)
		if (!b->procs[i].alive)
			return &b->procs[i];
	return NULL;
}

static int linux_start(struct backend **out, bool verbose)
{
	struct backend *b = calloc(1, sizeof(*b));
	struct lproc *m;
	struct result r;
	int sv[2], fd, exited;
	pid_t pid, runner;

	if (!b)
		return -ENOMEM;
	b->verbose = verbose;
	signal(SIGPIPE, SIG_IGN);
	if (verbose) {
		struct utsname u;

		uname(&u);
		fprintf(stderr,
			"aspace: linux backend: kernel %s %s, page size %ld, "
			"io_uring pins %s\n",
			u.release, u.machine, sysconf(_SC_PAGESIZE),
#ifdef HAVE_LIBURING
			"on"
#else
			"off"
#endif
		);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		free(b);
		return -errno;
	}
	fflush(NULL);
	runner = getpid();
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		free(b);
		return -errno;
	}
	if (pid == 0) {
		die_with_parent(runner);
		close(sv[0]);
		worker_main(sv[1]);
	}
	close(sv[1]);
	m = &b->procs[0];
	m->name[0] = 0;
	m->sock = sv[0];
	m->pid = pid;
	m->alive = true;
	if (recv_resp(m, &r, &fd, &exited)) {
		proc_kill(m);
		waitpid(pid, NULL, 0);
		free(b);
		return -EIO;
	}
	*out = b;
	return 0;
}

static void linux_exec(struct backend *b, const char *proc, const char *thread,
		       const struct xcmd *x, struct result *r)
{
	struct lproc *p = proc_find(b, proc);
	struct wreq q;
	int fd = -1, exited = 0, ret;

	memset(r, 0, sizeof(*r));
	if (!p) {
		result_set_error(r, "no process %s (it exited, or its fork failed)",
				 proc[0] ? proc : "main");
		return;
	}
	memset(&q, 0, sizeof(q));
	q.kind = x->op == OP_WAIT ? REQ_WAIT : x->async ? REQ_ASYNC : REQ_EXEC;
	snprintf(q.thread, sizeof(q.thread), "%s", thread);
	q.x = *x;
	if (write_full(p->sock, &q, sizeof(q))) {
		result_set_error(r, "process %s died", proc[0] ? proc : "main");
		proc_kill(p);
		return;
	}
	ret = recv_resp(p, r, &fd, &exited);
	if (ret) {
		if (ret == -ETIMEDOUT)
			result_set_error(r, "timed out after %d s (blocked? run it with async and resolve it from another thread); process %s killed",
					 TIMEOUT_MS / 1000,
					 proc[0] ? proc : "main");
		else
			result_set_error(r, "process %s died",
					 proc[0] ? proc : "main");
		proc_kill(p);
		return;
	}
	if (exited) {
		/* The socket closes after the address space is torn down
		 * (exit_mm comes before exit_files): wait for that, so the
		 * next command sees the exit's effect on shared pages. */
		char c;

		while (!read_full(p->sock, &c, 1, TIMEOUT_MS))
			;
		close(p->sock);
		p->alive = false;
		if (p == &b->procs[0])
			waitpid(p->pid, NULL, 0);
	}
	if (fd >= 0) {
		/* A fork: the child says hello on its own socket. */
		struct lproc *child = proc_slot(b);
		struct result hello;
		int cfd, cex;

		if (!child) {
			close(fd);
			kill((pid_t)r->n, SIGKILL);
			result_set_error(r, "too many processes");
			return;
		}
		memset(child, 0, sizeof(*child));
		snprintf(child->name, SCN_NAME_MAX, "%.*s", SCN_NAME_MAX - 1,
			 r->text);
		child->sock = fd;
		child->pid = (pid_t)r->n;
		child->alive = true;
		memset(&hello, 0, sizeof(hello));
		if (recv_resp(child, &hello, &cfd, &cex)) {
			proc_kill(child);
			result_set_error(r, "forked child %s did not start",
					 child->name);
			return;
		}
		result_release(&hello);
		r->n = 0;
		r->text[0] = 0;
	}
}

static void linux_stop(struct backend *b)
{
	for (int i = 0; i < NPROCS; i++)
		proc_kill(&b->procs[i]);
	if (b->procs[0].pid > 0)
		waitpid(b->procs[0].pid, NULL, 0);
	free(b);
}

/* mlockall() in a sanitized build would lock (populate) terabytes of
 * shadow memory: such scenarios cannot run there. */
static const char *linux_cannot_run(const struct scn *s)
{
	bool threads = false, forks = false;

	if (!running_under_sanitizer())
		return NULL;
	for (size_t i = 0; i < s->ncmds; i++) {
		const struct scn_cmd *c = s->cmds[i].sub ? s->cmds[i].sub
							 : &s->cmds[i];

		if (c->op == OP_MLOCKALL)
			return "mlockall cannot run in a sanitizer build";
		if (s->cmds[i].op == OP_ASYNC || c->thread[0])
			threads = true;
		if (c->op == OP_FORK)
			forks = true;
	}
#ifdef ASPACE_TSAN
	/* Every worker thread is up before the first command, so any fork
	 * is a fork of a multi-threaded process, which TSan refuses. */
	(void)threads;
	if (forks)
		return "ThreadSanitizer cannot fork a multi-threaded process";
#else
	(void)threads;
	(void)forks;
#endif
	return NULL;
}

const struct backend_ops linux_backend = {
	.name = "linux",
	.start = linux_start,
	.exec = linux_exec,
	.stop = linux_stop,
	.cannot_run = linux_cannot_run,
};
