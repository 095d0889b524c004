/* The audit trail against a real PostgreSQL (the dev stack: USSDGW_PG_DSN for
 * the gateway's role, USSDGW_PG_OWNER_DSN for the owner). Without them the
 * test fails; it never skips.
 *
 * Each test writes its own chain (unique per run), so runs never disturb each
 * other and nothing has to be deleted (nothing can be). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "ussdgw/audit.h"
#include "ussdgw/audit_chain.h"
#include "ussdgw/audit_verify.h"
#include "ussdgw/clock.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

static const char *app_dsn, *owner_dsn;
static char tmpdir[64], keydir[128];
static struct crypto_keyring *kr;
static uint8_t pub[32];
static struct ev_loop *loop;
static char run_id[32];

/* --- helpers ------------------------------------------------------------------------ */

static PGconn *db(const char *dsn)
{
	PGconn *c = PQconnectdb(dsn);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect: %s", PQerrorMessage(c));
	PQsetNoticeProcessor(c, NULL, NULL);
	return c;
}

static void quiet_notice(void *arg, const char *m)
{
	(void)arg, (void)m;
}

/* Run @p sql; @return the SQLSTATE ("00000" on success) in a static buffer. */
static const char *exec_state(PGconn *c, const char *sql)
{
	static char st[6];
	PGresult *r = PQexec(c, sql);
	ExecStatusType s = PQresultStatus(r);
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		strcpy(st, "00000");
	else
		snprintf(st, sizeof(st), "%s", PQresultErrorField(r, PG_DIAG_SQLSTATE) ?: "?????");
	PQclear(r);
	return st;
}

