#!/usr/bin/env bash
# The daemon's HTTP listeners end to end: ports chosen by the kernel (port 0,
# read back from the log), /healthz, /readyz and /metrics on the admin
# listener, a problem body for an unknown callback on the public one, and a
# clean exit on SIGTERM.
set -euo pipefail
gw=${GW_BUILD_DIR:?}/ussdgw
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- log:" >&2; cat "$tmp/log" >&2 || true; exit 1; }

. "${GW_SOURCE_DIR:?}/tests/integration/helpers/gw.sh"
gw_config "$tmp/gw.json"
"$gw" --config "$tmp/gw.json" 2> "$tmp/log" &
pid=$!

# Wait (bounded) for both listeners to report their ports.
for _ in $(seq 100); do
	grep -q "public: listening on" "$tmp/log" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || fail "ussdgw exited early"
	sleep 0.1
done
admin=$(sed -n 's/.*admin: listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$tmp/log")
public=$(sed -n 's/.*public: listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$tmp/log")
[ -n "$admin" ] && [ -n "$public" ] || fail "listeners did not report ports"

c() { curl -sS --max-time 5 -o "$tmp/body" -w '%{http_code} %{content_type}' "$@"; }

out=$(c "http://127.0.0.1:$admin/healthz")
[ "$out" = "200 application/json" ] || fail "/healthz: $out"

out=$(c "http://127.0.0.1:$admin/readyz")
[ "${out%% *}" = 200 ] || fail "/readyz: $out"
grep -q '"status":"ready"' "$tmp/body" || fail "/readyz body: $(cat "$tmp/body")"

c "http://127.0.0.1:$admin/healthz" >/dev/null
out=$(c "http://127.0.0.1:$admin/metrics")
[ "$out" = "200 text/plain; version=0.0.4; charset=utf-8" ] || fail "/metrics: $out"
grep -q '^gw_http_requests_total{listener="admin",route="/healthz",method="GET",status="200"} [1-9]' "$tmp/body" ||
	fail "/metrics lacks the healthz counter"

out=$(c -X POST -H 'Content-Type: application/json' -d '{}' \
	"http://127.0.0.1:$public/callbacks/nosuch/tok_0123456789abcdef")
[ "$out" = "404 application/problem+json" ] || fail "unknown callback: $out"
grep -q '"code":"not-found"' "$tmp/body" || fail "problem body: $(cat "$tmp/body")"

# The admin endpoints are not on the public listener.
out=$(c "http://127.0.0.1:$public/metrics")
[ "${out%% *}" = 404 ] || fail "/metrics on the public listener: $out"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
grep -q "service http-public drained" "$tmp/log" || fail "public listener did not drain"
echo "http_listeners: ok"
