// SPDX-License-Identifier: MIT
/* The VM object's KVM-free parts: stop requests, device and ACPI lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/device.h"
#include "vmm/vm.h"

static struct vm *new_vm(struct vm_config *cfg)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->name, "t");
	vm_init_bare(vm, cfg);
	return vm;
}

static void test_first_stop_wins(void **state)
{
	struct vm_config cfg;
	struct vm *vm = new_vm(&cfg);
	uint64_t n = 0;

	(void)state;
	vm->stop_efd = eventfd(0, EFD_NONBLOCK);
	assert_false(atomic_load(&vm->stopping));
	vm_request_stop(vm, VM_STOP_DEBUG_EXIT, 7);
	vm_request_stop(vm, VM_STOP_POWEROFF, 0);
	assert_true(atomic_load(&vm->stopping));
	assert_int_equal(vm->stop_reason, VM_STOP_DEBUG_EXIT);
	assert_int_equal(vm->stop_status, 7);
	/* The main loop is woken. */
	assert_int_equal(read(vm->stop_efd, &n, sizeof(n)), sizeof(n));
	assert_true(n >= 1);
	vm_destroy(vm);
}

static int destroyed[4], destroy_seq;

static void record_destroy(void *state)
{
	destroyed[destroy_seq++] = (int)(intptr_t)state;
}

static void test_devices_destroyed_in_reverse(void **state)
{
	struct vm_config cfg;
	struct vm *vm = new_vm(&cfg);

	(void)state;
	destroy_seq = 0;
	assert_int_equal(vm_add_device(vm, "a", (void *)1, record_destroy), 0);
	assert_int_equal(vm_add_device(vm, "b", (void *)2, record_destroy), 0);
	assert_int_equal(vm_add_device(vm, "c", (void *)3, NULL), 0);
	vm_destroy(vm);
	assert_int_equal(destroy_seq, 2);
	assert_int_equal(destroyed[0], 2);
	assert_int_equal(destroyed[1], 1);
}

static void test_acpi_dev_table_full(void **state)
{
	struct vm_config cfg;
	struct vm *vm = new_vm(&cfg);
	struct acpi_dev_desc d = { .name = "DEV0", .hid = "PNP0C02", .irq = -1 };
	unsigned int i;

	(void)state;
	for (i = 0; i < VM_MAX_ACPI_DEVS; i++)
		assert_int_equal(vm_add_acpi_dev(vm, &d), 0);
	assert_int_equal(vm_add_acpi_dev(vm, &d), -ENOSPC);
	assert_int_equal(vm->nr_acpi_devs, VM_MAX_ACPI_DEVS);
	vm_destroy(vm);
}

static void test_device_types_registered(void **state)
{
	static const char *const want[] = { "uart8250", "i8042", "cmos_rtc",
					    "debug_exit", "acpi-pm" };
	size_t n = __stop_skiff_devices - __start_skiff_devices, i, j;

	(void)state;
	for (j = 0; j < sizeof(want) / sizeof(want[0]); j++) {
		bool found = false;

		for (i = 0; i < n; i++)
			found |= !strcmp(__start_skiff_devices[i]->name, want[j]);
		if (!found)
			fail_msg("device type %s is not registered", want[j]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_stop_wins),
		cmocka_unit_test(test_devices_destroyed_in_reverse),
		cmocka_unit_test(test_acpi_dev_table_full),
		cmocka_unit_test(test_device_types_registered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
