/* crypto/: keyring, primitives (OpenSSL 3 EVP only), envelope encryption,
 * Ed25519 signatures and TLS contexts. Key directory creation, checks and
 * certificate issuing live in crypto_keys.c. */
#include "ussdgw/crypto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "crypto/crypto_int.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/secfile.h"

#define KEY_LEN	  32
#define IV_LEN	  12
#define TAG_LEN	  16
#define DEK_LABEL "ussdgw-dek-v1"

struct crypto_keyring {
	uint8_t master[KEY_LEN];
	uint8_t token_key[KEY_LEN];
	EVP_PKEY *sign_key;
	char *dir;
};

/* The keyring whose token key log_msisdn() uses. log.h's tokeniser hook takes no
 * context pointer, so this one pointer is process state, set by crypto_open() and
 * cleared by crypto_close() of the same keyring. */
static const struct crypto_keyring *log_keyring;

/* Log and drain OpenSSL's error queue for this thread. */
static void log_ossl(const char *what)
{
	unsigned long e;
	char buf[256];
	int any = 0;
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		LOGP(DCRYPTO, LOG_ERROR, "%s: %s", what, buf);
		any = 1;
	}
	if (!any)
		LOGP(DCRYPTO, LOG_ERROR, "%s failed", what);
}

/* ---- stateless helpers ---- */

void crypto_hex(const void *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int crypto_unhex(const char *hex, uint8_t *out, size_t n)
{
	if (!hex || strlen(hex) != 2 * n)
		return GW_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(out, i);
			return GW_EINVAL;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void crypto_sha256(const void *data, size_t n, uint8_t out[32])
{
	unsigned int len = 0;
	if (!EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) || len != 32) {
		/* Only an allocation failure inside OpenSSL gets here; there is no safe
		 * value to return through a void interface. */
		log_ossl("SHA-256");
		abort();
	}
}

void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, uint8_t out[32])
{
	static const uint8_t empty[1];
	size_t len = 0;
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, klen ? key : empty, klen,
		       n ? data : empty, n, out, 32, &len) ||
	    len != 32) {
		log_ossl("HMAC-SHA256");
		abort();
	}
}

int crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int crypto_random(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, chunk) != 1) {
			log_ossl("RAND_bytes");
			return GW_ECRYPTO;
		}
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

