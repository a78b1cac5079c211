// SPDX-License-Identifier: MIT
/*
 * virtio-console as the guest console (--console virtio): transmit queue
 * to vm->console_out_fd, host input through vm->console_rx into the
 * guest's receive buffers (also input that arrived before any buffer),
 * and no UART at all.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/pci/pci.h"
#include "vmm/vm.h"

#include "pcitest.h"

#define CONSOLE_DEVICE	PCITEST_VIRTIO_DEV(3)
#define RXQ		0
#define TXQ		1
#define QSIZE		256
#define RX_BUFFERED	4096	/* host input the device holds for the guest */
#define ALL_OK		(VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK)
#define F_V1		(1ULL << VF_VERSION_1)

struct fixture {
	struct devtest *dt;
	struct vm *vm;
	struct vdrv d;
	int out_rd, out_wr;
};

static int setup(void **state)
{
	struct vm_config cfg = { .console = CONSOLE_VIRTIO };
	struct fixture *f = calloc(1, sizeof(*f));
	int fds[2], slot;

	assert_non_null(f);
	f->dt = pcitest_new(&cfg);
	f->vm = f->dt->vm;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	f->out_rd = fds[0];
	f->out_wr = fds[1];
	assert_int_equal(fcntl(f->out_rd, F_SETFL, O_NONBLOCK), 0);
	f->vm->console_out_fd = f->out_wr;
	/* The UART is asked too, as vm_create() would: it must stay away. */
	devtest_attach(f->dt, "uart8250", 10);
	devtest_attach(f->dt, "virtio-console", 20);
	slot = pt_find(f->vm, PCITEST_VIRTIO_VENDOR, CONSOLE_DEVICE);
	assert_true(slot > 0);
	vdrv_probe(&f->d, f->dt, (unsigned int)slot);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	devtest_free(f->dt);
	close(f->out_rd);
	close(f->out_wr);
	free(f);
	return 0;
}

/* Everything written to the console so far, NUL-terminated. */
static size_t drain(struct fixture *f, char *buf, size_t len)
{
	ssize_t n = read(f->out_rd, buf, len - 1);

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

static void host_input(struct fixture *f, const char *s, size_t len)
{
	assert_non_null(f->vm->console_rx);
	f->vm->console_rx(f->vm->console_rx_opaque, (const uint8_t *)s, len);
	pcitest_run(f->vm);
}

/* A receive buffer of len bytes; returns its guest address. */
static uint64_t post_rx(struct fixture *f, uint32_t len)
{
	struct vbuf b = { vdrv_alloc(&f->d, len), len, true };

	memset(vdrv_ptr(&f->d, b.gpa, len), 0, len);
	vdrv_post(&f->d, RXQ, &b, 1);
	return b.gpa;
}

static void used(struct fixture *f, unsigned int q, uint16_t n, uint32_t *len)
{
	uint32_t id;

	vdrv_used_elem(&f->d, q, n, &id, len);
}

static void test_no_uart(void **state)
{
	struct fixture *f = *state;
	uint8_t v = 0;

	for (uint16_t port = 0x3f8; port < 0x400; port++) {
		assert_false(bus_access(&f->vm->pio, port, &v, 1, false));
		assert_false(bus_access(&f->vm->pio, port, &v, 1, true));
	}
	/* Nor a COM1 in the DSDT. */
	for (unsigned int i = 0; i < f->vm->nr_acpi_devs; i++)
		assert_string_not_equal(f->vm->acpi_devs[i].name, "COM1");
	/* The console is the input sink. */
	assert_non_null(f->vm->console_rx);
	assert_non_null(f->vm->console_rx_opaque);
}

static void test_device(void **state)
{
	struct fixture *f = *state;
	uint64_t feat = vdrv_device_features(&f->d);

	assert_int_equal(vdrv_read(&f->d, VC_NUMQ, 2), 2);
	for (unsigned int q = 0; q < 2; q++) {
		vdrv_write(&f->d, VC_QSELECT, q, 2);
		assert_int_equal(vdrv_read(&f->d, VC_QSIZE, 2), QSIZE);
	}
	/* Port 0 only: no size, multiport or emergency-write features. */
	assert_int_equal(feat & 7, 0);
	assert_true(feat & F_V1);
	/* A device config structure exists (12 bytes) and reads zeros. */
	assert_true(f->d.device != 0);
	assert_true(f->d.device_len >= 8);
	assert_int_equal(pt_mmio_read(f->vm, f->d.device, 8), 0);
}

static void test_transmit(void **state)
{
	struct fixture *f = *state;
	uint64_t a = vdrv_alloc(&f->d, 7), b = vdrv_alloc(&f->d, 6);
	struct vbuf v[2] = { { a, 7, false }, { b, 6, false } };
	char out[128];
	uint32_t len;

	vdrv_init(&f->d, F_V1, 2);
	memcpy(vdrv_ptr(&f->d, a, 7), "hello, ", 7);
	memcpy(vdrv_ptr(&f->d, b, 6), "world\n", 6);
	vdrv_post(&f->d, TXQ, v, 2);
	vdrv_kick(&f->d, TXQ);
	assert_int_equal(vdrv_used_idx(&f->d, TXQ), 1);
	used(f, TXQ, 0, &len);
	assert_int_equal(len, 0);
	assert_int_equal(drain(f, out, sizeof(out)), 13);
	assert_string_equal(out, "hello, world\n");
	/* The transmit queue's vector, not the receive queue's. */
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(TXQ)), 1);
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(RXQ)), 0);
	/* Several chains in one kick come out in order. */
	for (unsigned int i = 0; i < 10; i++) {
		uint64_t g = vdrv_alloc(&f->d, 2);
		struct vbuf c = { g, 2, false };

		memcpy(vdrv_ptr(&f->d, g, 2), (char[]){ (char)('0' + i), ' ' }, 2);
		vdrv_post(&f->d, TXQ, &c, 1);
	}
	vdrv_kick(&f->d, TXQ);
	assert_int_equal(vdrv_used_idx(&f->d, TXQ), 11);
	drain(f, out, sizeof(out));
	assert_string_equal(out, "0 1 2 3 4 5 6 7 8 9 ");
}

