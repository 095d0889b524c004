#!/usr/bin/env bash
# PayPal exactly once, end to end: the real ussdgw daemon against the PayPal
# emulator, counting captures on its fsynced ledger by custom_id (= the
# payment id).
#
# Scenarios: order created (approval link to the notify hook), approved by
# the buyer, captured on the CHECKOUT.ORDER.APPROVED webhook; approval
# without a webhook, captured by the sweep; the create and the capture
# answers lost though processed (retried under the same PayPal-Request-Id:
# one order, one capture); webhooks with a cert_url outside the allow-list,
# a certificate from another CA, a tampered body and another webhook id:
# refused and audited; kill -9 after the create answer.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
# shellcheck source=tests/integration/providers_lib.bash
. "$top/tests/integration/providers_lib.bash"

WT=whk_$RANDOM$RANDOM$RANDOM$RANDOM
start_svc emu paypal "$top/tools/paypal-emulator" --port 0 --ledger "$tmp/ledger.jsonl" \
	--ca-out "$tmp/paypal-ca.pem" --webhook-url "http://127.0.0.1:$pub/callbacks/paypal/$WT" \
	--webhook-id 1JE4291016473214C --quiet
E=http://127.0.0.1:$emu
emu_config '{"webhook_retries":2,"webhook_retry_ms":200}'
secret cid demo-client-id
secret csec demo-client-secret
write_config "\"paypal\": { \"type\": \"paypal\", \"base_url\": \"$E\", \"currency\": \"USD\",
  \"callback_base_url\": \"http://127.0.0.1:$pub\", \"allowed_sources\": [\"127.0.0.1\"],
  \"webhook_token\": \"$WT\", \"client_id_file\": \"$tmp/cid\", \"client_secret_file\": \"$tmp/csec\",
  \"webhook_id\": \"1JE4291016473214C\", \"cert_hosts\": [\"127.0.0.1\"],
  \"ca_file\": \"$tmp/paypal-ca.pem\", \"timeout_ms\": 1000, \"retry_budget_ms\": 6000 }"
salt=$(((RANDOM * 32768 + RANDOM) % 1000000))
P() { printf '1202%02d%06d' "$1" "$salt"; }
charges() { ledger_count "e.custom_id===\"$(payment_id "$1" "$2")\""; }
expect_charges() { local n; n=$(charges "$1" "$2"); [ "$n" = "$3" ] || die "$1/$2: $n captures, expected $3"; }
orders_of() { # SESSION STEP -> orders the emulator holds for the payment
	req GET "$E/__emulator/orders"
	node -e 'const j=JSON.parse(process.argv[1]);console.log(j.orders.filter(o=>o.purchase_units[0].custom_id===process.argv[2]).length)' "$body" "$(payment_id "$1" "$2")"
}
order_of() {
	req GET "$E/__emulator/orders"
	node -e 'const j=JSON.parse(process.argv[1]);const o=j.orders.find(o=>o.purchase_units[0].custom_id===process.argv[2]);console.log(o?o.id:"")' "$body" "$(payment_id "$1" "$2")"
}
approve() { # SESSION STEP
	local o
	o=$(order_of "$1" "$2")
	[ -n "$o" ] || die "$1/$2: no order at the emulator"
	req POST "$E/__emulator/approve" "{\"id\":\"$o\"}"
	[ "$code" = 200 ] || die "approve $o: $code $body"
}
cb_count() { sql "SELECT count(*) FROM payment_callback WHERE payment_id = '$(payment_id "$1" "$2")' AND provider_ref LIKE 'event:%'"; }

rules '[
 {"match":{"endpoint":"create","value":"12.35"},"http":{"hang":true,"process":true},"times":1},
 {"match":{"endpoint":"capture","value":"12.34"},"http":{"hang":true,"process":true},"times":1}
]'
start_gw

# 1. Created, link out, approved, captured on the webhook.
pay paypal USD a 1 1050 "$(P 1)" INV1
[ "$code" = 200 ] && [ -n "$pid_" ] || die "a: $code $body"
wait_state a 1 pending
wait_log "payment link SMS link-[0-9a-f-]* \\(queued\\|not queued\\)" || die "no approval link notice"
expect_charges a 1 0
approve a 1
wait_state a 1 succeeded
expect_charges a 1 1
[ -n "$(sql "SELECT receipt FROM payment WHERE id = '$pid_'")" ] || die "a: no capture id"
for i in $(seq 50); do [ "$(cb_count a 1)" -ge 2 ] && break; sleep 0.1; done
[ "$(cb_count a 1)" -ge 2 ] || die "a: approved and capture webhooks not both recorded: $(cb_count a 1)"
echo "ok 1 approval link, approved, captured once"

