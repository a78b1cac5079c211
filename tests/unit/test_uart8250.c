// SPDX-License-Identifier: MIT
/* The COM1 16550A: Linux's probe, divisor latch, TX, THRE and RX interrupts. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/device.h"
#include "vmm/vm.h"

#include "devtest.h"

#define COM1 0x3f8
#define RBR (COM1 + 0)
#define THR (COM1 + 0)
#define DLL (COM1 + 0)
#define IER (COM1 + 1)
#define DLM (COM1 + 1)
#define IIR (COM1 + 2)
#define FCR (COM1 + 2)
#define LCR (COM1 + 3)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)
#define MSR (COM1 + 6)
#define SCR (COM1 + 7)

#define COM1_IRQ 4

struct fixture {
	struct devtest *dt;
	struct vm *vm;		/* dt->vm */
	int pipe_rd, pipe_wr;
};

/* The current level of IRQ 4 as the recorder saw it (0 before any call). */
static int irq4_level(struct fixture *f)
{
	return devtest_irq_level(f->dt, COM1_IRQ);
}

/* Rising edges on IRQ 4 since the recorder was reset. */
static unsigned int irq4_edges(struct fixture *f)
{
	return devtest_irq_edges(f->dt, COM1_IRQ);
}

/* COM1 on a bare VM, its output going into a pipe we can drain. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fds[2];

	assert_non_null(f);
	f->dt = devtest_new_bare(NULL);
	f->vm = f->dt->vm;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	f->pipe_rd = fds[0];
	f->pipe_wr = fds[1];
	assert_int_equal(fcntl(f->pipe_rd, F_SETFL, O_NONBLOCK), 0);
	f->vm->console_out_fd = f->pipe_wr;
	devtest_attach(f->dt, "uart8250", 10);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	devtest_free(f->dt);
	if (f->pipe_rd >= 0)
		close(f->pipe_rd);
	if (f->pipe_wr >= 0)
		close(f->pipe_wr);
	free(f);
	return 0;
}

static size_t drain_pipe(struct fixture *f, char *buf, size_t cap)
{
	ssize_t n = read(f->pipe_rd, buf, cap);

	return n < 0 ? 0 : (size_t)n;
}

static void rx(struct fixture *f, const void *buf, size_t len)
{
	assert_non_null(f->vm->console_rx);
	f->vm->console_rx(f->vm->console_rx_opaque, buf, len);
}

static void test_acpi_description(void **state)
{
	struct fixture *f = *state;
	const struct acpi_dev_desc *d = &f->vm->acpi_devs[0];

	assert_int_equal(f->vm->nr_acpi_devs, 1);
	assert_string_equal(d->name, "COM1");
	assert_string_equal(d->hid, "PNP0501");
	assert_int_equal(d->uid, 1);
	assert_int_equal(d->io_base, 0x3f8);
	assert_int_equal(d->io_len, 8);
	assert_int_equal(d->irq, 4);
}

/* The register dance of Linux's autoconfig() and serial8250_startup(). */
static void test_linux_probe(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	uint8_t save_mcr;

	/* IER: 0 reads 0, 0x0f reads 0x0f, and only the low nibble exists. */
	outb(vm, IER, 0);
	assert_int_equal(inb(vm, IER) & 0x0f, 0);
	outb(vm, IER, 0x0f);
	assert_int_equal(inb(vm, IER) & 0x0f, 0x0f);
	outb(vm, IER, 0xff);
	assert_int_equal(inb(vm, IER), 0x0f);	/* no XScale UUE bit */
	outb(vm, IER, 0);

	/* Scratch and LCR read back. */
	outb(vm, SCR, 0xa5);
	assert_int_equal(inb(vm, SCR), 0xa5);
	outb(vm, SCR, 0x5a);
	assert_int_equal(inb(vm, SCR), 0x5a);
	outb(vm, LCR, 0x1b);
	assert_int_equal(inb(vm, LCR), 0x1b);
	outb(vm, LCR, 0);

	/* Loopback: MCR RTS|OUT2 shows as CTS|DCD. */
	save_mcr = inb(vm, MCR);
	outb(vm, MCR, 0x10 | 0x0a);
	assert_int_equal(inb(vm, MCR), 0x1a);
	assert_int_equal(inb(vm, MSR) & 0xf0, 0x90);
	outb(vm, MCR, 0x1f);
	assert_int_equal(inb(vm, MSR) & 0xf0, 0xf0);
	outb(vm, MCR, save_mcr);
	/* Out of loopback: DCD, DSR and CTS asserted, no ring. */
	assert_int_equal(inb(vm, MSR) & 0xf0, 0xb0);

	/* FIFO present: IIR bits 6-7 both set (a 16550A). */
	outb(vm, FCR, 0x01);
	assert_int_equal(inb(vm, IIR) >> 6, 3);
	outb(vm, FCR, 0);
	assert_int_equal(inb(vm, IIR) >> 6, 0);

	/* Idle: transmitter empty, no data, not all-ones. */
	assert_int_equal(inb(vm, LSR), 0x60);
	assert_int_equal(inb(vm, IIR), 0x01);
	assert_int_equal(irq4_level(f), 0);
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	char buf[16];

	outb(vm, IER, 0x05);
	outb(vm, LCR, 0x80 | 0x03);
	outb(vm, DLL, 0x01);
	outb(vm, DLM, 0x02);
	assert_int_equal(inb(vm, DLL), 0x01);
	assert_int_equal(inb(vm, DLM), 0x02);
	/* With DLAB the THR write was the divisor: nothing transmitted. */
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 0);
	outb(vm, LCR, 0x03);
	assert_int_equal(inb(vm, IER), 0x05);
	assert_int_equal(inb(vm, LCR), 0x03);
	outb(vm, LCR, 0x83);
	assert_int_equal(inb(vm, DLL), 0x01);
	assert_int_equal(inb(vm, DLM), 0x02);
}

