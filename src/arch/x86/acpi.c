// SPDX-License-Identifier: MIT
/*
 * ACPI tables for x86 guests: RSDP, XSDT, FADT, FACS, MADT and a small DSDT
 * (the \_S5 sleep package and one Device per legacy device).
 *
 * Everything is written through a bounded cursor: writes past the end of
 * the buffer are dropped and only counted, so acpi_build() can report
 * -ENOSPC for any too-small buffer without ever writing past it.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "devices/pci/pci.h"
#include "arch/x86/layout.h"

#define ACPI_OEM_ID		"SKIFF "
#define ACPI_OEM_TABLE_ID	"SKIFFVM "
#define ACPI_CREATOR_ID		"SKIF"
#define ACPI_HEADER_LEN		36

#define RSDP_V1_LEN		20
#define RSDP_LEN		36
#define FACS_LEN		64
#define FADT_LEN		276	/* ACPI 6.x, up to the hypervisor id */
#define FADT_REVISION		6
#define FADT_MINOR_REVISION	5

/* FADT field offsets (ACPI 6.5, table 5.9). */
#define FADT_FIRMWARE_CTRL	36
#define FADT_DSDT		40
#define FADT_SCI_INT		46
#define FADT_SMI_CMD		48
#define FADT_PM1A_EVT_BLK	56
#define FADT_PM1A_CNT_BLK	64
#define FADT_PM_TMR_BLK		76
#define FADT_PM1_EVT_LEN	88
#define FADT_PM1_CNT_LEN	89
#define FADT_PM_TMR_LEN		91
#define FADT_IAPC_BOOT_ARCH	109
#define FADT_FLAGS		112
#define FADT_RESET_REG		116
#define FADT_RESET_VALUE	128
#define FADT_MINOR_VERSION	131
#define FADT_X_FIRMWARE_CTRL	132
#define FADT_X_DSDT		140
#define FADT_X_PM1A_EVT_BLK	148
#define FADT_X_PM1A_CNT_BLK	172
#define FADT_X_PM_TMR_BLK	208

/* FADT flags. */
#define FADT_F_WBINVD		(1u << 0)
#define FADT_F_PROC_C1		(1u << 2)
#define FADT_F_SLP_BUTTON	(1u << 5)	/* no fixed sleep button */
#define FADT_F_TMR_VAL_EXT	(1u << 8)	/* 32-bit PM timer */
#define FADT_F_RESET_REG_SUP	(1u << 10)

/* IAPC_BOOT_ARCH. No 8042 flag: Linux then skips probing for one. */
#define IAPC_LEGACY_DEVICES	(1u << 0)
#define IAPC_VGA_NOT_PRESENT	(1u << 2)

/* Generic Address Structure. */
#define GAS_SYSTEM_IO		1
#define GAS_ACCESS_BYTE		1
#define GAS_ACCESS_WORD		2
#define GAS_ACCESS_DWORD	3

/* MADT. */
#define MADT_REVISION		4
#define MADT_PCAT_COMPAT	(1u << 0)
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_ISO		2
#define MADT_LAPIC_NMI		4
#define MADT_LAPIC_ENABLED	(1u << 0)
#define MPS_POLARITY_HIGH	0x1
#define MPS_TRIGGER_LEVEL	(0x3 << 2)
#define MADT_ALL_PROCESSORS	0xff

/* AML opcodes and prefixes. */
#define AML_ZERO		0x00
#define AML_ONE			0x01
#define AML_NAME		0x08
#define AML_BYTE_PREFIX		0x0a
#define AML_WORD_PREFIX		0x0b
#define AML_DWORD_PREFIX	0x0c
#define AML_SCOPE		0x10
#define AML_BUFFER		0x11
#define AML_PACKAGE		0x12
#define AML_EXT_PREFIX		0x5b
#define AML_DEVICE		0x82	/* after AML_EXT_PREFIX */
#define AML_ROOT_CHAR		'\\'
#define AML_PKGLEN_MAX		0x0fffffff

