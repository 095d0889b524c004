/* audit_append end to end without PostgreSQL: callbacks exactly once and never
 * re-entrant, the chain continues across restarts, MSISDNs and sensitive values
 * never reach the journal in clear, sealed values open with the data key the
 * journal carries, signed heads in the export file, injected failures, a full
 * journal alarmed through the readiness part. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "ussdgw/audit.h"
#include "ussdgw/audit_chain.h"
#include "ussdgw/audit_journal.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

struct fx {
	char dir[64];
	char jdir[128], keydir[128], export[128];
	struct crypto_keyring *kr;
	struct ev_loop *loop;
};

struct cbrec {
	int calls;
	int rc;
};

static int in_append;
static int reentrant;

static void on_durable(void *cls, int rc)
{
	struct cbrec *c = cls;
	if (in_append)
		reentrant++;
	c->calls++;
	c->rc = rc;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/gw-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
	snprintf(f->keydir, sizeof(f->keydir), "%s/keys", f->dir);
	snprintf(f->export, sizeof(f->export), "%s/heads.log", f->dir);
	assert_int_equal(crypto_create_keydir(f->keydir), 0);
	assert_int_equal(crypto_open(f->keydir, &f->kr), 0);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	log_set_all_levels(LOG_ERROR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	audit_close();
	crypto_close(f->kr);
	ev_loop_destroy(f->loop);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	health_reset();
	metrics_reset();
	free(f);
	return 0;
}

static void open_audit(struct fx *f, uint64_t max_bytes)
{
	struct audit_opts o = {.chain_id = "test-node", .journal_dir = f->jdir,
			       .segment_bytes = 1 << 20, .max_bytes = max_bytes,
			       .export_file = f->export, .keys = f->kr};
	assert_int_equal(audit_open(f->loop, &o), 0);
}

static void wait_calls(struct fx *f, struct cbrec *c, int n)
{
	for (;;) {
		int done = 0;
		for (int i = 0; i < n; i++)
			done += c[i].calls > 0;
		if (done == n)
			break;
		ev_run(f->loop, EVRUN_ONCE);
	}
}

static int append_step(int i, struct cbrec *c)
{
	char sid[32], choice[8];
	snprintf(sid, sizeof(sid), "sess-%d", i % 3);
	snprintf(choice, sizeof(choice), "%d", i % 5);
	struct audit_var vars[] = {
		{.name = "choice", .value = choice},
		{.name = "pin", .value = "4711", .sensitive = true},
	};
	struct audit_record r = {.kind = AUDIT_SESSION_STEP, .session_id = sid,
				 .msisdn = "254700123456", .screen_id = "main", .event = "input",
				 .actor = "subscriber", .vars = vars, .n_vars = 2, .link = "mno1/0"};
	in_append = 1;
	int rc = audit_append(&r, on_durable, c);
	in_append = 0;
	return rc;
}

/* Read every journal entry in order. */
static int read_journal(const char *jdir, struct audit_entry *out, uint8_t **bodies, int max)
{
	struct audit_jreader *r;
	assert_int_equal(audit_jreader_open(jdir, (struct audit_jpos){1, 0}, &r), 0);
	const uint8_t *p;
	size_t len;
	int n = 0;
	while (n < max && audit_jreader_next(r, (struct audit_jpos){UINT64_MAX, 0}, &p, &len, NULL,
					     NULL) == 1) {
		assert_int_equal(audit_entry_decode(p, len, &out[n]), 0);
		if (out[n].type == AUDIT_ENT_RECORD) {
			bodies[n] = malloc(out[n].body_len + 1);
			memcpy(bodies[n], out[n].body, out[n].body_len);
			bodies[n][out[n].body_len] = 0;
			out[n].body = bodies[n];
		} else {
			bodies[n] = NULL;
		}
		n++;
	}
	/* The reader stops at a missing segment or the end of the last one. */
	audit_jreader_close(r);
	return n;
}

static void check_chain(struct audit_entry *e, int n, uint64_t *last_seq)
{
	uint8_t prev[32] = {0};
	uint64_t seq = 0;
	for (int i = 0; i < n; i++) {
		if (e[i].type != AUDIT_ENT_RECORD)
			continue;
		assert_int_equal(e[i].seq, seq + 1);
		assert_memory_equal(e[i].prev, prev, 32);
		uint8_t h[32];
		audit_chain_hash(e[i].chain, e[i].seq, e[i].occurred_us, e[i].prev, e[i].body,
				 e[i].body_len, h);
		assert_memory_equal(h, e[i].hash, 32);
		memcpy(prev, h, 32);
		seq = e[i].seq;
	}
	*last_seq = seq;
}

static bool file_contains(const char *dir, const char *needle)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "grep -rqa '%s' '%s'", needle, dir);
	return system(cmd) == 0;
}

