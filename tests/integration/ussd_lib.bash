# Shared setup for the USSD script tests (sourced, not a test itself): the
# simulator as the operator's USSD centre (tools/smsc-sim), the demo wallet,
# and one or more real ussdgw daemons binding to the simulator, on the dev
# stack's Redis. Everything is bounded in time; ports are picked free.
set -euo pipefail
src=${GW_SOURCE_DIR:?}
bld=${GW_BUILD_DIR:?}
gw=$bld/ussdgw
eval "$("$src/tools/devstack" env)"
[ -n "${USSDGW_REDIS_PORT:-}" ] || { echo "FAIL: no dev stack (tools/devstack start)" >&2; exit 1; }
tmp=$(mktemp -d)
sim_pid= wallet_pid=
gw_pids=()
LINK=u$$_$RANDOM
rcli() { redis-cli -p "$USSDGW_REDIS_PORT" "$@"; }
cleanup() {
	local rc=$?
	for p in "${gw_pids[@]}"; do [ -n "$p" ] && { kill -9 "$p"; wait "$p" || true; } 2>/dev/null; done
	true
	[ -n "$sim_pid" ] && { kill -9 "$sim_pid"; wait "$sim_pid" || true; } 2>/dev/null
	[ -n "$wallet_pid" ] && { kill -9 "$wallet_pid"; wait "$wallet_pid" || true; } 2>/dev/null
	rcli --scan --pattern "*{$LINK*" 2>/dev/null | xargs -r redis-cli -p "$USSDGW_REDIS_PORT" del >/dev/null 2>&1 || true
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/gw*.log; do [ -f "$f" ] && { echo "--- $f (tail):" >&2; tail -n 40 "$f" >&2; }; done
	echo "--- sim log (tail):" >&2; tail -n 20 "$tmp/sim.err" >&2 2>/dev/null || true
	exit 1
}
mkdir -m 700 "$tmp/keys"
"$bld/ussdgw-keys" init "$tmp/keys" >/dev/null
printf 'ussdgw' > "$tmp/pw"
chmod 600 "$tmp/pw"

# start_wallet: the demo wallet with its built-in accounts (WALLET = base URL)
start_wallet() {
	"$src/tools/demo-wallet" --port 0 --data "$tmp/wallet.json" --test-hooks --quiet \
		> "$tmp/wallet.out" 2> "$tmp/wallet.err" &
	wallet_pid=$!
	for _ in $(seq 100); do
		grep -q '^listening' "$tmp/wallet.out" 2>/dev/null && break
		sleep 0.1
	done
	WALLET=http://127.0.0.1:$(awk '/^listening/ {print $2; exit}' "$tmp/wallet.out")
}

