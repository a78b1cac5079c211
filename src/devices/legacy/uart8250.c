// SPDX-License-Identifier: MIT
/*
 * 16550A UART on COM1: the guest console.
 *
 * Transmission is instantaneous (each THR write goes straight to
 * vm->console_out_fd), so THR and the shift register are always empty by the
 * time the guest looks again. Input from the host is queued in a ring that
 * stands for "bytes still on the wire": the guest sees at most the first 16
 * (the FIFO), or 1 with the FIFO off, which is what a FIFO clear discards.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/console_out.h"
#include "devices/device.h"
#include "vmm/vm.h"

#define UART_BASE	0x3f8
#define UART_NR_REGS	8
#define UART_IRQ	4

/* Register offsets (DLAB selects the divisor latch at 0 and 1). */
#define UART_RBR	0	/* read, DLAB=0 */
#define UART_THR	0	/* write, DLAB=0 */
#define UART_DLL	0	/* DLAB=1 */
#define UART_IER	1	/* DLAB=0 */
#define UART_DLM	1	/* DLAB=1 */
#define UART_IIR	2	/* read */
#define UART_FCR	2	/* write */
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7

#define IER_ERBFI	0x01	/* received data available */
#define IER_ETBEI	0x02	/* THR empty */
#define IER_ELSI	0x04	/* receiver line status */
#define IER_EDSSI	0x08	/* modem status */
#define IER_MASK	0x0f

#define IIR_NO_INT	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_RLSI	0x06
#define IIR_RX_TIMEOUT	0x0c
#define IIR_FIFO_BITS	0xc0

#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define FCR_CLEAR_TX	0x04
#define FCR_TRIGGER	0xc0

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define MCR_MASK	0x1f

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MSR_DCTS	0x01
#define MSR_DDSR	0x02
#define MSR_TERI	0x04
#define MSR_DDCD	0x08
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

#define UART_FIFO_LEN	16
#define UART_RX_RING	4096
/* How long one write may wait for a full console before output is dropped. */

struct uart {
	struct vm *vm;
	pthread_mutex_t lock;	/* registers and the rx ring */
	/* Orders console writes; taken while holding lock, then lock dropped. */
	pthread_mutex_t tx_lock;

	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	uint8_t msr_delta;	/* MSR bits 0-3, cleared by reading MSR */
	bool overrun;		/* LSR.OE, cleared by reading LSR */
	bool thr_ipending;	/* THRE interrupt latched (only with ETBEI) */
	bool irq_level;		/* what we last told vm_irq_line */

	uint8_t rx_ring[UART_RX_RING];
	unsigned int rx_head, rx_count;
	uint64_t rx_dropped;

	/* Under tx_lock. */
	struct console_out out;
};

static const uint8_t uart_trigger_levels[4] = { 1, 4, 8, 14 };

static bool uart_fifo_on(const struct uart *s)
{
	return s->fcr & FCR_ENABLE;
}

/* Bytes the guest can see: the FIFO, or the single holding register. */
static unsigned int uart_rx_visible(const struct uart *s)
{
	unsigned int cap = uart_fifo_on(s) ? UART_FIFO_LEN : 1;

	return s->rx_count < cap ? s->rx_count : cap;
}

