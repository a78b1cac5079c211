// SPDX-License-Identifier: MIT
/*
 * The toolstack commands against fake VMs: threads serving the control API
 * (GET /, GET /metrics, PATCH /vm, PUT /actions) and console sockets in a
 * runtime directory of our own (SKIFF_RUNTIME_DIR). Commands run through
 * toolstack_main() with stdout and stderr captured in files, and stdin a
 * socket the test types into.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/runtime_dir.h"
#include "cli/toolstack.h"
#include "vmm/exitcode.h"

#define MAX_VMS 4

/* A fake VM: its API server, and a console server when it is "detached". */
struct fake_vm {
	char name[32];
	char sock[160];
	char console[160];
	int lfd, console_lfd;
	int stop[2];
	pthread_t thread, console_thread;
	bool has_console_thread;
	pthread_mutex_t lock;
	/* Under lock: */
	int pid, vcpus, mem_mib;
	const char *state;		/* Firecracker's, for GET / */
	long uptime_ms, cpu_ms;		/* at the first /metrics */
	long exits, disk_r, net_tx;	/* at the first /metrics */
	long exits_step, cpu_step, disk_step, net_step;	/* added by each /metrics */
	unsigned int metrics_calls;
	int patch_status;		/* answer to PATCH /vm */
	const char *patch_body;
	bool vanish_on_action;		/* PUT /actions ends the VM */
	char last_method[16], last_path[64], last_body[256];
	/* Console: what the client sent, and what to send it. */
	const char *console_greeting;
	bool console_close_after_greeting;
	size_t console_close_after;	/* hang up once this many bytes came (0: never) */
	char console_got[256];
	size_t console_got_len;
};

struct fixture {
	char dir[64];
	struct fake_vm vms[MAX_VMS];
	unsigned int nr_vms;
};

/* ---- fake API server ---- */

/* False when told to stop, or after timeout_ms (-1: none). */
static bool wait_readable_for(int fd, int stop_fd, int timeout_ms)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
				 { .fd = stop_fd, .events = POLLIN } };
	int ret;

	while ((ret = poll(pfd, 2, timeout_ms)) < 0)
		;
	return ret > 0 && !pfd[1].revents;
}

static bool wait_readable(int fd, int stop_fd)
{
	return wait_readable_for(fd, stop_fd, -1);
}

static void send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		buf += n;
		len -= n;
	}
}

static void reply(int fd, int status, const char *body)
{
	char head[256];

	snprintf(head, sizeof(head), "HTTP/1.1 %d Whatever\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n", status, body ? strlen(body) : 0);
	send_all(fd, head, strlen(head));
	if (body)
		send_all(fd, body, strlen(body));
}

static char *metrics_json(struct fake_vm *vm)
{
	unsigned int n = vm->metrics_calls++;
	json_t *doc = json_pack(
		"{s:{s:s, s:i, s:s, s:i, s:i, s:I, s:I},"
		" s:[{s:i, s:{s:I, s:i}, s:I}, {s:i, s:{s:i, s:i}}],"
		" s:[{s:s, s:s, s:I, s:i, s:i, s:i, s:i},"
		"    {s:s, s:s, s:i, s:I, s:i, s:i, s:s},"
		"    {s:s, s:s}]}",
		"vmm", "name", vm->name, "pid", vm->pid, "state",
		strcmp(vm->state, "Paused") ? "running" : "paused",
		"vcpu_count", vm->vcpus, "mem_size_mib", vm->mem_mib,
		"uptime_ms", (json_int_t)(vm->uptime_ms + 100 * n),
		"cpu_time_ms", (json_int_t)(vm->cpu_ms + vm->cpu_step * n),
		"vcpus",
		"id", 0, "exits", "io", (json_int_t)(vm->exits + vm->exits_step * n), "mmio", 0,
		"exits_total", (json_int_t)(vm->exits + vm->exits_step * n),
		/* A vCPU without exits_total: its exits are summed. */
		"id", 1, "exits", "hlt", 5, "io", 2,
		"devices",
		"name", "virtio-blk0", "kind", "block",
		"read_bytes", (json_int_t)(vm->disk_r + vm->disk_step * n), "write_bytes", 0,
		"read_requests", 1, "write_requests", 0, "flushes", 7,
		"name", "virtio-net0", "kind", "net", "rx_bytes", 0,
		"tx_bytes", (json_int_t)(vm->net_tx + vm->net_step * n),
		"rx_packets", 0, "tx_packets", 0, "unknown_counter", "tolerated",
		"name", "virtio-rng0", "kind", "rng");
	char *s = json_dumps(doc, 0);

	json_decref(doc);
	return s;
}

