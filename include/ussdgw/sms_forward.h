/** @file
 * HTTP forwards of keyword MO SMS to the business (config forwards{}).
 *
 * A forward is durable in Redis before the MO is acknowledged:
 *   ussdgw:fwd:job:{ID}   hash   name, body, to, from, service, attempts, last_error
 *   ussdgw:fwd:due:NAME   zset   ID -> when it is next due (ms), per forward
 *   ussdgw:fwd:dead       list   dead-lettered jobs (JSON), newest first
 * Every node polls the due sets of the forwards it has configured; a script claims due jobs by
 * pushing their score out by a lease, so one node sends each attempt and a node that dies mid-call
 * leaves the job to be retried by any node when the lease ends.
 *
 * Each attempt is an HTTP POST of the job's JSON body to the forward's url with
 *   Content-Type: application/json
 *   X-Ussdgw-Delivery: ID            (the same on every attempt: de-duplicate on it)
 *   X-Ussdgw-Attempt: N              (1, 2, ...)
 *   X-Ussdgw-Timestamp: UNIX_SECONDS
 *   X-Ussdgw-Signature: v1=HEX       HMAC-SHA256(secret, TIMESTAMP "." BODY)
 * A 2xx ends the job; when its body is JSON with a string "reply", that text is
 * sent to the subscriber (class reply) through the egress callback. Anything
 * else (no answer, timeout, 3xx-5xx) is retried after
 * min(backoff_min * 2^(attempt-1), backoff_max) with jitter (a uniformly random
 * 50-100 % of it); after max_attempts attempts the job moves to the dead list.
 * Metrics: ussdgw_sms_forward_total{outcome} (delivered, retry, dead).
 *
 * Ownership: borrows the loop, Redis store, HTTP client and forwards config.
 */
#ifndef USSDGW_SMS_FORWARD_H
#define USSDGW_SMS_FORWARD_H

#include <stdbool.h>

#include <ev.h>
#include <jansson.h>

struct store_redis;
struct http_client;
struct sms_forward;

struct sms_forward_opts {
	unsigned max_attempts;	 /**< attempts before the dead list (>= 1) */
	unsigned backoff_min_ms; /**< delay after the first failure */
	unsigned backoff_max_ms; /**< cap on the delay */
	unsigned timeout_ms;	 /**< per attempt */
	unsigned poll_ms;	 /**< how often the due set is polled */
	unsigned lease_ms;	 /**< a claimed job is not claimed again for this long */
};

/** A job. Strings are borrowed for the call. */
struct sms_forward_job {
	const char *name;    /**< forwards{} key */
	const char *to;	     /**< the subscriber (for a reply) */
	const char *from;    /**< the short code (source of a reply) */
	const char *service; /**< consent service of a reply */
	const char *body;    /**< JSON body sent */
};

/** A 2xx answer carried a reply for the subscriber. Strings valid during the call. */
typedef void (*sms_forward_reply_fn)(void *cls, const char *to, const char *from,
				     const char *service, const char *text);
/** @p err 0 once the job is in Redis; @p id valid during the call. */
typedef void (*sms_forward_cb)(void *cls, int err, const char *id);

/**
 * @param forwards config forwards{} (borrowed): { NAME: { url, secret_file, ... } }
 * @return 0; GW_ECONFIG (a forward without a readable secret), GW_ENOMEM.
 */
int sms_forward_new(struct ev_loop *loop, struct store_redis *redis, struct http_client *http,
		    json_t *forwards, const struct sms_forward_opts *o, sms_forward_reply_fn reply,
		    void *reply_cls, struct sms_forward **out);
void sms_forward_free(struct sms_forward *f);
/** True when forwards{} has @p name. */
bool sms_forward_known(const struct sms_forward *f, const char *name);
/** Queue a job (see the file comment). @return 0 (callback follows), GW_ENOENT (unknown
 *  forward), GW_EINVAL, GW_ENOMEM. */
int sms_forward_enqueue(struct sms_forward *f, const struct sms_forward_job *j, sms_forward_cb cb,
			void *cls);
/** Signature header value for @p ts and @p body under @p secret (tests, receivers). */
void sms_forward_sign(const char *secret, size_t secret_len, const char *ts, const char *body,
		      char out[3 + 64 + 1]);

#endif
