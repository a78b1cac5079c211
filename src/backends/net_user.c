// SPDX-License-Identifier: MIT
/*
 * User-mode networking with libslirp, laid out like QEMU's -nic user:
 * 10.0.2.0/24, the host (and gateway) at 10.0.2.2, DNS at 10.0.2.3
 * (forwarded to the host's resolver), DHCP handing out 10.0.2.15. No IPv6.
 *
 * libslirp is not thread-safe, so one backend thread owns the stack: it
 * creates it, applies the host forwards, runs the poll() loop and its
 * timers, and cleans it up. Nothing else ever calls into slirp.
 *
 * send() runs on the device's I/O thread. It copies the frame out of guest
 * memory into a ring of preallocated slots and wakes the backend thread,
 * which feeds the ring to slirp_input(). What slirp sends back reaches the
 * guest through sink.deliver(), always from the backend thread; a sink may
 * call send() from there (it only takes the ring's lock).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "backends/net.h"

#define RING_SLOTS	256
#define FRAME_MAX	65536
#define FRAME_MIN	14		/* an Ethernet header */
#define PFDS_INITIAL	16

#define NET_ADDR	0x0a000200u	/* 10.0.2.0 */
#define NET_MASK	0xffffff00u
#define HOST_ADDR	0x0a000202u	/* 10.0.2.2 */
#define DNS_ADDR	0x0a000203u	/* 10.0.2.3 */
#define DHCP_START	0x0a00020fu	/* 10.0.2.15 */

/*
 * libslirp is loaded when user-mode networking is used, not linked: it
 * brings glib, which would cost every VM start about 0.7 ms and 0.8 MiB
 * even without a NIC (measured with `skiff --version`).
 */
struct slirp_api {
	void *lib;
	Slirp *(*new_)(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque);
	void (*cleanup)(Slirp *slirp);
	void (*input)(Slirp *slirp, const uint8_t *pkt, int pkt_len);
	void (*pollfds_fill)(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll,
			     void *opaque);
	void (*pollfds_poll)(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents,
			     void *opaque);
	int (*add_hostfwd)(Slirp *slirp, int is_udp, struct in_addr host_addr,
			   int host_port, struct in_addr guest_addr, int guest_port);
};

#define SLIRP_LIB "libslirp.so.0"

static int slirp_api_load(struct slirp_api *a, char *err, size_t errlen)
{
	a->lib = dlopen(SLIRP_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!a->lib) {
		snprintf(err, errlen, "user: cannot load %s (apt-get install libslirp0): %s",
			 SLIRP_LIB, dlerror());
		return -ENOENT;
	}
	*(void **)&a->new_ = dlsym(a->lib, "slirp_new");
	*(void **)&a->cleanup = dlsym(a->lib, "slirp_cleanup");
	*(void **)&a->input = dlsym(a->lib, "slirp_input");
	*(void **)&a->pollfds_fill = dlsym(a->lib, "slirp_pollfds_fill");
	*(void **)&a->pollfds_poll = dlsym(a->lib, "slirp_pollfds_poll");
	*(void **)&a->add_hostfwd = dlsym(a->lib, "slirp_add_hostfwd");
	if (!a->new_ || !a->cleanup || !a->input || !a->pollfds_fill || !a->pollfds_poll ||
	    !a->add_hostfwd) {
		snprintf(err, errlen, "user: %s lacks the functions skiff needs", SLIRP_LIB);
		dlclose(a->lib);
		a->lib = NULL;
		return -ENOENT;
	}
	return 0;
}

struct frame_slot {
	uint32_t len;
	uint8_t data[FRAME_MAX];
};

struct user_timer {
	struct user_timer *next;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms;		/* -1: not armed */
};

struct net_user {
	struct net_backend be;
	struct net_rx_sink sink;
	pthread_t thread;
	int wake_fd;			/* eventfd: frames queued, notify, stop */
	int tx_wake_fd;			/* eventfd: room again after -ENOBUFS */
	bool full;			/* __atomic: a send() found the ring full */
	bool stop;			/* __atomic */
	/* __atomic: wake_fd was written and the ring not drained since */
	bool kicked;

	/*
	 * Frame ring: any number of producers, serialised by ring_lock; one
	 * consumer, the backend thread, which never takes the lock. A slot
	 * stays the consumer's until tail moves past it.
	 */
	pthread_mutex_t ring_lock;
	uint32_t head;			/* __atomic, written under ring_lock */
	uint32_t tail;			/* __atomic, written by the backend thread */
	struct frame_slot *slots;

