// SPDX-License-Identifier: MIT
/* The i8042: self-tests, command byte, output port and the reset line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "devtest.h"
#include "vmm/vm.h"

#define DATA 0x60
#define CMD 0x64
#define STATUS 0x64

static int setup(void **state)
{
	*state = devtest_new("i8042", 10, NULL);
	return 0;
}

/* Linux's i8042_command(): wait for OBF, then read the reply. */
static uint8_t command_reply(struct vm *vm, uint8_t cmd)
{
	outb(vm, CMD, cmd);
	assert_true(inb(vm, STATUS) & 0x01);
	return inb(vm, DATA);
}

static void test_ports_and_acpi(void **state)
{
	struct devtest *dt = *state;
	const struct acpi_dev_desc *d = &dt->vm->acpi_devs[0];
	uint8_t v[2];

	/* A PS/2 keyboard (PNP0303) on the data port and IRQ 1, for Linux. */
	assert_int_equal(dt->vm->nr_acpi_devs, 1);
	assert_string_equal(d->hid, "PNP0303");
	assert_int_equal(d->io_base, 0x60);
	assert_int_equal(d->io_len, 1);
	assert_int_equal(d->irq, 1);
	/* 0x61 (PIT/speaker, in KVM) and 0x62-0x63 are not ours. */
	assert_false(bus_access(&dt->vm->pio, 0x61, v, 1, false));
	assert_false(bus_access(&dt->vm->pio, 0x60, v, 2, false));
	assert_false(bus_access(&dt->vm->pio, 0x65, v, 1, false));
}

static void test_status_idle(void **state)
{
	struct devtest *dt = *state;
	uint8_t st = inb(dt->vm, STATUS);

	assert_int_equal(st & 0x01, 0);	/* nothing to read */
	assert_int_equal(st & 0x02, 0);	/* input buffer empty: kb_wait passes */
	assert_true(st & 0x04);			/* system flag */
	assert_int_equal(devtest_irq_calls(dt), 0);
}

static void test_self_tests(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	assert_int_equal(command_reply(vm, 0xaa), 0x55);
	assert_int_equal(inb(vm, STATUS) & 0x01, 0);	/* read cleared OBF */
	assert_true(inb(vm, STATUS) & 0x08);		/* last write: command */
	assert_int_equal(command_reply(vm, 0xab), 0x00);
	assert_int_equal(command_reply(vm, 0xa9), 0x00);
	/* An empty buffer repeats its last byte. */
	assert_int_equal(inb(vm, DATA), 0x00);
	assert_int_equal(inb(vm, STATUS) & 0x01, 0);
}

static void test_command_byte(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	assert_int_equal(command_reply(vm, 0x20), 0x45);
	outb(vm, CMD, 0x60);
	outb(vm, DATA, 0x65);
	assert_int_equal(inb(vm, STATUS) & 0x08, 0);	/* last write: data */
	assert_int_equal(command_reply(vm, 0x20), 0x65);
	/* System flag follows the command byte. */
	outb(vm, CMD, 0x60);
	outb(vm, DATA, 0x00);
	assert_int_equal(inb(vm, STATUS) & 0x04, 0);
	assert_int_equal(command_reply(vm, 0xaa), 0x55);
	assert_true(inb(vm, STATUS) & 0x04);

	/* Port enable/disable commands flip the disable bits. */
	outb(vm, CMD, 0x60);
	outb(vm, DATA, 0x00);
	outb(vm, CMD, 0xad);
	assert_int_equal(command_reply(vm, 0x20), 0x10);
	outb(vm, CMD, 0xa7);
	assert_int_equal(command_reply(vm, 0x20), 0x30);
	outb(vm, CMD, 0xae);
	assert_int_equal(command_reply(vm, 0x20), 0x20);
	outb(vm, CMD, 0xa8);
	assert_int_equal(command_reply(vm, 0x20), 0x00);
}

static void test_unknown_ignored(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	outb(vm, CMD, 0x33);
	outb(vm, CMD, 0xc5);
	outb(vm, CMD, 0xff);	/* pulse nothing: bit 0 stays high */
	outb(vm, CMD, 0xd4);
	outb(vm, DATA, 0xf2);	/* to a mouse that is not there */
	assert_int_equal(inb(vm, STATUS) & 0x01, 0);
	assert_int_equal(vm->stop_reason, VM_RUNNING);
	assert_false(atomic_load(&vm->stopping));
	/* The controller still works. */
	assert_int_equal(command_reply(vm, 0xaa), 0x55);
}

