// SPDX-License-Identifier: MIT
/*
 * virtio_net.elf: a virtio-net device (virtio 1.2, 5.1) from the guest's
 * side, for tests/integration/net.sh, which reads and injects frames on
 * the host end of the tap.
 *
 * It negotiates VERSION_1, MAC, STATUS, MTU, and (unless told not to)
 * MRG_RXBUF, EVENT_IDX and INDIRECT_DESC, checks the config space, posts
 * receive buffers, then:
 *  1. sends tx= frames (guest to host), in four descriptor layouts: one
 *     buffer, header and frame apart, the header itself split, and many
 *     small pieces (through an indirect table when negotiated);
 *  2. prints "virtio_net: READY" and waits for rx= frames the host
 *     injects, checks each and echoes it back with a marker;
 *  3. with "hostile": a tx chain shorter than the virtio-net header and a
 *     chained frame longer than 65550 bytes, which the device must drop
 *     (completing the chains, no NEEDS_RESET), then one normal frame that
 *     the host must still receive;
 *  4. with arp=IP: an ARP request for IP (user-mode networking answers
 *     for its gateway 10.0.2.2) and the reply.
 *
 * The frames (ethertype 0x88b5, IEEE local experimental), as
 * tests/integration/tapio.c builds and checks them too:
 *   0  dst[6] src[6] 0x88 0xb5
 *   14 "SKNT"  kind[4]: "G2H " guest to host, "H2G " host to guest,
 *              "ECHO" echo of an H2G frame, "HOST" hostile, "AFTR" the
 *              frame sent after the hostile ones
 *   22 seq (u32 LE)  26 frame length (u16 LE)
 *   28 pattern: byte i of the frame is (i * 3 + seq) & 0xff
 * An ECHO frame is dst = the H2G frame's src, src = our MAC, "SKNT",
 * "ECHO", then the H2G frame from its offset 14 on (cut at 1514 bytes).
 * Frame lengths by seq: 1514, 60, then 60 + (seq * 379) % 1455.
 *
 * Command line:
 *   mac=52:54:00:12:34:56  the MAC the device must report (else: any)
 *   tx=N (20)  rx=M (0)    frames to send, frames to wait for
 *   pairs=N                max_virtqueue_pairs must be N (needs MQ), and
 *                          num_queues at least 2N (the maximum, 4.1.4.3)
 *   mtu=N                  MTU must be offered, and be N
 *   rxbuf=BYTES            receive buffer size when MRG_RXBUF is on
 *                          (default 2048; small ones make frames span
 *                          several buffers)
 *   nomrg noevidx noindirect   leave that feature out
 *   hostile                the drop cases of step 3
 *   arp=A.B.C.D [ip=A.B.C.D]   step 4, from ip (default 10.0.2.15)
 *   absent                 there must be no virtio-net device (--net none)
 */
#include "virtio.h"

#define MAX_PCI_DEVS	64
#define ETH_P_SKNT	0x88b5
#define ETH_P_ARP	0x0806
#define ETH_P_IP	0x0800
#define FRAME_MIN	60
#define FRAME_MAX	1514
#define HDR_LEN		((uint32_t)sizeof(struct virtio_net_hdr))
#define SLOT_BYTES	2048
#define RX_SLOTS	64
#define QUEUE_SIZE	128
/* The hostile frame: header plus HOSTILE_PIECES pages, well over 65550. */
#define HOSTILE_PIECES	17
#define PAGE		4096
#define AFTER_SEQ	1000
#define MAX_CUTS	16

struct net {
	const char *cl;
	struct pci_dev devs[MAX_PCI_DEVS];
	unsigned int ndevs;
	struct virtio_dev dev;
	struct virtq *rxq, *txq;
	uint8_t mac[ETH_ALEN];
	bool mrg, indirect;
	uint32_t rxbuf;
	uint16_t rx_slot[VIRTQ_MAX];	/* by head: which slot it carries */
	uint32_t noise;			/* frames that were not ours */
	uint32_t bad_nbuf;		/* num_buffers out of range */
	uint32_t spanned;		/* frames in more than one buffer */
};