static void test_append_durable_chain_restart(void **state)
{
	struct fx *f = *state;
	open_audit(f, 0);
	struct cbrec c[50] = {0};
	for (int i = 0; i < 50; i++)
		assert_int_equal(append_step(i, &c[i]), 0);
	/* Nothing fires inside audit_append; everything fires once, later. */
	for (int i = 0; i < 50; i++)
		assert_int_equal(c[i].calls, 0);
	wait_calls(f, c, 50);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(c[i].calls, 1);
		assert_int_equal(c[i].rc, 0);
	}
	assert_int_equal(reentrant, 0);
	struct audit_stats st;
	audit_get_stats(&st);
	assert_int_equal(st.journaled, 50);
	assert_int_equal(st.head_seq, 50);
	audit_close();
	/* Run the loop a little more: no callback fires twice. */
	ev_run(f->loop, EVRUN_NOWAIT);
	for (int i = 0; i < 50; i++)
		assert_int_equal(c[i].calls, 1);

	/* Restart: the chain continues from the journal. */
	open_audit(f, 0);
	struct cbrec c2[10] = {0};
	for (int i = 0; i < 10; i++)
		assert_int_equal(append_step(100 + i, &c2[i]), 0);
	wait_calls(f, c2, 10);
	audit_get_stats(&st);
	assert_int_equal(st.head_seq, 60);
	audit_close();

	static struct audit_entry e[256];
	static uint8_t *bodies[256];
	int n = read_journal(f->jdir, e, bodies, 256);
	uint64_t last;
	check_chain(e, n, &last);
	assert_int_equal(last, 60);
	/* No MSISDN, no PIN in clear anywhere in the journal; the choice is in clear. */
	assert_false(file_contains(f->jdir, "254700123456"));
	assert_false(file_contains(f->jdir, "4711"));
	assert_true(file_contains(f->jdir, "\"choice\":\"3\""));

	/* The PIN opens with the data key the journal carries (KEY entry before first use). */
	const struct audit_entry *key = NULL;
	int opened = 0;
	for (int i = 0; i < n; i++) {
		if (e[i].type == AUDIT_ENT_KEY && !key)
			key = &e[i];
		if (e[i].type != AUDIT_ENT_RECORD)
			continue;
		assert_non_null(key); /* the key entry came first */
		json_error_t jerr;
		json_t *b = json_loads((const char *)e[i].body, 0, &jerr);
		assert_non_null(b);
		assert_string_equal(json_string_value(json_object_get(b, "kind")), "session_step");
		const char *tok = json_string_value(json_object_get(b, "msisdn"));
		assert_non_null(tok);
		assert_int_equal(strlen(tok), 32);
		char want_tok[CRYPTO_TOKEN_HEX + 1];
		assert_int_equal(crypto_msisdn_token(f->kr, "254700123456", want_tok), 0);
		assert_string_equal(tok, want_tok);
		json_t *pin = json_object_get(json_object_get(b, "vars"), "pin");
		const char *b64 = json_string_value(json_object_get(pin, "sealed"));
		const char *kid = json_string_value(json_object_get(pin, "key"));
		assert_non_null(b64);
		/* Find the KEY entry with this id (one per process start here). */
		const struct audit_entry *k = NULL;
		for (int m = 0; m < n; m++)
			if (e[m].type == AUDIT_ENT_KEY && strcmp(e[m].key_id, kid) == 0)
				k = &e[m];
		assert_non_null(k);
		assert_string_equal(k->token, tok);
		uint8_t ct[256], pt[256];
		int cl = EVP_DecodeBlock(ct, (const unsigned char *)b64, (int)strlen(b64));
		assert_true(cl > 0);
		size_t blen = strlen(b64);
		cl -= (blen > 0 && b64[blen - 1] == '=') + (blen > 1 && b64[blen - 2] == '=');
		char aad[128];
		snprintf(aad, sizeof(aad), "ussdgw-audit|%s|pin", tok);
		size_t pl = 0;
		assert_int_equal(crypto_open_sealed(f->kr, k->wrapped, aad, strlen(aad), ct, (size_t)cl,
						    pt, &pl),
				 0);
		assert_int_equal(pl, 4);
		assert_memory_equal(pt, "4711", 4);
		opened++;
		json_decref(b);
	}
	assert_int_equal(opened, 60);
	for (int i = 0; i < n; i++)
		free(bodies[i]);
}

