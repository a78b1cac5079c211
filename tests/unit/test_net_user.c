// SPDX-License-Identifier: MIT
/*
 * The user-mode network backend (libslirp), driven like virtio-net drives
 * it: frames built here by hand go in through send(), and what slirp
 * answers is caught by a sink. DHCP, ARP, TCP from the guest to a socket
 * on the host and back through a host forward; hostfwd parsing and its
 * failure on a busy port; frames of bad sizes and a full frame ring.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/net.h"

#define GUEST_IP	0x0a00020fu	/* 10.0.2.15, the first DHCP lease */
#define HOST_IP		0x0a000202u	/* 10.0.2.2, the host */
#define ETH_IP		0x0800
#define ETH_ARP		0x0806
#define ETH_LOCAL	0x88b5		/* IEEE local experimental: slirp ignores it */
#define ETH_HLEN	14
#define IP_HLEN		20
#define TCP_SYN		0x02
#define TCP_ACK		0x10
#define BOOTP_LEN	548		/* fixed part, cookie and 308 bytes of options */
#define WAIT_MS		2000

#define MAX_FRAMES	256
#define FRAME_CAP	2048

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
/* slirp answers for 10.0.2.2 with 52:55 followed by the address. */
static const uint8_t slirp_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct frame {
	size_t len;
	uint8_t data[FRAME_CAP];
};

/* What the backend delivers into; the backend's thread writes, tests read. */
struct sink {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct frame frames[MAX_FRAMES];
	unsigned int nr;
	struct net_backend *b;	/* __atomic; set once open() returned */
	pthread_t test_thread;
	bool wrong_thread;	/* deliver() ran on the thread that called send() */
	bool answer_arp;	/* answer ARP requests for 10.0.2.15 */
	bool refuse;		/* deliver() says the guest had no room */
	bool hold;		/* deliver() waits while set */
	bool holding;		/* ... and is waiting now */
};

struct fx {
	struct sink sink;
	struct net_backend *b;
	char err[256];
};

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put_eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, type);
}

/*
 * The guest's IPv4 packet around the transport header and payload already
 * at f + 34 (l4len bytes, checksum field at csum_off): Ethernet and IP
 * headers, both checksums. Returns the frame's length.
 */
static size_t finish_ipv4(uint8_t *f, const uint8_t *eth_dst, uint8_t proto, uint32_t src,
			  uint32_t dst, size_t l4len, size_t csum_off)
{
	uint8_t *ip = f + ETH_HLEN, *l4 = ip + IP_HLEN;
	uint32_t sum;
	uint16_t c;

	put_eth(f, eth_dst, ETH_IP);
	memset(ip, 0, IP_HLEN);
	ip[0] = 0x45;
	put16(ip + 2, (uint32_t)(IP_HLEN + l4len));
	put16(ip + 4, 0x1234);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, fold(sum16(0, ip, IP_HLEN)));
	put16(l4 + csum_off, 0);
	sum = sum16(0, ip + 12, 8) + proto + (uint32_t)l4len;
	c = fold(sum16(sum, l4, l4len));
	if (proto == IPPROTO_UDP && !c)
		c = 0xffff;
	put16(l4 + csum_off, c);
	return ETH_HLEN + IP_HLEN + l4len;
}

static size_t build_udp(uint8_t *f, const uint8_t *eth_dst, uint32_t src, uint16_t sport,
			uint32_t dst, uint16_t dport, size_t payload)
{
	uint8_t *udp = f + ETH_HLEN + IP_HLEN;

	put16(udp, sport);
	put16(udp + 2, dport);
	put16(udp + 4, (uint32_t)(8 + payload));
	return finish_ipv4(f, eth_dst, IPPROTO_UDP, src, dst, 8 + payload, 6);
}

