/* The libcurl-multi adapter against our own listener, both on one real loop
 * with real sockets on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/http_client.h"
#include "ussdgw/http_server.h"
#include "ussdgw/log.h"
#include "ussdgw/metrics.h"

struct fx {
	struct ev_loop *loop;
	struct http_server *srv;
	struct http_client *cli;
	uint16_t port;
	int slow_seen;
	ev_timer pause;
};

struct outcome {
	int calls;
	int err;
	long status;
	char body[16384];
	size_t body_len;
	char hdr_req_id[64];
	char hdr_saw_expect[16];
	struct ev_loop *loop;
};

static void h_ok(struct http_req *req, void *cls)
{
	const char *t = http_req_header(req, "X-Test");
	http_reply_header(req, "X-Req-Id", "abc-123");
	http_reply_header(req, "X-Other", "dropped");
	char txt[128];
	snprintf(txt, sizeof(txt), "hello %s", t ? t : "-");
	http_reply_text(req, 200, "text/plain", txt);
}

static void h_echo(struct http_req *req, void *cls)
{
	size_t n;
	const char *b = http_req_body(req, &n);
	http_reply_header(req, "X-Saw-Expect", http_req_header(req, "Expect") ? "yes" : "no");
	http_reply(req, 201, "application/octet-stream", b, n);
}

/* Swallows a large body and reports its size and whether Expect came. */
static void h_sink(struct http_req *req, void *cls)
{
	size_t n;
	http_req_body(req, &n);
	http_reply_header(req, "X-Saw-Expect", http_req_header(req, "Expect") ? "yes" : "no");
	char txt[32];
	snprintf(txt, sizeof(txt), "%zu", n);
	http_reply_text(req, 200, "text/plain", txt);
}

static void h_big(struct http_req *req, void *cls)
{
	char *b = malloc(10000);
	memset(b, 'x', 10000);
	http_reply_take(req, 200, "text/plain", b, 10000);
}

static void h_status(struct http_req *req, void *cls)
{
	http_problem_status(req, (unsigned)atoi(http_req_param(req, "n")), GW_EINVAL, "as asked");
}

static void h_slow(struct http_req *req, void *cls)
{
	struct fx *f = cls;
	f->slow_seen++;
	ev_break(f->loop, EVBREAK_ONE);
	/* never answers; the handler deadline does */
}

static void done_cb(void *cls, const struct http_result *res)
{
	struct outcome *o = cls;
	o->calls++;
	o->err = res->err;
	o->status = res->status;
	o->body_len = res->body_len < sizeof(o->body) ? res->body_len : sizeof(o->body);
	memcpy(o->body, res->body, o->body_len);
	assert_int_equal(res->body[res->body_len], '\0');
	for (size_t i = 0; i < res->n_headers; i++) {
		if (strcmp(res->headers[i].name, "x-req-id") == 0)
			snprintf(o->hdr_req_id, sizeof(o->hdr_req_id), "%s", res->headers[i].value);
		else if (strcmp(res->headers[i].name, "X-Saw-Expect") == 0)
			snprintf(o->hdr_saw_expect, sizeof(o->hdr_saw_expect), "%s",
				 res->headers[i].value);
		else
			fail_msg("unwanted header %s", res->headers[i].name);
	}
	ev_break(o->loop, EVBREAK_ONE);
}

static void wait_for(struct fx *f, struct outcome *o)
{
	while (!o->calls)
		ev_run(f->loop, EVRUN_ONCE);
}

static void pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(int *)w->data = 1;
}

/* Keep the loop turning for a while (to show that something does NOT happen). */
static void run_for(struct fx *f, double secs)
{
	int fired = 0;
	ev_timer_init(&f->pause, pause_cb, secs, 0.);
	f->pause.data = &fired;
	ev_timer_start(f->loop, &f->pause);
	while (!fired)
		ev_run(f->loop, EVRUN_ONCE);
}

