// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/disk.h"
#include "tmpdir.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* Each test gets its own scratch directory. */
#define DIR_MAX 256

struct fixture {
	char dir[DIR_MAX];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx || tmpdir_make(fx->dir, sizeof(fx->dir), NULL, "disk")) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	tmpdir_remove(fx->dir);
	free(fx);
	return 0;
}

/* The same tests again on the synchronous path used without io_uring. */
static int setup_sync(void **state)
{
	setenv("SKIFF_DISK_NO_URING", "1", 1);
	return setup(state);
}

static int teardown_sync(void **state)
{
	unsetenv("SKIFF_DISK_NO_URING");
	return teardown(state);
}

#define BOTH_PATHS(f) \
	cmocka_unit_test_setup_teardown(f, setup, teardown), \
	{ #f "_sync", f, setup_sync, teardown_sync, NULL }

static void image_path(const char *dir, const char *name, char *path)
{
	snprintf(path, PATH_MAX, "%s/%s", dir, name);
}

static void make_image(const char *dir, const char *name, off_t size, char *path)
{
	int fd;

	image_path(dir, name, path);
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static struct disk *open_ok(const char *path, bool readonly, enum disk_cache cache)
{
	struct disk_opts o = { .path = path, .readonly = readonly, .cache = cache };
	struct disk *d = NULL;
	char err[256] = "";

	if (disk_open(&d, &o, err, sizeof(err)) < 0)
		fail_msg("disk_open: %s", err);
	return d;
}

/* Expect disk_open to fail with rc and a message naming path and saying why. */
static void open_fails(const char *path, bool readonly, enum disk_cache cache,
		       int rc, const char *why)
{
	struct disk_opts o = { .path = path, .readonly = readonly, .cache = cache };
	struct disk *d = (struct disk *)1;
	char err[256] = "";

	assert_int_equal(disk_open(&d, &o, err, sizeof(err)), rc);
	assert_null(d);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, why));
	assert_null(strchr(err, '\n'));
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return false;
	}
	return true;
}

static void count_done(struct disk_req *r, void *arg)
{
	(void)r;
	++*(unsigned int *)arg;
}

/* Wait on the eventfd, as a device does, until want requests came back. */
static void reap_all(struct disk *d, unsigned int want)
{
	struct pollfd pfd = { .fd = disk_event_fd(d), .events = POLLIN };
	unsigned int n = 0;

	while (n < want) {
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		disk_reap(d, count_done, &n);
	}
	assert_int_equal(n, want);
	assert_int_equal(disk_inflight(d), 0);
}

static void run(struct disk *d, struct disk_req *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(disk_submit(d, &r[i]), 0);
	assert_int_equal(disk_inflight(d), n);
	disk_kick(d);
	reap_all(d, n);
}

static int64_t run_one(struct disk *d, enum disk_op op, uint64_t offset, void *buf,
		       uint64_t len, bool unmap)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct disk_req r = { .op = op, .offset = offset, .len = len, .unmap = unmap };

	if (op == DISK_OP_READ || op == DISK_OP_WRITE) {
		r.iov = &iov;
		r.iovcnt = 1;
	}
	run(d, &r, 1);
	return r.result;
}

static blkcnt_t blocks_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_blocks;
}

static bool can_punch_holes(const char *dir)
{
	char path[PATH_MAX];
	bool ok;
	int fd;

	make_image(dir, "punch-probe", 64 * KIB, path);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	ok = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 64 * KIB) == 0;
	close(fd);
	unlink(path);
	if (!ok)
		printf("# NOTE: %s cannot punch holes: sparseness not checked\n", dir);
	return ok;
}

static bool uring_works(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(4, &ring, 0) < 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

/* ---- opening ---- */

static void test_open_missing(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];

	image_path(fx->dir, "nope.img", path);
	open_fails(path, false, DISK_CACHE_WRITEBACK, -ENOENT, "no such file");
	open_fails(path, true, DISK_CACHE_WRITEBACK, -ENOENT, "no such file");
}

