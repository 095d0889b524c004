#!/usr/bin/env bash
# MTN MoMo exactly once, end to end: the real ussdgw daemon against the MoMo
# emulator, counting charges on its fsynced ledger by referenceId (= the
# payment id, our X-Reference-Id).
#
# Scenarios: paid (callback by PUT, confirmed by a status query); failed and
# rejected sandbox numbers; the request answer lost though processed (the
# retry meets 409 and the status settles it); a missing callback resolved by
# polling; forged callbacks (unknown token, wrong amount, a "SUCCESSFUL" the
# status query does not confirm); kill -9 after the request went out.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
# shellcheck source=tests/integration/providers_lib.bash
. "$top/tests/integration/providers_lib.bash"

start_svc emu momo "$top/tools/momo-emulator" --port 0 --ledger "$tmp/ledger.jsonl" --quiet
E=http://127.0.0.1:$emu
secret sub demo-collection-key
secret apikey demo-api-key
write_config "\"momo\": { \"type\": \"momo\", \"base_url\": \"$E\", \"currency\": \"EUR\",
  \"callback_base_url\": \"http://127.0.0.1:$pub\", \"allowed_sources\": [\"127.0.0.1\"],
  \"subscription_key_file\": \"$tmp/sub\", \"api_user\": \"c72025f5-5cd1-4630-99e4-8ba4722fad56\",
  \"api_key_file\": \"$tmp/apikey\", \"target_environment\": \"sandbox\",
  \"timeout_ms\": 1000, \"retry_budget_ms\": 6000 }"
salt=$(((RANDOM * 32768 + RANDOM) % 1000000))
P() { printf '2567%02d%06d' "$1" "$salt"; }
charges() { ledger_count "e.referenceId===\"$(payment_id "$1" "$2")\""; }
expect_charges() { local n; n=$(charges "$1" "$2"); [ "$n" = "$3" ] || die "$1/$2: $n charges, expected $3"; }
requests_of() { # SESSION STEP -> requests the emulator holds for that reference
	req GET "$E/__emulator/transactions"
	node -e 'const j=JSON.parse(process.argv[1]);console.log(j.transactions.filter(t=>t.referenceId===process.argv[2]).length)' "$body" "$(payment_id "$1" "$2")"
}
cb_url() { req GET "$E/__emulator/transactions"; node -e 'const j=JSON.parse(process.argv[1]);const t=j.transactions.find(t=>t.referenceId===process.argv[2]);console.log(t?t.callbackUrl||"":"")' "$body" "$(payment_id "$1" "$2")"; }

rules '[
 {"match":{"endpoint":"requesttopay","msisdn":"'"$(P 3)"'"},"http":{"hang":true,"process":true},"times":1},
 {"match":{"endpoint":"requesttopay","msisdn":"'"$(P 4)"'"},"callback":{"missing":true}},
 {"match":{"endpoint":"requesttopay","msisdn":"'"$(P 5)"'"},"outcome":"ONGOING"},
 {"match":{"endpoint":"requesttopay","msisdn":"'"$(P 6)"'"},"callback":{"hold":true}}
]'
start_gw

# 1. Paid: callback (PUT) confirmed by the status query.
pay momo EUR a 1 1050 "$(P 1)" INV1
[ "$code" = 200 ] && [ -n "$pid_" ] || die "a: $code $body"
wait_state a 1 succeeded
expect_charges a 1 1
[ "$(sql "SELECT provider_ref FROM payment WHERE id = '$pid_'")" = "$pid_" ] || die "a: reference is not the X-Reference-Id"
[ -n "$(sql "SELECT receipt FROM payment WHERE id = '$pid_'")" ] || die "a: no financialTransactionId"
[ "$(sql "SELECT count(*) FROM payment_callback WHERE payment_id = '$pid_'")" = 1 ] || die "a: callback not recorded"
echo "ok 1 paid, callback confirmed by status"

# 2. Sandbox outcomes: failed, rejected.
pay momo EUR b 1 1000 46733123450 INV2
pay momo EUR b 2 1000 46733123451 INV3
wait_state b 1 failed
wait_state b 2 cancelled
expect_charges b 1 0
expect_charges b 2 0
echo "ok 2 failed and rejected"

# 3. The request answer lost though processed: the retry under the same
# X-Reference-Id meets 409, the status settles it: one request, one charge.
pay momo EUR c 1 1000 "$(P 3)" INV4
wait_state c 1 succeeded
expect_charges c 1 1
[ "$(requests_of c 1)" = 1 ] || die "c: $(requests_of c 1) requests"
# 4. No callback: the sweep polls the status.
pay momo EUR d 1 1000 "$(P 4)" INV5
wait_state d 1 pending
# sweep until the provider reports the final state (each sweep asks once)
for i in $(seq 30); do
	req POST "$A/test/reconcile" '{}'
	sleep 0.3
	[ "$(state d 1)" = succeeded ] && break
done
wait_state d 1 succeeded
expect_charges d 1 1
echo "ok 3 answer lost: 409 then status; ok 4 missing callback: polled"

# 5. Forged callbacks: unknown token, wrong amount, "SUCCESSFUL" that the
# status query does not confirm.
pay momo EUR e 1 1000 "$(P 5)" INV6
wait_state e 1 pending
url=$(cb_url e 1)
[ -n "$url" ] || die "e: no callback URL"
eid=$(payment_id e 1)
okb() { echo '{"financialTransactionId":"FORGED77","externalId":"'"$eid"'","amount":"'"$1"'","currency":"EUR","payer":{"partyIdType":"MSISDN","partyId":"'"$(P 5)"'"},"status":"SUCCESSFUL"}'; }
req PUT "http://127.0.0.1:$pub/callbacks/momo/0123456789abcdef0123456789abcdef" "$(okb 10.00)"
[ "$code" = 404 ] || die "unknown token: $code"
req PUT "$url" "$(okb 99.00)"
[ "$code" = 409 ] || die "wrong amount: $code $body"
req PUT "$url" "$(okb 10.00)"
[ "$code" = 200 ] || die "well-formed forged callback: $code $body"
sleep 1
[ "$(state e 1)" = pending ] || die "e moved by a forged callback: $(state e 1)"
[ "$(sql "SELECT count(*) FROM payment WHERE receipt = 'FORGED77'")" = 0 ] || die "forged receipt stored"
expect_charges e 1 0
echo "ok 5 forged callbacks refused or not confirmed"

# 6. kill -9 after the request went out (reference not stored): the held
# callback, delivered after the restart, is confirmed by the status.
stop_gw
start_gw USSDGW_PAYMENTS__TEST_CRASH_AT=pushed
pay momo EUR k 1 1000 "$(P 6)" INV7 || true
wait_killed
[ "$(state k 1)" = requested ] || die "k: $(state k 1)"
start_gw
pay momo EUR k 1 1000 "$(P 6)" INV7
[ "$(field "$body" replay)" = true ] || die "k: not a replay: $body"
req POST "$E/__emulator/flush" '{"order":"fifo"}'
wait_state k 1 succeeded
expect_charges k 1 1
[ "$(requests_of k 1)" = 1 ] || die "k: $(requests_of k 1) requests"
echo "ok 6 kill -9 after the request: one request, one charge"
stop_gw
echo "providers_momo: all ok"