int crypto_uuid4(char out[37])
{
	uint8_t b[16];
	int rc = crypto_random(b, sizeof(b));
	if (rc)
		return rc;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
	char hex[33];
	crypto_hex(b, sizeof(b), hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

/* ---- keyring ---- */

static int read_hex_key(const char *dir, const char *file, uint8_t key[KEY_LEN])
{
	char path[CRYPTO_PATH_MAX];
	int rc = crypto_path_join(path, sizeof(path), dir, file, NULL);
	if (rc)
		return rc;
	char *buf = NULL;
	size_t len = 0;
	rc = crypto_keyfile_read(path, &buf, &len);
	if (rc)
		return rc;
	rc = crypto_unhex(buf, key, KEY_LEN);
	secfile_free(buf, len);
	if (rc) {
		LOGP(DCRYPTO, LOG_ERROR, "%s: not a key (want %d hex digits)", path, 2 * KEY_LEN);
		return GW_ECRYPTO;
	}
	return 0;
}

static EVP_PKEY *pem_private_key(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	if (crypto_keyfile_read(path, &buf, &len))
		return NULL;
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	secfile_free(buf, len);
	if (!pk)
		log_ossl(path);
	return pk;
}

static int load_signing_key(struct crypto_keyring *kr)
{
	char path[CRYPTO_PATH_MAX];
	int rc = crypto_path_join(path, sizeof(path), kr->dir, CRYPTO_SIGNING_FILE, NULL);
	if (rc)
		return rc;
	struct stat st;
	if (lstat(path, &st) != 0)
		return GW_ENOENT;
	kr->sign_key = pem_private_key(path);
	if (!kr->sign_key)
		return GW_ECRYPTO;
	if (!EVP_PKEY_is_a(kr->sign_key, "ED25519")) {
		LOGP(DCRYPTO, LOG_ERROR, "%s: not an Ed25519 key", path);
		return GW_ECRYPTO;
	}
	return 0;
}

static void log_tokenizer(const char *msisdn, char *out, size_t outsz)
{
	const struct crypto_keyring *kr = log_keyring;
	char tok[CRYPTO_TOKEN_HEX + 1];
	if (!kr) {
		snprintf(out, outsz, "-");
		return;
	}
	if (crypto_msisdn_token(kr, msisdn, tok) != 0) {
		/* Not canonical (a sender id, a raw address): still a keyed hash, never
		 * the text itself. */
		uint8_t mac[32];
		crypto_hmac_sha256(kr->token_key, KEY_LEN, msisdn, strlen(msisdn), mac);
		crypto_hex(mac, 16, tok);
		snprintf(out, outsz, "t?:%.12s", tok);
		return;
	}
	snprintf(out, outsz, "t:%.12s", tok);
}

int crypto_open(const char *keydir, struct crypto_keyring **out)
{
	*out = NULL;
	int rc = crypto_check_keydir(keydir, NULL, NULL);
	if (rc)
		return rc;
	struct crypto_keyring *kr = OPENSSL_zalloc(sizeof(*kr));
	if (!kr)
		return GW_ENOMEM;
	kr->dir = OPENSSL_strdup(keydir);
	if (!kr->dir) {
		crypto_close(kr);
		return GW_ENOMEM;
	}
	if ((rc = read_hex_key(keydir, CRYPTO_MASTER_FILE, kr->master)) ||
	    (rc = read_hex_key(keydir, CRYPTO_TOKEN_FILE, kr->token_key)) ||
	    (rc = load_signing_key(kr))) {
		crypto_close(kr);
		return rc;
	}
	log_keyring = kr;
	log_set_msisdn_tokenizer(log_tokenizer);
	LOGP(DCRYPTO, LOG_INFO, "key directory %s opened", keydir);
	*out = kr;
	return 0;
}

void crypto_close(struct crypto_keyring *kr)
{
	if (!kr)
		return;
	if (log_keyring == kr) {
		log_set_msisdn_tokenizer(NULL);
		log_keyring = NULL;
	}
	EVP_PKEY_free(kr->sign_key);
	OPENSSL_free(kr->dir);
	OPENSSL_clear_free(kr, sizeof(*kr));
}

const char *crypto_keydir(const struct crypto_keyring *kr)
{
	return kr->dir;
}

int crypto_msisdn_token(const struct crypto_keyring *kr, const char *e164,
			char out[CRYPTO_TOKEN_HEX + 1])
{
	size_t n = e164 ? strlen(e164) : 0;
	if (n < 7 || n > 15 || e164[0] == '0')
		return GW_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (e164[i] < '0' || e164[i] > '9')
			return GW_EINVAL;
	uint8_t mac[32];
	crypto_hmac_sha256(kr->token_key, KEY_LEN, e164, n, mac);
	crypto_hex(mac, CRYPTO_TOKEN_HEX / 2, out);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/* ---- signatures ---- */

int crypto_sign(const struct crypto_keyring *kr, const void *msg, size_t n, uint8_t sig[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t siglen = 64;
	int ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, kr->sign_key) == 1 &&
		 EVP_DigestSign(md, sig, &siglen, msg, n) == 1 && siglen == 64;
	EVP_MD_CTX_free(md);
	if (!ok) {
		log_ossl("Ed25519 sign");
		return GW_ECRYPTO;
	}
	return 0;
}

int crypto_sign_public(const struct crypto_keyring *kr, uint8_t pub[32])
{
	size_t len = 32;
	if (EVP_PKEY_get_raw_public_key(kr->sign_key, pub, &len) != 1 || len != 32) {
		log_ossl("Ed25519 public key");
		return GW_ECRYPTO;
	}
	return 0;
}

int crypto_verify(const uint8_t pub[32], const void *msg, size_t n, const uint8_t sig[64])
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *md = pk ? EVP_MD_CTX_new() : NULL;
	int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
		 EVP_DigestVerify(md, sig, 64, msg, n) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	/* A bad signature leaves an entry in the error queue; it is an answer, not a
	 * failure to log. */
	ERR_clear_error();
	return ok ? 0 : GW_ECRYPTO;
}

/* ---- AES-256-GCM ---- */

/* Encrypt @p n bytes of @p pt under @p key/@p iv with AAD parts @p a1 and @p a2;
 * writes the ciphertext to @p ct and the tag to @p tag. */
static int gcm_encrypt(const uint8_t key[KEY_LEN], const uint8_t iv[IV_LEN], const void *a1,
		       size_t a1n, const void *a2, size_t a2n, const uint8_t *pt, size_t n,
		       uint8_t *ct, uint8_t tag[TAG_LEN])
{
	if (n > INT_MAX || a1n > INT_MAX || a2n > INT_MAX)
		return GW_EMSGSIZE;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) == 1;
	if (ok && a1n)
		ok = EVP_EncryptUpdate(c, NULL, &len, a1, (int)a1n) == 1;
	if (ok && a2n)
		ok = EVP_EncryptUpdate(c, NULL, &len, a2, (int)a2n) == 1;
	if (ok && n)
		ok = EVP_EncryptUpdate(c, ct, &len, pt, (int)n) == 1 && (size_t)len == n;
	if (ok)
		ok = EVP_EncryptFinal_ex(c, ct + n, &len) == 1 && len == 0;
	if (ok)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		log_ossl("AES-256-GCM encrypt");
		return GW_ECRYPTO;
	}
	return 0;
}

