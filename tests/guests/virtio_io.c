// SPDX-License-Identifier: MIT
/*
 * virtio_io.elf: PCI and virtio 1.2 modern devices from the guest's side.
 *
 * PCI: bus 0 through CF8/CFC and through ECAM (MCFG), BAR sizing, a BAR
 * moved by the guest, memory decoding off and on, a read-only vendor ID.
 * virtio-blk: capacity, features, pattern writes read back (first, middle,
 * last 4 KiB), FLUSH, GET_ID, DISCARD, WRITE_ZEROES, a read past the end,
 * an indirect chain, a read-only disk. virtio-rng: two reads differ.
 * virtio-console: every line goes out over it too.
 *
 * Command line:
 *   expect=blk,rng,console  devices that must be there (missing = FAIL)
 *   serial=ID               what GET_ID must return
 *   sectors=N               the disk's expected capacity
 *   readonly                the disk is read-only: writes must fail
 *   unassign                clear the virtio functions' BARs first, as if no
 *                           firmware had placed them: the guest places all
 *   hostile                 finally post a chain whose next index is out of
 *                           range: the device must set DEVICE_NEEDS_RESET,
 *                           and work again after a reset
 *   wait                    instead of exiting, print "virtio_io: WAITING"
 *                           and stop: the host kills the VM (kill -9) and
 *                           checks that flushed writes are in the image
 *
 * Output: to COM1 when a UART answers on its scratch register, and to
 * virtio-console port 0 when one is found (lines printed before it came up
 * are replayed to it), so a VM without a UART still shows every line.
 * The blk pattern is text the host can rebuild: 64 lines per 4 KiB block,
 * "skiff <sector, 16 hex digits> <line, 2 digits>" padded with '.' to 63
 * characters and a newline.
 */
#include "virtio.h"

#define MAX_PCI_DEVS	64
#define BLOCK		4096
#define BLOCK_SECTORS	(BLOCK / VIRTIO_BLK_SECTOR)
#define UART_SCR	7

/* Output: lib's printf_ only reaches COM1, so this guest formats itself. */

#define PEND_BYTES	16384
#define LINE_BYTES	512

static bool have_uart;
static struct virtio_dev *console;	/* set once its queues work */
static bool console_failed;
static bool console_possible = true;	/* until enumeration finds none */
static char pend[PEND_BYTES];		/* not yet sent to the console */
static size_t pend_len;
static uint8_t tx_buf[BLOCK];
static unsigned int n_checks, n_failed;

struct fmtbuf {
	char *p;
	size_t n, cap;
};

static void fb_putc(struct fmtbuf *b, char c)
{
	if (b->n + 1 < b->cap)
		b->p[b->n++] = c;
	b->p[b->n] = '\0';
}

static void fb_num(struct fmtbuf *b, uint64_t v, unsigned int base, bool neg,
		   int width, char pad)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		digits[n++] = '-';
	for (; width > n; width--)
		fb_putc(b, pad);
	while (n)
		fb_putc(b, digits[--n]);
}

static void fb_str(struct fmtbuf *b, const char *s)
{
	while (*s)
		fb_putc(b, *s++);
}

/* The same conversions as lib's vprintf_: %s %c %d %u %x %p, l, 0, width. */
static void fb_vformat(struct fmtbuf *b, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, longs = 0;
		char pad = ' ';
		uint64_t u;
		int64_t s;

		if (*fmt != '%') {
			fb_putc(b, *fmt);
			continue;
		}
		if (*++fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		for (; *fmt == 'l'; fmt++)
			longs++;
		switch (*fmt) {
		case 'd':
			s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			fb_num(b, s < 0 ? -(uint64_t)s : (uint64_t)s, 10, s < 0, width, pad);
			break;
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			fb_num(b, u, *fmt == 'u' ? 10 : 16, false, width, pad);
			break;
		case 'p':
			fb_str(b, "0x");
			fb_num(b, (uint64_t)va_arg(ap, void *), 16, false, width, pad);
			break;
		case 'c':
			fb_putc(b, (char)va_arg(ap, int));
			break;
		case 's':
			fb_str(b, va_arg(ap, const char *));
			break;
		case '\0':
			return;
		default:
			fb_putc(b, *fmt);
		}
	}
}

/* Send whole lines of pend over the console, a buffer at a time. */
static void console_flush(void)
{
	struct virtq_buf buf;
	uint32_t len;
	size_t n, i;

	while (console && !console_failed && pend_len) {
		for (n = pend_len < BLOCK ? pend_len : BLOCK; n && pend[n - 1] != '\n'; n--)
			;
		if (!n)
			n = pend_len < BLOCK ? pend_len : BLOCK;
		if (n == pend_len && pend[n - 1] != '\n')
			return;
		memcpy(tx_buf, pend, n);
		buf.addr = (uint64_t)tx_buf;
		buf.len = (uint32_t)n;
		buf.write = false;
		if (virtq_run(&console->vq[VIRTIO_CONSOLE_TXQ], &buf, 1, &len) < 0)
			console_failed = true;
		for (i = n; i < pend_len; i++)		/* overlapping: move down */
			pend[i - n] = pend[i];
		pend_len -= n;
	}
}

