// SPDX-License-Identifier: MIT
/* kvm_pvm work-arounds; see pvm.h and README "Hosts without VMX/SVM". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/cpu_state.h"
#include "vmm/pvm.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define PF_VECTOR		14
#define BP_VECTOR		3
#define UD_VECTOR		6
#define PF_ERR_USER		(1ULL << 2)
#define PF_ERR_FETCH		(1ULL << 4)
#define DR7_L0			(1ULL << 0)
#define DR7_L1			(1ULL << 2)
#define IDT_CHECK_PERIOD_NS	2000000ULL

bool pvm_host_detect(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

char *cmdline_insert_params(const char *cmdline, const char *params)
{
	const char *dashes = NULL;
	size_t len = strlen(cmdline) + strlen(params) + 3;
	char *out = malloc(len);

	if (!out)
		return NULL;
	/* Init arguments follow " -- ": kernel parameters must come before. */
	if (!strncmp(cmdline, "-- ", 3) || !strcmp(cmdline, "--"))
		dashes = cmdline;
	else if ((dashes = strstr(cmdline, " -- ")) != NULL)
		dashes++;
	else if (strlen(cmdline) >= 3 &&
		 !strcmp(cmdline + strlen(cmdline) - 3, " --"))
		dashes = cmdline + strlen(cmdline) - 2;
	if (!dashes) {
		snprintf(out, len, "%s%s%s", cmdline, *cmdline ? " " : "", params);
		return out;
	}
	snprintf(out, len, "%.*s%s %s", (int)(dashes - cmdline), cmdline,
		 params, dashes);
	return out;
}

char *pvm_effective_cmdline(const struct vm *vm, const char *cmdline)
{
	if (!cmdline)
		cmdline = "";
	if (!vm->host.is_pvm)
		return strdup(cmdline);
	return cmdline_insert_params(cmdline, PVM_KERNEL_PARAMS);
}

enum pvm_insn_fix pvm_classify_insn(const uint8_t *insn, size_t len,
				    unsigned int *insn_len)
{
	if (len >= 1 && insn[0] == 0xcc) {
		*insn_len = 1;
		return PVM_FIX_INT3;
	}
	if (len >= 1 && insn[0] == 0x9b) {
		*insn_len = 1;
		return PVM_FIX_SKIP;
	}
	if (len >= 2 && insn[0] == 0x0f && insn[1] == 0x0b) {
		*insn_len = 2;
		return PVM_FIX_UD2;
	}
	*insn_len = 0;
	return PVM_FIX_NONE;
}

/* Bytes a ModRM (with SIB and displacement) takes, 64-bit addressing. */
static unsigned int modrm_length(const uint8_t *p, size_t len)
{
	unsigned int mod, rm, n = 1;

	if (!len)
		return 0;
	mod = p[0] >> 6;
	rm = p[0] & 7;
	if (mod != 3 && rm == 4) {
		if (len < 2)
			return 0;
		n++;	/* SIB */
		if (mod == 0 && (p[1] & 7) == 5)
			n += 4;
	}
	if (mod == 1)
		n += 1;
	else if (mod == 2 || (mod == 0 && rm == 5))
		n += 4;
	return n <= len ? n : 0;
}

unsigned int pvm_nop_length(const uint8_t *insn, size_t len)
{
	size_t pre = 0;
	unsigned int m;

	if (len >= 4 && insn[0] == 0xf3 && insn[1] == 0x0f && insn[2] == 0x1e &&
	    insn[3] == 0xfa)
		return 4;	/* endbr64 */
	while (pre < len && pre < 4 && insn[pre] == 0x66)
		pre++;
	if (pre < len && insn[pre] == 0x90)
		return pre + 1;
	/* 0f 1f /0: the multi-byte NOP family. */
	if (pre + 2 < len && insn[pre] == 0x0f && insn[pre + 1] == 0x1f &&
	    ((insn[pre + 2] >> 3) & 7) == 0) {
		m = modrm_length(insn + pre + 2, len - pre - 2);
		return m ? pre + 2 + m : 0;
	}
	return 0;
}

