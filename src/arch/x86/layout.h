/* SPDX-License-Identifier: MIT */
/* Fixed guest-physical addresses of the x86 boot structures skiff builds. */
#ifndef SKIFF_ARCH_X86_LAYOUT_H
#define SKIFF_ARCH_X86_LAYOUT_H

/* Below 1 MiB; all inside the first e820 RAM entry except the ACPI area. */
#define BOOT_GDT_ADDR		0x0500ULL	/* 4 entries */
#define BOOT_IDT_ADDR		0x0520ULL	/* empty IDT, limit 0 */
#define PVH_START_INFO_ADDR	0x6000ULL	/* struct hvm_start_info */
#define PVH_MEMMAP_ADDR		0x6040ULL	/* hvm_memmap_table_entry[] */
#define PVH_MEMMAP_MAX		64
#define PVH_MODLIST_ADDR	0x6800ULL	/* hvm_modlist_entry[] */
#define ZERO_PAGE_ADDR		0x7000ULL	/* struct boot_params, 4 KiB */
#define BOOT_PML4_ADDR		0x9000ULL
#define BOOT_PDPT_ADDR		0xa000ULL
#define BOOT_PD_ADDR		0xb000ULL	/* 4 pages: 4 GiB of 2 MiB pages */
#define BOOT_STACK_TOP		0x8ff0ULL
#define CMDLINE_ADDR		0x20000ULL
#define CMDLINE_MAX		0x10000ULL	/* including the NUL */

#define EBDA_START		0x9fc00ULL	/* e820: reserved up to 1 MiB */
#define ACPI_TABLES_ADDR	0xe0000ULL	/* RSDP first, then the tables */
#define ACPI_TABLES_END		0x100000ULL

#define KERNEL_DEFAULT_ADDR	0x100000ULL	/* bzImage protected-mode code */

/* The PCI hole below 4 GiB: BAR window, then ECAM for bus 0. */
#define PCI_MMIO32_BASE		0xc0000000ULL
#define PCI_MMIO32_SIZE		0x20000000ULL	/* 512 MiB */
#define PCI_ECAM_BASE		0xe0000000ULL
#define PCI_ECAM_BUSES		1		/* bus 0 only */
#define PCI_ECAM_SIZE		(PCI_ECAM_BUSES << 20)
/* The 64-bit BAR window starts above RAM, 1 GiB aligned. */
#define PCI_MMIO64_ALIGN	0x40000000ULL
#define PCI_MMIO64_SIZE		(64ULL << 30)

#define IOAPIC_ADDR		0xfec00000ULL
#define LAPIC_ADDR		0xfee00000ULL

#endif
