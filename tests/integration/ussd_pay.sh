#!/usr/bin/env bash
# Pay bill through a real bind, to the provider and back: the simulator plays
# the USSD centre, tools/phone (and the control API) the subscriber, the
# Daraja emulator M-Pesa (with the demo script: the payment settles ~3 s after
# the push, by the emulator's callback on the gateway's public listener), the
# dev stack's Redis and PostgreSQL the stores.
#
# Asserted: the session ends with the M-Pesa prompt notice (English and
# Swahili); the emulator's fsynced ledger holds exactly one charge per payer;
# the payment row reaches `succeeded`; the confirm step re-sent (same
# sequence number, new sequence number, and a new-sequence copy racing the
# original) gets the same answer and makes no second charge; a payer over
# the velocity limit gets the limit screen and no charge; a node killed after
# the payment row's commit, before the push, leaves a `created` row, and the
# confirm re-sent to the restarted node ends with "try again", no charge; with
# the provider's circuit open the payer gets the busy screen, nothing is sent.
source "$(dirname "$0")/ussd_lib.bash"
: "${PGHOST:?superuser env of the dev stack}"
sql() { psql -X -q -tA -v ON_ERROR_STOP=1 -U postgres -d "${PGDATABASE:-ussdgw}" -c "$1"; }

# The Daraja emulator with the demo script and its own ledger.
"$src/tools/daraja-emulator" --port 0 --ledger "$tmp/ledger.jsonl" \
	--script "$src/tools/emulators/daraja-demo-script.json" --quiet \
	> "$tmp/daraja.out" 2> "$tmp/daraja.err" &
emu_pid=$!
trap 'rc=$?; set +e; kill -9 $emu_pid 2>/dev/null; wait $emu_pid 2>/dev/null; (exit $rc); cleanup' EXIT
for _ in $(seq 100); do
	grep -q '^listening' "$tmp/daraja.out" 2>/dev/null && break
	sleep 0.1
done
E=http://127.0.0.1:$(awk '/^listening/ {print $2; exit}' "$tmp/daraja.out")
[ "$E" != http://127.0.0.1: ] || fail "Daraja emulator did not start"

printf 'demo-consumer-key' > "$tmp/ck"
printf 'demo-consumer-secret' > "$tmp/cs"
printf 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919' > "$tmp/pk"
chmod 600 "$tmp/ck" "$tmp/cs" "$tmp/pk"
pub=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})')

start_sim
write_config 1 '' "\"listeners\": {\"public\": {\"enabled\": true, \"address\": \"127.0.0.1\", \"port\": $pub}},
  \"payments\": {\"velocity_window_s\": 3600, \"velocity_max\": 1, \"query_after_s\": 30},
  \"providers\": {\"mpesa\": {\"type\": \"daraja\", \"base_url\": \"$E\",
    \"callback_base_url\": \"http://127.0.0.1:$pub\", \"allowed_sources\": [\"127.0.0.1\"],
    \"consumer_key_file\": \"$tmp/ck\", \"consumer_secret_file\": \"$tmp/cs\",
    \"passkey_file\": \"$tmp/pk\", \"shortcode\": \"174379\", \"timeout_ms\": 3000}}"
start_gw 1
wait_binds 1
wait_menu
grep -q "provider mpesa (daraja)" "$tmp/gw1.log" || fail "the mpesa provider is not configured"

# Payers distinct per run: velocity limits are per MSISDN and the dev stack's
# database outlives a run.
salt=$(((RANDOM * 32768 + RANDOM) % 1000000))
P() { printf '2547%02d%06d' "$1" "$salt"; }
A=$(P 11) B=$(P 12) C=$(P 13)
p() { phone "$@" > "$tmp/phone.out" 2>&1 || { cat "$tmp/phone.out" >&2; fail "phone script failed"; }; }
charges() { # PHONE -> charges on the emulator's ledger
	curl -sS --max-time 5 "$E/__emulator/ledger" > "$tmp/ledger.json" || fail "ledger"
	jq --arg p "$1" '[.entries[] | select(.phone == $p)] | length' "$tmp/ledger.json"
}
pushes() { # PHONE -> STK pushes the emulator accepted for it
	curl -sS --max-time 5 "$E/__emulator/transactions" > "$tmp/tx.json" || fail "transactions"
	jq --arg p "$1" '[.transactions[] | select(.phone == $p)] | length' "$tmp/tx.json"
}
rows() { sql "SELECT count(*) FROM payment WHERE msisdn = '$1'"; }
wait_paid() { # PHONE: its one payment row reaches succeeded (the callback, confirmed by a query)
	local s=
	for _ in $(seq 200); do
		s=$(sql "SELECT string_agg(state, ',') FROM payment WHERE msisdn = '$1'")
		[ "$s" = succeeded ] && return 0
		sleep 0.1
	done
	fail "payment of $1: state '$s', expected succeeded"
}
one_charge() { # PHONE
	local n
	n=$(charges "$1")
	[ "$n" = 1 ] || fail "$1: $n charges on the ledger, expected 1"
	n=$(pushes "$1")
	[ "$n" = 1 ] || fail "$1: $n STK pushes, expected 1"
	n=$(rows "$1")
	[ "$n" = 1 ] || fail "$1: $n payment rows, expected 1"
}
notice_en="You will receive an M-Pesa prompt to enter your PIN. Dial *384# to check status."

