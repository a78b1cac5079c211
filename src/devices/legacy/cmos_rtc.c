// SPDX-License-Identifier: MIT
/*
 * MC146818 CMOS RTC at ports 0x70 (index) and 0x71 (data).
 *
 * The clock is the host's UTC time plus an offset in seconds that the guest
 * changes by writing the time registers. Time registers are computed on each
 * read, in BCD or binary and 12 or 24 hour form as register B says. While
 * B.SET is 1 the time is frozen in a snapshot the guest edits; clearing SET
 * turns the snapshot back into an offset. No periodic, alarm or update
 * interrupts are generated; register C reports UF lazily for pollers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/device.h"
#include "vmm/vm.h"

#define RTC_BASE	0x70
#define RTC_NR_PORTS	2
#define RTC_IRQ		8
#define CMOS_SIZE	128

#define RTC_SECONDS	0x00
#define RTC_MINUTES	0x02
#define RTC_HOURS	0x04
#define RTC_DAY_OF_WEEK	0x06
#define RTC_DAY		0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_REG_A	0x0a
#define RTC_REG_B	0x0b
#define RTC_REG_C	0x0c
#define RTC_REG_D	0x0d
#define RTC_CENTURY	0x32

#define REG_A_UIP	0x80
#define REG_B_SET	0x80
#define REG_B_PIE	0x40
#define REG_B_AIE	0x20
#define REG_B_UIE	0x10
#define REG_B_DM_BINARY	0x04
#define REG_B_24H	0x02
#define REG_C_IRQF	0x80
#define REG_C_UF	0x10
#define REG_D_VRT	0x80
#define HOUR_PM		0x80

/* UIP is high for the last 244 us before each update (datasheet tBUC). */
#define RTC_UIP_NS	244000L

struct cmos {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[CMOS_SIZE];	/* time registers and C/D are not kept here */
	int64_t offset;		/* guest time - host time, seconds */
	struct tm frozen;	/* the time while B.SET is 1 */
	int64_t last_update;	/* guest second when C last reported UF */
};

static struct timespec host_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static bool cmos_binary(const struct cmos *c)
{
	return c->ram[RTC_REG_B] & REG_B_DM_BINARY;
}

static int floor_mod(int a, int m)
{
	int r = a % m;

	return r < 0 ? r + m : r;
}

static uint8_t cmos_encode(const struct cmos *c, int v)
{
	v = floor_mod(v, cmos_binary(c) ? 256 : 100);
	if (cmos_binary(c))
		return (uint8_t)v;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* Hostile BCD (0xff) decodes to something odd but harmless. */
static int cmos_decode(const struct cmos *c, uint8_t v)
{
	if (cmos_binary(c))
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

/* The guest's current broken-down time (UTC). */
static void cmos_get_tm(const struct cmos *c, struct tm *tm)
{
	time_t t;

	if (c->ram[RTC_REG_B] & REG_B_SET) {
		*tm = c->frozen;
		return;
	}
	t = (time_t)(host_now().tv_sec + c->offset);
	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm));
}

static int tm_full_year(const struct tm *tm)
{
	return tm->tm_year + 1900;
}

/* Adopt tm as the guest time: snapshot while SET, else a new offset. */
static void cmos_set_tm(struct cmos *c, struct tm *tm)
{
	time_t t;

	if (c->ram[RTC_REG_B] & REG_B_SET) {
		c->frozen = *tm;
		return;
	}
	tm->tm_isdst = 0;
	t = timegm(tm);
	c->offset = (int64_t)t - host_now().tv_sec;
}

