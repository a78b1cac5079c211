// SPDX-License-Identifier: MIT
/*
 * ticker.elf: print "ticker: N" lines with a growing N, so a test can tell
 * a running guest from a paused one, until the ACPI power button is
 * pressed; then power off through S5 (exit 0). The button is polled, as in
 * powerbtn.elf, between ticks.
 */
#include "lib.h"

#define FADT_PM1A_EVT_BLK	56
#define PM1_PWRBTN		(1u << 8)
/* Busy-loop rounds between ticks: some tens of ms here, far less on VMX. */
#define SPIN_PER_TICK		20000

int guest_main(const struct hvm_start_info *si)
{
	const struct acpi_header *fadt = acpi_find(si, "FACP");
	unsigned long tick = 0;
	uint16_t evt;
	unsigned int i;

	if (!fadt) {
		puts_("ticker: no FADT\n");
		debug_exit(1);
	}
	evt = *(const uint32_t *)((const uint8_t *)fadt + FADT_PM1A_EVT_BLK);
	outw(evt, PM1_PWRBTN);
	outw(evt + 2, PM1_PWRBTN);
	for (;;) {
		printf_("ticker: %lu\n", tick++);
		for (i = 0; i < SPIN_PER_TICK; i++)
			cpu_relax();
		if (inw(evt) & PM1_PWRBTN)
			break;
	}
	outw(evt, PM1_PWRBTN);
	puts_("ticker: power button, powering off\n");
	acpi_poweroff(si);
}
