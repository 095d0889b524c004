#!/usr/bin/env bash
# Killing the SMSC mid-window loses no MT. The simulator writes and fsyncs each
# MT it accepts to --mt-log before its submit_sm_resp. It is SIGKILLed while
# the gateway has a full window out, then started again on the same port
# (appending to the same log): every MT arrives, and an MT arrives more than
# once only if the gateway sent it more than once, i.e. its response was lost.
# A second round uses the simulator's crash_after_resp fault (it kills itself
# right after writing a response).
source "$(dirname "$0")/links_lib.bash"

start_sim --mt-log "$tmp/mt.log" --dlr-delay-ms 50
write_config '"window": 10,'
start_gw
wait_bound 1
# Slow the SMSC down (every submit_sm_resp 5 ms late) so the kill lands while
# the window is full, however fast the machine is.
ctl -X POST -H 'Content-Type: application/json' -d '{"delay": {"ms": 5}}' "$CTL/faults" > /dev/null
N=300
enqueue --to 255700000021 --text "k" --text-index --id-prefix "k$$-" --count $N > /dev/null
wait_for lines_ge "$tmp/mt.log" 60 || fail "traffic did not start"
kill -9 "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
before=$(wc -l < "$tmp/mt.log")
[ "$before" -lt $N ] || fail "the kill came too late to test anything ($before lines)"
sleep 0.5
grep -q "$LINK/0: BOUND -> BACKOFF" "$tmp/gw.log" || fail "bind loss not seen"
start_sim --mt-log "$tmp/mt.log" --dlr-delay-ms 50
distinct_ge() { [ "$(distinct_to "$1")" -ge "$2" ]; }
wait_for distinct_ge 255700000021 $N || fail "MTs lost: $(distinct_to 255700000021)/$N"
no_dup_without_cause 255700000021 "k$$-" || fail "an MT was sent twice without cause"
echo "kill: $before lines before the kill, $(wc -l < "$tmp/mt.log") in all for $N MTs"

# Round 2: the simulator crashes right after the 40th response it writes.
ctl -X POST -H 'Content-Type: application/json' -d '{"crash_after_resp": 40}' "$CTL/faults" > /dev/null
wait_bound 1
enqueue --to 255700000022 --text "c" --text-index --id-prefix "c$$-" --count 100 > /dev/null
for _ in $(seq 100); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$sim_pid" 2>/dev/null && fail "crash_after_resp did not crash the simulator"
wait "$sim_pid" 2>/dev/null || true
start_sim --mt-log "$tmp/mt.log"
wait_for distinct_ge 255700000022 100 || fail "MTs lost after the crash: $(distinct_to 255700000022)/100"
no_dup_without_cause 255700000022 "c$$-" || fail "an MT was sent twice without cause (crash)"
for i in 0 50 99; do wait_for state_is "c$$-$i" submitted || fail "c$$-$i: $(show "c$$-$i")"; done
[ "$(redis-cli -p "$USSDGW_REDIS_PORT" xlen "ussdgw:mtq:{$LINK}")" = 0 ] || fail "stream not empty"
echo "links_kill: ok"
