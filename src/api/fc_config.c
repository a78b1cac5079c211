// SPDX-License-Identifier: MIT
/*
 * Firecracker's API resources → struct vm_config. A request is applied to
 * a copy of the config, and the copy replaces the config only when the
 * whole request was valid: a rejected request changes nothing, frees
 * nothing the caller still holds, and leaks nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/fc_config.h"
#include "backends/net.h"
#include "cli/cli.h"
#include "vmm/pvm.h"

#define FC_DEFAULT_MEM_MIB 128			/* Firecracker's */
#define FC_DEFAULT_SHUTDOWN_TIMEOUT 30
#define FC_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1"
#define FC_DEFAULT_CMDLINE_HVC "console=hvc0 reboot=k panic=1"
#define FC_ID_MAX 63
#define FC_MAX_QUEUES 8

/* One request: its body, how messages name it, where they go. */
struct req {
	const char *res;	/* "drives"; "drives[2]" in a document */
	const json_t *body;
	const char *path_id;	/* the id in the URL path; NULL: the body's */
	bool patch;		/* PATCH: absent fields keep their values */
	char *err;
	size_t errlen;
};

typedef int (*apply_fn)(struct vm_config *cfg, const struct req *r);

static int errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(const struct req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "<resource>: <what>" into the request's error buffer; returns -1. */
static int fail(const struct req *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!r->errlen)
		return -1;
	n = snprintf(r->err, r->errlen, "%s: ", r->res);
	if (n < 0 || (size_t)n >= r->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the config's owned strings ---- */

static int copy_string(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -1 : 0;
}

/* A deep copy: dst owns copies of every string src owns. */
static int config_copy(struct vm_config *dst, const struct vm_config *src)
{
	int bad = 0;

	*dst = *src;
	bad |= copy_string(&dst->kernel_path, src->kernel_path);
	bad |= copy_string(&dst->initrd_path, src->initrd_path);
	bad |= copy_string(&dst->cmdline, src->cmdline);
	bad |= copy_string(&dst->log_path, src->log_path);
	bad |= copy_string(&dst->metrics_path, src->metrics_path);
	for (unsigned int i = 0; i < src->nr_disks; i++)
		bad |= copy_string(&dst->disks[i].path, src->disks[i].path);
	if (bad) {
		cli_config_free(dst);
		return -1;
	}
	return 0;
}

/* Replace the string *dst owns with a copy of src (NULL: none). */
static int set_string(const struct req *r, char **dst, const char *src)
{
	char *copy = NULL;

	if (src && !(copy = strdup(src)))
		return fail(r, "out of memory");
	free(*dst);
	*dst = copy;
	return 0;
}

/* Apply a request to a copy of cfg, which replaces cfg only if all is valid. */
static int transact(struct vm_config *cfg, apply_fn apply, const struct req *r)
{
	struct vm_config copy;

	if (config_copy(&copy, cfg))
		return fail(r, "out of memory");
	if (apply(&copy, r)) {
		cli_config_free(&copy);
		return -1;
	}
	cli_config_free(cfg);
	*cfg = copy;
	return 0;
}

/* ---- fields ---- */

/* The body is an object whose fields are all in known (NULL-terminated). */
static int check_fields(const struct req *r, const char *const *known)
{
	json_t *body = (json_t *)r->body;

	if (!json_is_object(body))
		return fail(r, "the body must be a JSON object");
	for (void *it = json_object_iter(body); it; it = json_object_iter_next(body, it)) {
		const char *key = json_object_iter_key(it);
		const char *const *k = known;

		while (*k && strcmp(*k, key))
			k++;
		if (!*k)
			return fail(r, "unknown field '%s'", key);
	}
	return 0;
}

/* A field's value; NULL when absent or null, as Firecracker's optional fields. */
static const json_t *field(const struct req *r, const char *name)
{
	const json_t *v = json_object_get(r->body, name);

	return json_is_null(v) ? NULL : v;
}

static int require(const struct req *r, const char *name)
{
	return field(r, name) ? 0 : fail(r, "missing field '%s'", name);
}

/* A JSON string as a C string: NULL if not a string or it holds a NUL. */
static const char *c_string(const json_t *v)
{
	const char *s = json_string_value(v);

	return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* The get_* functions leave *out alone when the field is absent or null. */
static int get_string(const struct req *r, const char *name, const char **out)
{
	const json_t *v = field(r, name);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(r, "%s: must be a string", name);
	if (!c_string(v))
		return fail(r, "%s: must not contain NUL characters", name);
	*out = c_string(v);
	return 0;
}

static int get_bool(const struct req *r, const char *name, bool *out)
{
	const json_t *v = field(r, name);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(r, "%s: must be a boolean", name);
	*out = json_is_true(v);
	return 0;
}

static int get_uint(const struct req *r, const char *name, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	const json_t *v = field(r, name);
	json_int_t n;

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return fail(r, "%s: must be an integer", name);
	n = json_integer_value(v);
	if (n < 0 || (unsigned long long)n < min || (unsigned long long)n > max)
		return fail(r, "%s: must be an integer from %lu to %lu, got %lld", name, min,
			    max, (long long)n);
	*out = (unsigned long)n;
	return 0;
}

/* A string that must be one of choices (NULL-terminated); its index in *out. */
static int get_choice(const struct req *r, const char *name, const char *const *choices,
		      int *out)
{
	const char *s = NULL;
	char list[128] = "";
	size_t used = 0;
	int i;

	if (get_string(r, name, &s))
		return -1;
	if (!s)
		return 0;
	for (i = 0; choices[i]; i++) {
		if (!strcmp(s, choices[i])) {
			*out = i;
			return 0;
		}
	}
	for (i = 0; choices[i] && used < sizeof(list); i++)
		used += snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
				 !i ? "" : choices[i + 1] ? ", " : " or ", choices[i]);
	return fail(r, "%s: must be %s, got \"%s\"", name, list, s);
}

/* Firecracker features skiff does not have, accepted when "None". */
static int only_none(const struct req *r, const char *name)
{
	const char *s = NULL;

	if (get_string(r, name, &s))
		return -1;
	if (s && strcmp(s, "None"))
		return fail(r, "%s: \"%s\" is not supported by skiff (only \"None\")", name, s);
	return 0;
}

/* A rate limiter object that limits nothing: no buckets. */
static bool limits_nothing(const json_t *rl)
{
	json_t *obj = (json_t *)rl;

	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);

		if ((strcmp(key, "bandwidth") && strcmp(key, "ops")) ||
		    !json_is_null(json_object_iter_value(it)))
			return false;
	}
	return true;
}

/* skiff has no rate limiters: absent, null, or one without buckets. */
static int no_rate_limiter(const struct req *r, const char *name)
{
	const json_t *v = field(r, name);

	if (!v)
		return 0;
	if (!json_is_object(v))
		return fail(r, "%s: must be an object", name);
	return limits_nothing(v) ? 0 : fail(r, "%s: not supported by skiff", name);
}

/* An id from the body: Firecracker's characters, and the URL path's id. */
static int get_id(const struct req *r, const char *name, const char **out)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789_-";
	const char *id = NULL;
	size_t n;

	if (require(r, name) || get_string(r, name, &id))
		return -1;
	n = strlen(id);
	if (!n || n > FC_ID_MAX || strspn(id, ok) != n)
		return fail(r, "%s: \"%s\" must be 1-%d letters, digits, '_' or '-'", name, id,
			    FC_ID_MAX);
	if (r->path_id && strcmp(id, r->path_id))
		return fail(r, "%s: \"%s\" does not match the id in the URL path, \"%s\"", name,
			    id, r->path_id);
	*out = id;
	return 0;
}

/* A file the guest's devices read: regular (or a block device), accessible. */
static int check_input_file(const struct req *r, const char *name, const char *path,
			    bool block_ok, int mode)
{
	struct stat st;

	if (!*path)
		return fail(r, "%s: must not be empty", name);
	if (stat(path, &st) < 0)
		return fail(r, "%s: %s: %s", name, path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return fail(r, "%s: %s: is a directory", name, path);
	if (!S_ISREG(st.st_mode) && !(block_ok && S_ISBLK(st.st_mode)))
		return fail(r, "%s: %s: not a regular file%s", name, path,
			    block_ok ? " or block device" : "");
	if (access(path, mode) < 0)
		return fail(r, "%s: %s: %s", name, path, strerror(errno));
	return 0;
}

/*
 * A file or FIFO skiff will write (log, metrics): open it now, creating a
 * file, so a bad path fails this request rather than the VM's start.
 */
static int check_output_file(const struct req *r, const char *name, const char *path)
{
	int fd;

	if (!*path)
		return fail(r, "%s: must not be empty", name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		  0600);
	/* ENXIO: a FIFO nobody reads yet; the writer opens it read-write. */
	if (fd < 0 && errno != ENXIO)
		return fail(r, "%s: %s: %s", name, path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- boot-source ---- */

static int apply_boot_source(struct vm_config *cfg, const struct req *r)
{
	static const char *const known[] = {
		"kernel_image_path", "boot_args", "initrd_path", NULL,
	};
	const char *kernel = NULL, *initrd = NULL, *args = NULL;

	if (check_fields(r, known) || require(r, "kernel_image_path") ||
	    get_string(r, "kernel_image_path", &kernel) ||
	    get_string(r, "initrd_path", &initrd) || get_string(r, "boot_args", &args))
		return -1;
	if (check_input_file(r, "kernel_image_path", kernel, false, R_OK) ||
	    (initrd && check_input_file(r, "initrd_path", initrd, false, R_OK)))
		return -1;
	if (set_string(r, &cfg->kernel_path, kernel) ||
	    set_string(r, &cfg->initrd_path, initrd) ||
	    set_string(r, &cfg->cmdline, args))
		return -1;
	return 0;
}

/* ---- machine-config ---- */

static int apply_machine_config(struct vm_config *cfg, const struct req *r)
{
	static const char *const known[] = {
		"vcpu_count", "mem_size_mib", "smt", "track_dirty_pages", "cpu_template",
		"huge_pages", NULL,
	};
	unsigned long cpus = cfg->cpus, mib = 0;
	bool smt = false, dirty = r->patch ? cfg->track_dirty_pages : false;

	if (check_fields(r, known))
		return -1;
	if (r->patch && !json_object_size(r->body))
		return fail(r, "empty PATCH request");
	if (!r->patch && (require(r, "vcpu_count") || require(r, "mem_size_mib")))
		return -1;
	if (get_uint(r, "vcpu_count", 1, VM_MAX_CPUS, &cpus) ||
	    get_uint(r, "mem_size_mib", VM_MIN_MEM >> 20, VM_MAX_MEM >> 20, &mib) ||
	    get_bool(r, "smt", &smt) || get_bool(r, "track_dirty_pages", &dirty) ||
	    only_none(r, "cpu_template") || only_none(r, "huge_pages"))
		return -1;
	if (smt)
		return fail(r, "smt: not supported by skiff");
	cfg->cpus = cpus;
	if (mib)
		cfg->mem_size = (uint64_t)mib << 20;
	cfg->track_dirty_pages = dirty;
	return 0;
}

/* ---- drives ---- */

/* What root=PARTUUID= takes: a UUID, "SSSSSSSS-PP", maybe "/PARTNROFF=N". */
static bool valid_partuuid(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789-/=";
	size_t n = strlen(s);

	return n && n < sizeof(((struct vm_disk_config *)0)->partuuid) && strspn(s, ok) == n;
}

static int find_disk(const struct vm_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (!strcmp(cfg->disks[i].id, id))
			return (int)i;
	return -1;
}

static int apply_drive(struct vm_config *cfg, const struct req *r)
{
	static const char *const known[] = {
		"drive_id", "path_on_host", "is_root_device", "is_read_only", "partuuid",
		"cache_type", "io_engine", "rate_limiter", "socket", NULL,
	};
	static const char *const caches[] = { "Unsafe", "Writeback", NULL };
	static const char *const engines[] = { "Sync", "Async", NULL };
	/* Unsafe or Writeback: skiff always does the guest's flushes. */
	struct vm_disk_config d = { .cache = DISK_CACHE_MODE_WRITEBACK };
	const char *id = NULL, *path = NULL, *partuuid = NULL, *socket = NULL;
	int cache = 0, engine = 1, slot;	/* io_engine: skiff's default is Async */
	size_t n;

	if (check_fields(r, known) || get_id(r, "drive_id", &id) ||
	    get_string(r, "socket", &socket))
		return -1;
	if (socket)
		return fail(r, "socket: vhost-user drives are not supported by skiff");
	if (require(r, "path_on_host") || get_string(r, "path_on_host", &path) ||
	    require(r, "is_root_device") || get_bool(r, "is_root_device", &d.is_root) ||
	    get_bool(r, "is_read_only", &d.readonly) ||
	    get_string(r, "partuuid", &partuuid) ||
	    get_choice(r, "cache_type", caches, &cache) ||
	    get_choice(r, "io_engine", engines, &engine) ||
	    no_rate_limiter(r, "rate_limiter"))
		return -1;
	if (partuuid && !valid_partuuid(partuuid))
		return fail(r, "partuuid: \"%s\" is not a partition UUID", partuuid);
	if (check_input_file(r, "path_on_host", path, true,
			     d.readonly ? R_OK : R_OK | W_OK))
		return -1;
	slot = find_disk(cfg, id);
	for (unsigned int i = 0; d.is_root && i < cfg->nr_disks; i++)
		if ((int)i != slot && cfg->disks[i].is_root)
			return fail(r, "is_root_device: drive \"%s\" is already the root device",
				    cfg->disks[i].id);
	if (slot < 0 && cfg->nr_disks >= VM_MAX_DISKS)
		return fail(r, "at most %d drives", VM_MAX_DISKS);

	strcpy(d.id, id);
	/* The guest sees the drive id as the disk's serial. */
	n = strnlen(id, VM_DISK_SERIAL_MAX);
	memcpy(d.serial, id, n);
	if (partuuid)
		strcpy(d.partuuid, partuuid);
	d.sync_io = engine == 0;
	d.path = strdup(path);
	if (!d.path)
		return fail(r, "out of memory");
	if (slot < 0)
		slot = (int)cfg->nr_disks++;
	else
		free(cfg->disks[slot].path);
	cfg->disks[slot] = d;
	return 0;
}

/* ---- network-interfaces ---- */

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return !(mac[0] & 1);	/* a unicast address */
}

/* What Linux takes as an interface name (dev_valid_name). */
static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= sizeof(((struct vm_net_config *)0)->ifname) ||
	    !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return false;
	return true;
}

static int get_hostfwd(const struct req *r, struct vm_net_config *n)
{
	const json_t *v = field(r, "hostfwd"), *item;
	struct net_hostfwd f;
	size_t i;

	if (!v)
		return 0;
	if (!json_is_array(v))
		return fail(r, "hostfwd: must be an array");
	if (json_array_size(v) && n->kind != NET_KIND_USER)
		return fail(r, "hostfwd: only with backend \"user\"");
	if (json_array_size(v) > VM_NET_MAX_HOSTFWD)
		return fail(r, "hostfwd: at most %d forwards", VM_NET_MAX_HOSTFWD);
	json_array_foreach(v, i, item) {
		const char *s = c_string(item);

		if (!s)
			return fail(r, "hostfwd[%zu]: must be a string", i);
		if (strlen(s) >= VM_NET_HOSTFWD_LEN || net_parse_hostfwd(s, &f))
			return fail(r, "hostfwd[%zu]: \"%s\" is not a forward like "
				    "\"tcp:127.0.0.1:2222-:22\"", i, s);
		strcpy(n->hostfwd[n->nr_hostfwd++], s);
	}
	return 0;
}

static int find_nic(const struct vm_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->nr_nics; i++)
		if (!strcmp(cfg->nics[i].id, id))
			return (int)i;
	return -1;
}

/* Another interface on the same tap, or with the same MAC, is an error. */
static int check_nic_conflicts(const struct vm_config *cfg, int slot,
			       const struct vm_net_config *n, const struct req *r)
{
	for (unsigned int i = 0; i < cfg->nr_nics; i++) {
		const struct vm_net_config *o = &cfg->nics[i];

		if ((int)i == slot)
			continue;
		if (n->kind == NET_KIND_TAP && o->kind == NET_KIND_TAP &&
		    !strcmp(n->ifname, o->ifname))
			return fail(r, "host_dev_name: \"%s\" is already used by interface "
				    "\"%s\"", n->ifname, o->id);
		if (n->mac_set && o->mac_set && !memcmp(n->mac, o->mac, sizeof(n->mac)))
			return fail(r, "guest_mac: already used by interface \"%s\"", o->id);
	}
	return 0;
}

static int apply_network_interface(struct vm_config *cfg, const struct req *r)
{
	static const char *const known[] = {
		"iface_id", "host_dev_name", "guest_mac", "rx_rate_limiter",
		"tx_rate_limiter", "backend", "hostfwd", "queues", "mtu", NULL,
	};
	static const char *const backends[] = { "tap", "user", NULL };
	struct vm_net_config n = { .kind = NET_KIND_TAP, .tap_fd = -1, .queues = 1 };
	const char *id = NULL, *tap = NULL, *mac = NULL;
	unsigned long queues = 1, mtu = 0;
	int backend = 0, slot;

	if (check_fields(r, known) || get_id(r, "iface_id", &id) ||
	    get_choice(r, "backend", backends, &backend) ||
	    get_string(r, "host_dev_name", &tap) || get_string(r, "guest_mac", &mac) ||
	    get_uint(r, "queues", 1, FC_MAX_QUEUES, &queues) ||
	    get_uint(r, "mtu", 68, 65535, &mtu) ||
	    no_rate_limiter(r, "rx_rate_limiter") || no_rate_limiter(r, "tx_rate_limiter"))
		return -1;
	if (backend == 1) {
		n.kind = NET_KIND_USER;
		if (tap)
			return fail(r, "host_dev_name: not used with backend \"user\"");
	} else {
		if (!tap)
			return fail(r, "missing field 'host_dev_name'");
		if (!valid_ifname(tap))
			return fail(r, "host_dev_name: \"%s\" is not an interface name of "
				    "1-15 characters", tap);
		strcpy(n.ifname, tap);
	}
	if (mac && !parse_mac(mac, n.mac))
		return fail(r, "guest_mac: \"%s\" is not a unicast MAC address like "
			    "06:00:ac:10:00:02", mac);
	n.mac_set = mac != NULL;
	if (queues > 1 && n.kind != NET_KIND_TAP)
		return fail(r, "queues: more than 1 needs backend \"tap\"");
	n.queues = (unsigned int)queues;
	n.mtu = (unsigned int)mtu;
	if (get_hostfwd(r, &n))
		return -1;
	slot = find_nic(cfg, id);
	if (check_nic_conflicts(cfg, slot, &n, r))
		return -1;
	if (slot < 0 && cfg->nr_nics >= VM_MAX_NICS)
		return fail(r, "at most %d network interfaces", VM_MAX_NICS);
	strcpy(n.id, id);
	if (slot < 0)
		slot = (int)cfg->nr_nics++;
	cfg->nics[slot] = n;
	cfg->net_none = false;
	return 0;
}

/* ---- entropy, logger, metrics ---- */

static int apply_entropy(struct vm_config *cfg, const struct req *r)
{
	static const char *const known[] = { "rate_limiter", NULL };

	if (check_fields(r, known) || no_rate_limiter(r, "rate_limiter"))
		return -1;
	cfg->rng = true;
	return 0;
}

/* Indexed by level - LOG_LEVEL_OFF; Firecracker's spellings. */
static const char *const level_names[] = {
	"Off", "Error", "Warning", "Info", "Debug", "Trace",
};

#define NR_LEVELS (sizeof(level_names) / sizeof(level_names[0]))

static const char *level_name(enum log_level level)
{
	unsigned int i = (unsigned int)(level - LOG_LEVEL_OFF);

	return i < NR_LEVELS ? level_names[i] : "Info";
}

/* Case-insensitive, as Firecracker's, which also takes "Warn". */
static bool parse_level(const char *s, enum log_level *out)
{
	if (!strcasecmp(s, "Warn")) {
		*out = LOG_LEVEL_WARNING;
		return true;
	}
	for (unsigned int i = 0; i < NR_LEVELS; i++) {
		if (!strcasecmp(s, level_names[i])) {
			*out = (enum log_level)(LOG_LEVEL_OFF + (int)i);
			return true;
		}
	}
	return false;
}

static int apply_logger(struct vm_config *cfg, const struct req *r)
{
	static const char *const known[] = {
		"log_path", "level", "show_level", "show_log_origin", "module", NULL,
	};
	const char *path = NULL, *level = NULL, *module = NULL;
	enum log_level lvl = LOG_LEVEL_INFO;
	bool show_level = false, show_origin = false;

	if (check_fields(r, known) || get_string(r, "log_path", &path) ||
	    get_string(r, "level", &level) || get_bool(r, "show_level", &show_level) ||
	    get_bool(r, "show_log_origin", &show_origin) || get_string(r, "module", &module))
		return -1;
	if (level && !parse_level(level, &lvl))
		return fail(r, "level: must be \"Error\", \"Warning\", \"Info\", \"Debug\", "
			    "\"Trace\" or \"Off\", got \"%s\"", level);
	if (module && strlen(module) >= VM_LOG_MODULE_LEN)
		return fail(r, "module: at most %d characters", VM_LOG_MODULE_LEN - 1);
	if (path && check_output_file(r, "log_path", path))
		return -1;
	if (set_string(r, &cfg->log_path, path))
		return -1;
	cfg->log_level = lvl;
	cfg->log_show_level = show_level;
	cfg->log_show_origin = show_origin;
	snprintf(cfg->log_module, sizeof(cfg->log_module), "%s", module ? module : "");
	return 0;
}

/* skiff's extension: flush_interval_s, Firecracker's fixed 60 s otherwise. */
static int apply_metrics(struct vm_config *cfg, const struct req *r)
{
	static const char *const known[] = { "metrics_path", "flush_interval_s", NULL };
	const char *path = NULL;
	unsigned long interval = 0;

	if (check_fields(r, known) || require(r, "metrics_path") ||
	    get_string(r, "metrics_path", &path) ||
	    get_uint(r, "flush_interval_s", 1, 3600, &interval) ||
	    check_output_file(r, "metrics_path", path))
		return -1;
	if (set_string(r, &cfg->metrics_path, path))
		return -1;
	cfg->metrics_interval_s = (unsigned int)interval;
	return 0;
}

static json_t *metrics_json(const struct vm_config *cfg)
{
	json_t *m = json_pack("{s:s}", "metrics_path", cfg->metrics_path);

	if (m && cfg->metrics_interval_s &&
	    json_object_set_new(m, "flush_interval_s", json_integer(cfg->metrics_interval_s))) {
		json_decref(m);
		return NULL;
	}
	return m;
}

/* ---- the resources ---- */

void fc_config_init(struct vm_config *cfg, const char *name)
{
	memset(cfg, 0, sizeof(*cfg));
	if (name)
		snprintf(cfg->name, sizeof(cfg->name), "%s", name);
	else
		snprintf(cfg->name, sizeof(cfg->name), "vm%d", (int)getpid());
	cfg->cpus = 1;
	cfg->mem_size = (uint64_t)FC_DEFAULT_MEM_MIB << 20;
	cfg->shutdown_timeout = FC_DEFAULT_SHUTDOWN_TIMEOUT;
	cfg->on_reboot = ON_REBOOT_EXIT;
	cfg->console = CONSOLE_SERIAL;
	cfg->net_none = true;
	cfg->log_level = LOG_LEVEL_INFO;
}

static int put(struct vm_config *cfg, apply_fn apply, const char *res, const char *path_id,
	       bool patch, const json_t *body, char *err, size_t errlen)
{
	struct req r = {
		.res = res, .body = body, .path_id = path_id, .patch = patch,
		.err = err, .errlen = errlen,
	};

	return transact(cfg, apply, &r);
}

int fc_put_boot_source(struct vm_config *cfg, const json_t *body, char *err, size_t errlen)
{
	return put(cfg, apply_boot_source, "boot-source", NULL, false, body, err, errlen);
}

int fc_put_machine_config(struct vm_config *cfg, const json_t *body, char *err,
			  size_t errlen)
{
	return put(cfg, apply_machine_config, "machine-config", NULL, false, body, err,
		   errlen);
}

int fc_patch_machine_config(struct vm_config *cfg, const json_t *body, char *err,
			    size_t errlen)
{
	return put(cfg, apply_machine_config, "machine-config", NULL, true, body, err,
		   errlen);
}

int fc_put_drive(struct vm_config *cfg, const char *drive_id, const json_t *body,
		 char *err, size_t errlen)
{
	return put(cfg, apply_drive, "drives", drive_id, false, body, err, errlen);
}

int fc_put_network_interface(struct vm_config *cfg, const char *iface_id,
			     const json_t *body, char *err, size_t errlen)
{
	return put(cfg, apply_network_interface, "network-interfaces", iface_id, false,
		   body, err, errlen);
}

int fc_put_entropy(struct vm_config *cfg, const json_t *body, char *err, size_t errlen)
{
	return put(cfg, apply_entropy, "entropy", NULL, false, body, err, errlen);
}

int fc_put_logger(struct vm_config *cfg, const json_t *body, char *err, size_t errlen)
{
	return put(cfg, apply_logger, "logger", NULL, false, body, err, errlen);
}

int fc_put_metrics(struct vm_config *cfg, const json_t *body, char *err, size_t errlen)
{
	return put(cfg, apply_metrics, "metrics", NULL, false, body, err, errlen);
}

/* ---- a whole document ---- */

static const struct section {
	const char *key;
	apply_fn apply;
	bool array;		/* of resources that carry their own ids */
} sections[] = {
	{ "logger", apply_logger, false },
	{ "metrics", apply_metrics, false },
	{ "machine-config", apply_machine_config, false },
	{ "boot-source", apply_boot_source, false },
	{ "drives", apply_drive, true },
	{ "network-interfaces", apply_network_interface, true },
	{ "entropy", apply_entropy, false },
};

#define NR_SECTIONS (sizeof(sections) / sizeof(sections[0]))

/* Firecracker's other resources: absent or null is all skiff can do. */
static const char *const unsupported_sections[] = {
	"balloon", "vsock", "mmds-config", "cpu-config", "serial", "memory-hotplug", "pmem",
	NULL,
};

static bool is_section(const char *key)
{
	for (unsigned int i = 0; i < NR_SECTIONS; i++)
		if (!strcmp(sections[i].key, key))
			return true;
	return false;
}

static int check_sections(const json_t *doc, char *err, size_t errlen)
{
	json_t *obj = (json_t *)doc;

	if (!json_is_object(obj))
		return errf(err, errlen, "config: the document must be a JSON object");
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);
		const char *const *u = unsupported_sections;

		if (is_section(key))
			continue;
		while (*u && strcmp(*u, key))
			u++;
		if (!*u)
			return errf(err, errlen, "config: unknown field '%s'", key);
		if (!json_is_null(json_object_iter_value(it)))
			return errf(err, errlen, "%s: not supported by skiff", key);
	}
	return 0;
}

static int apply_section(struct vm_config *cfg, const struct section *s, const json_t *v,
			 char *err, size_t errlen)
{
	struct req r = { .res = s->key, .body = v, .err = err, .errlen = errlen };
	char res[64];
	const json_t *item;
	size_t i;

	if (!s->array)
		return s->apply(cfg, &r);
	if (!json_is_array(v))
		return fail(&r, "must be an array");
	json_array_foreach(v, i, item) {
		snprintf(res, sizeof(res), "%s[%zu]", s->key, i);
		r.res = res;
		r.body = item;
		if (s->apply(cfg, &r))
			return -1;
	}
	return 0;
}

/* Sections in a fixed order: whatever order the document has them in. */
static int apply_sections(struct vm_config *cfg, const json_t *doc, char *err,
			  size_t errlen)
{
	for (unsigned int i = 0; i < NR_SECTIONS; i++) {
		const json_t *v = json_object_get(doc, sections[i].key);

		if (v && !json_is_null(v) && apply_section(cfg, &sections[i], v, err, errlen))
			return -1;
	}
	return 0;
}

int fc_apply_document(struct vm_config *cfg, const json_t *doc, char *err, size_t errlen)
{
	struct vm_config copy;

	if (check_sections(doc, err, errlen))
		return -1;
	if (config_copy(&copy, cfg))
		return errf(err, errlen, "config: out of memory");
	if (apply_sections(&copy, doc, err, errlen)) {
		cli_config_free(&copy);
		return -1;
	}
	cli_config_free(cfg);
	*cfg = copy;
	return 0;
}

int fc_load_config_file(struct vm_config *cfg, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	char why[512];
	json_t *doc;
	FILE *f;
	int ret;

	f = fopen(path, "re");
	if (!f)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	doc = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!doc)
		return errf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	ret = fc_apply_document(cfg, doc, why, sizeof(why));
	json_decref(doc);
	if (ret)
		return errf(err, errlen, "%s: %s", path, why);
	return 0;
}

/* ---- InstanceStart ---- */

/*
 * The next kernel parameter at or after p, its length in *len; NULL at the
 * end or at "--", after which the words are init's. Quotes group words.
 */
static const char *next_param(const char *p, size_t *len)
{
	const char *start;
	bool quoted = false;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return NULL;
	for (start = p; *p && (quoted || !isspace((unsigned char)*p)); p++)
		if (*p == '"')
			quoted = !quoted;
	*len = (size_t)(p - start);
	if (*len == 2 && !strncmp(start, "--", 2))
		return NULL;
	return start;
}

static bool has_param_prefix(const char *cmdline, const char *prefix)
{
	size_t len, plen = strlen(prefix);
	const char *p = cmdline;

	while ((p = next_param(p, &len)) != NULL) {
		if (len >= plen && !strncmp(p, prefix, plen))
			return true;
		p += len;
	}
	return false;
}

/* Remove every kernel parameter equal to param, with its space; true if any. */
static bool drop_param(char *cmdline, const char *param)
{
	size_t len, plen = strlen(param);
	const char *found;
	char *p = cmdline, *from, *end;
	bool dropped = false;

	while ((found = next_param(p, &len)) != NULL) {
		from = cmdline + (found - cmdline);
		end = from + len;
		if (len != plen || strncmp(from, param, plen)) {
			p = end;
			continue;
		}
		if (from > cmdline)
			while (from > cmdline && isspace((unsigned char)from[-1]))
				from--;
		else
			while (isspace((unsigned char)*end))
				end++;
		memmove(from, end, strlen(end) + 1);
		p = from;
		dropped = true;
	}
	return dropped;
}

/* The root drive becomes vda: first, the others in the order given. */
static void move_root_first(struct vm_config *cfg)
{
	struct vm_disk_config root;
	unsigned int i = 0;

	while (i < cfg->nr_disks && !cfg->disks[i].is_root)
		i++;
	if (!i || i == cfg->nr_disks)
		return;
	root = cfg->disks[i];
	memmove(&cfg->disks[1], &cfg->disks[0], i * sizeof(cfg->disks[0]));
	cfg->disks[0] = root;
}

static const struct vm_disk_config *root_disk(const struct vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].is_root)
			return &cfg->disks[i];
	return NULL;
}

int fc_finalize(struct vm_config *cfg, char *note, size_t notelen, char *err,
		size_t errlen)
{
	struct req r = { .res = "boot-source", .err = err, .errlen = errlen };
	const struct vm_disk_config *root = root_disk(cfg);
	char *cmdline, *with_root, param[80];
	bool dropped;

	if (note && notelen)
		*note = '\0';
	if (!cfg->kernel_path)
		return fail(&r, "no kernel_image_path: the VM cannot start without a kernel");
	if (cfg->cmdline)
		cmdline = strdup(cfg->cmdline);
	else
		cmdline = strdup(cfg->console == CONSOLE_VIRTIO ? FC_DEFAULT_CMDLINE_HVC :
				 FC_DEFAULT_CMDLINE);
	if (!cmdline)
		return fail(&r, "out of memory");
	dropped = drop_param(cmdline, "pci=off");
	if (root && !has_param_prefix(cmdline, "root=")) {
		if (root->partuuid[0])
			snprintf(param, sizeof(param), "root=PARTUUID=%s %s", root->partuuid,
				 root->readonly ? "ro" : "rw");
		else
			snprintf(param, sizeof(param), "root=/dev/vda %s",
				 root->readonly ? "ro" : "rw");
		with_root = cmdline_insert_params(cmdline, param);
		free(cmdline);
		if (!with_root)
			return fail(&r, "out of memory");
		cmdline = with_root;
	}
	move_root_first(cfg);
	free(cfg->cmdline);
	cfg->cmdline = cmdline;
	if (dropped && note && notelen)
		snprintf(note, notelen, "boot_args: dropped pci=off: skiff's devices are on PCI");
	return 0;
}

