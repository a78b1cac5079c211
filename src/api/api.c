// SPDX-License-Identifier: MIT
/*
 * HTTP/1.1 on a unix socket with libmicrohttpd. The library comes in with
 * dlopen(): linked normally it would load GnuTLS and a dozen other shared
 * objects into every skiff process before main() (about 1.4 ms here). Its
 * header still gives the types and constants; __typeof__ keeps the
 * function pointers honest without referencing the symbols.
 */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "api/runtime_dir.h"

#define MHD_LIB "libmicrohttpd.so.12"
#define API_MAX_CONNECTIONS 256

struct mhd_lib {
	void *handle;
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_create_response_from_buffer) *response_from_buffer;
	__typeof__(MHD_add_response_header) *add_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
};

struct api_server {
	struct mhd_lib lib;
	struct MHD_Daemon *daemon;
	/*
	 * The library is loaded and the daemon started on this thread, while
	 * the VM boots: clients wait in the socket's backlog meanwhile.
	 */
	pthread_t starter;
	bool starter_running;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	api_handler_fn fn;
	void *opaque;
};

/* One request's body as it arrives. */
struct pending {
	char *body;
	size_t len;
	bool too_large;
};

static int mhd_load(struct mhd_lib *l, char *err, size_t errlen)
{
	l->handle = dlopen(MHD_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!l->handle) {
		snprintf(err, errlen, "cannot load %s (install libmicrohttpd12): %s",
			 MHD_LIB, dlerror());
		return -ENOENT;
	}
	*(void **)&l->start_daemon = dlsym(l->handle, "MHD_start_daemon");
	*(void **)&l->stop_daemon = dlsym(l->handle, "MHD_stop_daemon");
	*(void **)&l->response_from_buffer = dlsym(l->handle, "MHD_create_response_from_buffer");
	*(void **)&l->add_header = dlsym(l->handle, "MHD_add_response_header");
	*(void **)&l->queue_response = dlsym(l->handle, "MHD_queue_response");
	*(void **)&l->destroy_response = dlsym(l->handle, "MHD_destroy_response");
	if (l->start_daemon && l->stop_daemon && l->response_from_buffer &&
	    l->add_header && l->queue_response && l->destroy_response)
		return 0;
	snprintf(err, errlen, "%s lacks a function skiff needs", MHD_LIB);
	dlclose(l->handle);
	l->handle = NULL;
	return -ENOENT;
}

void api_reply_fault(struct api_reply *reply, int status, const char *fmt, ...)
{
	char msg[512];
	json_t *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(reply->body);
	j = json_pack("{s:s}", "fault_message", msg);
	reply->status = status;
	reply->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
}

static enum MHD_Result send_reply(struct api_server *s, struct MHD_Connection *conn,
				  struct api_reply *reply)
{
	size_t len = reply->body ? strlen(reply->body) : 0;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	/* MUST_FREE: the library frees the body with free() when sent. */
	resp = s->lib.response_from_buffer(len, reply->body,
					   reply->body ? MHD_RESPMEM_MUST_FREE :
							 MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(reply->body);
		return MHD_NO;
	}
	reply->body = NULL;
	if (len)
		s->lib.add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = s->lib.queue_response(conn, (unsigned int)reply->status, resp);
	s->lib.destroy_response(resp);
	return ret;
}

static void take_upload(struct pending *p, const char *data, size_t n)
{
	char *grown;

	if (p->too_large || p->len + n > API_MAX_BODY) {
		p->too_large = true;
		return;
	}
	grown = realloc(p->body, p->len + n + 1);
	if (!grown) {
		p->too_large = true;
		return;
	}
	memcpy(grown + p->len, data, n);
	p->body = grown;
	p->len += n;
	p->body[p->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_len, void **req_cls)
{
	struct api_server *s = cls;
	struct pending *p = *req_cls;
	struct api_reply reply = { .status = 500 };

	(void)version;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return MHD_NO;
		*req_cls = p;
		return MHD_YES;
	}
	if (*upload_len) {
		take_upload(p, upload, *upload_len);
		*upload_len = 0;
		return MHD_YES;
	}
	if (p->too_large)
		api_reply_fault(&reply, 400, "the request body is larger than %d bytes",
				API_MAX_BODY);
	else
		s->fn(s->opaque, method, url, p->body, p->len, &reply);
	return send_reply(s, conn, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct pending *p = *req_cls;

	(void)cls;
	(void)conn;
	(void)why;
	if (!p)
		return;
	free(p->body);
	free(p);
	*req_cls = NULL;
}

/* 0 if nothing answers on path (gone or stale), -EADDRINUSE if a VMM does. */
static int check_old_socket(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a socket", path);
		return -EEXIST;
	}
	fd = skiff_socket_connect(path, 0);
	if (fd >= 0) {
		close(fd);
		snprintf(err, errlen, "%s: another VMM is serving on this socket", path);
		return -EADDRINUSE;
	}
	unlink(path);	/* stale: its VMM died without removing it */
	return 0;
}

static int listen_unix(struct api_server *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a unix socket (max %zu)",
			 path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	ret = check_old_socket(path, err, errlen);
	if (ret)
		return ret;
	strcpy(sa.sun_path, path);
	strcpy(s->path, path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	/* Only the owner may drive the VM. */
	if (chmod(path, 0600) < 0 || listen(s->fd, 64) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		return ret;
	}
	return 0;
}

static void *start_daemon(void *arg)
{
	struct api_server *s = arg;
	char err[256];

	if (mhd_load(&s->lib, err, sizeof(err))) {
		fprintf(stderr, "skiff: control API: %s\n", err);
		return NULL;
	}
	s->daemon = s->lib.start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, 0, NULL, NULL,
					on_request, s,
					MHD_OPTION_LISTEN_SOCKET, s->fd,
					MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_TIMEOUT_S,
					MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_MAX_CONNECTIONS,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					MHD_OPTION_END);
	if (!s->daemon)
		fprintf(stderr, "skiff: control API: %s: the HTTP server did not start\n",
			s->path);
	return NULL;
}

/*
 * The socket is bound and listening when this returns, so clients can
 * connect at once; what answers them comes up on a thread of its own
 * (loading libmicrohttpd and GnuTLS takes milliseconds a boot need not
 * wait for).
 */
int api_server_start(struct api_server **out, const char *path, api_handler_fn fn,
		     void *opaque, char *err, size_t errlen)
{
	struct api_server *s = calloc(1, sizeof(*s));
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->fn = fn;
	s->opaque = opaque;
	ret = listen_unix(s, path, err, errlen);
	if (!ret) {
		ret = -pthread_create(&s->starter, NULL, start_daemon, s);
		if (ret)
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	}
	if (ret) {
		if (s->path[0] && s->fd >= 0)
			unlink(s->path);
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return ret;
	}
	s->starter_running = true;
	*out = s;
	return 0;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	if (s->starter_running)
		pthread_join(s->starter, NULL);
	/* The daemon closes the listening socket it was given. */
	if (s->daemon)
		s->lib.stop_daemon(s->daemon);
	else
		close(s->fd);
	unlink(s->path);
	if (s->lib.handle)
		dlclose(s->lib.handle);
	free(s);
}