	/* The backend thread's own. */
	struct slirp_api api;
	Slirp *slirp;
	struct pollfd *pfds;		/* [0] is wake_fd */
	int nr_pfds;
	int cap_pfds;
	struct user_timer *timers;

	/* Start-up: open() waits on ready until the thread has a verdict. */
	sem_t ready;
	int start_rc;
	const struct net_user_opts *opts;
	char *err;
	size_t errlen;

	struct net_user_stats stats;	/* __atomic */
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static void count(uint64_t *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static void wake(struct net_user *u)
{
	/* Cannot fail short of 2^64 - 1 pending wake-ups. */
	(void)eventfd_write(u->wake_fd, 1);
}

/* Parsing "tcp:127.0.0.1:2222-:22". */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -EINVAL;
	}
	if (!v)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* "[addr]:port", modified in place. An empty address is allowed. */
static int parse_endpoint(char *s, char *addr, size_t addrlen, uint16_t *port)
{
	char *colon = strchr(s, ':');
	struct in_addr a;

	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (*s && inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	if (strlen(s) >= addrlen)
		return -EINVAL;
	strcpy(addr, s);
	return parse_port(colon + 1, port);
}

int net_parse_hostfwd(const char *s, struct net_hostfwd *out)
{
	struct net_hostfwd f = { 0 };
	char buf[128];
	char *colon, *dash;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	/* Like QEMU, an empty protocol means tcp. */
	if (!strcmp(buf, "udp"))
		f.udp = true;
	else if (buf[0] && strcmp(buf, "tcp"))
		return -EINVAL;
	dash = strchr(colon + 1, '-');
	if (!dash)
		return -EINVAL;
	*dash = '\0';
	if (parse_endpoint(colon + 1, f.host_addr, sizeof(f.host_addr), &f.host_port) ||
	    parse_endpoint(dash + 1, f.guest_addr, sizeof(f.guest_addr), &f.guest_port))
		return -EINVAL;
	*out = f;
	return 0;
}

/* The forward as the user wrote it, for messages. */
static void hostfwd_name(const struct net_hostfwd *f, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%s:%u-%s:%u", f->udp ? "udp" : "tcp", f->host_addr,
		 f->host_port, f->guest_addr, f->guest_port);
}

/* "" is INADDR_ANY; anything else must be a dotted quad. */
static bool addr_from(const char *s, struct in_addr *a)
{
	a->s_addr = htonl(INADDR_ANY);
	return !*s || inet_pton(AF_INET, s, a) == 1;
}

static int check_hostfwd(const struct net_hostfwd *f, char *err, size_t errlen)
{
	struct in_addr a;
	char name[160];

	if (!memchr(f->host_addr, '\0', sizeof(f->host_addr)) ||
	    !memchr(f->guest_addr, '\0', sizeof(f->guest_addr)))
		return fail(err, errlen, -EINVAL, "hostfwd: address not terminated");
	hostfwd_name(f, name, sizeof(name));
	if (!addr_from(f->host_addr, &a))
		return fail(err, errlen, -EINVAL, "hostfwd %s: bad host address", name);
	if (!addr_from(f->guest_addr, &a))
		return fail(err, errlen, -EINVAL, "hostfwd %s: bad guest address", name);
	if (!f->host_port || !f->guest_port)
		return fail(err, errlen, -EINVAL, "hostfwd %s: port 0", name);
	return 0;
}

static int check_opts(const struct net_user_opts *o, char *err, size_t errlen)
{
	int rc;

	if (!o || !o->sink.deliver)
		return fail(err, errlen, -EINVAL, "user network: no receive sink");
	if (o->nr_hostfwd > NET_MAX_HOSTFWD)
		return fail(err, errlen, -EINVAL, "user network: %u host forwards, at most %d",
			    o->nr_hostfwd, NET_MAX_HOSTFWD);
	if (o->nr_hostfwd && !o->hostfwd)
		return fail(err, errlen, -EINVAL, "user network: no host forward list");
	for (unsigned int i = 0; i < o->nr_hostfwd; i++) {
		rc = check_hostfwd(&o->hostfwd[i], err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

/* The guest's side: send() and the frame ring. */

static ssize_t frame_length(const struct iovec *iov, int iovcnt)
{
	size_t len = 0;

	if (iovcnt < 0 || (iovcnt && !iov))
		return -1;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > FRAME_MAX - len)
			return -1;
		len += iov[i].iov_len;
	}
	return len < FRAME_MIN ? -1 : (ssize_t)len;
}

static void copy_frame(struct frame_slot *slot, const struct iovec *iov, int iovcnt)
{
	size_t off = 0;

	for (int i = 0; i < iovcnt; i++) {
		memcpy(slot->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	slot->len = (uint32_t)off;
}

/*
 * Wake the backend thread unless an earlier send() already did and the
 * ring has not been drained since: one eventfd write per burst, not per
 * frame. The drain clears kicked before it reads head, so a frame whose
 * producer saw kicked set is always seen by that drain.
 */
static void kick(struct net_user *u)
{
	if (!__atomic_exchange_n(&u->kicked, true, __ATOMIC_SEQ_CST))
		wake(u);
}

static ssize_t user_send(struct net_backend *b, unsigned int queue, const struct iovec *iov,
			 int iovcnt)
{
	struct net_user *u = b->priv;
	ssize_t len = frame_length(iov, iovcnt);
	uint32_t head;

	if (queue >= b->nr_queues)
		return -EINVAL;
	if (len < 0) {
		count(&u->stats.tx_bad_size);
		return -EMSGSIZE;
	}
	pthread_mutex_lock(&u->ring_lock);
	head = u->head;
	if (head - __atomic_load_n(&u->tail, __ATOMIC_ACQUIRE) >= RING_SLOTS) {
		/* The device keeps the frame and waits for tx_wake_fd. */
		__atomic_store_n(&u->full, true, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&u->ring_lock);
		count(&u->stats.tx_ring_full);
		kick(u);
		return -ENOBUFS;
	}
	copy_frame(&u->slots[head % RING_SLOTS], iov, iovcnt);
	__atomic_store_n(&u->head, head + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&u->ring_lock);
	kick(u);
	return len;
}

/* Backend thread. */
static void drain_ring(struct net_user *u)
{
	uint32_t tail = u->tail;
	uint32_t head;

	(void)__atomic_exchange_n(&u->kicked, false, __ATOMIC_SEQ_CST);
	/*
	 * One snapshot: frames a sink queues from inside slirp_input() wait
	 * for the next round (they kicked the eventfd), so a sink that
	 * answers every frame cannot keep this loop from polling.
	 */
	head = __atomic_load_n(&u->head, __ATOMIC_ACQUIRE);
	while (tail != head) {
		struct frame_slot *slot = &u->slots[tail % RING_SLOTS];

		u->api.input(u->slirp, slot->data, (int)slot->len);
		__atomic_store_n(&u->tail, ++tail, __ATOMIC_RELEASE);
	}
	/* The ring has room again: a sender that found it full may go on. */
	if (__atomic_exchange_n(&u->full, false, __ATOMIC_SEQ_CST))
		(void)eventfd_write(u->tx_wake_fd, 1);
}

static ssize_t user_recv(struct net_backend *b, unsigned int queue, const struct iovec *iov,
			 int iovcnt)
{
	(void)b;
	(void)queue;
	(void)iov;
	(void)iovcnt;
	return -ENOTSUP;	/* frames arrive through sink.deliver() */
}

static int user_set_offloads(struct net_backend *b, unsigned int offloads)
{
	(void)b;
	return offloads ? -ENOTSUP : 0;
}

void net_user_get_stats(const struct net_backend *b, struct net_user_stats *out)
{
	struct net_user *u = b->priv;

	out->tx_bad_size = __atomic_load_n(&u->stats.tx_bad_size, __ATOMIC_RELAXED);
	out->tx_ring_full = __atomic_load_n(&u->stats.tx_ring_full, __ATOMIC_RELAXED);
	out->rx_dropped = __atomic_load_n(&u->stats.rx_dropped, __ATOMIC_RELAXED);
	out->guest_errors = __atomic_load_n(&u->stats.guest_errors, __ATOMIC_RELAXED);
}

/* Callbacks from slirp, all on the backend thread. */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_user *u = opaque;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	if (!u->sink.deliver(u->sink.opaque, &iov, 1))
		count(&u->stats.rx_dropped);
	/* A full guest queue is a drop, not an error: TCP retransmits. */
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct net_user *u = opaque;

	(void)msg;
	count(&u->stats.guest_errors);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ms(void)
{
	return cb_clock_get_ns(NULL) / 1000000;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct net_user *u = opaque;
	struct user_timer *t = calloc(1, sizeof(*t));

	/* slirp itself aborts when out of memory (g_malloc): do the same. */
	if (!t)
		abort();
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct net_user *u = opaque;
	struct user_timer **p = &u->timers;

	while (*p && *p != timer)
		p = &(*p)->next;
	if (!*p)
		return;
	*p = ((struct user_timer *)timer)->next;
	free(timer);
}

static void cb_timer_mod(void *timer, int64_t expire_time, void *opaque)
{
	struct user_timer *t = timer;

	(void)opaque;
	t->expire_ms = expire_time < 0 ? 0 : expire_time;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;	/* every round polls what u->api.pollfds_fill() lists */
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void cb_notify(void *opaque)
{
	wake(opaque);
}

static const SlirpCb user_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
};

static struct user_timer *due_timer(struct net_user *u, int64_t now)
{
	for (struct user_timer *t = u->timers; t; t = t->next)
		if (t->expire_ms >= 0 && t->expire_ms <= now)
			return t;
	return NULL;
}

static void fire_timers(struct net_user *u)
{
	int64_t now = now_ms();
	struct user_timer *t;

	/* A callback may re-arm or free any timer: look again after each. */
	while ((t = due_timer(u, now))) {
		t->expire_ms = -1;
		t->cb(t->cb_opaque);
	}
}

/* slirp's own timeout (ms, UINT32_MAX: none), shortened to the next timer. */
static int poll_timeout(struct net_user *u, uint32_t slirp_ms)
{
	int64_t now = now_ms();
	int64_t best = slirp_ms == UINT32_MAX ? -1 : (int64_t)slirp_ms;

	for (struct user_timer *t = u->timers; t; t = t->next) {
		int64_t left;

		if (t->expire_ms < 0)
			continue;
		left = t->expire_ms > now ? t->expire_ms - now : 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best > INT_MAX ? INT_MAX : (int)best;
}

static short to_poll_events(int events)
{
	short ev = 0;

	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	if (events & SLIRP_POLL_ERR)
		ev |= POLLERR;
	if (events & SLIRP_POLL_HUP)
		ev |= POLLHUP;
	return ev;
}

static int from_poll_events(short ev)
{
	int events = 0;

	if (ev & POLLIN)
		events |= SLIRP_POLL_IN;
	if (ev & POLLOUT)
		events |= SLIRP_POLL_OUT;
	if (ev & POLLPRI)
		events |= SLIRP_POLL_PRI;
	if (ev & POLLERR)
		events |= SLIRP_POLL_ERR;
	if (ev & POLLHUP)
		events |= SLIRP_POLL_HUP;
	return events;
}

static int add_poll(int fd, int events, void *opaque)
{
	struct net_user *u = opaque;

	if (u->nr_pfds == u->cap_pfds) {
		struct pollfd *p = realloc(u->pfds, 2 * u->cap_pfds * sizeof(*p));

		/* slirp leaves a socket it got -1 for unpolled this round. */
		if (!p)
			return -1;
		u->pfds = p;
		u->cap_pfds *= 2;
	}
	u->pfds[u->nr_pfds] = (struct pollfd){ .fd = fd, .events = to_poll_events(events) };
	return u->nr_pfds++;
}

static int get_revents(int idx, void *opaque)
{
	struct net_user *u = opaque;

	if (idx < 1 || idx >= u->nr_pfds)
		return 0;
	return from_poll_events(u->pfds[idx].revents);
}

static void poll_once(struct net_user *u)
{
	uint32_t slirp_ms = UINT32_MAX;
	eventfd_t v;
	int n;

	u->nr_pfds = 1;
	u->api.pollfds_fill(u->slirp, &slirp_ms, add_poll, u);
	n = poll(u->pfds, (nfds_t)u->nr_pfds, poll_timeout(u, slirp_ms));
	if (n > 0 && (u->pfds[0].revents & POLLIN))
		(void)eventfd_read(u->wake_fd, &v);
	u->api.pollfds_poll(u->slirp, n < 0, get_revents, u);
}

static int add_hostfwd(struct net_user *u, const struct net_hostfwd *f)
{
	struct in_addr host, guest;
	char name[160];
	int e;

	addr_from(f->host_addr, &host);
	addr_from(f->guest_addr, &guest);
	/* libslirp 4.7 leaves the socket call's errno; older ones may not. */
	errno = 0;
	if (!u->api.add_hostfwd(u->slirp, f->udp, host, f->host_port, guest, f->guest_port))
		return 0;
	e = errno ? errno : EIO;
	hostfwd_name(f, name, sizeof(name));
	if (e == EADDRINUSE)
		return fail(u->err, u->errlen, -e, "hostfwd %s: port %u is already in use",
			    name, f->host_port);
	return fail(u->err, u->errlen, -e, "hostfwd %s: cannot listen on port %u: %s", name,
		    f->host_port, strerror(e));
}

static int start_slirp(struct net_user *u)
{
	const struct net_user_opts *o = u->opts;
	SlirpConfig cfg = {
		.version = 4,
		.in_enabled = true,
		.vnetwork.s_addr = htonl(NET_ADDR),
		.vnetmask.s_addr = htonl(NET_MASK),
		.vhost.s_addr = htonl(HOST_ADDR),
		.vdhcp_start.s_addr = htonl(DHCP_START),
		.vnameserver.s_addr = htonl(DNS_ADDR),
		.vhostname = o->vm_name,
	};
	int rc;

	u->slirp = u->api.new_(&cfg, &user_callbacks, u);
	if (!u->slirp)
		return fail(u->err, u->errlen, -ENOMEM, "user network: cannot start libslirp");
	for (unsigned int i = 0; i < o->nr_hostfwd; i++) {
		rc = add_hostfwd(u, &o->hostfwd[i]);
		if (rc) {
			/* Closes the forwards already listening. */
			u->api.cleanup(u->slirp);
			u->slirp = NULL;
			return rc;
		}
	}
	return 0;
}

static void *user_thread(void *arg)
{
	struct net_user *u = arg;
	int rc = start_slirp(u);

	u->start_rc = rc;
	sem_post(&u->ready);	/* u->opts and u->err belong to open() again */
	if (rc)
		return NULL;
	for (;;) {
		drain_ring(u);
		fire_timers(u);
		if (__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE))
			break;
		poll_once(u);
	}
	u->api.cleanup(u->slirp);
	return NULL;
}

static int start_thread(struct net_user *u)
{
	sigset_t all, old;
	int e;

	/* Signals are for the vCPU and main threads, never this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&u->thread, NULL, user_thread, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		return fail(u->err, u->errlen, -e, "user network: thread: %s", strerror(e));
	pthread_setname_np(u->thread, "net-user");
	while (sem_wait(&u->ready) && errno == EINTR)
		;
	if (u->start_rc) {
		pthread_join(u->thread, NULL);
		return u->start_rc;
	}
	return 0;
}

static void user_free(struct net_user *u)
{
	while (u->timers)
		cb_timer_free(u->timers, u);
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	if (u->tx_wake_fd >= 0)
		close(u->tx_wake_fd);
	sem_destroy(&u->ready);
	pthread_mutex_destroy(&u->ring_lock);
	free(u->pfds);
	free(u->slots);
	if (u->api.lib)
		dlclose(u->api.lib);
	free(u);
}

static void user_close(struct net_backend *b)
{
	struct net_user *u = b->priv;

	__atomic_store_n(&u->stop, true, __ATOMIC_RELEASE);
	wake(u);
	pthread_join(u->thread, NULL);
	user_free(u);
}

static const struct net_backend_ops user_ops = {
	.send = user_send,
	.recv = user_recv,
	.set_offloads = user_set_offloads,
	.close = user_close,
};

static struct net_user *user_alloc(const struct net_user_opts *o)
{
	struct net_user *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->wake_fd = -1;
	u->tx_wake_fd = -1;
	pthread_mutex_init(&u->ring_lock, NULL);
	sem_init(&u->ready, 0, 0);
	u->sink = o->sink;
	u->be = (struct net_backend){
		.ops = &user_ops,
		.kind = "user",
		.nr_queues = 1,
		.priv = u,
	};
	for (int i = 0; i < NET_MAX_QUEUES; i++)
		u->be.rx_fds[i] = -1;
	/* Untouched pages cost nothing: only slots in use become resident. */
	u->slots = calloc(RING_SLOTS, sizeof(*u->slots));
	u->cap_pfds = PFDS_INITIAL;
	u->pfds = calloc((size_t)u->cap_pfds, sizeof(*u->pfds));
	u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->tx_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!u->slots || !u->pfds || u->wake_fd < 0 || u->tx_wake_fd < 0) {
		int e = errno;

		user_free(u);
		errno = e;
		return NULL;
	}
	u->pfds[0] = (struct pollfd){ .fd = u->wake_fd, .events = POLLIN };
	u->be.tx_wake_fd = u->tx_wake_fd;
	return u;
}

int net_user_open(struct net_backend **out, const struct net_user_opts *o, char *err,
		  size_t errlen)
{
	struct net_user *u;
	int rc = check_opts(o, err, errlen);

	if (rc)
		return rc;
	u = user_alloc(o);
	if (!u)
		return fail(err, errlen, -ENOMEM, "user network: %s", strerror(errno));
	rc = slirp_api_load(&u->api, err, errlen);
	if (rc) {
		user_free(u);
		return rc;
	}
	u->opts = o;
	u->err = err;
	u->errlen = errlen;
	rc = start_thread(u);
	u->opts = NULL;
	u->err = NULL;
	if (rc) {
		user_free(u);
		return rc;
	}
	*out = &u->be;
	return 0;
}
