// SPDX-License-Identifier: MIT
/* Split virtqueue: rings built by hand in a fake guest RAM, hostile cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"

#define RAM_SIZE SZ_1M
#define QSIZE 8
#define DESC_GPA 0x1000ULL
#define AVAIL_GPA 0x2000ULL
#define USED_GPA 0x3000ULL
#define TABLE_GPA 0x8000ULL	/* indirect tables */
#define BUF_GPA 0x10000ULL
#define F_INDIRECT (1ULL << VIRTIO_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ULL << VIRTIO_F_EVENT_IDX)

struct fx {
	uint8_t *ram;
	struct guest_mem mem;
	struct virtq q;
	struct virtq_seg segs[2 * QSIZE];
	struct virtq_chain c;
	uint16_t avail_idx;	/* the driver's copy */
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	guest_mem_layout(&f->mem, f->ram, RAM_SIZE);
	f->c.segs = f->segs;
	f->c.max_segs = QSIZE;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	free(f->ram);
	free(f);
	return 0;
}

static void put16(struct fx *f, uint64_t gpa, uint16_t v);

/* A fresh queue over zeroed rings, as after a device reset. */
static void fx_init(struct fx *f, uint64_t features)
{
	assert_int_equal(virtq_init(&f->q, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA,
				    USED_GPA, features), 0);
	memset(f->ram + AVAIL_GPA, 0, VIRTQ_AVAIL_BYTES(QSIZE));
	memset(f->ram + USED_GPA, 0, VIRTQ_USED_BYTES(QSIZE));
	f->avail_idx = 0;
}

static void put16(struct fx *f, uint64_t gpa, uint16_t v)
{
	assert_true(gpa_write(&f->mem, gpa, &v, sizeof(v)));
}

static uint32_t get32(struct fx *f, uint64_t gpa)
{
	uint32_t v;

	assert_true(gpa_read(&f->mem, gpa, &v, sizeof(v)));
	return v;
}

static uint16_t get16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	assert_true(gpa_read(&f->mem, gpa, &v, sizeof(v)));
	return v;
}

static void set_desc_in(struct fx *f, uint64_t table, unsigned int i,
			uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	assert_true(gpa_write(&f->mem, table + 16ULL * i, &d, sizeof(d)));
}

static void set_desc(struct fx *f, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	set_desc_in(f, DESC_GPA, i, addr, len, flags, next);
}

/* The driver makes head available: ring entry first, then idx. */
static void post(struct fx *f, uint16_t head)
{
	put16(f, AVAIL_GPA + 4 + 2 * (f->avail_idx % QSIZE), head);
	f->avail_idx++;
	put16(f, AVAIL_GPA + 2, f->avail_idx);
}

static void set_avail_idx(struct fx *f, uint16_t idx)
{
	f->avail_idx = idx;
	put16(f, AVAIL_GPA + 2, idx);
}

static uint16_t used_idx(struct fx *f)
{
	return get16(f, USED_GPA + 2);
}

static void assert_used(struct fx *f, uint16_t slot, uint32_t id, uint32_t len)
{
	uint64_t elem = USED_GPA + 4 + 8 * (slot % QSIZE);

	assert_int_equal(get32(f, elem), id);
	assert_int_equal(get32(f, elem + 4), len);
}

/* Pop must fail and leave the queue broken. */
static void assert_violation(struct fx *f)
{
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
	assert_true(f->q.broken);
}

