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

/* ~1 us per emulated instruction: a bound of ~2 s. */
#define ARRIVAL_SPINS		400000

/* Written by the APs, read by the BSP. */
static uint32_t ap_arrived;
static uint64_t ap_id_mask;

void ap_main(uint32_t id)
{
	__atomic_fetch_or(&ap_id_mask, 1ULL << id, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&ap_arrived, 1, __ATOMIC_SEQ_CST);
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
	uint32_t arrived = 0;
	unsigned int spins = ARRIVAL_SPINS;
	uint64_t cpus = 0, mask, want;
	bool ipis_ok, have_cpus;

	printf_("smp: cmdline \"%s\"\n", cl);
	have_cpus = cmdline_u64(cl, "cpus", &cpus);
	if (!check(have_cpus && cpus >= 1 && cpus <= AP_MAX,
		   "cpus=%lu on the cmdline, 1..%u", cpus, AP_MAX))
		finish("smp");
	ipis_ok = smp_start_aps((uint32_t)cpus, &want);
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
