// SPDX-License-Identifier: MIT
/*
 * virtio-blk on a sparse temporary image, driven by the pcitest driver:
 * config space and features, reads and writes laid out across odd
 * descriptor splits, GET_ID, FLUSH, DISCARD and WRITE_ZEROES (checked on
 * the image file itself), error statuses, malformed requests, many
 * requests in flight, and images that must be refused at attach time.
 * The I/O tests run twice: on io_uring and on the synchronous fallback.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <liburing.h>

#include "devices/pci/pci.h"
#include "vmm/vm.h"

#include "pcitest.h"

#define BLK_DEVICE	PCITEST_VIRTIO_DEV(2)
#define IMAGE_SIZE	(8ULL << 20)
#define SECTORS		(IMAGE_SIZE / 512)
#define SERIAL		"skiff-test-serial-1"	/* 19 bytes: one byte of padding */
#define TIMEOUT_MS	5000

/* Request types and status values (virtio 1.2, 5.2.6). */
#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define T_GET_ID	8
#define T_DISCARD	11
#define T_WRITE_ZEROES	13
#define S_OK		0
#define S_IOERR		1
#define S_UNSUPP	2

/* Feature bits (5.2.3). */
#define F_SIZE_MAX	(1ULL << 1)
#define F_SEG_MAX	(1ULL << 2)
#define F_RO		(1ULL << 5)
#define F_BLK_SIZE	(1ULL << 6)
#define F_FLUSH		(1ULL << 9)
#define F_DISCARD	(1ULL << 13)
#define F_WRITE_ZEROES	(1ULL << 14)
#define F_V1		(1ULL << VF_VERSION_1)
#define F_EVENT_IDX	(1ULL << VF_EVENT_IDX)

/* Config offsets (5.2.4). */
#define C_CAPACITY	0
#define C_SIZE_MAX	8
#define C_SEG_MAX	12
#define C_BLK_SIZE	20
#define C_MAX_DISCARD_SECTORS	36
#define C_MAX_DISCARD_SEG	40
#define C_DISCARD_ALIGN		44
#define C_MAX_WZ_SECTORS	48
#define C_MAX_WZ_SEG		52
#define C_WZ_MAY_UNMAP		56

struct fixture {
	char dir[64];
	char path[PATH_MAX];
	struct devtest *dt;
	struct vm *vm;
	struct vdrv d;
	bool sync;		/* SKIFF_DISK_NO_URING set for this run */
};

/* ---- Setup ---- */

static void make_image(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static struct vm_config disk_config(const char *path, bool readonly)
{
	struct vm_config cfg = { .nr_disks = 1 };

	cfg.disks[0].path = (char *)path;
	cfg.disks[0].readonly = readonly;
	snprintf(cfg.disks[0].serial, sizeof(cfg.disks[0].serial), "%s", SERIAL);
	return cfg;
}

/* A VM with the image attached read-write or read-only, its driver probed. */
static void attach(struct fixture *f, bool readonly)
{
	struct vm_config cfg = disk_config(f->path, readonly);
	int slot;

	f->dt = pcitest_new(&cfg);
	f->vm = f->dt->vm;
	devtest_attach(f->dt, "virtio-blk", 40);
	slot = pt_find(f->vm, PCITEST_VIRTIO_VENDOR, BLK_DEVICE);
	assert_true(slot > 0);
	vdrv_probe(&f->d, f->dt, (unsigned int)slot);
}

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/skiff-blk-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/disk.img", f->dir);
	make_image(f->path, IMAGE_SIZE);
	return f;
}

static int setup_common(void **state, bool sync, bool readonly)
{
	struct fixture *f;

	if (sync)
		setenv("SKIFF_DISK_NO_URING", "1", 1);
	f = fixture_new();
	f->sync = sync;
	attach(f, readonly);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_common(state, false, false);
}

static int setup_sync(void **state)
{
	return setup_common(state, true, false);
}

static int setup_ro(void **state)
{
	return setup_common(state, false, true);
}

/* Only the image file: for tests that build their own VMs. */
static int setup_image(void **state)
{
	*state = fixture_new();
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (f->dt)
		devtest_free(f->dt);
	if (f->sync)
		unsetenv("SKIFF_DISK_NO_URING");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- The driver side of a request ---- */

/* The usual bring-up, offering everything but EVENT_IDX (so every completion interrupts). */
static void blk_init(struct fixture *f)
{
	vdrv_init(&f->d, vdrv_device_features(&f->d) & ~F_EVENT_IDX, 1);
}

static uint64_t put_hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
	uint64_t gpa = vdrv_alloc(&f->d, 16);
	uint8_t *p = vdrv_ptr(&f->d, gpa, 16);
	uint32_t zero = 0;

	memcpy(p, &type, 4);
	memcpy(p + 4, &zero, 4);
	memcpy(p + 8, &sector, 8);
	return gpa;
}