static void test_tx(void **state)
{
	struct fixture *f = *state;
	const char *msg = "hello, skiff\n";
	char buf[64];
	size_t i;

	for (i = 0; msg[i]; i++) {
		assert_true(inb(f->vm, LSR) & 0x20);
		outb(f->vm, THR, (uint8_t)msg[i]);
	}
	assert_int_equal(inb(f->vm, LSR) & 0x60, 0x60);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), strlen(msg));
	assert_string_equal(buf, msg);
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	char buf[16];

	outb(vm, MCR, 0x0b);	/* DTR | RTS | OUT2 */
	outb(vm, FCR, 0x07);
	devtest_irq_reset(f->dt);

	/* Enabling ETBEI with THR empty raises THRE. */
	outb(vm, IER, 0x02);
	assert_int_equal(irq4_level(f), 1);
	assert_int_equal(irq4_edges(f), 1);
	/* Reading IIR that reports it acknowledges it. */
	assert_int_equal(inb(vm, IIR), 0xc2);
	assert_int_equal(irq4_level(f), 0);
	assert_int_equal(inb(vm, IIR), 0xc1);

	/* Writing THR: the byte leaves at once and THRE comes back. */
	outb(vm, THR, 'x');
	assert_int_equal(irq4_level(f), 1);
	assert_int_equal(irq4_edges(f), 2);
	/* A THR write while THRE is still pending makes a fresh edge. */
	outb(vm, THR, 'y');
	assert_int_equal(irq4_level(f), 1);
	assert_int_equal(irq4_edges(f), 3);
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 2);

	/* Disabling ETBEI drops the line... */
	outb(vm, IER, 0x00);
	assert_int_equal(irq4_level(f), 0);
	assert_int_equal(inb(vm, IIR), 0xc1);
	/* ...and enabling it again re-raises (Linux's THRE re-assert test). */
	outb(vm, IER, 0x02);
	assert_int_equal(irq4_level(f), 1);
	assert_int_equal(irq4_edges(f), 4);
	/* Rewriting IER with ETBEI already set does not re-raise an ack'ed THRE. */
	assert_int_equal(inb(vm, IIR), 0xc2);
	outb(vm, IER, 0x02);
	assert_int_equal(irq4_level(f), 0);
	assert_int_equal(inb(vm, IIR), 0xc1);

	/* Without FIFO the IIR high bits are clear. */
	outb(vm, FCR, 0x00);
	outb(vm, IER, 0x00);
	outb(vm, IER, 0x02);
	assert_int_equal(inb(vm, IIR), 0x02);
}

