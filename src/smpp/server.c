/* The SMPP server: listeners, sessions, bind auth, submits to the egress point,
 * MO and receipts out to accounts (smpp_server.h). */
#include "ussdgw/smpp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "ussdgw/config.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/passwd.h"
#include "ussdgw/secfile.h"
#include "ussdgw/smpp_conn.h"
#include "ussdgw/smpp_dlr.h"
#include "ussdgw/smpp_link.h"
#include "ussdgw/smpp_mtq.h"
#include "ussdgw/smpp_pdu.h"
#include "ussdgw/smpp_text.h"
#include "ussdgw/sms_egress.h"
#include "ussdgw/store_redis.h"
#include "ussdgw/workers.h"

#define TICK_S	     0.25
#define VIOL_LOG_MAX 3u /* protocol violations logged per session */
#define MAX_ADDRS    32u
#define MAX_CIDRS    32u
#define IP_TABLE_MAX 4096u
#define OUT_BUF	     8192u

struct cidr {
	int fam;
	uint8_t a[16];
	unsigned bits;
};

struct account {
	char name[32];
	char system_id[16];
	char hash[PASSWD_HASH_MAX];
	struct cidr ips[MAX_CIDRS];
	unsigned nips;
	char addrs[MAX_ADDRS][24];
	unsigned naddrs;
	unsigned max_binds, window, tps;
	enum sms_class cls;
	unsigned binds;
	double tokens, tok_at;
	uint8_t ok_mac[32]; /* HMAC of the last password that verified */
	bool ok_cached;
	unsigned rr;
	struct metric *m_binds, *m_sub_ok, *m_sub_refused, *m_throttled, *m_dlv_mo, *m_dlv_receipt,
	    *m_bind_ok;
};

struct ipent {
	char ip[INET6_ADDRSTRLEN];
	unsigned conns;
	unsigned fails;
	double fail_start, blocked_until;
};

enum sess_state { S_OPEN, S_AUTH, S_BOUND, S_CLOSING };

struct outreq {
	bool used;
	uint32_t seq;
	double deadline;
	struct smpp_mo *mo; /* an MO to answer upstream, or NULL (receipt) */
};

struct session {
	struct smpp_server *srv;
	struct session *prev, *next;
	struct smpp_conn *conn;
	char peer[INET6_ADDRSTRLEN + 8];
	char ip[INET6_ADDRSTRLEN];
	struct ipent *ipe;
	bool tls, tls_up;
	enum sess_state state;
	uint32_t bind_cmd;
	struct account *acct;
	ev_timer timer;
	double opened, last_pdu, stall_since, close_at;
	unsigned inflight, violations, refs, bind_fails;
	bool dead, unbind_sent;
	uint32_t next_seq;
	struct outreq *out;
	unsigned nout;
};

struct smpp_server {
	struct ev_loop *loop;
	json_t *cfg;
	struct account *accts;
	unsigned naccts;
	struct ipent *ipt;
	unsigned nipt;
	struct session *sessions;
	unsigned nsessions;
	int fd[2];
	int port[2];
	ev_io lw[2];
	SSL_CTX *tls;
	struct gw_workers *workers;
	struct sms_egress *egress;
	struct store_redis *redis;
	struct smpp_links *links;
	uint8_t mac_key[32];
	struct smpp_decode_opts dopts;
	/* limits */
	unsigned max_sessions, max_per_ip, viol_max, kdf_per_ip, bind_fail_max;
	double session_init, inactivity, stall, resp_timeout, fail_window, fail_block,
	    unbind_timeout;
	size_t wq_max;
	bool draining;
	void (*drain_done)(void *cls);
	void *drain_cls;
	ev_timer drain_timer;
	struct metric *m_sessions, *m_rejected_conn, *m_bind_fail, *m_viol, *m_cut;
};

/* --- small helpers ------------------------------------------------------------------- */

static double now_s(const struct smpp_server *s)
{
	return ev_now(s->loop);
}

static int cidr_parse(const char *txt, struct cidr *c)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", txt);
	char *slash = strchr(buf, '/');
	long bits = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		bits = strtol(slash + 1, &end, 10);
		if (*end || bits < 0)
			return GW_EINVAL;
	}
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->a) == 1) {
		c->fam = AF_INET;
		c->bits = bits < 0 ? 32 : (unsigned)bits;
		return c->bits <= 32 ? 0 : GW_EINVAL;
	}
	if (inet_pton(AF_INET6, buf, c->a) == 1) {
		c->fam = AF_INET6;
		c->bits = bits < 0 ? 128 : (unsigned)bits;
		return c->bits <= 128 ? 0 : GW_EINVAL;
	}
	return GW_EINVAL;
}

static bool cidr_match(const struct cidr *c, const char *ip)
{
	uint8_t a[16];
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (fam != c->fam || inet_pton(fam, ip, a) != 1)
		return false;
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(a, c->a, full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xFF << (8 - rest));
		if ((a[full] & m) != (c->a[full] & m))
			return false;
	}
	return true;
}

static bool account_ip_ok(const struct account *a, const char *ip)
{
	if (a->nips == 0)
		return true;
	for (unsigned i = 0; i < a->nips; i++)
		if (cidr_match(&a->ips[i], ip))
			return true;
	return false;
}

/* An address pattern: exact, or a prefix when it ends in '*'. Returns the matched length. */
static size_t addr_match(const char *pat, const char *addr)
{
	size_t n = strlen(pat);
	if (n && pat[n - 1] == '*')
		return strncmp(pat, addr, n - 1) == 0 ? n : 0;
	return strcmp(pat, addr) == 0 ? n + 1 : 0;
}

static bool account_addr_ok(const struct account *a, const char *addr)
{
	if (a->naddrs == 0)
		return true;
	for (unsigned i = 0; i < a->naddrs; i++)
		if (addr_match(a->addrs[i], addr))
			return true;
	return false;
}

static struct account *account_for_address(struct smpp_server *srv, const char *addr)
{
	struct account *best = NULL;
	size_t best_len = 0;
	for (unsigned i = 0; i < srv->naccts; i++)
		for (unsigned j = 0; j < srv->accts[i].naddrs; j++) {
			size_t m = addr_match(srv->accts[i].addrs[j], addr);
			if (m > best_len) {
				best = &srv->accts[i];
				best_len = m;
			}
		}
	return best;
}

static struct account *account_by_name(struct smpp_server *srv, const char *name)
{
	for (unsigned i = 0; i < srv->naccts; i++)
		if (!strcmp(srv->accts[i].name, name))
			return &srv->accts[i];
	return NULL;
}

static struct ipent *ip_get(struct smpp_server *srv, const char *ip)
{
	struct ipent *free_slot = NULL;
	double now = now_s(srv);
	for (unsigned i = 0; i < srv->nipt; i++) {
		struct ipent *e = &srv->ipt[i];
		if (!strcmp(e->ip, ip))
			return e;
		if (!free_slot && e->conns == 0 && e->blocked_until < now &&
		    now - e->fail_start > srv->fail_window)
			free_slot = e;
	}
	if (!free_slot) {
		if (srv->nipt >= IP_TABLE_MAX)
			return NULL;
		free_slot = &srv->ipt[srv->nipt++];
	}
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->ip, sizeof(free_slot->ip), "%s", ip);
	return free_slot;
}

