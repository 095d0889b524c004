/* ussdgw-keys: create and check the gateway's key directory.
 *
 *   ussdgw-keys init DIR
 *   ussdgw-keys tls DIR NAME [--ca CA_NAME] [--san LIST]
 *   ussdgw-keys pubkey DIR
 *   ussdgw-keys check DIR
 *   ussdgw-keys hash-password [--cost LN] < password
 *   ussdgw-keys msisdn-token DIR MSISDN
 *
 * Exit codes: 0 success, 1 the operation failed (insecure modes, existing keys,
 * crypto error), 2 usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ussdgw/crypto.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/passwd.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: ussdgw-keys COMMAND ARGS\n"
    "\n"
    "  init DIR                 create DIR (mode 0700) with a fresh master key,\n"
    "                           MSISDN token key and audit signing key (files 0600);\n"
    "                           refuses to overwrite existing keys\n"
    "  tls DIR NAME [--ca CA] [--san LIST]\n"
    "                           issue DIR/tls/NAME.crt + NAME.key signed by\n"
    "                           DIR/tls/CA.crt (default CA name \"ca\"), creating a\n"
    "                           self-signed CA when it is missing; LIST is DNS names\n"
    "                           and IP literals, comma-separated\n"
    "                           (default localhost,127.0.0.1)\n"
    "  pubkey DIR               print the audit signing public key (Ed25519, hex)\n"
    "  check DIR                check modes and owners; names each offending file\n"
    "  msisdn-token DIR MSISDN  print the MSISDN's token (keyed HMAC, hex) as Redis\n"
    "                           keys use it (consent: ussdgw:consent:{TOKEN})\n"
    "  hash-password [--cost LN]\n"
    "                           read a password (one line) on standard input and\n"
    "                           print its scrypt hash for accounts[].password_hash\n"
    "                           (N = 2^LN, default 14)\n"
    "\n"
    "exit status: 0 ok, 1 failed, 2 usage error\n";

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "ussdgw-keys: %s\n\n", why);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int fail(const char *what, const char *dir, int rc)
{
	fprintf(stderr, "ussdgw-keys: %s %s: %s (%s)\n", what, dir, gw_strerror(rc),
		gw_errname(rc));
	return EXIT_FAIL;
}

static int cmd_init(const char *dir)
{
	int rc = crypto_create_keydir(dir);
	if (rc)
		return fail("init", dir, rc);
	printf("created key directory %s\n", dir);
	return 0;
}

static int cmd_tls(int argc, char **argv)
{
	if (argc < 2)
		return usage("tls needs DIR and NAME");
	const char *dir = argv[0], *name = argv[1], *ca = NULL, *san = NULL;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--ca") && i + 1 < argc)
			ca = argv[++i];
		else if (!strcmp(argv[i], "--san") && i + 1 < argc)
			san = argv[++i];
		else
			return usage("tls: unknown or incomplete option");
	}
	int rc = crypto_tls_issue(dir, name, ca, san);
	if (rc)
		return fail("tls", dir, rc);
	printf("issued %s/tls/%s.crt signed by %s/tls/%s.crt\n", dir, name, dir, ca ? ca : "ca");
	return 0;
}

static int cmd_pubkey(const char *dir)
{
	struct crypto_keyring *kr;
	int rc = crypto_open(dir, &kr);
	if (rc)
		return fail("pubkey", dir, rc);
	uint8_t pub[32];
	char hex[65];
	rc = crypto_sign_public(kr, pub);
	crypto_close(kr);
	if (rc)
		return fail("pubkey", dir, rc);
	crypto_hex(pub, sizeof(pub), hex);
	printf("%s\n", hex);
	return 0;
}

static int cmd_msisdn_token(const char *dir, const char *msisdn)
{
	struct crypto_keyring *kr;
	int rc = crypto_open(dir, &kr);
	if (rc)
		return fail("msisdn-token", dir, rc);
	char tok[CRYPTO_TOKEN_HEX + 1];
	rc = crypto_msisdn_token(kr, msisdn, tok);
	crypto_close(kr);
	if (rc)
		return fail("msisdn-token", msisdn, rc);
	printf("%s\n", tok);
	return 0;
}

static void on_bad(void *cls, const char *path, int err, const char *why)
{
	int *count = cls;
	(*count)++;
	(void)path; /* @p why names it */
	fprintf(stderr, "ussdgw-keys: %s [%s]\n", why, gw_errname(err));
}

static int cmd_check(const char *dir)
{
	int bad = 0;
	/* on_bad() prints each problem; keep the library from printing it twice. */
	log_set_level(DCRYPTO, LOG_FATAL);
	int rc = crypto_check_keydir(dir, on_bad, &bad);
	log_set_level(DCRYPTO, LOG_ERROR);
	if (rc) {
		fprintf(stderr, "ussdgw-keys: check %s: %d problem(s)\n", dir, bad);
		return EXIT_FAIL;
	}
	/* Modes are right; now the keys must also load. */
	struct crypto_keyring *kr;
	rc = crypto_open(dir, &kr);
	if (rc)
		return fail("check", dir, rc);
	crypto_close(kr);
	printf("%s: ok\n", dir);
	return 0;
}

static int cmd_hash_password(int argc, char **argv)
{
	unsigned ln = PASSWD_DEFAULT_LN;
	if (argc == 2 && !strcmp(argv[0], "--cost")) {
		char *end;
		unsigned long v = strtoul(argv[1], &end, 10);
		if (*end || v < 1 || v > PASSWD_MAX_LN)
			return usage("hash-password: --cost must be 1..20");
		ln = (unsigned)v;
	} else if (argc != 0) {
		return usage("hash-password: unknown or incomplete option");
	}
	char pw[1024];
	if (!fgets(pw, sizeof(pw), stdin)) {
		fprintf(stderr, "ussdgw-keys: hash-password: no password on standard input\n");
		return EXIT_FAIL;
	}
	size_t n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n == 0) {
		fprintf(stderr, "ussdgw-keys: hash-password: empty password\n");
		return EXIT_FAIL;
	}
	char out[PASSWD_HASH_MAX];
	int rc = passwd_hash(pw, n, ln, out, sizeof(out));
	memset(pw, 0, sizeof(pw));
	if (rc)
		return fail("hash-password", "", rc);
	printf("%s\n", out);
	return 0;
}

int main(int argc, char **argv)
{
	/* The tool talks to people: plain text, no timestamps. The library logs the
	 * detail (naming files) at error level. */
	log_set_format(LOG_FMT_TEXT);
	log_set_timestamps(false);
	log_set_level(DCRYPTO, LOG_ERROR);
	if (argc < 2)
		return usage(NULL);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "tls"))
		return cmd_tls(argc - 2, argv + 2);
	if (!strcmp(cmd, "msisdn-token")) {
		if (argc != 4)
			return usage("msisdn-token needs DIR and MSISDN");
		return cmd_msisdn_token(argv[2], argv[3]);
	}
	if (!strcmp(cmd, "hash-password"))
		return cmd_hash_password(argc - 2, argv + 2);
	if (argc != 3)
		return usage("wrong number of arguments");
	if (!strcmp(cmd, "init"))
		return cmd_init(argv[2]);
	if (!strcmp(cmd, "pubkey"))
		return cmd_pubkey(argv[2]);
	if (!strcmp(cmd, "check"))
		return cmd_check(argv[2]);
	return usage("unknown command");
}
