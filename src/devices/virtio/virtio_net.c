// SPDX-License-Identifier: MIT
/*
 * virtio-net (virtio 1.2, 5.1) on a network backend (backends/net.h): a
 * tap, whose frames carry the same 12-byte virtio-net header the guest
 * uses, so offloads pass straight through, or user-mode networking.
 *
 * Transmit: each chain goes to the backend as one iovec array pointing
 * into guest memory (tap: one writev). Receive from a tap: the I/O thread
 * polls the tap's fd and reads each frame straight into the guest's
 * buffers (one readv), gathering several chains when the guest gave
 * mergeable buffers. User-mode frames are copied in once by deliver().
 * Nothing runs on vCPU threads; every guest mistake drops the frame (and
 * counts it) or, for broken rings, puts the device in NEEDS_RESET.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/net.h"
#include "devices/device.h"
#include "devices/virtio/virtio_pci.h"
#include "vmm/evloop.h"
#include "vmm/vm.h"

#define NET_QUEUE_SIZE		256
#define NET_RX_MAX_IOV		1024	/* UIO_MAXIOV */
#define NET_RX_BATCH		64	/* frames per wake-up, then others run */
#define NET_MAX_FRAME		65550	/* largest GSO frame: 64 KiB + Ethernet + VLAN */
#define NET_CONFIG_LEN		12	/* mac, status, max_virtqueue_pairs, mtu */

/* Feature bits (5.1.3). */
#define F_CSUM		0
#define F_GUEST_CSUM	1
#define F_MTU		3
#define F_MAC		5
#define F_GUEST_TSO4	7
#define F_GUEST_TSO6	8
#define F_GUEST_ECN	9
#define F_GUEST_UFO	10
#define F_HOST_TSO4	11
#define F_HOST_TSO6	12
#define F_HOST_ECN	13
#define F_HOST_UFO	14
#define F_MRG_RXBUF	15
#define F_STATUS	16
#define F_CTRL_VQ	17
#define F_MQ		22
#define BIT(n)		(1ULL << (n))

#define NET_S_LINK_UP	1

/* struct virtio_net_hdr_v1 */
#define HDR_F_NEEDS_CSUM	1
#define HDR_GSO_NONE		0
#define HDR_GSO_TCPV4		1
#define HDR_GSO_UDP		3
#define HDR_GSO_TCPV6		4
#define HDR_GSO_ECN		0x80
#define HDR_NUM_BUFFERS_OFF	10

/* Control queue (5.1.6.5). */
#define CTRL_MQ			4
#define CTRL_MQ_VQ_PAIRS_SET	0
#define CTRL_OK			0
#define CTRL_ERR		1

struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

/* A receive chain gathered for the frame being read. */
struct rx_chain {
	struct virtq_chain chain;	/* head and writable, for the push */
	unsigned int first_iov, nr_iov;
};

struct virtio_net {
	struct virtio_dev vdev;
	struct net_backend *be;
	char name[16];
	unsigned int pairs, active_pairs;
	bool ctrl;
	uint8_t config[NET_CONFIG_LEN];
	bool rx_paused[NET_MAX_QUEUES];
	bool rx_fd_added[NET_MAX_QUEUES];
	struct rx_fd_ctx {
		struct virtio_net *n;
		unsigned int pair;
	} fd_ctx[NET_MAX_QUEUES];
	/* Scratch, used under the device lock. */
	struct virtq_seg segs[NET_QUEUE_SIZE];
	struct iovec iov[NET_RX_MAX_IOV];
	struct rx_chain rx[NET_QUEUE_SIZE];
	bool tx_blocked;		/* the backend is full: wait for tx_wake_fd */
	bool tx_wake_added;
	/* Counters for the log and the control API (vmm/metrics.h). */
	uint64_t tx_packets, tx_dropped, rx_packets, rx_dropped;
	uint64_t tx_bytes, rx_bytes;
	/* Frames per queue pair: shows whether an SMP guest spreads load. */
	uint64_t pair_tx[NET_MAX_QUEUES], pair_rx[NET_MAX_QUEUES];
};

