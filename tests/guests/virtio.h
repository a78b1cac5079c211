/* SPDX-License-Identifier: MIT */
/*
 * A polling virtio 1.2 driver for modern PCI devices (virtio 1.2, sections
 * 2, 3.1 and 4.1), for the test and benchmark guests: capabilities, reset,
 * feature negotiation, split virtqueues in static memory, kicks through the
 * notify capability, completions by polling the used ring. No interrupts:
 * every MSI-X vector is left at VIRTIO_MSI_NO_VECTOR.
 *
 * The driver state is plain memory, so the same calls work at CPL3 once
 * the pages are user-accessible (bench/blk_guest.c runs its loop there).
 */
#ifndef SKIFF_GUEST_VIRTIO_H
#define SKIFF_GUEST_VIRTIO_H

#include "pci.h"

#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_MODERN_BASE	0x1040	/* + virtio device id */
#define VIRTIO_ID_NET		1
#define VIRTIO_ID_BLOCK		2
#define VIRTIO_ID_CONSOLE	3
#define VIRTIO_ID_RNG		4

/* device_status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

/* Device-independent feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC	28
#define VIRTIO_F_EVENT_IDX	29
#define VIRTIO_F_VERSION_1	32
#define VIRTIO_BIT(n)		(1ULL << (n))

/* virtio_pci_cap.cfg_type (4.1.4). */
#define VIRTIO_PCI_CAP_COMMON	1
#define VIRTIO_PCI_CAP_NOTIFY	2
#define VIRTIO_PCI_CAP_ISR	3
#define VIRTIO_PCI_CAP_DEVICE	4
#define VIRTIO_PCI_CAP_PCI_CFG	5

/* virtio_pci_cap field offsets from the capability. */
#define VIRTIO_CAP_CFG_TYPE	3
#define VIRTIO_CAP_BAR		4
#define VIRTIO_CAP_OFFSET	8
#define VIRTIO_CAP_LENGTH	12
#define VIRTIO_CAP_NOTIFY_MULT	16

/* struct virtio_pci_common_cfg offsets (4.1.4.3). */
#define VIRTIO_COMMON_DFSELECT		0x00
#define VIRTIO_COMMON_DF		0x04
#define VIRTIO_COMMON_GFSELECT		0x08
#define VIRTIO_COMMON_GF		0x0c
#define VIRTIO_COMMON_MSIX		0x10
#define VIRTIO_COMMON_NUMQ		0x12
#define VIRTIO_COMMON_STATUS		0x14
#define VIRTIO_COMMON_CFGGEN		0x15
#define VIRTIO_COMMON_Q_SELECT		0x16
#define VIRTIO_COMMON_Q_SIZE		0x18
#define VIRTIO_COMMON_Q_MSIX		0x1a
#define VIRTIO_COMMON_Q_ENABLE		0x1c
#define VIRTIO_COMMON_Q_NOFF		0x1e
#define VIRTIO_COMMON_Q_DESCLO		0x20
#define VIRTIO_COMMON_Q_DESCHI		0x24
#define VIRTIO_COMMON_Q_AVAILLO		0x28
#define VIRTIO_COMMON_Q_AVAILHI		0x2c
#define VIRTIO_COMMON_Q_USEDLO		0x30
#define VIRTIO_COMMON_Q_USEDHI		0x34
#define VIRTIO_COMMON_LEN		0x38	/* what a 1.0 device has at least */

#define VIRTIO_MSI_NO_VECTOR	0xffff

/* MSI-X capability (PCI 3.0, 6.8.2). */
#define PCI_MSIX_CTRL		2
#define PCI_MSIX_TABLE		4
#define PCI_MSIX_PBA		8
#define PCI_MSIX_CTRL_SIZE	0x07ff
#define PCI_MSIX_CTRL_MASKALL	0x4000
#define PCI_MSIX_CTRL_ENABLE	0x8000
#define PCI_MSIX_BIR		0x7

