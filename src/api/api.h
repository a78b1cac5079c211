/* SPDX-License-Identifier: MIT */
/*
 * The control API's HTTP/1.1 server on a unix socket (libmicrohttpd, loaded
 * with dlopen() when the first server starts, so plain `skiff run` start-up
 * does not pay for it and its TLS libraries). Requests are served one at a
 * time on the server's own thread; never on a vCPU thread.
 */
#ifndef SKIFF_API_API_H
#define SKIFF_API_API_H

#include <stddef.h>

/* Firecracker's limit on request bodies. */
#define API_MAX_BODY 51200
/* A client that sends nothing for this long is dropped. */
#define API_IDLE_TIMEOUT_S 10

struct api_reply {
	int status;		/* HTTP status */
	char *body;		/* malloc'd JSON, or NULL for none (204) */
};

/*
 * Serve one request: method and path as sent, body (NUL-terminated, len
 * bytes, NULL when empty). Fills reply.
 */
typedef void (*api_handler_fn)(void *opaque, const char *method, const char *path,
			       const char *body, size_t len, struct api_reply *reply);

struct api_server;

/*
 * Listen on the unix socket at path (mode 0600). A stale socket there (its
 * VM died) is replaced; a live one or a non-socket file is an error. 0, or
 * -errno with the reason in err.
 */
int api_server_start(struct api_server **out, const char *path, api_handler_fn fn,
		     void *opaque, char *err, size_t errlen);
/* Stop serving (waits for a request in progress) and remove the socket. */
void api_server_stop(struct api_server *s);

/* Build reply as {"fault_message": msg} with status. */
void api_reply_fault(struct api_reply *reply, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
