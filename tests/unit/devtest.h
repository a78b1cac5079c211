/* SPDX-License-Identifier: MIT */
/*
 * Device test harness: a bare struct vm (no KVM) with one device type
 * attached, port I/O helpers that fail the test when the bus refuses an
 * access, and interrupt recorders in place of KVM_IRQ_LINE and
 * KVM_SIGNAL_MSI. There are no KVM ioeventfds: vm->ioeventfd fails with
 * -ENOSYS, so devices signal their kick eventfds from MMIO handlers.
 */
#ifndef SKIFF_TESTS_DEVTEST_H
#define SKIFF_TESTS_DEVTEST_H

#include <pthread.h>
#include <stdint.h>

#include "devices/device.h"
#include "vmm/vm.h"

/* Interrupt lines the recorder keeps per-line state for. */
#define DEVTEST_NR_GSI 32

struct devtest {
	struct vm *vm;
	/*
	 * vm->cfg points here, which is how the recorder gets from the vm it
	 * is called with back to this harness without any global state.
	 */
	struct vm_config cfg;

	/*
	 * What the device did to the interrupt lines. Devices call from any
	 * thread: read these through the devtest_irq_*() functions.
	 */
	pthread_mutex_t irq_lock;
	unsigned int irq_calls;		/* all lines, out-of-range GSIs too */
	unsigned int last_gsi;
	int level[DEVTEST_NR_GSI];	/* last level set, 0 before any */
	unsigned int edges[DEVTEST_NR_GSI];	/* 0 -> 1 transitions */

	/* MSIs signalled, under irq_lock too: read through devtest_msi_*(). */
	unsigned int msi_calls;
	uint64_t last_msi_addr;
	uint32_t last_msi_data;
	unsigned int msi_by_data[256];	/* count per low byte of the data */
};

/* The registered device type called name, or NULL. */
const struct device_type *devtest_find_type(const char *name);

/*
 * A bare VM configured as cfg (NULL: all zero) with the recorder
 * installed and no device yet. Fails the test on error.
 */
struct devtest *devtest_new_bare(const struct vm_config *cfg);

/*
 * Attach the device type called name, checking it exists, runs at order
 * and its create() succeeds.
 */
void devtest_attach(struct devtest *dt, const char *name, int order);

/* devtest_new_bare() then devtest_attach(). */
struct devtest *devtest_new(const char *name, int order,
			    const struct vm_config *cfg);

/* vm_destroy() and free the harness. */
void devtest_free(struct devtest *dt);

/* cmocka teardown for *state == a struct devtest (or NULL); clears *state. */
int devtest_teardown(void **state);
/* The same for a device without an interrupt line: it must never raise one. */
int devtest_teardown_no_irq(void **state);

/* Recorder readings, safe against devices calling from other threads. */
unsigned int devtest_irq_calls(struct devtest *dt);
unsigned int devtest_irq_last_gsi(struct devtest *dt);
int devtest_irq_level(struct devtest *dt, unsigned int gsi);
unsigned int devtest_irq_edges(struct devtest *dt, unsigned int gsi);
/* Forget call and edge counts; the lines keep their current levels. */
void devtest_irq_reset(struct devtest *dt);

/* MSI recorder readings: all MSIs, and those whose data's low byte is vec. */
unsigned int devtest_msi_calls(struct devtest *dt);
unsigned int devtest_msi_count(struct devtest *dt, uint8_t vec);
/* The last MSI's address and data (0 before any). */
void devtest_msi_last(struct devtest *dt, uint64_t *addr, uint32_t *data);
void devtest_msi_reset(struct devtest *dt);

/*
 * Port I/O of len bytes (at most 8; the first 4 carry val), little-endian.
 * The bus must claim the access.
 */
uint32_t pio_in(struct vm *vm, uint16_t port, uint32_t len);
void pio_out(struct vm *vm, uint16_t port, uint32_t val, uint32_t len);

static inline uint8_t inb(struct vm *vm, uint16_t port)
{
	return (uint8_t)pio_in(vm, port, 1);
}

static inline void outb(struct vm *vm, uint16_t port, uint8_t v)
{
	pio_out(vm, port, v, 1);
}

#endif
