/* SPDX-License-Identifier: MIT */
/* Constants shared by the test guests' assembly files. */
#ifndef SKIFF_GUEST_ASM_H
#define SKIFF_GUEST_ASM_H

#define SEL_CODE64	0x08
#define SEL_DATA	0x10
#define SEL_CODE32	0x18
#define GDT_LIMIT	(4 * 8 - 1)	/* null + the three above */

#define CR0_PE		0x00000001
#define CR0_PG		0x80000000
#define CR4_PAE		0x00000020
#define MSR_EFER	0xc0000080
#define EFER_LME	0x00000100

#define PTE_P		0x001
#define PTE_W		0x002
#define PTE_PS		0x080

/* Virtual base of the 2 MiB window onto physical memory above 4 GiB. */
#define WINDOW_VA	0x7fc0000000

#ifdef __ASSEMBLER__
/*
 * From 32-bit protected mode with flat segments: PAE, CR3 = pml4, EFER.LME,
 * paging. A far jump to SEL_CODE64 then enters 64-bit mode. Clobbers eax,
 * ecx, edx; needs no stack (the SMP trampoline has none yet).
 */
.macro ENTER_LONG_MODE
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$(CR0_PG | CR0_PE), %eax
	mov	%eax, %cr0
.endm
#endif

#endif
