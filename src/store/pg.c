/* PostgreSQL adapter: non-blocking libpq in pipeline mode on the libev loop.
 *
 * Connection states:
 *   DOWN -> CONNECTING (PQconnectStart/PQconnectPoll driven by the socket)
 *        -> CHECKING (pipeline on; schema version query in flight)
 *        -> READY | SCHEMA_MISMATCH (rechecked every reconnect_max_ms)
 *   any -> DOWN on a broken connection, then a reconnect after a backoff.
 *
 * Every command sent is one entry in a FIFO (struct pg_query) followed by its
 * own PQpipelineSync, so the results come back as
 *   result(s), NULL, PGRES_PIPELINE_SYNC
 * per entry and an error in one entry never turns the next into
 * PGRES_PIPELINE_ABORTED. A lazily prepared statement is two entries: the
 * internal PREPARE, then the user's execution.
 *
 * An entry is answered (callback) once: by its results, by its deadline, by
 * a lost connection, or by store_pg_free(). An entry answered by its deadline
 * stays in the FIFO until its results arrive, since results are matched by
 * position; if the server sits on it for another full default deadline the
 * connection is reset, as libpq 15 has no non-blocking cancel.
 */
#include "ussdgw/store_pg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ussdgw/clock.h"
#include "ussdgw/config.h"
#include "ussdgw/daemon.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"
#include "ussdgw/secfile.h"

#ifndef GW_SCHEMA_VERSION
#define GW_SCHEMA_VERSION 0
#endif

enum pg_state { PGS_DOWN, PGS_CONNECTING, PGS_CHECKING, PGS_READY, PGS_SCHEMA_MISMATCH };

static const char *const pg_state_names[] = {
    [PGS_DOWN] = "DOWN",   [PGS_CONNECTING] = "CONNECTING",	      [PGS_CHECKING] = "CHECKING",
    [PGS_READY] = "READY", [PGS_SCHEMA_MISMATCH] = "SCHEMA_MISMATCH",
};

const char *store_pg_qs_name(enum store_pg_qs qs)
{
	switch (qs) {
	case STORE_PG_HARD_ERROR:
		return "HARD_ERROR";
	case STORE_PG_RETRY:
		return "RETRY";
	case STORE_PG_NO_ROWS:
		return "NO_ROWS";
	case STORE_PG_ROWS:
		return "ROWS";
	}
	return "?";
}

struct pg_stmt {
	char *name, *sql;
	int nparams;
	bool prepared; /* PREPARE sent on the current connection */
	struct pg_stmt *next;
};

enum q_kind { Q_USER, Q_PREPARE, Q_SCHEMA };

struct pg_query {
	struct store_pg *pg;
	enum q_kind kind;
	store_pg_cb cb;
	void *cls;
	ev_timer timer;
	uint64_t start_ns;
	bool delivered;
	bool in_flight;		/* in the FIFO, results owed by the server */
	bool got_null;		/* end of this entry's results seen; the sync is next */
	int deferred_err;	/* answer from the timer (never sent) */
	PGresult *res;		/* the entry's result (an error one wins) */
	struct pg_stmt *stmt;	/* Q_PREPARE: the statement */
	struct pg_query *owner; /* Q_PREPARE: the execution that needs it */
	struct pg_query *next;	/* FIFO, or the deferred list */
};

struct store_pg {
	struct ev_loop *loop;
	char *dsn, *name, *password;
	size_t password_len;
	int connect_timeout_ms, query_timeout_ms, reconnect_min_ms, reconnect_max_ms;
	int expected_schema;

	PGconn *conn;
	int fd;
	enum pg_state state;
	bool freeing;
	int in_callback;
	int schema_version;
	unsigned attempt, connects;
	uint64_t rng;
	char last_error[384];

	ev_io io_r, io_w;
	ev_timer connect_timer, reconnect_timer, stuck_timer, recheck_timer;
	ev_idle reset_idle; /* resets the connection outside the caller's stack */
	ev_idle drain_idle; /* reads results libpq buffered while flushing */
	char reset_reason[160];

	struct pg_query *head, *tail; /* in flight, in send order */
	struct pg_query *deferred;    /* answered from their timers, never sent */
	struct pg_stmt *stmts;

	struct metric *m_queries, *m_errors, *m_timeouts, *m_reconnects, *m_latency;
};

static void start_connect(struct store_pg *pg);
static void conn_lost(struct store_pg *pg, const char *why);

int store_pg_build_schema(void)
{
	return GW_SCHEMA_VERSION;
}

