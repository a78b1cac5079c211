/* SPDX-License-Identifier: MIT */
/* Shared by smp.c and smp_trampoline.S. */
#ifndef SKIFF_GUEST_SMP_H
#define SKIFF_GUEST_SMP_H

/* Free low RAM once the BSP has read start_info: SIPI vector 0x08. */
#define AP_TRAMP_BASE	0x8000
#define AP_MAX		64		/* skiff's VM_MAX_CPUS */
#define AP_STACK_SHIFT	12		/* 4 KiB per AP */
#define LAPIC_MMIO_ID	0xfee00020

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

/*
 * BSP: start LAPIC ids 0..cpus-1 but its own (smp_boot.c); want gets
 * their bits. False if the ICR did not take an IPI.
 */
bool smp_start_aps(uint32_t cpus, uint64_t *want);
/* Each AP calls this, on its own stack, in long mode at CPL0. */
void ap_main(uint32_t id);
#endif

#endif
