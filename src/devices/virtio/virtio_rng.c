// SPDX-License-Identifier: MIT
/*
 * virtio-rng (virtio 1.2, 5.4): one request queue whose device-writable
 * buffers are filled from getrandom(2). `--rng` adds it.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "devices/device.h"
#include "devices/virtio/virtio_pci.h"
#include "vmm/vm.h"

#define RNG_QUEUE_SIZE	64
#define RNG_MAX_SEGS	RNG_QUEUE_SIZE
/* Per request, like other VMMs: a guest asking for megabytes gets less. */
#define RNG_MAX_BYTES	(64 * 1024)

struct virtio_rng {
	struct virtio_dev vdev;
	struct virtq_seg segs[RNG_MAX_SEGS];
	uint64_t bytes;
};

static uint32_t fill(const struct virtq_chain *c)
{
	uint32_t done = 0;

	for (unsigned int i = 0; i < c->nr_segs && done < RNG_MAX_BYTES; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint32_t want = s->len, got = 0;

		if (!s->device_writable)
			continue;
		if (want > RNG_MAX_BYTES - done)
			want = RNG_MAX_BYTES - done;
		while (got < want) {
			ssize_t n = getrandom((uint8_t *)s->host + got, want - got, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done + got;
			got += (uint32_t)n;
		}
		done += got;
	}
	return done;
}

static void rng_queue_notify(struct virtio_dev *vdev, struct virtio_queue *q)
{
	struct virtio_rng *rng = vdev->priv;
	uint16_t old_used = q->vq.used_idx;
	struct virtq_chain c = { .segs = rng->segs, .max_segs = RNG_MAX_SEGS };
	int ret;

	do {
		while ((ret = virtq_pop(&q->vq, &c)) > 0) {
			uint32_t n = fill(&c);

			rng->bytes += n;
			virtq_push(&q->vq, &c, n);
		}
	} while (ret == 0 && virtq_enable_notify(&q->vq));
	if (ret < 0)
		virtio_set_needs_reset(vdev, "requestq: malformed descriptor chain");
	if (virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(vdev, q);
}

static void rng_destroy(struct virtio_dev *vdev)
{
	struct virtio_rng *rng = vdev->priv;

	vm_log(vdev->vm, "virtio-rng: %llu bytes of entropy given",
	       (unsigned long long)rng->bytes);
	free(rng);
}

static const struct virtio_dev_ops rng_ops = {
	.queue_notify = rng_queue_notify,
	.destroy = rng_destroy,
};

static int rng_create(struct vm *vm)
{
	struct virtio_rng *rng;
	int ret;

	if (!vm->cfg || !vm->cfg->rng)
		return 0;
	rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	rng->vdev = (struct virtio_dev){
		.name = "virtio-rng",
		.device_id = VIRTIO_ID_RNG,
		.class_code = 0xff0000,		/* unclassified */
		.nr_queues = 1,
		.queue_max = RNG_QUEUE_SIZE,
		.ops = &rng_ops,
		.priv = rng,
	};
	ret = virtio_pci_init(&rng->vdev, vm);
	if (ret)
		free(rng);
	return ret;
}

static const struct device_type virtio_rng_type = {
	.name = "virtio-rng",
	.order = 30,
	.create = rng_create,
};
DEVICE_REGISTER(virtio_rng_type);
