// SPDX-License-Identifier: MIT
/* Guest RAM: one anonymous mapping, low part below 3 GiB, rest above 4 GiB. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/memory.h"

void guest_mem_layout(struct guest_mem *mem, uint8_t *host, uint64_t ram_size)
{
	uint64_t low = ram_size < MEM_LOW_RAM_END ? ram_size : MEM_LOW_RAM_END;

	memset(mem, 0, sizeof(*mem));
	mem->host = host;
	mem->ram_size = ram_size;
	mem->regions[0] = (struct mem_region){ .gpa = 0, .size = low, .host = host };
	mem->nr_regions = 1;
	if (ram_size > low) {
		mem->regions[1] = (struct mem_region){
			.gpa = SZ_4G,
			.size = ram_size - low,
			.host = host ? host + low : NULL,
		};
		mem->nr_regions = 2;
	}
}

int guest_mem_alloc(struct guest_mem *mem, uint64_t ram_size)
{
	void *p;

	if (ram_size == 0 || ram_size > (1ULL << 46))
		return -EINVAL;
	/* NORESERVE: untouched guest memory costs the host nothing. */
	p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, ram_size, MADV_MERGEABLE);
	guest_mem_layout(mem, p, ram_size);
	return 0;
}

void guest_mem_free(struct guest_mem *mem)
{
	if (mem->host)
		munmap(mem->host, mem->ram_size);
	memset(mem, 0, sizeof(*mem));
}

void *gpa_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < mem->nr_regions; i++) {
		const struct mem_region *r = &mem->regions[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		/* Subtraction form: no overflow for any gpa/len. */
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->host ? r->host + (gpa - r->gpa) : NULL;
	}
	return NULL;
}

bool gpa_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	void *p = gpa_ptr(mem, gpa, len);

	if (!p)
		return false;
	memcpy(dst, p, len);
	return true;
}

bool gpa_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gpa_ptr(mem, gpa, len);

	if (!p)
		return false;
	memcpy(p, src, len);
	return true;
}

uint64_t guest_mem_low_end(const struct guest_mem *mem)
{
	return mem->nr_regions ? mem->regions[0].size : 0;
}

int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return -EINVAL;
	}
	/* Accept "256M" and "256MiB"/"256MB" alike. */
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "B")))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (shift && v > (~0ULL >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}
