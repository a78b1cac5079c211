// SPDX-License-Identifier: MIT
/* `skiff run` options → struct vm_config, with errors that name the flag. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/fc_config.h"
#include "cli/cli.h"
#include "vmm/exitcode.h"
#include "vmm/memory.h"

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"
#define DEFAULT_CMDLINE_HVC "console=hvc0 reboot=k panic=-1"
#define DEFAULT_SHUTDOWN_TIMEOUT 30

static const char run_usage[] =
"usage: skiff run [OPTIONS] [-- COMMAND...]\n"
"\n"
"Boot a guest and run it until it powers off. With no --kernel, boots the\n"
"default Linux guest built by `make guest`; COMMAND, if given, runs in that\n"
"guest instead of a shell, and the guest powers off when it ends.\n"
"\n"
"  --kernel FILE          bzImage, vmlinux ELF or PVH ELF kernel\n"
"  --initrd FILE          initial ramdisk (PVH: module 0)\n"
"  --cmdline STR          kernel command line (default: \"" DEFAULT_CMDLINE "\")\n"
"  --cpus N               vCPUs, 1-64 (default 1)\n"
"  --memory SIZE          guest RAM, K/M/G suffix (default 256M)\n"
"  --name NAME            VM name shown by ps/top (default vm<pid>)\n"
"  --on-reboot exit|restart  what a guest reboot does (default exit, status 4)\n"
"  --shutdown-timeout SEC  after SIGTERM/SIGINT/SIGHUP, seconds the guest\n"
"                         gets to power off before a hard stop (default 30);\n"
"                         a second signal, a second or more later, stops\n"
"                         at once\n"
"  --disk path=FILE[,readonly=on][,serial=ID][,cache=none|writeback]\n"
"                         a virtio-blk disk on a raw image (repeatable, up\n"
"                         to 16); the image is locked while the VM runs\n"
"  --net tap=NAME|tap-fd=N|user|none[,mac=MAC][,queues=N][,mtu=N]\n"
"        [,hostfwd=tcp:[ADDR]:PORT-[ADDR]:PORT]\n"
"                         a virtio-net NIC (repeatable, up to 4): on a tap\n"
"                         (created if missing, with CAP_NET_ADMIN; removed\n"
"                         again), on a tap fd passed by a manager, or on\n"
"                         user-mode networking (10.0.2.0/24, DHCP, DNS,\n"
"                         port forwards). Default: user when not root, none\n"
"                         as root\n"
"  --rng                  a virtio-rng device fed by getrandom(2)\n"
"  --console serial|virtio  the console on COM1 (ttyS0, default) or on\n"
"                         virtio-console (hvc0; no UART then)\n"
"  --debug-exit           port 0xf4 ends the VM with status (value << 1) | 1\n"
"  --config-file FILE     the VM from a Firecracker-style JSON file\n"
"                         (boot-source, machine-config, drives,\n"
"                         network-interfaces, entropy, logger, metrics);\n"
"                         not with --kernel, --initrd, --cmdline, --cpus,\n"
"                         --memory, --disk, --net or --rng\n"
"  --api-sock PATH|none   serve the control API on this unix socket\n"
"                         (default: <runtime dir>/NAME.sock, which skiff ls\n"
"                         finds; the runtime dir is $XDG_RUNTIME_DIR/skiff,\n"
"                         or /run/skiff for root)\n"
"  --detach               run in the background: print the VM's name and\n"
"                         return; the console is on NAME.console (skiff\n"
"                         console NAME) and the log in NAME.log\n"
"  -v, --verbose          say what skiff does (boot path, work-arounds)\n"
"  -h, --help             this help\n"
"\n"
"Console: the guest's console is on stdin/stdout. Ctrl-A x quits,\n"
"Ctrl-A Ctrl-A sends Ctrl-A.\n"
"Exit status: 0 guest powered off, 2 bad option or input file, 4 guest\n"
"rebooted, 6 guest crashed (triple fault, unhandled exit), 8 stopped by\n"
"Ctrl-A x or the shutdown timeout, 10 host error (KVM), odd values from\n"
"the debug-exit port.\n";

enum {
	OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY,
	OPT_NAME, OPT_ON_REBOOT, OPT_SHUTDOWN_TIMEOUT, OPT_DEBUG_EXIT,
	OPT_DISK, OPT_RNG, OPT_CONSOLE, OPT_NET, OPT_CONFIG_FILE, OPT_API_SOCK,
	OPT_DETACH,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
	{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
	{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "net", required_argument, NULL, OPT_NET },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "detach", no_argument, NULL, OPT_DETACH },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "skiff run: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'skiff run --help'.\n");
	return EXIT_USAGE;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= sizeof(((struct vm_config *)0)->name))
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", *s))
			return false;
	return true;
}

char *cli_default_guest_dir(void)
{
	const char *base = getenv("SKIFF_CACHE");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *out;

	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : "/";
	}
	if (base && *base)
		return asprintf(&out, "%s/guest/current", base) < 0 ? NULL : out;
	if (xdg && *xdg)
		return asprintf(&out, "%s/skiff/guest/current", xdg) < 0 ? NULL : out;
	return asprintf(&out, "%s/.cache/skiff/guest/current", home) < 0 ? NULL : out;
}

/* A file the user named must exist and be a regular file. */
static int check_input_file(const char *flag, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return usage_error("%s: %s: %s", flag, path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return usage_error("%s: %s: is a directory", flag, path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return usage_error("%s: %s: not a regular file", flag, path);
	if (access(path, R_OK) < 0)
		return usage_error("%s: %s: %s", flag, path, strerror(errno));
	return 0;
}

static int use_default_guest(struct vm_config *cfg)
{
	char *dir = cli_default_guest_dir();
	int ret = 0;

	if (!dir)
		return EXIT_HOST_ERROR;
	if (asprintf(&cfg->kernel_path, "%s/vmlinux", dir) < 0 ||
	    asprintf(&cfg->initrd_path, "%s/initramfs.cpio", dir) < 0)
		ret = EXIT_HOST_ERROR;
	else if (access(cfg->kernel_path, R_OK) < 0 ||
		 access(cfg->initrd_path, R_OK) < 0)
		ret = usage_error("no --kernel given and the default guest is not "
				  "built in %s: run `make guest` first", dir);
	free(dir);
	return ret;
}

/* Append the guest command as one quoted init argument after " -- ". */
static int append_guest_command(struct vm_config *cfg, int argc, char **argv)
{
	size_t len = strlen(cfg->cmdline) + 8;
	char *out;
	int i;

	if (strstr(cfg->cmdline, " -- ") || !strncmp(cfg->cmdline, "-- ", 3))
		return usage_error("COMMAND: --cmdline already has init arguments "
				   "after --; give the command in one place");
	for (i = 0; i < argc; i++) {
		if (strchr(argv[i], '"'))
			return usage_error("COMMAND: '%s': double quotes cannot be "
					   "passed on a kernel command line", argv[i]);
		len += strlen(argv[i]) + 1;
	}
	out = malloc(len);
	if (!out)
		return EXIT_HOST_ERROR;
	strcpy(out, cfg->cmdline);
	strcat(out, " -- \"");
	for (i = 0; i < argc; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, argv[i]);
	}
	strcat(out, "\"");
	free(cfg->cmdline);
	cfg->cmdline = out;
	return 0;
}

static bool serial_ok(const char *s)
{
	if (!*s || strlen(s) > VM_DISK_SERIAL_MAX)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

/* One key=value of --disk into d; 0 or a usage error naming the key. */
static int parse_disk_key(const char *arg, const char *key, const char *val,
			  struct vm_disk_config *d)
{
	if (!strcmp(key, "path")) {
		if (!*val)
			return usage_error("--disk '%s': path is empty", arg);
		free(d->path);
		d->path = strdup(val);
		return d->path ? 0 : EXIT_HOST_ERROR;
	}
	if (!strcmp(key, "readonly")) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return usage_error("--disk '%s': readonly=%s is not 'on' or 'off'", arg, val);
		d->readonly = !strcmp(val, "on");
		return 0;
	}
	if (!strcmp(key, "serial")) {
		if (!serial_ok(val))
			return usage_error("--disk '%s': serial '%s' must be 1-%d printable "
					   "characters without spaces", arg, val, VM_DISK_SERIAL_MAX);
		snprintf(d->serial, sizeof(d->serial), "%s", val);
		return 0;
	}
	if (!strcmp(key, "cache")) {
		if (!strcmp(val, "none"))
			d->cache = DISK_CACHE_MODE_NONE;
		else if (!strcmp(val, "writeback"))
			d->cache = DISK_CACHE_MODE_WRITEBACK;
		else
			return usage_error("--disk '%s': cache=%s is not 'none' or 'writeback'",
					   arg, val);
		return 0;
	}
	return usage_error("--disk '%s': unknown key '%s' (path, readonly, serial, cache)",
			   arg, key);
}

typedef int (*option_fn)(const char *arg, unsigned int idx, const char *key,
			 const char *val, void *ctx);

/*
 * Split a comma-separated option value ("path=x,readonly=on") and call fn
 * for each item in turn, with val NULL for an item without '='. Stops at
 * the first non-zero return and returns it.
 */
static int for_each_item(const char *arg, option_fn fn, void *ctx)
{
	char *copy = strdup(arg), *item, *save = NULL, *eq;
	unsigned int idx = 0;
	int ret = 0;

	if (!copy)
		return EXIT_HOST_ERROR;
	for (item = strtok_r(copy, ",", &save); item && !ret;
	     item = strtok_r(NULL, ",", &save), idx++) {
		eq = strchr(item, '=');
		if (eq)
			*eq++ = '\0';
		ret = fn(arg, idx, item, eq, ctx);
	}
	free(copy);
	return ret;
}

static int disk_item(const char *arg, unsigned int idx, const char *key, const char *val,
		     void *ctx)
{
	(void)idx;
	if (!val)
		return usage_error("--disk '%s': '%s' is not key=value", arg, key);
	return parse_disk_key(arg, key, val, ctx);
}

static int parse_disk(const char *arg, struct vm_config *cfg)
{
	struct vm_disk_config d = { .cache = DISK_CACHE_MODE_WRITEBACK };
	int ret;

	if (cfg->nr_disks >= VM_MAX_DISKS)
		return usage_error("--disk: at most %d disks", VM_MAX_DISKS);
	ret = for_each_item(arg, disk_item, &d);
	if (!ret && !d.path)
		ret = usage_error("--disk '%s': path=FILE is missing", arg);
	if (ret) {
		free(d.path);
		return ret;
	}
	cfg->disks[cfg->nr_disks++] = d;
	return 0;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6 || strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return !(mac[0] & 1);	/* a unicast address */
}

/* The backend word of --net: tap=NAME, tap-fd=N, user. */
static int parse_net_backend(const char *arg, const char *key, const char *val,
			     struct vm_net_config *n)
{
	unsigned long v;

	if (!strcmp(key, "tap")) {
		if (!val || !*val || strlen(val) >= sizeof(n->ifname) || strchr(val, '/'))
			return usage_error("--net '%s': tap=NAME needs an interface name of "
					   "1-15 characters", arg);
		n->kind = NET_KIND_TAP;
		snprintf(n->ifname, sizeof(n->ifname), "%s", val);
		return 0;
	}
	if (!strcmp(key, "tap-fd")) {
		if (!val || parse_uint(val, 0, INT_MAX, &v))
			return usage_error("--net '%s': tap-fd=N needs a file descriptor number",
					   arg);
		if (fcntl((int)v, F_GETFD) < 0)
			return usage_error("--net '%s': fd %lu is not open", arg, v);
		n->kind = NET_KIND_TAP_FD;
		n->tap_fd = (int)v;
		return 0;
	}
	if (!strcmp(key, "user") && !val) {
		n->kind = NET_KIND_USER;
		return 0;
	}
	return usage_error("--net '%s': start with tap=NAME, tap-fd=N, user or none", arg);
}

static int parse_net_key(const char *arg, const char *key, const char *val,
			 struct vm_net_config *n)
{
	unsigned long v;

	if (!val)
		return usage_error("--net '%s': '%s' is not key=value", arg, key);
	if (!strcmp(key, "mac")) {
		if (!parse_mac(val, n->mac))
			return usage_error("--net '%s': mac=%s is not a unicast MAC like "
					   "52:54:00:12:34:56", arg, val);
		n->mac_set = true;
		return 0;
	}
	if (!strcmp(key, "queues")) {
		if (parse_uint(val, 1, 8, &v))
			return usage_error("--net '%s': queues=%s is not 1-8", arg, val);
		n->queues = (unsigned int)v;
		return 0;
	}
	if (!strcmp(key, "mtu")) {
		if (parse_uint(val, 68, 65535, &v))
			return usage_error("--net '%s': mtu=%s is not 68-65535", arg, val);
		n->mtu = (unsigned int)v;
		return 0;
	}
	if (!strcmp(key, "hostfwd")) {
		if (n->kind != NET_KIND_USER)
			return usage_error("--net '%s': hostfwd is for --net user", arg);
		if (n->nr_hostfwd >= VM_NET_MAX_HOSTFWD || strlen(val) >= VM_NET_HOSTFWD_LEN)
			return usage_error("--net '%s': too many or too long hostfwd", arg);
		snprintf(n->hostfwd[n->nr_hostfwd++], VM_NET_HOSTFWD_LEN, "%s", val);
		return 0;
	}
	return usage_error("--net '%s': unknown key '%s' (mac, queues, mtu, hostfwd)", arg, key);
}

/* The first item of --net names the backend, the rest are its options. */
static int net_item(const char *arg, unsigned int idx, const char *key, const char *val,
		    void *ctx)
{
	return idx ? parse_net_key(arg, key, val, ctx) : parse_net_backend(arg, key, val, ctx);
}

static int parse_net(const char *arg, struct vm_config *cfg)
{
	struct vm_net_config n = { .tap_fd = -1, .queues = 1 };
	int ret;

	if (!strcmp(arg, "none")) {
		cfg->net_none = true;
		return 0;
	}
	if (cfg->nr_nics >= VM_MAX_NICS)
		return usage_error("--net: at most %d NICs", VM_MAX_NICS);
	ret = for_each_item(arg, net_item, &n);
	if (ret)
		return ret;
	if (n.queues > 1 && n.kind != NET_KIND_TAP)
		return usage_error("--net '%s': queues > 1 needs tap=NAME", arg);
	cfg->nics[cfg->nr_nics++] = n;
	return 0;
}

static int parse_one(int opt, const char *arg, struct vm_config *cfg)
{
	unsigned long v;
	int ret;

	switch (opt) {
	case OPT_KERNEL:
		free(cfg->kernel_path);
		cfg->kernel_path = strdup(arg);
		return 0;
	case OPT_INITRD:
		free(cfg->initrd_path);
		cfg->initrd_path = strdup(arg);
		return 0;
	case OPT_CMDLINE:
		free(cfg->cmdline);
		cfg->cmdline = strdup(arg);
		return 0;
	case OPT_CPUS:
		if (parse_uint(arg, 1, VM_MAX_CPUS, &v))
			return usage_error("--cpus: '%s' is not a number from 1 to %d",
					   arg, VM_MAX_CPUS);
		cfg->cpus = v;
		return 0;
	case OPT_MEMORY:
		ret = parse_size(arg, &cfg->mem_size);
		if (ret)
			return usage_error("--memory: '%s' is not a size (like 256M or 2G)", arg);
		if (cfg->mem_size < VM_MIN_MEM || cfg->mem_size > VM_MAX_MEM)
			return usage_error("--memory: '%s' is outside 16M to 1T", arg);
		if (cfg->mem_size & 0xfff)
			return usage_error("--memory: '%s' is not a multiple of 4 KiB", arg);
		return 0;
	case OPT_NAME:
		if (!valid_name(arg))
			return usage_error("--name: '%s': use 1-63 letters, digits, '.', '_' or '-'", arg);
		snprintf(cfg->name, sizeof(cfg->name), "%s", arg);
		return 0;
	case OPT_ON_REBOOT:
		if (!strcmp(arg, "exit"))
			cfg->on_reboot = ON_REBOOT_EXIT;
		else if (!strcmp(arg, "restart"))
			cfg->on_reboot = ON_REBOOT_RESTART;
		else
			return usage_error("--on-reboot: '%s' is not 'exit' or 'restart'", arg);
		return 0;
	case OPT_SHUTDOWN_TIMEOUT:
		if (parse_uint(arg, 0, 86400, &v))
			return usage_error("--shutdown-timeout: '%s' is not a number of "
					   "seconds from 0 to 86400", arg);
		cfg->shutdown_timeout = v;
		return 0;
	case OPT_DEBUG_EXIT:
		cfg->debug_exit = true;
		return 0;
	case OPT_DISK:
		return parse_disk(arg, cfg);
	case OPT_RNG:
		cfg->rng = true;
		return 0;
	case OPT_NET:
		return parse_net(arg, cfg);
	case OPT_CONSOLE:
		if (!strcmp(arg, "serial"))
			cfg->console = CONSOLE_SERIAL;
		else if (!strcmp(arg, "virtio"))
			cfg->console = CONSOLE_VIRTIO;
		else
			return usage_error("--console: '%s' is not 'serial' or 'virtio'", arg);
		return 0;
	case 'v':
		cfg->verbose = true;
		return 0;
	}
	return EXIT_USAGE;
}

static void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "vm%d", (int)getpid());
	cfg->mem_size = 256ULL << 20;
	cfg->cpus = 1;
	cfg->shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT;
	cfg->on_reboot = ON_REBOOT_EXIT;
}

