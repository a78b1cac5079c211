// SPDX-License-Identifier: MIT
/*
 * blk_guest.elf: a virtio-blk benchmark guest for skiff and QEMU q35.
 *
 * At CPL0 (emulated, slow on kvm_pvm) it only sets the device up with the
 * tests/guests driver library and finds the ACPI PM timer. Then it makes
 * the identity map user-accessible, loads a GDT with user segments and
 * irets to CPL3 with IOPL=3 and interrupts off, where guest code runs
 * natively: it calibrates the TSC against the PM timer (3.579545 MHz)
 * over 50 ms and runs every request loop there, polling the used ring.
 * Nothing at CPL3 takes an interrupt or exception, so there is no IDT;
 * the TSS is there for its I/O permission bitmap (see cpl3.c, which
 * holds this way down to CPL3 and the TSC calibration).
 *
 * Phases, each bounded by a request count and by seconds= of TSC time:
 *   randread-qdN  4 KiB random reads within span= at queue depth N
 *   seqread       1 MiB sequential reads, seqqd= in flight
 *   seqwrite      1 MiB sequential writes, seqqd= in flight
 * and each prints one line, rates from the calibrated TSC:
 *   RESULT randread-qd1 iops=N lat_us=N.N ios=N errors=N
 *   RESULT seqread mbps=N.N qd=N seg=N ios=N errors=N   (mbps: 10^6 B/s)
 *
 * Command line (all optional):
 *   mode=randread,seqread,seqwrite  phases to run (default all three)
 *   qd=1,32         random-read queue depths (each its own phase, max 64)
 *   count=N         random reads per phase (default 20000)
 *   seqcount=N      1 MiB requests per sequential phase (default 256)
 *   seqqd=N         sequential requests in flight (default 4, max 8)
 *   seconds=S       time limit per phase (default 10)
 *   span=BYTES      region of the disk used (default: all of it)
 *   seg=BYTES       segment size of 1 MiB requests (default: the smallest
 *                   power of two >= 4 KiB within seg_max, capped by size_max)
 */
#include "../tests/guests/virtio.h"
#include "cpl3.h"

#define RAND_BLOCK	4096
#define SEQ_BYTES	(1024 * 1024)
#define MAX_QD		64
#define MAX_SEQ_QD	8
#define MAX_SEGS	(SEQ_BYTES / 4096)

struct slot {
	struct virtio_blk_hdr hdr;
	volatile uint8_t status;
	uint64_t t_submit;
};

struct phase {
	char name[24];
	uint32_t type;
	unsigned int qd;
	uint32_t bytes;
	bool random;
	uint64_t count;
};

/* Everything the CPL3 loop needs, filled in at CPL0. */
static struct {
	struct virtio_dev dev;
	struct virtq *q;
	const char *cl;
	uint64_t capacity, span_sectors;
	uint32_t seg;
	bool indirect;
	struct pm_timer pm;
	uint64_t tsc_hz;
	uint64_t seconds, count, seqcount, seqqd;
	char mode[64], qds[64];
	uint64_t rng;
} b;

static struct slot slots[MAX_QD];
static uint16_t head_slot[VIRTQ_MAX];
static uint8_t rand_buf[MAX_QD][RAND_BLOCK] __attribute__((aligned(4096)));
static uint8_t seq_buf[MAX_SEQ_QD][SEQ_BYTES] __attribute__((aligned(4096)));
static struct virtq_desc tables[MAX_SEQ_QD][MAX_SEGS + 2] __attribute__((aligned(16)));

static uint64_t param(const char *key, uint64_t def)
{
	uint64_t v;

	return cmdline_u64(b.cl, key, &v) ? v : def;
}


/* CPL0 set-up */

static const struct pci_dev *find_blk(struct pci_dev *devs, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (virtio_pci_id(&devs[i]) == VIRTIO_ID_BLOCK)
			return &devs[i];
	return NULL;
}

/* Smallest power-of-two segment >= 4 KiB that fits 1 MiB in seg_max. */
static uint32_t pick_seg(void)
{
	uint32_t seg_max = MAX_SEGS, size_max = SEQ_BYTES, seg = 4096;

	if (b.dev.features & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX))
		seg_max = virtio_cfg32(&b.dev, VIRTIO_BLK_CFG_SEG_MAX);
	if (b.dev.features & VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX))
		size_max = virtio_cfg32(&b.dev, VIRTIO_BLK_CFG_SIZE_MAX);
	if (!seg_max)
		bench_fail("seg_max is 0");
	while (seg < SEQ_BYTES && SEQ_BYTES / seg > seg_max)
		seg *= 2;
	seg = (uint32_t)param("seg", seg);
	if (seg > size_max)
		seg = size_max;
	if (seg < 512 || SEQ_BYTES % seg || SEQ_BYTES / seg > seg_max)
		bench_fail("no segment size fits 1 MiB in seg_max/size_max (try seg=)");
	return seg;
}

