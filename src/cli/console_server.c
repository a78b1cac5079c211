// SPDX-License-Identifier: MIT
/*
 * A detached VM's console on a unix socket (`skiff console NAME`). The
 * guest's console output arrives on a pipe (the VM's stdout); one client
 * at a time gets it, and what the client types goes to the guest. The last
 * CONSOLE_HISTORY bytes are kept and replayed to a client that attaches,
 * so it sees the prompt it attached to. Runs on a thread of its own: a
 * slow client never holds up the guest, whose output is dropped for a
 * client that does not keep up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/console_server.h"

#define CONSOLE_HISTORY 16384

struct console_server {
	pthread_t thread;
	int listen_fd, out_fd, client_fd, stop_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	console_input_fn input;
	void *opaque;
	uint8_t history[CONSOLE_HISTORY];
	size_t hist_len, hist_head;	/* a ring: head is the oldest byte */
};

static void remember(struct console_server *s, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t at = (s->hist_head + s->hist_len) % CONSOLE_HISTORY;

		s->history[at] = buf[i];
		if (s->hist_len < CONSOLE_HISTORY)
			s->hist_len++;
		else
			s->hist_head = (s->hist_head + 1) % CONSOLE_HISTORY;
	}
}

static void send_client(struct console_server *s, const uint8_t *buf, size_t n)
{
	ssize_t w;

	while (s->client_fd >= 0 && n) {
		w = send(s->client_fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN) {
			close(s->client_fd);
			s->client_fd = -1;
		}
		if (w <= 0)
			return;	/* a full socket: the client misses this output */
		buf += w;
		n -= (size_t)w;
	}
}

static void replay_history(struct console_server *s)
{
	size_t first = CONSOLE_HISTORY - s->hist_head;

	if (first > s->hist_len)
		first = s->hist_len;
	send_client(s, s->history + s->hist_head, first);
	send_client(s, s->history, s->hist_len - first);
}

static void on_accept(struct console_server *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	static const char busy[] = "skiff: another client is attached to this console\r\n";

	if (fd < 0)
		return;
	if (s->client_fd >= 0) {
		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			errno = 0;	/* it goes away either way */
		close(fd);
		return;
	}
	s->client_fd = fd;
	replay_history(s);
}

static void on_output(struct console_server *s)
{
	uint8_t buf[4096];
	ssize_t n = read(s->out_fd, buf, sizeof(buf));

	if (n <= 0)
		return;
	remember(s, buf, (size_t)n);
	send_client(s, buf, (size_t)n);
}

static void on_client(struct console_server *s)
{
	uint8_t buf[1024];
	ssize_t n = recv(s->client_fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(s->client_fd);
		s->client_fd = -1;
		return;
	}
	s->input(s->opaque, buf, (size_t)n);
}

static void *server_thread(void *arg)
{
	struct console_server *s = arg;

	for (;;) {
		struct pollfd p[4] = {
			{ .fd = s->stop_fd, .events = POLLIN },
			{ .fd = s->listen_fd, .events = POLLIN },
			{ .fd = s->out_fd, .events = POLLIN },
			{ .fd = s->client_fd, .events = POLLIN },
		};

		if (poll(p, 4, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN)
			on_accept(s);
		if (p[2].revents & (POLLIN | POLLHUP))
			on_output(s);
		if (p[3].revents && s->client_fd >= 0)
			on_client(s);
	}
	return NULL;
}

static int listen_at(struct console_server *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a unix socket", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	unlink(path);	/* ours by name: the API socket proved the name free */
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(s->listen_fd, 4) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	strcpy(s->path, path);
	return 0;
}

int console_server_start(struct console_server **out, const char *path, int out_fd,
			 console_input_fn input, void *opaque, char *err, size_t errlen)
{
	struct console_server *s = calloc(1, sizeof(*s));
	int ret;

	*out = NULL;
	err[0] = '\0';
	if (!s)
		return -ENOMEM;
	s->listen_fd = s->client_fd = -1;
	s->out_fd = out_fd;
	s->input = input;
	s->opaque = opaque;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	ret = s->stop_fd < 0 ? -errno : listen_at(s, path, err, errlen);
	if (!ret)
		ret = -pthread_create(&s->thread, NULL, server_thread, s);
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		if (s->path[0])
			unlink(s->path);
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		if (s->stop_fd >= 0)
			close(s->stop_fd);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void console_server_stop(struct console_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (write(s->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(s->thread, NULL);
	/* Whatever the guest said last still reaches an attached client. */
	on_output(s);
	if (s->client_fd >= 0)
		close(s->client_fd);
	close(s->listen_fd);
	close(s->stop_fd);
	unlink(s->path);
	free(s);
}
