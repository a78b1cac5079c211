// SPDX-License-Identifier: MIT
/*
 * ACPI PM block: S5 powers off, other sleep types don't, the power button
 * drives the SCI through PM1_EN and write-1-to-clear, the PM timer runs at
 * 3.579545 MHz, and hostile accesses (any size, any offset, several
 * threads) are harmless.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "devices/device.h"
#include "vmm/bus.h"
#include "vmm/vm.h"

#include "devtest.h"

#define EVT	ACPI_PM1A_EVT_PORT
#define STS	(EVT + 0)
#define EN	(EVT + 2)
#define CNT	ACPI_PM1A_CNT_PORT
#define TMR	ACPI_PM_TMR_PORT

static int sci_level(struct devtest *dt)
{
	return devtest_irq_level(dt, ACPI_SCI_IRQ);
}

static int setup(void **state)
{
	const struct vm_config cfg = { .cpus = 1, .mem_size = 16 << 20 };

	*state = devtest_new("acpi-pm", 0, &cfg);
	return 0;
}

static uint16_t slp(unsigned int typ, bool en)
{
	return (uint16_t)(typ << ACPI_PM1_CNT_SLP_TYP_SHIFT |
			  (en ? ACPI_PM1_CNT_SLP_EN : 0));
}

static void test_create(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	assert_true(vm->acpi_pm.present);
	assert_int_equal(vm->acpi_pm.pm1a_evt_port, ACPI_PM1A_EVT_PORT);
	assert_int_equal(vm->acpi_pm.pm1a_cnt_port, ACPI_PM1A_CNT_PORT);
	assert_int_equal(vm->acpi_pm.sci_irq, ACPI_SCI_IRQ);
	assert_non_null(vm->power_button);
	assert_non_null(vm->power_button_opaque);
	/* Always in ACPI mode; nothing pending or enabled at reset. */
	assert_int_equal(pio_in(vm, CNT, 2), ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(pio_in(vm, STS, 2), 0);
	assert_int_equal(pio_in(vm, EN, 2), 0);
	assert_int_equal(devtest_irq_calls(dt), 0);
}

static void test_s5_powers_off(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	/* ACPICA writes SLP_TYP first, then SLP_TYP | SLP_EN. */
	pio_out(vm, CNT, slp(ACPI_SLP_TYP_S5, false) | ACPI_PM1_CNT_SCI_EN, 2);
	assert_int_equal(vm->stop_reason, VM_RUNNING);
	pio_out(vm, CNT, slp(ACPI_SLP_TYP_S5, true) | ACPI_PM1_CNT_SCI_EN, 2);
	assert_int_equal(vm->stop_reason, VM_STOP_POWEROFF);
	assert_true(atomic_load(&vm->stopping));
}

static void test_s5_byte_write(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	pio_out(vm, CNT + 1, slp(ACPI_SLP_TYP_S5, true) >> 8, 1);
	assert_int_equal(vm->stop_reason, VM_STOP_POWEROFF);
}

static void test_s5_dword_write(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	/* A 32-bit write at the control block also reaches the unused pad. */
	pio_out(vm, CNT, slp(ACPI_SLP_TYP_S5, true), 4);
	assert_int_equal(vm->stop_reason, VM_STOP_POWEROFF);
}

static void test_other_sleep_types(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	for (unsigned int typ = 0; typ < 8; typ++) {
		if (typ == ACPI_SLP_TYP_S5)
			continue;
		pio_out(vm, CNT, slp(typ, true), 2);
		assert_int_equal(vm->stop_reason, VM_RUNNING);
		/* Woken at once, so a guest waiting on WAK_STS goes on. */
		assert_true(pio_in(vm, STS, 2) & ACPI_PM1_WAK_STS);
		pio_out(vm, STS, ACPI_PM1_WAK_STS, 2);
		assert_int_equal(pio_in(vm, STS, 2), 0);
		/* SLP_EN reads 0, SLP_TYP reads back, SCI_EN reads 1. */
		assert_int_equal(pio_in(vm, CNT, 2),
				 slp(typ, false) | ACPI_PM1_CNT_SCI_EN);
	}
	/* S5 without SLP_EN does nothing either. */
	pio_out(vm, CNT, slp(ACPI_SLP_TYP_S5, false), 2);
	assert_int_equal(vm->stop_reason, VM_RUNNING);
	assert_false(atomic_load(&vm->stopping));
	/* Writes to the status/enable and timer don't sleep. */
	pio_out(vm, STS, 0xffff, 2);
	pio_out(vm, TMR, 0xffffffff, 4);
	assert_int_equal(vm->stop_reason, VM_RUNNING);
}

