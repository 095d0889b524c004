/** @file
 * pay/: payments from menus, exactly once.
 *
 * Two faces:
 *  - the API the USSD engine calls for a menu `pay` action
 *    (pay_intent_start()) and the settlement hook the SMS egress uses for the
 *    receipt (pay_set_settled_handler());
 *  - the provider interface (struct pay_provider_ops) every provider client
 *    implements (mpesa.c today; Stripe, PayPal, MoMo later): start, query,
 *    cancel where the provider has one, callback parsing and result mapping.
 *
 * Exactly once: the payment row with its idempotency key (UUID v4) and its
 * secret callback token is committed in PostgreSQL before the first request;
 * the move created -> requested is a compare-and-set, so however often a step
 * is re-sent (on this node or another) one request goes out; an ambiguous
 * outcome (timeout, reset, 5xx without an envelope) is never re-sent, it is
 * resolved by the callback or a query, else the payment ends `unknown` for
 * manual review.
 *
 * Everything here runs on the node's loop thread.
 */
#ifndef USSDGW_PAY_H
#define USSDGW_PAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ev_loop;
struct http_client;
struct gw_service;

/** Payment states (sql/0003-payments.sql holds the same names and rules). */
enum pay_state {
	PAY_CREATED,   /**< row committed, nothing sent */
	PAY_REQUESTED, /**< about to send / sent; provider reference not yet known */
	PAY_PENDING,   /**< the provider accepted it; waiting for the subscriber */
	PAY_SUCCEEDED, /**< paid (terminal for the menu; refunds move on from here) */
	PAY_FAILED,
	PAY_CANCELLED, /**< the subscriber refused */
	PAY_EXPIRED,   /**< our cut-off passed without an answer, or the provider expired it */
	PAY_UNKNOWN,   /**< outcome cannot be known without a person (manual review) */
	PAY_REFUNDED,
	PAY_REVERSED,
	PAY_STATE_COUNT
};

/** @return "created", "requested", ... or "invalid" (static). */
const char *pay_state_name(enum pay_state s);
/** @return 0 and the state, or GW_EINVAL. */
int pay_state_parse(const char *name, enum pay_state *out);
/** @return true when @p to is a forward move from @p from (the SQL rule). */
bool pay_transition_ok(enum pay_state from, enum pay_state to);
/** @return true for succeeded, failed, cancelled, expired, refunded, reversed. */
bool pay_state_settled(enum pay_state s);

/* ---- the engine's API ---------------------------------------------------- */

/** A menu `pay` step. Strings are copied by pay_intent_start(). */
struct pay_intent {
	const char *provider;	 /**< configured provider name (providers{} key) */
	int64_t amount_minor;	 /**< amount in minor units of @p currency (> 0) */
	const char *currency;	 /**< ISO 4217 ("KES") */
	const char *msisdn;	 /**< payer, canonical E.164 digits (msisdn.h) */
	const char *account_ref; /**< account / bill reference shown to the payer */
	const char *session_id;	 /**< gateway session id */
	unsigned step;		 /**< session step number: (session_id, step) is the key */
};

/** What pay_intent_start() reports; valid during the callback only. */
struct pay_started {
	/** 0: the row is committed and the request handed off (or it was already:
	 *  @p replay). Else GW_EINVAL (bad intent), GW_ENOENT (no such provider),
	 *  GW_ETHROTTLED (velocity limit or daily cap), GW_EDEPENDENCY (circuit
	 *  open, PostgreSQL down), GW_ECONFLICT (the step exists with other
	 *  values), GW_EPEER_STATUS (the provider refused the request at once). */
	int err;
	const char *payment_id; /**< the idempotency key, when a row exists */
	enum pay_state state;	/**< state when the callback runs */
	bool replay;		/**< the step was seen before: no new request went out */
	const char *reason;	/**< short text for logs ("velocity", "daily_cap", ...) */
};

typedef void (*pay_started_cb)(void *cls, const struct pay_started *r);

