// SPDX-License-Identifier: MIT
/*
 * acpi.elf: walk skiff's ACPI tables from start_info.rsdp_paddr: RSDP, XSDT,
 * each table's checksum, FADT -> DSDT and FACS, the MADT's LAPICs (as many
 * enabled as cpus= on the command line) and IOAPIC, and the DSDT's _S5_ and
 * COM1.
 */
#include "lib.h"

#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_LAPIC_ENABLED	1

static bool table_ok(const struct acpi_header *t, const char *what)
{
	if (!check(t && (uint64_t)t < 0x100000000ULL, "%s present", what))
		return false;
	printf_("  %c%c%c%c at %p, %u bytes, rev %u, OEM %c%c%c%c%c%c\n",
		t->signature[0], t->signature[1], t->signature[2],
		t->signature[3], (const void *)t, t->length, t->revision,
		t->oem_id[0], t->oem_id[1], t->oem_id[2], t->oem_id[3],
		t->oem_id[4], t->oem_id[5]);
	if (!check(t->length >= sizeof(*t) && t->length < 0x100000,
		   "%s length %u sane", what, t->length))
		return false;
	return check(acpi_sum(t, t->length) == 0, "%s checksum", what);
}

static void check_madt(const struct acpi_header *madt, uint64_t cpus)
{
	const uint8_t *p = (const uint8_t *)madt + sizeof(*madt) + 8;
	const uint8_t *end = (const uint8_t *)madt + madt->length;
	uint64_t seen_ids = 0;
	unsigned int enabled = 0, ioapics = 0;
	bool dup = false, ioapic_at_base = false;

	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (p[0] == MADT_LAPIC && p[1] >= 8) {
			uint32_t flags = p[4] | p[5] << 8 | p[6] << 16 |
					 (uint32_t)p[7] << 24;

			printf_("  LAPIC uid %u id %u flags 0x%x\n", p[2], p[3], flags);
			if (flags & MADT_LAPIC_ENABLED) {
				enabled++;
				if (p[3] < 64 && (seen_ids >> p[3] & 1))
					dup = true;
				if (p[3] < 64)
					seen_ids |= 1ULL << p[3];
			}
		} else if (p[0] == MADT_IOAPIC && p[1] >= 12) {
			uint32_t addr = p[4] | p[5] << 8 | p[6] << 16 |
					(uint32_t)p[7] << 24;

			printf_("  IOAPIC id %u at 0x%x gsi base %u\n", p[2], addr,
				p[8] | p[9] << 8 | p[10] << 16 | (uint32_t)p[11] << 24);
			ioapics++;
			if (addr == IOAPIC_BASE)
				ioapic_at_base = true;
		} else {
			printf_("  entry type %u length %u\n", p[0], p[1]);
		}
		p += p[1];
	}
	check(p == end, "MADT entries fill the table exactly");
	check(enabled == cpus, "%u enabled LAPICs, cpus=%lu", enabled, cpus);
	check(!dup, "LAPIC ids distinct");
	check(ioapics >= 1 && ioapic_at_base, "IOAPIC at 0x%lx", IOAPIC_BASE);
}

static void check_tables(const struct hvm_start_info *si, uint64_t cpus)
{
	const struct acpi_rsdp *r = acpi_rsdp(si);
	const struct acpi_header *xsdt, *fadt, *dsdt, *madt;
	const char *facs;
	uint32_t i, n;

	if (!check(r != NULL, "RSDP at 0x%lx with signature \"RSD PTR \"",
		   si->rsdp_paddr))
		return;
	check(acpi_sum(r, 20) == 0, "RSDP checksum (first 20 bytes)");
	check(r->revision == 2, "RSDP revision %u", r->revision);
	check(r->length >= sizeof(*r) && acpi_sum(r, r->length) == 0,
	      "RSDP extended checksum (length %u)", r->length);
	xsdt = (const void *)r->xsdt_address;
	if (!table_ok(r->xsdt_address < 0x100000000ULL ? xsdt : NULL, "XSDT") ||
	    !check(!memcmp(xsdt->signature, "XSDT", 4), "XSDT signature"))
		return;
	n = (xsdt->length - sizeof(*xsdt)) / 8;
	for (i = 0; i < n; i++) {
		uint64_t pa;
		char what[12] = "XSDT[ ]";

		memcpy(&pa, (const uint8_t *)(xsdt + 1) + i * 8, 8);
		what[5] = (char)('0' + i % 10);
		table_ok(pa < 0x100000000ULL ? (const void *)pa : NULL, what);
	}

	fadt = acpi_find(si, "FACP");
	if (table_ok(fadt, "FADT")) {
		dsdt = (const void *)fadt_dsdt(fadt);
		facs = (const void *)fadt_facs(fadt);
		if (table_ok(dsdt, "DSDT")) {
			check(!memcmp(dsdt->signature, "DSDT", 4), "DSDT signature");
			check(memmem_(dsdt, dsdt->length, "_S5_", 4) != NULL,
			      "DSDT has _S5_ (SLP_TYP %d)", acpi_s5_slp_typ(dsdt));
			check(memmem_(dsdt, dsdt->length, "COM1", 4) != NULL,
			      "DSDT has COM1");
		}
		check(facs && (uint64_t)facs < 0x100000000ULL &&
		      !memcmp(facs, "FACS", 4), "FACS at %p", facs);
	}

	madt = acpi_find(si, "APIC");
	if (table_ok(madt, "MADT"))
		check_madt(madt, cpus);
}

int guest_main(const struct hvm_start_info *si)
{
	const char *cl = cmdline(si);
	uint64_t cpus = 0;
	bool have_cpus;

	printf_("acpi: cmdline \"%s\"\n", cl);
	have_cpus = cmdline_u64(cl, "cpus", &cpus);
	if (check(have_cpus, "cpus=%lu on the cmdline", cpus))
		check_tables(si, cpus);
	finish("acpi");
}
