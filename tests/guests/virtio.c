// SPDX-License-Identifier: MIT
/* A polling virtio 1.2 modern PCI driver for the guests: see virtio.h. */
#include "virtio.h"

#define VIRTIO_PCI_MODERN_LAST	0x107f
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
/* Device config reads retry this often while config_generation moves. */
#define CFG_GEN_TRIES		16

/*
 * Ring memory for every queue the guest sets up. Static, so it sits in the
 * identity-mapped image and its addresses are guest-physical addresses.
 */
#define VIRTQ_ARENA_BYTES	(64 * 1024)
static uint8_t vq_arena[VIRTQ_ARENA_BYTES] __attribute__((aligned(4096)));
static size_t vq_arena_used;

unsigned int virtio_pci_id(const struct pci_dev *p)
{
	if (p->vendor != VIRTIO_PCI_VENDOR || p->device < VIRTIO_PCI_MODERN_BASE ||
	    p->device > VIRTIO_PCI_MODERN_LAST)
		return 0;
	return p->device - VIRTIO_PCI_MODERN_BASE;
}

/* Common configuration access, each field at its own width. */
static uint8_t common_r8(const struct virtio_dev *d, uint32_t off)
{
	return mmio_rd8(d->common + off);
}

static uint16_t common_r16(const struct virtio_dev *d, uint32_t off)
{
	return mmio_rd16(d->common + off);
}

static uint32_t common_r32(const struct virtio_dev *d, uint32_t off)
{
	return mmio_read32(d->common + off);
}

static void common_w16(struct virtio_dev *d, uint32_t off, uint16_t v)
{
	mmio_wr16(d->common + off, v);
}

static void common_w32(struct virtio_dev *d, uint32_t off, uint32_t v)
{
	mmio_write32(d->common + off, v);
}

/* 64-bit fields as two 32-bit writes, low half first (4.1.3.1). */
static void common_w64(struct virtio_dev *d, uint32_t off, uint64_t v)
{
	common_w32(d, off, (uint32_t)v);
	common_w32(d, off + 4, (uint32_t)(v >> 32));
}

/*
 * Where a virtio structure lives: BAR bar + off, checked against the BAR's
 * size so a bad capability cannot send the driver outside its device.
 */
static bool cap_region(uint16_t bdf, uint8_t bar, uint32_t off, uint32_t len,
		       uint64_t *addr)
{
	struct pci_bar b;

	if (!pci_bar_probe(bdf, bar, &b) || b.io || !b.addr || !b.size ||
	    off > b.size || len > b.size - off)
		return false;
	*addr = b.addr + off;
	return *addr + len <= 0x100000000ULL;
}

/* Record one vendor capability; false if it points outside its BAR. */
static bool take_cap(struct virtio_dev *d, uint8_t pos, unsigned int *seen)
{
	uint16_t bdf = d->pci.bdf;
	uint8_t type = pci_cf8_read8(bdf, pos + VIRTIO_CAP_CFG_TYPE);
	uint8_t bar = pci_cf8_read8(bdf, pos + VIRTIO_CAP_BAR);
	uint32_t off = pci_cf8_read32(bdf, pos + VIRTIO_CAP_OFFSET);
	uint32_t len = pci_cf8_read32(bdf, pos + VIRTIO_CAP_LENGTH);
	uint64_t addr;

	/* The first of each type wins; unknown types and BARs are skipped (4.1.4). */
	if (type < VIRTIO_PCI_CAP_COMMON || type > VIRTIO_PCI_CAP_DEVICE ||
	    (*seen & 1U << type) || bar >= PCI_NUM_BARS)
		return true;
	if (!cap_region(bdf, bar, off, len, &addr))
		return false;
	*seen |= 1U << type;
	switch (type) {
	case VIRTIO_PCI_CAP_COMMON:
		d->common = addr;
		return len >= VIRTIO_COMMON_LEN;
	case VIRTIO_PCI_CAP_NOTIFY:
		d->notify_base = addr;
		d->notify_len = len;
		d->notify_mult = pci_cf8_read32(bdf, pos + VIRTIO_CAP_NOTIFY_MULT);
		return len >= 2;
	case VIRTIO_PCI_CAP_ISR:
		d->isr = addr;
		return len >= 1;
	default:
		d->device_cfg = addr;
		d->device_cfg_len = len;
		return true;
	}
}

