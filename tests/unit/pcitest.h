/* SPDX-License-Identifier: MIT */
/*
 * PCI and virtio test helpers on top of devtest: a bare VM with guest RAM,
 * an I/O event loop that the test runs by hand, and the PCI host bridge;
 * config space through 0xCF8/0xCFC and through ECAM; MMIO accesses; and a
 * small virtio-pci driver written from the spec (not from the device
 * code): it finds the capabilities, negotiates, sets up split queues in
 * guest RAM and posts descriptor chains. Plain helpers are named pt_*.
 */
#ifndef SKIFF_TESTS_PCITEST_H
#define SKIFF_TESTS_PCITEST_H

#include <stdbool.h>
#include <stdint.h>

#include "devtest.h"

#define PCITEST_RAM_SIZE	(64ULL << 20)
/* Where the driver puts queue rings, and its buffer heap, in guest RAM. */
#define PCITEST_RING_GPA	0x100000ULL
#define PCITEST_RING_STRIDE	0x10000ULL
#define PCITEST_HEAP_GPA	0x400000ULL

/* PCI ids (PCI Local Bus spec, virtio 1.2 4.1.2). */
#define PCITEST_VIRTIO_VENDOR	0x1af4
#define PCITEST_VIRTIO_DEV(id)	(0x1040 + (id))

/* virtio_pci_cap cfg_type (4.1.4). */
#define VCAP_COMMON	1
#define VCAP_NOTIFY	2
#define VCAP_ISR	3
#define VCAP_DEVICE	4
#define VCAP_PCI_CFG	5

/* struct virtio_pci_common_cfg (4.1.4.3). */
#define VC_DFSELECT	0x00
#define VC_DF		0x04
#define VC_GFSELECT	0x08
#define VC_GF		0x0c
#define VC_MSIX		0x10
#define VC_NUMQ		0x12
#define VC_STATUS	0x14
#define VC_CFGGEN	0x15
#define VC_QSELECT	0x16
#define VC_QSIZE	0x18
#define VC_QMSIX	0x1a
#define VC_QENABLE	0x1c
#define VC_QNOFF	0x1e
#define VC_QDESC	0x20
#define VC_QAVAIL	0x28
#define VC_QUSED	0x30

/* Device status (2.1) and features. */
#define VS_ACK		0x01
#define VS_DRIVER	0x02
#define VS_DRIVER_OK	0x04
#define VS_FEATURES_OK	0x08
#define VS_NEEDS_RESET	0x40
#define VS_FAILED	0x80
#define VF_INDIRECT	28
#define VF_EVENT_IDX	29
#define VF_VERSION_1	32
#define VNO_VECTOR	0xffff

/* Split-ring descriptor flags. */
#define VD_NEXT		1
#define VD_WRITE	2
#define VD_INDIRECT	4

/* What the driver programs MSI-X entry v with. */
#define PCITEST_MSI_ADDR	0xfee00000ULL
#define PCITEST_MSI_DATA(v)	(0x40u + (v))

/*
 * A bare VM (cfg may be NULL) with PCITEST_RAM_SIZE of RAM, an event loop
 * in vm->io and the PCI host bridge attached. Attach devices with
 * devtest_attach(); free with devtest_free().
 */
struct devtest *pcitest_new(const struct vm_config *cfg);

/* Config space of 00:slot.0; len 1, 2 or 4; accesses the bus must claim. */
uint32_t pt_cf8_read(struct vm *vm, unsigned int slot, unsigned int off, unsigned int len);
void pt_cf8_write(struct vm *vm, unsigned int slot, unsigned int off, uint32_t val,
	       unsigned int len);
uint64_t pt_ecam_addr(unsigned int slot, unsigned int fn, unsigned int off);
uint32_t pt_ecam_read(struct vm *vm, unsigned int slot, unsigned int off, unsigned int len);
void pt_ecam_write(struct vm *vm, unsigned int slot, unsigned int off, uint32_t val,
		unsigned int len);

/* MMIO of len (1..8) bytes; true if a region claimed it. */
bool pt_mmio_try(struct vm *vm, uint64_t addr, uint64_t *val, unsigned int len,
	      bool is_write);
/* The same, failing the test when nothing claims the access. */
uint64_t pt_mmio_read(struct vm *vm, uint64_t addr, unsigned int len);
void pt_mmio_write(struct vm *vm, uint64_t addr, uint64_t val, unsigned int len);

/* The address BAR nr of slot holds (both halves of a 64-bit BAR). */
uint64_t pt_bar_addr(struct vm *vm, unsigned int slot, unsigned int nr);
/* The slot holding vendor:device, or -1. */
int pt_find(struct vm *vm, uint16_t vendor, uint16_t device);
/* Config offset of the first capability id at or after list entry from, or 0. */
uint8_t pt_find_cap(struct vm *vm, unsigned int slot, uint8_t id, uint8_t from);

