#!/usr/bin/env bash
# kill -9 of the gateway under USSD load, then a restart on the same journal:
# every step the subscriber side saw answered (counted by the simulator, the
# SMSC peer, not by the gateway) has its audit record in PostgreSQL, with no
# gap and no duplicate in the chain, and `ussdgw-audit verify` passes.
#
# Load: concurrent sessions over the simulator's control API
# (helpers/ussd_drive.js), pure menu steps of the demo menu (no wallet call).
# The gateway is killed mid-load and restarted while the load goes on; the
# restarted node continues the chain from its journal and ships the backlog.
source "$(dirname "$0")/ussd_lib.bash"
source "$(dirname "$0")/audit_load_lib.bash"

start_sim --ussd-timeout-ms 4000
write_config 1
start_gw 1
wait_binds 1
wait_menu

# Load for 9 s; the gateway dies at about 3.5 s and is back about 1 s later.
node "$drv" drive --control "$CTL" --seconds 9 --workers 32 --prefix "$PREFIX" --wait-ms 3000 \
	> "$tmp/drive.json" 2> "$tmp/drive.err" &
drv_pid=$!
gw_pids[9]=$drv_pid # killed by the cleanup if still running
sleep 3.5
kill -0 "$drv_pid" || fail "the driver stopped before the kill: $(cat "$tmp/drive.err")"
kill -9 "${gw_pids[1]}"
wait "${gw_pids[1]}" 2>/dev/null || true
screens_at_kill=$(curl -sS "$CTL/stats" | jq '.submit_sm.ussd')
echo "killed the gateway: $screens_at_kill screens answered so far, $(chain_rows) records in PostgreSQL"
sleep 1
mv "$tmp/gw1.log" "$tmp/gw1-killed.log"
start_gw 1
grep -q "chain $CHAIN at seq [1-9]" "$tmp/gw1.log" || fail "the restarted node did not continue the chain from its journal"
wait "$drv_pid" || fail "driver: $(cat "$tmp/drive.err")"
gw_pids[9]=
echo "driver: $(cat "$tmp/drive.json")"
# The subscriber side noticed the kill: a step left without a screen or a refused dial.
[ "$(jq '.unanswered + .dials_refused + .inputs_refused' "$tmp/drive.json")" -gt 0 ] ||
	fail "the kill went unnoticed by the subscriber side: $(cat "$tmp/drive.json")"
[ "$screens_at_kill" -gt 50 ] || fail "too little load before the kill: $screens_at_kill screens"
[ "$(curl -sS "$CTL/stats" | jq '.submit_sm.ussd')" -gt "$screens_at_kill" ] ||
	fail "the restarted node answered nothing"

wait_shipped 30
stop_gw_clean
check_audit
echo "audit_kill9: ok ($ANSWERED answered steps counted by the simulator, $ROWS records)"
