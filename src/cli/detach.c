// SPDX-License-Identifier: MIT
/*
 * skiff run --detach: the VM process goes to the background in a session
 * of its own, with its log in <runtime dir>/NAME.log and its console on
 * NAME.console. The parent returns once the VM runs (or says why it did
 * not), so `skiff run --detach && skiff ls` always shows the VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/runtime_dir.h"
#include "cli/cli.h"
#include "vmm/exitcode.h"

/* How long the parent waits for the VM to come up. */
#define DETACH_START_TIMEOUT_MS 30000
#define CONSOLE_PIPE_SIZE (1 << 20)

struct detach_paths {
	char sock[256], console[256], log[256];
};

static int make_paths(const struct vm_config *cfg, struct detach_paths *p)
{
	int ret = skiff_vm_path(p->console, sizeof(p->console), cfg->name, SKIFF_CONSOLE_SUFFIX);

	if (!ret)
		ret = skiff_vm_path(p->log, sizeof(p->log), cfg->name, SKIFF_LOG_SUFFIX);
	if (!ret)
		ret = skiff_vm_path(p->sock, sizeof(p->sock), cfg->name, SKIFF_SOCK_SUFFIX);
	if (ret)
		fprintf(stderr, "skiff run --detach: no runtime directory: %s\n", strerror(-ret));
	return ret;
}

/* A live API socket under the name: another VM has it. */
static bool name_taken(const char *sock)
{
	int fd = skiff_socket_connect(sock, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* In the child: stdio to the log and the console pipe, then run the VM. */
static int run_child(struct vm_config *cfg, struct run_opts *o, const struct detach_paths *p)
{
	int cons[2], log_fd, null_fd;

	setsid();
	log_fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (log_fd < 0 || null_fd < 0 || pipe2(cons, O_CLOEXEC) < 0)
		return EXIT_HOST_ERROR;
	/* Output is dropped rather than a vCPU blocked when no one reads. */
	fcntl(cons[0], F_SETPIPE_SZ, CONSOLE_PIPE_SIZE);
	fcntl(cons[0], F_SETFL, O_NONBLOCK);
	if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(cons[1], STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0)
		return EXIT_HOST_ERROR;
	close(cons[1]);
	close(log_fd);
	close(null_fd);
	/* The log is where a detached VM's story is told: all of it. */
	cfg->verbose = true;
	o->detach = false;
	o->console_sock = p->console;
	o->console_rd = cons[0];
	return cli_run_vm(cfg, o);
}

/* The last lines of the log, for a VM that did not start. */
static void show_log_tail(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (lseek(fd, 0, SEEK_END) > (off_t)sizeof(buf) - 1)
		lseek(fd, -(off_t)sizeof(buf) + 1, SEEK_END);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0)
		fprintf(stderr, "%.*s", (int)n, buf);
}

static int wait_ready(int fd, pid_t pid, const struct vm_config *cfg,
		      const struct detach_paths *p)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char byte;
	int status;

	if (poll(&pfd, 1, DETACH_START_TIMEOUT_MS) > 0 && read(fd, &byte, 1) == 1) {
		printf("%s\n", cfg->name);
		return 0;
	}
	/* EOF: the VM process ended; or it is too slow: say so and leave it. */
	if (waitpid(pid, &status, WNOHANG) == pid) {
		fprintf(stderr, "skiff run --detach: the VM did not start (exit %d); "
			"from its log %s:\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
			WTERMSIG(status), p->log);
		show_log_tail(p->log);
		return WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) :
								  EXIT_HOST_ERROR;
	}
	fprintf(stderr, "skiff run --detach: %s (pid %d) is not up after %d s; "
		"see %s\n", cfg->name, (int)pid, DETACH_START_TIMEOUT_MS / 1000, p->log);
	return EXIT_HOST_ERROR;
}

int cli_run_detached(struct vm_config *cfg, const struct run_opts *o)
{
	struct detach_paths p;
	struct run_opts child = *o;
	int ready[2];
	pid_t pid;

	if (make_paths(cfg, &p))
		return EXIT_USAGE;
	if (!o->api_sock && name_taken(p.sock)) {
		fprintf(stderr, "skiff run: --name %s: a VM of that name is already running "
			"(see skiff ls)\n", cfg->name);
		return EXIT_USAGE;
	}
	if (o->api_sock && !strcmp(o->api_sock, "none")) {
		fprintf(stderr, "skiff run: --detach: needs the control API (not --api-sock none)\n");
		return EXIT_USAGE;
	}
	if (pipe2(ready, O_CLOEXEC) < 0) {
		perror("skiff run --detach: pipe");
		return EXIT_HOST_ERROR;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("skiff run --detach: fork");
		return EXIT_HOST_ERROR;
	}
	if (pid == 0) {
		close(ready[0]);
		child.has_ready_fd = true;
		child.ready_fd = ready[1];
		_exit(run_child(cfg, &child, &p));
	}
	close(ready[1]);
	pid = wait_ready(ready[0], pid, cfg, &p);
	close(ready[0]);
	return pid;
}
