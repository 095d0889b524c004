#!/usr/bin/env bash
# ussdgw-migrate against a scratch database on the dev stack: up applies every
# migration in order and twice is a no-op; status and check report behind /
# up to date / ahead; an edited landed migration is refused; a failing
# migration leaves nothing behind; the password comes from a 0600 file.
# Works on a temporary copy of sql/, never on the tree.
set -euo pipefail
src=${GW_SOURCE_DIR:?}
mig=${GW_BUILD_DIR:?}/ussdgw-migrate
fail() { echo "FAIL: $*" >&2; exit 1; }
for v in PGHOST PGPORT PGUSER USSDGW_PG_OWNER_PASSWORD_FILE; do
	[ -n "${!v:-}" ] || fail "$v is not set: run under tools/run-tests or eval \"\$(tools/devstack env)\""
done
# The DSN comes from the command line below, and from the environment once.
unset USSDGW_PG_OWNER_DSN

tmp=$(mktemp -d)
db=ussdgw_migtest_$$
psql_su() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
cleanup() {
	psql_su -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
psql_su -c "CREATE DATABASE $db OWNER ussdgw_owner"
dsn="host=$PGHOST port=$PGPORT dbname=$db user=ussdgw_owner"
mkdir "$tmp/sql"
cp "$src"/sql/[0-9][0-9][0-9][0-9]-*.sql "$tmp/sql/"
nfiles=$(ls "$tmp/sql" | wc -l)
top=$(ls "$tmp/sql" | sort | tail -n1 | cut -c1-4)
top=$((10#$top))
[ "$nfiles" -ge 1 ] || fail "no migrations in sql/"
run() { "$mig" --dsn "$dsn" --dir "$tmp/sql" "$@"; }
rows() { psql -X -tA -d "$db" -c "SELECT count(*) FROM schema_version"; }

# A fresh database: everything pending, check says behind (exit 1).
out=$(run status) || fail "status on a fresh database exited $?"
grep -q "^0001-init *pending" <<<"$out" || fail "0001 not pending: $out"
grep -q "schema version 0, tree version $top: behind ($nfiles pending)" <<<"$out" || fail "status: $out"
set +e; run check >/dev/null; rc=$?; set -e
[ $rc -eq 1 ] || fail "check on a fresh database exited $rc, want 1"

# Up applies every file in order; a second up is a no-op.
out=$(run up) || fail "up failed: $out"
grep -q "applied 0001-init" <<<"$out" || fail "up did not apply 0001: $out"
[ "$(grep -c '^applied ' <<<"$out")" -eq "$nfiles" ] || fail "up applied the wrong count: $out"
[ "$(rows)" -eq "$nfiles" ] || fail "schema_version has $(rows) rows, want $nfiles"
out=$(run up) || fail "second up failed: $out"
grep -q "(0 applied)" <<<"$out" || fail "second up was not a no-op: $out"
[ "$(rows)" -eq "$nfiles" ] || fail "second up changed schema_version"
run check >/dev/null || fail "check after up exited $?"
out=$(run status)
grep -q "^0001-init *applied 20" <<<"$out" || fail "status does not show 0001 applied: $out"
grep -q "tree version $top: up to date" <<<"$out" || fail "status: $out"
# The recorded checksum is the file's SHA-256.
want=$(sha256sum "$tmp/sql/0001-init.sql" | cut -c1-64)
got=$(psql -X -tA -d "$db" -c "SELECT checksum FROM schema_version WHERE version = 1")
[ "$want" = "$got" ] || fail "checksum $got, want $want"

# An edited landed migration: refused by up, flagged by status and check.
cp "$tmp/sql/0001-init.sql" "$tmp/0001.orig"
echo "-- an innocent-looking edit" >> "$tmp/sql/0001-init.sql"
set +e; out=$(run up 2>&1); rc=$?; set -e
[ $rc -eq 2 ] || fail "up with an edited migration exited $rc, want 2: $out"
grep -q "0001-init was changed after it was applied" <<<"$out" || fail "no refusal message: $out"
set +e; out=$(run status 2>/dev/null); rc=$?; set -e
[ $rc -eq 2 ] || fail "status with an edited migration exited $rc"
grep -q "^0001-init *CHANGED" <<<"$out" || fail "status does not flag the change: $out"
set +e; run check >/dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || fail "check with an edited migration exited $rc, want 2"
cp "$tmp/0001.orig" "$tmp/sql/0001-init.sql"
run check >/dev/null || fail "check after restoring exited $?"

# A new migration (skipping a number, see below) is applied once.
n2=$(printf '%04d' $((top + 2)))
cat > "$tmp/sql/$n2-scratch.sql" <<'EOF'
CREATE TABLE scratch (id bigint PRIMARY KEY);
GRANT SELECT, INSERT ON scratch TO ussdgw_app;
EOF
out=$(run up) || fail "up with a new migration failed: $out"
grep -q "applied $n2-scratch" <<<"$out" || fail "new migration not applied: $out"
grep -q "(1 applied)" <<<"$out" || fail "up re-applied old migrations: $out"

# A file numbered below the applied version that was never applied: refused.
n1=$(printf '%04d' $((top + 1)))
echo "SELECT 1;" > "$tmp/sql/$n1-late.sql"
set +e; out=$(run up 2>&1); rc=$?; set -e
[ $rc -eq 2 ] || fail "up with a migration inserted behind exited $rc: $out"
grep -q "older than the applied version" <<<"$out" || fail "no message for the late file: $out"
rm "$tmp/sql/$n1-late.sql"

# The database is ahead of a tree without that migration: check and up refuse.
mv "$tmp/sql/$n2-scratch.sql" "$tmp/"
set +e; out=$(run check 2>&1); rc=$?; set -e
[ $rc -eq 2 ] || fail "check on a database ahead exited $rc: $out"
grep -q "ahead of this tree" <<<"$out" || fail "check does not say ahead: $out"
set +e; run up >/dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || fail "up on a database ahead exited $rc"
mv "$tmp/$n2-scratch.sql" "$tmp/sql/"

# A failing migration rolls back entirely: no table, no version row.
n3=$(printf '%04d' $((top + 3)))
cat > "$tmp/sql/$n3-broken.sql" <<'EOF'
CREATE TABLE half_done (id int);
SELECT 1/0;
EOF
set +e; out=$(run up 2>&1); rc=$?; set -e
[ $rc -eq 3 ] || fail "up with a failing migration exited $rc: $out"
grep -q "division by zero" <<<"$out" || fail "failure not reported: $out"
[ "$(psql -X -tA -d "$db" -c "SELECT to_regclass('half_done') IS NULL")" = t ] || fail "half_done left behind"
[ "$(psql -X -tA -d "$db" -c "SELECT count(*) FROM schema_version WHERE version = $((10#$n3))")" = 0 ] ||
	fail "a failed migration was recorded"
rm "$tmp/sql/$n3-broken.sql"

# Two files with one number: refused before connecting.
cp "$tmp/sql/$n2-scratch.sql" "$tmp/sql/$n2-twin.sql"
set +e; out=$(run status 2>&1); rc=$?; set -e
[ $rc -eq 3 ] || fail "duplicate numbers exited $rc: $out"
grep -q "two migrations numbered $n2" <<<"$out" || fail "duplicate not named: $out"
rm "$tmp/sql/$n2-twin.sql"

# Over loopback TCP the owner needs its password, read from a 0600 file; the
# DSN may come from the environment.
tcp="host=127.0.0.1 port=$PGPORT dbname=$db user=ussdgw_owner"
out=$(PGPASSWORD= USSDGW_PG_OWNER_PASSWORD_FILE= USSDGW_PG_OWNER_DSN=$tcp \
	"$mig" --dir "$tmp/sql" --password-file "$USSDGW_PG_OWNER_PASSWORD_FILE" check) ||
	fail "check over TCP with the password file failed: $out"
set +e; out=$(PGPASSFILE=/dev/null USSDGW_PG_OWNER_PASSWORD_FILE= "$mig" --dsn "$tcp" --dir "$tmp/sql" check 2>&1); rc=$?; set -e
[ $rc -eq 3 ] || fail "TCP without a password exited $rc: $out"
cp "$USSDGW_PG_OWNER_PASSWORD_FILE" "$tmp/pw"; chmod 644 "$tmp/pw"
set +e; out=$("$mig" --dsn "$tcp" --dir "$tmp/sql" --password-file "$tmp/pw" check 2>&1); rc=$?; set -e
[ $rc -eq 3 ] || fail "a world-readable password file was accepted: $out"
grep -q "password-file" <<<"$out" || fail "password file error not named: $out"

# The restricted role sees the version table but cannot write it.
apppw=$(cat "${USSDGW_PG_APP_PASSWORD_FILE:?}")
set +e
out=$(PGPASSWORD=$apppw psql -X -tA "host=127.0.0.1 port=$PGPORT dbname=$db user=ussdgw_app" \
	-c "DELETE FROM schema_version" 2>&1); rc=$?
set -e
[ $rc -ne 0 ] && grep -q "permission denied" <<<"$out" || fail "ussdgw_app could delete from schema_version: $out"
echo "migrate: ok"
