/* A raw HTTP/1.1 client for tests, on the same libev loop as the server under
 * test: it writes exact request bytes (so tests can send what a library would
 * refuse to) and reads until the server closes the connection. */
#ifndef TEST_RAW_CLIENT_H
#define TEST_RAW_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

struct raw_conn {
	struct ev_loop *loop;
	int fd;
	ev_io w;
	ev_timer guard;
	char *out;
	size_t out_len, out_off;
	char *in;
	size_t in_len, in_cap;
	bool done;
	bool failed;
	/* Parsed on completion. */
	int status;
	char *body;
	size_t body_len;
};

static inline void raw_finish(struct raw_conn *c, bool failed)
{
	ev_io_stop(c->loop, &c->w);
	ev_timer_stop(c->loop, &c->guard);
	c->done = true;
	c->failed = failed;
	char *p = c->in;
	if (p && c->in_len > 12 && strncmp(p, "HTTP/1.", 7) == 0)
		c->status = atoi(p + 9);
	char *sep = p ? strstr(p, "\r\n\r\n") : NULL;
	if (sep) {
		c->body = sep + 4;
		c->body_len = c->in_len - (size_t)(c->body - c->in);
	}
	ev_break(c->loop, EVBREAK_ONE);
}

static inline void raw_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct raw_conn *c = w->data;
	if (revents & EV_WRITE) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			/* The server may close early (413): read what it said. */
			c->out_off = c->out_len;
		} else if (n > 0) {
			c->out_off += (size_t)n;
		}
		if (c->out_off == c->out_len) {
			ev_io_stop(loop, w);
			ev_io_set(w, c->fd, EV_READ);
			ev_io_start(loop, w);
		}
		return;
	}
	if (c->in_cap - c->in_len < 4097) {
		c->in_cap = c->in_cap * 2 + 8192;
		c->in = realloc(c->in, c->in_cap);
		c->in[c->in_len] = '\0';
	}
	ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
	if (n > 0) {
		c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	raw_finish(c, false);
}

static inline void raw_guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	raw_finish(w->data, true);
}

/* Connect to 127.0.0.1:@p port and start sending @p req (copied). */
static inline struct raw_conn *raw_start(struct ev_loop *loop, uint16_t port, const char *req,
					 size_t len)
{
	struct raw_conn *c = calloc(1, sizeof(*c));
	c->loop = loop;
	c->out = malloc(len);
	memcpy(c->out, req, len);
	c->out_len = len;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int rc = connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc != 0 && errno != EINPROGRESS) {
		c->done = c->failed = true;
		return c;
	}
	ev_io_init(&c->w, raw_io_cb, c->fd, EV_WRITE);
	c->w.data = c;
	ev_io_start(loop, &c->w);
	/* A safety net so a broken server fails the test instead of hanging it. */
	ev_timer_init(&c->guard, raw_guard_cb, 20., 0.);
	c->guard.data = c;
	ev_timer_start(loop, &c->guard);
	return c;
}

/* Run the loop until the response is complete (server closed). */
static inline void raw_wait(struct raw_conn *c)
{
	while (!c->done)
		ev_run(c->loop, 0);
}

static inline struct raw_conn *raw_exchange(struct ev_loop *loop, uint16_t port, const char *req)
{
	struct raw_conn *c = raw_start(loop, port, req, strlen(req));
	raw_wait(c);
	return c;
}

/* Value of response header @p name (copied into @p buf), or NULL. */
static inline const char *raw_header(const struct raw_conn *c, const char *name, char *buf,
				     size_t n)
{
	if (!c->in)
		return NULL;
	size_t nl = strlen(name);
	const char *end = strstr(c->in, "\r\n\r\n");
	for (const char *p = strstr(c->in, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2;
		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			h += nl + 1;
			while (*h == ' ')
				h++;
			size_t vl = strcspn(h, "\r");
			snprintf(buf, n, "%.*s", (int)vl, h);
			return buf;
		}
	}
	return NULL;
}

static inline void raw_free(struct raw_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	free(c->in);
	free(c);
}

#endif
