#!/usr/bin/env bash
# Delivery receipts matched to MTs through the correlation store in Redis:
# receipts that arrive before the submit_sm_resp (parked, then applied when
# the response maps the id), upper-case zero-padded hex ids, decimal ids,
# failure states, and a receipt that survives a gateway restart (the map is in
# Redis with a TTL, not in the node's memory).
source "$(dirname "$0")/links_lib.bash"

start_sim --early-dlr --msgid-format HEX --msgid-pad 16
write_config '"registered_delivery": 1,'
start_gw
wait_bound 1

# 1. Early receipts (before the submit_sm_resp), ids like 000001A2B3C4D5E6.
enqueue --to 255700000041 --text "early" --id-prefix "e$$-" --count 5 > /dev/null
for i in 0 1 2 3 4; do
	wait_for dlr_state_is "e$$-$i" 2 || fail "early receipt e$$-$i: $(show "e$$-$i")"
done
show "e$$-0" | grep -q '^dlr_early=1$' || fail "receipt not parked first: $(show "e$$-0")"
show "e$$-0" | grep -q '^dlr_stat=DELIVRD$' || fail "stat word"
smsc=$(show "e$$-0" | sed -n 's/^smsc_id=//p')
[ "${#smsc}" -eq 16 ] && [[ "$smsc" =~ ^0+[0-9A-F]+$ ]] || fail "expected padded upper-case hex ids, got $smsc"
[ "$(redis-cli -p "$USSDGW_REDIS_PORT" --scan --pattern "ussdgw:dlr:{$LINK}:early:*" | wc -l)" = 0 ] ||
	fail "parked receipts left behind"
metrics | grep -Ec '^ussdgw_smpp_receipts_total\{outcome="parked"\} [1-9]' || fail "parked counter"

# 2. Late failure receipts with decimal ids, and one across a gateway restart.
kill -TERM "$gw_pid"; wait "$gw_pid" || fail "exit status"; gw_pid=
kill -9 "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
start_sim --msgid-format dec --dlr-stat UNDELIV --dlr-delay-ms 3000
start_gw
wait_bound 1
enqueue --to 255700000042 --text "late" --id-prefix "u$$-" > /dev/null
wait_for state_is "u$$-0" submitted || fail "late MT not submitted"
# Restart the gateway while the receipt is still due.
kill -TERM "$gw_pid"; wait "$gw_pid" || fail "exit status"; gw_pid=
start_gw
wait_for dlr_state_is "u$$-0" 5 || fail "late receipt after restart: $(show "u$$-0")"
show "u$$-0" | grep -q '^dlr_stat=UNDELIV$' || fail "stat: $(show "u$$-0")"
show "u$$-0" | grep -q '^dlr_early' && fail "late receipt marked early"
ttl=$(redis-cli -p "$USSDGW_REDIS_PORT" ttl "ussdgw:mt:{$LINK}:u$$-0")
[ "$ttl" -gt 100000 ] || fail "MT record TTL $ttl"
[ "$(redis-cli -p "$USSDGW_REDIS_PORT" xlen "ussdgw:dlr-events:{$LINK}")" -ge 6 ] || fail "receipt events"
echo "links_dlr: ok"
