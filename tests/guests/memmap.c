// SPDX-License-Identifier: MIT
/*
 * memmap.elf: check hvm_start_info and the PVH memory map against mem= on
 * the command line, touch the first and last byte of every RAM region, and
 * check the module (skiff --initrd) against initrd_size= / initrd_sum=.
 */
#include "lib.h"

#define LEGACY_HOLE_START	0xa0000UL
#define LEGACY_HOLE_END		0x100000UL
#define PCI_HOLE_START		0xc0000000UL	/* 3 GiB */
#define SZ_4G			0x100000000UL
/* Below 1 MiB the map may leave out RAM it owns (EBDA, VGA, BIOS area). */
#define LOW_SLACK_END		0x100000UL

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static bool touch_byte(uint64_t pa)
{
	uint8_t old = phys_read8(pa), v = (uint8_t)(old ^ 0xa5);
	bool ok;

	phys_write8(pa, v);
	ok = phys_read8(pa) == v;
	phys_write8(pa, old);
	return ok;
}

static void check_map(const struct hvm_start_info *si, uint64_t mem)
{
	const struct hvm_memmap_table_entry *e = (const void *)si->memmap_paddr;
	uint64_t ram = 0, low_ram = 0, slack, high_ram = 0, prev_end = 0;
	bool sorted = true, low_hole_ok = true, pci_hole_ok = true, rw_ok = true;
	uint32_t i;

	for (i = 0; i < si->memmap_entries; i++) {
		printf_("  [%u] 0x%012lx-0x%012lx type %u\n", i, e[i].addr,
			e[i].addr + e[i].size, e[i].type);
		if (i && e[i].addr < prev_end)
			sorted = false;
		prev_end = e[i].addr + e[i].size;
		if (e[i].type != E820_RAM)
			continue;
		ram += e[i].size;
		if (e[i].addr < LOW_SLACK_END)
			low_ram += (e[i].addr + e[i].size > LOW_SLACK_END ?
				    LOW_SLACK_END : e[i].addr + e[i].size) - e[i].addr;
		if (e[i].addr >= SZ_4G)
			high_ram += e[i].size;
		if (overlaps(e[i].addr, e[i].size, LEGACY_HOLE_START,
			     LEGACY_HOLE_END - LEGACY_HOLE_START))
			low_hole_ok = false;
		if (overlaps(e[i].addr, e[i].size, PCI_HOLE_START,
			     SZ_4G - PCI_HOLE_START))
			pci_hole_ok = false;
		if (e[i].size && (!touch_byte(e[i].addr) ||
				  !touch_byte(e[i].addr + e[i].size - 1))) {
			printf_("  [%u] write/read-back failed\n", i);
			rw_ok = false;
		}
	}
	/* mem= bytes of RAM, less what the map does not show below 1 MiB. */
	slack = LOW_SLACK_END - low_ram;
	check(sorted, "memory map sorted and non-overlapping");
	check(ram <= mem && mem - ram <= slack,
	      "RAM total 0x%lx = mem 0x%lx less at most 0x%lx of holes below 1 MiB",
	      ram, mem, slack);
	check(low_hole_ok, "no RAM in [0xa0000, 0x100000)");
	check(pci_hole_ok, "no RAM in [3 GiB, 4 GiB)");
	if (mem > PCI_HOLE_START)
		check(high_ram >= mem - PCI_HOLE_START,
		      "RAM above 4 GiB: 0x%lx, want at least 0x%lx",
		      high_ram, mem - PCI_HOLE_START);
	else
		check(high_ram == 0, "no RAM above 4 GiB with mem <= 3 GiB");
	check(rw_ok, "first and last byte of each RAM region read back");
}

static bool in_ram(const struct hvm_start_info *si, uint64_t pa, uint64_t len)
{
	const struct hvm_memmap_table_entry *e = (const void *)si->memmap_paddr;
	uint32_t i;

	for (i = 0; i < si->memmap_entries; i++)
		if (e[i].type == E820_RAM && pa >= e[i].addr &&
		    pa + len <= e[i].addr + e[i].size)
			return true;
	return false;
}

static void check_module(const struct hvm_start_info *si, const char *cl)
{
	const struct hvm_modlist_entry *m = (const void *)si->modlist_paddr;
	uint64_t want_size, want_sum, i;
	uint32_t sum = 0;
	const uint8_t *p;

	if (!cmdline_u64(cl, "initrd_size", &want_size) ||
	    !cmdline_u64(cl, "initrd_sum", &want_sum)) {
		check(si->nr_modules == 0, "no module without --initrd (nr_modules %u)",
		      si->nr_modules);
		return;
	}
	if (!check(si->nr_modules == 1 && m, "one module (nr_modules %u)",
		   si->nr_modules))
		return;
	printf_("  module at 0x%lx, %lu bytes\n", m->paddr, m->size);
	check(m->size == want_size, "module size %lu, want %lu", m->size, want_size);
	if (!check(m->paddr + m->size <= SZ_4G && in_ram(si, m->paddr, m->size),
		   "module inside RAM below 4 GiB"))
		return;
	p = (const uint8_t *)m->paddr;
	for (i = 0; i < m->size; i++)
		sum += p[i];
	check(sum == want_sum, "module byte sum %u, want %lu", sum, want_sum);
}

int guest_main(const struct hvm_start_info *si)
{
	const char *cl = cmdline(si);
	uint64_t mem = 0;
	bool have_mem;

	printf_("memmap: cmdline \"%s\"\n", cl);
	check(si->magic == HVM_START_MAGIC, "start_info magic 0x%x", si->magic);
	if (!check(si->version >= 1, "start_info version %u >= 1", si->version))
		finish("memmap");
	if (!check(si->memmap_paddr && si->memmap_entries,
		   "memory map at 0x%lx, %u entries", si->memmap_paddr,
		   si->memmap_entries))
		finish("memmap");
	have_mem = cmdline_u64(cl, "mem", &mem);
	if (!check(have_mem, "mem=%lu on the cmdline", mem))
		finish("memmap");
	check_map(si, mem);
	check_module(si, cl);
	finish("memmap");
}