static bool ip_blocked(const struct smpp_server *srv, const struct ipent *e)
{
	return e && e->blocked_until > now_s(srv);
}

static void ip_bind_failed(struct smpp_server *srv, struct ipent *e)
{
	if (!e)
		return;
	double now = now_s(srv);
	if (now - e->fail_start > srv->fail_window) {
		e->fail_start = now;
		e->fails = 0;
	}
	if (++e->fails >= srv->bind_fail_max && e->blocked_until < now) {
		e->blocked_until = now + srv->fail_block;
		LOGP(DSMPP, LOG_WARN,
		     "smpp-server: %s blocked for %.0f s after %u failed binds in %.0f s", e->ip,
		     srv->fail_block, e->fails, srv->fail_window);
	}
}

static void pw_mac(const struct smpp_server *srv, const struct account *a, const char *pw,
		   size_t len, uint8_t out[32])
{
	uint8_t buf[16 + 1 + 9];
	size_t sl = strlen(a->system_id);
	memcpy(buf, a->system_id, sl);
	buf[sl] = 0;
	memcpy(buf + sl + 1, pw, len);
	crypto_hmac_sha256(srv->mac_key, sizeof(srv->mac_key), buf, sl + 1 + len, out);
	OPENSSL_cleanse(buf, sizeof(buf));
}

static void str_copy(char *dst, size_t cap, struct smpp_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	memcpy(dst, s.ptr, n);
	dst[n] = '\0';
}

/* --- sessions -------------------------------------------------------------------------- */

static void sess_unref(struct session *s)
{
	if (--s->refs == 0) {
		free(s->out);
		free(s);
	}
}

static void violation(struct session *s, const char *what)
{
	s->violations++;
	metric_inc(s->srv->m_viol);
	if (s->violations <= VIOL_LOG_MAX)
		GW_PEER_VIOLATION(DSMPP, s->peer, "%s", what);
}

static void sess_close(struct session *s, const char *why)
{
	if (s->dead)
		return;
	struct smpp_server *srv = s->srv;
	s->dead = true;
	LOGP(DSMPP, s->state == S_BOUND || s->state == S_CLOSING ? LOG_INFO : LOG_DEBUG,
	     "smpp-server: %s%s%s closed: %s", s->peer, s->acct ? " account " : "",
	     s->acct ? s->acct->name : "", why);
	smpp_conn_free(s->conn);
	s->conn = NULL;
	ev_timer_stop(srv->loop, &s->timer);
	for (unsigned i = 0; i < s->nout; i++)
		if (s->out[i].used && s->out[i].mo) {
			smpp_mo_respond(s->out[i].mo, ESME_RX_T_APPN);
			s->out[i].used = false;
		}
	if (s->acct && s->bind_cmd && (s->state == S_BOUND || s->state == S_CLOSING)) {
		s->acct->binds--;
		metric_set(s->acct->m_binds, s->acct->binds);
	}
	if (s->ipe && s->ipe->conns)
		s->ipe->conns--;
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->nsessions--;
	metric_set(srv->m_sessions, srv->nsessions);
	sess_unref(s);
	if (srv->draining && srv->nsessions == 0 && srv->drain_done) {
		void (*d)(void *) = srv->drain_done;
		srv->drain_done = NULL;
		ev_timer_stop(srv->loop, &srv->drain_timer);
		d(srv->drain_cls);
	}
}

static bool sess_send(struct session *s, const struct smpp_pdu *p)
{
	if (s->dead)
		return false;
	uint8_t buf[OUT_BUF];
	size_t n;
	int rc = smpp_encode(p, buf, sizeof(buf), &n);
	if (rc) {
		LOGP(DSMPP, LOG_ERROR, "smpp-server: %s: cannot encode %s: %s", s->peer,
		     smpp_command_name(p->command_id), gw_strerror(rc));
		return false;
	}
	if (smpp_conn_pending(s->conn) + n > s->srv->wq_max) {
		metric_inc(s->srv->m_cut);
		sess_close(s, "peer does not read its answers (write queue over cap)");
		return false;
	}
	if (smpp_conn_send(s->conn, buf, n) != 0) {
		sess_close(s, "write failed");
		return false;
	}
	return true;
}

static void sess_error(struct session *s, const struct smpp_pdu *req, uint32_t status)
{
	if (s->dead)
		return;
	uint8_t buf[16];
	size_t n;
	if (smpp_encode_error(req, status, buf, sizeof(buf), &n) == 0 &&
	    smpp_conn_pending(s->conn) + n <= s->srv->wq_max)
		smpp_conn_send(s->conn, buf, n);
}

static struct outreq *out_slot(struct session *s)
{
	for (unsigned i = 0; i < s->nout; i++)
		if (!s->out[i].used)
			return &s->out[i];
	return NULL;
}

static uint32_t sess_seq(struct session *s)
{
	s->next_seq = s->next_seq >= 0x7FFFFFFFu ? 1 : s->next_seq + 1;
	return s->next_seq;
}

static bool sess_can_receive(const struct session *s)
{
	return !s->dead && s->state == S_BOUND &&
	       (s->bind_cmd == SMPP_BIND_RECEIVER || s->bind_cmd == SMPP_BIND_TRANSCEIVER);
}

/* A receiver session of @p a with a free window slot (round robin). */
static struct session *receiver_for(struct smpp_server *srv, struct account *a)
{
	unsigned n = 0;
	for (struct session *s = srv->sessions; s; s = s->next)
		if (s->acct == a && sess_can_receive(s) && out_slot(s))
			n++;
	if (!n)
		return NULL;
	unsigned pick = a->rr++ % n;
	for (struct session *s = srv->sessions; s; s = s->next)
		if (s->acct == a && sess_can_receive(s) && out_slot(s) && pick-- == 0)
			return s;
	return NULL;
}

static void tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct session *s = w->data;
	struct smpp_server *srv = s->srv;
	double now = now_s(srv);
	if (s->state == S_OPEN || s->state == S_AUTH) {
		if (now - s->opened > srv->session_init) {
			metric_inc(srv->m_cut);
			sess_close(s, "no bind within session_init_ms");
			return;
		}
	} else if (now - s->last_pdu > srv->inactivity) {
		metric_inc(srv->m_cut);
		sess_close(s, "inactive");
		return;
	}
	size_t held = smpp_conn_buffered(s->conn);
	if (held == 0 || s->last_pdu > s->stall_since)
		s->stall_since = held ? now : 0;
	else if (s->stall_since && now - s->stall_since > srv->stall) {
		metric_inc(srv->m_cut);
		violation(s, "PDU stalled part-way");
		sess_close(s, "stalled in the middle of a PDU");
		return;
	}
	for (unsigned i = 0; i < s->nout; i++)
		if (s->out[i].used && s->out[i].deadline < now) {
			LOGP(DSMPP, LOG_NOTICE, "smpp-server: %s: deliver_sm seq %u unanswered",
			     s->peer, s->out[i].seq);
			if (s->out[i].mo)
				smpp_mo_respond(s->out[i].mo, ESME_RX_T_APPN);
			s->out[i].used = false;
		}
	if (s->state == S_CLOSING && s->inflight == 0 &&
	    ((!s->unbind_sent && smpp_conn_pending(s->conn) == 0) || now > s->close_at)) {
		sess_close(s, s->unbind_sent ? "unbind not answered in time" : "unbound");
		return;
	}
}

