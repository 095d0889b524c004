/* SMPP connection: socket + optional TLS, framed reads, write queue (smpp_conn.h). */
#include "ussdgw/smpp_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_pdu.h"

enum conn_phase { PH_CONNECTING, PH_TLS, PH_UP, PH_DEAD };

struct smpp_conn {
	struct ev_loop *loop;
	int fd;
	SSL *ssl;
	enum conn_phase phase;
	uint32_t max_pdu_len;
	struct smpp_conn_cbs cbs;
	void *cls;
	ev_io rio, wio;
	ev_idle reaper;
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t wlen, wcap, woff;
	bool in_cb;
	bool freed;
	bool server; /* accepted: TLS server side */
};

static void update_watchers(struct smpp_conn *c);

static void reap_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)revents;
	struct smpp_conn *c = w->data;
	ev_idle_stop(loop, w);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

static void teardown(struct smpp_conn *c)
{
	if (c->phase == PH_DEAD)
		return;
	c->phase = PH_DEAD;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void fail(struct smpp_conn *c, int err, const char *why)
{
	if (c->phase == PH_DEAD)
		return;
	teardown(c);
	if (!c->freed && c->cbs.down)
		c->cbs.down(c->cls, err, why);
}

void smpp_conn_free(struct smpp_conn *c)
{
	if (!c || c->freed)
		return;
	c->freed = true;
	teardown(c);
	ev_idle_init(&c->reaper, reap_cb);
	c->reaper.data = c;
	ev_idle_start(c->loop, &c->reaper);
}

/* --- TLS ------------------------------------------------------------------------------- */

static void tls_step(struct smpp_conn *c)
{
	ERR_clear_error();
	int r = c->server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
	if (r == 1) {
		c->phase = PH_UP;
		update_watchers(c);
		if (c->cbs.up)
			c->cbs.up(c->cls);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ev_io_stop(c->loop, &c->wio);
		if (e == SSL_ERROR_WANT_WRITE)
			ev_io_start(c->loop, &c->wio);
		ev_io_start(c->loop, &c->rio);
		return;
	}
	long vr = SSL_get_verify_result(c->ssl);
	fail(c, GW_ECRYPTO,
	     vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "TLS handshake failed");
}

/* --- reading ------------------------------------------------------------------------- */

static ssize_t do_read(struct smpp_conn *c, uint8_t *buf, size_t n, int *err)
{
	*err = 0;
	if (c->ssl) {
		ERR_clear_error();
		int r = SSL_read(c->ssl, buf, (int)n);
		if (r > 0)
			return r;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return -1;
		*err = e == SSL_ERROR_ZERO_RETURN ? 0 : GW_ECRYPTO;
		return 0;
	}
	ssize_t r = read(c->fd, buf, n);
	if (r > 0)
		return r;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -1;
	*err = r < 0 ? -errno : 0;
	return 0;
}

/* Deliver every whole PDU in the buffer. Returns false when the connection died. */
static bool deliver(struct smpp_conn *c)
{
	size_t off = 0;
	while (c->phase == PH_UP && !c->freed) {
		size_t flen;
		enum smpp_frame_result fr =
		    smpp_frame(c->rbuf + off, c->rlen - off, c->max_pdu_len, &flen);
		if (fr == SMPP_FRAME_NEED_MORE) {
			/* Grow only to what the validated length needs. */
			if (flen > c->rcap) {
				uint8_t *nb = realloc(c->rbuf, flen);
				if (!nb) {
					fail(c, GW_ENOMEM, "out of memory");
					return false;
				}
				c->rbuf = nb;
				c->rcap = flen;
			}
			break;
		}
		if (fr == SMPP_FRAME_BAD) {
			/* Tell the peer (generic_nack ESME_RINVCMDLEN), then drop the link. */
			uint8_t nack[16];
			size_t nl;
			if (smpp_encode_error(NULL, ESME_RINVCMDLEN, nack, sizeof(nack), &nl) ==
			    0) {
				if (c->ssl)
					SSL_write(c->ssl, nack, (int)nl);
				else if (write(c->fd, nack, nl) < 0) {
					/* closing anyway */
				}
			}
			fail(c, GW_EPROTO_MALFORMED, "bad command_length");
			return false;
		}
		c->in_cb = true;
		c->cbs.pdu(c->cls, c->rbuf + off, flen);
		c->in_cb = false;
		off += flen;
	}
	if (c->phase == PH_DEAD || c->freed)
		return false;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	return true;
}

static void on_readable(struct smpp_conn *c)
{
	for (int rounds = 0; rounds < 16 && c->phase == PH_UP; rounds++) {
		if (c->rcap - c->rlen < 1024 && c->rcap < 65536 + 16) {
			size_t ncap = c->rcap * 2;
			uint8_t *nb = realloc(c->rbuf, ncap);
			if (!nb) {
				fail(c, GW_ENOMEM, "out of memory");
				return;
			}
			c->rbuf = nb;
			c->rcap = ncap;
		}
		if (c->rcap == c->rlen) {
			if (!deliver(c))
				return;
			continue;
		}
		int err;
		ssize_t n = do_read(c, c->rbuf + c->rlen, c->rcap - c->rlen, &err);
		if (n < 0)
			break;
		if (n == 0) {
			fail(c, err, err ? "read error" : "closed by peer");
			return;
		}
		c->rlen += (size_t)n;
		if (!deliver(c))
			return;
	}
}

/* --- writing ------------------------------------------------------------------------- */

static void flush(struct smpp_conn *c)
{
	while (c->phase == PH_UP && c->woff < c->wlen) {
		ssize_t n;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, c->wbuf + c->woff, (int)(c->wlen - c->woff));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					break;
				fail(c, GW_ECRYPTO, "TLS write failed");
				return;
			}
			n = r;
		} else {
			n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				fail(c, -errno, "write error");
				return;
			}
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	update_watchers(c);
}