static void set_state(struct store_pg *pg, enum pg_state st)
{
	if (pg->state == st)
		return;
	LOGP(DDB, st == PGS_READY ? LOG_NOTICE : LOG_INFO, "postgres %s: %s -> %s", pg->name,
	     pg_state_names[pg->state], pg_state_names[st]);
	pg->state = st;
}

/* ---- results ---- */

static bool sqlstate_retryable(const char *s)
{
	if (!s || strlen(s) != 5)
		return false;
	return !strncmp(s, "40", 2)	  /* serialization failure, deadlock */
	       || !strncmp(s, "08", 2)	  /* connection exception */
	       || !strncmp(s, "53", 2)	  /* insufficient resources */
	       || !strcmp(s, "55P03")	  /* lock not available */
	       || !strcmp(s, "57014")	  /* query canceled (statement_timeout) */
	       || !strncmp(s, "57P0", 4); /* admin/crash shutdown, cannot connect now */
}

static void classify(const PGresult *res, struct store_pg_result *out)
{
	out->res = res;
	out->sqlstate = "";
	out->message = "";
	out->rows = 0;
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_SINGLE_TUPLE:
		out->rows = PQntuples(res);
		out->status = out->rows > 0 ? STORE_PG_ROWS : STORE_PG_NO_ROWS;
		out->err = 0;
		return;
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY: {
		const char *n = PQcmdTuples((PGresult *)res);
		out->rows = n && *n ? atol(n) : 0;
		out->status = out->rows > 0 ? STORE_PG_ROWS : STORE_PG_NO_ROWS;
		out->err = 0;
		return;
	}
	case PGRES_PIPELINE_ABORTED:
		out->status = STORE_PG_RETRY;
		out->err = GW_EAGAIN;
		out->message = "pipeline aborted";
		return;
	default: {
		const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		out->sqlstate = st ? st : "";
		out->message = msg ? msg : PQresultErrorMessage(res);
		if (sqlstate_retryable(st)) {
			out->status = STORE_PG_RETRY;
			out->err = !strncmp(out->sqlstate, "40", 2) ? GW_ECONFLICT : GW_EAGAIN;
		} else {
			out->status = STORE_PG_HARD_ERROR;
			out->err = GW_EPEER_STATUS;
		}
		return;
	}
	}
}

static void deliver(struct pg_query *q, const struct store_pg_result *r)
{
	struct store_pg *pg = q->pg;
	GW_BUG_ON(q->delivered);
	q->delivered = true;
	ev_timer_stop(pg->loop, &q->timer);
	if (q->kind != Q_USER || !q->cb)
		return;
	if (r->err == GW_ETIMEDOUT)
		metric_inc(pg->m_timeouts);
	else if (r->status < 0)
		metric_inc(pg->m_errors);
	if (r->status >= 0)
		metric_observe(pg->m_latency, (double)(gw_mono_ns() - q->start_ns) / 1e9);
	pg->in_callback++;
	q->cb(q->cls, r);
	pg->in_callback--;
}

static void deliver_err(struct pg_query *q, enum store_pg_qs st, int err, const char *msg)
{
	struct store_pg_result r = {
	    .status = st, .err = err, .res = NULL, .sqlstate = "", .message = msg, .rows = 0};
	deliver(q, &r);
}

static void query_free(struct pg_query *q)
{
	ev_timer_stop(q->pg->loop, &q->timer);
	PQclear(q->res);
	free(q);
}

/* ---- schema check ---- */

static void schema_checked(struct store_pg *pg, struct pg_query *q)
{
	struct store_pg_result r;
	ev_timer_stop(pg->loop, &pg->connect_timer);
	classify(q->res, &r);
	if (!q->res || r.status < 0) {
		pg->schema_version = -1;
		snprintf(pg->last_error, sizeof(pg->last_error),
			 "cannot read schema_version (%s %s); this build expects version %d: run "
			 "ussdgw-migrate up",
			 r.sqlstate, q->res ? r.message : "no result", pg->expected_schema);
	} else {
		pg->schema_version = atoi(PQgetvalue(q->res, 0, 0));
		if (pg->expected_schema < 0 || pg->schema_version == pg->expected_schema) {
			pg->last_error[0] = '\0';
			set_state(pg, PGS_READY);
			return;
		}
		snprintf(pg->last_error, sizeof(pg->last_error),
			 "schema version %d, this build expects %d: %s", pg->schema_version,
			 pg->expected_schema,
			 pg->schema_version < pg->expected_schema
			     ? "run ussdgw-migrate up"
			     : "the database is newer than this build");
	}
	if (pg->state != PGS_SCHEMA_MISMATCH)
		LOGP(DDB, LOG_ERROR, "postgres %s: %s; queries refused", pg->name, pg->last_error);
	set_state(pg, PGS_SCHEMA_MISMATCH);
	ev_timer_set(&pg->recheck_timer, pg->reconnect_max_ms / 1000.0, 0.);
	ev_timer_start(pg->loop, &pg->recheck_timer);
}

