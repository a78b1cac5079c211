// SPDX-License-Identifier: MIT
/* The VM object: creation, devices, interrupts, lifecycle. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "devices/device.h"
#include "vmm/evloop.h"
#include "vmm/pvm.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

static void vm_vlog(const char *prefix, const struct vm *vm, const char *fmt,
		    va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	const char *name = vm && vm->cfg ? vm->cfg->name : "";

	fprintf(stderr, "skiff%s%s: %s%s\n", *name ? " " : "", name, prefix, buf);
}

void vm_log(const struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	if (!vm->cfg || !vm->cfg->verbose)
		return;
	va_start(ap, fmt);
	vm_vlog("", vm, fmt, ap);
	va_end(ap);
}

void vm_err(const struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_vlog("error: ", vm, fmt, ap);
	va_end(ap);
}

static int kvm_irq_line(struct vm *vm, unsigned int gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return -errno;
	return 0;
}

static int kvm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	/* 0: the guest blocked it (e.g. no LAPIC at addr); not an error. */
	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		return -errno;
	return 0;
}

static int kvm_ioeventfd(struct vm *vm, uint64_t addr, int fd, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = 0,	/* any length: drivers write 16 bits, some 32 */
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (vm->vm_fd < 0)
		return -ENOSYS;
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}

void vm_init_bare(struct vm *vm, const struct vm_config *cfg)
{
	pthread_condattr_t ca;

	vm->cfg = cfg;
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->stop_efd = -1;
	vm->console_out_fd = STDOUT_FILENO;
	vm->irq_line = kvm_irq_line;
	vm->signal_msi = kvm_signal_msi;
	vm->ioeventfd = kvm_ioeventfd;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	pthread_mutex_init(&vm->stop_lock, NULL);
	atomic_init(&vm->stopping, false);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->pause_cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&vm->pause_requested, false);
}

int vm_irq_line(struct vm *vm, unsigned int gsi, int level)
{
	return vm->irq_line(vm, gsi, level);
}

int vm_add_device(struct vm *vm, const char *name, void *state,
		  void (*destroy)(void *state))
{
	struct vm_device *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->name = name;
	d->state = state;
	d->destroy = destroy;
	d->next = vm->devices;
	vm->devices = d;
	return 0;
}

int vm_add_acpi_dev(struct vm *vm, const struct acpi_dev_desc *desc)
{
	if (vm->nr_acpi_devs >= VM_MAX_ACPI_DEVS)
		return -ENOSPC;
	vm->acpi_devs[vm->nr_acpi_devs++] = *desc;
	return 0;
}

/*
 * Every vCPU thread sees stopping: parked ones are woken (a paused VM can
 * be stopped), running ones kicked out of KVM_RUN.
 */
static void signal_stopping(struct vm *vm)
{
	unsigned int i;

	atomic_store(&vm->stopping, true);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_RUNNING) {
		vm->stop_reason = reason;
		vm->stop_status = status;
	}
	pthread_mutex_unlock(&vm->stop_lock);
	signal_stopping(vm);
	if (vm->stop_efd >= 0 && write(vm->stop_efd, &one, sizeof(one)) < 0)
		return;	/* counter overflow only: a wakeup is pending anyway */
}

void vm_request_dump(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_vcpus && i < 64; i++) {
		atomic_fetch_or(&vm->dump_request, 1UL << i);
		vcpu_kick(&vm->vcpus[i]);
	}
}

int vm_set_device_metrics(struct vm *vm, void *state, const char *kind,
			  void (*metrics)(void *state, metric_emit_fn emit, void *ctx))
{
	for (struct vm_device *d = vm->devices; d; d = d->next) {
		if (d->state != state)
			continue;
		d->kind = kind;
		d->metrics = metrics;
		return 0;
	}
	return -ENOENT;
}

static unsigned int started_vcpus(const struct vm *vm)
{
	unsigned int i, n = 0;

	for (i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].started;
	return n;
}

int vm_pause(struct vm *vm, unsigned int timeout_ms)
{
	struct timespec until;
	unsigned int i;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, true);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	while (!ret && vm->nr_parked < started_vcpus(vm)) {
		if (atomic_load(&vm->stopping))
			ret = -ESHUTDOWN;
		else if (pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &until))
			ret = vm->nr_parked < started_vcpus(vm) ? -ETIMEDOUT : 0;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

bool vm_is_paused(struct vm *vm)
{
	return atomic_load(&vm->pause_requested);
}

