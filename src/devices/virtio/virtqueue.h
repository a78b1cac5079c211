/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.2, section 2.7), device side.
 *
 * Every ring and descriptor is written by the guest, concurrently and with
 * hostile intent assumed: any rule the guest breaks makes virtq_pop() fail
 * with -EINVAL and marks the queue broken, and a broken queue stays broken
 * (every pop fails, push does nothing) until virtq_reset() or virtq_init().
 * Nothing here logs: the device reports the broken queue once.
 *
 * A struct virtq is used by one thread at a time; the device's lock
 * serialises pop, push and notification decisions.
 */
#ifndef SKIFF_DEVICES_VIRTIO_VIRTQUEUE_H
#define SKIFF_DEVICES_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/memory.h"

/* The largest queue size a split virtqueue may have (2.7). */
#define VIRTQ_MAX_SIZE 32768

/* Feature bits (of the negotiated 64-bit set) that change ring handling. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29

/* Descriptor flags. */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

/* avail->flags: the driver asks for no used-buffer interrupts. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
/* used->flags: the device asks for no available-buffer notifications. */
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Ring layout in guest memory, little-endian (virtio 1.x). */
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

/* Bytes each part occupies for a queue of n entries (event fields included). */
#define VIRTQ_DESC_BYTES(n) ((uint64_t)(n) * sizeof(struct virtq_desc))
#define VIRTQ_AVAIL_BYTES(n) (6 + 2 * (uint64_t)(n))
#define VIRTQ_USED_BYTES(n) (6 + 8 * (uint64_t)(n))

struct virtq {
	unsigned int size;		/* power of two, 1..VIRTQ_MAX_SIZE */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Host views of the three rings, validated once by virtq_init(). */
	uint8_t *desc, *avail, *used;
	uint16_t last_avail_idx;	/* next avail entry the device reads */
	uint16_t used_idx;		/* next used entry the device writes */
	bool event_idx;			/* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;			/* VIRTIO_F_INDIRECT_DESC negotiated */
	bool broken;
	const struct guest_mem *mem;
};

/* One guest buffer of a chain, already translated to a host pointer. */
struct virtq_seg {
	void *host;
	uint32_t len;
	bool device_writable;
};

/*
 * A descriptor chain popped from the avail ring. The caller owns the
 * segment array: set segs and max_segs before virtq_pop(). A chain holds
 * at most q->size descriptors, so max_segs = q->size never refuses a
 * legal chain; a smaller max_segs (a device's advertised seg_max) makes a
 * longer chain a guest violation. Zero-length descriptors are legal but
 * produce no segment. Device-readable segments all come first.
 */
struct virtq_chain {
	uint16_t head;			/* what virtq_push() reports back */
	unsigned int nr_segs;
	unsigned int max_segs;
	struct virtq_seg *segs;
	uint32_t readable;		/* bytes the device may read */
	uint32_t writable;		/* bytes the device may write */
};

/*
 * Set q up for the rings the driver configured. features is the negotiated
 * feature set. Checks size (power of two, 1..VIRTQ_MAX_SIZE), alignment
 * (desc 16, avail 2, used 4) and that each ring lies wholly in guest RAM.
 * 0, or -EINVAL with q left broken.
 */
int virtq_init(struct virtq *q, const struct guest_mem *mem, unsigned int size,
	       uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	       uint64_t features);

/* Back to the post-init state: indices 0, not broken. */
void virtq_reset(struct virtq *q);

/*
 * Take the next available chain. 1 with *c filled, 0 if the avail ring is
 * empty, -EINVAL if the guest broke a ring rule (q is now broken).
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/*
 * Give back the last n chains popped and not pushed: the next virtq_pop()
 * returns them again. For devices that gather buffers before knowing how
 * many they need (virtio-net's mergeable receive buffers).
 */
void virtq_unpop(struct virtq *q, unsigned int n);

/*
 * Return chain c to the driver, reporting written bytes written into its
 * device-writable buffers (clamped to c->writable: the guest must never be
 * told more was written than it offered). Does nothing on a broken queue.
 */
void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written);

/*
 * After pushing, whether the driver wants an interrupt: old_used_idx is
 * q->used_idx before this batch of pushes. Honours used_event with
 * EVENT_IDX, else VIRTQ_AVAIL_F_NO_INTERRUPT.
 */
bool virtq_needs_notify(struct virtq *q, uint16_t old_used_idx);

/*
 * Ask the driver to notify (kick) on new buffers: publishes avail_event =
 * last_avail_idx with EVENT_IDX, else clears VIRTQ_USED_F_NO_NOTIFY.
 * Returns true if buffers are already available, which the device must
 * then process itself (the driver may have added them before it saw the
 * request, and will not kick for them).
 */
bool virtq_enable_notify(struct virtq *q);

/* The driver has made buffers available that virtq_pop() has not taken. */
bool virtq_avail_pending(const struct virtq *q);

/*
 * Tell the driver kicks are not needed while the device is polling. Only
 * a hint (VIRTQ_USED_F_NO_NOTIFY); with EVENT_IDX the stale avail_event
 * already suppresses them.
 */
void virtq_disable_notify(struct virtq *q);

/*
 * Reading a popped chain the way devices need it, whatever the guest's
 * split into descriptors: copy len device-readable bytes from byte off
 * (false if the chain has fewer), or describe bytes [off, off + len) of
 * the readable (writable=false) or writable part as iovecs (at most
 * c->nr_segs of them; returns how many).
 */
bool virtq_chain_read(const struct virtq_chain *c, uint32_t off, void *dst, uint32_t len);
unsigned int virtq_chain_iov(const struct virtq_chain *c, bool writable, uint32_t off,
			     uint32_t len, struct iovec *iov);

#endif
