// SPDX-License-Identifier: MIT
/* Firecracker-API JSON → struct vm_config: every resource, documents, finalize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/fc_config.h"
#include "cli/cli.h"
#include "tmpdir.h"

/* Files the requests name, in a directory made for the test run. */
static char dir[64];
static char kernel[128], initrd[128], rootfs[128], data[128], ro_img[128];
static char log_path[128], metrics_path[128], fifo[128];

static const char *const made[] = { "vmlinux", "initrd", "rootfs.ext4", "data.img", "ro.img" };

static char err[512];

/* Every JSON value a test builds; released after each test. */
static json_t *pool[256];
static unsigned int nr_pool;

static int make_files(void **state)
{
	char path[128];

	(void)state;
	if (tmpdir_make(dir, sizeof(dir), NULL, "fc-test"))
		return -1;
	for (unsigned int i = 0; i < sizeof(made) / sizeof(made[0]); i++)
		if (tmpdir_file(dir, made[i], path, sizeof(path)))
			return -1;
	snprintf(kernel, sizeof(kernel), "%s/vmlinux", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd", dir);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs.ext4", dir);
	snprintf(data, sizeof(data), "%s/data.img", dir);
	snprintf(ro_img, sizeof(ro_img), "%s/ro.img", dir);
	snprintf(log_path, sizeof(log_path), "%s/fc.log", dir);
	snprintf(metrics_path, sizeof(metrics_path), "%s/metrics.json", dir);
	snprintf(fifo, sizeof(fifo), "%s/log.fifo", dir);
	return chmod(ro_img, 0444);
}

static int remove_files(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static int release_json(void **state)
{
	(void)state;
	while (nr_pool)
		json_decref(pool[--nr_pool]);
	return 0;
}

/* JSON from printf-style text; owned by the pool. */
static json_t *vjs(const char *fmt, va_list ap)
{
	char text[4096];
	json_error_t jerr;
	json_t *v;

	vsnprintf(text, sizeof(text), fmt, ap);
	v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!v)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	assert_true(nr_pool < sizeof(pool) / sizeof(pool[0]));
	pool[nr_pool++] = v;
	return v;
}

