// SPDX-License-Identifier: MIT
/*
 * The PCI root bus and host bridge: config space through 0xCF8/0xCFC and
 * ECAM, read-only fields, BAR sizing and moving, memory decode, MSI-X
 * table/PBA and masking, INTx, and a random config-write storm.
 * virtio-rng stands in for "a device with BARs".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "devices/pci/pci.h"
#include "vmm/vm.h"

#include "pcitest.h"

#define HB_VENDOR	0x1b36
#define HB_DEVICE	0x0008
#define RNG_DEVICE	PCITEST_VIRTIO_DEV(4)
#define MSIX_BAR_SIZE	0x1000
#define REGS_BAR_SIZE	0x4000
#define NEW_BAR0	0xd0000000ULL
#define NEW_BAR2	0x800000000ULL	/* 32 GiB: in the 64-bit window */

struct fixture {
	struct devtest *dt;
	struct vm *vm;
	unsigned int slot;	/* virtio-rng */
};

static int setup(void **state)
{
	struct vm_config cfg = { .rng = true };
	struct fixture *f = calloc(1, sizeof(*f));
	int slot;

	assert_non_null(f);
	f->dt = pcitest_new(&cfg);
	f->vm = f->dt->vm;
	devtest_attach(f->dt, "virtio-rng", 30);
	slot = pt_find(f->vm, PCITEST_VIRTIO_VENDOR, RNG_DEVICE);
	assert_true(slot > 0);
	f->slot = (unsigned int)slot;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	devtest_free(f->dt);
	free(f);
	return 0;
}

static uint16_t command(struct fixture *f)
{
	return (uint16_t)pt_ecam_read(f->vm, f->slot, PCI_COMMAND, 2);
}

static void set_command(struct fixture *f, uint16_t cmd)
{
	pt_ecam_write(f->vm, f->slot, PCI_COMMAND, cmd, 2);
}

static bool claimed(struct fixture *f, uint64_t addr)
{
	uint64_t v;

	return pt_mmio_try(f->vm, addr, &v, 4, false);
}

/* The device under test's pci_dev, for the interrupt-side API. */
static struct pci_dev *rng_pdev(struct fixture *f)
{
	assert_non_null(f->vm->pci);
	assert_non_null(f->vm->pci->slots[f->slot]);
	return f->vm->pci->slots[f->slot];
}

/* ---- Identity and routing ---- */

static void test_host_bridge_ids(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(pt_cf8_read(f->vm, 0, PCI_VENDOR_ID, 2), HB_VENDOR);
	assert_int_equal(pt_cf8_read(f->vm, 0, PCI_DEVICE_ID, 2), HB_DEVICE);
	assert_int_equal(pt_cf8_read(f->vm, 0, 0x08, 4) >> 8, 0x060000);
	assert_int_equal(pt_cf8_read(f->vm, 0, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(pt_cf8_read(f->vm, 0, PCI_INTERRUPT_PIN, 1), 0);
	/* Byte and word reads at every lane of 0xCFC. */
	assert_int_equal(pt_cf8_read(f->vm, 0, 0x01, 1), HB_VENDOR >> 8);
	assert_int_equal(pt_cf8_read(f->vm, 0, 0x03, 1), HB_DEVICE >> 8);
	assert_int_equal(pt_cf8_read(f->vm, 0, 0x0b, 1), 0x06);
	assert_int_equal(pt_ecam_read(f->vm, 0, PCI_VENDOR_ID, 4),
			 (uint32_t)HB_DEVICE << 16 | HB_VENDOR);
	assert_int_equal(pt_find(f->vm, HB_VENDOR, HB_DEVICE), 0);
}

/* Both mechanisms see the same 256 bytes, for the bridge and the device. */
static void test_cf8_and_ecam_agree(void **state)
{
	struct fixture *f = *state;
	unsigned int slots[] = { 0, f->slot };

	for (unsigned int i = 0; i < 2; i++)
		for (unsigned int off = 0; off < PCI_CFG_SIZE; off += 4)
			assert_int_equal(pt_cf8_read(f->vm, slots[i], off, 4),
					 pt_ecam_read(f->vm, slots[i], off, 4));
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_VENDOR_ID, 2),
			 PCITEST_VIRTIO_VENDOR);
}

static void test_empty_slots_read_ones(void **state)
{
	struct fixture *f = *state;
	unsigned int empty = 0;

	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++) {
		if (s == 0 || s == f->slot)
			continue;
		empty++;
		assert_int_equal(pt_cf8_read(f->vm, s, 0, 4), 0xffffffffu);
		assert_int_equal(pt_cf8_read(f->vm, s, 2, 2), 0xffff);
		assert_int_equal(pt_ecam_read(f->vm, s, 0, 4), 0xffffffffu);
		assert_int_equal(pt_ecam_read(f->vm, s, 0x100, 4), 0xffffffffu);
		assert_int_equal(pt_ecam_read(f->vm, s, 0x3c, 1), 0xff);
		/* Writes to nothing go nowhere. */
		pt_ecam_write(f->vm, s, PCI_COMMAND, 0xffff, 2);
		pt_cf8_write(f->vm, s, PCI_COMMAND, 0xffff, 2);
		assert_int_equal(pt_ecam_read(f->vm, s, 0, 4), 0xffffffffu);
	}
	assert_int_equal(empty, PCI_MAX_SLOTS - 2);
	/* Functions 1-7 of present devices are absent too. */
	for (unsigned int fn = 1; fn < 8; fn++) {
		assert_int_equal(pt_mmio_read(f->vm, pt_ecam_addr(0, fn, 0), 4), 0xffffffffu);
		assert_int_equal(pt_mmio_read(f->vm, pt_ecam_addr(f->slot, fn, 0), 4),
				 0xffffffffu);
		pio_out(f->vm, PCI_CONFIG_ADDR_PORT, 0x80000000u | f->slot << 11 | fn << 8, 4);
		assert_int_equal(pio_in(f->vm, PCI_CONFIG_DATA_PORT, 4), 0xffffffffu);
	}
}