static void test_init_validation(void **state)
{
	struct fx *f = *state;
	struct virtq *q = &f->q;
	const struct guest_mem *m = &f->mem;

	assert_int_equal(virtq_init(q, m, 0, DESC_GPA, AVAIL_GPA, USED_GPA, 0), -EINVAL);
	assert_true(q->broken);
	assert_int_equal(virtq_pop(q, &f->c), -EINVAL);
	virtq_reset(q);
	assert_true(q->broken);
	assert_int_equal(virtq_init(q, m, 6, DESC_GPA, AVAIL_GPA, USED_GPA, 0), -EINVAL);
	assert_int_equal(virtq_init(q, m, 65536, DESC_GPA, AVAIL_GPA, USED_GPA, 0), -EINVAL);
	assert_int_equal(virtq_init(q, m, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA, 0), -EINVAL);
	assert_int_equal(virtq_init(q, m, QSIZE, DESC_GPA, AVAIL_GPA + 1, USED_GPA, 0), -EINVAL);
	assert_int_equal(virtq_init(q, m, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA + 2, 0), -EINVAL);
	/* Last byte of each ring one past RAM. */
	assert_int_equal(virtq_init(q, m, QSIZE, RAM_SIZE - 16 * QSIZE + 16,
				    AVAIL_GPA, USED_GPA, 0), -EINVAL);
	assert_int_equal(virtq_init(q, m, QSIZE, DESC_GPA,
				    RAM_SIZE - VIRTQ_AVAIL_BYTES(QSIZE) + 2, USED_GPA, 0), -EINVAL);
	assert_int_equal(virtq_init(q, m, QSIZE, DESC_GPA, AVAIL_GPA,
				    RAM_SIZE - VIRTQ_USED_BYTES(QSIZE) + 4, 0), -EINVAL);
	/* Addresses that wrap around 2^64. */
	assert_int_equal(virtq_init(q, m, QSIZE, UINT64_MAX - 15, AVAIL_GPA, USED_GPA, 0), -EINVAL);
	assert_int_equal(virtq_init(q, m, QSIZE, DESC_GPA, AVAIL_GPA, UINT64_MAX - 3, 0), -EINVAL);
	/* Ending exactly at the end of RAM is fine. */
	assert_int_equal(virtq_init(q, m, QSIZE, RAM_SIZE - 16 * QSIZE, AVAIL_GPA,
				    USED_GPA, 0), 0);
	/* The largest size: 512 KiB of descriptors, 256 KiB of used ring. */
	assert_int_equal(virtq_init(q, m, VIRTQ_MAX_SIZE, 0, 0x80000, 0xc0000, 0), -EINVAL);
	assert_int_equal(virtq_init(q, m, VIRTQ_MAX_SIZE, 0, 0x80000, 0xa0000, 0), 0);
	assert_false(q->broken);
	assert_int_equal(virtq_pop(q, &f->c), 0);
}

static void test_simple_chain(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	set_desc(f, 3, BUF_GPA, 100, VIRTQ_DESC_F_NEXT, 5);
	set_desc(f, 5, BUF_GPA + 0x1000, 50, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA + 0x2000, 200, VIRTQ_DESC_F_WRITE, 0);
	post(f, 3);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.nr_segs, 3);
	assert_ptr_equal(f->segs[0].host, f->ram + BUF_GPA);
	assert_int_equal(f->segs[0].len, 100);
	assert_false(f->segs[0].device_writable);
	assert_ptr_equal(f->segs[1].host, f->ram + BUF_GPA + 0x1000);
	assert_ptr_equal(f->segs[2].host, f->ram + BUF_GPA + 0x2000);
	assert_int_equal(f->segs[2].len, 200);
	assert_true(f->segs[2].device_writable);
	assert_int_equal(f->c.readable, 150);
	assert_int_equal(f->c.writable, 200);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);

	virtq_push(&f->q, &f->c, 123);
	assert_int_equal(used_idx(f), 1);
	assert_used(f, 0, 3, 123);
}

static void test_several_chains_in_order(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c[3];
	struct virtq_seg segs[3][QSIZE];
	int i;

	fx_init(f, 0);
	for (i = 0; i < 3; i++) {
		set_desc(f, i, BUF_GPA + 0x100 * i, 16, VIRTQ_DESC_F_WRITE, 0);
		post(f, 2 - i);
		c[i] = (struct virtq_chain){ .segs = segs[i], .max_segs = QSIZE };
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(virtq_pop(&f->q, &c[i]), 1);
		assert_int_equal(c[i].head, 2 - i);
		assert_ptr_equal(c[i].segs[0].host, f->ram + BUF_GPA + 0x100 * (2 - i));
	}
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	/* Completion order is the device's choice. */
	virtq_push(&f->q, &c[1], 1);
	virtq_push(&f->q, &c[0], 2);
	virtq_push(&f->q, &c[2], 3);
	assert_int_equal(used_idx(f), 3);
	assert_used(f, 0, 1, 1);
	assert_used(f, 1, 2, 2);
	assert_used(f, 2, 0, 3);
}

