// SPDX-License-Identifier: MIT
/* `skiff run` option parsing and the console escape filter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/console.h"
#include "vmm/exitcode.h"

static char kernel[] = "/tmp/skiff-test-kernel-XXXXXX";
/* The process options of the last parse. */
static struct run_opts opts;

static int make_kernel(void **state)
{
	int fd = mkstemp(kernel);

	(void)state;
	if (fd < 0 || write(fd, "x", 1) != 1)
		return -1;
	close(fd);
	return 0;
}

static int remove_kernel(void **state)
{
	(void)state;
	unlink(kernel);
	return 0;
}

/* Parse a NULL-terminated argument list; returns the status. */
static int parse(struct vm_config *cfg, ...)
{
	char *argv[32] = { "run" };
	int argc = 1, ret;
	bool done;
	va_list ap;

	va_start(ap, cfg);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	ret = cli_parse_run(argc, argv, cfg, &opts, &done);
	return ret;
}

static int parse_serve(struct vm_config *cfg, ...)
{
	char *argv[32] = { "serve" };
	int argc = 1;
	bool done;
	va_list ap;

	va_start(ap, cfg);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return cli_parse_serve(argc, argv, cfg, &opts, &done);
}

/* A Firecracker-style config file naming the test kernel. */
static char *write_config(const char *extra)
{
	static char path[] = "/tmp/skiff-test-config-XXXXXX";
	char *p = strdup(path);
	FILE *f;
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "{\"boot-source\": {\"kernel_image_path\": \"%s\", "
		"\"boot_args\": \"console=ttyS0 pci=off\"}, "
		"\"machine-config\": {\"vcpu_count\": 3, \"mem_size_mib\": 64}%s}",
		kernel, extra);
	fclose(f);
	return p;
}

static void test_run_config_file(void **state)
{
	struct vm_config cfg;
	char *good = write_config(""), *bad = write_config(", \"vsock\": {}");

	(void)state;
	assert_int_equal(parse(&cfg, "--config-file", good, "--name", "cf", "-v", NULL), 0);
	assert_int_equal(cfg.cpus, 3);
	assert_int_equal(cfg.mem_size, 64ULL << 20);
	assert_string_equal(cfg.kernel_path, kernel);
	assert_string_equal(cfg.name, "cf");
	assert_true(cfg.verbose);
	/* skiff's devices are on PCI: pci=off would hide them. */
	assert_null(strstr(cfg.cmdline, "pci=off"));
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, "--config-file", good, "--cpus", "2", NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, "--config-file", bad, NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, "--config-file", "/nonexistent.json", NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	unlink(good);
	unlink(bad);
	free(good);
	free(bad);
}

static void test_run_process_options(void **state)
{
	struct vm_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "--kernel", kernel, "--api-sock", "/tmp/x.sock",
			       "--detach", NULL), 0);
	assert_string_equal(opts.api_sock, "/tmp/x.sock");
	assert_true(opts.detach);
	assert_false(opts.serve);
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, "--kernel", kernel, "--api-sock", "", NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	assert_int_equal(parse_serve(&cfg, "--name", "srv", "--api-sock", "/tmp/s.sock", NULL), 0);
	assert_true(opts.serve);
	assert_string_equal(cfg.name, "srv");
	assert_string_equal(opts.api_sock, "/tmp/s.sock");
	/* An API VM starts with Firecracker's 128 MiB and no NIC. */
	assert_int_equal(cfg.mem_size, 128ULL << 20);
	assert_true(cfg.net_none);
	cli_config_free(&cfg);
	assert_int_equal(parse_serve(&cfg, "--kernel", kernel, NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	assert_int_equal(parse_serve(&cfg, "extra", NULL), EXIT_USAGE);
	cli_config_free(&cfg);
}

static void test_run_defaults_and_values(void **state)
{
	struct vm_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "--kernel", kernel, "--cpus", "4", "--memory",
			       "1G", "--name", "web-1", "--debug-exit", "--on-reboot",
			       "restart", "--shutdown-timeout", "5", "-v", NULL), 0);
	assert_int_equal(cfg.cpus, 4);
	assert_int_equal(cfg.mem_size, 1ULL << 30);
	assert_string_equal(cfg.name, "web-1");
	assert_true(cfg.debug_exit);
	assert_true(cfg.verbose);
	assert_int_equal(cfg.on_reboot, ON_REBOOT_RESTART);
	assert_int_equal(cfg.shutdown_timeout, 5);
	assert_string_equal(cfg.cmdline, "console=ttyS0 reboot=k panic=-1");
	cli_config_free(&cfg);

	assert_int_equal(parse(&cfg, "--kernel", kernel, NULL), 0);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.mem_size, 256ULL << 20);
	assert_int_equal(strncmp(cfg.name, "vm", 2), 0);
	cli_config_free(&cfg);
}

