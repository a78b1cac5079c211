// SPDX-License-Identifier: MIT
/* The device test harness (devtest.h): bare VM, port I/O, irq recorder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devtest.h"

const struct device_type *devtest_find_type(const char *name)
{
	const struct device_type *const *t;

	for (t = __start_skiff_devices; t < __stop_skiff_devices; t++)
		if (!strcmp((*t)->name, name))
			return *t;
	return NULL;
}

/*
 * vm->cfg is &dt->cfg (devtest_new_bare() passes it to vm_init_bare() and
 * nothing changes it), so the vm leads back to its harness. The const
 * comes off legitimately: dt->cfg itself is not const.
 */
static struct devtest *devtest_of(struct vm *vm)
{
	return (struct devtest *)((char *)(uintptr_t)vm->cfg -
				  offsetof(struct devtest, cfg));
}

static int devtest_record_irq(struct vm *vm, unsigned int gsi, int level)
{
	struct devtest *dt = devtest_of(vm);

	pthread_mutex_lock(&dt->irq_lock);
	dt->irq_calls++;
	dt->last_gsi = gsi;
	if (gsi < DEVTEST_NR_GSI) {
		if (level && !dt->level[gsi])
			dt->edges[gsi]++;
		dt->level[gsi] = level;
	}
	pthread_mutex_unlock(&dt->irq_lock);
	return 0;
}

static int devtest_record_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct devtest *dt = devtest_of(vm);

	pthread_mutex_lock(&dt->irq_lock);
	dt->msi_calls++;
	dt->last_msi_addr = addr;
	dt->last_msi_data = data;
	dt->msi_by_data[data & 0xff]++;
	pthread_mutex_unlock(&dt->irq_lock);
	return 0;
}

/* As without KVM: the device's MMIO handler signals the eventfd itself. */
static int devtest_no_ioeventfd(struct vm *vm, uint64_t addr, int fd, bool assign)
{
	(void)vm;
	(void)addr;
	(void)fd;
	(void)assign;
	return -ENOSYS;
}

struct devtest *devtest_new_bare(const struct vm_config *cfg)
{
	struct devtest *dt = calloc(1, sizeof(*dt));

	assert_non_null(dt);
	if (cfg)
		dt->cfg = *cfg;
	pthread_mutex_init(&dt->irq_lock, NULL);
	dt->vm = calloc(1, sizeof(*dt->vm));
	assert_non_null(dt->vm);
	vm_init_bare(dt->vm, &dt->cfg);
	dt->vm->irq_line = devtest_record_irq;
	dt->vm->signal_msi = devtest_record_msi;
	dt->vm->ioeventfd = devtest_no_ioeventfd;
	return dt;
}

void devtest_attach(struct devtest *dt, const char *name, int order)
{
	const struct device_type *t = devtest_find_type(name);

	assert_non_null(t);
	assert_int_equal(t->order, order);
	assert_int_equal(t->create(dt->vm), 0);
}

struct devtest *devtest_new(const char *name, int order,
			    const struct vm_config *cfg)
{
	struct devtest *dt = devtest_new_bare(cfg);

	devtest_attach(dt, name, order);
	return dt;
}

void devtest_free(struct devtest *dt)
{
	vm_destroy(dt->vm);
	pthread_mutex_destroy(&dt->irq_lock);
	free(dt);
}

/*
 * *state goes NULL first: a test that tears down and rebuilds its harness
 * halfway leaves nothing dangling for cmocka's teardown if it then fails.
 */
int devtest_teardown(void **state)
{
	struct devtest *dt = *state;

	*state = NULL;
	if (dt)
		devtest_free(dt);
	return 0;
}

int devtest_teardown_no_irq(void **state)
{
	struct devtest *dt = *state;
	unsigned int calls;

	*state = NULL;
	if (!dt)
		return 0;
	calls = devtest_irq_calls(dt);
	devtest_free(dt);
	assert_int_equal(calls, 0);
	return 0;
}

/* One counter, read under the lock the recorder writes it under. */
static unsigned int devtest_read(struct devtest *dt,
				 const unsigned int *counter)
{
	unsigned int v;

	pthread_mutex_lock(&dt->irq_lock);
	v = *counter;
	pthread_mutex_unlock(&dt->irq_lock);
	return v;
}

unsigned int devtest_irq_calls(struct devtest *dt)
{
	return devtest_read(dt, &dt->irq_calls);
}

unsigned int devtest_irq_last_gsi(struct devtest *dt)
{
	return devtest_read(dt, &dt->last_gsi);
}

unsigned int devtest_irq_edges(struct devtest *dt, unsigned int gsi)
{
	assert_in_range(gsi, 0, DEVTEST_NR_GSI - 1);
	return devtest_read(dt, &dt->edges[gsi]);
}

int devtest_irq_level(struct devtest *dt, unsigned int gsi)
{
	int level;

	assert_in_range(gsi, 0, DEVTEST_NR_GSI - 1);
	pthread_mutex_lock(&dt->irq_lock);
	level = dt->level[gsi];
	pthread_mutex_unlock(&dt->irq_lock);
	return level;
}

void devtest_irq_reset(struct devtest *dt)
{
	pthread_mutex_lock(&dt->irq_lock);
	dt->irq_calls = 0;
	memset(dt->edges, 0, sizeof(dt->edges));
	pthread_mutex_unlock(&dt->irq_lock);
}

unsigned int devtest_msi_calls(struct devtest *dt)
{
	return devtest_read(dt, &dt->msi_calls);
}

unsigned int devtest_msi_count(struct devtest *dt, uint8_t vec)
{
	return devtest_read(dt, &dt->msi_by_data[vec]);
}

void devtest_msi_last(struct devtest *dt, uint64_t *addr, uint32_t *data)
{
	pthread_mutex_lock(&dt->irq_lock);
	*addr = dt->last_msi_addr;
	*data = dt->last_msi_data;
	pthread_mutex_unlock(&dt->irq_lock);
}

void devtest_msi_reset(struct devtest *dt)
{
	pthread_mutex_lock(&dt->irq_lock);
	dt->msi_calls = 0;
	memset(dt->msi_by_data, 0, sizeof(dt->msi_by_data));
	pthread_mutex_unlock(&dt->irq_lock);
}

uint32_t pio_in(struct vm *vm, uint16_t port, uint32_t len)
{
	uint8_t data[8] = { 0 };
	uint32_t v = 0;
	uint32_t i;

	assert_true(bus_access(&vm->pio, port, data, len, false));
	for (i = 0; i < len && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	return v;
}

void pio_out(struct vm *vm, uint16_t port, uint32_t val, uint32_t len)
{
	uint8_t data[8] = { 0 };
	uint32_t i;

	for (i = 0; i < len && i < 4; i++)
		data[i] = (uint8_t)(val >> (8 * i));
	assert_true(bus_access(&vm->pio, port, data, len, true));
}