/* ---- sending ---- */

static void flush(struct store_pg *pg)
{
	int rc = PQflush(pg->conn);
	if (rc == 0) {
		ev_io_stop(pg->loop, &pg->io_w);
	} else if (rc == 1) {
		ev_io_start(pg->loop, &pg->io_w);
	} else {
		snprintf(pg->reset_reason, sizeof(pg->reset_reason), "send failed: %s",
			 PQerrorMessage(pg->conn));
		ev_idle_start(pg->loop, &pg->reset_idle);
	}
}

static void fifo_push(struct store_pg *pg, struct pg_query *q)
{
	q->in_flight = true;
	q->next = NULL;
	if (pg->tail)
		pg->tail->next = q;
	else
		pg->head = q;
	pg->tail = q;
}

static struct pg_query *query_new(struct store_pg *pg, enum q_kind kind, store_pg_cb cb, void *cls);

static void send_failed(struct store_pg *pg)
{
	snprintf(pg->reset_reason, sizeof(pg->reset_reason), "send failed: %s",
		 PQerrorMessage(pg->conn));
	ev_idle_start(pg->loop, &pg->reset_idle);
}

static int send_schema_check(struct store_pg *pg)
{
	struct pg_query *q = query_new(pg, Q_SCHEMA, NULL, NULL);
	if (!q)
		return GW_ENOMEM;
	if (!PQsendQueryParams(pg->conn, "SELECT coalesce(max(version), 0) FROM schema_version", 0,
			       NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(pg->conn)) {
		query_free(q);
		send_failed(pg);
		return GW_EIO;
	}
	fifo_push(pg, q);
	flush(pg);
	return 0;
}

static void recheck_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct store_pg *pg = w->data;
	if (pg->state == PGS_SCHEMA_MISMATCH && pg->conn)
		send_schema_check(pg);
}

/* ---- receiving ---- */

static void entry_done(struct store_pg *pg)
{
	struct pg_query *q = pg->head;
	pg->head = q->next;
	if (!pg->head)
		pg->tail = NULL;
	q->in_flight = false;
	switch (q->kind) {
	case Q_SCHEMA:
		schema_checked(pg, q);
		break;
	case Q_PREPARE:
		if (!q->res || PQresultStatus(q->res) != PGRES_COMMAND_OK) {
			q->stmt->prepared = false;
			struct store_pg_result r;
			classify(q->res, &r);
			LOGP(DDB, LOG_ERROR, "postgres %s: PREPARE %s failed: %s %s", pg->name,
			     q->stmt->name, r.sqlstate, r.message);
			/* The execution behind it fails too; answer it with the real cause. */
			if (q->owner && !q->owner->delivered && q->res)
				deliver(q->owner, &r);
		}
		break;
	case Q_USER:
		if (!q->delivered) {
			struct store_pg_result r;
			if (q->res)
				classify(q->res, &r);
			else
				r = (struct store_pg_result){.status = STORE_PG_HARD_ERROR,
							     .err = GW_EPEER_STATUS,
							     .sqlstate = "",
							     .message = "no result"};
			deliver(q, &r);
		}
		break;
	}
	query_free(q);
}

/* Take every result libpq has without blocking and hand them to the FIFO. */
static void drain_results(struct store_pg *pg)
{
	while (pg->conn && pg->head && !PQisBusy(pg->conn)) {
		struct pg_query *q = pg->head;
		PGresult *res = PQgetResult(pg->conn);
		if (!res) {
			if (q->got_null)
				break; /* waiting for the sync */
			q->got_null = true;
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			entry_done(pg);
			continue;
		}
		if (q->got_null) {
			GW_BUG_ON(1); /* a result after the end of this entry's results */
			PQclear(res);
			continue;
		}
		/* Keep one result; an error one wins over an earlier success. */
		ExecStatusType st = PQresultStatus(res);
		bool is_err = st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK &&
			      st != PGRES_SINGLE_TUPLE && st != PGRES_EMPTY_QUERY;
		if (!q->res || is_err) {
			PQclear(q->res);
			q->res = res;
		} else {
			PQclear(res);
		}
	}
}

