// SPDX-License-Identifier: MIT
/*
 * tapio: the host's end of a tap for tests/integration/net.sh and
 * bench/net.sh. Frames go in and out through an AF_PACKET socket bound to
 * the tap interface, so nothing here needs the tap's fd (the VMM has it)
 * and nothing leaves the tap: it has no address and no route.
 *
 *   tapio capture IFNAME SECONDS [COUNT]
 *       print every frame of ethertype 0x88b5 the VM sends, one line each,
 *       for SECONDS or until COUNT frames; "tapio: ready" on stderr once
 *       the socket is bound. Frames of tests/guests/virtio_net.c's format
 *       are checked (see there): a line is
 *         frame len=L dst=MAC src=MAC kind=K seq=S ok|bad:WHY|other
 *       and a bad or foreign frame is followed by its first 64 bytes in hex.
 *   tapio inject IFNAME DSTMAC COUNT
 *       send H2G frames seq 0..COUNT-1 to DSTMAC, from the tap's own MAC.
 *   tapio flood IFNAME DSTMAC LEN SECONDS [PPS]
 *       send LEN-byte frames as fast as possible (or PPS per second) for
 *       SECONDS, or until SIGTERM; prints
 *       "tapio: flood sent=N dropped=N seconds=S len=LEN": dropped
 *       frames found the tap's queue full (the VMM did not keep up).
 *   tapio listen SECONDS
 *       hold a TCP socket listening on 127.0.0.1 (a port the kernel picks,
 *       printed on stdout) for SECONDS: a port that is surely in use.
 *   tapio tapfd IFNAME FD COMMAND...
 *       attach to tap IFNAME (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) as fd FD
 *       and exec COMMAND with it, as a manager passing a tap fd would.
 *
 * Exit status: 0, 1 for a system error, 2 for bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETH_P_SKNT	0x88b5
#define FRAME_MIN	60
#define FRAME_MAX	1514
#define AFTER_SEQ	1000
#define BURST		32

/* flood stops early on SIGTERM or SIGINT, and still prints its count. */
static volatile sig_atomic_t stop_flood;

static void on_stop(int sig)
{
	(void)sig;
	stop_flood = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: tapio capture IFNAME SECONDS [COUNT]\n"
		"       tapio inject IFNAME DSTMAC COUNT\n"
		"       tapio flood IFNAME DSTMAC LEN SECONDS [PPS]\n"
		"       tapio listen SECONDS\n"
		"       tapio tapfd IFNAME FD COMMAND...\n");
	exit(2);
}

static unsigned long number(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "tapio: %s: '%s' is not a number\n", what, s);
		exit(2);
	}
	return v;
}

static void parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
	unsigned int b[ETH_ALEN];
	char tail;
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5], &tail) != ETH_ALEN) {
		fprintf(stderr, "tapio: '%s' is not a MAC address\n", s);
		exit(2);
	}
	for (i = 0; i < ETH_ALEN; i++)
		mac[i] = (uint8_t)b[i];
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The guest's frame format (tests/guests/virtio_net.c) */

static uint32_t frame_len(uint32_t seq)
{
	if (seq == 0)
		return FRAME_MAX;
	if (seq == 1)
		return FRAME_MIN;
	return FRAME_MIN + seq * 379 % (FRAME_MAX - FRAME_MIN + 1);
}

static uint32_t get16le(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32le(const uint8_t *p)
{
	return get16le(p) | get16le(p + 2) << 16;
}

static void put16le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void build_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src,
			const char *kind, uint32_t seq, uint32_t len)
{
	uint32_t i;

	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, src, ETH_ALEN);
	f[12] = ETH_P_SKNT >> 8;
	f[13] = ETH_P_SKNT & 0xff;
	memcpy(f + 14, "SKNT", 4);
	memcpy(f + 18, kind, 4);
	put16le(f + 22, seq);
	put16le(f + 24, seq >> 16);
	put16le(f + 26, len);
	for (i = 28; i < len; i++)
		f[i] = (uint8_t)(i * 3 + seq);
}

/* The pattern of a G2H, AFTR or HOST frame; NULL when it holds, else why. */
static const char *check_plain(const uint8_t *f, uint32_t len, uint32_t seq)
{
	uint32_t i;

	if (get16le(f + 26) != len)
		return "length-field";
	if (!memcmp(f + 18, "AFTR", 4) ? seq != AFTER_SEQ || len != frame_len(seq) :
	    len != frame_len(seq))
		return "length";
	for (i = 28; i < len; i++)
		if (f[i] != (uint8_t)(i * 3 + seq))
			return "pattern";
	return NULL;
}

