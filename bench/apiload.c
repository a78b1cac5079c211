// SPDX-License-Identifier: MIT
/*
 * apiload: load and timing for skiff's control API on a unix socket.
 *
 *   apiload load SOCK CLIENTS SECONDS PATH
 *	CLIENTS threads each send GET PATH over and over on keep-alive
 *	connections for SECONDS; prints requests, errors, and latency
 *	percentiles (µs) as "key=value" lines. Exit 1 on any error.
 *   apiload ready SOCK TIMEOUT_MS -- CMD ARGS...
 *	exec CMD, then GET / until it answers 200; prints the wall time to
 *	that answer, then kills the child (SIGKILL) and prints the CPU time
 *	it used (µs): what it took to become ready.
 *   apiload ready-qmp ...
 *	the same for QEMU: ready when its QMP socket sends the greeting.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define MAX_SAMPLES (1 << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read one response (status line, headers, Content-Length body): its status or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
	size_t have = 0, need = 0;
	char *end = NULL, *cl;
	int status;

	for (;;) {
		ssize_t n = read(fd, buf + have, cap - 1 - have);

		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			cl = strcasestr(buf, "\r\nContent-Length:");
			need = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if (end && have >= need)
			break;
		if (have >= cap - 1)
			return -1;
	}
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return status;
}

struct client {
	pthread_t thread;
	const char *sock, *path;
	uint64_t until_ns;
	uint64_t requests, errors;
	uint32_t *lat_us;
	size_t nr_lat, cap_lat;
};

static void *client_thread(void *arg)
{
	struct client *c = arg;
	char req[512], buf[65536];
	int fd = -1, len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
				    c->path);

	while (now_ns() < c->until_ns) {
		uint64_t t0 = now_ns();

		if (fd < 0 && (fd = connect_unix(c->sock)) < 0) {
			c->errors++;
			usleep(1000);
			continue;
		}
		if (write(fd, req, (size_t)len) != len || read_response(fd, buf, sizeof(buf)) != 200) {
			c->errors++;
			close(fd);
			fd = -1;
			continue;
		}
		c->requests++;
		if (c->nr_lat < c->cap_lat)
			c->lat_us[c->nr_lat++] = (uint32_t)((now_ns() - t0) / 1000);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int run_load(const char *sock, int clients, int seconds, const char *path)
{
	static struct client cs[MAX_CLIENTS];
	uint64_t requests = 0, errors = 0, until = now_ns() + (uint64_t)seconds * 1000000000ULL;
	size_t total = 0, k = 0;
	uint32_t *all;
	int i;

	if (clients < 1 || clients > MAX_CLIENTS || seconds < 1)
		return 2;
	for (i = 0; i < clients; i++) {
		cs[i] = (struct client){ .sock = sock, .path = path, .until_ns = until,
					 .cap_lat = MAX_SAMPLES / (size_t)clients };
		cs[i].lat_us = calloc(cs[i].cap_lat, sizeof(uint32_t));
		if (!cs[i].lat_us || pthread_create(&cs[i].thread, NULL, client_thread, &cs[i]))
			return 2;
	}
	for (i = 0; i < clients; i++) {
		pthread_join(cs[i].thread, NULL);
		requests += cs[i].requests;
		errors += cs[i].errors;
		total += cs[i].nr_lat;
	}
	all = calloc(total ? total : 1, sizeof(uint32_t));
	for (i = 0; i < clients; i++) {
		memcpy(all + k, cs[i].lat_us, cs[i].nr_lat * sizeof(uint32_t));
		k += cs[i].nr_lat;
		free(cs[i].lat_us);
	}
	qsort(all, total, sizeof(uint32_t), cmp_u32);
	printf("requests=%llu\nerrors=%llu\nrps=%.0f\n", (unsigned long long)requests,
	       (unsigned long long)errors, (double)requests / seconds);
	if (total)
		printf("p50_us=%u\np99_us=%u\nmax_us=%u\n", all[total / 2],
		       all[total * 99 / 100], all[total - 1]);
	free(all);
	return errors || !requests ? 1 : 0;
}

/* QEMU's QMP greets every client with {"QMP": ...}: that is its "ready". */
static bool qmp_greets(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, "\"QMP\"") != NULL;
}

static int run_ready(const char *sock, int timeout_ms, char **cmd, bool qmp)
{
	char buf[4096], req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)timeout_ms * 1000000ULL;
	struct rusage ru;
	pid_t pid;
	int fd, status, ok = 0;

	unlink(sock);
	pid = fork();
	if (pid == 0) {
		execvp(cmd[0], cmd);
		_exit(127);
	}
	while (!ok && now_ns() < deadline) {
		fd = connect_unix(sock);
		if (fd >= 0) {
			ok = qmp ? qmp_greets(fd) :
			     write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1 &&
			     read_response(fd, buf, sizeof(buf)) == 200;
			close(fd);
		}
		if (!ok)
			usleep(50);
	}
	printf("ready_us=%llu\n", (unsigned long long)((now_ns() - t0) / 1000));
	/* Killed at once, so its CPU time is what it took to become ready. */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("cpu_us=%llu\n",
	       (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
	       (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 6 && !strcmp(argv[1], "load"))
		return run_load(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
	if (argc >= 6 && (!strcmp(argv[1], "ready") || !strcmp(argv[1], "ready-qmp")) &&
	    !strcmp(argv[4], "--"))
		return run_ready(argv[2], atoi(argv[3]), argv + 5, argv[1][5] == '-');
	fprintf(stderr, "usage: apiload load SOCK CLIENTS SECONDS PATH\n"
		"       apiload ready|ready-qmp SOCK TIMEOUT_MS -- CMD ARGS...\n");
	return 2;
}