/* Inverse of gcm_encrypt(); GW_ECRYPTO when the tag does not verify (out wiped). */
static int gcm_decrypt(const uint8_t key[KEY_LEN], const uint8_t iv[IV_LEN], const void *a1,
		       size_t a1n, const void *a2, size_t a2n, const uint8_t *ct, size_t n,
		       const uint8_t tag[TAG_LEN], uint8_t *pt)
{
	if (n > INT_MAX || a1n > INT_MAX || a2n > INT_MAX)
		return GW_EMSGSIZE;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) == 1;
	if (ok && a1n)
		ok = EVP_DecryptUpdate(c, NULL, &len, a1, (int)a1n) == 1;
	if (ok && a2n)
		ok = EVP_DecryptUpdate(c, NULL, &len, a2, (int)a2n) == 1;
	if (ok && n)
		ok = EVP_DecryptUpdate(c, pt, &len, ct, (int)n) == 1 && (size_t)len == n;
	if (ok)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)tag) == 1;
	int verified = ok && EVP_DecryptFinal_ex(c, pt + n, &len) == 1;
	EVP_CIPHER_CTX_free(c);
	ERR_clear_error();
	if (!verified) {
		OPENSSL_cleanse(pt, n);
		return GW_ECRYPTO;
	}
	return 0;
}

int crypto_dek_new(const struct crypto_keyring *kr, uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN])
{
	uint8_t dek[KEY_LEN];
	int rc = crypto_random(wrapped, IV_LEN);
	if (!rc)
		rc = crypto_random(dek, sizeof(dek));
	if (!rc)
		rc = gcm_encrypt(kr->master, wrapped, DEK_LABEL, strlen(DEK_LABEL), NULL, 0, dek,
				 KEY_LEN, wrapped + IV_LEN, wrapped + IV_LEN + KEY_LEN);
	OPENSSL_cleanse(dek, sizeof(dek));
	return rc;
}

static int dek_unwrap(const struct crypto_keyring *kr,
		      const uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN], uint8_t dek[KEY_LEN])
{
	return gcm_decrypt(kr->master, wrapped, DEK_LABEL, strlen(DEK_LABEL), NULL, 0,
			   wrapped + IV_LEN, KEY_LEN, wrapped + IV_LEN + KEY_LEN, dek);
}

int crypto_seal(const struct crypto_keyring *kr, const uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN],
		const void *aad, size_t aad_len, const void *pt, size_t n, uint8_t *out,
		size_t *out_len)
{
	uint8_t dek[KEY_LEN];
	int rc = dek_unwrap(kr, wrapped, dek);
	if (rc)
		return rc;
	const uint8_t ver = CRYPTO_SEAL_VERSION;
	out[0] = ver;
	rc = crypto_random(out + 1, IV_LEN);
	if (!rc)
		rc = gcm_encrypt(dek, out + 1, &ver, 1, aad, aad_len, pt, n, out + 1 + IV_LEN,
				 out + 1 + IV_LEN + n);
	OPENSSL_cleanse(dek, sizeof(dek));
	if (!rc)
		*out_len = n + CRYPTO_SEAL_OVERHEAD;
	return rc;
}

int crypto_open_sealed(const struct crypto_keyring *kr,
		       const uint8_t wrapped[CRYPTO_WRAPPED_DEK_LEN], const void *aad,
		       size_t aad_len, const uint8_t *ct, size_t n, uint8_t *out, size_t *out_len)
{
	if (n < CRYPTO_SEAL_OVERHEAD)
		return GW_EINVAL;
	if (ct[0] != CRYPTO_SEAL_VERSION)
		return GW_ENOTSUP;
	uint8_t dek[KEY_LEN];
	int rc = dek_unwrap(kr, wrapped, dek);
	if (rc)
		return rc;
	size_t m = n - CRYPTO_SEAL_OVERHEAD;
	rc = gcm_decrypt(dek, ct + 1, ct, 1, aad, aad_len, ct + 1 + IV_LEN, m, ct + 1 + IV_LEN + m,
			 out);
	OPENSSL_cleanse(dek, sizeof(dek));
	if (!rc)
		*out_len = m;
	return rc;
}

/* ---- TLS ---- */

/* TLS 1.2 suites: ECDHE + AEAD only. TLS 1.3 keeps OpenSSL's defaults (all AEAD). */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

static SSL_CTX *ctx_new(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	return ctx;
}

