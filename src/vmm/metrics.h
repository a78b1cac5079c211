/* SPDX-License-Identifier: MIT */
/*
 * Counters that one thread at a time updates (a device under its lock, a
 * vCPU on its own thread) and the control API reads from another thread:
 * relaxed atomic loads and stores, so no torn values and no locked
 * instructions on the data path.
 */
#ifndef SKIFF_VMM_METRICS_H
#define SKIFF_VMM_METRICS_H

#include <stdint.h>

/* A device reports its counters by calling emit once per counter. */
typedef void (*metric_emit_fn)(void *ctx, const char *key, uint64_t value);

static inline void counter_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint64_t counter_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