static struct http_server *start_server(struct fx *f, const char *cert, const char *key)
{
	struct http_server_config cfg = {
	    .name = "peer",
	    .bind_addr = "127.0.0.1",
	    .body_limit = 4 * 1024 * 1024,
	    .handler_timeout_ms = 1000,
	    .tls_cert_pem = cert,
	    .tls_key_pem = key,
	};
	int err;
	struct http_server *s = http_server_new(f->loop, &cfg, &err);
	assert_non_null(s);
	assert_int_equal(http_server_route(s, "GET", "/ok", h_ok, f), 0);
	assert_int_equal(http_server_route(s, "POST", "/echo", h_echo, f), 0);
	assert_int_equal(http_server_route(s, "GET", "/big", h_big, f), 0);
	assert_int_equal(http_server_route(s, "POST", "/sink", h_sink, f), 0);
	assert_int_equal(http_server_route(s, "GET", "/status/{n}", h_status, f), 0);
	assert_int_equal(http_server_route(s, "GET", "/slow", h_slow, f), 0);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->loop = ev_loop_new(EVFLAG_AUTO);
	f->srv = start_server(f, NULL, NULL);
	f->port = http_server_port(f->srv);
	struct http_client_config cc = {.body_cap = 4096, .allow_insecure_loopback = true};
	f->cli = http_client_new(f->loop, &cc);
	assert_non_null(f->cli);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	http_client_free(f->cli);
	http_server_free(f->srv);
	ev_loop_destroy(f->loop);
	metrics_reset();
	free(f);
	return 0;
}

static char *url(struct fx *f, const char *host, const char *path)
{
	static char buf[256];
	snprintf(buf, sizeof(buf), "http://%s:%u%s", host, f->port, path);
	return buf;
}

static void test_success(void **state)
{
	struct fx *f = *state;
	struct outcome o = {.loop = f->loop};
	const char *want[] = {"x-req-id"};
	struct http_header hdrs[] = {{"X-Test", "t1"}};
	struct http_request rq = {
	    .url = url(f, "127.0.0.1", "/ok"),
	    .headers = hdrs,
	    .n_headers = 1,
	    .want_headers = want,
	    .n_want_headers = 1,
	};
	struct http_call *h = http_client_request(f->cli, &rq, done_cb, &o);
	assert_non_null(h);
	assert_int_equal(o.calls, 0); /* never from inside the request call */
	assert_int_equal(http_client_pending(f->cli), 1);
	wait_for(f, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, 0);
	assert_int_equal(o.status, 200);
	assert_int_equal(o.body_len, strlen("hello t1"));
	assert_memory_equal(o.body, "hello t1", o.body_len);
	assert_string_equal(o.hdr_req_id, "abc-123");
	assert_int_equal(http_client_pending(f->cli), 0);

	/* A POST body goes out whole, byte for byte. */
	struct outcome p = {.loop = f->loop};
	char body[3000];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7);
	const char *want2[] = {"X-Saw-Expect"};
	struct http_request post = {
	    .method = "POST",
	    .url = url(f, "127.0.0.1", "/echo"),
	    .body = body,
	    .body_len = sizeof(body),
	    .want_headers = want2,
	    .n_want_headers = 1,
	};
	assert_non_null(http_client_request(f->cli, &post, done_cb, &p));
	wait_for(f, &p);
	assert_int_equal(p.err, 0);
	assert_int_equal(p.status, 201);
	assert_int_equal(p.body_len, sizeof(body));
	assert_memory_equal(p.body, body, sizeof(body));
	assert_string_equal(p.hdr_saw_expect, "no");

	/* No Expect: 100-continue even past the size where libcurl would add
	 * it (1 MiB): that costs a round trip or a one-second stall. */
	struct outcome q = {.loop = f->loop};
	size_t big = 3 * 1024 * 1024 / 2;
	char *bigbody = calloc(1, big);
	post.url = url(f, "127.0.0.1", "/sink");
	post.body = bigbody;
	post.body_len = big;
	assert_non_null(http_client_request(f->cli, &post, done_cb, &q));
	free(bigbody); /* copied by the request call */
	wait_for(f, &q);
	assert_int_equal(q.err, 0);
	assert_int_equal(q.status, 200);
	char expect_len[32];
	snprintf(expect_len, sizeof(expect_len), "%zu", big);
	assert_int_equal(q.body_len, strlen(expect_len));
	assert_memory_equal(q.body, expect_len, q.body_len);
	assert_string_equal(q.hdr_saw_expect, "no");

	/* An error status is a response, not a transport error. */
	struct outcome s = {.loop = f->loop};
	struct http_request st = {.url = url(f, "localhost", "/status/409")};
	assert_non_null(http_client_request(f->cli, &st, done_cb, &s));
	wait_for(f, &s);
	assert_int_equal(s.err, 0);
	assert_int_equal(s.status, 409);
	assert_non_null(strstr(s.body, "\"code\":\"invalid-argument\""));
}

