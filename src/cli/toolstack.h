/* SPDX-License-Identifier: MIT */
/*
 * The toolstack commands, like Xen's `xl`: they find this user's running
 * VMs by their API sockets in the runtime directory and drive them through
 * the control API (ls, top, info, pause, resume, stop, kill) or attach to
 * a detached VM's console (console).
 */
#ifndef SKIFF_CLI_TOOLSTACK_H
#define SKIFF_CLI_TOOLSTACK_H

#include <stdbool.h>

/* Exit status of a toolstack command that failed (2 is bad usage). */
#define TOOLSTACK_EXIT_FAILED	1

/*
 * Runs `skiff <cmd> ...` when cmd is a toolstack command (ls, top, info,
 * pause, resume, stop, kill, console); sets *handled. Returns the exit
 * status (0, TOOLSTACK_EXIT_FAILED, or EXIT_USAGE). argv[0] is the command
 * name.
 */
int toolstack_main(int argc, char **argv, bool *handled);

#endif
