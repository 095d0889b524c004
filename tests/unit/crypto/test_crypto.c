#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"

extern char **environ;

static char base[64];
static char keys[128];	/* main key directory, with tls/server and tls/client */
static char other[128]; /* second key directory with its own CA */
static struct crypto_keyring *kr;

/* ---- helpers ---- */

static void run_ok(char *const argv[])
{
	pid_t pid;
	assert_int_equal(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ), 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s %s failed (status %d)", argv[0], argv[1], st);
}

/* Make a key directory and TLS identities the way operators do: with the
 * ussdgw-keys tool when the build directory is known (ctest sets it), else
 * through the library calls the tool makes. */
static void make_keydir(const char *dir, const char *const *names, size_t n)
{
	const char *bd = getenv("GW_BUILD_DIR");
	char tool[512];
	if (bd)
		snprintf(tool, sizeof(tool), "%s/ussdgw-keys", bd);
	if (bd && access(tool, X_OK) == 0) {
		char *init[] = {tool, "init", (char *)dir, NULL};
		run_ok(init);
		for (size_t i = 0; i < n; i++) {
			char *tls[] = {tool,	    "tls",
				       (char *)dir, (char *)names[i],
				       "--san",	    "localhost,127.0.0.1",
				       NULL};
			run_ok(tls);
		}
		return;
	}
	assert_int_equal(crypto_create_keydir(dir), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(crypto_tls_issue(dir, names[i], NULL, "localhost,127.0.0.1"), 0);
}

static int setup(void **state)
{
	(void)state;
	log_set_format(LOG_FMT_TEXT);
	log_set_timestamps(false);
	snprintf(base, sizeof(base), "/tmp/gw-crypto-XXXXXX");
	if (!mkdtemp(base))
		return -1;
	snprintf(keys, sizeof(keys), "%s/keys", base);
	snprintf(other, sizeof(other), "%s/other", base);
	static const char *const names[] = {"server", "client"};
	make_keydir(keys, names, 2);
	make_keydir(other, names, 1);
	return crypto_open(keys, &kr);
}

static int teardown(void **state)
{
	(void)state;
	crypto_close(kr);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static void read_hex_file(const char *dir, const char *file, uint8_t out[32])
{
	char path[256], text[80] = "";
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	text[strcspn(text, "\n")] = '\0';
	assert_int_equal(crypto_unhex(text, out, 32), 0);
}

/* ---- primitives ---- */

static void test_known_answers(void **state)
{
	(void)state;
	uint8_t out[32];
	char hex[65];
	crypto_sha256("abc", 3, out);
	crypto_hex(out, 32, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* RFC 4231 test case 2. */
	crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out);
	crypto_hex(out, 32, hex);
	assert_string_equal(hex,
			    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* Empty key and message are legal HMAC inputs. */
	crypto_hmac_sha256(NULL, 0, NULL, 0, out);
	crypto_hex(out, 32, hex);
	assert_string_equal(hex,
			    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");

	uint8_t b[4];
	assert_int_equal(crypto_unhex("00ff7Fa0", b, 4), 0);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(b[2], 0x7f);
	assert_int_equal(crypto_unhex("00ff7fa", b, 4), GW_EINVAL);
	assert_int_equal(crypto_unhex("00ff7fag", b, 4), GW_EINVAL);
	assert_int_equal(crypto_unhex("00ff7fa00", b, 4), GW_EINVAL);

	assert_true(crypto_equal("abcd", "abcd", 4));
	assert_false(crypto_equal("abcd", "abce", 4));
	assert_true(crypto_equal("x", "y", 0));

	uint8_t r1[32], r2[32];
	assert_int_equal(crypto_random(r1, sizeof(r1)), 0);
	assert_int_equal(crypto_random(r2, sizeof(r2)), 0);
	assert_false(crypto_equal(r1, r2, sizeof(r1)));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_uuid4(void **state)
{
	(void)state;
	enum { N = 2000 };
	char(*ids)[37] = calloc(N, sizeof(*ids));
	assert_non_null(ids);
	int version_nibbles[16] = {0}, variant_nibbles[16] = {0};
	for (int i = 0; i < N; i++) {
		char *u = ids[i];
		assert_int_equal(crypto_uuid4(u), 0);
		assert_int_equal(strlen(u), 36);
		for (int j = 0; j < 36; j++) {
			if (j == 8 || j == 13 || j == 18 || j == 23)
				assert_int_equal(u[j], '-');
			else if (!((u[j] >= '0' && u[j] <= '9') || (u[j] >= 'a' && u[j] <= 'f')))
				fail_msg("uuid %s: bad char at %d", u, j);
		}
		assert_int_equal(u[14], '4');
		assert_non_null(strchr("89ab", u[19]));
		/* The other nibbles of those bytes stay random. */
		version_nibbles[u[15] <= '9' ? u[15] - '0' : u[15] - 'a' + 10]++;
		variant_nibbles[u[20] <= '9' ? u[20] - '0' : u[20] - 'a' + 10]++;
	}
	for (int v = 0; v < 16; v++) {
		assert_true(version_nibbles[v] > 0);
		assert_true(variant_nibbles[v] > 0);
	}
	qsort(ids, N, sizeof(*ids), cmp_str);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	free(ids);
}

/* ---- tokens ---- */

static void test_token_stable_and_keyed(void **state)
{
	(void)state;
	char t1[CRYPTO_TOKEN_HEX + 1], t2[CRYPTO_TOKEN_HEX + 1], t3[CRYPTO_TOKEN_HEX + 1];
	assert_int_equal(crypto_msisdn_token(kr, "254712345678", t1), 0);
	assert_int_equal(strlen(t1), CRYPTO_TOKEN_HEX);
	assert_int_equal(crypto_msisdn_token(kr, "254712345678", t2), 0);
	assert_string_equal(t1, t2);
	assert_int_equal(crypto_msisdn_token(kr, "254712345679", t3), 0);
	assert_string_not_equal(t1, t3);

	/* It is HMAC-SHA256 under the file's key, truncated to 16 bytes. */
	uint8_t key[32], mac[32];
	char hex[65];
	read_hex_file(keys, "msisdn-token.key", key);
	crypto_hmac_sha256(key, 32, "254712345678", 12, mac);
	crypto_hex(mac, 16, hex);
	assert_string_equal(t1, hex);

	/* Stable across opens of the same directory; different under another key. */
	struct crypto_keyring *again, *kr2;
	assert_int_equal(crypto_open(keys, &again), 0);
	assert_int_equal(crypto_msisdn_token(again, "254712345678", t2), 0);
	assert_string_equal(t1, t2);
	assert_int_equal(crypto_open(other, &kr2), 0);
	assert_int_equal(crypto_msisdn_token(kr2, "254712345678", t3), 0);
	assert_string_not_equal(t1, t3);
	crypto_close(kr2);
	crypto_close(again);

	/* Only the canonical form is tokenised. */
	assert_int_equal(crypto_msisdn_token(kr, "+254712345678", t2), GW_EINVAL);
	assert_int_equal(crypto_msisdn_token(kr, "0712345678", t2), GW_EINVAL);
	assert_int_equal(crypto_msisdn_token(kr, "1234567890123456", t2), GW_EINVAL);
	assert_int_equal(crypto_msisdn_token(kr, "", t2), GW_EINVAL);
}

static void test_log_tokenizer(void **state)
{
	(void)state;
	struct crypto_keyring *k;
	assert_int_equal(crypto_open(keys, &k), 0);
	char tok[CRYPTO_TOKEN_HEX + 1], buf[LOG_MSISDN_BUFSZ], want[32];
	assert_int_equal(crypto_msisdn_token(k, "254712345678", tok), 0);
	snprintf(want, sizeof(want), "t:%.12s", tok);
	assert_string_equal(log_msisdn(buf, "254712345678"), want);
	/* A sender id is hashed too, never printed. */
	log_msisdn(buf, "MPESA");
	assert_null(strstr(buf, "MPESA"));
	assert_memory_equal(buf, "t?:", 3);
	crypto_close(k);
	/* Closed: back to the mask, and no dangling keyring. */
	log_msisdn(buf, "254712345678");
	assert_null(strstr(buf, "2547123456"));
	assert_non_null(strstr(buf, "78"));
}

/* ---- envelope encryption ---- */

static void test_seal_round_trip(void **state)
{
	(void)state;
	uint8_t dek[CRYPTO_WRAPPED_DEK_LEN], dek2[CRYPTO_WRAPPED_DEK_LEN];
	assert_int_equal(crypto_dek_new(kr, dek), 0);
	assert_int_equal(crypto_dek_new(kr, dek2), 0);
	assert_false(crypto_equal(dek, dek2, sizeof(dek)));

	static const size_t sizes[] = {0, 1, 15, 16, 17, 1000};
	uint8_t pt[1000], ct[1000 + CRYPTO_SEAL_OVERHEAD], ct2[sizeof(ct)], back[1000];
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)('A' + i % 26);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s], clen = 0, blen = 12345;
		assert_int_equal(crypto_seal(kr, dek, "sub:1", 5, pt, n, ct, &clen), 0);
		assert_int_equal(clen, n + CRYPTO_SEAL_OVERHEAD);
		assert_int_equal(ct[0], CRYPTO_SEAL_VERSION);
		assert_int_equal(crypto_open_sealed(kr, dek, "sub:1", 5, ct, clen, back, &blen), 0);
		assert_int_equal(blen, n);
		if (n)
			assert_memory_equal(back, pt, n);
		/* Random IV: sealing twice gives different bytes. */
		size_t clen2 = 0;
		assert_int_equal(crypto_seal(kr, dek, "sub:1", 5, pt, n, ct2, &clen2), 0);
		assert_false(crypto_equal(ct, ct2, clen));
	}
	/* The plaintext does not show through. */
	size_t clen = 0;
	assert_int_equal(crypto_seal(kr, dek, NULL, 0, pt, 100, ct, &clen), 0);
	assert_null(memmem(ct, clen, "ABCDEFGH", 8));
}

static void test_seal_tamper_and_aad(void **state)
{
	(void)state;
	uint8_t dek[CRYPTO_WRAPPED_DEK_LEN];
	assert_int_equal(crypto_dek_new(kr, dek), 0);
	const char msg[] = "0712345678 PIN redacted";
	uint8_t ct[64], out[64];
	size_t clen = 0, olen = 0;
	assert_int_equal(crypto_seal(kr, dek, "rec:42", 6, msg, sizeof(msg), ct, &clen), 0);

	/* Every single bit flip past the version byte is caught. */
	for (size_t i = 1; i < clen; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			ct[i] ^= (uint8_t)(1u << bit);
			memset(out, 0x5a, sizeof(out));
			int rc = crypto_open_sealed(kr, dek, "rec:42", 6, ct, clen, out, &olen);
			ct[i] ^= (uint8_t)(1u << bit);
			if (rc != GW_ECRYPTO)
				fail_msg("flip at byte %zu bit %d: rc %d", i, bit, rc);
			/* No partial plaintext left behind. */
			assert_null(memmem(out, sizeof(msg), "0712345678", 10));
		}
	}
	/* Version byte: an unknown format is refused, not guessed. */
	ct[0] = 2;
	assert_int_equal(crypto_open_sealed(kr, dek, "rec:42", 6, ct, clen, out, &olen),
			 GW_ENOTSUP);
	ct[0] = CRYPTO_SEAL_VERSION;
	/* Truncation. */
	assert_int_equal(crypto_open_sealed(kr, dek, "rec:42", 6, ct, clen - 1, out, &olen),
			 GW_ECRYPTO);
	assert_int_equal(
	    crypto_open_sealed(kr, dek, "rec:42", 6, ct, CRYPTO_SEAL_OVERHEAD - 1, out, &olen),
	    GW_EINVAL);
	/* AAD must match exactly. */
	assert_int_equal(crypto_open_sealed(kr, dek, "rec:43", 6, ct, clen, out, &olen),
			 GW_ECRYPTO);
	assert_int_equal(crypto_open_sealed(kr, dek, "rec:4", 5, ct, clen, out, &olen), GW_ECRYPTO);
	assert_int_equal(crypto_open_sealed(kr, dek, NULL, 0, ct, clen, out, &olen), GW_ECRYPTO);
	/* Untouched, it still opens. */
	assert_int_equal(crypto_open_sealed(kr, dek, "rec:42", 6, ct, clen, out, &olen), 0);
	assert_int_equal(olen, sizeof(msg));
	assert_string_equal((char *)out, msg);
}

static void test_wrong_wrapped_key(void **state)
{
	(void)state;
	uint8_t dek[CRYPTO_WRAPPED_DEK_LEN], dek2[CRYPTO_WRAPPED_DEK_LEN];
	assert_int_equal(crypto_dek_new(kr, dek), 0);
	assert_int_equal(crypto_dek_new(kr, dek2), 0);
	uint8_t ct[64], out[64];
	size_t clen = 0, olen = 0;
	assert_int_equal(crypto_seal(kr, dek, "a", 1, "hello", 5, ct, &clen), 0);
	/* Another subject's key. */
	assert_int_equal(crypto_open_sealed(kr, dek2, "a", 1, ct, clen, out, &olen), GW_ECRYPTO);
	/* A damaged wrapped key does not unwrap (IV, key and tag parts). */
	static const size_t where[] = {0, 11, 12, 43, 44, 59};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		uint8_t bad[CRYPTO_WRAPPED_DEK_LEN];
		memcpy(bad, dek, sizeof(bad));
		bad[where[i]] ^= 0x01;
		assert_int_equal(crypto_open_sealed(kr, bad, "a", 1, ct, clen, out, &olen),
				 GW_ECRYPTO);
		assert_int_equal(crypto_seal(kr, bad, "a", 1, "x", 1, out, &olen), GW_ECRYPTO);
	}
	/* The same wrapped key under another master key (another node's key dir). */
	struct crypto_keyring *kr2;
	assert_int_equal(crypto_open(other, &kr2), 0);
	assert_int_equal(crypto_open_sealed(kr2, dek, "a", 1, ct, clen, out, &olen), GW_ECRYPTO);
	crypto_close(kr2);
	assert_int_equal(crypto_open_sealed(kr, dek, "a", 1, ct, clen, out, &olen), 0);
	assert_memory_equal(out, "hello", 5);
}

