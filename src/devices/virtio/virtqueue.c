// SPDX-License-Identifier: MIT
/* Split virtqueues, device side: validate every guest-written field once. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"

/* Offsets inside the avail and used rings (2.7.6, 2.7.8). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4

/*
 * Ring fields are naturally aligned (virtq_init() checks the ring bases),
 * so single atomic loads and stores are possible: the guest writes them
 * concurrently and must never see, or cause us to see, a torn value.
 */
static uint16_t load16(const uint8_t *p, int order)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, order));
}

static void store16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)p, htole16(v), order);
}

static void store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELAXED);
}

static uint8_t *avail_ring_entry(const struct virtq *q, uint16_t idx)
{
	return q->avail + AVAIL_RING + 2 * (idx & (q->size - 1));
}

/* used_event sits just after the avail ring, avail_event after the used. */
static uint8_t *used_event(const struct virtq *q)
{
	return q->avail + AVAIL_RING + 2 * q->size;
}

static uint8_t *avail_event(const struct virtq *q)
{
	return q->used + USED_RING + 8 * q->size;
}

static int virtq_break(struct virtq *q)
{
	q->broken = true;
	return -EINVAL;
}

int virtq_init(struct virtq *q, const struct guest_mem *mem, unsigned int size,
	       uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	       uint64_t features)
{
	memset(q, 0, sizeof(*q));
	q->broken = true;
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	if (desc_gpa % 16 || avail_gpa % 2 || used_gpa % 4)
		return -EINVAL;
	/* gpa_ptr() is overflow-safe, so a ring near 2^64 is just "not RAM". */
	q->desc = gpa_ptr(mem, desc_gpa, VIRTQ_DESC_BYTES(size));
	q->avail = gpa_ptr(mem, avail_gpa, VIRTQ_AVAIL_BYTES(size));
	q->used = gpa_ptr(mem, used_gpa, VIRTQ_USED_BYTES(size));
	if (!q->desc || !q->avail || !q->used) {
		memset(q, 0, sizeof(*q));
		q->broken = true;
		return -EINVAL;
	}
	q->size = size;
	q->desc_gpa = desc_gpa;
	q->avail_gpa = avail_gpa;
	q->used_gpa = used_gpa;
	q->event_idx = features & (1ULL << VIRTIO_F_EVENT_IDX);
	q->indirect = features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	q->mem = mem;
	q->broken = false;
	return 0;
}

void virtq_reset(struct virtq *q)
{
	q->last_avail_idx = 0;
	q->used_idx = 0;
	/* A queue that never passed virtq_init() has no rings to use. */
	q->broken = !q->desc;
}

/*
 * Copy one descriptor out of guest memory. The guest can rewrite it at any
 * moment, so it is validated and used only through this copy; the barrier
 * keeps the compiler from turning uses of the copy into fresh guest loads.
 */
