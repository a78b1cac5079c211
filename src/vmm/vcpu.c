// SPDX-License-Identifier: MIT
/* vCPU threads: KVM_RUN, exit dispatch to the buses, crash reports. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/cpu_state.h"
#include "arch/x86/cpuid.h"
#include "vmm/pvm.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define KICK_SIGNAL SIGUSR1

const char *const vcpu_stat_names[VCPU_STAT_NR] = {
	[VCPU_STAT_IO] = "io",
	[VCPU_STAT_MMIO] = "mmio",
	[VCPU_STAT_UNCLAIMED] = "unclaimed",
	[VCPU_STAT_PVM_ASSIST] = "pvm_assist",
	[VCPU_STAT_PVM_SYSCALL] = "pvm_syscall",
	[VCPU_STAT_DEBUG] = "debug",
	[VCPU_STAT_INTR] = "signal",
};

static void kick_handler(int sig)
{
	(void)sig;	/* only here to make KVM_RUN return EINTR */
}

static int vcpu_setup_cpuid(struct vcpu *vcpu)
{
	struct cpuid_table *t = malloc(sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	ret = cpuid_get_supported(vcpu->vm->kvm_fd, t);
	if (!ret) {
		cpuid_patch(t, vcpu->id, vcpu->vm->cfg->cpus, vcpu->vm->host.is_pvm);
		if (ioctl(vcpu->fd, KVM_SET_CPUID2, &t->hdr) < 0)
			ret = -errno;
	}
	if (ret)
		vm_err(vcpu->vm, "vcpu%u: CPUID setup: %s", vcpu->id, strerror(-ret));
	free(t);
	return ret;
}

static void vcpu_setup_msrs(struct vcpu *vcpu)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[16];
	} m;
	int n;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = x86_boot_msrs(m.e, 16, x86_host_is_amd());
	n = ioctl(vcpu->fd, KVM_SET_MSRS, &m);
	/* KVM stops at the first MSR it refuses; the rest are optional. */
	if (n != (int)m.hdr.nmsrs)
		vm_log(vcpu->vm, "vcpu%u: KVM took %d of %u boot MSRs", vcpu->id,
		       n, m.hdr.nmsrs);
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int id)
{
	int ret;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		vm_err(vm, "KVM_CREATE_VCPU %u: %s", id, strerror(errno));
		return -errno;
	}
	vcpu->run = mmap(NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		return -errno;
	}
	ret = vcpu_setup_cpuid(vcpu);
	if (ret)
		return ret;
	vcpu_setup_msrs(vcpu);
	return 0;
}

int vcpu_setup_boot(struct vcpu *vcpu, const struct boot_result *boot)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int ret;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	ret = x86_boot_cpu_state(&vcpu->vm->mem, boot, &regs, &sregs);
	if (ret)
		return ret;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0) {
		vm_err(vcpu->vm, "vcpu%u: setting boot registers: %s", vcpu->id,
		       strerror(errno));
		return -errno;
	}
	return 0;
}

bool vcpu_read_virt(struct vcpu *vcpu, const struct kvm_sregs *sregs,
		    uint64_t va, void *buf, uint64_t len)
{
	uint8_t *out = buf;

	while (len) {
		uint64_t pa, chunk = 4096 - (va & 4095);

		if (chunk > len)
			chunk = len;
		if (!x86_translate(&vcpu->vm->mem, sregs, va, &pa) ||
		    !gpa_read(&vcpu->vm->mem, pa, out, chunk))
			return false;
		va += chunk;
		out += chunk;
		len -= chunk;
	}
	return true;
}

static void dump_segment(FILE *f, const char *name, const struct kvm_segment *s)
{
	fprintf(f, "  %-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u l=%u db=%u p=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit,
		s->type, s->dpl, s->l, s->db, s->present);
}

