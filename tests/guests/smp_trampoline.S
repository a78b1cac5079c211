/* SPDX-License-Identifier: MIT */
/*
 * The AP start-up trampoline for smp.elf. smp.c copies [ap_tramp_start,
 * ap_tramp_end) to AP_TRAMP_BASE (below 1 MiB, page aligned) and sends
 * INIT, SIPI, SIPI with vector AP_TRAMP_BASE >> 12. Each AP starts here in
 * real mode at CS:IP = (AP_TRAMP_BASE >> 4):0, so the copied code addresses
 * itself as AP_TRAMP_BASE + (label - ap_tramp_start). It goes to protected
 * mode on the main image's GDT, then to long mode on its page tables, takes
 * the stack for its LAPIC id and calls ap_main(id).
 */
#include "asm.h"
#include "smp.h"

#define TRAMP(label) (AP_TRAMP_BASE + ((label) - ap_tramp_start))

	.text
	.code16
	.globl ap_tramp_start
ap_tramp_start:
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	TRAMP(tramp_gdt_ptr)
	mov	%cr0, %eax
	or	$CR0_PE, %eax
	mov	%eax, %cr0
	ljmpl	$SEL_CODE32, $TRAMP(tramp_pm32)

	.code32
tramp_pm32:
	mov	$SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	ENTER_LONG_MODE
	ljmp	$SEL_CODE64, $ap_start64

	.balign 4
tramp_gdt_ptr:
	.word	GDT_LIMIT
	.long	gdt
	.globl ap_tramp_end
ap_tramp_end:

	.code64
ap_start64:
	mov	$SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs
	mov	$(LAPIC_MMIO_ID), %eax
	mov	(%rax), %edi
	shr	$24, %edi			/* our LAPIC id */
	cmp	$AP_MAX, %edi
	jae	ap_park				/* no stack for it */
	lea	1(%rdi), %eax
	shl	$AP_STACK_SHIFT, %rax
	add	$ap_stacks, %rax
	mov	%rax, %rsp
	call	ap_main
ap_park:
	cli
	hlt
	jmp	ap_park
