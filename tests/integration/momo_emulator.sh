#!/usr/bin/env bash
# The MTN MoMo Collections emulator (tools/momo-emulator) against the spec
# (specs/payments.md section 4): subscription key and token, sandbox API
# user provisioning, request to pay (202, X-Reference-Id as the idempotency
# key with 409 RESOURCE_ALREADY_EXIST, X-Target-Environment, callback host,
# MSISDN without '+', string amounts, EUR only in the sandbox), the status
# query with PENDING/SUCCESSFUL/FAILED and reasons, the sandbox's test
# numbers, unsigned callbacks (PUT/POST, confirmed by a status query here),
# faults (duplicate, held and out of order, missing, retries, 429/5xx, hang,
# reset, processed but unanswered) and the ledger across a restart.
set -euo pipefail
src=${GW_SOURCE_DIR:?GW_SOURCE_DIR must point at the source tree}
tmp=$(mktemp -d)
# shellcheck source=helpers/lib.sh
. "$src/tests/integration/helpers/lib.sh"
trap cleanup EXIT

SUB=demo-collection-key
USER_ID=c72025f5-5cd1-4630-99e4-8ba4722fad56
APIKEY=demo-api-key

cbs="$tmp/callbacks.jsonl"
start_svc sink sink node "$src/tests/integration/helpers/http_sink.js" "$cbs"
ledger="$tmp/ledger.jsonl"
start_svc emu emu "$src/tools/momo-emulator" --port 0 --ledger "$ledger" --process-ms 100 --quiet
base="http://127.0.0.1:$emu"
ctl="$base/__emulator"
CB="http://127.0.0.1:$sink/momo/cb"

script() { req POST "$ctl/script" "$1"; expect_status 200 "script $1"; }
ledger_count() { req GET "$ctl/ledger"; j 'd.count'; }
ncb() { [ -f "$cbs" ] && { grep -cF -- "$1" "$cbs" || true; } || echo 0; }
has_cb() { [ "$(ncb "$1")" -ge "$2" ]; }
uuid() { cat /proc/sys/kernel/random/uuid; }

# --- Subscription key and token.
req POST "$base/collection/token/" "" -u "$USER_ID:$APIKEY"
eq "$code $(j d.statusCode)" "401 401" "missing subscription key"
case $(j d.message) in "Access denied due to missing subscription key"*) ;; *) fail "message: $body" ;; esac
req POST "$base/collection/token/" "" -u "$USER_ID:$APIKEY" -H 'Ocp-Apim-Subscription-Key: wrong'
case $(j d.message) in "Access denied due to invalid subscription key"*) ;; *) fail "message: $body" ;; esac
req POST "$base/collection/token/" "" -u "$USER_ID:wrong" -H "Ocp-Apim-Subscription-Key: $SUB"
eq "$code $(j d.error)" "401 login_failed" "wrong API key"
req POST "$base/collection/token/" "" -u "$USER_ID:$APIKEY" -H "Ocp-Apim-Subscription-Key: $SUB"
expect_status 200 token
eq "$(j d.token_type) $(j d.expires_in) $(j 'typeof d.expires_in')" "access_token 3600 number" "token fields"
eq "$(j 'd.access_token.split(".").length')" 3 "JWT-shaped token"
TOKEN=$(j d.access_token)
H=(-H "Authorization: Bearer $TOKEN" -H "Ocp-Apim-Subscription-Key: $SUB" -H 'X-Target-Environment: sandbox')

# pay REF MSISDN AMOUNT [CURL-ARGS...] : request to pay with a callback URL.
pay() {
	req POST "$base/collection/v1_0/requesttopay" \
		"{\"amount\":\"$3\",\"currency\":\"EUR\",\"externalId\":\"ext-$1\",\"payer\":{\"partyIdType\":\"MSISDN\",\"partyId\":\"$2\"},\"payerMessage\":\"Pay order\",\"payeeNote\":\"Order\"}" \
		"${H[@]}" -H "X-Reference-Id: $1" -H "X-Callback-Url: ${CBURL:-$CB}" "${@:4}"
}
status() { req GET "$base/collection/v1_0/requesttopay/$1" "" "${H[@]}"; }
final() { status "$1"; [ "$(j d.status)" != PENDING ]; }