static void emit(const char *s)
{
	size_t n = strlen(s);

	if (have_uart)
		puts_(s);
	if (console_failed || !console_possible)
		return;
	if (n > PEND_BYTES - pend_len)
		n = PEND_BYTES - pend_len;	/* no console yet: keep the first lines */
	memcpy(pend + pend_len, s, n);
	pend_len += n;
	console_flush();
}

static void vsay(const char *prefix, const char *fmt, va_list ap)
{
	char line[LINE_BYTES] = "";
	struct fmtbuf b = { line, 0, sizeof(line) };

	fb_str(&b, prefix);
	fb_vformat(&b, fmt, ap);
	fb_str(&b, "\n");
	emit(line);
}

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay("", fmt, ap);
	va_end(ap);
}

static bool __attribute__((format(printf, 2, 3))) ck(bool ok, const char *fmt, ...)
{
	va_list ap;

	n_checks++;
	n_failed += !ok;
	va_start(ap, fmt);
	vsay(ok ? "PASS: " : "FAIL: ", fmt, ap);
	va_end(ap);
	return ok;
}

/* "wait" on the command line: stop instead of exiting (see the top). */
static bool wait_at_end;

static void __attribute__((noreturn)) done(void)
{
	if (console_failed)
		ck(false, "virtio-console kept every line");
	say("virtio_io: %u checks, %u failed: %s", n_checks, n_failed,
	    n_failed ? "FAIL" : "PASS");
	if (wait_at_end) {
		say("virtio_io: WAITING");
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	debug_exit(n_failed ? 1 : 0);
}

/* A UART keeps what is written to its scratch register; no device reads 0xff. */
static bool uart_present(void)
{
	outb(COM1_PORT + UART_SCR, 0x5a);
	if (inb(COM1_PORT + UART_SCR) != 0x5a)
		return false;
	outb(COM1_PORT + UART_SCR, 0xa5);
	return inb(COM1_PORT + UART_SCR) == 0xa5;
}

/* Command line */

/* word is on the command line by itself. */
static bool has_word(const char *cl, const char *word)
{
	size_t n = strlen(word);

	while (*cl) {
		while (*cl == ' ')
			cl++;
		if (!strncmp(cl, word, n) && (cl[n] == ' ' || cl[n] == '\0'))
			return true;
		while (*cl && *cl != ' ')
			cl++;
	}
	return false;
}


/* Devices */

struct guest {
	const char *cl;
	char expect[64];
	struct pci_dev devs[MAX_PCI_DEVS];
	unsigned int ndevs;
	struct pci_mmio_alloc mmio;
	const struct pci_dev *blk, *rng, *con;
};

static struct guest g;
static struct virtio_dev blk_dev, rng_dev, con_dev;

static const char *virtio_name(unsigned int id)
{
	switch (id) {
	case VIRTIO_ID_BLOCK: return "virtio-blk";
	case VIRTIO_ID_CONSOLE: return "virtio-console";
	case VIRTIO_ID_RNG: return "virtio-rng";
	default: return "virtio";
	}
}

/* Memory BARs of every virtio function back to 0, decoding off. */
static void unassign_bars(void)
{
	struct pci_bar bar;
	unsigned int d, i;

	for (d = 0; d < g.ndevs; d++) {
		if (!virtio_pci_id(&g.devs[d]))
			continue;
		pci_enable_mem(g.devs[d].bdf, false);
		for (i = 0; i < PCI_NUM_BARS; i++) {
			if (!pci_bar_probe(g.devs[d].bdf, i, &bar))
				break;
			if (!bar.io && bar.size)
				pci_bar_place(g.devs[d].bdf, i, &bar, 0);
			if (bar.mem64)
				i++;
		}
	}
	say("pci: virtio BARs cleared; the guest places them");
}

static void enumerate(void)
{
	unsigned int i;

	g.ndevs = pci_enumerate(g.devs, MAX_PCI_DEVS);
	for (i = 0; i < g.ndevs; i++) {
		const struct pci_dev *p = &g.devs[i];
		unsigned int id = virtio_pci_id(p);

		say("pci %02x:%02x.%u %04x:%04x class %04x%s%s", PCI_BDF_BUS(p->bdf),
		    PCI_BDF_DEV(p->bdf), PCI_BDF_FN(p->bdf), p->vendor, p->device,
		    p->class, id ? " " : "", id ? virtio_name(id) : "");
		if (id == VIRTIO_ID_BLOCK && !g.blk)
			g.blk = p;
		else if (id == VIRTIO_ID_RNG && !g.rng)
			g.rng = p;
		else if (id == VIRTIO_ID_CONSOLE && !g.con)
			g.con = p;
	}
	if (has_word(g.cl, "unassign"))
		unassign_bars();
	pci_mmio_alloc_init(&g.mmio, g.devs, g.ndevs);
	console_possible = g.con != NULL;
}

/* MSI-X is there and disabled, its table inside a memory BAR; ISR sane. */
static void check_irq_config(struct virtio_dev *d, const char *name)
{
	uint16_t bdf = d->pci.bdf, ctl;
	uint32_t table, entries;
	struct pci_bar bar;
	uint8_t isr;

	if (ck(d->msix_cap != 0, "%s has an MSI-X capability", name)) {
		ctl = pci_cf8_read16(bdf, d->msix_cap + PCI_MSIX_CTRL);
		table = pci_cf8_read32(bdf, d->msix_cap + PCI_MSIX_TABLE);
		entries = (ctl & PCI_MSIX_CTRL_SIZE) + 1;
		ck(!(ctl & PCI_MSIX_CTRL_ENABLE), "%s MSI-X disabled until enabled", name);
		ck(pci_bar_probe(bdf, table & PCI_MSIX_BIR, &bar) && !bar.io &&
		   (table & ~7U) + 16 * entries <= bar.size,
		   "%s MSI-X table (%u entries) inside BAR%u", name, entries,
		   table & PCI_MSIX_BIR);
	}
	mmio_wr16(d->common + VIRTIO_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
	ck(mmio_rd16(d->common + VIRTIO_COMMON_MSIX) == VIRTIO_MSI_NO_VECTOR,
	   "%s config_msix_vector holds NO_VECTOR", name);
	isr = mmio_rd8(d->isr);
	ck(!(isr & ~3), "%s ISR 0x%x has only bits 0-1", name, isr);
}

/* Reset, negotiate, queues 0..nq-1, DRIVER_OK. */
static bool start_dev(struct virtio_dev *d, uint64_t want, uint16_t nq, uint16_t qsize,
		      const char *name)
{
	bool ok = virtio_negotiate(d, want);
	uint16_t i;
	uint8_t s;

	/* Results first: the arguments below read what the calls filled in. */
	if (!ck(ok, "%s FEATURES_OK accepted (offered 0x%lx, took 0x%lx)", name,
		d->offered, d->features))
		return false;
	for (i = 0; i < nq; i++) {
		ok = virtq_setup(d, i, qsize);
		if (!ck(ok, "%s queue %u set up (%u entries)", name, i, d->vq[i].size))
			return false;
	}
	virtio_driver_ok(d);
	s = virtio_status(d);
	return ck((s & 0xcf) == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK),
		  "%s status 0x%x after DRIVER_OK", name, s);
}

/* pci_dev_setup, virtio_attach, then start(). */
static bool bring_up(struct virtio_dev *d, const struct pci_dev *p, uint64_t want,
		     uint16_t nq, uint16_t qsize, const char *name)
{
	if (!ck(pci_dev_setup(p, &g.mmio), "%s BARs placed, decoding on", name) ||
	    !ck(virtio_attach(d, p), "%s virtio capabilities inside their BARs", name))
		return false;
	say("%s: common 0x%lx notify 0x%lx (x%u) isr 0x%lx device 0x%lx, %u queues",
	    name, d->common, d->notify_base, d->notify_mult, d->isr, d->device_cfg,
	    d->num_queues);
	return start_dev(d, want, nq, qsize, name);
}

static void console_up(void)
{
	if (!g.con)
		return;
	if (!bring_up(&con_dev, g.con, 0, 2, 64, "virtio-console"))
		return;
	console = &con_dev;
	say("virtio-console: port 0 is live, lines before this were replayed");
	console_flush();
}

/* PCI checks */

static const uint16_t ecam_offsets[] = {
	PCI_VENDOR_ID, PCI_REVISION, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24,
	PCI_SUBSYS_VENDOR, PCI_CAP_PTR, 0x3c,
};

/* Every function's header reads the same through ECAM as through CF8. */
static void check_ecam(const struct hvm_start_info *si)
{
	struct pci_ecam e = { 0, 0, 0 };
	unsigned int i, k, bad = 0;
	bool found = pci_ecam_find(si, &e);
	uint32_t v, w;
	uint16_t bdf;

	if (!ck(found, "MCFG table gives an ECAM base (0x%lx, buses %u-%u)",
		e.base, e.bus_start, e.bus_end))
		return;
	for (i = 0; i < g.ndevs; i++)
		for (k = 0; k < sizeof(ecam_offsets) / sizeof(ecam_offsets[0]); k++) {
			bdf = g.devs[i].bdf;
			v = pci_cf8_read32(bdf, ecam_offsets[k]);
			w = pci_ecam_read32(&e, bdf, ecam_offsets[k]);
			if (v != w && bad++ < 4)
				say("  %04x+0x%x: CF8 0x%x, ECAM 0x%x", bdf,
				    ecam_offsets[k], v, w);
		}
	ck(!bad, "ECAM matches CF8 on %u functions (%u dwords differ)", g.ndevs, bad);

	/* An empty slot reads all ones both ways. */
	for (i = 31; i > 0 && pci_cf8_read32(PCI_BDF(0, i, 0), 0) != 0xffffffff; i--)
		;
	if (i)
		ck(pci_ecam_read32(&e, PCI_BDF(0, i, 0), 0) == 0xffffffff,
		   "ECAM: empty slot 00:%02x.0 reads all ones", i);

	/* Interrupt Line is read/write storage: write by ECAM, read by CF8. */
	if (g.ndevs) {
		bdf = g.devs[g.ndevs - 1].bdf;
		v = pci_ecam_read32(&e, bdf, 0x3c);
		pci_ecam_write32(&e, bdf, 0x3c, (v & ~0xffU) | 0x5b);
		w = pci_cf8_read8(bdf, 0x3c);
		pci_ecam_write32(&e, bdf, 0x3c, v);
		ck(w == 0x5b, "ECAM write of Interrupt Line seen through CF8 (0x%x)", w);
	}
}

static void check_host_bridge(void)
{
	bool ok = g.ndevs && g.devs[0].bdf == PCI_BDF(0, 0, 0);

	ck(ok && g.devs[0].class == PCI_CLASS_HOST_BRIDGE,
	   "host bridge at 00:00.0 (class 0x%04x)", ok ? g.devs[0].class : 0);
}

/* expect= on the command line: a missing device is a failure, not a skip. */
static void check_expected(void)
{
	if (list_has(g.expect, "blk"))
		ck(g.blk, "virtio-blk present (expected)");
	if (list_has(g.expect, "rng"))
		ck(g.rng, "virtio-rng present (expected)");
	if (list_has(g.expect, "console"))
		ck(g.con, "virtio-console present (expected)");
}

/* Size every BAR of p: one 32-bit and one 64-bit memory BAR, powers of two. */
static void check_bar_sizes(const struct pci_dev *p, struct pci_bar *bars)
{
	unsigned int i;
	bool m32 = false, m64 = false, pow2 = true, kept = true;

	for (i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t before = pci_bar_addr(p->bdf, i);

		if (!pci_bar_probe(p->bdf, i, &bars[i]) || !bars[i].size)
			continue;
		say("  BAR%u: %s addr 0x%lx size 0x%lx", i, bars[i].io ? "io" :
		    bars[i].mem64 ? "mem64" : "mem32", bars[i].addr, bars[i].size);
		pow2 &= !(bars[i].size & (bars[i].size - 1));
		kept &= pci_bar_addr(p->bdf, i) == before;
		m32 |= !bars[i].io && !bars[i].mem64;
		m64 |= bars[i].mem64;
		if (bars[i].mem64)
			i++;
	}
	ck(m32, "a 32-bit memory BAR sized");
	ck(m64, "a 64-bit memory BAR sized");
	ck(pow2, "every BAR size is a power of two");
	ck(kept, "sizing restored every BAR's address");
}

/* Which BAR holds the common configuration (from its capability). */
static int common_bar(const struct pci_dev *p)
{
	uint8_t pos = 0;

	while ((pos = pci_find_cap(p->bdf, PCI_CAP_ID_VNDR, pos)))
		if (pci_cf8_read8(p->bdf, pos + VIRTIO_CAP_CFG_TYPE) == VIRTIO_PCI_CAP_COMMON)
			return pci_cf8_read8(p->bdf, pos + VIRTIO_CAP_BAR);
	return -1;
}

/*
 * With Memory Space off the BAR must read like nothing is there: all ones
 * on skiff and real hardware (master abort), zero on QEMU. So compare with
 * a free address of the window rather than hard-coding either; virtio.sh
 * insists on all ones for skiff.
 */
static void check_decode_off(const struct pci_dev *p, uint64_t common)
{
	uint64_t nothing = pci_mmio_alloc(&g.mmio, BLOCK);
	uint32_t floating = nothing ? mmio_read32(nothing) : 0xffffffff, off32;
	uint16_t live, off16;

	mmio_wr16(common + VIRTIO_COMMON_Q_SELECT, 0);
	live = mmio_rd16(common + VIRTIO_COMMON_Q_SIZE);
	pci_enable_mem(p->bdf, false);
	off32 = mmio_read32(common + VIRTIO_COMMON_DF);
	off16 = mmio_rd16(common + VIRTIO_COMMON_Q_SIZE);
	pci_enable_mem(p->bdf, true);
	ck(off32 == floating && off16 == (uint16_t)floating && off16 != live,
	   "memory decoding off: BAR reads 0x%x (unmapped memory 0x%x; "
	   "queue_size 0x%x, decoded 0x%x)",
	   off32, floating, off16, live);
	ck(mmio_rd16(common + VIRTIO_COMMON_Q_SIZE) == live,
	   "memory decoding on again: it answers");
}

/* Move the common-config BAR; the device answers there, and only when decoding. */
static void check_bar_move(const struct pci_dev *p, const struct pci_bar *bars)
{
	struct virtio_dev d;
	int bar = common_bar(p);
	uint64_t addr, old;
	uint16_t numq;
	bool ok;

	if (!ck(bar >= 0 && bar < PCI_NUM_BARS && bars[bar].size,
		"virtio common config in BAR%d", bar))
		return;
	ok = pci_dev_setup(p, &g.mmio) && virtio_attach(&d, p);
	if (!ck(ok, "device usable at its first address (common 0x%lx)", d.common))
		return;
	numq = d.num_queues;
	old = pci_bar_addr(p->bdf, bar);
	addr = pci_mmio_alloc(&g.mmio, bars[bar].size);
	if (!ck(addr != 0, "guest found room for BAR%d (0x%lx bytes)", bar, bars[bar].size))
		return;
	pci_bar_place(p->bdf, bar, &bars[bar], addr);
	ck(pci_bar_addr(p->bdf, bar) == addr, "BAR%d moved 0x%lx -> 0x%lx", bar, old, addr);
	ok = virtio_attach(&d, p);
	if (!ck(ok && d.common >= addr && d.common < addr + bars[bar].size,
		"capabilities resolve inside the moved BAR (common 0x%lx)", d.common))
		return;
	ck(d.num_queues == numq && numq, "common config answers at the new address (%u queues)",
	   d.num_queues);
	check_decode_off(p, d.common);
}

static void check_readonly_id(const struct pci_dev *p)
{
	uint32_t before = pci_cf8_read32(p->bdf, PCI_VENDOR_ID), after;

	pci_cf8_write16(p->bdf, PCI_VENDOR_ID, 0x1234);
	pci_cf8_write16(p->bdf, PCI_DEVICE_ID, 0x5678);
	after = pci_cf8_read32(p->bdf, PCI_VENDOR_ID);
	ck(after == before, "vendor/device ID read-only (0x%x, after writes 0x%x)",
	   before, after);
}

static void check_pci(const struct hvm_start_info *si)
{
	const struct pci_dev *p = g.rng ? g.rng : g.blk;
	struct pci_bar bars[PCI_NUM_BARS];

	check_host_bridge();
	check_expected();
	check_ecam(si);
	if (!p) {
		say("pci: no spare virtio device (rng or blk) for the BAR checks");
		if (g.con)
			check_readonly_id(g.con);
		return;
	}
	say("pci: BAR checks on %s at %02x.%u", virtio_name(virtio_pci_id(p)),
	    PCI_BDF_DEV(p->bdf), PCI_BDF_FN(p->bdf));
	memset(bars, 0, sizeof(bars));
	check_bar_sizes(p, bars);
	check_bar_move(p, bars);
	check_readonly_id(p);
}

/* virtio-rng */

static uint8_t rng_buf[2][64];

static void check_rng(void)
{
	struct virtq_buf b = { 0, sizeof(rng_buf[0]), true };
	uint32_t len[2] = { 0, 0 };
	int i, r;

	if (!g.rng || !bring_up(&rng_dev, g.rng, 0, 1, 64, "virtio-rng"))
		return;
	check_irq_config(&rng_dev, "virtio-rng");
	for (i = 0; i < 2; i++) {
		b.addr = (uint64_t)rng_buf[i];
		r = virtq_run(&rng_dev.vq[0], &b, 1, &len[i]);
		ck(r >= 0 && len[i] > 0 && len[i] <= sizeof(rng_buf[i]),
		   "virtio-rng read %d: %u bytes (r %d)", i + 1, len[i], r);
	}
	ck(memcmp(rng_buf[0], rng_buf[1], sizeof(rng_buf[0])) != 0,
	   "virtio-rng: two reads differ");
}

/* virtio-blk */

struct blk_req {
	struct virtio_blk_hdr hdr;
	struct virtio_blk_range range;
	uint8_t status;
};

#define BLK_MAX_SEGS	16
static struct blk_req req;
static uint8_t wbuf[BLOCK] __attribute__((aligned(BLOCK)));
static uint8_t rbuf[2 * BLOCK] __attribute__((aligned(BLOCK)));
static struct virtq_desc indirect_table[BLK_MAX_SEGS + 2] __attribute__((aligned(16)));
static uint64_t capacity;

/*
 * One request: header, nseg data segments of seg bytes each starting at
 * data (all at data when same is set), status. Returns the status byte, or
 * 0xff when the device did not complete it.
 */
static uint8_t blk_request(uint32_t type, uint64_t sector, uint8_t *data,
			   uint32_t seg, unsigned int nseg, bool same, bool indirect)
{
	struct virtq_buf b[BLK_MAX_SEGS + 2];
	bool into = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	unsigned int i, n = 0;
	uint32_t len;
	int head;

	req.hdr.type = type;
	req.hdr.reserved = 0;
	req.hdr.sector = sector;
	req.status = 0xff;
	b[n++] = (struct virtq_buf){ (uint64_t)&req.hdr, sizeof(req.hdr), false };
	for (i = 0; i < nseg && i < BLK_MAX_SEGS; i++)
		b[n++] = (struct virtq_buf){ (uint64_t)data + (same ? 0 : i * seg), seg, into };
	b[n++] = (struct virtq_buf){ (uint64_t)&req.status, 1, true };
	if (indirect)
		head = virtq_add_indirect(&blk_dev.vq[0], b, n, indirect_table);
	else
		head = virtq_add(&blk_dev.vq[0], b, n);
	if (head < 0)
		return 0xff;
	virtq_kick(&blk_dev.vq[0]);
	if (virtq_wait(&blk_dev.vq[0], &len, VIRTIO_WAIT_CYCLES) != head)
		return 0xff;
	return req.status;
}

static uint8_t blk_rw(uint32_t type, uint64_t sector, uint8_t *data, uint32_t bytes)
{
	return blk_request(type, sector, data, bytes, 1, false, false);
}

/* DISCARD / WRITE_ZEROES of one range. */
static uint8_t blk_range(uint32_t type, uint64_t sector, uint32_t sectors, uint32_t flags)
{
	req.range = (struct virtio_blk_range){ sector, sectors, flags };
	return blk_request(type, 0, (uint8_t *)&req.range, sizeof(req.range), 1,
			   false, false);
}

static void put_hex(char *p, uint64_t v, int digits)
{
	while (digits--) {
		p[digits] = "0123456789abcdef"[v & 15];
		v >>= 4;
	}
}

/* The text pattern the host rebuilds (see the top of this file). */
static void fill_pattern(uint8_t *buf, uint64_t sector)
{
	unsigned int line, k;
	char *p;

	for (line = 0; line < BLOCK / 64; line++) {
		p = (char *)buf + 64 * line;
		memcpy(p, "skiff ", 6);
		put_hex(p + 6, sector, 16);
		p[22] = ' ';
		p[23] = (char)('0' + line / 10);
		p[24] = (char)('0' + line % 10);
		for (k = 25; k < 63; k++)
			p[k] = '.';
		p[63] = '\n';
	}
}

static uint64_t checksum(const void *buf, size_t bytes)
{
	const uint64_t *w = buf;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < bytes / 8; i++)
		sum = (sum ^ w[i]) * 0x100000001b3ULL;
	return sum;
}

