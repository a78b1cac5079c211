// SPDX-License-Identifier: MIT
/* The virtio 1.2 PCI transport (4.1), modern interface only. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/virtio_pci.h"
#include "vmm/evloop.h"
#include "vmm/vm.h"

#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_DEVICE_BASE	0x1040
#define VIRTIO_PCI_SUBSYS_ID	0x1100

/* Capability cfg_type values (4.1.4). */
#define CAP_COMMON_CFG	1
#define CAP_NOTIFY_CFG	2
#define CAP_ISR_CFG	3
#define CAP_DEVICE_CFG	4
#define CAP_PCI_CFG	5	/* a window onto the BARs through config space */
#define PCI_CFG_CAP_LEN	20	/* the cap, then pci_cfg_data[4] */

/* Common configuration structure offsets (4.1.4.3). */
#define COMMON_DFSELECT		0x00
#define COMMON_DF		0x04
#define COMMON_GFSELECT		0x08
#define COMMON_GF		0x0c
#define COMMON_MSIX		0x10
#define COMMON_NUMQ		0x12
#define COMMON_STATUS		0x14
#define COMMON_CFGGENERATION	0x15
#define COMMON_Q_SELECT		0x16
#define COMMON_Q_SIZE		0x18
#define COMMON_Q_MSIX		0x1a
#define COMMON_Q_ENABLE		0x1c
#define COMMON_Q_NOFF		0x1e
#define COMMON_Q_DESCLO		0x20
#define COMMON_Q_AVAILLO	0x28
#define COMMON_Q_USEDLO		0x30

/* Ring features every device gets from the one virtqueue implementation. */
#define TRANSPORT_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | \
			    (1ULL << VIRTIO_F_INDIRECT_DESC) | \
			    (1ULL << VIRTIO_F_EVENT_IDX))

static uint64_t offered(const struct virtio_dev *vdev)
{
	return vdev->host_features | TRANSPORT_FEATURES;
}

bool virtio_dev_live(const struct virtio_dev *vdev)
{
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vdev->status & VIRTIO_STATUS_NEEDS_RESET);
}

/* ---- Interrupts ---- */

static void raise_irq(struct virtio_dev *vdev, uint16_t vector, uint8_t isr_bit)
{
	if (pci_msix_enabled(&vdev->pci)) {
		if (vector != VIRTIO_MSI_NO_VECTOR)
			pci_msix_notify(&vdev->pci, vector);
		return;
	}
	vdev->isr |= isr_bit;
	pci_set_intx(&vdev->pci, true);
}

void virtio_queue_interrupt(struct virtio_dev *vdev, struct virtio_queue *q)
{
	raise_irq(vdev, q->msix_vector, 1);
}

void virtio_config_changed(struct virtio_dev *vdev)
{
	vdev->config_generation++;
	raise_irq(vdev, vdev->config_msix_vector, 2);
}

void virtio_set_needs_reset(struct virtio_dev *vdev, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (!vdev->needs_reset_logged)
		vm_err(vdev->vm, "%s (pci 00:%02x.0): guest error, device needs reset: %s",
		       vdev->name, vdev->pci.slot, why);
	vdev->needs_reset_logged = true;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_config_changed(vdev);
}

/* ---- Queue kicks ---- */

static uint64_t notify_addr(const struct virtio_dev *vdev, const struct virtio_queue *q)
{
	const struct pci_bar *bar = &vdev->pci.bars[VIRTIO_PCI_REGS_BAR];

	return bar->mapped_at + VIRTIO_PCI_NOTIFY_OFF + q->index * VIRTIO_PCI_NOTIFY_MULT;
}

static void ioeventfd_off(struct virtio_dev *vdev, struct virtio_queue *q)
{
	if (!q->ioeventfd_on)
		return;
	vdev->vm->ioeventfd(vdev->vm, q->ioeventfd_addr, q->kick_fd, false);
	q->ioeventfd_on = false;
}

