// SPDX-License-Identifier: MIT
/*
 * The toolstack: `skiff ls`, `top`, `info`, `pause`, `resume`, `stop`,
 * `kill` and `console`. A VM is its API socket in the runtime directory;
 * everything here is a client of the API (or of the console socket), so a
 * VM that died with kill -9 shows up as a socket nobody listens on, which
 * these commands clean up.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "api/runtime_dir.h"
#include "cli/console.h"
#include "cli/toolstack.h"
#include "vmm/exitcode.h"

#define FAILED		TOOLSTACK_EXIT_FAILED
#define QUERY_TIMEOUT_MS	1000	/* ls, top, info: one slow VM must not stall the rest */
#define ACTION_TIMEOUT_MS	5000
#define PATH_LEN	4096

/* ---- finding VMs ---- */

static bool is_socket(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISSOCK(st.st_mode);
}

/*
 * Whether a socket is bound at path. A VM's server binds and then listens;
 * in between, connect() is refused although nothing is stale. A socket
 * whose owner died is not in /proc/net/unix any more.
 */
static bool unix_path_bound(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char *line = NULL, *p;
	size_t cap = 0;
	bool bound = false;
	int off;

	if (!f)
		return false;
	while (!bound && getline(&line, &cap, f) > 0) {
		/* Num RefCount Protocol Flags Type St Inode Path */
		off = -1;
		sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %n", &off);
		if (off < 0)
			continue;
		p = line + off;
		p[strcspn(p, "\n")] = '\0';
		bound = !strcmp(p, path);
	}
	free(line);
	fclose(f);
	return bound;
}

/*
 * The VM behind name died without cleaning up (kill -9): remove its API
 * and console sockets, so that ls stops finding it. True if it was stale.
 */
