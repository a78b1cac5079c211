// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio 1.2, 5.2) on a disk image (backends/disk): read,
 * write, flush, get-ID, discard and write-zeroes, several requests in
 * flight through io_uring. One device per `--disk`.
 *
 * The guest lays a request out however it likes across descriptors
 * (5.2.6.4: no assumptions about framing): a 16-byte header in the
 * readable part, data, and a status byte as the last writable byte.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "backends/disk.h"
#include "devices/device.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_pci.h"
#include "vmm/evloop.h"
#include "vmm/clock.h"
#include "vmm/vm.h"

#define BLK_QUEUE_SIZE		128
#define BLK_SEG_MAX		(BLK_QUEUE_SIZE - 2)	/* header and status take two */
#define BLK_SIZE_MAX		(1u << 20)		/* per data segment, bytes */
#define BLK_MAX_DISCARD_SECTORS	(UINT32_MAX / DISK_SECTOR_SIZE)
#define BLK_CONFIG_LEN		60
/*
 * Reads or writes the guest queues back to back on adjacent sectors go to
 * the host as one request (as QEMU's virtio-blk does): fewer, larger I/Os
 * for sequential streams. Up to this many iovecs and bytes together.
 */
#define BLK_MERGE_IOV		(2 * BLK_QUEUE_SIZE)
#define BLK_MERGE_BYTES		(4u << 20)
/*
 * After handling a kick, the I/O thread keeps watching the completion
 * queue and the avail ring this long before it sleeps again; each sign of
 * activity restarts the window. A guest waiting on one request at a time
 * then gets its completion without two wake-ups (completion eventfd, then
 * its next kick), which on the kvm_pvm host doubled queue-depth-1 IOPS
 * (bench/blk.sh). The cost is at most this much CPU per burst of I/O.
 */
#define BLK_POLL_NS		50000
#define BLK_POLL_MAX_NS		1000000

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX		1
#define VIRTIO_BLK_F_SEG_MAX		2
#define VIRTIO_BLK_F_RO			5
#define VIRTIO_BLK_F_BLK_SIZE		6
#define VIRTIO_BLK_F_FLUSH		9
#define VIRTIO_BLK_F_DISCARD		13
#define VIRTIO_BLK_F_WRITE_ZEROES	14

/* Request types and status (5.2.6). */
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
#define VIRTIO_BLK_WZ_UNMAP		1u

/* Config offsets. */
#define CFG_CAPACITY		0
#define CFG_SIZE_MAX		8
#define CFG_SEG_MAX		12
#define CFG_BLK_SIZE		20
#define CFG_MAX_DISCARD_SECTORS	36
#define CFG_MAX_DISCARD_SEG	40
#define CFG_DISCARD_ALIGN	44
#define CFG_MAX_WZ_SECTORS	48
#define CFG_MAX_WZ_SEG		52
#define CFG_WZ_MAY_UNMAP	56

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct blk_req {
	struct disk_req dreq;
	struct virtq_chain chain;	/* head and sizes, for the push */
	uint8_t *status;
	uint32_t in_len;		/* bytes written to the guest, status included */
	uint64_t data_len;		/* READ/WRITE bytes, merged ones included */
	uint32_t own_len;		/* READ/WRITE bytes of this request alone */
	struct blk_req *merged;		/* requests riding on this one's I/O */
	bool busy;
	struct iovec iov[BLK_MERGE_IOV];
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct disk *disk;
	char path[256];
	char serial[VIRTIO_BLK_ID_BYTES + 1];
	uint64_t capacity;		/* sectors */
	struct virtq_seg segs[BLK_QUEUE_SIZE];
	struct blk_req reqs[BLK_QUEUE_SIZE];
	struct blk_req *staged;		/* a read/write waiting for a neighbour */
	bool evloop_added;
	uint64_t nr_requests, nr_errors;
	/* For the control API's metrics (vmm/metrics.h). */
	uint64_t read_requests, read_bytes, write_requests, write_bytes;
	uint64_t flush_requests, discard_requests;
	uint8_t config[BLK_CONFIG_LEN];
};

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void build_config(struct virtio_blk *blk)
{
	uint8_t *c = blk->config;

	memset(c, 0, BLK_CONFIG_LEN);
	put_le(c + CFG_CAPACITY, blk->capacity, 8);
	put_le(c + CFG_SIZE_MAX, BLK_SIZE_MAX, 4);
	put_le(c + CFG_SEG_MAX, BLK_SEG_MAX, 4);
	put_le(c + CFG_BLK_SIZE, DISK_SECTOR_SIZE, 4);
	put_le(c + CFG_MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS, 4);
	put_le(c + CFG_MAX_DISCARD_SEG, 1, 4);
	put_le(c + CFG_DISCARD_ALIGN, 4096 / DISK_SECTOR_SIZE, 4);
	put_le(c + CFG_MAX_WZ_SECTORS, BLK_MAX_DISCARD_SECTORS, 4);
	put_le(c + CFG_MAX_WZ_SEG, 1, 4);
	c[CFG_WZ_MAY_UNMAP] = 1;
}

