// SPDX-License-Identifier: MIT
/*
 * x86 kernel loading against synthetic kernels built here: a tiny ELF64
 * (vmlinux or PVH) and fake bzImages whose payload is that ELF compressed
 * with the real libraries at test time. Field offsets are written out from
 * boot.rst / zero-page.rst / start_info.h, independently of boot.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "vmm/memory.h"

/* zero page (boot_params) offsets */
#define ZP_ACPI_RSDP		0x070
#define ZP_EXT_RAMDISK_IMAGE	0x0c0
#define ZP_EXT_RAMDISK_SIZE	0x0c4
#define ZP_E820_ENTRIES		0x1e8
#define ZP_E820_TABLE		0x2d0
/* setup header offsets, in the file and in the zero page alike */
#define HDR_SETUP_SECTS		0x1f1
#define HDR_BOOT_FLAG		0x1fe
#define HDR_JUMP		0x200
#define HDR_MAGIC		0x202
#define HDR_VERSION		0x206
#define HDR_TYPE_OF_LOADER	0x210
#define HDR_LOADFLAGS		0x211
#define HDR_CODE32_START	0x214
#define HDR_RAMDISK_IMAGE	0x218
#define HDR_RAMDISK_SIZE	0x21c
#define HDR_CMD_LINE_PTR	0x228
#define HDR_INITRD_ADDR_MAX	0x22c
#define HDR_KERNEL_ALIGNMENT	0x230
#define HDR_RELOCATABLE		0x234
#define HDR_XLOADFLAGS		0x236
#define HDR_CMDLINE_SIZE	0x238
#define HDR_PAYLOAD_OFFSET	0x248
#define HDR_PAYLOAD_LENGTH	0x24c
#define HDR_PREF_ADDRESS	0x258
#define HDR_INIT_SIZE		0x260

/* ELF64 offsets */
#define EH_CLASS	4
#define EH_MACHINE	18
#define EH_ENTRY	24
#define EH_PHOFF	32
#define EH_PHENTSIZE	54
#define EH_PHNUM	56
#define PH_SIZE		56
#define PH_TYPE		0
#define PH_OFFSET	8
#define PH_VADDR	16
#define PH_PADDR	24
#define PH_FILESZ	32
#define PH_MEMSZ	40
#define PH_ALIGN	48

#define RAM_256M	(256ULL << 20)
#define KNAME		"vmlinux-test"
#define INAME		"initrd.img"

