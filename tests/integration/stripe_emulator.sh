#!/usr/bin/env bash
# The Stripe emulator (tools/stripe-emulator) against the spec
# (specs/payments.md section 2): the webhook signature vector (checked with
# openssl, then reproduced by the emulator), secret-key auth, form bodies,
# PaymentIntent statuses (succeeded, declined with 402, requires_action,
# authentication_required off-session, processing), zero- and three-decimal
# amounts, the Idempotency-Key layer (replay, other parameters, other
# endpoint, 409 while in flight, what is not saved, the 24 h retention),
# Stripe-Should-Retry, webhooks verified here with node crypto (rotation,
# duplicate, twin events, out-of-order, stale t, tampered body, retries,
# undelivered events), HTTP faults and the ledger across a restart.
set -euo pipefail
src=${GW_SOURCE_DIR:?GW_SOURCE_DIR must point at the source tree}
tmp=$(mktemp -d)
# shellcheck source=helpers/lib.sh
. "$src/tests/integration/helpers/lib.sh"
trap cleanup EXIT

SK=sk_test_emulator
WHSEC=whsec_emulator

# --- The spec's signature vector, independently of the emulator (openssl).
VEC_BODY='{"id":"evt_test","object":"event"}'
VEC_SIG=691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215
got=$(printf '%s' "1492774577.$VEC_BODY" | openssl dgst -sha256 -hmac whsec_test_secret -r | cut -d' ' -f1)
eq "$got" "$VEC_SIG" "HMAC-SHA256 vector of spec 2.6 (openssl)"

hooks="$tmp/hooks.jsonl"
start_svc sink sink node "$src/tests/integration/helpers/http_sink.js" "$hooks"
ledger="$tmp/ledger.jsonl"
start_svc emu emu "$src/tools/stripe-emulator" --port 0 --ledger "$ledger" --process-ms 100 \
	--webhook-url "http://127.0.0.1:$sink/hooks/stripe" --webhook-secret "$WHSEC" --quiet
base="http://127.0.0.1:$emu"
ctl="$base/__emulator"

# api METHOD PATH [CURL-ARGS...] : a Stripe API call with the secret key;
# sets $code, $body and the response headers in $tmp/hdr.
api() {
	local method=$1 path=$2
	shift 2
	rm -f "$tmp/resp" "$tmp/hdr"
	curl_rc=0
	code=$(curl -s -o "$tmp/resp" -D "$tmp/hdr" -w '%{http_code}' --max-time 5 -X "$method" \
		-H "Authorization: Bearer ${KEY_USED-$SK}" "$@" "$base$path") || curl_rc=$?
	body=$(cat "$tmp/resp" 2>/dev/null || true)
}
hdr() { { grep -i "^$1:" "$tmp/hdr" 2>/dev/null || true; } | head -1 | cut -d' ' -f2- | tr -d '\r'; }
script() { req POST "$ctl/script" "$1"; expect_status 200 "script $1"; }
ledger_count() { req GET "$ctl/ledger"; j 'd.count'; }
PAY=(-d amount=2000 -d currency=usd -d confirm=true -d off_session=true -d payment_method=pm_card_visa
	-d customer=cus_TEST1 -d 'metadata[order_id]=42')