static bool all_zero(const void *buf, size_t bytes)
{
	const uint64_t *w = buf;
	size_t i;

	for (i = 0; i < bytes / 8; i++)
		if (w[i])
			return false;
	return true;
}

static void fill_qwords(void *buf, size_t bytes, uint64_t v)
{
	uint64_t *w = buf;
	size_t i;

	for (i = 0; i < bytes / 8; i++)
		w[i] = v;
}

/* Read BLOCK bytes at sector into rbuf (poisoned first). */
static uint8_t read_block(uint64_t sector)
{
	fill_qwords(rbuf, BLOCK, 0xdeadbeefdeadbeefULL);
	return blk_rw(VIRTIO_BLK_T_IN, sector, rbuf, BLOCK);
}

static void check_pattern_block(uint64_t sector, bool readonly)
{
	uint64_t want;
	uint8_t s;

	fill_pattern(wbuf, sector);
	want = checksum(wbuf, BLOCK);
	s = blk_rw(VIRTIO_BLK_T_OUT, sector, wbuf, BLOCK);
	if (readonly) {
		ck(s == VIRTIO_BLK_S_IOERR, "read-only: write at sector %lu fails (status %u)",
		   sector, s);
		return;
	}
	ck(s == VIRTIO_BLK_S_OK, "write 4 KiB at sector %lu (status %u)", sector, s);
	s = read_block(sector);
	ck(s == VIRTIO_BLK_S_OK && checksum(rbuf, BLOCK) == want,
	   "read back sector %lu: status %u, checksum %s", sector, s,
	   checksum(rbuf, BLOCK) == want ? "matches" : "differs");
}