static void test_cf8_latch(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;

	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0x80000000u, 4);
	assert_int_equal(pio_in(vm, PCI_CONFIG_ADDR_PORT, 4), 0x80000000u);
	/* Bits 0-1 and 24-30 are reserved and read back 0. */
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0xffffffffu, 4);
	assert_int_equal(pio_in(vm, PCI_CONFIG_ADDR_PORT, 4), 0x80fffffcu);
	/* Byte and word accesses do not reach the latch. */
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0x80000000u, 4);
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0x12, 1);
	pio_out(vm, PCI_CONFIG_ADDR_PORT + 1, 0x34, 1);
	pio_out(vm, PCI_CONFIG_ADDR_PORT + 2, 0x5678, 2);
	assert_int_equal(pio_in(vm, PCI_CONFIG_ADDR_PORT, 4), 0x80000000u);
	assert_int_equal(pio_in(vm, PCI_CONFIG_ADDR_PORT, 1), 0xff);
	assert_int_equal(pio_in(vm, PCI_CONFIG_ADDR_PORT + 2, 2), 0xffff);
	assert_int_equal(pio_in(vm, PCI_CONFIG_DATA_PORT, 4),
			 (uint32_t)HB_DEVICE << 16 | HB_VENDOR);

	/* Enable bit clear: nothing selected. */
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0, 4);
	assert_int_equal(pio_in(vm, PCI_CONFIG_DATA_PORT, 4), 0xffffffffu);
	/* Bus 1 and bus 255 do not exist, even at a slot that does on bus 0. */
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0x80010000u | f->slot << 11, 4);
	assert_int_equal(pio_in(vm, PCI_CONFIG_DATA_PORT, 4), 0xffffffffu);
	assert_int_equal(pio_in(vm, PCI_CONFIG_DATA_PORT + 2, 2), 0xffff);
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0x80010000u | f->slot << 11 | PCI_COMMAND, 4);
	pio_out(vm, PCI_CONFIG_DATA_PORT, 0xffff, 2);
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0x80ff0000u, 4);
	assert_int_equal(pio_in(vm, PCI_CONFIG_DATA_PORT, 4), 0xffffffffu);
	/* ...so the write to bus 1 left bus 0's device alone. */
	assert_int_equal(pt_ecam_read(vm, f->slot, PCI_COMMAND, 2), 0);
	/* The register number comes from the latch, the byte lane from the port. */
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0x80000000u | f->slot << 11 | 0x08, 4);
	assert_int_equal(pio_in(vm, PCI_CONFIG_DATA_PORT + 3, 1),
			 pt_ecam_read(vm, f->slot, 0x0b, 1));
}

static void test_read_only_fields(void **state)
{
	struct fixture *f = *state;
	static const unsigned int ro[] = { 0x00, 0x08, 0x0c, 0x2c, 0x34, 0x3c };
	uint32_t before[2][6];
	unsigned int slots[] = { 0, f->slot };

	for (unsigned int i = 0; i < 2; i++) {
		unsigned int s = slots[i];

		for (unsigned int k = 0; k < 6; k++)
			before[i][k] = pt_ecam_read(f->vm, s, ro[k], 4);
		for (unsigned int k = 0; k < 6; k++) {
			pt_ecam_write(f->vm, s, ro[k], 0xffffffffu, 4);
			pt_cf8_write(f->vm, s, ro[k], 0, 4);
			pt_ecam_write(f->vm, s, ro[k] + 1, 0x5a, 1);
			pt_cf8_write(f->vm, s, ro[k] + 2, 0xa5a5, 2);
		}
		/* Vendor, device, class, revision, header type, subsystem, cap pointer. */
		assert_int_equal(pt_ecam_read(f->vm, s, 0x00, 4), before[i][0]);
		assert_int_equal(pt_ecam_read(f->vm, s, 0x08, 4), before[i][1]);
		assert_int_equal(pt_ecam_read(f->vm, s, 0x0c, 4) & 0xffffff00u,
				 before[i][2] & 0xffffff00u);
		assert_int_equal(pt_ecam_read(f->vm, s, 0x2c, 4), before[i][3]);
		assert_int_equal(pt_ecam_read(f->vm, s, 0x34, 1), before[i][4] & 0xff);
		/* Interrupt pin is read-only; interrupt line is the OS's. */
		assert_int_equal(pt_ecam_read(f->vm, s, 0x3d, 1), (before[i][5] >> 8) & 0xff);
		pt_ecam_write(f->vm, s, PCI_INTERRUPT_LINE, 0x0b, 1);
		assert_int_equal(pt_ecam_read(f->vm, s, PCI_INTERRUPT_LINE, 1), 0x0b);
	}
	/* The device's line starts at the GSI its INTA is routed to. */
	assert_int_equal(before[1][5] & 0xff, PCI_INTX_GSI(f->slot, 0));
	assert_int_equal((before[1][5] >> 8) & 0xff, 1);	/* INTA */
	assert_int_equal(before[1][4] & 0xff, 0x40);
	/* Only memory, bus master and INTx disable are writable in Command. */
	set_command(f, 0xffff);
	assert_int_equal(command(f), PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE);
	set_command(f, 0);
	assert_int_equal(command(f), 0);
	/* Status is read-only (no w1c bits in use): capabilities stay listed. */
	pt_ecam_write(f->vm, f->slot, PCI_STATUS, 0xffff, 2);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
}

