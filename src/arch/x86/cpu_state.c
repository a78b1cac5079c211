// SPDX-License-Identifier: MIT
#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/cpu_state.h"
#include "arch/x86/layout.h"

#define PTE_P	(1ULL << 0)
#define PTE_RW	(1ULL << 1)
#define PTE_PS	(1ULL << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL

/* Flat segment descriptors: base 0, limit 4 GiB, granular. */
#define GDT_CODE32	0x00cf9b000000ffffULL
#define GDT_CODE64	0x00af9b000000ffffULL
#define GDT_DATA	0x00cf93000000ffffULL

enum { SEL_CODE32 = 0x08, SEL_CODE64 = 0x10, SEL_DATA = 0x18 };

static struct kvm_segment flat_segment(uint16_t sel, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = code64 ? 0 : 1, .s = 1,
		.l = code64, .g = 1,
	};
}

static int write_gdt(struct guest_mem *mem)
{
	const uint64_t gdt[4] = { 0, GDT_CODE32, GDT_CODE64, GDT_DATA };

	return gpa_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt)) ? 0 : -EFAULT;
}

/* Identity map of the first 4 GiB with 2 MiB pages. */
static int write_identity_tables(struct guest_mem *mem)
{
	uint64_t *pml4 = gpa_ptr(mem, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = gpa_ptr(mem, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = gpa_ptr(mem, BOOT_PD_ADDR, 4 * 4096);
	unsigned int i;

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	for (i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096ULL) | PTE_P | PTE_RW;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

static void set_common_sregs(struct kvm_sregs *s, bool long_mode)
{
	struct kvm_segment data = flat_segment(SEL_DATA, 3, false);

	s->gdt.base = BOOT_GDT_ADDR;
	s->gdt.limit = 4 * 8 - 1;
	s->idt.base = BOOT_IDT_ADDR;
	s->idt.limit = 0;
	s->cs = long_mode ? flat_segment(SEL_CODE64, 11, true) :
			    flat_segment(SEL_CODE32, 11, false);
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	/* A busy 32/64-bit TSS; the guest loads its own before using it. */
	s->tr = (struct kvm_segment){ .limit = 0x67, .type = 11, .present = 1 };
	s->ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
}

int x86_boot_cpu_state(struct guest_mem *mem, const struct boot_result *boot,
		       struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	bool long_mode = boot->entry_kind == BOOT_ENTRY_LINUX64;
	int ret;

	ret = write_gdt(mem);
	if (ret)
		return ret;
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 2;
	regs->rip = boot->entry;
	set_common_sregs(sregs, long_mode);
	sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE;
	sregs->cr4 = 0;
	sregs->efer = 0;
	if (!long_mode) {
		/* PVH: 32-bit flat protected mode, paging off, EBX = start_info. */
		regs->rbx = boot->boot_data;
		return 0;
	}
	ret = write_identity_tables(mem);
	if (ret)
		return ret;
	sregs->cr3 = BOOT_PML4_ADDR;
	sregs->cr4 = X86_CR4_PAE;
	sregs->cr0 |= X86_CR0_PG;
	sregs->efer = X86_EFER_LME | X86_EFER_LMA;
	regs->rsi = boot->boot_data;
	regs->rsp = BOOT_STACK_TOP;
	return 0;
}

unsigned int x86_boot_msrs(struct kvm_msr_entry *out, unsigned int max, bool amd)
{
	static const struct { uint32_t index; uint64_t data; } init[] = {
		/* Equal writes on every vCPU: KVM keeps their TSCs in sync. */
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 },	/* fast strings */
		{ MSR_MTRR_DEF_TYPE, 0x806 },	/* MTRRs on, default WB */
		{ MSR_STAR, 0 }, { MSR_LSTAR, 0 }, { MSR_CSTAR, 0 },
		{ MSR_SYSCALL_MASK, 0 }, { MSR_KERNEL_GS_BASE, 0 },
	};
	unsigned int i, n = 0;

	for (i = 0; i < sizeof(init) / sizeof(init[0]) && n < max; i++)
		out[n++] = (struct kvm_msr_entry){ .index = init[i].index,
						   .data = init[i].data };
	/* Last: KVM_SET_MSRS stops at the first MSR a host refuses. */
	if (amd && n < max)
		out[n++] = (struct kvm_msr_entry){ .index = MSR_K7_HWCR,
						   .data = K7_HWCR_TSC_FREQ_SEL };
	return n;
}

bool x86_host_is_amd(void)
{
	unsigned int eax, ebx, ecx, edx;

	if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx))
		return false;
	/* "AuthenticAMD" / "HygonGenuine": EBX is "Auth" / "Hygo". */
	return ebx == 0x68747541 || ebx == 0x6f677948;
}