static bool has(const struct virtio_net *n, unsigned int bit)
{
	return virtio_has_feature(&n->vdev, bit);
}

static unsigned int rx_queue(unsigned int pair)
{
	return 2 * pair;
}

/* ---- Transmit ---- */

/* Whether a guest's header asks only for what was negotiated. */
static bool tx_hdr_ok(const struct virtio_net *n, const struct net_hdr *h)
{
	uint8_t gso = h->gso_type & ~HDR_GSO_ECN;

	if ((h->flags & HDR_F_NEEDS_CSUM) && !has(n, F_CSUM))
		return false;
	if ((h->gso_type & HDR_GSO_ECN) && !has(n, F_HOST_ECN))
		return false;
	switch (gso) {
	case HDR_GSO_NONE:
		return true;
	case HDR_GSO_TCPV4:
		return has(n, F_HOST_TSO4);
	case HDR_GSO_TCPV6:
		return has(n, F_HOST_TSO6);
	case HDR_GSO_UDP:
		return has(n, F_HOST_UFO);
	}
	return false;
}

/*
 * Send one chain's frame: 1 sent, 0 dropped (counted), -ENOBUFS when the
 * backend is full (the chain must be kept). Lock held.
 */
static int tx_one(struct virtio_net *n, unsigned int pair, const struct virtq_chain *c)
{
	struct iovec iov[NET_QUEUE_SIZE];
	struct net_hdr h;
	uint32_t frame = c->readable - NET_VNET_HDR_LEN;
	ssize_t ret;
	int k;

	if (c->readable < NET_VNET_HDR_LEN + 14 || frame > NET_MAX_FRAME)
		return 0;
	virtq_chain_read(c, 0, &h, sizeof(h));
	if (!tx_hdr_ok(n, &h))
		return 0;
	/*
	 * The guest's buffers go to the backend as they are: a tap takes the
	 * header too; user-mode networking copies the frame into its ring,
	 * the one copy on the way out.
	 */
	if (n->be->has_vnet_hdr)
		k = (int)virtq_chain_iov(c, false, 0, c->readable, iov);
	else
		k = (int)virtq_chain_iov(c, false, NET_VNET_HDR_LEN, frame, iov);
	ret = n->be->ops->send(n->be, pair, iov, k);
	if (ret == -ENOBUFS)
		return -ENOBUFS;
	if (ret < 0)
		return 0;
	counter_add(&n->tx_bytes, frame);
	return 1;
}

/*
 * Send what the guest queued, then ask for a kick on the next frame (and
 * go on if frames came meanwhile). Stops early while the backend is full.
 */
