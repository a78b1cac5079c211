// SPDX-License-Identifier: MIT
/*
 * smp.elf: the BSP starts every AP (cpus= on the command line, LAPIC ids
 * 0..cpus-1 as in skiff's MADT) with INIT, SIPI, SIPI through its LAPIC ICR.
 * Each AP runs smp_trampoline.S (real -> protected -> long mode) and checks
 * in here: it counts itself and sets the bit of its LAPIC id. The BSP waits,
 * boundedly, and checks that every AP arrived with a distinct id.
 */
#include "lib.h"
#include "smp.h"

#define ICR_INIT		0x00000500
#define ICR_STARTUP		0x00000600
#define ICR_LEVEL_ASSERT	0x00004000
#define ICR_BUSY		0x00001000
#define SVR_ENABLE		0x00000100

/* ~1 us per emulated instruction: bounds of a few hundred ms to ~2 s. */
#define ICR_SPINS		10000
#define ARRIVAL_SPINS		400000

extern const uint8_t ap_tramp_start[], ap_tramp_end[];
void ap_main(uint32_t id);

/* Written by the APs, read by the BSP. */
static uint32_t ap_arrived;
static uint64_t ap_id_mask;
/* LAPIC id i runs on ap_stacks[i]: smp_trampoline.S points RSP at its end. */
uint8_t ap_stacks[AP_MAX][1 << AP_STACK_SHIFT] __attribute__((aligned(16)));

void ap_main(uint32_t id)
{
	__atomic_fetch_or(&ap_id_mask, 1ULL << id, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&ap_arrived, 1, __ATOMIC_SEQ_CST);
}

static bool send_ipi(uint32_t dest, uint32_t icr)
{
	unsigned int spins = ICR_SPINS;

	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, icr);
	while ((lapic_read(LAPIC_ICR_LO) & ICR_BUSY) && --spins)
		cpu_relax();
	return spins != 0;
}

static unsigned int popcount64(uint64_t v)
{
	unsigned int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

int guest_main(const struct hvm_start_info *si)
{
	const char *cl = cmdline(si);
	uint32_t bsp, id, vector = AP_TRAMP_BASE >> 12, arrived = 0;
	unsigned int spins = ARRIVAL_SPINS;
	uint64_t cpus = 0, mask, want = 0;
	bool ipis_ok = true, have_cpus;

	printf_("smp: cmdline \"%s\"\n", cl);
	have_cpus = cmdline_u64(cl, "cpus", &cpus);
	if (!check(have_cpus && cpus >= 1 && cpus <= AP_MAX,
		   "cpus=%lu on the cmdline, 1..%u", cpus, AP_MAX))
		finish("smp");
	bsp = lapic_read(LAPIC_ID) >> 24;
	printf_("smp: BSP LAPIC id %u, trampoline %lu bytes at 0x%x (SIPI vector 0x%x)\n",
		bsp, (uint64_t)(ap_tramp_end - ap_tramp_start), AP_TRAMP_BASE, vector);
	memcpy((void *)AP_TRAMP_BASE, ap_tramp_start, ap_tramp_end - ap_tramp_start);
	lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | SVR_ENABLE | 0xff);

	for (id = 0; id < cpus; id++) {
		if (id == bsp)
			continue;
		want |= 1ULL << id;
		printf_("smp: INIT, SIPI, SIPI to LAPIC id %u\n", id);
		ipis_ok &= send_ipi(id, ICR_INIT | ICR_LEVEL_ASSERT);
		ipis_ok &= send_ipi(id, ICR_STARTUP | ICR_LEVEL_ASSERT | vector);
		ipis_ok &= send_ipi(id, ICR_STARTUP | ICR_LEVEL_ASSERT | vector);
	}
	check(ipis_ok, "ICR accepted every IPI (delivery status cleared)");

	while (spins && (arrived = __atomic_load_n(&ap_arrived, __ATOMIC_SEQ_CST)) <
			cpus - 1) {
		cpu_relax();
		spins--;
	}
	mask = __atomic_load_n(&ap_id_mask, __ATOMIC_SEQ_CST);
	printf_("smp: %u of %lu APs arrived (after %u polls), id mask 0x%lx\n",
		arrived, cpus - 1, ARRIVAL_SPINS - spins, mask);
	check(arrived == cpus - 1, "all %lu APs arrived", cpus - 1);
	check(popcount64(mask) == arrived, "AP LAPIC ids distinct");
	check(mask == want, "AP LAPIC ids 0x%lx, want 0x%lx (all but the BSP)",
	      mask, want);
	finish("smp");
}
