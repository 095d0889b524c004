#!/usr/bin/env bash
# The Daraja emulator (tools/daraja-emulator) against the spec
# (specs/payments.md section 1): the password vector, OAuth with token
# invalidation and expiry, STK push validation and errors, the callback body
# field for field, STK query typing, transaction status with an RSA
# credential, scripted outcomes, every fault (delay, duplicate, hold and
# out-of-order flush, missing, throttling, 5xx, hang, reset, processed but
# unanswered) and the ledger, also across a restart. Loopback only.
set -euo pipefail
src=${GW_SOURCE_DIR:?GW_SOURCE_DIR must point at the source tree}
tmp=$(mktemp -d)
# shellcheck source=helpers/lib.sh
. "$src/tests/integration/helpers/lib.sh"
trap cleanup EXIT

SC=174379
PASSKEY=bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919
KEY=demo-consumer-key
SECRET=demo-consumer-secret

# --- The published password vector (spec 1.3), independently of the emulator.
vector=$(printf '%s' "${SC}${PASSKEY}20210628092408" | base64 -w0)
case $vector in
MTc0Mzc5YmZi*MDkyNDA4) ;;
*) fail "password vector does not match the spec's MTc0Mzc5YmZi...MDkyNDA4: $vector" ;;
esac

start_svc sink sink node "$src/tests/integration/helpers/http_sink.js" "$tmp/callbacks.jsonl"
CB="http://127.0.0.1:$sink/cb/stk"
ledger="$tmp/ledger.jsonl"
start_svc emu emu "$src/tools/daraja-emulator" --port 0 --ledger "$ledger" --process-ms 50
base="http://127.0.0.1:$emu"
ctl="$base/__emulator"

ts_now() { date -u -d '+3 hours' +%Y%m%d%H%M%S; } # EAT
pw() { printf '%s' "${SC}${PASSKEY}$1" | base64 -w0; }

# push PHONE AMOUNT [JSON-OVERRIDES [CURL-ARGS...]] : STK push with a fresh timestamp.
push() {
	local phone=$1 amount=$2 extra=${3-} ts
	shift 2
	[ $# -gt 0 ] && shift
	ts=$(ts_now)
	local payload base_json
	base_json=$(printf '{"BusinessShortCode":%s,"Password":"%s","Timestamp":"%s","TransactionType":"CustomerPayBillOnline","Amount":"%s","PartyA":"%s","PartyB":"%s","PhoneNumber":"%s","CallBackURL":"%s","AccountReference":"ORDER42","TransactionDesc":"Payment"}' \
		"$SC" "$(pw "$ts")" "$ts" "$amount" "$phone" "$SC" "$phone" "$CB")
	[ -n "$extra" ] || extra='{}'
	payload=$(body=$base_json; j "JSON.stringify(Object.assign(d, $extra))")
	req POST "$base/mpesa/stkpush/v1/processrequest" "$payload" -H "Authorization: Bearer $TOKEN" "$@"
}

# query ID : STK push query.
query() {
	local ts
	ts=$(ts_now)
	req POST "$base/mpesa/stkpushquery/v1/query" \
		"{\"BusinessShortCode\":\"$SC\",\"Password\":\"$(pw "$ts")\",\"Timestamp\":\"$ts\",\"CheckoutRequestID\":\"$1\"}" \
		-H "Authorization: Bearer $TOKEN"
}

# callbacks_for ID : the raw callback bodies mentioning ID, one per line, in arrival order.
callbacks_for() {
	[ -f "$tmp/callbacks.jsonl" ] || return 0
	local body
	while IFS= read -r body; do
		j d.body
		echo
	done < <(grep -F -- "$1" "$tmp/callbacks.jsonl")
}
ncallbacks() {
	[ -f "$tmp/callbacks.jsonl" ] || { echo 0; return; }
	grep -cF -- "$1" "$tmp/callbacks.jsonl" || true
}
has_callbacks() { [ "$(ncallbacks "$1")" -ge "$2" ]; }

ledger_count() { req GET "$ctl/ledger"; j 'd.count'; }

script() { req POST "$ctl/script" "$1"; expect_status 200 "script $1"; }

# --- OAuth (spec 1.2)
req GET "$base/oauth/v1/generate?grant_type=client_credentials"
expect_status 400 "oauth without auth"
eq "$(j d.errorCode)" 400.008.01 "oauth without auth"
req GET "$base/oauth/v1/generate?grant_type=password" "" -u "$KEY:$SECRET"
eq "$(j d.errorCode)" 400.008.02 "oauth bad grant type"
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:wrong"
expect_status 400 "oauth wrong secret"
eq "$(j 'typeof d.requestId')" string "error envelope requestId"
req POST "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
expect_status 405 "POST on the OAuth endpoint"
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
expect_status 200 oauth
eq "$(j 'd.expires_in')" 3599 "expires_in"
eq "$(j 'typeof d.expires_in')" string "expires_in is a JSON string by default"
eq "$(j 'd.access_token.length')" 28 "token length"
OLD=$(j d.access_token)
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
TOKEN=$(j d.access_token)
[ "$TOKEN" != "$OLD" ] || fail "second token equals the first"

# A new token invalidates the old one.
push 254708374149 1
eq "$code" 200 "push with the new token"
FIRST=$(j d.CheckoutRequestID)
save=$TOKEN; TOKEN=$OLD
push 254708374150 1
expect_status 404 "push with the invalidated token"
eq "$(j d.errorCode)" 404.001.03 "invalidated token"
TOKEN=$save

# --- The first push: the synchronous answer and the success callback field for field.
TOKEN=$save
wait_for has_callbacks "$FIRST" 1 || fail "no callback for $FIRST"
body=$(callbacks_for "$FIRST" | head -1)
case $body in
*'"ResultCode":0,'*'{"Name":"Amount","Value":1.00}'*'{"Name":"Balance"}'*'"Value":254708374149}'*) ;;
*) fail "callback text differs from the spec's sample shape: $body" ;;
esac
eq "$(j 'Object.keys(d).join()')" Body "callback top level"
eq "$(j 'Object.keys(d.Body.stkCallback).join()')" \
	MerchantRequestID,CheckoutRequestID,ResultCode,ResultDesc,CallbackMetadata "stkCallback keys"
