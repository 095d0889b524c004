/* audit_bench: audit records per second through the journal into PostgreSQL,
 * beside a commit per record, in one run.
 *
 *   audit_bench [--records N] [--per-commit M] [--window W] [--batch B]
 *
 * Needs USSDGW_PG_DSN (the gateway's role) with migration 0002 applied. Prints
 * PostgreSQL's durability settings and the mean record size beside the figures.
 * Phases:
 *   live    appends N records (at most W waiting for the journal) while the
 *           shipper runs; rate = N / time until the last one is committed
 *   drain   appends N records with PostgreSQL not configured (journal only),
 *           then starts the shipper; rate = N / time to commit the backlog
 *   single  M records inserted with one transaction (and fsync) each, the same
 *           row shape, through a prepared statement
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libpq-fe.h>

#include "ussdgw/audit.h"
#include "ussdgw/audit_chain.h"
#include "ussdgw/clock.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"

static struct ev_loop *loop;
static struct crypto_keyring *kr;
static char tmpdir[64];
static long inflight, failures;
static uint64_t body_bytes;

static double now_s(void)
{
	return (double)gw_mono_ns() / 1e9;
}

static void on_durable(void *cls, int rc)
{
	(void)cls;
	inflight--;
	if (rc)
		failures++;
}

static void open_audit(const char *chain, const char *jdir, const char *dsn, unsigned batch)
{
	struct audit_opts o = {.chain_id = chain, .journal_dir = jdir, .segment_bytes = 64 << 20,
			       .max_bytes = 8ull << 30, .pg_dsn = dsn, .batch_size = batch, .keys = kr,
			       .max_queue = 1u << 20};
	int rc = audit_open(loop, &o);
	if (rc) {
		fprintf(stderr, "audit_open: %s\n", gw_strerror(rc));
		exit(1);
	}
}

/* A realistic session step: a subscriber out of 5000, a choice, an amount (sealed). */
static void fill(long i, char *sid, char *msisdn, char *choice, char *amount, struct audit_var *v,
		 struct audit_record *r)
{
	snprintf(sid, 64, "9f1c2a7e-%04lx-4c1d-9a51-%012lx", (i / 6) & 0xffff, i / 6);
	snprintf(msisdn, 16, "2547%08ld", 10000000 + (i * 7919) % 5000);
	snprintf(choice, 8, "%ld", i % 9);
	snprintf(amount, 16, "%ld", 100 + i % 90000);
	v[0] = (struct audit_var){.name = "choice", .value = choice};
	v[1] = (struct audit_var){.name = "amount", .value = amount, .sensitive = true};
	v[2] = (struct audit_var){.name = "lang", .value = "sw"};
	*r = (struct audit_record){.kind = AUDIT_SESSION_STEP, .session_id = sid, .link = "mno1/0",
				   .msisdn = msisdn, .screen_id = "send_money.confirm", .event = "input",
				   .outcome = "continue", .actor = "subscriber", .vars = v, .n_vars = 3,
				   .elapsed_us = 850 + i % 300};
}

static void append_many(long n, long window)
{
	char sid[64], msisdn[16], choice[8], amount[16];
	struct audit_var v[3];
	struct audit_record r;
	for (long i = 0; i < n;) {
		while (inflight < window && i < n) {
			fill(i, sid, msisdn, choice, amount, v, &r);
			if (audit_append(&r, on_durable, NULL)) {
				fprintf(stderr, "audit_append refused\n");
				exit(1);
			}
			inflight++;
			i++;
		}
		ev_run(loop, EVRUN_ONCE);
	}
	while (inflight > 0)
		ev_run(loop, EVRUN_ONCE);
}

