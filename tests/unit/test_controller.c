// SPDX-License-Identifier: MIT
/*
 * The control API's request handling (controller_handle): every route with
 * good and bad bodies, the instance's states, and operations that fail,
 * against fake controller_ops that record what they were asked to do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/controller.h"
#include "api/fc_config.h"
#include "tmpdir.h"
#include "cli/cli.h"

/* ---- files the requests name, in a directory made for the test run ---- */

static char dir[64];
static char kernel[128], rootfs[128], data[128], log_file[128], metrics_file[128];
static char fifo[128];

static int make_files(void **state)
{
	(void)state;
	if (tmpdir_make(dir, sizeof(dir), NULL, "ctl-test"))
		return -1;
	snprintf(log_file, sizeof(log_file), "%s/skiff.log", dir);
	snprintf(metrics_file, sizeof(metrics_file), "%s/metrics.json", dir);
	snprintf(fifo, sizeof(fifo), "%s/metrics.fifo", dir);
	return tmpdir_file(dir, "vmlinux", kernel, sizeof(kernel)) ||
	       tmpdir_file(dir, "rootfs.ext4", rootfs, sizeof(rootfs)) ||
	       tmpdir_file(dir, "data.img", data, sizeof(data)) ? -1 : 0;
}

static int remove_files(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* ---- the fake operations ---- */

enum fake_op {
	OP_START, OP_PAUSE, OP_RESUME, OP_SHUTDOWN, OP_KILL, OP_CAD, OP_SWAP, OP_METRICS,
	NR_OPS,
};

static const char *const op_names[NR_OPS] = {
	"start", "pause", "resume", "shutdown", "kill", "ctrl_alt_del", "swap_drive",
	"metrics",
};

enum fake_metrics {
	METRICS_BOTH,		/* add "vcpus" and "devices" */
	METRICS_VCPUS,		/* add only "vcpus" */
};

struct fake {
	unsigned int calls[NR_OPS];
	bool fail[NR_OPS];		/* return -1 with "fake <op> failed" */
	bool unlocked;			/* an op ran without the controller's lock */
	bool wrong_opaque;		/* an op got another opaque than the fake */
	enum fake_metrics metrics;
	unsigned int swap_idx;
	char swap_path[256];
	char start_cmdline[256];	/* cfg->cmdline when start was called */
	char start_disk0[64];		/* cfg->disks[0].id then */
};

static struct vm_config cfg;
static struct controller ctl;
static struct fake fake;

static int fake_call(void *opaque, enum fake_op op, char *err, size_t errlen)
{
	struct fake *f = opaque;

	if (f != &fake) {
		fake.wrong_opaque = true;
		f = &fake;
	}
	/* The ops run with the lock held: trying it from here must fail. */
	if (!pthread_mutex_trylock(&ctl.lock)) {
		f->unlocked = true;
		pthread_mutex_unlock(&ctl.lock);
	}
	f->calls[op]++;
	if (!f->fail[op])
		return 0;
	snprintf(err, errlen, "fake %s failed", op_names[op]);
	return -1;
}

static int fake_start(void *opaque, char *err, size_t errlen)
{
	snprintf(fake.start_cmdline, sizeof(fake.start_cmdline), "%s",
		 cfg.cmdline ? cfg.cmdline : "(null)");
	snprintf(fake.start_disk0, sizeof(fake.start_disk0), "%s",
		 cfg.nr_disks ? cfg.disks[0].id : "(none)");
	return fake_call(opaque, OP_START, err, errlen);
}

static int fake_pause(void *opaque, char *err, size_t errlen)
{
	return fake_call(opaque, OP_PAUSE, err, errlen);
}

static int fake_resume(void *opaque, char *err, size_t errlen)
{
	return fake_call(opaque, OP_RESUME, err, errlen);
}

static int fake_shutdown(void *opaque, char *err, size_t errlen)
{
	return fake_call(opaque, OP_SHUTDOWN, err, errlen);
}

static int fake_kill(void *opaque, char *err, size_t errlen)
{
	return fake_call(opaque, OP_KILL, err, errlen);
}

static int fake_ctrl_alt_del(void *opaque, char *err, size_t errlen)
{
	return fake_call(opaque, OP_CAD, err, errlen);
}

static int fake_swap_drive(void *opaque, unsigned int idx, const char *path, char *err,
			   size_t errlen)
{
	fake.swap_idx = idx;
	snprintf(fake.swap_path, sizeof(fake.swap_path), "%s", path);
	return fake_call(opaque, OP_SWAP, err, errlen);
}

static void fake_metrics(void *opaque, json_t *out)
{
	char err[64];

	fake_call(opaque, OP_METRICS, err, sizeof(err));
	json_object_set_new(out, "vcpus", json_pack("[{s:i, s:i}]", "id", 0, "exits_total", 7));
	if (fake.metrics == METRICS_BOTH)
		json_object_set_new(out, "devices", json_pack("[{s:s, s:s}]", "name", "blk0",
							      "kind", "virtio-blk"));
}

static const struct controller_ops fake_ops = {
	.start = fake_start,
	.pause = fake_pause,
	.resume = fake_resume,
	.shutdown = fake_shutdown,
	.kill = fake_kill,
	.ctrl_alt_del = fake_ctrl_alt_del,
	.swap_drive = fake_swap_drive,
	.metrics = fake_metrics,
};

/* ---- requests ---- */

static struct api_reply reply;
static char last_req[256];

static void drop_reply(void)
{
	free(reply.body);
	reply.body = NULL;
	reply.status = 0;
}

/* A request with exactly these len bytes of body (body NULL: none); the status. */
static int request_len(const char *method, const char *path, const char *body, size_t len)
{
	drop_reply();
	snprintf(last_req, sizeof(last_req), "%s %s %.*s", method, path,
		 body ? (int)len : 0, body ? body : "");
	controller_handle(&ctl, method, path, body, len, &reply);
	return reply.status;
}

static int request(const char *method, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A request with a printf-style body; the status. */
static int request(const char *method, const char *path, const char *fmt, ...)
{
	char body[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	return request_len(method, path, body, strlen(body));
}

static int get(const char *path)
{
	return request_len("GET", path, NULL, 0);
}

static int action(const char *type)
{
	return request("PUT", "/actions", "{\"action_type\": \"%s\"}", type);
}

static int patch_vm(const char *state)
{
	return request("PATCH", "/vm", "{\"state\": \"%s\"}", state);
}

/* The last reply was 204 with no body. */
#define expect_ok() check_ok(__LINE__)

static void check_ok(int line)
{
	if (reply.status != 204 || reply.body)
		fail_msg("line %d: %s: got %d %s, want 204 and no body", line, last_req,
			 reply.status, reply.body ? reply.body : "(no body)");
}

/* The last reply was status with {"fault_message": "...sub..."} and nothing else. */
#define expect_fault(status, sub) check_fault(__LINE__, status, sub)

static void check_fault(int line, int status, const char *sub)
{
	json_error_t jerr;
	json_t *j = NULL, *msg;
	const char *text;

	if (reply.status != status || !reply.body)
		fail_msg("line %d: %s: got %d %s, want %d \"%s\"", line, last_req, reply.status,
			 reply.body ? reply.body : "(no body)", status, sub);
	j = json_loads(reply.body, 0, &jerr);
	msg = json_object_get(j, "fault_message");
	text = json_string_value(msg);
	if (!j || json_object_size(j) != 1 || !text) {
		json_decref(j);
		fail_msg("line %d: %s: not a fault body: %s", line, last_req, reply.body);
	}
	if (!strstr(text, sub)) {
		json_decref(j);
		fail_msg("line %d: %s: fault \"%s\" does not say \"%s\"", line, last_req,
			 reply.body, sub);
	}
	json_decref(j);
}

/* The last reply was 200 with a JSON object: a new reference. */
#define expect_json() check_json(__LINE__)

static json_t *check_json(int line)
{
	json_error_t jerr;
	json_t *j;

	if (reply.status != 200 || !reply.body)
		fail_msg("line %d: %s: got %d %s, want 200 and a body", line, last_req,
			 reply.status, reply.body ? reply.body : "(no body)");
	j = json_loads(reply.body, 0, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		fail_msg("line %d: %s: not a JSON object: %s", line, last_req, reply.body);
	}
	return j;
}

/* GET /'s state, in a static buffer. */
static const char *api_state(void)
{
	static char state[32];
	json_t *j;

	assert_int_equal(get("/"), 200);
	j = expect_json();
	snprintf(state, sizeof(state), "%s",
		 json_string_value(json_object_get(j, "state")) ?: "(none)");
	json_decref(j);
	return state;
}

/* GET /metrics's vmm.state, in a static buffer. */
static const char *metrics_state(void)
{
	static char state[32];
	json_t *j;

	assert_int_equal(get("/metrics"), 200);
	j = expect_json();
	snprintf(state, sizeof(state), "%s",
		 json_string_value(json_object_get(json_object_get(j, "vmm"), "state")) ?:
		 "(none)");
	json_decref(j);
	return state;
}

/* The whole configuration as GET /vm/config shows it; malloc'd. */
static char *config_dump(void)
{
	json_t *j = fc_vm_config_json(&cfg);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	assert_non_null(s);
	return s;
}

/* The config is still what before (a config_dump(), freed here) says. */
#define assert_config_is(before) do {					\
		char *then_ = (before), *now_ = config_dump();			\
		bool same_ = !strcmp(then_, now_);				\
										\
		if (!same_)							\
			fprintf(stderr, "before: %s\nafter:  %s\n", then_, now_);	\
		free(then_);							\
		free(now_);							\
		if (!same_)							\
			fail_msg("%s changed the config", last_req);		\
	} while (0)

static unsigned int total_calls(void)
{
	unsigned int n = 0;

	for (int i = 0; i < NR_OPS; i++)
		n += fake.calls[i];
	return n;
}

static int setup(void **state)
{
	(void)state;
	fc_config_init(&cfg, "t");
	memset(&fake, 0, sizeof(fake));
	memset(&reply, 0, sizeof(reply));
	controller_init(&ctl, &cfg, INSTANCE_NOT_STARTED, &fake_ops, &fake);
	return 0;
}

static int teardown(void **state)
{
	bool unlocked = fake.unlocked, wrong_opaque = fake.wrong_opaque;

	(void)state;
	drop_reply();
	controller_destroy(&ctl);
	cli_config_free(&cfg);
	unlink(metrics_file);
	unlink(log_file);
	unlink(fifo);
	if (unlocked || wrong_opaque) {
		fprintf(stderr, "an op ran %s\n", unlocked ? "without the controller's lock" :
			"with the wrong opaque");
		return -1;
	}
	return 0;
}

/* Boot-source (and a root drive when root): what InstanceStart needs. */
static void configure(bool root)
{
	assert_int_equal(request("PUT", "/boot-source", "{\"kernel_image_path\": \"%s\"}",
				 kernel), 204);
	if (root)
		assert_int_equal(request("PUT", "/drives/rootfs",
					 "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
					 "\"is_root_device\": true}", rootfs), 204);
}

static void start(void)
{
	unsigned int starts = fake.calls[OP_START];

	assert_int_equal(action("InstanceStart"), 204);
	assert_null(reply.body);
	assert_int_equal(fake.calls[OP_START], starts + 1);
	assert_string_equal(api_state(), "Running");
}

/* The checks every body-taking route shares: no body, bad JSON. */
static void check_bad_bodies(const char *method, const char *path, const char *what)
{
	char *before = config_dump();
	unsigned int calls = total_calls();
	char want[128];

	snprintf(want, sizeof(want), "%s: the request needs a JSON body", what);
	request_len(method, path, NULL, 0);
	expect_fault(400, want);
	request_len(method, path, "", 0);
	expect_fault(400, want);
	/* A body pointer with len 0 is no body, whatever it points at. */
	request_len(method, path, "{}", 0);
	expect_fault(400, want);

	snprintf(want, sizeof(want), "%s: invalid JSON", what);
	request(method, path, "{");
	expect_fault(400, want);
	request(method, path, "{\"a\": 1,}");
	expect_fault(400, want);
	request(method, path, "not json");
	expect_fault(400, want);
	/* Only len bytes count: a valid object cut short is invalid. */
	request_len(method, path, "{\"a\": 1}", 4);
	expect_fault(400, want);
	/* Duplicate keys are refused. */
	request(method, path, "{\"a\": 1, \"a\": 2}");
	expect_fault(400, "duplicate");
	/* Top-level scalars are not JSON bodies. */
	request(method, path, "42");
	expect_fault(400, want);

	assert_config_is(before);
	assert_int_equal(total_calls(), calls);
}

/* ---- GET ---- */

static void test_get_instance_info(void **state)
{
	json_t *j, *want;

	(void)state;
	assert_int_equal(get("/"), 200);
	j = expect_json();
	want = json_pack("{s:s, s:s, s:s, s:s}", "app_name", "skiff", "id", "t",
			 "state", "Not started", "vmm_version", SKIFF_VERSION);
	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);

	/* A GET ignores a body. */
	assert_int_equal(request("GET", "/", "{"), 200);

	assert_int_equal(get("/version"), 200);
	j = expect_json();
	assert_int_equal(json_object_size(j), 1);
	assert_string_equal(json_string_value(json_object_get(j, "firecracker_version")),
			    SKIFF_VERSION);
	json_decref(j);

	assert_int_equal(get("/machine-config"), 200);
	j = expect_json();
	want = json_pack("{s:i, s:i, s:b, s:b, s:s}", "vcpu_count", 1, "mem_size_mib", 128,
			 "smt", 0, "track_dirty_pages", 0, "huge_pages", "None");
	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);

	assert_int_equal(get("/vm/config"), 200);
	j = expect_json();
	want = fc_vm_config_json(&cfg);
	assert_true(json_equal(j, want));
	assert_null(json_object_get(j, "boot-source"));
	json_decref(j);
	json_decref(want);
	assert_int_equal(total_calls(), 0);
}

