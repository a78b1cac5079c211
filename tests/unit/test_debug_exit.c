// SPDX-License-Identifier: MIT
/* isa-debug-exit: status ((v << 1) | 1) & 0xff, attached only on request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "devtest.h"
#include "vmm/vm.h"

#define PORT 0xf4

static int setup(void **state)
{
	struct vm_config cfg = { .debug_exit = true };

	*state = devtest_new("debug_exit", 10, &cfg);
	return 0;
}

/* Write v with an access of len bytes; return the stop status. */
static int exit_status(struct devtest *dt, uint16_t port, uint64_t v,
		       uint32_t len)
{
	uint8_t data[8];
	uint32_t i;

	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(v >> (8 * i));
	assert_false(atomic_load(&dt->vm->stopping));
	assert_true(bus_access(&dt->vm->pio, port, data, len, true));
	assert_true(atomic_load(&dt->vm->stopping));
	assert_int_equal(dt->vm->stop_reason, VM_STOP_DEBUG_EXIT);
	return dt->vm->stop_status;
}

static void test_value_0(void **state)
{
	assert_int_equal(exit_status(*state, PORT, 0, 1), 1);
}

static void test_value_3(void **state)
{
	assert_int_equal(exit_status(*state, PORT, 3, 1), 7);
}

static void test_value_0x80_truncates(void **state)
{
	assert_int_equal(exit_status(*state, PORT, 0x80, 1), 1);
}

static void test_value_0x7f(void **state)
{
	assert_int_equal(exit_status(*state, PORT, 0x7f, 1), 0xff);
}

static void test_16bit_write(void **state)
{
	/* outw 0x0105: bit 8 falls off the 8-bit status, 5 -> 11. */
	assert_int_equal(exit_status(*state, PORT, 0x0105, 2), 11);
}

static void test_32bit_write(void **state)
{
	assert_int_equal(exit_status(*state, PORT, 0x12345602, 4), 5);
}

static void test_write_at_other_byte(void **state)
{
	assert_int_equal(exit_status(*state, PORT + 1, 2, 1), 5);
}

static void test_first_stop_wins(void **state)
{
	struct devtest *dt = *state;
	uint8_t v = 9;

	assert_int_equal(exit_status(dt, PORT, 1, 1), 3);
	assert_true(bus_access(&dt->vm->pio, PORT, &v, 1, true));
	assert_int_equal(dt->vm->stop_status, 3);
}

static void test_reads_zero(void **state)
{
	struct devtest *dt = *state;
	uint8_t data[4] = { 0xaa, 0xaa, 0xaa, 0xaa };

	assert_true(bus_access(&dt->vm->pio, PORT, data, 4, false));
	assert_memory_equal(data, "\0\0\0\0", 4);
	assert_true(bus_access(&dt->vm->pio, PORT + 3, data, 1, false));
	assert_int_equal(data[0], 0);
	assert_false(atomic_load(&dt->vm->stopping));
	/* A write straddling the end of the 4-port window is not ours. */
	assert_false(bus_access(&dt->vm->pio, PORT + 2, data, 4, true));
	assert_false(atomic_load(&dt->vm->stopping));
	assert_int_equal(dt->vm->nr_acpi_devs, 0);
}

static void test_absent_without_flag(void **state)
{
	struct vm_config cfg = { .debug_exit = false };
	struct devtest *dt;
	uint8_t v = 0;

	devtest_teardown_no_irq(state);
	dt = devtest_new("debug_exit", 10, &cfg);
	*state = dt;
	assert_false(bus_access(&dt->vm->pio, PORT, &v, 1, true));
	assert_false(atomic_load(&dt->vm->stopping));
	assert_int_equal(dt->vm->stop_reason, VM_RUNNING);
	assert_null(dt->vm->devices);
	assert_int_equal(devtest_irq_calls(dt), 0);
}

/* The device has no interrupt line: every teardown checks none was raised. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, devtest_teardown_no_irq)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_value_0),
		T(test_value_3),
		T(test_value_0x80_truncates),
		T(test_value_0x7f),
		T(test_16bit_write),
		T(test_32bit_write),
		T(test_write_at_other_byte),
		T(test_first_stop_wins),
		T(test_reads_zero),
		T(test_absent_without_flag),
	};

	return cmocka_run_group_tests_name("debug_exit", tests, NULL, NULL);
}