static void test_open_directory(void **state)
{
	struct fixture *fx = *state;

	/* Read-only: open() succeeds on a directory, fstat must catch it. */
	open_fails(fx->dir, true, DISK_CACHE_WRITEBACK, -EISDIR, "is a directory");
	open_fails(fx->dir, false, DISK_CACHE_WRITEBACK, -EISDIR, "is a directory");
}

static void test_open_not_a_file(void **state)
{
	(void)state;
	open_fails("/dev/null", true, DISK_CACHE_WRITEBACK, -EINVAL,
		   "not a regular file or block device");
}

static void test_open_bad_size(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];

	make_image(fx->dir, "odd.img", 1000, path);
	open_fails(path, false, DISK_CACHE_WRITEBACK, -EINVAL,
		   "size 1000 is not a multiple of 512 bytes");
}

static void test_open_empty(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];

	make_image(fx->dir, "empty.img", 0, path);
	open_fails(path, true, DISK_CACHE_WRITEBACK, -EINVAL, "empty image (0 bytes)");
}

/* Runs in a child that may have dropped root. */
static int check_not_writable(const char *path)
{
	struct disk_opts o = { .path = path };
	struct disk *d = NULL;
	char err[256] = "";
	int rc;

	rc = disk_open(&d, &o, err, sizeof(err));
	if (rc != -EACCES || !strstr(err, path) ||
	    !strstr(err, "not writable; use readonly=on")) {
		fprintf(stderr, "rc %d: %s\n", rc, err);
		return 1;
	}
	o.readonly = true;
	rc = disk_open(&d, &o, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "readonly: %s\n", err);
		return 1;
	}
	disk_close(d);
	return 0;
}

/*
 * Root opens a 0444 file read-write anyway, so as root the check runs in
 * a child that became nobody.
 */