static json_t *js(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *js(const char *fmt, ...)
{
	va_list ap;
	json_t *v;

	va_start(ap, fmt);
	v = vjs(fmt, ap);
	va_end(ap);
	return v;
}

/* name(cfg, [id,] fmt, ...): the request with a printf-style body; errors in err. */
#define BODY_REQUEST(name, fn)							\
	static int name(struct vm_config *cfg, const char *fmt, ...)		\
		__attribute__((format(printf, 2, 3)));				\
	static int name(struct vm_config *cfg, const char *fmt, ...)		\
	{									\
		va_list ap;							\
		json_t *body;							\
										\
		va_start(ap, fmt);						\
		body = vjs(fmt, ap);						\
		va_end(ap);							\
		return fn(cfg, body, err, sizeof(err));				\
	}

#define ID_BODY_REQUEST(name, fn)						\
	static int name(struct vm_config *cfg, const char *id, const char *fmt, ...) \
		__attribute__((format(printf, 3, 4)));				\
	static int name(struct vm_config *cfg, const char *id, const char *fmt, ...) \
	{									\
		va_list ap;							\
		json_t *body;							\
										\
		va_start(ap, fmt);						\
		body = vjs(fmt, ap);						\
		va_end(ap);							\
		return fn(cfg, id, body, err, sizeof(err));			\
	}

BODY_REQUEST(boot, fc_put_boot_source)
BODY_REQUEST(mc_put, fc_put_machine_config)
BODY_REQUEST(mc_patch, fc_patch_machine_config)
BODY_REQUEST(entropy, fc_put_entropy)
BODY_REQUEST(logger, fc_put_logger)
BODY_REQUEST(metrics, fc_put_metrics)
BODY_REQUEST(doc, fc_apply_document)
ID_BODY_REQUEST(drive, fc_put_drive)
ID_BODY_REQUEST(nic, fc_put_network_interface)

/* The config as JSON text, to see a rejected request left the strings alone. */
static char *dump(const struct vm_config *cfg)
{
	json_t *v = fc_vm_config_json(cfg);
	char *s;

	assert_non_null(v);
	s = json_dumps(v, JSON_SORT_KEYS);
	json_decref(v);
	assert_non_null(s);
	return s;
}

static void check_dump(const struct vm_config *cfg, char *before)
{
	char *after = dump(cfg);

	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void expect_err(const char *want)
{
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

/* call must fail with an error containing want and leave *cfg as it was. */
#define REJECT(cfg, call, want) do {						\
	struct vm_config before_;						\
	char *dump_ = dump(cfg);						\
										\
	memcpy(&before_, (cfg), sizeof(before_));				\
	strcpy(err, "(none)");							\
	if ((call) != -1)							\
		fail_msg("%s: accepted, want \"%s\"", #call, want);		\
	assert_memory_equal(&before_, (cfg), sizeof(before_));			\
	check_dump(cfg, dump_);							\
	expect_err(want);							\
} while (0)

#define ACCEPT(call) do {							\
	err[0] = '\0';								\
	if ((call) != 0)							\
		fail_msg("%s: %s", #call, err);					\
} while (0)

/* A config with a kernel, as most tests want. */
static void init_with_kernel(struct vm_config *cfg)
{
	fc_config_init(cfg, "t");
	ACCEPT(boot(cfg, "{\"kernel_image_path\": \"%s\"}", kernel));
}

static void put_root(struct vm_config *cfg, const char *id, const char *path, bool ro)
{
	ACCEPT(drive(cfg, id, "{\"drive_id\": \"%s\", \"path_on_host\": \"%s\", "
		     "\"is_root_device\": true, \"is_read_only\": %s}",
		     id, path, ro ? "true" : "false"));
}

static void put_data(struct vm_config *cfg, const char *id, const char *path)
{
	ACCEPT(drive(cfg, id, "{\"drive_id\": \"%s\", \"path_on_host\": \"%s\", "
		     "\"is_root_device\": false}", id, path));
}

static void test_init_defaults(void **state)
{
	struct vm_config cfg;
	char pidname[32];

	(void)state;
	fc_config_init(&cfg, "api-vm");
	assert_string_equal(cfg.name, "api-vm");
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.mem_size, 128ULL << 20);
	assert_int_equal(cfg.shutdown_timeout, 30);
	assert_int_equal(cfg.console, CONSOLE_SERIAL);
	assert_int_equal(cfg.nr_disks, 0);
	assert_int_equal(cfg.nr_nics, 0);
	assert_true(cfg.net_none);
	assert_false(cfg.rng);
	assert_null(cfg.kernel_path);
	assert_null(cfg.cmdline);
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	cli_config_free(&cfg);

	fc_config_init(&cfg, NULL);
	snprintf(pidname, sizeof(pidname), "vm%d", (int)getpid());
	assert_string_equal(cfg.name, pidname);
	cli_config_free(&cfg);
}

static void test_boot_source(void **state)
{
	struct vm_config cfg;
	char *k;

	(void)state;
	fc_config_init(&cfg, "t");
	ACCEPT(boot(&cfg, "{\"kernel_image_path\": \"%s\", \"initrd_path\": "
			  "\"%s\", \"boot_args\": \"console=ttyS0 quiet\"}",
			  kernel, initrd));
	assert_string_equal(cfg.kernel_path, kernel);
	assert_string_equal(cfg.initrd_path, initrd);
	assert_string_equal(cfg.cmdline, "console=ttyS0 quiet");

	/* PUT replaces the whole boot source. */
	ACCEPT(boot(&cfg, "{\"kernel_image_path\": \"%s\", \"initrd_path\": "
			  "null}", kernel));
	assert_string_equal(cfg.kernel_path, kernel);
	assert_null(cfg.initrd_path);
	assert_null(cfg.cmdline);

	REJECT(&cfg, boot(&cfg, "[1]"),
	       "boot-source: the body must be a JSON object");
	REJECT(&cfg, boot(&cfg, "\"x\""),
	       "boot-source: the body must be a JSON object");
	REJECT(&cfg, fc_put_boot_source(&cfg, NULL, err, sizeof(err)),
	       "boot-source: the body must be a JSON object");
	REJECT(&cfg, boot(&cfg, "{\"kernel_image_path\": \"%s\", "
				"\"kernel_args\": \"x\"}", kernel),
	       "boot-source: unknown field 'kernel_args'");
	REJECT(&cfg, boot(&cfg, "{\"kernel_image_path\": 5}"),
	       "boot-source: kernel_image_path: must be a string");
	REJECT(&cfg, boot(&cfg, "{\"kernel_image_path\": \"%s\", "
				"\"boot_args\": [\"a\"]}", kernel),
	       "boot-source: boot_args: must be a string");
	REJECT(&cfg, boot(&cfg, "{\"boot_args\": \"x\"}"),
	       "boot-source: missing field 'kernel_image_path'");
	REJECT(&cfg, boot(&cfg, "{\"kernel_image_path\": \"/nonexistent/vmlinux\"}"),
	       "boot-source: kernel_image_path: /nonexistent/vmlinux: No such file or directory");
	assert_string_equal(err, "boot-source: kernel_image_path: /nonexistent/vmlinux: "
			    "No such file or directory");
	REJECT(&cfg, boot(&cfg, "{\"kernel_image_path\": \"%s\"}", dir),
	       "is a directory");
	REJECT(&cfg, boot(&cfg, "{\"kernel_image_path\": \"%s\", "
				"\"initrd_path\": \"%s/none\"}", kernel, dir),
	       "boot-source: initrd_path: ");
	REJECT(&cfg, boot(&cfg, "{\"kernel_image_path\": \"\"}"),
	       "kernel_image_path: must not be empty");
	REJECT(&cfg, boot(&cfg, "{\"kernel_image_path\": \"a\\u0000b\"}"),
	       "NUL");

	/* The strings the config held are the same after rejections. */
	k = cfg.kernel_path;
	REJECT(&cfg, boot(&cfg, "{}"), "missing field");
	assert_ptr_equal(cfg.kernel_path, k);
	cli_config_free(&cfg);
}

static void test_machine_config(void **state)
{
	struct vm_config cfg;
	json_t *v;

	(void)state;
	fc_config_init(&cfg, "t");
	ACCEPT(mc_put(&cfg, "{\"vcpu_count\": 2, \"mem_size_mib\": 256, "
			    "\"smt\": false, \"track_dirty_pages\": true, "
			    "\"cpu_template\": \"None\", \"huge_pages\": \"None\"}"));
	assert_int_equal(cfg.cpus, 2);
	assert_int_equal(cfg.mem_size, 256ULL << 20);
	assert_true(cfg.track_dirty_pages);

	/* PUT: what is not given goes back to its default. */
	ACCEPT(mc_put(&cfg, "{\"vcpu_count\": 4, \"mem_size_mib\": 512}"));
	assert_int_equal(cfg.cpus, 4);
	assert_int_equal(cfg.mem_size, 512ULL << 20);
	assert_false(cfg.track_dirty_pages);

	/* PATCH: only what is given changes. */
	ACCEPT(mc_patch(&cfg, "{\"track_dirty_pages\": true}"));
	ACCEPT(mc_patch(&cfg, "{\"vcpu_count\": 3}"));
	assert_int_equal(cfg.cpus, 3);
	assert_int_equal(cfg.mem_size, 512ULL << 20);
	assert_true(cfg.track_dirty_pages);
	ACCEPT(mc_patch(&cfg, "{\"mem_size_mib\": 16}"));
	assert_int_equal(cfg.mem_size, 16ULL << 20);
	assert_int_equal(cfg.cpus, 3);

	REJECT(&cfg, mc_put(&cfg, "{\"vcpu_count\": 0, \"mem_size_mib\": 128}"),
	       "machine-config: vcpu_count: must be an integer from 1 to 64, got 0");
	assert_string_equal(err, "machine-config: vcpu_count: must be an integer from 1 to "
			    "64, got 0");
	REJECT(&cfg, mc_put(&cfg, "{\"vcpu_count\": 65, \"mem_size_mib\": 128}"),
	       "vcpu_count: must be an integer from 1 to 64, got 65");
	REJECT(&cfg, mc_patch(&cfg, "{\"vcpu_count\": -1}"),
	       "vcpu_count: must be an integer from 1 to 64, got -1");
	REJECT(&cfg, mc_patch(&cfg, "{\"vcpu_count\": 2.0}"),
	       "machine-config: vcpu_count: must be an integer");
	REJECT(&cfg, mc_patch(&cfg, "{\"vcpu_count\": \"2\"}"),
	       "machine-config: vcpu_count: must be an integer");
	REJECT(&cfg, mc_patch(&cfg, "{\"mem_size_mib\": 15}"),
	       "mem_size_mib: must be an integer from 16 to 1048576, got 15");
	REJECT(&cfg, mc_patch(&cfg, "{\"mem_size_mib\": 1048577}"),
	       "mem_size_mib: must be an integer from 16 to 1048576, got 1048577");
	REJECT(&cfg, mc_put(&cfg, "{\"vcpu_count\": 2}"),
	       "machine-config: missing field 'mem_size_mib'");
	REJECT(&cfg, mc_put(&cfg, "{\"vcpu_count\": 2, \"mem_size_mib\": "
				  "128, \"smt\": true}"),
	       "machine-config: smt: not supported by skiff");
	REJECT(&cfg, mc_patch(&cfg, "{\"smt\": 1}"),
	       "machine-config: smt: must be a boolean");
	REJECT(&cfg, mc_patch(&cfg, "{\"track_dirty_pages\": \"yes\"}"),
	       "machine-config: track_dirty_pages: must be a boolean");
	REJECT(&cfg, mc_patch(&cfg, "{\"cpu_template\": \"T2\"}"),
	       "machine-config: cpu_template: \"T2\" is not supported by skiff");
	REJECT(&cfg, mc_patch(&cfg, "{\"huge_pages\": \"2M\"}"),
	       "machine-config: huge_pages: \"2M\" is not supported by skiff");
	REJECT(&cfg, mc_patch(&cfg, "{\"vcpus\": 2}"),
	       "machine-config: unknown field 'vcpus'");
	REJECT(&cfg, mc_patch(&cfg, "{}"),
	       "machine-config: empty PATCH request");
	REJECT(&cfg, mc_put(&cfg, "[]"),
	       "machine-config: the body must be a JSON object");
	/* A vCPU count after a rejected memory size does not stick. */
	REJECT(&cfg, mc_patch(&cfg, "{\"vcpu_count\": 8, \"mem_size_mib\": 1}"),
	       "mem_size_mib");
	assert_int_equal(cfg.cpus, 3);

	v = fc_machine_config_json(&cfg);
	assert_true(json_equal(v, js("{\"vcpu_count\": 3, \"mem_size_mib\": 16, \"smt\": "
				     "false, \"track_dirty_pages\": true, \"huge_pages\": "
				     "\"None\"}")));
	json_decref(v);
	cli_config_free(&cfg);
}

static void test_drives(void **state)
{
	struct vm_config cfg;

	(void)state;
	init_with_kernel(&cfg);
	put_data(&cfg, "scratch", data);
	put_root(&cfg, "rootfs", rootfs, false);
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].id, "scratch");
	assert_string_equal(cfg.disks[0].serial, "scratch");
	assert_string_equal(cfg.disks[0].path, data);
	assert_false(cfg.disks[0].is_root);
	assert_false(cfg.disks[0].readonly);
	assert_false(cfg.disks[0].sync_io);	/* skiff's default io_engine: Async */
	assert_int_equal(cfg.disks[0].cache, DISK_CACHE_MODE_WRITEBACK);
	assert_string_equal(cfg.disks[1].id, "rootfs");
	assert_true(cfg.disks[1].is_root);

	/* The same id replaces, in place. */
	ACCEPT(drive(&cfg, "scratch", "{\"drive_id\": \"scratch\", \"path_on_host\": "
				      "\"%s\", \"is_root_device\": false, "
				      "\"is_read_only\": true, \"cache_type\": "
				      "\"Writeback\", \"io_engine\": \"Sync\", "
				      "\"rate_limiter\": null}", ro_img));
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].id, "scratch");
	assert_string_equal(cfg.disks[0].path, ro_img);
	assert_true(cfg.disks[0].readonly);
	assert_true(cfg.disks[0].sync_io);
	/* A new id appends; the serial is the id cut to 20 bytes. */
	put_data(&cfg, "a-very-long-drive-id_0123456789", data);
	assert_int_equal(cfg.nr_disks, 3);
	assert_string_equal(cfg.disks[2].serial, "a-very-long-drive-id");
	/* The root drive may be put again as the root. */
	put_root(&cfg, "rootfs", rootfs, true);
	assert_int_equal(cfg.nr_disks, 3);
	assert_true(cfg.disks[1].readonly);
	ACCEPT(drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": "
				     "\"%s\", \"is_root_device\": true, "
				     "\"partuuid\": \"0eaa91a0-01\", \"rate_limiter\": "
				     "{}}", rootfs));
	assert_string_equal(cfg.disks[1].partuuid, "0eaa91a0-01");

	REJECT(&cfg, drive(&cfg, "data2", "{\"drive_id\": \"data2\", "
					  "\"path_on_host\": \"%s\", "
					  "\"is_root_device\": true}", data),
	       "drives: is_root_device: drive \"rootfs\" is already the root device");
	REJECT(&cfg, drive(&cfg, "scratch", "{\"drive_id\": \"scratch\", "
					    "\"path_on_host\": \"%s\", "
					    "\"is_root_device\": true}", data),
	       "already the root device");
	REJECT(&cfg, drive(&cfg, "other", "{\"drive_id\": \"scratch\", "
					  "\"path_on_host\": \"%s\", "
					  "\"is_root_device\": false}", data),
	       "drives: drive_id: \"scratch\" does not match the id in the URL path, \"other\"");
	REJECT(&cfg, drive(&cfg, "a/b", "{\"drive_id\": \"a/b\", \"path_on_host\": "
					"\"%s\", \"is_root_device\": false}", data),
	       "drives: drive_id: \"a/b\" must be 1-63 letters, digits, '_' or '-'");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_hots\": "
				      "\"%s\", \"is_root_device\": false}", data),
	       "drives: unknown field 'path_on_hots'");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s\"}", data),
	       "drives: missing field 'is_root_device'");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s\", \"is_root_device\": \"no\"}", data),
	       "drives: is_root_device: must be a boolean");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": 1, "
				      "\"is_root_device\": false}"),
	       "drives: path_on_host: must be a string");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s/none\", \"is_root_device\": false}", dir),
	       "/none: No such file or directory");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s\", \"is_root_device\": false}", dir),
	       "drives: path_on_host: ");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s\", \"is_root_device\": false, "
				      "\"cache_type\": \"None\"}", data),
	       "drives: cache_type: must be \"Unsafe\" or \"Writeback\", got \"None\"");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s\", \"is_root_device\": false, "
				      "\"io_engine\": \"io_uring\"}", data),
	       "drives: io_engine: must be \"Sync\" or \"Async\"");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s\", \"is_root_device\": false, "
				      "\"rate_limiter\": {\"bandwidth\": {\"size\": 1, "
				      "\"refill_time\": 100}}}", data),
	       "drives: rate_limiter: not supported by skiff");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s\", \"is_root_device\": false, "
				      "\"rate_limiter\": 5}", data),
	       "drives: rate_limiter: must be an object");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"socket\": "
				      "\"/run/vhost.sock\", \"is_root_device\": false}"),
	       "drives: socket: vhost-user drives are not supported by skiff");
	REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", \"path_on_host\": "
				      "\"%s\", \"is_root_device\": false, "
				      "\"partuuid\": \"a b\"}", data),
	       "drives: partuuid: ");
	REJECT(&cfg, drive(&cfg, "d", "17"),
	       "drives: the body must be a JSON object");
	if (geteuid() != 0) {
		/* root may write a 0444 file: this only means something for others. */
		REJECT(&cfg, drive(&cfg, "d", "{\"drive_id\": \"d\", "
					      "\"path_on_host\": \"%s\", "
					      "\"is_root_device\": false}", ro_img),
		       "Permission denied");
	}

	/* At most VM_MAX_DISKS; replacing one is still fine when full. */
	for (unsigned int i = cfg.nr_disks; i < VM_MAX_DISKS; i++) {
		char id[16];

		snprintf(id, sizeof(id), "d%u", i);
		put_data(&cfg, id, data);
	}
	assert_int_equal(cfg.nr_disks, VM_MAX_DISKS);
	REJECT(&cfg, drive(&cfg, "one-more", "{\"drive_id\": \"one-more\", "
					     "\"path_on_host\": \"%s\", "
					     "\"is_root_device\": false}", data),
	       "drives: at most 16 drives");
	put_data(&cfg, "scratch", rootfs);
	assert_string_equal(cfg.disks[0].path, rootfs);
	cli_config_free(&cfg);
}