/**
 * Start the payment of a menu step, idempotent on (session_id, step).
 * @p cb runs exactly once, never from inside this call: after the payment row
 * is committed and the request handed to the provider client (the engine then
 * ends the USSD session with its notice: the provider's prompt cannot show
 * while USSD is open), or with an error.
 * @return 0 (the callback will run), or GW_EINVAL / GW_ESHUTDOWN (payments
 *         not running) / GW_ENOMEM and then it will not.
 */
int pay_intent_start(const struct pay_intent *in, pay_started_cb cb, void *cls);

/** A settled payment (final state reached); valid during the call only. */
struct pay_settlement {
	const char *payment_id;
	const char *session_id;
	const char *provider;
	const char *msisdn; /**< E.164 digits */
	int64_t amount_minor;
	const char *currency;
	const char *account_ref;
	enum pay_state state; /**< succeeded, failed, cancelled, expired */
	const char *receipt;  /**< provider receipt ("" when none) */
	bool late;	      /**< succeeded after we had expired / failed it */
};

typedef void (*pay_settled_fn)(void *cls, const struct pay_settlement *s);

/**
 * Install the settlement hook (one; NULL removes it). Called once per state
 * change into a settled state, after the change is committed and audited; the
 * SMS egress sends the transactional receipt from it.
 */
void pay_set_settled_handler(pay_settled_fn fn, void *cls);

/** A link the subscriber has to open to finish a payment; valid during the call. */
struct pay_notice {
	const char *payment_id;
	const char *session_id;
	const char *provider;
	const char *msisdn; /**< E.164 digits */
	const char *kind;   /**< "approve" (PayPal), "authenticate" (Stripe) */
	const char *url;
};

typedef void (*pay_notify_fn)(void *cls, const struct pay_notice *n);

/**
 * Install the "send this link to the subscriber" hook (one; NULL removes it).
 * Called once per payment that needs the subscriber (PayPal approval, Stripe
 * authentication), after the pending state is committed; the SMS egress
 * sends it as a transactional SMS. Without a hook the link is logged (the
 * URL is not: it is a bearer of the payment) and audited as not sent.
 */
void pay_set_notify_handler(pay_notify_fn fn, void *cls);

/* ---- the provider interface ---------------------------------------------- */

struct pay_provider;
struct pay_op;

/** How a provider call ended. */
enum pay_call_class {
	PAY_CALL_OK,	    /**< answered; see the result fields */
	PAY_CALL_REFUSED,   /**< definitely not processed (validation, credentials): final */
	PAY_CALL_AMBIGUOUS, /**< may have been processed (timeout, reset, 5xx): never re-send */
	PAY_CALL_PENDING,   /**< a query: still being processed */
	PAY_CALL_TRANSIENT, /**< a query: failed for now (throttled, circuit open); ask later */
	PAY_CALL_NOTFOUND,  /**< a query: the provider does not know the reference */
};
const char *pay_call_class_name(enum pay_call_class c);

/** The request a provider sends. Borrowed for the call. */
struct pay_request {
	const char *payment_id;
	int64_t amount_minor;
	const char *currency;
	const char *msisdn; /**< E.164 digits; the client converts to its own form */
	const char *account_ref;
	const char *callback_url; /**< absolute URL with the payment's secret token */
};

/** A call's result; valid during the callback only. */
struct pay_result {
	enum pay_call_class cls;
	int err; /**< GW_E* behind a non-OK class, else 0 */
	long http_status;
	const char *provider_ref; /**< start: the provider's id (CheckoutRequestID); "" */
	enum pay_state state;	  /**< query OK: the final state it reports */
	const char *result_code;  /**< provider code as text ("0", "1032", "SFC_IC0003"), "" */
	const char *result_desc;  /**< provider text, "" */
	/** start OK: a link the subscriber must open to finish (PayPal approval,
	 *  Stripe authentication); NULL or "" when none. Sent by the notice hook. */
	const char *customer_link;
	const char *link_kind; /**< "approve", "authenticate" */
	/** the provider's receipt when the answer carries one (charge, capture,
	 *  financial transaction id); NULL or "" */
	const char *receipt;
};

typedef void (*pay_result_cb)(void *cls, const struct pay_result *r);

