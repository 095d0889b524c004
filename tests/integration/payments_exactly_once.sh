#!/usr/bin/env bash
# Payments exactly once, end to end: the real ussdgw daemon (PostgreSQL from
# the dev stack, audit journal, public and admin listeners) against the
# Daraja emulator, counting charges on the emulator's fsynced ledger.
#
# The menu `pay` action is driven through the test-only admin route
# POST /test/pay (payments.test_trigger); kill -9 at each stage of a payment
# through the test-only key payments.test_crash_at (the daemon SIGKILLs
# itself at that point), then a restart without it. The cut-off is reached by
# restarting with the clock shifted (USSDGW_CLOCK_SHIFT_MS), not by waiting.
#
# Scenarios: a step re-sent (serially and concurrently); answered twice;
# callbacks out of order; cancelled; velocity limit and daily cap; the push
# answer lost (timeout, reset) with the callback on the payment's token; a
# missing callback resolved by reconciliation; forged callbacks (unknown
# token, source not allowed, wrong amount, wrong reference); kill -9 after
# the row commit, after the push was sent, after the CheckoutRequestID was
# stored, and when the callback arrived; at the cut-off: expiry, unknown for
# manual review, and a success confirmed after expiry.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
gwbin=${GW_BUILD_DIR:?}/ussdgw
: "${USSDGW_PG_DSN:?run under tools/run-tests or eval \"\$(tools/devstack env)\"}"
: "${PGHOST:?superuser env of the dev stack}"
tmp=$(mktemp -d)
# shellcheck source=tests/integration/helpers/lib.sh
. "$top/tests/integration/helpers/lib.sh"
gw_pid=
trap 'if [ -n "$gw_pid" ]; then kill "$gw_pid" 2>/dev/null || true; fi; cleanup' EXIT
die() { echo "--- gateway log (tail):" >&2; tail -n 40 "$tmp/gw.log" >&2 || true; fail "$*"; }

run=r$$x$RANDOM # session ids of this run (the dev stack's database is shared)
sql() { psql -X -q -tA -v ON_ERROR_STOP=1 -U postgres -d "${PGDATABASE:-ussdgw}" -c "$1"; }

start_svc emu daraja "$top/tools/daraja-emulator" --port 0 --ledger "$tmp/ledger.jsonl" \
	--process-ms 200 --timestamp-window-s 0 --quiet
E=http://127.0.0.1:$emu

"${GW_BUILD_DIR}/ussdgw-keys" init "$tmp/keys" >/dev/null
printf 'demo-consumer-key' >"$tmp/ck"
printf 'demo-consumer-secret' >"$tmp/cs"
printf 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919' >"$tmp/pk"
chmod 600 "$tmp/ck" "$tmp/cs" "$tmp/pk"
pub=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})')
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
                "expire_after_s": 600, "velocity_window_s": 3600, "velocity_max": 3,
                "daily_cap_minor": 100000, "reconcile_batch": 1000 },
  "providers": {
    "mpesa": { "type": "daraja", "base_url": "$E", "callback_base_url": "http://127.0.0.1:$pub",
               "allowed_sources": ["127.0.0.1"], "consumer_key_file": "$tmp/ck",
               "consumer_secret_file": "$tmp/cs", "passkey_file": "$tmp/pk",
               "shortcode": "174379", "timeout_ms": 1500, "retry_budget_ms": 3000 }
  },
  "shutdown": { "deadline_ms": 2000 }
}
JSON
chmod 600 "$tmp/gw.json"

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
	cat "$tmp/gw.log" >>"$tmp/gw.all.log"
}
stop_gw() {
	kill -TERM "$gw_pid"
	local rc=0
	wait "$gw_pid" || rc=$?
	gw_pid=
	[ "$rc" = 0 ] || die "ussdgw exit $rc after SIGTERM"
}
# wait_killed: the daemon died of SIGKILL (its own crash point).
wait_killed() {
	local rc=0
	wait "$gw_pid" || rc=$?
	gw_pid=
	[ "$rc" = 137 ] || die "expected death by SIGKILL (137), got $rc"
}

