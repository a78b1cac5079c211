// SPDX-License-Identifier: MIT
/*
 * The VM process's main thread: console input, signals, the shutdown
 * timeout and the stop notification, on one epoll loop. vCPUs run on their
 * own threads; the control API on its own (api/), acting on the VM through
 * the controller_ops below with the controller's lock held. Whatever the
 * main thread shares with the API (the VM pointer, the shutdown state) it
 * touches under that lock too.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/controller.h"
#include "api/runtime_dir.h"
#include "cli/cli.h"
#include "cli/console.h"
#include "cli/console_server.h"
#include "cli/proctitle.h"
#include "devices/virtio/virtio_blk.h"
#include "vmm/exitcode.h"
#include "vmm/clock.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

enum { EV_SIGNAL, EV_STDIN, EV_STOP, EV_TIMER, EV_START, EV_METRICS };

/*
 * A second signal this soon after the first is the same request: timeout(1)
 * and group kills deliver SIGTERM to the process and to its group at once.
 */
#define SIGNAL_REPEAT_NS 1000000000ULL
/* How long a pause may take before the API gives up on it. */
#define PAUSE_TIMEOUT_MS 2000

struct run_loop {
	struct vm_config *cfg;
	struct vm *vm;			/* NULL before the start and between boots */
	int epfd, sigfd, timerfd, start_efd;
	int metrics_timerfd;		/* the periodic metrics flush */
	bool stdin_open;
	bool shutting_down;
	uint64_t first_signal_ns;
	struct console_input console;
	struct controller ctl;
	struct api_server *api;
	struct console_server *console_srv;
};

