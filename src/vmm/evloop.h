/* SPDX-License-Identifier: MIT */
/*
 * The VM's I/O thread: an epoll loop on which device models handle queue
 * kicks (ioeventfds) and I/O completions, so vCPU threads only ever run
 * guest code and register accesses.
 */
#ifndef SKIFF_VMM_EVLOOP_H
#define SKIFF_VMM_EVLOOP_H

#include <stdbool.h>

struct evloop;

typedef void (*evloop_fn)(void *opaque);

int evloop_create(struct evloop **out);
/* Stops the thread if running, then frees. */
void evloop_destroy(struct evloop *l);

/*
 * Call fn(opaque) on the loop's thread whenever fd is readable (the
 * callback must drain it: the loop is level-triggered). 0 or -errno.
 */
int evloop_add(struct evloop *l, int fd, evloop_fn fn, void *opaque);
/* After this returns, fn is not called for fd again (unless re-added). */
int evloop_del(struct evloop *l, int fd);

/*
 * Stop or resume watching fd without forgetting its handler: a device
 * that cannot take more input (no guest buffers) pauses its source.
 */
int evloop_set_enabled(struct evloop *l, int fd, bool enabled);

/* Run the loop on a thread of its own, named name. */
int evloop_start(struct evloop *l, const char *name);
/* Stop and join the thread; callbacks in progress finish first. */
void evloop_stop(struct evloop *l);

/* For tests, without a thread: wait up to timeout_ms, run what is ready. */
int evloop_run_once(struct evloop *l, int timeout_ms);

#endif