static void desc_fetch(const uint8_t *table, unsigned int i, struct virtq_desc *d)
{
	memcpy(d, table + (size_t)i * sizeof(*d), sizeof(*d));
	__asm__ volatile("" : : "r"(d) : "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Where a chain walk currently reads descriptors from, and what it has seen. */
struct chain_walk {
	const uint8_t *table;
	unsigned int table_n;
	unsigned int visited;		/* buffer descriptors, direct + indirect */
	uint64_t total;			/* bytes, readable + writable */
	bool in_indirect;
	bool seen_writable;
};

/*
 * Switch the walk to the indirect table d points at (2.7.5.3). The spec
 * lets direct descriptors precede one indirect descriptor, which must end
 * the direct part (no NEXT) and whose table holds no further indirection.
 * The WRITE flag of d is meaningless and ignored, as the spec requires.
 */
static int enter_indirect(const struct virtq *q, struct chain_walk *w,
			  const struct virtq_desc *d)
{
	const uint8_t *table;

	if (!q->indirect || w->in_indirect || (d->flags & VIRTQ_DESC_F_NEXT))
		return -EINVAL;
	if (d->len == 0 || d->len % sizeof(struct virtq_desc) ||
	    d->len / sizeof(struct virtq_desc) > q->size)
		return -EINVAL;
	table = gpa_ptr(q->mem, d->addr, d->len);
	if (!table)
		return -EINVAL;
	w->table = table;
	w->table_n = d->len / sizeof(struct virtq_desc);
	w->in_indirect = true;
	return 0;
}

/*
 * Account one buffer descriptor. Counting every one against the queue size
 * is what ends a looping chain. Zero-length buffers are legal (the spec
 * does not forbid them) but carry no data, so they still count and obey
 * the readable-before-writable order, yet add no segment and their address
 * is never used, so it is not checked.
 */
static int add_seg(const struct virtq *q, struct chain_walk *w,
		   const struct virtq_desc *d, struct virtq_chain *c)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	void *host;

	if (++w->visited > q->size)
		return -EINVAL;
	if (!writable && w->seen_writable)
		return -EINVAL;
	w->seen_writable |= writable;
	if (d->len == 0)
		return 0;
	host = gpa_ptr(q->mem, d->addr, d->len);
	if (!host)
		return -EINVAL;
	/* A chain over 2^32 bytes is forbidden; it also keeps totals in u32. */
	w->total += d->len;
	if (w->total > UINT32_MAX)
		return -EINVAL;
	if (c->nr_segs >= c->max_segs)
		return -EINVAL;
	c->segs[c->nr_segs++] = (struct virtq_seg){
		.host = host, .len = d->len, .device_writable = writable,
	};
	if (writable)
		c->writable += d->len;
	else
		c->readable += d->len;
	return 0;
}

static int walk_chain(const struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	struct chain_walk w = { .table = q->desc, .table_n = q->size };
	struct virtq_desc d;
	unsigned int i = head;

	c->head = head;
	c->nr_segs = 0;
	c->readable = 0;
	c->writable = 0;
	/* Ends: add_seg() fails past q->size buffers, indirection is once. */
	for (;;) {
		if (i >= w.table_n)
			return -EINVAL;
		desc_fetch(w.table, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (enter_indirect(q, &w, &d))
				return -EINVAL;
			i = 0;
			continue;
		}
		if (add_seg(q, &w, &d, c))
			return -EINVAL;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, pending, head;

	if (q->broken)
		return -EINVAL;
	/*
	 * Acquire: the ring entry and descriptors the driver wrote before
	 * raising idx are visible once the new idx is.
	 */
	avail_idx = load16(q->avail + AVAIL_IDX, __ATOMIC_ACQUIRE);
	pending = avail_idx - q->last_avail_idx;
	if (pending == 0)
		return 0;
	/* The driver cannot have more than size buffers outstanding. */
	if (pending > q->size)
		return virtq_break(q);
	head = load16(avail_ring_entry(q, q->last_avail_idx), __ATOMIC_RELAXED);
	if (walk_chain(q, head, c))
		return virtq_break(q);
	q->last_avail_idx++;
	return 1;
}

void virtq_unpop(struct virtq *q, unsigned int n)
{
	q->last_avail_idx -= (uint16_t)n;
}

void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written)
{
	uint8_t *elem;

	if (q->broken)
		return;
	if (written > c->writable)
		written = c->writable;
	elem = q->used + USED_RING + 8 * (q->used_idx & (q->size - 1));
	store32(elem, c->head);
	store32(elem + 4, written);
	q->used_idx++;
	/* Release: the element is visible before the index that exposes it. */
	store16(q->used + USED_IDX, q->used_idx, __ATOMIC_RELEASE);
}

/*
 * With EVENT_IDX the driver wants an interrupt once used idx moves past
 * used_event: true if used_event lies in [old, new), all mod 2^16.
 */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_needs_notify(struct virtq *q, uint16_t old_used_idx)
{
	if (q->broken || q->used_idx == old_used_idx)
		return false;
	/*
	 * Our used idx store must be visible before we read the driver's
	 * suppression state, or we could miss an interrupt it just asked
	 * for: a store-load ordering, which only a full fence gives.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx)
		return need_event(load16(used_event(q), __ATOMIC_RELAXED),
				  q->used_idx, old_used_idx);
	return !(load16(q->avail + AVAIL_FLAGS, __ATOMIC_RELAXED) &
		 VIRTQ_AVAIL_F_NO_INTERRUPT);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (q->broken)
		return false;
	if (q->event_idx)
		store16(avail_event(q), q->last_avail_idx, __ATOMIC_RELAXED);
	else
		store16(q->used + USED_FLAGS, 0, __ATOMIC_RELAXED);
	/* Same store-load race as virtq_needs_notify(), mirrored. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(q->avail + AVAIL_IDX, __ATOMIC_ACQUIRE) != q->last_avail_idx;
}

bool virtq_avail_pending(const struct virtq *q)
{
	if (q->broken || !q->avail)
		return false;
	return load16(q->avail + AVAIL_IDX, __ATOMIC_ACQUIRE) != q->last_avail_idx;
}

void virtq_disable_notify(struct virtq *q)
{
	if (q->broken || q->event_idx)
		return;
	store16(q->used + USED_FLAGS, VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool virtq_chain_read(const struct virtq_chain *c, uint32_t off, void *dst, uint32_t len)
{
	uint8_t *out = dst;

	for (unsigned int i = 0; i < c->nr_segs && len; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint32_t n;

		if (s->device_writable)
			break;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len ? s->len - off : len;
		memcpy(out, (uint8_t *)s->host + off, n);
		out += n;
		len -= n;
		off = 0;
	}
	return len == 0;
}

unsigned int virtq_chain_iov(const struct virtq_chain *c, bool writable, uint32_t off,
			     uint32_t len, struct iovec *iov)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->nr_segs && len; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint32_t take;

		if (s->device_writable != writable)
			continue;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		take = s->len - off < len ? s->len - off : len;
		iov[n].iov_base = (uint8_t *)s->host + off;
		iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}
