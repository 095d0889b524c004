/** @file
 * One SMPP connection on the loop: a non-blocking TCP socket, optionally
 * wrapped in OpenSSL TLS, a read buffer that frames PDUs with smpp_frame()
 * before it grows (so a hostile command_length never makes it allocate), and
 * a write queue. This is a libev adapter: the bind FSM above it sees
 * callbacks only.
 *
 * Ownership: the connection is owned by its creator; smpp_conn_free() may be
 * called from inside any of its callbacks (the memory is released later, on
 * an idle turn of the loop, and no callback runs after it).
 */
#ifndef USSDGW_SMPP_CONN_H
#define USSDGW_SMPP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <openssl/ssl.h>

struct smpp_conn;

struct smpp_conn_cbs {
	/** TCP connected; TLS handshake starting (TLS only). */
	void (*tls_start)(void *cls);
	/** Ready for PDUs (TCP connected, and TLS handshake done when TLS). */
	void (*up)(void *cls);
	/** One whole PDU (command_length bytes); valid during the call only. */
	void (*pdu)(void *cls, const uint8_t *frame, size_t len);
	/** The connection failed or closed; @p why is static text. Nothing runs after it. */
	void (*down)(void *cls, int err, const char *why);
};

/**
 * Connect to @p host:@p port (numeric address, or a name resolved now).
 * @param ctx TLS client context (borrowed; must outlive the connection) or NULL
 * @param server_name name to verify in the peer certificate and send as SNI (TLS)
 * @return 0 and the connection in @p out (callbacks follow), or GW_E* (no callback)
 */
int smpp_conn_open(struct ev_loop *loop, const char *host, int port, SSL_CTX *ctx,
		   const char *server_name, uint32_t max_pdu_len, const struct smpp_conn_cbs *cbs,
		   void *cls, struct smpp_conn **out);

/**
 * Take over an accepted socket @p fd (non-blocking; closed with the connection).
 * Plain TCP: up on return (no up() callback). TLS (@p server_ctx, borrowed): the
 * handshake runs first and up() follows it; a failed handshake calls down().
 * @return 0, GW_ENOMEM, GW_ECRYPTO (on error @p fd is not closed).
 */
int smpp_conn_accept(struct ev_loop *loop, int fd, SSL_CTX *server_ctx, uint32_t max_pdu_len,
		     const struct smpp_conn_cbs *cbs, void *cls, struct smpp_conn **out);

/** Bytes read and held that do not make a whole PDU yet (a stalled peer shows here). */
size_t smpp_conn_buffered(const struct smpp_conn *c);

/** Queue bytes for writing. @return 0, GW_ENOMEM, GW_ESHUTDOWN (connection down). */
int smpp_conn_send(struct smpp_conn *c, const uint8_t *buf, size_t len);
/** Bytes queued and not yet written. */
size_t smpp_conn_pending(const struct smpp_conn *c);
/** Close now (unsent bytes are dropped) without calling down(); safe from callbacks. */
void smpp_conn_free(struct smpp_conn *c);

#endif
