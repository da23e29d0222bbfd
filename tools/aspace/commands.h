/*
 * commands.h: the aspace command's subcommands.  main.c dispatches; each
 * cmd_* gets argv starting at the subcommand's name and returns the exit
 * status.
 */
#ifndef ASPACE_TOOL_COMMANDS_H
#define ASPACE_TOOL_COMMANDS_H

int cmd_run(int argc, char **argv);   /* scenario.c et al. */
int cmd_diff(int argc, char **argv);
int cmd_bench(int argc, char **argv); /* bench.c */

#endif