# --- Sandbox provisioning: a new API user, its key, a token with it.
NEWU=$(uuid)
req POST "$base/v1_0/apiuser" '{"providerCallbackHost":"127.0.0.1"}' -H "Ocp-Apim-Subscription-Key: $SUB" -H "X-Reference-Id: $NEWU"
eq "$code" 201 "create API user"
req POST "$base/v1_0/apiuser" '{"providerCallbackHost":"127.0.0.1"}' -H "Ocp-Apim-Subscription-Key: $SUB" -H "X-Reference-Id: $NEWU"
eq "$code $(j d.code)" "409 RESOURCE_ALREADY_EXIST" "API user twice"
req POST "$base/v1_0/apiuser/$NEWU/apikey" "" -H "Ocp-Apim-Subscription-Key: $SUB"
eq "$code" 201 "API key"
req POST "$base/collection/token/" "" -u "$NEWU:$(j d.apiKey)" -H "Ocp-Apim-Subscription-Key: $SUB"
eq "$code" 200 "token for the new user"

# --- Request to pay: success, callback, status; the reference id is the idempotency key.
R1=$(uuid)
# Long enough that "pending at first" holds on a loaded machine.
req POST "$ctl/config" '{"process_ms":1500}'
pay "$R1" 256772123456 1500
eq "$code" 202 "request to pay accepted"
eq "$body" "" "202 has an empty body"
status "$R1"
eq "$(j d.status) $(j 'd.financialTransactionId')" "PENDING <undefined>" "pending at first"
req POST "$ctl/config" '{"process_ms":100}'
wait_for has_cb "ext-$R1" 1 || fail "no callback"
body=$(grep -F "ext-$R1" "$cbs" | head -1)
eq "$(j d.method) $(j d.path)" "PUT /momo/cb" "callback method and URL"
eq "$(j 'Object.keys(d.headers).filter(h => /signature|authorization|x-reference-id/i.test(h)).length')" 0 "callback unsigned, no reference id header"
body=$(j d.body)
eq "$(j 'Object.keys(d).join()')" amount,currency,financialTransactionId,externalId,payer,payerMessage,payeeNote,status "callback keys (no referenceId)"
eq "$(j 'd.status + " " + d.amount + " " + typeof d.amount + " " + d.payer.partyId')" "SUCCESSFUL 1500 string 256772123456" "callback body"
CB_FTID=$(j d.financialTransactionId)
# The gateway confirms an unsigned callback with a status query.
status "$R1"
eq "$code $(j d.status) $(j d.financialTransactionId)" "200 SUCCESSFUL $CB_FTID" "status confirms the callback"
eq "$(ledger_count)" 1 "ledger after one payment"
eq "$(wc -l <"$ledger")" 1 "ledger file lines"
pay "$R1" 256772123456 1500
eq "$code $(j d.code)" "409 RESOURCE_ALREADY_EXIST" "same reference id, same body"
pay "$R1" 256772123456 9999
eq "$code $(j d.code)" "409 RESOURCE_ALREADY_EXIST" "same reference id, other body"
sleep 0.3
eq "$(ledger_count)" 1 "no second charge"
eq "$(ncb "ext-$R1")" 1 "no second callback"
status "$(uuid)"
eq "$code $(j d.code)" "404 RESOURCE_NOT_FOUND" "unknown reference id"

# --- Request validation.
pay not-a-uuid 256772123456 10
eq "$code" 400 "reference id must be a UUID"
pay "$(uuid)" +256772123456 10
eq "$code $(j d.code)" "400 INVALID_PARAMETER" "MSISDN with '+'"
req POST "$base/collection/v1_0/requesttopay" \
	'{"amount":10,"currency":"EUR","externalId":"x","payer":{"partyIdType":"MSISDN","partyId":"256772123456"}}' \
	"${H[@]}" -H "X-Reference-Id: $(uuid)"
eq "$code $(j d.code)" "400 INVALID_PARAMETER" "amount as a JSON number"
req POST "$base/collection/v1_0/requesttopay" \
	'{"amount":"10","currency":"UGX","externalId":"x","payer":{"partyIdType":"MSISDN","partyId":"256772123456"}}' \
	"${H[@]}" -H "X-Reference-Id: $(uuid)"
eq "$code $(j d.code)" "400 INVALID_CURRENCY" "sandbox takes EUR only"
CBURL=http://evil.example/cb pay "$(uuid)" 256772123456 10
eq "$code $(j d.code)" "400 INVALID_CALLBACK_URL_HOST" "callback host not the registered one"
req POST "$base/collection/v1_0/requesttopay" '{"amount":"10","currency":"EUR","externalId":"x","payer":{"partyIdType":"MSISDN","partyId":"256772123456"}}' \
	-H "Authorization: Bearer $TOKEN" -H "Ocp-Apim-Subscription-Key: $SUB" -H 'X-Target-Environment: mtnuganda' -H "X-Reference-Id: $(uuid)"