# verify_hooks SECRET... : one line per received webhook: "<event id> <type>
# <ok|bad|stale|nosig> <number of v1> <has v0>", verified here with node
# crypto: HMAC-SHA256 over "t." + raw body, any v1 matching any secret,
# constant-time compare, |now - t| <= 300 s against the emulator's clock.
verify_hooks() {
	local now
	req GET "$ctl/clock"
	now=$(j d.unix)
	[ -f "$hooks" ] || return 0
	node -e '
const crypto = require("crypto");
const fs = require("fs");
const [file, now, ...secrets] = process.argv.slice(1);
for (const line of fs.readFileSync(file, "utf8").split("\n").filter(Boolean)) {
	const r = JSON.parse(line);
	const h = r.headers["stripe-signature"];
	let id = "-", type = "-";
	try { const e = JSON.parse(r.body); id = e.id; type = e.type; } catch (e) { }
	if (!h) { console.log(`${id} ${type} nosig 0 0`); continue; }
	let t = null; const v1 = []; let v0 = 0;
	for (const part of h.split(",")) {
		const i = part.indexOf("=");
		const k = part.slice(0, i), v = part.slice(i + 1);
		if (k === "t") t = v; else if (k === "v1") v1.push(v); else if (k === "v0") v0 = 1;
	}
	let ok = false;
	for (const s of secrets) {
		const want = Buffer.from(crypto.createHmac("sha256", s).update(t + "." + r.body).digest("hex"));
		for (const v of v1)
			if (v.length === want.length && crypto.timingSafeEqual(Buffer.from(v), want)) ok = true;
	}
	const verdict = !ok ? "bad" : Math.abs(Number(now) - Number(t)) > 300 ? "stale" : "ok";
	console.log(`${id} ${type} ${verdict} ${v1.length} ${v0}`);
}' "$hooks" "$now" "$@"
}
nhooks() { [ -f "$hooks" ] && grep -c . "$hooks" || echo 0; }
have_hooks() { [ "$(nhooks)" -ge "$1" ]; }
clear_hooks() { rm -f "$hooks"; }

# --- The emulator reproduces the vector: its signer and a delivered payload.
req POST "$ctl/sign" "{\"secret\":\"whsec_test_secret\",\"t\":1492774577,\"payload\":$(printf '%s' "$VEC_BODY" | node -pe 'JSON.stringify(require("fs").readFileSync(0,"utf8"))')}"
eq "$(j d.header)" "t=1492774577,v1=$VEC_SIG" "emulator signer on the spec vector"
req POST "$ctl/config" '{"webhook_secrets":["whsec_test_secret"],"webhook_v0":false}'
req POST "$ctl/clock" '{"set":1492774577}'
req POST "$ctl/send" '{"payload":"{\"id\":\"evt_test\",\"object\":\"event\"}"}'
expect_status 200 "send the vector payload"
wait_for have_hooks 1 || fail "vector payload not delivered"
body=$(head -1 "$hooks")
eq "$(j 'd.body')" "$VEC_BODY" "raw vector body on the wire"
eq "$(j 'd.headers["stripe-signature"]')" "t=1492774577,v1=$VEC_SIG" "Stripe-Signature of the vector delivery"
req POST "$ctl/reset"
clear_hooks

# --- Auth and request format (spec 2.1, 2.7).
KEY_USED='' api POST /v1/payment_intents "${PAY[@]}"
eq "$code $(j d.error.type)" "401 invalid_request_error" "no API key"
KEY_USED=sk_test_wrongwrongwrong api POST /v1/payment_intents "${PAY[@]}"
eq "$code" 401 "wrong API key"
case $(j d.error.message) in "Invalid API Key provided: sk_test_"*) ;; *) fail "wrong key message: $body" ;; esac
req POST "$base/v1/payment_intents" '{"amount":2000,"currency":"usd"}' -u "$SK:"
eq "$code $(j d.error.type)" "400 invalid_request_error" "JSON body refused"
api GET /v1/payment_intents/pi_doesnotexist
eq "$code $(j d.error.code)" "404 resource_missing" "unknown PaymentIntent"
[[ $(hdr Request-Id) =~ ^req_[A-Za-z0-9]{14}$ ]] || fail "Request-Id header: $(hdr Request-Id)"

# --- Create + confirm off-session, with Basic auth; the webhook verifies.
rm -f "$tmp/hdr"
code=$(curl -s -o "$tmp/resp" -D "$tmp/hdr" -w '%{http_code}' --max-time 5 -u "$SK:" \
	-H 'Idempotency-Key: key-1' "${PAY[@]}" "$base/v1/payment_intents")
