// SPDX-License-Identifier: MIT
/*
 * net_guest.elf: a virtio-net benchmark guest for skiff and QEMU q35.
 *
 * Built like blk_guest.elf and for the same reason: at CPL0 (emulated,
 * ~1 us an instruction on kvm_pvm) it only sets the device up with the
 * tests/guests driver library and finds the ACPI PM timer; then it makes
 * the identity map user-accessible, loads a GDT with user segments and a
 * TSS whose I/O bitmap allows every port (kvm_pvm ignores IOPL), and
 * irets to CPL3 with interrupts off (all of that in cpl3.c, shared with
 * blk_guest.c). There it calibrates the TSC against the PM timer and runs
 * one phase, polling the used rings:
 *
 *   mode=tx  keep transmitq1 full of len-byte frames for seconds=S and
 *            count the completions
 *   mode=rx  post receive buffers, print "BENCH READY", and from the
 *            first frame on count what arrives for S seconds, giving
 *            every buffer straight back
 *   mode=udp IPv4/UDP through user-mode networking (libslirp, QEMU's and
 *            skiff's alike): ask for the MAC of the host, 10.0.2.2, with
 *            one ARP request (slirp's 52:55:0a:00:02:02 if no reply comes
 *            within a second), then keep transmitq1 full of len-byte
 *            datagrams from 10.0.2.15 to 10.0.2.2:port (slirp hands them
 *            to the host's loopback) for S seconds, like mode=tx
 *
 * and prints one line (rates from the calibrated TSC; mbps = 10^6 bit/s
 * of Ethernet frame, without the virtio-net header and the FCS, or of UDP
 * payload for mode=udp):
 *   RESULT tx64 pps=N mbps=N.N frames=N us=N
 *   RESULT rx1514 mbps=N.N pps=N frames=N us=N bad=N
 *   RESULT udp1472 mbps=N.N pps=N frames=N us=N bad=0
 * pps comes first for lengths up to 128, mbps for larger ones (what
 * bench/net.sh reports for each). bad counts received frames whose
 * length is not len (noise on the tap).
 *
 * Command line: mode=tx|rx|udp (tx), len=60..1514 (1514; for udp the
 * payload, 18..1472 (1472): 18 fills the 60-byte minimum frame, 1472 the
 * 1514-byte maximum), seconds=S (5), port=1..65535 (udp only, required).
 * Features: VERSION_1, MAC, STATUS, MRG_RXBUF, EVENT_IDX when offered,
 * what a Linux guest takes minus the offloads.
 */
#include "../tests/guests/virtio.h"
#include "cpl3.h"

#define ETH_P_SKNT	0x88b5
#define ETH_P_IP	0x0800
#define ETH_P_ARP	0x0806
#define ETH_HLEN	14
#define FRAME_MIN	60
#define FRAME_MAX	1514
/* mode=udp: IPv4 without options, then UDP; len= counts the payload. */
#define IP_HLEN		20
#define UDP_HLEN	8
#define UDP_MIN		(FRAME_MIN - ETH_HLEN - IP_HLEN - UDP_HLEN)
#define UDP_MAX		(FRAME_MAX - ETH_HLEN - IP_HLEN - UDP_HLEN)
#define IPPROTO_UDP	17
#define IP_DF		0x4000
#define ARP_LEN		28	/* Ethernet/IPv4 ARP, after the Ethernet header */
/* QEMU's user-mode network, which libslirp (and so skiff) lays out alike. */
#define GUEST_IP	0x0a00020fu	/* 10.0.2.15 */
#define HOST_IP		0x0a000202u	/* 10.0.2.2: the host's loopback */
#define UDP_SRC_PORT	49152
#define HDR_LEN		((uint32_t)sizeof(struct virtio_net_hdr))
#define RX_BUF		2048
/* How long rx waits for the host's first frame. */
#define FIRST_FRAME_S	30

static struct {
	struct virtio_dev dev;
	struct virtq *rxq, *txq;
	const char *cl;
	char mode[8];
	uint32_t len;		/* frame (tx, rx) or UDP payload (udp) */
	uint32_t frame_len;	/* what run_tx() sends, after the header */
	uint16_t port;		/* udp: the host's port */
	uint8_t mac[ETH_ALEN], host_mac[ETH_ALEN];
	uint64_t seconds;
	struct pm_timer pm;
	uint64_t tsc_hz;
} b;

static const uint8_t broadcast_mac[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
/* What slirp answers for 10.0.2.2 (0x52, 0x55, then the address). */
static const uint8_t slirp_host_mac[ETH_ALEN] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };

static uint8_t rx_bufs[VIRTQ_MAX][RX_BUF] __attribute__((aligned(4096)));
static uint16_t rx_slot[VIRTQ_MAX];
static uint8_t tx_frame[HDR_LEN + FRAME_MAX] __attribute__((aligned(64)));

static uint64_t param(const char *key, uint64_t def)
{
	uint64_t v;

	return cmdline_u64(b.cl, key, &v) ? v : def;
}

/* len= within min..max (default max), else bench_fail(why). */
static uint32_t param_len(uint32_t min, uint32_t max, const char *why)
{
	uint64_t v = param("len", max);

	if (v < min || v > max)
		bench_fail(why);
	return (uint32_t)v;
}

/* Network byte order. */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* An Ethernet header from our MAC at f; returns where the payload goes. */
static uint8_t *eth_header(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, b.mac, ETH_ALEN);
	put16(f + 2 * ETH_ALEN, type);
	return f + ETH_HLEN;
}

/* CPL0 set-up */

static void setup_net(void)
{
	static struct pci_dev devs[64];
	const uint64_t want = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	struct pci_mmio_alloc mmio;
	const struct pci_dev *p = NULL;
	unsigned int n = pci_enumerate(devs, 64), i;

	for (i = 0; i < n && !p; i++)
		if (virtio_pci_id(&devs[i]) == VIRTIO_ID_NET)
			p = &devs[i];
	if (!p)
		bench_fail("no virtio-net device on PCI bus 0");
	pci_mmio_alloc_init(&mmio, devs, n);
	if (!pci_dev_setup(p, &mmio) || !virtio_attach(&b.dev, p))
		bench_fail("virtio-net: BARs or capabilities unusable");
	if (!virtio_negotiate(&b.dev, want))
		bench_fail("virtio-net: feature negotiation failed");
	if (!virtq_setup(&b.dev, VIRTIO_NET_RXQ, VIRTQ_MAX) ||
	    !virtq_setup(&b.dev, VIRTIO_NET_TXQ, VIRTQ_MAX))
		bench_fail("virtio-net: queue set-up failed");
	virtio_driver_ok(&b.dev);
	b.rxq = &b.dev.vq[VIRTIO_NET_RXQ];
	b.txq = &b.dev.vq[VIRTIO_NET_TXQ];
}

/* One broadcast frame of b.len bytes after a zero header, sent over and over. */
static void build_tx_frame(void)
{
	memcpy(eth_header(tx_frame + HDR_LEN, broadcast_mac, ETH_P_SKNT), "SKNTBNCH", 8);
}

/* Every receive buffer to the device (the ring holds them all). */
static void fill_rx(void)
{
	struct virtq_buf buf = { 0, RX_BUF, true };
	unsigned int i;
	int head;

	for (i = 0; i < b.rxq->size; i++) {
		buf.addr = (uint64_t)rx_bufs[i];
		head = virtq_add(b.rxq, &buf, 1);
		if (head < 0)
			bench_fail("virtio-net: receive ring full early");
		rx_slot[head] = (uint16_t)i;
	}
	virtq_kick(b.rxq);
}

static void __attribute__((noreturn)) user_main(void);

int guest_main(const struct hvm_start_info *si)
{
	uint64_t port;
	unsigned int i;

	b.cl = cmdline(si);
	printf_("BENCH cmdline \"%s\"\n", b.cl);
	if (!cmdline_get(b.cl, "mode", b.mode, sizeof(b.mode)))
		memcpy(b.mode, "tx", 3);
	b.seconds = param("seconds", 5);
	if (!strncmp(b.mode, "tx", 3) || !strncmp(b.mode, "rx", 3)) {
		b.len = param_len(FRAME_MIN, FRAME_MAX, "len= must be 60..1514");
		b.frame_len = b.len;
	} else if (!strncmp(b.mode, "udp", 4)) {
		b.len = param_len(UDP_MIN, UDP_MAX, "len= must be 18..1472 for mode=udp");
		b.frame_len = ETH_HLEN + IP_HLEN + UDP_HLEN + b.len;
		port = param("port", 0);
		if (!port || port > 0xffff)
			bench_fail("mode=udp needs port=1..65535");
		b.port = (uint16_t)port;
	} else {
		bench_fail("mode= must be tx, rx or udp");
	}
	pm_timer_find(si, &b.pm);
	setup_net();
	for (i = 0; i < ETH_ALEN; i++)
		b.mac[i] = virtio_cfg8(&b.dev, VIRTIO_NET_CFG_MAC + i);
	if (b.mode[0] == 't')
		build_tx_frame();
	else
		fill_rx();	/* udp: for the ARP reply */
	printf_("BENCH features=0x%lx rxq=%u txq=%u mrg=%u event_idx=%u pm_port=0x%x\n",
		b.dev.features, b.rxq->size, b.txq->size,
		!!(b.dev.features & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)), b.txq->event_idx,
		b.pm.port);
	cpl3_enter(user_main);
}