eq "$(j 'd.Body.stkCallback.CheckoutRequestID')" "$FIRST" "CheckoutRequestID"
eq "$(j 'typeof d.Body.stkCallback.ResultCode')" number "ResultCode type in the callback"
eq "$(j 'd.Body.stkCallback.ResultDesc')" "The service request is processed successfully." ResultDesc
eq "$(j 'd.Body.stkCallback.CallbackMetadata.Item.map(i => i.Name).join()')" \
	Amount,MpesaReceiptNumber,Balance,TransactionDate,PhoneNumber "item names and order"
eq "$(j 'd.Body.stkCallback.CallbackMetadata.Item.map(i => typeof i.Value).join()')" \
	number,string,undefined,number,number "item value types"
eq "$(j 'd.Body.stkCallback.CallbackMetadata.Item[4].Value')" 254708374149 "PhoneNumber"
eq "$(j 'd.Body.stkCallback.CallbackMetadata.Item[4].Value > 2**31')" true "PhoneNumber exceeds 32 bits"
eq "$(j '/^\d{14}$/.test(String(d.Body.stkCallback.CallbackMetadata.Item[3].Value))')" true "TransactionDate"
eq "$(j 'd.Body.stkCallback.CallbackMetadata.Item[3].Value > 2**31')" true "TransactionDate exceeds 32 bits"
RECEIPT=$(j 'd.Body.stkCallback.CallbackMetadata.Item[1].Value')
[[ $RECEIPT =~ ^[A-Z0-9]{10}$ ]] || fail "receipt format: $RECEIPT"
query "$FIRST"
expect_status 200 "query after success"
eq "$(j 'd.ResultCode')" 0 "query ResultCode"
eq "$(j 'typeof d.ResultCode')" string "ResultCode is a string in the query"
eq "$(j 'd.ResponseDescription')" "The service request has been accepted successsfully" "query description (sic)"
eq "$(j 'Object.keys(d).join()')" \
	ResponseCode,ResponseDescription,MerchantRequestID,CheckoutRequestID,ResultCode,ResultDesc "query keys"
req GET "$ctl/ledger"
eq "$(j 'd.count')" 1 "ledger after one success"
eq "$(j 'd.entries[0].CheckoutRequestID + " " + d.entries[0].MpesaReceiptNumber + " " + d.entries[0].amount + " " + d.entries[0].phone')" \
	"$FIRST $RECEIPT 1 254708374149" "ledger entry"
