/* SPDX-License-Identifier: MIT */
/* Initial x86 vCPU state (boot registers, MSRs) and guest page walks. */
#ifndef SKIFF_ARCH_X86_CPU_STATE_H
#define SKIFF_ARCH_X86_CPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "arch/x86/boot.h"
#include "vmm/memory.h"

#define X86_CR0_PE	(1ULL << 0)
#define X86_CR0_ET	(1ULL << 4)
#define X86_CR0_NE	(1ULL << 5)
#define X86_CR0_PG	(1ULL << 31)
#define X86_CR4_PSE	(1ULL << 4)
#define X86_CR4_PAE	(1ULL << 5)
#define X86_CR4_LA57	(1ULL << 12)
#define X86_EFER_LME	(1ULL << 8)
#define X86_EFER_LMA	(1ULL << 10)

#define MSR_IA32_TSC		0x10
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_K7_HWCR		0xc0010015
#define K7_HWCR_TSC_FREQ_SEL	(1ULL << 24)

/*
 * Write the boot GDT (and for 64-bit entry the identity page tables) into
 * guest memory and fill regs/sregs for the boot protocol's entry state.
 * sregs must hold KVM's current values (control registers are merged).
 */
int x86_boot_cpu_state(struct guest_mem *mem, const struct boot_result *boot,
		       struct kvm_regs *regs, struct kvm_sregs *sregs);

/*
 * MSR values every vCPU starts with; amd adds HWCR.TscFreqSel (the TSC runs
 * at the P0 frequency, as firmware sets it). Returns the count written.
 */
unsigned int x86_boot_msrs(struct kvm_msr_entry *out, unsigned int max, bool amd);

/* True when this host CPU (and so the guest's) is AMD or Hygon. */
bool x86_host_is_amd(void);

/*
 * Translate a linear address with the paging mode in sregs. false if not
 * mapped or the tables lie outside guest RAM.
 */
bool x86_translate(const struct guest_mem *mem, const struct kvm_sregs *sregs,
		   uint64_t la, uint64_t *pa);

#endif