static void test_echo_commands(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	outb(vm, CMD, 0xd2);
	outb(vm, DATA, 0x5a);
	assert_int_equal(inb(vm, STATUS) & 0x21, 0x01);
	assert_int_equal(inb(vm, DATA), 0x5a);
	outb(vm, CMD, 0xd3);
	outb(vm, DATA, 0xa5);
	assert_int_equal(inb(vm, STATUS) & 0x21, 0x21);	/* from aux */
	assert_int_equal(inb(vm, DATA), 0xa5);
	outb(vm, CMD, 0xd4);
	outb(vm, DATA, 0xf4);	/* to a mouse that is not there */
	assert_int_equal(inb(vm, STATUS) & 0x01, 0);
}

static void test_pulse_reset(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	/* Linux reboot=k: wait for IBF clear, then 0xfe. */
	assert_int_equal(inb(vm, STATUS) & 0x02, 0);
	outb(vm, CMD, 0xfe);
	assert_true(atomic_load(&vm->stopping));
	assert_int_equal(vm->stop_reason, VM_STOP_REBOOT);
	/* Repeats (Linux tries ten times) are harmless; first request wins. */
	outb(vm, CMD, 0xfe);
	assert_int_equal(vm->stop_reason, VM_STOP_REBOOT);
}

static void test_pulse_all_lines_resets(void **state)
{
	struct devtest *dt = *state;

	outb(dt->vm, CMD, 0xf0);
	assert_int_equal(dt->vm->stop_reason, VM_STOP_REBOOT);
}

static void test_output_port(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	assert_int_equal(command_reply(vm, 0xd0) & 0x03, 0x03);
	/* Bit 0 set: no reset; A20 off is fine. */
	outb(vm, CMD, 0xd1);
	outb(vm, DATA, 0x01);
	assert_int_equal(vm->stop_reason, VM_RUNNING);
	assert_int_equal(command_reply(vm, 0xd0), 0x01);
	/* Bit 0 clear: the reset line goes active. */
	outb(vm, CMD, 0xd1);
	outb(vm, DATA, 0x02);
	assert_int_equal(vm->stop_reason, VM_STOP_REBOOT);
	assert_true(atomic_load(&vm->stopping));
}

/* A plain data write after a finished command is not a parameter. */
static void test_parameter_consumed_once(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	outb(vm, CMD, 0xd1);
	outb(vm, DATA, 0x03);
	outb(vm, DATA, 0x00);	/* for the keyboard, not the output port */
	assert_int_equal(vm->stop_reason, VM_RUNNING);
	assert_int_equal(inb(vm, DATA), 0xfe);	/* the keyboard: resend? */
	/* A command in between cancels a pending parameter. */
	outb(vm, CMD, 0xd1);
	outb(vm, CMD, 0xab);
	assert_int_equal(inb(vm, DATA), 0x00);
	outb(vm, DATA, 0x00);
	assert_int_equal(vm->stop_reason, VM_RUNNING);
	assert_int_equal(inb(vm, DATA), 0xfe);
}

/* The device has no interrupt line: every teardown checks none was raised. */
/* Read what the keyboard sent, as Linux's interrupt handler does. */
static void expect_kbd(struct devtest *dt, const uint8_t *bytes, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		assert_int_equal(inb(dt->vm, STATUS) & 0x21, 0x01);
		assert_int_equal(devtest_irq_level(dt, 1), 1);
		assert_int_equal(inb(dt->vm, DATA), bytes[i]);
	}
	assert_int_equal(inb(dt->vm, STATUS) & 0x01, 0);
	assert_int_equal(devtest_irq_level(dt, 1), 0);
}

