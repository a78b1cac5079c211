/* SPDX-License-Identifier: MIT */
/*
 * Firecracker-API-shaped JSON → struct vm_config: the bodies of PUT
 * /boot-source, /machine-config, /drives/{id}, ... and a whole
 * --config-file document, with Firecracker's field names and errors that
 * name the resource and the field.
 */
#ifndef SKIFF_API_FC_CONFIG_H
#define SKIFF_API_FC_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "vmm/config.h"

/*
 * Every function returns 0, or -1 with a fault message in err (errlen bytes)
 * naming the field and the reason, e.g.
 *   "machine-config: vcpu_count: must be an integer from 1 to 64, got 0"
 *   "drives: unknown field 'path_on_hots'"
 *   "boot-source: kernel_image_path: /x/y: No such file or directory"
 * On error cfg is left exactly as it was. cfg owns its strings; free it
 * with cli_config_free().
 */

/*
 * skiff's defaults for an API VM: 1 vCPU, 128 MiB (Firecracker's default),
 * shutdown timeout 30 s, serial console, no disks, and net_none: an API VM
 * gets only the NICs it is given. name NULL: "vm<pid>".
 */
void fc_config_init(struct vm_config *cfg, const char *name);

int fc_put_boot_source(struct vm_config *cfg, const json_t *body, char *err, size_t errlen);
/* PUT: vcpu_count and mem_size_mib required; missing optional fields reset. */
int fc_put_machine_config(struct vm_config *cfg, const json_t *body, char *err,
			  size_t errlen);
/* PATCH: only the fields given change. */
int fc_patch_machine_config(struct vm_config *cfg, const json_t *body, char *err,
			    size_t errlen);
/*
 * drive_id is the one in the URL path and must equal the body's (NULL: take
 * the body's). The same id replaces that drive, a new one is appended (at
 * most VM_MAX_DISKS); only one drive may be the root device.
 */
int fc_put_drive(struct vm_config *cfg, const char *drive_id, const json_t *body,
		 char *err, size_t errlen);
/* iface_id as drive_id above; at most VM_MAX_NICS. Clears net_none. */
int fc_put_network_interface(struct vm_config *cfg, const char *iface_id,
			     const json_t *body, char *err, size_t errlen);
int fc_put_entropy(struct vm_config *cfg, const json_t *body, char *err, size_t errlen);
int fc_put_logger(struct vm_config *cfg, const json_t *body, char *err, size_t errlen);
int fc_put_metrics(struct vm_config *cfg, const json_t *body, char *err, size_t errlen);

/*
 * A whole Firecracker --config-file document ("boot-source", "drives",
 * "machine-config", "network-interfaces", "entropy", "logger", "metrics");
 * cfg must have been fc_config_init'ed by the caller. All or nothing.
 */
int fc_apply_document(struct vm_config *cfg, const json_t *doc, char *err, size_t errlen);
/* Read and apply a document; parse errors say path:line:column. */
int fc_load_config_file(struct vm_config *cfg, const char *path, char *err, size_t errlen);

/*
 * What InstanceStart does before the VM is built: check there is a kernel,
 * put the root drive first in disks[], give the default command line
 * "console=ttyS0 reboot=k panic=1" when boot_args were not given, append
 * "root=/dev/vda rw|ro" (or root=PARTUUID=...) when there is a root drive
 * and the command line has no root=, and drop "pci=off" (skiff's devices
 * are on PCI), saying so in note (notelen bytes; "" when nothing to say;
 * note may be NULL).
 */
int fc_finalize(struct vm_config *cfg, char *note, size_t notelen, char *err,
		size_t errlen);

/* GET /vm/config and GET /machine-config in Firecracker's shapes; new references. */
json_t *fc_vm_config_json(const struct vm_config *cfg);
json_t *fc_machine_config_json(const struct vm_config *cfg);

#endif
