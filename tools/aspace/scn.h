/*
 * scn.h: the scenario runner's shared types.  A parsed scenario (struct scn)
 * is a list of commands (struct scn_cmd); the runner resolves each one into
 * a struct xcmd (names turned into numbers) and hands it to a backend, which
 * fills a struct result with raw facts (bytes, errno, /proc text, pagemap
 * words).  Only the formatter turns results into transcript text, so both
 * backends print through the same code.
 */
#ifndef ASPACE_TOOL_SCN_H
#define ASPACE_TOOL_SCN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SCN_NAME_MAX 32
#define SCN_PAGE 4096UL
/* Bytes one command may move (data, read, pread, pagemap pages x 8). */
#define SCN_DATA_MAX (16UL << 20)
/* Bytes a command run by an async thread may return. */
#define SCN_THREAD_DATA_MAX (1UL << 20)
#define SCN_TEXT_MAX 256

enum scn_op {
	OP_NONE,
	OP_FORK,
	OP_EXIT,
	OP_ASYNC,
	OP_WAIT,
	OP_MMAP,
	OP_MUNMAP,
	OP_MPROTECT,
	OP_MADVISE,
	OP_MREMAP,
	OP_MLOCK,
	OP_MUNLOCK,
	OP_MLOCKALL,
	OP_MUNLOCKALL,
	OP_MEMFD,
	OP_TMPFILE,
	OP_CLOSE,
	OP_FTRUNCATE,
	OP_FALLOCATE,
	OP_PWRITE,
	OP_PREAD,
	OP_WRITE,
	OP_READ,
	OP_TOUCH,
	OP_MAPS,
	OP_SMAPS,
	OP_PAGEMAP,
	OP_MINCORE,
	OP_CLEAR_REFS,
	OP_PIN,
	OP_PINREAD,
	OP_PINWRITE,
	OP_UNPIN,
	OP_UFFD,
	OP_UFFD_REGISTER,
	OP_UFFD_UNREGISTER,
	OP_UFFD_READ,
	OP_UFFD_COPY,
	OP_UFFD_ZEROPAGE,
	OP_UFFD_CONTINUE,
	OP_UFFD_WP,
	OP_UFFD_WAKE,
	OP_UFFD_MOVE,
	OP__COUNT,
};

/* The MAP_* flags of an mmap command's SF_* bits. */
int scn_mmap_flags(unsigned int sf);

/* Flag bits a command may carry in scn_cmd.flags (meaning depends on op). */
enum {
	/* mmap */
	SF_PRIVATE = 1 << 0,
	SF_SHARED = 1 << 1,
	SF_ANON = 1 << 2,
	SF_FIXED = 1 << 3,
	SF_FIXED_NOREPLACE = 1 << 4,
	SF_POPULATE = 1 << 5,
	SF_NORESERVE = 1 << 6,
	SF_LOCKED = 1 << 7,
	/* mremap */
	SF_MAYMOVE = 1 << 8,
	SF_DONTUNMAP = 1 << 9,
	/* mlock / mlockall */
	SF_ONFAULT = 1 << 10,
	SF_CURRENT = 1 << 11,
	SF_FUTURE = 1 << 12,
	/* fallocate, memfd, touch */
	SF_PUNCH = 1 << 13,
	SF_HUGETLB = 1 << 14,
	SF_WRITE = 1 << 15,
	/* pin */
	SF_RW = 1 << 16,
	SF_LONGTERM = 1 << 17,
	SF_FAST = 1 << 18,
	/* uffd ioctls and registration modes */
	SF_WP = 1 << 19,
	SF_DONTWAKE = 1 << 20,
	SF_MISSING = 1 << 21,
	SF_MINOR = 1 << 22,
	SF_ALLOW_SRC_HOLES = 1 << 23,
	SF_ON = 1 << 24,
	/* clear_refs */
	SF_SOFT_DIRTY = 1 << 25,
};

/* An address as written: NAME+off, or an absolute number when name[0]==0. */
struct scn_addr {
	char name[SCN_NAME_MAX];
	long off;
	bool set;
};

struct scn_cmd {
	int line;
	enum scn_op op;
	char proc[SCN_NAME_MAX];   /* "" = main */
	char thread[SCN_NAME_MAX]; /* "" = the process's main thread */
	char *text;                /* folded source, no expectation/comment */
	char *expect;              /* normalised, or NULL */

	char name[SCN_NAME_MAX];  /* NAME/F/P/U/T the command binds or uses */
	char name2[SCN_NAME_MAX]; /* fd=F, as=NAME */
	struct scn_addr addr;     /* ADDR / DST */
	struct scn_addr addr2;    /* at=, fixed=, SRC */
	unsigned long n1, n2;     /* LEN/OLDLEN/OFF, NEWLEN/LEN */
	unsigned long off;        /* mmap off= */
	int prot;                 /* PROT_* bits */
	unsigned int flags;       /* SF_* */
	int advice;               /* MADV_* */
	unsigned long features;   /* uffd features */
	unsigned char *data;
	size_t dlen;
	struct scn_cmd *sub; /* async's command */
};

struct scn {
	char *path;
	struct scn_cmd *cmds;
	size_t ncmds, cap;
	/* "# requires: linux|engine", with its reason. */
	char requires[16];
	char requires_why[128];
};

