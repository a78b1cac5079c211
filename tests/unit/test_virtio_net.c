// SPDX-License-Identifier: MIT
/*
 * virtio-net, driven by the pcitest driver. On user-mode networking:
 * identity, config space (MAC derived from the VM name, explicit MAC,
 * MTU), offered features; ARP to the slirp gateway and its reply in the
 * guest's receive buffers; hostile transmit chains that must be dropped
 * while the queue keeps working; receive without buffers; broken rings
 * and device-readable receive buffers ending in NEEDS_RESET. On a tap
 * (root only): offloads, the tap's lifetime, multiqueue and its control
 * command, and frames both ways through an AF_PACKET socket on the host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/net.h"
#include "devices/pci/pci.h"
#include "vmm/evloop.h"
#include "vmm/vm.h"

#include "pcitest.h"

#define NET_DEVICE	PCITEST_VIRTIO_DEV(1)
#define QSIZE		256
#define RXQ		0
#define TXQ		1
#define HDR_LEN		12		/* struct virtio_net_hdr_v1 */
#define WAIT_MS		5000
#define ALL_OK		(VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK)
#define NEEDS_RESET_MSG	"guest error, device needs reset"

/* Feature bits (virtio 1.2, 5.1.3). */
#define F_CSUM		(1ULL << 0)
#define F_GUEST_CSUM	(1ULL << 1)
#define F_MTU		(1ULL << 3)
#define F_MAC		(1ULL << 5)
#define F_GUEST_TSO4	(1ULL << 7)
#define F_GUEST_TSO6	(1ULL << 8)
#define F_GUEST_ECN	(1ULL << 9)
#define F_GUEST_UFO	(1ULL << 10)
#define F_HOST_TSO4	(1ULL << 11)
#define F_HOST_TSO6	(1ULL << 12)
#define F_HOST_ECN	(1ULL << 13)
#define F_HOST_UFO	(1ULL << 14)
#define F_MRG_RXBUF	(1ULL << 15)
#define F_STATUS	(1ULL << 16)
#define F_CTRL_VQ	(1ULL << 17)
#define F_MQ		(1ULL << 22)
#define F_V1		(1ULL << VF_VERSION_1)
#define F_EVENT_IDX	(1ULL << VF_EVENT_IDX)
#define F_OFFLOADS	(F_CSUM | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6 | F_GUEST_ECN | \
			 F_GUEST_UFO | F_HOST_TSO4 | F_HOST_TSO6 | F_HOST_ECN | F_HOST_UFO)
/* What the user-mode tests negotiate. */
#define F_BASIC		(F_V1 | F_MAC | F_STATUS | F_MTU | F_MRG_RXBUF)

/* Config space (5.1.4). */
#define C_MAC		0
#define C_STATUS	6
#define C_PAIRS		8
#define C_MTU		10
#define S_LINK_UP	1

/* virtio_net_hdr_v1 fields. */
#define H_FLAGS		0
#define H_GSO		1
#define H_NUM_BUFFERS	10
#define HF_NEEDS_CSUM	1
#define GSO_TCPV4	1

/* Control queue (5.1.6.5). */
#define CTRL_MQ		4
#define CTRL_MQ_PAIRS_SET 0

/* Ethernet, ARP, addresses. */
#define ETH_HLEN	14
#define ETH_ARP		0x0806
#define ETH_IP		0x0800
#define ETH_LOCAL	0x88b5		/* IEEE local experimental */
#define ARP_LEN		(ETH_HLEN + 28)
#define GUEST_IP	0x0a00020fu	/* 10.0.2.15 */
#define GW_IP		0x0a000202u	/* 10.0.2.2 */

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
/* slirp answers for 10.0.2.2 with 52:55 and the address. */
static const uint8_t gw_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
static const uint8_t host_mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };

/* One frame as the guest receives it, gathered over its buffers. */
struct rx_frame {
	uint8_t hdr[HDR_LEN];
	unsigned int nr_bufs;		/* used entries it took */
	uint32_t used_len[16];		/* their used lengths */
	size_t len;			/* Ethernet frame bytes */
	uint8_t data[16384];
};

struct fixture {
	struct devtest *dt;
	struct vm *vm;
	struct vdrv d;
	uint8_t mac[6];			/* from config space */
	/* receiveq0 buffers, by descriptor index (each chain is one buffer). */
	uint64_t rx_gpa[QSIZE];
	uint32_t rx_len[QSIZE];
	uint16_t rx_next;		/* next used entry of receiveq0 to read */
	unsigned int other_arp;		/* ARP replies nobody waited for */
	bool tap;			/* frames arrive through the event loop */
	char ifname[IFNAMSIZ];
	int pkt;			/* AF_PACKET socket on the tap, or -1 */
	struct rx_frame fr;
};

/* ---- Little helpers ---- */

static void put_be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void pattern(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 37 + i * 11 + (i >> 8));
}

/* ---- Setup ---- */

static struct vm_config user_config(const char *name)
{
	struct vm_config cfg = { .nr_nics = 1 };

	snprintf(cfg.name, sizeof(cfg.name), "%s", name);
	cfg.nics[0] = (struct vm_net_config){ .kind = NET_KIND_USER, .tap_fd = -1, .queues = 1 };
	return cfg;
}

/* A VM with cfg's NICs; the driver probes the first virtio-net function. */
static void attach(struct fixture *f, const struct vm_config *cfg)
{
	int slot;

	f->dt = pcitest_new(cfg);
	f->vm = f->dt->vm;
	devtest_attach(f->dt, "virtio-net", 35);
	slot = pt_find(f->vm, PCITEST_VIRTIO_VENDOR, NET_DEVICE);
	assert_true(slot > 0);
	vdrv_probe(&f->d, f->dt, (unsigned int)slot);
	assert_true(f->d.device != 0);
	assert_true(f->d.device_len >= 12);
	for (unsigned int i = 0; i < 6; i++)
		f->mac[i] = (uint8_t)pt_mmio_read(f->vm, f->d.device + C_MAC + i, 1);
}

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->pkt = -1;
	return f;
}

static int setup_empty(void **state)
{
	*state = fixture_new();
	return 0;
}

static int setup_user(void **state)
{
	struct vm_config cfg = user_config("net-unit");
	struct fixture *f = fixture_new();

	cfg.verbose = true;	/* the device's counters, logged at teardown */
	attach(f, &cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->dt)
		devtest_free(f->dt);
	if (f->pkt >= 0)
		close(f->pkt);
	free(f);
	return 0;
}

