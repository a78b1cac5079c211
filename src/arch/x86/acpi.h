/* SPDX-License-Identifier: MIT */
/* ACPI tables built at boot: RSDP, XSDT, FADT (+FACS), MADT, MCFG, DSDT. */
#ifndef SKIFF_ARCH_X86_ACPI_H
#define SKIFF_ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vm.h"

/*
 * The fixed-hardware PM block the acpi_pm device (devices/legacy/acpi_pm.c)
 * implements. The FADT points at these ports; the DSDT's \_S5 carries
 * ACPI_SLP_TYP_S5, which the device turns into a power-off.
 */
#define ACPI_PM1A_EVT_PORT	0x600	/* 4 bytes: PM1_STS, PM1_EN */
#define ACPI_PM1A_CNT_PORT	0x604	/* 2 bytes: PM1_CNT */
#define ACPI_PM_TMR_PORT	0x608	/* 4 bytes: 32-bit PM timer */
#define ACPI_PM_BLOCK_LEN	12	/* 0x600..0x60b, one bus region */
#define ACPI_SCI_IRQ		9
#define ACPI_SLP_TYP_S5		5
#define ACPI_PM_TIMER_HZ	3579545ULL

/* PM1_STS / PM1_EN bits. */
#define ACPI_PM1_TMR		(1u << 0)
#define ACPI_PM1_GBL		(1u << 5)
#define ACPI_PM1_PWRBTN		(1u << 8)
#define ACPI_PM1_SLPBTN		(1u << 9)
#define ACPI_PM1_RTC		(1u << 10)
#define ACPI_PM1_WAK_STS	(1u << 15)
/* PM1_CNT bits. */
#define ACPI_PM1_CNT_SCI_EN	(1u << 0)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK (7u << 10)
#define ACPI_PM1_CNT_SLP_EN	(1u << 13)

/* The PCI root bridge (PNP0A03 with ECAM) and its address windows. */
struct acpi_pci_desc {
	bool present;
	uint64_t ecam_base;		/* bus 0 .. bus_end, 1 MiB each */
	uint8_t bus_end;
	uint64_t mmio32_base, mmio32_size;
	uint64_t mmio64_base, mmio64_size;
};

struct acpi_config {
	unsigned int nr_cpus;		/* LAPIC ids 0..nr_cpus-1, 1..254 */
	const struct acpi_dev_desc *devs;
	unsigned int nr_devs;
	struct acpi_pm_desc pm;		/* PM1a blocks and SCI */
	uint16_t pm_tmr_port;		/* 4-byte PM timer; 0: none */
	uint16_t reset_port;		/* FADT RESET_REG (system I/O) */
	uint8_t reset_value;
	struct acpi_pci_desc pci;	/* adds MCFG and \\_SB.PCI0 */
};

/*
 * Write the tables into buf, which the guest sees at buf_gpa. The RSDP
 * comes first (so at buf_gpa). Returns the bytes used, -ENOSPC when buf_len
 * is too small (nothing is written past buf_len), or -EINVAL for a config
 * the tables cannot express (no CPU or more than 254, more than
 * VM_MAX_ACPI_DEVS devices, a bad or duplicate device name, a bad EISA id,
 * io_len > 255, irq > 15, buf_gpa not 16-byte aligned or the tables
 * reaching above 4 GiB).
 */
long acpi_build(uint8_t *buf, uint64_t buf_gpa, size_t buf_len,
		const struct acpi_config *cfg);

/* Build the tables for vm into guest memory at ACPI_TABLES_ADDR. */
int acpi_setup(struct vm *vm, uint64_t *rsdp_gpa);

/* Sum of bytes (the table is valid when the sum is 0 mod 256). */
uint8_t acpi_checksum(const uint8_t *p, size_t len);

#endif