/* Parse "METHOD PATH HTTP/1.1" and the body of one request. */
static bool read_request(struct fake_vm *vm, int fd, char *method, char *path, char *body,
			 size_t body_size)
{
	char buf[4096], *end, *cl;
	size_t len = 0, want;
	ssize_t n;

	for (;;) {
		if (!wait_readable(fd, vm->stop[0]))
			return false;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return false;
		len += n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		cl = strcasestr(buf, "\r\nContent-Length:");
		want = end + 4 - buf + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
		if (len >= want)
			break;
	}
	if (sscanf(buf, "%15s %63s", method, path) != 2)
		return false;
	snprintf(body, body_size, "%s", end + 4);
	return true;
}

/* Serve one request; false when the VM is to vanish afterwards. */
static bool serve(struct fake_vm *vm, int fd)
{
	char method[16], path[64], body[256], instance[256], *doc;
	bool vanish = false;

	if (!read_request(vm, fd, method, path, body, sizeof(body)))
		return true;
	pthread_mutex_lock(&vm->lock);
	snprintf(vm->last_method, sizeof(vm->last_method), "%s", method);
	snprintf(vm->last_path, sizeof(vm->last_path), "%s", path);
	snprintf(vm->last_body, sizeof(vm->last_body), "%s", body);
	if (!strcmp(method, "GET") && !strcmp(path, "/")) {
		snprintf(instance, sizeof(instance), "{\"app_name\":\"skiff\",\"id\":\"%s\","
			 "\"state\":\"%s\",\"vmm_version\":\"0.9\"}", vm->name, vm->state);
		reply(fd, 200, instance);
	} else if (!strcmp(method, "GET") && !strcmp(path, "/metrics")) {
		doc = metrics_json(vm);
		reply(fd, 200, doc);
		free(doc);
	} else if (!strcmp(method, "GET") && !strcmp(path, "/vm/config")) {
		reply(fd, 200, "{\"machine-config\":{\"vcpu_count\":2}}");
	} else if (!strcmp(method, "PATCH") && !strcmp(path, "/vm")) {
		reply(fd, vm->patch_status, vm->patch_body);
	} else if (!strcmp(method, "PUT") && !strcmp(path, "/actions")) {
		reply(fd, 204, NULL);
		vanish = vm->vanish_on_action;
	} else {
		reply(fd, 404, "{\"fault_message\":\"no such resource\"}");
	}
	pthread_mutex_unlock(&vm->lock);
	return !vanish;
}

