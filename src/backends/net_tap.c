// SPDX-License-Identifier: MIT
/*
 * The tap backend: frames with a virtio-net header (IFF_VNET_HDR, 12
 * bytes) to and from a tap device, one fd per queue pair
 * (IFF_MULTI_QUEUE). The kernel does the offloads the guest negotiated
 * (TUNSETOFFLOAD), so frames pass through untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net.h"

struct tap {
	struct net_backend b;
	char ifname[IFNAMSIZ];
	int fds[NET_MAX_QUEUES];
	bool created;		/* by us: gone when the last fd closes */
};

static ssize_t tap_send(struct net_backend *b, unsigned int q, const struct iovec *iov,
			int iovcnt)
{
	struct tap *t = b->priv;
	ssize_t n = writev(t->fds[q], iov, iovcnt);

	return n < 0 ? -errno : n;
}

static ssize_t tap_recv(struct net_backend *b, unsigned int q, const struct iovec *iov,
			int iovcnt)
{
	struct tap *t = b->priv;
	ssize_t n = readv(t->fds[q], iov, iovcnt);

	return n < 0 ? -errno : n;
}

static unsigned int tun_offload_flags(unsigned int offloads)
{
	unsigned int f = 0;

	if (offloads & NET_OFFLOAD_CSUM)
		f |= TUN_F_CSUM;
	if (offloads & NET_OFFLOAD_TSO4)
		f |= TUN_F_TSO4;
	if (offloads & NET_OFFLOAD_TSO6)
		f |= TUN_F_TSO6;
	if (offloads & NET_OFFLOAD_TSO_ECN)
		f |= TUN_F_TSO_ECN;
	if (offloads & NET_OFFLOAD_UFO)
		f |= TUN_F_UFO;
	return f;
}

static int tap_set_offloads(struct net_backend *b, unsigned int offloads)
{
	struct tap *t = b->priv;

	/* One call sets the device's features for every queue. */
	if (ioctl(t->fds[0], TUNSETOFFLOAD, (unsigned long)tun_offload_flags(offloads)) < 0)
		return -errno;
	return 0;
}

static int tap_set_active_queues(struct net_backend *b, unsigned int n)
{
	struct tap *t = b->priv;
	struct ifreq ifr;

	if (b->nr_queues == 1)
		return 0;
	/* Detached queues get no packets steered to them. */
	for (unsigned int q = 0; q < b->nr_queues; q++) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = q < n ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
		if (ioctl(t->fds[q], TUNSETQUEUE, &ifr) < 0 && errno != EINVAL)
			return -errno;
	}
	return 0;
}

static void tap_close(struct net_backend *b)
{
	struct tap *t = b->priv;

	for (unsigned int q = 0; q < NET_MAX_QUEUES; q++)
		if (t->fds[q] >= 0)
			close(t->fds[q]);
	free(t);
}

static const struct net_backend_ops tap_ops = {
	.send = tap_send,
	.recv = tap_recv,
	.set_offloads = tap_set_offloads,
	.set_active_queues = tap_set_active_queues,
	.close = tap_close,
};

/* Which offloads the tap takes: UFO is gone from some kernels. */
static unsigned int probe_offloads(int fd)
{
	unsigned int all = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 |
			   NET_OFFLOAD_TSO_ECN;
	unsigned int caps = 0;

	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tun_offload_flags(all | NET_OFFLOAD_UFO)) == 0)
		caps = all | NET_OFFLOAD_UFO;
	else if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tun_offload_flags(all)) == 0)
		caps = all;
	else if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0)
		caps = NET_OFFLOAD_CSUM;
	/* Nothing until the guest says what it accepts. */
	ioctl(fd, TUNSETOFFLOAD, 0UL);
	return caps;
}

static int set_vnet_hdr(int fd, char *err, size_t errlen, const char *name)
{
	int sz = NET_VNET_HDR_LEN;

	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
		snprintf(err, errlen, "tap %s: cannot set the virtio-net header size: %s",
			 name, strerror(errno));
		return -errno;
	}
	return 0;
}

