// SPDX-License-Identifier: MIT
/*
 * Process title: ps shows argv, so rewrite the argv area (extended over
 * the environment strings, which are first copied to the heap); top shows
 * the thread name, so set that too.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "cli/proctitle.h"

extern char **environ;

static struct {
	char *start;
	size_t len;
} area;	/* process-wide by nature: the argv memory of this process */

void proctitle_init(int argc, char **argv)
{
	char *end;
	char **env;
	int i, n;

	if (argc < 1 || !argv[0])
		return;
	end = argv[argc - 1] + strlen(argv[argc - 1]);
	for (n = 0; environ[n]; n++)
		;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return;
	for (i = 0; i < n; i++) {
		if (environ[i] == end + 1)
			end = environ[i] + strlen(environ[i]);
		env[i] = strdup(environ[i]);
		if (!env[i])
			return;
	}
	environ = env;
	area.start = argv[0];
	area.len = end - argv[0];
	for (i = 0; i < argc; i++)	/* argv now points at copies */
		argv[i] = strdup(argv[i]);
}

void proctitle_set(const char *title)
{
	char comm[16];

	if (area.start && area.len) {
		memset(area.start, 0, area.len);
		strncpy(area.start, title, area.len - 1);
	}
	strncpy(comm, title, sizeof(comm) - 1);
	comm[sizeof(comm) - 1] = '\0';
	prctl(PR_SET_NAME, comm);
}