/*
 * Let KVM signal kick_fd on notify writes for an enabled queue while the
 * BAR is mapped; otherwise our MMIO handler does it (slower: an exit).
 */
static void ioeventfd_sync(struct virtio_dev *vdev, struct virtio_queue *q)
{
	bool want = q->enabled && vdev->pci.bars[VIRTIO_PCI_REGS_BAR].mapped;
	uint64_t addr = want ? notify_addr(vdev, q) : 0;

	if (q->ioeventfd_on && (!want || addr != q->ioeventfd_addr))
		ioeventfd_off(vdev, q);
	if (!want || q->ioeventfd_on || !vdev->vm->ioeventfd)
		return;
	if (vdev->vm->ioeventfd(vdev->vm, addr, q->kick_fd, true) == 0) {
		q->ioeventfd_on = true;
		q->ioeventfd_addr = addr;
	}
}

static void kick(struct virtio_queue *q)
{
	uint64_t one = 1;

	if (write(q->kick_fd, &one, sizeof(one)) < 0)
		return;	/* EAGAIN: the counter is full, a kick is pending anyway */
}

/* I/O thread: the queue's eventfd fired. */
static void on_kick(void *opaque)
{
	struct virtio_queue *q = opaque;
	struct virtio_dev *vdev = q->vdev;
	uint64_t n;

	if (read(q->kick_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&vdev->lock);
	if (virtio_dev_live(vdev) && q->enabled && !q->vq.broken)
		vdev->ops->queue_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

/* ---- Reset and status ---- */

static void queue_reset(struct virtio_dev *vdev, struct virtio_queue *q)
{
	ioeventfd_off(vdev, q);
	q->enabled = false;
	q->size = vdev->queue_max;
	q->msix_vector = VIRTIO_MSI_NO_VECTOR;
	q->desc_gpa = q->driver_gpa = q->device_gpa = 0;
	memset(&q->vq, 0, sizeof(q->vq));
}

static void device_reset(struct virtio_dev *vdev)
{
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		queue_reset(vdev, &vdev->queues[i]);
	vdev->status = 0;
	vdev->features = 0;
	vdev->dev_feature_select = vdev->drv_feature_select = 0;
	vdev->queue_select = 0;
	vdev->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
	vdev->isr = 0;
	vdev->needs_reset_logged = false;
	pci_set_intx(&vdev->pci, false);
}

static bool features_ok(struct virtio_dev *vdev)
{
	if (vdev->features & ~offered(vdev))
		return false;
	/* Modern only: a driver without VERSION_1 is a legacy driver. */
	return virtio_has_feature(vdev, VIRTIO_F_VERSION_1);
}

static void driver_ok(struct virtio_dev *vdev)
{
	int ret = vdev->ops->activate ? vdev->ops->activate(vdev) : 0;

	if (ret) {
		virtio_set_needs_reset(vdev, "activation failed: %s", strerror(-ret));
		return;
	}
	/* Buffers added before DRIVER_OK got no kick that we acted on. */
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		if (vdev->queues[i].enabled)
			kick(&vdev->queues[i]);
}

static void status_write(struct virtio_dev *vdev, uint8_t val)
{
	uint8_t old = vdev->status, set;

	if (val == 0) {
		device_reset(vdev);
		return;
	}
	/*
	 * The driver only adds bits: what it set before stays set (checks
	 * below see it too). NEEDS_RESET is the device's to set.
	 */
	val = (uint8_t)((val & ~VIRTIO_STATUS_NEEDS_RESET) | old);
	set = (uint8_t)(val & ~old);
	if ((set & VIRTIO_STATUS_FEATURES_OK) && !features_ok(vdev))
		val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;	/* the driver re-reads it */
	if ((set & VIRTIO_STATUS_DRIVER_OK) && !(val & VIRTIO_STATUS_FEATURES_OK)) {
		vdev->status = val & (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
		virtio_set_needs_reset(vdev, "DRIVER_OK without FEATURES_OK");
		return;
	}
	vdev->status = val;
	if (set & VIRTIO_STATUS_DRIVER_OK)
		driver_ok(vdev);
}

/* ---- Common configuration ---- */

static struct virtio_queue *selected(struct virtio_dev *vdev)
{
	if (vdev->queue_select >= vdev->nr_queues)
		return NULL;
	return &vdev->queues[vdev->queue_select];
}

/* The structure as the driver would read it now, little-endian. */
static void common_image(struct virtio_dev *vdev, uint8_t img[VIRTIO_PCI_COMMON_LEN])
{
	struct virtio_queue *q = selected(vdev);
	uint64_t feat = offered(vdev);

#define PUT(off, v, n) do { uint64_t _v = (v); \
	for (unsigned int _i = 0; _i < (n); _i++) img[(off) + _i] = (uint8_t)(_v >> (8 * _i)); \
} while (0)
	memset(img, 0, VIRTIO_PCI_COMMON_LEN);
	PUT(COMMON_DFSELECT, vdev->dev_feature_select, 4);
	PUT(COMMON_DF, vdev->dev_feature_select < 2 ? feat >> (32 * vdev->dev_feature_select) : 0, 4);
	PUT(COMMON_GFSELECT, vdev->drv_feature_select, 4);
	PUT(COMMON_GF, vdev->drv_feature_select < 2 ?
	    vdev->features >> (32 * vdev->drv_feature_select) : 0, 4);
	PUT(COMMON_MSIX, vdev->config_msix_vector, 2);
	PUT(COMMON_NUMQ, vdev->nr_queues, 2);
	PUT(COMMON_STATUS, vdev->status, 1);
	PUT(COMMON_CFGGENERATION, vdev->config_generation, 1);
	PUT(COMMON_Q_SELECT, vdev->queue_select, 2);
	if (!q)
		return;		/* a queue that does not exist reads as size 0 */
	PUT(COMMON_Q_SIZE, q->size, 2);
	PUT(COMMON_Q_MSIX, q->msix_vector, 2);
	PUT(COMMON_Q_ENABLE, q->enabled, 2);
	PUT(COMMON_Q_NOFF, q->index, 2);
	PUT(COMMON_Q_DESCLO, q->desc_gpa, 8);
	PUT(COMMON_Q_AVAILLO, q->driver_gpa, 8);
	PUT(COMMON_Q_USEDLO, q->device_gpa, 8);
#undef PUT
}

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint16_t valid_vector(const struct virtio_dev *vdev, uint16_t v)
{
	return v < vdev->pci.msix_nr ? v : VIRTIO_MSI_NO_VECTOR;
}

static void queue_enable(struct virtio_dev *vdev, struct virtio_queue *q)
{
	uint16_t n = q->size;

	if (q->enabled)
		return;
	if (!n || (n & (n - 1)) || n > vdev->queue_max) {
		virtio_set_needs_reset(vdev, "queue %u: bad size %u", q->index, n);
		return;
	}
	if (virtq_init(&q->vq, &vdev->vm->mem, n, q->desc_gpa, q->driver_gpa,
		       q->device_gpa, vdev->features) < 0) {
		virtio_set_needs_reset(vdev, "queue %u: rings not in RAM or misaligned "
				       "(desc 0x%llx avail 0x%llx used 0x%llx)", q->index,
				       (unsigned long long)q->desc_gpa,
				       (unsigned long long)q->driver_gpa,
				       (unsigned long long)q->device_gpa);
		return;
	}
	q->enabled = true;
	ioeventfd_sync(vdev, q);
}

/* Apply the field at off (width n) from the merged image. */
static void common_field_write(struct virtio_dev *vdev, unsigned int off,
			       const uint8_t *img)
{
	struct virtio_queue *q = selected(vdev);
	bool q_writable = q && !q->enabled && !(vdev->status & VIRTIO_STATUS_DRIVER_OK);
	unsigned int sel;

	switch (off) {
	case COMMON_DFSELECT:
		vdev->dev_feature_select = (uint32_t)get_le(img + off, 4);
		break;
	case COMMON_GFSELECT:
		vdev->drv_feature_select = (uint32_t)get_le(img + off, 4);
		break;
	case COMMON_GF:
		sel = vdev->drv_feature_select;
		if (sel >= 2 || (vdev->status & VIRTIO_STATUS_FEATURES_OK))
			break;
		vdev->features &= ~(0xffffffffULL << (32 * sel));
		vdev->features |= get_le(img + off, 4) << (32 * sel);
		break;
	case COMMON_MSIX:
		vdev->config_msix_vector = valid_vector(vdev, (uint16_t)get_le(img + off, 2));
		break;
	case COMMON_STATUS:
		status_write(vdev, img[off]);
		break;
	case COMMON_Q_SELECT:
		vdev->queue_select = (uint16_t)get_le(img + off, 2);
		break;
	case COMMON_Q_SIZE:
		if (q_writable)
			q->size = (uint16_t)get_le(img + off, 2);
		break;
	case COMMON_Q_MSIX:
		if (q)
			q->msix_vector = valid_vector(vdev, (uint16_t)get_le(img + off, 2));
		break;
	case COMMON_Q_ENABLE:
		/* Writing 0 is not allowed (4.1.4.3.2): ignore it. */
		if (q && get_le(img + off, 2) == 1)
			queue_enable(vdev, q);
		break;
	case COMMON_Q_DESCLO:
		if (q_writable)
			q->desc_gpa = get_le(img + off, 8);
		break;
	case COMMON_Q_AVAILLO:
		if (q_writable)
			q->driver_gpa = get_le(img + off, 8);
		break;
	case COMMON_Q_USEDLO:
		if (q_writable)
			q->device_gpa = get_le(img + off, 8);
		break;
	}
}

/* Field start offsets and widths, in order. */
static const uint8_t common_fields[][2] = {
	{ COMMON_DFSELECT, 4 }, { COMMON_DF, 4 }, { COMMON_GFSELECT, 4 }, { COMMON_GF, 4 },
	{ COMMON_MSIX, 2 }, { COMMON_NUMQ, 2 }, { COMMON_STATUS, 1 },
	{ COMMON_CFGGENERATION, 1 }, { COMMON_Q_SELECT, 2 }, { COMMON_Q_SIZE, 2 },
	{ COMMON_Q_MSIX, 2 }, { COMMON_Q_ENABLE, 2 }, { COMMON_Q_NOFF, 2 },
	{ COMMON_Q_DESCLO, 8 }, { COMMON_Q_AVAILLO, 8 }, { COMMON_Q_USEDLO, 8 },
};

/*
 * Merge the written bytes into the current image and apply every field
 * they touch, so 64-bit fields written as two dwords (or any other split)
 * work; a field applies once its last written byte lands.
 */
static void common_write(struct virtio_dev *vdev, unsigned int off, const uint8_t *data,
			 unsigned int len)
{
	uint8_t img[VIRTIO_PCI_COMMON_LEN];

	if (off >= VIRTIO_PCI_COMMON_LEN || len > VIRTIO_PCI_COMMON_LEN - off)
		return;
	common_image(vdev, img);
	memcpy(img + off, data, len);
	for (unsigned int i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]); i++) {
		unsigned int f = common_fields[i][0], w = common_fields[i][1];

		if (f < off + len && off < f + w)
			common_field_write(vdev, f, img);
	}
}

