// SPDX-License-Identifier: MIT
/*
 * The virtio-pci transport, driven through virtio-rng (the simplest device)
 * by a small driver written from the spec: capabilities, feature
 * negotiation, the status state machine, queue registers, requests with
 * MSI-X and INTx interrupts, and guest errors that must end in
 * DEVICE_NEEDS_RESET (and a device that works again after a reset).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "devices/pci/pci.h"
#include "vmm/evloop.h"
#include "vmm/vm.h"

#include "pcitest.h"

#define RNG_DEVICE	PCITEST_VIRTIO_DEV(4)
#define RNG_QSIZE	64
#define RNG_MAX_BYTES	65536	/* per request, as the device promises */
#define F_V1		(1ULL << VF_VERSION_1)
#define F_EVENT_IDX	(1ULL << VF_EVENT_IDX)
#define F_INDIRECT	(1ULL << VF_INDIRECT)
#define ALL_OK		(VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK)
#define NEEDS_RESET_MSG	"guest error, device needs reset"

struct fixture {
	struct devtest *dt;
	struct vm *vm;
	unsigned int slot;
	struct vdrv d;
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
	vdrv_probe(&f->d, f->dt, f->slot);
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

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* One writable buffer of len bytes; returns the used length reported. */
static uint32_t rng_request(struct fixture *f, uint32_t len, uint8_t **out)
{
	struct vdrv *d = &f->d;
	struct vbuf b = { .gpa = vdrv_alloc(d, len), .len = len, .writable = true };
	uint16_t before = vdrv_used_idx(d, 0);
	uint32_t id, used_len;
	uint16_t head;

	head = vdrv_post(d, 0, &b, 1);
	vdrv_kick(d, 0);
	assert_int_equal(vdrv_used_idx(d, 0), (uint16_t)(before + 1));
	vdrv_used_elem(d, 0, before, &id, &used_len);
	assert_int_equal(id, head);
	if (out)
		*out = vdrv_ptr(d, b.gpa, len);
	return used_len;
}

/* ---- Discovery ---- */

static void test_pci_identity(void **state)
{
	struct fixture *f = *state;

	/* Modern-only device: id 0x1040 + type, revision >= 1 (4.1.2.1). */
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_DEVICE_ID, 2), 0x1044);
	assert_true(pt_ecam_read(f->vm, f->slot, 0x08, 1) >= 1);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_SUBSYSTEM_VENDOR_ID, 2),
			 PCITEST_VIRTIO_VENDOR);
	assert_true(pt_ecam_read(f->vm, f->slot, PCI_SUBSYSTEM_ID, 2) >= 0x40);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_HEADER_TYPE, 1), 0);
}

static void test_capabilities(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint64_t bar2 = pt_bar_addr(f->vm, f->slot, 2);
	unsigned int types[6] = { 0 };
	uint8_t c;

	/* Walk the list by hand as well, counting each structure type. */
	c = (uint8_t)pt_ecam_read(f->vm, f->slot, PCI_CAPABILITY_LIST, 1);
	for (int hops = 0; c; hops++) {
		assert_true(hops < 16);
		if (pt_ecam_read(f->vm, f->slot, c, 1) == PCI_CAP_ID_VNDR) {
			uint8_t type = (uint8_t)pt_ecam_read(f->vm, f->slot, c + 3u, 1);
			uint32_t off = pt_ecam_read(f->vm, f->slot, c + 8u, 4);
			uint32_t len = pt_ecam_read(f->vm, f->slot, c + 12u, 4);

			assert_in_range(type, VCAP_COMMON, VCAP_PCI_CFG);
			types[type]++;
			/* PCI_CFG's fields are a window the driver points. */
			if (type == VCAP_PCI_CFG) {
				assert_int_equal(pt_ecam_read(f->vm, f->slot, c + 2u, 1), 20);
				c = (uint8_t)pt_ecam_read(f->vm, f->slot, c + 1u, 1);
				continue;
			}
			/* The 64-bit BAR2, and each structure inside it. */
			assert_int_equal(pt_ecam_read(f->vm, f->slot, c + 4u, 1), 2);
			assert_true((uint64_t)off + len <= 0x4000);
			/* Every structure starts dword-aligned (4.1.4.1 asks at least that). */
			assert_int_equal(off % 4, 0);
		}
		c = (uint8_t)pt_ecam_read(f->vm, f->slot, c + 1u, 1);
	}
	assert_int_equal(types[VCAP_COMMON], 1);
	assert_int_equal(types[VCAP_NOTIFY], 1);
	assert_int_equal(types[VCAP_ISR], 1);
	assert_int_equal(types[VCAP_DEVICE], 0);	/* virtio-rng has no config */
	assert_int_equal(types[VCAP_PCI_CFG], 1);
	assert_int_equal(d->device, 0);

	/* What the driver's probe found. */
	assert_true(d->common >= bar2 && d->common + 0x38 <= bar2 + 0x4000);
	assert_true(d->common_len >= 0x38);
	assert_true(d->isr_len >= 1);
	/* notify_off_multiplier: even (4.1.4.4), and room for every queue. */
	assert_int_equal(d->notify_mult % 2, 0);
	assert_true(d->notify_mult > 0);
	vdrv_write(d, VC_QSELECT, 0, 2);
	assert_true(vdrv_read(d, VC_QNOFF, 2) * d->notify_mult + 2 <= d->notify_len);
	/* Structures do not overlap. */
	assert_true(d->common + d->common_len <= d->isr || d->isr + d->isr_len <= d->common);
	assert_true(d->notify + d->notify_len <= d->isr || d->isr + d->isr_len <= d->notify);
	assert_true(d->common + d->common_len <= d->notify ||
		    d->notify + d->notify_len <= d->common);
	/* MSI-X: a vector per queue plus one for config changes. */
	assert_int_equal(d->msix_nr, 2);
}