/* ---- signatures ---- */

static void test_sign_verify(void **state)
{
	(void)state;
	uint8_t pub[32], sig[64];
	const char msg[] = "checkpoint 1024 head=ab12";
	assert_int_equal(crypto_sign_public(kr, pub), 0);
	assert_int_equal(crypto_sign(kr, msg, sizeof(msg) - 1, sig), 0);
	assert_int_equal(crypto_verify(pub, msg, sizeof(msg) - 1, sig), 0);
	/* Ed25519 is deterministic. */
	uint8_t sig2[64];
	assert_int_equal(crypto_sign(kr, msg, sizeof(msg) - 1, sig2), 0);
	assert_memory_equal(sig, sig2, 64);

	char changed[sizeof(msg)];
	memcpy(changed, msg, sizeof(msg));
	changed[11] = '5';
	assert_int_equal(crypto_verify(pub, changed, sizeof(msg) - 1, sig), GW_ECRYPTO);
	assert_int_equal(crypto_verify(pub, msg, sizeof(msg) - 2, sig), GW_ECRYPTO);
	sig2[10] ^= 0x80;
	assert_int_equal(crypto_verify(pub, msg, sizeof(msg) - 1, sig2), GW_ECRYPTO);

	struct crypto_keyring *kr2;
	uint8_t pub2[32];
	assert_int_equal(crypto_open(other, &kr2), 0);
	assert_int_equal(crypto_sign_public(kr2, pub2), 0);
	crypto_close(kr2);
	assert_false(crypto_equal(pub, pub2, 32));
	assert_int_equal(crypto_verify(pub2, msg, sizeof(msg) - 1, sig), GW_ECRYPTO);
	/* Empty message. */
	assert_int_equal(crypto_sign(kr, "", 0, sig), 0);
	assert_int_equal(crypto_verify(pub, "", 0, sig), 0);
	assert_int_equal(ERR_peek_error(), 0);
}