/* ---- little helpers ---- */

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint8_t *guest(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gpa_ptr(mem, gpa, len);

	assert_non_null(p);
	return p;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* ---- synthetic ELF kernels ---- */

#define ELF_NOTE_OFF	0x100
#define ELF_DATA_OFF	0x400

struct elf_opts {
	uint64_t paddr, vaddr, entry, filesz, memsz;
	unsigned int pvh_desc;		/* 0: no Xen note; else 4 or 8 */
	uint64_t pvh_entry;
	bool other_notes;		/* GNU and Linux notes before Xen's */
};

static const struct elf_opts elf_default = {
	.paddr = 0x1000000, .vaddr = 0x1000000, .entry = 0x1000000,
	.filesz = 0x3000, .memsz = 0x5000,
};

static size_t put_note(uint8_t *p, const char *name, uint32_t type,
		       const uint8_t *desc, uint32_t descsz)
{
	uint32_t namesz = strlen(name) + 1;
	size_t off = 12;

	put32(p, namesz);
	put32(p + 4, descsz);
	put32(p + 8, type);
	memcpy(p + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

static uint8_t *build_elf(const struct elf_opts *o, size_t *len)
{
	size_t total = ELF_DATA_OFF + o->filesz, i, note_len = 0;
	uint8_t *e = calloc(1, total);
	uint8_t *ph;

	assert_non_null(e);
	memcpy(e, "\x7f" "ELF", 4);
	e[EH_CLASS] = 2;		/* ELFCLASS64 */
	e[5] = 1;			/* little-endian */
	e[6] = 1;			/* EV_CURRENT */
	put16(e + 16, 2);		/* ET_EXEC */
	put16(e + EH_MACHINE, 62);	/* EM_X86_64 */
	put32(e + 20, 1);
	put64(e + EH_ENTRY, o->entry);
	put64(e + EH_PHOFF, 64);
	put16(e + 52, 64);		/* e_ehsize */
	put16(e + EH_PHENTSIZE, PH_SIZE);
	put16(e + EH_PHNUM, o->pvh_desc ? 2 : 1);

	ph = e + 64;
	put32(ph + PH_TYPE, 1);		/* PT_LOAD */
	put32(ph + 4, 7);
	put64(ph + PH_OFFSET, ELF_DATA_OFF);
	put64(ph + PH_VADDR, o->vaddr);
	put64(ph + PH_PADDR, o->paddr);
	put64(ph + PH_FILESZ, o->filesz);
	put64(ph + PH_MEMSZ, o->memsz);
	put64(ph + PH_ALIGN, 0x200000);
	for (i = 0; i < o->filesz; i++)
		e[ELF_DATA_OFF + i] = pattern(i);

	if (o->pvh_desc) {
		uint8_t *n = e + ELF_NOTE_OFF, desc[8];

		if (o->other_notes) {
			uint8_t gnu[20] = { 1, 2, 3 }, ver[4] = { 6 };

			note_len += put_note(n + note_len, "GNU", 3, gnu, sizeof(gnu));
			note_len += put_note(n + note_len, "Linux", 1, ver, 4);
		}
		put64(desc, o->pvh_entry);
		note_len += put_note(n + note_len, "Xen", 18, desc, o->pvh_desc);
		ph += PH_SIZE;
		put32(ph + PH_TYPE, 4);		/* PT_NOTE */
		put64(ph + PH_OFFSET, ELF_NOTE_OFF);
		put64(ph + PH_FILESZ, note_len);
		put64(ph + PH_MEMSZ, note_len);
		put64(ph + PH_ALIGN, 4);
	}
	*len = total;
	return e;
}

/* ---- compression, as the kernel build does it (size trailer appended) ---- */

enum fmt { FMT_GZIP, FMT_XZ, FMT_LZ4, FMT_ZSTD, FMT_COUNT };
static const char *const fmt_names[FMT_COUNT] = { "gzip", "xz", "lz4", "zstd" };

static uint8_t *pack(enum fmt f, const uint8_t *in, size_t len, size_t *out_len)
{
	size_t cap = len + len / 2 + (1u << 16), n = 0;
	uint8_t *out = malloc(cap + 4);

	assert_non_null(out);
	if (f == FMT_GZIP) {
		z_stream zs;

		memset(&zs, 0, sizeof(zs));
		assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS,
					      8, Z_DEFAULT_STRATEGY), Z_OK);
		zs.next_in = (Bytef *)in;
		zs.avail_in = len;
		zs.next_out = out;
		zs.avail_out = cap;
		assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
		n = zs.total_out;
		deflateEnd(&zs);
	} else if (f == FMT_XZ) {
		assert_int_equal(lzma_easy_buffer_encode(0, LZMA_CHECK_CRC32, NULL,
							 in, len, out, &n, cap),
				 LZMA_OK);
	} else if (f == FMT_LZ4) {
		size_t off;

		put32(out, 0x184c2102);
		n = 4;
		for (off = 0; off < len; off += 8u << 20) {
			size_t chunk = len - off < (8u << 20) ? len - off : 8u << 20;
			int c = LZ4_compress_default((const char *)in + off,
						     (char *)out + n + 4, (int)chunk,
						     (int)(cap - n - 4));

			assert_true(c > 0);
			put32(out + n, (uint32_t)c);
			n += 4 + (size_t)c;
		}
	} else {
		n = ZSTD_compress(out, cap, in, len, 3);
		assert_false(ZSTD_isError(n));
	}
	put32(out + n, (uint32_t)len);
	*out_len = n + 4;
	return out;
}

/* ---- synthetic bzImages ---- */

#define BZ_SETUP_SECTS	4
#define BZ_SETUP_SIZE	((BZ_SETUP_SECTS + 1) * 512)
#define BZ_STUB		0x100	/* "decompressor" bytes before the payload */
#define BZ_TAIL		0x40	/* bytes after the payload */
#define BZ_PREF		0x1000000ULL
#define BZ_INIT_SIZE	0x2000000U

static uint8_t *build_bzimage(const uint8_t *payload, size_t payload_len,
			      size_t *len)
{
	size_t total = BZ_SETUP_SIZE + BZ_STUB + payload_len + BZ_TAIL;
	uint8_t *k = calloc(1, total), *pm;

	assert_non_null(k);
	k[HDR_SETUP_SECTS] = BZ_SETUP_SECTS;
	put16(k + HDR_BOOT_FLAG, 0xaa55);
	k[HDR_JUMP] = 0xeb;
	k[HDR_JUMP + 1] = 0x6a;		/* header runs to 0x26c */
	memcpy(k + HDR_MAGIC, "HdrS", 4);
	put16(k + HDR_VERSION, 0x020f);
	k[HDR_LOADFLAGS] = 0x01;
	put32(k + HDR_CODE32_START, 0x100000);
	put32(k + HDR_INITRD_ADDR_MAX, 0x7fffffff);
	put32(k + HDR_KERNEL_ALIGNMENT, 0x200000);
	k[HDR_RELOCATABLE] = 1;
	put16(k + HDR_XLOADFLAGS, 0x3);	/* KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	put32(k + HDR_CMDLINE_SIZE, 2047);
	put32(k + HDR_PAYLOAD_OFFSET, BZ_STUB);
	put32(k + HDR_PAYLOAD_LENGTH, payload_len);
	put64(k + HDR_PREF_ADDRESS, BZ_PREF);
	put32(k + HDR_INIT_SIZE, BZ_INIT_SIZE);
	pm = k + BZ_SETUP_SIZE;
	memset(pm, 0x90, BZ_STUB);
	memcpy(pm + BZ_STUB, payload, payload_len);
	memset(pm + BZ_STUB + payload_len, 0xf4, BZ_TAIL);
	*len = total;
	return k;
}

/* A Linux-like vmlinux: linked virtual, physical entry, relocs appended. */
static uint8_t *build_vmlinux_payload(enum fmt f, size_t *len)
{
	struct elf_opts o = elf_default;
	uint8_t *elf, *withrelocs, *z;
	size_t elf_len;

	o.vaddr = 0xffffffff81000000ULL;
	elf = build_elf(&o, &elf_len);
	withrelocs = realloc(elf, elf_len + 64);
	assert_non_null(withrelocs);
	memset(withrelocs + elf_len, 0xee, 64);
	z = pack(f, withrelocs, elf_len + 64, len);
	free(withrelocs);
	return z;
}

static uint8_t *build_bz_compressed(enum fmt f, size_t *len)
{
	size_t zlen;
	uint8_t *z = build_vmlinux_payload(f, &zlen);
	uint8_t *k = build_bzimage(z, zlen, len);

	free(z);
	return k;
}

static uint8_t *build_bz_bzip2(size_t *len)
{
	static const uint8_t fake[] = "BZh91AY&SY not really bzip2 data";

	return build_bzimage(fake, sizeof(fake), len);
}

/* ---- fixture ---- */

struct fx {
	struct guest_mem mem;
	struct boot_result res;
	char err[512];
};

static int setup_256m(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(guest_mem_alloc(&fx->mem, RAM_256M), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	guest_mem_free(&fx->mem);
	free(fx);
	return 0;
}

static int load(struct fx *fx, const uint8_t *k, size_t len,
		const uint8_t *initrd, size_t initrd_len, const char *cmdline)
{
	struct boot_load_args args = {
		.kernel = k, .kernel_len = len, .kernel_name = KNAME,
		.initrd = initrd, .initrd_len = initrd_len, .initrd_name = INAME,
		.cmdline = cmdline, .rsdp_gpa = 0xe0000,
	};

	memset(fx->err, 0, sizeof(fx->err));
	return x86_boot_load(&fx->mem, &args, &fx->res, fx->err, sizeof(fx->err));
}

/* Must fail, with a message naming the kernel and containing want. */
static void expect_fail(struct fx *fx, const uint8_t *k, size_t len,
			const char *want)
{
	int ret = load(fx, k, len, NULL, 0, "console=ttyS0");

	if (ret != -1)
		fail_msg("expected failure \"%s\", got ret %d (%s)", want, ret,
			 fx->res.desc);
	if (strncmp(fx->err, KNAME ": ", strlen(KNAME) + 2) ||
	    (want && !strstr(fx->err, want)))
		fail_msg("error \"%s\" does not name the file or say \"%s\"",
			 fx->err, want ? want : "");
}

static void expect_ok(struct fx *fx, const uint8_t *k, size_t len)
{
	if (load(fx, k, len, NULL, 0, "console=ttyS0"))
		fail_msg("load failed: %s", fx->err);
}

/* ---- e820 ---- */

static void check_e820_low(const struct e820_entry *e, uint64_t low_end)
{
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, EBDA_START);
	assert_int_equal(e[0].type, E820_RAM);
	assert_int_equal(e[1].addr, EBDA_START);
	assert_int_equal(e[1].size, 0xa0000 - EBDA_START);
	assert_int_equal(e[1].type, E820_RESERVED);
	assert_int_equal(e[2].addr, ACPI_TABLES_ADDR);
	assert_int_equal(e[2].size, SZ_1M - ACPI_TABLES_ADDR);
	assert_int_equal(e[2].type, E820_RESERVED);
	assert_int_equal(e[3].addr, SZ_1M);
	assert_int_equal(e[3].size, low_end - SZ_1M);
	assert_int_equal(e[3].type, E820_RAM);
}

/* ECAM is reserved: Linux only uses MMCONFIG that firmware reserved. */
static void check_e820_ecam(const struct e820_entry *e)
{
	assert_int_equal(e->addr, PCI_ECAM_BASE);
	assert_int_equal(e->size, PCI_ECAM_SIZE);
	assert_int_equal(e->type, E820_RESERVED);
}

static void test_e820_256m(void **state)
{
	struct guest_mem mem;
	struct e820_entry e[E820_MAX_ENTRIES];

	(void)state;
	guest_mem_layout(&mem, NULL, RAM_256M);
	assert_int_equal(x86_e820_build(&mem, e, E820_MAX_ENTRIES), 5);
	check_e820_low(e, RAM_256M);
	check_e820_ecam(&e[4]);
	/* a short table gets the first entries, in order */
	assert_int_equal(x86_e820_build(&mem, e, 2), 2);
	assert_int_equal(e[1].addr, EBDA_START);
}

static void test_e820_5g(void **state)
{
	struct guest_mem mem;
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int i;

	(void)state;
	guest_mem_layout(&mem, NULL, 5 * SZ_1G);
	assert_int_equal(x86_e820_build(&mem, e, E820_MAX_ENTRIES), 6);
	check_e820_low(e, MEM_LOW_RAM_END);
	check_e820_ecam(&e[4]);
	assert_int_equal(e[5].addr, SZ_4G);
	assert_int_equal(e[5].size, 5 * SZ_1G - MEM_LOW_RAM_END);
	assert_int_equal(e[5].type, E820_RAM);
	for (i = 1; i < 5; i++)		/* sorted, no overlap, hole below 4G */
		assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
	assert_true(e[3].addr + e[3].size <= 0xc0000000ULL);
}

/* ---- ELF vmlinux ---- */

static void check_zero_page_common(struct fx *fx, const char *cmdline)
{
	const uint8_t *zp = guest(&fx->mem, ZERO_PAGE_ADDR, 4096);
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = x86_e820_build(&fx->mem, e, E820_MAX_ENTRIES);

	assert_int_equal(fx->res.entry_kind, BOOT_ENTRY_LINUX64);
	assert_int_equal(fx->res.boot_data, ZERO_PAGE_ADDR);
	assert_int_equal(get16(zp + HDR_BOOT_FLAG), 0xaa55);
	assert_memory_equal(zp + HDR_MAGIC, "HdrS", 4);
	assert_int_equal(zp[HDR_TYPE_OF_LOADER], 0xff);
	assert_true(zp[HDR_LOADFLAGS] & 0x01);
	assert_int_equal(get32(zp + HDR_CMD_LINE_PTR), CMDLINE_ADDR);
	assert_int_equal(get64(zp + ZP_ACPI_RSDP), 0xe0000);
	assert_int_equal(zp[ZP_E820_ENTRIES], n);
	assert_memory_equal(zp + ZP_E820_TABLE, e, n * sizeof(e[0]));
	assert_string_equal((const char *)guest(&fx->mem, CMDLINE_ADDR, 1), cmdline);
}

static void check_segment(struct fx *fx, uint64_t paddr, size_t filesz,
			  size_t memsz)
{
	const uint8_t *p = guest(&fx->mem, paddr, memsz);
	size_t i;

	for (i = 0; i < filesz; i++)
		if (p[i] != pattern(i))
			fail_msg("segment byte %zu: %#x", i, p[i]);
	for (; i < memsz; i++)
		if (p[i])
			fail_msg("bss byte %zu not zeroed", i);
}

static void test_elf_vmlinux(void **state)
{
	struct fx *fx = *state;
	size_t len, ilen = 3 * SZ_1M + 123;
	uint8_t *k = build_elf(&elf_default, &len), *initrd = malloc(ilen);
	const uint8_t *zp;

	assert_non_null(initrd);
	memset(initrd, 0x5a, ilen);
	/* dirty the bss so that zeroing is visible */
	memset(guest(&fx->mem, 0x1000000, 0x5000), 0xcc, 0x5000);
	assert_int_equal(load(fx, k, len, initrd, ilen, "console=ttyS0 quiet"), 0);
	assert_int_equal(fx->res.format, KERNEL_ELF_VMLINUX);
	assert_int_equal(fx->res.entry, 0x1000000);
	assert_int_equal(fx->res.kernel_end, 0x1005000);
	check_segment(fx, 0x1000000, 0x3000, 0x5000);
	check_zero_page_common(fx, "console=ttyS0 quiet");
	zp = guest(&fx->mem, ZERO_PAGE_ADDR, 4096);
	assert_int_equal(get16(zp + HDR_VERSION), 0x020f);
	assert_true(get32(zp + HDR_CMDLINE_SIZE) >= strlen("console=ttyS0 quiet"));

	/* initrd: page-aligned, as high as fits in 256 MiB, after the kernel */
	assert_int_equal(fx->res.initrd_gpa & 0xfff, 0);
	assert_true(fx->res.initrd_gpa + ilen <= RAM_256M);
	assert_true(fx->res.initrd_gpa + ilen > RAM_256M - 0x1000);
	assert_int_equal(get32(zp + HDR_RAMDISK_IMAGE), fx->res.initrd_gpa);
	assert_int_equal(get32(zp + HDR_RAMDISK_SIZE), ilen);
	assert_int_equal(get32(zp + ZP_EXT_RAMDISK_IMAGE), 0);
	assert_int_equal(get32(zp + ZP_EXT_RAMDISK_SIZE), 0);
	assert_memory_equal(guest(&fx->mem, fx->res.initrd_gpa, ilen), initrd, ilen);
	assert_non_null(strstr(fx->res.desc, "ELF vmlinux"));
	assert_non_null(strstr(fx->res.desc, "64-bit entry at 0x1000000"));
	free(initrd);
	free(k);
}

/* A virtual e_entry is translated through its segment. */
static void test_elf_virtual_entry(void **state)
{
	struct fx *fx = *state;
	struct elf_opts o = elf_default;
	size_t len;
	uint8_t *k;

	o.vaddr = 0xffffffff81000000ULL;
	o.entry = 0xffffffff81000040ULL;
	k = build_elf(&o, &len);
	expect_ok(fx, k, len);
	assert_int_equal(fx->res.entry, 0x1000040);
	assert_int_equal(fx->res.initrd_gpa, 0);
	assert_int_equal(get32(guest(&fx->mem, ZERO_PAGE_ADDR + HDR_RAMDISK_SIZE, 4)), 0);
	/* outside every segment, physically and virtually: refused */
	put64(k + EH_ENTRY, 0x2000000);
	expect_fail(fx, k, len, "entry");
	free(k);
}

/* ---- PVH ---- */

static void check_pvh(struct fx *fx, uint64_t entry, uint64_t initrd_len)
{
	const uint8_t *si = guest(&fx->mem, PVH_START_INFO_ADDR, 56);
	const uint8_t *mm;
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = x86_e820_build(&fx->mem, e, E820_MAX_ENTRIES), i;

	assert_int_equal(fx->res.format, KERNEL_ELF_PVH);
	assert_int_equal(fx->res.entry_kind, BOOT_ENTRY_PVH);
	assert_int_equal(fx->res.entry, entry);
	assert_int_equal(fx->res.boot_data, PVH_START_INFO_ADDR);
	assert_int_equal(get32(si + 0), 0x336ec578);
	assert_int_equal(get32(si + 4), 1);		/* version */
	assert_int_equal(get32(si + 8), 0);		/* flags */
	assert_int_equal(get64(si + 24), CMDLINE_ADDR);
	assert_int_equal(get64(si + 32), 0xe0000);	/* rsdp */
	assert_int_equal(get64(si + 40), PVH_MEMMAP_ADDR);
	assert_int_equal(get32(si + 48), n);
	mm = guest(&fx->mem, PVH_MEMMAP_ADDR, n * 24);
	for (i = 0; i < n; i++) {
		assert_int_equal(get64(mm + i * 24), e[i].addr);
		assert_int_equal(get64(mm + i * 24 + 8), e[i].size);
		assert_int_equal(get32(mm + i * 24 + 16), e[i].type);
		assert_int_equal(get32(mm + i * 24 + 20), 0);
	}
	if (initrd_len) {
		const uint8_t *mod = guest(&fx->mem, PVH_MODLIST_ADDR, 32);

		assert_int_equal(get32(si + 12), 1);
		assert_int_equal(get64(si + 16), PVH_MODLIST_ADDR);
		assert_int_equal(get64(mod), fx->res.initrd_gpa);
		assert_int_equal(get64(mod + 8), initrd_len);
		assert_int_equal(get64(mod + 16), 0);
	} else {
		assert_int_equal(get32(si + 12), 0);
		assert_int_equal(get64(si + 16), 0);
	}
}

static void test_pvh(void **state)
{
	struct fx *fx = *state;
	struct elf_opts o = elf_default;
	uint8_t initrd[5000], *k;
	size_t len;

	memset(initrd, 0x11, sizeof(initrd));
	o.pvh_desc = 4;
	o.pvh_entry = 0x1000123;
	k = build_elf(&o, &len);
	assert_int_equal(load(fx, k, len, initrd, sizeof(initrd), "pvh=1"), 0);
	check_pvh(fx, 0x1000123, sizeof(initrd));
	check_segment(fx, 0x1000000, 0x3000, 0x5000);
	assert_string_equal((const char *)guest(&fx->mem, CMDLINE_ADDR, 6), "pvh=1");
	assert_non_null(strstr(fx->res.desc, "PVH"));
	free(k);

	/* 8-byte value, behind other notes (one with an unaligned name) */
	o.pvh_desc = 8;
	o.pvh_entry = 0x1000200;
	o.other_notes = true;
	k = build_elf(&o, &len);
	expect_ok(fx, k, len);
	check_pvh(fx, 0x1000200, 0);
	free(k);
}

static void test_pvh_bad_notes(void **state)
{
	struct fx *fx = *state;
	struct elf_opts o = elf_default;
	uint8_t *k, *note;
	size_t len;

	o.pvh_desc = 4;
	o.pvh_entry = 0x1000010;
	k = build_elf(&o, &len);
	note = k + ELF_NOTE_OFF;

	put32(note + 4, 2);			/* descsz not 4 or 8 */
	expect_fail(fx, k, len, "need 4 or 8");
	put32(note + 4, 0x7fffffff);		/* descsz past the segment */
	expect_fail(fx, k, len, "descriptor size");
	put32(note + 4, 0xffffffff);		/* ... and overflowing when aligned */
	expect_fail(fx, k, len, "descriptor size");
	put32(note + 4, 4);
	put32(note, 0xfffffffd);		/* namesz overflowing when aligned */
	expect_fail(fx, k, len, "name size");
	put32(note, 4);
	put64(k + 64 + PH_SIZE + PH_FILESZ, 0x100000);	/* PT_NOTE past the file */
	expect_fail(fx, k, len, "PT_NOTE");
	put64(k + 64 + PH_SIZE + PH_FILESZ, 20);
	expect_ok(fx, k, len);			/* repaired: loads again */
	put32(note + 16, 0x3000000);		/* entry outside the kernel */
	expect_fail(fx, k, len, "PVH entry");
	free(k);
}

/* ---- malformed ELF ---- */

static void test_elf_malformed(void **state)
{
	struct fx *fx = *state;
	size_t len, cut;
	uint8_t *k = build_elf(&elf_default, &len), *ph = k + 64;

	k[EH_CLASS] = 1;
	expect_fail(fx, k, len, "ELF64");
	k[EH_CLASS] = 2;
	put16(k + EH_MACHINE, 3);
	expect_fail(fx, k, len, "x86-64");
	put16(k + EH_MACHINE, 62);
	put16(k + EH_PHENTSIZE, 32);
	expect_fail(fx, k, len, "e_phentsize");
	put16(k + EH_PHENTSIZE, PH_SIZE);
	put64(k + EH_PHOFF, len - 10);
	expect_fail(fx, k, len, "program headers");
	put64(k + EH_PHOFF, 0xfffffffffffffff0ULL);
	expect_fail(fx, k, len, "program headers");
	put64(k + EH_PHOFF, 64);
	put16(k + EH_PHNUM, 0xfff0);
	expect_fail(fx, k, len, "program headers");
	put16(k + EH_PHNUM, 0);
	expect_fail(fx, k, len, "no program headers");
	put16(k + EH_PHNUM, 1);

	put64(ph + PH_FILESZ, len);			/* data past the file */
	expect_fail(fx, k, len, "past the end of the file");
	put64(ph + PH_OFFSET, 0xffffffffffffff00ULL);
	put64(ph + PH_FILESZ, 0x200);
	expect_fail(fx, k, len, "past the end of the file");
	put64(ph + PH_OFFSET, ELF_DATA_OFF);
	put64(ph + PH_FILESZ, 0x3000);
	put64(ph + PH_MEMSZ, 0x2000);
	expect_fail(fx, k, len, "p_filesz");		/* filesz > memsz */
	put64(ph + PH_MEMSZ, 0x5000);
	put64(ph + PH_PADDR, 0xfffffffffffff000ULL);
	expect_fail(fx, k, len, "overflows");		/* paddr + memsz */
	put64(ph + PH_PADDR, 0x80000);
	expect_fail(fx, k, len, "below 1 MiB");
	put64(ph + PH_PADDR, RAM_256M - 0x1000);
	expect_fail(fx, k, len, "does not fit");	/* beyond RAM */
	put64(ph + PH_PADDR, 0x100000000ULL);
	expect_fail(fx, k, len, "does not fit");
	put64(ph + PH_PADDR, 0x1000000);
	put32(ph + PH_TYPE, 6);				/* PT_PHDR: nothing to load */
	expect_fail(fx, k, len, "no loadable segments");
	put32(ph + PH_TYPE, 1);
	expect_ok(fx, k, len);

	/* every truncation fails cleanly, with a message */
	for (cut = 0; cut < len; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);

		memcpy(t, k, cut);
		expect_fail(fx, t, cut, NULL);
		free(t);
	}
	free(k);
}

/* ---- bzImage: host decompression ---- */

static void test_bzimage_host_decompressed(void **state)
{
	struct fx *fx = *state;
	enum fmt f;

	for (f = 0; f < FMT_COUNT; f++) {
		size_t len;
		uint8_t *k = build_bz_compressed(f, &len), initrd[8192];
		const uint8_t *zp;
		char want[64];

		memset(initrd, 0x77, sizeof(initrd));
		memset(guest(&fx->mem, 0x1000000, 0x5000), 0xcc, 0x5000);
		if (load(fx, k, len, initrd, sizeof(initrd), "root=/dev/vda"))
			fail_msg("%s: %s", fmt_names[f], fx->err);
		assert_int_equal(fx->res.format, KERNEL_BZIMAGE_HOST_DECOMPRESSED);
		assert_int_equal(fx->res.entry, 0x1000000);
		assert_int_equal(fx->res.kernel_end, 0x1005000);
		check_segment(fx, 0x1000000, 0x3000, 0x5000);
		check_zero_page_common(fx, "root=/dev/vda");
		zp = guest(&fx->mem, ZERO_PAGE_ADDR, 4096);
		/* the setup header comes from the bzImage */
		assert_memory_equal(zp + HDR_PREF_ADDRESS, k + HDR_PREF_ADDRESS, 8);
		assert_int_equal(get32(zp + HDR_INIT_SIZE), BZ_INIT_SIZE);
		assert_int_equal(get16(zp + HDR_VERSION), 0x020f);
		assert_int_equal(get32(zp + HDR_RAMDISK_IMAGE), fx->res.initrd_gpa);
		assert_int_equal(get32(zp + HDR_RAMDISK_SIZE), sizeof(initrd));
		assert_true(fx->res.initrd_gpa >= fx->res.kernel_end);
		snprintf(want, sizeof(want), "%s payload decompressed on the host",
			 fmt_names[f]);
		if (!strstr(fx->res.desc, want) ||
		    !strstr(fx->res.desc, "protocol 2.15"))
			fail_msg("desc: %s", fx->res.desc);
		free(k);
	}
}

/* Corrupt payloads of a linked format are errors, never a fallback. */
static void test_bzimage_corrupt_payload(void **state)
{
	struct fx *fx = *state;
	enum fmt f;

	for (f = 0; f < FMT_COUNT; f++) {
		size_t len, zlen;
		uint8_t *k = build_bz_compressed(f, &len);
		char want[64];

		zlen = get32(k + HDR_PAYLOAD_LENGTH);
		/* cut the stream short: payload_length shrinks to half */
		put32(k + HDR_PAYLOAD_LENGTH, zlen / 2);
		snprintf(want, sizeof(want), "corrupt %s payload", fmt_names[f]);
		expect_fail(fx, k, len, want);
		free(k);
	}
}

/* Decompresses fine but is no ELF. */
static void test_bzimage_payload_not_elf(void **state)
{
	struct fx *fx = *state;
	uint8_t junk[4096], *z, *k;
	size_t zlen, len;

	memset(junk, 0x42, sizeof(junk));
	z = pack(FMT_ZSTD, junk, sizeof(junk), &zlen);
	k = build_bzimage(z, zlen, &len);
	expect_fail(fx, k, len, "decompressed payload: not an ELF");
	free(k);
	free(z);
}

/* A bomb: 48 MiB of zeros in a 16 MiB guest is stopped at the RAM size. */
static void test_bzimage_bomb(void **state)
{
	struct fx *fx = *state;
	size_t big = 48u << 20, zlen, len;
	uint8_t *zeros = calloc(1, big), *z, *k;

	(void)state;
	assert_non_null(zeros);
	guest_mem_free(&fx->mem);
	assert_int_equal(guest_mem_alloc(&fx->mem, 16 * SZ_1M), 0);
	z = pack(FMT_GZIP, zeros, big, &zlen);
	free(zeros);
	k = build_bzimage(z, zlen, &len);
	expect_fail(fx, k, len, "decompresses to more than 16 MiB");
	free(k);
	free(z);
}

/* ---- bzImage: the guest decompresses ---- */

static void test_bzimage_entry64(void **state)
{
	struct fx *fx = *state;
	size_t len;
	uint8_t *k = build_bz_bzip2(&len), initrd[100];
	const uint8_t *zp;

	memset(initrd, 0x33, sizeof(initrd));
	assert_int_equal(load(fx, k, len, initrd, sizeof(initrd), ""), 0);
	assert_int_equal(fx->res.format, KERNEL_BZIMAGE_ENTRY64);
	assert_int_equal(fx->res.entry_kind, BOOT_ENTRY_LINUX64);
	assert_int_equal(fx->res.entry, BZ_PREF + 0x200);
	assert_int_equal(fx->res.kernel_end, BZ_PREF + BZ_INIT_SIZE);
	/* the protected-mode part, byte for byte, at pref_address */
	assert_memory_equal(guest(&fx->mem, BZ_PREF, len - BZ_SETUP_SIZE),
			    k + BZ_SETUP_SIZE, len - BZ_SETUP_SIZE);
	check_zero_page_common(fx, "");
	zp = guest(&fx->mem, ZERO_PAGE_ADDR, 4096);
	assert_int_equal(get32(zp + HDR_INIT_SIZE), BZ_INIT_SIZE);
	assert_int_equal(get32(zp + HDR_RAMDISK_SIZE), sizeof(initrd));
	assert_true(fx->res.initrd_gpa >= BZ_PREF + BZ_INIT_SIZE);
	assert_non_null(strstr(fx->res.desc, "bzip2"));
	assert_non_null(strstr(fx->res.desc, "0x1000200"));

	/* not relocatable: code32_start */
	k[HDR_RELOCATABLE] = 0;
	put32(k + HDR_CODE32_START, 0x200000);
	assert_int_equal(load(fx, k, len, initrd, sizeof(initrd), ""), 0);
	assert_int_equal(fx->res.entry, 0x200200);
	assert_memory_equal(guest(&fx->mem, 0x200000, len - BZ_SETUP_SIZE),
			    k + BZ_SETUP_SIZE, len - BZ_SETUP_SIZE);
	/* it runs (decompresses itself) at pref_address: init_size from there */
	assert_int_equal(fx->res.kernel_end, BZ_PREF + BZ_INIT_SIZE);
	assert_true(fx->res.initrd_gpa >= BZ_PREF + BZ_INIT_SIZE);
	/* ... or 1 MiB when that is 0 */
	put32(k + HDR_CODE32_START, 0);
	expect_ok(fx, k, len);
	assert_int_equal(fx->res.entry, 0x100200);
	/* fixed runtime address (pref_address) + init_size beyond RAM */
	put64(k + HDR_PREF_ADDRESS, 0x8000000);
	put32(k + HDR_INIT_SIZE, 0x8001000);
	expect_fail(fx, k, len, "init_size");
	put64(k + HDR_PREF_ADDRESS, BZ_PREF);
	put32(k + HDR_INIT_SIZE, BZ_INIT_SIZE);

	/* no 64-bit entry: nothing skiff can do */
	put16(k + HDR_XLOADFLAGS, 0);
	expect_fail(fx, k, len, "XLF_KERNEL_64");
	put16(k + HDR_XLOADFLAGS, 1);

	/* init_size beyond RAM */
	k[HDR_RELOCATABLE] = 1;
	put32(k + HDR_INIT_SIZE, 0xf001000);
	expect_fail(fx, k, len, "init_size");
	put64(k + HDR_PREF_ADDRESS, 0xfffffffffffff000ULL);
	put32(k + HDR_INIT_SIZE, BZ_INIT_SIZE);
	expect_fail(fx, k, len, "do not fit");
	put64(k + HDR_PREF_ADDRESS, 0x1000);
	expect_fail(fx, k, len, "below 1 MiB");
	/* relocatable: the runtime start is rounded up to kernel_alignment */
	put64(k + HDR_PREF_ADDRESS, 0x1100000);
	put32(k + HDR_KERNEL_ALIGNMENT, 0x1000000);
	expect_ok(fx, k, len);
	assert_int_equal(fx->res.entry, 0x1100200);
	assert_int_equal(fx->res.kernel_end, 0x2000000 + BZ_INIT_SIZE);
	free(k);
}

/* No payload fields at all: also the guest's job. */
static void test_bzimage_no_payload_info(void **state)
{
	struct fx *fx = *state;
	size_t len;
	uint8_t *k = build_bz_bzip2(&len);

	put32(k + HDR_PAYLOAD_LENGTH, 0);
	put32(k + HDR_PAYLOAD_OFFSET, 0);
	expect_ok(fx, k, len);
	assert_int_equal(fx->res.format, KERNEL_BZIMAGE_ENTRY64);
	free(k);
}

/* ---- bzImage: malformed headers ---- */

static void test_bzimage_malformed(void **state)
{
	struct fx *fx = *state;
	size_t len;
	uint8_t *k = build_bz_compressed(FMT_LZ4, &len);

	put16(k + HDR_VERSION, 0x0209);
	expect_fail(fx, k, len, "2.09");
	put16(k + HDR_VERSION, 0x020f);
	put16(k + HDR_BOOT_FLAG, 0x1234);
	expect_fail(fx, k, len, "boot_flag");
	put16(k + HDR_BOOT_FLAG, 0xaa55);
	k[HDR_SETUP_SECTS] = 200;
	expect_fail(fx, k, len, "setup");
	k[HDR_SETUP_SECTS] = BZ_SETUP_SECTS;
	put32(k + HDR_PAYLOAD_LENGTH, 0x7fffffff);
	expect_fail(fx, k, len, "payload");
	put32(k + HDR_PAYLOAD_LENGTH, 0xffffffff);
	put32(k + HDR_PAYLOAD_OFFSET, 0xffffffff);
	expect_fail(fx, k, len, "payload");
	put32(k + HDR_PAYLOAD_OFFSET, BZ_STUB);
	put32(k + HDR_PAYLOAD_LENGTH, len - BZ_SETUP_SIZE - BZ_STUB - BZ_TAIL);
	expect_ok(fx, k, len);
	free(k);
}

/* setup_sects 0 means 4: the real-mode part is then 5 sectors. */
static void test_bzimage_setup_sects_zero(void **state)
{
	struct fx *fx = *state;
	size_t len;
	uint8_t *k = build_bz_compressed(FMT_GZIP, &len);

	k[HDR_SETUP_SECTS] = 0;
	expect_ok(fx, k, len);
	assert_int_equal(fx->res.format, KERNEL_BZIMAGE_HOST_DECOMPRESSED);
	free(k);
}

/*
 * Truncated anywhere before the end of the payload: an error. Truncation in
 * the bytes after it leaves a loadable kernel.
 */
static void test_bzimage_truncated(void **state)
{
	struct fx *fx = *state;
	size_t len, cut, payload_end;
	uint8_t *k = build_bz_compressed(FMT_XZ, &len);

	payload_end = len - BZ_TAIL;
	for (cut = 0; cut < len; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);

		memcpy(t, k, cut);
		if (cut < payload_end)
			expect_fail(fx, t, cut, NULL);
		else
			expect_ok(fx, t, cut);
		free(t);
	}
	free(k);
}