static bool remove_stale(const char *name)
{
	char sock[PATH_LEN], console[PATH_LEN];

	if (skiff_vm_path(sock, sizeof(sock), name, SKIFF_SOCK_SUFFIX) ||
	    skiff_vm_path(console, sizeof(console), name, SKIFF_CONSOLE_SUFFIX))
		return false;
	if (unix_path_bound(sock))
		return false;	/* starting: bound, not yet listening */
	if (is_socket(sock))
		unlink(sock);
	if (is_socket(console) && !unix_path_bound(console))
		unlink(console);
	return true;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* The names of every VM socket in the runtime directory, sorted. */
static int list_vms(char ***out, size_t *count)
{
	char dir[PATH_LEN], path[PATH_LEN * 2];
	size_t n = 0, cap = 0, len, slen = strlen(SKIFF_SOCK_SUFFIX);
	char **names = NULL, **grown;
	struct dirent *de;
	DIR *d;
	int ret = skiff_runtime_dir(dir, sizeof(dir));

	if (ret)
		return ret;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len <= slen || strcmp(de->d_name + len - slen, SKIFF_SOCK_SUFFIX))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!is_socket(path))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown)
				break;
			names = grown;
		}
		names[n] = strndup(de->d_name, len - slen);
		if (names[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	*out = names;
	*count = n;
	return 0;
}

/* ---- talking to a VM ---- */

/* The server said no (4xx/5xx); the reason is in the fault buffer. */
#define ERR_FAULT	(-10000)

struct fault {
	char msg[512];
};

static void fault_from(struct fault *fault, const struct api_response *resp)
{
	json_t *doc = json_loads(resp->body, 0, NULL);
	const char *msg = json_string_value(json_object_get(doc, "fault_message"));

	if (msg)
		snprintf(fault->msg, sizeof(fault->msg), "%s", msg);
	else
		snprintf(fault->msg, sizeof(fault->msg), "the VM answered HTTP %d%s%.200s",
			 resp->status, resp->body_len ? ": " : "", resp->body);
	json_decref(doc);
}

/*
 * One API call to VM name. 0 with *out (new reference, NULL when the body
 * is empty or not JSON; out may be NULL), ERR_FAULT with fault filled in,
 * or -errno from the client.
 */
static int vm_call(const char *name, const char *method, const char *path,
		   const char *body, int timeout_ms, json_t **out, struct fault *fault)
{
	struct api_response resp;
	char sock[PATH_LEN];
	int ret;

	if (out)
		*out = NULL;
	ret = skiff_vm_path(sock, sizeof(sock), name, SKIFF_SOCK_SUFFIX);
	if (ret)
		return ret == -EINVAL ? -ENOENT : ret;	/* no such name can exist */
	ret = api_request(sock, method, path, body, timeout_ms, &resp);
	if (ret)
		return ret;
	if (resp.status < 200 || resp.status > 299) {
		fault_from(fault, &resp);
		api_response_free(&resp);
		return ERR_FAULT;
	}
	if (out && resp.body_len)
		*out = json_loads(resp.body, 0, NULL);
	api_response_free(&resp);
	return 0;
}

/* Say why `skiff cmd name` failed; returns the exit status. */
static int report(const char *cmd, const char *name, int err, const struct fault *fault)
{
	if (err == -ECONNREFUSED && !remove_stale(name))
		err = -EAGAIN;	/* refused, but bound: the VM is starting */
	if (err == -ENOENT || err == -ECONNREFUSED)
		fprintf(stderr, "skiff: no VM named '%s' (see skiff ls)\n", name);
	else if (err == ERR_FAULT)
		fprintf(stderr, "skiff %s %s: %s\n", cmd, name, fault->msg);
	else if (err == -ETIMEDOUT)
		fprintf(stderr, "skiff %s %s: the VM did not answer in time\n", cmd, name);
	else if (err == -EAGAIN)
		fprintf(stderr, "skiff %s %s: the VM is starting, try again\n", cmd, name);
	else
		fprintf(stderr, "skiff %s %s: %s\n", cmd, name, strerror(-err));
	return FAILED;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- option parsing ---- */

/* After a message saying what was wrong, if any. */
static int usage_error(const char *usage)
{
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/* The option getopt_long() did not like, for the message. */
static const char *bad_option(char **argv, char *buf, size_t len)
{
	const char *arg = argv[optind - 1];

	if (arg && !strncmp(arg, "--", 2))
		return arg;
	if (optopt) {
		snprintf(buf, len, "-%c", optopt);
		return buf;
	}
	return arg;
}

/* A duration in seconds: a number >= min. */
static bool parse_seconds(const char *s, double min, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > 1e6)
		return false;
	*out = v;
	return true;
}

/*
 * getopt_long() over a command's arguments, with our own messages: returns
 * the option, -1 at the end, or '?' after printing what was wrong.
 */
static int next_option(int argc, char **argv, const char *shortopts,
		       const struct option *longopts)
{
	char buf[8];
	int opt;

	opt = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (opt == '?')
		fprintf(stderr, "skiff %s: unknown option '%s'\n", argv[0],
			bad_option(argv, buf, sizeof(buf)));
	else if (opt == ':')
		fprintf(stderr, "skiff %s: option '%s' needs a value\n", argv[0],
			bad_option(argv, buf, sizeof(buf)));
	return opt == ':' ? '?' : opt;
}

static void reset_getopt(void)
{
	optind = 0;	/* 0, not 1: glibc then forgets any earlier scan */
	opterr = 0;
}

/* ---- ls ---- */

struct vm_row {
	char *name;
	char state[32];
	json_int_t pid, vcpus, mem_mib;	/* -1: unknown */
	double uptime_s, cpu_percent;	/* < 0: unknown */
};

static double num(json_t *obj, const char *key, double unknown)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : unknown;
}

/* A non-negative integer field, or -1. */
static json_int_t count(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ?
	       json_integer_value(v) : -1;
}

/* "Not started" (GET /) → "not started", as /metrics spells states. */
static void lower_state(char *buf, size_t len, const char *state)
{
	size_t i;

	for (i = 0; state[i] && i + 1 < len; i++)
		buf[i] = state[i] >= 'A' && state[i] <= 'Z' ? state[i] + 32 : state[i];
	buf[i] = '\0';
}

static void fill_row(struct vm_row *row, json_t *instance, json_t *metrics)
{
	json_t *vmm = json_object_get(metrics, "vmm");
	const char *state = json_string_value(json_object_get(vmm, "state"));
	double uptime_ms = num(vmm, "uptime_ms", -1), cpu_ms = num(vmm, "cpu_time_ms", -1);

	if (!state)
		state = json_string_value(json_object_get(instance, "state"));
	lower_state(row->state, sizeof(row->state), state ? state : "unknown");
	row->pid = count(vmm, "pid");
	row->vcpus = count(vmm, "vcpu_count");
	row->mem_mib = count(vmm, "mem_size_mib");
	row->uptime_s = uptime_ms >= 0 ? uptime_ms / 1000 : -1;
	row->cpu_percent = -1;
	if (uptime_ms > 0 && cpu_ms >= 0)
		row->cpu_percent = round(cpu_ms / uptime_ms * 1000) / 10;
	else if (uptime_ms == 0)
		row->cpu_percent = 0;
}

/* Ask VM name about itself; false if it is stale (and now removed). */
static bool query_row(struct vm_row *row)
{
	json_t *instance = NULL, *metrics = NULL;
	struct fault fault;
	int ret;

	row->pid = row->vcpus = row->mem_mib = -1;
	row->uptime_s = row->cpu_percent = -1;
	ret = vm_call(row->name, "GET", "/", NULL, QUERY_TIMEOUT_MS, &instance, &fault);
	if (ret == -ECONNREFUSED && remove_stale(row->name)) {
		fprintf(stderr, "skiff: removed stale socket of %s\n", row->name);
		return false;
	}
	if (ret == -ENOENT)
		return false;	/* it ended while we looked */
	if (ret) {
		snprintf(row->state, sizeof(row->state), "%s",
			 ret == -ETIMEDOUT ? "unresponsive" :
			 ret == -ECONNREFUSED ? "starting" : "error");
		return true;
	}
	vm_call(row->name, "GET", "/metrics", NULL, QUERY_TIMEOUT_MS, &metrics, &fault);
	fill_row(row, instance, metrics);
	json_decref(instance);
	json_decref(metrics);
	return true;
}

/* ps's etime: [[dd-]hh:]mm:ss. */
static void format_uptime(char *buf, size_t len, double seconds)
{
	unsigned long s;

	if (seconds < 0 || seconds > 1e12) {
		snprintf(buf, len, "-");
		return;
	}
	s = (unsigned long)seconds;
	if (s >= 86400)
		snprintf(buf, len, "%lu-%02lu:%02lu:%02lu", s / 86400, s / 3600 % 24,
			 s / 60 % 60, s % 60);
	else if (s >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%02lu:%02lu", s / 60, s % 60);
}

/* A count, "-" when unknown (< 0); a double: any JSON number fits. */
static void format_count(char *buf, size_t len, double v)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f", v);
}

static int name_width(struct vm_row *rows, size_t n)
{
	size_t i, w = 4;

	for (i = 0; i < n; i++)
		if (strlen(rows[i].name) > w)
			w = strlen(rows[i].name);
	return w > 64 ? 64 : (int)w;
}

static void print_table(struct vm_row *rows, size_t n)
{
	char pid[32], vcpus[32], mem[32], uptime[48], cpu[32];
	int w = name_width(rows, n);
	size_t i;

	printf("%-*s %8s %-13s %5s %8s %11s %6s\n", w, "NAME", "PID", "STATE",
	       "VCPUS", "MEM(MiB)", "UPTIME", "CPU%");
	for (i = 0; i < n; i++) {
		format_count(pid, sizeof(pid), rows[i].pid);
		format_count(vcpus, sizeof(vcpus), rows[i].vcpus);
		format_count(mem, sizeof(mem), rows[i].mem_mib);
		format_uptime(uptime, sizeof(uptime), rows[i].uptime_s);
		if (rows[i].cpu_percent < 0)
			snprintf(cpu, sizeof(cpu), "-");
		else
			snprintf(cpu, sizeof(cpu), "%.1f", rows[i].cpu_percent);
		printf("%-*s %8s %-13s %5s %8s %11s %6s\n", w, rows[i].name, pid,
		       rows[i].state, vcpus, mem, uptime, cpu);
	}
}

static json_t *json_int_or_null(json_int_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *json_real_or_null(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

static void print_json(struct vm_row *rows, size_t n)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s, s:o, s:s, s:o, s:o, s:o, s:o}",
			"name", rows[i].name,
			"pid", json_int_or_null(rows[i].pid),
			"state", rows[i].state,
			"vcpus", json_int_or_null(rows[i].vcpus),
			"mem_mib", json_int_or_null(rows[i].mem_mib),
			"uptime_s", json_real_or_null(rows[i].uptime_s),
			"cpu_percent", json_real_or_null(rows[i].cpu_percent)));
	json_dumpf(list, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
	putchar('\n');
	json_decref(list);
}