static void setup_blk(void)
{
	static struct pci_dev devs[64];
	const uint64_t want = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
		VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
		VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
		VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	struct pci_mmio_alloc mmio;
	const struct pci_dev *p;
	unsigned int n = pci_enumerate(devs, 64);

	p = find_blk(devs, n);
	if (!p)
		bench_fail("no virtio-blk device on PCI bus 0");
	pci_mmio_alloc_init(&mmio, devs, n);
	if (!pci_dev_setup(p, &mmio) || !virtio_attach(&b.dev, p))
		bench_fail("virtio-blk: BARs or capabilities unusable");
	if (!virtio_negotiate(&b.dev, want))
		bench_fail("virtio-blk: feature negotiation failed");
	if (!virtq_setup(&b.dev, 0, VIRTQ_MAX))
		bench_fail("virtio-blk: queue 0 set-up failed");
	virtio_driver_ok(&b.dev);
	b.q = &b.dev.vq[0];
	b.indirect = b.dev.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	b.capacity = virtio_cfg64(&b.dev, VIRTIO_BLK_CFG_CAPACITY);
	b.span_sectors = param("span", b.capacity * VIRTIO_BLK_SECTOR) / VIRTIO_BLK_SECTOR;
	if (b.span_sectors > b.capacity)
		b.span_sectors = b.capacity;
	b.span_sectors &= ~(uint64_t)(SEQ_BYTES / VIRTIO_BLK_SECTOR - 1);
	if (!b.span_sectors)
		bench_fail("the disk (or span=) is smaller than 1 MiB");
	b.seg = pick_seg();
}

static void __attribute__((noreturn)) user_main(void);

int guest_main(const struct hvm_start_info *si)
{
	b.cl = cmdline(si);
	printf_("BENCH cmdline \"%s\"\n", b.cl);
	pm_timer_find(si, &b.pm);
	setup_blk();
	b.seconds = param("seconds", 10);
	b.count = param("count", 20000);
	b.seqcount = param("seqcount", 256);
	b.seqqd = param("seqqd", 4);
	if (!b.seqqd || b.seqqd > MAX_SEQ_QD)
		bench_fail("seqqd= must be 1..8");
	if (!cmdline_get(b.cl, "mode", b.mode, sizeof(b.mode)))
		memcpy(b.mode, "randread,seqread,seqwrite", 26);
	if (!cmdline_get(b.cl, "qd", b.qds, sizeof(b.qds)))
		memcpy(b.qds, "1,32", 5);
	printf_("BENCH capacity=%lu span=%lu seg=%u seg_max=%u size_max=%u queue=%u "
		"indirect=%u event_idx=%u pm_port=0x%x\n", b.capacity, b.span_sectors,
		b.seg, virtio_cfg32(&b.dev, VIRTIO_BLK_CFG_SEG_MAX),
		virtio_cfg32(&b.dev, VIRTIO_BLK_CFG_SIZE_MAX), b.q->size, b.indirect,
		b.q->event_idx, b.pm.port);
	cpl3_enter(user_main);
}

/* CPL3 from here on: no privileged instruction, port I/O through IOPL. */

