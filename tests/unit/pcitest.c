// SPDX-License-Identifier: MIT
/* PCI and virtio test helpers (pcitest.h): config space, MMIO, a mini driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "devices/pci/pci.h"
#include "vmm/evloop.h"
#include "vmm/memory.h"

#include "pcitest.h"

struct devtest *pcitest_new(const struct vm_config *cfg)
{
	struct devtest *dt = devtest_new_bare(cfg);

	/* Before any device: the bridge sizes its 64-bit window from RAM. */
	assert_int_equal(guest_mem_alloc(&dt->vm->mem, PCITEST_RAM_SIZE), 0);
	/* Before any device too: devices add their fds when created. */
	assert_int_equal(evloop_create(&dt->vm->io), 0);
	devtest_attach(dt, "pci-host", 5);
	return dt;
}

/* ---- Config space ---- */

static uint32_t cf8_value(unsigned int slot, unsigned int off)
{
	return 0x80000000u | slot << 11 | (off & 0xfc);
}

uint32_t pt_cf8_read(struct vm *vm, unsigned int slot, unsigned int off, unsigned int len)
{
	pio_out(vm, PCI_CONFIG_ADDR_PORT, cf8_value(slot, off), 4);
	return pio_in(vm, (uint16_t)(PCI_CONFIG_DATA_PORT + (off & 3)), len);
}

void pt_cf8_write(struct vm *vm, unsigned int slot, unsigned int off, uint32_t val,
		  unsigned int len)
{
	pio_out(vm, PCI_CONFIG_ADDR_PORT, cf8_value(slot, off), 4);
	pio_out(vm, (uint16_t)(PCI_CONFIG_DATA_PORT + (off & 3)), val, len);
}

uint64_t pt_ecam_addr(unsigned int slot, unsigned int fn, unsigned int off)
{
	return PCI_ECAM_BASE + ((uint64_t)slot << 15) + ((uint64_t)fn << 12) + off;
}

uint32_t pt_ecam_read(struct vm *vm, unsigned int slot, unsigned int off, unsigned int len)
{
	return (uint32_t)pt_mmio_read(vm, pt_ecam_addr(slot, 0, off), len);
}

void pt_ecam_write(struct vm *vm, unsigned int slot, unsigned int off, uint32_t val,
		   unsigned int len)
{
	pt_mmio_write(vm, pt_ecam_addr(slot, 0, off), val, len);
}

/* ---- MMIO ---- */

bool pt_mmio_try(struct vm *vm, uint64_t addr, uint64_t *val, unsigned int len,
		 bool is_write)
{
	uint8_t data[8] = { 0 };
	bool claimed;

	assert_in_range(len, 1, 8);
	if (is_write)
		memcpy(data, val, len);
	claimed = bus_access(&vm->mmio, addr, data, len, is_write);
	if (!is_write) {
		*val = 0;
		memcpy(val, data, len);
	}
	return claimed;
}

uint64_t pt_mmio_read(struct vm *vm, uint64_t addr, unsigned int len)
{
	uint64_t v;

	if (!pt_mmio_try(vm, addr, &v, len, false))
		fail_msg("MMIO read of %u bytes at 0x%llx: unclaimed", len,
			 (unsigned long long)addr);
	return v;
}

void pt_mmio_write(struct vm *vm, uint64_t addr, uint64_t val, unsigned int len)
{
	if (!pt_mmio_try(vm, addr, &val, len, true))
		fail_msg("MMIO write of %u bytes at 0x%llx: unclaimed", len,
			 (unsigned long long)addr);
}

uint64_t pt_bar_addr(struct vm *vm, unsigned int slot, unsigned int nr)
{
	uint32_t lo = pt_ecam_read(vm, slot, PCI_BAR0 + 4 * nr, 4);
	uint64_t addr = lo & ~0xfu;

	if ((lo & 6) == PCI_BAR_MEM_64)
		addr |= (uint64_t)pt_ecam_read(vm, slot, PCI_BAR0 + 4 * (nr + 1), 4) << 32;
	return addr;
}

int pt_find(struct vm *vm, uint16_t vendor, uint16_t device)
{
	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++)
		if (pt_ecam_read(vm, s, 0, 4) == ((uint32_t)device << 16 | vendor))
			return (int)s;
	return -1;
}