/* 100 KB in one buffer, more than a default pipe holds: the pipe is grown. */
static void test_transmit_large(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 100000 };
	static char out[2 * LEN + 1];
	size_t got = 0;
	uint64_t g;

	vdrv_init(&f->d, F_V1, 2);
	assert_true(fcntl(f->out_wr, F_SETPIPE_SZ, 2 * LEN) >= LEN);
	g = vdrv_alloc(&f->d, LEN);
	memset(vdrv_ptr(&f->d, g, LEN), 'x', LEN);
	{
		struct vbuf v = { g, LEN, false };

		vdrv_post(&f->d, TXQ, &v, 1);
		vdrv_kick(&f->d, TXQ);
	}
	got = drain(f, out, sizeof(out));
	assert_int_equal(got, LEN);
	for (size_t i = 0; i < got; i++)
		assert_int_equal(out[i], 'x');
}

static void test_receive(void **state)
{
	struct fixture *f = *state;
	uint64_t b1, b2;
	uint32_t len;

	vdrv_init(&f->d, F_V1, 2);
	b1 = post_rx(f, 8);
	b2 = post_rx(f, 8);
	vdrv_kick(&f->d, RXQ);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 0);	/* nothing to say yet */
	host_input(f, "abcdefghijkl", 12);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 2);
	used(f, RXQ, 0, &len);
	assert_int_equal(len, 8);
	used(f, RXQ, 1, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(vdrv_ptr(&f->d, b1, 8), "abcdefgh", 8);
	assert_memory_equal(vdrv_ptr(&f->d, b2, 8), "ijkl\0\0\0\0", 8);
	assert_true(devtest_msi_count(f->dt, PCITEST_MSI_DATA(RXQ)) >= 1);
	assert_int_equal(devtest_msi_count(f->dt, PCITEST_MSI_DATA(TXQ)), 0);
	/* More input than buffers: the rest waits for the next buffer. */
	b1 = post_rx(f, 4);
	host_input(f, "0123456789", 10);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 3);
	assert_memory_equal(vdrv_ptr(&f->d, b1, 4), "0123", 4);
	b1 = post_rx(f, 16);
	vdrv_kick(&f->d, RXQ);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 4);
	used(f, RXQ, 3, &len);
	assert_int_equal(len, 6);
	assert_memory_equal(vdrv_ptr(&f->d, b1, 6), "456789", 6);
}