/* Sectors with the pattern: the host checks the same ones in the image. */
static void pattern_sectors(uint64_t out[3])
{
	out[0] = 0;
	out[1] = (capacity / 2) & ~(uint64_t)(BLOCK_SECTORS - 1);
	out[2] = capacity - BLOCK_SECTORS;
}

static void check_get_id(void)
{
	char want[VIRTIO_BLK_ID_BYTES + 1] = "", got[VIRTIO_BLK_ID_BYTES + 1];
	bool have = cmdline_get(g.cl, "serial", want, sizeof(want));
	uint8_t s;

	memset(rbuf, 0, VIRTIO_BLK_ID_BYTES);
	s = blk_rw(VIRTIO_BLK_T_GET_ID, 0, rbuf, VIRTIO_BLK_ID_BYTES);
	memcpy(got, rbuf, VIRTIO_BLK_ID_BYTES);
	got[VIRTIO_BLK_ID_BYTES] = '\0';
	if (!ck(s == VIRTIO_BLK_S_OK, "GET_ID status %u (\"%s\")", s, got))
		return;
	if (have)
		ck(!strncmp(got, want, VIRTIO_BLK_ID_BYTES),
		   "GET_ID returns serial=%s from the command line", want);
}

/* Write a 1 MiB range 64 KiB at a time (one buffer repeated), discard it. */
static void check_discard(uint64_t sector)
{
	const uint32_t sectors = 2048, per_req = BLK_MAX_SEGS * BLOCK_SECTORS;
	uint32_t max = virtio_cfg32(&blk_dev, VIRTIO_BLK_CFG_MAX_DISCARD);
	uint32_t done_ = 0;
	bool wrote = true, zero;
	uint8_t s;

	if (!(blk_dev.features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD))) {
		say("virtio-blk: DISCARD not offered, not checked");
		return;
	}
	fill_pattern(wbuf, sector);
	for (done_ = 0; done_ < sectors; done_ += per_req)
		wrote &= blk_request(VIRTIO_BLK_T_OUT, sector + done_, wbuf, BLOCK,
				     BLK_MAX_SEGS, true, false) == VIRTIO_BLK_S_OK;
	ck(wrote, "write 1 MiB at sector %lu in 16-segment chains", sector);
	ck(max >= sectors, "max_discard_sectors %u covers 1 MiB", max);
	s = blk_range(VIRTIO_BLK_T_DISCARD, sector, sectors, 0);
	ck(s == VIRTIO_BLK_S_OK, "DISCARD 1 MiB at sector %lu (status %u)", sector, s);
	zero = read_block(sector) == VIRTIO_BLK_S_OK && all_zero(rbuf, BLOCK);
	zero &= read_block(sector + sectors - BLOCK_SECTORS) == VIRTIO_BLK_S_OK &&
		all_zero(rbuf, BLOCK);
	ck(zero, "discarded range reads back as zeros");
}

