#!/usr/bin/env bash
# The PayPal emulator (tools/paypal-emulator) against the spec
# (specs/payments.md section 3): the CRC32 vector (checked with gzip's
# trailer, then reproduced by the emulator), OAuth2 client credentials,
# Orders v2 create/approve/capture with the error issues, PayPal-Request-Id
# replay with the latest state, 409 in flight and the 6 h retention, webhooks
# verified here with openssl (certificate fetched from PAYPAL-CERT-URL,
# chain checked against the --ca-out CA, RSA-SHA256 over
# "id|time|webhook id|crc32"), the verify-webhook-signature API, faults
# (foreign cert URL, rogue CA, --rogue, duplicate, out of order, tampered,
# retries, 429/5xx, hang, reset) and the ledger across a restart.
set -euo pipefail
src=${GW_SOURCE_DIR:?GW_SOURCE_DIR must point at the source tree}
tmp=$(mktemp -d)
# shellcheck source=helpers/lib.sh
. "$src/tests/integration/helpers/lib.sh"
trap cleanup EXIT

CID=demo-client-id
CSECRET=demo-client-secret
WHID=WH-TEST-ID-1

# crc32 FILE : CRC32 of the file's bytes as an unsigned decimal, from gzip's trailer.
crc32() { gzip -c <"$1" | tail -c8 | head -c4 | od -An -tu4 | tr -d ' \n'; }

# --- The spec's CRC32 vector, independently of the emulator.
VEC='{"id":"evt_test","object":"event"}'
printf '%s' "$VEC" >"$tmp/vec"
eq "$(crc32 "$tmp/vec")" 601642980 "CRC32 vector of spec 3.6 (gzip)"

hooks="$tmp/hooks.jsonl"
start_svc sink sink node "$src/tests/integration/helpers/http_sink.js" "$hooks"
ledger="$tmp/ledger.jsonl"
start_svc emu emu "$src/tools/paypal-emulator" --port 0 --ledger "$ledger" --ca-out "$tmp/ca.pem" \
	--webhook-url "http://127.0.0.1:$sink/hooks/paypal" --webhook-id "$WHID" --quiet
base="http://127.0.0.1:$emu"
ctl="$base/__emulator"
grep -q 'BEGIN CERTIFICATE' "$tmp/ca.pem" || fail "--ca-out wrote no certificate"

req POST "$ctl/crc32" "{\"payload\":$(node -pe 'JSON.stringify(process.argv[1])' "$VEC")}"
eq "$(j d.crc32)" 601642980 "emulator CRC32 of the vector"

nhooks() { [ -f "$hooks" ] && grep -c . "$hooks" || echo 0; }
have_hooks() { [ "$(nhooks)" -ge "$1" ]; }
clear_hooks() { rm -f "$hooks"; }
script() { req POST "$ctl/script" "$1"; expect_status 200 "script $1"; }
ledger_count() { req GET "$ctl/ledger"; j 'd.count'; }

# hook N FIELD : a field of the Nth received webhook (JS over the sink record as d).
hook() { local body; body=$(sed -n "$1p" "$hooks"); j "$2"; }

# verify_hook N [CA] [WEBHOOK-ID] : verify the Nth received webhook as a
# listener must, printing ok, foreign (cert URL not on the emulator's host),
# badchain (certificate not issued by CA) or badsig.
verify_hook() {
	local n=$1 ca=${2:-$tmp/ca.pem} whid=${3:-$WHID} tid ttime sig url algo crc
	hook "$n" d.body >"$tmp/raw"
	tid=$(hook "$n" 'd.headers["paypal-transmission-id"]')
	ttime=$(hook "$n" 'd.headers["paypal-transmission-time"]')
	sig=$(hook "$n" 'd.headers["paypal-transmission-sig"]')
	url=$(hook "$n" 'd.headers["paypal-cert-url"]')
	algo=$(hook "$n" 'd.headers["paypal-auth-algo"]')
	[ "$algo" == SHA256withRSA ] || { echo "badalgo"; return; }
	case $url in "http://127.0.0.1:$emu/v1/notifications/certs/"*) ;; *) echo foreign; return ;; esac
	curl -s --max-time 5 -o "$tmp/cert.pem" "$url" || { echo nocert; return; }
	openssl verify -CAfile "$ca" "$tmp/cert.pem" >/dev/null 2>&1 || { echo badchain; return; }
	openssl x509 -in "$tmp/cert.pem" -pubkey -noout >"$tmp/pub.pem"
	crc=$(crc32 "$tmp/raw")
	printf '%s|%s|%s|%s' "$tid" "$ttime" "$whid" "$crc" >"$tmp/msg"
	printf '%s' "$sig" | base64 -d >"$tmp/sig.bin"
	if openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/sig.bin" "$tmp/msg" >/dev/null 2>&1; then
		echo ok
	else
		echo badsig
	fi
}