static void test_get_vm_config_follows_puts(void **state)
{
	json_t *j, *bs, *drives;

	(void)state;
	configure(true);
	assert_int_equal(request("PUT", "/machine-config",
				 "{\"vcpu_count\": 3, \"mem_size_mib\": 512}"), 204);
	assert_int_equal(get("/vm/config"), 200);
	j = expect_json();
	bs = json_object_get(j, "boot-source");
	assert_string_equal(json_string_value(json_object_get(bs, "kernel_image_path")), kernel);
	drives = json_object_get(j, "drives");
	assert_int_equal(json_array_size(drives), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(drives, 0),
							      "path_on_host")), rootfs);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j,
		"machine-config"), "vcpu_count")), 3);
	json_decref(j);

	assert_int_equal(get("/machine-config"), 200);
	j = expect_json();
	assert_int_equal(json_integer_value(json_object_get(j, "vcpu_count")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "mem_size_mib")), 512);
	json_decref(j);
}

/* ---- routing ---- */

static void test_unknown_routes(void **state)
{
	static const char *const bad[][2] = {
		{ "GET", "/nope" }, { "GET", "/drives/rootfs" }, { "GET", "/actions" },
		{ "GET", "/metrics/x" }, { "GET", "" }, { "DELETE", "/" },
		{ "DELETE", "/drives/rootfs" }, { "POST", "/actions" }, { "HEAD", "/" },
		{ "PUT", "/" }, { "PUT", "/vm/config" }, { "PUT", "/version" },
		{ "PUT", "/drives/" }, { "PUT", "/drives" }, { "PUT", "/drives/a/b" },
		{ "PUT", "/network-interfaces/" }, { "PATCH", "/drives/" },
		{ "PUT", "/boot-source/x" }, { "put", "/boot-source" }, { "PUT", "/balloon" },
	};
	/* Known paths, but not with these methods: the body is valid. */
	static const char *const wrong_method[][2] = {
		{ "PATCH", "/boot-source" }, { "PUT", "/vm" }, { "PATCH", "/actions" },
		{ "PATCH", "/entropy" }, { "PATCH", "/logger" }, { "PATCH", "/metrics" },
		{ "PATCH", "/network-interfaces/eth0" },
	};
	char *before = config_dump();
	char want[128];

	(void)state;
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		request(bad[i][0], bad[i][1], "{}");
		snprintf(want, sizeof(want), "Invalid request method and/or path: %s %s",
			 bad[i][0], bad[i][1]);
		expect_fault(400, want);
		request_len(bad[i][0], bad[i][1], NULL, 0);
		expect_fault(400, want);
	}
	for (unsigned int i = 0; i < sizeof(wrong_method) / sizeof(wrong_method[0]); i++) {
		request(wrong_method[i][0], wrong_method[i][1], "{\"state\": \"Paused\"}");
		snprintf(want, sizeof(want), "Invalid request method and/or path: %s %s",
			 wrong_method[i][0], wrong_method[i][1]);
		expect_fault(400, want);
	}
	assert_config_is(before);
	assert_string_equal(api_state(), "Not started");
	assert_int_equal(total_calls(), 0);
}

