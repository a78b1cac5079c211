/* SPDX-License-Identifier: MIT */
/*
 * Device registration: each device file defines one struct device_type and
 * registers it with DEVICE_REGISTER(). The table lives in a read-only linker
 * section, so there is no global mutable registry; the VM walks it at
 * creation and each type decides from vm->cfg whether to attach.
 */
#ifndef SKIFF_DEVICES_DEVICE_H
#define SKIFF_DEVICES_DEVICE_H

struct vm;

struct device_type {
	const char *name;
	/* Lower runs first (e.g. the irq/ACPI PM block before users of it). */
	int order;
	/*
	 * Attach to vm if its configuration wants this device: register bus
	 * regions, ACPI descriptions, and a destructor with vm_add_device().
	 * 0 when attached or not wanted, -errno (with a message printed) on
	 * failure.
	 */
	int (*create)(struct vm *vm);
};

#define DEVICE_REGISTER(type)						\
	static const struct device_type *const __device_ptr_##type	\
	__attribute__((used, section("skiff_devices"), aligned(sizeof(void *)))) = &(type)

/* Iterate all registered device types (unordered). */
extern const struct device_type *const __start_skiff_devices[];
extern const struct device_type *const __stop_skiff_devices[];

#endif
