# Shared part of the provider script tests (providers_*.sh): the real ussdgw
# daemon with PostgreSQL from the dev stack, its audit journal and listeners,
# one provider emulator; payments started through the test-only admin route
# POST /test/pay (payments.test_trigger), kill -9 through
# payments.test_crash_at. Source after setting `top` and `tmp`.
gwbin=${GW_BUILD_DIR:?}/ussdgw
: "${USSDGW_PG_DSN:?run under tools/run-tests or eval \"\$(tools/devstack env)\"}"
: "${PGHOST:?superuser env of the dev stack}"
# shellcheck source=tests/integration/helpers/lib.sh
. "$top/tests/integration/helpers/lib.sh"
gw_pid=
trap 'if [ -n "$gw_pid" ]; then kill "$gw_pid" 2>/dev/null || true; fi; cleanup' EXIT
# wait_log PATTERN: poll the gateway's log (bounded, 5 s) for a grep pattern.
wait_log() {
	local i
	for i in $(seq 1 50); do
		grep -q "$1" "$tmp/gw.log" && return 0
		sleep 0.1
	done
	return 1
}
die() { echo "--- gateway log (tail):" >&2; tail -n 60 "$tmp/gw.log" >&2 || true; cp "$tmp/gw.log" "${TMPDIR:-/tmp}/ussdgw-$(basename "$0" .sh).log" 2>/dev/null || true; fail "$*"; }

run=r$$x$RANDOM # session ids of this run (the dev stack's database is shared)
sql() { psql -X -q -tA -v ON_ERROR_STOP=1 -U postgres -d "${PGDATABASE:-ussdgw}" -c "$1"; }
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})'; }
pub=$(free_port)
"${GW_BUILD_DIR}/ussdgw-keys" init "$tmp/keys" >/dev/null
secret() { printf '%s' "$2" >"$tmp/$1"; chmod 600 "$tmp/$1"; }

# write_config PROVIDER_JSON [PAYMENTS_EXTRA]
# The dev stack's database outlives runs and holds other tests' open
# payments: a sweep lists the oldest open payments of every provider, so the
# batch is large and expired ones are not asked about again (late window 0).
write_config() {
	cat >"$tmp/gw.json" <<JSON
{
  "log": { "level": "info", "format": "text" },
  "keys": { "dir": "$tmp/keys" },
  "postgres": { "dsn": "$USSDGW_PG_DSN" },
  "redis": { "host": "${USSDGW_REDIS_HOST:-127.0.0.1}", "port": ${USSDGW_REDIS_PORT:-6379} },
  "audit": { "journal_dir": "$tmp/journal", "export_file": "$tmp/heads.log" },
  "listeners": {
    "admin": { "address": "127.0.0.1", "port": 0 },
    "public": { "address": "127.0.0.1", "port": $pub }
  },
  "payments": { "test_trigger": true, "query_after_s": 0, "reconcile_interval_s": 3600,
                "expire_after_s": 600, "velocity_window_s": 3600, "velocity_max": 0,
                "daily_cap_minor": 0, "reconcile_batch": 10000, "late_window_s": 0 ${2:-} },
  "providers": { $1 },
  "shutdown": { "deadline_ms": 2000 }
}
JSON
	chmod 600 "$tmp/gw.json"
}

# start_gw [VAR=value...]: start the daemon with extra environment.
start_gw() {
	: >"$tmp/gw.log"
	env "$@" "$gwbin" --config "$tmp/gw.json" 2>>"$tmp/gw.log" &
	gw_pid=$!
	local i
	for i in $(seq 100); do
		grep -q "ussdgw .* running" "$tmp/gw.log" && grep -q "postgres: CHECKING -> READY" "$tmp/gw.log" && break
		kill -0 "$gw_pid" 2>/dev/null || die "ussdgw exited at start"
		sleep 0.1
	done
	admin=$(sed -n 's/.*admin: listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$tmp/gw.log" | tail -n1)
	[ -n "$admin" ] || die "no admin port"
	A=http://127.0.0.1:$admin
}
stop_gw() {
	kill -TERM "$gw_pid"
	local rc=0
	wait "$gw_pid" || rc=$?
	gw_pid=
	cat "$tmp/gw.log" >>"$tmp/gw.all.log"
	[ "$rc" = 0 ] || die "ussdgw exit $rc after SIGTERM"
}
wait_killed() {
	local rc=0
	wait "$gw_pid" || rc=$?
	gw_pid=
	cat "$tmp/gw.log" >>"$tmp/gw.all.log"
	[ "$rc" = 137 ] || die "expected death by SIGKILL (137), got $rc"
}

# pay PROVIDER CURRENCY SESSION STEP AMOUNT_MINOR PHONE ACCOUNT -> $code, $body, $pid_
pay() {
	req POST "$A/test/pay" "{\"provider\":\"$1\",\"amount_minor\":$5,\"currency\":\"$2\",\"msisdn\":\"$6\",\"account_ref\":\"$7\",\"session_id\":\"$run-$3\",\"step\":$4}"
	pid_=$(node -e 'try{const j=JSON.parse(process.argv[1]);console.log(j.payment_id||"")}catch(e){console.log("")}' "$body")
}
field() { node -e 'const j=JSON.parse(process.argv[1]);const v=j[process.argv[2]];console.log(v===undefined?"":v)' "$1" "$2"; }
state() { sql "SELECT state FROM payment WHERE session_id = '$run-$1' AND step = $2"; }
payment_id() { sql "SELECT id FROM payment WHERE session_id = '$run-$1' AND step = $2"; }
wait_state() { # SESSION STEP STATE
	local i s=
	for i in $(seq 150); do
		s=$(state "$1" "$2")
		[ "$s" = "$3" ] && return 0
		sleep 0.1
	done
	die "$1/$2: state '$s', expected $3"
}
rules() { req POST "$E/__emulator/script" "{\"rules\":$1}"; [ "$code" = 200 ] || fail "script: $code $body"; }
emu_config() { req POST "$E/__emulator/config" "$1"; [ "$code" = 200 ] || fail "config: $code $body"; }
# ledger_count JS-PREDICATE-ON-e : entries of the emulator's ledger that match
ledger_count() {
	req GET "$E/__emulator/ledger"
	node -e 'const j=JSON.parse(process.argv[1]);const f=new Function("e","return ("+process.argv[2]+")");console.log(j.entries.filter(f).length)' "$body" "$1"
}
# refused_audited WHY : refused deliveries with this reason audited by this
# run's daemon: in its journal (durable before any answer) or already
# shipped to PostgreSQL (whose audit table outlives runs: compare with a
# count taken before).
refused_audited() {
	local j p
	j=$(cat "$tmp"/journal/*.jnl 2>/dev/null | grep -a -o "\"outcome\":\"refused\"[^}]*\"why\":\"$1\"" | wc -l || true)
	p=$(sql "SELECT count(*) FROM audit WHERE body LIKE '%\"outcome\":\"refused\"%' AND body LIKE '%\"why\":\"$1\"%'")
	echo $((j > p - ${2:-0} ? j : p - ${2:-0}))
}