eq "$code $(j d.code)" "403 NOT_ALLOWED_TARGET_ENVIRONMENT" "other target environment"
req GET "$base/collection/v1_0/requesttopay/$R1" "" -H "Ocp-Apim-Subscription-Key: $SUB" -H 'X-Target-Environment: sandbox'
eq "$code" 401 "no bearer"
# Without a callback URL: no callback, the status still settles.
R0=$(uuid)
req POST "$base/collection/v1_0/requesttopay" \
	"{\"amount\":\"7\",\"currency\":\"EUR\",\"externalId\":\"ext-$R0\",\"payer\":{\"partyIdType\":\"MSISDN\",\"partyId\":\"256772000000\"}}" \
	"${H[@]}" -H "X-Reference-Id: $R0"
eq "$code" 202 "request without X-Callback-Url"
wait_for final "$R0" || fail "never final"
eq "$(j d.status)" SUCCESSFUL "final without callback"
eq "$(ncb "ext-$R0")" 0 "no callback without X-Callback-Url"

# --- Sandbox test numbers -> FAILED with the reason; ongoing stays PENDING.
for pair in 46733123450:INTERNAL_PROCESSING_ERROR 46733123451:REJECTED 46733123452:EXPIRED \
	46733123455:PAYER_NOT_FOUND 46733123456:PAYEE_NOT_ALLOWED_TO_RECEIVE 46733123457:NOT_ALLOWED \
	46733123463:COULD_NOT_PERFORM_TRANSACTION 46733123464:TRANSFER_TYPE_UNKNOWN; do
	r=$(uuid)
	pay "$r" "${pair%%:*}" 5
	eq "$code" 202 "accepted for ${pair%%:*}"
	wait_for final "$r" || fail "${pair%%:*} never final"
	eq "$(j d.status) $(j d.reason) $(j d.financialTransactionId)" "FAILED ${pair#*:} <undefined>" "outcome for ${pair%%:*}"
	wait_for has_cb "ext-$r" 1 || fail "no callback for ${pair%%:*}"
	body=$(grep -F "ext-$r" "$cbs" | head -1); body=$(j d.body)
	eq "$(j d.status) $(j d.reason)" "FAILED ${pair#*:}" "callback for ${pair%%:*}"
done
ONG=$(uuid)
pay "$ONG" 46733123453 5
sleep 0.4
status "$ONG"
eq "$(j d.status)" PENDING "ongoing stays pending"
req POST "$ctl/complete" "{\"referenceId\":\"$ONG\",\"outcome\":\"NOT_ENOUGH_FUNDS\"}"
eq "$code $(j d.status) $(j d.reason)" "200 FAILED NOT_ENOUGH_FUNDS" "control completes a pending request"
DEL=$(uuid)
pay "$DEL" 46733123454 5
sleep 0.3
status "$DEL"
eq "$(j d.status)" PENDING "delayed: pending after the normal processing time"
wait_for final "$DEL" || fail "delayed never final"
eq "$(j d.status)" SUCCESSFUL "delayed then successful"
eq "$(ledger_count)" 3 "ledger: three successful payments"

# Reason and value forms (the spec leaves them open; clients must take both).
req POST "$ctl/config" '{"reason_as":"object","values_as":"number"}'
status "$ONG"
eq "$(j d.reason.code) $(j 'typeof d.reason.message')" "NOT_ENOUGH_FUNDS string" "reason as an object"
status "$R1"
eq "$(j 'typeof d.amount + " " + typeof d.financialTransactionId')" "number number" "values as numbers"
req POST "$ctl/config" '{"reason_as":"string","values_as":"string","callback_method":"POST"}'

# --- Callback faults.
script '{"rules":[{"match":{"amount":"801"},"callback":{"duplicate":2}},
 {"match":{"amount":"802"},"callback":{"hold":true}},
 {"match":{"amount":"803"},"callback":{"hold":true}},
 {"match":{"amount":"804"},"callback":{"missing":true}},
 {"match":{"amount":"805"},"outcome":"NOT_ENOUGH_FUNDS","callback":{"delay_ms":3000}}]}'
