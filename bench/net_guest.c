// SPDX-License-Identifier: MIT
/*
 * net_guest.elf: a virtio-net benchmark guest for skiff and QEMU q35.
 *
 * Built like blk_guest.elf and for the same reason: at CPL0 (emulated,
 * ~1 us an instruction on kvm_pvm) it only sets the device up with the
 * tests/guests driver library and finds the ACPI PM timer; then it makes
 * the identity map user-accessible, loads a GDT with user segments and a
 * TSS whose I/O bitmap allows every port (kvm_pvm ignores IOPL), and
 * irets to CPL3 with interrupts off. There it calibrates the TSC against
 * the PM timer and runs one phase, polling the used rings:
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

#define SEL_KCODE	0x08
#define SEL_KDATA	0x10
#define SEL_UDATA	0x18
#define SEL_UCODE	0x20
#define SEL_TSS		0x28
#define TSS_TYPE_AVAIL	0x9
#define DESC_PRESENT	0x80
#define RPL3		3
#define RFLAGS_IOPL3	0x3000
#define RFLAGS_FIXED	0x0002
#define CR4_SMEP	(1UL << 20)
#define CR4_SMAP	(1UL << 21)
#define PTE_P		0x001ULL
#define PTE_U		0x004ULL
#define PTE_ADDR	0x000ffffffffff000ULL

#define PM_TIMER_HZ	3579545ULL
#define FADT_PM_TMR_BLK	76
#define FADT_FLAGS	112
#define FADT_X_PM_TMR	208
#define FADT_TMR_VAL_EXT (1U << 8)

#define ETH_P_SKNT	0x88b5
#define FRAME_MIN	60
#define FRAME_MAX	1514
#define HDR_LEN		((uint32_t)sizeof(struct virtio_net_hdr))
#define RX_BUF		2048
#define USER_STACK	(64 * 1024)
/* How long rx waits for the host's first frame. */
#define FIRST_FRAME_S	30

static struct {
	struct virtio_dev dev;
	struct virtq *rxq, *txq;
	const char *cl;
	char mode[8];
	uint32_t len;
	uint64_t seconds;
	uint16_t pm_port;
	uint32_t pm_mask;
	uint64_t tsc_hz;
} b;

static uint8_t rx_bufs[VIRTQ_MAX][RX_BUF] __attribute__((aligned(4096)));
static uint16_t rx_slot[VIRTQ_MAX];
static uint8_t tx_frame[HDR_LEN + FRAME_MAX] __attribute__((aligned(64)));
static uint8_t user_stack[USER_STACK] __attribute__((aligned(16)));

/* See blk_guest.c: kvm_pvm's user mode consults the I/O bitmap, not IOPL. */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
	uint8_t iomap[65536 / 8 + 1];
} __attribute__((packed));

static struct tss64 tss __attribute__((aligned(16)));

/* Written by ltr (the busy bit), so not const. */
static uint64_t user_gdt[] __attribute__((aligned(16))) = {
	0,
	0x00af9a000000ffffULL,	/* SEL_KCODE, as entry.S loaded it */
	0x00cf92000000ffffULL,	/* SEL_KDATA */
	0x00cff2000000ffffULL,	/* SEL_UDATA: DPL 3 */
	0x00affa000000ffffULL,	/* SEL_UCODE: 64-bit, DPL 3 */
	0, 0,			/* SEL_TSS, from load_tss() */
};

static void __attribute__((noreturn)) fail(const char *why)
{
	printf_("BENCH-ERROR %s\n", why);
	debug_exit(1);
}

static uint64_t param(const char *key, uint64_t def)
{
	uint64_t v;

	return cmdline_u64(b.cl, key, &v) ? v : def;
}

/* CPL0 set-up */

static uint32_t fadt_u32(const struct acpi_header *f, uint32_t off)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)f + off, 4);
	return v;
}

static void find_pm_timer(const struct hvm_start_info *si)
{
	const struct acpi_header *fadt = acpi_lookup(si, "FACP");
	uint64_t x = 0;

	if (!fadt)
		fail("no FADT: cannot calibrate the TSC against the PM timer");
	b.pm_port = (uint16_t)fadt_u32(fadt, FADT_PM_TMR_BLK);
	if (!b.pm_port && fadt->length >= FADT_X_PM_TMR + 12 &&
	    ((const uint8_t *)fadt)[FADT_X_PM_TMR] == 1) {
		memcpy(&x, (const uint8_t *)fadt + FADT_X_PM_TMR + 4, 8);
		b.pm_port = (uint16_t)x;
	}
	if (!b.pm_port)
		fail("the FADT has no PM timer");
	b.pm_mask = fadt_u32(fadt, FADT_FLAGS) & FADT_TMR_VAL_EXT ? 0xffffffff : 0xffffff;
}

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
		fail("no virtio-net device on PCI bus 0");
	pci_mmio_alloc_init(&mmio, devs, n);
	if (!pci_dev_setup(p, &mmio) || !virtio_attach(&b.dev, p))
		fail("virtio-net: BARs or capabilities unusable");
	if (!virtio_negotiate(&b.dev, want))
		fail("virtio-net: feature negotiation failed");
	if (!virtq_setup(&b.dev, VIRTIO_NET_RXQ, VIRTQ_MAX) ||
	    !virtq_setup(&b.dev, VIRTIO_NET_TXQ, VIRTQ_MAX))
		fail("virtio-net: queue set-up failed");
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
			fail("virtio-net: receive ring full early");
		rx_slot[head] = (uint16_t)i;
	}
	virtq_kick(b.rxq);
}