static void *api_thread(void *arg)
{
	struct fake_vm *vm = arg;
	bool alive = true;
	int fd;

	while (alive && wait_readable(vm->lfd, vm->stop[0])) {
		fd = accept4(vm->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		alive = serve(vm, fd);
		close(fd);
	}
	if (!alive) {
		/* As a VM that powered off: its server removes the socket. */
		unlink(vm->sock);
		close(vm->lfd);
		vm->lfd = -1;
	}
	return NULL;
}

/* ---- fake console ---- */

static void *console_thread(void *arg)
{
	struct fake_vm *vm = arg;
	char buf[256];
	ssize_t n;
	int fd;

	if (!wait_readable(vm->console_lfd, vm->stop[0]))
		return NULL;
	fd = accept4(vm->console_lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	send_all(fd, vm->console_greeting, strlen(vm->console_greeting));
	/* Hang up after 10 s of silence: a broken client fails, not hangs, the test. */
	while (!vm->console_close_after_greeting && wait_readable_for(fd, vm->stop[0], 10000)) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		pthread_mutex_lock(&vm->lock);
		if (vm->console_got_len + n < sizeof(vm->console_got)) {
			memcpy(vm->console_got + vm->console_got_len, buf, n);
			vm->console_got_len += n;
		}
		n = vm->console_close_after && vm->console_got_len >= vm->console_close_after;
		pthread_mutex_unlock(&vm->lock);
		if (n)
			break;
	}
	close(fd);
	return NULL;
}

static size_t console_got(struct fake_vm *vm, char *out, size_t len)
{
	size_t n;

	pthread_mutex_lock(&vm->lock);
	n = vm->console_got_len < len ? vm->console_got_len : len;
	memcpy(out, vm->console_got, n);
	pthread_mutex_unlock(&vm->lock);
	return n;
}

/* ---- fixture ---- */

static int bind_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static struct fake_vm *add_vm(struct fixture *fx, const char *name, int pid)
{
	struct fake_vm *vm = &fx->vms[fx->nr_vms++];
	char dir[sizeof(fx->dir)];

	memcpy(dir, fx->dir, sizeof(dir));	/* not aliasing vm's strings, for gcc */
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	snprintf(vm->sock, sizeof(vm->sock), "%s/%s.sock", dir, name);
	snprintf(vm->console, sizeof(vm->console), "%s/%s.console", dir, name);
	vm->pid = pid;
	vm->vcpus = 2;
	vm->mem_mib = 256;
	vm->state = "Running";
	vm->uptime_ms = 10000;
	vm->cpu_ms = 2500;
	vm->patch_status = 204;
	vm->console_lfd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	assert_int_equal(pipe(vm->stop), 0);
	vm->lfd = bind_unix(vm->sock);
	assert_int_equal(listen(vm->lfd, 8), 0);
	assert_int_equal(pthread_create(&vm->thread, NULL, api_thread, vm), 0);
	return vm;
}

static void add_console(struct fake_vm *vm, const char *greeting, bool close_after)
{
	vm->console_greeting = greeting;
	vm->console_close_after_greeting = close_after;
	vm->console_lfd = bind_unix(vm->console);
	assert_int_equal(listen(vm->console_lfd, 1), 0);
	assert_int_equal(pthread_create(&vm->console_thread, NULL, console_thread, vm), 0);
	vm->has_console_thread = true;
}

static void stop_vm(struct fake_vm *vm)
{
	assert_int_equal(write(vm->stop[1], "x", 1), 1);
	pthread_join(vm->thread, NULL);
	if (vm->has_console_thread)
		pthread_join(vm->console_thread, NULL);
	if (vm->lfd >= 0)
		close(vm->lfd);
	if (vm->console_lfd >= 0)
		close(vm->console_lfd);
	close(vm->stop[0]);
	close(vm->stop[1]);
	pthread_mutex_destroy(&vm->lock);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/skiff-ts-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	setenv("SKIFF_RUNTIME_DIR", fx->dir, 1);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];
	unsigned int i;

	for (i = 0; i < fx->nr_vms; i++)
		stop_vm(&fx->vms[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd))
		return -1;
	unsetenv("SKIFF_RUNTIME_DIR");
	free(fx);
	return 0;
}

/* ---- running a command ---- */

struct run {
	int status;
	bool handled;
	char *out, *err;	/* what it printed, malloc'd */
};

static char *slurp(FILE *f)
{
	long len;
	char *buf;

	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, len, f), (size_t)len);
	fclose(f);
	return buf;
}

/* Run `skiff argv...` with stdout and stderr in files; stdin_fd replaces stdin if >= 0. */
static struct run run_argv(int stdin_fd, char **argv)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int saved_out, saved_err, saved_in = -1, argc = 0;
	struct run r;

	assert_non_null(out);
	assert_non_null(err);
	while (argv[argc])
		argc++;
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	dup2(fileno(out), STDOUT_FILENO);
	dup2(fileno(err), STDERR_FILENO);
	if (stdin_fd >= 0) {
		saved_in = dup(STDIN_FILENO);
		dup2(stdin_fd, STDIN_FILENO);
	}
	r.status = toolstack_main(argc, argv, &r.handled);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	if (saved_in >= 0) {
		dup2(saved_in, STDIN_FILENO);
		close(saved_in);
	}
	r.out = slurp(out);
	r.err = slurp(err);
	return r;
}

