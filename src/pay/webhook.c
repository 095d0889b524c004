/* Pure helpers of the card and wallet providers: currency table, amount
 * conversion, Stripe and PayPal webhook verification (see pay_webhook.h). */
#include "ussdgw/pay_webhook.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"

/* ---- currencies ---------------------------------------------------------- */

/* Stripe's zero-decimal and three-decimal lists (docs.stripe.com/currencies,
 * specs/payments.md 6.6); the rest are two-decimal. */
static const char zero_dec[][4] = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
				   "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"};
static const char three_dec[][4] = {"BHD", "JOD", "KWD", "OMR", "TND"};

static bool iso_ok(const char *iso)
{
	return iso && isupper((unsigned char)iso[0]) && isupper((unsigned char)iso[1]) &&
	       isupper((unsigned char)iso[2]) && iso[3] == '\0';
}

int pay_currency_exponent(const char *iso)
{
	if (!iso_ok(iso))
		return -1;
	for (size_t i = 0; i < sizeof(zero_dec) / sizeof(zero_dec[0]); i++)
		if (!strcmp(iso, zero_dec[i]))
			return 0;
	for (size_t i = 0; i < sizeof(three_dec) / sizeof(three_dec[0]); i++)
		if (!strcmp(iso, three_dec[i]))
			return 3;
	return 2;
}

int pay_stripe_amount(int64_t minor, const char *iso, int64_t *out, char currency_lc[4])
{
	int e = pay_currency_exponent(iso);
	if (e < 0 || minor <= 0 || minor > 99999999)
		return GW_EINVAL;
	if (e == 3 && minor % 10 != 0)
		return GW_EINVAL; /* Stripe: the last of three decimals must be 0 */
	*out = minor;
	for (int i = 0; i < 3; i++)
		currency_lc[i] = (char)tolower((unsigned char)iso[i]);
	currency_lc[3] = '\0';
	return 0;
}

int pay_paypal_places(const char *iso)
{
	int e = pay_currency_exponent(iso);
	if (e < 0)
		return -1;
	if (e == 0 || !strcmp(iso, "JPY") || !strcmp(iso, "HUF") || !strcmp(iso, "TWD"))
		return 0;
	return 2;
}

int pay_amount_to_decimal(int64_t minor, const char *iso, int max_dp, char *out, size_t n)
{
	int e = pay_currency_exponent(iso);
	if (e < 0 || minor <= 0 || max_dp < 0)
		return GW_EINVAL;
	int64_t div = 1;
	for (int i = 0; i < e; i++)
		div *= 10;
	int64_t whole = minor / div, frac = minor % div;
	int dp = e;
	/* Drop trailing zeros the wire cannot carry; a non-zero one is refused. */
	while (dp > max_dp) {
		if (frac % 10)
			return GW_EINVAL;
		frac /= 10;
		dp--;
	}
	int w = dp ? snprintf(out, n, "%" PRId64 ".%0*" PRId64, whole, dp, frac)
		   : snprintf(out, n, "%" PRId64, whole);
	return w < 0 || (size_t)w >= n ? GW_EMSGSIZE : 0;
}

int pay_amount_from_decimal(const char *s, size_t len, const char *iso, int64_t *out)
{
	int e = pay_currency_exponent(iso);
	if (e < 0 || !s || len == 0 || len > 24)
		return GW_EINVAL;
	int64_t whole = 0, frac = 0;
	size_t i = 0;
	int fd = 0;
	for (; i < len && isdigit((unsigned char)s[i]); i++)
		whole = whole * 10 + (s[i] - '0');
	if (i == 0 || (i > 1 && s[0] == '0') || i > 15)
		return GW_EINVAL;
	if (i < len) {
		if (s[i++] != '.' || i == len)
			return GW_EINVAL;
		for (; i < len; i++) {
			if (!isdigit((unsigned char)s[i]))
				return GW_EINVAL;
			if (fd < e) {
				frac = frac * 10 + (s[i] - '0');
				fd++;
			} else if (s[i] != '0') {
				return GW_EINVAL; /* more precision than the currency has */
			}
		}
	}
	for (; fd < e; fd++)
		frac *= 10;
	int64_t mul = 1;
	for (int k = 0; k < e; k++)
		mul *= 10;
	*out = whole * mul + frac;
	return 0;
}

