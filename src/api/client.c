// SPDX-License-Identifier: MIT
/*
 * HTTP/1.1 over a unix socket, one request per connection. Hand-written
 * rather than libcurl: it only talks to skiff's own server, and libcurl
 * would load a TLS stack into every `skiff ls`. Every wait is bounded by
 * one deadline, and the response is read through a fixed window, so a
 * broken or hostile server costs at most the timeout and the size limits.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"

struct conn {
	int fd;
	int64_t deadline_ms;	/* CLOCK_MONOTONIC; < 0: none */
	/* Receive window: bytes [pos, len) are read but not yet consumed. */
	char buf[API_CLIENT_MAX_HEADER];
	size_t pos, len;
	size_t scanned;		/* bytes after pos already searched for '\n' */
};

struct body {
	char *data;
	size_t len, cap;
};

/* What the headers say about the body. */
struct framing {
	bool chunked;
	bool has_length;
	uint64_t length;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left for poll(): -1 for no deadline, 0 once it has passed. */
static int remaining_ms(const struct conn *c)
{
	int64_t left;

	if (c->deadline_ms < 0)
		return -1;
	left = c->deadline_ms - now_ms();
	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static int wait_fd(struct conn *c, short events)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int left, ret;

	for (;;) {
		left = remaining_ms(c);
		if (left == 0)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, left);
		if (ret > 0)
			return 0;	/* ready, or POLLHUP/POLLERR: the next call says */
		if (ret == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int sleep_a_little(struct conn *c)
{
	struct timespec ts = { 0, 5 * 1000000 };
	int left = remaining_ms(c);

	if (left == 0)
		return -ETIMEDOUT;
	if (left > 0 && left < 5)
		ts.tv_nsec = left * 1000000L;
	nanosleep(&ts, NULL);
	return 0;
}

static int conn_connect(struct conn *c, const char *sock_path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t errlen = sizeof(int);
	int err, ret;

	if (strlen(sock_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, sock_path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -errno;
	for (;;) {
		if (!connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)))
			return 0;
		if (errno == EINPROGRESS)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		/* The listener's backlog is full: the server is busy. */
		ret = sleep_a_little(c);
		if (ret)
			return ret;
	}
	ret = wait_fd(c, POLLOUT);
	if (ret)
		return ret;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
		return -errno;
	return -err;
}

static int conn_send(struct conn *c, const char *data, size_t len)
{
	ssize_t n;
	int ret;

	while (len) {
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		ret = wait_fd(c, POLLOUT);
		if (ret)
			return ret;
	}
	return 0;
}

/* Read more into the window: 0, -ECONNRESET at end of stream, or -errno. */
static int conn_fill(struct conn *c)
{
	ssize_t n;
	int ret;

	if (c->pos) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	if (c->len == sizeof(c->buf))
		return -EMSGSIZE;	/* one line longer than the window */
	for (;;) {
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n > 0) {
			c->len += n;
			return 0;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		ret = wait_fd(c, POLLIN);
		if (ret)
			return ret;
	}
}

/*
 * The next line, without its CRLF (a bare LF is taken too), NUL-terminated
 * inside the window: valid until the next read. A NUL byte in it is garbage.
 */
static int read_line(struct conn *c, char **line)
{
	char *start, *nl;
	int ret;

	for (;;) {
		start = c->buf + c->pos;
		nl = memchr(start + c->scanned, '\n', c->len - c->pos - c->scanned);
		if (nl)
			break;
		c->scanned = c->len - c->pos;
		ret = conn_fill(c);
		if (ret)
			return ret;
	}
	c->pos = nl + 1 - c->buf;
	c->scanned = 0;
	if (nl > start && nl[-1] == '\r')
		nl--;
	*nl = '\0';
	if (memchr(start, '\0', nl - start))
		return -EBADMSG;
	*line = start;
	return 0;
}

static int body_append(struct body *b, const char *data, size_t len)
{
	size_t cap;
	char *p;

	if (len > API_CLIENT_MAX_BODY - b->len)
		return -EMSGSIZE;
	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 1024;
		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* Move n body bytes from the connection to b. */
static int read_body_bytes(struct conn *c, uint64_t n, struct body *b)
{
	size_t take;
	int ret;

	if (n > API_CLIENT_MAX_BODY - b->len)
		return -EMSGSIZE;
	while (n) {
		if (c->pos == c->len) {
			ret = conn_fill(c);
			if (ret)
				return ret;
		}
		take = c->len - c->pos < n ? c->len - c->pos : n;
		ret = body_append(b, c->buf + c->pos, take);
		if (ret)
			return ret;
		c->pos += take;
		n -= take;
	}
	c->scanned = 0;
	return 0;
}

static int read_body_until_close(struct conn *c, struct body *b)
{
	int ret;

	for (;;) {
		ret = body_append(b, c->buf + c->pos, c->len - c->pos);
		if (ret)
			return ret;
		c->pos = c->len;
		ret = conn_fill(c);
		if (ret == -ECONNRESET)
			return 0;
		if (ret)
			return ret;
	}
}

/* Hex digits, then optional whitespace or ";extensions". */
static int parse_chunk_size(const char *s, uint64_t *size)
{
	uint64_t v = 0;
	const char *p;
	int digit;

	for (p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = *p - '0';
		else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
			digit = (*p | 0x20) - 'a' + 10;
		else
			break;
		if (v > API_CLIENT_MAX_BODY)
			return -EMSGSIZE;
		v = v * 16 + digit;
	}
	if (p == s || (*p && *p != ';' && *p != ' ' && *p != '\t'))
		return -EBADMSG;
	*size = v;
	return 0;
}

static int read_body_chunked(struct conn *c, struct body *b)
{
	uint64_t size;
	char *line;
	int ret;

	for (;;) {
		ret = read_line(c, &line);
		if (!ret)
			ret = parse_chunk_size(line, &size);
		if (ret)
			return ret;
		if (!size)
			break;
		ret = read_body_bytes(c, size, b);
		if (!ret)
			ret = read_line(c, &line);
		if (ret)
			return ret;
		if (*line)
			return -EBADMSG;	/* the chunk was longer than it said */
	}
	/* Trailer fields, up to the empty line. */
	do {
		ret = read_line(c, &line);
	} while (!ret && *line);
	return ret;
}

/* "HTTP/1.x 200 reason": the status code. */
static int parse_status_line(const char *line, int *status)
{
	int i;

	if (strncmp(line, "HTTP/1.", 7) || line[7] < '0' || line[7] > '9' ||
	    line[8] != ' ')
		return -EBADMSG;
	*status = 0;
	for (i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EBADMSG;
		*status = *status * 10 + line[i] - '0';
	}
	if (*status < 100 || (line[12] && line[12] != ' '))
		return -EBADMSG;
	return 0;
}

static int parse_length(const char *s, uint64_t *length)
{
	uint64_t v = 0;

	if (!*s)
		return -EBADMSG;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EBADMSG;
		if (v > API_CLIENT_MAX_BODY)
			return -EMSGSIZE;
		v = v * 10 + *s - '0';
	}
	*length = v;
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	return s;
}

static int parse_header(char *line, struct framing *f)
{
	char *colon = strchr(line, ':');
	char *space = strpbrk(line, " \t");
	uint64_t length;
	char *value;
	int ret;

	/* No name, whitespace before the colon, or an obsolete folded line. */
	if (!colon || colon == line || (space && space < colon))
		return -EBADMSG;
	*colon = '\0';
	value = trim(colon + 1);
	if (!strcasecmp(line, "Transfer-Encoding")) {
		/* Only chunked: skiff's server compresses nothing. */
		if (strcasecmp(value, "chunked"))
			return -EBADMSG;
		f->chunked = true;
	} else if (!strcasecmp(line, "Content-Length")) {
		ret = parse_length(value, &length);
		if (ret)
			return ret;
		if (f->has_length && length != f->length)
			return -EBADMSG;
		f->has_length = true;
		f->length = length;
	}
	return 0;
}

/* Status line and headers of the final response (1xx ones are skipped). */
static int read_head(struct conn *c, int *status, struct framing *f)
{
	size_t head_bytes = 0;
	char *line;
	int ret;

	do {
		memset(f, 0, sizeof(*f));
		ret = read_line(c, &line);
		if (!ret) {
			head_bytes += strlen(line) + 2;
			ret = parse_status_line(line, status);
		}
		while (!ret) {
			ret = read_line(c, &line);
			if (ret || !*line)
				break;
			head_bytes += strlen(line) + 2;
			if (head_bytes > API_CLIENT_MAX_HEADER)
				return -EMSGSIZE;
			ret = parse_header(line, f);
		}
		if (ret)
			return ret;
		if (*status == 101)
			return -EBADMSG;	/* we never asked to switch protocols */
	} while (*status < 200);
	return 0;
}

static int read_response(struct conn *c, const char *method,
			 struct api_response *resp)
{
	struct framing f;
	struct body b = { NULL, 0, 0 };
	int ret;

	ret = read_head(c, &resp->status, &f);
	if (ret)
		return ret;
	if (!strcmp(method, "HEAD") || resp->status == 204 || resp->status == 304)
		ret = 0;
	else if (f.chunked)
		ret = read_body_chunked(c, &b);
	else if (f.has_length)
		ret = read_body_bytes(c, f.length, &b);
	else
		ret = read_body_until_close(c, &b);
	if (!ret)
		ret = body_append(&b, "", 0);	/* an empty body is "" too */
	if (ret) {
		free(b.data);
		return ret;
	}
	resp->body = b.data;
	resp->body_len = b.len;
	return 0;
}

/* A method or path with spaces or line breaks would forge the request. */
static bool valid_token(const char *s)
{
	return *s && !strpbrk(s, " \t\r\n");
}

static char *format_head(const char *method, const char *path, const char *body)
{
	char *head;
	int ret;

	if (body)
		ret = asprintf(&head, "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			       "Accept: application/json\r\nConnection: close\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: %zu\r\n\r\n",
			       method, path, strlen(body));
	else
		ret = asprintf(&head, "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			       "Accept: application/json\r\nConnection: close\r\n\r\n",
			       method, path);
	return ret < 0 ? NULL : head;
}

static int exchange(struct conn *c, const char *sock_path, const char *method,
		    const char *path, const char *body, struct api_response *resp)
{
	char *head;
	int ret;

	ret = conn_connect(c, sock_path);
	if (ret)
		return ret;
	head = format_head(method, path, body);
	if (!head)
		return -ENOMEM;
	ret = conn_send(c, head, strlen(head));
	free(head);
	if (!ret && body)
		ret = conn_send(c, body, strlen(body));
	/*
	 * A server may answer and close before reading all we sent (an error
	 * about the request line): its answer still counts.
	 */
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		return ret;
	return read_response(c, method, resp);
}

int api_request(const char *sock_path, const char *method, const char *path,
		const char *body, int timeout_ms, struct api_response *resp)
{
	struct conn *c;
	int ret;

	memset(resp, 0, sizeof(*resp));
	if (!valid_token(method) || !valid_token(path))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->deadline_ms = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
	ret = exchange(c, sock_path, method, path, body, resp);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	if (ret)
		api_response_free(resp);
	return ret;
}

void api_response_free(struct api_response *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