/* A status byte, pre-set to a value the device never writes. */
static uint64_t put_status(struct fixture *f)
{
	uint64_t gpa = vdrv_alloc(&f->d, 1);

	*(uint8_t *)vdrv_ptr(&f->d, gpa, 1) = 0xee;
	return gpa;
}

static uint8_t status_at(struct fixture *f, uint64_t gpa)
{
	return *(uint8_t *)vdrv_ptr(&f->d, gpa, 1);
}

/* Post bufs, kick, wait for the completion; returns the used length. */
static uint32_t submit(struct fixture *f, const struct vbuf *bufs, unsigned int n)
{
	uint16_t before = vdrv_used_idx(&f->d, 0);
	uint32_t id, len;
	uint16_t head;

	head = vdrv_post(&f->d, 0, bufs, n);
	vdrv_kick(&f->d, 0);
	assert_true(vdrv_wait_used(&f->d, 0, (uint16_t)(before + 1), TIMEOUT_MS));
	vdrv_used_elem(&f->d, 0, before, &id, &len);
	assert_int_equal(id, head);
	return len;
}

/* header | data (one readable buffer) | status: a plain write. */
static uint8_t blk_write(struct fixture *f, uint64_t sector, const void *data, uint32_t len)
{
	uint64_t buf = vdrv_alloc(&f->d, len), st = put_status(f);
	struct vbuf b[3] = {
		{ put_hdr(f, T_OUT, sector), 16, false }, { buf, len, false }, { st, 1, true },
	};

	memcpy(vdrv_ptr(&f->d, buf, len), data, len);
	assert_int_equal(submit(f, b, 3), 1);
	return status_at(f, st);
}

/* header | data (one writable buffer) | status: a plain read. */
static uint8_t blk_read(struct fixture *f, uint64_t sector, void *data, uint32_t len,
			uint32_t *used)
{
	uint64_t buf = vdrv_alloc(&f->d, len), st = put_status(f);
	struct vbuf b[3] = {
		{ put_hdr(f, T_IN, sector), 16, false }, { buf, len, true }, { st, 1, true },
	};
	uint32_t n;

	memset(vdrv_ptr(&f->d, buf, len), 0x55, len);
	n = submit(f, b, 3);
	if (used)
		*used = n;
	memcpy(data, vdrv_ptr(&f->d, buf, len), len);
	return status_at(f, st);
}

/* DISCARD or WRITE_ZEROES of one range. */
static uint8_t blk_range(struct fixture *f, uint32_t type, uint64_t sector, uint32_t nr,
			 uint32_t flags)
{
	uint64_t rg = vdrv_alloc(&f->d, 16), st = put_status(f);
	uint8_t *p = vdrv_ptr(&f->d, rg, 16);
	struct vbuf b[3] = {
		{ put_hdr(f, type, 0), 16, false }, { rg, 16, false }, { st, 1, true },
	};

	memcpy(p, &sector, 8);
	memcpy(p + 8, &nr, 4);
	memcpy(p + 12, &flags, 4);
	assert_int_equal(submit(f, b, 3), 1);
	return status_at(f, st);
}

/* A header-and-status-only request (FLUSH, unknown types). */
static uint8_t blk_simple(struct fixture *f, uint32_t type, uint64_t sector)
{
	uint64_t st = put_status(f);
	struct vbuf b[2] = { { put_hdr(f, type, sector), 16, false }, { st, 1, true } };

	assert_int_equal(submit(f, b, 2), 1);
	return status_at(f, st);
}