/* ---- The registers BAR ---- */

static void regs_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_dev *vdev = opaque;
	uint8_t img[VIRTIO_PCI_COMMON_LEN];

	pthread_mutex_lock(&vdev->lock);
	if (off < VIRTIO_PCI_COMMON_LEN) {
		if (len <= VIRTIO_PCI_COMMON_LEN - off) {
			common_image(vdev, img);
			memcpy(data, img + off, len);
		}
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		/* Reading the ISR acknowledges the interrupt (4.1.4.5). */
		data[0] = vdev->isr;
		vdev->isr = 0;
		pci_set_intx(&vdev->pci, false);
	} else if (off >= VIRTIO_PCI_DEVCFG_OFF && off < VIRTIO_PCI_DEVCFG_OFF + vdev->config_len) {
		off -= VIRTIO_PCI_DEVCFG_OFF;
		if (len <= vdev->config_len - off && vdev->ops->config_read)
			vdev->ops->config_read(vdev, (uint32_t)off, data, len);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static void regs_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_dev *vdev = opaque;
	uint64_t q;

	pthread_mutex_lock(&vdev->lock);
	if (off < VIRTIO_PCI_COMMON_LEN) {
		common_write(vdev, (unsigned int)off, data, len);
	} else if (off >= VIRTIO_PCI_DEVCFG_OFF && off < VIRTIO_PCI_DEVCFG_OFF + vdev->config_len) {
		off -= VIRTIO_PCI_DEVCFG_OFF;
		if (len <= vdev->config_len - off && vdev->ops->config_write)
			vdev->ops->config_write(vdev, (uint32_t)off, data, len);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF) {
		/* Reached only when KVM has no ioeventfd for this address. */
		q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;
		if (q < vdev->nr_queues && vdev->queues[q].enabled)
			kick(&vdev->queues[q]);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static const struct bus_ops regs_ops = { .read = regs_read, .write = regs_write };

static void msix_bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_dev *vdev = opaque;

	pci_msix_read(&vdev->pci, VIRTIO_PCI_MSIX_BAR, off, data, len);
}

static void msix_bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_dev *vdev = opaque;

	pci_msix_write(&vdev->pci, VIRTIO_PCI_MSIX_BAR, off, data, len);
}

