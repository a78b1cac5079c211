/* SPDX-License-Identifier: MIT */
/*
 * Disk images: open, validate and lock an image file, and run asynchronous
 * I/O on it (io_uring) for a device model. Raw images today; other formats
 * plug in behind the same calls.
 *
 * One thread at a time uses a struct disk (the device's I/O thread, or a
 * vCPU thread holding the device lock during reset); it does no locking.
 */
#ifndef SKIFF_BACKENDS_DISK_H
#define SKIFF_BACKENDS_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define DISK_SECTOR_SIZE 512

enum disk_cache {
	DISK_CACHE_WRITEBACK,	/* host page cache; flush = fdatasync */
	DISK_CACHE_NONE,	/* O_DIRECT; flush = fdatasync */
};

struct disk_opts {
	const char *path;
	bool readonly;
	enum disk_cache cache;
	bool sync_io;		/* no io_uring: requests run in disk_kick() */
};

enum disk_op {
	DISK_OP_READ,		/* preadv into iov at offset */
	DISK_OP_WRITE,		/* pwritev from iov at offset */
	DISK_OP_FLUSH,		/* fdatasync: everything completed before is durable */
	DISK_OP_DISCARD,	/* punch a hole: [offset, offset+len) reads as zeros */
	DISK_OP_WRITE_ZEROES,	/* zero [offset, offset+len); unmap: punch a hole */
};

/*
 * One request, owned by the caller until it is handed back by
 * disk_reap() or disk_drain(). The caller has already checked the range
 * against disk_size() and refused writes to a read-only disk.
 */
struct disk_req {
	enum disk_op op;
	uint64_t offset;		/* bytes */
	uint64_t len;			/* bytes, DISCARD / WRITE_ZEROES only */
	const struct iovec *iov;	/* READ / WRITE only; stays valid until completion */
	unsigned int iovcnt;
	bool unmap;			/* WRITE_ZEROES: may deallocate */
	void *opaque;			/* the caller's */
	int64_t result;			/* on completion: bytes transferred (0 for
					   flush/discard/zeroes) or -errno */
};

struct disk;

/*
 * Open o->path and validate it: a regular file or block device (not a
 * directory), size a multiple of 512, writable unless o->readonly. Takes an
 * OFD lock (write lock, or read lock when read-only) so two VMs cannot
 * write one image. On failure returns -errno and writes a one-line reason
 * naming the file into err ("disk.img: is a directory", "disk.img: locked
 * by another process", ...).
 */
int disk_open(struct disk **out, const struct disk_opts *o, char *err, size_t errlen);

/* Flushes nothing: waits for in-flight requests, then releases lock and fd. */
void disk_close(struct disk *d);

uint64_t disk_size(const struct disk *d);	/* bytes, a multiple of 512 */
bool disk_readonly(const struct disk *d);
/* Requests run inside disk_kick(): io_engine "Sync", or no io_uring here. */
bool disk_is_sync(const struct disk *d);

/*
 * Queue r. Nothing reaches the kernel until disk_kick(), so a device
 * submits a whole batch with one system call. 0, or -EAGAIN when the
 * queue is full (kick, reap, retry).
 */
int disk_submit(struct disk *d, struct disk_req *r);
void disk_kick(struct disk *d);

/* Readable (an eventfd) when completions are waiting for disk_reap(). */
int disk_event_fd(const struct disk *d);

/*
 * Hand back every completed request through done(); does not block.
 * Returns how many were handed back.
 */
unsigned int disk_reap(struct disk *d, void (*done)(struct disk_req *r, void *arg),
		       void *arg);

/* Requests submitted and not yet handed back. */
unsigned int disk_inflight(const struct disk *d);

/* Block until nothing is in flight, handing each request back through done(). */
void disk_drain(struct disk *d, void (*done)(struct disk_req *r, void *arg), void *arg);

#endif