static const char *option_name(int opt)
{
	for (const struct option *o = run_options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* Options that say what the VM is: a config file says that instead. */
static bool defines_vm(int opt)
{
	switch (opt) {
	case OPT_KERNEL: case OPT_INITRD: case OPT_CMDLINE: case OPT_CPUS:
	case OPT_MEMORY: case OPT_DISK: case OPT_NET: case OPT_RNG:
		return true;
	}
	return false;
}

/*
 * --config-file: the VM comes from the file; the process options given
 * on the command line (name, console, timeouts, -v) stay.
 */
static int load_config_file(const char *path, struct vm_config *cfg)
{
	struct vm_config file;
	char err[512], note[256];

	fc_config_init(&file, cfg->name);
	if (fc_load_config_file(&file, path, err, sizeof(err)) < 0 ||
	    fc_finalize(&file, note, sizeof(note), err, sizeof(err)) < 0) {
		cli_config_free(&file);
		return usage_error("--config-file: %s", err);
	}
	file.verbose = cfg->verbose;
	file.debug_exit = cfg->debug_exit;
	file.on_reboot = cfg->on_reboot;
	file.shutdown_timeout = cfg->shutdown_timeout;
	file.console = cfg->console;
	if (note[0] && cfg->verbose)
		fprintf(stderr, "skiff: --config-file: %s\n", note);
	cli_config_free(cfg);
	*cfg = file;
	return 0;
}

static int parse_process_opt(int opt, const char *arg, struct run_opts *o,
			     const char **config_file)
{
	switch (opt) {
	case OPT_CONFIG_FILE:
		*config_file = arg;
		return 0;
	case OPT_API_SOCK:
		if (!arg[0])
			return usage_error("--api-sock: needs a path (or 'none')");
		o->api_sock = arg;
		return 0;
	case OPT_DETACH:
		o->detach = true;
		return 0;
	}
	return -1;
}

/* After the options: the kernel, its files, the default NIC and command line. */
static int complete_config(struct vm_config *cfg)
{
	int ret;

	if (!cfg->kernel_path) {
		if (cfg->initrd_path)
			return usage_error("--initrd: needs --kernel too");
		ret = use_default_guest(cfg);
		if (ret)
			return ret;
	}
	ret = check_input_file("--kernel", cfg->kernel_path);
	if (!ret && cfg->initrd_path)
		ret = check_input_file("--initrd", cfg->initrd_path);
	if (ret)
		return ret;
	if (cfg->net_none && cfg->nr_nics)
		return usage_error("--net none: but other --net options were given");
	/* Someone without root expects a network that just works. */
	if (!cfg->net_none && !cfg->nr_nics && geteuid() != 0)
		cfg->nics[cfg->nr_nics++] = (struct vm_net_config){
			.kind = NET_KIND_USER, .tap_fd = -1, .queues = 1 };
	if (!cfg->cmdline)
		cfg->cmdline = strdup(cfg->console == CONSOLE_VIRTIO ?
				      DEFAULT_CMDLINE_HVC : DEFAULT_CMDLINE);
	return 0;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, struct run_opts *o,
		  bool *done)
{
	const char *config_file = NULL, *vm_flag = NULL;
	int opt, ret;

	config_defaults(cfg);
	memset(o, 0, sizeof(*o));
	*done = false;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+vh", run_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(run_usage, stdout);
			*done = true;
			return 0;
		}
		if (opt == '?') {
			if (optopt)
				return usage_error("option '-%c' is unknown or needs a value", optopt);
			return usage_error("option '%s' is unknown or needs a value",
					   argv[optind - 1]);
		}
		if (defines_vm(opt) && !vm_flag)
			vm_flag = option_name(opt);
		ret = parse_process_opt(opt, optarg, o, &config_file);
		if (ret < 0)
			ret = parse_one(opt, optarg, cfg);
		if (ret)
			return ret;
	}
	if (optind < argc && strcmp(argv[optind - 1], "--"))
		return usage_error("unexpected argument '%s' (a guest command goes after --)",
				   argv[optind]);
	if (config_file) {
		if (vm_flag)
			return usage_error("--config-file: cannot be combined with the VM "
					   "options (--%s); put them in the file", vm_flag);
		if (optind < argc)
			return usage_error("--config-file: a guest command goes in "
					   "boot_args, not after --");
		return load_config_file(config_file, cfg);
	}
	ret = complete_config(cfg);
	if (!ret && optind < argc)
		ret = append_guest_command(cfg, argc - optind, argv + optind);
	return ret;
}

