// SPDX-License-Identifier: MIT
/*
 * x86_decompress: every linked format round-trips data compressed here with
 * the real libraries, recognises the unlinked ones, caps its output, and
 * survives truncated and corrupt input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/boot.h"

enum fmt { FMT_GZIP, FMT_XZ, FMT_LZ4, FMT_ZSTD, FMT_COUNT };

static const char *const fmt_names[FMT_COUNT] = { "gzip", "xz", "lz4", "zstd" };

#define LZ4_BLOCK (8u << 20)

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint8_t *gzip_buf(const uint8_t *in, size_t len, size_t *out_len)
{
	z_stream zs;
	size_t cap;
	uint8_t *out;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	cap = deflateBound(&zs, len) + 16;
	out = malloc(cap);
	assert_non_null(out);
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = out;
	zs.avail_out = cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static uint8_t *xz_buf(const uint8_t *in, size_t len, size_t *out_len)
{
	size_t cap = lzma_stream_buffer_bound(len) + 16, pos = 0;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	/* preset 0: 256 KiB dictionary keeps the many decoder runs cheap */
	assert_int_equal(lzma_easy_buffer_encode(0, LZMA_CHECK_CRC32, NULL, in,
						 len, out, &pos, cap), LZMA_OK);
	*out_len = pos;
	return out;
}

/* `lz4 -l`: legacy magic, then [le32 size][block] per 8 MiB of input. */
static uint8_t *lz4_buf(const uint8_t *in, size_t len, size_t *out_len)
{
	size_t blocks = len / LZ4_BLOCK + 1;
	size_t cap = 4 + blocks * (4 + (size_t)LZ4_compressBound(LZ4_BLOCK));
	uint8_t *out = malloc(cap);
	size_t pos = 4, off;

	assert_non_null(out);
	put_le32(out, 0x184c2102);
	for (off = 0; off < len; off += LZ4_BLOCK) {
		size_t n = len - off < LZ4_BLOCK ? len - off : LZ4_BLOCK;
		int c = LZ4_compress_default((const char *)in + off,
					     (char *)out + pos + 4, (int)n,
					     LZ4_compressBound(LZ4_BLOCK));

		assert_true(c > 0);
		put_le32(out + pos, (uint32_t)c);
		pos += 4 + (size_t)c;
	}
	*out_len = pos;
	return out;
}

static uint8_t *zstd_buf(const uint8_t *in, size_t len, size_t *out_len)
{
	size_t cap = ZSTD_compressBound(len), n;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	n = ZSTD_compress(out, cap, in, len, 3);
	assert_false(ZSTD_isError(n));
	*out_len = n;
	return out;
}

/* Compress; with trailer, append the uncompressed size like the kernel does. */
static uint8_t *pack(enum fmt f, const uint8_t *in, size_t len,
			 bool trailer, size_t *out_len)
{
	uint8_t *out;

	switch (f) {
	case FMT_GZIP: out = gzip_buf(in, len, out_len); break;
	case FMT_XZ: out = xz_buf(in, len, out_len); break;
	case FMT_LZ4: out = lz4_buf(in, len, out_len); break;
	default: out = zstd_buf(in, len, out_len); break;
	}
	if (trailer) {
		out = realloc(out, *out_len + 4);
		assert_non_null(out);
		put_le32(out + *out_len, (uint32_t)len);
		*out_len += 4;
	}
	return out;
}

/* Text-like data: compressible, but not trivially. */
static uint8_t *sample(size_t len, uint32_t seed)
{
	uint8_t *p = malloc(len);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = "skiff boots linux "[(seed >> 16) % 18];
	}
	return p;
}

static void check_roundtrip(enum fmt f, size_t len, bool trailer)
{
	uint8_t *data = sample(len, (uint32_t)len), *z, *out;
	size_t zlen, out_len;
	const char *name = NULL;

	z = pack(f, data, len, trailer, &zlen);
	assert_int_equal(x86_decompress(z, zlen, &out, &out_len, len, &name), 0);
	assert_string_equal(name, fmt_names[f]);
	assert_int_equal(out_len, len);
	assert_memory_equal(out, data, len);
	free(out);
	/* one byte short of the real size: refused, nothing returned */
	out = (uint8_t *)1;
	assert_int_equal(x86_decompress(z, zlen, &out, &out_len, len - 1, &name),
			 -E2BIG);
	assert_null(out);
	free(z);
	free(data);
}