/* ---- pre-boot configuration ---- */

static void test_boot_source(void **state)
{
	char *before;

	(void)state;
	check_bad_bodies("PUT", "/boot-source", "boot-source");

	assert_int_equal(request("PUT", "/boot-source",
				 "{\"kernel_image_path\": \"%s\", "
				 "\"boot_args\": \"console=ttyS0 quiet\"}", kernel), 204);
	expect_ok();
	assert_string_equal(cfg.kernel_path, kernel);
	assert_string_equal(cfg.cmdline, "console=ttyS0 quiet");
	assert_null(cfg.initrd_path);

	before = config_dump();
	request("PUT", "/boot-source", "{\"kernel_image_path\": \"%s\", \"kernel_args\": \"x\"}",
		kernel);
	expect_fault(400, "boot-source: unknown field 'kernel_args'");
	request("PUT", "/boot-source", "{\"kernel_image_path\": 5}");
	expect_fault(400, "boot-source: kernel_image_path: must be a string");
	request("PUT", "/boot-source", "{\"kernel_image_path\": \"%s\", \"boot_args\": []}",
		kernel);
	expect_fault(400, "boot_args: must be a string");
	request("PUT", "/boot-source", "{\"boot_args\": \"quiet\"}");
	expect_fault(400, "missing field 'kernel_image_path'");
	request("PUT", "/boot-source", "{\"kernel_image_path\": \"%s/nope\"}", dir);
	expect_fault(400, "No such file or directory");
	request("PUT", "/boot-source", "[]");
	expect_fault(400, "boot-source: the body must be a JSON object");
	assert_config_is(before);
	assert_int_equal(total_calls(), 0);
}

static void test_machine_config(void **state)
{
	char *before;

	(void)state;
	check_bad_bodies("PUT", "/machine-config", "machine-config");
	check_bad_bodies("PATCH", "/machine-config", "machine-config");

	assert_int_equal(request("PUT", "/machine-config",
				 "{\"vcpu_count\": 2, \"mem_size_mib\": 256}"), 204);
	expect_ok();
	assert_int_equal(cfg.cpus, 2);
	assert_int_equal(cfg.mem_size, 256ULL << 20);

	/* PATCH changes only what it names. */
	assert_int_equal(request("PATCH", "/machine-config", "{\"vcpu_count\": 4}"), 204);
	assert_int_equal(cfg.cpus, 4);
	assert_int_equal(cfg.mem_size, 256ULL << 20);
	assert_int_equal(request("PATCH", "/machine-config",
				 "{\"track_dirty_pages\": true}"), 204);
	assert_true(cfg.track_dirty_pages);
	assert_int_equal(cfg.cpus, 4);

	before = config_dump();
	request("PATCH", "/machine-config", "{}");
	expect_fault(400, "machine-config: empty PATCH request");
	request("PUT", "/machine-config", "{\"vcpu_count\": 2}");
	expect_fault(400, "missing field 'mem_size_mib'");
	request("PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256, "
		"\"vcpus\": 2}");
	expect_fault(400, "machine-config: unknown field 'vcpus'");
	request("PATCH", "/machine-config", "{\"memory\": 256}");
	expect_fault(400, "machine-config: unknown field 'memory'");
	request("PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 256}");
	expect_fault(400, "machine-config: vcpu_count: must be an integer");
	request("PATCH", "/machine-config", "{\"mem_size_mib\": 1.5}");
	expect_fault(400, "machine-config: mem_size_mib: must be an integer");
	request("PATCH", "/machine-config", "{\"smt\": 1}");
	expect_fault(400, "machine-config: smt: must be a boolean");
	request("PATCH", "/machine-config", "{\"vcpu_count\": 0}");
	expect_fault(400, "vcpu_count: must be an integer from 1");
	assert_config_is(before);
	assert_int_equal(total_calls(), 0);
}