static void update_watchers(struct smpp_conn *c)
{
	if (c->phase != PH_UP)
		return;
	ev_io_start(c->loop, &c->rio);
	if (c->wlen > c->woff)
		ev_io_start(c->loop, &c->wio);
	else
		ev_io_stop(c->loop, &c->wio);
}

int smpp_conn_send(struct smpp_conn *c, const uint8_t *buf, size_t len)
{
	if (!c || c->phase == PH_DEAD || c->freed)
		return GW_ESHUTDOWN;
	if (c->wlen + len > c->wcap) {
		if (c->woff) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
		}
		if (c->wlen + len > c->wcap) {
			size_t ncap = c->wcap ? c->wcap : 4096;
			while (ncap < c->wlen + len)
				ncap *= 2;
			uint8_t *nb = realloc(c->wbuf, ncap);
			if (!nb)
				return GW_ENOMEM;
			c->wbuf = nb;
			c->wcap = ncap;
		}
	}
	memcpy(c->wbuf + c->wlen, buf, len);
	c->wlen += len;
	if (c->phase == PH_UP && !c->in_cb)
		flush(c);
	else if (c->phase == PH_UP)
		ev_io_start(c->loop, &c->wio);
	return 0;
}

size_t smpp_conn_pending(const struct smpp_conn *c)
{
	return c ? c->wlen - c->woff : 0;
}

/* --- events -------------------------------------------------------------------------- */