/* ---- key directory modes ---- */

struct seen {
	char paths[8][256];
	int errs[8];
	int n;
};

static void on_bad(void *cls, const char *path, int err, const char *why)
{
	struct seen *s = cls;
	assert_non_null(strstr(why, path));
	if (s->n < 8) {
		snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", path);
		s->errs[s->n++] = err;
	}
}

static bool seen_path(const struct seen *s, const char *path, int err)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->paths[i], path) && s->errs[i] == err)
			return true;
	return false;
}

/* Run crypto_open() on @p dir with the log going to a file; returns the rc and
 * leaves the log text in @p logbuf. */
static int open_logged(const char *dir, char *logbuf, size_t n)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/log.txt", base);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	log_set_fd(fd);
	struct crypto_keyring *k = NULL;
	int rc = crypto_open(dir, &k);
	log_set_fd(2);
	crypto_close(k);
	if (rc)
		assert_null(k);
	ssize_t r = pread(fd, logbuf, n - 1, 0);
	close(fd);
	logbuf[r > 0 ? r : 0] = '\0';
	return rc;
}

static void test_modes_refused(void **state)
{
	(void)state;
	char dir[128], p[256], logbuf[4096];
	snprintf(dir, sizeof(dir), "%s/modes", base);
	assert_int_equal(crypto_create_keydir(dir), 0);
	assert_int_equal(crypto_check_keydir(dir, NULL, NULL), 0);
	assert_int_equal(open_logged(dir, logbuf, sizeof(logbuf)), 0);

	/* A 0644 key file. */
	snprintf(p, sizeof(p), "%s/master.key", dir);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(open_logged(dir, logbuf, sizeof(logbuf)), GW_EINSECURE);
	assert_non_null(strstr(logbuf, p));
	assert_non_null(strstr(logbuf, "0644"));
	struct seen s = {0};
	assert_int_equal(crypto_check_keydir(dir, on_bad, &s), GW_EINSECURE);
	assert_int_equal(s.n, 1);
	assert_true(seen_path(&s, p, GW_EINSECURE));
	assert_int_equal(chmod(p, 0600), 0);

	/* A 0755 directory. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(open_logged(dir, logbuf, sizeof(logbuf)), GW_EINSECURE);
	assert_non_null(strstr(logbuf, dir));
	assert_non_null(strstr(logbuf, "0755"));
	assert_int_equal(chmod(dir, 0700), 0);

	/* Group-writable tls/ and a group-readable cert inside it: both named. */
	char tls[200], crt[256];
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	assert_int_equal(crypto_tls_issue(dir, "x", NULL, NULL), 0);
	snprintf(crt, sizeof(crt), "%s/tls/x.crt", dir);
	assert_int_equal(chmod(crt, 0640), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(crypto_check_keydir(dir, on_bad, &s), GW_EINSECURE);
	assert_true(seen_path(&s, crt, GW_EINSECURE));
	assert_int_equal(chmod(crt, 0600), 0);
	assert_int_equal(chmod(tls, 0770), 0);
	assert_int_equal(open_logged(dir, logbuf, sizeof(logbuf)), GW_EINSECURE);
	assert_non_null(strstr(logbuf, tls));
	assert_int_equal(chmod(tls, 0700), 0);
	assert_int_equal(open_logged(dir, logbuf, sizeof(logbuf)), 0);

	/* A symlink inside the directory. */
	snprintf(p, sizeof(p), "%s/extra.key", dir);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	assert_int_equal(open_logged(dir, logbuf, sizeof(logbuf)), GW_EINSECURE);
	assert_non_null(strstr(logbuf, "symbolic link"));
	assert_int_equal(unlink(p), 0);

	/* A missing key file is named too. */
	snprintf(p, sizeof(p), "%s/msisdn-token.key", dir);
	char saved[256];
	snprintf(saved, sizeof(saved), "%s/saved", base);
	assert_int_equal(rename(p, saved), 0);
	assert_int_equal(open_logged(dir, logbuf, sizeof(logbuf)), GW_ENOENT);
	assert_non_null(strstr(logbuf, p));
	assert_int_equal(rename(saved, p), 0);

	/* A damaged key is refused. */
	FILE *f = fopen(p, "w");
	fputs("not hex at all\n", f);
	fclose(f);
	assert_int_equal(open_logged(dir, logbuf, sizeof(logbuf)), GW_ECRYPTO);
	assert_non_null(strstr(logbuf, p));

	/* init refuses to overwrite and leaves the keys alone. */
	assert_int_equal(crypto_create_keydir(dir), GW_EEXIST);
	/* init into an existing 0755 directory is refused, nothing written. */
	char loose[128];
	snprintf(loose, sizeof(loose), "%s/loose", base);
	assert_int_equal(mkdir(loose, 0755), 0);
	assert_int_equal(chmod(loose, 0755), 0);
	assert_int_equal(crypto_create_keydir(loose), GW_EINSECURE);
	snprintf(p, sizeof(p), "%s/master.key", loose);
	assert_int_equal(access(p, F_OK), -1);
	/* A missing directory. */
	snprintf(p, sizeof(p), "%s/absent", base);
	assert_int_equal(crypto_check_keydir(p, NULL, NULL), GW_ENOENT);
}

/* ---- TLS ---- */

struct hs {
	int client_ok, server_ok;
	long verify; /* client's verify result */
};

/* Drive both ends of a handshake over a socketpair, then pass one message each
 * way. No timers: both ends are non-blocking and stepped in turn. */
static struct hs handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *host)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	SSL *s = SSL_new(sctx), *c = NULL;
	assert_non_null(s);
	assert_int_equal(crypto_tls_client_new(cctx, host, &c), 0);
	SSL_set_fd(s, sv[0]);
	SSL_set_fd(c, sv[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	int cdone = 0, sdone = 0, cfail = 0, sfail = 0;
	for (int i = 0; i < 200 && !((cdone || cfail) && (sdone || sfail)); i++) {
		if (!cdone && !cfail) {
			int r = SSL_do_handshake(c);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
				cfail = 1;
		}
		if (!sdone && !sfail) {
			int r = SSL_do_handshake(s);
			if (r == 1)
				sdone = 1;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE)
				sfail = 1;
		}
	}
	struct hs res = {0, 0, SSL_get_verify_result(c)};
	if (cdone && sdone) {
		/* Application data both ways proves the keys agree; a server that
		 * rejected the client late (TLS 1.3 client auth) fails here. */
		char buf[16] = "";
		int ok = SSL_write(c, "ping", 4) == 4;
		for (int i = 0; ok && i < 10; i++) {
			int r = SSL_read(s, buf, sizeof(buf));
			if (r == 4)
				break;
			if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				ok = 0;
		}
		ok = ok && !memcmp(buf, "ping", 4) && SSL_write(s, "pong", 4) == 4;
		int got = 0;
		for (int i = 0; ok && i < 10 && !got; i++) {
			int r = SSL_read(c, buf, sizeof(buf));
			if (r == 4)
				got = !memcmp(buf, "pong", 4);
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
				ok = 0;
		}
		res.client_ok = res.server_ok = ok && got;
		if (res.client_ok)
			assert_true(SSL_version(c) >= TLS1_2_VERSION);
	}
	SSL_free(c);
	SSL_free(s);
	close(sv[0]);
	close(sv[1]);
	ERR_clear_error();
	return res;
}