static void exec_ok(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void exec_ok(PGconn *c, const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	PGresult *r = PQexec(c, sql);
	ExecStatusType s = PQresultStatus(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
}

static long long query_ll(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long long query_ll(PGconn *c, const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	long long v = PQgetisnull(r, 0, 0) ? -1 : atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void chain_name(char *out, size_t n, const char *what)
{
	snprintf(out, n, "it-%s-%s", run_id, what);
}

static void ensure_schema(void)
{
	PGconn *c = db(owner_dsn);
	if (query_ll(c, "SELECT count(*) FROM pg_class WHERE relname = 'audit'") == 0) {
		/* The dev stack normally migrates; a bare database gets 0002 here. */
		char path[512];
		snprintf(path, sizeof(path), "%s/sql/0002-audit.sql", getenv("GW_SOURCE_DIR") ?: ".");
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		static char sql[65536];
		size_t n = fread(sql, 1, sizeof(sql) - 1, f);
		sql[n] = 0;
		fclose(f);
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("0002-audit.sql: %s", PQresultErrorMessage(r));
		PQclear(r);
		/* Record it as ussdgw-migrate would (version, name, SHA-256 of the file). */
		if (query_ll(c, "SELECT count(*) FROM pg_class WHERE relname = 'schema_version'") == 1) {
			uint8_t h[32];
			char hx[65];
			crypto_sha256(sql, n, h);
			audit_hex(h, 32, hx);
			exec_ok(c, "INSERT INTO schema_version (version, name, checksum) VALUES (2, 'audit', '%s') "
				   "ON CONFLICT DO NOTHING", hx);
		}
	}
	exec_ok(c, "SELECT audit_ensure_partitions(2)");
	PQfinish(c);
}

struct cbrec {
	int calls, rc;
};

static void on_durable(void *cls, int rc)
{
	struct cbrec *c = cls;
	c->calls++;
	c->rc = rc;
}

static char export_path[256], journal_path[256];

static void open_audit(const char *chain, const char *dsn)
{
	snprintf(journal_path, sizeof(journal_path), "%s/j-%s", tmpdir, chain);
	snprintf(export_path, sizeof(export_path), "%s/heads-%s.log", tmpdir, chain);
	struct audit_opts o = {.chain_id = chain, .journal_dir = journal_path,
			       .segment_bytes = 256 * 1024, .max_bytes = 1ull << 30,
			       .export_file = export_path, .pg_dsn = dsn, .batch_size = 500,
			       .keys = kr};
	assert_int_equal(audit_open(loop, &o), 0);
}

static int append_one(int i, int64_t occurred_us, struct cbrec *cb)
{
	char sid[48], choice[16];
	snprintf(sid, sizeof(sid), "s-%s-%d", run_id, i / 10);
	snprintf(choice, sizeof(choice), "%d", i % 7);
	struct audit_var vars[] = {{.name = "choice", .value = choice},
				   {.name = "amount", .value = "1500-SECRET", .sensitive = true}};
	struct audit_record r = {.kind = AUDIT_SESSION_STEP, .session_id = sid,
				 .msisdn = "254711000111", .screen_id = "menu", .event = "input",
				 .outcome = "ok", .actor = "subscriber", .vars = vars, .n_vars = 2,
				 .occurred_us = occurred_us};
	return audit_append(&r, on_durable, cb);
}

static void run_until(struct cbrec *cb, int n)
{
	for (int i = 0; i < n; i++)
		while (!cb[i].calls)
			ev_run(loop, EVRUN_ONCE);
}

/* Append @p n records and wait until all are durable (and OK). */
static void append_n(int base, int n, int64_t occurred_us, int64_t step_us)
{
	struct cbrec *cb = calloc((size_t)n, sizeof(*cb));
	for (int i = 0; i < n; i++)
		assert_int_equal(append_one(base + i, occurred_us ? occurred_us + i * step_us : 0, &cb[i]), 0);
	run_until(cb, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(cb[i].calls, 1);
		assert_int_equal(cb[i].rc, 0);
	}
	free(cb);
}

static void verify_chain(const char *chain, struct audit_verify_report *rep)
{
	PGconn *c = db(owner_dsn);
	struct audit_verify_opts o = {.chain = chain, .export_file = export_path, .pubkey = pub};
	assert_int_equal(audit_verify(c, &o, rep), 0);
	PQfinish(c);
}

static void expect_clean(const char *chain, uint64_t records)
{
	struct audit_verify_report rep;
	verify_chain(chain, &rep);
	for (size_t i = 0; i < rep.nf; i++)
		print_message("finding: %s %s\n", audit_finding_name(rep.f[i].kind), rep.f[i].detail);
	assert_int_equal(rep.nf, 0);
	assert_int_equal(rep.records, records);
	audit_verify_report_free(&rep);
}

/* Write @p n records for @p chain, shipped and committed, with a checkpoint at the end. */
static void write_chain(const char *chain, int n, int64_t occurred_us, int64_t step_us)
{
	open_audit(chain, app_dsn);
	append_n(0, n, occurred_us, step_us);
	audit_close(); /* final checkpoint, shipped within the deadline */
	/* Reopen briefly to be sure the final checkpoint went in (the close deadline is short). */
	open_audit(chain, app_dsn);
	assert_int_equal(audit_wait_shipped(30000), 0);
	audit_close();
}

static int64_t month_start_us(int y, int m)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1};
	return (int64_t)timegm(&tm) * 1000000;
}

/* Run a command, capture stdout; @return the exit status. */
static int run_cmd(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run_cmd(char *out, size_t n, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t got = fread(out, 1, n - 1, p);
	out[got] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *tool(void)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/ussdgw-audit", getenv("GW_BUILD_DIR") ?: ".");
	return path;
}

/* --- tests ---------------------------------------------------------------------------- */

static void test_roles_cannot_change(void **state)
{
	char chain[64];
	chain_name(chain, sizeof(chain), "roles");
	write_chain(chain, 20, 0, 0);
	PGconn *a = db(app_dsn), *o = db(owner_dsn);
	PQsetNoticeProcessor(o, quiet_notice, NULL);
	char sql[512];
	snprintf(sql, sizeof(sql), "UPDATE audit SET body = '{}' WHERE chain = '%s'", chain);
	assert_string_equal(exec_state(a, sql), "42501"); /* no privilege */
	assert_string_equal(exec_state(o, sql), "42501"); /* the trigger, even for the owner */
	snprintf(sql, sizeof(sql), "DELETE FROM audit WHERE chain = '%s'", chain);
	assert_string_equal(exec_state(a, sql), "42501");
	assert_string_equal(exec_state(o, sql), "42501");
	assert_string_equal(exec_state(a, "TRUNCATE audit"), "42501");
	assert_string_equal(exec_state(o, "TRUNCATE audit"), "42501");
	char part[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	snprintf(part, sizeof(part), "audit_%04d_%02d", tm.tm_year + 1900, tm.tm_mon + 1);
	snprintf(sql, sizeof(sql), "TRUNCATE %s", part);
	assert_string_equal(exec_state(a, sql), "42501");
	assert_string_equal(exec_state(o, sql), "42501");
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE chain = '%s'", part, chain);
	assert_string_equal(exec_state(a, sql), "42501");
	assert_string_equal(exec_state(o, sql), "42501");
	assert_string_equal(exec_state(a, "UPDATE audit_checkpoint SET seq = seq"), "42501");
	assert_string_equal(exec_state(o, "DELETE FROM audit_checkpoint"), "42501");
	assert_string_equal(exec_state(a, "TRUNCATE audit_checkpoint"), "42501");
	assert_string_equal(exec_state(a, "DELETE FROM audit_subscriber_key"), "42501");
	assert_string_equal(exec_state(a, "CALL audit_drop_partition('2001-01-01', 'nope')"), "42501");
	/* Nothing changed. */
	assert_int_equal(query_ll(o, "SELECT count(*) FROM audit WHERE chain = '%s'", chain), 20);
	expect_clean(chain, 20);
	PQfinish(a);
	PQfinish(o);
}

static void test_ship_verify_show_data(void **state)
{
	char chain[64];
	chain_name(chain, sizeof(chain), "ship");
	open_audit(chain, app_dsn);
	append_n(0, 1500, 0, 0);
	audit_checkpoint_now();
	append_n(1500, 1500, 0, 0);
	assert_int_equal(audit_wait_shipped(60000), 0);
	struct audit_stats st;
	audit_get_stats(&st);
	assert_int_equal(st.journaled, 3000);
	assert_int_equal(st.committed, 3000);
	assert_true(st.pg_up);
	audit_close();
	PGconn *c = db(owner_dsn);
	assert_int_equal(query_ll(c, "SELECT count(*) FROM audit WHERE chain = '%s'", chain), 3000);
	assert_int_equal(query_ll(c, "SELECT max(seq) FROM audit WHERE chain = '%s'", chain), 3000);
	assert_true(query_ll(c, "SELECT count(*) FROM audit_checkpoint WHERE chain = '%s'", chain) >= 1);
	/* Tokens, not numbers; sealed amounts; the subscriber's data key is stored. */
	assert_int_equal(query_ll(c, "SELECT count(*) FROM audit WHERE chain = '%s' AND body LIKE "
				     "'%%254711000111%%'", chain), 0);
	assert_int_equal(query_ll(c, "SELECT count(*) FROM audit WHERE chain = '%s' AND body LIKE "
				     "'%%SECRET%%'", chain), 0);
	char tok[CRYPTO_TOKEN_HEX + 1];
	assert_int_equal(crypto_msisdn_token(kr, "254711000111", tok), 0);
	assert_int_equal(query_ll(c, "SELECT count(*) FROM audit WHERE chain = '%s' AND msisdn_token = "
				     "'%s'", chain, tok), 3000);
	assert_true(query_ll(c, "SELECT count(*) FROM audit_subscriber_key WHERE msisdn_token = '%s'",
			     tok) >= 1);
	PQfinish(c);
	expect_clean(chain, 3000);

	/* The tool says the same, and rebuilds a session's timeline with masked inputs. */
	static char out[65536];
	assert_int_equal(run_cmd(out, sizeof(out), "%s verify --chain '%s' --export '%s' --keys '%s' --dsn '%s'",
				 tool(), chain, export_path, keydir, owner_dsn), 0);
	assert_non_null(strstr(out, "OK: 1 chains, 3000 records"));
	char sid[64];
	snprintf(sid, sizeof(sid), "s-%s-7", run_id);
	assert_int_equal(run_cmd(out, sizeof(out), "%s show --session '%s' --json --dsn '%s'", tool(), sid,
				 app_dsn), 0);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	assert_non_null(j);
	json_t *steps = json_object_get(j, "steps");
	assert_int_equal(json_array_size(steps), 10);
	json_t *s0 = json_array_get(steps, 0);
	assert_string_equal(json_string_value(json_object_get(s0, "screen")), "menu");
	assert_string_equal(json_string_value(json_object_get(json_object_get(s0, "vars"), "amount")), "****");
	assert_string_equal(json_string_value(json_object_get(json_object_get(s0, "vars"), "choice")), "0");
	assert_string_equal(json_string_value(json_object_get(j, "outcome")), "ok");
	json_decref(j);
	assert_int_equal(run_cmd(out, sizeof(out), "%s show --session '%s' --dsn '%s'", tool(), sid, app_dsn), 0);
	assert_non_null(strstr(out, "amount=****"));
	assert_non_null(strstr(out, "outcome: ok"));
	assert_null(strstr(out, "SECRET"));
}

/* Owner-side tampering: triggers must be switched off first, as an attacker would. */
static void with_triggers_off(PGconn *o, const char *sql)
{
	exec_ok(o, "BEGIN");
	exec_ok(o, "ALTER TABLE audit DISABLE TRIGGER audit_no_change");
	PGresult *r = PQexec(o, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
				"WHERE i.inhparent = 'audit'::regclass");
	for (int i = 0; i < PQntuples(r); i++)
		exec_ok(o, "ALTER TABLE %s DISABLE TRIGGER audit_no_change", PQgetvalue(r, i, 0));
	exec_ok(o, "%s", sql);
	for (int i = 0; i < PQntuples(r); i++)
		exec_ok(o, "ALTER TABLE %s ENABLE TRIGGER audit_no_change", PQgetvalue(r, i, 0));
	PQclear(r);
	exec_ok(o, "ALTER TABLE audit ENABLE TRIGGER audit_no_change");
	exec_ok(o, "COMMIT");
}

static const struct audit_finding *first_finding(struct audit_verify_report *rep)
{
	assert_true(rep->nf > 0);
	return &rep->f[0];
}

static void test_tamper_edit(void **state)
{
	char chain[64], sql[8192];
	chain_name(chain, sizeof(chain), "edit");
	write_chain(chain, 100, 0, 0);
	PGconn *o = db(owner_dsn);
	snprintf(sql, sizeof(sql),
		 "UPDATE audit SET body = replace(body, '\"event\":\"input\"', '\"event\":\"inpuT\"') "
		 "WHERE chain = '%s' AND seq = 37", chain);
	with_triggers_off(o, sql);
	struct audit_verify_report rep;
	verify_chain(chain, &rep);
	const struct audit_finding *f = first_finding(&rep);
	assert_int_equal(f->kind, AF_CHANGED);
	assert_int_equal(f->seq, 37);
	audit_verify_report_free(&rep);
	static char out[16384];
	assert_int_equal(run_cmd(out, sizeof(out), "%s verify --chain '%s' --export '%s' --keys '%s' --dsn '%s'",
				 tool(), chain, export_path, keydir, owner_dsn), 1);
	assert_non_null(strstr(out, "changed: chain"));
	assert_non_null(strstr(out, "record seq 37 changed"));

	/* The same with the hash recomputed: the next record's link names it. */
	char chain2[64];
	chain_name(chain2, sizeof(chain2), "edit-rehash");
	write_chain(chain2, 100, 0, 0);
	snprintf(sql, sizeof(sql),
		 "SELECT seq, (extract(epoch FROM occurred) * 1000000)::bigint, body, prev_hash FROM audit "
		 "WHERE chain = '%s' AND seq = 52", chain2);
	PGresult *r = PQexec(o, sql);
	assert_int_equal(PQntuples(r), 1);
	char body[4096];
	snprintf(body, sizeof(body), "%s", PQgetvalue(r, 0, 2));
	char *p = strstr(body, "\"outcome\":\"ok\"");
	assert_non_null(p);
	memcpy(p, "\"outcome\":\"no\"", 14);
	uint8_t prev[32], h[32];
	assert_int_equal(audit_unhex(PQgetvalue(r, 0, 3) + 2, prev, 32), 0);
	audit_chain_hash(chain2, 52, atoll(PQgetvalue(r, 0, 1)), prev, body, strlen(body), h);
	PQclear(r);
	char hx[65];
	audit_hex(h, 32, hx);
	snprintf(sql, sizeof(sql), "UPDATE audit SET body = '%s', hash = '\\x%s' WHERE chain = '%s' AND seq = 52",
		 body, hx, chain2);
	with_triggers_off(o, sql);
	verify_chain(chain2, &rep);
	f = first_finding(&rep);
	assert_int_equal(f->kind, AF_CHANGED);
	assert_int_equal(f->seq, 52);
	audit_verify_report_free(&rep);
	PQfinish(o);
}

static void test_tamper_delete_insert_tail(void **state)
{
	char chain[64], sql[8192];
	PGconn *o = db(owner_dsn);
	struct audit_verify_report rep;

	chain_name(chain, sizeof(chain), "delete");
	write_chain(chain, 100, 0, 0);
	snprintf(sql, sizeof(sql), "DELETE FROM audit WHERE chain = '%s' AND seq IN (64, 65)", chain);
	with_triggers_off(o, sql);
	verify_chain(chain, &rep);
	const struct audit_finding *f = first_finding(&rep);
	assert_int_equal(f->kind, AF_REMOVED);
	assert_int_equal(f->seq, 64);
	assert_int_equal(f->seq_to, 65);
	audit_verify_report_free(&rep);

	/* Inserted: a second, well-formed record under seq 30 linking to seq 29. */
	chain_name(chain, sizeof(chain), "insert");
	write_chain(chain, 100, 0, 0);
	snprintf(sql, sizeof(sql),
		 "SELECT (extract(epoch FROM occurred) * 1000000)::bigint, hash FROM audit WHERE chain = '%s' "
		 "AND seq = 29", chain);
	PGresult *r = PQexec(o, sql);
	int64_t occ = atoll(PQgetvalue(r, 0, 0)) + 1;
	uint8_t prev[32], h[32];
	assert_int_equal(audit_unhex(PQgetvalue(r, 0, 1) + 2, prev, 32), 0);
	PQclear(r);
	const char *body = "{\"v\":1,\"kind\":\"payment_state\",\"payment\":\"forged\"}";
	audit_chain_hash(chain, 30, occ, prev, body, strlen(body), h);
	char ph[65], hh[65];
	audit_hex(prev, 32, ph);
	audit_hex(h, 32, hh);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO audit (chain, seq, occurred, body, prev_hash, hash, kind, payment_id) VALUES "
		 "('%s', 30, 'epoch'::timestamptz + %lld * interval '1 microsecond', '%s', '\\x%s', '\\x%s', "
		 "'payment_state', 'forged')",
		 chain, (long long)occ, body, ph, hh);
	exec_ok(o, "%s", sql); /* inserting needs no trigger switched off */
	verify_chain(chain, &rep);
	f = first_finding(&rep);
	assert_int_equal(f->kind, AF_INSERTED);
	assert_int_equal(f->seq, 30);
	audit_verify_report_free(&rep);

	/* The tail and its checkpoint rows removed: the exported head still covers it. */
	chain_name(chain, sizeof(chain), "tail");
	write_chain(chain, 100, 0, 0);
	snprintf(sql, sizeof(sql), "DELETE FROM audit WHERE chain = '%s' AND seq > 90", chain);
	with_triggers_off(o, sql);
	exec_ok(o, "BEGIN");
	exec_ok(o, "ALTER TABLE audit_checkpoint DISABLE TRIGGER audit_no_change");
	exec_ok(o, "DELETE FROM audit_checkpoint WHERE chain = '%s' AND seq > 90", chain);
	exec_ok(o, "ALTER TABLE audit_checkpoint ENABLE TRIGGER audit_no_change");
	exec_ok(o, "COMMIT");
	verify_chain(chain, &rep);
	assert_non_null(audit_verify_find(&rep, AF_TAIL_REMOVED, chain));
	assert_int_equal(audit_verify_find(&rep, AF_TAIL_REMOVED, chain)->seq, 91);
	audit_verify_report_free(&rep);
	PQfinish(o);
}

static void test_dropped_partition(void **state)
{
	char chain[64];
	PGconn *o = db(owner_dsn);
	PQsetNoticeProcessor(o, quiet_notice, NULL);
	/* Old months only this test writes to: 2001-02..04, then 2001-06..08. */
	exec_ok(o, "SELECT audit_ensure_partitions(2, '2001-02-15')");
	exec_ok(o, "SELECT audit_ensure_partitions(2, '2001-06-15')");
	chain_name(chain, sizeof(chain), "droppart");
	int64_t feb = month_start_us(2001, 2) + 3600ll * 1000000;
	int64_t step = 10ll * 24 * 3600 * 1000000 / 3; /* ~3.3 days: 30 records over Feb..Apr */
	write_chain(chain, 27, feb, step);
	long long in_march = query_ll(o, "SELECT count(*) FROM audit_2001_03 WHERE chain = '%s'", chain);
	assert_true(in_march > 0);
	long long first_march = query_ll(o, "SELECT min(seq) FROM audit_2001_03 WHERE chain = '%s'", chain);
	exec_ok(o, "DROP TABLE audit_2001_03");
	struct audit_verify_report rep;
	verify_chain(chain, &rep);
	const struct audit_finding *f = first_finding(&rep);
	assert_int_equal(f->kind, AF_REMOVED);
	assert_int_equal(f->seq, (uint64_t)first_march);
	assert_int_equal(f->seq_to - f->seq + 1, (uint64_t)in_march);
	f = audit_verify_find(&rep, AF_PARTITION_MISSING, chain);
	assert_non_null(f);
	assert_non_null(strstr(f->detail, "audit_2001_03"));
	audit_verify_report_free(&rep);

	/* The documented way: the procedure records the ranges; verify accepts them. */
	chain_name(chain, sizeof(chain), "retention");
	write_chain(chain, 27, month_start_us(2001, 6) + 3600ll * 1000000, step);
	exec_ok(o, "CALL audit_drop_partition('2001-07-01', 'integration test retention')");
	assert_true(query_ll(o, "SELECT count(*) FROM audit_retention WHERE partition = 'audit_2001_07' "
				"AND ranges @> '[{\"chain\": \"%s\"}]'", chain) == 1);
	verify_chain(chain, &rep);
	for (size_t i = 0; i < rep.nf; i++)
		print_message("finding: %s\n", rep.f[i].detail);
	assert_int_equal(rep.nf, 0);
	assert_int_equal(rep.retention_ranges, 1);
	audit_verify_report_free(&rep);
	PQfinish(o);
}

static void test_replay_and_conflict(void **state)
{
	char chain[64];
	chain_name(chain, sizeof(chain), "replay");
	open_audit(chain, app_dsn);
	append_n(0, 50, 0, 0);
	assert_int_equal(audit_wait_shipped(30000), 0);
	audit_close();
	/* A crash before the shipped position was saved: the shipper sends it all again. */
	char pth[300];
	snprintf(pth, sizeof(pth), "%s/shipped", journal_path);
	assert_int_equal(unlink(pth), 0);
	open_audit(chain, app_dsn);
	assert_int_equal(audit_wait_shipped(30000), 0);
	struct audit_stats st;
	audit_get_stats(&st);
	assert_int_equal(st.replays, 50);
	assert_int_equal(st.conflicts, 0);
	audit_close();
	PGconn *o = db(owner_dsn);
	assert_int_equal(query_ll(o, "SELECT count(*) FROM audit WHERE chain = '%s'", chain), 50);

	/* A different record already stored under seq 3 of a chain: refused and alarmed. */
	chain_name(chain, sizeof(chain), "conflict");
	PGconn *a = db(app_dsn);
	exec_ok(a, "INSERT INTO audit (chain, seq, occurred, body, prev_hash, hash, kind) VALUES "
		   "('%s', 3, now(), '{\"v\":1,\"kind\":\"admin_call\"}', '\\x%064d', '\\x%064d', 'admin_call')",
		chain, 0, 0);
	open_audit(chain, app_dsn);
	append_n(0, 10, 0, 0);
	assert_int_equal(audit_wait_shipped(30000), 0);
	audit_get_stats(&st);
	assert_int_equal(st.conflicts, 1);
	audit_close();
	assert_int_equal(query_ll(o, "SELECT count(*) FROM audit WHERE chain = '%s'", chain), 10);
	assert_int_equal(query_ll(o, "SELECT count(*) FROM audit_conflict WHERE chain = '%s' AND seq = 3",
				  chain), 1);
	/* The stored row is untouched; the journal's record is kept in audit_conflict. */
	assert_int_equal(query_ll(o, "SELECT count(*) FROM audit WHERE chain = '%s' AND seq = 3 AND "
				     "kind = 'admin_call'", chain), 1);
	/* And verify sees that the stored seq 3 is not the chain's. */
	struct audit_verify_report rep;
	verify_chain(chain, &rep);
	assert_int_equal(first_finding(&rep)->seq, 3);
	audit_verify_report_free(&rep);
	PQfinish(a);
	PQfinish(o);
}

static void test_month_boundary_shifted_clock(void **state)
{
	char chain[64];
	chain_name(chain, sizeof(chain), "month");
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int y = tm.tm_year + 1900, m = tm.tm_mon + 2;
	if (m > 12) {
		m = 1;
		y++;
	}
	int64_t boundary = month_start_us(y, m);
	/* The gateway's clock 100 ms before the next month (partitions exist 2 months ahead);
	 * the first record is appended right after the shift, so it falls before the boundary. */
	open_audit(chain, app_dsn);
	gw_clock_set_shift(0);
	gw_clock_set_shift((boundary - gw_now_us()) / 1000 - 100);
	assert_true(gw_now_us() < boundary);
	append_n(0, 1, 0, 0);
	int n = 1;
	int64_t t;
	do { /* until a whole batch was appended after the boundary */
		t = gw_now_us();
		append_n(n, 100, 0, 0);
		n += 100;
	} while (t < boundary && n < 200000);
	assert_int_equal(audit_wait_shipped(60000), 0);
	audit_close();
	gw_clock_set_shift(0);
	PGconn *o = db(owner_dsn);
	assert_int_equal(query_ll(o, "SELECT count(DISTINCT tableoid) FROM audit WHERE chain = '%s'", chain), 2);
	assert_int_equal(query_ll(o, "SELECT count(*) FROM audit_default WHERE chain = '%s'", chain), 0);
	assert_true(query_ll(o, "SELECT count(*) FROM audit WHERE chain = '%s' AND occurred >= "
				"'epoch'::timestamptz + %lld * interval '1 microsecond'",
			     chain, (long long)boundary) > 0);
	PQfinish(o);
	expect_clean(chain, (uint64_t)n);
}

static void test_default_partition_alarm(void **state)
{
	char chain[64];
	chain_name(chain, sizeof(chain), "default");
	open_audit(chain, app_dsn);
	append_n(0, 1, month_start_us(2099, 6), 0); /* no partition for that month */
	assert_int_equal(audit_wait_shipped(30000), 0);
	struct audit_stats st;
	audit_get_stats(&st);
	assert_int_equal(st.alarms, 1);
	audit_close();
	PGconn *o = db(owner_dsn);
	assert_true(query_ll(o, "SELECT count(*) FROM audit_alarm WHERE what = 'default-partition' AND "
				"detail LIKE '%%%s%%'", chain) == 1);
	PQfinish(o);
	struct audit_verify_report rep;
	verify_chain(chain, &rep);
	assert_non_null(audit_verify_find(&rep, AF_DEFAULT_ROWS, chain));
	audit_verify_report_free(&rep);
}

/* --- PostgreSQL away: a TCP proxy in front of it that we can cut ----------------------- */

/* One thread per direction with blocking I/O (no cross-direction stalls); cutting
 * the proxy shuts every socket down and closes the listener, so PostgreSQL is
 * unreachable (connections refused) until it is restored. */
#define PMAX 64
struct proxy {
	int lfd, port;
	char up_path[100];
	char up_host[128];
	int up_port;
	atomic_bool down, quit;
	pthread_t th;
	pthread_mutex_t mu;
	int fds[PMAX];
};

struct pipe_half {
	struct proxy *p;
	int from, to;
	atomic_int *refs;
};

static int proxy_listen(struct proxy *p)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	p->port = ntohs(a.sin_port);
	return fd;
}

static int proxy_upstream(struct proxy *p)
{
	if (p->up_path[0]) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", p->up_path);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->up_port)};
	inet_pton(AF_INET, p->up_host, &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void proxy_track(struct proxy *p, int fd, bool add)
{
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < PMAX; i++)
		if (add ? p->fds[i] < 0 : p->fds[i] == fd) {
			p->fds[i] = add ? fd : -1;
			break;
		}
	pthread_mutex_unlock(&p->mu);
}

static void *pipe_thread(void *arg)
{
	struct pipe_half *h = arg;
	char buf[65536];
	for (;;) {
		ssize_t r = read(h->from, buf, sizeof(buf));
		if (r <= 0 || send(h->to, buf, (size_t)r, MSG_NOSIGNAL) != r)
			break;
	}
	shutdown(h->from, SHUT_RDWR);
	shutdown(h->to, SHUT_RDWR);
	if (atomic_fetch_sub(h->refs, 1) == 1) {
		proxy_track(h->p, h->from, false);
		proxy_track(h->p, h->to, false);
		close(h->from);
		close(h->to);
		free(h->refs);
	}
	free(h);
	return NULL;
}

static void *proxy_thread(void *arg)
{
	struct proxy *p = arg;
	while (!atomic_load(&p->quit)) {
		if (atomic_load(&p->down)) {
			if (p->lfd >= 0) {
				close(p->lfd);
				p->lfd = -1;
				pthread_mutex_lock(&p->mu);
				for (int i = 0; i < PMAX; i++)
					if (p->fds[i] >= 0)
						shutdown(p->fds[i], SHUT_RDWR);
				pthread_mutex_unlock(&p->mu);
			}
			usleep(10000);
			continue;
		}
		if (p->lfd < 0 && (p->lfd = proxy_listen(p)) < 0) {
			usleep(10000);
			continue;
		}
		struct pollfd pf = {.fd = p->lfd, .events = POLLIN};
		if (poll(&pf, 1, 10) <= 0)
			continue;
		int c = accept(p->lfd, NULL, NULL);
		if (c < 0)
			continue;
		int u = proxy_upstream(p);
		if (u < 0) {
			close(c);
			continue;
		}
		proxy_track(p, c, true);
		proxy_track(p, u, true);
		atomic_int *refs = malloc(sizeof(*refs));
		atomic_init(refs, 2);
		for (int d = 0; d < 2; d++) {
			struct pipe_half *h = malloc(sizeof(*h));
			*h = (struct pipe_half){.p = p, .from = d ? u : c, .to = d ? c : u, .refs = refs};
			pthread_t t;
			pthread_create(&t, NULL, pipe_thread, h);
			pthread_detach(t);
		}
	}
	if (p->lfd >= 0)
		close(p->lfd);
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < PMAX; i++)
		if (p->fds[i] >= 0)
			shutdown(p->fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void proxy_start(struct proxy *p, char *dsn_out, size_t n)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	for (int i = 0; i < PMAX; i++)
		p->fds[i] = -1;
	PGconn *c = db(app_dsn);
	const char *host = PQhost(c), *port = PQport(c);
	if (host[0] == '/')
		snprintf(p->up_path, sizeof(p->up_path), "%.80s/.s.PGSQL.%.8s", host, port);
	else
		snprintf(p->up_host, sizeof(p->up_host), "%s", strcmp(host, "localhost") ? host : "127.0.0.1");
	p->up_port = atoi(port);
	PQfinish(c);
	p->lfd = proxy_listen(p);
	assert_true(p->lfd >= 0);
	/* The app DSN with host and port replaced by the proxy's. */
	PQconninfoOption *opts = PQconninfoParse(app_dsn, NULL);
	assert_non_null(opts);
	size_t off = 0;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr") ||
		    !strcmp(o->keyword, "port"))
			continue;
		off += (size_t)snprintf(dsn_out + off, n - off, "%s='%s' ", o->keyword, o->val);
	}
	snprintf(dsn_out + off, n - off, "host=127.0.0.1 port=%d", p->port);
	PQconninfoFree(opts);
	pthread_create(&p->th, NULL, proxy_thread, p);
}

static void test_postgres_away_under_load(void **state)
{
	char chain[64], dsn[1024];
	chain_name(chain, sizeof(chain), "outage");
	struct proxy px;
	proxy_start(&px, dsn, sizeof(dsn));
	open_audit(chain, dsn);
	append_n(0, 500, 0, 0);
	assert_int_equal(audit_wait_shipped(30000), 0);

	/* PostgreSQL goes away. The gateway keeps answering: every append is durable. */
	atomic_store(&px.down, true);
	const char *env = getenv("USSDGW_TEST_OUTAGE_S");
	int outage_s = env ? atoi(env) : 0;
	struct audit_stats st;
	int n = 500;
	time_t t0 = time(NULL);
	int rounds = 0;
	for (;;) {
		append_n(n, 200, 0, 0);
		n += 200;
		audit_get_stats(&st);
		rounds++;
		/* Long enough that the shipper has failed and knows it (and, on request, a set time). */
		if (!st.pg_up && rounds >= 20 && time(NULL) - t0 >= outage_s)
			break;
		usleep(10000);
	}
	char *json = NULL;
	assert_int_equal(health_check(&json), HEALTH_DEGRADED);
	assert_non_null(strstr(json, "PostgreSQL unreachable"));
	free(json);
	assert_true(st.journaled == (uint64_t)n);
	assert_true(st.committed < (uint64_t)n);

	/* Back: the backlog drains, in order. */
	atomic_store(&px.down, false);
	assert_int_equal(audit_wait_shipped(120000), 0);
	audit_get_stats(&st);
	assert_true(st.pg_up);
	assert_int_equal(health_check(&json), HEALTH_READY);
	free(json);
	audit_close();
	atomic_store(&px.quit, true);
	pthread_join(px.th, NULL);
	PGconn *o = db(owner_dsn);
	assert_int_equal(query_ll(o, "SELECT count(*) FROM audit WHERE chain = '%s'", chain), n);
	assert_int_equal(query_ll(o, "SELECT count(DISTINCT seq) FROM audit WHERE chain = '%s'", chain), n);
	assert_int_equal(query_ll(o, "SELECT max(seq) FROM audit WHERE chain = '%s'", chain), n);
	PQfinish(o);
	expect_clean(chain, (uint64_t)n);
}

/* --- main ----------------------------------------------------------------------------- */

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* the proxy's sockets are cut under the shipper's feet */
	app_dsn = getenv("USSDGW_PG_DSN");
	owner_dsn = getenv("USSDGW_PG_OWNER_DSN");
	if (!app_dsn || !owner_dsn) {
		fprintf(stderr, "test_audit_pg: USSDGW_PG_DSN and USSDGW_PG_OWNER_DSN must be set "
				"(tools/devstack env)\n");
		return 1;
	}
	/* AUDIT_IT_LOG=info shows the shipper's reconnects and alarms; AUDIT_IT_ONLY=name runs one test. */
	enum log_level lvl = LOG_FATAL;
	if (getenv("AUDIT_IT_LOG"))
		log_level_parse(getenv("AUDIT_IT_LOG"), &lvl);
	log_set_all_levels(lvl);
	if (getenv("AUDIT_IT_ONLY"))
		cmocka_set_test_filter(getenv("AUDIT_IT_ONLY"));
	snprintf(run_id, sizeof(run_id), "%lx%x", (long)time(NULL), (unsigned)getpid());
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gw-auditpg-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(keydir, sizeof(keydir), "%s/keys", tmpdir);
	if (crypto_create_keydir(keydir) || crypto_open(keydir, &kr) || crypto_sign_public(kr, pub))
		return 1;
	loop = ev_loop_new(EVFLAG_AUTO);
	ensure_schema();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_cannot_change),
		cmocka_unit_test(test_ship_verify_show_data),
		cmocka_unit_test(test_tamper_edit),
		cmocka_unit_test(test_tamper_delete_insert_tail),
		cmocka_unit_test(test_dropped_partition),
		cmocka_unit_test(test_replay_and_conflict),
		cmocka_unit_test(test_month_boundary_shifted_clock),
		cmocka_unit_test(test_default_partition_alarm),
		cmocka_unit_test(test_postgres_away_under_load),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	audit_close();
	crypto_close(kr);
	ev_loop_destroy(loop);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