static struct run run_cmd(const char *first, ...)
{
	char *argv[16] = { (char *)first };
	int argc = 1;
	va_list ap;

	va_start(ap, first);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return run_argv(-1, argv);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st);
}

/* ---- tests ---- */

static void test_not_a_toolstack_command(void **state)
{
	char *argv[] = { "run", "--help", NULL };
	bool handled = true;

	(void)state;
	assert_int_equal(toolstack_main(2, argv, &handled), 0);
	assert_false(handled);
}

static void test_runtime_dir(void **state)
{
	struct fixture *fx = *state;
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char *saved_xdg = xdg ? strdup(xdg) : NULL;
	char buf[256], expect[256], tiny[16];
	struct stat st;

	assert_int_equal(skiff_runtime_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, fx->dir);
	assert_int_equal(skiff_vm_path(buf, sizeof(buf), "web1", SKIFF_SOCK_SUFFIX), 0);
	snprintf(expect, sizeof(expect), "%s/web1.sock", fx->dir);
	assert_string_equal(buf, expect);
	assert_int_equal(skiff_vm_path(tiny, sizeof(tiny), "web1", ".console"), -ENAMETOOLONG);
	assert_int_equal(skiff_vm_path(buf, sizeof(buf), "a/b", ".sock"), -EINVAL);
	assert_int_equal(skiff_vm_path(buf, sizeof(buf), "", ".sock"), -EINVAL);

	/* $XDG_RUNTIME_DIR/skiff, created private with its parents. */
	unsetenv("SKIFF_RUNTIME_DIR");
	snprintf(expect, sizeof(expect), "%s/xdg/run", fx->dir);
	setenv("XDG_RUNTIME_DIR", expect, 1);
	strcat(expect, "/skiff");
	assert_int_equal(skiff_runtime_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, expect);
	assert_int_equal(stat(expect, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);
	if (saved_xdg)
		setenv("XDG_RUNTIME_DIR", saved_xdg, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(saved_xdg);
	setenv("SKIFF_RUNTIME_DIR", fx->dir, 1);
}

static void test_ls_json(void **state)
{
	struct fixture *fx = *state;
	char stale[160], stale_console[160], junk[160];
	const char *names[] = { "db", "web1", "web2" };
	json_t *list, *vm;
	struct run r;
	size_t i;
	int fd;

	add_vm(fx, "web2", 302)->state = "Paused";
	add_vm(fx, "web1", 301);
	add_vm(fx, "db", 300)->cpu_ms = 0;
	/* Left behind by a VM that died with kill -9: sockets nobody listens on. */
	snprintf(stale, sizeof(stale), "%s/dead.sock", fx->dir);
	snprintf(stale_console, sizeof(stale_console), "%s/dead.console", fx->dir);
	close(bind_unix(stale));
	close(bind_unix(stale_console));
	/* Not a socket: not a VM, and not ours to delete. */
	snprintf(junk, sizeof(junk), "%s/junk.sock", fx->dir);
	fd = open(junk, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);

	r = run_cmd("ls", "--json", NULL);
	assert_true(r.handled);
	assert_int_equal(r.status, 0);
	list = json_loads(r.out, 0, NULL);
	if (!json_is_array(list))
		fail_msg("not a JSON array: %s", r.out);
	assert_int_equal(json_array_size(list), 3);
	json_array_foreach(list, i, vm)
		assert_string_equal(json_string_value(json_object_get(vm, "name")), names[i]);
	vm = json_array_get(list, 1);	/* web1 */
	assert_int_equal(json_integer_value(json_object_get(vm, "pid")), 301);
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "running");
	assert_int_equal(json_integer_value(json_object_get(vm, "vcpus")), 2);
	assert_int_equal(json_integer_value(json_object_get(vm, "mem_mib")), 256);
	/* The first /metrics: uptime 10 s, 2.5 s of CPU → 25 %. */
	assert_float_equal(json_number_value(json_object_get(vm, "uptime_s")), 10.0, 1e-9);
	assert_float_equal(json_number_value(json_object_get(vm, "cpu_percent")), 25.0, 1e-9);
	vm = json_array_get(list, 2);	/* web2 */
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "paused");
	vm = json_array_get(list, 0);	/* db */
	assert_float_equal(json_number_value(json_object_get(vm, "cpu_percent")), 0.0, 1e-9);
	json_decref(list);
	assert_non_null(strstr(r.err, "removed stale socket of dead"));
	assert_false(exists(stale));
	assert_false(exists(stale_console));
	assert_true(exists(junk));
	run_free(&r);
	assert_string_equal(fx->vms[0].last_path, "/metrics");
}