static void pattern(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void file_read(struct fixture *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static long long file_blocks(struct fixture *f)
{
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	return (long long)st.st_blocks;
}

/* ---- Config and features ---- */

static uint64_t cfg_read(struct fixture *f, unsigned int off, unsigned int len)
{
	return pt_mmio_read(f->vm, f->d.device + off, len);
}

static void test_config(void **state)
{
	struct fixture *f = *state;

	assert_true(f->d.device != 0);
	assert_true(f->d.device_len >= 60);
	assert_int_equal(cfg_read(f, C_CAPACITY, 8), SECTORS);
	assert_int_equal(cfg_read(f, C_CAPACITY, 4), SECTORS & 0xffffffff);
	assert_int_equal(cfg_read(f, C_CAPACITY + 4, 4), SECTORS >> 32);
	assert_int_equal(cfg_read(f, C_SIZE_MAX, 4), 1u << 20);
	/* seg_max leaves room for header and status in a full queue. */
	assert_int_equal(cfg_read(f, C_SEG_MAX, 4), 128 - 2);
	assert_int_equal(cfg_read(f, C_BLK_SIZE, 4), 512);
	assert_true(cfg_read(f, C_MAX_DISCARD_SECTORS, 4) >= SECTORS);
	assert_int_equal(cfg_read(f, C_MAX_DISCARD_SEG, 4), 1);
	assert_int_equal(cfg_read(f, C_DISCARD_ALIGN, 4), 8);
	assert_true(cfg_read(f, C_MAX_WZ_SECTORS, 4) >= SECTORS);
	assert_int_equal(cfg_read(f, C_MAX_WZ_SEG, 4), 1);
	assert_int_equal(cfg_read(f, C_WZ_MAY_UNMAP, 1), 1);
	/* Config is read-only for the driver. */
	pt_mmio_write(f->vm, f->d.device + C_CAPACITY, 1, 8);
	pt_mmio_write(f->vm, f->d.device + C_BLK_SIZE, 4096, 4);
	assert_int_equal(cfg_read(f, C_CAPACITY, 8), SECTORS);
	assert_int_equal(cfg_read(f, C_BLK_SIZE, 4), 512);
	/* Straddling the end reads zeros, past it too. */
	assert_int_equal(cfg_read(f, 58, 4), 0);
	assert_int_equal(cfg_read(f, 60, 4), 0);
	/* The queue: one, 128 entries. */
	assert_int_equal(vdrv_read(&f->d, VC_NUMQ, 2), 1);
	assert_int_equal(vdrv_read(&f->d, VC_QSIZE, 2), 128);
}

static void test_features_rw(void **state)
{
	struct fixture *f = *state;
	uint64_t feat = vdrv_device_features(&f->d);

	assert_true(feat & F_V1);
	assert_true(feat & F_SIZE_MAX);
	assert_true(feat & F_SEG_MAX);
	assert_true(feat & F_BLK_SIZE);
	assert_true(feat & F_FLUSH);
	assert_true(feat & F_DISCARD);
	assert_true(feat & F_WRITE_ZEROES);
	assert_false(feat & F_RO);
	assert_true(vdrv_negotiate(&f->d, feat));
}

static void test_features_ro(void **state)
{
	struct fixture *f = *state;
	uint64_t feat = vdrv_device_features(&f->d);

	assert_true(feat & F_RO);
	assert_true(feat & F_FLUSH);
	assert_false(feat & F_DISCARD);
	assert_false(feat & F_WRITE_ZEROES);
	assert_true(vdrv_negotiate(&f->d, feat));
}

/* ---- I/O ---- */

/* Header split over two descriptors, data over three, status alone. */
static void test_write_read_split(void **state)
{
	struct fixture *f = *state;
	uint8_t data[3 * 512], back[3 * 512], file[3 * 512];
	uint64_t h1 = vdrv_alloc(&f->d, 8), h2 = vdrv_alloc(&f->d, 8);
	uint64_t d1 = vdrv_alloc(&f->d, 700), d2 = vdrv_alloc(&f->d, 512);
	uint64_t d3 = vdrv_alloc(&f->d, 324), st = put_status(f);
	uint32_t type = T_OUT, zero = 0;
	uint64_t sector = 5;
	struct vbuf w[6] = {
		{ h1, 8, false }, { h2, 8, false }, { d1, 700, false },
		{ d2, 512, false }, { d3, 324, false }, { st, 1, true },
	};
	uint64_t r1, r2, rst;

	blk_init(f);
	pattern(data, sizeof(data), 1);
	memcpy(vdrv_ptr(&f->d, h1, 4), &type, 4);
	memcpy((uint8_t *)vdrv_ptr(&f->d, h1, 8) + 4, &zero, 4);
	memcpy(vdrv_ptr(&f->d, h2, 8), &sector, 8);
	memcpy(vdrv_ptr(&f->d, d1, 700), data, 700);
	memcpy(vdrv_ptr(&f->d, d2, 512), data + 700, 512);
	memcpy(vdrv_ptr(&f->d, d3, 324), data + 1212, 324);
	/* A write reports only the status byte as written. */
	assert_int_equal(submit(f, w, 6), 1);
	assert_int_equal(status_at(f, st), S_OK);
	/* The bytes are in the image, at sector 5. */
	file_read(f, 5 * 512, file, sizeof(file));
	assert_memory_equal(file, data, sizeof(file));
	/* The sectors around it are untouched. */
	file_read(f, 4 * 512, file, 512);
	assert_true(all_zero(file, 512));
	file_read(f, 8 * 512, file, 512);
	assert_true(all_zero(file, 512));

	/* Read back with the status sharing the last data buffer. */
	r1 = vdrv_alloc(&f->d, 1000);
	r2 = vdrv_alloc(&f->d, 537);
	{
		struct vbuf r[3] = {
			{ put_hdr(f, T_IN, 5), 16, false }, { r1, 1000, true }, { r2, 537, true },
		};

		assert_int_equal(submit(f, r, 3), 3 * 512 + 1);
	}
	memcpy(back, vdrv_ptr(&f->d, r1, 1000), 1000);
	memcpy(back + 1000, vdrv_ptr(&f->d, r2, 536), 536);
	assert_memory_equal(back, data, sizeof(back));
	assert_int_equal(*((uint8_t *)vdrv_ptr(&f->d, r2, 537) + 536), S_OK);

	/* And the plain layout. */
	{
		uint32_t used;

		assert_int_equal(blk_read(f, 5, back, sizeof(back), &used), S_OK);
		assert_int_equal(used, sizeof(back) + 1);
		assert_memory_equal(back, data, sizeof(back));
	}
	/* Header and data in one readable buffer, status separate. */
	pattern(data, 512, 9);
	rst = put_status(f);
	{
		uint64_t one = vdrv_alloc(&f->d, 16 + 512);
		uint8_t *p = vdrv_ptr(&f->d, one, 16 + 512);
		struct vbuf b[2] = { { one, 16 + 512, false }, { rst, 1, true } };

		type = T_OUT;
		sector = SECTORS - 1;	/* the very last sector */
		memcpy(p, &type, 4);
		memcpy(p + 4, &zero, 4);
		memcpy(p + 8, &sector, 8);
		memcpy(p + 16, data, 512);
		assert_int_equal(submit(f, b, 2), 1);
	}
	assert_int_equal(status_at(f, rst), S_OK);
	file_read(f, IMAGE_SIZE - 512, file, 512);
	assert_memory_equal(file, data, 512);
	assert_int_equal(vdrv_status(&f->d), VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	/* Each completion interrupted through the queue's vector. */
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(0)), 4);
}

static void test_get_id(void **state)
{
	struct fixture *f = *state;
	uint64_t id = vdrv_alloc(&f->d, 20), st = put_status(f);
	struct vbuf b[3] = {
		{ put_hdr(f, T_GET_ID, 0), 16, false }, { id, 20, true }, { st, 1, true },
	};
	char want[20] = SERIAL;

	blk_init(f);
	memset(vdrv_ptr(&f->d, id, 20), 0x77, 20);
	assert_int_equal(submit(f, b, 3), 21);
	assert_int_equal(status_at(f, st), S_OK);
	assert_memory_equal(vdrv_ptr(&f->d, id, 20), want, 20);
	/* A longer buffer gets the 20 bytes, and nothing after them. */
	{
		uint64_t l = vdrv_alloc(&f->d, 64), st3 = put_status(f);
		struct vbuf b3[3] = {
			{ put_hdr(f, T_GET_ID, 0), 16, false }, { l, 64, true }, { st3, 1, true },
		};
		uint8_t *p = vdrv_ptr(&f->d, l, 64);

		memset(p, 0x77, 64);
		assert_int_equal(submit(f, b3, 3), 21);
		assert_int_equal(status_at(f, st3), S_OK);
		assert_memory_equal(p, want, 20);
		for (unsigned int i = 20; i < 64; i++)
			assert_int_equal(p[i], 0x77);
	}
	/* A short buffer gets the start of it. */
	{
		uint64_t s = vdrv_alloc(&f->d, 8), st2 = put_status(f);
		struct vbuf b2[3] = {
			{ put_hdr(f, T_GET_ID, 0), 16, false }, { s, 8, true }, { st2, 1, true },
		};

		assert_int_equal(submit(f, b2, 3), 9);
		assert_int_equal(status_at(f, st2), S_OK);
		assert_memory_equal(vdrv_ptr(&f->d, s, 8), SERIAL, 8);
	}
}

static void test_flush(void **state)
{
	struct fixture *f = *state;
	uint8_t data[512];

	blk_init(f);
	pattern(data, sizeof(data), 3);
	assert_int_equal(blk_write(f, 100, data, sizeof(data)), S_OK);
	assert_int_equal(blk_simple(f, T_FLUSH, 0), S_OK);
	/* The sector field of a flush means nothing: any value is fine. */
	assert_int_equal(blk_simple(f, T_FLUSH, ~0ULL), S_OK);
}

static void test_discard(void **state)
{
	struct fixture *f = *state;
	static uint8_t data[256 * 1024], back[256 * 1024];
	long long before, after;

	blk_init(f);
	pattern(data, sizeof(data), 4);
	assert_int_equal(blk_write(f, 1024, data, sizeof(data)), S_OK);
	assert_int_equal(blk_simple(f, T_FLUSH, 0), S_OK);
	before = file_blocks(f);
	assert_true(before >= (long long)sizeof(data) / 512);
	/* Discard the first 128 KiB of it (aligned), keep the rest. */
	assert_int_equal(blk_range(f, T_DISCARD, 1024, 256, 0), S_OK);
	assert_int_equal(blk_read(f, 1024, back, sizeof(back), NULL), S_OK);
	assert_true(all_zero(back, 128 * 1024));
	assert_memory_equal(back + 128 * 1024, data + 128 * 1024, 128 * 1024);
	after = file_blocks(f);
	assert_true(after <= before - 128 * 1024 / 512);
	/* Discard of nothing, and of the last sector, are fine. */
	assert_int_equal(blk_range(f, T_DISCARD, 0, 0, 0), S_OK);
	assert_int_equal(blk_range(f, T_DISCARD, SECTORS - 1, 1, 0), S_OK);
	/* Discard takes no flags (the unmap bit is write-zeroes'). */
	assert_int_equal(blk_range(f, T_DISCARD, 1024, 8, 1), S_UNSUPP);
}

static void test_write_zeroes(void **state)
{
	struct fixture *f = *state;
	static uint8_t data[64 * 1024], back[64 * 1024];
	long long before;

	blk_init(f);
	pattern(data, sizeof(data), 5);
	assert_int_equal(blk_write(f, 2048, data, sizeof(data)), S_OK);
	/* Without unmap: zeros, from a sector that is not block aligned. */
	assert_int_equal(blk_range(f, T_WRITE_ZEROES, 2049, 3, 0), S_OK);
	assert_int_equal(blk_read(f, 2048, back, sizeof(back), NULL), S_OK);
	assert_memory_equal(back, data, 512);
	assert_true(all_zero(back + 512, 3 * 512));
	assert_memory_equal(back + 2048, data + 2048, sizeof(data) - 2048);
	/* With unmap: zeros, and the space may go back to the host. */
	assert_int_equal(blk_simple(f, T_FLUSH, 0), S_OK);
	before = file_blocks(f);
	assert_int_equal(blk_range(f, T_WRITE_ZEROES, 2048 + 32, 64, 1), S_OK);
	assert_int_equal(blk_read(f, 2048, back, sizeof(back), NULL), S_OK);
	assert_true(all_zero(back + 32 * 512, 64 * 512));
	assert_memory_equal(back + 96 * 512, data + 96 * 512, sizeof(data) - 96 * 512);
	assert_true(file_blocks(f) < before);
	/* Unknown flag bits are not supported. */
	assert_int_equal(blk_range(f, T_WRITE_ZEROES, 2048, 1, 2), S_UNSUPP);
	assert_int_equal(blk_read(f, 2048, back, 512, NULL), S_OK);
	assert_memory_equal(back, data, 512);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[1024];

	blk_init(f);
	/* Past the end, ending past it, at 2^63. */
	assert_int_equal(blk_read(f, SECTORS, buf, 512, NULL), S_IOERR);
	assert_int_equal(blk_read(f, SECTORS - 1, buf, 1024, NULL), S_IOERR);
	assert_int_equal(blk_read(f, 1ULL << 63, buf, 512, NULL), S_IOERR);
	assert_int_equal(blk_read(f, ~0ULL, buf, 512, NULL), S_IOERR);
	assert_int_equal(blk_write(f, SECTORS, buf, 512), S_IOERR);
	assert_int_equal(blk_range(f, T_DISCARD, SECTORS - 1, 2, 0), S_IOERR);
	assert_int_equal(blk_range(f, T_WRITE_ZEROES, ~0ULL, 1, 0), S_IOERR);
	/* Lengths that are not whole sectors. */
	assert_int_equal(blk_read(f, 0, buf, 511, NULL), S_IOERR);
	assert_int_equal(blk_write(f, 0, buf, 513), S_IOERR);
	assert_int_equal(blk_write(f, 0, buf, 1), S_IOERR);
	/* Types the device does not know, and reads of nothing. */
	assert_int_equal(blk_simple(f, 99, 0), S_UNSUPP);
	assert_int_equal(blk_simple(f, 2, 0), S_UNSUPP);
	assert_int_equal(blk_simple(f, T_IN, 0), S_UNSUPP);
	/* A discard with two ranges (max_discard_seg is 1). */
	{
		uint64_t rg = vdrv_alloc(&f->d, 32), st = put_status(f);
		struct vbuf b[3] = {
			{ put_hdr(f, T_DISCARD, 0), 16, false }, { rg, 32, false }, { st, 1, true },
		};

		memset(vdrv_ptr(&f->d, rg, 32), 0, 32);
		assert_int_equal(submit(f, b, 3), 1);
		assert_int_equal(status_at(f, st), S_UNSUPP);
	}
	/* None of this upset the device. */
	assert_int_equal(vdrv_status(&f->d), VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	assert_int_equal(blk_read(f, 0, buf, 512, NULL), S_OK);
}

static void test_readonly(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];

	blk_init(f);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(blk_write(f, 0, buf, sizeof(buf)), S_IOERR);
	assert_int_equal(blk_range(f, T_DISCARD, 0, 8, 0), S_IOERR);
	assert_int_equal(blk_range(f, T_WRITE_ZEROES, 0, 8, 0), S_IOERR);
	assert_int_equal(blk_read(f, 0, buf, sizeof(buf), NULL), S_OK);
	assert_true(all_zero(buf, sizeof(buf)));
	assert_int_equal(blk_simple(f, T_FLUSH, 0), S_OK);
	file_read(f, 0, buf, sizeof(buf));
	assert_true(all_zero(buf, sizeof(buf)));
}

/* Requests that cannot even carry a status: the device needs a reset. */
static void malformed(struct fixture *f, const struct vbuf *b, unsigned int n)
{
	uint16_t before;

	blk_init(f);
	before = vdrv_used_idx(&f->d, 0);
	vdrv_post(&f->d, 0, b, n);
	vdrv_kick(&f->d, 0);
	pcitest_run(f->vm);
	assert_true(vdrv_status(&f->d) & VS_NEEDS_RESET);
	assert_int_equal(vdrv_used_idx(&f->d, 0), before);
	/* After a reset, it works again. */
	f->d.heap = PCITEST_HEAP_GPA + 0x100000;
	blk_init(f);
	assert_int_equal(blk_simple(f, T_FLUSH, 0), S_OK);
}

static void test_missing_status(void **state)
{
	struct fixture *f = *state;
	uint64_t data = vdrv_alloc(&f->d, 512);
	struct vbuf no_status[2] = {
		{ put_hdr(f, T_OUT, 0), 16, false }, { data, 512, false },
	};

	malformed(f, no_status, 2);
}

static void test_short_header(void **state)
{
	struct fixture *f = *state;
	struct vbuf b[2] = {
		{ put_hdr(f, T_IN, 0), 12, false }, { put_status(f), 1, true },
	};

	malformed(f, b, 2);
}

/* The header in writable memory is no header. */
static void test_writable_header(void **state)
{
	struct fixture *f = *state;
	struct vbuf b[2] = {
		{ put_hdr(f, T_IN, 0), 16, true }, { put_status(f), 1, true },
	};

	malformed(f, b, 2);
}

/* 32 requests in flight at once: writes, then reads of what they wrote. */
static void test_32_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { N = 32, LEN = 4096 };
	uint64_t st[N], buf[N];
	uint16_t heads[N];
	static uint8_t want[N][LEN];

	blk_init(f);
	for (unsigned int pass = 0; pass < 2; pass++) {
		uint32_t type = pass ? T_IN : T_OUT;
		uint16_t base = vdrv_used_idx(&f->d, 0);
		bool done[N] = { false };

		for (unsigned int i = 0; i < N; i++) {
			/* Half adjacent (mergeable), half scattered. */
			uint64_t sector = i < N / 2 ? 8 * i : 4000 + 24 * i;
			struct vbuf b[3];

			buf[i] = vdrv_alloc(&f->d, LEN);
			st[i] = put_status(f);
			if (!pass) {
				pattern(want[i], LEN, 100 + i);
				memcpy(vdrv_ptr(&f->d, buf[i], LEN), want[i], LEN);
			}
			b[0] = (struct vbuf){ put_hdr(f, type, sector), 16, false };
			b[1] = (struct vbuf){ buf[i], LEN, pass == 1 };
			b[2] = (struct vbuf){ st[i], 1, true };
			heads[i] = vdrv_post(&f->d, 0, b, 3);
		}
		vdrv_kick(&f->d, 0);
		assert_true(vdrv_wait_used(&f->d, 0, (uint16_t)(base + N), TIMEOUT_MS));
		for (unsigned int k = 0; k < N; k++) {
			uint32_t id, len;
			unsigned int i;

			vdrv_used_elem(&f->d, 0, (uint16_t)(base + k), &id, &len);
			for (i = 0; i < N && heads[i] != id; i++)
				;
			assert_true(i < N);
			assert_false(done[i]);
			done[i] = true;
			assert_int_equal(len, pass ? LEN + 1 : 1);
			assert_int_equal(status_at(f, st[i]), S_OK);
			if (pass)
				assert_memory_equal(vdrv_ptr(&f->d, buf[i], LEN), want[i], LEN);
		}
	}
	/* And the image agrees. */
	for (unsigned int i = 0; i < N; i++) {
		static uint8_t file[LEN];

		file_read(f, (i < N / 2 ? 8ULL * i : 4000ULL + 24 * i) * 512, file, LEN);
		assert_memory_equal(file, want[i], LEN);
	}
}