/* Point the PCI_CFG window (4.1.4.9) at bar/off, width len. */
static uint8_t cfg_window(struct fixture *f, uint8_t bar, uint32_t off, uint32_t len)
{
	uint8_t c = (uint8_t)pt_ecam_read(f->vm, f->slot, PCI_CAPABILITY_LIST, 1);

	while (c && !(pt_ecam_read(f->vm, f->slot, c, 1) == PCI_CAP_ID_VNDR &&
		      pt_ecam_read(f->vm, f->slot, c + 3u, 1) == VCAP_PCI_CFG))
		c = (uint8_t)pt_ecam_read(f->vm, f->slot, c + 1u, 1);
	assert_true(c != 0);
	pt_ecam_write(f->vm, f->slot, c + 4u, bar, 1);
	pt_ecam_write(f->vm, f->slot, c + 8u, off, 4);
	pt_ecam_write(f->vm, f->slot, c + 12u, len, 4);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, c + 4u, 1), bar);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, c + 8u, 4), off);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, c + 12u, 4), len);
	return c + 16;	/* pci_cfg_data */
}

/* The registers are reachable through config space alone, decode off. */
static void test_pci_cfg_window(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint8_t data;

	pt_ecam_write(f->vm, f->slot, PCI_COMMAND, 0, 2);
	data = cfg_window(f, 2, VC_NUMQ, 2);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, data, 2), 1);
	assert_int_equal(pt_cf8_read(f->vm, f->slot, data, 2), 1);
	/* Writes: device status, then read back through the window. */
	data = cfg_window(f, 2, VC_STATUS, 1);
	pt_ecam_write(f->vm, f->slot, data, VS_ACK, 1);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, data, 1), VS_ACK);
	/* A dword of the MSI-X table through BAR0. */
	data = cfg_window(f, 0, 8, 4);
	pt_ecam_write(f->vm, f->slot, data, 0x4321, 4);
	assert_int_equal(pt_ecam_read(f->vm, f->slot, data, 4), 0x4321);
	/* Widths other than the announced one, and misaligned offsets, do nothing. */
	data = cfg_window(f, 2, VC_STATUS, 1);
	pt_ecam_write(f->vm, f->slot, data, 0, 4);
	data = cfg_window(f, 2, VC_QSELECT + 1, 2);
	pt_ecam_write(f->vm, f->slot, data, 0x0101, 2);
	data = cfg_window(f, 2, VC_STATUS, 3);
	pt_ecam_write(f->vm, f->slot, data, 0, 1);
	/* Out of the BAR, or a BAR that does not exist. */
	data = cfg_window(f, 2, 0xfffffffc, 4);
	pt_ecam_write(f->vm, f->slot, data, 0, 4);
	(void)pt_ecam_read(f->vm, f->slot, data, 4);
	data = cfg_window(f, 5, 0, 4);
	pt_ecam_write(f->vm, f->slot, data, 0, 4);
	(void)pt_ecam_read(f->vm, f->slot, data, 4);
	/* Now with decode on, the same state seen through the BARs. */
	vdrv_probe(d, f->dt, f->slot);
	assert_int_equal(vdrv_status(d), VS_ACK);
	assert_int_equal(vdrv_read(d, VC_QSELECT, 2), 0);
	assert_int_equal(pt_mmio_read(f->vm, d->msix_table + 8, 4), 0x4321);
}

/* ---- Features ---- */

static void test_device_features(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint64_t feat = vdrv_device_features(d);

	assert_true(feat & F_V1);
	assert_true(feat & F_EVENT_IDX);
	assert_true(feat & F_INDIRECT);
	/* virtio-rng has no feature bits of its own. */
	assert_int_equal(feat, F_V1 | F_EVENT_IDX | F_INDIRECT);
	/* Selectors past the 64 defined bits read 0. */
	vdrv_write(d, VC_DFSELECT, 2, 4);
	assert_int_equal(vdrv_read(d, VC_DF, 4), 0);
	vdrv_write(d, VC_DFSELECT, 0xffffffff, 4);
	assert_int_equal(vdrv_read(d, VC_DFSELECT, 4), 0xffffffff);
	assert_int_equal(vdrv_read(d, VC_DF, 4), 0);
	/* Device features are read-only. */
	vdrv_write(d, VC_DFSELECT, 0, 4);
	vdrv_write(d, VC_DF, 0xffffffff, 4);
	assert_int_equal(vdrv_device_features(d), feat);
	/* Driver features read back per select. */
	vdrv_write_features(d, F_V1 | F_EVENT_IDX);
	vdrv_write(d, VC_GFSELECT, 0, 4);
	assert_int_equal(vdrv_read(d, VC_GF, 4), 1u << VF_EVENT_IDX);
	vdrv_write(d, VC_GFSELECT, 1, 4);
	assert_int_equal(vdrv_read(d, VC_GF, 4), 1);
	vdrv_write(d, VC_GFSELECT, 2, 4);
	vdrv_write(d, VC_GF, 0xffffffff, 4);
	assert_int_equal(vdrv_read(d, VC_GF, 4), 0);
}