static void test_open_not_writable(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	int status;
	pid_t pid;

	make_image(fx->dir, "ro.img", 64 * KIB, path);
	assert_int_equal(chmod(path, 0444), 0);
	if (geteuid() != 0) {
		assert_int_equal(check_not_writable(path), 0);
		return;
	}
	assert_int_equal(chmod(fx->dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		if (setgid(65534) || setuid(65534))
			_exit(77);
		_exit(check_not_writable(path));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		printf("# NOTE: cannot drop root: not-writable message not checked\n");
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_lock_conflict(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	struct disk *d;

	make_image(fx->dir, "lock.img", 64 * KIB, path);
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	/* OFD locks conflict inside one process too. */
	open_fails(path, false, DISK_CACHE_WRITEBACK, -EBUSY,
		   "locked by another process (another VM is using it?)");
	open_fails(path, true, DISK_CACHE_WRITEBACK, -EBUSY, "locked by another process");
	disk_close(d);
	/* Closing released the lock. */
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	disk_close(d);
}

static void test_lock_shared_readonly(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	struct disk *a, *b;

	make_image(fx->dir, "shared.img", 64 * KIB, path);
	a = open_ok(path, true, DISK_CACHE_WRITEBACK);
	b = open_ok(path, true, DISK_CACHE_WRITEBACK);
	assert_true(disk_readonly(a));
	assert_int_equal(disk_size(b), 64 * KIB);
	open_fails(path, false, DISK_CACHE_WRITEBACK, -EBUSY, "locked by another process");
	disk_close(a);
	disk_close(b);
}

/* ---- I/O ---- */

#define NREQ 16
#define REQ_BYTES 8192

static void split(struct iovec *iov, uint8_t *buf, const size_t *lens)
{
	for (int i = 0; i < 3; i++) {
		iov[i] = (struct iovec){ .iov_base = buf, .iov_len = lens[i] };
		buf += lens[i];
	}
}

static void check_file(const char *path, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, len, 0), len);
	assert_memory_equal(got, want, len);
	close(fd);
	free(got);
}

/* 16 three-piece writes in one batch, then reads split differently. */
static void test_rw_batch(void **state)
{
	static const size_t wlens[3] = { 1000, 3000, 4192 }, rlens[3] = { 4096, 1, 4095 };
	struct fixture *fx = *state;
	struct iovec wiov[NREQ][3], riov[NREQ][3];
	struct disk_req req[NREQ];
	uint8_t *wbuf = malloc(NREQ * REQ_BYTES), *rbuf = calloc(1, NREQ * REQ_BYTES);
	char path[PATH_MAX];
	struct disk *d;

	make_image(fx->dir, "rw.img", NREQ * REQ_BYTES, path);
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	assert_int_equal(disk_size(d), NREQ * REQ_BYTES);
	assert_false(disk_readonly(d));
	fill(wbuf, NREQ * REQ_BYTES, 1);
	for (int i = 0; i < NREQ; i++) {
		split(wiov[i], wbuf + i * REQ_BYTES, wlens);
		req[i] = (struct disk_req){ .op = DISK_OP_WRITE, .offset = i * REQ_BYTES,
					    .iov = wiov[i], .iovcnt = 3, .result = -1 };
	}
	run(d, req, NREQ);
	for (int i = 0; i < NREQ; i++)
		assert_int_equal(req[i].result, REQ_BYTES);
	for (int i = 0; i < NREQ; i++) {
		int j = NREQ - 1 - i;	/* submitted in the other order */

		split(riov[j], rbuf + j * REQ_BYTES, rlens);
		req[i] = (struct disk_req){ .op = DISK_OP_READ, .offset = j * REQ_BYTES,
					    .iov = riov[j], .iovcnt = 3, .result = -1 };
	}
	run(d, req, NREQ);
	for (int i = 0; i < NREQ; i++)
		assert_int_equal(req[i].result, REQ_BYTES);
	assert_memory_equal(rbuf, wbuf, NREQ * REQ_BYTES);
	disk_close(d);
	check_file(path, wbuf, NREQ * REQ_BYTES);
	free(wbuf);
	free(rbuf);
}

static void test_flush(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[4096];
	char path[PATH_MAX];
	struct disk *d;

	make_image(fx->dir, "flush.img", 64 * KIB, path);
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	fill(buf, sizeof(buf), 2);
	assert_int_equal(run_one(d, DISK_OP_WRITE, 4096, buf, sizeof(buf), false), 4096);
	assert_int_equal(run_one(d, DISK_OP_FLUSH, 0, NULL, 0, false), 0);
	disk_close(d);
	d = open_ok(path, true, DISK_CACHE_WRITEBACK);
	assert_int_equal(run_one(d, DISK_OP_FLUSH, 0, NULL, 0, false), 0);
	disk_close(d);
}

/* Write 3 MiB of data at 1 MiB into a 5 MiB image. */
static struct disk *data_image(const char *dir, char *path, uint8_t **data)
{
	struct disk *d;

	make_image(dir, "zero.img", 5 * MIB, path);
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	*data = malloc(3 * MIB);
	fill(*data, 3 * MIB, 3);
	assert_int_equal(run_one(d, DISK_OP_WRITE, MIB, *data, 3 * MIB, false), 3 * MIB);
	assert_int_equal(run_one(d, DISK_OP_FLUSH, 0, NULL, 0, false), 0);
	return d;
}

/* [MIB + off, MIB + off + MIB) reads as zeros, the rest of the data is intact. */
static void check_zeroed(struct disk *d, const uint8_t *data, uint64_t off)
{
	uint8_t *got = malloc(3 * MIB);

	assert_int_equal(run_one(d, DISK_OP_READ, MIB, got, 3 * MIB, false), 3 * MIB);
	assert_memory_equal(got, data, off);
	assert_true(all_zero(got + off, MIB));
	assert_memory_equal(got + off + MIB, data + off + MIB, 2 * MIB - off);
	free(got);
}

static void test_discard(void **state)
{
	struct fixture *fx = *state;
	bool holes = can_punch_holes(fx->dir);
	char path[PATH_MAX];
	blkcnt_t before;
	uint8_t *data;
	struct disk *d;

	d = data_image(fx->dir, path, &data);
	before = blocks_of(path);
	assert_int_equal(run_one(d, DISK_OP_DISCARD, 2 * MIB, NULL, MIB, false), 0);
	check_zeroed(d, data, MIB);
	if (holes)
		assert_true(before - blocks_of(path) >= MIB / 512);
	disk_close(d);
	free(data);
}

static void check_write_zeroes(const char *dir)
{
	bool holes = can_punch_holes(dir);
	char path[PATH_MAX];
	blkcnt_t before;
	uint8_t *data;
	struct disk *d;

	d = data_image(dir, path, &data);
	assert_int_equal(run_one(d, DISK_OP_WRITE_ZEROES, MIB, NULL, MIB, false), 0);
	check_zeroed(d, data, 0);
	memset(data, 0, MIB);
	before = blocks_of(path);
	assert_int_equal(run_one(d, DISK_OP_WRITE_ZEROES, 3 * MIB, NULL, MIB, true), 0);
	check_zeroed(d, data, 2 * MIB);
	if (holes)
		assert_true(before - blocks_of(path) >= MIB / 512);
	disk_close(d);
	free(data);
}

/*
 * Also on tmpfs, which has no FALLOC_FL_ZERO_RANGE: zeroing without unmap
 * falls back to punching a hole.
 */
static void test_write_zeroes(void **state)
{
	struct fixture *fx = *state;
	char shm[DIR_MAX];
	struct statfs sfs;

	check_write_zeroes(fx->dir);
	if (statfs("/dev/shm", &sfs) || sfs.f_type != TMPFS_MAGIC ||
	    tmpdir_make(shm, sizeof(shm), "/dev/shm", "disk")) {
		printf("# NOTE: no tmpfs at /dev/shm: zero-range fallback not checked\n");
		return;
	}
	check_write_zeroes(shm);
	tmpdir_remove(shm);
}

static void direct_io(struct disk *d)
{
	static const size_t lens[3] = { 100, 412, 1024 };
	uint8_t *raw = malloc(2 * 1536 + 1), *odd = raw + 1, *back = odd + 1536;
	uint8_t *aligned = NULL;
	struct iovec w[3], r[3];
	struct disk_req req[2] = {
		{ .op = DISK_OP_WRITE, .offset = 8192, .iov = w, .iovcnt = 3 },
		{ .op = DISK_OP_READ, .offset = 8192, .iov = r, .iovcnt = 3 },
	};

	/* Unaligned memory and pieces: bounced. */
	fill(odd, 1536, 4);
	split(w, odd, lens);
	split(r, back, lens);
	run(d, &req[0], 1);
	assert_int_equal(req[0].result, 1536);
	run(d, &req[1], 1);
	assert_int_equal(req[1].result, 1536);
	assert_memory_equal(back, odd, 1536);
	/* Aligned: straight through, and sees what the bounce wrote. */
	assert_int_equal(posix_memalign((void **)&aligned, 4096, 4096), 0);
	assert_int_equal(run_one(d, DISK_OP_READ, 8192, aligned, 4096, false), 4096);
	assert_memory_equal(aligned, odd, 1536);
	/* Bouncing cannot fix a file offset or length off the sector grid. */
	assert_int_equal(run_one(d, DISK_OP_READ, 100, aligned, 512, false), -EINVAL);
	assert_int_equal(run_one(d, DISK_OP_WRITE, 0, aligned, 100, false), -EINVAL);
	free(aligned);
	free(raw);
}

static void test_direct_unaligned(void **state)
{
	struct fixture *fx = *state;
	struct disk_opts o = { .cache = DISK_CACHE_NONE };
	char path[PATH_MAX], err[256] = "";
	struct disk *d;
	int rc;

	make_image(fx->dir, "direct.img", 64 * KIB, path);
	o.path = path;
	rc = disk_open(&d, &o, err, sizeof(err));
	if (rc == -EINVAL) {
		printf("# NOTE: %s has no O_DIRECT: only its error checked\n", fx->dir);
		assert_non_null(strstr(err, "cache=none needs O_DIRECT"));
		return;
	}
	assert_int_equal(rc, 0);
	direct_io(d);
	disk_close(d);
}

/* A read running off the end stops with -EIO instead of looping. */
static void test_read_past_eof(void **state)
{
	static const size_t lens[3] = { 1000, 3000, 96 };
	struct fixture *fx = *state;
	uint8_t buf[4096];
	struct iovec iov[3];
	struct disk_req r = { .op = DISK_OP_READ, .offset = 2048, .iov = iov, .iovcnt = 3 };
	char path[PATH_MAX];
	struct disk *d;

	make_image(fx->dir, "eof.img", 4096, path);
	d = open_ok(path, true, DISK_CACHE_WRITEBACK);
	split(iov, buf, lens);
	run(d, &r, 1);
	assert_int_equal(r.result, -EIO);
	disk_close(d);
}

/* Empty transfers complete at once; an unknown operation is refused. */
static void test_odd_requests(void **state)
{
	struct fixture *fx = *state;
	struct disk_req r[3] = {
		{ .op = DISK_OP_READ, .result = -1 },
		{ .op = DISK_OP_WRITE_ZEROES, .offset = 512, .result = -1 },
		{ .op = (enum disk_op)99 },
	};
	char path[PATH_MAX];
	struct disk *d;

	make_image(fx->dir, "odd.img", 4096, path);
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	run(d, r, 3);
	assert_int_equal(r[0].result, 0);
	assert_int_equal(r[1].result, 0);
	assert_int_equal(r[2].result, -EINVAL);
	disk_close(d);
}

/* Submitted but never kicked: disk_drain still hands everything back. */
static void test_drain(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[8][512];
	struct iovec iov[8];
	struct disk_req r[8];
	char path[PATH_MAX];
	unsigned int n = 0;
	struct disk *d;

	make_image(fx->dir, "drain.img", 64 * KIB, path);
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	for (int i = 0; i < 8; i++) {
		fill(buf[i], 512, i);
		iov[i] = (struct iovec){ .iov_base = buf[i], .iov_len = 512 };
		r[i] = (struct disk_req){ .op = DISK_OP_WRITE, .offset = i * 512,
					  .iov = &iov[i], .iovcnt = 1, .result = -1 };
		assert_int_equal(disk_submit(d, &r[i]), 0);
	}
	disk_drain(d, count_done, &n);
	assert_int_equal(n, 8);
	assert_int_equal(disk_inflight(d), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(r[i].result, 512);
	disk_close(d);
}

/* The queue fills up with -EAGAIN, and takes requests again once drained. */
static void test_queue_full(void **state)
{
	struct fixture *fx = *state;
	static struct disk_req r[4096];
	uint8_t buf[512] = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	unsigned int n = 0, back = 0;
	char path[PATH_MAX];
	struct disk *d;
	int rc = 0;

	make_image(fx->dir, "full.img", 64 * KIB, path);
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	while (n < 4096) {
		r[n] = (struct disk_req){ .op = DISK_OP_WRITE, .offset = (n % 128) * 512,
					  .iov = &iov, .iovcnt = 1 };
		rc = disk_submit(d, &r[n]);
		if (rc)
			break;
		n++;
	}
	assert_int_equal(rc, -EAGAIN);
	assert_true(n >= 128);
	assert_int_equal(disk_inflight(d), n);
	disk_drain(d, count_done, &back);
	assert_int_equal(back, n);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(r[i].result, 512);
	assert_int_equal(disk_submit(d, &r[0]), 0);
	disk_close(d);
}

/* Closing with requests in flight waits for them and leaks nothing. */
static void test_close_inflight(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[4096];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct disk_req r[4];
	char path[PATH_MAX];
	struct disk *d;

	make_image(fx->dir, "close.img", 64 * KIB, path);
	d = open_ok(path, false, DISK_CACHE_WRITEBACK);
	fill(buf, sizeof(buf), 5);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct disk_req){ .op = DISK_OP_WRITE, .offset = i * 4096,
					  .iov = &iov, .iovcnt = 1 };
		assert_int_equal(disk_submit(d, &r[i]), 0);
	}
	disk_kick(d);
	disk_close(d);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r[i].result, 4096);
}

