/* SPDX-License-Identifier: MIT */
/*
 * Where a running VM's sockets live, shared by the VM (which creates them)
 * and the toolstack commands (which find VMs by listing them).
 */
#ifndef SKIFF_API_RUNTIME_DIR_H
#define SKIFF_API_RUNTIME_DIR_H

#include <stddef.h>

/* Suffixes of a VM's files in the runtime directory. */
#define SKIFF_SOCK_SUFFIX	".sock"		/* the control API */
#define SKIFF_CONSOLE_SUFFIX	".console"	/* console socket of a detached VM */
#define SKIFF_LOG_SUFFIX	".log"		/* log of a detached VM */

/*
 * The directory holding every VM's sockets: $SKIFF_RUNTIME_DIR when set
 * (tests), else $XDG_RUNTIME_DIR/skiff, or /run/skiff for root when
 * XDG_RUNTIME_DIR is unset, or /tmp/skiff-<uid> otherwise. Created 0700 if
 * missing (with parents, except under /tmp). /tmp/skiff-<uid> must be a
 * directory owned by us (-EPERM otherwise: someone else's directory in a
 * shared /tmp). 0 or -errno.
 */
int skiff_runtime_dir(char *buf, size_t len);

/*
 * <dir>/<name><suffix>, e.g. suffix ".sock" (API), ".console" (console
 * socket of a detached VM), ".log" (its log). 0, -ENAMETOOLONG, -EINVAL for
 * a name that is empty or holds a '/', or skiff_runtime_dir()'s error.
 */
int skiff_vm_path(char *buf, size_t len, const char *name, const char *suffix);

/*
 * A stream connection to the unix socket at path: the fd, or -errno
 * (-ECONNREFUSED for a stale socket, -ENOENT for none, -EAGAIN for a full
 * backlog when flags has SOCK_NONBLOCK). flags: extra socket() type flags.
 */
int skiff_socket_connect(const char *path, int flags);

#endif
