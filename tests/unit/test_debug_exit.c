// SPDX-License-Identifier: MIT
/* isa-debug-exit: status ((v << 1) | 1) & 0xff, attached only on request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/device.h"
#include "vmm/vm.h"

#define PORT 0xf4

static unsigned int irq_calls;

static int record_irq(struct vm *vm, unsigned int gsi, int level)
{
	(void)vm;
	(void)gsi;
	(void)level;
	irq_calls++;
	return 0;
}

struct fixture {
	struct vm *vm;
	struct vm_config cfg;
};

static const struct device_type *find_type(const char *name)
{
	const struct device_type *const *t;

	for (t = __start_skiff_devices; t < __stop_skiff_devices; t++)
		if (!strcmp((*t)->name, name))
			return *t;
	return NULL;
}

/* A bare VM with cfg as given and the device called name attached. */
static struct fixture *fixture_new(const char *name, const struct vm_config *cfg)
{
	const struct device_type *t = find_type(name);
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(t);
	assert_int_equal(t->order, 10);
	if (cfg)
		f->cfg = *cfg;
	f->vm = calloc(1, sizeof(*f->vm));
	assert_non_null(f->vm);
	vm_init_bare(f->vm, &f->cfg);
	f->vm->irq_line = record_irq;
	assert_int_equal(t->create(f->vm), 0);
	return f;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vm_destroy(f->vm);
	free(f);
	return 0;
}

static int setup(void **state)
{
	struct vm_config cfg = { .debug_exit = true };

	*state = fixture_new("debug_exit", &cfg);
	return 0;
}

/* Write v with an access of len bytes; return the stop status. */
static int exit_status(struct fixture *f, uint16_t port, uint64_t v,
		       uint32_t len)
{
	uint8_t data[8];
	uint32_t i;

	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(v >> (8 * i));
	assert_false(atomic_load(&f->vm->stopping));
	assert_true(bus_access(&f->vm->pio, port, data, len, true));
	assert_true(atomic_load(&f->vm->stopping));
	assert_int_equal(f->vm->stop_reason, VM_STOP_DEBUG_EXIT);
	return f->vm->stop_status;
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
	struct fixture *f = *state;
	uint8_t v = 9;

	assert_int_equal(exit_status(f, PORT, 1, 1), 3);
	assert_true(bus_access(&f->vm->pio, PORT, &v, 1, true));
	assert_int_equal(f->vm->stop_status, 3);
}

static void test_reads_zero(void **state)
{
	struct fixture *f = *state;
	uint8_t data[4] = { 0xaa, 0xaa, 0xaa, 0xaa };

	assert_true(bus_access(&f->vm->pio, PORT, data, 4, false));
	assert_memory_equal(data, "\0\0\0\0", 4);
	assert_true(bus_access(&f->vm->pio, PORT + 3, data, 1, false));
	assert_int_equal(data[0], 0);
	assert_false(atomic_load(&f->vm->stopping));
	/* A write straddling the end of the 4-port window is not ours. */
	assert_false(bus_access(&f->vm->pio, PORT + 2, data, 4, true));
	assert_false(atomic_load(&f->vm->stopping));
	assert_int_equal(f->vm->nr_acpi_devs, 0);
}

static void test_absent_without_flag(void **state)
{
	struct vm_config cfg = { .debug_exit = false };
	struct fixture *f;
	uint8_t v = 0;

	teardown(state);
	f = fixture_new("debug_exit", &cfg);
	*state = f;
	assert_false(bus_access(&f->vm->pio, PORT, &v, 1, true));
	assert_false(atomic_load(&f->vm->stopping));
	assert_int_equal(f->vm->stop_reason, VM_RUNNING);
	assert_null(f->vm->devices);
	assert_int_equal(irq_calls, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

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