static const struct bus_ops msix_ops = { .read = msix_bar_read, .write = msix_bar_write };

static void bar_changed(struct pci_dev *pdev, unsigned int bar)
{
	struct virtio_dev *vdev = pdev->opaque;

	if (bar != VIRTIO_PCI_REGS_BAR)
		return;
	pthread_mutex_lock(&vdev->lock);
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		ioeventfd_sync(vdev, &vdev->queues[i]);
	pthread_mutex_unlock(&vdev->lock);
}

/*
 * VIRTIO_PCI_CAP_PCI_CFG (4.1.4.9): the driver writes bar, offset and
 * length into the capability, then accesses pci_cfg_data, which reads or
 * writes that many bytes of that BAR. Only pci_cfg_data is hooked.
 */
static bool pci_cfg_window(struct virtio_dev *vdev, unsigned int len, uint8_t *bar,
			   uint32_t *off)
{
	uint8_t cap = vdev->pci.hook_off - 16;
	uint32_t width = pci_cfg_get(&vdev->pci, cap + 12, 4);

	*bar = (uint8_t)pci_cfg_get(&vdev->pci, cap + 4, 1);
	*off = pci_cfg_get(&vdev->pci, cap + 8, 4);
	/* Only whole accesses of the announced width, naturally aligned. */
	return len == width && (width == 1 || width == 2 || width == 4) && *off % width == 0;
}