uint8_t pt_find_cap(struct vm *vm, unsigned int slot, uint8_t id, uint8_t from)
{
	uint8_t c = from ? from : (uint8_t)pt_ecam_read(vm, slot, PCI_CAPABILITY_LIST, 1);

	/* 48 hops at most: a looping list fails the test instead of hanging. */
	for (int hops = 0; c && hops < 48; hops++) {
		assert_true(c >= 0x40 && c % 4 == 0);
		if (pt_ecam_read(vm, slot, c, 1) == id)
			return c;
		c = (uint8_t)pt_ecam_read(vm, slot, c + 1u, 1);
	}
	assert_int_equal(c, 0);
	return 0;
}

void pcitest_run(struct vm *vm)
{
	int rounds = 0;

	while (evloop_run_once(vm->io, 0) > 0)
		if (++rounds > 1000)
			fail_msg("event loop still busy after 1000 rounds: an fd never drained?");
}

/* ---- stderr capture ---- */

void pt_capture_begin(struct pt_capture *c)
{
	char path[] = "/tmp/skiff-stderr-XXXXXX";

	fflush(stderr);
	c->file_fd = mkstemp(path);
	assert_true(c->file_fd >= 0);
	unlink(path);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_int_equal(dup2(c->file_fd, STDERR_FILENO), STDERR_FILENO);
}

char *pt_capture_end(struct pt_capture *c)
{
	off_t len;
	char *s;

	fflush(stderr);
	assert_int_equal(dup2(c->saved_fd, STDERR_FILENO), STDERR_FILENO);
	close(c->saved_fd);
	len = lseek(c->file_fd, 0, SEEK_END);
	assert_true(len >= 0);
	s = calloc(1, (size_t)len + 1);
	assert_non_null(s);
	assert_int_equal(pread(c->file_fd, s, (size_t)len, 0), len);
	close(c->file_fd);
	/* Show it anyway: a failing test's log should say what happened. */
	fputs(s, stderr);
	return s;
}