/* Small resource descriptors. */
#define RES_IRQ_NOFLAGS		0x22	/* IRQ, 2 data bytes */
#define RES_IO			0x47	/* I/O port, 7 data bytes */
#define RES_IO_DECODE16		0x01
#define RES_END_TAG		0x79
#define RES_MEM32_FIXED		0x86	/* large: Memory32Fixed */
#define RES_DWORD_ADDR		0x87
#define RES_WORD_ADDR		0x88
#define RES_QWORD_ADDR		0x8a
#define RES_ADDR_MEM		0
#define RES_ADDR_BUS		2
#define RES_ADDR_PRODUCER_FIXED	0x0c	/* producer, min and max fixed */
#define RES_MEM_RW		0x01
#define RES_MEM_PREFETCH	(3 << 1)

#define MCFG_LEN		(ACPI_HEADER_LEN + 8 + 16)

struct abuf {
	uint8_t *buf;
	size_t len;
	size_t pos;	/* may run past len: the build then fails */
};

static bool ab_fits(const struct abuf *b, size_t off, size_t n)
{
	return off <= b->len && n <= b->len - off;
}

static bool ab_full(const struct abuf *b)
{
	return b->pos > b->len;
}

static void put_bytes(struct abuf *b, const void *src, size_t n)
{
	if (ab_fits(b, b->pos, n))
		memcpy(b->buf + b->pos, src, n);
	b->pos += n;
}

static void put_le(struct abuf *b, uint64_t val, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint8_t byte = (uint8_t)(val >> (8 * i));

		put_bytes(b, &byte, 1);
	}
}

static void patch_le(struct abuf *b, size_t off, uint64_t val, unsigned int n)
{
	if (!ab_fits(b, off, n))
		return;
	for (unsigned int i = 0; i < n; i++)
		b->buf[off + i] = (uint8_t)(val >> (8 * i));
}

static void put_zeros(struct abuf *b, size_t n)
{
	if (ab_fits(b, b->pos, n))
		memset(b->buf + b->pos, 0, n);
	b->pos += n;
}

static void ab_align(struct abuf *b, size_t align)
{
	size_t rem = b->pos % align;

	if (rem)
		put_zeros(b, align - rem);
}

uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

/* Make the bytes [off, off + len) sum to 0 by setting the byte at csum. */
static void fix_checksum(struct abuf *b, size_t off, size_t len, size_t csum)
{
	if (!ab_fits(b, off, len) || csum < off || csum >= off + len)
		return;
	b->buf[csum] = 0;
	b->buf[csum] = (uint8_t)-acpi_checksum(b->buf + off, len);
}

/* Start a table with the standard 36-byte header; returns its offset. */
static size_t table_begin(struct abuf *b, const char *sig, uint8_t rev)
{
	size_t start = b->pos;

	put_bytes(b, sig, 4);
	put_le(b, 0, 4);		/* length, set by table_end() */
	put_le(b, rev, 1);
	put_le(b, 0, 1);		/* checksum, set by table_end() */
	put_bytes(b, ACPI_OEM_ID, 6);
	put_bytes(b, ACPI_OEM_TABLE_ID, 8);
	put_le(b, 1, 4);		/* OEM revision */
	put_bytes(b, ACPI_CREATOR_ID, 4);
	put_le(b, 1, 4);		/* creator revision */
	return start;
}

static void table_end(struct abuf *b, size_t start)
{
	size_t len = b->pos - start;

	patch_le(b, start + 4, len, 4);
	fix_checksum(b, start, len, start + 9);
}

/* A system-I/O Generic Address Structure at off (all zero when addr is 0). */
static void patch_gas(struct abuf *b, size_t off, uint8_t bit_width,
		      uint8_t access, uint64_t addr)
{
	if (!addr)
		return;
	patch_le(b, off, GAS_SYSTEM_IO, 1);
	patch_le(b, off + 1, bit_width, 1);
	patch_le(b, off + 2, 0, 1);		/* bit offset */
	patch_le(b, off + 3, access, 1);
	patch_le(b, off + 4, addr, 8);
}

/* ---- AML ---- */

