// SPDX-License-Identifier: MIT
/* The CMOS RTC: BCD/binary, 12/24 h, SET, century, register C, guest offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "devtest.h"
#include "vmm/vm.h"

#define INDEX 0x70
#define DATA 0x71

#define REG_B_SET 0x80
#define REG_B_BIN 0x04
#define REG_B_24H 0x02

static int setup(void **state)
{
	*state = devtest_new("cmos_rtc", 10, NULL);
	return 0;
}

static uint8_t cmos_read(struct vm *vm, uint8_t idx)
{
	outb(vm, INDEX, idx);
	return inb(vm, DATA);
}

static void cmos_write(struct vm *vm, uint8_t idx, uint8_t v)
{
	outb(vm, INDEX, idx);
	outb(vm, DATA, v);
}

static int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t to_bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* The RTC's time as a time_t, decoding per the current register B. */
static time_t rtc_time(struct vm *vm)
{
	uint8_t b = cmos_read(vm, 0x0b);
	int (*dec)(uint8_t) = b & REG_B_BIN ? NULL : bcd;
	uint8_t raw[10], cent, hour;
	struct tm tm = { 0 };
	int i;

	for (i = 0; i < 10; i++)
		raw[i] = cmos_read(vm, i);
	cent = cmos_read(vm, 0x32);
#define D(x) (dec ? dec(x) : (x))
	hour = raw[4];
	tm.tm_sec = D(raw[0]);
	tm.tm_min = D(raw[2]);
	if (b & REG_B_24H) {
		tm.tm_hour = D(hour);
	} else {
		tm.tm_hour = D(hour & 0x7f) % 12 + (hour & 0x80 ? 12 : 0);
	}
	tm.tm_mday = D(raw[7]);
	tm.tm_mon = D(raw[8]) - 1;
	tm.tm_year = D(cent) * 100 + D(raw[9]) - 1900;
#undef D
	return timegm(&tm);
}

static void assert_near_host(struct vm *vm, long offset)
{
	time_t before = time(NULL), t = rtc_time(vm), after = time(NULL);

	assert_in_range(t, before + offset - 1, after + offset + 1);
}

static void test_acpi_description(void **state)
{
	struct devtest *dt = *state;
	const struct acpi_dev_desc *d = &dt->vm->acpi_devs[0];

	assert_int_equal(dt->vm->nr_acpi_devs, 1);
	assert_string_equal(d->name, "RTC_");
	assert_string_equal(d->hid, "PNP0B00");
	assert_int_equal(d->io_base, 0x70);
	assert_int_equal(d->io_len, 2);
	assert_int_equal(d->irq, 8);
}

static void test_defaults(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;

	assert_int_equal(cmos_read(vm, 0x0a) & 0x7f, 0x26);
	assert_int_equal(cmos_read(vm, 0x0b), REG_B_24H);	/* BCD, 24 h */
	assert_int_equal(cmos_read(vm, 0x0d), 0x80);		/* VRT */
	assert_int_equal(devtest_irq_calls(dt), 0);
}

static void test_bcd_matches_host(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	time_t now = time(NULL);
	struct tm tm;
	uint8_t v;
	int i;

	/* Every time register is valid BCD. */
	for (i = 0; i <= 9; i += (i < 4 ? 2 : 1)) {
		v = cmos_read(vm, i);
		assert_true((v & 0x0f) <= 9 && (v >> 4) <= 9);
	}
	assert_near_host(vm, 0);
	gmtime_r(&now, &tm);
	assert_int_equal(bcd(cmos_read(vm, 0x32)), (tm.tm_year + 1900) / 100);
	assert_int_equal(bcd(cmos_read(vm, 0x09)), (tm.tm_year + 1900) % 100);
	/* Day of week 1-7, Sunday = 1 (retry across midnight is overkill). */
	assert_int_equal(bcd(cmos_read(vm, 0x06)), tm.tm_wday + 1);
}

static void test_binary_mode(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	time_t now = time(NULL);
	struct tm tm;

	cmos_write(vm, 0x0b, REG_B_24H | REG_B_BIN);
	gmtime_r(&now, &tm);
	assert_int_equal(cmos_read(vm, 0x32), (tm.tm_year + 1900) / 100);
	assert_int_equal(cmos_read(vm, 0x09), (tm.tm_year + 1900) % 100);
	assert_int_equal(cmos_read(vm, 0x08), tm.tm_mon + 1);
	assert_true(cmos_read(vm, 0x00) < 60);
	assert_near_host(vm, 0);
}