/* Adjacent writes in one batch, then one read across all of them. */
static void test_adjacent_batch(void **state)
{
	struct fixture *f = *state;
	enum { N = 16 };
	static uint8_t want[N * 512], back[N * 512];
	uint64_t st[N];

	blk_init(f);
	pattern(want, sizeof(want), 7);
	for (unsigned int i = 0; i < N; i++) {
		uint64_t b = vdrv_alloc(&f->d, 512);
		struct vbuf v[3];

		memcpy(vdrv_ptr(&f->d, b, 512), want + 512 * i, 512);
		st[i] = put_status(f);
		v[0] = (struct vbuf){ put_hdr(f, T_OUT, 300 + i), 16, false };
		v[1] = (struct vbuf){ b, 512, false };
		v[2] = (struct vbuf){ st[i], 1, true };
		vdrv_post(&f->d, 0, v, 3);
	}
	vdrv_kick(&f->d, 0);
	assert_true(vdrv_wait_used(&f->d, 0, N, TIMEOUT_MS));
	for (unsigned int i = 0; i < N; i++)
		assert_int_equal(status_at(f, st[i]), S_OK);
	assert_int_equal(blk_read(f, 300, back, sizeof(back), NULL), S_OK);
	assert_memory_equal(back, want, sizeof(back));
	/* A batch where one neighbour fails: only it reports an error. */
	{
		uint64_t good = vdrv_alloc(&f->d, 512), bad = vdrv_alloc(&f->d, 511);
		uint64_t s1 = put_status(f), s2 = put_status(f);
		struct vbuf a[3] = {
			{ put_hdr(f, T_IN, 300), 16, false }, { good, 512, true }, { s1, 1, true },
		};
		struct vbuf b[3] = {
			{ put_hdr(f, T_IN, 301), 16, false }, { bad, 511, true }, { s2, 1, true },
		};
		uint16_t base = vdrv_used_idx(&f->d, 0);

		vdrv_post(&f->d, 0, a, 3);
		vdrv_post(&f->d, 0, b, 3);
		vdrv_kick(&f->d, 0);
		assert_true(vdrv_wait_used(&f->d, 0, (uint16_t)(base + 2), TIMEOUT_MS));
		assert_int_equal(status_at(f, s1), S_OK);
		assert_int_equal(status_at(f, s2), S_IOERR);
		assert_memory_equal(vdrv_ptr(&f->d, good, 512), want, 512);
	}
}