/* Bytes a PkgLength takes when the package body (after it) is body_len. */
static unsigned int pkglen_size(size_t body_len)
{
	if (body_len + 1 <= 0x3f)
		return 1;
	if (body_len + 2 <= 0xfff)
		return 2;
	if (body_len + 3 <= 0xfffff)
		return 3;
	return 4;
}

/*
 * Open a package: remember where its body starts. aml_close() then inserts
 * the PkgLength in front of the body, moving it up by 1-4 bytes.
 */
static size_t aml_open(struct abuf *b)
{
	return b->pos;
}

static void aml_close(struct abuf *b, size_t body)
{
	size_t body_len = b->pos - body;
	unsigned int n = pkglen_size(body_len);
	size_t total = body_len + n;
	uint8_t enc[4];

	if (total > AML_PKGLEN_MAX) {
		b->pos = b->len + 1;	/* cannot be encoded: fail the build */
		return;
	}
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
		for (unsigned int i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	b->pos += n;
	if (!ab_fits(b, body, total))
		return;
	memmove(b->buf + body + n, b->buf + body, body_len);
	memcpy(b->buf + body, enc, n);
}

static void aml_integer(struct abuf *b, uint64_t v)
{
	if (v == 0) {
		put_le(b, AML_ZERO, 1);
	} else if (v == 1) {
		put_le(b, AML_ONE, 1);
	} else if (v <= 0xff) {
		put_le(b, AML_BYTE_PREFIX, 1);
		put_le(b, v, 1);
	} else if (v <= 0xffff) {
		put_le(b, AML_WORD_PREFIX, 1);
		put_le(b, v, 2);
	} else {
		put_le(b, AML_DWORD_PREFIX, 1);
		put_le(b, v, 4);
	}
}

/* Name(seg, ...): the caller appends the data object. */
static void aml_name(struct abuf *b, const char *seg)
{
	put_le(b, AML_NAME, 1);
	put_bytes(b, seg, 4);
}

static bool name_char_ok(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || c == '_')
		return true;
	return !first && c >= '0' && c <= '9';
}

static bool nameseg_ok(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!name_char_ok(s[i], i == 0))
			return false;
	return s[4] == '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * EISAID("PNP0501"): three letters, 5 bits each, then four hex digits,
 * stored so the bytes read 0x41 0xd0 0x05 0x01 in memory.
 * Returns false when hid is not of that form.
 */
static bool eisa_id(const char *hid, uint32_t *out)
{
	uint16_t vendor = 0;
	uint32_t v;

	for (int i = 0; i < 3; i++) {
		if (hid[i] < 'A' || hid[i] > 'Z')
			return false;
		vendor = (uint16_t)((vendor << 5) | (hid[i] - '@'));
	}
	for (int i = 3; i < 7; i++)
		if (hex_digit(hid[i]) < 0)
			return false;
	if (hid[7] != '\0')
		return false;
	v = (uint32_t)(vendor >> 8) | (uint32_t)(vendor & 0xff) << 8;
	v |= (uint32_t)(hex_digit(hid[3]) << 4 | hex_digit(hid[4])) << 16;
	v |= (uint32_t)(hex_digit(hid[5]) << 4 | hex_digit(hid[6])) << 24;
	*out = v;
	return true;
}

static bool dev_desc_ok(const struct acpi_dev_desc *d)
{
	uint32_t id;

	if (!nameseg_ok(d->name) || !eisa_id(d->hid, &id))
		return false;
	if (d->io_len > 0xff || (d->io_len && d->io_base + d->io_len - 1 > 0xffff))
		return false;
	return d->irq >= -1 && d->irq <= 15;
}

