/* ussdgw-migrate: apply sql/NNNN-name.sql migrations as the owner role.
 *
 * Each migration runs in its own transaction together with the row that
 * records it in schema_version (version, name, SHA-256 of the file). A landed
 * migration is never edited: when a file's checksum differs from the recorded
 * one the tool refuses to do anything but report. The daemon itself only reads
 * the version (store_pg checks it at connect).
 *
 * Blocking libpq is fine here: this is a command-line tool, not the loop.
 *
 * Exit codes: 0 done / up to date; 1 `check`: the database is behind or ahead;
 * 2 refused (a landed migration changed, or the database has migrations this
 * tree does not); 3 error (usage, connection, SQL).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "ussdgw/gw_error.h"
#include "ussdgw/secfile.h"

#define EXIT_BEHIND  1
#define EXIT_REFUSED 2
#define EXIT_ERROR   3
/* Largest migration file read. */
#define MIGRATION_MAX (4u << 20)
/* pg_advisory_lock key: one migrator at a time per database ("ussdgwmg"). */
#define MIGRATE_LOCK_KEY "7575736467776d67"

struct migration {
	int version;
	char name[128]; /* "init" for 0001-init.sql */
	char path[4096];
	char checksum[65]; /* hex SHA-256 of the file */
	char *sql;
	/* From the database, when applied. */
	bool applied;
	char db_name[128];
	char db_checksum[65];
	char applied_at[64];
};

struct db_only {
	int version;
	char name[128];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ussdgw-migrate [--dsn DSN] [--password-file FILE] [--dir DIR] "
		   "[status|up|check]\n"
		   "\n"
		   "  --dsn DSN             libpq connection string of the owner role\n"
		   "                        (default: $USSDGW_PG_OWNER_DSN)\n"
		   "  --password-file FILE  the owner role's password (mode 0600; default:\n"
		   "                        $USSDGW_PG_OWNER_PASSWORD_FILE when set)\n"
		   "  --dir DIR             folder of NNNN-name.sql files (default: sql)\n"
		   "\n"
		   "  status  list every migration and whether it is applied (default)\n"
		   "  up      apply pending migrations in order, each in a transaction\n"
		   "  check   exit 0 when the database is exactly at this tree's version\n"
		   "\n"
		   "exit: 0 ok, 1 behind/ahead (check), 2 refused (a landed migration\n"
		   "changed or the database is ahead), 3 error\n");
}

static int sha256_hex(const char *data, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return GW_EIO;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (size_t)st.st_size > MIGRATION_MAX) {
		fclose(f);
		return GW_EMSGSIZE;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(f);
		return GW_ENOMEM;
	}
	size_t n = fread(buf, 1, (size_t)st.st_size, f);
	int err = ferror(f);
	fclose(f);
	if (err || n != (size_t)st.st_size) {
		free(buf);
		return GW_EIO;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) { /* a NUL byte cannot go through PQexec */
		free(buf);
		return GW_EPROTO_MALFORMED;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* "0001-init.sql" -> 1, "init". Anything else is not a migration. */
static bool parse_name(const char *fn, int *version, char *name, size_t namesz)
{
	size_t len = strlen(fn);
	if (len < 10 || strcmp(fn + len - 4, ".sql") != 0)
		return false;
	for (int i = 0; i < 4; i++)
		if (fn[i] < '0' || fn[i] > '9')
			return false;
	if (fn[4] != '-')
		return false;
	size_t nlen = len - 9;
	if (nlen == 0 || nlen >= namesz)
		return false;
	for (size_t i = 5; i < len - 4; i++) {
		char c = fn[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	*version = (fn[0] - '0') * 1000 + (fn[1] - '0') * 100 + (fn[2] - '0') * 10 + (fn[3] - '0');
	memcpy(name, fn + 5, nlen);
	name[nlen] = '\0';
	return *version > 0;
}

static int cmp_migration(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

static int load_dir(const char *dir, struct migration **out, size_t *n_out)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "ussdgw-migrate: %s: %s\n", dir, strerror(errno));
		return GW_ENOENT;
	}
	struct migration *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		int version;
		char name[128];
		if (de->d_name[0] == '.')
			continue;
		if (!parse_name(de->d_name, &version, name, sizeof(name))) {
			if (strlen(de->d_name) > 4 &&
			    strcmp(de->d_name + strlen(de->d_name) - 4, ".sql") == 0)
				fprintf(stderr,
					"ussdgw-migrate: ignoring %s/%s (not NNNN-name.sql)\n", dir,
					de->d_name);
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct migration *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = GW_ENOMEM;
				break;
			}
			v = nv;
		}
		struct migration *m = &v[n++];
		memset(m, 0, sizeof(*m));
		m->version = version;
		snprintf(m->name, sizeof(m->name), "%s", name);
		snprintf(m->path, sizeof(m->path), "%s/%s", dir, de->d_name);
		size_t len = 0;
		if ((rc = read_file(m->path, &m->sql, &len)) != 0) {
			fprintf(stderr, "ussdgw-migrate: %s: %s\n", m->path, gw_strerror(rc));
			break;
		}
		if ((rc = sha256_hex(m->sql, len, m->checksum)) != 0)
			break;
	}
	closedir(d);
	if (rc == 0 && n > 0) {
		qsort(v, n, sizeof(*v), cmp_migration);
		for (size_t i = 1; i < n; i++)
			if (v[i].version == v[i - 1].version) {
				fprintf(stderr,
					"ussdgw-migrate: two migrations numbered %04d (%s, %s)\n",
					v[i].version, v[i - 1].name, v[i].name);
				rc = GW_EEXIST;
			}
	}
	*out = v;
	*n_out = n;
	return rc;
}