/* Destroy the VM: what it logged must include want (the device's counters). */
static void destroy_expect(struct fixture *f, const char *want)
{
	struct pt_capture cap;
	bool found;
	char *log;

	pt_capture_begin(&cap);
	devtest_free(f->dt);
	f->dt = NULL;
	log = pt_capture_end(&cap);
	found = strstr(log, want) != NULL;
	free(log);
	if (!found)
		fail_msg("the log lacks \"%s\"", want);
}

/* A captured log (freed here) told of exactly one reset, naming the queue. */
static void expect_one_reset(char *log, const char *queue)
{
	unsigned int resets = pt_count(log, NEEDS_RESET_MSG);
	bool named = strstr(log, queue) != NULL;

	free(log);
	assert_int_equal(resets, 1);
	assert_true(named);
}

static uint64_t cfg_read(struct fixture *f, unsigned int off, unsigned int len)
{
	return pt_mmio_read(f->vm, f->d.device + off, len);
}

/* Negotiate what the device offers of want (never EVENT_IDX), nq queues. */
static void net_init(struct fixture *f, uint64_t want, unsigned int nq)
{
	uint64_t offered = vdrv_device_features(&f->d);

	assert_true(offered & F_V1);
	vdrv_init(&f->d, offered & want & ~F_EVENT_IDX, nq);
}

/* ---- Receive side ---- */

/* n receive chains of one len-byte buffer each (filled with 0xaa), kicked. */
static void post_rx(struct fixture *f, unsigned int n, uint32_t len, bool writable)
{
	for (unsigned int i = 0; i < n; i++) {
		uint64_t gpa = vdrv_alloc(&f->d, len);
		struct vbuf b = { gpa, len, writable };
		uint16_t head;

		memset(vdrv_ptr(&f->d, gpa, len), 0xaa, len);
		head = vdrv_post(&f->d, RXQ, &b, 1);
		f->rx_gpa[head] = gpa;
		f->rx_len[head] = len;
	}
	vdrv_kick(&f->d, RXQ);
}

/*
 * The next received frame, if all its buffers are in the used ring: the
 * header from the first buffer says how many there are.
 */
static bool rx_take(struct fixture *f)
{
	struct rx_frame *fr = &f->fr;
	uint16_t avail = (uint16_t)(vdrv_used_idx(&f->d, RXQ) - f->rx_next);
	uint32_t id, len;
	const uint8_t *p;

	if (!avail)
		return false;
	vdrv_used_elem(&f->d, RXQ, f->rx_next, &id, &len);
	assert_true(id < QSIZE && f->rx_gpa[id]);
	assert_true(len >= HDR_LEN && len <= f->rx_len[id]);
	p = vdrv_ptr(&f->d, f->rx_gpa[id], len);
	memcpy(fr->hdr, p, HDR_LEN);
	fr->nr_bufs = get_le16(fr->hdr + H_NUM_BUFFERS);
	assert_true(fr->nr_bufs >= 1 && fr->nr_bufs <= 16);
	if (avail < fr->nr_bufs)
		return false;	/* the rest is on its way */
	fr->len = 0;
	for (unsigned int k = 0; k < fr->nr_bufs; k++) {
		uint32_t skip = k ? 0 : HDR_LEN;

		vdrv_used_elem(&f->d, RXQ, (uint16_t)(f->rx_next + k), &id, &len);
		assert_true(id < QSIZE && f->rx_gpa[id]);
		assert_true(len >= skip && len <= f->rx_len[id]);
		assert_true(fr->len + len - skip <= sizeof(fr->data));
		memcpy(fr->data + fr->len, (uint8_t *)vdrv_ptr(&f->d, f->rx_gpa[id], len) + skip,
		       len - skip);
		fr->len += len - skip;
		fr->used_len[k] = len;
	}
	f->rx_next = (uint16_t)(f->rx_next + fr->nr_bufs);
	return true;
}

/* Let frames arrive: the tap's through the event loop, slirp's by themselves. */
static void rx_pause(struct fixture *f)
{
	if (f->tap)
		assert_true(evloop_run_once(f->vm->io, 10) >= 0);
	else
		sleep_ms(5);
}

static bool is_arp_reply(const struct rx_frame *fr)
{
	return fr->len >= ARP_LEN && get_be16(fr->data + 12) == ETH_ARP &&
	       get_be16(fr->data + ETH_HLEN + 6) == 2;
}

/* Wait for slirp's ARP reply to tpa in f->fr; other ARP replies are counted. */
static bool wait_arp_reply(struct fixture *f, uint32_t tpa, int ms)
{
	long long end = now_ms() + ms;

	for (;;) {
		while (rx_take(f)) {
			if (!is_arp_reply(&f->fr))
				continue;
			if (get_be32(f->fr.data + ETH_HLEN + 24) == tpa)
				return true;
			f->other_arp++;
		}
		if (now_ms() > end)
			return false;
		rx_pause(f);
	}
}

/* Wait for a frame of our own ethertype (the tap sees the host's IPv6 chatter too). */
static bool wait_local_frame(struct fixture *f, int ms)
{
	long long end = now_ms() + ms;

	for (;;) {
		while (rx_take(f))
			if (f->fr.len >= ETH_HLEN && get_be16(f->fr.data + 12) == ETH_LOCAL)
				return true;
		if (now_ms() > end)
			return false;
		rx_pause(f);
	}
}

/* ---- Transmit side ---- */

