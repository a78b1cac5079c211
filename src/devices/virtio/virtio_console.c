// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio 1.2, 5.3), port 0 only: `--console virtio` puts
 * the guest console on it (hvc0 in Linux) instead of the UART. Output is
 * written like the UART's; input arrives from the main loop (after the
 * Ctrl-A filter) and waits in a small buffer for the guest's receive
 * buffers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/console_out.h"
#include "devices/device.h"
#include "devices/virtio/virtio_pci.h"
#include "vmm/vm.h"

#define CONS_QUEUE_SIZE	256
#define CONS_RX_QUEUE	0
#define CONS_TX_QUEUE	1
#define CONS_CONFIG_LEN	12	/* cols, rows, max_nr_ports, emerg_wr */
#define CONS_RX_BUF	4096	/* host input not yet taken by the guest */

struct virtio_console {
	struct virtio_dev vdev;
	struct virtq_seg segs[CONS_QUEUE_SIZE];
	struct console_out out;
	uint8_t rx_buf[CONS_RX_BUF];
	size_t rx_head, rx_len;
	uint64_t rx_dropped;
};

/* Copy buffered input into one guest buffer; returns the bytes copied. */
static uint32_t rx_copy(struct virtio_console *con, uint8_t *dst, uint32_t len)
{
	uint32_t done = 0;

	while (done < len && con->rx_len) {
		size_t chunk = CONS_RX_BUF - con->rx_head;

		if (chunk > con->rx_len)
			chunk = con->rx_len;
		if (chunk > len - done)
			chunk = len - done;
		memcpy(dst + done, con->rx_buf + con->rx_head, chunk);
		con->rx_head = (con->rx_head + chunk) % CONS_RX_BUF;
		con->rx_len -= chunk;
		done += (uint32_t)chunk;
	}
	return done;
}

/* Move buffered input into the guest's receive buffers. Lock held. */
static void rx_flush(struct virtio_console *con)
{
	struct virtio_dev *vdev = &con->vdev;
	struct virtio_queue *q = &vdev->queues[CONS_RX_QUEUE];
	struct virtq_chain c = { .segs = con->segs, .max_segs = CONS_QUEUE_SIZE };
	uint16_t old_used = q->vq.used_idx;
	int ret = 0;

	if (!virtio_dev_live(vdev) || !q->enabled || q->vq.broken)
		return;
	while (con->rx_len && (ret = virtq_pop(&q->vq, &c)) > 0) {
		uint32_t written = 0;

		for (unsigned int i = 0; i < c.nr_segs; i++)
			if (c.segs[i].device_writable)
				written += rx_copy(con, c.segs[i].host, c.segs[i].len);
		virtq_push(&q->vq, &c, written);
	}
	if (ret < 0)
		virtio_set_needs_reset(vdev, "receiveq: malformed descriptor chain");
	if (virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(vdev, q);
}

static void tx_process(struct virtio_console *con, struct virtio_queue *q)
{
	struct virtio_dev *vdev = &con->vdev;
	struct virtq_chain c = { .segs = con->segs, .max_segs = CONS_QUEUE_SIZE };
	uint16_t old_used = q->vq.used_idx;
	int ret;

	do {
		while ((ret = virtq_pop(&q->vq, &c)) > 0) {
			for (unsigned int i = 0; i < c.nr_segs; i++)
				if (!c.segs[i].device_writable)
					console_out_write(&con->out, vdev->vm->console_out_fd,
							  c.segs[i].host, c.segs[i].len);
			virtq_push(&q->vq, &c, 0);
		}
	} while (ret == 0 && virtq_enable_notify(&q->vq));
	if (ret < 0)
		virtio_set_needs_reset(vdev, "transmitq: malformed descriptor chain");
	if (virtq_needs_notify(&q->vq, old_used))
		virtio_queue_interrupt(vdev, q);
}

static void console_queue_notify(struct virtio_dev *vdev, struct virtio_queue *q)
{
	struct virtio_console *con = vdev->priv;

	if (q->index == CONS_TX_QUEUE)
		tx_process(con, q);
	else
		rx_flush(con);
}

/* Host input, on the main thread. */
static void console_rx(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *con = opaque;

	pthread_mutex_lock(&con->vdev.lock);
	for (size_t i = 0; i < len; i++) {
		if (con->rx_len == CONS_RX_BUF) {
			con->rx_dropped += len - i;
			break;
		}
		con->rx_buf[(con->rx_head + con->rx_len) % CONS_RX_BUF] = buf[i];
		con->rx_len++;
	}
	rx_flush(con);
	pthread_mutex_unlock(&con->vdev.lock);
}

static void console_reset(struct virtio_dev *vdev)
{
	(void)vdev;	/* buffered input stays for the next driver */
}

static void console_destroy(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->priv;
	struct vm *vm = vdev->vm;

	if (vm->console_rx_opaque == con) {
		vm->console_rx = NULL;
		vm->console_rx_opaque = NULL;
	}
	if (con->rx_dropped || con->out.dropped)
		vm_log(vm, "virtio-console: dropped %llu input and %llu output bytes",
		       (unsigned long long)con->rx_dropped,
		       (unsigned long long)con->out.dropped);
	free(con);
}

static const struct virtio_dev_ops console_ops = {
	.queue_notify = console_queue_notify,
	.reset = console_reset,
	.destroy = console_destroy,
};

static int console_create(struct vm *vm)
{
	struct virtio_console *con;
	int ret;

	if (!vm->cfg || vm->cfg->console != CONSOLE_VIRTIO)
		return 0;
	con = calloc(1, sizeof(*con));
	if (!con)
		return -ENOMEM;
	console_out_init(&con->out);
	con->vdev = (struct virtio_dev){
		.name = "virtio-console",
		.device_id = VIRTIO_ID_CONSOLE,
		.class_code = 0x078000,		/* simple communication controller */
		.config_len = CONS_CONFIG_LEN,
		.nr_queues = 2,
		.queue_max = CONS_QUEUE_SIZE,
		.ops = &console_ops,
		.priv = con,
	};
	ret = virtio_pci_init(&con->vdev, vm);
	if (ret) {
		free(con);
		return ret;
	}
	vm->console_rx = console_rx;
	vm->console_rx_opaque = con;
	return 0;
}

static const struct device_type virtio_console_type = {
	.name = "virtio-console",
	.order = 20,	/* the console first: it gets the lowest PCI slot after the bridge */
	.create = console_create,
};
DEVICE_REGISTER(virtio_console_type);