# --- English, through the control API so the confirm step can be re-sent ----
dial "$A" '*384#'
has "3. Pay bill"
reply 3
has "Enter business number"
reply 123456
reply ACC9
has "Enter amount"
reply 25
has "Pay KES 25.00 to 123456 account ACC9?"
reply 1
[ "$TEXT" = "$notice_en" ] || fail "end notice: $TEXT"
[ "$ENDS" = true ] || fail "the notice does not end the session"
for mode in same_seq new_seq; do
	post /ussd/resend "{\"session\": \"$SID\", \"mode\": \"$mode\", \"wait_ms\": 15000}" > "$tmp/resend.json"
	jq -e .deliver_sm_seq "$tmp/resend.json" > /dev/null || fail "resend $mode: $(cat "$tmp/resend.json")"
	screen
	[ "$TEXT" = "$notice_en" ] || fail "resend $mode: another answer: $TEXT"
	echo "resend $mode of the confirm step: same notice"
done
wait_paid "$A"
one_charge "$A"
echo "English pay bill: one charge, payment succeeded"

# --- Swahili, scripted phone ------------------------------------------------
p "$B" 'dial *384#' 'send 5' 'send 2' 'expect 3. Lipa bili' 'send 3' 'expect Weka namba ya biashara' \
	'send 654321' 'send INV2024' 'expect Weka kiasi' 'send 40' \
	'expect /Lipa KES 40.00 kwa 654321 akaunti INV2024/' 'send 1' 'expect-end' \
	'expect Utapokea ombi la M-Pesa la kuweka PIN yako. Piga *384# kuangalia hali.'
wait_paid "$B"
one_charge "$B"
echo "Swahili pay bill: one charge, payment succeeded"

# --- the confirm and a new-sequence copy of it in flight together ------------
dial "$C" '*384*3*55555*71*30#'
has "Pay KES 30.00 to 55555 account 71?"
post /ussd/reply "{\"session\": \"$SID\", \"text\": \"1\"}" > "$tmp/reply.json"
post /ussd/resend "{\"session\": \"$SID\", \"mode\": \"new_seq\", \"wait_ms\": 15000}" > "$tmp/resend.json"
jq -e .deliver_sm_seq "$tmp/resend.json" > /dev/null || fail "racing resend: $(cat "$tmp/resend.json")"
screen
[ "$TEXT" = "$notice_en" ] || fail "racing resend: $TEXT"
ctl "$CTL/ussd/session?session=$SID" > "$tmp/sess.json"
jq -e '[.deliver_resp[] | select(. != 0)] | length == 0' "$tmp/sess.json" > /dev/null ||
	fail "a copy was not accepted: $(jq -c .deliver_resp "$tmp/sess.json")"
wait_paid "$C"
one_charge "$C"
echo "racing copies of the confirm: one charge"

# --- over the velocity limit (1 per hour here): the limit screen, no charge --
p "$A" 'dial *384*3*123456*10*60#' 'expect Pay KES 60.00' 'send 1' 'expect-end' \
	'expect You have reached your payment limit. No money was taken.'
one_charge "$A"
grep -q "payment - throttled" "$tmp/gw1.log" || fail "throttled payment not logged"

