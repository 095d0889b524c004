/* The single MT egress point: consent, routing, durable enqueue (sms_egress.h). */
#include "ussdgw/sms_egress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/smpp_mtq.h"
#include "ussdgw/smpp_pdu.h"
#include "ussdgw/store_redis.h"

#define MAX_ROUTE_LINKS 8

struct route {
	char prefix[24];
	unsigned nlinks;
	const char *links[MAX_ROUTE_LINKS]; /* borrowed from the config */
	char failover_on[96];
};

struct sms_egress {
	struct store_redis *redis;
	const struct crypto_keyring *keys;
	json_t *links_cfg;
	struct route *routes;
	unsigned nroutes;
};

/* One submit in flight: copies of the MT's strings. */
struct job {
	struct sms_egress *eg;
	sms_egress_cb cb;
	void *cls;
	void (*fo_done)(void *cls, bool rerouted); /* failover mode */
	enum sms_class cls_;
	char mt_id[64];
	char to[24], from[24];
	char *text;
	uint8_t st, sn, dt, dn;
	char service[40];
	char account[32];
	int rd;
	const struct route *route;
	struct route *owned_route; /* failover: the links the entry had left */
	unsigned next;		   /* index of the next link to try in route */
	char link[64];
};

const char *sms_class_name(enum sms_class c)
{
	switch (c) {
	case SMS_CLASS_REPLY:
		return "reply";
	case SMS_CLASS_TRANSACTIONAL:
		return "transactional";
	case SMS_CLASS_PROMOTIONAL:
		return "promotional";
	}
	return "UNKNOWN";
}

int sms_class_parse(const char *s, enum sms_class *out)
{
	for (int c = SMS_CLASS_REPLY; c <= SMS_CLASS_PROMOTIONAL; c++)
		if (s && !strcmp(s, sms_class_name((enum sms_class)c))) {
			*out = (enum sms_class)c;
			return 0;
		}
	return GW_EINVAL;
}

const char *sms_egress_error_class(uint32_t status)
{
	switch (status) {
	case ESME_RTHROTTLED:
	case ESME_RMSGQFUL:
		return "throttled";
	case ESME_RSYSERR:
	case ESME_RX_T_APPN:
	case ESME_RUNKNOWNERR:
	case ESME_RINVBNDSTS:
	case 0:
		return "temporary";
	case ESME_RINVSRCADR:
	case ESME_RINVDSTADR:
	case ESME_RINVSRCTON:
	case ESME_RINVSRCNPI:
	case ESME_RINVDSTTON:
	case ESME_RINVDSTNPI:
		return "address";
	default:
		return "permanent";
	}
}

static bool class_listed(const char *list, const char *cls)
{
	size_t n = strlen(cls);
	for (const char *p = list; p && *p;) {
		const char *e = p + strcspn(p, "|, ");
		if ((size_t)(e - p) == n && !strncmp(p, cls, n))
			return true;
		p = *e ? e + 1 : e;
	}
	return false;
}

int sms_egress_new(struct store_redis *redis, const struct crypto_keyring *keys, json_t *routes,
		   json_t *links_cfg, struct sms_egress **out)
{
	struct sms_egress *eg = calloc(1, sizeof(*eg));
	if (!eg)
		return GW_ENOMEM;
	eg->redis = redis;
	eg->keys = keys;
	eg->links_cfg = links_cfg;
	size_t n = routes ? json_array_size(routes) : 0;
	eg->routes = calloc(n ? n : 1, sizeof(*eg->routes));
	if (!eg->routes) {
		free(eg);
		return GW_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(routes, i);
		struct route *rt = &eg->routes[eg->nroutes];
		snprintf(rt->prefix, sizeof(rt->prefix), "%s", cfg_str(r, "prefix"));
		snprintf(rt->failover_on, sizeof(rt->failover_on), "%s", cfg_str(r, "failover_on"));
		json_t *ls = cfg_get(r, "links");
		for (size_t j = 0; ls && j < json_array_size(ls) && rt->nlinks < MAX_ROUTE_LINKS;
		     j++) {
			const char *name = json_string_value(json_array_get(ls, j));
			if (name)
				rt->links[rt->nlinks++] = name;
		}
		if (rt->nlinks == 0) {
			LOGP(DSMS, LOG_ERROR, "routes[%zu] (prefix \"%s\"): no links", i,
			     rt->prefix);
			free(eg->routes);
			free(eg);
			return GW_EINVAL;
		}
		eg->nroutes++;
	}
	*out = eg;
	return 0;
}

void sms_egress_free(struct sms_egress *eg)
{
	if (!eg)
		return;
	free(eg->routes);
	free(eg);
}

static const struct route *route_for(const struct sms_egress *eg, const char *to)
{
	const struct route *best = NULL;
	size_t best_len = 0;
	for (unsigned i = 0; i < eg->nroutes; i++) {
		size_t pl = strlen(eg->routes[i].prefix);
		if (strncmp(to, eg->routes[i].prefix, pl) == 0 && (!best || pl > best_len)) {
			best = &eg->routes[i];
			best_len = pl;
		}
	}
	return best;
}

