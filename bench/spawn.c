// SPDX-License-Identifier: MIT
/*
 * spawn RUNS -- CMD...: run CMD RUNS times and print, tab-separated, the
 * median wall time from exec to exit (ms), the median peak RSS (KiB) and
 * the exit statuses seen. Output of CMD goes to /dev/null.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int runs, i, status = 0, statuses[64] = { 0 };
	double *ms, *rss;

	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: spawn RUNS -- CMD...\n");
		return 2;
	}
	runs = atoi(argv[1]);
	if (runs < 1 || runs > 1000)
		return 2;
	ms = calloc(runs, sizeof(*ms));
	rss = calloc(runs, sizeof(*rss));
	for (i = 0; i < runs; i++) {
		struct timespec t0, t1;
		struct rusage ru;
		pid_t pid;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid = fork();
		if (pid == 0) {
			int fd = open("/dev/null", O_RDWR);

			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			execvp(argv[3], argv + 3);
			_exit(127);
		}
		wait4(pid, &status, 0, &ru);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms[i] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
		rss[i] = ru.ru_maxrss;
		if (WIFEXITED(status) && WEXITSTATUS(status) < 64)
			statuses[WEXITSTATUS(status)]++;
	}
	printf("%.2f\t%.0f\t", median(ms, runs), median(rss, runs));
	for (i = 0; i < 64; i++)
		if (statuses[i])
			printf("%d×%d ", statuses[i], i);
	printf("\n");
	return 0;
}
