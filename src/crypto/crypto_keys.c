/* crypto/: the key directory on disk. Creation with fresh keys, mode and owner
 * checks, and a small CA for dev stacks, tests and demos. */
#include "ussdgw/crypto.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/crypto_int.h"
#include "ussdgw/gw_error.h"
#include "ussdgw/log.h"
#include "ussdgw/secfile.h"

#define CA_DAYS	  3650
#define LEAF_DAYS 825
/* Deepest directory level crypto_check_keydir() walks (keydir = 0, tls/ = 1). */
#define CHECK_DEPTH 3

int crypto_path_join(char *out, size_t outsz, const char *a, const char *b, const char *c)
{
	int n = c ? snprintf(out, outsz, "%s/%s/%s", a, b, c) : snprintf(out, outsz, "%s/%s", a, b);
	return n < 0 || (size_t)n >= outsz ? GW_EINVAL : 0;
}

bool crypto_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 64 || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

int crypto_path_check(const char *path, bool want_dir, char *why, size_t whysz)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		int e = errno;
		snprintf(why, whysz, "%s: %s", path, strerror(e));
		return e == ENOENT ? GW_ENOENT : GW_EIO;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, whysz, "%s: is a symbolic link; key material must be a plain %s",
			 path, want_dir ? "directory" : "file");
		return GW_EINSECURE;
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(why, whysz, "%s: not a %s", path, want_dir ? "directory" : "regular file");
		return GW_EINSECURE;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, whysz, "%s: owned by uid %u, not by the gateway's uid %u", path,
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return GW_EINSECURE;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, whysz, "%s: mode %04o gives group/others access (want %s)", path,
			 (unsigned)(st.st_mode & 07777), want_dir ? "0700" : "0600");
		return GW_EINSECURE;
	}
	return 0;
}

int crypto_keyfile_read(const char *path, char **buf, size_t *len)
{
	char why[CRYPTO_PATH_MAX + 128];
	int rc = crypto_path_check(path, false, why, sizeof(why));
	if (rc) {
		LOGP(DCRYPTO, LOG_ERROR, "%s", why);
		return rc;
	}
	rc = secfile_read(path, buf, len);
	if (rc)
		LOGP(DCRYPTO, LOG_ERROR, "%s: %s", path, gw_strerror(rc));
	return rc;
}

int crypto_file_create(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		LOGP(DCRYPTO, LOG_ERROR, "%s: %s", path, strerror(e));
		return e == EEXIST ? GW_EEXIST : GW_EIO;
	}
	const char *p = data;
	size_t done = 0;
	int rc = fchmod(fd, 0600) == 0 ? 0 : GW_EIO;
	while (!rc && done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = GW_EIO;
		else
			done += (size_t)w;
	}
	if (!rc && fsync(fd) != 0)
		rc = GW_EIO;
	if (close(fd) != 0 && !rc)
		rc = GW_EIO;
	if (rc) {
		LOGP(DCRYPTO, LOG_ERROR, "%s: write failed: %s", path, strerror(errno));
		unlink(path);
	}
	return rc;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Write a PEM of @p pk (PKCS#8) or @p crt to a new 0600 file. */
static int pem_write_new(const char *path, EVP_PKEY *pk, X509 *crt)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio && (pk ? PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)
			    : PEM_write_bio_X509(bio, crt));
	int rc = GW_ECRYPTO;
	if (ok) {
		char *data = NULL;
		long n = BIO_get_mem_data(bio, &data);
		rc = crypto_file_create(path, data, (size_t)n);
		OPENSSL_cleanse(data, (size_t)n);
	} else {
		LOGP(DCRYPTO, LOG_ERROR, "%s: PEM encoding failed", path);
	}
	BIO_free(bio);
	return rc;
}

/* ---- key directory creation ---- */

static int ensure_dir(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		LOGP(DCRYPTO, LOG_ERROR, "%s: %s", dir, strerror(errno));
		return GW_EIO;
	}
	/* Whether new or old, it must be ours and private (umask may have cut bits,
	 * never added them, so a new one passes). */
	char why[CRYPTO_PATH_MAX + 128];
	int rc = crypto_path_check(dir, true, why, sizeof(why));
	if (rc) {
		/* A symlinked top directory is allowed, as in crypto_open(). */
		struct stat st;
		if (rc == GW_EINSECURE && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
		    st.st_uid == geteuid() && !(st.st_mode & (S_IRWXG | S_IRWXO)))
			return 0;
		LOGP(DCRYPTO, LOG_ERROR, "%s", why);
	}
	return rc;
}