static void test_put_drives(void **state)
{
	char *before;

	(void)state;
	check_bad_bodies("PUT", "/drives/rootfs", "drives/rootfs");

	assert_int_equal(request("PUT", "/drives/rootfs",
				 "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
				 "\"is_root_device\": true, \"is_read_only\": false}", rootfs),
			 204);
	expect_ok();
	assert_int_equal(cfg.nr_disks, 1);
	assert_string_equal(cfg.disks[0].id, "rootfs");
	assert_string_equal(cfg.disks[0].path, rootfs);
	assert_true(cfg.disks[0].is_root);
	assert_int_equal(request("PUT", "/drives/data",
				 "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
				 "\"is_root_device\": false}", data), 204);
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[1].id, "data");

	before = config_dump();
	request("PUT", "/drives/other", "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
		"\"is_root_device\": false}", data);
	expect_fault(400, "does not match the id in the URL path, \"other\"");
	request("PUT", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
		"\"is_root_device\": false, \"path_on_hots\": \"x\"}", data);
	expect_fault(400, "drives: unknown field 'path_on_hots'");
	request("PUT", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
		"\"is_root_device\": \"no\"}", data);
	expect_fault(400, "drives: is_root_device: must be a boolean");
	request("PUT", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": 1, "
		"\"is_root_device\": false}");
	expect_fault(400, "drives: path_on_host: must be a string");
	request("PUT", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
		"\"is_root_device\": true}", data);
	expect_fault(400, "is_root_device: drive \"rootfs\" is already the root device");
	assert_config_is(before);
	assert_int_equal(total_calls(), 0);
}

static void test_network_interfaces(void **state)
{
	char *before;

	(void)state;
	check_bad_bodies("PUT", "/network-interfaces/eth0", "network-interfaces/eth0");
	assert_true(cfg.net_none);

	assert_int_equal(request("PUT", "/network-interfaces/eth0",
				 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
				 "\"guest_mac\": \"06:00:ac:10:00:02\"}"), 204);
	expect_ok();
	assert_int_equal(cfg.nr_nics, 1);
	assert_string_equal(cfg.nics[0].id, "eth0");
	assert_string_equal(cfg.nics[0].ifname, "tap0");
	assert_true(cfg.nics[0].mac_set);
	assert_false(cfg.net_none);

	before = config_dump();
	request("PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\", "
		"\"host_dev_name\": \"tap1\", \"mac\": \"06:00:ac:10:00:03\"}");
	expect_fault(400, "network-interfaces: unknown field 'mac'");
	request("PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\", "
		"\"host_dev_name\": 7}");
	expect_fault(400, "network-interfaces: host_dev_name: must be a string");
	request("PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\", "
		"\"host_dev_name\": \"tap1\", \"queues\": \"2\"}");
	expect_fault(400, "network-interfaces: queues: must be an integer");
	request("PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth0\", "
		"\"host_dev_name\": \"tap1\"}");
	expect_fault(400, "does not match the id in the URL path, \"eth1\"");
	request("PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\", "
		"\"host_dev_name\": \"tap0\"}");
	expect_fault(400, "host_dev_name: \"tap0\" is already used by interface \"eth0\"");
	assert_config_is(before);
	assert_int_equal(total_calls(), 0);
}

static void test_entropy(void **state)
{
	char *before;

	(void)state;
	check_bad_bodies("PUT", "/entropy", "entropy");
	assert_false(cfg.rng);

	before = config_dump();
	request("PUT", "/entropy", "{\"rate_limiter\": null, \"device\": \"/dev/random\"}");
	expect_fault(400, "entropy: unknown field 'device'");
	request("PUT", "/entropy", "{\"rate_limiter\": 1}");
	expect_fault(400, "entropy: rate_limiter: must be an object");
	request("PUT", "/entropy", "{\"rate_limiter\": {\"bandwidth\": {\"size\": 1}}}");
	expect_fault(400, "entropy: rate_limiter: not supported by skiff");
	assert_config_is(before);
	assert_false(cfg.rng);

	assert_int_equal(request("PUT", "/entropy", "{}"), 204);
	expect_ok();
	assert_true(cfg.rng);
	assert_int_equal(total_calls(), 0);
}

static void test_logger(void **state)
{
	char *before;

	(void)state;
	check_bad_bodies("PUT", "/logger", "logger");

	assert_int_equal(request("PUT", "/logger", "{\"log_path\": \"%s\", \"level\": \"Debug\", "
				 "\"show_level\": true}", log_file), 204);
	expect_ok();
	assert_string_equal(cfg.log_path, log_file);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_true(cfg.log_show_level);
	assert_int_equal(access(log_file, F_OK), 0);	/* made by the PUT */

	before = config_dump();
	request("PUT", "/logger", "{\"log_path\": \"%s\", \"log_level\": \"Debug\"}", log_file);
	expect_fault(400, "logger: unknown field 'log_level'");
	request("PUT", "/logger", "{\"show_level\": \"yes\"}");
	expect_fault(400, "logger: show_level: must be a boolean");
	request("PUT", "/logger", "{\"level\": 3}");
	expect_fault(400, "logger: level: must be a string");
	request("PUT", "/logger", "{\"level\": \"Loud\"}");
	expect_fault(400, "logger: level: must be");
	request("PUT", "/logger", "{\"log_path\": \"%s/no/such/dir/log\"}", dir);
	expect_fault(400, "logger: log_path:");
	assert_config_is(before);
	assert_int_equal(total_calls(), 0);
}

static void test_put_metrics(void **state)
{
	char *before;

	(void)state;
	check_bad_bodies("PUT", "/metrics", "metrics");

	assert_int_equal(request("PUT", "/metrics", "{\"metrics_path\": \"%s\"}", metrics_file),
			 204);
	expect_ok();
	assert_string_equal(cfg.metrics_path, metrics_file);

	before = config_dump();
	request("PUT", "/metrics", "{\"metrics_path\": \"%s\", \"format\": \"json\"}",
		metrics_file);
	expect_fault(400, "metrics: unknown field 'format'");
	request("PUT", "/metrics", "{\"metrics_path\": true}");
	expect_fault(400, "metrics: metrics_path: must be a string");
	request("PUT", "/metrics", "{}");
	expect_fault(400, "metrics: missing field 'metrics_path'");
	request("PUT", "/metrics", "{\"metrics_path\": \"\"}");
	expect_fault(400, "metrics: metrics_path: must not be empty");
	assert_config_is(before);
	assert_int_equal(total_calls(), 0);
}