static void test_tls_handshake(void **state)
{
	(void)state;
	SSL_CTX *sctx = NULL, *cctx = NULL;
	assert_int_equal(crypto_tls_server_ctx(kr, "server", &sctx), 0);
	assert_int_equal(crypto_tls_client_ctx(kr, NULL, NULL, &cctx), 0);
	assert_int_equal(SSL_CTX_get_min_proto_version(sctx), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_min_proto_version(cctx), TLS1_2_VERSION);
	assert_true(SSL_CTX_get_verify_mode(cctx) & SSL_VERIFY_PEER);

	struct hs r = handshake(sctx, cctx, "localhost");
	assert_true(r.client_ok && r.server_ok);
	assert_int_equal(r.verify, X509_V_OK);
	r = handshake(sctx, cctx, "127.0.0.1");
	assert_true(r.client_ok && r.server_ok);
	/* A name the certificate does not carry. */
	r = handshake(sctx, cctx, "smsc.example.org");
	assert_false(r.client_ok);
	assert_int_equal(r.verify, X509_V_ERR_HOSTNAME_MISMATCH);
	r = handshake(sctx, cctx, "127.0.0.2");
	assert_false(r.client_ok);

	/* TLS 1.2 pinned on both ends still works; TLS 1.1 is refused. */
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	r = handshake(sctx, cctx, "localhost");
	assert_true(r.client_ok && r.server_ok);
	SSL_CTX *old = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
	SSL_CTX_set_security_level(old, 0);
	SSL_CTX_set_cipher_list(old, "ALL:@SECLEVEL=0");
	SSL_CTX_set_verify(old, SSL_VERIFY_NONE, NULL);
	r = handshake(sctx, old, "localhost");
	assert_false(r.server_ok);
	SSL_CTX_free(old);
	SSL_CTX_free(cctx);

	/* A client that trusts another CA refuses our server. */
	char other_ca[256];
	snprintf(other_ca, sizeof(other_ca), "%s/tls/ca.crt", other);
	assert_int_equal(crypto_tls_client_ctx(kr, other_ca, NULL, &cctx), 0);
	r = handshake(sctx, cctx, "localhost");
	assert_false(r.client_ok);
	assert_false(r.server_ok);
	assert_true(r.verify != X509_V_OK);
	SSL_CTX_free(cctx);

	/* The other directory's server cert is refused by a client trusting ours. */
	struct crypto_keyring *kr2;
	SSL_CTX *sctx2;
	assert_int_equal(crypto_open(other, &kr2), 0);
	assert_int_equal(crypto_tls_server_ctx(kr2, "server", &sctx2), 0);
	assert_int_equal(crypto_tls_client_ctx(kr, NULL, NULL, &cctx), 0);
	r = handshake(sctx2, cctx, "localhost");
	assert_false(r.client_ok);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx2);
	crypto_close(kr2);

	/* Bad names are refused before any file is touched. */
	assert_int_equal(crypto_tls_server_ctx(kr, "../master", &sctx2), GW_EINVAL);
	assert_int_equal(crypto_tls_server_ctx(kr, ".hidden", &sctx2), GW_EINVAL);
	assert_int_equal(crypto_tls_server_ctx(kr, "absent", &sctx2), GW_ENOENT);
	assert_null(sctx2);
	SSL_CTX_free(sctx);
}

