/* SPDX-License-Identifier: MIT */
/*
 * The virtio 1.2 PCI transport (modern only), shared by every virtio
 * device: capabilities, feature negotiation, the device status state
 * machine, queue setup, ioeventfd kicks and MSI-X/INTx interrupts.
 *
 * A device model fills a struct virtio_dev (ids, features, queues, ops)
 * and calls virtio_pci_init(). Its queue_notify runs on the VM's I/O
 * thread, never on a vCPU thread. All device callbacks run with vdev->lock
 * held; code the device runs on its own (I/O completions) takes it too.
 */
#ifndef SKIFF_DEVICES_VIRTIO_VIRTIO_PCI_H
#define SKIFF_DEVICES_VIRTIO_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci/pci.h"
#include "devices/virtio/virtqueue.h"
#include "vmm/metrics.h"

/* Device types (virtio 1.2, 5). */
#define VIRTIO_ID_NET		1
#define VIRTIO_ID_BLOCK		2
#define VIRTIO_ID_CONSOLE	3
#define VIRTIO_ID_RNG		4

/* Transport feature bits the transport itself offers. */
#define VIRTIO_F_VERSION_1	32

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

#define VIRTIO_MSI_NO_VECTOR	0xffff

/* BAR layout: MSI-X in a 32-bit BAR, the virtio regions in a 64-bit one. */
#define VIRTIO_PCI_MSIX_BAR	0
#define VIRTIO_PCI_MSIX_BAR_SIZE 0x1000
#define VIRTIO_PCI_MSIX_PBA	0x800
#define VIRTIO_PCI_REGS_BAR	2
#define VIRTIO_PCI_REGS_SIZE	0x4000
#define VIRTIO_PCI_COMMON_OFF	0x0000
#define VIRTIO_PCI_COMMON_LEN	0x40
#define VIRTIO_PCI_ISR_OFF	0x1000
#define VIRTIO_PCI_DEVCFG_OFF	0x2000
#define VIRTIO_PCI_NOTIFY_OFF	0x3000
#define VIRTIO_PCI_NOTIFY_MULT	4
#define VIRTIO_PCI_MAX_QUEUES	(0x1000 / VIRTIO_PCI_NOTIFY_MULT)

struct virtio_dev;

struct virtio_queue {
	struct virtio_dev *vdev;
	unsigned int index;
	struct virtq vq;
	uint16_t size;			/* as the driver set it */
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc_gpa, driver_gpa, device_gpa;
	int kick_fd;			/* eventfd: KVM ioeventfd or our MMIO handler */
	bool ioeventfd_on;
	uint64_t ioeventfd_addr;
};

struct virtio_dev_ops {
	/* Buffers may be available on q (I/O thread). */
	void (*queue_notify)(struct virtio_dev *vdev, struct virtio_queue *q);
	/* Device config space, off + len <= config_len; data pre-zeroed. */
	void (*config_read)(struct virtio_dev *vdev, uint32_t off, uint8_t *data,
			    uint32_t len);
	void (*config_write)(struct virtio_dev *vdev, uint32_t off, const uint8_t *data,
			     uint32_t len);
	/* The driver set DRIVER_OK; 0 or -errno (then NEEDS_RESET). */
	int (*activate)(struct virtio_dev *vdev);
	/*
	 * The driver reset the device: finish or drop in-flight work, so no
	 * guest memory of the old rings is touched afterwards.
	 */
	void (*reset)(struct virtio_dev *vdev);
	/*
	 * VM teardown, after the I/O thread has stopped and before the
	 * transport goes: stop anything that calls into the device from
	 * other threads (backend threads). May be NULL.
	 */
	void (*stop)(struct virtio_dev *vdev);
	/* VM teardown, after the transport: free the model. */
	void (*destroy)(struct virtio_dev *vdev);
	/* Optional counters for the control API (any thread; see metrics.h). */
	const char *metrics_kind;
	void (*metrics)(struct virtio_dev *vdev, metric_emit_fn emit, void *ctx);
};

struct virtio_dev {
	/* Set by the device model before virtio_pci_init(). */
	const char *name;
	uint16_t device_id;
	uint32_t class_code;
	uint64_t host_features;		/* device bits; the transport adds its own */
	uint32_t config_len;
	unsigned int nr_queues;
	uint16_t queue_max;		/* power of two */
	const struct virtio_dev_ops *ops;
	void *priv;

	/* Transport state, guarded by lock. */
	struct vm *vm;
	pthread_mutex_t lock;
	struct virtio_queue *queues;
	uint64_t features;		/* negotiated (driver's accepted set) */
	uint32_t dev_feature_select, drv_feature_select;
	uint16_t queue_select;
	uint16_t config_msix_vector;
	uint8_t status;
	uint8_t isr;
	uint8_t config_generation;
	bool needs_reset_logged;
	struct pci_dev pci;
};

/*
 * Create queues and their kick eventfds, put the device on the PCI bus and
 * register it for teardown. On failure everything is undone except
 * vdev->priv, which stays the caller's. 0 or -errno.
 */
int virtio_pci_init(struct virtio_dev *vdev, struct vm *vm);

/* The driver finished setup and nothing went wrong since: process queues. */
bool virtio_dev_live(const struct virtio_dev *vdev);

/* Tell the driver q has used buffers (MSI-X vector, or INTx + ISR). Lock held. */
void virtio_queue_interrupt(struct virtio_dev *vdev, struct virtio_queue *q);
/* The device config changed: bump the generation and interrupt. Lock held. */
void virtio_config_changed(struct virtio_dev *vdev);

/*
 * The guest broke the rules: set DEVICE_NEEDS_RESET, stop processing,
 * tell the driver, log once. Lock held.
 */
void virtio_set_needs_reset(struct virtio_dev *vdev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The negotiated features include bit. */
static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned int bit)
{
	return (vdev->features >> bit) & 1;
}

#endif