/* Split virtqueue layout (2.7). */
#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
#define VIRTQ_USED_F_NO_NOTIFY	1
/* The largest queue this driver sets up; a device may offer more. */
#define VIRTQ_MAX		256

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* One buffer of a chain: device-readable ones first, then writable. */
struct virtq_buf {
	uint64_t addr;
	uint32_t len;
	bool write;
};

struct virtio_dev;

struct virtq {
	struct virtio_dev *dev;
	uint16_t index, size;
	struct virtq_desc *desc;
	volatile uint16_t *avail;		/* flags, idx, ring[size], used_event */
	volatile uint16_t *used;		/* flags, idx, then elements */
	uint16_t *chain_len;			/* by head: descriptors in flight */
	uint16_t free_head, num_free;
	uint16_t avail_idx;			/* ours, published by virtq_kick() */
	uint16_t kicked_idx;			/* avail_idx at the last kick */
	uint16_t last_used;
	uint64_t notify;			/* address of this queue's doorbell */
	bool event_idx;
	bool ready;
};

#define VIRTIO_MAX_QUEUES	4

struct virtio_dev {
	struct pci_dev pci;
	uint64_t common, isr, device_cfg, notify_base;
	uint32_t device_cfg_len, notify_len, notify_mult;
	uint8_t msix_cap;			/* config-space offset, 0: none */
	uint64_t offered, features;
	uint16_t num_queues;			/* what common cfg reports */
	struct virtq vq[VIRTIO_MAX_QUEUES];
};

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/*
 * How long virtq_wait() polls, in TSC cycles: several seconds at any
 * plausible TSC rate, so a lost completion fails instead of hanging.
 */
#define VIRTIO_WAIT_CYCLES	20000000000ULL

/* Virtio id of a modern virtio PCI function, or 0 for anything else. */
unsigned int virtio_pci_id(const struct pci_dev *p);

/*
 * Read the vendor capabilities of p, whose BARs must already be programmed
 * and decoding (pci_dev_setup()). false if a required structure (common,
 * notify, ISR) is missing, or any lies outside its BAR. The device config
 * is optional (device_cfg_len 0: virtio_cfg*() read 0).
 */
bool virtio_attach(struct virtio_dev *d, const struct pci_dev *p);

uint8_t virtio_status(const struct virtio_dev *d);
void virtio_set_status(struct virtio_dev *d, uint8_t s);
/* Write 0 and wait (boundedly) until the device reads back 0. */
bool virtio_reset(struct virtio_dev *d);

/*
 * Reset, ACKNOWLEDGE | DRIVER, offer VERSION_1 plus whichever of want the
 * device offers, FEATURES_OK, and read it back. false if VERSION_1 is not
 * offered (status FAILED is then set) or the device cleared FEATURES_OK.
 * d->offered and d->features hold what was offered and accepted.
 */
bool virtio_negotiate(struct virtio_dev *d, uint64_t want);

/*
 * Set queue index up with at most max_size entries (power of two, <=
 * VIRTQ_MAX) in memory from a static arena (reused after a reset), its
 * MSI-X vector at NO_VECTOR. false if the queue does not exist, the arena
 * is out of room or the device refuses the settings.
 */
bool virtq_setup(struct virtio_dev *d, uint16_t index, uint16_t max_size);

void virtio_driver_ok(struct virtio_dev *d);

/* Device-specific configuration, read generation-consistently. */
uint8_t virtio_cfg8(const struct virtio_dev *d, uint32_t off);
uint16_t virtio_cfg16(const struct virtio_dev *d, uint32_t off);
uint32_t virtio_cfg32(const struct virtio_dev *d, uint32_t off);
uint64_t virtio_cfg64(const struct virtio_dev *d, uint32_t off);

/*
 * Queue a chain of n buffers (not yet visible to the device: virtq_kick()
 * publishes). Returns its head descriptor, or -1 if there is no room.
 */
