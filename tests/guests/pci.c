// SPDX-License-Identifier: MIT
/* PCI configuration space, enumeration and BARs for the test guests: see pci.h. */
#include "pci.h"

#define PCI_CF8_ENABLE		0x80000000U
#define PCI_MAX_DEV		32
#define PCI_MAX_FN		8
/* A capability list is at most (256 - 64) / 4 entries long: more is a loop. */
#define PCI_MAX_CAPS		48

/* MCFG: the header, 8 reserved bytes, then 16-byte allocation entries. */
#define MCFG_ENTRIES		44
#define MCFG_ENTRY_LEN		16

static uint32_t cf8_addr(uint16_t bdf, uint16_t off)
{
	return PCI_CF8_ENABLE | (uint32_t)bdf << 8 | (off & 0xfc);
}

uint32_t pci_cf8_read32(uint16_t bdf, uint16_t off)
{
	outl(PCI_CFG_ADDR_PORT, cf8_addr(bdf, off));
	return port_in32(PCI_CFG_DATA_PORT);
}

uint16_t pci_cf8_read16(uint16_t bdf, uint16_t off)
{
	outl(PCI_CFG_ADDR_PORT, cf8_addr(bdf, off));
	return port_in16(PCI_CFG_DATA_PORT + (off & 2));
}

uint8_t pci_cf8_read8(uint16_t bdf, uint16_t off)
{
	outl(PCI_CFG_ADDR_PORT, cf8_addr(bdf, off));
	return inb(PCI_CFG_DATA_PORT + (off & 3));
}

void pci_cf8_write32(uint16_t bdf, uint16_t off, uint32_t v)
{
	outl(PCI_CFG_ADDR_PORT, cf8_addr(bdf, off));
	outl(PCI_CFG_DATA_PORT, v);
}

void pci_cf8_write16(uint16_t bdf, uint16_t off, uint16_t v)
{
	outl(PCI_CFG_ADDR_PORT, cf8_addr(bdf, off));
	outw(PCI_CFG_DATA_PORT + (off & 2), v);
}

void pci_cf8_write8(uint16_t bdf, uint16_t off, uint8_t v)
{
	outl(PCI_CFG_ADDR_PORT, cf8_addr(bdf, off));
	outb(PCI_CFG_DATA_PORT + (off & 3), v);
}

/* ACPI */

static uint32_t get_u32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_u64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static const struct acpi_header *rsdt_find(const struct acpi_rsdp *r, const char *sig)
{
	const struct acpi_header *rsdt = (const void *)(uint64_t)r->rsdt_address;
	uint32_t i, n;

	if (!r->rsdt_address || memcmp(rsdt->signature, "RSDT", 4) ||
	    rsdt->length < sizeof(*rsdt))
		return NULL;
	n = (rsdt->length - sizeof(*rsdt)) / 4;
	for (i = 0; i < n; i++) {
		uint32_t pa = get_u32((const uint8_t *)(rsdt + 1) + i * 4);
		const struct acpi_header *t = (const void *)(uint64_t)pa;

		if (pa && !memcmp(t->signature, sig, 4))
			return t;
	}
	return NULL;
}

const struct acpi_header *acpi_lookup(const struct hvm_start_info *si, const char *sig)
{
	const struct acpi_rsdp *r = acpi_rsdp(si);
	const struct acpi_header *t = acpi_find(si, sig);

	if (t || !r)
		return t;
	return rsdt_find(r, sig);
}

/* ECAM */

bool pci_ecam_find(const struct hvm_start_info *si, struct pci_ecam *e)
{
	const struct acpi_header *mcfg = acpi_lookup(si, "MCFG");
	const uint8_t *p;
	uint32_t off;

	if (!mcfg)
		return false;
	for (off = MCFG_ENTRIES; off + MCFG_ENTRY_LEN <= mcfg->length;
	     off += MCFG_ENTRY_LEN) {
		p = (const uint8_t *)mcfg + off;
		/* Segment group 0 only: the CF8 ports reach no other. */
		if (p[8] || p[9])
			continue;
		e->base = get_u64(p);
		e->bus_start = p[10];
		e->bus_end = p[11];
		return e->base != 0;
	}
	return false;
}

static uint64_t ecam_addr(const struct pci_ecam *e, uint16_t bdf, uint16_t off)
{
	return e->base + ((uint64_t)bdf << 12) + (off & 0xffc);
}