static void test_12_hour(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	static const struct { int h24; uint8_t bcd12; } cases[] = {
		{ 0, 0x12 }, { 1, 0x01 }, { 11, 0x11 },
		{ 12, 0x92 }, { 13, 0x81 }, { 23, 0x91 },
	};
	unsigned int i;

	/* Set the hour in 24 h form while frozen, read it in 12 h form. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cmos_write(vm, 0x0b, REG_B_SET | REG_B_24H);
		cmos_write(vm, 0x04, to_bcd(cases[i].h24));
		cmos_write(vm, 0x0b, REG_B_SET);
		assert_int_equal(cmos_read(vm, 0x04), cases[i].bcd12);
		/* And back: write the 12 h form, read it in 24 h form. */
		cmos_write(vm, 0x04, cases[i].bcd12);
		cmos_write(vm, 0x0b, REG_B_SET | REG_B_24H);
		assert_int_equal(cmos_read(vm, 0x04), to_bcd(cases[i].h24));
	}
	cmos_write(vm, 0x0b, REG_B_24H);
	/* Binary 12 h: 1 PM is 0x81. */
	cmos_write(vm, 0x0b, REG_B_SET | REG_B_BIN);
	cmos_write(vm, 0x04, 0x81);
	cmos_write(vm, 0x0b, REG_B_SET | REG_B_BIN | REG_B_24H);
	assert_int_equal(cmos_read(vm, 0x04), 13);
}

static void test_set_freezes(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	struct timespec nap = { 1, 100 * 1000 * 1000 };
	uint8_t sec, min;

	cmos_write(vm, 0x0b, REG_B_SET | REG_B_24H | 0x10);	/* + UIE */
	assert_int_equal(cmos_read(vm, 0x0b), REG_B_SET | REG_B_24H);
	sec = cmos_read(vm, 0x00);
	min = cmos_read(vm, 0x02);
	assert_int_equal(cmos_read(vm, 0x0a) & 0x80, 0);	/* no UIP */
	nanosleep(&nap, NULL);
	assert_int_equal(cmos_read(vm, 0x00), sec);
	assert_int_equal(cmos_read(vm, 0x02), min);
	/* Leaving SET without writing resumes from the frozen time. */
	cmos_write(vm, 0x0b, REG_B_24H);
	assert_near_host(vm, -1);
}

static void test_guest_sets_time(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	struct tm want = {
		.tm_year = 2031 - 1900, .tm_mon = 5, .tm_mday = 15,
		.tm_hour = 12, .tm_min = 34, .tm_sec = 56,
	};
	time_t host = time(NULL), guest = timegm(&want);

	/* Linux's mc146818_set_time: SET, write BCD fields, clear SET. */
	cmos_write(vm, 0x0b, REG_B_SET | REG_B_24H);
	cmos_write(vm, 0x00, 0x56);
	cmos_write(vm, 0x02, 0x34);
	cmos_write(vm, 0x04, 0x12);
	cmos_write(vm, 0x07, 0x15);
	cmos_write(vm, 0x08, 0x06);
	cmos_write(vm, 0x09, 0x31);
	cmos_write(vm, 0x32, 0x20);
	/* While SET, reads see what was written. */
	assert_int_equal(cmos_read(vm, 0x00), 0x56);
	assert_int_equal(cmos_read(vm, 0x09), 0x31);
	/* 2031-06-15 is a Sunday. */
	assert_int_equal(cmos_read(vm, 0x06), 0x01);
	cmos_write(vm, 0x0b, REG_B_24H);

	/* The offset persists: the clock runs on from the guest's time. */
	assert_near_host(vm, (long)(guest - host));
	assert_int_equal(cmos_read(vm, 0x09), 0x31);
	assert_int_equal(cmos_read(vm, 0x08), 0x06);
	/* Survives a switch to binary, and a plain (non-SET) write. */
	cmos_write(vm, 0x0b, REG_B_24H | REG_B_BIN);
	assert_int_equal(cmos_read(vm, 0x09), 31);
	cmos_write(vm, 0x09, 45);
	assert_int_equal(cmos_read(vm, 0x09), 45);
	assert_int_equal(cmos_read(vm, 0x32), 20);
	assert_int_equal(cmos_read(vm, 0x08), 6);
	/* Century write moves the year by centuries. */
	cmos_write(vm, 0x32, 21);
	assert_int_equal(cmos_read(vm, 0x32), 21);
	assert_int_equal(cmos_read(vm, 0x09), 45);
	assert_true(rtc_time(vm) > guest + 99LL * 365 * 86400);
}

static void test_register_c_clears(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	int tries;

	/* The second read comes right after the first: nothing new. */
	for (tries = 0; tries < 5; tries++) {
		time_t t0 = time(NULL);
		uint8_t c2;

		cmos_read(vm, 0x0c);
		c2 = cmos_read(vm, 0x0c);
		if (time(NULL) != t0)
			continue;	/* an update cycle passed in between */
		assert_int_equal(c2, 0);
		break;
	}
	assert_true(tries < 5);
	/* Read-only: writes are dropped. */
	cmos_write(vm, 0x0c, 0xff);
	cmos_write(vm, 0x0d, 0x00);
	assert_int_equal(cmos_read(vm, 0x0d), 0x80);
}