static void test_network_interfaces(void **state)
{
	struct vm_config cfg;
	static const uint8_t mac[6] = { 0x06, 0x00, 0xac, 0x10, 0x00, 0x02 };

	(void)state;
	init_with_kernel(&cfg);
	ACCEPT(nic(&cfg, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
				 "\"guest_mac\": \"06:00:AC:10:00:02\", "
				 "\"rx_rate_limiter\": null, \"tx_rate_limiter\": {}}"));
	assert_false(cfg.net_none);
	assert_int_equal(cfg.nr_nics, 1);
	assert_string_equal(cfg.nics[0].id, "eth0");
	assert_int_equal(cfg.nics[0].kind, NET_KIND_TAP);
	assert_string_equal(cfg.nics[0].ifname, "tap0");
	assert_int_equal(cfg.nics[0].tap_fd, -1);
	assert_int_equal(cfg.nics[0].queues, 1);
	assert_true(cfg.nics[0].mac_set);
	assert_memory_equal(cfg.nics[0].mac, mac, 6);

	ACCEPT(nic(&cfg, "eth1", "{\"iface_id\": \"eth1\", "
				 "\"backend\": \"user\", \"hostfwd\": "
				 "[\"tcp:127.0.0.1:2222-:22\", "
				 "\"udp::5353-:53\"], \"mtu\": 1400}"));
	assert_int_equal(cfg.nr_nics, 2);
	assert_int_equal(cfg.nics[1].kind, NET_KIND_USER);
	assert_int_equal(cfg.nics[1].nr_hostfwd, 2);
	assert_string_equal(cfg.nics[1].hostfwd[1], "udp::5353-:53");
	assert_int_equal(cfg.nics[1].mtu, 1400);
	assert_false(cfg.nics[1].mac_set);

	/* The same id replaces. */
	ACCEPT(nic(&cfg, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap9\", "
				 "\"queues\": 4}"));
	assert_int_equal(cfg.nr_nics, 2);
	assert_string_equal(cfg.nics[0].ifname, "tap9");
	assert_int_equal(cfg.nics[0].queues, 4);
	assert_false(cfg.nics[0].mac_set);

	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth3\", "
				       "\"host_dev_name\": \"tap3\"}"),
	       "network-interfaces: iface_id: \"eth3\" does not match the id in the URL path, "
	       "\"eth2\"");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\"}"),
	       "network-interfaces: missing field 'host_dev_name'");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": 7}"),
	       "network-interfaces: host_dev_name: must be a string");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": "
				       "\"a-name-too-long-x\"}"),
	       "host_dev_name: \"a-name-too-long-x\" is not an interface name");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", "
				       "\"host_dev_name\": \"tap9\"}"),
	       "host_dev_name: \"tap9\" is already used by interface \"eth0\"");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"backend\": \"user\", "
				       "\"host_dev_name\": \"tap2\"}"),
	       "host_dev_name: not used with backend \"user\"");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"backend\": \"slirp\"}"),
	       "backend: must be \"tap\" or \"user\", got \"slirp\"");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", "
				       "\"host_dev_name\": \"tap2\", "
				       "\"hostfwd\": [\"tcp::1-:2\"]}"),
	       "hostfwd: only with backend \"user\"");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"backend\": \"user\", "
				       "\"hostfwd\": [\"tcp:foo\"]}"),
	       "hostfwd[0]: \"tcp:foo\" is not a forward");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"backend\": \"user\", "
				       "\"hostfwd\": \"tcp::1-:2\"}"),
	       "hostfwd: must be an array");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", "
				       "\"host_dev_name\": \"tap2\", \"guest_mac\": "
				       "\"01:00:5e:00:00:01\"}"),
	       "guest_mac: \"01:00:5e:00:00:01\" is not a unicast MAC address");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", "
				       "\"host_dev_name\": \"tap2\", "
				       "\"guest_mac\": \"06:00:ac:10:00\"}"),
	       "guest_mac: ");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", "
				       "\"host_dev_name\": \"tap2\", \"queues\": 9}"),
	       "queues: must be an integer from 1 to 8, got 9");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"backend\": \"user\", "
				       "\"queues\": 2}"),
	       "queues: more than 1 needs backend \"tap\"");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", "
				       "\"host_dev_name\": \"tap2\", \"mtu\": 67}"),
	       "mtu: must be an integer from 68 to 65535, got 67");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", "
				       "\"host_dev_name\": \"tap2\", "
				       "\"tx_rate_limiter\": {\"ops\": {\"size\": 10}}}"),
	       "network-interfaces: tx_rate_limiter: not supported by skiff");
	REJECT(&cfg, nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", "
				       "\"host_dev_name\": \"tap2\", "
				       "\"allow_mmds_requests\": true}"),
	       "network-interfaces: unknown field 'allow_mmds_requests'");
	REJECT(&cfg, nic(&cfg, "eth2", "null"),
	       "network-interfaces: the body must be a JSON object");

	/* A MAC another interface has. */
	ACCEPT(nic(&cfg, "eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": \"tap2\", "
				 "\"guest_mac\": \"06:00:00:00:00:01\"}"));
	REJECT(&cfg, nic(&cfg, "eth3", "{\"iface_id\": \"eth3\", "
				       "\"host_dev_name\": \"tap3\", \"guest_mac\": "
				       "\"06:00:00:00:00:01\"}"),
	       "guest_mac: already used by interface \"eth2\"");
	ACCEPT(nic(&cfg, "eth3", "{\"iface_id\": \"eth3\", \"host_dev_name\": \"tap3\"}"));
	assert_int_equal(cfg.nr_nics, VM_MAX_NICS);
	REJECT(&cfg, nic(&cfg, "eth4", "{\"iface_id\": \"eth4\", "
				       "\"host_dev_name\": \"tap4\"}"),
	       "network-interfaces: at most 4 network interfaces");
	cli_config_free(&cfg);
}

