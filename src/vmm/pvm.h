/* SPDX-License-Identifier: MIT */
/*
 * Work-arounds for kvm_pvm hosts (paravirtual nested KVM without VMX/SVM):
 * kernel parameters for features its emulator cannot run, assists for
 * instructions it fails on, and the repair of guest-user SYSCALL.
 * Everything here is inert on ordinary VMX/SVM hosts.
 */
#ifndef SKIFF_VMM_PVM_H
#define SKIFF_VMM_PVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;

/*
 * Kernel parameters appended on kvm_pvm hosts: no XSAVE (xrstor), SMAP
 * (clac/stac), POPCNT or CMPXCHG16B. clearcpuid=xsave rather than noxsave:
 * the kernel hands bare words it does not register to init as arguments.
 */
#define PVM_KERNEL_PARAMS "clearcpuid=xsave,smap,popcnt,cx16"

bool pvm_host_detect(void);

/*
 * The command line the guest gets: user's cmdline plus, on kvm_pvm, the
 * work-around parameters, inserted before any " -- " init arguments.
 * malloc'd; NULL on allocation failure.
 */
char *pvm_effective_cmdline(const struct vm *vm, const char *cmdline);
char *cmdline_insert_params(const char *cmdline, const char *params);

/* Outcome of looking at an exit that might be a kvm_pvm artefact. */
enum pvm_action {
	PVM_NOT_MINE,		/* not something kvm_pvm explains: report it */
	PVM_HANDLED,		/* state fixed up; re-enter the guest */
	PVM_FAILED,		/* an ioctl failed */
};

/* How skiff assists an instruction kvm_pvm's emulator failed on. */
enum pvm_insn_fix {
	PVM_FIX_NONE,
	PVM_FIX_INT3,		/* rip += 1, inject #BP (a trap) */
	PVM_FIX_UD2,		/* inject #UD at rip (a fault) */
	PVM_FIX_SKIP,		/* fwait: nothing to wait for, rip += 1 */
};

/* Classify the bytes at RIP (pure, for unit tests). */
enum pvm_insn_fix pvm_classify_insn(const uint8_t *insn, size_t len,
				    unsigned int *insn_len);

/*
 * Length of the no-op at insn (nop, 66 nop, nopl/nopw 0f 1f /0, endbr64),
 * or 0 if it is something else. Skipping it needs no single-step.
 */
unsigned int pvm_nop_length(const uint8_t *insn, size_t len);

/* KVM_EXIT_INTERNAL_ERROR with the emulation suberror. */
enum pvm_action pvm_handle_emulation_failure(struct vcpu *vcpu);
/* KVM_EXIT_DEBUG: the #PF-handler breakpoint or our single-step. */
enum pvm_action pvm_handle_debug(struct vcpu *vcpu);
/* On any exit: (re)arm the breakpoint if the guest's IDT changed. */
int pvm_refresh_breakpoint(struct vcpu *vcpu);

#endif