/* Bound but not listening yet: a VM starting up, not a stale socket. */
static void test_ls_starting_vm(void **state)
{
	struct fixture *fx = *state;
	char path[160];
	json_t *list;
	struct run r;
	int fd;

	snprintf(path, sizeof(path), "%s/new.sock", fx->dir);
	fd = bind_unix(path);
	r = run_cmd("ls", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	list = json_loads(r.out, 0, NULL);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0),
							       "state")), "starting");
	assert_true(json_is_null(json_object_get(json_array_get(list, 0), "pid")));
	json_decref(list);
	run_free(&r);
	assert_true(exists(path));
	close(fd);
}

static void test_ls_table(void **state)
{
	struct fixture *fx = *state;
	char *web1, *web2;
	struct run r;

	add_vm(fx, "web2", 302);
	add_vm(fx, "web1", 301)->uptime_ms = 3723000;	/* 1:02:03 */

	r = run_cmd("ls", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(strncmp(r.out, "NAME", 4), 0);
	assert_non_null(strstr(r.out, "CPU%"));
	web1 = strstr(r.out, "\nweb1 ");
	web2 = strstr(r.out, "\nweb2 ");
	assert_non_null(web1);
	assert_non_null(web2);
	assert_true(web1 < web2);
	assert_non_null(strstr(web1, " 301 "));
	assert_non_null(strstr(web1, "1:02:03"));
	assert_non_null(strstr(web2, "00:10"));
	assert_non_null(strstr(web2, "25.0"));
	assert_string_equal(r.err, "");
	run_free(&r);

	r = run_cmd("ls", "--bogus", NULL);
	assert_int_equal(r.status, EXIT_USAGE);
	assert_non_null(strstr(r.err, "usage: skiff ls"));
	run_free(&r);
	r = run_cmd("ls", "extra", NULL);
	assert_int_equal(r.status, EXIT_USAGE);
	run_free(&r);
}

static void test_ls_empty(void **state)
{
	struct run r;

	(void)state;
	r = run_cmd("ls", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "[]\n");
	run_free(&r);
}

static void test_info(void **state)
{
	struct fixture *fx = *state;
	json_t *doc;
	struct run r;

	add_vm(fx, "web1", 301);
	r = run_cmd("info", "web1", NULL);
	assert_int_equal(r.status, 0);
	doc = json_loads(r.out, 0, NULL);
	if (!doc)
		fail_msg("not JSON: %s", r.out);
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(doc, "instance"), "id")), "web1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_object_get(doc, "metrics"), "vmm"), "pid")), 301);
	assert_non_null(json_object_get(json_object_get(doc, "config"), "machine-config"));
	json_decref(doc);
	/* Pretty: indented by two. */
	assert_non_null(strstr(r.out, "\n  \"instance\": {"));
	run_free(&r);
}

static void test_pause_resume(void **state)
{
	struct fixture *fx = *state;
	struct fake_vm *vm = add_vm(fx, "web1", 301);
	struct run r;

	r = run_cmd("pause", "web1", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "");
	run_free(&r);
	assert_string_equal(vm->last_method, "PATCH");
	assert_string_equal(vm->last_path, "/vm");
	assert_string_equal(vm->last_body, "{\"state\":\"Paused\"}");

	r = run_cmd("resume", "web1", NULL);
	assert_int_equal(r.status, 0);
	run_free(&r);
	assert_string_equal(vm->last_body, "{\"state\":\"Resumed\"}");
}