static void pci_cfg_read(struct pci_dev *pdev, unsigned int off, uint8_t *data,
			 unsigned int len)
{
	struct virtio_dev *vdev = pdev->opaque;
	uint32_t bar_off;
	uint8_t bar;

	if (off || !pci_cfg_window(vdev, len, &bar, &bar_off))
		return;
	memset(data, 0, len);
	if (bar == VIRTIO_PCI_REGS_BAR && bar_off < VIRTIO_PCI_REGS_SIZE)
		regs_read(vdev, bar_off, data, len);
	else if (bar == VIRTIO_PCI_MSIX_BAR)
		pci_msix_read(pdev, bar, bar_off, data, len);
}

static void pci_cfg_write(struct pci_dev *pdev, unsigned int off, const uint8_t *data,
			  unsigned int len)
{
	struct virtio_dev *vdev = pdev->opaque;
	uint32_t bar_off;
	uint8_t bar;

	if (off || !pci_cfg_window(vdev, len, &bar, &bar_off))
		return;
	if (bar == VIRTIO_PCI_REGS_BAR && bar_off < VIRTIO_PCI_REGS_SIZE)
		regs_write(vdev, bar_off, data, len);
	else if (bar == VIRTIO_PCI_MSIX_BAR)
		pci_msix_write(pdev, bar, bar_off, data, len);
}

