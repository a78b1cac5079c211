// SPDX-License-Identifier: MIT
/*
 * x86-64 kernel loading. Three kinds of kernel, two ways in:
 *
 *  - bzImage: the payload (vmlinux ELF) is inflated here when we link its
 *    compressor and entered at its 64-bit entry; otherwise the protected-mode
 *    code is loaded as is and entered at its 64-bit entry (load + 0x200),
 *    letting the kernel decompress itself.
 *  - vmlinux ELF: segments at p_paddr, 64-bit entry, synthesized zero page.
 *  - PVH ELF (Xen PHYS32_ENTRY note): 32-bit entry with hvm_start_info.
 *
 * The kernel and initrd are user input: every offset and size is checked
 * before use and every failure names the file and the reason.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"

/* Documentation/arch/x86/boot.rst: the setup header, at 0x1f1. */
struct setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

/* Documentation/arch/x86/zero-page.rst: only the fields skiff fills. */
struct boot_params {
	uint8_t _pad0[0x070];
	uint64_t acpi_rsdp_addr;		/* 0x070 */
	uint8_t _pad1[0x0c0 - 0x078];
	uint32_t ext_ramdisk_image;		/* 0x0c0 */
	uint32_t ext_ramdisk_size;		/* 0x0c4 */
	uint32_t ext_cmd_line_ptr;		/* 0x0c8 */
	uint8_t _pad2[0x1e8 - 0x0cc];
	uint8_t e820_entries;			/* 0x1e8 */
	uint8_t _pad3[0x1f1 - 0x1e9];
	struct setup_header hdr;		/* 0x1f1 */
	uint8_t _pad4[0x2d0 - 0x26c];
	struct e820_entry e820_table[E820_MAX_ENTRIES];	/* 0x2d0 */
	uint8_t _pad5[0x1000 - 0xcd0];
} __attribute__((packed));

_Static_assert(sizeof(struct setup_header) == 0x26c - 0x1f1, "setup_header");
_Static_assert(__builtin_offsetof(struct setup_header, pref_address) ==
	       0x258 - 0x1f1, "pref_address");
_Static_assert(__builtin_offsetof(struct boot_params, hdr) == 0x1f1, "hdr");
_Static_assert(__builtin_offsetof(struct boot_params, e820_table) == 0x2d0,
	       "e820_table");
_Static_assert(sizeof(struct boot_params) == 0x1000, "boot_params");

#define SETUP_HDR_OFF		0x1f1
#define SETUP_HDR_MAGIC		0x53726448u	/* "HdrS" */
#define BOOT_FLAG_MAGIC		0xaa55
#define BOOT_PROTO_MIN		0x020a
#define BOOT_PROTO_SYNTH	0x020f
#define LOADER_TYPE_UNKNOWN	0xff
#define LOADED_HIGH		0x01
#define XLF_KERNEL_64		0x0001
#define ENTRY64_OFFSET		0x200
#define INITRD_ADDR_MAX_OLD	0x37ffffffu

/* xen/include/public/arch-x86/hvm/start_info.h, version 1. */
#define HVM_START_MAGIC		0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;		/* XEN_HVM_MEMMAP_TYPE_*: same numbers as e820 */
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");
_Static_assert(PVH_MEMMAP_ADDR + PVH_MEMMAP_MAX * sizeof(struct hvm_memmap_entry)
	       <= PVH_MODLIST_ADDR, "PVH memmap overlaps the module list");

/* Host-side decompression output cap, on top of the guest's low RAM. */
#define DECOMPRESS_MAX		(1ULL << 30)

struct loader {
	struct guest_mem *mem;
	const struct boot_load_args *args;
	struct boot_result *out;
	const char *kname;
	uint64_t low_end;	/* end of RAM below 4 GiB */
	char *err;
	size_t errlen;
};

struct elf_image {
	const uint8_t *data;
	size_t len;
	Elf64_Ehdr eh;
	unsigned int nr_load;
	uint64_t lowest;	/* lowest p_paddr */
	uint64_t end;		/* highest p_paddr + p_memsz */
	uint64_t entry;		/* physical 64-bit entry (from e_entry) */
	bool pvh;
	uint64_t pvh_entry;
};

