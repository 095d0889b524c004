/* scrypt password hashes in a PHC-like string (passwd.h). */
#include "ussdgw/passwd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ussdgw/gw_error.h"

#define SALT_LEN 16u
#define HASH_LEN 32u

struct parsed {
	unsigned ln, r, p;
	uint8_t salt[64];
	size_t salt_len;
	uint8_t hash[64];
	size_t hash_len;
};

static void to_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
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

/* Decode hex from s up to '$' or NUL into out (cap bytes). */
static int from_hex(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *n)
{
	if (slen == 0 || slen % 2 || slen / 2 > cap)
		return GW_EINVAL;
	for (size_t i = 0; i < slen / 2; i++) {
		int a = hexval(s[2 * i]), b = hexval(s[2 * i + 1]);
		if (a < 0 || b < 0)
			return GW_EINVAL;
		out[i] = (uint8_t)(a << 4 | b);
	}
	*n = slen / 2;
	return 0;
}

static int parse(const char *s, struct parsed *p)
{
	static const char pre[] = "$scrypt$";
	if (!s || strncmp(s, pre, sizeof(pre) - 1) != 0)
		return GW_EINVAL;
	s += sizeof(pre) - 1;
	int used = 0;
	if (sscanf(s, "ln=%u,r=%u,p=%u$%n", &p->ln, &p->r, &p->p, &used) != 3 || used == 0)
		return GW_EINVAL;
	if (p->ln < 1 || p->ln > PASSWD_MAX_LN || p->r < 1 || p->r > 32 || p->p < 1 || p->p > 4)
		return GW_EINVAL;
	s += used;
	const char *d = strchr(s, '$');
	if (!d)
		return GW_EINVAL;
	if (from_hex(s, (size_t)(d - s), p->salt, sizeof(p->salt), &p->salt_len) ||
	    from_hex(d + 1, strlen(d + 1), p->hash, sizeof(p->hash), &p->hash_len))
		return GW_EINVAL;
	if (p->hash_len < 16)
		return GW_EINVAL;
	return 0;
}

static int derive(const char *pw, size_t len, const struct parsed *p, uint8_t *out, size_t n)
{
	uint64_t N = (uint64_t)1 << p->ln;
	/* scrypt needs 128 * r * N bytes (+ 128 * r * p); allow that and no more. */
	uint64_t maxmem = 128ull * p->r * (N + p->p) + (1u << 20);
	if (EVP_PBE_scrypt(pw, len, p->salt, p->salt_len, N, p->r, p->p, maxmem, out, n) != 1)
		return GW_ECRYPTO;
	return 0;
}

int passwd_hash(const char *pw, size_t len, unsigned ln, char *out, size_t cap)
{
	if (!pw || !out || ln < 1 || ln > PASSWD_MAX_LN || cap < PASSWD_HASH_MAX)
		return GW_EINVAL;
	struct parsed p = {.ln = ln, .r = 8, .p = 1, .salt_len = SALT_LEN, .hash_len = HASH_LEN};
	if (RAND_bytes(p.salt, SALT_LEN) != 1)
		return GW_ECRYPTO;
	int rc = derive(pw, len, &p, p.hash, HASH_LEN);
	if (rc)
		return rc;
	char sh[2 * SALT_LEN + 1], hh[2 * HASH_LEN + 1];
	to_hex(p.salt, SALT_LEN, sh);
	to_hex(p.hash, HASH_LEN, hh);
	OPENSSL_cleanse(p.hash, sizeof(p.hash));
	snprintf(out, cap, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", p.ln, p.r, p.p, sh, hh);
	return 0;
}

int passwd_check_format(const char *stored)
{
	struct parsed p;
	return parse(stored, &p);
}

int passwd_verify(const char *stored, const char *pw, size_t len)
{
	struct parsed p;
	if (!pw)
		return GW_EINVAL;
	int rc = parse(stored, &p);
	if (rc)
		return rc;
	uint8_t got[64];
	rc = derive(pw, len, &p, got, p.hash_len);
	if (rc)
		return rc;
	rc = CRYPTO_memcmp(got, p.hash, p.hash_len) == 0 ? 0 : GW_EPERM;
	OPENSSL_cleanse(got, sizeof(got));
	return rc;
}