static size_t build_arp(uint8_t *fr, const uint8_t mac[6], uint32_t spa, uint32_t tpa)
{
	uint8_t *a = fr + ETH_HLEN;

	memcpy(fr, bcast, 6);
	memcpy(fr + 6, mac, 6);
	put_be16(fr + 12, ETH_ARP);
	put_be16(a, 1);
	put_be16(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put_be16(a + 6, 1);
	memcpy(a + 8, mac, 6);
	put_be32(a + 14, spa);
	memset(a + 18, 0, 6);
	put_be32(a + 24, tpa);
	return ARP_LEN;
}

/* Post bufs on a transmit queue, kick: the chain comes back at once, 0 bytes written. */
static void tx_chain(struct fixture *f, unsigned int qi, const struct vbuf *b, unsigned int n)
{
	uint16_t before = vdrv_used_idx(&f->d, qi), head;
	uint32_t id, len;

	head = vdrv_post(&f->d, qi, b, n);
	vdrv_kick(&f->d, qi);
	assert_int_equal(vdrv_used_idx(&f->d, qi), (uint16_t)(before + 1));
	vdrv_used_elem(&f->d, qi, before, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
}

/* hdr (NULL: zeros) and the frame in one readable buffer. */
static void tx_frame(struct fixture *f, unsigned int qi, const uint8_t *hdr, const void *frame,
		     size_t len)
{
	uint64_t gpa = vdrv_alloc(&f->d, (uint32_t)(HDR_LEN + len));
	uint8_t *p = vdrv_ptr(&f->d, gpa, HDR_LEN + len);
	struct vbuf b = { gpa, (uint32_t)(HDR_LEN + len), false };

	memset(p, 0, HDR_LEN);
	if (hdr)
		memcpy(p, hdr, HDR_LEN);
	memcpy(p + HDR_LEN, frame, len);
	tx_chain(f, qi, &b, 1);
}

static void tx_arp(struct fixture *f, uint32_t spa)
{
	uint8_t arp[ARP_LEN];

	build_arp(arp, f->mac, spa, GW_IP);
	tx_frame(f, TXQ, NULL, arp, sizeof(arp));
}

/* The reply f->fr holds is slirp's answer to f->mac at tpa. */
static void check_arp_reply(struct fixture *f, uint32_t tpa)
{
	const uint8_t *a = f->fr.data + ETH_HLEN;

	assert_memory_equal(f->fr.data, f->mac, 6);
	assert_memory_equal(f->fr.data + 6, gw_mac, 6);
	assert_int_equal(get_be16(a), 1);
	assert_int_equal(get_be16(a + 2), ETH_IP);
	assert_int_equal(a[4], 6);
	assert_int_equal(a[5], 4);
	assert_memory_equal(a + 8, gw_mac, 6);
	assert_int_equal(get_be32(a + 14), GW_IP);
	assert_memory_equal(a + 18, f->mac, 6);
	assert_int_equal(get_be32(a + 24), tpa);
}

/* ---- User mode: identity, config, features ---- */

static void test_identity_config(void **state)
{
	struct fixture *f = *state;
	uint64_t feat = vdrv_device_features(&f->d);

	assert_int_equal(pt_ecam_read(f->vm, f->d.slot, PCI_DEVICE_ID, 2), 0x1041);
	assert_int_equal(pt_ecam_read(f->vm, f->d.slot, PCI_VENDOR_ID, 2), PCITEST_VIRTIO_VENDOR);
	/* Class: network controller, Ethernet. */
	assert_int_equal(pt_ecam_read(f->vm, f->d.slot, 0x08, 4) >> 8, 0x020000);
	/* A locally administered unicast MAC with QEMU's prefix. */
	assert_int_equal(f->mac[0], 0x52);
	assert_int_equal(f->mac[1], 0x54);
	assert_int_equal(f->mac[2], 0x00);
	assert_int_equal(cfg_read(f, C_STATUS, 2), S_LINK_UP);
	assert_int_equal(cfg_read(f, C_PAIRS, 2), 1);
	assert_int_equal(cfg_read(f, C_MTU, 2), 1500);
	/* Reads straddling the end, or past it, see zeros (as for every virtio device). */
	assert_int_equal(cfg_read(f, C_MTU, 4), 0);
	assert_int_equal(cfg_read(f, 12, 4), 0);
	/* One pair, no control queue. */
	assert_int_equal(vdrv_read(&f->d, VC_NUMQ, 2), 2);
	assert_true(feat & F_V1);
	assert_true(feat & F_MAC);
	assert_true(feat & F_STATUS);
	assert_true(feat & F_MTU);
	assert_true(feat & F_MRG_RXBUF);
	assert_false(feat & (F_CTRL_VQ | F_MQ));
	/* User mode takes and gives complete frames: no offloads at all. */
	assert_int_equal(feat & F_OFFLOADS, 0);
	/* A driver asking for an offload that was not offered is refused. */
	assert_false(vdrv_negotiate(&f->d, F_BASIC | F_CSUM));
	assert_true(vdrv_negotiate(&f->d, F_BASIC));
	/* The config is read-only to the driver. */
	pt_mmio_write(f->vm, f->d.device + C_MAC, 0x11, 1);
	pt_mmio_write(f->vm, f->d.device + C_MTU, 9000, 2);
	assert_int_equal(cfg_read(f, C_MAC, 1), 0x52);
	assert_int_equal(cfg_read(f, C_MTU, 2), 1500);
}

static void mac_of(const char *name, uint8_t mac[6])
{
	struct vm_config cfg = user_config(name);
	struct fixture *f = fixture_new();

	attach(f, &cfg);
	memcpy(mac, f->mac, 6);
	devtest_free(f->dt);
	free(f);
}

static void test_mac_from_name(void **state)
{
	struct fixture *f = *state;
	struct vm_config cfg = user_config("vm-alpha");
	uint8_t a2[6], b[6];

	/* Two VMs of the same name at once, then one of another name. */
	attach(f, &cfg);
	mac_of("vm-alpha", a2);
	mac_of("vm-beta", b);
	assert_memory_equal(f->mac, a2, 6);
	assert_memory_not_equal(f->mac, b, 6);
	assert_memory_equal(b, "\x52\x54\x00", 3);
}

/* Two NICs in one VM: two functions with different MACs. */
static void test_two_nics(void **state)
{
	struct fixture *f = *state;
	struct vm_config cfg = user_config("vm-two");
	uint8_t mac[2][6];
	unsigned int n = 0;

	cfg.nr_nics = 2;
	cfg.nics[1] = cfg.nics[0];
	f->dt = pcitest_new(&cfg);
	f->vm = f->dt->vm;
	devtest_attach(f->dt, "virtio-net", 35);
	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++) {
		if (pt_ecam_read(f->vm, s, 0, 4) !=
		    ((uint32_t)NET_DEVICE << 16 | PCITEST_VIRTIO_VENDOR))
			continue;
		assert_true(n < 2);
		vdrv_probe(&f->d, f->dt, s);
		for (unsigned int i = 0; i < 6; i++)
			mac[n][i] = (uint8_t)cfg_read(f, C_MAC + i, 1);
		n++;
	}
	assert_int_equal(n, 2);
	assert_memory_equal(mac[0], "\x52\x54\x00", 3);
	assert_memory_equal(mac[1], "\x52\x54\x00", 3);
	assert_memory_not_equal(mac[0], mac[1], 6);
}

static void test_explicit_mac_mtu(void **state)
{
	struct fixture *f = *state;
	struct vm_config cfg = user_config("vm-alpha");
	static const uint8_t want[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

	memcpy(cfg.nics[0].mac, want, 6);
	cfg.nics[0].mac_set = true;
	cfg.nics[0].mtu = 9000;
	attach(f, &cfg);
	assert_memory_equal(f->mac, want, 6);
	assert_int_equal(cfg_read(f, C_MTU, 2), 9000);
	assert_true(vdrv_device_features(&f->d) & F_MTU);
	assert_int_equal(cfg_read(f, C_STATUS, 2), S_LINK_UP);
	assert_int_equal(cfg_read(f, C_PAIRS, 2), 1);
}

/*
 * The child's half of expect_refused(): 0 when create() failed with
 * -ENOEXEC and left nothing on the bus. No cmocka here but what the
 * harness itself asserts.
 */
static int refused_child(const struct vm_config *cfg)
{
	const struct device_type *t = devtest_find_type("virtio-net");
	struct devtest *dt = pcitest_new(cfg);

	if (!t || t->create(dt->vm) != -ENOEXEC)
		return 3;
	if (pt_find(dt->vm, PCITEST_VIRTIO_VENDOR, NET_DEVICE) != -1)
		return 4;
	devtest_free(dt);
	return 0;
}

/*
 * create() must fail with -ENOEXEC and a message saying why. In a child
 * process, so that a crash fails this test instead of ending the run.
 */
static void expect_refused(const struct vm_config *cfg, const char *why)
{
	char path[] = "/tmp/skiff-net-XXXXXX", log[4096] = "";
	int fd = mkstemp(path), status;
	ssize_t n;
	pid_t pid;

	assert_true(fd >= 0);
	unlink(path);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(fd, STDERR_FILENO);
		alarm(20);	/* a hang fails too */
		_exit(refused_child(cfg));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	n = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	log[n > 0 ? n : 0] = '\0';
	fputs(log, stderr);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("create() with \"%s\" wrong: child %s %d", why,
			 WIFEXITED(status) ? "exited with" : "killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	assert_non_null(strstr(log, why));
}

/* A host forward that does not parse. */
static void test_bad_hostfwd(void **state)
{
	struct vm_config cfg = user_config("vm-bad");

	(void)state;
	snprintf(cfg.nics[0].hostfwd[0], sizeof(cfg.nics[0].hostfwd[0]), "tcp:2222:22");
	cfg.nics[0].nr_hostfwd = 1;
	expect_refused(&cfg, "hostfwd=tcp:2222:22");
}

/*
 * Tap options refused before anything is opened: no privileges needed.
 * (This once crashed: the error path freed the tap through a pointer not
 * yet set.)
 */
static void test_bad_tap_options(void **state)
{
	struct vm_config cfg = user_config("vm-bad");

	(void)state;
	cfg.nics[0].kind = NET_KIND_TAP;
	snprintf(cfg.nics[0].ifname, sizeof(cfg.nics[0].ifname), "no/slash");
	expect_refused(&cfg, "no/slash");
	snprintf(cfg.nics[0].ifname, sizeof(cfg.nics[0].ifname), "skutq");
	cfg.nics[0].queues = NET_MAX_QUEUES + 1;
	expect_refused(&cfg, "queues=9");
	cfg.nics[0].queues = 0;
	expect_refused(&cfg, "queues=0");
}

/* ---- User mode: frames through slirp ---- */

static void test_user_arp(void **state)
{
	struct fixture *f = *state;
	const uint8_t *tail;

	net_init(f, F_BASIC, 2);
	post_rx(f, 8, 2048, true);
	/* Nothing arrives unasked. */
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 0);
	tx_arp(f, GUEST_IP);
	assert_true(wait_arp_reply(f, GUEST_IP, WAIT_MS));
	check_arp_reply(f, GUEST_IP);
	/* One buffer, a plain header, used length = header + frame. */
	assert_int_equal(f->fr.nr_bufs, 1);
	for (unsigned int i = 0; i < H_NUM_BUFFERS; i++)
		assert_int_equal(f->fr.hdr[i], 0);
	assert_int_equal(f->fr.used_len[0], HDR_LEN + f->fr.len);
	assert_in_range(f->fr.len, ARP_LEN, 64);
	/* Nothing past what the used length says was written. */
	tail = (const uint8_t *)vdrv_ptr(&f->d, f->rx_gpa[0], 2048) + f->fr.used_len[0];
	for (uint32_t i = 0; i < 2048 - f->fr.used_len[0]; i++)
		assert_int_equal(tail[i], 0xaa);
	/* The interrupt came through receiveq0's vector. */
	assert_true(devtest_msi_count(f->dt, PCITEST_MSI_DATA(RXQ)) >= 1);
	/* A second round trip works the same. */
	tx_arp(f, GUEST_IP);
	assert_true(wait_arp_reply(f, GUEST_IP, WAIT_MS));
	assert_int_equal(f->other_arp, 0);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	destroy_expect(f, "virtio-net0: sent 2 frames (0 dropped), received 2 (0 dropped)");
}

/* Tiny mergeable buffers: one reply spread over several, num_buffers says how many. */
static void test_user_mergeable(void **state)
{
	struct fixture *f = *state;

	net_init(f, F_BASIC, 2);
	post_rx(f, 8, 32, true);
	tx_arp(f, GUEST_IP);
	assert_true(wait_arp_reply(f, GUEST_IP, WAIT_MS));
	check_arp_reply(f, GUEST_IP);
	assert_int_equal(f->fr.nr_bufs, (HDR_LEN + f->fr.len + 31) / 32);
	for (unsigned int k = 0; k + 1 < f->fr.nr_bufs; k++)
		assert_int_equal(f->fr.used_len[k], 32);
}

/*
 * The guest's buffers go to the backend as they are: a frame over three
 * descriptors apart in memory, the first shared with the header, arrives
 * whole (slirp answers it).
 */
static void test_user_split_frame(void **state)
{
	static const uint32_t cut[3] = { HDR_LEN + 5, 20, ARP_LEN - 25 };
	struct fixture *f = *state;
	uint8_t frame[HDR_LEN + ARP_LEN] = { 0 };
	struct vbuf b[3];
	uint32_t off = 0;

	net_init(f, F_BASIC, 2);
	post_rx(f, 8, 2048, true);
	build_arp(frame + HDR_LEN, f->mac, GUEST_IP, GW_IP);
	for (unsigned int i = 0; i < 3; i++) {
		/* A gap between pieces: a misplaced offset reads the wrong bytes. */
		uint64_t g = vdrv_alloc(&f->d, cut[i] + 64);

		memset(vdrv_ptr(&f->d, g, cut[i] + 64), 0xee, cut[i] + 64);
		memcpy(vdrv_ptr(&f->d, g, cut[i]), frame + off, cut[i]);
		b[i] = (struct vbuf){ g, cut[i], false };
		off += cut[i];
	}
	tx_chain(f, TXQ, b, 3);
	assert_true(wait_arp_reply(f, GUEST_IP, WAIT_MS));
	check_arp_reply(f, GUEST_IP);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	destroy_expect(f, "virtio-net0: sent 1 frames (0 dropped), received 1 (0 dropped)");
}

static void test_user_hostile_tx(void **state)
{
	struct fixture *f = *state;
	uint8_t arp[ARP_LEN], hdr[HDR_LEN] = { 0 };

	net_init(f, F_BASIC, 2);
	post_rx(f, 16, 2048, true);
	/* 1: a chain shorter than the header. */
	{
		uint64_t g = vdrv_alloc(&f->d, 8);
		struct vbuf b = { g, 8, false };

		memset(vdrv_ptr(&f->d, g, 8), 0, 8);
		tx_chain(f, TXQ, &b, 1);
	}
	/* 2: header and a 10-byte "frame". */
	{
		uint8_t runt[10];

		memset(runt, 0xff, sizeof(runt));
		tx_frame(f, TXQ, NULL, runt, sizeof(runt));
	}
	/* 3: NEEDS_CSUM without CSUM, around an ARP that slirp would answer. */
	build_arp(arp, f->mac, GUEST_IP + 1, GW_IP);
	hdr[H_FLAGS] = HF_NEEDS_CSUM;
	hdr[6] = ETH_HLEN;	/* csum_start */
	hdr[8] = 6;		/* csum_offset */
	tx_frame(f, TXQ, hdr, arp, sizeof(arp));
	/* 4: TSO4 without HOST_TSO4. */
	build_arp(arp, f->mac, GUEST_IP + 2, GW_IP);
	memset(hdr, 0, sizeof(hdr));
	hdr[H_GSO] = GSO_TCPV4;
	hdr[2] = ETH_HLEN + 40;	/* hdr_len */
	hdr[4] = 0xa8;		/* gso_size 1448 */
	hdr[5] = 0x05;
	tx_frame(f, TXQ, hdr, arp, sizeof(arp));
	/* 5: 65551 bytes of frame (one past the largest), over four descriptors. */
	{
		const uint32_t part = 21851, len = 3 * part - 2;	/* 65551 */
		uint64_t g = vdrv_alloc(&f->d, HDR_LEN + len);
		uint8_t *p = vdrv_ptr(&f->d, g, HDR_LEN + len);
		struct vbuf b[4] = {
			{ g, HDR_LEN, false },
			{ g + HDR_LEN, part, false },
			{ g + HDR_LEN + part, part, false },
			{ g + HDR_LEN + 2 * part, part - 2, false },
		};

		memset(p, 0, HDR_LEN + len);
		build_arp(p + HDR_LEN, f->mac, GUEST_IP + 3, GW_IP);
		tx_chain(f, TXQ, b, 4);
	}
	/* The queue still works: a valid ARP gets its answer, and only it. */
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	tx_arp(f, GUEST_IP);
	assert_true(wait_arp_reply(f, GUEST_IP, WAIT_MS));
	check_arp_reply(f, GUEST_IP);
	sleep_ms(100);
	while (rx_take(f))
		if (is_arp_reply(&f->fr))
			f->other_arp++;
	assert_int_equal(f->other_arp, 0);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	/* Five drops counted, one frame sent. */
	destroy_expect(f, "virtio-net0: sent 1 frames (5 dropped)");
}

/* A descriptor chain pointing past the ring: NEEDS_RESET, logged once; a reset cures it. */
static void test_user_malformed_ring(void **state)
{
	struct fixture *f = *state;
	struct vdrv_queue *q = &f->d.q[TXQ];
	uint64_t g;
	struct pt_capture cap;
	char *log;

	net_init(f, F_BASIC, 2);
	g = vdrv_alloc(&f->d, 64);
	pt_capture_begin(&cap);
	for (unsigned int round = 0; round < 2; round++) {
		uint16_t head = q->next_desc;

		vdrv_set_desc(&f->d, TXQ, head, g, 64, VD_NEXT, 1000);
		q->next_desc = (uint16_t)((head + 1) % q->size);
		vdrv_publish(&f->d, TXQ, head);
		vdrv_kick(&f->d, TXQ);
	}
	log = pt_capture_end(&cap);
	expect_one_reset(log, "transmitq0");
	assert_true(vdrv_status(&f->d) & VS_NEEDS_RESET);
	assert_int_equal(vdrv_used_idx(&f->d, TXQ), 0);
	/* After a reset the device works again. */
	f->d.heap = PCITEST_HEAP_GPA + (8 << 20);
	net_init(f, F_BASIC, 2);
	memset(f->rx_gpa, 0, sizeof(f->rx_gpa));
	f->rx_next = 0;
	post_rx(f, 4, 2048, true);
	tx_arp(f, GUEST_IP);
	assert_true(wait_arp_reply(f, GUEST_IP, WAIT_MS));
	check_arp_reply(f, GUEST_IP);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
}

/* No receive buffers: the reply is dropped; once there are buffers, replies arrive. */
static void test_user_rx_no_buffers(void **state)
{
	struct fixture *f = *state;

	net_init(f, F_BASIC, 2);
	tx_arp(f, GUEST_IP);
	/*
	 * Time for slirp to answer into nothing: it does within milliseconds,
	 * but a loaded 2-CPU CI machine can take far longer.
	 */
	sleep_ms(2000);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	post_rx(f, 4, 2048, true);
	/* A different sender address: its reply is told apart from a late first one. */
	tx_arp(f, GUEST_IP + 1);
	assert_true(wait_arp_reply(f, GUEST_IP + 1, WAIT_MS));
	check_arp_reply(f, GUEST_IP + 1);
	assert_int_equal(f->other_arp, 0);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	destroy_expect(f, "virtio-net0: sent 2 frames (0 dropped), received 1 (1 dropped)");
}

/* Receive buffers the device may only read: a driver error. */
static void test_user_rx_readable(void **state)
{
	struct fixture *f = *state;
	struct pt_capture cap;
	long long end;
	char *log;

	net_init(f, F_BASIC, 2);
	post_rx(f, 2, 2048, false);
	pt_capture_begin(&cap);
	tx_arp(f, GUEST_IP);
	end = now_ms() + WAIT_MS;
	while (!(vdrv_status(&f->d) & VS_NEEDS_RESET) && now_ms() < end)
		sleep_ms(5);
	sleep_ms(20);
	log = pt_capture_end(&cap);
	expect_one_reset(log, "receiveq0");
	assert_true(vdrv_status(&f->d) & VS_NEEDS_RESET);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 0);
	/* The configuration-change interrupt told the driver (vector nq). */
	assert_true(devtest_msi_count(f->dt, PCITEST_MSI_DATA(2)) >= 1);
}

/* ---- Tap ---- */

/* Whether this host can run the tap tests; skips the test (loudly) if not. */
static void need_tap(void)
{
	const char *why = NULL;

	if (geteuid() != 0)
		why = "not root";
	else if (access("/dev/net/tun", R_OK | W_OK))
		why = "no /dev/net/tun";
	else if (system("ip link show lo >/dev/null 2>&1"))
		why = "'ip link' does not work";
	if (!why)
		return;
	print_message("# tap test skipped: %s (it needs root, /dev/net/tun and ip)\n", why);
	skip();
}

static bool link_exists(const char *ifname)
{
	char cmd[96];
	bool by_ip;

	snprintf(cmd, sizeof(cmd), "ip link show dev %s >/dev/null 2>&1", ifname);
	by_ip = system(cmd) == 0;
	assert_int_equal(by_ip, if_nametoindex(ifname) != 0);
	return by_ip;
}

/* A VM with one tap NIC skiff creates, called skut<pid><tag>. */
static void attach_tap(struct fixture *f, char tag, unsigned int queues)
{
	struct vm_config cfg = user_config("net-tap");

	snprintf(f->ifname, sizeof(f->ifname), "skut%d%c", (int)getpid(), tag);
	assert_false(link_exists(f->ifname));
	cfg.nics[0].kind = NET_KIND_TAP;
	snprintf(cfg.nics[0].ifname, sizeof(cfg.nics[0].ifname), "%s", f->ifname);
	cfg.nics[0].queues = queues;
	attach(f, &cfg);
	f->tap = true;
	assert_true(link_exists(f->ifname));
}

/* Whether the kernel takes UFO on a tap, asked on a tap of our own. */
static bool kernel_tap_ufo(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	bool ufo;

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "skuu%d", (int)getpid());
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	ufo = ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 |
							TUN_F_UFO)) == 0;
	close(fd);
	return ufo;
}