static bool read_pte(const struct guest_mem *mem, uint64_t table,
		     unsigned int idx, uint64_t *pte)
{
	return gpa_read(mem, table + idx * 8ULL, pte, 8);
}

/*
 * Walk from the top table at `table` for `levels` levels of 9-bit indices,
 * top index masked to top_mask (PAE's PDPT has 4 entries). Large pages
 * (PS) end the walk at the 1 GiB and 2 MiB levels.
 */
static bool walk_tables(const struct guest_mem *mem, uint64_t table,
			uint64_t la, int levels, unsigned int top_mask,
			uint64_t *pa)
{
	uint64_t pte = 0;
	int level;

	for (level = levels; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (level - 1);
		unsigned int idx = (la >> shift) & (level == levels ? top_mask : 0x1ff);
		uint64_t mask = (1ULL << shift) - 1;

		if (!read_pte(mem, table, idx, &pte) || !(pte & PTE_P))
			return false;
		/* PAE PDPTEs have no PS bit; long mode allows 1 GiB pages. */
		if ((level == 2 || (level == 3 && top_mask == 0x1ff)) &&
		    (pte & PTE_PS)) {
			*pa = (pte & PTE_ADDR_MASK & ~mask) | (la & mask);
			return true;
		}
		table = pte & PTE_ADDR_MASK;
	}
	*pa = (pte & PTE_ADDR_MASK) | (la & 0xfff);
	return true;
}

/* Legacy 32-bit paging, 4 KiB and (with PSE) 4 MiB pages. */
static bool walk_32(const struct guest_mem *mem, const struct kvm_sregs *s,
		    uint32_t la, uint64_t *pa)
{
	uint32_t pde, pte;

	if (!gpa_read(mem, (s->cr3 & 0xfffff000) + (la >> 22) * 4, &pde, 4) ||
	    !(pde & PTE_P))
		return false;
	if ((pde & PTE_PS) && (s->cr4 & X86_CR4_PSE)) {
		*pa = (pde & 0xffc00000) | (la & 0x3fffff);
		return true;
	}
	if (!gpa_read(mem, (pde & 0xfffff000) + ((la >> 12) & 0x3ff) * 4, &pte, 4) ||
	    !(pte & PTE_P))
		return false;
	*pa = (pte & 0xfffff000) | (la & 0xfff);
	return true;
}

bool x86_translate(const struct guest_mem *mem, const struct kvm_sregs *sregs,
		   uint64_t la, uint64_t *pa)
{
	if (!(sregs->cr0 & X86_CR0_PG)) {
		*pa = la;
		return true;
	}
	if (sregs->efer & X86_EFER_LMA)
		return walk_tables(mem, sregs->cr3 & PTE_ADDR_MASK, la,
				   (sregs->cr4 & X86_CR4_LA57) ? 5 : 4, 0x1ff, pa);
	if (sregs->cr4 & X86_CR4_PAE)
		return walk_tables(mem, sregs->cr3 & ~0x1fULL, la & 0xffffffff,
				   3, 3, pa);
	return walk_32(mem, sregs, (uint32_t)la, pa);
}
