/* Helpers shared by the Stripe, PayPal and MoMo clients. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "pay_int.h"
#include "ussdgw/clock.h"
#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/http_client.h"
#include "ussdgw/log.h"
#include "ussdgw/secfile.h"

int pay_base_url(const char *name, const char *url, char *out, size_t n, bool *loopback)
{
	bool https = url && !strncmp(url, "https://", 8);
	const char *h = !url			      ? NULL
			: https			      ? url + 8
			: !strncmp(url, "http://", 7) ? url + 7
						      : NULL;
	bool lo = h && (!strncmp(h, "127.0.0.1", 9) || !strncmp(h, "localhost", 9) ||
			!strncmp(h, "[::1]", 5));
	if (!h || strlen(url) >= n || (!https && !lo)) {
		LOGP(DPAY, LOG_ERROR,
		     "providers.%s.base_url: an https:// URL (plain http only on loopback)", name);
		return GW_ECONFIG;
	}
	snprintf(out, n, "%s", url);
	size_t l = strlen(out);
	if (l && out[l - 1] == '/')
		out[l - 1] = '\0';
	*loopback = lo;
	return 0;
}

int pay_read_secret(const char *path, char **out, size_t *len)
{
	if (!path || !*path)
		return GW_EINVAL;
	int rc = secfile_read(path, out, len);
	if (rc)
		return rc;
	while (*len && ((*out)[*len - 1] == '\n' || (*out)[*len - 1] == '\r'))
		(*out)[--*len] = '\0';
	return *len ? 0 : GW_EINVAL;
}

double pay_backoff_s(unsigned n)
{
	double base = 0.5;
	for (unsigned i = 0; i < n && base < 5.0; i++)
		base *= 2;
	if (base > 5.0)
		base = 5.0;
	uint32_t r = 0;
	crypto_random(&r, sizeof(r));
	return base / 2 + (base / 2) * ((double)r / 4294967296.0);
}

bool pay_jcopy(json_t *o, const char *key, char *out, size_t n)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || json_string_length(v) >= n)
		return false;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return true;
}

void pay_result_detach(struct pay_result *r, struct pay_result_strings *k)
{
	snprintf(k->ref, sizeof(k->ref), "%s", r->provider_ref ? r->provider_ref : "");
	snprintf(k->code, sizeof(k->code), "%s", r->result_code ? r->result_code : "");
	snprintf(k->desc, sizeof(k->desc), "%s", r->result_desc ? r->result_desc : "");
	snprintf(k->receipt, sizeof(k->receipt), "%s", r->receipt ? r->receipt : "");
	snprintf(k->link, sizeof(k->link), "%s", r->customer_link ? r->customer_link : "");
	r->provider_ref = k->ref;
	r->result_code = k->code;
	r->result_desc = k->desc;
	r->receipt = k->receipt[0] ? k->receipt : NULL;
	r->customer_link = k->link[0] ? k->link : NULL;
}

int pay_token_answer(const char *name, const struct http_result *res, long long early_s,
		     char *token, size_t token_sz, int64_t *expires_ms)
{
	int err = res->err;
	if (!err && res->status != 200) {
		LOGP(DPAY, LOG_ERROR, "%s: token endpoint answered %ld", name, res->status);
		err = res->status == 401 ? GW_EPERM : GW_EPEER_STATUS;
	}
	if (err) {
		token[0] = '\0';
		return err;
	}
	json_t *j = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, NULL);
	json_t *ei = json_object_get(j, "expires_in");
	long long exp = json_is_integer(ei) ? json_integer_value(ei) : -1;
	if (!pay_jcopy(j, "access_token", token, token_sz) || !token[0] || exp <= 0) {
		err = GW_EPROTO_MALFORMED;
		token[0] = '\0';
	} else {
		long long margin = exp > 600 ? early_s : exp / 10;
		*expires_ms = gw_now_ms() + (exp - margin) * 1000;
	}
	json_decref(j);
	return err;
}

int pay_form_escape(const char *v, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			if (o + 1 >= n)
				return GW_EMSGSIZE;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= n)
				return GW_EMSGSIZE;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= n)
		return GW_EMSGSIZE;
	out[o] = '\0';
	return 0;
}