static void test_roundtrip_all(void **state)
{
	enum fmt f;

	(void)state;
	for (f = 0; f < FMT_COUNT; f++) {
		check_roundtrip(f, 1, false);
		check_roundtrip(f, 100000, false);
		check_roundtrip(f, 100000, true);
	}
}

/*
 * More than one 8 MiB lz4 block, plus the kernel's size trailer. Zeros hit
 * lz4's maximum ratio (255:1), which the decoder relies on to size room.
 */
static void test_lz4_multiblock(void **state)
{
	size_t len = LZ4_BLOCK * 2 + 12345, zlen, out_len;
	uint8_t *zeros = calloc(1, len), *z, *out;

	(void)state;
	check_roundtrip(FMT_LZ4, len, true);
	assert_non_null(zeros);
	z = pack(FMT_LZ4, zeros, len, true, &zlen);
	assert_int_equal(x86_decompress(z, zlen, &out, &out_len, len, NULL), 0);
	assert_int_equal(out_len, len);
	assert_memory_equal(out, zeros, len);
	free(out);
	free(z);
	free(zeros);
}

/* Concatenated lz4 legacy frames (the magic repeats) decode as one. */
static void test_lz4_concatenated(void **state)
{
	uint8_t *a = sample(5000, 1), *b = sample(7000, 2), *za, *zb, *cat, *out;
	size_t zalen, zblen, out_len;

	(void)state;
	za = pack(FMT_LZ4, a, 5000, false, &zalen);
	zb = pack(FMT_LZ4, b, 7000, false, &zblen);
	cat = malloc(zalen + zblen);
	assert_non_null(cat);
	memcpy(cat, za, zalen);
	memcpy(cat + zalen, zb, zblen);
	assert_int_equal(x86_decompress(cat, zalen + zblen, &out, &out_len,
					SIZE_MAX, NULL), 0);
	assert_int_equal(out_len, 12000);
	assert_memory_equal(out, a, 5000);
	assert_memory_equal(out + 5000, b, 7000);
	free(out);
	free(cat);
	free(za);
	free(zb);
	free(a);
	free(b);
}

/* Kernel payloads may carry bytes after the stream: they are ignored. */
static void test_trailing_garbage(void **state)
{
	uint8_t *data = sample(3000, 3), *z, *out;
	size_t zlen, out_len;
	enum fmt f;

	(void)state;
	for (f = 0; f < FMT_COUNT; f++) {
		if (f == FMT_LZ4)
			continue;	/* legacy lz4 has no end marker */
		z = pack(f, data, 3000, false, &zlen);
		z = realloc(z, zlen + 64);
		assert_non_null(z);
		memset(z + zlen, 0xa5, 64);
		assert_int_equal(x86_decompress(z, zlen + 64, &out, &out_len,
						SIZE_MAX, NULL), 0);
		assert_int_equal(out_len, 3000);
		assert_memory_equal(out, data, 3000);
		free(out);
		free(z);
	}
	free(data);
}

static void test_unlinked_formats(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *name;
	} cases[] = {
		{ "BZh91AY&SY\x01\x02", 12, "bzip2" },
		{ "\x5d\x00\x00\x80\x00\xff\xff", 7, "lzma" },
		{ "\x89LZO\x00\r\n\x1a\n", 9, "lzo" },
		{ "\x7f" "ELF\x02\x01\x01", 7, "unknown" },
		{ "\x00", 1, "unknown" },
		{ "", 0, "unknown" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *out = (uint8_t *)1;
		size_t out_len = 7;
		const char *name = NULL;

		assert_int_equal(x86_decompress((const uint8_t *)cases[i].bytes,
						cases[i].len, &out, &out_len,
						SIZE_MAX, &name), -ENOTSUP);
		assert_string_equal(name, cases[i].name);
		assert_null(out);
		assert_int_equal(out_len, 0);
	}
}

/*
 * Every prefix of a valid stream is an error for the self-terminating
 * formats; lz4 legacy may end cleanly at a block boundary, but never
 * produces more than the whole.
 */