eq "$(wc -l <"$ledger")" 1 "ledger file lines"

# --- The spec's password vector is accepted at its own timestamp.
req POST "$ctl/clock" '{"set":"20210628092408"}'
expect_status 200 "clock set"
sample=$(node -e '
process.stdout.write(JSON.stringify({ BusinessShortCode: 174379, Password: process.argv[1],
	Timestamp: "20210628092408", TransactionType: "CustomerPayBillOnline", Amount: 1,
	PartyA: "254708374149", PartyB: "174379", PhoneNumber: "254708374149",
	CallBackURL: process.argv[2], AccountReference: "CompanyXLTD", TransactionDesc: "Payment of X" }));' \
	"$vector" "$CB")
# (The token issued now stays valid when the clock is set back: its expiry lies ahead.)
req POST "$base/mpesa/stkpush/v1/processrequest" "$sample" -H "Authorization: Bearer $TOKEN"
expect_status 200 "the spec's sample request at its timestamp"
VEC=$(j d.CheckoutRequestID)
[[ $VEC =~ ^ws_CO_28062021092408[0-9]{4}$ ]] || fail "CheckoutRequestID format: $VEC"
wrongpw=$(printf '%s' "${SC}0000${PASSKEY:4}20210628092408" | base64 -w0)
req POST "$base/mpesa/stkpush/v1/processrequest" "${sample/"$vector"/"$wrongpw"}" -H "Authorization: Bearer $TOKEN"
expect_status 500 "wrong password"
eq "$(j d.errorCode)" 500.001.1001 "wrong password code"
eq "$(j d.errorMessage)" "Wrong credentials" "wrong password message"
req POST "$ctl/reset"
expect_status 200 reset
eq "$(ledger_count)" 0 "ledger after reset"
eq "$(wc -c <"$ledger")" 0 "ledger file after reset"

# --- Token expiry on the shiftable clock (3599 s).
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
TOKEN=$(j d.access_token)
req POST "$ctl/clock" '{"shift_ms":3540000}'
push 254708374149 2 '{"Timestamp":"20000101000000"}'
eq "$(j d.errorMessage)" "Bad Request - Invalid Timestamp" "token still valid after 3540 s"
req POST "$ctl/clock" '{"shift_ms":120000}'
push 254708374149 2
expect_status 404 "token after 3660 s"
eq "$(j d.errorCode)" 404.001.03 "expired token"
req POST "$ctl/config" '{"expires_in_as":"number"}'
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
eq "$(j 'typeof d.expires_in')" number "expires_in as a number when configured"
TOKEN=$(j d.access_token)
req POST "$ctl/clock" '{"shift_ms":-3660000}'
eq "$(j d.shift_ms)" 0 "clock back to real time"

# --- Transport and validation errors (spec 1.1, 1.3).
req GET "$base/mpesa/stkpush/v1/processrequest" "" -H "Authorization: Bearer $TOKEN"
eq "$code $(j d.errorCode)" "404 404.001.04" "GET on a POST API"
req POST "$base/mpesa/nothing/v1" "{}" -H "Authorization: Bearer $TOKEN"
eq "$code $(j d.errorCode)" "404 404.001.01" "unknown path"
req POST "$base/mpesa/stkpush/v1/processrequest" "{}"
eq "$code $(j d.errorCode)" "404 404.001.04" "no bearer"
req POST "$base/mpesa/stkpush/v1/processrequest" "{not json" -H "Authorization: Bearer $TOKEN"
eq "$code $(j d.errorCode)" "400 400.002.05" "malformed JSON"
check_invalid() { # FIELD OVERRIDES
	push 254708374149 1 "$2"
	eq "$code $(j d.errorCode)" "400 400.002.02" "invalid $1"
	eq "$(j d.errorMessage)" "Bad Request - Invalid $1" "message for $1"
}
check_invalid BusinessShortCode '{"BusinessShortCode":"12"}'
check_invalid Timestamp '{"Timestamp":"2021062809240"}'
check_invalid Timestamp '{"Timestamp":"20211340092408"}'
check_invalid Timestamp "{\"Timestamp\":\"$(date -u +%Y%m%d%H%M%S)\"}" # UTC, not EAT: 3 h off
check_invalid TransactionType '{"TransactionType":"CustomerPayBill"}'
check_invalid Amount '{"Amount":"1.5"}'
check_invalid Amount '{"Amount":0}'
check_invalid PartyA '{"PartyA":"0708374149"}'
check_invalid PhoneNumber '{"PhoneNumber":"+254708374149"}'
check_invalid CallBackURL '{"CallBackURL":"not a url"}'
check_invalid AccountReference '{"AccountReference":"ABCDEFGHIJKLM"}'
check_invalid TransactionDesc '{"TransactionDesc":"fourteen chars"}'
push 254708374149 1 '{"BusinessShortCode":"600000","PartyB":"600000"}'
eq "$code $(j d.errorCode) $(j d.errorMessage)" "500 500.001.1001 Merchant does not exist" "unknown shortcode"

# --- Pending: query says "being processed", a second push locks the subscriber.
script '{"rules":[{"match":{"phone":"254700000100"},"process_ms":60000}]}'
push 254700000100 5
expect_status 200 "slow push"
SLOW=$(j d.CheckoutRequestID)
query "$SLOW"
eq "$code $(j d.errorCode) $(j d.requestId)" "500 500.001.1001 $SLOW" "query while pending"
eq "$(j d.errorMessage)" "The transaction is being processed" "pending message"
push 254700000100 5
eq "$code $(j d.errorCode)" "500 500.001.1001" "second push while pending"
eq "$(j d.errorMessage)" \
	"Unable to lock subscriber, a transaction is already in process for the current subscriber" "lock message"
req POST "$ctl/complete" "{\"CheckoutRequestID\":\"$SLOW\",\"outcome\":\"cancelled\"}"
eq "$code $(j d.state) $(j d.ResultCode)" "200 final 1032" "complete a pending push by hand"
wait_for has_callbacks "$SLOW" 1 || fail "no callback after a manual completion"
body=$(callbacks_for "$SLOW")
eq "$(j d.Body.stkCallback.ResultCode)" 1032 "manual outcome in the callback"
req POST "$ctl/complete" "{\"CheckoutRequestID\":\"$SLOW\"}"
expect_status 409 "completing twice"
push 254700000100 5
expect_status 200 "the subscriber is unlocked after the final state"
query ws_CO_000000000000000000
eq "$code $(j d.errorMessage)" "400 Bad Request - Invalid CheckoutRequestID" "unknown CheckoutRequestID"

# --- Scripted outcomes by phone and by amount.
script '{"rules":[
 {"match":{"phone":"254700001032"},"outcome":"cancelled"},
 {"match":{"phone":"254700001037"},"outcome":"timeout"},
 {"match":{"phone":"254700002001"},"outcome":"wrong_pin"},
 {"match":{"amount":7},"outcome":"insufficient_funds"},
 {"match":{"phone":"254700000003"},"outcome":"SFC_IC0003"}]}'
