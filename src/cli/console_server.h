/* SPDX-License-Identifier: MIT */
#ifndef SKIFF_CLI_CONSOLE_SERVER_H
#define SKIFF_CLI_CONSOLE_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef void (*console_input_fn)(void *opaque, const uint8_t *buf, size_t len);

struct console_server;

/*
 * Serve the console on the unix socket at path (mode 0600): bytes read
 * from out_fd (non-blocking; the guest's console output) go to the
 * attached client, and the client's bytes go to input(). 0 or -errno with
 * err filled.
 */
int console_server_start(struct console_server **out, const char *path, int out_fd,
			 console_input_fn input, void *opaque, char *err, size_t errlen);
/* Stop, pass on the output still in out_fd, close, remove the socket. */
void console_server_stop(struct console_server *s);

#endif
