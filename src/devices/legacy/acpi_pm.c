// SPDX-License-Identifier: MIT
/*
 * ACPI fixed hardware: the PM1a event block (PM1_STS, PM1_EN), the PM1a
 * control block (PM1_CNT) and the 32-bit PM timer, as one 12-byte port
 * range the FADT points at:
 *
 *   +0  PM1_STS  (16 bits, write 1 to clear)
 *   +2  PM1_EN   (16 bits)
 *   +4  PM1_CNT  (16 bits; SCI_EN always reads 1, SLP_EN triggers a sleep)
 *   +6  unused   (reads 0)
 *   +8  PM_TMR   (32 bits, 3.579545 MHz, read-only)
 *
 * The guest is always in ACPI mode (no SMI_CMD). Sleeping into S5 powers
 * the VM off; other sleep types wake up at once (WAK_STS) since no other
 * sleep state is advertised. The fixed power button raises the SCI, a
 * level-triggered interrupt held while any enabled status bit is set.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/acpi.h"
#include "devices/device.h"
#include "vmm/bus.h"
#include "vmm/vm.h"

#define PM_STS_OFF	0
#define PM_EN_OFF	2
#define PM_CNT_OFF	4
#define PM_TMR_OFF	8

/* PM1_STS bits the hardware can set (all write-1-to-clear). */
#define PM1_STS_MASK	0xc731u		/* TMR BM GBL PWRBTN SLPBTN RTC PCIEXP WAK */
/* PM1_EN bits that exist. */
#define PM1_EN_MASK	0x4721u		/* TMR GBL PWRBTN SLPBTN RTC PCIEXP_DIS */
/* Status bits that raise the SCI when enabled (same positions in PM1_EN). */
#define PM1_SCI_MASK	(ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | \
			 ACPI_PM1_SLPBTN | ACPI_PM1_RTC)
/* PM1_CNT bits that read back: BM_RLD and SLP_TYP (SLP_EN, GBL_RLS don't). */
#define PM1_CNT_KEEP	((1u << 1) | ACPI_PM1_CNT_SLP_TYP_MASK)

struct acpi_pm {
	struct vm *vm;
	pthread_mutex_t lock;
	uint16_t sts;
	uint16_t en;
	uint16_t cnt;
	bool sci_level;		/* last level sent to the irqchip */
};

static uint32_t pm_timer_now(void)
{
	struct timespec ts;
	unsigned __int128 ns;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (unsigned __int128)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return (uint32_t)(ns * ACPI_PM_TIMER_HZ / 1000000000u);
}

/* Raise or lower the SCI to match STS & EN. Called with pm->lock held. */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	bool level = (pm->sts & pm->en & PM1_SCI_MASK) != 0;

	if (level == pm->sci_level)
		return;
	pm->sci_level = level;
	vm_irq_line(pm->vm, ACPI_SCI_IRQ, level);
}

static void acpi_pm_read(void *opaque, uint64_t offset, uint8_t *data,
			 uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint8_t regs[ACPI_PM_BLOCK_LEN] = { 0 };
	uint16_t cnt;
	uint32_t tmr = 0;

	if (offset >= ACPI_PM_BLOCK_LEN || len > ACPI_PM_BLOCK_LEN)
		return;
	if (offset + len > PM_TMR_OFF)
		tmr = pm_timer_now();

	pthread_mutex_lock(&pm->lock);
	cnt = pm->cnt | ACPI_PM1_CNT_SCI_EN;
	regs[PM_STS_OFF] = (uint8_t)pm->sts;
	regs[PM_STS_OFF + 1] = (uint8_t)(pm->sts >> 8);
	regs[PM_EN_OFF] = (uint8_t)pm->en;
	regs[PM_EN_OFF + 1] = (uint8_t)(pm->en >> 8);
	pthread_mutex_unlock(&pm->lock);

	regs[PM_CNT_OFF] = (uint8_t)cnt;
	regs[PM_CNT_OFF + 1] = (uint8_t)(cnt >> 8);
	for (int i = 0; i < 4; i++)
		regs[PM_TMR_OFF + i] = (uint8_t)(tmr >> (8 * i));

	for (uint32_t i = 0; i < len; i++)
		data[i] = offset + i < ACPI_PM_BLOCK_LEN ? regs[offset + i] : 0xff;
}