static void test_entropy(void **state)
{
	struct vm_config cfg;

	(void)state;
	fc_config_init(&cfg, "t");
	REJECT(&cfg, entropy(&cfg, "[]"),
	       "entropy: the body must be a JSON object");
	REJECT(&cfg, entropy(&cfg, "{\"rate\": 1}"),
	       "entropy: unknown field 'rate'");
	REJECT(&cfg, entropy(&cfg, "{\"rate_limiter\": \"fast\"}"),
	       "entropy: rate_limiter: must be an object");
	REJECT(&cfg, entropy(&cfg, "{\"rate_limiter\": {\"bandwidth\": {\"size\": "
				   "1000, \"refill_time\": 100}}}"),
	       "entropy: rate_limiter: not supported by skiff");
	assert_false(cfg.rng);
	ACCEPT(entropy(&cfg, "{}"));
	assert_true(cfg.rng);
	ACCEPT(entropy(&cfg, "{\"rate_limiter\": null}"));
	assert_true(cfg.rng);
	cli_config_free(&cfg);
}

static void test_logger_and_metrics(void **state)
{
	struct vm_config cfg;
	struct stat st;

	(void)state;
	fc_config_init(&cfg, "t");
	unlink(log_path);
	ACCEPT(logger(&cfg, "{\"log_path\": \"%s\", \"level\": \"debug\", "
			    "\"show_level\": true, \"show_log_origin\": false, "
			    "\"module\": \"api_server\"}", log_path));
	assert_int_equal(stat(log_path, &st), 0);	/* created to check it */
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_string_equal(cfg.log_path, log_path);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_true(cfg.log_show_level);
	assert_false(cfg.log_show_origin);
	assert_string_equal(cfg.log_module, "api_server");
	ACCEPT(logger(&cfg, "{\"log_path\": \"%s\", \"level\": \"WARNING\"}",
			    log_path));
	assert_int_equal(cfg.log_level, LOG_LEVEL_WARNING);
	assert_false(cfg.log_show_level);
	assert_string_equal(cfg.log_module, "");
	ACCEPT(logger(&cfg, "{\"level\": \"Warn\"}"));
	assert_int_equal(cfg.log_level, LOG_LEVEL_WARNING);
	assert_null(cfg.log_path);
	ACCEPT(logger(&cfg, "{\"level\": \"off\"}"));
	assert_int_equal(cfg.log_level, LOG_LEVEL_OFF);
	/* A FIFO nobody reads yet is fine. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	ACCEPT(logger(&cfg, "{\"log_path\": \"%s\", \"level\": \"Trace\"}", fifo));
	assert_string_equal(cfg.log_path, fifo);
	assert_int_equal(cfg.log_level, LOG_LEVEL_TRACE);

	REJECT(&cfg, logger(&cfg, "{\"level\": \"loud\"}"),
	       "logger: level: must be \"Error\", \"Warning\", \"Info\", \"Debug\", \"Trace\" "
	       "or \"Off\", got \"loud\"");
	REJECT(&cfg, logger(&cfg, "{\"log_path\": \"%s/no/such/dir/log\"}", dir),
	       "logger: log_path: ");
	expect_err("No such file or directory");
	REJECT(&cfg, logger(&cfg, "{\"log_path\": \"%s\"}", dir),
	       "Is a directory");
	REJECT(&cfg, logger(&cfg, "{\"show_level\": \"yes\"}"),
	       "logger: show_level: must be a boolean");
	REJECT(&cfg, logger(&cfg, "{\"level\": 3}"),
	       "logger: level: must be a string");
	REJECT(&cfg, logger(&cfg, "{\"log_file\": \"x\"}"),
	       "logger: unknown field 'log_file'");
	REJECT(&cfg, logger(&cfg, "true"),
	       "logger: the body must be a JSON object");

	ACCEPT(metrics(&cfg, "{\"metrics_path\": \"%s\"}", metrics_path));
	assert_string_equal(cfg.metrics_path, metrics_path);
	assert_int_equal(access(metrics_path, W_OK), 0);
	REJECT(&cfg, metrics(&cfg, "{}"),
	       "metrics: missing field 'metrics_path'");
	REJECT(&cfg, metrics(&cfg, "{\"metrics_path\": false}"),
	       "metrics: metrics_path: must be a string");
	REJECT(&cfg, metrics(&cfg, "{\"metrics_path\": \"%s\", \"x\": 1}",
				   metrics_path),
	       "metrics: unknown field 'x'");
	REJECT(&cfg, metrics(&cfg, "{\"metrics_path\": \"%s/no/m\"}", dir),
	       "metrics: metrics_path: ");
	REJECT(&cfg, metrics(&cfg, "[]"),
	       "metrics: the body must be a JSON object");
	/* skiff's flush_interval_s: 1 s to 1 h; absent, Firecracker's 60 s. */
	assert_int_equal(cfg.metrics_interval_s, 0);
	ACCEPT(metrics(&cfg, "{\"metrics_path\": \"%s\", \"flush_interval_s\": 5}",
		       metrics_path));
	assert_int_equal(cfg.metrics_interval_s, 5);
	REJECT(&cfg, metrics(&cfg, "{\"metrics_path\": \"%s\", \"flush_interval_s\": 0}",
				   metrics_path),
	       "metrics: flush_interval_s: must be an integer from 1 to 3600, got 0");
	REJECT(&cfg, metrics(&cfg, "{\"metrics_path\": \"%s\", \"flush_interval_s\": 3601}",
				   metrics_path),
	       "metrics: flush_interval_s: must be an integer from 1 to 3600, got 3601");
	REJECT(&cfg, metrics(&cfg, "{\"metrics_path\": \"%s\", \"flush_interval_s\": \"5\"}",
				   metrics_path),
	       "metrics: flush_interval_s: must be an integer");
	ACCEPT(metrics(&cfg, "{\"metrics_path\": \"%s\"}", metrics_path));
	assert_int_equal(cfg.metrics_interval_s, 0);
	cli_config_free(&cfg);
	unlink(fifo);
}