/* Random damage to the headers: errors or loads, never a crash. */
static void test_fuzz_headers(void **state)
{
	struct fx *fx = *state;
	struct elf_opts o = elf_default;
	size_t blen, elen, i;
	uint8_t *bz = build_bz_compressed(FMT_ZSTD, &blen);
	uint8_t *elf, *t;
	uint32_t seed = 12345;

	o.pvh_desc = 4;
	o.pvh_entry = 0x1000000;
	o.other_notes = true;
	elf = build_elf(&o, &elen);
	t = malloc(blen > elen ? blen : elen);
	assert_non_null(t);
	for (i = 0; i < 3000; i++) {
		bool is_bz = i & 1;
		size_t len = is_bz ? blen : elen, span = is_bz ? 0x280 : 0x200;
		int n;

		memcpy(t, is_bz ? bz : elf, len);
		for (n = 0; n < 4; n++) {
			seed = seed * 1103515245u + 12345u;
			t[(is_bz ? 0x1f0 : 0) + (seed >> 8) % (span - 0x10)] =
				(uint8_t)(seed >> 3);
		}
		if (load(fx, t, len, NULL, 0, "x"))
			assert_true(strncmp(fx->err, KNAME ": ", strlen(KNAME) + 2) == 0);
	}
	free(t);
	free(elf);
	free(bz);
}