for c in 254700001032:1:1032 254700001037:1:1037 254700002001:1:2001 254711000007:7:1; do
	IFS=: read -r phone amount want <<<"$c"
	push "$phone" "$amount"
	expect_status 200 "push for outcome $want"
	id=$(j d.CheckoutRequestID)
	wait_for has_callbacks "$id" 1 || fail "no callback for outcome $want"
	body=$(callbacks_for "$id")
	eq "$(j 'd.Body.stkCallback.ResultCode')" "$want" "callback ResultCode"
	eq "$(j 'typeof d.Body.stkCallback.ResultCode')" number "failure ResultCode type"
	eq "$(j 'd.Body.stkCallback.CallbackMetadata')" "<undefined>" "no metadata on failure $want"
	query "$id"
	eq "$(j 'd.ResultCode')" "$want" "query ResultCode for $want"
	eq "$(j 'typeof d.ResultCode')" string "query ResultCode type for $want"
done
push 254700000003 1
id=$(j d.CheckoutRequestID)
wait_for has_callbacks "$id" 1 || fail "no callback for SFC_IC0003"
case $(callbacks_for "$id") in
*'"ResultCode":"SFC_IC0003"'*) ;;
*) fail "alphanumeric ResultCode not a JSON string: $(callbacks_for "$id")" ;;
esac
push 254711000008 1 '{"TransactionType":"CustomerBuyGoodsOnline","PartyB":"999999"}'
id=$(j d.CheckoutRequestID)
wait_for has_callbacks "$id" 1 || fail "no callback for the incoherent PartyB"
body=$(callbacks_for "$id")
eq "$(j 'd.Body.stkCallback.ResultCode')" 2028 "BuyGoods with a foreign PartyB"
eq "$(ledger_count)" 0 "no charge for failures"