static void test_timeout_fires_once(void **state)
{
	struct fx *f = *state;
	struct outcome o = {.loop = f->loop};
	struct http_request rq = {.url = url(f, "127.0.0.1", "/slow"), .timeout_ms = 100};
	assert_non_null(http_client_request(f->cli, &rq, done_cb, &o));
	wait_for(f, &o);
	assert_int_equal(f->slow_seen, 1);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, GW_ETIMEDOUT);
	assert_int_equal(o.status, 0);
	/* Past the server's own 1 s handler deadline: still one callback. */
	run_for(f, 1.2);
	assert_int_equal(o.calls, 1);
	assert_int_equal(http_client_pending(f->cli), 0);
}

static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct outcome o = {.loop = f->loop};
	struct http_request rq = {.url = url(f, "127.0.0.1", "/slow"), .timeout_ms = 300};
	struct http_call *h = http_client_request(f->cli, &rq, done_cb, &o);
	assert_non_null(h);
	/* Cancel once the server holds the request (so curl is mid-transfer). */
	while (!f->slow_seen)
		ev_run(f->loop, EVRUN_ONCE);
	http_client_cancel(h);
	assert_int_equal(http_client_pending(f->cli), 0);
	run_for(f, 0.5); /* past the request's own timeout */
	assert_int_equal(o.calls, 0);

	/* Cancelled before the loop ever ran. */
	struct http_request ok = {.url = url(f, "127.0.0.1", "/ok")};
	h = http_client_request(f->cli, &ok, done_cb, &o);
	http_client_cancel(h);
	run_for(f, 0.1);
	assert_int_equal(o.calls, 0);
}

static void test_connection_refused(void **state)
{
	struct fx *f = *state;
	/* A bound socket that does not listen: connects are refused. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	char u[64];
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
	struct outcome o = {.loop = f->loop};
	struct http_request rq = {.url = u};
	assert_non_null(http_client_request(f->cli, &rq, done_cb, &o));
	wait_for(f, &o);
	close(fd);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, GW_ECONNREFUSED);
	assert_int_equal(o.status, 0);
}

static void test_body_cap(void **state)
{
	struct fx *f = *state;
	struct outcome o = {.loop = f->loop};
	struct http_request rq = {.url = url(f, "127.0.0.1", "/big")}; /* client cap 4096 */
	assert_non_null(http_client_request(f->cli, &rq, done_cb, &o));
	wait_for(f, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err, GW_EMSGSIZE);
	assert_true(o.body_len <= 4096);

	struct outcome p = {.loop = f->loop};
	rq.body_cap = 10000; /* exactly fits */
	assert_non_null(http_client_request(f->cli, &rq, done_cb, &p));
	wait_for(f, &p);
	assert_int_equal(p.err, 0);
	assert_int_equal(p.body_len, 10000);
}

