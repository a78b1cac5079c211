// SPDX-License-Identifier: MIT
/*
 * i8042 keyboard controller at 0x60 (data) and 0x64 (status/command), with
 * nothing plugged into it. It exists for the reset line (Linux reboot=k
 * sends 0xfe) and for firmware-style probes: self-tests, the command byte
 * and the output port. Not described in ACPI, so Linux does not probe it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "vmm/vm.h"

#define I8042_DATA	0x60
#define I8042_CMD	0x64

#define STAT_OBF	0x01	/* output buffer full */
#define STAT_IBF	0x02	/* input buffer full: never, we are instant */
#define STAT_SYS	0x04	/* system flag (command byte bit 2) */
#define STAT_CMD	0x08	/* last input-buffer write was a command */
#define STAT_UNLOCKED	0x10	/* keyboard not inhibited */
#define STAT_AUX_OBF	0x20	/* the waiting byte is from the aux port */

#define CTR_SYS		0x04
#define CTR_KBD_DIS	0x10
#define CTR_AUX_DIS	0x20

#define OUT_RESET	0x01	/* active low: 0 holds the CPU in reset */
#define OUT_A20		0x02

#define CMD_READ_CTR	0x20
#define CMD_WRITE_CTR	0x60
#define CMD_AUX_DISABLE	0xa7
#define CMD_AUX_ENABLE	0xa8
#define CMD_AUX_TEST	0xa9
#define CMD_SELF_TEST	0xaa
#define CMD_KBD_TEST	0xab
#define CMD_KBD_DISABLE	0xad
#define CMD_KBD_ENABLE	0xae
#define CMD_READ_OUTP	0xd0
#define CMD_WRITE_OUTP	0xd1
#define CMD_WRITE_KBD_OBUF 0xd2
#define CMD_WRITE_AUX_OBUF 0xd3
#define CMD_WRITE_AUX	0xd4
#define CMD_PULSE_BASE	0xf0	/* 0xf0-0xff: pulse output lines low */

struct i8042 {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t ctr;		/* the command byte */
	uint8_t outport;
	uint8_t obuf;
	bool obuf_full;
	bool obuf_aux;
	bool last_was_cmd;
	uint8_t pending;	/* command waiting for its data byte, or 0 */
};

static void i8042_queue(struct i8042 *k, uint8_t v, bool aux)
{
	k->obuf = v;
	k->obuf_full = true;
	k->obuf_aux = aux;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t st = STAT_UNLOCKED;

	if (k->obuf_full)
		st |= STAT_OBF | (k->obuf_aux ? STAT_AUX_OBF : 0);
	if (k->ctr & CTR_SYS)
		st |= STAT_SYS;
	if (k->last_was_cmd)
		st |= STAT_CMD;
	return st;
}

/* Returns true when the command resets the machine. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->last_was_cmd = true;
	k->pending = 0;
	switch (cmd) {
	case CMD_READ_CTR:
		i8042_queue(k, k->ctr, false);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		k->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		k->ctr |= CTR_AUX_DIS;
		break;
	case CMD_AUX_ENABLE:
		k->ctr &= ~CTR_AUX_DIS;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		i8042_queue(k, 0x00, false);	/* interface OK */
		break;
	case CMD_SELF_TEST:
		k->ctr |= CTR_SYS;
		i8042_queue(k, 0x55, false);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= CTR_KBD_DIS;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= ~CTR_KBD_DIS;
		break;
	case CMD_READ_OUTP:
		i8042_queue(k, k->outport, false);
		break;
	default:
		/* 0xf0-0xff pulse the lines whose bit is 0; bit 0 is reset. */
		if (cmd >= CMD_PULSE_BASE && !(cmd & OUT_RESET))
			return true;
		break;	/* unknown commands are ignored */
	}
	return false;
}

