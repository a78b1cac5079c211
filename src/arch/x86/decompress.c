// SPDX-License-Identifier: MIT
/*
 * Host-side decompression of Linux kernel payloads (the piggy inside a
 * bzImage). Each decoder writes into a growing buffer that is never allowed
 * to exceed max_out + 1 bytes, so a decompression bomb costs at most that
 * much memory and ends in -E2BIG.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "arch/x86/boot.h"

#define LZ4_LEGACY_MAGIC	0x184c2102u
#define LZ4_LEGACY_BLOCK	(8u << 20)	/* uncompressed bytes per block */
#define XZ_MEMLIMIT		(256ULL << 20)	/* kernel xz uses <= 64 MiB dicts */
#define OUTBUF_MIN		(64u << 10)
#define HINT_MAX_RATIO		32

struct outbuf {
	uint8_t *buf;
	size_t len;		/* bytes produced */
	size_t cap;		/* bytes allocated */
	size_t limit;		/* max_out + 1: reaching it means too big */
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * Start with a guess: the kernel build appends the uncompressed size as a
 * 32-bit trailer (gzip's ISIZE is the same thing), so use it when it looks
 * plausible. A wrong guess only costs a realloc.
 */
static int outbuf_init(struct outbuf *ob, const uint8_t *in, size_t in_len,
		       size_t max_out)
{
	size_t guess = OUTBUF_MIN;

	ob->limit = max_out == SIZE_MAX ? SIZE_MAX : max_out + 1;
	if (in_len >= 4) {
		size_t hint = le32(in + in_len - 4);

		/* Kernels compress 3-5x; a wild trailer is not trusted. */
		if (hint >= in_len && hint / HINT_MAX_RATIO <= in_len &&
		    ob->limit > OUTBUF_MIN && hint < ob->limit - OUTBUF_MIN)
			guess = hint + OUTBUF_MIN;
	}
	if (guess > ob->limit)
		guess = ob->limit;
	ob->buf = malloc(guess);
	if (!ob->buf)
		return -ENOMEM;
	ob->len = 0;
	ob->cap = guess;
	return 0;
}

/* Make room for at least one more byte; -E2BIG once the limit is hit. */
static int outbuf_grow(struct outbuf *ob)
{
	size_t cap;
	uint8_t *p;

	if (ob->cap >= ob->limit)
		return -E2BIG;
	cap = ob->cap > ob->limit / 2 ? ob->limit : ob->cap * 2;
	p = realloc(ob->buf, cap);
	if (!p)
		return -ENOMEM;
	ob->buf = p;
	ob->cap = cap;
	return 0;
}

static int do_gzip(const uint8_t *in, size_t in_len, struct outbuf *ob)
{
	z_stream zs;
	size_t in_pos = 0;
	int ret = 0, zret;

	memset(&zs, 0, sizeof(zs));
	/* 16 + MAX_WBITS: gzip wrapper only */
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	for (;;) {
		size_t in_chunk = in_len - in_pos, out_chunk;

		if (ob->len == ob->cap) {
			ret = outbuf_grow(ob);
			if (ret)
				break;
		}
		/* zlib counts in uInt: feed at most UINT_MAX at a time */
		if (in_chunk > UINT_MAX)
			in_chunk = UINT_MAX;
		out_chunk = ob->cap - ob->len;
		if (out_chunk > UINT_MAX)
			out_chunk = UINT_MAX;
		zs.next_in = (Bytef *)(in + in_pos);
		zs.avail_in = (uInt)in_chunk;
		zs.next_out = ob->buf + ob->len;
		zs.avail_out = (uInt)out_chunk;
		zret = inflate(&zs, Z_NO_FLUSH);
		in_pos += in_chunk - zs.avail_in;
		ob->len += out_chunk - zs.avail_out;
		if (zret == Z_STREAM_END)
			break;
		if (zret == Z_MEM_ERROR) {
			ret = -ENOMEM;
			break;
		}
		if (zret != Z_OK && zret != Z_BUF_ERROR) {
			ret = -EINVAL;	/* Z_DATA_ERROR, Z_NEED_DICT, ... */
			break;
		}
		/* No output room left is fine; no input left is truncation. */
		if (zs.avail_out != 0 && in_pos == in_len) {
			ret = -EINVAL;
			break;
		}
	}
	inflateEnd(&zs);
	return ret;
}

static int do_xz(const uint8_t *in, size_t in_len, struct outbuf *ob)
{
	lzma_stream xs = LZMA_STREAM_INIT;
	lzma_ret lret;
	int ret = 0;

	/* No LZMA_CONCATENATED: stop after the first stream, ignore trailers. */
	lret = lzma_stream_decoder(&xs, XZ_MEMLIMIT, 0);
	if (lret != LZMA_OK)
		return lret == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
	xs.next_in = in;
	xs.avail_in = in_len;
	for (;;) {
		if (ob->len == ob->cap) {
			ret = outbuf_grow(ob);
			if (ret)
				break;
		}
		xs.next_out = ob->buf + ob->len;
		xs.avail_out = ob->cap - ob->len;
		lret = lzma_code(&xs, LZMA_FINISH);
		ob->len = ob->cap - xs.avail_out;
		if (lret == LZMA_STREAM_END)
			break;
		if (lret == LZMA_MEM_ERROR) {
			ret = -ENOMEM;
			break;
		}
		if (lret == LZMA_OK)
			continue;
		/* BUF_ERROR with a full buffer just wants more room. */
		if (lret == LZMA_BUF_ERROR && xs.avail_out == 0)
			continue;
		ret = -EINVAL;	/* data, format, options, memlimit, truncation */
		break;
	}
	lzma_end(&xs);
	return ret;
}

/*
 * lz4 "legacy" frame, as made by `lz4 -l`: magic, then blocks of
 * [le32 compressed size][data] each inflating to at most 8 MiB. There is no
 * end marker; the kernel build appends a 4-byte size trailer, and the magic
 * may repeat where frames were concatenated.
 */
static int lz4_block(const uint8_t *src, uint32_t csize, struct outbuf *ob)
{
	/* LZ4 inflates at most 255x: no need to make room for 8 MiB always. */
	size_t need = (size_t)csize * 256 + 64, room;
	uint8_t *scratch;
	int n, ret;

	if (need > LZ4_LEGACY_BLOCK)
		need = LZ4_LEGACY_BLOCK;
	while (ob->cap - ob->len < need && ob->cap < ob->limit) {
		ret = outbuf_grow(ob);
		if (ret)
			return ret;
	}
	room = ob->cap - ob->len < need ? ob->cap - ob->len : need;
	n = LZ4_decompress_safe((const char *)src, (char *)ob->buf + ob->len,
				(int)csize, (int)room);
	if (n >= 0) {
		ob->len += (size_t)n;
		return 0;
	}
	if (room == need)
		return -EINVAL;
	/* Short of room only because of max_out: too big, or corrupt? */
	scratch = malloc(need);
	if (!scratch)
		return -ENOMEM;
	n = LZ4_decompress_safe((const char *)src, (char *)scratch, (int)csize,
				(int)need);
	free(scratch);
	return n >= 0 ? -E2BIG : -EINVAL;
}

static int do_lz4(const uint8_t *in, size_t in_len, struct outbuf *ob)
{
	size_t pos = 4;
	unsigned int blocks = 0;
	int ret;

	while (in_len - pos >= 4) {
		uint32_t csize = le32(in + pos);

		if (csize == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		/* The kernel's trailer: exactly the total output size. */
		if (in_len - pos == 4 && blocks > 0 && csize == (uint32_t)ob->len)
			break;
		pos += 4;
		if (csize == 0 ||
		    csize > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK) ||
		    csize > in_len - pos)
			return -EINVAL;
		ret = lz4_block(in + pos, csize, ob);
		if (ret)
			return ret;
		pos += csize;
		blocks++;
	}
	return blocks ? 0 : -EINVAL;	/* a magic and nothing else */
}

static int do_zstd(const uint8_t *in, size_t in_len, struct outbuf *ob)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { in, in_len, 0 };
	int ret = 0;

	if (!dctx)
		return -ENOMEM;
	for (;;) {
		ZSTD_outBuffer obuf;
		size_t zret;

		if (ob->len == ob->cap) {
			ret = outbuf_grow(ob);
			if (ret)
				break;
		}
		obuf.dst = ob->buf;
		obuf.size = ob->cap;
		obuf.pos = ob->len;
		zret = ZSTD_decompressStream(dctx, &obuf, &ib);
		ob->len = obuf.pos;
		if (ZSTD_isError(zret)) {
			ret = ZSTD_getErrorCode(zret) == ZSTD_error_memory_allocation ?
			      -ENOMEM : -EINVAL;
			break;
		}
		if (zret == 0)
			break;	/* first frame complete; ignore what follows */
		/* Input used up and output not full: the frame is cut short. */
		if (ib.pos == ib.size && obuf.pos < obuf.size) {
			ret = -EINVAL;
			break;
		}
	}
	ZSTD_freeDCtx(dctx);
	return ret;
}

typedef int (*decoder_fn)(const uint8_t *in, size_t in_len, struct outbuf *ob);

struct payload_magic {
	const char *name;
	const uint8_t *magic;
	size_t magic_len;
	decoder_fn decode;	/* NULL: recognised but not linked */
};

static const struct payload_magic payload_magics[] = {
	{ "gzip",  (const uint8_t *)"\x1f\x8b", 2, do_gzip },
	{ "xz",    (const uint8_t *)"\xfd" "7zXZ\0", 6, do_xz },
	{ "lz4",   (const uint8_t *)"\x02\x21\x4c\x18", 4, do_lz4 },
	{ "zstd",  (const uint8_t *)"\x28\xb5\x2f\xfd", 4, do_zstd },
	{ "bzip2", (const uint8_t *)"BZh", 3, NULL },
	{ "lzma",  (const uint8_t *)"\x5d\x00\x00", 3, NULL },
	{ "lzo",   (const uint8_t *)"\x89LZO", 4, NULL },
};

int x86_decompress(const uint8_t *in, size_t in_len, uint8_t **out,
		   size_t *out_len, size_t max_out, const char **format_name)
{
	const struct payload_magic *pm = NULL;
	struct outbuf ob;
	size_t i;
	int ret;

	*out = NULL;
	*out_len = 0;
	if (format_name)
		*format_name = "unknown";
	for (i = 0; i < sizeof(payload_magics) / sizeof(payload_magics[0]); i++) {
		const struct payload_magic *m = &payload_magics[i];

		if (in_len >= m->magic_len && !memcmp(in, m->magic, m->magic_len)) {
			pm = m;
			break;
		}
	}
	if (!pm)
		return -ENOTSUP;
	if (format_name)
		*format_name = pm->name;
	if (!pm->decode)
		return -ENOTSUP;

	ret = outbuf_init(&ob, in, in_len, max_out);
	if (ret)
		return ret;
	ret = pm->decode(in, in_len, &ob);
	if (!ret && ob.len > max_out)
		ret = -E2BIG;
	if (ret) {
		free(ob.buf);
		return ret;
	}
	*out = ob.buf;
	*out_len = ob.len;
	return 0;
}