/* --- bind ------------------------------------------------------------------------------ */

struct kdf_job {
	struct session *s;
	struct account *a;
	uint32_t seq, cmd;
	char pw[9];
	size_t pwlen;
	int result;
};

static void kdf_work(void *arg)
{
	struct kdf_job *j = arg;
	j->result = passwd_verify(j->a->hash, j->pw, j->pwlen);
}

static void bind_answer(struct session *s, uint32_t cmd, uint32_t seq, uint32_t status)
{
	struct smpp_pdu r;
	smpp_pdu_init(&r, cmd | SMPP_RESP_BIT, seq);
	r.command_status = status;
	if (status == ESME_ROK) {
		r.system_id = smpp_str_c("ussdgw");
		smpp_pdu_add_tlv_u8(&r, SMPP_TLV_SC_INTERFACE_VERSION, SMPP_INTERFACE_VERSION);
	} else {
		r.flags |= SMPP_PDU_F_HEADER_ONLY;
	}
	sess_send(s, &r);
}

static const char *bind_kind(uint32_t cmd)
{
	return cmd == SMPP_BIND_RECEIVER      ? "receiver"
	       : cmd == SMPP_BIND_TRANSMITTER ? "transmitter"
					      : "transceiver";
}

static void bind_refuse(struct session *s, uint32_t cmd, uint32_t seq, uint32_t status,
			const char *why)
{
	struct smpp_server *srv = s->srv;
	metric_inc(srv->m_bind_fail);
	if (s->bind_fails++ < VIOL_LOG_MAX)
		LOGP(DSMPP, LOG_NOTICE, "smpp-server: %s: bind refused: %s", s->peer, why);
	s->state = S_OPEN;
	bind_answer(s, cmd, seq, status);
	/* A connection that keeps trying is not going to bind. */
	if (s->bind_fails >= srv->bind_fail_max) {
		metric_inc(srv->m_cut);
		sess_close(s, "too many failed binds on one connection");
	}
}

static void bind_accept(struct session *s, struct account *a, uint32_t cmd, uint32_t seq)
{
	if (a->binds >= a->max_binds) {
		bind_refuse(s, cmd, seq, ESME_RBINDFAIL, "account at its bind count");
		return;
	}
	a->binds++;
	metric_set(a->m_binds, a->binds);
	metric_inc(a->m_bind_ok);
	s->acct = a;
	s->bind_cmd = cmd;
	s->state = S_BOUND;
	s->nout = a->window;
	s->out = calloc(s->nout, sizeof(*s->out));
	if (!s->out) {
		s->nout = 0;
		sess_close(s, "out of memory");
		return;
	}
	LOGP(DSMPP, LOG_NOTICE, "smpp-server: %s bound as %s of account %s%s", s->peer,
	     bind_kind(cmd), a->name, s->tls ? " (TLS)" : "");
	bind_answer(s, cmd, seq, ESME_ROK);
}

static void kdf_done(void *arg, int err)
{
	struct kdf_job *j = arg;
	struct session *s = j->s;
	if (!err && j->result == 0) {
		/* Remember it: the next bind with this password skips the KDF. */
		pw_mac(s->srv, j->a, j->pw, j->pwlen, j->a->ok_mac);
		j->a->ok_cached = true;
	}
	OPENSSL_cleanse(j->pw, sizeof(j->pw));
	if (!s->dead && s->state == S_AUTH) {
		if (err) {
			bind_refuse(s, j->cmd, j->seq, ESME_RSYSERR, "password check cancelled");
		} else if (j->result == 0) {
			bind_accept(s, j->a, j->cmd, j->seq);
		} else {
			ip_bind_failed(s->srv, s->ipe);
			bind_refuse(s, j->cmd, j->seq, ESME_RBINDFAIL,
				    j->result == GW_EPERM ? "wrong password"
							  : "password check failed");
		}
	}
	sess_unref(s);
	free(j);
}

static void on_bind(struct session *s, const struct smpp_pdu *p)
{
	struct smpp_server *srv = s->srv;
	uint32_t cmd = p->command_id, seq = p->sequence_number;
	if (s->state == S_BOUND || s->state == S_AUTH) {
		sess_error(s, p, ESME_RALYBND);
		return;
	}
	if (s->state != S_OPEN || srv->draining) {
		sess_error(s, p, ESME_RBINDFAIL);
		return;
	}
	if (ip_blocked(srv, s->ipe)) {
		bind_refuse(s, cmd, seq, ESME_RBINDFAIL, "source blocked after failed binds");
		return;
	}
	char sysid[17];
	str_copy(sysid, sizeof(sysid), p->system_id);
	struct account *a = NULL;
	for (unsigned i = 0; i < srv->naccts; i++)
		if (!strcmp(srv->accts[i].system_id, sysid))
			a = &srv->accts[i];
	if (!a) {
		ip_bind_failed(srv, s->ipe);
		bind_refuse(s, cmd, seq, ESME_RBINDFAIL, "unknown system_id");
		return;
	}
	if (!account_ip_ok(a, s->ip)) {
		ip_bind_failed(srv, s->ipe);
		bind_refuse(s, cmd, seq, ESME_RBINDFAIL, "source IP not allowed for the account");
		return;
	}
	if (a->binds >= a->max_binds) {
		bind_refuse(s, cmd, seq, ESME_RBINDFAIL, "account at its bind count");
		return;
	}
	if (p->password.len > 8) {
		ip_bind_failed(srv, s->ipe);
		bind_refuse(s, cmd, seq, ESME_RBINDFAIL, "password over 8 bytes");
		return;
	}
	/* A password that verified before (same process) skips the KDF. */
	uint8_t mac[32];
	pw_mac(srv, a, p->password.ptr, p->password.len, mac);
	if (a->ok_cached && CRYPTO_memcmp(mac, a->ok_mac, 32) == 0) {
		bind_accept(s, a, cmd, seq);
		return;
	}
	struct kdf_job *j = calloc(1, sizeof(*j));
	if (!j) {
		bind_refuse(s, cmd, seq, ESME_RSYSERR, "out of memory");
		return;
	}
	j->s = s;
	j->a = a;
	j->seq = seq;
	j->cmd = cmd;
	j->pwlen = p->password.len;
	memcpy(j->pw, p->password.ptr, j->pwlen);
	s->state = S_AUTH;
	s->refs++;
	int rc = gw_workers_submit(srv->workers, s->ip, srv->kdf_per_ip, kdf_work, kdf_done, j);
	if (rc) {
		s->refs--;
		OPENSSL_cleanse(j->pw, sizeof(j->pw));
		free(j);
		bind_refuse(s, cmd, seq, ESME_RTHROTTLED,
			    rc == GW_EOVERLOAD ? "password checks busy (per-IP or pool cap)"
					       : "password check not started");
		return;
	}
}