static void test_tls_mutual(void **state)
{
	(void)state;
	SSL_CTX *sctx = NULL, *with = NULL, *without = NULL;
	assert_int_equal(crypto_tls_server_ctx(kr, "server", &sctx), 0);
	assert_int_equal(crypto_tls_server_require_client(kr, sctx, NULL), 0);
	assert_int_equal(crypto_tls_client_ctx(kr, NULL, "client", &with), 0);
	assert_int_equal(crypto_tls_client_ctx(kr, NULL, NULL, &without), 0);
	struct hs r = handshake(sctx, with, "localhost");
	assert_true(r.client_ok && r.server_ok);
	r = handshake(sctx, without, "localhost");
	assert_false(r.server_ok);
	/* A client certificate from another CA is refused too. */
	struct crypto_keyring *kr2;
	SSL_CTX *foreign;
	assert_int_equal(crypto_open(other, &kr2), 0);
	char our_ca[256];
	snprintf(our_ca, sizeof(our_ca), "%s/tls/ca.crt", keys);
	assert_int_equal(crypto_tls_client_ctx(kr2, our_ca, "server", &foreign), 0);
	r = handshake(sctx, foreign, "localhost");
	assert_false(r.server_ok);
	SSL_CTX_free(foreign);
	crypto_close(kr2);
	SSL_CTX_free(with);
	SSL_CTX_free(without);
	SSL_CTX_free(sctx);
}

