// SPDX-License-Identifier: MIT
/* CPUID patching, boot register state and guest page-table walks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpu_state.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/layout.h"

static struct kvm_cpuid_entry2 *add(struct cpuid_table *t, uint32_t fn,
				    uint32_t idx, bool indexed)
{
	struct kvm_cpuid_entry2 *e = &t->entries[t->hdr.nent++];

	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = idx;
	e->flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
	return e;
}

static void fake_supported(struct cpuid_table *t)
{
	memset(t, 0, sizeof(*t));
	add(t, 1, 0, false)->ebx = 0xff0a0800;	/* stale id/count bits */
	add(t, 4, 0, true)->eax = 0x121;
	add(t, 4, 1, true)->eax = 0;		/* no more caches */
	add(t, 0xb, 0, true);
	add(t, 0xb, 1, true);
	add(t, 0xb, 2, true);
	add(t, 0x40000000, 0, false);
	add(t, 0x40000001, 0, false)->eax = 0x1007efb;	/* as seen on a host */
	add(t, 0x8000001e, 0, false)->ecx = 0x103;	/* host node 3 */
}

static void test_cpuid_topology(void **state)
{
	struct cpuid_table t;
	struct kvm_cpuid_entry2 *e;

	(void)state;
	fake_supported(&t);
	cpuid_patch(&t, 3, 4, false);
	e = cpuid_find(&t, 1, 0);
	assert_int_equal(e->ebx >> 24, 3);
	assert_int_equal((e->ebx >> 16) & 0xff, 4);
	assert_int_equal(e->ebx & 0xffff, 0x0800);	/* CLFLUSH size kept */
	assert_true(e->ecx & (1U << 31));		/* hypervisor */
	assert_true(e->edx & (1U << 28));		/* HTT with >1 CPU */
	assert_int_equal(cpuid_find(&t, 4, 0)->eax >> 26, 3);
	assert_int_equal(cpuid_find(&t, 4, 1)->eax, 0);
	e = cpuid_find(&t, 0xb, 0);
	assert_int_equal(e->edx, 3);
	assert_int_equal(e->ebx, 1);
	assert_int_equal((e->ecx >> 8) & 0xff, 1);
	e = cpuid_find(&t, 0xb, 1);
	assert_int_equal(e->eax, 2);			/* 4 cores: 2 id bits */
	assert_int_equal(e->ebx, 4);
	assert_int_equal((e->ecx >> 8) & 0xff, 2);
	e = cpuid_find(&t, 0xb, 2);
	assert_int_equal(e->ebx, 0);
	assert_int_equal((e->ecx >> 8) & 0xff, 0);	/* end of levels */
	assert_int_equal(cpuid_find(&t, 0x40000000, 0)->eax, 0x40000001);
	assert_int_equal(cpuid_find(&t, 0x40000001, 0)->eax, 0x1007efb);
	e = cpuid_find(&t, 0x8000001e, 0);
	assert_int_equal(e->eax, 3);		/* extended APIC id */
	assert_int_equal(e->ebx, 3);		/* core 3, 1 thread per core */
	assert_int_equal(e->ecx, 0);		/* node 0, one node */
	assert_null(cpuid_find(&t, 0x12345, 0));
}

static void test_cpuid_pvm_adjustments(void **state)
{
	struct cpuid_table t;
	uint32_t eax;

	(void)state;
	fake_supported(&t);
	cpuid_patch(&t, 0, 2, true);
	eax = cpuid_find(&t, 0x40000001, 0)->eax;
	assert_false(eax & (1U << KVM_FEATURE_BIT_PV_SEND_IPI));
	assert_false(eax & (1U << KVM_FEATURE_BIT_PV_UNHALT));
	assert_false(eax & (1U << KVM_FEATURE_BIT_PV_SCHED_YIELD));
	assert_false(eax & (1U << KVM_FEATURE_BIT_PV_TLB_FLUSH));
	assert_int_equal(eax, 0x1007efb & ~KVM_FEATURES_NOT_ON_PVM);
	assert_false(eax & (1U << KVM_FEATURE_BIT_ASYNC_PF));
	assert_false(eax & (1U << KVM_FEATURE_BIT_ASYNC_PF_INT));
	/* On other hosts the leaf stays as KVM reports it. */
	fake_supported(&t);
	cpuid_patch(&t, 0, 2, false);
	assert_int_equal(cpuid_find(&t, 0x40000001, 0)->eax, 0x1007efb);
}