/* --- submit ---------------------------------------------------------------------------- */

struct sub {
	struct session *s;
	uint32_t seq;
};

static void submit_done(void *cls, const struct sms_egress_result *res)
{
	struct sub *u = cls;
	struct session *s = u->s;
	s->inflight--;
	if (!s->dead) {
		struct smpp_pdu r;
		smpp_pdu_init(&r, SMPP_SUBMIT_SM_RESP, u->seq);
		r.command_status = res->smpp_status;
		if (res->err == 0) {
			r.message_id = smpp_str_c(res->mt_id);
			metric_inc(s->acct->m_sub_ok);
		} else {
			r.flags |= SMPP_PDU_F_HEADER_ONLY;
			metric_inc(s->acct->m_sub_refused);
		}
		sess_send(s, &r);
	}
	sess_unref(s);
	free(u);
}

static bool take_token(struct account *a, double now)
{
	if (a->tps == 0)
		return true;
	a->tokens += (now - a->tok_at) * a->tps;
	a->tok_at = now;
	if (a->tokens > a->tps)
		a->tokens = a->tps;
	if (a->tokens < 1.0)
		return false;
	a->tokens -= 1.0;
	return true;
}

/* E.164 digits from a destination address (a leading '+' dropped). */
static bool e164(const char *in, char *out, size_t cap)
{
	if (*in == '+')
		in++;
	size_t n = strlen(in);
	if (n < 3 || n > 15 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if (in[i] < '0' || in[i] > '9')
			return false;
	memcpy(out, in, n + 1);
	return true;
}

static void on_submit(struct session *s, const struct smpp_pdu *p)
{
	struct smpp_server *srv = s->srv;
	struct account *a = s->acct;
	if (s->state != S_BOUND || s->bind_cmd == SMPP_BIND_RECEIVER) {
		if (s->state != S_BOUND)
			violation(s, "submit_sm before bind");
		sess_error(s, p, ESME_RINVBNDSTS);
		return;
	}
	if (srv->draining) {
		sess_error(s, p, ESME_RSYSERR);
		return;
	}
	if (s->inflight >= a->window || !take_token(a, now_s(srv))) {
		metric_inc(a->m_throttled);
		sess_error(s, p, ESME_RTHROTTLED);
		return;
	}
	char from[24], dst[24], to[24];
	str_copy(from, sizeof(from), p->source_addr);
	str_copy(dst, sizeof(dst), p->destination_addr);
	if (!account_addr_ok(a, from)) {
		sess_error(s, p, ESME_RINVSRCADR);
		metric_inc(a->m_sub_refused);
		return;
	}
	if (!e164(dst, to, sizeof(to))) {
		sess_error(s, p, ESME_RINVDSTADR);
		metric_inc(a->m_sub_refused);
		return;
	}
	if (p->esm_class & 0x40) {
		/* Concatenated parts from accounts: not taken yet (send message_payload). */
		sess_error(s, p, ESME_RINVESMCLASS);
		return;
	}
	const uint8_t *body = p->short_message;
	size_t blen = p->sm_length;
	const struct smpp_tlv *pl = smpp_pdu_find_tlv(p, SMPP_TLV_MESSAGE_PAYLOAD);
	if (pl && blen == 0) {
		body = smpp_tlv_value(pl);
		blen = pl->len;
	}
	enum smpp_text_enc enc = smpp_dcs_to_enc(p->data_coding, SMPP_DCS_SMPP);
	if (p->data_coding == 1)
		enc = SMPP_ENC_LATIN1; /* IA5: ASCII, a subset of Latin-1 */
	size_t cap = SMPP_TEXT_UTF8_MAX(blen);
	char *text = malloc(cap);
	size_t tlen = 0;
	if (!text) {
		sess_error(s, p, ESME_RSYSERR);
		return;
	}
	if (blen && smpp_text_decode(enc, body, blen, text, cap - 1, &tlen) != 0) {
		free(text);
		sess_error(s, p, ESME_RSUBMITFAIL);
		return;
	}
	text[tlen] = '\0';
	struct sub *u = malloc(sizeof(*u));
	if (!u) {
		free(text);
		sess_error(s, p, ESME_RSYSERR);
		return;
	}
	u->s = s;
	u->seq = p->sequence_number;
	struct sms_mt mt = {
	    .to = to,
	    .from = from,
	    .text = text,
	    .src_ton = p->source_addr_ton,
	    .src_npi = p->source_addr_npi,
	    .dst_ton = 1,
	    .dst_npi = 1,
	    .cls = a->cls,
	    .service = a->name,
	    .account = a->name,
	    .registered_delivery = (p->registered_delivery & 0x03) ? 1 : 0,
	};
	s->inflight++;
	s->refs++;
	int rc = sms_egress_submit(srv->egress, &mt, submit_done, u);
	free(text);
	if (rc) {
		s->inflight--;
		s->refs--;
		free(u);
		sess_error(s, p, ESME_RSYSERR);
	}
}

/* --- PDUs in --------------------------------------------------------------------------- */

static void on_resp(struct session *s, const struct smpp_pdu *p)
{
	if (p->command_id == SMPP_UNBIND_RESP && s->state == S_CLOSING) {
		s->unbind_sent = false; /* answered: close once the rest is written */
		s->close_at = now_s(s->srv);
		return;
	}
	if (p->command_id != SMPP_DELIVER_SM_RESP && p->command_id != SMPP_GENERIC_NACK)
		return; /* enquire_link_resp and the like */
	for (unsigned i = 0; i < s->nout; i++)
		if (s->out[i].used && s->out[i].seq == p->sequence_number) {
			s->out[i].used = false;
			if (s->out[i].mo) {
				uint32_t st = p->command_status;
				smpp_mo_respond(s->out[i].mo, st == ESME_ROK ? ESME_ROK
							      : st == ESME_RX_P_APPN
								  ? ESME_RX_P_APPN
								  : ESME_RX_T_APPN);
			}
			metric_inc(s->out[i].mo ? s->acct->m_dlv_mo : s->acct->m_dlv_receipt);
			return;
		}
}

static void handle_pdu(struct session *s, const uint8_t *frame, size_t len)
{
	struct smpp_server *srv = s->srv;
	s->last_pdu = now_s(srv);
	struct smpp_pdu p;
	if (smpp_decode(frame, len, &srv->dopts, &p) != 0) {
		violation(s, p.error_status == ESME_RINVCMDID ? "unknown command_id"
							      : "malformed PDU");
		if (!p.header_valid || !smpp_is_resp(p.command_id))
			sess_error(s, p.header_valid ? &p : NULL,
				   p.error_status ? p.error_status : ESME_RSYSERR);
		if (s->violations > srv->viol_max) {
			metric_inc(srv->m_cut);
			sess_close(s, "too many protocol violations");
		}
		return;
	}
	if (smpp_is_resp(p.command_id)) {
		on_resp(s, &p);
		return;
	}
	switch (p.command_id) {
	case SMPP_BIND_RECEIVER:
	case SMPP_BIND_TRANSMITTER:
	case SMPP_BIND_TRANSCEIVER:
		on_bind(s, &p);
		break;
	case SMPP_ENQUIRE_LINK: {
		struct smpp_pdu r;
		smpp_pdu_init_resp(&r, &p);
		sess_send(s, &r);
		break;
	}
	case SMPP_UNBIND: {
		struct smpp_pdu r;
		smpp_pdu_init_resp(&r, &p);
		sess_send(s, &r);
		if (!s->dead) {
			if (s->state == S_BOUND || s->state == S_CLOSING) {
				s->state = S_CLOSING;
			} else {
				sess_close(s, "unbind before bind");
				break;
			}
			s->unbind_sent = false;
			s->close_at = now_s(srv) + srv->unbind_timeout;
		}
		break;
	}
	case SMPP_SUBMIT_SM:
		on_submit(s, &p);
		break;
	default:
		if (s->state != S_BOUND)
			violation(s, "request before bind");
		sess_error(s, &p, s->state == S_BOUND ? ESME_RINVCMDID : ESME_RINVBNDSTS);
		break;
	}
	if (!s->dead && s->violations > srv->viol_max) {
		metric_inc(srv->m_cut);
		sess_close(s, "too many protocol violations");
	}
}

static void on_pdu(void *cls, const uint8_t *frame, size_t len)
{
	struct session *s = cls;
	if (s->dead)
		return;
	/* The session may close while the PDU is handled: keep its memory until the end. */
	s->refs++;
	handle_pdu(s, frame, len);
	sess_unref(s);
}

static void on_up(void *cls)
{
	struct session *s = cls;
	s->tls_up = true;
	LOGP(DSMPP, LOG_DEBUG, "smpp-server: %s: TLS up", s->peer);
}

static void on_down(void *cls, int err, const char *why)
{
	struct session *s = cls;
	(void)err;
	sess_close(s, why); /* smpp_conn_free() after down() releases the connection */
}

static const struct smpp_conn_cbs sess_cbs = {
    .up = on_up,
    .pdu = on_pdu,
    .down = on_down,
};

/* --- listeners ------------------------------------------------------------------------- */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct smpp_server *srv = w->data;
	bool tls = w == &srv->lw[1];
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		char ip[INET6_ADDRSTRLEN] = "?";
		int port = 0;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
			port = ntohs(a->sin6_port);
		}
		struct ipent *ipe = ip_get(srv, ip);
		const char *why = NULL;
		if (srv->draining)
			why = "shutting down";
		else if (srv->nsessions >= srv->max_sessions)
			why = "session cap";
		else if (!ipe)
			why = "too many source addresses tracked";
		else if (ip_blocked(srv, ipe))
			why = "source blocked after failed binds";
		else if (ipe->conns >= srv->max_per_ip)
			why = "connection cap per IP";
		if (why) {
			metric_inc(srv->m_rejected_conn);
			LOGP(DSMPP, LOG_DEBUG, "smpp-server: connection from %s refused: %s", ip,
			     why);
			close(fd);
			continue;
		}
		struct session *s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			continue;
		}
		s->srv = srv;
		s->refs = 1;
		s->tls = tls;
		s->ipe = ipe;
		snprintf(s->ip, sizeof(s->ip), "%s", ip);
		snprintf(s->peer, sizeof(s->peer), "%s:%d", ip, port);
		s->opened = s->last_pdu = now_s(srv);
		if (smpp_conn_accept(loop, fd, tls ? srv->tls : NULL,
				     (uint32_t)srv->dopts.max_pdu_len, &sess_cbs, s,
				     &s->conn) != 0) {
			close(fd);
			free(s);
			continue;
		}
		ipe->conns++;
		s->next = srv->sessions;
		if (srv->sessions)
			srv->sessions->prev = s;
		srv->sessions = s;
		srv->nsessions++;
		metric_set(srv->m_sessions, srv->nsessions);
		ev_timer_init(&s->timer, tick, TICK_S, TICK_S);
		s->timer.data = s;
		ev_timer_start(loop, &s->timer);
		LOGP(DSMPP, LOG_DEBUG, "smpp-server: connection from %s%s", s->peer,
		     tls ? " (TLS)" : "");
	}
}