static void test_register_a(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	struct timespec t0, t;
	int clear_seen = 0;

	cmos_write(vm, 0x0a, 0xff);	/* UIP is read-only */
	assert_int_equal(cmos_read(vm, 0x0a) & 0x7f, 0x7f);
	cmos_write(vm, 0x0a, 0x26);
	assert_int_equal(cmos_read(vm, 0x0a) & 0x7f, 0x26);
	/* UIP never sticks: it clears within a few ms at most. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (!(cmos_read(vm, 0x0a) & 0x80))
			clear_seen = 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!clear_seen && t.tv_sec - t0.tv_sec < 2);
	assert_true(clear_seen);
}

static void test_ram_and_index(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	uint8_t w[2] = { 0x40, 0xab };
	uint32_t dword = 0;
	uint16_t word;
	int i;

	/* Plain CMOS bytes. */
	for (i = 0x0e; i < 0x80; i++) {
		if (i == 0x32)
			continue;
		cmos_write(vm, i, (uint8_t)(i ^ 0x5a));
	}
	for (i = 0x0e; i < 0x80; i++) {
		if (i == 0x32)
			continue;
		assert_int_equal(cmos_read(vm, i), (uint8_t)(i ^ 0x5a));
	}
	/* Bit 7 of the index is the NMI mask, not part of the index. */
	cmos_write(vm, 0x80 | 0x41, 0x77);
	assert_int_equal(cmos_read(vm, 0x41), 0x77);
	/* outw 0x70: index then data in one access. */
	assert_true(bus_access(&vm->pio, INDEX, w, 2, true));
	assert_int_equal(cmos_read(vm, 0x40), 0xab);
	/* inw 0x70: the index port reads as 0xff, data follows. */
	outb(vm, INDEX, 0x40);
	assert_true(bus_access(&vm->pio, INDEX, (uint8_t *)&word, 2, false));
	assert_int_equal(word, 0xabff);
	/* A 4-byte access does not fit the 2-port region: the bus refuses. */
	assert_false(bus_access(&vm->pio, INDEX, (uint8_t *)&dword, 4, false));
	assert_int_equal(dword, 0xffffffffu);
}

static void test_hostile_values(void **state)
{
	struct devtest *dt = *state;
	struct vm *vm = dt->vm;
	static const uint8_t regs[] = { 0, 2, 4, 6, 7, 8, 9, 0x32 };
	static const uint8_t vals[] = { 0x00, 0xff, 0x99, 0x80, 0x7f };
	unsigned int i, j, k;

	for (k = 0; k < 4; k++) {
		uint8_t b = (k & 1 ? REG_B_BIN : 0) | (k & 2 ? REG_B_24H : 0);

		for (i = 0; i < sizeof(regs); i++)
			for (j = 0; j < sizeof(vals); j++) {
				cmos_write(vm, 0x0b, b | (j & 1 ? REG_B_SET : 0));
				cmos_write(vm, regs[i], vals[j]);
				cmos_write(vm, 0x0b, b);
				(void)rtc_time(vm);
			}
	}
}

static void test_memory_size_registers(void **state)
{
	struct vm_config cfg = { .mem_size = 512ULL << 20 };
	struct devtest *dt;

	devtest_teardown_no_irq(state);
	dt = devtest_new("cmos_rtc", 10, &cfg);
	*state = dt;
	assert_int_equal(cmos_read(dt->vm, 0x34) | cmos_read(dt->vm, 0x35) << 8,
			 (512 - 16) * 16);
	assert_int_equal(cmos_read(dt->vm, 0x5b) | cmos_read(dt->vm, 0x5c) |
			 cmos_read(dt->vm, 0x5d), 0);
	assert_int_equal(cmos_read(dt->vm, 0x30) | cmos_read(dt->vm, 0x31) << 8,
			 0xffff);
	devtest_teardown_no_irq(state);

	cfg.mem_size = 4ULL << 30;
	dt = devtest_new("cmos_rtc", 10, &cfg);
	*state = dt;
	/* Low RAM stops at 3 GiB; the rest is above 4 GiB. */
	assert_int_equal(cmos_read(dt->vm, 0x34) | cmos_read(dt->vm, 0x35) << 8,
			 (3072 - 16) * 16);
	assert_int_equal(cmos_read(dt->vm, 0x5b) | cmos_read(dt->vm, 0x5c) << 8 |
			 cmos_read(dt->vm, 0x5d) << 16, 0x4000);	/* 1 GiB above 4G */
}

/* The device has no interrupt line: every teardown checks none was raised. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, devtest_teardown_no_irq)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_acpi_description),
		T(test_defaults),
		T(test_bcd_matches_host),
		T(test_binary_mode),
		T(test_12_hour),
		T(test_set_freezes),
		T(test_guest_sets_time),
		T(test_register_c_clears),
		T(test_register_a),
		T(test_ram_and_index),
		T(test_hostile_values),
		T(test_memory_size_registers),
	};

	return cmocka_run_group_tests_name("cmos_rtc", tests, NULL, NULL);
}