unsigned int pt_count(const char *haystack, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- The driver ---- */

static void vdrv_read_vendor_cap(struct vdrv *d, uint8_t c)
{
	struct vm *vm = d->vm;
	uint8_t type = (uint8_t)pt_ecam_read(vm, d->slot, c + 3u, 1);
	uint8_t bar = (uint8_t)pt_ecam_read(vm, d->slot, c + 4u, 1);
	uint32_t off = pt_ecam_read(vm, d->slot, c + 8u, 4);
	uint32_t len = pt_ecam_read(vm, d->slot, c + 12u, 4);
	uint64_t addr;

	assert_true(pt_ecam_read(vm, d->slot, c + 2u, 1) >= 16);	/* cap_len */
	assert_true(bar < PCI_NUM_BARS);
	addr = pt_bar_addr(vm, d->slot, bar) + off;
	switch (type) {
	case VCAP_COMMON:
		d->common = addr;
		d->common_len = len;
		break;
	case VCAP_NOTIFY:
		assert_true(pt_ecam_read(vm, d->slot, c + 2u, 1) >= 20);
		d->notify = addr;
		d->notify_len = len;
		d->notify_mult = pt_ecam_read(vm, d->slot, c + 16u, 4);
		break;
	case VCAP_ISR:
		d->isr = addr;
		d->isr_len = len;
		break;
	case VCAP_DEVICE:
		d->device = addr;
		d->device_len = len;
		break;
	}
}

static void vdrv_read_msix_cap(struct vdrv *d, uint8_t c)
{
	uint16_t flags = (uint16_t)pt_ecam_read(d->vm, d->slot, c + 2u, 2);
	uint32_t table = pt_ecam_read(d->vm, d->slot, c + 4u, 4);
	uint32_t pba = pt_ecam_read(d->vm, d->slot, c + 8u, 4);

	d->msix_cap = c;
	d->msix_nr = (flags & 0x7ffu) + 1;
	d->msix_table = pt_bar_addr(d->vm, d->slot, table & 7) + (table & ~7u);
	d->msix_pba = pt_bar_addr(d->vm, d->slot, pba & 7) + (pba & ~7u);
}

void vdrv_probe(struct vdrv *d, struct devtest *dt, unsigned int slot)
{
	uint16_t cmd;
	uint8_t c;

	memset(d, 0, sizeof(*d));
	d->dt = dt;
	d->vm = dt->vm;
	d->slot = slot;
	d->heap = PCITEST_HEAP_GPA;
	d->ring_base = PCITEST_RING_GPA;
	cmd = (uint16_t)pt_ecam_read(d->vm, slot, PCI_COMMAND, 2);
	pt_ecam_write(d->vm, slot, PCI_COMMAND, cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER, 2);
	assert_true(pt_ecam_read(d->vm, slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Every vendor capability, in list order (48 hops at most). */
	c = (uint8_t)pt_ecam_read(d->vm, slot, PCI_CAPABILITY_LIST, 1);
	for (int hops = 0; c; hops++) {
		assert_true(hops < 48 && c >= 0x40 && c % 4 == 0);
		if (pt_ecam_read(d->vm, slot, c, 1) == PCI_CAP_ID_VNDR)
			vdrv_read_vendor_cap(d, c);
		c = (uint8_t)pt_ecam_read(d->vm, slot, c + 1u, 1);
	}
	c = pt_find_cap(d->vm, slot, PCI_CAP_ID_MSIX, 0);
	assert_true(c != 0);
	vdrv_read_msix_cap(d, c);
	assert_true(d->common && d->notify && d->isr);
	assert_true(d->common_len >= 0x38);
}

uint64_t vdrv_read(struct vdrv *d, unsigned int off, unsigned int len)
{
	return pt_mmio_read(d->vm, d->common + off, len);
}

void vdrv_write(struct vdrv *d, unsigned int off, uint64_t val, unsigned int len)
{
	pt_mmio_write(d->vm, d->common + off, val, len);
}

uint8_t vdrv_status(struct vdrv *d)
{
	return (uint8_t)vdrv_read(d, VC_STATUS, 1);
}

void vdrv_set_status(struct vdrv *d, uint8_t status)
{
	vdrv_write(d, VC_STATUS, status, 1);
}

uint64_t vdrv_device_features(struct vdrv *d)
{
	uint64_t f;

	vdrv_write(d, VC_DFSELECT, 0, 4);
	f = vdrv_read(d, VC_DF, 4);
	vdrv_write(d, VC_DFSELECT, 1, 4);
	return f | vdrv_read(d, VC_DF, 4) << 32;
}

void vdrv_write_features(struct vdrv *d, uint64_t features)
{
	vdrv_write(d, VC_GFSELECT, 0, 4);
	vdrv_write(d, VC_GF, (uint32_t)features, 4);
	vdrv_write(d, VC_GFSELECT, 1, 4);
	vdrv_write(d, VC_GF, features >> 32, 4);
}

bool vdrv_negotiate(struct vdrv *d, uint64_t features)
{
	vdrv_set_status(d, 0);
	assert_int_equal(vdrv_status(d), 0);
	vdrv_set_status(d, VS_ACK);
	vdrv_set_status(d, VS_ACK | VS_DRIVER);
	vdrv_write_features(d, features);
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
	return vdrv_status(d) & VS_FEATURES_OK;
}

void vdrv_msix_enable(struct vdrv *d, unsigned int nr)
{
	uint16_t flags;

	assert_true(nr <= d->msix_nr);
	for (unsigned int v = 0; v < nr; v++) {
		uint64_t e = d->msix_table + 16ULL * v;

		pt_mmio_write(d->vm, e, (uint32_t)PCITEST_MSI_ADDR, 4);
		pt_mmio_write(d->vm, e + 4, PCITEST_MSI_ADDR >> 32, 4);
		pt_mmio_write(d->vm, e + 8, PCITEST_MSI_DATA(v), 4);
		pt_mmio_write(d->vm, e + 12, 0, 4);
	}
	flags = (uint16_t)pt_ecam_read(d->vm, d->slot, d->msix_cap + 2u, 2);
	pt_ecam_write(d->vm, d->slot, d->msix_cap + 2u, flags | PCI_MSIX_FLAGS_ENABLE, 2);
}

/* A 64-bit field as two dwords, low first, as Linux writes them. */
static void vdrv_write64(struct vdrv *d, unsigned int off, uint64_t v)
{
	vdrv_write(d, off, (uint32_t)v, 4);
	vdrv_write(d, off + 4, v >> 32, 4);
}

void vdrv_setup_queue(struct vdrv *d, unsigned int qi, uint16_t size, uint16_t vector)
{
	struct vdrv_queue *q = &d->q[qi];
	uint64_t base = d->ring_base + qi * PCITEST_RING_STRIDE;
	uint16_t max;

	assert_true(qi < VDRV_MAX_QUEUES);
	vdrv_write(d, VC_QSELECT, qi, 2);
	max = (uint16_t)vdrv_read(d, VC_QSIZE, 2);
	assert_true(max > 0 && max <= 1024);
	if (size)
		vdrv_write(d, VC_QSIZE, size, 2);
	else
		size = max;
	*q = (struct vdrv_queue){ .size = size, .desc = base, .avail = base + 0x4000,
				  .used = base + 0x6000 };
	memset(vdrv_ptr(d, base, PCITEST_RING_STRIDE), 0, PCITEST_RING_STRIDE);
	vdrv_write64(d, VC_QDESC, q->desc);
	vdrv_write64(d, VC_QAVAIL, q->avail);
	vdrv_write64(d, VC_QUSED, q->used);
	vdrv_write(d, VC_QMSIX, vector, 2);
	vdrv_write(d, VC_QENABLE, 1, 2);
}

void vdrv_init(struct vdrv *d, uint64_t features, unsigned int nq)
{
	assert_true(vdrv_negotiate(d, features));
	vdrv_msix_enable(d, nq + 1);
	vdrv_write(d, VC_MSIX, nq, 2);
	assert_int_equal(vdrv_read(d, VC_MSIX, 2), nq);
	for (unsigned int i = 0; i < nq; i++) {
		vdrv_setup_queue(d, i, 0, (uint16_t)i);
		assert_int_equal(vdrv_read(d, VC_QMSIX, 2), i);
		assert_int_equal(vdrv_read(d, VC_QENABLE, 2), 1);
	}
	vdrv_set_status(d, VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	assert_int_equal(vdrv_status(d), VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	pcitest_run(d->vm);
}

uint64_t vdrv_alloc(struct vdrv *d, uint32_t len)
{
	uint64_t gpa = d->heap;

	d->heap = (d->heap + len + 15) & ~15ULL;
	assert_true(d->heap <= PCITEST_RAM_SIZE);
	return gpa;
}

void *vdrv_ptr(struct vdrv *d, uint64_t gpa, uint64_t len)
{
	void *p = gpa_ptr(&d->vm->mem, gpa, len);

	assert_non_null(p);
	return p;
}

void vdrv_set_desc(struct vdrv *d, unsigned int qi, uint16_t i, uint64_t addr,
		   uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = vdrv_ptr(d, d->q[qi].desc + 16ULL * i, 16);

	/* Little-endian layout: the host is x86 too. */
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

void vdrv_publish(struct vdrv *d, unsigned int qi, uint16_t head)
{
	struct vdrv_queue *q = &d->q[qi];
	uint8_t *avail = vdrv_ptr(d, q->avail, 4 + 2ULL * q->size);

	memcpy(avail + 4 + 2 * (q->avail_idx % q->size), &head, 2);
	q->avail_idx++;
	__atomic_store_n((uint16_t *)(avail + 2), q->avail_idx, __ATOMIC_RELEASE);
}

uint16_t vdrv_post(struct vdrv *d, unsigned int qi, const struct vbuf *bufs,
		   unsigned int n)
{
	struct vdrv_queue *q = &d->q[qi];
	uint16_t head = q->next_desc, i = head;

	assert_true(n > 0 && n <= q->size);
	for (unsigned int k = 0; k < n; k++) {
		uint16_t next = (uint16_t)((i + 1) % q->size);
		uint16_t flags = (uint16_t)((bufs[k].writable ? VD_WRITE : 0) |
					    (k + 1 < n ? VD_NEXT : 0));

		vdrv_set_desc(d, qi, i, bufs[k].gpa, bufs[k].len, flags, next);
		i = next;
	}
	q->next_desc = i;
	vdrv_publish(d, qi, head);
	return head;
}

void vdrv_kick(struct vdrv *d, unsigned int qi)
{
	uint16_t off;

	vdrv_write(d, VC_QSELECT, qi, 2);
	off = (uint16_t)vdrv_read(d, VC_QNOFF, 2);
	assert_true((uint64_t)off * d->notify_mult + 2 <= d->notify_len);
	pt_mmio_write(d->vm, d->notify + (uint64_t)off * d->notify_mult, qi, 2);
	pcitest_run(d->vm);
}

uint16_t vdrv_used_idx(struct vdrv *d, unsigned int qi)
{
	uint8_t *used = vdrv_ptr(d, d->q[qi].used, 4);

	return __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
}

void vdrv_used_elem(struct vdrv *d, unsigned int qi, uint16_t n, uint32_t *id,
		    uint32_t *len)
{
	struct vdrv_queue *q = &d->q[qi];
	uint8_t *e = vdrv_ptr(d, q->used + 4 + 8ULL * (n % q->size), 8);

	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

bool vdrv_wait_used(struct vdrv *d, unsigned int qi, uint16_t idx, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;

	while (vdrv_used_idx(d, qi) != idx) {
		if (now_ms() > end)
			return false;
		assert_true(evloop_run_once(d->vm->io, 10) >= 0);
	}
	return true;
}