D=$(uuid)
pay "$D" 256772000801 801
wait_for has_cb "ext-$D" 3 || fail "duplicates"
body=$(grep -F "ext-$D" "$cbs" | head -1)
eq "$(j d.method)" POST "callback_method POST"
eq "$(ledger_count)" 4 "a duplicated callback is one payment"
H1=$(uuid); H2=$(uuid)
pay "$H1" 256772000802 802
pay "$H2" 256772000803 803
sleep 0.4
eq "$(ncb "ext-$H1")$(ncb "ext-$H2")" 00 "held callbacks"
status "$H1"
eq "$(j d.status)" SUCCESSFUL "the status is final while the callback is held"
req POST "$ctl/flush" '{"order":"lifo"}'
eq "$(j d.delivered)" 2 "flushed"
wait_for has_cb "ext-$H1" 1 || fail "flushed 1"
wait_for has_cb "ext-$H2" 1 || fail "flushed 2"
[ "$(grep -nF "ext-$H2" "$cbs" | cut -d: -f1)" -lt "$(grep -nF "ext-$H1" "$cbs" | cut -d: -f1)" ] || fail "lifo order"
M=$(uuid)
pay "$M" 256772000804 804
wait_for final "$M" || fail "missing: never final"
sleep 0.3
eq "$(ncb "ext-$M")" 0 "missing callback"
eq "$(j d.status)" SUCCESSFUL "missing callback: the status query still tells"
L5=$(uuid)
pay "$L5" 256772000805 805
wait_for final "$L5" || fail "never final"
eq "$(j d.status) $(j d.reason) $(ncb "ext-$L5")" "FAILED NOT_ENOUGH_FUNDS 0" "final before the late callback"
wait_for has_cb "ext-$L5" 1 || fail "late callback"

# Retries (the newer callback page): to a failing listener.
req POST "$ctl/config" '{"callback_retries":20,"callback_retry_ms":10}'
RT=$(uuid)
CBURL="http://127.0.0.1:$sink/momo/fail" pay "$RT" 256772000900 9
wait_for has_cb "ext-$RT" 21 || fail "retries: $(ncb "ext-$RT")"
sleep 0.3
eq "$(ncb "ext-$RT")" 21 "one callback and 20 retries"
req POST "$ctl/config" '{"callback_retries":0}'

# --- HTTP faults.
script '{"rules":[{"match":{"amount":"601"},"http":{"status":429},"times":1},
 {"match":{"amount":"602"},"http":{"status":500},"times":1},
 {"match":{"amount":"603"},"http":{"hang":true},"times":1},
 {"match":{"amount":"604"},"http":{"reset":true},"times":1},
 {"match":{"amount":"605"},"http":{"reset":true,"process":true},"times":1}]}'
n0=$(ledger_count)
F=$(uuid)
pay "$F" 256772000601 601
eq "$code $(j d.statusCode)" "429 429" "429"
pay "$F" 256772000601 601
eq "$code" 202 "retry after a 429 with the same reference id"
F=$(uuid)
pay "$F" 256772000602 602
eq "$code $(j d.code)" "500 INTERNAL_PROCESSING_ERROR" "500"
pay "$F" 256772000602 602
eq "$code" 202 "retry after a 500 (it had no effect)"
pay "$(uuid)" 256772000603 603 --max-time 1
eq "$code:$curl_rc" "000:28" "hang"
pay "$(uuid)" 256772000604 604
[ "$curl_rc" == 56 ] || [ "$curl_rc" == 52 ] || fail "reset: curl exit $curl_rc"
F=$(uuid)
pay "$F" 256772000605 605
[ "$curl_rc" == 56 ] || [ "$curl_rc" == 52 ] || fail "reset after processing: curl exit $curl_rc"
pay "$F" 256772000605 605
eq "$code $(j d.code)" "409 RESOURCE_ALREADY_EXIST" "retry of the lost request: 409, then query"
wait_for final "$F" || fail "lost request never final"
eq "$(j d.status)" SUCCESSFUL "the lost request was processed"
eq "$(ledger_count)" $((n0 + 3)) "ledger: 601, 602 and 605 once each"

# --- Token expiry on the shiftable clock.
req POST "$ctl/clock" '{"shift_ms":3601000}'
status "$R1"
eq "$code" 401 "token after 3601 s"
req POST "$ctl/clock" '{"shift_ms":-3601000}'

# --- Ledger across a restart.
n=$(ledger_count)
eq "$(wc -l <"$ledger")" "$n" "ledger file matches the count"
stop_svc "$emu_pid"
start_svc emu emu "$src/tools/momo-emulator" --port 0 --ledger "$ledger" --quiet
ctl="http://127.0.0.1:$emu/__emulator"
eq "$(ledger_count)" "$n" "ledger reloaded after a restart"
req POST "$ctl/reset"
eq "$(ledger_count) $(wc -c <"$ledger")" "0 0" "reset empties the ledger"
echo "momo emulator: all checks passed"