static void test_truncated_every_length(void **state)
{
	uint8_t *data = sample(6000, 4), *z, *out;
	size_t zlen, out_len, cut;
	enum fmt f;

	(void)state;
	for (f = 0; f < FMT_COUNT; f++) {
		z = pack(f, data, 6000, false, &zlen);
		for (cut = 0; cut < zlen; cut++) {
			int ret = x86_decompress(z, cut, &out, &out_len, SIZE_MAX,
						 NULL);

			if (f == FMT_LZ4 && ret == 0) {
				assert_true(out_len < 6000);
				free(out);
				continue;
			}
			if (ret != -EINVAL && ret != -ENOTSUP)
				fail_msg("%s cut at %zu of %zu: ret %d",
					 fmt_names[f], cut, zlen, ret);
			assert_null(out);
		}
		free(z);
	}
	free(data);
}

/* Checksummed formats catch flipped bits; all catch a mangled header. */
static void test_corrupt(void **state)
{
	uint8_t *data = sample(50000, 5), *z, *out;
	size_t zlen, out_len;
	enum fmt f;

	(void)state;
	for (f = 0; f < FMT_COUNT; f++) {
		z = pack(f, data, 50000, false, &zlen);
		if (f == FMT_GZIP || f == FMT_XZ) {
			z[zlen / 2] ^= 0x55;
			assert_int_equal(x86_decompress(z, zlen, &out, &out_len,
							SIZE_MAX, NULL), -EINVAL);
			z[zlen / 2] ^= 0x55;
		}
		switch (f) {
		case FMT_GZIP: z[2] = 7; break;		/* method */
		case FMT_XZ: z[7] = 0x7f; break;	/* stream flags */
		case FMT_LZ4: put_le32(z + 4, 0x7fffffff); break; /* block size */
		default: z[4] = 0xff; z[5] = 0xff; break;	/* frame header */
		}
		assert_int_equal(x86_decompress(z, zlen, &out, &out_len,
						SIZE_MAX, NULL), -EINVAL);
		assert_null(out);
		free(z);
	}
	free(data);
}

/* lz4 block bytes garbled: decoder errors, never overruns. */
static void test_lz4_garbled_blocks(void **state)
{
	uint8_t *data = sample(30000, 6), *z, *out;
	size_t zlen, out_len, i;
	uint32_t seed = 99;

	(void)state;
	z = pack(FMT_LZ4, data, 30000, false, &zlen);
	for (i = 0; i < 500; i++) {
		uint8_t *copy = malloc(zlen);
		int k;

		assert_non_null(copy);
		memcpy(copy, z, zlen);
		for (k = 0; k < 8; k++) {
			seed = seed * 1103515245u + 12345u;
			copy[8 + (seed >> 8) % (zlen - 8)] ^= (uint8_t)(seed >> 24) | 1;
		}
		if (x86_decompress(copy, zlen, &out, &out_len, 40000, NULL) == 0) {
			assert_true(out_len <= 40000);
			free(out);
		}
		free(copy);
	}
	free(z);
	free(data);
}

/* 32 MiB of zeros in a few KiB: stopped at max_out, for every format. */
static void test_bomb(void **state)
{
	size_t len = 32u << 20, zlen, out_len;
	uint8_t *zeros = calloc(1, len), *z, *out;
	enum fmt f;

	(void)state;
	assert_non_null(zeros);
	for (f = 0; f < FMT_COUNT; f++) {
		z = pack(f, zeros, len, false, &zlen);
		assert_true(zlen < len / 100);
		out = (uint8_t *)1;
		assert_int_equal(x86_decompress(z, zlen, &out, &out_len, 1u << 20,
						NULL), -E2BIG);
		assert_null(out);
		/* a lying size trailer does not make it allocate more */
		z = realloc(z, zlen + 4);
		assert_non_null(z);
		put_le32(z + zlen, 0xffffffff);
		assert_int_equal(x86_decompress(z, zlen + 4, &out, &out_len,
						1u << 20, NULL), -E2BIG);
		free(z);
	}
	free(zeros);
}

/* max_out 0 allows exactly nothing. */
static void test_zero_max(void **state)
{
	uint8_t data[16] = "0123456789abcdef", *z, *out;
	size_t zlen, out_len;
	enum fmt f;

	(void)state;
	for (f = 0; f < FMT_COUNT; f++) {
		z = pack(f, data, sizeof(data), false, &zlen);
		assert_int_equal(x86_decompress(z, zlen, &out, &out_len, 0, NULL),
				 -E2BIG);
		free(z);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_lz4_multiblock),
		cmocka_unit_test(test_lz4_concatenated),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_unlinked_formats),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_lz4_garbled_blocks),
		cmocka_unit_test(test_bomb),
		cmocka_unit_test(test_zero_max),
	};

	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests_name("decompress", tests, NULL, NULL);
}