static void io_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct store_pg *pg = w->data;
	if (!PQconsumeInput(pg->conn)) {
		conn_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	drain_results(pg);
	if (pg->conn && PQstatus(pg->conn) == CONNECTION_BAD)
		conn_lost(pg, PQerrorMessage(pg->conn));
}

static void io_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct store_pg *pg = w->data;
	flush(pg);
	/* A blocked send makes libpq read input to avoid a deadlock; what it read
	 * will not wake the read watcher again. */
	drain_results(pg);
}

static void drain_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)revents;
	ev_idle_stop(loop, w);
	struct store_pg *pg = w->data;
	if (pg->conn && pg->state >= PGS_CHECKING)
		drain_results(pg);
}

/* ---- connection ---- */

static uint64_t rng_next(struct store_pg *pg)
{
	/* xorshift64*: jitter only. */
	pg->rng ^= pg->rng >> 12;
	pg->rng ^= pg->rng << 25;
	pg->rng ^= pg->rng >> 27;
	return pg->rng * 0x2545F4914F6CDD1DULL;
}

static void schedule_reconnect(struct store_pg *pg)
{
	if (pg->freeing || ev_is_active(&pg->reconnect_timer))
		return;
	set_state(pg, PGS_DOWN);
	int64_t d = pg->reconnect_min_ms;
	for (unsigned i = 0; i < pg->attempt && d < pg->reconnect_max_ms; i++)
		d *= 2;
	if (d > pg->reconnect_max_ms)
		d = pg->reconnect_max_ms;
	int64_t delay = d / 2 + (int64_t)(rng_next(pg) % (uint64_t)(d / 2 + 1));
	pg->attempt++;
	metric_inc(pg->m_reconnects);
	LOGP(DDB, LOG_INFO, "postgres %s: reconnect in %lld ms (%s)", pg->name, (long long)delay,
	     pg->last_error);
	ev_timer_set(&pg->reconnect_timer, delay / 1000.0, 0.);
	ev_timer_start(pg->loop, &pg->reconnect_timer);
}

static void close_conn(struct store_pg *pg)
{
	ev_io_stop(pg->loop, &pg->io_r);
	ev_io_stop(pg->loop, &pg->io_w);
	ev_timer_stop(pg->loop, &pg->connect_timer);
	ev_timer_stop(pg->loop, &pg->stuck_timer);
	ev_timer_stop(pg->loop, &pg->recheck_timer);
	ev_idle_stop(pg->loop, &pg->reset_idle);
	ev_idle_stop(pg->loop, &pg->drain_idle);
	if (pg->conn)
		PQfinish(pg->conn);
	pg->conn = NULL;
	pg->fd = -1;
	for (struct pg_stmt *s = pg->stmts; s; s = s->next)
		s->prepared = false;
}

/* Fail everything in flight, close, and come back later. */
static void fail_in_flight(struct store_pg *pg, enum store_pg_qs st, int err, const char *msg)
{
	while (pg->head) {
		struct pg_query *q = pg->head;
		pg->head = q->next;
		if (!pg->head)
			pg->tail = NULL;
		q->in_flight = false;
		if (!q->delivered)
			deliver_err(q, st, err, msg);
		query_free(q);
	}
}

static void conn_lost(struct store_pg *pg, const char *why)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s", why && *why ? why : "connection lost");
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	snprintf(pg->last_error, sizeof(pg->last_error), "%s", msg);
	LOGP(DDB, LOG_WARN, "postgres %s: %s", pg->name, msg);
	set_state(pg, PGS_DOWN);
	close_conn(pg);
	fail_in_flight(pg, STORE_PG_RETRY, GW_EDEPENDENCY, msg);
	schedule_reconnect(pg);
}

static void reset_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)revents;
	ev_idle_stop(loop, w);
	struct store_pg *pg = w->data;
	conn_lost(pg, pg->reset_reason);
}

static void stuck_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct store_pg *pg = w->data;
	struct pg_query *q = pg->head;
	if (q && q->kind == Q_USER && q->delivered &&
	    gw_mono_ns() - q->start_ns >= (uint64_t)pg->query_timeout_ms * 1000000ull)
		conn_lost(pg, "a query is stuck past its deadline; resetting the connection");
	else if (q && q->delivered)
		ev_timer_again(loop, w);
}

static void notice_cb(void *arg, const char *message)
{
	struct store_pg *pg = arg;
	LOGP(DDB, LOG_DEBUG, "postgres %s: server notice: %s", pg->name, message);
}

