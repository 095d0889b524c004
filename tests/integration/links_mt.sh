#!/usr/bin/env bash
# SMPP link end to end against the simulator (npm smpp): the daemon binds,
# keeps the bind alive with enquire_link, drains MT SMS from the durable queue
# in Redis (short, long split by UDH), matches late receipts to the MTs, exports
# per-bind metrics, and on SIGTERM drains its window, unbinds and exits 0.
source "$(dirname "$0")/links_lib.bash"

start_sim --mt-log "$tmp/mt.log" --dlr-delay-ms 200 --msgid-format dec --msgid-pad 12
write_config '"window": 10, "concat": "udh8",'
start_gw
wait_bound 1

# 20 short MTs and one long one (3 parts).
enqueue --to 255700000001 --text "hello" --count 20 --id-prefix "s$$-" > "$tmp/ids"
long=$(printf 'x%.0s' $(seq 400))
enqueue --to 255700000002 --text "$long" --id-prefix "l$$-" > "$tmp/long_id"
[ "$(wc -l < "$tmp/ids")" -eq 20 ] || fail "enqueue"

wait_for lines_ge "$tmp/mt.log" 23 || fail "MTs did not arrive: $(wc -l < "$tmp/mt.log")"
ctl "$CTL/sms/mt?to=255700000002&wait_ms=5000" > "$tmp/long.json"
[ "$(jq -r '.messages[0].parts' "$tmp/long.json")" = 3 ] || fail "long MT: $(cat "$tmp/long.json")"
[ "$(jq -r '.messages[0].text | length' "$tmp/long.json")" = 400 ] || fail "long MT text"
[ "$(jq -r '.messages[0].esm_class' "$tmp/long.json")" = 64 ] || fail "long MT esm_class (UDHI)"
# No MT twice (each accepted submit_sm is one line of the simulator's log).
[ "$(jq -r .destination_addr "$tmp/mt.log" | grep -c 255700000001)" -eq 20 ] || fail "duplicates"

# Each MT: submitted, acknowledged and removed from the stream, receipt matched.
id=$(head -n1 "$tmp/ids")
wait_for dlr_state_is "$id" 2 ||
	fail "receipt not matched: $(show "$id")"
show "$id" | grep -q state=submitted || fail "state"
lid=$(cat "$tmp/long_id")
wait_for dlr_state_is "$lid" 2 ||
	fail "long MT receipt: $(show "$lid")"
[ "$(show "$lid" | sed -n 's/^smsc_ids=//p' | tr ',' '\n' | wc -l)" -eq 3 ] || fail "3 SMSC ids"
[ "$(redis-cli -p "$USSDGW_REDIS_PORT" xlen "ussdgw:mtq:{$LINK}")" = 0 ] || fail "stream not empty"
[ "$(redis-cli -p "$USSDGW_REDIS_PORT" xpending "ussdgw:mtq:{$LINK}" ussdgw | head -n1)" = 0 ] ||
	fail "entries still pending"

# enquire_link every 2 s of idleness, answered by the simulator.
wait_for sh -c "curl -s '$CTL/stats' | jq -e '.pdus_in.enquire_link >= 1'" || fail "no enquire_link"

metrics > "$tmp/metrics"
grep -q "^ussdgw_smpp_bind_state{bind=\"$LINK/0\"} 4" "$tmp/metrics" || fail "state metric"
grep -q "^ussdgw_smpp_bind_in_state{bind=\"$LINK/0\",state=\"BOUND\"} 1" "$tmp/metrics" || fail "in-state metric"
grep -Eq "^ussdgw_smpp_pdus_total\{bind=\"$LINK/0\",dir=\"in\",command=\"submit_sm_resp\",status=\"ESME_ROK\"\} 2[2-9]" "$tmp/metrics" ||
	fail "PDU counter: $(grep pdus_total "$tmp/metrics")"
grep -q "^ussdgw_smpp_rtt_seconds_count{bind=\"$LINK/0\"} [1-9]" "$tmp/metrics" || fail "rtt histogram"
grep -q "^ussdgw_smpp_window_in_use{bind=\"$LINK/0\"} 0" "$tmp/metrics" || fail "window gauge"
grep -q "$LINK/0: CONNECTING -> BINDING" "$tmp/gw.log" || fail "transition log"

# Graceful shutdown: DRAINING -> UNBINDING -> CLOSED, unbind seen by the SMSC, exit 0.
kill -TERM "$gw_pid"
rc=0
wait "$gw_pid" || rc=$?
gw_pid=
[ "$rc" -eq 0 ] || fail "exit status $rc"
grep -q "$LINK/0: BOUND -> DRAINING" "$tmp/gw.log" || fail "no DRAINING"
grep -q "$LINK/0: UNBINDING -> CLOSED (UNBIND_RESP" "$tmp/gw.log" || fail "no clean unbind"
[ "$(stats | jq '.unbinds_received')" -ge 1 ] || fail "SMSC saw no unbind"
echo "links_mt: ok"
