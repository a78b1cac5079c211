// SPDX-License-Identifier: MIT
/*
 * The VM process's main thread: console input, signals, the shutdown
 * timeout and the stop notification, on one epoll loop. vCPUs run on their
 * own threads.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/console.h"
#include "cli/proctitle.h"
#include "vmm/exitcode.h"
#include "vmm/clock.h"
#include "vmm/vm.h"

enum { EV_SIGNAL, EV_STDIN, EV_STOP, EV_TIMER };

/*
 * A second signal this soon after the first is the same request: timeout(1)
 * and group kills deliver SIGTERM to the process and to its group at once.
 */
#define SIGNAL_REPEAT_NS 1000000000ULL

struct run_loop {
	struct vm *vm;
	int epfd, sigfd, timerfd;
	bool stdin_open;
	bool shutting_down;
	uint64_t first_signal_ns;
	struct console_input console;
};

static int watch(struct run_loop *rl, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(rl->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void start_shutdown(struct run_loop *rl, const char *why)
{
	struct vm *vm = rl->vm;
	struct itimerspec its = { .it_value.tv_sec = vm->cfg->shutdown_timeout };

	if (rl->shutting_down || !vm->power_button || !vm->cfg->shutdown_timeout) {
		vm_log(vm, "%s: stopping now", why);
		vm_request_stop(vm, VM_STOP_FORCED, 0);
		return;
	}
	rl->shutting_down = true;
	vm_log(vm, "%s: pressing the ACPI power button; hard stop in %u s",
	       why, vm->cfg->shutdown_timeout);
	vm->power_button(vm->power_button_opaque);
	timerfd_settime(rl->timerfd, 0, &its, NULL);
}

static void on_signal(struct run_loop *rl)
{
	struct signalfd_siginfo si;
	uint64_t now;

	while (read(rl->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGQUIT) {
			vm_request_dump(rl->vm);
			continue;
		}
		now = monotonic_ns();
		if (rl->shutting_down && now - rl->first_signal_ns < SIGNAL_REPEAT_NS)
			continue;
		if (!rl->shutting_down)
			rl->first_signal_ns = now;
		start_shutdown(rl, strsignal(si.ssi_signo));
	}
}

static void on_stdin(struct run_loop *rl)
{
	uint8_t in[256], out[2 * sizeof(in) + 1];
	size_t n_out;
	ssize_t n = read(STDIN_FILENO, in, sizeof(in));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF: the guest just gets no more input. */
		epoll_ctl(rl->epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
		rl->stdin_open = false;
		return;
	}
	if (console_filter(&rl->console, in, n, out, &n_out) == CONSOLE_CMD_QUIT) {
		vm_log(rl->vm, "Ctrl-A x: stopping");
		vm_request_stop(rl->vm, VM_STOP_FORCED, 0);
	}
	if (n_out && rl->vm->console_rx)
		rl->vm->console_rx(rl->vm->console_rx_opaque, out, n_out);
}

static int loop_setup(struct run_loop *rl, struct vm *vm, const sigset_t *sigs)
{
	memset(rl, 0, sizeof(*rl));
	rl->vm = vm;
	rl->epfd = epoll_create1(EPOLL_CLOEXEC);
	rl->sigfd = signalfd(-1, sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	rl->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rl->epfd < 0 || rl->sigfd < 0 || rl->timerfd < 0)
		return -errno;
	if (watch(rl, rl->sigfd, EV_SIGNAL) || watch(rl, vm->stop_efd, EV_STOP) ||
	    watch(rl, rl->timerfd, EV_TIMER))
		return -errno;
	/* stdin may be a file or /dev/null, which epoll refuses: no input. */
	rl->stdin_open = watch(rl, STDIN_FILENO, EV_STDIN) == 0;
	return 0;
}

static void loop_teardown(struct run_loop *rl)
{
	if (rl->epfd >= 0)
		close(rl->epfd);
	if (rl->sigfd >= 0)
		close(rl->sigfd);
	if (rl->timerfd >= 0)
		close(rl->timerfd);
}

static void loop_run(struct run_loop *rl)
{
	struct epoll_event evs[8];
	uint64_t ticks;
	int i, n;

	while (!atomic_load(&rl->vm->stopping)) {
		n = epoll_wait(rl->epfd, evs, 8, -1);
		for (i = 0; i < n; i++) {
			switch (evs[i].data.u64) {
			case EV_SIGNAL:
				on_signal(rl);
				break;
			case EV_STDIN:
				on_stdin(rl);
				break;
			case EV_TIMER:
				if (read(rl->timerfd, &ticks, sizeof(ticks)) > 0) {
					vm_err(rl->vm, "the guest did not power off within %u s; stopping it",
					       rl->vm->cfg->shutdown_timeout);
					vm_request_stop(rl->vm, VM_STOP_FORCED, 0);
				}
				break;
			case EV_STOP:
				break;
			}
		}
	}
}

static int stop_exit_status(const struct vm *vm)
{
	switch (vm->stop_reason) {
	case VM_STOP_POWEROFF:
		return EXIT_POWEROFF;
	case VM_STOP_REBOOT:
		return EXIT_REBOOT;
	case VM_STOP_DEBUG_EXIT:
		return vm->stop_status;
	case VM_STOP_CRASH:
		return EXIT_GUEST_CRASH;
	case VM_STOP_FORCED:
		return EXIT_FORCED_STOP;
	default:
		return EXIT_HOST_ERROR;
	}
}

/* One boot of the VM; *restart tells whether to boot again. */
static int run_once(const struct vm_config *cfg, const sigset_t *sigs,
		    bool *restart)
{
	struct run_loop rl = { .epfd = -1, .sigfd = -1, .timerfd = -1 };
	struct vm *vm = NULL;
	int ret, status;

	*restart = false;
	ret = vm_create(&vm, cfg);
	if (!ret)
		ret = loop_setup(&rl, vm, sigs);
	if (!ret)
		ret = vm_start(vm);
	if (ret) {
		loop_teardown(&rl);
		vm_destroy(vm);
		return ret == -ENOEXEC ? EXIT_USAGE : EXIT_HOST_ERROR;
	}
	loop_run(&rl);
	vm_stop_vcpus(vm);
	status = stop_exit_status(vm);
	if (vm->stop_reason == VM_STOP_REBOOT && cfg->on_reboot == ON_REBOOT_RESTART) {
		vm_log(vm, "guest rebooted: restarting");
		*restart = true;
	}
	vm_log(vm, "stopped, exit status %d", status);
	loop_teardown(&rl);
	if (*restart)
		vm_destroy(vm);
	else
		vm_destroy_detached(vm);
	return status;
}

int cli_run_vm(const struct vm_config *cfg)
{
	char title[96];
	sigset_t sigs;
	bool restart;
	int status;

	snprintf(title, sizeof(title), "skiff: %s", cfg->name);
	proctitle_set(title);
	/* Blocked here, inherited by vCPU threads, read through a signalfd. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);	/* dump vCPU registers */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	console_term_raw();
	do {
		status = run_once(cfg, &sigs, &restart);
	} while (restart);
	console_term_restore();
	return status;
}