static void test_cpuid_single(void **state)
{
	struct cpuid_table t;

	(void)state;
	fake_supported(&t);
	cpuid_patch(&t, 0, 1, false);
	assert_int_equal(cpuid_find(&t, 1, 0)->ebx >> 24, 0);
	assert_false(cpuid_find(&t, 1, 0)->edx & (1U << 28));
	assert_int_equal(cpuid_find(&t, 0xb, 1)->eax, 0);
}

static uint8_t *ram;
#define RAM_SIZE (16 << 20)

static int setup_ram(void **state)
{
	(void)state;
	ram = calloc(1, RAM_SIZE);
	return ram ? 0 : -1;
}

static int free_ram(void **state)
{
	(void)state;
	free(ram);
	return 0;
}

static void test_boot_state_linux64(void **state)
{
	struct guest_mem m;
	struct boot_result b = { .entry_kind = BOOT_ENTRY_LINUX64,
				 .entry = 0x1000000, .boot_data = ZERO_PAGE_ADDR };
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t pa, gdt[4];

	(void)state;
	memset(&sregs, 0, sizeof(sregs));
	guest_mem_layout(&m, ram, RAM_SIZE);
	assert_int_equal(x86_boot_cpu_state(&m, &b, &regs, &sregs), 0);
	assert_int_equal(regs.rip, 0x1000000);
	assert_int_equal(regs.rsi, ZERO_PAGE_ADDR);
	assert_true(sregs.efer & X86_EFER_LMA);
	assert_true(sregs.cr0 & X86_CR0_PG);
	assert_int_equal(sregs.cs.selector, 0x10);	/* __BOOT_CS */
	assert_int_equal(sregs.ds.selector, 0x18);	/* __BOOT_DS */
	assert_int_equal(sregs.cs.l, 1);
	memcpy(gdt, ram + BOOT_GDT_ADDR, sizeof(gdt));
	assert_int_equal(gdt[2], 0x00af9b000000ffffULL);
	/* The identity map covers 4 GiB, so walks see pa == va. */
	assert_true(x86_translate(&m, &sregs, 0x1234567, &pa));
	assert_int_equal(pa, 0x1234567);
	assert_true(x86_translate(&m, &sregs, 0xfee00020, &pa));
	assert_int_equal(pa, 0xfee00020);
	assert_false(x86_translate(&m, &sregs, 0x100000000ULL, &pa));
}

static void test_boot_state_pvh(void **state)
{
	struct guest_mem m;
	struct boot_result b = { .entry_kind = BOOT_ENTRY_PVH,
				 .entry = 0x100000, .boot_data = PVH_START_INFO_ADDR };
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t pa;

	(void)state;
	memset(&sregs, 0, sizeof(sregs));
	guest_mem_layout(&m, ram, RAM_SIZE);
	assert_int_equal(x86_boot_cpu_state(&m, &b, &regs, &sregs), 0);
	assert_int_equal(regs.rip, 0x100000);
	assert_int_equal(regs.rbx, PVH_START_INFO_ADDR);
	assert_false(sregs.cr0 & X86_CR0_PG);
	assert_true(sregs.cr0 & X86_CR0_PE);
	assert_int_equal(sregs.cs.db, 1);
	assert_int_equal(sregs.cs.l, 0);
	assert_int_equal(sregs.tr.type, 11);
	assert_true(x86_translate(&m, &sregs, 0xabcdef, &pa));
	assert_int_equal(pa, 0xabcdef);
}

