// SPDX-License-Identifier: MIT
/*
 * Starting APs for the SMP test guests (smp.elf, syscall.elf): copy
 * smp_trampoline.S below 1 MiB and send each AP INIT, SIPI, SIPI through
 * the LAPIC ICR. Each AP then calls the guest's ap_main(id) on the stack
 * of its LAPIC id.
 */
#include "lib.h"
#include "smp.h"

#define ICR_INIT		0x00000500
#define ICR_STARTUP		0x00000600
#define ICR_LEVEL_ASSERT	0x00004000
#define ICR_BUSY		0x00001000
#define SVR_ENABLE		0x00000100

/* ~1 us per emulated instruction: a bound of ~10 ms per IPI. */
#define ICR_SPINS		10000

extern const uint8_t ap_tramp_start[], ap_tramp_end[];
/* LAPIC id i runs on ap_stacks[i]: smp_trampoline.S points RSP at its end. */
uint8_t ap_stacks[AP_MAX][1 << AP_STACK_SHIFT] __attribute__((aligned(16)));

static bool send_ipi(uint32_t dest, uint32_t icr)
{
	unsigned int spins = ICR_SPINS;

	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, icr);
	while ((lapic_read(LAPIC_ICR_LO) & ICR_BUSY) && --spins)
		cpu_relax();
	return spins != 0;
}

bool smp_start_aps(uint32_t cpus, uint64_t *want)
{
	uint32_t bsp = lapic_read(LAPIC_ID) >> 24, id, vector = AP_TRAMP_BASE >> 12;
	bool ipis_ok = true;

	printf_("smp: BSP LAPIC id %u, trampoline %lu bytes at 0x%x (SIPI vector 0x%x)\n",
		bsp, (uint64_t)(ap_tramp_end - ap_tramp_start), AP_TRAMP_BASE, vector);
	memcpy((void *)AP_TRAMP_BASE, ap_tramp_start, ap_tramp_end - ap_tramp_start);
	lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | SVR_ENABLE | 0xff);
	*want = 0;
	for (id = 0; id < cpus; id++) {
		if (id == bsp)
			continue;
		*want |= 1ULL << id;
		printf_("smp: INIT, SIPI, SIPI to LAPIC id %u\n", id);
		ipis_ok &= send_ipi(id, ICR_INIT | ICR_LEVEL_ASSERT);
		ipis_ok &= send_ipi(id, ICR_STARTUP | ICR_LEVEL_ASSERT | vector);
		ipis_ok &= send_ipi(id, ICR_STARTUP | ICR_LEVEL_ASSERT | vector);
	}
	return ipis_ok;
}
