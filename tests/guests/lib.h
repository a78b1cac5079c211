/* SPDX-License-Identifier: MIT */
/*
 * The tiny library shared by skiff's freestanding PVH test guests: port I/O,
 * a polling COM1 console, printf, command-line parsing, physical memory
 * access, ACPI table lookup, and the two ways out (debug-exit, ACPI S5).
 *
 * Guest CPL0 code may be emulated at ~1 us per instruction (kvm_pvm), so
 * everything here does as little work as it can.
 */
#ifndef SKIFF_GUEST_LIB_H
#define SKIFF_GUEST_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAPIC_BASE	0xfee00000UL
#define LAPIC_ID	0x020
#define LAPIC_SVR	0x0f0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define IOAPIC_BASE	0xfec00000UL

#define DEBUG_EXIT_PORT	0xf4
#define COM1_PORT	0x3f8

/*
 * The PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h). Written
 * out here again on purpose, not shared with src/arch/x86/boot.c: the guests
 * check what the loader built, so they must not borrow its definitions.
 */
#define HVM_START_MAGIC	0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	/* version 1 */
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define E820_RAM	1

/* ACPI: every table starts with this header. */
struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

/* FADT field offsets we use (ACPI 6.x, table 5.9). */
#define FADT_FIRMWARE_CTRL	36
#define FADT_DSDT		40
#define FADT_PM1A_CNT_BLK	64
#define FADT_X_FIRMWARE_CTRL	132
#define FADT_X_DSDT		140

/* Port I/O. */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* MMIO below 4 GiB (identity-mapped). */
static inline uint32_t mmio_read32(uint64_t pa)
{
	return *(volatile uint32_t *)pa;
}

static inline void mmio_write32(uint64_t pa, uint32_t v)
{
	*(volatile uint32_t *)pa = v;
}

static inline uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

/*
 * Byte access to any guest-physical address: identity-mapped below 4 GiB,
 * through a 2 MiB window above. Asm, so address 0 is just an address.
 */
uint8_t phys_read8(uint64_t pa);
void phys_write8(uint64_t pa, uint8_t v);

/* Freestanding string functions (gcc may also emit calls to these). */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
/* First occurrence of needle (nlen bytes) in [hay, hay + len), or NULL. */
const void *memmem_(const void *hay, size_t len, const void *needle, size_t nlen);

/* Console on COM1 (polling). */
void putchar_(char c);
void puts_(const char *s);
/* %s %c %d %u %x %lx %ld %lu %p, with optional '0' and width. */
void printf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintf_(const char *fmt, va_list ap);

/*
 * Checks: print "PASS: what" or "FAIL: what" and count failures.
 * Returns ok, for chaining.
 */
bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned int checks_failed(void);
unsigned int checks_run(void);
/* Print "<name>: N checks, M failed" and debug-exit 0 (pass) or 1 (fail). */
void finish(const char *name) __attribute__((noreturn));

/* The 64-bit TSS; an I/O permission bitmap may follow it. */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

/*
 * Set U on every level of the 4 GiB identity map, so CPL3 may touch it
 * all, and clear CR4.SMEP/SMAP, so CPL0 code still runs on those pages.
 */
void identity_map_user(void);

/* Leave through the debug-exit port: skiff exits with (v << 1) | 1. */
void debug_exit(uint32_t v) __attribute__((noreturn));

/* Command line (start_info.cmdline_paddr, "" when there is none). */
const char *cmdline(const struct hvm_start_info *si);
/* Value of key=... into buf (NUL-terminated, truncated); false if absent. */
bool cmdline_get(const char *cl, const char *key, char *buf, size_t len);
/* Number with optional K/M/G/T suffix (decimal or 0x hex). */
bool parse_u64(const char *s, uint64_t *out);
bool cmdline_u64(const char *cl, const char *key, uint64_t *out);
/* name is an item of the comma-separated list ("blk" in "blk,rng"). */
bool list_has(const char *list, const char *name);

/* ACPI */
uint8_t acpi_sum(const void *p, size_t len);
const struct acpi_rsdp *acpi_rsdp(const struct hvm_start_info *si);
/* Table by signature from the XSDT, or NULL ("DSDT"/"FACS": via the FADT). */
const struct acpi_header *acpi_find(const struct hvm_start_info *si, const char *sig);
uint64_t fadt_dsdt(const struct acpi_header *fadt);
uint64_t fadt_facs(const struct acpi_header *fadt);
/* SLP_TYP of \_S5_ in the DSDT, or -1. */
int acpi_s5_slp_typ(const struct acpi_header *dsdt);
/* ACPI S5: skiff exits 0. Debug-exits 1 if that fails. */
void acpi_poweroff(const struct hvm_start_info *si) __attribute__((noreturn));

/* Each guest's C entry, called in long mode on the boot stack. */
int guest_main(const struct hvm_start_info *si);

#endif
