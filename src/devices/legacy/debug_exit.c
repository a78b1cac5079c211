// SPDX-License-Identifier: MIT
/*
 * isa-debug-exit at port 0xf4 (--debug-exit): a guest write of v stops the
 * VM with exit status ((v << 1) | 1) & 0xff, as QEMU's device does, so test
 * guests can report pass/fail through skiff's exit status.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "vmm/vm.h"

#define DEBUG_EXIT_PORT	0xf4
#define DEBUG_EXIT_LEN	4	/* room for a 32-bit outl */

/* Only the VM pointer, never written after create: no lock needed. */
struct debug_exit {
	struct vm *vm;
};

static void debug_exit_read(void *opaque, uint64_t offset, uint8_t *data,
			    uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static void debug_exit_write(void *opaque, uint64_t offset,
			     const uint8_t *data, uint32_t len)
{
	struct debug_exit *d = opaque;
	uint64_t v = 0;
	uint32_t i;

	(void)offset;	/* QEMU ignores which byte of the port was hit */
	for (i = 0; i < len && i < sizeof(v); i++)
		v |= (uint64_t)data[i] << (8 * i);
	vm_log(d->vm, "debug-exit: guest wrote 0x%llx", (unsigned long long)v);
	vm_request_stop(d->vm, VM_STOP_DEBUG_EXIT, (int)(((v << 1) | 1) & 0xff));
}

static const struct bus_ops debug_exit_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};

static int debug_exit_create(struct vm *vm)
{
	struct debug_exit *d;
	int ret;

	if (!vm->cfg || !vm->cfg->debug_exit)
		return 0;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	ret = vm_add_device(vm, "debug_exit", d, free);
	if (ret) {
		free(d);
		return ret;
	}
	ret = bus_register(&vm->pio, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN,
			   &debug_exit_ops, d, "debug_exit");
	if (ret)
		vm_err(vm, "debug-exit: cannot claim ports 0xf4-0xf7: %s",
		       strerror(-ret));
	return ret;
}

static const struct device_type debug_exit_type = {
	.name = "debug_exit",
	.order = 10,
	.create = debug_exit_create,
};
DEVICE_REGISTER(debug_exit_type);