/* Name(_CRS, ResourceTemplate() { IO(Decode16, ...) IRQNoFlags() {irq} }) */
static void aml_dev_crs(struct abuf *b, const struct acpi_dev_desc *d)
{
	size_t pkg, data_len = 2;	/* end tag */

	if (d->io_len)
		data_len += 8;
	if (d->irq >= 0)
		data_len += 3;

	aml_name(b, "_CRS");
	put_le(b, AML_BUFFER, 1);
	pkg = aml_open(b);
	aml_integer(b, data_len);
	if (d->io_len) {
		put_le(b, RES_IO, 1);
		put_le(b, RES_IO_DECODE16, 1);
		put_le(b, d->io_base, 2);	/* minimum */
		put_le(b, d->io_base, 2);	/* maximum */
		put_le(b, 1, 1);		/* alignment */
		put_le(b, d->io_len, 1);
	}
	if (d->irq >= 0) {
		put_le(b, RES_IRQ_NOFLAGS, 1);
		put_le(b, 1u << d->irq, 2);
	}
	put_le(b, RES_END_TAG, 1);
	put_le(b, 0, 1);	/* checksum 0: "treat as valid" */
	aml_close(b, pkg);
}

static void aml_device(struct abuf *b, const struct acpi_dev_desc *d)
{
	uint32_t id = 0;
	size_t pkg;

	eisa_id(d->hid, &id);
	put_le(b, AML_EXT_PREFIX, 1);
	put_le(b, AML_DEVICE, 1);
	pkg = aml_open(b);
	put_bytes(b, d->name, 4);
	aml_name(b, "_HID");
	put_le(b, AML_DWORD_PREFIX, 1);
	put_le(b, id, 4);
	aml_name(b, "_UID");
	aml_integer(b, d->uid);
	aml_dev_crs(b, d);
	aml_close(b, pkg);
}

/* ---- PCI root bridge ---- */

static void res_addr_header(struct abuf *b, uint8_t tag, uint16_t len, uint8_t type,
			    uint8_t type_flags)
{
	put_le(b, tag, 1);
	put_le(b, len, 2);
	put_le(b, type, 1);
	put_le(b, RES_ADDR_PRODUCER_FIXED, 1);
	put_le(b, type_flags, 1);
}

/* Word/DWord/QWord address space descriptor for [min, min + len). */
static void res_addr(struct abuf *b, uint8_t type, uint8_t type_flags, uint64_t min,
		     uint64_t len, unsigned int width)
{
	static const uint8_t tags[9] = { [2] = RES_WORD_ADDR, [4] = RES_DWORD_ADDR,
					 [8] = RES_QWORD_ADDR };

	res_addr_header(b, tags[width], (uint16_t)(3 + 5 * width), type, type_flags);
	put_le(b, 0, width);			/* granularity */
	put_le(b, min, width);
	put_le(b, min + len - 1, width);	/* max */
	put_le(b, 0, width);			/* translation */
	put_le(b, len, width);
}

static void aml_buffer_begin(struct abuf *b, size_t *pkg, size_t *len_at)
{
	put_le(b, AML_BUFFER, 1);
	*pkg = aml_open(b);
	put_le(b, AML_DWORD_PREFIX, 1);	/* the size, patched at the end */
	*len_at = b->pos;
	put_le(b, 0, 4);
}

static void aml_buffer_end(struct abuf *b, size_t pkg, size_t len_at)
{
	put_le(b, RES_END_TAG, 1);
	put_le(b, 0, 1);
	if (!ab_full(b))
		patch_le(b, len_at, b->pos - (len_at + 4), 4);
	aml_close(b, pkg);
}

static void aml_pci_crs(struct abuf *b, const struct acpi_pci_desc *pci)
{
	size_t pkg, len_at;

	aml_name(b, "_CRS");
	aml_buffer_begin(b, &pkg, &len_at);
	res_addr(b, RES_ADDR_BUS, 0, 0, (uint64_t)pci->bus_end + 1, 2);
	res_addr(b, RES_ADDR_MEM, RES_MEM_RW, pci->mmio32_base, pci->mmio32_size, 4);
	if (pci->mmio64_size)
		res_addr(b, RES_ADDR_MEM, RES_MEM_RW | RES_MEM_PREFETCH,
			 pci->mmio64_base, pci->mmio64_size, 8);
	aml_buffer_end(b, pkg, len_at);
}