/* Write 64 KiB of pattern, WRITE_ZEROES it (no unmap), read zeros. */
static void check_write_zeroes(uint64_t sector)
{
	const uint32_t sectors = BLK_MAX_SEGS * BLOCK_SECTORS;
	bool zero;
	uint8_t s;

	if (!(blk_dev.features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES))) {
		say("virtio-blk: WRITE_ZEROES not offered, not checked");
		return;
	}
	fill_pattern(wbuf, sector);
	s = blk_request(VIRTIO_BLK_T_OUT, sector, wbuf, BLOCK, BLK_MAX_SEGS, true, false);
	ck(s == VIRTIO_BLK_S_OK, "write 64 KiB at sector %lu (status %u)", sector, s);
	s = blk_range(VIRTIO_BLK_T_WRITE_ZEROES, sector, sectors, 0);
	ck(s == VIRTIO_BLK_S_OK, "WRITE_ZEROES 64 KiB at sector %lu (status %u)", sector, s);
	zero = read_block(sector) == VIRTIO_BLK_S_OK && all_zero(rbuf, BLOCK);
	zero &= read_block(sector + sectors - BLOCK_SECTORS) == VIRTIO_BLK_S_OK &&
		all_zero(rbuf, BLOCK);
	ck(zero, "written-zeroes range reads back as zeros");
}