/* Run every ready event-loop callback, without waiting. */
void pcitest_run(struct vm *vm);

/* Capture what is written to stderr between begin and end (a string to free). */
struct pt_capture {
	int saved_fd;
	int file_fd;
};
void pt_capture_begin(struct pt_capture *c);
char *pt_capture_end(struct pt_capture *c);
/* Occurrences of needle in haystack. */
unsigned int pt_count(const char *haystack, const char *needle);

/* ---- A minimal virtio-pci driver ---- */

#define VDRV_MAX_QUEUES 8	/* rings at RING_GPA + qi * RING_STRIDE, below the heap */

struct vdrv_queue {
	uint16_t size;
	uint64_t desc, avail, used;	/* guest-physical */
	uint16_t avail_idx;		/* the driver's shadow */
	uint16_t next_desc;		/* descriptors are handed out round-robin */
};

/* One buffer of a chain. */
struct vbuf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

struct vdrv {
	struct devtest *dt;
	struct vm *vm;
	unsigned int slot;
	/* From the capabilities: MMIO addresses of each structure. */
	uint64_t common, isr, notify, device;
	uint32_t common_len, isr_len, notify_len, device_len;
	uint32_t notify_mult;
	uint8_t msix_cap;
	uint64_t msix_table, msix_pba;
	unsigned int msix_nr;
	uint64_t heap;			/* next free guest buffer */
	uint64_t ring_base;		/* queue qi's rings at + qi * RING_STRIDE */
	struct vdrv_queue q[VDRV_MAX_QUEUES];
};

/*
 * Turn on memory decode and bus mastering for slot and read its
 * capabilities as a driver would; fails the test unless common, notify
 * and ISR structures (and MSI-X) are all there.
 */
void vdrv_probe(struct vdrv *d, struct devtest *dt, unsigned int slot);

/* Common configuration structure fields. */
uint64_t vdrv_read(struct vdrv *d, unsigned int off, unsigned int len);
void vdrv_write(struct vdrv *d, unsigned int off, uint64_t val, unsigned int len);
uint8_t vdrv_status(struct vdrv *d);
void vdrv_set_status(struct vdrv *d, uint8_t status);
uint64_t vdrv_device_features(struct vdrv *d);
/* Write the 64 driver feature bits as two selected dwords. */
void vdrv_write_features(struct vdrv *d, uint64_t features);

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK: true if accepted. */
bool vdrv_negotiate(struct vdrv *d, uint64_t features);

/* Program and unmask MSI-X entries 0..nr-1, then enable MSI-X. */
void vdrv_msix_enable(struct vdrv *d, unsigned int nr);

/*
 * Set queue qi up with size entries (0: the device's maximum) and MSI-X
 * vector, over zeroed rings in guest RAM, and enable it.
 */
void vdrv_setup_queue(struct vdrv *d, unsigned int qi, uint16_t size, uint16_t vector);

/*
 * The usual bring-up: negotiate features (asserting success), MSI-X with
 * one vector per queue plus config (vector nq), nq queues, DRIVER_OK.
 */
void vdrv_init(struct vdrv *d, uint64_t features, unsigned int nq);

/* Guest buffers from a bump allocator (16-byte aligned) and their host view. */
uint64_t vdrv_alloc(struct vdrv *d, uint32_t len);
void *vdrv_ptr(struct vdrv *d, uint64_t gpa, uint64_t len);

/* Write descriptor i of queue qi as is. */
void vdrv_set_desc(struct vdrv *d, unsigned int qi, uint16_t i, uint64_t addr,
		   uint32_t len, uint16_t flags, uint16_t next);
/* Make head available (ring entry, then idx). */
void vdrv_publish(struct vdrv *d, unsigned int qi, uint16_t head);
/* Chain bufs[0..n-1] through the next free descriptors and publish; the head. */
uint16_t vdrv_post(struct vdrv *d, unsigned int qi, const struct vbuf *bufs,
		   unsigned int n);
/* Write the queue's notify address, as the guest kicks. */
void vdrv_kick(struct vdrv *d, unsigned int qi);

uint16_t vdrv_used_idx(struct vdrv *d, unsigned int qi);
/* Used element n (counting from 0 since the queue was set up). */
void vdrv_used_elem(struct vdrv *d, unsigned int qi, uint16_t n, uint32_t *id,
		    uint32_t *len);
/* Run the event loop until the used index reaches idx; false on timeout. */
bool vdrv_wait_used(struct vdrv *d, unsigned int qi, uint16_t idx, int timeout_ms);

#endif
