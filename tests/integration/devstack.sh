#!/usr/bin/env bash
# The dev stack the other tests rely on: env complete, start idempotent,
# Redis with AOF (appendonly, everysec), both services on loopback only,
# PostgreSQL never run by root, migrations applied.
set -euo pipefail
src=${GW_SOURCE_DIR:?}
ds=$src/tools/devstack
fail() { echo "FAIL: $*" >&2; exit 1; }
for v in USSDGW_DEVSTACK_DIR USSDGW_REDIS_HOST USSDGW_REDIS_PORT USSDGW_REDIS_SOCKET \
	USSDGW_PG_OWNER_DSN USSDGW_PG_DSN PGHOST PGPORT; do
	[ -n "${!v:-}" ] || fail "$v is not set: run under tools/run-tests or eval \"\$(tools/devstack env)\""
done

# env prints what the running stack uses.
out=$("$ds" env)
grep -q "^export USSDGW_REDIS_PORT='$USSDGW_REDIS_PORT'$" <<<"$out" || fail "env disagrees: $out"
grep -q "^export USSDGW_PG_DSN='.*user=ussdgw_app'$" <<<"$out" || fail "app DSN: $out"
grep -q "^export USSDGW_PG_OWNER_DSN='.*user=ussdgw_owner'$" <<<"$out" || fail "owner DSN: $out"

# start on a running stack changes nothing and succeeds.
pid_before=$(cat "$USSDGW_DEVSTACK_DIR/redis/redis.pid")
"$ds" start >/dev/null 2>&1 || fail "second start failed"
[ "$(cat "$USSDGW_DEVSTACK_DIR/redis/redis.pid")" = "$pid_before" ] || fail "second start restarted Redis"
"$ds" status >/dev/null || fail "status says something is down"

# Redis: AOF on, fsync every second, loopback and socket only.
rc() { redis-cli -s "$USSDGW_REDIS_SOCKET" "$@"; }
[ "$(rc config get appendonly | tail -n1)" = yes ] || fail "appendonly is not yes"
[ "$(rc config get appendfsync | tail -n1)" = everysec ] || fail "appendfsync is not everysec"
[ "$(rc config get bind | tail -n1)" = 127.0.0.1 ] || fail "Redis binds $(rc config get bind | tail -n1)"
[ "$(redis-cli -h 127.0.0.1 -p "$USSDGW_REDIS_PORT" ping)" = PONG ] || fail "no PONG over TCP"

# PostgreSQL: loopback only, not run by root, at the tree's schema version.
[ "$(psql -X -tA -c 'SHOW listen_addresses')" = 127.0.0.1 ] || fail "listen_addresses"
pm=$(head -n1 "$(dirname "$PGHOST")/data/postmaster.pid")
want=ussdgw-dev
[ "$(id -u)" -eq 0 ] || want=$(id -un)
[ "$(ps -o user= -p "$pm")" = "$want" ] || fail "postgres runs as $(ps -o user= -p "$pm"), want $want"
top=$(ls "$src"/sql/[0-9][0-9][0-9][0-9]-*.sql | sort | tail -n1 | xargs basename | cut -c1-4)
[ "$(psql -X -tA -c 'SELECT max(version) FROM schema_version')" = "$((10#$top))" ] ||
	fail "schema version is not $((10#$top))"
# The restricted role is restricted.
[ "$(psql -X -tA -c "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = 'ussdgw_app'")" = f ] ||
	fail "ussdgw_app has elevated attributes"
echo "devstack: ok"