# --- OAuth2 (spec 3.1)
req POST "$base/v1/oauth2/token" "" -u "$CID:wrong" -d grant_type=client_credentials
eq "$code $(j d.error) $(j d.error_description)" "401 invalid_client Client Authentication failed" "bad client secret"
req POST "$base/v1/oauth2/token" "" -u "$CID:$CSECRET" -d grant_type=password
eq "$code $(j d.error)" "400 unsupported_grant_type" "grant type"
req POST "$base/v1/oauth2/token" "" -u "$CID:$CSECRET" -d grant_type=client_credentials
expect_status 200 token
eq "$(j d.token_type) $(j 'typeof d.expires_in') $(j 'd.app_id.startsWith("APP-")')" "Bearer number true" "token fields"
TOKEN=$(j d.access_token)
A=(-H "Authorization: Bearer $TOKEN")

ORDER='{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"10.00"},"custom_id":"pay-0001","invoice_id":"INV-1"}]}'
req POST "$base/v2/checkout/orders" "$ORDER"
eq "$code $(j d.name)" "401 AUTHENTICATION_FAILURE" "no bearer"

# --- Create (spec 3.2) and its validation issues.
bad_order() { # JSON WANT-STATUS WANT-ISSUE
	req POST "$base/v2/checkout/orders" "$1" "${A[@]}"
	eq "$code $(j 'd.details[0].issue')" "$2 $3" "create issue $3"
	eq "$(j d.name)" "$( [ "$2" == 422 ] && echo UNPROCESSABLE_ENTITY || echo INVALID_REQUEST)" "error name for $3"
	[ -n "$(j d.debug_id)" ] || fail "debug_id"
}
bad_order '{"purchase_units":[{"amount":{"currency_code":"USD","value":"1.00"}}]}' 400 MISSING_REQUIRED_PARAMETER
bad_order '{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"10.001"}}]}' 422 DECIMAL_PRECISION
bad_order '{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"JPY","value":"100.5"}}]}' 422 DECIMAL_PRECISION
bad_order '{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"0.00"}}]}' 422 CANNOT_BE_ZERO_OR_NEGATIVE
bad_order '{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":10}}]}' 400 INVALID_PARAMETER_SYNTAX
bad_order '{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"10.00","breakdown":{"item_total":{"currency_code":"USD","value":"9.00"}}}}]}' 422 AMOUNT_MISMATCH
bad_order '{"intent":"CAPTURE","purchase_units":[{"reference_id":"a","amount":{"currency_code":"USD","value":"1.00"}},{"reference_id":"b","amount":{"currency_code":"EUR","value":"1.00"}}]}' 422 MULTI_CURRENCY_ORDER
bad_order '{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"1.00"}},{"amount":{"currency_code":"USD","value":"1.00"}}]}' 422 REFERENCE_ID_REQUIRED
bad_order '{"intent":"CAPTURE","payment_source":{"paypal":{}},"purchase_units":[{"amount":{"currency_code":"USD","value":"1.00"}}]}' 400 PAYPAL_REQUEST_ID_REQUIRED
req POST "$base/v2/checkout/orders" '{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"JPY","value":"100"}}]}' "${A[@]}"
eq "$code" 201 "JPY without decimals"
req POST "$base/v2/checkout/orders" '{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"10.00"}' "${A[@]}"
eq "$code $(j 'd.details[0].issue')" "400 MALFORMED_REQUEST_JSON" "malformed JSON"