static const char ls_usage[] =
"usage: skiff ls [--json]\n"
"CPU% is the VM's average since it started (all vCPUs: up to 100 per vCPU).\n";

static int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vm_row *rows;
	size_t count, i, n = 0;
	bool json = false;
	char **names;
	int opt, ret;

	reset_getopt();
	while ((opt = next_option(argc, argv, ":h", opts)) != -1) {
		if (opt == 'h') {
			fputs(ls_usage, stdout);
			return 0;
		}
		if (opt != 'j')
			return usage_error(ls_usage);
		json = true;
	}
	if (optind != argc) {
		fprintf(stderr, "skiff ls: unexpected argument '%s'\n", argv[optind]);
		return usage_error(ls_usage);
	}
	ret = list_vms(&names, &count);
	if (ret) {
		fprintf(stderr, "skiff ls: runtime directory: %s\n", strerror(-ret));
		return FAILED;
	}
	rows = calloc(count ? count : 1, sizeof(*rows));
	if (!rows) {
		free_names(names, count);
		return FAILED;
	}
	for (i = 0; i < count; i++) {
		rows[n].name = names[i];
		if (query_row(&rows[n]))
			n++;
	}
	if (json)
		print_json(rows, n);
	else
		print_table(rows, n);
	fflush(stdout);
	free(rows);
	free_names(names, count);
	return 0;
}