static int listen_on(struct smpp_server *srv, int idx, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		sl = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*a6);
	} else {
		LOGP(DSMPP, LOG_ERROR, "smpp_server.address %s: not an IP address", addr);
		return GW_EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 256) < 0) {
		int e = errno;
		LOGP(DSMPP, LOG_ERROR, "smpp-server: cannot listen on %s port %d: %s", addr, port,
		     strerror(e));
		close(fd);
		return -e;
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	srv->port[idx] = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
	srv->fd[idx] = fd;
	ev_io_init(&srv->lw[idx], on_accept, fd, EV_READ);
	srv->lw[idx].data = srv;
	ev_io_start(srv->loop, &srv->lw[idx]);
	LOGP(DSMPP, LOG_NOTICE, "smpp-server: listening on %s port %d (%s)", addr, srv->port[idx],
	     idx ? "tls" : "tcp");
	return 0;
}

/* --- MO and receipts out --------------------------------------------------------------- */

static bool deliver(struct session *s, struct smpp_pdu *d, struct smpp_mo *mo)
{
	struct outreq *o = out_slot(s);
	if (!o)
		return false;
	uint32_t seq = sess_seq(s);
	d->sequence_number = seq;
	if (!sess_send(s, d))
		return false;
	o->used = true;
	o->seq = seq;
	o->mo = mo;
	o->deadline = now_s(s->srv) + s->srv->resp_timeout;
	return true;
}