req POST "$base/v2/checkout/orders" "$ORDER" "${A[@]}" -H 'PayPal-Request-Id: create-1'
eq "$code $(j d.status)" "201 CREATED" "create"
OID=$(j d.id)
eq "$(j 'Object.keys(d).join()')" id,status,links "minimal representation by default"
eq "$(j 'd.links.map(l => l.rel + ":" + l.method).join()')" "self:GET,approve:GET,update:PATCH,capture:POST" "links"
APPROVE=$(j 'd.links.find(l => l.rel === "approve").href')
req POST "$base/v2/checkout/orders" "$ORDER" "${A[@]}" -H 'PayPal-Request-Id: create-1'
eq "$code $(j d.id)" "200 $OID" "create replay: 200, same order"
req POST "$base/v2/checkout/orders" "$ORDER" "${A[@]}" -H 'Prefer: return=representation'
eq "$code $(j d.intent) $(j 'd.purchase_units[0].custom_id')" "201 CAPTURE pay-0001" "return=representation"
req POST "$base/v2/checkout/orders" '{"intent":"CAPTURE","payment_source":{"paypal":{"experience_context":{"return_url":"https://shop.example/ok"}}},"purchase_units":[{"amount":{"currency_code":"USD","value":"5.00"}}]}' \
	"${A[@]}" -H 'PayPal-Request-Id: create-ps'
eq "$code $(j d.status) $(j 'd.links.map(l => l.rel).join()')" "201 PAYER_ACTION_REQUIRED self,payer-action" "payment_source: payer action"

# --- Capture (spec 3.3).
capture() { req POST "$base/v2/checkout/orders/$1/capture" '{}' "${A[@]}" "${@:2}"; }
capture "$OID" -H 'PayPal-Request-Id: cap-0'
eq "$code $(j 'd.details[0].issue')" "422 ORDER_NOT_APPROVED" "capture before approval"
req GET "$base/v2/checkout/orders/$OID" "" "${A[@]}"
eq "$(j d.status)" CREATED "awaiting approval"
req GET "$APPROVE"
eq "$code" 200 "buyer approves through the approve link"
req GET "$base/v2/checkout/orders/$OID" "" "${A[@]}"
eq "$(j d.status) $(j 'd.payer.email_address')" "APPROVED buyer@example.com" "approved"
capture "$OID" -H 'PayPal-Request-Id: cap-1'
eq "$code $(j d.status)" "201 COMPLETED" "capture"
CAP=$(j 'd.purchase_units[0].payments.captures[0].id')
eq "$(j 'd.purchase_units[0].payments.captures[0].status + " " + d.purchase_units[0].payments.captures[0].amount.value + " " + d.purchase_units[0].payments.captures[0].custom_id')" \
	"COMPLETED 10.00 pay-0001" "capture fields"
eq "$(j 'd.purchase_units[0].payments.captures[0].seller_receivable_breakdown.gross_amount.value')" 10.00 "gross"
capture "$OID" -H 'PayPal-Request-Id: cap-1'
eq "$code $(j 'd.purchase_units[0].payments.captures[0].id')" "200 $CAP" "capture replay: 200, same capture"
capture "$OID" -H 'PayPal-Request-Id: cap-2'
eq "$code $(j 'd.details[0].issue')" "422 ORDER_ALREADY_CAPTURED" "second capture, new request id"
req POST "$base/v2/checkout/orders" "$ORDER" "${A[@]}" -H 'PayPal-Request-Id: create-1'
eq "$code $(j d.id) $(j d.status)" "200 $OID COMPLETED" "create replay returns the latest status"
eq "$(ledger_count)" 1 "ledger: one capture"
eq "$(wc -l <"$ledger")" 1 "ledger file lines"
req GET "$base/v2/checkout/orders/NOSUCHORDER1" "" "${A[@]}"
eq "$code $(j d.name)" "404 RESOURCE_NOT_FOUND" "unknown order"

# Webhooks of this order: approved, capture completed; verified with openssl.
wait_for have_hooks 2 || fail "webhooks: $(nhooks)"
eq "$(hook 1 'JSON.parse(d.body).event_type') $(hook 2 'JSON.parse(d.body).event_type')" \
	"CHECKOUT.ORDER.APPROVED PAYMENT.CAPTURE.COMPLETED" "event types"
eq "$(verify_hook 1) $(verify_hook 2)" "ok ok" "signatures verify against the emulator CA"
eq "$(hook 2 'JSON.parse(d.body).resource.supplementary_data.related_ids.order_id')" "$OID" "capture event names the order"
eq "$(hook 2 'JSON.parse(d.body).resource.custom_id')" pay-0001 "capture event custom_id"
[[ $(hook 2 'JSON.parse(d.body).id') =~ ^WH- ]] || fail "event id"
[[ $(hook 2 'd.headers["paypal-transmission-time"]') =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]] || fail "transmission time format"
eq "$(verify_hook 2 "$tmp/ca.pem" WEBHOOK_ID)" badsig "another webhook id does not verify"

