/* SPDX-License-Identifier: MIT */
/*
 * The CPL3 runtime of the benchmark guests (blk_guest.c, net_guest.c).
 *
 * Guest code at CPL0 is emulated on kvm_pvm (~1 us an instruction), so a
 * guest sets its device up at CPL0, finds the ACPI PM timer, and then
 * drops to CPL3 with cpl3_enter(), where its request loop runs natively:
 * there it calibrates the TSC with tsc_calibrate() and times everything
 * with rdtsc. Nothing at CPL3 takes an interrupt or exception.
 */
#ifndef SKIFF_BENCH_CPL3_H
#define SKIFF_BENCH_CPL3_H

#include "../tests/guests/lib.h"

/* The ACPI PM timer (3.579545 MHz): its port and counter width. */
struct pm_timer {
	uint16_t port;
	uint32_t mask;		/* 24 or 32 bits */
};

/* "BENCH-ERROR <why>" and out through debug-exit with status 1. */
void bench_fail(const char *why) __attribute__((noreturn));

/* CPL0: the PM timer from the FADT; bench_fail() without one. */
void pm_timer_find(const struct hvm_start_info *si, struct pm_timer *pm);

/*
 * CPL0: make the 4 GiB identity map user-accessible, load a GDT with user
 * segments and a TSS that allows every I/O port, and iretq to user_main at
 * CPL3 with IOPL 3 and interrupts off, on a stack of its own.
 */
void cpl3_enter(void (*user_main)(void)) __attribute__((noreturn));

/* CPL3 (or CPL0): TSC cycles per second, against 50 ms of the PM timer. */
uint64_t tsc_calibrate(const struct pm_timer *pm);

#endif