static void test_pause_fault(void **state)
{
	struct fixture *fx = *state;
	struct fake_vm *vm = add_vm(fx, "web1", 301);
	struct run r;

	vm->patch_status = 400;
	vm->patch_body = "{\"fault_message\":\"The VM is already paused\"}";
	r = run_cmd("pause", "web1", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "skiff pause web1: The VM is already paused\n");
	run_free(&r);

	/* Without a fault message, the status says what happened. */
	vm->patch_status = 500;
	vm->patch_body = "oops";
	r = run_cmd("resume", "web1", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "skiff resume web1: "));
	assert_non_null(strstr(r.err, "500"));
	run_free(&r);
}

static void test_unknown_vm_and_usage(void **state)
{
	static const char *const cmds[] = { "pause", "resume", "stop", "kill", "info",
					    "console" };
	char stale[160];
	struct run r;
	unsigned int i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		r = run_cmd(cmds[i], "nosuch", NULL);
		assert_true(r.handled);
		if (r.status != 1)
			fail_msg("%s nosuch gave %d", cmds[i], r.status);
		assert_string_equal(r.err, "skiff: no VM named 'nosuch' (see skiff ls)\n");
		run_free(&r);

		r = run_cmd(cmds[i], NULL);
		assert_int_equal(r.status, EXIT_USAGE);
		assert_non_null(strstr(r.err, "usage: skiff "));
		run_free(&r);

		r = run_cmd(cmds[i], "a", "b", NULL);
		assert_int_equal(r.status, EXIT_USAGE);
		run_free(&r);
	}
	r = run_cmd("pause", "../etc", NULL);
	assert_int_equal(r.status, 1);
	run_free(&r);

	/* A dead VM's socket is no VM either, and gets cleaned up. */
	snprintf(stale, sizeof(stale), "%s/dead.sock", ((struct fixture *)*state)->dir);
	close(bind_unix(stale));
	r = run_cmd("pause", "dead", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "skiff: no VM named 'dead' (see skiff ls)\n");
	assert_false(exists(stale));
	run_free(&r);

	r = run_cmd("stop", "--timeout", "soon", "web1", NULL);
	assert_int_equal(r.status, EXIT_USAGE);
	assert_non_null(strstr(r.err, "--timeout: 'soon'"));
	run_free(&r);
	r = run_cmd("pause", "--timeout", "1", "web1", NULL);
	assert_int_equal(r.status, EXIT_USAGE);
	run_free(&r);
	r = run_cmd("top", "-d", "x", NULL);
	assert_int_equal(r.status, EXIT_USAGE);
	run_free(&r);
	r = run_cmd("top", "-n", "0", NULL);
	assert_int_equal(r.status, EXIT_USAGE);
	run_free(&r);
	r = run_cmd("top", "-d", NULL);
	assert_int_equal(r.status, EXIT_USAGE);
	assert_non_null(strstr(r.err, "needs a value"));
	run_free(&r);
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_stop_and_kill(void **state)
{
	struct fixture *fx = *state;
	struct fake_vm *vm = add_vm(fx, "web1", 301), *stubborn = add_vm(fx, "web2", 302);
	struct timespec t0;
	struct run r;

	vm->vanish_on_action = true;
	r = run_cmd("stop", "web1", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "");
	run_free(&r);
	assert_string_equal(vm->last_method, "PUT");
	assert_string_equal(vm->last_path, "/actions");
	assert_string_equal(vm->last_body, "{\"action_type\":\"Shutdown\"}");
	assert_false(exists(vm->sock));

	/* A VM that does not go away: stop gives up after its timeout. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = run_cmd("stop", "--timeout", "0.3", "web2", NULL);
	assert_int_equal(r.status, 1);
	assert_true(since(&t0) >= 0.3);
	assert_true(since(&t0) < 3);
	assert_non_null(strstr(r.err, "still running"));
	run_free(&r);

	stubborn->vanish_on_action = true;
	r = run_cmd("kill", "web2", NULL);
	assert_int_equal(r.status, 0);
	run_free(&r);
	assert_string_equal(stubborn->last_body, "{\"action_type\":\"Kill\"}");
	assert_false(exists(stubborn->sock));
}

/* The line of VM name in the last refresh of top's output, split in fields. */
static int last_row(const char *out, const char *name, char fields[][32], int max)
{
	char key[40], *line, *p;
	const char *at = NULL, *s;
	int n = 0;

	snprintf(key, sizeof(key), "\n%s ", name);
	for (s = strstr(out, key); s; s = strstr(s + 1, key))
		at = s + 1;
	if (!at)
		return 0;
	line = strndup(at, strcspn(at, "\n"));
	for (p = strtok(line, " "); p && n < max; p = strtok(NULL, " "))
		snprintf(fields[n++], 32, "%s", p);
	free(line);
	return n;
}

static unsigned int count_of(const char *s, const char *what)
{
	unsigned int n = 0;

	for (s = strstr(s, what); s; s = strstr(s + 1, what))
		n++;
	return n;
}

static void test_top_rates(void **state)
{
	struct fixture *fx = *state;
	struct fake_vm *vm = add_vm(fx, "web1", 301), *idle = add_vm(fx, "db", 300);
	char f[12][32];
	double exits, cpu, disk;
	struct run r;

	/* Each /metrics: 200 more exits, 50 ms more CPU, 1 MiB more read, 1 KiB sent. */
	vm->exits = 100;
	vm->exits_step = 200;
	vm->cpu_step = 50;
	vm->disk_step = 1 << 20;
	vm->net_step = 1024;
	(void)idle;
	r = run_cmd("top", "-n", "2", "-d", "0.1", NULL);
	assert_int_equal(r.status, 0);
	/* Two refreshes, three samples: each refresh compares two. */
	assert_int_equal(count_of(r.out, "NAME "), 2);
	assert_int_equal(vm->metrics_calls, 3);
	/* NAME STATE CPU% MEM VCPUS EXITS/s DISK-R/s DISK-W/s NET-RX/s NET-TX/s */
	assert_int_equal(last_row(r.out, "web1", f, 12), 10);
	assert_string_equal(f[1], "running");
	cpu = atof(f[2]);
	exits = atof(f[5]);
	disk = atof(f[6]);
	/* 200 exits and 50 ms of CPU per 0.1 s or a bit more (the requests). */
	if (exits < 800 || exits > 2100 || cpu < 20 || cpu > 52)
		fail_msg("exits/s %s, cpu %s%%:\n%s", f[5], f[2], r.out);
	/* 1 MiB per 0.1 s: about 10 MiB/s, in human units. */
	assert_int_equal(f[6][strlen(f[6]) - 1], 'M');
	assert_true(disk >= 4 && disk <= 10.5);
	assert_string_equal(f[7], "0");
	assert_string_equal(f[8], "0");
	assert_int_equal(f[9][strlen(f[9]) - 1], 'K');
	assert_string_equal(f[3], "256");
	assert_string_equal(f[4], "2");
	/* The idle VM: nothing moves. */
	assert_int_equal(last_row(r.out, "db", f, 12), 10);
	assert_string_equal(f[2], "0.0");
	assert_string_equal(f[5], "0");
	assert_string_equal(f[6], "0");
	/* Not a terminal: no screen clearing. */
	assert_null(strchr(r.out, '\033'));
	run_free(&r);
}

/* Wait up to 5 s for cond(arg). */
static bool eventually(bool (*cond)(void *), void *arg)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (cond(arg))
			return true;
		usleep(10000);
	}
	return false;
}