/* Every pre-boot PUT/PATCH, with a body that would be accepted before the start. */
static void check_preboot_refused(void)
{
	struct {
		const char *method, *path;
		char body[512];
	} reqs[] = {
		{ "PUT", "/boot-source", "" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256}" },
		{ "PATCH", "/machine-config", "{\"vcpu_count\": 2}" },
		{ "PUT", "/drives/data", "" },
		{ "PUT", "/network-interfaces/eth0",
		  "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}" },
		{ "PUT", "/entropy", "{}" },
		{ "PUT", "/logger", "" },
		{ "PUT", "/metrics", "" },
	};
	char *before = config_dump();
	unsigned int calls = total_calls();
	char want[128];

	snprintf(reqs[0].body, sizeof(reqs[0].body),
		 "{\"kernel_image_path\": \"%s\", \"boot_args\": \"quiet\"}", kernel);
	snprintf(reqs[3].body, sizeof(reqs[3].body), "{\"drive_id\": \"data\", "
		 "\"path_on_host\": \"%s\", \"is_root_device\": false}", data);
	snprintf(reqs[6].body, sizeof(reqs[6].body), "{\"log_path\": \"%s\"}", log_file);
	snprintf(reqs[7].body, sizeof(reqs[7].body), "{\"metrics_path\": \"%s\"}",
		 metrics_file);
	for (unsigned int i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		request(reqs[i].method, reqs[i].path, "%s", reqs[i].body);
		snprintf(want, sizeof(want), "%s %s: not allowed after the instance started",
			 reqs[i].method, reqs[i].path);
		expect_fault(400, want);
	}
	assert_config_is(before);
	assert_int_equal(total_calls(), calls);
	/* The refused PUTs created nothing. */
	assert_int_equal(access(log_file, F_OK), -1);
	assert_int_equal(access(metrics_file, F_OK), -1);
}

static void test_preboot_after_start(void **state)
{
	(void)state;
	configure(true);
	start();
	check_preboot_refused();
	/* Bad JSON is still reported as such. */
	request("PUT", "/boot-source", "{");
	expect_fault(400, "boot-source: invalid JSON");

	assert_int_equal(patch_vm("Paused"), 204);
	check_preboot_refused();
	assert_int_equal(patch_vm("Resumed"), 204);

	assert_int_equal(action("Shutdown"), 204);
	check_preboot_refused();
	assert_string_equal(metrics_state(), "shutting down");
}

/* ---- actions ---- */

static void test_actions_bodies(void **state)
{
	(void)state;
	check_bad_bodies("PUT", "/actions", "actions");

	request("PUT", "/actions", "[\"InstanceStart\"]");
	expect_fault(400, "actions: the body must be a JSON object");
	request("PUT", "/actions", "{}");
	expect_fault(400, "actions: action_type: missing");
	request("PUT", "/actions", "{\"action_type\": 1}");
	expect_fault(400, "actions: action_type: must be a string");
	request("PUT", "/actions", "{\"action_type\": null}");
	expect_fault(400, "actions: action_type: must be a string");
	request("PUT", "/actions", "{\"action_type\": \"InstanceStart\", \"force\": true}");
	expect_fault(400, "actions: unknown field 'force'");
	request("PUT", "/actions", "{\"force\": true}");
	expect_fault(400, "actions: unknown field 'force'");
	action("Reboot");
	expect_fault(400, "actions: Reboot: unknown action_type 'Reboot'");
	action("instancestart");
	expect_fault(400, "unknown action_type 'instancestart'");
	action("");
	expect_fault(400, "unknown action_type ''");
	assert_int_equal(total_calls(), 0);
	assert_string_equal(api_state(), "Not started");
}

static void test_actions_before_start(void **state)
{
	static const char *const actions[] = { "SendCtrlAltDel", "Shutdown", "Kill" };
	char want[128];

	(void)state;
	configure(true);
	for (unsigned int i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		action(actions[i]);
		snprintf(want, sizeof(want), "actions: %s: the instance is not started",
			 actions[i]);
		expect_fault(400, want);
	}
	assert_int_equal(total_calls(), 0);
	assert_string_equal(api_state(), "Not started");
	assert_string_equal(metrics_state(), "not started");
}

static void test_instance_start_without_kernel(void **state)
{
	char *before;

	(void)state;
	before = config_dump();
	action("InstanceStart");
	expect_fault(400, "actions: InstanceStart: boot-source: no kernel_image_path");
	assert_int_equal(fake.calls[OP_START], 0);
	assert_string_equal(api_state(), "Not started");
	assert_config_is(before);

	/* A drive is not enough either. */
	assert_int_equal(request("PUT", "/drives/rootfs",
				 "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
				 "\"is_root_device\": true}", rootfs), 204);
	action("InstanceStart");
	expect_fault(400, "no kernel_image_path");
	assert_int_equal(fake.calls[OP_START], 0);
	assert_string_equal(api_state(), "Not started");
}

static void test_instance_start(void **state)
{
	json_t *j;

	(void)state;
	configure(false);
	assert_null(cfg.cmdline);
	start();
	/* The op saw the finalized config: Firecracker's default command line. */
	assert_string_equal(fake.start_cmdline, "console=ttyS0 reboot=k panic=1");
	assert_string_equal(cfg.cmdline, "console=ttyS0 reboot=k panic=1");
	assert_string_equal(metrics_state(), "running");
	assert_int_equal(get("/vm/config"), 200);
	j = expect_json();
	assert_string_equal(json_string_value(json_object_get(json_object_get(j,
		"boot-source"), "boot_args")), "console=ttyS0 reboot=k panic=1");
	json_decref(j);

	action("InstanceStart");
	expect_fault(400, "actions: InstanceStart: the instance is already running");
	assert_int_equal(fake.calls[OP_START], 1);
	assert_string_equal(api_state(), "Running");

	assert_int_equal(patch_vm("Paused"), 204);
	action("InstanceStart");
	expect_fault(400, "the instance is already paused");
	assert_int_equal(fake.calls[OP_START], 1);
	assert_string_equal(api_state(), "Paused");
}

static void test_instance_start_root_drive(void **state)
{
	(void)state;
	/* The root drive is given second: the start makes it vda. */
	assert_int_equal(request("PUT", "/drives/data",
				 "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
				 "\"is_root_device\": false}", data), 204);
	configure(true);
	assert_string_equal(cfg.disks[0].id, "data");
	start();
	assert_string_equal(fake.start_cmdline,
			    "console=ttyS0 reboot=k panic=1 root=/dev/vda rw");
	assert_string_equal(fake.start_disk0, "rootfs");
	assert_string_equal(cfg.disks[1].id, "data");
}

static void test_instance_start_boot_args(void **state)
{
	(void)state;
	assert_int_equal(request("PUT", "/boot-source", "{\"kernel_image_path\": \"%s\", "
				 "\"boot_args\": \"console=ttyS0 pci=off quiet\"}", kernel), 204);
	start();
	/* Given boot_args are kept, but pci=off goes: skiff's devices are on PCI. */
	assert_string_equal(fake.start_cmdline, "console=ttyS0 quiet");
}

