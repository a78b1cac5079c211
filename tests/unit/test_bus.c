// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "vmm/bus.h"

struct recorder {
	uint64_t offset;
	uint32_t len;
	uint8_t data[8];
	int reads, writes;
};

static void rec_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct recorder *r = opaque;

	r->reads++;
	r->offset = offset;
	r->len = len;
	memset(data, 0x5a, len);
}

static void rec_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct recorder *r = opaque;

	r->writes++;
	r->offset = offset;
	r->len = len;
	memcpy(r->data, data, len);
}

static const struct bus_ops rec_ops = { rec_read, rec_write };

static void test_register_overlap(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x3f8, 1, &rec_ops, &a, "b"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3f0, 9, &rec_ops, &a, "c"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3ff, 1, &rec_ops, &a, "d"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x400, 1, &rec_ops, &a, "e"), 0);
	assert_int_equal(bus_register(&bus, 0x3f0, 8, &rec_ops, &a, "f"), 0);
	assert_int_equal(bus_register(&bus, 0x10, 0, &rec_ops, &a, "empty"), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 2, &rec_ops, &a, "wrap"), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 1, &rec_ops, &a, "last"), 0);
	assert_int_equal(bus.nr_regions, 4);
	assert_int_equal(bus_unregister(&bus, 0x400), 0);
	assert_int_equal(bus_unregister(&bus, 0x400), -ENOENT);
	bus_destroy(&bus);
}

static void test_dispatch(void **state)
{
	struct bus bus;
	struct recorder a = { 0 }, b = { 0 };
	uint8_t buf[8] = { 1, 2, 3, 4 };

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0x1000, 0x100, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x2000, 0x10, &rec_ops, &b, "b"), 0);
	assert_true(bus_access(&bus, 0x1004, buf, 4, true));
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.offset, 4);
	assert_memory_equal(a.data, buf, 4);
	assert_true(bus_access(&bus, 0x200c, buf, 4, false));
	assert_int_equal(b.reads, 1);
	assert_int_equal(b.offset, 0xc);
	assert_int_equal(buf[0], 0x5a);
	bus_destroy(&bus);
}

static void test_unclaimed_and_straddling(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };
	uint8_t buf[8];

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x60, 1, &rec_ops, &a, "a"), 0);
	memset(buf, 0, sizeof(buf));
	assert_false(bus_access(&bus, 0x61, buf, 1, false));
	assert_int_equal(buf[0], 0xff);
	/* A 2-byte access starting inside a 1-byte region is not the device's. */
	assert_false(bus_access(&bus, 0x60, buf, 2, false));
	assert_false(bus_access(&bus, 0x5f, buf, 2, true));
	assert_int_equal(a.reads + a.writes, 0);
	/* Bad lengths are refused outright. */
	assert_false(bus_access(&bus, 0x60, buf, 0, false));
	assert_false(bus_access(&bus, 0x60, buf, 9, false));
	assert_false(bus_access(&bus, UINT64_MAX, buf, 8, false));
	bus_destroy(&bus);
}

static void test_many_regions_sorted(void **state)
{
	struct bus bus;
	struct recorder r[64];
	uint8_t buf[1];
	int i;

	(void)state;
	memset(r, 0, sizeof(r));
	bus_init(&bus, "pio");
	/* Insert in a scrambled order; lookups must still find each. */
	for (i = 0; i < 64; i++) {
		int k = (i * 37) % 64;

		assert_int_equal(bus_register(&bus, k * 16, 8, &rec_ops, &r[k], "r"), 0);
	}
	for (i = 0; i < 64; i++) {
		assert_true(bus_access(&bus, i * 16 + 7, buf, 1, false));
		assert_false(bus_access(&bus, i * 16 + 8, buf, 1, false));
		assert_int_equal(r[i].reads, 1);
		assert_int_equal(r[i].offset, 7);
	}
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_overlap),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_unclaimed_and_straddling),
		cmocka_unit_test(test_many_regions_sorted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