static bool mo_filter(struct smpp_mo *mo, void *cls)
{
	struct smpp_server *srv = cls;
	const struct smpp_pdu *p = smpp_mo_pdu(mo);
	char dst[24];
	str_copy(dst, sizeof(dst), p->destination_addr);
	struct account *a = account_for_address(srv, dst);
	if (!a)
		return false;
	struct session *s = receiver_for(srv, a);
	if (!s) {
		LOGP(DSMPP, LOG_NOTICE,
		     "smpp-server: MO for account %s: no receiver bound with room: "
		     "ESME_RX_T_APPN (the SMSC redelivers)",
		     a->name);
		smpp_mo_respond(mo, ESME_RX_T_APPN);
		return true;
	}
	struct smpp_pdu d;
	smpp_pdu_init(&d, SMPP_DELIVER_SM, 0);
	d.service_type = p->service_type;
	d.source_addr_ton = p->source_addr_ton;
	d.source_addr_npi = p->source_addr_npi;
	d.source_addr = p->source_addr;
	d.dest_addr_ton = p->dest_addr_ton;
	d.dest_addr_npi = p->dest_addr_npi;
	d.destination_addr = p->destination_addr;
	d.esm_class = p->esm_class & (uint8_t)~0x40;
	d.protocol_id = p->protocol_id;
	d.data_coding = p->data_coding;
	if (p->sm_length <= SMPP_SM_MAX) {
		d.short_message = p->short_message;
		d.sm_length = p->sm_length;
	} else {
		smpp_pdu_add_tlv(&d, SMPP_TLV_MESSAGE_PAYLOAD, p->short_message, p->sm_length);
	}
	if (!deliver(s, &d, mo)) {
		smpp_mo_respond(mo, ESME_RX_T_APPN);
		return true;
	}
	LOGP(DSMS, LOG_INFO, "smpp-server: MO for %s handed to account %s on %s", dst, a->name,
	     s->peer);
	return true;
}

static const char *stat_word(unsigned st)
{
	switch (st) {
	case SMPP_STATE_ENROUTE:
		return "ENROUTE";
	case SMPP_STATE_DELIVERED:
		return "DELIVRD";
	case SMPP_STATE_EXPIRED:
		return "EXPIRED";
	case SMPP_STATE_DELETED:
		return "DELETED";
	case SMPP_STATE_UNDELIVERABLE:
		return "UNDELIV";
	case SMPP_STATE_ACCEPTED:
		return "ACCEPTD";
	case SMPP_STATE_REJECTED:
		return "REJECTD";
	default:
		return "UNKNOWN";
	}
}

/* Send a receipt for @p mt_id to a receiver of @p a: our message id, as the account got it
 * in submit_sm_resp, in the text and in receipted_message_id. */
static void send_receipt(struct smpp_server *srv, struct account *a, const char *mt_id,
			 const char *to, const char *from, unsigned state, int err)
{
	struct session *s = receiver_for(srv, a);
	if (!s) {
		LOGP(DSMS, LOG_NOTICE,
		     "smpp-server: receipt for MT %s: account %s has no receiver "
		     "bound with room; dropped",
		     mt_id, a->name);
		metric_inc(metrics_counter("ussdgw_smpp_server_receipts_dropped_total",
					   "Receipts for accounts with no receiver bound", NULL));
		return;
	}
	char date[64];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(date, sizeof(date), "%02d%02d%02d%02d%02d", tm.tm_year % 100, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min);
	char text[200];
	int n = snprintf(text, sizeof(text),
			 "id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%03d "
			 "text:",
			 mt_id, state == SMPP_STATE_DELIVERED ? "001" : "000", date, date,
			 stat_word(state), err < 0 ? 0 : err % 1000);
	struct smpp_pdu d;
	smpp_pdu_init(&d, SMPP_DELIVER_SM, 0);
	d.source_addr_ton = 1;
	d.source_addr_npi = 1;
	d.source_addr = smpp_str_c(to);
	d.destination_addr = smpp_str_c(from);
	d.esm_class = 0x04;
	d.short_message = (const uint8_t *)text;
	d.sm_length = n < 0 ? 0 : (size_t)n > SMPP_SM_MAX ? SMPP_SM_MAX : (size_t)n;
	/* A C-Octet String: the NUL is part of the value. */
	smpp_pdu_add_tlv(&d, SMPP_TLV_RECEIPTED_MESSAGE_ID, mt_id, strlen(mt_id) + 1);
	smpp_pdu_add_tlv_u8(&d, SMPP_TLV_MESSAGE_STATE, (uint8_t)state);
	if (deliver(s, &d, NULL))
		LOGP(DSMS, LOG_INFO, "smpp-server: receipt for MT %s (%s) to account %s", mt_id,
		     stat_word(state), a->name);
}

struct rcpt {
	struct smpp_server *srv;
	char mt_id[64];
	unsigned state;
	int err;
};

static void rcpt_looked_up(void *cls, int err, redisReply *r)
{
	struct rcpt *q = cls;
	if (!err && r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		struct account *a = account_by_name(q->srv, r->element[0]->str);
		const char *to =
		    r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "";
		const char *from =
		    r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "";
		if (a)
			send_receipt(q->srv, a, q->mt_id, to, from, q->state, q->err);
	} else if (err) {
		LOGP(DSMS, LOG_NOTICE, "smpp-server: receipt for MT %s: lookup failed: %s",
		     q->mt_id, gw_strerror(err));
	}
	free(q);
}

static void receipt_hook(void *cls, const char *link, const char *mt_id, const struct smpp_dlr *d)
{
	struct smpp_server *srv = cls;
	struct rcpt *q = calloc(1, sizeof(*q));
	if (!q)
		return;
	q->srv = srv;
	snprintf(q->mt_id, sizeof(q->mt_id), "%s", mt_id);
	q->state = d->state;
	q->err = d->err;
	if (store_redis_command(srv->redis, rcpt_looked_up, q, 0,
				"HMGET ussdgw:mt:{%s}:%s acct to from", link, mt_id) != 0)
		free(q);
}

struct fo {
	struct smpp_server *srv;
	smpp_mt_failed_done done;
	void *done_cls;
	char mt_id[64], account[32], to[24], from[24];
	uint32_t status;
};

static void failover_done(void *cls, bool rerouted)
{
	struct fo *f = cls;
	if (!rerouted && f->account[0]) {
		/* Failed for good: the account hears it as a receipt. */
		struct account *a = account_by_name(f->srv, f->account);
		if (a)
			send_receipt(f->srv, a, f->mt_id, f->to, f->from, SMPP_STATE_REJECTED,
				     (int)f->status);
	}
	f->done(f->done_cls, rerouted);
	free(f);
}

static void fo_defer(void *cls, int err, redisReply *r)
{
	(void)err, (void)r;
	failover_done(cls, false);
}

static bool mt_failed_hook(void *cls, const char *link, const struct smpp_mtq_entry *e,
			   uint32_t status, smpp_mt_failed_done done, void *done_cls)
{
	struct smpp_server *srv = cls;
	struct fo *f = calloc(1, sizeof(*f));
	if (!f)
		return false;
	f->srv = srv;
	f->done = done;
	f->done_cls = done_cls;
	f->status = status;
	snprintf(f->mt_id, sizeof(f->mt_id), "%s", e->mt_id);
	snprintf(f->account, sizeof(f->account), "%s", e->account);
	snprintf(f->to, sizeof(f->to), "%s", e->to);
	snprintf(f->from, sizeof(f->from), "%s", e->from);
	if (sms_egress_failover(srv->egress, link, e, status, failover_done, f))
		return true;
	if (!f->account[0]) {
		free(f);
		return false;
	}
	/* No failover: still tell the account, from a callback (never inside the hook). */
	if (store_redis_command(srv->redis, fo_defer, f, 0, "PING") != 0) {
		free(f);
		return false;
	}
	return true;
}