static void dump_code(FILE *f, struct vcpu *vcpu, const struct kvm_regs *r,
		      const struct kvm_sregs *s)
{
	struct kvm_mp_state mp;
	uint8_t byte;
	unsigned int i;

	/* An AP the guest never started sits at the reset vector, unmapped. */
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) == 0 &&
	    (mp.mp_state == KVM_MP_STATE_UNINITIALIZED ||
	     mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)) {
		fprintf(f, "  never started: waiting for INIT/SIPI\n");
		return;
	}
	fprintf(f, "  code at RIP:");
	for (i = 0; i < 16; i++) {
		uint64_t la = ((s->efer & X86_EFER_LMA) && s->cs.l) ? r->rip + i :
			      (s->cs.base + r->rip + i) & 0xffffffffULL;

		if (!vcpu_read_virt(vcpu, s, la, &byte, 1))
			break;
		fprintf(f, " %02x", byte);
	}
	fprintf(f, i ? "\n" : " (not mapped)\n");
}

static void dump_regs(FILE *f, struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(f, "  (registers unavailable: %s)\n", strerror(errno));
		return;
	}
	fprintf(f, "  RIP=%016llx RSP=%016llx RFLAGS=%016llx\n"
		"  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
		"  RSI=%016llx RDI=%016llx RBP=%016llx R8 =%016llx\n"
		"  R9 =%016llx R10=%016llx R11=%016llx R12=%016llx\n"
		"  R13=%016llx R14=%016llx R15=%016llx\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi,
		r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15);
	dump_segment(f, "CS", &s.cs);
	dump_segment(f, "SS", &s.ss);
	dump_segment(f, "DS", &s.ds);
	dump_segment(f, "TR", &s.tr);
	fprintf(f, "  CR0=%016llx CR2=%016llx CR3=%016llx CR4=%016llx\n"
		"  EFER=%016llx GDT=%016llx/%x IDT=%016llx/%x\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.gdt.base, s.gdt.limit,
		s.idt.base, s.idt.limit);
	dump_code(f, vcpu, &r, &s);
}

/*
 * Several vCPUs dump at once after SIGQUIT: each builds its dump in memory
 * and writes it with one call, so the dumps never interleave.
 */
void vcpu_dump(struct vcpu *vcpu, const char *why)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		fprintf(stderr, "skiff %s: vcpu%u: %s\n", vcpu->vm->cfg->name, vcpu->id, why);
		return;
	}
	fprintf(f, "skiff %s: vcpu%u: %s\n", vcpu->vm->cfg->name, vcpu->id, why);
	dump_regs(f, vcpu);
	if (fclose(f) == 0 && write(STDERR_FILENO, text, len) < 0)
		len = 0;	/* stderr is gone: nothing better to do */
	free(text);
}

static void vcpu_dump_if_requested(struct vcpu *vcpu)
{
	unsigned long bit = 1UL << (vcpu->id % 64);

	if (atomic_fetch_and(&vcpu->vm->dump_request, ~bit) & bit)
		vcpu_dump(vcpu, "registers (SIGQUIT)");
}

static void vcpu_crash(struct vcpu *vcpu, const char *why)
{
	vcpu_dump(vcpu, why);
	vm_request_stop(vcpu->vm, VM_STOP_CRASH, 0);
}

static int handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t i;

	if (run->io.data_offset > (uint64_t)vcpu->vm->vcpu_mmap_size ||
	    bytes > vcpu->vm->vcpu_mmap_size - run->io.data_offset) {
		vcpu_crash(vcpu, "port I/O exit with data outside the run page");
		return -1;
	}
	vcpu_stat_inc(vcpu, VCPU_STAT_IO);
	for (i = 0; i < run->io.count; i++, data += run->io.size) {
		if (!bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size,
				run->io.direction == KVM_EXIT_IO_OUT))
			vcpu_stat_inc(vcpu, VCPU_STAT_UNCLAIMED);
	}
	return 0;
}