struct console_driver {
	struct fake_vm *vm;
	int typist;		/* our end of the command's stdin */
	bool ok;
};

static bool got_typed(void *arg)
{
	struct console_driver *d = arg;
	char buf[64];

	return console_got(d->vm, buf, sizeof(buf)) == 8;
}

/* Types while `skiff console` runs: some keys, then Ctrl-A d once they arrived. */
static void *console_typist(void *arg)
{
	struct console_driver *d = arg;
	/* Ctrl-A Ctrl-A is one Ctrl-A; Ctrl-A x is both bytes. */
	static const char keys[] = "ls\r\x01\x01" "c\x01x" "d\x01";
	static const char rest[] = "dNOT SENT";

	d->ok = write(d->typist, keys, sizeof(keys) - 1) == sizeof(keys) - 1;
	/* The Ctrl-A at the end waits for its partner in the next read. */
	d->ok = eventually(got_typed, d) && d->ok;
	d->ok = write(d->typist, rest, sizeof(rest) - 1) == sizeof(rest) - 1 && d->ok;
	return NULL;
}

static void test_console_relay_and_detach(void **state)
{
	struct fixture *fx = *state;
	struct fake_vm *vm = add_vm(fx, "web1", 301);
	struct console_driver d = { .vm = vm };
	char *argv[] = { "console", "web1", NULL };
	char got[64];
	int sv[2];
	pthread_t typist;
	struct run r;
	size_t n;

	add_console(vm, "hello from the guest\r\n", false);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	d.typist = sv[1];
	assert_int_equal(pthread_create(&typist, NULL, console_typist, &d), 0);
	r = run_argv(sv[0], argv);
	pthread_join(typist, NULL);
	close(sv[0]);
	close(sv[1]);
	assert_true(d.ok);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "hello from the guest\r\n");
	assert_string_equal(r.err, "skiff: detached from web1\n");
	run_free(&r);
	/* The fake's thread ends when we hang up, so its record is complete. */
	pthread_join(vm->console_thread, NULL);
	vm->has_console_thread = false;
	n = console_got(vm, got, sizeof(got));
	assert_int_equal(n, 8);
	assert_memory_equal(got, "ls\r\x01" "c\x01x" "d", 8);
}