# The postback verification API agrees.
vbody=$(body=$(sed -n 2p "$hooks"); j 'JSON.stringify({auth_algo: d.headers["paypal-auth-algo"], cert_url: d.headers["paypal-cert-url"],
	transmission_id: d.headers["paypal-transmission-id"], transmission_sig: d.headers["paypal-transmission-sig"],
	transmission_time: d.headers["paypal-transmission-time"], webhook_id: "'"$WHID"'", webhook_event: JSON.parse(d.body)})')
req POST "$base/v1/notifications/verify-webhook-signature" "$vbody" "${A[@]}"
eq "$code $(j d.verification_status)" "200 SUCCESS" "verify-webhook-signature"
req POST "$base/v1/notifications/verify-webhook-signature" "${vbody/$WHID/OTHER-ID}" "${A[@]}"
eq "$(j d.verification_status)" FAILURE "verify-webhook-signature with another webhook id"
clear_hooks

# --- Request-id retention (6 h) and in-flight conflict.
req POST "$ctl/clock" '{"shift_ms":21540000}'
req POST "$base/v2/checkout/orders" "$ORDER" "${A[@]}" -H 'PayPal-Request-Id: create-1'
eq "$code $(j d.id)" "200 $OID" "replay at 5h59"
req POST "$ctl/clock" '{"shift_ms":61000}'
req POST "$base/v2/checkout/orders" "$ORDER" "${A[@]}" -H 'PayPal-Request-Id: create-1'
eq "$code" 201 "after 6 h the request id executes again"
[ "$(j d.id)" != "$OID" ] || fail "expired request id replayed"
req POST "$ctl/clock" '{"shift_ms":-21601000}'
req POST "$base/v2/checkout/orders" "$ORDER" "${A[@]}"
O2=$(j d.id)
req POST "$ctl/approve" "{\"id\":\"$O2\"}"
eq "$code $(j d.status)" "200 APPROVED" "control approve"
script '{"rules":[{"match":{"endpoint":"capture"},"http":{"delay_ms":1500},"times":1}]}'
curl -s -o "$tmp/slow" -w '%{http_code}' --max-time 5 -X POST -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' -H 'PayPal-Request-Id: cap-slow' -d '{}' \
	"$base/v2/checkout/orders/$O2/capture" >"$tmp/slow.code" &
slow=$!
sleep 0.5
capture "$O2" -H 'PayPal-Request-Id: cap-slow'
eq "$code $(j d.name)" "409 RESOURCE_CONFLICT" "same request id while the first runs"
wait "$slow" || true
eq "$(cat "$tmp/slow.code")" 201 "the first capture completes"
capture "$O2" -H 'PayPal-Request-Id: cap-slow'
eq "$code" 200 "then the request id replays"
eq "$(ledger_count)" 2 "ledger: two captures"
wait_for have_hooks 2 || fail "webhooks of the second order"
sleep 0.3
clear_hooks

# --- Capture outcomes: declined (not stored: the same id retries), pending then settled.
neworder() { # VALUE -> approved order id in $OID
	req POST "$base/v2/checkout/orders" "{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"amount\":{\"currency_code\":\"USD\",\"value\":\"$1\"}}]}" "${A[@]}"
	OID=$(j d.id)
	req POST "$ctl/approve" "{\"id\":\"$OID\"}"
	expect_status 200 "approve $OID"
}
script '{"rules":[{"match":{"value":"20.00","endpoint":"capture"},"outcome":"declined","times":1},
 {"match":{"value":"21.00","endpoint":"capture"},"outcome":"pending","pending_reason":"ECHECK"}]}'
neworder 20.00
capture "$OID" -H 'PayPal-Request-Id: cap-dec'
eq "$code $(j 'd.details[0].issue')" "422 INSTRUMENT_DECLINED" "declined"
capture "$OID" -H 'PayPal-Request-Id: cap-dec'
eq "$code $(j d.status)" "201 COMPLETED" "a declined capture is not stored under its request id"
neworder 21.00
capture "$OID"
eq "$code $(j d.status) $(j 'd.purchase_units[0].payments.captures[0].status') $(j 'd.purchase_units[0].payments.captures[0].status_details.reason')" \
	"201 COMPLETED PENDING ECHECK" "order completed, capture pending"