static void test_features_ok_refused(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;

	/* A legacy driver (no VERSION_1) is refused. */
	assert_false(vdrv_negotiate(d, F_EVENT_IDX));
	assert_int_equal(vdrv_status(d), VS_ACK | VS_DRIVER);
	/* So is a bit the device never offered, high or low. */
	assert_false(vdrv_negotiate(d, F_V1 | 1ULL << 33));
	assert_false(vdrv_negotiate(d, F_V1 | 1ULL << 0));
	assert_false(vdrv_negotiate(d, F_V1 | 1ULL << 63));
	/* The driver may try again with a subset in the same session. */
	vdrv_write_features(d, F_V1);
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
	assert_int_equal(vdrv_status(d), VS_ACK | VS_DRIVER | VS_FEATURES_OK);
	/* Accepted features are frozen. */
	vdrv_write_features(d, F_V1 | F_EVENT_IDX);
	vdrv_write(d, VC_GFSELECT, 0, 4);
	assert_int_equal(vdrv_read(d, VC_GF, 4), 0);
	/* Everything offered is fine too. */
	assert_true(vdrv_negotiate(d, F_V1 | F_EVENT_IDX | F_INDIRECT));
	assert_true(vdrv_negotiate(d, vdrv_device_features(d)));
}

static void test_driver_ok_without_features_ok(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	struct pt_capture cap;
	char *log;

	vdrv_set_status(d, VS_ACK | VS_DRIVER);
	pt_capture_begin(&cap);
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_DRIVER_OK);
	log = pt_capture_end(&cap);
	assert_int_equal(vdrv_status(d), VS_ACK | VS_DRIVER | VS_NEEDS_RESET);
	assert_int_equal(pt_count(log, NEEDS_RESET_MSG), 1);
	free(log);
	/* After a refused FEATURES_OK, too. */
	assert_false(vdrv_negotiate(d, F_EVENT_IDX));
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	assert_true(vdrv_status(d) & VS_NEEDS_RESET);
	assert_false(vdrv_status(d) & VS_DRIVER_OK);
}

/* ---- Status ---- */

static void test_status_bits_stick(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;

	vdrv_set_status(d, VS_ACK);
	vdrv_set_status(d, VS_ACK | VS_DRIVER);
	vdrv_set_status(d, VS_ACK);
	assert_int_equal(vdrv_status(d), VS_ACK | VS_DRIVER);
	/* The driver cannot set NEEDS_RESET. */
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_NEEDS_RESET);
	assert_int_equal(vdrv_status(d), VS_ACK | VS_DRIVER);
	vdrv_write_features(d, F_V1);
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
	vdrv_setup_queue(d, 0, 0, VNO_VECTOR);
	vdrv_set_status(d, ALL_OK);
	assert_int_equal(vdrv_status(d), ALL_OK);
	/* Writes that would drop bits do not. */
	vdrv_set_status(d, VS_ACK);
	assert_int_equal(vdrv_status(d), ALL_OK);
	vdrv_set_status(d, VS_DRIVER_OK);
	assert_int_equal(vdrv_status(d), ALL_OK);
	/* Still working: a request goes through. */
	assert_int_equal(rng_request(f, 32, NULL), 32);
	/* Only a reset clears them. */
	vdrv_set_status(d, 0);
	assert_int_equal(vdrv_status(d), 0);
}

/* DRIVER_OK written on its own after FEATURES_OK was accepted: bits add up. */
static void test_driver_ok_alone(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;

	assert_true(vdrv_negotiate(d, F_V1));
	vdrv_setup_queue(d, 0, 0, VNO_VECTOR);
	vdrv_set_status(d, VS_DRIVER_OK);
	assert_int_equal(vdrv_status(d), ALL_OK);
	assert_int_equal(rng_request(f, 8, NULL), 8);
}

static void test_failed_bit(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;

	vdrv_set_status(d, VS_ACK | VS_DRIVER);
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_FAILED);
	assert_int_equal(vdrv_status(d), VS_ACK | VS_DRIVER | VS_FAILED);
	vdrv_set_status(d, VS_ACK | VS_DRIVER);
	assert_int_equal(vdrv_status(d), VS_ACK | VS_DRIVER | VS_FAILED);
	vdrv_set_status(d, 0);
	assert_int_equal(vdrv_status(d), 0);
}

/* ---- Queue registers ---- */

static void test_queue_registers(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;

	assert_int_equal(vdrv_read(d, VC_NUMQ, 2), 1);
	vdrv_write(d, VC_NUMQ, 7, 2);
	assert_int_equal(vdrv_read(d, VC_NUMQ, 2), 1);
	vdrv_write(d, VC_QSELECT, 0, 2);
	assert_int_equal(vdrv_read(d, VC_QSIZE, 2), RNG_QSIZE);
	assert_int_equal(vdrv_read(d, VC_QENABLE, 2), 0);
	assert_int_equal(vdrv_read(d, VC_QMSIX, 2), VNO_VECTOR);
	assert_int_equal(vdrv_read(d, VC_QNOFF, 2), 0);
	assert_int_equal(vdrv_read(d, VC_QDESC, 8), 0);

	/* A queue that does not exist: size 0, and writes go nowhere. */
	for (unsigned int sel = 1; sel < 0x10000; sel = sel * 3 + 1) {
		vdrv_write(d, VC_QSELECT, sel, 2);
		assert_int_equal(vdrv_read(d, VC_QSELECT, 2), sel);
		assert_int_equal(vdrv_read(d, VC_QSIZE, 2), 0);
		vdrv_write(d, VC_QSIZE, 16, 2);
		vdrv_write(d, VC_QMSIX, 0, 2);
		vdrv_write(d, VC_QDESC, 0x100000, 4);
		vdrv_write(d, VC_QENABLE, 1, 2);
		assert_int_equal(vdrv_read(d, VC_QSIZE, 2), 0);
		assert_int_equal(vdrv_read(d, VC_QENABLE, 2), 0);
		assert_int_equal(vdrv_read(d, VC_QDESC, 8), 0);
	}
	vdrv_write(d, VC_QSELECT, 0, 2);
	assert_int_equal(vdrv_read(d, VC_QSIZE, 2), RNG_QSIZE);
	assert_int_equal(vdrv_read(d, VC_QDESC, 8), 0);
	assert_int_equal(vdrv_status(d), 0);

	/* Smaller sizes are the driver's choice. */
	vdrv_write(d, VC_QSIZE, 16, 2);
	assert_int_equal(vdrv_read(d, VC_QSIZE, 2), 16);
	/* Vectors past the table read back NO_VECTOR (4.1.5.1.2.1). */
	vdrv_write(d, VC_QMSIX, 2, 2);
	assert_int_equal(vdrv_read(d, VC_QMSIX, 2), VNO_VECTOR);
	vdrv_write(d, VC_QMSIX, 1, 2);
	assert_int_equal(vdrv_read(d, VC_QMSIX, 2), 1);
}