static void test_instance_start_fails(void **state)
{
	(void)state;
	configure(true);
	fake.fail[OP_START] = true;
	action("InstanceStart");
	expect_fault(400, "actions: InstanceStart: fake start failed");
	assert_int_equal(fake.calls[OP_START], 1);
	assert_string_equal(api_state(), "Not started");
	assert_string_equal(metrics_state(), "not started");
	assert_int_equal(fake.calls[OP_METRICS], 0);
	/* Still configurable, and a second try can work. */
	assert_int_equal(request("PATCH", "/machine-config", "{\"vcpu_count\": 2}"), 204);
	fake.fail[OP_START] = false;
	start();
	assert_int_equal(fake.calls[OP_START], 2);
}

/*
 * "a 400 always means nothing happened" (controller.c): an InstanceStart
 * whose op fails must leave the configuration as it was, so a retry after
 * fixing the configuration (here: the root drive made read-only) starts
 * from what the client configured.
 */
static void test_failed_start_changes_nothing(void **state)
{
	char *before;

	(void)state;
	configure(true);
	before = config_dump();
	fake.fail[OP_START] = true;
	action("InstanceStart");
	expect_fault(400, "fake start failed");
	assert_config_is(before);

	assert_int_equal(request("PUT", "/drives/rootfs",
				 "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
				 "\"is_root_device\": true, \"is_read_only\": true}", rootfs), 204);
	fake.fail[OP_START] = false;
	start();
	assert_string_equal(fake.start_cmdline,
			    "console=ttyS0 reboot=k panic=1 root=/dev/vda ro");
}

static void test_running_actions(void **state)
{
	(void)state;
	configure(true);
	start();

	assert_int_equal(action("SendCtrlAltDel"), 204);
	expect_ok();
	assert_int_equal(fake.calls[OP_CAD], 1);
	assert_string_equal(api_state(), "Running");

	assert_int_equal(action("Kill"), 204);
	expect_ok();
	assert_int_equal(fake.calls[OP_KILL], 1);

	/* Each action calls its own op only. */
	assert_int_equal(fake.calls[OP_SHUTDOWN], 0);
	assert_int_equal(fake.calls[OP_PAUSE] + fake.calls[OP_RESUME] + fake.calls[OP_SWAP], 0);

	assert_int_equal(action("Shutdown"), 204);
	expect_ok();
	assert_int_equal(fake.calls[OP_SHUTDOWN], 1);
	assert_int_equal(fake.calls[OP_CAD], 1);
	assert_int_equal(fake.calls[OP_KILL], 1);
	/* Firecracker has no "shutting down": GET / says Running, metrics say more. */
	assert_string_equal(api_state(), "Running");
	assert_string_equal(metrics_state(), "shutting down");
	patch_vm("Paused");
	expect_fault(400, "vm: cannot pause: the instance is shutting down");
	patch_vm("Resumed");
	expect_fault(400, "vm: cannot resume: the instance is shutting down");
	action("InstanceStart");
	expect_fault(400, "the instance is already shutting down");
	assert_int_equal(fake.calls[OP_PAUSE] + fake.calls[OP_RESUME], 0);
	assert_int_equal(fake.calls[OP_START], 1);
	/* Kill is what is left when the guest does not stop. */
	assert_int_equal(action("Kill"), 204);
	assert_int_equal(fake.calls[OP_KILL], 2);
	assert_int_equal(action("Shutdown"), 204);
	assert_int_equal(fake.calls[OP_SHUTDOWN], 2);
}

static void test_running_actions_fail(void **state)
{
	(void)state;
	configure(true);
	start();
	fake.fail[OP_CAD] = fake.fail[OP_KILL] = fake.fail[OP_SHUTDOWN] = true;

	action("SendCtrlAltDel");
	expect_fault(400, "actions: SendCtrlAltDel: fake ctrl_alt_del failed");
	action("Kill");
	expect_fault(400, "actions: Kill: fake kill failed");
	action("Shutdown");
	expect_fault(400, "actions: Shutdown: fake shutdown failed");
	assert_int_equal(fake.calls[OP_CAD], 1);
	assert_int_equal(fake.calls[OP_KILL], 1);
	assert_int_equal(fake.calls[OP_SHUTDOWN], 1);
	/* A failed Shutdown leaves it running: it can still be paused. */
	assert_string_equal(metrics_state(), "running");
	assert_int_equal(patch_vm("Paused"), 204);
	assert_string_equal(api_state(), "Paused");
}

/* ---- PATCH /vm ---- */

static void test_patch_vm(void **state)
{
	char *before;

	(void)state;
	check_bad_bodies("PATCH", "/vm", "vm");
	configure(true);

	patch_vm("Paused");
	expect_fault(400, "vm: cannot pause: the instance is not started");
	patch_vm("Resumed");
	expect_fault(400, "vm: cannot resume: the instance is not started");
	assert_int_equal(total_calls(), 0);
	assert_string_equal(api_state(), "Not started");

	start();
	before = config_dump();
	patch_vm("Resumed");
	expect_fault(400, "vm: cannot resume: the instance is not paused");
	assert_int_equal(fake.calls[OP_RESUME], 0);

	assert_int_equal(patch_vm("Paused"), 204);
	expect_ok();
	assert_int_equal(fake.calls[OP_PAUSE], 1);
	assert_string_equal(api_state(), "Paused");
	assert_string_equal(metrics_state(), "paused");

	patch_vm("Paused");
	expect_fault(400, "vm: cannot pause: the instance is already paused");
	assert_int_equal(fake.calls[OP_PAUSE], 1);
	assert_string_equal(api_state(), "Paused");

	assert_int_equal(patch_vm("Resumed"), 204);
	expect_ok();
	assert_int_equal(fake.calls[OP_RESUME], 1);
	assert_string_equal(api_state(), "Running");
	assert_config_is(before);
}

static void test_patch_vm_bad_state_values(void **state)
{
	/* Each bad body, and what its fault must name. */
	static const char *const cases[][2] = {
		{ "{\"state\": \"Stopped\"}", "vm: state: must be" },
		{ "{\"state\": \"paused\"}", "vm: state: must be" },
		{ "{\"state\": 1}", "vm: state: must be" },
		{ "{\"state\": null}", "vm: state: must be" },
		{ "{\"state\": \"Paused\", \"extra\": 1}", "vm: unknown field 'extra'" },
		{ "{}", "vm: state: missing" },
		{ "{\"State\": \"Paused\"}", "vm: unknown field 'State'" },
		{ "[\"Paused\"]", "vm: the body must be a JSON object" },
	};

	(void)state;
	configure(true);
	start();
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		request("PATCH", "/vm", "%s", cases[i][0]);
		expect_fault(400, cases[i][1]);
	}
	assert_int_equal(fake.calls[OP_PAUSE] + fake.calls[OP_RESUME], 0);
	assert_string_equal(api_state(), "Running");
}