static int inject_exception(struct vcpu *vcpu, unsigned int vector)
{
	struct kvm_vcpu_events ev;

	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	ev.exception.injected = 1;
	ev.exception.nr = vector;
	ev.exception.has_error_code = 0;
	ev.exception.error_code = 0;
	ev.flags = 0;
	if (ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}

static uint64_t linear_rip(const struct kvm_regs *regs, const struct kvm_sregs *sregs)
{
	if (sregs->efer & X86_EFER_LMA && sregs->cs.l)
		return regs->rip;
	return (sregs->cs.base + regs->rip) & 0xffffffffULL;
}

enum pvm_action pvm_handle_emulation_failure(struct vcpu *vcpu)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t insn[2] = { 0 };
	unsigned int insn_len;
	enum pvm_insn_fix fix;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return PVM_FAILED;
	if (!vcpu_read_virt(vcpu, &sregs, linear_rip(&regs, &sregs), insn, 1))
		return PVM_NOT_MINE;
	/* Read the second byte separately: it may sit on an unmapped page. */
	vcpu_read_virt(vcpu, &sregs, linear_rip(&regs, &sregs) + 1, insn + 1, 1);
	fix = pvm_classify_insn(insn, sizeof(insn), &insn_len);
	if (fix == PVM_FIX_NONE)
		return PVM_NOT_MINE;
	if (fix == PVM_FIX_INT3 || fix == PVM_FIX_SKIP) {
		regs.rip += insn_len;
		if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
			return PVM_FAILED;
	}
	if (fix == PVM_FIX_INT3 && inject_exception(vcpu, BP_VECTOR))
		return PVM_FAILED;
	if (fix == PVM_FIX_UD2 && inject_exception(vcpu, UD_VECTOR))
		return PVM_FAILED;
	vcpu_stat_inc(vcpu, VCPU_STAT_PVM_ASSIST);
	return PVM_HANDLED;
}

/*
 * Arm DR0 on this vCPU's #PF handler and DR1 on vCPU 0's if it differs,
 * or (singlestep) no breakpoint but a single step, to get past one.
 */
static int set_guest_debug(struct vcpu *vcpu, bool singlestep)
{
	struct kvm_guest_debug dbg = { 0 };
	uint64_t own = vcpu->pvm.pf_handler, shared = vcpu->pvm.shared_handler;

	if (singlestep) {
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
	} else {
		if (own) {
			dbg.arch.debugreg[0] = own;
			dbg.arch.debugreg[7] |= DR7_L0;	/* execute, 1 byte */
		}
		if (shared && shared != own) {
			dbg.arch.debugreg[1] = shared;
			dbg.arch.debugreg[7] |= DR7_L1;
		}
		if (dbg.arch.debugreg[7])
			dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
	}
	if (ioctl(vcpu->fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
		return -errno;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The 64-bit #PF gate's target, or 0 if the IDT has none. */
static uint64_t read_pf_handler(struct vcpu *vcpu, const struct kvm_sregs *sregs)
{
	uint8_t gate[16];

	if (!(sregs->efer & X86_EFER_LMA) ||
	    sregs->idt.limit < PF_VECTOR * 16 + 15)
		return 0;
	if (!vcpu_read_virt(vcpu, sregs, sregs->idt.base + PF_VECTOR * 16,
			    gate, sizeof(gate)))
		return 0;
	if (!(gate[5] & 0x80))	/* not present */
		return 0;
	return (uint64_t)(gate[0] | gate[1] << 8) |
	       (uint64_t)(gate[6] | gate[7] << 8) << 16 |
	       (uint64_t)(gate[8] | gate[9] << 8 | gate[10] << 16 |
			  (uint32_t)gate[11] << 24) << 32;
}

/* vCPU 0's handler moved: have every other vCPU look at once. */
static void recheck_others(struct vm *vm)
{
	unsigned int i;

	for (i = 1; i < vm->nr_vcpus; i++) {
		atomic_store(&vm->vcpus[i].pvm.recheck, true);
		vcpu_kick(&vm->vcpus[i]);
	}
}

int pvm_refresh_breakpoint(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	bool forced = atomic_exchange(&vcpu->pvm.recheck, false);
	struct kvm_sregs sregs;
	uint64_t t = now_ns(), own, shared = 0;

	if (vcpu->pvm.stepping) {
		if (forced)	/* after the step */
			atomic_store(&vcpu->pvm.recheck, true);
		return 0;
	}
	if (!forced && t - vcpu->pvm.last_idt_check_ns < IDT_CHECK_PERIOD_NS)
		return 0;
	vcpu->pvm.last_idt_check_ns = t;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	own = read_pf_handler(vcpu, &sregs);
	if (vcpu->id == 0 && own != atomic_load(&vm->pvm_pf_handler)) {
		atomic_store(&vm->pvm_pf_handler, own);
		recheck_others(vm);
	}
	if (vcpu->id)
		shared = atomic_load(&vm->pvm_pf_handler);
	if (own == vcpu->pvm.pf_handler && shared == vcpu->pvm.shared_handler)
		return 0;
	if (shared && shared != own)
		vm_log(vm, "vcpu%u: #PF handler at %#llx and vCPU 0's at %#llx, "
		       "arming SYSCALL repair", vcpu->id,
		       (unsigned long long)own, (unsigned long long)shared);
	else
		vm_log(vm, "vcpu%u: #PF handler at %#llx, arming SYSCALL repair",
		       vcpu->id, (unsigned long long)own);
	vcpu->pvm.pf_handler = own;
	vcpu->pvm.shared_handler = shared;
	return set_guest_debug(vcpu, false);
}

static int get_msrs(struct vcpu *vcpu, const uint32_t *idx, uint64_t *val,
		    unsigned int n)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[4];
	} m = { .hdr.nmsrs = n };
	unsigned int i;

	for (i = 0; i < n; i++)
		m.e[i].index = idx[i];
	if (ioctl(vcpu->fd, KVM_GET_MSRS, &m) != (int)n)
		return -EIO;
	for (i = 0; i < n; i++)
		val[i] = m.e[i].data;
	return 0;
}

static struct kvm_segment kernel_segment(uint16_t sel, bool code)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel,
		.type = code ? 11 : 3, .present = 1, .dpl = 0, .s = 1,
		.l = code, .db = !code, .g = 1,
	};
}

