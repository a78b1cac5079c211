/* SPDX-License-Identifier: MIT */
/*
 * A minimal HTTP/1.1 client for skiff's control API on a unix socket. It
 * only ever talks to skiff's own server, so it does one request per
 * connection (Connection: close) and understands just what that server
 * sends: a status line, headers, and a Content-Length, chunked or
 * until-close body.
 */
#ifndef SKIFF_API_CLIENT_H
#define SKIFF_API_CLIENT_H

#include <stddef.h>

/* Bounds on what the client accepts; more is an error (-EMSGSIZE). */
#define API_CLIENT_MAX_HEADER	(64u << 10)	/* status line and headers */
#define API_CLIENT_MAX_BODY	(4u << 20)	/* decoded body */

struct api_response {
	int status;
	char *body;		/* NUL-terminated, malloc'd; "" when there is none */
	size_t body_len;
};

/*
 * One request on a fresh connection to the unix socket at sock_path; body
 * (JSON) may be NULL. timeout_ms bounds connect+send+receive (<= 0: no
 * bound). 0 with *resp filled in, whatever the status; or -errno, *resp
 * then empty:
 *   -ENOENT, -ECONNREFUSED	nothing listens at sock_path
 *   -ETIMEDOUT			the server did not answer in time
 *   -ECONNRESET		the server closed before a complete response
 *   -EBADMSG			the response is not HTTP/1.x as we know it
 *   -EMSGSIZE			headers or body over the limits above
 *   -EINVAL, -ENAMETOOLONG	a bad method, path or socket path
 */
int api_request(const char *sock_path, const char *method, const char *path,
		const char *body, int timeout_ms, struct api_response *resp);
/* Free the body; resp may be an empty or already freed response. */
void api_response_free(struct api_response *resp);

#endif