/* ---- verdicts ------------------------------------------------------------ */

static const char *const verdict_names[] = {
    [PAY_WH_OK] = "ok",
    [PAY_WH_MALFORMED] = "malformed",
    [PAY_WH_STALE] = "stale",
    [PAY_WH_BAD_SIG] = "bad_signature",
    [PAY_WH_CERT_HOST] = "cert_host",
    [PAY_WH_CERT_CHAIN] = "cert_chain",
};

const char *pay_webhook_verdict_name(enum pay_webhook_verdict v)
{
	return (unsigned)v < sizeof(verdict_names) / sizeof(verdict_names[0]) ? verdict_names[v]
									      : "invalid";
}

/* ---- Stripe -------------------------------------------------------------- */

void pay_stripe_sign(const char *secret, int64_t t, const void *body, size_t len, char out[65])
{
	char ts[24];
	int tl = snprintf(ts, sizeof(ts), "%" PRId64 ".", t);
	uint8_t mac[32];
	/* HMAC over t "." body without copying the body. */
	unsigned int ml = 0;
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
			  OSSL_PARAM_construct_end()};
	size_t outl = 0;
	if (c && EVP_MAC_init(c, (const unsigned char *)secret, strlen(secret), p) &&
	    EVP_MAC_update(c, (const unsigned char *)ts, (size_t)tl) &&
	    EVP_MAC_update(c, body, len) && EVP_MAC_final(c, mac, &outl, sizeof(mac)) && outl == 32)
		ml = 32;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	if (ml != 32)
		memset(mac, 0, sizeof(mac));
	crypto_hex(mac, 32, out);
	out[64] = '\0';
}

enum pay_webhook_verdict pay_stripe_verify(const char *header, const void *body, size_t len,
					   const char *const *secrets, size_t n_secrets,
					   int64_t now_s, unsigned tolerance_s, int64_t *t_out)
{
	if (!header || !secrets || n_secrets == 0 || tolerance_s == 0 || strlen(header) > 4096)
		return PAY_WH_MALFORMED;
	int64_t t = -1;
	const char *v1[16];
	size_t n_v1 = 0;
	const char *p = header;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t el = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', el);
		if (eq) {
			size_t kl = (size_t)(eq - p), vl = el - kl - 1;
			const char *v = eq + 1;
			if (kl == 1 && p[0] == 't') {
				if (t >= 0 || vl == 0 || vl > 12)
					return PAY_WH_MALFORMED;
				int64_t x = 0;
				for (size_t i = 0; i < vl; i++) {
					if (!isdigit((unsigned char)v[i]))
						return PAY_WH_MALFORMED;
					x = x * 10 + (v[i] - '0');
				}
				t = x;
			} else if (kl == 2 && p[0] == 'v' && p[1] == '1' && vl == 64 &&
				   n_v1 < sizeof(v1) / sizeof(v1[0])) {
				v1[n_v1++] = v;
			}
			/* v0 and unknown schemes: ignored (downgrade protection) */
		}
		p += el;
		if (*p == ',')
			p++;
	}
	if (t < 0 || n_v1 == 0)
		return PAY_WH_MALFORMED;
	if (t_out)
		*t_out = t;
	int64_t d = now_s - t;
	if (d > (int64_t)tolerance_s || -d > (int64_t)tolerance_s)
		return PAY_WH_STALE;
	bool ok = false;
	for (size_t s = 0; s < n_secrets; s++) {
		if (!secrets[s] || !*secrets[s])
			continue;
		char want[65];
		pay_stripe_sign(secrets[s], t, body, len, want);
		for (size_t i = 0; i < n_v1; i++) {
			char got[64];
			for (size_t k = 0; k < 64; k++)
				got[k] = (char)tolower((unsigned char)v1[i][k]);
			/* constant time per comparison; keep going (no early exit) */
			if (crypto_equal(want, got, 64))
				ok = true;
		}
		OPENSSL_cleanse(want, sizeof(want));
	}
	return ok ? PAY_WH_OK : PAY_WH_BAD_SIG;
}

/* ---- PayPal -------------------------------------------------------------- */