static int write_hex_key(const char *path)
{
	uint8_t key[32];
	char text[2 * sizeof(key) + 2];
	int rc = crypto_random(key, sizeof(key));
	if (!rc) {
		crypto_hex(key, sizeof(key), text);
		text[2 * sizeof(key)] = '\n';
		text[2 * sizeof(key) + 1] = '\0';
		rc = crypto_file_create(path, text, 2 * sizeof(key) + 1);
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

int crypto_create_keydir(const char *keydir)
{
	static const char *const files[] = {CRYPTO_MASTER_FILE, CRYPTO_TOKEN_FILE,
					    CRYPTO_SIGNING_FILE};
	char paths[3][CRYPTO_PATH_MAX], tls[CRYPTO_PATH_MAX];
	int rc = ensure_dir(keydir);
	if (rc)
		return rc;
	for (int i = 0; i < 3; i++) {
		if ((rc = crypto_path_join(paths[i], sizeof(paths[i]), keydir, files[i], NULL)))
			return rc;
		struct stat st;
		if (lstat(paths[i], &st) == 0) {
			LOGP(DCRYPTO, LOG_ERROR, "%s exists; refusing to overwrite a key",
			     paths[i]);
			return GW_EEXIST;
		}
	}
	if ((rc = crypto_path_join(tls, sizeof(tls), keydir, CRYPTO_TLS_DIR, NULL)) ||
	    (rc = ensure_dir(tls)))
		return rc;

	int created = 0;
	rc = write_hex_key(paths[0]);
	if (!rc && ++created)
		rc = write_hex_key(paths[1]);
	if (!rc && ++created) {
		EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		rc = pk ? pem_write_new(paths[2], pk, NULL) : GW_ECRYPTO;
		EVP_PKEY_free(pk);
	}
	if (rc) {
		/* All or nothing: a half-made directory would refuse the next init. */
		for (int i = 0; i < created; i++)
			unlink(paths[i]);
		return rc;
	}
	fsync_dir(keydir);
	LOGP(DCRYPTO, LOG_INFO, "key directory %s created", keydir);
	return 0;
}

/* ---- checks ---- */

struct check_state {
	crypto_check_cb cb;
	void *cls;
	int first;
};

static void report(struct check_state *cs, const char *path, int err, const char *why)
{
	LOGP(DCRYPTO, LOG_ERROR, "%s", why);
	if (cs->cb)
		cs->cb(cs->cls, path, err, why);
	if (!cs->first)
		cs->first = err;
}

static void check_tree(struct check_state *cs, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d) {
		char why[CRYPTO_PATH_MAX + 64];
		snprintf(why, sizeof(why), "%s: %s", dir, strerror(errno));
		report(cs, dir, GW_EIO, why);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char path[CRYPTO_PATH_MAX], why[CRYPTO_PATH_MAX + 128];
		if (crypto_path_join(path, sizeof(path), dir, de->d_name, NULL)) {
			report(cs, dir, GW_EIO, "path too long in key directory");
			continue;
		}
		struct stat st;
		bool is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
		int rc = crypto_path_check(path, is_dir, why, sizeof(why));
		if (rc)
			report(cs, path, rc, why);
		else if (is_dir && depth < CHECK_DEPTH)
			check_tree(cs, path, depth + 1);
	}
	closedir(d);
}

int crypto_check_keydir(const char *keydir, crypto_check_cb cb, void *cls)
{
	struct check_state cs = {cb, cls, 0};
	char why[CRYPTO_PATH_MAX + 128];
	/* The directory itself may be reached through a symlink (/etc/ussdgw/keys ->
	 * /srv/keys): check what it points to. */
	struct stat st;
	if (stat(keydir, &st) != 0) {
		snprintf(why, sizeof(why), "%s: %s", keydir, strerror(errno));
		report(&cs, keydir, errno == ENOENT ? GW_ENOENT : GW_EIO, why);
		return cs.first;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, sizeof(why), "%s: not a directory", keydir);
		report(&cs, keydir, GW_EINSECURE, why);
		return cs.first;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, sizeof(why), "%s: owned by uid %u, not by the gateway's uid %u",
			 keydir, (unsigned)st.st_uid, (unsigned)geteuid());
		report(&cs, keydir, GW_EINSECURE, why);
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, sizeof(why), "%s: mode %04o gives group/others access (want 0700)",
			 keydir, (unsigned)(st.st_mode & 07777));
		report(&cs, keydir, GW_EINSECURE, why);
	}
	static const char *const required[] = {CRYPTO_MASTER_FILE, CRYPTO_TOKEN_FILE,
					       CRYPTO_SIGNING_FILE};
	for (int i = 0; i < 3; i++) {
		char path[CRYPTO_PATH_MAX];
		if (crypto_path_join(path, sizeof(path), keydir, required[i], NULL))
			return GW_EINVAL;
		if (lstat(path, &st) != 0 && errno == ENOENT) {
			snprintf(why, sizeof(why), "%s: missing (run ussdgw-keys init)", path);
			report(&cs, path, GW_ENOENT, why);
		}
	}
	check_tree(&cs, keydir, 1);
	return cs.first;
}