# --- Duplicate callback: delivered twice, charged once.
script '{"rules":[{"match":{"phone":"254722000001"},"callback":{"duplicate":true}}]}'
push 254722000001 10
DUP=$(j d.CheckoutRequestID)
wait_for has_callbacks "$DUP" 2 || fail "duplicate callback not delivered twice"
a=$(callbacks_for "$DUP" | sed -n 1p); b=$(callbacks_for "$DUP" | sed -n 2p)
eq "$a" "$b" "the duplicate is byte for byte the same"
eq "$(ledger_count)" 1 "one charge for a duplicated callback"

# --- Late callback: the query knows the result before the callback comes (held),
#     then out-of-order delivery of two held callbacks (lifo).
script '{"rules":[{"match":{"phone":"254722000002"},"callback":{"hold":true}},
 {"match":{"phone":"254722000003"},"callback":{"hold":true}}]}'
push 254722000002 11
H1=$(j d.CheckoutRequestID)
push 254722000003 12
H2=$(j d.CheckoutRequestID)
held_two() { req GET "$ctl/callbacks"; [ "$(j d.held)" == 2 ]; }
wait_for held_two || fail "callbacks not held"
query "$H1"
eq "$code $(j d.ResultCode)" "200 0" "query final while the callback is late"
eq "$(ncallbacks "$H1")$(ncallbacks "$H2")" 00 "held callbacks not sent"
req POST "$ctl/flush" '{"order":"lifo"}'
eq "$(j d.delivered)" 2 "flushed"
wait_for has_callbacks "$H1" 1 || fail "flushed callback 1 missing"
wait_for has_callbacks "$H2" 1 || fail "flushed callback 2 missing"
order=$(node -e '
const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
const i1 = l.findIndex(r => r.body.includes(process.argv[2])), i2 = l.findIndex(r => r.body.includes(process.argv[3]));
process.stdout.write(i2 < i1 ? "reversed" : "in-order");' "$tmp/callbacks.jsonl" "$H1" "$H2")
eq "$order" reversed "lifo flush delivers out of order"

# --- Delayed callback (arrives, later), missing callback (charged, never sent).
script '{"rules":[{"match":{"phone":"254722000004"},"callback":{"delay_ms":300,"amount_format":"integer"}},
 {"match":{"phone":"254722000005"},"callback":{"missing":true}}]}'
push 254722000004 13
LATE=$(j d.CheckoutRequestID)
wait_for has_callbacks "$LATE" 1 || fail "delayed callback never came"
case $(callbacks_for "$LATE") in
*'{"Name":"Amount","Value":13}'*) ;;
*) fail "integer amount format: $(callbacks_for "$LATE")" ;;
esac
push 254722000005 14
MISS=$(j d.CheckoutRequestID)
dropped() { req GET "$ctl/callbacks"; [ "$(j "d.deliveries.filter(x => x.id === '$MISS')[0]?.error")" == "dropped (missing callback fault)" ]; }
wait_for dropped || fail "missing callback not recorded"
eq "$(ncallbacks "$MISS")" 0 "missing callback sent"
query "$MISS"
eq "$(j d.ResultCode)" 0 "query reveals the charge without a callback"
eq "$(ledger_count)" 5 "charges so far"

# --- Query disagreeing with the callback (sandbox quirk, spec 1.4).
script '{"rules":[{"match":{"phone":"254722000006"},"query":{"result_code":1032}}]}'
push 254722000006 15
DIS=$(j d.CheckoutRequestID)
wait_for has_callbacks "$DIS" 1 || fail "no callback"
body=$(callbacks_for "$DIS")
eq "$(j d.Body.stkCallback.ResultCode)" 0 "callback says paid"
query "$DIS"
eq "$(j d.ResultCode)" 1032 "query disagrees"