# 2. Approved while webhooks cannot reach us: the sweep captures.
emu_config '{"webhook_url":"http://127.0.0.1:9/unreachable"}'
pay paypal USD b 1 1100 "$(P 2)" INV2
wait_state b 1 pending
approve b 1
# sweep until the provider reports the final state (each sweep asks once)
for i in $(seq 30); do
	req POST "$A/test/reconcile" '{}'
	sleep 0.3
	[ "$(state b 1)" = succeeded ] && break
done
wait_state b 1 succeeded
expect_charges b 1 1
emu_config "{\"webhook_url\":\"http://127.0.0.1:$pub/callbacks/paypal/$WT\"}"
echo "ok 2 approved without a webhook: captured by the sweep"

# 3. Create and capture answers lost though processed.
pay paypal USD c 1 1235 "$(P 3)" INV3
wait_state c 1 pending
[ "$(orders_of c 1)" = 1 ] || die "c: $(orders_of c 1) orders"
pay paypal USD d 1 1234 "$(P 4)" INV4
wait_state d 1 pending
approve d 1
wait_state d 1 succeeded
expect_charges d 1 1
echo "ok 3 create and capture answers lost: one order, one capture"

# 4. Forged webhooks: foreign cert host, rogue CA, tampered, other webhook id.
pay paypal USD e 1 1300 "$(P 5)" INV5
wait_state e 1 pending
eid=$(payment_id e 1)
oid=$(order_of e 1)
payload='{"id":"WH-FORGED-'$RANDOM'","event_version":"1.0","create_time":"2026-11-25T12:00:00Z","resource_type":"checkout-order","event_type":"CHECKOUT.ORDER.APPROVED","summary":"x","resource":{"id":"'"$oid"'","intent":"CAPTURE","status":"APPROVED","purchase_units":[{"reference_id":"default","custom_id":"'"$eid"'","amount":{"currency_code":"USD","value":"13.00"}}]}}'
base_host=$(sql "SELECT count(*) FROM audit WHERE body LIKE '%\"why\":\"cert_host\"%'")
base_chain=$(sql "SELECT count(*) FROM audit WHERE body LIKE '%\"why\":\"cert_chain\"%'")
base_bad=$(sql "SELECT count(*) FROM audit WHERE body LIKE '%\"why\":\"bad_signature\"%'")
send() { # FAULT
	req POST "$E/__emulator/send" "$(node -e 'console.log(JSON.stringify({payload:process.argv[1],webhook:{[process.argv[2]]:true}}))' "$payload" "$1")"
	[ "$code" = 200 ] || die "send $1: $code $body"
}
send foreign_cert_url
send rogue_cert
send tamper
send wrong_webhook_id
for i in $(seq 80); do
	[ "$(refused_audited cert_host "$base_host")" -ge 1 ] && [ "$(refused_audited cert_chain "$base_chain")" -ge 1 ] &&
		[ "$(refused_audited bad_signature "$base_bad")" -ge 2 ] && break
	sleep 0.1
done
[ "$(refused_audited cert_host "$base_host")" -ge 1 ] || die "foreign cert host not refused/audited"
[ "$(refused_audited cert_chain "$base_chain")" -ge 1 ] || die "rogue CA not refused/audited"
[ "$(refused_audited bad_signature "$base_bad")" -ge 2 ] || die "tampered / other webhook id not refused/audited"
req GET "$E/__emulator/webhooks"
node -e 'const j=JSON.parse(process.argv[1]);const d=j.deliveries.filter(x=>x.url&&x.url.includes("/callbacks/paypal/"));if(!d.some(x=>x.status===401))process.exit(1)' "$body" ||
	die "no delivery answered 401: $body"
[ "$(state e 1)" = pending ] || die "e moved by a forged webhook: $(state e 1)"
expect_charges e 1 0
echo "ok 4 foreign cert host, rogue CA, tampered, wrong webhook id: refused and audited"

# 5. kill -9 after the create answer arrived (order id not stored): the
# buyer approves after the restart; the webhook names the payment.
stop_gw
start_gw USSDGW_PAYMENTS__TEST_CRASH_AT=pushed
pay paypal USD k 1 1400 "$(P 6)" INV6 || true
wait_killed
[ "$(state k 1)" = requested ] || die "k: $(state k 1)"
start_gw
pay paypal USD k 1 1400 "$(P 6)" INV6
[ "$(field "$body" replay)" = true ] || die "k: not a replay: $body"
approve k 1
wait_state k 1 succeeded
expect_charges k 1 1
[ "$(orders_of k 1)" = 1 ] || die "k: $(orders_of k 1) orders"
echo "ok 5 kill -9 after create: one order, one capture"
stop_gw
echo "providers_paypal: all ok"