static void test_finalize(void **state)
{
	struct vm_config cfg;
	char note[128];

	(void)state;
	/* No kernel: the VM cannot start, and nothing changes. */
	fc_config_init(&cfg, "t");
	REJECT(&cfg, fc_finalize(&cfg, note, sizeof(note), err, sizeof(err)),
	       "boot-source: no kernel_image_path");
	cli_config_free(&cfg);

	/* No boot_args, no root drive: Firecracker's usual command line. */
	init_with_kernel(&cfg);
	strcpy(note, "junk");
	ACCEPT(fc_finalize(&cfg, note, sizeof(note), err, sizeof(err)));
	assert_string_equal(cfg.cmdline, "console=ttyS0 reboot=k panic=1");
	assert_string_equal(note, "");
	cli_config_free(&cfg);

	/* pci=off goes, root= comes, the root drive becomes vda. */
	init_with_kernel(&cfg);
	ACCEPT(boot(&cfg, "{\"kernel_image_path\": \"%s\", \"boot_args\": "
			  "\"console=ttyS0 reboot=k panic=1 pci=off\"}",
			  kernel));
	put_data(&cfg, "scratch", data);
	put_data(&cfg, "more", data);
	put_root(&cfg, "rootfs", rootfs, false);
	ACCEPT(fc_finalize(&cfg, note, sizeof(note), err, sizeof(err)));
	assert_string_equal(cfg.cmdline, "console=ttyS0 reboot=k panic=1 root=/dev/vda rw");
	assert_non_null(strstr(note, "pci=off"));
	assert_string_equal(cfg.disks[0].id, "rootfs");
	assert_string_equal(cfg.disks[1].id, "scratch");
	assert_string_equal(cfg.disks[2].id, "more");
	/* Again: nothing more to do. */
	ACCEPT(fc_finalize(&cfg, NULL, 0, err, sizeof(err)));
	assert_string_equal(cfg.cmdline, "console=ttyS0 reboot=k panic=1 root=/dev/vda rw");
	assert_string_equal(cfg.disks[0].id, "rootfs");
	cli_config_free(&cfg);

	/* Read-only root, a PARTUUID, init arguments after --. */
	init_with_kernel(&cfg);
	ACCEPT(boot(&cfg, "{\"kernel_image_path\": \"%s\", \"boot_args\": "
			  "\"pci=off console=ttyS0 -- init pci=off\"}",
			  kernel));
	ACCEPT(drive(&cfg, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": "
				     "\"%s\", \"is_root_device\": true, "
				     "\"is_read_only\": true, \"partuuid\": "
				     "\"0eaa91a0-01\"}", rootfs));
	ACCEPT(fc_finalize(&cfg, note, sizeof(note), err, sizeof(err)));
	assert_string_equal(cfg.cmdline,
			    "console=ttyS0 root=PARTUUID=0eaa91a0-01 ro -- init pci=off");
	cli_config_free(&cfg);

	/* boot_args with a root= of their own keep it; no pci=off, no note. */
	init_with_kernel(&cfg);
	ACCEPT(boot(&cfg, "{\"kernel_image_path\": \"%s\", \"boot_args\": "
			  "\"root=/dev/vdb ro  console=ttyS0\"}", kernel));
	put_root(&cfg, "rootfs", rootfs, false);
	strcpy(note, "junk");
	ACCEPT(fc_finalize(&cfg, note, sizeof(note), err, sizeof(err)));
	assert_string_equal(cfg.cmdline, "root=/dev/vdb ro  console=ttyS0");
	assert_string_equal(note, "");
	cli_config_free(&cfg);

	/* A root drive and empty boot_args; a virtio console's default. */
	init_with_kernel(&cfg);
	ACCEPT(boot(&cfg, "{\"kernel_image_path\": \"%s\", \"boot_args\": \"\"}", kernel));
	put_root(&cfg, "rootfs", rootfs, true);
	ACCEPT(fc_finalize(&cfg, note, sizeof(note), err, sizeof(err)));
	assert_string_equal(cfg.cmdline, "root=/dev/vda ro");
	cli_config_free(&cfg);
	init_with_kernel(&cfg);
	cfg.console = CONSOLE_VIRTIO;
	ACCEPT(fc_finalize(&cfg, note, sizeof(note), err, sizeof(err)));
	assert_string_equal(cfg.cmdline, "console=hvc0 reboot=k panic=1");
	cli_config_free(&cfg);
}

