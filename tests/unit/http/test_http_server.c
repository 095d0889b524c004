/* The HTTP listener on a real loop and real sockets on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>

#include "raw_client.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/health.h"
#include "ussdgw/http_admin.h"
#include "ussdgw/http_callbacks.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

struct fx {
	struct ev_loop *loop;
	struct http_server *srv;
	uint16_t port;
	/* async handler state */
	struct http_req *held;
	ev_timer later;
	int aborts;
	int handled;
};

static void h_params(struct http_req *req, void *cls)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s}", "id", http_req_param(req, "id"), "part",
			      http_req_param(req, "part"), "method", http_req_method(req), "q",
			      http_req_query(req, "q"), "remote", http_req_remote(req));
	char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	http_reply_take(req, 200, "application/json", txt, strlen(txt));
}

static void h_echo(struct http_req *req, void *cls)
{
	size_t n;
	const char *b = http_req_body(req, &n);
	char hdr[32];
	snprintf(hdr, sizeof(hdr), "%zu", n);
	http_reply_header(req, "X-Body-Length", hdr);
	http_reply(req, 201, "application/octet-stream", b, n);
}

static void later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fx *f = w->data;
	struct http_req *req = f->held;
	f->held = NULL;
	char txt[64];
	snprintf(txt, sizeof(txt), "later:%s", http_req_param(req, "v"));
	assert_int_equal(http_reply_text(req, 202, "text/plain", txt), 0);
}

static void on_abort(struct http_req *req, void *cls)
{
	struct fx *f = cls;
	assert_ptr_equal(req, f->held);
	f->held = NULL;
	f->aborts++;
}

/* Answers from a later loop callback (as after a Redis/PG/HTTP round trip). */
static void h_async(struct http_req *req, void *cls)
{
	struct fx *f = cls;
	f->held = req;
	http_req_on_abort(req, on_abort, f);
	ev_timer_init(&f->later, later_cb, 0.02, 0.);
	f->later.data = f;
	ev_timer_start(f->loop, &f->later);
}

/* Never answers: the handler deadline or shutdown must. */
static void h_stuck(struct http_req *req, void *cls)
{
	struct fx *f = cls;
	f->held = req;
	f->handled++;
	http_req_on_abort(req, on_abort, f);
	ev_break(f->loop, EVBREAK_ONE);
}

static int cb_mpesa(struct http_req *req, const char *token, void *cls)
{
	struct fx *f = cls;
	if (strcmp(token, "tok_0123456789abcdef") != 0)
		return GW_ENOENT;
	f->handled++;
	size_t n;
	const char *b = http_req_body(req, &n);
	http_reply(req, 200, "application/json", b, n);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->loop = ev_loop_new(EVFLAG_AUTO);
	struct http_server_config cfg = {
	    .name = "test",
	    .bind_addr = "127.0.0.1",
	    .port = 0,
	    .body_limit = 1024,
	    .handler_timeout_ms = 150,
	};
	int err = -1;
	f->srv = http_server_new(f->loop, &cfg, &err);
	assert_non_null(f->srv);
	assert_int_equal(err, 0);
	f->port = http_server_port(f->srv);
	assert_int_not_equal(f->port, 0);
	assert_int_equal(http_server_route(f->srv, "GET", "/items/{id}/parts/{part}", h_params, f),
			 0);
	assert_int_equal(http_server_route(f->srv, "POST", "/echo", h_echo, f), 0);
	assert_int_equal(http_server_route(f->srv, "GET", "/async/{v}", h_async, f), 0);
	assert_int_equal(http_server_route(f->srv, "GET", "/stuck", h_stuck, f), 0);
	assert_int_equal(http_admin_mount(f->srv), 0);
	assert_int_equal(http_callbacks_mount(f->srv), 0);
	assert_int_equal(http_register_callback_handler("mpesa", cb_mpesa, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	http_server_free(f->srv);
	ev_loop_destroy(f->loop);
	http_callbacks_reset();
	health_reset();
	metrics_reset();
	free(f);
	return 0;
}

static json_t *body_json(const struct raw_conn *c)
{
	assert_non_null(c->body);
	json_error_t e;
	json_t *j = json_loadb(c->body, c->body_len, 0, &e);
	if (!j)
		fail_msg("body is not JSON: %s (%.*s)", e.text, (int)c->body_len, c->body);
	return j;
}

static void assert_problem(const struct raw_conn *c, int status, const char *code)
{
	char buf[128];
	assert_int_equal(c->status, status);
	assert_string_equal(raw_header(c, "Content-Type", buf, sizeof(buf)),
			    "application/problem+json");
	json_t *j = body_json(c);
	assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
	assert_string_equal(json_string_value(json_object_get(j, "code")), code);
	char type[96];
	snprintf(type, sizeof(type), "urn:ussdgw:error:%s", code);
	assert_string_equal(json_string_value(json_object_get(j, "type")), type);
	assert_non_null(json_string_value(json_object_get(j, "title")));
	json_decref(j);
}

static void test_route_params(void **state)
{
	struct fx *f = *state;
	struct raw_conn *c = raw_exchange(f->loop, f->port,
					  "GET /items/42/parts/wheel?q=x%20y HTTP/1.1\r\n"
					  "Host: t\r\nConnection: close\r\n\r\n");
	assert_false(c->failed);
	assert_int_equal(c->status, 200);
	json_t *j = body_json(c);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "42");
	assert_string_equal(json_string_value(json_object_get(j, "part")), "wheel");
	assert_string_equal(json_string_value(json_object_get(j, "q")), "x y");
	assert_string_equal(json_string_value(json_object_get(j, "remote")), "127.0.0.1");
	json_decref(j);
	raw_free(c);

	/* One segment short, one too many, empty parameter: no route. */
	const char *misses[] = {"/items/42/parts", "/items/42/parts/a/b", "/items//parts/a",
				"/items/42/parts/"};
	for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
		char req[256];
		snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", misses[i]);
		c = raw_exchange(f->loop, f->port, req);
		assert_problem(c, 404, "not-found");
		raw_free(c);
	}
}