/* ---- Parsing a chain ---- */

/* The last writable byte: the status. */
static uint8_t *chain_status(const struct virtq_chain *c)
{
	for (unsigned int i = c->nr_segs; i-- > 0;)
		if (c->segs[i].device_writable && c->segs[i].len)
			return (uint8_t *)c->segs[i].host + c->segs[i].len - 1;
	return NULL;
}

/* ---- Requests ---- */

static struct blk_req *req_alloc(struct virtio_blk *blk)
{
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		if (!blk->reqs[i].busy) {
			blk->reqs[i].busy = true;
			return &blk->reqs[i];
		}
	return NULL;
}

static void count_done(struct virtio_blk *blk, const struct blk_req *r)
{
	switch (r->dreq.op) {
	case DISK_OP_READ:
		counter_add(&blk->read_requests, 1);
		counter_add(&blk->read_bytes, r->own_len);
		break;
	case DISK_OP_WRITE:
		counter_add(&blk->write_requests, 1);
		counter_add(&blk->write_bytes, r->own_len);
		break;
	case DISK_OP_FLUSH:
		counter_add(&blk->flush_requests, 1);
		break;
	case DISK_OP_DISCARD:
	case DISK_OP_WRITE_ZEROES:
		counter_add(&blk->discard_requests, 1);
		break;
	}
}

/* Hand a request, and those merged into it, back to the guest with status st. */
static void req_complete(struct virtio_blk *blk, struct blk_req *r, uint8_t st)
{
	struct virtio_queue *q = &blk->vdev.queues[0];

	for (struct blk_req *next; r; r = next) {
		next = r->merged;
		*r->status = st;
		if (st != VIRTIO_BLK_S_OK)
			counter_add(&blk->nr_errors, 1);
		else
			count_done(blk, r);
		virtq_push(&q->vq, &r->chain, r->in_len);
		r->merged = NULL;
		r->busy = false;
	}
}

/* Send r to the disk; if it cannot take it, the guest gets an error. */
static void req_submit(struct virtio_blk *blk, struct blk_req *r)
{
	int ret = disk_submit(blk->disk, &r->dreq);

	if (ret == -EAGAIN) {
		disk_kick(blk->disk);
		ret = disk_submit(blk->disk, &r->dreq);
	}
	if (ret)
		req_complete(blk, r, VIRTIO_BLK_S_IOERR);
}

static void flush_staged(struct virtio_blk *blk)
{
	if (blk->staged)
		req_submit(blk, blk->staged);
	blk->staged = NULL;
}

/* r continues the staged request on the disk: ride on its I/O. */
static bool try_merge(struct virtio_blk *blk, struct blk_req *r)
{
	struct blk_req *head = blk->staged, *tail;

	if (!head || head->dreq.op != r->dreq.op ||
	    head->dreq.offset + head->data_len != r->dreq.offset ||
	    head->dreq.iovcnt + r->dreq.iovcnt > BLK_MERGE_IOV ||
	    head->data_len + r->data_len > BLK_MERGE_BYTES)
		return false;
	memcpy(&head->iov[head->dreq.iovcnt], r->dreq.iov, r->dreq.iovcnt * sizeof(struct iovec));
	head->dreq.iovcnt += r->dreq.iovcnt;
	head->data_len += r->data_len;
	for (tail = head; tail->merged; tail = tail->merged)
		;
	tail->merged = r;
	return true;
}