static int watch(struct run_loop *rl, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(rl->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Lock held. */
static void start_shutdown(struct run_loop *rl, const char *why)
{
	struct vm *vm = rl->vm;
	struct itimerspec its = { .it_value.tv_sec = rl->cfg->shutdown_timeout };

	if (!vm)
		return;
	/* A paused guest could not see the button. */
	if (vm_is_paused(vm))
		vm_resume(vm);
	rl->ctl.state = INSTANCE_SHUTTING_DOWN;
	if (rl->shutting_down || !vm->power_button || !rl->cfg->shutdown_timeout) {
		vm_log(vm, "%s: stopping now", why);
		vm_request_stop(vm, VM_STOP_FORCED, 0);
		return;
	}
	rl->shutting_down = true;
	vm_log(vm, "%s: pressing the ACPI power button; hard stop in %u s",
	       why, rl->cfg->shutdown_timeout);
	vm->power_button(vm->power_button_opaque);
	timerfd_settime(rl->timerfd, 0, &its, NULL);
}

static void on_signal(struct run_loop *rl)
{
	struct signalfd_siginfo si;
	uint64_t now;

	while (read(rl->sigfd, &si, sizeof(si)) == sizeof(si)) {
		pthread_mutex_lock(&rl->ctl.lock);
		if (!rl->vm) {
			/* skiff serve before InstanceStart: nothing to shut down. */
			rl->shutting_down = true;
		} else if (si.ssi_signo == SIGQUIT) {
			vm_request_dump(rl->vm);
		} else {
			now = monotonic_ns();
			if (!rl->shutting_down || now - rl->first_signal_ns >= SIGNAL_REPEAT_NS) {
				if (!rl->shutting_down)
					rl->first_signal_ns = now;
				start_shutdown(rl, strsignal(si.ssi_signo));
			}
		}
		pthread_mutex_unlock(&rl->ctl.lock);
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
	if (!rl->vm)
		return;		/* no guest yet */
	if (console_filter(&rl->console, in, n, out, &n_out) == CONSOLE_CMD_LEAVE) {
		vm_log(rl->vm, "Ctrl-A x: stopping");
		vm_request_stop(rl->vm, VM_STOP_FORCED, 0);
	}
	if (n_out && rl->vm->console_rx)
		rl->vm->console_rx(rl->vm->console_rx_opaque, out, n_out);
}

static int loop_setup(struct run_loop *rl, const sigset_t *sigs)
{
	rl->epfd = epoll_create1(EPOLL_CLOEXEC);
	rl->sigfd = signalfd(-1, sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	rl->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	rl->start_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rl->metrics_timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rl->epfd < 0 || rl->sigfd < 0 || rl->timerfd < 0 || rl->start_efd < 0 ||
	    rl->metrics_timerfd < 0)
		return -errno;
	if (watch(rl, rl->sigfd, EV_SIGNAL) || watch(rl, rl->timerfd, EV_TIMER) ||
	    watch(rl, rl->start_efd, EV_START) || watch(rl, rl->metrics_timerfd, EV_METRICS))
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
	if (rl->start_efd >= 0)
		close(rl->start_efd);
	if (rl->metrics_timerfd >= 0)
		close(rl->metrics_timerfd);
}

static void on_timer(struct run_loop *rl)
{
	uint64_t ticks;

	if (read(rl->timerfd, &ticks, sizeof(ticks)) <= 0)
		return;
	pthread_mutex_lock(&rl->ctl.lock);
	if (rl->vm) {
		vm_err(rl->vm, "the guest did not power off within %u s; stopping it",
		       rl->cfg->shutdown_timeout);
		vm_request_stop(rl->vm, VM_STOP_FORCED, 0);
	}
	pthread_mutex_unlock(&rl->ctl.lock);
}

/*
 * Metrics go to metrics_path every flush_interval_s (Firecracker: every
 * 60 s) while a VM runs, and once more when it stops.
 */
static void arm_metrics(struct run_loop *rl, bool on)
{
	unsigned int secs = rl->cfg->metrics_interval_s ? rl->cfg->metrics_interval_s : 60;
	struct itimerspec its = { 0 };

	if (on && rl->cfg->metrics_path)
		its.it_value.tv_sec = its.it_interval.tv_sec = secs;
	timerfd_settime(rl->metrics_timerfd, 0, &its, NULL);
}

static void flush_metrics(struct run_loop *rl, const struct vm *vm)
{
	char err[256];

	if (rl->cfg->metrics_path &&
	    controller_flush_metrics(&rl->ctl, err, sizeof(err)) < 0)
		vm_log(vm, "metrics: %s", err);
}

static void on_metrics_timer(struct run_loop *rl)
{
	uint64_t ticks;

	/* rl->vm changes on this thread only. */
	if (read(rl->metrics_timerfd, &ticks, sizeof(ticks)) <= 0 || !rl->vm)
		return;
	flush_metrics(rl, rl->vm);
}

/* Until done() says so: the VM stopped, or a serve-mode start or signal. */
static void loop_run(struct run_loop *rl, bool (*done)(struct run_loop *rl))
{
	struct epoll_event evs[8];
	uint64_t junk;
	int i, n;

	while (!done(rl)) {
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
				on_timer(rl);
				break;
			case EV_METRICS:
				on_metrics_timer(rl);
				break;
			case EV_START:
				if (read(rl->start_efd, &junk, sizeof(junk)) < 0)
					break;
				break;
			case EV_STOP:
				break;
			}
		}
	}
}

static bool vm_stopped(struct run_loop *rl)
{
	return atomic_load(&rl->vm->stopping);
}

static bool started_or_signalled(struct run_loop *rl)
{
	bool done;

	pthread_mutex_lock(&rl->ctl.lock);
	done = rl->vm || rl->shutting_down;
	pthread_mutex_unlock(&rl->ctl.lock);
	return done;
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

/* Build and start a VM from rl->cfg; lock held. 0 or an exit status. */
static int boot_vm(struct run_loop *rl)
{
	struct vm *vm = NULL;
	int ret;

	ret = vm_create(&vm, rl->cfg);
	if (!ret)
		ret = watch(rl, vm->stop_efd, EV_STOP) ? -errno : 0;
	if (!ret)
		ret = vm_start(vm);
	if (ret) {
		if (vm && vm->stop_efd >= 0)
			epoll_ctl(rl->epfd, EPOLL_CTL_DEL, vm->stop_efd, NULL);
		vm_destroy(vm);
		return ret == -ENOEXEC ? EXIT_USAGE : EXIT_HOST_ERROR;
	}
	rl->vm = vm;
	rl->shutting_down = false;
	rl->ctl.state = INSTANCE_RUNNING;
	arm_metrics(rl, true);
	return 0;
}

/* The VM stopped: its exit status; *restart when it should boot again. */
static int retire_vm(struct run_loop *rl, bool *restart)
{
	struct itimerspec off = { 0 };
	struct vm *vm;
	int status;

	vm_stop_vcpus(rl->vm);
	arm_metrics(rl, false);
	flush_metrics(rl, rl->vm);	/* the last counts */
	pthread_mutex_lock(&rl->ctl.lock);
	vm = rl->vm;
	rl->vm = NULL;
	pthread_mutex_unlock(&rl->ctl.lock);
	status = stop_exit_status(vm);
	*restart = vm->stop_reason == VM_STOP_REBOOT && rl->cfg->on_reboot == ON_REBOOT_RESTART;
	if (*restart)
		vm_log(vm, "guest rebooted: restarting");
	vm_log(vm, "stopped, exit status %d", status);
	epoll_ctl(rl->epfd, EPOLL_CTL_DEL, vm->stop_efd, NULL);
	timerfd_settime(rl->timerfd, 0, &off, NULL);
	if (*restart)
		vm_destroy(vm);
	else
		vm_destroy_detached(vm);
	return status;
}

/*
 * The logger resource (API or config file): skiff's messages go to its
 * log_path, and Debug/Trace/Info make them verbose, as Firecracker's
 * logger does. Without a log_path, stderr and -v decide.
 */
static int apply_logger(struct vm_config *cfg, char *err, size_t errlen)
{
	int fd, flags;

	if (!cfg->log_path)
		return 0;
	/* Non-blocking open: a FIFO without a reader must not hang us. */
	fd = open(cfg->log_path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "logger: %s: %s", cfg->log_path, strerror(errno));
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	if (dup2(fd, STDERR_FILENO) < 0) {
		snprintf(err, errlen, "logger: %s: %s", cfg->log_path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (cfg->log_level >= LOG_LEVEL_INFO)
		cfg->verbose = true;
	return 0;
}

/* ---- The controller's operations (API thread, controller lock held) ---- */

static int op_start(void *opaque, char *err, size_t errlen)
{
	struct run_loop *rl = opaque;
	uint64_t one = 1;
	int status;

	if (apply_logger(rl->cfg, err, errlen) < 0)
		return -1;
	status = boot_vm(rl);

	if (status) {
		snprintf(err, errlen, "%s (the log says more)", status == EXIT_USAGE ?
			 "an input file was refused" : "the VM could not be built");
		return -1;
	}
	if (write(rl->start_efd, &one, sizeof(one)) < 0)
		return 0;	/* only overflow: the loop is awake anyway */
	return 0;
}

static int need_vm(struct run_loop *rl, char *err, size_t errlen)
{
	if (rl->vm && !atomic_load(&rl->vm->stopping))
		return 0;
	snprintf(err, errlen, "the VM is not running");
	return -1;
}

static int op_pause(void *opaque, char *err, size_t errlen)
{
	struct run_loop *rl = opaque;
	int ret;

	if (need_vm(rl, err, errlen))
		return -1;
	ret = vm_pause(rl->vm, PAUSE_TIMEOUT_MS);
	if (!ret) {
		vm_log(rl->vm, "paused");
		return 0;
	}
	vm_resume(rl->vm);
	snprintf(err, errlen, "the vCPUs did not stop: %s", strerror(-ret));
	return -1;
}

static int op_resume(void *opaque, char *err, size_t errlen)
{
	struct run_loop *rl = opaque;

	if (need_vm(rl, err, errlen))
		return -1;
	vm_resume(rl->vm);
	vm_log(rl->vm, "resumed");
	return 0;
}

static int op_shutdown(void *opaque, char *err, size_t errlen)
{
	struct run_loop *rl = opaque;

	if (need_vm(rl, err, errlen))
		return -1;
	start_shutdown(rl, "API Shutdown");
	return 0;
}

static int op_kill(void *opaque, char *err, size_t errlen)
{
	struct run_loop *rl = opaque;

	if (need_vm(rl, err, errlen))
		return -1;
	vm_log(rl->vm, "API Kill: stopping now");
	rl->ctl.state = INSTANCE_SHUTTING_DOWN;
	vm_request_stop(rl->vm, VM_STOP_FORCED, 0);
	return 0;
}

static int op_ctrl_alt_del(void *opaque, char *err, size_t errlen)
{
	struct run_loop *rl = opaque;

	if (need_vm(rl, err, errlen))
		return -1;
	if (!rl->vm->ctrl_alt_del) {
		snprintf(err, errlen, "this VM has no keyboard");
		return -1;
	}
	if (rl->vm->ctrl_alt_del(rl->vm->ctrl_alt_del_opaque) < 0) {
		snprintf(err, errlen, "the guest has not turned its keyboard on (no "
			 "PS/2 keyboard driver?); \"Shutdown\" presses the ACPI power button");
		return -1;
	}
	vm_log(rl->vm, "API SendCtrlAltDel: typed Ctrl-Alt-Del");
	return 0;
}

static int op_swap_drive(void *opaque, unsigned int idx, const char *path,
			 char *err, size_t errlen)
{
	struct run_loop *rl = opaque;
	char *copy;

	if (need_vm(rl, err, errlen))
		return -1;
	copy = strdup(path);
	if (!copy || virtio_blk_swap(rl->vm, idx, path, err, errlen) < 0) {
		if (!copy)
			snprintf(err, errlen, "out of memory");
		free(copy);
		return -1;
	}
	free(rl->cfg->disks[idx].path);
	rl->cfg->disks[idx].path = copy;
	return 0;
}

static void emit_metric(void *ctx, const char *key, uint64_t value)
{
	json_object_set_new(ctx, key, json_integer((json_int_t)value));
}

static void op_metrics(void *opaque, json_t *out)
{
	struct run_loop *rl = opaque;
	json_t *vcpus = json_array(), *devices = json_array();
	unsigned int i, s;

	for (i = 0; rl->vm && i < rl->vm->nr_vcpus; i++) {
		json_t *exits = json_object();
		uint64_t total = 0, v;

		for (s = 0; s < VCPU_STAT_NR; s++) {
			v = vcpu_stat_read(&rl->vm->vcpus[i], s);
			json_object_set_new(exits, vcpu_stat_names[s], json_integer((json_int_t)v));
			if (s == VCPU_STAT_IO || s == VCPU_STAT_MMIO)
				total += v;
		}
		json_array_append_new(vcpus, json_pack("{s:I, s:o, s:I}", "id", (json_int_t)i,
						       "exits", exits, "exits_total",
						       (json_int_t)total));
	}
	for (struct vm_device *d = rl->vm ? rl->vm->devices : NULL; d; d = d->next) {
		json_t *dev;

		if (!d->metrics)
			continue;
		dev = json_pack("{s:s, s:s}", "name", d->name, "kind", d->kind);
		d->metrics(d->state, emit_metric, dev);
		/* The list is newest first: keep the creation order. */
		json_array_insert_new(devices, 0, dev);
	}
	json_object_set_new(out, "vcpus", vcpus);
	json_object_set_new(out, "devices", devices);
}

static const struct controller_ops run_ops = {
	.start = op_start,
	.pause = op_pause,
	.resume = op_resume,
	.shutdown = op_shutdown,
	.kill = op_kill,
	.ctrl_alt_del = op_ctrl_alt_del,
	.swap_drive = op_swap_drive,
	.metrics = op_metrics,
};

/* ---- The process ---- */

static int start_api(struct run_loop *rl, const struct run_opts *o)
{
	char path[256], err[512];
	int ret;

	if (o->api_sock && !strcmp(o->api_sock, "none"))
		return 0;
	if (o->api_sock) {
		snprintf(path, sizeof(path), "%s", o->api_sock);
	} else if ((ret = skiff_vm_path(path, sizeof(path), rl->cfg->name, ".sock"))) {
		fprintf(stderr, "skiff: --api-sock: no runtime directory for the "
			"default socket: %s\n", strerror(-ret));
		return EXIT_USAGE;
	}
	ret = api_server_start(&rl->api, path, controller_handle, &rl->ctl, err, sizeof(err));
	if (!ret)
		return 0;
	if (ret == -EADDRINUSE && !o->api_sock)
		fprintf(stderr, "skiff: --name %s: a VM of that name is already running "
			"(see skiff ls)\n", rl->cfg->name);
	else
		fprintf(stderr, "skiff: --api-sock: %s\n", err);
	return EXIT_USAGE;
}

/* Console socket input (its thread): to the guest, raw. */
static void console_socket_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct run_loop *rl = opaque;

	pthread_mutex_lock(&rl->ctl.lock);
	if (rl->vm && rl->vm->console_rx)
		rl->vm->console_rx(rl->vm->console_rx_opaque, buf, len);
	pthread_mutex_unlock(&rl->ctl.lock);
}

static int start_console_server(struct run_loop *rl, const struct run_opts *o)
{
	char err[512];

	if (!o->console_sock)
		return 0;
	if (!console_server_start(&rl->console_srv, o->console_sock, o->console_rd,
				  console_socket_input, rl, err, sizeof(err)))
		return 0;
	fprintf(stderr, "skiff: console socket: %s\n", err);
	return EXIT_HOST_ERROR;
}

static void say_ready(const struct run_opts *o)
{
	if (!o->has_ready_fd)
		return;
	if (write(o->ready_fd, "R", 1) < 0)
		fprintf(stderr, "skiff: telling the parent the VM runs: %s\n", strerror(errno));
	close(o->ready_fd);
}

static int run_vm_loop(struct run_loop *rl)
{
	bool restart;
	int status;

	do {
		loop_run(rl, vm_stopped);
		status = retire_vm(rl, &restart);
		if (!restart)
			break;
		pthread_mutex_lock(&rl->ctl.lock);
		if (rl->shutting_down)
			restart = false;	/* asked to stop: a reboot now ends it */
		else
			status = boot_vm(rl);
		pthread_mutex_unlock(&rl->ctl.lock);
	} while (restart && !status);
	return status;
}

int cli_run_vm(struct vm_config *cfg, const struct run_opts *o)
{
	struct run_loop rl = { .cfg = cfg, .epfd = -1, .sigfd = -1, .timerfd = -1,
			       .start_efd = -1, .metrics_timerfd = -1,
			       .console = CONSOLE_INPUT_RUN };
	char title[96];
	sigset_t sigs;
	int status;

	snprintf(title, sizeof(title), "skiff: %s", cfg->name);
	proctitle_set(title);
	/* Blocked here, inherited by every thread, read through a signalfd. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);	/* dump vCPU registers */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	controller_init(&rl.ctl, cfg, INSTANCE_NOT_STARTED, &run_ops, &rl);
	if (loop_setup(&rl, &sigs)) {
		fprintf(stderr, "skiff: %s\n", strerror(errno));
		status = EXIT_HOST_ERROR;
		goto out;
	}
	status = start_api(&rl, o);
	if (!status)
		status = start_console_server(&rl, o);
	if (status)
		goto out;
	console_term_raw();
	if (o->serve) {
		say_ready(o);
		loop_run(&rl, started_or_signalled);
		status = rl.vm ? run_vm_loop(&rl) : 0;
	} else {
		char err[512];

		if (apply_logger(cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "skiff: --config-file: %s\n", err);
			status = EXIT_USAGE;
			goto restore;
		}
		pthread_mutex_lock(&rl.ctl.lock);
		status = boot_vm(&rl);
		pthread_mutex_unlock(&rl.ctl.lock);
		if (!status) {
			say_ready(o);
			status = run_vm_loop(&rl);
		}
	}
restore:
	console_term_restore();
out:
	api_server_stop(rl.api);
	console_server_stop(rl.console_srv);
	loop_teardown(&rl);
	controller_destroy(&rl.ctl);
	return status;
}