static unsigned queue_max(const struct sms_egress *eg, const char *link)
{
	for (size_t i = 0; eg->links_cfg && i < json_array_size(eg->links_cfg); i++) {
		json_t *l = json_array_get(eg->links_cfg, i);
		if (!strcmp(cfg_str(l, "name"), link))
			return (unsigned)cfg_int(l, "mt_queue_max");
	}
	return 0;
}

static void count(enum sms_class c, const char *outcome)
{
	char lb[96];
	snprintf(lb, sizeof(lb), "class=\"%s\",outcome=\"%s\"", sms_class_name(c), outcome);
	metric_inc(metrics_counter("ussdgw_sms_egress_total", "MT SMS at the egress point", lb));
}

static void finish(struct job *j, int err, uint32_t status, const char *outcome)
{
	count(j->cls_, outcome);
	if (j->fo_done) {
		j->fo_done(j->cls, err == 0);
	} else {
		struct sms_egress_result res = {.err = err,
						.smpp_status = status,
						.mt_id = j->mt_id,
						.link = err ? NULL : j->link};
		j->cb(j->cls, &res);
	}
	free(j->owned_route);
	free(j->text);
	free(j);
}

static void try_next(struct job *j);

static void enqueued(void *cls, int err, const char *mt_id)
{
	struct job *j = cls;
	(void)mt_id;
	if (err == 0) {
		LOGP(DSMS, LOG_INFO, "MT %s (%s%s%s) queued on link %s", j->mt_id,
		     sms_class_name(j->cls_), j->account[0] ? ", account " : "", j->account,
		     j->link);
		finish(j, 0, ESME_ROK, "queued");
		return;
	}
	if (err == GW_EOVERLOAD && j->next < j->route->nlinks) {
		LOGP(DSMS, LOG_NOTICE, "MT %s: queue of link %s full, trying the next link",
		     j->mt_id, j->link);
		try_next(j);
		return;
	}
	if (err == GW_EOVERLOAD)
		finish(j, err, ESME_RMSGQFUL, "overload");
	else
		finish(j, err, ESME_RSYSERR, "error");
}

static void try_next(struct job *j)
{
	const struct route *rt = j->route;
	const char *link = rt->links[j->next++];
	snprintf(j->link, sizeof(j->link), "%s", link);
	char rest[256] = "";
	for (unsigned i = j->next; i < rt->nlinks; i++) {
		size_t cur = strlen(rest);
		snprintf(rest + cur, sizeof(rest) - cur, "%s%s", cur ? "," : "", rt->links[i]);
	}
	struct smpp_mt mt = {
	    .mt_id = j->mt_id,
	    .to = j->to,
	    .from = j->from,
	    .text = j->text,
	    .src_ton = j->st,
	    .src_npi = j->sn,
	    .dst_ton = j->dt,
	    .dst_npi = j->dn,
	    .msg_class = sms_class_name(j->cls_),
	    .registered_delivery = j->rd,
	    .account = j->account[0] ? j->account : NULL,
	    .route = rest,
	};
	int rc = smpp_mtq_enqueue(j->eg->redis, link, &mt, queue_max(j->eg, link), enqueued, j);
	if (rc) /* the enqueue callback will not run; we are already on a callback */
		finish(j, rc, ESME_RSYSERR, "error");
}

static void consent_read(void *cls, int err, redisReply *reply)
{
	struct job *j = cls;
	if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
		LOGP(DSMS, LOG_NOTICE, "MT %s: consent not readable (%s): refused for now",
		     j->mt_id, err ? gw_strerror(err) : "bad reply");
		finish(j, GW_EDEPENDENCY, ESME_RSYSERR, "error");
		return;
	}
	bool opted_out = false;
	for (size_t i = 0; i < reply->elements; i++) {
		redisReply *e = reply->element[i];
		if (e->type == REDIS_REPLY_STRING && e->len == 1 && e->str[0] == '1')
			opted_out = true;
	}
	if (opted_out) {
		if (j->cls_ == SMS_CLASS_PROMOTIONAL) {
			LOGP(DSMS, LOG_NOTICE,
			     "MT %s: promotional, recipient opted out of %s: refused", j->mt_id,
			     j->service);
			finish(j, GW_EACCES, SMS_EGRESS_STATUS_OPTED_OUT, "opted_out");
			return;
		}
		char lb[48];
		snprintf(lb, sizeof(lb), "class=\"%s\"", sms_class_name(j->cls_));
		metric_inc(metrics_counter("ussdgw_sms_consent_override_total",
					   "MT sent over an opt-out (reply/transactional)", lb));
		LOGP(DSMS, LOG_INFO, "MT %s: %s to a recipient opted out of %s: passes, counted",
		     j->mt_id, sms_class_name(j->cls_), j->service);
	}
	try_next(j);
}