# pay SESSION STEP AMOUNT_MINOR PHONE -> $code, $body, $pid_ (payment id)
pay() {
	req POST "$A/test/pay" "{\"provider\":\"mpesa\",\"amount_minor\":$3,\"currency\":\"KES\",\"msisdn\":\"$4\",\"account_ref\":\"ACC$2\",\"session_id\":\"$run-$1\",\"step\":$2}"
	pid_=$(node -e 'try{const j=JSON.parse(process.argv[1]);console.log(j.payment_id||"")}catch(e){console.log("")}' "$body")
}
field() { node -e 'const j=JSON.parse(process.argv[1]);const v=j[process.argv[2]];console.log(v===undefined?"":v)' "$1" "$2"; }
state() { sql "SELECT state FROM payment WHERE session_id = '$run-$1' AND step = $2"; }
wait_state() { # SESSION STEP STATE
	local i s=
	for i in $(seq 150); do
		s=$(state "$1" "$2")
		[ "$s" = "$3" ] && return 0
		sleep 0.1
	done
	die "$1/$2: state '$s', expected $3"
}
charges() { # PHONE -> count of ledger entries for it
	req GET "$E/__emulator/ledger"
	node -e 'const j=JSON.parse(process.argv[1]);console.log(j.entries.filter(e=>e.phone===process.argv[2]).length)' "$body" "$1"
}
expect_charges() { # PHONE N
	local n
	n=$(charges "$1")
	[ "$n" = "$2" ] || die "phone $1: $n charges on the ledger, expected $2"
}
rules() { req POST "$E/__emulator/script" "{\"rules\":$1}"; [ "$code" = 200 ] || fail "script: $code $body"; }
callback_url() { # PHONE -> the CallBackURL of its (last) push
	req GET "$E/__emulator/transactions"
	node -e 'const j=JSON.parse(process.argv[1]);const t=j.transactions.filter(x=>x.phone===process.argv[2]);console.log(t.length?t[t.length-1].CallBackURL:"")' "$body" "$1"
}
checkout_id() {
	req GET "$E/__emulator/transactions"
	node -e 'const j=JSON.parse(process.argv[1]);const t=j.transactions.filter(x=>x.phone===process.argv[2]);console.log(t.length?t[t.length-1].CheckoutRequestID:"")' "$body" "$1"
}

# Test phones, distinct per run: velocity limits and caps are per MSISDN and
# the dev stack's database outlives a run.
salt=$(((RANDOM * 32768 + RANDOM) % 1000000))
P() { printf '2547%02d%06d' "$1" "$salt"; }

rules '[
 {"match":{"phone":"'"$(P 2)"'"},"callback":{"duplicate":2}},
 {"match":{"phone":"'"$(P 3)"'"},"callback":{"hold":true}},
 {"match":{"phone":"'"$(P 4)"'"},"callback":{"hold":true}},
 {"match":{"phone":"'"$(P 5)"'"},"outcome":"cancelled"},
 {"match":{"phone":"'"$(P 6)"'"},"http":{"hang":true,"process":true}},
 {"match":{"phone":"'"$(P 7)"'"},"http":{"reset":true,"process":true}},
 {"match":{"phone":"'"$(P 8)"'"},"http":{"hang":true,"process":true},"callback":{"missing":true}},
 {"match":{"phone":"'"$(P 9)"'"},"callback":{"missing":true}},
 {"match":{"phone":"'"$(P 10)"'"},"process_ms":600000},
 {"match":{"phone":"'"$(P 11)"'"},"process_ms":600000},
 {"match":{"phone":"'"$(P 21)"'"},"callback":{"delay_ms":4000}},
 {"match":{"phone":"'"$(P 22)"'"},"callback":{"missing":true}}
]'

start_gw