body=$(cat "$tmp/resp")
FIRST_BODY=$body
eq "$code" 200 "create+confirm (Basic auth)"
eq "$(j d.status)" succeeded "status"
eq "$(j 'd.amount_received + " " + d.currency + " " + d.customer + " " + d.metadata.order_id')" "2000 usd cus_TEST1 42" "fields"
PI1=$(j d.id)
[[ $PI1 =~ ^pi_[A-Za-z0-9]{24}$ ]] || fail "PaymentIntent id: $PI1"
[[ $(j d.latest_charge) =~ ^ch_ ]] || fail "latest_charge"
eq "$(j d.client_secret | cut -d_ -f1-3)" "${PI1}_secret" "client_secret prefix"
eq "$(hdr Idempotency-Key)" key-1 "Idempotency-Key echoed"
eq "$(hdr Idempotent-Replayed)" "" "first answer is not a replay"
wait_for have_hooks 1 || fail "no payment_intent.succeeded webhook"
read -r evid evtype verdict nv1 v0 < <(verify_hooks "$WHSEC")
eq "$evtype $verdict $nv1 $v0" "payment_intent.succeeded ok 1 1" "succeeded webhook verifies (one v1, plus the ignored v0)"
body=$(head -1 "$hooks")
body=$(j d.body)
eq "$(j 'd.object + " " + d.data.object.id + " " + d.request.idempotency_key + " " + d.livemode')" \
	"event $PI1 key-1 false" "event fields"
[[ $evid =~ ^evt_ ]] || fail "event id $evid"
eq "$(ledger_count)" 1 "ledger after one charge"
eq "$(wc -l <"$ledger")" 1 "ledger file lines"

# Replay: same key, same parameters in another order -> same status and body, replay header, no charge.
api POST /v1/payment_intents -H 'Idempotency-Key: key-1' -d 'metadata[order_id]=42' -d customer=cus_TEST1 \
	-d payment_method=pm_card_visa -d off_session=true -d confirm=true -d currency=usd -d amount=2000
eq "$code" 200 "replay status"
eq "$(hdr Idempotent-Replayed)" true "Idempotent-Replayed"
[ "$body" == "$FIRST_BODY" ] || fail "replayed body differs from the first"
[[ $(hdr Original-Request) =~ ^req_ ]] || fail "Original-Request header"
# Other parameters, other endpoint.
api POST /v1/payment_intents -H 'Idempotency-Key: key-1' "${PAY[@]}" -d description=other
eq "$code $(j d.error.type)" "400 idempotency_error" "same key, other parameters"
eq "$(j d.error.message)" "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'key-1' if you meant to execute a different request." "mismatch message"
eq "$(hdr Stripe-Should-Retry)" false "no retry on a mismatch"
api POST "/v1/payment_intents/$PI1/cancel" -H 'Idempotency-Key: key-1'
eq "$code $(j d.error.type)" "400 idempotency_error" "same key, other endpoint"
case $(j d.error.message) in *"same endpoint"*"'/v1/payment_intents' vs '/v1/payment_intents/$PI1/cancel'"*) ;; *) fail "endpoint message: $body" ;; esac
sleep 0.3
eq "$(ledger_count)" 1 "no charge from replays"
eq "$(nhooks)" 1 "no webhook from replays"

# Retention: still replayed just under 24 h, executed anew after.
req POST "$ctl/clock" '{"shift_ms":86340000}'
api POST /v1/payment_intents -H 'Idempotency-Key: key-1' "${PAY[@]}"
eq "$(hdr Idempotent-Replayed) $(j d.id)" "true $PI1" "replay at 23h59"
req POST "$ctl/clock" '{"shift_ms":61000}'
api POST /v1/payment_intents -H 'Idempotency-Key: key-1' "${PAY[@]}"
eq "$code $(hdr Idempotent-Replayed)" "200 " "executed again after 24 h"
[ "$(j d.id)" != "$PI1" ] || fail "pruned key replayed"
eq "$(ledger_count)" 2 "second charge after the key was pruned"
req POST "$ctl/clock" '{"shift_ms":-86401000}'
wait_for have_hooks 2 || fail "no webhook for the second charge"
clear_hooks