static void test_patch_vm_ops_fail(void **state)
{
	(void)state;
	configure(true);
	start();
	fake.fail[OP_PAUSE] = true;
	patch_vm("Paused");
	expect_fault(400, "vm: fake pause failed");
	assert_int_equal(fake.calls[OP_PAUSE], 1);
	assert_string_equal(api_state(), "Running");
	assert_string_equal(metrics_state(), "running");

	fake.fail[OP_PAUSE] = false;
	assert_int_equal(patch_vm("Paused"), 204);
	fake.fail[OP_RESUME] = true;
	patch_vm("Resumed");
	expect_fault(400, "vm: fake resume failed");
	assert_int_equal(fake.calls[OP_RESUME], 1);
	assert_string_equal(api_state(), "Paused");

	fake.fail[OP_RESUME] = false;
	assert_int_equal(patch_vm("Resumed"), 204);
	assert_string_equal(api_state(), "Running");
	assert_int_equal(fake.calls[OP_PAUSE], 2);
	assert_int_equal(fake.calls[OP_RESUME], 2);
}

/* ---- PATCH /drives/{id} ---- */

static void test_patch_drive(void **state)
{
	char *before;

	(void)state;
	assert_int_equal(request("PUT", "/drives/data",
				 "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
				 "\"is_root_device\": false}", data), 204);
	configure(true);

	request("PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\"}",
		data);
	expect_fault(400, "drives: PATCH is for a started instance; use PUT /drives/rootfs");
	assert_int_equal(fake.calls[OP_SWAP], 0);

	start();
	check_bad_bodies("PATCH", "/drives/rootfs", "drives/rootfs");

	/* After the start the root drive is disks[0], data disks[1]. */
	assert_int_equal(request("PATCH", "/drives/data",
				 "{\"drive_id\": \"data\", \"path_on_host\": \"%s\"}", rootfs),
			 204);
	expect_ok();
	assert_int_equal(fake.calls[OP_SWAP], 1);
	assert_int_equal(fake.swap_idx, 1);
	assert_string_equal(fake.swap_path, rootfs);
	assert_int_equal(request("PATCH", "/drives/rootfs",
				 "{\"path_on_host\": \"%s\", \"rate_limiter\": null}", data), 204);
	assert_int_equal(fake.calls[OP_SWAP], 2);
	assert_int_equal(fake.swap_idx, 0);
	assert_string_equal(fake.swap_path, data);

	/* Nothing to change: no swap. */
	assert_int_equal(request("PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\"}"), 204);
	assert_int_equal(request("PATCH", "/drives/rootfs", "{}"), 204);
	assert_int_equal(fake.calls[OP_SWAP], 2);

	before = config_dump();
	request("PATCH", "/drives/nope", "{\"drive_id\": \"nope\", \"path_on_host\": \"%s\"}",
		data);
	expect_fault(400, "drives: no drive 'nope'");
	request("PATCH", "/drives/data", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\"}",
		data);
	expect_fault(400, "drives: drive_id: must be the string 'data' from the path");
	request("PATCH", "/drives/data", "{\"drive_id\": 1}");
	expect_fault(400, "drives: drive_id: must be the string 'data'");
	request("PATCH", "/drives/data", "{\"path_on_host\": 1}");
	expect_fault(400, "drives: path_on_host: must be a string");
	request("PATCH", "/drives/data", "{\"path_on_host\": \"%s\", \"is_read_only\": true}",
		data);
	expect_fault(400, "drives: is_read_only: unknown field");
	request("PATCH", "/drives/data", "{\"rate_limiter\": {\"ops\": {\"size\": 1}}}");
	expect_fault(400, "drives: rate_limiter: not supported by skiff");
	request("PATCH", "/drives/data", "[]");
	expect_fault(400, "drives: the body must be a JSON object");
	assert_int_equal(fake.calls[OP_SWAP], 2);

	fake.fail[OP_SWAP] = true;
	request("PATCH", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"%s\"}",
		rootfs);
	expect_fault(400, "drives: path_on_host: fake swap_drive failed");
	assert_int_equal(fake.calls[OP_SWAP], 3);
	assert_config_is(before);
	assert_string_equal(api_state(), "Running");
}

/*
 * GET /vm/config names a drive that came from the command line (id "")
 * "drive<N>"; PATCH /drives/drive<N> should find that drive.
 */
static void test_patch_cli_drive(void **state)
{
	json_t *j;
	const char *id;
	char path[160];

	(void)state;
	cfg.disks[0].path = strdup(data);
	assert_non_null(cfg.disks[0].path);
	cfg.nr_disks = 1;
	controller_set_state(&ctl, INSTANCE_RUNNING);

	assert_int_equal(get("/vm/config"), 200);
	j = expect_json();
	id = json_string_value(json_object_get(json_array_get(json_object_get(j, "drives"), 0),
					       "drive_id"));
	assert_non_null(id);
	assert_string_equal(id, "drive0");
	snprintf(path, sizeof(path), "/drives/%s", id);
	json_decref(j);

	request("PATCH", path, "{\"path_on_host\": \"%s\"}", rootfs);
	expect_ok();
	assert_int_equal(fake.calls[OP_SWAP], 1);
	assert_int_equal(fake.swap_idx, 0);
}

/* ---- GET /metrics ---- */

/* vmm is there with every field; the document's other keys are returned. */
static json_t *check_metrics(const char *want_state)
{
	json_t *j, *vmm;

	assert_int_equal(get("/metrics"), 200);
	j = expect_json();
	vmm = json_object_get(j, "vmm");
	assert_true(json_is_object(vmm));
	assert_int_equal(json_object_size(vmm), 7);
	assert_string_equal(json_string_value(json_object_get(vmm, "name")), "t");
	assert_int_equal(json_integer_value(json_object_get(vmm, "pid")), getpid());
	assert_string_equal(json_string_value(json_object_get(vmm, "state")), want_state);
	assert_int_equal(json_integer_value(json_object_get(vmm, "vcpu_count")), cfg.cpus);
	assert_int_equal(json_integer_value(json_object_get(vmm, "mem_size_mib")),
			 cfg.mem_size >> 20);
	assert_true(json_is_integer(json_object_get(vmm, "uptime_ms")));
	assert_true(json_integer_value(json_object_get(vmm, "uptime_ms")) >= 0);
	assert_true(json_is_integer(json_object_get(vmm, "cpu_time_ms")));
	assert_true(json_integer_value(json_object_get(vmm, "cpu_time_ms")) >= 0);
	assert_int_equal(json_object_size(j), 3);
	assert_true(json_is_array(json_object_get(j, "vcpus")));
	assert_true(json_is_array(json_object_get(j, "devices")));
	return j;
}

