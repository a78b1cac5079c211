// SPDX-License-Identifier: MIT
/* The runtime directory: where every VM of a user puts its sockets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/runtime_dir.h"

/* mkdir -p with mode for every directory it creates; path is restored. */
static int mkdir_parents(char *path, mode_t mode)
{
	char *p;
	struct stat st;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST) {
			int err = errno;

			*p = '/';
			return -err;
		}
		*p = '/';
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/*
 * /tmp is shared: another user may have created our directory first, or put
 * a symlink there, to see or hijack our sockets. Only a real directory that
 * we own will do, and nobody else may enter it.
 */
static int mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	if ((st.st_mode & 077) && chmod(path, 0700) < 0)
		return -errno;
	return 0;
}

/* snprintf()'s result → 0, or -ENAMETOOLONG when the path was cut. */
static int fits(int printed, size_t len)
{
	if (printed < 0)
		return -EINVAL;
	return (size_t)printed < len ? 0 : -ENAMETOOLONG;
}

int skiff_runtime_dir(char *buf, size_t len)
{
	const char *dir = getenv("SKIFF_RUNTIME_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int ret;

	if (dir && *dir) {
		ret = fits(snprintf(buf, len, "%s", dir), len);
		return ret ? ret : mkdir_parents(buf, 0700);
	}
	/* The XDG spec wants an absolute path; ignore anything else. */
	if (xdg && xdg[0] == '/') {
		ret = fits(snprintf(buf, len, "%s/skiff", xdg), len);
		return ret ? ret : mkdir_parents(buf, 0700);
	}
	if (geteuid() == 0) {
		ret = fits(snprintf(buf, len, "/run/skiff"), len);
		return ret ? ret : mkdir_parents(buf, 0700);
	}
	ret = fits(snprintf(buf, len, "/tmp/skiff-%u", (unsigned int)geteuid()), len);
	return ret ? ret : mkdir_private(buf);
}

int skiff_vm_path(char *buf, size_t len, const char *name, const char *suffix)
{
	char dir[4096];
	int ret;

	if (!name || !*name || strchr(name, '/'))
		return -EINVAL;
	ret = skiff_runtime_dir(dir, sizeof(dir));
	if (ret)
		return ret;
	return fits(snprintf(buf, len, "%s/%s%s", dir, name, suffix ? suffix : ""), len);
}

int skiff_socket_connect(const char *path, int flags)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