/* CPL3 from here on: no privileged instruction, port I/O through the TSS. */

/* "RESULT <dir><len> ..." with the headline metric first (see the top). */
static void report(const char *dir, uint64_t frames, uint64_t bytes, uint64_t cycles,
		   uint64_t bad, bool broken)
{
	uint64_t us = cycles * 1000000 / b.tsc_hz, pps, mbps10;

	if (!us)
		us = 1;
	if (broken)
		printf_("BENCH-ERROR %s: the device returned a descriptor not in flight\n", dir);
	pps = frames * 1000000 / us;
	mbps10 = bytes * 8 * 10 / us;	/* bits per us = 10^6 bit/s */
	if (b.len <= 128)
		printf_("RESULT %s%u pps=%lu mbps=%lu.%lu frames=%lu us=%lu bad=%lu\n", dir,
			b.len, pps, mbps10 / 10, mbps10 % 10, frames, us, bad);
	else
		printf_("RESULT %s%u mbps=%lu.%lu pps=%lu frames=%lu us=%lu bad=%lu\n", dir,
			b.len, mbps10 / 10, mbps10 % 10, pps, frames, us, bad);
}

/* Give the buffer of a completed receive chain back (kicked later). */
static void rx_recycle(int head)
{
	uint16_t slot = rx_slot[head];
	struct virtq_buf buf = { (uint64_t)rx_bufs[slot], RX_BUF, true };

	head = virtq_add(b.rxq, &buf, 1);	/* room: one was just freed */
	if (head >= 0)
		rx_slot[head] = slot;
}

/* The frame of b.frame_len bytes in tx_frame, for S seconds; dir names it. */
static void run_tx(const char *dir)
{
	struct virtq_buf buf = { (uint64_t)tx_frame, HDR_LEN + b.frame_len, false };
	uint64_t start = rdtsc(), end = start + b.seconds * b.tsc_hz, done = 0, t;
	uint32_t len;
	int head = -1;

	for (;;) {
		t = rdtsc();
		while (t < end && b.txq->num_free)
			virtq_add(b.txq, &buf, 1);
		virtq_kick(b.txq);
		while ((head = virtq_poll(b.txq, &len)) >= 0)
			done++;
		if (head == -2 || (t >= end && b.txq->num_free == b.txq->size))
			break;
		/* In flight after the end: wait for them, but not for ever. */
		if (t >= end + b.tsc_hz)
			break;
	}
	report(dir, done, done * b.len, rdtsc() - start, 0, head == -2);
}

static void run_rx(void)
{
	uint64_t start, end, frames = 0, bytes = 0, bad = 0, t;
	uint32_t len;
	int head;

	printf_("BENCH READY\n");
	start = rdtsc();
	while ((head = virtq_poll(b.rxq, &len)) == -1)
		if (rdtsc() - start > FIRST_FRAME_S * b.tsc_hz)
			bench_fail("rx: no frame from the host");
	start = rdtsc();
	end = start + b.seconds * b.tsc_hz;
	for (;;) {
		for (; head >= 0; head = virtq_poll(b.rxq, &len)) {
			/* 2 KiB buffers: with MRG_RXBUF too, one frame per buffer. */
			uint32_t flen = len > HDR_LEN ? len - HDR_LEN : 0;

			frames++;
			bytes += flen;
			bad += flen != b.len;
			rx_recycle(head);
		}
		if (head == -2)
			break;
		virtq_kick(b.rxq);
		t = rdtsc();
		if (t >= end)
			break;
		head = virtq_poll(b.rxq, &len);
	}
	report("rx", frames, bytes, rdtsc() - start, bad, head == -2);
}

/* "Who has 10.0.2.2? Tell 10.0.2.15", padded to the minimum frame. */
static void build_arp_request(uint8_t *f)
{
	uint8_t *a = eth_header(f, broadcast_mac, ETH_P_ARP);

	memset(a, 0, FRAME_MIN - ETH_HLEN);
	put16(a, 1);			/* hardware: Ethernet */
	put16(a + 2, ETH_P_IP);
	a[4] = ETH_ALEN;
	a[5] = 4;
	put16(a + 6, 1);		/* request */
	memcpy(a + 8, b.mac, ETH_ALEN);
	put32(a + 14, GUEST_IP);
	put32(a + 24, HOST_IP);		/* target MAC (18..23) unknown: 0 */
}