# Concurrent use of one key: 409 while the first runs.
script '{"rules":[{"match":{"amount":"777"},"http":{"delay_ms":1500},"times":1}]}'
curl -s -o "$tmp/slow" -w '%{http_code}' --max-time 5 -u "$SK:" -H 'Idempotency-Key: key-slow' \
	-d amount=777 -d currency=usd -d confirm=true -d payment_method=pm_card_visa "$base/v1/payment_intents" >"$tmp/slow.code" &
slow=$!
sleep 0.5
api POST /v1/payment_intents -H 'Idempotency-Key: key-slow' -d amount=777 -d currency=usd -d confirm=true -d payment_method=pm_card_visa
eq "$code $(j d.error.code)" "409 idempotency_key_in_use" "concurrent same key"
eq "$(hdr Stripe-Should-Retry)" true "409 may be retried"
wait "$slow" || true
eq "$(cat "$tmp/slow.code")" 200 "the first request completes"
api POST /v1/payment_intents -H 'Idempotency-Key: key-slow' -d amount=777 -d currency=usd -d confirm=true -d payment_method=pm_card_visa
eq "$code $(hdr Idempotent-Replayed)" "200 true" "after the first finished: replay"
body=$(cat "$tmp/slow")
SLOW=$(j d.id)
api POST /v1/payment_intents -H 'Idempotency-Key: key-slow' -d amount=777 -d currency=usd -d confirm=true -d payment_method=pm_card_visa
eq "$(j d.id)" "$SLOW" "replay names the first PaymentIntent"

# Validation failures are not saved: the same key works once the request is fixed.
api POST /v1/payment_intents -H 'Idempotency-Key: key-val' -d currency=usd
eq "$code $(j d.error.code) $(j d.error.param)" "400 parameter_missing amount" "missing amount"
api POST /v1/payment_intents -H 'Idempotency-Key: key-val' -d currency=usd -d amount=abc
eq "$code $(j d.error.code)" "400 parameter_invalid_integer" "amount not an integer"
api POST /v1/payment_intents -H 'Idempotency-Key: key-val' -d amount=500 -d currency=usd
eq "$code $(j d.status) $(hdr Idempotent-Replayed)" "200 requires_payment_method " "same key after a validation error"

# Amounts: minimum, 8 digits, zero- and three-decimal currencies.
api POST /v1/payment_intents -d amount=49 -d currency=usd
eq "$code $(j d.error.code)" "400 amount_too_small" "USD 0.49"
eq "$(j d.error.message)" "Amount must be at least 0.50 usd" "USD minimum message"
api POST /v1/payment_intents -d amount=100000000 -d currency=usd
eq "$code $(j d.error.code)" "400 amount_too_large" "nine digits"
api POST /v1/payment_intents -d amount=49 -d currency=jpy
eq "$code $(j d.error.message)" "400 Amount must be at least 50 jpy" "JPY is zero-decimal (49 = 49 yen)"
api POST /v1/payment_intents -d amount=50 -d currency=jpy
eq "$code $(j d.amount) $(j d.currency)" "200 50 jpy" "JPY 50"
api POST /v1/payment_intents -d amount=1005 -d currency=kwd
eq "$code $(j d.error.param)" "400 amount" "KWD amount whose last (third) decimal is not 0"
api POST /v1/payment_intents -d amount=1000 -d currency=KWD
eq "$code $(j d.currency)" "200 kwd" "KWD 1.000 (currency lower-cased)"
api POST /v1/payment_intents -d amount=1000 -d currency=xyz
eq "$code $(j d.error.param)" "400 currency" "unknown currency"

