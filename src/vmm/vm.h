/* SPDX-License-Identifier: MIT */
/* The VM object: everything mutable about one virtual machine lives here. */
#ifndef SKIFF_VMM_VM_H
#define SKIFF_VMM_VM_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/memory.h"
#include "vmm/metrics.h"

struct vcpu;
struct evloop;
struct pci_root;

/* Why the VM stopped; maps to a process exit status in cli/run. */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,	/* ACPI S5 */
	VM_STOP_REBOOT,		/* i8042 reset, ACPI reset register */
	VM_STOP_DEBUG_EXIT,	/* status carries (value << 1) | 1 */
	VM_STOP_CRASH,		/* triple fault, unhandled exit */
	VM_STOP_FORCED,		/* hard stop after the shutdown timeout */
	VM_STOP_HOST_ERROR,	/* an ioctl failed */
};

/* A device to describe in the DSDT (legacy ISA-style resources). */
struct acpi_dev_desc {
	char name[5];		/* AML NameSeg, 4 chars: "COM1" */
	char hid[8];		/* EISA id, 7 chars: "PNP0501" */
	unsigned int uid;
	uint16_t io_base;
	uint16_t io_len;	/* 0: no I/O resource */
	int irq;		/* -1: no interrupt */
};

#define VM_MAX_ACPI_DEVS 32

/* The ACPI fixed-hardware block a PM device registers (see acpi.h). */
struct acpi_pm_desc {
	uint16_t pm1a_evt_port;	/* 4 bytes: PM1_STS, PM1_EN */
	uint16_t pm1a_cnt_port;	/* 2 bytes: PM1_CNT */
	uint16_t pm_tmr_port;	/* 4 bytes: PM timer; 0 if none */
	uint8_t sci_irq;
	bool present;
};

struct vm_device {
	const char *name;
	void *state;
	void (*destroy)(void *state);
	/* Optional: the device's counters for the control API's metrics. */
	const char *kind;		/* "block", "net", ... */
	void (*metrics)(void *state, metric_emit_fn emit, void *ctx);
	struct vm_device *next;
};

/* Host facts found at VM creation. */
struct host_caps {
	bool is_pvm;		/* /dev/kvm is kvm_pvm: apply work-arounds */
	bool has_immediate_exit;
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	struct host_caps host;

	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;

	struct vcpu *vcpus;
	unsigned int nr_vcpus;

	struct vm_device *devices;	/* destroyed in reverse order */
	struct acpi_dev_desc acpi_devs[VM_MAX_ACPI_DEVS];
	unsigned int nr_acpi_devs;
	struct acpi_pm_desc acpi_pm;

	/* The guest console: output fd, and where input goes. */
	int console_out_fd;
	void (*console_rx)(void *opaque, const uint8_t *buf, size_t len);
	void *console_rx_opaque;

	/*
	 * Interrupt delivery: KVM_IRQ_LINE on the in-kernel irqchip, set by
	 * vm_init_bare(); unit tests put a recorder here.
	 */
	int (*irq_line)(struct vm *vm, unsigned int gsi, int level);

	/*
	 * MSI delivery (KVM_SIGNAL_MSI) and KVM ioeventfds on MMIO addresses
	 * (any access length, no data match), set by vm_init_bare(); unit
	 * tests put recorders here. ioeventfd returns -ENOSYS without KVM:
	 * the device then signals the eventfd from its MMIO handler itself.
	 */
	int (*signal_msi)(struct vm *vm, uint64_t addr, uint32_t data);
	int (*ioeventfd)(struct vm *vm, uint64_t addr, int fd, bool assign);

	/* The PCI root bus (devices/pci), and the I/O thread devices use. */
	struct pci_root *pci;
	struct evloop *io;

	/* The ACPI power button, set by the PM device. */
	void (*power_button)(void *opaque);
	void *power_button_opaque;
	/* Ctrl-Alt-Del on the keyboard, set by the i8042 device; 0 or -errno. */
	int (*ctrl_alt_del)(void *opaque);
	void *ctrl_alt_del_opaque;

	/* Lifecycle: first stop request wins; stop_efd wakes the main loop. */
	pthread_mutex_t stop_lock;
	enum vm_stop_reason stop_reason;
	int stop_status;		/* for VM_STOP_DEBUG_EXIT */
	int stop_efd;
	atomic_bool stopping;
	/*
	 * Pause: vCPU threads park in vm_park_vcpu() while pause_requested;
	 * nr_parked counts them so vm_pause() knows when all are out of
	 * KVM_RUN.
	 */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_requested;
	unsigned int nr_parked;
	/* Each vCPU dumps its registers once and clears its bit (SIGQUIT). */
	atomic_ulong dump_request;
	/*
	 * kvm_pvm SYSCALL repair: vCPU 0's #PF handler. Other vCPUs arm it
	 * too, because an AP may load the shared IDT and run user code
	 * without ever exiting to us in between.
	 */
	_Atomic uint64_t pvm_pf_handler;

	/* The kernel command line actually passed (with work-arounds). */
	char *effective_cmdline;
};

/*
 * Initialise the fields of a zeroed struct vm that need no KVM: buses,
 * locks, fds (-1), console on stdout, KVM irq delivery. vm_create() calls
 * it; unit tests call it on their own struct vm and attach devices to it.
 */
void vm_init_bare(struct vm *vm, const struct vm_config *cfg);

/* Create the VM, its memory, devices and vCPUs, and load the kernel. */
int vm_create(struct vm **out, const struct vm_config *cfg);
/* Start vCPU threads. */
int vm_start(struct vm *vm);
/* Ask every vCPU to leave KVM_RUN and stop; join threads. */
void vm_stop_vcpus(struct vm *vm);
void vm_destroy(struct vm *vm);
/*
 * vm_destroy() for a process about to exit: devices are destroyed and
 * memory freed here, the KVM objects in a short-lived child, so the exit
 * status is not held up by the kernel's VM teardown.
 */
void vm_destroy_detached(struct vm *vm);

/* Request the VM to stop (first request wins). Safe from any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status);

/* Ask every vCPU to print its registers to stderr and carry on. */
void vm_request_dump(struct vm *vm);

/*
 * Stop every vCPU outside the guest (0), or -ETIMEDOUT if they do not all
 * park within timeout_ms (the pause stays requested: vm_resume() undoes
 * it), or -ESHUTDOWN when the VM is stopping. Not from a vCPU thread.
 */
int vm_pause(struct vm *vm, unsigned int timeout_ms);
void vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/* A vCPU thread waits here while a pause is requested. */
void vm_park_vcpu(struct vm *vm);

/* Assert or deassert an interrupt line (GSI) on the in-kernel irqchip. */
int vm_irq_line(struct vm *vm, unsigned int gsi, int level);

/* Keep device state until vm_destroy; destroy may be NULL. */
int vm_add_device(struct vm *vm, const char *name, void *state,
		  void (*destroy)(void *state));
/* Describe a device in the DSDT. -ENOSPC when the table is full. */
/* Give the device added with this state a metrics reporter. */
int vm_set_device_metrics(struct vm *vm, void *state, const char *kind,
			  void (*metrics)(void *state, metric_emit_fn emit, void *ctx));
int vm_add_acpi_dev(struct vm *vm, const struct acpi_dev_desc *desc);

/* Messages: vm_log only with --verbose, vm_err always; both to stderr. */
void vm_log(const struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vm_err(const struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