static void connected(struct store_pg *pg)
{
	/* The connect deadline keeps running until the schema check answers. */
	if (PQsetnonblocking(pg->conn, 1) != 0 || PQenterPipelineMode(pg->conn) != 1) {
		conn_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	PQsetNoticeProcessor(pg->conn, notice_cb, pg);
	pg->attempt = 0;
	pg->connects++;
	LOGP(DDB, LOG_INFO, "postgres %s: connected (server %d, backend pid %d)", pg->name,
	     PQserverVersion(pg->conn), PQbackendPID(pg->conn));
	set_state(pg, PGS_CHECKING);
	ev_io_stop(pg->loop, &pg->io_r);
	ev_io_set(&pg->io_r, pg->fd, EV_READ);
	ev_io_start(pg->loop, &pg->io_r);
	ev_io_stop(pg->loop, &pg->io_w);
	ev_io_set(&pg->io_w, pg->fd, EV_WRITE);
	send_schema_check(pg);
}

static void poll_connect(struct store_pg *pg);

static void connect_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	poll_connect(w->data);
}

/* One PQconnectPoll step; watch the socket for what it asks next. */
static void poll_connect(struct store_pg *pg)
{
	PostgresPollingStatusType ps = PQconnectPoll(pg->conn);
	int fd = PQsocket(pg->conn);
	ev_io_stop(pg->loop, &pg->io_r);
	ev_io_stop(pg->loop, &pg->io_w);
	switch (ps) {
	case PGRES_POLLING_OK:
		pg->fd = fd;
		ev_set_cb(&pg->io_r, io_read_cb);
		ev_set_cb(&pg->io_w, io_write_cb);
		connected(pg);
		return;
	case PGRES_POLLING_FAILED:
		conn_lost(pg, PQerrorMessage(pg->conn));
		return;
	case PGRES_POLLING_READING:
		ev_io_set(&pg->io_r, fd, EV_READ);
		ev_io_start(pg->loop, &pg->io_r);
		break;
	default: /* WRITING (ACTIVE is unused since PostgreSQL 9) */
		ev_io_set(&pg->io_w, fd, EV_WRITE);
		ev_io_start(pg->loop, &pg->io_w);
		break;
	}
	pg->fd = fd;
}

static void connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct store_pg *pg = w->data;
	char msg[96];
	snprintf(msg, sizeof(msg), "connect: no answer within %d ms", pg->connect_timeout_ms);
	conn_lost(pg, msg);
}

static void start_connect(struct store_pg *pg)
{
	const char *kw[] = {"dbname", pg->password ? "password" : NULL, NULL};
	const char *val[] = {pg->dsn, pg->password, NULL};
	set_state(pg, PGS_CONNECTING);
	pg->schema_version = -1;
	pg->conn = PQconnectStartParams(kw, val, 1);
	if (!pg->conn) {
		snprintf(pg->last_error, sizeof(pg->last_error), "connect: out of memory");
		schedule_reconnect(pg);
		return;
	}
	if (PQstatus(pg->conn) == CONNECTION_BAD) {
		conn_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	ev_set_cb(&pg->io_r, connect_io_cb);
	ev_set_cb(&pg->io_w, connect_io_cb);
	ev_timer_set(&pg->connect_timer, pg->connect_timeout_ms / 1000.0, 0.);
	ev_timer_start(pg->loop, &pg->connect_timer);
	/* As the libpq manual says: behave as if the last poll returned WRITING. */
	pg->fd = PQsocket(pg->conn);
	ev_io_set(&pg->io_w, pg->fd, EV_WRITE);
	ev_io_start(pg->loop, &pg->io_w);
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	start_connect(w->data);
}

/* ---- queries ---- */

static void query_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct pg_query *q = w->data;
	struct store_pg *pg = q->pg;
	if (!q->in_flight) { /* deferred refusal */
		struct pg_query **pp = &pg->deferred;
		while (*pp != q)
			pp = &(*pp)->next;
		*pp = q->next;
		bool schema = q->deferred_err == GW_ESCHEMA;
		deliver_err(q, schema ? STORE_PG_HARD_ERROR : STORE_PG_RETRY, q->deferred_err,
			    schema || pg->last_error[0] ? pg->last_error : "not connected");
		query_free(q);
		return;
	}
	LOGP(DDB, LOG_WARN, "postgres %s: query timed out; its late result will be dropped",
	     pg->name);
	deliver_err(q, STORE_PG_RETRY, GW_ETIMEDOUT, "query deadline passed");
	if (!ev_is_active(&pg->stuck_timer)) {
		pg->stuck_timer.repeat = pg->query_timeout_ms / 1000.0;
		ev_timer_again(loop, &pg->stuck_timer);
	}
}