static void check_past_end(void)
{
	uint8_t s;

	s = read_block(capacity);
	ck(s == VIRTIO_BLK_S_IOERR, "read at sector %lu (= capacity): IOERR (status %u)",
	   capacity, s);
	s = read_block(capacity - 1);
	ck(s == VIRTIO_BLK_S_IOERR, "read across the end (sector %lu): IOERR (status %u)",
	   capacity - 1, s);
}

/* Read 8 KiB through an indirect table of two 4 KiB segments. */
static void check_indirect(uint64_t sectors[3])
{
	uint64_t want;
	uint8_t s;

	if (!(blk_dev.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))) {
		say("virtio-blk: INDIRECT_DESC not offered, not checked");
		return;
	}
	fill_pattern(wbuf, sectors[2]);
	want = checksum(wbuf, BLOCK);
	fill_qwords(rbuf, sizeof(rbuf), 0);
	s = blk_request(VIRTIO_BLK_T_IN, sectors[2] - BLOCK_SECTORS, rbuf, BLOCK, 2,
			false, true);
	ck(s == VIRTIO_BLK_S_OK && checksum(rbuf + BLOCK, BLOCK) == want,
	   "indirect 2-segment read ending at the last sector (status %u)", s);
}

static const uint64_t blk_want = VIRTIO_BIT(VIRTIO_BLK_F_RO) |
		VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
		VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) |
		VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
		VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