static void test_get_metrics(void **state)
{
	struct timespec ts = { .tv_nsec = 30 * 1000 * 1000 };
	json_int_t uptime;
	json_t *j, *m;

	(void)state;
	assert_int_equal(request("PUT", "/machine-config",
				 "{\"vcpu_count\": 2, \"mem_size_mib\": 300}"), 204);
	j = check_metrics("not started");
	assert_int_equal(json_array_size(json_object_get(j, "vcpus")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "vmm"),
							    "mem_size_mib")), 300);
	uptime = json_integer_value(json_object_get(json_object_get(j, "vmm"), "uptime_ms"));
	json_decref(j);
	assert_int_equal(fake.calls[OP_METRICS], 0);

	/* controller_metrics() is the same document. */
	m = controller_metrics(&ctl);
	assert_non_null(m);
	assert_non_null(json_object_get(m, "vmm"));
	assert_int_equal(json_array_size(json_object_get(m, "vcpus")), 0);
	json_decref(m);
	assert_int_equal(fake.calls[OP_METRICS], 0);

	nanosleep(&ts, NULL);
	configure(true);
	start();
	j = check_metrics("running");
	assert_int_equal(fake.calls[OP_METRICS], 1);
	assert_true(json_integer_value(json_object_get(json_object_get(j, "vmm"),
						       "uptime_ms")) >= uptime + 30);
	assert_int_equal(json_array_size(json_object_get(j, "vcpus")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
		json_object_get(j, "vcpus"), 0), "exits_total")), 7);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(j, "devices"), 0), "name")), "blk0");
	json_decref(j);

	/* What the op leaves out is an empty array. */
	fake.metrics = METRICS_VCPUS;
	j = check_metrics("running");
	assert_int_equal(json_array_size(json_object_get(j, "vcpus")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 0);
	json_decref(j);
	assert_int_equal(fake.calls[OP_METRICS], 2);

	m = controller_metrics(&ctl);
	assert_non_null(m);
	assert_int_equal(json_array_size(json_object_get(m, "vcpus")), 1);
	json_decref(m);
	assert_int_equal(fake.calls[OP_METRICS], 3);

	assert_int_equal(patch_vm("Paused"), 204);
	j = check_metrics("paused");
	json_decref(j);
}

/* ---- FlushMetrics ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Every line of the metrics file is a metrics document; the last one's state. */
static void check_metrics_file(unsigned int want_lines, const char *want_state)
{
	char buf[16384], state[32] = "";
	unsigned int n = 0;
	ssize_t len;
	int fd = open(metrics_file, O_RDONLY);

	assert_true(fd >= 0);
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(len > 0);
	buf[len] = '\0';
	assert_int_equal(buf[len - 1], '\n');
	for (char *line = buf, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		json_error_t jerr;
		json_t *j, *vmm;

		*nl = '\0';
		j = json_loads(line, 0, &jerr);
		vmm = json_object_get(j, "vmm");
		if (!json_is_object(vmm) || !json_is_array(json_object_get(j, "vcpus")) ||
		    !json_is_array(json_object_get(j, "devices"))) {
			json_decref(j);
			fail_msg("not a metrics line: %s", line);
		}
		snprintf(state, sizeof(state), "%s",
			 json_string_value(json_object_get(vmm, "state")) ?: "(none)");
		json_decref(j);
		n++;
	}
	assert_int_equal(n, want_lines);
	assert_string_equal(state, want_state);
}

static unsigned int count_lines(const char *path)
{
	char buf[16384];
	unsigned int n = 0;
	ssize_t len;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	len = read(fd, buf, sizeof(buf));
	close(fd);
	for (ssize_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	return n;
}

static void test_flush_metrics(void **state)
{
	(void)state;
	action("FlushMetrics");
	expect_fault(400, "actions: FlushMetrics: no metrics file is configured "
		     "(PUT /metrics first)");

	assert_int_equal(request("PUT", "/metrics", "{\"metrics_path\": \"%s\"}", metrics_file),
			 204);
	assert_int_equal(count_lines(metrics_file), 0);
	/* Before the start too, and without asking the op. */
	assert_int_equal(action("FlushMetrics"), 204);
	expect_ok();
	check_metrics_file(1, "not started");
	assert_int_equal(fake.calls[OP_METRICS], 0);

	configure(true);
	start();
	assert_int_equal(action("FlushMetrics"), 204);
	check_metrics_file(2, "running");
	assert_int_equal(fake.calls[OP_METRICS], 1);
	assert_string_equal(api_state(), "Running");

	/* The file gone: a 400 naming it, and FlushMetrics does not create it. */
	assert_int_equal(unlink(metrics_file), 0);
	action("FlushMetrics");
	expect_fault(400, metrics_file);
	expect_fault(400, "No such file or directory");
	assert_int_equal(access(metrics_file, F_OK), -1);
}

static void test_flush_metrics_one_line(void **state)
{
	char buf[8192];
	json_error_t jerr;
	json_t *j;
	ssize_t len;
	int fd;

	(void)state;
	assert_int_equal(request("PUT", "/metrics", "{\"metrics_path\": \"%s\"}", metrics_file),
			 204);
	assert_int_equal(action("FlushMetrics"), 204);
	fd = open(metrics_file, O_RDONLY);
	assert_true(fd >= 0);
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(len > 1);
	buf[len] = '\0';
	/* One compact JSON document and a newline. */
	assert_ptr_equal(strchr(buf, '\n'), buf + len - 1);
	buf[len - 1] = '\0';
	j = json_loads(buf, 0, &jerr);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "vmm"),
							      "state")), "not started");
	assert_int_equal(json_array_size(json_object_get(j, "vcpus")), 0);
	json_decref(j);
}

static void test_flush_metrics_fifo(void **state)
{
	char buf[8192];
	uint64_t t0;
	ssize_t len;
	int rd;

	(void)state;
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* Nobody reads the FIFO yet: the PUT takes it anyway. */
	assert_int_equal(request("PUT", "/metrics", "{\"metrics_path\": \"%s\"}", fifo), 204);
	configure(true);
	start();

	/* A hang here would be the bug: SIGALRM ends the run instead. */
	alarm(10);
	t0 = now_ms();
	action("FlushMetrics");
	expect_fault(400, fifo);
	expect_fault(400, "No such device or address");
	assert_true(now_ms() - t0 < 1000);
	alarm(0);

	/* With a reader it is written. */
	rd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	alarm(10);
	assert_int_equal(action("FlushMetrics"), 204);
	alarm(0);
	len = read(rd, buf, sizeof(buf) - 1);
	close(rd);
	assert_true(len > 0);
	buf[len] = '\0';
	assert_int_equal(buf[len - 1], '\n');
	assert_non_null(strstr(buf, "\"vmm\""));
	assert_non_null(strstr(buf, "\"devices\":[{\"name\":\"blk0\""));
	/* Each flush gathers the metrics, the one that could not write too. */
	assert_int_equal(fake.calls[OP_METRICS], 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_instance_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_vm_config_follows_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_drives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_interfaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entropy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preboot_after_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_actions_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_actions_before_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_start_without_kernel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_instance_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_start_root_drive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_start_boot_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_start_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_start_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_running_actions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_actions_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_vm_bad_state_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_vm_ops_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_drive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_cli_drive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_metrics_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_metrics_fifo, setup, teardown),
	};

	return cmocka_run_group_tests(tests, make_files, remove_files);
}