/* ---- info ---- */

static int cmd_info(int argc, char **argv)
{
	static const char usage[] = "usage: skiff info NAME\n";
	json_t *instance, *metrics, *config, *doc;
	struct fault fault;
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-')
		return usage_error(usage);
	ret = vm_call(argv[1], "GET", "/", NULL, QUERY_TIMEOUT_MS, &instance, &fault);
	if (ret)
		return report("info", argv[1], ret, &fault);
	/* A server too old for these still gets its instance shown. */
	vm_call(argv[1], "GET", "/metrics", NULL, QUERY_TIMEOUT_MS, &metrics, &fault);
	vm_call(argv[1], "GET", "/vm/config", NULL, QUERY_TIMEOUT_MS, &config, &fault);
	doc = json_pack("{s:o, s:o, s:o}",
			"instance", instance ? instance : json_null(),
			"metrics", metrics ? metrics : json_null(),
			"config", config ? config : json_null());
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
	putchar('\n');
	fflush(stdout);
	json_decref(doc);
	return 0;
}

/* ---- pause, resume, stop, kill ---- */

struct action {
	const char *cmd, *method, *path, *body;
	bool waits;		/* until the VM is gone */
	double timeout_s;	/* default for the wait */
	const char *usage;
};

static const struct action actions[] = {
	{ "pause", "PATCH", "/vm", "{\"state\":\"Paused\"}", false, 0,
	  "usage: skiff pause NAME\n" },
	{ "resume", "PATCH", "/vm", "{\"state\":\"Resumed\"}", false, 0,
	  "usage: skiff resume NAME\n" },
	{ "stop", "PUT", "/actions", "{\"action_type\":\"Shutdown\"}", true, 30,
	  "usage: skiff stop [--timeout SECONDS] NAME   (default 30; 0: do not wait)\n" },
	{ "kill", "PUT", "/actions", "{\"action_type\":\"Kill\"}", true, 5,
	  "usage: skiff kill [--timeout SECONDS] NAME   (default 5; 0: do not wait)\n" },
};

/* 0 if something accepts connections at path, else -errno. */
static int probe(const char *path)
{
	int fd = skiff_socket_connect(path, SOCK_NONBLOCK);

	if (fd == -EAGAIN)
		return 0;	/* a full backlog, so it lives */
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Wait until name's socket is gone or refuses; false on timeout. */
static bool wait_gone(const char *name, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	char sock[PATH_LEN];
	int ret;

	if (skiff_vm_path(sock, sizeof(sock), name, SKIFF_SOCK_SUFFIX))
		return true;
	for (;;) {
		ret = probe(sock);
		if (ret == -ENOENT)
			return true;
		if (ret == -ECONNREFUSED) {
			remove_stale(name);
			return true;
		}
		if (now_s() >= deadline)
			return false;
		sleep_s(0.05);
	}
}

static int run_action(const struct action *a, const char *name, double timeout_s)
{
	struct fault fault;
	int ret;

	ret = vm_call(name, a->method, a->path, a->body, ACTION_TIMEOUT_MS, NULL, &fault);
	/* A VM told to end may be gone before its answer is out. */
	if (a->waits && ret == -ECONNRESET)
		ret = 0;
	if (ret)
		return report(a->cmd, name, ret, &fault);
	if (!a->waits || timeout_s == 0 || wait_gone(name, timeout_s))
		return 0;
	fprintf(stderr, "skiff %s %s: %s is still running after %g s%s\n", a->cmd,
		name, name, timeout_s, strcmp(a->cmd, "kill") ?
		" (skiff kill stops it at once)" : "");
	return FAILED;
}

static int cmd_action(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct action *a = NULL;
	double timeout_s;
	unsigned int i;
	int opt;

	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(argv[0], actions[i].cmd))
			a = &actions[i];
	timeout_s = a->timeout_s;
	reset_getopt();
	/* opts + 1: only --help for the actions that do not wait. */
	while ((opt = next_option(argc, argv, ":h", a->waits ? opts : opts + 1)) != -1) {
		if (opt == 'h') {
			fputs(a->usage, stdout);
			return 0;
		}
		if (opt != 't')
			return usage_error(a->usage);
		if (!parse_seconds(optarg, 0, &timeout_s)) {
			fprintf(stderr, "skiff %s: --timeout: '%s' is not a number of "
				"seconds\n", a->cmd, optarg);
			return usage_error(a->usage);
		}
	}
	if (argc - optind != 1)
		return usage_error(a->usage);
	return run_action(a, argv[optind], timeout_s);
}

/* ---- signals: stop a loop cleanly ---- */