/** A callback body as a provider client parsed it. Strings valid while the body is. */
struct pay_callback_info {
	char provider_ref[96];
	char result_code[32];
	char result_desc[128];
	enum pay_state state; /**< mapped from result_code */
	char receipt[32];     /**< "" unless success */
	int64_t amount_minor; /**< -1: not given */
	char msisdn[20];      /**< E.164 digits, "" when not given or masked */
};

/** A webhook (Stripe, PayPal) as a provider client parsed it. */
struct pay_webhook_event {
	char event_id[96];     /**< evt_..., WH-...: the de-duplication key */
	char event_type[64];   /**< payment_intent.succeeded, PAYMENT.CAPTURE.COMPLETED ... */
	char object_id[96];    /**< the resource the event is about (pi_..., capture id) */
	char provider_ref[96]; /**< the payment's reference (PaymentIntent id, order id) */
	char payment_id[37];   /**< the gateway's id carried back (metadata, custom_id); "" */
	enum pay_state state;  /**< what the event claims; PAY_PENDING when it settles nothing */
	int64_t amount_minor;  /**< -1: not given */
	char currency[4];      /**< "" when not given */
};

/** Header lookup for webhook verification (case-insensitive name; NULL: absent). */
typedef const char *(*pay_header_fn)(void *cls, const char *name);

/** A verification's verdict: 0 (authentic) or a pay_webhook_verdict (pay_webhook.h). */
typedef void (*pay_verify_cb)(void *cls, int verdict);

struct pay_provider_ops {
	const char *type; /**< "daraja" */
	/** Build from the provider's config object (@p cfg borrowed). */
	int (*create)(struct ev_loop *loop, struct http_client *http, const char *name, json_t *cfg,
		      struct pay_provider **out);
	void (*destroy)(struct pay_provider *p);
	/** Send the payment request; @p cb once unless cancelled. NULL: not started. */
	struct pay_op *(*start)(struct pay_provider *p, const struct pay_request *rq,
				pay_result_cb cb, void *cls);
	/** Ask for the state of @p provider_ref. */
	struct pay_op *(*query)(struct pay_provider *p, const char *provider_ref, pay_result_cb cb,
				void *cls);
	/** Cancel a payment at the provider; NULL where the provider has none (Daraja). */
	struct pay_op *(*cancel)(struct pay_provider *p, const char *provider_ref, pay_result_cb cb,
				 void *cls);
	/** Abandon an outstanding call (its callback will not run). */
	void (*abandon)(struct pay_op *op);
	/** Parse and check a callback body (shape, types): 0 or GW_EPROTO_MALFORMED. */
	int (*parse_callback)(const char *body, size_t len, struct pay_callback_info *out);
	/** Map a provider result code to a state. */
	enum pay_state (*map_result)(const char *code);
	/** Convert minor units of @p currency into the provider's wire amount (text);
	 *  GW_EINVAL when the provider cannot carry it (e.g. KES cents on Daraja). */
	int (*wire_amount)(int64_t minor, const char *currency, char *out, size_t n);
	/** Webhook providers only (NULL otherwise): check the signature of a
	 *  delivery over its raw @p body (borrowed for the call; what the check
	 *  needs later is copied). @p cb runs once, never from inside the call,
	 *  unless the op is abandoned. NULL: could not start (memory). */
	struct pay_op *(*verify_webhook)(struct pay_provider *p, pay_header_fn hdr, void *hdr_cls,
					 const char *body, size_t len, pay_verify_cb cb, void *cls);
	/** Webhook providers only: parse a verified body. 0, GW_EPROTO_MALFORMED,
	 *  or GW_ENOTSUP for an event type that concerns no payment. */
	int (*parse_webhook)(const char *body, size_t len, struct pay_webhook_event *out);
};

/** The provider types built in. @return the ops for @p type or NULL. */
const struct pay_provider_ops *pay_provider_ops_find(const char *type);

/** The daemon service "payments" (src/pay/pay_service.c): providers, intents,
 *  callbacks, reconciliation. Needs the "postgres" service; inert without providers. */
extern const struct gw_service pay_service;
/** The admin routes of payments (GET /payments/review; test routes when
 *  payments.test_trigger): add after the listeners (src/pay/pay_admin.c). */
extern const struct gw_service pay_admin_service;

#endif
