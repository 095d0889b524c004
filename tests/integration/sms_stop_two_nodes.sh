#!/usr/bin/env bash
# ctest: serial
# STOP honoured everywhere at once, with PostgreSQL stopped: two ussdgw nodes
# on the dev stack's Redis, each bound to its own simulated SMSC (npm smpp).
#  - node A answers the subscriber's STOP (deliver_sm_resp ESME_ROK, the answer
#    sent) while PostgreSQL is down;
#  - node B at once refuses a promotional MT from an SMPP account to that
#    subscriber (status 0x401 at the egress point), while a transactional MT
#    passes;
#  - PostgreSQL back: the ledger row (when, how, the text answered) arrives
#    from node A's Redis outbox;
#  - after STOPALL (in Swahili), a payment receipt (M-Pesa via the Daraja
#    emulator, settled on node B) still reaches the subscriber (class
#    transactional, counted as passing over an opt-out);
#  - START on node A clears both: node B sends the promotional MT again.
# Stops and starts the dev stack's PostgreSQL: runs alone.
source "$(dirname "$0")/sms_lib.bash"
export NODE_PATH=$src/tests/interop/node_modules
trap 'st=$?; set +e; "$src/tools/devstack" start-pg > /dev/null 2>&1; for p in "${extra_pids[@]}"; do kill -9 "$p"; wait "$p"; done 2>/dev/null; (exit $st); cleanup' EXIT

# Node A: link to simulator 1, keyword file with short code 7000 -> service "promo".
start_sim
CTL_A=$CTL
write_kw_config '{"shortcodes": {"7000": {"service": "promo"}, "*": {}}}' '{"node": {"id": "nA'$$'"}}'
mv "$tmp/gw.json" "$tmp/gwA.json"

# Node B: its own simulator, an SMPP server with a promotional and a transactional
# account, M-Pesa through the Daraja emulator.
"$src/tools/smsc-sim/smsc-sim" --port 0 --control-port 0 > "$tmp/sim2.out" 2> "$tmp/sim2.err" &
extra_pids+=($!)
for _ in $(seq 100); do grep -q '^listening' "$tmp/sim2.out" 2>/dev/null && break; sleep 0.1; done
read -r _ SIM2_PORT CTL2_PORT < <(head -n1 "$tmp/sim2.out")
CTL_B=http://127.0.0.1:$CTL2_PORT
"$src/tools/daraja-emulator" --port 0 --ledger "$tmp/ledger.jsonl" --process-ms 200 \
	--timestamp-window-s 0 --quiet > "$tmp/emu.out" 2> "$tmp/emu.err" &
extra_pids+=($!)
for _ in $(seq 100); do grep -q '^listening' "$tmp/emu.out" 2>/dev/null && break; sleep 0.1; done
EMU=http://127.0.0.1:$(awk '{print $2}' "$tmp/emu.out")
pub=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})')
printf 'demo-consumer-key' > "$tmp/ck"
printf 'demo-consumer-secret' > "$tmp/cs"
printf 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919' > "$tmp/pk"
chmod 600 "$tmp/ck" "$tmp/cs" "$tmp/pk"
hp=$(printf 'promo-pw\n' | "$bld/ussdgw-keys" hash-password)
ha=$(printf 'acme-pw\n' | "$bld/ussdgw-keys" hash-password)
jq --arg l "${LINK}b" --argjson p "$SIM2_PORT" --arg hp "$hp" --arg ha "$ha" --arg emu "$EMU" \
	--argjson pub "$pub" --arg t "$tmp" '
  .node.id = ("nB" + $l) | .audit.journal_dir = ($t + "/journalB") | .audit.export_file = ($t + "/headsB.log")
  | .links[0].name = $l | .links[0].binds = [{host: "127.0.0.1", port: $p}]
  | .routes = [{prefix: "", links: [$l]}]
  | .accounts = [{name: "promo", password_hash: $hp, msg_class: "promotional"},
                 {name: "acme", password_hash: $ha}]
  | .smpp_server = {port: 0, tls_port: -1}
  | .listeners.public = {address: "127.0.0.1", port: $pub}
  | .payments = {test_trigger: true, query_after_s: 0, reconcile_interval_s: 1}
  | .providers = {mpesa: {type: "daraja", base_url: $emu, callback_base_url: ("http://127.0.0.1:" + ($pub | tostring)),
                  allowed_sources: ["127.0.0.1"], consumer_key_file: ($t + "/ck"),
                  consumer_secret_file: ($t + "/cs"), passkey_file: ($t + "/pk"),
                  shortcode: "174379", timeout_ms: 1500, retry_budget_ms: 3000}}
  | .sms.keywords_file = ""' "$tmp/gwA.json" > "$tmp/gwB.json"
