/** @file
 * crypto/: the only module that reads the key directory.
 *
 * Layout (directory mode 0700, files 0600, owned by the gateway's user):
 *   master.key        32 random bytes as 64 hex digits + newline: wraps per-subscriber
 *                     data keys (AES-256-GCM)
 *   msisdn-token.key  32 random bytes as 64 hex digits + newline: HMAC-SHA256 key for
 *                     MSISDN tokens
 *   audit-signing.pem Ed25519 private key (PKCS#8 PEM): signs audit checkpoints
 *   tls/              certificates and keys for SMPP and HTTP TLS (name.crt, name.key, ca.crt)
 * A directory or file readable or writable by group/others, owned by another user, or a
 * symbolic link inside the directory is refused (GW_EINSECURE); the log names the file.
 *
 * Ownership: crypto_open() returns a keyring the caller owns and frees with
 * crypto_close(), which wipes the key material. The keyring is read-only after
 * crypto_open(), so the const functions may run on worker threads. Every
 * function returns 0 or a negative GW_E* code unless stated otherwise.
 */
#ifndef USSDGW_CRYPTO_H
#define USSDGW_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct crypto_keyring;

/** Hex characters in an MSISDN token (128 bits of HMAC-SHA256). */
#define CRYPTO_TOKEN_HEX 32
/** Bytes of a wrapped data key: 12 IV + 32 key + 16 tag. */
#define CRYPTO_WRAPPED_DEK_LEN 60
/** Overhead added by crypto_seal(): 1 version + 12 IV + 16 tag. */
#define CRYPTO_SEAL_OVERHEAD 29

/**
 * Open the key directory; checks modes of everything in it (crypto_check_keydir()).
 * Installs the log's MSISDN tokeniser: log_msisdn() then prints "t:" and the first
 * 12 hex digits of crypto_msisdn_token(), so log lines can be matched to audit tokens.
 * @return 0, GW_EINSECURE, GW_ENOENT or GW_ECRYPTO.
 */
int crypto_open(const char *keydir, struct crypto_keyring **out);
/** Wipe and free the keyring (NULL allowed); uninstalls its log tokeniser. */
void crypto_close(struct crypto_keyring *kr);
/** The key directory path the keyring was opened from (owned by @p kr). */
const char *crypto_keydir(const struct crypto_keyring *kr);

/**
 * Create a new key directory with fresh keys (and an empty tls/). The directory is
 * created with mode 0700 when missing; an existing one must already be 0700 and owned
 * by us. Refuses to overwrite existing key files (GW_EEXIST), writing nothing.
 */
int crypto_create_keydir(const char *keydir);

/**
 * Called by crypto_check_keydir() for each offending path: @p err is GW_EINSECURE
 * (mode, owner, symlink), GW_ENOENT (required key file missing) or GW_EIO;
 * @p why is one line of text.
 */
typedef void (*crypto_check_cb)(void *cls, const char *path, int err, const char *why);
/**
 * Check the key directory without loading keys: the directory and tls/ are 0700 (no
 * group/other bits), every file has no group/other bits, everything is owned by the
 * effective user, no symlinks inside, and the three key files exist. Each problem is
 * logged (naming the file) and reported to @p cb (may be NULL).
 * @return 0 when all is well, else the first error found.
 */
int crypto_check_keydir(const char *keydir, crypto_check_cb cb, void *cls);

/**
 * MSISDN token: hex of the first 16 bytes of HMAC-SHA256(token key, E.164 digits).
 * @p e164 must be the canonical form (msisdn.h: 7..15 digits, no '+'); GW_EINVAL if not.
 */
int crypto_msisdn_token(const struct crypto_keyring *kr, const char *e164,
			char out[CRYPTO_TOKEN_HEX + 1]);

/** SHA-256 and HMAC-SHA256 helpers (stateless). */
void crypto_sha256(const void *data, size_t n, uint8_t out[32]);
void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, uint8_t out[32]);
/** Constant-time comparison; 1 if equal. */
int crypto_equal(const void *a, const void *b, size_t n);
/** Fill @p buf with @p n random bytes; 0 or GW_ECRYPTO. */
int crypto_random(void *buf, size_t n);
/** Random UUID v4 in canonical text form (36 chars + NUL), lower-case hex. */
int crypto_uuid4(char out[37]);
/** Lower-case hex of @p n bytes into @p out (2n + 1 bytes). */
void crypto_hex(const void *in, size_t n, char *out);
/** Decode exactly @p n bytes from 2n hex digits; GW_EINVAL on any other input. */
int crypto_unhex(const char *hex, uint8_t *out, size_t n);