static void connected(struct smpp_conn *c)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		fail(c, soerr == ECONNREFUSED ? GW_ECONNREFUSED : -soerr, strerror(soerr));
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev_io_stop(c->loop, &c->wio);
	if (c->ssl) {
		c->phase = PH_TLS;
		SSL_set_fd(c->ssl, c->fd);
		if (c->cbs.tls_start)
			c->cbs.tls_start(c->cls);
		if (c->phase == PH_TLS)
			tls_step(c);
		return;
	}
	c->phase = PH_UP;
	update_watchers(c);
	if (c->cbs.up)
		c->cbs.up(c->cls);
	if (c->phase == PH_UP && !c->freed)
		flush(c);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct smpp_conn *c = w->data;
	switch (c->phase) {
	case PH_CONNECTING:
		connected(c);
		return;
	case PH_TLS:
		tls_step(c);
		return;
	case PH_UP:
		if (revents & EV_READ)
			on_readable(c);
		if (c->phase == PH_UP && !c->freed && (revents & EV_WRITE))
			flush(c);
		return;
	case PH_DEAD:
		return;
	}
}

int smpp_conn_open(struct ev_loop *loop, const char *host, int port, SSL_CTX *ctx,
		   const char *server_name, uint32_t max_pdu_len, const struct smpp_conn_cbs *cbs,
		   void *cls, struct smpp_conn **out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%d", port);
	hints.ai_flags |= AI_NUMERICHOST;
	int gr = getaddrinfo(host, portstr, &hints, &ai);
	if (gr) {
		/* A name: resolved here (blocking; once per connect attempt). */
		hints.ai_flags &= ~AI_NUMERICHOST;
		if (getaddrinfo(host, portstr, &hints, &ai))
			return GW_ENOENT;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(ai);
		return -errno;
	}
	int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (r < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return e == ECONNREFUSED ? GW_ECONNREFUSED : -e;
	}
	struct smpp_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return GW_ENOMEM;
	}
	c->loop = loop;
	c->fd = fd;
	c->max_pdu_len = max_pdu_len ? max_pdu_len : SMPP_DEFAULT_MAX_PDU_LEN;
	c->cbs = *cbs;
	c->cls = cls;
	c->rcap = 4096;
	c->rbuf = malloc(c->rcap);
	if (!c->rbuf) {
		close(fd);
		free(c);
		return GW_ENOMEM;
	}
	if (ctx) {
		int rc = crypto_tls_client_new(ctx, server_name ? server_name : host, &c->ssl);
		if (rc) {
			close(fd);
			free(c->rbuf);
			free(c);
			return rc;
		}
	}
	ev_io_init(&c->rio, io_cb, fd, EV_READ);
	ev_io_init(&c->wio, io_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	c->phase = PH_CONNECTING;
	ev_io_start(loop, &c->wio);
	*out = c;
	return 0;
}

int smpp_conn_accept(struct ev_loop *loop, int fd, SSL_CTX *server_ctx, uint32_t max_pdu_len,
		     const struct smpp_conn_cbs *cbs, void *cls, struct smpp_conn **out)
{
	struct smpp_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return GW_ENOMEM;
	c->loop = loop;
	c->fd = fd;
	c->server = true;
	c->max_pdu_len = max_pdu_len ? max_pdu_len : SMPP_DEFAULT_MAX_PDU_LEN;
	c->cbs = *cbs;
	c->cls = cls;
	c->rcap = 1024;
	c->rbuf = malloc(c->rcap);
	if (!c->rbuf) {
		free(c);
		return GW_ENOMEM;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev_io_init(&c->rio, io_cb, fd, EV_READ);
	ev_io_init(&c->wio, io_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	if (server_ctx) {
		c->ssl = SSL_new(server_ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
			if (c->ssl)
				SSL_free(c->ssl);
			free(c->rbuf);
			free(c);
			return GW_ECRYPTO;
		}
		SSL_set_accept_state(c->ssl);
		c->phase = PH_TLS;
		ev_io_start(loop, &c->rio);
	} else {
		c->phase = PH_UP;
		ev_io_start(loop, &c->rio);
	}
	*out = c;
	return 0;
}

size_t smpp_conn_buffered(const struct smpp_conn *c)
{
	return c ? c->rlen : 0;
}