static void test_404_405(void **state)
{
	struct fx *f = *state;
	struct raw_conn *c = raw_exchange(
	    f->loop, f->port, "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_problem(c, 404, "not-found");
	raw_free(c);

	c = raw_exchange(
	    f->loop, f->port,
	    "DELETE /items/1/parts/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_problem(c, 405, "method-not-allowed");
	char allow[64];
	assert_string_equal(raw_header(c, "Allow", allow, sizeof(allow)), "GET");
	raw_free(c);

	/* Every method of one pattern is listed (PUT: MoMo callbacks). */
	c = raw_exchange(f->loop, f->port,
			 "PATCH /callbacks/mpesa/tok_0123456789abcdef HTTP/1.1\r\nHost: t\r\n"
			 "Connection: close\r\nContent-Length: 0\r\n\r\n");
	assert_problem(c, 405, "method-not-allowed");
	assert_string_equal(raw_header(c, "Allow", allow, sizeof(allow)), "POST, GET, PUT");
	raw_free(c);
}

static void test_body_and_limit(void **state)
{
	struct fx *f = *state;
	char hdr[32];
	/* A body at the limit passes through byte for byte, NULs included. */
	char req[2048];
	int n = snprintf(req, sizeof(req),
			 "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
			 "Content-Length: 1024\r\n\r\n");
	for (int i = 0; i < 1024; i++)
		req[n + i] = (char)(i % 7 == 0 ? 0 : 'a' + i % 26);
	struct raw_conn *c = raw_start(f->loop, f->port, req, (size_t)n + 1024);
	raw_wait(c);
	assert_int_equal(c->status, 201);
	assert_string_equal(raw_header(c, "X-Body-Length", hdr, sizeof(hdr)), "1024");
	assert_int_equal(c->body_len, 1024);
	assert_memory_equal(c->body, req + n, 1024);
	raw_free(c);

	/* Announced over the limit: 413 at once, without the body being sent
	 * at all (the client sends headers only and waits). */
	c = raw_exchange(f->loop, f->port,
			 "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
			 "Content-Length: 100000000\r\n\r\n");
	assert_problem(c, 413, "too-large");
	raw_free(c);

	/* Chunked over the limit: 413 once the body ends. */
	char chunk[600];
	memset(chunk, 'z', sizeof(chunk));
	n = snprintf(
	    req, sizeof(req),
	    "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n258\r\n%.600s\r\n258\r\n%.600s\r\n0\r\n\r\n",
	    chunk, chunk);
	c = raw_start(f->loop, f->port, req, (size_t)n);
	raw_wait(c);
	assert_problem(c, 413, "too-large");
	raw_free(c);
}

static void test_async_answer(void **state)
{
	struct fx *f = *state;
	struct raw_conn *c = raw_exchange(
	    f->loop, f->port, "GET /async/v7 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(c->status, 202);
	assert_int_equal(c->body_len, strlen("later:v7"));
	assert_memory_equal(c->body, "later:v7", c->body_len);
	assert_null(f->held);
	assert_int_equal(f->aborts, 0);
	raw_free(c);

	/* Two in flight on separate connections, answered from timers. */
	struct raw_conn *a = raw_start(
	    f->loop, f->port, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	    strlen("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
	c = raw_exchange(f->loop, f->port,
			 "GET /async/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	raw_wait(a);
	assert_int_equal(a->status, 200);
	assert_int_equal(c->status, 202);
	raw_free(a);
	raw_free(c);
}

static void test_keep_alive_after_async(void **state)
{
	struct fx *f = *state;
	/* Two requests on one connection, the first answered later: the
	 * resumed connection must go on to serve the second. */
	const char *two = "GET /async/k1 HTTP/1.1\r\nHost: t\r\n\r\n"
			  "GET /items/1/parts/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct raw_conn *c = raw_exchange(f->loop, f->port, two);
	assert_false(c->failed);
	assert_int_equal(c->status, 202);
	const char *second = strstr(c->in + 1, "HTTP/1.1 200");
	assert_non_null(second);
	assert_non_null(strstr(c->in, "later:k1"));
	assert_non_null(strstr(second, "\"part\":\"2\""));
	assert_true(strstr(c->in, "later:k1") < second);
	raw_free(c);
}

static void test_keep_alive_after_problem(void **state)
{
	struct fx *f = *state;
	/* A 404 or 405 for a request without a body keeps the connection. */
	const char *three = "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
			    "DELETE /echo HTTP/1.1\r\nHost: t\r\n\r\n"
			    "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct raw_conn *c = raw_exchange(f->loop, f->port, three);
	assert_false(c->failed);
	assert_int_equal(c->status, 404);
	const char *second = strstr(c->in, "HTTP/1.1 405");
	assert_non_null(second);
	const char *third = strstr(second, "HTTP/1.1 200");
	assert_non_null(third);
	assert_non_null(strstr(third, "alive"));
	raw_free(c);
}

static void test_handler_deadline(void **state)
{
	struct fx *f = *state;
	struct raw_conn *c = raw_exchange(
	    f->loop, f->port, "GET /stuck HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	/* raw_exchange returns once for the handler's ev_break; wait for the answer. */
	raw_wait(c);
	assert_int_equal(f->handled, 1);
	assert_int_equal(f->aborts, 1);
	assert_null(f->held);
	assert_problem(c, 504, "timeout");
	raw_free(c);
}

static void test_shutdown_with_pending(void **state)
{
	struct fx *f = *state;
	const char *rq = "GET /stuck HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct raw_conn *c = raw_start(f->loop, f->port, rq, strlen(rq));
	while (!f->handled)
		ev_run(f->loop, EVRUN_ONCE);
	assert_non_null(f->held);
	http_server_free(f->srv);
	f->srv = NULL;
	assert_int_equal(f->aborts, 1);
	assert_null(f->held);
	raw_wait(c);
	assert_false(c->failed);
	/* The 503 may or may not make it out before the close; never a 2xx. */
	assert_true(c->status == 0 || c->status == 503);
	raw_free(c);
}

static enum health_state probe(void *cls, char *detail, size_t n)
{
	int *up = cls;
	if (!*up)
		snprintf(detail, n, "ping failed");
	return *up ? HEALTH_UP : HEALTH_DOWN;
}

static void test_readyz(void **state)
{
	struct fx *f = *state;
	int redis = 1, pg = 1;
	assert_int_equal(health_register("redis", HEALTH_REQUIRED, probe, &redis), 0);
	assert_int_equal(health_register("postgres", HEALTH_DEGRADES, probe, &pg), 0);
	const char *rq = "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

	struct raw_conn *c = raw_exchange(f->loop, f->port, rq);
	assert_int_equal(c->status, 200);
	json_t *j = body_json(c);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
	json_decref(j);
	raw_free(c);

	pg = 0;
	c = raw_exchange(f->loop, f->port, rq);
	assert_int_equal(c->status, 200);
	j = body_json(c);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "degraded");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "degraded"), 0)),
			    "postgres");
	assert_string_equal(
	    json_string_value(json_object_get(
		json_object_get(json_object_get(j, "parts"), "postgres"), "detail")),
	    "ping failed");
	json_decref(j);
	raw_free(c);

	redis = 0;
	c = raw_exchange(f->loop, f->port, rq);
	assert_int_equal(c->status, 503);
	j = body_json(c);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "not-ready");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "missing"), 0)),
			    "redis");
	json_decref(j);
	raw_free(c);

	redis = 1;
	pg = 1;
	c = raw_exchange(f->loop, f->port, rq);
	assert_int_equal(c->status, 200);
	raw_free(c);
}

