/* SPDX-License-Identifier: MIT */
/* Per-vCPU CPUID: KVM's supported set with topology and hypervisor leaves. */
#ifndef SKIFF_ARCH_X86_CPUID_H
#define SKIFF_ARCH_X86_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

#define CPUID_MAX_ENTRIES 256

struct cpuid_table {
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 entries[CPUID_MAX_ENTRIES];
};

/* KVM_GET_SUPPORTED_CPUID into t. 0 or -errno. */
int cpuid_get_supported(int kvm_fd, struct cpuid_table *t);

/* KVM paravirtual features (leaf 0x40000001 EAX) that are hypercalls. */
#define KVM_FEATURE_BIT_PV_UNHALT	7	/* KVM_HC_KICK_CPU */
#define KVM_FEATURE_BIT_PV_SEND_IPI	11	/* KVM_HC_SEND_IPI */
#define KVM_FEATURE_BIT_PV_SCHED_YIELD	13	/* KVM_HC_SCHED_YIELD */
#define KVM_HYPERCALL_FEATURES	((1U << KVM_FEATURE_BIT_PV_UNHALT) | \
				 (1U << KVM_FEATURE_BIT_PV_SEND_IPI) | \
				 (1U << KVM_FEATURE_BIT_PV_SCHED_YIELD))

/*
 * Rewrite t for vCPU apic_id of nr_cpus (one socket, one thread per core):
 * APIC ids in leaves 1/0xB/0x1F/0x8000001E, core counts in 4 and
 * 0x80000008, the hypervisor bit, the KVM signature leaf's max; and clear
 * kvm_features_off from the KVM feature leaf.
 */
void cpuid_patch(struct cpuid_table *t, unsigned int apic_id,
		 unsigned int nr_cpus, uint32_t kvm_features_off);

struct kvm_cpuid_entry2 *cpuid_find(struct cpuid_table *t, uint32_t function,
				    uint32_t index);

#endif