static void test_queue_addresses_64bit(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	static const unsigned int fields[] = { VC_QDESC, VC_QAVAIL, VC_QUSED };

	vdrv_write(d, VC_QSELECT, 0, 2);
	for (unsigned int i = 0; i < 3; i++) {
		unsigned int o = fields[i];

		/* Two dwords, low then high. */
		vdrv_write(d, o, 0x89abcdef, 4);
		vdrv_write(d, o + 4, 0x01234567, 4);
		assert_int_equal(vdrv_read(d, o, 8), 0x0123456789abcdefULL);
		assert_int_equal(vdrv_read(d, o, 4), 0x89abcdef);
		assert_int_equal(vdrv_read(d, o + 4, 4), 0x01234567);
		/* High then low. */
		vdrv_write(d, o + 4, 0x2, 4);
		vdrv_write(d, o, 0x1000, 4);
		assert_int_equal(vdrv_read(d, o, 8), 0x200001000ULL);
		/* One qword, and a word in the middle. */
		vdrv_write(d, o, 0x1122334455667788ULL, 8);
		assert_int_equal(vdrv_read(d, o, 8), 0x1122334455667788ULL);
		vdrv_write(d, o + 2, 0xbeef, 2);
		assert_int_equal(vdrv_read(d, o, 8), 0x11223344beef7788ULL);
	}
	/* The three fields are independent. */
	vdrv_write(d, VC_QDESC, 0x1000, 8);
	vdrv_write(d, VC_QAVAIL, 0x2000, 8);
	vdrv_write(d, VC_QUSED, 0x3000, 8);
	assert_int_equal(vdrv_read(d, VC_QDESC, 8), 0x1000);
	assert_int_equal(vdrv_read(d, VC_QAVAIL, 8), 0x2000);
	assert_int_equal(vdrv_read(d, VC_QUSED, 8), 0x3000);
}

/* Once enabled, a queue's layout is fixed until reset. */
static void test_enabled_queue_is_frozen(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;

	assert_true(vdrv_negotiate(d, F_V1));
	vdrv_setup_queue(d, 0, 32, VNO_VECTOR);
	vdrv_write(d, VC_QSIZE, 16, 2);
	vdrv_write(d, VC_QDESC, 0x200000, 8);
	vdrv_write(d, VC_QENABLE, 0, 2);	/* not allowed: ignored */
	assert_int_equal(vdrv_read(d, VC_QSIZE, 2), 32);
	assert_int_equal(vdrv_read(d, VC_QDESC, 8), d->q[0].desc);
	assert_int_equal(vdrv_read(d, VC_QENABLE, 2), 1);
	vdrv_set_status(d, ALL_OK);
	assert_int_equal(rng_request(f, 16, NULL), 16);
}

static void test_config_vector_and_generation(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint8_t gen = (uint8_t)vdrv_read(d, VC_CFGGEN, 1);

	assert_int_equal(vdrv_read(d, VC_MSIX, 2), VNO_VECTOR);
	vdrv_write(d, VC_MSIX, 1, 2);
	assert_int_equal(vdrv_read(d, VC_MSIX, 2), 1);
	vdrv_write(d, VC_MSIX, 2, 2);
	assert_int_equal(vdrv_read(d, VC_MSIX, 2), VNO_VECTOR);
	vdrv_write(d, VC_MSIX, 0, 2);
	assert_int_equal(vdrv_read(d, VC_MSIX, 2), 0);
	/* Read-only, and stable while nothing changes. */
	vdrv_write(d, VC_CFGGEN, gen + 1u, 1);
	assert_int_equal(vdrv_read(d, VC_CFGGEN, 1), gen);
	vdrv_init(d, F_V1, 1);
	assert_int_equal(vdrv_read(d, VC_CFGGEN, 1), gen);
	assert_int_equal(devtest_msi_calls(f->dt), 0);
}

/* ---- Requests ---- */

