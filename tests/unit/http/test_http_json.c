/* JSON request bodies through spec tables: the pure parser and the request
 * wrapper on a real listener. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>

#include "raw_client.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_json.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

struct pay {
	const char *msisdn;
	int64_t amount;
	char currency[4];
	const char *note;
	bool note_present;
	const char *ref;
	bool urgent;
	json_t *extra;
	int64_t retries;
};

static const struct http_json_spec *pay_spec(struct pay *p)
{
	static struct http_json_spec meta[3];
	static struct http_json_spec spec[8];
	struct http_json_spec m[] = {
	    HTTP_JSON_STRING("ref", &p->ref, 16),
	    HTTP_JSON_BOOL("urgent", &p->urgent),
	    HTTP_JSON_END,
	};
	m[1].optional = true;
	memcpy(meta, m, sizeof(m));
	struct http_json_spec s[] = {
	    HTTP_JSON_STRING("msisdn", &p->msisdn, 15),
	    HTTP_JSON_AMOUNT("amount", &p->amount),
	    HTTP_JSON_CURRENCY("currency", p->currency),
	    HTTP_JSON_STRING("note", &p->note, 0),
	    HTTP_JSON_OBJECT("meta", meta),
	    HTTP_JSON_ANY("extra", &p->extra),
	    HTTP_JSON_INT("retries", &p->retries, 0, 5),
	    HTTP_JSON_END,
	};
	s[3].optional = true;
	s[3].present = &p->note_present;
	s[4].optional = true;
	s[5].optional = true;
	s[6].optional = true;
	memcpy(spec, s, sizeof(s));
	return spec;
}

static int parse(const char *txt, struct pay *p, json_t **root, char *err, size_t errsz)
{
	memset(p, 0, sizeof(*p));
	return http_json_parse(txt, strlen(txt), pay_spec(p), NULL, root, err, errsz);
}

static void test_valid(void **state)
{
	struct pay p;
	json_t *root;
	char err[200];
	int rc = parse(
	    "{\"msisdn\":\"254700000001\",\"amount\":1500,\"currency\":\"KES\","
	    "\"meta\":{\"ref\":\"A1\",\"urgent\":true},\"extra\":[1,{\"a\":2}],\"retries\":5}",
	    &p, &root, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_non_null(root);
	assert_string_equal(p.msisdn, "254700000001");
	assert_int_equal(p.amount, 1500);
	assert_string_equal(p.currency, "KES");
	assert_false(p.note_present);
	assert_null(p.note);
	assert_string_equal(p.ref, "A1");
	assert_true(p.urgent);
	assert_int_equal(json_array_size(p.extra), 2);
	assert_int_equal(p.retries, 5);
	json_decref(root);

	/* Amount 0 and INT64_MAX are integers in range. */
	rc = parse(
	    "{\"msisdn\":\"1\",\"amount\":9223372036854775807,\"currency\":\"USD\",\"note\":\"\"}",
	    &p, &root, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(p.amount, INT64_MAX);
	assert_true(p.note_present);
	assert_string_equal(p.note, "");
	json_decref(root);
}

struct bad_case {
	const char *json;
	int rc;
	const char *msg;
};

