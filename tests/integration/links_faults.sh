#!/usr/bin/env bash
# SMPP link under the simulator's faults: throttling answers (slow-down and
# re-queue), silent responses (timeout and retry), header-only error responses
# (temporary: retried; permanent: recorded as failed), a bind dropped
# mid-window (the unacknowledged MTs go out again on the next bind) and refused
# binds (backoff, then bound). No MT is lost; none is sent twice except those
# left unanswered.
source "$(dirname "$0")/links_lib.bash"

start_sim --mt-log "$tmp/mt.log" --dlr-stat DELIVRD
write_config '"window": 10, "throttle_pause_ms": 200,'
start_gw
wait_bound 1
count_to() { jq -r .destination_addr "$tmp/mt.log" | grep -c "^$1\$" || true; }
arrived() { [ "$(count_to "$1")" -ge "$2" ]; }

# 1. Throttling: the next 5 submit_sm are answered ESME_RTHROTTLED (header-only).
faults '{"throttle": {"count": 5}}'
enqueue --to 255700000011 --text "t" --count 10 > /dev/null
wait_for arrived 255700000011 10 || fail "throttled MTs: $(count_to 255700000011)/10"
[ "$(count_to 255700000011)" -eq 10 ] || fail "throttled MTs sent twice"
grep -q "ESME_RTHROTTLED: window" "$tmp/gw.log" || fail "no slow-down logged"
metrics | grep -Ec "^ussdgw_smpp_throttles_total\{bind=\"$LINK/0\"\} [5-9]" || fail "throttle metric"

# 2. Silent: 2 submit_sm get no answer; retried after the response timeout (2 s).
faults '{"reset": true}'
faults '{"silent": {"count": 2}}'
enqueue --to 255700000012 --text "s" --count 4 > /dev/null
wait_for arrived 255700000012 4 || fail "silent MTs: $(count_to 255700000012)/4"
grep -q "no response to submit_sm" "$tmp/gw.log" || fail "no timeout logged"

# 3. Header-only temporary error (ESME_RSYSERR): retried and delivered.
faults '{"reset": true}'
faults '{"submit_error": {"status": 8, "count": 2}}'
enqueue --to 255700000013 --text "r" --id-prefix "r$$-" > /dev/null
wait_for arrived 255700000013 1 || fail "RSYSERR MT not retried"
wait_for state_is "r$$-0" submitted || fail "RSYSERR MT state: $(show "r$$-0")"
show "r$$-0" | grep -q '^attempts=3$' || fail "attempts: $(show "r$$-0")"

# 4. Header-only permanent error (ESME_RINVDSTADR): failed, recorded, not retried.
faults '{"reset": true}'
faults '{"submit_error": {"status": 11, "count": 1}}'
enqueue --to 255700000014 --text "p" --id-prefix "p$$-" > /dev/null
wait_for state_is "p$$-0" failed || fail "permanent error: $(show "p$$-0")"
show "p$$-0" | grep -q '^status=0x0000000b$' || fail "status: $(show "p$$-0")"
sleep 0.5
[ "$(count_to 255700000014)" -eq 0 ] || fail "permanent failure was retried"

# 5. Bind dropped mid-window: 5 submit_sm unanswered, then the socket is destroyed.
faults '{"reset": true}'
faults '{"drop_bind": {"after": 5}}'
enqueue --to 255700000015 --text "d" --text-index --id-prefix "d$$-" --count 12 > /dev/null
distinct_ge() { [ "$(distinct_to "$1")" -ge "$2" ]; }
wait_for distinct_ge 255700000015 12 || fail "MTs after the drop: $(distinct_to 255700000015)/12"
grep -q "$LINK/0: BOUND -> BACKOFF (IO_DOWN" "$tmp/gw.log" || fail "drop not seen"
for i in $(seq 0 11); do wait_for state_is "d$$-$i" submitted || fail "MT d$$-$i: $(show "d$$-$i")"; done
no_dup_without_cause 255700000015 "d$$-" || fail "an MT was sent twice without cause"

# 6. Refused binds: two refusals (ESME_RBINDFAIL), backoff, then bound again.
faults '{"reset": true}'
faults '{"refuse_binds": {"count": 2}, "drop_all_binds": true}'
wait_for grep -q "bind refused: ESME_RBINDFAIL" "$tmp/gw.log" || fail "refusal not logged"
wait_for sh -c "[ \$(grep -c '$LINK/0: BINDING -> BOUND' '$tmp/gw.log') -ge 3 ]" || fail "not bound again"
grep -q "$LINK/0: BINDING -> BACKOFF (BIND_REFUSED" "$tmp/gw.log" || fail "no backoff after refusal"
enqueue --to 255700000016 --text "after" > /dev/null
wait_for arrived 255700000016 1 || fail "MT after the refusals"
[ "$(redis-cli -p "$USSDGW_REDIS_PORT" xlen "ussdgw:mtq:{$LINK}")" = 0 ] || fail "stream not empty"
echo "links_faults: ok"