bool virtio_attach(struct virtio_dev *d, const struct pci_dev *p)
{
	/* No device config for a device type without one (4.1.4.6). */
	const unsigned int need = 1U << VIRTIO_PCI_CAP_COMMON |
		1U << VIRTIO_PCI_CAP_NOTIFY | 1U << VIRTIO_PCI_CAP_ISR;
	unsigned int seen = 0;
	uint8_t pos = 0;

	memset(d, 0, sizeof(*d));
	d->pci = *p;
	while ((pos = pci_find_cap(p->bdf, PCI_CAP_ID_VNDR, pos)))
		if (!take_cap(d, pos, &seen))
			return false;
	if ((seen & need) != need)
		return false;
	d->msix_cap = pci_find_cap(p->bdf, PCI_CAP_ID_MSIX, 0);
	d->num_queues = common_r16(d, VIRTIO_COMMON_NUMQ);
	return true;
}

uint8_t virtio_status(const struct virtio_dev *d)
{
	return common_r8(d, VIRTIO_COMMON_STATUS);
}

void virtio_set_status(struct virtio_dev *d, uint8_t s)
{
	mmio_wr8(d->common + VIRTIO_COMMON_STATUS, s);
}

bool virtio_reset(struct virtio_dev *d)
{
	uint64_t start = rdtsc();
	unsigned int i;

	virtio_set_status(d, 0);
	/* The device may finish resetting later: wait for 0 (4.1.4.3.2). */
	while (virtio_status(d) != 0) {
		if (rdtsc() - start > VIRTIO_WAIT_CYCLES)
			return false;
		cpu_relax();
	}
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->vq[i].ready = false;
	return true;
}

static uint64_t device_features(struct virtio_dev *d)
{
	uint32_t lo, hi;

	common_w32(d, VIRTIO_COMMON_DFSELECT, 0);
	lo = common_r32(d, VIRTIO_COMMON_DF);
	common_w32(d, VIRTIO_COMMON_DFSELECT, 1);
	hi = common_r32(d, VIRTIO_COMMON_DF);
	return (uint64_t)hi << 32 | lo;
}