static struct pg_query *query_new(struct store_pg *pg, enum q_kind kind, store_pg_cb cb, void *cls)
{
	struct pg_query *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->pg = pg;
	q->kind = kind;
	q->cb = cb;
	q->cls = cls;
	q->start_ns = gw_mono_ns();
	ev_init(&q->timer, query_timer_cb);
	q->timer.data = q;
	return q;
}

/* Not sendable now: answer from the loop. */
static int refuse(struct store_pg *pg, struct pg_query *q)
{
	q->deferred_err = pg->state == PGS_SCHEMA_MISMATCH ? GW_ESCHEMA : GW_EDEPENDENCY;
	q->next = pg->deferred;
	pg->deferred = q;
	ev_timer_set(&q->timer, 0., 0.);
	ev_timer_start(pg->loop, &q->timer);
	return 0;
}

static void arm(struct store_pg *pg, struct pg_query *q, int timeout_ms)
{
	fifo_push(pg, q);
	ev_timer_set(&q->timer, (timeout_ms > 0 ? timeout_ms : pg->query_timeout_ms) / 1000.0, 0.);
	ev_timer_start(pg->loop, &q->timer);
	flush(pg);
	/* Results flush() may have pulled in are handed out from the loop, never
	 * inside the submitting call. */
	ev_idle_start(pg->loop, &pg->drain_idle);
}

static struct pg_stmt *find_stmt(struct store_pg *pg, const char *name)
{
	for (struct pg_stmt *s = pg->stmts; s; s = s->next)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

int store_pg_statement(struct store_pg *pg, const char *name, const char *sql, int nparams)
{
	if (!pg || !name || !*name || !sql || nparams < 0)
		return GW_EINVAL;
	struct pg_stmt *s = find_stmt(pg, name);
	if (s)
		return strcmp(s->sql, sql) == 0 && s->nparams == nparams ? 0 : GW_EEXIST;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name)) || !(s->sql = strdup(sql))) {
		if (s)
			free(s->name);
		free(s);
		return GW_ENOMEM;
	}
	s->nparams = nparams;
	s->next = pg->stmts;
	pg->stmts = s;
	return 0;
}

int store_pg_exec(struct store_pg *pg, const char *name, int nparams, const char *const *values,
		  const int *lengths, const int *formats, int timeout_ms, store_pg_cb cb, void *cls)
{
	if (!pg || !name || !cb || nparams < 0 || (nparams > 0 && !values))
		return GW_EINVAL;
	struct pg_stmt *s = find_stmt(pg, name);
	if (!s)
		return GW_ENOENT;
	if (s->nparams != nparams)
		return GW_EINVAL;
	struct pg_query *q = query_new(pg, Q_USER, cb, cls);
	if (!q)
		return GW_ENOMEM;
	metric_inc(pg->m_queries);
	if (pg->state != PGS_READY)
		return refuse(pg, q);
	if (!s->prepared) {
		struct pg_query *p = query_new(pg, Q_PREPARE, NULL, NULL);
		if (!p) {
			free(q);
			return GW_ENOMEM;
		}
		p->stmt = s;
		p->owner = q;
		if (!PQsendPrepare(pg->conn, s->name, s->sql, s->nparams, NULL) ||
		    !PQpipelineSync(pg->conn)) {
			query_free(p);
			send_failed(pg);
			return refuse(pg, q);
		}
		s->prepared = true;
		fifo_push(pg, p);
	}
	if (!PQsendQueryPrepared(pg->conn, s->name, nparams, values, lengths, formats, 0) ||
	    !PQpipelineSync(pg->conn)) {
		/* q is answered by the refusal, not by the PREPARE. */
		if (pg->tail && pg->tail->owner == q)
			pg->tail->owner = NULL;
		send_failed(pg);
		return refuse(pg, q);
	}
	arm(pg, q, timeout_ms);
	return 0;
}

int store_pg_query(struct store_pg *pg, const char *sql, int nparams, const char *const *values,
		   int timeout_ms, store_pg_cb cb, void *cls)
{
	if (!pg || !sql || !cb || nparams < 0 || (nparams > 0 && !values))
		return GW_EINVAL;
	struct pg_query *q = query_new(pg, Q_USER, cb, cls);
	if (!q)
		return GW_ENOMEM;
	metric_inc(pg->m_queries);
	if (pg->state != PGS_READY)
		return refuse(pg, q);
	if (!PQsendQueryParams(pg->conn, sql, nparams, NULL, values, NULL, NULL, 0) ||
	    !PQpipelineSync(pg->conn)) {
		send_failed(pg);
		return refuse(pg, q);
	}
	arm(pg, q, timeout_ms);
	return 0;
}

