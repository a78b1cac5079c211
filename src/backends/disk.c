// SPDX-License-Identifier: MIT
/*
 * Raw disk images. Requests run on one io_uring per disk, whose eventfd
 * tells the device's I/O thread that completions are waiting. Where
 * io_uring is unavailable (kernel.io_uring_disabled, seccomp) or not
 * wanted (the API's io_engine "Sync") the same requests run synchronously
 * in disk_kick(), and the eventfd is signalled by hand, so a device cannot
 * tell the two apart.
 *
 * A request may take several steps: short transfers are resubmitted until
 * done, and zeroing falls back from one fallocate mode to another, then to
 * writing zeros, when the filesystem refuses a mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/disk.h"

#define RING_ENTRIES	128
/*
 * The completion ring holds twice the submission entries; never having
 * more requests in flight than that means no completion is ever held back
 * in the kernel's overflow list.
 */
#define MAX_INFLIGHT	(2 * RING_ENTRIES)
#define ZERO_CHUNK	(256 * 1024)
#define ZERO_ALIGN	4096
#define FALLOC_PUNCH	(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
#define FALLOC_ZERO	(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)

enum step { STEP_READV, STEP_WRITEV, STEP_FDATASYNC, STEP_FALLOCATE };

/* The backend's side of one request. */
struct disk_io {
	struct disk_req *req;
	struct disk_io *next;		/* free list or one of the queues */
	const struct iovec *iov;	/* what is left to transfer */
	unsigned int iovcnt;
	struct iovec *cur;		/* iov, when it is ours to advance */
	struct iovec *own;		/* private copy of req->iov */
	struct iovec one;		/* bounce or zero buffer */
	void *bounce;			/* aligned copy for O_DIRECT */
	uint64_t total;			/* bytes to transfer or zero */
	uint64_t done;
	int falloc_mode;		/* zeroing: next mode to try, 0 = write zeros */
	bool finished;
};

struct io_list {
	struct disk_io *head, *tail;
};

struct disk {
	int fd;
	int efd;
	bool readonly;
	bool uring;
	bool no_punch;			/* the image refused a punch hole... */
	bool no_zero_range;		/* ...or a zero range: skip it next time */
	uint64_t size;
	unsigned int dio_align;		/* O_DIRECT buffer alignment, 0 without */
	unsigned int inflight;
	struct io_uring ring;
	struct io_list queued;		/* no io_uring: waiting for disk_kick() */
	struct io_list done;		/* no io_uring: waiting for disk_reap() */
	struct io_list retry;		/* io_uring: next step found no free SQE */
	void *zeros;			/* ZERO_CHUNK zero bytes, on first need */
	struct disk_io *free;
	struct disk_io ios[MAX_INFLIGHT];
};

static void list_push(struct io_list *l, struct disk_io *io)
{
	io->next = NULL;
	if (l->tail)
		l->tail->next = io;
	else
		l->head = io;
	l->tail = io;
}

static struct disk_io *list_pop(struct io_list *l)
{
	struct disk_io *io = l->head;

	if (!io)
		return NULL;
	l->head = io->next;
	if (!l->head)
		l->tail = NULL;
	return io;
}

/* ---- opening ---- */

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static int open_error(const struct disk_opts *o, int e, char *err, size_t errlen)
{
	const char *p = o->path;

	switch (e) {
	case ENOENT:
		return fail(err, errlen, -e, "%s: no such file", p);
	case EISDIR:
		return fail(err, errlen, -e, "%s: is a directory", p);
	case EINVAL:
		if (o->cache == DISK_CACHE_NONE)
			return fail(err, errlen, -e,
				    "%s: cache=none needs O_DIRECT, which this filesystem refuses",
				    p);
		break;
	case EACCES:
	case EPERM:
	case EROFS:
		/* Readable but not writable is a fix the user can make. */
		if (!o->readonly && faccessat(AT_FDCWD, p, R_OK, AT_EACCESS) == 0)
			return fail(err, errlen, -e, "%s: not writable; use readonly=on", p);
		break;
	}
	return fail(err, errlen, -e, "%s: %s", p, strerror(e));
}