static void test_run_guest_command(void **state)
{
	struct vm_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "--kernel", kernel, "--cmdline", "console=ttyS0",
			       "--", "uname", "-a", NULL), 0);
	assert_string_equal(cfg.cmdline, "console=ttyS0 -- \"uname -a\"");
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, "--kernel", kernel, "--", "echo", "\"hi\"", NULL),
			 EXIT_USAGE);
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, "--kernel", kernel, "--cmdline", "a -- b", "--",
			       "c", NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	/* A stray word without -- is an error, not a command. */
	assert_int_equal(parse(&cfg, "--kernel", kernel, "uname", NULL), EXIT_USAGE);
	cli_config_free(&cfg);
}

static void test_run_bad_values(void **state)
{
	static const char *const bad[][2] = {
		{ "--cpus", "0" }, { "--cpus", "65" }, { "--cpus", "two" },
		{ "--cpus", "-1" }, { "--cpus", "" }, { "--memory", "1M" },
		{ "--memory", "lots" }, { "--memory", "2T" }, { "--memory", "1000001" },
		{ "--name", "a b" }, { "--name", "" }, { "--name", "x/y" },
		{ "--on-reboot", "maybe" }, { "--shutdown-timeout", "-3" },
		{ "--shutdown-timeout", "99999999" }, { "--initrd", "/nonexistent" },
		{ "--kernel", "/nonexistent/vmlinux" }, { "--kernel", "/tmp" },
	};
	struct vm_config cfg;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse(&cfg, "--kernel", kernel, bad[i][0], bad[i][1], NULL);

		if (ret != EXIT_USAGE)
			fail_msg("%s '%s' gave %d", bad[i][0], bad[i][1], ret);
		cli_config_free(&cfg);
	}
	assert_int_equal(parse(&cfg, "--kernel", kernel, "--bogus", NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, "--kernel", NULL), EXIT_USAGE);
	cli_config_free(&cfg);
}

static void test_default_guest_dir(void **state)
{
	char *d;

	(void)state;
	setenv("SKIFF_CACHE", "/x/cache", 1);
	d = cli_default_guest_dir();
	assert_string_equal(d, "/x/cache/guest/current");
	free(d);
	unsetenv("SKIFF_CACHE");
	setenv("XDG_CACHE_HOME", "/y", 1);
	d = cli_default_guest_dir();
	assert_string_equal(d, "/y/skiff/guest/current");
	free(d);
	unsetenv("XDG_CACHE_HOME");
}

static void test_default_guest_missing(void **state)
{
	struct vm_config cfg;

	(void)state;
	setenv("SKIFF_CACHE", "/nonexistent-skiff-cache", 1);
	assert_int_equal(parse(&cfg, NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	assert_int_equal(parse(&cfg, "--initrd", kernel, NULL), EXIT_USAGE);
	cli_config_free(&cfg);
	unsetenv("SKIFF_CACHE");
}

static void filter(struct console_input *st, const char *in, const char *want,
		   enum console_cmd want_cmd)
{
	uint8_t out[64];
	size_t n;

	assert_int_equal(console_filter(st, (const uint8_t *)in, strlen(in), out, &n),
			 want_cmd);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
}

static void test_console_escapes(void **state)
{
	struct console_input st = CONSOLE_INPUT_RUN;

	(void)state;
	filter(&st, "ls\r", "ls\r", CONSOLE_CMD_NONE);
	filter(&st, "a\x01\x01" "b", "a\x01" "b", CONSOLE_CMD_NONE);
	filter(&st, "\x01" "c", "\x01" "c", CONSOLE_CMD_NONE);
	filter(&st, "ab\x01x" "cd", "ab", CONSOLE_CMD_LEAVE);
	/* The escape survives a read boundary. */
	st.escape = false;
	filter(&st, "q\x01", "q", CONSOLE_CMD_NONE);
	filter(&st, "x", "", CONSOLE_CMD_LEAVE);
	filter(&st, "\x01", "", CONSOLE_CMD_NONE);
	filter(&st, "\x01", "\x01", CONSOLE_CMD_NONE);
	/* skiff console: Ctrl-A d leaves, Ctrl-A x is typed. */
	st = CONSOLE_INPUT_ATTACH;
	filter(&st, "a\x01x", "a\x01x", CONSOLE_CMD_NONE);
	filter(&st, "b\x01" "D", "b", CONSOLE_CMD_LEAVE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_defaults_and_values),
		cmocka_unit_test(test_run_guest_command),
		cmocka_unit_test(test_run_bad_values),
		cmocka_unit_test(test_run_config_file),
		cmocka_unit_test(test_run_process_options),
		cmocka_unit_test(test_default_guest_dir),
		cmocka_unit_test(test_default_guest_missing),
		cmocka_unit_test(test_console_escapes),
	};

	return cmocka_run_group_tests(tests, make_kernel, remove_kernel);
}