/* A hand-built 4-level table: 4 KiB, 2 MiB and 1 GiB mappings. */
static void test_translate_pages(void **state)
{
	struct guest_mem m;
	struct kvm_sregs s = { .cr0 = X86_CR0_PG | X86_CR0_PE, .cr4 = X86_CR4_PAE,
			       .efer = X86_EFER_LMA | X86_EFER_LME, .cr3 = 0x10000 };
	uint64_t *pml4 = (uint64_t *)(ram + 0x10000);
	uint64_t *pdpt = (uint64_t *)(ram + 0x11000);
	uint64_t *pd = (uint64_t *)(ram + 0x12000);
	uint64_t *pt = (uint64_t *)(ram + 0x13000);
	uint64_t va_hi = 0xffffffff80000000ULL, pa;

	(void)state;
	memset(ram + 0x10000, 0, 0x4000);
	guest_mem_layout(&m, ram, RAM_SIZE);
	pml4[511] = 0x11000 | 3;
	pdpt[510] = 0x12000 | 3;		/* va_hi's 1 GiB slot */
	pd[0] = 0x13000 | 3;
	pt[5] = 0x200000 | 3;			/* va_hi + 5 pages → 2 MiB */
	pd[1] = 0x400000 | 0x83;		/* 2 MiB page */
	pdpt[0] = 0x40000000 | 0x83;		/* 1 GiB page, beyond RAM */
	assert_true(x86_translate(&m, &s, va_hi + 5 * 4096 + 0x10, &pa));
	assert_int_equal(pa, 0x200010);
	assert_true(x86_translate(&m, &s, va_hi + 0x200000 + 0x1234, &pa));
	assert_int_equal(pa, 0x401234);
	pml4[0] = 0x11000 | 3;
	assert_true(x86_translate(&m, &s, 0x12345, &pa));
	assert_int_equal(pa, 0x40012345);
	assert_false(x86_translate(&m, &s, va_hi + 6 * 4096, &pa));	/* not present */
	/* A table pointer outside guest RAM fails the walk, never reads. */
	pml4[1] = 0x7fff000000ULL | 3;
	assert_false(x86_translate(&m, &s, 1ULL << 39, &pa));
	s.cr3 = 0xfff0000000ULL;
	assert_false(x86_translate(&m, &s, 0, &pa));
}

static void test_translate_legacy32(void **state)
{
	struct guest_mem m;
	struct kvm_sregs s = { .cr0 = X86_CR0_PG | X86_CR0_PE, .cr4 = X86_CR4_PSE,
			       .cr3 = 0x20000 };
	uint32_t *pd = (uint32_t *)(ram + 0x20000);
	uint32_t *pt = (uint32_t *)(ram + 0x21000);
	uint64_t pa;

	(void)state;
	memset(ram + 0x20000, 0, 0x2000);
	guest_mem_layout(&m, ram, RAM_SIZE);
	pd[0] = 0x21000 | 3;
	pt[1] = 0x5000 | 3;
	pd[1] = 0x800000 | 0x83;		/* 4 MiB page */
	assert_true(x86_translate(&m, &s, 0x1abc, &pa));
	assert_int_equal(pa, 0x5abc);
	assert_true(x86_translate(&m, &s, 0x400000 + 0x12345, &pa));
	assert_int_equal(pa, 0x812345);
	assert_false(x86_translate(&m, &s, 0x2000, &pa));
}

static void test_boot_msrs(void **state)
{
	struct kvm_msr_entry e[16];
	unsigned int n, i;
	bool misc = false;

	(void)state;
	n = x86_boot_msrs(e, 16, false);
	assert_true(n > 0 && n <= 16);
	for (i = 0; i < n; i++)
		misc |= e[i].index == MSR_IA32_MISC_ENABLE && (e[i].data & 1);
	assert_true(misc);
	assert_int_equal(x86_boot_msrs(e, 2, false), 2);
	/* AMD adds HWCR.TscFreqSel, last so a refusal costs nothing else. */
	assert_int_equal(x86_boot_msrs(e, 16, true), n + 1);
	assert_int_equal(e[n].index, MSR_K7_HWCR);
	assert_int_equal(e[n].data, K7_HWCR_TSC_FREQ_SEL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpuid_topology),
		cmocka_unit_test(test_cpuid_single),
		cmocka_unit_test(test_cpuid_pvm_adjustments),
		cmocka_unit_test(test_boot_state_linux64),
		cmocka_unit_test(test_boot_state_pvh),
		cmocka_unit_test(test_translate_pages),
		cmocka_unit_test(test_translate_legacy32),
		cmocka_unit_test(test_boot_msrs),
	};

	return cmocka_run_group_tests(tests, setup_ram, free_ram);
}