PCAP=$(j 'd.purchase_units[0].payments.captures[0].id')
eq "$(ledger_count)" 3 "a pending capture is not in the ledger"
req POST "$ctl/settle" "{\"capture_id\":\"$PCAP\",\"status\":\"COMPLETED\"}"
eq "$code $(j d.status)" "200 COMPLETED" "pending capture settles"
eq "$(ledger_count)" 4 "settled capture in the ledger"
wait_for have_hooks 5 || fail "webhooks: $(nhooks)"
sleep 0.3
types=$(for i in $(seq 1 "$(nhooks)"); do hook "$i" 'JSON.parse(d.body).event_type'; echo; done | sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' ')
for t in CHECKOUT.ORDER.APPROVED=2 PAYMENT.CAPTURE.COMPLETED=2 PAYMENT.CAPTURE.PENDING=1; do
	case " $types" in *" $t "*) ;; *) fail "webhook $t not in: $types" ;; esac
done
clear_hooks

# --- Webhook faults.
script '{"rules":[{"match":{"value":"31.00","endpoint":"capture"},"webhook":{"foreign_cert_url":true}},
 {"match":{"value":"32.00","endpoint":"capture"},"webhook":{"rogue_cert":true}},
 {"match":{"value":"33.00","endpoint":"capture"},"webhook":{"duplicate":true}},
 {"match":{"value":"34.00","endpoint":"capture"},"webhook":{"hold":true}},
 {"match":{"value":"35.00","endpoint":"capture"},"webhook":{"hold":true}},
 {"match":{"value":"36.00","endpoint":"capture"},"webhook":{"tamper":true}},
 {"match":{"value":"37.00","endpoint":"capture"},"webhook":{"missing":true}}]}'
fault_capture() { neworder "$1"; wait_for have_hooks 1 || fail "approval webhook $1"; sleep 0.1; clear_hooks; capture "$OID"; expect_status 201 "capture $1"; }
fault_capture 31.00
wait_for have_hooks 1 || fail "foreign cert webhook"
eq "$(verify_hook 1)" foreign "cert URL on another host"
case $(hook 1 'd.headers["paypal-cert-url"]') in http://api.paypal.com.attacker.invalid/*) ;; *) fail "foreign cert url" ;; esac
clear_hooks
fault_capture 32.00
wait_for have_hooks 1 || fail "rogue cert webhook"
eq "$(verify_hook 1)" badchain "certificate from another CA"
clear_hooks
fault_capture 33.00
wait_for have_hooks 2 || fail "duplicate webhook"
eq "$(hook 1 'JSON.parse(d.body).id')" "$(hook 2 'JSON.parse(d.body).id')" "duplicate: same event id"
[ "$(hook 1 'd.headers["paypal-transmission-id"]')" != "$(hook 2 'd.headers["paypal-transmission-id"]')" ] || fail "duplicate: same transmission id"
eq "$(verify_hook 1) $(verify_hook 2)" "ok ok" "both duplicates verify"
clear_hooks
neworder 34.00; F1=$OID
neworder 35.00; F2=$OID
wait_for have_hooks 2 || fail "approval webhooks"
sleep 0.1
clear_hooks
capture "$F1"; capture "$F2"
sleep 0.3
eq "$(nhooks)" 0 "held"
req POST "$ctl/flush" '{"order":"lifo"}'
wait_for have_hooks 2 || fail "flushed"
eq "$(hook 1 'JSON.parse(d.body).resource.supplementary_data.related_ids.order_id') $(hook 2 'JSON.parse(d.body).resource.supplementary_data.related_ids.order_id')" \
	"$F2 $F1" "out of order after a lifo flush"
clear_hooks
fault_capture 36.00
wait_for have_hooks 1 || fail "tampered webhook"
eq "$(verify_hook 1)" badsig "tampered body"
clear_hooks
fault_capture 37.00
sleep 0.3
eq "$(nhooks)" 0 "missing webhook"

# Retries to a failing listener: 1 + 25; a retry is re-sent as is or as a new transmission.
req POST "$ctl/config" "{\"webhook_url\":\"http://127.0.0.1:$sink/hooks/fail\",\"webhook_retry_ms\":10,\"retry_new_time\":false}"
neworder 40.00
wait_for have_hooks 26 || fail "retries: $(nhooks)"
sleep 0.3
eq "$(nhooks)" 26 "one attempt and 25 retries"
eq "$(for i in $(seq 1 26); do hook "$i" 'd.headers["paypal-transmission-id"] + d.headers["paypal-transmission-time"]'; echo; done | sort -u | wc -l)" 1 \
	"retry_new_time=false: the same transmission"