static void test_rx_data_ready(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;

	outb(vm, MCR, 0x08);
	outb(vm, IER, 0x01);
	devtest_irq_reset(f->dt);
	assert_int_equal(irq4_level(f), 0);
	assert_int_equal(inb(vm, LSR) & 0x01, 0);

	rx(f, "ab", 2);
	assert_int_equal(inb(vm, LSR) & 0x01, 0x01);
	assert_int_equal(irq4_level(f), 1);
	assert_int_equal(inb(vm, IIR), 0x04);
	assert_int_equal(inb(vm, RBR), 'a');
	assert_int_equal(irq4_level(f), 1);
	assert_int_equal(inb(vm, RBR), 'b');
	assert_int_equal(inb(vm, LSR) & 0x01, 0);
	assert_int_equal(irq4_level(f), 0);
	assert_int_equal(inb(vm, IIR), 0x01);

	/* Rx data outranks THRE; THRE shows once rx is drained. */
	rx(f, "c", 1);
	outb(vm, IER, 0x03);
	assert_int_equal(inb(vm, IIR), 0x04);
	assert_int_equal(inb(vm, RBR), 'c');
	assert_int_equal(inb(vm, IIR), 0x02);
	assert_int_equal(inb(vm, IIR), 0x01);
}

static void test_rx_fifo_trigger(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	uint8_t bytes[20];
	unsigned int i;

	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(0x30 + i);
	outb(vm, FCR, 0xc7);	/* enable, clear, trigger 14 */
	outb(vm, IER, 0x01);
	rx(f, bytes, 3);
	/* Below the trigger: character timeout. */
	assert_int_equal(inb(vm, IIR), 0xcc);
	rx(f, bytes + 3, 17);
	assert_int_equal(inb(vm, IIR), 0xc4);
	for (i = 0; i < 7; i++)
		assert_int_equal(inb(vm, RBR), 0x30 + i);
	/* 13 left, 13 visible: below 14 again. */
	assert_int_equal(inb(vm, IIR), 0xcc);

	/* Trigger 1: any byte is "at the trigger". */
	outb(vm, FCR, 0x01);
	assert_int_equal(inb(vm, IIR), 0xc4);

	/* A FIFO clear drops the 16 visible bytes, not the queue behind. */
	outb(vm, FCR, 0x03);
	assert_int_equal(inb(vm, LSR) & 0x01, 0);	/* all 13 were visible */
	rx(f, bytes, 20);
	assert_int_equal(inb(vm, RBR), 0x30);
	outb(vm, FCR, 0x03);
	/* 19 queued, the 16 visible dropped: bytes 17..19 are left. */
	assert_int_equal(inb(vm, RBR), 0x30 + 17);
	assert_int_equal(inb(vm, RBR), 0x30 + 18);
	assert_int_equal(inb(vm, RBR), 0x30 + 19);
	assert_int_equal(inb(vm, LSR) & 0x01, 0);
}

static void test_rx_overrun(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	static uint8_t bytes[5000];
	unsigned int i;

	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 7);
	outb(vm, MCR, 0x08);
	outb(vm, IER, 0x05);	/* rx data + line status */
	rx(f, bytes, sizeof(bytes));
	/* Line status outranks rx data. */
	assert_int_equal(inb(vm, IIR), 0x06);
	assert_int_equal(irq4_level(f), 1);
	assert_int_equal(inb(vm, LSR) & 0x03, 0x03);	/* DR | OE */
	/* OE clears on read. */
	assert_int_equal(inb(vm, LSR) & 0x03, 0x01);
	assert_int_equal(inb(vm, IIR), 0x04);
	/* The first 4096 bytes survive in order; the rest were dropped. */
	for (i = 0; i < 4096; i++)
		assert_int_equal(inb(vm, RBR), (uint8_t)(i * 7));
	assert_int_equal(inb(vm, LSR) & 0x03, 0);
	assert_int_equal(irq4_level(f), 0);
}