void vm_park_vcpu(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_requested) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

static void vm_destroy_devices(struct vm *vm)
{
	while (vm->devices) {
		struct vm_device *d = vm->devices;

		vm->devices = d->next;
		if (d->destroy)
			d->destroy(d->state);
		free(d);
	}
}

static int cmp_device_order(const void *a, const void *b)
{
	const struct device_type *da = *(const struct device_type *const *)a;
	const struct device_type *db = *(const struct device_type *const *)b;

	if (da->order != db->order)
		return da->order < db->order ? -1 : 1;
	return strcmp(da->name, db->name);
}

static int vm_create_devices(struct vm *vm)
{
	size_t n = __stop_skiff_devices - __start_skiff_devices;
	const struct device_type **types;
	size_t i;
	int ret = 0;

	types = calloc(n ? n : 1, sizeof(*types));
	if (!types)
		return -ENOMEM;
	memcpy(types, __start_skiff_devices, n * sizeof(*types));
	qsort(types, n, sizeof(*types), cmp_device_order);
	for (i = 0; i < n && !ret; i++) {
		ret = types[i]->create(vm);
		/* -ENOEXEC: a bad input file, already reported by the device. */
		if (ret && ret != -ENOEXEC)
			vm_err(vm, "device %s: %s", types[i]->name, strerror(-ret));
	}
	free(types);
	return ret;
}

static int kvm_open(struct vm *vm)
{
	int version;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int err = errno;

		vm_err(vm, "cannot open /dev/kvm: %s%s", strerror(err),
		       err == ENOENT ? " (is the kvm module loaded?)" :
		       err == EACCES ? " (add yourself to the kvm group)" : "");
		return -err;
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		vm_err(vm, "/dev/kvm speaks API version %d, skiff needs %d",
		       version, KVM_API_VERSION);
		return -ENOTSUP;
	}
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0)
		return -errno;
	vm->host.has_immediate_exit =
		ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) > 0;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		vm_err(vm, "KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Legacy x86 pieces KVM keeps in the kernel: irqchip and PIT. */
static int kvm_setup_platform(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	/* Needed on Intel VMX; not every KVM implements them, so best effort. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		vm_log(vm, "KVM_SET_TSS_ADDR: %s (ignored)", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		vm_err(vm, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		vm_err(vm, "KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int vm_alloc_memory(struct vm *vm)
{
	int ret = guest_mem_alloc(&vm->mem, vm->cfg->mem_size);

	if (ret)
		vm_err(vm, "cannot map %llu MiB of guest memory: %s",
		       (unsigned long long)(vm->cfg->mem_size >> 20), strerror(-ret));
	return ret;
}

static int kvm_setup_memory(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region kr = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
			vm_err(vm, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int vm_load_kernel(struct vm *vm, struct boot_result *boot)
{
	char err[512];
	uint64_t rsdp = 0;
	int ret;

	ret = acpi_setup(vm, &rsdp);
	if (ret) {
		vm_err(vm, "cannot build ACPI tables: %s", strerror(-ret));
		return ret;
	}
	vm->effective_cmdline = pvm_effective_cmdline(vm, vm->cfg->cmdline);
	if (!vm->effective_cmdline)
		return -ENOMEM;
	if (x86_boot_load_files(&vm->mem, vm->cfg->kernel_path,
				vm->cfg->initrd_path, vm->effective_cmdline,
				rsdp, boot, err, sizeof(err)) < 0) {
		fprintf(stderr, "skiff: %s\n", err);
		return -ENOEXEC;	/* bad input file: a usage error */
	}
	vm_log(vm, "kernel: %s", boot->desc);
	vm_log(vm, "command line: %s", vm->effective_cmdline);
	return 0;
}