/* The signal that asked top or console to end; set only by the handler. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NR_STOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))

/*
 * The stop signals are blocked except inside ppoll(wait_mask), so a signal
 * ends the wait it arrives in rather than slipping in just before it.
 */
struct sig_guard {
	sigset_t old_mask, wait_mask;
	struct sigaction old[NR_STOP_SIGNALS];
};

static void sig_guard_enter(struct sig_guard *g)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigset_t block;
	unsigned int i;

	stop_signal = 0;
	sigemptyset(&block);
	for (i = 0; i < NR_STOP_SIGNALS; i++)
		sigaddset(&block, stop_signals[i]);
	pthread_sigmask(SIG_BLOCK, &block, &g->old_mask);
	for (i = 0; i < NR_STOP_SIGNALS; i++)
		sigaction(stop_signals[i], &sa, &g->old[i]);
	g->wait_mask = g->old_mask;
	for (i = 0; i < NR_STOP_SIGNALS; i++)
		sigdelset(&g->wait_mask, stop_signals[i]);
}

static void sig_guard_leave(struct sig_guard *g)
{
	unsigned int i;

	for (i = 0; i < NR_STOP_SIGNALS; i++)
		sigaction(stop_signals[i], &g->old[i], NULL);
	pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
}

/* ---- top ---- */

struct top_vm {
	char *name;
	bool ok;		/* /metrics answered */
	char state[32];
	double t;		/* when it answered, seconds (monotonic) */
	double pid, vcpus, mem_mib;
	double cpu_ms, exits, disk_r, disk_w, net_rx, net_tx;
};

struct top_sample {
	struct top_vm *vms;
	size_t n;
};

static double sum_exits(json_t *vcpus)
{
	json_t *vcpu, *v, *exits;
	const char *key;
	double total = 0;
	size_t i;

	json_array_foreach(vcpus, i, vcpu) {
		v = json_object_get(vcpu, "exits_total");
		if (json_is_number(v)) {
			total += json_number_value(v);
			continue;
		}
		exits = json_object_get(vcpu, "exits");
		json_object_foreach(exits, key, v)
			total += json_is_number(v) ? json_number_value(v) : 0;
	}
	return total;
}

static void sum_devices(struct top_vm *vm, json_t *devices)
{
	const char *kind;
	json_t *dev;
	size_t i;

	json_array_foreach(devices, i, dev) {
		kind = json_string_value(json_object_get(dev, "kind"));
		if (!kind)
			continue;
		if (!strcmp(kind, "block")) {
			vm->disk_r += num(dev, "read_bytes", 0);
			vm->disk_w += num(dev, "write_bytes", 0);
		} else if (!strcmp(kind, "net")) {
			vm->net_rx += num(dev, "rx_bytes", 0);
			vm->net_tx += num(dev, "tx_bytes", 0);
		}
	}
}

static void top_fill(struct top_vm *vm, json_t *metrics)
{
	json_t *vmm = json_object_get(metrics, "vmm");
	const char *state = json_string_value(json_object_get(vmm, "state"));

	vm->ok = true;
	lower_state(vm->state, sizeof(vm->state), state ? state : "unknown");
	vm->pid = num(vmm, "pid", -1);
	vm->vcpus = num(vmm, "vcpu_count", -1);
	vm->mem_mib = num(vmm, "mem_size_mib", -1);
	vm->cpu_ms = num(vmm, "cpu_time_ms", -1);
	vm->exits = sum_exits(json_object_get(metrics, "vcpus"));
	sum_devices(vm, json_object_get(metrics, "devices"));
}

static void top_sample_free(struct top_sample *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->vms[i].name);
	free(s->vms);
	s->vms = NULL;
	s->n = 0;
}

static void top_sample(struct top_sample *s)
{
	struct fault fault;
	json_t *metrics;
	size_t count, i;
	char **names;
	int ret;

	s->vms = NULL;
	s->n = 0;
	if (list_vms(&names, &count))
		return;
	s->vms = calloc(count ? count : 1, sizeof(*s->vms));
	for (i = 0; s->vms && i < count; i++) {
		struct top_vm *vm = &s->vms[s->n];

		ret = vm_call(names[i], "GET", "/metrics", NULL, QUERY_TIMEOUT_MS,
			      &metrics, &fault);
		if (ret == -ENOENT || (ret == -ECONNREFUSED && remove_stale(names[i])))
			continue;
		vm->name = names[i];
		names[i] = NULL;
		vm->t = now_s();
		if (!ret && metrics)
			top_fill(vm, metrics);
		else
			snprintf(vm->state, sizeof(vm->state), "%s", ret == -ETIMEDOUT ?
				 "unresponsive" : ret == -ECONNREFUSED ? "starting" : "error");
		json_decref(metrics);
		s->n++;
	}
	free_names(names, count);
}