/* ---- magic, command line, initrd ---- */

static void test_bad_magic(void **state)
{
	struct fx *fx = *state;
	uint8_t junk[4096];

	memset(junk, 0x41, sizeof(junk));
	expect_fail(fx, junk, sizeof(junk), "not a bzImage or ELF kernel (bad magic)");
	expect_fail(fx, junk, 3, "bad magic");
	expect_fail(fx, junk, 0, "empty");
	junk[0x1fe] = 0x55;
	junk[0x1ff] = 0xaa;
	expect_fail(fx, junk, sizeof(junk), "HdrS");
	memcpy(junk, "\x7f" "ELF", 4);
	expect_fail(fx, junk, sizeof(junk), "ELF");
}

static void test_cmdline_limits(void **state)
{
	struct fx *fx = *state;
	size_t len, elen;
	uint8_t *k = build_bz_bzip2(&len);
	uint8_t *elf = build_elf(&elf_default, &elen);
	char *cmd = malloc(CMDLINE_MAX + 1);

	assert_non_null(cmd);
	put32(k + HDR_CMDLINE_SIZE, 16);
	memset(cmd, 'a', 16);
	cmd[16] = '\0';
	assert_int_equal(load(fx, k, len, NULL, 0, cmd), 0);
	assert_string_equal((const char *)guest(&fx->mem, CMDLINE_ADDR, 17), cmd);
	cmd[16] = 'b';
	cmd[17] = '\0';
	assert_int_equal(load(fx, k, len, NULL, 0, cmd), -1);
	assert_non_null(strstr(fx->err, KNAME ": command line is 17 bytes"));

	/* a huge cmdline_size is still capped by CMDLINE_MAX */
	put32(k + HDR_CMDLINE_SIZE, 0xffffffff);
	memset(cmd, 'c', CMDLINE_MAX);
	cmd[CMDLINE_MAX] = '\0';
	assert_int_equal(load(fx, k, len, NULL, 0, cmd), -1);
	assert_int_equal(load(fx, elf, elen, NULL, 0, cmd), -1);
	assert_non_null(strstr(fx->err, "command line"));
	cmd[CMDLINE_MAX - 1] = '\0';
	assert_int_equal(load(fx, elf, elen, NULL, 0, cmd), 0);
	assert_int_equal(load(fx, k, len, NULL, 0, cmd), 0);
	/* NULL means empty */
	assert_int_equal(load(fx, elf, elen, NULL, 0, NULL), 0);
	assert_int_equal(*guest(&fx->mem, CMDLINE_ADDR, 1), 0);
	free(cmd);
	free(elf);
	free(k);
}