/* ---- BARs ---- */

static uint64_t size_of(uint64_t readback)
{
	return ~(readback & ~0xfULL) + 1;
}

static void check_bar_sizing(struct fixture *f)
{
	uint32_t bar0 = pt_ecam_read(f->vm, f->slot, PCI_BAR0, 4);
	uint32_t bar2 = pt_ecam_read(f->vm, f->slot, PCI_BAR0 + 8, 4);
	uint32_t bar3 = pt_ecam_read(f->vm, f->slot, PCI_BAR0 + 12, 4);
	uint32_t lo, hi;

	/* BAR0: 32-bit, non-prefetchable memory; placed in the 32-bit window. */
	assert_int_equal(bar0 & 0xf, 0);
	assert_true(bar0 >= PCI_MMIO32_BASE && bar0 < PCI_MMIO32_BASE + PCI_MMIO32_SIZE);
	assert_int_equal(bar0 % MSIX_BAR_SIZE, 0);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0, 0xffffffffu, 4);
	lo = pt_ecam_read(f->vm, f->slot, PCI_BAR0, 4);
	assert_int_equal(lo, 0xffffffffu & ~(MSIX_BAR_SIZE - 1));
	assert_int_equal(size_of(0xffffffff00000000ULL | lo), MSIX_BAR_SIZE);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0, bar0, 4);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_BAR0, 4), bar0);

	/* BAR2/3: 64-bit prefetchable; the type bits survive sizing. */
	assert_int_equal(bar2 & 0xf, PCI_BAR_MEM_64 | PCI_BAR_PREFETCH);
	assert_int_equal((bar2 & ~0xfu) % REGS_BAR_SIZE, 0);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 8, 0xffffffffu, 4);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 12, 0xffffffffu, 4);
	lo = pt_ecam_read(f->vm, f->slot, PCI_BAR0 + 8, 4);
	hi = pt_ecam_read(f->vm, f->slot, PCI_BAR0 + 12, 4);
	assert_int_equal(lo, (0xffffffffu & ~(REGS_BAR_SIZE - 1)) | 0xc);
	assert_int_equal(hi, 0xffffffffu);
	assert_int_equal(size_of((uint64_t)hi << 32 | lo), REGS_BAR_SIZE);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 8, bar2, 4);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 12, bar3, 4);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_BAR0 + 8, 4), bar2);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_BAR0 + 12, 4), bar3);

	/* Unimplemented BARs are hard-wired to 0. */
	for (unsigned int nr = 1; nr < 6; nr += (nr == 1) ? 3 : 1) {
		pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 4 * nr, 0xffffffffu, 4);
		assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_BAR0 + 4 * nr, 4), 0);
	}
}

/* As Linux does it: decode off while sizing. */
static void test_bar_sizing(void **state)
{
	struct fixture *f = *state;

	check_bar_sizing(f);
	/* Nothing was mapped meanwhile: decode was off all along. */
	assert_false(claimed(f, pt_bar_addr(f->vm, f->slot, 0)));
}

/* Some guests size with decode on: the BAR must come back where it was. */
static void test_bar_sizing_decode_on(void **state)
{
	struct fixture *f = *state;
	uint64_t bar0 = pt_bar_addr(f->vm, f->slot, 0);
	uint64_t bar2 = pt_bar_addr(f->vm, f->slot, 2);

	set_command(f, PCI_CMD_MEMORY);
	assert_true(claimed(f, bar0));
	assert_true(claimed(f, bar2));
	check_bar_sizing(f);
	assert_true(claimed(f, bar0));
	assert_true(claimed(f, bar2));
	assert_true(claimed(f, bar0 + MSIX_BAR_SIZE - 4));
	assert_true(claimed(f, bar2 + REGS_BAR_SIZE - 4));
}

static void test_bars_disjoint_from_the_rest(void **state)
{
	struct fixture *f = *state;
	uint64_t bar0 = pt_bar_addr(f->vm, f->slot, 0);
	uint64_t bar2 = pt_bar_addr(f->vm, f->slot, 2);

	assert_true(bar0 + MSIX_BAR_SIZE <= bar2 || bar2 + REGS_BAR_SIZE <= bar0);
	assert_true(bar2 >= PCI_MMIO32_BASE);
	assert_true(bar2 + REGS_BAR_SIZE <= PCI_MMIO32_BASE + PCI_MMIO32_SIZE);
	/* The window ends below ECAM, which stays claimed by the bridge. */
	assert_true(PCI_MMIO32_BASE + PCI_MMIO32_SIZE <= PCI_ECAM_BASE);
}

