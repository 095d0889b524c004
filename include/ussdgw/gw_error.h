/** @file
 * Error codes: 0 on success, negative on failure. Codes reuse -errno where one
 * fits; domain codes live below -1000. The table is src/core/error_codes.def,
 * the one registry of externally visible codes (HTTP status and hint).
 */
#ifndef USSDGW_GW_ERROR_H
#define USSDGW_GW_ERROR_H

#include <errno.h>

enum gw_error {
#define X(sym, val, http, slug, hint) sym = (val),
#include "../../src/core/error_codes.def"
#undef X
};

/** @return a short human text for @p err (never NULL; static storage). */
const char *gw_strerror(int err);
/** @return the symbolic name (e.g. "GW_EINVAL"), or "GW_E?" for an unknown code. */
const char *gw_errname(int err);
/** @return the stable slug used in problem bodies ("invalid-argument"). */
const char *gw_errslug(int err);
/** @return the HTTP status that represents @p err (500 when unknown). */
int gw_errhttp(int err);

#endif
