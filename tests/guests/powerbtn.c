// SPDX-License-Identifier: MIT
/*
 * powerbtn.elf: enable the ACPI fixed power button, wait for it (polling
 * PM1_STS, so no interrupt setup is needed), then power off through S5.
 * skiff presses the button on SIGTERM, so this guest exits 0 on SIGTERM.
 */
#include "lib.h"

#define FADT_PM1A_EVT_BLK	56
#define PM1_PWRBTN		(1u << 8)

int guest_main(const struct hvm_start_info *si)
{
	const struct acpi_header *fadt = acpi_find(si, "FACP");
	uint16_t evt;

	if (!fadt) {
		puts_("powerbtn: no FADT\n");
		debug_exit(1);
	}
	evt = *(const uint32_t *)((const uint8_t *)fadt + FADT_PM1A_EVT_BLK);
	outw(evt, PM1_PWRBTN);			/* clear a stale status */
	outw(evt + 2, PM1_PWRBTN);		/* PM1_EN.PWRBTN_EN */
	puts_("powerbtn: waiting for the power button\n");
	while (!(inw(evt) & PM1_PWRBTN))
		cpu_relax();
	outw(evt, PM1_PWRBTN);
	puts_("powerbtn: pressed, powering off\n");
	acpi_poweroff(si);
}