static const struct pci_dev_ops virtio_pci_dev_ops = {
	.bar_changed = bar_changed,
	.cfg_hook_read = pci_cfg_read,
	.cfg_hook_write = pci_cfg_write,
};

/* The PCI_CFG capability: bar, offset and length writable, data hooked. */
static bool add_pci_cfg_cap(struct pci_dev *pdev)
{
	uint8_t c = pci_dev_add_cap(pdev, PCI_CAP_ID_VNDR, PCI_CFG_CAP_LEN);

	if (!c)
		return false;
	pdev->cfg[c + 2] = PCI_CFG_CAP_LEN;
	pdev->cfg[c + 3] = CAP_PCI_CFG;
	pdev->wmask[c + 4] = 0xff;
	memset(&pdev->wmask[c + 8], 0xff, 8);	/* offset, length */
	memset(&pdev->wmask[c + 16], 0xff, 4);	/* pci_cfg_data */
	pdev->hook_off = c + 16;
	pdev->hook_len = 4;
	return true;
}

/* ---- Setup and teardown ---- */

static bool add_cap(struct pci_dev *pdev, uint8_t type, uint32_t off, uint32_t len,
		    uint8_t cap_len)
{
	uint8_t c = pci_dev_add_cap(pdev, PCI_CAP_ID_VNDR, cap_len);

	if (!c)
		return false;
	pdev->cfg[c + 2] = cap_len;
	pdev->cfg[c + 3] = type;
	pdev->cfg[c + 4] = VIRTIO_PCI_REGS_BAR;
	memcpy(&pdev->cfg[c + 8], &off, 4);
	memcpy(&pdev->cfg[c + 12], &len, 4);
	if (type == CAP_NOTIFY_CFG) {
		uint32_t mult = VIRTIO_PCI_NOTIFY_MULT;

		memcpy(&pdev->cfg[c + 16], &mult, 4);
	}
	return true;
}

static int setup_pci(struct virtio_dev *vdev)
{
	struct pci_dev *pdev = &vdev->pci;
	unsigned int nr_vectors = vdev->nr_queues + 1;
	int ret;

	pci_dev_init(pdev, vdev->name, VIRTIO_PCI_VENDOR,
		     VIRTIO_PCI_DEVICE_BASE + vdev->device_id, vdev->class_code, 1,
		     VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID);
	pdev->ops = &virtio_pci_dev_ops;
	pdev->opaque = vdev;
	ret = pci_dev_add_bar(pdev, VIRTIO_PCI_MSIX_BAR, VIRTIO_PCI_MSIX_BAR_SIZE, false,
			      false, &msix_ops, vdev);
	if (!ret)
		ret = pci_dev_add_bar(pdev, VIRTIO_PCI_REGS_BAR, VIRTIO_PCI_REGS_SIZE, true,
				      true, &regs_ops, vdev);
	if (!ret)
		ret = pci_dev_add_msix(pdev, nr_vectors, VIRTIO_PCI_MSIX_BAR, 0,
				       VIRTIO_PCI_MSIX_PBA);
	if (ret)
		return ret;
	if (!add_cap(pdev, CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN, 16) ||
	    !add_cap(pdev, CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, 16) ||
	    !add_cap(pdev, CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
		     vdev->nr_queues * VIRTIO_PCI_NOTIFY_MULT, 20) ||
	    (vdev->config_len &&
	     !add_cap(pdev, CAP_DEVICE_CFG, VIRTIO_PCI_DEVCFG_OFF, vdev->config_len, 16)) ||
	    !add_pci_cfg_cap(pdev))
		return -ENOSPC;
	return pci_register(vdev->vm, pdev);
}

