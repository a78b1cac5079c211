// SPDX-License-Identifier: MIT
/*
 * syscall.elf: SYSCALL from user mode on every AP (cpus= on the command
 * line, 2..SC_CPUS). Each AP, started as in smp.elf, loads the GDT, its
 * TSS, the IDT and the SYSCALL MSRs, drops to CPL3 and runs SYSCALL: the
 * entry records the CS it runs with (it must be CPL0) and halts.
 *
 * LSTAR points into a supervisor-only alias of the image. kvm_pvm leaves
 * SYSCALL at CPL3, so the CPU then faults fetching LSTAR, and skiff must
 * turn that #PF back into the SYSCALL entry (README, "Hosts without
 * VMX/SVM"). An AP makes no exit to skiff between its LIDT and its SYSCALL,
 * so skiff cannot have read the AP's IDT: the repair has to come from what
 * it learnt on vCPU 0. A #PF that reaches pf_handler is a SYSCALL skiff
 * did not repair. On VMX/SVM hardware SYSCALL simply works.
 */
#include "lib.h"
#include "smp.h"

#define SC_CPUS		4
#define SEL_KCODE	0x08	/* = entry.S's SEL_CODE64 */
#define SEL_KDATA	0x10
#define SEL_UDATA	0x18	/* STAR[63:48] + 8 */
#define SEL_UCODE	0x20	/* STAR[63:48] + 16 */
#define SEL_TSS(id)	(0x28 + 16 * (id))
#define RPL3		3
#define MSR_EFER	0xc0000080
#define MSR_STAR	0xc0000081
#define MSR_LSTAR	0xc0000082
#define MSR_FMASK	0xc0000084
#define EFER_SCE	(1ULL << 0)
#define EFER_NXE	(1ULL << 11)	/* so a #PF says "instruction fetch" */
#define RFLAGS_FIXED	0x2
#define GATE_INTR	0x8e	/* present, DPL 0, 64-bit interrupt gate */
#define PTE_P		0x001ULL
#define PTE_W		0x002ULL
#define PTE_PS		0x080ULL
#define PTE_ADDR	0x000ffffffffff000ULL
/* PML4 slot 1: the first 1 GiB again, without the U bit at any level. */
#define ALIAS_VA	0x8000000000ULL
/* Exits to skiff before the APs start: over 2 ms even on VMX/SVM. */
#define WARMUP_EXITS	3000
/* ~1 us per emulated instruction: a bound of ~2 s. */
#define DONE_SPINS	400000

/* syscall_entry.S */
void user_syscall(void), syscall_entry(void), pf_handler(void);
void ud_handler(void), df_handler(void), gp_handler(void);

/* Written by the APs (syscall_entry.S), read by the BSP. */
uint64_t syscall_cpus, pf_cpus, fault_cpus;
uint64_t syscall_cs[SC_CPUS], pf_cr2[SC_CPUS], pf_error[SC_CPUS];
uint64_t fault_vector[SC_CPUS];

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

struct table_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static struct tss64 tss[SC_CPUS] __attribute__((aligned(16)));
static struct idt_gate idt[32] __attribute__((aligned(16)));
static uint8_t kernel_stacks[SC_CPUS][4096] __attribute__((aligned(16)));
static uint8_t user_stacks[SC_CPUS][4096] __attribute__((aligned(16)));
static uint64_t alias_pdpt[512] __attribute__((aligned(4096)));
static uint64_t alias_pd[512] __attribute__((aligned(4096)));
/* Written by ltr (the busy bit), so not const. */
static uint64_t gdt[5 + 2 * SC_CPUS] __attribute__((aligned(16))) = {
	0,
	0x00af9a000000ffffULL,	/* SEL_KCODE */
	0x00cf92000000ffffULL,	/* SEL_KDATA */
	0x00cff2000000ffffULL,	/* SEL_UDATA: DPL 3 */
	0x00affa000000ffffULL,	/* SEL_UCODE: 64-bit, DPL 3 */
};

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static void set_gate(unsigned int vector, void (*handler)(void))
{
	uint64_t a = (uint64_t)handler;

	idt[vector] = (struct idt_gate){
		.off_lo = (uint16_t)a, .sel = SEL_KCODE, .type = GATE_INTR,
		.off_mid = (uint16_t)(a >> 16), .off_hi = (uint32_t)(a >> 32),
	};
}

