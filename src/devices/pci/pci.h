/* SPDX-License-Identifier: MIT */
/*
 * PCI: one root bus (bus 0) behind a host bridge, configuration space
 * through ports 0xCF8/0xCFC and through ECAM (described by the MCFG
 * table), memory BARs placed by skiff like firmware and movable by the
 * guest, MSI-X with its table and PBA in a BAR, and INTx as the fallback.
 *
 * Every config-space access comes from the guest: writes go through a
 * per-byte writable mask (read-only bits stay read-only), and offsets or
 * sizes outside the space are ignored.
 */
#ifndef SKIFF_DEVICES_PCI_PCI_H
#define SKIFF_DEVICES_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/layout.h"
#include "vmm/bus.h"

struct vm;

#define PCI_CONFIG_ADDR_PORT	0xcf8
#define PCI_CONFIG_DATA_PORT	0xcfc
/* INTx: slot s, pin p (0 = INTA) -> IOAPIC input PCI_INTX_GSI(s, p). */
#define PCI_INTX_GSI_BASE	16
#define PCI_INTX_GSI(s, p)	(PCI_INTX_GSI_BASE + (((s) + (p)) & 7))

#define PCI_MAX_SLOTS		32
#define PCI_NUM_BARS		6
#define PCI_CFG_SIZE		256	/* emulated; ECAM's extended space reads 0 */
#define PCI_ECAM_FN_SIZE	4096

/* Standard header offsets and bits. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYSTEM_VENDOR_ID	0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_CMD_MEMORY		0x0002
#define PCI_CMD_MASTER		0x0004
#define PCI_CMD_INTX_DISABLE	0x0400
#define PCI_STATUS_INTERRUPT	0x0008
#define PCI_STATUS_CAP_LIST	0x0010
#define PCI_BAR_MEM_64		0x04
#define PCI_BAR_PREFETCH	0x08
#define PCI_CAP_ID_VNDR		0x09
#define PCI_CAP_ID_MSIX		0x11
#define PCI_MSIX_FLAGS_ENABLE	0x8000
#define PCI_MSIX_FLAGS_MASKALL	0x4000
#define PCI_MSIX_ENTRY_SIZE	16
#define PCI_MSIX_CTRL_MASKED	1u

struct pci_bar {
	uint64_t size;		/* power of two >= 4 KiB; 0: BAR unused */
	bool is64;		/* takes this BAR and the next */
	bool prefetch;
	const struct bus_ops *ops;	/* accesses at offset from the BAR */
	void *opaque;
	uint64_t mapped_at;	/* where it is on the MMIO bus, if mapped */
	bool mapped;
};

struct pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_dev;

struct pci_dev_ops {
	/* A BAR moved or (un)mapped: e.g. re-register ioeventfds. */
	void (*bar_changed)(struct pci_dev *pdev, unsigned int bar);
	/* MSI-X enable or function mask toggled, or INTx disabled. */
	void (*irq_mode_changed)(struct pci_dev *pdev);
	/*
	 * Config bytes [hook_off, hook_off + hook_len) of the device are
	 * live registers rather than stored values: accesses there (after
	 * the ordinary masked store, for writes) also reach these, without
	 * the device lock held. off is relative to hook_off.
	 */
	void (*cfg_hook_read)(struct pci_dev *pdev, unsigned int off, uint8_t *data,
			      unsigned int len);
	void (*cfg_hook_write)(struct pci_dev *pdev, unsigned int off, const uint8_t *data,
			       unsigned int len);
};

struct pci_dev {
	struct vm *vm;
	const char *name;
	const struct pci_dev_ops *ops;
	void *opaque;
	unsigned int slot;
	/*
	 * Config space and its masks: wmask bits are guest-writable, w1c bits
	 * are cleared by writing 1. Guarded by lock, as is all state below.
	 */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];
	uint8_t w1cmask[PCI_CFG_SIZE];
	uint8_t next_cap;	/* where the next capability goes */
	uint8_t hook_off, hook_len;	/* see pci_dev_ops.cfg_hook_read */
	uint8_t *last_cap_next;	/* pointer to the previous "next" byte */
	struct pci_bar bars[PCI_NUM_BARS];
	/* MSI-X, when msix_nr > 0. */
	unsigned int msix_nr;
	uint8_t msix_cap;
	unsigned int msix_bar;
	uint32_t msix_table_off, msix_pba_off;
	struct pci_msix_entry *msix_table;
	uint64_t *msix_pba;
	bool intx_level;
	pthread_mutex_t lock;
};

