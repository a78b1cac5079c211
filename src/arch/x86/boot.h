/* SPDX-License-Identifier: MIT */
/*
 * x86-64 kernel loading: bzImage (boot protocol 2.10+), vmlinux ELF (64-bit
 * entry with boot_params) and PVH ELF (XEN_ELFNOTE_PHYS32_ENTRY with
 * hvm_start_info). Pure functions of bytes and guest memory: no KVM here.
 */
#ifndef SKIFF_ARCH_X86_BOOT_H
#define SKIFF_ARCH_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

#define E820_RAM	1
#define E820_RESERVED	2
#define E820_ACPI	3

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define E820_MAX_ENTRIES 128	/* boot_params.e820_table has 128 slots */

/* The guest's memory map. Returns the number of entries written. */
unsigned int x86_e820_build(const struct guest_mem *mem,
			    struct e820_entry *out, unsigned int max);

enum boot_entry_kind {
	BOOT_ENTRY_PVH,		/* 32-bit flat protected mode, EBX = start_info */
	BOOT_ENTRY_LINUX64,	/* long mode, identity-mapped, RSI = zero page */
};

enum kernel_format {
	KERNEL_BZIMAGE_HOST_DECOMPRESSED,	/* payload inflated by skiff */
	KERNEL_BZIMAGE_ENTRY64,			/* guest runs its decompressor */
	KERNEL_ELF_VMLINUX,
	KERNEL_ELF_PVH,
};

struct boot_load_args {
	const uint8_t *kernel;
	size_t kernel_len;
	const char *kernel_name;	/* for messages */
	const uint8_t *initrd;		/* NULL: no initrd */
	size_t initrd_len;
	const char *initrd_name;
	const char *cmdline;		/* "" allowed */
	uint64_t rsdp_gpa;		/* 0: no ACPI */
};

struct boot_result {
	enum boot_entry_kind entry_kind;
	enum kernel_format format;
	uint64_t entry;		/* guest-physical entry point */
	uint64_t boot_data;	/* zero page (LINUX64) or hvm_start_info (PVH) */
	uint64_t kernel_end;	/* first byte after the loaded kernel image */
	uint64_t initrd_gpa;
	char desc[192];		/* which path was taken, for --verbose */
};

/*
 * Load from bytes. On failure returns -1 and writes to err a message that
 * names the file and the reason ("vmlinuz: not a bzImage or ELF kernel (bad
 * magic)"); guest memory may then be partly written.
 */
int x86_boot_load(struct guest_mem *mem, const struct boot_load_args *args,
		  struct boot_result *out, char *err, size_t errlen);

/* Read the files (kernel required, initrd optional), then x86_boot_load. */
int x86_boot_load_files(struct guest_mem *mem, const char *kernel_path,
			const char *initrd_path, const char *cmdline,
			uint64_t rsdp_gpa, struct boot_result *out,
			char *err, size_t errlen);

/*
 * Decompress a Linux kernel payload by its magic (gzip, xz, lz4 legacy,
 * zstd; others: -ENOTSUP). On success *out is malloc'd. -EINVAL on corrupt
 * data, -E2BIG past max_out bytes.
 */
int x86_decompress(const uint8_t *in, size_t in_len, uint8_t **out,
		   size_t *out_len, size_t max_out, const char **format_name);

#endif