static void test_healthz_and_metrics(void **state)
{
	struct fx *f = *state;
	struct raw_conn *c = raw_exchange(
	    f->loop, f->port, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(c->status, 200);
	raw_free(c);
	c = raw_exchange(f->loop, f->port,
			 "GET /nothing/here HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(c->status, 404);
	raw_free(c);

	c = raw_exchange(f->loop, f->port,
			 "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(c->status, 200);
	char ct[96];
	assert_string_equal(raw_header(c, "Content-Type", ct, sizeof(ct)),
			    "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(c->body);
	assert_non_null(strstr(c->body, "# TYPE gw_http_requests_total counter\n"));
	assert_non_null(strstr(c->body,
			       "gw_http_requests_total{listener=\"test\",route=\"/healthz\","
			       "method=\"GET\",status=\"200\"} 1\n"));
	assert_non_null(strstr(c->body,
			       "gw_http_requests_total{listener=\"test\",route=\"unmatched\","
			       "method=\"GET\",status=\"404\"} 1\n"));
	assert_non_null(strstr(c->body, "gw_http_request_duration_seconds_count{listener=\"test\","
					"route=\"/healthz\"} 1\n"));
	raw_free(c);
}

static void test_callbacks(void **state)
{
	struct fx *f = *state;
	const char *body = "{\"ResultCode\":0}";
	char req[512];
	snprintf(
	    req, sizeof(req),
	    "POST /callbacks/mpesa/tok_0123456789abcdef HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    strlen(body), body);
	struct raw_conn *c = raw_exchange(f->loop, f->port, req);
	assert_int_equal(c->status, 200);
	assert_int_equal(c->body_len, strlen(body));
	assert_memory_equal(c->body, body, c->body_len);
	assert_int_equal(f->handled, 1);
	raw_free(c);

	const char *bad[] = {
	    "/callbacks/mpesa/tok_0123456789abcdeX",  /* unknown token */
	    "/callbacks/stripe/tok_0123456789abcdef", /* unknown provider */
	    "/callbacks/mpesa/short",		      /* too short */
	    "/callbacks/mpesa/tok_0123456789abc.def", /* bad character */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: "
			 "2\r\n\r\n{}",
			 bad[i]);
		c = raw_exchange(f->loop, f->port, req);
		assert_problem(c, 404, "not-found");
		raw_free(c);
	}
	assert_int_equal(f->handled, 1);
	assert_int_equal(http_register_callback_handler("mpesa", cb_mpesa, f), GW_EEXIST);
	assert_int_equal(http_register_callback_handler("Bad Name", cb_mpesa, f), GW_EINVAL);
}

static void test_config_errors(void **state)
{
	struct fx *f = *state;
	int err = 0;
	struct http_server_config cfg = {.bind_addr = "not-an-address"};
	assert_null(http_server_new(f->loop, &cfg, &err));
	assert_int_equal(err, GW_EINVAL);
	/* The port is taken by the fixture's server. */
	cfg.bind_addr = "127.0.0.1";
	cfg.port = f->port;
	assert_null(http_server_new(f->loop, &cfg, &err));
	assert_int_equal(err, GW_EIO);
	/* Patterns. */
	assert_int_equal(http_server_route(f->srv, "GET", "relative", h_echo, f), GW_EINVAL);
	assert_int_equal(http_server_route(f->srv, "GET", "/a/{b", h_echo, f), GW_EINVAL);
	assert_int_equal(http_server_route(f->srv, "GET", "/a//b", h_echo, f), GW_EINVAL);
	assert_int_equal(http_server_route(f->srv, "POST", "/echo", h_echo, f), GW_EEXIST);
}

static void test_per_ip_limit(void **state)
{
	struct fx *f = *state;
	struct http_server_config cfg = {
	    .name = "limited", .bind_addr = "127.0.0.1", .per_ip_limit = 1};
	int err;
	struct http_server *s = http_server_new(f->loop, &cfg, &err);
	assert_non_null(s);
	assert_int_equal(http_admin_mount(s), 0);
	uint16_t port = http_server_port(s);
	/* The first connection sends half a request and stays open. */
	const char *half = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
	struct raw_conn *a = raw_start(f->loop, port, half, strlen(half));
	for (int i = 0; i < 20; i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	/* The second one from the same address is refused by closing it. */
	struct raw_conn *b = raw_exchange(
	    f->loop, port, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_false(b->failed);
	assert_int_equal(b->status, 0);
	assert_int_equal(b->in_len, 0);
	raw_free(b);
	/* Finishing the first request still works. */
	const char *rest = "Connection: close\r\n\r\n";
	ssize_t w = send(a->fd, rest, strlen(rest), MSG_NOSIGNAL);
	assert_int_equal(w, (ssize_t)strlen(rest));
	raw_wait(a);
	assert_int_equal(a->status, 200);
	raw_free(a);
	http_server_free(s);
}

int main(void)
{
	log_set_all_levels(LOG_DEBUG);
	log_set_format(LOG_FMT_TEXT);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_route_params, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_404_405, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_and_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_async_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keep_alive_after_async, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keep_alive_after_problem, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handler_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_with_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readyz, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_healthz_and_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_callbacks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_per_ip_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
