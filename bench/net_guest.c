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
 *
 * and prints one line (rates from the calibrated TSC; mbps = 10^6 bit/s
 * of Ethernet frame, without the virtio-net header and the FCS):
 *   RESULT tx64 pps=N mbps=N.N frames=N us=N
 *   RESULT rx1514 mbps=N.N pps=N frames=N us=N bad=N
 * pps comes first for 64-byte frames, mbps for larger ones (what
 * bench/net.sh reports for each). bad counts received frames whose
 * length is not len (noise on the tap).
 *
 * Command line: mode=tx|rx (tx), len=60..1514 (1514), seconds=S (5).
 * Features: VERSION_1, MAC, STATUS, MRG_RXBUF, EVENT_IDX when offered,
 * what a Linux guest takes minus the offloads.
 */
#include "../tests/guests/virtio.h"
#include "cpl3.h"

#define ETH_P_SKNT	0x88b5
#define FRAME_MIN	60
#define FRAME_MAX	1514
#define HDR_LEN		((uint32_t)sizeof(struct virtio_net_hdr))
#define RX_BUF		2048
/* How long rx waits for the host's first frame. */
#define FIRST_FRAME_S	30

static struct {
	struct virtio_dev dev;
	struct virtq *rxq, *txq;
	const char *cl;
	char mode[8];
	uint32_t len;
	uint64_t seconds;
	struct pm_timer pm;
	uint64_t tsc_hz;
} b;

static uint8_t rx_bufs[VIRTQ_MAX][RX_BUF] __attribute__((aligned(4096)));
static uint16_t rx_slot[VIRTQ_MAX];
static uint8_t tx_frame[HDR_LEN + FRAME_MAX] __attribute__((aligned(64)));

static uint64_t param(const char *key, uint64_t def)
{
	uint64_t v;

	return cmdline_u64(b.cl, key, &v) ? v : def;
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
	uint8_t *f = tx_frame + HDR_LEN;
	unsigned int i;

	for (i = 0; i < ETH_ALEN; i++) {
		f[i] = 0xff;
		f[ETH_ALEN + i] = virtio_cfg8(&b.dev, VIRTIO_NET_CFG_MAC + i);
	}
	f[12] = ETH_P_SKNT >> 8;
	f[13] = ETH_P_SKNT & 0xff;
	memcpy(f + 14, "SKNTBNCH", 8);
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
	b.cl = cmdline(si);
	printf_("BENCH cmdline \"%s\"\n", b.cl);
	if (!cmdline_get(b.cl, "mode", b.mode, sizeof(b.mode)))
		memcpy(b.mode, "tx", 3);
	b.len = (uint32_t)param("len", FRAME_MAX);
	b.seconds = param("seconds", 5);
	if (b.len < FRAME_MIN || b.len > FRAME_MAX)
		bench_fail("len= must be 60..1514");
	if (strncmp(b.mode, "tx", 3) && strncmp(b.mode, "rx", 3))
		bench_fail("mode= must be tx or rx");
	pm_timer_find(si, &b.pm);
	setup_net();
	if (b.mode[0] == 'r')
		fill_rx();
	else
		build_tx_frame();
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

static void run_tx(void)
{
	struct virtq_buf buf = { (uint64_t)tx_frame, HDR_LEN + b.len, false };
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
	report("tx", done, done * b.len, rdtsc() - start, 0, head == -2);
}

static void run_rx(void)
{
	uint64_t start, end, frames = 0, bytes = 0, bad = 0, t;
	struct virtq_buf buf = { 0, RX_BUF, true };
	uint32_t len;
	uint16_t slot;
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
			slot = rx_slot[head];
			buf.addr = (uint64_t)rx_bufs[slot];
			head = virtq_add(b.rxq, &buf, 1);	/* room: one was just freed */
			if (head >= 0)
				rx_slot[head] = slot;
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

static void __attribute__((noreturn)) user_main(void)
{
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	b.tsc_hz = tsc_calibrate(&b.pm);
	printf_("BENCH cpl=%u tsc_hz=%lu\n", cs & 3, b.tsc_hz);
	if (b.mode[0] == 't')
		run_tx();
	else
		run_rx();
	printf_("BENCH done\n");
	debug_exit(0);
}
