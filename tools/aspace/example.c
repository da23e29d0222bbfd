/*
 * example.c: the scenario `aspace run` runs when given no file — the
 * contract's fork/copy-on-write example, laid out in an arena so that maps
 * can show it too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "scn.h"

const char scn_example_name[] = "fork-cow.scn";

const char scn_example[] =
	"# fork-cow.scn: a child's write does not reach the parent\n"
	"mmap arena 64m none private,anon,noreserve\n"
	"mmap a 4p rw private,anon,fixed at=arena+1m\n"
	"write a \"hello\"\n"
	"fork child\n"
	"@child write a \"HELLO\"\n"
	"read a 5                    => \"hello\"\n"
	"@child read a 5             => \"HELLO\"\n"
	"pagemap a 2p                => Px -\n"
	"@child pagemap a 2p         => Px -\n"
	"maps\n"
	"@child exit\n";