/* A document with every section skiff has. */
static json_t *full_document(void)
{
	return js("{"
		  "\"boot-source\": {\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\", "
		  "  \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off\"},"
		  "\"drives\": [  {\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
		  "   \"is_root_device\": true, \"is_read_only\": false, "
		  "   \"partuuid\": \"0eaa91a0-01\", \"cache_type\": \"Unsafe\"},"
		  "  {\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
		  "   \"is_root_device\": false, \"is_read_only\": true, "
		  "   \"io_engine\": \"Async\", \"rate_limiter\": null}],"
		  "\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 1024, "
		  "  \"smt\": false, \"track_dirty_pages\": true},\"network-interfaces\": ["
		  "  {\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
		  "   \"guest_mac\": \"06:00:ac:10:00:02\", \"queues\": 2},"
		  "  {\"iface_id\": \"eth1\", \"backend\": \"user\", "
		  "   \"hostfwd\": [\"tcp:127.0.0.1:2222-:22\"], \"mtu\": 1500}],"
		  "\"entropy\": {},"
		  "\"logger\": {\"log_path\": \"%s\", \"level\": \"Debug\", "
		  "  \"show_level\": true, \"show_log_origin\": true, \"module\": \"vmm\"},"
		  "\"metrics\": {\"metrics_path\": \"%s\", \"flush_interval_s\": 30},"
		  "\"vsock\": null, \"balloon\": null"
		  "}", kernel, initrd, rootfs, ro_img, log_path, metrics_path);
}