static struct net n;
static uint8_t rx_slots[RX_SLOTS][SLOT_BYTES] __attribute__((aligned(PAGE)));
/* Header and frame together, so any cut of the chain is one address. */
static uint8_t tx_buf[PAGE] __attribute__((aligned(PAGE)));
static uint8_t frame[SLOT_BYTES];	/* a received frame, reassembled */
static uint8_t hostile_buf[HOSTILE_PIECES][PAGE] __attribute__((aligned(PAGE)));
static struct virtq_desc indirect_table[MAX_CUTS + 1] __attribute__((aligned(16)));

/* Command line */

/* word is on the command line by itself. */
static bool has_word(const char *word)
{
	const char *cl = n.cl;
	size_t len = strlen(word);

	while (*cl) {
		while (*cl == ' ')
			cl++;
		if (!strncmp(cl, word, len) && (cl[len] == ' ' || cl[len] == '\0'))
			return true;
		while (*cl && *cl != ' ')
			cl++;
	}
	return false;
}

static uint64_t param(const char *key, uint64_t def)
{
	uint64_t v;

	return cmdline_u64(n.cl, key, &v) ? v : def;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "52:54:00:12:34:56" */
static bool parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
	int i, hi, lo;

	for (i = 0; i < ETH_ALEN; i++, s += 3) {
		hi = hex_digit(s[0]);
		lo = hex_digit(s[1]);
		if (hi < 0 || lo < 0 || s[2] != (i == ETH_ALEN - 1 ? '\0' : ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* "10.0.2.15", network byte order in out[4]. */
static bool parse_ip(const char *s, uint8_t out[4])
{
	unsigned int i, v;

	for (i = 0; i < 4; i++) {
		if (*s < '0' || *s > '9')
			return false;
		for (v = 0; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (unsigned int)(*s - '0');
		if (v > 255 || *s != (i == 3 ? '\0' : '.'))
			return false;
		s++;
		out[i] = (uint8_t)v;
	}
	return true;
}

static void mac_str(const uint8_t *m, char *out)
{
	int i;

	for (i = 0; i < ETH_ALEN; i++) {
		out[3 * i] = "0123456789abcdef"[m[i] >> 4];
		out[3 * i + 1] = "0123456789abcdef"[m[i] & 15];
		out[3 * i + 2] = i == ETH_ALEN - 1 ? '\0' : ':';
	}
}

/* Frames */

static uint32_t frame_len(uint32_t seq)
{
	if (seq == 0)
		return FRAME_MAX;
	if (seq == 1)
		return FRAME_MIN;
	return FRAME_MIN + seq * 379 % (FRAME_MAX - FRAME_MIN + 1);
}

static void put16le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32le(uint8_t *p, uint32_t v)
{
	put16le(p, v);
	put16le(p + 2, v >> 16);
}

static uint32_t get16le(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32le(const uint8_t *p)
{
	return get16le(p) | get16le(p + 2) << 16;
}

static uint32_t get16be(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static void eth_header(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, n.mac, ETH_ALEN);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
}

/* One of our frames of len bytes into f (see the top). */
static void build_frame(uint8_t *f, const uint8_t *dst, const char *kind, uint32_t seq,
			uint32_t len)
{
	uint32_t i;

	eth_header(f, dst, ETH_P_SKNT);
	memcpy(f + 14, "SKNT", 4);
	memcpy(f + 18, kind, 4);
	put32le(f + 22, seq);
	put16le(f + 26, len);
	for (i = 28; i < len; i++)
		f[i] = (uint8_t)(i * 3 + seq);
}

/* Transmit */

/*
 * Send tx_buf (header + len bytes of frame) as one chain cut at the
 * offsets cuts[0..ncuts), through an indirect table when asked. Waits
 * for the device to return it; false if it does not.
 */
static bool send_cut(uint32_t len, const uint32_t *cuts, unsigned int ncuts, bool indirect)
{
	struct virtq_buf b[MAX_CUTS + 1];
	uint32_t start = 0, total = HDR_LEN + len, used;
	unsigned int i, nb = 0;
	int head;

	memset(tx_buf, 0, HDR_LEN);
	for (i = 0; i <= ncuts && i <= MAX_CUTS; i++) {
		uint32_t end = i < ncuts ? cuts[i] : total;

		b[nb++] = (struct virtq_buf){ (uint64_t)tx_buf + start, end - start, false };
		start = end;
	}
	if (indirect)
		head = virtq_add_indirect(n.txq, b, nb, indirect_table);
	else
		head = virtq_add(n.txq, b, nb);
	if (head < 0)
		return false;
	virtq_kick(n.txq);
	return virtq_wait(n.txq, &used, VIRTIO_WAIT_CYCLES) == head;
}

static bool send_plain(uint32_t len)
{
	return send_cut(len, NULL, 0, false);
}

/* G2H frame seq in the layout seq picks (see the top). */
static bool send_g2h(uint32_t seq)
{
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint32_t len = frame_len(seq), cuts[MAX_CUTS], c;
	unsigned int nc = 0;

	build_frame(tx_buf + HDR_LEN, bcast, "G2H ", seq, len);
	switch (seq % 4) {
	case 0:
		break;
	case 1:
		cuts[nc++] = HDR_LEN;
		break;
	case 2:		/* the header itself in two pieces, the second with data */
		cuts[nc++] = 6;
		cuts[nc++] = HDR_LEN + 10;
		break;
	default:
		for (c = 100; c < HDR_LEN + len && nc < MAX_CUTS; c += 100)
			cuts[nc++] = c;
		return send_cut(len, cuts, nc, n.indirect);
	}
	return send_cut(len, cuts, nc, false);
}

static void tx_phase(uint32_t count)
{
	uint32_t seq, sent = 0;

	for (seq = 0; seq < count; seq++) {
		if (!send_g2h(seq))
			break;
		sent++;
	}
	check(sent == count, "tx: %u of %u frames completed (layouts: one buffer, "
	      "header apart, header split, %s pieces)", sent, count,
	      n.indirect ? "indirect" : "100-byte");
}

/* Receive */

static bool post_rx(unsigned int slot)
{
	struct virtq_buf b = { (uint64_t)rx_slots[slot], n.rxbuf, true };
	int head = virtq_add(n.rxq, &b, 1);

	if (head < 0)
		return false;
	n.rx_slot[head] = (uint16_t)slot;
	return true;
}

/* One used receive buffer: its slot, bytes written; false on timeout. */
static bool rx_take(unsigned int *slot, uint32_t *len, uint64_t cycles)
{
	int head = virtq_wait(n.rxq, len, cycles);

	if (head < 0) {
		if (head == -2)
			check(false, "rx: the device returned a head not in flight");
		return false;
	}
	*slot = n.rx_slot[head];
	if (*len > n.rxbuf)
		*len = n.rxbuf;
	return true;
}

/*
 * The next frame into frame[], its length in *len: 0 if the device wrote
 * less than a header. With MRG_RXBUF it may span num_buffers buffers.
 * Every buffer goes back to the device. false on timeout.
 */
static bool rx_frame(uint32_t *len, uint64_t cycles)
{
	const struct virtio_net_hdr *h;
	unsigned int slot, nbuf, i;
	uint32_t got, copied = 0;
	bool whole;

	if (!rx_take(&slot, &got, cycles))
		return false;
	h = (const struct virtio_net_hdr *)rx_slots[slot];
	whole = got >= HDR_LEN;
	nbuf = whole ? h->num_buffers : 1;
	if (whole && (nbuf < 1 || (!n.mrg && nbuf != 1) || nbuf > RX_SLOTS)) {
		if (n.bad_nbuf++ < 4)
			printf_("rx: num_buffers %u (MRG_RXBUF %s)\n", nbuf,
				n.mrg ? "on" : "off");
		nbuf = 1;
	}
	n.spanned += nbuf > 1;
	for (i = 0;; i++) {
		uint32_t skip = i ? 0 : HDR_LEN;

		if (got > skip && copied + got - skip <= sizeof(frame)) {
			memcpy(frame + copied, rx_slots[slot] + skip, got - skip);
			copied += got - skip;
		}
		post_rx(slot);
		if (i + 1 == nbuf || !rx_take(&slot, &got, VIRTIO_WAIT_CYCLES))
			break;
	}
	virtq_kick(n.rxq);
	*len = whole ? copied : 0;
	return true;
}

/* frame[] is an H2G frame with seq, addressed to us, with its pattern. */
static bool h2g_valid(uint32_t len, uint32_t seq)
{
	uint32_t i;

	if (memcmp(frame, n.mac, ETH_ALEN) || len != frame_len(seq) ||
	    get16le(frame + 26) != len)
		return false;
	for (i = 28; i < len; i++)
		if (frame[i] != (uint8_t)(i * 3 + seq))
			return false;
	return true;
}

static bool is_ours(uint32_t len, const char *kind)
{
	return len >= 28 && get16be(frame + 12) == ETH_P_SKNT &&
	       !memcmp(frame + 14, "SKNT", 4) && !memcmp(frame + 18, kind, 4);
}

static bool send_echo(uint32_t len)
{
	uint32_t out = len + 8 > FRAME_MAX ? FRAME_MAX : len + 8;
	uint8_t *f = tx_buf + HDR_LEN;

	eth_header(f, frame + ETH_ALEN, ETH_P_SKNT);
	memcpy(f + 14, "SKNTECHO", 8);
	memcpy(f + 22, frame + 14, out - 22);
	return send_plain(out);
}

static void rx_phase(uint32_t count)
{
	uint32_t got = 0, valid = 0, echoed = 0, len, seq;
	bool in_order = true;

	puts_("virtio_net: READY\n");
	while (got < count) {
		if (!rx_frame(&len, VIRTIO_WAIT_CYCLES))
			break;
		if (!is_ours(len, "H2G ")) {
			n.noise++;
			continue;
		}
		seq = get32le(frame + 22);
		in_order &= seq == got;
		got++;
		if (!h2g_valid(len, seq)) {
			printf_("rx: frame seq %u (%u bytes) is not what the host sent\n",
				seq, len);
			continue;
		}
		valid++;
		echoed += send_echo(len);
	}
	check(got == count, "rx: %u of %u host frames arrived (%u other frames ignored)",
	      got, count, n.noise);
	check(valid == got, "rx: %u of %u frames intact (addressed to us, length, pattern; "
	      "%u in several buffers)", valid, got, n.spanned);
	check(in_order, "rx: frames arrived in the order sent");
	check(echoed == valid, "rx: %u echoes sent back", echoed);
	check(!n.bad_nbuf, "rx: num_buffers sane in every header (%u bad)", n.bad_nbuf);
}

/* Hostile */

static bool needs_reset(void)
{
	return virtio_status(&n.dev) & VIRTIO_STATUS_NEEDS_RESET;
}

static void hostile_phase(void)
{
	struct virtq_buf b[HOSTILE_PIECES + 1];
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint32_t used, i;
	int head;

	/* A chain of 8 bytes: not even a virtio-net header. */
	b[0] = (struct virtq_buf){ (uint64_t)tx_buf, 8, false };
	head = virtq_add(n.txq, b, 1);
	virtq_kick(n.txq);
	check(head >= 0 && virtq_wait(n.txq, &used, VIRTIO_WAIT_CYCLES) == head,
	      "hostile: an 8-byte tx chain (< %u-byte header) is returned", HDR_LEN);
	check(!needs_reset(), "hostile: ... and the device needs no reset (status 0x%x)",
	      virtio_status(&n.dev));

	/* Header, then 17 pages: a 69632-byte frame; tagged so the host can tell. */
	memset(tx_buf, 0, HDR_LEN);
	build_frame(hostile_buf[0], bcast, "HOST", 0, FRAME_MAX);
	b[0] = (struct virtq_buf){ (uint64_t)tx_buf, HDR_LEN, false };
	for (i = 0; i < HOSTILE_PIECES; i++)
		b[i + 1] = (struct virtq_buf){ (uint64_t)hostile_buf[i], PAGE, false };
	head = virtq_add(n.txq, b, HOSTILE_PIECES + 1);
	virtq_kick(n.txq);
	check(head >= 0 && virtq_wait(n.txq, &used, VIRTIO_WAIT_CYCLES) == head,
	      "hostile: a %u-byte frame (> 65550) in %u buffers is returned",
	      HOSTILE_PIECES * PAGE, HOSTILE_PIECES + 1);
	check(!needs_reset(), "hostile: ... and the device needs no reset (status 0x%x)",
	      virtio_status(&n.dev));

	build_frame(tx_buf + HDR_LEN, bcast, "AFTR", AFTER_SEQ, frame_len(AFTER_SEQ));
	check(send_plain(frame_len(AFTER_SEQ)),
	      "hostile: a normal frame afterwards completes (seq %u, the host checks it)",
	      AFTER_SEQ);
}

/* ARP (user-mode networking) */

static void arp_phase(const char *target_s)
{
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t arp_req[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	uint8_t target[4], me[4], *f = tx_buf + HDR_LEN;
	char ip_s[20] = "10.0.2.15", macs[18];
	uint32_t len, tries;

	cmdline_get(n.cl, "ip", ip_s, sizeof(ip_s));
	if (!check(parse_ip(target_s, target) && parse_ip(ip_s, me),
		   "arp: arp=%s ip=%s are IPv4 addresses", target_s, ip_s))
		return;
	memset(f, 0, FRAME_MIN);
	eth_header(f, bcast, ETH_P_ARP);
	memcpy(f + 14, arp_req, 8);
	memcpy(f + 22, n.mac, ETH_ALEN);
	memcpy(f + 28, me, 4);
	memcpy(f + 38, target, 4);
	if (!check(send_plain(FRAME_MIN), "arp: request for %s sent", target_s))
		return;
	for (tries = 0; tries < 16; tries++) {
		if (!rx_frame(&len, VIRTIO_WAIT_CYCLES))
			break;
		/* An ARP reply (op 2) from target, to us. */
		if (len >= 42 && get16be(frame + 12) == ETH_P_ARP && get16be(frame + 20) == 2 &&
		    !memcmp(frame + 28, target, 4) && !memcmp(frame + 32, n.mac, ETH_ALEN)) {
			mac_str(frame + 22, macs);
			check(true, "arp: %s is at %s", target_s, macs);
			return;
		}
		n.noise++;
	}
	check(false, "arp: no reply from %s (%u other frames)", target_s, n.noise);
}

/* Set-up */

static const struct pci_dev *find_net(void)
{
	unsigned int i;

	n.ndevs = pci_enumerate(n.devs, MAX_PCI_DEVS);
	for (i = 0; i < n.ndevs; i++)
		if (virtio_pci_id(&n.devs[i]) == VIRTIO_ID_NET)
			return &n.devs[i];
	return NULL;
}

static uint64_t wanted_features(void)
{
	uint64_t want = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			VIRTIO_BIT(VIRTIO_NET_F_MTU);

	if (!has_word("nomrg"))
		want |= VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (!has_word("noevidx"))
		want |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (!has_word("noindirect"))
		want |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	return want;
}

static void check_config(void)
{
	uint64_t f = n.dev.offered, pairs, want_mtu;
	char want_s[24], got_s[18];
	uint8_t want[ETH_ALEN];
	uint16_t status, mtu;
	unsigned int i;

	for (i = 0; i < ETH_ALEN; i++)
		n.mac[i] = virtio_cfg8(&n.dev, VIRTIO_NET_CFG_MAC + i);
	mac_str(n.mac, got_s);
	check(f & VIRTIO_BIT(VIRTIO_NET_F_MAC), "MAC offered (config mac %s)", got_s);
	if (cmdline_get(n.cl, "mac", want_s, sizeof(want_s)))
		check(parse_mac(want_s, want) && !memcmp(want, n.mac, ETH_ALEN),
		      "config MAC %s = mac=%s", got_s, want_s);
	if (check(f & VIRTIO_BIT(VIRTIO_NET_F_STATUS), "STATUS offered")) {
		status = virtio_cfg16(&n.dev, VIRTIO_NET_CFG_STATUS);
		check(status & VIRTIO_NET_S_LINK_UP, "link up (status 0x%x)", status);
	}
	mtu = virtio_cfg16(&n.dev, VIRTIO_NET_CFG_MTU);
	if (f & VIRTIO_BIT(VIRTIO_NET_F_MTU))
		check(mtu >= 68, "MTU offered: %u (>= 68)", mtu);
	if (cmdline_u64(n.cl, "mtu", &want_mtu))
		check((f & VIRTIO_BIT(VIRTIO_NET_F_MTU)) && mtu == want_mtu,
		      "MTU offered and %lu (config %u)", want_mtu, mtu);
	if (f & VIRTIO_BIT(VIRTIO_NET_F_MQ))
		printf_("virtio-net: MQ offered, max_virtqueue_pairs %u, %u queues\n",
			virtio_cfg16(&n.dev, VIRTIO_NET_CFG_MAX_PAIRS), n.dev.num_queues);
	if (cmdline_u64(n.cl, "pairs", &pairs)) {
		check((f & VIRTIO_BIT(VIRTIO_NET_F_MQ)) &&
		      virtio_cfg16(&n.dev, VIRTIO_NET_CFG_MAX_PAIRS) == pairs,
		      "MQ offered with max_virtqueue_pairs %lu", pairs);
		check(n.dev.num_queues >= 2 * pairs, "%u queues for %lu pairs",
		      n.dev.num_queues, pairs);
	}
}

static bool bring_up(const struct pci_dev *p)
{
	struct pci_mmio_alloc mmio;
	uint8_t s;
	bool ok;

	pci_mmio_alloc_init(&mmio, n.devs, n.ndevs);
	if (!check(pci_dev_setup(p, &mmio), "virtio-net BARs placed, decoding on") ||
	    !check(virtio_attach(&n.dev, p), "virtio-net capabilities inside their BARs"))
		return false;
	/* Results first: the arguments below read what the calls filled in. */
	ok = virtio_negotiate(&n.dev, wanted_features());
	if (!check(ok, "FEATURES_OK accepted (offered 0x%lx, took 0x%lx)", n.dev.offered,
		   n.dev.features))
		return false;
	check_config();
	n.mrg = n.dev.features & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	n.indirect = n.dev.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	ok = virtq_setup(&n.dev, VIRTIO_NET_RXQ, QUEUE_SIZE) &&
	     virtq_setup(&n.dev, VIRTIO_NET_TXQ, QUEUE_SIZE);
	if (!check(ok, "receiveq1 and transmitq1 set up (%u, %u entries)", n.dev.vq[0].size,
		   n.dev.vq[1].size))
		return false;
	n.rxq = &n.dev.vq[VIRTIO_NET_RXQ];
	n.txq = &n.dev.vq[VIRTIO_NET_TXQ];
	virtio_driver_ok(&n.dev);
	s = virtio_status(&n.dev);
	return check((s & 0xcf) == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK),
		     "status 0x%x after DRIVER_OK", s);
}

/* Receive buffers: rxbuf= bytes each with MRG_RXBUF, else whole slots. */
static bool fill_rx(void)
{
	unsigned int i, count = n.rxq->size < RX_SLOTS ? n.rxq->size : RX_SLOTS;
	uint64_t size = param("rxbuf", SLOT_BYTES);

	n.rxbuf = SLOT_BYTES;
	if (n.mrg && size >= 64 && size <= SLOT_BYTES)
		n.rxbuf = (uint32_t)size;
	else if (size != SLOT_BYTES)
		printf_("virtio-net: rxbuf=%lu ignored (MRG_RXBUF %s, 64..%u)\n", size,
			n.mrg ? "on" : "off", SLOT_BYTES);
	for (i = 0; i < count; i++)
		if (!post_rx(i))
			break;
	virtq_kick(n.rxq);
	return check(i == count, "%u receive buffers of %u bytes posted (MRG_RXBUF %s)",
		     i, n.rxbuf, n.mrg ? "on" : "off");
}

int guest_main(const struct hvm_start_info *si)
{
	const struct pci_dev *p;
	char target[20];

	n.cl = cmdline(si);
	printf_("virtio_net: cmdline \"%s\"\n", n.cl);
	p = find_net();
	if (has_word("absent")) {
		check(!p, "no virtio-net device (absent)");
		finish("virtio_net");
	}
	if (!check(p, "virtio-net device on PCI bus 0") || !bring_up(p) || !fill_rx())
		finish("virtio_net");
	tx_phase((uint32_t)param("tx", 20));
	if (param("rx", 0))
		rx_phase((uint32_t)param("rx", 0));
	if (has_word("hostile"))
		hostile_phase();
	if (cmdline_get(n.cl, "arp", target, sizeof(target)))
		arp_phase(target);
	check(!needs_reset(), "the device never asked for a reset (status 0x%x)",
	      virtio_status(&n.dev));
	finish("virtio_net");
}