/* An ECHO: our MAC as dst, then "SKNTECHO" and the H2G frame from 14 on. */
static const char *check_echo(const uint8_t *f, uint32_t len, const uint8_t *tap_mac,
			      uint32_t *seq)
{
	static uint8_t h2g[FRAME_MAX];
	uint32_t hlen;

	if (len < 36)
		return "short";
	*seq = get32le(f + 30);
	hlen = frame_len(*seq);
	if (get16le(f + 34) != hlen)
		return "inner-length-field";
	if (len != (hlen + 8 > FRAME_MAX ? FRAME_MAX : hlen + 8))
		return "length";
	if (memcmp(f, tap_mac, ETH_ALEN))
		return "dst";
	build_frame(h2g, f, f, "H2G ", *seq, hlen);
	if (memcmp(f + 22, h2g + 14, len - 22))
		return "content";
	return NULL;
}

static void print_mac(const char *name, const uint8_t *m)
{
	printf(" %s=%02x:%02x:%02x:%02x:%02x:%02x", name, m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void print_frame(const uint8_t *f, uint32_t len, const uint8_t *tap_mac)
{
	const char *why = NULL;
	bool ours = len >= 28 && !memcmp(f + 14, "SKNT", 4);
	char kind[5] = "?";
	uint32_t seq = 0, i;

	if (ours) {
		memcpy(kind, f + 18, 4);
		kind[4] = '\0';
		if (kind[3] == ' ')
			kind[3] = '\0';
		seq = get32le(f + 22);
		if (!strcmp(kind, "ECHO"))
			why = check_echo(f, len, tap_mac, &seq);
		else
			why = check_plain(f, len, seq);
	}
	printf("frame len=%u", len);
	print_mac("dst", f);
	print_mac("src", f + ETH_ALEN);
	if (ours)
		printf(" kind=%s seq=%u %s%s\n", kind, seq, why ? "bad:" : "ok", why ? why : "");
	else
		printf(" kind=? seq=- other\n");
	if (why || !ours) {
		printf("  hex:");
		for (i = 0; i < len && i < 64; i++)
			printf(" %02x", f[i]);
		printf("\n");
	}
}

/* Sockets */

static int packet_socket(const char *ifname, int *ifindex, uint8_t mac[ETH_ALEN])
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_SKNT));

	if (fd < 0) {
		perror("tapio: AF_PACKET socket");
		exit(1);
	}
	if (strlen(ifname) >= IFNAMSIZ) {
		fprintf(stderr, "tapio: interface name '%s' is too long\n", ifname);
		exit(2);
	}
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		fprintf(stderr, "tapio: interface %s: %s\n", ifname, strerror(errno));
		exit(1);
	}
	*ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		fprintf(stderr, "tapio: MAC of %s: %s\n", ifname, strerror(errno));
		exit(1);
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	sll.sll_protocol = htons(ETH_P_SKNT);
	sll.sll_ifindex = *ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "tapio: bind to %s: %s\n", ifname, strerror(errno));
		exit(1);
	}
	return fd;
}

static int capture(int argc, char **argv)
{
	static uint8_t buf[65536 + 64];
	unsigned long seconds, max = 0, count = 0;
	uint8_t tap_mac[ETH_ALEN];
	int fd, ifindex, one = 1;
	double end;

	if (argc < 4 || argc > 5)
		usage();
	seconds = number(argv[3], "SECONDS");
	if (argc == 5)
		max = number(argv[4], "COUNT");
	fd = packet_socket(argv[2], &ifindex, tap_mac);
	/* Our own injected frames are not the VM's. */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	setvbuf(stdout, NULL, _IOLBF, 0);
	fprintf(stderr, "tapio: ready\n");
	end = now() + seconds;
	while (!max || count < max) {
		struct pollfd p = { fd, POLLIN, 0 };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		double left = end - now();
		ssize_t n;

		if (left <= 0)
			break;
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		/* MSG_TRUNC: the real length, even of a frame bigger than buf. */
		n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n < 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if ((size_t)n > sizeof(buf))
			printf("frame len=%zd truncated-capture\n", n);
		else
			print_frame(buf, (uint32_t)n, tap_mac);
		count++;
	}
	fprintf(stderr, "tapio: %lu frames\n", count);
	return 0;
}

