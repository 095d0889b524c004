#include "ussdgw/gw_error.h"

#include <stddef.h>

struct gw_error_row {
	int code;
	int http;
	const char *name;
	const char *slug;
	const char *hint;
};

static const struct gw_error_row rows[] = {
#define X(sym, val, http, slug, hint) {(val), (http), #sym, (slug), (hint)},
#include "error_codes.def"
#undef X
};

static const struct gw_error_row *find(int err)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].code == err)
			return &rows[i];
	return NULL;
}

const char *gw_strerror(int err)
{
	const struct gw_error_row *r = find(err);
	return r ? r->hint : "unknown error";
}

const char *gw_errname(int err)
{
	const struct gw_error_row *r = find(err);
	return r ? r->name : "GW_E?";
}

const char *gw_errslug(int err)
{
	const struct gw_error_row *r = find(err);
	return r ? r->slug : "internal";
}

int gw_errhttp(int err)
{
	const struct gw_error_row *r = find(err);
	return r ? r->http : 500;
}