static void test_request_fills_random(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint64_t ro = vdrv_alloc(d, 16), w1 = vdrv_alloc(d, 40), w2 = vdrv_alloc(d, 24);
	struct vbuf bufs[3] = {
		{ ro, 16, false }, { w1, 40, true }, { w2, 24, true },
	};
	uint32_t id, len, data;
	uint64_t addr;
	uint16_t head;
	uint8_t *p;

	vdrv_init(d, F_V1, 1);
	head = vdrv_post(d, 0, bufs, 3);
	vdrv_kick(d, 0);
	assert_int_equal(vdrv_used_idx(d, 0), 1);
	vdrv_used_elem(d, 0, 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, 64);
	/* Readable bytes untouched, writable ones random (2^-320 to fail). */
	assert_true(all_zero(vdrv_ptr(d, ro, 16), 16));
	assert_false(all_zero(vdrv_ptr(d, w1, 40), 40));
	assert_false(all_zero(vdrv_ptr(d, w2, 24), 24));
	/* The queue's MSI-X vector fired, once, with what the driver programmed. */
	assert_int_equal(devtest_msi_calls(f->dt), 1);
	devtest_msi_last(f->dt, &addr, &data);
	assert_int_equal(addr, PCITEST_MSI_ADDR);
	assert_int_equal(data, PCITEST_MSI_DATA(0));
	assert_int_equal(devtest_irq_edges(f->dt, PCI_INTX_GSI(f->slot, 0)), 0);

	/* Two different requests give different bytes. */
	assert_int_equal(rng_request(f, 32, &p), 32);
	assert_memory_not_equal(p, vdrv_ptr(d, w1, 32), 32);
	assert_int_equal(devtest_msi_calls(f->dt), 2);
	/* A huge buffer gets at most 64 KiB. */
	assert_int_equal(rng_request(f, 3 * RNG_MAX_BYTES, NULL), RNG_MAX_BYTES);
	/* A request with nothing writable is completed with 0 bytes. */
	{
		struct vbuf b = { vdrv_alloc(d, 8), 8, false };

		vdrv_post(d, 0, &b, 1);
		vdrv_kick(d, 0);
		assert_int_equal(vdrv_used_idx(d, 0), 4);
		vdrv_used_elem(d, 0, 3, &id, &len);
		assert_int_equal(len, 0);
	}
	assert_int_equal(vdrv_status(d), ALL_OK);
}

/* Several requests posted before one kick: all completed, in order. */
static void test_batch(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint16_t heads[RNG_QSIZE];

	vdrv_init(d, F_V1, 1);
	for (unsigned int i = 0; i < RNG_QSIZE; i++) {
		struct vbuf b = { vdrv_alloc(d, i + 1), i + 1, true };

		heads[i] = vdrv_post(d, 0, &b, 1);
	}
	vdrv_kick(d, 0);
	assert_int_equal(vdrv_used_idx(d, 0), RNG_QSIZE);
	for (unsigned int i = 0; i < RNG_QSIZE; i++) {
		uint32_t id, len;

		vdrv_used_elem(d, 0, (uint16_t)i, &id, &len);
		assert_int_equal(id, heads[i]);
		assert_int_equal(len, i + 1);
	}
	/* The driver asked for interrupts: at least one, not one per buffer. */
	assert_in_range(devtest_msi_calls(f->dt), 1, 2);
}

static void test_indirect_and_event_idx(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint64_t table = vdrv_alloc(d, 32), b1 = vdrv_alloc(d, 10), b2 = vdrv_alloc(d, 20);
	uint8_t *t = vdrv_ptr(d, table, 32);
	uint16_t flags = VD_WRITE | VD_NEXT, next = 1;
	uint32_t len = 10, id, used_len;
	uint16_t used_event = 5, avail_event;

	vdrv_init(d, F_V1 | F_INDIRECT | F_EVENT_IDX, 1);
	/* An indirect table of two writable buffers. */
	memcpy(t, &b1, 8);
	memcpy(t + 8, &len, 4);
	memcpy(t + 12, &flags, 2);
	memcpy(t + 14, &next, 2);
	len = 20;
	flags = VD_WRITE;
	memcpy(t + 16, &b2, 8);
	memcpy(t + 24, &len, 4);
	memcpy(t + 28, &flags, 2);
	/* used_event = 5: no interrupt until used idx passes 5. */
	memcpy(vdrv_ptr(d, d->q[0].avail + 4 + 2 * RNG_QSIZE, 2), &used_event, 2);
	vdrv_set_desc(d, 0, 7, table, 32, VD_INDIRECT, 0);
	vdrv_publish(d, 0, 7);
	vdrv_kick(d, 0);
	assert_int_equal(vdrv_used_idx(d, 0), 1);
	vdrv_used_elem(d, 0, 0, &id, &used_len);
	assert_int_equal(id, 7);
	assert_int_equal(used_len, 30);
	assert_false(all_zero(vdrv_ptr(d, b2, 20), 20));
	assert_int_equal(devtest_msi_calls(f->dt), 0);
	/* The device asks to be kicked for the next buffer: avail_event = 1. */
	memcpy(&avail_event, vdrv_ptr(d, d->q[0].used + 4 + 8 * RNG_QSIZE, 2), 2);
	assert_int_equal(avail_event, 1);
	/* used_event = 1: the next completion (idx 1 -> 2) interrupts. */
	used_event = 1;
	memcpy(vdrv_ptr(d, d->q[0].avail + 4 + 2 * RNG_QSIZE, 2), &used_event, 2);
	assert_int_equal(rng_request(f, 4, NULL), 4);
	assert_int_equal(devtest_msi_calls(f->dt), 1);
}

/* Buffers made available before DRIVER_OK are served once it is set. */
static void test_buffers_before_driver_ok(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	struct vbuf b = { vdrv_alloc(d, 12), 12, true };

	assert_true(vdrv_negotiate(d, F_V1));
	vdrv_msix_enable(d, 2);
	vdrv_setup_queue(d, 0, 0, 0);
	vdrv_post(d, 0, &b, 1);
	vdrv_kick(d, 0);
	assert_int_equal(vdrv_used_idx(d, 0), 0);
	vdrv_set_status(d, ALL_OK);
	pcitest_run(f->vm);
	assert_int_equal(vdrv_used_idx(d, 0), 1);
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(0)), 1);
}

