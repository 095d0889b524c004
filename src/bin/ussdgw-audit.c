/* ussdgw-audit: verify the audit trail, rebuild a session's timeline, keep
 * the month partitions ahead. A tool: blocking libpq is fine here. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "ussdgw/audit_chain.h"
#include "ussdgw/audit_verify.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ussdgw-audit verify [--chain C] [--from T] [--to T] [--export FILE]\n"
		"                           [--keys DIR | --pubkey HEX] [--json] [--dsn DSN]\n"
		"       ussdgw-audit show (--session ID | --payment ID) [--json] [--dsn DSN]\n"
		"       ussdgw-audit partitions [--ahead N] [--dsn OWNER_DSN]\n"
		"       ussdgw-audit pubkey --keys DIR\n"
		"\n"
		"  verify      recompute every hash, follow the chain, check signed heads (audit_checkpoint\n"
		"              and the export file); name the first record changed, removed or inserted\n"
		"              and dropped partitions. Exit 0 clean, 1 findings, 2 error.\n"
		"  show        a session's timeline: screens, masked inputs, actions, outcome\n"
		"  partitions  (owner) create month partitions N months ahead (default 2), report\n"
		"              rows in the default partition (exit 1 if any)\n"
		"  pubkey      print the checkpoint signing key's public half (hex) for auditors\n"
		"  T is RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or Unix seconds.\n"
		"  DSN defaults to $USSDGW_AUDIT_DSN, then $USSDGW_PG_DSN (partitions: $USSDGW_PG_OWNER_DSN).\n");
}

static int parse_time(const char *s, int64_t *us)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (end && (*end == 0 || strcmp(end, "Z") == 0)) {
		*us = (int64_t)timegm(&tm) * 1000000;
		return 0;
	}
	char *e;
	long long v = strtoll(s, &e, 10);
	if (*s && !*e) {
		*us = (int64_t)v * 1000000;
		return 0;
	}
	return GW_EINVAL;
}

static PGconn *connect_db(const char *dsn)
{
	if (!dsn || !*dsn) {
		fprintf(stderr, "ussdgw-audit: no database: give --dsn or set USSDGW_PG_DSN\n");
		return NULL;
	}
	PGconn *c = PQconnectdb(dsn);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "ussdgw-audit: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int load_pubkey(const char *keys, const char *hex, uint8_t pub[32])
{
	if (hex)
		return audit_unhex(hex, pub, 32);
	struct crypto_keyring *kr;
	int rc = crypto_open(keys, &kr);
	if (rc)
		return rc;
	rc = crypto_sign_public(kr, pub);
	crypto_close(kr);
	return rc;
}

static int cmd_verify(PGconn *c, const struct audit_verify_opts *o, bool json)
{
	struct audit_verify_report rep;
	int rc = audit_verify(c, o, &rep);
	if (rc) {
		fprintf(stderr, "ussdgw-audit verify: %s%s", gw_strerror(rc),
			rc == GW_EDEPENDENCY ? ": " : "\n");
		if (rc == GW_EDEPENDENCY)
			fprintf(stderr, "%s", PQerrorMessage(c));
		return 2;
	}
	if (json) {
		json_t *f = json_array();
		for (size_t i = 0; i < rep.nf; i++)
			json_array_append_new(f, json_pack("{s:s, s:s, s:I, s:I, s:s}", "kind",
							   audit_finding_name(rep.f[i].kind), "chain",
							   rep.f[i].chain, "seq", (json_int_t)rep.f[i].seq,
							   "seq_to", (json_int_t)rep.f[i].seq_to, "detail",
							   rep.f[i].detail));
		json_t *o2 = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o}", "result",
				       rep.nf ? "tampered" : "ok", "chains", (json_int_t)rep.chains,
				       "records", (json_int_t)rep.records, "checkpoints",
				       (json_int_t)rep.checkpoints, "exported_heads",
				       (json_int_t)rep.exported_heads, "retention_ranges",
				       (json_int_t)rep.retention_ranges, "unsigned_tail",
				       (json_int_t)rep.unsigned_tail, "signatures_checked",
				       rep.signatures_checked, "findings", f);
		char *s = json_dumps(o2, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(o2);
	} else {
		for (size_t i = 0; i < rep.nf; i++)
			printf("%s: chain %s: %s\n", audit_finding_name(rep.f[i].kind), rep.f[i].chain,
			       rep.f[i].detail);
		printf("%s: %" PRIu64 " chains, %" PRIu64 " records, %" PRIu64 " checkpoints, %" PRIu64
		       " exported heads, %" PRIu64 " retention ranges, %" PRIu64
		       " records after the last signed head%s\n",
		       rep.nf ? "TAMPERED" : "OK", rep.chains, rep.records, rep.checkpoints,
		       rep.exported_heads, rep.retention_ranges, rep.unsigned_tail,
		       rep.signatures_checked ? "" : " (signatures NOT checked: give --keys or --pubkey)");
	}
	int code = rep.nf ? 1 : 0;
	audit_verify_report_free(&rep);
	return code;
}

/* One step's variables with sealed values masked. */
static json_t *masked_vars(json_t *vars)
{
	json_t *out = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(vars, k, v)
	{
		if (json_is_string(v))
			json_object_set(out, k, v);
		else
			json_object_set_new(out, k, json_string("****"));
	}
	return out;
}