/** Ed25519 signature by the audit signing key; @p sig receives 64 bytes. */
int crypto_sign(const struct crypto_keyring *kr, const void *msg, size_t n, uint8_t sig[64]);
/** Public half of the signing key (32 raw bytes). */
int crypto_sign_public(const struct crypto_keyring *kr, uint8_t pub[32]);
/** Verify an Ed25519 signature against a raw public key; 0 if valid, GW_ECRYPTO if not. */
int crypto_verify(const uint8_t pub[32], const void *msg, size_t n, const uint8_t sig[64]);

/**
 * Envelope encryption. A data key (DEK) per subject is AES-256-GCM-wrapped under the
 * master key (12 IV | 32 encrypted key | 16 tag; the label "ussdgw-dek-v1" is bound in
 * as AAD). Destroying the wrapped DEK erases everything sealed under it.
 *
 * Sealed format, version 1:  0x01 | 12 IV | ciphertext (n) | 16 tag,
 * AES-256-GCM under the DEK with AAD = version byte || caller's AAD. IVs are random.
 */
#define CRYPTO_SEAL_VERSION 1

/** New random data key, returned wrapped under the master key. */
int crypto_dek_new(const struct crypto_keyring *kr, uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN]);
/**
 * AES-256-GCM under the data key in @p wrapped, with @p aad bound in.
 * @p out must hold n + CRYPTO_SEAL_OVERHEAD bytes; *out_len receives the size.
 */
int crypto_seal(const struct crypto_keyring *kr, const uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN],
		const void *aad, size_t aad_len, const void *pt, size_t n, uint8_t *out,
		size_t *out_len);
/**
 * Inverse of crypto_seal(); @p out must hold n - CRYPTO_SEAL_OVERHEAD bytes.
 * @return GW_ECRYPTO when the wrapped key or the tag does not verify (wrong key,
 * tampered bytes, other AAD; @p out is wiped), GW_ENOTSUP for an unknown version,
 * GW_EINVAL when @p n is shorter than the overhead.
 */
int crypto_open_sealed(const struct crypto_keyring *kr,
		       const uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN], const void *aad,
		       size_t aad_len, const uint8_t *ct, size_t n, uint8_t *out, size_t *out_len);

/**
 * TLS contexts built from tls/ in the key directory (caller frees with SSL_CTX_free).
 * TLS 1.2 minimum, AEAD ECDHE suites only for 1.2, no renegotiation. @p name is a plain
 * file stem ([A-Za-z0-9._-], not starting with '.'): tls/<name>.crt (chain, leaf first)
 * and tls/<name>.key.
 */
int crypto_tls_server_ctx(const struct crypto_keyring *kr, const char *name, SSL_CTX **out);
/**
 * Make a server context demand and verify client certificates (mutual TLS) against
 * @p ca_file (NULL for tls/ca.crt in the key directory).
 */
int crypto_tls_server_require_client(const struct crypto_keyring *kr, SSL_CTX *ctx,
				     const char *ca_file);
/** Client context: verifies the peer against @p ca_file (path, may be outside the key dir, or
 *  NULL for tls/ca.crt); presents tls/<client_name>.crt/.key when @p client_name is not NULL.
 *  Peer verification is always on. */
int crypto_tls_client_ctx(const struct crypto_keyring *kr, const char *ca_file,
			  const char *client_name, SSL_CTX **out);
/**
 * New client connection object from a client context, with the peer name to verify:
 * @p host is a DNS name (also sent as SNI) or an IPv4/IPv6 literal, checked against the
 * certificate's subjectAltName. The caller attaches the socket (SSL_set_fd) and frees it.
 */
int crypto_tls_client_new(SSL_CTX *ctx, const char *host, SSL **out);

/**
 * Issue a TLS certificate for tls/<name>.crt + tls/<name>.key (ECDSA P-256, 825 days,
 * serverAuth + clientAuth) signed by the CA tls/<ca_name>.crt/.key (NULL: "ca"),
 * creating a self-signed CA (10 years) first when both CA files are missing. @p sans is
 * a comma-separated list of DNS names and IP literals (NULL: "localhost,127.0.0.1").
 * Refuses to overwrite tls/<name>.* (GW_EEXIST). For dev stacks, tests and demos;
 * production certificates come from the operator's own CA.
 */
int crypto_tls_issue(const char *keydir, const char *name, const char *ca_name, const char *sans);

#endif
