/* SPDX-License-Identifier: MIT */
/* Per-vCPU CPUID: KVM's supported set with topology and hypervisor leaves. */
#ifndef SKIFF_ARCH_X86_CPUID_H
#define SKIFF_ARCH_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#define CPUID_MAX_ENTRIES 256

struct cpuid_table {
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 entries[CPUID_MAX_ENTRIES];
};

/* KVM_GET_SUPPORTED_CPUID into t. 0 or -errno. */
int cpuid_get_supported(int kvm_fd, struct cpuid_table *t);

/*
 * KVM paravirtual features (leaf 0x40000001 EAX) that kvm_pvm does not
 * implement: the hypercalls (it never completes vmcall); PV TLB flush,
 * which skips flush IPIs to preempted vCPUs and relies on the host to
 * flush at their next entry; and async page faults (with them, processes
 * on a second vCPU read back zeros from memory they had just written).
 */
#define KVM_FEATURE_BIT_PV_UNHALT	7	/* KVM_HC_KICK_CPU */
#define KVM_FEATURE_BIT_PV_TLB_FLUSH	9
#define KVM_FEATURE_BIT_PV_SEND_IPI	11	/* KVM_HC_SEND_IPI */
#define KVM_FEATURE_BIT_PV_SCHED_YIELD	13	/* KVM_HC_SCHED_YIELD */
#define KVM_FEATURE_BIT_ASYNC_PF	4
#define KVM_FEATURE_BIT_ASYNC_PF_VMEXIT	10
#define KVM_FEATURE_BIT_ASYNC_PF_INT	14
#define KVM_FEATURES_NOT_ON_PVM	((1U << KVM_FEATURE_BIT_PV_UNHALT) | \
				 (1U << KVM_FEATURE_BIT_PV_TLB_FLUSH) | \
				 (1U << KVM_FEATURE_BIT_PV_SEND_IPI) | \
				 (1U << KVM_FEATURE_BIT_PV_SCHED_YIELD) | \
				 (1U << KVM_FEATURE_BIT_ASYNC_PF) | \
				 (1U << KVM_FEATURE_BIT_ASYNC_PF_VMEXIT) | \
				 (1U << KVM_FEATURE_BIT_ASYNC_PF_INT))

/*
 * Rewrite t for vCPU apic_id of nr_cpus (one socket, one thread per core):
 * APIC ids in leaves 1/0xB/0x1F/0x8000001E, core counts in 4 and
 * 0x80000008, the hypervisor bit, the KVM signature leaf's max. For a
 * kvm_pvm host also hide KVM_FEATURES_NOT_ON_PVM.
 */
void cpuid_patch(struct cpuid_table *t, unsigned int apic_id,
		 unsigned int nr_cpus, bool pvm_host);

struct kvm_cpuid_entry2 *cpuid_find(struct cpuid_table *t, uint32_t function,
				    uint32_t index);

#endif