static char *show(PGconn *c, const char *what)
{
	static char buf[8][64];
	static int k;
	char q[64];
	snprintf(q, sizeof(q), "SHOW %s", what);
	PGresult *r = PQexec(c, q);
	char *out = buf[k++ % 8];
	snprintf(out, 64, "%s", PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?");
	PQclear(r);
	return out;
}

static double single_commits(PGconn *c, const char *chain, long m)
{
	/* Same row shape as the shipper writes, one transaction per record. */
	PGresult *r = PQprepare(c, "one",
				"INSERT INTO audit (chain, seq, occurred, body, prev_hash, hash, kind, session_id, "
				"msisdn_token) VALUES ($1, $2, now(), $3, $4, $5, 'session_step', $6, $7)",
				7, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "prepare: %s", PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
	uint8_t prev[32] = {0}, h[32];
	char body[512], sid[64], msisdn[16], choice[8], amount[16], seq[24], tok[CRYPTO_TOKEN_HEX + 1];
	struct audit_var v[3];
	struct audit_record rec;
	double t0 = now_s();
	for (long i = 0; i < m; i++) {
		fill(i, sid, msisdn, choice, amount, v, &rec);
		crypto_msisdn_token(kr, msisdn, tok);
		snprintf(body, sizeof(body),
			 "{\"v\":1,\"kind\":\"session_step\",\"session\":\"%s\",\"link\":\"mno1/0\","
			 "\"msisdn\":\"%s\",\"screen\":\"send_money.confirm\",\"event\":\"input\","
			 "\"outcome\":\"continue\",\"actor\":\"subscriber\",\"elapsed_us\":900,\"vars\":"
			 "{\"choice\":\"%s\",\"amount\":{\"sealed\":\"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij\","
			 "\"key\":\"0123456789abcdef\"},\"lang\":\"sw\"}}",
			 sid, tok, choice);
		snprintf(seq, sizeof(seq), "%ld", i + 1);
		audit_chain_hash(chain, (uint64_t)i + 1, gw_now_us(), prev, body, strlen(body), h);
		const char *vals[7] = {chain, seq, body, (const char *)prev, (const char *)h, sid, tok};
		int lens[7] = {0, 0, 0, 32, 32, 0, 0};
		int fmts[7] = {0, 0, 0, 1, 1, 0, 0};
		r = PQexecPrepared(c, "one", 7, vals, lens, fmts, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "insert: %s", PQerrorMessage(c));
			exit(1);
		}
		PQclear(r);
		memcpy(prev, h, 32);
	}
	return (double)m / (now_s() - t0);
}

int main(int argc, char **argv)
{
	long n = 200000, m = 3000, window = 20000;
	unsigned batch = 2000;
	static const struct option opts[] = {{"records", required_argument, NULL, 'n'},
					     {"per-commit", required_argument, NULL, 'm'},
					     {"window", required_argument, NULL, 'w'},
					     {"batch", required_argument, NULL, 'b'},
					     {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': n = atol(optarg); break;
		case 'm': m = atol(optarg); break;
		case 'w': window = atol(optarg); break;
		case 'b': batch = (unsigned)atoi(optarg); break;
		default: fprintf(stderr, "usage: audit_bench [--records N] [--per-commit M] [--window W] [--batch B]\n"); return 2;
		}
	}
	const char *dsn = getenv("USSDGW_PG_DSN");
	if (!dsn) {
		fprintf(stderr, "audit_bench: set USSDGW_PG_DSN (tools/devstack env)\n");
		return 2;
	}
	log_set_all_levels(LOG_ERROR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gw-auditbench-XXXXXX");
	char keydir[128], j1[128], j2[128];
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(keydir, sizeof(keydir), "%s/keys", tmpdir);
	snprintf(j1, sizeof(j1), "%s/j-live", tmpdir);
	snprintf(j2, sizeof(j2), "%s/j-drain", tmpdir);
	if (crypto_create_keydir(keydir) || crypto_open(keydir, &kr))
		return 1;
	loop = ev_loop_new(EVFLAG_AUTO);
	PGconn *c = PQconnectdb(dsn);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "%s", PQerrorMessage(c));
		return 1;
	}
	char run[32], ch_live[64], ch_drain[64], ch_one[64];
	snprintf(run, sizeof(run), "%lx", (long)time(NULL));
	snprintf(ch_live, sizeof(ch_live), "bench-%s-live", run);
	snprintf(ch_drain, sizeof(ch_drain), "bench-%s-drain", run);
	snprintf(ch_one, sizeof(ch_one), "bench-%s-single", run);
	double la[3] = {0};
	if (getloadavg(la, 3) < 0)
		la[0] = -1;
	printf("machine: %ld cores, load average %.2f at start\n", sysconf(_SC_NPROCESSORS_ONLN), la[0]);
	printf("postgres %s: fsync=%s synchronous_commit=%s wal_sync_method=%s full_page_writes=%s\n",
	       show(c, "server_version"), show(c, "fsync"), show(c, "synchronous_commit"),
	       show(c, "wal_sync_method"), show(c, "full_page_writes"));

	/* live: journal and shipper together */
	open_audit(ch_live, j1, dsn, batch);
	double t0 = now_s();
	append_many(n, window);
	double t_journal = now_s() - t0;
	if (audit_wait_shipped(600000)) {
		fprintf(stderr, "live: not shipped in time\n");
		return 1;
	}
	double t_live = now_s() - t0;
	struct audit_stats st;
	audit_get_stats(&st);
	double frame = (double)st.journal_bytes / (double)n;
	audit_close();

	/* drain: a backlog built while PostgreSQL is not there */
	open_audit(ch_drain, j2, NULL, batch);
	t0 = now_s();
	append_many(n, window);
	double t_jonly = now_s() - t0;
	audit_close();
	open_audit(ch_drain, j2, dsn, batch);
	t0 = now_s();
	if (audit_wait_shipped(600000)) {
		fprintf(stderr, "drain: not shipped in time\n");
		return 1;
	}
	double t_drain = now_s() - t0;
	audit_close();

	double single = single_commits(c, ch_one, m);

	char q[256];
	snprintf(q, sizeof(q), "SELECT avg(length(body)), avg(pg_column_size(a.*)), count(*) FROM audit a "
			       "WHERE chain = '%s'", ch_live);
	PGresult *r = PQexec(c, q);
	printf("record: mean body %.0f B, mean table row %.0f B, journal %.0f B/record "
	       "(%s rows of chain %s)\n",
	       atof(PQgetvalue(r, 0, 0)), atof(PQgetvalue(r, 0, 1)), frame, PQgetvalue(r, 0, 2), ch_live);
	PQclear(r);
	(void)body_bytes;
	printf("journal -> PostgreSQL, live:   %8.0f records/s committed (%ld records, batch %u; "
	       "journal durable at %.0f records/s)\n",
	       (double)n / t_live, n, batch, (double)n / t_journal);
	printf("journal -> PostgreSQL, backlog: %8.0f records/s committed (%ld records drained)\n",
	       (double)n / t_drain, n);
	printf("journal alone (no shipper):    %8.0f records/s durable (group fdatasync)\n",
	       (double)n / t_jonly);
	printf("a commit per record:           %8.0f records/s (%ld records, one INSERT + COMMIT each)\n",
	       single, m);
	printf("failed appends: %ld\n", failures);
	PQfinish(c);
	crypto_close(kr);
	ev_loop_destroy(loop);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 && failures == 0 ? 0 : 1;
}