static void test_bar_move(void **state)
{
	struct fixture *f = *state;
	uint64_t old0 = pt_bar_addr(f->vm, f->slot, 0);
	uint64_t old2 = pt_bar_addr(f->vm, f->slot, 2);

	set_command(f, PCI_CMD_MEMORY);
	/* MSI-X entry 0's data through BAR0 at its old place. */
	pt_mmio_write(f->vm, old0 + 8, 0x1234, 4);
	assert_int_equal(pt_mmio_read(f->vm, old0 + 8, 4), 0x1234);

	pt_ecam_write(f->vm, f->slot, PCI_BAR0, (uint32_t)NEW_BAR0, 4);
	assert_int_equal(pt_bar_addr(f->vm, f->slot, 0), NEW_BAR0);
	assert_false(claimed(f, old0));
	assert_false(claimed(f, old0 + 8));
	assert_int_equal(pt_mmio_read(f->vm, NEW_BAR0 + 8, 4), 0x1234);
	pt_mmio_write(f->vm, NEW_BAR0 + 8, 0x5678, 4);
	assert_int_equal(pt_mmio_read(f->vm, NEW_BAR0 + 8, 4), 0x5678);

	/* The 64-bit BAR above 4 GiB, written low half then high half. */
	assert_int_equal(pt_mmio_read(f->vm, old2 + VC_NUMQ, 2), 1);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 8, (uint32_t)NEW_BAR2 | 0xc, 4);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 12, NEW_BAR2 >> 32, 4);
	assert_int_equal(pt_bar_addr(f->vm, f->slot, 2), NEW_BAR2);
	assert_false(claimed(f, old2 + VC_NUMQ));
	assert_int_equal(pt_mmio_read(f->vm, NEW_BAR2 + VC_NUMQ, 2), 1);
	assert_int_equal(pt_mmio_read(f->vm, NEW_BAR2 + VC_QSIZE, 2), 64);

	/* And back: the old places decode again, the new ones do not. */
	pt_ecam_write(f->vm, f->slot, PCI_BAR0, (uint32_t)old0, 4);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 8, (uint32_t)old2 | 0xc, 4);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 12, old2 >> 32, 4);
	assert_false(claimed(f, NEW_BAR0 + 8));
	assert_false(claimed(f, NEW_BAR2));
	assert_int_equal(pt_mmio_read(f->vm, old0 + 8, 4), 0x5678);
	assert_int_equal(pt_mmio_read(f->vm, old2 + VC_NUMQ, 2), 1);
}

/* A BAR moved onto ECAM (or another BAR) is refused, not half-mapped. */
static void test_bar_move_onto_ecam(void **state)
{
	struct fixture *f = *state;
	uint64_t old0 = pt_bar_addr(f->vm, f->slot, 0);

	set_command(f, PCI_CMD_MEMORY);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0, (uint32_t)PCI_ECAM_BASE, 4);
	/* ECAM still works: the device is still reachable through it. */
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_VENDOR_ID, 2), PCITEST_VIRTIO_VENDOR);
	assert_false(claimed(f, old0));
	/* Moved somewhere sane again, it decodes. */
	pt_ecam_write(f->vm, f->slot, PCI_BAR0, (uint32_t)NEW_BAR0, 4);
	assert_true(claimed(f, NEW_BAR0));
	/* Onto BAR2: refused; BAR2 keeps working. */
	pt_ecam_write(f->vm, f->slot, PCI_BAR0, (uint32_t)pt_bar_addr(f->vm, f->slot, 2), 4);
	assert_int_equal(pt_mmio_read(f->vm, pt_bar_addr(f->vm, f->slot, 2) + VC_NUMQ, 2), 1);
	assert_false(claimed(f, NEW_BAR0));
}

static void test_memory_decode_gates_bars(void **state)
{
	struct fixture *f = *state;
	uint64_t bar0 = pt_bar_addr(f->vm, f->slot, 0);
	uint64_t bar2 = pt_bar_addr(f->vm, f->slot, 2);

	/* Reset state: Command is 0, nothing decodes. */
	assert_int_equal(command(f), 0);
	assert_false(claimed(f, bar0));
	assert_false(claimed(f, bar2));
	set_command(f, PCI_CMD_MASTER);
	assert_false(claimed(f, bar2));
	set_command(f, PCI_CMD_MEMORY);
	assert_true(claimed(f, bar0));
	assert_true(claimed(f, bar2));
	set_command(f, 0);
	assert_false(claimed(f, bar0));
	assert_false(claimed(f, bar2));
	/* A move while decode is off takes effect when it is turned on. */
	pt_ecam_write(f->vm, f->slot, PCI_BAR0, (uint32_t)NEW_BAR0, 4);
	assert_false(claimed(f, NEW_BAR0));
	pt_cf8_write(f->vm, f->slot, PCI_COMMAND, PCI_CMD_MEMORY, 1);
	assert_true(claimed(f, NEW_BAR0));
	assert_false(claimed(f, bar0));
	/* A BAR of 0 is "unplaced": nothing decodes at 0. */
	pt_ecam_write(f->vm, f->slot, PCI_BAR0, 0, 4);
	assert_false(claimed(f, 0));
	assert_false(claimed(f, NEW_BAR0));
}