static double mib(uint64_t bytes)
{
	return (double)bytes / (double)SZ_1M;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

__attribute__((format(printf, 2, 3)))
static int fail(const struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (ld->err && ld->errlen)
		vsnprintf(ld->err, ld->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- e820 ---- */

static void e820_add(struct e820_entry *tab, unsigned int *n, uint64_t start,
		     uint64_t end, uint32_t type)
{
	if (end <= start || *n >= E820_MAX_ENTRIES)
		return;
	tab[*n] = (struct e820_entry){ .addr = start, .size = end - start,
				       .type = type };
	(*n)++;
}

unsigned int x86_e820_build(const struct guest_mem *mem,
			    struct e820_entry *out, unsigned int max)
{
	struct e820_entry tab[E820_MAX_ENTRIES];
	unsigned int n = 0, i, j;

	for (i = 0; i < mem->nr_regions && i < MEM_MAX_REGIONS; i++) {
		uint64_t start = mem->regions[i].gpa;
		uint64_t end = start + mem->regions[i].size;

		/* The EBDA, VGA/ROM hole and BIOS area are never RAM. */
		if (start < EBDA_START)
			e820_add(tab, &n, start, min_u64(end, EBDA_START), E820_RAM);
		e820_add(tab, &n, start > SZ_1M ? start : SZ_1M, end, E820_RAM);
	}
	e820_add(tab, &n, EBDA_START, 0xa0000, E820_RESERVED);
	e820_add(tab, &n, ACPI_TABLES_ADDR, ACPI_TABLES_END, E820_RESERVED);
	/* Linux uses ECAM only where firmware reserved it. */
	e820_add(tab, &n, PCI_ECAM_BASE, PCI_ECAM_BASE + PCI_ECAM_SIZE, E820_RESERVED);

	for (i = 1; i < n; i++) {
		struct e820_entry e = tab[i];

		for (j = i; j > 0 && tab[j - 1].addr > e.addr; j--)
			tab[j] = tab[j - 1];
		tab[j] = e;
	}
	if (n > max)
		n = max;
	memcpy(out, tab, n * sizeof(*out));
	return n;
}

/* ---- ELF ---- */

static int parse_notes(const struct loader *ld, const char *what,
		       const uint8_t *p, uint64_t n, uint64_t align,
		       struct elf_image *img)
{
	uint64_t off = 0;

	while (n - off >= 12) {
		uint32_t namesz = get_le32(p + off);
		uint32_t descsz = get_le32(p + off + 4);
		uint32_t type = get_le32(p + off + 8);
		uint64_t name_span = align_up(namesz, align);
		uint64_t desc_span = align_up(descsz, align);
		const uint8_t *name, *desc;

		off += 12;
		if (name_span > n - off)
			return fail(ld, "%s: %sELF note name size %u runs past the end of its PT_NOTE segment",
				    ld->kname, what, namesz);
		name = p + off;
		off += name_span;
		if (descsz > n - off)
			return fail(ld, "%s: %sELF note descriptor size %u runs past the end of its PT_NOTE segment",
				    ld->kname, what, descsz);
		desc = p + off;
		off += min_u64(desc_span, n - off);

		if (namesz != 4 || memcmp(name, "Xen", 4) ||
		    type != XEN_ELFNOTE_PHYS32_ENTRY)
			continue;
		if (descsz == 4)
			img->pvh_entry = get_le32(desc);
		else if (descsz == 8)
			img->pvh_entry = get_le64(desc);
		else
			return fail(ld, "%s: %sXen PHYS32_ENTRY note has a %u-byte value (need 4 or 8)",
				    ld->kname, what, descsz);
		img->pvh = true;
	}
	return 0;
}

static void get_phdr(const struct elf_image *img, unsigned int i, Elf64_Phdr *ph)
{
	memcpy(ph, img->data + img->eh.e_phoff + (uint64_t)i * sizeof(*ph),
	       sizeof(*ph));
}

static int check_load_segment(const struct loader *ld, const char *what,
			      const struct elf_image *img, unsigned int i,
			      const Elf64_Phdr *ph)
{
	if (ph->p_offset > img->len || ph->p_filesz > img->len - ph->p_offset)
		return fail(ld, "%s: %sPT_LOAD segment %u (offset 0x%llx, 0x%llx bytes) extends past the end of the file (%zu bytes)",
			    ld->kname, what, i, (unsigned long long)ph->p_offset,
			    (unsigned long long)ph->p_filesz, img->len);
	if (ph->p_filesz > ph->p_memsz)
		return fail(ld, "%s: %sPT_LOAD segment %u has p_filesz 0x%llx larger than p_memsz 0x%llx",
			    ld->kname, what, i, (unsigned long long)ph->p_filesz,
			    (unsigned long long)ph->p_memsz);
	if (ph->p_memsz > UINT64_MAX - ph->p_paddr)
		return fail(ld, "%s: %sPT_LOAD segment %u: p_paddr 0x%llx + p_memsz 0x%llx overflows",
			    ld->kname, what, i, (unsigned long long)ph->p_paddr,
			    (unsigned long long)ph->p_memsz);
	if (ph->p_paddr < SZ_1M)
		return fail(ld, "%s: %sPT_LOAD segment %u at 0x%llx is below 1 MiB",
			    ld->kname, what, i, (unsigned long long)ph->p_paddr);
	if (ph->p_paddr + ph->p_memsz > ld->low_end)
		return fail(ld, "%s: %sPT_LOAD segment %u [0x%llx-0x%llx) does not fit in guest RAM below 4 GiB (ends at 0x%llx, %llu MiB RAM)",
			    ld->kname, what, i, (unsigned long long)ph->p_paddr,
			    (unsigned long long)(ph->p_paddr + ph->p_memsz),
			    (unsigned long long)ld->low_end,
			    (unsigned long long)(ld->mem->ram_size / SZ_1M));
	return 0;
}

/* Physical address of addr: a p_paddr inside a segment, else via p_vaddr. */
static bool elf_phys_addr(const struct elf_image *img, uint64_t addr,
			  bool allow_virt, uint64_t *phys)
{
	unsigned int i, pass;

	for (pass = 0; pass < (allow_virt ? 2u : 1u); pass++) {
		for (i = 0; i < img->eh.e_phnum; i++) {
			Elf64_Phdr ph;
			uint64_t base;

			get_phdr(img, i, &ph);
			if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
				continue;
			base = pass == 0 ? ph.p_paddr : ph.p_vaddr;
			if (addr >= base && addr - base < ph.p_memsz) {
				*phys = ph.p_paddr + (addr - base);
				return true;
			}
		}
	}
	return false;
}

/* Validate everything about an ELF kernel before touching guest memory. */
static int elf_parse(const struct loader *ld, const char *what,
		     const uint8_t *data, size_t len, struct elf_image *img)
{
	Elf64_Ehdr *eh = &img->eh;
	unsigned int i;

	memset(img, 0, sizeof(*img));
	img->data = data;
	img->len = len;
	img->lowest = UINT64_MAX;
	if (len < SELFMAG || memcmp(data, ELFMAG, SELFMAG))
		return fail(ld, "%s: %snot an ELF file (bad magic)", ld->kname, what);
	if (len < sizeof(*eh))
		return fail(ld, "%s: %sELF header truncated (%zu bytes)",
			    ld->kname, what, len);
	memcpy(eh, data, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return fail(ld, "%s: %sELF class %u is not ELF64 (only 64-bit x86 kernels are supported)",
			    ld->kname, what, eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(ld, "%s: %sELF is not little-endian", ld->kname, what);
	if (eh->e_machine != EM_X86_64)
		return fail(ld, "%s: %sELF machine %u is not x86-64",
			    ld->kname, what, eh->e_machine);
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return fail(ld, "%s: %sELF type %u is not an executable",
			    ld->kname, what, eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return fail(ld, "%s: %sELF e_phentsize %u is not %zu",
			    ld->kname, what, eh->e_phentsize, sizeof(Elf64_Phdr));
	if (eh->e_phnum == 0 || eh->e_phnum == PN_XNUM)
		return fail(ld, "%s: %sELF has %s program headers", ld->kname,
			    what, eh->e_phnum ? "too many" : "no");
	if (eh->e_phoff > len ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
		return fail(ld, "%s: %sELF program headers (offset 0x%llx, %u entries) extend past the end of the file (%zu bytes)",
			    ld->kname, what, (unsigned long long)eh->e_phoff,
			    eh->e_phnum, len);

	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		int ret;

		get_phdr(img, i, &ph);
		if (ph.p_type == PT_NOTE) {
			if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
				return fail(ld, "%s: %sPT_NOTE segment %u (offset 0x%llx, 0x%llx bytes) extends past the end of the file",
					    ld->kname, what, i,
					    (unsigned long long)ph.p_offset,
					    (unsigned long long)ph.p_filesz);
			ret = parse_notes(ld, what, data + ph.p_offset, ph.p_filesz,
					  ph.p_align == 8 ? 8 : 4, img);
			if (ret)
				return ret;
			continue;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		ret = check_load_segment(ld, what, img, i, &ph);
		if (ret)
			return ret;
		img->nr_load++;
		if (ph.p_paddr < img->lowest)
			img->lowest = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > img->end)
			img->end = ph.p_paddr + ph.p_memsz;
	}
	if (img->nr_load == 0)
		return fail(ld, "%s: %sELF has no loadable segments", ld->kname, what);

	if (img->pvh && !elf_phys_addr(img, img->pvh_entry, false, &img->pvh_entry))
		return fail(ld, "%s: %sPVH entry 0x%llx is not inside any PT_LOAD segment",
			    ld->kname, what, (unsigned long long)img->pvh_entry);
	if (!elf_phys_addr(img, eh->e_entry, true, &img->entry) && !img->pvh)
		return fail(ld, "%s: %sELF entry 0x%llx is not inside any PT_LOAD segment",
			    ld->kname, what, (unsigned long long)eh->e_entry);
	return 0;
}

static int elf_load(const struct loader *ld, const struct elf_image *img)
{
	unsigned int i;

	for (i = 0; i < img->eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;

		get_phdr(img, i, &ph);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		dst = gpa_ptr(ld->mem, ph.p_paddr, ph.p_memsz);
		if (!dst)
			return fail(ld, "%s: PT_LOAD segment %u at 0x%llx is not in guest RAM",
				    ld->kname, i, (unsigned long long)ph.p_paddr);
		memcpy(dst, img->data + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	return 0;
}

/* ---- command line, initrd, boot structures ---- */

static int write_cmdline(const struct loader *ld, uint64_t max_len)
{
	const char *cmdline = ld->args->cmdline ? ld->args->cmdline : "";
	size_t len = strlen(cmdline);

	if (max_len > CMDLINE_MAX - 1)
		max_len = CMDLINE_MAX - 1;
	if (len > max_len)
		return fail(ld, "%s: command line is %zu bytes, longer than the kernel's limit of %llu",
			    ld->kname, len, (unsigned long long)max_len);
	if (!gpa_write(ld->mem, CMDLINE_ADDR, cmdline, len + 1))
		return fail(ld, "%s: guest RAM too small for the command line at 0x%llx",
			    ld->kname, (unsigned long long)CMDLINE_ADDR);
	return 0;
}

/* As high as possible below limit, page-aligned, above the kernel. */
static int place_initrd(const struct loader *ld, uint64_t kernel_end,
			uint64_t limit)
{
	const char *name = ld->args->initrd_name ? ld->args->initrd_name : "initrd";
	uint64_t len = ld->args->initrd_len, floor, gpa;

	ld->out->initrd_gpa = 0;
	if (!ld->args->initrd)
		return 0;
	if (len == 0)
		return fail(ld, "%s: is empty", name);
	limit = min_u64(min_u64(limit, ld->low_end), SZ_4G);
	floor = align_up(kernel_end, 0x1000);
	if (len > limit || ((limit - len) & ~0xfffULL) < floor)
		return fail(ld, "%s: %.1f MiB initrd does not fit in guest memory (%llu MiB RAM) between the kernel end 0x%llx and 0x%llx",
			    name, mib(len),
			    (unsigned long long)(ld->mem->ram_size / SZ_1M),
			    (unsigned long long)floor, (unsigned long long)limit);
	gpa = (limit - len) & ~0xfffULL;
	if (!gpa_write(ld->mem, gpa, ld->args->initrd, len))
		return fail(ld, "%s: initrd range 0x%llx+0x%llx is not guest RAM",
			    name, (unsigned long long)gpa, (unsigned long long)len);
	ld->out->initrd_gpa = gpa;
	return 0;
}

static int write_zero_page(const struct loader *ld, const struct setup_header *hdr)
{
	struct boot_params bp;
	uint64_t initrd = ld->out->initrd_gpa;
	uint64_t initrd_len = initrd ? ld->args->initrd_len : 0;

	memset(&bp, 0, sizeof(bp));
	bp.hdr = *hdr;
	bp.hdr.type_of_loader = LOADER_TYPE_UNKNOWN;
	bp.hdr.loadflags |= LOADED_HIGH;
	bp.hdr.cmd_line_ptr = (uint32_t)CMDLINE_ADDR;
	bp.ext_cmd_line_ptr = (uint32_t)(CMDLINE_ADDR >> 32);
	bp.hdr.ramdisk_image = (uint32_t)initrd;
	bp.ext_ramdisk_image = (uint32_t)(initrd >> 32);
	bp.hdr.ramdisk_size = (uint32_t)initrd_len;
	bp.ext_ramdisk_size = (uint32_t)(initrd_len >> 32);
	bp.acpi_rsdp_addr = ld->args->rsdp_gpa;
	bp.e820_entries = (uint8_t)x86_e820_build(ld->mem, bp.e820_table,
						  E820_MAX_ENTRIES);
	if (!gpa_write(ld->mem, ZERO_PAGE_ADDR, &bp, sizeof(bp)))
		return fail(ld, "%s: guest RAM too small for the zero page at 0x%llx",
			    ld->kname, (unsigned long long)ZERO_PAGE_ADDR);
	ld->out->entry_kind = BOOT_ENTRY_LINUX64;
	ld->out->boot_data = ZERO_PAGE_ADDR;
	return 0;
}

static int write_pvh_start_info(const struct loader *ld)
{
	struct e820_entry e820[E820_MAX_ENTRIES];
	struct hvm_memmap_entry memmap[PVH_MEMMAP_MAX];
	struct hvm_start_info si;
	unsigned int n, i;

	memset(&si, 0, sizeof(si));
	memset(memmap, 0, sizeof(memmap));
	n = x86_e820_build(ld->mem, e820, PVH_MEMMAP_MAX);
	for (i = 0; i < n; i++) {
		memmap[i].addr = e820[i].addr;
		memmap[i].size = e820[i].size;
		memmap[i].type = e820[i].type;
	}
	si.magic = HVM_START_MAGIC;
	si.version = 1;
	si.cmdline_paddr = CMDLINE_ADDR;
	si.rsdp_paddr = ld->args->rsdp_gpa;
	si.memmap_paddr = PVH_MEMMAP_ADDR;
	si.memmap_entries = n;
	if (ld->out->initrd_gpa) {
		struct hvm_modlist_entry mod = {
			.paddr = ld->out->initrd_gpa,
			.size = ld->args->initrd_len,
		};

		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_ADDR;
		if (!gpa_write(ld->mem, PVH_MODLIST_ADDR, &mod, sizeof(mod)))
			return fail(ld, "%s: guest RAM too small for the PVH module list",
				    ld->kname);
	}
	if (!gpa_write(ld->mem, PVH_MEMMAP_ADDR, memmap, n * sizeof(memmap[0])) ||
	    !gpa_write(ld->mem, PVH_START_INFO_ADDR, &si, sizeof(si)))
		return fail(ld, "%s: guest RAM too small for hvm_start_info",
			    ld->kname);
	ld->out->entry_kind = BOOT_ENTRY_PVH;
	ld->out->boot_data = PVH_START_INFO_ADDR;
	return 0;
}

static void append_initrd_desc(const struct loader *ld)
{
	struct boot_result *out = ld->out;
	size_t used = strlen(out->desc);

	if (!out->initrd_gpa || used >= sizeof(out->desc))
		return;
	snprintf(out->desc + used, sizeof(out->desc) - used,
		 ", initrd %.1f MiB at 0x%llx", mib(ld->args->initrd_len),
		 (unsigned long long)out->initrd_gpa);
}

/* ---- vmlinux / PVH ELF ---- */

static int load_elf(const struct loader *ld)
{
	struct boot_result *out = ld->out;
	struct elf_image img;
	int ret;

	ret = elf_parse(ld, "", ld->args->kernel, ld->args->kernel_len, &img);
	if (!ret)
		ret = write_cmdline(ld, CMDLINE_MAX - 1);
	if (!ret)
		ret = elf_load(ld, &img);
	if (ret)
		return ret;
	out->kernel_end = img.end;
	ret = place_initrd(ld, img.end, SZ_4G);
	if (ret)
		return ret;

	if (img.pvh) {
		ret = write_pvh_start_info(ld);
		out->format = KERNEL_ELF_PVH;
		out->entry = img.pvh_entry;
	} else {
		struct setup_header hdr;

		/* What a bzImage's header would say, for a kernel without one. */
		memset(&hdr, 0, sizeof(hdr));
		hdr.boot_flag = BOOT_FLAG_MAGIC;
		hdr.header = SETUP_HDR_MAGIC;
		hdr.version = BOOT_PROTO_SYNTH;
		hdr.cmdline_size = CMDLINE_MAX - 1;
		hdr.initrd_addr_max = (uint32_t)(min_u64(ld->low_end, SZ_4G) - 1);
		hdr.kernel_alignment = 0x200000;
		ret = write_zero_page(ld, &hdr);
		out->format = KERNEL_ELF_VMLINUX;
		out->entry = img.entry;
	}
	if (ret)
		return ret;
	snprintf(out->desc, sizeof(out->desc),
		 "%s, %u PT_LOAD segment%s [0x%llx-0x%llx), %d-bit entry at 0x%llx",
		 img.pvh ? "PVH ELF" : "ELF vmlinux", img.nr_load,
		 img.nr_load == 1 ? "" : "s", (unsigned long long)img.lowest,
		 (unsigned long long)img.end, img.pvh ? 32 : 64,
		 (unsigned long long)out->entry);
	append_initrd_desc(ld);
	return 0;
}

/* ---- bzImage ---- */

struct bzimage {
	struct setup_header hdr;	/* as in the file */
	struct setup_header zp_hdr;	/* the part the zero page gets */
	const uint8_t *pm;		/* protected-mode code */
	size_t pm_len;
	unsigned int proto_major, proto_minor;
};

static int bzimage_parse(const struct loader *ld, struct bzimage *bz)
{
	const uint8_t *k = ld->args->kernel;
	size_t len = ld->args->kernel_len;
	struct setup_header *hdr = &bz->hdr;
	uint64_t setup_sects, setup_size, hdr_end;

	if (len < SETUP_HDR_OFF + sizeof(*hdr))
		return fail(ld, "%s: bzImage setup header truncated (%zu bytes)",
			    ld->kname, len);
	memcpy(hdr, k + SETUP_HDR_OFF, sizeof(*hdr));
	if (hdr->boot_flag != BOOT_FLAG_MAGIC)
		return fail(ld, "%s: bad bzImage boot_flag 0x%04x (want 0xaa55)",
			    ld->kname, hdr->boot_flag);
	bz->proto_major = hdr->version >> 8;
	bz->proto_minor = hdr->version & 0xff;
	if (hdr->version < BOOT_PROTO_MIN)
		return fail(ld, "%s: boot protocol %u.%02u is too old (need 2.10 or later)",
			    ld->kname, bz->proto_major, bz->proto_minor);

	setup_sects = hdr->setup_sects ? hdr->setup_sects : 4;
	setup_size = (setup_sects + 1) * 512;
	if (setup_size >= len)
		return fail(ld, "%s: setup code (%llu sectors) extends past the end of the file (%zu bytes)",
			    ld->kname, (unsigned long long)setup_sects, len);
	bz->pm = k + setup_size;
	bz->pm_len = len - setup_size;

	/* The header ends where the jump at 0x200 lands. */
	bz->zp_hdr = *hdr;
	hdr_end = 0x202 + (uint64_t)k[0x201];
	if (hdr_end < SETUP_HDR_OFF + sizeof(*hdr))
		memset((uint8_t *)&bz->zp_hdr + (hdr_end - SETUP_HDR_OFF), 0,
		       SETUP_HDR_OFF + sizeof(*hdr) - hdr_end);

	if ((uint64_t)hdr->payload_offset + hdr->payload_length > bz->pm_len)
		return fail(ld, "%s: payload (offset 0x%x, 0x%x bytes) extends past the protected-mode code (0x%zx bytes)",
			    ld->kname, hdr->payload_offset, hdr->payload_length,
			    bz->pm_len);
	return 0;
}

static uint64_t bzimage_initrd_limit(const struct setup_header *hdr)
{
	uint32_t max = hdr->initrd_addr_max ? hdr->initrd_addr_max
					    : INITRD_ADDR_MAX_OLD;

	return (uint64_t)max + 1;
}

static int bzimage_host_decompressed(const struct loader *ld, struct bzimage *bz,
				     const uint8_t *vmlinux, size_t vmlinux_len,
				     const char *fmt)
{
	struct boot_result *out = ld->out;
	struct elf_image img;
	int ret;

	ret = elf_parse(ld, "decompressed payload: ", vmlinux, vmlinux_len, &img);
	if (!ret)
		ret = elf_load(ld, &img);
	if (ret)
		return ret;
	out->format = KERNEL_BZIMAGE_HOST_DECOMPRESSED;
	out->entry = img.entry;
	out->kernel_end = img.end;
	snprintf(out->desc, sizeof(out->desc),
		 "bzImage protocol %u.%02u, %s payload decompressed on the host (%.1f MiB vmlinux), 64-bit entry at 0x%llx",
		 bz->proto_major, bz->proto_minor, fmt, mib(vmlinux_len),
		 (unsigned long long)out->entry);
	return 0;
}

/*
 * boot.rst: a relocatable kernel runs at its load address rounded up to
 * kernel_alignment (never below pref_address), a fixed one at pref_address;
 * it needs init_size bytes from there before it looks at the memory map.
 */
static uint64_t bzimage_runtime_start(const struct setup_header *hdr,
				      uint64_t load)
{
	uint64_t align = hdr->kernel_alignment;

	if (!hdr->relocatable_kernel)
		return hdr->pref_address;
	if (load < hdr->pref_address)
		load = hdr->pref_address;
	if (align && !(align & (align - 1)) && load <= UINT64_MAX - align)
		load = align_up(load, align);
	return load;
}

static int bzimage_entry64(const struct loader *ld, struct bzimage *bz,
			   const char *fmt)
{
	const struct setup_header *hdr = &bz->hdr;
	struct boot_result *out = ld->out;
	uint64_t load, run;

	if (!(hdr->xloadflags & XLF_KERNEL_64))
		return fail(ld, "%s: %s payload cannot be decompressed by skiff and the kernel has no 64-bit entry point (XLF_KERNEL_64 not set)",
			    ld->kname, fmt);
	if (hdr->relocatable_kernel)
		load = hdr->pref_address;
	else
		load = hdr->code32_start ? hdr->code32_start : KERNEL_DEFAULT_ADDR;
	if (load < SZ_1M)
		return fail(ld, "%s: load address 0x%llx is below 1 MiB",
			    ld->kname, (unsigned long long)load);
	if (load > ld->low_end || bz->pm_len > ld->low_end - load)
		return fail(ld, "%s: 0x%zx bytes of kernel at 0x%llx do not fit in guest RAM below 4 GiB (ends at 0x%llx, %llu MiB RAM)",
			    ld->kname, bz->pm_len, (unsigned long long)load,
			    (unsigned long long)ld->low_end,
			    (unsigned long long)(ld->mem->ram_size / SZ_1M));
	run = bzimage_runtime_start(hdr, load);
	if (run < SZ_1M || run > ld->low_end || hdr->init_size > ld->low_end - run)
		return fail(ld, "%s: kernel needs 0x%x bytes (init_size) at 0x%llx, beyond guest RAM below 4 GiB (ends at 0x%llx, %llu MiB RAM)",
			    ld->kname, hdr->init_size, (unsigned long long)run,
			    (unsigned long long)ld->low_end,
			    (unsigned long long)(ld->mem->ram_size / SZ_1M));
	if (!gpa_write(ld->mem, load, bz->pm, bz->pm_len))
		return fail(ld, "%s: load address 0x%llx is not guest RAM",
			    ld->kname, (unsigned long long)load);
	bz->zp_hdr.code32_start = (uint32_t)load;
	out->format = KERNEL_BZIMAGE_ENTRY64;
	out->entry = load + ENTRY64_OFFSET;
	out->kernel_end = run + hdr->init_size;
	if (load + bz->pm_len > out->kernel_end)
		out->kernel_end = load + bz->pm_len;
	snprintf(out->desc, sizeof(out->desc),
		 "bzImage protocol %u.%02u, %s payload (guest decompresses), loaded at 0x%llx, 64-bit entry at 0x%llx",
		 bz->proto_major, bz->proto_minor, fmt, (unsigned long long)load,
		 (unsigned long long)out->entry);
	return 0;
}

static int load_bzimage(const struct loader *ld)
{
	struct bzimage bz;
	uint8_t *vmlinux = NULL;
	size_t vmlinux_len = 0;
	const char *fmt = "unknown";
	int ret, dret = -ENOTSUP;

	ret = bzimage_parse(ld, &bz);
	if (!ret)
		ret = write_cmdline(ld, bz.hdr.cmdline_size);
	if (ret)
		return ret;

	if (bz.hdr.payload_length)
		dret = x86_decompress(bz.pm + bz.hdr.payload_offset,
				      bz.hdr.payload_length, &vmlinux, &vmlinux_len,
				      min_u64(ld->low_end, DECOMPRESS_MAX), &fmt);
	switch (dret) {
	case 0:
		ret = bzimage_host_decompressed(ld, &bz, vmlinux, vmlinux_len, fmt);
		free(vmlinux);
		break;
	case -ENOTSUP:
		ret = bzimage_entry64(ld, &bz, fmt);
		break;
	case -E2BIG:
		return fail(ld, "%s: %s payload decompresses to more than %llu MiB",
			    ld->kname, fmt,
			    (unsigned long long)(min_u64(ld->low_end, DECOMPRESS_MAX) / SZ_1M));
	case -ENOMEM:
		return fail(ld, "%s: out of memory decompressing the %s payload",
			    ld->kname, fmt);
	default:
		return fail(ld, "%s: corrupt %s payload", ld->kname, fmt);
	}
	if (ret)
		return ret;
	ret = place_initrd(ld, ld->out->kernel_end, bzimage_initrd_limit(&bz.hdr));
	if (!ret)
		ret = write_zero_page(ld, &bz.zp_hdr);
	if (ret)
		return ret;
	append_initrd_desc(ld);
	return 0;
}

/* ---- entry points ---- */

int x86_boot_load(struct guest_mem *mem, const struct boot_load_args *args,
		  struct boot_result *out, char *err, size_t errlen)
{
	struct loader ld = {
		.mem = mem,
		.args = args,
		.out = out,
		.kname = args->kernel_name ? args->kernel_name : "kernel",
		.low_end = guest_mem_low_end(mem),
		.err = err,
		.errlen = errlen,
	};
	const uint8_t *k = args->kernel;
	size_t len = args->kernel ? args->kernel_len : 0;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (len == 0)
		return fail(&ld, "%s: is empty", ld.kname);
	if (len >= SELFMAG && !memcmp(k, ELFMAG, SELFMAG))
		return load_elf(&ld);
	if (len >= 0x206 && get_le32(k + 0x202) == SETUP_HDR_MAGIC)
		return load_bzimage(&ld);
	if (len >= 0x200 && k[0x1fe] == 0x55 && k[0x1ff] == 0xaa)
		return fail(&ld, "%s: boot sector without a \"HdrS\" setup header (boot protocol before 2.00 is not supported)",
			    ld.kname);
	return fail(&ld, "%s: not a bzImage or ELF kernel (bad magic)", ld.kname);
}

struct file_buf {
	uint8_t *data;
	size_t len;
	bool mapped;
};

#define NONREG_FILE_MAX (2ULL << 30)

static void file_buf_free(struct file_buf *fb)
{
	if (!fb->data)
		return;
	if (fb->mapped)
		munmap(fb->data, fb->len);
	else
		free(fb->data);
	fb->data = NULL;
}

/* Pipes and devices (e.g. <(zcat ...)): read until EOF, bounded. */
static int read_stream(int fd, const char *path, struct file_buf *fb,
		       char *err, size_t errlen)
{
	size_t cap = 1 << 20;
	uint8_t *buf = malloc(cap);

	if (!buf)
		goto nomem;
	fb->len = 0;
	for (;;) {
		ssize_t n;

		if (fb->len == cap) {
			uint8_t *p;

			if (cap >= NONREG_FILE_MAX) {
				free(buf);
				snprintf(err, errlen, "%s: larger than %llu MiB",
					 path, NONREG_FILE_MAX / SZ_1M);
				return -1;
			}
			p = realloc(buf, cap * 2);
			if (!p)
				goto nomem;
			buf = p;
			cap *= 2;
		}
		n = read(fd, buf + fb->len, cap - fb->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 strerror(errno));
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		fb->len += (size_t)n;
	}
	fb->data = buf;
	fb->mapped = false;
	return 0;
nomem:
	free(buf);
	snprintf(err, errlen, "%s: out of memory reading the file", path);
	return -1;
}

static int read_whole_file(const char *path, struct file_buf *fb, char *err,
			   size_t errlen)
{
	struct stat st;
	int fd, ret = 0;

	memset(fb, 0, sizeof(*fb));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		ret = -1;
	} else if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory", path);
		ret = -1;
	} else if (S_ISREG(st.st_mode)) {
		if (st.st_size == 0) {
			snprintf(err, errlen, "%s: is empty", path);
			ret = -1;
		} else if ((uint64_t)st.st_size > SIZE_MAX) {
			snprintf(err, errlen, "%s: too large", path);
			ret = -1;
		} else {
			void *p = mmap(NULL, (size_t)st.st_size, PROT_READ,
				       MAP_PRIVATE, fd, 0);

			if (p == MAP_FAILED) {
				snprintf(err, errlen, "%s: cannot read: %s", path,
					 strerror(errno));
				ret = -1;
			} else {
				fb->data = p;
				fb->len = (size_t)st.st_size;
				fb->mapped = true;
			}
		}
	} else {
		ret = read_stream(fd, path, fb, err, errlen);
		if (!ret && fb->len == 0) {
			file_buf_free(fb);
			snprintf(err, errlen, "%s: is empty", path);
			ret = -1;
		}
	}
	close(fd);
	return ret;
}

int x86_boot_load_files(struct guest_mem *mem, const char *kernel_path,
			const char *initrd_path, const char *cmdline,
			uint64_t rsdp_gpa, struct boot_result *out,
			char *err, size_t errlen)
{
	struct file_buf kernel, initrd = { 0 };
	struct boot_load_args args;
	int ret;

	memset(out, 0, sizeof(*out));
	if (read_whole_file(kernel_path, &kernel, err, errlen))
		return -1;
	if (initrd_path && read_whole_file(initrd_path, &initrd, err, errlen)) {
		file_buf_free(&kernel);
		return -1;
	}
	args = (struct boot_load_args){
		.kernel = kernel.data,
		.kernel_len = kernel.len,
		.kernel_name = kernel_path,
		.initrd = initrd.data,
		.initrd_len = initrd.len,
		.initrd_name = initrd_path,
		.cmdline = cmdline,
		.rsdp_gpa = rsdp_gpa,
	};
	ret = x86_boot_load(mem, &args, out, err, errlen);
	file_buf_free(&initrd);
	file_buf_free(&kernel);
	return ret;
}