static const struct top_vm *top_find(const struct top_sample *s, const struct top_vm *vm)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->vms[i].name, vm->name) && s->vms[i].ok &&
		    s->vms[i].pid == vm->pid)
			return &s->vms[i];
	return NULL;
}

/* Bytes in K, M, G (powers of 1024) like xentop; "-" when unknown. */
static void human(char *buf, size_t len, double v)
{
	static const char units[] = "KMGTP";
	int unit = -1;

	if (v < 0) {
		snprintf(buf, len, "-");
		return;
	}
	while (v >= 1024 && unit < 4) {
		v /= 1024;
		unit++;
	}
	if (unit < 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f%c", v, units[unit]);
}

/* (cur - prev) per second, or -1 (shown "-") without two good samples. */
static double rate(double cur, double prev, double dt)
{
	if (dt <= 0 || cur < 0 || prev < 0 || cur < prev)
		return -1;
	return (cur - prev) / dt;
}

static void top_print_vm(const struct top_vm *vm, const struct top_vm *prev, int w)
{
	char cpu[32], mem[32], vcpus[32], exits[32], dr[32], dw[32], rx[32], tx[32];
	double dt = prev ? vm->t - prev->t : 0, cpu_ms = prev ? prev->cpu_ms : -1;
	double r;

	r = rate(vm->cpu_ms, cpu_ms, dt);
	snprintf(cpu, sizeof(cpu), r < 0 ? "-" : "%.1f", r / 10);	/* ms/s → % */
	format_count(mem, sizeof(mem), vm->ok ? vm->mem_mib : -1);
	format_count(vcpus, sizeof(vcpus), vm->ok ? vm->vcpus : -1);
	r = prev ? rate(vm->exits, prev->exits, dt) : -1;
	snprintf(exits, sizeof(exits), r < 0 ? "-" : "%.0f", r);
	human(dr, sizeof(dr), prev ? rate(vm->disk_r, prev->disk_r, dt) : -1);
	human(dw, sizeof(dw), prev ? rate(vm->disk_w, prev->disk_w, dt) : -1);
	human(rx, sizeof(rx), prev ? rate(vm->net_rx, prev->net_rx, dt) : -1);
	human(tx, sizeof(tx), prev ? rate(vm->net_tx, prev->net_tx, dt) : -1);
	printf("%-*s %-13s %6s %8s %5s %8s %8s %8s %8s %8s\n", w, vm->name, vm->state,
	       cpu, mem, vcpus, exits, dr, dw, rx, tx);
}

static void top_print(const struct top_sample *prev, const struct top_sample *cur,
		      double interval, bool clear)
{
	size_t i, running = 0, w = 4;
	char clock[16];
	time_t t = time(NULL);

	for (i = 0; i < cur->n; i++) {
		running += !strcmp(cur->vms[i].state, "running");
		if (strlen(cur->vms[i].name) > w)
			w = strlen(cur->vms[i].name);
	}
	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&t));
	if (clear)
		fputs("\033[H\033[2J", stdout);
	printf("skiff top - %s  %zu VM%s, %zu running  (every %g s; q quits)\n", clock,
	       cur->n, cur->n == 1 ? "" : "s", running, interval);
	printf("%-*s %-13s %6s %8s %5s %8s %8s %8s %8s %8s\n", (int)w, "NAME", "STATE",
	       "CPU%", "MEM(MiB)", "VCPUS", "EXITS/s", "DISK-R/s", "DISK-W/s",
	       "NET-RX/s", "NET-TX/s");
	for (i = 0; i < cur->n; i++) {
		const struct top_vm *vm = &cur->vms[i];

		top_print_vm(vm, vm->ok ? top_find(prev, vm) : NULL, (int)w);
	}
	if (!clear)
		putchar('\n');	/* refreshes apart when not on a terminal */
	fflush(stdout);
}

/* Wait seconds; true if asked to quit meanwhile (q on the terminal, a signal). */
static bool top_wait(const struct sig_guard *g, double seconds, bool *keys)
{
	double deadline = now_s() + seconds, left;
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	struct timespec ts;
	char c;
	int ret;

	for (;;) {
		if (stop_signal)
			return true;
		left = deadline - now_s();
		if (left <= 0)
			return false;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - ts.tv_sec) * 1e9);
		ret = ppoll(&pfd, *keys ? 1 : 0, &ts, &g->wait_mask);
		if (ret <= 0)
			continue;	/* timeout, or EINTR: both checked above */
		if (read(STDIN_FILENO, &c, 1) != 1)
			*keys = false;	/* the terminal went away */
		else if (c == 'q' || c == 'Q')
			return true;
	}
}

static const char top_usage[] =
"usage: skiff top [-d SECONDS] [-n ITERATIONS]\n"
"Every SECONDS (default 1), each VM's load over the last interval; q or Ctrl-C quits.\n";