/* --- setup ----------------------------------------------------------------------------- */

static int load_account(struct account *a, json_t *ac, unsigned idx)
{
	snprintf(a->name, sizeof(a->name), "%s", cfg_str(ac, "name"));
	const char *sid = cfg_str(ac, "system_id");
	if (!sid || !sid[0])
		sid = a->name;
	if (strlen(sid) > 15) {
		LOGP(DCONF, LOG_ERROR, "accounts[%u].system_id: over 15 bytes", idx);
		return GW_EINVAL;
	}
	memcpy(a->system_id, sid, strlen(sid) + 1); /* at most 15 bytes, checked above */
	const char *h = cfg_str(ac, "password_hash");
	const char *hf = cfg_str(ac, "password_hash_file");
	if (hf && hf[0]) {
		char *buf = NULL;
		size_t n = 0;
		int rc = secfile_read(hf, &buf, &n);
		if (rc) {
			LOGP(DCONF, LOG_ERROR, "accounts[%u].password_hash_file %s: %s", idx, hf,
			     gw_strerror(rc));
			return rc;
		}
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		snprintf(a->hash, sizeof(a->hash), "%.*s", (int)n, buf);
		secfile_free(buf, n);
	} else if (h) {
		snprintf(a->hash, sizeof(a->hash), "%s", h);
	}
	if (passwd_check_format(a->hash) != 0) {
		LOGP(DCONF, LOG_ERROR,
		     "accounts[%u] (%s): password_hash or password_hash_file must hold a hash from "
		     "`ussdgw-keys hash-password`",
		     idx, a->name);
		return GW_EINVAL;
	}
	json_t *ips = cfg_get(ac, "allowed_ips");
	for (size_t i = 0; ips && i < json_array_size(ips); i++) {
		if (a->nips >= MAX_CIDRS ||
		    cidr_parse(json_string_value(json_array_get(ips, i)), &a->ips[a->nips++])) {
			LOGP(DCONF, LOG_ERROR,
			     "accounts[%u].allowed_ips[%zu]: not an address/prefix", idx, i);
			return GW_EINVAL;
		}
	}
	json_t *ad = cfg_get(ac, "addresses");
	for (size_t i = 0; ad && i < json_array_size(ad); i++) {
		const char *v = json_string_value(json_array_get(ad, i));
		if (a->naddrs >= MAX_ADDRS || !v || strlen(v) >= sizeof(a->addrs[0])) {
			LOGP(DCONF, LOG_ERROR, "accounts[%u].addresses[%zu]: too long or too many",
			     idx, i);
			return GW_EINVAL;
		}
		snprintf(a->addrs[a->naddrs++], sizeof(a->addrs[0]), "%s", v);
	}
	a->max_binds = (unsigned)cfg_int(ac, "max_binds");
	a->window = (unsigned)cfg_int(ac, "window");
	a->tps = (unsigned)cfg_int(ac, "tps");
	a->tokens = a->tps;
	if (sms_class_parse(cfg_str(ac, "msg_class"), &a->cls) != 0)
		return GW_EINVAL;
	char lb[96];
	snprintf(lb, sizeof(lb), "account=\"%s\"", a->name);
	a->m_binds = metrics_gauge("ussdgw_smpp_server_binds", "Binds per account", lb);
	a->m_bind_ok =
	    metrics_counter("ussdgw_smpp_server_binds_total", "Successful binds per account", lb);
	a->m_throttled = metrics_counter("ussdgw_smpp_server_throttled_total",
					 "Submits answered ESME_RTHROTTLED (window or TPS)", lb);
	a->m_dlv_mo = metrics_counter("ussdgw_smpp_server_mo_delivered_total",
				      "MO answered by the account", lb);
	a->m_dlv_receipt = metrics_counter("ussdgw_smpp_server_receipts_delivered_total",
					   "Receipts answered by the account", lb);
	snprintf(lb, sizeof(lb), "account=\"%s\",outcome=\"queued\"", a->name);
	a->m_sub_ok =
	    metrics_counter("ussdgw_smpp_server_submits_total", "Submits per account", lb);
	snprintf(lb, sizeof(lb), "account=\"%s\",outcome=\"refused\"", a->name);
	a->m_sub_refused =
	    metrics_counter("ussdgw_smpp_server_submits_total", "Submits per account", lb);
	return 0;
}

int smpp_server_port(const struct smpp_server *s, bool tls)
{
	return s ? s->port[tls ? 1 : 0] : 0;
}

unsigned smpp_server_sessions(const struct smpp_server *s)
{
	return s ? s->nsessions : 0;
}

int smpp_server_new(struct ev_loop *loop, json_t *sc, json_t *accounts,
		    const struct smpp_server_opts *opts, struct smpp_server **out)
{
	struct smpp_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return GW_ENOMEM;
	srv->loop = loop;
	srv->cfg = sc;
	srv->fd[0] = srv->fd[1] = -1;
	srv->egress = opts->egress;
	srv->redis = opts->redis;
	srv->links = opts->links;
	srv->max_sessions = (unsigned)cfg_int(sc, "max_sessions");
	srv->max_per_ip = (unsigned)cfg_int(sc, "max_conn_per_ip");
	srv->viol_max = (unsigned)cfg_int(sc, "max_violations");
	srv->kdf_per_ip = (unsigned)cfg_int(sc, "kdf_per_ip");
	srv->bind_fail_max = (unsigned)cfg_int(sc, "bind_fail_max");
	srv->session_init = (double)cfg_int(sc, "session_init_ms") / 1000.0;
	srv->inactivity = (double)cfg_int(sc, "inactivity_s");
	srv->stall = (double)cfg_int(sc, "pdu_stall_ms") / 1000.0;
	srv->resp_timeout = (double)cfg_int(sc, "response_timeout_ms") / 1000.0;
	srv->fail_window = (double)cfg_int(sc, "bind_fail_window_s");
	srv->fail_block = (double)cfg_int(sc, "bind_fail_block_s");
	srv->unbind_timeout = (double)cfg_int(sc, "unbind_timeout_ms") / 1000.0;
	srv->wq_max = (size_t)cfg_int(sc, "write_queue_max");
	srv->dopts.max_pdu_len = (uint32_t)cfg_int(sc, "max_pdu_len");
	srv->dopts.max_tlvs = (unsigned)cfg_int(sc, "max_tlvs");
	srv->m_sessions =
	    metrics_gauge("ussdgw_smpp_server_sessions", "Open server sessions", NULL);
	srv->m_rejected_conn = metrics_counter("ussdgw_smpp_server_connections_refused_total",
					       "Connections closed at accept (caps, blocks)", NULL);
	srv->m_bind_fail =
	    metrics_counter("ussdgw_smpp_server_bind_failures_total", "Binds refused", NULL);
	srv->m_viol = metrics_counter("ussdgw_smpp_server_violations_total",
				      "Malformed or out-of-state PDUs from peers", NULL);
	srv->m_cut = metrics_counter("ussdgw_smpp_server_sessions_cut_total",
				     "Sessions closed by a timer or a cap", NULL);
	srv->ipt = calloc(IP_TABLE_MAX, sizeof(*srv->ipt));
	size_t na = json_array_size(accounts);
	srv->accts = calloc(na ? na : 1, sizeof(*srv->accts));
	int rc = (!srv->ipt || !srv->accts) ? GW_ENOMEM : 0;
	for (size_t i = 0; !rc && i < na; i++) {
		rc = load_account(&srv->accts[i], json_array_get(accounts, i), (unsigned)i);
		srv->naccts++;
	}
	if (!rc && crypto_random(srv->mac_key, sizeof(srv->mac_key)) != 0)
		rc = GW_ECRYPTO;
	if (!rc)
		rc = gw_workers_new(loop, (unsigned)cfg_int(sc, "kdf_threads"),
				    (unsigned)cfg_int(sc, "kdf_queue"), &srv->workers);
	const char *addr = cfg_str(sc, "address");
	if (!rc && cfg_int(sc, "port") >= 0)
		rc = listen_on(srv, 0, addr, (int)cfg_int(sc, "port"));
	if (!rc && cfg_int(sc, "tls_port") >= 0) {
		rc = crypto_tls_server_ctx(opts->keys, cfg_str(sc, "tls_cert"), &srv->tls);
		if (rc)
			LOGP(DSMPP, LOG_ERROR, "smpp_server.tls_cert %s: %s",
			     cfg_str(sc, "tls_cert"), gw_strerror(rc));
		else
			rc = listen_on(srv, 1, addr, (int)cfg_int(sc, "tls_port"));
	}
	if (rc) {
		smpp_server_free(srv);
		return rc;
	}
	if (srv->links) {
		smpp_links_set_mo_filter(srv->links, mo_filter, srv);
		smpp_links_set_receipt_hook(srv->links, receipt_hook, srv);
		smpp_links_set_mt_failed_hook(srv->links, mt_failed_hook, srv);
	}
	*out = srv;
	return 0;
}