static void check_blk_config(bool readonly)
{
	uint64_t sectors;
	uint32_t seg_max = virtio_cfg32(&blk_dev, VIRTIO_BLK_CFG_SEG_MAX);

	capacity = virtio_cfg64(&blk_dev, VIRTIO_BLK_CFG_CAPACITY);
	say("virtio-blk: capacity %lu sectors, seg_max %u, blk_size %u", capacity,
	    seg_max, virtio_cfg32(&blk_dev, VIRTIO_BLK_CFG_BLK_SIZE));
	if (cmdline_u64(g.cl, "sectors", &sectors))
		ck(capacity == sectors, "capacity %lu sectors = sectors=%lu",
		   capacity, sectors);
	ck(capacity >= 16384, "capacity %lu sectors: at least 8 MiB to test on", capacity);
	if (blk_dev.features & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX))
		ck(seg_max >= BLK_MAX_SEGS + 2, "seg_max %u allows %u-segment chains",
		   seg_max, BLK_MAX_SEGS);
	ck(!!(blk_dev.offered & VIRTIO_BIT(VIRTIO_BLK_F_RO)) == readonly,
	   "VIRTIO_BLK_F_RO %s", readonly ? "offered (readonly)" : "not offered");
	ck(blk_dev.offered & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH), "VIRTIO_BLK_F_FLUSH offered");
}