# --- Decline: 402 card_error with the PaymentIntent; saved and replayed.
api POST /v1/payment_intents -H 'Idempotency-Key: key-dec' -d amount=1500 -d currency=usd -d confirm=true \
	-d off_session=true -d payment_method=pm_card_chargeDeclinedInsufficientFunds
eq "$code $(j d.error.type) $(j d.error.code) $(j d.error.decline_code)" "402 card_error card_declined insufficient_funds" "decline"
eq "$(j d.error.payment_intent.status)" requires_payment_method "PaymentIntent after a decline"
eq "$(j d.error.payment_intent.last_payment_error.decline_code)" insufficient_funds "last_payment_error"
eq "$(hdr Stripe-Should-Retry)" false "a decline is not retried"
DEC=$(j d.error.payment_intent.id)
api POST /v1/payment_intents -H 'Idempotency-Key: key-dec' -d amount=1500 -d currency=usd -d confirm=true \
	-d off_session=true -d payment_method=pm_card_chargeDeclinedInsufficientFunds
eq "$code $(hdr Idempotent-Replayed) $(j d.error.payment_intent.id)" "402 true $DEC" "a saved 402 is replayed"
api GET "/v1/payment_intents/$DEC"
eq "$(j d.status) $(j d.last_payment_error.code)" "requires_payment_method card_declined" "retrieve after a decline"
# Confirm again with a good card.
api POST "/v1/payment_intents/$DEC/confirm" -d payment_method=pm_card_visa
eq "$code $(j d.status) $(j d.last_payment_error)" "200 succeeded null" "confirm with a new payment method"

# --- 3-D Secure: requires_action on-session, authentication_required off-session.
api POST /v1/payment_intents -d amount=3000 -d currency=eur -d confirm=true \
	-d payment_method=pm_card_authenticationRequired -d return_url=https://shop.example/return
eq "$code $(j d.status) $(j d.next_action.type)" "200 requires_action redirect_to_url" "3DS on-session"
ACT=$(j d.id)
AURL=$(j d.next_action.redirect_to_url.url)
api POST /v1/payment_intents -d amount=3000 -d currency=eur -d confirm=true -d off_session=true \
	-d payment_method=pm_card_authenticationRequired
eq "$code $(j d.error.code) $(j d.error.payment_intent.status)" "402 authentication_required requires_payment_method" "3DS off-session"
req GET "$AURL"
eq "$code $(j d.status)" "200 succeeded" "customer authenticates"
api GET "/v1/payment_intents/$ACT"
eq "$(j d.status) $(j d.amount_received)" "succeeded 3000" "retrieve after authentication"

# --- processing, then succeeded.
api POST /v1/payment_intents -d amount=4000 -d currency=usd -d confirm=true -d payment_method=pm_emulator_processing
eq "$code $(j d.status)" "200 processing" "processing"
PROC=$(j d.id)
settled() { api GET "/v1/payment_intents/$PROC"; [ "$(j d.status)" == succeeded ]; }
wait_for settled || fail "processing never settled"

# Cancel.
api POST /v1/payment_intents -d amount=900 -d currency=usd
CAN=$(j d.id)
api POST "/v1/payment_intents/$CAN/cancel" -d cancellation_reason=abandoned
eq "$code $(j d.status) $(j d.cancellation_reason)" "200 canceled abandoned" "cancel"
api POST "/v1/payment_intents/$CAN/confirm" -d payment_method=pm_card_visa
eq "$code $(j d.error.code)" "400 payment_intent_unexpected_state" "confirm a canceled PaymentIntent"

# Webhook types so far, all verified.
wait_for have_hooks 8 || fail "webhooks missing: $(nhooks)"
sleep 0.3
types=$(verify_hooks "$WHSEC" | awk '{print $2}' | sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' ')
for t in payment_intent.succeeded=4 payment_intent.payment_failed=2 payment_intent.requires_action=1 \
	payment_intent.processing=1 payment_intent.canceled=1; do
	case " $types" in *" $t "*) ;; *) fail "webhook count $t not in: $types" ;; esac