static void test_out2_gating(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;

	outb(vm, IER, 0x02);	/* THRE pending */
	assert_int_equal(irq4_level(f), 0);
	assert_int_equal(inb(vm, IIR), 0x02);	/* pending, just not wired */
	outb(vm, IER, 0x00);
	outb(vm, IER, 0x02);
	outb(vm, MCR, 0x08);
	assert_int_equal(irq4_level(f), 1);
	outb(vm, MCR, 0x00);
	assert_int_equal(irq4_level(f), 0);
	outb(vm, MCR, 0x08);
	assert_int_equal(irq4_level(f), 1);
	/* Loopback forces OUT2 inactive. */
	outb(vm, MCR, 0x18);
	assert_int_equal(irq4_level(f), 0);
	outb(vm, MCR, 0x08);
	assert_int_equal(irq4_level(f), 1);
}

static void test_loopback_tx(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	char buf[16];

	outb(vm, MCR, 0x10);
	outb(vm, THR, 0x5a);
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 0);
	assert_true(inb(vm, LSR) & 0x01);
	assert_int_equal(inb(vm, RBR), 0x5a);
	assert_int_equal(inb(vm, LSR) & 0x01, 0);
	outb(vm, MCR, 0x00);
	outb(vm, THR, 0x5a);
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 1);
	assert_int_equal(inb(vm, LSR) & 0x01, 0);
}

static void test_modem_status_interrupt(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;

	inb(vm, MSR);
	outb(vm, IER, 0x08);
	assert_int_equal(inb(vm, IIR), 0x01);
	/* Into loopback with MCR=0: DCD, DSR and CTS all drop. */
	outb(vm, MCR, 0x10);
	assert_int_equal(inb(vm, IIR), 0x00);
	assert_int_equal(inb(vm, MSR), 0x0b);	/* DDCD | DDSR | DCTS */
	assert_int_equal(inb(vm, IIR), 0x01);
	/* OUT1 is RI: a trailing edge sets TERI. */
	outb(vm, MCR, 0x14);
	assert_int_equal(inb(vm, MSR), 0x40);
	outb(vm, MCR, 0x10);
	assert_int_equal(inb(vm, MSR), 0x04);
	assert_int_equal(inb(vm, MSR), 0x00);
}

/* Wide and odd accesses go register by register and never crash. */
static void test_access_sizes(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	uint8_t data[8];
	uint64_t q;

	/* outw to LCR: LCR then MCR. */
	data[0] = 0x03;
	data[1] = 0x0b;
	assert_true(bus_access(&vm->pio, LCR, data, 2, true));
	assert_int_equal(inb(vm, LCR), 0x03);
	assert_int_equal(inb(vm, MCR), 0x0b);
	/* A 4-byte read at SCR-3 sees LCR, MCR, LSR, MSR. */
	outb(vm, SCR, 0x77);
	memset(data, 0, sizeof(data));
	assert_true(bus_access(&vm->pio, COM1 + 4, data, 4, false));
	assert_int_equal(data[0], 0x0b);
	assert_int_equal(data[1], 0x60);
	assert_int_equal(data[2] & 0xf0, 0xb0);
	assert_int_equal(data[3], 0x77);
	/* 8 bytes over the whole block. */
	assert_true(bus_access(&vm->pio, COM1, (uint8_t *)&q, 8, false));
	assert_int_equal((q >> 56) & 0xff, 0x77);
	/* Straddling the end is not ours: the bus refuses it. */
	assert_false(bus_access(&vm->pio, COM1 + 7, data, 2, false));
	assert_false(bus_access(&vm->pio, COM1 + 4, (uint8_t *)&q, 8, true));
	/* An 8-byte write at 0 writes THR..SCR. */
	memcpy(data, "\x41\x00\x00\x03\x00\x00\x00\x42", 8);
	assert_true(bus_access(&vm->pio, COM1, data, 8, true));
	assert_int_equal(inb(vm, SCR), 0x42);
	assert_int_equal(drain_pipe(f, (char *)data, sizeof(data)), 1);
	assert_int_equal(data[0], 0x41);
}