/* ---- Bad accesses ---- */

static void test_bad_config_accesses(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	uint64_t v;

	set_command(f, PCI_CMD_MASTER);
	/* 3 bytes, misaligned words and dwords, 8 bytes: all ignored. */
	v = 0xffffff;
	assert_true(pt_mmio_try(vm, pt_ecam_addr(f->slot, 0, PCI_COMMAND), &v, 3, true));
	assert_true(pt_mmio_try(vm, pt_ecam_addr(f->slot, 0, 0), &v, 3, false));
	assert_int_equal(v, 0xffffff);
	assert_int_equal(pt_ecam_read(vm, f->slot, 0x01, 2), 0xffff);
	assert_int_equal(pt_ecam_read(vm, f->slot, 0x02, 4), 0xffffffffu);
	pt_ecam_write(vm, f->slot, 0x03, 0xffff, 2);
	pt_ecam_write(vm, f->slot, 0x02, 0xffffffff, 4);
	v = ~0ULL;
	assert_true(pt_mmio_try(vm, pt_ecam_addr(f->slot, 0, PCI_COMMAND), &v, 8, true));
	assert_true(pt_mmio_try(vm, pt_ecam_addr(f->slot, 0, 0), &v, 8, false));
	assert_int_equal(v, ~0ULL);
	assert_int_equal(command(f), PCI_CMD_MASTER);

	/* Straddling into the next function (0xfff + 4) and past ECAM's end. */
	assert_int_equal(pt_mmio_read(vm, pt_ecam_addr(f->slot, 0, 0xfff), 4), 0xffffffffu);
	pt_mmio_write(vm, pt_ecam_addr(f->slot, 0, 0xfff), 0, 4);
	assert_int_equal(pt_mmio_read(vm, pt_ecam_addr(f->slot, 0, 0xffe), 4), 0xffffffffu);
	v = 0;
	assert_false(pt_mmio_try(vm, PCI_ECAM_BASE + PCI_ECAM_SIZE - 2, &v, 4, true));
	assert_false(pt_mmio_try(vm, PCI_ECAM_BASE + PCI_ECAM_SIZE - 2, &v, 4, false));

	/* Extended config space (>= 256) of a present device reads as zeros. */
	for (unsigned int off = PCI_CFG_SIZE; off < PCI_ECAM_FN_SIZE; off += 0x3c)
		assert_int_equal(pt_ecam_read(vm, f->slot, off & ~3u, 4), 0);
	pt_ecam_write(vm, f->slot, 0x100, 0xffffffffu, 4);
	pt_ecam_write(vm, f->slot, 0xffc, 0xffffffffu, 4);
	assert_int_equal(pt_ecam_read(vm, f->slot, 0x100, 4), 0);
	assert_int_equal(pt_ecam_read(vm, f->slot, 0xffe, 2), 0);
	assert_int_equal(pt_ecam_read(vm, f->slot, 0xfff, 1), 0);

	/* Through 0xCFC: misaligned lanes and accesses past the data port. */
	pio_out(vm, PCI_CONFIG_ADDR_PORT, 0x80000000u | f->slot << 11, 4);
	assert_int_equal(pio_in(vm, PCI_CONFIG_DATA_PORT + 1, 2), 0xffff);
	pio_out(vm, PCI_CONFIG_DATA_PORT + 1, 0xffff, 2);
	v = 0;
	assert_false(bus_access(&vm->pio, PCI_CONFIG_DATA_PORT + 2, (uint8_t *)&v, 4, false));
	assert_false(bus_access(&vm->pio, PCI_CONFIG_DATA_PORT, (uint8_t *)&v, 8, true));
	assert_int_equal(command(f), PCI_CMD_MASTER);
	assert_int_equal(pt_ecam_read(vm, f->slot, 0, 2), PCITEST_VIRTIO_VENDOR);
}

/* ---- MSI-X ---- */

static uint64_t msix_table(struct fixture *f)
{
	uint8_t cap = pt_find_cap(f->vm, f->slot, PCI_CAP_ID_MSIX, 0);
	uint32_t t = pt_ecam_read(f->vm, f->slot, cap + 4u, 4);

	assert_true(cap != 0);
	return pt_bar_addr(f->vm, f->slot, t & 7) + (t & ~7u);
}

static uint64_t msix_pba(struct fixture *f)
{
	uint8_t cap = pt_find_cap(f->vm, f->slot, PCI_CAP_ID_MSIX, 0);
	uint32_t p = pt_ecam_read(f->vm, f->slot, cap + 8u, 4);

	return pt_bar_addr(f->vm, f->slot, p & 7) + (p & ~7u);
}

static void set_msix_flags(struct fixture *f, uint16_t flags)
{
	uint8_t cap = pt_find_cap(f->vm, f->slot, PCI_CAP_ID_MSIX, 0);

	pt_ecam_write(f->vm, f->slot, cap + 2u, flags, 2);
}

static uint16_t msix_flags(struct fixture *f)
{
	uint8_t cap = pt_find_cap(f->vm, f->slot, PCI_CAP_ID_MSIX, 0);

	return (uint16_t)pt_ecam_read(f->vm, f->slot, cap + 2u, 2);
}