static int open_queue(struct tap *t, const char *ifname, bool multi, char *err,
		      size_t errlen)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "tap %s: cannot open /dev/net/tun: %s", ifname,
			 strerror(errno));
		return -errno;
	}
	if (multi)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		close(fd);
		snprintf(err, errlen, "tap %s: %s%s", ifname, strerror(e),
			 e == EPERM ? (t->created ? " (creating a tap needs CAP_NET_ADMIN)" :
				       " (the tap belongs to another user)") :
			 e == EINVAL ? " (not a tap, or its queue setting differs)" : "");
		return -e;
	}
	return fd;
}

/* Bring a tap we created up, so it is usable at once. */
static void link_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

static int tap_from_fd(struct tap *t, int fd, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };

	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		snprintf(err, errlen, "tap-fd %d: not a tap fd: %s", fd, strerror(errno));
		return -EINVAL;
	}
	if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_VNET_HDR) ||
	    !(ifr.ifr_flags & IFF_NO_PI)) {
		snprintf(err, errlen, "tap-fd %d (%s): needs a tap opened with "
			 "IFF_TAP | IFF_NO_PI | IFF_VNET_HDR", fd, ifr.ifr_name);
		return -EINVAL;
	}
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	t->fds[0] = fd;
	return set_vnet_hdr(fd, err, errlen, t->ifname);
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= IFNAMSIZ || strchr(s, '/') || strchr(s, ':') || strchr(s, '%'))
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

static int tap_by_name(struct tap *t, const char *ifname, unsigned int queues, char *err,
		       size_t errlen)
{
	int ret;

	if (!ifname_ok(ifname)) {
		snprintf(err, errlen, "tap '%s': not a valid interface name", ifname);
		return -EINVAL;
	}
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	t->created = if_nametoindex(ifname) == 0;
	for (unsigned int q = 0; q < queues; q++) {
		ret = open_queue(t, ifname, queues > 1, err, errlen);
		if (ret < 0)
			return ret;
		t->fds[q] = ret;
		ret = set_vnet_hdr(t->fds[q], err, errlen, ifname);
		if (ret)
			return ret;
	}
	if (t->created)
		link_up(ifname);
	return 0;
}

int net_tap_open(struct net_backend **out, const char *ifname, int fd,
		 unsigned int queues, char *err, size_t errlen)
{
	struct tap *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	t->b.priv = t;	/* tap_close() finds the state through it */
	for (unsigned int q = 0; q < NET_MAX_QUEUES; q++)
		t->fds[q] = -1;
	if (!queues || queues > NET_MAX_QUEUES || (fd >= 0 && queues != 1)) {
		snprintf(err, errlen, "tap: queues=%u: want 1-%d (1 with tap-fd)", queues,
			 NET_MAX_QUEUES);
		ret = -EINVAL;
	} else {
		ret = fd >= 0 ? tap_from_fd(t, fd, err, errlen) :
				tap_by_name(t, ifname, queues, err, errlen);
	}
	if (ret) {
		/* A fd the manager passed stays the manager's. */
		if (fd >= 0)
			t->fds[0] = -1;
		tap_close(&t->b);
		return ret;
	}
	t->b = (struct net_backend){
		.ops = &tap_ops,
		.kind = "tap",
		.has_vnet_hdr = true,
		.offload_caps = probe_offloads(t->fds[0]),
		.nr_queues = queues,
		.tx_wake_fd = -1,
		.priv = t,
	};
	for (unsigned int q = 0; q < NET_MAX_QUEUES; q++)
		t->b.rx_fds[q] = q < queues ? t->fds[q] : -1;
	*out = &t->b;
	return 0;
}

const char *net_tap_ifname(const struct net_backend *b)
{
	return ((const struct tap *)b->priv)->ifname;
}