/* INTx and the ISR when MSI-X is off: bit 0 for queues. */
static void test_isr_queue_bit(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	unsigned int gsi = PCI_INTX_GSI(f->slot, 0);

	assert_true(vdrv_negotiate(d, F_V1));
	vdrv_setup_queue(d, 0, 0, 0);	/* a vector, but MSI-X is off */
	vdrv_set_status(d, ALL_OK);
	assert_int_equal(rng_request(f, 16, NULL), 16);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 1);
	assert_int_equal(devtest_msi_calls(f->dt), 0);
	assert_int_equal(pt_mmio_read(f->vm, d->isr, 1), 1);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 0);
	assert_int_equal(pt_mmio_read(f->vm, d->isr, 1), 0);
}

/* The notify address moves with BAR2; kicks at the new place work. */
static void test_kick_after_bar_move(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint64_t old_notify = d->notify;
	uint64_t v = 0;

	vdrv_init(d, F_V1, 1);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 8, 0x10000000u | 0xc, 4);
	pt_ecam_write(f->vm, f->slot, PCI_BAR0 + 12, 0x8, 4);
	assert_int_equal(pt_bar_addr(f->vm, f->slot, 2), 0x810000000ULL);
	assert_false(pt_mmio_try(f->vm, old_notify, &v, 2, true));
	/* Re-read the capabilities, as a driver would after a resource move. */
	{
		struct vdrv_queue q = d->q[0];

		vdrv_probe(d, f->dt, f->slot);
		d->q[0] = q;
	}
	assert_int_equal(d->notify, 0x810000000ULL + (old_notify & 0x3fff));
	assert_int_equal(vdrv_status(d), ALL_OK);
	assert_int_equal(rng_request(f, 16, NULL), 16);
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(0)), 1);
}

/* ---- Guest errors: NEEDS_RESET, then a working device after reset ---- */

/* Reset and bring up again, then check one request works. */
static void check_recovers(struct fixture *f)
{
	struct vdrv *d = &f->d;

	vdrv_set_status(d, 0);
	assert_int_equal(vdrv_status(d), 0);
	d->heap = PCITEST_HEAP_GPA;
	vdrv_init(d, F_V1, 1);
	assert_int_equal(rng_request(f, 48, NULL), 48);
	assert_int_equal(vdrv_status(d), ALL_OK);
}

static void enable_bad_rings(struct fixture *f, uint64_t desc, uint64_t avail,
			     uint64_t used)
{
	struct vdrv *d = &f->d;

	assert_true(vdrv_negotiate(d, F_V1));
	vdrv_write(d, VC_QSELECT, 0, 2);
	vdrv_write(d, VC_QDESC, desc, 8);
	vdrv_write(d, VC_QAVAIL, avail, 8);
	vdrv_write(d, VC_QUSED, used, 8);
	vdrv_write(d, VC_QENABLE, 1, 2);
	assert_int_equal(vdrv_read(d, VC_QENABLE, 2), 0);
	assert_true(vdrv_status(d) & VS_NEEDS_RESET);
	/* DRIVER_OK does not make it live. */
	vdrv_set_status(d, ALL_OK);
	assert_true(vdrv_status(d) & VS_NEEDS_RESET);
	check_recovers(f);
}

static void test_rings_outside_ram(void **state)
{
	struct fixture *f = *state;
	uint64_t end = PCITEST_RAM_SIZE;

	enable_bad_rings(f, 0xd0000000ULL, 0x102000, 0x103000);	/* MMIO hole */
	enable_bad_rings(f, 0x101000, 0x102000, 1ULL << 40);	/* nowhere */
	/* Crossing the end of RAM by a few bytes. */
	enable_bad_rings(f, end - 16 * RNG_QSIZE + 16, 0x102000, 0x103000);
	enable_bad_rings(f, 0x101000, end - 2 * RNG_QSIZE - 4, 0x103000);
	enable_bad_rings(f, 0x101000, 0x102000, end - 8 * RNG_QSIZE - 4);
	enable_bad_rings(f, ~0ULL - 15, 0x102000, 0x103000);	/* wraps */
	/* Misaligned rings. */
	enable_bad_rings(f, 0x101008, 0x102000, 0x103000);
	enable_bad_rings(f, 0x101000, 0x102001, 0x103000);
	enable_bad_rings(f, 0x101000, 0x102000, 0x103002);
}

static void test_bad_queue_size(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	static const uint16_t bad[] = { 0, 48, RNG_QSIZE * 2, 0xffff };

	for (unsigned int i = 0; i < 4; i++) {
		assert_true(vdrv_negotiate(d, F_V1));
		vdrv_write(d, VC_QSELECT, 0, 2);
		vdrv_write(d, VC_QSIZE, bad[i], 2);
		vdrv_write(d, VC_QDESC, 0x101000, 8);
		vdrv_write(d, VC_QAVAIL, 0x102000, 8);
		vdrv_write(d, VC_QUSED, 0x103000, 8);
		vdrv_write(d, VC_QENABLE, 1, 2);
		assert_int_equal(vdrv_read(d, VC_QENABLE, 2), 0);
		assert_true(vdrv_status(d) & VS_NEEDS_RESET);
	}
	check_recovers(f);
}