static void tx_process(struct virtio_net *n, struct virtio_queue *q)
{
	struct virtq_chain c = { .segs = n->segs, .max_segs = NET_QUEUE_SIZE };
	unsigned int pair = q->index / 2;
	uint16_t old_used = q->vq.used_idx;
	int ret;

	if (n->tx_blocked)
		return;
	do {
		while ((ret = virtq_pop(&q->vq, &c)) > 0) {
			int sent = tx_one(n, pair, &c);

			if (sent == -ENOBUFS) {
				/* Keep the frame; tx_wake_fd brings us back. */
				virtq_unpop(&q->vq, 1);
				n->tx_blocked = true;
				ret = 0;
				break;
			}
			counter_add(sent ? &n->tx_packets : &n->tx_dropped, 1);
			if (sent)
				counter_add(&n->pair_tx[pair], 1);
			virtq_push(&q->vq, &c, 0);
		}
	} while (ret == 0 && !n->tx_blocked && virtq_enable_notify(&q->vq));
	if (ret < 0)
		virtio_set_needs_reset(&n->vdev, "transmitq%u: malformed descriptor chain", pair);
	if (virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(&n->vdev, q);
}


/* ---- Receive ---- */

/* The largest frame (with header) the guest may be handed. */
static uint32_t rx_need(const struct virtio_net *n)
{
	uint32_t mtu = n->config[10] | n->config[11] << 8;

	if (has(n, F_GUEST_TSO4) || has(n, F_GUEST_TSO6) || has(n, F_GUEST_UFO))
		return NET_VNET_HDR_LEN + NET_MAX_FRAME;
	return NET_VNET_HDR_LEN + mtu + 14 + 4;
}

/*
 * Pop receive chains until they hold need bytes (one chain without
 * mergeable buffers). Returns the chains popped, with their buffers in
 * n->iov; -1 when the ring is broken or its buffers are unusable.
 */
static int rx_gather(struct virtio_net *n, struct virtio_queue *q, uint32_t need,
		     uint32_t *cap, unsigned int *nr_iov)
{
	struct virtq_chain c = { .segs = n->segs, .max_segs = NET_QUEUE_SIZE };
	unsigned int chains = 0, iovs = 0;
	int ret;

	*cap = 0;
	while (*cap < need && chains < NET_QUEUE_SIZE) {
		if (chains && !has(n, F_MRG_RXBUF))
			break;
		ret = virtq_pop(&q->vq, &c);
		if (ret < 0)
			return -1;
		if (!ret)
			break;
		/*
		 * Not a receive buffer; or buffers so fragmented that a frame
		 * would take more than UIO_MAXIOV pieces (no real driver does
		 * that, and reading on would spin on the readable tap).
		 */
		if (c.readable || c.nr_segs > NET_RX_MAX_IOV - iovs)
			return -1;
		n->rx[chains] = (struct rx_chain){ .chain = c, .first_iov = iovs,
						   .nr_iov = c.nr_segs };
		n->rx[chains].chain.segs = NULL;
		for (unsigned int i = 0; i < c.nr_segs; i++)
			n->iov[iovs++] = (struct iovec){ c.segs[i].host, c.segs[i].len };
		*cap += c.writable;
		chains++;
	}
	*nr_iov = iovs;
	return (int)chains;
}

/* A write position in the gathered receive buffers. */
struct iov_cursor {
	struct iovec *iov;
	unsigned int nr, i;
	size_t off;
};

/* Copy len bytes from src (or skip them, src NULL) at the cursor. */
static void cursor_put(struct iov_cursor *cur, const void *src, size_t len)
{
	const uint8_t *p = src;

	while (len && cur->i < cur->nr) {
		size_t room = cur->iov[cur->i].iov_len - cur->off;
		size_t m = room < len ? room : len;

		if (p) {
			memcpy((uint8_t *)cur->iov[cur->i].iov_base + cur->off, p, m);
			p += m;
		}
		len -= m;
		cur->off += m;
		if (cur->off == cur->iov[cur->i].iov_len) {
			cur->i++;
			cur->off = 0;
		}
	}
}

/*
 * A frame of len bytes (header included) now fills the gathered chains
 * from the start: push the ones it used, give back the rest.
 */
static void rx_commit(struct virtio_net *n, struct virtio_queue *q, int chains, uint32_t len,
		      unsigned int nr_iov)
{
	uint32_t left = len;
	int used = 0;

	while (used < chains && (left || !used)) {
		uint32_t w = n->rx[used].chain.writable;

		n->rx[used].chain.writable = w < left ? w : left;
		left -= n->rx[used].chain.writable;
		used++;
	}
	struct iov_cursor cur = { .iov = n->iov, .nr = nr_iov };
	uint8_t nb[2] = { (uint8_t)used, (uint8_t)(used >> 8) };

	/* The tap leaves num_buffers alone: it is ours to fill in. */
	cursor_put(&cur, NULL, HDR_NUM_BUFFERS_OFF);
	cursor_put(&cur, nb, 2);
	for (int i = 0; i < used; i++)
		virtq_push(&q->vq, &n->rx[i].chain, n->rx[i].chain.writable);
	virtq_unpop(&q->vq, (unsigned int)(chains - used));
}

/* Stop reading the tap until the guest gives buffers back. */
static void rx_pause(struct virtio_net *n, unsigned int pair)
{
	if (n->rx_paused[pair] || n->be->rx_fds[pair] < 0 || !n->vdev.vm->io)
		return;
	n->rx_paused[pair] = true;
	evloop_set_enabled(n->vdev.vm->io, n->be->rx_fds[pair], false);
}

static void rx_resume(struct virtio_net *n, unsigned int pair)
{
	if (!n->rx_paused[pair] || !n->vdev.vm->io)
		return;
	n->rx_paused[pair] = false;
	evloop_set_enabled(n->vdev.vm->io, n->be->rx_fds[pair], true);
}

/* The avail ring holds exactly the held chains given back, nothing newer. */
static bool rx_only_held(const struct virtq *vq, int held)
{
	uint16_t avail = __atomic_load_n((const uint16_t *)(vq->avail + 2), __ATOMIC_ACQUIRE);

	return (uint16_t)(avail - vq->last_avail_idx) == (uint16_t)held;
}

/* Read frames from the tap into the guest: up to a batch. Lock held. */
static void rx_from_tap(struct virtio_net *n, unsigned int pair)
{
	struct virtio_queue *q = &n->vdev.queues[rx_queue(pair)];
	uint16_t old_used = q->vq.used_idx;
	uint32_t need = rx_need(n), cap;
	unsigned int nr_iov, done;
	int chains;
	ssize_t len;
	bool more;

	for (done = 0; done < NET_RX_BATCH; done++) {
		chains = rx_gather(n, q, need, &cap, &nr_iov);
		if (chains < 0) {
			virtio_set_needs_reset(&n->vdev, "receiveq%u: malformed or unusable "
					       "receive buffers", pair);
			break;
		}
		if (cap < need) {
			/*
			 * Too little buffer space: give the chains back and wait
			 * for the guest's next kick. If only the chains just given
			 * back are there, stay paused (reading on would spin on
			 * the readable tap); the guest's next buffer kicks.
			 */
			virtq_unpop(&q->vq, (unsigned int)chains);
			rx_pause(n, pair);
			more = virtq_enable_notify(&q->vq) && !rx_only_held(&q->vq, chains);
			if (!more)
				break;
			rx_resume(n, pair);	/* buffers arrived meanwhile */
			continue;
		}
		len = n->be->ops->recv(n->be, pair, n->iov, (int)nr_iov);
		if (len < NET_VNET_HDR_LEN) {
			virtq_unpop(&q->vq, (unsigned int)chains);
			break;	/* -EAGAIN: nothing more to read */
		}
		rx_commit(n, q, chains, (uint32_t)len, nr_iov);
		counter_add(&n->rx_packets, 1);
		counter_add(&n->pair_rx[pair], 1);
		counter_add(&n->rx_bytes, (uint64_t)len - NET_VNET_HDR_LEN);
	}
	if (virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(&n->vdev, q);
}

/* I/O thread: the tap queue's fd is readable. */
static void on_tap_readable(void *opaque)
{
	struct rx_fd_ctx *ctx = opaque;
	struct virtio_net *n = ctx->n;
	struct virtio_queue *q;

	pthread_mutex_lock(&n->vdev.lock);
	q = &n->vdev.queues[rx_queue(ctx->pair)];
	if (!virtio_dev_live(&n->vdev) || !q->enabled || q->vq.broken ||
	    ctx->pair >= n->active_pairs)
		rx_pause(n, ctx->pair);		/* the next kick or reset resumes */
	else
		rx_from_tap(n, ctx->pair);
	pthread_mutex_unlock(&n->vdev.lock);
}

/* User-mode backend: a frame without a header, from the backend's thread. */
static bool deliver(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct virtio_net *n = opaque;
	struct net_hdr h = { .num_buffers = 1 };
	uint32_t len = NET_VNET_HDR_LEN, cap;
	struct iov_cursor cur;
	struct virtio_queue *q;
	unsigned int nr_iov;
	uint16_t old_used;
	bool ok = false;
	int chains;

	for (int i = 0; i < iovcnt; i++)
		len += (uint32_t)iov[i].iov_len;
	pthread_mutex_lock(&n->vdev.lock);
	q = &n->vdev.queues[0];
	if (!virtio_dev_live(&n->vdev) || !q->enabled || q->vq.broken || len > rx_need(n))
		goto out;
	old_used = q->vq.used_idx;
	chains = rx_gather(n, q, len, &cap, &nr_iov);
	if (chains < 0) {
		virtio_set_needs_reset(&n->vdev, "receiveq0: malformed descriptor chain");
		goto out;
	}
	if (cap < len) {
		virtq_unpop(&q->vq, (unsigned int)chains);
		virtq_enable_notify(&q->vq);
		goto out;
	}
	/* Header and frame into the guest's buffers: the one copy. */
	cur = (struct iov_cursor){ .iov = n->iov, .nr = nr_iov };
	cursor_put(&cur, &h, NET_VNET_HDR_LEN);
	for (int i = 0; i < iovcnt; i++)
		cursor_put(&cur, iov[i].iov_base, iov[i].iov_len);
	rx_commit(n, q, chains, len, nr_iov);
	counter_add(&n->rx_packets, 1);
	counter_add(&n->pair_rx[0], 1);
	counter_add(&n->rx_bytes, len - NET_VNET_HDR_LEN);
	ok = true;
	if (virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(&n->vdev, q);
out:
	if (!ok)
		counter_add(&n->rx_dropped, 1);
	pthread_mutex_unlock(&n->vdev.lock);
	return ok;
}

/* I/O thread: a full backend takes frames again. */
static void on_tx_wake(void *opaque)
{
	struct virtio_net *n = opaque;
	struct virtio_queue *q;
	uint64_t v;

	if (read(n->be->tx_wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&n->vdev.lock);
	n->tx_blocked = false;
	q = &n->vdev.queues[1];
	if (virtio_dev_live(&n->vdev) && q->enabled && !q->vq.broken) {
		tx_process(n, q);
	}
	pthread_mutex_unlock(&n->vdev.lock);
}

/* ---- Control queue ---- */

static uint8_t ctrl_command(struct virtio_net *n, const struct virtq_chain *c)
{
	uint8_t cmd[2];
	uint16_t pairs;
	int ret;

	if (c->readable < 2)
		return CTRL_ERR;
	virtq_chain_read(c, 0, cmd, 2);
	if (cmd[0] != CTRL_MQ || cmd[1] != CTRL_MQ_VQ_PAIRS_SET || c->readable != 4 ||
	    !has(n, F_MQ))
		return CTRL_ERR;
	virtq_chain_read(c, 2, &pairs, 2);
	if (pairs < 1 || pairs > n->pairs)
		return CTRL_ERR;
	if (n->be->ops->set_active_queues) {
		ret = n->be->ops->set_active_queues(n->be, pairs);
		if (ret) {
			vm_err(n->vdev.vm, "%s: cannot use %u queue pairs: %s", n->vdev.name,
			       pairs, strerror(-ret));
			return CTRL_ERR;
		}
	}
	n->active_pairs = pairs;
	return CTRL_OK;
}

static void ctrl_process(struct virtio_net *n, struct virtio_queue *q)
{
	struct virtq_chain c = { .segs = n->segs, .max_segs = NET_QUEUE_SIZE };
	uint16_t old_used = q->vq.used_idx;
	int ret;

	while ((ret = virtq_pop(&q->vq, &c)) > 0) {
		uint8_t ack = ctrl_command(n, &c);
		const struct virtq_seg *last = c.nr_segs ? &c.segs[c.nr_segs - 1] : NULL;

		if (!last || !last->device_writable || !last->len) {
			virtio_set_needs_reset(&n->vdev, "controlq: no room for the ack");
			return;
		}
		((uint8_t *)last->host)[last->len - 1] = ack;
		virtq_push(&q->vq, &c, 1);
	}
	if (ret < 0)
		virtio_set_needs_reset(&n->vdev, "controlq: malformed descriptor chain");
	if (virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(&n->vdev, q);
}

/* ---- Transport callbacks ---- */

static void net_queue_notify(struct virtio_dev *vdev, struct virtio_queue *q)
{
	struct virtio_net *n = vdev->priv;
	unsigned int pair = q->index / 2;

	if (n->ctrl && q->index == 2 * n->pairs) {
		ctrl_process(n, q);
	} else if (q->index % 2) {
		tx_process(n, q);
	} else if (n->be->rx_fds[pair] >= 0) {
		/* New receive buffers: read what waits on the tap. */
		rx_resume(n, pair);
		if (pair < n->active_pairs)
			rx_from_tap(n, pair);
	}
}

static unsigned int guest_offloads(const struct virtio_net *n)
{
	unsigned int o = 0;

	if (has(n, F_GUEST_CSUM))
		o |= NET_OFFLOAD_CSUM;
	if (has(n, F_GUEST_TSO4))
		o |= NET_OFFLOAD_TSO4;
	if (has(n, F_GUEST_TSO6))
		o |= NET_OFFLOAD_TSO6;
	if (has(n, F_GUEST_ECN))
		o |= NET_OFFLOAD_TSO_ECN;
	if (has(n, F_GUEST_UFO))
		o |= NET_OFFLOAD_UFO;
	return o;
}

static int net_activate(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;
	int ret = 0;

	/* The device starts with one queue pair (5.1.6.5.5). */
	n->active_pairs = 1;
	if (n->be->ops->set_active_queues)
		ret = n->be->ops->set_active_queues(n->be, 1);
	if (!ret && n->be->ops->set_offloads)
		ret = n->be->ops->set_offloads(n->be, guest_offloads(n));
	if (ret)
		vm_err(vdev->vm, "%s: %s backend refused the negotiated offloads: %s",
		       vdev->name, n->be->kind, strerror(-ret));
	return ret;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;

	n->active_pairs = 1;
	n->tx_blocked = false;
	/* A paused tap fd stays paused until the next driver's rx kick. */
}

static void net_config_read(struct virtio_dev *vdev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = vdev->priv;

	memcpy(data, n->config + off, len);
}

/* VM teardown, before the transport goes: no more deliver() calls. */
static void net_stop(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;

	for (unsigned int p = 0; p < NET_MAX_QUEUES; p++)
		if (n->rx_fd_added[p] && vdev->vm->io)
			evloop_del(vdev->vm->io, n->be->rx_fds[p]);
	memset(n->rx_fd_added, 0, sizeof(n->rx_fd_added));
	if (n->tx_wake_added && vdev->vm->io)
		evloop_del(vdev->vm->io, n->be->tx_wake_fd);
	n->tx_wake_added = false;
	n->be->ops->close(n->be);
	n->be = NULL;
}

static void net_destroy(struct virtio_dev *vdev)
{
	struct virtio_net *n = vdev->priv;

	vm_log(vdev->vm, "%s: sent %llu frames (%llu dropped), received %llu "
	       "(%llu dropped)", vdev->name,
	       (unsigned long long)n->tx_packets, (unsigned long long)n->tx_dropped,
	       (unsigned long long)n->rx_packets, (unsigned long long)n->rx_dropped);
	for (unsigned int i = 0; n->pairs > 1 && i < n->pairs; i++)
		vm_log(vdev->vm, "%s: queue pair %u: sent %llu frames, received %llu",
		       vdev->name, i, (unsigned long long)n->pair_tx[i],
		       (unsigned long long)n->pair_rx[i]);
	if (n->be)
		n->be->ops->close(n->be);
	free(n);
}

static void net_metrics(struct virtio_dev *vdev, metric_emit_fn emit, void *ctx)
{
	struct virtio_net *n = vdev->priv;

	emit(ctx, "rx_packets", counter_read(&n->rx_packets));
	emit(ctx, "rx_bytes", counter_read(&n->rx_bytes));
	emit(ctx, "rx_dropped", counter_read(&n->rx_dropped));
	emit(ctx, "tx_packets", counter_read(&n->tx_packets));
	emit(ctx, "tx_bytes", counter_read(&n->tx_bytes));
	emit(ctx, "tx_dropped", counter_read(&n->tx_dropped));
	for (unsigned int i = 0; n->pairs > 1 && i < n->pairs; i++) {
		char key[32];

		snprintf(key, sizeof(key), "queue%u_rx_packets", i);
		emit(ctx, key, counter_read(&n->pair_rx[i]));
		snprintf(key, sizeof(key), "queue%u_tx_packets", i);
		emit(ctx, key, counter_read(&n->pair_tx[i]));
	}
}

static const struct virtio_dev_ops net_ops = {
	.queue_notify = net_queue_notify,
	.config_read = net_config_read,
	.activate = net_activate,
	.reset = net_reset,
	.stop = net_stop,
	.destroy = net_destroy,
	.metrics_kind = "net",
	.metrics = net_metrics,
};

/* ---- Creation ---- */

static const char *const nic_names[VM_MAX_NICS] = {
	"virtio-net0", "virtio-net1", "virtio-net2", "virtio-net3",
};

/*
 * A locally administered MAC from the VM name and NIC index (FNV-1a), so
 * a named VM keeps its MAC across runs: 52:54:00 (QEMU's prefix) + 3 bytes.
 */
static void default_mac(const char *vm_name, unsigned int idx, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *p = vm_name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ idx) * 16777619u;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

static int open_backend(struct virtio_net *n, struct vm *vm, const struct vm_net_config *nc)
{
	struct net_hostfwd fwd[VM_NET_MAX_HOSTFWD];
	struct net_user_opts uo = {
		.sink = { .deliver = deliver, .opaque = n },
		.hostfwd = fwd,
		.nr_hostfwd = nc->nr_hostfwd,
		.vm_name = vm->cfg->name,
	};
	char err[512];
	int ret = -EINVAL;

	switch (nc->kind) {
	case NET_KIND_TAP:
		ret = net_tap_open(&n->be, nc->ifname, -1, nc->queues, err, sizeof(err));
		break;
	case NET_KIND_TAP_FD:
		ret = net_tap_open(&n->be, NULL, nc->tap_fd, 1, err, sizeof(err));
		break;
	case NET_KIND_USER:
		for (unsigned int i = 0; i < nc->nr_hostfwd; i++)
			if (net_parse_hostfwd(nc->hostfwd[i], &fwd[i])) {
				snprintf(err, sizeof(err), "hostfwd=%s: not proto:[addr]:port-"
					 "[addr]:port", nc->hostfwd[i]);
				goto fail;
			}
		ret = net_user_open(&n->be, &uo, err, sizeof(err));
		break;
	}
	if (!ret)
		return 0;
fail:
	fprintf(stderr, "skiff: --net: %s\n", err);
	return -ENOEXEC;	/* bad option or environment: a usage error */
}

static uint64_t net_features(const struct virtio_net *n, unsigned int mtu)
{
	unsigned int caps = n->be->offload_caps;
	uint64_t f = BIT(F_MAC) | BIT(F_STATUS) | BIT(F_MRG_RXBUF);

	if (mtu)
		f |= BIT(F_MTU);
	if (n->pairs > 1)
		f |= BIT(F_CTRL_VQ) | BIT(F_MQ);
	if (!n->be->has_vnet_hdr)
		return f;	/* user-mode: complete frames both ways */
	/* The tap takes whatever the guest sends (HOST_*) ... */
	f |= BIT(F_CSUM) | BIT(F_HOST_TSO4) | BIT(F_HOST_TSO6) | BIT(F_HOST_ECN);
	/* ... and gives the guest what the tap can be told to (GUEST_*). */
	if (caps & NET_OFFLOAD_CSUM)
		f |= BIT(F_GUEST_CSUM);
	if (caps & NET_OFFLOAD_TSO4)
		f |= BIT(F_GUEST_TSO4);
	if (caps & NET_OFFLOAD_TSO6)
		f |= BIT(F_GUEST_TSO6);
	if (caps & NET_OFFLOAD_TSO_ECN)
		f |= BIT(F_GUEST_ECN);
	if (caps & NET_OFFLOAD_UFO)
		f |= BIT(F_GUEST_UFO) | BIT(F_HOST_UFO);
	return f;
}

static void build_config(struct virtio_net *n, const uint8_t mac[6], unsigned int mtu)
{
	memcpy(n->config, mac, 6);
	n->config[6] = NET_S_LINK_UP;
	n->config[8] = (uint8_t)n->pairs;
	n->config[10] = (uint8_t)mtu;
	n->config[11] = (uint8_t)(mtu >> 8);
}

static int watch_backend(struct virtio_net *n, struct vm *vm)
{
	if (n->be->tx_wake_fd >= 0 && vm->io) {
		int ret = evloop_add(vm->io, n->be->tx_wake_fd, on_tx_wake, n);

		if (ret)
			return ret;
		n->tx_wake_added = true;
	}
	for (unsigned int p = 0; p < n->pairs && vm->io; p++) {
		int ret;

		if (n->be->rx_fds[p] < 0)
			continue;
		n->fd_ctx[p] = (struct rx_fd_ctx){ .n = n, .pair = p };
		ret = evloop_add(vm->io, n->be->rx_fds[p], on_tap_readable, &n->fd_ctx[p]);
		if (ret)
			return ret;
		n->rx_fd_added[p] = true;
		/* Nothing to read into until the driver is ready. */
		n->rx_paused[p] = false;
		rx_pause(n, p);
	}
	return 0;
}

static int net_create_one(struct vm *vm, unsigned int idx)
{
	const struct vm_net_config *nc = &vm->cfg->nics[idx];
	struct virtio_net *n = calloc(1, sizeof(*n));
	unsigned int mtu = nc->mtu ? nc->mtu : 1500;
	uint8_t mac[6];
	int ret;

	if (!n)
		return -ENOMEM;
	ret = open_backend(n, vm, nc);
	if (ret) {
		free(n);
		return ret;
	}
	n->pairs = n->be->nr_queues;
	n->active_pairs = 1;
	n->ctrl = n->pairs > 1;
	if (nc->mac_set)
		memcpy(mac, nc->mac, 6);
	else
		default_mac(vm->cfg->name, idx, mac);
	build_config(n, mac, mtu);
	n->vdev = (struct virtio_dev){
		.name = nic_names[idx],
		.device_id = VIRTIO_ID_NET,
		.class_code = 0x020000,		/* Ethernet controller */
		.host_features = net_features(n, mtu),
		.config_len = NET_CONFIG_LEN,
		.nr_queues = 2 * n->pairs + (n->ctrl ? 1 : 0),
		.queue_max = NET_QUEUE_SIZE,
		.ops = &net_ops,
		.priv = n,
	};
	ret = virtio_pci_init(&n->vdev, vm);
	if (ret) {
		n->be->ops->close(n->be);
		free(n);
		return ret;
	}
	vm_log(vm, "%s: %s%s%s, MAC %02x:%02x:%02x:%02x:%02x:%02x, %u queue pair(s)",
	       n->vdev.name, n->be->kind, nc->kind == NET_KIND_USER ? "" : " ",
	       nc->kind == NET_KIND_USER ? "" : net_tap_ifname(n->be),
	       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], n->pairs);
	return watch_backend(n, vm);
}

static int net_create(struct vm *vm)
{
	int ret = 0;

	if (!vm->cfg)
		return 0;
	for (unsigned int i = 0; i < vm->cfg->nr_nics && !ret; i++)
		ret = net_create_one(vm, i);
	return ret;
}

static const struct device_type virtio_net_type = {
	.name = "virtio-net",
	.order = 35,
	.create = net_create,
};
DEVICE_REGISTER(virtio_net_type);
