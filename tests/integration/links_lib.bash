# Shared setup for the SMPP link script tests (sourced, not a test itself).
# Starts the simulator (tools/smsc-sim) and the real ussdgw daemon with one link
# pointing at it, against the dev stack's Redis. Everything is bounded in time.
set -euo pipefail
src=${GW_SOURCE_DIR:?}
bld=${GW_BUILD_DIR:?}
gw=$bld/ussdgw
mtq=$bld/ussdgw-mtq
eval "$("$src/tools/devstack" env)"
[ -n "${USSDGW_REDIS_PORT:-}" ] || { echo "FAIL: no dev stack (tools/devstack start)" >&2; exit 1; }
tmp=$(mktemp -d)
sim_pid= gw_pid=
LINK=t$$_$RANDOM
cleanup() {
	local rc=$?
	[ -n "$gw_pid" ] && { kill -9 "$gw_pid"; wait "$gw_pid" || true; } 2>/dev/null
	[ -n "$sim_pid" ] && { kill -9 "$sim_pid"; wait "$sim_pid" || true; } 2>/dev/null
	redis-cli -p "$USSDGW_REDIS_PORT" --scan --pattern "ussdgw:*{$LINK}*" 2>/dev/null |
		xargs -r redis-cli -p "$USSDGW_REDIS_PORT" del >/dev/null 2>&1 || true
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	echo "--- ussdgw log (tail):" >&2; tail -n 60 "$tmp/gw.log" >&2 2>/dev/null || true
	echo "--- sim log (tail):" >&2; tail -n 20 "$tmp/sim.err" >&2 2>/dev/null || true
	exit 1
}
mkdir -m 700 "$tmp/keys"
"$bld/ussdgw-keys" init "$tmp/keys" >/dev/null

# start_sim [flags...]: sets SIM_PORT and CTL (first start picks ports; later starts reuse SIM_PORT)
start_sim() {
	local port=${SIM_PORT:-0}
	"$src/tools/smsc-sim/smsc-sim" --port "$port" --control-port "${CTL_PORT:-0}" "$@" \
		> "$tmp/sim.out" 2>> "$tmp/sim.err" &
	sim_pid=$!
	for _ in $(seq 100); do
		grep -q '^listening' "$tmp/sim.out" 2>/dev/null && break
		sleep 0.1
	done
	read -r _ SIM_PORT CTL_PORT < <(head -n1 "$tmp/sim.out")
	[ -n "$SIM_PORT" ] || fail "simulator did not start"
	CTL=http://127.0.0.1:$CTL_PORT
}
# write_config [extra link keys as JSON members, e.g. '"window": 5,']
write_config() {
	local extra=${1:-} tls=${2:-} pwline=''
	[ -n "${USSDGW_PG_APP_PASSWORD_FILE:-}" ] && pwline=", \"password_file\": \"$USSDGW_PG_APP_PASSWORD_FILE\""
	cat > "$tmp/gw.json" <<JSON
{
  "node": { "id": "n$$" },
  "log": { "level": "info", "format": "text" },
  "keys": { "dir": "$tmp/keys" },
  "redis": { "host": "127.0.0.1", "port": $USSDGW_REDIS_PORT },
  "postgres": { "dsn": "$USSDGW_PG_DSN"$pwline },
  "audit": { "journal_dir": "$tmp/journal", "export_file": "$tmp/heads.log" },
  "listeners": { "admin": { "address": "127.0.0.1", "port": 0 }, "public": { "enabled": false } },
  "shutdown": { "deadline_ms": 8000 },
  "links": [ { "name": "$LINK", "system_id": "ussdgw", "password_file": "$tmp/pw",
               "enquire_link_s": 2, "response_timeout_ms": 2000, "reconnect_min_ms": 100,
               "reconnect_max_ms": 500, "mt_retry_min_ms": 100, "unbind_timeout_ms": 2000,
               "binds": [ { "host": "127.0.0.1", "port": $SIM_PORT } ] } ]
}
JSON
	# Extra keys (JSON members, e.g. '"window": 5,') override the defaults above.
	if [ -n "$extra" ]; then
		jq ".links[0] += {${extra%,}}" "$tmp/gw.json" > "$tmp/gw.json.new"
		mv "$tmp/gw.json.new" "$tmp/gw.json"
	fi
	printf 'ussdgw' > "$tmp/pw"
	chmod 600 "$tmp/gw.json" "$tmp/pw"
}
start_gw() {
	"$gw" --config "$tmp/gw.json" 2>> "$tmp/gw.log" &
	gw_pid=$!
	for _ in $(seq 100); do
		grep -q "admin: listening on" "$tmp/gw.log" 2>/dev/null && break
		kill -0 "$gw_pid" 2>/dev/null || fail "ussdgw exited early"
		sleep 0.1
	done
	ADMIN=$(sed -n 's/.*admin: listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$tmp/gw.log" | tail -n1)
}
wait_bound() { # [n]
	curl -sS --max-time 20 "$CTL/binds?min=${1:-1}&wait_ms=15000" > "$tmp/binds.json" || fail "binds"
	[ "$(jq '[.binds[]? // .[]?] | length' "$tmp/binds.json" 2>/dev/null || echo 0)" -ge "${1:-1}" ] ||
		grep -q "BOUND" "$tmp/gw.log" || fail "not bound: $(cat "$tmp/binds.json")"
}
ctl() { curl -sS --max-time 70 "$@"; }
faults() { ctl -X POST -H 'Content-Type: application/json' -d "$1" "$CTL/faults" > /dev/null; }
stats() { ctl "$CTL/stats"; }
enqueue() { "$mtq" --config "$tmp/gw.json" --link "$LINK" "$@"; }
show() { "$mtq" --config "$tmp/gw.json" --link "$LINK" --show "$1"; }
# wait_for CMD... : retry a command until it succeeds, at most ~20 s
wait_for() {
	for _ in $(seq 200); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	return 1
}
metrics() { curl -sS --max-time 5 "http://127.0.0.1:$ADMIN/metrics"; }
lines_ge() { [ "$(wc -l < "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }
dlr_state_is() { "$mtq" --config "$tmp/gw.json" --link "$LINK" --show "$1" 2>/dev/null | grep -q "^dlr_state=$2$"; }
state_is() { "$mtq" --config "$tmp/gw.json" --link "$LINK" --show "$1" 2>/dev/null | grep -q "^state=$2$"; }
# distinct_to TO: number of distinct MT texts the SMSC accepted for TO
distinct_to() { jq -r "select(.destination_addr==\"$1\") | .short_message_hex" "$tmp/mt.log" | sort -u | wc -l; }
# no_dup_without_cause TO PREFIX: every MT (sent with --text-index --id-prefix PREFIX) that the
# SMSC accepted n > 1 times went out at least n times from the gateway, i.e. each extra copy
# follows a send whose answer the gateway never saw (timeout, dropped bind, SMSC crash).
no_dup_without_cause() {
	local to=$1 prefix=$2
	jq -r "select(.destination_addr==\"$to\") | .short_message_hex" "$tmp/mt.log" | sort | uniq -c |
		while read -r n hex; do
			[ "$n" -gt 1 ] || continue
			local txt i att
			txt=$(printf '%s' "$hex" | xxd -r -p)
			i=${txt##*-}
			att=$(show "$prefix$i" | sed -n 's/^attempts=//p')
			if [ "${att:-0}" -lt "$n" ]; then
				echo "MT $prefix$i accepted $n times by the SMSC but sent ${att:-0} times" >&2
				return 1
			fi
			echo "MT $prefix$i: $n copies, $att sends (unacknowledged before)" >&2
		done
}