static void test_initrd_too_large(void **state)
{
	struct fx *fx = *state;
	size_t len, ilen = 300 * SZ_1M;
	uint8_t *k = build_elf(&elf_default, &len);
	/* never touched: the loader must refuse before reading it */
	uint8_t *initrd = mmap(NULL, ilen, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
			       MAP_NORESERVE, -1, 0);

	assert_true(initrd != MAP_FAILED);
	assert_int_equal(load(fx, k, len, initrd, ilen, ""), -1);
	assert_non_null(strstr(fx->err, INAME ": "));
	assert_non_null(strstr(fx->err, "does not fit in guest memory (256 MiB RAM)"));
	/* fits in RAM but not above a kernel reaching 200 MiB */
	put64(k + 64 + PH_MEMSZ, 200 * SZ_1M - 0x1000000);
	assert_int_equal(load(fx, k, len, initrd, 60 * SZ_1M, ""), -1);
	assert_non_null(strstr(fx->err, "does not fit"));
	assert_int_equal(load(fx, k, len, initrd, 50 * SZ_1M, ""), 0);
	assert_true(fx->res.initrd_gpa >= 200 * SZ_1M);
	/* empty initrd buffer */
	assert_int_equal(load(fx, k, len, initrd, 0, ""), -1);
	assert_non_null(strstr(fx->err, INAME ": is empty"));
	munmap(initrd, ilen);
	free(k);
}