/*
 * io_uring only (the synchronous path finishes inside disk_kick): a read
 * comes back short at the end of the file, the file grows, and the
 * resubmitted rest of the read picks up the new data.
 */
static void test_short_read_resubmit(void **state)
{
	static const size_t lens[3] = { 1000, 5000, 2192 };
	struct fixture *fx = *state;
	uint8_t want[8192], got[8192] = { 0 };
	struct iovec iov[3];
	struct disk_req r = { .op = DISK_OP_READ, .iov = iov, .iovcnt = 3, .result = -1 };
	struct pollfd pfd = { .events = POLLIN };
	char path[PATH_MAX];
	unsigned int n = 0;
	struct disk *d;
	int fd;

	make_image(fx->dir, "grow.img", 4096, path);
	fill(want, sizeof(want), 6);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_int_equal(pwrite(fd, want, 4096, 0), 4096);
	d = open_ok(path, true, DISK_CACHE_WRITEBACK);
	split(iov, got, lens);
	assert_int_equal(disk_submit(d, &r), 0);
	disk_kick(d);
	pfd.fd = disk_event_fd(d);
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(pwrite(fd, want + 4096, 4096, 4096), 4096);
	assert_int_equal(disk_reap(d, count_done, &n), 0);
	assert_int_equal(disk_inflight(d), 1);
	reap_all(d, 1);
	assert_int_equal(r.result, 8192);
	assert_memory_equal(got, want, sizeof(want));
	disk_close(d);
	close(fd);
}

