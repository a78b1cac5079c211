// SPDX-License-Identifier: MIT
/*
 * The benchmark guests' way down to CPL3 and their clock there (see
 * cpl3.h). Linked into blk_guest.elf and net_guest.elf through
 * tests/guests' EXTRA_OBJS.
 */
#include "cpl3.h"
#include "../tests/guests/virtio.h"

#define SEL_KCODE	0x08
#define SEL_KDATA	0x10
#define SEL_UDATA	0x18
#define SEL_UCODE	0x20
#define SEL_TSS		0x28
#define TSS_TYPE_AVAIL	0x9
#define DESC_PRESENT	0x80
#define RPL3		3
#define RFLAGS_IOPL3	0x3000
#define RFLAGS_FIXED	0x0002

#define PM_TIMER_HZ	3579545ULL
#define FADT_PM_TMR_BLK	76
#define FADT_FLAGS	112
#define FADT_X_PM_TMR	208	/* generic address structure */
#define FADT_TMR_VAL_EXT (1U << 8)

#define USER_STACK	(64 * 1024)

static uint8_t user_stack[USER_STACK] __attribute__((aligned(16)));

/*
 * A 64-bit TSS whose I/O permission bitmap allows every port. IOPL 3 alone
 * is not enough on kvm_pvm: user mode there runs with the host's IOPL 0,
 * and the emulated IN/OUT consult this bitmap instead. There is no IDT
 * either, so the TSS is there for the bitmap alone.
 */
struct tss_iomap {
	struct tss64 tss;
	uint8_t iomap[65536 / 8 + 1];	/* + the all-ones byte that ends it */
} __attribute__((packed));

static struct tss_iomap tss __attribute__((aligned(16)));

/* Written by ltr (the busy bit), so not const. */
static uint64_t user_gdt[] __attribute__((aligned(16))) = {
	0,
	0x00af9a000000ffffULL,	/* SEL_KCODE: what entry.S loaded CS with */
	0x00cf92000000ffffULL,	/* SEL_KDATA */
	0x00cff2000000ffffULL,	/* SEL_UDATA: DPL 3 */
	0x00affa000000ffffULL,	/* SEL_UCODE: 64-bit, DPL 3 */
	0, 0,			/* SEL_TSS: filled in by load_tss() */
};

void bench_fail(const char *why)
{
	printf_("BENCH-ERROR %s\n", why);
	debug_exit(1);
}

/* CPL0 set-up */

static uint32_t fadt_u32(const struct acpi_header *f, uint32_t off)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)f + off, 4);
	return v;
}

void pm_timer_find(const struct hvm_start_info *si, struct pm_timer *pm)
{
	const struct acpi_header *fadt = acpi_lookup(si, "FACP");
	uint64_t x = 0;

	if (!fadt)
		bench_fail("no FADT: cannot calibrate the TSC against the PM timer");
	pm->port = (uint16_t)fadt_u32(fadt, FADT_PM_TMR_BLK);
	/* X_PM_TMR_BLK in system I/O space (id 1) when the old field is 0. */
	if (!pm->port && fadt->length >= FADT_X_PM_TMR + 12 &&
	    ((const uint8_t *)fadt)[FADT_X_PM_TMR] == 1) {
		memcpy(&x, (const uint8_t *)fadt + FADT_X_PM_TMR + 4, 8);
		pm->port = (uint16_t)x;
	}
	if (!pm->port)
		bench_fail("the FADT has no PM timer");
	pm->mask = fadt_u32(fadt, FADT_FLAGS) & FADT_TMR_VAL_EXT ? 0xffffffff : 0xffffff;
}

/* A 16-byte system descriptor for tss, then ltr. */
static void load_tss(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;

	tss.tss.iomap_base = (uint16_t)offsetof(struct tss_iomap, iomap);
	tss.iomap[sizeof(tss.iomap) - 1] = 0xff;
	user_gdt[SEL_TSS / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 |
		(uint64_t)(TSS_TYPE_AVAIL | DESC_PRESENT) << 40 |
		(limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
	user_gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS) : "memory");
}

void cpl3_enter(void (*user_main)(void))
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} gdtr = { sizeof(user_gdt) - 1, (uint64_t)user_gdt };
	/* As if called: the ABI wants rsp + 8 16-byte aligned at entry. */
	uint64_t sp = (uint64_t)(user_stack + USER_STACK) - 8;

	identity_map_user();
	__asm__ volatile("lgdt %0" : : "m"(gdtr));
	load_tss();
	/* IOPL 3 for port I/O and cli on hosts that honour it, IF clear. */
	__asm__ volatile(
		"pushq %[ss]\n\t"
		"pushq %[sp]\n\t"
		"pushq %[fl]\n\t"
		"pushq %[cs]\n\t"
		"pushq %[ip]\n\t"
		"iretq"
		:
		: [ss] "i"(SEL_UDATA | RPL3), [sp] "r"(sp),
		  [fl] "i"(RFLAGS_IOPL3 | RFLAGS_FIXED), [cs] "i"(SEL_UCODE | RPL3),
		  [ip] "r"(user_main)
		: "memory");
	__builtin_unreachable();
}

/* CPL3 from here on: no privileged instruction, port I/O through the TSS. */

static uint32_t pm_read(const struct pm_timer *pm)
{
	return port_in32(pm->port) & pm->mask;
}

uint64_t tsc_calibrate(const struct pm_timer *pm)
{
	const uint32_t want = PM_TIMER_HZ / 20;
	uint32_t p0 = pm_read(pm), p, ticks;
	uint64_t t0, t;

	/* Start on a tick edge: the first read may be late in its tick. */
	while ((p = pm_read(pm)) == p0)
		;
	p0 = p;
	t0 = rdtsc();
	do {
		p = pm_read(pm);
		t = rdtsc();
		ticks = (p - p0) & pm->mask;
	} while (ticks < want);
	return (t - t0) * PM_TIMER_HZ / ticks;
}
