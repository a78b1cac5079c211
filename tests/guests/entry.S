/* SPDX-License-Identifier: MIT */
/*
 * PVH entry for skiff's test guests. The loader enters pvh_start32 in 32-bit
 * flat protected mode, paging off, with EBX = &hvm_start_info. We switch to
 * long mode on page tables that are fully built at link time (no loop runs:
 * every guest instruction may cost ~1 us under kvm_pvm), then call
 * guest_main(start_info) and debug-exit with its return value.
 */
#include "asm.h"

	.section .note.Xen, "a", @note
	.balign 4
	.long 4				/* namesz: "Xen\0" */
	.long 8				/* descsz */
	.long 18			/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.quad pvh_start32		/* 64-bit, as Linux emits it */
	.balign 4

	.section .text.entry, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	mov	%ebx, %esi		/* start_info survives into long mode */
	lgdt	gdt_ptr
	mov	$SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	ENTER_LONG_MODE
	ljmp	$SEL_CODE64, $start64

	.code64
start64:
	mov	$SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs
	mov	$boot_stack_top, %rsp
	mov	%esi, %edi		/* zero-extends: start_info pointer */
	call	guest_main
	mov	%eax, %edi
	call	debug_exit
1:	cli
	hlt
	jmp	1b

/* uint8_t phys_read8(uint64_t pa), void phys_write8(uint64_t pa, uint8_t v) */
	.text
	.globl phys_read8
phys_read8:
	call	phys_map
	movzbl	(%rax), %eax
	ret

	.globl phys_write8
phys_write8:
	call	phys_map
	mov	%sil, (%rax)
	ret

/* rax = a virtual address for physical %rdi (clobbers rax, rcx, rdx). */
phys_map:
	mov	%rdi, %rax
	mov	$0xffffffff, %ecx
	cmp	%rcx, %rdi
	jbe	1f
	/* Above 4 GiB: point the 2 MiB window at it. */
	mov	%rdi, %rdx
	and	$~0x1fffff, %rdx
	or	$(PTE_P | PTE_W | PTE_PS), %rdx
	mov	%rdx, window_pd
	movabs	$WINDOW_VA, %rax
	invlpg	(%rax)
	mov	%rdi, %rdx
	and	$0x1fffff, %edx
	add	%rdx, %rax
1:	ret

	.data
	.balign 8
	.globl gdt
gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* SEL_CODE64 */
	.quad 0x00cf92000000ffff	/* SEL_DATA */
	.quad 0x00cf9a000000ffff	/* SEL_CODE32 */
gdt_end:
	.if gdt_end - gdt - 1 != GDT_LIMIT
	.error "GDT_LIMIT in asm.h is stale"
	.endif
	.globl gdt_ptr
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

/* Identity map of 4 GiB in 2 MiB pages, plus the high window at 511 GiB. */
	.balign 4096
	.globl pml4
pml4:
	.quad pdpt + (PTE_P | PTE_W)
	.fill 511, 8, 0
pdpt:
	.quad pd + (PTE_P | PTE_W)
	.quad pd + 0x1000 + (PTE_P | PTE_W)
	.quad pd + 0x2000 + (PTE_P | PTE_W)
	.quad pd + 0x3000 + (PTE_P | PTE_W)
	.fill 507, 8, 0
	.quad window_pd + (PTE_P | PTE_W)
pd:
	.set page, 0
	.rept 2048
	.quad (page << 21) | (PTE_P | PTE_W | PTE_PS)
	.set page, page + 1
	.endr
window_pd:
	.fill 512, 8, 0

	.bss
	.balign 16
	.space 16384
	.globl boot_stack_top
boot_stack_top:
