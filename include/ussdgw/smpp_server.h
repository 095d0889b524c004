/** @file
 * The SMPP server: ussdgw as an SMSC for accounts (config accounts[]), over
 * TCP and TLS (config smpp_server.*).
 *
 * Accounts bind (transmitter, receiver, transceiver) with a system_id and a
 * password checked against a scrypt hash on the worker pool (workers.h), never
 * on the loop. They submit MT (submit_sm), which goes through the single MT
 * egress point (sms_egress.h) with the account's default class and is
 * acknowledged only once it is queued in Redis; they receive MO SMS addressed
 * to their addresses and the delivery receipts of their MT as deliver_sm on
 * their receiver binds.
 *
 * Protection, per connection: the session_init timer (bind must arrive), an
 * inactivity timer, a stall timer (part of a PDU held too long), the codec's
 * command_length and TLV caps (smpp_frame() before any allocation), a cap on
 * unanswered output, and a cap on protocol violations before the connection is
 * cut. Per IP: a connection cap, a cap on queued password checks, and a block
 * after repeated failed binds. Per account: allowed source IPs, allowed source
 * addresses, bind count, window (outstanding submits per bind) and TPS; over
 * either the submit is answered ESME_RTHROTTLED.
 *
 * Ownership: the server owns its sessions and listening sockets; it borrows the
 * loop, the config, the key ring, the Redis store, the egress and the links.
 */
#ifndef USSDGW_SMPP_SERVER_H
#define USSDGW_SMPP_SERVER_H

#include <stdbool.h>

#include <ev.h>
#include <jansson.h>

#include "ussdgw/daemon.h"

struct smpp_server;
struct sms_egress;
struct smpp_links;
struct crypto_keyring;
struct store_redis;

/** What the server borrows. */
struct smpp_server_opts {
	const struct crypto_keyring *keys; /**< TLS context (tls/<tls_cert>.crt/.key) */
	struct sms_egress *egress;	   /**< where submits go */
	struct store_redis *redis;	   /**< receipt lookups */
	struct smpp_links *links;	   /**< MO and receipts come from here (may be NULL) */
};

/**
 * Create the server from @p server_cfg (smpp_server) and @p accounts (accounts[])
 * and start listening. Password hashes are read and checked now.
 * @return 0, GW_EINVAL (bad account config), GW_ENOMEM, GW_ECRYPTO (TLS), or the
 *   negative errno of bind()/listen().
 */
int smpp_server_new(struct ev_loop *loop, json_t *server_cfg, json_t *accounts,
		    const struct smpp_server_opts *opts, struct smpp_server **out);

/** The bound TCP and TLS ports (0 when off); useful with port 0. */
int smpp_server_port(const struct smpp_server *s, bool tls);

/** Sessions open now (bound or not). */
unsigned smpp_server_sessions(const struct smpp_server *s);

/** Graceful: close the listeners, refuse new submits, answer what is in flight,
 *  unbind every session, then @p done runs once. */
void smpp_server_drain(struct smpp_server *s, void (*done)(void *cls), void *cls);

void smpp_server_free(struct smpp_server *s);

/** The daemon service "smpp-server" (add it after "smpp-links" and "sms-mo"); it does
 *  nothing while accounts[] is empty. */
extern const struct gw_service smpp_server_service;

#endif
