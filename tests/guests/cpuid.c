// SPDX-License-Identifier: MIT
/*
 * cpuid.elf: show what CPUID tells the guest and check the APIC id in leaf 1
 * against the LAPIC ID register. The hypervisor bit and the "KVMKVMKVM"
 * signature come from skiff's KVM_SET_CPUID2, which kvm_pvm ignores, so they
 * are checked only with strict_cpuid=1 on the command line.
 */
#include "lib.h"

#define CPUID1_ECX_HYPERVISOR	(1U << 31)

int guest_main(const struct hvm_start_info *si)
{
	const char *cl = cmdline(si);
	uint32_t r[4], max_hv, apic_id, lapic_id;
	char vendor[13], hv_sig[13];
	uint64_t strict = 0;
	bool hv_bit;

	cmdline_u64(cl, "strict_cpuid", &strict);
	printf_("cpuid: cmdline \"%s\"\n", cl);

	cpuid(0, 0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	vendor[12] = '\0';
	printf_("cpuid: vendor \"%s\", max basic leaf 0x%x\n", vendor, r[0]);

	cpuid(1, 0, r);
	apic_id = r[1] >> 24;
	hv_bit = r[2] & CPUID1_ECX_HYPERVISOR;
	printf_("cpuid: leaf 1 eax 0x%x ebx 0x%x ecx 0x%x edx 0x%x\n",
		r[0], r[1], r[2], r[3]);
	printf_("cpuid: hypervisor bit %u\n", hv_bit);

	cpuid(0x40000000, 0, r);
	max_hv = r[0];
	memcpy(hv_sig, &r[1], 4);
	memcpy(hv_sig + 4, &r[2], 4);
	memcpy(hv_sig + 8, &r[3], 4);
	hv_sig[12] = '\0';
	for (int i = 0; i < 12; i++)
		if (hv_sig[i] && (hv_sig[i] < 0x20 || hv_sig[i] > 0x7e))
			hv_sig[i] = '?';
	printf_("cpuid: leaf 0x40000000 max 0x%x signature \"%s\"\n", max_hv, hv_sig);
	cpuid(0x40000001, 0, r);
	printf_("cpuid: leaf 0x40000001 features eax 0x%x edx 0x%x\n", r[0], r[3]);

	lapic_id = lapic_read(LAPIC_ID) >> 24;
	printf_("cpuid: leaf 1 APIC id %u, LAPIC ID register %u\n", apic_id, lapic_id);
	check(apic_id == lapic_id, "leaf 1 APIC id %u matches LAPIC ID %u",
	      apic_id, lapic_id);

	if (strict) {
		check(hv_bit, "hypervisor bit set");
		check(!memcmp(hv_sig, "KVMKVMKVM\0\0\0", 12),
		      "leaf 0x40000000 signature \"%s\" is KVMKVMKVM", hv_sig);
	} else {
		puts_("SKIP: hypervisor bit and KVM signature (strict_cpuid=1 not given)\n");
	}
	finish("cpuid");
}