/* Set U on every level of the 4 GiB identity map: CPL3 may touch it all. */
static void map_for_user(void)
{
	uint64_t cr3, cr4, *pml4, *pdpt, *pd;
	unsigned int i, j;

	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 &= ~(CR4_SMEP | CR4_SMAP);		/* CPL0 code now sits on user pages */
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(cr3 & PTE_ADDR);
	pml4[0] |= PTE_U;
	pdpt = (uint64_t *)(pml4[0] & PTE_ADDR);
	for (i = 0; i < 4; i++) {
		if (!(pdpt[i] & PTE_P))
			continue;
		pdpt[i] |= PTE_U;
		pd = (uint64_t *)(pdpt[i] & PTE_ADDR);
		for (j = 0; j < 512; j++)
			pd[j] |= PTE_U;
	}
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

static void load_tss(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;

	tss.iomap_base = (uint16_t)offsetof(struct tss64, iomap);
	tss.iomap[sizeof(tss.iomap) - 1] = 0xff;
	user_gdt[SEL_TSS / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 |
		(uint64_t)(TSS_TYPE_AVAIL | DESC_PRESENT) << 40 |
		(limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
	user_gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS) : "memory");
}

static void __attribute__((noreturn)) user_main(void);

/* iretq to user_main at CPL3, IOPL 3, IF clear. */
static void __attribute__((noreturn)) enter_user(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} gdtr = { sizeof(user_gdt) - 1, (uint64_t)user_gdt };
	/* As if called: the ABI wants rsp + 8 16-byte aligned at entry. */
	uint64_t sp = (uint64_t)(user_stack + USER_STACK) - 8;

	__asm__ volatile("lgdt %0" : : "m"(gdtr));
	load_tss();
	__asm__ volatile(
		"pushq %[ss]\n\t"
		"pushq %[sp]\n\t"
		"pushq %[fl]\n\t"
		"pushq %[cs]\n\t"
		"pushq %[ip]\n\t"
		"iretq"
		:
		: [ss] "i"(SEL_UDATA | RPL3), [sp] "r"(sp),
		  [fl] "i"(RFLAGS_IOPL3 | RFLAGS_FIXED), [cs] "i"(SEL_UCODE | RPL3),
		  [ip] "r"(user_main)
		: "memory");
	__builtin_unreachable();
}

int guest_main(const struct hvm_start_info *si)
{
	b.cl = cmdline(si);
	printf_("BENCH cmdline \"%s\"\n", b.cl);
	if (!cmdline_get(b.cl, "mode", b.mode, sizeof(b.mode)))
		memcpy(b.mode, "tx", 3);
	b.len = (uint32_t)param("len", FRAME_MAX);
	b.seconds = param("seconds", 5);
	if (b.len < FRAME_MIN || b.len > FRAME_MAX)
		fail("len= must be 60..1514");
	if (strncmp(b.mode, "tx", 3) && strncmp(b.mode, "rx", 3))
		fail("mode= must be tx or rx");
	find_pm_timer(si);
	setup_net();
	if (b.mode[0] == 'r')
		fill_rx();
	else
		build_tx_frame();
	printf_("BENCH features=0x%lx rxq=%u txq=%u mrg=%u event_idx=%u pm_port=0x%x\n",
		b.dev.features, b.rxq->size, b.txq->size,
		!!(b.dev.features & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)), b.txq->event_idx,
		b.pm_port);
	map_for_user();
	enter_user();
}

/* CPL3 from here on: no privileged instruction, port I/O through the TSS. */

static uint32_t pm_read(void)
{
	return port_in32(b.pm_port) & b.pm_mask;
}

/* TSC cycles per second, against 50 ms of the PM timer. */
static uint64_t calibrate_tsc(void)
{
	const uint32_t want = PM_TIMER_HZ / 20;
	uint32_t p0 = pm_read(), p, ticks;
	uint64_t t0, t;

	/* Start on a tick edge: the first read may be late in its tick. */
	while ((p = pm_read()) == p0)
		;
	p0 = p;
	t0 = rdtsc();
	do {
		p = pm_read();
		t = rdtsc();
		ticks = (p - p0) & b.pm_mask;
	} while (ticks < want);
	return (t - t0) * PM_TIMER_HZ / ticks;
}

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
			fail("rx: no frame from the host");
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
	b.tsc_hz = calibrate_tsc();
	printf_("BENCH cpl=%u tsc_hz=%lu\n", cs & 3, b.tsc_hz);
	if (b.mode[0] == 't')
		run_tx();
	else
		run_rx();
	printf_("BENCH done\n");
	debug_exit(0);
}