static int cmd_show(PGconn *c, const char *session, const char *payment, bool json)
{
	const char *v[1] = {session ? session : payment};
	PGresult *r = PQexecParams(
		c,
		session ? "SELECT chain, seq, to_char(occurred AT TIME ZONE 'UTC', "
			  "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), body FROM audit WHERE session_id = $1 "
			  "ORDER BY occurred, chain, seq"
			: "SELECT chain, seq, to_char(occurred AT TIME ZONE 'UTC', "
			  "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), body FROM audit WHERE payment_id = $1 "
			  "ORDER BY occurred, chain, seq",
		1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "ussdgw-audit show: %s", PQerrorMessage(c));
		PQclear(r);
		return 2;
	}
	int n = PQntuples(r);
	json_t *steps = json_array();
	const char *outcome = NULL;
	for (int i = 0; i < n; i++) {
		json_error_t e;
		json_t *b = json_loads(PQgetvalue(r, i, 3), 0, &e);
		if (!b)
			continue;
		json_t *st = json_pack("{s:s, s:s, s:I}", "time", PQgetvalue(r, i, 2), "chain",
				       PQgetvalue(r, i, 0), "seq",
				       (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10));
		static const char *const keys[] = {"kind",    "screen", "event",   "outcome", "actor",
						   "payment", "link",   "msisdn", "elapsed_us"};
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			json_t *x = json_object_get(b, keys[k]);
			if (x)
				json_object_set(st, keys[k], x);
		}
		json_object_set_new(st, "vars", masked_vars(json_object_get(b, "vars")));
		if (json_object_get(b, "outcome"))
			outcome = json_string_value(json_object_get(b, "outcome"));
		json_array_append_new(steps, st);
		json_decref(b);
	}
	int code = n ? 0 : 1;
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:o, s:s?}", session ? "session" : "payment", v[0],
				      "scope", session ? "session" : "payment", "steps", steps,
				      "outcome", outcome);
		char *s = json_dumps(o, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		printf("%s %s: %d records\n", session ? "session" : "payment", v[0], n);
		size_t i;
		json_t *st;
		json_array_foreach(steps, i, st)
		{
			printf("%s  %-14s", json_string_value(json_object_get(st, "time")),
			       json_string_value(json_object_get(st, "kind")));
			static const char *const keys[] = {"screen", "event", "actor", "outcome"};
			for (size_t k = 0; k < 4; k++) {
				const char *x = json_string_value(json_object_get(st, keys[k]));
				if (x)
					printf(" %s=%s", keys[k], x);
			}
			const char *vk;
			json_t *vv;
			json_object_foreach(json_object_get(st, "vars"), vk, vv)
				printf(" %s=%s", vk, json_string_value(vv));
			json_t *el = json_object_get(st, "elapsed_us");
			if (el)
				printf(" (%.1f ms)", (double)json_integer_value(el) / 1000.0);
			printf("  [%s#%" JSON_INTEGER_FORMAT "]\n",
			       json_string_value(json_object_get(st, "chain")),
			       json_integer_value(json_object_get(st, "seq")));
		}
		printf("outcome: %s\n", outcome ? outcome : "(none recorded)");
		json_decref(steps);
	}
	PQclear(r);
	return code;
}