int virtq_add(struct virtq *q, const struct virtq_buf *bufs, unsigned int n);
/* The same as one ring descriptor pointing at table[n] (INDIRECT_DESC). */
int virtq_add_indirect(struct virtq *q, const struct virtq_buf *bufs,
		       unsigned int n, struct virtq_desc *table);
/*
 * Put head on the avail ring as it is: for chains built by hand (the
 * hostile-guest test writes descriptors the device must refuse).
 */
void virtq_post(struct virtq *q, uint16_t head);

/* Publish what was added and notify the device if it wants a kick. */
void virtq_kick(struct virtq *q);

/*
 * The next completed chain: its head (freed for reuse) and the bytes the
 * device wrote into *len, or -1 if none is ready. -2 if the device
 * returned a head that is not in flight (a device bug).
 */
int virtq_poll(struct virtq *q, uint32_t *len);

/* virtq_poll() until something completes, for up to cycles TSC cycles. */
int virtq_wait(struct virtq *q, uint32_t *len, uint64_t cycles);

/* Add, kick, wait: one synchronous request. Head, or negative. */
int virtq_run(struct virtq *q, const struct virtq_buf *bufs, unsigned int n,
	      uint32_t *len);

/* virtio-blk (5.2) */
#define VIRTIO_BLK_F_SIZE_MAX		1
#define VIRTIO_BLK_F_SEG_MAX		2
#define VIRTIO_BLK_F_RO			5
#define VIRTIO_BLK_F_BLK_SIZE		6
#define VIRTIO_BLK_F_FLUSH		9
#define VIRTIO_BLK_F_DISCARD		13
#define VIRTIO_BLK_F_WRITE_ZEROES	14

#define VIRTIO_BLK_CFG_CAPACITY		0
#define VIRTIO_BLK_CFG_SIZE_MAX		8
#define VIRTIO_BLK_CFG_SEG_MAX		12
#define VIRTIO_BLK_CFG_BLK_SIZE		20
#define VIRTIO_BLK_CFG_MAX_DISCARD	36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG	40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN	44
#define VIRTIO_BLK_CFG_MAX_WZ		48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG	52

#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_OUT		1
#define VIRTIO_BLK_T_FLUSH		4
#define VIRTIO_BLK_T_GET_ID		8
#define VIRTIO_BLK_T_DISCARD		11
#define VIRTIO_BLK_T_WRITE_ZEROES	13

#define VIRTIO_BLK_S_OK			0
#define VIRTIO_BLK_S_IOERR		1
#define VIRTIO_BLK_S_UNSUPP		2
#define VIRTIO_BLK_ID_BYTES		20
#define VIRTIO_BLK_SECTOR		512

struct virtio_blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct virtio_blk_range {	/* DISCARD / WRITE_ZEROES payload */
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;		/* bit 0: unmap (WRITE_ZEROES) */
};

/* virtio-net (5.1) */
#define VIRTIO_NET_F_MTU		3
#define VIRTIO_NET_F_MAC		5
#define VIRTIO_NET_F_MRG_RXBUF		15
#define VIRTIO_NET_F_STATUS		16
#define VIRTIO_NET_F_CTRL_VQ		17
#define VIRTIO_NET_F_MQ			22

#define VIRTIO_NET_CFG_MAC		0
#define VIRTIO_NET_CFG_STATUS		6
#define VIRTIO_NET_CFG_MAX_PAIRS	8
#define VIRTIO_NET_CFG_MTU		10
#define VIRTIO_NET_S_LINK_UP		1

#define VIRTIO_NET_RXQ			0
#define VIRTIO_NET_TXQ			1
#define ETH_ALEN			6

/* What precedes every frame on both queues once VERSION_1 is in (5.1.6). */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

/* virtio-console (5.3): port 0 without MULTIPORT. */
#define VIRTIO_CONSOLE_RXQ	0
#define VIRTIO_CONSOLE_TXQ	1

#endif