static void close_listeners(struct smpp_server *srv)
{
	for (int i = 0; i < 2; i++)
		if (srv->fd[i] >= 0) {
			ev_io_stop(srv->loop, &srv->lw[i]);
			close(srv->fd[i]);
			srv->fd[i] = -1;
		}
}

static void drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct smpp_server *srv = w->data;
	while (srv->sessions)
		sess_close(srv->sessions, "shutdown deadline");
	if (srv->drain_done) {
		void (*d)(void *) = srv->drain_done;
		srv->drain_done = NULL;
		d(srv->drain_cls);
	}
}

void smpp_server_drain(struct smpp_server *srv, void (*done)(void *cls), void *cls)
{
	srv->draining = true;
	srv->drain_done = done;
	srv->drain_cls = cls;
	close_listeners(srv);
	LOGP(DSMPP, LOG_NOTICE, "smpp-server draining: %u sessions", srv->nsessions);
	struct session *s = srv->sessions;
	while (s) {
		struct session *n = s->next;
		if (s->state == S_BOUND) {
			struct smpp_pdu u;
			smpp_pdu_init(&u, SMPP_UNBIND, sess_seq(s));
			s->state = S_CLOSING;
			s->unbind_sent = true;
			s->close_at = now_s(srv) + srv->unbind_timeout;
			sess_send(s, &u);
		} else if (s->state != S_CLOSING) {
			sess_close(s, "shutting down");
		}
		s = n;
	}
	if (srv->nsessions == 0) {
		srv->drain_done = NULL;
		done(cls);
		return;
	}
	ev_timer_init(&srv->drain_timer, drain_deadline, srv->unbind_timeout + 1.0, 0.);
	srv->drain_timer.data = srv;
	ev_timer_start(srv->loop, &srv->drain_timer);
}

void smpp_server_free(struct smpp_server *srv)
{
	if (!srv)
		return;
	if (srv->links) {
		smpp_links_set_mo_filter(srv->links, NULL, NULL);
		smpp_links_set_receipt_hook(srv->links, NULL, NULL);
		smpp_links_set_mt_failed_hook(srv->links, NULL, NULL);
	}
	close_listeners(srv);
	srv->drain_done = NULL;
	ev_timer_stop(srv->loop, &srv->drain_timer);
	while (srv->sessions)
		sess_close(srv->sessions, "stopped");
	gw_workers_free(srv->workers);
	if (srv->tls)
		SSL_CTX_free(srv->tls);
	for (unsigned i = 0; i < srv->naccts; i++)
		OPENSSL_cleanse(srv->accts[i].hash, sizeof(srv->accts[i].hash));
	free(srv->accts);
	free(srv->ipt);
	free(srv);
}

/* --- the daemon service ---------------------------------------------------------------- */

struct srv_svc {
	struct gw_node *node;
	struct sms_egress *egress;
	struct smpp_server *srv;
};

static int svc_start(struct gw_node *node, void **state)
{
	json_t *root = cfg_root(node->cfg);
	json_t *accounts = cfg_get(root, "accounts");
	*state = NULL;
	if (!accounts || json_array_size(accounts) == 0)
		return 0;
	struct store_redis *redis = daemon_service_state("redis");
	if (!redis) {
		LOGP(DSMPP, LOG_FATAL, "smpp-server: needs the redis service");
		return GW_EINVAL;
	}
	struct srv_svc *v = calloc(1, sizeof(*v));
	if (!v)
		return GW_ENOMEM;
	v->node = node;
	int rc = sms_egress_new(redis, node->keys, cfg_get(root, "routes"), cfg_get(root, "links"),
				&v->egress);
	if (rc) {
		free(v);
		return rc;
	}
	struct smpp_server_opts o = {
	    .keys = node->keys,
	    .egress = v->egress,
	    .redis = redis,
	    .links = smpp_links_of_service(daemon_service_state("smpp-links")),
	};
	rc = smpp_server_new(node->loop, cfg_get(root, "smpp_server"), accounts, &o, &v->srv);
	if (rc) {
		sms_egress_free(v->egress);
		free(v);
		return rc;
	}
	*state = v;
	return 0;
}

static void svc_drained(void *cls)
{
	struct srv_svc *v = cls;
	daemon_drained(v->node, "smpp-server");
}

static void svc_drain(struct gw_node *node, void *state)
{
	struct srv_svc *v = state;
	if (!v) {
		daemon_drained(node, "smpp-server");
		return;
	}
	smpp_server_drain(v->srv, svc_drained, v);
}

static void svc_stop(struct gw_node *node, void *state)
{
	(void)node;
	struct srv_svc *v = state;
	if (!v)
		return;
	smpp_server_free(v->srv);
	sms_egress_free(v->egress);
	free(v);
}

const struct gw_service smpp_server_service = {
    .name = "smpp-server",
    .start = svc_start,
    .drain = svc_drain,
    .stop = svc_stop,
};