static void test_msix_capability(void **state)
{
	struct fixture *f = *state;
	uint8_t cap = pt_find_cap(f->vm, f->slot, PCI_CAP_ID_MSIX, 0);
	uint32_t t, p;

	assert_true(cap != 0);
	/* One vector per queue plus config: 2 for virtio-rng. */
	assert_int_equal(msix_flags(f), 2 - 1);
	t = pt_ecam_read(f->vm, f->slot, cap + 4u, 4);
	p = pt_ecam_read(f->vm, f->slot, cap + 8u, 4);
	assert_int_equal(t & 7, 0);
	assert_int_equal(p & 7, 0);
	assert_true((t & ~7u) + 2 * 16 <= (p & ~7u) || (p & ~7u) + 8 <= (t & ~7u));
	/* Table size, BIR and offsets are read-only; enable and mask are not. */
	set_msix_flags(f, 0xffff);
	assert_int_equal(msix_flags(f), PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | 1);
	assert_true(pci_msix_enabled(rng_pdev(f)));
	pt_ecam_write(f->vm, f->slot, cap + 4u, 0xffffffffu, 4);
	pt_ecam_write(f->vm, f->slot, cap + 8u, 0, 4);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, cap + 4u, 4), t);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, cap + 8u, 4), p);
	set_msix_flags(f, 0);
	assert_int_equal(msix_flags(f), 1);
	assert_false(pci_msix_enabled(rng_pdev(f)));
}

static void test_msix_table_access(void **state)
{
	struct fixture *f = *state;
	uint64_t t, pba;
	uint64_t v;

	set_command(f, PCI_CMD_MEMORY);
	t = msix_table(f);
	pba = msix_pba(f);
	/* Entries come up masked, address and data 0. */
	for (unsigned int e = 0; e < 2; e++) {
		assert_int_equal(pt_mmio_read(f->vm, t + 16 * e, 8), 0);
		assert_int_equal(pt_mmio_read(f->vm, t + 16 * e + 8, 4), 0);
		assert_int_equal(pt_mmio_read(f->vm, t + 16 * e + 12, 4), 1);
	}
	/* Dword writes. */
	pt_mmio_write(f->vm, t + 0, 0xfee01000, 4);
	pt_mmio_write(f->vm, t + 4, 0x1, 4);
	pt_mmio_write(f->vm, t + 8, 0x4041, 4);
	assert_int_equal(pt_mmio_read(f->vm, t, 8), 0x1fee01000ULL);
	assert_int_equal(pt_mmio_read(f->vm, t + 8, 4), 0x4041);
	/* Qword writes, both halves of entry 1. */
	pt_mmio_write(f->vm, t + 16, 0x00000002fee02000ULL, 8);
	pt_mmio_write(f->vm, t + 24, 0x0000000000000051ULL, 8);
	assert_int_equal(pt_mmio_read(f->vm, t + 16, 4), 0xfee02000);
	assert_int_equal(pt_mmio_read(f->vm, t + 20, 4), 2);
	assert_int_equal(pt_mmio_read(f->vm, t + 24, 4), 0x51);
	assert_int_equal(pt_mmio_read(f->vm, t + 28, 4), 0);	/* unmasked */
	/* Reserved control bits stay 0. */
	pt_mmio_write(f->vm, t + 28, 0xfffffffe, 4);
	assert_int_equal(pt_mmio_read(f->vm, t + 28, 4), 0);
	pt_mmio_write(f->vm, t + 28, 0xffffffff, 4);
	assert_int_equal(pt_mmio_read(f->vm, t + 28, 4), 1);
	/* Byte, word and misaligned qword writes are ignored. */
	pt_mmio_write(f->vm, t + 8, 0xff, 1);
	pt_mmio_write(f->vm, t + 8, 0xffff, 2);
	pt_mmio_write(f->vm, t + 4, ~0ULL, 8);
	assert_int_equal(pt_mmio_read(f->vm, t, 8), 0x1fee01000ULL);
	assert_int_equal(pt_mmio_read(f->vm, t + 8, 4), 0x4041);
	/* The PBA reads 0 and ignores writes. */
	pt_mmio_write(f->vm, pba, ~0ULL, 8);
	assert_int_equal(pt_mmio_read(f->vm, pba, 8), 0);
	/* Past the table, inside the BAR: claimed, harmless. */
	v = 0;
	assert_true(pt_mmio_try(f->vm, t + 2 * 16, &v, 4, false));
	assert_true(pt_mmio_try(f->vm, t + 2 * 16, &v, 4, true));
	assert_true(pt_mmio_try(f->vm, t + 16 + 12, &v, 8, false));	/* straddles the end */
}

/* Program entry e: address, data, mask. */
static void msix_entry(struct fixture *f, unsigned int e, uint32_t data, bool masked)
{
	uint64_t t = msix_table(f) + 16ULL * e;

	pt_mmio_write(f->vm, t, PCITEST_MSI_ADDR, 8);
	pt_mmio_write(f->vm, t + 8, data, 4);
	pt_mmio_write(f->vm, t + 12, masked, 4);
}

static uint64_t pba_bits(struct fixture *f)
{
	return pt_mmio_read(f->vm, msix_pba(f), 8);
}