static void test_checkpoint_export_signed(void **state)
{
	struct fx *f = *state;
	open_audit(f, 0);
	struct cbrec c[5] = {0};
	for (int i = 0; i < 5; i++)
		assert_int_equal(append_step(i, &c[i]), 0);
	wait_calls(f, c, 5);
	audit_checkpoint_now();
	/* A checkpoint goes through the writer like a record; a record behind it shows it passed. */
	struct cbrec c2 = {0};
	assert_int_equal(append_step(9, &c2), 0);
	wait_calls(f, &c2, 1);
	struct audit_stats st;
	audit_get_stats(&st);
	assert_int_equal(st.checkpoints, 1);
	audit_close(); /* writes a final checkpoint at seq 6 */

	FILE *fp = fopen(f->export, "r");
	assert_non_null(fp);
	char line[512];
	uint8_t pub[32];
	assert_int_equal(crypto_sign_public(f->kr, pub), 0);
	uint64_t seqs[4];
	int nl = 0;
	while (fgets(line, sizeof(line), fp) && nl < 4) {
		struct audit_entry cp;
		assert_int_equal(audit_head_parse(line, &cp), 0);
		assert_string_equal(cp.chain, "test-node");
		char msg[256];
		size_t ml = audit_checkpoint_msg(cp.chain, cp.seq, cp.hash, cp.signed_at_us, msg, sizeof(msg));
		assert_int_equal(crypto_verify(pub, msg, ml, cp.sig), 0);
		cp.hash[0] ^= 1; /* a changed head does not verify */
		ml = audit_checkpoint_msg(cp.chain, cp.seq, cp.hash, cp.signed_at_us, msg, sizeof(msg));
		assert_int_equal(crypto_verify(pub, msg, ml, cp.sig), GW_ECRYPTO);
		seqs[nl++] = cp.seq;
	}
	fclose(fp);
	assert_int_equal(nl, 2);
	assert_int_equal(seqs[0], 5);
	assert_int_equal(seqs[1], 6);
	/* The same heads are in the journal (so they reach PostgreSQL). */
	static struct audit_entry e[64];
	static uint8_t *bodies[64];
	int n = read_journal(f->jdir, e, bodies, 64);
	int cps = 0;
	for (int i = 0; i < n; i++) {
		cps += e[i].type == AUDIT_ENT_CHECKPOINT;
		free(bodies[i]);
	}
	assert_int_equal(cps, 2);
}

static void test_fail_injection_and_bad_records(void **state)
{
	struct fx *f = *state;
	setenv("USSDGW_AUDIT_FAIL_NEXT", "1", 1);
	open_audit(f, 0);
	unsetenv("USSDGW_AUDIT_FAIL_NEXT");
	struct cbrec c[4] = {0};
	assert_int_equal(append_step(0, &c[0]), 0);
	audit_set_fail_next(2);
	assert_int_equal(append_step(1, &c[1]), 0);
	assert_int_equal(append_step(2, &c[2]), 0);
	assert_int_equal(append_step(3, &c[3]), 0);
	wait_calls(f, c, 4);
	assert_int_equal(c[0].rc, GW_EAUDIT); /* from the environment */
	assert_int_equal(c[1].rc, GW_EAUDIT);
	assert_int_equal(c[2].rc, GW_EAUDIT);
	assert_int_equal(c[3].rc, 0);
	struct audit_stats st;
	audit_get_stats(&st);
	assert_int_equal(st.failed, 3);
	assert_int_equal(st.head_seq, 1); /* failed appends take no sequence number */

	/* Refused records: no callback at all. */
	struct cbrec bad = {0};
	struct audit_var v = {.name = "bad name", .value = "x"};
	struct audit_record r = {.kind = AUDIT_API_CALL, .vars = &v, .n_vars = 1};
	assert_int_equal(audit_append(&r, on_durable, &bad), GW_EINVAL);
	struct audit_record r2 = {.kind = AUDIT_KIND_COUNT};
	assert_int_equal(audit_append(&r2, on_durable, &bad), GW_EINVAL);
	struct audit_record r3 = {.kind = AUDIT_SMS_MO, .msisdn = "not-a-number"};
	assert_int_equal(audit_append(&r3, on_durable, &bad), GW_EINVAL);
	ev_run(f->loop, EVRUN_NOWAIT);
	assert_int_equal(bad.calls, 0);
	audit_close();
	struct audit_record ok = {.kind = AUDIT_ADMIN_CALL};
	assert_int_equal(audit_append(&ok, on_durable, &bad), GW_ESHUTDOWN);
	assert_int_equal(audit_kind_parse("consent_change", &r.kind), 0);
	assert_int_equal(r.kind, AUDIT_CONSENT_CHANGE);
	assert_string_equal(audit_kind_name(AUDIT_BIND_EVENT), "bind_event");
}

static void test_full_journal_alarmed(void **state)
{
	struct fx *f = *state;
	/* 64 KiB cap, no shipper: the journal fills, appends fail, the required part goes down. */
	open_audit(f, 64 * 1024);
	char *json = NULL;
	assert_int_equal(health_check(&json), HEALTH_DEGRADED); /* shipper down, journal up */
	free(json);
	static struct cbrec c[400];
	for (int i = 0; i < 400; i++)
		assert_int_equal(append_step(i, &c[i]), 0);
	wait_calls(f, c, 400);
	int ok = 0, full = 0;
	for (int i = 0; i < 400; i++) {
		ok += c[i].rc == 0;
		full += c[i].rc == GW_ENOSPC;
	}
	assert_true(ok > 50);
	assert_int_equal(ok + full, 400);
	assert_true(full > 0);
	assert_int_equal(health_check(&json), HEALTH_NOT_READY);
	assert_non_null(strstr(json, "journal full"));
	free(json);
	struct audit_stats st;
	audit_get_stats(&st);
	assert_int_equal(st.head_seq, (uint64_t)ok);
	assert_false(st.journal_ok);
	/* Metrics carry the counts. */
	size_t len;
	char *m = metrics_render(&len);
	assert_non_null(strstr(m, "ussdgw_audit_records_failed_total"));
	free(m);
	audit_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_durable_chain_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_export_signed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_injection_and_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_journal_alarmed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