static void test_document(void **state)
{
	struct vm_config cfg;

	(void)state;
	fc_config_init(&cfg, "doc");
	ACCEPT(fc_apply_document(&cfg, full_document(), err, sizeof(err)));
	assert_string_equal(cfg.kernel_path, kernel);
	assert_string_equal(cfg.initrd_path, initrd);
	assert_int_equal(cfg.cpus, 2);
	assert_int_equal(cfg.mem_size, 1024ULL << 20);
	assert_true(cfg.track_dirty_pages);
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].id, "rootfs");
	assert_true(cfg.disks[0].is_root);
	assert_string_equal(cfg.disks[0].partuuid, "0eaa91a0-01");
	assert_string_equal(cfg.disks[1].path, ro_img);
	assert_true(cfg.disks[1].readonly);
	assert_false(cfg.disks[1].sync_io);
	assert_int_equal(cfg.nr_nics, 2);
	assert_false(cfg.net_none);
	assert_int_equal(cfg.nics[0].queues, 2);
	assert_int_equal(cfg.nics[1].kind, NET_KIND_USER);
	assert_true(cfg.rng);
	assert_string_equal(cfg.log_path, log_path);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(cfg.metrics_path, metrics_path);
	assert_int_equal(cfg.metrics_interval_s, 30);

	/* A bad section anywhere changes nothing, including the good ones. */
	REJECT(&cfg, doc(&cfg, "{\"machine-config\": {\"vcpu_count\": 7, "
			       "\"mem_size_mib\": 64}, \"drives\": ["
			       "{\"drive_id\": \"x\", \"path_on_host\": \"%s\", "
			       "\"is_root_device\": false},"
			       "{\"drive_id\": \"y\", \"path_on_host\": \"%s\", "
			       "\"is_root_device\": true}]}", data, data),
	       "drives[1]: is_root_device: drive \"rootfs\" is already the root device");
	REJECT(&cfg, doc(&cfg, "{\"boot_source\": {}}"),
	       "config: unknown field 'boot_source'");
	REJECT(&cfg, doc(&cfg, "{\"balloon\": {\"amount_mib\": 0, "
			       "\"deflate_on_oom\": false}}"),
	       "balloon: not supported by skiff");
	REJECT(&cfg, doc(&cfg, "{\"mmds-config\": {}}"),
	       "mmds-config: not supported by skiff");
	REJECT(&cfg, doc(&cfg, "{\"drives\": {}}"),
	       "drives: must be an array");
	REJECT(&cfg, doc(&cfg, "{\"network-interfaces\": [\"eth0\"]}"),
	       "network-interfaces[0]: the body must be a JSON object");
	REJECT(&cfg, doc(&cfg, "{\"machine-config\": {\"vcpu_count\": 2}}"),
	       "machine-config: missing field 'mem_size_mib'");
	REJECT(&cfg, doc(&cfg, "[]"),
	       "config: the document must be a JSON object");
	cli_config_free(&cfg);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_config_file(void **state)
{
	char tmpl[128], text[512], want[256];
	struct vm_config cfg;
	int fd;

	(void)state;
	snprintf(tmpl, sizeof(tmpl), "%s/conf-XXXXXX", dir);
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	close(fd);
	fc_config_init(&cfg, "file");

	snprintf(text, sizeof(text), "{\n  \"boot-source\": {\"kernel_image_path\": \"%s\"},\n"
		 "  \"machine-config\": {\"vcpu_count\": 3, \"mem_size_mib\": 64}\n}\n", kernel);
	write_file(tmpl, text);
	ACCEPT(fc_load_config_file(&cfg, tmpl, err, sizeof(err)));
	assert_int_equal(cfg.cpus, 3);
	assert_string_equal(cfg.kernel_path, kernel);

	/* A syntax error: the path, line and column. */
	write_file(tmpl, "{\n  \"machine-config\": {\n    \"vcpu_count\": 2,,\n  }\n}\n");
	snprintf(want, sizeof(want), "%s:3:", tmpl);
	REJECT(&cfg, fc_load_config_file(&cfg, tmpl, err, sizeof(err)), want);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	/* The column follows the line: "<path>:3:<digits>: ". */
	assert_true(err[strlen(want)] >= '1' && err[strlen(want)] <= '9');

	/* A key given twice is an error too. */
	write_file(tmpl, "{\"entropy\": {},\n \"entropy\": {}}");
	snprintf(want, sizeof(want), "%s:2:", tmpl);
	REJECT(&cfg, fc_load_config_file(&cfg, tmpl, err, sizeof(err)), want);
	expect_err("duplicate");

	/* A valid JSON document with a bad value: the path, then the resource. */
	write_file(tmpl, "{\"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 64}}");
	snprintf(want, sizeof(want), "%s: machine-config: vcpu_count: must be an integer "
		 "from 1 to 64, got 0", tmpl);
	REJECT(&cfg, fc_load_config_file(&cfg, tmpl, err, sizeof(err)), want);
	assert_string_equal(err, want);

	unlink(tmpl);
	snprintf(want, sizeof(want), "%s: No such file or directory", tmpl);
	REJECT(&cfg, fc_load_config_file(&cfg, tmpl, err, sizeof(err)), want);
	cli_config_free(&cfg);
}