static void test_index_wrap(void **state)
{
	struct fx *f = *state;
	int i;

	fx_init(f, 0);
	f->q.last_avail_idx = 0xfffe;
	f->q.used_idx = 0xfffe;
	set_avail_idx(f, 0xfffe);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	for (i = 0; i < 4; i++)
		post(f, 0);
	assert_int_equal(f->avail_idx, 2);
	for (i = 0; i < 4; i++) {
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
		virtq_push(&f->q, &f->c, i);
	}
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	assert_int_equal(f->q.last_avail_idx, 2);
	assert_int_equal(used_idx(f), 2);
	for (i = 0; i < 4; i++)
		assert_used(f, (uint16_t)(0xfffe + i), 0, i);
}

static void test_indirect_chain(void **state)
{
	struct fx *f = *state;

	fx_init(f, F_INDIRECT);
	set_desc_in(f, TABLE_GPA, 0, BUF_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	set_desc_in(f, TABLE_GPA, 2, BUF_GPA + 0x100, 20, VIRTQ_DESC_F_NEXT, 1);
	set_desc_in(f, TABLE_GPA, 1, BUF_GPA + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
	/* WRITE on the indirect descriptor itself is meaningless: ignored. */
	set_desc(f, 4, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	post(f, 4);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 4);
	assert_int_equal(f->c.nr_segs, 3);
	assert_ptr_equal(f->segs[1].host, f->ram + BUF_GPA + 0x100);
	assert_int_equal(f->c.readable, 30);
	assert_int_equal(f->c.writable, 30);

	/* Direct descriptors followed by one indirect one (2.7.5.3.2). */
	set_desc(f, 6, BUF_GPA + 0x300, 5, VIRTQ_DESC_F_NEXT, 7);
	set_desc(f, 7, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(f, 6);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_segs, 4);
	assert_int_equal(f->c.readable, 35);
	assert_int_equal(f->c.writable, 30);

	/* A full-size table (QSIZE entries) is the longest allowed. */
	for (int i = 0; i < QSIZE; i++)
		set_desc_in(f, TABLE_GPA, i, BUF_GPA, 1,
			    i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	set_desc(f, 0, TABLE_GPA, QSIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_segs, QSIZE);
}

static void test_bad_indices(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	post(f, QSIZE);
	assert_violation(f);

	fx_init(f, 0);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
	post(f, 0);
	assert_violation(f);

	/* next inside an indirect table is bounded by that table. */
	fx_init(f, F_INDIRECT);
	set_desc_in(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 0, TABLE_GPA, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(f, 0);
	assert_violation(f);
}

static void test_loop(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	post(f, 0);
	assert_violation(f);

	/* A self-loop inside an indirect table ends too. */
	fx_init(f, F_INDIRECT);
	set_desc_in(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	set_desc(f, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(f, 0);
	assert_violation(f);
}

static void test_chain_length_limit(void **state)
{
	struct fx *f = *state;
	int i;

	fx_init(f, 0);
	for (i = 0; i < QSIZE; i++)
		set_desc(f, i, BUF_GPA, 1, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	post(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_segs, QSIZE);

	/* size + 1 descriptors: only possible by revisiting one. */
	set_desc(f, QSIZE - 1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	post(f, 0);
	assert_violation(f);

	/* Direct + indirect together still capped at the queue size. */
	fx_init(f, F_INDIRECT);
	for (i = 0; i < QSIZE; i++)
		set_desc_in(f, TABLE_GPA, i, BUF_GPA, 1,
			    i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	set_desc(f, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, TABLE_GPA, QSIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	f->c.max_segs = 2 * QSIZE;
	post(f, 0);
	assert_violation(f);
}

static void test_max_segs(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	f->c.max_segs = 1;
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0);
	assert_violation(f);
}

static void test_bad_addresses(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	set_desc(f, 0, RAM_SIZE - 8, 9, 0, 0);
	post(f, 0);
	assert_violation(f);

	fx_init(f, 0);
	set_desc(f, 0, RAM_SIZE, 1, 0, 0);
	post(f, 0);
	assert_violation(f);

	fx_init(f, 0);
	set_desc(f, 0, UINT64_MAX - 7, 16, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0);
	assert_violation(f);

	/* Last byte of RAM is fine. */
	fx_init(f, 0);
	set_desc(f, 0, RAM_SIZE - 8, 8, 0, 0);
	post(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_ptr_equal(f->segs[0].host, f->ram + RAM_SIZE - 8);
}

static void test_total_over_4g(void **state)
{
	struct guest_mem big;
	struct virtq q;
	struct virtq_seg segs[QSIZE];
	struct virtq_chain c = { .segs = segs, .max_segs = QSIZE };
	struct virtq_desc d[2] = {
		{ SZ_1M, 0xc0000000u - SZ_1M, VIRTQ_DESC_F_NEXT, 1 },
		{ SZ_4G, 0xc0000000u, VIRTQ_DESC_F_WRITE, 0 },
	};
	uint16_t avail[3] = { 0, 1, 0 };

	(void)state;
	/* NORESERVE: only the ring pages are ever touched. */
	assert_int_equal(guest_mem_alloc(&big, 6 * SZ_1G), 0);
	assert_int_equal(virtq_init(&q, &big, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, 0), 0);
	assert_true(gpa_write(&big, DESC_GPA, d, sizeof(d)));
	assert_true(gpa_write(&big, AVAIL_GPA, avail, sizeof(avail)));
	assert_int_equal(virtq_pop(&q, &c), -EINVAL);
	assert_true(q.broken);

	/* Just under 4 GiB total is fine. */
	virtq_reset(&q);
	d[1].len = 0x40000000u + SZ_1M - 1;
	assert_true(gpa_write(&big, DESC_GPA, d, sizeof(d)));
	assert_int_equal(virtq_pop(&q, &c), 1);
	assert_int_equal(c.readable, 0xc0000000u - SZ_1M);
	assert_int_equal(c.writable, 0x40000000u + SZ_1M - 1);
	guest_mem_free(&big);
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	set_desc_in(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc(f, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(f, 0);
	assert_violation(f);
}

static void test_nested_indirect(void **state)
{
	struct fx *f = *state;

	fx_init(f, F_INDIRECT);
	set_desc_in(f, TABLE_GPA, 0, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc_in(f, TABLE_GPA + 0x100, 0, BUF_GPA, 8, 0, 0);
	set_desc(f, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(f, 0);
	assert_violation(f);
}

/* One indirect descriptor of the given len/flags at the head must fail. */
static void check_bad_indirect(struct fx *f, uint64_t addr, uint32_t len,
			       uint16_t flags)
{
	fx_init(f, F_INDIRECT);
	set_desc(f, 0, addr, len, VIRTQ_DESC_F_INDIRECT | flags, 1);
	set_desc(f, 1, BUF_GPA, 8, 0, 0);
	post(f, 0);
	assert_violation(f);
}

static void test_bad_indirect_table(void **state)
{
	struct fx *f = *state;

	set_desc_in(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	check_bad_indirect(f, TABLE_GPA, 0, 0);
	check_bad_indirect(f, TABLE_GPA, 17, 0);
	check_bad_indirect(f, TABLE_GPA, 8, 0);
	check_bad_indirect(f, TABLE_GPA, (QSIZE + 1) * 16, 0);
	check_bad_indirect(f, TABLE_GPA, 16, VIRTQ_DESC_F_NEXT);
	check_bad_indirect(f, RAM_SIZE - 16, 32, 0);
	check_bad_indirect(f, UINT64_MAX - 15, 32, 0);
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 8, 0, 0);
	post(f, 0);
	assert_violation(f);

	/* The order holds across the step into an indirect table. */
	fx_init(f, F_INDIRECT);
	set_desc_in(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(f, 0);
	assert_violation(f);
}

static void test_zero_length(void **state)
{
	struct fx *f = *state;

	/* Allowed, no segment, address never checked (it is never used). */
	fx_init(f, 0);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, UINT64_MAX, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(f, 2, BUF_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_segs, 2);
	assert_int_equal(f->c.readable, 8);
	assert_int_equal(f->c.writable, 4);

	/* Still counts against the chain length: a zero-length loop ends. */
	set_desc(f, 3, 0, 0, VIRTQ_DESC_F_NEXT, 3);
	post(f, 3);
	assert_violation(f);
}

static void test_avail_idx_jump(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	set_desc(f, 0, BUF_GPA, 8, 0, 0);
	set_avail_idx(f, QSIZE);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);

	fx_init(f, 0);
	set_avail_idx(f, QSIZE + 1);
	assert_violation(f);

	/* Going backwards is a huge jump forwards, mod 2^16. */
	fx_init(f, 0);
	set_avail_idx(f, 0xffff);
	assert_violation(f);
}

static void test_broken_until_reset(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	post(f, 0);
	assert_violation(f);

	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
	virtq_push(&f->q, &f->c, 8);
	assert_int_equal(used_idx(f), 0);
	assert_false(virtq_needs_notify(&f->q, 0));
	assert_false(virtq_enable_notify(&f->q));

	virtq_reset(&f->q);
	assert_false(f->q.broken);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.writable, 8);
}

static void test_used_clamp(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	set_desc(f, 0, BUF_GPA, 100, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA + 0x100, 40, VIRTQ_DESC_F_WRITE, 0);
	set_desc(f, 2, BUF_GPA, 100, 0, 0);
	post(f, 0);
	post(f, 2);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	virtq_push(&f->q, &f->c, 1000);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	virtq_push(&f->q, &f->c, 50);
	assert_int_equal(used_idx(f), 2);
	assert_used(f, 0, 0, 40);
	assert_used(f, 1, 2, 0);
}

static void push_one(struct fx *f)
{
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	post(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	virtq_push(&f->q, &f->c, 8);
}

static void test_notify_flags(void **state)
{
	struct fx *f = *state;

	fx_init(f, 0);
	assert_false(virtq_needs_notify(&f->q, f->q.used_idx));
	push_one(f);
	assert_true(virtq_needs_notify(&f->q, 0));
	put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	push_one(f);
	assert_false(virtq_needs_notify(&f->q, 1));

	virtq_disable_notify(&f->q);
	assert_int_equal(get16(f, USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
	assert_false(virtq_enable_notify(&f->q));
	assert_int_equal(get16(f, USED_GPA), 0);
	post(f, 0);
	assert_true(virtq_enable_notify(&f->q));
}

static void test_notify_event_idx(void **state)
{
	struct fx *f = *state;
	uint64_t used_event = AVAIL_GPA + 4 + 2 * QSIZE;
	uint64_t avail_event = USED_GPA + 4 + 8 * QSIZE;

	fx_init(f, F_EVENT_IDX);
	/* NO_INTERRUPT is ignored with EVENT_IDX. */
	put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	put16(f, used_event, 0);
	push_one(f);				/* used idx 0 -> 1 */
	assert_true(virtq_needs_notify(&f->q, 0));
	push_one(f);				/* 1 -> 2, event 0 passed */
	assert_false(virtq_needs_notify(&f->q, 1));
	put16(f, used_event, 3);
	push_one(f);				/* 2 -> 3 */
	assert_false(virtq_needs_notify(&f->q, 2));
	push_one(f);
	push_one(f);				/* 3 -> 5 in one batch */
	assert_true(virtq_needs_notify(&f->q, 3));

	/* Wrap: event 0xffff crossed by a batch 0xfffe -> 0x0001. */
	fx_init(f, F_EVENT_IDX);
	f->q.last_avail_idx = 0xfffe;
	f->q.used_idx = 0xfffe;
	set_avail_idx(f, 0xfffe);
	put16(f, used_event, 0xffff);
	push_one(f);
	push_one(f);
	push_one(f);
	assert_true(virtq_needs_notify(&f->q, 0xfffe));
	put16(f, used_event, 0x0001);
	push_one(f);				/* 1 -> 2 */
	assert_true(virtq_needs_notify(&f->q, 1));
	put16(f, used_event, 0xfffd);
	push_one(f);				/* 2 -> 3, event long past */
	assert_false(virtq_needs_notify(&f->q, 2));

	/* avail_event tracks last_avail_idx; the flags word is untouched. */
	assert_false(virtq_enable_notify(&f->q));
	assert_int_equal(get16(f, avail_event), f->q.last_avail_idx);
	virtq_disable_notify(&f->q);
	assert_int_equal(get16(f, USED_GPA), 0);
	post(f, 0);
	assert_true(virtq_enable_notify(&f->q));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_validation),
		T(test_simple_chain),
		T(test_several_chains_in_order),
		T(test_index_wrap),
		T(test_indirect_chain),
		T(test_bad_indices),
		T(test_loop),
		T(test_chain_length_limit),
		T(test_max_segs),
		T(test_bad_addresses),
		T(test_total_over_4g),
		T(test_indirect_not_negotiated),
		T(test_nested_indirect),
		T(test_bad_indirect_table),
		T(test_readable_after_writable),
		T(test_zero_length),
		T(test_avail_idx_jump),
		T(test_broken_until_reset),
		T(test_used_clamp),
		T(test_notify_flags),
		T(test_notify_event_idx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