/* ---- JSON views ---- */

/* Add value to obj under key; false (value released) if that failed. */
static bool add(json_t *obj, const char *key, json_t *value)
{
	return !json_object_set_new(obj, key, value);
}

json_t *fc_machine_config_json(const struct vm_config *cfg)
{
	return json_pack("{s:I, s:I, s:b, s:b, s:s}",
			 "vcpu_count", (json_int_t)cfg->cpus,
			 "mem_size_mib", (json_int_t)(cfg->mem_size >> 20),
			 "smt", 0,
			 "track_dirty_pages", (int)cfg->track_dirty_pages,
			 "huge_pages", "None");
}

static json_t *drive_json(const struct vm_disk_config *d, unsigned int i)
{
	char id[sizeof(d->id)];

	if (d->id[0])
		memcpy(id, d->id, sizeof(id));
	else
		snprintf(id, sizeof(id), "drive%u", i);	/* from the CLI */
	/* skiff always does the guest's flushes: Firecracker's "Writeback". */
	return json_pack("{s:s, s:s, s:b, s:b, s:s*, s:s, s:s}",
			 "drive_id", id,
			 "path_on_host", d->path,
			 "is_root_device", (int)d->is_root,
			 "is_read_only", (int)d->readonly,
			 "partuuid", d->partuuid[0] ? d->partuuid : NULL,
			 "cache_type", "Writeback",
			 "io_engine", d->sync_io ? "Sync" : "Async");
}

static json_t *nic_json(const struct vm_net_config *n, unsigned int i)
{
	json_t *o = json_object(), *fwd;
	char id[sizeof(n->id)], mac[18];
	bool ok = true;

	if (n->id[0])
		memcpy(id, n->id, sizeof(id));
	else
		snprintf(id, sizeof(id), "net%u", i);	/* from the CLI */
	ok &= add(o, "iface_id", json_string(id));
	if (n->kind == NET_KIND_TAP)
		ok &= add(o, "host_dev_name", json_string(n->ifname));
	else
		ok &= add(o, "backend", json_string(n->kind == NET_KIND_USER ? "user" : "tap-fd"));
	if (n->mac_set) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0],
			 n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		ok &= add(o, "guest_mac", json_string(mac));
	}
	if (n->nr_hostfwd) {
		fwd = json_array();
		for (unsigned int j = 0; j < n->nr_hostfwd; j++)
			ok &= !json_array_append_new(fwd, json_string(n->hostfwd[j]));
		ok &= add(o, "hostfwd", fwd);
	}
	if (n->queues > 1)
		ok &= add(o, "queues", json_integer(n->queues));
	if (n->mtu)
		ok &= add(o, "mtu", json_integer(n->mtu));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The logger was configured: something differs from its defaults. */
static bool logger_set(const struct vm_config *cfg)
{
	return cfg->log_path || cfg->log_level != LOG_LEVEL_INFO || cfg->log_show_level ||
	       cfg->log_show_origin || cfg->log_module[0];
}

static json_t *logger_json(const struct vm_config *cfg)
{
	return json_pack("{s:s*, s:s, s:b, s:b, s:s*}",
			 "log_path", cfg->log_path,
			 "level", level_name(cfg->log_level),
			 "show_level", (int)cfg->log_show_level,
			 "show_log_origin", (int)cfg->log_show_origin,
			 "module", cfg->log_module[0] ? cfg->log_module : NULL);
}

json_t *fc_vm_config_json(const struct vm_config *cfg)
{
	json_t *doc = json_object(), *drives = json_array(), *nics = json_array();
	bool ok = true;

	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		ok &= !json_array_append_new(drives, drive_json(&cfg->disks[i], i));
	for (unsigned int i = 0; i < cfg->nr_nics; i++)
		ok &= !json_array_append_new(nics, nic_json(&cfg->nics[i], i));
	if (cfg->kernel_path)
		ok &= add(doc, "boot-source",
			  json_pack("{s:s, s:s*, s:s*}", "kernel_image_path", cfg->kernel_path,
				    "initrd_path", cfg->initrd_path, "boot_args", cfg->cmdline));
	ok &= add(doc, "drives", drives);
	ok &= add(doc, "machine-config", fc_machine_config_json(cfg));
	ok &= add(doc, "network-interfaces", nics);
	if (cfg->rng)
		ok &= add(doc, "entropy", json_object());
	if (logger_set(cfg))
		ok &= add(doc, "logger", logger_json(cfg));
	if (cfg->metrics_path)
		ok &= add(doc, "metrics", metrics_json(cfg));
	if (!ok) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