static size_t build_dhcp_discover(uint8_t *f, uint32_t xid)
{
	uint8_t *bp = f + ETH_HLEN + IP_HLEN + 8;

	memset(bp, 0, BOOTP_LEN);
	bp[0] = 1;		/* BOOTREQUEST */
	bp[1] = 1;		/* Ethernet */
	bp[2] = 6;
	put32(bp + 4, xid);
	put16(bp + 10, 0x8000);	/* answer by broadcast: we have no address */
	memcpy(bp + 28, guest_mac, 6);
	put32(bp + 236, 0x63825363);
	bp[240] = 53;		/* DHCP message type */
	bp[241] = 1;
	bp[242] = 1;		/* DHCPDISCOVER */
	bp[243] = 255;
	return build_udp(f, broadcast, 0, 68, 0xffffffffu, 67, BOOTP_LEN);
}

static size_t build_arp(uint8_t *f, const uint8_t *eth_dst, uint16_t op, const uint8_t *tha,
			uint32_t tpa)
{
	uint8_t *a = f + ETH_HLEN;

	put_eth(f, eth_dst, ETH_ARP);
	put16(a, 1);
	put16(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, guest_mac, 6);
	put32(a + 14, GUEST_IP);
	memcpy(a + 18, tha, 6);
	put32(a + 24, tpa);
	return ETH_HLEN + 28;
}

static size_t build_syn(uint8_t *f, uint16_t sport, uint16_t dport, uint32_t seq)
{
	uint8_t *tcp = f + ETH_HLEN + IP_HLEN;

	memset(tcp, 0, 24);
	put16(tcp, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, seq);
	tcp[12] = 6 << 4;	/* 24 bytes: the header and an MSS option */
	tcp[13] = TCP_SYN;
	put16(tcp + 14, 65535);
	tcp[20] = 2;
	tcp[21] = 4;
	put16(tcp + 22, 1460);
	return finish_ipv4(f, slirp_mac, IPPROTO_TCP, GUEST_IP, HOST_IP, 24, 16);
}

/* A received frame's IPv4 packet, when it is one. */
struct ipv4 {
	uint8_t proto;
	uint32_t src, dst;
	const uint8_t *l4;
	size_t l4len;
};

static bool ipv4_of(const struct frame *fr, struct ipv4 *v)
{
	const uint8_t *ip = fr->data + ETH_HLEN;
	size_t hl, tot;

	if (fr->len < ETH_HLEN + IP_HLEN || get16(fr->data + 12) != ETH_IP || ip[0] >> 4 != 4)
		return false;
	hl = (size_t)(ip[0] & 15) * 4;
	tot = get16(ip + 2);
	if (hl < IP_HLEN || tot < hl || ETH_HLEN + tot > fr->len)
		return false;
	v->proto = ip[9];
	v->src = get32(ip + 12);
	v->dst = get32(ip + 16);
	v->l4 = ip + hl;
	v->l4len = tot - hl;
	return true;
}

static bool is_arp(const struct frame *fr, uint16_t op)
{
	return fr->len >= ETH_HLEN + 28 && get16(fr->data + 12) == ETH_ARP &&
	       get16(fr->data + ETH_HLEN + 6) == op;
}

/* The sink. */

static void answer_arp(struct sink *s, const struct frame *fr)
{
	struct net_backend *b = __atomic_load_n(&s->b, __ATOMIC_ACQUIRE);
	const uint8_t *req = fr->data + ETH_HLEN;
	uint8_t reply[ETH_HLEN + 28];
	struct iovec iov = { reply, 0 };

	if (!b || !is_arp(fr, 1) || get32(req + 24) != GUEST_IP)
		return;
	iov.iov_len = build_arp(reply, fr->data + 6, 2, req + 8, get32(req + 14));
	/* From the backend's own thread: send() only queues. */
	b->ops->send(b, 0, &iov, 1);
}