static void test_console_closed_by_vm(void **state)
{
	struct fixture *fx = *state;
	struct fake_vm *vm = add_vm(fx, "web1", 301);
	char *argv[] = { "console", "web1", NULL };
	struct run r;
	int sv[2];

	add_console(vm, "Power down.\r\n", true);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r = run_argv(sv[0], argv);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "Power down.\r\n");
	assert_string_equal(r.err, "skiff: web1's console closed\n");
	run_free(&r);
}

/*
 * Input that ends (a pipe, not a terminal) still reaches the guest, a
 * Ctrl-A left at the end included, and the output goes on until the VM
 * hangs up.
 */
static void test_console_input_ends(void **state)
{
	struct fixture *fx = *state;
	struct fake_vm *vm = add_vm(fx, "web1", 301);
	char *argv[] = { "console", "web1", NULL };
	char got[16];
	struct run r;
	int sv[2];

	vm->console_close_after = 3;
	add_console(vm, "", false);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[1], "ab\x01", 3), 3);
	shutdown(sv[1], SHUT_WR);
	r = run_argv(sv[0], argv);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "skiff: web1's console closed\n");
	run_free(&r);
	assert_int_equal(console_got(vm, got, sizeof(got)), 3);
	assert_memory_equal(got, "ab\x01", 3);
}

static void test_console_not_detached(void **state)
{
	struct fixture *fx = *state;
	struct run r;

	add_vm(fx, "web1", 301);
	r = run_cmd("console", "web1", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "skiff console web1: web1 was not started with --detach "
			    "(no console socket)\n");
	run_free(&r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_not_a_toolstack_command),
		T(test_runtime_dir),
		T(test_ls_json),
		T(test_ls_starting_vm),
		T(test_ls_table),
		T(test_ls_empty),
		T(test_info),
		T(test_pause_resume),
		T(test_pause_fault),
		T(test_unknown_vm_and_usage),
		T(test_stop_and_kill),
		T(test_top_rates),
		T(test_console_relay_and_detach),
		T(test_console_closed_by_vm),
		T(test_console_input_ends),
		T(test_console_not_detached),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
