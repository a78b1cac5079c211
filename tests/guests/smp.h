/* SPDX-License-Identifier: MIT */
/* Shared by smp.c and smp_trampoline.S. */
#ifndef SKIFF_GUEST_SMP_H
#define SKIFF_GUEST_SMP_H

/* Free low RAM once the BSP has read start_info: SIPI vector 0x08. */
#define AP_TRAMP_BASE	0x8000
#define AP_MAX		64		/* skiff's VM_MAX_CPUS */
#define AP_STACK_SHIFT	12		/* 4 KiB per AP */
#define LAPIC_MMIO_ID	0xfee00020

#endif