/* Post a hostile chain and check the device gave up on it, logging once. */
static void hostile(struct fixture *f, void (*make)(struct vdrv *d), unsigned int logs)
{
	struct vdrv *d = &f->d;
	struct pt_capture cap;
	uint16_t used;
	char *log;

	vdrv_init(d, F_V1 | F_INDIRECT, 1);
	assert_int_equal(rng_request(f, 8, NULL), 8);
	used = vdrv_used_idx(d, 0);
	devtest_msi_reset(f->dt);
	pt_capture_begin(&cap);
	make(d);
	vdrv_kick(d, 0);
	/* More of the same, and a good request: all ignored now. */
	make(d);
	vdrv_kick(d, 0);
	{
		struct vbuf b = { vdrv_alloc(d, 8), 8, true };

		vdrv_post(d, 0, &b, 1);
		vdrv_kick(d, 0);
	}
	log = pt_capture_end(&cap);
	assert_int_equal(pt_count(log, NEEDS_RESET_MSG), logs);
	free(log);
	assert_int_equal(vdrv_status(d), ALL_OK | VS_NEEDS_RESET);
	assert_int_equal(vdrv_used_idx(d, 0), used);
	/* The driver hears about it through the config vector (4.1.5.3). */
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(1)), 1);
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(0)), 0);
	check_recovers(f);
}

static void chain_next_out_of_range(struct vdrv *d)
{
	struct vbuf b = { vdrv_alloc(d, 8), 8, true };
	uint16_t head = d->q[0].next_desc;

	vdrv_set_desc(d, 0, head, b.gpa, 8, VD_WRITE | VD_NEXT, RNG_QSIZE);
	d->q[0].next_desc = (uint16_t)((head + 1) % RNG_QSIZE);
	vdrv_publish(d, 0, head);
}

static void chain_loop(struct vdrv *d)
{
	uint64_t gpa = vdrv_alloc(d, 8);

	vdrv_set_desc(d, 0, 20, gpa, 8, VD_WRITE | VD_NEXT, 21);
	vdrv_set_desc(d, 0, 21, gpa, 8, VD_WRITE | VD_NEXT, 22);
	vdrv_set_desc(d, 0, 22, gpa, 8, VD_WRITE | VD_NEXT, 20);
	vdrv_publish(d, 0, 21);
}

static void chain_head_out_of_range(struct vdrv *d)
{
	vdrv_publish(d, 0, 0xffff);
}

static void chain_buffer_outside_ram(struct vdrv *d)
{
	vdrv_set_desc(d, 0, 30, 0xd0000000ULL, 8, VD_WRITE, 0);
	vdrv_publish(d, 0, 30);
}

static void chain_nested_indirect(struct vdrv *d)
{
	uint64_t table = vdrv_alloc(d, 16);
	uint8_t *t = vdrv_ptr(d, table, 16);
	uint32_t len = 16;
	uint16_t flags = VD_INDIRECT;

	memcpy(t, &table, 8);
	memcpy(t + 8, &len, 4);
	memcpy(t + 12, &flags, 2);
	vdrv_set_desc(d, 0, 31, table, 16, VD_INDIRECT, 0);
	vdrv_publish(d, 0, 31);
}

static void avail_idx_too_far(struct vdrv *d)
{
	uint8_t *avail = vdrv_ptr(d, d->q[0].avail, 4);
	uint16_t idx = (uint16_t)(d->q[0].avail_idx + RNG_QSIZE + 1);

	memcpy(avail + 2, &idx, 2);
}

static void test_hostile_next_out_of_range(void **state)
{
	hostile(*state, chain_next_out_of_range, 1);
}

static void test_hostile_loop(void **state)
{
	hostile(*state, chain_loop, 1);
}

static void test_hostile_head(void **state)
{
	hostile(*state, chain_head_out_of_range, 1);
}

static void test_hostile_buffer(void **state)
{
	hostile(*state, chain_buffer_outside_ram, 1);
}

static void test_hostile_nested_indirect(void **state)
{
	hostile(*state, chain_nested_indirect, 1);
}

static void test_hostile_avail_idx(void **state)
{
	hostile(*state, avail_idx_too_far, 1);
}

/* Each reset cycle logs its own first error, and only that. */
static void test_needs_reset_logged_per_cycle(void **state)
{
	struct fixture *f = *state;

	hostile(f, chain_loop, 1);
	hostile(f, chain_next_out_of_range, 1);
}

/* With MSI-X off, NEEDS_RESET raises ISR bit 1 (config change) on INTx. */
static void test_needs_reset_intx(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	unsigned int gsi = PCI_INTX_GSI(f->slot, 0);
	uint8_t gen = (uint8_t)vdrv_read(d, VC_CFGGEN, 1);

	assert_true(vdrv_negotiate(d, F_V1));
	vdrv_setup_queue(d, 0, 0, VNO_VECTOR);
	vdrv_set_status(d, ALL_OK);
	chain_loop(d);
	vdrv_kick(d, 0);
	assert_true(vdrv_status(d) & VS_NEEDS_RESET);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 1);
	assert_int_equal(pt_mmio_read(f->vm, d->isr, 1), 2);
	assert_int_equal(devtest_irq_level(f->dt, gsi), 0);
	/* The generation moved: the driver re-reads its config. */
	assert_int_not_equal(vdrv_read(d, VC_CFGGEN, 1), gen);
}