/* _PRT: slot s, pin p -> GSI 16 + ((s + p) & 7), as devices/pci routes INTx. */
static void aml_pci_prt(struct abuf *b)
{
	size_t pkg, entry;

	aml_name(b, "_PRT");
	put_le(b, AML_PACKAGE, 1);
	pkg = aml_open(b);
	put_le(b, 31 * 4, 1);	/* NumElements: slots 1..31, 4 pins */
	for (unsigned int s = 1; s < 32; s++) {
		for (unsigned int p = 0; p < 4; p++) {
			put_le(b, AML_PACKAGE, 1);
			entry = aml_open(b);
			put_le(b, 4, 1);
			put_le(b, AML_DWORD_PREFIX, 1);
			put_le(b, (uint32_t)s << 16 | 0xffff, 4);
			aml_integer(b, p);
			aml_integer(b, 0);	/* no link device: a GSI */
			aml_integer(b, 16 + ((s + p) & 7));
			aml_close(b, entry);
		}
	}
	aml_close(b, pkg);
}

static void aml_hid_uid(struct abuf *b, const char *hid, unsigned int uid)
{
	uint32_t id = 0;

	eisa_id(hid, &id);
	aml_name(b, "_HID");
	put_le(b, AML_DWORD_PREFIX, 1);
	put_le(b, id, 4);
	aml_name(b, "_UID");
	aml_integer(b, uid);
}

static void aml_pci_root(struct abuf *b, const struct acpi_pci_desc *pci)
{
	size_t pkg;

	put_le(b, AML_EXT_PREFIX, 1);
	put_le(b, AML_DEVICE, 1);
	pkg = aml_open(b);
	put_bytes(b, "PCI0", 4);
	aml_hid_uid(b, "PNP0A03", 0);
	aml_name(b, "_SEG");
	aml_integer(b, 0);
	aml_name(b, "_BBN");
	aml_integer(b, 0);
	aml_pci_crs(b, pci);
	aml_pci_prt(b);
	aml_close(b, pkg);
}

/* A motherboard resource reserving ECAM: Linux checks for it. */
static void aml_ecam_reservation(struct abuf *b, const struct acpi_pci_desc *pci)
{
	size_t pkg, buf, len_at;

	put_le(b, AML_EXT_PREFIX, 1);
	put_le(b, AML_DEVICE, 1);
	pkg = aml_open(b);
	put_bytes(b, "MRES", 4);
	aml_hid_uid(b, "PNP0C02", 0);
	aml_name(b, "_CRS");
	aml_buffer_begin(b, &buf, &len_at);
	put_le(b, RES_MEM32_FIXED, 1);
	put_le(b, 9, 2);
	put_le(b, RES_MEM_RW, 1);
	put_le(b, pci->ecam_base, 4);
	put_le(b, ((uint64_t)pci->bus_end + 1) << 20, 4);
	aml_buffer_end(b, buf, len_at);
	aml_close(b, pkg);
}

static size_t build_mcfg(struct abuf *b, const struct acpi_pci_desc *pci)
{
	size_t start = table_begin(b, "MCFG", 1);

	put_zeros(b, 8);
	put_le(b, pci->ecam_base, 8);
	put_le(b, 0, 2);		/* segment */
	put_le(b, 0, 1);		/* start bus */
	put_le(b, pci->bus_end, 1);
	put_zeros(b, 4);
	table_end(b, start);
	return start;
}

static size_t build_dsdt(struct abuf *b, const struct acpi_config *cfg)
{
	size_t start = table_begin(b, "DSDT", 2);	/* 2: 64-bit integers */
	size_t pkg;

	/* Name(\_S5, Package(4) { SLP_TYPa, SLP_TYPb, 0, 0 }) */
	put_le(b, AML_NAME, 1);
	put_le(b, AML_ROOT_CHAR, 1);
	put_bytes(b, "_S5_", 4);
	put_le(b, AML_PACKAGE, 1);
	pkg = aml_open(b);
	put_le(b, 4, 1);	/* NumElements */
	aml_integer(b, ACPI_SLP_TYP_S5);
	aml_integer(b, ACPI_SLP_TYP_S5);
	aml_integer(b, 0);
	aml_integer(b, 0);
	aml_close(b, pkg);

	/* Scope(\_SB) { Device(...) ... } */
	put_le(b, AML_SCOPE, 1);
	pkg = aml_open(b);
	put_le(b, AML_ROOT_CHAR, 1);
	put_bytes(b, "_SB_", 4);
	for (unsigned int i = 0; i < cfg->nr_devs && !ab_full(b); i++)
		aml_device(b, &cfg->devs[i]);
	if (cfg->pci.present) {
		aml_pci_root(b, &cfg->pci);
		aml_ecam_reservation(b, &cfg->pci);
	}
	aml_close(b, pkg);

	table_end(b, start);
	return start;
}

