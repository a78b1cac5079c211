// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tmpdir.h"

int tmpdir_make(char *dir, size_t len, const char *parent, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	if (!parent)
		parent = tmp && *tmp ? tmp : "/tmp";
	snprintf(dir, len, "%s/skiff-%s-XXXXXX", parent, tag);
	return mkdtemp(dir) ? 0 : -1;
}

int tmpdir_file(const char *dir, const char *name, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, "x", 1) != 1) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int remove_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

int tmpdir_remove(const char *dir)
{
	return nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}