/* ---- certificates ---- */

static int add_ext(X509 *crt, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, crt, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	int ok = ext && X509_add_ext(crt, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* Turn "localhost,127.0.0.1" into "DNS:localhost,IP:127.0.0.1"; GW_EINVAL for an
 * entry that is neither an IP literal nor a DNS name. */
static int san_value(const char *sans, char *out, size_t outsz)
{
	char list[1024];
	if ((size_t)snprintf(list, sizeof(list), "%s", sans) >= sizeof(list))
		return GW_EINVAL;
	size_t o = 0;
	out[0] = '\0';
	char *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned char addr[16];
		const char *kind;
		if (inet_pton(AF_INET, tok, addr) == 1 || inet_pton(AF_INET6, tok, addr) == 1) {
			kind = "IP";
		} else {
			kind = "DNS";
			size_t n = strlen(tok);
			if (n == 0 || n > 253)
				return GW_EINVAL;
			for (size_t i = 0; i < n; i++) {
				char ch = tok[i];
				if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
				      (ch == '*' && i == 0)))
					return GW_EINVAL;
			}
		}
		int w = snprintf(out + o, outsz - o, "%s%s:%s", o ? "," : "", kind, tok);
		if (w < 0 || (size_t)w >= outsz - o)
			return GW_EINVAL;
		o += (size_t)w;
	}
	return o ? 0 : GW_EINVAL;
}

/* A certificate for @p cn with key @p pk, signed by @p ca_key (self-signed when
 * @p ca is NULL). */
