// SPDX-License-Identifier: MIT
/* reboot.elf: say so, then pulse the reset line through the i8042 (0xfe). */
#include "lib.h"

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	puts_("reboot: booted, resetting through the keyboard controller\n");
	outb(0x64, 0xfe);
	for (;;)
		cpu_relax();
}
