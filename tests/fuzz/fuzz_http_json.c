/* Fuzz the JSON request-body parser (spec tables over jansson) with a spec
 * that uses every field type, nested strictness included. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/http_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msisdn = NULL, *ref = NULL, *note = NULL;
	int64_t amount = 0, retries = 0;
	char currency[4] = "";
	bool urgent = false, note_present = false;
	json_t *extra = NULL;
	struct http_json_spec meta[] = {
	    HTTP_JSON_STRING("ref", &ref, 16),
	    HTTP_JSON_BOOL("urgent", &urgent),
	    HTTP_JSON_END,
	};
	meta[1].optional = true;
	struct http_json_spec spec[] = {
	    HTTP_JSON_STRING("msisdn", &msisdn, 15),  HTTP_JSON_AMOUNT("amount", &amount),
	    HTTP_JSON_CURRENCY("currency", currency), HTTP_JSON_STRING("note", &note, 0),
	    HTTP_JSON_OBJECT("meta", meta),	      HTTP_JSON_ANY("extra", &extra),
	    HTTP_JSON_INT("retries", &retries, 0, 5), HTTP_JSON_END,
	};
	for (size_t i = 3; i < 7; i++)
		spec[i].optional = true;
	spec[3].present = &note_present;

	struct http_json_limits lims[] = {{0, 0}, {4096, 3}};
	for (size_t l = 0; l < 2; l++) {
		json_t *root = NULL;
		char err[200];
		int rc = http_json_parse((const char *)data, size, spec, &lims[l], &root, err,
					 sizeof(err));
		if (rc == 0) {
			/* Everything the spec promised must hold on success. */
			if (!root || !msisdn || strlen(msisdn) > 15 || amount < 0 ||
			    strlen(currency) != 3 || (note_present && !note) || retries < 0 ||
			    retries > 5)
				__builtin_trap();
			json_decref(root);
		} else if (root || !err[0] ||
			   (rc != GW_EINVAL && rc != GW_EPROTO_MALFORMED && rc != GW_EMSGSIZE)) {
			__builtin_trap();
		}
	}
	return 0;
}
