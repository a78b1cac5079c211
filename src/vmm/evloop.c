// SPDX-License-Identifier: MIT
/* The VM's I/O thread: epoll over device file descriptors. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/evloop.h"

/*
 * Handlers live in a table that only grows; epoll carries the slot index
 * and a generation, so an event that was already returned by epoll_wait
 * for a handler deleted meanwhile is recognised and dropped.
 */
struct handler {
	int fd;			/* -1: free slot */
	uint32_t gen;
	evloop_fn fn;
	void *opaque;
};

struct evloop {
	int epfd;
	int wake_fd;		/* tells the thread to stop */
	pthread_mutex_t lock;	/* handlers; held while a callback runs */
	struct handler *h;
	unsigned int nr, cap;
	pthread_t thread;
	bool running;
	bool stop;
};

#define WAKE_TAG UINT64_MAX

int evloop_create(struct evloop **out)
{
	struct evloop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };

	pthread_mutexattr_t attr;

	if (!l)
		return -ENOMEM;
	/* Recursive: a callback may add or delete handlers. */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&l->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wake_fd < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0) {
		int err = -errno;

		evloop_destroy(l);
		return err;
	}
	*out = l;
	return 0;
}

void evloop_destroy(struct evloop *l)
{
	if (!l)
		return;
	evloop_stop(l);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	pthread_mutex_destroy(&l->lock);
	free(l->h);
	free(l);
}

static int find_slot(struct evloop *l)
{
	struct handler *h;
	unsigned int cap;

	for (unsigned int i = 0; i < l->nr; i++)
		if (l->h[i].fd < 0)
			return (int)i;
	if (l->nr == l->cap) {
		cap = l->cap ? l->cap * 2 : 16;
		h = realloc(l->h, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		l->h = h;
		l->cap = cap;
	}
	l->h[l->nr] = (struct handler){ .fd = -1 };
	return (int)l->nr++;
}

int evloop_add(struct evloop *l, int fd, evloop_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct handler *h;
	int slot, ret = 0;

	pthread_mutex_lock(&l->lock);
	slot = find_slot(l);
	if (slot < 0) {
		ret = slot;
		goto out;
	}
	h = &l->h[slot];
	h->gen++;
	ev.data.u64 = (uint64_t)h->gen << 32 | (uint32_t)slot;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
		goto out;
	}
	h->fd = fd;
	h->fn = fn;
	h->opaque = opaque;
out:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

int evloop_del(struct evloop *l, int fd)
{
	int ret = -ENOENT;

	/* Taking the lock waits for a callback in progress. */
	pthread_mutex_lock(&l->lock);
	for (unsigned int i = 0; i < l->nr; i++) {
		if (l->h[i].fd != fd)
			continue;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		l->h[i].fd = -1;
		l->h[i].gen++;
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

int evloop_set_enabled(struct evloop *l, int fd, bool enabled)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&l->lock);
	for (unsigned int i = 0; i < l->nr; i++) {
		struct epoll_event ev = {
			.events = enabled ? EPOLLIN : 0,
			.data.u64 = (uint64_t)l->h[i].gen << 32 | i,
		};

		if (l->h[i].fd != fd)
			continue;
		ret = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
		break;
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

static void dispatch(struct evloop *l, uint64_t tag)
{
	uint32_t slot = (uint32_t)tag, gen = (uint32_t)(tag >> 32);
	uint64_t junk;

	if (tag == WAKE_TAG) {
		if (read(l->wake_fd, &junk, sizeof(junk)) < 0)
			return;	/* EAGAIN: nothing to drain */
		return;
	}
	pthread_mutex_lock(&l->lock);
	if (slot < l->nr && l->h[slot].fd >= 0 && l->h[slot].gen == gen)
		l->h[slot].fn(l->h[slot].opaque);
	pthread_mutex_unlock(&l->lock);
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[16];
	int n = epoll_wait(l->epfd, evs, 16, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		dispatch(l, evs[i].data.u64);
	return n;
}

static void *loop_thread(void *arg)
{
	struct evloop *l = arg;

	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE))
		if (evloop_run_once(l, -1) < 0)
			break;
	return NULL;
}

int evloop_start(struct evloop *l, const char *name)
{
	int err = pthread_create(&l->thread, NULL, loop_thread, l);

	if (err)
		return -err;
	pthread_setname_np(l->thread, name);
	l->running = true;
	return 0;
}

void evloop_stop(struct evloop *l)
{
	uint64_t one = 1;

	if (!l->running)
		return;
	__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
	if (write(l->wake_fd, &one, sizeof(one)) < 0)
		return;	/* cannot happen with a fresh eventfd; don't hang in join */
	pthread_join(l->thread, NULL);
	l->running = false;
}