static uint8_t cmos_encode_hour(const struct cmos *c, int hour)
{
	int h12;

	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_encode(c, hour);
	h12 = hour % 12 ? hour % 12 : 12;
	return cmos_encode(c, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static int cmos_decode_hour(const struct cmos *c, uint8_t v)
{
	int h;

	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_decode(c, v);
	h = cmos_decode(c, v & ~HOUR_PM);
	if (h == 12)
		h = 0;
	return h + (v & HOUR_PM ? 12 : 0);
}

static bool cmos_is_time_reg(unsigned int idx)
{
	return idx == RTC_SECONDS || idx == RTC_MINUTES || idx == RTC_HOURS ||
	       (idx >= RTC_DAY_OF_WEEK && idx <= RTC_YEAR) ||
	       idx == RTC_CENTURY;
}

static uint8_t cmos_read_time(const struct cmos *c, unsigned int idx)
{
	struct tm tm;
	int year;

	cmos_get_tm(c, &tm);
	year = tm_full_year(&tm);
	switch (idx) {
	case RTC_SECONDS:
		return cmos_encode(c, tm.tm_sec > 59 ? 59 : tm.tm_sec);
	case RTC_MINUTES:
		return cmos_encode(c, tm.tm_min);
	case RTC_HOURS:
		return cmos_encode_hour(c, tm.tm_hour);
	case RTC_DAY_OF_WEEK:
		if (c->ram[RTC_REG_B] & REG_B_SET) {
			/* The snapshot may hold a date the guest just wrote. */
			tm.tm_isdst = 0;
			timegm(&tm);
		}
		return cmos_encode(c, tm.tm_wday + 1);
	case RTC_DAY:
		return cmos_encode(c, tm.tm_mday);
	case RTC_MONTH:
		return cmos_encode(c, tm.tm_mon + 1);
	case RTC_YEAR:
		return cmos_encode(c, floor_mod(year, 100));
	case RTC_CENTURY:
		return cmos_encode(c, (year - floor_mod(year, 100)) / 100);
	}
	return 0;
}

static void cmos_write_time(struct cmos *c, unsigned int idx, uint8_t v)
{
	struct tm tm;
	int year, yy;

	cmos_get_tm(c, &tm);
	year = tm_full_year(&tm);
	yy = floor_mod(year, 100);
	switch (idx) {
	case RTC_SECONDS:
		tm.tm_sec = cmos_decode(c, v);
		break;
	case RTC_MINUTES:
		tm.tm_min = cmos_decode(c, v);
		break;
	case RTC_HOURS:
		tm.tm_hour = cmos_decode_hour(c, v);
		break;
	case RTC_DAY_OF_WEEK:
		return;		/* derived from the date */
	case RTC_DAY:
		tm.tm_mday = cmos_decode(c, v);
		break;
	case RTC_MONTH:
		tm.tm_mon = cmos_decode(c, v) - 1;
		break;
	case RTC_YEAR:
		tm.tm_year = year - yy + cmos_decode(c, v) - 1900;
		break;
	case RTC_CENTURY:
		tm.tm_year = cmos_decode(c, v) * 100 + yy - 1900;
		break;
	}
	cmos_set_tm(c, &tm);
}

static uint8_t cmos_read_reg_a(const struct cmos *c)
{
	uint8_t v = c->ram[RTC_REG_A] & ~REG_A_UIP;

	if (!(c->ram[RTC_REG_B] & REG_B_SET) &&
	    host_now().tv_nsec >= 1000000000L - RTC_UIP_NS)
		v |= REG_A_UIP;
	return v;
}

/* Flags since the last read; UF when an update cycle has passed since. */
static uint8_t cmos_read_reg_c(struct cmos *c)
{
	uint8_t b = c->ram[RTC_REG_B], v = c->ram[RTC_REG_C];
	int64_t now = host_now().tv_sec + c->offset;

	if (!(b & REG_B_SET) && now != c->last_update) {
		c->last_update = now;
		v |= REG_C_UF;
	}
	if (v & b & (REG_B_PIE | REG_B_AIE | REG_B_UIE))
		v |= REG_C_IRQF;
	c->ram[RTC_REG_C] = 0;
	return v;
}

static void cmos_write_reg_b(struct cmos *c, uint8_t v)
{
	uint8_t old = c->ram[RTC_REG_B];

	if ((v & REG_B_SET) && !(old & REG_B_SET))
		cmos_get_tm(c, &c->frozen);
	if (v & REG_B_SET)
		v &= ~REG_B_UIE;	/* SET clears UIE */
	c->ram[RTC_REG_B] = v;
	/* Leaving SET: the snapshot (plain numbers, not BCD) becomes the time. */
	if (!(v & REG_B_SET) && (old & REG_B_SET))
		cmos_set_tm(c, &c->frozen);
}

static uint8_t cmos_read_data(struct cmos *c)
{
	unsigned int idx = c->index;

	if (cmos_is_time_reg(idx))
		return cmos_read_time(c, idx);
	switch (idx) {
	case RTC_REG_A:
		return cmos_read_reg_a(c);
	case RTC_REG_C:
		return cmos_read_reg_c(c);
	case RTC_REG_D:
		return REG_D_VRT;
	}
	return c->ram[idx];
}

static void cmos_write_data(struct cmos *c, uint8_t v)
{
	unsigned int idx = c->index;

	if (cmos_is_time_reg(idx)) {
		cmos_write_time(c, idx, v);
		return;
	}
	switch (idx) {
	case RTC_REG_A:
		c->ram[idx] = v & ~REG_A_UIP;
		return;
	case RTC_REG_B:
		cmos_write_reg_b(c, v);
		return;
	case RTC_REG_C:
	case RTC_REG_D:
		return;		/* read-only */
	}
	c->ram[idx] = v;
}

static void cmos_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct cmos *c = opaque;
	uint32_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < len; i++) {
		if (offset + i == 1)
			data[i] = cmos_read_data(c);
		else
			data[i] = 0xff;	/* the index port is write-only */
	}
	pthread_mutex_unlock(&c->lock);
}