static int open_image(struct disk *d, const struct disk_opts *o, char *err, size_t errlen)
{
	/*
	 * O_NONBLOCK so that a FIFO given by mistake cannot hang the open;
	 * it is cleared once the file is known to be an image.
	 */
	int flags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

	flags |= o->readonly ? O_RDONLY : O_RDWR;
	if (o->cache == DISK_CACHE_NONE)
		flags |= O_DIRECT;
	d->fd = open(o->path, flags);
	if (d->fd < 0)
		return open_error(o, errno, err, errlen);
	return 0;
}

static int image_size(struct disk *d, const struct stat *st, const char *p,
		      char *err, size_t errlen)
{
	if (S_ISREG(st->st_mode)) {
		d->size = st->st_size;
		return 0;
	}
	if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0)
		return fail(err, errlen, -errno, "%s: cannot get the device size: %s",
			    p, strerror(errno));
	return 0;
}

static int check_image(struct disk *d, const char *p, char *err, size_t errlen)
{
	struct stat st;
	int flags, rc;

	if (fstat(d->fd, &st) < 0)
		return fail(err, errlen, -errno, "%s: %s", p, strerror(errno));
	/* open(O_RDONLY) of a directory succeeds: only fstat tells. */
	if (S_ISDIR(st.st_mode))
		return fail(err, errlen, -EISDIR, "%s: is a directory", p);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return fail(err, errlen, -EINVAL, "%s: not a regular file or block device", p);
	rc = image_size(d, &st, p, err, errlen);
	if (rc < 0)
		return rc;
	if (!d->size)
		return fail(err, errlen, -EINVAL,
			    "%s: empty image (0 bytes), a disk needs at least one sector", p);
	if (d->size % DISK_SECTOR_SIZE)
		return fail(err, errlen, -EINVAL,
			    "%s: size %" PRIu64 " is not a multiple of 512 bytes", p, d->size);
	flags = fcntl(d->fd, F_GETFL);
	if (flags < 0 || fcntl(d->fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return fail(err, errlen, -errno, "%s: %s", p, strerror(errno));
	return 0;
}

/*
 * An OFD lock belongs to the open file, not the process, so a second open
 * of the same image conflicts even inside one process, and closing the fd
 * releases it.
 */
static int lock_image(struct disk *d, const char *p, char *err, size_t errlen)
{
	struct flock fl = {
		.l_type = d->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
	};
	int e;

	if (fcntl(d->fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	e = errno;
	if (e == EAGAIN || e == EACCES)
		return fail(err, errlen, -EBUSY,
			    "%s: locked by another process (another VM is using it?)", p);
	return fail(err, errlen, -e, "%s: cannot lock: %s", p, strerror(e));
}

/*
 * O_DIRECT needs buffers, lengths and offsets aligned to the device's
 * logical block. Buffers can be bounced; offsets cannot, and requests come
 * in 512-byte sectors, so a disk with bigger blocks is refused.
 */
static int setup_direct(struct disk *d, const char *p, char *err, size_t errlen)
{
	unsigned int mem = DISK_SECTOR_SIZE, off = DISK_SECTOR_SIZE;
	struct statx stx;
	int lbs;

	if (statx(d->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		mem = stx.stx_dio_mem_align;
		off = stx.stx_dio_offset_align;
	} else if (ioctl(d->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
		mem = off = lbs;
	}
	if (off > DISK_SECTOR_SIZE)
		return fail(err, errlen, -EINVAL,
			    "%s: cache=none needs %u-byte blocks, not 512; use cache=writeback",
			    p, off);
	d->dio_align = mem > DISK_SECTOR_SIZE ? mem : DISK_SECTOR_SIZE;
	return 0;
}

/* SKIFF_DISK_NO_URING=1 forces the synchronous path; the unit tests use it. */
static bool uring_disabled(void)
{
	const char *v = getenv("SKIFF_DISK_NO_URING");

	return v && *v && strcmp(v, "0");
}

static int setup_events(struct disk *d, const struct disk_opts *o, char *err, size_t errlen)
{
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0)
		return fail(err, errlen, -errno, "%s: eventfd: %s", o->path, strerror(errno));
	if (o->sync_io || uring_disabled() ||
	    io_uring_queue_init(RING_ENTRIES, &d->ring, 0) < 0)
		return 0;
	if (io_uring_register_eventfd(&d->ring, d->efd) < 0) {
		io_uring_queue_exit(&d->ring);
		return 0;
	}
	d->uring = true;
	return 0;
}

static void disk_free(struct disk *d)
{
	if (d->uring)
		io_uring_queue_exit(&d->ring);
	if (d->efd >= 0)
		close(d->efd);
	if (d->fd >= 0)
		close(d->fd);
	free(d->zeros);
	free(d);
}

static int disk_setup(struct disk *d, const struct disk_opts *o, char *err, size_t errlen)
{
	int rc;

	rc = open_image(d, o, err, errlen);
	if (!rc)
		rc = check_image(d, o->path, err, errlen);
	if (!rc)
		rc = lock_image(d, o->path, err, errlen);
	if (!rc && o->cache == DISK_CACHE_NONE)
		rc = setup_direct(d, o->path, err, errlen);
	if (!rc)
		rc = setup_events(d, o, err, errlen);
	return rc;
}

int disk_open(struct disk **out, const struct disk_opts *o, char *err, size_t errlen)
{
	struct disk *d;
	int rc, i;

	*out = NULL;
	if (!o->path || !*o->path)
		return fail(err, errlen, -EINVAL, "disk: no image path given");
	d = calloc(1, sizeof(*d));
	if (!d)
		return fail(err, errlen, -ENOMEM, "%s: out of memory", o->path);
	d->fd = -1;
	d->efd = -1;
	d->readonly = o->readonly;
	rc = disk_setup(d, o, err, errlen);
	if (rc < 0) {
		disk_free(d);
		return rc;
	}
	for (i = MAX_INFLIGHT - 1; i >= 0; i--) {
		d->ios[i].next = d->free;
		d->free = &d->ios[i];
	}
	*out = d;
	return 0;
}

void disk_close(struct disk *d)
{
	if (!d)
		return;
	disk_drain(d, NULL, NULL);
	disk_free(d);
}

uint64_t disk_size(const struct disk *d)
{
	return d->size;
}

bool disk_readonly(const struct disk *d)
{
	return d->readonly;
}

bool disk_is_sync(const struct disk *d)
{
	return !d->uring;
}

int disk_event_fd(const struct disk *d)
{
	return d->efd;
}

unsigned int disk_inflight(const struct disk *d)
{
	return d->inflight;
}

/* ---- one request, step by step ---- */

static bool is_zeroing(const struct disk_req *r)
{
	return r->op == DISK_OP_DISCARD || r->op == DISK_OP_WRITE_ZEROES;
}

static void copy_from_iov(uint8_t *dst, const struct iovec *iov, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

static void copy_to_iov(const struct iovec *iov, unsigned int n, const uint8_t *src)
{
	for (unsigned int i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, src, iov[i].iov_len);
		src += iov[i].iov_len;
	}
}

static bool io_finish(struct disk_io *io, int64_t result)
{
	struct disk_req *r = io->req;

	if (io->bounce && r->op == DISK_OP_READ && result > 0)
		copy_to_iov(r->iov, r->iovcnt, io->bounce);
	free(io->bounce);
	free(io->own);
	io->bounce = NULL;
	io->own = NULL;
	r->result = result;
	io->finished = true;
	return true;
}

static void io_use_one(struct disk_io *io, void *buf, size_t len)
{
	io->one = (struct iovec){ .iov_base = buf, .iov_len = len };
	io->cur = &io->one;
	io->iov = &io->one;
	io->iovcnt = 1;
}

static bool iov_aligned(const struct iovec *iov, unsigned int n, unsigned int align)
{
	for (unsigned int i = 0; i < n; i++) {
		if ((uintptr_t)iov[i].iov_base % align || iov[i].iov_len % align)
			return false;
	}
	return true;
}

static void io_start_direct(struct disk *d, struct disk_io *io)
{
	struct disk_req *r = io->req;

	/* A bounce buffer fixes memory alignment, not a misaligned file range. */
	if ((r->offset | io->total) % DISK_SECTOR_SIZE) {
		io_finish(io, -EINVAL);
		return;
	}
	if (iov_aligned(r->iov, r->iovcnt, d->dio_align))
		return;
	if (posix_memalign(&io->bounce, d->dio_align, io->total)) {
		io->bounce = NULL;
		io_finish(io, -ENOMEM);
		return;
	}
	if (r->op == DISK_OP_WRITE)
		copy_from_iov(io->bounce, r->iov, r->iovcnt);
	io_use_one(io, io->bounce, io->total);
}

static void io_start_rw(struct disk *d, struct disk_io *io)
{
	const struct disk_req *r = io->req;

	for (unsigned int i = 0; i < r->iovcnt; i++) {
		if (r->iov[i].iov_len > SSIZE_MAX - io->total) {
			io_finish(io, -EINVAL);
			return;
		}
		io->total += r->iov[i].iov_len;
	}
	if (!io->total) {
		io_finish(io, 0);
		return;
	}
	if (d->dio_align)
		io_start_direct(d, io);
}

/* Deallocating modes first when the caller allows it; 0 when none is left. */
static int first_falloc_mode(const struct disk *d, const struct disk_req *r)
{
	bool unmap = r->op == DISK_OP_DISCARD || r->unmap;

	if (unmap && !d->no_punch)
		return FALLOC_PUNCH;
	if (!d->no_zero_range)
		return FALLOC_ZERO;
	if (!d->no_punch)
		return FALLOC_PUNCH;
	return 0;
}

static void io_next_zero_chunk(struct disk *d, struct disk_io *io)
{
	uint64_t left = io->total - io->done;

	io_use_one(io, d->zeros, left < ZERO_CHUNK ? left : ZERO_CHUNK);
}

static void io_start_zero_writes(struct disk *d, struct disk_io *io)
{
	io->falloc_mode = 0;
	if (!d->zeros) {
		if (posix_memalign(&d->zeros, ZERO_ALIGN, ZERO_CHUNK)) {
			d->zeros = NULL;
			io_finish(io, -ENOMEM);
			return;
		}
		memset(d->zeros, 0, ZERO_CHUNK);
	}
	io_next_zero_chunk(d, io);
}

static void io_start_zeroing(struct disk *d, struct disk_io *io)
{
	io->total = io->req->len;
	if (!io->total) {
		io_finish(io, 0);
		return;
	}
	io->falloc_mode = first_falloc_mode(d, io->req);
	if (!io->falloc_mode)
		io_start_zero_writes(d, io);
}

static void io_start(struct disk *d, struct disk_io *io, struct disk_req *r)
{
	*io = (struct disk_io){ .req = r, .iov = r->iov, .iovcnt = r->iovcnt };
	r->result = 0;
	switch (r->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		io_start_rw(d, io);
		return;
	case DISK_OP_FLUSH:
		return;
	case DISK_OP_DISCARD:
	case DISK_OP_WRITE_ZEROES:
		io_start_zeroing(d, io);
		return;
	}
	io_finish(io, -EINVAL);
}

static enum step io_step(const struct disk_io *io)
{
	switch (io->req->op) {
	case DISK_OP_READ:
		return STEP_READV;
	case DISK_OP_FLUSH:
		return STEP_FDATASYNC;
	case DISK_OP_WRITE:
		return STEP_WRITEV;
	default:
		return io->falloc_mode ? STEP_FALLOCATE : STEP_WRITEV;
	}
}

/* Move past n transferred bytes. */
static int io_advance(struct disk_io *io, uint64_t n)
{
	struct iovec *v;

	if (!io->cur) {
		/* The caller's array is const: advance a copy. */
		io->own = malloc(io->iovcnt * sizeof(*io->own));
		if (!io->own)
			return -ENOMEM;
		memcpy(io->own, io->iov, io->iovcnt * sizeof(*io->own));
		io->cur = io->own;
	}
	v = io->cur;
	while (io->iovcnt > 1 && n >= v->iov_len) {
		n -= v->iov_len;
		v++;
		io->iovcnt--;
	}
	v->iov_base = (uint8_t *)v->iov_base + n;
	v->iov_len -= n;
	io->cur = v;
	io->iov = v;
	return 0;
}

static bool io_transferred(struct disk *d, struct disk_io *io, int64_t res)
{
	if (res < 0)
		return io_finish(io, res);
	/*
	 * Requests stay inside the image, so a transfer that makes no
	 * progress means the image shrank under us: fail, never spin.
	 */
	if (!res)
		return io_finish(io, -EIO);
	io->done += res;
	if (io->done >= io->total)
		return io_finish(io, is_zeroing(io->req) ? 0 : (int64_t)io->total);
	if (is_zeroing(io->req))
		io_next_zero_chunk(d, io);
	else if (io_advance(io, res) < 0)
		return io_finish(io, -ENOMEM);
	return false;
}

static bool io_fallocated(struct disk *d, struct disk_io *io, int64_t res)
{
	if (res != -EOPNOTSUPP)
		return io_finish(io, res < 0 ? res : 0);
	if (io->falloc_mode == FALLOC_PUNCH)
		d->no_punch = true;
	else
		d->no_zero_range = true;
	io->falloc_mode = first_falloc_mode(d, io->req);
	if (!io->falloc_mode)
		io_start_zero_writes(d, io);
	return io->finished;
}

/* Account for one step's result; true when the request is finished. */
static bool io_complete(struct disk *d, struct disk_io *io, int64_t res)
{
	/* Interrupted before doing anything: take the same step again. */
	if (res == -EINTR)
		return false;
	switch (io_step(io)) {
	case STEP_FDATASYNC:
		return io_finish(io, res < 0 ? res : 0);
	case STEP_FALLOCATE:
		return io_fallocated(d, io, res);
	default:
		return io_transferred(d, io, res);
	}
}

static void io_prep(struct disk *d, struct disk_io *io, struct io_uring_sqe *sqe)
{
	const struct disk_req *r = io->req;
	uint64_t pos = r->offset + io->done;

	/* Finished at submit (bad or empty): a NOP hands it back in order. */
	if (io->finished) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, io);
		return;
	}
	switch (io_step(io)) {
	case STEP_READV:
		io_uring_prep_readv(sqe, d->fd, io->iov, io->iovcnt, pos);
		break;
	case STEP_WRITEV:
		io_uring_prep_writev(sqe, d->fd, io->iov, io->iovcnt, pos);
		break;
	case STEP_FDATASYNC:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	case STEP_FALLOCATE:
		io_uring_prep_fallocate(sqe, d->fd, io->falloc_mode, r->offset, r->len);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
}

static int64_t io_run_sync(struct disk *d, struct disk_io *io)
{
	const struct disk_req *r = io->req;
	off_t pos = r->offset + io->done;
	ssize_t ret = -1;

	switch (io_step(io)) {
	case STEP_READV:
		ret = preadv(d->fd, io->iov, io->iovcnt, pos);
		break;
	case STEP_WRITEV:
		ret = pwritev(d->fd, io->iov, io->iovcnt, pos);
		break;
	case STEP_FDATASYNC:
		ret = fdatasync(d->fd);
		break;
	case STEP_FALLOCATE:
		ret = fallocate(d->fd, io->falloc_mode, r->offset, r->len);
		break;
	}
	return ret < 0 ? -errno : ret;
}

/* ---- queues ---- */

static void hand_back(struct disk *d, struct disk_io *io,
		      void (*done)(struct disk_req *r, void *arg), void *arg)
{
	struct disk_req *r = io->req;

	/* Free the slot first, so done() may submit again. */
	io->next = d->free;
	d->free = io;
	d->inflight--;
	if (done)
		done(r, arg);
}

static struct io_uring_sqe *get_sqe(struct disk *d)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);

	if (sqe)
		return sqe;
	io_uring_submit(&d->ring);
	return io_uring_get_sqe(&d->ring);
}

static void ring_kick(struct disk *d)
{
	struct io_uring_sqe *sqe;
	int ret;

	for (;;) {
		while (d->retry.head && (sqe = io_uring_get_sqe(&d->ring)))
			io_prep(d, list_pop(&d->retry), sqe);
		ret = io_uring_submit(&d->ring);
		if (ret == -EINTR)
			continue;
		/* On an error the SQEs stay queued for the next kick. */
		if (ret <= 0 || !d->retry.head)
			return;
	}
}

static void sync_kick(struct disk *d)
{
	struct disk_io *io;
	bool any = false;

	while ((io = list_pop(&d->queued))) {
		while (!io->finished)
			io_complete(d, io, io_run_sync(d, io));
		list_push(&d->done, io);
		any = true;
	}
	if (any)
		eventfd_write(d->efd, 1);
}

int disk_submit(struct disk *d, struct disk_req *r)
{
	struct io_uring_sqe *sqe = NULL;
	struct disk_io *io = d->free;

	if (!io)
		return -EAGAIN;
	if (d->uring) {
		sqe = get_sqe(d);
		if (!sqe)
			return -EAGAIN;
	}
	d->free = io->next;
	d->inflight++;
	io_start(d, io, r);
	if (sqe)
		io_prep(d, io, sqe);
	else
		list_push(&d->queued, io);
	return 0;
}

void disk_kick(struct disk *d)
{
	if (d->uring)
		ring_kick(d);
	else
		sync_kick(d);
}

static unsigned int reap_ring(struct disk *d, void (*done)(struct disk_req *r, void *arg),
			      void *arg)
{
	struct io_uring_cqe *cqe;
	unsigned int n = 0;

	while (io_uring_peek_cqe(&d->ring, &cqe) == 0) {
		struct disk_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&d->ring, cqe);
		if (io->finished || io_complete(d, io, res)) {
			hand_back(d, io, done, arg);
			n++;
		} else {
			list_push(&d->retry, io);
		}
	}
	/* Next steps of unfinished requests go in now: nobody else kicks them. */
	if (d->retry.head)
		ring_kick(d);
	return n;
}

unsigned int disk_reap(struct disk *d, void (*done)(struct disk_req *r, void *arg),
		       void *arg)
{
	struct disk_io *io;
	unsigned int n = 0;
	eventfd_t v;

	/* Clear first: a completion after this read signals again. */
	eventfd_read(d->efd, &v);
	if (d->uring)
		return reap_ring(d, done, arg);
	while ((io = list_pop(&d->done))) {
		hand_back(d, io, done, arg);
		n++;
	}
	return n;
}

void disk_drain(struct disk *d, void (*done)(struct disk_req *r, void *arg), void *arg)
{
	struct io_uring_cqe *cqe;
	int ret;

	for (;;) {
		disk_kick(d);
		disk_reap(d, done, arg);
		if (!d->inflight)
			return;
		if (!d->uring)
			continue;
		ret = io_uring_wait_cqe(&d->ring, &cqe);
		/* Cannot fail on a live ring; if it does, do not spin. */
		if (ret < 0 && ret != -EINTR)
			return;
	}
}