/* The new PM1_CNT value: returns true when the guest asked for S5. */
static bool acpi_pm_write_cnt(struct acpi_pm *pm, uint16_t val)
{
	unsigned int slp_typ;

	pm->cnt = val & PM1_CNT_KEEP;
	if (!(val & ACPI_PM1_CNT_SLP_EN))
		return false;
	slp_typ = (val & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;
	if (slp_typ == ACPI_SLP_TYP_S5)
		return true;
	/* A sleep state we never offered: wake up at once. */
	pm->sts |= ACPI_PM1_WAK_STS;
	return false;
}

static void acpi_pm_write(void *opaque, uint64_t offset, const uint8_t *data,
			  uint32_t len)
{
	struct acpi_pm *pm = opaque;
	bool cnt_written = false, poweroff = false;
	uint16_t cnt;

	if (offset >= ACPI_PM_BLOCK_LEN || len > ACPI_PM_BLOCK_LEN)
		return;

	pthread_mutex_lock(&pm->lock);
	cnt = pm->cnt;
	for (uint32_t i = 0; i < len && offset + i < ACPI_PM_BLOCK_LEN; i++) {
		unsigned int reg = (unsigned int)(offset + i);
		unsigned int shift = 8 * (reg & 1);
		uint16_t v = (uint16_t)(data[i] << shift);

		switch (reg & ~1u) {
		case PM_STS_OFF:
			pm->sts &= (uint16_t)~(v & PM1_STS_MASK);
			break;
		case PM_EN_OFF:
			pm->en = (uint16_t)((pm->en & ~(0xffu << shift)) |
					    (v & PM1_EN_MASK));
			break;
		case PM_CNT_OFF:
			cnt = (uint16_t)((cnt & ~(0xffu << shift)) | v);
			cnt_written = true;
			break;
		default:	/* unused bytes and the read-only timer */
			break;
		}
	}
	if (cnt_written)
		poweroff = acpi_pm_write_cnt(pm, cnt);
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);

	if (poweroff) {
		vm_log(pm->vm, "acpi-pm: guest entered S5, powering off");
		vm_request_stop(pm->vm, VM_STOP_POWEROFF, 0);
	}
}

static const struct bus_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

/* vm->power_button: a press of the fixed-hardware power button. */
static void acpi_pm_power_button(void *opaque)
{
	struct acpi_pm *pm = opaque;

	pthread_mutex_lock(&pm->lock);
	pm->sts |= ACPI_PM1_PWRBTN;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_destroy(void *state)
{
	struct acpi_pm *pm = state;

	if (pm->vm->power_button_opaque == pm) {
		pm->vm->power_button = NULL;
		pm->vm->power_button_opaque = NULL;
	}
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

static int acpi_pm_create(struct vm *vm)
{
	struct acpi_pm *pm;
	int ret;

	pm = calloc(1, sizeof(*pm));
	if (!pm) {
		vm_err(vm, "acpi-pm: out of memory");
		return -ENOMEM;
	}
	pm->vm = vm;
	pthread_mutex_init(&pm->lock, NULL);

	ret = bus_register(&vm->pio, ACPI_PM1A_EVT_PORT, ACPI_PM_BLOCK_LEN,
			   &acpi_pm_ops, pm, "acpi-pm");
	if (ret) {
		vm_err(vm, "acpi-pm: cannot claim ports 0x%x-0x%x: %s",
		       ACPI_PM1A_EVT_PORT,
		       ACPI_PM1A_EVT_PORT + ACPI_PM_BLOCK_LEN - 1, strerror(-ret));
		goto err_free;
	}
	ret = vm_add_device(vm, "acpi-pm", pm, acpi_pm_destroy);
	if (ret) {
		vm_err(vm, "acpi-pm: %s", strerror(-ret));
		bus_unregister(&vm->pio, ACPI_PM1A_EVT_PORT);
		goto err_free;
	}

	vm->acpi_pm = (struct acpi_pm_desc){
		.pm1a_evt_port = ACPI_PM1A_EVT_PORT,
		.pm1a_cnt_port = ACPI_PM1A_CNT_PORT,
		.pm_tmr_port = ACPI_PM_TMR_PORT,
		.sci_irq = ACPI_SCI_IRQ,
		.present = true,
	};
	vm->power_button = acpi_pm_power_button;
	vm->power_button_opaque = pm;
	return 0;

err_free:
	pthread_mutex_destroy(&pm->lock);
	free(pm);
	return ret;
}

static const struct device_type acpi_pm_type = {
	.name = "acpi-pm",
	.order = 0,	/* before acpi_setup() and before devices using the SCI */
	.create = acpi_pm_create,
};
DEVICE_REGISTER(acpi_pm_type);