/* A reset with requests in flight: nothing completes into the old rings. */
static void test_reset_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { N = 8 };
	uint8_t buf[512];

	blk_init(f);
	for (unsigned int i = 0; i < N; i++) {
		uint64_t b = vdrv_alloc(&f->d, 4096);
		struct vbuf v[3] = {
			{ put_hdr(f, T_IN, 16ULL * i), 16, false }, { b, 4096, true },
			{ put_status(f), 1, true },
		};

		vdrv_post(&f->d, 0, v, 3);
	}
	vdrv_kick(&f->d, 0);
	vdrv_set_status(&f->d, 0);
	pcitest_run(f->vm);
	assert_int_equal(vdrv_status(&f->d), 0);
	/* The old used ring saw at most what completed before the reset. */
	assert_true(vdrv_used_idx(&f->d, 0) <= N);
	f->d.heap = PCITEST_HEAP_GPA + 0x100000;
	blk_init(f);
	assert_int_equal(vdrv_used_idx(&f->d, 0), 0);
	assert_int_equal(blk_read(f, 0, buf, sizeof(buf), NULL), S_OK);
	assert_int_equal(vdrv_used_idx(&f->d, 0), 1);
}

/* ---- Images refused at attach ---- */

/* create() must fail with -ENOEXEC and a message naming the file. */
static void expect_refused(const char *path, const char *why)
{
	struct vm_config cfg = disk_config(path, false);
	const struct device_type *t = devtest_find_type("virtio-blk");
	struct devtest *dt = pcitest_new(&cfg);
	struct pt_capture cap;
	char *log;
	int ret;

	assert_non_null(t);
	pt_capture_begin(&cap);
	ret = t->create(dt->vm);
	log = pt_capture_end(&cap);
	assert_int_equal(ret, -ENOEXEC);
	assert_non_null(strstr(log, path));
	if (why)
		assert_non_null(strstr(log, why));
	free(log);
	/* Nothing half-attached is left on the bus. */
	assert_int_equal(pt_find(dt->vm, PCITEST_VIRTIO_VENDOR, BLK_DEVICE), -1);
	devtest_free(dt);
}

