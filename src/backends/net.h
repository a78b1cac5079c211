/* SPDX-License-Identifier: MIT */
/*
 * Network backends for virtio-net: a tap device (frames carry a virtio-net
 * header the kernel understands, IFF_VNET_HDR) and user-mode networking
 * (libslirp: frames without a header, checksums complete).
 *
 * The device model owns the queues; a backend moves frames:
 *  - send(): one frame from the guest, as an iovec array pointing into
 *    guest memory (tap writes it with one writev: the only copy);
 *  - tap receive: the device polls rx_fd(q) on its I/O loop and calls
 *    recv() with iovecs into the guest's receive buffers;
 *  - user-mode receive: the backend calls sink.deliver() (from its own
 *    thread, or from inside send()) with a frame to copy into the guest.
 */
#ifndef SKIFF_BACKENDS_NET_H
#define SKIFF_BACKENDS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NET_MAX_QUEUES		8	/* queue pairs */
#define NET_MAX_HOSTFWD		16
#define NET_VNET_HDR_LEN	12	/* struct virtio_net_hdr_v1 */

/* Offloads the guest negotiated, for the tap's TUNSETOFFLOAD. */
#define NET_OFFLOAD_CSUM	(1u << 0)	/* guest accepts partial checksums */
#define NET_OFFLOAD_TSO4	(1u << 1)
#define NET_OFFLOAD_TSO6	(1u << 2)
#define NET_OFFLOAD_TSO_ECN	(1u << 3)
#define NET_OFFLOAD_UFO		(1u << 4)

/* What the receive side of a push backend delivers into. */
struct net_rx_sink {
	/*
	 * Copy one Ethernet frame (no virtio-net header) into the guest's
	 * receive queue 0. Called from any thread, with no backend lock held
	 * that send() takes. false: no room (the frame is dropped and counted).
	 */
	bool (*deliver)(void *opaque, const struct iovec *iov, int iovcnt);
	void *opaque;
};

struct net_hostfwd {
	bool udp;
	char host_addr[64];	/* "" = 0.0.0.0 */
	uint16_t host_port;
	char guest_addr[64];	/* "" = the guest's DHCP address */
	uint16_t guest_port;
};

struct net_backend;

struct net_backend_ops {
	/* One frame from the guest (with the header when has_vnet_hdr). */
	ssize_t (*send)(struct net_backend *b, unsigned int queue, const struct iovec *iov,
			int iovcnt);
	/* Tap: read one frame (with header) into iov; -EAGAIN when none. */
	ssize_t (*recv)(struct net_backend *b, unsigned int queue, const struct iovec *iov,
			int iovcnt);
	/* Tap: what the guest can take (NET_OFFLOAD_*); 0 or -errno. */
	int (*set_offloads)(struct net_backend *b, unsigned int offloads);
	/* Tap: only queues 0..n-1 get frames (the guest uses n pairs); may be NULL. */
	int (*set_active_queues)(struct net_backend *b, unsigned int n);
	/* Stop threads, close fds, remove what was created. */
	void (*close)(struct net_backend *b);
};

struct net_backend {
	const struct net_backend_ops *ops;
	const char *kind;		/* "tap" or "user", for messages */
	bool has_vnet_hdr;		/* frames carry NET_VNET_HDR_LEN bytes of header */
	unsigned int offload_caps;	/* NET_OFFLOAD_* the host side can do */
	unsigned int nr_queues;		/* queue pairs */
	int rx_fds[NET_MAX_QUEUES];	/* readable when recv() has a frame; -1 */
	/*
	 * After send() said -ENOBUFS (the backend is full: keep the frame and
	 * stop sending), readable when it takes frames again; -1 if send()
	 * never says that.
	 */
	int tx_wake_fd;
	void *priv;
};

struct net_user_opts {
	struct net_rx_sink sink;
	const struct net_hostfwd *hostfwd;
	unsigned int nr_hostfwd;
	const char *vm_name;		/* DHCP hostname */
};

/*
 * Tap. ifname: an existing tap, or one to create (needs CAP_NET_ADMIN;
 * removed again by close()); fd >= 0 instead: a tap fd a manager passed
 * (then queues must be 1). Errors: -errno and a one-line reason in err.
 */
int net_tap_open(struct net_backend **out, const char *ifname, int fd,
		 unsigned int queues, char *err, size_t errlen);

/* The tap's interface name (for messages). */
const char *net_tap_ifname(const struct net_backend *b);

/* User-mode networking (libslirp), 10.0.2.0/24 like QEMU's -nic user. */
int net_user_open(struct net_backend **out, const struct net_user_opts *o,
		  char *err, size_t errlen);

/* What the user-mode backend dropped, for the device to log. */
struct net_user_stats {
	uint64_t tx_bad_size;	/* guest frames under 14 or over 65536 bytes */
	uint64_t tx_ring_full;	/* guest frames that found the frame ring full */
	uint64_t rx_dropped;	/* frames sink.deliver() had no room for */
	uint64_t guest_errors;	/* what slirp found wrong in guest packets */
};

/* b: from net_user_open(). Any thread. */
void net_user_get_stats(const struct net_backend *b, struct net_user_stats *out);

/* Parse "tcp:127.0.0.1:2222-:22" (QEMU's hostfwd syntax). 0 or -EINVAL. */
int net_parse_hostfwd(const char *s, struct net_hostfwd *out);

#endif