bool virtio_negotiate(struct virtio_dev *d, uint64_t want)
{
	const uint8_t base = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	d->offered = d->features = 0;
	if (!virtio_reset(d))
		return false;
	virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(d, base);
	d->offered = device_features(d);
	if (!(d->offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		virtio_set_status(d, base | VIRTIO_STATUS_FAILED);
		return false;
	}
	d->features = d->offered & (want | VIRTIO_BIT(VIRTIO_F_VERSION_1));
	common_w32(d, VIRTIO_COMMON_GFSELECT, 0);
	common_w32(d, VIRTIO_COMMON_GF, (uint32_t)d->features);
	common_w32(d, VIRTIO_COMMON_GFSELECT, 1);
	common_w32(d, VIRTIO_COMMON_GF, (uint32_t)(d->features >> 32));
	virtio_set_status(d, base | VIRTIO_STATUS_FEATURES_OK);
	/* The device may refuse the subset by clearing FEATURES_OK (3.1.1). */
	return virtio_status(d) & VIRTIO_STATUS_FEATURES_OK;
}

void virtio_driver_ok(struct virtio_dev *d)
{
	virtio_set_status(d, virtio_status(d) | VIRTIO_STATUS_DRIVER_OK);
}

/* Layout of one queue's block: desc, avail, used, then our chain lengths. */
static size_t avail_off(uint16_t n)
{
	return 16 * (size_t)n;
}

static size_t used_off(uint16_t n)
{
	return (avail_off(n) + 6 + 2 * (size_t)n + 3) & ~(size_t)3;
}

static size_t chain_off(uint16_t n)
{
	return used_off(n) + 6 + 8 * (size_t)n;
}

static size_t queue_bytes(uint16_t n)
{
	return (chain_off(n) + 2 * (size_t)n + 4095) & ~(size_t)4095;
}

/* Zero with 8-byte stores: byte loops cost ~1 us each at emulated CPL0. */
static void zero_qwords(void *p, size_t bytes)
{
	volatile uint64_t *q = p;
	size_t i;

	for (i = 0; i < bytes / 8; i++)
		q[i] = 0;
}

/* Give q ring memory for n entries: the arena block it had, or a new one. */
static bool queue_memory(struct virtq *q, uint16_t n)
{
	uint8_t *mem = (uint8_t *)q->desc;

	if (!mem || queue_bytes(n) > queue_bytes(q->size)) {
		if (queue_bytes(n) > VIRTQ_ARENA_BYTES - vq_arena_used)
			return false;
		mem = vq_arena + vq_arena_used;
		vq_arena_used += queue_bytes(n);
	}
	zero_qwords(mem, queue_bytes(n));
	q->desc = (struct virtq_desc *)mem;
	q->avail = (volatile uint16_t *)(mem + avail_off(n));
	q->used = (volatile uint16_t *)(mem + used_off(n));
	q->chain_len = (uint16_t *)(mem + chain_off(n));
	return true;
}

static uint16_t pow2_floor(uint16_t v)
{
	uint16_t p = 1;

	while (p <= v / 2)
		p *= 2;
	return p;
}

static void queue_init_state(struct virtq *q, uint16_t n)
{
	uint16_t i;

	q->size = n;
	for (i = 0; i < n; i++)
		q->desc[i].next = (uint16_t)(i + 1);
	q->free_head = 0;
	q->num_free = n;
	q->avail_idx = q->kicked_idx = q->last_used = 0;
	/* Polling: ask for no interrupts (must stay 0 with EVENT_IDX, 2.7.7). */
	q->avail[0] = q->event_idx ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
}

bool virtq_setup(struct virtio_dev *d, uint16_t index, uint16_t max_size)
{
	struct virtq *q;
	uint16_t dev_max, n, noff;
	uint64_t notify_off;

	if (index >= VIRTIO_MAX_QUEUES || !max_size)
		return false;
	q = &d->vq[index];
	common_w16(d, VIRTIO_COMMON_Q_SELECT, index);
	dev_max = common_r16(d, VIRTIO_COMMON_Q_SIZE);
	if (!dev_max)
		return false;
	n = dev_max < max_size ? dev_max : max_size;
	n = pow2_floor(n < VIRTQ_MAX ? n : VIRTQ_MAX);
	noff = common_r16(d, VIRTIO_COMMON_Q_NOFF);
	notify_off = (uint64_t)noff * d->notify_mult;
	if (notify_off + 2 > d->notify_len || !queue_memory(q, n))
		return false;
	q->dev = d;
	q->index = index;
	q->event_idx = d->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	q->notify = d->notify_base + notify_off;
	queue_init_state(q, n);

	common_w16(d, VIRTIO_COMMON_Q_SIZE, n);
	common_w64(d, VIRTIO_COMMON_Q_DESCLO, (uint64_t)q->desc);
	common_w64(d, VIRTIO_COMMON_Q_AVAILLO, (uint64_t)q->avail);
	common_w64(d, VIRTIO_COMMON_Q_USEDLO, (uint64_t)q->used);
	common_w16(d, VIRTIO_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
	common_w16(d, VIRTIO_COMMON_Q_ENABLE, 1);
	q->ready = common_r16(d, VIRTIO_COMMON_Q_ENABLE) == 1 &&
		   common_r16(d, VIRTIO_COMMON_Q_SIZE) == n;
	return q->ready;
}

/* Device configuration */

static bool cfg_in_range(const struct virtio_dev *d, uint32_t off, uint32_t width)
{
	return off <= d->device_cfg_len && width <= d->device_cfg_len - off;
}

uint8_t virtio_cfg8(const struct virtio_dev *d, uint32_t off)
{
	return cfg_in_range(d, off, 1) ? mmio_rd8(d->device_cfg + off) : 0;
}

uint16_t virtio_cfg16(const struct virtio_dev *d, uint32_t off)
{
	return cfg_in_range(d, off, 2) ? mmio_rd16(d->device_cfg + off) : 0;
}

uint32_t virtio_cfg32(const struct virtio_dev *d, uint32_t off)
{
	return cfg_in_range(d, off, 4) ? mmio_read32(d->device_cfg + off) : 0;
}

/* Two 32-bit reads, retried while config_generation changes (4.1.3.1). */
uint64_t virtio_cfg64(const struct virtio_dev *d, uint32_t off)
{
	uint32_t lo = 0, hi = 0;
	unsigned int tries;
	uint8_t gen;

	if (!cfg_in_range(d, off, 8))
		return 0;
	for (tries = 0; tries < CFG_GEN_TRIES; tries++) {
		gen = common_r8(d, VIRTIO_COMMON_CFGGEN);
		lo = mmio_read32(d->device_cfg + off);
		hi = mmio_read32(d->device_cfg + off + 4);
		if (gen == common_r8(d, VIRTIO_COMMON_CFGGEN))
			break;
	}
	return (uint64_t)hi << 32 | lo;
}

/* Virtqueues */

void virtq_post(struct virtq *q, uint16_t head)
{
	q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
	q->avail_idx++;
}

int virtq_add(struct virtq *q, const struct virtq_buf *bufs, unsigned int n)
{
	uint16_t head = q->free_head, idx = head;
	unsigned int i;

	if (!n || n > q->num_free)
		return -1;
	for (i = 0; i < n; i++) {
		struct virtq_desc *dsc = &q->desc[idx];

		dsc->addr = bufs[i].addr;
		dsc->len = bufs[i].len;
		dsc->flags = (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
			     (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		/* The free list is linked through next: it already names
		 * the chain's following descriptor. */
		idx = dsc->next;
	}
	q->free_head = idx;
	q->num_free -= n;
	q->chain_len[head] = (uint16_t)n;
	virtq_post(q, head);
	return head;
}

int virtq_add_indirect(struct virtq *q, const struct virtq_buf *bufs,
		       unsigned int n, struct virtq_desc *table)
{
	struct virtq_buf one;
	unsigned int i;
	int head;

	for (i = 0; i < n; i++) {
		table[i].addr = bufs[i].addr;
		table[i].len = bufs[i].len;
		table[i].flags = (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		table[i].next = (uint16_t)(i + 1);
	}
	one.addr = (uint64_t)table;
	one.len = n * sizeof(*table);
	one.write = false;
	head = virtq_add(q, &one, 1);
	if (head >= 0)
		q->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
	return head;
}

/* Whether the device asked to be kicked for avail moving old -> new (2.7.10). */
static bool wants_kick(const struct virtq *q, uint16_t old, uint16_t new)
{
	uint16_t event;

	if (!q->event_idx)
		return !(q->used[0] & VIRTQ_USED_F_NO_NOTIFY);
	event = q->used[2 + 4 * q->size];	/* avail_event, after the ring */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void virtq_kick(struct virtq *q)
{
	uint16_t old = q->kicked_idx, new = q->avail_idx;

	if (old == new)
		return;
	/* Ring entries before the index: x86 keeps stores in order. */
	__asm__ volatile("" ::: "memory");
	q->avail[1] = new;
	/* The index must be visible before we read the device's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->kicked_idx = new;
	if (wants_kick(q, old, new))
		mmio_wr16(q->notify, q->index);
}

static void free_chain(struct virtq *q, uint16_t head)
{
	uint16_t n = q->chain_len[head], last = head, i;

	for (i = 1; i < n; i++)
		last = q->desc[last].next & (q->size - 1);
	q->desc[last].next = q->free_head;
	q->free_head = head;
	q->num_free += n;
	q->chain_len[head] = 0;
}

int virtq_poll(struct virtq *q, uint32_t *len)
{
	volatile const uint32_t *elem;
	uint32_t id;

	if (q->used[1] == q->last_used)
		return -1;
	/* The element after the index: x86 keeps loads in order. */
	__asm__ volatile("" ::: "memory");
	elem = (volatile const uint32_t *)(q->used + 2) +
	       2 * (q->last_used & (q->size - 1));
	id = elem[0];
	*len = elem[1];
	q->last_used++;
	if (id >= q->size || !q->chain_len[id])
		return -2;
	free_chain(q, (uint16_t)id);
	return (int)id;
}

int virtq_wait(struct virtq *q, uint32_t *len, uint64_t cycles)
{
	uint64_t start = rdtsc();
	int r;

	while ((r = virtq_poll(q, len)) == -1) {
		if (rdtsc() - start > cycles)
			return -1;
		cpu_relax();
	}
	return r;
}

int virtq_run(struct virtq *q, const struct virtq_buf *bufs, unsigned int n,
	      uint32_t *len)
{
	int head = virtq_add(q, bufs, n);

	if (head < 0)
		return -3;
	virtq_kick(q);
	return virtq_wait(q, len, VIRTIO_WAIT_CYCLES);
}