static void test_msix_masking(void **state)
{
	struct fixture *f = *state;
	struct pci_dev *pdev = rng_pdev(f);
	uint64_t addr;
	uint32_t data;

	set_command(f, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	msix_entry(f, 0, 0x41, true);
	msix_entry(f, 1, 0x42, false);
	/* MSI-X off: nothing to notify through. */
	assert_false(pci_msix_notify(pdev, 0));
	assert_int_equal(devtest_msi_calls(f->dt), 0);
	set_msix_flags(f, PCI_MSIX_FLAGS_ENABLE);

	/* Unmasked: delivered at once with its address and data. */
	assert_true(pci_msix_notify(pdev, 1));
	assert_int_equal(devtest_msi_calls(f->dt), 1);
	devtest_msi_last(f->dt, &addr, &data);
	assert_int_equal(addr, PCITEST_MSI_ADDR);
	assert_int_equal(data, 0x42);
	assert_int_equal(pba_bits(f), 0);

	/* Masked: pending, then delivered once on unmask. */
	assert_true(pci_msix_notify(pdev, 0));
	assert_true(pci_msix_notify(pdev, 0));
	assert_int_equal(devtest_msi_calls(f->dt), 1);
	assert_int_equal(pba_bits(f), 1);
	pt_mmio_write(f->vm, msix_table(f) + 12, 0, 4);
	assert_int_equal(devtest_msi_calls(f->dt), 2);
	assert_int_equal(devtest_msi_count(f->dt, 0x41), 1);
	assert_int_equal(pba_bits(f), 0);
	/* A second unmask write has nothing left to deliver. */
	pt_mmio_write(f->vm, msix_table(f) + 12, 0, 4);
	assert_int_equal(devtest_msi_calls(f->dt), 2);

	/* Out of range vectors are refused. */
	assert_false(pci_msix_notify(pdev, 2));
	assert_false(pci_msix_notify(pdev, 0xffff));
	assert_int_equal(devtest_msi_calls(f->dt), 2);
}

static void test_msix_function_mask(void **state)
{
	struct fixture *f = *state;
	struct pci_dev *pdev = rng_pdev(f);

	set_command(f, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	msix_entry(f, 0, 0x41, false);
	msix_entry(f, 1, 0x42, false);
	set_msix_flags(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_true(pci_msix_notify(pdev, 0));
	assert_true(pci_msix_notify(pdev, 1));
	assert_int_equal(devtest_msi_calls(f->dt), 0);
	assert_int_equal(pba_bits(f), 3);
	/* Unmasking the function delivers both, once each. */
	set_msix_flags(f, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(devtest_msi_calls(f->dt), 2);
	assert_int_equal(devtest_msi_count(f->dt, 0x41), 1);
	assert_int_equal(devtest_msi_count(f->dt, 0x42), 1);
	assert_int_equal(pba_bits(f), 0);
	/* Function mask set while the entry is masked too: still pending after. */
	msix_entry(f, 0, 0x41, true);
	set_msix_flags(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_true(pci_msix_notify(pdev, 0));
	set_msix_flags(f, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(devtest_msi_calls(f->dt), 2);
	assert_int_equal(pba_bits(f), 1);
	pt_mmio_write(f->vm, msix_table(f) + 12, 0, 4);
	assert_int_equal(devtest_msi_calls(f->dt), 3);
}

/* Without bus mastering a device cannot write the MSI: it stays pending. */
static void test_msix_needs_bus_master(void **state)
{
	struct fixture *f = *state;
	struct pci_dev *pdev = rng_pdev(f);

	set_command(f, PCI_CMD_MEMORY);
	msix_entry(f, 0, 0x41, false);
	set_msix_flags(f, PCI_MSIX_FLAGS_ENABLE);
	assert_true(pci_msix_notify(pdev, 0));
	assert_int_equal(devtest_msi_calls(f->dt), 0);
	assert_int_equal(pba_bits(f), 1);
	set_command(f, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	assert_int_equal(devtest_msi_calls(f->dt), 1);
	assert_int_equal(pba_bits(f), 0);
}

/* ---- INTx, with a real virtio-rng request ---- */

static void rng_driver_no_msix(struct fixture *f, struct vdrv *d)
{
	vdrv_probe(d, f->dt, f->slot);
	assert_true(vdrv_negotiate(d, 1ULL << VF_VERSION_1));
	vdrv_setup_queue(d, 0, 0, VNO_VECTOR);
	assert_int_equal(vdrv_read(d, VC_QMSIX, 2), VNO_VECTOR);
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	pcitest_run(f->vm);
}

static void rng_request(struct vdrv *d)
{
	struct vbuf b = { .gpa = vdrv_alloc(d, 16), .len = 16, .writable = true };
	uint16_t before = vdrv_used_idx(d, 0);

	vdrv_post(d, 0, &b, 1);
	vdrv_kick(d, 0);
	assert_int_equal(vdrv_used_idx(d, 0), (uint16_t)(before + 1));
}

static void test_intx(void **state)
{
	struct fixture *f = *state;
	unsigned int gsi = PCI_INTX_GSI(f->slot, 0);
	struct vdrv d;

	rng_driver_no_msix(f, &d);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 0);
	rng_request(&d);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 1);
	assert_int_equal(devtest_irq_last_gsi(f->dt), gsi);
	assert_true(pt_ecam_read(f->vm, f->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(devtest_msi_calls(f->dt), 0);
	/* Reading the ISR returns "queue interrupt" and deasserts the line. */
	assert_int_equal(pt_mmio_read(f->vm, d.isr, 1), 1);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 0);
	assert_false(pt_ecam_read(f->vm, f->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(pt_mmio_read(f->vm, d.isr, 1), 0);
	/* Another request: another edge. */
	rng_request(&d);
	assert_int_equal(devtest_irq_edges(f->dt, gsi), 2);
	assert_int_equal(pt_mmio_read(f->vm, d.isr, 1), 1);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 0);
}

static void test_intx_disable(void **state)
{
	struct fixture *f = *state;
	unsigned int gsi = PCI_INTX_GSI(f->slot, 0);
	struct vdrv d;

	rng_driver_no_msix(f, &d);
	set_command(f, PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE);
	rng_request(&d);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 0);
	assert_int_equal(devtest_irq_edges(f->dt, gsi), 0);
	/*
	 * Status.Interrupt shows the device's request whatever INTX_DISABLE
	 * says (PCI 3.0, 6.2.3): Linux's pci_check_and_mask_intx() reads it.
	 */
	assert_true(pt_ecam_read(f->vm, f->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* Clearing INTX_DISABLE with the interrupt still pending asserts it. */
	set_command(f, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 1);
	/* Setting it with the line up drops the line. */
	set_command(f, PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 0);
	assert_true(pt_ecam_read(f->vm, f->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(pt_mmio_read(f->vm, d.isr, 1), 1);
	assert_false(pt_ecam_read(f->vm, f->slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	set_command(f, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 0);
}

/* MSI-X on: the queue's vector, never the INTx line. */
static void test_msix_replaces_intx(void **state)
{
	struct fixture *f = *state;
	unsigned int gsi = PCI_INTX_GSI(f->slot, 0);
	struct vdrv d;

	vdrv_probe(&d, f->dt, f->slot);
	vdrv_init(&d, 1ULL << VF_VERSION_1, 1);
	rng_request(&d);
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(0)), 1);
	assert_int_equal(devtest_irq_edges(f->dt, gsi), 0);
	assert_int_equal(pt_mmio_read(f->vm, d.isr, 1), 0);
}

/* ---- A storm of random config writes ---- */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check_ids(struct fixture *f)
{
	assert_int_equal(pt_ecam_read(f->vm, 0, 0, 4), (uint32_t)HB_DEVICE << 16 | HB_VENDOR);
	assert_int_equal(pt_cf8_read(f->vm, f->slot, 0, 4),
			 (uint32_t)RNG_DEVICE << 16 | PCITEST_VIRTIO_VENDOR);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, 0x08, 4) >> 8, 0xff0000);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_CAPABILITY_LIST, 1), 0x40);
}

static void test_random_config_writes(void **state)
{
	static const unsigned int sizes[] = { 1, 2, 3, 4, 8 };
	struct fixture *f = *state;
	uint64_t seed = 0x5eed1234abcdULL;

	for (unsigned int i = 0; i < 20000; i++) {
		uint64_t r = xorshift(&seed);
		unsigned int slot = r & 31, len = sizes[(r >> 5) % 5];
		unsigned int off = (r >> 8) & 0xfff;
		uint64_t val = xorshift(&seed);

		/* Mostly the interesting header and capability area. */
		if (r & (1ULL << 40))
			off &= 0xff;
		if (r & (1ULL << 41))
			slot = r & (1ULL << 42) ? 0 : f->slot;
		if (r & (1ULL << 43) && len <= 4 && len != 3 && off % len == 0 && off < 256) {
			pt_cf8_write(f->vm, slot, off, (uint32_t)val, len);
		} else {
			pt_mmio_try(f->vm, pt_ecam_addr(slot, (r >> 44) & 7, off), &val, len,
				    true);
		}
		/* Reads too, and an access to wherever the BARs now are. */
		if (i % 64 == 0) {
			uint64_t v;

			pt_mmio_try(f->vm, pt_bar_addr(f->vm, f->slot, 0) + (r & 0xff8), &v, 4,
				    r & 1);
			pt_mmio_try(f->vm, pt_bar_addr(f->vm, f->slot, 2) + (r & 0x3ffc), &v, 4,
				    false);
		}
		if (i % 1000 == 0)
			check_ids(f);
	}
	check_ids(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_host_bridge_ids),
		T(test_cf8_and_ecam_agree),
		T(test_empty_slots_read_ones),
		T(test_cf8_latch),
		T(test_read_only_fields),
		T(test_bar_sizing),
		T(test_bar_sizing_decode_on),
		T(test_bars_disjoint_from_the_rest),
		T(test_bar_move),
		T(test_bar_move_onto_ecam),
		T(test_memory_decode_gates_bars),
		T(test_bad_config_accesses),
		T(test_msix_capability),
		T(test_msix_table_access),
		T(test_msix_masking),
		T(test_msix_function_mask),
		T(test_msix_needs_bus_master),
		T(test_intx),
		T(test_intx_disable),
		T(test_msix_replaces_intx),
		T(test_random_config_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