static bool sink_deliver(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct sink *s = opaque;
	struct frame fr = { 0 };
	bool answer, refuse;

	for (int i = 0; i < iovcnt; i++) {
		size_t n = iov[i].iov_len;

		if (n > FRAME_CAP - fr.len)
			n = FRAME_CAP - fr.len;
		memcpy(fr.data + fr.len, iov[i].iov_base, n);
		fr.len += n;
	}
	pthread_mutex_lock(&s->lock);
	if (pthread_equal(pthread_self(), s->test_thread))
		s->wrong_thread = true;
	if (s->nr < MAX_FRAMES)
		s->frames[s->nr++] = fr;
	while (s->hold) {
		s->holding = true;
		pthread_cond_broadcast(&s->cond);
		pthread_cond_wait(&s->cond, &s->lock);
	}
	s->holding = false;
	pthread_cond_broadcast(&s->cond);
	answer = s->answer_arp;
	refuse = s->refuse;
	pthread_mutex_unlock(&s->lock);
	if (answer)
		answer_arp(s, &fr);
	return !refuse;
}

typedef bool (*match_fn)(const struct frame *fr, const void *arg);

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* The first frame match() accepts, waiting up to ms for it. */
static bool wait_frame(struct sink *s, match_fn match, const void *arg, int ms, struct frame *out)
{
	struct timespec until;
	unsigned int seen = 0;
	bool found = false;

	deadline_in(&until, ms);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		for (; seen < s->nr && !found; seen++)
			found = match(&s->frames[seen], arg);
		if (found || pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
			break;
	}
	for (; seen < s->nr && !found; seen++)
		found = match(&s->frames[seen], arg);
	if (found)
		*out = s->frames[seen - 1];
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void set_flag(struct sink *s, bool *flag, bool v)
{
	pthread_mutex_lock(&s->lock);
	*flag = v;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	pthread_mutex_init(&f->sink.lock, NULL);
	pthread_cond_init(&f->sink.cond, NULL);
	f->sink.test_thread = pthread_self();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->b) {
		set_flag(&f->sink, &f->sink.hold, false);
		f->b->ops->close(f->b);
	}
	pthread_cond_destroy(&f->sink.cond);
	pthread_mutex_destroy(&f->sink.lock);
	free(f);
	return 0;
}

static int open_user(struct fx *f, const struct net_hostfwd *fwd, unsigned int nr)
{
	struct net_user_opts o = {
		.sink = { sink_deliver, &f->sink },
		.hostfwd = fwd,
		.nr_hostfwd = nr,
		.vm_name = "testvm",
	};
	int rc = net_user_open(&f->b, &o, f->err, sizeof(f->err));

	if (!rc)
		__atomic_store_n(&f->sink.b, f->b, __ATOMIC_RELEASE);
	return rc;
}

static ssize_t send_frame(struct fx *f, const uint8_t *frame, size_t len)
{
	struct iovec iov = { (void *)frame, len };

	return f->b->ops->send(f->b, 0, &iov, 1);
}

/* Host sockets. */

static int tcp_listener(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		close(fd);
		return -1;
	}
	if (bound)
		*bound = ntohs(a.sin_port);
	return fd;
}