/* What atkbd sends while probing, and what an MF2 keyboard answers. */
static void test_keyboard_commands(void **state)
{
	static const uint8_t reset[] = { 0xfa, 0xaa }, id[] = { 0xfa, 0xab, 0x41 },
		id_raw[] = { 0xfa, 0xab, 0x83 }, ack[] = { 0xfa }, set[] = { 0xfa, 0x02 },
		echo[] = { 0xee }, resend[] = { 0xfe };
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	unsigned int edges;

	outb(vm, DATA, 0xff);
	expect_kbd(dt, reset, 2);
	outb(vm, DATA, 0xf2);
	expect_kbd(dt, id, 3);		/* translated, as the command byte says */
	outb(vm, DATA, 0xed);
	expect_kbd(dt, ack, 1);
	outb(vm, DATA, 0x07);		/* the LEDs: an argument, not a command */
	expect_kbd(dt, ack, 1);
	outb(vm, DATA, 0xf0);
	expect_kbd(dt, ack, 1);
	outb(vm, DATA, 0x00);		/* which set? */
	expect_kbd(dt, set, 2);
	outb(vm, DATA, 0xee);
	expect_kbd(dt, echo, 1);
	outb(vm, DATA, 0x42);
	expect_kbd(dt, resend, 1);
	/* Each byte is its own edge on the edge-triggered pin. */
	edges = devtest_irq_edges(dt, 1);
	outb(vm, DATA, 0xf2);
	expect_kbd(dt, id, 3);
	assert_int_equal(devtest_irq_edges(dt, 1), edges + 3);
	/* Without translation the ID comes raw; without KBD_INT, no IRQ. */
	outb(vm, CMD, 0x60);
	outb(vm, DATA, 0x04);
	outb(vm, DATA, 0xf2);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(devtest_irq_level(dt, 1), 0);
		assert_int_equal(inb(vm, DATA), id_raw[i]);
	}
}

static void test_ctrl_alt_del(void **state)
{
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71,
					0xf0, 0x11, 0xf0, 0x14 };
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	assert_non_null(vm->ctrl_alt_del);
	/* The guest has not turned the keyboard on: nothing is typed. */
	assert_int_equal(vm->ctrl_alt_del(vm->ctrl_alt_del_opaque), -EAGAIN);
	assert_int_equal(inb(vm, STATUS) & 0x01, 0);
	outb(vm, DATA, 0xf4);
	expect_kbd(dt, (const uint8_t[]){ 0xfa }, 1);
	assert_int_equal(vm->ctrl_alt_del(vm->ctrl_alt_del_opaque), 0);
	expect_kbd(dt, set1, sizeof(set1));
	/* The keyboard interface disabled in the command byte: refused. */
	outb(vm, CMD, 0xad);
	assert_int_equal(vm->ctrl_alt_del(vm->ctrl_alt_del_opaque), -EAGAIN);
	outb(vm, CMD, 0xae);
	/* No translation: the keyboard's own set 2. */
	outb(vm, CMD, 0x60);
	outb(vm, DATA, 0x05);
	assert_int_equal(vm->ctrl_alt_del(vm->ctrl_alt_del_opaque), 0);
	expect_kbd(dt, set2, sizeof(set2));
	/* Scanning disabled by the guest: refused. */
	outb(vm, DATA, 0xf5);
	expect_kbd(dt, (const uint8_t[]){ 0xfa }, 1);
	assert_int_equal(vm->ctrl_alt_del(vm->ctrl_alt_del_opaque), -EAGAIN);
}

/*
 * A guest that never reads: the output buffer and the keyboard's 16-byte
 * queue fill, later bytes are lost (as on a real keyboard), skiff goes on,
 * and Ctrl-Alt-Del is refused rather than typed in part.
 */
static void test_keyboard_queue_full(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	unsigned int i, got = 0;

	outb(vm, DATA, 0xf4);		/* scanning on */
	expect_kbd(dt, (const uint8_t[]){ 0xfa }, 1);
	for (i = 0; i < 40; i++)
		outb(vm, DATA, 0xee);	/* echo: one byte each */
	assert_int_equal(vm->ctrl_alt_del(vm->ctrl_alt_del_opaque), -EAGAIN);
	while (inb(vm, STATUS) & 0x01) {
		assert_int_equal(inb(vm, DATA), 0xee);
		got++;
		assert_true(got <= 40);
	}
	assert_int_equal(got, 1 + 16);	/* the output buffer and the queue */
	/* Room again: Ctrl-Alt-Del goes in whole. */
	assert_int_equal(vm->ctrl_alt_del(vm->ctrl_alt_del_opaque), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, devtest_teardown_no_irq)
#define T_IRQ(fn) cmocka_unit_test_setup_teardown(fn, setup, devtest_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ports_and_acpi),
		T_IRQ(test_keyboard_commands),
		T_IRQ(test_ctrl_alt_del),
		T_IRQ(test_keyboard_queue_full),
		T(test_status_idle),
		T(test_self_tests),
		T(test_command_byte),
		T(test_unknown_ignored),
		T(test_echo_commands),
		T(test_pulse_reset),
		T(test_pulse_all_lines_resets),
		T(test_output_port),
		T_IRQ(test_parameter_consumed_once),
	};

	return cmocka_run_group_tests_name("i8042", tests, NULL, NULL);
}