done
[ -z "$(verify_hooks "$WHSEC" | awk '$3 != "ok"')" ] || fail "a webhook failed verification: $(verify_hooks "$WHSEC")"
eq "$(ledger_count)" 6 "ledger: six succeeded charges"
clear_hooks

# --- Faults on the API.
script '{"rules":[{"match":{"amount":"601"},"http":{"status":429,"retry_after":2},"times":1},
 {"match":{"amount":"602"},"http":{"status":500},"times":1},
 {"match":{"amount":"603"},"http":{"status":500,"saved":true},"times":1},
 {"match":{"amount":"604"},"http":{"hang":true},"times":1},
 {"match":{"amount":"605"},"http":{"reset":true},"times":1},
 {"match":{"amount":"606"},"http":{"reset":true,"process":true},"times":1}]}'
n0=$(ledger_count)
pay() { api POST /v1/payment_intents -H "Idempotency-Key: $1" -d amount="$2" -d currency=usd -d confirm=true -d payment_method=pm_card_visa "${@:3}"; }
pay k601 601
eq "$code $(j d.error.code) $(hdr Retry-After) $(hdr Stripe-Should-Retry)" "429 rate_limit 2 true" "429"
pay k601 601
eq "$code $(j d.status) $(hdr Idempotent-Replayed)" "200 succeeded " "a 429 is not saved"
pay k602 602
eq "$code $(j d.error.type) $(hdr Stripe-Should-Retry)" "500 api_error true" "500 before execution"
pay k602 602
eq "$code $(hdr Idempotent-Replayed)" "200 " "retry after an unsaved 500"
pay k603 603
eq "$code $(hdr Stripe-Should-Retry)" "500 false" "500 inside the endpoint"
pay k603 603
eq "$code $(hdr Idempotent-Replayed) $(hdr Stripe-Should-Retry)" "500 true false" "a saved 500 is replayed"
pay k604 604 --max-time 1
eq "$code:$curl_rc" "000:28" "hang"
pay k605 605
[ "$curl_rc" == 56 ] || [ "$curl_rc" == 52 ] || fail "reset: curl exit $curl_rc"
pay k606 606
[ "$curl_rc" == 56 ] || [ "$curl_rc" == 52 ] || fail "reset after processing: curl exit $curl_rc"
eq "$(ledger_count)" $((n0 + 3)) "charged: 601, 602, and 606 whose answer was lost"
pay k606 606
eq "$code $(j d.status) $(hdr Idempotent-Replayed)" "200 succeeded true" "retry of the lost answer replays it"
pay k604 604
eq "$code $(hdr Idempotent-Replayed)" "200 " "the hung request had no effect"
eq "$(ledger_count)" $((n0 + 4)) "no double charge"
wait_for have_hooks 4 || fail "fault webhooks"
sleep 0.3
clear_hooks

# --- Webhook faults.
script '{"rules":[{"match":{"amount":"701"},"webhook":{"duplicate":true}},
 {"match":{"amount":"702"},"webhook":{"twin":true}},
 {"match":{"amount":"703"},"webhook":{"hold":true}},
 {"match":{"amount":"704"},"webhook":{"hold":true}},
 {"match":{"amount":"705"},"webhook":{"stale_s":600}},
 {"match":{"amount":"706"},"webhook":{"tamper":true}},
 {"match":{"amount":"707"},"webhook":{"missing":true}}]}'