/* The terminal gives top single keys (q) without echo, and still Ctrl-C. */
static bool top_term_keys(struct termios *saved)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, saved) < 0)
		return false;
	t = *saved;
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	return !tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

static int top_loop(double interval, long iterations)
{
	struct top_sample prev, cur;
	struct sig_guard guard;
	struct termios saved;
	bool clear = isatty(STDOUT_FILENO), keys, raw;
	long i;

	sig_guard_enter(&guard);
	keys = raw = top_term_keys(&saved);
	top_sample(&prev);
	for (i = 0; !iterations || i < iterations; i++) {
		if (top_wait(&guard, interval, &keys))
			break;
		top_sample(&cur);
		top_print(&prev, &cur, interval, clear);
		top_sample_free(&prev);
		prev = cur;
	}
	top_sample_free(&prev);
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	sig_guard_leave(&guard);
	return 0;
}

static int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double interval = 1, iterations = 0;
	int opt;

	reset_getopt();
	while ((opt = next_option(argc, argv, ":d:n:h", opts)) != -1) {
		if (opt == 'h') {
			fputs(top_usage, stdout);
			return 0;
		}
		if (opt == 'd' && !parse_seconds(optarg, 0.01, &interval)) {
			fprintf(stderr, "skiff top: -d: '%s' is not a number of seconds "
				"(0.01 or more)\n", optarg);
			return usage_error(top_usage);
		}
		if (opt == 'n' && (!parse_seconds(optarg, 1, &iterations) ||
				   iterations != floor(iterations))) {
			fprintf(stderr, "skiff top: -n: '%s' is not a positive count\n", optarg);
			return usage_error(top_usage);
		}
		if (opt != 'd' && opt != 'n')
			return usage_error(top_usage);
	}
	if (optind != argc) {
		fprintf(stderr, "skiff top: unexpected argument '%s'\n", argv[optind]);
		return usage_error(top_usage);
	}
	return top_loop(interval, (long)iterations);
}

/* ---- console ---- */

#define RELAY_CHUNK	4096

struct relay {
	int sock;
	bool in_open;		/* stdin not at end of file yet */
	struct console_input in;	/* Ctrl-A d detaches */
	uint8_t to_vm[4 * RELAY_CHUNK];
	size_t to_vm_len;
	int err;		/* why the relay failed: -errno */
};

enum relay_end { RELAY_DETACHED, RELAY_CLOSED, RELAY_SIGNAL, RELAY_FAILED };