static void test_console_fd_gone(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	void (*old)(int);

	/* Reader closed: must not die of SIGPIPE. */
	old = signal(SIGPIPE, SIG_DFL);
	close(f->pipe_rd);
	f->pipe_rd = -1;
	outb(vm, THR, 'a');
	outb(vm, THR, 'b');
	/* A closed fd, and no fd at all. */
	close(f->pipe_wr);
	f->pipe_wr = -1;
	outb(vm, THR, 'c');
	vm->console_out_fd = -1;
	outb(vm, THR, 'd');
	assert_int_equal(inb(vm, LSR) & 0x60, 0x60);
	signal(SIGPIPE, old);
}

static void test_console_full_does_not_hang(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;
	int cap = fcntl(f->pipe_wr, F_GETPIPE_SZ);
	char *junk;
	struct timespec t0, t1;
	int i;

	assert_true(cap > 0);
	junk = calloc(1, (size_t)cap);
	assert_non_null(junk);
	assert_int_equal(fcntl(f->pipe_wr, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(write(f->pipe_wr, junk, (size_t)cap), cap);
	assert_int_equal(fcntl(f->pipe_wr, F_SETFL, 0), 0);
	free(junk);
	/* Blocking fd, full pipe: one bounded wait, then drops at once. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 100; i++)
		outb(vm, THR, 'z');
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	assert_int_equal(inb(vm, LSR) & 0x60, 0x60);
}

struct rx_thread_arg {
	struct fixture *f;
	unsigned int total;
};

static void *rx_producer(void *p)
{
	struct rx_thread_arg *a = p;
	uint8_t chunk[7];
	unsigned int sent = 0, i;

	while (sent < a->total) {
		unsigned int n = a->total - sent < 7 ? a->total - sent : 7;

		for (i = 0; i < n; i++)
			chunk[i] = (uint8_t)(sent + i);
		a->f->vm->console_rx(a->f->vm->console_rx_opaque, chunk, n);
		sent += n;
	}
	return NULL;
}

/* The main thread queues input while a vCPU reads it. */
static void test_rx_concurrent(void **state)
{
	struct fixture *f = *state;
	struct rx_thread_arg a = { f, 4000 };
	pthread_t th;
	unsigned int got = 0;

	outb(f->vm, FCR, 0x01);
	assert_int_equal(pthread_create(&th, NULL, rx_producer, &a), 0);
	while (got < a.total) {
		if (!(inb(f->vm, LSR) & 0x01))
			continue;
		assert_int_equal(inb(f->vm, RBR), (uint8_t)got);
		got++;
	}
	pthread_join(th, NULL);
	assert_int_equal(inb(f->vm, LSR) & 0x03, 0);
}

static void test_second_instance_refused(void **state)
{
	struct fixture *f = *state;
	const struct device_type *t = devtest_find_type("uart8250");
	struct vm *vm = f->vm;

	assert_non_null(vm->console_rx);
	/* A second COM1 cannot claim the same ports and says so. */
	assert_int_equal(t->create(vm), -EEXIST);
	assert_non_null(vm->console_rx);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_acpi_description),
		T(test_linux_probe),
		T(test_divisor_latch),
		T(test_tx),
		T(test_thre_interrupt),
		T(test_rx_data_ready),
		T(test_rx_fifo_trigger),
		T(test_rx_overrun),
		T(test_out2_gating),
		T(test_loopback_tx),
		T(test_modem_status_interrupt),
		T(test_access_sizes),
		T(test_console_fd_gone),
		T(test_console_full_does_not_hang),
		T(test_rx_concurrent),
		T(test_second_instance_refused),
	};

	return cmocka_run_group_tests_name("uart8250", tests, NULL, NULL);
}
