// SPDX-License-Identifier: MIT
/* hello.elf: greet, show the command line, power off through ACPI S5. */
#include "lib.h"

int guest_main(const struct hvm_start_info *si)
{
	puts_("Hello from a skiff PVH guest\n");
	printf_("cmdline: %s\n", cmdline(si));
	acpi_poweroff(si);
}