/* The root bus: devices by slot, the config address latch, windows. */
struct pci_root {
	struct vm *vm;
	pthread_mutex_t lock;	/* slots, cf8 latch, BAR allocation */
	struct pci_dev *slots[PCI_MAX_SLOTS];
	uint32_t config_address;
	uint64_t mmio32_next;	/* firmware-style BAR placement cursor */
	uint64_t mmio64_base, mmio64_size;
	struct pci_dev host_bridge;
};

/*
 * Set up pdev's header: ids, class (24 bits: class, subclass, prog-if),
 * revision, INTA. ops and opaque may be NULL.
 */
void pci_dev_init(struct pci_dev *pdev, const char *name, uint16_t vendor,
		  uint16_t device, uint32_t class_code, uint8_t revision,
		  uint16_t subsys_vendor, uint16_t subsys_id);

/* Declare memory BAR nr (size a power of two >= 4 KiB; 64-bit takes nr+1). */
int pci_dev_add_bar(struct pci_dev *pdev, unsigned int nr, uint64_t size,
		    bool is64, bool prefetch, const struct bus_ops *ops, void *opaque);

/*
 * Append a capability of len bytes (id and next pointer included) and
 * return its config offset, or 0 when there is no room. The caller fills
 * the body and marks writable bytes in wmask.
 */
uint8_t pci_dev_add_cap(struct pci_dev *pdev, uint8_t id, uint8_t len);

/*
 * Add an MSI-X capability with nr vectors, its table at table_off and PBA
 * at pba_off in BAR bar (the device's BAR handler must pass accesses in
 * those ranges to pci_msix_read/pci_msix_write).
 */
int pci_dev_add_msix(struct pci_dev *pdev, unsigned int nr, unsigned int bar,
		     uint32_t table_off, uint32_t pba_off);

/* Accesses to the MSI-X table or PBA; true if off was theirs. */
bool pci_msix_read(struct pci_dev *pdev, unsigned int bar, uint64_t off,
		   uint8_t *data, uint32_t len);
bool pci_msix_write(struct pci_dev *pdev, unsigned int bar, uint64_t off,
		    const uint8_t *data, uint32_t len);

/* A snapshot of n (1-4) config bytes at off, little-endian, under the lock. */
uint32_t pci_cfg_get(struct pci_dev *pdev, unsigned int off, unsigned int n);

/* Put pdev in the first free slot, place its BARs; -ENOSPC when full. */
int pci_register(struct vm *vm, struct pci_dev *pdev);
/* Take pdev off the bus (unmaps its BARs). */
void pci_unregister(struct pci_dev *pdev);

/* MSI-X on and not function-masked: vectors are used, not INTx. */
bool pci_msix_enabled(struct pci_dev *pdev);
/*
 * Raise MSI-X vector: delivered at once if unmasked, else the PBA bit is
 * set and it is delivered when unmasked. false if vector is out of range
 * or MSI-X is off.
 */
bool pci_msix_notify(struct pci_dev *pdev, unsigned int vector);
/* Set the INTx (INTA) line level; honours Command.INTX_DISABLE. */
void pci_set_intx(struct pci_dev *pdev, bool level);

/* Config-space access as the host bridge routes it (bus 0 only). */
void pci_config_read(struct pci_root *root, unsigned int slot, unsigned int fn,
		     unsigned int off, uint8_t *data, unsigned int len);
void pci_config_write(struct pci_root *root, unsigned int slot, unsigned int fn,
		      unsigned int off, const uint8_t *data, unsigned int len);

#endif