static void test_power_button_sci(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	/* Disabled: status set, no interrupt. */
	vm->power_button(vm->power_button_opaque);
	assert_int_equal(pio_in(vm, STS, 2), ACPI_PM1_PWRBTN);
	assert_int_equal(devtest_irq_calls(dt), 0);

	/* Enabling with status pending raises the SCI. */
	pio_out(vm, EN, ACPI_PM1_PWRBTN, 2);
	assert_int_equal(pio_in(vm, EN, 2), ACPI_PM1_PWRBTN);
	assert_int_equal(sci_level(dt), 1);
	assert_int_equal(devtest_irq_last_gsi(dt), ACPI_SCI_IRQ);

	/* Writing 0 clears nothing; writing 1 clears and lowers the SCI. */
	pio_out(vm, STS, 0, 2);
	assert_int_equal(pio_in(vm, STS, 2), ACPI_PM1_PWRBTN);
	assert_int_equal(sci_level(dt), 1);
	pio_out(vm, STS, ACPI_PM1_PWRBTN, 2);
	assert_int_equal(pio_in(vm, STS, 2), 0);
	assert_int_equal(sci_level(dt), 0);

	/* Enabled: a press raises it at once. */
	vm->power_button(vm->power_button_opaque);
	assert_int_equal(sci_level(dt), 1);
	/* Pressing again while pending changes nothing. */
	unsigned int calls = devtest_irq_calls(dt);

	vm->power_button(vm->power_button_opaque);
	assert_int_equal(devtest_irq_calls(dt), calls);

	/* Disabling lowers it while the status stays. */
	pio_out(vm, EN, 0, 2);
	assert_int_equal(sci_level(dt), 0);
	assert_int_equal(pio_in(vm, STS, 2), ACPI_PM1_PWRBTN);

	/* Byte-wide clear of the high status byte. */
	pio_out(vm, EN + 1, ACPI_PM1_PWRBTN >> 8, 1);
	assert_int_equal(sci_level(dt), 1);
	pio_out(vm, STS + 1, ACPI_PM1_PWRBTN >> 8, 1);
	assert_int_equal(sci_level(dt), 0);
	assert_int_equal(vm->stop_reason, VM_RUNNING);
}

static void test_enable_bits_masked(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	pio_out(vm, EN, 0xffff, 2);
	/* Only the bits that exist stick. */
	assert_int_equal(pio_in(vm, EN, 2) & ~0x4721u, 0);
	assert_true(pio_in(vm, EN, 2) & ACPI_PM1_PWRBTN);
	/* Nothing pending: enabling everything raises nothing. */
	assert_int_equal(sci_level(dt), 0);
	/* The whole block as one 32-bit write: STS clear, EN set. */
	pio_out(vm, EVT, 0x0000ffffu, 4);
	assert_int_equal(pio_in(vm, EN, 2), 0);
}

