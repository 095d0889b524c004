/* Fuzz target for the receipt text parser and the message id normaliser:
 * whatever the bytes, the parser terminates, its strings are NUL-terminated
 * and bounded, a found id normalises to forms that all normalise to
 * themselves (idempotent primary form), and every form fits its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/smpp_dlr.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smpp_dlr d;
	int rc = smpp_dlr_parse_text((const char *)data, size, &d);
	CHECK(rc == 0 || rc == GW_ENOENT);
	CHECK(memchr(d.id, '\0', sizeof(d.id)) != NULL);
	CHECK(memchr(d.stat, '\0', sizeof(d.stat)) != NULL);
	CHECK(memchr(d.submit_date, '\0', sizeof(d.submit_date)) != NULL);
	CHECK(memchr(d.done_date, '\0', sizeof(d.done_date)) != NULL);
	CHECK(d.state <= SMPP_STATE_REJECTED);
	CHECK(d.err >= -1);
	CHECK((rc == 0) == (d.id[0] != '\0'));
	struct smpp_dlr_ids ids, again;
	if (rc == 0 && smpp_dlr_normalise(d.id, strlen(d.id), &ids) == 0) {
		CHECK(ids.n >= 1 && ids.n <= 3);
		for (unsigned i = 0; i < ids.n; i++)
			CHECK(memchr(ids.id[i], '\0', sizeof(ids.id[i])) != NULL && ids.id[i][0]);
		CHECK(smpp_dlr_normalise(ids.id[0], strlen(ids.id[0]), &again) == 0);
		CHECK(strcmp(again.id[0], ids.id[0]) == 0);
	}
	/* The normaliser on raw bytes too. */
	if (smpp_dlr_normalise((const char *)data, size, &ids) == 0)
		CHECK(ids.n >= 1 && ids.n <= 3);
	return 0;
}
