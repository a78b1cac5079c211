/* SPDX-License-Identifier: MIT */
/* The one clock skiff measures intervals with. */
#ifndef SKIFF_VMM_CLOCK_H
#define SKIFF_VMM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
