/* SPDX-License-Identifier: MIT */
/* vCPU threads and the run loop. */
#ifndef SKIFF_VMM_VCPU_H
#define SKIFF_VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct boot_result;

/* Exit counters, by reason, for --verbose and (later) metrics. */
enum vcpu_stat {
	VCPU_STAT_IO,
	VCPU_STAT_MMIO,
	VCPU_STAT_UNCLAIMED,	/* accesses no device claimed */
	VCPU_STAT_PVM_ASSIST,	/* emulation failures skiff stepped over */
	VCPU_STAT_PVM_SYSCALL,	/* SYSCALL entries repaired */
	VCPU_STAT_DEBUG,	/* KVM_EXIT_DEBUG, for the repair */
	VCPU_STAT_INTR,
	VCPU_STAT_NR,
};

/* kvm_pvm SYSCALL repair: breakpoint on the guest's #PF handler. */
struct pvm_vcpu {
	uint64_t pf_handler;	/* this vCPU's, armed in DR0, 0 if none */
	uint64_t shared_handler;	/* vCPU 0's, armed in DR1 if different */
	uint64_t last_idt_check_ns;
	bool stepping;		/* single-stepping over the breakpoint */
	atomic_bool recheck;	/* vCPU 0's handler moved: look now */
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	struct pvm_vcpu pvm;
	uint64_t stats[VCPU_STAT_NR];
};

/*
 * Counters are bumped by the vCPU thread only and read by others (the
 * control API): relaxed atomic load and store, no locked instruction.
 */
static inline void vcpu_stat_inc(struct vcpu *vcpu, unsigned int stat)
{
	__atomic_store_n(&vcpu->stats[stat],
			 __atomic_load_n(&vcpu->stats[stat], __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

static inline uint64_t vcpu_stat_read(const struct vcpu *vcpu, unsigned int stat)
{
	return __atomic_load_n(&vcpu->stats[stat], __ATOMIC_RELAXED);
}

/* The counters' names in the control API's metrics ("io", "mmio", ...). */
extern const char *const vcpu_stat_names[VCPU_STAT_NR];

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int id);
/* Registers for the boot vCPU; APs wait for INIT/SIPI in the kernel. */
int vcpu_setup_boot(struct vcpu *vcpu, const struct boot_result *boot);
int vcpu_start(struct vcpu *vcpu);
/* Make the vCPU leave KVM_RUN soon (safe from any thread). */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Print registers, segment state and the bytes at RIP to stderr. */
void vcpu_dump(struct vcpu *vcpu, const char *why);

/* Read guest-virtual memory through the vCPU's current page tables. */
bool vcpu_read_virt(struct vcpu *vcpu, const struct kvm_sregs *sregs,
		    uint64_t va, void *buf, uint64_t len);

#endif
