/* Journal entry wire forms, the chain hash (against vectors computed
 * independently with Python's hashlib), export lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ussdgw/audit_chain.h"
#include "ussdgw/gw_error.h"

static const char body[] = "{\"kind\":\"session_step\"}";

static void test_hash_vectors(void **state)
{
	uint8_t zero[32] = {0}, h1[32], h2[32];
	char hx[65];
	audit_chain_hash("node1", 1, 1700000000000000LL, zero, body, strlen(body), h1);
	audit_hex(h1, 32, hx);
	assert_string_equal(hx, "33965256462b53f8c8f00d8cee6c2f2aeaa11408bf5dcb3c413bc5c07b4bbc0f");
	audit_chain_hash("node1", 2, 1700000000000001LL, h1, body, strlen(body), h2);
	audit_hex(h2, 32, hx);
	assert_string_equal(hx, "17939ff92c5179040d6ed62b199343f53a4366e9e3309fb0ad09eeffac5d6979");
	/* Every input matters. */
	uint8_t h[32];
	audit_chain_hash("node2", 1, 1700000000000000LL, zero, body, strlen(body), h);
	assert_memory_not_equal(h, h1, 32);
	audit_chain_hash("node1", 1, 1700000000000001LL, zero, body, strlen(body), h);
	assert_memory_not_equal(h, h1, 32);
	audit_chain_hash("node1", 1, 1700000000000000LL, h2, body, strlen(body), h);
	assert_memory_not_equal(h, h1, 32);
	audit_chain_hash("node1", 1, 1700000000000000LL, zero, body, strlen(body) - 1, h);
	assert_memory_not_equal(h, h1, 32);
}

static void roundtrip(const struct audit_entry *e)
{
	uint8_t buf[1024];
	long n = audit_entry_encode(e, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, audit_entry_size(e));
	struct audit_entry d;
	assert_int_equal(audit_entry_decode(buf, (size_t)n, &d), 0);
	assert_int_equal(d.type, e->type);
	assert_string_equal(d.chain, e->chain);
	assert_int_equal(d.seq, e->seq);
	assert_memory_equal(d.hash, e->hash, 32);
	if (e->type == AUDIT_ENT_RECORD) {
		assert_int_equal(d.occurred_us, e->occurred_us);
		assert_memory_equal(d.prev, e->prev, 32);
		assert_int_equal(d.body_len, e->body_len);
		assert_memory_equal(d.body, e->body, e->body_len);
		for (int i = 0; i < AUDIT_IDX_COUNT; i++) {
			assert_int_equal(d.idx_len[i], e->idx_len[i]);
			assert_memory_equal(d.idx[i] ? d.idx[i] : "", e->idx[i] ? e->idx[i] : "",
					    e->idx_len[i]);
		}
	}
	if (e->type == AUDIT_ENT_KEY) {
		assert_string_equal(d.token, e->token);
		assert_string_equal(d.key_id, e->key_id);
		assert_memory_equal(d.wrapped, e->wrapped, AUDIT_WRAPPED_LEN);
		assert_int_equal(d.created_us, e->created_us);
	}
	if (e->type == AUDIT_ENT_CHECKPOINT) {
		assert_int_equal(d.signed_at_us, e->signed_at_us);
		assert_memory_equal(d.sig, e->sig, 64);
	}
	/* Every truncation and one extra byte are refused. */
	for (long k = 0; k < n; k++)
		assert_int_equal(audit_entry_decode(buf, (size_t)k, &d), GW_EPROTO_MALFORMED);
	buf[n] = 0;
	assert_int_equal(audit_entry_decode(buf, (size_t)n + 1, &d), GW_EPROTO_MALFORMED);
}

static void test_entries_roundtrip(void **state)
{
	struct audit_entry e = {.type = AUDIT_ENT_RECORD, .chain = "node-a", .seq = 42,
				.occurred_us = -5, .body = (const uint8_t *)body,
				.body_len = strlen(body),
				.idx = {"session_step", "s-1", NULL, "abc"},
				.idx_len = {12, 3, 0, 3}};
	memset(e.prev, 1, 32);
	memset(e.hash, 2, 32);
	roundtrip(&e);
	struct audit_entry k = {.type = AUDIT_ENT_KEY, .token = "0123456789abcdef0123456789abcdef",
				.key_id = "fedcba9876543210", .created_us = 77};
	memset(k.wrapped, 9, sizeof(k.wrapped));
	roundtrip(&k);
	struct audit_entry c = {.type = AUDIT_ENT_CHECKPOINT, .chain = "n", .seq = UINT64_MAX,
				.signed_at_us = 1234567};
	memset(c.hash, 3, 32);
	memset(c.sig, 4, 64);
	roundtrip(&c);
	struct audit_entry h = {.type = AUDIT_ENT_HEAD, .chain = "n", .seq = 9};
	roundtrip(&h);
	uint8_t junk[3] = {99, 0, 0};
	struct audit_entry d;
	assert_int_equal(audit_entry_decode(junk, 3, &d), GW_EPROTO_MALFORMED);
	char longc[80];
	memset(longc, 'c', sizeof(longc));
	longc[79] = 0;
	struct audit_entry bad = {.type = AUDIT_ENT_HEAD};
	memcpy(bad.chain, longc, AUDIT_CHAIN_MAX);
	uint8_t buf[256];
	assert_true(audit_entry_encode(&bad, buf, sizeof(buf)) > 0);
	assert_int_equal(audit_entry_encode(&bad, buf, 10), GW_EMSGSIZE);
}

static void test_head_lines(void **state)
{
	struct audit_entry c = {.type = AUDIT_ENT_CHECKPOINT, .chain = "node1", .seq = 1000,
				.signed_at_us = 1700000000123456LL};
	for (int i = 0; i < 32; i++)
		c.hash[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		c.sig[i] = (uint8_t)(255 - i);
	char line[512];
	size_t n = audit_head_line(&c, line, sizeof(line));
	assert_true(n > 0 && line[n - 1] == '\n');
	assert_int_equal(strncmp(line, "v1 node1 1000 000102", 20), 0);
	struct audit_entry p;
	assert_int_equal(audit_head_parse(line, &p), 0);
	assert_string_equal(p.chain, "node1");
	assert_int_equal(p.seq, 1000);
	assert_int_equal(p.signed_at_us, c.signed_at_us);
	assert_memory_equal(p.hash, c.hash, 32);
	assert_memory_equal(p.sig, c.sig, 64);
	line[30] = 'z'; /* not hex */
	assert_int_equal(audit_head_parse(line, &p), GW_EPROTO_MALFORMED);
	assert_int_equal(audit_head_parse("v1 node1 12", &p), GW_EPROTO_MALFORMED);

	char m1[256], m2[256];
	assert_true(audit_checkpoint_msg("node1", 5, c.hash, 1, m1, sizeof(m1)) > 0);
	assert_true(audit_checkpoint_msg("node1", 6, c.hash, 1, m2, sizeof(m2)) > 0);
	assert_string_not_equal(m1, m2);
	assert_int_equal(audit_checkpoint_msg("node1", 5, c.hash, 1, m1, 10), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_entries_roundtrip),
		cmocka_unit_test(test_head_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