chmod 600 "$tmp/gwA.json" "$tmp/gwB.json"

# start_node CONFIG LOG -> pid in node_pid, admin port in node_admin
start_node() {
	"$gw" --config "$1" 2>> "$2" &
	node_pid=$!
	extra_pids+=("$node_pid")
	for _ in $(seq 150); do
		grep -q "admin: listening on" "$2" 2>/dev/null && break
		kill -0 "$node_pid" 2>/dev/null || { tail -n 30 "$2" >&2; fail "node exited early ($1)"; }
		sleep 0.1
	done
	node_admin=$(sed -n 's/.*admin: listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$2" | tail -n1)
}
start_node "$tmp/gwA.json" "$tmp/gw.log"
A_ADMIN=$node_admin
start_node "$tmp/gwB.json" "$tmp/gwB.log"
B_ADMIN=$node_admin
curl -sS --max-time 20 "$CTL_A/binds?min=1&wait_ms=15000" > /dev/null
curl -sS --max-time 20 "$CTL_B/binds?min=1&wait_ms=15000" > /dev/null
wait_for grep -q "smpp-server: listening on .*(tcp)" "$tmp/gwB.log" || fail "node B's SMPP server not up"
SRV_PORT=$(sed -n 's/.*smpp-server: listening on [0-9.]* port \([0-9]*\) (tcp).*/\1/p' "$tmp/gwB.log" | tail -n1)
wait_for grep -q "postgres: CHECKING -> READY" "$tmp/gwB.log" || fail "node B: PostgreSQL not ready"
esme() { node "$src/tests/interop/srv_esme.js" --port "$SRV_PORT" --max-ms 10000 "$@"; }

X=$(P 7)
tokX=$(token "$X")

# Before: the promotional MT goes.
esme --system-id promo --password promo-pw --count 1 --from 7000 --to "$X" > "$tmp/p0.json" || true
[ "$(jq .ok "$tmp/p0.json")" = 1 ] || fail "promotional before STOP: $(cat "$tmp/p0.json")"

# PostgreSQL away; STOP answered by node A.
"$src/tools/devstack" stop-pg > /dev/null
! psql -X -tA -c 'select 1' > /dev/null 2>&1 || fail "PostgreSQL still answers"
st=$(mo "$X" 7000 "stop" "$CTL_A")
[ "$st" = "[0]" ] || fail "STOP on node A: deliver_sm_resp $st"
msg=$(next_mt "$X" "$CTL_A")
printf '%s' "$msg" | jq -r .text | grep -q "no more promotional messages from promo" || fail "STOP answer: $msg"

# Node B honours it at once: promotional refused with 0x401, transactional passes.
esme --system-id promo --password promo-pw --count 1 --from 7000 --to "$X" > "$tmp/p1.json" || true
[ "$(jq -r '.errors["0x00000401"]' "$tmp/p1.json")" = 1 ] || fail "promotional after STOP: $(cat "$tmp/p1.json")"
esme --system-id acme --password acme-pw --count 1 --from 7001 --to "$X" > "$tmp/t1.json" || true
[ "$(jq .ok "$tmp/t1.json")" = 1 ] || fail "transactional after STOP: $(cat "$tmp/t1.json")"
rcli LRANGE ussdgw:consent:outbox 0 -1 | grep -q "$tokX" || fail "the change is not in the outbox"

# PostgreSQL back: node A's outbox drains into the ledger.
"$src/tools/devstack" start-pg > /dev/null
sql() { psql -X -q -tA -v ON_ERROR_STOP=1 -c "$1"; }
in_ledger() { [ "$(sql "SELECT count(*) FROM consent_event WHERE msisdn_token = '$tokX' AND action = '$1'")" = 1 ]; }
wait_for in_ledger stop || fail "STOP not in the PostgreSQL ledger"
row=$(sql "SELECT service, channel, shortcode, keyword, node, answered FROM consent_event WHERE msisdn_token = '$tokX'")
printf '%s' "$row" | grep -q "^promo|sms|7000|STOP|nA$$|You will get no more promotional" || fail "ledger row: $row"
[ "$(sql "SELECT opted_out FROM consent_state WHERE msisdn_token = '$tokX' AND service = 'promo'")" = t ] ||
	fail "consent_state not opted out"
wait_for sh -c "! redis-cli -p $USSDGW_REDIS_PORT LRANGE ussdgw:consent:outbox 0 -1 | grep -q $tokX" ||
	fail "outbox entry not removed after the commit"

# STOPALL too; a payment receipt still reaches the subscriber (transactional, counted).
st=$(mo "$X" 7000 "acha yote" "$CTL_A")
[ "$st" = "[0]" ] || fail "STOPALL: $st"
[ "$(rcli HGET "ussdgw:consent:{$tokX}" '*')" = 1 ] || fail "STOPALL not in the view"
# Node B's PostgreSQL connection is back (its second READY).
wait_for sh -c "[ \$(grep -c 'postgres postgres: CHECKING -> READY' '$tmp/gwB.log') -ge 2 ]" ||
	fail "node B did not reconnect to PostgreSQL"
pay_ok() {
	curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' \
		-d "{\"provider\":\"mpesa\",\"amount_minor\":1200,\"currency\":\"KES\",\"msisdn\":\"$X\",\"account_ref\":\"INV7\",\"session_id\":\"s$$\",\"step\":1}" \
		"http://127.0.0.1:$B_ADMIN/test/pay" > "$tmp/pay.json" &&
		jq -e '.payment_id and (.error == null or .error == "GW_OK")' "$tmp/pay.json" > /dev/null
}
wait_for pay_ok || fail "payment not started: $(cat "$tmp/pay.json")"
find_mt "$X" "^Payment received: KES 12.00 for INV7. Receipt [A-Z0-9]+" "$CTL_B" > /dev/null ||
	fail "no receipt SMS at node B's SMSC"
grep -q "payment receipt rcpt-.* queued" "$tmp/gwB.log" || fail "receipt not logged"

# START on node A: node B sends the promotional MT again.
st=$(mo "$X" 7000 "start" "$CTL_A")
[ "$st" = "[0]" ] || fail "START: $st"
esme --system-id promo --password promo-pw --count 1 --from 7000 --to "$X" > "$tmp/p2.json" || true
[ "$(jq .ok "$tmp/p2.json")" = 1 ] || fail "promotional after START: $(cat "$tmp/p2.json")"
wait_for in_ledger start || fail "START not in the ledger"
wait_for sh -c "[ \"\$(psql -X -tA -c \"SELECT opted_out FROM consent_state WHERE msisdn_token = '$tokX' AND service = 'promo'\")\" = f ]" ||
	fail "consent_state not back in"
curl -sS "http://127.0.0.1:$B_ADMIN/metrics" > "$tmp/metricsB.txt"
grep -q '^ussdgw_sms_egress_total{class="promotional",outcome="opted_out"} 1' "$tmp/metricsB.txt" || fail "refusal not counted"
grep -q '^ussdgw_sms_consent_override_total{class="transactional"} 1' "$tmp/metricsB.txt" ||
	fail "receipt over STOPALL not counted: $(grep override "$tmp/metricsB.txt")"
echo "sms_stop_two_nodes: ok"
