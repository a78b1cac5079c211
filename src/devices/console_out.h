/* SPDX-License-Identifier: MIT */
/*
 * Writing guest console output to the host (a terminal, pipe or file),
 * shared by the UART and virtio-console: never blocks for long, never
 * dies of SIGPIPE, counts what it had to drop.
 */
#ifndef SKIFF_DEVICES_CONSOLE_OUT_H
#define SKIFF_DEVICES_CONSOLE_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct console_out {
	bool stalled;		/* the last write timed out: do not wait again */
	int fd_cached;		/* fd whose type needs_sigpipe_guard describes */
	bool needs_sigpipe_guard;
	uint64_t dropped;
};

void console_out_init(struct console_out *c);

/*
 * Write buf to fd, waiting for room at most 500 ms, and after one timeout
 * not at all until output moves again. What cannot be written is dropped
 * and counted. One caller at a time.
 */
void console_out_write(struct console_out *c, int fd, const uint8_t *buf, size_t len);

#endif