/* MSR bits 4-7: the modem inputs, or MCR's outputs in loopback. */
static uint8_t uart_msr_lines(const struct uart *s)
{
	uint8_t m = s->mcr;

	if (!(m & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	return (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) |
	       (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0);
}

/* Highest-priority pending interrupt, as IIR bits 0-3. */
static uint8_t uart_iir_id(const struct uart *s)
{
	if ((s->ier & IER_ELSI) && s->overrun)
		return IIR_RLSI;
	if ((s->ier & IER_ERBFI) && s->rx_count) {
		/*
		 * Below the trigger level real hardware waits four character
		 * times before a timeout interrupt; report it at once.
		 */
		if (uart_fifo_on(s) &&
		    uart_rx_visible(s) < uart_trigger_levels[s->fcr >> 6])
			return IIR_RX_TIMEOUT;
		return IIR_RDI;
	}
	if ((s->ier & IER_ETBEI) && s->thr_ipending)
		return IIR_THRI;
	if ((s->ier & IER_EDSSI) && s->msr_delta)
		return IIR_MSI;
	return IIR_NO_INT;
}

/*
 * OUT2 gates the interrupt onto the ISA line. In loopback the chip forces
 * OUT2 inactive, so the line is quiet then too.
 */
static void uart_update_irq(struct uart *s)
{
	bool level = uart_iir_id(s) != IIR_NO_INT &&
		     (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	vm_irq_line(s->vm, UART_IRQ, level);
}

static void uart_rx_push(struct uart *s, uint8_t byte)
{
	if (s->rx_count == UART_RX_RING) {
		s->rx_dropped++;
		s->overrun = true;
		return;
	}
	s->rx_ring[(s->rx_head + s->rx_count) % UART_RX_RING] = byte;
	s->rx_count++;
}

static uint8_t uart_rx_pop(struct uart *s)
{
	uint8_t byte;

	if (!s->rx_count)
		return 0;
	byte = s->rx_ring[s->rx_head];
	s->rx_head = (s->rx_head + 1) % UART_RX_RING;
	s->rx_count--;
	return byte;
}

/* FIFO reset: drop what the guest could see, not what is still coming. */
static void uart_rx_clear_fifo(struct uart *s)
{
	unsigned int n = uart_rx_visible(s);

	s->rx_head = (s->rx_head + n) % UART_RX_RING;
	s->rx_count -= n;
}

static uint8_t uart_read_reg(struct uart *s, unsigned int reg)
{
	uint8_t v, id;

	switch (reg) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		v = uart_rx_pop(s);
		uart_update_irq(s);
		return v;
	case UART_IER:
		return s->lcr & LCR_DLAB ? s->dlm : s->ier;
	case UART_IIR:
		id = uart_iir_id(s);
		if (id == IIR_THRI) {
			/* Reading IIR that reports THRE acknowledges it. */
			s->thr_ipending = false;
			uart_update_irq(s);
		}
		return id | (uart_fifo_on(s) ? IIR_FIFO_BITS : 0);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0) |
		    (s->overrun ? LSR_OE : 0);
		if (s->overrun) {
			s->overrun = false;
			uart_update_irq(s);
		}
		return v;
	case UART_MSR:
		v = uart_msr_lines(s) | s->msr_delta;
		if (s->msr_delta) {
			s->msr_delta = 0;
			uart_update_irq(s);
		}
		return v;
	case UART_SCR:
		return s->scr;
	}
	return 0xff;
}

static void uart_write_ier(struct uart *s, uint8_t v)
{
	uint8_t old = s->ier;

	s->ier = v & IER_MASK;
	/*
	 * Enabling ETBEI while THR is empty raises THRE again even if an IIR
	 * read acknowledged it earlier (Linux's THRE test and tx restart rely
	 * on this). THR is always empty here. Disabling it drops the latch.
	 */
	if ((old ^ s->ier) & IER_ETBEI)
		s->thr_ipending = s->ier & IER_ETBEI;
	uart_update_irq(s);
}

static void uart_write_fcr(struct uart *s, uint8_t v)
{
	/* Switching the FIFO on or off resets both FIFOs. */
	if ((v ^ s->fcr) & FCR_ENABLE)
		v |= FCR_CLEAR_RX | FCR_CLEAR_TX;
	if (v & FCR_CLEAR_RX)
		uart_rx_clear_fifo(s);
	s->fcr = v & FCR_ENABLE ? (v & (FCR_ENABLE | FCR_TRIGGER)) : 0;
	uart_update_irq(s);
}

static void uart_write_mcr(struct uart *s, uint8_t v)
{
	uint8_t before = uart_msr_lines(s), after, changed;

	s->mcr = v & MCR_MASK;
	after = uart_msr_lines(s);
	changed = before ^ after;
	if (changed & MSR_CTS)
		s->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		s->msr_delta |= MSR_DDSR;
	if ((before & MSR_RI) && !(after & MSR_RI))
		s->msr_delta |= MSR_TERI;
	if (changed & MSR_DCD)
		s->msr_delta |= MSR_DDCD;
	uart_update_irq(s);
}

/* A THR write; true when the byte must go out to the console. */
static bool uart_write_thr(struct uart *s, uint8_t v)
{
	bool send = true;

	/* The write acknowledges THRE... */
	s->thr_ipending = false;
	uart_update_irq(s);
	if (s->mcr & MCR_LOOP) {
		uart_rx_push(s, v);
		send = false;
	}
	/* ...and the byte leaves at once, so THR is empty again: new edge. */
	if (s->ier & IER_ETBEI)
		s->thr_ipending = true;
	uart_update_irq(s);
	return send;
}

/* Returns true when v must be transmitted to the console. */
static bool uart_write_reg(struct uart *s, unsigned int reg, uint8_t v)
{
	switch (reg) {
	case UART_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return false;
		}
		return uart_write_thr(s, v);
	case UART_IER:
		if (s->lcr & LCR_DLAB)
			s->dlm = v;
		else
			uart_write_ier(s, v);
		break;
	case UART_FCR:
		uart_write_fcr(s, v);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		uart_write_mcr(s, v);
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default:	/* LSR, MSR: factory test registers, read-only here */
		break;
	}
	return false;
}