static const char serve_usage[] =
"usage: skiff serve [--api-sock PATH] [--name NAME] [-v]\n"
"\n"
"Start a VMM with no VM and configure it through its control API, as\n"
"with Firecracker: PUT /boot-source, /machine-config, /drives/ID,\n"
"/network-interfaces/ID, /entropy, /logger, /metrics, then PUT /actions\n"
"{\"action_type\": \"InstanceStart\"}. The process ends with the VM\n"
"(exit status as for skiff run), or on SIGTERM before the start (0).\n"
"\n"
"  --api-sock PATH        the socket (default <runtime dir>/NAME.sock)\n"
"  --name NAME            the VM's name (default vm<pid>)\n"
"  --shutdown-timeout SEC  as for skiff run (default 30)\n"
"  -v, --verbose          say what skiff does\n";

static const struct option serve_options[] = {
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cli_parse_serve(int argc, char **argv, struct vm_config *cfg, struct run_opts *o,
		    bool *done)
{
	const char *unused = NULL;
	int opt, ret;

	fc_config_init(cfg, NULL);
	memset(o, 0, sizeof(*o));
	o->serve = true;
	*done = false;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+vh", serve_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(serve_usage, stdout);
			*done = true;
			return 0;
		}
		if (opt == '?')
			return usage_error("serve: option '%s' is unknown or needs a value",
					   argv[optind - 1]);
		ret = parse_process_opt(opt, optarg, o, &unused);
		if (ret < 0)
			ret = parse_one(opt, optarg, cfg);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return usage_error("serve: unexpected argument '%s'", argv[optind]);
	return 0;
}

void cli_config_free(struct vm_config *cfg)
{
	free(cfg->kernel_path);
	free(cfg->initrd_path);
	free(cfg->cmdline);
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		free(cfg->disks[i].path);
	free(cfg->log_path);
	free(cfg->metrics_path);
	memset(cfg, 0, sizeof(*cfg));
}