pay w701 701
wait_for have_hooks 2 || fail "duplicate webhook"
sleep 0.2
eq "$(verify_hooks "$WHSEC" | awk '{print $1}' | sort -u | wc -l) $(nhooks)" "1 2" "duplicate: one event id twice"
clear_hooks
pay w702 702
wait_for have_hooks 2 || fail "twin webhook"
sleep 0.2
eq "$(verify_hooks "$WHSEC" | awk '{print $1}' | sort -u | wc -l)" 2 "twin: two event objects"
body=$(sed -n 1p "$hooks"); body=$(j d.body); a=$(j 'd.type + " " + d.data.object.id')
body=$(sed -n 2p "$hooks"); body=$(j d.body); b=$(j 'd.type + " " + d.data.object.id')
eq "$a" "$b" "twin events describe the same change"
clear_hooks
pay w703 703
H1=$(j d.id)
pay w704 704
H2=$(j d.id)
sleep 0.3
eq "$(nhooks)" 0 "held webhooks not sent"
req POST "$ctl/flush" '{"order":"lifo"}'
eq "$(j d.delivered)" 2 "flushed"
wait_for have_hooks 2 || fail "flushed webhooks"
body=$(sed -n 1p "$hooks"); body=$(j d.body)
eq "$(j d.data.object.id)" "$H2" "out of order: the later payment first"
body=$(sed -n 2p "$hooks"); body=$(j d.body)
eq "$(j d.data.object.id)" "$H1" "out of order: the earlier payment second"
clear_hooks
pay w705 705
wait_for have_hooks 1 || fail "stale webhook"
eq "$(verify_hooks "$WHSEC" | awk '{print $3}')" stale "an old t (replayed signature) is outside the 300 s tolerance"
clear_hooks
pay w706 706
wait_for have_hooks 1 || fail "tampered webhook"
eq "$(verify_hooks "$WHSEC" | awk '{print $3}')" bad "a tampered body fails verification"
clear_hooks
pay w707 707
sleep 0.3
eq "$(nhooks)" 0 "missing webhook"
req GET "$ctl/webhooks"
eq "$(j 'd.deliveries.filter(x => x.error && x.error.startsWith("dropped")).length')" 1 "dropped webhook recorded"

# Secret rotation: every active secret signs; each verifies alone.
req POST "$ctl/config" '{"webhook_secrets":["whsec_new","whsec_old"]}'
pay w708 708
wait_for have_hooks 1 || fail "rotation webhook"
eq "$(verify_hooks whsec_new | awk '{print $3, $4}')" "ok 2" "two v1 values, the new secret verifies"
eq "$(verify_hooks whsec_old | awk '{print $3}')" ok "the old secret verifies"
eq "$(verify_hooks whsec_other | awk '{print $3}')" bad "another secret does not"
clear_hooks

# Retries to a failing endpoint; undelivered events are listed.
req POST "$ctl/config" "{\"webhook_url\":\"http://127.0.0.1:$sink/hooks/fail\",\"webhook_retry_ms\":50,\"webhook_secrets\":[\"$WHSEC\"]}"
pay w709 709
RET=$(j d.id)
wait_for have_hooks 4 || fail "retries: $(nhooks)"
sleep 0.3
eq "$(nhooks)" 4 "one attempt + 3 retries (test mode)"
eq "$(verify_hooks "$WHSEC" | awk '{print $1}' | sort -u | wc -l)" 1 "retries carry the same event"
api GET '/v1/events?delivery_success=false&type=payment_intent.succeeded'
eq "$(j "d.data.some(e => e.data.object.id === '$RET')")" true "undelivered event listed"
api GET '/v1/events?delivery_success=true&limit=100'
eq "$(j "d.data.some(e => e.data.object.id === '$RET')")" false "not among the delivered"

# --- Ledger across a restart.
n=$(ledger_count)
eq "$(wc -l <"$ledger")" "$n" "ledger file matches the count"
stop_svc "$emu_pid"
start_svc emu emu "$src/tools/stripe-emulator" --port 0 --ledger "$ledger" --quiet
base="http://127.0.0.1:$emu"
ctl="$base/__emulator"
eq "$(ledger_count)" "$n" "ledger reloaded after a restart"
req POST "$ctl/reset"
eq "$(ledger_count) $(wc -c <"$ledger")" "0 0" "reset empties the ledger"
echo "stripe emulator: all checks passed"