/* A read or write: merge it, or stage it (sending what was staged). */
static void stage_rw(struct virtio_blk *blk, struct blk_req *r)
{
	if (try_merge(blk, r))
		return;
	flush_staged(blk);
	blk->staged = r;
}

static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t sectors)
{
	return sector <= blk->capacity && sectors <= blk->capacity - sector;
}

static uint8_t prep_rw(struct virtio_blk *blk, struct blk_req *r,
		       const struct virtq_chain *c, const struct blk_hdr *h)
{
	bool is_write = h->type == VIRTIO_BLK_T_OUT;
	uint32_t len = is_write ? c->readable - sizeof(*h) : c->writable - 1;

	if (is_write && disk_readonly(blk->disk))
		return VIRTIO_BLK_S_IOERR;
	if (len % DISK_SECTOR_SIZE || !range_ok(blk, h->sector, len / DISK_SECTOR_SIZE))
		return VIRTIO_BLK_S_IOERR;
	if (!len)
		return VIRTIO_BLK_S_UNSUPP;	/* no data: nothing to do, say so */
	r->dreq.op = is_write ? DISK_OP_WRITE : DISK_OP_READ;
	r->dreq.offset = h->sector * DISK_SECTOR_SIZE;
	r->dreq.iovcnt = virtq_chain_iov(c, !is_write, is_write ? sizeof(*h) : 0, len, r->iov);
	r->dreq.iov = r->iov;
	r->data_len = len;
	r->own_len = len;
	if (!is_write)
		r->in_len = len + 1;
	return VIRTIO_BLK_S_OK;
}

static uint8_t prep_discard(struct virtio_blk *blk, struct blk_req *r,
			    const struct virtq_chain *c, const struct blk_hdr *h)
{
	bool zeroes = h->type == VIRTIO_BLK_T_WRITE_ZEROES;
	struct blk_range rg;

	/* One range per request: max_discard_seg and max_write_zeroes_seg are 1. */
	if (c->readable - sizeof(*h) != sizeof(rg) ||
	    !virtq_chain_read(c, sizeof(*h), &rg, sizeof(rg)))
		return VIRTIO_BLK_S_UNSUPP;
	if ((rg.flags & ~VIRTIO_BLK_WZ_UNMAP) || (!zeroes && rg.flags))
		return VIRTIO_BLK_S_UNSUPP;
	if (disk_readonly(blk->disk) || !range_ok(blk, rg.sector, rg.num_sectors))
		return VIRTIO_BLK_S_IOERR;
	r->dreq.op = zeroes ? DISK_OP_WRITE_ZEROES : DISK_OP_DISCARD;
	r->dreq.offset = rg.sector * DISK_SECTOR_SIZE;
	r->dreq.len = (uint64_t)rg.num_sectors * DISK_SECTOR_SIZE;
	r->dreq.unmap = zeroes && (rg.flags & VIRTIO_BLK_WZ_UNMAP);
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_get_id(struct virtio_blk *blk, struct blk_req *r, const struct virtq_chain *c)
{
	uint8_t id[VIRTIO_BLK_ID_BYTES] = { 0 };
	uint32_t len = c->writable - 1;
	struct iovec iov[BLK_QUEUE_SIZE];
	unsigned int n, i;
	uint32_t done = 0;

	memcpy(id, blk->serial, strlen(blk->serial));
	if (len > VIRTIO_BLK_ID_BYTES)
		len = VIRTIO_BLK_ID_BYTES;
	n = virtq_chain_iov(c, true, 0, len, iov);
	for (i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, id + done, iov[i].iov_len);
		done += (uint32_t)iov[i].iov_len;
	}
	r->in_len = done + 1;
	return VIRTIO_BLK_S_OK;
}

/*
 * Turn a chain into a disk request, or complete it at once. Returns
 * false if the chain is malformed beyond a status (the device must reset).
 */