static void uart_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct uart *s = opaque;
	uint32_t i;

	/* A wide access touches consecutive registers, as on the ISA bus. */
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len; i++)
		data[i] = offset + i < UART_NR_REGS ?
			  uart_read_reg(s, offset + i) : 0xff;
	pthread_mutex_unlock(&s->lock);
}

static void uart_write(void *opaque, uint64_t offset, const uint8_t *data,
		       uint32_t len)
{
	struct uart *s = opaque;
	uint32_t i;

	for (i = 0; i < len && offset + i < UART_NR_REGS; i++) {
		uint8_t byte = data[i];

		pthread_mutex_lock(&s->lock);
		if (!uart_write_reg(s, offset + i, byte)) {
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		/* Keep output in THR-write order but let rx proceed meanwhile. */
		pthread_mutex_lock(&s->tx_lock);
		pthread_mutex_unlock(&s->lock);
		console_out_write(&s->out, s->vm->console_out_fd, &byte, 1);
		pthread_mutex_unlock(&s->tx_lock);
	}
}

/* Host input, from the main thread while vCPUs run. */
static void uart_console_rx(void *opaque, const uint8_t *buf, size_t len)
{
	struct uart *s = opaque;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len; i++)
		uart_rx_push(s, buf[i]);
	uart_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

static void uart_destroy(void *opaque)
{
	struct uart *s = opaque;
	struct vm *vm = s->vm;

	if (vm->console_rx_opaque == s) {
		vm->console_rx = NULL;
		vm->console_rx_opaque = NULL;
	}
	if (s->rx_dropped || s->out.dropped)
		vm_log(vm, "COM1: dropped %llu input and %llu output bytes",
		       (unsigned long long)s->rx_dropped,
		       (unsigned long long)s->out.dropped);
	pthread_mutex_destroy(&s->tx_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int uart_create(struct vm *vm)
{
	static const struct acpi_dev_desc desc = {
		.name = "COM1", .hid = "PNP0501", .uid = 1,
		.io_base = UART_BASE, .io_len = UART_NR_REGS, .irq = UART_IRQ,
	};
	struct uart *s;
	int ret;

	if (vm->cfg && vm->cfg->console != CONSOLE_SERIAL)
		return 0;	/* the console is elsewhere: no COM1 at all */
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->dll = 0x0c;		/* 9600 baud */
	console_out_init(&s->out);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->tx_lock, NULL);
	ret = vm_add_device(vm, "uart8250", s, uart_destroy);
	if (ret) {
		uart_destroy(s);
		return ret;
	}
	ret = bus_register(&vm->pio, UART_BASE, UART_NR_REGS, &uart_ops, s,
			   "COM1");
	if (ret) {
		vm_err(vm, "COM1: cannot claim ports 0x3f8-0x3ff: %s",
		       strerror(-ret));
		return ret;
	}
	ret = vm_add_acpi_dev(vm, &desc);
	if (ret) {
		vm_err(vm, "COM1: no room in the DSDT device table");
		bus_unregister(&vm->pio, UART_BASE);
		return ret;
	}
	vm->console_rx = uart_console_rx;
	vm->console_rx_opaque = s;
	return 0;
}

static const struct device_type uart8250_type = {
	.name = "uart8250",
	.order = 10,
	.create = uart_create,
};
DEVICE_REGISTER(uart8250_type);