/* A port nobody listens on right now (the kernel's pick). */
static uint16_t free_port(void)
{
	uint16_t port = 0;
	int fd = tcp_listener(0, &port);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

static unsigned int count_dir(const char *path)
{
	DIR *d = opendir(path);
	unsigned int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static struct net_user_stats stats_of(struct fx *f)
{
	struct net_user_stats st;

	net_user_get_stats(f->b, &st);
	return st;
}

/* Tests. */

static void test_parse_hostfwd_valid(void **state)
{
	struct net_hostfwd f;

	(void)state;
	assert_int_equal(net_parse_hostfwd("tcp:127.0.0.1:2222-:22", &f), 0);
	assert_false(f.udp);
	assert_string_equal(f.host_addr, "127.0.0.1");
	assert_int_equal(f.host_port, 2222);
	assert_string_equal(f.guest_addr, "");
	assert_int_equal(f.guest_port, 22);

	assert_int_equal(net_parse_hostfwd("udp::5353-10.0.2.15:53", &f), 0);
	assert_true(f.udp);
	assert_string_equal(f.host_addr, "");
	assert_int_equal(f.host_port, 5353);
	assert_string_equal(f.guest_addr, "10.0.2.15");
	assert_int_equal(f.guest_port, 53);

	/* QEMU takes an empty protocol for tcp. */
	assert_int_equal(net_parse_hostfwd("::65535-:1", &f), 0);
	assert_false(f.udp);
	assert_int_equal(f.host_port, 65535);
	assert_int_equal(f.guest_port, 1);
}

static void test_parse_hostfwd_invalid(void **state)
{
	static const char *const bad[] = {
		"", "tcp", "tcp:", "tcp::", "tcp::22", "tcp::22-", "tcp::22-22",
		"tcp:2222-:22", "sctp::22-:22", "TCP::22-:22", "tcp::0-:22",
		"tcp::65536-:22", "tcp::22-:0", "tcp::-:22", "tcp::22-:",
		"tcp::+22-:22", "tcp:: 22-:22", "tcp::22-:22x", "tcp::22-:22 ",
		"tcp::22-:22-:23", "tcp:localhost:22-:22", "tcp:1.2.3:22-:22",
		"tcp:1.2.3.4.5:22-:22", "tcp:::1:22-:22", "tcp:[::1]:22-:22",
		"tcp::22-10.0.2.256:22", "tcp::99999999999999999999-:22",
		"udp:127.0.0.1:5353-10.0.2.15:53:1",
	};
	char longer[300];
	struct net_hostfwd f;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (net_parse_hostfwd(bad[i], &f) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
	memset(longer, '0', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, "tcp::1", 6);
	assert_int_equal(net_parse_hostfwd(longer, &f), -EINVAL);
	assert_int_equal(net_parse_hostfwd(NULL, &f), -EINVAL);
}

static void test_open_checks(void **state)
{
	struct fx *f = *state;
	struct net_hostfwd fwd[NET_MAX_HOSTFWD + 1] = { 0 };
	struct net_user_opts o = { .sink = { NULL, &f->sink } };

	assert_int_equal(net_user_open(&f->b, &o, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "sink"));
	f->b = NULL;

	assert_int_equal(net_parse_hostfwd("tcp::2222-:22", &fwd[0]), 0);
	for (int i = 1; i <= NET_MAX_HOSTFWD; i++)
		fwd[i] = fwd[0];
	assert_int_equal(open_user(f, fwd, NET_MAX_HOSTFWD + 1), -EINVAL);
	assert_non_null(strstr(f->err, "host forwards"));
	f->b = NULL;

	strcpy(fwd[0].host_addr, "1.2.3");
	assert_int_equal(open_user(f, fwd, 1), -EINVAL);
	assert_non_null(strstr(f->err, "hostfwd tcp:1.2.3:2222-:22: bad host address"));
	f->b = NULL;
}

static void test_backend_fields(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];
	struct iovec iov = { buf, sizeof(buf) };

	assert_int_equal(open_user(f, NULL, 0), 0);
	assert_string_equal(f->b->kind, "user");
	assert_false(f->b->has_vnet_hdr);
	assert_int_equal(f->b->offload_caps, 0);
	assert_int_equal(f->b->nr_queues, 1);
	for (int i = 0; i < NET_MAX_QUEUES; i++)
		assert_int_equal(f->b->rx_fds[i], -1);
	assert_int_equal(f->b->ops->recv(f->b, 0, &iov, 1), -ENOTSUP);
	assert_int_equal(f->b->ops->set_offloads(f->b, 0), 0);
	assert_int_equal(f->b->ops->set_offloads(f->b, NET_OFFLOAD_CSUM), -ENOTSUP);
	assert_int_equal(f->b->ops->send(f->b, 1, &iov, 1), -EINVAL);
}

static bool match_dhcp_offer(const struct frame *fr, const void *arg)
{
	uint32_t xid = *(const uint32_t *)arg;
	struct ipv4 v;
	const uint8_t *bp;

	if (!ipv4_of(fr, &v) || v.proto != IPPROTO_UDP || v.l4len < 8 + 243)
		return false;
	bp = v.l4 + 8;
	return get16(v.l4) == 67 && get16(v.l4 + 2) == 68 && bp[0] == 2 &&
	       get32(bp + 4) == xid && get32(bp + 236) == 0x63825363;
}

/* The value of DHCP option code in the options at opt, or NULL. */
static const uint8_t *dhcp_option(const uint8_t *opt, const uint8_t *end, uint8_t code,
				  uint8_t *len)
{
	while (opt < end && *opt != 255) {
		if (*opt == 0) {
			opt++;
			continue;
		}
		if (opt + 2 > end || opt + 2 + opt[1] > end)
			return NULL;
		if (*opt == code) {
			*len = opt[1];
			return opt + 2;
		}
		opt += 2 + opt[1];
	}
	return NULL;
}

static void test_dhcp(void **state)
{
	struct fx *f = *state;
	uint8_t frame[ETH_HLEN + IP_HLEN + 8 + BOOTP_LEN];
	uint32_t xid = 0x5eed1234;
	const uint8_t *bp, *type, *name;
	struct frame fr;
	struct ipv4 v;
	uint8_t len;
	size_t n;

	assert_int_equal(open_user(f, NULL, 0), 0);
	n = build_dhcp_discover(frame, xid);
	assert_int_equal(send_frame(f, frame, n), (ssize_t)n);
	assert_true(wait_frame(&f->sink, match_dhcp_offer, &xid, 1000, &fr));
	assert_true(ipv4_of(&fr, &v));
	bp = v.l4 + 8;
	assert_int_equal(get32(bp + 16), GUEST_IP);	/* yiaddr */
	assert_memory_equal(bp + 28, guest_mac, 6);
	type = dhcp_option(bp + 240, v.l4 + v.l4len, 53, &len);
	assert_non_null(type);
	assert_int_equal(len, 1);
	assert_int_equal(*type, 2);			/* DHCPOFFER */
	name = dhcp_option(bp + 240, v.l4 + v.l4len, 12, &len);
	assert_non_null(name);
	assert_int_equal(len, strlen("testvm"));
	assert_memory_equal(name, "testvm", len);
	assert_false(f->sink.wrong_thread);
}

static bool match_arp_reply(const struct frame *fr, const void *arg)
{
	(void)arg;
	return is_arp(fr, 2) && get32(fr->data + ETH_HLEN + 14) == HOST_IP;
}

static void test_arp(void **state)
{
	struct fx *f = *state;
	uint8_t frame[ETH_HLEN + 28];
	static const uint8_t zero[6];
	struct iovec iov[3];
	const uint8_t *a;
	struct frame fr;
	size_t n = build_arp(frame, broadcast, 1, zero, HOST_IP);

	assert_int_equal(open_user(f, NULL, 0), 0);
	/*
	 * Once the backend sleeps in poll() (slirp's own timeout is a second
	 * when idle), only send()'s wake-up gets the answer back this soon.
	 */
	usleep(50000);
	/* Scattered, as guest buffers are. */
	iov[0] = (struct iovec){ frame, 5 };
	iov[1] = (struct iovec){ frame + 5, 20 };
	iov[2] = (struct iovec){ frame + 25, n - 25 };
	assert_int_equal(f->b->ops->send(f->b, 0, iov, 3), (ssize_t)n);
	assert_true(wait_frame(&f->sink, match_arp_reply, NULL, 500, &fr));
	a = fr.data + ETH_HLEN;
	assert_memory_equal(fr.data, guest_mac, 6);
	assert_memory_equal(fr.data + 6, slirp_mac, 6);
	assert_memory_equal(a + 8, slirp_mac, 6);
	assert_memory_equal(a + 18, guest_mac, 6);
	assert_int_equal(get32(a + 24), GUEST_IP);
	assert_false(f->sink.wrong_thread);
	assert_int_equal(stats_of(f).rx_dropped, 0);

	/* A guest without room: the backend counts the drop. */
	set_flag(&f->sink, &f->sink.refuse, true);
	assert_int_equal(send_frame(f, frame, n), (ssize_t)n);
	for (int i = 0; i < WAIT_MS / 10 && !stats_of(f).rx_dropped; i++)
		usleep(10000);
	assert_int_equal(stats_of(f).rx_dropped, 1);
}

struct tcp_match {
	uint32_t src, dst;
	uint16_t dport;
	uint8_t flags;
};

static bool match_tcp(const struct frame *fr, const void *arg)
{
	const struct tcp_match *m = arg;
	struct ipv4 v;

	if (!ipv4_of(fr, &v) || v.proto != IPPROTO_TCP || v.l4len < 20)
		return false;
	return (!m->src || v.src == m->src) && v.dst == m->dst && get16(v.l4 + 2) == m->dport &&
	       (v.l4[13] & (TCP_SYN | TCP_ACK)) == m->flags;
}

static void test_tcp_guest_to_host(void **state)
{
	struct fx *f = *state;
	struct tcp_match synack = { HOST_IP, GUEST_IP, 40000, TCP_SYN | TCP_ACK };
	uint8_t frame[ETH_HLEN + IP_HLEN + 24];
	struct pollfd pfd;
	struct frame fr;
	struct ipv4 v;
	uint16_t port;
	size_t n;
	int lfd, cfd;

	lfd = tcp_listener(0, &port);
	assert_true(lfd >= 0);
	f->sink.answer_arp = true;
	assert_int_equal(open_user(f, NULL, 0), 0);
	n = build_syn(frame, 40000, port, 1000);
	assert_int_equal(send_frame(f, frame, n), (ssize_t)n);

	/* slirp connects to the host's loopback for 10.0.2.2. */
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);

	/* The guest's side completes after slirp learned 10.0.2.15's MAC. */
	assert_true(wait_frame(&f->sink, match_tcp, &synack, WAIT_MS, &fr));
	assert_true(ipv4_of(&fr, &v));
	assert_int_equal(get16(v.l4), port);
	assert_int_equal(get32(v.l4 + 8), 1001);	/* acknowledges our SYN */
	assert_memory_equal(fr.data, guest_mac, 6);
	close(cfd);
	close(lfd);
}

static void test_hostfwd_host_to_guest(void **state)
{
	struct fx *f = *state;
	struct tcp_match syn = { 0, GUEST_IP, 2222, TCP_SYN };
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct net_hostfwd fwd;
	char spec[64];
	struct frame fr;
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(free_port());
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u-:2222", ntohs(a.sin_port));
	assert_int_equal(net_parse_hostfwd(spec, &fwd), 0);
	f->sink.answer_arp = true;
	assert_int_equal(open_user(f, &fwd, 1), 0);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_true(wait_frame(&f->sink, match_tcp, &syn, WAIT_MS, &fr));
	assert_memory_equal(fr.data, guest_mac, 6);
	close(fd);
}

static void test_hostfwd_port_in_use(void **state)
{
	struct fx *f = *state;
	struct net_hostfwd fwd[2];
	unsigned int fds, threads;
	uint16_t busy, spare;
	char spec[64], want[128];
	int lfd;

	/* Whatever libslirp or glib set up once is there before we count. */
	assert_int_equal(open_user(f, NULL, 0), 0);
	f->b->ops->close(f->b);
	f->b = NULL;

	lfd = tcp_listener(0, &busy);
	assert_true(lfd >= 0);
	spare = free_port();
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u-:22", spare);
	assert_int_equal(net_parse_hostfwd(spec, &fwd[0]), 0);
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u-:23", busy);
	assert_int_equal(net_parse_hostfwd(spec, &fwd[1]), 0);
	fds = count_dir("/proc/self/fd");
	threads = count_dir("/proc/self/task");

	assert_int_equal(open_user(f, fwd, 2), -EADDRINUSE);
	f->b = NULL;
	snprintf(want, sizeof(want), "hostfwd %s: port %u is already in use", spec, busy);
	assert_string_equal(f->err, want);

	/* Nothing left behind: no thread, no socket, the first forward's port free. */
	assert_int_equal(count_dir("/proc/self/fd"), fds);
	assert_int_equal(count_dir("/proc/self/task"), threads);
	close(lfd);
	lfd = tcp_listener(busy, NULL);
	assert_true(lfd >= 0);
	close(lfd);
	lfd = tcp_listener(spare, NULL);
	assert_true(lfd >= 0);
	close(lfd);
}

static void test_bad_sizes(void **state)
{
	struct fx *f = *state;
	static uint8_t big[65537];
	uint8_t arp[ETH_HLEN + 28];
	static const uint8_t zero[6];
	struct iovec two[2] = { { big, 40000 }, { big + 40000, 25537 } };
	struct frame fr;
	size_t n;

	assert_int_equal(open_user(f, NULL, 0), 0);
	put_eth(big, broadcast, ETH_LOCAL);
	assert_int_equal(f->b->ops->send(f->b, 0, NULL, 0), -EMSGSIZE);
	assert_int_equal(send_frame(f, big, 13), -EMSGSIZE);
	assert_int_equal(send_frame(f, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(f->b->ops->send(f->b, 0, two, 2), -EMSGSIZE);
	assert_int_equal(stats_of(f).tx_bad_size, 4);
	/* The limits themselves are frames. */
	assert_int_equal(send_frame(f, big, 14), 14);
	assert_int_equal(send_frame(f, big, 65536), 65536);
	assert_int_equal(stats_of(f).tx_bad_size, 4);

	/* And the backend still answers. */
	n = build_arp(arp, broadcast, 1, zero, HOST_IP);
	assert_int_equal(send_frame(f, arp, n), (ssize_t)n);
	assert_true(wait_frame(&f->sink, match_arp_reply, NULL, WAIT_MS, &fr));
}

static void test_ring_full_and_close(void **state)
{
	struct fx *f = *state;
	uint8_t frame[ETH_HLEN + IP_HLEN + 8 + 32] = { 0 };
	uint8_t arp[ETH_HLEN + 28];
	static const uint8_t zero[6];
	unsigned int fds, sent = 0, full = 0;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int ufd;
	size_t n;

	/* Somewhere for the queued datagrams to go, so slirp opens sockets. */
	ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(ufd >= 0);
	a = (struct sockaddr_in){ .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ufd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(ufd, (struct sockaddr *)&a, &alen), 0);
	fds = count_dir("/proc/self/fd");

	/* Stall the backend thread inside deliver(). */
	f->sink.hold = true;
	assert_int_equal(open_user(f, NULL, 0), 0);
	n = build_arp(arp, broadcast, 1, zero, HOST_IP);
	assert_int_equal(send_frame(f, arp, n), (ssize_t)n);
	pthread_mutex_lock(&f->sink.lock);
	while (!f->sink.holding)
		pthread_cond_wait(&f->sink.cond, &f->sink.lock);
	pthread_mutex_unlock(&f->sink.lock);

	for (unsigned int i = 0; i < 300; i++) {
		ssize_t rc;

		n = build_udp(frame, slirp_mac, GUEST_IP, (uint16_t)(5000 + i % 8), HOST_IP,
			      ntohs(a.sin_port), 32);
		rc = send_frame(f, frame, n);
		if (rc == -ENOBUFS)
			full++;
		else if (rc == (ssize_t)n)
			sent++;
	}
	assert_int_equal(sent + full, 300);
	assert_true(sent > 0);
	assert_true(full > 0);
	assert_int_equal(stats_of(f).tx_ring_full, full);

	/* Close with the ring full: slirp's sockets and every frame go. */
	set_flag(&f->sink, &f->sink.hold, false);
	f->b->ops->close(f->b);
	f->b = NULL;
	assert_int_equal(count_dir("/proc/self/fd"), fds);
	close(ufd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_hostfwd_valid),
		cmocka_unit_test(test_parse_hostfwd_invalid),
		cmocka_unit_test_setup_teardown(test_open_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_guest_to_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_host_to_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_port_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_full_and_close, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