static void test_tls_issue_rules(void **state)
{
	(void)state;
	/* No overwrite, distinct names, sane SAN lists, CA pairs complete. */
	assert_int_equal(crypto_tls_issue(keys, "server", NULL, NULL), GW_EEXIST);
	assert_int_equal(crypto_tls_issue(keys, "ca", NULL, NULL), GW_EINVAL);
	assert_int_equal(crypto_tls_issue(keys, "a/b", NULL, NULL), GW_EINVAL);
	assert_int_equal(crypto_tls_issue(keys, "y", NULL, "local host"), GW_EINVAL);
	assert_int_equal(crypto_tls_issue(keys, "y", NULL, ""), GW_EINVAL);
	char p[256];
	snprintf(p, sizeof(p), "%s/tls/y.crt", keys);
	assert_int_equal(access(p, F_OK), -1);
	/* A second CA by name; its leaf verifies against it, not against "ca". */
	assert_int_equal(crypto_tls_issue(keys, "peer", "ca2", "smsc.test,::1"), 0);
	char ca2[256];
	snprintf(ca2, sizeof(ca2), "%s/tls/ca2.crt", keys);
	assert_int_equal(access(ca2, F_OK), 0);
	SSL_CTX *sctx, *good, *bad;
	assert_int_equal(crypto_tls_server_ctx(kr, "peer", &sctx), 0);
	assert_int_equal(crypto_tls_client_ctx(kr, ca2, NULL, &good), 0);
	assert_int_equal(crypto_tls_client_ctx(kr, NULL, NULL, &bad), 0);
	assert_true(handshake(sctx, good, "smsc.test").client_ok);
	assert_true(handshake(sctx, good, "::1").client_ok);
	assert_false(handshake(sctx, bad, "smsc.test").client_ok);
	SSL_CTX_free(sctx);
	SSL_CTX_free(good);
	SSL_CTX_free(bad);
	/* Not into a loose or missing key directory. */
	char loose[128];
	snprintf(loose, sizeof(loose), "%s/loose-tls", base);
	assert_int_equal(mkdir(loose, 0755), 0);
	assert_int_equal(chmod(loose, 0755), 0);
	assert_int_equal(crypto_tls_issue(loose, "z", NULL, NULL), GW_EINSECURE);
	snprintf(p, sizeof(p), "%s/tls", loose);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/absent", base);
	assert_int_equal(crypto_tls_issue(p, "z", NULL, NULL), GW_ENOENT);
	/* Half a CA is an error, not a silent new CA. */
	snprintf(p, sizeof(p), "%s/tls/ca2.key", keys);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(crypto_tls_issue(keys, "peer2", "ca2", NULL), GW_ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_answers),
	    cmocka_unit_test(test_uuid4),
	    cmocka_unit_test(test_token_stable_and_keyed),
	    cmocka_unit_test(test_log_tokenizer),
	    cmocka_unit_test(test_seal_round_trip),
	    cmocka_unit_test(test_seal_tamper_and_aad),
	    cmocka_unit_test(test_wrong_wrapped_key),
	    cmocka_unit_test(test_sign_verify),
	    cmocka_unit_test(test_modes_refused),
	    cmocka_unit_test(test_tls_handshake),
	    cmocka_unit_test(test_tls_mutual),
	    cmocka_unit_test(test_tls_issue_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
