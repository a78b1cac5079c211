/* SPDX-License-Identifier: MIT */
/*
 * syscall.elf's code outside C: the one user-mode instruction, the SYSCALL
 * entry (reached through a supervisor-only alias, see syscall.c) and the
 * exception handlers. Each records what happened for its LAPIC id in
 * syscall.c's variables and halts the CPU for good.
 */
#include "asm.h"
#include "smp.h"

	.text
	.code64

/* CPL3: SYSCALL, and nothing after it (the entry never returns). */
	.globl user_syscall
user_syscall:
	syscall
	ud2

/* eax = our LAPIC id (clobbers rax). */
.macro LAPIC_ID_TO_RAX
	mov	$(LAPIC_MMIO_ID), %eax
	mov	(%rax), %eax
	shr	$24, %eax
.endm

/* LSTAR: record the CS we run with, then our bit in syscall_cpus. */
	.globl syscall_entry
syscall_entry:
	LAPIC_ID_TO_RAX
	mov	%cs, %edx
	mov	%rdx, syscall_cs(, %rax, 8)
	lock btsq %rax, syscall_cpus
	jmp	halt_forever

/* #PF reached the guest: the SYSCALL at CPL3 was not repaired. */
	.globl pf_handler
pf_handler:
	LAPIC_ID_TO_RAX
	mov	%cr2, %rdx
	mov	%rdx, pf_cr2(, %rax, 8)
	mov	(%rsp), %rdx			/* the error code */
	mov	%rdx, pf_error(, %rax, 8)
	lock btsq %rax, pf_cpus
	jmp	halt_forever

/* Any other exception we expect none of: #UD, #DF, #GP. */
.macro OTHER_FAULT name, vector
	.globl \name
\name:
	push	$\vector
	jmp	other_fault
.endm
	OTHER_FAULT ud_handler, 6
	OTHER_FAULT df_handler, 8
	OTHER_FAULT gp_handler, 13

other_fault:
	LAPIC_ID_TO_RAX
	pop	%rdx
	mov	%rdx, fault_vector(, %rax, 8)
	lock btsq %rax, fault_cpus

halt_forever:
	cli
	hlt
	jmp	halt_forever
