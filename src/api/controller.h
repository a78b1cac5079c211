/* SPDX-License-Identifier: MIT */
/*
 * The control API's resources: Firecracker's (boot-source, machine-config,
 * drives, network-interfaces, entropy, logger, metrics, actions, vm) and
 * skiff's extensions in the same style (Shutdown and Kill actions, GET
 * /metrics). Routing and validation live here; what acts on the VM is
 * behind controller_ops, which the run loop implements, so all of this is
 * unit-tested without KVM.
 */
#ifndef SKIFF_API_CONTROLLER_H
#define SKIFF_API_CONTROLLER_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "api/api.h"
#include "vmm/config.h"

enum instance_state {
	INSTANCE_NOT_STARTED,
	INSTANCE_RUNNING,
	INSTANCE_PAUSED,
	INSTANCE_SHUTTING_DOWN,
};

/*
 * Called on the API thread with the controller lock held; each returns 0
 * or -1 with a fault message in err (without the action's name).
 */
struct controller_ops {
	/* Build and boot the VM from the (finalized) configuration. */
	int (*start)(void *opaque, char *err, size_t errlen);
	int (*pause)(void *opaque, char *err, size_t errlen);
	int (*resume)(void *opaque, char *err, size_t errlen);
	/* Press the ACPI power button (hard stop after the shutdown timeout). */
	int (*shutdown)(void *opaque, char *err, size_t errlen);
	int (*kill)(void *opaque, char *err, size_t errlen);
	int (*ctrl_alt_del)(void *opaque, char *err, size_t errlen);
	/* Point disk idx at another file. */
	int (*swap_drive)(void *opaque, unsigned int idx, const char *path,
			  char *err, size_t errlen);
	/* Add "vcpus" and "devices" to out (GET /metrics). */
	void (*metrics)(void *opaque, json_t *out);
};

struct controller {
	pthread_mutex_t lock;
	struct vm_config *cfg;		/* changes only before the start */
	enum instance_state state;
	uint64_t created_ns;		/* for uptime */
	const struct controller_ops *ops;
	void *opaque;
};

void controller_init(struct controller *c, struct vm_config *cfg,
		     enum instance_state state, const struct controller_ops *ops,
		     void *opaque);
void controller_destroy(struct controller *c);
void controller_set_state(struct controller *c, enum instance_state state);
enum instance_state controller_state(struct controller *c);

/* The api_handler_fn: opaque is the controller. */
void controller_handle(void *opaque, const char *method, const char *path,
		       const char *body, size_t len, struct api_reply *reply);

/* The GET /metrics document (also what FlushMetrics writes); new reference. */
json_t *controller_metrics(struct controller *c);

/*
 * Append the metrics document as one line to the configured metrics_path
 * (FlushMetrics, and skiff's periodic flush). 0, or -1 with err set.
 */
int controller_flush_metrics(struct controller *c, char *err, size_t errlen);

#endif