# --- an attempt that died after the row commit, before the push -----------
# The node SIGKILLs itself once the payment row is committed (test-only
# payments.test_crash_at); the centre re-sends the confirm to the restarted
# node: the same (session, step) finds the row still `created`, nothing was
# sent, and the subscriber is told to try again. No push, no charge.
kill -TERM "${gw_pids[1]}"; wait "${gw_pids[1]}" || true; gw_pids[1]=
D=$(P 14)
for n in 2 3; do
	jq ".node.id = \"$LINK-$n\" | .audit.journal_dir = \"$tmp/journal$n\" | .audit.export_file = \"$tmp/heads$n.log\"" \
		"$tmp/gw1.json" > "$tmp/gw$n.json"
	chmod 600 "$tmp/gw$n.json"
done
jq '.payments.test_crash_at = "committed"' "$tmp/gw2.json" > "$tmp/gw.new" && mv "$tmp/gw.new" "$tmp/gw2.json"
# Node 3 opens its M-Pesa circuit after one failure (the last scenario).
jq '.providers.mpesa += {"breaker_failures": 1, "breaker_open_ms": 600000}' "$tmp/gw3.json" > "$tmp/gw.new" &&
	mv "$tmp/gw.new" "$tmp/gw3.json"
chmod 600 "$tmp/gw2.json" "$tmp/gw3.json"
start_gw 2
wait_binds 1
dial "$D" '*384*3*123456*55*70#'
has "Pay KES 70.00 to 123456 account 55?"
post /ussd/reply "{\"session\": \"$SID\", \"text\": \"1\"}" > "$tmp/reply.json"
rc=0
wait "${gw_pids[2]}" || rc=$?
gw_pids[2]=
[ "$rc" = 137 ] || fail "node 2 did not die at the crash point (exit $rc)"
[ "$(sql "SELECT string_agg(state, ',') FROM payment WHERE msisdn = '$D'")" = created ] ||
	fail "the row committed before the crash: $(sql "SELECT state FROM payment WHERE msisdn = '$D'")"
start_gw 3
post /ussd/resend "{\"session\": \"$SID\", \"mode\": \"after_rebind\", \"wait_ms\": 15000}" > "$tmp/resend.json"
jq -e .deliver_sm_seq "$tmp/resend.json" > /dev/null || fail "resend after restart: $(cat "$tmp/resend.json")"
screen
has "Your payment was not sent. No money was taken. Please dial *384# and try again."
[ "$ENDS" = true ] || fail "the try-again screen does not end the session"
[ "$(pushes "$D")" = 0 ] || fail "$D: a push went out"
[ "$(charges "$D")" = 0 ] || fail "$D: charged"
[ "$(rows "$D")" = 1 ] || fail "$D: $(rows "$D") payment rows"
grep -q "payment .* retry (created, replay" "$tmp/gw3.log" || fail "the replay of a created payment is not logged"
echo "died before the push: try-again screen, no charge"

# --- the provider's circuit is open: the busy screen, nothing sent -------------
# M-Pesa answers one push with its spike-arrest error (500.003.02); with
# breaker_failures 1 the circuit opens, and the next payer is told M-Pesa is
# busy before any row or request is made.
F=$(P 15) G=$(P 16)
curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' -d "{\"rules\": [
	{\"match\": {\"phone\": \"$F\", \"endpoint\": \"stkpush\"}, \"http\": {\"throttle\": true}},
	{\"match\": {}, \"outcome\": \"success\", \"process_ms\": 3000}]}" "$E/__emulator/script" > "$tmp/script.json" ||
	fail "emulator script"
dial "$F" '*384*3*123456*66*80#'
reply 1
for _ in $(seq 100); do
	grep -q "mpesa: circuit open" "$tmp/gw3.log" && break
	sleep 0.1
done
grep -q "mpesa: circuit open" "$tmp/gw3.log" || fail "the circuit did not open"
p "$G" 'dial *384*3*123456*77*90#' 'send 1' 'expect-end' \
	'expect M-Pesa is busy right now. No money was taken. Please try again later.'
[ "$(rows "$G")" = 0 ] || fail "$G: a payment row while the circuit is open"
[ "$(pushes "$G")" = 0 ] || fail "$G: a push while the circuit is open"
echo "circuit open: busy screen, nothing sent"

# The session steps carry the payment: the audit journal has the pay outcomes.
# The MSISDNs never reach the log in clear.
for m in "$A" "$B" "$C" "$D" "$F" "$G"; do
	grep -q "$m" "$tmp"/gw*.log && fail "an MSISDN in clear in the log"
done
echo "ussd_pay: ok"