/* An outcome known at once (no route) or a failover still runs from a Redis callback, so
 * callbacks never run inside the submitting call: a PING carries it. */
static void deferred(void *cls, int err, redisReply *reply)
{
	(void)err, (void)reply;
	struct job *j = cls;
	if (!j->route)
		finish(j, GW_ENOENT, ESME_RINVDSTADR, "no_route");
	else
		try_next(j);
}

static struct job *job_new(struct sms_egress *eg, const char *mt_id, const char *to,
			   const char *from, const char *text)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->eg = eg;
	j->text = strdup(text);
	if (!j->text) {
		free(j);
		return NULL;
	}
	if (mt_id && mt_id[0])
		snprintf(j->mt_id, sizeof(j->mt_id), "%s", mt_id);
	else if (crypto_uuid4(j->mt_id) != 0) {
		free(j->text);
		free(j);
		return NULL;
	}
	snprintf(j->to, sizeof(j->to), "%s", to);
	snprintf(j->from, sizeof(j->from), "%s", from ? from : "");
	return j;
}

int sms_egress_submit(struct sms_egress *eg, const struct sms_mt *mt, sms_egress_cb cb, void *cls)
{
	if (!eg || !mt || !mt->to || !mt->to[0] || !mt->text || !cb ||
	    mt->cls > SMS_CLASS_PROMOTIONAL)
		return GW_EINVAL;
	struct job *j = job_new(eg, mt->mt_id, mt->to, mt->from, mt->text);
	if (!j)
		return GW_ENOMEM;
	j->cb = cb;
	j->cls = cls;
	j->cls_ = mt->cls;
	j->st = mt->src_ton, j->sn = mt->src_npi, j->dt = mt->dst_ton, j->dn = mt->dst_npi;
	j->rd = mt->registered_delivery;
	snprintf(j->service, sizeof(j->service), "%s", mt->service ? mt->service : "default");
	snprintf(j->account, sizeof(j->account), "%s", mt->account ? mt->account : "");
	j->route = route_for(eg, j->to);
	int rc;
	if (!j->route) {
		rc = store_redis_command(eg->redis, deferred, j, 0, "PING");
	} else {
		char tok[CRYPTO_TOKEN_HEX + 1];
		rc = crypto_msisdn_token(eg->keys, j->to, tok);
		if (rc == 0)
			rc = store_redis_command(eg->redis, consent_read, j, 0,
						 "HMGET ussdgw:consent:{%s} %s *", tok, j->service);
	}
	if (rc) {
		free(j->text);
		free(j);
		return rc;
	}
	return 0;
}

bool sms_egress_failover(struct sms_egress *eg, const char *link, const struct smpp_mtq_entry *e,
			 uint32_t status, void (*done)(void *cls, bool rerouted), void *cls)
{
	if (!eg || !e || !e->route[0] || !e->text)
		return false;
	const struct route *rt = route_for(eg, e->to);
	const char *ec = sms_egress_error_class(status);
	if (!rt || !class_listed(rt->failover_on, ec)) {
		LOGP(DSMS, LOG_INFO, "MT %s failed on %s (%s class): no failover for that class",
		     e->mt_id, link, ec);
		return false;
	}
	struct job *j = job_new(eg, e->mt_id, e->to, e->from, e->text);
	if (!j)
		return false;
	j->fo_done = done;
	j->cls = cls;
	enum sms_class c = SMS_CLASS_TRANSACTIONAL;
	sms_class_parse(e->msg_class, &c);
	j->cls_ = c;
	j->st = e->src_ton, j->sn = e->src_npi, j->dt = e->dst_ton, j->dn = e->dst_npi;
	j->rd = e->registered_delivery;
	snprintf(j->account, sizeof(j->account), "%s", e->account);
	/* A route made of the links the entry still has, in its order. */
	struct route *r2 = calloc(1, sizeof(*r2));
	if (!r2) {
		free(j->text);
		free(j);
		return false;
	}
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", e->route);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && r2->nlinks < MAX_ROUTE_LINKS;
	     t = strtok_r(NULL, ",", &save)) {
		/* Point at the config's copy of the name (it outlives the job). */
		for (unsigned k = 0; k < rt->nlinks; k++)
			if (!strcmp(rt->links[k], t))
				r2->links[r2->nlinks++] = rt->links[k];
	}
	if (r2->nlinks == 0) {
		free(r2);
		free(j->text);
		free(j);
		return false;
	}
	snprintf(r2->failover_on, sizeof(r2->failover_on), "%s", rt->failover_on);
	j->route = r2;
	j->owned_route = r2;
	LOGP(DSMS, LOG_NOTICE, "MT %s failed on %s with %s (%s): failing over to %s", e->mt_id,
	     link, smpp_status_name(status), ec, r2->links[0]);
	if (store_redis_command(eg->redis, deferred, j, 0, "PING") != 0) {
		free(r2);
		free(j->text);
		free(j);
		return false;
	}
	return true;
}