static void virtio_pci_teardown(struct virtio_dev *vdev)
{
	if (vdev->queues) {
		for (unsigned int i = 0; i < vdev->nr_queues; i++) {
			struct virtio_queue *q = &vdev->queues[i];

			ioeventfd_off(vdev, q);
			if (q->kick_fd >= 0) {
				if (vdev->vm->io)
					evloop_del(vdev->vm->io, q->kick_fd);
				close(q->kick_fd);
			}
		}
	}
	pci_unregister(&vdev->pci);
	free(vdev->queues);
	vdev->queues = NULL;
	pthread_mutex_destroy(&vdev->lock);
}

static void virtio_pci_metrics(void *state, metric_emit_fn emit, void *ctx)
{
	struct virtio_dev *vdev = state;

	vdev->ops->metrics(vdev, emit, ctx);
}

static void virtio_pci_destroy(void *state)
{
	struct virtio_dev *vdev = state;

	/* The I/O thread has stopped: finish in-flight work, then free. */
	if (vdev->ops->stop)
		vdev->ops->stop(vdev);
	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	pthread_mutex_unlock(&vdev->lock);
	virtio_pci_teardown(vdev);
	if (vdev->ops->destroy)
		vdev->ops->destroy(vdev);
}

static int setup_queues(struct virtio_dev *vdev)
{
	vdev->queues = calloc(vdev->nr_queues, sizeof(*vdev->queues));
	if (!vdev->queues)
		return -ENOMEM;
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		vdev->queues[i].kick_fd = -1;
	for (unsigned int i = 0; i < vdev->nr_queues; i++) {
		struct virtio_queue *q = &vdev->queues[i];

		q->vdev = vdev;
		q->index = i;
		queue_reset(vdev, q);
		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kick_fd < 0)
			return -errno;
		if (vdev->vm->io) {
			int ret = evloop_add(vdev->vm->io, q->kick_fd, on_kick, q);

			if (ret)
				return ret;
		}
	}
	return 0;
}

int virtio_pci_init(struct virtio_dev *vdev, struct vm *vm)
{
	int ret;

	if (!vdev->nr_queues || vdev->nr_queues > VIRTIO_PCI_MAX_QUEUES ||
	    !vdev->queue_max || (vdev->queue_max & (vdev->queue_max - 1)) ||
	    vdev->queue_max > VIRTQ_MAX_SIZE || !vdev->ops || !vdev->ops->queue_notify ||
	    vdev->config_len > VIRTIO_PCI_NOTIFY_OFF - VIRTIO_PCI_DEVCFG_OFF)
		return -EINVAL;
	vdev->vm = vm;
	pthread_mutex_init(&vdev->lock, NULL);
	vdev->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
	ret = setup_queues(vdev);
	if (!ret)
		ret = setup_pci(vdev);
	if (!ret)
		ret = vm_add_device(vm, vdev->name, vdev, virtio_pci_destroy);
	if (ret) {
		virtio_pci_teardown(vdev);
		return ret;
	}
	if (vdev->ops->metrics)
		vm_set_device_metrics(vm, vdev, vdev->ops->metrics_kind, virtio_pci_metrics);
	return 0;
}