/* ---- Fixed tables ---- */

static size_t build_facs(struct abuf *b)
{
	size_t start = b->pos;

	put_bytes(b, "FACS", 4);
	put_le(b, FACS_LEN, 4);
	put_le(b, 0, 4);	/* hardware signature */
	put_le(b, 0, 4);	/* firmware waking vector */
	put_le(b, 0, 4);	/* global lock */
	put_le(b, 0, 4);	/* flags: no S4BIOS, no 64-bit wake */
	put_le(b, 0, 8);	/* X firmware waking vector */
	put_le(b, 2, 1);	/* version */
	put_zeros(b, 3);
	put_le(b, 0, 4);	/* OSPM flags */
	put_zeros(b, 24);
	return start;
}

static size_t build_fadt(struct abuf *b, const struct acpi_config *cfg,
			 uint64_t facs, uint64_t dsdt)
{
	size_t start = table_begin(b, "FACP", FADT_REVISION);
	const struct acpi_pm_desc *pm = &cfg->pm;
	uint16_t evt = pm->present ? pm->pm1a_evt_port : 0;
	uint16_t cnt = pm->present ? pm->pm1a_cnt_port : 0;
	uint16_t tmr = cfg->pm_tmr_port;
	uint32_t flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
			 FADT_F_RESET_REG_SUP;

	if (tmr)
		flags |= FADT_F_TMR_VAL_EXT;
	put_zeros(b, FADT_LEN - ACPI_HEADER_LEN);
	if (ab_full(b))
		return start;

	/*
	 * The FACS goes in FIRMWARE_CTRL only: the spec allows at most one of
	 * FIRMWARE_CTRL and X_FIRMWARE_CTRL to be non-zero. The DSDT goes in
	 * both, which the spec allows when they agree.
	 */
	patch_le(b, start + FADT_FIRMWARE_CTRL, facs, 4);
	patch_le(b, start + FADT_DSDT, dsdt, 4);
	patch_le(b, start + FADT_SCI_INT, pm->present ? pm->sci_irq : 0, 2);
	patch_le(b, start + FADT_SMI_CMD, 0, 4);	/* always in ACPI mode */
	patch_le(b, start + FADT_PM1A_EVT_BLK, evt, 4);
	patch_le(b, start + FADT_PM1A_CNT_BLK, cnt, 4);
	patch_le(b, start + FADT_PM_TMR_BLK, tmr, 4);
	patch_le(b, start + FADT_PM1_EVT_LEN, evt ? 4 : 0, 1);
	patch_le(b, start + FADT_PM1_CNT_LEN, cnt ? 2 : 0, 1);
	patch_le(b, start + FADT_PM_TMR_LEN, tmr ? 4 : 0, 1);
	patch_le(b, start + FADT_IAPC_BOOT_ARCH,
		 IAPC_LEGACY_DEVICES | IAPC_VGA_NOT_PRESENT, 2);
	patch_le(b, start + FADT_FLAGS, flags, 4);
	patch_le(b, start + FADT_RESET_VALUE, cfg->reset_value, 1);
	patch_le(b, start + FADT_MINOR_VERSION, FADT_MINOR_REVISION, 1);
	patch_le(b, start + FADT_X_DSDT, dsdt, 8);

	/* Bit widths must match the legacy lengths (ACPICA checks). */
	patch_gas(b, start + FADT_RESET_REG, 8, GAS_ACCESS_BYTE, cfg->reset_port);
	patch_gas(b, start + FADT_X_PM1A_EVT_BLK, 32, GAS_ACCESS_WORD, evt);
	patch_gas(b, start + FADT_X_PM1A_CNT_BLK, 16, GAS_ACCESS_WORD, cnt);
	patch_gas(b, start + FADT_X_PM_TMR_BLK, 32, GAS_ACCESS_DWORD, tmr);

	table_end(b, start);
	return start;
}