static void cmos_write(void *opaque, uint64_t offset, const uint8_t *data,
		       uint32_t len)
{
	struct cmos *c = opaque;
	uint32_t i;

	/* outw 0x70 sets the index and writes the data in one go. */
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < len && offset + i < RTC_NR_PORTS; i++) {
		if (offset + i == 0)
			c->index = data[i] & 0x7f;	/* bit 7: NMI mask */
		else
			cmos_write_data(c, data[i]);
	}
	pthread_mutex_unlock(&c->lock);
}

static const struct bus_ops cmos_ops = {
	.read = cmos_read,
	.write = cmos_write,
};

static void cmos_put16(struct cmos *c, unsigned int idx, uint64_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	c->ram[idx] = v & 0xff;
	c->ram[idx + 1] = v >> 8;
}

/* Memory sizes as a PC BIOS leaves them (SeaBIOS-style firmware reads them). */
static void cmos_set_memory(struct cmos *c, uint64_t mem_size)
{
	uint64_t low = mem_size < MEM_LOW_RAM_END ? mem_size : MEM_LOW_RAM_END;
	uint64_t high = mem_size - low;
	uint64_t above_1m = low > SZ_1M ? (low - SZ_1M) / SZ_1K : 0;
	uint64_t above_16m = low > 16 * SZ_1M ? (low - 16 * SZ_1M) >> 16 : 0;
	uint64_t high_64k = high >> 16;

	cmos_put16(c, 0x15, 640);		/* base memory, KiB */
	cmos_put16(c, 0x17, above_1m);
	cmos_put16(c, 0x30, above_1m);
	cmos_put16(c, 0x34, above_16m);
	if (high_64k > 0xffffff)
		high_64k = 0xffffff;
	c->ram[0x5b] = high_64k & 0xff;
	c->ram[0x5c] = (high_64k >> 8) & 0xff;
	c->ram[0x5d] = (high_64k >> 16) & 0xff;
}

static void cmos_destroy(void *opaque)
{
	struct cmos *c = opaque;

	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int cmos_create(struct vm *vm)
{
	static const struct acpi_dev_desc desc = {
		.name = "RTC_", .hid = "PNP0B00", .uid = 0,
		.io_base = RTC_BASE, .io_len = RTC_NR_PORTS, .irq = RTC_IRQ,
	};
	struct cmos *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->ram[RTC_REG_A] = 0x26;	/* 32.768 kHz divider, 1024 Hz rate */
	c->ram[RTC_REG_B] = REG_B_24H;	/* BCD, 24 h */
	if (vm->cfg)
		cmos_set_memory(c, vm->cfg->mem_size);
	ret = vm_add_device(vm, "cmos_rtc", c, cmos_destroy);
	if (ret) {
		cmos_destroy(c);
		return ret;
	}
	ret = bus_register(&vm->pio, RTC_BASE, RTC_NR_PORTS, &cmos_ops, c,
			   "cmos_rtc");
	if (ret) {
		vm_err(vm, "RTC: cannot claim ports 0x70-0x71: %s",
		       strerror(-ret));
		return ret;
	}
	ret = vm_add_acpi_dev(vm, &desc);
	if (ret) {
		vm_err(vm, "RTC: no room in the DSDT device table");
		bus_unregister(&vm->pio, RTC_BASE);
		return ret;
	}
	return 0;
}

static const struct device_type cmos_rtc_type = {
	.name = "cmos_rtc",
	.order = 10,
	.create = cmos_create,
};
DEVICE_REGISTER(cmos_rtc_type);
