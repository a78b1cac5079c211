// SPDX-License-Identifier: MIT
/*
 * triple_fault.elf: load an IDT with limit 0 and touch an unmapped address.
 * The #PF cannot be delivered (#GP), nor can the #DF: a triple fault, which
 * skiff must report as a guest crash (status 6) with a register dump.
 * (Not int3 or ud2: kvm_pvm cannot emulate those.)
 */
#include "lib.h"

/* Past the 4 GiB identity map and below the 511 GiB window: not present. */
#define UNMAPPED_VA 0x200000000UL

int guest_main(const struct hvm_start_info *si)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { 0, 0 };
	uint64_t v;

	(void)si;
	printf_("triple_fault: empty IDT, then a read of 0x%lx\n", UNMAPPED_VA);
	__asm__ volatile("lidt %0" : : "m"(idtr));
	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(UNMAPPED_VA) : "memory");
	printf_("triple_fault: still alive (read 0x%lx)\n", v);
	return 1;
}