static size_t build_madt(struct abuf *b, const struct acpi_config *cfg)
{
	size_t start = table_begin(b, "APIC", MADT_REVISION);

	put_le(b, LAPIC_ADDR, 4);
	put_le(b, MADT_PCAT_COMPAT, 4);

	for (unsigned int i = 0; i < cfg->nr_cpus; i++) {
		put_le(b, MADT_LAPIC, 1);
		put_le(b, 8, 1);
		put_le(b, i, 1);	/* ACPI processor uid */
		put_le(b, i, 1);	/* APIC id */
		put_le(b, MADT_LAPIC_ENABLED, 4);
	}

	put_le(b, MADT_IOAPIC, 1);
	put_le(b, 12, 1);
	put_le(b, cfg->nr_cpus, 1);	/* IOAPIC id, after the LAPIC ids */
	put_le(b, 0, 1);
	put_le(b, IOAPIC_ADDR, 4);
	put_le(b, 0, 4);		/* GSI base */

	if (cfg->pm.present) {
		/* The SCI is level-triggered, active-high (not ISA-like). */
		put_le(b, MADT_ISO, 1);
		put_le(b, 10, 1);
		put_le(b, 0, 1);		/* bus: ISA */
		put_le(b, cfg->pm.sci_irq, 1);	/* source irq */
		put_le(b, cfg->pm.sci_irq, 4);	/* GSI */
		put_le(b, MPS_POLARITY_HIGH | MPS_TRIGGER_LEVEL, 2);
	}

	put_le(b, MADT_LAPIC_NMI, 1);
	put_le(b, 6, 1);
	put_le(b, MADT_ALL_PROCESSORS, 1);
	put_le(b, 0, 2);		/* flags: conforms to the bus */
	put_le(b, 1, 1);		/* LINT1 */

	table_end(b, start);
	return start;
}

static size_t build_xsdt(struct abuf *b, const uint64_t *entries, unsigned int n)
{
	size_t start = table_begin(b, "XSDT", 1);

	for (unsigned int i = 0; i < n; i++)
		put_le(b, entries[i], 8);
	table_end(b, start);
	return start;
}

/* Write the RSDP at offset 0 of a complete build; b->pos is kept. */
static void build_rsdp(struct abuf *b, uint64_t xsdt)
{
	size_t end = b->pos;

	b->pos = 0;
	put_bytes(b, "RSD PTR ", 8);
	put_le(b, 0, 1);		/* checksum of the first 20 bytes */
	put_bytes(b, ACPI_OEM_ID, 6);
	put_le(b, 2, 1);		/* revision: ACPI 2.0+ */
	put_le(b, 0, 4);		/* no RSDT: the XSDT is used */
	put_le(b, RSDP_LEN, 4);
	put_le(b, xsdt, 8);
	put_le(b, 0, 1);		/* extended checksum */
	put_zeros(b, 3);
	fix_checksum(b, 0, RSDP_V1_LEN, 8);
	fix_checksum(b, 0, RSDP_LEN, 32);
	b->pos = end;
}

static bool pci_desc_ok(const struct acpi_pci_desc *pci)
{
	uint64_t ecam_end = pci->ecam_base + (((uint64_t)pci->bus_end + 1) << 20);

	if (pci->ecam_base % (1 << 20) || ecam_end > 0x100000000ULL)
		return false;
	if (!pci->mmio32_size || pci->mmio32_base + pci->mmio32_size > 0x100000000ULL)
		return false;
	return pci->mmio64_base + pci->mmio64_size >= pci->mmio64_base;
}