# 1. The same step re-sent, serially and concurrently: one payment, one charge.
pay s1 1 1000 "$(P 1)"
[ "$code" = 200 ] && [ -n "$pid_" ] || die "s1: $code $body"
first=$pid_
bg=()
for k in 1 2 3 4 5; do
	curl -s -o /dev/null --max-time 5 -H 'Content-Type: application/json' -X POST "$A/test/pay" \
		--data-binary "{\"provider\":\"mpesa\",\"amount_minor\":1000,\"currency\":\"KES\",\"msisdn\":\"$(P 1)\",\"account_ref\":\"ACC1\",\"session_id\":\"$run-s1\",\"step\":1}" &
	bg+=($!)
done
wait "${bg[@]}"
pay s1 1 1000 "$(P 1)"
[ "$pid_" = "$first" ] || die "re-sent step got another payment: $pid_ vs $first"
[ "$(field "$body" replay)" = true ] || die "re-sent step not a replay: $body"
wait_state s1 1 succeeded
pay s1 1 1000 "$(P 1)"
[ "$(field "$body" state)" = succeeded ] || die "replay after success: $body"
[ "$(sql "SELECT count(*) FROM payment WHERE session_id = '$run-s1'")" = 1 ] || die "s1: more than one row"
expect_charges "$(P 1)" 1
# The same step with another amount is a conflict, never a second payment.
pay s1 1 2000 "$(P 1)"
[ "$code" = 409 ] && [ "$(field "$body" error)" = GW_ECONFLICT ] || die "mismatch: $code $body"
echo "ok 1 re-sent step: one payment, one charge"

# 2. Answered twice (the callback delivered three times).
pay s2 1 1000 "$(P 2)"
wait_state s2 1 succeeded
for i in $(seq 50); do
	d=$(sql "SELECT deliveries FROM payment_callback c JOIN payment p ON p.id = c.payment_id WHERE p.session_id = '$run-s2'")
	[ "$d" = 3 ] && break
	sleep 0.1
done
[ "$d" = 3 ] || die "s2: $d deliveries recorded, expected 3"
expect_charges "$(P 2)" 1
echo "ok 2 answered twice: de-duplicated, one charge"

# 3. Callbacks out of order (held, flushed last-in first-out).
pay s3 1 1000 "$(P 3)"
pay s4 1 1000 "$(P 4)"
for i in $(seq 50); do
	req GET "$E/__emulator/callbacks"
	[ "$(field "$body" held)" = 2 ] && break
	sleep 0.1
done
req POST "$E/__emulator/flush" '{"order":"lifo"}'
wait_state s3 1 succeeded
wait_state s4 1 succeeded
expect_charges "$(P 3)" 1
expect_charges "$(P 4)" 1
echo "ok 3 out-of-order callbacks"

# 4. Cancelled by the subscriber: no charge, cancelled.
pay s5 1 1000 "$(P 5)"
wait_state s5 1 cancelled
expect_charges "$(P 5)" 0
echo "ok 4 cancelled"

# 5. Push answer lost (hang -> timeout; reset) though the push was processed:
# never re-sent; the callback on the payment's token carries the reference.
pay s6 1 1000 "$(P 6)"
pay s7 1 1000 "$(P 7)"
wait_state s6 1 succeeded
wait_state s7 1 succeeded
pay s6 1 1000 "$(P 6)"
[ "$(field "$body" replay)" = true ] || die "s6 replay: $body"
expect_charges "$(P 6)" 1
expect_charges "$(P 7)" 1
req GET "$E/__emulator/transactions"
n=$(node -e 'const j=JSON.parse(process.argv[1]);console.log(j.transactions.filter(t=>t.phone===process.argv[2]).length)' "$body" "$(P 6)")
[ "$n" = 1 ] || die "s6: $n pushes reached the emulator, expected 1"
echo "ok 5 timed out / reset: resolved by the callback, one push, one charge"

# 6. Push answer lost and no callback: stays `requested` until the cut-off.
pay s8 1 1000 "$(P 8)"
for i in $(seq 40); do
	grep -q "request outcome unknown" "$tmp/gw.log" && break
	sleep 0.1
