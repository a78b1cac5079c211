/* SPDX-License-Identifier: MIT */
/* One bus type for port I/O and for MMIO: address ranges mapped to handlers. */
#ifndef SKIFF_VMM_BUS_H
#define SKIFF_VMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Handlers run on vCPU threads, possibly several at once: each device
 * protects its own state. offset is relative to the region's base; len is
 * 1, 2, 4 or 8. Reads fill data (pre-zeroed by the bus).
 */
struct bus_ops {
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_region {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;	/* "pio" or "mmio", for messages */
	pthread_rwlock_t lock;
	struct bus_region *regions;	/* sorted by base, never overlapping */
	unsigned int nr_regions;
	unsigned int cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* 0, -EINVAL (empty or wrapping range), -EEXIST (overlap) or -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name);
int bus_unregister(struct bus *bus, uint64_t base);

/*
 * Dispatch an access. An access must lie entirely inside one region;
 * anything else (unclaimed, straddling) reads as all-ones and drops writes,
 * and returns false so the caller can count it.
 */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write);

#endif