static void test_tap_features_lifetime(void **state)
{
	struct fixture *f = *state;
	uint64_t feat;
	bool ufo;

	need_tap();
	ufo = kernel_tap_ufo();
	attach_tap(f, 'a', 1);
	feat = vdrv_device_features(&f->d);
	assert_true(feat & F_CSUM);
	assert_true(feat & F_HOST_TSO4);
	assert_true(feat & F_HOST_TSO6);
	assert_true(feat & F_GUEST_CSUM);
	assert_true(feat & F_GUEST_TSO4);
	assert_true(feat & F_GUEST_TSO6);
	assert_int_equal(!!(feat & F_GUEST_UFO), ufo);
	assert_int_equal(!!(feat & F_HOST_UFO), ufo);
	assert_true(feat & F_MRG_RXBUF);
	assert_true(feat & F_MAC);
	assert_false(feat & (F_CTRL_VQ | F_MQ));
	assert_int_equal(vdrv_read(&f->d, VC_NUMQ, 2), 2);
	assert_int_equal(cfg_read(f, C_PAIRS, 2), 1);
	/* Everything offered is accepted, and the tap takes the offloads. */
	net_init(f, ~0ULL, 2);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	/* The tap lives as long as the VM, and goes with it. */
	assert_true(link_exists(f->ifname));
	devtest_free(f->dt);
	f->dt = NULL;
	assert_false(link_exists(f->ifname));
}