static int inject(int argc, char **argv)
{
	static uint8_t f[FRAME_MAX];
	uint8_t dst[ETH_ALEN], src[ETH_ALEN];
	unsigned long count, seq;
	int fd, ifindex;

	if (argc != 5)
		usage();
	parse_mac(argv[3], dst);
	count = number(argv[4], "COUNT");
	fd = packet_socket(argv[2], &ifindex, src);
	for (seq = 0; seq < count; seq++) {
		uint32_t len = frame_len((uint32_t)seq);

		build_frame(f, dst, src, "H2G ", (uint32_t)seq, len);
		if (send(fd, f, len, 0) != (ssize_t)len) {
			fprintf(stderr, "tapio: send frame %lu: %s\n", seq, strerror(errno));
			return 1;
		}
	}
	fprintf(stderr, "tapio: injected %lu frames\n", count);
	return 0;
}

static int flood(int argc, char **argv)
{
	static uint8_t f[FRAME_MAX];
	struct mmsghdr msgs[BURST];
	struct iovec iov;
	uint8_t dst[ETH_ALEN], src[ETH_ALEN];
	unsigned long len, seconds, pps = 0, sent = 0, dropped = 0;
	double start, end, t;
	int fd, ifindex, one = 1, i;

	if (argc < 6 || argc > 7)
		usage();
	parse_mac(argv[3], dst);
	len = number(argv[4], "LEN");
	seconds = number(argv[5], "SECONDS");
	if (argc == 7)
		pps = number(argv[6], "PPS");
	if (len < ETH_HLEN + 14 || len > FRAME_MAX) {
		fprintf(stderr, "tapio: LEN %lu: want %d..%d\n", len, ETH_HLEN + 14, FRAME_MAX);
		return 2;
	}
	fd = packet_socket(argv[2], &ifindex, src);
	/* Straight to the tap's transmit: no qdisc to queue or drop in. */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	build_frame(f, dst, src, "BNCH", 0, (uint32_t)len);
	iov = (struct iovec){ f, len };
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BURST; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	start = now();
	end = start + seconds;
	while (!stop_flood && (t = now()) < end) {
		int r;

		if (pps && sent + dropped >= (t - start) * pps) {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
			continue;
		}
		r = sendmmsg(fd, msgs, BURST, 0);
		if (r < 0) {
			/* The tap's queue is full: it dropped the burst's first
			 * frame and sendmmsg stopped there. */
			dropped++;
			sched_yield();
			continue;
		}
		sent += (unsigned long)r;
	}
	printf("tapio: flood sent=%lu dropped=%lu seconds=%.3f len=%lu\n", sent, dropped,
	       now() - start, len);
	return 0;
}

static int listen_cmd(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	unsigned long seconds;
	int fd;

	if (argc != 3)
		usage();
	seconds = number(argv[2], "SECONDS");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		perror("tapio: listen");
		return 1;
	}
	printf("%u\n", ntohs(a.sin_port));
	fflush(stdout);
	sleep((unsigned int)seconds);
	return 0;
}

static int tapfd(int argc, char **argv)
{
	struct ifreq ifr = { 0 };
	unsigned long want;
	int fd;

	if (argc < 5)
		usage();
	want = number(argv[3], "FD");
	if (strlen(argv[2]) >= IFNAMSIZ || want < 3 || want > 1000) {
		fprintf(stderr, "tapio: bad IFNAME or FD (3..1000)\n");
		return 2;
	}
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0) {
		perror("tapio: /dev/net/tun");
		return 1;
	}
	strcpy(ifr.ifr_name, argv[2]);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "tapio: TUNSETIFF %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	/* dup2 leaves the new fd without FD_CLOEXEC: the command inherits it. */
	if (fd != (int)want && (dup2(fd, (int)want) < 0 || close(fd) < 0)) {
		perror("tapio: dup2");
		return 1;
	}
	execvp(argv[4], argv + 4);
	fprintf(stderr, "tapio: exec %s: %s\n", argv[4], strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "capture"))
		return capture(argc, argv);
	if (!strcmp(argv[1], "inject"))
		return inject(argc, argv);
	if (!strcmp(argv[1], "flood"))
		return flood(argc, argv);
	if (!strcmp(argv[1], "listen"))
		return listen_cmd(argc, argv);
	if (!strcmp(argv[1], "tapfd"))
		return tapfd(argc, argv);
	usage();
	return 2;
}