uint32_t pay_crc32(const void *data, size_t len)
{
	static uint32_t table[256];
	static bool init;
	if (!init) { /* idempotent: every thread computes the same values */
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		init = true;
	}
	const uint8_t *b = data;
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ b[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static bool field_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 256)
		return false;
	for (; *s; s++)
		if (*s == '|' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int pay_paypal_message(const char *transmission_id, const char *transmission_time,
		       const char *webhook_id, const void *body, size_t len, char *out, size_t n)
{
	if (!field_ok(transmission_id) || !field_ok(transmission_time) || !field_ok(webhook_id))
		return GW_EINVAL;
	int w = snprintf(out, n, "%s|%s|%s|%" PRIu32, transmission_id, transmission_time,
			 webhook_id, pay_crc32(body, len));
	if (w < 0 || (size_t)w >= n)
		return GW_EMSGSIZE;
	return w;
}

static bool host_is_loopback(const char *h, size_t n)
{
	return (n == 9 && !memcmp(h, "127.0.0.1", 9)) || (n == 9 && !memcmp(h, "localhost", 9)) ||
	       (n == 5 && !memcmp(h, "[::1]", 5));
}

bool pay_paypal_cert_url_allowed(const char *url, const char *const *hosts, size_t n_hosts,
				 bool allow_http_loopback)
{
	if (!url || strlen(url) > 1024)
		return false;
	bool https = !strncmp(url, "https://", 8);
	if (!https && strncmp(url, "http://", 7) != 0)
		return false;
	const char *h = url + (https ? 8 : 7);
	size_t hl = strcspn(h, ":/?#@\\");
	if (h[hl] == '@' || hl == 0)
		return false; /* user info: refuse, it hides the real host */
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return false;
	if (h[hl] == ':') { /* port: digits only */
		size_t pl = strspn(h + hl + 1, "0123456789");
		if (pl == 0 || (h[hl + 1 + pl] != '/' && h[hl + 1 + pl] != '\0'))
			return false;
	}
	bool lo = host_is_loopback(h, hl);
	if (!https && !(lo && allow_http_loopback))
		return false;
	for (size_t i = 0; i < n_hosts; i++)
		if (hosts[i] && strlen(hosts[i]) == hl && !strncasecmp(hosts[i], h, hl))
			return true;
	return false;
}

static int b64_decode(const char *in, uint8_t *out, size_t cap, size_t *outl)
{
	size_t n = strlen(in);
	if (n == 0 || n % 4 || n / 4 * 3 > cap)
		return -1;
	int w = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (w < 0)
		return -1;
	size_t pad = (in[n - 1] == '=') + (n > 1 && in[n - 2] == '=');
	*outl = (size_t)w - pad;
	return 0;
}

enum pay_webhook_verdict pay_paypal_verify(const char *cert_pem, size_t cert_len,
					   const char *ca_pem, size_t ca_len, const char *msg,
					   size_t msg_len, const char *sig_b64, int64_t now_s)
{
	enum pay_webhook_verdict v = PAY_WH_MALFORMED;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	BIO *b = NULL;
	uint8_t sig[1024];
	size_t sig_len;
	if (!chain || !store || !ctx || !md || !cert_pem || !ca_pem || !sig_b64 ||
	    cert_len > 65536 || ca_len > 262144 || strlen(sig_b64) > 1360 ||
	    b64_decode(sig_b64, sig, sizeof(sig), &sig_len))
		goto out;
	b = BIO_new_mem_buf(cert_pem, (int)cert_len);
	leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (!leaf)
		goto out;
	X509 *x;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			goto out;
		}
	BIO_free(b);
	b = BIO_new_mem_buf(ca_pem, (int)ca_len);
	unsigned n_ca = 0;
	while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		X509_STORE_add_cert(store, x);
		X509_free(x);
		n_ca++;
	}
	if (!n_ca)
		goto out;
	if (!X509_STORE_CTX_init(ctx, store, leaf, chain))
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now_s);
	if (X509_verify_cert(ctx) != 1) {
		v = PAY_WH_CERT_CHAIN;
		goto out;
	}
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	v = PAY_WH_BAD_SIG;
	if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		goto out;
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
	    EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)msg, msg_len) == 1)
		v = PAY_WH_OK;
out:
	BIO_free(b);
	EVP_MD_CTX_free(md);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	return v;
}