static void assert_same_config(const struct vm_config *a, const struct vm_config *b)
{
	assert_string_equal(a->kernel_path, b->kernel_path);
	assert_string_equal(a->initrd_path, b->initrd_path);
	assert_string_equal(a->cmdline, b->cmdline);
	assert_int_equal(a->cpus, b->cpus);
	assert_int_equal(a->mem_size, b->mem_size);
	assert_int_equal(a->track_dirty_pages, b->track_dirty_pages);
	assert_int_equal(a->rng, b->rng);
	assert_int_equal(a->net_none, b->net_none);
	assert_int_equal(a->nr_disks, b->nr_disks);
	for (unsigned int i = 0; i < a->nr_disks; i++) {
		const struct vm_disk_config *x = &a->disks[i], *y = &b->disks[i];

		assert_string_equal(x->path, y->path);
		assert_string_equal(x->id, y->id);
		assert_string_equal(x->serial, y->serial);
		assert_string_equal(x->partuuid, y->partuuid);
		assert_int_equal(x->readonly, y->readonly);
		assert_int_equal(x->is_root, y->is_root);
		assert_int_equal(x->sync_io, y->sync_io);
		assert_int_equal(x->cache, y->cache);
	}
	assert_int_equal(a->nr_nics, b->nr_nics);
	for (unsigned int i = 0; i < a->nr_nics; i++) {
		const struct vm_net_config *x = &a->nics[i], *y = &b->nics[i];

		assert_string_equal(x->id, y->id);
		assert_int_equal(x->kind, y->kind);
		assert_string_equal(x->ifname, y->ifname);
		assert_int_equal(x->tap_fd, y->tap_fd);
		assert_int_equal(x->mac_set, y->mac_set);
		assert_memory_equal(x->mac, y->mac, sizeof(x->mac));
		assert_int_equal(x->queues, y->queues);
		assert_int_equal(x->mtu, y->mtu);
		assert_int_equal(x->nr_hostfwd, y->nr_hostfwd);
		for (unsigned int j = 0; j < x->nr_hostfwd; j++)
			assert_string_equal(x->hostfwd[j], y->hostfwd[j]);
	}
	assert_string_equal(a->log_path, b->log_path);
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->log_show_level, b->log_show_level);
	assert_int_equal(a->log_show_origin, b->log_show_origin);
	assert_string_equal(a->log_module, b->log_module);
	assert_string_equal(a->metrics_path, b->metrics_path);
	assert_int_equal(a->metrics_interval_s, b->metrics_interval_s);
}

static void test_json_round_trip(void **state)
{
	struct vm_config a, b;
	json_t *ja, *jb, *drive;

	(void)state;
	fc_config_init(&a, "a");
	ACCEPT(fc_apply_document(&a, full_document(), err, sizeof(err)));
	ja = fc_vm_config_json(&a);
	assert_non_null(ja);
	/* Firecracker's shapes and names. */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ja,
				"machine-config"), "vcpu_count")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(ja,
				"boot-source"), "kernel_image_path")), kernel);
	drive = json_array_get(json_object_get(ja, "drives"), 1);
	assert_string_equal(json_string_value(json_object_get(drive, "drive_id")), "data");
	assert_true(json_is_true(json_object_get(drive, "is_read_only")));
	assert_string_equal(json_string_value(json_object_get(drive, "io_engine")), "Async");
	assert_true(json_is_object(json_object_get(ja, "entropy")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(ja, "logger"),
							      "level")), "Debug");

	fc_config_init(&b, "b");
	if (fc_apply_document(&b, ja, err, sizeof(err)))
		fail_msg("the dump does not apply: %s", err);
	assert_same_config(&a, &b);
	jb = fc_vm_config_json(&b);
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
	cli_config_free(&a);
	cli_config_free(&b);

	/* An empty config: no boot-source, no entropy, logger or metrics. */
	fc_config_init(&a, "a");
	ja = fc_vm_config_json(&a);
	assert_true(json_equal(ja, js("{\"drives\": [], \"network-interfaces\": [], "
				      "\"machine-config\": {\"vcpu_count\": 1, "
				      "\"mem_size_mib\": 128, \"smt\": false, "
				      "\"track_dirty_pages\": false, "
				      "\"huge_pages\": \"None\"}}")));
	json_decref(ja);
	cli_config_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_init_defaults, release_json),
		cmocka_unit_test_teardown(test_boot_source, release_json),
		cmocka_unit_test_teardown(test_machine_config, release_json),
		cmocka_unit_test_teardown(test_drives, release_json),
		cmocka_unit_test_teardown(test_network_interfaces, release_json),
		cmocka_unit_test_teardown(test_entropy, release_json),
		cmocka_unit_test_teardown(test_logger_and_metrics, release_json),
		cmocka_unit_test_teardown(test_finalize, release_json),
		cmocka_unit_test_teardown(test_document, release_json),
		cmocka_unit_test_teardown(test_config_file, release_json),
		cmocka_unit_test_teardown(test_json_round_trip, release_json),
	};

	return cmocka_run_group_tests(tests, make_files, remove_files);
}
