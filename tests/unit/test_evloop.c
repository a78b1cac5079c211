// SPDX-License-Identifier: MIT
/*
 * The I/O event loop: callbacks for readable fds, deletion (also of a
 * handler whose event is already in hand), slot reuse, and the thread.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/evloop.h"

#define NR 40

struct h {
	struct evloop *l;
	int fd;
	unsigned int calls;
	struct h *victim;	/* deleted by this handler's callback */
	struct h *added;	/* added (on its own fd) by this handler's callback */
	bool delete_self;
	pthread_mutex_t lock;
};

struct fx {
	struct evloop *l;
	struct h hs[NR];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(evloop_create(&f->l), 0);
	for (unsigned int i = 0; i < NR; i++) {
		f->hs[i].l = f->l;
		f->hs[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(f->hs[i].fd >= 0);
		pthread_mutex_init(&f->hs[i].lock, NULL);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	evloop_destroy(f->l);
	for (unsigned int i = 0; i < NR; i++) {
		close(f->hs[i].fd);
		pthread_mutex_destroy(&f->hs[i].lock);
	}
	free(f);
	return 0;
}

static void cb(void *opaque)
{
	struct h *h = opaque;
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) < 0)
		v = 0;
	pthread_mutex_lock(&h->lock);
	h->calls++;
	pthread_mutex_unlock(&h->lock);
	if (h->victim)
		assert_int_equal(evloop_del(h->l, h->victim->fd), 0);
	if (h->added)
		assert_int_equal(evloop_add(h->l, h->added->fd, cb, h->added), 0);
	if (h->delete_self)
		assert_int_equal(evloop_del(h->l, h->fd), 0);
}

static unsigned int calls(struct h *h)
{
	unsigned int n;

	pthread_mutex_lock(&h->lock);
	n = h->calls;
	pthread_mutex_unlock(&h->lock);
	return n;
}

static void poke(struct h *h)
{
	assert_int_equal(eventfd_write(h->fd, 1), 0);
}

static void run_all(struct evloop *l)
{
	for (int i = 0; i < 100 && evloop_run_once(l, 0) > 0; i++)
		;
}

static void test_basic(void **state)
{
	struct fx *f = *state;
	struct h *a = &f->hs[0];

	assert_int_equal(evloop_run_once(f->l, 0), 0);
	assert_int_equal(evloop_add(f->l, a->fd, cb, a), 0);
	assert_int_equal(evloop_run_once(f->l, 0), 0);
	poke(a);
	poke(a);
	assert_int_equal(evloop_run_once(f->l, 100), 1);
	assert_int_equal(calls(a), 1);		/* drained: one call for two pokes */
	assert_int_equal(evloop_run_once(f->l, 0), 0);
	/* Deleted: never called again; deleting twice is -ENOENT. */
	assert_int_equal(evloop_del(f->l, a->fd), 0);
	assert_int_equal(evloop_del(f->l, a->fd), -ENOENT);
	poke(a);
	run_all(f->l);
	assert_int_equal(calls(a), 1);
	/* Re-added: called again for the pending value. */
	assert_int_equal(evloop_add(f->l, a->fd, cb, a), 0);
	run_all(f->l);
	assert_int_equal(calls(a), 2);
	/* A bad fd is refused and leaves the loop usable. */
	assert_int_equal(evloop_add(f->l, -1, cb, a), -EBADF);
	poke(a);
	run_all(f->l);
	assert_int_equal(calls(a), 3);
}

/* More handlers than the first table holds, all delivered. */
static void test_many(void **state)
{
	struct fx *f = *state;

	for (unsigned int i = 0; i < NR; i++)
		assert_int_equal(evloop_add(f->l, f->hs[i].fd, cb, &f->hs[i]), 0);
	for (unsigned int i = 0; i < NR; i++)
		poke(&f->hs[i]);
	run_all(f->l);
	for (unsigned int i = 0; i < NR; i++)
		assert_int_equal(calls(&f->hs[i]), 1);
	/* Delete every other one, poke all: only the rest run. */
	for (unsigned int i = 0; i < NR; i += 2)
		assert_int_equal(evloop_del(f->l, f->hs[i].fd), 0);
	for (unsigned int i = 0; i < NR; i++)
		poke(&f->hs[i]);
	run_all(f->l);
	for (unsigned int i = 0; i < NR; i++)
		assert_int_equal(calls(&f->hs[i]), i % 2 ? 2 : 1);
}

/*
 * a and b are both ready in one epoll_wait; whichever runs first deletes
 * the other, which must then not run, even though its event is in hand.
 */
static void test_delete_other_in_same_batch(void **state)
{
	struct fx *f = *state;
	struct h *a = &f->hs[0], *b = &f->hs[1];

	a->victim = b;
	b->victim = a;
	assert_int_equal(evloop_add(f->l, a->fd, cb, a), 0);
	assert_int_equal(evloop_add(f->l, b->fd, cb, b), 0);
	poke(a);
	poke(b);
	assert_int_equal(evloop_run_once(f->l, 100), 2);
	assert_int_equal(calls(a) + calls(b), 1);
}

/* The deleted handler's slot is reused at once: the stale event is still dropped. */
static void test_slot_reuse_in_same_batch(void **state)
{
	struct fx *f = *state;
	struct h *a = &f->hs[0], *b = &f->hs[1], *c = &f->hs[2];

	assert_int_equal(evloop_add(f->l, a->fd, cb, a), 0);
	assert_int_equal(evloop_add(f->l, b->fd, cb, b), 0);
	/* Whichever runs first deletes the other and adds c (not ready). */
	a->victim = b;
	a->added = c;
	b->victim = a;
	b->added = c;
	poke(a);
	poke(b);
	assert_int_equal(evloop_run_once(f->l, 100), 2);
	assert_int_equal(calls(a) + calls(b), 1);
	assert_int_equal(calls(c), 0);
	/* c works normally afterwards. */
	a->victim = b->victim = NULL;
	a->added = b->added = NULL;
	poke(c);
	run_all(f->l);
	assert_int_equal(calls(c), 1);
}

static void test_delete_self(void **state)
{
	struct fx *f = *state;
	struct h *a = &f->hs[0];

	a->delete_self = true;
	assert_int_equal(evloop_add(f->l, a->fd, cb, a), 0);
	poke(a);
	run_all(f->l);
	poke(a);
	run_all(f->l);
	assert_int_equal(calls(a), 1);
}

static void test_thread(void **state)
{
	struct fx *f = *state;
	struct h *a = &f->hs[0];
	struct timespec ts = { 0, 1000000 };

	assert_int_equal(evloop_add(f->l, a->fd, cb, a), 0);
	assert_int_equal(evloop_start(f->l, "test-evloop"), 0);
	for (unsigned int i = 1; i <= 100; i++) {
		int waited = 0;

		poke(a);
		while (calls(a) < i) {
			assert_true(++waited < 5000);	/* 5 s */
			nanosleep(&ts, NULL);
		}
	}
	/* Deleting from another thread waits for a running callback. */
	assert_int_equal(evloop_del(f->l, a->fd), 0);
	poke(a);
	nanosleep(&ts, NULL);
	evloop_stop(f->l);
	assert_int_equal(calls(a), 100);
	/* Stopping twice, and destroying a stopped loop, are fine. */
	evloop_stop(f->l);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_basic),
		T(test_many),
		T(test_delete_other_in_same_batch),
		T(test_slot_reuse_in_same_batch),
		T(test_delete_self),
		T(test_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
