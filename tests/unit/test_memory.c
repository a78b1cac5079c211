// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "vmm/memory.h"

static void test_layout_small(void **state)
{
	struct guest_mem m;

	(void)state;
	guest_mem_layout(&m, NULL, 256 * SZ_1M);
	assert_int_equal(m.nr_regions, 1);
	assert_int_equal(m.regions[0].gpa, 0);
	assert_int_equal(m.regions[0].size, 256 * SZ_1M);
	assert_int_equal(guest_mem_low_end(&m), 256 * SZ_1M);
}

static void test_layout_hole(void **state)
{
	struct guest_mem m;

	(void)state;
	guest_mem_layout(&m, NULL, 5 * SZ_1G);
	assert_int_equal(m.nr_regions, 2);
	assert_int_equal(m.regions[0].size, MEM_LOW_RAM_END);
	assert_int_equal(m.regions[1].gpa, SZ_4G);
	assert_int_equal(m.regions[1].size, 5 * SZ_1G - MEM_LOW_RAM_END);
}

static void test_gpa_ptr_bounds(void **state)
{
	static uint8_t ram[64 * 1024];
	struct guest_mem m;

	(void)state;
	guest_mem_layout(&m, ram, sizeof(ram));
	assert_ptr_equal(gpa_ptr(&m, 0, sizeof(ram)), ram);
	assert_ptr_equal(gpa_ptr(&m, 100, 1), ram + 100);
	assert_null(gpa_ptr(&m, sizeof(ram) - 1, 2));
	assert_null(gpa_ptr(&m, sizeof(ram), 1));
	assert_non_null(gpa_ptr(&m, sizeof(ram) - 1, 1));
	/* Lengths that would wrap 64-bit arithmetic never pass. */
	assert_null(gpa_ptr(&m, 1, UINT64_MAX));
	assert_null(gpa_ptr(&m, UINT64_MAX, 2));
	assert_null(gpa_ptr(&m, UINT64_MAX - 10, 20));
}

static void test_gpa_ptr_high_region(void **state)
{
	struct guest_mem m;
	uint8_t *fake = (uint8_t *)0x10000;	/* never dereferenced */

	(void)state;
	guest_mem_layout(&m, fake, MEM_LOW_RAM_END + SZ_1M);
	/* Nothing in the hole, RAM again at 4 GiB, nothing after. */
	assert_null(gpa_ptr(&m, MEM_LOW_RAM_END, 1));
	assert_null(gpa_ptr(&m, SZ_4G - 1, 2));
	assert_ptr_equal(gpa_ptr(&m, SZ_4G, 1), fake + MEM_LOW_RAM_END);
	assert_null(gpa_ptr(&m, SZ_4G + SZ_1M, 1));
	/* A range may not cross from low RAM into the hole. */
	assert_null(gpa_ptr(&m, MEM_LOW_RAM_END - 1, 2));
}

static void test_gpa_read_write(void **state)
{
	static uint8_t ram[8192];
	struct guest_mem m;
	uint32_t v = 0xdeadbeef, r = 0;

	(void)state;
	guest_mem_layout(&m, ram, sizeof(ram));
	assert_true(gpa_write(&m, 4096, &v, 4));
	assert_true(gpa_read(&m, 4096, &r, 4));
	assert_int_equal(r, v);
	assert_false(gpa_write(&m, sizeof(ram) - 2, &v, 4));
	assert_false(gpa_read(&m, sizeof(ram), &r, 1));
}

static void test_alloc_noreserve(void **state)
{
	struct guest_mem m;

	(void)state;
	/* 64 GiB of address space costs nothing until touched. */
	assert_int_equal(guest_mem_alloc(&m, 64 * SZ_1G), 0);
	assert_int_equal(m.nr_regions, 2);
	*(volatile uint8_t *)gpa_ptr(&m, SZ_4G, 1) = 1;
	guest_mem_free(&m);
	assert_int_equal(guest_mem_alloc(&m, 0), -EINVAL);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("256M", &v), 0);
	assert_int_equal(v, 256 * SZ_1M);
	assert_int_equal(parse_size("2G", &v), 0);
	assert_int_equal(v, 2 * SZ_1G);
	assert_int_equal(parse_size("4096k", &v), 0);
	assert_int_equal(v, 4096 * 1024);
	assert_int_equal(parse_size("512MiB", &v), 0);
	assert_int_equal(v, 512 * SZ_1M);
	assert_int_equal(parse_size("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("M", &v), -EINVAL);
	assert_int_equal(parse_size("-1G", &v), -EINVAL);
	assert_int_equal(parse_size("12Q", &v), -EINVAL);
	assert_int_equal(parse_size("1G1", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
	assert_int_equal(parse_size(NULL, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_small),
		cmocka_unit_test(test_layout_hole),
		cmocka_unit_test(test_gpa_ptr_bounds),
		cmocka_unit_test(test_gpa_ptr_high_region),
		cmocka_unit_test(test_gpa_read_write),
		cmocka_unit_test(test_alloc_noreserve),
		cmocka_unit_test(test_parse_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
