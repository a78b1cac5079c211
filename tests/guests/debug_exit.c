// SPDX-License-Identifier: MIT
/* debug_exit.elf: write code=N from the command line to the debug-exit port. */
#include "lib.h"

int guest_main(const struct hvm_start_info *si)
{
	uint64_t code = 0;

	if (!cmdline_u64(cmdline(si), "code", &code))
		puts_("debug_exit: no code= on the command line, using 0\n");
	printf_("debug_exit: writing %lu to port 0x%x\n", code, DEBUG_EXIT_PORT);
	debug_exit((uint32_t)code);
}