uint32_t pci_ecam_read32(const struct pci_ecam *e, uint16_t bdf, uint16_t off)
{
	return mmio_read32(ecam_addr(e, bdf, off));
}

void pci_ecam_write32(const struct pci_ecam *e, uint16_t bdf, uint16_t off, uint32_t v)
{
	mmio_write32(ecam_addr(e, bdf, off), v);
}

/* Enumeration */

static unsigned int add_fn(struct pci_dev *devs, unsigned int n, uint16_t bdf)
{
	uint32_t id = pci_cf8_read32(bdf, PCI_VENDOR_ID);

	if ((id & 0xffff) == 0xffff)
		return n;
	devs[n].bdf = bdf;
	devs[n].vendor = (uint16_t)id;
	devs[n].device = (uint16_t)(id >> 16);
	devs[n].class = pci_cf8_read16(bdf, PCI_CLASS_DEVICE);
	devs[n].header_type = pci_cf8_read8(bdf, PCI_HEADER_TYPE) & ~PCI_HEADER_MULTIFN;
	return n + 1;
}

unsigned int pci_enumerate(struct pci_dev *devs, unsigned int max)
{
	unsigned int n = 0, dev, fn;

	for (dev = 0; dev < PCI_MAX_DEV && n < max; dev++) {
		uint16_t bdf = PCI_BDF(0, dev, 0);
		unsigned int before = n;

		n = add_fn(devs, n, bdf);
		if (n == before)
			continue;
		if (!(pci_cf8_read8(bdf, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFN))
			continue;
		for (fn = 1; fn < PCI_MAX_FN && n < max; fn++)
			n = add_fn(devs, n, PCI_BDF(0, dev, fn));
	}
	return n;
}

uint8_t pci_find_cap(uint16_t bdf, uint8_t id, uint8_t from)
{
	unsigned int hops;
	uint8_t pos;

	if (!(pci_cf8_read16(bdf, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	if (from)
		pos = pci_cf8_read8(bdf, from + 1);
	else
		pos = pci_cf8_read8(bdf, PCI_CAP_PTR);
	for (hops = 0; hops < PCI_MAX_CAPS; hops++) {
		pos &= 0xfc;
		if (pos < 0x40)
			return 0;
		if (pci_cf8_read8(bdf, pos) == id)
			return pos;
		pos = pci_cf8_read8(bdf, pos + 1);
	}
	return 0;
}

/* BARs */

void pci_enable_mem(uint16_t bdf, bool on)
{
	uint16_t cmd = pci_cf8_read16(bdf, PCI_COMMAND);

	if (on)
		cmd |= PCI_COMMAND_MEMORY;
	else
		cmd &= ~PCI_COMMAND_MEMORY;
	pci_cf8_write16(bdf, PCI_COMMAND, cmd);
}

/* Write all ones to a BAR dword, return what sticks, put the old value back. */
static uint32_t size_dword(uint16_t bdf, uint16_t off)
{
	uint32_t old = pci_cf8_read32(bdf, off), mask;

	pci_cf8_write32(bdf, off, 0xffffffff);
	mask = pci_cf8_read32(bdf, off);
	pci_cf8_write32(bdf, off, old);
	return mask;
}

bool pci_bar_probe(uint16_t bdf, unsigned int index, struct pci_bar *bar)
{
	uint16_t off = PCI_BAR0 + 4 * index, cmd;
	uint32_t lo, hi = 0, lo_mask, hi_mask = 0xffffffff;
	uint64_t mask;

	if (index >= PCI_NUM_BARS)
		return false;
	memset(bar, 0, sizeof(*bar));
	lo = pci_cf8_read32(bdf, off);
	bar->io = lo & PCI_BAR_IO;
	bar->mem64 = !bar->io && (lo & PCI_BAR_MEM_TYPE) == PCI_BAR_MEM_64;
	bar->prefetch = !bar->io && (lo & PCI_BAR_PREFETCH);
	if (bar->mem64 && index + 1 >= PCI_NUM_BARS)
		return false;
	if (bar->mem64)
		hi = pci_cf8_read32(bdf, off + 4);

	/* No decoding while the BAR holds all ones. */
	cmd = pci_cf8_read16(bdf, PCI_COMMAND);
	pci_cf8_write16(bdf, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	lo_mask = size_dword(bdf, off);
	if (bar->mem64)
		hi_mask = size_dword(bdf, off + 4);
	pci_cf8_write16(bdf, PCI_COMMAND, cmd);

	if (bar->io) {
		bar->addr = lo & ~3U;
		mask = (lo_mask & ~3U) | 0xffff0000U;
		bar->size = (lo_mask & ~3U) ? (uint32_t)~mask + 1 : 0;
		return true;
	}
	bar->addr = ((uint64_t)hi << 32 | lo) & PCI_BAR_MEM_MASK;
	if (bar->mem64)
		mask = ((uint64_t)hi_mask << 32 | lo_mask) & PCI_BAR_MEM_MASK;
	else
		mask = (lo_mask & PCI_BAR_MEM_MASK & 0xffffffffULL);
	/* Unimplemented BARs read back 0; a 32-bit one sizes in 32 bits. */
	if (!mask)
		bar->size = 0;
	else if (bar->mem64)
		bar->size = ~mask + 1;
	else
		bar->size = (uint32_t)~mask + 1;
	return true;
}

uint64_t pci_bar_addr(uint16_t bdf, unsigned int index)
{
	uint16_t off = PCI_BAR0 + 4 * index;
	uint32_t lo;

	if (index >= PCI_NUM_BARS)
		return 0;
	lo = pci_cf8_read32(bdf, off);
	if (lo & PCI_BAR_IO)
		return 0;
	if ((lo & PCI_BAR_MEM_TYPE) != PCI_BAR_MEM_64 || index + 1 >= PCI_NUM_BARS)
		return lo & PCI_BAR_MEM_MASK;
	return ((uint64_t)pci_cf8_read32(bdf, off + 4) << 32 | lo) & PCI_BAR_MEM_MASK;
}

void pci_bar_place(uint16_t bdf, unsigned int index, const struct pci_bar *bar,
		   uint64_t addr)
{
	uint16_t off = PCI_BAR0 + 4 * index;
	uint16_t cmd = pci_cf8_read16(bdf, PCI_COMMAND);

	pci_cf8_write16(bdf, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
	pci_cf8_write32(bdf, off, (uint32_t)addr);
	if (bar->mem64)
		pci_cf8_write32(bdf, off + 4, (uint32_t)(addr >> 32));
	pci_cf8_write16(bdf, PCI_COMMAND, cmd);
}

static bool in_window(uint64_t addr, uint64_t size)
{
	return addr >= PCI_MMIO_WINDOW_START && addr < PCI_MMIO_WINDOW_END &&
	       size <= PCI_MMIO_WINDOW_END - addr;
}

void pci_mmio_alloc_init(struct pci_mmio_alloc *a, const struct pci_dev *devs,
			 unsigned int n)
{
	unsigned int d, i;
	struct pci_bar bar;

	a->next = PCI_MMIO_WINDOW_START;
	a->end = PCI_MMIO_WINDOW_END;
	for (d = 0; d < n; d++) {
		if (devs[d].header_type != 0)
			continue;
		for (i = 0; i < PCI_NUM_BARS; i++) {
			if (!pci_bar_probe(devs[d].bdf, i, &bar))
				break;
			if (!bar.io && bar.size && in_window(bar.addr, bar.size) &&
			    bar.addr + bar.size > a->next)
				a->next = bar.addr + bar.size;
			if (bar.mem64)
				i++;
		}
	}
}

uint64_t pci_mmio_alloc(struct pci_mmio_alloc *a, uint64_t size)
{
	uint64_t addr = (a->next + size - 1) & ~(size - 1);

	if (!size || (size & (size - 1)) || addr < a->next || addr >= a->end ||
	    size > a->end - addr)
		return 0;
	a->next = addr + size;
	return addr;
}

bool pci_dev_setup(const struct pci_dev *dev, struct pci_mmio_alloc *a)
{
	struct pci_bar bar;
	unsigned int i;
	uint16_t cmd;

	for (i = 0; i < PCI_NUM_BARS; i++) {
		if (!pci_bar_probe(dev->bdf, i, &bar))
			break;
		if (!bar.io && bar.size &&
		    (!bar.addr || bar.addr + bar.size > 0x100000000ULL)) {
			uint64_t addr = pci_mmio_alloc(a, bar.size);

			if (!addr)
				return false;
			pci_bar_place(dev->bdf, i, &bar, addr);
		}
		if (bar.mem64)
			i++;
	}
	cmd = pci_cf8_read16(dev->bdf, PCI_COMMAND);
	pci_cf8_write16(dev->bdf, PCI_COMMAND,
			cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	return true;
}