/* A control command: class, command, data; returns the ack. */
static uint8_t ctrl_pairs_set(struct fixture *f, unsigned int qi, uint16_t pairs)
{
	uint64_t cmd = vdrv_alloc(&f->d, 2), data = vdrv_alloc(&f->d, 2);
	uint64_t ack = vdrv_alloc(&f->d, 1);
	uint8_t *c = vdrv_ptr(&f->d, cmd, 2), *dp = vdrv_ptr(&f->d, data, 2);
	uint8_t *a = vdrv_ptr(&f->d, ack, 1);
	struct vbuf b[3] = { { cmd, 2, false }, { data, 2, false }, { ack, 1, true } };
	uint16_t before = vdrv_used_idx(&f->d, qi);
	uint32_t id, len;

	c[0] = CTRL_MQ;
	c[1] = CTRL_MQ_PAIRS_SET;
	dp[0] = (uint8_t)pairs;
	dp[1] = (uint8_t)(pairs >> 8);
	*a = 0xee;
	vdrv_post(&f->d, qi, b, 3);
	vdrv_kick(&f->d, qi);
	assert_int_equal(vdrv_used_idx(&f->d, qi), (uint16_t)(before + 1));
	vdrv_used_elem(&f->d, qi, before, &id, &len);
	assert_int_equal(len, 1);
	return *a;
}