static bool handle_chain(struct virtio_blk *blk, const struct virtq_chain *c)
{
	struct blk_req *r = req_alloc(blk);
	struct blk_hdr h;
	uint8_t st = VIRTIO_BLK_S_OK;

	if (!r)
		return false;	/* more chains than the queue holds: impossible */
	r->chain = *c;
	r->chain.segs = NULL;
	r->status = chain_status(c);
	r->in_len = 1;
	memset(&r->dreq, 0, sizeof(r->dreq));
	r->dreq.opaque = r;
	r->merged = NULL;
	r->data_len = 0;
	r->own_len = 0;
	if (!r->status || !virtq_chain_read(c, 0, &h, sizeof(h))) {
		r->busy = false;
		return false;
	}
	counter_add(&blk->nr_requests, 1);
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		st = prep_rw(blk, r, c, &h);
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->dreq.op = DISK_OP_FLUSH;
		break;
	case VIRTIO_BLK_T_GET_ID:
		req_complete(blk, r, do_get_id(blk, r, c));
		return true;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = prep_discard(blk, r, c, &h);
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
	}
	if (st != VIRTIO_BLK_S_OK) {
		req_complete(blk, r, st);
		return true;
	}
	if (r->dreq.op == DISK_OP_READ || r->dreq.op == DISK_OP_WRITE) {
		stage_rw(blk, r);
		return true;
	}
	/* Anything else keeps its place after the reads and writes before it. */
	flush_staged(blk);
	req_submit(blk, r);
	return true;
}

/* Take every available chain and submit it; false on a guest violation. */
static bool blk_take_requests(struct virtio_blk *blk, struct virtio_queue *q)
{
	struct virtq_chain c = { .segs = blk->segs, .max_segs = BLK_QUEUE_SIZE };
	int ret;

	do {
		while ((ret = virtq_pop(&q->vq, &c)) > 0) {
			if (!handle_chain(blk, &c)) {
				ret = -EINVAL;
				break;
			}
		}
	} while (ret == 0 && virtq_enable_notify(&q->vq));
	flush_staged(blk);
	disk_kick(blk->disk);
	if (ret < 0) {
		virtio_set_needs_reset(&blk->vdev, "requestq: malformed request");
		return false;
	}
	return true;
}

static void req_done(struct disk_req *dr, void *arg);

/*
 * Keep completing and taking requests without sleeping while there is
 * activity, for up to BLK_POLL_NS after the last of it and BLK_POLL_MAX_NS
 * in all (then the event loop serves others; the guest's next kick brings
 * us back). Lock held on entry and exit; dropped while idle, so vCPUs
 * reach the device's registers, which may reset the queue meanwhile.
 */
static void blk_poll(struct virtio_blk *blk, struct virtio_queue *q)
{
	uint64_t start = monotonic_ns(), deadline = start + BLK_POLL_NS, now;
	uint16_t old_used;
	bool busy;

	for (;;) {
		busy = false;
		old_used = q->vq.used_idx;
		if (disk_inflight(blk->disk) && disk_reap(blk->disk, req_done, blk))
			busy = true;
		if (virtq_avail_pending(&q->vq)) {
			busy = true;
			if (!blk_take_requests(blk, q))
				return;
		}
		if (virtq_needs_notify(&q->vq, old_used))
			virtio_queue_interrupt(&blk->vdev, q);
		now = monotonic_ns();
		if (busy)
			deadline = now + BLK_POLL_NS;
		if (now >= deadline || now - start >= BLK_POLL_MAX_NS)
			return;
		if (!busy) {
			pthread_mutex_unlock(&blk->vdev.lock);
			__builtin_ia32_pause();
			pthread_mutex_lock(&blk->vdev.lock);
			if (!virtio_dev_live(&blk->vdev) || !q->enabled || q->vq.broken)
				return;
		}
	}
}