/* Guest-bound bytes are queued (console_filter); true on Ctrl-A d. */
static bool relay_filter(struct relay *r, const uint8_t *in, size_t len)
{
	size_t n;
	enum console_cmd cmd = console_filter(&r->in, in, len, r->to_vm + r->to_vm_len, &n);

	r->to_vm_len += n;
	return cmd == CONSOLE_CMD_LEAVE;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n > 0) {
			buf += n;
			len -= n;
		} else if (n < 0 && errno == EAGAIN) {
			poll(&pfd, 1, -1);	/* someone made our stdout non-blocking */
		} else if (n < 0 && errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

/* Send what is queued for the guest, as much as the socket takes now. */
static int relay_send(struct relay *r)
{
	ssize_t n = send(r->sock, r->to_vm, r->to_vm_len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	memmove(r->to_vm, r->to_vm + n, r->to_vm_len - n);
	r->to_vm_len -= n;
	return 0;
}

/* Guest output → stdout. 0, 1 at the end of the console, or -errno. */
static int relay_output(struct relay *r)
{
	uint8_t buf[RELAY_CHUNK];
	ssize_t n = recv(r->sock, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return 1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	return write_all(STDOUT_FILENO, buf, n);
}

/* stdin → the guest's queue. 0, 1 on detach, or -errno. */
static int relay_input(struct relay *r)
{
	uint8_t buf[RELAY_CHUNK];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0) {
		/* Keep showing the console; a lone Ctrl-A at the end is a byte. */
		r->in_open = false;
		if (r->in.escape)
			r->to_vm[r->to_vm_len++] = CONSOLE_ESCAPE;
		r->in.escape = false;
		return 0;
	}
	return relay_filter(r, buf, n) ? 1 : 0;
}

/* Give the guest what was typed before the detach, for up to a second. */
static void relay_flush(struct relay *r)
{
	struct pollfd pfd = { .fd = r->sock, .events = POLLOUT };
	double deadline = now_s() + 1;

	while (r->to_vm_len && now_s() < deadline) {
		if (relay_send(r) < 0)
			return;
		if (r->to_vm_len)
			poll(&pfd, 1, 100);
	}
}

static enum relay_end relay_fail(struct relay *r, int err)
{
	r->err = err;
	return RELAY_FAILED;
}

static enum relay_end relay(struct relay *r, const struct sig_guard *g)
{
	struct pollfd pfd[2];
	int ret;

	for (;;) {
		if (stop_signal)
			return RELAY_SIGNAL;
		pfd[0] = (struct pollfd){ .fd = r->sock, .events = POLLIN };
		if (r->to_vm_len)
			pfd[0].events |= POLLOUT;
		/* Read input only when the queue can take a chunk doubled by escapes. */
		pfd[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		if (!r->in_open || r->to_vm_len + 2 * RELAY_CHUNK + 1 > sizeof(r->to_vm))
			pfd[1].fd = -1;
		if (ppoll(pfd, 2, NULL, &g->wait_mask) < 0) {
			if (errno != EINTR)
				return relay_fail(r, -errno);
			if (stop_signal)
				return RELAY_SIGNAL;
			continue;
		}
		ret = (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) ? relay_output(r) : 0;
		if (ret)
			return ret > 0 ? RELAY_CLOSED : relay_fail(r, ret);
		ret = (pfd[0].revents & POLLOUT) ? relay_send(r) : 0;
		if (ret == -EPIPE || ret == -ECONNRESET)
			return RELAY_CLOSED;
		if (ret)
			return relay_fail(r, ret);
		ret = pfd[1].revents ? relay_input(r) : 0;
		if (ret > 0) {
			relay_flush(r);
			return RELAY_DETACHED;
		}
		if (ret < 0)
			return relay_fail(r, ret);
	}
}

static int console_attached(const char *name, int sock)
{
	struct relay *r = calloc(1, sizeof(*r));
	/* Finish the guest's last line on a terminal before our message. */
	const char *nl = isatty(STDOUT_FILENO) ? "\n" : "";
	struct sig_guard guard;
	enum relay_end end;
	int err;

	if (!r) {
		close(sock);
		return FAILED;
	}
	r->sock = sock;
	r->in_open = true;
	r->in = CONSOLE_INPUT_ATTACH;
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "skiff: connected to %s's console (Ctrl-A d detaches)\r\n", name);
	sig_guard_enter(&guard);
	console_term_raw();
	end = relay(r, &guard);
	console_term_restore();
	err = r->err;
	close(sock);
	free(r);
	if (end == RELAY_DETACHED || end == RELAY_SIGNAL)
		fprintf(stderr, "%sskiff: detached from %s\n", nl, name);
	else if (end == RELAY_CLOSED)
		fprintf(stderr, "%sskiff: %s's console closed\n", nl, name);
	else
		fprintf(stderr, "%sskiff console %s: %s\n", nl, name, strerror(-err));
	sig_guard_leave(&guard);
	if (end == RELAY_SIGNAL)
		return 128 + stop_signal;
	return end == RELAY_FAILED ? FAILED : 0;
}

static int cmd_console(int argc, char **argv)
{
	static const char usage[] = "usage: skiff console NAME   (Ctrl-A d detaches)\n";
	char path[PATH_LEN], sock_path[PATH_LEN];
	const char *name = argv[1];
	int sock;

	if (argc == 2 && (!strcmp(name, "-h") || !strcmp(name, "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc != 2 || name[0] == '-')
		return usage_error(usage);
	if (skiff_vm_path(path, sizeof(path), name, SKIFF_CONSOLE_SUFFIX) ||
	    skiff_vm_path(sock_path, sizeof(sock_path), name, SKIFF_SOCK_SUFFIX))
		return report("console", name, -ENOENT, NULL);
	if (!is_socket(path)) {
		if (!is_socket(sock_path))
			return report("console", name, -ENOENT, NULL);
		fprintf(stderr, "skiff console %s: %s was not started with --detach "
			"(no console socket)\n", name, name);
		return FAILED;
	}
	sock = skiff_socket_connect(path, 0);
	if (sock == -ECONNREFUSED && probe(sock_path))
		return report("console", name, sock, NULL);	/* died: stale */
	if (sock < 0) {
		fprintf(stderr, "skiff console %s: %s: %s\n", name, path, strerror(-sock));
		return FAILED;
	}
	return console_attached(name, sock);
}

/* ---- dispatch ---- */

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "ls", cmd_ls },
	{ "top", cmd_top },
	{ "info", cmd_info },
	{ "pause", cmd_action },
	{ "resume", cmd_action },
	{ "stop", cmd_action },
	{ "kill", cmd_action },
	{ "console", cmd_console },
};

int toolstack_main(int argc, char **argv, bool *handled)
{
	unsigned int i;

	*handled = false;
	if (argc < 1)
		return 0;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[0], commands[i].name)) {
			*handled = true;
			return commands[i].run(argc, argv);
		}
	}
	return 0;
}