done
[ "$(state s8 1)" = requested ] || die "s8: $(state s8 1)"
echo "ok 6 push answer lost, no callback: left requested, never re-sent"

# 7. Missing callback: resolved by reconciliation (query).
pay s9 1 1000 "$(P 9)"
for i in $(seq 50); do
	[ "$(charges "$(P 9)")" = 1 ] && break
	sleep 0.1
done
req POST "$A/test/reconcile"
wait_state s9 1 succeeded
expect_charges "$(P 9)" 1
echo "ok 7 missing callback resolved by reconciliation"

# 8. Forged callbacks are refused and change nothing.
pay s10 1 1000 "$(P 10)"
wait_state s10 1 pending
url=$(callback_url "$(P 10)")
ref=$(checkout_id "$(P 10)")
[ -n "$url" ] && [ -n "$ref" ] || die "no callback URL for s10"
ok_body() { # REF AMOUNT
	echo '{"Body":{"stkCallback":{"MerchantRequestID":"1-2-3","CheckoutRequestID":"'"$1"'","ResultCode":0,"ResultDesc":"ok","CallbackMetadata":{"Item":[{"Name":"Amount","Value":'"$2"'},{"Name":"MpesaReceiptNumber","Value":"FORGED0001"},{"Name":"TransactionDate","Value":20261125120000},{"Name":"PhoneNumber","Value":'"$(P 10)"'}]}}}}'
}
req POST "http://127.0.0.1:$pub/callbacks/mpesa/0123456789abcdef0123456789abcdef" "$(ok_body "$ref" 10)"
[ "$code" = 404 ] || die "unknown token: $code"
req POST "$url" "$(ok_body "$ref" 10)" --interface 127.0.0.2
[ "$code" = 403 ] || die "source not allowed: $code $body"
req POST "$url" "$(ok_body "$ref" 99)"
[ "$code" = 409 ] || die "wrong amount: $code $body"
req POST "$url" "$(ok_body ws_CO_000000000000000000 10)"
[ "$code" = 409 ] || die "wrong reference: $code $body"
req POST "$url" '{"Body":{"stkCallback":{"ResultCode":"x"}}}'
[ "$code" = 400 ] || die "malformed: $code $body"
[ "$(state s10 1)" = pending ] || die "s10 moved by a forged callback: $(state s10 1)"
[ "$(sql "SELECT count(*) FROM payment WHERE receipt = 'FORGED0001'")" = 0 ] || die "forged receipt stored"
expect_charges "$(P 10)" 0
# Audited: in the node's journal (durable before any answer); the shipper
# may already have moved them to PostgreSQL.
refused_audited() {
	local j p
	j=$(cat "$tmp"/journal/*.jnl 2>/dev/null | grep -a -o '"event":"callback","outcome":"refused"' | wc -l)
	p=$(sql "SELECT count(*) FROM audit WHERE body LIKE '%$run%' AND body LIKE '%\"event\":\"callback\",\"outcome\":\"refused\"%'")
	echo $((j > p ? j : p))
}
for i in $(seq 50); do
	n=$(refused_audited)
	[ "$n" -ge 5 ] && break
	sleep 0.1
done
[ "$n" -ge 5 ] || die "refused callbacks audited: $n, expected 5"
echo "ok 8 forged callbacks refused and audited"

# 9. Velocity limit (3 per window) and daily cap (KES 1000).
pay v 1 1000 "$(P 30)"; pay v 2 1000 "$(P 30)"; pay v 3 1000 "$(P 30)"
[ "$code" = 200 ] || die "velocity: third refused: $body"
pay v 4 1000 "$(P 30)"
[ "$code" = 409 ] && [ "$(field "$body" reason)" = velocity ] || die "velocity: $code $body"
pay w 1 60000 "$(P 31)"
[ "$code" = 200 ] || die "cap: first refused: $body"
pay w 2 50000 "$(P 31)"
[ "$code" = 409 ] && [ "$(field "$body" reason)" = daily_cap ] || die "daily cap: $code $body"
pay w 3 40000 "$(P 31)"
[ "$code" = 200 ] || die "cap: within the cap refused: $body"
echo "ok 9 velocity limit and daily cap"

# 10. kill -9 at each stage, then a restart; the step is re-sent after it.
crash_pay() { # STAGE SESSION PHONE
	stop_gw
	start_gw USSDGW_PAYMENTS__TEST_CRASH_AT="$1"
	pay "$2" 1 1000 "$3" || true
	wait_killed
	start_gw
	pay "$2" 1 1000 "$3"
	[ "$code" = 200 ] && [ "$(field "$body" replay)" = true ] || die "$1: re-sent step after restart: $code $body"
}
# after the row commit: nothing was sent; the row waits for the cut-off.
crash_pay committed k1 "$(P 20)"
[ "$(state k1 1)" = created ] || die "k1: $(state k1 1)"
# after the push was sent (answer never read), the callback comes late, after the restart.
crash_pay pushed k2 "$(P 21)"
wait_state k2 1 succeeded
# the same, but no callback ever: unknown at the cut-off.
crash_pay pushed k3 "$(P 22)"
[ "$(state k3 1)" = requested ] || die "k3: $(state k3 1)"
# after the CheckoutRequestID was stored: the callback hits a dead gateway; reconciliation.
crash_pay stored k4 "$(P 23)"
req POST "$A/test/reconcile"
wait_state k4 1 succeeded
# when the callback arrived: killed before answering it; reconciliation.
stop_gw
start_gw USSDGW_PAYMENTS__TEST_CRASH_AT=callback
pay k5 1 1000 "$(P 24)"
wait_killed
start_gw
req POST "$A/test/reconcile"
wait_state k5 1 succeeded
pay k5 1 1000 "$(P 24)"
[ "$(field "$body" replay)" = true ] || die "k5 replay: $body"
expect_charges "$(P 20)" 0
expect_charges "$(P 21)" 1
expect_charges "$(P 22)" 1
expect_charges "$(P 23)" 1
expect_charges "$(P 24)" 1
echo "ok 10 kill -9 after commit, push, reference stored, callback: at most one charge each"

# 11. The cut-off (clock two hours on): expiry, unknown for review, late success.
stop_gw
start_gw USSDGW_CLOCK_SHIFT_MS=7200000
req POST "$A/test/reconcile"
wait_state k1 1 expired
wait_state k3 1 unknown
wait_state s8 1 unknown
wait_state s10 1 expired
req POST "$E/__emulator/complete" "{\"CheckoutRequestID\":\"$(checkout_id "$(P 10)")\",\"outcome\":\"success\"}"
[ "$code" = 200 ] || die "complete: $code $body"
wait_state s10 1 succeeded
[ "$(sql "SELECT needs_review FROM payment WHERE session_id = '$run-s10'")" = t ] || die "late success not flagged"
expect_charges "$(P 8)" 1
expect_charges "$(P 10)" 1
req GET "$A/payments/review"
[ "$code" = 200 ] || die "review: $code"
for s in s8 k3 s10; do
	id=$(sql "SELECT id FROM payment WHERE session_id = '$run-$s'")
	grep -q "$id" <<<"$body" || die "review report lacks $s ($id)"
done
echo "ok 11 cut-off: expired, unknown for review, late success kept and reported"

# Every payment of this run: at most one charge per provider reference.
req GET "$E/__emulator/ledger"
dups=$(node -e 'const j=JSON.parse(process.argv[1]);const c={};for(const e of j.entries)c[e.CheckoutRequestID]=(c[e.CheckoutRequestID]||0)+1;console.log(Object.values(c).filter(n=>n>1).length)' "$body")
[ "$dups" = 0 ] || die "a push was charged twice"
paid=$(sql "SELECT count(*) FROM payment WHERE session_id LIKE '$run-%' AND state = 'succeeded'")
echo "payments_exactly_once: ok ($paid succeeded, $(field "$body" count) charges on the ledger)"
stop_gw