static void free_migrations(struct migration *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].sql);
	free(v);
}

static bool exec_ok(PGconn *c, const char *sql, ExecStatusType want)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == want;
	if (!ok)
		fprintf(stderr, "ussdgw-migrate: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* Read schema_version (absent before 0001) and match it against the files. */
static int read_applied(PGconn *c, struct migration *v, size_t n, struct db_only **extra,
			size_t *n_extra)
{
	*extra = NULL;
	*n_extra = 0;
	PGresult *r = PQexec(c, "SELECT to_regclass('schema_version') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "ussdgw-migrate: %s", PQerrorMessage(c));
		PQclear(r);
		return GW_EIO;
	}
	bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!exists)
		return 0;
	r = PQexec(c, "SELECT version, name, checksum, "
		      "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
		      "FROM schema_version ORDER BY version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "ussdgw-migrate: reading schema_version: %s", PQerrorMessage(c));
		PQclear(r);
		return GW_EIO;
	}
	int rows = PQntuples(r);
	*extra = calloc((size_t)rows + 1, sizeof(**extra));
	if (!*extra) {
		PQclear(r);
		return GW_ENOMEM;
	}
	for (int i = 0; i < rows; i++) {
		int ver = atoi(PQgetvalue(r, i, 0));
		struct migration *m = NULL;
		for (size_t j = 0; j < n; j++)
			if (v[j].version == ver)
				m = &v[j];
		if (!m) {
			(*extra)[*n_extra].version = ver;
			snprintf((*extra)[*n_extra].name, sizeof((*extra)[0].name), "%s",
				 PQgetvalue(r, i, 1));
			(*n_extra)++;
			continue;
		}
		m->applied = true;
		snprintf(m->db_name, sizeof(m->db_name), "%s", PQgetvalue(r, i, 1));
		snprintf(m->db_checksum, sizeof(m->db_checksum), "%s", PQgetvalue(r, i, 2));
		snprintf(m->applied_at, sizeof(m->applied_at), "%s", PQgetvalue(r, i, 3));
	}
	PQclear(r);
	return 0;
}

static bool changed(const struct migration *m)
{
	return m->applied &&
	       (strcmp(m->checksum, m->db_checksum) != 0 || strcmp(m->name, m->db_name) != 0);
}

