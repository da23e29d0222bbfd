/*
 * main.c: the aspace command's dispatcher.  Each subcommand lives in its
 * own file and gets argv starting at its own name.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>

#include "commands.h"

#ifndef ASPACE_VERSION
#define ASPACE_VERSION "unknown"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: aspace COMMAND [ARGS...]\n"
		"\n"
		"The Linux memory-management subsystem as a user-space library.\n"
		"\n"
		"commands:\n"
		"  run [--backend=engine|linux] [--verbose] [FILE...]\n"
		"                 run scenario files and print their transcripts\n"
		"                 (no FILE: a bundled example)\n"
		"  diff FILE...   run scenarios on both backends and compare\n"
		"  bench          engine and kernel benchmarks\n"
		"\n"
		"  --help         this text; COMMAND --help for a command's\n"
		"  --version      the version\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "run", cmd_run },
		{ "diff", cmd_diff },
		{ "bench", cmd_bench },
	};

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("aspace %s\n", ASPACE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "aspace: unknown command '%s' (try aspace --help)\n",
		argv[1]);
	return 2;
}
