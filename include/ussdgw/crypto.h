/** @file
 * crypto/: the only module that reads the key directory.
 *
 * Layout (directory mode 0700, files 0600, owned by the gateway's user):
 *   master.key        32 random bytes: wraps per-subscriber data keys (AES-256-GCM)
 *   msisdn-token.key  32 random bytes: HMAC-SHA256 key for MSISDN tokens
 *   audit-signing.pem Ed25519 private key (PKCS#8 PEM): signs audit checkpoints
 *   tls/              certificates and keys for SMPP and HTTP TLS (name.crt, name.key, ca.crt)
 * A directory or file readable or writable by group/others is refused (GW_EINSECURE).
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

/** Open the key directory; checks modes. @return 0, GW_EINSECURE, GW_ENOENT or GW_ECRYPTO. */
int crypto_open(const char *keydir, struct crypto_keyring **out);
/** Wipe and free the keyring (NULL allowed). */
void crypto_close(struct crypto_keyring *kr);

/** Create a new key directory with fresh keys; refuses to overwrite existing key files. */
int crypto_create_keydir(const char *keydir);

/** MSISDN token: hex of the first 16 bytes of HMAC-SHA256(token key, E.164 digits). */
int crypto_msisdn_token(const struct crypto_keyring *kr, const char *e164,
			char out[CRYPTO_TOKEN_HEX + 1]);

/** SHA-256 and HMAC-SHA256 helpers (stateless). */
void crypto_sha256(const void *data, size_t n, uint8_t out[32]);
void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, uint8_t out[32]);
/** Constant-time comparison; 1 if equal. */
int crypto_equal(const void *a, const void *b, size_t n);
/** Fill @p buf with @p n random bytes; 0 or GW_ECRYPTO. */
int crypto_random(void *buf, size_t n);
/** Random UUID v4 in canonical text form (36 chars + NUL). */
int crypto_uuid4(char out[37]);

/** Ed25519 signature by the audit signing key; @p sig receives 64 bytes. */
int crypto_sign(const struct crypto_keyring *kr, const void *msg, size_t n, uint8_t sig[64]);
/** Public half of the signing key (32 raw bytes). */
int crypto_sign_public(const struct crypto_keyring *kr, uint8_t pub[32]);
/** Verify an Ed25519 signature against a raw public key; 0 if valid, GW_ECRYPTO if not. */
int crypto_verify(const uint8_t pub[32], const void *msg, size_t n, const uint8_t sig[64]);

/** New random data key, returned wrapped under the master key. */
int crypto_dek_new(const struct crypto_keyring *kr, uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN]);
/**
 * AES-256-GCM under the data key in @p wrapped, with @p aad bound in.
 * @p out must hold n + CRYPTO_SEAL_OVERHEAD bytes; *out_len receives the size.
 */
int crypto_seal(const struct crypto_keyring *kr, const uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN],
		const void *aad, size_t aad_len, const void *pt, size_t n, uint8_t *out,
		size_t *out_len);
/** Inverse of crypto_seal(); GW_ECRYPTO when the tag does not verify. */
int crypto_open_sealed(const struct crypto_keyring *kr,
		       const uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN], const void *aad,
		       size_t aad_len, const uint8_t *ct, size_t n, uint8_t *out, size_t *out_len);

/** TLS contexts built from tls/ in the key directory (caller frees with SSL_CTX_free). */
int crypto_tls_server_ctx(const struct crypto_keyring *kr, const char *name, SSL_CTX **out);
/** Client context: verifies the peer against @p ca_file (path, may be outside the key dir, or
 *  NULL for tls/ca.crt); presents tls/<client_name>.crt/.key when @p client_name is not NULL. */
int crypto_tls_client_ctx(const struct crypto_keyring *kr, const char *ca_file,
			  const char *client_name, SSL_CTX **out);

#endif
