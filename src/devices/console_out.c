// SPDX-License-Identifier: MIT
/* Guest console output to the host; see console_out.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/console_out.h"

#define CONSOLE_TX_TIMEOUT_MS 500
#define CONSOLE_TX_MAX_TRIES 64

void console_out_init(struct console_out *c)
{
	c->stalled = false;
	c->fd_cached = -1;
	c->needs_sigpipe_guard = false;
	c->dropped = 0;
}

/* Pipes and sockets raise SIGPIPE when the reader is gone. */
static bool fd_needs_sigpipe_guard(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return false;
	return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
}

/* write(2) that turns a would-be SIGPIPE into EPIPE, for this thread only. */
static ssize_t write_no_sigpipe(int fd, const void *buf, size_t len, bool guard)
{
	struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old;
	ssize_t n;
	int err;

	if (!guard)
		return write(fd, buf, len);
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	err = errno;
	if (n < 0 && err == EPIPE && !sigismember(&old, SIGPIPE))
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return n;
}

/*
 * Wait at most CONSOLE_TX_TIMEOUT_MS, so a stuck terminal cannot stall a
 * vCPU (or the I/O thread) for long.
 */
void console_out_write(struct console_out *s, int fd, const uint8_t *buf, size_t len)
{
	unsigned int tries = 0;

	if (fd >= 0 && fd != s->fd_cached) {
		s->fd_cached = fd;
		s->needs_sigpipe_guard = fd_needs_sigpipe_guard(fd);
	}
	while (len && fd >= 0 && tries++ < CONSOLE_TX_MAX_TRIES) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t n;
		int r;

		r = poll(&p, 1, s->stalled ? 0 : CONSOLE_TX_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			s->stalled = true;
		if (r <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)) ||
		    !(p.revents & POLLOUT))
			break;
		n = write_no_sigpipe(fd, buf, len, s->needs_sigpipe_guard);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		s->stalled = false;
		buf += n;
		len -= (size_t)n;
	}
	s->dropped += len;
}

