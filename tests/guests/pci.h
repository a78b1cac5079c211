/* SPDX-License-Identifier: MIT */
/*
 * PCI for the test guests: configuration space through ports 0xCF8/0xCFC
 * (mechanism #1) and through ECAM (base from the ACPI MCFG table),
 * enumeration of bus 0, capability lists, and BAR sizing and placement.
 *
 * Written from the PCI Local Bus 3.0 and PCI Firmware 3.2 specifications;
 * nothing here depends on which VMM runs the guest.
 */
#ifndef SKIFF_GUEST_PCI_H
#define SKIFF_GUEST_PCI_H

#include "lib.h"

#define PCI_CFG_ADDR_PORT	0xcf8
#define PCI_CFG_DATA_PORT	0xcfc

/* Type 0 header offsets. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_CLASS_DEVICE	0x0a	/* base class << 8 | subclass */
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYS_VENDOR	0x2c
#define PCI_SUBSYS_ID		0x2e
#define PCI_CAP_PTR		0x34

#define PCI_COMMAND_IO		0x0001
#define PCI_COMMAND_MEMORY	0x0002
#define PCI_COMMAND_MASTER	0x0004
#define PCI_COMMAND_INTX_OFF	0x0400
#define PCI_STATUS_CAP_LIST	0x0010
#define PCI_HEADER_MULTIFN	0x80

#define PCI_BAR_IO		0x1
#define PCI_BAR_MEM_TYPE	0x6
#define PCI_BAR_MEM_64		0x4
#define PCI_BAR_PREFETCH	0x8
#define PCI_BAR_MEM_MASK	(~0xfULL)
#define PCI_NUM_BARS		6

#define PCI_CAP_ID_MSIX		0x11
#define PCI_CAP_ID_VNDR		0x09

#define PCI_CLASS_HOST_BRIDGE	0x0600

/* Bus/device/function packed as in a CF8 address: bus << 8 | dev << 3 | fn. */
#define PCI_BDF(b, d, f)	((uint16_t)((b) << 8 | (d) << 3 | (f)))
#define PCI_BDF_BUS(bdf)	((bdf) >> 8)
#define PCI_BDF_DEV(bdf)	(((bdf) >> 3) & 0x1f)
#define PCI_BDF_FN(bdf)		((bdf) & 7)

/* The ports lib.h has no reader for. */
static inline uint16_t port_in16(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t port_in32(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* MMIO widths lib.h lacks (identity-mapped below 4 GiB). */
static inline uint8_t mmio_rd8(uint64_t pa)
{
	return *(volatile uint8_t *)pa;
}

static inline uint16_t mmio_rd16(uint64_t pa)
{
	return *(volatile uint16_t *)pa;
}

static inline void mmio_wr8(uint64_t pa, uint8_t v)
{
	*(volatile uint8_t *)pa = v;
}

static inline void mmio_wr16(uint64_t pa, uint16_t v)
{
	*(volatile uint16_t *)pa = v;
}

/* Configuration mechanism #1. off may be any offset 0..255 of its width. */
uint32_t pci_cf8_read32(uint16_t bdf, uint16_t off);
uint16_t pci_cf8_read16(uint16_t bdf, uint16_t off);
uint8_t pci_cf8_read8(uint16_t bdf, uint16_t off);
void pci_cf8_write32(uint16_t bdf, uint16_t off, uint32_t v);
void pci_cf8_write16(uint16_t bdf, uint16_t off, uint16_t v);
void pci_cf8_write8(uint16_t bdf, uint16_t off, uint8_t v);

/*
 * The ACPI table with signature sig through the XSDT, else through the
 * RSDT: SeaBIOS hands out a revision-0 RSDP that has no XSDT, which
 * lib's acpi_find() does not walk. NULL when absent.
 */
const struct acpi_header *acpi_lookup(const struct hvm_start_info *si, const char *sig);

/* ECAM window of PCI segment 0 as the MCFG table describes it. */
struct pci_ecam {
	uint64_t base;		/* address of bus 0 */
	uint8_t bus_start, bus_end;
};

/* From the MCFG table; false if there is none or it has no segment 0. */
bool pci_ecam_find(const struct hvm_start_info *si, struct pci_ecam *e);
uint32_t pci_ecam_read32(const struct pci_ecam *e, uint16_t bdf, uint16_t off);
void pci_ecam_write32(const struct pci_ecam *e, uint16_t bdf, uint16_t off, uint32_t v);

struct pci_dev {
	uint16_t bdf;
	uint16_t vendor, device;
	uint16_t class;		/* base class << 8 | subclass */
	uint8_t header_type;	/* without the multi-function bit */
};

/* Functions on bus 0, in bdf order, into devs[max]; returns how many. */
unsigned int pci_enumerate(struct pci_dev *devs, unsigned int max);

/* Offset of the first capability with id after offset from (0: from the
 * start of the list), or 0. Bounded against malformed (looping) lists. */
uint8_t pci_find_cap(uint16_t bdf, uint8_t id, uint8_t from);

struct pci_bar {
	uint64_t addr;		/* as programmed now (0: unassigned) */
	uint64_t size;		/* 0: not implemented */
	bool io, mem64, prefetch;
};

/*
 * Size BAR index: memory decoding off, all ones written (both halves of a
 * 64-bit BAR), read back, everything restored. A 64-bit BAR takes index
 * and index + 1: callers skip the next index. false for an index out of
 * range (or a 64-bit BAR at index 5).
 */
bool pci_bar_probe(uint16_t bdf, unsigned int index, struct pci_bar *bar);

/* Address programmed in memory BAR index (both halves if 64-bit), no sizing. */
uint64_t pci_bar_addr(uint16_t bdf, unsigned int index);

/* Program memory BAR index to addr (aligned to its size by the caller),
 * with memory decoding off while the halves are inconsistent. */
void pci_bar_place(uint16_t bdf, unsigned int index, const struct pci_bar *bar,
		   uint64_t addr);

void pci_enable_mem(uint16_t bdf, bool on);

/*
 * Guest-chosen BAR placement: a bump allocator over the window every VMM
 * this guest runs on leaves free for PCI (skiff pre-assigns there, QEMU
 * q35 has its 32-bit hole there too), above whatever firmware placed.
 */
#define PCI_MMIO_WINDOW_START	0xc0000000ULL
#define PCI_MMIO_WINDOW_END	0xe0000000ULL

struct pci_mmio_alloc {
	uint64_t next, end;
};

/* Start above every memory BAR already programmed inside the window. */
void pci_mmio_alloc_init(struct pci_mmio_alloc *a, const struct pci_dev *devs,
			 unsigned int n);
/* size-aligned address for a BAR of size bytes, or 0 when full. */
uint64_t pci_mmio_alloc(struct pci_mmio_alloc *a, uint64_t size);

/*
 * Make every memory BAR of dev usable: BARs that are unassigned or above
 * 4 GiB (outside the identity map) get an address from a, then memory
 * decoding and bus mastering are switched on. false if a ran out.
 */
bool pci_dev_setup(const struct pci_dev *dev, struct pci_mmio_alloc *a);

#endif
