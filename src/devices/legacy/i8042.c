// SPDX-License-Identifier: MIT
/*
 * i8042 keyboard controller at 0x60 (data) and 0x64 (status/command), with
 * a PS/2 keyboard on its first port and nothing on the second. It exists
 * for the reset line (Linux reboot=k sends 0xfe), for firmware-style
 * probes (self-tests, the command byte, the output port), and for the
 * control API's SendCtrlAltDel: the keyboard answers the commands Linux's
 * atkbd sends while probing (reset, identify, scancode set, LEDs, enable)
 * and types Ctrl-Alt-Del when asked. Described in ACPI as PNP0303 on IRQ 1.
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

#define CTR_KBD_INT	0x01	/* IRQ 1 when a keyboard byte waits */
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
#define CTR_XLATE	0x40	/* translate the keyboard's set 2 to set 1 */

#define KBD_IRQ		1
#define KBD_QUEUE	16
/* Keyboard commands (bytes written to the data port for the keyboard). */
#define KBD_SET_LEDS	0xed
#define KBD_ECHO	0xee
#define KBD_SCANCODE_SET 0xf0
#define KBD_GET_ID	0xf2
#define KBD_TYPEMATIC	0xf3
#define KBD_ENABLE	0xf4
#define KBD_DISABLE	0xf5
#define KBD_DEFAULTS	0xf6
#define KBD_RESET	0xff
#define KBD_ACK		0xfa
#define KBD_RESEND	0xfe
#define KBD_BAT_OK	0xaa

struct i8042 {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t ctr;		/* the command byte */
	uint8_t outport;
	uint8_t obuf;
	bool obuf_full;
	bool obuf_aux;
	bool obuf_kbd;		/* the waiting byte came from the keyboard */
	bool last_was_cmd;
	uint8_t pending;	/* command waiting for its data byte, or 0 */
	/* The keyboard: bytes it sent that the controller has not passed on. */
	uint8_t kbd_q[KBD_QUEUE];
	unsigned int kbd_head, kbd_len;
	uint8_t kbd_pending;	/* keyboard command waiting for its argument */
	bool kbd_scanning;	/* sends keys (after KBD_ENABLE) */
	bool irq_level;		/* what we last told vm_irq_line */
};

static void kbd_put(struct i8042 *k, uint8_t v)
{
	if (k->kbd_len == KBD_QUEUE)
		return;		/* a real keyboard's buffer overflows too */
	k->kbd_q[(k->kbd_head + k->kbd_len++) % KBD_QUEUE] = v;
}

static void i8042_set_irq(struct i8042 *k)
{
	/* Only the keyboard's bytes interrupt; Linux polls for command replies. */
	bool level = k->obuf_full && k->obuf_kbd && (k->ctr & CTR_KBD_INT);

	if (level == k->irq_level)
		return;
	k->irq_level = level;
	vm_irq_line(k->vm, KBD_IRQ, level);
}

/*
 * Lock held: move the keyboard's next byte into the output buffer when it
 * is free and the keyboard interface is on, and set IRQ 1 to match. The
 * pin is edge-triggered: each byte lowers and raises it again.
 */
static void i8042_update(struct i8042 *k)
{
	i8042_set_irq(k);	/* lowered if the buffer was just read */
	if (!k->obuf_full && k->kbd_len && !(k->ctr & CTR_KBD_DIS)) {
		k->obuf = k->kbd_q[k->kbd_head];
		k->kbd_head = (k->kbd_head + 1) % KBD_QUEUE;
		k->kbd_len--;
		k->obuf_full = true;
		k->obuf_aux = false;
		k->obuf_kbd = true;
	}
	i8042_set_irq(k);
}

/* A byte for the keyboard itself: a command, or a command's argument. */
static void kbd_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->kbd_pending;

	k->kbd_pending = 0;
	if (cmd) {
		kbd_put(k, KBD_ACK);
		if (cmd == KBD_SCANCODE_SET && v == 0)
			kbd_put(k, 0x02);	/* the current set: always 2 */
		return;
	}
	switch (v) {
	case KBD_SET_LEDS:
	case KBD_TYPEMATIC:
	case KBD_SCANCODE_SET:
		kbd_put(k, KBD_ACK);
		k->kbd_pending = v;
		break;
	case KBD_ECHO:
		kbd_put(k, KBD_ECHO);
		break;
	case KBD_GET_ID:
		kbd_put(k, KBD_ACK);
		kbd_put(k, 0xab);	/* an MF2 keyboard */
		kbd_put(k, (k->ctr & CTR_XLATE) ? 0x41 : 0x83);
		break;
	case KBD_ENABLE:
		k->kbd_scanning = true;
		kbd_put(k, KBD_ACK);
		break;
	case KBD_DISABLE:
		k->kbd_scanning = false;
		kbd_put(k, KBD_ACK);
		break;
	case KBD_DEFAULTS:
		kbd_put(k, KBD_ACK);
		break;
	case KBD_RESET:
		k->kbd_scanning = true;
		kbd_put(k, KBD_ACK);
		kbd_put(k, KBD_BAT_OK);
		break;
	default:
		/* 0xf7-0xfd set key types, which we ignore; the rest is unknown. */
		kbd_put(k, v >= 0xf7 ? KBD_ACK : KBD_RESEND);
		break;
	}
}

static void i8042_queue(struct i8042 *k, uint8_t v, bool aux)
{
	k->obuf = v;
	k->obuf_full = true;
	k->obuf_aux = aux;
	k->obuf_kbd = false;
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
	case CMD_WRITE_AUX:
		break;	/* to a mouse that is not there */
	default:
		kbd_write(k, v);
		break;
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
	i8042_update(k);	/* the next keyboard byte, and a new edge */
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
	i8042_update(k);
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

/*
 * The control API's SendCtrlAltDel: press and release Left Ctrl, Left Alt
 * and Delete, in scancode set 1 when the controller translates (as Linux
 * leaves it) or set 2 otherwise. -EAGAIN when the guest has not turned
 * the keyboard on: the keys would go nowhere.
 */
static int i8042_ctrl_alt_del(void *opaque)
{
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71,
					0xf0, 0x11, 0xf0, 0x14 };
	struct i8042 *k = opaque;
	const uint8_t *keys;
	unsigned int i, n;
	int ret = 0;

	pthread_mutex_lock(&k->lock);
	keys = (k->ctr & CTR_XLATE) ? set1 : set2;
	n = (k->ctr & CTR_XLATE) ? sizeof(set1) : sizeof(set2);
	if (!k->kbd_scanning || (k->ctr & CTR_KBD_DIS) || KBD_QUEUE - k->kbd_len < n) {
		ret = -EAGAIN;
	} else {
		for (i = 0; i < n; i++)
			kbd_put(k, keys[i]);
		i8042_update(k);
	}
	pthread_mutex_unlock(&k->lock);
	return ret;
}

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
	vm->ctrl_alt_del = i8042_ctrl_alt_del;
	vm->ctrl_alt_del_opaque = k;
	/* Data port first (Linux takes the command port as 0x64 by default). */
	return vm_add_acpi_dev(vm, &(struct acpi_dev_desc){
		.name = "KBD_", .hid = "PNP0303", .io_base = I8042_DATA, .io_len = 1,
		.irq = KBD_IRQ });
}

static const struct device_type i8042_type = {
	.name = "i8042",
	.order = 10,
	.create = i8042_create,
};
DEVICE_REGISTER(i8042_type);