/* A raw socket on the tap, for our ethertype only. */
static int packet_socket(const char *ifname)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_LOCAL),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_LOCAL));

	assert_true(s >= 0);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

/* What the host receives on the tap (not what it sends itself), within ms. */
static ssize_t packet_recv(int s, uint8_t *buf, size_t len, int ms)
{
	long long end = now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		long long left = end - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		n = recvfrom(s, buf, len, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n >= 0 && from.sll_pkttype != PACKET_OUTGOING)
			return n;
	}
}

struct metric_probe {
	const char *key;
	uint64_t value;
	bool found;
};

static void probe_metric(void *ctx, const char *key, uint64_t value)
{
	struct metric_probe *m = ctx;

	if (strcmp(key, m->key))
		return;
	m->value = value;
	m->found = true;
}

/* The NIC's counter key, as GET /metrics would show it. */
static uint64_t net_metric(struct fixture *f, const char *key)
{
	struct metric_probe m = { .key = key };
	struct vm_device *d;

	for (d = f->dt->vm->devices; d; d = d->next)
		if (d->metrics && d->kind && !strcmp(d->kind, "net"))
			d->metrics(d->state, probe_metric, &m);
	assert_true(m.found);
	return m.value;
}

static void test_tap_multiqueue(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[300], got[2048];
	uint64_t feat;
	char cmd[96];

	need_tap();
	attach_tap(f, 'm', 2);
	feat = vdrv_device_features(&f->d);
	assert_true(feat & F_CTRL_VQ);
	assert_true(feat & F_MQ);
	assert_int_equal(cfg_read(f, C_PAIRS, 2), 2);
	/* rx0, tx0, rx1, tx1, control. */
	assert_int_equal(vdrv_read(&f->d, VC_NUMQ, 2), 5);
	net_init(f, ~0ULL, 5);
	assert_int_equal(ctrl_pairs_set(f, 4, 2), 0);
	assert_int_equal(ctrl_pairs_set(f, 4, 3), 1);
	assert_int_equal(ctrl_pairs_set(f, 4, 0), 1);
	assert_int_equal(ctrl_pairs_set(f, 4, 1), 0);
	assert_int_equal(ctrl_pairs_set(f, 4, 2), 0);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	/* The second pair's transmit queue goes to the tap too. */
	snprintf(cmd, sizeof(cmd), "ip link set dev %s up", f->ifname);
	assert_int_equal(system(cmd), 0);
	f->pkt = packet_socket(f->ifname);
	memcpy(frame, bcast, 6);
	memcpy(frame + 6, f->mac, 6);
	put_be16(frame + 12, ETH_LOCAL);
	pattern(frame + ETH_HLEN, sizeof(frame) - ETH_HLEN, 7);
	tx_frame(f, 3, NULL, frame, sizeof(frame));
	assert_int_equal(packet_recv(f->pkt, got, sizeof(got), WAIT_MS), sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	/* Counted against the pair it went out on. */
	assert_int_equal(net_metric(f, "queue1_tx_packets"), 1);
	assert_int_equal(net_metric(f, "queue0_tx_packets"), 0);
	assert_int_equal(net_metric(f, "tx_packets"), 1);
	/* A command without room for the ack is a driver error. */
	{
		uint64_t c = vdrv_alloc(&f->d, 4);
		struct vbuf b = { c, 4, false };

		memcpy(vdrv_ptr(&f->d, c, 4), "\x04\x00\x01\x00", 4);
		vdrv_post(&f->d, 4, &b, 1);
		vdrv_kick(&f->d, 4);
		assert_true(vdrv_status(&f->d) & VS_NEEDS_RESET);
	}
	devtest_free(f->dt);
	f->dt = NULL;
	assert_false(link_exists(f->ifname));
}


static void test_tap_tx_rx(void **state)
{
	struct fixture *f = *state;
	static uint8_t frame[1400], got[2048];
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	char cmd[96];
	ssize_t n;

	need_tap();
	attach_tap(f, 't', 1);
	snprintf(cmd, sizeof(cmd), "ip link set dev %s up", f->ifname);
	assert_int_equal(system(cmd), 0);
	f->pkt = packet_socket(f->ifname);
	/* No big-packet offloads: a frame then fits in MTU-sized buffer space. */
	net_init(f, F_BASIC | F_CSUM | F_GUEST_CSUM, 2);

	/* Guest to host: the frame as the guest sent it, header stripped. */
	memcpy(frame, bcast, 6);
	memcpy(frame + 6, f->mac, 6);
	put_be16(frame + 12, ETH_LOCAL);
	pattern(frame + ETH_HLEN, 200, 1);
	tx_frame(f, TXQ, NULL, frame, ETH_HLEN + 200);
	n = packet_recv(f->pkt, got, sizeof(got), WAIT_MS);
	assert_int_equal(n, ETH_HLEN + 200);
	assert_memory_equal(got, frame, ETH_HLEN + 200);

	/* Host to guest: 12 + 1400 bytes over three 512-byte buffers. */
	post_rx(f, 32, 512, true);
	memcpy(frame, f->mac, 6);
	memcpy(frame + 6, host_mac, 6);
	put_be16(frame + 12, ETH_LOCAL);
	pattern(frame + ETH_HLEN, sizeof(frame) - ETH_HLEN, 2);
	to.sll_ifindex = (int)if_nametoindex(f->ifname);
	to.sll_protocol = htons(ETH_LOCAL);
	memcpy(to.sll_addr, f->mac, 6);
	assert_int_equal(sendto(f->pkt, frame, sizeof(frame), 0, (struct sockaddr *)&to,
				sizeof(to)), (ssize_t)sizeof(frame));
	assert_true(wait_local_frame(f, WAIT_MS));
	assert_int_equal(f->fr.len, sizeof(frame));
	assert_memory_equal(f->fr.data, frame, sizeof(frame));
	assert_int_equal(f->fr.hdr[H_GSO], 0);
	assert_int_equal(f->fr.nr_bufs, 3);
	assert_int_equal(f->fr.used_len[0], 512);
	assert_int_equal(f->fr.used_len[1], 512);
	assert_int_equal(f->fr.used_len[2], HDR_LEN + sizeof(frame) - 1024);

	/* And a small one after it: one buffer. */
	assert_int_equal(sendto(f->pkt, frame, 100, 0, (struct sockaddr *)&to, sizeof(to)), 100);
	assert_true(wait_local_frame(f, WAIT_MS));
	assert_int_equal(f->fr.len, 100);
	assert_memory_equal(f->fr.data, frame, 100);
	assert_int_equal(f->fr.nr_bufs, 1);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
}

/* A frame of len bytes (our ethertype, payload seeded) in two descriptors after hdr. */
static void tx_big(struct fixture *f, const uint8_t *hdr, uint32_t len, unsigned int seed)
{
	uint64_t g = vdrv_alloc(&f->d, HDR_LEN + len);
	uint8_t *p = vdrv_ptr(&f->d, g, HDR_LEN + len);
	struct vbuf b[2] = {
		{ g, HDR_LEN + 1000, false }, { g + HDR_LEN + 1000, len - 1000, false },
	};

	memset(p, 0, HDR_LEN);
	if (hdr)
		memcpy(p, hdr, HDR_LEN);
	memcpy(p + HDR_LEN, bcast, 6);
	memcpy(p + HDR_LEN + 6, f->mac, 6);
	put_be16(p + HDR_LEN + 12, ETH_LOCAL);
	pattern(p + HDR_LEN + ETH_HLEN, len - ETH_HLEN, seed);
	tx_chain(f, TXQ, b, 2);
}

/*
 * On a tap the kernel would take what the device must refuse: the host
 * sees the largest frame, then nothing until the next good one.
 */
static void test_tap_hostile_tx(void **state)
{
	struct fixture *f = *state;
	static uint8_t got[70000];
	uint8_t hdr[HDR_LEN] = { 0 };
	ssize_t n;

	need_tap();
	attach_tap(f, 'h', 1);
	f->dt->cfg.verbose = true;
	f->pkt = packet_socket(f->ifname);
	net_init(f, F_BASIC, 2);
	/* 65550 bytes: the largest frame (64 KiB, Ethernet and VLAN headers) goes through. */
	tx_big(f, NULL, 65550, 1);
	n = packet_recv(f->pkt, got, sizeof(got), WAIT_MS);
	assert_int_equal(n, 65550);
	assert_int_equal(got[ETH_HLEN + 7], (uint8_t)(37 + 7 * 11));
	/* One byte more is dropped. */
	tx_big(f, NULL, 65551, 2);
	/* NEEDS_CSUM without CSUM negotiated. */
	hdr[H_FLAGS] = HF_NEEDS_CSUM;
	hdr[6] = ETH_HLEN;
	hdr[8] = 6;
	tx_big(f, hdr, 1400, 3);
	/* TSO4 without HOST_TSO4. */
	memset(hdr, 0, sizeof(hdr));
	hdr[H_GSO] = GSO_TCPV4;
	hdr[2] = ETH_HLEN + 40;
	hdr[4] = 0xa8;
	hdr[5] = 0x05;
	tx_big(f, hdr, 3000, 4);
	/* The next frame the host sees is the good one after them. */
	tx_big(f, NULL, 1200, 5);
	n = packet_recv(f->pkt, got, sizeof(got), WAIT_MS);
	assert_int_equal(n, 1200);
	assert_int_equal(got[ETH_HLEN + 7], (uint8_t)(5 * 37 + 7 * 11));
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	destroy_expect(f, "virtio-net0: sent 2 frames (3 dropped)");
}

/*
 * Too little receive space for the largest frame: the device waits for
 * the guest's next kick instead of spinning on the readable tap fd, and
 * the waiting frame arrives once there is room.
 */
static void test_tap_rx_short_buffers(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	uint8_t frame[100];
	char cmd[96];
	int rounds;

	need_tap();
	attach_tap(f, 's', 1);
	snprintf(cmd, sizeof(cmd), "ip link set dev %s up", f->ifname);
	assert_int_equal(system(cmd), 0);
	f->pkt = packet_socket(f->ifname);
	/* MTU-sized frames: 1530 bytes of buffer space are needed. */
	net_init(f, F_BASIC, 2);
	post_rx(f, 1, 512, true);
	memcpy(frame, f->mac, 6);
	memcpy(frame + 6, host_mac, 6);
	put_be16(frame + 12, ETH_LOCAL);
	pattern(frame + ETH_HLEN, sizeof(frame) - ETH_HLEN, 6);
	to.sll_ifindex = (int)if_nametoindex(f->ifname);
	to.sll_protocol = htons(ETH_LOCAL);
	memcpy(to.sll_addr, f->mac, 6);
	assert_int_equal(sendto(f->pkt, frame, sizeof(frame), 0, (struct sockaddr *)&to,
				sizeof(to)), (ssize_t)sizeof(frame));
	/* The tap holds the frame now; the loop must go quiet all the same. */
	sleep_ms(50);
	for (rounds = 0; rounds < 500; rounds++)
		if (evloop_run_once(f->vm->io, 0) <= 0)
			break;
	assert_true(rounds < 500);
	assert_int_equal(vdrv_used_idx(&f->d, RXQ), 0);
	assert_int_equal(vdrv_status(&f->d), ALL_OK);
	/*
	 * More buffers make room (the host's IPv6 chatter may take some):
	 * the kick brings the frame in.
	 */
	post_rx(f, 16, 512, true);
	assert_true(wait_local_frame(f, WAIT_MS));
	assert_int_equal(f->fr.len, sizeof(frame));
	assert_memory_equal(f->fr.data, frame, sizeof(frame));
	assert_int_equal(f->fr.nr_bufs, 1);
}

/* On a tap, device-readable receive buffers are found at the kick. */
static void test_tap_rx_readable(void **state)
{
	struct fixture *f = *state;
	struct pt_capture cap;
	char *log;

	need_tap();
	attach_tap(f, 'r', 1);
	net_init(f, F_BASIC, 2);
	pt_capture_begin(&cap);
	post_rx(f, 1, 2048, false);
	log = pt_capture_end(&cap);
	expect_one_reset(log, "receiveq0");
	assert_true(vdrv_status(&f->d) & VS_NEEDS_RESET);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_user, teardown)
#define E(fn) cmocka_unit_test_setup_teardown(fn, setup_empty, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity_config),
		E(test_mac_from_name),
		E(test_two_nics),
		E(test_explicit_mac_mtu),
		E(test_bad_hostfwd),
		E(test_bad_tap_options),
		T(test_user_arp),
		T(test_user_mergeable),
		T(test_user_split_frame),
		T(test_user_hostile_tx),
		T(test_user_malformed_ring),
		T(test_user_rx_no_buffers),
		T(test_user_rx_readable),
		E(test_tap_features_lifetime),
		E(test_tap_multiqueue),
		E(test_tap_tx_rx),
		E(test_tap_hostile_tx),
		E(test_tap_rx_short_buffers),
		E(test_tap_rx_readable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
