// SPDX-License-Identifier: MIT
/*
 * The PCI host bridge at 00:00.0: owns the root bus and routes the guest's
 * configuration cycles to it, through the legacy 0xCF8/0xCFC ports
 * (mechanism #1) and through ECAM (MMCONFIG) at PCI_ECAM_BASE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "devices/pci/pci.h"
#include "vmm/vm.h"

#define CF8_ENABLE	0x80000000u
#define CF8_BUS(a)	(((a) >> 16) & 0xff)
#define CF8_SLOT(a)	(((a) >> 11) & 0x1f)
#define CF8_FN(a)	(((a) >> 8) & 0x7)
#define CF8_REG(a)	((a) & 0xfc)

/* A generic "host bridge" id (Red Hat's, as used by virtual platforms). */
#define HB_VENDOR	0x1b36
#define HB_DEVICE	0x0008
#define HB_CLASS	0x060000

static void cf8_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_root *root = opaque;

	/* Only dword accesses reach the address latch (as on real chipsets). */
	if (off != 0 || len != 4) {
		memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&root->lock);
	memcpy(data, &root->config_address, 4);
	pthread_mutex_unlock(&root->lock);
}

static void cf8_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_root *root = opaque;
	uint32_t v;

	if (off != 0 || len != 4)
		return;
	memcpy(&v, data, 4);
	pthread_mutex_lock(&root->lock);
	root->config_address = v & 0x80fffffcu;	/* reserved bits read 0 */
	pthread_mutex_unlock(&root->lock);
}

/* The device the latch selects, or false if it selects nothing on bus 0. */
static bool cfc_target(struct pci_root *root, uint64_t off, uint32_t len,
		       unsigned int *slot, unsigned int *fn, unsigned int *reg)
{
	uint32_t a;

	pthread_mutex_lock(&root->lock);
	a = root->config_address;
	pthread_mutex_unlock(&root->lock);
	if (!(a & CF8_ENABLE) || CF8_BUS(a) != 0 || off + len > 4)
		return false;
	*slot = CF8_SLOT(a);
	*fn = CF8_FN(a);
	*reg = CF8_REG(a) + (unsigned int)off;
	return true;
}

static void cfc_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	unsigned int slot, fn, reg;

	if (!cfc_target(opaque, off, len, &slot, &fn, &reg)) {
		memset(data, 0xff, len);
		return;
	}
	pci_config_read(opaque, slot, fn, reg, data, len);
}

static void cfc_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	unsigned int slot, fn, reg;

	if (cfc_target(opaque, off, len, &slot, &fn, &reg))
		pci_config_write(opaque, slot, fn, reg, data, len);
}

/* ECAM: bus[27:20] (only bus 0 is mapped), device[19:15], fn[14:12], reg[11:0]. */
static void ecam_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	pci_config_read(opaque, (off >> 15) & 0x1f, (off >> 12) & 7, off & 0xfff,
			data, len);
}

static void ecam_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	pci_config_write(opaque, (off >> 15) & 0x1f, (off >> 12) & 7, off & 0xfff,
			 data, len);
}

static const struct bus_ops cf8_ops = { .read = cf8_read, .write = cf8_write };
static const struct bus_ops cfc_ops = { .read = cfc_read, .write = cfc_write };
static const struct bus_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

static void host_bridge_destroy(void *state)
{
	struct pci_root *root = state;

	pci_unregister(&root->host_bridge);
	if (root->vm->pci == root)
		root->vm->pci = NULL;
	pthread_mutex_destroy(&root->lock);
	free(root);
}

static uint64_t mmio64_base(const struct vm *vm)
{
	uint64_t top = SZ_4G;

	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		uint64_t end = vm->mem.regions[i].gpa + vm->mem.regions[i].size;

		if (end > top)
			top = end;
	}
	return (top + PCI_MMIO64_ALIGN - 1) & ~(PCI_MMIO64_ALIGN - 1);
}

static int host_bridge_create(struct vm *vm)
{
	struct pci_root *root = calloc(1, sizeof(*root));
	int ret;

	if (!root)
		return -ENOMEM;
	root->vm = vm;
	pthread_mutex_init(&root->lock, NULL);
	root->mmio32_next = PCI_MMIO32_BASE;
	root->mmio64_base = mmio64_base(vm);
	root->mmio64_size = PCI_MMIO64_SIZE;
	vm->pci = root;
	ret = vm_add_device(vm, "pci-host", root, host_bridge_destroy);
	if (ret) {
		vm->pci = NULL;
		free(root);
		return ret;
	}
	pci_dev_init(&root->host_bridge, "host-bridge", HB_VENDOR, HB_DEVICE,
		     HB_CLASS, 0, HB_VENDOR, 0x1100);
	root->host_bridge.cfg[PCI_INTERRUPT_PIN] = 0;	/* no interrupt */
	ret = pci_register(vm, &root->host_bridge);
	if (!ret)
		ret = bus_register(&vm->pio, PCI_CONFIG_ADDR_PORT, 4, &cf8_ops, root, "pci-cf8");
	if (!ret)
		ret = bus_register(&vm->pio, PCI_CONFIG_DATA_PORT, 4, &cfc_ops, root, "pci-cfc");
	if (!ret)
		ret = bus_register(&vm->mmio, PCI_ECAM_BASE, PCI_ECAM_SIZE, &ecam_ops, root,
				   "pci-ecam");
	return ret;
}

static const struct device_type pci_host_type = {
	.name = "pci-host",
	.order = 5,	/* before every PCI device */
	.create = host_bridge_create,
};
DEVICE_REGISTER(pci_host_type);