/* Load tls/<name>.crt (chain) and tls/<name>.key into @p ctx after the mode checks. */
static int ctx_use_identity(const struct crypto_keyring *kr, SSL_CTX *ctx, const char *name)
{
	if (!crypto_name_ok(name)) {
		LOGP(DCRYPTO, LOG_ERROR, "TLS identity name '%s' is not a plain file name", name);
		return GW_EINVAL;
	}
	char crt[CRYPTO_PATH_MAX], key[CRYPTO_PATH_MAX], file[80], why[160];
	snprintf(file, sizeof(file), "%s.crt", name);
	int rc = crypto_path_join(crt, sizeof(crt), kr->dir, CRYPTO_TLS_DIR, file);
	snprintf(file, sizeof(file), "%s.key", name);
	if (!rc)
		rc = crypto_path_join(key, sizeof(key), kr->dir, CRYPTO_TLS_DIR, file);
	if (rc)
		return rc;
	if ((rc = crypto_path_check(crt, false, why, sizeof(why))) != 0) {
		LOGP(DCRYPTO, LOG_ERROR, "%s", why);
		return rc;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
		log_ossl(crt);
		return GW_ECRYPTO;
	}
	EVP_PKEY *pk = pem_private_key(key);
	if (!pk)
		return GW_ECRYPTO;
	int ok = SSL_CTX_use_PrivateKey(ctx, pk) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(pk);
	if (!ok) {
		log_ossl(key);
		return GW_ECRYPTO;
	}
	return 0;
}

/* Resolve the CA file: @p ca_file, or tls/ca.crt in the key directory. A CA file
 * that others may write is refused: whoever writes it decides whom we trust. */
static int ca_path(const struct crypto_keyring *kr, const char *ca_file, char *out, size_t outsz)
{
	char why[160];
	if (!ca_file) {
		int rc = crypto_path_join(out, outsz, kr->dir, CRYPTO_TLS_DIR, "ca.crt");
		if (!rc)
			rc = crypto_path_check(out, false, why, sizeof(why));
		if (rc)
			LOGP(DCRYPTO, LOG_ERROR, "%s", rc == GW_EINVAL ? "CA path too long" : why);
		return rc;
	}
	struct stat st;
	if (stat(ca_file, &st) != 0) {
		LOGP(DCRYPTO, LOG_ERROR, "%s: %s", ca_file, strerror(errno));
		return GW_ENOENT;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		LOGP(DCRYPTO, LOG_ERROR, "%s: mode %04o lets group/others write the CA file",
		     ca_file, (unsigned)(st.st_mode & 07777));
		return GW_EINSECURE;
	}
	if ((size_t)snprintf(out, outsz, "%s", ca_file) >= outsz)
		return GW_EINVAL;
	return 0;
}

int crypto_tls_server_ctx(const struct crypto_keyring *kr, const char *name, SSL_CTX **out)
{
	*out = NULL;
	SSL_CTX *ctx = ctx_new(TLS_server_method());
	if (!ctx) {
		log_ossl("SSL_CTX_new");
		return GW_ECRYPTO;
	}
	int rc = ctx_use_identity(kr, ctx, name);
	if (rc) {
		SSL_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

int crypto_tls_server_require_client(const struct crypto_keyring *kr, SSL_CTX *ctx,
				     const char *ca_file)
{
	char ca[CRYPTO_PATH_MAX];
	int rc = ca_path(kr, ca_file, ca, sizeof(ca));
	if (rc)
		return rc;
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
	if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		log_ossl(ca);
		return GW_ECRYPTO;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

int crypto_tls_client_ctx(const struct crypto_keyring *kr, const char *ca_file,
			  const char *client_name, SSL_CTX **out)
{
	*out = NULL;
	char ca[CRYPTO_PATH_MAX];
	int rc = ca_path(kr, ca_file, ca, sizeof(ca));
	if (rc)
		return rc;
	SSL_CTX *ctx = ctx_new(TLS_client_method());
	if (!ctx) {
		log_ossl("SSL_CTX_new");
		return GW_ECRYPTO;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		log_ossl(ca);
		SSL_CTX_free(ctx);
		return GW_ECRYPTO;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (client_name && (rc = ctx_use_identity(kr, ctx, client_name)) != 0) {
		SSL_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

int crypto_tls_client_new(SSL_CTX *ctx, const char *host, SSL **out)
{
	*out = NULL;
	if (!host || !*host)
		return GW_EINVAL;
	SSL *ssl = SSL_new(ctx);
	if (!ssl) {
		log_ossl("SSL_new");
		return GW_ECRYPTO;
	}
	unsigned char addr[16];
	int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	int ok;
	if (is_ip) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
	} else {
		X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl),
						X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
	}
	if (!ok) {
		log_ossl("TLS peer name");
		SSL_free(ssl);
		return GW_EINVAL;
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	*out = ssl;
	return 0;
}