/* initrd_addr_max from the bzImage header caps the placement. */
static void test_initrd_addr_max(void **state)
{
	struct fx *fx = *state;
	size_t len;
	uint8_t *k = build_bz_compressed(FMT_GZIP, &len), initrd[10000];

	memset(initrd, 1, sizeof(initrd));
	put32(k + HDR_INITRD_ADDR_MAX, 0x4000000 - 1);
	assert_int_equal(load(fx, k, len, initrd, sizeof(initrd), ""), 0);
	assert_true(fx->res.initrd_gpa + sizeof(initrd) <= 0x4000000);
	assert_true(fx->res.initrd_gpa + sizeof(initrd) > 0x4000000 - 0x1000);
	/* below the kernel: no room */
	put32(k + HDR_INITRD_ADDR_MAX, 0x1000000);
	assert_int_equal(load(fx, k, len, initrd, sizeof(initrd), ""), -1);
	assert_non_null(strstr(fx->err, "does not fit"));
	free(k);
}

/* 5 GiB guest: high RAM in the zero page, initrd below the 3 GiB hole. */
static void test_5g_guest(void **state)
{
	struct fx *fx = *state;
	size_t len, ilen = 2 * SZ_1M;
	uint8_t *k = build_elf(&elf_default, &len), *initrd = malloc(ilen);
	const uint8_t *zp;
	struct e820_entry last;

	assert_non_null(initrd);
	memset(initrd, 9, ilen);
	guest_mem_free(&fx->mem);
	assert_int_equal(guest_mem_alloc(&fx->mem, 5 * SZ_1G), 0);
	assert_int_equal(load(fx, k, len, initrd, ilen, "mem"), 0);
	zp = guest(&fx->mem, ZERO_PAGE_ADDR, 4096);
	assert_int_equal(zp[ZP_E820_ENTRIES], 6);
	memcpy(&last, zp + ZP_E820_TABLE + 5 * sizeof(last), sizeof(last));
	assert_int_equal(last.addr, SZ_4G);
	assert_int_equal(last.size, 2 * SZ_1G);
	assert_int_equal(last.type, E820_RAM);
	assert_true(fx->res.initrd_gpa + ilen <= MEM_LOW_RAM_END);
	assert_true(fx->res.initrd_gpa + ilen > MEM_LOW_RAM_END - 0x1000);
	free(initrd);
	free(k);
}