# start_sim [flags...]: sets SIM_PORT, CTL_PORT, CTL
start_sim() {
	"$src/tools/smsc-sim/smsc-sim" --port "${SIM_PORT:-0}" --control-port "${CTL_PORT:-0}" "$@" \
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

# write_config N [extra link members] [extra top-level members]: $tmp/gwN.json
write_config() {
	local n=$1 extra=${2:-} top=${3:-} pwline=''
	[ -n "${USSDGW_PG_APP_PASSWORD_FILE:-}" ] && pwline=", \"password_file\": \"$USSDGW_PG_APP_PASSWORD_FILE\""
	cat > "$tmp/gw$n.json" <<JSON
{
  "node": { "id": "$LINK-$n" },
  "log": { "level": "info", "format": "text" },
  "keys": { "dir": "$tmp/keys" },
  "redis": { "host": "127.0.0.1", "port": $USSDGW_REDIS_PORT },
  "postgres": { "dsn": "$USSDGW_PG_DSN"$pwline },
  "audit": { "journal_dir": "$tmp/journal$n", "export_file": "$tmp/heads$n.log" },
  "listeners": { "admin": { "address": "127.0.0.1", "port": 0 }, "public": { "enabled": false } },
  "shutdown": { "deadline_ms": 3000 },
  "ussd": { "menus_dir": "${MENUS_DIR:-$src/menus}", "services": { "wallet": "${WALLET:-http://127.0.0.1:9}" } },
  "links": [ { "name": "$LINK", "system_id": "ussdgw", "password_file": "$tmp/pw",
               "enquire_link_s": 5, "response_timeout_ms": 2000, "reconnect_min_ms": 100,
               "reconnect_max_ms": 500, "unbind_timeout_ms": 1000, "dcs_profile": "ussd",
               "binds": [ { "host": "127.0.0.1", "port": $SIM_PORT } ] } ]
}
JSON
	if [ -n "$extra" ]; then
		jq ".links[0] += {${extra%,}}" "$tmp/gw$n.json" > "$tmp/gw.new" && mv "$tmp/gw.new" "$tmp/gw$n.json"
	fi
	if [ -n "$top" ]; then
		jq ". * {${top%,}}" "$tmp/gw$n.json" > "$tmp/gw.new" && mv "$tmp/gw.new" "$tmp/gw$n.json"
	fi
	chmod 600 "$tmp/gw$n.json"
}

# start_gw N: sets ADMIN_N and the pid in gw_pids[N]
start_gw() {
	local n=$1
	"$gw" --config "$tmp/gw$n.json" 2>> "$tmp/gw$n.log" &
	gw_pids[$n]=$!
	for _ in $(seq 100); do
		grep -q "admin: listening on" "$tmp/gw$n.log" 2>/dev/null && break
		kill -0 "${gw_pids[$n]}" 2>/dev/null || fail "ussdgw $n exited early"
		sleep 0.1
	done
	printf -v "ADMIN_$n" '%s' "$(sed -n 's/.*admin: listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$tmp/gw$n.log" | tail -n1)"
}
wait_binds() { # N
	curl -sS --max-time 20 "$CTL/binds?min=$1&wait_ms=15000" > "$tmp/binds.json" || fail "binds"
	[ "$(jq '.binds | length' "$tmp/binds.json")" -ge "$1" ] || fail "not bound: $(cat "$tmp/binds.json")"
}
wait_menu() { # wait until the gateway published the demo menu
	for _ in $(seq 100); do
		[ -n "$(rcli GET ussd:menu:demo:cur)" ] && return 0
		sleep 0.1
	done
	fail "demo menu not published"
}
ctl() { curl -sS --max-time 70 "$@"; }
post() { ctl -X POST -H 'Content-Type: application/json' -d "$2" "$CTL$1"; }
# phone MSISDN CMD...: a tools/phone script (each argument one command)
phone() {
	local m=$1; shift
	local args=()
	for c in "$@"; do args+=(-e "$c"); done
	"$src/tools/phone" --control "$CTL" --msisdn "$m" --timeout-ms 12000 "${args[@]}"
}
# dial MSISDN CODE -> session id in SID, screen text in $tmp/screen.json
dial() {
	post /ussd/dial "{\"msisdn\": \"$1\", \"code\": \"$2\", \"wait_ms\": 12000}" > "$tmp/dial.json"
	SID=$(jq -r .session "$tmp/dial.json")
	[ "$SID" != null ] || fail "dial: $(cat "$tmp/dial.json")"
	screen
}
# screen: wait for the answer to the last input -> $tmp/screen.json, TEXT, ENDS
screen() {
	ctl "$CTL/ussd/screen?session=$SID&wait_ms=12000" > "$tmp/screen.json"
	[ "$(jq -r .status "$tmp/screen.json")" = screen ] || fail "no screen: $(cat "$tmp/screen.json")"
	TEXT=$(jq -r .screen.text "$tmp/screen.json")
	ENDS=$(jq -r .screen.ends "$tmp/screen.json")
}
reply() { # TEXT
	post /ussd/reply "{\"session\": \"$SID\", \"text\": \"$1\"}" > "$tmp/reply.json"
	jq -e .deliver_sm_seq "$tmp/reply.json" > /dev/null || fail "reply: $(cat "$tmp/reply.json")"
	screen
}
has() { # SUBSTRING: the current screen contains it
	case "$TEXT" in *"$1"*) ;; *) fail "screen lacks '$1': $TEXT" ;; esac
}