static void test_invalid_requests(void **state)
{
	struct fx *f = *state;
	struct outcome o = {.loop = f->loop};
	struct http_request rq = {.url = "ftp://127.0.0.1/x"};
	assert_null(http_client_request(f->cli, &rq, done_cb, &o));
	rq.url = "file:///etc/passwd";
	assert_null(http_client_request(f->cli, &rq, done_cb, &o));
	rq.url = "not a url";
	assert_null(http_client_request(f->cli, &rq, done_cb, &o));
	struct http_header inj[] = {{"X-A", "v\r\nX-Injected: 1"}};
	rq.url = url(f, "127.0.0.1", "/ok");
	rq.headers = inj;
	rq.n_headers = 1;
	assert_null(http_client_request(f->cli, &rq, done_cb, &o));
	rq.n_headers = 0;
	rq.method = "GET /x";
	assert_null(http_client_request(f->cli, &rq, done_cb, &o));
	run_for(f, 0.05);
	assert_int_equal(o.calls, 0);
	assert_int_equal(http_client_pending(f->cli), 0);
}

static void test_async_dns(void **state)
{
	const char *resolver = NULL;
	assert_true(http_client_async_dns(&resolver));
	assert_string_equal(resolver, "threaded");
}

struct free_in_cb {
	struct http_client *cli;
	int calls;
	int shutdown_calls;
	struct ev_loop *loop;
};

static void free_other_cb(void *cls, const struct http_result *res)
{
	struct free_in_cb *x = cls;
	x->shutdown_calls += res->err == GW_ESHUTDOWN;
}

static void free_self_cb(void *cls, const struct http_result *res)
{
	struct free_in_cb *x = cls;
	x->calls++;
	http_client_free(x->cli); /* deferred until this callback returns */
	ev_break(x->loop, EVBREAK_ONE);
}

static void test_free_with_calls_in_flight(void **state)
{
	struct fx *f = *state;
	struct http_client *c = http_client_new(f->loop, NULL);
	struct free_in_cb x = {.cli = c, .loop = f->loop};
	struct http_request slow = {.url = url(f, "127.0.0.1", "/slow"), .timeout_ms = 5000};
	struct http_request ok = {.url = url(f, "127.0.0.1", "/ok")};
	assert_non_null(http_client_request(c, &slow, free_other_cb, &x));
	assert_non_null(http_client_request(c, &ok, free_self_cb, &x));
	while (!x.calls)
		ev_run(f->loop, EVRUN_ONCE);
	/* The slow call ended with GW_ESHUTDOWN when the client went away. */
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.shutdown_calls, 1);
}

/* A self-signed certificate for "localhost", made in memory. */
static void make_cert(char **cert_pem, char **key_pem)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	assert_non_null(pk);
	X509 *x = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	char *p;
	long len = BIO_get_mem_data(b, &p);
	*cert_pem = strndup(p, (size_t)len);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
	len = BIO_get_mem_data(b, &p);
	*key_pem = strndup(p, (size_t)len);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void test_tls_verification(void **state)
{
	struct fx *f = *state;
	char *cert, *key;
	make_cert(&cert, &key);
	struct http_server *tls = start_server(f, cert, key);
	char u[96];
	snprintf(u, sizeof(u), "https://localhost:%u/ok", http_server_port(tls));

	/* Verification on: the self-signed certificate is refused. */
	struct outcome a = {.loop = f->loop};
	struct http_request rq = {.url = u};
	assert_non_null(http_client_request(f->cli, &rq, done_cb, &a));
	wait_for(f, &a);
	assert_int_equal(a.err, GW_ECRYPTO);

	/* Loopback + allowed by the client + asked by the request: accepted. */
	struct outcome b = {.loop = f->loop};
	rq.insecure_loopback = true;
	assert_non_null(http_client_request(f->cli, &rq, done_cb, &b));
	wait_for(f, &b);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.status, 200);
	assert_memory_equal(b.body, "hello -", b.body_len);

	/* A client that does not allow it keeps verifying even on loopback. */
	struct http_client *strict = http_client_new(f->loop, NULL);
	struct outcome c = {.loop = f->loop};
	assert_non_null(http_client_request(strict, &rq, done_cb, &c));
	wait_for(f, &c);
	assert_int_equal(c.err, GW_ECRYPTO);
	http_client_free(strict);

	http_server_free(tls);
	free(cert);
	free(key);
}

int main(void)
{
	log_set_all_levels(LOG_DEBUG);
	log_set_format(LOG_FMT_TEXT);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_success, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_fires_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_async_dns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_with_calls_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_verification, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