/* ---- life cycle ---- */

static enum health_state health_probe(void *cls, char *detail, size_t n)
{
	struct store_pg *pg = cls;
	if (pg->state == PGS_READY) {
		snprintf(detail, n, "connected, schema version %d", pg->schema_version);
		return HEALTH_UP;
	}
	snprintf(detail, n, "%s", pg->last_error[0] ? pg->last_error : pg_state_names[pg->state]);
	return HEALTH_DOWN;
}

static int def(int v, int d)
{
	return v > 0 ? v : d;
}

int store_pg_new(struct ev_loop *loop, const struct store_pg_opts *o, struct store_pg **out)
{
	if (!loop || !o || !out || !o->dsn || !*o->dsn)
		return GW_EINVAL;
	*out = NULL;
	struct store_pg *pg = calloc(1, sizeof(*pg));
	if (!pg)
		return GW_ENOMEM;
	pg->loop = loop;
	pg->fd = -1;
	pg->schema_version = -1;
	pg->connect_timeout_ms = def(o->connect_timeout_ms, 3000);
	pg->query_timeout_ms = def(o->query_timeout_ms, 5000);
	pg->reconnect_min_ms = def(o->reconnect_min_ms, 200);
	pg->reconnect_max_ms = def(o->reconnect_max_ms, 10000);
	if (pg->reconnect_max_ms < pg->reconnect_min_ms)
		pg->reconnect_max_ms = pg->reconnect_min_ms;
	pg->expected_schema = o->expected_schema == 0 ? GW_SCHEMA_VERSION : o->expected_schema;
	if (pg->expected_schema < 0)
		pg->expected_schema = -1;
	pg->dsn = strdup(o->dsn);
	pg->name = strdup(o->health_name && *o->health_name ? o->health_name : "postgres");
	int rc = 0;
	if (!pg->dsn || !pg->name) {
		rc = GW_ENOMEM;
		goto fail;
	}
	if (o->password_file && *o->password_file) {
		rc = secfile_read(o->password_file, &pg->password, &pg->password_len);
		if (rc) {
			LOGP(DDB, LOG_ERROR, "postgres %s: password file %s: %s", pg->name,
			     o->password_file, gw_strerror(rc));
			goto fail;
		}
	}
	pg->rng = (uint64_t)gw_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)pg;
	if (!pg->rng)
		pg->rng = 1;
	char lbl[128];
	snprintf(lbl, sizeof(lbl), "instance=\"%s\"", pg->name);
	pg->m_queries = metrics_counter("gw_pg_queries_total", "PostgreSQL queries submitted", lbl);
	pg->m_errors = metrics_counter(
	    "gw_pg_errors_total", "PostgreSQL queries failed (error, disconnect, refusal)", lbl);
	pg->m_timeouts =
	    metrics_counter("gw_pg_timeouts_total", "PostgreSQL queries past their deadline", lbl);
	pg->m_reconnects =
	    metrics_counter("gw_pg_reconnects_total", "PostgreSQL reconnect attempts", lbl);
	pg->m_latency = metrics_histogram("gw_pg_latency_seconds", "PostgreSQL query latency", lbl,
					  metrics_latency_buckets, metrics_latency_buckets_n);
	if (!pg->m_queries || !pg->m_errors || !pg->m_timeouts || !pg->m_reconnects ||
	    !pg->m_latency) {
		rc = GW_ENOMEM;
		goto fail;
	}
	rc = health_register(pg->name, HEALTH_DEGRADES, health_probe, pg);
	if (rc)
		goto fail;
	ev_init(&pg->io_r, connect_io_cb);
	pg->io_r.data = pg;
	ev_init(&pg->io_w, connect_io_cb);
	pg->io_w.data = pg;
	ev_init(&pg->connect_timer, connect_timeout_cb);
	pg->connect_timer.data = pg;
	ev_init(&pg->reconnect_timer, reconnect_cb);
	pg->reconnect_timer.data = pg;
	ev_init(&pg->stuck_timer, stuck_cb);
	pg->stuck_timer.data = pg;
	ev_init(&pg->recheck_timer, recheck_cb);
	pg->recheck_timer.data = pg;
	ev_idle_init(&pg->reset_idle, reset_idle_cb);
	pg->reset_idle.data = pg;
	ev_idle_init(&pg->drain_idle, drain_idle_cb);
	pg->drain_idle.data = pg;
	snprintf(pg->last_error, sizeof(pg->last_error), "connecting");
	start_connect(pg);
	*out = pg;
	return 0;