/* Input typed before the guest posted any buffer, or even set the device up. */
static void test_receive_early_input(void **state)
{
	struct fixture *f = *state;
	uint64_t b;
	uint32_t len;

	host_input(f, "before init|", 12);
	vdrv_init(&f->d, F_V1, 2);
	host_input(f, "before buffers", 14);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 0);
	b = post_rx(f, 64);
	vdrv_kick(&f->d, RXQ);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 1);
	used(f, RXQ, 0, &len);
	assert_int_equal(len, 26);
	assert_memory_equal(vdrv_ptr(&f->d, b, 26), "before init|before buffers", 26);
}

/* Buffers posted before DRIVER_OK and input waiting: delivered at DRIVER_OK. */
static void test_receive_at_driver_ok(void **state)
{
	struct fixture *f = *state;
	uint64_t b;

	host_input(f, "waiting", 7);
	assert_true(vdrv_negotiate(&f->d, F_V1));
	vdrv_msix_enable(&f->d, 3);
	vdrv_setup_queue(&f->d, RXQ, 0, 0);
	vdrv_setup_queue(&f->d, TXQ, 0, 1);
	b = post_rx(f, 16);
	vdrv_set_status(&f->d, ALL_OK);
	pcitest_run(f->vm);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 1);
	assert_memory_equal(vdrv_ptr(&f->d, b, 7), "waiting", 7);
}

/* The device holds a bounded amount of input; the excess is dropped. */
static void test_receive_overflow(void **state)
{
	struct fixture *f = *state;
	static char in[RX_BUFFERED + 1000];
	uint64_t b;
	uint32_t len;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)('a' + i % 26);
	host_input(f, in, sizeof(in));
	vdrv_init(&f->d, F_V1, 2);
	b = post_rx(f, sizeof(in));
	vdrv_kick(&f->d, RXQ);
	used(f, RXQ, 0, &len);
	assert_int_equal(len, RX_BUFFERED);
	assert_memory_equal(vdrv_ptr(&f->d, b, RX_BUFFERED), in, RX_BUFFERED);
	/* It keeps working afterwards. */
	host_input(f, "ok", 2);
	b = post_rx(f, 8);
	vdrv_kick(&f->d, RXQ);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 2);
	assert_memory_equal(vdrv_ptr(&f->d, b, 2), "ok", 2);
}

/* A bad receive chain: NEEDS_RESET, input kept for the next driver. */
static void test_receive_bad_chain(void **state)
{
	struct fixture *f = *state;
	uint64_t b;

	vdrv_init(&f->d, F_V1, 2);
	vdrv_set_desc(&f->d, RXQ, 5, 0xd0000000ULL, 64, VD_WRITE, 0);
	vdrv_publish(&f->d, RXQ, 5);
	host_input(f, "lost?", 5);
	assert_true(vdrv_status(&f->d) & VS_NEEDS_RESET);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 0);
	/* Transmit is dead too until the reset. */
	{
		uint64_t g = vdrv_alloc(&f->d, 3);
		struct vbuf v = { g, 3, false };
		char out[16];

		memcpy(vdrv_ptr(&f->d, g, 3), "no\n", 3);
		vdrv_post(&f->d, TXQ, &v, 1);
		vdrv_kick(&f->d, TXQ);
		assert_int_equal(drain(f, out, sizeof(out)), 0);
	}
	vdrv_init(&f->d, F_V1, 2);
	b = post_rx(f, 16);
	vdrv_kick(&f->d, RXQ);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 1);
	assert_memory_equal(vdrv_ptr(&f->d, b, 5), "lost?", 5);
}

/* Output when nobody reads the console: dropped, never a hang. */
static void test_transmit_to_closed_pipe(void **state)
{
	struct fixture *f = *state;
	uint64_t g;

	vdrv_init(&f->d, F_V1, 2);
	close(f->out_rd);
	f->out_rd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	g = vdrv_alloc(&f->d, 4);
	memcpy(vdrv_ptr(&f->d, g, 4), "bye\n", 4);
	{
		struct vbuf v = { g, 4, false };

		vdrv_post(&f->d, TXQ, &v, 1);
		vdrv_kick(&f->d, TXQ);
	}
	assert_int_equal(vdrv_used_idx(&f->d, TXQ), 1);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_uart),
		T(test_device),
		T(test_transmit),
		T(test_transmit_large),
		T(test_receive),
		T(test_receive_early_input),
		T(test_receive_at_driver_ok),
		T(test_receive_overflow),
		T(test_receive_bad_chain),
		T(test_transmit_to_closed_pipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
