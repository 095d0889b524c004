#!/usr/bin/env bash
# ctest: serial
# Readiness as DESIGN defines it, against the dev stack's real servers:
# ready with Redis and PostgreSQL up; Redis stopped -> 503 naming redis; Redis
# back -> 200 without a restart; PostgreSQL stopped -> 200 "degraded" naming
# postgres; PostgreSQL back -> ready again.
set -euo pipefail
src=${GW_SOURCE_DIR:?}
tmp=$(mktemp -d)
source "$src/tests/integration/helpers/lib.sh"
source "$src/tests/integration/helpers/gw.sh"
restore() { "$src/tools/devstack" start-redis >/dev/null 2>&1 || true; "$src/tools/devstack" start-pg >/dev/null 2>&1 || true; cleanup; }
trap restore EXIT

gw_config "$tmp/gw.json" '{"redis": {"connect_timeout_ms": 300, "reconnect_max_ms": 500}, "postgres": {"reconnect_max_ms": 500}}'
gw_start gw "$tmp/gw.json"
ready="http://127.0.0.1:$gw_admin/readyz"

wait_status "$ready" 200 || fail "not ready with the dev stack up"
grep -q '"status":"ready"' "$tmp/last_body" || fail "expected ready: $(cat "$tmp/last_body")"

"$src/tools/devstack" stop-redis >/dev/null
wait_status "$ready" 503 || fail "Redis stopped but /readyz is not 503"
grep -q '"missing":\["redis"\]' "$tmp/last_body" || fail "503 does not name redis: $(cat "$tmp/last_body")"

"$src/tools/devstack" start-redis >/dev/null
wait_status "$ready" 200 20 || fail "Redis back but /readyz did not return to 200"
kill -0 "$gw_pid" || fail "the gateway died"

"$src/tools/devstack" stop-pg >/dev/null
for _ in $(seq 1 150); do
	curl -s -o "$tmp/last_body" "$ready" || true
	grep -q '"status":"degraded"' "$tmp/last_body" && break
	sleep 0.1
done
grep -q '"status":"degraded"' "$tmp/last_body" || fail "PostgreSQL stopped but not degraded: $(cat "$tmp/last_body")"
grep -q '"degraded":\["postgres"\]' "$tmp/last_body" || fail "degraded does not name postgres"
code=$(curl -s -o /dev/null -w '%{http_code}' "$ready")
[ "$code" = 200 ] || fail "degraded must answer 200, got $code"

"$src/tools/devstack" start-pg >/dev/null
for _ in $(seq 1 200); do
	curl -s -o "$tmp/last_body" "$ready" || true
	grep -q '"status":"ready"' "$tmp/last_body" && break
	sleep 0.1
done
grep -q '"status":"ready"' "$tmp/last_body" || fail "PostgreSQL back but not ready: $(cat "$tmp/last_body")"

kill -TERM "$gw_pid"
for _ in $(seq 1 50); do kill -0 "$gw_pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$gw_pid" 2>/dev/null || fail "SIGTERM did not stop the gateway"
wait "$gw_pid"; rc=$?
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
echo "daemon_readyz: ok"