fail:
	if (pg->password)
		secfile_free(pg->password, pg->password_len);
	free(pg->dsn);
	free(pg->name);
	free(pg);
	return rc;
}

void store_pg_free(struct store_pg *pg)
{
	if (!pg)
		return;
	GW_BUG_ON(pg->in_callback);
	pg->freeing = true;
	ev_timer_stop(pg->loop, &pg->reconnect_timer);
	close_conn(pg);
	fail_in_flight(pg, STORE_PG_HARD_ERROR, GW_ECANCELED, "store closed");
	while (pg->deferred) {
		struct pg_query *q = pg->deferred;
		pg->deferred = q->next;
		deliver_err(q, STORE_PG_HARD_ERROR, GW_ECANCELED, "store closed");
		query_free(q);
	}
	while (pg->stmts) {
		struct pg_stmt *s = pg->stmts;
		pg->stmts = s->next;
		free(s->name);
		free(s->sql);
		free(s);
	}
	health_unregister(pg->name);
	if (pg->password)
		secfile_free(pg->password, pg->password_len);
	free(pg->dsn);
	free(pg->name);
	free(pg);
}

bool store_pg_ready(const struct store_pg *pg)
{
	return pg && pg->state == PGS_READY;
}

int store_pg_schema_version(const struct store_pg *pg)
{
	return pg ? pg->schema_version : -1;
}

unsigned store_pg_connects(const struct store_pg *pg)
{
	return pg ? pg->connects : 0;
}

int store_pg_backend_pid(const struct store_pg *pg)
{
	return pg && pg->conn && pg->state >= PGS_CHECKING ? PQbackendPID(pg->conn) : 0;
}

/* ---- configuration and the daemon service ---- */

void store_pg_opts_from_cfg(const struct cfg *c, struct store_pg_opts *o)
{
	json_t *r = cfg_root(c);
	const char *pw = cfg_str(r, "postgres.password_file");
	*o = (struct store_pg_opts){
	    .dsn = cfg_str(r, "postgres.dsn"),
	    .password_file = pw && *pw ? pw : NULL,
	    .connect_timeout_ms = (int)cfg_int(r, "postgres.connect_timeout_ms"),
	    .query_timeout_ms = (int)cfg_int(r, "postgres.query_timeout_ms"),
	    .reconnect_min_ms = (int)cfg_int(r, "postgres.reconnect_min_ms"),
	    .reconnect_max_ms = (int)cfg_int(r, "postgres.reconnect_max_ms"),
	};
}

void store_pg_reload(struct store_pg *pg, const struct store_pg_opts *o)
{
	pg->connect_timeout_ms = def(o->connect_timeout_ms, pg->connect_timeout_ms);
	pg->query_timeout_ms = def(o->query_timeout_ms, pg->query_timeout_ms);
	pg->reconnect_min_ms = def(o->reconnect_min_ms, pg->reconnect_min_ms);
	pg->reconnect_max_ms = def(o->reconnect_max_ms, pg->reconnect_max_ms);
	if (pg->reconnect_max_ms < pg->reconnect_min_ms)
		pg->reconnect_max_ms = pg->reconnect_min_ms;
}

static int svc_start(struct gw_node *node, void **state)
{
	struct store_pg_opts o;
	store_pg_opts_from_cfg(node->cfg, &o);
	if (!o.dsn || !*o.dsn) {
		LOGP(DDB, LOG_ERROR,
		     "postgres.dsn is empty: set the connection string of ussdgw_app");
		return GW_ECONFIG;
	}
	struct store_pg *pg;
	int rc = store_pg_new(node->loop, &o, &pg);
	if (rc)
		return rc;
	*state = pg;
	return 0;
}

static void svc_stop(struct gw_node *node, void *state)
{
	(void)node;
	store_pg_free(state);
}

static void svc_reload(struct gw_node *node, void *state, const struct cfg *newcfg)
{
	(void)node;
	struct store_pg_opts o;
	store_pg_opts_from_cfg(newcfg, &o);
	store_pg_reload(state, &o);
}

const struct gw_service store_pg_service = {
    .name = "postgres",
    .start = svc_start,
    .stop = svc_stop,
    .reload = svc_reload,
};
