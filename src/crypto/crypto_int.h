/** @file
 * Helpers shared by crypto.c (keyring, primitives, TLS) and crypto_keys.c (key
 * directory creation, checks, certificate issuing). Not a public API.
 */
#ifndef USSDGW_CRYPTO_INT_H
#define USSDGW_CRYPTO_INT_H

#include <stdbool.h>
#include <stddef.h>

#define CRYPTO_MASTER_FILE  "master.key"
#define CRYPTO_TOKEN_FILE   "msisdn-token.key"
#define CRYPTO_SIGNING_FILE "audit-signing.pem"
#define CRYPTO_TLS_DIR	    "tls"

/** Longest path built inside the key directory. */
#define CRYPTO_PATH_MAX 4096

/**
 * Check one path in the key directory: a directory (@p want_dir) or a regular file,
 * owned by the effective user, no group/other permission bits, not a symlink (lstat).
 * On failure writes one line into @p why. @return 0, GW_ENOENT, GW_EINSECURE or GW_EIO.
 */
int crypto_path_check(const char *path, bool want_dir, char *why, size_t whysz);

/** Path check plus a bounded read through secfile_read(); logs and names the file. */
int crypto_keyfile_read(const char *path, char **buf, size_t *len);

/** Create @p path with mode 0600 (O_EXCL, no symlink follow), write, fsync. */
int crypto_file_create(const char *path, const void *data, size_t n);

/** snprintf a path "<a>/<b>[/<c>]"; GW_EINVAL when it does not fit. */
int crypto_path_join(char *out, size_t outsz, const char *a, const char *b, const char *c);

/** True when @p name is a plain file stem: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
bool crypto_name_ok(const char *name);

#endif