/* BSP, once: TSS descriptors, IDT, the alias, U on the identity map. */
static void build_tables(void)
{
	uint64_t cr3, *pml4;
	unsigned int i;

	for (i = 0; i < SC_CPUS; i++) {
		uint64_t base = (uint64_t)&tss[i], limit = sizeof(tss[i]) - 1;

		tss[i].rsp[0] = (uint64_t)kernel_stacks[i + 1];
		tss[i].iomap_base = sizeof(tss[i]);	/* no bitmap */
		gdt[SEL_TSS(i) / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 |
			0x89ULL << 40 | (limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
		gdt[SEL_TSS(i) / 8 + 1] = base >> 32;
	}
	set_gate(6, ud_handler);
	set_gate(8, df_handler);
	set_gate(13, gp_handler);
	set_gate(14, pf_handler);
	identity_map_user();
	for (i = 0; i < 512; i++)
		alias_pd[i] = (uint64_t)i << 21 | PTE_P | PTE_W | PTE_PS;
	alias_pdpt[0] = (uint64_t)alias_pd | PTE_P | PTE_W;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(cr3 & PTE_ADDR);
	pml4[1] = (uint64_t)alias_pdpt | PTE_P | PTE_W;
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

/* Every CPU: its GDT, TSS, IDT and SYSCALL MSRs. Makes no exit to skiff. */
static void cpu_setup(uint32_t id)
{
	struct table_ptr g = { sizeof(gdt) - 1, (uint64_t)gdt };
	struct table_ptr i = { sizeof(idt) - 1, (uint64_t)idt };

	__asm__ volatile("lgdt %0" : : "m"(g));
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS(id)) : "memory");
	__asm__ volatile("lidt %0" : : "m"(i));
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE | EFER_NXE);
	wrmsr(MSR_STAR, (uint64_t)(SEL_UDATA - 8) << 48 | (uint64_t)SEL_KCODE << 32);
	wrmsr(MSR_LSTAR, ALIAS_VA + (uint64_t)syscall_entry);
	wrmsr(MSR_FMASK, 0x700);	/* TF, IF, DF */
}

void ap_main(uint32_t id)
{
	uint64_t rsp = (uint64_t)user_stacks[id + 1];

	if (id >= SC_CPUS)
		return;
	cpu_setup(id);
	__asm__ volatile("pushq %0\n\tpushq %1\n\tpushq %2\n\tpushq %3\n\tpushq %4\n\tiretq"
			 : : "i"(SEL_UDATA | RPL3), "r"(rsp), "i"(RFLAGS_FIXED),
			     "i"(SEL_UCODE | RPL3), "r"((uint64_t)user_syscall)
			 : "memory");
}

static void report(uint64_t want)
{
	uint64_t ok = __atomic_load_n(&syscall_cpus, __ATOMIC_SEQ_CST);
	uint64_t pf = __atomic_load_n(&pf_cpus, __ATOMIC_SEQ_CST);
	uint64_t bad = __atomic_load_n(&fault_cpus, __ATOMIC_SEQ_CST);
	uint64_t cpl0 = 0;
	unsigned int id;

	for (id = 0; id < SC_CPUS; id++) {
		if (ok >> id & 1 && (syscall_cs[id] & 3) == 0)
			cpl0 |= 1ULL << id;
		if (pf >> id & 1)
			printf_("syscall: CPU %u: #PF reached the guest, cr2 0x%lx error 0x%lx\n",
				id, pf_cr2[id], pf_error[id]);
		if (bad >> id & 1)
			printf_("syscall: CPU %u: exception %lu\n", id, fault_vector[id]);
	}
	printf_("syscall: entered on 0x%lx (CPL0 on 0x%lx), want 0x%lx\n", ok, cpl0, want);
	check(ok == want, "every AP's SYSCALL reached LSTAR (0x%lx of 0x%lx)", ok, want);
	check(cpl0 == want, "and ran it at CPL0 (0x%lx of 0x%lx)", cpl0, want);
	check(!pf, "no unrepaired SYSCALL faulted into the guest (0x%lx)", pf);
	check(!bad, "no other exception (0x%lx)", bad);
}

int guest_main(const struct hvm_start_info *si)
{
	const char *cl = cmdline(si);
	uint32_t bsp = lapic_read(LAPIC_ID) >> 24;
	unsigned int spins = DONE_SPINS, i;
	uint64_t cpus = 0, want, done;

	if (!check(cmdline_u64(cl, "cpus", &cpus) && cpus >= 2 && cpus <= SC_CPUS,
		   "cpus=%lu on the cmdline, 2..%u", cpus, SC_CPUS) ||
	    !check(bsp < SC_CPUS, "BSP LAPIC id %u below %u", bsp, SC_CPUS))
		finish("syscall");
	build_tables();
	cpu_setup(bsp);
	/* Exits, so skiff reads vCPU 0's IDT before any AP runs. */
	for (i = 0; i < WARMUP_EXITS; i++)
		inb(COM1_PORT + 7);	/* the UART's scratch register */
	printf_("syscall: LSTAR 0x%lx, #PF handler 0x%lx\n",
		rdmsr(MSR_LSTAR), (uint64_t)pf_handler);
	check(smp_start_aps((uint32_t)cpus, &want), "ICR accepted every IPI");
	do {
		done = __atomic_load_n(&syscall_cpus, __ATOMIC_SEQ_CST) |
		       __atomic_load_n(&pf_cpus, __ATOMIC_SEQ_CST) |
		       __atomic_load_n(&fault_cpus, __ATOMIC_SEQ_CST);
		cpu_relax();
	} while ((done & want) != want && --spins);
	report(want);
	finish("syscall");
}