static void blk_queue_notify(struct virtio_dev *vdev, struct virtio_queue *q)
{
	struct virtio_blk *blk = vdev->priv;
	uint16_t old_used = q->vq.used_idx;

	if (!blk_take_requests(blk, q))
		return;
	if (virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(vdev, q);
	blk_poll(blk, q);
}

/* ---- Completions ---- */

static void req_done(struct disk_req *dr, void *arg)
{
	struct virtio_blk *blk = arg;
	struct blk_req *r = dr->opaque;

	req_complete(blk, r, dr->result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static void on_disk_event(void *opaque)
{
	struct virtio_blk *blk = opaque;
	struct virtio_queue *q;
	uint16_t old_used;

	pthread_mutex_lock(&blk->vdev.lock);
	q = &blk->vdev.queues[0];
	old_used = q->vq.used_idx;
	disk_reap(blk->disk, req_done, blk);
	if (q->enabled && virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(&blk->vdev, q);
	pthread_mutex_unlock(&blk->vdev.lock);
}

/* Reset: in-flight requests finish, but their rings are gone. */
static void req_drop(struct disk_req *dr, void *arg)
{
	struct blk_req *r = dr->opaque;

	(void)arg;
	for (struct blk_req *next; r; r = next) {
		next = r->merged;
		r->merged = NULL;
		r->busy = false;
	}
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->priv;

	disk_drain(blk->disk, req_drop, blk);
}

static void blk_config_read(struct virtio_dev *vdev, uint32_t off, uint8_t *data,
			    uint32_t len)
{
	struct virtio_blk *blk = vdev->priv;

	memcpy(data, blk->config + off, len);
}

static void blk_destroy(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->priv;

	vm_log(vdev->vm, "%s (%s): %llu requests, %llu failed", vdev->name, blk->path,
	       (unsigned long long)blk->nr_requests, (unsigned long long)blk->nr_errors);
	if (blk->evloop_added && vdev->vm->io)
		evloop_del(vdev->vm->io, disk_event_fd(blk->disk));
	disk_close(blk->disk);
	free(blk);
}

static void blk_metrics(struct virtio_dev *vdev, metric_emit_fn emit, void *ctx)
{
	struct virtio_blk *blk = vdev->priv;

	emit(ctx, "requests", counter_read(&blk->nr_requests));
	emit(ctx, "errors", counter_read(&blk->nr_errors));
	emit(ctx, "read_requests", counter_read(&blk->read_requests));
	emit(ctx, "read_bytes", counter_read(&blk->read_bytes));
	emit(ctx, "write_requests", counter_read(&blk->write_requests));
	emit(ctx, "write_bytes", counter_read(&blk->write_bytes));
	emit(ctx, "flush_requests", counter_read(&blk->flush_requests));
	emit(ctx, "discard_requests", counter_read(&blk->discard_requests));
}

static const struct virtio_dev_ops blk_ops = {
	.queue_notify = blk_queue_notify,
	.config_read = blk_config_read,
	.reset = blk_reset,
	.destroy = blk_destroy,
	.metrics_kind = "block",
	.metrics = blk_metrics,
};

static const char *const blk_names[VM_MAX_DISKS] = {
	"virtio-blk0", "virtio-blk1", "virtio-blk2", "virtio-blk3",
	"virtio-blk4", "virtio-blk5", "virtio-blk6", "virtio-blk7",
	"virtio-blk8", "virtio-blk9", "virtio-blk10", "virtio-blk11",
	"virtio-blk12", "virtio-blk13", "virtio-blk14", "virtio-blk15",
};

static uint64_t blk_features(const struct virtio_blk *blk)
{
	uint64_t f = 1ULL << VIRTIO_BLK_F_SIZE_MAX | 1ULL << VIRTIO_BLK_F_SEG_MAX |
		     1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH;

	if (disk_readonly(blk->disk))
		return f | 1ULL << VIRTIO_BLK_F_RO;
	return f | 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
}

static int blk_open(struct virtio_blk *blk, const struct vm_disk_config *dc)
{
	struct disk_opts o = {
		.path = dc->path,
		.readonly = dc->readonly,
		.cache = dc->cache == DISK_CACHE_MODE_NONE ? DISK_CACHE_NONE :
							     DISK_CACHE_WRITEBACK,
		.sync_io = dc->sync_io,
	};
	char err[512];
	int ret = disk_open(&blk->disk, &o, err, sizeof(err));

	if (ret) {
		fprintf(stderr, "skiff: --disk: %s\n", err);
		return -ENOEXEC;	/* a bad input file: a usage error */
	}
	snprintf(blk->path, sizeof(blk->path), "%s", dc->path);
	snprintf(blk->serial, sizeof(blk->serial), "%s", dc->serial);
	blk->capacity = disk_size(blk->disk) / DISK_SECTOR_SIZE;
	return 0;
}

static int blk_create_one(struct vm *vm, unsigned int i)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	int ret;

	if (!blk)
		return -ENOMEM;
	ret = blk_open(blk, &vm->cfg->disks[i]);
	if (ret) {
		free(blk);
		return ret;
	}
	build_config(blk);
	blk->vdev = (struct virtio_dev){
		.name = blk_names[i],
		.device_id = VIRTIO_ID_BLOCK,
		.class_code = 0x018000,		/* mass storage, other */
		.host_features = blk_features(blk),
		.config_len = BLK_CONFIG_LEN,
		.nr_queues = 1,
		.queue_max = BLK_QUEUE_SIZE,
		.ops = &blk_ops,
		.priv = blk,
	};
	ret = virtio_pci_init(&blk->vdev, vm);
	if (ret) {
		disk_close(blk->disk);
		free(blk);
		return ret;
	}
	/* From here blk belongs to the VM's device list. */
	if (vm->io) {
		ret = evloop_add(vm->io, disk_event_fd(blk->disk), on_disk_event, blk);
		blk->evloop_added = !ret;
	}
	vm_log(vm, "%s: %s, %llu sectors%s%s", blk->vdev.name, blk->path,
	       (unsigned long long)blk->capacity, disk_readonly(blk->disk) ? ", read-only" : "",
	       disk_is_sync(blk->disk) ? ", synchronous I/O" : "");
	return ret;
}

static struct virtio_blk *blk_find(struct vm *vm, unsigned int idx)
{
	if (idx >= VM_MAX_DISKS)
		return NULL;
	for (struct vm_device *d = vm->devices; d; d = d->next)
		if (d->name == blk_names[idx])
			return ((struct virtio_dev *)d->state)->priv;
	return NULL;
}

int virtio_blk_swap(struct vm *vm, unsigned int idx, const char *path, char *err,
		    size_t errlen)
{
	struct virtio_blk *blk = blk_find(vm, idx);
	struct disk *old, *fresh;
	struct disk_opts o;
	int ret;

	if (!blk) {
		snprintf(err, errlen, "no disk %u", idx);
		return -ENOENT;
	}
	o = (struct disk_opts){
		.path = path,
		.readonly = vm->cfg->disks[idx].readonly,
		.cache = vm->cfg->disks[idx].cache == DISK_CACHE_MODE_NONE ?
			 DISK_CACHE_NONE : DISK_CACHE_WRITEBACK,
		.sync_io = vm->cfg->disks[idx].sync_io,
	};
	ret = disk_open(&fresh, &o, err, errlen);
	if (ret)
		return ret;
	/* Off the I/O thread first: its callbacks take the device lock. */
	if (blk->evloop_added)
		evloop_del(vm->io, disk_event_fd(blk->disk));
	pthread_mutex_lock(&blk->vdev.lock);
	old = blk->disk;
	disk_drain(old, req_done, blk);
	blk->disk = fresh;
	blk->capacity = disk_size(fresh) / DISK_SECTOR_SIZE;
	snprintf(blk->path, sizeof(blk->path), "%s", path);
	build_config(blk);
	if (virtio_dev_live(&blk->vdev))
		virtio_config_changed(&blk->vdev);
	pthread_mutex_unlock(&blk->vdev.lock);
	disk_close(old);
	if (blk->evloop_added &&
	    evloop_add(vm->io, disk_event_fd(fresh), on_disk_event, blk) < 0)
		vm_err(vm, "%s: cannot watch %s's completions", blk->vdev.name, path);
	vm_log(vm, "%s: now on %s, %llu sectors", blk->vdev.name, path,
	       (unsigned long long)blk->capacity);
	return 0;
}

static int blk_create(struct vm *vm)
{
	int ret = 0;

	if (!vm->cfg)
		return 0;
	for (unsigned int i = 0; i < vm->cfg->nr_disks && !ret; i++)
		ret = blk_create_one(vm, i);
	return ret;
}

static const struct device_type virtio_blk_type = {
	.name = "virtio-blk",
	.order = 40,
	.create = blk_create,
};
DEVICE_REGISTER(virtio_blk_type);
