// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpuid.h"

#define CPUID_1_ECX_HYPERVISOR	(1U << 31)
#define CPUID_1_EDX_HTT		(1U << 28)
#define TOPO_LEVEL_SMT		1
#define TOPO_LEVEL_CORE		2

int cpuid_get_supported(int kvm_fd, struct cpuid_table *t)
{
	memset(t, 0, sizeof(*t));
	t->hdr.nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, &t->hdr) < 0)
		return -errno;
	return 0;
}

struct kvm_cpuid_entry2 *cpuid_find(struct cpuid_table *t, uint32_t function,
				    uint32_t index)
{
	unsigned int i;

	for (i = 0; i < t->hdr.nent && i < CPUID_MAX_ENTRIES; i++) {
		struct kvm_cpuid_entry2 *e = &t->entries[i];

		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

/* Bits needed to number n things: order_base_2(n). */
static unsigned int id_bits(unsigned int n)
{
	unsigned int b = 0;

	while ((1U << b) < n)
		b++;
	return b;
}

/* Leaves 0xB and 0x1F: SMT level (1 thread), core level (nr_cpus cores). */
static void patch_topology_leaf(struct kvm_cpuid_entry2 *e,
				unsigned int apic_id, unsigned int nr_cpus)
{
	e->edx = apic_id;
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPO_LEVEL_SMT << 8) | e->index;
		break;
	case 1:
		e->eax = id_bits(nr_cpus);
		e->ebx = nr_cpus;
		e->ecx = (TOPO_LEVEL_CORE << 8) | e->index;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

void cpuid_patch(struct cpuid_table *t, unsigned int apic_id,
		 unsigned int nr_cpus, bool pvm_host)
{
	unsigned int i;

	for (i = 0; i < t->hdr.nent && i < CPUID_MAX_ENTRIES; i++) {
		struct kvm_cpuid_entry2 *e = &t->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffU) | (apic_id << 24) |
				 ((nr_cpus & 0xff) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (nr_cpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			break;
		case 4:
			/* Cores per package - 1 in 31:26; each cache per core. */
			if (e->eax & 0x1f) {
				e->eax &= 0x3ff;
				e->eax |= ((nr_cpus - 1) & 0x3f) << 26;
			}
			break;
		case 0xb:
		case 0x1f:
			patch_topology_leaf(e, apic_id, nr_cpus);
			break;
		case 0x80000008:
			/* AMD: NC (cores - 1) and the APIC id size. */
			e->ecx = (e->ecx & ~0xf0ffU) | ((nr_cpus - 1) & 0xff) |
				 (id_bits(nr_cpus) << 12);
			break;
		case 0x8000001e:
			/* AMD: extended APIC id; one thread per core, node 0. */
			e->eax = apic_id;
			e->ebx = apic_id & 0xff;
			e->ecx = 0;
			break;
		case 0x40000000:
			/* Signature leaf: max hypervisor leaf is the features one. */
			if (e->eax < 0x40000001)
				e->eax = 0x40000001;
			break;
		case 0x40000001:
			if (pvm_host)
				e->eax &= ~KVM_FEATURES_NOT_ON_PVM;
			break;
		}
	}
}