/* A frame of len bytes that is 10.0.2.2's ARP reply: its MAC to b.host_mac. */
static bool arp_reply(const uint8_t *f, uint32_t len)
{
	const uint8_t *a = f + ETH_HLEN;

	if (len < ETH_HLEN + ARP_LEN || get16(f + 2 * ETH_ALEN) != ETH_P_ARP)
		return false;
	if (get16(a) != 1 || get16(a + 2) != ETH_P_IP || a[4] != ETH_ALEN || a[5] != 4 ||
	    get16(a + 6) != 2 || get32(a + 14) != HOST_IP)
		return false;
	memcpy(b.host_mac, a + 8, ETH_ALEN);
	return true;
}

/*
 * One ARP request for 10.0.2.2 (which also tells slirp our MAC) and up to
 * a second for the answer; without one, slirp's fixed MAC for it. Reaps
 * the request's completion, so that run_tx() counts datagrams only.
 */
static void arp_resolve(void)
{
	static uint8_t req[HDR_LEN + FRAME_MIN] __attribute__((aligned(64)));
	struct virtq_buf buf = { (uint64_t)req, sizeof(req), false };
	const uint8_t *m = b.host_mac;
	bool sent = false, answered = false;
	uint64_t end;
	uint32_t len;
	int head;

	memcpy(b.host_mac, slirp_host_mac, ETH_ALEN);
	build_arp_request(req + HDR_LEN);
	if (virtq_add(b.txq, &buf, 1) < 0)
		bench_fail("udp: transmit ring full early");
	virtq_kick(b.txq);
	end = rdtsc() + b.tsc_hz;
	while (!(sent && answered) && rdtsc() < end) {
		head = virtq_poll(b.txq, &len);
		if (head == -2)
			bench_fail("udp: the device returned a descriptor not in flight");
		sent |= head >= 0;
		head = virtq_poll(b.rxq, &len);
		if (head == -2)
			bench_fail("udp: the device returned a descriptor not in flight");
		if (head < 0)
			continue;
		if (!answered && len > HDR_LEN &&
		    arp_reply(rx_bufs[rx_slot[head]] + HDR_LEN, len - HDR_LEN))
			answered = true;
		rx_recycle(head);
		virtq_kick(b.rxq);
	}
	if (!sent)
		bench_fail("udp: the ARP request was not sent within a second");
	printf_("BENCH arp 10.0.2.2 is-at %02x:%02x:%02x:%02x:%02x:%02x (%s)\n", m[0], m[1],
		m[2], m[3], m[4], m[5], answered ? "reply" : "no reply: slirp's default");
}

/* The IPv4 header checksum (RFC 1071) over n bytes, its own field 0. */
static uint16_t ip_checksum(const uint8_t *p, unsigned int n)
{
	uint32_t sum = 0;
	unsigned int i;

	for (i = 0; i < n; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * One datagram of b.len bytes from 10.0.2.15 to 10.0.2.2:port after a
 * zero header, sent over and over. UDP checksum 0: none, allowed over IPv4.
 */
static void build_udp_frame(void)
{
	uint8_t *ip = eth_header(tx_frame + HDR_LEN, b.host_mac, ETH_P_IP);
	uint8_t *udp = ip + IP_HLEN;

	memset(ip, 0, IP_HLEN + UDP_HLEN);
	ip[0] = 0x45;			/* version 4, 5 32-bit words */
	put16(ip + 2, (uint16_t)(IP_HLEN + UDP_HLEN + b.len));
	put16(ip + 6, IP_DF);		/* id 0: never fragmented (RFC 6864) */
	ip[8] = 64;			/* TTL */
	ip[9] = IPPROTO_UDP;
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, HOST_IP);
	put16(ip + 10, ip_checksum(ip, IP_HLEN));
	put16(udp, UDP_SRC_PORT);
	put16(udp + 2, b.port);
	put16(udp + 4, (uint16_t)(UDP_HLEN + b.len));
	memcpy(udp + UDP_HLEN, "SKNTBNCH", 8);
}

static void __attribute__((noreturn)) user_main(void)
{
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	b.tsc_hz = tsc_calibrate(&b.pm);
	printf_("BENCH cpl=%u tsc_hz=%lu\n", cs & 3, b.tsc_hz);
	if (b.mode[0] == 't') {
		run_tx("tx");
	} else if (b.mode[0] == 'u') {
		arp_resolve();
		build_udp_frame();
		run_tx("udp");
	} else {
		run_rx();
	}
	printf_("BENCH done\n");
	debug_exit(0);
}