static uint64_t next_rand(void)
{
	/* xorshift64*: plenty for spreading reads over the span. */
	b.rng ^= b.rng >> 12;
	b.rng ^= b.rng << 25;
	b.rng ^= b.rng >> 27;
	return b.rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t pick_sector(const struct phase *ph, uint64_t nth)
{
	uint64_t per = ph->bytes / VIRTIO_BLK_SECTOR;

	if (ph->random)
		return next_rand() % (b.span_sectors / per) * per;
	return nth * per % b.span_sectors;
}

/* Queue one request of slot s; false if the ring has no room. */
static bool submit(const struct phase *ph, unsigned int s, uint64_t sector)
{
	struct virtq_buf bufs[MAX_SEGS + 2];
	uint8_t *data = ph->random ? rand_buf[s] : seq_buf[s];
	bool in = ph->type == VIRTIO_BLK_T_IN;
	uint32_t seg = ph->random ? ph->bytes : b.seg, off;
	unsigned int n = 0;
	int head;

	slots[s].hdr = (struct virtio_blk_hdr){ ph->type, 0, sector };
	slots[s].status = 0xff;
	bufs[n++] = (struct virtq_buf){ (uint64_t)&slots[s].hdr, sizeof(slots[s].hdr), false };
	for (off = 0; off < ph->bytes; off += seg)
		bufs[n++] = (struct virtq_buf){ (uint64_t)data + off, seg, in };
	bufs[n++] = (struct virtq_buf){ (uint64_t)&slots[s].status, 1, true };
	if (b.indirect && n > 3)
		head = virtq_add_indirect(b.q, bufs, n, tables[s]);
	else
		head = virtq_add(b.q, bufs, n);
	if (head < 0)
		return false;
	head_slot[head] = (uint16_t)s;
	slots[s].t_submit = rdtsc();
	return true;
}

struct tally {
	uint64_t sent, done, errors, lat_cycles;
	unsigned int inflight, nfree;
	uint16_t free[MAX_QD];
	bool broken;
};

/* Take every completion there is (waiting for the first). */
static void reap(struct tally *t)
{
	uint32_t len;
	int head = virtq_wait(b.q, &len, VIRTIO_WAIT_CYCLES);
	uint64_t now = rdtsc();

	if (head < 0) {
		t->broken = true;
		return;
	}
	do {
		unsigned int s = head_slot[head];

		t->errors += slots[s].status != VIRTIO_BLK_S_OK;
		t->lat_cycles += now - slots[s].t_submit;
		t->free[t->nfree++] = (uint16_t)s;
		t->inflight--;
		t->done++;
	} while ((head = virtq_poll(b.q, &len)) >= 0);
	t->broken = head == -2;
}

static void report(const struct phase *ph, const struct tally *t, uint64_t cycles)
{
	uint64_t us = cycles * 1000000 / b.tsc_hz, lat10;

	if (!us)
		us = 1;
	if (t->broken)
		printf_("BENCH-ERROR %s: the device stopped completing requests\n", ph->name);
	if (ph->random) {
		lat10 = t->done ? t->lat_cycles * 10000000 / b.tsc_hz / t->done : 0;
		printf_("RESULT %s iops=%lu lat_us=%lu.%lu ios=%lu errors=%lu\n", ph->name,
			t->done * 1000000 / us, lat10 / 10, lat10 % 10, t->done, t->errors);
		return;
	}
	/* bytes per microsecond = 10^6 bytes per second */
	lat10 = t->done * ph->bytes * 10 / us;
	printf_("RESULT %s mbps=%lu.%lu qd=%u seg=%u ios=%lu errors=%lu\n", ph->name,
		lat10 / 10, lat10 % 10, ph->qd, b.seg, t->done, t->errors);
}

static void run_phase(const struct phase *ph)
{
	static struct tally t;
	uint64_t start, deadline;
	unsigned int i;
	bool stop = false;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < ph->qd; i++)
		t.free[t.nfree++] = (uint16_t)(ph->qd - 1 - i);
	start = rdtsc();
	deadline = start + b.seconds * b.tsc_hz;
	while (!t.broken) {
		while (!stop && t.nfree && t.sent < ph->count &&
		       submit(ph, t.free[t.nfree - 1], pick_sector(ph, t.sent))) {
			t.nfree--;
			t.inflight++;
			t.sent++;
		}
		virtq_kick(b.q);
		if (!t.inflight)
			break;
		reap(&t);
		stop |= rdtsc() > deadline;
	}
	report(ph, &t, rdtsc() - start);
}

static void run_randread(void)
{
	const char *p = b.qds;
	struct phase ph = { "", VIRTIO_BLK_T_IN, 0, RAND_BLOCK, true, b.count };
	uint64_t qd;
	char num[8];
	unsigned int n;

	while (*p) {
		for (n = 0; *p && *p != ',' && n + 1 < sizeof(num); p++)
			num[n++] = *p;
		num[n] = '\0';
		if (*p == ',')
			p++;
		if (!parse_u64(num, &qd) || !qd || qd > MAX_QD) {
			printf_("BENCH-ERROR qd=%s: want 1..%u\n", num, MAX_QD);
			continue;
		}
		ph.qd = (unsigned int)qd;
		memcpy(ph.name, "randread-qd", 12);
		memcpy(ph.name + 11, num, n + 1);
		run_phase(&ph);
	}
}

static void __attribute__((noreturn)) user_main(void)
{
	struct phase seq = { "", 0, (unsigned int)b.seqqd, SEQ_BYTES, false, b.seqcount };
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	b.tsc_hz = tsc_calibrate(&b.pm);
	b.rng = rdtsc() | 1;
	printf_("BENCH cpl=%u tsc_hz=%lu\n", cs & 3, b.tsc_hz);
	if (list_has(b.mode, "randread"))
		run_randread();
	if (list_has(b.mode, "seqread")) {
		memcpy(seq.name, "seqread", 8);
		seq.type = VIRTIO_BLK_T_IN;
		run_phase(&seq);
	}
	if (list_has(b.mode, "seqwrite")) {
		memcpy(seq.name, "seqwrite", 9);
		seq.type = VIRTIO_BLK_T_OUT;
		run_phase(&seq);
	}
	printf_("BENCH done\n");
	debug_exit(0);
}