static int handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len;

	vcpu_stat_inc(vcpu, VCPU_STAT_MMIO);
	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (!bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data,
			len, run->mmio.is_write))
		vcpu_stat_inc(vcpu, VCPU_STAT_UNCLAIMED);
	return 0;
}

static int handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, VM_STOP_POWEROFF, 0);
		return -1;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, VM_STOP_REBOOT, 0);
		return -1;
	default:
		vcpu_crash(vcpu, "guest reported a crash (KVM_SYSTEM_EVENT_CRASH)");
		return -1;
	}
}

static int handle_internal_error(struct vcpu *vcpu)
{
	char why[128];
	enum pvm_action act = PVM_NOT_MINE;

	if (vcpu->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    vcpu->vm->host.is_pvm)
		act = pvm_handle_emulation_failure(vcpu);
	if (act == PVM_HANDLED)
		return 0;
	snprintf(why, sizeof(why), "%s (KVM_EXIT_INTERNAL_ERROR, suberror %u)",
		 vcpu->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
		 "instruction emulation failed" : "KVM internal error",
		 vcpu->run->internal.suberror);
	vcpu_crash(vcpu, why);
	return -1;
}

static int handle_debug(struct vcpu *vcpu)
{
	enum pvm_action act = PVM_NOT_MINE;

	if (vcpu->vm->host.is_pvm)
		act = pvm_handle_debug(vcpu);
	if (act == PVM_HANDLED)
		return 0;
	vcpu_crash(vcpu, act == PVM_FAILED ? "SYSCALL repair failed" :
		   "unexpected debug exit");
	return -1;
}

static int handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char why[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(vcpu);
	case KVM_EXIT_MMIO:
		return handle_mmio(vcpu);
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT:	/* the in-kernel LAPIC wakes us; just re-enter */
		return 0;
	case KVM_EXIT_SHUTDOWN:
		vcpu_crash(vcpu, "triple fault (KVM_EXIT_SHUTDOWN)");
		return -1;
	case KVM_EXIT_SYSTEM_EVENT:
		return handle_system_event(vcpu);
	case KVM_EXIT_INTERNAL_ERROR:
		return handle_internal_error(vcpu);
	case KVM_EXIT_DEBUG:
		return handle_debug(vcpu);
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "VM entry failed (reason %#llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_crash(vcpu, why);
		return -1;
	default:
		snprintf(why, sizeof(why), "unhandled KVM exit reason %u",
			 run->exit_reason);
		vcpu_crash(vcpu, why);
		return -1;
	}
}

/* kvm_pvm: keep the SYSCALL repair's breakpoints on the guest's #PF handler. */
static void refresh_pvm_breakpoint(struct vcpu *vcpu)
{
	int ret;

	if (!vcpu->vm->host.is_pvm)
		return;
	ret = pvm_refresh_breakpoint(vcpu);
	if (ret < 0)
		vm_log(vcpu->vm, "vcpu%u: cannot arm the SYSCALL repair: %s",
		       vcpu->id, strerror(-ret));
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t set;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->pause_requested)) {
			vm_park_vcpu(vm);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				vcpu_stat_inc(vcpu, VCPU_STAT_INTR);
				vcpu_dump_if_requested(vcpu);
				refresh_pvm_breakpoint(vcpu);
				continue;
			}
			vm_err(vm, "vcpu%u: KVM_RUN: %s", vcpu->id, strerror(errno));
			vm_request_stop(vm, VM_STOP_HOST_ERROR, 0);
			break;
		}
		if (handle_exit(vcpu) < 0)
			break;
		refresh_pvm_breakpoint(vcpu);
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	int ret;

	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);
	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret)
		return -ret;
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->run)
		return;
	vcpu->run->immediate_exit = 1;
	if (vcpu->started && !pthread_equal(vcpu->thread, pthread_self()))
		pthread_kill(vcpu->thread, KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->vm->vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}