static int apply(PGconn *c, const struct migration *m)
{
	if (!exec_ok(c, "BEGIN", PGRES_COMMAND_OK))
		return GW_EIO;
	PGresult *r = PQexec(c, m->sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		fprintf(stderr, "ussdgw-migrate: %04d-%s failed: %s", m->version, m->name,
			PQerrorMessage(c));
		PQclear(r);
		exec_ok(c, "ROLLBACK", PGRES_COMMAND_OK);
		return GW_EIO;
	}
	PQclear(r);
	char ver[16];
	snprintf(ver, sizeof(ver), "%d", m->version);
	const char *params[3] = {ver, m->name, m->checksum};
	r = PQexecParams(c,
			 "INSERT INTO schema_version (version, name, checksum) VALUES ($1, $2, $3)",
			 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "ussdgw-migrate: recording %04d-%s: %s", m->version, m->name,
			PQerrorMessage(c));
		PQclear(r);
		exec_ok(c, "ROLLBACK", PGRES_COMMAND_OK);
		return GW_EIO;
	}
	PQclear(r);
	if (!exec_ok(c, "COMMIT", PGRES_COMMAND_OK))
		return GW_EIO;
	printf("applied %04d-%s (sha256 %.12s)\n", m->version, m->name, m->checksum);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dsn", required_argument, NULL, 'd'},
	    {"dir", required_argument, NULL, 'D'},
	    {"password-file", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dsn = getenv("USSDGW_PG_OWNER_DSN");
	const char *dir = "sql";
	const char *pwfile = getenv("USSDGW_PG_OWNER_PASSWORD_FILE");
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			dsn = optarg;
			break;
		case 'D':
			dir = optarg;
			break;
		case 'p':
			pwfile = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_ERROR;
		}
	}
	const char *cmd = optind < argc ? argv[optind++] : "status";
	if (optind < argc || (strcmp(cmd, "status") && strcmp(cmd, "up") && strcmp(cmd, "check"))) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (!dsn || !*dsn) {
		fprintf(stderr, "ussdgw-migrate: no --dsn and no USSDGW_PG_OWNER_DSN\n");
		return EXIT_ERROR;
	}
	if (pwfile && !*pwfile)
		pwfile = NULL;

	struct migration *v = NULL;
	size_t n = 0;
	if (load_dir(dir, &v, &n) != 0) {
		free_migrations(v, n);
		return EXIT_ERROR;
	}

	char *pw = NULL;
	size_t pwlen = 0;
	if (pwfile) {
		int rc = secfile_read(pwfile, &pw, &pwlen);
		if (rc) {
			fprintf(stderr, "ussdgw-migrate: --password-file %s: %s\n", pwfile,
				gw_strerror(rc));
			free_migrations(v, n);
			return EXIT_ERROR;
		}
	}
	/* The DSN is expanded as dbname; a password from the file overrides it. */
	const char *kw[] = {"dbname", pw ? "password" : NULL, NULL};
	const char *val[] = {dsn, pw, NULL};
	PGconn *c = PQconnectdbParams(kw, val, 1);
	if (pw)
		secfile_free(pw, pwlen);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "ussdgw-migrate: connect: %s", PQerrorMessage(c));
		PQfinish(c);
		free_migrations(v, n);
		return EXIT_ERROR;
	}
	int ret = EXIT_ERROR;
	struct db_only *extra = NULL;
	size_t n_extra = 0;
	if (!exec_ok(c, "SET client_min_messages = warning", PGRES_COMMAND_OK) ||
	    !exec_ok(c, "SELECT pg_advisory_lock(x'" MIGRATE_LOCK_KEY "'::bigint)",
		     PGRES_TUPLES_OK))
		goto out;
	if (read_applied(c, v, n, &extra, &n_extra) != 0)
		goto out;

	int db_version = 0, tree_version = n ? v[n - 1].version : 0, pending = 0, nchanged = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].applied && v[i].version > db_version)
			db_version = v[i].version;
		if (!v[i].applied)
			pending++;
		if (changed(&v[i]))
			nchanged++;
	}
	for (size_t i = 0; i < n_extra; i++)
		if (extra[i].version > db_version)
			db_version = extra[i].version;

	if (!strcmp(cmd, "status")) {
		for (size_t i = 0; i < n; i++) {
			const struct migration *m = &v[i];
			if (changed(m))
				printf("%04d-%-24s CHANGED since applied %s (file %.12s, recorded "
				       "%.12s)\n",
				       m->version, m->name, m->applied_at, m->checksum,
				       m->db_checksum);
			else if (m->applied)
				printf("%04d-%-24s applied %s\n", m->version, m->name,
				       m->applied_at);
			else
				printf("%04d-%-24s pending\n", m->version, m->name);
		}
		for (size_t i = 0; i < n_extra; i++)
			printf("%04d-%-24s in the database only (newer tree?)\n", extra[i].version,
			       extra[i].name);
	}
	for (size_t i = 0; i < n; i++)
		if (changed(&v[i]))
			fprintf(
			    stderr,
			    "ussdgw-migrate: %04d-%s was changed after it was applied; a landed "
			    "migration is never edited: restore it and add a new migration\n",
			    v[i].version, v[i].name);
	for (size_t i = 0; i < n_extra; i++)
		fprintf(stderr, "ussdgw-migrate: the database has %04d-%s, which %s does not\n",
			extra[i].version, extra[i].name, dir);

	const char *verdict = nchanged	? "refused: a landed migration changed"
			      : n_extra ? "ahead of this tree"
			      : pending ? "behind"
					: "up to date";
	if (!strcmp(cmd, "status")) {
		printf("schema version %d, tree version %d: %s", db_version, tree_version, verdict);
		if (pending && !nchanged && !n_extra)
			printf(" (%d pending)", pending);
		printf("\n");
		ret = (nchanged || n_extra) ? EXIT_REFUSED : 0;
	} else if (!strcmp(cmd, "check")) {
		printf("schema version %d, tree version %d: %s\n", db_version, tree_version,
		       verdict);
		ret = (nchanged || n_extra) ? EXIT_REFUSED : pending ? EXIT_BEHIND : 0;
	} else { /* up */
		if (nchanged || n_extra) {
			ret = EXIT_REFUSED;
			goto out;
		}
		/* Files below the database's version that were never applied mean a
		 * migration was inserted behind an applied one: refuse that too. */
		for (size_t i = 0; i < n; i++)
			if (!v[i].applied && v[i].version < db_version) {
				fprintf(
				    stderr,
				    "ussdgw-migrate: %04d-%s is older than the applied version %d; "
				    "take the next free number\n",
				    v[i].version, v[i].name, db_version);
				ret = EXIT_REFUSED;
				goto out;
			}
		int applied = 0;
		for (size_t i = 0; i < n; i++) {
			if (v[i].applied)
				continue;
			if (apply(c, &v[i]) != 0)
				goto out;
			applied++;
		}
		printf("schema version %d: up to date (%d applied)\n", tree_version, applied);
		ret = 0;
	}
out:
	free(extra);
	PQfinish(c);
	free_migrations(v, n);
	return ret;
}