static void test_rejections(void **state)
{
	static const struct bad_case cases[] = {
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\",\"pin\":\"4321\"}", GW_EINVAL,
	     "unknown field in the body"},
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\",\"meta\":{\"ref\":\"x\",\"pin\":"
	     "1}}",
	     GW_EINVAL, "unknown field in meta"},
	    {"{\"msisdn\":\"1\",\"currency\":\"KES\"}", GW_EINVAL, "missing field amount"},
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\",\"meta\":{}}", GW_EINVAL,
	     "missing field meta.ref"},
	    {"{\"msisdn\":\"1\",\"amount\":15.0,\"currency\":\"KES\"}", GW_EINVAL,
	     "amount must be an integer number of minor units"},
	    {"{\"msisdn\":\"1\",\"amount\":1e3,\"currency\":\"KES\"}", GW_EINVAL,
	     "amount must be an integer number of minor units"},
	    {"{\"msisdn\":\"1\",\"amount\":\"1500\",\"currency\":\"KES\"}", GW_EINVAL,
	     "amount must be an integer number of minor units"},
	    {"{\"msisdn\":\"1\",\"amount\":-1,\"currency\":\"KES\"}", GW_EINVAL,
	     "amount is out of range"},
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"kes\"}", GW_EINVAL,
	     "currency must be an ISO 4217 currency code"},
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KESX\"}", GW_EINVAL,
	     "currency must be an ISO 4217 currency code"},
	    {"{\"msisdn\":\"1234567890123456\",\"amount\":1,\"currency\":\"KES\"}", GW_EINVAL,
	     "msisdn is longer than 15 bytes"},
	    {"{\"msisdn\":254,\"amount\":1,\"currency\":\"KES\"}", GW_EINVAL,
	     "msisdn must be a string"},
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\",\"retries\":6}", GW_EINVAL,
	     "retries is out of range"},
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\",\"meta\":[]}", GW_EINVAL,
	     "meta must be an object"},
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\",\"meta\":{\"ref\":\"x\","
	     "\"urgent\":1}}",
	     GW_EINVAL, "meta.urgent must be true or false"},
	    {"{\"msisdn\":\"1\",\"amount\":1,\"amount\":2,\"currency\":\"KES\"}",
	     GW_EPROTO_MALFORMED, NULL},
	    {"{\"msisdn\":\"1\",\"amount\":99999999999999999999,\"currency\":\"KES\"}",
	     GW_EPROTO_MALFORMED, NULL},
	    {"{\"msisdn\":\"1\\u0000\",\"amount\":1,\"currency\":\"KES\"}", GW_EPROTO_MALFORMED,
	     NULL},
	    {"[1,2]", GW_EPROTO_MALFORMED, "the body must be a JSON object"},
	    {"{\"msisdn\":", GW_EPROTO_MALFORMED, NULL},
	    {"", GW_EPROTO_MALFORMED, NULL},
	    /* depth 9: the top object plus eight arrays */
	    {"{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\",\"extra\":[[[[[[[[1]]]]]]]]}",
	     GW_EPROTO_MALFORMED, "the body nests deeper than 8 levels"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pay p;
		json_t *root = (json_t *)1;
		char err[200];
		int rc = parse(cases[i].json, &p, &root, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): rc %d, want %d (%s)", i, cases[i].json, rc,
				 cases[i].rc, err);
		assert_null(root);
		assert_true(err[0] != '\0');
		if (cases[i].msg)
			assert_string_equal(err, cases[i].msg);
		/* Messages never echo the client's values. */
		assert_null(strstr(err, "4321"));
		assert_null(strstr(err, "pin"));
	}

	/* Depth 8 is still fine. */
	struct pay p;
	json_t *root;
	char err[200];
	assert_int_equal(
	    parse("{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\",\"extra\":[[[[[[[1]]]]]]]}",
		  &p, &root, err, sizeof(err)),
	    0);
	json_decref(root);
	/* Brackets inside strings do not count as nesting. */
	assert_int_equal(parse("{\"msisdn\":\"[[[[[[[[[[\",\"amount\":1,\"currency\":\"KES\"}", &p,
			       &root, err, sizeof(err)),
			 0);
	json_decref(root);

	/* Size cap before parsing. */
	struct http_json_limits lim = {.max_bytes = 16};
	const char *txt = "{\"msisdn\":\"1\",\"amount\":1,\"currency\":\"KES\"}";
	assert_int_equal(
	    http_json_parse(txt, strlen(txt), pay_spec(&p), &lim, &root, err, sizeof(err)),
	    GW_EMSGSIZE);
	assert_null(root);
}

/* ---- through the listener ---- */

struct fx {
	struct ev_loop *loop;
	struct http_server *srv;
	uint16_t port;
};

static void h_pay(struct http_req *req, void *cls)
{
	struct pay p;
	memset(&p, 0, sizeof(p));
	if (http_parse_json_body(req, pay_spec(&p), NULL))
		return;
	/* Borrowed strings live as long as the request. */
	http_reply_json(req, 200,
			json_pack("{s:s, s:I, s:s}", "msisdn", p.msisdn, "amount",
				  (json_int_t)p.amount, "currency", p.currency));
}

static void test_request_wrapper(void **state)
{
	struct fx f = {.loop = ev_loop_new(EVFLAG_AUTO)};
	struct http_server_config cfg = {.name = "json", .bind_addr = "127.0.0.1"};
	f.srv = http_server_new(f.loop, &cfg, NULL);
	assert_non_null(f.srv);
	assert_int_equal(http_server_route(f.srv, "POST", "/v1/pay", h_pay, &f), 0);
	f.port = http_server_port(f.srv);

	const char *good = "{\"msisdn\":\"254700000001\",\"amount\":250,\"currency\":\"KES\"}";
	char req[512];
	snprintf(req, sizeof(req),
		 "POST /v1/pay HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
		 "Content-Type: application/json; charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(good), good);
	struct raw_conn *c = raw_exchange(f.loop, f.port, req);
	assert_int_equal(c->status, 200);
	assert_non_null(c->body);
	assert_string_equal(c->body,
			    "{\"msisdn\":\"254700000001\",\"amount\":250,\"currency\":\"KES\"}");
	raw_free(c);

	snprintf(req, sizeof(req),
		 "POST /v1/pay HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
		 "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(good), good);
	c = raw_exchange(f.loop, f.port, req);
	assert_int_equal(c->status, 415);
	assert_non_null(strstr(c->body, "\"code\":\"unsupported-media-type\""));
	raw_free(c);

	const char *bad = "{\"msisdn\":\"254700000001\",\"amount\":2.5,\"currency\":\"KES\"}";
	snprintf(req, sizeof(req),
		 "POST /v1/pay HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(bad), bad);
	c = raw_exchange(f.loop, f.port, req);
	assert_int_equal(c->status, 400);
	assert_non_null(strstr(c->body, "\"code\":\"invalid-argument\""));
	assert_non_null(
	    strstr(c->body, "\"detail\":\"amount must be an integer number of minor units\""));
	raw_free(c);

	const char *junk = "{\"msisdn\":";
	snprintf(req, sizeof(req),
		 "POST /v1/pay HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(junk), junk);
	c = raw_exchange(f.loop, f.port, req);
	assert_int_equal(c->status, 400);
	assert_non_null(strstr(c->body, "\"code\":\"malformed\""));
	raw_free(c);

	http_server_free(f.srv);
	ev_loop_destroy(f.loop);
	metrics_reset();
}

int main(void)
{
	log_set_all_levels(LOG_NOTICE);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_request_wrapper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
