/*
 * testutil.c: see testutil.h.
 */
#include "testutil.h"
#include "rcu.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int expect_abort(void (*fn)(void *), void *arg, const char *needle)
{
	int pipefd[2], status;
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		return 0;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		signal(SIGABRT, SIG_DFL);
		fn(arg);
		_exit(0);
	}
	close(pipefd[1]);
	while (got < sizeof(buf) - 1 && (n = read(pipefd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(buf, needle))
		return 1;
	fprintf(stderr, "expected abort with \"%s\"; child status %#x, stderr:\n%s\n",
		needle, status, buf);
	return 0;
}

void test_rcu_barrier(void)
{
	rcu_barrier_aspace();
}

int engine_maps(struct aspace_mm *mm, struct map_line *out, int max)
{
	char *maps = aspace_proc_maps(mm), *line, *save = NULL;
	int n = 0;

	if (!maps)
		return -1;
	for (line = strtok_r(maps, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%lx-%lx %4s %lx", &out[n].start, &out[n].end,
			   out[n].perms, &out[n].offset) == 4)
			n++;
	}
	free(maps);
	return n;
}

void maps_summary(struct aspace_mm *mm, unsigned long base, char *buf, size_t len)
{
	struct map_line l[256];
	int n = engine_maps(mm, l, 256);
	size_t off = 0;

	buf[0] = 0;
	for (int i = 0; i < n && off < len; i++) {
		if (l[i].end <= base)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%ld-%ld %s", off ? "," : "",
					(long)(l[i].start - base) / 4096,
					(long)(l[i].end - base) / 4096, l[i].perms);
	}
}

unsigned long kernel_arena_alloc(unsigned long pages)
{
	for (unsigned long hint = 0x300000000000UL; hint < 0x400000000000UL; hint += 1UL << 36) {
		void *p = mmap((void *)hint, pages * 4096, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | 0x100000 /* NOREPLACE */,
			       -1, 0);
		if (p != MAP_FAILED)
			return (unsigned long)p;
	}
	return 0;
}