/* Returns true when the byte resets the machine. */
static bool i8042_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->last_was_cmd = false;
	k->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = v;
		break;
	case CMD_WRITE_OUTP:
		k->outport = v;
		return !(v & OUT_RESET);
	case CMD_WRITE_KBD_OBUF:
		i8042_queue(k, v, false);
		break;
	case CMD_WRITE_AUX_OBUF:
		i8042_queue(k, v, true);
		break;
	default:
		break;	/* to a keyboard or mouse that is not there */
	}
	return false;
}

/*
 * Each port is its own one-byte region, so offset is 0 and len 1 in
 * practice; anything wider only ever touches the first byte.
 */
static void i8042_data_read(void *opaque, uint64_t offset, uint8_t *data,
			    uint32_t len)
{
	struct i8042 *k = opaque;

	if (offset || !len)
		return;
	pthread_mutex_lock(&k->lock);
	data[0] = k->obuf;	/* an empty buffer repeats its last byte */
	k->obuf_full = false;
	pthread_mutex_unlock(&k->lock);
}

static void i8042_status_read(void *opaque, uint64_t offset, uint8_t *data,
			      uint32_t len)
{
	struct i8042 *k = opaque;

	if (offset || !len)
		return;
	pthread_mutex_lock(&k->lock);
	data[0] = i8042_status(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_reset(struct i8042 *k)
{
	vm_log(k->vm, "i8042: reset line pulsed");
	vm_request_stop(k->vm, VM_STOP_REBOOT, 0);
}

/*
 * A byte written to either port: handle() runs under the lock, and the
 * reset it asks for is requested after the lock is dropped.
 */
static void i8042_write(struct i8042 *k, uint64_t offset, const uint8_t *data,
			uint32_t len, bool (*handle)(struct i8042 *k, uint8_t v))
{
	bool reset;

	if (offset || !len)
		return;
	pthread_mutex_lock(&k->lock);
	reset = handle(k, data[0]);
	pthread_mutex_unlock(&k->lock);
	if (reset)
		i8042_reset(k);
}

static void i8042_data_write(void *opaque, uint64_t offset,
			     const uint8_t *data, uint32_t len)
{
	i8042_write(opaque, offset, data, len, i8042_data);
}

static void i8042_cmd_write(void *opaque, uint64_t offset,
			    const uint8_t *data, uint32_t len)
{
	i8042_write(opaque, offset, data, len, i8042_command);
}

static const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

static const struct bus_ops i8042_cmd_ops = {
	.read = i8042_status_read,
	.write = i8042_cmd_write,
};

static void i8042_destroy(void *opaque)
{
	struct i8042 *k = opaque;

	pthread_mutex_destroy(&k->lock);
	free(k);
}

static int i8042_create(struct vm *vm)
{
	struct i8042 *k;
	int ret;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->vm = vm;
	/* As firmware leaves it: keyboard interrupt, system flag, translation. */
	k->ctr = 0x45;
	k->outport = OUT_RESET | OUT_A20;
	pthread_mutex_init(&k->lock, NULL);
	ret = vm_add_device(vm, "i8042", k, i8042_destroy);
	if (ret) {
		i8042_destroy(k);
		return ret;
	}
	ret = bus_register(&vm->pio, I8042_DATA, 1, &i8042_data_ops, k,
			   "i8042 data");
	if (ret) {
		vm_err(vm, "i8042: cannot claim port 0x60: %s", strerror(-ret));
		return ret;
	}
	ret = bus_register(&vm->pio, I8042_CMD, 1, &i8042_cmd_ops, k,
			   "i8042 command");
	if (ret) {
		vm_err(vm, "i8042: cannot claim port 0x64: %s", strerror(-ret));
		bus_unregister(&vm->pio, I8042_DATA);
		return ret;
	}
	return 0;
}

static const struct device_type i8042_type = {
	.name = "i8042",
	.order = 10,
	.create = i8042_create,
};
DEVICE_REGISTER(i8042_type);
