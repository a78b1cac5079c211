// SPDX-License-Identifier: MIT
/*
 * Control API resources. A request is checked completely before anything
 * changes: the fc_* parsers validate into a copy, and state checks come
 * first, so a 400 always means "nothing happened".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/controller.h"
#include "api/fc_config.h"
#include "vmm/clock.h"

#define ERR_LEN 512

static const char *const state_names[] = {
	[INSTANCE_NOT_STARTED] = "Not started",
	[INSTANCE_RUNNING] = "Running",
	[INSTANCE_PAUSED] = "Paused",
	[INSTANCE_SHUTTING_DOWN] = "Running",	/* Firecracker has no such state */
};

static const char *const state_words[] = {
	[INSTANCE_NOT_STARTED] = "not started",
	[INSTANCE_RUNNING] = "running",
	[INSTANCE_PAUSED] = "paused",
	[INSTANCE_SHUTTING_DOWN] = "shutting down",
};

void controller_init(struct controller *c, struct vm_config *cfg,
		     enum instance_state state, const struct controller_ops *ops,
		     void *opaque)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->cfg = cfg;
	c->state = state;
	c->ops = ops;
	c->opaque = opaque;
	c->created_ns = monotonic_ns();
}

void controller_destroy(struct controller *c)
{
	pthread_mutex_destroy(&c->lock);
}

void controller_set_state(struct controller *c, enum instance_state state)
{
	pthread_mutex_lock(&c->lock);
	c->state = state;
	pthread_mutex_unlock(&c->lock);
}

enum instance_state controller_state(struct controller *c)
{
	enum instance_state st;

	pthread_mutex_lock(&c->lock);
	st = c->state;
	pthread_mutex_unlock(&c->lock);
	return st;
}

static void reply_json(struct api_reply *reply, int status, json_t *j)
{
	reply->status = status;
	reply->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (j && !reply->body)
		api_reply_fault(reply, 500, "out of memory");
}

static void reply_ok(struct api_reply *reply)
{
	reply->status = 204;
	reply->body = NULL;
}

/* ---- GET ---- */

static json_t *instance_info(struct controller *c)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "app_name", "skiff", "id", c->cfg->name,
			 "state", state_names[c->state], "vmm_version", SKIFF_VERSION);
}

static uint64_t process_cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static json_t *metrics_locked(struct controller *c)
{
	json_t *m = json_object();
	json_t *vmm = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:I}",
				"name", c->cfg->name,
				"pid", (json_int_t)getpid(),
				"state", state_words[c->state],
				"vcpu_count", (json_int_t)c->cfg->cpus,
				"mem_size_mib", (json_int_t)(c->cfg->mem_size >> 20),
				"uptime_ms", (json_int_t)((monotonic_ns() - c->created_ns) / 1000000),
				"cpu_time_ms", (json_int_t)process_cpu_ms());

	if (!m || !vmm) {
		json_decref(m);
		json_decref(vmm);
		return NULL;
	}
	json_object_set_new(m, "vmm", vmm);
	if (c->state != INSTANCE_NOT_STARTED && c->ops->metrics)
		c->ops->metrics(c->opaque, m);
	if (!json_object_get(m, "vcpus"))
		json_object_set_new(m, "vcpus", json_array());
	if (!json_object_get(m, "devices"))
		json_object_set_new(m, "devices", json_array());
	return m;
}

json_t *controller_metrics(struct controller *c)
{
	json_t *m;

	pthread_mutex_lock(&c->lock);
	m = metrics_locked(c);
	pthread_mutex_unlock(&c->lock);
	return m;
}

static bool handle_get(struct controller *c, const char *path, struct api_reply *reply)
{
	if (!strcmp(path, "/"))
		reply_json(reply, 200, instance_info(c));
	else if (!strcmp(path, "/version"))
		reply_json(reply, 200, json_pack("{s:s}", "firecracker_version", SKIFF_VERSION));
	else if (!strcmp(path, "/vm/config"))
		reply_json(reply, 200, fc_vm_config_json(c->cfg));
	else if (!strcmp(path, "/machine-config"))
		reply_json(reply, 200, fc_machine_config_json(c->cfg));
	else if (!strcmp(path, "/metrics"))
		reply_json(reply, 200, metrics_locked(c));
	else
		return false;
	return true;
}

/* ---- Bodies ---- */

static json_t *parse_body(const char *what, const char *body, size_t len,
			  struct api_reply *reply)
{
	json_error_t jerr;
	json_t *j;

	if (!body || !len) {
		api_reply_fault(reply, 400, "%s: the request needs a JSON body", what);
		return NULL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		api_reply_fault(reply, 400, "%s: invalid JSON at line %d, column %d: %s",
				what, jerr.line, jerr.column, jerr.text);
	return j;
}

/* "/drives/ID" → "ID" when path starts with prefix and ID is non-empty. */
static const char *path_id(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) || !path[n] || strchr(path + n, '/'))
		return NULL;
	return path + n;
}

/* ---- Pre-boot configuration ---- */

typedef int (*put_fn)(struct vm_config *cfg, const json_t *body, char *err, size_t errlen);
typedef int (*put_id_fn)(struct vm_config *cfg, const char *id, const json_t *body,
			 char *err, size_t errlen);

/* ---- Run time ---- */

static void patch_vm(struct controller *c, json_t *body, struct api_reply *reply)
{
	char err[ERR_LEN] = "";
	const char *want = NULL;
	json_t *v;
	int ret;

	const char *key;

	if (!json_is_object(body)) {
		api_reply_fault(reply, 400, "vm: the body must be a JSON object");
		return;
	}
	json_object_foreach(body, key, v) {
		if (strcmp(key, "state")) {
			api_reply_fault(reply, 400, "vm: unknown field '%s'", key);
			return;
		}
	}
	v = json_object_get(body, "state");
	want = json_string_value(v);
	if (!want || (strcmp(want, "Paused") && strcmp(want, "Resumed"))) {
		api_reply_fault(reply, 400, "vm: state: %s", !v ? "missing" :
				"must be the string \"Paused\" or \"Resumed\"");
		return;
	}
	if (c->state == INSTANCE_NOT_STARTED || c->state == INSTANCE_SHUTTING_DOWN) {
		api_reply_fault(reply, 400, "vm: cannot %s: the instance is %s",
				want[0] == 'P' ? "pause" : "resume", state_words[c->state]);
		return;
	}
	if (want[0] == 'P' && c->state == INSTANCE_PAUSED) {
		api_reply_fault(reply, 400, "vm: cannot pause: the instance is already paused");
		return;
	}
	if (want[0] == 'R' && c->state == INSTANCE_RUNNING) {
		api_reply_fault(reply, 400, "vm: cannot resume: the instance is not paused");
		return;
	}
	ret = want[0] == 'P' ? c->ops->pause(c->opaque, err, sizeof(err)) :
			       c->ops->resume(c->opaque, err, sizeof(err));
	if (ret < 0) {
		api_reply_fault(reply, 400, "vm: %s", err);
		return;
	}
	c->state = want[0] == 'P' ? INSTANCE_PAUSED : INSTANCE_RUNNING;
	reply_ok(reply);
}

static int flush_metrics(struct controller *c, char *err, size_t errlen)
{
	json_t *m;
	char *text;
	int fd, ret = 0;

	if (!c->cfg->metrics_path) {
		snprintf(err, errlen, "no metrics file is configured (PUT /metrics first)");
		return -1;
	}
	m = metrics_locked(c);
	text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	/* Non-blocking: a FIFO nobody reads must not hang the API. */
	fd = open(c->cfg->metrics_path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
	if (!text || fd < 0 || dprintf(fd, "%s\n", text) < 0) {
		snprintf(err, errlen, "%s: %s", c->cfg->metrics_path,
			 text ? strerror(errno) : "out of memory");
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}

int controller_flush_metrics(struct controller *c, char *err, size_t errlen)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = flush_metrics(c, err, errlen);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/*
 * fc_finalize() rewrites the command line and puts the root drive first:
 * a start that fails must leave the configuration as the client set it.
 */
static int instance_start(struct controller *c, char *err, size_t errlen)
{
	struct vm_disk_config disks[VM_MAX_DISKS];
	char note[256] = "", *cmdline = NULL;

	if (c->cfg->cmdline && !(cmdline = strdup(c->cfg->cmdline))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(disks, c->cfg->disks, sizeof(disks));
	if (fc_finalize(c->cfg, note, sizeof(note), err, errlen) < 0 ||
	    c->ops->start(c->opaque, err, errlen) < 0) {
		free(c->cfg->cmdline);
		c->cfg->cmdline = cmdline;
		memcpy(c->cfg->disks, disks, sizeof(disks));
		return -1;
	}
	free(cmdline);
	if (note[0])
		fprintf(stderr, "skiff %s: InstanceStart: %s\n", c->cfg->name, note);
	c->state = INSTANCE_RUNNING;
	return 0;
}

static int run_action(struct controller *c, const char *action, char *err, size_t errlen)
{
	bool started = c->state != INSTANCE_NOT_STARTED;

	if (!strcmp(action, "InstanceStart")) {
		if (started) {
			snprintf(err, errlen, "the instance is already %s", state_words[c->state]);
			return -1;
		}
		return instance_start(c, err, errlen);
	}
	if (!strcmp(action, "FlushMetrics"))
		return flush_metrics(c, err, errlen);
	if (!strcmp(action, "SendCtrlAltDel") || !strcmp(action, "Shutdown") ||
	    !strcmp(action, "Kill")) {
		if (!started) {
			snprintf(err, errlen, "the instance is not started");
			return -1;
		}
		if (action[0] == 'K')
			return c->ops->kill(c->opaque, err, errlen);
		if (action[1] == 'e')
			return c->ops->ctrl_alt_del(c->opaque, err, errlen);
		if (c->ops->shutdown(c->opaque, err, errlen) < 0)
			return -1;
		c->state = INSTANCE_SHUTTING_DOWN;
		return 0;
	}
	snprintf(err, errlen, "unknown action_type '%s' (InstanceStart, SendCtrlAltDel, "
		 "FlushMetrics, Shutdown, Kill)", action);
	return -1;
}

static void put_actions(struct controller *c, json_t *body, struct api_reply *reply)
{
	char err[ERR_LEN] = "";
	const char *key, *action;
	json_t *v;

	if (!json_is_object(body)) {
		api_reply_fault(reply, 400, "actions: the body must be a JSON object");
		return;
	}
	json_object_foreach(body, key, v) {
		if (strcmp(key, "action_type")) {
			api_reply_fault(reply, 400, "actions: unknown field '%s'", key);
			return;
		}
	}
	v = json_object_get(body, "action_type");
	if (!v || !(action = json_string_value(v))) {
		api_reply_fault(reply, 400, "actions: action_type: %s",
				v ? "must be a string" : "missing");
		return;
	}
	if (run_action(c, action, err, sizeof(err)) < 0)
		api_reply_fault(reply, 400, "actions: %s: %s", action, err);
	else
		reply_ok(reply);
}

/* Disks from --disk have no id: GET /vm/config calls them drive<N>. */
static bool drive_named(const struct vm_config *cfg, unsigned int i, const char *id)
{
	char cli_id[16];

	if (cfg->disks[i].id[0])
		return !strcmp(cfg->disks[i].id, id);
	snprintf(cli_id, sizeof(cli_id), "drive%u", i);
	return !strcmp(cli_id, id);
}

static void patch_drive(struct controller *c, const char *id, json_t *body,
			struct api_reply *reply)
{
	char err[ERR_LEN] = "";
	const char *key, *path = NULL;
	unsigned int i;
	json_t *v;

	if (c->state == INSTANCE_NOT_STARTED) {
		api_reply_fault(reply, 400, "drives: PATCH is for a started instance; "
				"use PUT /drives/%s before the start", id);
		return;
	}
	if (!json_is_object(body)) {
		api_reply_fault(reply, 400, "drives: the body must be a JSON object");
		return;
	}
	json_object_foreach(body, key, v) {
		if (!strcmp(key, "drive_id")) {
			if (!json_is_string(v) || strcmp(json_string_value(v), id)) {
				api_reply_fault(reply, 400, "drives: drive_id: must be the "
						"string '%s' from the path", id);
				return;
			}
		} else if (!strcmp(key, "path_on_host")) {
			if (!(path = json_string_value(v))) {
				api_reply_fault(reply, 400, "drives: path_on_host: must be a string");
				return;
			}
		} else if (strcmp(key, "rate_limiter") || !json_is_null(v)) {
			api_reply_fault(reply, 400, "drives: %s: %s", key,
					strcmp(key, "rate_limiter") ? "unknown field" :
					"not supported by skiff");
			return;
		}
	}
	for (i = 0; i < c->cfg->nr_disks && !drive_named(c->cfg, i, id); i++)
		;
	if (i == c->cfg->nr_disks) {
		api_reply_fault(reply, 400, "drives: no drive '%s'", id);
		return;
	}
	if (!path) {
		reply_ok(reply);	/* nothing to change */
		return;
	}
	if (c->ops->swap_drive(c->opaque, i, path, err, sizeof(err)) < 0)
		api_reply_fault(reply, 400, "drives: path_on_host: %s", err);
	else
		reply_ok(reply);
}

/* ---- Routes ---- */

/*
 * Every route with a body. A path ending in '/' takes an id after it.
 * Pre-boot resources (config, config_id) are refused once the instance
 * started; run-time ones decide for themselves.
 */
static const struct route {
	const char *method, *path;
	put_fn config;
	put_id_fn config_id;
	void (*runtime)(struct controller *c, json_t *body, struct api_reply *reply);
	void (*runtime_id)(struct controller *c, const char *id, json_t *body,
			   struct api_reply *reply);
} routes[] = {
	{ "PUT", "/boot-source", .config = fc_put_boot_source },
	{ "PUT", "/machine-config", .config = fc_put_machine_config },
	{ "PATCH", "/machine-config", .config = fc_patch_machine_config },
	{ "PUT", "/entropy", .config = fc_put_entropy },
	{ "PUT", "/logger", .config = fc_put_logger },
	{ "PUT", "/metrics", .config = fc_put_metrics },
	{ "PUT", "/drives/", .config_id = fc_put_drive },
	{ "PUT", "/network-interfaces/", .config_id = fc_put_network_interface },
	{ "PATCH", "/vm", .runtime = patch_vm },
	{ "PUT", "/actions", .runtime = put_actions },
	{ "PATCH", "/drives/", .runtime_id = patch_drive },
};

static const struct route *find_route(const char *method, const char *path,
				      const char **id)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		size_t n = strlen(r->path);

		if (strcmp(method, r->method))
			continue;
		if (r->path[n - 1] == '/') {
			*id = path_id(path, r->path);
			if (*id)
				return r;
		} else if (!strcmp(path, r->path)) {
			*id = NULL;
			return r;
		}
	}
	return NULL;
}

static void dispatch(struct controller *c, const struct route *r, const char *id,
		     const char *method, const char *path, json_t *body,
		     struct api_reply *reply)
{
	char err[ERR_LEN] = "";
	int ret;

	if (r->runtime) {
		r->runtime(c, body, reply);
		return;
	}
	if (r->runtime_id) {
		r->runtime_id(c, id, body, reply);
		return;
	}
	if (c->state != INSTANCE_NOT_STARTED) {
		api_reply_fault(reply, 400, "%s %s: not allowed after the instance started",
				method, path);
		return;
	}
	ret = r->config ? r->config(c->cfg, body, err, sizeof(err)) :
			  r->config_id(c->cfg, id, body, err, sizeof(err));
	if (ret < 0)
		api_reply_fault(reply, 400, "%s", err);
	else
		reply_ok(reply);
}

void controller_handle(void *opaque, const char *method, const char *path,
		       const char *body, size_t len, struct api_reply *reply)
{
	struct controller *c = opaque;
	const struct route *route;
	const char *id;
	json_t *j;

	pthread_mutex_lock(&c->lock);
	if (!strcmp(method, "GET") && handle_get(c, path, reply))
		goto out;
	route = find_route(method, path, &id);
	if (!route) {
		api_reply_fault(reply, 400, "Invalid request method and/or path: %s %s",
				method, path);
		goto out;
	}
	j = parse_body(path + 1, body, len, reply);
	if (!j)
		goto out;
	dispatch(c, route, id, method, path, j, reply);
	json_decref(j);
out:
	pthread_mutex_unlock(&c->lock);
}