static bool config_ok(const struct acpi_config *cfg)
{
	if (cfg->nr_cpus == 0 || cfg->nr_cpus > 254)
		return false;
	if (cfg->nr_devs > VM_MAX_ACPI_DEVS || (cfg->nr_devs && !cfg->devs))
		return false;
	if (cfg->pci.present && !pci_desc_ok(&cfg->pci))
		return false;
	for (unsigned int i = 0; i < cfg->nr_devs; i++) {
		if (!dev_desc_ok(&cfg->devs[i]))
			return false;
		/* Two objects with one name would fail to load. */
		for (unsigned int j = 0; j < i; j++)
			if (!memcmp(cfg->devs[i].name, cfg->devs[j].name, 4))
				return false;
	}
	return true;
}

long acpi_build(uint8_t *buf, uint64_t buf_gpa, size_t buf_len,
		const struct acpi_config *cfg)
{
	struct abuf b = { .buf = buf, .len = buf ? buf_len : 0 };
	size_t facs, dsdt, fadt, madt, mcfg, xsdt;
	uint64_t entries[3];
	unsigned int nr_entries = 2;

	if (!cfg || !config_ok(cfg) || buf_gpa % 16)
		return -EINVAL;

	/* Layout: RSDP, FACS (64-byte aligned), DSDT, FADT, MADT, XSDT. */
	b.pos = RSDP_LEN;
	ab_align(&b, 64);
	facs = build_facs(&b);
	ab_align(&b, 16);
	dsdt = build_dsdt(&b, cfg);
	ab_align(&b, 16);
	fadt = build_fadt(&b, cfg, buf_gpa + facs, buf_gpa + dsdt);
	ab_align(&b, 16);
	madt = build_madt(&b, cfg);
	ab_align(&b, 16);
	entries[0] = buf_gpa + fadt;
	entries[1] = buf_gpa + madt;
	if (cfg->pci.present) {
		mcfg = build_mcfg(&b, &cfg->pci);
		ab_align(&b, 16);
		entries[nr_entries++] = buf_gpa + mcfg;
	}
	xsdt = build_xsdt(&b, entries, nr_entries);

	if (ab_full(&b))
		return -ENOSPC;
	/* FIRMWARE_CTRL and DSDT are 32-bit fields. */
	if (buf_gpa + b.pos > 0x100000000ULL || buf_gpa + b.pos < buf_gpa)
		return -EINVAL;

	/* The tables are complete; the RSDP at offset 0 points at them. */
	build_rsdp(&b, buf_gpa + xsdt);
	return (long)b.pos;
}

int acpi_setup(struct vm *vm, uint64_t *rsdp_gpa)
{
	const uint64_t size = ACPI_TABLES_END - ACPI_TABLES_ADDR;
	struct acpi_config cfg = {
		.nr_cpus = vm->cfg->cpus,
		.devs = vm->acpi_devs,
		.nr_devs = vm->nr_acpi_devs,
		.pm = vm->acpi_pm,
		.pm_tmr_port = vm->acpi_pm.present ? vm->acpi_pm.pm_tmr_port : 0,
		.reset_port = 0x64,	/* i8042: pulse the reset line */
		.reset_value = 0xfe,
	};
	if (vm->pci)
		cfg.pci = (struct acpi_pci_desc){
			.present = true,
			.ecam_base = PCI_ECAM_BASE,
			.bus_end = PCI_ECAM_BUSES - 1,
			.mmio32_base = PCI_MMIO32_BASE,
			.mmio32_size = PCI_MMIO32_SIZE,
			.mmio64_base = vm->pci->mmio64_base,
			.mmio64_size = vm->pci->mmio64_size,
		};
	uint8_t *p = gpa_ptr(&vm->mem, ACPI_TABLES_ADDR, size);
	long n;

	if (!p) {
		vm_err(vm, "acpi: no RAM at 0x%llx for the ACPI tables",
		       (unsigned long long)ACPI_TABLES_ADDR);
		return -EFAULT;
	}
	memset(p, 0, size);
	n = acpi_build(p, ACPI_TABLES_ADDR, size, &cfg);
	if (n < 0) {
		vm_err(vm, "acpi: cannot build the tables: %s", strerror((int)-n));
		return (int)n;
	}
	vm_log(vm, "acpi: %ld bytes of tables at 0x%llx", n,
	       (unsigned long long)ACPI_TABLES_ADDR);
	*rsdp_gpa = ACPI_TABLES_ADDR;
	return 0;
}
