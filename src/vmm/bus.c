// SPDX-License-Identifier: MIT
/* Address-range dispatch shared by the port I/O and MMIO spaces. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/bus.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	free(bus->regions);
	pthread_rwlock_destroy(&bus->lock);
	memset(bus, 0, sizeof(*bus));
}

/* Index of the first region whose end is above addr (binary search). */
static unsigned int bus_lower_bound(const struct bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr_regions;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_region *r = &bus->regions[mid];

		if (addr - r->base >= r->len && addr > r->base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name)
{
	struct bus_region *r;
	unsigned int i;
	int ret = 0;

	if (!len || base + (len - 1) < base || !ops)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	i = bus_lower_bound(bus, base);
	if ((i < bus->nr_regions &&
	     ranges_overlap(base, len, bus->regions[i].base, bus->regions[i].len)) ||
	    (i > 0 && ranges_overlap(base, len, bus->regions[i - 1].base,
				     bus->regions[i - 1].len))) {
		ret = -EEXIST;
		goto out;
	}
	if (bus->nr_regions == bus->cap) {
		unsigned int cap = bus->cap ? bus->cap * 2 : 16;

		r = realloc(bus->regions, cap * sizeof(*r));
		if (!r) {
			ret = -ENOMEM;
			goto out;
		}
		bus->regions = r;
		bus->cap = cap;
	}
	memmove(&bus->regions[i + 1], &bus->regions[i],
		(bus->nr_regions - i) * sizeof(*r));
	bus->regions[i] = (struct bus_region){ base, len, ops, opaque, name };
	bus->nr_regions++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	unsigned int i;
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	i = bus_lower_bound(bus, base);
	if (i < bus->nr_regions && bus->regions[i].base == base) {
		memmove(&bus->regions[i], &bus->regions[i + 1],
			(bus->nr_regions - i - 1) * sizeof(bus->regions[0]));
		bus->nr_regions--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write)
{
	const struct bus_region *r = NULL;
	struct bus_region hit;
	unsigned int i;

	if (!len || len > 8)
		return false;
	pthread_rwlock_rdlock(&bus->lock);
	i = bus_lower_bound(bus, addr);
	if (i < bus->nr_regions) {
		r = &bus->regions[i];
		if (addr < r->base || addr - r->base >= r->len ||
		    len > r->len - (addr - r->base))
			r = NULL;
		else
			hit = *r;
	}
	pthread_rwlock_unlock(&bus->lock);

	if (!r) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	if (is_write) {
		if (hit.ops->write)
			hit.ops->write(hit.opaque, addr - hit.base, data, len);
	} else {
		memset(data, 0, len);
		if (hit.ops->read)
			hit.ops->read(hit.opaque, addr - hit.base, data, len);
	}
	return true;
}