/*
 * The API's io_engine "Sync": the request is done inside disk_kick(),
 * before any reap; on io_uring it would still be in the ring.
 */
static void test_sync_io_option(void **state)
{
	struct fixture *fx = *state;
	uint8_t want[4096], got[4096] = { 0 };
	struct iovec iov = { got, sizeof(got) };
	struct disk_req r = { .op = DISK_OP_READ, .iov = &iov, .iovcnt = 1, .result = -1 };
	char path[PATH_MAX], err[256] = "";
	struct disk_opts o = { .path = path, .sync_io = true };
	struct disk *d = NULL;
	int fd;

	make_image(fx->dir, "sync.img", 8192, path);
	fill(want, sizeof(want), 9);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_int_equal(pwrite(fd, want, sizeof(want), 4096), sizeof(want));
	close(fd);
	if (disk_open(&d, &o, err, sizeof(err)) < 0)
		fail_msg("disk_open: %s", err);
	r.offset = 4096;
	assert_int_equal(disk_submit(d, &r), 0);
	disk_kick(d);
	assert_int_equal(r.result, sizeof(got));
	assert_memory_equal(got, want, sizeof(want));
	reap_all(d, 1);
	disk_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_not_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_not_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_shared_readonly, setup, teardown),
		BOTH_PATHS(test_rw_batch),
		BOTH_PATHS(test_flush),
		BOTH_PATHS(test_discard),
		BOTH_PATHS(test_write_zeroes),
		BOTH_PATHS(test_direct_unaligned),
		BOTH_PATHS(test_read_past_eof),
		BOTH_PATHS(test_odd_requests),
		BOTH_PATHS(test_drain),
		BOTH_PATHS(test_queue_full),
		BOTH_PATHS(test_close_inflight),
		cmocka_unit_test_setup_teardown(test_sync_io_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_read_resubmit, setup, teardown),
	};
	const size_t n = sizeof(tests) / sizeof(tests[0]);
	bool uring = uring_works();
	int failed;

	/*
	 * cmocka 1.1.5 reports skip() as "not ok", which the runner counts
	 * as a failure: without io_uring the last test is left out and its
	 * skip reported here.
	 */
	if (!uring)
		printf("# NOTE: no io_uring here: every run takes the synchronous path\n");
	failed = _cmocka_run_group_tests("test_disk", tests, uring ? n : n - 1, NULL, NULL);
	if (!uring)
		printf("ok %zu - test_short_read_resubmit # SKIP io_uring unavailable\n", n);
	return failed;
}