/* The vendor capability of cfg_type type, or 0. */
static uint8_t virtio_cap(uint16_t bdf, uint8_t type)
{
	uint8_t c = 0;

	while ((c = pci_find_cap(bdf, 0x09, c)))
		if (pci_cf8_read8(bdf, c + 3) == type)
			return c;
	return 0;
}

/*
 * VIRTIO_PCI_CAP_PCI_CFG (4.1.4.9): a window onto the BARs through config
 * space. Read num_queues and write queue_select through it; the BAR must
 * agree.
 */
static void check_pci_cfg_window(const struct virtio_dev *d)
{
	uint16_t bdf = d->pci.bdf;
	uint8_t win = virtio_cap(bdf, VIRTIO_PCI_CAP_PCI_CFG);
	uint8_t common = virtio_cap(bdf, VIRTIO_PCI_CAP_COMMON);
	uint32_t base;
	uint16_t n;

	if (!ck(win && common, "virtio-blk: PCI_CFG capability present"))
		return;
	base = pci_cf8_read32(bdf, common + 8);
	pci_cf8_write8(bdf, win + 4, pci_cf8_read8(bdf, common + 4));
	pci_cf8_write32(bdf, win + 8, base + 0x12);	/* num_queues */
	pci_cf8_write32(bdf, win + 12, 2);
	n = pci_cf8_read16(bdf, win + 16);
	ck(n == d->num_queues, "PCI_CFG window reads num_queues %u (BAR says %u)", n,
	   d->num_queues);
	pci_cf8_write32(bdf, win + 8, base + 0x16);	/* queue_select */
	pci_cf8_write16(bdf, win + 16, 7);
	n = mmio_rd16(d->common + 0x16);
	ck(n == 7, "PCI_CFG window write reaches queue_select (reads %u)", n);
	mmio_wr16(d->common + 0x16, 0);
}

static void check_blk(void)
{
	bool readonly = has_word(g.cl, "readonly");
	uint64_t sectors[3];
	unsigned int i;
	uint8_t s;

	if (!g.blk || !bring_up(&blk_dev, g.blk, blk_want, 1, 128, "virtio-blk"))
		return;
	check_irq_config(&blk_dev, "virtio-blk");
	check_pci_cfg_window(&blk_dev);
	check_blk_config(readonly);
	if (capacity < 16384)
		return;
	pattern_sectors(sectors);
	say("virtio-blk: pattern at sectors %lu %lu %lu", sectors[0], sectors[1], sectors[2]);
	for (i = 0; i < 3; i++)
		check_pattern_block(sectors[i], readonly);
	s = read_block(0);
	ck(s == VIRTIO_BLK_S_OK, "read sector 0 (status %u)", s);
	s = blk_request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, false, false);
	ck(s == VIRTIO_BLK_S_OK, "FLUSH (status %u)", s);
	check_get_id();
	check_past_end();
	if (!readonly) {
		check_indirect(sectors);
		check_discard((capacity / 4) & ~2047ULL);
		check_write_zeroes((capacity / 4 * 3) & ~2047ULL);
	}
}

/* A chain whose next index is past the ring: the device must give up on it. */
static void check_hostile(void)
{
	struct virtq *q = &blk_dev.vq[0];
	struct virtq_desc *d;
	uint64_t start;
	uint16_t head;
	uint8_t s;

	if (!g.blk || !q->ready) {
		ck(false, "hostile: needs a working virtio-blk");
		return;
	}
	head = q->free_head;
	d = &q->desc[head];
	req.hdr = (struct virtio_blk_hdr){ VIRTIO_BLK_T_IN, 0, 0 };
	d->addr = (uint64_t)&req.hdr;
	d->len = sizeof(req.hdr);
	d->flags = VIRTQ_DESC_F_NEXT;
	d->next = (uint16_t)(q->size + 7);
	virtq_post(q, head);
	virtq_kick(q);
	start = rdtsc();
	while (!((s = virtio_status(&blk_dev)) & VIRTIO_STATUS_NEEDS_RESET) &&
	       rdtsc() - start < VIRTIO_WAIT_CYCLES)
		cpu_relax();
	ck(s & VIRTIO_STATUS_NEEDS_RESET,
	   "hostile: next %u >= size %u sets DEVICE_NEEDS_RESET (status 0x%x)",
	   d->next, q->size, s);
	if (!ck(start_dev(&blk_dev, blk_want, 1, 128, "virtio-blk"),
		"hostile: reset and set up again"))
		return;
	s = read_block(0);
	ck(s == VIRTIO_BLK_S_OK, "hostile: a read works after the reset (status %u)", s);
}

int guest_main(const struct hvm_start_info *si)
{
	g.cl = cmdline(si);
	have_uart = uart_present();
	say("virtio_io: cmdline \"%s\", COM1 %s", g.cl, have_uart ? "present" : "absent");
	if (!cmdline_get(g.cl, "expect", g.expect, sizeof(g.expect)))
		g.expect[0] = '\0';
	enumerate();
	console_up();
	check_pci(si);
	check_blk();
	check_rng();
	if (has_word(g.cl, "hostile"))
		check_hostile();
	wait_at_end = has_word(g.cl, "wait");
	done();
}
