// SPDX-License-Identifier: MIT
/*
 * The API client against a fake server on a unix socket: what it sends,
 * the response framings (Content-Length, chunked, none, until close), the
 * timeout, nothing listening, and broken or oversized responses, which
 * must fail with an error rather than crash or hang.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/client.h"

enum fake_mode {
	FAKE_REPLY_CLOSE,	/* send the reply, close */
	FAKE_REPLY_HOLD,	/* send the reply, keep the connection until the client closes */
	FAKE_DRIBBLE,		/* the reply one byte at a time, then close */
	FAKE_SILENT,		/* never answer */
	FAKE_FLOOD,		/* headers, then body bytes without end */
};

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	int stop[2];		/* a byte here ends the server thread */
	pthread_t thread;
	pthread_mutex_t lock;
	/* Under lock: */
	enum fake_mode mode;
	const char *reply;
	size_t reply_len;
	char request[16384];	/* the last request, NUL-terminated */
	size_t request_len;
};

static void fake_set(struct fake *f, enum fake_mode mode, const char *reply, size_t len)
{
	pthread_mutex_lock(&f->lock);
	f->mode = mode;
	f->reply = reply;
	f->reply_len = len;
	pthread_mutex_unlock(&f->lock);
}

#define REPLY(f, mode, s) fake_set(f, mode, s, sizeof(s) - 1)

/* Wait for fd to be readable, or the stop pipe; false when told to stop. */
static bool fake_wait(struct fake *f, int fd)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
				 { .fd = f->stop[0], .events = POLLIN } };

	while (poll(pfd, 2, -1) < 0)
		;
	return !pfd[1].revents;
}

/* Read one request: headers, then a Content-Length body. */
static void fake_read_request(struct fake *f, int fd)
{
	char buf[sizeof(f->request)];
	size_t len = 0, want = 0;
	char *end, *cl;
	ssize_t n;

	for (;;) {
		if (!fake_wait(f, fd))
			return;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		cl = strcasestr(buf, "\r\nContent-Length:");
		want = end + 4 - buf + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
		if (len >= want || len == sizeof(buf) - 1)
			break;
	}
	pthread_mutex_lock(&f->lock);
	memcpy(f->request, buf, len);
	f->request[len] = '\0';
	f->request_len = len;
	pthread_mutex_unlock(&f->lock);
}

/* Until the client closes (or we are told to stop). */
static void fake_hold(struct fake *f, int fd)
{
	char buf[256];

	while (fake_wait(f, fd) && recv(fd, buf, sizeof(buf), 0) > 0)
		;
}

static void fake_flood(int fd, const char *head, size_t len)
{
	static char junk[65536];

	memset(junk, 'x', sizeof(junk));
	if (send(fd, head, len, MSG_NOSIGNAL) < 0)
		return;
	while (send(fd, junk, sizeof(junk), MSG_NOSIGNAL) > 0)
		;
}

static void fake_serve(struct fake *f, int fd)
{
	enum fake_mode mode;
	char *reply;
	size_t len, i;

	fake_read_request(f, fd);
	/*
	 * Our own copy: the test may free its reply as soon as the client
	 * gives up, while we are still sending.
	 */
	pthread_mutex_lock(&f->lock);
	mode = f->mode;
	len = f->reply_len;
	reply = malloc(len + 1);
	if (reply && len)
		memcpy(reply, f->reply, len);
	pthread_mutex_unlock(&f->lock);
	if (!reply) {
		close(fd);
		return;
	}
	switch (mode) {
	case FAKE_REPLY_CLOSE:
		send(fd, reply, len, MSG_NOSIGNAL);
		break;
	case FAKE_REPLY_HOLD:
		send(fd, reply, len, MSG_NOSIGNAL);
		fake_hold(f, fd);
		break;
	case FAKE_DRIBBLE:
		for (i = 0; i < len; i++) {
			if (send(fd, reply + i, 1, MSG_NOSIGNAL) != 1)
				break;
			usleep(300);
		}
		break;
	case FAKE_SILENT:
		fake_hold(f, fd);
		break;
	case FAKE_FLOOD:
		fake_flood(fd, reply, len);
		break;
	}
	free(reply);
	close(fd);
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;
	int fd;

	while (fake_wait(f, f->lfd)) {
		fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			fake_serve(f, fd);
	}
	return NULL;
}

