/** @file
 * Password hashes for SMPP server accounts: scrypt (OpenSSL EVP_PBE_scrypt)
 * stored as a PHC-like string
 *
 *   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt, hex>$<hash, hex>
 *
 * Verification is deliberately slow (tens of milliseconds, MiBs of memory):
 * call passwd_verify() on the worker pool (workers.h), never on the loop.
 * Everything here is thread-safe and allocates nothing the caller must free.
 */
#ifndef USSDGW_PASSWD_H
#define USSDGW_PASSWD_H

#include <stddef.h>

/** Default cost: N = 2^14, r = 8, p = 1 (16 MiB, ~30-60 ms on the dev VM). */
#define PASSWD_DEFAULT_LN 14u
/** Largest accepted cost, so a stored string cannot make verification unbounded. */
#define PASSWD_MAX_LN 20u
/** Enough room for any string passwd_hash() writes. */
#define PASSWD_HASH_MAX 160u

/**
 * Hash @p pw (@p len bytes) with a fresh 16-byte salt and cost 2^@p ln.
 * @return 0, GW_EINVAL (ln out of range, cap too small), GW_ECRYPTO
 */
int passwd_hash(const char *pw, size_t len, unsigned ln, char *out, size_t cap);

/**
 * Check @p pw against a stored string, in constant time over the hash.
 * @return 0 (match), GW_EPERM (no match), GW_EINVAL (the stored string is not a
 *   hash this module reads, or its cost is over PASSWD_MAX_LN), GW_ECRYPTO
 */
int passwd_verify(const char *stored, const char *pw, size_t len);

/** @return 0 when @p stored parses as a hash (for config checks), else GW_EINVAL. */
int passwd_check_format(const char *stored);

#endif