static int cmd_partitions(PGconn *c, int ahead)
{
	char a[16];
	snprintf(a, sizeof(a), "%d", ahead);
	const char *v[1] = {a};
	PGresult *r = PQexecParams(c, "SELECT audit_ensure_partitions($1::int)", 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "ussdgw-audit partitions: %s", PQerrorMessage(c));
		PQclear(r);
		return 2;
	}
	printf("created %s partitions\n", PQgetvalue(r, 0, 0));
	PQclear(r);
	r = PQexec(c, "SELECT (SELECT count(*) FROM audit_default), (SELECT string_agg(c.relname, ' ' "
		      "ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
		      "WHERE i.inhparent = 'audit'::regclass)");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return 2;
	}
	printf("partitions: %s\n", PQgetvalue(r, 0, 1));
	int code = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	if (code)
		printf("ALARM: %s rows in audit_default (their months have no partition)\n",
		       PQgetvalue(r, 0, 0));
	PQclear(r);
	return code;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	static const struct option opts[] = {
		{"chain", required_argument, NULL, 'c'}, {"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},    {"export", required_argument, NULL, 'e'},
		{"keys", required_argument, NULL, 'k'},  {"pubkey", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},        {"dsn", required_argument, NULL, 'd'},
		{"session", required_argument, NULL, 's'}, {"payment", required_argument, NULL, 'P'},
		{"ahead", required_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct audit_verify_opts vo = {0};
	const char *keys = NULL, *pubhex = NULL, *dsn = NULL, *session = NULL, *payment = NULL;
	bool json = false;
	int ahead = 2, ch;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': vo.chain = optarg; break;
		case 'f':
		case 't':
			if (parse_time(optarg, ch == 'f' ? &vo.from_us : &vo.to_us)) {
				fprintf(stderr, "ussdgw-audit: bad time %s\n", optarg);
				return 2;
			}
			break;
		case 'e': vo.export_file = optarg; break;
		case 'k': keys = optarg; break;
		case 'p': pubhex = optarg; break;
		case 'j': json = true; break;
		case 'd': dsn = optarg; break;
		case 's': session = optarg; break;
		case 'P': payment = optarg; break;
		case 'a': ahead = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (strcmp(cmd, "pubkey") == 0) {
		uint8_t pub[32];
		char hx[65];
		if (!keys || load_pubkey(keys, NULL, pub)) {
			fprintf(stderr, "ussdgw-audit pubkey: give a readable --keys DIR\n");
			return 2;
		}
		audit_hex(pub, 32, hx);
		printf("%s\n", hx);
		return 0;
	}
	if (!dsn)
		dsn = getenv(strcmp(cmd, "partitions") == 0 ? "USSDGW_PG_OWNER_DSN" : "USSDGW_AUDIT_DSN");
	if (!dsn)
		dsn = getenv("USSDGW_PG_DSN");
	int code;
	if (strcmp(cmd, "verify") == 0) {
		uint8_t pub[32];
		if (keys || pubhex) {
			if (load_pubkey(keys, pubhex, pub)) {
				fprintf(stderr, "ussdgw-audit verify: cannot load the public key\n");
				return 2;
			}
			vo.pubkey = pub;
		}
		PGconn *c = connect_db(dsn);
		if (!c)
			return 2;
		code = cmd_verify(c, &vo, json);
		PQfinish(c);
	} else if (strcmp(cmd, "show") == 0) {
		if (!session == !payment) {
			usage(stderr);
			return 2;
		}
		PGconn *c = connect_db(dsn);
		if (!c)
			return 2;
		code = cmd_show(c, session, payment, json);
		PQfinish(c);
	} else if (strcmp(cmd, "partitions") == 0) {
		PGconn *c = connect_db(dsn);
		if (!c)
			return 2;
		code = cmd_partitions(c, ahead);
		PQfinish(c);
	} else {
		usage(stderr);
		code = 2;
	}
	return code;
}
