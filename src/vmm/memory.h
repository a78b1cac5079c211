/* SPDX-License-Identifier: MIT */
/* Guest physical memory: one anonymous mapping split into RAM regions. */
#ifndef SKIFF_VMM_MEMORY_H
#define SKIFF_VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SZ_1K 0x400ULL
#define SZ_1M 0x100000ULL
#define SZ_1G 0x40000000ULL
#define SZ_4G 0x100000000ULL

/*
 * RAM above this address moves to 4 GiB and up, leaving the usual
 * 32-bit hole below 4 GiB for device MMIO (PCI, LAPIC, IOAPIC, ECAM).
 */
#define MEM_LOW_RAM_END 0xc0000000ULL

#define MEM_MAX_REGIONS 2

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	uint8_t *host;		/* the whole mapping, ram_size bytes */
	uint64_t ram_size;
	struct mem_region regions[MEM_MAX_REGIONS];
	unsigned int nr_regions;
};

/*
 * Lay out ram_size bytes of RAM at host (already mapped, or NULL for a
 * layout-only computation) into low and high regions.
 */
void guest_mem_layout(struct guest_mem *mem, uint8_t *host, uint64_t ram_size);

/* Map anonymous, MAP_NORESERVE memory and lay it out. 0 or -errno. */
int guest_mem_alloc(struct guest_mem *mem, uint64_t ram_size);
void guest_mem_free(struct guest_mem *mem);

/*
 * Host pointer to [gpa, gpa + len) if the whole range lies inside one RAM
 * region, else NULL. Overflow-safe for any gpa and len.
 */
void *gpa_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copy between guest and host; false if the range is not all RAM. */
bool gpa_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len);
bool gpa_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);

/* Highest guest-physical address + 1 that is RAM below 4 GiB. */
uint64_t guest_mem_low_end(const struct guest_mem *mem);

/* Parse "256M", "1G", "4096K", "1048576" (bytes). 0 or -EINVAL/-ERANGE. */
int parse_size(const char *s, uint64_t *out);

#endif