static int bind_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/skiff-client-XXXXXX");
	if (!mkdtemp(f->dir) || pipe(f->stop) < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/vm.sock", f->dir);
	f->lfd = bind_unix(f->path);
	if (f->lfd < 0 || listen(f->lfd, 8) < 0)
		return -1;
	pthread_mutex_init(&f->lock, NULL);
	if (pthread_create(&f->thread, NULL, fake_thread, f))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	char path[160];

	if (write(f->stop[1], "x", 1) != 1)
		return -1;
	pthread_join(f->thread, NULL);
	close(f->lfd);
	close(f->stop[0]);
	close(f->stop[1]);
	unlink(f->path);
	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	unlink(path);
	rmdir(f->dir);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void expect_ok(struct fake *f, int status, const char *body)
{
	struct api_response resp;

	assert_int_equal(api_request(f->path, "GET", "/", NULL, 2000, &resp), 0);
	assert_int_equal(resp.status, status);
	assert_non_null(resp.body);
	assert_int_equal(resp.body_len, strlen(body));
	assert_string_equal(resp.body, body);
	api_response_free(&resp);
	assert_null(resp.body);
}

static void expect_error(struct fake *f, int err)
{
	struct api_response resp;
	int ret = api_request(f->path, "GET", "/metrics", NULL, 3000, &resp);

	if (ret != err)
		fail_msg("reply '%.60s...' gave %d (%s), expected %d (%s)", f->reply,
			 ret, strerror(-ret), err, strerror(-err));
	assert_null(resp.body);
	assert_int_equal(resp.status, 0);
	api_response_free(&resp);
}

static void test_request_format(void **state)
{
	struct fake *f = *state;
	struct api_response resp;
	const char *body = "{\"state\":\"Paused\"}";
	char expect[256];

	REPLY(f, FAKE_REPLY_CLOSE, "HTTP/1.1 204 No Content\r\n\r\n");
	assert_int_equal(api_request(f->path, "PATCH", "/vm", body, 2000, &resp), 0);
	assert_int_equal(resp.status, 204);
	api_response_free(&resp);
	snprintf(expect, sizeof(expect), "Content-Length: %zu\r\n", strlen(body));
	assert_int_equal(strncmp(f->request, "PATCH /vm HTTP/1.1\r\n", 20), 0);
	/* libmicrohttpd refuses an HTTP/1.1 request without Host. */
	assert_non_null(strstr(f->request, "\r\nHost: "));
	assert_non_null(strstr(f->request, expect));
	assert_string_equal(f->request + f->request_len - strlen(body), body);

	assert_int_equal(api_request(f->path, "GET", "/metrics", NULL, 2000, &resp), 0);
	api_response_free(&resp);
	assert_int_equal(strncmp(f->request, "GET /metrics HTTP/1.1\r\n", 23), 0);
	assert_null(strstr(f->request, "Content-Length"));
	assert_string_equal(f->request + f->request_len - 4, "\r\n\r\n");
}

static void test_content_length(void **state)
{
	struct fake *f = *state;

	/* The connection stays open: the length alone must end the body. */
	REPLY(f, FAKE_REPLY_HOLD, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	      "content-length:  13 \r\n\r\n{\"a\":\"hello\"}");
	expect_ok(f, 200, "{\"a\":\"hello\"}");
	/* Bytes past the length are not part of the body. */
	REPLY(f, FAKE_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}garbage");
	expect_ok(f, 200, "{}");
	/* A bare LF ends lines too. */
	REPLY(f, FAKE_REPLY_CLOSE, "HTTP/1.1 200 OK\nContent-Length: 4\n\nnull");
	expect_ok(f, 200, "null");
}

static void test_chunked(void **state)
{
	struct fake *f = *state;
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n7;name=value\r\n, world\r\nA \r\n0123456789\r\n0\r\n"
		"X-Trailer: yes\r\n\r\n";

	fake_set(f, FAKE_REPLY_HOLD, chunked, sizeof(chunked) - 1);
	expect_ok(f, 200, "hello, world0123456789");
	/* Lines and chunks split across reads. */
	fake_set(f, FAKE_DRIBBLE, chunked, sizeof(chunked) - 1);
	expect_ok(f, 200, "hello, world0123456789");
	REPLY(f, FAKE_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
	      "0\r\n\r\n");
	expect_ok(f, 200, "");
}

static void test_no_body(void **state)
{
	struct fake *f = *state;
	struct api_response resp;
	double t0 = now_s();

	/* 204 has no body, whatever else: no waiting for the close. */
	REPLY(f, FAKE_REPLY_HOLD, "HTTP/1.1 204 No Content\r\nServer: fake\r\n\r\n");
	expect_ok(f, 204, "");
	assert_true(now_s() - t0 < 1.0);
	/* Without a length, the body runs to the close. */
	REPLY(f, FAKE_REPLY_CLOSE, "HTTP/1.0 200 OK\r\n\r\n{\"until\":\"close\"}");
	expect_ok(f, 200, "{\"until\":\"close\"}");
	/* An interim 100 Continue is skipped. */
	REPLY(f, FAKE_REPLY_CLOSE, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
	      "Content-Length: 0\r\n\r\n");
	expect_ok(f, 201, "");
	/* The status code counts, with or without a reason phrase. */
	REPLY(f, FAKE_REPLY_CLOSE, "HTTP/1.1 400\r\nContent-Length: 20\r\n\r\n"
	      "{\"fault_message\":1}\n");
	expect_ok(f, 400, "{\"fault_message\":1}\n");
	REPLY(f, FAKE_DRIBBLE, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}");
	expect_ok(f, 404, "{}");
	/* No body read for HEAD, even with a length. */
	REPLY(f, FAKE_REPLY_HOLD, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
	assert_int_equal(api_request(f->path, "HEAD", "/", NULL, 2000, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.body_len, 0);
	api_response_free(&resp);
}

static void test_timeout(void **state)
{
	struct fake *f = *state;
	struct api_response resp;
	double t0, elapsed;

	fake_set(f, FAKE_SILENT, NULL, 0);
	t0 = now_s();
	assert_int_equal(api_request(f->path, "GET", "/", NULL, 300, &resp), -ETIMEDOUT);
	elapsed = now_s() - t0;
	assert_true(elapsed >= 0.29);
	assert_true(elapsed < 1.5);
	assert_null(resp.body);
	/* The same bound holds for a server that stops in the middle. */
	REPLY(f, FAKE_REPLY_HOLD, "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{");
	t0 = now_s();
	assert_int_equal(api_request(f->path, "GET", "/", NULL, 300, &resp), -ETIMEDOUT);
	assert_true(now_s() - t0 < 1.5);
}

static void test_nothing_listens(void **state)
{
	struct fake *f = *state;
	struct api_response resp;
	char path[160];
	int fd;

	/* A socket file whose server is gone, as after kill -9. */
	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	fd = bind_unix(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(api_request(path, "GET", "/", NULL, 1000, &resp), -ECONNREFUSED);
	assert_null(resp.body);
	snprintf(path, sizeof(path), "%s/missing.sock", f->dir);
	assert_int_equal(api_request(path, "GET", "/", NULL, 1000, &resp), -ENOENT);
	assert_null(resp.body);
}

static void test_bad_arguments(void **state)
{
	struct fake *f = *state;
	struct api_response resp;
	char path[200];

	assert_int_equal(api_request(f->path, "GET", "/ HTTP/1.1\r\nX: y", NULL, 1000,
				     &resp), -EINVAL);
	assert_int_equal(api_request(f->path, "G ET", "/", NULL, 1000, &resp), -EINVAL);
	assert_int_equal(api_request(f->path, "GET", "", NULL, 1000, &resp), -EINVAL);
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(api_request(path, "GET", "/", NULL, 1000, &resp), -ENAMETOOLONG);
	assert_null(resp.body);
}

static void test_garbage(void **state)
{
	static const struct {
		const char *reply;
		size_t len;
		int err;
	} cases[] = {
#define CASE(s, e) { s, sizeof(s) - 1, e }
		CASE("garbage\r\n\r\n", -EBADMSG),
		CASE("HTTP/2 200 OK\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 2x0 OK\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 20 OK\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 2000 OK\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 099 Low\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 101 Switching\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\n: no name\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		     -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "3\r\nabcdef\r\n0\r\n\r\n", -EBADMSG),
		CASE("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", -EBADMSG),
		CASE("\0\xff\xfe\x01\x02\x03\n\n", -EBADMSG),
		/* Oversized: refused from the header, before reading anything. */
		CASE("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		     -EMSGSIZE),
		CASE("HTTP/1.1 200 OK\r\nContent-Length: 4194305\r\n\r\n", -EMSGSIZE),
		CASE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "FFFFFFFFFFFFFFFFFFFF\r\n", -EMSGSIZE),
		/* Cut short. */
		CASE("", -ECONNRESET),
		CASE("HTTP/1.1 200 OK\r\nContent-Le", -ECONNRESET),
		CASE("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"short\"", -ECONNRESET),
		CASE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", -ECONNRESET),
#undef CASE
	};
	struct fake *f = *state;
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_set(f, FAKE_REPLY_CLOSE, cases[i].reply, cases[i].len);
		expect_error(f, cases[i].err);
	}
}

/* head, count copies of piece, then tail; malloc'd. */
static char *build_reply(const char *head, const char *piece, size_t count,
			 const char *tail, size_t *len)
{
	size_t hlen = strlen(head), plen = strlen(piece), i;
	char *buf = malloc(hlen + plen * count + strlen(tail) + 1);

	assert_non_null(buf);
	memcpy(buf, head, hlen);
	for (i = 0; i < count; i++)
		memcpy(buf + hlen + i * plen, piece, plen);
	strcpy(buf + hlen + plen * count, tail);
	*len = strlen(buf);
	return buf;
}

static void test_oversized(void **state)
{
	struct fake *f = *state;
	struct api_response resp;
	char *reply, *chunk;
	size_t len, i;

	/* A body without end is cut at the limit, not read forever. */
	REPLY(f, FAKE_FLOOD, "HTTP/1.1 200 OK\r\n\r\n");
	expect_error(f, -EMSGSIZE);
	/* So is a header line without end. */
	REPLY(f, FAKE_FLOOD, "HTTP/1.1 200 OK\r\nX-Long: ");
	expect_error(f, -EMSGSIZE);
	/* And endless short header lines. */
	reply = build_reply("HTTP/1.1 200 OK\r\n", "X-Many: aaaaaaaaaaaaaaaaaaaa\r\n", 4000,
			    "\r\n", &len);
	fake_set(f, FAKE_REPLY_CLOSE, reply, len);
	expect_error(f, -EMSGSIZE);
	free(reply);
	/* Chunks that add up to more than the limit. */
	chunk = build_reply("100000\r\n", "y", 0x100000, "\r\n", &len);
	reply = build_reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			    chunk, 5, "0\r\n\r\n", &len);
	fake_set(f, FAKE_REPLY_CLOSE, reply, len);
	expect_error(f, -EMSGSIZE);
	free(reply);
	free(chunk);

	/* Exactly the limit is fine, through the window in many reads. */
	REPLY(f, FAKE_FLOOD, "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n");
	assert_int_equal(api_request(f->path, "GET", "/", NULL, 10000, &resp), 0);
	assert_int_equal(resp.body_len, API_CLIENT_MAX_BODY);
	assert_int_equal(resp.body[resp.body_len], '\0');
	for (i = 0; i < resp.body_len && resp.body[i] == 'x'; i++)
		;
	assert_int_equal(i, resp.body_len);
	api_response_free(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_listens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
