/* SPDX-License-Identifier: MIT */
/* What the user asked for: built by the CLI (and later the API), read by the VM. */
#ifndef SKIFF_VMM_CONFIG_H
#define SKIFF_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

enum on_reboot {
	ON_REBOOT_EXIT,
	ON_REBOOT_RESTART,
};

enum console_kind {
	CONSOLE_SERIAL,		/* COM1 16550A, ttyS0 */
	CONSOLE_VIRTIO,		/* virtio-console port 0, hvc0; no UART */
};

enum disk_cache_mode {
	DISK_CACHE_MODE_WRITEBACK,
	DISK_CACHE_MODE_NONE,
};

#define VM_MAX_DISKS 16
#define VM_DISK_SERIAL_MAX 20	/* VIRTIO_BLK_ID_BYTES */

struct vm_disk_config {
	char *path;
	bool readonly;
	enum disk_cache_mode cache;
	char serial[VM_DISK_SERIAL_MAX + 1];
	char id[64];		/* the API's drive_id; "" from the CLI */
	bool is_root;		/* the API's is_root_device: root= names this disk */
	char partuuid[40];	/* root=PARTUUID=this rather than /dev/vda; "" none */
	bool sync_io;		/* the API's io_engine "Sync": no io_uring */
};

enum net_kind {
	NET_KIND_TAP,		/* tap=NAME */
	NET_KIND_TAP_FD,	/* tap-fd=N, passed by a manager */
	NET_KIND_USER,		/* user-mode networking (libslirp) */
};

#define VM_MAX_NICS 4
#define VM_NET_MAX_HOSTFWD 16
#define VM_NET_HOSTFWD_LEN 96

struct vm_net_config {
	enum net_kind kind;
	char ifname[16];
	int tap_fd;
	uint8_t mac[6];
	bool mac_set;		/* else derived from the VM name */
	unsigned int queues;	/* queue pairs */
	unsigned int mtu;
	char hostfwd[VM_NET_MAX_HOSTFWD][VM_NET_HOSTFWD_LEN];
	unsigned int nr_hostfwd;
	char id[64];		/* the API's iface_id; "" from the CLI */
};

/*
 * How much the API's logger says. Ordered by verbosity, with the default
 * (Firecracker's: Info) at 0 so a zeroed config has it.
 */
enum log_level {
	LOG_LEVEL_OFF = -3,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_TRACE,
};

#define VM_LOG_MODULE_LEN 64

#define VM_MAX_CPUS 64
#define VM_MIN_MEM (16ULL << 20)
#define VM_MAX_MEM (1ULL << 40)

struct vm_config {
	char name[64];
	char *kernel_path;
	char *initrd_path;		/* NULL: none */
	char *cmdline;			/* as given, before host work-arounds */
	uint64_t mem_size;
	unsigned int cpus;
	bool debug_exit;
	bool verbose;
	enum on_reboot on_reboot;
	unsigned int shutdown_timeout;	/* seconds from SIGTERM to hard stop */
	enum console_kind console;
	bool rng;			/* virtio-rng */
	struct vm_disk_config disks[VM_MAX_DISKS];
	unsigned int nr_disks;
	struct vm_net_config nics[VM_MAX_NICS];
	unsigned int nr_nics;
	bool net_none;			/* --net none: no default NIC */
	bool track_dirty_pages;		/* the API's machine-config: stored only */
	char *log_path;			/* the API's logger: file or FIFO; NULL none */
	enum log_level log_level;
	bool log_show_level;
	bool log_show_origin;
	char log_module[VM_LOG_MODULE_LEN];	/* only this module's messages; "" all */
	char *metrics_path;		/* the API's metrics: file or FIFO; NULL none */
	unsigned int metrics_interval_s;	/* written every so often; 0: 60 s */
};

#endif