static void test_bad_images(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/missing.img", f->dir);
	expect_refused(path, "no such file");
	expect_refused(f->dir, "directory");
	snprintf(path, sizeof(path), "%s/odd.img", f->dir);
	make_image(path, 1000);
	expect_refused(path, "512");
	snprintf(path, sizeof(path), "%s/empty.img", f->dir);
	make_image(path, 0);
	expect_refused(path, NULL);
}

/* Two VMs, one image: the second is refused while the first holds it. */
static void test_image_locked(void **state)
{
	struct fixture *f = *state;

	attach(f, false);
	expect_refused(f->path, "locked");
	/* Read-only does not get past a writer either. */
	{
		struct vm_config cfg = disk_config(f->path, true);
		struct devtest *dt = pcitest_new(&cfg);
		struct pt_capture cap;
		char *log;

		pt_capture_begin(&cap);
		assert_int_equal(devtest_find_type("virtio-blk")->create(dt->vm), -ENOEXEC);
		log = pt_capture_end(&cap);
		assert_non_null(strstr(log, f->path));
		free(log);
		devtest_free(dt);
	}
	/* Once the first VM is gone, the image is free. */
	devtest_free(f->dt);
	f->dt = NULL;
	attach(f, false);
}

/* Two disks: two devices, each with its own image, size and serial. */
static void test_two_disks(void **state)
{
	struct fixture *f = *state;
	struct vm_config cfg = disk_config(f->path, false);
	char path2[PATH_MAX];
	unsigned int slots[2], n = 0;
	uint8_t data[512], back[512];
	struct vdrv d2;

	snprintf(path2, sizeof(path2), "%s/second.img", f->dir);
	make_image(path2, 1 << 20);
	cfg.nr_disks = 2;
	cfg.disks[1].path = path2;
	snprintf(cfg.disks[1].serial, sizeof(cfg.disks[1].serial), "second");
	f->dt = pcitest_new(&cfg);
	f->vm = f->dt->vm;
	devtest_attach(f->dt, "virtio-blk", 40);
	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++)
		if (pt_ecam_read(f->vm, s, 0, 4) ==
		    ((uint32_t)BLK_DEVICE << 16 | PCITEST_VIRTIO_VENDOR)) {
			assert_true(n < 2);
			slots[n++] = s;
		}
	assert_int_equal(n, 2);
	vdrv_probe(&f->d, f->dt, slots[0]);
	vdrv_probe(&d2, f->dt, slots[1]);
	assert_int_equal(pt_mmio_read(f->vm, f->d.device + C_CAPACITY, 8), SECTORS);
	assert_int_equal(pt_mmio_read(f->vm, d2.device + C_CAPACITY, 8), 2048);
	/* Disk 0 first; the drivers share guest RAM, so split the heap and rings. */
	blk_init(f);
	pattern(data, sizeof(data), 11);
	assert_int_equal(blk_write(f, 0, data, sizeof(data)), S_OK);
	{
		struct vdrv d0 = f->d;
		uint64_t id = vdrv_alloc(&f->d, 20), st = put_status(f);
		struct vbuf b[3] = {
			{ put_hdr(f, T_GET_ID, 0), 16, false }, { id, 20, true }, { st, 1, true },
		};

		/* Switch the fixture's driver to disk 1, with rings and heap apart. */
		f->d = d2;
		f->d.heap = PCITEST_HEAP_GPA + (16 << 20);
		f->d.ring_base = PCITEST_RING_GPA + 8 * PCITEST_RING_STRIDE;
		blk_init(f);
		assert_int_equal(blk_read(f, 0, back, sizeof(back), NULL), S_OK);
		assert_true(all_zero(back, sizeof(back)));
		assert_int_equal(blk_read(f, 2048, back, sizeof(back), NULL), S_IOERR);
		/* Back to disk 0: its serial, not disk 1's. */
		f->d = d0;
		assert_int_equal(submit(f, b, 3), 21);
		assert_memory_equal(vdrv_ptr(&f->d, id, 20), SERIAL, sizeof(SERIAL) - 1);
	}
	assert_int_equal(blk_read(f, 0, back, sizeof(back), NULL), S_OK);
	assert_memory_equal(back, data, sizeof(back));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define BOTH(fn) T(fn), { #fn "_sync", fn, setup_sync, teardown, NULL }

/* The verbose log line of a VM with one disk, io_engine "Sync" or not. */
static char *attach_log(struct fixture *f, bool sync_io)
{
	struct vm_config cfg = disk_config(f->path, false);
	struct pt_capture cap;
	char *log;

	cfg.verbose = true;
	cfg.disks[0].sync_io = sync_io;
	f->dt = pcitest_new(&cfg);
	pt_capture_begin(&cap);
	devtest_attach(f->dt, "virtio-blk", 40);
	log = pt_capture_end(&cap);
	devtest_free(f->dt);
	f->dt = NULL;
	return log;
}

/* The API's io_engine "Sync" reaches the disk: no io_uring for it. */
static void test_io_engine_sync(void **state)
{
	struct fixture *f = *state;
	struct io_uring ring;
	char *log = attach_log(f, true);

	assert_non_null(strstr(log, "synchronous I/O"));
	free(log);
	/* "Async" uses io_uring, where this host has it. */
	if (io_uring_queue_init(4, &ring, 0) < 0)
		return;
	io_uring_queue_exit(&ring);
	log = attach_log(f, false);
	assert_null(strstr(log, "synchronous I/O"));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config),
		T(test_features_rw),
		cmocka_unit_test_setup_teardown(test_features_ro, setup_ro, teardown),
		BOTH(test_write_read_split),
		BOTH(test_get_id),
		BOTH(test_flush),
		BOTH(test_discard),
		BOTH(test_write_zeroes),
		BOTH(test_errors),
		cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
		T(test_missing_status),
		T(test_short_header),
		T(test_writable_header),
		BOTH(test_32_in_flight),
		BOTH(test_adjacent_batch),
		BOTH(test_reset_in_flight),
		cmocka_unit_test_setup_teardown(test_bad_images, setup_image, teardown),
		cmocka_unit_test_setup_teardown(test_image_locked, setup_image, teardown),
		cmocka_unit_test_setup_teardown(test_two_disks, setup_image, teardown),
		cmocka_unit_test_setup_teardown(test_io_engine_sync, setup_image, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