/*
 * At the #PF handler's first instruction: if the fault is kvm_pvm's broken
 * SYSCALL (a user-mode instruction fetch at LSTAR), turn the vCPU state into
 * the SYSCALL entry the hardware would have made. Returns 1 if repaired.
 */
static int try_repair_syscall(struct vcpu *vcpu)
{
	static const uint32_t msr_idx[3] = { MSR_LSTAR, MSR_STAR, MSR_SYSCALL_MASK };
	uint64_t msr[3], frame[6];	/* error code, rip, cs, rflags, rsp, ss */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint16_t kcs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 ||
	    get_msrs(vcpu, msr_idx, msr, 3) < 0)
		return -EIO;
	if (!vcpu_read_virt(vcpu, &sregs, regs.rsp, frame, sizeof(frame)))
		return 0;
	if ((frame[0] & (PF_ERR_USER | PF_ERR_FETCH)) != (PF_ERR_USER | PF_ERR_FETCH) ||
	    frame[1] != msr[0] || sregs.cr2 != msr[0] || (frame[2] & 3) != 3)
		return 0;
	kcs = (msr[1] >> 32) & 0xfffc;
	regs.rip = msr[0];
	regs.rsp = frame[4];
	regs.rflags = (regs.r11 & ~msr[2]) | 2;
	sregs.cs = kernel_segment(kcs, true);
	sregs.ss = kernel_segment(kcs + 8, false);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -EIO;
	vcpu_stat_inc(vcpu, VCPU_STAT_PVM_SYSCALL);
	return 1;
}

/* Advance RIP past a no-op at RIP. 1 if done, 0 if not a no-op. */
static int skip_nop(struct vcpu *vcpu)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t insn[15];
	unsigned int n;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -EIO;
	if (!vcpu_read_virt(vcpu, &sregs, regs.rip, insn, sizeof(insn)))
		return 0;
	n = pvm_nop_length(insn, sizeof(insn));
	if (!n)
		return 0;
	regs.rip += n;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -EIO;
	return 1;
}

enum pvm_action pvm_handle_debug(struct vcpu *vcpu)
{
	struct kvm_debug_exit_arch *d = &vcpu->run->debug.arch;
	int ret;

	vcpu_stat_inc(vcpu, VCPU_STAT_DEBUG);
	if (vcpu->pvm.stepping) {
		/* Stepped past the handler's first instruction: re-arm. */
		vcpu->pvm.stepping = false;
		return set_guest_debug(vcpu, false) ? PVM_FAILED : PVM_HANDLED;
	}
	if (!d->pc || (d->pc != vcpu->pvm.pf_handler &&
			d->pc != vcpu->pvm.shared_handler))
		return PVM_NOT_MINE;
	ret = try_repair_syscall(vcpu);
	if (ret < 0)
		return PVM_FAILED;
	if (ret > 0)
		return PVM_HANDLED;
	/*
	 * A real page fault: get past the breakpoint (RF is ignored here).
	 * Linux's handler starts with a NOP (patched-out clac) or endbr64:
	 * skip it. Anything else is single-stepped.
	 */
	ret = skip_nop(vcpu);
	if (ret < 0)
		return PVM_FAILED;
	if (ret > 0)
		return PVM_HANDLED;
	vcpu->pvm.stepping = true;
	return set_guest_debug(vcpu, true) ? PVM_FAILED : PVM_HANDLED;
}