/* ---- files ---- */

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void test_load_files(void **state)
{
	struct fx *fx = *state;
	char dir[] = "/tmp/skiff-boot-XXXXXX", kpath[64], ipath[64], epath[64];
	size_t len;
	uint8_t *k = build_elf(&elf_default, &len), initrd[3000];
	struct boot_result *res = &fx->res;
	char *err = fx->err;

	assert_non_null(mkdtemp(dir));
	snprintf(kpath, sizeof(kpath), "%s/vmlinux", dir);
	snprintf(ipath, sizeof(ipath), "%s/initrd", dir);
	snprintf(epath, sizeof(epath), "%s/empty", dir);
	memset(initrd, 0x99, sizeof(initrd));
	write_file(kpath, k, len);
	write_file(ipath, initrd, sizeof(initrd));
	write_file(epath, "", 0);

	assert_int_equal(x86_boot_load_files(&fx->mem, kpath, ipath, "a=b", 0,
					     res, err, 512), 0);
	assert_int_equal(res->format, KERNEL_ELF_VMLINUX);
	assert_memory_equal(guest(&fx->mem, res->initrd_gpa, sizeof(initrd)),
			    initrd, sizeof(initrd));
	assert_int_equal(x86_boot_load_files(&fx->mem, kpath, NULL, "", 0,
					     res, err, 512), 0);
	assert_int_equal(res->initrd_gpa, 0);

	/* errors name the path */
	assert_int_equal(x86_boot_load_files(&fx->mem, "/nonexistent/bzImage",
					     NULL, "", 0, res, err, 512), -1);
	assert_non_null(strstr(err, "/nonexistent/bzImage: "));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(x86_boot_load_files(&fx->mem, dir, NULL, "", 0, res,
					     err, 512), -1);
	assert_non_null(strstr(err, "is a directory"));
	assert_true(strncmp(err, dir, strlen(dir)) == 0);
	assert_int_equal(x86_boot_load_files(&fx->mem, epath, NULL, "", 0, res,
					     err, 512), -1);
	assert_non_null(strstr(err, "empty"));
	assert_true(strncmp(err, epath, strlen(epath)) == 0);
	assert_int_equal(x86_boot_load_files(&fx->mem, kpath, "/nonexistent/initrd",
					     "", 0, res, err, 512), -1);
	assert_true(strncmp(err, "/nonexistent/initrd: ", 21) == 0);
	assert_int_equal(x86_boot_load_files(&fx->mem, kpath, epath, "", 0, res,
					     err, 512), -1);
	assert_true(strncmp(err, epath, strlen(epath)) == 0);
	/* kernel errors carry the path as the name */
	write_file(epath, "garbage!", 8);
	assert_int_equal(x86_boot_load_files(&fx->mem, epath, NULL, "", 0, res,
					     err, 512), -1);
	assert_true(strncmp(err, epath, strlen(epath)) == 0);
	assert_non_null(strstr(err, "bad magic"));

	unlink(kpath);
	unlink(ipath);
	unlink(epath);
	rmdir(dir);
	free(k);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_256m, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e820_256m),
		cmocka_unit_test(test_e820_5g),
		T(test_elf_vmlinux),
		T(test_elf_virtual_entry),
		T(test_pvh),
		T(test_pvh_bad_notes),
		T(test_elf_malformed),
		T(test_bzimage_host_decompressed),
		T(test_bzimage_corrupt_payload),
		T(test_bzimage_payload_not_elf),
		T(test_bzimage_bomb),
		T(test_bzimage_entry64),
		T(test_bzimage_no_payload_info),
		T(test_bzimage_malformed),
		T(test_bzimage_setup_sects_zero),
		T(test_bzimage_truncated),
		T(test_fuzz_headers),
		T(test_bad_magic),
		T(test_cmdline_limits),
		T(test_initrd_too_large),
		T(test_initrd_addr_max),
		T(test_5g_guest),
		T(test_load_files),
	};
#undef T

	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests_name("boot", tests, NULL, NULL);
}