static void test_reset_clears_everything(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;

	vdrv_init(d, F_V1 | F_EVENT_IDX, 1);
	assert_int_equal(rng_request(f, 8, NULL), 8);
	vdrv_set_status(d, 0);
	assert_int_equal(vdrv_status(d), 0);
	vdrv_write(d, VC_GFSELECT, 0, 4);
	assert_int_equal(vdrv_read(d, VC_GF, 4), 0);
	vdrv_write(d, VC_GFSELECT, 1, 4);
	assert_int_equal(vdrv_read(d, VC_GF, 4), 0);
	assert_int_equal(vdrv_read(d, VC_MSIX, 2), VNO_VECTOR);
	vdrv_write(d, VC_QSELECT, 0, 2);
	assert_int_equal(vdrv_read(d, VC_QENABLE, 2), 0);
	assert_int_equal(vdrv_read(d, VC_QSIZE, 2), RNG_QSIZE);
	assert_int_equal(vdrv_read(d, VC_QMSIX, 2), VNO_VECTOR);
	assert_int_equal(vdrv_read(d, VC_QDESC, 8), 0);
	assert_int_equal(vdrv_read(d, VC_QAVAIL, 8), 0);
	assert_int_equal(vdrv_read(d, VC_QUSED, 8), 0);
	/* A kick on the reset device does nothing (no rings to read). */
	vdrv_publish(d, 0, 0);
	pt_mmio_write(f->vm, d->notify, 0, 2);
	pcitest_run(f->vm);
	assert_int_equal(vdrv_used_idx(d, 0), 1);
	/* And it comes up again from scratch, indices back at 0. */
	vdrv_init(d, F_V1, 1);
	assert_int_equal(rng_request(f, 8, NULL), 8);
	assert_int_equal(vdrv_used_idx(d, 0), 1);
}

/* Odd accesses to the register BAR: ignored, never a crash. */
static void test_odd_register_accesses(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	uint64_t bar2 = pt_bar_addr(f->vm, f->slot, 2);
	uint64_t v;

	vdrv_init(d, F_V1, 1);
	/* Straddling the end of the common structure. */
	v = ~0ULL;
	assert_true(pt_mmio_try(f->vm, d->common + d->common_len - 4, &v, 8, true));
	assert_true(pt_mmio_try(f->vm, d->common + d->common_len - 4, &v, 8, false));
	/* Every offset of the BAR, read. */
	for (uint64_t off = 0; off < 0x4000; off += 4)
		if (bar2 + off != d->isr)
			pt_mmio_try(f->vm, bar2 + off, &v, 4, false);
	/* Notify writes for queues that do not exist. */
	for (uint64_t off = 4; off < d->notify_len + 64; off += 2)
		pt_mmio_try(f->vm, d->notify + off, &v, 2, true);
	pcitest_run(f->vm);
	assert_int_equal(vdrv_status(d), ALL_OK);
	assert_int_equal(rng_request(f, 8, NULL), 8);
}

/* ---- With the I/O thread running, and a vCPU-like thread next to it ---- */

struct hammer {
	struct fixture *f;
	uint64_t msix_entry1;
	volatile bool stop;
	unsigned int rounds;
};

/* Config reads, ISR reads and config-vector mask flips, as fast as possible. */
static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	struct fixture *f = h->f;

	while (!h->stop) {
		assert_int_equal(pt_ecam_read(f->vm, f->slot, PCI_VENDOR_ID, 2),
				 PCITEST_VIRTIO_VENDOR);
		pt_mmio_read(f->vm, f->d.isr, 1);
		pt_mmio_read(f->vm, f->d.common + VC_STATUS, 1);
		pt_mmio_write(f->vm, h->msix_entry1 + 12, h->rounds & 1, 4);
		pt_ecam_read(f->vm, f->slot, PCI_STATUS, 2);
		h->rounds++;
	}
	return NULL;
}

static void test_concurrent_io_thread(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->d;
	struct hammer h = { .f = f, .msix_entry1 = d->msix_table + 16 };
	pthread_t t;

	vdrv_init(d, F_V1, 1);
	assert_int_equal(evloop_start(f->vm->io, "test-io"), 0);
	assert_int_equal(pthread_create(&t, NULL, hammer_thread, &h), 0);
	for (unsigned int i = 0; i < 2000; i++) {
		struct vbuf b = { vdrv_alloc(d, 16), 16, true };
		struct timespec ts = { 0, 20000 };
		int spins = 0;

		if (i % RNG_QSIZE == 0)
			d->heap = PCITEST_HEAP_GPA;
		vdrv_post(d, 0, &b, 1);
		pt_mmio_write(f->vm, d->notify, 0, 2);
		/* The I/O thread completes it; wait up to about 5 s. */
		while (vdrv_used_idx(d, 0) != (uint16_t)(i + 1)) {
			assert_true(++spins < 250000);
			nanosleep(&ts, NULL);
		}
	}
	h.stop = true;
	pthread_join(t, NULL);
	evloop_stop(f->vm->io);
	assert_true(h.rounds > 0);
	assert_int_equal(vdrv_status(d), ALL_OK);
	assert_true(devtest_msi_count(f->dt, PCITEST_MSI_DATA(0)) >= 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pci_identity),
		T(test_capabilities),
		T(test_pci_cfg_window),
		T(test_device_features),
		T(test_features_ok_refused),
		T(test_driver_ok_without_features_ok),
		T(test_status_bits_stick),
		T(test_driver_ok_alone),
		T(test_failed_bit),
		T(test_queue_registers),
		T(test_queue_addresses_64bit),
		T(test_enabled_queue_is_frozen),
		T(test_config_vector_and_generation),
		T(test_request_fills_random),
		T(test_batch),
		T(test_indirect_and_event_idx),
		T(test_buffers_before_driver_ok),
		T(test_isr_queue_bit),
		T(test_kick_after_bar_move),
		T(test_rings_outside_ram),
		T(test_bad_queue_size),
		T(test_hostile_next_out_of_range),
		T(test_hostile_loop),
		T(test_hostile_head),
		T(test_hostile_buffer),
		T(test_hostile_nested_indirect),
		T(test_hostile_avail_idx),
		T(test_needs_reset_logged_per_cycle),
		T(test_needs_reset_intx),
		T(test_reset_clears_everything),
		T(test_odd_register_accesses),
		T(test_concurrent_io_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