static int vm_create_vcpus(struct vm *vm, const struct boot_result *boot)
{
	unsigned int i;
	int ret;

	vm->vcpus = calloc(vm->cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (i = 0; i < vm->cfg->cpus; i++) {
		/* Counted first: a half-created vCPU is still destroyed. */
		vm->nr_vcpus++;
		ret = vcpu_create(vm, &vm->vcpus[i], i);
		if (ret)
			return ret;
	}
	return vcpu_setup_boot(&vm->vcpus[0], boot);
}

static void *memslot_thread(void *arg)
{
	struct vm *vm = arg;

	return (void *)(intptr_t)kvm_setup_memory(vm);
}

/*
 * Registering memory waits for SRCU grace periods (several ms on some
 * hosts) under KVM's slots lock; irqchip, PIT and vCPU creation take other
 * locks. Do both at once.
 */
static int kvm_setup_parallel(struct vm *vm, const struct boot_result *boot)
{
	pthread_t t;
	void *mem_ret = NULL;
	int ret, err;

	err = pthread_create(&t, NULL, memslot_thread, vm);
	if (err)
		mem_ret = memslot_thread(vm);	/* no thread: do it here */
	ret = kvm_setup_platform(vm);
	if (!ret)
		ret = vm_create_vcpus(vm, boot);
	if (!err)
		pthread_join(t, &mem_ret);
	if (!ret)
		ret = (int)(intptr_t)mem_ret;
	return ret;
}

int vm_create(struct vm **out, const struct vm_config *cfg)
{
	struct boot_result boot;
	struct vm *vm;
	int ret;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm_init_bare(vm, cfg);
	*out = vm;
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return -errno;
	/*
	 * Memory, devices and the kernel first: they need no KVM, so a bad
	 * kernel or initrd is reported before anything is created.
	 */
	vm->host.is_pvm = pvm_host_detect();
	ret = evloop_create(&vm->io);
	if (ret)
		return ret;
	ret = vm_alloc_memory(vm);
	if (!ret)
		ret = vm_create_devices(vm);
	if (!ret)
		ret = vm_load_kernel(vm, &boot);
	if (!ret)
		ret = kvm_open(vm);
	if (!ret)
		ret = kvm_setup_parallel(vm, &boot);
	if (!ret && vm->host.is_pvm)
		vm_log(vm, "host is kvm_pvm: applying its work-arounds "
		       "(kernel parameters, instruction assists, SYSCALL repair)");
	return ret;
}

int vm_start(struct vm *vm)
{
	unsigned int i;
	int ret;

	ret = evloop_start(vm->io, "skiff-io");
	if (ret)
		return ret;
	for (i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret)
			return ret;
	}
	return 0;
}

void vm_stop_vcpus(struct vm *vm)
{
	unsigned int i;

	signal_stopping(vm);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
}

/*
 * Close the KVM objects in a child process: destroying a VM can take tens
 * of milliseconds of kernel grace periods (the in-kernel PIT's I/O devices
 * are unregistered one synchronize_srcu at a time), and nothing the user
 * waits for depends on it. The child holds only the KVM fds.
 */
static bool close_kvm_fds_in_child(struct vm *vm)
{
	unsigned int i;
	pid_t pid = fork();

	if (pid < 0)
		return false;
	if (pid > 0)
		return true;	/* the parent just drops its references */
	for (i = 0; i <= STDERR_FILENO; i++)
		close(i);
	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	close(vm->vm_fd);
	close(vm->kvm_fd);
	_exit(0);
}

static void vm_log_stats(const struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		const uint64_t *st = vm->vcpus[i].stats;

		vm_log(vm, "vcpu%u: %llu port I/O and %llu MMIO exits (%llu unclaimed), "
		       "%llu signals, %llu debug exits, %llu instruction assists, "
		       "%llu SYSCALL repairs", i,
		       (unsigned long long)st[VCPU_STAT_IO],
		       (unsigned long long)st[VCPU_STAT_MMIO],
		       (unsigned long long)st[VCPU_STAT_UNCLAIMED],
		       (unsigned long long)st[VCPU_STAT_INTR],
		       (unsigned long long)st[VCPU_STAT_DEBUG],
		       (unsigned long long)st[VCPU_STAT_PVM_ASSIST],
		       (unsigned long long)st[VCPU_STAT_PVM_SYSCALL]);
	}
}

static void vm_free(struct vm *vm, bool detach_kvm)
{
	unsigned int i;

	if (!vm)
		return;
	vm_stop_vcpus(vm);
	vm_log_stats(vm);
	/* No more device callbacks, then devices: they flush and close what they own. */
	if (vm->io)
		evloop_stop(vm->io);
	vm_destroy_devices(vm);
	evloop_destroy(vm->io);
	guest_mem_free(&vm->mem);
	if (detach_kvm && vm->vm_fd >= 0 && close_kvm_fds_in_child(vm))
		vm_log(vm, "destroying the KVM VM in the background");
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
	free(vm->effective_cmdline);
	free(vm);
}

void vm_destroy(struct vm *vm)
{
	vm_free(vm, false);
}

void vm_destroy_detached(struct vm *vm)
{
	vm_free(vm, true);
}