# --- HTTP faults on the push itself.
script '{"rules":[
 {"match":{"phone":"254733000001"},"http":{"throttle":true}},
 {"match":{"phone":"254733000002"},"http":{"status":503}},
 {"match":{"phone":"254733000003"},"http":{"status":502,"body":"<html>Bad Gateway</html>"}},
 {"match":{"phone":"254733000004"},"http":{"hang":true}},
 {"match":{"phone":"254733000005"},"http":{"reset":true}},
 {"match":{"phone":"254733000006"},"http":{"hang":true,"process":true},"times":1}]}'
req GET "$ctl/transactions"
before=$(j 'd.transactions.length')
push 254733000001 1
eq "$code $(j d.errorCode) $(j d.errorMessage)" "500 500.003.02 Spike Arrest Violation" "throttling as HTTP 500"
push 254733000002 1
eq "$code $(j d.errorCode)" "503 500.003.1001" "scripted 503"
push 254733000003 1
eq "$code $body" "502 <html>Bad Gateway</html>" "scripted 502 with a body"
push 254733000004 1 "" --max-time 1
eq "$code:$curl_rc" "000:28" "hang: the request times out"
push 254733000005 1
[ "$curl_rc" == 56 ] || [ "$curl_rc" == 52 ] || fail "reset: curl exit $curl_rc, code $code"
req GET "$ctl/transactions"
eq "$(j 'd.transactions.length')" "$before" "faulted pushes were not processed"
push 254733000006 16 "" --max-time 1
eq "$curl_rc" 28 "processed but unanswered push times out"
req GET "$ctl/transactions"
AMB=$(j "d.transactions.filter(t => t.phone === '254733000006')[0].CheckoutRequestID")
wait_for has_callbacks "$AMB" 1 || fail "the unanswered push was not processed"
eq "$(ledger_count)" 7 "the unanswered push charged"
push 254733000006 17
eq "$code" 200 "the rule is used up after times:1"
# Faults on the other endpoints: OAuth and the STK query.
script "{\"rules\":[{\"match\":{\"endpoint\":\"oauth\"},\"http\":{\"status\":503},\"times\":1},
 {\"match\":{\"endpoint\":\"stkquery\",\"phone\":\"254722000006\"},\"http\":{\"throttle\":true},\"times\":1}]}"
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
expect_status 503 "scripted OAuth outage"
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
expect_status 200 "OAuth after the outage"
TOKEN=$(j d.access_token)
query "$DIS"
eq "$code $(j d.errorCode)" "500 500.003.02" "throttled query of a push by phone"
query "$DIS"
expect_status 200 "query after the throttled one"
req POST "$ctl/script" '{"rules":[]}'
req POST "$ctl/config" '{"tps":1}'
# Six requests from one curl process: at least two fall into the same second.
u="$base/oauth/v1/generate?grant_type=client_credentials"
out=$(curl -s --max-time 10 -w '\n%{http_code}\n' -u "$KEY:$SECRET" "$u" "$u" "$u" "$u" "$u" "$u")
grep -q '"errorCode":"500.003.02".*}$' <<<"$out" || fail "TPS limit never answered 500.003.02: $out"
grep -q '^500$' <<<"$out" || fail "TPS limit not as HTTP 500: $out"
req POST "$ctl/config" '{"tps":0}'
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
TOKEN=$(j d.access_token)

# --- Transaction status (spec 1.8) with an RSA credential (spec 1.6).
req GET "$ctl/certificate"
printf '%s' "$body" >"$tmp/cert.pem"
cred() { node -e '
const c = require("crypto");
process.stdout.write(c.publicEncrypt({ key: require("fs").readFileSync(process.argv[1]),
	padding: c.constants.RSA_PKCS1_PADDING }, Buffer.from(process.argv[2])).toString("base64"));' "$tmp/cert.pem" "$1"; }
RCB="http://127.0.0.1:$sink/cb/result"
status_req() { # RECEIPT CREDENTIAL
	req POST "$base/mpesa/transactionstatus/v1/query" "{\"Initiator\":\"testapi\",\"SecurityCredential\":\"$2\",
\"CommandID\":\"TransactionStatusQuery\",\"TransactionID\":\"$1\",\"PartyA\":\"$SC\",\"IdentifierType\":\"4\",
\"ResultURL\":\"$RCB\",\"QueueTimeOutURL\":\"$RCB\",\"Remarks\":\"check\",\"Occasion\":\"\"}" \
		-H "Authorization: Bearer $TOKEN"
}
req GET "$ctl/ledger"
R1=$(j 'd.entries[0].MpesaReceiptNumber')
A1=$(j 'd.entries[0].amount')
status_req "$R1" "$(cred 'Demo#Initiator1')"
expect_status 200 "transaction status"
eq "$(j d.ResponseCode) $(j d.ResponseDescription)" "0 Accept the service request successfully." "status sync answer"
CONV=$(j d.ConversationID)
[[ $CONV =~ ^AG_[0-9]{8}_ ]] || fail "ConversationID format: $CONV"
wait_for has_callbacks "$CONV" 1 || fail "no transaction status result"
body=$(callbacks_for "$CONV")
eq "$(j 'd.Result.ResultCode')" 0 "status result"
eq "$(j 'd.Result.TransactionID')" "$R1" "status TransactionID"
eq "$(j "d.Result.ResultParameters.ResultParameter.find(p => p.Key === 'ReceiptNo').Value")" "$R1" ReceiptNo
eq "$(j "typeof d.Result.ResultParameters.ResultParameter.find(p => p.Key === 'Amount').Value")" string "Amount type"
eq "$(j "d.Result.ResultParameters.ResultParameter.find(p => p.Key === 'Amount').Value")" "$A1" "status Amount"
eq "$(j 'Array.isArray(d.Result.ReferenceData.ReferenceItem)')" false "ReferenceItem is a single object"
status_req "$R1" "$(cred 'not-the-password')"
CONV=$(j d.ConversationID)
wait_for has_callbacks "$CONV" 1 || fail "no result for a bad credential"
body=$(callbacks_for "$CONV")
eq "$(j 'd.Result.ResultCode')" 2001 "bad credential"
status_req NOSUCHRCPT "$(cred 'Demo#Initiator1')"
CONV=$(j d.ConversationID)
wait_for has_callbacks "$CONV" 1 || fail "no result for an unknown receipt"
body=$(callbacks_for "$CONV")
eq "$(j 'd.Result.ResultCode')" R000002 "unknown receipt"
req POST "$base/mpesa/transactionstatus/v1/query" '{}' -H "Authorization: Bearer nope"
eq "$code $(j d.errorCode)" "400 400.003.01" "status with a bad token"

# --- C2B (spec 1.5): register URLs (the response key is misspelt on the wire),
#     simulate, confirmation; validation accept, reject, and the registered
#     default when the validation URL fails.
c2b_reg() { # RESPONSE-TYPE CONFIRMATION VALIDATION
	req POST "$base/mpesa/c2b/v2/registerurl" \
		"{\"ShortCode\":\"$SC\",\"ResponseType\":\"$1\",\"ConfirmationURL\":\"$2\",\"ValidationURL\":\"$3\"}" \
		-H "Authorization: Bearer $TOKEN"
}
c2b_pay() { # MSISDN AMOUNT REF
	req POST "$base/mpesa/c2b/v1/simulate" \
		"{\"ShortCode\":$SC,\"CommandID\":\"CustomerPayBillOnline\",\"Amount\":$2,\"Msisdn\":$1,\"BillRefNumber\":\"$3\"}" \
		-H "Authorization: Bearer $TOKEN"
}
S="http://127.0.0.1:$sink"
c2b_reg Completed "$S/c2b/mpesa/confirm" "$S/c2b/validate"
eq "$code $(j d.errorMessage)" "400 Bad Request - Invalid ConfirmationURL" "URL with a banned word"
c2b_reg completed "$S/c2b/confirm" "$S/c2b/validate"
eq "$code $(j d.errorMessage)" "400 Bad Request - Invalid ResponseType" "ResponseType is case-sensitive"
c2b_reg Completed "$S/c2b/confirm" "$S/c2b/validate"
expect_status 200 "register URLs"
eq "$(j 'Object.keys(d).join()')" OriginatorCoversationID,ResponseCode,ResponseDescription "register keys (sic)"
eq "$(j d.ResponseCode) $(j d.ResponseDescription)" "0 success" "register answer"
n0=$(ledger_count)
c2b_pay 254708374149 5 INV001
expect_status 200 "simulate"
eq "$(j 'Object.keys(d).join()')" OriginatorCoversationID,ResponseCode,ResponseDescription "simulate keys (sic)"
wait_for has_callbacks INV001 1 || fail "no C2B confirmation"
body=$(callbacks_for INV001)
eq "$(j 'Object.keys(d).join()')" \
	TransactionType,TransID,TransTime,TransAmount,BusinessShortCode,BillRefNumber,InvoiceNumber,OrgAccountBalance,ThirdPartyTransID,MSISDN,FirstName,MiddleName,LastName \
	"confirmation keys"
eq "$(j 'Object.values(d).map(v => typeof v).join()')" \
	string,string,string,string,string,string,string,string,string,string,string,string,string "confirmation types"
eq "$(j d.TransactionType) $(j d.TransAmount) $(j d.BusinessShortCode) $(j d.OrgAccountBalance)" \
	"Pay Bill 5.00 $SC 5.00" "confirmation values"
eq "$(j d.MSISDN)" "2547 ***** 149" "masked MSISDN"
eq "$(ledger_count)" "$((n0 + 1))" "C2B payment in the ledger"
req POST "$ctl/config" '{"c2b_external_validation":true}'
c2b_pay 254708374149 6 INV002
wait_for has_callbacks INV002 2 || fail "no validation + confirmation"
eq "$(grep -F INV002 "$tmp/callbacks.jsonl" | sed 's/.*"path":"\([^"]*\)".*/\1/' | tr '\n' ' ')" \
	"/c2b/validate /c2b/confirm " "validation before confirmation"
body=$(callbacks_for INV002 | sed -n 1p)
eq "$(j d.OrgAccountBalance)" "" "no balance on validation"
c2b_reg Cancelled "$S/c2b/confirm" "$S/c2b/reject"
c2b_pay 254708374149 7 INV003
rejected() { req GET "$ctl/callbacks"; [ "$(j "d.deliveries.filter(x => x.kind === 'c2b-validation').pop().result")" == C2B00012 ]; }
wait_for rejected || fail "rejection not seen"
c2b_reg Completed "$S/c2b/confirm" "$S/c2b/fail"
c2b_pay 254708374149 8 INV004
wait_for has_callbacks INV004 2 || fail "ResponseType Completed did not confirm after a failed validation"
eq "$(ncallbacks INV003)" 1 "a rejected payment is not confirmed"
eq "$(ledger_count)" "$((n0 + 3))" "C2B charges: accepted, validated, defaulted"
req POST "$ctl/config" '{"c2b_external_validation":false}'

# --- Control API input checks.
req POST "$ctl/script" '{"rules":[{"match":{"phone":"254700000001"},"outcom":"cancelled"}]}'
eq "$code $(j d.error)" "400 rules[0]: unknown key outcom" "typo in a rule"
req POST "$ctl/script" '{"rules":[{"outcome":"nonsense"}]}'
expect_status 400 "unknown outcome"

# --- The ledger file survives a restart and keeps counting.
n_before=$(ledger_count)
eq "$(wc -l <"$ledger")" "$n_before" "ledger file matches memory"
stop_svc "$emu_pid"
start_svc emu emu2 "$src/tools/daraja-emulator" --port 0 --ledger "$ledger" --process-ms 50 \
	--script "$src/tools/emulators/daraja-demo-script.json"
base="http://127.0.0.1:$emu"; ctl="$base/__emulator"
eq "$(ledger_count)" "$n_before" "ledger reloaded after restart"
req GET "$ctl/script"
eq "$(j 'd.rules.length')" 7 "demo script loaded with --script"
req POST "$ctl/script" '{"rules":[]}'
printf '{"rules":[{"match":{"phone":"1"},"outcom":1}]}' >"$tmp/bad-script.json"
if "$src/tools/daraja-emulator" --port 0 --script "$tmp/bad-script.json" >"$tmp/bad.out" 2>&1; then
	fail "a bad --script file was accepted"
fi
grep -q 'unknown key outcom' "$tmp/bad.out" || fail "bad script error not named: $(cat "$tmp/bad.out")"
req GET "$base/oauth/v1/generate?grant_type=client_credentials" "" -u "$KEY:$SECRET"
TOKEN=$(j d.access_token)
push 254744000001 20
NEW=$(j d.CheckoutRequestID)
wait_for has_callbacks "$NEW" 1 || fail "no callback after restart"
eq "$(wc -l <"$ledger")" "$((n_before + 1))" "ledger file after restart + one charge"
grep -q "\"$NEW\"" "$ledger" || fail "new charge not in the ledger file"

echo "daraja_emulator: ok"
