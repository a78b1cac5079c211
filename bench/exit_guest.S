/* SPDX-License-Identifier: MIT */
/*
 * The smallest PVH guest: write 0 to the debug-exit port (0xf4) and stop.
 * Used to measure a VMM's own start-up and tear-down cost.
 */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* namesz */
	.long 4			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	xorl %eax, %eax
	movw $0xf4, %dx
	outl %eax, %dx
1:	cli
	hlt
	jmp 1b
