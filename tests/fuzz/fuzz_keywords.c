/* The keyword normaliser and matcher read every MO SMS text a subscriber sends.
 * Input: byte 0 picks the short code, the rest is the text. Checks: the
 * normalised text is idempotent (folding it again changes nothing), holds no
 * lower-case ASCII and no double or edge spaces; a match's argument offset lies
 * inside the text; a matched word is a prefix of the normalised text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/sms_keywords.h"

static const char kw_file[] =
    "{\"shortcodes\": {"
    " \"384\": {\"service\": \"wallet\", \"keywords\": ["
    "  {\"keyword\": \"BAL\", \"aliases\": [\"BALANCE\", \"SALIO\", \"SOLDE\"], \"menu\": "
    "\"smsbal\"},"
    "  {\"keyword\": \"CAFÉ\", \"aliases\": [\"KAHAWA\"], \"reply\": \"Coffee\"},"
    "  {\"keyword\": \"JOIN CLUB\", \"forward\": \"crm\"},"
    "  {\"keyword\": \"OPTOUT NOW\", \"builtin\": \"stop\"}]},"
    " \"*\": {}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sms_keywords *k;
	if (!k && sms_keywords_load_buffer(kw_file, sizeof(kw_file) - 1, &k, NULL, 0) != 0)
		abort();
	if (size < 1)
		return 0;
	const char *code = (data[0] & 1) ? "384" : "999";
	const char *text = (const char *)data + 1;
	size_t len = size - 1;

	char a[SMS_KW_TEXT_MAX], b[SMS_KW_TEXT_MAX];
	size_t take = len < 600 ? len : 600;
	long n = sms_kw_normalize(text, take, a, sizeof(a));
	if (n < 0 || (size_t)n != strlen(a))
		abort();
	long n2 = sms_kw_normalize(a, (size_t)n, b, sizeof(b));
	if (n2 != n || memcmp(a, b, (size_t)n) != 0)
		abort();
	for (long i = 0; i < n; i++) {
		if (a[i] >= 'a' && a[i] <= 'z')
			abort();
		if (a[i] == ' ' && (i == 0 || i == n - 1 || a[i + 1] == ' '))
			abort();
	}

	struct sms_kw_match m;
	if (sms_keywords_match(k, code, text, len, &m) != 0)
		abort();
	if (m.args_off > len)
		abort();
	if (m.entry) {
		size_t wl = strlen(m.word);
		if (memcmp(a, m.word, wl) != 0 && take == len)
			abort();
	}
	char out[512];
	size_t r = sms_kw_code_render(m.code, SMS_KW_TEXT_UNKNOWN, m.first, out, sizeof(out));
	if (r >= sizeof(out) || strlen(out) != r)
		abort();
	return 0;
}