static uint32_t read_timer(struct vm *vm)
{
	return pio_in(vm, TMR, 4);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_timer(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	uint64_t t0, t1, expect;
	uint32_t a, b, ticks;

	t0 = now_ns();
	a = read_timer(vm);
	nanosleep(&nap, NULL);
	b = read_timer(vm);
	t1 = now_ns();
	ticks = b - a;	/* 32-bit: wraps correctly */
	expect = (t1 - t0) * ACPI_PM_TIMER_HZ / 1000000000u;
	assert_true(ticks > 0);
	assert_true(ticks <= expect + 2);
	assert_true(ticks + 10 >= 20 * ACPI_PM_TIMER_HZ / 1000 * 9 / 10);

	/* Monotonic across many reads, byte reads agree with dword reads. */
	for (int i = 0; i < 1000; i++) {
		uint32_t c = read_timer(vm);

		assert_true((uint32_t)(c - b) < 0x80000000u);
		b = c;
	}
	/* The top byte changes only every ~4.7 s: read it twice. */
	a = pio_in(vm, TMR + 3, 1);
	b = read_timer(vm) >> 24;
	assert_true(b == a || b == ((a + 1) & 0xff));
}

/* Every offset, every size, straight to the handlers too: no crash. */
static void test_hostile_accesses(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 3, 4, 8 };
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	const struct bus_region *r = NULL;
	uint8_t data[16];

	for (uint16_t port = EVT - 8; port < EVT + ACPI_PM_BLOCK_LEN + 8; port++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			memset(data, 0xa5, sizeof(data));
			bus_access(&vm->pio, port, data, sizes[s], false);
			memset(data, 0, sizeof(data));
			bus_access(&vm->pio, port, data, sizes[s], true);
		}
	}
	for (unsigned int i = 0; i < vm->pio.nr_regions; i++)
		if (vm->pio.regions[i].base == EVT)
			r = &vm->pio.regions[i];
	assert_non_null(r);
	assert_int_equal(r->len, ACPI_PM_BLOCK_LEN);
	for (uint64_t off = 0; off < 20; off++) {
		for (uint32_t len = 0; len <= 16; len++) {
			memset(data, 0, sizeof(data));
			r->ops->read(r->opaque, off, data, len);
			r->ops->write(r->opaque, off, data, len);
		}
	}
	r->ops->read(r->opaque, UINT64_MAX, data, 8);
	r->ops->write(r->opaque, UINT64_MAX - 3, data, 8);
	r->ops->read(r->opaque, 8, data, UINT32_MAX);
	r->ops->write(r->opaque, 8, data, UINT32_MAX);
	/* Zero writes never slept: still running, SCI_EN still reads 1. */
	assert_int_equal(vm->stop_reason, VM_RUNNING);
	assert_true(pio_in(vm, CNT, 2) & ACPI_PM1_CNT_SCI_EN);
}

/* Random writes: the SCI always matches STS & EN afterwards. */
static void test_random_writes_keep_sci_consistent(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 4, 8 };
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	unsigned int seed = 1;

	for (int i = 0; i < 20000; i++) {
		uint32_t len = sizes[rand_r(&seed) % 4];
		uint16_t port = (uint16_t)(EVT + rand_r(&seed) % ACPI_PM_BLOCK_LEN);
		uint32_t val = (uint32_t)rand_r(&seed);
		uint8_t data[8];

		for (int b = 0; b < 8; b++)
			data[b] = (uint8_t)(val >> (b % 4 * 8));
		if (rand_r(&seed) % 8 == 0)
			vm->power_button(vm->power_button_opaque);
		bus_access(&vm->pio, port, data, len, rand_r(&seed) & 1);
		{
			uint32_t sts = pio_in(vm, STS, 2), en = pio_in(vm, EN, 2);
			int want = (sts & en & 0x0721) != 0;

			assert_int_equal(sci_level(dt), want);
		}
	}
}

struct stress_arg {
	struct vm *vm;
	int id;
};

static void *stress_thread(void *p)
{
	struct stress_arg *a = p;
	struct vm *vm = a->vm;

	for (int i = 0; i < 5000; i++) {
		uint8_t data[4] = { (uint8_t)i, (uint8_t)(i >> 8), 0, 0 };

		switch ((i + a->id) % 4) {
		case 0:
			vm->power_button(vm->power_button_opaque);
			break;
		case 1:
			data[1] = ACPI_PM1_PWRBTN >> 8;
			bus_access(&vm->pio, STS, data, 2, true);
			break;
		case 2:
			data[1] = (uint8_t)(i & 1);
			bus_access(&vm->pio, EN, data, 2, true);
			break;
		default:
			bus_access(&vm->pio, EVT + (uint64_t)(i % 12), data, 1, false);
			break;
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	pthread_t th[4];
	struct stress_arg args[4];
	uint32_t sts, en;

	for (int i = 0; i < 4; i++) {
		args[i] = (struct stress_arg){ vm, i };
		assert_int_equal(pthread_create(&th[i], NULL, stress_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* The last level sent matches the final state. */
	sts = pio_in(vm, STS, 2);
	en = pio_in(vm, EN, 2);
	assert_int_equal(sci_level(dt), (sts & en & ACPI_PM1_PWRBTN) != 0);
	assert_int_equal(vm->stop_reason, VM_RUNNING);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, devtest_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create),
		T(test_s5_powers_off),
		T(test_s5_byte_write),
		T(test_s5_dword_write),
		T(test_other_sleep_types),
		T(test_power_button_sci),
		T(test_enable_bits_masked),
		T(test_timer),
		T(test_hostile_accesses),
		T(test_random_writes_keep_sci_consistent),
		T(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