eq "$(for i in $(seq 1 26); do hook "$i" 'JSON.parse(d.body).id'; echo; done | sort -u | wc -l)" 1 "one event id"
clear_hooks
req POST "$ctl/config" '{"retry_new_time":true,"webhook_retries":3}'
neworder 41.00
wait_for have_hooks 4 || fail "retries: $(nhooks)"
sleep 0.2
eq "$(for i in $(seq 1 4); do hook "$i" 'd.headers["paypal-transmission-id"]'; echo; done | sort -u | wc -l)" 4 \
	"retry_new_time=true: a new transmission id each time"
eq "$(verify_hook 4)" ok "a retry verifies"
clear_hooks
req POST "$ctl/config" "{\"webhook_url\":\"http://127.0.0.1:$sink/hooks/paypal\"}"

# --- HTTP faults.
script '{"rules":[{"match":{"value":"50.00","endpoint":"capture"},"http":{"status":429},"times":1},
 {"match":{"value":"51.00","endpoint":"capture"},"http":{"status":503},"times":1},
 {"match":{"value":"52.00","endpoint":"capture"},"http":{"hang":true},"times":1},
 {"match":{"value":"53.00","endpoint":"capture"},"http":{"reset":true},"times":1},
 {"match":{"value":"54.00","endpoint":"capture"},"http":{"reset":true,"process":true},"times":1}]}'
n0=$(ledger_count)
neworder 50.00
capture "$OID" -H 'PayPal-Request-Id: f50'
eq "$code $(j d.name)" "429 RATE_LIMIT_REACHED" "429"
capture "$OID" -H 'PayPal-Request-Id: f50'
eq "$code" 201 "retry after 429"
neworder 51.00
capture "$OID" -H 'PayPal-Request-Id: f51'
eq "$code $(j d.name)" "503 SERVICE_UNAVAILABLE" "503"
neworder 52.00
capture "$OID" -H 'PayPal-Request-Id: f52' --max-time 1
eq "$code:$curl_rc" "000:28" "hang"
neworder 53.00
capture "$OID" -H 'PayPal-Request-Id: f53'
[ "$curl_rc" == 56 ] || [ "$curl_rc" == 52 ] || fail "reset: curl exit $curl_rc"
neworder 54.00
LOST=$OID
capture "$LOST" -H 'PayPal-Request-Id: f54'
[ "$curl_rc" == 56 ] || [ "$curl_rc" == 52 ] || fail "reset after processing: curl exit $curl_rc"
capture "$LOST" -H 'PayPal-Request-Id: f54'
eq "$code $(j d.status)" "200 COMPLETED" "the lost capture answer is replayed by its request id"
eq "$(ledger_count)" $((n0 + 2)) "ledger: 50.00 and 54.00 captured once each"

# --- --rogue: every webhook chains to a CA other than the one written out.
start_svc rog rogue "$src/tools/paypal-emulator" --port 0 --rogue --ca-out "$tmp/ca2.pem" \
	--webhook-url "http://127.0.0.1:$sink/hooks/rogue" --webhook-id "$WHID" --quiet
clear_hooks
req POST "$base/v1/oauth2/token" "" -u "$CID:$CSECRET" -d grant_type=client_credentials
req POST "http://127.0.0.1:$rog/v1/oauth2/token" "" -u "$CID:$CSECRET" -d grant_type=client_credentials
RT=$(j d.access_token)
req POST "http://127.0.0.1:$rog/v2/checkout/orders" "$ORDER" -H "Authorization: Bearer $RT"
req POST "http://127.0.0.1:$rog/__emulator/approve" "{\"id\":\"$(j d.id)\"}"
wait_for have_hooks 1 || fail "rogue webhook"
saved=$emu; emu=$rog
eq "$(verify_hook 1 "$tmp/ca2.pem")" badchain "--rogue: chain fails against the --ca-out CA"
emu=$saved
stop_svc "$rog_pid"

# --- Ledger across a restart.
n=$(ledger_count)
stop_svc "$emu_pid"
start_svc emu emu "$src/tools/paypal-emulator" --port 0 --ledger "$ledger" --quiet
base="http://127.0.0.1:$emu"
ctl="$base/__emulator"
eq "$(ledger_count)" "$n" "ledger reloaded after a restart"
req POST "$ctl/reset"
eq "$(ledger_count) $(wc -c <"$ledger")" "0 0" "reset empties the ledger"
echo "paypal emulator: all checks passed"