/* A command with every name resolved into a number, ready for a backend. */
struct xcmd {
	const struct scn_cmd *src;
	enum scn_op op;
	unsigned long addr, addr2; /* resolved addresses */
	bool has_addr2;
	unsigned long n1, n2, off;
	unsigned int flags;
	char name[SCN_NAME_MAX];
	char name2[SCN_NAME_MAX];
	bool async; /* start it in thread `thread` and return RES_STARTED */
};

enum res_kind {
	RES_OK,        /* ok */
	RES_OK_IOCTLS, /* ok ioctls=...; n = ioctl bitmask */
	RES_OK_ADDR,   /* ok, and addr is where a mapping went */
	RES_ERR,       /* err ENAME [done N] */
	RES_MAPERR,
	RES_ACCERR,
	RES_SIGBUS,
	RES_DATA,    /* payload bytes */
	RES_MAPS,    /* payload: /proc/PID/maps text */
	RES_SMAPS,   /* payload: /proc/PID/smaps text; addr: which VMA */
	RES_PAGEMAP, /* payload: uint64_t pagemap entries */
	RES_MINCORE, /* payload: mincore vector */
	RES_STARTED,
	RES_SKIP,   /* text: reason */
	RES_UFFDMSG, /* see uffd_* fields */
	RES_NONE,   /* uffd-read: no message */
	RES_WROTE,  /* short pwrite: n bytes */
	RES_FILE,   /* memfd/tmpfile: n = inode */
	RES_ERROR,  /* the runner could not run the command; text says why */
};

enum {
	UMSG_PAGEFAULT = 1,
	UMSG_FORK,
	UMSG_REMAP,
	UMSG_REMOVE,
	UMSG_UNMAP,
};

struct result {
	enum res_kind kind;
	int err;             /* positive errno for RES_ERR */
	bool has_done;       /* RES_ERR with partial progress */
	unsigned long done;  /* bytes done before the error */
	unsigned long addr;  /* fault address, new mapping, smaps VMA */
	unsigned long n;     /* ioctls mask, inode, short count */
	int umsg;            /* UMSG_* */
	unsigned long ua, ub, ulen; /* message addresses and length */
	unsigned int uflags; /* SF_WRITE | SF_WP | SF_MINOR */
	char text[SCN_TEXT_MAX];
	unsigned char *payload;
	size_t len;
	bool payload_owned; /* free() payload in result_release() */
};

void result_release(struct result *r);
void result_set_error(struct result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void result_set_skip(struct result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* parse.c */
/* Parses a whole file (or buffer).  On a syntax error returns -EINVAL and
 * writes "file:line: message" into err. */
int scn_parse_buf(const char *path, const char *buf, size_t len,
		  struct scn **out, char *err, size_t errlen);
int scn_parse_file(const char *path, struct scn **out, char *err,
		   size_t errlen);
void scn_free(struct scn *s);
int scn_parse_number(const char *s, unsigned long *out);
const char *scn_op_name(enum scn_op op);

/* format.c: names, errno, canonical text. */
struct names;
struct names *names_new(void);
void names_free(struct names *nm);
int names_bind(struct names *nm, const char *name, unsigned long addr);
int names_lookup(const struct names *nm, const char *name,
		 unsigned long *addr);
int names_add_range(struct names *nm, unsigned long start, unsigned long len);
int names_add_file(struct names *nm, const char *name, unsigned long ino,
		   bool tmpfile);
void fmt_addr(const struct names *nm, unsigned long addr, char *buf,
	      size_t len);
void fmt_size(unsigned long n, char *buf, size_t len);
const char *errno_name(int err);

/* A growable string. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};
void sb_init(struct sbuf *b);
void sb_free(struct sbuf *b);
void sb_putc(struct sbuf *b, char c);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void fmt_data(struct sbuf *b, const unsigned char *p, size_t len);
/* Renders a result as its transcript text. */
void fmt_result(struct sbuf *b, const struct names *nm, const struct xcmd *x,
		const struct result *r);
void normalise_ws(char *s);

/* Backends. */
struct backend;
struct backend_ops {
	const char *name;
	int (*start)(struct backend **out, bool verbose);
	/* Runs x in process proc ("" = main), thread thread ("" = main).
	 * x->async: start x in that thread and return RES_STARTED; OP_WAIT:
	 * x->name is the thread, the result is its command's result. */
	void (*exec)(struct backend *b, const char *proc, const char *thread,
		     const struct xcmd *x, struct result *r);
	void (*stop)(struct backend *b);
	/* Optional: why this backend cannot run s at all (NULL: it can). */
	const char *(*cannot_run)(const struct scn *s);
};
extern const struct backend_ops linux_backend;
extern const struct backend_ops engine_backend;

/* runner.c */
struct run_opts {
	const struct backend_ops *backend;
	bool verbose;
	FILE *out;
};
/* Returns 0, 1 (an expectation failed, or a command could not run),
 * 2 (syntax error; message on stderr) or 3 (the file was skipped). */
int scn_run_file(const char *path, const struct run_opts *o);
int scn_run(struct scn *s, const struct run_opts *o);

extern const char scn_example[];
extern const char scn_example_name[];

#endif