static X509 *make_cert(const char *cn, EVP_PKEY *pk, X509 *ca, EVP_PKEY *ca_key, int days,
		       const char *san)
{
	X509 *crt = X509_new();
	BIGNUM *bn = BN_new();
	X509_NAME *name = X509_NAME_new();
	int ok = crt && bn && name && X509_set_version(crt, X509_VERSION_3) &&
		 BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)) &&
		 X509_gmtime_adj(X509_getm_notBefore(crt), -300) &&
		 X509_time_adj_ex(X509_getm_notAfter(crt), days, 0, NULL) &&
		 X509_set_pubkey(crt, pk) &&
		 X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					    (const unsigned char *)"ussdgw", -1, -1, 0) &&
		 X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
					    -1, -1, 0) &&
		 X509_set_subject_name(crt, name) &&
		 X509_set_issuer_name(crt, ca ? X509_get_subject_name(ca) : name);
	X509 *issuer = ca ? ca : crt;
	if (ok && !ca) {
		ok = add_ext(crt, issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
		     add_ext(crt, issuer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
		     add_ext(crt, issuer, NID_subject_key_identifier, "hash");
	} else if (ok) {
		ok = add_ext(crt, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(crt, issuer, NID_key_usage, "critical,digitalSignature") &&
		     add_ext(crt, issuer, NID_ext_key_usage, "serverAuth,clientAuth") &&
		     add_ext(crt, issuer, NID_subject_alt_name, san) &&
		     add_ext(crt, issuer, NID_subject_key_identifier, "hash") &&
		     add_ext(crt, issuer, NID_authority_key_identifier, "keyid:always");
	}
	if (ok)
		ok = X509_sign(crt, ca_key, EVP_sha256()) > 0;
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		unsigned long e = ERR_get_error();
		char buf[256] = "unknown error";
		if (e)
			ERR_error_string_n(e, buf, sizeof(buf));
		ERR_clear_error();
		LOGP(DCRYPTO, LOG_ERROR, "certificate for %s: %s", cn, buf);
		X509_free(crt);
		return NULL;
	}
	return crt;
}

static EVP_PKEY *ec_key_new(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* Load an existing CA (both files present) or make one (both missing). */
static int ca_load_or_make(const char *tlsdir, const char *ca_name, X509 **ca, EVP_PKEY **ca_key)
{
	char crt[CRYPTO_PATH_MAX], key[CRYPTO_PATH_MAX], file[80], why[CRYPTO_PATH_MAX + 128];
	snprintf(file, sizeof(file), "%s.crt", ca_name);
	int rc = crypto_path_join(crt, sizeof(crt), tlsdir, file, NULL);
	snprintf(file, sizeof(file), "%s.key", ca_name);
	if (!rc)
		rc = crypto_path_join(key, sizeof(key), tlsdir, file, NULL);
	if (rc)
		return rc;
	struct stat st;
	bool have_crt = lstat(crt, &st) == 0, have_key = lstat(key, &st) == 0;
	if (have_crt != have_key) {
		LOGP(DCRYPTO, LOG_ERROR, "%s: CA half present (%s missing)", tlsdir,
		     have_crt ? key : crt);
		return GW_ENOENT;
	}
	if (!have_crt) {
		*ca_key = ec_key_new();
		char cn[96];
		snprintf(cn, sizeof(cn), "ussdgw %s", ca_name);
		*ca = *ca_key ? make_cert(cn, *ca_key, NULL, *ca_key, CA_DAYS, NULL) : NULL;
		if (!*ca)
			return GW_ECRYPTO;
		if ((rc = pem_write_new(key, *ca_key, NULL)))
			return rc;
		if ((rc = pem_write_new(crt, NULL, *ca))) {
			unlink(key);
			return rc;
		}
		LOGP(DCRYPTO, LOG_INFO, "created CA %s", crt);
		return 0;
	}
	char *buf = NULL;
	size_t len = 0;
	if ((rc = crypto_path_check(crt, false, why, sizeof(why)))) {
		LOGP(DCRYPTO, LOG_ERROR, "%s", why);
		return rc;
	}
	if ((rc = crypto_keyfile_read(key, &buf, &len)))
		return rc;
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	*ca_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	secfile_free(buf, len);
	FILE *f = fopen(crt, "re");
	*ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!*ca || !*ca_key || X509_check_private_key(*ca, *ca_key) != 1) {
		ERR_clear_error();
		LOGP(DCRYPTO, LOG_ERROR, "%s / %s: cannot load a matching CA pair", crt, key);
		return GW_ECRYPTO;
	}
	return 0;
}

int crypto_tls_issue(const char *keydir, const char *name, const char *ca_name, const char *sans)
{
	if (!ca_name)
		ca_name = "ca";
	if (!sans)
		sans = "localhost,127.0.0.1";
	if (!crypto_name_ok(name) || !crypto_name_ok(ca_name) || !strcmp(name, ca_name)) {
		LOGP(DCRYPTO, LOG_ERROR,
		     "TLS names must be plain, distinct file names ('%s', '%s')", name ? name : "",
		     ca_name);
		return GW_EINVAL;
	}
	char san[2048];
	if (san_value(sans, san, sizeof(san))) {
		LOGP(DCRYPTO, LOG_ERROR, "bad subjectAltName list '%s'", sans);
		return GW_EINVAL;
	}
	char tlsdir[CRYPTO_PATH_MAX], crt[CRYPTO_PATH_MAX], key[CRYPTO_PATH_MAX], file[80];
	int rc = crypto_path_join(tlsdir, sizeof(tlsdir), keydir, CRYPTO_TLS_DIR, NULL);
	snprintf(file, sizeof(file), "%s.crt", name);
	if (!rc)
		rc = crypto_path_join(crt, sizeof(crt), tlsdir, file, NULL);
	snprintf(file, sizeof(file), "%s.key", name);
	if (!rc)
		rc = crypto_path_join(key, sizeof(key), tlsdir, file, NULL);
	if (rc)
		return rc;
	/* The key directory must exist (init makes it) and be private. */
	struct stat st;
	if (stat(keydir, &st) != 0) {
		LOGP(DCRYPTO, LOG_ERROR, "%s: %s (run ussdgw-keys init first)", keydir,
		     strerror(errno));
		return GW_ENOENT;
	}
	if ((rc = ensure_dir(keydir)) || (rc = ensure_dir(tlsdir)))
		return rc;
	if (lstat(crt, &st) == 0 || lstat(key, &st) == 0) {
		LOGP(DCRYPTO, LOG_ERROR, "%s or %s exists; refusing to overwrite", crt, key);
		return GW_EEXIST;
	}
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *pk = NULL;
	rc = ca_load_or_make(tlsdir, ca_name, &ca, &ca_key);
	if (!rc) {
		pk = ec_key_new();
		leaf = pk ? make_cert(name, pk, ca, ca_key, LEAF_DAYS, san) : NULL;
		rc = leaf ? 0 : GW_ECRYPTO;
	}
	if (!rc)
		rc = pem_write_new(key, pk, NULL);
	if (!rc && (rc = pem_write_new(crt, NULL, leaf)) != 0)
		unlink(key);
	if (!rc) {
		fsync_dir(tlsdir);
		LOGP(DCRYPTO, LOG_INFO, "issued %s (%s) signed by %s", crt, san, ca_name);
	}
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(ca_key);
	return rc;
}
